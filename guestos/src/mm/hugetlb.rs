//! hugetlb: the huge page pools and hugetlb mappings (Linux `mm/hugetlb.c`,
//! `fs/hugetlbfs/inode.c`), in two sizes as Linux's `hstates[]` on riscv: 2 MiB
//! (`hugepages-2048kB`, the default `hstate`), mapped by Sv39/Sv48 level-1 leaves, the
//! same megapage PTEs a transparent huge page uses (see [`super::pgtable`]'s "Huge
//! PMDs"), and 1 GiB (`hugepages-1048576kB`, a *gigantic* size), mapped by level-2 leaves
//! (PUDs: Sv39's root entries, Sv48's third level).
//!
//! # The pools (`struct hstate`)
//! Each [`Hstate`] knows its page size ([`Hstate::huge_page_order`], 9 or 18) and keeps
//! Linux's counters — `nr_huge_pages`, `free_huge_pages`, `resv_huge_pages`,
//! `surplus_huge_pages`, `nr_overcommit_huge_pages` — and the free list; the
//! [`PageAlloc`] holds both ([`PageAlloc::hstates`], [`PageAlloc::default_hstate`],
//! [`PageAlloc::size_to_hstate`]). A 2 MiB pool's folios are naturally aligned 2 MiB
//! blocks taken from the buddy allocator; a 1 GiB pool's are naturally aligned
//! gigabytes, larger than the buddy allocator's largest block
//! ([`super::page_alloc::MAX_PAGE_ORDER`]), found by
//! [`PageAlloc::alloc_contig_pages`] (`alloc_gigantic_folio()`): a gigabyte whose 512
//! blocks are all free, or none (fragmented RAM; the lowest gigabyte, which holds the
//! kernel's first frames, never); a gigantic page is zeroed for a fault by handing its
//! host memory back ([`GuestMemory::discard_range`]) rather than by a gigabyte of
//! stores. Both are flagged [`PageFlags::HUGETLB`] (a gigantic
//! one also [`PageFlags::GIGANTIC`]); a free one has refcount 0 and stays off the free
//! lists, so `MemFree` does not count it. When the last reference to an in-use folio
//! goes, `put_page()` hands it back to its pool (`free_huge_folio()`), or to the buddy
//! allocator if the pool has surplus pages (a gigabyte as 512 whole 2 MiB blocks).
//! [`PageAlloc::set_max_huge_pages`] is what a write to `nr_hugepages` (and the
//! `hugepagesz=`/`hugepages=` boot parameters, `--hugepages [SIZE:]N`, see
//! [`hugetlb_init`]) does: growing allocates what it can (fewer when no whole 2 MiB block
//! or aligned free gigabyte is left, as Linux under fragmentation), shrinking frees free
//! pages only and turns the in-use excess into surplus pages. With
//! `nr_overcommit_hugepages` > 0, an allocation the 2 MiB pool cannot serve takes a
//! surplus page from the buddy allocator (`alloc_surplus_hugetlb_folio()`); the gigantic
//! pool takes none (`hstate_is_gigantic()`): its `nr_overcommit_hugepages` is `EINVAL`.
//! `/proc/meminfo`'s `HugePages_*` and `Hugepagesize` are the default pool's, `Hugetlb`
//! sums both (`hugetlb_report_meminfo()`).
//!
//! # Reservations
//! `mmap()` reserves what the mapping may fault in (`hugetlb_reserve_pages()`):
//! `resv_huge_pages` of the mapping's pool grows by the pages not yet reserved, taking
//! surplus pages if overcommit allows (`gather_surplus_pages()`), and the mapping fails
//! with `ENOMEM` when the pool cannot cover it; `MAP_NORESERVE` (`VM_NORESERVE`) skips
//! it, and its faults get `SIGBUS` once the pool is empty. A fault that allocates for a
//! reserved index consumes the reservation. The reservation map is per object
//! ([`HugetlbFile`]): the indices of a shared mapping reserved for the file (the inode's
//! `resv_map`), and of a private mapping those of the address space that made it, the
//! reservation's owner (`HPAGE_RESV_OWNER`): a child after fork has none
//! (`reset_vma_resv_huge_pages()`), so its faults and COW copies take unreserved pages.
//! Unused private reservations go back when the owner unmaps the range
//! (`hugetlb_vm_op_close()`), shared ones when the object goes
//! (`hugetlbfs_evict_inode()`).
//!
//! # Mappings
//! A hugetlb VMA (`VM_HUGETLB`) is a file VMA of a [`HugetlbFile`]: the object behind
//! `MAP_HUGETLB` (`hugetlb_file_setup()`, shown as `/anon_hugepage (deleted)`) or a
//! `memfd_create(MFD_HUGETLB)` file. The object knows its pool (`hstate_file()`,
//! [`HugetlbFile::hstate`]): the one `MAP_HUGE_2MB`/`MAP_HUGE_1GB` (`MFD_HUGE_*`: log2
//! of the size << [`MAP_HUGE_SHIFT`]) asked for, or the default; another size is
//! `EINVAL` for `mmap` and `ENODEV` for `memfd_create` (`hstate_sizelog()`). Every path
//! takes the page size from the VMA ([`Vma::kernel_pagesize`], `vma_kernel_pagesize()`):
//! the VMA's bounds are aligned to it — `mmap` rounds the length up and aligns the
//! address, and a `munmap`, `mprotect` or `madvise` that would split it inside a huge
//! page fails with `EINVAL` (`hugetlb_vm_op_split()`) — and each huge page is one leaf
//! of its level, never split: the THP paths that would split a huge PMD refuse a hugetlb
//! folio, and no path splits a 1 GiB leaf. Zap, `mprotect`, fork's copy, smaps
//! (`KernelPageSize`), pagemap, mincore, GUP (`follow_page_mask()`'s `page_mask`) and
//! GUP-fast (`gup_fast_pud_leaf()`) handle the level-2 leaf as the level-1 one.
//!
//! # Faults (`hugetlb_fault()`)
//! The entry is the PMD (2 MiB) or PUD (1 GiB) one, allocated with the tables above it
//! (`huge_pte_alloc()`).
//! - First touch (`hugetlb_no_page()`): a shared mapping finds the page in the object's
//!   cache or allocates a zeroed one there (the cache holds a reference); a private one
//!   maps the object's cached page read-only if there is one (a memfd's), else allocates
//!   a zeroed anonymous page (`PageAnon`, `PageAnonExclusive` on the head, as
//!   `hugetlb_add_new_anon_rmap()`), writable at once for a write fault.
//! - Write or unshare fault on a read-only leaf (`hugetlb_wp()`): a shared mapping is
//!   made writable; a private anonymous page mapped once (`folio_mapcount() == 1`,
//!   Linux's rule for hugetlb, not the refcount) is reused and marked exclusive;
//!   anything else is copied into a new page of the pool (`SIGBUS` if it has none left).
//! - Otherwise the access bits, as for a THP (`huge_pmd_set_accessed()`).
//!
//! # Deliberate limits
//! Two sizes, 2 MiB and 1 GiB (no 512 GiB Sv48 leaf, which Linux does not offer either).
//! Gigantic pages are not migrated out of the way (`alloc_contig_pages()` here takes
//! only gigabytes already wholly free) and there is no CMA area (`hugetlb_cma=`).
//! `mremap` of a hugetlb VMA fails with `EINVAL`. Shrinking a hugetlb memfd drops the
//! cached pages beyond the new size but does not unmap them from existing mappings
//! (Linux's `hugetlb_vmtruncate()` does). A parent that runs out of pool pages while
//! copying on write does not steal the page back from its children
//! (`unmap_ref_private()`): it gets `SIGBUS`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use devices::{GuestMemory, PAGE_SIZE};
use mmu::PteFlags;

