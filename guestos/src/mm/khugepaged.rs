//! `MADV_COLLAPSE` (`mm/khugepaged.c`: `madvise_collapse()`, `hpage_collapse_scan_pmd()`,
//! `collapse_huge_page()`, `__collapse_huge_page_isolate()`, `__collapse_huge_page_copy()`,
//! `madvise_collapse_errno()`; `Documentation/admin-guide/mm/transhuge.rst`): a
//! synchronous collapse of the PMD-aligned 2 MiB blocks of a range into THPs. There is
//! no khugepaged thread: only this synchronous path collapses.
//!
//! # Eligibility
//! `thp_vma_allowable_order(vma, …, TVA_FORCED_COLLAPSE, PMD_ORDER)`: the sysfs
//! `enabled` setting — `never` included — is ignored ("MADV_COLLAPSE is independent of
//! the sysfs THP settings"), but the VMA must be private anonymous, not `VM_NOHUGEPAGE`,
//! not `VM_SPECIAL`/`VM_HUGETLB`, and able to hold an aligned 2 MiB block
//! ([`Mm::thp_vma_suitable`]); else `EINVAL` before anything is scanned.
//!
//! # Per 2 MiB block (`hpage_collapse_scan_pmd()` with `cc->is_khugepaged == false`)
//! - already a huge PMD (the huge zero folio included): counts as collapsed;
//! - no page table under the PMD: `SCAN_PMD_NULL` (go on; the call fails `EINVAL`);
//! - a table: every PTE is none, the zero page, or an anonymous page whose folio's
//!   references are its mappings' (`is_refcount_suitable()`: a GUP reference or a pin
//!   is `SCAN_PAGE_COUNT`, `EAGAIN`); any number of none/zero PTEs is allowed (the
//!   `max_ptes_none` limit is khugepaged's only); a page-cache page is `SCAN_PAGE_ANON`
//!   (`EINVAL`); at least one PTE must be writable (`SCAN_PAGE_RO`, `EINVAL`);
//! - then `collapse_huge_page()`: a 2 MiB folio (none free: `SCAN_ALLOC_HUGE_PAGE_FAIL`,
//!   `ENOMEM`), the PMD cleared and flushed from every hart (`pmdp_collapse_flush()`),
//!   every PTE of the detached table cleared and the references checked again (a
//!   lockless GUP-fast that grabbed a page meanwhile is `EAGAIN`, the PMD put back), the
//!   pages copied (none/zero PTEs give zeros, MTE tags travel), the old pages unmapped
//!   and freed, the emptied table deposited with the new PMD, which maps the folio
//!   exclusively (`PageAnonExclusive`), writable if `VM_WRITE`, soft-dirty
//!   (`pmd_mkdirty()`), with `A = D = 0` and `PG_dirty` on the folio (this kernel's PTE
//!   policy, see [`super::pgtable`]).
//!
//! The call succeeds (0) only if every block ended as a huge PMD; otherwise the last
//! failure's errno (`madvise_collapse_errno()`): `ENOMEM` (allocation), `EAGAIN` (busy
//! or pinned pages), `EINVAL` (anything else). A failing block does not stop the walk
//! when its result is one Linux lets continue (`SCAN_PMD_NULL`, `SCAN_PAGE_NULL`,
//! `SCAN_PAGE_COUNT`, …); others end it.
//!
//! # Locking
//! Linux scans under the read side of the `mmap_lock` and takes the write side for each
//! `collapse_huge_page()`. Here the whole call holds the write side
//! ([`super::mmap::madvise_need_mmap_write`]), which excludes faults and slow GUP as
//! Linux's write side does; lockless GUP-fast is excluded by clearing the PMD and each
//! PTE before the references are checked (GUP-fast re-checks its PTE after taking a
//! reference and gives it back when the PTE changed).

use devices::{GuestPhysAddr, PAGE_SHIFT, PAGE_SIZE};
use mmu::Pte;

use super::page_alloc::{PageFlags, Pfn, HPAGE_PMD_NR, HPAGE_PMD_SIZE};
use super::pgtable::{
    mk_pte, page_remove_rmap, pmd_trans_huge, pte_none, pte_present, pte_write, vm_get_page_prot,
    PAGE_SOFT_DIRTY, PTE_SIZE,
};
use super::vma::{VmFlags, Vma};
use super::{Mm, MmuGather};
use crate::errno::{Errno, KResult};

