//! Memory management: physical pages, page tables in guest RAM, VMAs, page faults, the mm
//! system calls and kernel access to user memory.
//!
//! Read it next to Linux: [`page_alloc`] is `mm/page_alloc.c` + `struct page`, [`pgtable`]
//! is the page-table half of `mm/memory.c` (plus `change_protection()` and `move_ptes()`),
//! [`vma`] is `mm/vma.c`, [`fault`] is `handle_mm_fault()` and the riscv `do_page_fault()`,
//! [`mmap`] is `mm/mmap.c`, `mm/mprotect.c`, `mm/mremap.c` and `mm/madvise.c`, [`fork`]
//! is `dup_mmap()` (`kernel/fork.c`) with `copy_page_range()`, [`huge_memory`] is the
//! fault side of `mm/huge_memory.c` (transparent huge pages), and [`uaccess`] is
//! `copy_{to,from}_user`.
//!
//! # What the kernel calls
//! - Boot: `PhysMem::new(ram)` (or `PhysMem::with_reserved`), shared as `Arc<PhysMem>` by every address
//!   space and by the harts (which walk the same guest RAM).
//! - Exec: `Mm::new(phys, mode, ad, asid)`, then [`Mm::map_region`] /
//!   [`Mm::write_region`] for the segments and bss, [`Mm::setup_stack`] for the stack,
//!   [`Mm::init_brk`] for the heap; load `satp` from [`Mm::satp`] on the harts.
//! - A hart's page-fault exit: [`Mm::do_page_fault`]; `Err` is the signal to deliver or
//!   the OOM killer to run ([`UserFaultError`]).
//! - System calls: `do_mmap`/`sys_mmap`, `do_munmap`, `mprotect`, `madvise`, `brk`,
//!   `mremap` (in [`mmap`]); `copy_{to,from}_user` through [`crate::UserAccess`].
//! - After every syscall or fault: [`Mm::take_tlb_flush`], and issue `sfence.vma` (and an
//!   instruction-cache flush if asked) on the harts running this address space.
//! - Fork: `child = parent.dup_mmap(new_asid)?` ([`Mm::dup_mmap`]), then drain the
//!   **parent's** [`Mm::take_tlb_flush`] and `sfence.vma` its ASID before it runs again
//!   (its private pages just became read-only); the child loads [`Mm::satp`] of its own
//!   `Mm`. Later write faults on either side are ordinary [`Mm::do_page_fault`]s.
//! - Exit: drop the `Mm` (or [`Mm::exit_mmap`]); every page table returns to the
//!   allocator, and every page whose last mapping this was (the other side of a fork may
//!   still map it). A task that stays behind as a zombie calls [`Mm::release`] instead,
//!   which does the same and leaves a dead `Mm` ([`Mm::is_dead`]) in the task.
//! - Exec in a forked process: drop the old `Mm` and build a new one as above.

pub mod clear_refs;
pub mod events;
pub mod fault;
pub mod fork;
pub mod gup;
pub mod gup_test;
pub mod huge_memory;
pub mod hugetlb;
pub mod khugepaged;
pub mod madvise;
pub mod mincore;
pub mod mm_struct;
pub mod mmap;
pub mod mte;
pub mod page_alloc;
pub mod pgtable;
pub mod rmap;
pub mod swapfile;
pub mod uaccess;
pub mod userfaultfd;
pub mod vma;
pub mod vmscan;

#[cfg(test)]
mod filemap_tests;
#[cfg(test)]
mod gup_test_tests;
#[cfg(test)]
mod gup_tests;
#[cfg(test)]
mod hugetlb_tests;
#[cfg(test)]
mod shmem_tests;
#[cfg(test)]
mod smp_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod thp_tests;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use devices::{GuestMemory, PAGE_SIZE};
use mmu::{AdScheme, MmuCounters, Satp, SatpMode};

use crate::sync::Mutex;

pub use events::{EventCounter, KernelEventCounts, KernelEvents};
pub use fault::{mm_fault_error, FaultFlags, UserFaultError, VmFault};
pub use gup::{FastView, FollFlags, GupFastMm, GupGeneration, MmapReadGuard};
pub use mm_struct::{MmGrab, MmStruct, MmUsers, MmapWriteLock};
pub use page_alloc::{
    Page, PageAlloc, PageAllocAudit, PageAllocError, PageFlags, Pfn, SplitError, ThpStats,
    GUP_PIN_COUNTING_BIAS, HPAGE_PMD_NR, HPAGE_PMD_ORDER, HPAGE_PMD_SIZE, HPAGE_PUD_NR,
    HPAGE_PUD_ORDER, HPAGE_PUD_SIZE, MAX_PAGE_ORDER,
};
pub use pgtable::{ForkCopy, MmuGather, PageTable, PteSlot};
pub use rmap::{FileVmaRange, MmRmap};
pub use vma::{FMode, MappedFile, MmapOp, VmFlags, Vma, VmaBacking, VmaTree};

use crate::errno::{Errno, KResult};

/// `stack_guard_gap`: 256 pages kept free below a `VM_GROWSDOWN` VMA.
pub const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// The default `RLIMIT_STACK` soft limit (8 MiB), the most a stack may grow to.
pub const DEFAULT_STACK_RLIMIT: u64 = 8 << 20;
/// `vm.mmap_min_addr`: Debian's 65536 (the kernel default is 4096). Static riscv64
/// binaries link at 0x10000, exactly this.
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// `MIN_GAP` of `mm/util.c mmap_base()`: at least 128 MiB between the stack top and
/// `mmap_base`.
const MMAP_MIN_GAP: u64 = 128 << 20;

/// Rounds `x` up to a page boundary (`PAGE_ALIGN`), `None` on overflow.
#[inline]
pub fn page_align(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// Whether `x` is a multiple of the page size (`PAGE_ALIGNED`).
#[inline]
pub fn page_aligned(x: u64) -> bool {
    x.is_multiple_of(PAGE_SIZE)
}

/// Something that can give frames back when an allocation finds none free: Linux's
/// shrinkers, called from direct reclaim (`__alloc_pages_direct_reclaim()` →
/// `shrink_node()`). The page cache is the one this kernel has.
pub trait Reclaim: Send + Sync {
    /// Frees up to `nr_pages` frames that nothing but the reclaimer itself references;
    /// returns how many it freed. Must not block on a lock the allocating caller may hold
    /// (use `try_lock`).
    fn reclaim(&self, nr_pages: u64) -> u64;
}

/// Shmem's internal mount (`shm_mnt`), as mm reaches it: `shmem_zero_setup()` gives a
/// `MAP_SHARED|MAP_ANONYMOUS` mapping (and a shared mapping of `/dev/zero`) its own shmem
/// object, so that the mapping is a shared file mapping whose pages live in that
/// object's page cache (faulted in by `shmem_fault()`) and survive fork shared without
/// copying PTEs. The file system registers it ([`PhysMem::set_shm_mnt`]).
pub trait ShmMnt: Send + Sync {
    /// `shmem_kernel_file_setup("dev/zero", size, ...)`: a new shmem file of
    /// `size_bytes` bytes (zeros), in no directory, shown in `/proc/<pid>/maps` as
    /// `/dev/zero (deleted)`.
    ///
    /// # Errors
    /// `ENOMEM` when it cannot be made (a size past the file system's limits).
    fn shmem_zero_setup(&self, size_bytes: u64) -> KResult<Arc<dyn MappedFile>>;
}

/// Guest physical memory as the kernel manages it: the RAM and its frame allocator.
pub struct PhysMem {
    /// Guest RAM (page tables, user pages and everything else live here).
    pub ram: GuestMemory,
    /// The frame allocator and `struct page` table over `ram`.
    pub pages: PageAlloc,
    /// Direct reclaim, registered once by the page cache ([`PhysMem::set_reclaim`]).
    reclaim: OnceLock<Weak<dyn Reclaim>>,
    /// `shm_mnt`, registered once by the file system ([`PhysMem::set_shm_mnt`]).
    shm_mnt: OnceLock<Weak<dyn ShmMnt>>,
    /// Lockless page-table walkers in progress and the page-table pages waiting for them
    /// (see [`PhysMem::gup_fast_begin`]).
    pt_walkers: AtomicUsize,
    pt_deferred: Mutex<Vec<Pfn>>,
    /// The machine-wide THP policy (`/sys/kernel/mm/transparent_hugepage/`).
    pub thp: huge_memory::ThpSettings,
    /// The swap area, set once at boot by `--swap` (`swapon`); none without it.
    swap: OnceLock<Arc<swapfile::SwapInfo>>,
    /// The address spaces reclaim walks (`lru_gen_mm_list`), see [`vmscan`].
    mm_list: vmscan::MmList,
}

/// A lockless page-table walk in progress ([`PhysMem::gup_fast_begin`]); ending it (drop)
/// frees the page-table pages unlinked meanwhile once no walk is left.
#[derive(Debug)]
pub struct LocklessWalk<'p>(&'p PhysMem);

