//! Host streams behind the guest's descriptors 0, 1 and 2, and their file operations
//! ([`HostFile`]).
//!
//! The kernel's configuration supplies them as boxed `Read`/`Write` objects, plus whether
//! each is a terminal (which must be decided before boxing, with
//! [`std::io::IsTerminal`]). Writes go straight through and are flushed at once: the only
//! buffering is the guest C library's own.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

use crate::sync::Mutex;

use super::file::CHUNK;
use super::fops::{FileCtx, FileOperations, Kiocb, PollMask, WriteSource};
use super::{IoResult, OpenFile};
use crate::errno::{Errno, KResult};

/// `TCGETS` (include/uapi/asm-generic/ioctls.h).
pub const TCGETS: u32 = 0x5401;
/// `TCSETS`.
pub const TCSETS: u32 = 0x5402;
/// `TCSETSW`.
pub const TCSETSW: u32 = 0x5403;
/// `TCSETSF`.
pub const TCSETSF: u32 = 0x5404;
/// `TIOCGWINSZ`.
pub const TIOCGWINSZ: u32 = 0x5413;

/// Size of the kernel's `struct termios` for `TCGETS` on asm-generic (`NCCS` = 19):
/// four `tcflag_t`, `c_line`, `c_cc[19]`.
const TERMIOS_SIZE: usize = 36;

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
        let mut r = self.stdin.lock();
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
        let mut w = stream.lock();
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

/// A descriptor's host stream: one of the [`HostStreams`], and its file operations — a
/// terminal's (`tty_fops`: `TCGETS`, `TCSETS*`, `TIOCGWINSZ`) if the stream is one, a
/// pipe's otherwise. Opened as a stream (no position).
#[derive(Debug, Clone)]
pub struct HostFile {
    streams: Arc<HostStreams>,
    which: StdStream,
}

impl HostFile {
    /// Stream `which` of `streams`.
    pub fn new(streams: Arc<HostStreams>, which: StdStream) -> Self {
        HostFile { streams, which }
    }

    /// The streams.
    pub fn streams(&self) -> &Arc<HostStreams> {
        &self.streams
    }

    /// Which stream.
    pub fn which(&self) -> StdStream {
        self.which
    }
}

impl FileOperations for HostFile {
    /// One host read of stdin of at most 64 KiB (`CHUNK`); it blocks the host thread
    /// until the host has data or reaches its end.
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let mut data = vec![0u8; len.min(CHUNK)];
        let n = self.streams.read_stdin(&mut data)?;
        let got = data.get(..n).unwrap_or_default();
        if got.is_empty() {
            return Ok(0);
        }
        Ok(ctx.copy_to_user(buf, got)?)
    }

    /// Written through to the host stream, piece by piece.
    fn write(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        let which = self.which;
        Ok(ctx.write_pieces(src, len, &mut |chunk| self.streams.write_out(which, chunk))?)
    }

    /// `tty_ioctl()` on a terminal: `TCGETS` (the termios of a fresh terminal),
    /// `TCSETS*` (accepted, changing nothing), `TIOCGWINSZ` (24×80); `ENOTTY` for
    /// everything else and on a stream that is no terminal.
    fn unlocked_ioctl(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        cmd: u32,
        arg: u64,
    ) -> KResult<u64> {
        if !self.streams.is_terminal(self.which) {
            return Err(Errno::ENOTTY);
        }
        let mut u = ctx.user()?;
        match cmd {
            TCGETS => u.copy_to_user(arg, &std_termios())?,
            TCSETS | TCSETSW | TCSETSF => {
                let mut t = [0u8; TERMIOS_SIZE];
                u.copy_from_user(arg, &mut t)?;
            }
            TIOCGWINSZ => {
                let mut ws = [0u8; 8];
                ws[0..2].copy_from_slice(&24u16.to_le_bytes());
                ws[2..4].copy_from_slice(&80u16.to_le_bytes());
                u.copy_to_user(arg, &ws)?;
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }

    /// Stdin is always readable and stdout/stderr always writable: a host read or write
    /// completes (or blocks the host thread) rather than making the guest wait.
    fn poll(&self, _file: &OpenFile) -> PollMask {
        match self.which {
            StdStream::Stdin => PollMask::POLLIN | PollMask::POLLRDNORM,
            StdStream::Stdout | StdStream::Stderr => PollMask::POLLOUT | PollMask::POLLWRNORM,
        }
    }

    fn can_poll(&self) -> bool {
        true
    }

    fn is_stream(&self) -> bool {
        true
    }
}

/// The termios of a fresh terminal (`tty_std_termios`, drivers/tty/tty_io.c):
/// `c_iflag = ICRNL|IXON`, `c_oflag = OPOST|ONLCR`, `c_cflag = B38400|CS8|CREAD|HUPCL`,
/// `c_lflag = ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN`, `c_cc = INIT_C_CC`.
fn std_termios() -> [u8; TERMIOS_SIZE] {
    let mut t = [0u8; TERMIOS_SIZE];
    let iflag: u32 = 0o400 | 0o2000;
    let oflag: u32 = 0o1 | 0o4;
    let cflag: u32 = 0o17 | 0o60 | 0o200 | 0o2000;
    let lflag: u32 = 0o1 | 0o2 | 0o10 | 0o20 | 0o40 | 0o1000 | 0o4000 | 0o100000;
    t[0..4].copy_from_slice(&iflag.to_le_bytes());
    t[4..8].copy_from_slice(&oflag.to_le_bytes());
    t[8..12].copy_from_slice(&cflag.to_le_bytes());
    t[12..16].copy_from_slice(&lflag.to_le_bytes());
    // c_line = 0 at 16; c_cc[19] at 17: INIT_C_CC (include/linux/tty.h).
    let cc: [u8; 17] = [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0];
    t[17..34].copy_from_slice(&cc);
    t
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
        self.stdout.lock().clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr.lock().clone()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(data);
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
