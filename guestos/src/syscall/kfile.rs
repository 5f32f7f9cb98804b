//! System calls on kernel-served files (`fs::kfile`: `/proc/<pid>/mem`, `maps`,
//! `pagemap`, `/sys/kernel/debug/gup_test`): the kernel runs them with the whole process
//! table ([`Tasks`]), since a procfs file reaches into another process and `gup_test`
//! into the caller's address space. They go to the same entry points as the calls on any
//! other file (`ksys_read()`, `vfs_ioctl()`…, in [`crate::syscall::fs`]), with a
//! [`FileCtx`] that holds the process table; what each file does is its
//! [`crate::fs::FileOperations`] ([`crate::procfs`], [`crate::debugfs`]).

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::{FileCtx, IoError, KernelFile, OpenFile};
use crate::process::Tasks;
use crate::syscall::fs::{
    do_readv, do_writev, is_generic_ioctl, ksys_pread64, ksys_pwrite64, ksys_read, ksys_write,
};
use crate::syscall::nr;

/// Whether system call `n` with arguments `a`, made on a descriptor (`a[0]`) of a
/// kernel-served file, is served by [`serve`]: the read and write family, `lseek`, and
/// the file's own `ioctl` commands. The commands `do_vfs_ioctl()` handles for every file
/// (`FIOCLEX`, `FIONCLEX`, `FIONBIO`) and every other call stay with the ordinary system
/// calls.
pub fn serves(n: u64, a: [u64; 6]) -> bool {
    match n {
        nr::SYS_read
        | nr::SYS_write
        | nr::SYS_pread64
        | nr::SYS_pwrite64
        | nr::SYS_readv
        | nr::SYS_writev
        | nr::SYS_lseek => true,
        nr::SYS_ioctl => !is_generic_ioctl(a[1] as u32),
        _ => false,
    }
}

/// The file's `->open` for descriptor `kf`, just opened by task `opener`
/// ([`crate::fs::FileOperations::open`]): gives the open file description its state
/// (`file->private_data`). Does nothing for a description already opened (a `dup` shares
/// the state).
///
/// # Errors
/// `ESRCH` for `/proc/<pid>/mem` of a task without an address space
/// ([`crate::procfs::open`]), or if `opener` is gone; the caller closes the descriptor
/// and fails the `open`.
pub fn open(tasks: &mut Tasks<'_>, opener: u32, kf: &KernelFile) -> KResult<()> {
    let vfs = Arc::clone(&tasks.get(opener).ok_or(Errno::ESRCH)?.vfs);
    kf.f_op()
        .open(&mut FileCtx::with_tasks(&vfs, tasks, opener))
}

/// Serves system call `n` with arguments `a` (one that [`serves`] accepts), made by task
/// `caller` on descriptor `a[0]` of a kernel-served file, `file` being its open file
/// description.
///
/// # Errors
/// The call's errnos (see [`crate::syscall::fs`]) and the file's; `ESRCH` if `caller` is
/// gone; `ENOSYS` for a call [`serves`] does not accept.
pub fn serve(
    tasks: &mut Tasks<'_>,
    caller: u32,
    file: &OpenFile,
    n: u64,
    a: [u64; 6],
) -> KResult<u64> {
    let vfs = Arc::clone(&tasks.get(caller).ok_or(Errno::ESRCH)?.vfs);
    serve_in(&mut FileCtx::with_tasks(&vfs, tasks, caller), file, n, a)
}

/// [`serve`] in `ctx`: the process table's, or the caller's own parts for a file that
/// needs no other task ([`crate::fs::FileOperations::needs_tasks`], served without the
/// kernel lock by `syscall::unlocked`).
///
/// # Errors
/// As [`serve`].
pub fn serve_in(ctx: &mut FileCtx<'_, '_>, file: &OpenFile, n: u64, a: [u64; 6]) -> KResult<u64> {
    let r = match n {
        nr::SYS_read => ksys_read(ctx, file, a[1], a[2]),
        nr::SYS_write => ksys_write(ctx, file, a[1], a[2]),
        nr::SYS_readv => do_readv(ctx, file, a[1], a[2]),
        nr::SYS_writev => do_writev(ctx, file, a[1], a[2]),
        nr::SYS_pread64 => return ksys_pread64(ctx, file, a[1], a[2], a[3]),
        nr::SYS_pwrite64 => return ksys_pwrite64(ctx, file, a[1], a[2], a[3]),
        nr::SYS_lseek => return file.seek(a[1] as i64, a[2] as u32),
        nr::SYS_ioctl => return file.ioctl(ctx, a[1] as u32, a[2]),
        _ => return Err(Errno::ENOSYS),
    };
    match r {
        Ok(v) => Ok(v),
        Err(IoError::Errno(e)) => Err(e),
        // These files never wait.
        Err(IoError::WouldBlock(_)) => Err(Errno::EAGAIN),
    }
}