impl Drop for LocklessWalk<'_> {
    fn drop(&mut self) {
        if self.0.pt_walkers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.reclaim_pgtables();
        }
    }
}

impl std::fmt::Debug for PhysMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhysMem")
            .field("ram", &self.ram)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

/// Frames direct reclaim tries to free when an allocation fails (`SWAP_CLUSTER_MAX`).
const RECLAIM_BATCH: u64 = 32;

/// Rounds of direct reclaim an allocation makes while each frees something, before it
/// fails (`MAX_RECLAIM_RETRIES`).
const MAX_RECLAIM_RETRIES: u32 = 16;

impl PhysMem {
    /// Takes ownership of `ram` and manages all of it.
    ///
    /// # Errors
    /// [`PageAllocError::NoFrames`] if RAM has fewer than two frames.
    pub fn new(ram: GuestMemory) -> Result<Self, PageAllocError> {
        Self::with_reserved(ram, 0)
    }

    /// Takes ownership of `ram` and manages every frame above its lowest `reserved_bytes`
    /// (left to firmware or a boot image).
    ///
    /// # Errors
    /// [`PageAllocError`] if the reservation is unaligned or leaves no frames.
    pub fn with_reserved(ram: GuestMemory, reserved_bytes: u64) -> Result<Self, PageAllocError> {
        let pages = PageAlloc::new(&ram, reserved_bytes)?;
        Ok(Self {
            ram,
            pages,
            reclaim: OnceLock::new(),
            shm_mnt: OnceLock::new(),
            pt_walkers: AtomicUsize::new(0),
            pt_deferred: Mutex::new(Vec::new()),
            thp: huge_memory::ThpSettings::default(),
            swap: OnceLock::new(),
            mm_list: vmscan::MmList::default(),
        })
    }

    /// Starts a lockless page-table walk (`gup_fast()`'s `local_irq_save()`): until the
    /// returned guard is dropped, no page-table page unlinked from any address space is
    /// freed ([`PhysMem::free_pgtable`] defers it), so the walk never reads a table that
    /// was freed and reused — what disabled interrupts (holding off the TLB-shootdown IPI)
    /// or RCU table freeing guarantee in Linux. A simple reader count with a deferred list:
    /// the list is freed as soon as no walk is in progress, which keeps frees immediate
    /// (and runs deterministic) when nobody walks, unlike an epoch scheme's eventual
    /// collection.
    pub fn gup_fast_begin(&self) -> LocklessWalk<'_> {
        self.pt_walkers.fetch_add(1, Ordering::SeqCst);
        // Dekker with free_pgtable(): our count before our first table load, its
        // unlinking store before its count load.
        std::sync::atomic::fence(Ordering::SeqCst);
        LocklessWalk(self)
    }

    /// `pte_free()` / `tlb_remove_table()` of a page-table page already unlinked from its
    /// parent entry (and out of every TLB): freed now if no lockless walk is in progress,
    /// else when the last one ends.
    pub fn free_pgtable(&self, pfn: Pfn) {
        if let Some(p) = self.pages.page(pfn) {
            p.clear(PageFlags::PGTABLE);
        }
        self.pt_deferred.lock().push(pfn);
        // The caller's unlinking store is ordered before this load (see gup_fast_begin).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.pt_walkers.load(Ordering::SeqCst) == 0 {
            self.reclaim_pgtables();
        }
    }

    /// Page-table pages waiting for lockless walks to end.
    pub fn deferred_pgtables(&self) -> usize {
        self.pt_deferred.lock().len()
    }

    fn reclaim_pgtables(&self) {
        let freed = std::mem::take(&mut *self.pt_deferred.lock());
        for pfn in freed {
            self.pages.put_page(&self.ram, pfn);
        }
    }

    /// Registers shmem's internal mount (the file system does this when it is made with
    /// a page cache in this memory). Only the first registration counts; returns whether
    /// this one did.
    pub fn set_shm_mnt(&self, m: Weak<dyn ShmMnt>) -> bool {
        self.shm_mnt.set(m).is_ok()
    }

    /// `shmem_zero_setup()`: the shmem object of a new shared anonymous mapping of
    /// `size_bytes` bytes ([`ShmMnt::shmem_zero_setup`]).
    ///
    /// # Errors
    /// `ENOMEM` without a registered [`ShmMnt`] (no file system in this memory) or when
    /// the object cannot be made.
    pub fn shmem_zero_setup(&self, size_bytes: u64) -> KResult<Arc<dyn MappedFile>> {
        let shm = self
            .shm_mnt
            .get()
            .and_then(Weak::upgrade)
            .ok_or(Errno::ENOMEM)?;
        shm.shmem_zero_setup(size_bytes)
    }

    /// `copy_user_highpage()` / `copy_user_large_folio()`: copies `bytes` from frame
    /// `src` on into the new folio `new` (counted in `page_copies`). On failure (a range
    /// outside RAM: cannot happen for managed frames) `new` is put and `false` returned.
    pub fn copy_to_new_folio(&self, src: Pfn, new: Pfn, bytes: u64) -> bool {
        self.pages.events.page_copies.inc();
        if self.ram.copy_within(src.pa(), new.pa(), bytes).is_err() {
            self.put_page(new);
            return false;
        }
        true
    }

    /// Registers the reclaimer [`PhysMem::alloc_page`] calls when no frame is free (the
    /// page cache does this when it is created). Only the first registration counts;
    /// returns whether this one did.
    pub fn set_reclaim(&self, r: Weak<dyn Reclaim>) -> bool {
        self.reclaim.set(r).is_ok()
    }

    /// `swapon`: makes `si` the machine's swap area. Returns `false` (and changes
    /// nothing) if one is set already.
    pub fn set_swap(&self, si: Arc<swapfile::SwapInfo>) -> bool {
        self.swap.set(si).is_ok()
    }

    /// The swap area, if the machine has one (`--swap`).
    pub fn swap(&self) -> Option<&Arc<swapfile::SwapInfo>> {
        self.swap.get()
    }

    /// `alloc_page()`, see [`PageAlloc::alloc_page`]. When no frame is free, direct
    /// reclaim asks the registered [`Reclaim`]er (the page cache: clean, unmapped pages
    /// first, then dirty ones after writing them back) for a batch, and if it found none
    /// and there is swap, pages anonymous memory out ([`PhysMem::shrink_anon`]), then
    /// tries again — for as long as reclaim makes progress, at most
    /// [`MAX_RECLAIM_RETRIES`] rounds — as `__alloc_pages_slowpath()` does before giving
    /// up.
    pub fn alloc_page(&self, zeroed: bool) -> Option<Pfn> {
        if let Some(pfn) = self.pages.alloc_page(&self.ram, zeroed) {
            return Some(pfn);
        }
        // should_reclaim_retry(): another hart may take the frames a round freed before
        // this one gets to them, so reclaim goes on while it makes progress, at most
        // MAX_RECLAIM_RETRIES rounds.
        for _ in 0..MAX_RECLAIM_RETRIES {
            // The page cache's clean pages first (cheap to drop), then anonymous pages to
            // swap (shrink_lruvec()'s two lists, without swappiness).
            let file = self
                .reclaim
                .get()
                .and_then(Weak::upgrade)
                .map_or(0, |r| r.reclaim(RECLAIM_BATCH));
            if file == 0 && self.shrink_anon(RECLAIM_BATCH) == 0 {
                return None;
            }
            if let Some(pfn) = self.pages.alloc_page(&self.ram, zeroed) {
                return Some(pfn);
            }
        }
        None
    }

    /// `get_page()`, see [`PageAlloc::get_page`].
    pub fn get_page(&self, pfn: Pfn) {
        self.pages.get_page(pfn)
    }

    /// `put_page()`, see [`PageAlloc::put_page`].
    pub fn put_page(&self, pfn: Pfn) {
        self.pages.put_page(&self.ram, pfn)
    }

    /// The kernel-primitive event counters ([`events`]): take a
    /// [`KernelEvents::snapshot`] before and after some kernel work and price the
    /// difference with [`KernelEventCounts::cycles`].
    pub fn events(&self) -> &KernelEvents {
        &self.pages.events
    }
}

