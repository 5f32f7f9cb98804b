//! `vmsplice(fd, iov, nr_segs, flags)` (`fs/splice.c`).
//!
//! Into a pipe (`fd` open for writing, `vmsplice_to_pipe()` → `iter_to_pipe()`): the
//! user pages behind `iov` are not copied. `iov_iter_get_pages2()` takes a reference on
//! each with `get_user_pages_fast()` — `FOLL_GET` and, since the pipe only reads them,
//! *no* `FOLL_WRITE` — and each page becomes a pipe buffer (`user_page_pipe_buf_ops`)
//! holding that reference. The reader copies out of the page when it reads, so a write
//! to the page between the `vmsplice()` and the `read()` is what the reader gets; the
//! buffer's release drops the reference.
//!
//! That read-only reference on a page still shared after `fork()` is CVE-2020-29374:
//! when the other side writes the page after the splicer unmapped its copy, a kernel
//! whose `do_wp_page()` reuses a page mapped once (≤ 5.8's `reuse_swap_page()`) lets the
//! writer write into the very page the pipe references, and the pipe's reader sees data
//! it was never given. Modern kernels copy instead because the page's refcount is not 1
//! (see [`crate::mm::GupGeneration::wp_can_reuse_anon_page`]).
//!
//! Out of a pipe (`fd` open for reading, `vmsplice_to_user()`): a copy, like `readv`.

use std::sync::Arc;

use devices::{GuestPhysAddr, PAGE_SIZE};

use super::fs::import_iovec;
use crate::errno::{Errno, KResult};
use crate::fs::{FileTarget, IoError, IoResult, Pipe, PipePage, ProcessFs};
use crate::mm::gup::{get_user_pages_fast, CurrentMm};
use crate::mm::{FollFlags, MmStruct, Pfn, PhysMem};
use crate::uaccess::UserAccess;

/// `SPLICE_F_MOVE`: move pages instead of copying (a hint).
pub const SPLICE_F_MOVE: u32 = 0x01;
/// `SPLICE_F_NONBLOCK`: do not wait for the pipe (the descriptor's `O_NONBLOCK` does not
/// count: `pipe_clear_nowait()`).
pub const SPLICE_F_NONBLOCK: u32 = 0x02;
/// `SPLICE_F_MORE`: more data will follow (a hint).
pub const SPLICE_F_MORE: u32 = 0x04;
/// `SPLICE_F_GIFT`: the pages are a gift to the kernel (recorded on the buffer; only a
/// `splice()` to a file could steal them).
pub const SPLICE_F_GIFT: u32 = 0x08;
/// `SPLICE_F_ALL`.
pub const SPLICE_F_ALL: u32 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;

/// Pages `iov_iter_get_pages2()` takes at a time in `iter_to_pipe()`.
const PAGES_PER_BATCH: usize = 16;

/// A user page a pipe buffer holds a reference on (`user_page_pipe_buf_ops`): the
/// `FOLL_GET` reference `get_user_pages_fast()` took, dropped with `put_page()` when the
/// buffer is released. The shared zero page carries no reference (GUP takes none).
#[derive(Debug)]
pub struct UserPageRef {
    phys: Arc<PhysMem>,
    pfn: Pfn,
}

impl UserPageRef {
    /// Takes over the reference the caller holds on `pfn`.
    pub fn new(phys: Arc<PhysMem>, pfn: Pfn) -> Self {
        UserPageRef { phys, pfn }
    }
}

impl PipePage for UserPageRef {
    fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        if offset + buf.len() > PAGE_SIZE as usize {
            return false;
        }
        let pa = GuestPhysAddr(self.pfn.pa().0 + offset as u64);
        self.phys.ram.read_bytes(pa, buf).is_ok()
    }
}

impl Drop for UserPageRef {
    fn drop(&mut self) {
        // pipe_buf_release() → user_page_pipe_buf_ops has generic_pipe_buf_release:
        // put_page().
        self.phys.put_page(self.pfn);
    }
}

