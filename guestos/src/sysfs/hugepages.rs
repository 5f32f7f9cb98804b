//! `/sys/kernel/mm/hugepages/hugepages-2048kB/` and `hugepages-1048576kB/`
//! (`mm/hugetlb_sysfs.c`'s `hstate_attrs`, one directory per hstate;
//! `Documentation/admin-guide/mm/hugetlbpage.rst`) and the `/proc/sys/vm` sysctls
//! `nr_hugepages` and `nr_overcommit_hugepages` (the default, 2 MiB, pool's): the pools'
//! counters ([`crate::mm::hugetlb::HstateCounts`]).
//!
//! | file | mode | shows | a write |
//! |---|---|---|---|
//! | `nr_hugepages` | 0644 | the persistent pool size | `kstrtoul()`; resizes the pool ([`crate::mm::PageAlloc::set_max_huge_pages`]: as many as it can) |
//! | `free_hugepages` | 0444 | free pages (reserved ones included) | — |
//! | `resv_hugepages` | 0444 | reserved, not yet faulted pages | — |
//! | `surplus_hugepages` | 0444 | pages beyond the persistent pool | — |
//! | `nr_overcommit_hugepages` | 0644 | the surplus limit | `kstrtoul()`; `EINVAL` for the gigantic (1 GiB) pool, which takes no surplus pages |
//!
//! Every value is followed by a newline. A malformed number is `EINVAL` (`ERANGE` past
//! `u64::MAX`). Growing the 1 GiB pool needs a whole, aligned, free gigabyte of guest RAM
//! per page (`alloc_contig_pages()`): the count reached may be lower than the one
//! written, as in Linux.

use super::{kstrtoull, SysfsAttr};
use crate::errno::{Errno, KResult};
use crate::fs::{KernelNode, Vfs};
use crate::mm::PhysMem;

/// The directory of the pools' directories.
pub const HUGEPAGES_SYSFS: &str = "/sys/kernel/mm/hugepages";
/// Where the two sysctls live.
pub const VM_SYSCTL: &str = "/proc/sys/vm";

/// One attribute of a pool's directory under [`HUGEPAGES_SYSFS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HugepagesAttr {
    /// `nr_hugepages`.
    NrHugepages,
    /// `free_hugepages`.
    FreeHugepages,
    /// `resv_hugepages`.
    ResvHugepages,
    /// `surplus_hugepages`.
    SurplusHugepages,
    /// `nr_overcommit_hugepages`.
    NrOvercommitHugepages,
}