use super::fault::{FaultFlags, VmFault};
use super::page_alloc::{
    PageAlloc, PageFlags, Pfn, HPAGE_PMD_ORDER, HPAGE_PUD_ORDER, MAX_PAGE_ORDER,
};
use super::pgtable::{mk_pte, pmd_trans_huge, pte_exec, pte_none, pte_pfn, pte_write};
use super::vma::{MappedFile, MmapOp, VmFlags, Vma};
use super::{Mm, PhysMem};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

/// `HUGETLBFS_MAGIC` (`include/uapi/linux/magic.h`): `statfs()`'s `f_type` of a hugetlbfs
/// file (a `MFD_HUGETLB` memfd).
pub const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
/// `MAP_HUGE_SHIFT` (`include/uapi/asm-generic/hugetlb_encode.h`): where `mmap` and
/// `memfd_create` flags carry log2 of the wanted huge page size.
pub const MAP_HUGE_SHIFT: u32 = 26;
/// `MAP_HUGE_MASK`: the six bits of that size.
pub const MAP_HUGE_MASK: u64 = 0x3f;
/// `HUGE_MAX_HSTATE`: how many huge page sizes there are.
pub const HUGE_MAX_HSTATE: usize = 2;
/// The order of each hstate in `hstates[]`: 2 MiB (a level-1 leaf, the default size,
/// `default_hstate`) then 1 GiB (a level-2 leaf, gigantic).
pub const HSTATE_ORDERS: [u32; HUGE_MAX_HSTATE] = [HPAGE_PMD_ORDER, HPAGE_PUD_ORDER];

/// `(flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK`: the log2 huge page size `mmap` or
/// `memfd_create` `flags` ask for (`hugetlb_encode`'s field; 0 for the default size).
pub fn huge_size_log(flags: u64) -> u64 {
    (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK
}

/// The counters of a pool (`struct hstate`'s), as `/sys/kernel/mm/hugepages/` and
/// `/proc/meminfo` show them. Units: huge pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HstateCounts {
    /// `nr_huge_pages`: every page of the pool, surplus ones included.
    pub nr_huge_pages: u64,
    /// `free_huge_pages`: pages on the free list (reserved ones included).
    pub free_huge_pages: u64,
    /// `resv_huge_pages`: free pages promised to mappings (`HugePages_Rsvd`).
    pub resv_huge_pages: u64,
    /// `surplus_huge_pages`: pages beyond the persistent pool, from overcommit.
    pub surplus_huge_pages: u64,
    /// `nr_overcommit_huge_pages`: how many surplus pages may exist.
    pub nr_overcommit_huge_pages: u64,
}

impl HstateCounts {
    /// `persistent_huge_pages()`: `nr_huge_pages - surplus_huge_pages`, what
    /// `nr_hugepages` shows (`HugePages_Total`).
    pub fn persistent(&self) -> u64 {
        self.nr_huge_pages.saturating_sub(self.surplus_huge_pages)
    }
}

/// One pool (`struct hstate`): its page size, and counters and free list under
/// `hugetlb_lock`. The [`PageAlloc`] holds one per size (`hstates[]`); see the module
/// docs.
#[derive(Debug)]
pub struct Hstate {
    /// `h->order`: log2 of the pages per huge page.
    order: u32,
    inner: Mutex<HstateInner>,
}

#[derive(Debug, Default)]
struct HstateInner {
    c: HstateCounts,
    /// `hugepage_freelists`: the heads of the free folios.
    free: Vec<Pfn>,
}

impl HstateInner {
    /// `dequeue_hugetlb_folio_nodemask()`.
    fn dequeue(&mut self) -> Option<Pfn> {
        let head = self.free.pop()?;
        self.c.free_huge_pages -= 1;
        Some(head)
    }

