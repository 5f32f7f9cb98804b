//! Open file descriptions (`struct file`): the object a descriptor points at, holding the
//! offset and status flags that `dup`, `fork` and `F_DUPFD` share, and the read, write,
//! seek and truncate operations for each kind of file (`f_op`).
//!
//! Data moves between the file and user memory in chunks of at most [`CHUNK`] bytes
//! through caller-supplied copy functions, so a guest asking for a 2 GiB read never makes
//! the host allocate 2 GiB, and a fault part-way returns the bytes done so far, as Linux
//! does.

use std::sync::{Arc, Mutex};

use super::dev::CharDev;
use super::inode::{Body, FileType, Inode, Timespec};
use super::kfile::KernelFile;
use super::pagecache::AddressSpace;
use super::pipe::PipeEnd;
use super::stat::{DirentWriter, Kstat};
use super::stdio::{HostStreams, StdStream};
use super::vfs::Vfs;
use super::{
    lock, IoResult, O_ACCMODE, O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME, O_NONBLOCK, O_PATH,
    O_RDONLY, O_RDWR, O_WRONLY, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET, S_IFCHR,
    S_IFIFO,
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
    Host(Arc<HostStreams>, StdStream),
    /// A file whose read, write, seek and ioctl the kernel serves (`/proc/<pid>/mem`,
    /// `/sys/kernel/debug/gup_test`…, see `fs::kfile`).
    Kernel(KernelFile),
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
        let mapping = match &target {
            FileTarget::Inode(i) => match &i.lock().body {
                Body::Regular(store) => store.address_space(),
                _ => None,
            },
            _ => None,
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
        })
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
            FileTarget::Host(..) => return Err(Errno::ENODEV),
            // A regular file to the VFS, without a ->fallocate operation.
            FileTarget::Kernel(_) => return Err(Errno::EOPNOTSUPP),
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
            FileTarget::Host(Arc::clone(streams), which),
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
        lock(&self.state).flags
    }

    /// `F_SETFL`: replaces the `SETFL_MASK` bits (`O_APPEND|O_NONBLOCK|O_DIRECT|O_NOATIME|O_ASYNC`) with those of `flags`.
    pub fn set_status_flags(&self, flags: u32) {
        let mut s = lock(&self.state);
        s.flags = (s.flags & !SETFL_MASK) | (flags & SETFL_MASK);
    }

    /// The current offset.
    pub fn pos(&self) -> u64 {
        lock(&self.state).pos
    }

    /// Whether the description is open for reading / writing.
    pub fn access(&self) -> (bool, bool) {
        (self.readable, self.writable)
    }

    /// `true` if the file has no seekable offset (`FMODE_PREAD` unset): pipes and host
    /// streams.
    pub fn is_stream(&self) -> bool {
        !matches!(self.target, FileTarget::Inode(_) | FileTarget::Kernel(_))
    }

    /// The kernel-served file this describes, if it is one.
    pub fn kernel_file(&self) -> Option<&KernelFile> {
        match &self.target {
            FileTarget::Kernel(k) => Some(k),
            _ => None,
        }
    }

    /// Sets the offset (`f_pos`), for the kernel's own `read`/`write`/`lseek` of a
    /// kernel-served file.
    pub fn set_pos(&self, pos: u64) {
        lock(&self.state).pos = pos;
    }

    /// `vfs_read`: reads up to `len` bytes at the file offset (advancing it) or, for
    /// `pread`, at `at` (leaving it), passing them to `sink` chunk by chunk.
    ///
    /// # Errors
    /// `EBADF` if not open for reading; `EISDIR` for a directory; `EINVAL` for a
    /// symlink; pipe outcomes ([`super::IoError::WouldBlock`], `EAGAIN`); the sink's error if
    /// nothing was copied.
    pub fn read(
        &self,
        vfs: &Vfs,
        at: Option<u64>,
        len: usize,
        sink: &mut Sink<'_>,
    ) -> IoResult<usize> {
        if !self.readable {
            return Err(Errno::EBADF.into());
        }
        let len = len.min(MAX_RW_COUNT);
        let mut st = lock(&self.state);
        let nonblock = st.flags & O_NONBLOCK != 0;
        match &self.target {
            FileTarget::Pipe(end) => end.pipe().read_with(len, nonblock, sink),
            // Served by the kernel before the file system sees the call.
            FileTarget::Kernel(_) => Err(Errno::EIO.into()),
            FileTarget::Host(streams, _) => {
                let mut buf = vec![0u8; len.min(CHUNK)];
                let n = streams.read_stdin(&mut buf)?;
                Ok(sink(buf.get(..n).unwrap_or_default())?)
            }
            FileTarget::Inode(inode) => {
                let start = at.unwrap_or(st.pos);
                let n = read_inode(vfs, inode, start, len, st.flags & O_NOATIME != 0, sink)?;
                if at.is_none() {
                    st.pos = start.saturating_add(n as u64);
                }
                Ok(n)
            }
        }
    }

    /// `vfs_write`: writes `len` bytes fetched from `source` at the file offset (or the
    /// end with `O_APPEND`, also for `pwrite`, as Linux does) or at `at`.
    ///
    /// # Errors
    /// `EBADF` if not open for writing; `EPIPE` without pipe readers (the caller raises
    /// `SIGPIPE`); `EFBIG`, `ENOSPC`; pipe outcomes; the source's error if nothing was
    /// written.
    pub fn write(
        &self,
        vfs: &Vfs,
        at: Option<u64>,
        len: usize,
        source: &mut Source<'_>,
    ) -> IoResult<usize> {
        if !self.writable {
            return Err(Errno::EBADF.into());
        }
        let len = len.min(MAX_RW_COUNT);
        let mut st = lock(&self.state);
        let nonblock = st.flags & O_NONBLOCK != 0;
        match &self.target {
            FileTarget::Pipe(end) => write_pipe(end, len, nonblock, source),
            FileTarget::Kernel(_) => Err(Errno::EIO.into()),
            FileTarget::Host(streams, which) => {
                let mut done = 0;
                while done < len {
                    let mut buf = vec![0u8; (len - done).min(CHUNK)];
                    if let Err(e) = source(done, &mut buf) {
                        return partial(done, e);
                    }
                    if let Err(e) = streams.write_out(*which, &buf) {
                        return partial(done, e);
                    }
                    done += buf.len();
                }
                Ok(done)
            }
            FileTarget::Inode(inode) => {
                let append = st.flags & O_APPEND != 0;
                let start = at.unwrap_or(st.pos);
                let (n, end) = write_inode(vfs, inode, start, append, len, source)?;
                if at.is_none() {
                    st.pos = end;
                }
                Ok(n)
            }
        }
    }

    /// `vfs_llseek`: `generic_file_llseek` for regular files (with `SEEK_DATA`/
    /// `SEEK_HOLE`), `offset_dir_llseek` for directories (`SEEK_SET`/`SEEK_CUR`),
    /// `null_lseek` (always 0) for `/dev/null` and `noop_llseek` for the other devices.
    ///
    /// # Errors
    /// `ESPIPE` for pipes and host streams; `EINVAL` for a bad `whence` or a negative
    /// result; `ENXIO` for `SEEK_DATA`/`SEEK_HOLE` at or past the end.
    pub fn seek(&self, offset: i64, whence: u32) -> KResult<u64> {
        let inode = match &self.target {
            FileTarget::Inode(inode) => inode,
            FileTarget::Kernel(_) => return Err(Errno::EIO),
            _ => return Err(Errno::ESPIPE),
        };
        if whence > SEEK_HOLE {
            return Err(Errno::EINVAL);
        }
        let mut st = lock(&self.state);
        let g = inode.lock();
        let new = match &g.body {
            Body::CharDev(CharDev::Null) => 0,
            Body::CharDev(_) => st.pos,
            Body::Dir(_) => match whence {
                SEEK_SET => checked_pos(0, offset)?,
                SEEK_CUR => checked_pos(st.pos, offset)?,
                _ => return Err(Errno::EINVAL),
            },
            Body::Regular(store) => {
                let size = store.len();
                match whence {
                    SEEK_SET => checked_pos(0, offset)?,
                    SEEK_CUR => checked_pos(st.pos, offset)?,
                    SEEK_END => checked_pos(size, offset)?,
                    SEEK_DATA | SEEK_HOLE => {
                        let from = u64::try_from(offset).map_err(|_| Errno::ENXIO)?;
                        if from >= size {
                            return Err(Errno::ENXIO);
                        }
                        if whence == SEEK_DATA {
                            store.seek_data(from).ok_or(Errno::ENXIO)?
                        } else {
                            store.seek_hole(from)
                        }
                    }
                    _ => return Err(Errno::EINVAL),
                }
            }
            Body::Symlink(_) | Body::Magic(_) | Body::Kernel(_) => return Err(Errno::EBADF),
        };
        drop(g);
        st.pos = new;
        Ok(new)
    }

    /// `do_ftruncate` on this description.
    ///
    /// # Errors
    /// `EINVAL` unless a regular file open for writing; `EFBIG` beyond the maximum size.
    pub fn truncate(&self, vfs: &Vfs, len: u64) -> KResult<()> {
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
        let mut st = lock(&self.state);
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
            FileTarget::Pipe(end) => {
                let t = end.pipe().created();
                Kstat {
                    dev: PIPEFS_DEV,
                    ino: end.pipe().id(),
                    mode: S_IFIFO | 0o600,
                    nlink: 1,
                    blksize: 4096,
                    atime: t,
                    mtime: t,
                    ctime: t,
                    btime: t,
                    ..Kstat::default()
                }
            }
            FileTarget::Host(streams, which) => {
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
        }
    }
}

