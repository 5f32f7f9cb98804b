//! Transparent huge pages, the fault side (Linux `mm/huge_memory.c`): the PMD level of
//! `__handle_mm_fault()`, `do_huge_pmd_anonymous_page()`, `do_huge_pmd_wp_page()`,
//! `huge_pmd_set_accessed()`, `do_huge_pmd_numa_page()`'s protection restore, and
//! `vma_adjust_trans_huge()`. The page-table side (split, zap, protection change, move,
//! fork copy of a huge PMD) is in [`super::pgtable`]; the 2 MiB folios, the huge zero
//! folio and folio splitting are in [`super::page_alloc`]; GUP on huge PMDs in
//! [`super::gup`].
//!
//! # Policy
//! The machine's [`ThpSettings`], which `/sys/kernel/mm/transparent_hugepage/` shows and
//! changes ([`crate::sysfs`]); by default `enabled = madvise` (Debian's) and
//! `use_zero_page = 1`. Under `madvise` a fault in a private anonymous VMA with
//! `VM_HUGEPAGE` (`MADV_HUGEPAGE`), under `always` in any private anonymous VMA, and in
//! either case without `VM_NOHUGEPAGE`, gets a 2 MiB mapping when the aligned
//! 2 MiB around the address lies inside the VMA (and the VMA's `vm_pgoff` is congruent
//! with its address modulo 2 MiB, as `transhuge_vma_suitable()` requires) and the PMD is
//! empty:
//!
//! - a write allocates a zeroed 2 MiB folio and maps it with one level-1 leaf
//!   (`PageAnonExclusive` on the head), writable if `VM_WRITE`;
//! - a read (or unshare) maps the huge zero folio read-only (with `use_zero_page = 0`
//!   it allocates a THP as a write does);
//! - no free 2 MiB block: `VM_FAULT_FALLBACK`, the fault is served with 4 KiB pages
//!   (`thp_fault_fallback`).
//!
//! Entries are created with `A = D = 0` (the module policy of [`super::pgtable`]): the
//! hardware walker sets them on the megapage PTE under Svadu; under Svade the handler sets
//! them for the faulting access.
//!
//! Write faults on a read-only huge PMD follow Linux ≥ 5.8 (commit 3917c80280c9, "thp:
//! change CoW semantics for anon-THP"): an exclusive folio (`PageAnonExclusive`, or only
//! our PMD's reference) is reused; anything else splits the PMD and lets the PTE level
//! copy one 4 KiB page. One deliberate difference: a **write** fault on the huge zero
//! folio allocates a fresh zeroed THP (as Linux did before 5.8); when no 2 MiB block is
//! free, or for `FAULT_FLAG_UNSHARE`, the PMD is split into PTEs mapping the small zero
//! page and the PTE level handles the fault, as Linux ≥ 5.8 always does.
//!
//! No `khugepaged` thread: 4 KiB pages are collapsed into huge ones only by
//! `MADV_COLLAPSE` ([`super::khugepaged`]), and `MADV_HUGEPAGE` on populated memory
//! changes only later faults.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use mmu::PteFlags;

use super::fault::{FaultFlags, VmFault};
use super::page_alloc::{PageFlags, Pfn, ThpEvent, HPAGE_PMD_NR, HPAGE_PMD_SIZE};
use super::pgtable::{
    mk_pte, pmd_trans_huge, pte_exec, pte_none, pte_pfn, pte_protnone, pte_write, vm_get_page_prot,
};
use super::vma::{VmFlags, Vma};
use super::{Mm, MmuGather};
use crate::errno::Errno;

/// `VM_NO_KHUGEPAGED`: VMAs that never get transparent huge pages.
const VM_NO_THP: VmFlags = VmFlags::SPECIAL.union(VmFlags::HUGETLB);

/// One choice of a sysfs "mode" file: the words it shows (the chosen one in brackets)
/// and accepts, in Linux's order.
pub trait ThpMode: Copy + Eq + 'static {
    /// Every mode, in the order the file lists them.
    const ALL: &'static [Self];
    /// The word for `self`.
    fn word(self) -> &'static str;
    /// Its index in [`ThpMode::ALL`], the value the setting's atomic holds.
    fn index(self) -> u8 {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0) as u8
    }
    /// The mode stored as `index` (the first for an index out of range).
    fn from_index(index: u8) -> Self {
        Self::ALL
            .get(usize::from(index))
            .or_else(|| Self::ALL.first())
            .copied()
            .unwrap_or_else(|| unreachable!("a mode list is never empty"))
    }
}

