//! The per-task files of procfs that reach into another process's address space:
//! `/proc/<pid>/mem` (`fs/proc/base.c`), `/proc/<pid>/maps` and `/proc/<pid>/pagemap`
//! (`fs/proc/task_mmu.c`), also under `/proc/self` and `/proc/thread-self`.
//!
//! They are kernel-served files (see [`crate::fs::KernelNode`] and the module docs of
//! `fs::kfile`): the VFS finds them and makes the descriptor, then the kernel's dispatch
//! ([`crate::syscall::kfile`]) calls [`open`] (the file's `->open`: `mem_open()`,
//! `proc_maps_open()`, `pagemap_open()`) and serves every `read`, `pread64`, `readv`,
//! `write`, `pwrite64`, `writev`, `lseek` and `ioctl` on the descriptor with [`serve`],
//! which sees the whole process table ([`Tasks`]).
//!
//! What a descriptor refers to: the task and the address space it had at open
//! (`mmgrab()`). A read or write first checks that this address space is still alive
//! (`mmget_not_zero()`): once the task has exited (its address space is released at exit,
//! see [`crate::mm::Mm::release`]), been reaped, or exec'd a new image, reads return 0
//! and writes write nothing. Opening `mem` of a zombie fails with `ESRCH` (`__mem_open()`
//! of current kernels: no mm); `maps` and `pagemap` of a zombie open and read empty.
//!
//! Permission: Linux asks `ptrace_may_access(PTRACE_MODE_ATTACH)` for `mem` and
//! `PTRACE_MODE_READ` for `maps`/`pagemap`, which a task of the same uid passes (with the
//! default Yama scope 0). Every task here runs as uid 0, so every open is allowed;
//! `pagemap` shows PFNs because the opener has `CAP_SYS_ADMIN`.

mod maps;
mod mem;
mod pagemap;
#[cfg(test)]
mod tests;

pub use maps::{show_map_vma, show_maps};
pub use mem::mem_rw;
pub use pagemap::{
    pagemap_entry, pagemap_read, PM_FILE, PM_MMAP_EXCLUSIVE, PM_PFRAME_MASK, PM_PRESENT,
    PM_SOFT_DIRTY, PM_SWAP,
};

use crate::errno::{Errno, KResult};
use crate::fs::{
    KernelFileBinding, KernelNode, OpenFile, ProcFile, ProcTask, MAX_RW_COUNT, SEEK_CUR, SEEK_SET,
};
use crate::process::{TaskState, Tasks};
use crate::syscall::fs::{import_iovec, TASK_SIZE_MAX};
use crate::syscall::nr;
use crate::uaccess::UserAccess;

/// The file's `->open` for `file` of `task`, just opened by task `opener`: returns what
/// the descriptor is bound to, the task and its current address space
/// (`proc_mem_open()`: `mm_access()` + `mmgrab()`). A zombie target has no address
/// space: `maps` and `pagemap` then read as empty.
///
/// # Errors
/// `ESRCH` for `mem` of a task without an address space (`__mem_open()`); the caller
/// closes the descriptor and fails the `open`.
pub fn open(
    tasks: &mut Tasks<'_>,
    opener: u32,
    file: ProcFile,
    task: ProcTask,
) -> KResult<KernelFileBinding> {
    let pid = match task {
        ProcTask::Opener => opener,
        ProcTask::Pid(pid) => pid,
    };
    // mm_access() + mmgrab(): a zombie has no address space.
    let mm = tasks
        .get(pid)
        .filter(|t| !matches!(t.state, TaskState::Zombie(_)))
        .and_then(|t| t.mm.as_ref())
        .filter(|mm| mm.mm_users() > 0)
        .map(crate::mm::MmUsers::mmgrab);
    if mm.is_none() && file == ProcFile::Mem {
        return Err(Errno::ESRCH);
    }
    Ok(KernelFileBinding { pid, mm })
}

