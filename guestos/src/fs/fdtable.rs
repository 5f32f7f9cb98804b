//! Per-process file state: the descriptor table (`struct files_struct`, fs/file.c) and
//! the working directory, umask, credentials and executable path (`struct fs_struct` and
//! friends), bundled as [`ProcessFs`].

use std::sync::Arc;

use super::file::OpenFile;
use super::inode::Inode;
use super::stdio::{HostStreams, StdStream};
use super::vfs::{Cred, Vfs};
use crate::errno::{Errno, KResult};

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

    /// `do_close_on_exec`: closes every descriptor with `FD_CLOEXEC`.
    pub fn close_on_exec(&mut self) {
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|s| s.cloexec) {
                *s = None;
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
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

/// A process's file-system state: what every file system call needs besides the VFS.
#[derive(Debug, Clone)]
pub struct ProcessFs {
    /// The descriptor table.
    pub fds: FdTable,
    /// The working directory (`fs->pwd`).
    pub cwd: Arc<Inode>,
    /// The creation mask (`fs->umask`), 022 by default.
    pub umask: u32,
    /// The credentials used for permission checks (root by default).
    pub cred: Cred,
    /// The path `/proc/self/exe` points at; the exec path sets it.
    pub exe_path: Vec<u8>,
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
            fds,
            cwd: vfs.root(),
            umask: 0o022,
            cred: Cred::default(),
            exe_path: Vec::new(),
        }
    }

    /// `copy_files` + `copy_fs` for `fork`: a new table sharing the same open file
    /// descriptions, the same cwd, umask, credentials and executable.
    pub fn fork(&self) -> ProcessFs {
        self.clone()
    }

    /// The file-system part of a successful `execve` (`begin_new_exec`): closes the
    /// close-on-exec descriptors and records the new executable's path.
    pub fn exec(&mut self, exe_path: Vec<u8>) {
        self.fds.close_on_exec();
        self.exe_path = exe_path;
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
        let f = file(&vfs);
        let fd = p.fds.alloc(Arc::clone(&f), true, 0).unwrap();
        assert_eq!(fd, 3);
        let child = p.fork();
        assert!(Arc::ptr_eq(&child.fds.get(3).unwrap(), &f));
        p.exec(b"/bin/new".to_vec());
        assert_eq!(p.fds.open_fds(), vec![0, 1, 2]);
        assert_eq!(p.exe_path, b"/bin/new");
        assert_eq!(child.fds.open_fds(), vec![0, 1, 2, 3]);
    }
}
