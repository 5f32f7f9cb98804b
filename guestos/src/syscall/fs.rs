//! File system calls with Linux's semantics and errnos (fs/open.c, fs/read_write.c,
//! fs/stat.c, fs/namei.c, fs/readdir.c, fs/fcntl.c, fs/file.c, fs/pipe.c, fs/d_path.c,
//! fs/ioctl.c, drivers/tty/tty_io.c).
//!
//! Every call takes the caller's [`ProcessFs`], the [`Vfs`], the caller's user memory and
//! the raw 64-bit register arguments, and returns the value for `a0`. Arguments are
//! narrowed as the C prototypes do: an `unsigned int fd` keeps the low 32 bits, an
//! `int dirfd` is their signed value, `size_t`/`loff_t` stay 64-bit.
//!
//! Blocking: `read`, `write`, `readv` and `writev` may find a pipe empty or full. They then
//! return [`IoError::WouldBlock`]; the scheduler parks the task on the [`WaitOn`](crate::fs::WaitOn) key and
//! restarts the call when the pipe changes (having done nothing, the call is safe to
//! restart). A write larger than `PIPE_BUF` that fills the pipe part-way returns the
//! short count instead of waiting for the rest. `EPIPE` from a write-type call means the
//! kernel must raise `SIGPIPE`.
//!
//! Reads copy to user memory page by page and report the bytes copied before a fault;
//! writes copy from user memory 64 KiB at a time and report the bytes of whole chunks
//! written before a fault.

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::hugetlbfs::HugetlbfsFile;
use crate::fs::AnonFile;
use crate::fs::{
    FileCtx, FileTarget, Inode, IoError, IoResult, KernelFile, Kstat, OpenFile, Pipe, ProcessFs,
    TimeUpdate, Timespec, Vfs, WriteSource, AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT,
    AT_REMOVEDIR, AT_STATX_SYNC_TYPE, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, MAX_RW_COUNT,
    O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_LARGEFILE, O_NOFOLLOW, O_NONBLOCK, O_PATH,
    O_RDONLY, O_TMPFILE, O_TRUNC, O_WRONLY, PATH_MAX, PIPE_BUF, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO,
    S_IFMT, S_IFREG, S_IFSOCK,
};
use crate::mm::hugetlb::{huge_size_log, HugetlbFile, MAP_HUGE_MASK, MAP_HUGE_SHIFT};
use crate::uaccess::UserAccess;

/// Result of a system call that may block.
pub type SysResult = IoResult<u64>;

/// `UIO_MAXIOV`: the most `iovec`s one `readv`/`writev` takes.
pub const UIO_MAXIOV: u64 = 1024;

/// The highest user address + 1 accepted by `access_ok` (`TASK_SIZE` for Sv48, the
/// largest mode the machine runs; under Sv39 higher addresses fault in the copy anyway).
pub const TASK_SIZE_MAX: u64 = 1 << 47;

/// `F_DUPFD` (include/uapi/asm-generic/fcntl.h).
pub const F_DUPFD: u32 = 0;
/// `F_GETFD`.
pub const F_GETFD: u32 = 1;
/// `F_SETFD`.
pub const F_SETFD: u32 = 2;
/// `F_GETFL`.
pub const F_GETFL: u32 = 3;
/// `F_SETFL`.
pub const F_SETFL: u32 = 4;
/// `F_DUPFD_CLOEXEC` (include/uapi/linux/fcntl.h: `F_LINUX_SPECIFIC_BASE + 6`).
pub const F_DUPFD_CLOEXEC: u32 = 1030;
/// `F_GETPIPE_SZ`.
pub const F_GETPIPE_SZ: u32 = 1032;
/// `F_SETPIPE_SZ`.
pub const F_SETPIPE_SZ: u32 = 1031;
/// The close-on-exec descriptor flag.
pub const FD_CLOEXEC: u64 = 1;

/// `renameat2`: do not replace an existing target.
pub const RENAME_NOREPLACE: u32 = 1;

pub use crate::fs::{FIONREAD, TCGETS, TCSETS, TCSETSF, TCSETSW, TIOCGWINSZ};
/// `FIONBIO`: set or clear `O_NONBLOCK` from `*(int *)arg`.
pub const FIONBIO: u32 = 0x5421;
/// `FIONCLEX`: clear close-on-exec.
pub const FIONCLEX: u32 = 0x5450;
/// `FIOCLEX`: set close-on-exec.
pub const FIOCLEX: u32 = 0x5451;

// ----- Argument helpers. -----

/// An `unsigned int fd` argument.
fn fd_arg(raw: u64) -> u32 {
    raw as u32
}

/// An `int` argument (dirfd, flags given as int).
fn int_arg(raw: u64) -> i32 {
    raw as u32 as i32
}

