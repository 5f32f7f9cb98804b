//! The page cache in guest RAM (Linux `mm/filemap.c`, `mm/truncate.c`, the writeback half
//! of `mm/page-writeback.c`, and `mm/shmem.c` where tmpfs differs).
//!
//! Every regular file has an [`AddressSpace`] (`struct address_space`): an index of the
//! file's pages that are in use, each one a frame of guest RAM from the kernel's
//! [`PhysMem`] (flagged [`PageFlags::PAGECACHE`], with `folio->mapping`/`index` set, never
//! anonymous), in front of a [`PageStore`]-like backing store on the host heap, which
//! plays the disk. `read`/`write` ([`AddressSpace::read`], [`AddressSpace::write`]: Linux's
//! `filemap_read()` and `generic_perform_write()`) copy through those frames, and `mmap`
//! maps the same frames ([`AddressSpace::fault`]: `filemap_fault()`), so system calls and
//! mappings are coherent by construction, exactly as in Linux.
//!
//! # References
//! The cache holds one reference on each of its pages; every PTE mapping a page holds
//! another (and a mapcount), GUP references and pins add theirs. Removing a page from the
//! cache (truncation, hole punching, eviction, shutdown) clears its `mapping` and drops
//! the cache's reference; a page still pinned lives on, detached, until unpinned.
//!
//! # Dirty pages and writeback
//! `write()` marks the pages it copies into `PG_dirty`. Stores through shared mappings
//! leave their trace only in the PTE's D bit, which the hardware walker sets; writeback
//! ([`AddressSpace::writeback_range`], `filemap_write_and_wait_range()`) first walks every
//! address space mapping the file through its `i_mmap` list and moves D into `PG_dirty`,
//! clearing D (`folio_mkclean()`, see [`crate::mm::rmap`]), then copies every dirty page in
//! the range to the backing store. Writeback runs on `fsync`/`fdatasync`, `msync`,
//! `sync`/`syncfs`, when reclaim evicts a dirty page, and at shutdown
//! ([`PageCache::shutdown`]). Unmapping a shared mapping moves its D bits into `PG_dirty`
//! (the zap does), but does not write back, as in Linux.
//!
//! # Space
//! Backing-store pages are allocated when a page is first dirtied — by `write()`, or by a
//! fault that maps it writable in a shared mapping — so that `ENOSPC` is reported then
//! (`write` fails, the fault gets `SIGBUS`), as tmpfs charges at that point; writeback
//! never needs new space.
//!
//! # Memory pressure
//! [`PageCache`] is the kernel's [`Reclaim`]er: when the frame allocator runs dry it
//! evicts pages only the cache references (unmapped, unpinned), writing dirty ones back
//! first. A read that cannot get a frame for an uncached page reads the backing store
//! directly, and a write writes through to it: an uncached page's only copy is there, so
//! coherence holds.
//!
//! # Locking
//! Each address space has one lock for its index and store (`i_pages` lock + `i_rwsem`
//! in one). Truncation holds it while unmapping through `i_mmap` (then each address
//! space's rmap lock); writeback takes `i_mmap` and the rmap locks first, releases them,
//! then takes the address-space lock; the fault path takes only the address-space lock.
//! Reclaim only ever `try_lock`s, because the allocating caller may hold any of them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::sync::{Mutex, MutexGuard};

use devices::{GuestPhysAddr, PAGE_SIZE};

use super::inode::{FileStore, MAX_LFS_FILESIZE};
use crate::errno::{Errno, KResult};
use crate::mm::rmap::IMmap;
use crate::mm::{MmRmap, PageFlags, Pfn, PhysMem, Reclaim, VmFault};

#[allow(unused_imports)] // named in the docs
use super::inode::PageStore;

const PAGE: u64 = PAGE_SIZE;
/// Pages a file evicts from itself when it needs a frame and direct reclaim found none
/// (direct reclaim cannot take the lock the file's own operation holds).
const RECLAIM_OWN: u64 = 32;

/// Page-cache event counts (shown by `--stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCacheStats {
    /// Pages in the cache now.
    pub pages: u64,
    /// The most pages the cache held at once.
    pub peak_pages: u64,
    /// Pages read in from the backing store (`filemap_read_folio()`).
    pub read_ins: u64,
    /// Dirty pages written back to the backing store.
    pub written_back: u64,
    /// Pages evicted by reclaim under memory pressure.
    pub evicted: u64,
    /// Pages removed by truncation or hole punching.
    pub truncated: u64,
    /// Shared-mapping PTEs whose D bit writeback moved into `PG_dirty`.
    pub ptes_cleaned: u64,
}

