//! `fs/eventfd.c`: a file that is a 64-bit counter, for one thread or process to signal
//! another (`eventfd2(initval, flags)`; glibc's `eventfd()` is that call).
//!
//! | operation | Linux | what it does |
//! |---|---|---|
//! | `read` of ≥ 8 bytes | `eventfd_read()` | the counter, which becomes 0 — or, with `EFD_SEMAPHORE`, 1, the counter going down by 1; at 0 `EAGAIN` (`O_NONBLOCK`) or sleep |
//! | `write` of ≥ 8 bytes | `eventfd_write()` | adds the 8-byte value; `EINVAL` for `u64::MAX`; a sum that would reach `u64::MAX` is `EAGAIN` or sleeps |
//! | `poll` | `eventfd_poll()` | `POLLIN` when the counter is above 0, `POLLOUT` when a 1 can be added, `POLLERR` at `u64::MAX` (only `eventfd_signal()` overflow could reach it) |
//!
//! A buffer under 8 bytes is `EINVAL` for both; `lseek` is `noop_llseek()` (returns 0),
//! `pread64`/`pwrite64` are `ESPIPE`. Readers and writers sleep on one wait
//! queue (`ctx->wqh`); every change of the counter wakes all of them
//! (`wake_up_locked_poll()` on a queue of non-exclusive waiters), and each re-checks.
//! A sleeping call blocks as a pipe's does: the file returns
//! [`IoError::WouldBlock`] and the kernel parks the caller on [`EventFd::poll_wait`]'s
//! queue, re-issuing the call when woken (`kernel/poll.rs`).

use std::sync::Arc;

use super::fops::{FileCtx, FileOperations, Kiocb, PollMask, WriteSource};
use super::wait::{PollTable, WaitQueueHead};
use super::{IoError, IoResult, OpenFile, WaitOn, O_CLOEXEC, O_NONBLOCK};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

/// `EFD_SEMAPHORE`: a read takes 1 off the counter and returns 1.
pub const EFD_SEMAPHORE: u32 = 1;
/// `EFD_CLOEXEC` (= `O_CLOEXEC`): the descriptor is closed on `execve`.
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
/// `EFD_NONBLOCK` (= `O_NONBLOCK`): reads and writes that would sleep fail with `EAGAIN`.
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;
/// `EFD_FLAGS_SET`: the flags `eventfd2` accepts.
const EFD_FLAGS_SET: u32 = EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK;

/// The size of what is read and written: one `u64`, in bytes.
const EVENTFD_IO_BYTES: usize = 8;

/// `struct eventfd_ctx`: the counter and the queue its readers and writers sleep on.
#[derive(Debug)]
pub struct EventFd {
    /// `ctx->count`, under `ctx->wqh.lock` in Linux; here its own lock.
    count: Mutex<u64>,
    /// `EFD_SEMAPHORE` (`ctx->flags`).
    semaphore: bool,
    /// `ctx->wqh`.
    wqh: Arc<WaitQueueHead>,
}

impl EventFd {
    /// `do_eventfd(count, flags)`'s context: the counter at `initval`.
    ///
    /// # Errors
    /// `EINVAL` for `flags` outside `EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK`.
    pub fn new(initval: u32, flags: u32) -> Result<Arc<EventFd>, Errno> {
        if flags & !EFD_FLAGS_SET != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(Arc::new(EventFd {
            count: Mutex::new(u64::from(initval)),
            semaphore: flags & EFD_SEMAPHORE != 0,
            wqh: Arc::new(WaitQueueHead::default()),
        }))
    }

    /// The counter now (`/proc/<pid>/fdinfo`'s `eventfd-count`).
    pub fn count(&self) -> u64 {
        *self.count.lock()
    }

    /// `eventfd_read()`'s counter step: the value a read returns, the counter taken
    /// down by it and the waiters woken.
    ///
    /// # Errors
    /// `EAGAIN` at 0 with `nonblock`; [`IoError::WouldBlock`] at 0 otherwise.
    fn take(&self, nonblock: bool) -> IoResult<u64> {
        let mut count = self.count.lock();
        if *count == 0 {
            return Err(if nonblock {
                Errno::EAGAIN.into()
            } else {
                IoError::WouldBlock(WaitOn::EventfdReadable)
            });
        }
        let ucnt = if self.semaphore { 1 } else { *count };
        *count -= ucnt;
        drop(count);
        self.wqh.wake_up_all();
        Ok(ucnt)
    }