/// `enum scan_result`: how one 2 MiB block's scan or collapse ended (the values
/// `madvise_collapse()` looks at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanResult {
    /// `SCAN_FAIL`: nothing more specific (e.g. the range holds no whole block).
    Fail,
    /// `SCAN_SUCCEED`: collapsed now.
    Succeed,
    /// `SCAN_PMD_NULL`: no page table under the PMD.
    PmdNull,
    /// `SCAN_PMD_MAPPED`: already a huge PMD.
    PmdMapped,
    /// `SCAN_PAGE_RO`: no PTE of the block is writable.
    PageRo,
    /// `SCAN_PAGE_NULL`: a PTE without a normal page (a PFN mapping).
    PageNull,
    /// `SCAN_PAGE_ANON`: a page that is not anonymous.
    PageAnon,
    /// `SCAN_PAGE_COUNT`: a page with references beyond its mappings (GUP, pins).
    PageCount,
    /// `SCAN_PTE_NON_PRESENT`: a non-present, non-none PTE.
    PteNonPresent,
    /// `SCAN_ALLOC_HUGE_PAGE_FAIL`: no free 2 MiB block.
    AllocHugePageFail,
}

impl ScanResult {
    /// Whether `madvise_collapse()` goes on to the next block after this failure (its
    /// "whitelisted set of results where continuing OK").
    fn continues(self) -> bool {
        matches!(
            self,
            ScanResult::PmdNull
                | ScanResult::PteNonPresent
                | ScanResult::PageNull
                | ScanResult::PageCount
        )
    }

    /// `madvise_collapse_errno()`.
    pub fn errno(self) -> Errno {
        match self {
            ScanResult::AllocHugePageFail => Errno::ENOMEM,
            ScanResult::PageCount => Errno::EAGAIN,
            _ => Errno::EINVAL,
        }
    }
}

impl Mm {
    /// `madvise_collapse()` for `[start, end)` inside `vma` (the caller holds the write
    /// side of the `mmap_lock`): collapses every PMD-aligned 2 MiB block of the range
    /// (see the module docs).
    ///
    /// # Errors
    /// `EINVAL` for a VMA that may not have THPs, or a range with blocks that stay
    /// uncollapsed for a reason that is not one of the following; `EAGAIN` for a block
    /// with pinned or otherwise referenced pages; `ENOMEM` when no 2 MiB folio is free.
    pub(super) fn madvise_collapse(&mut self, vma: &Vma, start: u64, end: u64) -> KResult<()> {
        let last_block = vma.end.saturating_sub(HPAGE_PMD_SIZE) & !(HPAGE_PMD_SIZE - 1);
        if vma.len() < HPAGE_PMD_SIZE || !Self::thp_vma_suitable(vma, last_block) {
            return Err(Errno::EINVAL);
        }
        let hstart =
            start.checked_add(HPAGE_PMD_SIZE - 1).ok_or(Errno::EINVAL)? & !(HPAGE_PMD_SIZE - 1);
        let hend = end & !(HPAGE_PMD_SIZE - 1);
        // Linux's unsigned `(hend - hstart) >> HPAGE_PMD_SHIFT` wraps for a range that
        // holds no block boundary: the call fails with SCAN_FAIL's EINVAL.
        if hend < hstart {
            return Err(ScanResult::Fail.errno());
        }
        let mut last_fail = ScanResult::Fail;
        let mut thps = 0;
        let mut haddr = hstart;
        while haddr < hend {
            match self.hpage_collapse_scan_pmd(vma, haddr) {
                ScanResult::Succeed | ScanResult::PmdMapped => thps += 1,
                r if r.continues() => last_fail = r,
                r => {
                    last_fail = r;
                    break;
                }
            }
            haddr += HPAGE_PMD_SIZE;
        }
        if thps == (hend - hstart) / HPAGE_PMD_SIZE {
            Ok(())
        } else {
            Err(last_fail.errno())
        }
    }

