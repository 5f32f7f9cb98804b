//! `process_vm_readv` / `process_vm_writev` (`mm/process_vm_access.c`): copy between the
//! caller's local iovecs and another process's remote iovecs, without ptrace.
//!
//! The remote pages are pinned with `pin_user_pages_remote()` (`FOLL_PIN`, plus
//! `FOLL_WRITE` for `writev`; no `FOLL_FORCE`, so the target's protections hold), up to
//! 1024 pages at a time, copied page by page, then unpinned (dirtied for `writev`:
//! `unpin_user_pages_dirty_lock()`). A read-only pin of a page the target shares with a
//! fork relative is unshared first under the modern GUP rules (`gup_must_unshare()`),
//! so the target may end up with its own copy of a page it only read.

use devices::{GuestPhysAddr, PAGE_SIZE};

use super::fs::{import_iovec, UIO_MAXIOV};
use crate::errno::{Errno, KResult};
use crate::mm::gup::{pin_user_pages_remote, unpin_user_pages_dirty_lock};
use crate::mm::{FollFlags, MmUsers};
use crate::process::Tasks;
use crate::uaccess::UserAccess;

/// `PVM_MAX_KMALLOC_PAGES / sizeof(struct page *)`: remote pages pinned per batch.
const MAX_PAGES_PER_LOOP: usize = 2 * PAGE_SIZE as usize / 8;

/// `iovec_from_user()`: the remote `struct iovec` array, copied but not checked against
/// the caller's address space (the addresses are the target's).
///
/// # Errors
/// `EINVAL` for more than `UIO_MAXIOV` entries or a negative length; `EFAULT` if the
/// array cannot be read.
fn iovec_from_user(u: &mut dyn UserAccess, uvec: u64, nr_segs: u64) -> KResult<Vec<(u64, u64)>> {
    if nr_segs > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; nr_segs as usize * 16];
    u.copy_from_user(uvec, &mut raw)?;
    let mut out = Vec::with_capacity(nr_segs as usize);
    for chunk in raw.chunks_exact(16) {
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let (base, len) = (word(&chunk[..8]), word(&chunk[8..]));
        if (len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        out.push((base, len));
    }
    Ok(out)
}

/// A cursor over the caller's local iovecs (`struct iov_iter`).
struct LocalIter {
    segs: Vec<(u64, usize)>,
    seg: usize,
    off: usize,
}

impl LocalIter {
    fn count(&self) -> usize {
        self.segs
            .iter()
            .skip(self.seg)
            .map(|s| s.1)
            .sum::<usize>()
            .saturating_sub(self.off)
    }

    /// The next contiguous local piece of at most `max` bytes, not crossing a page.
    fn next_piece(&mut self, max: usize) -> Option<(u64, usize)> {
        while let Some(&(base, len)) = self.segs.get(self.seg) {
            if self.off < len {
                let va = base.wrapping_add(self.off as u64);
                let in_page = (PAGE_SIZE - va % PAGE_SIZE) as usize;
                return Some((va, max.min(len - self.off).min(in_page)));
            }
            self.seg += 1;
            self.off = 0;
        }
        None
    }

    fn advance(&mut self, n: usize) {
        self.off += n;
    }
}

/// `process_vm_readv(pid, lvec, liovcnt, rvec, riovcnt, flags)` (`write == false`) or
/// `process_vm_writev` (`write == true`), called by task `caller`; `a` holds the six
/// arguments.
///
/// Returns the bytes copied: all of them, or fewer when a remote page could not be
/// pinned or a local page faulted after something was copied.
///
/// # Errors
/// `EINVAL`: `flags != 0`, more than `UIO_MAXIOV` iovecs, a negative length; `EFAULT`:
/// an unreadable iovec array, a local range outside user space, or nothing copied
/// because the first remote page could not be pinned (unmapped, or not writable for
/// `writev`) or the local buffer faulted; `ESRCH`: no such process, or one without an
/// address space (a zombie). Nothing is checked past the local iovecs when they add up
/// to 0 bytes, and the pid is not looked up when the remote ones do.
pub fn sys_process_vm_rw(
    tasks: &mut Tasks<'_>,
    caller: u32,
    a: [u64; 6],
    write: bool,
) -> KResult<u64> {
    match process_vm_prepare(tasks, caller, a, write)? {
        ProcessVm::Done(n) => Ok(n),
        ProcessVm::Copy(copy) => copy.run(),
    }
}