/// `access_ok`: the range `[va, va+len)` lies below the user address limit.
fn access_ok(va: u64, len: u64) -> KResult<()> {
    match va.checked_add(len) {
        Some(end) if end <= TASK_SIZE_MAX => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// `access_ok()` of a buffer a file call copies through `ctx`: as [`access_ok`], after
/// `untagged_addr()` for a caller that enabled the tagged-address ABI (looked at only
/// when the pointer as given is out of range, so an untagged call pays nothing).
fn user_access_ok(ctx: &mut FileCtx<'_, '_>, va: u64, len: u64) -> KResult<()> {
    access_ok(va, len).or_else(|e| {
        let va = ctx.user().map_err(|_| e)?.untagged_addr(va);
        access_ok(va, len)
    })
}

/// `getname_flags`: a path from user memory; empty is `ENOENT` unless `allow_empty`.
/// A NULL pointer counts as empty when `allow_empty` (Linux 6.11+ for `*stat*`).
fn get_path(u: &mut dyn UserAccess, va: u64, allow_empty: bool) -> KResult<Vec<u8>> {
    if va == 0 && allow_empty {
        return Ok(Vec::new());
    }
    let path = u.strncpy_from_user(va, PATH_MAX - 1)?;
    if path.is_empty() && !allow_empty {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// The directory a relative path starts from (`path_init` with `dfd`).
fn start_dir(p: &ProcessFs, dirfd: i32, path: &[u8]) -> KResult<Arc<Inode>> {
    if path.first() == Some(&b'/') || dirfd == AT_FDCWD {
        return Ok(p.fs.pwd());
    }
    let fd = u32::try_from(dirfd).map_err(|_| Errno::EBADF)?;
    let f = p.fds.get(fd)?;
    match f.inode() {
        Some(i) if i.is_dir() => Ok(Arc::clone(i)),
        _ => Err(Errno::ENOTDIR),
    }
}

/// What an `AT_EMPTY_PATH` call with an empty path stands for: the file of `dirfd`, or
/// the cwd for `AT_FDCWD`.
enum EmptyTarget {
    File(Arc<OpenFile>),
    Inode(Arc<Inode>),
}

fn empty_target(p: &ProcessFs, dirfd: i32) -> KResult<EmptyTarget> {
    if dirfd == AT_FDCWD {
        return Ok(EmptyTarget::Inode(p.fs.pwd()));
    }
    let fd = u32::try_from(dirfd).map_err(|_| Errno::EBADF)?;
    Ok(EmptyTarget::File(p.fds.get(fd)?))
}

fn no_block(r: IoResult<usize>) -> KResult<u64> {
    match r {
        Ok(n) => Ok(n as u64),
        Err(IoError::Errno(e)) => Err(e),
        // Only pipes block, and they are refused (ESPIPE) before any positional I/O.
        Err(IoError::WouldBlock(_)) => Err(Errno::EAGAIN),
    }
}

// ----- open / close. -----

/// `openat(dirfd, pathname, flags, mode)` (`do_sys_openat2`).
///
/// # Errors
/// `EMFILE`; `ENOENT`, `ENOTDIR`, `ELOOP`, `ENAMETOOLONG`, `EACCES` from the walk; `EEXIST`
/// for `O_CREAT|O_EXCL` on an existing name; `EISDIR` for `O_CREAT` on a directory or
/// opening one for writing; `ENOTDIR` for `O_DIRECTORY` on a non-directory; `EINVAL` for
/// `O_CREAT|O_DIRECTORY`; `EOPNOTSUPP` for `O_TMPFILE`; `EFAULT`.
pub fn sys_openat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    flags: u64,
    mode: u64,
) -> KResult<u64> {
    do_openat(p, vfs, u, dirfd, pathname, flags, mode, true).unwrap_or(Err(Errno::EIO))
}

/// [`sys_openat`], or — without `kernel_files` — `None` as soon as the path is found to
/// lead to a kernel-served file (whose `->open` the kernel completes with the task
/// table, see `fs::kfile`), before the open has any effect: no descriptor taken, no
/// file created or truncated. Always `Some` with `kernel_files`.
#[allow(clippy::too_many_arguments)] // the call's four arguments and the context
pub fn do_openat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    flags: u64,
    mode: u64,
    kernel_files: bool,
) -> Option<KResult<u64>> {
    let mut flags = flags as u32;
    let mode = mode as u32;
    if flags & O_TMPFILE_BIT != 0 {
        return Some(openat_tmpfile(p, vfs, u, dirfd, pathname, flags, mode));
    }
    let opened = (|| {
        if flags & O_CREAT != 0 && flags & O_DIRECTORY != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & O_PATH != 0 {
            flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        }
        let path = get_path(u, pathname, false)?;
        p.fds.check_free(1)?;
        let start = start_dir(p, int_arg(dirfd), &path)?;
        let perm = mode & 0o7777 & !p.fs.umask();
        let mut nd = vfs.namei(&p.exe_path, p.cred);
        // O_CREAT makes a regular file, never a kernel-served one: one found here existed.
        let inode = vfs.open_inode(&mut nd, &start, &path, flags, perm)?;
        Ok((path, start, inode))
    })();
    let (path, start, inode) = match opened {
        Ok(o) => o,
        Err(e) => return Some(Err(e)),
    };
    if !kernel_files && flags & O_PATH == 0 && inode.kernel_node().is_some() {
        return None;
    }
    Some(open_inode_file(p, vfs, flags, &path, &start, inode))
}

/// The rest of [`do_openat`] once the walk found `inode` for `path` (from `start`):
/// the checks on it, `O_TRUNC`, and the descriptor.
fn open_inode_file(
    p: &mut ProcessFs,
    vfs: &Vfs,
    flags: u32,
    path: &[u8],
    start: &Arc<Inode>,
    inode: Arc<Inode>,
) -> KResult<u64> {
    if flags & O_DIRECTORY != 0 && !inode.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if flags & O_PATH == 0 {
        let (read, write) = match flags & 3 {
            0 => (true, false),
            1 => (false, true),
            2 => (true, true),
            _ => (false, false),
        };
        let write = write || flags & O_TRUNC != 0;
        if inode.is_dir() && write {
            return Err(Errno::EISDIR);
        }
        let mask = if read { crate::fs::MAY_READ } else { 0 }
            | if write { crate::fs::MAY_WRITE } else { 0 };
        vfs.check_permission(&inode, p.cred, mask)?;
        if flags & O_TRUNC != 0 && inode.file_type() == crate::fs::FileType::Regular {
            vfs.truncate(&inode, 0)?;
        }
    }
    let shown = shown_path(p, vfs, start, path);
    // A kernel-served file (/proc/<pid>/mem, /sys/kernel/debug/gup_test…) gets a
    // descriptor the kernel finishes opening and serves (see fs::kfile); an O_PATH
    // descriptor stays a plain reference.
    let target = match inode.kernel_node() {
        Some(node) if flags & O_PATH == 0 => FileTarget::Kernel(KernelFile::new(inode, node)),
        _ => FileTarget::Inode(inode),
    };
    let file = OpenFile::new_named(target, flags | O_LARGEFILE, shown);
    Ok(u64::from(p.fds.alloc(file, flags & O_CLOEXEC != 0, 0)?))
}

/// `__O_TMPFILE`, the bit `O_TMPFILE` adds to `O_DIRECTORY`.
const O_TMPFILE_BIT: u32 = O_TMPFILE & !O_DIRECTORY;

/// The path `/proc/<pid>/maps` shows for a file opened as `path` from `start`: `path`
/// itself if absolute, else `start`'s path joined with it (not normalised: `..` and
/// symbolic links stay as written).
fn shown_path(p: &ProcessFs, vfs: &Vfs, start: &Arc<Inode>, path: &[u8]) -> Vec<u8> {
    let _ = p;
    if path.first() == Some(&b'/') {
        return path.to_vec();
    }
    let mut out = vfs.path_of(start).unwrap_or_default();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(path);
    out
}

/// `openat` with `O_TMPFILE` (`build_open_flags()` + `vfs_tmpfile()`): an unnamed
/// regular file in directory `pathname`.
///
/// # Errors
/// `EINVAL` unless `O_DIRECTORY` is part of the flags and `O_CREAT` is not, or without
/// write access (`O_WRONLY`/`O_RDWR`); `ENOTDIR`, `EACCES`, walk errors; `EMFILE`.
fn openat_tmpfile(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    flags: u32,
    mode: u32,
) -> KResult<u64> {
    // O_TMPFILE_MASK = __O_TMPFILE | O_DIRECTORY | O_CREAT must be exactly O_TMPFILE.
    if flags & (O_TMPFILE | O_CREAT) != O_TMPFILE {
        return Err(Errno::EINVAL);
    }
    if flags & 3 == O_RDONLY || flags & 3 == 3 {
        return Err(Errno::EINVAL);
    }
    let path = get_path(u, pathname, false)?;
    p.fds.check_free(1)?;
    let start = start_dir(p, int_arg(dirfd), &path)?;
    let perm = mode & 0o7777 & !p.fs.umask();
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    let inode = vfs.tmpfile(&mut nd, &start, &path, perm)?;
    let mut shown = shown_path(p, vfs, &start, &path);
    shown.extend_from_slice(format!("/#{} (deleted)", inode.ino()).as_bytes());
    let open_flags = (flags & !(O_TMPFILE_BIT | O_DIRECTORY)) | O_LARGEFILE;
    let file = OpenFile::new_named(FileTarget::Inode(inode), open_flags, shown);
    Ok(u64::from(p.fds.alloc(file, flags & O_CLOEXEC != 0, 0)?))
}

/// `close(fd)`.
///
/// # Errors
/// `EBADF`.
pub fn sys_close(p: &mut ProcessFs, fd: u64) -> KResult<u64> {
    close_fd(p, fd)?;
    Ok(0)
}

/// `close_fd()`: takes descriptor `fd` (an `unsigned int`) out of the table and returns
/// its description, for the caller to release (`fput()`: the last reference dropped).
///
/// # Errors
/// `EBADF`.
pub fn close_fd(p: &ProcessFs, fd: u64) -> KResult<Arc<OpenFile>> {
    p.fds.close(fd_arg(fd))
}

// ----- read / write. -----

/// `read(fd, buf, count)`.
///
/// # Errors
/// As [`ksys_read`], plus `EBADF` for a bad descriptor.
pub fn sys_read(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    buf: u64,
    count: u64,
) -> SysResult {
    let f = p.fds.get(fd_arg(fd))?;
    ksys_read(&mut FileCtx::current(vfs, u), &f, buf, count)
}

/// `ksys_read()` on description `f`: `count` bytes (clamped to `MAX_RW_COUNT`) to `buf`
/// at the file position, through the file's `read`.
///
/// # Errors
/// `EBADF` if not open for reading; `EINVAL` for a file without `read`; `EFAULT` for a
/// buffer beyond user space; the file's (`EISDIR`…; `EAGAIN` or [`IoError::WouldBlock`] on an empty pipe).
pub fn ksys_read(ctx: &mut FileCtx<'_, '_>, f: &OpenFile, buf: u64, count: u64) -> SysResult {
    f.may_access(false)?;
    user_access_ok(ctx, buf, count)?;
    Ok(f.read(ctx, None, buf, clamp_count(count))? as u64)
}

/// `count` clamped to `MAX_RW_COUNT`.
fn clamp_count(count: u64) -> usize {
    count.min(MAX_RW_COUNT as u64) as usize
}

/// `write(fd, buf, count)`.
///
/// # Errors
/// As [`ksys_write`], plus `EBADF` for a bad descriptor.
pub fn sys_write(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    buf: u64,
    count: u64,
) -> SysResult {
    let f = p.fds.get(fd_arg(fd))?;
    ksys_write(&mut FileCtx::current(vfs, u), &f, buf, count)
}

/// `ksys_write()` on description `f`: `count` bytes of `buf` at the file position
/// through the file's `write`.
///
/// # Errors
/// `EBADF` if not open for writing; `EINVAL` for a file without `write`; `EFAULT`; the
/// file's (`EFBIG`, `ENOSPC`, `EPIPE`:
/// raise `SIGPIPE`; `EAGAIN` or [`IoError::WouldBlock`] on a full pipe).
pub fn ksys_write(ctx: &mut FileCtx<'_, '_>, f: &OpenFile, buf: u64, count: u64) -> SysResult {
    f.may_access(true)?;
    user_access_ok(ctx, buf, count)?;
    Ok(f.write(ctx, None, WriteSource::User(buf), clamp_count(count))? as u64)
}

/// `pread64(fd, buf, count, offset)`.
///
/// # Errors
/// As [`ksys_pread64`], plus `EBADF` for a bad descriptor.
pub fn sys_pread64(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    buf: u64,
    count: u64,
    offset: u64,
) -> KResult<u64> {
    // ksys_pread64()/ksys_pwrite64(): a negative offset is refused before the fd.
    if (offset as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let f = p.fds.get(fd_arg(fd))?;
    ksys_pread64(&mut FileCtx::current(vfs, u), &f, buf, count, offset)
}

/// `ksys_pread64()` on description `f`: `count` bytes at `offset`, leaving the file
/// position.
///
/// # Errors
/// `EINVAL` (negative offset), `ESPIPE` (a stream: pipe, host stream, `gup_test`),
/// `EBADF`, `EFAULT`; the file's.
pub fn ksys_pread64(
    ctx: &mut FileCtx<'_, '_>,
    f: &OpenFile,
    buf: u64,
    count: u64,
    offset: u64,
) -> KResult<u64> {
    positional_ok(f, offset, false)?;
    user_access_ok(ctx, buf, count)?;
    no_block(f.read(ctx, Some(offset), buf, clamp_count(count)))
}

/// The checks of `ksys_pread64()`/`ksys_pwrite64()` before the file's: a non-negative
/// `offset` (`EINVAL`), a file with a position (`ESPIPE`, `FMODE_PREAD`/`FMODE_PWRITE`),
/// open for reading (or writing when `write`: `EBADF`), with the operation (`EINVAL`).
fn positional_ok(f: &OpenFile, offset: u64, write: bool) -> KResult<()> {
    if (offset as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    if f.is_stream() {
        return Err(Errno::ESPIPE);
    }
    f.may_access(write)
}

/// `pwrite64(fd, buf, count, offset)`; with `O_APPEND` the data goes to the end anyway,
/// as on Linux.
///
/// # Errors
/// As [`ksys_pwrite64`], plus `EBADF` for a bad descriptor.
pub fn sys_pwrite64(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    buf: u64,
    count: u64,
    offset: u64,
) -> KResult<u64> {
    // ksys_pread64()/ksys_pwrite64(): a negative offset is refused before the fd.
    if (offset as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let f = p.fds.get(fd_arg(fd))?;
    ksys_pwrite64(&mut FileCtx::current(vfs, u), &f, buf, count, offset)
}

/// `ksys_pwrite64()` on description `f`: `count` bytes at `offset`.
///
/// # Errors
/// `EINVAL`, `ESPIPE`, `EBADF`, `EFAULT`; the file's (`EFBIG`, `ENOSPC`…).
pub fn ksys_pwrite64(
    ctx: &mut FileCtx<'_, '_>,
    f: &OpenFile,
    buf: u64,
    count: u64,
    offset: u64,
) -> KResult<u64> {
    positional_ok(f, offset, true)?;
    user_access_ok(ctx, buf, count)?;
    no_block(f.write(
        ctx,
        Some(offset),
        WriteSource::User(buf),
        clamp_count(count),
    ))
}

/// `import_iovec`: reads and checks `iovcnt` `struct iovec { void *base; size_t len; }`,
/// clamping the total to `MAX_RW_COUNT`.
pub(crate) fn import_iovec(
    u: &mut dyn UserAccess,
    iov: u64,
    iovcnt: u64,
) -> KResult<Vec<(u64, usize)>> {
    if iovcnt > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; iovcnt as usize * 16];
    u.copy_from_user(iov, &mut raw)?;
    let mut out = Vec::with_capacity(iovcnt as usize);
    let mut total = 0usize;
    for chunk in raw.chunks_exact(16) {
        let (b, l) = chunk.split_at(8);
        let base = u64::from_le_bytes(b.try_into().map_err(|_| Errno::EFAULT)?);
        let len = u64::from_le_bytes(l.try_into().map_err(|_| Errno::EFAULT)?);
        if (len as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        // access_ok() of the untagged base, as arm64's tagged-address ABI has it; the
        // copies through it untag it again.
        access_ok(base, len).or_else(|_| access_ok(u.untagged_addr(base), len))?;
        let len = (len as usize).min(MAX_RW_COUNT - total);
        total += len;
        out.push((base, len));
    }
    Ok(out)
}

/// `readv(fd, iov, iovcnt)`.
///
/// # Errors
/// As [`do_readv`], plus `EBADF` for a bad descriptor.
pub fn sys_readv(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    iov: u64,
    iovcnt: u64,
) -> SysResult {
    let f = p.fds.get(fd_arg(fd))?;
    do_readv(&mut FileCtx::current(vfs, u), &f, iov, iovcnt)
}

/// `vfs_readv()` on description `f`: the segments are read in order
/// (`do_loop_readv_writev()`) until one comes back short.
///
/// # Errors
/// As [`ksys_read`], plus `EINVAL` for `iovcnt > 1024`, a negative length or a range
/// `rw_verify_area()` refuses.
pub fn do_readv(ctx: &mut FileCtx<'_, '_>, f: &OpenFile, iov: u64, iovcnt: u64) -> SysResult {
    f.may_access(false)?;
    let segs = import_iovec(&mut *ctx.user()?, iov, iovcnt)?;
    f.rw_verify_area(None, segs.iter().map(|s| s.1).sum())?;
    let mut done = 0u64;
    for (base, len) in segs {
        if len == 0 {
            continue;
        }
        match f.read(ctx, None, base, len) {
            Ok(n) => {
                done += n as u64;
                if n < len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// `writev(fd, iov, iovcnt)`.
///
/// # Errors
/// As [`do_writev`], plus `EBADF` for a bad descriptor.
pub fn sys_writev(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    iov: u64,
    iovcnt: u64,
) -> SysResult {
    let f = p.fds.get(fd_arg(fd))?;
    do_writev(&mut FileCtx::current(vfs, u), &f, iov, iovcnt)
}

/// `vfs_writev()` on description `f`: on a stream (a pipe) a total of at most
/// `PIPE_BUF` bytes is gathered and written in one piece, so it is atomic, as
/// `pipe_write()` takes the whole `iov_iter`; otherwise segment by segment until one is
/// short.
///
/// # Errors
/// As [`ksys_write`], plus `EINVAL` for `iovcnt > 1024`, a negative length or a range
/// `rw_verify_area()` refuses.
pub fn do_writev(ctx: &mut FileCtx<'_, '_>, f: &OpenFile, iov: u64, iovcnt: u64) -> SysResult {
    do_writev_from(ctx, f, iov, iovcnt, 0)
}

/// [`do_writev`] from byte `skip` of the vector on: the rest of a blocking `writev` that
/// slept after writing `skip` bytes (`pipe_write()` goes on with its `iov_iter` where it
/// stopped). Returns the bytes written now.
///
/// # Errors
/// As [`do_writev`].
pub fn do_writev_from(
    ctx: &mut FileCtx<'_, '_>,
    f: &OpenFile,
    iov: u64,
    iovcnt: u64,
    skip: u64,
) -> SysResult {
    f.may_access(true)?;
    let mut segs = import_iovec(&mut *ctx.user()?, iov, iovcnt)?;
    let total: usize = segs.iter().map(|s| s.1).sum();
    f.rw_verify_area(None, total)?;
    // iov_iter_advance(): drop the first `skip` bytes.
    let mut left = skip;
    for seg in &mut segs {
        let n = (seg.1 as u64).min(left);
        seg.0 = seg.0.wrapping_add(n);
        seg.1 -= n as usize;
        left -= n;
    }
    if skip == 0 && total <= PIPE_BUF && f.is_stream() {
        let mut gathered = Vec::with_capacity(total);
        for &(base, len) in &segs {
            let mut piece = vec![0u8; len];
            ctx.user()?.copy_from_user(base, &mut piece)?;
            gathered.extend_from_slice(&piece);
        }
        let n = f.write(ctx, None, WriteSource::Kernel(&gathered), total)?;
        return Ok(n as u64);
    }
    let mut done = 0u64;
    for (base, len) in segs {
        if len == 0 {
            continue;
        }
        match f.write(ctx, None, WriteSource::User(base), len) {
            Ok(n) => {
                done += n as u64;
                if n < len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// `lseek(fd, offset, whence)`.
///
/// # Errors
/// `EBADF`; the rest as [`OpenFile::seek`].
pub fn sys_lseek(p: &mut ProcessFs, fd: u64, offset: u64, whence: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    f.seek(offset as i64, whence as u32)
}

// ----- stat family. -----

fn put_stat(u: &mut dyn UserAccess, va: u64, st: &Kstat) -> KResult<u64> {
    u.copy_to_user(va, &st.to_stat_bytes())?;
    Ok(0)
}

/// `fstat(fd, statbuf)` into the 128-byte asm-generic `struct stat`.
///
/// # Errors
/// `EBADF`, `EFAULT`.
pub fn sys_fstat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    statbuf: u64,
) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    put_stat(u, statbuf, &f.stat(vfs))
}

/// The `vfs_statx` lookup shared by `newfstatat` and `statx`.
fn stat_at(
    p: &ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: i32,
    pathname: u64,
    flags: u32,
) -> KResult<Kstat> {
    let path = get_path(u, pathname, flags & AT_EMPTY_PATH != 0)?;
    if path.is_empty() {
        return Ok(match empty_target(p, dirfd)? {
            EmptyTarget::File(f) => f.stat(vfs),
            EmptyTarget::Inode(i) => vfs.stat(&i),
        });
    }
    let start = start_dir(p, dirfd, &path)?;
    let inode = vfs.lookup(
        &start,
        &p.exe_path,
        p.cred,
        &path,
        flags & AT_SYMLINK_NOFOLLOW == 0,
    )?;
    Ok(vfs.stat(&inode))
}

/// `newfstatat(dirfd, pathname, statbuf, flags)` with `AT_EMPTY_PATH`,
/// `AT_SYMLINK_NOFOLLOW`, `AT_NO_AUTOMOUNT`.
///
/// # Errors
/// `EINVAL` for other flags; lookup errors; `EBADF`; `EFAULT`.
pub fn sys_newfstatat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    statbuf: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let st = stat_at(p, vfs, u, int_arg(dirfd), pathname, flags)?;
    put_stat(u, statbuf, &st)
}

/// `statx(dirfd, pathname, flags, mask, statxbuf)` into the 256-byte `struct statx`.
///
/// # Errors
/// `EINVAL` for unknown flags, both sync-type bits, or `STATX__RESERVED` in `mask`;
/// lookup errors; `EBADF`; `EFAULT`.
// One argument per register of the Linux ABI, plus the caller's state.
#[allow(clippy::too_many_arguments)]
pub fn sys_statx(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    flags: u64,
    mask: u64,
    statxbuf: u64,
) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask as u32 & crate::fs::STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let st = stat_at(p, vfs, u, int_arg(dirfd), pathname, flags)?;
    u.copy_to_user(statxbuf, &st.to_statx_bytes())?;
    Ok(0)
}

// ----- namespace changes. -----

/// `unlinkat(dirfd, pathname, flags)`; `AT_REMOVEDIR` makes it `rmdir`.
///
/// # Errors
/// `EINVAL` for other flags; `ENOENT`, `ENOTDIR`, `EISDIR` (unlink of a directory),
/// `ENOTEMPTY`, `EBUSY` (`rmdir("/")`), `EINVAL` (`rmdir(".")`), `EACCES`, `EFAULT`.
pub fn sys_unlinkat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = get_path(u, pathname, false)?;
    let start = start_dir(p, int_arg(dirfd), &path)?;
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    if flags & AT_REMOVEDIR != 0 {
        vfs.rmdir(&mut nd, &start, &path)?;
    } else {
        vfs.unlink(&mut nd, &start, &path)?;
    }
    Ok(0)
}

/// `mkdirat(dirfd, pathname, mode)`: permissions `mode & 01777 & ~umask`.
///
/// # Errors
/// `EEXIST`, `ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, `EACCES`, `EFAULT`.
pub fn sys_mkdirat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    mode: u64,
) -> KResult<u64> {
    let path = get_path(u, pathname, false)?;
    let start = start_dir(p, int_arg(dirfd), &path)?;
    let perm = mode as u32 & 0o1777 & !p.fs.umask();
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    vfs.mkdir(&mut nd, &start, &path, perm)?;
    Ok(0)
}

/// `renameat2(olddirfd, oldpath, newdirfd, newpath, flags)` with flags 0 or
/// `RENAME_NOREPLACE` (`RENAME_EXCHANGE` and `RENAME_WHITEOUT` are `EINVAL`).
///
/// # Errors
/// `EINVAL` (flags, or a directory moved below itself), `ENOENT`, `ENOTDIR`, `EISDIR`,
/// `ENOTEMPTY`, `EEXIST` (`RENAME_NOREPLACE`), `EBUSY` (`.`/`..`), `EACCES`, `EFAULT`.
// One argument per register of the Linux ABI, plus the caller's state.
#[allow(clippy::too_many_arguments)]
pub fn sys_renameat2(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    olddirfd: u64,
    oldpath: u64,
    newdirfd: u64,
    newpath: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(Errno::EINVAL);
    }
    let old = get_path(u, oldpath, false)?;
    let new = get_path(u, newpath, false)?;
    let old_start = start_dir(p, int_arg(olddirfd), &old)?;
    let new_start = start_dir(p, int_arg(newdirfd), &new)?;
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    vfs.rename(
        &mut nd,
        &old_start,
        &old,
        &new_start,
        &new,
        flags & RENAME_NOREPLACE != 0,
    )?;
    Ok(0)
}

/// `linkat(olddirfd, oldpath, newdirfd, newpath, flags)` (`do_linkat`): a new name for
/// an existing file. `AT_SYMLINK_FOLLOW` follows a final symlink in `oldpath` (by
/// default the link itself gets the new name); `AT_EMPTY_PATH` with an empty `oldpath`
/// links the file `olddirfd` refers to, even an `O_PATH` one. (Linux allows that to
/// callers with `CAP_DAC_READ_SEARCH` or whose credentials opened the descriptor; with
/// one process and fixed credentials both always hold.)
///
/// # Errors
/// `EINVAL` for other flags; lookup errors for either path; `EEXIST` if `newpath` exists
/// or is `.`/`..`/`/`; `ENOENT` for a trailing slash on a missing `newpath` or a file with
/// no links left; `EPERM` for a directory; `EXDEV` for a pipe or host stream (they live on
/// other file systems) and for `/proc/self/exe` itself; `EACCES`; `EBADF`; `EFAULT`.
// One argument per register of the Linux ABI, plus the caller's state.
#[allow(clippy::too_many_arguments)]
pub fn sys_linkat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    olddirfd: u64,
    oldpath: u64,
    newdirfd: u64,
    newpath: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = int_arg(flags) as u32;
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & AT_SYMLINK_FOLLOW != 0;
    let empty_ok = flags & AT_EMPTY_PATH != 0;
    let new = get_path(u, newpath, false)?;
    let old = resolve_at(p, vfs, u, int_arg(olddirfd), oldpath, follow, empty_ok)?;
    let new_start = start_dir(p, int_arg(newdirfd), &new)?;
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    match old {
        Some(inode) => vfs.link(&mut nd, &inode, &new_start, &new)?,
        None => {
            // Surface the new name's own errors first, as filename_create runs before
            // the mount comparison.
            vfs.may_create_at(&mut nd, &new_start, &new)?;
            return Err(Errno::EXDEV);
        }
    }
    Ok(0)
}

/// `symlinkat(target, newdirfd, linkpath)` (`do_symlinkat`): creates `linkpath` as a
/// symbolic link whose text is `target` (not checked: it may dangle).
///
/// # Errors
/// `ENOENT` for an empty `target` or a missing parent; `ENAMETOOLONG`; `EEXIST`;
/// `ENOTDIR`; `EACCES`; `EBADF`; `EFAULT`.
pub fn sys_symlinkat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    target: u64,
    newdirfd: u64,
    linkpath: u64,
) -> KResult<u64> {
    let target = get_path(u, target, false)?;
    let path = get_path(u, linkpath, false)?;
    let start = start_dir(p, int_arg(newdirfd), &path)?;
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    vfs.symlinkat(&mut nd, &target, &start, &path)?;
    Ok(0)
}

/// `mknodat(dirfd, pathname, mode, dev)` (`do_mknodat`): only regular files (type
/// `S_IFREG` or 0) can be made; permissions are `mode & 07777 & ~umask`.
///
/// FIFOs, sockets and device nodes are refused with `EPERM` after the name checks: the
/// file system has no named pipes or device registry yet. (Linux, as root, would create
/// them.)
///
/// # Errors
/// `EPERM` for a directory type (as Linux) and for the unsupported types above;
/// `EINVAL` for an unknown type; `EEXIST`, `ENOENT`, `ENOTDIR`, `EACCES`, `EBADF`,
/// `EFAULT`.
pub fn sys_mknodat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    mode: u64,
    _dev: u64,
) -> KResult<u64> {
    let mode = u32::from(mode as u16);
    let ftype = mode & S_IFMT;
    match ftype {
        0 | S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => {}
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    let path = get_path(u, pathname, false)?;
    let start = start_dir(p, int_arg(dirfd), &path)?;
    let mut nd = vfs.namei(&p.exe_path, p.cred);
    if ftype == 0 || ftype == S_IFREG {
        let perm = mode & 0o7777 & !p.fs.umask();
        vfs.mknod_regular(&mut nd, &start, &path, perm)?;
        return Ok(0);
    }
    vfs.may_create_at(&mut nd, &start, &path)?;
    Err(Errno::EPERM)
}

// ----- attributes. -----

/// The file an `*at` call names: `pathname` looked up from `dirfd` (following a final
/// symlink if `follow`), or with `empty_ok` and an empty (or NULL) `pathname` the file of
/// `dirfd` itself (the cwd for `AT_FDCWD`). `None` is a descriptor whose inode is not in
/// the tree: a pipe or a host stream.
fn resolve_at(
    p: &ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: i32,
    pathname: u64,
    follow: bool,
    empty_ok: bool,
) -> KResult<Option<Arc<Inode>>> {
    let path = get_path(u, pathname, empty_ok)?;
    if path.is_empty() {
        return Ok(match empty_target(p, dirfd)? {
            EmptyTarget::Inode(i) => Some(i),
            EmptyTarget::File(f) => f.inode().map(Arc::clone),
        });
    }
    let start = start_dir(p, dirfd, &path)?;
    vfs.lookup(&start, &p.exe_path, p.cred, &path, follow)
        .map(Some)
}

/// The inode behind descriptor `fd` for `fchmod`/`fchown` (`fdget`, which refuses
/// `O_PATH` descriptors).
///
/// Pipes and host streams have fixed attributes here (no inode is stored for them), so
/// changing those fails with `EPERM` where Linux would change the pipefs or tty inode.
fn fd_inode(p: &ProcessFs, fd: u64) -> KResult<Arc<Inode>> {
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    f.inode().map(Arc::clone).ok_or(Errno::EPERM)
}

/// `fchmod(fd, mode)`: sets the permission bits to `mode & 07777`.
///
/// # Errors
/// `EBADF` (also for `O_PATH`); `EPERM` (not the owner; pipes and host streams, see
/// [`fd_inode`]).
pub fn sys_fchmod(p: &mut ProcessFs, vfs: &Vfs, fd: u64, mode: u64) -> KResult<u64> {
    let inode = fd_inode(p, fd)?;
    vfs.chmod(&inode, p.cred, u32::from(mode as u16))?;
    Ok(0)
}

/// `fchmodat(dirfd, pathname, mode)`: `fchmodat2` with flags 0 (symlinks are followed).
///
/// # Errors
/// As [`sys_fchmodat2`].
pub fn sys_fchmodat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    mode: u64,
) -> KResult<u64> {
    sys_fchmodat2(p, vfs, u, dirfd, pathname, mode, 0)
}

/// `fchmodat2(dirfd, pathname, mode, flags)` (`do_fchmodat`) with `AT_SYMLINK_NOFOLLOW`
/// and `AT_EMPTY_PATH`.
///
/// # Errors
/// `EINVAL` for other flags; `EOPNOTSUPP` on a symlink itself; `EPERM`; lookup errors;
/// `EBADF`; `EFAULT`.
pub fn sys_fchmodat2(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    mode: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = int_arg(flags) as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    let empty_ok = flags & AT_EMPTY_PATH != 0;
    let inode =
        resolve_at(p, vfs, u, int_arg(dirfd), pathname, follow, empty_ok)?.ok_or(Errno::EPERM)?;
    vfs.chmod(&inode, p.cred, u32::from(mode as u16))?;
    Ok(0)
}

/// A `uid_t`/`gid_t` argument: `-1` means "leave unchanged".
fn id_arg(raw: u64) -> Option<u32> {
    Some(raw as u32).filter(|&id| id != u32::MAX)
}

/// `fchown(fd, owner, group)`.
///
/// # Errors
/// `EBADF` (also for `O_PATH`); `EPERM` (see [`Vfs::chown`]; pipes and host streams).
pub fn sys_fchown(p: &mut ProcessFs, vfs: &Vfs, fd: u64, owner: u64, group: u64) -> KResult<u64> {
    let inode = fd_inode(p, fd)?;
    vfs.chown(&inode, p.cred, id_arg(owner), id_arg(group))?;
    Ok(0)
}

/// `fchownat(dirfd, pathname, owner, group, flags)` (`do_fchownat`) with
/// `AT_SYMLINK_NOFOLLOW` and `AT_EMPTY_PATH`; `-1` leaves an id unchanged. Root may set
/// any ids.
///
/// # Errors
/// `EINVAL` for other flags; `EPERM`; lookup errors; `EBADF`; `EFAULT`.
// One argument per register of the Linux ABI, plus the caller's state.
#[allow(clippy::too_many_arguments)]
pub fn sys_fchownat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    owner: u64,
    group: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = int_arg(flags) as u32;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    let empty_ok = flags & AT_EMPTY_PATH != 0;
    let inode =
        resolve_at(p, vfs, u, int_arg(dirfd), pathname, follow, empty_ok)?.ok_or(Errno::EPERM)?;
    vfs.chown(&inode, p.cred, id_arg(owner), id_arg(group))?;
    Ok(0)
}

/// `UTIME_NOW` (include/uapi/linux/stat.h): set the time to now.
pub const UTIME_NOW: i64 = (1 << 30) - 1;
/// `UTIME_OMIT`: leave the time unchanged.
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

/// One `struct __kernel_timespec` of `utimensat` as a [`TimeUpdate`] (`nsec_valid`).
fn time_update(sec: i64, nsec: i64) -> KResult<TimeUpdate> {
    match nsec {
        UTIME_OMIT => Ok(TimeUpdate::Omit),
        UTIME_NOW => Ok(TimeUpdate::Now),
        0..=999_999_999 => Ok(TimeUpdate::Set(Timespec {
            sec,
            nsec: nsec as u32,
        })),
        _ => Err(Errno::EINVAL),
    }
}

/// `utimensat(dirfd, pathname, times, flags)` (fs/utimes.c): `times` is NULL (both
/// now) or two `struct timespec` {access, modification}, each a time, `UTIME_NOW` or
/// `UTIME_OMIT`. Both `UTIME_OMIT` returns 0 without looking at the path. A NULL
/// `pathname` with a descriptor (not `AT_FDCWD`) is `futimens(dirfd, times)`. The ctime
/// is always set to now.
///
/// # Errors
/// `EINVAL` for unknown flags, flags with a NULL `pathname`, or a `tv_nsec` out of
/// range (checked after the lookup, as `vfs_utimes` does); `EPERM` for explicit times on
/// someone else's file; `EACCES` for "now" on a file the caller may not write; `EBADF`
/// (also an `O_PATH` descriptor with a NULL `pathname`); lookup errors; `EFAULT`
/// (including a NULL `pathname` with `AT_FDCWD`).
// One argument per register of the Linux ABI, plus the caller's state.
#[allow(clippy::too_many_arguments)]
pub fn sys_utimensat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    times: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = int_arg(flags) as u32;
    let dirfd = int_arg(dirfd);
    let mut raw = None;
    if times != 0 {
        let mut b = [0u8; 32];
        u.copy_from_user(times, &mut b)?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(b.get(i * 8..i * 8 + 8).unwrap_or(&[0; 8]));
            i64::from_le_bytes(w)
        };
        let t = [(word(0), word(1)), (word(2), word(3))];
        if t[0].1 == UTIME_OMIT && t[1].1 == UTIME_OMIT {
            return Ok(0);
        }
        raw = Some(t);
    }
    let inode = if pathname == 0 && dirfd != AT_FDCWD {
        // do_utimes_fd: fdget refuses O_PATH descriptors.
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        let fd = u32::try_from(dirfd).map_err(|_| Errno::EBADF)?;
        let f = p.fds.get(fd)?;
        if f.is_path_only() {
            return Err(Errno::EBADF);
        }
        f.inode().map(Arc::clone)
    } else {
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        if pathname == 0 {
            return Err(Errno::EFAULT);
        }
        let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
        resolve_at(
            p,
            vfs,
            u,
            dirfd,
            pathname,
            follow,
            flags & AT_EMPTY_PATH != 0,
        )?
    };
    let (atime, mtime) = match raw {
        Some([(asec, ansec), (msec, mnsec)]) => {
            (time_update(asec, ansec)?, time_update(msec, mnsec)?)
        }
        None => (TimeUpdate::Now, TimeUpdate::Now),
    };
    let inode = inode.ok_or(Errno::EPERM)?;
    vfs.set_times(&inode, p.cred, atime, mtime)?;
    Ok(0)
}