    /// `enqueue_hugetlb_folio()`.
    fn enqueue(&mut self, head: Pfn) {
        self.free.push(head);
        self.c.free_huge_pages += 1;
    }
}

impl Hstate {
    /// An empty pool of pages of `order` (`hugetlb_add_hstate()`).
    pub(super) fn new(order: u32) -> Self {
        Hstate {
            order,
            inner: Mutex::new(HstateInner::default()),
        }
    }

    /// `huge_page_order(h)`: 9 for 2 MiB, 18 for 1 GiB.
    #[inline]
    pub fn huge_page_order(&self) -> u32 {
        self.order
    }

    /// `huge_page_size(h)`, in bytes.
    #[inline]
    pub fn huge_page_size(&self) -> u64 {
        PAGE_SIZE << self.order
    }

    /// `pages_per_huge_page(h)`: 4 KiB pages per huge page.
    #[inline]
    pub fn pages_per_huge_page(&self) -> u64 {
        1 << self.order
    }

    /// `hstate_is_gigantic(h)`: pages larger than the free lists' largest block
    /// ([`MAX_PAGE_ORDER`]): they come from `alloc_contig_pages()`, and the pool takes no
    /// surplus pages of this size (see [`PageAlloc::set_nr_overcommit_huge_pages`]).
    #[inline]
    pub fn hstate_is_gigantic(&self) -> bool {
        self.order > MAX_PAGE_ORDER
    }

    /// The page-table level of the leaves that map these pages (1 for 2 MiB, a PMD; 2
    /// for 1 GiB, a PUD: both Sv39 and Sv48).
    #[inline]
    pub fn leaf_level(&self) -> usize {
        (self.order / 9) as usize
    }

    /// The name of the pool's sysfs directory (`hugetlb_sysfs_add_hstate()`'s `h->name`):
    /// `hugepages-2048kB`, `hugepages-1048576kB`.
    pub fn name(&self) -> String {
        format!("hugepages-{}kB", self.huge_page_size() >> 10)
    }

    /// The pool's counters.
    pub fn counts(&self) -> HstateCounts {
        self.inner.lock().c
    }
}

impl PageAlloc {
    /// `for_each_hstate()`: every pool, the default one first.
    pub fn hstates(&self) -> &[Hstate] {
        &self.hstates
    }

    /// `default_hstate`: the 2 MiB pool (what `/proc/meminfo`'s `HugePages_*` show, what
    /// `MAP_HUGETLB` without a size gets).
    pub fn default_hstate(&self) -> &Hstate {
        &self.hstates[0]
    }

    /// `size_to_hstate()`: the pool of pages of `size_bytes`, if there is one.
    pub fn size_to_hstate(&self, size_bytes: u64) -> Option<&Hstate> {
        self.hstates
            .iter()
            .find(|h| h.huge_page_size() == size_bytes)
    }

    /// `hstate_sizelog()`: the pool for a log2 size from `mmap`/`memfd_create` flags
    /// ([`huge_size_log`]); 0 is the default pool. `None` for a size without one
    /// (`MAP_HUGE_16MB`, …): the caller's `EINVAL` (`ENODEV` for `memfd_create()`).
    pub fn hstate_sizelog(&self, page_size_log: u64) -> Option<&Hstate> {
        if page_size_log == 0 {
            return Some(self.default_hstate());
        }
        let size = 1u64.checked_shl(u32::try_from(page_size_log).ok()?)?;
        self.size_to_hstate(size)
    }

    /// `folio_hstate()`: the pool of a hugetlb folio of `nr_pages` pages (the default
    /// one if no pool has that size, which no hugetlb folio has).
    pub fn folio_hstate(&self, nr_pages: u64) -> &Hstate {
        self.hstates
            .iter()
            .find(|h| h.pages_per_huge_page() == nr_pages)
            .unwrap_or(self.default_hstate())
    }

    /// The heads of every pool's free folios with their sizes in pages (for
    /// [`PageAlloc::audit`]).
    pub(super) fn hugetlb_free_heads(&self) -> Vec<(Pfn, u64)> {
        self.hstates
            .iter()
            .flat_map(|h| {
                let nr = h.pages_per_huge_page();
                let free = h.inner.lock().free.clone();
                free.into_iter().map(move |head| (head, nr))
            })
            .collect()
    }

    /// `set_max_huge_pages(h, count)`: makes `h`'s persistent pool `count` pages if it
    /// can. Growing first turns surplus pages into persistent ones
    /// (`adjust_pool_surplus(-1)`), then allocates fresh folios until `count` or until no
    /// run of free frames is left (no whole 2 MiB block; for a gigantic pool no whole,
    /// aligned 1 GiB: `alloc_contig_pages()` fails under fragmentation). Shrinking frees
    /// free pages not needed for reservations (`try_to_free_low()`,
    /// `remove_pool_hugetlb_folio()`) and counts the in-use excess as surplus pages,
    /// which go back to the buddy allocator when they are freed (a gigantic one as 512
    /// whole 2 MiB blocks). Returns the persistent pool size it reached.
    pub fn set_max_huge_pages(&self, h: &Hstate, ram: &GuestMemory, count: u64) -> u64 {
        {
            let mut i = h.inner.lock();
            while i.c.surplus_huge_pages > 0 && count > i.c.persistent() {
                i.c.surplus_huge_pages -= 1;
            }
        }
        while h.counts().persistent() < count {
            let Some(head) = self.alloc_fresh_hugetlb_folio(ram, h.order) else {
                break;
            };
            let mut i = h.inner.lock();
            i.c.nr_huge_pages += 1;
            i.enqueue(head);
        }
        let mut gone = Vec::new();
        let reached = {
            let mut i = h.inner.lock();
            let in_use = i.c.nr_huge_pages - i.c.free_huge_pages;
            let min_count = count.max(i.c.resv_huge_pages + in_use);
            while min_count < i.c.persistent() {
                let Some(head) = i.dequeue() else {
                    break;
                };
                i.c.nr_huge_pages -= 1;
                gone.push(head);
            }
            while count < i.c.persistent() && i.c.surplus_huge_pages < i.c.nr_huge_pages {
                i.c.surplus_huge_pages += 1;
            }
            i.c.persistent()
        };
        for head in gone {
            self.update_and_free_hugetlb_folio(head);
        }
        reached
    }

