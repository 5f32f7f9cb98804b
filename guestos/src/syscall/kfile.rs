//! System calls on kernel-served files (`fs::kfile`: `/proc/<pid>/mem`, `maps`,
//! `pagemap`, `/sys/kernel/debug/gup_test`): the files' `->open` and the one dispatch of
//! their operations. The kernel runs both with the whole process table ([`Tasks`]),
//! since a procfs file reaches into another process and `gup_test` into the caller's
//! address space; each file kind's work is done by its subsystem ([`crate::procfs`],
//! [`crate::mm::gup_test`]).

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::{KernelFile, KernelFilePrivate, KernelNode, OpenFile, StdStream, SEEK_HOLE};
use crate::mm::gup_test::GupTestFile;
use crate::process::Tasks;
use crate::procfs;
use crate::syscall::fs::is_generic_ioctl;
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

/// The file's `->open` for descriptor `kf`, just opened by task `opener`: gives the open
/// file description its state (`file->private_data`). Does nothing for a description
/// already opened (a `dup` shares the state).
///
/// # Errors
/// `ESRCH` for `/proc/<pid>/mem` of a task without an address space ([`procfs::open`]);
/// the caller closes the descriptor and fails the `open`.
pub fn open(tasks: &mut Tasks<'_>, opener: u32, kf: &KernelFile) -> KResult<()> {
    if kf.private().is_some() {
        return Ok(());
    }
    let private = match kf.node() {
        KernelNode::Proc { file, task } => {
            KernelFilePrivate::Proc(procfs::open(tasks, opener, file, task)?)
        }
        // gup_test_fops.open = nonseekable_open(): no long-term test running yet.
        KernelNode::GupTest => KernelFilePrivate::GupTest(GupTestFile::default()),
    };
    kf.open(private);
    Ok(())
}

/// Serves system call `n` with arguments `a` (one that [`serves`] accepts), made by task
/// `caller` on descriptor `a[0]` of a kernel-served file, `file` being its open file
/// description.
///
/// # Errors
/// The file's errnos (see [`procfs::serve`] and [`serve_gup_test`]); `EBADF` if `file`
/// is not a kernel-served file or was never opened by the kernel.
pub fn serve(
    tasks: &mut Tasks<'_>,
    caller: u32,
    file: &OpenFile,
    n: u64,
    a: [u64; 6],
) -> KResult<u64> {
    let Some(kf) = file.kernel_file() else {
        return Err(Errno::EBADF);
    };
    match (kf.node(), kf.private()) {
        (KernelNode::Proc { .. }, _) => procfs::serve(tasks, caller, file, n, a),
        (KernelNode::GupTest, Some(KernelFilePrivate::GupTest(gt))) => {
            serve_gup_test(tasks, caller, file, gt, n, a)
        }
        (KernelNode::GupTest, _) => Err(Errno::EBADF),
    }
}

/// `gup_test_fops` (mm/gup_test.c): no `read`, `write` or `llseek`, opened with
/// `nonseekable_open()`; `unlocked_ioctl` is [`GupTestFile::ioctl`] on the caller's
/// address space (`current->mm`), with the kernel log going to the caller's stderr
/// stream.
///
/// # Errors
/// `read`/`write`/`readv`/`writev`: `EBADF` if the description is not open for it, else
/// `EINVAL` (`vfs_read()`/`vfs_write()` without `FMODE_CAN_READ`/`FMODE_CAN_WRITE`);
/// `pread64`/`pwrite64`: `EINVAL` for a negative offset, else `ESPIPE` (no
/// `FMODE_PREAD`/`FMODE_PWRITE`); `lseek`: `EINVAL` for an unknown `whence`, else
/// `ESPIPE` (no `llseek`); `ioctl`: the command's errnos.
fn serve_gup_test(
    tasks: &mut Tasks<'_>,
    caller: u32,
    file: &OpenFile,
    gt: &GupTestFile,
    n: u64,
    a: [u64; 6],
) -> KResult<u64> {
    let (readable, writable) = file.access();
    match n {
        nr::SYS_read | nr::SYS_readv if !readable => Err(Errno::EBADF),
        nr::SYS_write | nr::SYS_writev if !writable => Err(Errno::EBADF),
        nr::SYS_read | nr::SYS_readv | nr::SYS_write | nr::SYS_writev => Err(Errno::EINVAL),
        nr::SYS_pread64 | nr::SYS_pwrite64 if (a[3] as i64) < 0 => Err(Errno::EINVAL),
        nr::SYS_pread64 | nr::SYS_pwrite64 => Err(Errno::ESPIPE),
        nr::SYS_lseek if a[2] > u64::from(SEEK_HOLE) => Err(Errno::EINVAL),
        nr::SYS_lseek => Err(Errno::ESPIPE),
        nr::SYS_ioctl => {
            let p = tasks.get(caller).ok_or(Errno::ESRCH)?;
            let stdio = Arc::clone(&p.stdio);
            let mut log = |m: &str| {
                let _ = stdio.write_out(StdStream::Stderr, m.as_bytes());
            };
            let mm = p.mm.clone().ok_or(Errno::ESRCH)?;
            let mut mm = mm.mmap_write_lock();
            gt.ioctl(&mut mm, a[1] as u32, a[2], &mut log, caller)
        }
        _ => Err(Errno::ENOSYS),
    }
}