// ----- directories. -----

/// `getdents64(fd, dirp, count)`: `struct linux_dirent64` records; 0 at the end.
///
/// # Errors
/// `EBADF`, `ENOTDIR`, `EINVAL` (buffer too small for one record), `ENOENT` (removed
/// directory), `EFAULT`.
pub fn sys_getdents64(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    dirp: u64,
    count: u64,
) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    getdents64(vfs, u, &f, dirp, count)
}

/// `getdents64()` on description `f` (the descriptor looked up): records to `dirp`,
/// at most `count` (an `unsigned int`) bytes.
///
/// # Errors
/// As [`sys_getdents64`] but `EBADF` for the descriptor.
pub fn getdents64(
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    f: &OpenFile,
    dirp: u64,
    count: u64,
) -> KResult<u64> {
    let count = count as u32 as u64;
    access_ok(dirp, count).or_else(|_| access_ok(u.untagged_addr(dirp), count))?;
    let n = f.getdents(vfs, count as usize, &mut |bytes: &[u8]| {
        u.copy_to_user(dirp, bytes)
    })?;
    Ok(n as u64)
}

/// `getcwd(buf, size)`: returns the length including the NUL.
///
/// # Errors
/// `ERANGE` if `size` is too small; `ENOENT` if the cwd was removed; `EFAULT`.
pub fn sys_getcwd(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    buf: u64,
    size: u64,
) -> KResult<u64> {
    let mut path = vfs.path_of(&p.fs.pwd())?;
    path.push(0);
    if path.len() as u64 > size {
        return Err(Errno::ERANGE);
    }
    u.copy_to_user(buf, &path)?;
    Ok(path.len() as u64)
}

