//! The file half of the reverse map (Linux `mm/rmap.c` and the `i_mmap` interval tree of
//! `struct address_space`): how a file reaches the PTEs that map its pages in every
//! address space, to unmap them on truncation (`unmap_mapping_range()`) and to collect
//! their hardware D bits for writeback (`folio_mkclean()`).
//!
//! In Linux each file VMA sits in its file's `i_mmap` tree and points at its `mm`. Here
//! VMAs are values inside their [`super::Mm`]'s tree, which only its owner may touch, so
//! each `Mm` publishes an [`MmRmap`]: a list of its file VMAs ([`FileVmaRange`], rebuilt
//! by the `Mm` whenever its file mappings change) and an alias of its page table. A file
//! keeps `Weak<MmRmap>` entries in its `i_mmap` list (added by [`super::MappedFile::i_mmap_link`]
//! when a VMA of it is created, in `mmap` and in `fork`); an entry whose `Mm` no longer
//! maps the file simply finds no VMA of it.
//!
//! TLB maintenance: what an rmap operation changes in an address space is recorded in
//! the `MmRmap` and drained by that `Mm`'s [`super::Mm::take_tlb_flush`], which the kernel
//! calls before the address space runs user code again (at every context switch and after
//! each system call or fault of the running process). Frames an rmap zap released are
//! put at once: as in `Mm::tlb_finish_mmu`, that is safe while harts run user
//! code only after the kernel has drained the flush; SMP will need Linux's deferred free.
//!
//! Locking: `MmRmap::inner` is the stand-in for the page-table lock of a foreign `mm`; a
//! file takes its `i_mmap` lock, then each `MmRmap`'s. Nothing here takes a file lock,
//! and the owning `Mm` never holds its `MmRmap` lock while calling into a file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sync::{Mutex, MutexGuard};

use devices::PAGE_SIZE;
use mmu::Pte;

use super::page_alloc::Pfn;
use super::pgtable::{pte_pfn, MmuGather, PageTable};
use super::TlbFlush;

/// One file VMA as the reverse map sees it: `[start, end)` maps pages `pgoff..` of the
/// file with inode number `ino`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileVmaRange {
    /// `vm_start`.
    pub start: u64,
    /// `vm_end`.
    pub end: u64,
    /// `vm_pgoff`: file page mapped at `start`.
    pub pgoff: u64,
    /// The file's inode number.
    pub ino: u64,
    /// `VM_SHARED`: writes reach the page cache (only these VMAs can dirty it).
    pub shared: bool,
}

impl FileVmaRange {
    /// The part of `[first, last]` (file pages, inclusive) this VMA maps, as a virtual
    /// range `[va_start, va_end)`, or `None` if they do not overlap (`vma_address()` over
    /// a range).
    pub fn va_range(&self, first: u64, last: u64) -> Option<(u64, u64)> {
        let pages = (self.end - self.start) / PAGE_SIZE;
        let vma_last = self.pgoff.checked_add(pages)?.checked_sub(1)?;
        let lo = first.max(self.pgoff);
        let hi = last.min(vma_last);
        if lo > hi {
            return None;
        }
        let va_start = self.start + (lo - self.pgoff) * PAGE_SIZE;
        let va_end = self.start + (hi - self.pgoff + 1) * PAGE_SIZE;
        Some((va_start, va_end))
    }
}

#[derive(Debug)]
struct RmapInner {
    /// Alias of the owner's page table; `None` once the owner tore it down.
    pgtable: Option<PageTable>,
    /// The owner's file VMAs.
    file_vmas: Vec<FileVmaRange>,
    /// Invalidations owed to the owner.
    flush: TlbFlush,
    /// Page references dropped once the owner has carried out `flush`.
    pages: Vec<Pfn>,
}

/// What files see of one address space (see the module docs).
#[derive(Debug)]
pub struct MmRmap {
    inner: Mutex<RmapInner>,
    /// Whether `inner` holds invalidations or pages owed to the owner: set under the lock
    /// by the rmap operation that owes them, cleared under it by [`MmRmap::take_flush`].
    /// The owner's every flush (each fault's) reads only this, so harts faulting in one
    /// address space do not all write the lock's cache line when no file operation
    /// touched it.
    owed: AtomicBool,
}

