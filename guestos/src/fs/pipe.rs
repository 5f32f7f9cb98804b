//! Anonymous pipes (fs/pipe.c): a ring of page-sized buffers (`struct pipe_buffer`),
//! [`PIPE_DEF_BUFFERS`] slots unless `F_SETPIPE_SZ` changes it ([`Pipe::set_size`]),
//! `PIPE_BUF` atomicity, `EPIPE` without readers, end-of-file without writers, and a
//! would-block outcome for the scheduler.
//!
//! A buffer holds its bytes in one of two kinds of page, as Linux's `pipe_buf_operations`
//! distinguish them:
//! - a page the pipe owns (`anon_pipe_buf_ops`), filled by `write()`; small writes merge
//!   into the last one while it has room (`PIPE_BUF_FLAG_CAN_MERGE`). It is a guest frame
//!   from the page allocator (`pipe_write()`'s `alloc_page(GFP_HIGHUSER |
//!   __GFP_ACCOUNT)`), so the guest's RAM bounds what its pipes hold; it goes back to
//!   the allocator when the buffer has been read or the pipe is freed. A write that
//!   finds no free frame (after reclaim) stops there: it returns what it wrote, or
//!   `ENOMEM` if nothing. A file system without guest RAM (unit tests) keeps these pages
//!   in host memory;
//! - a page someone else owns, of which the buffer holds a reference
//!   (`user_page_pipe_buf_ops`): what `vmsplice()` puts in the pipe, a user page taken
//!   with `get_user_pages_fast()`. The reader copies out of that page when it reads, so
//!   whatever is written to the page after the `vmsplice()` and before the read is what
//!   it gets. Releasing the buffer (read to the end, or the pipe freed unread) drops the
//!   reference (`pipe_buf_release()` → `put_page()`), through [`PipePage`]'s `Drop`.
//!
//! Capacity is counted in buffers, as in Linux: a buffer occupies its slot until it has
//! been read completely, however few bytes are left in it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::mm::{Pfn, PhysMem};
use crate::sync::Mutex;

use super::fops::{partial, FileCtx, FileOperations, Kiocb, PollMask, WriteSource};
use super::inode::Timespec;
use super::wait::{PollTable, WaitQueueHead};
use super::{IoError, IoResult, OpenFile, WaitOn};
use crate::errno::{Errno, KResult};

/// `FIONREAD` (include/uapi/asm-generic/ioctls.h): `*(int *)arg` = bytes available.
pub const FIONREAD: u32 = 0x541b;

/// Writes of at most this many bytes are atomic (include/uapi/linux/limits.h).
pub const PIPE_BUF: usize = 4096;
/// Buffers in a pipe's ring (`PIPE_DEF_BUFFERS`, the default `pipe->max_usage`).
pub const PIPE_DEF_BUFFERS: usize = 16;
/// Size of one buffer's page.
const PIPE_PAGE: usize = 4096;
/// A new pipe's capacity in bytes (`F_GETPIPE_SZ`): `PIPE_DEF_BUFFERS` pages.
pub const PIPE_CAPACITY: usize = PIPE_DEF_BUFFERS * PIPE_PAGE;
/// The largest size `F_SETPIPE_SZ` can ask for (`round_pipe_size()`: above `1 << 31`
/// the size is 0, `EINVAL`), in bytes.
const PIPE_SIZE_MAX: u32 = 1 << 31;

/// A page a pipe buffer refers to instead of owning it: the reference `vmsplice()` took
/// on a user page. Dropping it releases that reference (`put_page()`).
pub trait PipePage: Send + Sync + fmt::Debug {
    /// Copies the page's bytes at `offset` into `buf` (`offset + buf.len()` is at most
    /// the page size). Returns `false` if the page cannot be read.
    fn read(&self, offset: usize, buf: &mut [u8]) -> bool;
}

/// The page behind a buffer.
#[derive(Debug)]
enum BufPage {
    /// The pipe's own page (`anon_pipe_buf_ops`).
    Anon(AnonPage),
    /// A referenced page (`user_page_pipe_buf_ops`).
    Ref(Box<dyn PipePage>),
}

/// A page the pipe owns: a guest frame holding the pipe's one reference, put back
/// (`put_page()`) when dropped; or, without guest RAM, host memory.
#[derive(Debug)]
enum AnonPage {
    /// A frame of `phys`.
    Frame { phys: Arc<PhysMem>, pfn: Pfn },
    /// Host memory (a file system without guest RAM).
    Host(Box<[u8; PIPE_PAGE]>),
}

