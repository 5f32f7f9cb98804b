//! The VFS proper: the tree of inodes, path walking (`fs/namei.c`), and the namespace
//! operations (`vfs_create`, `vfs_mkdir`, `vfs_unlink`, `vfs_rmdir`, `vfs_rename`), on a
//! single tmpfs-like file system mounted at `/` with `/dev`, `/proc/self/exe` and `/tmp`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::sync::Mutex;

use thiserror::Error;

use super::dev::{CharDev, Prng};
use super::hostfile::{read_host_file, HostFileError};
use super::inode::{
    Body, Directory, FileStore, FileType, Inode, MagicLink, PageStore, SpaceAccount, Timespec,
};
use super::kfile::{KernelNode, ProcFile, ProcTask};
use super::mount::SuperBlock;
use super::pagecache::{CachedFile, PageCache};
use super::stat::{DirentWriter, Kstat};
use super::{FileTarget, OpenFile};
use super::{MAXSYMLINKS, NAME_MAX, O_CREAT, O_EXCL, O_NOFOLLOW, O_PATH, PATH_MAX};
use crate::errno::{Errno, KResult};
use crate::mm::{MappedFile, PhysMem};

/// The kernel's clock for file timestamps (`current_time()`): wall-clock time, or a fixed
/// or stepped one in tests.
pub type Clock = Arc<dyn Fn() -> Timespec + Send + Sync>;

/// Device number of the root tmpfs (an anonymous block device, as tmpfs gets).
pub const TMPFS_DEV: (u32, u32) = (0, 20);
/// `stx_mnt_id` of the root mount.
pub const ROOT_MNT_ID: u64 = 1;

/// `MAY_EXEC` (include/linux/fs.h): search a directory or execute a file.
pub const MAY_EXEC: u32 = 1;
/// `MAY_WRITE`.
pub const MAY_WRITE: u32 = 2;
/// `MAY_READ`.
pub const MAY_READ: u32 = 4;

/// `BOGO_DIRENT_SIZE` (mm/shmem.c): tmpfs reports a directory's size as 20 bytes per
/// entry, `.` and `..` included.
const BOGO_DIRENT_SIZE: u64 = 20;

/// How the VFS is set up.
#[derive(Clone)]
pub struct VfsConfig {
    /// Source of file timestamps.
    pub clock: Clock,
    /// Seed of `/dev/urandom` and of [`Vfs::fill_random`].
    pub urandom_seed: u64,
    /// Most bytes of file data the file system may hold (tmpfs `size=`); writes past it
    /// fail with `ENOSPC`.
    pub size_limit_bytes: u64,
    /// Guest RAM for the page cache. With it every regular file's data pages in use live
    /// in guest frames ([`PageCache`]) and files can be mapped; without it (host-side
    /// tools, namespace tests) file I/O goes straight to the backing store and `mmap` of a
    /// file fails with `ENODEV`.
    pub phys: Option<Arc<PhysMem>>,
}

impl std::fmt::Debug for VfsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfsConfig")
            .field("urandom_seed", &self.urandom_seed)
            .field("size_limit_bytes", &self.size_limit_bytes)
            .field("page_cache", &self.phys.is_some())
            .finish_non_exhaustive()
    }
}

impl VfsConfig {
    /// A clock that always says `t`.
    pub fn fixed_clock(t: Timespec) -> Clock {
        Arc::new(move || t)
    }

    /// The host's wall clock.
    pub fn system_clock() -> Clock {
        Arc::new(|| {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Timespec {
                sec: d.as_secs() as i64,
                nsec: d.subsec_nanos(),
            }
        })
    }
}

impl Default for VfsConfig {
    /// A fixed clock at 2024-01-01T00:00:00Z, seed 0, 1 GiB of space: deterministic.
    fn default() -> Self {
        VfsConfig {
            clock: Self::fixed_clock(Timespec {
                sec: 1_704_067_200,
                nsec: 0,
            }),
            urandom_seed: 0,
            size_limit_bytes: 1 << 30,
            phys: None,
        }
    }
}

/// How `utimensat` changes one timestamp (`UTIME_OMIT`, `UTIME_NOW`, or a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUpdate {
    /// Leave it (`UTIME_OMIT`).
    Omit,
    /// Set it to the current time (`UTIME_NOW`, or a NULL `times` array).
    Now,
    /// Set it to this time.
    Set(Timespec),
}

/// Who is asking, for permission checks (`struct cred`: fsuid/fsgid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cred {
    /// File-system user id; 0 is root, which bypasses read/write/search checks
    /// (`CAP_DAC_OVERRIDE`).
    pub uid: u32,
    /// File-system group id.
    pub gid: u32,
}

/// The last component of a path, as `path_parentat` classifies it (`LAST_NORM`,
/// `LAST_DOT`, `LAST_DOTDOT`, `LAST_ROOT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Last {
    Name(Vec<u8>),
    Dot,
    DotDot,
    Root,
}

/// A walked path up to its last component.
pub(crate) struct Parent {
    pub(crate) dir: Arc<Inode>,
    pub(crate) last: Last,
    pub(crate) trailing_slash: bool,
}

/// One path walk (`struct nameidata`): the caller's root, `/proc/self/exe` target and
/// credentials, and the symlink budget shared by everything the walk follows.
pub(crate) struct Namei<'a> {
    vfs: &'a Vfs,
    exe: &'a [u8],
    cred: Cred,
    links_left: u32,
}

/// What makes regular files — inode numbers, timestamps, the space budget and the page
/// cache — shared by the tree and by shmem's internal mount (`shm_mnt`), which makes the
/// objects behind shared anonymous mappings ([`crate::mm::ShmMnt`]) without a directory.
struct InodeMaker {
    next_ino: AtomicU64,
    clock: Clock,
    space: Arc<SpaceAccount>,
    cache: Option<Arc<PageCache>>,
}

impl InodeMaker {
    fn alloc_ino(&self) -> u64 {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    /// A new regular file on file system `sb`, not linked anywhere: its bytes in a backing
    /// store charged to the file system's space, behind a page cache in guest RAM when
    /// there is one (`shmem_get_inode()` + `mapping_set_*`).
    fn new_regular(&self, perm: u32, sb: SuperBlock) -> Arc<Inode> {
        let ino = self.alloc_ino();
        let store: Box<dyn FileStore> = Box::new(PageStore::new(Arc::clone(&self.space)));
        let store: Box<dyn FileStore> = match &self.cache {
            Some(cache) => Box::new(CachedFile::new(cache.new_mapping(
                ino,
                store,
                sb.is_shmem(),
            ))),
            None => store,
        };
        let node = Arc::new(Inode::new(
            ino,
            FileType::Regular,
            perm,
            (self.clock)(),
            Body::Regular(store),
        ));
        node.set_sb(sb);
        node
    }
}

impl crate::mm::ShmMnt for InodeMaker {
    /// `shmem_zero_setup()` → `shmem_kernel_file_setup("dev/zero", size)`: a shmem file on
    /// `shm_mnt`, in no directory, mode 0777, owned by root, `size_bytes` long, opened
    /// read-write and named `/dev/zero (deleted)` (what `/proc/<pid>/maps` shows).
    fn shmem_zero_setup(&self, size_bytes: u64) -> KResult<Arc<dyn MappedFile>> {
        let node = self.new_regular(0o777, SuperBlock::ShmMnt);
        {
            let mut g = node.lock();
            g.nlink = 0;
            if let Body::Regular(store) = &mut g.body {
                store.set_len(size_bytes).map_err(|_| Errno::ENOMEM)?;
            }
        }
        let file = OpenFile::new_named(
            FileTarget::Inode(node),
            super::O_RDWR | super::O_LARGEFILE,
            b"/dev/zero (deleted)".to_vec(),
        );
        Ok(file)
    }
}

/// The tmpfs-like file system.
pub struct Vfs {
    root: Arc<Inode>,
    /// Makes its regular files, and `shm_mnt`'s (registered with guest RAM).
    maker: Arc<InodeMaker>,
    clock: Clock,
    prng: Mutex<Prng>,
    space: Arc<SpaceAccount>,
    /// The `flock()` locks of its files.
    flocks: super::locks::FlockTable,
    /// The machine's UTS namespace, which every process shares as it shares the VFS.
    uts: crate::syscall::misc::UtsNamespace,
    /// The page cache in guest RAM, if the VFS has guest RAM.
    cache: Option<Arc<PageCache>>,
    /// Serialises namespace changes (create, unlink, mkdir, rmdir, rename).
    ns_lock: Mutex<()>,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs")
            .field("used_bytes", &self.space.used_bytes())
            .finish_non_exhaustive()
    }
}