    /// `hpage_collapse_scan_pmd()` for the block at `haddr` (2 MiB-aligned, inside
    /// `vma`), then `collapse_huge_page()` if the scan succeeds.
    fn hpage_collapse_scan_pmd(&self, vma: &Vma, haddr: u64) -> ScanResult {
        // find_pmd_or_thp_or_none()
        let Some(pmd_slot) = self.pgtable.pmd_offset(haddr) else {
            return ScanResult::PmdNull;
        };
        let pmd = self.pgtable.ptep_get(pmd_slot);
        if pmd_trans_huge(pmd) {
            return ScanResult::PmdMapped;
        }
        let Some(first) = self.pgtable.pte_offset_pmd(pmd, haddr) else {
            return ScanResult::PmdNull;
        };
        let ptes: Vec<Pte> = {
            let _ptl = self.pgtable.pte_lock(first);
            (0..HPAGE_PMD_NR)
                .map(|i| self.pgtable.ptep_get(pte_slot(first, i)))
                .collect()
        };
        let mut writable = false;
        for pte in &ptes {
            match self.collapse_check_pte(*pte) {
                Ok(None) => {}
                Ok(Some(_)) => writable |= pte_write(*pte),
                Err(r) => return r,
            }
        }
        if !writable {
            return ScanResult::PageRo;
        }
        self.collapse_huge_page(vma, haddr, pmd_slot, pmd, first)
    }

    /// The per-PTE checks of the scan and of `__collapse_huge_page_isolate()`: `Ok(None)`
    /// for a none or zero-page PTE (filled with zeros), `Ok(Some(pfn))` for an anonymous
    /// page that may be collapsed, else why not.
    fn collapse_check_pte(&self, pte: Pte) -> Result<Option<Pfn>, ScanResult> {
        if pte_none(pte) || self.phys.pages.is_zero_pfn(super::pgtable::pte_pfn(pte)) {
            return Ok(None);
        }
        if !pte_present(pte) {
            return Err(ScanResult::PteNonPresent);
        }
        let pfn = self
            .pgtable
            .vm_normal_page(pte)
            .ok_or(ScanResult::PageNull)?;
        let page = self.phys.pages.page(pfn).ok_or(ScanResult::PageNull)?;
        if !page.test(PageFlags::ANON) {
            return Err(ScanResult::PageAnon);
        }
        if !self.is_refcount_suitable(pfn) {
            return Err(ScanResult::PageCount);
        }
        Ok(Some(pfn))
    }

    /// `is_refcount_suitable()`: the folio of `pfn` holds no references beyond its
    /// mappings' (`folio_ref_count() == folio_mapcount()`): no GUP reference, no pin.
    fn is_refcount_suitable(&self, pfn: Pfn) -> bool {
        let pages = &self.phys.pages;
        let Some((head, h)) = pages.folio(pfn) else {
            return false;
        };
        let nr = pages.folio_nr_pages(head);
        let mapcount: u64 = (0..nr)
            .filter_map(|i| pages.page(Pfn(head.0 + i)))
            .map(|p| u64::from(p.mapcount()))
            .sum::<u64>()
            + u64::from(h.entire_mapcount());
        u64::from(h.refcount()) == mapcount
    }