/// Which translations must be invalidated (`sfence.vma` forms, *Priv §"SFENCE.VMA"*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlbFlushRange {
    /// Nothing changed.
    #[default]
    None,
    /// Leaf translations of `[start, end)` in this ASID changed: `sfence.vma va, asid` for
    /// each page (or the whole ASID if that is cheaper).
    Range {
        /// First address.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// Non-leaf entries changed (page tables freed) or too much to list:
    /// `sfence.vma x0, asid`.
    All,
}

/// The pending invalidation an operation left behind, drained by the kernel with
/// [`Mm::take_tlb_flush`] after each system call or fault (the TLB-shootdown point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlbFlush {
    /// TLB entries to invalidate for this address space's ASID, on every hart that may
    /// cache it (a shootdown).
    pub range: TlbFlushRange,
    /// Entries only the hart that drains the flush invalidates (`update_mmu_cache()`,
    /// riscv Linux's `local_flush_tlb_page()`): a PTE that went from none to present. No
    /// other hart can hold a translation for it — the walker caches only successful walks
    /// (`mmu::tlb`) — and a hart that had cached the invalid entry would take a spurious
    /// fault and flush it itself (`flush_tlb_fix_spurious_fault()`), so sending every
    /// other hart an IPI for each fault (as this kernel did) buys nothing.
    pub local: TlbFlushRange,
    /// An executable mapping was created, removed or changed, or the kernel wrote into an
    /// executable page: flush the harts' decoded-instruction caches too (riscv Linux's
    /// `flush_icache_pte()`).
    pub icache: bool,
}

impl TlbFlush {
    /// Whether there is nothing to do.
    pub fn is_none(&self) -> bool {
        self.range == TlbFlushRange::None && self.local == TlbFlushRange::None && !self.icache
    }

    /// Whether other harts have anything to do (a shootdown is needed).
    pub fn needs_shootdown(&self) -> bool {
        self.range != TlbFlushRange::None || self.icache
    }

    /// What other harts must do: everything but the local entries.
    pub fn remote(&self) -> TlbFlush {
        TlbFlush {
            local: TlbFlushRange::None,
            ..*self
        }
    }

    /// Adds everything `other` asks for.
    fn merge(&mut self, other: TlbFlush) {
        self.range.merge(other.range);
        self.local.merge(other.local);
        self.icache |= other.icache;
    }
}

impl TlbFlushRange {
    /// Adds everything `other` covers.
    fn merge(&mut self, other: TlbFlushRange) {
        match other {
            TlbFlushRange::None => {}
            TlbFlushRange::All => *self = TlbFlushRange::All,
            TlbFlushRange::Range { start, end } => self.add(start, end),
        }
    }

    /// Adds `[start, end)`.
    pub(crate) fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        *self = match *self {
            TlbFlushRange::None => TlbFlushRange::Range { start, end },
            TlbFlushRange::Range { start: s, end: e } => TlbFlushRange::Range {
                start: s.min(start),
                end: e.max(end),
            },
            TlbFlushRange::All => TlbFlushRange::All,
        };
    }
}