#[derive(Debug, Default)]
struct Counters {
    pages: AtomicU64,
    peak_pages: AtomicU64,
    read_ins: AtomicU64,
    written_back: AtomicU64,
    evicted: AtomicU64,
    truncated: AtomicU64,
    ptes_cleaned: AtomicU64,
}

/// The kernel's page cache: the guest RAM it takes frames from, the list of every
/// file's [`AddressSpace`] (for `sync`, reclaim and the audit), and the counters.
pub struct PageCache {
    phys: Arc<PhysMem>,
    mappings: Mutex<Vec<Weak<AddressSpace>>>,
    counters: Counters,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// A page cache over `phys`, registered as its reclaimer ([`PhysMem::set_reclaim`]).
    pub fn new(phys: Arc<PhysMem>) -> Arc<PageCache> {
        let cache = Arc::new(PageCache {
            phys,
            mappings: Mutex::new(Vec::new()),
            counters: Counters::default(),
        });
        let weak: Weak<PageCache> = Arc::downgrade(&cache);
        cache.phys.set_reclaim(weak);
        cache
    }

    /// The guest memory the cache lives in.
    pub fn phys(&self) -> &Arc<PhysMem> {
        &self.phys
    }

    /// The page cache of a new regular file with inode number `ino`, whose data live in
    /// `store` (the backing store); `shmem`: the file is shmem's (`shmem_mapping()`), so
    /// its folios are swap-backed ([`PageFlags::SWAPBACKED`]) as `shmem_alloc_folio()`
    /// makes them.
    pub fn new_mapping(
        self: &Arc<Self>,
        ino: u64,
        store: Box<dyn FileStore>,
        shmem: bool,
    ) -> Arc<AddressSpace> {
        let mapping = Arc::new(AddressSpace {
            ino,
            shmem,
            cache: Arc::clone(self),
            inner: Mutex::new(AsInner {
                store,
                pages: BTreeMap::new(),
                wb_err: None,
            }),
            i_mmap: IMmap::new(),
        });
        let mut g = self.mappings.lock();
        g.retain(|w| w.strong_count() > 0);
        g.push(Arc::downgrade(&mapping));
        mapping
    }

    fn live(&self) -> Vec<Arc<AddressSpace>> {
        self.mappings
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// The counters.
    pub fn stats(&self) -> PageCacheStats {
        let c = &self.counters;
        PageCacheStats {
            pages: c.pages.load(Ordering::Relaxed),
            peak_pages: c.peak_pages.load(Ordering::Relaxed),
            read_ins: c.read_ins.load(Ordering::Relaxed),
            written_back: c.written_back.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            ptes_cleaned: c.ptes_cleaned.load(Ordering::Relaxed),
        }
    }

    /// `sync()` / `syncfs()` (`ksys_sync()`): writes back every dirty page of every file,
    /// D bits of shared mappings included.
    ///
    /// # Errors
    /// The first writeback error met (the others are still attempted).
    pub fn sync_all(&self) -> KResult<()> {
        let mut first = Ok(());
        for m in self.live() {
            let r = m.writeback_range(0, u64::MAX);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Kernel shutdown: writes every file back, then removes every page from the cache,
    /// so that the final page audit finds no cache frames (they would otherwise look
    /// leaked). Call once no address space maps a file any more.
    pub fn shutdown(&self) {
        let _ = self.sync_all();
        for m in self.live() {
            m.invalidate();
        }
    }

    /// Checks the books: every indexed page is a [`PageFlags::PAGECACHE`] frame whose
    /// `mapping`/`index` name its file and offset and that holds the cache's reference
    /// besides one per mapping, and the allocator's count of page-cache frames equals the
    /// pages indexed. Returns the number of inconsistencies (0 on a healthy kernel).
    pub fn audit(&self) -> u64 {
        let mut errors = 0;
        let mut indexed = 0u64;
        for m in self.live() {
            let g = m.lock();
            for (&index, &pfn) in &g.pages {
                indexed += 1;
                let ok = self.phys.pages.page(pfn).is_some_and(|p| {
                    p.mapping() == Some((m.ino, index))
                        && !p.test(PageFlags::ANON)
                        && p.refcount() > p.mapcount()
                });
                if !ok {
                    errors += 1;
                }
            }
        }
        let frames = self.phys.pages.audit().pagecache_frames;
        errors + frames.abs_diff(indexed)
    }

    fn page_added(&self) {
        let n = self.counters.pages.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.peak_pages.fetch_max(n, Ordering::Relaxed);
    }

    fn pages_removed(&self, n: u64) {
        let _ = self
            .counters
            .pages
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(n))
            });
    }
}