/// `vmsplice(fd, iov, nr_segs, flags)`.
///
/// Returns the bytes spliced into the pipe (or copied out of it).
///
/// # Errors
/// `EINVAL` for flags outside `SPLICE_F_ALL`, `nr_segs > UIO_MAXIOV` or a negative
/// length; `EBADF` if `fd` is not open, not a pipe, or opened neither for reading nor
/// writing; `EFAULT` for an unreadable `iov` or, into a pipe, when the first page cannot
/// be taken (an unmapped address); `EPIPE` without readers; `EAGAIN` for a full (empty)
/// pipe with `SPLICE_F_NONBLOCK`, [`IoError::WouldBlock`] without it.
pub fn sys_vmsplice(
    p: &ProcessFs,
    mm: &MmStruct,
    fd: u64,
    iov: u64,
    nr_segs: u64,
    flags: u64,
) -> IoResult<u64> {
    let flags = flags as u32;
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = p.fds.get(fd as u32)?;
    let (readable, writable) = f.access();
    if !readable && !writable {
        return Err(Errno::EBADF.into());
    }
    let segs = import_iovec(&mut { mm }, iov, nr_segs)?;
    if segs.iter().all(|s| s.1 == 0) {
        return Ok(0);
    }
    // get_pipe_info(file, true)
    let FileTarget::Pipe(end) = f.target() else {
        return Err(Errno::EBADF.into());
    };
    let pipe = end.pipe();
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    if writable {
        vmsplice_to_pipe(pipe, mm, &segs, nonblock, flags & SPLICE_F_GIFT != 0)
    } else {
        vmsplice_to_user(pipe, mm, &segs, nonblock)
    }
}

/// `vmsplice_to_pipe()`: `wait_for_space()`, then `iter_to_pipe()`: page references for
/// each segment, 16 at a time, one buffer each, until the pipe is full.
fn vmsplice_to_pipe(
    pipe: &Pipe,
    mm: &MmStruct,
    segs: &[(u64, usize)],
    nonblock: bool,
    gift: bool,
) -> IoResult<u64> {
    pipe.wait_for_space(nonblock)?;
    let phys = Arc::clone(CurrentMm::phys(&mm));
    let mut total = 0usize;
    let mut err = None;
    'segments: for &(base, len) in segs {
        let mut addr = base;
        let mut left = len;
        while left > 0 {
            let start = (addr % PAGE_SIZE) as usize;
            let npages = (start + left)
                .div_ceil(PAGE_SIZE as usize)
                .min(PAGES_PER_BATCH);
            // iov_iter_get_pages2() → get_user_pages_fast(): FOLL_GET, read-only, with
            // no mmap_lock held: the lockless walk takes none, its slow path the read
            // side for the batch only, dropped before the pages go into the pipe
            // (pipe->mutex is taken before mmap_lock, as pipe_read()'s copy_to_user()
            // faults under it).
            let got = get_user_pages_fast(mm, addr, npages, FollFlags::empty());
            let pages = match got {
                Ok(p) if !p.is_empty() => p,
                Ok(_) => {
                    err = Some(Errno::EFAULT);
                    break 'segments;
                }
                Err(e) => {
                    err = Some(e);
                    break 'segments;
                }
            };
            let mut pages = pages.into_iter();
            let mut offset = start;
            while let Some(pfn) = pages.next() {
                let size = left.min(PAGE_SIZE as usize - offset);
                let page = Box::new(UserPageRef::new(Arc::clone(&phys), pfn));
                // add_to_pipe() releases the page itself on failure.
                if let Err(e) = pipe.add_page(page, offset, size, gift) {
                    for rest in pages {
                        phys.put_page(rest);
                    }
                    err = Some(e);
                    break 'segments;
                }
                total += size;
                left -= size;
                addr += size as u64;
                offset = 0;
            }
        }
    }
    match (total, err) {
        (0, Some(e)) => Err(IoError::Errno(e)),
        _ => Ok(total as u64),
    }
}

/// `vmsplice_to_user()`: copies from the pipe into the segments in order; waits (unless
/// `nonblock`) only while nothing has been copied, and stops when the pipe runs empty.
fn vmsplice_to_user(
    pipe: &Pipe,
    mm: &MmStruct,
    segs: &[(u64, usize)],
    nonblock: bool,
) -> IoResult<u64> {
    let mut done = 0usize;
    for &(base, len) in segs {
        if len == 0 {
            continue;
        }
        let mut off = 0u64;
        let r = pipe.read_with(len, nonblock || done > 0, &mut |data: &[u8]| {
            copy_out(mm, base.wrapping_add(off), data).inspect(|&n| off += n as u64)
        });
        match r {
            Ok(n) => {
                done += n;
                if n < len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done as u64)
}

/// Copies `data` to user memory page by page: the bytes copied before a fault, or the
/// fault if none.
fn copy_out(mut mm: &MmStruct, va: u64, data: &[u8]) -> KResult<usize> {
    let mut done = 0usize;
    while done < data.len() {
        let addr = va.checked_add(done as u64).ok_or(Errno::EFAULT)?;
        let n = ((PAGE_SIZE - addr % PAGE_SIZE) as usize).min(data.len() - done);
        let piece = data.get(done..done + n).unwrap_or_default();
        if let Err(e) = mm.copy_to_user(addr, piece) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += n;
    }
    Ok(done)
}