impl AnonPage {
    /// `alloc_page(GFP_HIGHUSER | __GFP_ACCOUNT)` from `phys` (with reclaim), or a host
    /// page without it; `None` when guest RAM is exhausted.
    fn alloc(phys: Option<&Arc<PhysMem>>) -> Option<AnonPage> {
        match phys {
            Some(phys) => Some(AnonPage::Frame {
                phys: Arc::clone(phys),
                pfn: phys.alloc_page(false)?,
            }),
            None => Some(AnonPage::Host(Box::new([0; PIPE_PAGE]))),
        }
    }

    /// Copies `buf.len()` bytes at `offset` out of the page; `false` if out of range.
    fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        if offset + buf.len() > PIPE_PAGE {
            return false;
        }
        match self {
            AnonPage::Frame { phys, pfn } => pfn
                .pa()
                .checked_add(offset as u64)
                .is_some_and(|pa| phys.ram.read_bytes(pa, buf).is_ok()),
            AnonPage::Host(p) => match p.get(offset..offset + buf.len()) {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            },
        }
    }

    /// Fills `len` bytes at `offset` from `source` (which fills a slice).
    ///
    /// # Errors
    /// `source`'s; `EFAULT` if out of range.
    fn fill(
        &mut self,
        offset: usize,
        len: usize,
        source: impl FnOnce(&mut [u8]) -> KResult<()>,
    ) -> KResult<()> {
        if offset + len > PIPE_PAGE {
            return Err(Errno::EFAULT);
        }
        match self {
            AnonPage::Frame { phys, pfn } => {
                let mut tmp = [0u8; PIPE_PAGE];
                let tmp = &mut tmp[..len];
                source(tmp)?;
                let pa = pfn.pa().checked_add(offset as u64).ok_or(Errno::EFAULT)?;
                phys.ram.write_bytes(pa, tmp).map_err(|_| Errno::EFAULT)
            }
            AnonPage::Host(p) => source(p.get_mut(offset..offset + len).ok_or(Errno::EFAULT)?),
        }
    }
}

impl Drop for AnonPage {
    fn drop(&mut self) {
        if let AnonPage::Frame { phys, pfn } = self {
            phys.put_page(*pfn);
        }
    }
}

/// One slot of the ring (`struct pipe_buffer`): `len` bytes at `offset` in its page.
#[derive(Debug)]
struct PipeBuffer {
    page: BufPage,
    offset: usize,
    len: usize,
    /// `PIPE_BUF_FLAG_CAN_MERGE`: later writes may append to this buffer.
    can_merge: bool,
    /// `PIPE_BUF_FLAG_GIFT`: `vmsplice(SPLICE_F_GIFT)`; only a `splice()` to a file could
    /// steal the page, which this kernel does not have.
    gift: bool,
}

impl PipeBuffer {
    /// Copies `out.len()` bytes from the start of the buffer's data.
    fn copy_out(&self, out: &mut [u8]) -> bool {
        match &self.page {
            BufPage::Anon(p) => p.read(self.offset, out),
            BufPage::Ref(p) => p.read(self.offset, out),
        }
    }
}

struct PipeInner {
    /// The buffers in use, oldest first (the ring's occupied slots: host memory for a
    /// slot only while it holds a page).
    bufs: VecDeque<PipeBuffer>,
    /// `pipe->max_usage`: how many slots the ring has ([`PIPE_DEF_BUFFERS`], or what
    /// `F_SETPIPE_SZ` set).
    max_usage: usize,
    readers: usize,
    writers: usize,
    /// Where the pipe's own pages come from (`None`: host memory).
    phys: Option<Arc<PhysMem>>,
}

impl fmt::Debug for PipeInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeInner")
            .field("buffers", &self.bufs.len())
            .field("max_usage", &self.max_usage)
            .field("readers", &self.readers)
            .field("writers", &self.writers)
            .finish()
    }
}

impl PipeInner {
    /// `pipe_full()`.
    fn full(&self) -> bool {
        self.bufs.len() >= self.max_usage
    }
}

/// A pipe (`struct pipe_inode_info`), shared by its read and write ends.
#[derive(Debug)]
pub struct Pipe {
    id: u64,
    created: Timespec,
    inner: Mutex<PipeInner>,
    /// `pipe->rd_wait`: readers (and read-end pollers) waiting for data or the last
    /// writer to go.
    rd_wait: Arc<WaitQueueHead>,
    /// `pipe->wr_wait`: writers (and write-end pollers) waiting for room or the last
    /// reader to go.
    wr_wait: Arc<WaitQueueHead>,
}

/// One end of a pipe, held by an open file description. Creating one counts a reader or
/// writer; dropping it (when the last descriptor sharing the description closes) uncounts
/// it, which is what wakes the other side with EOF or `EPIPE`.
#[derive(Debug)]
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

impl PipeEnd {
    /// The pipe.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    /// `true` for the write end.
    pub fn is_write_end(&self) -> bool {
        self.write
    }
}

