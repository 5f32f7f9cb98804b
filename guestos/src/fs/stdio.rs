//! Host streams behind the guest's descriptors 0, 1 and 2.
//!
//! The kernel's configuration supplies them as boxed `Read`/`Write` objects, plus whether
//! each is a terminal (which must be decided before boxing, with
//! [`std::io::IsTerminal`]). Writes go straight through and are flushed at once: the only
//! buffering is the guest C library's own.

use std::io::{IsTerminal, Read, Write};
use std::sync::{Arc, Mutex};

use super::lock;
use crate::errno::{Errno, KResult};

/// Which standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    /// Descriptor 0.
    Stdin,
    /// Descriptor 1.
    Stdout,
    /// Descriptor 2.
    Stderr,
}

/// The three host streams, shared by every process of a run.
pub struct HostStreams {
    stdin: Mutex<Box<dyn Read + Send>>,
    stdout: Mutex<Box<dyn Write + Send>>,
    stderr: Mutex<Box<dyn Write + Send>>,
    tty: [bool; 3],
}

impl std::fmt::Debug for HostStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostStreams")
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

impl HostStreams {
    /// Streams that are not terminals (files, pipes, buffers).
    pub fn new(
        stdin: Box<dyn Read + Send>,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Self {
        Self::with_terminals(stdin, stdout, stderr, [false; 3])
    }

    /// Streams with an explicit "is a terminal" flag for stdin, stdout and stderr, which
    /// decides whether `TCGETS`/`TIOCGWINSZ` succeed on them.
    pub fn with_terminals(
        stdin: Box<dyn Read + Send>,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        tty: [bool; 3],
    ) -> Self {
        HostStreams {
            stdin: Mutex::new(stdin),
            stdout: Mutex::new(stdout),
            stderr: Mutex::new(stderr),
            tty,
        }
    }

    /// The host process's own stdin, stdout and stderr, each flagged a terminal if
    /// [`IsTerminal`] says so.
    pub fn inherit() -> Self {
        let tty = [
            std::io::stdin().is_terminal(),
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        ];
        Self::with_terminals(
            Box::new(std::io::stdin()),
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            tty,
        )
    }

    /// Streams for tests: stdin reads `input`, and stdout/stderr are collected in the
    /// returned [`CapturedOutput`].
    pub fn capture(input: Vec<u8>) -> (Self, CapturedOutput) {
        let out = CapturedOutput::default();
        let streams = Self::new(
            Box::new(std::io::Cursor::new(input)),
            Box::new(SharedBuf(Arc::clone(&out.stdout))),
            Box::new(SharedBuf(Arc::clone(&out.stderr))),
        );
        (streams, out)
    }

    /// Whether `which` is a terminal.
    pub fn is_terminal(&self, which: StdStream) -> bool {
        self.tty[which as usize]
    }

    /// Reads up to `buf.len()` bytes from stdin. This blocks the calling host thread until
    /// the host stream has data or reaches its end (0).
    ///
    /// # Errors
    /// `EIO` if the host read fails.
    pub fn read_stdin(&self, buf: &mut [u8]) -> KResult<usize> {
        let mut r = lock(&self.stdin);
        loop {
            match r.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Errno::EIO),
            }
        }
    }

    /// Writes all of `data` to stdout or stderr and flushes.
    ///
    /// # Errors
    /// `EPIPE` if the host stream is a closed pipe (the kernel then raises `SIGPIPE`, as
    /// if the guest had written to that pipe itself); `ENOSPC`/`EFBIG` for a full disk or
    /// file behind it (as Linux's `write` to that file); `EIO` for other host failures;
    /// `EBADF` for `StdStream::Stdin`.
    pub fn write_out(&self, which: StdStream, data: &[u8]) -> KResult<usize> {
        let stream = match which {
            StdStream::Stdout => &self.stdout,
            StdStream::Stderr => &self.stderr,
            StdStream::Stdin => return Err(Errno::EBADF),
        };
        let mut w = lock(stream);
        let result = w.write_all(data).and_then(|()| w.flush());
        match result {
            Ok(()) => Ok(data.len()),
            Err(e) => Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe => Errno::EPIPE,
                // A full disk or file behind the host stream: what Linux's write() to
                // that file returns.
                std::io::ErrorKind::StorageFull => Errno::ENOSPC,
                std::io::ErrorKind::FileTooLarge => Errno::EFBIG,
                _ => Errno::EIO,
            }),
        }
    }
}

/// What the guest wrote to stdout and stderr, for tests.
#[derive(Debug, Default, Clone)]
pub struct CapturedOutput {
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl CapturedOutput {
    /// Everything written to stdout so far.
    pub fn stdout(&self) -> Vec<u8> {
        lock(&self.stdout).clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> Vec<u8> {
        lock(&self.stderr).clone()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host stream whose every write fails with `kind`.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn host_write_failures_are_the_guests_errnos() {
        // Rust ignores SIGPIPE, so a closed host pipe is a BrokenPipe error: the guest's
        // write(1, ...) gets EPIPE, as a write to a pipe without readers does on Linux.
        let streams = HostStreams::new(
            Box::new(std::io::empty()),
            Box::new(Failing(std::io::ErrorKind::BrokenPipe)),
            Box::new(Failing(std::io::ErrorKind::StorageFull)),
        );
        assert_eq!(
            streams.write_out(StdStream::Stdout, b"x"),
            Err(Errno::EPIPE)
        );
        // A full disk behind the stream (stdout redirected to /dev/full): ENOSPC.
        assert_eq!(
            streams.write_out(StdStream::Stderr, b"x"),
            Err(Errno::ENOSPC)
        );
        assert_eq!(streams.write_out(StdStream::Stdin, b"x"), Err(Errno::EBADF));
    }
}
