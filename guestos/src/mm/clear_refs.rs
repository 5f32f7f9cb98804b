//! The address-space side of `/proc/<pid>/clear_refs` (`clear_refs_write()`,
//! `clear_refs_test_walk()`, `clear_refs_pte_range()` in `fs/proc/task_mmu.c`;
//! `Documentation/admin-guide/mm/soft-dirty.rst`): [`Mm::clear_refs`]. The file itself
//! (parsing the number, finding the task) is [`crate::procfs`]'s.
//!
//! The walk per entry is [`super::PageTable::clear_refs_range`]; this module chooses the
//! VMAs, clears `VM_SOFTDIRTY` for type 4 and flushes the whole address space afterwards
//! (`flush_tlb_mm()`), so every hart walks again: under Svadu the walker sets A on the
//! next access (types 1–3), and a store through a write-protected entry takes the write
//! fault that sets the soft-dirty bit again (type 4).

use super::pgtable::ClearRefs;
use super::vma::VmFlags;
use super::{Mm, TlbFlushRange};

/// `enum clear_refs_types`: the number written to `clear_refs`, Linux's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearRefsType {
    /// `CLEAR_REFS_ALL` (1): the accessed bits of every page.
    All = 1,
    /// `CLEAR_REFS_ANON` (2): of anonymous pages only (VMAs without a file; shared
    /// anonymous memory is a shmem file in Linux, so it is skipped too).
    Anon = 2,
    /// `CLEAR_REFS_MAPPED` (3): of file-backed pages only (shared anonymous included).
    Mapped = 3,
    /// `CLEAR_REFS_SOFT_DIRTY` (4): the soft-dirty bits, write-protecting the PTEs, and
    /// `VM_SOFTDIRTY` of every VMA.
    SoftDirty = 4,
    /// `CLEAR_REFS_MM_HIWATER_RSS` (5): reset the peak RSS (`reset_mm_hiwater_rss()`).
    MmHiwaterRss = 5,
}

impl ClearRefsType {
    /// The type numbered `n`, or `None` outside `CLEAR_REFS_ALL..CLEAR_REFS_LAST`.
    pub fn from_number(n: i64) -> Option<Self> {
        Some(match n {
            1 => ClearRefsType::All,
            2 => ClearRefsType::Anon,
            3 => ClearRefsType::Mapped,
            4 => ClearRefsType::SoftDirty,
            5 => ClearRefsType::MmHiwaterRss,
            _ => return None,
        })
    }
}

/// What [`Mm::clear_refs`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClearRefsResult {
    /// Page-table entries changed (A cleared, or soft-dirty and `W` cleared).
    pub entries: u64,
    /// VMAs that lost `VM_SOFTDIRTY`.
    pub vmas: u64,
}

impl Mm {
    /// `clear_refs_write()`'s work once the address space is held with the write side of
    /// its `mmap_lock` (`mmap_write_lock_killable()`: Linux ≥ 5.11 takes the write side
    /// for every type, since write-protecting PTEs must exclude GUP-fast's `FOLL_WRITE`
    /// users and concurrent faults; commit 29a951dfb3c3, "mm: fix clear_refs_write
    /// locking"). Returns what changed.
    ///
    /// - Types 1–3: [`ClearRefs::Young`] over every VMA `clear_refs_test_walk()` keeps
    ///   (never `VM_PFNMAP`; type 2 skips VMAs with a file, type 3 those without).
    /// - Type 4: `VM_SOFTDIRTY` cleared on every VMA (`vma_set_page_prot()` follows from
    ///   the flags here: [`super::pgtable::vm_get_page_prot`]), then
    ///   [`ClearRefs::SoftDirty`] over every VMA but `VM_PFNMAP` ones.
    /// - Type 5: `reset_mm_hiwater_rss()`: `/proc/<pid>/status`'s `VmHWM` drops to the
    ///   RSS now ([`Mm::reset_hiwater_rss`]).
    ///
    /// Every changed entry is flushed from every hart with the whole address space
    /// (`flush_tlb_mm()`), for types 1–3 too: Linux ≥ 5.11 flushes only for type 4 and
    /// lets a translation cached with A set hide accesses until it is evicted; Linux up
    /// to 5.10 flushed for every type, which is what makes the hardware's A updates
    /// observable right after, as here. The flush is carried out before this returns
    /// ([`Mm::flush_gather_posted`]) when the caller has a shootdown, else it waits in
    /// the calling path's gather.
    pub fn clear_refs(&mut self, ty: ClearRefsType) -> ClearRefsResult {
        let mut result = ClearRefsResult::default();
        if ty == ClearRefsType::MmHiwaterRss {
            self.reset_hiwater_rss();
            return result;
        }
        let op = if ty == ClearRefsType::SoftDirty {
            ClearRefs::SoftDirty
        } else {
            ClearRefs::Young
        };
        if op == ClearRefs::SoftDirty {
            let starts: Vec<u64> = self
                .vmas
                .iter()
                .filter(|v| v.flags.contains(VmFlags::SOFTDIRTY))
                .map(|v| v.start)
                .collect();
            for start in starts {
                if let Some(v) = self.vmas.get_mut(start) {
                    v.flags.remove(VmFlags::SOFTDIRTY);
                    result.vmas += 1;
                }
            }
        }
        let has_pinned = self.shared.has_pinned();
        let mut tlb = self.tlb_gather_mmu();
        for vma in self.vmas.iter() {
            // clear_refs_test_walk()
            if vma.flags.contains(VmFlags::PFNMAP) {
                continue;
            }
            let has_file =
                !vma.is_anonymous() || vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE);
            if (ty == ClearRefsType::Anon && has_file) || (ty == ClearRefsType::Mapped && !has_file)
            {
                continue;
            }
            result.entries += self
                .pgtable
                .clear_refs_range(vma.start, vma.end, op, vma.flags, has_pinned, &mut tlb);
        }
        self.tlb_finish_mmu(tlb);
        // flush_tlb_mm()
        self.with_gather(|g| g.flush.range = TlbFlushRange::All);
        self.flush_gather_posted();
        result
    }
}
