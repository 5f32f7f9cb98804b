//! Fork: duplicating an address space copy-on-write (Linux `kernel/fork.c dup_mm()` /
//! `dup_mmap()`, with `copy_page_range()` from `mm/memory.c` in [`super::pgtable`]).
//!
//! After [`Mm::dup_mmap`] parent and child map the same private anonymous pages
//! read-only, none of them `PageAnonExclusive`; the first write on either side takes a
//! write-protect fault, and `do_wp_page()` (in [`super::fault`]) copies the page, or
//! reuses it when the other side has already copied or exited (`folio_ref_count() == 1`).
//! Exit is [`Mm::exit_mmap`] (or dropping the `Mm`): every PTE drops its page's mapping
//! and reference, so a page shared by fork is freed by whichever side unmaps it last.
//!
//! A private file VMA is copied like anonymous memory: the child shares the read-only
//! page-cache pages and the anonymous COW copies copy-on-write. Shared mappings (a
//! file's, or the shmem object behind `MAP_SHARED|MAP_ANONYMOUS`) share their object,
//! not their PTEs: `copy_page_range()` skips them (`vma_needs_copy()`), and the child
//! faults their pages in from the object's page cache on first touch, as Linux does;
//! the parent keeps its D bits for writeback. The child is linked into each file's
//! `i_mmap` list.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::pgtable::ForkCopy;
use super::vma::{VmFlags, Vma};
use super::{Mm, MmShared};
use crate::errno::KResult;

