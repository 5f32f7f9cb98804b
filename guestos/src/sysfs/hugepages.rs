//! `/sys/kernel/mm/hugepages/hugepages-2048kB/` (`mm/hugetlb_sysfs.c`'s `hstate_attrs`;
//! `Documentation/admin-guide/mm/hugetlbpage.rst`) and the `/proc/sys/vm` sysctls
//! `nr_hugepages` and `nr_overcommit_hugepages`: the 2 MiB pool's counters
//! ([`crate::mm::hugetlb::HstateCounts`]).
//!
//! | file | mode | shows | a write |
//! |---|---|---|---|
//! | `nr_hugepages` | 0644 | the persistent pool size | `kstrtoul()`; resizes the pool ([`crate::mm::PageAlloc::set_max_huge_pages`]: as many as it can) |
//! | `free_hugepages` | 0444 | free pages (reserved ones included) | — |
//! | `resv_hugepages` | 0444 | reserved, not yet faulted pages | — |
//! | `surplus_hugepages` | 0444 | pages beyond the persistent pool | — |
//! | `nr_overcommit_hugepages` | 0644 | the surplus limit | `kstrtoul()` |
//!
//! Every value is followed by a newline. A malformed number is `EINVAL` (`ERANGE` past
//! `u64::MAX`). Only one size exists (see [`crate::mm::hugetlb`]'s limits), so
//! `/sys/kernel/mm/hugepages/` holds only `hugepages-2048kB`.

use super::{kstrtoull, SysfsAttr};
use crate::errno::{Errno, KResult};
use crate::fs::{KernelNode, Vfs};
use crate::mm::PhysMem;

/// The directory of the 2 MiB pool.
pub const HUGEPAGES_SYSFS: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";
/// Where the two sysctls live.
pub const VM_SYSCTL: &str = "/proc/sys/vm";

/// One attribute of [`HUGEPAGES_SYSFS`].
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

    /// `nr_hugepages_show()`, `free_hugepages_show()`, …: the counter and a newline.
    pub fn show(self, phys: &PhysMem) -> String {
        let c = phys.pages.hstate_counts();
        let v = match self {
            HugepagesAttr::NrHugepages => c.persistent(),
            HugepagesAttr::FreeHugepages => c.free_huge_pages,
            HugepagesAttr::ResvHugepages => c.resv_huge_pages,
            HugepagesAttr::SurplusHugepages => c.surplus_huge_pages,
            HugepagesAttr::NrOvercommitHugepages => c.nr_overcommit_huge_pages,
        };
        format!("{v}\n")
    }

    /// `nr_hugepages_store()` / `nr_overcommit_hugepages_store()`.
    ///
    /// # Errors
    /// `EINVAL` for a malformed number or a read-only attribute; `ERANGE` past
    /// `u64::MAX`.
    pub fn store(self, phys: &PhysMem, buf: &[u8]) -> KResult<()> {
        let n = kstrtoull(buf)?;
        match self {
            HugepagesAttr::NrHugepages => {
                phys.pages.set_max_huge_pages(&phys.ram, n);
            }
            HugepagesAttr::NrOvercommitHugepages => phys.pages.set_nr_overcommit_huge_pages(n),
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }
}

/// Creates [`HUGEPAGES_SYSFS`] (`hugetlb_sysfs_init()`) and the two sysctls of
/// [`VM_SYSCTL`] (`hugetlb_sysctl_init()`), 0755 directories.
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    for (attr, name) in HugepagesAttr::ALL {
        let mode = if attr.writable() { 0o644 } else { 0o444 };
        let node = KernelNode::Sysfs(SysfsAttr::Hugepages(attr));
        vfs.add_kernel_file(
            HUGEPAGES_SYSFS.as_bytes(),
            0o755,
            name.as_bytes(),
            mode,
            node,
        )?;
        if attr.writable() {
            vfs.add_kernel_file(VM_SYSCTL.as_bytes(), 0o555, name.as_bytes(), mode, node)?;
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
        let show = |a: HugepagesAttr| a.show(&phys);
        assert_eq!(show(HugepagesAttr::NrHugepages), "0\n");
        assert_eq!(HugepagesAttr::NrHugepages.store(&phys, b"4\n"), Ok(()));
        assert_eq!(show(HugepagesAttr::NrHugepages), "4\n");
        assert_eq!(show(HugepagesAttr::FreeHugepages), "4\n");
        assert_eq!(show(HugepagesAttr::ResvHugepages), "0\n");
        // 64 MiB hold fewer than 1000 huge pages: the pool takes what there is.
        assert_eq!(HugepagesAttr::NrHugepages.store(&phys, b"1000"), Ok(()));
        let most: u64 = show(HugepagesAttr::NrHugepages).trim().parse().unwrap();
        assert!((20..32).contains(&most), "{most}");
        assert_eq!(HugepagesAttr::NrHugepages.store(&phys, b"0"), Ok(()));
        assert_eq!(show(HugepagesAttr::FreeHugepages), "0\n");
        assert_eq!(
            HugepagesAttr::NrHugepages.store(&phys, b"x"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            HugepagesAttr::FreeHugepages.store(&phys, b"1"),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            HugepagesAttr::NrOvercommitHugepages.store(&phys, b"3"),
            Ok(())
        );
        assert_eq!(show(HugepagesAttr::NrOvercommitHugepages), "3\n");
        assert_eq!(phys.pages.audit().inconsistent_frames, 0);
    }
}
