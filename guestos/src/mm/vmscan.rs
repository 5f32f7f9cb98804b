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
                out += u64::from(self.pageout_one(si, va, slot, false));
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
        reclaim: bool,
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
        if page.is_head() || page.is_tail() {
            // Reclaim passes large folios over (splitting takes locks the allocating
            // caller may hold); MADV_PAGEOUT splits them. A pinned one, or one with
            // references beyond its mappings, stays.
            if reclaim || pages.split_folio(&self.phys.ram, pfn).is_err() {
                return false;
            }
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
        // Direct reclaim runs under whatever the allocating caller holds: it only tries
        // the lock (this table's may be the caller's own).
        let ptl = if reclaim {
            let Some(ptl) = self.pgtable.pte_trylock(slot) else {
                give_back();
                return false;
            };
            Some(ptl)
        } else {
            self.pgtable.pte_lock(slot)
        };
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

/// The address spaces reclaim walks, each with where its last walk stopped
/// (`lru_gen_mm_list` and its `mm_walk` cursor): registered when an address space is
/// first shared ([`super::MmUsers::new`]), dropped from the list once it is gone.
#[derive(Debug, Default)]
pub(crate) struct MmList {
    inner: crate::sync::Mutex<MmListInner>,
}

#[derive(Debug, Default)]
struct MmListInner {
    mms: Vec<(std::sync::Weak<super::MmStruct>, u64)>,
    /// The next address space to start from (round robin).
    next: usize,
}

/// How many pages one address space's walk looks at, at most, per page it must free
/// (`MAX_LRU_BATCH`-like: a bound on the work of one reclaim call).
const SCAN_PER_PAGE: u64 = 64;

impl super::PhysMem {
    /// `lru_gen_add_mm()`: `mm` joins the list reclaim walks.
    pub(crate) fn lru_gen_add_mm(&self, mm: std::sync::Weak<super::MmStruct>) {
        self.mm_list.inner.lock().mms.push((mm, 0));
    }

    /// Direct reclaim of anonymous memory (`shrink_lruvec()`'s anonymous lists, found the
    /// way MGLRU ages them: by walking page tables, `walk_mm()`): frees up to `nr` frames
    /// by writing private anonymous pages to swap. Without a swap area, nothing.
    ///
    /// Each address space on the list is walked from where its last walk stopped, under
    /// the read side of its `mmap_lock` taken by trylock (`mmap_read_trylock()`: skipped
    /// if a writer holds it — the allocating caller itself, during `mmap` or fork), each
    /// PTE table under its lock taken by trylock. The hardware's A bit is the age: a
    /// young PTE loses it (`ptep_test_and_clear_young()`; the walk's range is flushed
    /// from the TLBs at its end, as arm64's `ptep_clear_flush_young()` does per page —
    /// riscv Linux skips the flush) and is passed over — a second chance; an old one
    /// whose page may go ([`Mm::pageout_one`]'s rules: one mapping, no pin, no other
    /// reference) is paged out. Two sweeps at most, so a working set that was all young
    /// is paged out in the second. Huge PMDs are passed over (no THP swap-out here).
    /// Returns the frames freed.
    pub fn shrink_anon(&self, nr: u64) -> u64 {
        let Some(si) = self.swap() else {
            return 0;
        };
        let (mms, start) = {
            let mut l = self.mm_list.inner.lock();
            l.mms.retain(|(w, _)| w.strong_count() > 0);
            let n = l.mms.len();
            if n == 0 {
                return 0;
            }
            let start = l.next % n;
            l.next = (start + 1) % n;
            let mms: Vec<_> = l.mms.iter().map(|(w, c)| (w.upgrade(), *c)).collect();
            (mms, start)
        };
        let n = mms.len();
        let mut freed = 0;
        for _sweep in 0..2 {
            for k in 0..n {
                let (Some(mm), cursor) = &mms[(start + k) % n] else {
                    continue;
                };
                if mm.mm_users() == 0 {
                    continue;
                }
                let Some(guard) = mm.mmap_read_trylock_reclaim() else {
                    continue;
                };
                // The second sweep starts where the first did: the PTEs the first made
                // old are the ones to take now.
                let (got, next) = guard.shrink_anon_mm(si, nr - freed, *cursor);
                drop(guard);
                self.set_mm_cursor(mm, next);
                freed += got;
                if freed >= nr {
                    return freed;
                }
            }
        }
        freed
    }

    fn set_mm_cursor(&self, mm: &super::MmStruct, cursor: u64) {
        let mut l = self.mm_list.inner.lock();
        if let Some(e) = l.mms.iter_mut().find(|(w, _)| std::ptr::eq(w.as_ptr(), mm)) {
            e.1 = cursor;
        }
    }
}

impl Mm {
    /// One address space's part of [`super::PhysMem::shrink_anon`]: walks the private
    /// anonymous VMAs from `cursor` (wrapping once), ageing young PTEs and paging out
    /// old ones, until `want` frames are freed or `want * SCAN_PER_PAGE` resident pages
    /// were looked at. Returns the frames freed and where the next walk starts.
    fn shrink_anon_mm(&self, si: &super::swapfile::SwapInfo, want: u64, cursor: u64) -> (u64, u64) {
        let budget = want.saturating_mul(SCAN_PER_PAGE).max(512);
        let ranges: Vec<(u64, u64)> = self
            .vmas
            .iter()
            .filter(|v| {
                v.is_anonymous()
                    && !v.flags.intersects(
                        VmFlags::SHARED
                            | VmFlags::MAYSHARE
                            | VmFlags::LOCKED
                            | VmFlags::HUGETLB
                            | VmFlags::PFNMAP,
                    )
            })
            .map(|v| (v.start, v.end))
            .collect();
        if ranges.is_empty() {
            return (0, 0);
        }
        // From the VMA holding (or following) the cursor, round the list once.
        let first = ranges.iter().position(|&(_, e)| e > cursor).unwrap_or(0);
        let (mut freed, mut scanned) = (0, 0);
        let mut next = cursor;
        // The range of the PTEs made old, flushed at the end (one shootdown per walk).
        let mut aged: Option<(u64, u64)> = None;
        for i in 0..=ranges.len() {
            let (start, end) = ranges[(first + i) % ranges.len()];
            let mut va = if i == 0 {
                cursor.clamp(start, end)
            } else {
                start
            };
            if i == ranges.len() {
                // Back at the first VMA: only the part before the cursor is left.
                if cursor <= start {
                    break;
                }
                va = start;
            }
            let stop = if i == ranges.len() {
                cursor.min(end)
            } else {
                end
            };
            while va < stop {
                if freed >= want || scanned >= budget {
                    self.flush_aged(aged);
                    return (freed, va);
                }
                let Some(slot) = self.pgtable.pte_offset(va) else {
                    // No PTE table here: on to the next 2 MiB.
                    va = (va | (HPAGE_PMD_SIZE - 1)).saturating_add(1);
                    continue;
                };
                // Only resident pages count against the budget: a stretch already
                // swapped out (or never touched) is passed through to the pages behind.
                if self.pgtable.ptep_get(slot).is_valid() {
                    scanned += 1;
                    match self.age_or_reclaim(si, va, slot) {
                        Scan::Reclaimed => freed += 1,
                        Scan::Aged => {
                            let (lo, hi) = aged.unwrap_or((va, va + PAGE_SIZE));
                            aged = Some((lo.min(va), hi.max(va + PAGE_SIZE)));
                        }
                        Scan::Kept => {}
                    }
                }
                va += PAGE_SIZE;
                next = va;
            }
        }
        self.flush_aged(aged);
        (freed, next)
    }

    /// The TLB flush after ageing (`ptep_clear_flush_young()` as arm64 does it, one
    /// range for the walk): a hart that keeps a translation cached would not set A again
    /// on its next access, and the page would look old while in use.
    fn flush_aged(&self, aged: Option<(u64, u64)>) {
        if let Some((lo, hi)) = aged {
            self.flush_tlb_range_now(lo, hi, false);
        }
    }

    /// The PTE at `slot` (mapping `va`) in a reclaim walk: a young one loses its A bit,
    /// an old one's page is paged out if it may go.
    fn age_or_reclaim(
        &self,
        si: &super::swapfile::SwapInfo,
        va: u64,
        slot: devices::GuestPhysAddr,
    ) -> Scan {
        let pte = self.pgtable.ptep_get(slot);
        if !pte.is_valid() || self.pgtable.vm_normal_page(pte).is_none() {
            return Scan::Kept;
        }
        if super::pgtable::pte_young(pte) {
            // ptep_test_and_clear_young(): one compare-and-swap; losing the race to a
            // walker's D update only leaves the page young until the next sweep.
            let aged = self
                .pgtable
                .ptep_cmpxchg(slot, pte, pte.without(mmu::PteFlags::A));
            return if aged { Scan::Aged } else { Scan::Kept };
        }
        if self.pageout_one(si, va, slot, true) {
            Scan::Reclaimed
        } else {
            Scan::Kept
        }
    }
}

/// What a reclaim walk did with one PTE.
enum Scan {
    /// Young: its A bit was cleared (a flush is owed).
    Aged,
    /// Old, and its page went to swap.
    Reclaimed,
    /// Left as it was.
    Kept,
}