/// `/sys/kernel/mm/transparent_hugepage/enabled` (`enabled_show()`/`enabled_store()`):
/// which anonymous VMAs inherit PMD-sized THPs (`TRANSPARENT_HUGEPAGE_FLAG` /
/// `TRANSPARENT_HUGEPAGE_REQ_MADV_FLAG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThpEnabled {
    /// `always`: every large-enough anonymous VMA without `VM_NOHUGEPAGE`.
    Always,
    /// `madvise` (Debian's default): only `MADV_HUGEPAGE` (`VM_HUGEPAGE`) VMAs.
    Madvise,
    /// `never`: none (`MADV_COLLAPSE` still collapses).
    Never,
}

impl ThpMode for ThpEnabled {
    const ALL: &'static [Self] = &[ThpEnabled::Always, ThpEnabled::Madvise, ThpEnabled::Never];
    fn word(self) -> &'static str {
        match self {
            ThpEnabled::Always => "always",
            ThpEnabled::Madvise => "madvise",
            ThpEnabled::Never => "never",
        }
    }
}

/// `hugepages-2048kB/enabled` (`thpsize_enabled_show()`/`_store()`): the PMD size's own
/// setting (`huge_anon_orders_always/inherit/madvise`); `inherit` (the PMD order's
/// default) defers to [`ThpEnabled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThpSizeEnabled {
    /// `always`.
    Always,
    /// `inherit`: as the top-level `enabled`.
    Inherit,
    /// `madvise`.
    Madvise,
    /// `never`.
    Never,
}

impl ThpMode for ThpSizeEnabled {
    const ALL: &'static [Self] = &[
        ThpSizeEnabled::Always,
        ThpSizeEnabled::Inherit,
        ThpSizeEnabled::Madvise,
        ThpSizeEnabled::Never,
    ];
    fn word(self) -> &'static str {
        match self {
            ThpSizeEnabled::Always => "always",
            ThpSizeEnabled::Inherit => "inherit",
            ThpSizeEnabled::Madvise => "madvise",
            ThpSizeEnabled::Never => "never",
        }
    }
}

/// `defrag` (`defrag_show()`/`defrag_store()`): how hard a THP allocation may reclaim
/// and compact. Stored and shown only: the frame allocator here never compacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThpDefrag {
    /// `always`.
    Always,
    /// `defer`.
    Defer,
    /// `defer+madvise`.
    DeferMadvise,
    /// `madvise` (the default).
    Madvise,
    /// `never`.
    Never,
}

impl ThpMode for ThpDefrag {
    const ALL: &'static [Self] = &[
        ThpDefrag::Always,
        ThpDefrag::Defer,
        ThpDefrag::DeferMadvise,
        ThpDefrag::Madvise,
        ThpDefrag::Never,
    ];
    fn word(self) -> &'static str {
        match self {
            ThpDefrag::Always => "always",
            ThpDefrag::Defer => "defer",
            ThpDefrag::DeferMadvise => "defer+madvise",
            ThpDefrag::Madvise => "madvise",
            ThpDefrag::Never => "never",
        }
    }
}

/// `shmem_enabled` (`shmem_enabled_show()`/`_store()`, `mm/shmem.c`): huge pages for
/// shmem. Stored and shown only: shmem huge pages are not modelled (as with the default,
/// `never`, nothing changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmemEnabled {
    /// `always`.
    Always,
    /// `within_size`.
    WithinSize,
    /// `advise`.
    Advise,
    /// `never` (the default).
    Never,
    /// `deny`.
    Deny,
    /// `force`.
    Force,
}

impl ThpMode for ShmemEnabled {
    const ALL: &'static [Self] = &[
        ShmemEnabled::Always,
        ShmemEnabled::WithinSize,
        ShmemEnabled::Advise,
        ShmemEnabled::Never,
        ShmemEnabled::Deny,
        ShmemEnabled::Force,
    ];
    fn word(self) -> &'static str {
        match self {
            ShmemEnabled::Always => "always",
            ShmemEnabled::WithinSize => "within_size",
            ShmemEnabled::Advise => "advise",
            ShmemEnabled::Never => "never",
            ShmemEnabled::Deny => "deny",
            ShmemEnabled::Force => "force",
        }
    }
}