macro_rules! mm_stats {
    ($( $(#[doc = $doc:literal])* $name:ident, )*) => {
        /// Event counts of one address space (for reports and tests): a snapshot of
        /// [`MmCounters`].
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct MmStats {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        /// The live counters behind [`MmStats`]: one block of relaxed atomics per hart
        /// (and one for threads that are no hart's), each block on cache lines of its
        /// own, so that faults of several harts under the read side of the `mmap_lock`
        /// count at once without pulling one line back and forth — as Linux's per-mm
        /// `rss_stat` are per-CPU counters (6.2+) and its fault events
        /// `count_vm_event()`s, per-CPU too. Count through [`MmCounters::local`]; a
        /// [`MmCounters::snapshot`] adds the blocks up.
        #[derive(Debug)]
        pub struct MmCounters {
            cpus: Box<[MmCounterBlock]>,
        }

        /// One hart's block of [`MmCounters`].
        #[derive(Debug, Default)]
        #[repr(align(64))]
        pub struct MmCounterBlock {
            $( $(#[doc = $doc])* pub $name: AtomicU64, )*
        }

        impl Default for MmCounters {
            fn default() -> Self {
                Self {
                    // One block per hart the machines of this process have (sized at
                    // 65 for any run, they were 8 KiB an address space), and the
                    // shared one.
                    cpus: (0..=crate::percpu::nr_cpu_ids())
                        .map(|_| MmCounterBlock::default())
                        .collect(),
                }
            }
        }

        impl MmCounters {
            /// The calling hart's block (`this_cpu_ptr()`); threads that are no hart's,
            /// and harts beyond the blocks, share the last one.
            #[inline]
            pub fn local(&self) -> &MmCounterBlock {
                let last = self.cpus.len() - 1;
                &self.cpus[crate::percpu::this_cpu_slot().min(last)]
            }

            /// The counts now: every hart's block added up (`percpu_counter_sum()`).
            pub fn snapshot(&self) -> MmStats {
                let mut st = MmStats::default();
                for b in self.cpus.iter() {
                    $( st.$name += b.$name.load(Ordering::Relaxed); )*
                }
                st
            }
        }
    };
}

mm_stats! {
    /// Calls to `handle_mm_fault` that reached a VMA.
    faults,
    /// Faults that failed (signal, OOM, or `EFAULT` for the kernel).
    bad_faults,
    /// New anonymous pages allocated by faults.
    anon_pages,
    /// Read faults served by mapping the shared zero page.
    zero_page_maps,
    /// Write-protect faults that reused the page (`wp_page_reuse`).
    wp_reuse,
    /// Write-protect faults that copied (`wp_page_copy`), including zero-page replacement.
    wp_copy,
    /// Faults on a PTE that already allowed the access, after setting A/D under Svade or
    /// on a stale TLB entry (`handle_pte_fault`'s spurious path).
    spurious,
    /// Times a `VM_GROWSDOWN` stack grew on a fault.
    stack_expansions,
    /// PTEs this address space lost `W` on when it forked (made copy-on-write).
    fork_wrprotected,
    /// Possibly pinned pages copied for a child at fork (`copy_present_page()`).
    fork_copies,
    /// Page-cache pages mapped by faults on file VMAs (`do_read_fault()`,
    /// `do_shared_fault()`).
    file_maps,
    /// Private copies of page-cache pages made by write faults on private file VMAs
    /// (`do_cow_fault()`, and `wp_page_copy()` of a mapped page-cache page).
    file_cow,
    /// Transparent huge pages allocated and mapped by a PMD at a fault
    /// (`thp_fault_alloc`), including writes to the huge zero folio.
    thp_fault_alloc,
    /// Faults that wanted a huge page and fell back to 4 KiB pages (`thp_fault_fallback`).
    thp_fault_fallback,
    /// Read faults served by mapping the huge zero folio.
    huge_zero_maps,
    /// Huge PMDs split into page tables in this address space (`thp_split_pmd`).
    thp_split_pmd,
    /// hugetlb pages mapped by first-touch faults (`hugetlb_no_page()`).
    hugetlb_faults,
    /// Pages of this address space written to swap (`pswpout`).
    swap_outs,
    /// Faults that read a page back from swap (`do_swap_page()`: major faults,
    /// `pgmajfault`).
    swap_ins,
}

/// Counts one event in an [`MmCounters`] field.
#[inline]
pub(crate) fn count_event(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The parts of an address space that lockless walkers (`gup_fast()`) read while the
/// owner changes the rest: `mm->write_protect_seq` and `MMF_HAS_PINNED`.
#[derive(Debug, Default)]
pub struct MmShared {
    /// `write_protect_seq`: odd while `dup_mmap()` write-protects the parent's anonymous
    /// PTEs (`copy_page_range()` → `raw_write_seqcount_begin/end`).
    write_protect_seq: AtomicU64,
    /// `MMF_HAS_PINNED`: a page of this address space was ever pinned (`FOLL_PIN`).
    has_pinned: AtomicBool,
    /// `gup_fast()` calls that gave back their pins because a fork overlapped them.
    fork_races: AtomicU64,
    /// The tagged-address control kernel accesses untag user pointers with (riscv's
    /// `mm->context.pmlen`): the last `PR_SET_TAGGED_ADDR_CTRL` of a thread of this
    /// address space, readable without the `mmap_lock`.
    tagged_addr_ctrl: AtomicU64,
}

impl MmShared {
    /// `raw_read_seqcount()`.
    pub fn write_protect_seq(&self) -> u64 {
        self.write_protect_seq.load(Ordering::Acquire)
    }

    /// `raw_write_seqcount_begin()` / `_end()`: bumps the count (odd = a write-protect in
    /// progress).
    pub(crate) fn write_protect_seq_bump(&self) {
        self.write_protect_seq.fetch_add(1, Ordering::SeqCst);
    }

    /// `read_seqcount_retry()` of a value sampled by [`MmShared::write_protect_seq`].
    pub fn write_protect_seq_retry(&self, seq: u64) -> bool {
        self.write_protect_seq.load(Ordering::SeqCst) != seq
    }

    /// `gup_fast()` calls that unpinned everything because a fork overlapped them.
    pub fn fork_races(&self) -> u64 {
        self.fork_races.load(Ordering::Relaxed)
    }

    pub(crate) fn count_fork_race(&self) {
        self.fork_races.fetch_add(1, Ordering::Relaxed);
    }

    /// `test_bit(MMF_HAS_PINNED)`.
    pub fn has_pinned(&self) -> bool {
        self.has_pinned.load(Ordering::Acquire)
    }

    /// `mm_set_has_pinned_flag()`.
    pub fn set_has_pinned(&self) {
        self.has_pinned.store(true, Ordering::Release);
    }

    /// The tagged-address control kernel accesses to this address space use.
    pub fn tagged_addr_ctrl(&self) -> mte::TaggedAddrCtrl {
        mte::TaggedAddrCtrl::from_raw(self.tagged_addr_ctrl.load(Ordering::Relaxed))
    }

    /// Sets it (`PR_SET_TAGGED_ADDR_CTRL`, and fork's copy).
    pub fn set_tagged_addr_ctrl(&self, ctrl: mte::TaggedAddrCtrl) {
        self.tagged_addr_ctrl.store(ctrl.bits(), Ordering::Relaxed);
    }
}

/// One address space (Linux `struct mm_struct`).
#[derive(Debug)]
pub struct Mm {
    phys: Arc<PhysMem>,
    pgtable: PageTable,
    ad: AdScheme,
    asid: u16,
    vmas: VmaTree,
    task_size: u64,
    mmap_base: u64,
    mmap_min_addr: u64,
    start_brk: u64,
    brk: u64,
    stack_start: u64,
    stack_top: u64,
    stack_rlimit: u64,
    /// `mm->tlb_flush_pending`: zappers of this address space between
    /// [`Mm::tlb_gather_mmu`] and the end of their shootdown (the drop of the
    /// [`TlbBatch`] that carried their gather). The maintenance itself and the frames
    /// waiting for it belong to the kernel path that recorded them (its gather, see
    /// [`Mm::take_tlb_batch`]): nothing here is written per fault.
    tlb_flush_pending: Arc<AtomicU32>,
    /// Whether a hart may have loaded this address space (it was shared as an
    /// [`MmStruct`]): frames its operations unmap are then freed only after the
    /// shootdown ([`Mm::take_tlb_batch`]); before, at once.
    defer_frees: AtomicBool,
    uaccess_mmu: Mutex<MmuCounters>,
    stats: MmCounters,
    /// What lockless walkers share with the owner: `write_protect_seq`,
    /// `MMF_HAS_PINNED`.
    shared: Arc<MmShared>,
    /// `MMF_HUGE_ZERO_PAGE`: this address space holds a reference on the huge zero folio.
    huge_zero_ref: AtomicBool,
    /// Which kernel generation's GUP rules apply (see [`gup::GupGeneration`]).
    gup_gen: GupGeneration,
    /// What the files this address space maps see of it (their `i_mmap` entries): the
    /// file VMAs and a second handle on the page table, for truncation and writeback
    /// started from another process. See [`rmap`].
    rmap: Arc<MmRmap>,
    /// Whether the last list published to `rmap` was non-empty.
    has_file_vmas: bool,
    /// `MMF_OOM_SKIP`: the OOM reaper has taken this address space's memory
    /// ([`Mm::oom_reap_task_mm`]); the OOM killer no longer considers it.
    oom_skip: AtomicBool,
    dead: bool,
    /// A number no other address space of this run has (see [`Mm::id`]).
    id: u64,
    /// `mm->hiwater_rss`: the peak resident set in 4 KiB pages that was recorded
    /// ([`Mm::update_hiwater_rss`]); `VmHWM` is the larger of it and the RSS now.
    hiwater_rss: AtomicU64,
    /// `mm->hiwater_vm`: the peak mapped size in 4 KiB pages that was recorded
    /// ([`Mm::update_hiwater_vm`]); `VmPeak` is the larger of it and the size now.
    hiwater_vm: AtomicU64,
    /// `mm->def_flags`: flags every new mapping gets (`VM_LOCKED`, `VM_LOCKONFAULT` after
    /// `mlockall(MCL_FUTURE)`); not inherited by a forked address space
    /// (`VM_INIT_DEF_MASK` keeps none of these).
    def_flags: VmFlags,
}

/// Source of [`Mm::id`]s.
static NEXT_MM_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Mm {
    /// `mm_alloc()` + `pgd_alloc()` + `arch_pick_mmap_layout()`: an empty address space
    /// with a fresh root table, paging `mode` (Sv39/Sv48), A/D scheme `ad` (must match the
    /// harts') and `asid`. The layout is Linux's top-down one without randomisation:
    /// `TASK_SIZE = 1 << (VA_BITS-1)`, the stack at `TASK_SIZE`, `mmap_base` 128 MiB below
    /// (`mmap_base()`'s `MIN_GAP`).
    ///
    /// # Errors
    /// `EINVAL` for `SatpMode::Bare`; `ENOMEM` if no frame is free for the root table.
    pub fn new(phys: Arc<PhysMem>, mode: SatpMode, ad: AdScheme, asid: u16) -> KResult<Self> {
        let pgtable = PageTable::new(Arc::clone(&phys), mode)?;
        let rmap = Arc::new(MmRmap::new(pgtable.alias()));
        let task_size = pgtable.user_top();
        let gap = (DEFAULT_STACK_RLIMIT + STACK_GUARD_GAP).clamp(MMAP_MIN_GAP, task_size / 6 * 5);
        Ok(Self {
            phys,
            pgtable,
            ad,
            asid,
            vmas: VmaTree::new(),
            task_size,
            mmap_base: task_size - gap,
            mmap_min_addr: MMAP_MIN_ADDR,
            start_brk: 0,
            brk: 0,
            stack_start: task_size,
            stack_top: task_size,
            stack_rlimit: DEFAULT_STACK_RLIMIT,
            tlb_flush_pending: Arc::new(AtomicU32::new(0)),
            defer_frees: AtomicBool::new(false),
            uaccess_mmu: Mutex::new(MmuCounters::default()),
            stats: MmCounters::default(),
            shared: Arc::new(MmShared::default()),
            huge_zero_ref: AtomicBool::new(false),
            gup_gen: GupGeneration::default(),
            rmap,
            has_file_vmas: false,
            oom_skip: AtomicBool::new(false),
            hiwater_rss: AtomicU64::new(0),
            hiwater_vm: AtomicU64::new(0),
            dead: false,
            id: NEXT_MM_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            def_flags: VmFlags::empty(),
        })
    }

    /// Records the `PR_SET_TAGGED_ADDR_CTRL` of a thread of this address space for
    /// [`Mm::untagged_addr`] (`untagged_addr_remote()`: an access from another process,
    /// which has no thread of this one to ask). riscv Linux keeps the PMLEN per `mm` the
    /// same way (`mm->context.pmlen`, copied by fork); unlike riscv (`EBUSY` once locked),
    /// the last thread to set it wins. The caller's own accesses (`copy_{to,from}_user`)
    /// follow the calling thread instead ([`mte::current_tagged_addr_ctrl`]).
    pub fn set_uaccess_tag_ctrl(&self, ctrl: mte::TaggedAddrCtrl) {
        self.shared.set_tagged_addr_ctrl(ctrl);
    }

    /// `untagged_addr_remote()`: `va` as accesses from another process see it.
    pub fn untagged_addr(&self, va: u64) -> u64 {
        self.shared.tagged_addr_ctrl().untagged_addr(va)
    }

    /// The `satp` value that selects this address space: mode, ASID, root PPN.
    pub fn satp(&self) -> Satp {
        Satp::new(self.pgtable.mode(), self.asid, self.pgtable.pgd().0)
    }

    /// The paging mode.
    pub fn mode(&self) -> SatpMode {
        self.pgtable.mode()
    }

    /// The A/D scheme the fault handler assumes.
    pub fn ad_scheme(&self) -> AdScheme {
        self.ad
    }

    /// Changes the A/D scheme (a run-time experiment knob: set it together with the
    /// harts').
    pub fn set_ad_scheme(&mut self, ad: AdScheme) {
        self.ad = ad;
    }

    /// The ASID.
    pub fn asid(&self) -> u16 {
        self.asid
    }

    /// The shared physical memory.
    pub fn phys(&self) -> &Arc<PhysMem> {
        &self.phys
    }

    /// The page table (read-only use: `follow_pte`, counting tables).
    pub fn page_table(&self) -> &PageTable {
        &self.pgtable
    }

    /// The VMAs.
    pub fn vmas(&self) -> &VmaTree {
        &self.vmas
    }

    /// `TASK_SIZE`: the first address above user space.
    pub fn task_size(&self) -> u64 {
        self.task_size
    }

    /// `mm->mmap_base`: top-down `mmap` allocations start below this.
    pub fn mmap_base(&self) -> u64 {
        self.mmap_base
    }

    /// `mm->start_brk`.
    pub fn start_brk(&self) -> u64 {
        self.start_brk
    }

    /// `mm->brk`, the current program break.
    pub fn current_brk(&self) -> u64 {
        self.brk
    }

    /// `(mm->start_stack, STACK_TOP)`: the stack VMA's initial start and its top.
    pub fn stack_bounds(&self) -> (u64, u64) {
        (self.stack_start, self.stack_top)
    }

    /// Sets the `RLIMIT_STACK` soft limit in bytes (how far the stack may grow).
    pub fn set_stack_rlimit(&mut self, bytes: u64) {
        self.stack_rlimit = bytes;
    }

    /// Sets `vm.mmap_min_addr` for this address space.
    pub fn set_mmap_min_addr(&mut self, addr: u64) {
        self.mmap_min_addr = addr;
    }

    /// MMU counters of the kernel's own accesses to user memory (`copy_{to,from}_user`
    /// walks through the hardware walker).
    pub fn uaccess_counters(&self) -> MmuCounters {
        *self.uaccess_mmu.lock()
    }

    /// Fault statistics.
    pub fn stats(&self) -> MmStats {
        MmStats {
            thp_split_pmd: self.pgtable.nr_split_pmds(),
            ..self.stats.snapshot()
        }
    }

    /// The live fault counters (see [`MmCounters`]).
    pub(crate) fn counters(&self) -> &MmCounters {
        &self.stats
    }

    /// Asks every hart that may run this address space to flush its decoded-instruction
    /// cache with the next TLB maintenance (`flush_icache_mm()`).
    pub fn request_icache_flush(&self) {
        self.with_gather(|g| g.flush.icache = true);
    }

    /// Runs `f` on the calling kernel path's gather of this address space: what it
    /// recorded since it last took a batch ([`Mm::take_tlb_batch`]). Linux keeps a
    /// zapper's `struct mmu_gather` on its stack and the fault path flushes for itself
    /// (`ptep_clear_flush()`, the per-CPU `update_mmu_cache()`); here the gather is
    /// thread-local per address space, which is the caller's stack as a hart thread
    /// serves one kernel path at a time. No other hart reads or writes it, so two harts
    /// faulting in one address space share no cache line through it.
    fn with_gather<R>(&self, f: impl FnOnce(&mut TlbBatch) -> R) -> R {
        GATHER.with(|g| {
            let mut g = g.borrow_mut();
            let i = match g.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    g.push((self.id, TlbBatch::default()));
                    g.len() - 1
                }
            };
            f(&mut g[i].1)
        })
    }

    /// `tlb_gather_mmu()`: starts a zap, unmap or protection change of this address
    /// space, counted in `mm->tlb_flush_pending` (`inc_tlb_flush_pending()`) until its
    /// shootdown is done; hand the gather to [`Mm::tlb_finish_mmu`]. A concurrent zapper
    /// that finds the PTEs already cleared by this one, and so gathers nothing to flush,
    /// sees the count and flushes the whole address space instead
    /// (`mm_tlb_flush_nested()`, see [`Mm::take_tlb_batch`]).
    pub(crate) fn tlb_gather_mmu(&self) -> MmuGather {
        self.tlb_flush_pending.fetch_add(1, Ordering::SeqCst);
        MmuGather {
            flush_pending: true,
            ..MmuGather::default()
        }
    }

    /// `mm_tlb_flush_pending()`: whether a zapper of this address space has changed PTEs
    /// whose shootdown is not done yet.
    pub fn mm_tlb_flush_pending(&self) -> bool {
        self.tlb_flush_pending.load(Ordering::SeqCst) > 0
    }

    /// From now on a hart may load this address space (the kernel shares it as an
    /// [`MmStruct`]): frames unmapped are freed only once the shootdown that drops their
    /// translations is done ([`Mm::take_tlb_batch`]).
    pub(crate) fn set_defer_frees(&self) {
        self.defer_frees.store(true, Ordering::Release);
    }

    /// Takes what the calling kernel path recorded for this address space (its gather:
    /// TLB/icache invalidation and the frames waiting for it), leaving none:
    /// `tlb_finish_mmu()`'s second half as the kernel runs it. Carry out
    /// [`TlbBatch::flush`] on every hart that may cache this ASID (the shootdown, waiting
    /// for the acknowledgements) and then drop the batch, which frees the pages and page
    /// tables (`tlb_flush_mmu_tlbonly()` before `tlb_batch_pages_flush()` /
    /// `tlb_remove_table()`) and ends this path's `tlb_flush_pending` count, so that no
    /// hart can still reach a frame that was reused. Only the path that recorded
    /// maintenance takes it: each path flushes its own changes before it returns to user
    /// mode, as Linux's do, and never waits for another's.
    ///
    /// If this path gathered a zap ([`Mm::tlb_gather_mmu`]) while another zapper of this
    /// address space had its shootdown pending, the flush becomes the whole address space
    /// (`tlb_finish_mmu()`'s `mm_tlb_flush_nested()` check): the other may have cleared
    /// PTEs in this path's range first, leaving this one nothing to gather, and this path
    /// must not return to user mode while its hart or another still translates them.
    ///
    /// This includes what file operations of any process (truncation, hole punching,
    /// writeback cleaning D bits) did to this address space's PTEs through its
    /// [`MmRmap`].
    pub fn take_tlb_batch(&self) -> TlbBatch {
        let (remote, remote_pages) = self.rmap.take_flush();
        let batch = GATHER.with(|g| {
            let mut g = g.borrow_mut();
            let i = g.iter().position(|(id, _)| *id == self.id)?;
            Some(g.swap_remove(i).1)
        });
        if batch.is_none() && remote.is_none() && remote_pages.is_empty() {
            return TlbBatch::default();
        }
        let mut batch = batch.unwrap_or_default();
        if batch.gathers > 0 && self.tlb_flush_pending.load(Ordering::SeqCst) > batch.gathers {
            batch.flush.range = TlbFlushRange::All;
        }
        batch.flush.merge(remote);
        batch.add_frames(&self.phys, remote_pages, Vec::new());
        batch
    }

    /// [`Mm::take_tlb_batch`] for a caller that knows no hart can still use the
    /// translations (a single-threaded test, an address space no hart has loaded): the
    /// frames are freed at once and the maintenance returned.
    pub fn take_tlb_flush(&self) -> TlbFlush {
        self.take_tlb_batch().finish()
    }

    /// The reverse-map handle files keep for this address space (`i_mmap` entries).
    pub fn rmap(&self) -> &Arc<MmRmap> {
        &self.rmap
    }

    /// `update_mmu_cache()` after the PTE of `va` went from none to present: only the
    /// hart that drains the flush invalidates it (see [`TlbFlush::local`]).
    pub(crate) fn update_mmu_cache(&self, va: u64) {
        self.with_gather(|g| g.flush.local.add(va, va + PAGE_SIZE));
    }

    /// `ptep_clear_flush()` (and `pmdp_huge_clear_flush()` for a huge PMD): clears the
    /// entry at `slot`, which maps `[va, va + size)`, if it is still `pte`
    /// (`pte_same()`: the caller holds its page-table lock) and flushes its translation
    /// from every hart before it returns — the other harts acknowledged it, this one (in
    /// the kernel) applies it before it goes back to user mode ([`TlbShootdown`]). The
    /// caller may then make the PTE point to another page and free the old one at once:
    /// no hart can still reach the old page through this PTE while another reaches the
    /// new one (break-before-make; `wp_page_copy()`'s "Clear the pte entry and flush it
    /// first, before updating the pte with the new entry, to keep TLBs on different CPUs
    /// in sync"). Returns `None` if the PTE changed (nothing done), `Some(true)` if the
    /// flush is complete, `Some(false)` if this thread has no shootdown (see
    /// [`install_tlb_shootdown`]): the flush is then in the path's gather, and the old page
    /// must wait there for it too.
    pub(crate) fn ptep_clear_flush(
        &self,
        slot: devices::GuestPhysAddr,
        va: u64,
        size: u64,
        pte: mmu::Pte,
    ) -> Option<bool> {
        if !self.pgtable.ptep_cmpxchg(slot, pte, mmu::Pte(0)) {
            return None;
        }
        Some(self.flush_tlb_range_now(va, va + size, pgtable::pte_exec(pte)))
    }

    /// `flush_tlb_range()` carried out now, through this thread's [`TlbShootdown`], for
    /// `[start, end)` of this address space (`exec`: the icache too), whichever path
    /// changed its PTEs — `ptep_clear_flush()`, or reclaim's ageing of another address
    /// space, whose own path would flush only at its next return to user mode. Returns
    /// `true` when the flush is complete; without a shootdown (unit tests) it goes to the
    /// gather and `false` is returned.
    pub(crate) fn flush_tlb_range_now(&self, start: u64, end: u64, exec: bool) -> bool {
        let flush = TlbFlush {
            range: TlbFlushRange::Range { start, end },
            local: TlbFlushRange::None,
            icache: exec,
        };
        let done = SHOOTDOWN.with(|s| match &*s.borrow() {
            Some((me, s)) => {
                s.flush_tlb_posted(*me, self.asid(), flush);
                true
            }
            None => false,
        });
        if !done {
            self.flush_tlb_range(start, end, exec);
        }
        done
    }

    /// Carries out now, through this thread's [`TlbShootdown`], what the calling path
    /// gathered in this address space ([`Mm::take_tlb_batch`]), then frees the frames that
    /// waited for it: for a path that changed another process's address space — a ptrace
    /// or `/proc/<pid>/mem` write into its text (`copy_to_user_page()` →
    /// `flush_icache_user_page()`), GUP's faults in it — whose return to user mode
    /// flushes only its own address space's gather. Without a shootdown installed
    /// (unit tests) the gather stays for the path's next take.
    pub fn flush_gather_posted(&self) {
        SHOOTDOWN.with(|s| {
            let Some((me, s)) = &*s.borrow() else {
                return;
            };
            let batch = self.take_tlb_batch();
            if !batch.flush.is_none() {
                s.flush_tlb_posted(*me, self.asid(), batch.flush);
            }
            drop(batch);
        });
    }

    /// Records that `[start, end)`'s translation changed (`flush_tlb_range`).
    pub(crate) fn flush_tlb_range(&self, start: u64, end: u64, exec: bool) {
        self.with_gather(|g| {
            g.flush.range.add(start, end);
            g.flush.icache |= exec;
        });
    }

    /// `tlb_finish_mmu()`: folds a gather into the calling path's batch, with the page
    /// references and page-table pages it collected and its `tlb_flush_pending` count.
    /// Once harts may run this address space (see [`Mm::set_defer_frees`]) the frames
    /// wait in the batch until the path has carried out the shootdown
    /// ([`Mm::take_tlb_batch`]), as Linux frees
    /// only after `tlb_flush_mmu_tlbonly()`: a hart must not reach, through a translation
    /// it still caches, a frame that was freed and reused. Before that (an address space
    /// being built, a unit test) they are released at once. Large folios left partially
    /// mapped are split when the pages go (the deferred-split queue, see
    /// [`PageAlloc::deferred_split_scan`]; Linux runs it from a shrinker under memory
    /// pressure, this kernel at once).
    pub(crate) fn tlb_finish_mmu(&self, tlb: MmuGather) {
        let defer = self.defer_frees.load(Ordering::Acquire);
        let MmuGather {
            start,
            end,
            freed_tables,
            exec,
            pages,
            tables,
            flush_pending,
        } = tlb;
        let frames = self.with_gather(|g| {
            if freed_tables {
                g.flush.range = TlbFlushRange::All;
            } else {
                g.flush.range.add(start, end);
            }
            g.flush.icache |= exec;
            if flush_pending {
                g.gathers += 1;
                g.flush_pending
                    .get_or_insert_with(|| Arc::clone(&self.tlb_flush_pending));
            }
            if defer {
                g.add_frames(&self.phys, pages, tables);
                None
            } else {
                Some((pages, tables))
            }
        });
        if let Some((pages, tables)) = frames {
            free_batch(&self.phys, pages, tables);
        }
    }

    /// `exit_mmap()` (reached from `mmput()` when the last user of the address space
    /// exits or execs): unmaps everything and frees the page tables, root included. Pages
    /// still mapped by another address space (shared by fork) only lose this mapping and
    /// its reference; the rest are freed. Also done by `Drop`.
    pub fn exit_mmap(self) {
        drop(self);
    }

    /// `exit_mm()` → `mmput()` of the last user, done in place: the address space is torn
    /// down as [`Mm::exit_mmap`] does (page tables, root included, and every page
    /// reference go back) and the `Mm` stays behind as an empty, dead husk for a task
    /// that is a zombie until its parent reaps it. Nothing may map, fault or copy through
    /// a dead `Mm`: check [`Mm::is_dead`] first (`mmget_not_zero()` failing).
    pub fn release(&mut self) {
        self.teardown();
    }

    /// `get_mm_rss()`: resident pages, in 4 KiB pages (see [`PageTable::rss_pages`]).
    pub fn get_mm_rss(&self) -> u64 {
        if self.dead {
            return 0;
        }
        self.pgtable.rss_pages()
    }

    /// `update_hiwater_rss()`: records the RSS now as the peak if it is higher. Returns
    /// the peak (`VmHWM`, in 4 KiB pages).
    pub fn update_hiwater_rss(&self) -> u64 {
        let rss = self.get_mm_rss();
        self.hiwater_rss.fetch_max(rss, Ordering::Relaxed).max(rss)
    }

    /// `reset_mm_hiwater_rss()` (`clear_refs` 5): the peak RSS becomes the RSS now.
    pub fn reset_hiwater_rss(&self) {
        self.hiwater_rss.store(self.get_mm_rss(), Ordering::Relaxed);
    }

    /// `update_hiwater_vm()`: records the mapped size now (`total_vm`, in 4 KiB pages)
    /// as the peak if it is higher. Returns the peak (`VmPeak`).
    pub fn update_hiwater_vm(&self) -> u64 {
        let total: u64 = self.vmas.iter().map(|v| v.len() / PAGE_SIZE).sum();
        self.hiwater_vm
            .fetch_max(total, Ordering::Relaxed)
            .max(total)
    }

    /// `mm_pgtables_bytes() / PAGE_SIZE`: page-table frames, the root included.
    pub fn mm_pgtables_pages(&self) -> u64 {
        if self.dead {
            return 0;
        }
        self.pgtable.nr_tables()
    }

    /// `MMF_OOM_SKIP`: whether the OOM reaper already took this address space's memory.
    pub fn mmf_oom_skip(&self) -> bool {
        self.oom_skip.load(Ordering::Acquire)
    }

    /// `__oom_reap_task_mm()` (`mm/oom_kill.c`): unmaps the memory of an OOM victim that
    /// cannot exit at once (it runs on another hart): every VMA except `VM_HUGETLB |
    /// VM_PFNMAP` ones that is private (anonymous or a file's COW copies; Linux's
    /// `vma_is_anonymous() || !VM_SHARED`; shared anonymous memory is shmem in Linux, so
    /// it stays) has its PTEs zapped; VMAs stay. Then sets `MMF_OOM_SKIP`. The caller
    /// drains [`Mm::take_tlb_flush`] on the harts. Returns the pages unmapped (4 KiB
    /// units). Runs under the read side of the `mmap_lock`, as Linux's reaper does
    /// (`mmap_read_trylock()`): the zap is `MADV_DONTNEED`'s, and the flag is a bit of
    /// `mm->flags` set atomically (`set_bit(MMF_OOM_SKIP)`).
    pub fn oom_reap_task_mm(&self) -> u64 {
        if self.dead || self.oom_skip.load(Ordering::Acquire) {
            self.oom_skip.store(true, Ordering::Release);
            return 0;
        }
        let ranges: Vec<(u64, u64)> = self
            .vmas
            .iter()
            .filter(|v| {
                !v.flags
                    .intersects(VmFlags::HUGETLB | VmFlags::PFNMAP | VmFlags::SHARED)
            })
            .map(|v| (v.start, v.end))
            .collect();
        let mut tlb = self.tlb_gather_mmu();
        let reaped = ranges
            .into_iter()
            .map(|(start, end)| self.pgtable.zap_pte_range(start, end, &mut tlb))
            .sum();
        self.tlb_finish_mmu(tlb);
        self.oom_skip.store(true, Ordering::Release);
        reaped
    }

    /// Whether the address space has been released ([`Mm::release`]): Linux's
    /// `mm_users == 0`, where `mmget_not_zero()` fails and `/proc/<pid>/mem` reads 0.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// The identity of this address space, unique for the run (never reused, unlike
    /// pids or ASIDs): what a `/proc/<pid>/mem` descriptor holds on to (`mmgrab()`), so
    /// that after the target execs it does not reach the new image.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Names the mapping `[start, start + len)` as `_install_special_mapping()` names the
    /// `[vdso]` (`vm_special_mapping.name`), splitting it out of a larger VMA if needed.
    /// `name` should be bracketed: `/proc/<pid>/maps` prints such names as they are.
    ///
    /// # Errors
    /// `EINVAL` if no single VMA covers the range; `ENOMEM` if a split would exceed the
    /// map count.
    pub fn name_special_mapping(&mut self, start: u64, len: u64, name: &str) -> KResult<()> {
        let end = start.checked_add(len).ok_or(crate::errno::Errno::EINVAL)?;
        match self.vmas.vma_lookup(start) {
            Some(v) if v.end >= end => {}
            _ => return Err(crate::errno::Errno::EINVAL),
        }
        self.vmas.split_at_bounds(start, end)?;
        let vma = self
            .vmas
            .get_mut(start)
            .ok_or(crate::errno::Errno::EINVAL)?;
        vma.name = Some(Arc::from(name));
        Ok(())
    }

    fn teardown(&mut self) {
        if self.dead {
            return;
        }
        self.dead = true;
        // Files must not reach the page table any more once it is freed.
        self.rmap.kill();
        let mut tlb = self.tlb_gather_mmu();
        self.pgtable.destroy(&mut tlb);
        // exit_mmap()'s remove_vma() → vm_ops->close(): unused hugetlb reservations.
        let vmas = std::mem::take(&mut self.vmas);
        for v in vmas.iter().filter(|v| v.is_vm_hugetlb_page()) {
            self.hugetlb_vm_op_close(v, v.start, v.end);
        }
        self.vmas = VmaTree::new();
        self.tlb_finish_mmu(tlb);
        if self.huge_zero_ref.swap(false, Ordering::AcqRel) {
            self.phys.pages.mm_put_huge_zero_folio(&self.phys.ram);
        }
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        self.teardown();
        // Nobody can flush for a dropped address space: what waited goes now.
        drop(self.take_tlb_batch());
    }
}

thread_local! {
    /// The kernel path's gathers, one per address space ([`Mm::id`]) it recorded
    /// maintenance in since it last took it ([`Mm::take_tlb_batch`]): Linux's
    /// on-stack `struct mmu_gather` plus the fault path's own flushes. A hart thread runs
    /// one kernel path at a time. What a thread leaves at its exit is freed then (the
    /// batch's drop).
    static GATHER: std::cell::RefCell<Vec<(u64, TlbBatch)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// The hart this thread runs and the harts' shootdown ([`install_tlb_shootdown`]).
    static SHOOTDOWN: std::cell::RefCell<Option<(usize, Arc<dyn TlbShootdown>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The harts' TLB shootdown as the mm layer needs it where a flush must be complete
/// before the kernel path goes on: riscv Linux's `flush_tlb_page()` (→
/// `__flush_tlb_range()`, an IPI to every CPU of `mm_cpumask()` and the wait for each),
/// which `ptep_clear_flush()` calls between clearing a PTE and setting it to another
/// page. Implemented by the kernel's [`crate::smp::Smp`]; each hart thread installs it
/// with [`install_tlb_shootdown`].
pub trait TlbShootdown: Send + Sync {
    /// Invalidates `flush` for `asid` on every hart that may cache it, hart `me` (the
    /// caller's, which is out of user mode and applies it before it returns there)
    /// included, and returns once every hart running guest code has acknowledged it:
    /// from then on no hart translates through the entries `flush` names.
    fn flush_tlb_posted(&self, me: usize, asid: u16, flush: TlbFlush);
}

/// Installs `shootdown` for the kernel paths of this host thread, which runs hart
/// `me`, until the returned guard drops: each hart thread does for its run. Without one
/// (unit tests that install none) the mm layer leaves every flush to the path's gather.
pub fn install_tlb_shootdown(me: usize, shootdown: Arc<dyn TlbShootdown>) -> TlbShootdownInstalled {
    SHOOTDOWN.with(|c| *c.borrow_mut() = Some((me, shootdown)));
    TlbShootdownInstalled(std::marker::PhantomData)
}

/// This thread's [`TlbShootdown`], installed until this drops
/// ([`install_tlb_shootdown`]).
#[derive(Debug)]
#[must_use = "the shootdown is removed when the guard drops"]
pub struct TlbShootdownInstalled(std::marker::PhantomData<*const ()>);

impl Drop for TlbShootdownInstalled {
    fn drop(&mut self) {
        SHOOTDOWN.with(|c| *c.borrow_mut() = None);
    }
}

/// `tlb_batch_pages_flush()` + `tlb_remove_table()`'s free: drops the page references
/// and frees the page-table pages an `mmu_gather` collected, then runs the
/// deferred-split queue.
fn free_batch(phys: &PhysMem, pages: Vec<Pfn>, tables: Vec<Pfn>) {
    for pfn in pages {
        phys.put_page(pfn);
    }
    for pfn in tables {
        phys.free_pgtable(pfn);
    }
    if phys.pages.has_deferred_split() {
        phys.pages.deferred_split_scan(&phys.ram);
    }
}

/// The TLB maintenance an address space had pending and the frames waiting for it
/// ([`Mm::take_tlb_batch`]): Linux's `mmu_gather` between `tlb_flush_mmu_tlbonly()` and
/// `tlb_batch_pages_flush()`. Carry out [`TlbBatch::flush`] on the harts (the shootdown,
/// acknowledged), then drop the batch or call [`TlbBatch::finish`]: that frees the
/// frames.
#[derive(Debug, Default)]
#[must_use = "dropping the batch frees its frames: carry out its flush first"]
pub struct TlbBatch {
    /// What the harts must invalidate.
    pub flush: TlbFlush,
    /// Page references to drop after it (`tlb_remove_page()`'s batch).
    pages: Vec<Pfn>,
    /// Page-table pages to free after it (`tlb_remove_table()`).
    tables: Vec<Pfn>,
    /// Where the frames go back to; `None` when there are none. Most batches (a fault's)
    /// free nothing and leave the allocator's reference count alone, which every hart's
    /// faults would otherwise bounce between them.
    phys: Option<Arc<PhysMem>>,
    /// The address space's `tlb_flush_pending`, if this batch carries counted gathers.
    flush_pending: Option<Arc<AtomicU32>>,
    /// Gathers ([`Mm::tlb_gather_mmu`]) counted there that end with this batch.
    gathers: u32,
}

impl TlbBatch {
    /// Adds frames to free after the flush.
    fn add_frames(&mut self, phys: &Arc<PhysMem>, pages: Vec<Pfn>, tables: Vec<Pfn>) {
        if pages.is_empty() && tables.is_empty() {
            return;
        }
        self.phys.get_or_insert_with(|| Arc::clone(phys));
        self.pages.extend(pages);
        self.tables.extend(tables);
    }

    /// Frees the frames (the flush has been carried out) and returns the flush.
    pub fn finish(self) -> TlbFlush {
        self.flush
    }

    /// Page references and page-table pages waiting for the flush.
    pub fn frames(&self) -> usize {
        self.pages.len() + self.tables.len()
    }
}

impl Drop for TlbBatch {
    fn drop(&mut self) {
        if let Some(phys) = &self.phys {
            free_batch(
                phys,
                std::mem::take(&mut self.pages),
                std::mem::take(&mut self.tables),
            );
        }
        if let Some(n) = self.flush_pending.take() {
            // dec_tlb_flush_pending(): the shootdown of these gathers is done.
            n.fetch_sub(self.gathers, Ordering::SeqCst);
        }
    }
}
