//! File calls beyond open/read/write: `fchdir` (`fs/open.c`), `statfs`/`fstatfs`
//! (`fs/statfs.c`), `fadvise64` (`mm/fadvise.c`), `readahead` (`mm/readahead.c`),
//! `close_range` (`fs/file.c`), `flock` (`fs/locks.c`) and `openat2`'s `struct open_how`
//! (`fs/open.c`).

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::locks::FlockType;
use crate::fs::mount::SuperBlock;
use crate::fs::{FileTarget, FileType, OpenFile, ProcessFs, Vfs, MAY_EXEC};
use crate::mm::hugetlb::HUGETLBFS_MAGIC;
use crate::uaccess::UserAccess;

pub use crate::fs::mount::{EXT4_SUPER_MAGIC, PROC_SUPER_MAGIC, SYSFS_MAGIC, TMPFS_MAGIC};
/// `PIPEFS_MAGIC`: a pipe's file system.
pub const PIPEFS_MAGIC: u64 = 0x5049_5045;
/// `NAME_MAX`: the longest name component.
const NAME_MAX: u64 = 255;
/// The block size tmpfs and the pseudo file systems report (`PAGE_SIZE`); the most
/// `openat2` reads of a `struct open_how`.
const PAGE_SIZE: u64 = 4096;
/// `ST_VALID | ST_RELATIME` (`include/linux/statfs.h`): `f_flags` of a default mount.
const ST_FLAGS_RW: u64 = 0x20 | 0x1000;
/// Those of `/proc` and `/sys` (`nosuid,nodev,noexec,relatime`).
const ST_FLAGS_PSEUDO: u64 = ST_FLAGS_RW | 0x2 | 0x4 | 0x8;

/// An `unsigned int fd` argument.
fn fd_arg(raw: u64) -> u32 {
    raw as u32
}

/// `fchdir(fd)`: the directory of `fd` (an `O_PATH` one too: `fdget_raw()`) becomes the
/// working directory.
///
/// # Errors
/// `EBADF`; `ENOTDIR` for a file that is not a directory; `EACCES` without search
/// permission.
pub fn sys_fchdir(p: &mut ProcessFs, vfs: &Vfs, fd: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    let inode = match f.target() {
        FileTarget::Inode(i) if i.is_dir() => Arc::clone(i),
        _ => return Err(Errno::ENOTDIR),
    };
    vfs.check_permission(&inode, p.cred, MAY_EXEC)?;
    p.fs.set_pwd(inode);
    Ok(0)
}

/// The file system a file lies on, as `statfs()` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Super {
    /// A file system of the tree: the root file system (ext4 to `statfs`), devtmpfs, a
    /// tmpfs, or `shm_mnt` (memfds), as the inode says ([`SuperBlock`]).
    Fs(SuperBlock),
    /// procfs at `/proc`.
    Proc,
    /// sysfs at `/sys`.
    Sys,
    /// A pipe's pipefs.
    Pipefs,
    /// The internal hugetlbfs mount of one page size, in bytes (`MFD_HUGETLB` memfds:
    /// one mount per hstate, as `hugetlbfs_vfsmount[]`).
    Hugetlbfs(u64),
}

/// The mount an absolute, resolved `path` to `inode` lies on: procfs and sysfs by the
/// first component (their nodes are plain tree nodes here), else the inode's file system.
fn super_of_path(path: &[u8], inode: &crate::fs::Inode) -> Super {
    let first = path
        .split(|&b| b == b'/')
        .find(|c| !c.is_empty())
        .unwrap_or(b"");
    match first {
        b"proc" => Super::Proc,
        b"sys" => Super::Sys,
        _ => Super::Fs(inode.sb()),
    }
}