/// `pipefifo_fops`: `pipe_read()`, `pipe_write()`, `pipe_ioctl()`, `pipe_poll()`; opened
/// with `stream_open()` (no position). `pipe_release()` is [`PipeEnd`]'s `Drop`, which
/// uncounts the end when the description goes.
impl FileOperations for PipeEnd {
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let mut off = 0u64;
        self.pipe
            .read_with(len, iocb.nonblock(), &mut |data: &[u8]| {
                let n = ctx.copy_to_user(buf.wrapping_add(off), data)?;
                off += n as u64;
                Ok(n)
            })
    }

    fn write(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        self.pipe
            .write_with(len, iocb.nonblock(), &mut |off, dst: &mut [u8]| {
                ctx.copy_from_source(src, off, dst)
            })
    }

    /// `pipe_ioctl()`: `FIONREAD`.
    fn unlocked_ioctl(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        cmd: u32,
        arg: u64,
    ) -> KResult<u64> {
        if cmd != FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = self.pipe.available() as i32;
        ctx.user()?.copy_to_user(arg, &n.to_le_bytes())?;
        Ok(0)
    }

    fn poll(&self, _file: &OpenFile) -> PollMask {
        self.pipe.poll(!self.write)
    }

    fn can_poll(&self) -> bool {
        true
    }

    /// `pipe_poll()`'s `poll_wait()`: the read end sleeps on `rd_wait`, the write end on
    /// `wr_wait`.
    fn poll_wait(&self, _file: &OpenFile, pt: &mut PollTable) {
        pt.poll_wait(if self.write {
            &self.pipe.wr_wait
        } else {
            &self.pipe.rd_wait
        });
    }

    fn is_stream(&self) -> bool {
        true
    }
}

/// `pipe_release()`: the last writer gone wakes the readers (end of file), the last
/// reader gone wakes the writers (`EPIPE`).
impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut g = self.pipe.inner.lock();
        let (count, other) = if self.write {
            (&mut g.writers, &self.pipe.rd_wait)
        } else {
            (&mut g.readers, &self.pipe.wr_wait)
        };
        *count = count.saturating_sub(1);
        let last = *count == 0;
        drop(g);
        if last {
            other.wake_up_all();
        }
    }
}

impl Pipe {
    /// A new pipe numbered `id` (also its inode number) whose pages come from `phys`
    /// (`None`: host memory), returning its read and write ends.
    pub fn new_pair(id: u64, now: Timespec, phys: Option<Arc<PhysMem>>) -> (PipeEnd, PipeEnd) {
        let pipe = Arc::new(Pipe {
            id,
            created: now,
            inner: Mutex::new(PipeInner {
                bufs: VecDeque::new(),
                max_usage: PIPE_DEF_BUFFERS,
                readers: 1,
                writers: 1,
                phys,
            }),
            rd_wait: Arc::default(),
            wr_wait: Arc::default(),
        });
        (
            PipeEnd {
                pipe: Arc::clone(&pipe),
                write: false,
            },
            PipeEnd { pipe, write: true },
        )
    }

    /// The pipe's identity (its inode number and [`WaitOn`] key).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When the pipe was made (its timestamps in `fstat`).
    pub fn created(&self) -> Timespec {
        self.created
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.inner.lock().bufs.iter().map(|b| b.len).sum()
    }

    /// `pipe_poll()` for an end open for reading (`read_end`) or for writing: readable
    /// (`POLLIN | POLLRDNORM`) with data, hung up (`POLLHUP`) without writers; writable
    /// (`POLLOUT | POLLWRNORM`) with a free buffer, in error (`POLLERR`) without readers.
    pub fn poll(&self, read_end: bool) -> PollMask {
        let g = self.inner.lock();
        let mut mask = PollMask::empty();
        if read_end {
            if !g.bufs.is_empty() {
                mask |= PollMask::POLLIN | PollMask::POLLRDNORM;
            }
            if g.writers == 0 {
                mask |= PollMask::POLLHUP;
            }
        } else {
            if !g.full() {
                mask |= PollMask::POLLOUT | PollMask::POLLWRNORM;
            }
            if g.readers == 0 {
                mask |= PollMask::POLLERR;
            }
        }
        mask
    }

    /// Buffers in use (of [`Pipe::size`] / page size).
    pub fn buffers_used(&self) -> usize {
        self.inner.lock().bufs.len()
    }

    /// The capacity in bytes (`F_GETPIPE_SZ`: `pipe->max_usage * PAGE_SIZE`).
    pub fn size(&self) -> usize {
        self.inner.lock().max_usage * PIPE_PAGE
    }

