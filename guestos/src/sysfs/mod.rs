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
//! | `/sys/kernel/mm/hugepages/hugepages-{2048,1048576}kB/` | `nr_hugepages`, `free_hugepages`, `resv_hugepages`, `surplus_hugepages`, `nr_overcommit_hugepages`; also `/proc/sys/vm/nr_hugepages` and `nr_overcommit_hugepages` | [`hugepages`] over the pool ([`crate::mm::hugetlb`]) |
//!
//! The same attribute files serve the two `/proc/sys/vm` hugetlb sysctls: Linux's
//! `hugetlb_sysctl_handler()` and `nr_hugepages_store()` end in the same
//! `__nr_hugepages_store_common()`, and both print one number and a newline.

pub mod hugepages;
pub mod transparent_hugepage;

use devices::PAGE_SIZE;

use crate::errno::{Errno, KResult};
use crate::fs::{
    FileCtx, FileOperations, IoResult, Kiocb, OpenFile, Vfs, WriteSource, SEEK_CUR, SEEK_END,
    SEEK_SET,
};
use crate::mm::PhysMem;

/// Which sysfs attribute a [`crate::fs::KernelNode::Sysfs`] inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SysfsAttr {
    /// A file of `/sys/kernel/mm/transparent_hugepage/`.
    Thp(transparent_hugepage::ThpAttr),
    /// A file of `/sys/kernel/mm/hugepages/hugepages-<size>kB/` (or its `/proc/sys/vm`
    /// sysctl), with the order of its pool's pages.
    Hugepages(hugepages::HugepagesAttr, u32),
}

impl SysfsAttr {
    /// Whether the attribute has a `store()` (mode 0644, else 0444).
    pub fn writable(self) -> bool {
        match self {
            SysfsAttr::Thp(a) => a.writable(),
            SysfsAttr::Hugepages(a, _) => a.writable(),
        }
    }

    /// `show()`: the file's text, for the machine whose memory is `phys`.
    pub fn show(self, phys: &PhysMem) -> String {
        match self {
            SysfsAttr::Thp(a) => a.show(&phys.thp),
            SysfsAttr::Hugepages(a, order) => a.show(phys, order),
        }
    }

    /// `store()`: the written bytes `buf`.
    ///
    /// # Errors
    /// The attribute's (see each module).
    pub fn store(self, phys: &PhysMem, buf: &[u8]) -> KResult<()> {
        match self {
            SysfsAttr::Thp(a) => a.store(&phys.thp, buf),
            SysfsAttr::Hugepages(a, order) => a.store(phys, order, buf),
        }
    }
}

/// The operations of one open of a sysfs attribute (kernfs's `kernfs_file_fops` over a
/// `kobj_attribute`).
#[derive(Debug)]
pub struct AttrFile {
    attr: SysfsAttr,
}

/// The operations of one open of `attr` (kernfs's `kernfs_file_fops`).
pub fn file_operations(attr: SysfsAttr) -> Box<dyn FileOperations> {
    Box::new(AttrFile { attr })
}

/// Runs `f` on the machine's physical memory as the caller of `ctx` reaches it (through
/// its address space: one per machine).
///
/// # Errors
/// `EIO` without the process table; `ESRCH` if the caller has no address space.
pub fn with_phys<R>(ctx: &mut FileCtx<'_, '_>, f: impl FnOnce(&PhysMem) -> R) -> KResult<R> {
    let (tasks, caller) = ctx.tasks()?;
    let mm = tasks.get_task_mm(caller).ok_or(Errno::ESRCH)?;
    let phys = std::sync::Arc::clone(mm.mmap_read_lock().phys());
    Ok(f(&phys))
}

/// `sysfs_kf_seq_show()` / `seq_read()` of a text rendered whole for each read: the
/// bytes of `text` from the position on, at most `len`, copied to `buf`.
///
/// # Errors
/// `EFAULT` from the copy.
pub fn read_text(
    ctx: &mut FileCtx<'_, '_>,
    iocb: &mut Kiocb,
    buf: u64,
    len: usize,
    text: &[u8],
) -> IoResult<usize> {
    let from = usize::try_from(iocb.pos).unwrap_or(usize::MAX);
    let piece = text.get(from..).unwrap_or_default();
    let piece = piece.get(..len.min(piece.len())).unwrap_or_default();
    if piece.is_empty() {
        return Ok(0);
    }
    let n = ctx.copy_to_user(buf, piece)?;
    iocb.pos += n as u64;
    Ok(n)
}

impl FileOperations for AttrFile {
    /// `sysfs_kf_seq_show()`: `show()`'s text from the position on.
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let text = with_phys(ctx, |p| self.attr.show(p))?;
        read_text(ctx, iocb, buf, len, text.as_bytes())
    }

    /// `kernfs_fop_write_iter()` → `sysfs_kf_write()` → `store()`: at most a page at
    /// once; the whole count on success.
    fn write(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        if !self.attr.writable() {
            return Err(Errno::EINVAL.into());
        }
        let count = len.min(PAGE_SIZE as usize);
        if count == 0 {
            return Ok(0);
        }
        let mut bytes = vec![0u8; count];
        ctx.copy_from_source(src, 0, &mut bytes)?;
        with_phys(ctx, |p| self.attr.store(p, &bytes))??;
        iocb.pos += count as u64;
        Ok(count)
    }

    /// `generic_file_llseek()` over a file of one page (kernfs's `i_size`).
    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => pos as i64,
            SEEK_END => PAGE_SIZE as i64,
            _ => return Err(Errno::EINVAL),
        };
        u64::try_from(base.checked_add(offset).ok_or(Errno::EINVAL)?).map_err(|_| Errno::EINVAL)
    }

    fn can_write(&self) -> bool {
        self.attr.writable()
    }
}

/// Creates `/sys/kernel/mm` and its attribute files in `vfs` (the `sysfs_create_group()`
/// calls of each subsystem at boot), and the hugetlb sysctls of `/proc/sys/vm`.
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    transparent_hugepage::register(vfs)?;
    hugepages::register(vfs)
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