/// `hugepages-2048kB/shmem_enabled` (`thpsize_shmem_enabled_show()`): the PMD size's
/// shmem setting. Stored and shown only (see [`ShmemEnabled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmemSizeEnabled {
    /// `always`.
    Always,
    /// `inherit` (the PMD size's default): as `shmem_enabled`.
    Inherit,
    /// `within_size`.
    WithinSize,
    /// `advise`.
    Advise,
    /// `never`.
    Never,
}

impl ThpMode for ShmemSizeEnabled {
    const ALL: &'static [Self] = &[
        ShmemSizeEnabled::Always,
        ShmemSizeEnabled::Inherit,
        ShmemSizeEnabled::WithinSize,
        ShmemSizeEnabled::Advise,
        ShmemSizeEnabled::Never,
    ];
    fn word(self) -> &'static str {
        match self {
            ShmemSizeEnabled::Always => "always",
            ShmemSizeEnabled::Inherit => "inherit",
            ShmemSizeEnabled::WithinSize => "within_size",
            ShmemSizeEnabled::Advise => "advise",
            ShmemSizeEnabled::Never => "never",
        }
    }
}

/// A mode setting in an atomic (the index of its word).
#[derive(Debug)]
pub struct ModeSetting<M: ThpMode>(AtomicU8, std::marker::PhantomData<M>);

impl<M: ThpMode> ModeSetting<M> {
    fn new(mode: M) -> Self {
        ModeSetting(AtomicU8::new(mode.index()), std::marker::PhantomData)
    }

    /// The current mode.
    pub fn get(&self) -> M {
        M::from_index(self.0.load(Ordering::Relaxed))
    }

    /// Sets the mode.
    pub fn set(&self, mode: M) {
        self.0.store(mode.index(), Ordering::Relaxed);
    }
}

/// The `khugepaged/` tunables (`mm/khugepaged.c`), with Linux's defaults for 4 KiB pages.
/// Stored, validated and shown: there is no khugepaged thread here, so
/// `pages_collapsed` and `full_scans` stay 0 (`MADV_COLLAPSE` is not khugepaged's work
/// and does not count there either).
#[derive(Debug)]
pub struct KhugepagedSettings {
    /// `defrag` (0 or 1; default 1).
    pub defrag: AtomicBool,
    /// `max_ptes_none` (0–511; default 511, `HPAGE_PMD_NR - 1`).
    pub max_ptes_none: AtomicU32,
    /// `max_ptes_swap` (0–511; default 64, `HPAGE_PMD_NR / 8`).
    pub max_ptes_swap: AtomicU32,
    /// `max_ptes_shared` (0–511; default 256, `HPAGE_PMD_NR / 2`).
    pub max_ptes_shared: AtomicU32,
    /// `pages_to_scan` (≥ 1; default 4096, `HPAGE_PMD_NR * 8`).
    pub pages_to_scan: AtomicU32,
    /// `scan_sleep_millisecs` (default 10000).
    pub scan_sleep_millisecs: AtomicU32,
    /// `alloc_sleep_millisecs` (default 60000).
    pub alloc_sleep_millisecs: AtomicU32,
}

/// The machine-wide THP policy behind `/sys/kernel/mm/transparent_hugepage/`
/// (`transparent_hugepage_flags`, `huge_anon_orders_*`, `shmem_huge`, khugepaged's
/// tunables): one per machine, in [`super::PhysMem::thp`], each setting its own atomic
/// (no lock: a fault reads a setting once, as Linux's `READ_ONCE()` of the flags). The
/// defaults are Debian's: `enabled` = `madvise`, `defrag` = `madvise`,
/// `use_zero_page` = 1, `shmem_enabled` = `never`, `hugepages-2048kB/enabled` =
/// `inherit`.
#[derive(Debug)]
pub struct ThpSettings {
    /// `enabled`.
    pub enabled: ModeSetting<ThpEnabled>,
    /// `hugepages-2048kB/enabled`.
    pub pmd_enabled: ModeSetting<ThpSizeEnabled>,
    /// `defrag`.
    pub defrag: ModeSetting<ThpDefrag>,
    /// `use_zero_page` (`TRANSPARENT_HUGEPAGE_USE_ZERO_PAGE_FLAG`): a read fault maps the
    /// huge zero folio; without it, a read fault allocates a THP as a write would.
    pub use_zero_page: AtomicBool,
    /// `shmem_enabled`.
    pub shmem_enabled: ModeSetting<ShmemEnabled>,
    /// `hugepages-2048kB/shmem_enabled`.
    pub pmd_shmem_enabled: ModeSetting<ShmemSizeEnabled>,
    /// `khugepaged/`.
    pub khugepaged: KhugepagedSettings,
}