impl Vfs {
    /// A file system holding `/` (0755), `/dev/{null,zero,urandom}` (0666), `/tmp` (1777),
    /// `/proc/self/exe` (a link to each process's executable path) and the kernel-served
    /// `/proc/self/{mem,maps,pagemap}` and `/proc/thread-self/{mem,maps,pagemap}`
    /// (`/proc/<pid>` comes and goes with each task: [`Vfs::proc_register`]).
    pub fn new(config: VfsConfig) -> Vfs {
        let now = (config.clock)();
        let root = Arc::new(Inode::new(
            1,
            FileType::Directory,
            0o755,
            now,
            Body::Dir(Directory::new(Weak::new())),
        ));
        let space = Arc::new(SpaceAccount::new(config.size_limit_bytes));
        let cache = config.phys.map(PageCache::new);
        let maker = Arc::new(InodeMaker {
            next_ino: AtomicU64::new(2),
            clock: Arc::clone(&config.clock),
            space: Arc::clone(&space),
            cache: cache.clone(),
        });
        if let Some(c) = &cache {
            let shm: Arc<dyn crate::mm::ShmMnt> = maker.clone();
            c.phys().set_shm_mnt(Arc::downgrade(&shm));
        }
        let vfs = Vfs {
            root,
            maker: Arc::clone(&maker),
            clock: config.clock,
            prng: Mutex::new(Prng::new(config.urandom_seed)),
            space,
            flocks: Default::default(),
            uts: Default::default(),
            cache,
            ns_lock: Mutex::new(()),
        };
        // These cannot fail on a fresh tree; an error would only leave a node missing.
        let root = Arc::clone(&vfs.root);
        if let Ok(dev) = vfs.add_dir(&root, b"dev", 0o755) {
            dev.set_sb(SuperBlock::Devtmpfs);
            vfs.add_mount(&dev, b"shm", 0o1777, SuperBlock::DevShm);
            for (name, d) in [
                (&b"null"[..], CharDev::Null),
                (b"zero", CharDev::Zero),
                (b"urandom", CharDev::Urandom),
            ] {
                let _ = vfs.add_node(&dev, name, FileType::CharDev, 0o666, Body::CharDev(d));
            }
            let uffd = Body::CharDev(CharDev::Userfaultfd);
            let _ = vfs.add_node(&dev, b"userfaultfd", FileType::CharDev, 0o600, uffd);
        }
        vfs.add_mount(&root, b"tmp", 0o1777, SuperBlock::Tmp);
        if let Ok(proc_) = vfs.add_dir(&root, b"proc", 0o555) {
            if let Ok(selfdir) = vfs.add_dir(&proc_, b"self", 0o555) {
                let _ = vfs.add_node(
                    &selfdir,
                    b"exe",
                    FileType::Symlink,
                    0o777,
                    Body::Magic(MagicLink::SelfExe),
                );
                vfs.add_proc_files(&selfdir, ProcTask::Opener);
            }
            if let Ok(thread_self) = vfs.add_dir(&proc_, b"thread-self", 0o555) {
                vfs.add_proc_files(&thread_self, ProcTask::Opener);
            }
            // proc_symlink("mounts", NULL, "self/mounts").
            let link = Body::Symlink(b"self/mounts".to_vec());
            let _ = vfs.add_node(&proc_, b"mounts", FileType::Symlink, 0o777, link);
            // proc_create_single("meminfo", 0, NULL, meminfo_proc_show).
            let meminfo = Body::Kernel(KernelNode::Meminfo);
            let _ = vfs.add_node(&proc_, b"meminfo", FileType::Regular, 0o444, meminfo);
            // proc_create_seq("vmstat", 0444, NULL, &vmstat_op).
            let vmstat = Body::Kernel(KernelNode::Vmstat);
            let _ = vfs.add_node(&proc_, b"vmstat", FileType::Regular, 0o444, vmstat);
        }
        vfs
    }

    /// Adds the per-task kernel-served files (`mem`, `maps`, `pagemap`) of `task` to
    /// `dir`.
    fn add_proc_files(&self, dir: &Arc<Inode>, task: ProcTask) {
        for file in ProcFile::ALL {
            let node = Body::Kernel(KernelNode::Proc { file, task });
            let _ = self.add_node(
                dir,
                file.name().as_bytes(),
                FileType::Regular,
                file.perm(),
                node,
            );
        }
        // REG("mounts", S_IRUGO, proc_mounts_operations): the one mount namespace.
        let mounts = Body::Kernel(KernelNode::Mounts);
        let _ = self.add_node(dir, b"mounts", FileType::Regular, 0o444, mounts);
    }

    /// Creates `/proc/<pid>` with the task's kernel-served files (the kernel calls it
    /// when it creates task `pid`; Linux's `proc_pid_lookup()` finds the task instead).
    ///
    /// # Errors
    /// `EEXIST` if it exists; `ENOENT` if `/proc` has been removed.
    pub fn proc_register(&self, pid: u32) -> KResult<()> {
        let _ns = self.ns_lock.lock();
        let proc_ = dir_get(&self.root, b"proc")?.ok_or(Errno::ENOENT)?;
        let dir = self.add_dir(&proc_, pid.to_string().as_bytes(), 0o555)?;
        self.add_proc_files(&dir, ProcTask::Pid(pid));
        Ok(())
    }

    /// Removes `/proc/<pid>` (the kernel calls it when task `pid` is reaped). Open
    /// descriptors of its files stay valid and find no task any more.
    pub fn proc_unregister(&self, pid: u32) {
        let _ns = self.ns_lock.lock();
        let Ok(Some(proc_)) = dir_get(&self.root, b"proc") else {
            return;
        };
        let name = pid.to_string();
        if let Ok(Some(dir)) = dir_get(&proc_, name.as_bytes()) {
            if let Body::Dir(d) = &mut dir.lock().body {
                d.by_name.clear();
                d.by_pos.clear();
            }
            self.detach(&proc_, name.as_bytes(), &dir);
        }
    }

    /// The root directory.
    pub fn root(&self) -> Arc<Inode> {
        Arc::clone(&self.root)
    }

    /// The current time from the configured clock.
    pub fn now(&self) -> Timespec {
        (self.clock)()
    }

    /// Fills `buf` from the seeded generator behind `/dev/urandom` (also the right source
    /// for `AT_RANDOM` and `getrandom`).
    pub fn fill_random(&self, buf: &mut [u8]) {
        self.prng.lock().fill(buf);
    }

    /// A fresh inode number (also used for pipes).
    pub fn alloc_ino(&self) -> u64 {
        self.maker.alloc_ino()
    }

    /// Bytes of file data held.
    pub fn used_bytes(&self) -> u64 {
        self.space.used_bytes()
    }

    /// The size limit of file data in bytes (tmpfs `size=`), which `statfs()` reports.
    pub fn size_limit_bytes(&self) -> u64 {
        self.space.limit_bytes()
    }

    /// The `flock()` locks of its files.
    pub fn flocks(&self) -> &super::locks::FlockTable {
        &self.flocks
    }

    /// The machine's UTS namespace (`nodename`, `domainname`).
    pub fn uts(&self) -> &crate::syscall::misc::UtsNamespace {
        &self.uts
    }

    pub(crate) fn namei<'a>(&'a self, exe: &'a [u8], cred: Cred) -> Namei<'a> {
        Namei {
            vfs: self,
            exe,
            cred,
            links_left: MAXSYMLINKS,
        }
    }

    fn new_inode(&self, ftype: FileType, perm: u32, body: Body) -> Arc<Inode> {
        Arc::new(Inode::new(self.alloc_ino(), ftype, perm, self.now(), body))
    }

    /// A new regular file on file system `sb`, not linked anywhere (see
    /// `InodeMaker::new_regular`).
    pub(crate) fn new_regular(&self, perm: u32, sb: SuperBlock) -> Arc<Inode> {
        self.maker.new_regular(perm, sb)
    }

    /// The page cache, if the VFS was given guest RAM ([`VfsConfig::phys`]).
    pub fn page_cache(&self) -> Option<&Arc<PageCache>> {
        self.cache.as_ref()
    }

