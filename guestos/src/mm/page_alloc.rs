//! The physical page allocator and the per-frame metadata table (Linux `mm/page_alloc.c`
//! and `struct page` / folio, reduced to order-0 pages).
//!
//! Every 4 KiB frame of guest RAM above the reserved prefix has a [`Page`] holding an
//! atomic `refcount`, `mapcount` and `flags`, so that the fault, COW and GUP code of later
//! issues can take references and pins on frames exactly as Linux does on folios. The free
//! list is a `Mutex<Vec<Pfn>>` (a stack: the most recently freed frame is reused first, as
//! with Linux's per-cpu lists).
//!
//! Freed frames are handed back to the host with [`GuestMemory::discard_page`], so host RSS
//! tracks the guest's live memory, and they read back as zeros.
//!
//! One frame is the **shared zero page** (`ZERO_PAGE(0)`): never freed, flagged
//! [`PageFlags::ZERO`] | [`PageFlags::RESERVED`]. As in Linux (`vm_normal_page()` returns
//! `NULL` for `is_zero_pfn()`), mapping it does not touch its refcount or mapcount.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use bitflags::bitflags;
use devices::{GuestMemory, GuestPhysAddr, PAGE_SIZE};

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

bitflags! {
    /// Per-frame flags (Linux `enum pageflags` plus the `PAGE_MAPPING_ANON` bit, which Linux
    /// keeps in `page->mapping`). Bit positions are ours; the meanings are Linux's.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PageFlags: u32 {
        /// `PageAnon`: the frame backs anonymous memory (Linux: `PAGE_MAPPING_ANON`).
        const ANON = 1 << 0;
        /// `PageAnonExclusive`: exactly one process maps this anon page and it may be written
        /// without a COW copy (Linux `PG_anon_exclusive`).
        const ANON_EXCLUSIVE = 1 << 1;
        /// The shared zero page (`is_zero_pfn()`).
        const ZERO = 1 << 2;
        /// `PG_dirty`: the contents differ from backing store (set when a dirty PTE is
        /// zapped, or when the kernel writes the page).
        const DIRTY = 1 << 3;
        /// `PG_reserved`: never freed (the zero page).
        const RESERVED = 1 << 4;
        /// The frame holds a page table (Linux `PageTable` page type).
        const PGTABLE = 1 << 5;
        /// `PG_swapbacked`: the page is backed by swap or shmem (`MAP_SHARED|MAP_ANONYMOUS`).
        const SWAPBACKED = 1 << 6;
        /// The frame is a page-cache page: `folio->mapping` is a file's address space and
        /// `folio->index` its page offset (see [`Page::mapping`]). The cache holds one
        /// reference on it; never [`PageFlags::ANON`].
        const PAGECACHE = 1 << 16;
    }
}

/// `GUP_PIN_COUNTING_BIAS` (`include/linux/mm.h`): what one `FOLL_PIN` adds to the
/// refcount of a small (order-0) folio, so that `folio_maybe_dma_pinned()` can tell pins
/// from ordinary references without a separate counter.
pub const GUP_PIN_COUNTING_BIAS: u32 = 1 << 10;

/// Metadata of one frame (Linux `struct page`, order 0).
///
/// `refcount` counts references (one per mapping, plus GUP references, and pins in units
/// of [`GUP_PIN_COUNTING_BIAS`]); the frame is freed when it drops to zero.
/// `mapcount` counts page-table entries mapping it (Linux stores `_mapcount` = mapcount − 1;
/// we store the count itself).
#[derive(Debug, Default)]
pub struct Page {
    refcount: AtomicU32,
    mapcount: AtomicU32,
    flags: AtomicU32,
    /// `folio->mapping` of a page-cache page: the inode number of its file (0 = none).
    mapping: AtomicU64,
    /// `folio->index`: the page's offset in its file, in pages.
    index: AtomicU64,
}

impl Page {
    /// `page_ref_count()`.
    #[inline]
    pub fn refcount(&self) -> u32 {
        self.refcount.load(Ordering::Acquire)
    }