/// `struct statfs` (120 bytes on 64-bit: `f_type`, `f_bsize`, `f_blocks`, `f_bfree`,
/// `f_bavail`, `f_files`, `f_ffree`, `f_fsid`, `f_namelen`, `f_frsize`, `f_flags`,
/// `f_spare[4]`) of file system `sb`. tmpfs follows `shmem_statfs()`: blocks from the
/// size limit (`size=`) and the bytes held, rounded up to pages; no inode limit (the
/// counts are 0, as with `nr_inodes=0`). The root file system reports ext4's magic
/// (`EXT4_SUPER_MAGIC`, what a Debian root reports) with the same space figures: every
/// file system of the tree shares one space limit. procfs and sysfs follow
/// `simple_statfs()`.
fn statfs_buf(vfs: &Vfs, sb: Super) -> [u8; 120] {
    let (ty, blocks, bfree, flags) = match sb {
        Super::Fs(fs) => {
            let total = vfs.size_limit_bytes() / PAGE_SIZE;
            let used = vfs.used_bytes().div_ceil(PAGE_SIZE);
            (fs.magic(), total, total.saturating_sub(used), ST_FLAGS_RW)
        }
        Super::Proc => (PROC_SUPER_MAGIC, 0, 0, ST_FLAGS_PSEUDO),
        Super::Sys => (SYSFS_MAGIC, 0, 0, ST_FLAGS_PSEUDO),
        Super::Pipefs => (PIPEFS_MAGIC, 0, 0, ST_FLAGS_RW),
        // hugetlbfs_statfs() of a mount without a size limit (no subpool).
        Super::Hugetlbfs(_) => (HUGETLBFS_MAGIC, 0, 0, ST_FLAGS_RW),
    };
    // f_bsize / f_frsize: the huge page size on hugetlbfs.
    let bsize = match sb {
        Super::Hugetlbfs(size) => size,
        _ => PAGE_SIZE,
    };
    // f_fsid: the device number, distinct per file system.
    let fsid = match sb {
        Super::Fs(fs) => fs.fsid(),
        Super::Proc => 0x16,
        Super::Sys => 0x17,
        Super::Pipefs => 0x0d,
        Super::Hugetlbfs(_) => 0x0f,
    };
    let words: [u64; 11] = [
        ty, bsize, blocks, bfree, bfree, 0, 0, fsid, NAME_MAX, bsize, flags,
    ];
    let mut b = [0u8; 120];
    for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// `statfs(path, buf)`: the file system `path` (links followed) lies on.
///
/// # Errors
/// Look-up errors (`ENOENT`, `ENOTDIR`, `EACCES`, `ELOOP`, `ENAMETOOLONG`); `EFAULT`.
pub fn sys_statfs(
    p: &ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    path: u64,
    buf: u64,
) -> KResult<u64> {
    let path = super::fs::get_user_path(u, path)?;
    let (inode, resolved) = vfs.lookup_resolved(&p.fs.pwd(), &p.exe_path, p.cred, &path)?;
    u.copy_to_user(buf, &statfs_buf(vfs, super_of_path(&resolved, &inode)))?;
    Ok(0)
}

/// `fstatfs(fd, buf)`: the file system of `fd`'s file (an `O_PATH` one too): pipefs for
/// a pipe, procfs for a kernel-served file (`/proc/<pid>/…`, debugfs), otherwise the
/// inode's ([`SuperBlock`]: tmpfs for a memfd or a file under `/tmp` or `/dev/shm`, ext4
/// for the root file system's) — a descriptor of a plain directory or file under `/proc`
/// or `/sys` (tree nodes here) included; hugetlbfs (`HUGETLBFS_MAGIC`, blocks of the
/// file's huge page size, 2 MiB or 1 GiB) for a `MFD_HUGETLB` memfd; tmpfs for anything else (anonymous inodes).
///
/// # Errors
/// `EBADF`; `EFAULT`.
pub fn sys_fstatfs(
    p: &ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd: u64,
    buf: u64,
) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    let sb = match f.target() {
        FileTarget::Pipe(_) => Super::Pipefs,
        FileTarget::Kernel(_) => Super::Proc,
        FileTarget::Inode(i) if i.file_type() == FileType::Fifo => Super::Pipefs,
        FileTarget::Inode(i) => Super::Fs(i.sb()),
        FileTarget::Anon(_) => match f.hugetlbfs() {
            Some(h) => Super::Hugetlbfs(h.inode().huge_page_size()),
            None => Super::Fs(SuperBlock::ShmMnt),
        },
        _ => Super::Fs(SuperBlock::ShmMnt),
    };
    u.copy_to_user(buf, &statfs_buf(vfs, sb))?;
    Ok(0)
}

/// `POSIX_FADV_NORMAL` … `POSIX_FADV_NOREUSE`: the valid advice (0..=5).
const POSIX_FADV_NOREUSE: u64 = 5;

