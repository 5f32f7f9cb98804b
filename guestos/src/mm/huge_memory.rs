//! Transparent huge pages, the fault side (Linux `mm/huge_memory.c`): the PMD level of
//! `__handle_mm_fault()`, `do_huge_pmd_anonymous_page()`, `do_huge_pmd_wp_page()`,
//! `huge_pmd_set_accessed()`, `do_huge_pmd_numa_page()`'s protection restore, and
//! `vma_adjust_trans_huge()`. The page-table side (split, zap, protection change, move,
//! fork copy of a huge PMD) is in [`super::pgtable`]; the 2 MiB folios, the huge zero
//! folio and folio splitting are in [`super::page_alloc`]; GUP on huge PMDs in
//! [`super::gup`].
//!
//! # Policy
//! `/sys/kernel/mm/transparent_hugepage/enabled = madvise` (Debian's default) and
//! `use_zero_page = 1`: a fault in a private anonymous VMA with `VM_HUGEPAGE`
//! (`MADV_HUGEPAGE`) and without `VM_NOHUGEPAGE` gets a 2 MiB mapping when the aligned
//! 2 MiB around the address lies inside the VMA (and the VMA's `vm_pgoff` is congruent
//! with its address modulo 2 MiB, as `transhuge_vma_suitable()` requires) and the PMD is
//! empty:
//!
//! - a write allocates a zeroed 2 MiB folio and maps it with one level-1 leaf
//!   (`PageAnonExclusive` on the head), writable if `VM_WRITE`;
//! - a read (or unshare) maps the huge zero folio read-only;
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
//! No `khugepaged`: 4 KiB pages are never collapsed into huge ones, and `MADV_HUGEPAGE`
//! on populated memory changes only later faults.

use std::sync::atomic::Ordering;

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

impl Mm {
    /// `thp_vma_allowable_order(vma, …, PMD_ORDER)` under the "madvise" policy, with
    /// `transhuge_vma_suitable()`: may the fault at `haddr` (2 MiB-aligned) in `vma` get a
    /// huge PMD? Private anonymous, `VM_HUGEPAGE` and not `VM_NOHUGEPAGE`, no
    /// `VM_SPECIAL`/`VM_HUGETLB`, the whole 2 MiB inside the VMA, and `vm_pgoff`
    /// congruent with `vm_start` modulo 512 pages. (Shared anonymous memory is shmem in
    /// Linux, whose huge pages are a separate knob, not modelled.)
    pub fn thp_vma_allowable(&self, vma: &Vma, haddr: u64) -> bool {
        vma.is_anonymous()
            && !vma
                .flags
                .intersects(VmFlags::SHARED | VmFlags::MAYSHARE | VM_NO_THP)
            && vma.flags.contains(VmFlags::HUGEPAGE)
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
        let slot = match self.pgtable.pmd_alloc(va) {
            Ok(s) => s,
            Err(Errno::ENOMEM) => return VmFault::OOM,
            Err(_) => return VmFault::SIGBUS,
        };
        let pmd = self.pgtable.ptep_get(slot);
        if pte_none(pmd) {
            if !self.thp_vma_allowable(vma, haddr) {
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
        // huge_pmd_set_accessed(): Svade A/D, or a stale TLB entry.
        let entry = pmd.with(self.fault_young_dirty(flags, write));
        if entry != pmd && !self.pgtable.ptep_cmpxchg(slot, pmd, entry) {
            return VmFault::empty();
        }
        super::count_event(&self.stats.local().spurious);
        self.flush_tlb_range(haddr, haddr + HPAGE_PMD_SIZE, false);
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

    /// `folio_add_new_anon_rmap(folio, vma, haddr, RMAP_EXCLUSIVE)` for a new PMD-mapped
    /// folio: `PageAnon` on every page, `PageAnonExclusive` on the head (it speaks for the
    /// PMD mapping), entire mapcount 1.
    fn folio_add_new_anon_rmap_pmd(&self, head: Pfn) {
        let pages = &self.phys.pages;
        for i in 0..HPAGE_PMD_NR {
            if let Some(p) = pages.page(Pfn(head.0 + i)) {
                p.set(PageFlags::ANON);
            }
        }
        if let Some(h) = pages.page(head) {
            h.set(PageFlags::ANON_EXCLUSIVE);
            h.inc_entire_mapcount();
        }
    }

    /// Undoes [`Mm::folio_add_new_anon_rmap_pmd`] and frees the folio (a lost race).
    fn discard_new_huge_folio(&self, head: Pfn) {
        if let Some(h) = self.phys.pages.page(head) {
            h.dec_entire_mapcount();
        }
        self.phys.put_page(head);
    }

    /// `do_huge_pmd_anonymous_page()`: first touch of a 2 MiB range. A read (or unshare)
    /// maps the huge zero folio read-only (`set_huge_zero_folio()`); a write maps a new
    /// zeroed THP (`__do_huge_pmd_anonymous_page()`). A page table is deposited with the
    /// PMD. `VM_FAULT_FALLBACK` (to 4 KiB pages) when the folio cannot be allocated.
    fn do_huge_pmd_anonymous_page(
        &self,
        vma: &Vma,
        haddr: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> VmFault {
        let prot = vm_get_page_prot(vma.flags);
        if !flags.contains(FaultFlags::WRITE) {
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
        let unshare = flags.contains(FaultFlags::UNSHARE) && !flags.contains(FaultFlags::WRITE);
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
        // pmd_mkyoung(), maybe_pmd_mkwrite(pmd_mkdirty()).
        let mut entry = pmd.with(self.fault_young_dirty(flags, true));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        let _ptl = self.pgtable.pmd_lock();
        if entry != pmd && self.pgtable.ptep_cmpxchg(slot, pmd, entry) {
            super::count_event(&self.stats.local().wp_reuse);
            self.flush_tlb_range(haddr, haddr + HPAGE_PMD_SIZE, false);
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
        let ptl = self.pgtable.pmd_lock();
        // do_huge_zero_wp_pmd()'s pmdp_huge_clear_flush(): no hart may still read the
        // zero folio through this PMD once another can write the new folio through it
        // (break before make, as wp_page_copy()).
        if self
            .ptep_clear_flush(slot, haddr, HPAGE_PMD_SIZE, pmd)
            .is_none()
        {
            drop(ptl);
            self.discard_new_huge_folio(head);
            return VmFault::empty();
        }
        let installed = self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry);
        // Under the PMD lock nothing else fills a cleared PMD.
        debug_assert!(installed, "a cleared PMD changed under its lock");
        drop(ptl);
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