    /// `F_SETPIPE_SZ` (`pipe_set_size()`): the ring gets `round_pipe_size(arg)` / page
    /// size slots — `arg` rounded up to a power-of-two number of pages, at least one —
    /// and the new capacity in bytes is returned. The caller is root (`CAP_SYS_RESOURCE`),
    /// so neither `/proc/sys/fs/pipe-max-size` nor the per-user limits apply; the slots
    /// cost host memory only while they hold a page (a guest frame).
    ///
    /// # Errors
    /// `EINVAL` for `arg` above `1 << 31`; `EBUSY` if the buffers in use do not fit in the
    /// new ring (`pipe_resize_ring()`).
    pub fn set_size(&self, arg: u32) -> KResult<usize> {
        // round_pipe_size().
        let size = match arg {
            a if a > PIPE_SIZE_MAX => return Err(Errno::EINVAL),
            a if (a as usize) < PIPE_PAGE => PIPE_PAGE,
            a => (a as usize).next_power_of_two(),
        };
        let nr_slots = size / PIPE_PAGE;
        let mut g = self.inner.lock();
        if nr_slots < g.bufs.len() {
            return Err(Errno::EBUSY);
        }
        let grew = nr_slots > g.max_usage;
        g.max_usage = nr_slots;
        drop(g);
        // pipe_resize_ring(): "This might have made more room for writers".
        if grew {
            self.wr_wait.wake_up();
        }
        Ok(size)
    }

    /// `pipe_read()`: reads up to `max` bytes buffer by buffer from the oldest, handing
    /// each piece to `sink` while the pipe is locked; only the bytes `sink` accepts (its
    /// `Ok` count) are consumed, so a fault copying to user memory loses nothing. A
    /// buffer read to its end is released (a referenced page loses the pipe's reference).
    ///
    /// Returns `Ok(0)` at end of file (empty, no writers) and for `max == 0`.
    ///
    /// # Errors
    /// `EAGAIN` if empty with writers and `nonblock`; [`IoError::WouldBlock`] if empty
    /// with writers otherwise; `sink`'s error if it took nothing of the first piece;
    /// `EFAULT` if a referenced page cannot be read and nothing was read before.
    pub fn read_with(
        &self,
        max: usize,
        nonblock: bool,
        sink: &mut dyn FnMut(&[u8]) -> KResult<usize>,
    ) -> IoResult<usize> {
        if max == 0 {
            return Ok(0);
        }
        let mut g = self.inner.lock();
        if g.bufs.is_empty() {
            if g.writers == 0 {
                return Ok(0);
            }
            return Err(if nonblock {
                IoError::Errno(Errno::EAGAIN)
            } else {
                IoError::WouldBlock(WaitOn::PipeReadable(self.id))
            });
        }
        let was_full = g.full();
        let r = g.read_bufs(max, sink);
        let (freed, left) = (was_full && !g.full(), !g.bufs.is_empty());
        drop(g);
        // pipe_read(): a slot freed in a full pipe wakes a writer; data left wakes the
        // next reader (`wake_next_reader`: readers sleep exclusively, one is woken per
        // wake-up, and it passes the wake-up on while there is something to read).
        if freed {
            self.wr_wait.wake_up();
        }
        if left {
            self.rd_wait.wake_up();
        }
        r
    }
}

impl PipeInner {
    /// The copy loop of [`Pipe::read_with`] with the pipe locked.
    fn read_bufs(
        &mut self,
        max: usize,
        sink: &mut dyn FnMut(&[u8]) -> KResult<usize>,
    ) -> IoResult<usize> {
        let g = self;
        let mut done = 0usize;
        while done < max {
            let Some(buf) = g.bufs.front_mut() else {
                break;
            };
            let chars = buf.len.min(max - done);
            let mut chunk = vec![0u8; chars];
            if !buf.copy_out(&mut chunk) {
                return Ok(partial(done, Errno::EFAULT)?);
            }
            let taken = match sink(&chunk) {
                Ok(n) => n.min(chars),
                Err(e) => return Ok(partial(done, e)?),
            };
            buf.offset += taken;
            buf.len -= taken;
            done += taken;
            if buf.len == 0 {
                // pipe_buf_release(): drops the page (and a referenced page's reference).
                g.bufs.pop_front();
            }
            if taken < chars {
                break;
            }
        }
        Ok(done)
    }
}