    /// A write to `nr_overcommit_hugepages` (`nr_overcommit_hugepages_store()`,
    /// `hugetlb_overcommit_handler()`).
    ///
    /// # Errors
    /// `EINVAL` for a gigantic pool: Linux allocates no surplus gigantic pages.
    pub fn set_nr_overcommit_huge_pages(&self, h: &Hstate, count: u64) -> KResult<()> {
        if h.hstate_is_gigantic() {
            return Err(Errno::EINVAL);
        }
        h.inner.lock().c.nr_overcommit_huge_pages = count;
        Ok(())
    }

    /// The most reservations [`PageAlloc::hugetlb_acct_memory`] could add to `h` now:
    /// the free pages nobody reserved, and the surplus pages overcommit allows, at most
    /// as many as this RAM could hold.
    pub fn hugetlb_max_new_reservations(&self, h: &Hstate) -> u64 {
        let c = h.counts();
        let surplus = c
            .nr_overcommit_huge_pages
            .saturating_sub(c.surplus_huge_pages)
            .min(self.nr_total() / h.pages_per_huge_page());
        c.free_huge_pages.saturating_sub(c.resv_huge_pages) + surplus
    }

    /// `free_huge_folio()` of a folio of `nr_pages` pages after its metadata was reset:
    /// a surplus page goes back to the buddy allocator, any other to its pool's free
    /// list.
    pub(super) fn free_huge_folio(&self, head: Pfn, nr_pages: u64) {
        let h = self.folio_hstate(nr_pages);
        let mut i = h.inner.lock();
        if i.c.surplus_huge_pages > 0 {
            i.c.surplus_huge_pages -= 1;
            i.c.nr_huge_pages -= 1;
            drop(i);
            self.update_and_free_hugetlb_folio(head);
            return;
        }
        i.enqueue(head);
    }

    /// `alloc_hugetlb_folio()`: a page of `h`'s pool with one reference, zero-filled if
    /// `zeroed`. With `use_reserve` it consumes one reservation (`resv_huge_pages`);
    /// without, it may take only a free page nobody reserved, or a new surplus page
    /// within `nr_overcommit_hugepages` (`alloc_surplus_hugetlb_folio()`). `None` if
    /// there is neither (the caller's `-ENOSPC`: `VM_FAULT_SIGBUS`).
    pub fn alloc_hugetlb_folio(
        &self,
        h: &Hstate,
        ram: &GuestMemory,
        use_reserve: bool,
        zeroed: bool,
    ) -> Option<Pfn> {
        let dequeued = {
            let mut i = h.inner.lock();
            if use_reserve || i.c.free_huge_pages > i.c.resv_huge_pages {
                let head = i.dequeue();
                if head.is_some() && use_reserve {
                    i.c.resv_huge_pages = i.c.resv_huge_pages.saturating_sub(1);
                }
                head
            } else {
                None
            }
        };
        let head = match dequeued {
            Some(head) => head,
            None => self.alloc_surplus_hugetlb_folio(h, ram)?,
        };
        if zeroed {
            self.events.page_zeroes.add(h.pages_per_huge_page());
            // A gigabyte is zeroed by handing its host memory back (one MADV_DONTNEED):
            // it reads zeros at once, and costs the host only what the guest then
            // touches, not a gigabyte of stores; a 2 MiB page is cleared as any frame.
            let cleared = if h.hstate_is_gigantic() {
                ram.discard_range(head.pa(), h.huge_page_size())
            } else {
                ram.fill(head.pa(), h.huge_page_size(), 0)
            };
            if cleared.is_err() {
                // Cannot happen for pool frames; give the folio back rather than hand out
                // garbage.
                self.free_huge_folio(head, h.pages_per_huge_page());
                return None;
            }
        }
        if let Some(p) = self.page(head) {
            p.page_ref_add(1);
        }
        Some(head)
    }

    /// `alloc_surplus_hugetlb_folio()`: a new page beyond `h`'s persistent pool, if
    /// `nr_overcommit_hugepages` allows one more; never a gigantic one ("if
    /// (hstate_is_gigantic(h)) return NULL").
    fn alloc_surplus_hugetlb_folio(&self, h: &Hstate, ram: &GuestMemory) -> Option<Pfn> {
        if h.hstate_is_gigantic() {
            return None;
        }
        {
            let mut i = h.inner.lock();
            if i.c.surplus_huge_pages >= i.c.nr_overcommit_huge_pages {
                return None;
            }
            i.c.nr_huge_pages += 1;
            i.c.surplus_huge_pages += 1;
        }
        let head = self.alloc_fresh_hugetlb_folio(ram, h.order);
        if head.is_none() {
            let mut i = h.inner.lock();
            i.c.nr_huge_pages -= 1;
            i.c.surplus_huge_pages -= 1;
        }
        head
    }

