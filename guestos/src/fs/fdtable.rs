//! Per-task file state: the descriptor table ([`FdTable`] behind [`FilesStruct`],
//! `struct files_struct` of fs/file.c), the working directory and umask ([`FsStruct`],
//! `struct fs_struct`), and the task's handles on them with its credentials and
//! executable path, bundled as [`ProcessFs`].

use std::sync::Arc;

use super::file::OpenFile;
use super::inode::Inode;
use super::stdio::{HostStreams, StdStream};
use super::vfs::{Cred, Vfs};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

/// `RLIMIT_NOFILE`'s default soft limit: descriptors are `0..1024`.
pub const RLIMIT_NOFILE: u32 = 1024;

/// One descriptor: the shared open file description and the per-descriptor
/// close-on-exec flag (`FD_CLOEXEC`).
#[derive(Debug, Clone)]
struct FdSlot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// A descriptor table. Cloning it (`fork` without `CLONE_FILES`, `dup_fd`) shares the
/// open file descriptions.
#[derive(Debug, Clone)]
pub struct FdTable {
    slots: Vec<Option<FdSlot>>,
    limit: u32,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable {
            slots: Vec::new(),
            limit: RLIMIT_NOFILE,
        }
    }
}

impl FdTable {
    /// An empty table with the default `RLIMIT_NOFILE`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The descriptor limit (`RLIMIT_NOFILE`).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The open file description of `fd`.
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn get(&self, fd: u32) -> KResult<Arc<OpenFile>> {
        self.slots
            .get(fd as usize)
            .and_then(|s| s.as_ref())
            .map(|s| Arc::clone(&s.file))
            .ok_or(Errno::EBADF)
    }

    /// `FD_CLOEXEC` of `fd`.
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn cloexec(&self, fd: u32) -> KResult<bool> {
        self.slots
            .get(fd as usize)
            .and_then(|s| s.as_ref())
            .map(|s| s.cloexec)
            .ok_or(Errno::EBADF)
    }

    /// Sets `FD_CLOEXEC` of `fd`.
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn set_cloexec(&mut self, fd: u32, on: bool) -> KResult<()> {
        let slot = self
            .slots
            .get_mut(fd as usize)
            .and_then(|s| s.as_mut())
            .ok_or(Errno::EBADF)?;
        slot.cloexec = on;
        Ok(())
    }

    /// `alloc_fd(start, …)` + `fd_install`: the lowest free descriptor `>= min`.
    ///
    /// # Errors
    /// `EINVAL` if `min >= limit` (as `F_DUPFD` reports); `EMFILE` if all are in use.
    pub fn alloc(&mut self, file: Arc<OpenFile>, cloexec: bool, min: u32) -> KResult<u32> {
        if min >= self.limit {
            return Err(Errno::EINVAL);
        }
        let start = min as usize;
        let free =
            (start..self.limit as usize).find(|&i| self.slots.get(i).is_none_or(|s| s.is_none()));
        let fd = free.ok_or(Errno::EMFILE)?;
        if self.slots.len() <= fd {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(FdSlot { file, cloexec });
        Ok(fd as u32)
    }

    /// Checks that [`FdTable::alloc`] from 0 would succeed `n` times, so a call can fail
    /// with `EMFILE` before it has side effects (as `get_unused_fd_flags` comes first in
    /// `do_sys_openat2` and `do_pipe2`).
    ///
    /// # Errors
    /// `EMFILE`.
    pub fn check_free(&self, n: usize) -> KResult<()> {
        let used = self.slots.iter().filter(|s| s.is_some()).count();
        if used + n > self.limit as usize {
            return Err(Errno::EMFILE);
        }
        Ok(())
    }

    /// `do_dup2`: installs `file` at `fd`, returning what was there (closed by dropping).
    ///
    /// # Errors
    /// `EBADF` if `fd >= limit`.
    pub fn install_at(
        &mut self,
        fd: u32,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> KResult<Option<Arc<OpenFile>>> {
        if fd >= self.limit {
            return Err(Errno::EBADF);
        }
        let i = fd as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        let old = self.slots[i].replace(FdSlot { file, cloexec });
        Ok(old.map(|s| s.file))
    }

    /// `close_fd`: removes `fd` and returns its description (the last reference going
    /// away is the final `fput`).
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn close(&mut self, fd: u32) -> KResult<Arc<OpenFile>> {
        let slot = self
            .slots
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::EBADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(slot.file)
    }

    /// `do_close_on_exec`: closes every descriptor with `FD_CLOEXEC`; returns their
    /// descriptions (closed when the caller drops them).
    pub fn close_on_exec(&mut self) -> Vec<Arc<OpenFile>> {
        let mut closed = Vec::new();
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|s| s.cloexec) {
                closed.extend(s.take().map(|s| s.file));
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        closed
    }

    /// The open descriptors, ascending.
    pub fn open_fds(&self) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as u32)
            .collect()
    }
}