    /// `collapse_huge_page()` for the block at `haddr`, whose PMD (`pmd`, at `pmd_slot`)
    /// points to the PTE table whose first entry is `first` (see the module docs).
    fn collapse_huge_page(
        &self,
        vma: &Vma,
        haddr: u64,
        pmd_slot: GuestPhysAddr,
        pmd: Pte,
        first: GuestPhysAddr,
    ) -> ScanResult {
        let Some(head) = self.phys.pages.alloc_large_folio(&self.phys.ram, false) else {
            return ScanResult::AllocHugePageFail;
        };
        // pmdp_collapse_flush(): no hart, and no new lockless walk, reaches the old
        // table once this returns.
        let cleared = {
            let _ptl = self.pgtable.pmd_lock();
            self.ptep_clear_flush(pmd_slot, haddr, HPAGE_PMD_SIZE, pmd)
        };
        let Some(flushed) = cleared else {
            self.phys.put_page(head);
            return ScanResult::Fail;
        };
        // __collapse_huge_page_isolate(): clear every PTE (a GUP-fast straggler sees its
        // PTE change and gives its reference back), then check the references again.
        let old: Vec<Pte> = {
            let _ptl = self.pgtable.pte_lock(first);
            (0..HPAGE_PMD_NR)
                .map(|i| self.pgtable.ptep_get_and_clear(pte_slot(first, i)))
                .collect()
        };
        // The old frames' decoded instructions must go before the frames are reused.
        if old.iter().any(|pte| super::pgtable::pte_exec(*pte)) {
            self.flush_tlb_range(haddr, haddr + HPAGE_PMD_SIZE, true);
        }
        let mut srcs = Vec::with_capacity(old.len());
        for pte in &old {
            match self.collapse_check_pte(*pte) {
                Ok(src) => srcs.push(src),
                Err(r) => {
                    // Put everything back as it was (pmd_populate()).
                    let _ptl = self.pgtable.pte_lock(first);
                    for (i, pte) in (0..HPAGE_PMD_NR).zip(&old) {
                        self.pgtable.set_pte(pte_slot(first, i), *pte);
                    }
                    let _pmd_ptl = self.pgtable.pmd_lock();
                    self.pgtable.set_pte(pmd_slot, pmd);
                    self.phys.put_page(head);
                    return r;
                }
            }
        }
        // __collapse_huge_page_copy(): zeros for none/zero PTEs, a copy of each page.
        let mut freed = Vec::new();
        for (i, src) in (0..HPAGE_PMD_NR).zip(&srcs) {
            let dst = Pfn(head.0 + i);
            let copied = match src {
                None => self.phys.ram.fill(dst.pa(), PAGE_SIZE, 0).is_ok(),
                Some(src) => {
                    self.phys.pages.events.page_copies.inc();
                    let ok = self
                        .phys
                        .ram
                        .copy_within(src.pa(), dst.pa(), PAGE_SIZE)
                        .is_ok();
                    super::mte::copy_highpage_tags(&self.phys, *src, dst);
                    ok
                }
            };
            debug_assert!(copied, "a managed frame is in RAM");
            if let Some(src) = src {
                if let Some(page) = self.phys.pages.page(*src) {
                    page_remove_rmap(&self.phys, *src, page);
                }
                freed.push(*src);
            }
        }
        self.folio_add_new_anon_rmap_pmd(head);
        if let Some(h) = self.phys.pages.page(head) {
            h.set(PageFlags::DIRTY);
        }
        // The emptied table is the new PMD's deposit (pgtable_trans_huge_deposit()).
        self.pgtable.deposit(haddr, Pfn(first.0 >> PAGE_SHIFT));
        // mk_huge_pmd() + maybe_pmd_mkwrite(pmd_mkdirty()): soft-dirty; A/D left to the
        // hardware, the folio PG_dirty (see the module docs).
        let mut entry = mk_pte(head, vm_get_page_prot(vma.flags)).with(PAGE_SOFT_DIRTY);
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(mmu::PteFlags::W);
        }
        {
            let _ptl = self.pgtable.pmd_lock();
            let installed = self.pgtable.ptep_cmpxchg(pmd_slot, Pte(0), entry);
            // Under the write side of the mmap_lock nothing fills a cleared PMD.
            debug_assert!(installed, "a cleared PMD changed under the mmap_lock");
        }
        if flushed {
            super::free_batch(&self.phys, freed, Vec::new());
        } else {
            let mut tlb = MmuGather {
                pages: freed,
                ..MmuGather::default()
            };
            tlb.add_range(haddr, haddr + HPAGE_PMD_SIZE, false);
            self.tlb_finish_mmu(tlb);
        }
        ScanResult::Succeed
    }
}

/// The `i`-th entry of the PTE table whose first entry is `first`.
fn pte_slot(first: GuestPhysAddr, i: u64) -> GuestPhysAddr {
    GuestPhysAddr(first.0 + i * PTE_SIZE)
}

#[cfg(test)]
mod tests {
    use mmu::{AdScheme, SatpMode};

    use super::*;
    use crate::mm::huge_memory::ThpEnabled;
    use crate::mm::mmap::{MADV_COLLAPSE, MADV_NOHUGEPAGE, MAP_FIXED};
    use crate::mm::pgtable::{pte_soft_dirty, PMD_LEVEL};
    use crate::mm::test_support::{clean, setup_mm, ANON, P, RW};
    use crate::uaccess::UserAccess;

    const H: u64 = HPAGE_PMD_SIZE;