impl Reclaim for PageCache {
    /// `shrink_folio_list()` for the page cache: evicts up to `nr_pages` pages that only the
    /// cache references, from each file in turn, writing dirty ones back first
    /// (`pageout()`). Files whose lock is busy are skipped.
    fn reclaim(&self, nr_pages: u64) -> u64 {
        let mut freed = 0;
        for m in self.live() {
            if freed >= nr_pages {
                break;
            }
            freed += m.shrink(nr_pages - freed);
        }
        freed
    }
}

struct AsInner {
    /// The backing store (the "disk"); its size is `i_size`.
    store: Box<dyn FileStore>,
    /// `i_pages`: file page index → frame.
    pages: BTreeMap<u64, Pfn>,
    /// `mapping->wb_err`: the last writeback error, reported once by `fsync`.
    wb_err: Option<Errno>,
}

/// One file's page cache (`struct address_space`): see the module docs.
pub struct AddressSpace {
    ino: u64,
    /// `shmem_mapping()`: a shmem file's cache (its folios are swap-backed).
    shmem: bool,
    cache: Arc<PageCache>,
    inner: Mutex<AsInner>,
    /// The address spaces mapping this file (`i_mmap`).
    i_mmap: IMmap,
}

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressSpace")
            .field("ino", &self.ino)
            .finish_non_exhaustive()
    }
}

impl Drop for AddressSpace {
    /// The inode is gone (unlinked and closed, or the file system dropped): its pages
    /// leave the cache without writeback, as `truncate_inode_pages_final()` at eviction.
    fn drop(&mut self) {
        let g = self.inner.get_mut();
        let pages = std::mem::take(&mut g.pages);
        let n = pages.len() as u64;
        for (_, pfn) in pages {
            self.cache.release(pfn);
        }
        self.cache.pages_removed(n);
    }
}

impl PageCache {
    /// `page_cache_delete()` + `folio_put()`: detaches a page from its file and drops the
    /// cache's reference.
    fn release(&self, pfn: Pfn) {
        if let Some(p) = self.phys.pages.page(pfn) {
            p.clear_mapping();
        }
        self.phys.put_page(pfn);
    }
}

