//! `/proc/<pid>/mem`: `mem_rw()` (`fs/proc/base.c`). The file offset is the address in
//! the target; every transfer goes through [`access_remote_vm`] with `FOLL_FORCE` (and
//! `FOLL_WRITE` for a write), a page-sized bounce buffer at a time.
//!
//! `FOLL_FORCE` is what debuggers (and Dirty COW) use: a read ignores `PROT_NONE`-less
//! read permission (`VM_MAYREAD` suffices), a write reaches a read-only *private*
//! mapping (its program text, a `PROT_READ` `MAP_PRIVATE` page), where it lands in the
//! process's own COW copy; a read-only *shared* mapping is never written
//! (`check_vma_flags()`: not a COW mapping). Which PTE the write may then follow is the
//! GUP generation's business (see [`crate::mm::gup`]).

use devices::PAGE_SIZE;

use super::{mem_lseek, task_rw, ProcBinding};
use crate::errno::{Errno, KResult};
use crate::fs::{
    FileCtx, FileOperations, IoResult, KernelFileBinding, Kiocb, OpenFile, WriteSource,
};
use crate::mm::gup::access_remote_vm;
use crate::mm::FollFlags;
use crate::percpu::ResumableSection;
use crate::process::Tasks;
use crate::uaccess::UserAccess;

/// `proc_mem_operations`: `mem_read()`/`mem_write()` ([`mem_rw`]), `mem_lseek()`,
/// opened by `mem_open()` (`FMODE_UNSIGNED_OFFSET`).
#[derive(Debug)]
pub struct ProcMemFile {
    pub(super) binding: ProcBinding,
}

impl FileOperations for ProcMemFile {
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> KResult<()> {
        self.binding.open(ctx)
    }

    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let binding = self.binding.get();
        task_rw(ctx, iocb, |tasks, caller, pos| {
            mem_rw(tasks, caller, binding, buf, len, pos, false)
        })
    }

    /// The bytes come from the caller's memory (a `writev` goes segment by segment, as
    /// `do_loop_readv_writev()` does for a file with only `->write`).
    fn write(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        let WriteSource::User(buf) = src else {
            return Err(Errno::EFAULT.into());
        };
        let binding = self.binding.get();
        task_rw(ctx, iocb, |tasks, caller, pos| {
            mem_rw(tasks, caller, binding, buf, len, pos, true)
        })
    }

    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        mem_lseek(offset, whence, pos)
    }

    fn unsigned_offset(&self) -> bool {
        true
    }
}

/// `mem_rw()`: moves up to `count` bytes between the caller's buffer at `buf` and the
/// bound address space at address `pos`, page by page: for a write, copy a piece from
/// the caller (`copy_from_user`), then [`access_remote_vm`] it into the target; for a
/// read, the other way round. Returns the result and the new file position (the address
/// after the last byte moved; unchanged if the address space is gone).
///
/// The result is the bytes moved, `Ok(0)` for a descriptor without an address space
/// (a zombie at open) or whose address space has gone since (`mmget_not_zero()` fails).
///
/// # Errors
/// `EIO` if not even the first piece could be transferred (an unmapped address, a
/// forced write into a shared read-only mapping, an address beyond `TASK_SIZE`);
/// `EFAULT` if the caller's buffer faults (even after some bytes moved: Linux's
/// `copied = -EFAULT`; the file position still advances past what moved);
/// `ERESTARTNOINTR` (kernel-internal) if GUP stopped at `cond_resched()`: the position is
/// unchanged and the re-issued call continues after the bytes already moved.
pub fn mem_rw(
    tasks: &mut Tasks<'_>,
    caller: u32,
    binding: Option<KernelFileBinding>,
    mut buf: u64,
    mut count: usize,
    pos: u64,
    write: bool,
) -> (KResult<usize>, u64) {
    let Some(KernelFileBinding { mm: Some(grab), .. }) = binding else {
        return (Ok(0), pos);
    };
    // mmget_not_zero(): the bound address space, while it has users (its task has not
    // exited or exec'd away from it).
    let Some(target) = grab.mmget_not_zero() else {
        return (Ok(0), pos);
    };
    let flags = if write {
        FollFlags::FORCE | FollFlags::WRITE
    } else {
        FollFlags::FORCE
    };
    let mut page = vec![0u8; PAGE_SIZE as usize];
    // access_remote_vm() may stop at cond_resched() (another thread runs): the call is
    // then re-issued and continues after the bytes it had completed.
    let (section, progress) = ResumableSection::enter();
    let progress = progress.min(count);
    buf = buf.wrapping_add(progress as u64);
    count -= progress;
    let mut addr = pos.wrapping_add(progress as u64);
    let mut copied: KResult<usize> = Ok(progress);
    while count > 0 {
        let this_len = count.min(PAGE_SIZE as usize);
        let chunk = page.get_mut(..this_len).unwrap_or_default();
        if write {
            let from = tasks
                .get_task_mm(caller)
                .map(|mm| mm.uaccess().copy_from_user(buf, chunk));
            if !matches!(from, Some(Ok(()))) {
                copied = Err(Errno::EFAULT);
                break;
            }
        }
        // The target's mmap_lock is dropped before the caller's is taken: for
        // /proc/self/mem they are one lock.
        let n = {
            let mut mm = target.gup_read_lock();
            if mm.is_dead() {
                break;
            }
            access_remote_vm(&mut mm, addr, chunk, flags)
        };
        if section.stopped(copied.unwrap_or(0) + n) {
            if !write {
                // The bytes read before the stop reach the caller now; the resumed call
                // reads on after them.
                let piece = chunk.get(..n).unwrap_or_default();
                if let Some(mm) = tasks.get_task_mm(caller) {
                    let _ = mm.uaccess().copy_to_user(buf, piece);
                }
            }
            return (Err(Errno::ERESTARTNOINTR), pos);
        }
        if n == 0 {
            if copied == Ok(0) {
                copied = Err(Errno::EIO);
            }
            break;
        }
        if !write {
            let piece = chunk.get(..n).unwrap_or_default();
            let to = tasks
                .get_task_mm(caller)
                .map(|mm| mm.uaccess().copy_to_user(buf, piece));
            if !matches!(to, Some(Ok(()))) {
                copied = Err(Errno::EFAULT);
                break;
            }
        }
        buf = buf.wrapping_add(n as u64);
        addr = addr.wrapping_add(n as u64);
        copied = copied.map(|c| c + n);
        count -= n;
    }
    (copied, addr)
}