/// `chdir(path)`.
///
/// # Errors
/// `ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`, `ENAMETOOLONG`, `EFAULT`.
pub fn sys_chdir(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    pathname: u64,
) -> KResult<u64> {
    let path = get_path(u, pathname, false)?;
    let inode = vfs.lookup(&p.fs.pwd(), &p.exe_path, p.cred, &path, true)?;
    if !inode.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    vfs.check_permission(&inode, p.cred, crate::fs::MAY_EXEC)?;
    p.fs.set_pwd(inode);
    Ok(0)
}

// ----- descriptors. -----

/// `fcntl(fd, cmd, arg)`: `F_DUPFD`, `F_DUPFD_CLOEXEC`, `F_GETFD`, `F_SETFD`, `F_GETFL`,
/// `F_SETFL` (only `O_APPEND|O_NONBLOCK|O_ASYNC|O_DIRECT|O_NOATIME` change),
/// `F_GETPIPE_SZ` and `F_SETPIPE_SZ` ([`Pipe::set_size`]).
///
/// # Errors
/// `EBADF` (also for most commands on an `O_PATH` descriptor, and `F_GETPIPE_SZ` or
/// `F_SETPIPE_SZ` on a non-pipe); `EINVAL` for other commands, `F_DUPFD` beyond the
/// limit or an `F_SETPIPE_SZ` size above 2 GiB; `EBUSY` for a size the pipe's data does
/// not fit in; `EMFILE`.
pub fn sys_fcntl(p: &mut ProcessFs, fd: u64, cmd: u64, arg: u64) -> KResult<u64> {
    let fd = fd_arg(fd);
    let cmd = cmd as u32;
    let f = p.fds.get(fd)?;
    if f.is_path_only() && !matches!(cmd, F_DUPFD | F_DUPFD_CLOEXEC | F_GETFD | F_SETFD | F_GETFL) {
        return Err(Errno::EBADF);
    }
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = u32::try_from(arg).unwrap_or(u32::MAX);
            Ok(u64::from(p.fds.alloc(f, cmd == F_DUPFD_CLOEXEC, min)?))
        }
        F_GETFD => Ok(if p.fds.cloexec(fd)? { FD_CLOEXEC } else { 0 }),
        F_SETFD => {
            p.fds.set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(u64::from(f.flags())),
        F_SETFL => {
            f.set_status_flags(arg as u32);
            Ok(0)
        }
        // pipe_fcntl(): get_pipe_info() first, EBADF for a descriptor that is no pipe.
        F_GETPIPE_SZ | F_SETPIPE_SZ if !matches!(f.target(), FileTarget::Pipe(_)) => {
            Err(Errno::EBADF)
        }
        F_GETPIPE_SZ | F_SETPIPE_SZ => match f.target() {
            FileTarget::Pipe(end) if cmd == F_GETPIPE_SZ => Ok(end.pipe().size() as u64),
            // pipe_fcntl()'s `unsigned int arg`.
            FileTarget::Pipe(end) => Ok(end.pipe().set_size(arg as u32)? as u64),
            _ => Err(Errno::EBADF),
        },
        _ => Err(Errno::EINVAL),
    }
}

