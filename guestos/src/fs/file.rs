//! Open file descriptions (`struct file`): the object a descriptor points at, holding the
//! offset and status flags that `dup`, `fork` and `F_DUPFD` share. Reads, writes, seeks,
//! `ioctl`s, `mmap` and `poll` go to the file's operations ([`OpenFile::f_op`], see
//! [`super::fops`]) through the entry points here, which do what `vfs_read()`,
//! `vfs_write()`, `vfs_llseek()` and `vfs_ioctl()` do for every file (access mode,
//! `rw_verify_area()`, `MAX_RW_COUNT`, the position lock); the operations of tmpfs
//! regular files and directories are here too (`ShmemFile`, `DirFile`).
//!
//! Data moves between the file and user memory in chunks of at most [`CHUNK`] bytes, so
//! a guest asking for a 2 GiB read never makes the host allocate 2 GiB, and a fault
//! part-way returns the bytes done so far, as Linux does.

use std::sync::Arc;

use crate::sync::Mutex;

use super::eventpoll::EventPoll;
use super::fops::{FileCtx, FileOperations, Kiocb, NoFileOps, PollMask, WriteSource};
use super::inode::{Body, FileType, Inode, Timespec};
use super::kfile::KernelFile;
use super::pagecache::AddressSpace;
use super::pipe::PipeEnd;
use super::stat::{DirentWriter, Kstat};
use super::stdio::{HostFile, HostStreams, StdStream};
use super::vfs::Vfs;
use super::{
    IoResult, O_ACCMODE, O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME, O_NONBLOCK, O_PATH, O_RDONLY,
    O_RDWR, O_WRONLY, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET, S_IFCHR, S_IFIFO,
};
use crate::errno::{Errno, KResult};
use crate::mm::{FMode, MappedFile, MmRmap, MmapOp, Pfn, VmFault};

/// `fallocate` mode: allocate (the default, no bit).
pub const FALLOC_FL_ALLOCATE_RANGE: u32 = 0x00;
/// `fallocate`: do not change the file size.
pub const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
/// `fallocate`: free the range (with `KEEP_SIZE` only).
pub const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
/// `fallocate`: obsolete flag, never accepted.
pub const FALLOC_FL_NO_HIDE_STALE: u32 = 0x04;
/// `fallocate`: remove the range and shift the rest down.
pub const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
/// `fallocate`: zero the range.
pub const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
/// `fallocate`: insert a hole and shift the rest up.
pub const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
/// `fallocate`: unshare shared blocks.
pub const FALLOC_FL_UNSHARE_RANGE: u32 = 0x40;
/// `FALLOC_FL_MODE_MASK` (include/linux/falloc.h): the mutually exclusive modes.
const FALLOC_FL_MODE_MASK: u32 = FALLOC_FL_ALLOCATE_RANGE
    | FALLOC_FL_PUNCH_HOLE
    | FALLOC_FL_COLLAPSE_RANGE
    | FALLOC_FL_ZERO_RANGE
    | FALLOC_FL_INSERT_RANGE
    | FALLOC_FL_UNSHARE_RANGE;

/// `MAX_RW_COUNT` (include/linux/fs.h): `INT_MAX & PAGE_MASK`, the most one `read`/`write`
/// transfers.
pub const MAX_RW_COUNT: usize = 0x7fff_f000;

/// Bytes moved per step between a file and user memory.
pub const CHUNK: usize = 64 * 1024;

/// Status flags `F_SETFL` may change (`SETFL_MASK`, fs/fcntl.c).
pub(crate) const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_ASYNC;

/// Device of the pipe file system (pipefs), for `fstat` on pipes.
const PIPEFS_DEV: (u32, u32) = (0, 13);
/// Device of the anonymous-inode file system (anon_inodefs), for `fstat` on epoll files.
const ANON_INODE_DEV: (u32, u32) = (0, 15);
/// Device standing for the host's streams behind fds 0-2.
const HOST_STDIO_DEV: (u32, u32) = (0, 24);
/// `UNIX98_PTY_SLAVE_MAJOR`: a terminal host stream looks like `/dev/pts/0`.
const PTS_MAJOR: u32 = 136;

