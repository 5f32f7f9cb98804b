//! hugetlb: the huge page pool and hugetlb mappings (Linux `mm/hugetlb.c`,
//! `fs/hugetlbfs/inode.c`), for the 2 MiB size (`hugepages-2048kB`, the default
//! `hstate`), mapped by Sv39/Sv48 level-1 leaves, the same megapage PTEs a transparent
//! huge page uses (see [`super::pgtable`]'s "Huge PMDs").
//!
//! # The pool (`struct hstate`)
//! [`Hstate`] keeps Linux's counters — `nr_huge_pages`, `free_huge_pages`,
//! `resv_huge_pages`, `surplus_huge_pages`, `nr_overcommit_huge_pages` — and the free
//! list. Its folios are naturally aligned 2 MiB blocks taken from the buddy allocator
//! ([`PageAlloc::alloc_fresh_hugetlb_folio`]), flagged [`PageFlags::HUGETLB`]; a free one
//! has refcount 0 and stays off the free lists, so `MemFree` does not count it. When the
//! last reference to an in-use folio goes, `put_page()` hands it back to the pool
//! (`free_huge_folio()`), or to the buddy allocator if the pool has surplus pages.
//! [`PageAlloc::set_max_huge_pages`] is what a write to `nr_hugepages` (and the
//! `hugepages=` boot parameter, `--hugepages`) does: growing allocates what it can (fewer
//! when no whole 2 MiB block is left, as Linux under fragmentation), shrinking frees free
//! pages only and turns the in-use excess into surplus pages. With
//! `nr_overcommit_hugepages` > 0, an allocation the pool cannot serve takes a surplus
//! page from the buddy allocator (`alloc_surplus_hugetlb_folio()`).
//!
//! # Reservations
//! `mmap()` reserves what the mapping may fault in (`hugetlb_reserve_pages()`):
//! `resv_huge_pages` grows by the pages not yet reserved, taking surplus pages if
//! overcommit allows (`gather_surplus_pages()`), and the mapping fails with `ENOMEM`
//! when the pool cannot cover it; `MAP_NORESERVE` (`VM_NORESERVE`) skips it, and its
//! faults get `SIGBUS` once the pool is empty. A fault that allocates for a reserved index
//! consumes the reservation. The reservation map is per object ([`HugetlbFile`]): the
//! indices of a shared mapping reserved for the file (the inode's `resv_map`), and of a
//! private mapping those of the address space that made it, the reservation's owner
//! (`HPAGE_RESV_OWNER`): a child after fork has none (`reset_vma_resv_huge_pages()`), so
//! its faults and COW copies take unreserved pages. Unused private reservations go back
//! when the owner unmaps the range (`hugetlb_vm_op_close()`), shared ones when the
//! object goes (`hugetlbfs_evict_inode()`).
//!
//! # Mappings
//! A hugetlb VMA (`VM_HUGETLB`) is a file VMA of a [`HugetlbFile`]: the object behind
//! `MAP_HUGETLB` (`hugetlb_file_setup()`, shown as `/anon_hugepage (deleted)`) or a
//! `memfd_create(MFD_HUGETLB)` file. Its bounds are 2 MiB-aligned: `mmap` rounds the
//! length up and aligns the address, and a `munmap`, `mprotect` or `madvise` that would
//! split it inside a huge page fails with `EINVAL` (`hugetlb_vm_op_split()`). Each 2 MiB
//! is one level-1 leaf, never split: the THP paths that would split a huge PMD refuse a
//! hugetlb folio.
//!
//! # Faults (`hugetlb_fault()`)
//! - First touch (`hugetlb_no_page()`): a shared mapping finds the page in the object's
//!   cache or allocates a zeroed one there (the cache holds a reference); a private one
//!   maps the object's cached page read-only if there is one (a memfd's), else allocates
//!   a zeroed anonymous page (`PageAnon`, `PageAnonExclusive` on the head, as
//!   `hugetlb_add_new_anon_rmap()`), writable at once for a write fault.
//! - Write or unshare fault on a read-only leaf (`hugetlb_wp()`): a shared mapping is
//!   made writable; a private anonymous page mapped once (`folio_mapcount() == 1`,
//!   Linux's rule for hugetlb, not the refcount) is reused and marked exclusive;
//!   anything else is copied into a new page (`SIGBUS` if the pool has none left).
//! - Otherwise the access bits, as for a THP (`huge_pmd_set_accessed()`).
//!
//! # Deliberate limits
//! One size, 2 MiB: the 1 GiB size (a level-2 leaf) is not built (no `hugepages-1048576kB`
//! directory, `MAP_HUGE_1GB` gets `EINVAL`). `mremap` of a hugetlb VMA fails with `EINVAL`.
//! Shrinking a hugetlb memfd drops the cached pages beyond the new size but does not
//! unmap them from existing mappings (Linux's `hugetlb_vmtruncate()` does). A parent that
//! runs out of pool pages while copying on write does not steal the page back from its
//! children (`unmap_ref_private()`): it gets `SIGBUS`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use devices::{GuestMemory, PAGE_SIZE};
use mmu::PteFlags;