impl Default for ThpSettings {
    fn default() -> Self {
        let nr = HPAGE_PMD_NR as u32;
        ThpSettings {
            enabled: ModeSetting::new(ThpEnabled::Madvise),
            pmd_enabled: ModeSetting::new(ThpSizeEnabled::Inherit),
            defrag: ModeSetting::new(ThpDefrag::Madvise),
            use_zero_page: AtomicBool::new(true),
            shmem_enabled: ModeSetting::new(ShmemEnabled::Never),
            pmd_shmem_enabled: ModeSetting::new(ShmemSizeEnabled::Inherit),
            khugepaged: KhugepagedSettings {
                defrag: AtomicBool::new(true),
                max_ptes_none: AtomicU32::new(nr - 1),
                max_ptes_swap: AtomicU32::new(nr / 8),
                max_ptes_shared: AtomicU32::new(nr / 2),
                pages_to_scan: AtomicU32::new(nr * 8),
                scan_sleep_millisecs: AtomicU32::new(10_000),
                alloc_sleep_millisecs: AtomicU32::new(60_000),
            },
        }
    }
}

impl ThpSettings {
    /// `thp_vma_allowable_orders()`'s sysfs mask for an anonymous VMA and the PMD order:
    /// whether the settings let a VMA with `vm_flags` have PMD-sized THPs. The PMD size's
    /// `always` or `madvise` (with `VM_HUGEPAGE`) decide; `inherit` asks the top-level
    /// `enabled` (`always`, or `madvise` with `VM_HUGEPAGE`); `never` refuses.
    pub fn anon_pmd_allowed(&self, vm_flags: VmFlags) -> bool {
        let advised = vm_flags.contains(VmFlags::HUGEPAGE);
        match self.pmd_enabled.get() {
            ThpSizeEnabled::Always => true,
            ThpSizeEnabled::Madvise => advised,
            ThpSizeEnabled::Never => false,
            ThpSizeEnabled::Inherit => match self.enabled.get() {
                ThpEnabled::Always => true,
                ThpEnabled::Madvise => advised,
                ThpEnabled::Never => false,
            },
        }
    }

    /// `transparent_hugepage_use_zero_page()`.
    pub fn use_zero_page(&self) -> bool {
        self.use_zero_page.load(Ordering::Relaxed)
    }
}

impl Mm {
    /// `thp_vma_allowable_order(vma, …, PMD_ORDER)` under the machine's sysfs policy
    /// ([`ThpSettings::anon_pmd_allowed`]: `always`, or `madvise` with `VM_HUGEPAGE`),
    /// with `transhuge_vma_suitable()`: may the fault at `haddr` (2 MiB-aligned) in `vma`
    /// get a huge PMD? Private anonymous, not `VM_NOHUGEPAGE`, no
    /// `VM_SPECIAL`/`VM_HUGETLB`, the whole 2 MiB inside the VMA, and `vm_pgoff`
    /// congruent with `vm_start` modulo 512 pages. (Shared anonymous memory is shmem in
    /// Linux, whose huge pages are a separate knob, not modelled.)
    pub fn thp_vma_allowable(&self, vma: &Vma, haddr: u64) -> bool {
        self.phys.thp.anon_pmd_allowed(vma.flags) && Self::thp_vma_suitable(vma, haddr)
    }

