//! The physical page allocator and the per-frame metadata table (Linux `mm/page_alloc.c`
//! and `struct page` / `struct folio`).
//!
//! Every 4 KiB frame of guest RAM above the reserved prefix has a [`Page`] holding an
//! atomic `refcount`, `mapcount` and `flags`, so that the fault, COW and GUP code can take
//! references and pins on frames exactly as Linux does on folios.
//!
//! # Folios
//! A folio is either one frame (order 0) or a naturally aligned run of
//! [`HPAGE_PMD_NR`] = 512 frames (order [`HPAGE_PMD_ORDER`] = 9, 2 MiB: a transparent huge
//! page, or a hugetlb page, that one Sv39/Sv48 level-1 leaf can map), or, for 1 GiB
//! hugetlb pages only, of [`HPAGE_PUD_NR`] frames (order [`HPAGE_PUD_ORDER`] = 18, a
//! *gigantic* folio mapped by one level-2 leaf, flagged [`PageFlags::GIGANTIC`] on its
//! head; the free lists cannot hand one out, [`PageAlloc::alloc_contig_pages`] finds
//! one). mTHP orders between 0 and 9 are not modelled. As in Linux, a large folio's
//! state lives in its **head** page ([`PageFlags::HEAD`]): the reference count, the
//! `_entire_mapcount` (PMD mappings, or the PUD mapping of a gigantic folio) and
//! the `_pincount`; every page keeps its own `mapcount` (PTE mappings of that subpage)
//! and its own `PageAnonExclusive`. Tail pages ([`PageFlags::TAIL`]) have refcount 0;
//! their head is the frame at the 2 MiB-aligned (gigantic: 1 GiB-aligned) PFN below
//! them. (Linux keeps `_entire_mapcount` and `_pincount` in the first tail page's `struct
//! page`; here they are fields of the head's.) Folio-level flags (`PageAnon`, `PG_swapbacked`) are set on
//! every page of the folio so that a per-page test reads the folio's value, as Linux's
//! `PageAnon(page)` does through `compound_head()`.
//!
//! Pins: a small folio counts a `FOLL_PIN` as [`GUP_PIN_COUNTING_BIAS`] references; a
//! large folio counts it as one reference plus one in `_pincount`
//! (`try_grab_folio()`), so `folio_maybe_dma_pinned()` is exact for large folios.
//!
//! # Free lists
//! The zone: two lists under one lock (`zone->lock`), a two-order buddy allocator: whole
//! free 2 MiB blocks (`huge`), and single frames (`order0`, a stack). An order-0
//! allocation from the zone pops `order0`, and when it is empty breaks the lowest whole
//! block into it (`expand()`). An order-9 allocation pops `huge`; when that is empty,
//! blocks whose 512 frames all came back to `order0` are merged back (a deferred buddy
//! merge: a per-block count of the zone's free frames tells which, so the 4 KiB paths
//! stay O(1) and only a THP allocation that would otherwise fail pays for one pass over
//! `order0`).
//!
//! # Per-hart lists (`struct per_cpu_pages`)
//! In front of the zone, each hart has its own list of free order-0 frames under its own
//! lock, as Linux's per-CPU page lists: `alloc_page` on a hart pops its list
//! (`rmqueue_pcplist()`), refilled with `pcp->batch` frames at once from the zone under
//! `zone->lock` when empty (`rmqueue_bulk()`); a freed order-0 frame goes on the freeing
//! hart's list (`free_unref_page()`), and when the list reaches `pcp->high` its `batch`
//! coldest frames go back to the zone (`free_pcppages_bulk()`). `batch` is Linux's
//! `zone_batchsize()` (63 for a zone of 1 GiB), `high` is `6 * batch`
//! (`pageset_set_batch()`, the rule before Linux 5.14's watermark-derived `high`). So the
//! zone lock is taken once per `batch` allocations or frees, not for each, and a frame a
//! hart freed is the next one it allocates: still in its host CPU's cache, not pulled over
//! from the other CPU's (with one shared stack, the `faults` threads workload's frames
//! moved between the two hart threads' host CPUs at every reuse, and `alloc_page` spent
//! most of its time on the cache misses of clearing them). Frames on the lists are free:
//! [`PageAlloc::nr_free`] and [`PageAlloc::audit`] count them, and an allocation that finds
//! the zone empty drains every hart's list back to it (`drain_all_pages()`, as
//! `__alloc_pages_direct_reclaim()` does) and tries once more before it fails, so no frame
//! is stranded on another hart's list when memory runs out (the OOM killer runs only then).
//! Threads that are no hart's (unit tests, host workers: [`crate::percpu::smp_processor_id`]
//! is `None`) allocate from and free to the zone directly. A list's lock is taken only by
//! its hart, but for a drain; the zone lock under it is taken with preemption off (Linux's
//! `pcp_spin_lock()` disables it), so in deterministic mode an allocation or a free has one
//! scheduling point, the list's lock, as it had the zone lock's before.
//!
//! # Clearing
//! A frame is cleared when it is allocated zeroed (`__GFP_ZERO`: `clear_page()` in
//! `post_alloc_hook()`), outside any lock, and not when it is freed (Linux's default,
//! `init_on_free=0`): a free frame holds what it held. Callers that allocate unzeroed
//! overwrite the whole frame (a COW copy, a page-cache read). Clearing at both ends cost
//! the threads workload a second pass over every frame. (The free paths keep their guest
//! RAM parameter, unused since, so that their callers did not change.)
//!
//! Free frames stay resident in the host: host RSS follows the most guest memory ever
//! touched (at most `--mem`), not the live amount. Handing each freed frame back with
//! `MADV_DONTNEED`
//! ([`GuestMemory::discard_page`]) kept RSS at the live amount but cost a host system call
//! and, with hart threads on several host CPUs, a host TLB shootdown per freed frame: the
//! `faults` workload (mmap, touch, munmap) ran 2.5x slower on one hart for it
//! (`dirtybit bench faults`: 0.315 s → 0.126 s) and its second hart thread spent its time
//! in the host's flush IPIs.
//!
//! # Zero pages
//! One frame is the **shared zero page** (`ZERO_PAGE(0)`): never freed, flagged
//! [`PageFlags::ZERO`] | [`PageFlags::RESERVED`]. As in Linux (`vm_normal_page()` returns
//! `NULL` for `is_zero_pfn()`), mapping it does not touch its refcount or mapcount.
//! The **huge zero folio** (`huge_zero_folio`, 2 MiB of zeros mapped read-only by one PMD)
//! is allocated on first use ([`PageAlloc::mm_get_huge_zero_folio`]) and counts one
//! reference per address space that mapped it (`MMF_HUGE_ZERO_PAGE`); it is freed when the
//! last such address space goes away (Linux's shrinker frees it when only its own
//! reference is left). Its pages are `ZERO | RESERVED`: mapping it and GUP on it take no
//! references, as for the small zero page.
//!
//! # Counters
//! [`PageAlloc::ref_atomic_ops`] counts the atomic read-modify-write operations on folio
//! reference counts (`_refcount`, and `_pincount` of large folios): the cost that large
//! folios amortise (one operation per folio instead of one per 4 KiB page).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bitflags::bitflags;
use devices::{GuestMemory, GuestPhysAddr, PAGE_SIZE};

use crate::sync::Mutex;

/// A physical frame number: guest-physical address >> 12 (Linux `pfn`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The guest-physical address of the frame's first byte.
    #[inline]
    pub const fn pa(self) -> GuestPhysAddr {
        GuestPhysAddr::from_ppn(self.0)
    }

    /// The frame containing `pa`.
    #[inline]
    pub const fn of(pa: GuestPhysAddr) -> Self {
        Self(pa.ppn())
    }
}

impl std::fmt::Debug for Pfn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pfn({:#x})", self.0)
    }
}

/// `HPAGE_PMD_ORDER`: the order of a PMD-mappable transparent huge page (Sv39/Sv48: a
/// level-1 leaf maps 2^9 pages).
pub const HPAGE_PMD_ORDER: u32 = 9;
/// `HPAGE_PMD_NR`: pages in a PMD-sized folio (512).
pub const HPAGE_PMD_NR: u64 = 1 << HPAGE_PMD_ORDER;
/// `HPAGE_PMD_SIZE`: bytes mapped by one huge PMD (2 MiB).
pub const HPAGE_PMD_SIZE: u64 = PAGE_SIZE << HPAGE_PMD_ORDER;
/// `HPAGE_PUD_ORDER`: the order of a PUD-mapped folio (Sv39/Sv48: a level-2 leaf maps
/// 2^18 pages), a gigantic hugetlb page's.
pub const HPAGE_PUD_ORDER: u32 = 18;
/// `HPAGE_PUD_NR`: pages in a PUD-sized folio (262144).
pub const HPAGE_PUD_NR: u64 = 1 << HPAGE_PUD_ORDER;
/// `HPAGE_PUD_SIZE`: bytes mapped by one PUD leaf (1 GiB).
pub const HPAGE_PUD_SIZE: u64 = PAGE_SIZE << HPAGE_PUD_ORDER;
/// `MAX_PAGE_ORDER`: the largest order the free lists hand out (a whole 2 MiB block, see
/// the module docs). A folio of a higher order is *gigantic* (`order > MAX_PAGE_ORDER`:
/// Linux's `hstate_is_gigantic()`) and comes from [`PageAlloc::alloc_contig_pages`].
pub const MAX_PAGE_ORDER: u32 = HPAGE_PMD_ORDER;

bitflags! {
    /// Per-frame flags (Linux `enum pageflags` plus the `PAGE_MAPPING_ANON` bit, which Linux
    /// keeps in `page->mapping`). Bit positions are ours; the meanings are Linux's.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PageFlags: u32 {
        /// `PageAnon`: the frame backs anonymous memory (Linux: `PAGE_MAPPING_ANON`).
        const ANON = 1 << 0;
        /// `PageAnonExclusive`: exactly one process maps this anon page and it may be written
        /// without a COW copy (Linux `PG_anon_exclusive`). Per page, also in large folios;
        /// while a large folio is mapped by a PMD, the head page's flag speaks for the
        /// whole PMD mapping (as in Linux).
        const ANON_EXCLUSIVE = 1 << 1;
        /// The shared zero page (`is_zero_pfn()`), or a page of the huge zero folio.
        const ZERO = 1 << 2;
        /// `PG_dirty`: the contents differ from backing store (set when a dirty PTE is
        /// zapped, or when the kernel writes the page).
        const DIRTY = 1 << 3;
        /// `PG_reserved`: never freed through `put_page` (the zero pages).
        const RESERVED = 1 << 4;
        /// The frame holds a page table (Linux `PageTable` page type).
        const PGTABLE = 1 << 5;
        /// `PG_swapbacked`: the page is backed by swap or shmem (`MAP_SHARED|MAP_ANONYMOUS`).
        const SWAPBACKED = 1 << 6;
        /// The frame is a page-cache page: `folio->mapping` is a file's address space and
        /// `folio->index` its page offset (see [`Page::mapping`]). The cache holds one
        /// reference on it; never [`PageFlags::ANON`].
        const PAGECACHE = 1 << 16;
        /// `PG_head`: the first page of a large folio; holds the folio's refcount,
        /// entire mapcount and pincount.
        const HEAD = 1 << 7;
        /// A tail page of a large folio (Linux: bit 0 of `page->compound_head`); its head
        /// is the frame at the `HPAGE_PMD_NR`-aligned PFN below, or for a gigantic
        /// folio the `HPAGE_PUD_NR`-aligned one (see [`PageAlloc::folio`]).
        const TAIL = 1 << 8;
        /// `PG_mte_tagged` (arm64): the frame's tags are valid — zeroed when it was first
        /// mapped by a `PTE.MTAG` entry, or copied from a tagged frame.
        const MTE_TAGGED = 1 << 9;
        /// `folio_test_hugetlb()`: a large folio of a hugetlb pool (see [`super::hugetlb`]).
        /// Set on the head only. When its last reference goes it returns to its pool
        /// (`free_huge_folio()`), not to the free lists, and it is never split.
        const HUGETLB = 1 << 10;
        /// On a large folio's head: [`PageAlloc::split_folio`] has frozen its refcount
        /// and is turning it into order-0 pages. A reference dropped or added meanwhile
        /// waits for the split and then goes to the page itself (Linux's split runs on a
        /// locked, unmapped folio, so nobody drops or adds one then).
        const SPLITTING = 1 << 11;
        /// On a large folio's head: the folio is of order [`HPAGE_PUD_ORDER`] (1 GiB, a
        /// gigantic hugetlb page) instead of [`HPAGE_PMD_ORDER`] (Linux keeps
        /// `folio_order()` in the first tail page's `_flags_1`).
        const GIGANTIC = 1 << 12;
    }
}