/// `dup(fd)`: the lowest free descriptor, without close-on-exec.
///
/// # Errors
/// `EBADF`, `EMFILE`.
pub fn sys_dup(p: &mut ProcessFs, fd: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    Ok(u64::from(p.fds.alloc(f, false, 0)?))
}

/// `dup3(oldfd, newfd, flags)`: `newfd` is closed first if open.
///
/// # Errors
/// `EINVAL` for flags other than `O_CLOEXEC` or `oldfd == newfd`; `EBADF` for a bad
/// `oldfd` or `newfd >= RLIMIT_NOFILE`.
pub fn sys_dup3(p: &mut ProcessFs, oldfd: u64, newfd: u64, flags: u64) -> KResult<u64> {
    do_dup3(p, oldfd, newfd, flags).map(|(fd, _closed)| fd)
}

/// [`sys_dup3`], returning with `newfd` the description it displaced, for the caller
/// to release (`do_dup2()`'s `filp_close()` of `tofree`).
///
/// # Errors
/// As [`sys_dup3`].
pub fn do_dup3(
    p: &ProcessFs,
    oldfd: u64,
    newfd: u64,
    flags: u64,
) -> KResult<(u64, Option<Arc<OpenFile>>)> {
    let flags = flags as u32;
    let (oldfd, newfd) = (fd_arg(oldfd), fd_arg(newfd));
    if flags & !O_CLOEXEC != 0 || oldfd == newfd {
        return Err(Errno::EINVAL);
    }
    if newfd >= p.fds.limit() {
        return Err(Errno::EBADF);
    }
    let f = p.fds.get(oldfd)?;
    let closed = p.fds.install_at(newfd, f, flags & O_CLOEXEC != 0)?;
    Ok((u64::from(newfd), closed))
}

