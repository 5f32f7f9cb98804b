//! `fs/anon_inodes.c`: files with no name in any file system (`eventfd`, `timerfd`…).
//! Linux gives them all one inode of the `anon_inodefs` pseudo file system
//! (`anon_inode_getfile()`); each description carries its own `file_operations` and
//! `private_data`, here one [`FileOperations`] object. `/proc/<pid>/fd` shows them as
//! `anon_inode:[name]`.

use std::any::Any;
use std::sync::Arc;

use super::fops::FileOperations;

/// `st_dev` of `anon_inodefs` (an unnamed block device, as `get_anon_bdev()` hands out).
pub(super) const ANON_INODEFS_DEV: (u32, u32) = (0, 15);
/// `st_ino` of the one `anon_inode_inode` every anonymous file shares.
pub(super) const ANON_INODE_INO: u64 = 1;

/// The open-file side of an anonymous file (`FileTarget::Anon`): its name (`"[eventfd]"`)
/// and its operations with their state.
pub struct AnonFile {
    name: &'static str,
    f_op: Arc<dyn FileOperations>,
    /// The same object as `f_op`, for the calls that take it back out of a descriptor
    /// (`timerfd_fget()`: `file->f_op == &timerfd_fops`, then `file->private_data`).
    private_data: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for AnonFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnonFile")
            .field("name", &self.name)
            .field("f_op", &self.f_op)
            .finish()
    }
}

impl AnonFile {
    /// `anon_inode_getfile(name, fops, priv, flags)`'s target: `f_op` is the file's
    /// operations and `private_data` at once.
    pub fn new<T: FileOperations + Any>(name: &'static str, f_op: Arc<T>) -> Self {
        AnonFile {
            name,
            f_op: Arc::clone(&f_op) as Arc<dyn FileOperations>,
            private_data: f_op,
        }
    }

    /// `file->private_data` if the file's operations are a `T` (`None` for another kind
    /// of anonymous file: the caller's `EINVAL`).
    pub fn private_data<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.private_data).downcast::<T>().ok()
    }

    /// `file->private_data` borrowed, if the file's operations are a `T`.
    pub fn private_ref<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.private_data.downcast_ref::<T>()
    }

    /// The name, as `"[eventfd]"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The path `/proc/<pid>/fd/<n>` links to: `anon_inode:[eventfd]`.
    pub fn path(&self) -> Vec<u8> {
        format!("anon_inode:{}", self.name).into_bytes()
    }

    /// The file's operations and state.
    pub fn f_op(&self) -> &dyn FileOperations {
        self.f_op.as_ref()
    }
}
