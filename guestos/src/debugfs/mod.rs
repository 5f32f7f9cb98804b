//! debugfs (`/sys/kernel/debug`, mode 0700 as debugfs is mounted): the kernel's debugging
//! files. Each is a kernel-served file (`fs::kfile`) with its own
//! [`crate::fs::FileOperations`]:
//!
//! | file | operations | the work |
//! |---|---|---|
//! | `gup_test` | [`gup_test`] (`gup_test_fops`) | [`crate::mm::gup_test`] |

pub mod gup_test;

use crate::errno::KResult;
use crate::fs::Vfs;

/// Creates `/sys/kernel/debug` and its files in `vfs` (`debugfs_create_file()` of each
/// subsystem at boot).
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    gup_test::register(vfs)
}