/// `pipe2(pipefd, flags)`: writes `int pipefd[2]` = {read end, write end}.
///
/// # Errors
/// `EINVAL` for flags other than `O_CLOEXEC|O_NONBLOCK|O_DIRECT` (notification pipes are
/// not supported); `EMFILE`; `EFAULT` (no descriptor is left open then).
pub fn sys_pipe2(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    pipefd: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    p.fds.check_free(2)?;
    // The pipe's pages are guest frames (the page cache's RAM).
    let phys = vfs.page_cache().map(|c| Arc::clone(c.phys()));
    let (r, w) = Pipe::new_pair(vfs.alloc_ino(), vfs.now(), phys);
    let status = flags & (O_NONBLOCK | O_DIRECT);
    let cloexec = flags & O_CLOEXEC != 0;
    let rfd = p.fds.alloc(
        OpenFile::new(FileTarget::Pipe(r), O_RDONLY | status),
        cloexec,
        0,
    )?;
    let wfd = match p.fds.alloc(
        OpenFile::new(FileTarget::Pipe(w), O_WRONLY | status),
        cloexec,
        0,
    ) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = p.fds.close(rfd);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(rfd as i32).to_le_bytes());
    out[4..].copy_from_slice(&(wfd as i32).to_le_bytes());
    if let Err(e) = u.copy_to_user(pipefd, &out) {
        let _ = p.fds.close(rfd);
        let _ = p.fds.close(wfd);
        return Err(e);
    }
    Ok(0)
}

