//! Paging anonymous memory out to swap: `MADV_PAGEOUT` and `MADV_COLD` (`mm/madvise.c`'s
//! `madvise_cold_or_pageout_pte_range()`), and the part of reclaim that takes one page
//! out of its page table and writes it to its slot (`mm/vmscan.c`'s `shrink_folio_list()`
//! with `mm/rmap.c`'s `try_to_unmap_one()` and `mm/page_io.c`'s `swap_writepage()`).
//!
//! A page goes out only if it is a private anonymous page that this PTE alone maps
//! (`folio_likely_mapped_shared()` is false: after fork, pages both sides still share
//! stay), not pinned (`folio_maybe_dma_pinned()`: a device may be writing it, and the
//! page a pin refers to must stay the one mapped — `try_to_unmap_one()` refuses an
//! exclusive page whose `folio_try_share_anon_rmap_pte()` fails), holds no other
//! reference (a GUP reference in flight, e.g. a `/proc/<pid>/mem` copy), and carries no
//! memory tags (arm64 saves them at swap-out, `arch_prepare_to_swap()`; this kernel does
//! not yet). A large folio is split first (this kernel has no `THP_SWAP`: Linux then
//! splits in `shrink_folio_list()` as well), a huge PMD before that.
//!
//! The sequence, under the page-table lock: the PTE is cleared and its translation
//! flushed from every hart (`ptep_clear_flush()`: the D bit is final from then on and no
//! store can reach the page), the references are checked again (a GUP-fast that raced
//! with the clear is seen now), the page is written to a newly allocated slot, and the
//! swap PTE is installed — with the exclusive bit if the page was `PageAnonExclusive`, so
//! that bit survives swap. Then the page loses its mapping and its last reference.
//! Faults on the PTE meanwhile find it none and retry once the lock is free (their
//! `pte_same()` check fails). See [`super::swapfile`] for what is deliberately left out
//! (a swap cache that outlives the write).

use devices::PAGE_SIZE;
use mmu::Pte;

use super::page_alloc::PageFlags;
use super::page_alloc::HPAGE_PMD_SIZE;
use super::pgtable::{page_remove_rmap, pte_present, ClearRefs, MmuGather};
use super::swapfile::{make_swap_pte, SwapFail};
use super::{Mm, VmFlags, Vma};