    /// `hugetlb_acct_memory(h, delta)`: reserves `delta` more pages of `h`, or gives
    /// back `-delta` unused reservations.
    ///
    /// # Errors
    /// `ENOMEM` if the free pages, with the surplus pages overcommit allows, cannot cover
    /// the new reservations (`gather_surplus_pages()`, which gets no gigantic surplus
    /// page); nothing is reserved then.
    pub fn hugetlb_acct_memory(&self, h: &Hstate, ram: &GuestMemory, delta: i64) -> KResult<()> {
        let n = delta.unsigned_abs();
        if delta < 0 {
            self.return_unused_surplus_pages(h, n);
            return Ok(());
        }
        loop {
            let needed = {
                let mut i = h.inner.lock();
                let needed = (i.c.resv_huge_pages + n).saturating_sub(i.c.free_huge_pages);
                if needed == 0 {
                    i.c.resv_huge_pages += n;
                    return Ok(());
                }
                if h.hstate_is_gigantic()
                    || i.c.surplus_huge_pages + needed > i.c.nr_overcommit_huge_pages
                {
                    return Err(Errno::ENOMEM);
                }
                needed
            };
            // gather_surplus_pages(): allocate without hugetlb_lock, then retry.
            let mut got = Vec::new();
            while (got.len() as u64) < needed {
                match self.alloc_fresh_hugetlb_folio(ram, h.order) {
                    Some(head) => got.push(head),
                    None => break,
                }
            }
            if (got.len() as u64) < needed {
                for head in got {
                    self.update_and_free_hugetlb_folio(head);
                }
                return Err(Errno::ENOMEM);
            }
            let mut i = h.inner.lock();
            for head in got {
                i.c.nr_huge_pages += 1;
                i.c.surplus_huge_pages += 1;
                i.enqueue(head);
            }
        }
    }

    /// `return_unused_surplus_pages()`: drops `unused` reservations and frees as many
    /// free surplus pages.
    fn return_unused_surplus_pages(&self, h: &Hstate, unused: u64) {
        let mut gone = Vec::new();
        {
            let mut i = h.inner.lock();
            i.c.resv_huge_pages = i.c.resv_huge_pages.saturating_sub(unused);
            let mut nr = unused.min(i.c.surplus_huge_pages);
            while nr > 0 && i.c.free_huge_pages > i.c.resv_huge_pages {
                let Some(head) = i.dequeue() else {
                    break;
                };
                i.c.nr_huge_pages -= 1;
                i.c.surplus_huge_pages -= 1;
                gone.push(head);
                nr -= 1;
            }
        }
        for head in gone {
            self.update_and_free_hugetlb_folio(head);
        }
    }
}

/// Source of the inode numbers of [`HugetlbFile`]s (hugetlbfs's own `get_next_ino()`),
/// far above the VFS's.
static NEXT_HUGETLB_INO: AtomicU64 = AtomicU64::new(1 << 40);

/// A hugetlbfs inode: the object behind hugetlb mappings (see the module docs). Its page
/// cache maps huge-page indices to folios, each holding one reference; it implements
/// [`MappedFile`] so that a VMA can map it.
#[derive(Debug)]
pub struct HugetlbFile {
    phys: Arc<PhysMem>,
    ino: u64,
    /// What `/proc/<pid>/maps` shows.
    path: Vec<u8>,
    /// The order of its pool's pages (`hstate_inode()`: the mount's `hstate`).
    order: u32,
    /// `i_size`, in bytes (a multiple of the huge page size).
    size: AtomicU64,
    inner: Mutex<HugetlbInode>,
}

#[derive(Debug, Default)]
struct HugetlbInode {
    /// The page cache: huge-page index → folio head.
    cache: BTreeMap<u64, Pfn>,
    /// Reserved and not yet consumed indices of shared mappings (the inode's
    /// `resv_map`).
    shared_resv: BTreeSet<u64>,
    /// Reserved and not yet consumed indices of private mappings, with the
    /// [`Mm::id`] of the address space owning the reservation.
    private_resv: BTreeSet<(u64, u64)>,
}

impl HugetlbFile {
    /// `hugetlb_file_setup()` for `MAP_HUGETLB` (shown as `/anon_hugepage (deleted)`), or
    /// a `MFD_HUGETLB` memfd with `path` as its maps name: an empty object of
    /// `size_bytes` bytes (rounded up to the huge page size) in `phys`'s pool of pages
    /// of `order` (the hstate's [`Hstate::huge_page_order`]; an order without a pool
    /// means the default one).
    pub fn new(phys: Arc<PhysMem>, size_bytes: u64, path: Option<Vec<u8>>, order: u32) -> Self {
        let order = phys.pages.folio_hstate(1 << order).huge_page_order();
        let size = PAGE_SIZE << order;
        HugetlbFile {
            phys,
            ino: NEXT_HUGETLB_INO.fetch_add(1, Ordering::Relaxed),
            path: path.unwrap_or_else(|| b"/anon_hugepage (deleted)".to_vec()),
            order,
            size: AtomicU64::new(size_bytes.div_ceil(size).saturating_mul(size)),
            inner: Mutex::new(HugetlbInode::default()),
        }
    }

    /// `hstate_file()`: the pool this object's pages come from.
    pub fn hstate(&self) -> &Hstate {
        self.phys.pages.folio_hstate(1 << self.order)
    }

    /// `huge_page_size(hstate_file())`, in bytes.
    pub fn huge_page_size(&self) -> u64 {
        PAGE_SIZE << self.order
    }

    /// `hugetlbfs_setattr()`'s size change (`ftruncate`): pages at and beyond the new
    /// end leave the cache and their unused shared reservations are given back
    /// (`hugetlb_vmtruncate()` without the unmapping, see the module docs).
    ///
    /// # Errors
    /// `EINVAL` for a size that is not a multiple of the huge page size.
    pub fn truncate(&self, size_bytes: u64) -> KResult<()> {
        if !size_bytes.is_multiple_of(self.huge_page_size()) {
            return Err(Errno::EINVAL);
        }
        let first = size_bytes / self.huge_page_size();
        let (pages, resv) = {
            let mut i = self.inner.lock();
            let pages = i.cache.split_off(&first);
            let resv = i.shared_resv.split_off(&first);
            self.size.store(size_bytes, Ordering::Release);
            (pages, resv)
        };
        self.release(pages.into_values(), resv.len() as u64);
        Ok(())
    }