impl Mm {
    /// `dup_mm()` / `dup_mmap()`: the child address space of a `fork()` (or `clone()`
    /// without `CLONE_VM`), with a fresh root table and ASID `new_asid`, the same paging
    /// mode and A/D scheme, and a copy of the layout (`brk`, stack, `mmap_base`, limits).
    ///
    /// VMAs (`vm_area_dup()`): a `VM_DONTCOPY` VMA (`MADV_DONTFORK`) is left out; the
    /// copies lose `VM_LOCKED | VM_LOCKONFAULT` (`VM_LOCKED_MASK`: mlock is not
    /// inherited); a `VM_WIPEONFORK` VMA is copied with its flags but none of its pages,
    /// so the child reads zeros there; a shared file or shmem VMA is copied without its
    /// PTEs (`vma_needs_copy()`: the child faults them in). Every other VMA's PTEs are
    /// copied by `copy_page_range()` (see [`super::pgtable::PageTable`]'s
    /// `copy_page_range` for the per-entry rules: COW write-protection in both, refcount
    /// and mapcount of each shared page, `PageAnonExclusive` cleared, possibly pinned
    /// pages copied at once when the parent has `MMF_HAS_PINNED`, the child's entries
    /// old). The child's page tables are allocated in guest RAM.
    ///
    /// The parent's pending TLB flush gains every entry that lost `W`: the kernel must
    /// drain [`Mm::take_tlb_flush`] and `sfence.vma` the parent's ASID before the parent
    /// runs again, or a stale writable translation would write into the shared page
    /// (Linux: `flush_tlb_mm(oldmm)` at the end of `dup_mmap()`). The child starts with no
    /// pending flush: if `new_asid` was used before by another address space, the kernel
    /// must flush that ASID before the child first runs.
    ///
    /// Statistics (`MmStats`) start from zero in the child; `MMF_HAS_PINNED` is not
    /// inherited (it is not in `MMF_INIT_MASK`). The GUP generation knob
    /// ([`Mm::set_gup_generation`]) is: it stands for the kernel build.
    ///
    /// # Errors
    /// `ENOMEM` when frames run out (page tables, a pinned page's copy) or the child's map
    /// count would exceed its limit. The partial child
    /// is torn down; the parent keeps its VMAs and data, and any entry already
    /// write-protected is in its pending flush.
    pub fn dup_mmap(&mut self, new_asid: u16) -> KResult<Mm> {
        let mut child = Mm::new(Arc::clone(&self.phys), self.mode(), self.ad, new_asid)?;
        child.task_size = self.task_size;
        child.mmap_base = self.mmap_base;
        child.mmap_min_addr = self.mmap_min_addr;
        child.start_brk = self.start_brk;
        child.brk = self.brk;
        child.stack_start = self.stack_start;
        child.stack_top = self.stack_top;
        child.stack_rlimit = self.stack_rlimit;
        child.gup_gen = self.gup_gen;
        child.set_uaccess_tag_ctrl(self.shared.tagged_addr_ctrl());

        let vmas: Vec<Vma> = self.vmas.iter().cloned().collect();

        let mut tree = self.vmas.clone();
        for vma in &vmas {
            if vma.flags.contains(VmFlags::DONTCOPY) {
                tree.remove(vma.start);
            } else if let Some(v) = tree.get_mut(vma.start) {
                v.flags -= VmFlags::LOCKED | VmFlags::LOCKONFAULT;
                // dup_userfaultfd() without UFFD_FEATURE_EVENT_FORK: the child's VMA is
                // not registered (userfaultfd_reset_ctx()).
                v.flags -= super::userfaultfd::VM_UFFD_FLAGS;
                v.userfaultfd_ctx = None;
            }
        }
        child.vmas = tree;
        // vma_link_file() for each copied file VMA: the child's PTEs of the file become
        // reachable for truncation and writeback before they are copied.
        for v in child.vmas.iter() {
            if let Some(f) = v.file() {
                f.i_mmap_link(&child.rmap);
            }
        }
        child.sync_file_rmap();

        let mut st = ForkCopy::default();
        // copy_page_range(): write-protecting the parent's anonymous PTEs is a write
        // section of write_protect_seq, so a concurrent gup_fast() that pinned a page
        // meanwhile gives its pins back instead of pinning a page now shared with the
        // child.
        let has_pinned = self.shared.has_pinned();
        self.shared.write_protect_seq_bump();
        let r = vmas
            .iter()
            .filter(|v| !v.flags.intersects(VmFlags::DONTCOPY | VmFlags::WIPEONFORK))
            .filter(|v| vma_needs_copy(v))
            .try_for_each(|v| {
                self.pgtable.copy_page_range(
                    &child.pgtable,
                    v.start,
                    v.end,
                    v.flags,
                    has_pinned,
                    &mut st,
                )
            });
        self.shared.write_protect_seq_bump();
        if st.huge_zero {
            // copy_huge_pmd(): mm_get_huge_zero_folio(dst_mm). It exists: we map it.
            let got = self
                .phys
                .pages
                .mm_get_huge_zero_folio(&self.phys.ram)
                .is_some();
            child.huge_zero_ref.store(got, Ordering::Release);
        }
        self.stats
            .local()
            .fork_wrprotected
            .fetch_add(st.wrprotected, Ordering::Relaxed);
        self.stats
            .local()
            .fork_copies
            .fetch_add(st.copied, Ordering::Relaxed);
        let parent_tlb = std::mem::take(&mut st.parent_tlb);
        self.tlb_finish_mmu(parent_tlb);
        // dup_mmap()'s flush_tlb_mm(oldmm) before mmap_write_unlock(oldmm): no hart may
        // still hold a writable translation of a page just write-protected once the
        // parent's mmap_lock is free again. Otherwise a write fault of another thread
        // (or a FOLL_WRITE GUP) could copy the page for COW while a third thread still
        // stores into the old copy through its stale TLB entry, and those stores would
        // be lost (gupfastrace lost counter increments and T3's writes that way).
        self.flush_gather_posted();
        r.map(|()| child)
    }

    /// `mm_set_has_pinned_flag()`: records that a page of this address space was pinned
    /// with `FOLL_PIN` (`MMF_HAS_PINNED`). From then on fork copies possibly pinned
    /// exclusive anonymous pages instead of sharing them (`folio_needs_cow_for_dma()`).
    /// Never cleared, as in Linux.
    pub fn set_has_pinned_flag(&self) {
        self.shared.set_has_pinned();
    }

    /// Whether `MMF_HAS_PINNED` is set.
    pub fn has_pinned(&self) -> bool {
        self.shared.has_pinned()
    }

    /// The state lockless walkers share with this address space.
    pub fn shared(&self) -> &Arc<MmShared> {
        &self.shared
    }
}

/// `vma_needs_copy()` (`mm/memory.c`): whether fork must copy a VMA's page-table entries.
/// A shared mapping of a file or shmem object (no `anon_vma`: it can hold no private COW
/// copies) without `VM_PFNMAP`/`VM_MIXEDMAP` and uffd-wp needs none — the child faults
/// its pages in from the object. Anonymous and private file VMAs are copied (this kernel
/// keeps no `anon_vma` to tell a private file VMA without COW copies apart).
fn vma_needs_copy(vma: &Vma) -> bool {
    vma.is_anonymous()
        || !vma.flags.contains(VmFlags::SHARED)
        || vma.flags.intersects(VmFlags::PFNMAP | VmFlags::MIXEDMAP)
}