/// `struct files_struct` (fs/file.c): a descriptor table that tasks share
/// (`clone(CLONE_FILES)`, and every thread) or copy (`fork`: [`FilesStruct::dup_fd`]),
/// behind its own lock (`files->file_lock`). Every method takes the lock for its own
/// duration only: a file's last reference (the final `fput`) is dropped after it is
/// released.
#[derive(Debug, Default)]
pub struct FilesStruct {
    fdt: Mutex<FdTable>,
}

impl FilesStruct {
    /// A table holding `fdt`.
    pub fn new(fdt: FdTable) -> Self {
        FilesStruct {
            fdt: Mutex::new(fdt),
        }
    }

    /// The table under `files->file_lock` (counted in [`crate::lockstat::FILES_LOCK`]).
    fn table(&self) -> crate::sync::MutexGuard<'_, FdTable> {
        // The scheduling point a plain acquisition makes (sync.rs), kept.
        crate::sync::sched_point();
        crate::lockstat::FILES_LOCK.acquire(|| self.fdt.try_lock(), || self.fdt.lock())
    }

    /// `dup_fd()`: a new table with the same descriptors, sharing their open file
    /// descriptions (`fork` without `CLONE_FILES`).
    pub fn dup_fd(&self) -> FilesStruct {
        FilesStruct::new(self.table().clone())
    }

    /// See [`FdTable::limit`].
    pub fn limit(&self) -> u32 {
        self.table().limit()
    }

    /// `fget()`: see [`FdTable::get`].
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn get(&self, fd: u32) -> KResult<Arc<OpenFile>> {
        self.table().get(fd)
    }

    /// See [`FdTable::cloexec`].
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn cloexec(&self, fd: u32) -> KResult<bool> {
        self.table().cloexec(fd)
    }

    /// See [`FdTable::set_cloexec`].
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn set_cloexec(&self, fd: u32, on: bool) -> KResult<()> {
        self.table().set_cloexec(fd, on)
    }

    /// See [`FdTable::alloc`].
    ///
    /// # Errors
    /// `EINVAL` if `min >= limit`; `EMFILE` if all are in use.
    pub fn alloc(&self, file: Arc<OpenFile>, cloexec: bool, min: u32) -> KResult<u32> {
        self.table().alloc(file, cloexec, min)
    }

    /// See [`FdTable::check_free`]. Another task sharing the table may take the free
    /// descriptors before the caller's [`FilesStruct::alloc`]; that call then fails
    /// with `EMFILE` itself (today the kernel lock keeps the two together).
    ///
    /// # Errors
    /// `EMFILE`.
    pub fn check_free(&self, n: usize) -> KResult<()> {
        self.table().check_free(n)
    }

    /// See [`FdTable::install_at`]; what was at `fd` is returned after the lock is
    /// released (closed when the caller drops it).
    ///
    /// # Errors
    /// `EBADF` if `fd >= limit`.
    pub fn install_at(
        &self,
        fd: u32,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> KResult<Option<Arc<OpenFile>>> {
        self.table().install_at(fd, file, cloexec)
    }

    /// See [`FdTable::close`].
    ///
    /// # Errors
    /// `EBADF` if `fd` is not open.
    pub fn close(&self, fd: u32) -> KResult<Arc<OpenFile>> {
        self.table().close(fd)
    }

    /// See [`FdTable::close_on_exec`]. The descriptions it closes are dropped after the
    /// lock is released.
    pub fn close_on_exec(&self) {
        let closed = self.table().close_on_exec();
        drop(closed);
    }

    /// See [`FdTable::open_fds`].
    pub fn open_fds(&self) -> Vec<u32> {
        self.table().open_fds()
    }
}

/// What `struct fs_struct` holds here: the working directory (`fs->pwd`) and the
/// creation mask (`fs->umask`), shared by `clone(CLONE_FS)` (and every thread) or copied
/// (`copy_fs_struct()`), behind its own lock (`fs->lock`).
#[derive(Debug)]
pub struct FsStruct {
    inner: Mutex<FsInfo>,
}

