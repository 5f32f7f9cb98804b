//! Inodes: metadata, regular-file storage behind the [`FileStore`] seam, directories and
//! links.
//!
//! A regular file's bytes live in a [`FileStore`]. [`PageStore`], a sparse map of 4 KiB
//! pages on the host heap, is the backing store (the "disk"); with guest RAM available the
//! inode holds a [`super::pagecache::CachedFile`] instead, the page cache in guest frames
//! in front of a `PageStore`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::sync::{Mutex, MutexGuard};

use super::dev::CharDev;
use super::kfile::KernelNode;
use super::mount::SuperBlock;
use super::{dt, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG};
use crate::errno::{Errno, KResult};

/// A point in time: seconds and nanoseconds since the Unix epoch (`struct timespec64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timespec {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nsec: u32,
}

/// The type of an inode, fixed at creation (`S_IFMT` of `i_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A character device.
    CharDev,
    /// A symbolic link.
    Symlink,
    /// A FIFO (only anonymous pipes exist; they are not in the tree).
    Fifo,
}

impl FileType {
    /// The `S_IF*` bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => S_IFREG,
            FileType::Directory => S_IFDIR,
            FileType::CharDev => S_IFCHR,
            FileType::Symlink => S_IFLNK,
            FileType::Fifo => S_IFIFO,
        }
    }

    /// The `d_type` of a directory entry.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => dt::DT_REG,
            FileType::Directory => dt::DT_DIR,
            FileType::CharDev => dt::DT_CHR,
            FileType::Symlink => dt::DT_LNK,
            FileType::Fifo => dt::DT_FIFO,
        }
    }
}

/// The file system's space budget, like tmpfs's `size=` (`shmem_inode_acct_blocks`):
/// bytes of file data pages currently allocated against a limit.
#[derive(Debug)]
pub struct SpaceAccount {
    used: AtomicU64,
    limit: u64,
}

impl SpaceAccount {
    /// A budget of `limit_bytes`.
    pub fn new(limit_bytes: u64) -> Self {
        SpaceAccount {
            used: AtomicU64::new(0),
            limit: limit_bytes,
        }
    }

    /// The budget in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.limit
    }

    /// Bytes currently charged.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Charges `bytes`.
    ///
    /// # Errors
    /// `ENOSPC` if that would exceed the limit (nothing is charged then).
    pub fn charge(&self, bytes: u64) -> KResult<()> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(bytes).filter(|&n| n <= self.limit)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    /// Returns `bytes` to the budget.
    pub fn uncharge(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }
}

/// The largest file size (`MAX_LFS_FILESIZE` on 64-bit: `LLONG_MAX`).
pub const MAX_LFS_FILESIZE: u64 = i64::MAX as u64;

/// Storage for a regular file's bytes: the seam where a page cache in guest RAM will go.
pub trait FileStore: Send {
    /// The file size in bytes (`i_size`).
    fn len(&self) -> u64;

    /// `true` if the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies bytes at `offset` into `buf`; returns how many (0 at or past the end). Holes
    /// read as zeros.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize;

    /// Writes `data` at `offset`, growing the file if needed.
    ///
    /// # Errors
    /// `EFBIG` past `MAX_LFS_FILESIZE` (`i64::MAX`); `ENOSPC` when the budget is exhausted (then a
    /// prefix of `data` may have been written; the size covers exactly what was written).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> KResult<usize>;

    /// Writes `data` at `offset` as content already on the backing store ("on disk")
    /// rather than as a write by the guest: how the file system is seeded at boot (the
    /// image, `--file`). A cached file puts it in its backing store without going through
    /// the page cache, so nothing is dirty or cached afterwards. Otherwise as
    /// [`FileStore::write_at`].
    ///
    /// # Errors
    /// As [`FileStore::write_at`].
    fn install_at(&mut self, offset: u64, data: &[u8]) -> KResult<usize> {
        self.write_at(offset, data)
    }

    /// Sets the size, zero-filling when growing (as holes) and freeing when shrinking.
    ///
    /// # Errors
    /// `EFBIG` past `MAX_LFS_FILESIZE` (`i64::MAX`).
    fn set_len(&mut self, len: u64) -> KResult<()>;

    /// Bytes of storage actually allocated (for `st_blocks`).
    fn allocated_bytes(&self) -> u64;

    /// `SEEK_DATA`: the first offset `>= from` inside data, or `None` if there is none
    /// before the end of the file.
    fn seek_data(&self, from: u64) -> Option<u64>;

