//! The in-memory file system: a tmpfs-like VFS ([`Vfs`]), open file descriptions
//! ([`OpenFile`]) and the operations of each kind of file ([`FileOperations`]),
//! per-process descriptor tables ([`FdTable`], [`ProcessFs`]), pipes, host stdio, the
//! `stat`/`statx`/`getdents64` record layouts, `seq_file` ([`SeqFile`]), and the files
//! whose operations need the process table (`/proc/<pid>/mem`…,
//! `/sys/kernel/debug/gup_test`: [`KernelFile`]).
//!
//! Names follow Linux (`struct inode`, `struct file`, `files_struct`, `fs_struct`); the
//! numeric values of flags are those of the riscv64 ABI (include/uapi/asm-generic/fcntl.h,
//! include/uapi/linux/stat.h, include/uapi/linux/fcntl.h).
//!
//! Concurrency: every type here is `Send + Sync`. Each inode, pipe and open file
//! description has its own lock; namespace changes (create, unlink, rename) also take one
//! VFS-wide lock, the role `s_vfs_rename_mutex` and the directory `i_rwsem`s play in Linux.

mod anon_inodes;
pub mod cred;
mod dev;
mod eventfd;
mod eventpoll;
mod fdtable;
mod file;
mod fops;
mod hostfile;
pub mod hugetlbfs;
mod inode;
mod kfile;
pub mod locks;
pub mod mount;
pub mod pagecache;
mod pipe;
mod seq_file;
mod stat;
mod stdio;
mod userfaultfd;
mod vfs;
mod wait;

pub use anon_inodes::AnonFile;
pub use dev::{CharDev, Prng};
pub use eventfd::{EventFd, EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE};
pub use eventpoll::{
    EpollEvent, EventPoll, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_EVENT_SIZE,
    EP_MAX_EVENTS,
};
pub use fdtable::{FdTable, FilesStruct, FsStruct, ProcessFs, RLIMIT_NOFILE};
pub use file::{
    FileTarget, OpenFile, Sink, Source, FALLOC_FL_ALLOCATE_RANGE, FALLOC_FL_COLLAPSE_RANGE,
    FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_NO_HIDE_STALE, FALLOC_FL_PUNCH_HOLE,
    FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_ZERO_RANGE, MAX_RW_COUNT,
};
pub use fops::{
    CallerParts, FileCtx, FileOperations, Kiocb, PollMask, WriteSource, DEFAULT_POLLMASK,
};
pub use hostfile::{read_host_file, HostFileError, HostInput};
pub use inode::{FileStore, FileType, Inode, PageStore, SpaceAccount, Timespec, MAX_LFS_FILESIZE};
pub use kfile::{KernelFile, KernelFileBinding, KernelNode, ProcFile, ProcTask};
pub use pagecache::{AddressSpace, CachedFile, PageCache, PageCacheStats};
pub use pipe::{Pipe, PipeEnd, PipePage, FIONREAD, PIPE_BUF, PIPE_CAPACITY, PIPE_DEF_BUFFERS};
pub use seq_file::{seq_lseek, SeqFile, SeqOperations};
pub use stat::{
    encode_dev, DirentWriter, Kstat, STATX_BASIC_STATS, STATX_BTIME, STATX_MNT_ID, STATX_RESERVED,
};
pub use stdio::{
    CapturedOutput, HostFile, HostStreams, StdStream, TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGWINSZ,
};
pub use userfaultfd::{
    sys_userfaultfd, userfaultfd_dev_ioctl, UserfaultfdFile, USERFAULTFD_IOC_NEW,
};
pub use vfs::{
    parse_file_arg, Clock, Cred, FileArg, ImportError, TimeUpdate, Vfs, VfsConfig, MAY_EXEC,
    MAY_READ, MAY_WRITE, TMPFS_DEV,
};
#[cfg(test)]
pub(crate) use wait::tests as wait_tests;
pub use wait::{PollTable, TaskWaker, WaitQueueEntry, WaitQueueHead, WaitTask, WakeClaim};

use crate::errno::Errno;