impl HugepagesAttr {
    /// Every attribute with its file name.
    pub const ALL: [(HugepagesAttr, &'static str); 5] = [
        (HugepagesAttr::NrHugepages, "nr_hugepages"),
        (HugepagesAttr::FreeHugepages, "free_hugepages"),
        (HugepagesAttr::ResvHugepages, "resv_hugepages"),
        (HugepagesAttr::SurplusHugepages, "surplus_hugepages"),
        (
            HugepagesAttr::NrOvercommitHugepages,
            "nr_overcommit_hugepages",
        ),
    ];

    /// Whether the attribute has a `store()`.
    pub fn writable(self) -> bool {
        matches!(
            self,
            HugepagesAttr::NrHugepages | HugepagesAttr::NrOvercommitHugepages
        )
    }

    /// `nr_hugepages_show()`, `free_hugepages_show()`, …: the counter of the pool of
    /// pages of `order` (`kobj_to_hstate()`) and a newline.
    pub fn show(self, phys: &PhysMem, order: u32) -> String {
        let c = phys.pages.folio_hstate(1 << order).counts();
        let v = match self {
            HugepagesAttr::NrHugepages => c.persistent(),
            HugepagesAttr::FreeHugepages => c.free_huge_pages,
            HugepagesAttr::ResvHugepages => c.resv_huge_pages,
            HugepagesAttr::SurplusHugepages => c.surplus_huge_pages,
            HugepagesAttr::NrOvercommitHugepages => c.nr_overcommit_huge_pages,
        };
        format!("{v}\n")
    }

    /// `nr_hugepages_store()` / `nr_overcommit_hugepages_store()` on the pool of pages
    /// of `order`.
    ///
    /// # Errors
    /// `EINVAL` for a malformed number, a read-only attribute, or
    /// `nr_overcommit_hugepages` of the gigantic pool; `ERANGE` past `u64::MAX`.
    pub fn store(self, phys: &PhysMem, order: u32, buf: &[u8]) -> KResult<()> {
        let n = kstrtoull(buf)?;
        let h = phys.pages.folio_hstate(1 << order);
        match self {
            HugepagesAttr::NrHugepages => {
                phys.pages.set_max_huge_pages(h, &phys.ram, n);
            }
            HugepagesAttr::NrOvercommitHugepages => {
                phys.pages.set_nr_overcommit_huge_pages(h, n)?;
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }
}

/// Creates a directory under [`HUGEPAGES_SYSFS`] for each pool (`hugetlb_sysfs_init()`
/// → `hugetlb_sysfs_add_hstate()`, named [`crate::mm::hugetlb::Hstate::name`]) and the
/// two sysctls of [`VM_SYSCTL`] for the default pool (`hugetlb_sysctl_init()`), 0755
/// directories.
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    let orders = crate::mm::hugetlb::HSTATE_ORDERS;
    for (i, order) in orders.into_iter().enumerate() {
        let dir = format!("{HUGEPAGES_SYSFS}/hugepages-{}kB", (4u64 << order));
        for (attr, name) in HugepagesAttr::ALL {
            let mode = if attr.writable() { 0o644 } else { 0o444 };
            let node = KernelNode::Sysfs(SysfsAttr::Hugepages(attr, order));
            vfs.add_kernel_file(dir.as_bytes(), 0o755, name.as_bytes(), mode, node)?;
            // The sysctls are default_hstate's, the first one's.
            if attr.writable() && i == 0 {
                vfs.add_kernel_file(VM_SYSCTL.as_bytes(), 0o555, name.as_bytes(), mode, node)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{GuestMemory, GuestPhysAddr};

    #[test]
    fn the_files_show_and_resize_the_pool() {
        let ram = GuestMemory::new(&[(GuestPhysAddr(0x8000_0000), 64 << 20)]).unwrap();
        let phys = PhysMem::new(ram).unwrap();
        let show = |a: HugepagesAttr| a.show(&phys, 9);
        assert_eq!(show(HugepagesAttr::NrHugepages), "0\n");
        assert_eq!(HugepagesAttr::NrHugepages.store(&phys, 9, b"4\n"), Ok(()));
        assert_eq!(show(HugepagesAttr::NrHugepages), "4\n");
        assert_eq!(show(HugepagesAttr::FreeHugepages), "4\n");
        assert_eq!(show(HugepagesAttr::ResvHugepages), "0\n");
        // 64 MiB hold fewer than 1000 huge pages: the pool takes what there is.
        assert_eq!(HugepagesAttr::NrHugepages.store(&phys, 9, b"1000"), Ok(()));
        let most: u64 = show(HugepagesAttr::NrHugepages).trim().parse().unwrap();
        assert!((20..32).contains(&most), "{most}");
        assert_eq!(HugepagesAttr::NrHugepages.store(&phys, 9, b"0"), Ok(()));
        assert_eq!(show(HugepagesAttr::FreeHugepages), "0\n");
        assert_eq!(
            HugepagesAttr::NrHugepages.store(&phys, 9, b"x"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            HugepagesAttr::FreeHugepages.store(&phys, 9, b"1"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            HugepagesAttr::NrOvercommitHugepages.store(&phys, 9, b"3"),
            Ok(())
        );
        assert_eq!(show(HugepagesAttr::NrOvercommitHugepages), "3\n");
        assert_eq!(phys.pages.audit().inconsistent_frames, 0);
    }
}