    /// `sync()` / `syncfs()`: writes every dirty page-cache page back.
    ///
    /// # Errors
    /// The first writeback error.
    pub fn sync(&self) -> KResult<()> {
        self.cache.as_ref().map_or(Ok(()), |c| c.sync_all())
    }

    /// Adds an entry `name` → a new inode to `dir` (no permission checks: kernel use).
    fn add_node(
        &self,
        dir: &Arc<Inode>,
        name: &[u8],
        ftype: FileType,
        perm: u32,
        body: Body,
    ) -> KResult<Arc<Inode>> {
        let node = self.new_inode(ftype, perm, body);
        node.set_sb(dir.sb());
        self.link_node(dir, name, node)
    }

    /// Adds a new regular file `name` to `dir`, on `dir`'s file system (see
    /// [`Vfs::new_regular`]).
    fn add_regular(&self, dir: &Arc<Inode>, name: &[u8], perm: u32) -> KResult<Arc<Inode>> {
        let node = self.new_regular(perm, dir.sb());
        self.link_node(dir, name, node)
    }

    /// Adds directory `name` to `dir` as the root of mount `sb` (a tmpfs mount point).
    fn add_mount(&self, dir: &Arc<Inode>, name: &[u8], perm: u32, sb: SuperBlock) {
        if let Ok(d) = self.add_dir(dir, name, perm) {
            d.set_sb(sb);
        }
    }

    /// Adds an entry `name` → `node` to `dir`.
    fn link_node(&self, dir: &Arc<Inode>, name: &[u8], node: Arc<Inode>) -> KResult<Arc<Inode>> {
        let ftype = node.file_type();
        let now = self.now();
        let mut g = dir.lock();
        let Body::Dir(d) = &mut g.body else {
            return Err(Errno::ENOTDIR);
        };
        if d.dead {
            return Err(Errno::ENOENT);
        }
        if d.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        d.insert(name.to_vec(), Arc::clone(&node));
        if ftype == FileType::Directory {
            g.nlink += 1;
        }
        g.mtime = now;
        g.ctime = now;
        Ok(node)
    }

    fn add_dir(&self, parent: &Arc<Inode>, name: &[u8], perm: u32) -> KResult<Arc<Inode>> {
        let body = Body::Dir(Directory::new(Arc::downgrade(parent)));
        self.add_node(parent, name, FileType::Directory, perm, body)
    }

    /// The parent of directory `dir` (`..`); the root is its own parent.
    pub(crate) fn parent_of(&self, dir: &Arc<Inode>) -> Arc<Inode> {
        match &dir.lock().body {
            Body::Dir(d) => d.parent.upgrade(),
            _ => None,
        }
        .unwrap_or_else(|| Arc::clone(&self.root))
    }

    // ----- Kernel-side helpers: setting up the tree (no permission checks). -----