    /// Drops the cache's references on `pages` and gives back `unused` reservations.
    fn release(&self, pages: impl Iterator<Item = Pfn>, unused: u64) {
        for head in pages {
            self.phys.put_page(head);
        }
        if unused > 0 {
            let _ = self.phys.pages.hugetlb_acct_memory(
                self.hstate(),
                &self.phys.ram,
                -(unused as i64),
            );
        }
    }

    /// `hugetlb_reserve_pages()` for a mapping of huge-page indices `[from, to)`: a shared
    /// one (`owner` `None`) reserves the indices neither cached nor reserved yet; a
    /// private one reserves every index for its owner address space.
    ///
    /// # Errors
    /// `ENOMEM` if the pool cannot cover them ([`PageAlloc::hugetlb_acct_memory`]).
    pub fn reserve_pages(&self, from: u64, to: u64, owner: Option<u64>) -> KResult<()> {
        let mut i = self.inner.lock();
        // A mapping larger than any pool this RAM could hold fails before its indices
        // are looked at one by one (a guest may ask for terabytes).
        let known = match owner {
            None => i.cache.len() + i.shared_resv.len(),
            Some(_) => i.private_resv.len(),
        } as u64;
        if (to - from).saturating_sub(known)
            > self.phys.pages.hugetlb_max_new_reservations(self.hstate())
        {
            return Err(Errno::ENOMEM);
        }
        let new: Vec<u64> = (from..to)
            .filter(|idx| match owner {
                None => !i.cache.contains_key(idx) && !i.shared_resv.contains(idx),
                Some(mm) => !i.private_resv.contains(&(mm, *idx)),
            })
            .collect();
        self.phys
            .pages
            .hugetlb_acct_memory(self.hstate(), &self.phys.ram, new.len() as i64)?;
        for idx in new {
            match owner {
                None => i.shared_resv.insert(idx),
                Some(mm) => i.private_resv.insert((mm, idx)),
            };
        }
        Ok(())
    }

    /// `hugetlb_vm_op_close()` of a private mapping's indices `[from, to)` by its owner
    /// `mm`: the reservations it did not use go back.
    pub fn unreserve_private(&self, mm: u64, from: u64, to: u64) {
        let n = {
            let mut i = self.inner.lock();
            let mine: Vec<(u64, u64)> = i
                .private_resv
                .range((mm, from)..(mm, to))
                .copied()
                .collect();
            for k in &mine {
                i.private_resv.remove(k);
            }
            mine.len()
        };
        self.release(std::iter::empty(), n as u64);
    }

    /// Takes the reservation of index `idx` for `owner` (`None`: the shared one), if
    /// there is one (`vma_needs_reservation()` + `vma_commit_reservation()`).
    fn take_reservation(inner: &mut HugetlbInode, idx: u64, owner: Option<u64>) -> bool {
        match owner {
            None => inner.shared_resv.remove(&idx),
            Some(mm) => inner.private_resv.remove(&(mm, idx)),
        }
    }

    /// `filemap_lock_hugetlb_folio()`: the cached page of index `idx`, with a reference
    /// for the caller.
    fn find_get(&self, idx: u64) -> Option<Pfn> {
        let head = *self.inner.lock().cache.get(&idx)?;
        self.phys.get_page(head);
        Some(head)
    }

    /// The shared fault's page: the cached page of `idx`, or a new zeroed one added to
    /// the cache (`hugetlb_add_to_page_cache()`), with a reference for the caller.
    ///
    /// # Errors
    /// `VM_FAULT_SIGBUS` if the pool has no page for it.
    fn find_or_alloc_shared(&self, idx: u64) -> Result<Pfn, VmFault> {
        let mut i = self.inner.lock();
        if let Some(&head) = i.cache.get(&idx) {
            self.phys.get_page(head);
            return Ok(head);
        }
        let resv = Self::take_reservation(&mut i, idx, None);
        let Some(head) =
            self.phys
                .pages
                .alloc_hugetlb_folio(self.hstate(), &self.phys.ram, resv, true)
        else {
            if resv {
                i.shared_resv.insert(idx);
            }
            return Err(VmFault::SIGBUS);
        };
        i.cache.insert(idx, head);
        self.phys.get_page(head);
        Ok(head)
    }

    /// A private fault's new page for `idx` in `mm`'s mapping, consuming `mm`'s
    /// reservation of it if there is one; zeroed if `zeroed`. `None` if the pool has no
    /// page for it.
    fn alloc_private(&self, mm: u64, idx: u64, zeroed: bool) -> Option<Pfn> {
        let mut i = self.inner.lock();
        let resv = Self::take_reservation(&mut i, idx, Some(mm));
        let head = self
            .phys
            .pages
            .alloc_hugetlb_folio(self.hstate(), &self.phys.ram, resv, zeroed);
        if head.is_none() && resv {
            i.private_resv.insert((mm, idx));
        }
        head
    }

    /// `i_size`, in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Sets `i_size` (`i_size_write()`) without touching the cache: for a size that
    /// grows.
    pub fn set_size(&self, size_bytes: u64) {
        self.size.store(size_bytes, Ordering::Release);
    }

    /// `hugetlbfs_fallocate()`'s loop: puts a page in the cache for every huge-page
    /// index of `[from, to)` that has none.
    ///
    /// # Errors
    /// `ENOSPC` when the pool has no page for one (the pages added so far stay).
    pub fn allocate(&self, from: u64, to: u64) -> KResult<()> {
        for idx in from..to {
            let head = self.find_or_alloc_shared(idx).map_err(|_| Errno::ENOSPC)?;
            // The caller's reference; the cache keeps its own.
            self.phys.put_page(head);
        }
        Ok(())
    }