    /// The part of [`Mm::thp_vma_allowable`] that does not depend on the sysfs settings
    /// (`vma_thp_disabled()`, `VM_NO_KHUGEPAGED`, `transhuge_vma_suitable()`): what
    /// `MADV_COLLAPSE` (`TVA_FORCED_COLLAPSE`) asks, which ignores `enabled`.
    pub fn thp_vma_suitable(vma: &Vma, haddr: u64) -> bool {
        vma.is_anonymous()
            && !vma
                .flags
                .intersects(VmFlags::SHARED | VmFlags::MAYSHARE | VM_NO_THP)
            && !vma.flags.contains(VmFlags::NOHUGEPAGE)
            && haddr.is_multiple_of(HPAGE_PMD_SIZE)
            && haddr >= vma.start
            && haddr
                .checked_add(HPAGE_PMD_SIZE)
                .is_some_and(|e| e <= vma.end)
            && ((vma.start >> 12).wrapping_sub(vma.pgoff)).is_multiple_of(HPAGE_PMD_NR)
    }

    /// The PMD level of `__handle_mm_fault()` for the page-aligned `va` in `vma`: creates
    /// a huge PMD in an empty one ([`Mm::thp_vma_allowable`]), or handles a fault on an
    /// existing huge PMD (NUMA-hinting protection restore, write-protect fault,
    /// `huge_pmd_set_accessed()` for Svade A/D and stale TLB entries).
    ///
    /// Returns `VM_FAULT_FALLBACK` when the PTE level must handle the fault (no huge PMD
    /// and none allowed, no huge page to allocate, or a huge PMD that was just split), as
    /// `create_huge_pmd()` / `wp_huge_pmd()` do for `__handle_mm_fault()`; otherwise the
    /// fault's result.
    pub(super) fn handle_pmd_fault(&self, vma: &Vma, va: u64, flags: FaultFlags) -> VmFault {
        let haddr = va & !(HPAGE_PMD_SIZE - 1);
        let slot = match self.pmd_alloc_fault(va) {
            Ok(s) => s,
            Err(fault) => return fault,
        };
        let pmd = self.pgtable.ptep_get(slot);
        if pte_none(pmd) {
            // A VMA registered with a userfaultfd is filled page by page: its faults go
            // to the userfaultfd at the PTE level (do_huge_pmd_anonymous_page()'s
            // userfaultfd_missing() case, without the huge page).
            if !self.thp_vma_allowable(vma, haddr)
                || vma.flags.intersects(super::userfaultfd::VM_UFFD_FLAGS)
            {
                return VmFault::FALLBACK;
            }
            return self.do_huge_pmd_anonymous_page(vma, haddr, slot, flags);
        }
        if !pmd_trans_huge(pmd) {
            return VmFault::FALLBACK;
        }
        let write = flags.contains(FaultFlags::WRITE);
        if pte_protnone(pmd) && vma.flags.is_accessible() {
            // do_huge_pmd_numa_page(): the VMA allows access but the PMD still carries
            // PAGE_NONE; give it the VMA's protection (see the PTE case in fault.rs).
            let mut tlb = MmuGather::default();
            self.pgtable
                .change_protection(haddr, haddr + HPAGE_PMD_SIZE, vma.flags, &mut tlb);
            self.tlb_finish_mmu(tlb);
            return VmFault::empty();
        }
        if (write || flags.contains(FaultFlags::UNSHARE)) && !pte_write(pmd) {
            return self.do_huge_pmd_wp_page(vma, haddr, slot, pmd, flags);
        }
        self.huge_pmd_set_accessed(haddr, HPAGE_PMD_SIZE, slot, pmd, flags)
    }

    /// `pmd_alloc()` (and hugetlb's `huge_pte_alloc()`) for a fault at `va`: the
    /// address of its PMD entry, the tables above it allocated as needed.
    ///
    /// # Errors
    /// `VM_FAULT_OOM` when no table can be allocated, `VM_FAULT_SIGBUS` for an address
    /// the page table cannot map.
    pub(super) fn pmd_alloc_fault(&self, va: u64) -> Result<devices::GuestPhysAddr, VmFault> {
        self.huge_pte_alloc_fault(va, super::pgtable::PMD_LEVEL)
    }

    /// hugetlb's `huge_pte_alloc()` for a fault at `va`: the address of its entry at
    /// `level` (a PMD's for 2 MiB pages, a PUD's for 1 GiB), the tables above it
    /// allocated as needed.
    ///
    /// # Errors
    /// As [`Mm::pmd_alloc_fault`].
    pub(super) fn huge_pte_alloc_fault(
        &self,
        va: u64,
        level: usize,
    ) -> Result<devices::GuestPhysAddr, VmFault> {
        match self.pgtable.huge_pte_alloc(va, level) {
            Ok(s) => Ok(s),
            Err(Errno::ENOMEM) => Err(VmFault::OOM),
            Err(_) => Err(VmFault::SIGBUS),
        }
    }