/// A short count if anything was done, else the error.
fn partial(done: usize, e: Errno) -> IoResult<usize> {
    if done > 0 {
        Ok(done)
    } else {
        Err(e.into())
    }
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

fn read_inode(
    vfs: &Vfs,
    inode: &Arc<Inode>,
    start: u64,
    len: usize,
    noatime: bool,
    sink: &mut Sink<'_>,
) -> IoResult<usize> {
    let dev = match &inode.lock().body {
        Body::Regular(_) => None,
        Body::CharDev(d) => Some(*d),
        Body::Dir(_) => return Err(Errno::EISDIR.into()),
        // No read operation (vfs_read() without FMODE_CAN_READ).
        Body::Symlink(_) | Body::Magic(_) | Body::Kernel(_) => return Err(Errno::EINVAL.into()),
    };
    let mut done = 0usize;
    let mut buf = vec![0u8; len.min(CHUNK)];
    while done < len {
        let want = (len - done).min(CHUNK);
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let got = match dev {
            Some(CharDev::Null) => 0,
            Some(CharDev::Zero) => {
                chunk.fill(0);
                want
            }
            Some(CharDev::Urandom) => {
                vfs.fill_random(chunk);
                want
            }
            None => match &inode.lock().body {
                Body::Regular(store) => store.read_at(start.saturating_add(done as u64), chunk),
                _ => 0,
            },
        };
        if got == 0 {
            break;
        }
        let copied = match sink(chunk.get(..got).unwrap_or_default()) {
            Ok(c) => c.min(got),
            Err(e) => return partial(done, e),
        };
        done += copied;
        if copied < got {
            break;
        }
    }
    if dev.is_none() && !noatime {
        touch_atime(inode, vfs.now());
    }
    Ok(done)
}

/// Returns (bytes written, file offset after the write).
fn write_inode(
    vfs: &Vfs,
    inode: &Arc<Inode>,
    start: u64,
    append: bool,
    len: usize,
    source: &mut Source<'_>,
) -> IoResult<(usize, u64)> {
    match &inode.lock().body {
        Body::Regular(_) => {}
        // write_null / write_zero / random_write_iter: accept and discard.
        Body::CharDev(_) => return Ok((len, start)),
        Body::Dir(_) => return Err(Errno::EISDIR.into()),
        // No write operation (vfs_write() without FMODE_CAN_WRITE).
        Body::Symlink(_) | Body::Magic(_) | Body::Kernel(_) => return Err(Errno::EINVAL.into()),
    }
    let mut done = 0usize;
    let mut pos = start;
    let mut buf = vec![0u8; len.min(CHUNK)];
    while done < len {
        let want = (len - done).min(CHUNK);
        let chunk = buf.get_mut(..want).unwrap_or_default();
        if let Err(e) = source(done, chunk) {
            return partial(done, e).map(|n| (n, pos));
        }
        let now = vfs.now();
        let mut g = inode.lock();
        let Body::Regular(store) = &mut g.body else {
            break;
        };
        if append {
            pos = store.len();
        }
        let wrote = match store.write_at(pos, chunk) {
            Ok(n) => n,
            Err(e) => {
                drop(g);
                return partial(done, e).map(|n| (n, pos));
            }
        };
        g.mtime = now;
        g.ctime = now;
        drop(g);
        done += wrote;
        pos += wrote as u64;
        if wrote < want {
            break;
        }
    }
    Ok((done, pos))
}

fn write_pipe(
    end: &PipeEnd,
    len: usize,
    nonblock: bool,
    source: &mut Source<'_>,
) -> IoResult<usize> {
    end.pipe().write_with(len, nonblock, source)
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
            FileTarget::Host(_, which) => *which as u64,
            FileTarget::Kernel(k) => k.inode().ino(),
        }
    }

    fn path(&self) -> Vec<u8> {
        self.path.clone()
    }

    fn f_mode(&self) -> FMode {
        FMode {
            read: self.readable,
            write: self.writable,
        }
    }

    fn mmap_op(&self) -> MmapOp {
        if self.mapping.is_some() {
            return MmapOp::PageCache;
        }
        match &self.target {
            FileTarget::Inode(i) if matches!(i.lock().body, Body::CharDev(CharDev::Zero)) => {
                MmapOp::AnonZero
            }
            _ => MmapOp::None,
        }
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
