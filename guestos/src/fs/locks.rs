//! `flock()` advisory locks (`fs/locks.c` `flock_lock_inode()`): a shared or exclusive
//! lock on a file, owned by an open file description (every descriptor `dup`ed or
//! inherited from it shares it) and released with its last reference.
//!
//! The table holds each lock with a weak reference to its owner: a description that is
//! gone (its last `fput()`) holds nothing, and its entry is pruned at the next call on
//! that file (`locks_remove_file()` at release, done lazily).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::OpenFile;
use crate::errno::{Errno, KResult};

/// What a lock request asks for (`flock_translate_cmd()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlockType {
    /// `LOCK_SH` (`F_RDLCK`).
    Shared,
    /// `LOCK_EX` (`F_WRLCK`).
    Exclusive,
    /// `LOCK_UN` (`F_UNLCK`).
    Unlock,
}

/// One held lock: its owner and whether it is exclusive.
#[derive(Debug)]
struct FileLock {
    owner: Weak<OpenFile>,
    exclusive: bool,
}

/// The `flock()` locks of every file (`inode->i_flctx->flc_flock`), keyed by the file's
/// identity: its inode's address (a held lock's owner keeps the inode alive), or the
/// description's own for a file without an inode (a pipe end, a host stream), which then
/// conflicts with no other description.
#[derive(Debug, Default)]
pub struct FlockTable {
    locks: Mutex<HashMap<usize, Vec<FileLock>>>,
}

/// The key of `file`'s locks.
fn key(file: &Arc<OpenFile>) -> usize {
    match file.inode() {
        Some(i) => Arc::as_ptr(i) as usize,
        None => Arc::as_ptr(file) as usize,
    }
}

impl FlockTable {
    /// `flock_lock_inode()` for description `file`: a lock of the same type it holds
    /// already is kept; one of the other type is dropped first (so a conversion is not
    /// atomic, as in Linux); `Unlock` stops there. A shared lock conflicts with an
    /// exclusive one held through another description, an exclusive one with any.
    ///
    /// # Errors
    /// `EWOULDBLOCK` (`EAGAIN`) on a conflict: the caller sleeps and retries, or returns
    /// it for `LOCK_NB`.
    pub fn flock(&self, file: &Arc<OpenFile>, ty: FlockType) -> KResult<()> {
        let mut table = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(file);
        let locks = table.entry(k).or_default();
        locks.retain(|l| l.owner.strong_count() > 0);
        let mine = |l: &FileLock| std::ptr::eq(l.owner.as_ptr(), Arc::as_ptr(file));
        let exclusive = ty == FlockType::Exclusive;
        if let Some(pos) = locks.iter().position(mine) {
            if ty != FlockType::Unlock && locks[pos].exclusive == exclusive {
                return Ok(());
            }
            locks.remove(pos);
        }
        let r = if ty == FlockType::Unlock {
            Ok(())
        } else if locks.iter().any(|l| exclusive || l.exclusive) {
            Err(Errno::EAGAIN)
        } else {
            locks.push(FileLock {
                owner: Arc::downgrade(file),
                exclusive,
            });
            Ok(())
        };
        if locks.is_empty() {
            table.remove(&k);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Cred, FileTarget, Vfs, VfsConfig, O_RDWR};

    /// Two open file descriptions of one tmpfs file.
    fn two_descriptions() -> (Vfs, Arc<OpenFile>, Arc<OpenFile>) {
        let vfs = Vfs::new(VfsConfig::default());
        let inode = vfs.memfd_inode(Cred::default(), 0);
        let open = || OpenFile::new(FileTarget::Inode(Arc::clone(&inode)), O_RDWR);
        let (a, b) = (open(), open());
        (vfs, a, b)
    }

    #[test]
    fn conflicts_across_descriptions_and_release_with_the_last_reference() {
        let (vfs, a, b) = two_descriptions();
        let t = vfs.flocks();
        t.flock(&a, FlockType::Shared).unwrap();
        t.flock(&b, FlockType::Shared).unwrap();
        assert_eq!(t.flock(&b, FlockType::Exclusive), Err(Errno::EAGAIN));
        // The failed conversion dropped b's shared lock first, as Linux does.
        t.flock(&a, FlockType::Exclusive).unwrap();
        assert_eq!(t.flock(&b, FlockType::Shared), Err(Errno::EAGAIN));
        // The same description asks again: kept.
        t.flock(&a, FlockType::Exclusive).unwrap();
        drop(a);
        t.flock(&b, FlockType::Exclusive).unwrap();
        t.flock(&b, FlockType::Unlock).unwrap();
        t.flock(&b, FlockType::Unlock).unwrap();
        assert!(t.locks.lock().unwrap().is_empty());
    }
}