/// What an open file description refers to.
#[derive(Debug)]
pub enum FileTarget {
    /// A file in the VFS (regular, directory, device, or a link opened with `O_PATH`).
    Inode(Arc<Inode>),
    /// One end of a pipe.
    Pipe(PipeEnd),
    /// A host stream.
    Host(HostFile),
    /// A file whose operations need the process table (`/proc/<pid>/mem`,
    /// `/sys/kernel/debug/gup_test`…, see `fs::kfile`).
    Kernel(KernelFile),
    /// A file of no file system (`anon_inode_getfile()`: `eventfd`, `timerfd`).
    Anon(super::anon_inodes::AnonFile),
    /// An epoll instance (an anonymous inode, `[eventpoll]`).
    Epoll(EventPoll),
}

#[derive(Debug)]
struct FileState {
    /// `f_pos` (for directories: the `readdir` position).
    pos: u64,
    /// `f_flags`: access mode and status flags.
    flags: u32,
}

/// An open file description. Shared through `Arc` by every descriptor `dup`ed or
/// inherited from it, and by every mapping made from it (`vma->vm_file`: it implements
/// [`MappedFile`]).
#[derive(Debug)]
pub struct OpenFile {
    target: FileTarget,
    readable: bool,
    writable: bool,
    state: Mutex<FileState>,
    /// The path it was opened by (`f_path`, shown for its mappings).
    path: Vec<u8>,
    /// `f_mapping`: the page cache of a regular file.
    mapping: Option<Arc<AddressSpace>>,
    /// `f_op` of a VFS file (`inode->i_fop`); the other targets carry their own.
    inode_fop: &'static dyn FileOperations,
}

/// A function that copies file bytes out to user memory: given the bytes, it returns how
/// many it copied, or an error (`EFAULT`) if it copied none.
pub type Sink<'a> = dyn FnMut(&[u8]) -> KResult<usize> + 'a;
/// A function that fills a buffer from user memory: `(offset in the user buffer, buf)`.
pub type Source<'a> = dyn FnMut(usize, &mut [u8]) -> KResult<()> + 'a;

impl OpenFile {
    /// An open file description for `target`, with `flags` (access mode and status flags
    /// as given to `open`; creation flags are dropped).
    pub fn new(target: FileTarget, flags: u32) -> Arc<OpenFile> {
        Self::new_named(target, flags, Vec::new())
    }

    /// [`OpenFile::new`] with the path the file was opened by (what `/proc/<pid>/maps`
    /// shows for mappings of it).
    pub fn new_named(target: FileTarget, flags: u32, path: Vec<u8>) -> Arc<OpenFile> {
        let path_only = flags & O_PATH != 0;
        let acc = flags & O_ACCMODE;
        let keep = O_ACCMODE | O_PATH | SETFL_MASK | super::O_LARGEFILE | super::O_SYNC;
        let (mapping, inode_fop) = match &target {
            FileTarget::Inode(i) => {
                let g = i.lock();
                let mapping = match &g.body {
                    Body::Regular(store) => store.address_space(),
                    _ => None,
                };
                (mapping, inode_fops(&g.body))
            }
            _ => (None, &NoFileOps as &'static dyn FileOperations),
        };
        Arc::new(OpenFile {
            target,
            readable: !path_only && (acc == O_RDONLY || acc == O_RDWR),
            writable: !path_only && (acc == O_WRONLY || acc == O_RDWR),
            state: Mutex::new(FileState {
                pos: 0,
                flags: flags & keep,
            }),
            path,
            mapping,
            inode_fop,
        })
    }

    /// The description's position and flags under `f_pos_lock` (counted in
    /// [`crate::lockstat::F_POS_LOCK`]).
    fn f_pos_lock(&self) -> crate::sync::MutexGuard<'_, FileState> {
        // The scheduling point a plain acquisition makes (sync.rs), kept.
        crate::sync::sched_point();
        crate::lockstat::F_POS_LOCK.acquire(|| self.state.try_lock(), || self.state.lock())
    }

    /// `file->f_op`: the operations (and per-open state) of what the description refers
    /// to.
    pub fn f_op(&self) -> &dyn FileOperations {
        match &self.target {
            FileTarget::Inode(_) => self.inode_fop,
            FileTarget::Pipe(end) => end,
            FileTarget::Host(host) => host,
            FileTarget::Kernel(k) => k.f_op(),
            FileTarget::Anon(a) => a.f_op(),
            FileTarget::Epoll(ep) => ep,
        }
    }

    /// The hugetlbfs operations of a `MFD_HUGETLB` memfd (`is_file_hugepages()`), with
    /// its object.
    pub fn hugetlbfs(&self) -> Option<&super::hugetlbfs::HugetlbfsFile> {
        match &self.target {
            FileTarget::Anon(a) => a.private_ref::<super::hugetlbfs::HugetlbfsFile>(),
            _ => None,
        }
    }