impl Pipe {
    /// `pipe_write()`: writes `len` bytes fetched from `source(offset, buf)`. The first
    /// `len % PAGE_SIZE` bytes are merged into the newest buffer if it is the pipe's own
    /// page with room for them; the rest goes into new buffers of up to a page each while
    /// slots are free. So a write of at most `PIPE_BUF` bytes goes in whole or not at
    /// all. A larger write that fills the pipe part-way returns the short count; a blocking
    /// `write()` then sleeps on `wr_wait` and goes on (`kernel/poll.rs`). Data written
    /// into an empty pipe wakes `rd_wait`.
    ///
    /// # Errors
    /// `EPIPE` with no readers (the caller raises `SIGPIPE`); `EAGAIN` / `WouldBlock`
    /// when nothing can be written now; `source`'s error if nothing was written.
    pub fn write_with(
        &self,
        len: usize,
        nonblock: bool,
        source: &mut dyn FnMut(usize, &mut [u8]) -> KResult<()>,
    ) -> IoResult<usize> {
        if len == 0 {
            return Ok(0);
        }
        let mut g = self.inner.lock();
        if g.readers == 0 {
            return Err(IoError::Errno(Errno::EPIPE));
        }
        let was_empty = g.bufs.is_empty();
        let r = g.write_bufs(self.id, len, nonblock, source);
        let (filled, room) = (was_empty && !g.bufs.is_empty(), !g.full());
        drop(g);
        // pipe_write(): data in an empty pipe wakes a reader; room left wakes the next
        // writer (`wake_next_writer`, as `wake_next_reader` above).
        if filled {
            self.rd_wait.wake_up();
        }
        if room {
            self.wr_wait.wake_up();
        }
        r
    }
}

impl PipeInner {
    /// The copy loop of [`Pipe::write_with`] with pipe `id` locked.
    fn write_bufs(
        &mut self,
        id: u64,
        len: usize,
        nonblock: bool,
        source: &mut dyn FnMut(usize, &mut [u8]) -> KResult<()>,
    ) -> IoResult<usize> {
        let g = self;
        let mut done = 0usize;
        let chars = len % PIPE_PAGE;
        if chars != 0 {
            if let Some(last) = g.bufs.back_mut() {
                let end = last.offset + last.len;
                if let (true, BufPage::Anon(page)) = (last.can_merge, &mut last.page) {
                    if end + chars <= PIPE_PAGE {
                        page.fill(end, chars, |dst| source(0, dst))?;
                        last.len += chars;
                        done = chars;
                    }
                }
            }
        }
        while done < len {
            if g.full() {
                if done > 0 {
                    break;
                }
                return Err(if nonblock {
                    IoError::Errno(Errno::EAGAIN)
                } else {
                    IoError::WouldBlock(WaitOn::PipeWritable(id))
                });
            }
            let n = (len - done).min(PIPE_PAGE);
            // pipe_write(): "ret = ret ? : -ENOMEM" when no page can be had.
            let Some(mut page) = AnonPage::alloc(g.phys.as_ref()) else {
                return Ok(partial(done, Errno::ENOMEM)?);
            };
            if let Err(e) = page.fill(0, n, |dst| source(done, dst)) {
                return Ok(partial(done, e)?);
            }
            g.bufs.push_back(PipeBuffer {
                page: BufPage::Anon(page),
                offset: 0,
                len: n,
                can_merge: true,
                gift: false,
            });
            done += n;
        }
        Ok(done)
    }
}

impl Pipe {
    /// [`Pipe::write_with`] from a byte slice.
    ///
    /// # Errors
    /// As [`Pipe::write_with`].
    pub fn write(&self, data: &[u8], nonblock: bool) -> IoResult<usize> {
        self.write_with(data.len(), nonblock, &mut |off, dst| {
            let src = data.get(off..off + dst.len()).ok_or(Errno::EFAULT)?;
            dst.copy_from_slice(src);
            Ok(())
        })
    }

    /// `wait_for_space()` (fs/splice.c): whether a buffer can be added now.
    ///
    /// # Errors
    /// `EPIPE` with no readers (Linux also sends `SIGPIPE`); `EAGAIN` when full and
    /// `nonblock` (`SPLICE_F_NONBLOCK`); [`IoError::WouldBlock`] when full otherwise.
    pub fn wait_for_space(&self, nonblock: bool) -> IoResult<()> {
        let g = self.inner.lock();
        if g.readers == 0 {
            return Err(IoError::Errno(Errno::EPIPE));
        }
        if !g.full() {
            return Ok(());
        }
        Err(if nonblock {
            IoError::Errno(Errno::EAGAIN)
        } else {
            IoError::WouldBlock(WaitOn::PipeWritable(self.id))
        })
    }

    /// `add_to_pipe()` of a `user_page_pipe_buf_ops` buffer: `len` bytes at `offset` in
    /// `page`, whose reference the pipe now holds. Returns `len`.
    ///
    /// # Errors
    /// `EPIPE` without readers, `EAGAIN` when every slot is in use; the page is released
    /// (dropped) then, as `add_to_pipe()` releases the buffer it could not add.
    pub fn add_page(
        &self,
        page: Box<dyn PipePage>,
        offset: usize,
        len: usize,
        gift: bool,
    ) -> KResult<usize> {
        let mut g = self.inner.lock();
        if g.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if g.full() {
            return Err(Errno::EAGAIN);
        }
        if offset.checked_add(len).is_none_or(|e| e > PIPE_PAGE) {
            return Err(Errno::EINVAL);
        }
        let was_empty = g.bufs.is_empty();
        g.bufs.push_back(PipeBuffer {
            page: BufPage::Ref(page),
            offset,
            len,
            can_merge: false,
            gift,
        });
        drop(g);
        if was_empty {
            self.rd_wait.wake_up();
        }
        Ok(len)
    }