/// `fadvise64(fd, offset, len, advice)` (`generic_fadvise()` on a file system without a
/// backing device, as tmpfs): only checks — the page cache here reads nothing ahead
/// and drops nothing early.
///
/// # Errors
/// `EBADF` (also `O_PATH`); `ESPIPE` for a pipe or FIFO; `EINVAL` for a negative `len`
/// or unknown advice.
pub fn sys_fadvise64(p: &ProcessFs, fd: u64, len: u64, advice: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    let fifo = match f.target() {
        FileTarget::Pipe(_) => true,
        FileTarget::Inode(i) => i.file_type() == FileType::Fifo,
        _ => false,
    };
    if fifo {
        return Err(Errno::ESPIPE);
    }
    if (len as i64) < 0 || advice as u32 as u64 > POSIX_FADV_NOREUSE {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// `readahead(fd, offset, count)` (`ksys_readahead()`): on a regular file open for
/// reading, `fadvise(POSIX_FADV_WILLNEED)` — nothing to do here.
///
/// # Errors
/// `EBADF` without read access; `EINVAL` for a file that is not regular.
pub fn sys_readahead(p: &ProcessFs, fd: u64) -> KResult<u64> {
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() || !f.access().0 {
        return Err(Errno::EBADF);
    }
    match f.inode() {
        Some(i) if i.file_type() == FileType::Regular && f.kernel_file().is_none() => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// `CLOSE_RANGE_UNSHARE`: give the caller a table of its own first.
const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
/// `CLOSE_RANGE_CLOEXEC`: mark close-on-exec instead of closing.
const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;

/// `close_range(fd, max_fd, flags)` (`fs/file.c`): closes (or, with
/// `CLOSE_RANGE_CLOEXEC`, marks close-on-exec) every open descriptor in
/// `fd..=max_fd` (`unsigned int`s); with `CLOSE_RANGE_UNSHARE` on a table of the caller's
/// own. Returns 0. The closed descriptions are returned to the caller to release.
///
/// # Errors
/// `EINVAL` for unknown flags or `fd > max_fd`.
pub fn sys_close_range(
    p: &mut ProcessFs,
    fd: u64,
    max_fd: u64,
    flags: u64,
) -> KResult<Vec<Arc<OpenFile>>> {
    let (fd, max_fd) = (fd_arg(fd), fd_arg(max_fd));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || fd > max_fd {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        p.unshare_files();
    }
    let mut closed = Vec::new();
    for n in p
        .fds
        .open_fds()
        .into_iter()
        .filter(|n| (fd..=max_fd).contains(n))
    {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            let _ = p.fds.set_cloexec(n, true);
        } else if let Ok(f) = p.fds.close(n) {
            closed.push(f);
        }
    }
    Ok(closed)
}

/// `LOCK_SH`.
const LOCK_SH: u64 = 1;
/// `LOCK_EX`.
const LOCK_EX: u64 = 2;
/// `LOCK_NB`: fail instead of waiting.
const LOCK_NB: u64 = 4;
/// `LOCK_UN`.
const LOCK_UN: u64 = 8;

/// `flock(fd, cmd)` (`fs/locks.c`): `LOCK_SH`, `LOCK_EX` or `LOCK_UN` on the open file
/// description of `fd` ([`crate::fs::locks::FlockTable::flock`]), `LOCK_NB` to fail
/// rather than wait.
///
/// # Errors
/// `EINVAL` for another command (checked first, `flock_translate_cmd()`); `EBADF` (an
/// `O_PATH` descriptor too: `fdget()`); `EWOULDBLOCK` on a conflict — with `LOCK_NB`
/// the answer; without it the caller waits and retries.
pub fn sys_flock(p: &ProcessFs, vfs: &Vfs, fd: u64, cmd: u64) -> KResult<u64> {
    let cmd = u64::from(cmd as u32);
    let ty = match cmd & !LOCK_NB {
        LOCK_SH => FlockType::Shared,
        LOCK_EX => FlockType::Exclusive,
        LOCK_UN => FlockType::Unlock,
        _ => return Err(Errno::EINVAL),
    };
    let f = p.fds.get(fd_arg(fd))?;
    if f.is_path_only() {
        return Err(Errno::EBADF);
    }
    vfs.flocks().flock(&f, ty)?;
    Ok(0)
}

/// Whether a `flock()` command `cmd` asked not to wait.
pub fn flock_nonblocking(cmd: u64) -> bool {
    cmd & LOCK_NB != 0
}

/// `VALID_OPEN_FLAGS` (`include/linux/fcntl.h`): every flag `openat2` accepts.
const VALID_OPEN_FLAGS: u64 = 0o3
    | crate::fs::O_CREAT as u64
    | crate::fs::O_EXCL as u64
    | crate::fs::O_NOCTTY as u64
    | crate::fs::O_TRUNC as u64
    | crate::fs::O_APPEND as u64
    | crate::fs::O_NONBLOCK as u64
    | crate::fs::O_SYNC as u64
    | crate::fs::O_ASYNC as u64
    | crate::fs::O_DIRECT as u64
    | crate::fs::O_LARGEFILE as u64
    | crate::fs::O_DIRECTORY as u64
    | crate::fs::O_NOFOLLOW as u64
    | crate::fs::O_NOATIME as u64
    | crate::fs::O_CLOEXEC as u64
    | crate::fs::O_PATH as u64
    | crate::fs::O_TMPFILE as u64;
/// `O_PATH_FLAGS`: what may go with `O_PATH`.
const O_PATH_FLAGS: u64 =
    (crate::fs::O_DIRECTORY | crate::fs::O_NOFOLLOW | crate::fs::O_PATH | crate::fs::O_CLOEXEC)
        as u64;
/// `RESOLVE_NO_XDEV`: no mount crossing (one file system here: always satisfied).
const RESOLVE_NO_XDEV: u64 = 0x01;
/// `RESOLVE_CACHED`: only what the dentry cache holds (here, every look-up); a call that
/// would create or truncate is `EAGAIN`.
const RESOLVE_CACHED: u64 = 0x20;
/// `VALID_RESOLVE_FLAGS`: `RESOLVE_NO_XDEV` … `RESOLVE_CACHED`.
const VALID_RESOLVE_FLAGS: u64 = 0x3f;
/// `OPEN_HOW_SIZE_VER0`: `struct open_how { u64 flags, mode, resolve; }`.
const OPEN_HOW_SIZE_VER0: u64 = 24;

/// `openat2(dfd, path, how, size)`'s argument checks (`fs/open.c`: `copy_struct_from_user()`
/// and `build_open_flags()`): the `(flags, mode)` to open with, `openat`'s.
///
/// `RESOLVE_NO_XDEV` (one file system) and `RESOLVE_CACHED` are honoured;
/// `RESOLVE_NO_MAGICLINKS`, `RESOLVE_NO_SYMLINKS`, `RESOLVE_BENEATH` and `RESOLVE_IN_ROOT`
/// need a path walk that this VFS does not offer and are refused with `EINVAL` rather
/// than ignored.
///
/// # Errors
/// `EINVAL` for a `size` below 24, unknown or conflicting flags or resolve flags, a
/// `mode` without `O_CREAT`/`O_TMPFILE` or beyond 07777, or flags beside `O_PATH` that it
/// does not take; `E2BIG` for a `size` above a page or non-zero bytes past the known
/// struct; `EAGAIN` for `RESOLVE_CACHED` with `O_CREAT`, `O_TRUNC` or `O_TMPFILE`;
/// `EFAULT`.
pub fn openat2_how(u: &mut dyn UserAccess, how: u64, size: u64) -> KResult<(u64, u64)> {
    if size < OPEN_HOW_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    let mut raw = vec![0u8; size as usize];
    u.copy_from_user(how, &mut raw)?;
    if raw[OPEN_HOW_SIZE_VER0 as usize..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&raw[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    let (flags, mode, resolve) = (word(0), word(1), word(2));
    if flags & !VALID_OPEN_FLAGS != 0 || resolve & !VALID_RESOLVE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let creates = flags
        & u64::from(crate::fs::O_CREAT | (crate::fs::O_TMPFILE & !crate::fs::O_DIRECTORY))
        != 0;
    if (creates && mode & !0o7777 != 0) || (!creates && mode != 0) {
        return Err(Errno::EINVAL);
    }
    if flags & u64::from(crate::fs::O_PATH) != 0 && flags & !O_PATH_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if resolve & !(RESOLVE_NO_XDEV | RESOLVE_CACHED) != 0 {
        return Err(Errno::EINVAL);
    }
    let writes = u64::from(
        crate::fs::O_TRUNC | crate::fs::O_CREAT | (crate::fs::O_TMPFILE & !crate::fs::O_DIRECTORY),
    );
    if resolve & RESOLVE_CACHED != 0 && flags & writes != 0 {
        return Err(Errno::EAGAIN);
    }
    Ok((flags, mode))
}