/// What [`process_vm_prepare`] leaves of a `process_vm_readv`/`writev`.
pub enum ProcessVm {
    /// The call's result: nothing to copy.
    Done(u64),
    /// The copy, which needs no task table: the kernel runs it without its lock.
    Copy(ProcessVmCopy),
}

/// A `process_vm_readv`/`writev` whose arguments passed the checks and whose address
/// spaces are held (`mmget()` of the caller's and the target's, kept for the whole copy
/// even if the target exits or execs meanwhile, as `process_vm_rw_core()` keeps the
/// target's `mm_access()` reference): the copy left to do ([`ProcessVmCopy::run`]),
/// which takes only the two address spaces' `mmap_lock`s and the pages' pins — Linux
/// runs it under no global lock, and so does this kernel (`kernel.rs` hands it to the
/// hart to run without the kernel lock).
pub struct ProcessVmCopy {
    caller_mm: MmUsers,
    target_mm: MmUsers,
    iter: LocalIter,
    total: usize,
    remote: Vec<(u64, u64)>,
    write: bool,
}

impl std::fmt::Debug for ProcessVmCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessVmCopy")
            .field("total", &self.total)
            .field("remote", &self.remote)
            .field("write", &self.write)
            .finish_non_exhaustive()
    }
}

/// The first half of [`sys_process_vm_rw`], which needs the task table: the checks, the
/// iovecs copied in, the target looked up (`find_get_task_by_vpid()` + `mm_access()`).
///
/// # Errors
/// As [`sys_process_vm_rw`], for everything decided before the copy.
pub fn process_vm_prepare(
    tasks: &mut Tasks<'_>,
    caller: u32,
    a: [u64; 6],
    write: bool,
) -> KResult<ProcessVm> {
    let (pid, lvec, liovcnt, rvec, riovcnt, flags) = (a[0] as i32, a[1], a[2], a[3], a[4], a[5]);
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    // copy_from_user() of the iovecs: the read side of the caller's mmap_lock for each.
    let mut caller_mm = tasks.get_task_mm(caller).ok_or(Errno::ESRCH)?;
    let local = import_iovec(&mut caller_mm, lvec, liovcnt)?;
    let iter = LocalIter {
        segs: local,
        seg: 0,
        off: 0,
    };
    let total = iter.count();
    if total == 0 {
        return Ok(ProcessVm::Done(0));
    }
    let remote = iovec_from_user(&mut caller_mm, rvec, riovcnt)?;
    // process_vm_rw_core(): nothing to do for empty remote iovecs, before any lookup.
    if remote.iter().all(|r| r.1 == 0) {
        return Ok(ProcessVm::Done(0));
    }
    let target = u32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .ok_or(Errno::ESRCH)?;
    // find_get_task_by_vpid() + mm_access(): the target's address space, held; a
    // zombie has none (ESRCH too).
    let target_mm = tasks.get_task_mm(target).ok_or(Errno::ESRCH)?;
    Ok(ProcessVm::Copy(ProcessVmCopy {
        caller_mm,
        target_mm,
        iter,
        total,
        remote,
        write,
    }))
}

impl ProcessVmCopy {
    /// `process_vm_rw_core()`'s loop over the remote iovecs: the bytes copied, or the
    /// error if none was.
    ///
    /// # Errors
    /// `EFAULT` as [`sys_process_vm_rw`] says, when nothing was copied.
    pub fn run(mut self) -> KResult<u64> {
        let mut rc = Ok(());
        for &(addr, len) in &self.remote {
            if self.iter.count() == 0 || rc.is_err() {
                break;
            }
            rc = rw_single_vec(
                &mut self.caller_mm,
                &self.target_mm,
                addr,
                len,
                &mut self.iter,
                self.write,
            );
        }
        let copied = self.total - self.iter.count();
        match rc {
            _ if copied > 0 => Ok(copied as u64),
            Err(e) => Err(e),
            Ok(()) => Ok(0),
        }
    }
}