    /// Whether the oldest buffer is a gifted page (`PIPE_BUF_FLAG_GIFT`), for tests.
    pub fn front_is_gift(&self) -> bool {
        self.inner.lock().bufs.front().is_some_and(|b| b.gift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A pipe whose pages are frames of a fresh 1 MiB of guest RAM.
    fn pair(id: u64) -> (PipeEnd, PipeEnd) {
        let phys = crate::mm::test_support::phys(1);
        Pipe::new_pair(id, Timespec::default(), Some(phys))
    }

    fn read_all(p: &Pipe, max: usize) -> IoResult<Vec<u8>> {
        let mut out = Vec::new();
        p.read_with(max, true, &mut |d| {
            out.extend_from_slice(d);
            Ok(d.len())
        })?;
        Ok(out)
    }

    #[test]
    fn fifo_order_eof_and_epipe() {
        let (r, w) = pair(5);
        assert_eq!(w.pipe().write(b"hello ", false), Ok(6));
        assert_eq!(w.pipe().write(b"world", false), Ok(5));
        assert_eq!(w.pipe().buffers_used(), 1, "small writes merge");
        assert_eq!(read_all(r.pipe(), 8).unwrap(), b"hello wo");
        assert_eq!(read_all(r.pipe(), 100).unwrap(), b"rld");
        assert_eq!(
            r.pipe().buffers_used(),
            0,
            "a buffer read to its end is released"
        );
        // Empty with a writer: would block (or EAGAIN with O_NONBLOCK).
        assert_eq!(
            r.pipe().read_with(1, false, &mut |d| Ok(d.len())),
            Err(IoError::WouldBlock(WaitOn::PipeReadable(5)))
        );
        assert_eq!(read_all(r.pipe(), 1), Err(IoError::Errno(Errno::EAGAIN)));
        let pipe = Arc::clone(r.pipe());
        drop(w);
        assert_eq!(
            read_all(&pipe, 1).unwrap(),
            b"",
            "EOF once the writer is gone"
        );
        let (r2, w2) = pair(6);
        assert_eq!(w2.pipe().write(b"", false), Ok(0), "a null write succeeds");
        drop(r2);
        assert_eq!(
            w2.pipe().write(b"x", false),
            Err(IoError::Errno(Errno::EPIPE))
        );
        assert_eq!(w2.pipe().write(b"", false), Ok(0), "even without readers");
    }

    #[test]
    fn capacity_is_sixteen_buffers_and_small_writes_are_atomic() {
        let (r, w) = pair(1);
        let big = vec![7u8; PIPE_CAPACITY - 100];
        assert_eq!(w.pipe().write(&big, false), Ok(PIPE_CAPACITY - 100));
        assert_eq!(w.pipe().buffers_used(), PIPE_DEF_BUFFERS);
        // The last buffer has 100 bytes of room: a 200-byte (<= PIPE_BUF) write does not
        // fit there and no slot is free: nothing is written.
        assert_eq!(
            w.pipe().write(&[1; 200], false),
            Err(IoError::WouldBlock(WaitOn::PipeWritable(1)))
        );
        assert_eq!(
            w.pipe().write(&[1; 200], true),
            Err(IoError::Errno(Errno::EAGAIN))
        );
        // 4097 bytes: the 1-byte remainder merges, the page-sized rest finds no slot.
        assert_eq!(w.pipe().write(&[2; PIPE_BUF + 1], true), Ok(1));
        assert_eq!(
            w.pipe().write(&[3; 99], true),
            Ok(99),
            "merges into the room"
        );
        assert_eq!(r.pipe().available(), PIPE_CAPACITY);
        // A failed copy consumes nothing.
        assert_eq!(
            r.pipe().read_with(10, false, &mut |_| Err(Errno::EFAULT)),
            Err(IoError::Errno(Errno::EFAULT))
        );
        assert_eq!(r.pipe().available(), PIPE_CAPACITY);
        // A partly read buffer keeps its slot: still full.
        assert_eq!(read_all(r.pipe(), 100).unwrap().len(), 100);
        assert_eq!(
            w.pipe().write(b"x", true),
            Err(IoError::Errno(Errno::EAGAIN))
        );
        assert_eq!(
            read_all(r.pipe(), PIPE_PAGE - 100).unwrap().len(),
            PIPE_PAGE - 100
        );
        assert_eq!(w.pipe().write(b"x", true), Ok(1), "one slot free again");
        // A fault in the source part-way through a large write: the pages copied stay.
        let (r2, w2) = pair(2);
        let n = w2.pipe().write_with(3 * PIPE_PAGE, true, &mut |off, _| {
            if off >= 2 * PIPE_PAGE {
                Err(Errno::EFAULT)
            } else {
                Ok(())
            }
        });
        assert_eq!(n, Ok(2 * PIPE_PAGE));
        assert_eq!(r2.pipe().available(), 2 * PIPE_PAGE);
    }

    #[test]
    fn readiness_changes_wake_exactly_their_queue() {
        use crate::fs::wait::tests::{asleep, Recorder};
        use crate::fs::WaitQueueEntry;
        let k = Arc::new(Recorder::default());
        let sleep = |head: &WaitQueueHead, tid| {
            head.add(WaitQueueEntry {
                task: asleep(&k, tid, 0),
                exclusive: true,
            })
        };
        let (r, w) = pair(9);
        let pipe = Arc::clone(r.pipe());
        sleep(&pipe.rd_wait, 1);
        sleep(&pipe.wr_wait, 2);
        assert_eq!(w.pipe().write(b"a", true), Ok(1));
        assert_eq!(
            k.take(),
            vec![1, 2],
            "data in an empty pipe wakes the reader; room left wakes the next writer"
        );
        sleep(&pipe.rd_wait, 1);
        sleep(&pipe.rd_wait, 3);
        assert_eq!(w.pipe().write(b"b", true), Ok(1));
        assert!(
            k.take().is_empty(),
            "a pipe that was not empty wakes no reader"
        );
        assert_eq!(read_all(&pipe, 1).unwrap(), b"a");
        assert_eq!(
            k.take(),
            vec![1],
            "data left after a read wakes the next reader, one only"
        );
        assert_eq!(read_all(&pipe, 1).unwrap(), b"b");
        assert!(k.take().is_empty(), "an emptied pipe wakes no reader");
        sleep(&pipe.wr_wait, 2);
        assert_eq!(w.pipe().write(&[0; PIPE_CAPACITY], true), Ok(PIPE_CAPACITY));
        assert_eq!(
            k.take(),
            vec![3],
            "the emptied pipe refilled wakes a reader; a full one no writer"
        );
        assert_eq!(read_all(&pipe, 1).unwrap().len(), 1);
        assert!(k.take().is_empty(), "a partly read buffer frees no slot");
        assert_eq!(read_all(&pipe, PIPE_PAGE - 1).unwrap().len(), PIPE_PAGE - 1);
        assert_eq!(
            k.take(),
            vec![2],
            "a freed slot in a full pipe wakes the writer"
        );
        sleep(&pipe.wr_wait, 2);
        sleep(&pipe.wr_wait, 4);
        drop(r);
        assert_eq!(
            k.take(),
            vec![2, 4],
            "the last reader gone wakes every writer"
        );
        sleep(&pipe.rd_wait, 1);
        sleep(&pipe.rd_wait, 3);
        drop(w);
        assert_eq!(
            k.take(),
            vec![1, 3],
            "the last writer gone wakes every reader"
        );
    }

    #[derive(Debug)]
    struct FakePage {
        byte: u8,
        released: Arc<AtomicUsize>,
    }

    impl PipePage for FakePage {
        fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = self.byte.wrapping_add((offset + i) as u8);
            }
            true
        }
    }