/// `GUP_PIN_COUNTING_BIAS` (`include/linux/mm.h`): what one `FOLL_PIN` adds to the
/// refcount of a small (order-0) folio, so that `folio_maybe_dma_pinned()` can tell pins
/// from ordinary references without a separate counter.
pub const GUP_PIN_COUNTING_BIAS: u32 = 1 << 10;

/// Metadata of one frame (Linux `struct page`; for a large folio's head page also the
/// folio's fields).
///
/// `refcount` counts references (one per mapping, plus GUP references, and pins); the
/// folio is freed when it drops to zero. Only order-0 pages and head pages have one; tail
/// pages read 0. `mapcount` counts page-table entries mapping this page at 4 KiB
/// granularity (Linux stores `_mapcount` = mapcount − 1; we store the count itself).
///
/// One cache line per frame (64 bytes, as Linux's `struct page` on 64-bit), so that two
/// harts updating neighbouring frames — one's refcount, the other's split page-table
/// lock — do not bounce a line between them (48 bytes packed put two frames on most
/// lines; `perf` showed the PGTABLE flag test of `walk_alloc` missing there with two
/// threads faulting in one address space).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Page {
    refcount: AtomicU32,
    mapcount: AtomicU32,
    flags: AtomicU32,
    /// `folio->mapping` of a page-cache page: the inode number of its file (0 = none).
    mapping: AtomicU64,
    /// `folio->index`: the page's offset in its file, in pages.
    index: AtomicU64,
    /// Head page of a large folio: `_entire_mapcount`, the number of PMDs mapping it.
    entire_mapcount: AtomicU32,
    /// Head page of a large folio: `_pincount`, the number of `FOLL_PIN` pins.
    large_pincount: AtomicU32,
    /// A PTE-table page's split page-table lock (`ptdesc->ptl`, `ptlock_ptr()`): see
    /// [`Page::ptl`].
    ptl: Mutex<()>,
}

impl Page {
    /// `ptlock_ptr()`: the lock of the PTEs in this page when it is a PTE table
    /// ([`PageFlags::PGTABLE`]), taken by `pte_offset_map_lock()` (see
    /// [`super::PageTable::pte_lock`]). Linux keeps it in `struct ptdesc`, the page's
    /// descriptor while it is a page table (inline when `spinlock_t` fits, else a
    /// `ptlock_alloc()`ed pointer); here it lives in every `struct page` inline — one
    /// byte with padding in a release build — which needs no constructor or destructor
    /// when a frame becomes a page table and cannot be missing when a walker reaches one.
    #[inline]
    pub fn ptl(&self) -> &Mutex<()> {
        &self.ptl
    }

    /// `page_ref_count()` (of a head or order-0 page; 0 for a tail).
    #[inline]
    pub fn refcount(&self) -> u32 {
        self.refcount.load(Ordering::Acquire)
    }

    /// `page_mapcount()`: the number of PTEs mapping this page (PMD mappings of a large
    /// folio are in [`Page::entire_mapcount`]).
    #[inline]
    pub fn mapcount(&self) -> u32 {
        self.mapcount.load(Ordering::Acquire)
    }

    /// `folio_entire_mapcount()`: on a large folio's head, the number of PMDs mapping the
    /// whole folio; 0 elsewhere.
    #[inline]
    pub fn entire_mapcount(&self) -> u32 {
        self.entire_mapcount.load(Ordering::Acquire)
    }

    /// The flags.
    #[inline]
    pub fn flags(&self) -> PageFlags {
        PageFlags::from_bits_truncate(self.flags.load(Ordering::Acquire))
    }

    /// Whether all of `f` are set.
    #[inline]
    pub fn test(&self, f: PageFlags) -> bool {
        self.flags().contains(f)
    }

    /// Sets `f` (`SetPageXxx`).
    #[inline]
    pub fn set(&self, f: PageFlags) {
        self.flags.fetch_or(f.bits(), Ordering::AcqRel);
    }

    /// Clears `f` (`ClearPageXxx`).
    #[inline]
    pub fn clear(&self, f: PageFlags) {
        self.flags.fetch_and(!f.bits(), Ordering::AcqRel);
    }

    /// `folio_test_large()`: whether this is the head of a large folio.
    #[inline]
    pub fn is_head(&self) -> bool {
        self.flags.load(Ordering::Acquire) & PageFlags::HEAD.bits() != 0
    }

    /// `PageTail()`.
    #[inline]
    pub fn is_tail(&self) -> bool {
        self.flags.load(Ordering::Acquire) & PageFlags::TAIL.bits() != 0
    }

    /// `folio_nr_pages()` read on a folio's head: [`HPAGE_PUD_NR`] for a gigantic folio,
    /// [`HPAGE_PMD_NR`] for another large one, 1 for an order-0 page.
    #[inline]
    pub fn folio_nr_pages(&self) -> u64 {
        let f = self.flags();
        if !f.contains(PageFlags::HEAD) {
            1
        } else if f.contains(PageFlags::GIGANTIC) {
            HPAGE_PUD_NR
        } else {
            HPAGE_PMD_NR
        }
    }

    /// `page_ref_add()` on this page's own counter, not counted in
    /// [`PageAlloc::ref_atomic_ops`] (a test helper for order-0 pages; kernel paths use
    /// [`PageAlloc::folio_ref_add`], which finds the head and counts).
    #[inline]
    pub fn page_ref_add(&self, nr: u32) {
        self.refcount.fetch_add(nr, Ordering::AcqRel);
    }

    /// `folio_maybe_dma_pinned()`, called on an order-0 page or a large folio's head:
    /// for a large folio `_pincount > 0` (exact); for a small one `refcount >=
    /// GUP_PIN_COUNTING_BIAS`, which may report a false positive for a page with more than
    /// 1023 ordinary references, exactly as Linux's does; never a false negative.
    #[inline]
    pub fn maybe_dma_pinned(&self) -> bool {
        if self.is_head() {
            return self.large_pincount.load(Ordering::Acquire) > 0;
        }
        self.refcount() >= GUP_PIN_COUNTING_BIAS
    }

    /// The number of `FOLL_PIN` pins: a large folio's `_pincount` (on its head), or for a
    /// small folio `refcount / GUP_PIN_COUNTING_BIAS` (the estimate
    /// `folio_maybe_dma_pinned()` relies on).
    #[inline]
    pub fn pincount(&self) -> u32 {
        if self.is_head() {
            return self.large_pincount.load(Ordering::Acquire);
        }
        self.refcount() / GUP_PIN_COUNTING_BIAS
    }

    /// `folio->mapping` / `folio->index` of a page-cache page: `Some((inode number, page
    /// offset))` while [`PageFlags::PAGECACHE`] is set, `None` otherwise.
    #[inline]
    pub fn mapping(&self) -> Option<(u64, u64)> {
        if !self.test(PageFlags::PAGECACHE) {
            return None;
        }
        Some((
            self.mapping.load(Ordering::Acquire),
            self.index.load(Ordering::Acquire),
        ))
    }

    /// `filemap_add_folio()`'s metadata part: marks the page as page-cache page `index` of
    /// inode `ino` (sets [`PageFlags::PAGECACHE`]).
    pub fn set_mapping(&self, ino: u64, index: u64) {
        self.mapping.store(ino, Ordering::Release);
        self.index.store(index, Ordering::Release);
        self.set(PageFlags::PAGECACHE);
    }

    /// `page_cache_delete()`'s metadata part (`folio->mapping = NULL`): the page leaves the
    /// cache (truncation, eviction) and lives on only as long as other references do.
    pub fn clear_mapping(&self) {
        self.clear(PageFlags::PAGECACHE | PageFlags::DIRTY | PageFlags::SWAPBACKED);
        self.mapping.store(0, Ordering::Release);
        self.index.store(0, Ordering::Release);
    }

    /// `page_add_*_rmap()`: one more PTE maps the page.
    #[inline]
    pub fn inc_mapcount(&self) {
        self.mapcount.fetch_add(1, Ordering::AcqRel);
    }

    /// `page_remove_rmap()`: one PTE fewer. Saturates at zero; returns `false` (a kernel
    /// accounting bug, reported by [`PageAlloc::audit`]) if it was already zero.
    #[inline]
    pub fn dec_mapcount(&self) -> bool {
        self.mapcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| m.checked_sub(1))
            .is_ok()
    }

    /// `folio_add_*_rmap_pmd()`: one more PMD maps the (head's) folio.
    #[inline]
    pub fn inc_entire_mapcount(&self) {
        self.entire_mapcount.fetch_add(1, Ordering::AcqRel);
    }

    /// `folio_remove_rmap_pmd()`: one PMD fewer; `false` on underflow (an accounting bug).
    #[inline]
    pub fn dec_entire_mapcount(&self) -> bool {
        self.entire_mapcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| m.checked_sub(1))
            .is_ok()
    }
}

/// A contiguous run of managed frames (one per RAM slot, minus the reserved prefix).
#[derive(Debug, Clone, Copy)]
struct Zone {
    first_pfn: u64,
    nr_pages: u64,
    /// Index of `first_pfn`'s [`Page`] in the metadata table.
    meta_base: usize,
    /// First `HPAGE_PMD_NR`-aligned PFN of the zone's whole 2 MiB blocks.
    first_block_pfn: u64,
    /// Number of whole aligned 2 MiB blocks in the zone.
    nr_blocks: u64,
    /// Index of the first block's free-frame count in `FreeArea::block_free`.
    block_base: usize,
}