    /// The path the file was opened by (empty if unknown).
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// The page cache of a regular file (`file->f_mapping`).
    pub fn mapping(&self) -> Option<&Arc<AddressSpace>> {
        self.mapping.as_ref()
    }

    /// `vfs_fsync()` (`fsync`, `fdatasync`): writes the file's dirty pages back, D bits of
    /// its shared mappings included. Other files have nothing to write.
    ///
    /// # Errors
    /// `EINVAL` for pipes and host streams (no `->fsync`); a writeback error.
    pub fn fsync(&self) -> KResult<()> {
        match (&self.target, &self.mapping) {
            (_, Some(m)) => m.writeback_range(0, u64::MAX),
            (FileTarget::Inode(_), None) => Ok(()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `vfs_fallocate()` → `shmem_fallocate()`: `mode` 0 allocates `[offset, offset+len)`
    /// and extends the file, `FALLOC_FL_KEEP_SIZE` allocates without extending,
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` frees the range (it reads as zeros and
    /// is unmapped from every mapping).
    ///
    /// # Errors
    /// `EINVAL` for a negative offset or a length `<= 0`; `EOPNOTSUPP` for other modes
    /// (`COLLAPSE_RANGE`, `ZERO_RANGE`, …) or `PUNCH_HOLE` without `KEEP_SIZE`; `EBADF`
    /// unless open for writing; `ESPIPE` for a pipe; `EISDIR`; `ENODEV` for anything but
    /// a regular file; `EFBIG` past `MAX_LFS_FILESIZE`; `ENOSPC`.
    pub fn fallocate(&self, vfs: &Vfs, mode: u32, offset: i64, len: i64) -> KResult<()> {
        if offset < 0 || len <= 0 {
            return Err(Errno::EINVAL);
        }
        const SUPPORTED_MASK: u32 = FALLOC_FL_KEEP_SIZE | FALLOC_FL_MODE_MASK;
        if mode & !SUPPORTED_MASK != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        match mode & FALLOC_FL_MODE_MASK {
            FALLOC_FL_ALLOCATE_RANGE | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_ZERO_RANGE => {}
            FALLOC_FL_PUNCH_HOLE => {
                if mode & FALLOC_FL_KEEP_SIZE == 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
            }
            FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE => {
                if mode & FALLOC_FL_KEEP_SIZE != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
            }
            _ => return Err(Errno::EOPNOTSUPP),
        }
        if !self.writable {
            return Err(Errno::EBADF);
        }
        let inode = match &self.target {
            FileTarget::Pipe(_) => return Err(Errno::ESPIPE),
            FileTarget::Host(_) | FileTarget::Epoll(_) => return Err(Errno::ENODEV),
            // A regular file to the VFS, without a ->fallocate operation.
            FileTarget::Kernel(_) => return Err(Errno::EOPNOTSUPP),
            // hugetlbfs_fallocate(): allocation only (no hole punching here).
            FileTarget::Anon(_) => {
                let h = self.hugetlbfs().ok_or(Errno::EOPNOTSUPP)?;
                if mode & FALLOC_FL_MODE_MASK != FALLOC_FL_ALLOCATE_RANGE {
                    return Err(Errno::EOPNOTSUPP);
                }
                let keep = mode & FALLOC_FL_KEEP_SIZE != 0;
                return h.fallocate(offset as u64, len as u64, keep);
            }
            FileTarget::Inode(i) => i,
        };
        match inode.file_type() {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            FileType::Fifo => return Err(Errno::ESPIPE),
            _ => return Err(Errno::ENODEV),
        }
        let (offset, len) = (offset as u64, len as u64);
        if offset
            .checked_add(len)
            .is_none_or(|e| e > super::inode::MAX_LFS_FILESIZE)
        {
            return Err(Errno::EFBIG);
        }
        // shmem_fallocate() supports only these two.
        let keep = mode & FALLOC_FL_KEEP_SIZE != 0;
        let now = vfs.now();
        let mut g = inode.lock();
        let Body::Regular(store) = &mut g.body else {
            return Err(Errno::ENODEV);
        };
        match mode & !FALLOC_FL_KEEP_SIZE {
            FALLOC_FL_ALLOCATE_RANGE => store.allocate(offset, len, keep)?,
            FALLOC_FL_PUNCH_HOLE => store.punch_hole(offset, len)?,
            _ => return Err(Errno::EOPNOTSUPP),
        }
        g.mtime = now;
        g.ctime = now;
        Ok(())
    }

    /// Descriptor for a host stream: stdin read-only, stdout/stderr write-only.
    pub fn host(streams: &Arc<HostStreams>, which: StdStream) -> Arc<OpenFile> {
        let acc = if which == StdStream::Stdin {
            O_RDONLY
        } else {
            O_WRONLY
        };
        Self::new(
            FileTarget::Host(HostFile::new(Arc::clone(streams), which)),
            acc | super::O_LARGEFILE,
        )
    }

    /// What the description refers to.
    pub fn target(&self) -> &FileTarget {
        &self.target
    }

    /// The inode, for VFS files.
    pub fn inode(&self) -> Option<&Arc<Inode>> {
        match &self.target {
            FileTarget::Inode(i) => Some(i),
            FileTarget::Kernel(k) => Some(k.inode()),
            _ => None,
        }
    }

    /// `true` if opened with `O_PATH`.
    pub fn is_path_only(&self) -> bool {
        self.flags() & O_PATH != 0
    }

    /// `f_flags`: what `F_GETFL` returns.
    pub fn flags(&self) -> u32 {
        self.f_pos_lock().flags
    }

    /// `F_SETFL`: replaces the `SETFL_MASK` bits (`O_APPEND|O_NONBLOCK|O_DIRECT|O_NOATIME|O_ASYNC`) with those of `flags`.
    pub fn set_status_flags(&self, flags: u32) {
        let mut s = self.f_pos_lock();
        s.flags = (s.flags & !SETFL_MASK) | (flags & SETFL_MASK);
    }

    /// The current offset.
    pub fn pos(&self) -> u64 {
        self.f_pos_lock().pos
    }

    /// Whether the description is open for reading / writing.
    pub fn access(&self) -> (bool, bool) {
        (self.readable, self.writable)
    }

    /// `true` if the file has no position (`FMODE_STREAM`, `FMODE_PREAD` unset): pipes,
    /// host streams, `gup_test`.
    pub fn is_stream(&self) -> bool {
        self.f_op().is_stream()
    }

    /// The epoll instance this describes, if it is one (`is_file_epoll()`).
    pub fn epoll(&self) -> Option<&EventPoll> {
        match &self.target {
            FileTarget::Epoll(ep) => Some(ep),
            _ => None,
        }
    }

    /// The kernel-served file this describes, if it is one.
    pub fn kernel_file(&self) -> Option<&KernelFile> {
        match &self.target {
            FileTarget::Kernel(k) => Some(k),
            _ => None,
        }
    }

    /// The checks `vfs_read()` (or `vfs_write()` when `write`) makes before anything
    /// else: open for it (`FMODE_READ`/`FMODE_WRITE`, else `EBADF`) and a file that has
    /// the operation (`FMODE_CAN_READ`/`FMODE_CAN_WRITE`, else `EINVAL`).
    ///
    /// # Errors
    /// `EBADF`, `EINVAL`.
    pub fn may_access(&self, write: bool) -> KResult<()> {
        let op = self.f_op();
        let (open, can) = if write {
            (self.writable, op.can_write())
        } else {
            (self.readable, op.can_read())
        };
        if !open {
            return Err(Errno::EBADF);
        }
        if !can {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `rw_verify_area()` for `count` bytes at `at` (or the file position): nothing to
    /// check for a stream; a file with `FMODE_UNSIGNED_OFFSET` takes any position whose
    /// range does not wrap to 0 (`EOVERFLOW`); the others refuse negative positions and
    /// ranges that overflow `loff_t` (`EINVAL`).
    ///
    /// # Errors
    /// `EINVAL`, `EOVERFLOW`.
    pub fn rw_verify_area(&self, at: Option<u64>, count: usize) -> KResult<()> {
        verify_area(self.f_op(), at.unwrap_or_else(|| self.pos()), count)
    }

    /// `vfs_read()`: reads up to `len` bytes (clamped to `MAX_RW_COUNT`) to the caller's
    /// memory at `buf` with the file's `read`, at the file position (advancing it) or,
    /// for `pread`, at `at` (leaving it).
    ///
    /// # Errors
    /// `EBADF` if not open for reading, `EINVAL` for a file without `read`
    /// ([`OpenFile::may_access`]); `rw_verify_area()`'s; the file's (`EISDIR` for a
    /// directory, would-block outcomes of a pipe,
    /// `EFAULT` if nothing could be copied).
    pub fn read(
        &self,
        ctx: &mut FileCtx<'_, '_>,
        at: Option<u64>,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        self.may_access(false)?;
        let len = len.min(MAX_RW_COUNT);
        let op = self.f_op();
        let mut st = self.f_pos_lock();
        let mut iocb = Kiocb {
            pos: at.unwrap_or(st.pos),
            flags: st.flags,
        };
        verify_area(op, iocb.pos, len)?;
        let r = op.read(self, ctx, &mut iocb, buf, len);
        if at.is_none() && !op.is_stream() {
            st.pos = iocb.pos;
        }
        r
    }

    /// `vfs_write()`: writes `len` bytes (clamped to `MAX_RW_COUNT`) of `src` with the
    /// file's `write`, at the file position (or the end with `O_APPEND`, also for
    /// `pwrite`, as Linux does) or at `at`.
    ///
    /// # Errors
    /// `EBADF` if not open for writing, `EINVAL` for a file without `write`
    /// ([`OpenFile::may_access`]); `rw_verify_area()`'s; the file's (`EPIPE` without
    /// pipe readers: the caller raises `SIGPIPE`; `EFBIG`, `ENOSPC`; would-block outcomes;
    /// `EFAULT` if nothing could be copied).
    pub fn write(
        &self,
        ctx: &mut FileCtx<'_, '_>,
        at: Option<u64>,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        self.may_access(true)?;
        let len = len.min(MAX_RW_COUNT);
        let op = self.f_op();
        let mut st = self.f_pos_lock();
        let mut iocb = Kiocb {
            pos: at.unwrap_or(st.pos),
            flags: st.flags,
        };
        verify_area(op, iocb.pos, len)?;
        let r = op.write(self, ctx, &mut iocb, src, len);
        if at.is_none() && !op.is_stream() {
            st.pos = iocb.pos;
        }
        r
    }

    /// `ksys_lseek()` + `vfs_llseek()`: the file's `llseek` from the current position.
    ///
    /// # Errors
    /// `EBADF` for an `O_PATH` descriptor; `EINVAL` for a `whence` above `SEEK_HOLE`; the
    /// file's (`ESPIPE` without `llseek`, `EINVAL` for a negative result, `ENXIO` for
    /// `SEEK_DATA`/`SEEK_HOLE` at or past the end).
    pub fn seek(&self, offset: i64, whence: u32) -> KResult<u64> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        if whence > SEEK_HOLE {
            return Err(Errno::EINVAL);
        }
        let op = self.f_op();
        let mut st = self.f_pos_lock();
        let new = op.llseek(self, offset, whence, st.pos)?;
        st.pos = new;
        Ok(new)
    }

    /// `vfs_ioctl()`: the file's `unlocked_ioctl` (the commands `do_vfs_ioctl()` serves
    /// for every file are the caller's).
    ///
    /// # Errors
    /// The command's; `ENOTTY` for a file without `ioctl`.
    pub fn ioctl(&self, ctx: &mut FileCtx<'_, '_>, cmd: u32, arg: u64) -> KResult<u64> {
        self.f_op().unlocked_ioctl(self, ctx, cmd, arg)
    }

    /// `vfs_poll()`: the events ready on the file now.
    pub fn poll(&self) -> PollMask {
        self.f_op().poll(self)
    }

    /// The character device this description opened, if it is one (not through
    /// `O_PATH`).
    pub fn char_dev(&self) -> Option<super::CharDev> {
        match &self.target {
            FileTarget::Inode(i) if !self.is_path_only() => match &i.lock().body {
                Body::CharDev(d) => Some(*d),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether a blocked `read` (`reading`) or `write` of this file may go on
    /// ([`FileOperations::io_ready`]).
    pub fn io_ready(&self, reading: bool) -> bool {
        self.f_op().io_ready(self, reading)
    }

    /// `vfs_poll()`'s registration half: the wait queues a caller blocked on this file
    /// sleeps on go into `pt` (see [`FileOperations::poll_wait`]).
    pub fn poll_wait(&self, pt: &mut super::PollTable) {
        self.f_op().poll_wait(self, pt);
    }

    /// `do_ftruncate` on this description.
    ///
    /// # Errors
    /// `EINVAL` unless a regular file open for writing; `EFBIG` beyond the maximum size.
    pub fn truncate(&self, vfs: &Vfs, len: u64) -> KResult<()> {
        if let Some(h) = self.hugetlbfs() {
            if !self.writable {
                return Err(Errno::EINVAL);
            }
            return h.inode().truncate(len);
        }
        let Some(inode) = self.inode() else {
            return Err(Errno::EINVAL);
        };
        if !self.writable || inode.file_type() != FileType::Regular {
            return Err(Errno::EINVAL);
        }
        truncate_inode(vfs, inode, len)
    }

    /// `iterate_dir` into a buffer of `capacity` bytes, handing the records to `commit`
    /// (which copies them to user memory); the position advances only if it succeeds.
    /// Returns the number of bytes committed (0 at the end of the directory).
    ///
    /// # Errors
    /// `ENOTDIR` unless a directory; `EBADF` for an `O_PATH` descriptor; `EINVAL` if not
    /// even one record fits; `ENOENT` for a removed directory; `commit`'s error.
    pub fn getdents(
        &self,
        vfs: &Vfs,
        capacity: usize,
        commit: &mut dyn FnMut(&[u8]) -> KResult<()>,
    ) -> KResult<usize> {
        let FileTarget::Inode(inode) = &self.target else {
            return Err(Errno::ENOTDIR);
        };
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        if !inode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut st = self.f_pos_lock();
        let mut w = DirentWriter::new(capacity);
        let new_pos = vfs.readdir(inode, st.pos, &mut w)?;
        if w.bytes().is_empty() {
            if has_entry_at(vfs, inode, st.pos) {
                return Err(Errno::EINVAL);
            }
            return Ok(0);
        }
        commit(w.bytes())?;
        st.pos = new_pos;
        Ok(w.bytes().len())
    }

    /// `vfs_getattr` for whatever this description refers to.
    pub fn stat(&self, vfs: &Vfs) -> Kstat {
        match &self.target {
            FileTarget::Inode(i) => vfs.stat(i),
            FileTarget::Kernel(k) => vfs.stat(k.inode()),
            FileTarget::Pipe(end) => pseudo_stat(
                PIPEFS_DEV,
                end.pipe().id(),
                S_IFIFO | 0o600,
                end.pipe().created(),
            ),
            // anon_inode_mkinode(): a 0600 inode of no file type, owned by root.
            FileTarget::Anon(_) => Kstat {
                dev: super::anon_inodes::ANON_INODEFS_DEV,
                ino: super::anon_inodes::ANON_INODE_INO,
                mode: 0o600,
                nlink: 1,
                blksize: 4096,
                ..Kstat::default()
            },
            FileTarget::Host(host) => {
                let (streams, which) = (host.streams(), &host.which());
                let tty = streams.is_terminal(*which);
                let t = vfs.now();
                Kstat {
                    dev: HOST_STDIO_DEV,
                    ino: *which as u64 + 1,
                    mode: if tty {
                        S_IFCHR | 0o620
                    } else {
                        S_IFIFO | 0o600
                    },
                    nlink: 1,
                    rdev: if tty { (PTS_MAJOR, 0) } else { (0, 0) },
                    blksize: if tty { 1024 } else { 4096 },
                    atime: t,
                    mtime: t,
                    ctime: t,
                    btime: t,
                    ..Kstat::default()
                }
            }
            // The anonymous inode all such files share (`anon_inode_inode`): no type
            // bits, mode 0600.
            FileTarget::Epoll(_) => pseudo_stat(ANON_INODE_DEV, 1, 0o600, vfs.now()),
        }
    }
}

/// The attributes of a file of a pseudo file system (pipefs, anon_inodefs): one link,
/// 4 KiB blocks, every time `t`.
fn pseudo_stat(dev: (u32, u32), ino: u64, mode: u32, t: Timespec) -> Kstat {
    Kstat {
        dev,
        ino,
        mode,
        nlink: 1,
        blksize: 4096,
        atime: t,
        mtime: t,
        ctime: t,
        btime: t,
        ..Kstat::default()
    }
}

/// `rw_verify_area()` of `count` bytes at `pos` for a file with operations `op`.
fn verify_area(op: &dyn FileOperations, pos: u64, count: usize) -> KResult<()> {
    if op.is_stream() {
        return Ok(());
    }
    let pos = pos as i64;
    if pos < 0 {
        if !op.unsigned_offset() {
            return Err(Errno::EINVAL);
        }
        if count as u64 >= pos.wrapping_neg() as u64 {
            return Err(Errno::EOVERFLOW);
        }
    } else if pos.checked_add(count as i64).is_none() && !op.unsigned_offset() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn checked_pos(base: u64, offset: i64) -> KResult<u64> {
    let new = i128::from(base) + i128::from(offset);
    if new < 0 || new > i128::from(i64::MAX) {
        return Err(Errno::EINVAL);
    }
    Ok(new as u64)
}

/// Whether `readdir` at `pos` has anything to return (to tell "buffer too small" from
/// "end of directory").
fn has_entry_at(vfs: &Vfs, dir: &Arc<Inode>, pos: u64) -> bool {
    let mut probe = DirentWriter::new(DirentWriter::reclen(super::NAME_MAX));
    vfs.readdir(dir, pos, &mut probe)
        .map(|_| !probe.bytes().is_empty())
        .unwrap_or(false)
}

/// `relatime_need_update` (fs/inode.c): update atime only if it is older than mtime or
/// ctime, or more than a day old.
fn touch_atime(inode: &Inode, now: Timespec) {
    let mut g = inode.lock();
    if g.atime <= g.mtime || g.atime <= g.ctime || now.sec - g.atime.sec >= 24 * 60 * 60 {
        g.atime = now;
    }
}

/// `inode->i_fop` of a VFS file: chosen by what the inode holds.
fn inode_fops(body: &Body) -> &'static dyn FileOperations {
    match body {
        Body::Regular(_) => &ShmemFile,
        Body::Dir(_) => &DirFile,
        Body::CharDev(dev) => dev.file_operations(),
        // Reached only through O_PATH descriptors.
        Body::Symlink(_) | Body::Magic(_) | Body::Kernel(_) => &NoFileOps,
    }
}

/// `shmem_file_operations`: a regular file of the in-memory file system, read and
/// written through its page store, mapped from its page cache.
#[derive(Debug)]
struct ShmemFile;

impl ShmemFile {
    fn inode(file: &OpenFile) -> KResult<&Arc<Inode>> {
        file.inode().ok_or(Errno::EBADF)
    }
}

impl FileOperations for ShmemFile {
    /// `shmem_file_read_iter()`; the access time is updated unless `O_NOATIME`
    /// (`relatime`).
    fn read(
        &self,
        file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let inode = Self::inode(file)?;
        let start = iocb.pos;
        let n = ctx.read_pieces(buf, len, &mut |done, chunk| {
            Ok(match &inode.lock().body {
                Body::Regular(store) => store.read_at(start.saturating_add(done as u64), chunk),
                _ => 0,
            })
        })?;
        if !iocb.noatime() {
            touch_atime(inode, ctx.vfs().now());
        }
        iocb.pos = start.saturating_add(n as u64);
        Ok(n)
    }

    /// `shmem_file_write_iter()`: piece by piece at the position (at the end of the file
    /// with `O_APPEND`), updating the times.
    fn write(
        &self,
        file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        let inode = Self::inode(file)?;
        let vfs = ctx.vfs();
        let append = iocb.append();
        let mut pos = iocb.pos;
        let r = ctx.write_pieces(src, len, &mut |chunk| {
            let now = vfs.now();
            let mut g = inode.lock();
            let Body::Regular(store) = &mut g.body else {
                return Ok(0);
            };
            if append {
                pos = store.len();
            }
            let wrote = store.write_at(pos, chunk)?;
            g.mtime = now;
            g.ctime = now;
            pos += wrote as u64;
            Ok(wrote)
        });
        iocb.pos = pos;
        Ok(r?)
    }

    /// `generic_file_llseek()` with `SEEK_DATA`/`SEEK_HOLE` (`shmem_file_llseek()`).
    fn llseek(&self, file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        let g = Self::inode(file)?.lock();
        let Body::Regular(store) = &g.body else {
            return Err(Errno::EBADF);
        };
        let size = store.len();
        match whence {
            SEEK_SET => checked_pos(0, offset),
            SEEK_CUR => checked_pos(pos, offset),
            SEEK_END => checked_pos(size, offset),
            SEEK_DATA | SEEK_HOLE => {
                let from = u64::try_from(offset).map_err(|_| Errno::ENXIO)?;
                if from >= size {
                    return Err(Errno::ENXIO);
                }
                if whence == SEEK_DATA {
                    store.seek_data(from).ok_or(Errno::ENXIO)
                } else {
                    Ok(store.seek_hole(from))
                }
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `shmem_mmap()`: mapped from the page cache (a store without one cannot be mapped).
    fn mmap(&self, file: &OpenFile) -> MmapOp {
        if file.mapping().is_some() {
            MmapOp::PageCache
        } else {
            MmapOp::None
        }
    }
}

/// `simple_dir_operations`: a directory is read with `getdents64`, not `read`.
#[derive(Debug)]
struct DirFile;

impl FileOperations for DirFile {
    /// `generic_read_dir()`.
    fn read(
        &self,
        _file: &OpenFile,
        _ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        _buf: u64,
        _len: usize,
    ) -> IoResult<usize> {
        Err(Errno::EISDIR.into())
    }

    /// A directory is never open for writing (`EISDIR` at open); should a write arrive,
    /// it is refused the same way.
    fn write(
        &self,
        _file: &OpenFile,
        _ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        _src: WriteSource<'_>,
        _len: usize,
    ) -> IoResult<usize> {
        Err(Errno::EISDIR.into())
    }

    /// `offset_dir_llseek()`: `SEEK_SET` and `SEEK_CUR` over the `readdir` positions.
    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        match whence {
            SEEK_SET => checked_pos(0, offset),
            SEEK_CUR => checked_pos(pos, offset),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// `fput()` of the last reference: the file's `release`, then its state is dropped.
impl Drop for OpenFile {
    fn drop(&mut self) {
        self.f_op().release(self);
    }
}

/// `do_truncate` on an inode: sets the size and the times.
pub(crate) fn truncate_inode(vfs: &Vfs, inode: &Inode, len: u64) -> KResult<()> {
    let now = vfs.now();
    let mut g = inode.lock();
    match &mut g.body {
        Body::Regular(store) => store.set_len(len)?,
        // A kernel-served file has no data to truncate: its ->setattr (debugfs's
        // simple_setattr(), procfs's proc_setattr()) accepts the size and changes nothing.
        Body::Kernel(_) => {}
        Body::Dir(_) => return Err(Errno::EISDIR),
        _ => return Err(Errno::EINVAL),
    }
    g.mtime = now;
    g.ctime = now;
    Ok(())
}

/// `vma->vm_file`: a mapping keeps its open file description, and through it the file.
impl MappedFile for OpenFile {
    fn inode_id(&self) -> u64 {
        match &self.target {
            FileTarget::Inode(i) => i.ino(),
            FileTarget::Pipe(end) => end.pipe().id(),
            FileTarget::Host(host) => host.which() as u64,
            FileTarget::Kernel(k) => k.inode().ino(),
            FileTarget::Anon(_) => match self.hugetlbfs() {
                Some(h) => h.inode().inode_id(),
                None => super::anon_inodes::ANON_INODE_INO,
            },
            FileTarget::Epoll(ep) => std::ptr::from_ref(ep) as u64,
        }
    }

    fn hugetlb(&self) -> Option<&crate::mm::hugetlb::HugetlbFile> {
        self.hugetlbfs().map(|h| h.inode())
    }

    fn path(&self) -> Vec<u8> {
        self.path.clone()
    }

    fn is_shmem(&self) -> bool {
        matches!(&self.target, FileTarget::Inode(i) if i.is_shmem())
    }

    /// `shm_mnt`'s anonymous device `00:01` for its files (memfds, shared anonymous
    /// memory); `00:00` for the rest.
    fn dev(&self) -> (u32, u32) {
        match &self.target {
            FileTarget::Inode(i) if i.sb() == super::mount::SuperBlock::ShmMnt => (0, 1),
            _ => (0, 0),
        }
    }

    fn f_mode(&self) -> FMode {
        FMode {
            read: self.readable,
            write: self.writable,
        }
    }

    fn mmap_op(&self) -> MmapOp {
        self.f_op().mmap(self)
    }

    fn size(&self) -> u64 {
        self.mapping.as_ref().map_or(0, |m| m.size())
    }

    fn fault(&self, index: u64, may_write: bool) -> Result<Pfn, VmFault> {
        self.mapping
            .as_ref()
            .ok_or(VmFault::SIGBUS)?
            .fault(index, may_write)
    }

    fn i_mmap_link(&self, mm: &Arc<MmRmap>) {
        if let Some(m) = &self.mapping {
            m.link_mm(mm);
        }
    }

    fn fsync_range(&self, start: u64, end: u64) -> KResult<()> {
        self.mapping
            .as_ref()
            .map_or(Ok(()), |m| m.fsync_range(start, end))
    }

    fn punch_hole(&self, offset: u64, len: u64) -> KResult<()> {
        self.mapping
            .as_ref()
            .ok_or(Errno::EOPNOTSUPP)?
            .punch_hole(offset, len)
    }
}
