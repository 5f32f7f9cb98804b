//! Files implemented by kernel code rather than by data (debugfs files such as
//! `/sys/kernel/debug/gup_test`): Linux's `struct file_operations` with `open`,
//! `unlocked_ioctl` and `release`, reduced to what such files need here.
//!
//! The mechanism, end to end:
//!
//! 1. A subsystem puts a node in the tree with [`crate::fs::Vfs::add_special_file`]: a
//!    regular-file inode (as debugfs files are) whose body holds a [`SpecialNode`], the
//!    file's `open` function.
//! 2. `openat` on it calls that function once per open and keeps what it returns, an
//!    `Arc<dyn SpecialFile>`, in the open file description (Linux's
//!    `file->private_data` together with `file->f_op`); `dup` and `fork` share it with
//!    the description.
//! 3. `ioctl` on a descriptor of such a file (after the generic `FIOCLEX`, `FIONCLEX`,
//!    `FIONBIO` handled for every file, as `do_vfs_ioctl()` does) calls
//!    [`SpecialFile::ioctl`] with a [`SpecialCtx`]: the calling process's pid, its
//!    address space (`current->mm`, which is also its user memory for
//!    `copy_{from,to}_user`) and the kernel log (`printk`, the guest's stderr stream).
//! 4. When the last descriptor of the open file description is closed (or its process
//!    exits), the description and with it the `SpecialFile` are dropped: `Drop` is the
//!    file's `release`.
//!
//! Reads and writes of such files fail with `EINVAL` (no `read`/`write` operation, as
//! `vfs_read()` says when `FMODE_CAN_READ` is not set) and `lseek` with `ESPIPE`
//! (`nonseekable_open()`).

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::mm::Mm;

/// What a [`SpecialFile`] operation may use of the calling process (Linux: `current`).
pub struct SpecialCtx<'a> {
    /// The caller's pid (for kernel messages).
    pub pid: u32,
    /// The caller's address space (`current->mm`); also its user memory
    /// ([`crate::UserAccess`]).
    pub mm: &'a mut Mm,
    /// The kernel log (`printk`): each call writes whole lines to the guest's stderr
    /// stream.
    pub log: &'a mut dyn FnMut(&str),
}

/// The operations of one open special file (`file->f_op` with `file->private_data` as
/// `self`). Dropping it is `release`.
pub trait SpecialFile: Send + Sync + std::fmt::Debug {
    /// `unlocked_ioctl(file, cmd, arg)`: returns the value for `a0`.
    ///
    /// # Errors
    /// The file's errnos; `ENOTTY` by default (no `unlocked_ioctl`).
    fn ioctl(&self, ctx: &mut SpecialCtx<'_>, cmd: u32, arg: u64) -> KResult<u64> {
        let _ = (ctx, cmd, arg);
        Err(Errno::ENOTTY)
    }
}

/// The body of a special file's inode: its `open` operation, called once per `openat`.
#[derive(Clone, Copy)]
pub struct SpecialNode {
    /// Makes the per-open state (`file->private_data`) for an open with `flags`.
    pub open: fn(flags: u32) -> Arc<dyn SpecialFile>,
}

impl std::fmt::Debug for SpecialNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpecialNode")
    }
}