    impl Drop for FakePage {
        fn drop(&mut self) {
            self.released.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn referenced_pages_are_read_in_place_and_released_once() {
        let released = Arc::new(AtomicUsize::new(0));
        let page = |byte| {
            Box::new(FakePage {
                byte,
                released: Arc::clone(&released),
            })
        };
        let (r, w) = pair(3);
        assert_eq!(w.pipe().write(b"ab", true), Ok(2));
        assert_eq!(w.pipe().add_page(page(10), 5, 3, true), Ok(3));
        // A referenced page is never merged into.
        assert_eq!(w.pipe().write(b"c", true), Ok(1));
        assert_eq!(w.pipe().buffers_used(), 3);
        assert_eq!(read_all(r.pipe(), 3).unwrap(), [b'a', b'b', 15]);
        assert!(r.pipe().front_is_gift());
        assert_eq!(
            released.load(Ordering::Relaxed),
            0,
            "still one byte to read"
        );
        assert_eq!(read_all(r.pipe(), 10).unwrap(), [16, 17, b'c']);
        assert_eq!(released.load(Ordering::Relaxed), 1, "released when read");
        // A full pipe refuses (and releases) the page; so does one without readers.
        for _ in 0..PIPE_DEF_BUFFERS {
            w.pipe().add_page(page(0), 0, 1, false).unwrap();
        }
        assert_eq!(w.pipe().wait_for_space(true), Err(Errno::EAGAIN.into()));
        assert_eq!(
            w.pipe().wait_for_space(false),
            Err(IoError::WouldBlock(WaitOn::PipeWritable(3)))
        );
        assert_eq!(w.pipe().add_page(page(0), 0, 1, false), Err(Errno::EAGAIN));
        assert_eq!(released.load(Ordering::Relaxed), 2);
        drop(r);
        assert_eq!(w.pipe().wait_for_space(true), Err(Errno::EPIPE.into()));
        assert_eq!(w.pipe().add_page(page(0), 0, 1, false), Err(Errno::EPIPE));
        assert_eq!(released.load(Ordering::Relaxed), 3);
        // Closing the pipe unread releases every buffer's page.
        drop(w);
        assert_eq!(released.load(Ordering::Relaxed), 3 + PIPE_DEF_BUFFERS);
    }

    #[test]
    fn f_setpipe_sz_rounds_to_a_power_of_two_of_pages_and_keeps_the_data() {
        let (r, w) = pair(11);
        let p = w.pipe();
        assert_eq!(p.size(), PIPE_CAPACITY);
        // round_pipe_size(): below a page, a page; otherwise the next power of two.
        assert_eq!(p.set_size(0), Ok(PIPE_PAGE));
        assert_eq!(p.set_size(1), Ok(PIPE_PAGE));
        assert_eq!(p.set_size(4097), Ok(2 * PIPE_PAGE));
        assert_eq!(p.set_size(3 * 4096), Ok(4 * PIPE_PAGE));
        assert_eq!(
            p.set_size(1 << 31),
            Ok(1 << 31),
            "root may go past pipe-max-size"
        );
        assert_eq!(p.set_size((1 << 31) + 1), Err(Errno::EINVAL));
        assert_eq!(p.set_size(u32::MAX), Err(Errno::EINVAL));
        assert_eq!(p.size(), 1 << 31, "a refused size changes nothing");
        // Three buffers in use: a one- or two-slot ring cannot hold them.
        p.set_size(4 * 4096).unwrap();
        assert_eq!(p.write(&[5; 3 * PIPE_PAGE], true), Ok(3 * PIPE_PAGE));
        assert_eq!(p.set_size(2 * 4096), Err(Errno::EBUSY));
        assert_eq!(p.size(), 4 * PIPE_PAGE);
        // Four slots: the fourth page fits, a fifth does not.
        assert_eq!(p.write(&[6; 2 * PIPE_PAGE], true), Ok(PIPE_PAGE));
        assert_eq!(p.write(&[7], true), Err(IoError::Errno(Errno::EAGAIN)));
        let data = read_all(r.pipe(), 4 * PIPE_PAGE).unwrap();
        assert_eq!(data.len(), 4 * PIPE_PAGE);
        assert!(data[..3 * PIPE_PAGE].iter().all(|&b| b == 5));
        assert!(data[3 * PIPE_PAGE..].iter().all(|&b| b == 6));
        assert_eq!(p.set_size(4096), Ok(PIPE_PAGE), "empty: any size fits");
    }

    #[test]
    fn pipe_pages_are_guest_frames_bounded_by_ram_and_freed_when_read_or_closed() {
        let phys = crate::mm::test_support::phys(1);
        let free0 = phys.pages.audit().free_frames;
        let (r, w) = Pipe::new_pair(12, Timespec::default(), Some(Arc::clone(&phys)));
        w.pipe().set_size(4 << 20).unwrap();
        // More than RAM: the write stops where the frames run out (pipe_write()'s
        // alloc_page() failing: the count so far), then ENOMEM.
        let n = w.pipe().write(&vec![9u8; 2 << 20], true).unwrap();
        assert!(n > 0 && n < (1 << 20), "{n} bytes in 1 MiB of RAM");
        assert_eq!(n % PIPE_PAGE, 0);
        assert_eq!(
            phys.pages.audit().free_frames,
            free0 - (n / PIPE_PAGE) as u64
        );
        assert_eq!(
            w.pipe().write(&[1; 10], true),
            Err(IoError::Errno(Errno::ENOMEM))
        );
        // Reading a buffer to its end gives its frame back.
        assert_eq!(read_all(r.pipe(), PIPE_PAGE).unwrap(), vec![9u8; PIPE_PAGE]);
        assert_eq!(
            phys.pages.audit().free_frames,
            free0 - (n / PIPE_PAGE) as u64 + 1
        );
        assert_eq!(
            w.pipe().write(&[1; 10], true),
            Ok(10),
            "a frame is free again"
        );
        // The last close frees what is left unread; the allocator's books balance.
        drop(r);
        drop(w);
        let a = phys.pages.audit();
        assert_eq!(a.free_frames, free0);
        assert_eq!((a.bad_puts, a.inconsistent_frames), (0, 0));
    }
}