    /// `SEEK_HOLE`: the first offset `>= from` inside a hole; the end of the file counts as
    /// a hole. Only called with `from < len()`.
    fn seek_hole(&self, from: u64) -> u64;

    /// `fallocate` mode 0 (or `FALLOC_FL_KEEP_SIZE` with `keep_size`): allocates storage
    /// for every page of bytes `[offset, offset + len)` (reading as zeros where nothing
    /// was written) and, without `keep_size`, extends the size to `offset + len`.
    ///
    /// # Errors
    /// `EFBIG` past `MAX_LFS_FILESIZE`; `ENOSPC` (nothing is allocated then);
    /// `EOPNOTSUPP` if the store cannot preallocate.
    fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) -> KResult<()> {
        let _ = (offset, len, keep_size);
        Err(Errno::EOPNOTSUPP)
    }

    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`: bytes `[offset, offset + len)` read
    /// as zeros afterwards, whole pages in the range are freed; the size is unchanged.
    ///
    /// # Errors
    /// `EOPNOTSUPP` if the store cannot punch holes.
    fn punch_hole(&mut self, offset: u64, len: u64) -> KResult<()> {
        let _ = (offset, len);
        Err(Errno::EOPNOTSUPP)
    }

    /// The page cache in front of this store (`inode->i_mapping`), if it has one: what
    /// `mmap` maps and `fsync` writes back.
    fn address_space(&self) -> Option<Arc<super::pagecache::AddressSpace>> {
        None
    }
}

const PAGE: u64 = 4096;

/// A sparse file: a map from page index to 4 KiB page, charged to a [`SpaceAccount`].
pub struct PageStore {
    pages: BTreeMap<u64, Box<[u8; PAGE as usize]>>,
    size: u64,
    account: Arc<SpaceAccount>,
}

impl PageStore {
    /// An empty file charged to `account`.
    pub fn new(account: Arc<SpaceAccount>) -> Self {
        PageStore {
            pages: BTreeMap::new(),
            size: 0,
            account,
        }
    }

    /// Drops every page at or beyond byte `len` and zeroes the tail of the page holding
    /// `len`, so that growing the file later reads zeros there.
    fn discard_from(&mut self, len: u64) {
        let first_whole = len.div_ceil(PAGE);
        let gone = self.pages.split_off(&first_whole);
        self.account.uncharge(gone.len() as u64 * PAGE);
        if len & (PAGE - 1) != 0 {
            if let Some(page) = self.pages.get_mut(&(len / PAGE)) {
                page[(len % PAGE) as usize..].fill(0);
            }
        }
    }
}

impl Drop for PageStore {
    fn drop(&mut self) {
        self.account.uncharge(self.pages.len() as u64 * PAGE);
    }
}

impl FileStore for PageStore {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let n = (buf.len() as u64).min(self.size - offset) as usize;
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let in_page = (pos % PAGE) as usize;
            let chunk = (PAGE as usize - in_page).min(n - done);
            let dst = &mut buf[done..done + chunk];
            match self.pages.get(&(pos / PAGE)) {
                Some(page) => dst.copy_from_slice(&page[in_page..in_page + chunk]),
                None => dst.fill(0),
            }
            done += chunk;
        }
        n
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> KResult<usize> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_LFS_FILESIZE)
            .ok_or(Errno::EFBIG)?;
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let in_page = (pos % PAGE) as usize;
            let chunk = (PAGE as usize - in_page).min(data.len() - done);
            let index = pos / PAGE;
            if !self.pages.contains_key(&index) {
                if let Err(e) = self.account.charge(PAGE) {
                    self.size = self.size.max(pos);
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
                self.pages.insert(index, Box::new([0; PAGE as usize]));
            }
            if let Some(page) = self.pages.get_mut(&index) {
                page[in_page..in_page + chunk].copy_from_slice(&data[done..done + chunk]);
            }
            done += chunk;
        }
        self.size = self.size.max(end);
        Ok(done)
    }

    fn set_len(&mut self, len: u64) -> KResult<()> {
        if len > MAX_LFS_FILESIZE {
            return Err(Errno::EFBIG);
        }
        if len < self.size {
            self.discard_from(len);
        }
        self.size = len;
        Ok(())
    }

    fn allocated_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    fn seek_data(&self, from: u64) -> Option<u64> {
        if from >= self.size {
            return None;
        }
        let (&index, _) = self.pages.range(from / PAGE..).next()?;
        let at = (index * PAGE).max(from);
        (at < self.size).then_some(at)
    }

    fn seek_hole(&self, from: u64) -> u64 {
        let mut index = from / PAGE;
        while self.pages.contains_key(&index) {
            index += 1;
        }
        (index * PAGE).max(from).min(self.size)
    }

    fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) -> KResult<()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= MAX_LFS_FILESIZE)
            .ok_or(Errno::EFBIG)?;
        if len == 0 {
            return Ok(());
        }
        // shmem_fallocate(): on failure the pages this call allocated are freed again.
        let mut added = Vec::new();
        for index in offset / PAGE..end.div_ceil(PAGE) {
            if self.pages.contains_key(&index) {
                continue;
            }
            if let Err(e) = self.account.charge(PAGE) {
                for i in added {
                    self.pages.remove(&i);
                    self.account.uncharge(PAGE);
                }
                return Err(e);
            }
            self.pages.insert(index, Box::new([0; PAGE as usize]));
            added.push(index);
        }
        if !keep_size && end > self.size {
            self.size = end;
        }
        Ok(())
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> KResult<()> {
        let end = offset.saturating_add(len);
        if len == 0 {
            return Ok(());
        }
        let first_whole = offset.div_ceil(PAGE);
        let end_whole = end / PAGE;
        // Partial pages at either end are zeroed in place.
        for index in [offset / PAGE, end.saturating_sub(1) / PAGE] {
            if index >= first_whole && index < end_whole {
                continue;
            }
            if let Some(page) = self.pages.get_mut(&index) {
                let lo = offset.max(index * PAGE) - index * PAGE;
                let hi = end.min((index + 1) * PAGE) - index * PAGE;
                page[lo as usize..hi as usize].fill(0);
            }
        }
        if first_whole < end_whole {
            let gone: Vec<u64> = self
                .pages
                .range(first_whole..end_whole)
                .map(|(&i, _)| i)
                .collect();
            for i in gone {
                self.pages.remove(&i);
                self.account.uncharge(PAGE);
            }
        }
        Ok(())
    }
}

/// A directory: its entries in creation order, each with a stable position cookie, like
/// tmpfs's `simple_offset` (fs/libfs.c) so `getdents64` can resume after changes.
pub(crate) struct Directory {
    pub(crate) by_name: BTreeMap<Vec<u8>, (u64, Arc<Inode>)>,
    pub(crate) by_pos: BTreeMap<u64, Vec<u8>>,
    /// Next position to hand out; 0 and 1 are `.` and `..`.
    pub(crate) next_pos: u64,
    /// The parent (`Weak::new()` for the root: its `..` is itself).
    pub(crate) parent: Weak<Inode>,
    /// Set by `rmdir`: no entries may be added any more (`IS_DEADDIR`).
    pub(crate) dead: bool,
}

impl Directory {
    pub(crate) fn new(parent: Weak<Inode>) -> Self {
        Directory {
            by_name: BTreeMap::new(),
            by_pos: BTreeMap::new(),
            next_pos: 2,
            parent,
            dead: false,
        }
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<Arc<Inode>> {
        self.by_name.get(name).map(|(_, i)| Arc::clone(i))
    }

    pub(crate) fn insert(&mut self, name: Vec<u8>, inode: Arc<Inode>) {
        let pos = self.next_pos;
        self.next_pos += 1;
        self.by_pos.insert(pos, name.clone());
        if let Some((old, _)) = self.by_name.insert(name, (pos, inode)) {
            self.by_pos.remove(&old);
        }
    }

    pub(crate) fn remove(&mut self, name: &[u8]) -> Option<Arc<Inode>> {
        let (pos, inode) = self.by_name.remove(name)?;
        self.by_pos.remove(&pos);
        Some(inode)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A link whose target depends on who looks: `/proc/self/exe` (a "magic link" in Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MagicLink {
    /// The calling process's executable path.
    SelfExe,
}

/// What an inode holds.
pub(crate) enum Body {
    Regular(Box<dyn FileStore>),
    Dir(Directory),
    CharDev(CharDev),
    Symlink(Vec<u8>),
    Magic(MagicLink),
    /// A file the kernel serves (see [`super::kfile`]); a regular file to `stat`.
    Kernel(KernelNode),
}

/// Mutable inode state, under the inode's lock.
pub(crate) struct InodeInner {
    /// Permission bits and `S_ISUID`/`S_ISGID`/`S_ISVTX` (`i_mode & 07777`).
    pub(crate) perm: u32,
    pub(crate) nlink: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) atime: Timespec,
    pub(crate) mtime: Timespec,
    pub(crate) ctime: Timespec,
    pub(crate) btime: Timespec,
    pub(crate) body: Body,
}

/// An inode (`struct inode`). Held by `Arc`: by its directory entries and by open files, so
/// an unlinked file lives until its last descriptor is closed.
pub struct Inode {
    ino: u64,
    ftype: FileType,
    /// `i_sb`: the file system the inode lies on ([`SuperBlock::to_raw`]); set once,
    /// when it is made ([`Inode::set_sb`]).
    sb: std::sync::atomic::AtomicU8,
    inner: Mutex<InodeInner>,
}

impl std::fmt::Debug for Inode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inode")
            .field("ino", &self.ino)
            .field("type", &self.ftype)
            .finish_non_exhaustive()
    }
}

impl Inode {
    /// Places a new inode on file system `sb` (`new_inode(sb)`): the one of the
    /// directory it is created in, or `shm_mnt` for `shmem_file_setup()`.
    pub(crate) fn set_sb(&self, sb: SuperBlock) {
        self.sb
            .store(sb.to_raw(), std::sync::atomic::Ordering::Relaxed);
    }

    /// `inode->i_sb`: the file system the inode lies on.
    pub fn sb(&self) -> SuperBlock {
        SuperBlock::from_raw(self.sb.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// `shmem_file()` / `shmem_mapping()`: whether the inode is shmem's (a memfd, the
    /// object behind shared anonymous memory, or a file of a tmpfs mount).
    pub fn is_shmem(&self) -> bool {
        self.sb().is_shmem()
    }

    pub(crate) fn new(ino: u64, ftype: FileType, perm: u32, now: Timespec, body: Body) -> Self {
        Inode {
            ino,
            ftype,
            sb: std::sync::atomic::AtomicU8::new(SuperBlock::Root.to_raw()),
            inner: Mutex::new(InodeInner {
                perm: perm & 0o7777,
                nlink: if ftype == FileType::Directory { 2 } else { 1 },
                uid: 0,
                gid: 0,
                atime: now,
                mtime: now,
                ctime: now,
                btime: now,
                body,
            }),
        }
    }

    /// The inode number (`i_ino`).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The file type.
    pub fn file_type(&self) -> FileType {
        self.ftype
    }

    /// `true` for a directory.
    pub fn is_dir(&self) -> bool {
        self.ftype == FileType::Directory
    }

    /// The full `st_mode`: type bits and permission bits.
    pub fn mode(&self) -> u32 {
        self.ftype.mode_bits() | self.lock().perm
    }

    /// The hard link count (`i_nlink`).
    pub fn nlink(&self) -> u32 {
        self.lock().nlink
    }

    /// The size in bytes (regular files: `i_size`; symlinks: target length; others 0).
    pub fn size(&self) -> u64 {
        match &self.lock().body {
            Body::Regular(s) => s.len(),
            Body::Symlink(t) => t.len() as u64,
            _ => 0,
        }
    }

    /// A copy of a regular file's contents (for `execve`), or `None` if not regular.
    /// At most `max` bytes are returned; a larger file gives `Err(EFBIG)`.
    ///
    /// # Errors
    /// `EFBIG` if the file is larger than `max`.
    pub fn read_all(&self, max: u64) -> KResult<Option<Vec<u8>>> {
        let g = self.lock();
        let Body::Regular(store) = &g.body else {
            return Ok(None);
        };
        if store.len() > max {
            return Err(Errno::EFBIG);
        }
        let mut buf = vec![0u8; store.len() as usize];
        let n = store.read_at(0, &mut buf);
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// A regular file's bytes at `offset` copied into `buf` (through its store: the page
    /// cache): how many, 0 at or past the end; `None` for an inode that is not a regular
    /// file. The kernel's own read (`kernel_read()`), for `sendfile`/`copy_file_range`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Option<usize> {
        match &self.lock().body {
            Body::Regular(store) => Some(store.read_at(offset, buf)),
            _ => None,
        }
    }

    /// What a kernel-served file's inode holds, `None` for every other inode.
    pub fn kernel_node(&self) -> Option<KernelNode> {
        match &self.lock().body {
            Body::Kernel(n) => Some(*n),
            _ => None,
        }
    }

    /// The inode's fields and data under its lock (`i_rwsem`, counted in
    /// [`crate::lockstat::I_RWSEM`]).
    pub(crate) fn lock(&self) -> MutexGuard<'_, InodeInner> {
        // The scheduling point a plain acquisition makes (sync.rs), kept.
        crate::sync::sched_point();
        crate::lockstat::I_RWSEM.acquire(|| self.inner.try_lock(), || self.inner.lock())
    }
}
