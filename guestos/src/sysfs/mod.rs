//! sysfs (`/sys`): the kernel's attribute files. Each attribute is a kernel-served file
//! (`fs::kfile`, [`crate::fs::KernelNode::Sysfs`]) whose [`crate::fs::FileOperations`]
//! are a `kobj_attribute`'s `show()`/`store()` pair behind kernfs's file operations
//! (`kernfs_fop_read_iter()`, `kernfs_fop_write_iter()`):
//!
//! - a read returns the bytes of `show()`'s text from the file position on (a new
//!   `show()` each time, as `sysfs_kf_seq_show()` renders it per read from position 0);
//! - a write hands at most one page of bytes to `store()` at once; its answer is the
//!   write's (the byte count, or an errno) and the position advances by what was taken;
//! - attributes without `store()` are 0444 and refuse writes (`EINVAL`, kernfs's answer
//!   for an `ops->write` that is missing).
//!
//! | directory | attributes | the work |
//! |---|---|---|
//! | `/sys/kernel/mm/transparent_hugepage/` | `enabled`, `defrag`, `use_zero_page`, `hpage_pmd_size`, `shmem_enabled`, `hugepages-2048kB/{enabled,shmem_enabled}`, `khugepaged/*` | [`transparent_hugepage`] over [`crate::mm::huge_memory::ThpSettings`] |

pub mod transparent_hugepage;

use crate::errno::{Errno, KResult};
use crate::fs::{FileOperations, Vfs};

/// Which sysfs attribute a [`crate::fs::KernelNode::Sysfs`] inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SysfsAttr {
    /// A file of `/sys/kernel/mm/transparent_hugepage/`.
    Thp(transparent_hugepage::ThpAttr),
}

/// The operations of one open of `attr` (kernfs's `kernfs_file_fops`).
pub fn file_operations(attr: SysfsAttr) -> Box<dyn FileOperations> {
    match attr {
        SysfsAttr::Thp(a) => transparent_hugepage::file_operations(a),
    }
}

/// Creates `/sys/kernel/mm` and its attribute files in `vfs` (the `sysfs_create_group()`
/// calls of each subsystem at boot).
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    transparent_hugepage::register(vfs)
}

/// `_kstrtoull(s, 10)` as `kstrtoul()`/`kstrtouint()` run it on a sysfs write
/// (`lib/kstrtox.c`): an optional `+`, decimal digits, and at most one newline at the
/// end; the bytes end at the first NUL.
///
/// # Errors
/// `EINVAL` for no digits or any other character; `ERANGE` past `u64::MAX`.
pub fn kstrtoull(bytes: &[u8]) -> KResult<u64> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut s = bytes.get(..end).unwrap_or_default();
    if let Some(rest) = s.strip_prefix(b"+") {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix(b"\n") {
        s = rest;
    }
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(Errno::EINVAL);
    }
    s.iter().try_fold(0u64, |v, d| {
        v.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(Errno::ERANGE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstrtoull_takes_a_sign_and_one_newline() {
        assert_eq!(kstrtoull(b"0"), Ok(0));
        assert_eq!(kstrtoull(b"+511\n"), Ok(511));
        assert_eq!(kstrtoull(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(kstrtoull(b"18446744073709551616"), Err(Errno::ERANGE));
        for bad in [&b""[..], b"\n", b"1\n\n", b" 1", b"-1", b"0x10", b"1 "] {
            assert_eq!(kstrtoull(bad), Err(Errno::EINVAL), "{bad:?}");
        }
    }
}