/// The free lists (see the module docs).
#[derive(Debug, Default)]
struct FreeArea {
    /// Free single frames, a stack.
    order0: Vec<Pfn>,
    /// Heads of whole free 2 MiB blocks, a stack (lowest block on top at boot).
    huge: Vec<Pfn>,
    /// Per whole 2 MiB block: how many of its frames are free on the zone's lists (not
    /// counting those on the harts' lists, which are merged only once drained).
    block_free: Vec<u16>,
    /// Allocations and frees served by the zone directly (a large folio counts once), not
    /// through a hart's list.
    allocs: u64,
    frees: u64,
}

/// `struct per_cpu_pages`: one hart's free order-0 frames (see the module docs).
#[derive(Debug, Default)]
struct PerCpuPages {
    /// `pcp->lists`: the free frames, a stack (the most recently freed, cache-hot frame
    /// on top, the coldest at index 0); its length is `pcp->count`.
    list: Vec<Pfn>,
    /// Allocations and frees served from and to this list.
    allocs: u64,
    frees: u64,
}

/// One hart's [`PerCpuPages`] on cache lines of its own, with its length mirrored for
/// readers that do not take its lock.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PcpSlot {
    pcp: Mutex<PerCpuPages>,
    /// `pcp->count` as of the last change (stored under `pcp`; read without it by
    /// [`PageAlloc::nr_free`], the peak sampling and a drain that skips empty lists).
    count: AtomicU64,
}

/// `zone_batchsize()` (`mm/page_alloc.c`): the frames a hart's list takes from or gives
/// back to a zone of `managed` frames at once — about a quarter of a 1024th of the zone,
/// at most 64, rounded to a power of two minus one (63 from 1 GiB up), at least 1.
fn zone_batchsize(managed: u64) -> usize {
    let batch = ((managed >> 10).min((1 << 20) / PAGE_SIZE) / 4).max(1);
    let batch = batch + batch / 2;
    // rounddown_pow_of_two(batch) - 1
    let pow2 = 1u64 << (63 - batch.leading_zeros());
    usize::try_from(pow2 - 1).unwrap_or(1).max(1)
}

/// Why the allocator could not be built (a host configuration error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageAllocError {
    /// Fewer than two frames are left after the reserved prefix (one is the zero page).
    #[error("guest RAM has no frames left after the {reserved_bytes}-byte reserved prefix")]
    NoFrames {
        /// The requested reservation.
        reserved_bytes: u64,
    },
    /// The reservation is not a multiple of 4 KiB.
    #[error("the reserved prefix ({0:#x} bytes) is not page-aligned")]
    UnalignedReserve(u64),
    /// The zero page could not be cleared.
    #[error("the zero page is outside guest RAM")]
    ZeroPage,
}

/// Why [`PageAlloc::split_folio`] refused (Linux `split_folio()`'s errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// `-EBUSY`: not a splittable large folio (order 0, the huge zero folio, hugetlb, free), or
    /// still mapped by a PMD (Linux unmaps it first; we split only PTE-mapped folios).
    Busy,
    /// `-EAGAIN`: references beyond the mappings' (GUP references, pins): a pinned folio
    /// must stay large (`can_split_folio()`).
    Again,
}

/// Transparent-huge-page event counts over the whole machine (the `thp_*` lines of
/// Linux's `/proc/vmstat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThpStats {
    /// `thp_fault_alloc`: huge pages allocated and mapped by a PMD at a fault.
    pub fault_alloc: u64,
    /// `thp_fault_fallback`: faults that wanted a huge page and fell back to 4 KiB
    /// because no 2 MiB block was free.
    pub fault_fallback: u64,
    /// Read faults served by mapping the huge zero folio with a PMD.
    pub huge_zero_maps: u64,
    /// `thp_zero_page_alloc`: times the huge zero folio was allocated.
    pub zero_page_alloc: u64,
    /// `thp_split_pmd`: huge PMDs replaced by a table of 512 PTEs.
    pub split_pmd: u64,
    /// `thp_split_page`: large folios split into 512 order-0 pages.
    pub split_page: u64,
    /// `thp_split_page_failed`: split attempts refused (extra references: pins).
    pub split_page_failed: u64,
    /// `thp_deferred_split_page`: partially unmapped folios queued for splitting.
    pub deferred_split_page: u64,
}

#[derive(Debug, Default)]
struct ThpEvents {
    fault_alloc: AtomicU64,
    fault_fallback: AtomicU64,
    huge_zero_maps: AtomicU64,
    zero_page_alloc: AtomicU64,
    split_pmd: AtomicU64,
    split_page: AtomicU64,
    split_page_failed: AtomicU64,
    deferred_split_page: AtomicU64,
}

/// Which THP event to count (see [`ThpStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThpEvent {
    /// [`ThpStats::fault_alloc`].
    FaultAlloc,
    /// [`ThpStats::fault_fallback`].
    FaultFallback,
    /// [`ThpStats::huge_zero_maps`].
    HugeZeroMap,
    /// [`ThpStats::split_pmd`].
    SplitPmd,
}

/// A snapshot of the allocator's books (see [`PageAlloc::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageAllocAudit {
    /// Frames managed by the allocator (RAM minus the reserved prefix).
    pub total_frames: u64,
    /// Frames on the free lists: the zone's and the harts' (`per_cpu_pages`).
    pub free_frames: u64,
    /// Frames in use: order-0 pages with a nonzero refcount (the zero page included) and
    /// every page of a live large folio (in-use hugetlb folios included).
    pub used_frames: u64,
    /// Used frames flagged [`PageFlags::PGTABLE`].
    pub pgtable_frames: u64,
    /// Used frames flagged [`PageFlags::ANON`].
    pub anon_frames: u64,
    /// Used frames flagged [`PageFlags::PAGECACHE`] (page-cache pages).
    pub pagecache_frames: u64,
    /// Live large folios (the huge zero folio and in-use hugetlb folios included).
    pub large_folios: u64,
    /// Sum of all mapcounts: per-page PTE mapcounts plus large folios' entire (PMD)
    /// mapcounts (the zero pages' are always zero).
    pub total_mapcount: u64,
    /// Frames that are neither free nor referenced (leaked by a refcount bug), or on a
    /// free list with a nonzero refcount/mapcount, or on two free lists at once, or a large folio whose books disagree
    /// (a tail with a refcount, a tail without its head, fewer references than mappings,
    /// more pins than references). Zero on a healthy system.
    pub inconsistent_frames: u64,
    /// Frames of free hugetlb folios: in the pool, neither free nor used.
    pub hugetlb_free_frames: u64,
    /// `put_page` on a frame whose refcount was already zero, or a mapcount underflow.
    pub bad_puts: u64,
    /// Total successful allocations since boot (a large folio counts once).
    pub allocs: u64,
    /// Total frees since boot (a large folio counts once).
    pub frees: u64,
}

/// The frame allocator and `struct page` table. Thread-safe; shared as part of
/// [`super::PhysMem`].
#[derive(Debug)]
pub struct PageAlloc {
    zones: Vec<Zone>,
    pages: Vec<Page>,
    free: Mutex<FreeArea>,
    /// `zone->per_cpu_pageset`: each hart's free list, indexed by
    /// [`crate::percpu::smp_processor_id`].
    pcp: Vec<PcpSlot>,
    /// `pcp->batch`: frames moved between a hart's list and the zone at once.
    pcp_batch: usize,
    /// `pcp->high`: a hart's list gives `pcp_batch` frames back when it reaches this many.
    pcp_high: usize,
    zero_pfn: Pfn,
    /// The huge zero folio's head, if allocated.
    huge_zero: Mutex<Option<Pfn>>,
    /// `huge_zero_pfn + 1` for lock-free `is_huge_zero_pfn()`; 0 when there is none.
    huge_zero_hint: AtomicU64,
    /// Large folios partially unmapped, to be split (`deferred_split_queue`).
    deferred_split: Mutex<Vec<Pfn>>,
    /// Allocations split into more (a split large folio's pages beyond the first).
    split_allocs: AtomicU64,
    bad_puts: AtomicU64,
    /// Kernel-primitive event counters ([`super::events`]), counted by the primitives;
    /// `refcount_ops` is the count of atomic RMW operations on folio `_refcount` /
    /// `_pincount` (see [`PageAlloc::ref_atomic_ops`]).
    pub events: super::events::KernelEvents,
    thp: ThpEvents,
    /// Highest number of frames in use at once (zero page included), sampled when
    /// frames leave the zone (see [`PageAlloc::peak_used`]).
    peak_used: AtomicU64,
    /// `hstates[]`: the hugetlb pools, one per size, the default (2 MiB) first (see
    /// [`super::hugetlb`]).
    pub(super) hstates: [super::hugetlb::Hstate; super::hugetlb::HUGE_MAX_HSTATE],
}

impl PageAlloc {
    /// Builds the allocator over `ram`'s slots, leaving out the lowest `reserved_bytes` of
    /// guest-physical memory (firmware, the boot image, anything the machine owns), and sets
    /// aside the shared zero page.
    ///
    /// # Errors
    /// [`PageAllocError`] if the reservation is unaligned or leaves fewer than two frames.
    pub fn new(ram: &GuestMemory, reserved_bytes: u64) -> Result<Self, PageAllocError> {
        if !reserved_bytes.is_multiple_of(PAGE_SIZE) {
            return Err(PageAllocError::UnalignedReserve(reserved_bytes));
        }
        let regions = ram.regions();
        let reserve_end = regions
            .first()
            .map_or(0, |(b, _)| b.0.saturating_add(reserved_bytes));
        let mut zones = Vec::new();
        let mut total = 0usize;
        let mut blocks = 0usize;
        for (base, len) in regions {
            let end = base.0.saturating_add(len);
            let start = base.0.max(reserve_end);
            if start >= end {
                continue;
            }
            let first_pfn = start / PAGE_SIZE;
            let nr_pages = (end - start) / PAGE_SIZE;
            let first_block_pfn = first_pfn.next_multiple_of(HPAGE_PMD_NR);
            let end_pfn = first_pfn + nr_pages;
            let nr_blocks = end_pfn.saturating_sub(first_block_pfn) / HPAGE_PMD_NR;
            zones.push(Zone {
                first_pfn,
                nr_pages,
                meta_base: total,
                first_block_pfn,
                nr_blocks,
                block_base: blocks,
            });
            total += nr_pages as usize;
            blocks += nr_blocks as usize;
        }
        if total < 2 {
            return Err(PageAllocError::NoFrames { reserved_bytes });
        }
        let pages: Vec<Page> = (0..total).map(|_| Page::default()).collect();
        // Whole aligned blocks go on the huge list, the frames around them on the order-0
        // stack; both pushed high first so allocation starts at the lowest frame.
        let mut area = FreeArea {
            order0: Vec::new(),
            huge: Vec::with_capacity(blocks),
            block_free: vec![HPAGE_PMD_NR as u16; blocks],
            allocs: 0,
            frees: 0,
        };
        let pcp_batch = zone_batchsize(total as u64);
        for z in zones.iter().rev() {
            let blocks_end = z.first_block_pfn + z.nr_blocks * HPAGE_PMD_NR;
            for pfn in (z.first_pfn..z.first_pfn + z.nr_pages).rev() {
                if pfn < z.first_block_pfn || pfn >= blocks_end {
                    area.order0.push(Pfn(pfn));
                }
            }
            for b in (0..z.nr_blocks).rev() {
                area.huge.push(Pfn(z.first_block_pfn + b * HPAGE_PMD_NR));
            }
        }
        let mut this = Self {
            zones,
            pages,
            free: Mutex::new(area),
            pcp: (0..crate::config::MAX_HARTS)
                .map(|_| PcpSlot::default())
                .collect(),
            pcp_batch,
            pcp_high: 6 * pcp_batch,
            zero_pfn: Pfn(0),
            huge_zero: Mutex::new(None),
            huge_zero_hint: AtomicU64::new(0),
            deferred_split: Mutex::new(Vec::new()),
            split_allocs: AtomicU64::new(0),
            bad_puts: AtomicU64::new(0),
            events: super::events::KernelEvents::default(),
            thp: ThpEvents::default(),
            peak_used: AtomicU64::new(1),
            hstates: super::hugetlb::HSTATE_ORDERS.map(super::hugetlb::Hstate::new),
        };
        let zero_pfn = {
            let mut area = this.free.lock();
            this.take_order0(&mut area)
                .ok_or(PageAllocError::NoFrames { reserved_bytes })?
        };
        ram.fill(zero_pfn.pa(), PAGE_SIZE, 0)
            .map_err(|_| PageAllocError::ZeroPage)?;
        this.zero_pfn = zero_pfn;
        if let Some(zp) = this.page(zero_pfn) {
            zp.refcount.store(1, Ordering::Release);
            zp.set(PageFlags::ZERO | PageFlags::RESERVED);
        }
        Ok(this)
    }