impl Mm {
    /// `madvise_cold_or_pageout_pte_range()` with `pageout` for `[start, end)` of `vma`
    /// (page-aligned), under the read side of the `mmap_lock`: every page that may go
    /// out (see the module docs) is written to swap and its PTE replaced by a swap PTE;
    /// the others are left alone, as `MADV_PAGEOUT` is a hint. Without a swap area,
    /// nothing happens. Returns the number of pages paged out.
    pub(crate) fn madvise_pageout(&self, vma: &Vma, start: u64, end: u64) -> u64 {
        let Some(si) = self.phys.swap() else {
            return 0;
        };
        if !vma.is_anonymous() || vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            // File and shmem pages go back to their file (page cache reclaim), which
            // `MADV_PAGEOUT` does not drive here yet.
            return 0;
        }
        // No THP_SWAP: a huge PMD in the range is split to PTEs first, and its folio
        // below (split_folio() in shrink_folio_list()).
        let mut tlb = MmuGather::default();
        let mut va = start & !(HPAGE_PMD_SIZE - 1);
        while va < end {
            self.pgtable.split_huge_pmd_address(va, &mut tlb);
            va += HPAGE_PMD_SIZE;
        }
        self.tlb_finish_mmu(tlb);
        let mut out = 0;
        let mut va = start;
        while va < end {
            if let Some(slot) = self.pgtable.pte_offset(va) {
                out += u64::from(self.pageout_one(si, va, slot));
            }
            va += PAGE_SIZE;
        }
        out
    }

    /// `madvise_cold_or_pageout_pte_range()` without `pageout` (`MADV_COLD`): every
    /// present PTE mapping a private anonymous page of `[start, end)` that only this PTE
    /// maps loses its A bit (`ptep_test_and_clear_young()`), so reclaim finds it old
    /// first; the translation is flushed. (Linux also moves the folio to the inactive
    /// LRU list; this kernel has no LRU lists yet.) Returns the entries made old.
    pub(crate) fn madvise_cold(&self, vma: &Vma, start: u64, end: u64) -> u64 {
        if !vma.is_anonymous() || vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            return 0;
        }
        let mut tlb = MmuGather::default();
        let n =
            self.pgtable
                .clear_refs_range(start, end, ClearRefs::Young, vma.flags, false, &mut tlb);
        self.tlb_finish_mmu(tlb);
        n
    }

    /// Pages out the page the PTE at `slot` (mapping `va`) maps, if it may go (see the
    /// module docs). Returns whether it went.
    fn pageout_one(
        &self,
        si: &super::swapfile::SwapInfo,
        va: u64,
        slot: devices::GuestPhysAddr,
    ) -> bool {
        let pte = self.pgtable.ptep_get(slot);
        if !pte_present(pte) {
            return false;
        }
        let Some(pfn) = self.pgtable.vm_normal_page(pte) else {
            return false;
        };
        let pages = &self.phys.pages;
        let Some(page) = pages.page(pfn) else {
            return false;
        };
        if !page.test(PageFlags::ANON) || page.test(PageFlags::MTE_TAGGED) {
            return false;
        }
        if (page.is_head() || page.is_tail()) && pages.split_folio(&self.phys.ram, pfn).is_err() {
            // Pinned, or references beyond its mappings: it stays.
            return false;
        }
        if page.mapcount() != 1 || page.maybe_dma_pinned() || page.refcount() != 1 {
            return false;
        }
        let Ok(entry) = si.get_swap_page() else {
            return false;
        };
        let give_back = || {
            si.swap_free(entry);
        };
        let ptl = self.pgtable.pte_lock(slot);
        // ptep_clear_flush(): clear with a compare-and-swap against what is there now —
        // a walker may set A or D until the clear lands, and the clear takes them along.
        let (old, flushed) = loop {
            let now = self.pgtable.ptep_get(slot);
            if !pte_present(now) || super::pgtable::pte_pfn(now) != pfn {
                drop(ptl);
                give_back();
                return false;
            }
            if let Some(flushed) = self.ptep_clear_flush(slot, va, PAGE_SIZE, now) {
                break (now, flushed);
            }
        };
        // try_to_unmap_one(): a GUP-fast that took a reference or a pin before the clear
        // is seen now; the page must then stay mapped.
        let restore = |old: Pte| {
            self.pgtable.set_pte(slot, old);
            give_back();
            false
        };
        if page.maybe_dma_pinned() || page.refcount() != 1 || page.mapcount() != 1 {
            return restore(old);
        }
        if super::pgtable::pte_dirty(old) {
            page.set(PageFlags::DIRTY);
        }
        match si.write_page(&self.phys.ram, pfn.pa(), entry) {
            Ok(()) => {}
            Err(SwapFail::Io | SwapFail::Full) => return restore(old),
        }
        self.phys.pages.events.swap_outs.inc();
        let exclusive = page.test(PageFlags::ANON_EXCLUSIVE);
        self.pgtable
            .set_pte(slot, make_swap_pte(entry, old, exclusive));
        drop(ptl);
        super::count_event(&self.stats.local().swap_outs);
        page.clear(PageFlags::ANON_EXCLUSIVE | PageFlags::DIRTY);
        page_remove_rmap(&self.phys, pfn, page);
        if flushed {
            super::free_batch(&self.phys, vec![pfn], Vec::new());
        } else {
            // Without a shootdown the flush is in this path's gather, which holds the
            // frame until it is done.
            let mut tlb = MmuGather::default();
            tlb.pages.push(pfn);
            self.tlb_finish_mmu(tlb);
        }
        true
    }
}