/// Open for reading only (`O_RDONLY`).
pub const O_RDONLY: u32 = 0o0;
/// Open for writing only.
pub const O_WRONLY: u32 = 0o1;
/// Open for reading and writing.
pub const O_RDWR: u32 = 0o2;
/// Mask of the access mode bits.
pub const O_ACCMODE: u32 = 0o3;
/// Create the file if it does not exist.
pub const O_CREAT: u32 = 0o100;
/// With `O_CREAT`: fail with `EEXIST` if it exists.
pub const O_EXCL: u32 = 0o200;
/// Do not make a terminal the controlling tty (no effect here).
pub const O_NOCTTY: u32 = 0o400;
/// Truncate a regular file to 0 bytes.
pub const O_TRUNC: u32 = 0o1000;
/// Every write goes to the end of the file.
pub const O_APPEND: u32 = 0o2000;
/// Operations that would wait return `EAGAIN` instead.
pub const O_NONBLOCK: u32 = 0o4000;
/// Synchronised data writes (no effect on an in-memory fs).
pub const O_DSYNC: u32 = 0o10000;
/// Signal-driven I/O (accepted and remembered, never delivered).
pub const O_ASYNC: u32 = 0o20000;
/// Direct I/O (no effect).
pub const O_DIRECT: u32 = 0o40000;
/// Large-file offsets; the kernel sets it on every open on 64-bit (`force_o_largefile`).
pub const O_LARGEFILE: u32 = 0o100000;
/// Fail with `ENOTDIR` unless the path names a directory.
pub const O_DIRECTORY: u32 = 0o200000;
/// Fail with `ELOOP` if the last component is a symbolic link.
pub const O_NOFOLLOW: u32 = 0o400000;
/// Do not update the access time.
pub const O_NOATIME: u32 = 0o1000000;
/// Close the descriptor on `execve`.
pub const O_CLOEXEC: u32 = 0o2000000;
/// Fully synchronised writes (includes `O_DSYNC`).
pub const O_SYNC: u32 = 0o4010000;
/// A path-only descriptor: no reading or writing.
pub const O_PATH: u32 = 0o10000000;
/// An unnamed temporary file (includes `O_DIRECTORY`); not supported.
pub const O_TMPFILE: u32 = 0o20200000;

/// `dirfd` meaning "the current working directory" (include/uapi/linux/fcntl.h).
pub const AT_FDCWD: i32 = -100;
/// Do not follow a symbolic link in the last component.
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// `unlinkat`: remove a directory (`rmdir`).
pub const AT_REMOVEDIR: u32 = 0x200;
/// `faccessat2`: check with the effective ids.
pub const AT_EACCESS: u32 = 0x200;
/// Follow a symbolic link (`linkat`).
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
/// Do not trigger an automount (no effect).
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
/// An empty path means `dirfd` itself.
pub const AT_EMPTY_PATH: u32 = 0x1000;
/// `statx`: the sync-type field.
pub const AT_STATX_SYNC_TYPE: u32 = 0x6000;

/// File type mask of `st_mode` (include/uapi/linux/stat.h).
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO (pipe).
pub const S_IFIFO: u32 = 0o010000;

/// `lseek`: set the offset.
pub const SEEK_SET: u32 = 0;
/// `lseek`: relative to the current offset.
pub const SEEK_CUR: u32 = 1;
/// `lseek`: relative to the end of the file.
pub const SEEK_END: u32 = 2;
/// `lseek`: the next data at or after the offset.
pub const SEEK_DATA: u32 = 3;
/// `lseek`: the next hole at or after the offset.
pub const SEEK_HOLE: u32 = 4;

/// `d_type` values of `struct linux_dirent64` (include/linux/fs_types.h).
pub mod dt {
    /// Unknown type.
    pub const DT_UNKNOWN: u8 = 0;
    /// FIFO.
    pub const DT_FIFO: u8 = 1;
    /// Character device.
    pub const DT_CHR: u8 = 2;
    /// Directory.
    pub const DT_DIR: u8 = 4;
    /// Block device.
    pub const DT_BLK: u8 = 6;
    /// Regular file.
    pub const DT_REG: u8 = 8;
    /// Symbolic link.
    pub const DT_LNK: u8 = 10;
    /// Socket.
    pub const DT_SOCK: u8 = 12;
}

/// `PATH_MAX`: the longest path, NUL included (include/uapi/linux/limits.h).
pub const PATH_MAX: usize = 4096;
/// `NAME_MAX`: the longest file name component.
pub const NAME_MAX: usize = 255;
/// `MAXSYMLINKS`: symbolic links followed in one lookup before `ELOOP`.
pub const MAXSYMLINKS: u32 = 40;

/// What a pipe operation that cannot complete now is waiting for; the scheduler parks the
/// task and retries the system call once the pipe changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitOn {
    /// Waiting for data in, or the last writer to close, pipe `id`.
    PipeReadable(u64),
    /// Waiting for room in, or the last reader to close, pipe `id`.
    PipeWritable(u64),
    /// Waiting for an eventfd's counter to be above 0 (a read).
    EventfdReadable,
    /// Waiting for an eventfd's counter to take a write's value (a write).
    EventfdWritable,
    /// Waiting for a page fault to read from a userfaultfd.
    UserfaultfdReadable,
}

/// The failure of an operation that may block: a Linux errno, or "would block" for a
/// descriptor without `O_NONBLOCK` (with `O_NONBLOCK` the same situation is `EAGAIN`).
///
/// `Errno(EPIPE)` from a write-type call means there are no readers: the kernel sends
/// `SIGPIPE` to the caller, as `pipe_write` does, then returns `-EPIPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoError {
    /// Fail with this errno.
    Errno(Errno),
    /// Park the task until the condition holds, then restart the system call.
    WouldBlock(WaitOn),
}

impl From<Errno> for IoError {
    fn from(e: Errno) -> Self {
        IoError::Errno(e)
    }
}

/// Result of an operation that may block.
pub type IoResult<T> = Result<T, IoError>;