use super::fault::{FaultFlags, VmFault};
use super::page_alloc::{PageAlloc, PageFlags, Pfn, HPAGE_PMD_NR, HPAGE_PMD_SIZE};
use super::pgtable::{mk_pte, pmd_trans_huge, pte_exec, pte_none, pte_pfn, pte_write};
use super::vma::{MappedFile, MmapOp, VmFlags, Vma};
use super::{Mm, PhysMem};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

/// `HUGETLBFS_MAGIC` (`include/uapi/linux/magic.h`): `statfs()`'s `f_type` of a hugetlbfs
/// file (a `MFD_HUGETLB` memfd).
pub const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
/// `huge_page_size(&default_hstate)`: bytes per hugetlb page (2 MiB).
pub const HPAGE_SIZE: u64 = HPAGE_PMD_SIZE;
/// `pages_per_huge_page()`: 4 KiB pages per hugetlb page (512).
pub const HPAGE_NR: u64 = HPAGE_PMD_NR;
/// `MAP_HUGE_SHIFT` (`include/uapi/asm-generic/hugetlb_encode.h`): where `mmap` and
/// `memfd_create` flags carry log2 of the wanted huge page size.
pub const MAP_HUGE_SHIFT: u32 = 26;
/// `MAP_HUGE_MASK`: the six bits of that size.
pub const MAP_HUGE_MASK: u64 = 0x3f;