impl MmRmap {
    /// The handle of an address space whose page table is `pgtable` (an alias).
    pub(crate) fn new(pgtable: PageTable) -> Self {
        MmRmap {
            inner: Mutex::new(RmapInner {
                pgtable: Some(pgtable),
                file_vmas: Vec::new(),
                flush: TlbFlush::default(),
                pages: Vec::new(),
            }),
            owed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RmapInner> {
        self.inner.lock()
    }

    /// Replaces the published list of file VMAs (the owner calls this whenever its file
    /// mappings change: mmap, munmap, mremap, fork, exit).
    pub(crate) fn set_file_vmas(&self, vmas: Vec<FileVmaRange>) {
        self.lock().file_vmas = vmas;
    }

    /// The published file VMAs.
    pub fn file_vmas(&self) -> Vec<FileVmaRange> {
        self.lock().file_vmas.clone()
    }

    /// Whether the address space maps anything of file `ino`.
    pub fn maps(&self, ino: u64) -> bool {
        self.lock().file_vmas.iter().any(|v| v.ino == ino)
    }

    /// The owner is exiting: drop the page-table alias before the tables are freed.
    pub(crate) fn kill(&self) {
        let mut g = self.lock();
        g.pgtable = None;
        g.file_vmas.clear();
    }

    /// Takes the invalidation rmap operations left for the owner, and the page
    /// references to drop once it is carried out.
    pub(crate) fn take_flush(&self) -> (TlbFlush, Vec<Pfn>) {
        if !self.owed.load(Ordering::Acquire) {
            return (TlbFlush::default(), Vec::new());
        }
        let mut g = self.lock();
        self.owed.store(false, Ordering::Relaxed);
        (std::mem::take(&mut g.flush), std::mem::take(&mut g.pages))
    }

    /// `unmap_mapping_range_tree()` for this address space: zaps the PTEs mapping file
    /// `ino`'s pages `first..=last` in every VMA of the file. With `even_cows` (truncation)
    /// everything there goes, private COW copies included, so a later access faults and
    /// finds the new end of file; without (a punched hole), a private VMA keeps its COW
    /// copies and loses only PTEs of page-cache pages, which `is_file_page` recognises.
    /// Zapped PTEs hand their hardware D bit to the page (`PG_dirty`), drop their
    /// mapcount and their reference (dropped after the owner's shootdown). Returns the number of PTEs removed.
    pub fn unmap_file_range(
        &self,
        ino: u64,
        first: u64,
        last: u64,
        even_cows: bool,
        is_file_page: &dyn Fn(Pfn) -> bool,
    ) -> u64 {
        let mut g = self.lock();
        let g = &mut *g;
        let Some(pt) = g.pgtable.as_ref() else {
            return 0;
        };
        let mut tlb = MmuGather::default();
        let mut zapped = 0;
        for v in g.file_vmas.iter().filter(|v| v.ino == ino) {
            let Some((s, e)) = v.va_range(first, last) else {
                continue;
            };
            zapped += if even_cows || v.shared {
                pt.zap_pte_range(s, e, &mut tlb)
            } else {
                pt.zap_pte_range_if(s, e, &mut tlb, &|pte: Pte| is_file_page(pte_pfn(pte)))
            };
        }
        if tlb.start < tlb.end {
            g.flush.range.add(tlb.start, tlb.end);
        }
        g.flush.icache |= tlb.exec;
        // Freed with the owner's flush (Mm::take_tlb_batch): another hart may run it.
        g.pages.extend(tlb.pages);
        self.note_owed(g);
        zapped
    }

    /// `folio_mkclean()` over file `ino`'s pages `first..=last` in this address space: in
    /// every shared VMA of the file, each PTE the hardware marked dirty gets D cleared and
    /// its page `PG_dirty` (see [`PageTable::mkclean_range`]). Returns the number of PTEs
    /// cleaned.
    pub fn mkclean_file_range(&self, ino: u64, first: u64, last: u64) -> u64 {
        let mut g = self.lock();
        let g = &mut *g;
        let Some(pt) = g.pgtable.as_ref() else {
            return 0;
        };
        let mut tlb = MmuGather::default();
        let mut cleaned = 0;
        for v in g.file_vmas.iter().filter(|v| v.ino == ino && v.shared) {
            if let Some((s, e)) = v.va_range(first, last) {
                cleaned += pt.mkclean_range(s, e, &mut tlb);
            }
        }
        if tlb.start < tlb.end {
            g.flush.range.add(tlb.start, tlb.end);
        }
        self.note_owed(g);
        cleaned
    }

    /// Publishes that `g` (this handle's locked state) owes the owner something.
    fn note_owed(&self, g: &RmapInner) {
        if !g.flush.is_none() || !g.pages.is_empty() {
            self.owed.store(true, Ordering::Release);
        }
    }
}

/// An `i_mmap` list: the address spaces that (may) map one file, held weakly so that an
/// exited process's entry just expires.
#[derive(Debug, Default)]
pub struct IMmap {
    mms: Mutex<Vec<std::sync::Weak<MmRmap>>>,
}

impl IMmap {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<std::sync::Weak<MmRmap>>> {
        self.mms.lock()
    }

    /// `vma_link_file()`: adds `mm` (once), pruning expired entries.
    pub fn link(&self, mm: &Arc<MmRmap>) {
        let mut g = self.lock();
        g.retain(|w| w.strong_count() > 0);
        if !g.iter().any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(mm))) {
            g.push(Arc::downgrade(mm));
        }
    }

    /// The live address spaces on the list.
    pub fn mms(&self) -> Vec<Arc<MmRmap>> {
        self.lock()
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect()
    }

    /// `mapping_mapped()`: whether any live address space maps file `ino`.
    pub fn mapped(&self, ino: u64) -> bool {
        self.mms().iter().any(|m| m.maps(ino))
    }
}