    /// `page_mapcount()`: the number of PTEs mapping the page.
    #[inline]
    pub fn mapcount(&self) -> u32 {
        self.mapcount.load(Ordering::Acquire)
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

    /// `page_ref_add()`: takes `nr` references at once (`try_grab_folio(FOLL_PIN)` adds
    /// [`GUP_PIN_COUNTING_BIAS`]). Release them with [`PageAlloc::folio_put_refs`].
    #[inline]
    pub fn page_ref_add(&self, nr: u32) {
        self.refcount.fetch_add(nr, Ordering::AcqRel);
    }

    /// `folio_maybe_dma_pinned()` for a small folio: `refcount >= GUP_PIN_COUNTING_BIAS`.
    /// May report a false positive for a page with more than 1023 ordinary references,
    /// exactly as Linux's does; never a false negative.
    #[inline]
    pub fn maybe_dma_pinned(&self) -> bool {
        self.refcount() >= GUP_PIN_COUNTING_BIAS
    }

    /// The number of `FOLL_PIN` pins as small folios encode it: `refcount /
    /// GUP_PIN_COUNTING_BIAS`. Linux keeps an exact `_pincount` only for large folios; for
    /// order 0 this is the same estimate `folio_maybe_dma_pinned()` relies on.
    #[inline]
    pub fn pincount(&self) -> u32 {
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
        self.clear(PageFlags::PAGECACHE | PageFlags::DIRTY);
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
}

/// A contiguous run of managed frames (one per RAM slot, minus the reserved prefix).
#[derive(Debug, Clone, Copy)]
struct Zone {
    first_pfn: u64,
    nr_pages: u64,
    /// Index of `first_pfn`'s [`Page`] in the metadata table.
    meta_base: usize,
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

/// A snapshot of the allocator's books (see [`PageAlloc::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageAllocAudit {
    /// Frames managed by the allocator (RAM minus the reserved prefix).
    pub total_frames: u64,
    /// Frames on the free list.
    pub free_frames: u64,
    /// Frames with a nonzero refcount (in use), the zero page included.
    pub used_frames: u64,
    /// Used frames flagged [`PageFlags::PGTABLE`].
    pub pgtable_frames: u64,
    /// Used frames flagged [`PageFlags::ANON`].
    pub anon_frames: u64,
    /// Used frames flagged [`PageFlags::PAGECACHE`] (page-cache pages).
    pub pagecache_frames: u64,
    /// Sum of all mapcounts (the zero page's is always zero).
    pub total_mapcount: u64,
    /// Frames that are neither free nor referenced (leaked by a refcount bug), or on the
    /// free list with a nonzero refcount/mapcount. Zero on a healthy system.
    pub inconsistent_frames: u64,
    /// `put_page` on a frame whose refcount was already zero, or a mapcount underflow.
    pub bad_puts: u64,
    /// Total successful allocations since boot.
    pub allocs: u64,
    /// Total frees since boot.
    pub frees: u64,
}

/// The frame allocator and `struct page` table. Thread-safe; shared as part of
/// [`super::PhysMem`].
#[derive(Debug)]
pub struct PageAlloc {
    zones: Vec<Zone>,
    pages: Vec<Page>,
    free: Mutex<Vec<Pfn>>,
    zero_pfn: Pfn,
    allocs: AtomicU64,
    frees: AtomicU64,
    bad_puts: AtomicU64,
    /// Highest number of frames in use at once (zero page included).
    peak_used: AtomicU64,
    /// Kernel-primitive event counters ([`super::events`]), counted by the primitives.
    pub events: super::events::KernelEvents,
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
        for (base, len) in regions {
            let end = base.0.saturating_add(len);
            let start = base.0.max(reserve_end);
            if start >= end {
                continue;
            }
            let nr_pages = (end - start) / PAGE_SIZE;
            zones.push(Zone {
                first_pfn: start / PAGE_SIZE,
                nr_pages,
                meta_base: total,
            });
            total += nr_pages as usize;
        }
        if total < 2 {
            return Err(PageAllocError::NoFrames { reserved_bytes });
        }
        let pages: Vec<Page> = (0..total).map(|_| Page::default()).collect();
        // Free list as a stack: push high frames first so allocation starts at the lowest.
        let mut free: Vec<Pfn> = Vec::with_capacity(total);
        for z in zones.iter().rev() {
            for i in (0..z.nr_pages).rev() {
                free.push(Pfn(z.first_pfn + i));
            }
        }
        let zero_pfn = free
            .pop()
            .ok_or(PageAllocError::NoFrames { reserved_bytes })?;
        ram.fill(zero_pfn.pa(), PAGE_SIZE, 0)
            .map_err(|_| PageAllocError::ZeroPage)?;
        let this = Self {
            zones,
            pages,
            free: Mutex::new(free),
            zero_pfn,
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            bad_puts: AtomicU64::new(0),
            peak_used: AtomicU64::new(1),
            events: super::events::KernelEvents::default(),
        };
        if let Some(zp) = this.page(zero_pfn) {
            zp.refcount.store(1, Ordering::Release);
            zp.set(PageFlags::ZERO | PageFlags::RESERVED);
        }
        Ok(this)
    }

    /// `pfn_to_page()`: the metadata of a managed frame, `None` for frames outside the
    /// allocator (reserved prefix, MMIO, garbage PPNs).
    #[inline]
    pub fn page(&self, pfn: Pfn) -> Option<&Page> {
        self.zones.iter().find_map(|z| {
            let off = pfn.0.checked_sub(z.first_pfn)?;
            if off < z.nr_pages {
                self.pages.get(z.meta_base + off as usize)
            } else {
                None
            }
        })
    }

    /// `my_zero_pfn()`: the shared zero page.
    #[inline]
    pub fn zero_pfn(&self) -> Pfn {
        self.zero_pfn
    }

    /// `is_zero_pfn()`.
    #[inline]
    pub fn is_zero_pfn(&self, pfn: Pfn) -> bool {
        pfn == self.zero_pfn
    }

    /// `alloc_page(GFP_KERNEL | (zeroed ? __GFP_ZERO : 0))`: takes a frame off the free list
    /// with refcount 1, mapcount 0 and no flags. With `zeroed` the frame is cleared even
    /// though free frames normally read as zero already (they were discarded when freed):
    /// a stale-TLB experiment may have written a free frame, and a zeroed allocation must
    /// not leak that.
    ///
    /// Returns `None` when memory is exhausted (the caller turns that into `ENOMEM` or
    /// `VM_FAULT_OOM`).
    pub fn alloc_page(&self, ram: &GuestMemory, zeroed: bool) -> Option<Pfn> {
        let (pfn, nr_free) = {
            let mut free = self.free.lock().ok()?;
            let pfn = free.pop()?;
            (pfn, free.len() as u64)
        };
        self.peak_used
            .fetch_max(self.nr_total() - nr_free, Ordering::Relaxed);
        self.events.page_allocs.inc();
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
        self.events.page_zeroes.add(u64::from(zeroed));
        self.allocs.fetch_add(1, Ordering::Relaxed);
        Some(pfn)
    }

    /// `get_page()`: takes a reference. No-op for frames without metadata and the zero page.
    pub fn get_page(&self, pfn: Pfn) {
        if self.is_zero_pfn(pfn) {
            return;
        }
        if let Some(p) = self.page(pfn) {
            self.events.refcount_ops.inc();
            p.refcount.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `put_page()`: drops a reference and frees the frame (`free_page`) when it was the
    /// last. No-op for the zero page and for frames without metadata. A put on a zero
    /// refcount is counted as a bad put (see [`PageAllocAudit::bad_puts`]), never a panic.
    pub fn put_page(&self, ram: &GuestMemory, pfn: Pfn) {
        if self.is_zero_pfn(pfn) {
            return;
        }
        let Some(p) = self.page(pfn) else { return };
        self.events.refcount_ops.inc();
        match p
            .refcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1))
        {
            Ok(1) => self.free_page(ram, pfn),
            Ok(_) => {}
            Err(_) => {
                self.bad_puts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// `folio_put_refs()`: drops `nr` references at once (`unpin_user_page()` drops
    /// [`GUP_PIN_COUNTING_BIAS`]) and frees the frame if they were the last. Dropping more
    /// references than the page holds is counted as a bad put and leaves it untouched.
    pub fn folio_put_refs(&self, ram: &GuestMemory, pfn: Pfn, nr: u32) {
        if self.is_zero_pfn(pfn) || nr == 0 {
            return;
        }
        let Some(p) = self.page(pfn) else { return };
        self.events.refcount_ops.inc();
        match p
            .refcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(nr))
        {
            Ok(r) if r == nr => self.free_page(ram, pfn),
            Ok(_) => {}
            Err(_) => {
                self.bad_puts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// `free_unref_page()`: returns a frame whose refcount reached zero to the free list,
    /// discarding its host memory (it reads back as zeros). Callers other than `put_page`
    /// must own the last reference.
    pub fn free_page(&self, ram: &GuestMemory, pfn: Pfn) {
        if self.is_zero_pfn(pfn) {
            return;
        }
        let Some(p) = self.page(pfn) else { return };
        self.events.page_frees.inc();
        p.refcount.store(0, Ordering::Release);
        if p.mapcount.swap(0, Ordering::AcqRel) != 0 {
            self.bad_puts.fetch_add(1, Ordering::Relaxed);
        }
        p.flags.store(0, Ordering::Release);
        p.mapping.store(0, Ordering::Release);
        // The frame is managed, so it is inside guest RAM; an error would only mean the
        // host refused MADV_DONTNEED, and discard_page already falls back to zeroing.
        let _ = ram.discard_page(pfn.pa());
        if let Ok(mut free) = self.free.lock() {
            free.push(pfn);
            self.frees.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a mapcount underflow found by a caller.
    pub(crate) fn note_bad_put(&self) {
        self.bad_puts.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames currently on the free list.
    pub fn nr_free(&self) -> u64 {
        self.free.lock().map_or(0, |f| f.len() as u64)
    }

    /// The most frames ever in use at once (the zero page and page tables included): the
    /// guest's peak physical memory footprint in pages.
    pub fn peak_used(&self) -> u64 {
        self.peak_used.load(Ordering::Relaxed)
    }

    /// Frames managed by the allocator.
    pub fn nr_total(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Walks the whole metadata table and the free list and returns the books. A leak
    /// check compares two audits (e.g. before a process starts and after it exits): `used`,
    /// `anon`, `pgtable` and `total_mapcount` must return to their earlier values, and
    /// `inconsistent_frames` and `bad_puts` must stay zero.
    pub fn audit(&self) -> PageAllocAudit {
        let free: Vec<Pfn> = self.free.lock().map(|f| f.clone()).unwrap_or_default();
        let mut on_free = vec![false; self.pages.len()];
        let mut a = PageAllocAudit {
            total_frames: self.pages.len() as u64,
            free_frames: free.len() as u64,
            allocs: self.allocs.load(Ordering::Relaxed),
            frees: self.frees.load(Ordering::Relaxed),
            bad_puts: self.bad_puts.load(Ordering::Relaxed),
            ..Default::default()
        };
        for pfn in &free {
            if let Some(i) = self.meta_index(*pfn) {
                if let Some(slot) = on_free.get_mut(i) {
                    *slot = true;
                }
            }
        }
        for (i, p) in self.pages.iter().enumerate() {
            let rc = p.refcount();
            let mc = p.mapcount();
            let free_here = on_free.get(i).copied().unwrap_or(false);
            if free_here {
                if rc != 0 || mc != 0 {
                    a.inconsistent_frames += 1;
                }
                continue;
            }
            if rc == 0 {
                a.inconsistent_frames += 1;
                continue;
            }
            a.used_frames += 1;
            a.total_mapcount += u64::from(mc);
            let f = p.flags();
            if f.contains(PageFlags::PGTABLE) {
                a.pgtable_frames += 1;
            }
            if f.contains(PageFlags::ANON) {
                a.anon_frames += 1;
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
        // LIFO: the same frame comes back, zeroed by the discard.
        let q = pa.alloc_page(&ram, false).unwrap();
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
}