/// `faccessat(dirfd, pathname, mode)`: `faccessat2` with flags 0.
///
/// # Errors
/// As [`sys_faccessat2`].
pub fn sys_faccessat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    mode: u64,
) -> KResult<u64> {
    sys_faccessat2(p, vfs, u, dirfd, pathname, mode, 0)
}

/// `faccessat2(dirfd, pathname, mode, flags)`: `mode` is `F_OK` or a mix of
/// `R_OK`/`W_OK`/`X_OK`; flags `AT_EACCESS`, `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`.
/// Root passes everything but `X_OK` on a file without any execute bit.
///
/// # Errors
/// `EINVAL` for bad mode or flags; `EACCES`; lookup errors; `EFAULT`.
pub fn sys_faccessat2(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    mode: u64,
    flags: u64,
) -> KResult<u64> {
    let flags = flags as u32;
    let mode = mode as u32;
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = get_path(u, pathname, flags & AT_EMPTY_PATH != 0)?;
    let dirfd = int_arg(dirfd);
    let inode = if path.is_empty() {
        match empty_target(p, dirfd)? {
            EmptyTarget::Inode(i) => i,
            EmptyTarget::File(f) => match f.inode() {
                Some(i) => Arc::clone(i),
                // Pipes and host streams: the owner may read and write them.
                None => {
                    return if mode & 1 != 0 {
                        Err(Errno::EACCES)
                    } else {
                        Ok(0)
                    }
                }
            },
        }
    } else {
        let start = start_dir(p, dirfd, &path)?;
        vfs.lookup(
            &start,
            &p.exe_path,
            p.cred,
            &path,
            flags & AT_SYMLINK_NOFOLLOW == 0,
        )?
    };
    // R_OK, W_OK, X_OK have MAY_READ, MAY_WRITE, MAY_EXEC's values.
    if mode != 0 {
        vfs.check_permission(&inode, p.cred, mode)?;
    }
    Ok(0)
}

/// `readlinkat(dirfd, pathname, buf, bufsiz)`: the target, truncated to `bufsiz`, no NUL.
///
/// # Errors
/// `EINVAL` if `bufsiz <= 0` or the file is not a symlink; lookup errors; `EFAULT`.
pub fn sys_readlinkat(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    dirfd: u64,
    pathname: u64,
    buf: u64,
    bufsiz: u64,
) -> KResult<u64> {
    let bufsiz = int_arg(bufsiz);
    if bufsiz <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = get_path(u, pathname, true)?;
    let dirfd = int_arg(dirfd);
    let inode = if path.is_empty() {
        match empty_target(p, dirfd)? {
            EmptyTarget::File(f) => f.inode().map(Arc::clone).ok_or(Errno::EINVAL)?,
            EmptyTarget::Inode(_) => return Err(Errno::ENOENT),
        }
    } else {
        let start = start_dir(p, dirfd, &path)?;
        vfs.lookup(&start, &p.exe_path, p.cred, &path, false)?
    };
    let target = vfs.readlink(&inode, &p.exe_path).ok_or(Errno::EINVAL)?;
    let n = target.len().min(bufsiz as usize);
    u.copy_to_user(buf, target.get(..n).unwrap_or_default())?;
    Ok(n as u64)
}