    /// `MADV_COLLAPSE` turns a block of 4 KiB pages into one huge PMD with the same
    /// contents (zeros where nothing was written), ignoring `enabled = never`, and gives
    /// Linux's errnos for the blocks it cannot collapse.
    #[test]
    fn collapse_keeps_contents_and_answers_with_linuxs_errnos() {
        let (phys, mut mm) = setup_mm(64, SatpMode::Sv39, AdScheme::Svadu, 1);
        phys.thp.enabled.set(ThpEnabled::Never);
        let a = mm
            .do_mmap(0x4000_0000, 3 * H, RW, ANON | MAP_FIXED, None, 0)
            .unwrap();
        // Block 0: every other page written, one page only read (the zero page).
        for i in (0..HPAGE_PMD_NR).step_by(2) {
            mm.put_user_u64(a + i * P, 0x1000 + i).unwrap();
        }
        assert_eq!(mm.get_user_u64(a + P), Ok(0));
        let before = clean(&phys).anon_frames;
        assert_eq!(mm.madvise(a, H, MADV_COLLAPSE), Ok(0));
        let slot = mm.page_table().follow_pte(a + 5 * P).unwrap();
        assert_eq!(slot.level, PMD_LEVEL, "one huge PMD now");
        assert!(pte_write(slot.pte) && pte_soft_dirty(slot.pte));
        for i in 0..HPAGE_PMD_NR {
            let want = if i % 2 == 0 { 0x1000 + i } else { 0 };
            assert_eq!(mm.get_user_u64(a + i * P), Ok(want), "page {i}");
        }
        assert_eq!(
            clean(&phys).anon_frames,
            before - HPAGE_PMD_NR / 2 + HPAGE_PMD_NR
        );
        assert_eq!(mm.madvise(a, H, MADV_COLLAPSE), Ok(0), "already huge");
        // Block 1: nothing mapped (no page table) → EINVAL; only read → EINVAL
        // (SCAN_PAGE_RO); a page with an extra reference (a GUP pin) → EAGAIN.
        assert_eq!(mm.madvise(a + H, H, MADV_COLLAPSE), Err(Errno::EINVAL));
        assert_eq!(mm.get_user_u64(a + H), Ok(0));
        assert_eq!(mm.madvise(a + H, H, MADV_COLLAPSE), Err(Errno::EINVAL));
        mm.put_user_u64(a + H + 3 * P, 7).unwrap();
        let pinned = mm
            .page_table()
            .follow_pte(a + H + 3 * P)
            .unwrap()
            .pfn_at(a + H + 3 * P);
        phys.get_page(pinned);
        assert_eq!(mm.madvise(a + H, H, MADV_COLLAPSE), Err(Errno::EAGAIN));
        assert_eq!(
            mm.page_table().follow_pte(a + H).unwrap().level,
            0,
            "left as it was"
        );
        assert_eq!(mm.get_user_u64(a + H + 3 * P), Ok(7));
        phys.put_page(pinned);
        // A range with no block boundary in it; one that ends at its block's start.
        assert_eq!(mm.madvise(a + H + P, P, MADV_COLLAPSE), Err(Errno::EINVAL));
        assert_eq!(mm.madvise(a + H, P, MADV_COLLAPSE), Ok(0));
        assert_eq!(
            mm.madvise(a + H, 2 * H, MADV_COLLAPSE),
            Err(Errno::EINVAL),
            "block 2 empty"
        );
        assert_eq!(mm.page_table().follow_pte(a + H).unwrap().level, PMD_LEVEL);
        assert_eq!(mm.get_user_u64(a + H + 3 * P), Ok(7));
        // MADV_NOHUGEPAGE forbids it.
        mm.madvise(a + 2 * H, H, MADV_NOHUGEPAGE).unwrap();
        mm.put_user_u64(a + 2 * H, 1).unwrap();
        assert_eq!(mm.madvise(a + 2 * H, H, MADV_COLLAPSE), Err(Errno::EINVAL));
        mm.do_munmap(a, 3 * H).unwrap();
        let _ = mm.take_tlb_flush();
        let after = clean(&phys);
        assert_eq!(
            (after.anon_frames, after.total_mapcount, after.bad_puts),
            (0, 0, 0)
        );
    }
}
