//! Anonymous pipes (fs/pipe.c): a 64 KiB ring, `PIPE_BUF` atomicity, `EPIPE` without
//! readers, end-of-file without writers, and a would-block outcome for the scheduler.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::inode::Timespec;
use super::{lock, IoError, IoResult, WaitOn};
use crate::errno::{Errno, KResult};

/// Writes of at most this many bytes are atomic (include/uapi/linux/limits.h).
pub const PIPE_BUF: usize = 4096;
/// The ring's capacity: `PIPE_DEF_BUFFERS` (16) pages.
pub const PIPE_CAPACITY: usize = 16 * 4096;

#[derive(Debug)]
struct PipeInner {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// A pipe (`struct pipe_inode_info`), shared by its read and write ends.
#[derive(Debug)]
pub struct Pipe {
    id: u64,
    created: Timespec,
    inner: Mutex<PipeInner>,
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

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut g = lock(&self.pipe.inner);
        if self.write {
            g.writers = g.writers.saturating_sub(1);
        } else {
            g.readers = g.readers.saturating_sub(1);
        }
    }
}

impl Pipe {
    /// A new pipe numbered `id` (also its inode number), returning its read and write ends.
    pub fn new_pair(id: u64, now: Timespec) -> (PipeEnd, PipeEnd) {
        let pipe = Arc::new(Pipe {
            id,
            created: now,
            inner: Mutex::new(PipeInner {
                buf: VecDeque::new(),
                readers: 1,
                writers: 1,
            }),
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
        lock(&self.inner).buf.len()
    }

    /// Reads up to `max` bytes, handing them to `sink` while the pipe is locked; only the
    /// bytes `sink` accepts (its `Ok` count) are consumed, so a fault copying to user
    /// memory loses nothing (`pipe_read` stops at a failed copy the same way).
    ///
    /// Returns `Ok(0)` at end of file (empty, no writers).
    ///
    /// # Errors
    /// `EAGAIN` if empty with writers and `nonblock`; [`IoError::WouldBlock`] if empty
    /// with writers otherwise; whatever `sink` returns.
    pub fn read_with(
        &self,
        max: usize,
        nonblock: bool,
        sink: &mut dyn FnMut(&[u8]) -> KResult<usize>,
    ) -> IoResult<usize> {
        let mut g = lock(&self.inner);
        if g.buf.is_empty() {
            if g.writers == 0 || max == 0 {
                return Ok(0);
            }
            return Err(if nonblock {
                IoError::Errno(Errno::EAGAIN)
            } else {
                IoError::WouldBlock(WaitOn::PipeReadable(self.id))
            });
        }
        let n = max.min(g.buf.len());
        let (a, b) = g.buf.as_slices();
        let mut chunk = Vec::with_capacity(n);
        chunk.extend_from_slice(&a[..n.min(a.len())]);
        if n > a.len() {
            chunk.extend_from_slice(&b[..n - a.len()]);
        }
        let taken = sink(&chunk)?.min(n);
        g.buf.drain(..taken);
        Ok(taken)
    }

    /// Writes `data`, all of it or none when `data.len() <= PIPE_BUF`; a larger write
    /// stores what fits and returns that count (a short write: the guest OS does not keep
    /// a half-done blocking write across a wait, see the module docs of `syscall::fs`).
    ///
    /// # Errors
    /// `EPIPE` with no readers (the caller raises `SIGPIPE`); `EAGAIN` / `WouldBlock`
    /// when nothing can be written now.
    pub fn write(&self, data: &[u8], nonblock: bool) -> IoResult<usize> {
        let mut g = lock(&self.inner);
        if g.readers == 0 {
            return Err(IoError::Errno(Errno::EPIPE));
        }
        if data.is_empty() {
            return Ok(0);
        }
        let free = PIPE_CAPACITY - g.buf.len();
        let n = if data.len() <= PIPE_BUF {
            if free >= data.len() {
                data.len()
            } else {
                0
            }
        } else {
            free.min(data.len())
        };
        if n == 0 {
            return Err(if nonblock {
                IoError::Errno(Errno::EAGAIN)
            } else {
                IoError::WouldBlock(WaitOn::PipeWritable(self.id))
            });
        }
        g.buf.extend(&data[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (r, w) = Pipe::new_pair(5, Timespec::default());
        assert_eq!(w.pipe().write(b"hello ", false), Ok(6));
        assert_eq!(w.pipe().write(b"world", false), Ok(5));
        assert_eq!(read_all(r.pipe(), 8).unwrap(), b"hello wo");
        assert_eq!(read_all(r.pipe(), 100).unwrap(), b"rld");
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
        let (r2, w2) = Pipe::new_pair(6, Timespec::default());
        drop(r2);
        assert_eq!(
            w2.pipe().write(b"x", false),
            Err(IoError::Errno(Errno::EPIPE))
        );
    }

    #[test]
    fn pipe_buf_atomicity_and_capacity() {
        let (r, w) = Pipe::new_pair(1, Timespec::default());
        let big = vec![7u8; PIPE_CAPACITY - 100];
        assert_eq!(w.pipe().write(&big, false), Ok(PIPE_CAPACITY - 100));
        // 200 <= PIPE_BUF does not fit in the 100 bytes left: nothing is written.
        assert_eq!(
            w.pipe().write(&[1; 200], false),
            Err(IoError::WouldBlock(WaitOn::PipeWritable(1)))
        );
        assert_eq!(
            w.pipe().write(&[1; 200], true),
            Err(IoError::Errno(Errno::EAGAIN))
        );
        // A large write takes what fits.
        assert_eq!(w.pipe().write(&[2; PIPE_BUF + 1], true), Ok(100));
        assert_eq!(r.pipe().available(), PIPE_CAPACITY);
        // A failed copy consumes nothing.
        assert_eq!(
            r.pipe().read_with(10, false, &mut |_| Err(Errno::EFAULT)),
            Err(IoError::Errno(Errno::EFAULT))
        );
        assert_eq!(r.pipe().available(), PIPE_CAPACITY);
    }
}