/// `process_vm_rw_single_vec()`: one remote iovec, pinned a batch of pages at a time.
fn rw_single_vec(
    caller_mm: &mut MmUsers,
    target: &MmUsers,
    addr: u64,
    mut len: u64,
    iter: &mut LocalIter,
    write: bool,
) -> KResult<()> {
    if len == 0 {
        return Ok(());
    }
    let last = addr.checked_add(len - 1).ok_or(Errno::EFAULT)?;
    let mut nr_pages = (last / PAGE_SIZE - addr / PAGE_SIZE + 1) as usize;
    let mut pa = addr & !(PAGE_SIZE - 1);
    let mut start_offset = (addr - pa) as usize;
    let flags = if write {
        FollFlags::WRITE
    } else {
        FollFlags::empty()
    };
    while nr_pages > 0 && iter.count() > 0 {
        let want = nr_pages.min(MAX_PAGES_PER_LOOP);
        let (pages, phys) = {
            // The target's mmap_lock is released before the caller's is taken: for
            // the caller's own address space they are one lock.
            let mut guard = target.gup_read_lock();
            if guard.is_dead() {
                return Err(Errno::EFAULT);
            }
            let phys = std::sync::Arc::clone(guard.phys());
            let r = pin_user_pages_remote(&mut guard, pa, want, flags);
            // What the faults gathered in the target is the target's harts' to drop.
            guard.flush_gather_posted();
            guard.unlock();
            match r {
                Ok(p) if !p.is_empty() => (p, phys),
                _ => return Err(Errno::EFAULT),
            }
        };
        let pinned = pages.len();
        let bytes = ((pinned * PAGE_SIZE as usize) - start_offset).min(len as usize);
        let rc = rw_pages(caller_mm, &phys, &pages, start_offset, bytes, iter, write);
        len -= bytes as u64;
        start_offset = 0;
        nr_pages -= pinned;
        pa += pinned as u64 * PAGE_SIZE;
        unpin_user_pages_dirty_lock(&phys, &pages, write);
        rc?;
    }
    Ok(())
}

/// `process_vm_rw_pages()`: copies `len` bytes starting `offset` into the first pinned
/// page between the pages and the local iterator.
///
/// # Errors
/// `EFAULT` if a local piece faults while local space remains.
#[allow(clippy::too_many_arguments)]
fn rw_pages(
    caller_mm: &mut MmUsers,
    phys: &crate::mm::PhysMem,
    pages: &[crate::mm::Pfn],
    mut offset: usize,
    mut len: usize,
    iter: &mut LocalIter,
    write: bool,
) -> KResult<()> {
    let mut buf = [0u8; PAGE_SIZE as usize];
    for &pfn in pages {
        if len == 0 || iter.count() == 0 {
            break;
        }
        let mut copy = (PAGE_SIZE as usize - offset).min(len);
        // copy_page_{to,from}_iter(): piece by piece across the local segments.
        while copy > 0 {
            let Some((va, n)) = iter.next_piece(copy) else {
                return Ok(());
            };
            let pa = GuestPhysAddr(pfn.pa().0 + offset as u64);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            let ok = if write {
                caller_mm.copy_from_user(va, chunk).is_ok()
                    && phys.ram.write_bytes(pa, chunk).is_ok()
            } else {
                phys.ram.read_bytes(pa, chunk).is_ok() && caller_mm.copy_to_user(va, chunk).is_ok()
            };
            if !ok {
                return Err(Errno::EFAULT);
            }
            iter.advance(n);
            offset += n;
            copy -= n;
            len -= n;
        }
        offset = 0;
    }
    Ok(())
}