/// Serves system call `n` with arguments `a`, made by task `caller` on a descriptor of a
/// procfs file (`a[0]` is the descriptor, `file` its open file description).
/// `read`/`write` and their `p`/`v` forms follow `vfs_read()`/`vfs_write()`
/// (`rw_verify_area()`, `MAX_RW_COUNT`) and `do_loop_readv_writev()`; the work is the
/// file's `->read`/`->write` ([`mem_rw`], `seq_read()` of [`show_maps`],
/// [`pagemap_read`]); `lseek` is `mem_lseek()` or `seq_lseek()`.
///
/// # Errors
/// `EBADF` (not open for reading / writing), `EFAULT` (bad user buffer), `EINVAL` (bad
/// offset, `whence`, or a write to `maps`/`pagemap`), `EOVERFLOW`, `EIO` (`mem`: nothing
/// could be transferred), `ENOTTY` (`ioctl`), `ENOSYS` for any other call; `EBADF` if
/// `file` is not a procfs file.
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
    let KernelNode::Proc { file: kind, .. } = kf.node() else {
        return Err(Errno::EBADF);
    };
    let binding = kf.binding();
    let (readable, writable) = file.access();
    match n {
        nr::SYS_read | nr::SYS_write => {
            let write = n == nr::SYS_write;
            if !(if write { writable } else { readable }) {
                return Err(Errno::EBADF);
            }
            let count = user_count(a[1], a[2])?;
            let pos = file.pos();
            rw_verify_area(kind, pos, count)?;
            let (r, new_pos) = transfer(tasks, caller, kind, binding, a[1], count, pos, write);
            file.set_pos(new_pos);
            r.map(|n| n as u64)
        }
        nr::SYS_pread64 | nr::SYS_pwrite64 => {
            let write = n == nr::SYS_pwrite64;
            if (a[3] as i64) < 0 {
                return Err(Errno::EINVAL);
            }
            if !(if write { writable } else { readable }) {
                return Err(Errno::EBADF);
            }
            let count = user_count(a[1], a[2])?;
            rw_verify_area(kind, a[3], count)?;
            let (r, _) = transfer(tasks, caller, kind, binding, a[1], count, a[3], write);
            r.map(|n| n as u64)
        }
        nr::SYS_readv | nr::SYS_writev => {
            let write = n == nr::SYS_writev;
            if !(if write { writable } else { readable }) {
                return Err(Errno::EBADF);
            }
            let mut caller_mm = tasks.mm_of(caller).ok_or(Errno::EFAULT)?;
            let segs = import_iovec(&mut *caller_mm, a[1], a[2])?;
            drop(caller_mm);
            let total: usize = segs.iter().map(|s| s.1).sum();
            rw_verify_area(kind, file.pos(), total)?;
            // do_loop_readv_writev(): one ->read/->write per segment until one is short.
            let mut done = 0usize;
            for (base, len) in segs {
                if len == 0 {
                    continue;
                }
                let pos = file.pos();
                let (r, new_pos) =
                    transfer(tasks, caller, kind, binding.clone(), base, len, pos, write);
                file.set_pos(new_pos);
                match r {
                    Ok(got) => {
                        done += got;
                        if got < len {
                            break;
                        }
                    }
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done as u64)
        }
        nr::SYS_lseek => llseek(kind, file, a[1] as i64, a[2] as u32),
        nr::SYS_ioctl => Err(Errno::ENOTTY),
        _ => Err(Errno::ENOSYS),
    }
}

/// `access_ok()` of the user buffer and the `MAX_RW_COUNT` clamp of `vfs_read()`.
fn user_count(buf: u64, count: u64) -> KResult<usize> {
    match buf.checked_add(count) {
        Some(end) if end <= TASK_SIZE_MAX => Ok(count.min(MAX_RW_COUNT as u64) as usize),
        _ => Err(Errno::EFAULT),
    }
}

/// `rw_verify_area()`: `mem` has `FMODE_UNSIGNED_OFFSET` (any 64-bit address is an
/// offset, except that a "negative" one must not reach 0 again: `EOVERFLOW`); the others
/// refuse negative offsets and ranges that overflow `loff_t` (`EINVAL`).
fn rw_verify_area(kind: ProcFile, pos: u64, count: usize) -> KResult<()> {
    let spos = pos as i64;
    let unsigned = kind == ProcFile::Mem;
    if spos < 0 {
        if !unsigned {
            return Err(Errno::EINVAL);
        }
        if count as u64 >= spos.wrapping_neg() as u64 {
            return Err(Errno::EOVERFLOW);
        }
    } else if spos.checked_add(count as i64).is_none() && !unsigned {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The file's `->read` (or `->write` when `write`) of `count` bytes at `pos` to (from) the
/// caller's buffer at `buf`. Returns the result and the new file position.
#[allow(clippy::too_many_arguments)]
fn transfer(
    tasks: &mut Tasks<'_>,
    caller: u32,
    kind: ProcFile,
    binding: Option<KernelFileBinding>,
    buf: u64,
    count: usize,
    pos: u64,
    write: bool,
) -> (KResult<usize>, u64) {
    match (kind, write) {
        (ProcFile::Mem, _) => mem_rw(tasks, caller, binding, buf, count, pos, write),
        (ProcFile::Maps, false) => maps::maps_read(tasks, caller, binding, buf, count, pos),
        (ProcFile::Pagemap, false) => pagemap_read(tasks, caller, binding, buf, count, pos),
        // No ->write: vfs_write() refuses without FMODE_CAN_WRITE.
        (ProcFile::Maps | ProcFile::Pagemap, true) => (Err(Errno::EINVAL), pos),
    }
}

/// `mem_lseek()` (`mem`, `pagemap`: `SEEK_SET` and `SEEK_CUR` to any 64-bit value) or
/// `seq_lseek()` (`maps`: the same, refusing negative results).
fn llseek(kind: ProcFile, file: &OpenFile, offset: i64, whence: u32) -> KResult<u64> {
    let new = match whence {
        SEEK_SET => offset as u64,
        SEEK_CUR => file.pos().wrapping_add(offset as u64),
        _ => return Err(Errno::EINVAL),
    };
    if kind == ProcFile::Maps && (new as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    file.set_pos(new);
    Ok(new)
}

/// Copies `data` to the caller's memory at `va`, page by page: the bytes copied before a
/// fault, or `EFAULT` if none (`copy_to_iter()` as `seq_read()` uses it).
fn copy_out(tasks: &mut Tasks<'_>, caller: u32, va: u64, data: &[u8]) -> KResult<usize> {
    let mut mm = tasks.mm_of(caller).ok_or(Errno::EFAULT)?;
    let mut done = 0usize;
    while done < data.len() {
        let addr = va.checked_add(done as u64).ok_or(Errno::EFAULT)?;
        let n = ((0x1000 - (addr & 0xfff)) as usize).min(data.len() - done);
        let piece = data.get(done..done + n).unwrap_or_default();
        if let Err(e) = mm.copy_to_user(addr, piece) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += n;
    }
    Ok(done)
}