    /// Pages in the cache (`nrpages / pages_per_huge_page()`).
    pub fn nr_cached(&self) -> u64 {
        self.inner.lock().cache.len() as u64
    }
}

impl Drop for HugetlbFile {
    /// `hugetlbfs_evict_inode()` → `remove_inode_hugepages()` + `resv_map_release()`: the
    /// cache's pages and every reservation left go back to the pool.
    fn drop(&mut self) {
        let inner = std::mem::take(&mut *self.inner.lock());
        let unused = (inner.shared_resv.len() + inner.private_resv.len()) as u64;
        self.release(inner.cache.into_values(), unused);
    }
}

impl MappedFile for HugetlbFile {
    fn inode_id(&self) -> u64 {
        self.ino
    }

    fn path(&self) -> Vec<u8> {
        self.path.clone()
    }

    fn mmap_op(&self) -> MmapOp {
        MmapOp::PageCache
    }

    fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// A 4 KiB fault never reaches a hugetlb VMA ([`Mm::hugetlb_fault`] serves them).
    fn fault(&self, _index: u64, _may_write: bool) -> Result<Pfn, VmFault> {
        Err(VmFault::SIGBUS)
    }

    fn hugetlb(&self) -> Option<&HugetlbFile> {
        Some(self)
    }
}

impl Vma {
    /// `is_vm_hugetlb_page()`.
    #[inline]
    pub fn is_vm_hugetlb_page(&self) -> bool {
        self.flags.contains(VmFlags::HUGETLB)
    }

    /// `vma_kernel_pagesize()`: the size of the pages mapping this VMA, in bytes (its
    /// hstate's, 2 MiB or 1 GiB, for hugetlb; else 4 KiB).
    #[inline]
    pub fn kernel_pagesize(&self) -> u64 {
        self.hugetlb_file()
            .filter(|_| self.is_vm_hugetlb_page())
            .map_or(PAGE_SIZE, HugetlbFile::huge_page_size)
    }

    /// The hugetlbfs object of a hugetlb VMA.
    pub fn hugetlb_file(&self) -> Option<&HugetlbFile> {
        self.file().and_then(|f| f.hugetlb())
    }

    /// The huge-page index of `addr` in the VMA's object (`vma_hugecache_offset()`).
    fn hugecache_offset(&self, addr: u64) -> u64 {
        self.pgoff_of(addr) / (self.kernel_pagesize() / PAGE_SIZE)
    }
}

impl Mm {
    /// `hugetlb_reserve_pages()` for a new hugetlb VMA `[start, end)` of `file` at page
    /// offset `pgoff`, `vm_flags` its flags: nothing for `VM_NORESERVE`, else shared or
    /// private reservations (see the module docs).
    ///
    /// # Errors
    /// `ENOMEM` when the pool cannot cover the mapping.
    pub(super) fn hugetlb_reserve_pages(
        &self,
        file: &HugetlbFile,
        start: u64,
        end: u64,
        pgoff: u64,
        vm_flags: VmFlags,
    ) -> KResult<()> {
        if vm_flags.contains(VmFlags::NORESERVE) {
            return Ok(());
        }
        let size = file.huge_page_size();
        let from = pgoff / (size / PAGE_SIZE);
        let to = from + (end - start) / size;
        let owner = (!vm_flags.contains(VmFlags::MAYSHARE)).then_some(self.id());
        file.reserve_pages(from, to, owner)
    }

    /// `hugetlb_vm_op_close()` for the part `[start, end)` of `vma` this address space
    /// unmaps: a private mapping's unused reservations go back.
    pub(super) fn hugetlb_vm_op_close(&self, vma: &Vma, start: u64, end: u64) {
        let Some(file) = vma.hugetlb_file() else {
            return;
        };
        if vma.flags.contains(VmFlags::MAYSHARE) || start >= end {
            return;
        }
        file.unreserve_private(
            self.id(),
            vma.hugecache_offset(start),
            vma.hugecache_offset(end - 1) + 1,
        );
    }

    /// `hugetlb_fault()` at `va` in the hugetlb VMA `vma` (see the module docs).
    /// Returns `VM_FAULT_SIGBUS` beyond the end of the object or when the pool has no
    /// page, `VM_FAULT_OOM` when no page table can be allocated.
    pub(super) fn hugetlb_fault(&self, vma: &Vma, va: u64, flags: FaultFlags) -> VmFault {
        let Some(file) = vma.hugetlb_file() else {
            return VmFault::SIGBUS;
        };
        // huge_pte_alloc(mm, vma, addr, huge_page_size(h)): the PMD entry for 2 MiB,
        // the PUD entry for 1 GiB.
        let size = file.huge_page_size();
        let haddr = va & !(size - 1);
        let slot = match self.huge_pte_alloc_fault(haddr, file.hstate().leaf_level()) {
            Ok(s) => s,
            Err(fault) => return fault,
        };
        let pmd = self.pgtable.ptep_get(slot);
        if pte_none(pmd) {
            return self.hugetlb_no_page(vma, file, haddr, slot, flags);
        }
        if !pmd_trans_huge(pmd) {
            // A table where the leaf belongs: no path makes one in a hugetlb VMA.
            return VmFault::SIGBUS;
        }
        let write = flags.contains(FaultFlags::WRITE);
        if (write || flags.contains(FaultFlags::UNSHARE)) && !pte_write(pmd) {
            return self.hugetlb_wp(vma, file, haddr, slot, pmd, flags);
        }
        self.huge_pmd_set_accessed(haddr, size, slot, pmd, flags)
    }