    /// `pfn_to_page()`: the metadata of a managed frame, `None` for frames outside the
    /// allocator (reserved prefix, MMIO, garbage PPNs). For a page of a large folio this
    /// is the subpage's own metadata (its mapcount, `PageAnonExclusive`); the folio's
    /// refcount and pins are in [`PageAlloc::folio`].
    #[inline]
    pub fn page(&self, pfn: Pfn) -> Option<&Page> {
        self.meta_index(pfn).and_then(|i| self.pages.get(i))
    }

    /// `page_folio()`: the head frame and metadata of the folio containing `pfn` (the
    /// page itself for order 0). A tail's head is the 2 MiB-aligned frame below it,
    /// unless that frame is a tail too: then the tail belongs to a gigantic folio, whose
    /// head is the 1 GiB-aligned frame below.
    #[inline]
    pub fn folio(&self, pfn: Pfn) -> Option<(Pfn, &Page)> {
        let p = self.page(pfn)?;
        if !p.is_tail() {
            return Some((pfn, p));
        }
        let head = Pfn(pfn.0 & !(HPAGE_PMD_NR - 1));
        let h = self.page(head)?;
        if !h.is_tail() {
            return Some((head, h));
        }
        let head = Pfn(pfn.0 & !(HPAGE_PUD_NR - 1));
        self.page(head).map(|h| (head, h))
    }

    /// `folio_nr_pages()` of the folio containing `pfn` (1 for order 0 and unmanaged
    /// frames).
    pub fn folio_nr_pages(&self, pfn: Pfn) -> u64 {
        self.folio(pfn).map_or(1, |(_, h)| h.folio_nr_pages())
    }

    /// `my_zero_pfn()`: the shared zero page.
    #[inline]
    pub fn zero_pfn(&self) -> Pfn {
        self.zero_pfn
    }

    /// `is_zero_pfn()`: the small shared zero page only.
    #[inline]
    pub fn is_zero_pfn(&self, pfn: Pfn) -> bool {
        pfn == self.zero_pfn
    }

    /// The huge zero folio's head, if it is allocated.
    #[inline]
    pub fn huge_zero_pfn(&self) -> Option<Pfn> {
        match self.huge_zero_hint.load(Ordering::Acquire) {
            0 => None,
            h => Some(Pfn(h - 1)),
        }
    }

    /// `is_huge_zero_pfn()`: whether `pfn` is a page of the huge zero folio.
    #[inline]
    pub fn is_huge_zero_pfn(&self, pfn: Pfn) -> bool {
        let hint = self.huge_zero_hint.load(Ordering::Acquire);
        hint != 0 && pfn.0 >= hint - 1 && pfn.0 < hint - 1 + HPAGE_PMD_NR
    }

    /// Atomic read-modify-write operations on folio reference counts since boot
    /// (`_refcount` of every folio and `_pincount` of large ones): `get_page`,
    /// `put_page`, `folio_put_refs`, `folio_ref_add`, `try_grab_folio`, the refcount
    /// freeze of a split. Plain stores (allocation) are not counted.
    pub fn ref_atomic_ops(&self) -> u64 {
        self.events.refcount_ops.get()
    }

    #[inline]
    fn count_ref_op(&self, n: u64) {
        self.events.refcount_ops.add(n);
    }