    /// `huge_pmd_set_accessed()` (and hugetlb's `huge_ptep_set_access_flags()`): a fault
    /// on a huge leaf `pmd` of `size` bytes at `haddr` that already allows the access —
    /// Svade A/D to set, or a stale TLB entry to flush.
    pub(super) fn huge_pmd_set_accessed(
        &self,
        haddr: u64,
        size: u64,
        slot: devices::GuestPhysAddr,
        pmd: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let write = flags.contains(FaultFlags::WRITE);
        let entry = pmd.with(self.fault_young_dirty(flags, write));
        if entry != pmd && !self.pgtable.ptep_cmpxchg(slot, pmd, entry) {
            return VmFault::empty();
        }
        super::count_event(&self.stats.local().spurious);
        self.flush_tlb_range(haddr, haddr + size, false);
        VmFault::empty()
    }

    /// The huge zero folio, taking this address space's reference on it at its first use
    /// (`mm_get_huge_zero_folio()`, `MMF_HUGE_ZERO_PAGE`). `None` if it cannot be
    /// allocated.
    fn mm_get_huge_zero_folio(&self) -> Option<Pfn> {
        if self.huge_zero_ref.load(Ordering::Acquire) {
            if let Some(h) = self.phys.pages.huge_zero_pfn() {
                return Some(h);
            }
        }
        let h = self.phys.pages.mm_get_huge_zero_folio(&self.phys.ram)?;
        // Two faults may race to take the reference: the loser gives its back.
        if self.huge_zero_ref.swap(true, Ordering::AcqRel) {
            self.phys.pages.mm_put_huge_zero_folio(&self.phys.ram);
        }
        Some(h)
    }

    /// Counts `thp_fault_fallback` and asks for the PTE level (`VM_FAULT_FALLBACK`).
    fn thp_fallback(&self) -> VmFault {
        super::count_event(&self.stats.local().thp_fault_fallback);
        self.phys.pages.count_thp_event(ThpEvent::FaultFallback);
        VmFault::FALLBACK
    }

    /// [`super::pgtable::folio_add_new_anon_rmap_pmd`] in this address space's memory.
    pub(super) fn folio_add_new_anon_rmap_pmd(&self, head: Pfn) {
        super::pgtable::folio_add_new_anon_rmap_pmd(&self.phys, head);
    }