    /// `eventfd_write()`'s counter step: `ucnt` added and the waiters woken.
    ///
    /// # Errors
    /// `EINVAL` for `u64::MAX`; `EAGAIN` (`nonblock`) or [`IoError::WouldBlock`] if the
    /// sum would reach `u64::MAX`.
    fn add(&self, ucnt: u64, nonblock: bool) -> IoResult<()> {
        if ucnt == u64::MAX {
            return Err(Errno::EINVAL.into());
        }
        let mut count = self.count.lock();
        if u64::MAX - *count <= ucnt {
            return Err(if nonblock {
                Errno::EAGAIN.into()
            } else {
                IoError::WouldBlock(WaitOn::EventfdWritable)
            });
        }
        *count += ucnt;
        drop(count);
        if ucnt != 0 {
            self.wqh.wake_up_all();
        }
        Ok(())
    }
}

impl FileOperations for EventFd {
    /// `eventfd_read()`: the 8-byte counter (see the module docs). A copy that faults
    /// after the counter was taken loses it, as in Linux.
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        if len < EVENTFD_IO_BYTES {
            return Err(Errno::EINVAL.into());
        }
        let ucnt = self.take(iocb.nonblock())?;
        let copied = ctx.copy_to_user(buf, &ucnt.to_le_bytes())?;
        if copied != EVENTFD_IO_BYTES {
            return Err(Errno::EFAULT.into());
        }
        Ok(EVENTFD_IO_BYTES)
    }

    /// `eventfd_write()`: adds the 8-byte value at `src` (see the module docs).
    fn write(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        if len < EVENTFD_IO_BYTES {
            return Err(Errno::EINVAL.into());
        }
        let mut v = [0u8; EVENTFD_IO_BYTES];
        ctx.copy_from_source(src, 0, &mut v)?;
        self.add(u64::from_le_bytes(v), iocb.nonblock())?;
        Ok(EVENTFD_IO_BYTES)
    }

    /// `eventfd_poll()`.
    fn poll(&self, _file: &OpenFile) -> PollMask {
        let count = *self.count.lock();
        let mut events = PollMask::empty();
        if count > 0 {
            events |= PollMask::POLLIN;
        }
        if count == u64::MAX {
            events |= PollMask::POLLERR;
        }
        if u64::MAX - 1 > count {
            events |= PollMask::POLLOUT;
        }
        events
    }

    /// `poll_wait(file, &ctx->wqh, wait)`.
    fn poll_wait(&self, _file: &OpenFile, pt: &mut PollTable) {
        pt.poll_wait(&self.wqh);
    }

    /// `eventfd_poll()` exists: an eventfd can be watched by epoll.
    fn can_poll(&self) -> bool {
        true
    }

    /// `noop_llseek()`: the position stays where it is (0) and is returned.
    fn llseek(&self, _file: &OpenFile, _offset: i64, _whence: u32, pos: u64) -> KResult<u64> {
        Ok(pos)
    }

    /// `anon_inode_getfile()` sets no `FMODE_PREAD`/`FMODE_PWRITE`: `pread64` and
    /// `pwrite64` are `ESPIPE`, and reads and writes leave the position alone.
    fn is_stream(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{AnonFile, FileTarget, Vfs, VfsConfig, O_RDWR};
    use crate::uaccess::UserAccess;

    /// Eight bytes of user memory at 0x1000; the rest faults.
    struct Word([u8; 8]);

    impl UserAccess for Word {
        fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
            match (va, buf.len()) {
                (0x1000, 8) => {
                    buf.copy_from_slice(&self.0);
                    Ok(())
                }
                _ => Err(Errno::EFAULT),
            }
        }

        fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
            match (va, data.len()) {
                (0x1000, 8) => {
                    self.0.copy_from_slice(data);
                    Ok(())
                }
                _ => Err(Errno::EFAULT),
            }
        }
    }

    fn eventfd(initval: u32, flags: u32) -> (Arc<EventFd>, Arc<OpenFile>) {
        let efd = EventFd::new(initval, flags).unwrap();
        let file = OpenFile::new(
            FileTarget::Anon(AnonFile::new("[eventfd]", Arc::clone(&efd))),
            O_RDWR | (flags & O_NONBLOCK),
        );
        (efd, file)
    }

    fn read(file: &OpenFile, len: usize) -> IoResult<u64> {
        let vfs = Vfs::new(VfsConfig::default());
        let mut user = Word([0; 8]);
        let mut ctx = FileCtx::current(&vfs, &mut user);
        let n = file.read(&mut ctx, None, 0x1000, len)?;
        assert_eq!(n, 8);
        Ok(u64::from_le_bytes(user.0))
    }

    fn write(file: &OpenFile, v: u64, len: usize) -> IoResult<usize> {
        let vfs = Vfs::new(VfsConfig::default());
        let mut user = Word(v.to_le_bytes());
        let mut ctx = FileCtx::current(&vfs, &mut user);
        file.write(&mut ctx, None, WriteSource::User(0x1000), len)
    }

    #[test]
    fn a_read_returns_the_counter_and_resets_it_or_one_with_efd_semaphore() {
        let (_, f) = eventfd(5, EFD_NONBLOCK);
        assert_eq!(read(&f, 8), Ok(5));
        assert_eq!(read(&f, 8), Err(Errno::EAGAIN.into()));
        assert_eq!(write(&f, 3, 8), Ok(8));
        assert_eq!(write(&f, 4, 16), Ok(8), "a longer buffer moves 8 bytes");
        assert_eq!(read(&f, 100), Ok(7));
        let (e, s) = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
        assert_eq!(read(&s, 8), Ok(1));
        assert_eq!(e.count(), 1);
        assert_eq!(read(&s, 8), Ok(1));
        assert_eq!(read(&s, 8), Err(Errno::EAGAIN.into()));
    }

    #[test]
    fn short_buffers_the_max_value_and_overflow_are_refused_as_linux() {
        let (e, f) = eventfd(0, EFD_NONBLOCK);
        assert_eq!(read(&f, 7), Err(Errno::EINVAL.into()));
        assert_eq!(write(&f, 1, 7), Err(Errno::EINVAL.into()));
        assert_eq!(write(&f, u64::MAX, 8), Err(Errno::EINVAL.into()));
        assert_eq!(write(&f, u64::MAX - 1, 8), Ok(8));
        assert_eq!(e.count(), u64::MAX - 1);
        assert_eq!(
            write(&f, 1, 8),
            Err(Errno::EAGAIN.into()),
            "would reach u64::MAX"
        );
        assert_eq!(write(&f, 0, 8), Ok(8), "adding 0 always fits");
        assert_eq!(EventFd::new(0, 8).err(), Some(Errno::EINVAL));
        let (_, b) = eventfd(0, 0);
        assert_eq!(
            read(&b, 8),
            Err(IoError::WouldBlock(WaitOn::EventfdReadable))
        );
        assert_eq!(write(&b, u64::MAX - 1, 8), Ok(8));
        assert_eq!(
            write(&b, 1, 8),
            Err(IoError::WouldBlock(WaitOn::EventfdWritable))
        );
    }

    #[test]
    fn a_read_whose_copy_faults_loses_the_counter_as_linux() {
        let (e, f) = eventfd(4, EFD_NONBLOCK);
        let vfs = Vfs::new(VfsConfig::default());
        let mut user = Word([0; 8]);
        let mut ctx = FileCtx::current(&vfs, &mut user);
        assert_eq!(f.read(&mut ctx, None, 0x2000, 8), Err(Errno::EFAULT.into()));
        assert_eq!(
            e.count(),
            0,
            "eventfd_ctx_do_read() came before copy_to_iter()"
        );
        assert_eq!(
            f.write(&mut ctx, None, WriteSource::User(0x2000), 8),
            Err(Errno::EFAULT.into())
        );
        assert_eq!(e.count(), 0, "a write that cannot copy adds nothing");
    }

    #[test]
    fn poll_reports_in_when_counted_and_out_while_a_one_fits() {
        let (_, f) = eventfd(0, EFD_NONBLOCK);
        assert_eq!(f.poll(), PollMask::POLLOUT);
        assert_eq!(write(&f, 1, 8), Ok(8));
        assert_eq!(f.poll(), PollMask::POLLIN | PollMask::POLLOUT);
        assert_eq!(write(&f, u64::MAX - 3, 8), Ok(8));
        assert_eq!(
            f.poll(),
            PollMask::POLLIN | PollMask::POLLOUT,
            "at u64::MAX - 2 a 1 still fits"
        );
        assert_eq!(write(&f, 1, 8), Ok(8));
        assert_eq!(f.poll(), PollMask::POLLIN, "at u64::MAX - 1 it does not");
    }

    #[test]
    fn a_write_wakes_a_sleeping_reader_and_a_read_a_sleeping_writer() {
        use crate::fs::wait::tests::{asleep, Recorder};
        let rec = Arc::new(Recorder::default());
        let (_, f) = eventfd(0, 0);
        let mut pt = PollTable::default();
        f.poll_wait(&mut pt);
        pt.arm(asleep(&rec, 7, 1), true);
        assert_eq!(write(&f, 0, 8), Ok(8));
        assert!(rec.take().is_empty(), "adding 0 wakes nobody");
        assert_eq!(write(&f, u64::MAX - 1, 8), Ok(8));
        assert_eq!(rec.take(), vec![7], "the reader");
        let mut pt = PollTable::default();
        f.poll_wait(&mut pt);
        pt.arm(asleep(&rec, 8, 2), true);
        assert_eq!(read(&f, 8), Ok(u64::MAX - 1));
        assert_eq!(rec.take(), vec![8], "the writer");
    }
}