#[derive(Debug, Clone)]
struct FsInfo {
    pwd: Arc<Inode>,
    umask: u32,
}

impl FsStruct {
    /// Working directory `pwd`, creation mask `umask`.
    pub fn new(pwd: Arc<Inode>, umask: u32) -> Self {
        FsStruct {
            inner: Mutex::new(FsInfo { pwd, umask }),
        }
    }

    /// `copy_fs_struct()`: an unshared copy (`fork` without `CLONE_FS`).
    pub fn copy(&self) -> FsStruct {
        FsStruct {
            inner: Mutex::new(self.inner.lock().clone()),
        }
    }

    /// `get_fs_pwd()`: the working directory.
    pub fn pwd(&self) -> Arc<Inode> {
        Arc::clone(&self.inner.lock().pwd)
    }

    /// `set_fs_pwd()`: changes the working directory of every task sharing this.
    pub fn set_pwd(&self, pwd: Arc<Inode>) {
        let old = std::mem::replace(&mut self.inner.lock().pwd, pwd);
        drop(old);
    }

    /// The creation mask (`current_umask()`).
    pub fn umask(&self) -> u32 {
        self.inner.lock().umask
    }

    /// `umask(mask)`: sets the creation mask, returns the old one.
    pub fn set_umask(&self, mask: u32) -> u32 {
        std::mem::replace(&mut self.inner.lock().umask, mask)
    }
}

/// A task's file-system handles: what every file system call needs besides the VFS.
/// The descriptor table and the `fs_struct` are shared, reference-counted parts
/// (`task->files`, `task->fs`); the credentials (`task->cred`) and the executable's
/// path (`mm->exe_file`, kept with the task here: the tasks that share an address
/// space share the path too, as nothing but `execve` changes it) are the task's own.
#[derive(Debug, Clone)]
pub struct ProcessFs {
    /// The descriptor table (`task->files`).
    pub fds: Arc<FilesStruct>,
    /// Working directory and umask (`task->fs`).
    pub fs: Arc<FsStruct>,
    /// The credentials used for permission checks (root by default).
    pub cred: Cred,
    /// The path `/proc/self/exe` points at; the exec path sets it.
    pub exe_path: Vec<u8>,
    /// The full credentials (`current->cred`), whose fs ids `cred` mirrors; changed only
    /// through [`ProcessFs::commit_creds`].
    pub ids: super::cred::TaskCred,
}

impl ProcessFs {
    /// The first process's state: cwd `/`, umask 022, root, and descriptors 0, 1, 2 on
    /// the host's stdin, stdout and stderr.
    pub fn new(vfs: &Vfs, stdio: &Arc<HostStreams>) -> ProcessFs {
        let mut fds = FdTable::new();
        for which in [StdStream::Stdin, StdStream::Stdout, StdStream::Stderr] {
            // A fresh table always has room for three descriptors.
            let _ = fds.alloc(OpenFile::host(stdio, which), false, 0);
        }
        ProcessFs {
            fds: Arc::new(FilesStruct::new(fds)),
            fs: Arc::new(FsStruct::new(vfs.root(), 0o022)),
            cred: Cred::default(),
            exe_path: Vec::new(),
            ids: super::cred::TaskCred::default(),
        }
    }

    /// `copy_files()` + `copy_fs()` of `copy_process()`: the new task shares the
    /// descriptor table with `share_files` (`CLONE_FILES`) and gets a copy sharing the
    /// open file descriptions otherwise; it shares the `fs_struct` with `share_fs`
    /// (`CLONE_FS`) and gets a copy otherwise. Credentials and executable path are
    /// copied.
    pub fn copy(&self, share_files: bool, share_fs: bool) -> ProcessFs {
        ProcessFs {
            fds: if share_files {
                Arc::clone(&self.fds)
            } else {
                Arc::new(self.fds.dup_fd())
            },
            fs: if share_fs {
                Arc::clone(&self.fs)
            } else {
                Arc::new(self.fs.copy())
            },
            cred: self.cred,
            exe_path: self.exe_path.clone(),
            ids: self.ids.clone(),
        }
    }