/// `hugetlb_encode`'s size field of `flags` (`(flags >> MAP_HUGE_SHIFT) &
/// MAP_HUGE_MASK`), checked against the one size here (`size_to_hstate()`): 0 (the
/// default size) and 21 (`MAP_HUGE_2MB`, `MFD_HUGE_2MB`) are accepted.
///
/// # Errors
/// `EINVAL` for any other size, `ksys_mmap_pgoff()`'s answer for a size without an
/// hstate (`memfd_create()` reaches `hugetlb_file_setup()` instead, whose answer is
/// `ENODEV`: its caller maps the error).
pub fn check_huge_size(flags: u64) -> KResult<()> {
    match (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK {
        0 | 21 => Ok(()),
        _ => Err(Errno::EINVAL),
    }
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

/// The 2 MiB pool (`struct hstate`): counters and free list under `hugetlb_lock`.
/// Lives in the [`PageAlloc`]; see the module docs.
#[derive(Debug, Default)]
pub struct Hstate {
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

impl PageAlloc {
    /// The pool's counters.
    pub fn hstate_counts(&self) -> HstateCounts {
        self.hstate.inner.lock().c
    }

    /// The heads of the pool's free folios (for [`PageAlloc::audit`]).
    pub(super) fn hugetlb_free_heads(&self) -> Vec<Pfn> {
        self.hstate.inner.lock().free.clone()
    }

    /// `set_max_huge_pages()`: makes the persistent pool `count` pages if it can. Growing
    /// first turns surplus pages into persistent ones (`adjust_pool_surplus(-1)`), then
    /// allocates fresh folios until `count` or until no 2 MiB block is free. Shrinking
    /// frees free pages not needed for reservations (`try_to_free_low()`,
    /// `remove_pool_hugetlb_folio()`) and counts the in-use excess as surplus pages,
    /// which go back to the buddy allocator when they are freed. Returns the persistent
    /// pool size it reached.
    pub fn set_max_huge_pages(&self, ram: &GuestMemory, count: u64) -> u64 {
        {
            let mut h = self.hstate.inner.lock();
            while h.c.surplus_huge_pages > 0 && count > h.c.persistent() {
                h.c.surplus_huge_pages -= 1;
            }
        }
        while self.hstate_counts().persistent() < count {
            let Some(head) = self.alloc_fresh_hugetlb_folio(ram) else {
                break;
            };
            let mut h = self.hstate.inner.lock();
            h.c.nr_huge_pages += 1;
            h.enqueue(head);
        }
        let mut gone = Vec::new();
        let reached = {
            let mut h = self.hstate.inner.lock();
            let in_use = h.c.nr_huge_pages - h.c.free_huge_pages;
            let min_count = count.max(h.c.resv_huge_pages + in_use);
            while min_count < h.c.persistent() {
                let Some(head) = h.dequeue() else {
                    break;
                };
                h.c.nr_huge_pages -= 1;
                gone.push(head);
            }
            while count < h.c.persistent() && h.c.surplus_huge_pages < h.c.nr_huge_pages {
                h.c.surplus_huge_pages += 1;
            }
            h.c.persistent()
        };
        for head in gone {
            self.update_and_free_hugetlb_folio(head);
        }
        reached
    }

    /// A write to `nr_overcommit_hugepages` (`hugetlb_overcommit_handler()`).
    pub fn set_nr_overcommit_huge_pages(&self, count: u64) {
        self.hstate.inner.lock().c.nr_overcommit_huge_pages = count;
    }

    /// The most reservations [`PageAlloc::hugetlb_acct_memory`] could add now: the free
    /// pages nobody reserved, and the surplus pages overcommit allows, at most as many as
    /// this RAM could hold.
    pub fn hugetlb_max_new_reservations(&self) -> u64 {
        let c = self.hstate_counts();
        let surplus = c
            .nr_overcommit_huge_pages
            .saturating_sub(c.surplus_huge_pages)
            .min(self.nr_total() / HPAGE_NR);
        c.free_huge_pages.saturating_sub(c.resv_huge_pages) + surplus
    }

    /// `free_huge_folio()` after the folio's metadata was reset: a surplus page goes
    /// back to the buddy allocator, any other to the free list.
    pub(super) fn free_huge_folio(&self, head: Pfn) {
        let mut h = self.hstate.inner.lock();
        if h.c.surplus_huge_pages > 0 {
            h.c.surplus_huge_pages -= 1;
            h.c.nr_huge_pages -= 1;
            drop(h);
            self.update_and_free_hugetlb_folio(head);
            return;
        }
        h.enqueue(head);
    }

    /// `alloc_hugetlb_folio()`: a pool page with one reference, zero-filled if `zeroed`.
    /// With `use_reserve` it consumes one reservation (`resv_huge_pages`); without, it
    /// may take only a free page nobody reserved, or a new surplus page within
    /// `nr_overcommit_hugepages` (`alloc_surplus_hugetlb_folio()`). `None` if there is
    /// neither (the caller's `-ENOSPC`: `VM_FAULT_SIGBUS`).
    pub fn alloc_hugetlb_folio(
        &self,
        ram: &GuestMemory,
        use_reserve: bool,
        zeroed: bool,
    ) -> Option<Pfn> {
        let dequeued = {
            let mut h = self.hstate.inner.lock();
            if use_reserve || h.c.free_huge_pages > h.c.resv_huge_pages {
                let head = h.dequeue();
                if head.is_some() && use_reserve {
                    h.c.resv_huge_pages = h.c.resv_huge_pages.saturating_sub(1);
                }
                head
            } else {
                None
            }
        };
        let head = match dequeued {
            Some(head) => head,
            None => self.alloc_surplus_hugetlb_folio(ram)?,
        };
        if zeroed && ram.fill(head.pa(), HPAGE_SIZE, 0).is_err() {
            // Cannot happen for pool frames; give the folio back rather than hand out
            // garbage.
            self.free_huge_folio(head);
            return None;
        }
        if let Some(p) = self.page(head) {
            p.page_ref_add(1);
        }
        Some(head)
    }

    /// `alloc_surplus_hugetlb_folio()`: a new page beyond the persistent pool, if
    /// `nr_overcommit_hugepages` allows one more.
    fn alloc_surplus_hugetlb_folio(&self, ram: &GuestMemory) -> Option<Pfn> {
        {
            let mut h = self.hstate.inner.lock();
            if h.c.surplus_huge_pages >= h.c.nr_overcommit_huge_pages {
                return None;
            }
            h.c.nr_huge_pages += 1;
            h.c.surplus_huge_pages += 1;
        }
        let head = self.alloc_fresh_hugetlb_folio(ram);
        if head.is_none() {
            let mut h = self.hstate.inner.lock();
            h.c.nr_huge_pages -= 1;
            h.c.surplus_huge_pages -= 1;
        }
        head
    }

    /// `hugetlb_acct_memory(h, delta)`: reserves `delta` more pages, or gives back
    /// `-delta` unused reservations.
    ///
    /// # Errors
    /// `ENOMEM` if the free pages, with the surplus pages overcommit allows, cannot cover
    /// the new reservations (`gather_surplus_pages()`); nothing is reserved then.
    pub fn hugetlb_acct_memory(&self, ram: &GuestMemory, delta: i64) -> KResult<()> {
        let n = delta.unsigned_abs();
        if delta < 0 {
            self.return_unused_surplus_pages(n);
            return Ok(());
        }
        loop {
            let needed = {
                let mut h = self.hstate.inner.lock();
                let needed = (h.c.resv_huge_pages + n).saturating_sub(h.c.free_huge_pages);
                if needed == 0 {
                    h.c.resv_huge_pages += n;
                    return Ok(());
                }
                if h.c.surplus_huge_pages + needed > h.c.nr_overcommit_huge_pages {
                    return Err(Errno::ENOMEM);
                }
                needed
            };
            // gather_surplus_pages(): allocate without hugetlb_lock, then retry.
            let mut got = Vec::new();
            while (got.len() as u64) < needed {
                match self.alloc_fresh_hugetlb_folio(ram) {
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
            let mut h = self.hstate.inner.lock();
            for head in got {
                h.c.nr_huge_pages += 1;
                h.c.surplus_huge_pages += 1;
                h.enqueue(head);
            }
        }
    }

    /// `return_unused_surplus_pages()`: drops `unused` reservations and frees as many
    /// free surplus pages.
    fn return_unused_surplus_pages(&self, unused: u64) {
        let mut gone = Vec::new();
        {
            let mut h = self.hstate.inner.lock();
            h.c.resv_huge_pages = h.c.resv_huge_pages.saturating_sub(unused);
            let mut nr = unused.min(h.c.surplus_huge_pages);
            while nr > 0 && h.c.free_huge_pages > h.c.resv_huge_pages {
                let Some(head) = h.dequeue() else {
                    break;
                };
                h.c.nr_huge_pages -= 1;
                h.c.surplus_huge_pages -= 1;
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
    /// `i_size`, in bytes (a multiple of [`HPAGE_SIZE`]).
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
    /// `size_bytes` bytes (rounded up to the huge page size) in `phys`'s pool.
    pub fn new(phys: Arc<PhysMem>, size_bytes: u64, path: Option<Vec<u8>>) -> Self {
        HugetlbFile {
            phys,
            ino: NEXT_HUGETLB_INO.fetch_add(1, Ordering::Relaxed),
            path: path.unwrap_or_else(|| b"/anon_hugepage (deleted)".to_vec()),
            size: AtomicU64::new(size_bytes.div_ceil(HPAGE_SIZE).saturating_mul(HPAGE_SIZE)),
            inner: Mutex::new(HugetlbInode::default()),
        }
    }

    /// `hugetlbfs_setattr()`'s size change (`ftruncate`): pages at and beyond the new
    /// end leave the cache and their unused shared reservations are given back
    /// (`hugetlb_vmtruncate()` without the unmapping, see the module docs).
    ///
    /// # Errors
    /// `EINVAL` for a size that is not a multiple of the huge page size.
    pub fn truncate(&self, size_bytes: u64) -> KResult<()> {
        if !size_bytes.is_multiple_of(HPAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let first = size_bytes / HPAGE_SIZE;
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
            let _ = self
                .phys
                .pages
                .hugetlb_acct_memory(&self.phys.ram, -(unused as i64));
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
        if (to - from).saturating_sub(known) > self.phys.pages.hugetlb_max_new_reservations() {
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
            .hugetlb_acct_memory(&self.phys.ram, new.len() as i64)?;
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
        let Some(head) = self
            .phys
            .pages
            .alloc_hugetlb_folio(&self.phys.ram, resv, true)
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
            .alloc_hugetlb_folio(&self.phys.ram, resv, zeroed);
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

    /// `vma_kernel_pagesize()`: the size of the pages mapping this VMA, in bytes (2 MiB
    /// for hugetlb, else 4 KiB).
    #[inline]
    pub fn kernel_pagesize(&self) -> u64 {
        if self.is_vm_hugetlb_page() {
            HPAGE_SIZE
        } else {
            PAGE_SIZE
        }
    }

    /// The hugetlbfs object of a hugetlb VMA.
    pub fn hugetlb_file(&self) -> Option<&HugetlbFile> {
        self.file().and_then(|f| f.hugetlb())
    }

    /// The huge-page index of `addr` in the VMA's object (`vma_hugecache_offset()`).
    fn hugecache_offset(&self, addr: u64) -> u64 {
        self.pgoff_of(addr) / HPAGE_NR
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
        let from = pgoff / HPAGE_NR;
        let to = from + (end - start) / HPAGE_SIZE;
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
        let haddr = va & !(HPAGE_SIZE - 1);
        let slot = match self.pmd_alloc_fault(haddr) {
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
        self.huge_pmd_set_accessed(haddr, slot, pmd, flags)
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
        if idx >= file.size() / HPAGE_SIZE {
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
        self.flush_tlb_range(haddr, haddr + HPAGE_SIZE, pte_exec(entry));
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
        let unshare = flags.contains(FaultFlags::UNSHARE) && !flags.contains(FaultFlags::WRITE);
        let old = pte_pfn(pmd);
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
            return self.huge_pmd_reuse(vma, haddr, slot, pmd, flags);
        }
        let Some(new) = file.alloc_private(self.id(), vma.hugecache_offset(haddr), false) else {
            return VmFault::SIGBUS;
        };
        // copy_user_large_folio().
        if !self.phys.copy_to_new_folio(old, new, HPAGE_SIZE) {
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
        let Some(flushed) = self.replace_huge_leaf(slot, haddr, pmd, new, entry) else {
            return VmFault::empty();
        };
        if let Some(p) = self.phys.pages.page(old) {
            if !p.dec_entire_mapcount() {
                self.phys.pages.note_bad_put();
            }
        }
        super::count_event(&self.stats.local().wp_copy);
        if pte_exec(entry) {
            self.flush_tlb_range(haddr, haddr + HPAGE_SIZE, true);
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