impl AddressSpace {
    fn lock(&self) -> MutexGuard<'_, AsInner> {
        self.inner.lock()
    }

    fn phys(&self) -> &PhysMem {
        &self.cache.phys
    }

    /// The inode number of the file.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// `i_size`, in bytes.
    pub fn size(&self) -> u64 {
        self.lock().store.len()
    }

    /// Pages in this file's cache.
    pub fn nr_pages(&self) -> u64 {
        self.lock().pages.len() as u64
    }

    /// Reads the backing store directly, bypassing the cache: what is "on disk" (for
    /// tests and diagnostics; a dirty cached page is newer). Returns the bytes read.
    pub fn read_backing(&self, offset: u64, buf: &mut [u8]) -> usize {
        self.lock().store.read_at(offset, buf)
    }

    /// Writes `data` at `offset` into the backing store directly, as content that was on
    /// "disk" before the cache saw it (see [`FileStore::install_at`]). Falls back to a
    /// cached [`AddressSpace::write`] if a page of the range is cached, so the cache never
    /// holds older data than the store.
    ///
    /// # Errors
    /// As [`AddressSpace::write`].
    pub fn install(&self, offset: u64, data: &[u8]) -> KResult<usize> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_LFS_FILESIZE)
            .ok_or(Errno::EFBIG)?;
        let mut g = self.lock();
        if g.pages
            .range(offset / PAGE..end.div_ceil(PAGE))
            .next()
            .is_some()
        {
            drop(g);
            return self.write(offset, data);
        }
        g.store.write_at(offset, data)
    }

    /// The cached page at `index`, if any (for tests and diagnostics).
    pub fn cached_page(&self, index: u64) -> Option<Pfn> {
        self.lock().pages.get(&index).copied()
    }

    /// `vma_link_file()`: see [`crate::mm::MappedFile::i_mmap_link`].
    pub fn link_mm(&self, mm: &Arc<MmRmap>) {
        self.i_mmap.link(mm);
    }

    /// `mapping_mapped()`: whether some live address space maps this file.
    pub fn is_mapped(&self) -> bool {
        self.i_mmap.mapped(self.ino)
    }

    /// `filemap_get_folio(FGP_CREAT)` + `filemap_read_folio()`: the cached page at
    /// `index`, read in from the backing store if needed. `None` when no frame can be had
    /// (after reclaim).
    fn get_page(&self, g: &mut AsInner, index: u64) -> Option<Pfn> {
        if let Some(&pfn) = g.pages.get(&index) {
            return Some(pfn);
        }
        // Direct reclaim skips this file (its lock is ours): evict from it here first.
        let pfn = match self.phys().alloc_page(false) {
            Some(pfn) => pfn,
            None => {
                if self.shrink_locked(g, RECLAIM_OWN) == 0 {
                    return None;
                }
                self.phys().alloc_page(false)?
            }
        };
        let mut buf = vec![0u8; PAGE as usize];
        let pos = index.checked_mul(PAGE)?;
        let n = g.store.read_at(pos, &mut buf);
        if self.phys().ram.write_bytes(pfn.pa(), &buf).is_err() {
            self.phys().put_page(pfn);
            return None;
        }
        if n > 0 || pos < g.store.len() {
            self.cache.counters.read_ins.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(p) = self.phys().pages.page(pfn) {
            p.set_mapping(self.ino, index);
            if self.shmem {
                p.set(PageFlags::SWAPBACKED);
            }
        }
        g.pages.insert(index, pfn);
        self.cache.page_added();
        Some(pfn)
    }

    /// `filemap_read()`: copies up to `buf.len()` bytes at `offset` (stopping at the end of
    /// the file) through the cache into `buf`; returns how many. A page that cannot be
    /// cached for lack of memory is read from the backing store directly.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        let mut g = self.lock();
        let size = g.store.len();
        if offset >= size {
            return 0;
        }
        let n = (buf.len() as u64).min(size - offset) as usize;
        let mut done = 0usize;
        while done < n {
            let pos = offset + done as u64;
            let in_page = pos % PAGE;
            let chunk = ((PAGE - in_page) as usize).min(n - done);
            let Some(dst) = buf.get_mut(done..done + chunk) else {
                break;
            };
            match self.get_page(&mut g, pos / PAGE) {
                Some(pfn) => {
                    let pa = GuestPhysAddr(pfn.pa().0 + in_page);
                    if self.phys().ram.read_bytes(pa, dst).is_err() {
                        break;
                    }
                }
                None => {
                    g.store.read_at(pos, dst);
                }
            }
            done += chunk;
        }
        done
    }

    /// Zeroes the cached bytes of the page holding `old_size` from `old_size` to the end
    /// of that page: the file is growing past them, and what a shared mapping may have
    /// stored beyond the old end of file must read as zeros (POSIX; Linux's
    /// `pagecache_isize_extended()` / `folio_zero_segment()` at writeback).
    fn zero_tail(&self, g: &AsInner, old_size: u64) {
        let in_page = old_size % PAGE;
        if in_page == 0 {
            return;
        }
        if let Some(&pfn) = g.pages.get(&(old_size / PAGE)) {
            let _ = self
                .phys()
                .ram
                .fill(GuestPhysAddr(pfn.pa().0 + in_page), PAGE - in_page, 0);
        }
    }

    /// `generic_perform_write()`: copies `data` into the cache at `offset`, page by page
    /// (reading a partly written page in first), marks the pages dirty and grows the file
    /// if it ends beyond it. Backing space is allocated for each page first; on `ENOSPC`
    /// the bytes before it count. A page that cannot be cached for lack of memory is
    /// written through to the backing store.
    ///
    /// # Errors
    /// `EFBIG` past `MAX_LFS_FILESIZE`; `ENOSPC` if not even the first page has room.
    pub fn write(&self, offset: u64, data: &[u8]) -> KResult<usize> {
        offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_LFS_FILESIZE)
            .ok_or(Errno::EFBIG)?;
        let mut g = self.lock();
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let index = pos / PAGE;
            let in_page = pos % PAGE;
            let chunk = ((PAGE - in_page) as usize).min(data.len() - done);
            let src = data.get(done..done + chunk).unwrap_or_default();
            // shmem_get_folio(): charge the page before it is dirtied.
            if let Err(e) = g.store.allocate(index * PAGE, PAGE, true) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            let size = g.store.len();
            if pos + chunk as u64 > size {
                self.zero_tail(&g, size);
            }
            match self.get_page(&mut g, index) {
                Some(pfn) => {
                    let pa = GuestPhysAddr(pfn.pa().0 + in_page);
                    if self.phys().ram.write_bytes(pa, src).is_err() {
                        break;
                    }
                    if let Some(p) = self.phys().pages.page(pfn) {
                        p.set(PageFlags::DIRTY);
                    }
                    if pos + chunk as u64 > size {
                        g.store.set_len(pos + chunk as u64)?;
                    }
                }
                None => {
                    let n = g.store.write_at(pos, src)?;
                    if n < chunk {
                        return Ok(done + n);
                    }
                }
            }
            done += chunk;
        }
        Ok(done)
    }

    /// `unmap_mapping_range()` over file pages `first..=last` in every address space that
    /// maps the file (see [`MmRmap::unmap_file_range`] for `even_cows`).
    fn unmap_mapping_pages(&self, first: u64, last: u64, even_cows: bool) {
        let phys = self.phys();
        let ino = self.ino;
        let is_file_page = |pfn: Pfn| {
            phys.pages
                .page(pfn)
                .and_then(|p| p.mapping())
                .is_some_and(|(m, _)| m == ino)
        };
        for mm in self.i_mmap.mms() {
            mm.unmap_file_range(ino, first, last, even_cows, &is_file_page);
        }
    }

    /// Removes the cached pages `first..=last` from the cache (`truncate_inode_pages_range()`
    /// for whole pages).
    fn remove_pages(&self, g: &mut AsInner, first: u64, last: u64) {
        if first > last {
            return;
        }
        let gone: Vec<(u64, Pfn)> = g.pages.range(first..=last).map(|(&i, &p)| (i, p)).collect();
        for (i, pfn) in &gone {
            g.pages.remove(i);
            self.cache.release(*pfn);
        }
        let n = gone.len() as u64;
        self.cache.pages_removed(n);
        self.cache
            .counters
            .truncated
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Zeroes bytes `[lo, hi)` of cached page `index` (in-page offsets).
    fn zero_in_page(&self, g: &AsInner, index: u64, lo: u64, hi: u64) {
        if let Some(&pfn) = g.pages.get(&index) {
            let _ = self
                .phys()
                .ram
                .fill(GuestPhysAddr(pfn.pa().0 + lo), hi - lo, 0);
        }
    }

    /// `truncate_setsize()` + `truncate_pagecache()`: sets `i_size` to `len`. Shrinking
    /// unmaps every page beyond the new end from every mapping (private COW copies
    /// included: an access there now gets `SIGBUS`), removes them from the cache and the
    /// backing store, and zeroes the rest of the new last page (still mapped, so mappings
    /// see the zeros). Growing zeroes what lay beyond the old end in its last page.
    ///
    /// # Errors
    /// `EFBIG` past `MAX_LFS_FILESIZE`.
    pub fn set_size(&self, len: u64) -> KResult<()> {
        if len > MAX_LFS_FILESIZE {
            return Err(Errno::EFBIG);
        }
        let mut g = self.lock();
        let old = g.store.len();
        if len >= old {
            self.zero_tail(&g, old);
            return g.store.set_len(len);
        }
        g.store.set_len(len)?;
        let first = len.div_ceil(PAGE);
        self.unmap_mapping_pages(first, u64::MAX, true);
        self.remove_pages(&mut g, first, u64::MAX);
        if !len.is_multiple_of(PAGE) {
            self.zero_in_page(&g, len / PAGE, len % PAGE, PAGE);
        }
        Ok(())
    }

    /// `shmem_fallocate()` without `FALLOC_FL_PUNCH_HOLE`: allocates backing for bytes
    /// `[offset, offset + len)` and, without `keep_size`, grows the file to cover them.
    ///
    /// # Errors
    /// `EFBIG`, `ENOSPC` (nothing allocated then).
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool) -> KResult<()> {
        let mut g = self.lock();
        let old = g.store.len();
        g.store.allocate(offset, len, keep_size)?;
        if g.store.len() > old {
            self.zero_tail(&g, old);
        }
        Ok(())
    }

    /// `shmem_fallocate(FALLOC_FL_PUNCH_HOLE)`: bytes `[offset, offset + len)` read as
    /// zeros afterwards. Whole pages are unmapped from every mapping (private COW copies
    /// stay: `even_cows = false`), dropped from the cache and freed in the backing store;
    /// partial pages are zeroed in both. The size does not change.
    ///
    /// # Errors
    /// None in practice (`EOPNOTSUPP` if the backing store cannot punch).
    pub fn punch_hole(&self, offset: u64, len: u64) -> KResult<()> {
        if len == 0 {
            return Ok(());
        }
        let end = offset.saturating_add(len);
        let mut g = self.lock();
        let first_whole = offset.div_ceil(PAGE);
        let end_whole = end / PAGE;
        if first_whole < end_whole {
            self.unmap_mapping_pages(first_whole, end_whole - 1, false);
            self.remove_pages(&mut g, first_whole, end_whole - 1);
        }
        for index in [offset / PAGE, end.saturating_sub(1) / PAGE] {
            if index >= first_whole && index < end_whole {
                continue;
            }
            let lo = offset.max(index * PAGE) - index * PAGE;
            let hi = end.min((index + 1) * PAGE) - index * PAGE;
            self.zero_in_page(&g, index, lo, hi);
        }
        g.store.punch_hole(offset, len)
    }

    /// `filemap_fault()` / `shmem_fault()`: see [`crate::mm::MappedFile::fault`].
    ///
    /// # Errors
    /// `VM_FAULT_SIGBUS` at or beyond the end of the file or on `ENOSPC`,
    /// `VM_FAULT_OOM`.
    pub fn fault(&self, index: u64, may_write: bool) -> Result<Pfn, VmFault> {
        let mut g = self.lock();
        if index >= g.store.len().div_ceil(PAGE) {
            return Err(VmFault::SIGBUS);
        }
        if may_write {
            let pos = index.checked_mul(PAGE).ok_or(VmFault::SIGBUS)?;
            g.store
                .allocate(pos, PAGE, true)
                .map_err(|_| VmFault::SIGBUS)?;
        }
        let pfn = self.get_page(&mut g, index).ok_or(VmFault::OOM)?;
        self.phys().get_page(pfn);
        Ok(pfn)
    }

    /// Copies dirty cached page `index` (frame `pfn`) to the backing store and clears
    /// `PG_dirty` (`folio_clear_dirty_for_io()` + `->writepage`). Bytes beyond `i_size`
    /// are not written.
    ///
    /// # Errors
    /// What the backing store reports; the page stays dirty then.
    fn write_page(&self, g: &mut AsInner, index: u64, pfn: Pfn) -> KResult<()> {
        let Some(page) = self.phys().pages.page(pfn) else {
            return Ok(());
        };
        if !page.test(PageFlags::DIRTY) {
            return Ok(());
        }
        let pos = index.saturating_mul(PAGE);
        let size = g.store.len();
        if pos < size {
            let n = (size - pos).min(PAGE) as usize;
            let mut buf = vec![0u8; n];
            self.phys()
                .ram
                .read_bytes(pfn.pa(), &mut buf)
                .map_err(|_| Errno::EIO)?;
            // Clear before copying: a store that dirties the page again after this point
            // sets PG_dirty (or D) anew and is written next time.
            page.clear(PageFlags::DIRTY);
            if let Err(e) = g.store.write_at(pos, &buf) {
                page.set(PageFlags::DIRTY);
                return Err(e);
            }
        } else {
            page.clear(PageFlags::DIRTY);
        }
        self.cache
            .counters
            .written_back
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `filemap_write_and_wait_range()` over file pages `first..=last`: collects the D
    /// bits of every shared mapping of them into `PG_dirty` (`folio_mkclean()` through
    /// `i_mmap`), then writes every dirty page back. Returns the recorded writeback error,
    /// once (`file_check_and_advance_wb_err()`).
    ///
    /// # Errors
    /// `EIO` / `ENOSPC` from the backing store.
    pub fn writeback_range(&self, first: u64, last: u64) -> KResult<()> {
        let mut cleaned = 0;
        for mm in self.i_mmap.mms() {
            cleaned += mm.mkclean_file_range(self.ino, first, last);
        }
        self.cache
            .counters
            .ptes_cleaned
            .fetch_add(cleaned, Ordering::Relaxed);
        let mut g = self.lock();
        let dirty: Vec<(u64, Pfn)> = g.pages.range(first..=last).map(|(&i, &p)| (i, p)).collect();
        for (index, pfn) in dirty {
            if let Err(e) = self.write_page(&mut g, index, pfn) {
                g.wb_err = Some(e);
            }
        }
        match g.wb_err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `vfs_fsync_range()` for bytes `[start, end]`.
    ///
    /// # Errors
    /// As [`AddressSpace::writeback_range`].
    pub fn fsync_range(&self, start: u64, end: u64) -> KResult<()> {
        if start > end {
            return Ok(());
        }
        self.writeback_range(start / PAGE, end / PAGE)
    }

    /// Reclaim from this file: evicts up to `nr` pages nobody but the cache references,
    /// writing dirty ones back first. Skips the file if its lock is busy.
    fn shrink(&self, nr: u64) -> u64 {
        let Some(mut g) = crate::sync::trylock(&self.inner) else {
            return 0;
        };
        self.shrink_locked(&mut g, nr)
    }

    /// [`AddressSpace::shrink`] with the lock held.
    fn shrink_locked(&self, g: &mut AsInner, nr: u64) -> u64 {
        let candidates: Vec<(u64, Pfn)> = g
            .pages
            .iter()
            .filter(|(_, &pfn)| {
                self.phys()
                    .pages
                    .page(pfn)
                    .is_some_and(|p| p.mapcount() == 0 && p.refcount() == 1)
            })
            .map(|(&i, &p)| (i, p))
            .take(nr as usize)
            .collect();
        let mut freed = 0;
        for (index, pfn) in candidates {
            if self.write_page(g, index, pfn).is_err() {
                continue;
            }
            g.pages.remove(&index);
            self.cache.release(pfn);
            freed += 1;
        }
        self.cache.pages_removed(freed);
        self.cache
            .counters
            .evicted
            .fetch_add(freed, Ordering::Relaxed);
        freed
    }

    /// Drops every page from the cache without writeback (`truncate_inode_pages(0)` with
    /// the size kept): shutdown, after [`PageCache::sync_all`].
    fn invalidate(&self) {
        let mut g = self.lock();
        let pages = std::mem::take(&mut g.pages);
        let n = pages.len() as u64;
        for (_, pfn) in pages {
            self.cache.release(pfn);
        }
        self.cache.pages_removed(n);
    }

    /// Runs `f` on the backing store (for `stat`, `SEEK_DATA`/`SEEK_HOLE`).
    fn with_store<R>(&self, f: impl FnOnce(&dyn FileStore) -> R) -> R {
        let g = self.lock();
        f(g.store.as_ref())
    }
}

/// A regular file's [`FileStore`] when there is guest RAM: the page cache
/// ([`AddressSpace`]) in front of the backing store. What the inode holds.
#[derive(Debug)]
pub struct CachedFile {
    mapping: Arc<AddressSpace>,
}

impl CachedFile {
    /// A cached file: `mapping` holds the backing store.
    pub fn new(mapping: Arc<AddressSpace>) -> Self {
        CachedFile { mapping }
    }
}

impl FileStore for CachedFile {
    fn len(&self) -> u64 {
        self.mapping.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        self.mapping.read(offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> KResult<usize> {
        self.mapping.write(offset, data)
    }

    fn install_at(&mut self, offset: u64, data: &[u8]) -> KResult<usize> {
        self.mapping.install(offset, data)
    }

    fn set_len(&mut self, len: u64) -> KResult<()> {
        self.mapping.set_size(len)
    }

    fn allocated_bytes(&self) -> u64 {
        self.mapping.with_store(|s| s.allocated_bytes())
    }

    fn seek_data(&self, from: u64) -> Option<u64> {
        self.mapping.with_store(|s| s.seek_data(from))
    }

    fn seek_hole(&self, from: u64) -> u64 {
        self.mapping.with_store(|s| s.seek_hole(from))
    }

    fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) -> KResult<()> {
        self.mapping.allocate(offset, len, keep_size)
    }

    fn punch_hole(&mut self, offset: u64, len: u64) -> KResult<()> {
        self.mapping.punch_hole(offset, len)
    }

    fn address_space(&self) -> Option<Arc<AddressSpace>> {
        Some(Arc::clone(&self.mapping))
    }
}