    /// `commit_creds()`: `new` become the task's credentials, and their fs ids those its
    /// permission checks use.
    pub fn commit_creds(&mut self, new: super::cred::TaskCred) {
        self.cred = Cred {
            uid: new.fsuid,
            gid: new.fsgid,
        };
        self.ids = new;
    }

    /// `copy_files` + `copy_fs` for `fork`: a new table sharing the same open file
    /// descriptions, the same cwd, umask, credentials and executable, nothing shared.
    pub fn fork(&self) -> ProcessFs {
        self.copy(false, false)
    }

    /// The file-system part of a successful `execve` (`begin_new_exec`): closes the
    /// close-on-exec descriptors and records the new executable's path. (The caller
    /// has already given the task a table of its own: `unshare_files()`.)
    pub fn exec(&mut self, exe_path: Vec<u8>) {
        self.fds.close_on_exec();
        self.exe_path = exe_path;
    }

    /// `unshare_files()` of `execve`: a table still shared with another process (by
    /// `clone(CLONE_FILES)`) is replaced by a copy of its own, so that the close-on-exec
    /// descriptors close for this task alone.
    pub fn unshare_files(&mut self) {
        if Arc::strong_count(&self.fds) > 1 {
            self.fds = Arc::new(self.fds.dup_fd());
        }
    }

    /// `exit_files()`: the task drops its reference to the descriptor table; the last
    /// reference closes every descriptor (pipe readers see EOF, writers EPIPE).
    pub fn exit_files(&mut self) {
        self.fds = Arc::new(FilesStruct::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileTarget, VfsConfig};

    fn file(vfs: &Vfs) -> Arc<OpenFile> {
        OpenFile::new(FileTarget::Inode(vfs.root()), 0)
    }

    #[test]
    fn lowest_free_descriptor_and_limits() {
        let vfs = Vfs::new(VfsConfig::default());
        let mut t = FdTable::new();
        assert_eq!(t.alloc(file(&vfs), false, 0), Ok(0));
        assert_eq!(t.alloc(file(&vfs), false, 0), Ok(1));
        assert_eq!(t.alloc(file(&vfs), true, 5), Ok(5));
        assert_eq!(t.alloc(file(&vfs), false, 0), Ok(2));
        t.close(1).unwrap();
        assert_eq!(t.alloc(file(&vfs), false, 0), Ok(1));
        assert_eq!(t.close(7).unwrap_err(), Errno::EBADF);
        assert_eq!(t.alloc(file(&vfs), false, 1024).unwrap_err(), Errno::EINVAL);
        for _ in 0..1024 - 4 {
            t.alloc(file(&vfs), false, 0).unwrap();
        }
        assert_eq!(t.alloc(file(&vfs), false, 0).unwrap_err(), Errno::EMFILE);
        assert_eq!(
            t.install_at(1024, file(&vfs), false).unwrap_err(),
            Errno::EBADF
        );
    }

    #[test]
    fn close_on_exec_and_fork_share_descriptions() {
        let vfs = Vfs::new(VfsConfig::default());
        let (streams, _out) = HostStreams::capture(Vec::new());
        let mut p = ProcessFs::new(&vfs, &Arc::new(streams));
        assert_eq!(p.fds.open_fds(), vec![0, 1, 2]);
        let shared = p.copy(true, true);
        let f = file(&vfs);
        let fd = p.fds.alloc(Arc::clone(&f), true, 0).unwrap();
        assert_eq!(fd, 3);
        let child = p.fork();
        assert!(Arc::ptr_eq(&child.fds.get(3).unwrap(), &f));
        p.exec(b"/bin/new".to_vec());
        assert_eq!(p.fds.open_fds(), vec![0, 1, 2]);
        assert_eq!(p.exe_path, b"/bin/new");
        assert_eq!(child.fds.open_fds(), vec![0, 1, 2, 3]);
        // CLONE_FILES: the sharer sees the close too; CLONE_FS: and a chdir.
        assert_eq!(shared.fds.open_fds(), vec![0, 1, 2]);
        let d = vfs.create_dir_all(b"/d", 0o755).unwrap();
        p.fs.set_pwd(Arc::clone(&d));
        assert!(Arc::ptr_eq(&shared.fs.pwd(), &d));
        assert!(!Arc::ptr_eq(&child.fs.pwd(), &d));
        assert_eq!(shared.fs.set_umask(0o77), 0o022);
        assert_eq!(p.fs.umask(), 0o77);
        assert_eq!(child.fs.umask(), 0o022);
    }
}