    /// Replaces the huge leaf `pmd` of `size` bytes at `haddr` (entry at `slot`: a 2 MiB
    /// PMD, or a hugetlb 1 GiB PUD) by `entry`, which maps
    /// the new folio `new` (its rmap added), under the PMD lock, break before make (as
    /// `wp_page_copy()`): the old leaf is cleared and flushed from every hart before the
    /// new one can be walked. Returns whether the flush was done (`ptep_clear_flush()`'s
    /// answer); `None` if the leaf changed meanwhile: `new` is discarded, nothing mapped.
    pub(super) fn replace_huge_leaf(
        &self,
        slot: devices::GuestPhysAddr,
        haddr: u64,
        size: u64,
        pmd: mmu::Pte,
        new: Pfn,
        entry: mmu::Pte,
    ) -> Option<bool> {
        let ptl = self.pgtable.pmd_lock();
        let Some(flushed) = self.ptep_clear_flush(slot, haddr, size, pmd) else {
            drop(ptl);
            self.discard_new_huge_folio(new);
            return None;
        };
        let installed = self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry);
        // Under the PMD lock nothing else fills a cleared leaf.
        debug_assert!(installed, "a cleared huge leaf changed under its lock");
        Some(flushed)
    }

    /// Undoes [`Mm::folio_add_new_anon_rmap_pmd`] and frees the folio (a lost race).
    pub(super) fn discard_new_huge_folio(&self, head: Pfn) {
        if let Some(h) = self.phys.pages.page(head) {
            h.dec_entire_mapcount();
        }
        self.phys.put_page(head);
    }

    /// `do_huge_pmd_anonymous_page()`: first touch of a 2 MiB range. A read (or unshare)
    /// maps the huge zero folio read-only (`set_huge_zero_folio()`) if `use_zero_page`
    /// is 1; a write, or a read with `use_zero_page` 0, maps a new zeroed THP
    /// (`__do_huge_pmd_anonymous_page()`). A page table is deposited with the
    /// PMD. `VM_FAULT_FALLBACK` (to 4 KiB pages) when the folio cannot be allocated.
    fn do_huge_pmd_anonymous_page(
        &self,
        vma: &Vma,
        haddr: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> VmFault {
        let prot = vm_get_page_prot(vma.flags);
        if !flags.contains(FaultFlags::WRITE) && self.phys.thp.use_zero_page() {
            let Some(hz) = self.mm_get_huge_zero_folio() else {
                return self.thp_fallback();
            };
            let Some(table) = self.pgtable.alloc_deposit_table() else {
                return VmFault::OOM;
            };
            let entry =
                mk_pte(hz, prot.difference(PteFlags::W)).with(self.fault_young_dirty(flags, false));
            // set_huge_zero_folio() under pmd_lock(), with the deposit.
            let ptl = self.pgtable.pmd_lock();
            if !self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
                drop(ptl);
                self.pgtable.free_deposit_table(table);
                return VmFault::empty();
            }
            self.pgtable.deposit(haddr, table);
            drop(ptl);
            super::count_event(&self.stats.local().huge_zero_maps);
            self.phys.pages.count_thp_event(ThpEvent::HugeZeroMap);
            self.flush_tlb_range(haddr, haddr + HPAGE_PMD_SIZE, pte_exec(entry));
            return VmFault::empty();
        }
        let Some(head) = self.phys.pages.alloc_large_folio(&self.phys.ram, true) else {
            return self.thp_fallback();
        };
        let Some(table) = self.pgtable.alloc_deposit_table() else {
            self.phys.put_page(head);
            return VmFault::OOM;
        };
        self.folio_add_new_anon_rmap_pmd(head);
        let mut entry = mk_pte(head, prot).with(self.fault_young_dirty(flags, true));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        let ptl = self.pgtable.pmd_lock();
        if !self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
            drop(ptl);
            self.discard_new_huge_folio(head);
            self.pgtable.free_deposit_table(table);
            return VmFault::empty();
        }
        self.pgtable.deposit(haddr, table);
        drop(ptl);
        super::count_event(&self.stats.local().thp_fault_alloc);
        self.phys.pages.count_thp_event(ThpEvent::FaultAlloc);
        self.flush_tlb_range(haddr, haddr + HPAGE_PMD_SIZE, pte_exec(entry));
        VmFault::empty()
    }

    /// `do_huge_pmd_wp_page()`: a write (or unshare) fault on a huge PMD without `W`.
    ///
    /// - The huge zero folio: a write gets a new zeroed THP
    ///   ([`Mm::do_huge_pmd_wp_zero_page`], see the module docs); an unshare, or a write
    ///   when no 2 MiB block is free, splits the PMD (`VM_FAULT_FALLBACK`).
    /// - A folio we own — `PageAnonExclusive` on the head, or only our PMD's reference
    ///   (`folio_ref_count() == 1`: the other side of a fork is gone), which makes it
    ///   exclusive again — is reused: writable if `VM_WRITE`; for unshare only the flag.
    /// - Otherwise (shared after fork, GUP references, pins): split the PMD and fall back
    ///   to the PTE level, which copies the one 4 KiB page.
    fn do_huge_pmd_wp_page(
        &self,
        vma: &Vma,
        haddr: u64,
        slot: devices::GuestPhysAddr,
        pmd: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let unshare = flags.is_unshare();
        let head = pte_pfn(pmd);
        if self.phys.pages.is_huge_zero_pfn(head) {
            if !unshare {
                let ret = self.do_huge_pmd_wp_zero_page(vma, haddr, slot, pmd, flags);
                if !ret.contains(VmFault::FALLBACK) {
                    return ret;
                }
            }
            return self.split_huge_pmd_fallback(haddr, slot);
        }
        let reusable = self.phys.pages.page(head).is_some_and(|p| {
            if p.test(PageFlags::ANON_EXCLUSIVE) {
                return true;
            }
            // Only our PMD's reference: no other mapping, no GUP reference or pin.
            if p.test(PageFlags::ANON) && p.is_head() && p.refcount() == 1 {
                p.set(PageFlags::ANON_EXCLUSIVE);
                return true;
            }
            false
        });
        if !reusable {
            return self.split_huge_pmd_fallback(haddr, slot);
        }
        if unshare {
            return VmFault::empty();
        }
        self.huge_pmd_reuse(vma, haddr, HPAGE_PMD_SIZE, slot, pmd, flags)
    }

    /// The reuse of a huge leaf `pmd` of `size` bytes at `haddr` this mapping owns, for a
    /// write fault
    /// (`do_huge_pmd_wp_page()`'s `pmd_mkyoung()`, `maybe_pmd_mkwrite(pmd_mkdirty())`;
    /// hugetlb's `set_huge_ptep_maybe_writable()`): writable if `VM_WRITE`, under the PMD
    /// lock, if the entry is still `pmd`.
    pub(super) fn huge_pmd_reuse(
        &self,
        vma: &Vma,
        haddr: u64,
        size: u64,
        slot: devices::GuestPhysAddr,
        pmd: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let mut entry = pmd.with(self.fault_young_dirty(flags, true));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        // The reuse is `VM_FAULT_WRITE` whether or not the entry changes (Linux ≤ 6.0's
        // `ret |= VM_FAULT_WRITE` after `pmdp_set_access_flags()`): a PMD already young
        // and dirty in a `!VM_WRITE` VMA (a THP written, then made read-only) stays as it
        // is, and a `FOLL_FORCE` write through `/proc/<pid>/mem` must still learn that COW
        // was broken (`FOLL_COW` on 4.9 – 5.19), or it faults for ever.
        let _ptl = self.pgtable.pmd_lock();
        if entry == pmd {
            return self.gup_gen.vm_fault_write();
        }
        if self.pgtable.ptep_cmpxchg(slot, pmd, entry) {
            super::count_event(&self.stats.local().wp_reuse);
            self.flush_tlb_range(haddr, haddr + size, false);
            return self.gup_gen.vm_fault_write();
        }
        VmFault::empty()
    }

    /// A write fault on the huge zero folio: maps a new zeroed, exclusive THP in its
    /// place (the deposited table stays with the PMD). `VM_FAULT_FALLBACK` if no 2 MiB
    /// block is free.
    fn do_huge_pmd_wp_zero_page(
        &self,
        vma: &Vma,
        haddr: u64,
        slot: devices::GuestPhysAddr,
        pmd: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let Some(head) = self.phys.pages.alloc_large_folio(&self.phys.ram, true) else {
            return self.thp_fallback();
        };
        self.folio_add_new_anon_rmap_pmd(head);
        let mut entry =
            mk_pte(head, vm_get_page_prot(vma.flags)).with(self.fault_young_dirty(flags, true));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        // do_huge_zero_wp_pmd()'s pmdp_huge_clear_flush(): no hart may still read the
        // zero folio through this PMD once another can write the new folio through it.
        if self
            .replace_huge_leaf(slot, haddr, HPAGE_PMD_SIZE, pmd, head, entry)
            .is_none()
        {
            return VmFault::empty();
        }
        super::count_event(&self.stats.local().thp_fault_alloc);
        super::count_event(&self.stats.local().wp_copy);
        self.phys.pages.count_thp_event(ThpEvent::FaultAlloc);
        if pte_exec(entry) {
            self.flush_tlb_range(haddr, haddr + HPAGE_PMD_SIZE, true);
        }
        self.gup_gen.vm_fault_write()
    }

    /// `__split_huge_pmd()` + `VM_FAULT_FALLBACK`.
    fn split_huge_pmd_fallback(&self, haddr: u64, slot: devices::GuestPhysAddr) -> VmFault {
        let mut tlb = MmuGather::default();
        self.pgtable.split_huge_pmd(haddr, slot, &mut tlb);
        self.tlb_finish_mmu(tlb);
        VmFault::FALLBACK
    }

    /// `vma_adjust_trans_huge()`: before a VMA is split at `start` and/or `end`, splits
    /// the huge PMDs those boundaries fall inside, so no huge PMD straddles two VMAs.
    pub(super) fn vma_adjust_trans_huge(&self, start: u64, end: u64) {
        let mut tlb = self.tlb_gather_mmu();
        for a in [start, end] {
            if !a.is_multiple_of(HPAGE_PMD_SIZE) {
                self.pgtable.split_huge_pmd_address(a, &mut tlb);
            }
        }
        self.tlb_finish_mmu(tlb);
    }
}