    /// Counts a THP event (see [`ThpStats`]).
    pub fn count_thp_event(&self, ev: ThpEvent) {
        let c = match ev {
            ThpEvent::FaultAlloc => &self.thp.fault_alloc,
            ThpEvent::FaultFallback => &self.thp.fault_fallback,
            ThpEvent::HugeZeroMap => &self.thp.huge_zero_maps,
            ThpEvent::SplitPmd => &self.thp.split_pmd,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The THP event counts since boot.
    pub fn thp_stats(&self) -> ThpStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ThpStats {
            fault_alloc: r(&self.thp.fault_alloc),
            fault_fallback: r(&self.thp.fault_fallback),
            huge_zero_maps: r(&self.thp.huge_zero_maps),
            zero_page_alloc: r(&self.thp.zero_page_alloc),
            split_pmd: r(&self.thp.split_pmd),
            split_page: r(&self.thp.split_page),
            split_page_failed: r(&self.thp.split_page_failed),
            deferred_split_page: r(&self.thp.deferred_split_page),
        }
    }

    fn block_index(&self, pfn: Pfn) -> Option<usize> {
        self.zones.iter().find_map(|z| {
            let off = pfn.0.checked_sub(z.first_block_pfn)?;
            let b = off / HPAGE_PMD_NR;
            (b < z.nr_blocks).then_some(z.block_base + b as usize)
        })
    }

    /// Pops one frame, breaking a whole block if `order0` is empty (`expand()`).
    fn take_order0(&self, area: &mut FreeArea) -> Option<Pfn> {
        if area.order0.is_empty() {
            let head = area.huge.pop()?;
            for i in (1..HPAGE_PMD_NR).rev() {
                area.order0.push(Pfn(head.0 + i));
            }
            area.order0.push(head);
        }
        let pfn = area.order0.pop()?;
        if let Some(c) = self
            .block_index(pfn)
            .and_then(|b| area.block_free.get_mut(b))
        {
            *c = c.saturating_sub(1);
        }
        Some(pfn)
    }

    fn nr_free_locked(area: &FreeArea) -> u64 {
        area.order0.len() as u64 + area.huge.len() as u64 * HPAGE_PMD_NR
    }

    /// This hart's list (`this_cpu_ptr(zone->per_cpu_pageset)`), `None` on a thread that
    /// is no hart's.
    #[inline]
    fn this_pcp(&self) -> Option<&PcpSlot> {
        crate::percpu::smp_processor_id().and_then(|id| self.pcp.get(id))
    }

    /// Frames on all harts' lists, from the mirrored counts.
    fn pcp_frames(&self) -> u64 {
        self.pcp
            .iter()
            .map(|s| s.count.load(Ordering::Relaxed))
            .sum()
    }

    /// Samples the frames in use for [`PageAlloc::peak_used`], `zone_free` being the
    /// zone's free frames (its lock held).
    fn note_used(&self, zone_free: u64) {
        let used = self
            .nr_total()
            .saturating_sub(zone_free + self.pcp_frames());
        self.peak_used.fetch_max(used, Ordering::Relaxed);
    }

    /// Puts an order-0 frame back on the zone's list (`__free_one_page()` of order 0).
    fn free_to_zone(&self, area: &mut FreeArea, pfn: Pfn) {
        area.order0.push(pfn);
        if let Some(c) = self
            .block_index(pfn)
            .and_then(|b| area.block_free.get_mut(b))
        {
            *c = (*c + 1).min(HPAGE_PMD_NR as u16);
        }
    }

    /// `rmqueue()` of one order-0 frame: from this hart's list, or on another thread from
    /// the zone; if none is left there, every hart's list is drained back to the zone and
    /// the zone tried once more (see the module docs).
    fn rmqueue(&self) -> Option<Pfn> {
        let pfn = match self.this_pcp() {
            Some(slot) => self.rmqueue_pcplist(slot),
            None => self.rmqueue_zone(),
        };
        pfn.or_else(|| {
            if self.drain_all_pages() == 0 {
                return None;
            }
            self.rmqueue_zone()
        })
    }

    /// One frame from the zone, under its lock.
    fn rmqueue_zone(&self) -> Option<Pfn> {
        let mut area = self.free.lock();
        let pfn = self.take_order0(&mut area)?;
        area.allocs += 1;
        self.note_used(Self::nr_free_locked(&area));
        Some(pfn)
    }

    /// `rmqueue_pcplist()`: one frame from `slot`'s list, refilled first with `pcp_batch`
    /// frames from the zone if it is empty (`rmqueue_bulk()`). `None` if both are empty.
    fn rmqueue_pcplist(&self, slot: &PcpSlot) -> Option<Pfn> {
        let mut pcp = slot.pcp.lock();
        let mut zone_free = None;
        if pcp.list.is_empty() {
            let _nopreempt = crate::sync::preempt_disable();
            let mut area = self.free.lock();
            while pcp.list.len() < self.pcp_batch {
                let Some(pfn) = self.take_order0(&mut area) else {
                    break;
                };
                pcp.list.push(pfn);
            }
            // The zone hands out its lowest frames first; so does the list.
            pcp.list.reverse();
            zone_free = Some(Self::nr_free_locked(&area));
        }
        let pfn = pcp.list.pop();
        pcp.allocs += u64::from(pfn.is_some());
        slot.count.store(pcp.list.len() as u64, Ordering::Relaxed);
        if let Some(zone_free) = zone_free {
            self.note_used(zone_free);
        }
        pfn
    }

    /// `free_unref_page()` of an order-0 frame whose metadata is cleared: onto this hart's
    /// list, whose `pcp_batch` coldest frames go back to the zone when it reaches
    /// `pcp_high` (`free_pcppages_bulk()`); on another thread, to the zone.
    fn free_unref_page(&self, pfn: Pfn) {
        let Some(slot) = self.this_pcp() else {
            let mut area = self.free.lock();
            self.free_to_zone(&mut area, pfn);
            area.frees += 1;
            return;
        };
        let mut pcp = slot.pcp.lock();
        pcp.list.push(pfn);
        pcp.frees += 1;
        if pcp.list.len() >= self.pcp_high {
            self.free_pcppages_bulk(&mut pcp, self.pcp_batch);
        }
        slot.count.store(pcp.list.len() as u64, Ordering::Relaxed);
    }

    /// `free_pcppages_bulk()`: moves the first (coldest) `count` frames of the locked
    /// list `pcp` back to the zone, under the zone lock taken with preemption off (one
    /// scheduling point per list operation in deterministic mode). Returns how many moved.
    fn free_pcppages_bulk(&self, pcp: &mut PerCpuPages, count: usize) -> u64 {
        let n = count.min(pcp.list.len());
        let _nopreempt = crate::sync::preempt_disable();
        let mut area = self.free.lock();
        for pfn in pcp.list.drain(..n) {
            self.free_to_zone(&mut area, pfn);
        }
        n as u64
    }

    /// `drain_all_pages()`: moves the frames on every hart's list back to the zone (an
    /// allocation found the zone empty, or a 2 MiB block is wanted). Returns how many
    /// frames moved. Lists whose mirrored count is zero are skipped without their lock.
    pub fn drain_all_pages(&self) -> u64 {
        let mut moved = 0;
        for slot in &self.pcp {
            if slot.count.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut pcp = slot.pcp.lock();
            moved += self.free_pcppages_bulk(&mut pcp, usize::MAX);
            slot.count.store(0, Ordering::Relaxed);
        }
        moved
    }

    /// `pcp->batch` and `pcp->high` of every hart's list (see the module docs).
    pub fn pcp_batch_high(&self) -> (usize, usize) {
        (self.pcp_batch, self.pcp_high)
    }

    /// `alloc_page(GFP_KERNEL | (zeroed ? __GFP_ZERO : 0))`: takes a frame off this hart's
    /// free list (see the module docs) with refcount 1, mapcount 0 and no flags. With
    /// `zeroed` the frame is cleared (outside any lock); without, it holds whatever it held
    /// when it was freed, and the caller must overwrite all of it before it is mapped.
    ///
    /// Returns `None` when memory is exhausted — the zone and every hart's list are empty
    /// (the caller turns that into `ENOMEM` or `VM_FAULT_OOM`).
    pub fn alloc_page(&self, ram: &GuestMemory, zeroed: bool) -> Option<Pfn> {
        let pfn = self.rmqueue()?;
        self.events.page_allocs.inc();
        self.events.page_zeroes.add(u64::from(zeroed));
        if zeroed && ram.fill(pfn.pa(), PAGE_SIZE, 0).is_err() {
            // Cannot happen for a managed frame; keep the frame off the list rather than
            // hand out garbage.
            return None;
        }
        if let Some(p) = self.page(pfn) {
            p.flags.store(0, Ordering::Release);
            p.mapping.store(0, Ordering::Release);
            p.index.store(0, Ordering::Release);
            p.mapcount.store(0, Ordering::Release);
            p.refcount.store(1, Ordering::Release);
        }
        Some(pfn)
    }

    /// `folio_alloc(GFP_TRANSHUGE, HPAGE_PMD_ORDER)` (`vma_alloc_folio()` for a THP
    /// fault): a naturally aligned 2 MiB large folio — head refcount 1, every mapcount,
    /// the entire mapcount and the pincount 0, head flagged [`PageFlags::HEAD`] and the 511
    /// others [`PageFlags::TAIL`] — zero-filled if `zeroed`.
    ///
    /// Returns `None` when no whole 2 MiB block is free even after merging free frames
    /// back into blocks, the harts' lists drained first if they hold frames (the caller
    /// falls back to 4 KiB pages).
    pub fn alloc_large_folio(&self, ram: &GuestMemory, zeroed: bool) -> Option<Pfn> {
        let head = {
            let mut area = self.free.lock();
            if area.huge.is_empty() {
                self.merge_free_blocks(&mut area);
            }
            if area.huge.is_empty() && self.pcp_frames() > 0 {
                drop(area);
                self.drain_all_pages();
                area = self.free.lock();
                self.merge_free_blocks(&mut area);
            }
            let head = area.huge.pop()?;
            if let Some(c) = self
                .block_index(head)
                .and_then(|b| area.block_free.get_mut(b))
            {
                *c = 0;
            }
            area.allocs += 1;
            self.note_used(Self::nr_free_locked(&area));
            head
        };
        self.events.page_allocs.inc();
        self.events
            .page_zeroes
            .add(if zeroed { HPAGE_PMD_NR } else { 0 });
        if zeroed && ram.fill(head.pa(), HPAGE_PMD_SIZE, 0).is_err() {
            return None;
        }
        self.prep_compound_page(head, HPAGE_PMD_NR, PageFlags::HEAD);
        if let Some(h) = self.page(head) {
            h.refcount.store(1, Ordering::Release);
        }
        Some(head)
    }

    /// `prep_compound_page()`: the metadata of a new large folio of `nr` frames at `head`
    /// — `head_flags` on the head, [`PageFlags::TAIL`] on the others, every count 0.
    fn prep_compound_page(&self, head: Pfn, nr: u64, head_flags: PageFlags) {
        for i in 0..nr {
            if let Some(p) = self.page(Pfn(head.0 + i)) {
                let f = if i == 0 { head_flags } else { PageFlags::TAIL };
                p.flags.store(f.bits(), Ordering::Release);
                p.mapcount.store(0, Ordering::Release);
                p.refcount.store(0, Ordering::Release);
                p.entire_mapcount.store(0, Ordering::Release);
                p.large_pincount.store(0, Ordering::Release);
            }
        }
    }

    /// `alloc_contig_pages(1 << order)` (`mm/page_alloc.c`) for a gigantic folio: a
    /// naturally aligned run of `1 << order` frames (more than [`MAX_PAGE_ORDER`]'s)
    /// whose 2 MiB blocks are all free, taken off the free lists at once
    /// (`isolate_freepages_range()`), with the metadata of a large folio (head flagged
    /// [`PageFlags::HEAD`] | [`PageFlags::GIGANTIC`], every count 0). The harts' lists
    /// are drained and free frames merged back into blocks first. Ranges are tried from
    /// the top of each zone down: allocations take the lowest frames first, so whole
    /// free gigabytes stay at the top. Linux also migrates movable pages out of a range;
    /// nothing here is movable, so a range with one used frame is skipped. `None` when
    /// no range is whole (RAM fragmented, or too small). The hugetlb pools are its only
    /// users: the folio comes with refcount 0, and goes back through
    /// `update_and_free_hugetlb_folio()`.
    pub fn alloc_contig_pages(&self, order: u32) -> Option<Pfn> {
        let nr = 1u64 << order;
        let blocks = usize::try_from(nr / HPAGE_PMD_NR).ok()?;
        if self.pcp_frames() > 0 {
            self.drain_all_pages();
        }
        let head = {
            let mut area = self.free.lock();
            self.merge_free_blocks(&mut area);
            let (head, first) = self.zones.iter().rev().find_map(|z| {
                let end = z.first_block_pfn + z.nr_blocks * HPAGE_PMD_NR;
                let mut start = end.checked_sub(nr)? & !(nr - 1);
                while start >= z.first_block_pfn {
                    let first =
                        z.block_base + ((start - z.first_block_pfn) / HPAGE_PMD_NR) as usize;
                    let whole = area
                        .block_free
                        .get(first..first + blocks)
                        .is_some_and(|c| c.iter().all(|&c| u64::from(c) == HPAGE_PMD_NR));
                    if whole {
                        return Some((start, first));
                    }
                    start = start.checked_sub(nr)?;
                }
                None
            })?;
            for c in area.block_free.iter_mut().skip(first).take(blocks) {
                *c = 0;
            }
            // After the merge every whole block is on `huge`, and only there.
            area.huge.retain(|b| b.0 < head || b.0 >= head + nr);
            area.allocs += 1;
            self.note_used(Self::nr_free_locked(&area));
            Pfn(head)
        };
        self.events.page_allocs.inc();
        self.prep_compound_page(head, nr, PageFlags::HEAD | PageFlags::GIGANTIC);
        Some(head)
    }

    /// The deferred buddy merge: moves every block whose frames are all free from
    /// `order0` back to `huge` (blocks already whole on `huge` stay as they are). One
    /// pass over `order0`, only when a block exists.
    fn merge_free_blocks(&self, area: &mut FreeArea) {
        let mut full: Vec<bool> = area
            .block_free
            .iter()
            .map(|&c| u64::from(c) == HPAGE_PMD_NR)
            .collect();
        if !full.iter().any(|&f| f) {
            return;
        }
        for b in area.huge.iter().filter_map(|&h| self.block_index(h)) {
            if let Some(f) = full.get_mut(b) {
                *f = false;
            }
        }
        if !full.iter().any(|&f| f) {
            return;
        }
        let is_full = |pfn: Pfn| {
            self.block_index(pfn)
                .and_then(|b| full.get(b).copied())
                .unwrap_or(false)
        };
        area.order0.retain(|&p| !is_full(p));
        for z in self.zones.iter().rev() {
            for b in (0..z.nr_blocks).rev() {
                if full
                    .get(z.block_base + b as usize)
                    .copied()
                    .unwrap_or(false)
                {
                    area.huge.push(Pfn(z.first_block_pfn + b * HPAGE_PMD_NR));
                }
            }
        }
    }

    /// `get_page()` / `folio_get()`: takes a reference on the folio containing `pfn`.
    /// No-op for frames without metadata and the zero pages.
    pub fn get_page(&self, pfn: Pfn) {
        self.folio_ref_add(pfn, 1);
    }

    /// `folio_ref_add()`: takes `nr` references at once on the folio containing `pfn`
    /// (one compare-and-swap). No-op for frames without metadata and the zero pages.
    pub fn folio_ref_add(&self, pfn: Pfn, nr: u32) {
        if self.is_zero_pfn(pfn) || nr == 0 {
            return;
        }
        if self
            .folio_ref_update(pfn, |r| Some(r.wrapping_add(nr)))
            .is_some()
        {
            self.count_ref_op(1);
        }
    }

    /// `folio_ref_try_add()`: adds `nr` references to the folio containing `pfn` unless
    /// its refcount is zero (a folio being freed: a lockless walker must not resurrect
    /// it) or would overflow — one compare-and-swap loop. Returns whether it did; always
    /// `true` (and nothing changes) for the zero page and reserved frames.
    pub fn folio_ref_try_add(&self, pfn: Pfn, nr: u32) -> bool {
        if self.is_zero_pfn(pfn) || nr == 0 {
            return true;
        }
        let Some((_, head)) = self.folio(pfn) else {
            return false;
        };
        if head.test(PageFlags::RESERVED) {
            return true;
        }
        let ok = self
            .folio_ref_update(pfn, |c| if c == 0 { None } else { c.checked_add(nr) })
            .is_some_and(|(_, r)| r.is_ok());
        self.count_ref_op(1);
        ok
    }

    /// `put_page()` / `folio_put()`: drops a reference on the folio containing `pfn` and
    /// frees the folio (`free_page`, or all 512 frames of a large one) when it was the
    /// last. No-op for the zero pages and for frames without metadata. A put on a zero
    /// refcount is counted as a bad put (see [`PageAllocAudit::bad_puts`]), never a panic.
    pub fn put_page(&self, ram: &GuestMemory, pfn: Pfn) {
        self.folio_put_refs(ram, pfn, 1);
    }

    /// `folio_put_refs()`: drops `nr` references at once (`unpin_user_page()` of a small
    /// folio drops [`GUP_PIN_COUNTING_BIAS`]) on the folio containing `pfn`, and frees it
    /// if they were the last. Dropping more references than the folio holds is counted as
    /// a bad put and leaves it untouched.
    pub fn folio_put_refs(&self, _ram: &GuestMemory, pfn: Pfn, nr: u32) {
        if self.is_zero_pfn(pfn) || nr == 0 {
            return;
        }
        if self
            .folio(pfn)
            .is_none_or(|(_, h)| h.test(PageFlags::RESERVED))
        {
            return;
        }
        self.count_ref_op(1);
        match self.folio_ref_update(pfn, |r| r.checked_sub(nr)) {
            Some((head_pfn, Ok(r))) if r == nr => self.free_folio(head_pfn),
            Some((_, Ok(_))) | None => {}
            Some((_, Err(_))) => {
                self.bad_puts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One compare-and-swap of the refcount of the folio containing `pfn`, from `r` to
    /// `update(r)`, as a split of that folio on another hart allows it
    /// ([`PageAlloc::split_folio`]): the folio is looked up again whenever the swap fails
    /// or the count was read while the page changed folios, so that a count read from a
    /// former head never lands there (the split stores the tails' counts before the
    /// head's: a page that is still a tail after the head's count was read was a tail
    /// when it was read); a folio frozen for its split is waited for, then the page's own
    /// count updated. Returns the head's PFN and `Ok(old count)`, or `Err(count)` where
    /// `update` refused (nothing changed); `None` for a frame without metadata or a
    /// reserved one (nothing changed).
    fn folio_ref_update(
        &self,
        pfn: Pfn,
        mut update: impl FnMut(u32) -> Option<u32>,
    ) -> Option<(Pfn, Result<u32, u32>)> {
        loop {
            let (head_pfn, head) = self.folio(pfn)?;
            if head.test(PageFlags::RESERVED) {
                return None;
            }
            let r = head.refcount.load(Ordering::Acquire);
            if r == 0 && head.test(PageFlags::SPLITTING) {
                self.wait_split(head);
                continue;
            }
            if self.folio(pfn).map(|(h, _)| h) != Some(head_pfn) {
                continue;
            }
            let Some(new) = update(r) else {
                return Some((head_pfn, Err(r)));
            };
            if head
                .refcount
                .compare_exchange(r, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Some((head_pfn, Ok(r)));
            }
        }
    }

    /// Waits until the split of the folio whose head is `head` (on another hart) is over
    /// ([`PageFlags::SPLITTING`]). The split's frozen window takes no lock and passes no
    /// scheduling point, so in deterministic mode (one hart at a time) nobody waits here.
    fn wait_split(&self, head: &Page) {
        crate::sync::spin_until(|| !head.test(PageFlags::SPLITTING));
    }

    /// `gup_put_folio(FOLL_PIN)` on a large folio: drops `refs` pins (`_pincount`) and
    /// `refs` references. For a small folio use [`PageAlloc::folio_put_refs`] with
    /// `refs * GUP_PIN_COUNTING_BIAS`.
    pub fn folio_unpin_large(&self, ram: &GuestMemory, pfn: Pfn, refs: u32) {
        let Some((_, head)) = self.folio(pfn) else {
            return;
        };
        if !head.is_head() || head.test(PageFlags::RESERVED) {
            return;
        }
        self.count_ref_op(1);
        if head
            .large_pincount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(refs))
            .is_err()
        {
            self.bad_puts.fetch_add(1, Ordering::Relaxed);
        }
        self.folio_put_refs(ram, pfn, refs);
    }

    /// `try_grab_folio()`'s arithmetic for `FOLL_PIN` on a large folio: `refs` references
    /// and `refs` pins (two atomic operations). Callers check the folio is live first.
    pub fn folio_pin_large(&self, pfn: Pfn, refs: u32) {
        let Some((_, head)) = self.folio(pfn) else {
            return;
        };
        if !head.is_head() || head.test(PageFlags::RESERVED) {
            return;
        }
        head.refcount.fetch_add(refs, Ordering::AcqRel);
        head.large_pincount.fetch_add(refs, Ordering::AcqRel);
        self.count_ref_op(2);
    }

    /// [`PageAlloc::folio_pin_large`] unless the folio's refcount is zero or would
    /// overflow (see [`PageAlloc::folio_ref_try_add`]). Returns whether it pinned.
    pub fn folio_try_pin_large(&self, pfn: Pfn, refs: u32) -> bool {
        let Some((_, head)) = self.folio(pfn) else {
            return false;
        };
        if !head.is_head() || head.test(PageFlags::RESERVED) {
            return false;
        }
        if !self.folio_ref_try_add(pfn, refs) {
            return false;
        }
        head.large_pincount.fetch_add(refs, Ordering::AcqRel);
        self.count_ref_op(1);
        true
    }

    /// `free_unref_page()` / `free_unref_folios()`: returns a folio whose refcount reached
    /// zero to the free lists, zeroed (see the module docs for why not discarded).
    /// Callers other than `put_page` must own the last reference. `pfn` may be any page
    /// of the folio.
    pub fn free_page(&self, _ram: &GuestMemory, pfn: Pfn) {
        if self.is_zero_pfn(pfn) {
            return;
        }
        if let Some((head, _)) = self.folio(pfn) {
            self.free_folio(head);
        }
    }

    fn free_folio(&self, head_pfn: Pfn) {
        self.events.page_frees.inc();
        let Some(head) = self.page(head_pfn) else {
            return;
        };
        if !head.is_head() {
            self.free_one(head);
            self.free_unref_page(head_pfn);
            return;
        }
        if head.entire_mapcount.swap(0, Ordering::AcqRel) != 0
            || head.large_pincount.swap(0, Ordering::AcqRel) != 0
        {
            self.bad_puts.fetch_add(1, Ordering::Relaxed);
        }
        let nr = head.folio_nr_pages();
        if head.test(PageFlags::HUGETLB) {
            // free_huge_folio(): back to its pool, free and with fresh metadata.
            let head_flags =
                head.flags() & (PageFlags::HEAD | PageFlags::HUGETLB | PageFlags::GIGANTIC);
            for i in 0..nr {
                if let Some(p) = self.page(Pfn(head_pfn.0 + i)) {
                    self.free_one(p);
                    let f = if i == 0 { head_flags } else { PageFlags::TAIL };
                    p.flags.store(f.bits(), Ordering::Release);
                }
            }
            self.free_huge_folio(head_pfn, nr);
            return;
        }
        self.free_large_to_zone(head_pfn, nr);
    }

    /// `update_and_free_hugetlb_folio()` of a free hugetlb folio the pool gives up
    /// (shrunk, or a surplus page freed): its frames go back to the free lists as whole
    /// 2 MiB blocks (the 512 of a gigantic folio: Linux's `free_contig_range()`).
    pub(super) fn update_and_free_hugetlb_folio(&self, head_pfn: Pfn) {
        let Some(h) = self.page(head_pfn) else {
            return;
        };
        let nr = h.folio_nr_pages();
        h.clear(PageFlags::HUGETLB);
        self.free_large_to_zone(head_pfn, nr);
    }

    /// `alloc_fresh_hugetlb_folio()`: a folio of `order` for a hugetlb pool — a 2 MiB
    /// block from the free lists, or for a gigantic order a run from
    /// [`PageAlloc::alloc_contig_pages`] (`alloc_gigantic_folio()`) — flagged
    /// [`PageFlags::HUGETLB`], with refcount 0 (a free hugetlb folio's). `None` when no
    /// such run of frames is free.
    pub(super) fn alloc_fresh_hugetlb_folio(&self, ram: &GuestMemory, order: u32) -> Option<Pfn> {
        let head = if order > MAX_PAGE_ORDER {
            self.alloc_contig_pages(order)?
        } else {
            self.alloc_large_folio(ram, false)?
        };
        let Some(h) = self.page(head) else {
            return Some(head);
        };
        h.set(PageFlags::HUGETLB);
        h.refcount.store(0, Ordering::Release);
        Some(head)
    }

    /// The `nr` frames of a large folio whose last reference went (or that a pool gave
    /// up), back to the zone as whole 2 MiB blocks.
    fn free_large_to_zone(&self, head_pfn: Pfn, nr: u64) {
        for i in 0..nr {
            let pfn = Pfn(head_pfn.0 + i);
            if let Some(p) = self.page(pfn) {
                self.free_one(p);
            }
        }
        self.deferred_split.lock().retain(|&h| h != head_pfn);
        {
            let mut area = self.free.lock();
            // Highest block first, so the lowest ends on top of the stack.
            for b in (0..nr / HPAGE_PMD_NR).rev() {
                let block = Pfn(head_pfn.0 + b * HPAGE_PMD_NR);
                match self
                    .block_index(block)
                    .and_then(|b| area.block_free.get_mut(b))
                {
                    Some(c) => {
                        *c = HPAGE_PMD_NR as u16;
                        area.huge.push(block);
                    }
                    // Cannot happen (large folios come from whole blocks); keep the frames.
                    None => area
                        .order0
                        .extend((0..HPAGE_PMD_NR).map(|i| Pfn(block.0 + i))),
                }
            }
            area.frees += 1;
        }
    }

    /// Clears one frame's metadata (not its contents: see the module docs).
    fn free_one(&self, p: &Page) {
        p.refcount.store(0, Ordering::Release);
        if p.mapcount.swap(0, Ordering::AcqRel) != 0 {
            self.bad_puts.fetch_add(1, Ordering::Relaxed);
        }
        p.flags.store(0, Ordering::Release);
        p.mapping.store(0, Ordering::Release);
    }

    /// Records a mapcount underflow found by a caller.
    pub(crate) fn note_bad_put(&self) {
        self.bad_puts.fetch_add(1, Ordering::Relaxed);
    }

    // ------------------------------------------------------------------ huge zero folio

    /// `mm_get_huge_zero_folio()`: the huge zero folio's head, allocating and zeroing it on
    /// first use, with one more reference for the calling address space (which records
    /// that it holds one, `MMF_HUGE_ZERO_PAGE`, and drops it at exit with
    /// [`PageAlloc::mm_put_huge_zero_folio`]). `None` if no 2 MiB block is free.
    pub fn mm_get_huge_zero_folio(&self, ram: &GuestMemory) -> Option<Pfn> {
        let mut hz = self.huge_zero.lock();
        if let Some(head) = *hz {
            if let Some(h) = self.page(head) {
                h.refcount.fetch_add(1, Ordering::AcqRel);
            }
            return Some(head);
        }
        let head = self.alloc_large_folio(ram, true)?;
        for i in 0..HPAGE_PMD_NR {
            if let Some(p) = self.page(Pfn(head.0 + i)) {
                p.set(PageFlags::ZERO | PageFlags::RESERVED);
            }
        }
        *hz = Some(head);
        self.huge_zero_hint.store(head.0 + 1, Ordering::Release);
        self.thp.zero_page_alloc.fetch_add(1, Ordering::Relaxed);
        Some(head)
    }

    /// `mm_put_huge_zero_folio()`: an address space that held a reference on the huge zero
    /// folio is gone. The folio is freed when no address space holds one (Linux's shrinker
    /// does that lazily).
    pub fn mm_put_huge_zero_folio(&self, _ram: &GuestMemory) {
        let mut hz = self.huge_zero.lock();
        let Some(head_pfn) = *hz else { return };
        let Some(head) = self.page(head_pfn) else {
            return;
        };
        match head
            .refcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1))
        {
            Ok(1) => {
                self.huge_zero_hint.store(0, Ordering::Release);
                *hz = None;
                drop(hz);
                for i in 0..HPAGE_PMD_NR {
                    if let Some(p) = self.page(Pfn(head_pfn.0 + i)) {
                        p.clear(PageFlags::ZERO | PageFlags::RESERVED);
                    }
                }
                self.free_folio(head_pfn);
            }
            Ok(_) => {}
            Err(_) => self.note_bad_put(),
        }
    }

    // ------------------------------------------------------------------------ splitting

    /// `deferred_split_folio()`: queues a large folio that lost some of its PTE mappings
    /// for [`PageAlloc::deferred_split_scan`].
    pub fn deferred_split_folio(&self, pfn: Pfn) {
        let Some((head_pfn, head)) = self.folio(pfn) else {
            return;
        };
        if !head.is_head() || head.test(PageFlags::RESERVED) {
            return;
        }
        {
            let mut q = self.deferred_split.lock();
            if !q.contains(&head_pfn) {
                q.push(head_pfn);
                self.thp.deferred_split_page.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether any folio waits on the deferred-split queue.
    pub fn has_deferred_split(&self) -> bool {
        !self.deferred_split.lock().is_empty()
    }

    /// `deferred_split_scan()` (Linux runs it from a shrinker; this kernel runs it after
    /// every unmap, see `Mm::tlb_finish_mmu`): splits every queued folio that is still
    /// partially mapped. A folio that is fully mapped again, or no longer large, leaves the
    /// queue; one that cannot be split now (pinned: `EAGAIN`) stays queued, PTE-mapped,
    /// and is retried at the next scan. Returns the number of folios split.
    pub fn deferred_split_scan(&self, ram: &GuestMemory) -> u64 {
        let queue: Vec<Pfn> = std::mem::take(&mut *self.deferred_split.lock());
        let mut keep = Vec::new();
        let mut split = 0;
        for head_pfn in queue {
            let Some(head) = self.page(head_pfn) else {
                continue;
            };
            if !head.is_head() || head.refcount() == 0 || !self.folio_partially_mapped(head_pfn) {
                continue;
            }
            match self.split_folio(ram, head_pfn) {
                Ok(()) => split += 1,
                Err(SplitError::Again) => keep.push(head_pfn),
                Err(SplitError::Busy) => {}
            }
        }
        {
            let mut q = self.deferred_split.lock();
            for h in keep {
                if !q.contains(&h) {
                    q.push(h);
                }
            }
        }
        split
    }

    /// Whether a large folio has PTE-unmapped pages while others are still mapped and no
    /// PMD maps it (`folio_test_partially_mapped()`).
    pub fn folio_partially_mapped(&self, head_pfn: Pfn) -> bool {
        let Some(head) = self.page(head_pfn) else {
            return false;
        };
        if !head.is_head() || head.entire_mapcount() != 0 {
            return false;
        }
        let mut mapped = false;
        let mut unmapped = false;
        for i in 0..HPAGE_PMD_NR {
            match self.page(Pfn(head_pfn.0 + i)).map(Page::mapcount) {
                Some(0) | None => unmapped = true,
                Some(_) => mapped = true,
            }
        }
        mapped && unmapped
    }

    /// `split_folio()` (`split_huge_page_to_list_to_order(…, 0)`): turns a PTE-mapped large
    /// folio into 512 order-0 pages. Each page's refcount becomes its mapcount (one
    /// reference per PTE, which is what the folio's refcount was made of); pages no PTE
    /// maps are freed at once. Flags carry over (`PageAnon` per page already, `PG_dirty`
    /// from the head to every page, `PageAnonExclusive` per page unchanged). The folio's
    /// refcount is frozen at its expected value with one compare-and-swap
    /// (`folio_ref_freeze()`), so a reference taken concurrently makes the split fail.
    ///
    /// # Errors
    /// [`SplitError::Busy`] for an order-0 page, the huge zero folio or a PMD-mapped
    /// folio; [`SplitError::Again`] when the folio holds references beyond its mappings
    /// (GUP references or pins: `can_split_folio()`).
    pub fn split_folio(&self, _ram: &GuestMemory, pfn: Pfn) -> Result<(), SplitError> {
        let (head_pfn, head) = self.folio(pfn).ok_or(SplitError::Busy)?;
        if !head.is_head()
            || head
                .flags()
                .intersects(PageFlags::RESERVED | PageFlags::HUGETLB)
            || head.entire_mapcount() != 0
        {
            return Err(SplitError::Busy);
        }
        // Each page's mapcount, read once: the references the folio must hold (one per
        // PTE), and what each page's own refcount becomes. A mapping removed on another
        // hart after this read drops its reference later; one added takes a reference
        // first. Either way the freeze below fails unless the count is exactly this —
        // and a reference dropped after it goes to the page, which counted its mapping.
        // (Re-reading the mapcounts after the freeze lost such a reference twice: the
        // page was freed while another process still mapped it.)
        let mcs: Vec<u32> = (0..HPAGE_PMD_NR)
            .map(|i| self.page(Pfn(head_pfn.0 + i)).map_or(0, Page::mapcount))
            .collect();
        let expected = u32::try_from(mcs.iter().map(|&m| u64::from(m)).sum::<u64>())
            .map_err(|_| SplitError::Busy)?;
        self.count_ref_op(1);
        if head.large_pincount.load(Ordering::Acquire) != 0 {
            self.thp.split_page_failed.fetch_add(1, Ordering::Relaxed);
            return Err(SplitError::Again);
        }
        // folio_ref_freeze(): from here to the thaw no lock is taken and no scheduling
        // point passed (a put or get that finds the folio frozen waits for the thaw).
        let nopreempt = crate::sync::preempt_disable();
        head.set(PageFlags::SPLITTING);
        if head
            .refcount
            .compare_exchange(expected, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            head.clear(PageFlags::SPLITTING);
            self.thp.split_page_failed.fetch_add(1, Ordering::Relaxed);
            return Err(SplitError::Again);
        }
        let dirty = head.test(PageFlags::DIRTY);
        let mut unmapped = Vec::new();
        // The tails first, each with its own count before it stops being a tail; the
        // head last: a put that resolved a tail to the head meanwhile finds the head
        // frozen, waits, and resolves the page again.
        for (i, &mc) in mcs
            .iter()
            .enumerate()
            .skip(1)
            .chain(mcs.iter().enumerate().take(1))
        {
            let pfn = Pfn(head_pfn.0 + i as u64);
            let Some(p) = self.page(pfn) else { continue };
            if dirty {
                p.set(PageFlags::DIRTY);
            }
            p.refcount.store(mc, Ordering::Release);
            p.clear(PageFlags::HEAD | PageFlags::TAIL);
            if mc == 0 {
                unmapped.push(pfn);
            }
        }
        head.clear(PageFlags::SPLITTING);
        drop(nopreempt);
        self.deferred_split.lock().retain(|&h| h != head_pfn);
        self.thp.split_page.fetch_add(1, Ordering::Relaxed);
        // The folio was one allocation; its pages are now individual ones.
        self.split_allocs
            .fetch_add(HPAGE_PMD_NR - 1, Ordering::Relaxed);
        {
            let mut area = self.free.lock();
            if let Some(c) = self
                .block_index(head_pfn)
                .and_then(|b| area.block_free.get_mut(b))
            {
                *c = 0;
            }
        }
        for pfn in unmapped {
            self.free_folio(pfn);
        }
        Ok(())
    }

    // --------------------------------------------------------------------------- books

    /// Frames currently free: on the zone's lists and on the harts' (the latter from
    /// their mirrored counts, exact when no hart is allocating or freeing).
    pub fn nr_free(&self) -> u64 {
        Self::nr_free_locked(&self.free.lock()) + self.pcp_frames()
    }

    /// Whole free 2 MiB blocks (without merging free frames back into blocks).
    pub fn nr_free_huge(&self) -> u64 {
        self.free.lock().huge.len() as u64
    }

    /// The most frames ever in use at once (the zero page and page tables included): the
    /// guest's peak physical memory footprint in pages. Sampled whenever frames leave
    /// the zone (a hart's list refilled, a large folio, an allocation off a hart), so it
    /// may miss up to `pcp->batch` frames per hart taken from their lists since.
    pub fn peak_used(&self) -> u64 {
        self.peak_used.load(Ordering::Relaxed)
    }

    /// Frames managed by the allocator.
    pub fn nr_total(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Walks the whole metadata table and the free lists and returns the books. A leak
    /// check compares two audits (e.g. before a process starts and after it exits): `used`,
    /// `anon`, `pgtable`, `large_folios` and `total_mapcount` must return to their earlier
    /// values, and `inconsistent_frames` and `bad_puts` must stay zero.
    pub fn audit(&self) -> PageAllocAudit {
        let mut pcp_frames = Vec::new();
        let (mut allocs, mut frees) = (0, 0);
        for slot in &self.pcp {
            let pcp = slot.pcp.lock();
            pcp_frames.extend_from_slice(&pcp.list);
            allocs += pcp.allocs;
            frees += pcp.frees;
        }
        let (order0, huge) = {
            let a = self.free.lock();
            allocs += a.allocs;
            frees += a.frees;
            (a.order0.clone(), a.huge.clone())
        };
        let mut on_free = vec![false; self.pages.len()];
        let mut a = PageAllocAudit {
            total_frames: self.pages.len() as u64,
            free_frames: pcp_frames.len() as u64
                + order0.len() as u64
                + huge.len() as u64 * HPAGE_PMD_NR,
            allocs: allocs + self.split_allocs.load(Ordering::Relaxed),
            frees,
            bad_puts: self.bad_puts.load(Ordering::Relaxed),
            ..Default::default()
        };
        let free_lists = pcp_frames.iter().chain(&order0).copied().chain(
            huge.iter()
                .flat_map(|h| (0..HPAGE_PMD_NR).map(move |i| Pfn(h.0 + i))),
        );
        let mut on_pool = vec![false; self.pages.len()];
        for (head, nr) in self.hugetlb_free_heads() {
            for i in 0..nr {
                if let Some(slot) = self
                    .meta_index(Pfn(head.0 + i))
                    .and_then(|j| on_pool.get_mut(j))
                {
                    *slot = true;
                }
            }
        }
        for pfn in free_lists {
            if let Some(slot) = self.meta_index(pfn).and_then(|i| on_free.get_mut(i)) {
                // On two free lists at once (freed twice).
                if *slot {
                    a.inconsistent_frames += 1;
                }
                *slot = true;
            }
        }
        for (i, p) in self.pages.iter().enumerate() {
            let rc = p.refcount();
            let mc = p.mapcount();
            let f = p.flags();
            let free_here = on_free.get(i).copied().unwrap_or(false);
            if on_pool.get(i).copied().unwrap_or(false) {
                // A free hugetlb folio: no references, no mappings, never also free.
                a.hugetlb_free_frames += 1;
                if rc != 0 || mc != 0 || free_here {
                    a.inconsistent_frames += 1;
                }
                continue;
            }
            if free_here {
                if rc != 0 || mc != 0 || f.intersects(PageFlags::HEAD | PageFlags::TAIL) {
                    a.inconsistent_frames += 1;
                }
                continue;
            }
            if f.contains(PageFlags::TAIL) {
                // Checked with its head below.
                a.used_frames += 1;
                a.total_mapcount += u64::from(mc);
                if rc != 0 {
                    a.inconsistent_frames += 1;
                }
                self.count_flags(&mut a, f);
                continue;
            }
            if rc == 0 {
                a.inconsistent_frames += 1;
                continue;
            }
            a.used_frames += 1;
            a.total_mapcount += u64::from(mc);
            self.count_flags(&mut a, f);
            if f.contains(PageFlags::HEAD) {
                a.large_folios += 1;
                a.total_mapcount += u64::from(p.entire_mapcount());
                a.inconsistent_frames += self.audit_large(i, p);
            }
            if f.contains(PageFlags::PAGECACHE) {
                a.pagecache_frames += 1;
                // A page-cache page is never anonymous, and the cache's own reference
                // is always there.
                if f.contains(PageFlags::ANON) || rc < 1 + mc {
                    a.inconsistent_frames += 1;
                }
            }
        }
        a
    }

    fn count_flags(&self, a: &mut PageAllocAudit, f: PageFlags) {
        if f.contains(PageFlags::PGTABLE) {
            a.pgtable_frames += 1;
        }
        if f.contains(PageFlags::ANON) {
            a.anon_frames += 1;
        }
    }

    /// The books of one large folio whose head is `pages[i]`: its tails must follow it,
    /// every mapping must hold a reference (unless it is the huge zero folio), and pins
    /// are references. Returns the number of inconsistencies (and adds the entire
    /// mapcount to the total).
    fn audit_large(&self, i: usize, head: &Page) -> u64 {
        let mut bad = 0;
        let mut mapped = u64::from(head.entire_mapcount());
        for j in 1..head.folio_nr_pages() as usize {
            match self.pages.get(i + j) {
                Some(t) if t.is_tail() => mapped += u64::from(t.mapcount()),
                _ => bad += 1,
            }
        }
        mapped += u64::from(head.mapcount());
        let rc = u64::from(head.refcount());
        if !head.test(PageFlags::RESERVED) && rc < mapped {
            bad += 1;
        }
        if u64::from(head.large_pincount.load(Ordering::Acquire)) > rc {
            bad += 1;
        }
        bad
    }

    fn meta_index(&self, pfn: Pfn) -> Option<usize> {
        self.zones.iter().find_map(|z| {
            let off = pfn.0.checked_sub(z.first_pfn)?;
            (off < z.nr_pages).then_some(z.meta_base + off as usize)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u64 = 0x8000_0000;

    fn ram(pages: u64) -> GuestMemory {
        GuestMemory::new(&[(GuestPhysAddr(RAM), pages * PAGE_SIZE)]).unwrap()
    }

    #[test]
    fn reserve_zero_page_and_counts() {
        let ram = ram(16);
        let pa = PageAlloc::new(&ram, 4 * PAGE_SIZE).unwrap();
        assert_eq!(pa.nr_total(), 12);
        assert_eq!(
            pa.zero_pfn(),
            Pfn((RAM >> 12) + 4),
            "first frame above the prefix"
        );
        assert_eq!(pa.nr_free(), 11);
        let a0 = pa.audit();
        assert_eq!(a0.used_frames, 1);
        assert_eq!(a0.inconsistent_frames, 0);
        // Reserved frames have no metadata.
        assert!(pa.page(Pfn(RAM >> 12)).is_none());
        assert_eq!(
            PageAlloc::new(&ram, 15 * PAGE_SIZE).unwrap_err(),
            PageAllocError::NoFrames {
                reserved_bytes: 15 * PAGE_SIZE
            }
        );
        assert_eq!(
            PageAlloc::new(&ram, 100).unwrap_err(),
            PageAllocError::UnalignedReserve(100)
        );
    }

    #[test]
    fn alloc_get_put_free_and_zeroing() {
        let ram = ram(8);
        let pa = PageAlloc::new(&ram, 0).unwrap();
        let before = pa.audit();
        let p = pa.alloc_page(&ram, true).unwrap();
        ram.write_u64(p.pa(), 0xdead_beef).unwrap();
        pa.get_page(p);
        assert_eq!(pa.page(p).unwrap().refcount(), 2);
        pa.put_page(&ram, p);
        assert_eq!(pa.nr_free(), before.free_frames - 1, "still referenced");
        pa.put_page(&ram, p);
        assert_eq!(pa.nr_free(), before.free_frames, "freed at zero");
        // LIFO: the same frame comes back, not cleared when freed (init_on_free=0), so
        // an unzeroed allocation sees the old contents and a zeroed one does not.
        let q = pa.alloc_page(&ram, false).unwrap();
        assert_eq!(q, p);
        assert_eq!(ram.read_u64(q.pa()).unwrap(), 0xdead_beef);
        pa.put_page(&ram, q);
        let q = pa.alloc_page(&ram, true).unwrap();
        assert_eq!(q, p);
        assert_eq!(ram.read_u64(q.pa()).unwrap(), 0);
        pa.put_page(&ram, q);
        // A put too many is counted, not a panic.
        pa.put_page(&ram, q);
        let after = pa.audit();
        assert_eq!(after.bad_puts, 1);
        assert_eq!(after.used_frames, before.used_frames);
        assert_eq!(after.inconsistent_frames, 0);
        // The zero page is immune to get/put.
        let z = pa.zero_pfn();
        pa.put_page(&ram, z);
        pa.put_page(&ram, z);
        assert_eq!(pa.page(z).unwrap().refcount(), 1);
    }

    #[test]
    fn exhaustion_returns_none() {
        let ram = ram(4);
        let pa = PageAlloc::new(&ram, 0).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| pa.alloc_page(&ram, true)).collect();
        assert_eq!(got.len(), 3, "4 frames minus the zero page");
        assert!(pa.alloc_page(&ram, true).is_none());
        for p in got {
            pa.put_page(&ram, p);
        }
        assert_eq!(pa.nr_free(), 3);
    }

    /// Runs `f` as hart `id`'s kernel thread would (its per-CPU list in use), on a thread
    /// of its own.
    fn on_hart<R: Send>(id: usize, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::percpu::set_smp_processor_id(Some(id));
                f()
            })
            .join()
            .unwrap()
        })
    }

    #[test]
    fn zone_batchsize_is_linuxs() {
        // 1 GiB and more: 63; 64 MiB: 16384 frames >> 10 = 16, / 4 = 4, 4 + 2 = 6 → 4 - 1.
        assert_eq!(zone_batchsize(1 << 18), 63);
        assert_eq!(zone_batchsize(1 << 22), 63);
        assert_eq!(zone_batchsize(1 << 14), 3);
        assert_eq!(zone_batchsize(16), 1, "at least one");
    }

    #[test]
    fn pcp_refills_in_batches_and_gives_back_the_coldest_at_high() {
        // 64 MiB: batch 3, high 18.
        let ram = ram(1 << 14);
        let pa = PageAlloc::new(&ram, 0).unwrap();
        let (batch, high) = pa.pcp_batch_high();
        assert_eq!((batch, high), (3, 18));
        let free0 = pa.nr_free();
        let zone_free = |pa: &PageAlloc| PageAlloc::nr_free_locked(&pa.free.lock());
        on_hart(1, || {
            // The first allocation takes a batch from the zone: one for the caller, the
            // rest on hart 1's list, still free.
            let p = pa.alloc_page(&ram, true).unwrap();
            assert_eq!(zone_free(&pa), free0 - batch as u64);
            assert_eq!(pa.nr_free(), free0 - 1);
            assert_eq!(pa.pcp[1].count.load(Ordering::Relaxed), batch as u64 - 1);
            // The next batch - 1 come from the list without touching the zone.
            let mut got = vec![p];
            for _ in 1..batch {
                got.push(pa.alloc_page(&ram, true).unwrap());
            }
            assert_eq!(zone_free(&pa), free0 - batch as u64);
            assert_eq!(pa.pcp[1].count.load(Ordering::Relaxed), 0);
            // In the zone's order: lowest frames first.
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            // Freed frames stay on the list (LIFO: the last freed comes back first).
            let last = *got.last().unwrap();
            for &p in &got {
                pa.put_page(&ram, p);
            }
            assert_eq!(pa.pcp[1].count.load(Ordering::Relaxed), batch as u64);
            assert_eq!(pa.alloc_page(&ram, false), Some(last));
            pa.put_page(&ram, last);
            // Up to high: at `high` frames the `batch` coldest go back to the zone.
            let more: Vec<_> = (0..high)
                .map(|_| pa.alloc_page(&ram, false).unwrap())
                .collect();
            let coldest_first = more.clone();
            for &p in &more {
                pa.put_page(&ram, p);
            }
            let count = pa.pcp[1].count.load(Ordering::Relaxed) as usize;
            assert!(count < high, "a list never holds high frames: {count}");
            assert_eq!(count, high - batch, "{count}");
            let list = pa.pcp[1].pcp.lock().list.clone();
            assert!(
                !list.contains(&coldest_first[0]),
                "the first freed (coldest) went back to the zone"
            );
            assert_eq!(list.last(), more.last(), "the last freed is on top");
        });
        // Frames on a hart's list are free to the books: the audit is clean and counts them.
        let a = pa.audit();
        assert_eq!(a.free_frames, free0);
        assert_eq!(pa.nr_free(), free0);
        assert_eq!(a.used_frames, 1, "the zero page");
        assert_eq!((a.inconsistent_frames, a.bad_puts), (0, 0));
        assert_eq!(a.allocs, a.frees);
    }

    #[test]
    fn exhaustion_drains_every_harts_list_before_it_fails() {
        let ram = ram(1 << 14);
        let pa = PageAlloc::new(&ram, 0).unwrap();
        let total_free = pa.nr_free();
        // Hart 0 leaves frames on its list.
        on_hart(0, || {
            let p = pa.alloc_page(&ram, true).unwrap();
            pa.put_page(&ram, p);
        });
        let stranded = pa.pcp[0].count.load(Ordering::Relaxed);
        assert!(stranded > 0);
        // Hart 1 takes everything: the last frames come from hart 0's list.
        let got = on_hart(1, || {
            let got: Vec<_> = std::iter::from_fn(|| pa.alloc_page(&ram, false)).collect();
            assert_eq!(pa.alloc_page(&ram, true), None, "really exhausted");
            got
        });
        assert_eq!(got.len() as u64, total_free, "no frame stranded");
        assert_eq!(pa.pcp[0].count.load(Ordering::Relaxed), 0, "drained");
        for &p in &got {
            pa.put_page(&ram, p);
        }
        let a = pa.audit();
        assert_eq!(
            (a.free_frames, a.inconsistent_frames, a.bad_puts),
            (total_free, 0, 0)
        );
        // A 2 MiB block is put back together from frames on the lists.
        on_hart(1, || {
            let p = pa.alloc_page(&ram, true).unwrap();
            pa.put_page(&ram, p);
        });
        let blocks = (1u64 << 14) / HPAGE_PMD_NR;
        let folios: Vec<_> = std::iter::from_fn(|| pa.alloc_large_folio(&ram, false)).collect();
        assert_eq!(
            folios.len() as u64,
            blocks - 1,
            "every block but the zero page's"
        );
    }
}