    /// `hugetlb_no_page()`: the first fault on the huge page at `haddr`.
    fn hugetlb_no_page(
        &self,
        vma: &Vma,
        file: &HugetlbFile,
        haddr: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> VmFault {
        let idx = vma.hugecache_offset(haddr);
        let size = file.huge_page_size();
        if idx >= file.size() / size {
            return VmFault::SIGBUS;
        }
        let shared = vma.flags.contains(VmFlags::MAYSHARE);
        let write = flags.contains(FaultFlags::WRITE);
        let (head, anon) = if shared {
            match file.find_or_alloc_shared(idx) {
                Ok(head) => (head, false),
                Err(fault) => return fault,
            }
        } else if let Some(head) = file.find_get(idx) {
            (head, false)
        } else {
            match file.alloc_private(self.id(), idx, true) {
                Some(head) => (head, true),
                None => return VmFault::SIGBUS,
            }
        };
        if anon {
            // hugetlb_add_new_anon_rmap(): PageAnon, PageAnonExclusive, mapped once.
            self.folio_add_new_anon_rmap_pmd(head);
        } else if let Some(p) = self.phys.pages.page(head) {
            p.inc_entire_mapcount();
        }
        // make_huge_pte(): writable if shared (and VM_WRITE); a private anonymous page is
        // ours, so a write fault gets it writable at once (hugetlb_wp()'s reuse).
        let prot = super::pgtable::vm_get_page_prot(vma.flags);
        let writable = vma.flags.contains(VmFlags::WRITE) && (shared || (anon && write));
        let mut entry = mk_pte(head, prot.difference(PteFlags::W))
            .with(self.fault_young_dirty(flags, write && (shared || anon)));
        if writable {
            entry = entry.with(PteFlags::W);
        }
        let ptl = self.pgtable.pmd_lock();
        if !self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
            drop(ptl);
            self.discard_new_huge_folio(head);
            return VmFault::empty();
        }
        drop(ptl);
        super::count_event(&self.stats.local().hugetlb_faults);
        self.flush_tlb_range(haddr, haddr + size, pte_exec(entry));
        if !anon && !shared && (write || flags.contains(FaultFlags::UNSHARE)) {
            // A cached page mapped private: the write (or unshare) copies it.
            return self.hugetlb_wp(vma, file, haddr, slot, entry, flags);
        }
        VmFault::empty()
    }

    /// `hugetlb_wp()`: a write (or unshare) fault on the read-only huge leaf `pmd` at
    /// `haddr` (see the module docs).
    fn hugetlb_wp(
        &self,
        vma: &Vma,
        file: &HugetlbFile,
        haddr: u64,
        slot: devices::GuestPhysAddr,
        pmd: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let unshare = flags.is_unshare();
        let old = pte_pfn(pmd);
        let size = file.huge_page_size();
        let shared = vma.flags.contains(VmFlags::MAYSHARE);
        let reuse = shared
            || self.phys.pages.page(old).is_some_and(|p| {
                // "If no-one else is actually using this page, we're the exclusive owner
                // and can reuse this page" (the mapcount, not the refcount: see
                // hugetlb_wp()'s comment on fork()+exit() users).
                let mine = p.test(PageFlags::ANON) && p.entire_mapcount() == 1;
                if mine {
                    p.set(PageFlags::ANON_EXCLUSIVE);
                }
                mine
            });
        if reuse {
            if unshare {
                return VmFault::empty();
            }
            return self.huge_pmd_reuse(vma, haddr, size, slot, pmd, flags);
        }
        let Some(new) = file.alloc_private(self.id(), vma.hugecache_offset(haddr), false) else {
            return VmFault::SIGBUS;
        };
        // copy_user_large_folio().
        if !self.phys.copy_to_new_folio(old, new, size) {
            return VmFault::SIGBUS;
        }
        self.folio_add_new_anon_rmap_pmd(new);
        let prot = super::pgtable::vm_get_page_prot(vma.flags);
        let mut entry =
            mk_pte(new, prot.difference(PteFlags::W)).with(self.fault_young_dirty(flags, !unshare));
        if !unshare && vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        // huge_ptep_clear_flush() then set_huge_pte_at(): break before make.
        let Some(flushed) = self.replace_huge_leaf(slot, haddr, size, pmd, new, entry) else {
            return VmFault::empty();
        };
        if let Some(p) = self.phys.pages.page(old) {
            if !p.dec_entire_mapcount() {
                self.phys.pages.note_bad_put();
            }
        }
        super::count_event(&self.stats.local().wp_copy);
        if pte_exec(entry) {
            self.flush_tlb_range(haddr, haddr + size, true);
        }
        if flushed {
            super::free_batch(&self.phys, vec![old], Vec::new());
        } else {
            let mut tlb = super::MmuGather::default();
            tlb.pages.push(old);
            self.tlb_finish_mmu(tlb);
        }
        self.gup_gen.vm_fault_write()
    }
}

/// `hugetlb_init()` with the boot parameters' `(page size in bytes, count)` pairs
/// (`hugepagesz=`/`hugepages=`, `--hugepages`): fills each named pool
/// (`hugetlb_hstate_alloc_pages()`), as many pages as RAM holds, at most `count`; a
/// later pair for the same size wins. Gigantic pools are filled first, as Linux takes
/// them from memblock before the buddy allocator hands out 2 MiB blocks, so that whole
/// free gigabytes are not broken up first. A size without a pool is ignored ("HugeTLB:
/// unsupported hugepagesz=").
pub fn hugetlb_init(phys: &PhysMem, pools: &[(u64, u64)]) {
    let mut pools = pools.to_vec();
    // Stable: pairs of one size keep their order, so the last one is applied last.
    pools.sort_by_key(|&(size, _)| std::cmp::Reverse(size));
    for (size, count) in pools {
        if let Some(h) = phys.pages.size_to_hstate(size) {
            phys.pages.set_max_huge_pages(h, &phys.ram, count);
        }
    }
}
