//! Linux error numbers (`include/uapi/asm-generic/errno-base.h`, `errno.h`), as returned
//! by kernel functions; a system call returns `-errno` in a0.

macro_rules! errnos {
    ($( $(#[doc = $d:literal])* $name:ident = $v:expr ),* $(,)?) => {
        /// A Linux errno. The discriminant is Linux's number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Errno { $( $(#[doc = $d])* $name = $v, )* }

        impl Errno {
            /// The symbolic name, e.g. `"EFAULT"` (for `--strace`).
            pub const fn name(self) -> &'static str {
                match self { $( Errno::$name => stringify!($name), )* }
            }
        }
    };
}

errnos! {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// No such process.
    ESRCH = 3,
    /// Interrupted system call.
    EINTR = 4,
    /// I/O error.
    EIO = 5,
    /// No such device or address.
    ENXIO = 6,
    /// Argument list too long.
    E2BIG = 7,
    /// Exec format error.
    ENOEXEC = 8,
    /// Bad file number.
    EBADF = 9,
    /// No child processes.
    ECHILD = 10,
    /// Try again / would block.
    EAGAIN = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied.
    EACCES = 13,
    /// Bad address.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// File exists.
    EEXIST = 17,
    /// Cross-device link.
    EXDEV = 18,
    /// No such device.
    ENODEV = 19,
    /// Not a directory.
    ENOTDIR = 20,
    /// Is a directory.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// File table overflow.
    ENFILE = 23,
    /// Too many open files.
    EMFILE = 24,
    /// Not a typewriter.
    ENOTTY = 25,
    /// Text file busy.
    ETXTBSY = 26,
    /// File too large.
    EFBIG = 27,
    /// No space left on device.
    ENOSPC = 28,
    /// Illegal seek.
    ESPIPE = 29,
    /// Read-only file system.
    EROFS = 30,
    /// Too many links.
    EMLINK = 31,
    /// Broken pipe.
    EPIPE = 32,
    /// Math argument out of domain.
    EDOM = 33,
    /// Math result not representable.
    ERANGE = 34,
    /// Resource deadlock would occur.
    EDEADLK = 35,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// No record locks available.
    ENOLCK = 37,
    /// Invalid system call number.
    ENOSYS = 38,
    /// Directory not empty.
    ENOTEMPTY = 39,
    /// Too many symbolic links encountered.
    ELOOP = 40,
    /// No data available.
    ENODATA = 61,
    /// Value too large for defined data type.
    EOVERFLOW = 75,
    /// Operation not supported on transport endpoint.
    EOPNOTSUPP = 95,
    /// Connection timed out.
    ETIMEDOUT = 110,
    /// Owner died (robust futexes).
    EOWNERDEAD = 130,
    /// Memory page has hardware error (GUP with `FOLL_HWPOISON`).
    EHWPOISON = 133,
    /// Kernel-internal (`include/linux/errno.h`), never seen by the guest: restart the
    /// system call, whatever the signal disposition. Here: the call stopped at a
    /// scheduling point ([`crate::percpu::cond_resched`]) and is re-issued to resume.
    ERESTARTNOINTR = 513,
}

impl Errno {
    /// The value a system call returns in a0: `-errno` as a 64-bit register value.
    pub const fn as_return(self) -> u64 {
        (-(self as i64)) as u64
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), *self as i32)
    }
}

/// Result of a kernel function: a value or a Linux errno.
pub type KResult<T> = Result<T, Errno>;