/// `ftruncate(fd, length)`.
///
/// # Errors
/// `EINVAL` for a negative length or a descriptor that is not a regular file open for
/// writing; `EBADF`; `EFBIG`.
pub fn sys_ftruncate(p: &mut ProcessFs, vfs: &Vfs, fd: u64, length: u64) -> KResult<u64> {
    if (length as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    f.truncate(vfs, length)?;
    Ok(0)
}

/// `truncate(path, length)` (`do_sys_truncate()` → `vfs_truncate()`).
///
/// # Errors
/// `EINVAL` for a negative length or a file that is neither regular nor a directory;
/// `EISDIR`; `EACCES` without write permission; `EFBIG`; walk errors.
pub fn sys_truncate(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    pathname: u64,
    length: u64,
) -> KResult<u64> {
    if (length as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let path = get_path(u, pathname, false)?;
    let start = start_dir(p, AT_FDCWD, &path)?;
    let inode = vfs.lookup(&start, &p.exe_path, p.cred, &path, true)?;
    if inode.is_dir() {
        return Err(Errno::EISDIR);
    }
    if inode.file_type() != crate::fs::FileType::Regular {
        return Err(Errno::EINVAL);
    }
    vfs.check_permission(&inode, p.cred, crate::fs::MAY_WRITE)?;
    vfs.truncate(&inode, length)?;
    Ok(0)
}

/// `fsync(fd)` / `fdatasync(fd)` (`vfs_fsync_range()`): writes the file's dirty page-cache
/// pages back, D bits of its shared mappings included (the page cache keeps no metadata
/// that `fsync` would flush and `fdatasync` not).
///
/// # Errors
/// `EBADF`; `EINVAL` for a pipe or host stream; a writeback error.
pub fn sys_fsync(p: &mut ProcessFs, fd: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    f.fsync()?;
    Ok(0)
}

/// `syncfs(fd)`: writes back every file of the file system `fd` is on (there is one).
///
/// # Errors
/// `EBADF`; a writeback error.
pub fn sys_syncfs(p: &mut ProcessFs, vfs: &Vfs, fd: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    vfs.sync()?;
    Ok(0)
}

/// `fallocate(fd, mode, offset, len)`: see [`OpenFile::fallocate`].
///
/// # Errors
/// `EBADF`; as [`OpenFile::fallocate`].
pub fn sys_fallocate(
    p: &mut ProcessFs,
    vfs: &Vfs,
    fd: u64,
    mode: u64,
    offset: u64,
    len: u64,
) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    f.fallocate(vfs, mode as u32, offset as i64, len as i64)?;
    Ok(0)
}

/// `MFD_CLOEXEC` (include/uapi/linux/memfd.h).
pub const MFD_CLOEXEC: u32 = 0x1;
/// `MFD_ALLOW_SEALING` (accepted; seals are not implemented, `F_ADD_SEALS` fails).
pub const MFD_ALLOW_SEALING: u32 = 0x2;
/// `MFD_HUGETLB`.
pub const MFD_HUGETLB: u32 = 0x4;
/// `MFD_NOEXEC_SEAL`: the file is created without execute permission.
pub const MFD_NOEXEC_SEAL: u32 = 0x8;
/// `MFD_EXEC`.
pub const MFD_EXEC: u32 = 0x10;
/// `MFD_NAME_PREFIX_LEN`: `"memfd:"`.
const MFD_NAME_PREFIX: &[u8] = b"memfd:";
/// The longest name: `NAME_MAX - strlen("memfd:")`.
const MFD_NAME_MAX_LEN: usize = crate::fs::NAME_MAX - MFD_NAME_PREFIX.len();

/// `memfd_create(name, flags)` (`mm/memfd.c`): an anonymous regular file of size 0 with a
/// page cache, open `O_RDWR`, that lives until its last descriptor and mapping are gone.
/// Its descriptor's path reads `/memfd:NAME (deleted)`.
///
/// # Errors
/// `EINVAL` for unknown flags (a huge page size without `MFD_HUGETLB` included), both
/// `MFD_EXEC` and `MFD_NOEXEC_SEAL`, or a name longer than 249 bytes; `ENODEV` for
/// `MFD_HUGETLB` (which makes a hugetlbfs file, see [`crate::fs::hugetlbfs`]) with a
/// huge page size other than 2 MiB; `EFAULT`; `EMFILE`.
pub fn sys_memfd_create(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    uname: u64,
    flags: u64,
) -> KResult<u64> {
    let known = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
    let flags = u32::try_from(flags).map_err(|_| Errno::EINVAL)?;
    // MFD_HUGE_MASK << MFD_HUGE_SHIFT: the huge page size, allowed with MFD_HUGETLB only.
    let huge_size = (MAP_HUGE_MASK << MAP_HUGE_SHIFT) as u32;
    if flags & MFD_HUGETLB == 0 && flags & !known != 0
        || flags & MFD_HUGETLB != 0 && flags & !(known | huge_size) != 0
    {
        return Err(Errno::EINVAL);
    }
    // hugetlb_file_setup() needs the pool, which lives with guest RAM.
    let phys = if flags & MFD_HUGETLB != 0 {
        let cache = vfs.page_cache().ok_or(Errno::EINVAL)?;
        let phys = Arc::clone(cache.phys());
        // hugetlb_file_setup(): no hstate of that size (MFD_HUGE_2MB, MFD_HUGE_1GB or
        // the default) is ENODEV.
        let order = phys
            .pages
            .hstate_sizelog(huge_size_log(u64::from(flags)))
            .ok_or(Errno::ENODEV)?
            .huge_page_order();
        Some((phys, order))
    } else {
        None
    };
    if flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0 {
        return Err(Errno::EINVAL);
    }
    // strnlen_user(uname, MFD_NAME_MAX_LEN + 1): a longer name is EINVAL, not
    // ENAMETOOLONG.
    let name = match u.strncpy_from_user(uname, MFD_NAME_MAX_LEN + 1) {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        r => r?,
    };
    if name.len() > MFD_NAME_MAX_LEN {
        return Err(Errno::EINVAL);
    }
    p.fds.check_free(1)?;
    let exec_mask = if flags & MFD_NOEXEC_SEAL != 0 {
        0o111
    } else {
        0
    };
    let mut shown = b"/".to_vec();
    shown.extend_from_slice(MFD_NAME_PREFIX);
    shown.extend_from_slice(&name);
    shown.extend_from_slice(b" (deleted)");
    let target = match phys {
        Some((phys, order)) => {
            let object = HugetlbFile::new(phys, 0, Some(shown.clone()), order);
            let fops = Arc::new(HugetlbfsFile::new(Arc::new(object)));
            FileTarget::Anon(AnonFile::new("[hugetlbfs]", fops))
        }
        None => FileTarget::Inode(vfs.memfd_inode(p.cred, exec_mask)),
    };
    let file = OpenFile::new_named(target, crate::fs::O_RDWR | O_LARGEFILE, shown);
    Ok(u64::from(p.fds.alloc(file, flags & MFD_CLOEXEC != 0, 0)?))
}

/// The file behind `mmap`'s `fd` (`ksys_mmap_pgoff()`'s `fget()`).
///
/// # Errors
/// `EBADF` for a negative, closed or `O_PATH` descriptor.
pub fn mmap_file(p: &ProcessFs, fd: u64) -> KResult<Arc<OpenFile>> {
    let fd = int_arg(fd);
    if fd < 0 {
        return Err(Errno::EBADF);
    }
    let f = p.fds.get(fd as u32)?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

/// Whether `cmd` is one of the commands `do_vfs_ioctl()` handles for every file before
/// the file's own `unlocked_ioctl` (`FIOCLEX`, `FIONCLEX`, `FIONBIO`).
pub fn is_generic_ioctl(cmd: u32) -> bool {
    matches!(cmd, FIOCLEX | FIONCLEX | FIONBIO)
}

/// `ioctl(fd, cmd, arg)`: `FIOCLEX`, `FIONCLEX`, `FIONBIO` on any descriptor and
/// `FIONREAD` on a regular file (the bytes after the position) (`do_vfs_ioctl()`); every
/// other command goes to the file's `unlocked_ioctl`
/// ([`OpenFile::ioctl`]: `FIONREAD` on pipes; `TCGETS`, `TCSETS*` and `TIOCGWINSZ` on a
/// host stream that is a terminal).
///
/// # Errors
/// `EBADF` (also for an `O_PATH` descriptor); `EFAULT`; the file's (`ENOTTY` for a file
/// without the command).
pub fn sys_ioctl(
    p: &mut ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    cmd: u64,
    arg: u64,
) -> KResult<u64> {
    let fd = fd_arg(fd);
    let cmd = cmd as u32;
    let f = p.fds.get(fd)?;
    // fdget() refuses O_PATH descriptors for every ioctl.
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    match cmd {
        FIOCLEX | FIONCLEX => {
            p.fds.set_cloexec(fd, cmd == FIOCLEX)?;
            Ok(0)
        }
        // do_vfs_ioctl(): FIONREAD on a regular file is i_size - f_pos, as an int.
        FIONREAD if f.inode().is_some_and(|i| i.mode() & S_IFMT == S_IFREG) => {
            let left = f.inode().map_or(0, |i| i.size()).wrapping_sub(f.pos());
            u.copy_to_user(arg, &(left as i32).to_le_bytes())?;
            Ok(0)
        }
        FIONBIO => {
            let mut v = [0u8; 4];
            u.copy_from_user(arg, &mut v)?;
            let flags = f.flags();
            let on = i32::from_le_bytes(v) != 0;
            f.set_status_flags(if on {
                flags | O_NONBLOCK
            } else {
                flags & !O_NONBLOCK
            });
            Ok(0)
        }
        _ => f.ioctl(&mut FileCtx::current(vfs, u), cmd, arg),
    }
}

/// Reads a path argument from user memory (`getname`): at most `PATH_MAX - 1` bytes, not
/// empty. For `execve`'s file name.
///
/// # Errors
/// `EFAULT`, `ENAMETOOLONG`, `ENOENT` (empty).
pub fn get_user_path(u: &mut dyn UserAccess, va: u64) -> KResult<Vec<u8>> {
    get_path(u, va, false)
}

/// What `do_open_execat()` opened for `execve`.
#[derive(Debug)]
pub struct ExecFile {
    /// The file, every link followed.
    pub inode: Arc<Inode>,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// `d_path()` of the file's `f_path`: its absolute path with the links resolved,
    /// what `/proc/<pid>/exe` will show.
    pub path: Vec<u8>,
}

/// Opens the executable at `path` for `execve` (`do_open_execat`): follows links, checks
/// it is a regular file with execute permission, and returns it with its bytes and its
/// own path, from one walk ([`Vfs::lookup_resolved`]).
///
/// # Errors
/// Lookup errors; `EACCES` for a non-regular file or one without any execute bit;
/// `ENOEXEC` if it is larger than `max_bytes`.
pub fn open_exec(p: &ProcessFs, vfs: &Vfs, path: &[u8], max_bytes: u64) -> KResult<ExecFile> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let (inode, resolved) = vfs.lookup_resolved(&p.fs.pwd(), &p.exe_path, p.cred, path)?;
    if inode.file_type() != crate::fs::FileType::Regular {
        return Err(Errno::EACCES);
    }
    vfs.check_permission(&inode, p.cred, crate::fs::MAY_EXEC)?;
    let bytes = inode
        .read_all(max_bytes)
        .map_err(|_| Errno::ENOEXEC)?
        .ok_or(Errno::EACCES)?;
    Ok(ExecFile {
        inode,
        bytes,
        path: resolved,
    })
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