    /// Creates directory `path` (absolute) and any missing parents with permissions
    /// `perm`, like `mkdir -p`; returns the directory.
    ///
    /// # Errors
    /// `ENOTDIR` if a component exists and is not a directory; path errors.
    pub fn create_dir_all(&self, path: &[u8], perm: u32) -> KResult<Arc<Inode>> {
        let _ns = self.ns_lock.lock();
        let mut cur = self.root();
        for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            if comp.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            let next = match comp {
                b"." => continue,
                b".." => self.parent_of(&cur),
                _ => match dir_get(&cur, comp)? {
                    Some(i) if i.is_dir() => i,
                    Some(_) => return Err(Errno::ENOTDIR),
                    None => self.add_dir(&cur, comp, perm)?,
                },
            };
            cur = next;
        }
        Ok(cur)
    }

    /// Adds the kernel-served file `name` ([`KernelNode`]: a regular file whose
    /// operations are kernel code, as a debugfs file; see `fs::kfile`) with permissions
    /// `perm` to the directory `dir` (absolute), creating `dir` and its parents with
    /// `dir_perm`.
    ///
    /// # Errors
    /// `EEXIST` if the name is taken; path errors.
    pub fn add_kernel_file(
        &self,
        dir: &[u8],
        dir_perm: u32,
        name: &[u8],
        perm: u32,
        node: KernelNode,
    ) -> KResult<Arc<Inode>> {
        let parent = self.create_dir_all(dir, dir_perm)?;
        let _ns = self.ns_lock.lock();
        self.add_node(&parent, name, FileType::Regular, perm, Body::Kernel(node))
    }

    /// Creates (or replaces the contents of) regular file `path` (absolute) with `data`
    /// and permissions `perm`, creating parent directories (0755) as needed.
    ///
    /// # Errors
    /// `EISDIR` if `path` is a directory; `ENOSPC` past the size limit; path errors.
    pub fn write_file(&self, path: &[u8], data: &[u8], perm: u32) -> KResult<Arc<Inode>> {
        let (dir_path, name) = split_last(path)?;
        let dir = self.create_dir_all(dir_path, 0o755)?;
        let _ns = self.ns_lock.lock();
        let file = match dir_get(&dir, name)? {
            Some(f) if f.file_type() == FileType::Regular => f,
            Some(f) if f.is_dir() => return Err(Errno::EISDIR),
            Some(_) => return Err(Errno::EEXIST),
            None => self.add_regular(&dir, name, perm)?,
        };
        let now = self.now();
        let mut g = file.lock();
        g.perm = perm & 0o7777;
        g.mtime = now;
        g.ctime = now;
        if let Body::Regular(store) = &mut g.body {
            store.set_len(0)?;
            // Seeded content is on "disk", not a dirty page-cache write.
            if store.install_at(0, data)? < data.len() {
                return Err(Errno::ENOSPC);
            }
        }
        drop(g);
        Ok(file)
    }

    /// Creates symbolic link `path` (absolute) pointing at `target`, creating parent
    /// directories as needed.
    ///
    /// # Errors
    /// `EEXIST` if `path` exists; path errors.
    pub fn symlink(&self, target: &[u8], path: &[u8]) -> KResult<Arc<Inode>> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let (dir_path, name) = split_last(path)?;
        let dir = self.create_dir_all(dir_path, 0o755)?;
        let _ns = self.ns_lock.lock();
        self.add_node(
            &dir,
            name,
            FileType::Symlink,
            0o777,
            Body::Symlink(target.to_vec()),
        )
    }

    /// Copies a host file into the VFS (`--file HOST[:GUEST]`), keeping its permission
    /// bits, creating parent directories. The file is charged to the file system's space
    /// (tmpfs `size=`): one larger than the space left is refused before it is read, so
    /// host memory stays within that space.
    ///
    /// # Errors
    /// [`ImportError`] if the host file is not a regular file, cannot be read or does not
    /// fit, or the guest path cannot be made.
    pub fn import_host_file(&self, arg: &FileArg) -> Result<Arc<Inode>, ImportError> {
        let room = self
            .space
            .limit_bytes()
            .saturating_sub(self.space.used_bytes());
        let data = read_host_file(&arg.host, room, "the space left in the guest's tmpfs").map_err(
            |source| ImportError::Read {
                host: arg.host.clone(),
                source,
            },
        )?;
        let perm = host_permissions(&arg.host);
        self.write_file(&arg.guest, &data, perm)
            .map_err(|errno| ImportError::Create {
                guest: String::from_utf8_lossy(&arg.guest).into_owned(),
                errno,
            })
    }

    /// Looks `path` up from `start` (used for relative paths) on behalf of a process whose
    /// `/proc/self/exe` is `exe`, following a final symlink if `follow`.
    ///
    /// # Errors
    /// `ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, `ELOOP`, `EACCES` as `path_lookupat`.
    pub fn lookup(
        &self,
        start: &Arc<Inode>,
        exe: &[u8],
        cred: Cred,
        path: &[u8],
        follow: bool,
    ) -> KResult<Arc<Inode>> {
        self.namei(exe, cred).resolve(start, path, follow)
    }

    /// The absolute path of directory `dir` (`d_path`, for `getcwd`).
    ///
    /// # Errors
    /// `ENOENT` if `dir` or an ancestor has been removed.
    pub fn path_of(&self, dir: &Arc<Inode>) -> KResult<Vec<u8>> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = Arc::clone(dir);
        // Each step goes one level up; a tree deeper than this cannot be built.
        for _ in 0..=PATH_MAX {
            if Arc::ptr_eq(&cur, &self.root) {
                let mut out = Vec::new();
                for p in parts.iter().rev() {
                    out.push(b'/');
                    out.extend_from_slice(p);
                }
                if out.is_empty() {
                    out.push(b'/');
                }
                return Ok(out);
            }
            let parent = {
                let g = cur.lock();
                match &g.body {
                    Body::Dir(d) if !d.dead => d.parent.upgrade(),
                    _ => None,
                }
            }
            .ok_or(Errno::ENOENT)?;
            let name = {
                let g = parent.lock();
                let Body::Dir(d) = &g.body else {
                    return Err(Errno::ENOENT);
                };
                d.by_name
                    .iter()
                    .find(|(_, (_, i))| Arc::ptr_eq(i, &cur))
                    .map(|(n, _)| n.clone())
            }
            .ok_or(Errno::ENOENT)?;
            parts.push(name);
            cur = parent;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// The attributes of `inode` (`vfs_getattr` → `shmem_getattr`).
    pub fn stat(&self, inode: &Inode) -> Kstat {
        let g = inode.lock();
        let (size, blocks, rdev) = match &g.body {
            Body::Regular(s) => (s.len(), s.allocated_bytes() / 512, (0, 0)),
            Body::Dir(d) => ((d.by_name.len() as u64 + 2) * BOGO_DIRENT_SIZE, 0, (0, 0)),
            Body::CharDev(c) => (0, 0, c.rdev()),
            Body::Symlink(t) => (t.len() as u64, 0, (0, 0)),
            Body::Magic(_) | Body::Kernel(_) => (0, 0, (0, 0)),
        };
        Kstat {
            dev: TMPFS_DEV,
            ino: inode.ino(),
            mode: inode.file_type().mode_bits() | g.perm,
            nlink: g.nlink,
            uid: g.uid,
            gid: g.gid,
            rdev,
            size,
            blksize: 4096,
            blocks,
            atime: g.atime,
            mtime: g.mtime,
            ctime: g.ctime,
            btime: g.btime,
            mnt_id: ROOT_MNT_ID,
        }
    }

    /// The file `path` names from `start` for a process whose executable is `exe`,
    /// every symbolic link followed, and its absolute path with the links resolved: the
    /// `struct file` `do_open_execat()` opens and the `d_path()` of its `f_path`, what
    /// `/proc/<pid>/exe` of a process that `execve`d `path` links to. A path through
    /// `/proc/self/exe` names the caller's executable, so exec'ing it again and again
    /// never makes the link point at itself. One walk gives both.
    ///
    /// # Errors
    /// As [`Vfs::lookup`] (`ENOENT` for an empty path); `ELOOP` after 40 links
    /// (`MAXSYMLINKS`).
    pub fn lookup_resolved(
        &self,
        start: &Arc<Inode>,
        exe: &[u8],
        cred: Cred,
        path: &[u8],
    ) -> KResult<(Arc<Inode>, Vec<u8>)> {
        const MAXSYMLINKS: usize = 40;
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut dir = Arc::clone(start);
        let mut path = path.to_vec();
        for _ in 0..=MAXSYMLINKS {
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(0) => (&b"/"[..], &path[1..]),
                Some(i) => (&path[..i], &path[i + 1..]),
                None => (&b"."[..], &path[..]),
            };
            let parent = self.lookup(&dir, exe, cred, parent, true)?;
            // "/" or a trailing slash: the last component is the directory itself.
            let file = if name.is_empty() {
                Arc::clone(&parent)
            } else {
                self.lookup(&parent, exe, cred, name, false)?
            };
            match self.readlink(&file, exe) {
                Some(target) => {
                    dir = parent;
                    path = target;
                }
                None => {
                    let mut out = self.path_of(&parent)?;
                    if !matches!(name, b"" | b"." | b"..") {
                        if out.last() != Some(&b'/') {
                            out.push(b'/');
                        }
                        out.extend_from_slice(name);
                    }
                    return Ok((file, out));
                }
            }
        }
        Err(Errno::ELOOP)
    }

    /// The target of symbolic link `inode` for a process whose executable is `exe`, or
    /// `None` if it is not a link.
    pub fn readlink(&self, inode: &Inode, exe: &[u8]) -> Option<Vec<u8>> {
        match &inode.lock().body {
            Body::Symlink(t) => Some(t.clone()),
            Body::Magic(MagicLink::SelfExe) => Some(exe.to_vec()),
            _ => None,
        }
    }

    /// Writes directory entries of `dir` from position `pos` into `out` until it is full;
    /// returns the position to continue from. `.` is position 0, `..` position 1, and
    /// each entry keeps the position it was created with (`d_off` = position + 1).
    ///
    /// # Errors
    /// `ENOTDIR` if `dir` is not a directory; `ENOENT` if it has been removed.
    pub fn readdir(&self, dir: &Arc<Inode>, mut pos: u64, out: &mut DirentWriter) -> KResult<u64> {
        let parent_ino = self.parent_of(dir).ino();
        let g = dir.lock();
        let Body::Dir(d) = &g.body else {
            return Err(Errno::ENOTDIR);
        };
        if d.dead {
            return Err(Errno::ENOENT);
        }
        if pos == 0 {
            if !out.push(dir.ino(), 1, super::dt::DT_DIR, b".") {
                return Ok(pos);
            }
            pos = 1;
        }
        if pos == 1 {
            if !out.push(parent_ino, 2, super::dt::DT_DIR, b"..") {
                return Ok(pos);
            }
            pos = 2;
        }
        for (&p, name) in d.by_pos.range(pos..) {
            let Some((_, child)) = d.by_name.get(name) else {
                continue;
            };
            if !out.push(child.ino(), p + 1, child.file_type().dirent_type(), name) {
                return Ok(pos);
            }
            pos = p + 1;
        }
        Ok(pos)
    }

    /// `generic_permission` with `CAP_DAC_OVERRIDE` for uid 0: `mask` is a combination of
    /// `MAY_READ`, `MAY_WRITE`, `MAY_EXEC`. Root may do anything, except execute a file
    /// that has no execute bit at all.
    ///
    /// # Errors
    /// `EACCES`.
    pub fn check_permission(&self, inode: &Inode, cred: Cred, mask: u32) -> KResult<()> {
        let g = inode.lock();
        if cred.uid == 0 {
            if mask & MAY_EXEC != 0 && !inode.is_dir() && g.perm & 0o111 == 0 {
                return Err(Errno::EACCES);
            }
            return Ok(());
        }
        let shift = if g.uid == cred.uid {
            6
        } else if g.gid == cred.gid {
            3
        } else {
            0
        };
        let have = (g.perm >> shift) & 7;
        if mask & !have & 7 != 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// `do_truncate`: sets a regular file's size (zero-filling or freeing) and its
    /// mtime/ctime.
    ///
    /// # Errors
    /// `EISDIR` for a directory, `EINVAL` for other non-regular files, `EFBIG`.
    pub fn truncate(&self, inode: &Inode, len: u64) -> KResult<()> {
        super::file::truncate_inode(self, inode, len)
    }

    // ----- Namespace operations used by the system calls. -----

    /// The `open` part of `path_openat`: finds or (with `O_CREAT`) creates the inode.
    /// `perm` is the creation mode with the umask already applied. The caller checks
    /// `O_DIRECTORY`, access to directories and `O_TRUNC`.
    pub(crate) fn open_inode(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
        flags: u32,
        perm: u32,
    ) -> KResult<Arc<Inode>> {
        let follow = flags & O_NOFOLLOW == 0;
        if flags & O_CREAT == 0 {
            let inode = nd.resolve(start, path, follow)?;
            if inode.file_type() == FileType::Symlink && flags & O_PATH == 0 {
                return Err(Errno::ELOOP);
            }
            return Ok(inode);
        }
        let mut start = Arc::clone(start);
        let mut path = path.to_vec();
        loop {
            let p = nd.parent(&start, &path)?;
            let Last::Name(name) = p.last else {
                return Err(Errno::EISDIR);
            };
            if p.trailing_slash {
                return Err(Errno::EISDIR);
            }
            if !p.dir.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            let _ns = self.ns_lock.lock();
            match dir_get(&p.dir, &name)? {
                Some(existing) => {
                    if flags & O_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    if existing.file_type() == FileType::Symlink {
                        if !follow {
                            return Err(Errno::ELOOP);
                        }
                        // Create through a (possibly dangling) link, as Linux does.
                        path = nd.link_target(&existing)?;
                        start = p.dir;
                        continue;
                    }
                    if existing.is_dir() {
                        return Err(Errno::EISDIR);
                    }
                    return Ok(existing);
                }
                None => {
                    self.check_permission(&p.dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
                    let node = self.add_regular(&p.dir, &name, perm)?;
                    set_owner(&node, nd.cred);
                    return Ok(node);
                }
            }
        }
    }

    /// `memfd_create()` → `shmem_file_setup()`: a new regular file that is in no
    /// directory (link count 0), mode 0777 less `exec_mask` bits, owned by `cred`. It lives
    /// as long as a descriptor or a mapping refers to it.
    pub fn memfd_inode(&self, cred: Cred, exec_mask: u32) -> Arc<Inode> {
        let node = self.new_regular(0o777 & !exec_mask, SuperBlock::ShmMnt);
        set_owner(&node, cred);
        node.lock().nlink = 0;
        node
    }

    /// `O_TMPFILE` (`vfs_tmpfile()` → `shmem_tmpfile()`): an unnamed regular file with
    /// permissions `perm` (umask applied) in directory `path`, link count 0.
    ///
    /// # Errors
    /// Walk errors; `ENOTDIR` if `path` is not a directory; `ENOENT` if it was removed;
    /// `EACCES` without write and search permission on it.
    pub(crate) fn tmpfile(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
        perm: u32,
    ) -> KResult<Arc<Inode>> {
        let dir = nd.resolve(start, path, true)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if dir_is_dead(&dir) {
            return Err(Errno::ENOENT);
        }
        self.check_permission(&dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        let node = self.new_regular(perm, dir.sb());
        set_owner(&node, nd.cred);
        node.lock().nlink = 0;
        Ok(node)
    }

    /// `do_mkdirat`: `perm` already has the umask applied.
    pub(crate) fn mkdir(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
        perm: u32,
    ) -> KResult<()> {
        let p = nd.parent(start, path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EEXIST);
        };
        if !p.dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let _ns = self.ns_lock.lock();
        if dir_get(&p.dir, &name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        self.check_permission(&p.dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        let node = self.add_dir(&p.dir, &name, perm)?;
        set_owner(&node, nd.cred);
        Ok(())
    }

    /// `do_unlinkat` without `AT_REMOVEDIR`.
    pub(crate) fn unlink(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
    ) -> KResult<()> {
        let p = nd.parent(start, path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EISDIR);
        };
        if !p.dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let _ns = self.ns_lock.lock();
        let child = dir_get(&p.dir, &name)?.ok_or(Errno::ENOENT)?;
        if child.is_dir() {
            return Err(Errno::EISDIR);
        }
        if p.trailing_slash {
            return Err(Errno::ENOTDIR);
        }
        self.check_permission(&p.dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        self.detach(&p.dir, &name, &child);
        Ok(())
    }

    /// `do_rmdir`.
    pub(crate) fn rmdir(&self, nd: &mut Namei<'_>, start: &Arc<Inode>, path: &[u8]) -> KResult<()> {
        let p = nd.parent(start, path)?;
        let name = match p.last {
            Last::Name(n) => n,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        if !p.dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let _ns = self.ns_lock.lock();
        let child = dir_get(&p.dir, &name)?.ok_or(Errno::ENOENT)?;
        if !child.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !dir_is_empty(&child) {
            return Err(Errno::ENOTEMPTY);
        }
        self.check_permission(&p.dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        self.detach(&p.dir, &name, &child);
        Ok(())
    }

    /// Removes entry `name` (which is `child`) from `dir` and fixes link counts and times.
    /// Called with the namespace lock held.
    fn detach(&self, dir: &Arc<Inode>, name: &[u8], child: &Arc<Inode>) {
        let now = self.now();
        {
            let mut g = dir.lock();
            if let Body::Dir(d) = &mut g.body {
                d.remove(name);
            }
            if child.is_dir() {
                g.nlink = g.nlink.saturating_sub(1);
            }
            g.mtime = now;
            g.ctime = now;
        }
        let mut c = child.lock();
        c.ctime = now;
        if let Body::Dir(d) = &mut c.body {
            d.dead = true;
            c.nlink = 0;
        } else {
            c.nlink = c.nlink.saturating_sub(1);
        }
    }

    /// `filename_create`: walks to the parent of `path` and checks that its last
    /// component can be created. Returns the parent directory and the name; the caller
    /// holds the namespace lock across this and the insertion (`_ns`).
    ///
    /// # Errors
    /// `EEXIST` if the last component exists or is `.`, `..` or `/`; `ENOENT` for a
    /// trailing slash on a missing name (only directories may be created that way) or a
    /// removed parent; `ENOTDIR`; walk errors.
    fn create_target(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
    ) -> KResult<(Arc<Inode>, Vec<u8>)> {
        let p = nd.parent(start, path)?;
        let Last::Name(name) = p.last else {
            return Err(Errno::EEXIST);
        };
        if !p.dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if dir_get(&p.dir, &name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if p.trailing_slash {
            return Err(Errno::ENOENT);
        }
        Ok((p.dir, name))
    }

    /// `may_linkat` with `fs.protected_hardlinks = 1` (the setting distributions ship):
    /// the owner of `inode` or root may link it; anyone else only a regular file that is
    /// neither set-user-id nor executable set-group-id and that they may read and write.
    fn may_linkat(&self, inode: &Inode, cred: Cred) -> KResult<()> {
        let (owner, perm) = {
            let g = inode.lock();
            (g.uid, g.perm)
        };
        if cred.uid == 0 || owner == cred.uid {
            return Ok(());
        }
        let setid = perm & 0o4000 != 0 || perm & 0o2010 == 0o2010;
        if inode.file_type() != FileType::Regular || setid {
            return Err(Errno::EPERM);
        }
        self.check_permission(inode, cred, MAY_READ | MAY_WRITE)
            .map_err(|_| Errno::EPERM)
    }

    /// `do_linkat` after the old path is resolved, then `vfs_link` and `shmem_link`: adds
    /// the name `new_path` for `old`, raising its link count; the new name's directory and
    /// `old` get a new ctime, the directory a new mtime.
    ///
    /// # Errors
    /// As [`Vfs::create_target`]; `EPERM` for a directory or (for other users) a file
    /// `may_linkat` refuses; `EACCES` without write and search permission on the new
    /// directory; `ENOENT` if `old` has no links left (an unlinked open file); `EXDEV`
    /// for `/proc/self/exe` itself (procfs is another file system in Linux) and for a
    /// name on another file system than `old` ([`super::mount`]); `EMLINK` at `u32::MAX`
    /// links.
    pub(crate) fn link(
        &self,
        nd: &mut Namei<'_>,
        old: &Arc<Inode>,
        new_start: &Arc<Inode>,
        new_path: &[u8],
    ) -> KResult<()> {
        let _ns = self.ns_lock.lock();
        let (dir, name) = self.create_target(nd, new_start, new_path)?;
        // do_linkat(): another mount (procfs, or another file system: a memfd's shm_mnt,
        // a tmpfs and the root file system) → EXDEV.
        if matches!(old.lock().body, Body::Magic(_) | Body::Kernel(_)) || old.sb() != dir.sb() {
            return Err(Errno::EXDEV);
        }
        self.may_linkat(old, nd.cred)?;
        self.check_permission(&dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        if old.is_dir() {
            return Err(Errno::EPERM);
        }
        let now = self.now();
        {
            let mut g = old.lock();
            if g.nlink == 0 {
                return Err(Errno::ENOENT);
            }
            g.nlink = g.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
            g.ctime = now;
        }
        let mut g = dir.lock();
        if let Body::Dir(d) = &mut g.body {
            d.insert(name, Arc::clone(old));
        }
        g.mtime = now;
        g.ctime = now;
        Ok(())
    }

    /// `do_symlinkat` → `shmem_symlink`: creates `path` as a symbolic link holding
    /// `target` (mode 0777, owned by the caller).
    ///
    /// # Errors
    /// As [`Vfs::create_target`]; `EACCES` without write and search permission on the
    /// directory. (The caller has already rejected an empty or overlong `target`.)
    pub(crate) fn symlinkat(
        &self,
        nd: &mut Namei<'_>,
        target: &[u8],
        start: &Arc<Inode>,
        path: &[u8],
    ) -> KResult<()> {
        let _ns = self.ns_lock.lock();
        let (dir, name) = self.create_target(nd, start, path)?;
        self.check_permission(&dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        let body = Body::Symlink(target.to_vec());
        let node = self.add_node(&dir, &name, FileType::Symlink, 0o777, body)?;
        set_owner(&node, nd.cred);
        Ok(())
    }

    /// `do_mknodat` for a regular file (`S_IFREG` or type 0): creates an empty file with
    /// permissions `perm` (umask already applied).
    ///
    /// # Errors
    /// As [`Vfs::create_target`]; `EACCES`.
    pub(crate) fn mknod_regular(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
        perm: u32,
    ) -> KResult<()> {
        let _ns = self.ns_lock.lock();
        let (dir, name) = self.create_target(nd, start, path)?;
        self.check_permission(&dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        let node = self.add_regular(&dir, &name, perm)?;
        set_owner(&node, nd.cred);
        Ok(())
    }

    /// Checks that `vfs_mknod` would get past `filename_create` and `may_create` for
    /// `path`, for node types this file system cannot hold.
    ///
    /// # Errors
    /// As [`Vfs::create_target`]; `EACCES`.
    pub(crate) fn may_create_at(
        &self,
        nd: &mut Namei<'_>,
        start: &Arc<Inode>,
        path: &[u8],
    ) -> KResult<()> {
        let _ns = self.ns_lock.lock();
        let (dir, _) = self.create_target(nd, start, path)?;
        self.check_permission(&dir, nd.cred, MAY_WRITE | MAY_EXEC)
    }

    // ----- Attribute changes (`notify_change` → `setattr_prepare` → `shmem_setattr`). -----

    /// `chmod_common`: sets the permission bits of `inode` to `mode & 07777` and its ctime.
    /// A caller other than root that is not in the file's group loses `S_ISGID`
    /// (`setattr_prepare`).
    ///
    /// # Errors
    /// `EPERM` unless the caller owns the file or is root (`inode_owner_or_capable`);
    /// `EOPNOTSUPP` for a symbolic link (`fchmodat2` with `AT_SYMLINK_NOFOLLOW`).
    pub fn chmod(&self, inode: &Inode, cred: Cred, mode: u32) -> KResult<()> {
        if inode.file_type() == FileType::Symlink {
            return Err(Errno::EOPNOTSUPP);
        }
        let now = self.now();
        let mut g = inode.lock();
        if cred.uid != 0 && g.uid != cred.uid {
            return Err(Errno::EPERM);
        }
        let mut perm = mode & 0o7777;
        if cred.uid != 0 && g.gid != cred.gid {
            perm &= !0o2000;
        }
        g.perm = perm;
        g.ctime = now;
        Ok(())
    }

    /// `chown_common`: sets the owner and/or group (`None` = leave, the `-1` of the
    /// system call) and the ctime. On anything but a directory it clears `S_ISUID`, and
    /// `S_ISGID` when group-execute is set (or the caller is not root and not in the
    /// group), as `ATTR_KILL_SUID` / `setattr_should_drop_sgid` do, even for root.
    ///
    /// # Errors
    /// `EPERM` for a caller other than root that does not own the file, tries to change
    /// the owner, or tries to give it a group it is not in (`chown_ok`, `chgrp_ok`).
    pub fn chown(
        &self,
        inode: &Inode,
        cred: Cred,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> KResult<()> {
        let now = self.now();
        let mut g = inode.lock();
        if cred.uid != 0 {
            let uid_ok = uid.is_none_or(|u| u == g.uid && g.uid == cred.uid);
            let gid_ok = gid.is_none_or(|x| g.uid == cred.uid && (x == g.gid || x == cred.gid));
            if !uid_ok || !gid_ok {
                return Err(Errno::EPERM);
            }
        }
        if let Some(u) = uid {
            g.uid = u;
        }
        if let Some(x) = gid {
            g.gid = x;
        }
        if !inode.is_dir() {
            g.perm &= !0o4000;
            let in_group = cred.uid == 0 || g.gid == cred.gid;
            if g.perm & 0o2000 != 0 && (g.perm & 0o010 != 0 || !in_group) {
                g.perm &= !0o2000;
            }
        }
        g.ctime = now;
        Ok(())
    }

    /// `vfs_utimes`: sets the access and modification times as `atime` and `mtime` ask,
    /// and the ctime to now.
    ///
    /// # Errors
    /// `EPERM` if an explicit time is given by a caller other than root or the owner;
    /// `EACCES` if both are [`TimeUpdate::Now`] and such a caller may not write the file
    /// (`setattr_prepare` with `ATTR_TIMES_SET` / `ATTR_TOUCH`).
    pub fn set_times(
        &self,
        inode: &Inode,
        cred: Cred,
        atime: TimeUpdate,
        mtime: TimeUpdate,
    ) -> KResult<()> {
        let owner = cred.uid == 0 || inode.lock().uid == cred.uid;
        if !owner {
            let explicit = !matches!((atime, mtime), (TimeUpdate::Now, TimeUpdate::Now));
            if explicit {
                return Err(Errno::EPERM);
            }
            self.check_permission(inode, cred, MAY_WRITE)?;
        }
        let now = self.now();
        let mut g = inode.lock();
        match atime {
            TimeUpdate::Omit => {}
            TimeUpdate::Now => g.atime = now,
            TimeUpdate::Set(t) => g.atime = t,
        }
        match mtime {
            TimeUpdate::Omit => {}
            TimeUpdate::Now => g.mtime = now,
            TimeUpdate::Set(t) => g.mtime = t,
        }
        g.ctime = now;
        Ok(())
    }

    /// `do_renameat2` with flags 0 or `RENAME_NOREPLACE`; `EXDEV` when the two parents lie
    /// on different file systems ([`super::mount`]).
    pub(crate) fn rename(
        &self,
        nd: &mut Namei<'_>,
        old_start: &Arc<Inode>,
        old_path: &[u8],
        new_start: &Arc<Inode>,
        new_path: &[u8],
        noreplace: bool,
    ) -> KResult<()> {
        let op = nd.parent(old_start, old_path)?;
        nd.links_left = MAXSYMLINKS;
        let np = nd.parent(new_start, new_path)?;
        // do_renameat2(): "old_path.mnt != new_path.mnt" → EXDEV, before anything else.
        if op.dir.sb() != np.dir.sb() {
            return Err(Errno::EXDEV);
        }
        let (Last::Name(old_name), Last::Name(new_name)) = (&op.last, &np.last) else {
            return Err(Errno::EBUSY);
        };
        if !op.dir.is_dir() || !np.dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let _ns = self.ns_lock.lock();
        let old = dir_get(&op.dir, old_name)?.ok_or(Errno::ENOENT)?;
        if !old.is_dir() && (op.trailing_slash || np.trailing_slash) {
            return Err(Errno::ENOTDIR);
        }
        let target = dir_get(&np.dir, new_name)?;
        if noreplace && target.is_some() {
            return Err(Errno::EEXIST);
        }
        if let Some(t) = &target {
            if Arc::ptr_eq(t, &old) {
                return Ok(());
            }
        }
        if old.is_dir() {
            // Moving a directory into itself or below it.
            let mut cur = Arc::clone(&np.dir);
            for _ in 0..=PATH_MAX {
                if Arc::ptr_eq(&cur, &old) {
                    return Err(Errno::EINVAL);
                }
                if Arc::ptr_eq(&cur, &self.root) {
                    break;
                }
                cur = self.parent_of(&cur);
            }
            if let Some(t) = &target {
                if !t.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                if !dir_is_empty(t) {
                    return Err(Errno::ENOTEMPTY);
                }
            }
        } else if target.as_ref().is_some_and(|t| t.is_dir()) {
            return Err(Errno::EISDIR);
        }
        self.check_permission(&op.dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        self.check_permission(&np.dir, nd.cred, MAY_WRITE | MAY_EXEC)?;
        if dir_is_dead(&np.dir) {
            return Err(Errno::ENOENT);
        }
        if let Some(t) = &target {
            self.detach(&np.dir, new_name, t);
        }
        let now = self.now();
        let same_dir = Arc::ptr_eq(&op.dir, &np.dir);
        {
            let mut g = np.dir.lock();
            if let Body::Dir(d) = &mut g.body {
                d.insert(new_name.clone(), Arc::clone(&old));
                if same_dir {
                    d.remove(old_name);
                }
            }
            if old.is_dir() && !same_dir {
                g.nlink += 1;
            }
            g.mtime = now;
            g.ctime = now;
        }
        if !same_dir {
            let mut g = op.dir.lock();
            if let Body::Dir(d) = &mut g.body {
                d.remove(old_name);
            }
            if old.is_dir() {
                g.nlink = g.nlink.saturating_sub(1);
            }
            g.mtime = now;
            g.ctime = now;
        }
        let mut g = old.lock();
        g.ctime = now;
        if let Body::Dir(d) = &mut g.body {
            d.parent = Arc::downgrade(&np.dir);
        }
        Ok(())
    }
}

/// Looks `name` up in `dir` without following anything.
fn dir_get(dir: &Arc<Inode>, name: &[u8]) -> KResult<Option<Arc<Inode>>> {
    match &dir.lock().body {
        Body::Dir(d) if d.dead => Err(Errno::ENOENT),
        Body::Dir(d) => Ok(d.get(name)),
        _ => Err(Errno::ENOTDIR),
    }
}

fn dir_is_empty(dir: &Inode) -> bool {
    matches!(&dir.lock().body, Body::Dir(d) if d.is_empty())
}

fn dir_is_dead(dir: &Inode) -> bool {
    matches!(&dir.lock().body, Body::Dir(d) if d.dead)
}

fn set_owner(inode: &Inode, cred: Cred) {
    let mut g = inode.lock();
    g.uid = cred.uid;
    g.gid = cred.gid;
}

/// Splits an absolute kernel path into its directory and last name.
fn split_last(path: &[u8]) -> KResult<(&[u8], &[u8])> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let cut = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .ok_or(Errno::ENOENT)?;
    let name = trimmed.get(cut + 1..).unwrap_or_default();
    if name.is_empty() || name == b"." || name == b".." {
        return Err(Errno::EINVAL);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok((trimmed.get(..cut).unwrap_or_default(), name))
}

impl Namei<'_> {
    /// `path_parentat`: walks every component but the last.
    pub(crate) fn parent(&mut self, start: &Arc<Inode>, path: &[u8]) -> KResult<Parent> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut cur = if path.first() == Some(&b'/') {
            self.vfs.root()
        } else {
            Arc::clone(start)
        };
        let comps: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let Some((last, dirs)) = comps.split_last() else {
            return Ok(Parent {
                dir: cur,
                last: Last::Root,
                trailing_slash: false,
            });
        };
        for comp in dirs {
            cur = self.step(&cur, comp)?;
        }
        if last.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let last = match *last {
            b"." => Last::Dot,
            b".." => Last::DotDot,
            name => Last::Name(name.to_vec()),
        };
        Ok(Parent {
            dir: cur,
            last,
            trailing_slash: path.last() == Some(&b'/'),
        })
    }

    /// `path_lookupat`: the inode `path` names.
    pub(crate) fn resolve(
        &mut self,
        start: &Arc<Inode>,
        path: &[u8],
        follow: bool,
    ) -> KResult<Arc<Inode>> {
        let p = self.parent(start, path)?;
        match p.last {
            Last::Root => Ok(p.dir),
            Last::Dot => self.child(&p.dir, b"."),
            Last::DotDot => self.child(&p.dir, b".."),
            Last::Name(name) => {
                let c = self.child(&p.dir, &name)?;
                let c = if c.file_type() == FileType::Symlink && (follow || p.trailing_slash) {
                    self.follow(&p.dir, &c)?
                } else {
                    c
                };
                if p.trailing_slash && !c.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                Ok(c)
            }
        }
    }

    /// One component of a walk: the child, with a symlink followed.
    fn step(&mut self, cur: &Arc<Inode>, name: &[u8]) -> KResult<Arc<Inode>> {
        let c = self.child(cur, name)?;
        if c.file_type() == FileType::Symlink {
            self.follow(cur, &c)
        } else {
            Ok(c)
        }
    }

    /// `lookup_fast`/`lookup_slow` with `may_lookup`: `name` in `dir`, nothing followed.
    fn child(&self, dir: &Arc<Inode>, name: &[u8]) -> KResult<Arc<Inode>> {
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.vfs.check_permission(dir, self.cred, MAY_EXEC)?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        match name {
            b"." => Ok(Arc::clone(dir)),
            b".." => Ok(self.vfs.parent_of(dir)),
            _ => dir_get(dir, name)?.ok_or(Errno::ENOENT),
        }
    }

    /// The target text of a symlink, counting against the `MAXSYMLINKS` budget.
    fn link_target(&mut self, link: &Inode) -> KResult<Vec<u8>> {
        if self.links_left == 0 {
            return Err(Errno::ELOOP);
        }
        self.links_left -= 1;
        let target = self.vfs.readlink(link, self.exe).ok_or(Errno::EINVAL)?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        Ok(target)
    }

    /// `pick_link` + walking the target from the link's directory.
    fn follow(&mut self, dir: &Arc<Inode>, link: &Arc<Inode>) -> KResult<Arc<Inode>> {
        let target = self.link_target(link)?;
        self.resolve(dir, &target, true)
    }
}

/// A `--file HOST[:GUEST]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArg {
    /// The host file to read.
    pub host: PathBuf,
    /// The absolute guest path to create.
    pub guest: Vec<u8>,
}

/// Parses `HOST[:GUEST]`. The split is at the last `:` followed by `/` (guest paths are
/// absolute), so host paths containing `:` still work; without `:GUEST` the file goes to
/// `/` + the host file's name.
///
/// # Errors
/// [`ImportError::BadArgument`] if the host part is empty or has no file name.
pub fn parse_file_arg(arg: &str) -> Result<FileArg, ImportError> {
    let (host, guest) = match arg.rfind(":/") {
        Some(i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    };
    if host.is_empty() {
        return Err(ImportError::BadArgument(arg.to_owned()));
    }
    let guest = match guest {
        Some(g) => g.as_bytes().to_vec(),
        None => {
            let name = Path::new(host)
                .file_name()
                .ok_or_else(|| ImportError::BadArgument(arg.to_owned()))?;
            let mut g = b"/".to_vec();
            g.extend_from_slice(name.to_string_lossy().as_bytes());
            g
        }
    };
    Ok(FileArg {
        host: PathBuf::from(host),
        guest,
    })
}

/// Why a host file could not be put into the VFS.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The `--file` argument is malformed.
    #[error("bad --file argument {0:?}: expected HOST[:/GUEST/PATH]")]
    BadArgument(String),
    /// Reading the host file failed.
    #[error("cannot read host file {}", host.display())]
    Read {
        /// The host path.
        host: PathBuf,
        /// Why.
        #[source]
        source: HostFileError,
    },
    /// Creating the guest file failed.
    #[error("cannot create guest file {guest}: {errno}")]
    Create {
        /// The guest path.
        guest: String,
        /// Why.
        errno: Errno,
    },
}

#[cfg(unix)]
fn host_permissions(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644)
}

#[cfg(not(unix))]
fn host_permissions(_path: &Path) -> u32 {
    0o755
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vfs() -> Vfs {
        Vfs::new(VfsConfig::default())
    }

    fn look(v: &Vfs, path: &str) -> KResult<Arc<Inode>> {
        v.lookup(
            &v.root(),
            b"/bin/prog",
            Cred::default(),
            path.as_bytes(),
            true,
        )
    }

    #[test]
    fn initial_tree() {
        let v = vfs();
        assert!(look(&v, "/dev").unwrap().is_dir());
        assert_eq!(look(&v, "/dev/null").unwrap().mode(), 0o020666);
        assert_eq!(look(&v, "/tmp").unwrap().mode(), 0o041777);
        let exe = v
            .lookup(&v.root(), b"", Cred::default(), b"/proc/self/exe", false)
            .unwrap();
        assert_eq!(v.readlink(&exe, b"/bin/prog"), Some(b"/bin/prog".to_vec()));
        // Root nlink: 2 + dev, tmp, proc.
        assert_eq!(v.root().nlink(), 5);
    }

    /// `/proc/<pid>/exe` after an `execve` names the file itself: links followed,
    /// `/proc/self/exe` replaced by the caller's executable (never itself), relative
    /// paths made absolute, link loops `ELOOP`.
    #[test]
    fn lookup_resolved_gives_the_file_and_its_own_path() {
        let v = vfs();
        v.write_file(b"/bin/prog", b"x", 0o755).unwrap();
        v.symlink(b"prog", b"/bin/rel").unwrap();
        v.symlink(b"/bin", b"/binlink").unwrap();
        v.symlink(b"/loop2", b"/loop1").unwrap();
        v.symlink(b"/loop1", b"/loop2").unwrap();
        let resolve = |start: &Arc<Inode>, exe: &[u8], path: &str| {
            v.lookup_resolved(start, exe, Cred::default(), path.as_bytes())
                .map(|(_, p)| String::from_utf8(p).unwrap())
        };
        let root = v.root();
        let bin = look(&v, "/bin").unwrap();
        let (file, _) = v
            .lookup_resolved(&root, b"", Cred::default(), b"/binlink/rel")
            .unwrap();
        assert!(
            Arc::ptr_eq(&file, &look(&v, "/bin/prog").unwrap()),
            "the file itself"
        );
        assert_eq!(resolve(&root, b"", "/bin/prog").unwrap(), "/bin/prog");
        assert_eq!(resolve(&root, b"", "/binlink/rel").unwrap(), "/bin/prog");
        assert_eq!(resolve(&bin, b"", "rel").unwrap(), "/bin/prog");
        assert_eq!(resolve(&bin, b"", "./../bin/prog").unwrap(), "/bin/prog");
        assert_eq!(
            resolve(&root, b"/bin/prog", "/proc/self/exe").unwrap(),
            "/bin/prog"
        );
        assert_eq!(
            resolve(&root, b"/binlink/rel", "/proc/self/exe").unwrap(),
            "/bin/prog"
        );
        assert_eq!(resolve(&root, b"", "/loop1").unwrap_err(), Errno::ELOOP);
        assert_eq!(
            resolve(&root, b"", "/bin/missing").unwrap_err(),
            Errno::ENOENT
        );
    }

    #[test]
    fn walking_rules() {
        let v = vfs();
        v.write_file(b"/a/b/file", b"data", 0o644).unwrap();
        let file = look(&v, "/a/b/file").unwrap();
        assert!(Arc::ptr_eq(&look(&v, "/a/./b/../b//file").unwrap(), &file));
        assert!(Arc::ptr_eq(&look(&v, "/../../a/b/file").unwrap(), &file));
        assert!(Arc::ptr_eq(&look(&v, "/").unwrap(), &v.root()));
        assert_eq!(look(&v, "").unwrap_err(), Errno::ENOENT);
        assert_eq!(look(&v, "/a/missing").unwrap_err(), Errno::ENOENT);
        assert_eq!(look(&v, "/a/b/file/").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(look(&v, "/a/b/file/x").unwrap_err(), Errno::ENOTDIR);
        assert_eq!(look(&v, "/a/b/file/.").unwrap_err(), Errno::ENOTDIR);
        let long = format!("/a/{}", "n".repeat(256));
        assert_eq!(look(&v, &long).unwrap_err(), Errno::ENAMETOOLONG);
        let long_path = "/a".repeat(2048);
        assert_eq!(look(&v, &long_path).unwrap_err(), Errno::ENAMETOOLONG);
        // Relative to a start directory.
        let b = look(&v, "/a/b").unwrap();
        let r = v.lookup(&b, b"", Cred::default(), b"file", true).unwrap();
        assert!(Arc::ptr_eq(&r, &file));
    }

    #[test]
    fn symlinks_and_eloop() {
        let v = vfs();
        v.write_file(b"/d/target", b"x", 0o644).unwrap();
        v.symlink(b"target", b"/d/rel").unwrap();
        v.symlink(b"/d", b"/dirlink").unwrap();
        v.symlink(b"/loop2", b"/loop1").unwrap();
        v.symlink(b"/loop1", b"/loop2").unwrap();
        let t = look(&v, "/d/target").unwrap();
        assert!(Arc::ptr_eq(&look(&v, "/d/rel").unwrap(), &t));
        assert!(Arc::ptr_eq(&look(&v, "/dirlink/rel").unwrap(), &t));
        let nofollow = v
            .lookup(&v.root(), b"", Cred::default(), b"/d/rel", false)
            .unwrap();
        assert_eq!(nofollow.file_type(), FileType::Symlink);
        assert_eq!(look(&v, "/loop1").unwrap_err(), Errno::ELOOP);
        // A trailing slash follows even without `follow`.
        let d = v
            .lookup(&v.root(), b"", Cred::default(), b"/dirlink/", false)
            .unwrap();
        assert!(d.is_dir());
        // A chain of 40 links resolves; 41 is too many.
        v.write_file(b"/c/0", b"", 0o644).unwrap();
        for i in 1..=41 {
            v.symlink(
                format!("{}", i - 1).as_bytes(),
                format!("/c/{i}").as_bytes(),
            )
            .unwrap();
        }
        assert!(look(&v, "/c/40").is_ok());
        assert_eq!(look(&v, "/c/41").unwrap_err(), Errno::ELOOP);
        // /proc/self/exe follows to the process's executable.
        v.write_file(b"/bin/prog", b"\x7fELF", 0o755).unwrap();
        assert!(Arc::ptr_eq(
            &look(&v, "/proc/self/exe").unwrap(),
            &look(&v, "/bin/prog").unwrap()
        ));
    }

    #[test]
    fn path_of_and_removed_directories() {
        let v = vfs();
        let d = v.create_dir_all(b"/x/y/z", 0o755).unwrap();
        assert_eq!(v.path_of(&d).unwrap(), b"/x/y/z");
        assert_eq!(v.path_of(&v.root()).unwrap(), b"/");
        let mut nd = v.namei(b"", Cred::default());
        v.rmdir(&mut nd, &v.root(), b"/x/y/z").unwrap();
        assert_eq!(v.path_of(&d).unwrap_err(), Errno::ENOENT);
        let mut w = DirentWriter::new(4096);
        assert_eq!(v.readdir(&d, 0, &mut w).unwrap_err(), Errno::ENOENT);
    }

    #[test]
    fn permissions_for_root_and_others() {
        let v = vfs();
        let f = v.write_file(b"/f", b"", 0o640).unwrap();
        let root = Cred::default();
        assert_eq!(v.check_permission(&f, root, MAY_READ | MAY_WRITE), Ok(()));
        assert_eq!(v.check_permission(&f, root, MAY_EXEC), Err(Errno::EACCES));
        let user = Cred { uid: 1000, gid: 0 };
        assert_eq!(v.check_permission(&f, user, MAY_READ), Ok(()), "group r");
        assert_eq!(v.check_permission(&f, user, MAY_WRITE), Err(Errno::EACCES));
        let other = Cred { uid: 1000, gid: 5 };
        assert_eq!(v.check_permission(&f, other, MAY_READ), Err(Errno::EACCES));
    }

    #[test]
    fn space_limit_and_file_arg() {
        let v = Vfs::new(VfsConfig {
            size_limit_bytes: 8192,
            ..VfsConfig::default()
        });
        v.write_file(b"/small", &[1; 8192], 0o644).unwrap();
        assert_eq!(v.used_bytes(), 8192);
        assert_eq!(
            v.write_file(b"/big", &[1; 10], 0o644).unwrap_err(),
            Errno::ENOSPC
        );
        assert_eq!(
            parse_file_arg("data/in.txt").unwrap(),
            FileArg {
                host: "data/in.txt".into(),
                guest: b"/in.txt".to_vec()
            }
        );
        assert_eq!(
            parse_file_arg("c:weird:name:/etc/x").unwrap(),
            FileArg {
                host: "c:weird:name".into(),
                guest: b"/etc/x".to_vec()
            }
        );
        assert!(parse_file_arg(":/x").is_err());
    }

    #[test]
    fn import_host_file_creates_parents_and_keeps_mode() {
        let dir = std::env::temp_dir().join(format!("dirtybit-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let host = dir.join("tool.sh");
        std::fs::write(&host, b"#!/bin/sh\necho hi\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o750)).unwrap();
        }
        let v = vfs();
        let arg = parse_file_arg(&format!("{}:/opt/bin/tool", host.display())).unwrap();
        v.import_host_file(&arg).unwrap();
        let f = look(&v, "/opt/bin/tool").unwrap();
        assert_eq!(
            f.read_all(1 << 20).unwrap().unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        #[cfg(unix)]
        assert_eq!(f.mode(), 0o100750);
        let missing = FileArg {
            host: dir.join("nope"),
            guest: b"/nope".to_vec(),
        };
        assert!(matches!(
            v.import_host_file(&missing),
            Err(ImportError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
