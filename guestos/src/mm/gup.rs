//! get_user_pages (Linux `mm/gup.c`, with the flag definitions of
//! `include/linux/mm_types.h` and `mm/internal.h` and `gup_must_unshare()` from
//! `mm/internal.h`): the kernel taking references or pins on the pages behind user
//! addresses, faulting them in as needed.
//!
//! Read it next to `mm/gup.c`; the functions carry Linux's names:
//!
//! - Slow path, under the mmap lock: [`__get_user_pages`] walks the range page by page:
//!   the VMA (`vma_lookup()` + [`check_vma_flags`]), then [`follow_page_pte`]; when that
//!   finds no usable PTE, [`faultin_page`] calls the fault handler
//!   ([`Mm::handle_mm_fault_vma`]) and the page is looked up again. `cond_resched()`
//!   ([`crate::percpu::cond_resched`]) at the top of the retry loop is the point between
//!   the two where another thread of the process can run (the Dirty COW race window): a
//!   resumable caller (`/proc/<pid>/mem`) stops there when the scheduler wants the hart,
//!   and resumes with the same `foll_flags` when re-issued.
//! - Fast path, lockless: [`gup_fast`] walks the page table without a VMA, takes a
//!   speculative reference and re-checks the PTE; `gup_fast_fallback()` finishes the rest
//!   on the slow path (`get_user_pages_fast()`, `pin_user_pages_fast()`), or does not
//!   ([`get_user_pages_fast_only`]).
//! - Consumers: [`access_remote_vm`] (ptrace peek/poke, `/proc/<pid>/mem` in
//!   `crate::procfs`), `pin_user_pages_remote()` for `process_vm_readv/writev`
//!   (`crate::syscall::process_vm`), `get_user_pages_fast()` without `FOLL_WRITE` for
//!   `vmsplice()` (`crate::syscall::splice`), and `/sys/kernel/debug/gup_test`
//!   ([`super::gup_test`]).
//! - References: `FOLL_GET` adds 1 to the folio's refcount and is released with
//!   [`put_page`]; `FOLL_PIN` adds [`GUP_PIN_COUNTING_BIAS`] to an order-0 folio, and 1
//!   reference plus 1 `_pincount` to a large one (as Linux), and is released with
//!   [`unpin_user_page`] / [`unpin_user_pages`] / [`unpin_user_pages_dirty_lock`].
//!   Neither is taken on the shared zero page or the huge zero folio (the allocator never
//!   refcounts them for mappings; Linux's `try_grab_folio()` skips the zero page for
//!   `FOLL_PIN`).
//!
//! # Huge PMDs
//! A 2 MiB transparent huge page mapped by one level-1 leaf is followed by
//! [`follow_huge_pmd`], which returns the subpage and a `page_mask` of 511, so that
//! [`__get_user_pages`] takes the references for all the following subpages of the same
//! folio in one operation (`page_increm`, `try_grab_folio(folio, page_increm - 1)`): two
//! refcount operations per PMD instead of 512. GUP-fast grabs all the subpages it needs
//! from one PMD with a single `try_grab_folio_fast(refs)` (`gup_fast_pmd_leaf()`), and
//! [`unpin_user_pages`] releases consecutive pages of one folio with one
//! `gup_put_folio(refs)`. The write and unshare rules are the PTE ones applied to the PMD
//! and its head page (`can_follow_write_pmd()`, `gup_must_unshare()`), for every
//! generation; `PageAnonExclusive` of a PMD-mapped folio is its head's. The huge zero
//! folio is "special" to GUP-fast (falls back) and, like the small zero page, makes a R/O
//! long-term pin in a COW mapping unshare (the PMD is split and the PTE level copies).
//! `FOLL_SPLIT_PMD` (used by uprobes) is not implemented: the huge PMD is followed as is.
//! A 1 GiB hugetlb page (a level-2 leaf, see [`super::hugetlb`]) takes the same paths with
//! its own size: `follow_huge_pmd` serves Linux's `follow_huge_pud()` with a `page_mask`
//! of 262143, and GUP-fast reads the PUD first and grabs from a leaf there
//! (`gup_fast_pud_leaf()`) before it looks for a PMD.
//!
//! # Kernel generations
//! How a `FOLL_FORCE` write into a read-only private mapping is allowed changed twice, and
//! [`GupGeneration`] (stored in the [`Mm`], [`Mm::set_gup_generation`]) selects which rules
//! apply. All the differences live in the four methods of `impl GupGeneration`, side by
//! side:
//!
//! | | `faultin_page()` after a COW fault in a `!VM_WRITE` VMA | `can_follow_write_pte()` on a read-only PTE | `FAULT_FLAG_UNSHARE` | `do_wp_page()` reuses a non-exclusive anon page when |
//! |---|---|---|---|---|
//! | [`GupGeneration::DirtyCow`] (≤ 4.8) | clears `FOLL_WRITE` | never | no | `reuse_swap_page()`: mapcount 1 |
//! | [`GupGeneration::FollCow`] (4.9 – 5.19; commit 19be0eaffa3a) | sets `FOLL_COW` | `FOLL_FORCE && FOLL_COW && pte_dirty` | no | `reuse_swap_page()`: mapcount 1 (≤ 5.8) |
//! | [`GupGeneration::Modern`] (6.2+; commits a7f226604170, 5535be309971, 84209e87c696) | nothing | `FOLL_FORCE`, private `VM_MAYWRITE` `!VM_WRITE` VMA, page `PageAnonExclusive` | R/O `FOLL_PIN` of a shared anon page, or R/O long-term pin of a non-anonymous page (zero page) in a COW mapping, unshares first | `wp_can_reuse_anon_folio()`: refcount 1 (since 09854ba94c6a, 5.9) |
//!
//! (5.19 – 6.1 mixed these: anonymous unsharing from a7f226604170 in 5.19 with `FOLL_COW`
//! until 5535be309971 in 6.0, and non-anonymous unsharing only from 84209e87c696 in 6.2.
//! For the `do_wp_page()` column `FollCow` stands for 4.9 – 5.8: from 5.9 to 5.19 kernels
//! had `FOLL_COW` *and* the refcount rule. Those intermediate kernels are not modelled.)
//!
//! The last column is CVE-2020-29374: with the mapcount rule a page that a GUP user
//! (`vmsplice()`, a `FOLL_GET` reference without `FOLL_WRITE`) still holds is reused by
//! the process that writes it after the other side of a fork unmapped it, so the GUP
//! user sees writes made after it took its reference. The refcount rule counts that
//! reference and copies instead.
//!
//! Linux's modern `can_follow_write_pte()` also asks whether a write fault is needed for
//! another reason, soft-dirty tracking (`pte_needs_soft_dirty_wp()`) or a userfaultfd
//! write-protected PTE (`userfaultfd_pte_wp()`), and so does ours; the PMD lookup uses
//! the same rules on the PMD (`can_follow_write_pmd()`).
//!
//! # The mmap lock
//! Linux's GUP runs under `mmap_read_lock()`. The callers that pass `int *locked`
//! (`FOLL_UNLOCKABLE`) allow the fault handler to **drop** the lock (`VM_FAULT_RETRY`),
//! after which every `struct vm_area_struct *` the caller held may point to freed memory.
//! That is why Linux removed the `vmas` output array from GUP (commit series "remove the
//! vmas parameter from GUP APIs", 6.5): a VMA pointer must not outlive the lock.
//!
//! Here the lock is a type: [`MmapReadGuard`] holds the read side of the address space's
//! `mmap_lock` ([`super::MmStruct::mmap_read_lock`]; or borrows an `Mm` the caller has
//! exclusively, [`Mm::mmap_read_lock`]), and every `&Vma` handed out borrows the guard.
//! Any GUP call that may fault takes `&mut MmapReadGuard`, so the borrow checker rejects
//! a VMA reference held across it:
//!
//! ```compile_fail,E0502
//! use guestos::mm::gup::{get_user_pages, FollFlags};
//! fn f(mm: &mut guestos::mm::Mm, addr: u64) {
//!     let mut guard = mm.mmap_read_lock();
//!     let vma = guard.vma_lookup(addr).unwrap();
//!     let _pages = get_user_pages(&mut guard, addr, 1, FollFlags::WRITE); // may drop the lock
//!     let _stale = vma.flags; // error[E0502]: `guard` is also borrowed as immutable
//! }
//! ```
//!
//! The same holds for the read side of a shared address space's lock, which is what
//! the kernel takes; used right, it compiles:
//!
//! ```compile_fail,E0502
//! use guestos::mm::gup::{get_user_pages, FollFlags};
//! fn f(mm: &guestos::mm::MmStruct, addr: u64) {
//!     let mut guard = mm.mmap_read_lock();
//!     let vma = guard.vma_lookup(addr).unwrap();
//!     let _pages = get_user_pages(&mut guard, addr, 1, FollFlags::WRITE);
//!     let _stale = vma.flags; // error[E0502]
//! }
//! ```
//!
//! ```
//! use guestos::mm::gup::{get_user_pages, FollFlags};
//! fn f(mm: &guestos::mm::MmStruct, addr: u64) {
//!     let mut guard = mm.mmap_read_lock();
//!     let flags = guard.vma_lookup(addr).map(|vma| vma.flags); // an owned copy
//!     let _pages = get_user_pages(&mut guard, addr, 1, FollFlags::WRITE);
//!     let _still_fine = flags;
//! }
//! ```
//!
//! [`get_user_page_vma_remote`] returns its VMA as `&'g Vma` tied to the guard borrow: it
//! can be read until the next GUP call or [`MmapReadGuard::unlock`], and not after. The
//! slow path itself keeps only an owned snapshot of the VMA (what Linux keeps in locals),
//! re-looked up whenever the walk crosses `vm_end`.
//!
//! This kernel's fault handler never returns `VM_FAULT_RETRY`, so the lock is in practice
//! never dropped; `FOLL_UNLOCKABLE` only adds `FAULT_FLAG_ALLOW_RETRY | KILLABLE` to the
//! fault flags, as in Linux.
//!
//! # SMP
//! The slow path runs under the read side: GUP of several harts, and their faults, in
//! one address space at once, every PTE change under its page-table lock (see
//! [`super::fault`]). GUP-fast is the lockless walk it is in Linux (atomic PTE reads,
//! speculative reference, re-check): page-table pages are freed past concurrent walkers
//! ([`super::PhysMem::gup_fast_begin`]), and `FOLL_PIN` fast walks sample
//! `mm->write_protect_seq` so a concurrent fork's write-protection is seen (marked
//! `SMP:` below).

use bitflags::bitflags;
use devices::{PAGE_SHIFT, PAGE_SIZE};

use super::fault::VmFault;
use super::page_alloc::{Page, PageFlags, Pfn, GUP_PIN_COUNTING_BIAS, HPAGE_PMD_SIZE};
use super::pgtable::{
    huge_leaf_size, pmd_trans_huge, pte_dirty, pte_pfn, pte_present, pte_protnone, pte_soft_dirty,
    pte_write, PteSlot, PMD_LEVEL, PTE_SIZE, PUD_LEVEL,
};
use super::userfaultfd::pte_uffd_wp;
use super::vma::{VmFlags, Vma};
use std::sync::Arc;

use super::{FaultFlags, Mm, MmShared, PageTable, PhysMem};
use crate::errno::{Errno, KResult};

bitflags! {
    /// `FOLL_*` flags with Linux's values: the public ones from `enum { FOLL_WRITE … }` in
    /// `include/linux/mm_types.h` (6.6+), the internal ones from `mm/internal.h`
    /// (`1 << __NR_FOLL_FLAGS` … with `__NR_FOLL_FLAGS == 16`), plus the historical
    /// `FOLL_COW` of 4.9 – 5.19.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct FollFlags: u32 {
        /// Check the PTE is writable; break COW if not (a write fault).
        const WRITE = 1 << 0;
        /// Take a reference on the page (`get_page`), released with `put_page()`.
        const GET = 1 << 1;
        /// Core dump: give an error instead of faulting in (or returning) the zero page.
        const DUMP = 1 << 2;
        /// Ignore the VMA's `VM_READ`/`VM_WRITE` (ptrace, `/proc/pid/mem`); writes only
        /// into COW mappings.
        const FORCE = 1 << 3;
        /// Start I/O but do not wait for it (`FAULT_FLAG_RETRY_NOWAIT`).
        const NOWAIT = 1 << 4;
        /// Do not fault in pages: `EFAULT` where one would be needed.
        const NOFAULT = 1 << 5;
        /// Report a hardware-poisoned page as `EHWPOISON` (no poison here).
        const HWPOISON = 1 << 6;
        /// Only anonymous VMAs (`EFAULT` for file mappings).
        const ANON = 1 << 7;
        /// The pin is held for an unbounded time under userspace control (RDMA, VFIO,
        /// io_uring fixed buffers). Needs `FOLL_PIN`.
        const LONGTERM = 1 << 8;
        /// Split a huge PMD before returning (uprobes; not implemented: no effect).
        const SPLIT_PMD = 1 << 9;
        /// Allow returning PCI P2PDMA pages (none here); incompatible with `LONGTERM`.
        const PCI_P2PDMA = 1 << 10;
        /// Any signal, not only a fatal one, may interrupt the faults.
        const INTERRUPTIBLE = 1 << 11;
        /// Always honour (trigger) NUMA hinting faults on `PROT_NONE`-mapped PTEs.
        const HONOR_NUMA_FAULT = 1 << 12;
        /// Historical (4.9 – 5.19, `#define FOLL_COW 0x4000`): `faultin_page()` broke COW
        /// for this write; `can_follow_write_pte()` may accept a dirty read-only PTE.
        /// Used only by [`GupGeneration::FollCow`]; its bit is free in current kernels.
        const COW = 0x4000;
        /// Internal: mark the page accessed (and dirty for a write).
        const TOUCH = 1 << 16;
        /// Internal: a retry after the previous pass started I/O (never set here: the
        /// fault handler never asks for a retry).
        const TRIED = 1 << 17;
        /// Internal: working on a non-current mm (`FAULT_FLAG_REMOTE`).
        const REMOTE = 1 << 18;
        /// Internal: take a pin (`GUP_PIN_COUNTING_BIAS`), released with
        /// `unpin_user_page()`; set by the `pin_user_pages*()` entry points.
        const PIN = 1 << 19;
        /// Internal: GUP-fast must not fall back to the slow path.
        const FAST_ONLY = 1 << 20;
        /// Internal: the mmap lock may be dropped (the caller passed `locked`).
        const UNLOCKABLE = 1 << 21;
        /// Internal: VMA lookup and checks as `MADV_POPULATE_(READ|WRITE)` need them.
        const MADV_POPULATE = 1 << 22;
    }
}

impl FollFlags {
    /// `INTERNAL_GUP_FLAGS` (`mm/internal.h`): never accepted from a caller.
    pub const INTERNAL: FollFlags = FollFlags::TOUCH
        .union(FollFlags::TRIED)
        .union(FollFlags::REMOTE)
        .union(FollFlags::PIN)
        .union(FollFlags::FAST_ONLY)
        .union(FollFlags::UNLOCKABLE)
        .union(FollFlags::MADV_POPULATE);

    /// The flags `gup_fast_fallback()` accepts (anything else is `EINVAL`).
    pub const FAST_ALLOWED: FollFlags = FollFlags::WRITE
        .union(FollFlags::LONGTERM)
        .union(FollFlags::FORCE)
        .union(FollFlags::PIN)
        .union(FollFlags::GET)
        .union(FollFlags::FAST_ONLY)
        .union(FollFlags::NOFAULT)
        .union(FollFlags::PCI_P2PDMA)
        .union(FollFlags::HONOR_NUMA_FAULT);
}

/// Which kernel generation's GUP rules to follow (see the module docs for the table).
/// Every difference is in the four methods below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GupGeneration {
    /// Before commit 19be0eaffa3a ("mm: remove gup_flags FOLL_WRITE games from
    /// __get_user_pages()", 4.9, CVE-2016-5195): after breaking COW for a write into a
    /// `!VM_WRITE` VMA, `faultin_page()` drops `FOLL_WRITE` so the retry accepts the
    /// read-only PTE. If the COW copy is zapped in between (`MADV_DONTNEED` from another
    /// thread), the retry is a read and returns the *original* page, which the caller
    /// then writes: Dirty COW.
    DirtyCow,
    /// 4.9 – 5.19: `faultin_page()` sets `FOLL_COW` instead and `can_follow_write_pte()`
    /// accepts a read-only PTE only with `FOLL_FORCE && FOLL_COW && pte_dirty()`. No
    /// unsharing: a R/O pin of a page shared after fork stays on the shared page.
    FollCow,
    /// Current Linux (6.2+): no flag games; `can_follow_write_pte()` accepts a read-only
    /// PTE under `FOLL_FORCE` only in a private, `VM_MAYWRITE`, `!VM_WRITE` VMA and only
    /// for an exclusive anonymous page (COW already broken); R/O pins unshare first
    /// (`gup_must_unshare()`, `FAULT_FLAG_UNSHARE`).
    #[default]
    Modern,
}

impl std::str::FromStr for GupGeneration {
    type Err = String;

    /// Parses a [`GupGeneration::name`].
    ///
    /// # Errors
    /// A message naming the accepted values.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GupGeneration::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or_else(|| format!("{s:?}: expected dirtycow, foll-cow or modern"))
    }
}

impl GupGeneration {
    /// Every generation, oldest first.
    pub const ALL: [GupGeneration; 3] = [
        GupGeneration::DirtyCow,
        GupGeneration::FollCow,
        GupGeneration::Modern,
    ];

    /// The name used on the command line (`--gup NAME`): `dirtycow`, `foll-cow`, `modern`.
    pub const fn name(self) -> &'static str {
        match self {
            GupGeneration::DirtyCow => "dirtycow",
            GupGeneration::FollCow => "foll-cow",
            GupGeneration::Modern => "modern",
        }
    }

    /// `can_follow_write_pte()`: may a `FOLL_WRITE` lookup return the page behind `pte`?
    /// `page` is the page's metadata (`None` for the zero page or a frame without
    /// `struct page`), `vm_flags` the VMA's.
    pub fn can_follow_write_pte(
        self,
        pte: mmu::Pte,
        page: Option<&Page>,
        vm_flags: VmFlags,
        flags: FollFlags,
    ) -> bool {
        if pte_write(pte) {
            return true;
        }
        match self {
            // 4.8: `if ((flags & FOLL_WRITE) && !pte_write(pte)) return NULL;`
            GupGeneration::DirtyCow => false,
            // 4.9: pte_write(pte) || (FOLL_FORCE && FOLL_COW && pte_dirty(pte)).
            GupGeneration::FollCow => {
                flags.contains(FollFlags::FORCE | FollFlags::COW) && pte_dirty(pte)
            }
            GupGeneration::Modern => {
                // Maybe FOLL_FORCE is set to override it? But not on shared mappings,
                // not on read-only private ones, and not on writable ones (which just
                // need a write fault).
                flags.contains(FollFlags::FORCE)
                    && !vm_flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE)
                    && vm_flags.contains(VmFlags::MAYWRITE)
                    && !vm_flags.contains(VmFlags::WRITE)
                    // We broke COW and could map the page writable: it is an exclusive
                    // anonymous page (see can_change_pte_writable()) …
                    && page.is_some_and(|p| p.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE))
                    // … and a write fault isn't required for other reasons: soft-dirty
                    // tracking (pte_needs_soft_dirty_wp()) or userfaultfd write
                    // protection (userfaultfd_pte_wp(), reported rather than resolved).
                    && (!vm_flags.soft_dirty_enabled() || pte_soft_dirty(pte))
                    && !(vm_flags.contains(VmFlags::UFFD_WP) && pte_uffd_wp(pte))
            }
        }
    }

    /// What `do_wp_page()` returns when it broke COW or reused the page: Linux ≤ 6.0's
    /// `VM_FAULT_WRITE` for `DirtyCow` and `FollCow`, nothing for `Modern` (the bit was
    /// removed once `FOLL_COW` went). It is the only way `faultin_page()` learns about
    /// the COW.
    pub const fn vm_fault_write(self) -> VmFault {
        match self {
            GupGeneration::DirtyCow | GupGeneration::FollCow => VmFault::WRITE,
            GupGeneration::Modern => VmFault::empty(),
        }
    }

    /// The end of `faultin_page()`: what the generation does to the lookup flags after a
    /// successful fault that returned `ret`. `if ((ret & VM_FAULT_WRITE) && !(vma->vm_flags
    /// & VM_WRITE))`: the fault went through `do_wp_page()` and broke COW or reused the
    /// page in a VMA the lookup may not write ([`GupGeneration::vm_fault_write`]).
    pub fn faultin_page_fixup(self, ret: VmFault, vm_flags: VmFlags, flags: &mut FollFlags) {
        if !ret.contains(VmFault::WRITE) || vm_flags.contains(VmFlags::WRITE) {
            return;
        }
        match self {
            // "We can thus safely do subsequent page lookups as if they were reads."
            GupGeneration::DirtyCow => flags.remove(FollFlags::WRITE),
            GupGeneration::FollCow => flags.insert(FollFlags::COW),
            GupGeneration::Modern => {}
        }
    }

    /// The reuse test of `do_wp_page()` for an anonymous page that is not
    /// `PageAnonExclusive` (a write fault on a read-only PTE of a private mapping, e.g.
    /// after fork): may the faulting mapping take the page over instead of copying it?
    ///
    /// - `Modern` (`wp_can_reuse_anon_folio()`, commit 09854ba94c6a in 5.9, no swap cache
    ///   or KSM here): only if `folio_ref_count() == 1`, the faulting PTE's own reference.
    ///   Any other reference (another mapping, a GUP reference or pin, a pipe buffer
    ///   holding a `vmsplice()`d page) forces a copy.
    /// - `FollCow` and `DirtyCow` (`reuse_swap_page()` of ≤ 5.8, no swap cache here): if
    ///   the page is mapped once, whatever its refcount. A page a GUP user still
    ///   references is reused and written in place (CVE-2020-29374). The count is
    ///   `page_trans_huge_map_swapcount()`'s: the page's PTE mappings plus its folio's PMD
    ///   mappings (`compound_mapcount()`), so a subpage that another process still maps
    ///   through the whole THP's PMD is copied. (Linux takes the largest PTE mapcount of
    ///   any subpage of the folio, not the faulting one's; that only makes it copy more.)
    ///
    /// `folio` is the metadata of the folio's head (the page itself for an order-0 folio),
    /// which holds the refcount and the PMD mapcount; `page` is the faulting page, which
    /// holds its PTE mapcount.
    pub fn wp_can_reuse_anon_page(self, folio: &Page, page: &Page) -> bool {
        match self {
            GupGeneration::Modern => folio.refcount() == 1,
            GupGeneration::FollCow | GupGeneration::DirtyCow => {
                page.mapcount() + folio.entire_mapcount() == 1
            }
        }
    }

    /// Whether `gup_must_unshare()` / `FAULT_FLAG_UNSHARE` exist (anonymous pages since
    /// a7f226604170 in 5.19; non-anonymous ones since 84209e87c696, "mm/gup: reliable R/O
    /// long-term pinning in COW mappings", in 6.2).
    pub fn has_unshare(self) -> bool {
        matches!(self, GupGeneration::Modern)
    }
}

/// `gup_must_unshare()` (`mm/internal.h`): must a read-only `FOLL_PIN` of `page`, mapped
/// read-only, first break COW (`FAULT_FLAG_UNSHARE`) so that the pin stays coherent with
/// what the process maps? `vm_flags` is `None` on the GUP-fast path (no VMA), which then
/// has to fall back to the slow path for the non-anonymous long-term case.
///
/// - `FOLL_WRITE` is handled by the write fault itself; `FOLL_GET` has no coherency
///   promise: only R/O `FOLL_PIN`.
/// - Not anonymous (the zero page, shmem, page cache): only long-term pins care (a
///   short-term R/O pin has snapshot semantics), and only in a COW mapping.
/// - Anonymous: unless `PageAnonExclusive`.
pub fn gup_must_unshare(
    gen: GupGeneration,
    vm_flags: Option<VmFlags>,
    flags: FollFlags,
    page: &Page,
) -> bool {
    if !gen.has_unshare() {
        return false;
    }
    if flags & (FollFlags::WRITE | FollFlags::PIN) != FollFlags::PIN {
        return false;
    }
    if !page.test(PageFlags::ANON) {
        if !flags.contains(FollFlags::LONGTERM) {
            return false;
        }
        return vm_flags.is_none_or(VmFlags::is_cow_mapping);
    }
    // SMP: paired with the barrier in folio_try_share_anon_rmap() (smp_rmb()).
    !page.test(PageFlags::ANON_EXCLUSIVE)
}

/// The mmap lock held for read (`mmap_read_lock()`), borrowing the address space for as
/// long as it is held. VMA references borrow the guard, so none outlives the lock or
/// survives a call that may drop it (see the module docs). It derefs to the [`Mm`]:
/// everything a reader may do takes `&Mm`.
///
/// Two ways to hold it: the read side of a shared address space's `mmap_lock`
/// ([`super::MmStruct::mmap_read_lock`]: other readers — faults on other harts, GUP —
/// run at once, writers wait), or an exclusive borrow of an [`Mm`]
/// ([`Mm::mmap_read_lock`]: the caller holds the write side, or owns an address space
/// no one else can reach yet, which excludes writers as well as the read side does).
#[derive(Debug)]
pub struct MmapReadGuard<'a> {
    held: ReadHeld<'a>,
}

/// How an [`MmapReadGuard`] holds its address space.
#[derive(Debug)]
enum ReadHeld<'a> {
    /// The read side of `mm->mmap_lock`.
    Lock(crate::sync::RwLockReadGuard<'a, Mm>),
    /// The address space borrowed exclusively.
    Exclusive(&'a mut Mm),
}

impl<'a> MmapReadGuard<'a> {
    /// Wraps the read side of an `mmap_lock` ([`super::MmStruct::mmap_read_lock`]).
    pub(crate) fn locked(g: crate::sync::RwLockReadGuard<'a, Mm>) -> Self {
        MmapReadGuard {
            held: ReadHeld::Lock(g),
        }
    }

    /// The address space, mutable only when the guard borrows it exclusively (a test
    /// seam that models another thread at a retry point; `None` under a shared lock).
    fn mm_mut(&mut self) -> Option<&mut Mm> {
        match &mut self.held {
            ReadHeld::Lock(_) => None,
            ReadHeld::Exclusive(mm) => Some(mm),
        }
    }
}

impl std::ops::Deref for MmapReadGuard<'_> {
    type Target = Mm;

    fn deref(&self) -> &Mm {
        match &self.held {
            ReadHeld::Lock(g) => g,
            ReadHeld::Exclusive(mm) => mm,
        }
    }
}

impl Mm {
    /// `mmap_read_lock()` of an address space the caller has exclusively (it holds the
    /// `mmap_lock` write side, or nobody else can reach the `Mm`): see
    /// [`MmapReadGuard`].
    pub fn mmap_read_lock(&mut self) -> MmapReadGuard<'_> {
        self.phys.pages.events.lock_ops.inc();
        MmapReadGuard {
            held: ReadHeld::Exclusive(self),
        }
    }

    /// The GUP rules in force (see [`GupGeneration`]); `Modern` by default, inherited by
    /// a forked child.
    pub fn gup_generation(&self) -> GupGeneration {
        self.gup_gen
    }

    /// Selects the GUP rules of a kernel generation (an experiment knob: `DirtyCow`
    /// reproduces CVE-2016-5195).
    pub fn set_gup_generation(&mut self, gen: GupGeneration) {
        self.gup_gen = gen;
    }
}

impl MmapReadGuard<'_> {
    /// The address space (read-only).
    pub fn mm(&self) -> &Mm {
        self
    }

    /// `vma_lookup()`: the VMA containing `addr`, valid while the guard is not used
    /// mutably or unlocked.
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.vmas.vma_lookup(addr)
    }

    /// `mmap_read_unlock()`.
    pub fn unlock(self) {}
}

/// Why [`follow_page_pte`] returned no page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowError {
    /// `NULL`: no usable PTE; fault it in ([`faultin_page`]) and look again.
    NoPage,
    /// `-EMLINK`: [`gup_must_unshare`]; fault with `FAULT_FLAG_UNSHARE` and look again.
    Unshare,
    /// Any other error (`-EFAULT` for `FOLL_DUMP` on the zero page, `-EEXIST` for a PFN
    /// without `struct page`, `-ENOMEM` for a refcount overflow).
    Err(Errno),
}

/// `check_vma_flags()`: may GUP with `gup_flags` touch `vma` at all?
///
/// # Errors
/// `EFAULT`: `VM_IO | VM_PFNMAP`; `FOLL_ANON` on a file VMA; a write to a non-anonymous
/// VMA under `FOLL_PIN | FOLL_LONGTERM` that needs dirty tracking
/// (`writable_file_mapping_allowed()`: a shared writable mapping of a file with
/// writeback, see [`vma_needs_dirty_tracking`]); a write to a
/// `!VM_WRITE` VMA without `FOLL_FORCE`, to a hugetlb VMA, or to a VMA that is not a COW
/// mapping (`is_cow_mapping()`: shared mappings are never force-written); a read of a
/// `!VM_READ` VMA without `FOLL_FORCE` or `VM_MAYREAD`.
pub fn check_vma_flags(vma: &Vma, gup_flags: FollFlags) -> KResult<()> {
    let vm_flags = vma.flags;
    let write = gup_flags.contains(FollFlags::WRITE);
    let vma_anon = vma.is_anonymous();
    if vm_flags.intersects(VmFlags::IO | VmFlags::PFNMAP) {
        return Err(Errno::EFAULT);
    }
    if gup_flags.contains(FollFlags::ANON) && !vma_anon {
        return Err(Errno::EFAULT);
    }
    if write {
        if !vma_anon && !writable_file_mapping_allowed(vma, gup_flags) {
            return Err(Errno::EFAULT);
        }
        if !vm_flags.contains(VmFlags::WRITE) {
            if !gup_flags.contains(FollFlags::FORCE) {
                return Err(Errno::EFAULT);
            }
            if vm_flags.contains(VmFlags::HUGETLB) {
                return Err(Errno::EFAULT);
            }
            if !vm_flags.is_cow_mapping() {
                return Err(Errno::EFAULT);
            }
        }
    } else if !vm_flags.contains(VmFlags::READ)
        && (!gup_flags.contains(FollFlags::FORCE) || !vm_flags.contains(VmFlags::MAYREAD))
    {
        return Err(Errno::EFAULT);
    }
    // arch_vma_access_permitted(): no protection keys on riscv.
    Ok(())
}

/// `vma_needs_dirty_tracking()` (`mm/mmap.c`): a shared writable mapping
/// (`vma_is_shared_writable()`: `VM_SHARED | VM_WRITE`) of a file whose page cache is
/// written back ([`MappedFile::mapping_can_writeback`]: a root file system file, not
/// shmem). Its writeback learns what was written from the PTE D bits (collected through
/// the reverse map into `PG_dirty`, see `fs::pagecache`), which a device writing through
/// a pin never sets. No file here has `->page_mkwrite` (`vm_ops_needs_writenotify()`),
/// so writeback is the only reason.
pub fn vma_needs_dirty_tracking(vma: &Vma) -> bool {
    if !vma.flags.contains(VmFlags::SHARED | VmFlags::WRITE) {
        return false;
    }
    vma.file().is_some_and(|f| f.mapping_can_writeback())
}

/// `writable_file_mapping_allowed()`: a long-term pin for writing must not target a file
/// mapping that needs dirty tracking ([`vma_needs_dirty_tracking`]); shmem (memfd,
/// tmpfs, shared anonymous memory) and private mappings may be pinned.
fn writable_file_mapping_allowed(vma: &Vma, gup_flags: FollFlags) -> bool {
    if !gup_flags.contains(FollFlags::PIN | FollFlags::LONGTERM) {
        return true;
    }
    !vma_needs_dirty_tracking(vma)
}

/// `gup_fast_folio_allowed()`: may the lockless walk take `page` (of a folio it holds a
/// reference on) for `flags`? Only a long-term writable pin is restricted (no secretmem
/// here): anonymous folios are allowed; a page-cache folio only if it is shmem's
/// (`shmem_mapping()`: shmem folios are swap-backed, [`PageFlags::SWAPBACKED`], the only
/// page-cache folios that are); a folio without a mapping (truncated meanwhile) goes to
/// the slow path, which decides with the VMA ([`check_vma_flags`]). A hugetlb folio (its
/// head is what the huge-leaf case passes) is always allowed.
fn gup_fast_folio_allowed(page: &Page, flags: FollFlags) -> bool {
    if !flags.contains(FollFlags::PIN | FollFlags::LONGTERM | FollFlags::WRITE) {
        return true;
    }
    if page.test(PageFlags::ANON) {
        return true;
    }
    // "hugetlb mappings do not require dirty-tracking."
    if page.test(PageFlags::HUGETLB) {
        return true;
    }
    page.mapping().is_some() && page.test(PageFlags::SWAPBACKED)
}

/// `try_grab_folio()` for one page: see [`try_grab_folio_refs`].
///
/// # Errors
/// As [`try_grab_folio_refs`].
pub fn try_grab_folio(phys: &PhysMem, pfn: Pfn, flags: FollFlags) -> KResult<()> {
    try_grab_folio_refs(phys, pfn, 1, flags)
}

/// `try_grab_folio(folio, refs, flags)`: takes `refs` of the references `flags` asks for
/// on the folio containing `pfn`, in one atomic operation: `FOLL_GET` adds `refs`;
/// `FOLL_PIN` adds `refs * GUP_PIN_COUNTING_BIAS` to a small folio, or `refs` to a large
/// folio's refcount and `refs` to its `_pincount` (two operations). Nothing on the zero
/// page or the huge zero folio.
///
/// # Errors
/// `ENOMEM` if the folio is free or the refcount would overflow (Linux's
/// `folio_ref_try_add()` failure); `EFAULT` for a frame without metadata.
pub fn try_grab_folio_refs(phys: &PhysMem, pfn: Pfn, refs: u32, flags: FollFlags) -> KResult<()> {
    if phys.pages.is_zero_pfn(pfn) || phys.pages.is_huge_zero_pfn(pfn) {
        return Ok(());
    }
    let Some((head, folio)) = phys.pages.folio(pfn) else {
        return Err(Errno::EFAULT);
    };
    let pin = flags.contains(FollFlags::PIN);
    if !pin && !flags.contains(FollFlags::GET) {
        return Ok(());
    }
    let large = folio.is_head();
    let add = if pin && !large {
        refs.checked_mul(GUP_PIN_COUNTING_BIAS)
            .ok_or(Errno::ENOMEM)?
    } else {
        refs
    };
    // One compare-and-swap loop refusing a zero refcount (folio_ref_try_add()): a
    // lockless walker may hold a PTE whose page is being freed.
    let _ = folio;
    let grabbed = if pin && large {
        phys.pages.folio_try_pin_large(head, refs)
    } else {
        phys.pages.folio_ref_try_add(head, add)
    };
    if grabbed {
        Ok(())
    } else {
        Err(Errno::ENOMEM)
    }
}

/// `gup_put_folio(folio, refs, flags)`: drops what [`try_grab_folio_refs`] took.
fn gup_put_folio(phys: &PhysMem, pfn: Pfn, refs: u32, flags: FollFlags) {
    if phys.pages.is_zero_pfn(pfn) || phys.pages.is_huge_zero_pfn(pfn) {
        return;
    }
    if flags.contains(FollFlags::PIN) {
        if phys.pages.folio(pfn).is_some_and(|(_, f)| f.is_head()) {
            phys.pages.folio_unpin_large(&phys.ram, pfn, refs);
        } else {
            phys.pages
                .folio_put_refs(&phys.ram, pfn, refs.saturating_mul(GUP_PIN_COUNTING_BIAS));
        }
    } else if flags.contains(FollFlags::GET) {
        phys.pages.folio_put_refs(&phys.ram, pfn, refs);
    }
}

/// `follow_page_mask()`: the page mapped at `address` in `vma` if its entry allows the
/// access in `flags`, with one reference of the kind `flags` asks for taken, and the
/// `page_mask` of the mapping: 0 for a 4 KiB PTE ([`follow_page_pte`]'s case),
/// `HPAGE_PMD_NR - 1` for a huge PMD, `HPAGE_PUD_NR - 1` for a 1 GiB hugetlb leaf
/// ([`follow_huge_pmd`], which serves `follow_huge_pud()` too).
///
/// # Errors
/// See [`FollowError`].
pub fn follow_page_mask(
    mm: &Mm,
    vma: &Vma,
    address: u64,
    flags: FollFlags,
) -> Result<(Pfn, u64), FollowError> {
    // FOLL_GET and FOLL_PIN are mutually exclusive.
    if flags.contains(FollFlags::GET | FollFlags::PIN) {
        return Err(FollowError::Err(Errno::EINVAL));
    }
    // Under the entry's lock until the reference is taken (see follow_pte_locked()).
    let Some((slot, _ptl)) = mm.pgtable.follow_pte_locked(address) else {
        return Err(FollowError::NoPage);
    };
    if slot.level > 0 {
        let page_mask = huge_leaf_size(slot.level) / PAGE_SIZE - 1;
        return follow_huge_pmd(mm, vma, address, slot, flags).map(|p| (p, page_mask));
    }
    follow_pte_slot(mm, vma, slot, flags).map(|p| (p, 0))
}

/// `follow_huge_pmd()`: the subpage at `address` of the huge PMD `slot`, with one
/// reference taken on its folio (the caller takes the rest of `page_increm`). The checks
/// are the PTE ones applied to the PMD and its head page: `can_follow_write_pmd()` (the
/// generation's rule), `FOLL_DUMP` on the huge zero folio, NUMA-hinting `PROT_NONE`,
/// `gup_must_unshare()`; `FOLL_TOUCH` with `FOLL_WRITE` marks the folio dirty.
///
/// # Errors
/// See [`FollowError`].
pub fn follow_huge_pmd(
    mm: &Mm,
    vma: &Vma,
    address: u64,
    slot: PteSlot,
    flags: FollFlags,
) -> Result<Pfn, FollowError> {
    let pmd = slot.pte;
    let phys = mm.phys();
    let head = pte_pfn(pmd);
    let huge_zero = phys.pages.is_huge_zero_pfn(head);
    let Some(head_page) = phys.pages.page(head) else {
        return Err(FollowError::Err(Errno::EEXIST));
    };
    let meta = (!huge_zero).then_some(head_page);
    if flags.contains(FollFlags::WRITE)
        && !mm.gup_gen.can_follow_write_pte(pmd, meta, vma.flags, flags)
    {
        return Err(FollowError::NoPage);
    }
    // Avoid dumping the huge zero page.
    if flags.contains(FollFlags::DUMP) && huge_zero {
        return Err(FollowError::Err(Errno::EFAULT));
    }
    if pte_protnone(pmd) && flags.contains(FollFlags::HONOR_NUMA_FAULT) && vma.flags.is_accessible()
    {
        return Err(FollowError::NoPage);
    }
    if !pte_write(pmd) && gup_must_unshare(mm.gup_gen, Some(vma.flags), flags, head_page) {
        return Err(FollowError::Unshare);
    }
    if mm.gup_gen.has_unshare()
        && flags.contains(FollFlags::PIN)
        && head_page.test(PageFlags::ANON)
        && !head_page.test(PageFlags::ANON_EXCLUSIVE)
    {
        return Err(FollowError::Err(Errno::EFAULT));
    }
    try_grab_folio(phys, head, flags).map_err(FollowError::Err)?;
    if flags.contains(FollFlags::TOUCH)
        && flags.contains(FollFlags::WRITE)
        && !pte_dirty(pmd)
        && !huge_zero
    {
        // touch_pmd(FOLL_WRITE) / folio_mark_dirty().
        head_page.set(PageFlags::DIRTY);
    }
    Ok(slot.pfn_at(address))
}

/// `follow_page_pte()` (via `follow_page_mask()`): the page mapped at `address` in `vma`
/// if its PTE allows the access in `flags`, with the reference `flags` asks for taken
/// (for a huge PMD, the subpage at `address`, with one reference).
///
/// # Errors
/// See [`FollowError`].
pub fn follow_page_pte(
    mm: &Mm,
    vma: &Vma,
    address: u64,
    flags: FollFlags,
) -> Result<Pfn, FollowError> {
    follow_page_mask(mm, vma, address, flags).map(|(pfn, _)| pfn)
}

/// The body of `follow_page_pte()` for the level-0 entry `slot`.
fn follow_pte_slot(
    mm: &Mm,
    vma: &Vma,
    slot: PteSlot,
    flags: FollFlags,
) -> Result<Pfn, FollowError> {
    let pte = slot.pte;
    if !pte_present(pte) {
        return Err(FollowError::NoPage);
    }
    // gup_can_follow_protnone(): NUMA hinting faults only apply in accessible VMAs.
    if pte_protnone(pte) && flags.contains(FollFlags::HONOR_NUMA_FAULT) && vma.flags.is_accessible()
    {
        return Err(FollowError::NoPage);
    }
    let phys = mm.phys();
    let normal = mm.pgtable.vm_normal_page(pte);
    let meta = normal.and_then(|pfn| phys.pages.page(pfn));
    if flags.contains(FollFlags::WRITE)
        && !mm.gup_gen.can_follow_write_pte(pte, meta, vma.flags, flags)
    {
        return Err(FollowError::NoPage);
    }
    let pfn = match normal {
        Some(pfn) => pfn,
        None => {
            if flags.contains(FollFlags::DUMP) {
                return Err(FollowError::Err(Errno::EFAULT));
            }
            if !phys.pages.is_zero_pfn(pte_pfn(pte)) {
                // follow_pfn_pte(): a proper PTE exists, but no struct page.
                return Err(FollowError::Err(Errno::EEXIST));
            }
            pte_pfn(pte)
        }
    };
    let Some(page) = phys.pages.page(pfn) else {
        return Err(FollowError::Err(Errno::EEXIST));
    };
    if !pte_write(pte) && gup_must_unshare(mm.gup_gen, Some(vma.flags), flags, page) {
        return Err(FollowError::Unshare);
    }
    // VM_BUG_ON_PAGE(FOLL_PIN && PageAnon && !PageAnonExclusive): after the unshare
    // check a pinned anonymous page is exclusive. Only the modern rules promise that.
    if mm.gup_gen.has_unshare()
        && flags.contains(FollFlags::PIN)
        && page.test(PageFlags::ANON)
        && !page.test(PageFlags::ANON_EXCLUSIVE)
    {
        return Err(FollowError::Err(Errno::EFAULT));
    }
    try_grab_folio(phys, pfn, flags).map_err(FollowError::Err)?;
    if flags.contains(FollFlags::TOUCH)
        && flags.contains(FollFlags::WRITE)
        && !pte_dirty(pte)
        && !phys.pages.is_zero_pfn(pfn)
    {
        // folio_mark_dirty(): the caller is about to write it behind the PTE's back.
        page.set(PageFlags::DIRTY);
    }
    Ok(pfn)
}

/// `vm_fault_to_errno()` (`include/linux/mm.h`): the errno for a fault result, `None`
/// (Linux's 0) if it has none of the bits it maps. `VM_FAULT_OOM` → `ENOMEM`;
/// `VM_FAULT_HWPOISON | HWPOISON_LARGE` → `EHWPOISON` with `FOLL_HWPOISON`, else
/// `EFAULT`; `VM_FAULT_SIGBUS | SIGSEGV` → `EFAULT`.
pub fn vm_fault_to_errno(fault: VmFault, foll_flags: FollFlags) -> Option<Errno> {
    if fault.contains(VmFault::OOM) {
        return Some(Errno::ENOMEM);
    }
    if fault.intersects(VmFault::HWPOISON | VmFault::HWPOISON_LARGE) {
        return Some(if foll_flags.contains(FollFlags::HWPOISON) {
            Errno::EHWPOISON
        } else {
            Errno::EFAULT
        });
    }
    if fault.intersects(VmFault::SIGBUS | VmFault::SIGSEGV) {
        return Some(Errno::EFAULT);
    }
    None
}

/// `faultin_page()`: runs the fault handler for `address` on behalf of GUP
/// (`FAULT_FLAG_WRITE` for `FOLL_WRITE`, `FAULT_FLAG_REMOTE` for `FOLL_REMOTE`,
/// `FAULT_FLAG_UNSHARE` when `unshare`, `ALLOW_RETRY | KILLABLE` for `FOLL_UNLOCKABLE`),
/// then applies the generation's rule ([`GupGeneration::faultin_page_fixup`]) to `flags`.
///
/// The handler's `vm_fault_t` is converted as Linux does: `VM_FAULT_COMPLETED` and
/// `VM_FAULT_RETRY` (the handler dropped the mmap lock) make Linux return `-EAGAIN` /
/// `-EBUSY` and `__get_user_pages_locked()` re-take the lock and fault again with
/// `FOLL_TRIED`; the [`MmapReadGuard`] is never dropped here, so the page is looked up
/// again at once (with `FOLL_TRIED` after a retry). No handler returns either today. An
/// error goes through [`vm_fault_to_errno`]; one it does not map (Linux `BUG()`s) is
/// `EFAULT`. No OOM killer runs for GUP: the caller gets `ENOMEM`.
///
/// # Errors
/// `EFAULT` for `FOLL_NOFAULT` or a fault that would signal, `ENOMEM` for OOM,
/// `EHWPOISON` for a poisoned page with `FOLL_HWPOISON`.
pub fn faultin_page(
    guard: &mut MmapReadGuard<'_>,
    vma: &Vma,
    address: u64,
    flags: &mut FollFlags,
    unshare: bool,
) -> KResult<()> {
    if flags.contains(FollFlags::NOFAULT) {
        return Err(Errno::EFAULT);
    }
    let mut fault_flags = FaultFlags::empty();
    if flags.contains(FollFlags::WRITE) {
        fault_flags |= FaultFlags::WRITE;
    }
    if flags.contains(FollFlags::REMOTE) {
        fault_flags |= FaultFlags::REMOTE;
    }
    if flags.contains(FollFlags::UNLOCKABLE) {
        fault_flags |= FaultFlags::ALLOW_RETRY | FaultFlags::KILLABLE;
        if flags.contains(FollFlags::INTERRUPTIBLE) {
            fault_flags |= FaultFlags::INTERRUPTIBLE;
        }
    }
    if flags.contains(FollFlags::NOWAIT) {
        fault_flags |= FaultFlags::ALLOW_RETRY | FaultFlags::RETRY_NOWAIT;
    }
    if flags.contains(FollFlags::TRIED) {
        fault_flags |= FaultFlags::TRIED;
    }
    if unshare {
        // FAULT_FLAG_WRITE and FAULT_FLAG_UNSHARE are incompatible.
        if fault_flags.contains(FaultFlags::WRITE) {
            return Err(Errno::EFAULT);
        }
        fault_flags |= FaultFlags::UNSHARE;
    }
    let mm = guard.mm();
    // No FAULT_FLAG_USER: the handler sets A/D itself (no hart retries the access).
    let ret = mm.handle_mm_fault_vma(vma, address, fault_flags);
    if ret.contains(VmFault::COMPLETED) {
        return Ok(());
    }
    if ret.is_error() {
        return Err(vm_fault_to_errno(ret, *flags).unwrap_or(Errno::EFAULT));
    }
    if ret.contains(VmFault::RETRY) {
        flags.insert(FollFlags::TRIED);
        return Ok(());
    }
    mm.gup_gen.faultin_page_fixup(ret, vma.flags, flags);
    Ok(())
}

/// How many times one page may be faulted in without the lookup succeeding before GUP
/// gives up with `EFAULT`. Linux loops until a fatal signal; this kernel cannot be
/// signalled from inside GUP, so a livelock (a kernel bug) fails instead of hanging.
/// The bound is high because losing is legitimate now: `MADV_DONTNEED` runs on another
/// hart under the read side of the `mmap_lock` and may zap the page between the fault
/// and the lookup again and again (with a bound of 16, the Dirty COW PoC's `/proc/self/
/// mem` write failed with `EIO` in one CI run of `tests/dirtycow.rs`, parallel mode).
const MAX_FAULTS_PER_PAGE: u32 = 1 << 16;

/// What runs at the `cond_resched()` point before each retry (tests model another thread
/// there); `None` in production.
pub(crate) type RetryHook<'h> = Option<&'h mut dyn FnMut(&mut Mm, u64)>;

/// `__get_user_pages()`: takes references on `nr_pages` pages from `start` (any
/// alignment; the page containing each address), appending them to `pages`. The caller
/// holds the mmap lock (`guard`) and has validated `gup_flags`.
///
/// Returns Linux's `i ? i : ret`: the number of pages taken if any (fewer than `nr_pages`
/// on a partial failure), else the error.
///
/// # Errors
/// `EFAULT` (no VMA, [`check_vma_flags`], a fault that would signal, `FOLL_NOFAULT`),
/// `ENOMEM`, `EEXIST`, only when no page was taken; `EINVAL` if `gup_flags` has neither
/// `FOLL_GET` nor `FOLL_PIN` (Linux's `VM_BUG_ON(!!pages != !!(gup_flags & (FOLL_GET |
/// FOLL_PIN)))`: pages are always returned here, so they must be referenced).
pub fn __get_user_pages(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    if !gup_flags.intersects(FollFlags::GET | FollFlags::PIN) {
        return Err(Errno::EINVAL);
    }
    __get_user_pages_hooked(guard, start, nr_pages, gup_flags, pages, None)
}

pub(crate) fn __get_user_pages_hooked(
    guard: &mut MmapReadGuard<'_>,
    mut start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
    mut hook: RetryHook<'_>,
) -> KResult<usize> {
    guard.phys.pages.events.gup_calls.inc();
    let mut done = 0usize;
    // An owned snapshot, like Linux's `vma` local: valid while the lock is held; the
    // borrow checker keeps references into the tree out of the loop.
    let mut vma: Option<Vma> = None;
    let mut err = Errno::EFAULT;
    'pages: while done < nr_pages {
        if vma.as_ref().is_none_or(|v| start >= v.end) {
            // gup_vma_lookup(): no stack expansion from GUP (6.5+). MADV_POPULATE_(READ|
            // WRITE) "wants to handle VMA lookup+error reporting differently": a hole is
            // ENOMEM, a VMA check_vma_flags() refuses EINVAL.
            let populate = gup_flags.contains(FollFlags::MADV_POPULATE);
            let Some(v) = guard.vma_lookup(start).cloned() else {
                err = if populate {
                    Errno::ENOMEM
                } else {
                    Errno::EFAULT
                };
                break;
            };
            if let Err(e) = check_vma_flags(&v, gup_flags) {
                err = if populate { Errno::EINVAL } else { e };
                break;
            }
            vma = Some(v);
        }
        let Some(v) = vma.as_ref() else { break };
        // 4.x kept `foll_flags` per page: a generation's fixup lasts for this page only.
        // A call re-issued after stopping at cond_resched() continues with the flags it
        // had there, from the lookup.
        let resumed = crate::percpu::gup_resume(start);
        let mut foll_flags = resumed.unwrap_or(gup_flags);
        let mut just_resumed = resumed.is_some();
        let mut faults = 0u32;
        let page_increm = loop {
            // cond_resched(): another thread may run here; a resumable call stops and is
            // re-issued (see crate::percpu).
            if !std::mem::take(&mut just_resumed)
                && done == 0
                && crate::percpu::cond_resched(start, foll_flags)
            {
                err = Errno::ERESTARTNOINTR;
                break 'pages;
            }
            match follow_page_mask(guard.mm(), v, start, foll_flags) {
                Ok((pfn, page_mask)) => {
                    // The rest of a large folio's pages up to the end of its mapping, in
                    // one reference operation (Linux's page_increm).
                    let increm =
                        (1 + (!(start >> PAGE_SHIFT) & page_mask)).min((nr_pages - done) as u64);
                    if increm > 1 {
                        let phys = guard.phys();
                        let more = u32::try_from(increm - 1).unwrap_or(u32::MAX);
                        if try_grab_folio_refs(phys, pfn, more, foll_flags).is_err() {
                            gup_put_folio(phys, pfn, 1, foll_flags);
                            err = Errno::EFAULT;
                            break 'pages;
                        }
                    }
                    pages.extend((0..increm).map(|j| Pfn(pfn.0 + j)));
                    break increm;
                }
                Err(FollowError::Err(e)) => {
                    err = e;
                    break 'pages;
                }
                Err(f) => {
                    faults += 1;
                    if faults > MAX_FAULTS_PER_PAGE {
                        err = Errno::EFAULT;
                        break 'pages;
                    }
                    let unshare = f == FollowError::Unshare;
                    if let Err(e) = faultin_page(guard, v, start, &mut foll_flags, unshare) {
                        err = e;
                        break 'pages;
                    }
                    // The retry point: another thread may run here (cond_resched()).
                    if let (Some(h), Some(mm)) = (hook.as_deref_mut(), guard.mm_mut()) {
                        h(mm, start);
                    }
                }
            }
        };
        done += page_increm as usize;
        start = start.wrapping_add(page_increm * PAGE_SIZE);
    }
    if done > 0 {
        Ok(done)
    } else {
        Err(err)
    }
}

/// `is_valid_gup_args()`: validates the caller's flags and adds `to_set` (and
/// `FOLL_UNLOCKABLE` for the `locked` forms). Linux WARNs and fails on:
/// internal flags from the caller; `FOLL_GET` with `FOLL_PIN`; `FOLL_LONGTERM` without
/// `FOLL_PIN`; `FOLL_GET`/`FOLL_PIN` without a pages array (every entry point here has
/// one); `FOLL_LONGTERM` with `FOLL_PCI_P2PDMA`.
///
/// # Errors
/// `EINVAL`.
pub fn is_valid_gup_args(
    gup_flags: FollFlags,
    locked: bool,
    to_set: FollFlags,
) -> KResult<FollFlags> {
    if gup_flags.intersects(FollFlags::INTERNAL) {
        return Err(Errno::EINVAL);
    }
    let mut f = gup_flags | to_set;
    if locked {
        f |= FollFlags::UNLOCKABLE;
    }
    if f.contains(FollFlags::PIN | FollFlags::GET) {
        return Err(Errno::EINVAL);
    }
    if f.contains(FollFlags::LONGTERM) && !f.contains(FollFlags::PIN) {
        return Err(Errno::EINVAL);
    }
    if f.contains(FollFlags::LONGTERM | FollFlags::PCI_P2PDMA) {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

/// `__get_user_pages_locked()` + `__gup_longterm_locked()`: sets `MMF_HAS_PINNED` for
/// `FOLL_PIN`, `FOLL_GET` when not pinning (the pages are returned), and runs the walk.
/// `check_and_migrate_movable_pages()` has nothing to do: there is no `ZONE_MOVABLE` or
/// CMA, so every page may stay where it is under a long-term pin.
fn __get_user_pages_locked(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    flags: FollFlags,
    hook: RetryHook<'_>,
) -> KResult<Vec<Pfn>> {
    let mut pages = Vec::with_capacity(nr_pages.min(1024));
    __get_user_pages_locked_into(guard, start, nr_pages, flags, hook, &mut pages)?;
    Ok(pages)
}

/// [`__get_user_pages_locked`] appending to the caller's `pages` (Linux's `pages + i`
/// argument); returns how many were appended.
fn __get_user_pages_locked_into(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    mut flags: FollFlags,
    hook: RetryHook<'_>,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    if flags.contains(FollFlags::PIN) {
        guard.set_has_pinned_flag();
    } else {
        flags |= FollFlags::GET;
    }
    if nr_pages == 0 {
        return Ok(0);
    }
    __get_user_pages_hooked(guard, start, nr_pages, flags, pages, hook)
}

/// `get_user_pages()`: references (`FOLL_GET`) on `nr_pages` pages of the locked address
/// space from `start`, faulting them in. Release each with [`put_page`].
///
/// Returns the pages; fewer than `nr_pages` if a later page failed.
///
/// # Errors
/// `EINVAL` ([`is_valid_gup_args`]); otherwise as [`__get_user_pages`] when not even the
/// first page could be taken.
pub fn get_user_pages(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::TOUCH)?;
    __get_user_pages_locked(guard, start, nr_pages, f, None)
}

/// [`get_user_pages`] appending the pages to `pages` (Linux's `struct page **pages`
/// argument) instead of returning a new vector. Returns how many were appended.
///
/// # Errors
/// As [`get_user_pages`]; nothing is appended then.
pub fn get_user_pages_into(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::TOUCH)?;
    __get_user_pages_locked_into(guard, start, nr_pages, f, None, pages)
}

/// `pin_user_pages()`: as [`get_user_pages`] with `FOLL_PIN`; release with
/// [`unpin_user_pages`].
///
/// # Errors
/// As [`get_user_pages`].
pub fn pin_user_pages(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::PIN)?;
    __get_user_pages_locked(guard, start, nr_pages, f, None)
}

/// [`pin_user_pages`] appending the pages to `pages`. Returns how many were appended.
///
/// # Errors
/// As [`get_user_pages`]; nothing is appended then.
pub fn pin_user_pages_into(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::PIN)?;
    __get_user_pages_locked_into(guard, start, nr_pages, f, None, pages)
}

/// `get_user_pages_remote()`: as [`get_user_pages`] on another process's address space
/// (`FOLL_REMOTE` → `FAULT_FLAG_REMOTE`), e.g. ptrace and `/proc/pid/mem`.
///
/// # Errors
/// As [`get_user_pages`].
pub fn get_user_pages_remote(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::TOUCH | FollFlags::REMOTE)?;
    __get_user_pages_locked(guard, start, nr_pages, f, None)
}

/// [`get_user_pages_remote`] with a hook run at every faultin → follow retry point (a
/// test seam modelling another thread at `cond_resched()`).
#[cfg(test)]
pub(crate) fn get_user_pages_remote_racy(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    hook: &mut dyn FnMut(&mut Mm, u64),
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::TOUCH | FollFlags::REMOTE)?;
    __get_user_pages_locked(guard, start, nr_pages, f, Some(hook))
}

/// `pin_user_pages_remote()`: [`pin_user_pages`] on another process's address space.
///
/// # Errors
/// As [`get_user_pages`].
pub fn pin_user_pages_remote(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(
        gup_flags,
        false,
        FollFlags::PIN | FollFlags::TOUCH | FollFlags::REMOTE,
    )?;
    __get_user_pages_locked(guard, start, nr_pages, f, None)
}

/// `get_user_pages_unlocked()`: takes and releases the mmap lock itself
/// (`FOLL_UNLOCKABLE`: the faults may drop it).
///
/// # Errors
/// As [`get_user_pages`].
pub fn get_user_pages_unlocked(
    mm: &mut Mm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, true, FollFlags::TOUCH)?;
    let mut guard = mm.mmap_read_lock();
    let r = __get_user_pages_locked(&mut guard, start, nr_pages, f, None);
    guard.unlock();
    r
}

/// `pin_user_pages_unlocked()`: [`get_user_pages_unlocked`] with `FOLL_PIN`.
///
/// # Errors
/// As [`get_user_pages`].
pub fn pin_user_pages_unlocked(
    mm: &mut Mm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, true, FollFlags::PIN | FollFlags::TOUCH)?;
    let mut guard = mm.mmap_read_lock();
    let r = __get_user_pages_locked(&mut guard, start, nr_pages, f, None);
    guard.unlock();
    r
}

/// `get_user_page_vma_remote()`: one page of another address space (`FOLL_GET`) and the
/// VMA mapping it. The VMA borrows `guard`: it cannot be used after the next GUP call
/// or [`MmapReadGuard::unlock`].
///
/// # Errors
/// `EINVAL` for `FOLL_NOWAIT` or invalid flags; as [`get_user_pages_remote`].
pub fn get_user_page_vma_remote<'g>(
    guard: &'g mut MmapReadGuard<'_>,
    addr: u64,
    gup_flags: FollFlags,
) -> KResult<(Pfn, &'g Vma)> {
    if gup_flags.contains(FollFlags::NOWAIT) {
        return Err(Errno::EINVAL);
    }
    let pages = get_user_pages_remote(guard, addr, 1, gup_flags)?;
    let Some(&pfn) = pages.first() else {
        return Err(Errno::EFAULT);
    };
    let phys = std::sync::Arc::clone(guard.phys());
    match guard.vma_lookup(addr) {
        Some(vma) => Ok((pfn, vma)),
        None => {
            phys.put_page(pfn);
            Err(Errno::EINVAL)
        }
    }
}

/// `__access_remote_vm()` (`mm/memory.c`, behind `access_process_vm()`: ptrace
/// `PEEKDATA`/`POKEDATA` and `/proc/pid/mem`): copies between `buf` and `mm`'s memory at
/// `addr`, one [`get_user_page_vma_remote`] page at a time. With `FOLL_WRITE` in
/// `gup_flags` `buf` is written into the process (and the page marked `PG_dirty`,
/// `set_page_dirty_lock()`; an executable VMA also flushes the harts' instruction
/// caches before it returns, riscv's `copy_to_user_page()` → `flush_icache_user_page()`,
/// with the rest of the TLB maintenance the access gathered in `mm`:
/// [`Mm::flush_gather_posted`]); otherwise `buf` is filled from it. Ptrace passes
/// `FOLL_FORCE`.
///
/// Returns the number of bytes copied: `buf.len()`, or fewer (down to 0) at the first
/// page GUP could not take. Never fails otherwise, as Linux's. The caller holds the
/// target's `mmap_lock` for read (`guard`), as `__access_remote_vm()` does.
pub fn access_remote_vm(
    guard: &mut MmapReadGuard<'_>,
    addr: u64,
    buf: &mut [u8],
    gup_flags: FollFlags,
) -> usize {
    let write = gup_flags.contains(FollFlags::WRITE);
    let phys = std::sync::Arc::clone(guard.phys());
    let mut done = 0usize;
    while done < buf.len() {
        let Some(va) = addr.checked_add(done as u64) else {
            break;
        };
        let Ok((pfn, vma)) = get_user_page_vma_remote(guard, va, gup_flags) else {
            break;
        };
        let exec = vma.flags.contains(VmFlags::EXEC);
        let offset = va % PAGE_SIZE;
        let bytes = (buf.len() - done).min((PAGE_SIZE - offset) as usize);
        let pa = devices::GuestPhysAddr(pfn.pa().0 + offset);
        let chunk = buf.get_mut(done..done + bytes);
        let ok = match chunk {
            Some(c) if write => phys.ram.write_bytes(pa, c).is_ok(),
            Some(c) => phys.ram.read_bytes(pa, c).is_ok(),
            None => false,
        };
        if ok && write {
            if let Some(p) = phys.pages.page(pfn) {
                if !phys.pages.is_zero_pfn(pfn) {
                    p.set(PageFlags::DIRTY);
                }
            }
            if exec {
                guard.request_icache_flush();
            }
        }
        phys.put_page(pfn);
        if !ok {
            break;
        }
        done += bytes;
    }
    // The target's harts, not this path's return to user mode, need what it gathered.
    guard.flush_gather_posted();
    done
}

/// `gup_fast()` (`gup_fast_pgd_range()` … `gup_fast_pte_range()`): the lockless walk of
/// `[start, start + nr_pages pages)` without VMAs. Stops at the first page that needs
/// the slow path: no present PTE, `PROT_NONE`, not writable for `FOLL_WRITE`, special
/// (the zero page, frames without `struct page`), a refcount that cannot be taken, a
/// PTE that changed after the reference was taken, a R/O pin that must unshare, or a
/// long-term writable pin of a non-anonymous page (`gup_fast_folio_allowed()` needs the
/// file's mapping). Returns the pages taken (a prefix of the range).
pub fn gup_fast(mm: &Mm, start: u64, nr_pages: usize, flags: FollFlags) -> Vec<Pfn> {
    let mut pages = Vec::with_capacity(nr_pages.min(1024));
    gup_fast_hooked(mm.fast_view(), start, nr_pages, flags, None, &mut pages);
    pages
}

/// What the lockless walk reads of an address space — its page table, its GUP rules and
/// what it shares with its owner ([`MmShared`]) — borrowed from an [`Mm`]
/// ([`Mm::fast_view`]) or from a [`GupFastMm`] handle on another thread.
#[derive(Debug, Clone, Copy)]
pub struct FastView<'a> {
    pgtable: &'a PageTable,
    gup_gen: GupGeneration,
    shared: &'a MmShared,
}

impl Mm {
    /// The lockless walk's view of this address space.
    pub fn fast_view(&self) -> FastView<'_> {
        FastView {
            pgtable: &self.pgtable,
            gup_gen: self.gup_gen,
            shared: &self.shared,
        }
    }

    /// A handle for lockless walks of this address space from another thread while its
    /// owner maps, unmaps and forks: what a CPU in `gup_fast()` has — `current->mm`,
    /// without the mmap lock. It must be dropped before this `Mm` (whose drop frees the
    /// page tables); walks through it are protected from page-table frees by
    /// [`PhysMem::gup_fast_begin`] and from forks by `write_protect_seq`.
    pub fn gup_fast_handle(&self) -> GupFastMm {
        GupFastMm {
            pgtable: self.pgtable.alias(),
            gup_gen: self.gup_gen,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// An owned lockless-walk handle on an address space (see [`Mm::gup_fast_handle`]).
#[derive(Debug)]
pub struct GupFastMm {
    pgtable: PageTable,
    gup_gen: GupGeneration,
    shared: Arc<MmShared>,
}

impl GupFastMm {
    /// What the address space shares with its lockless readers.
    pub fn shared(&self) -> &MmShared {
        &self.shared
    }

    /// [`gup_fast`] through this handle: the pages taken, a prefix of the range.
    pub fn gup_fast(&self, start: u64, nr_pages: usize, flags: FollFlags) -> Vec<Pfn> {
        let mut pages = Vec::with_capacity(nr_pages.min(1024));
        gup_fast_hooked(self.view(), start, nr_pages, flags, None, &mut pages);
        pages
    }

    /// The lockless walk's view through this handle.
    pub fn view(&self) -> FastView<'_> {
        FastView {
            pgtable: &self.pgtable,
            gup_gen: self.gup_gen,
            shared: &self.shared,
        }
    }

    /// Another handle on the same address space.
    pub fn alias(&self) -> GupFastMm {
        GupFastMm {
            pgtable: self.pgtable.alias(),
            gup_gen: self.gup_gen,
            shared: Arc::clone(&self.shared),
        }
    }

    /// The first address above user space (`TASK_SIZE`).
    pub fn task_size(&self) -> u64 {
        self.pgtable.user_top()
    }

    /// `unpin_user_pages()` of pages [`GupFastMm::gup_fast`] pinned (`FOLL_PIN`).
    pub fn unpin_user_pages(&self, pages: &[Pfn]) {
        let phys = self.pgtable.phys();
        for &pfn in pages {
            gup_put_folio(phys, pfn, 1, FollFlags::PIN);
        }
    }
}

/// The caller's own address space (`current->mm`) as the GUP-fast entry points
/// (`get_user_pages_fast()`, `pin_user_pages_fast()`) and `gup_test` reach it: a
/// lockless view for `gup_fast()`, which takes no `mmap_lock` at all, and the read side
/// of the `mmap_lock` for the slow path only (`gup_fast_fallback()` →
/// `__gup_longterm_unlocked()`/`get_user_pages_unlocked()`: `mmap_read_lock()` around
/// `__get_user_pages_locked()`), plus `copy_{to,from}_user()` for an ioctl's argument.
///
/// Two kinds: a shared address space ([`super::MmStruct`], what the kernel holds: the
/// walk goes through the lockless handle the address space keeps, the slow path takes
/// the read side, each user access takes it for its own length), and an [`Mm`] the
/// caller has exclusively (tests, benchmarks: every lock is implied). `&mut` of either
/// is one too.
pub trait CurrentMm {
    /// The lockless walk's view of the page table (`current->mm->pgd`), the GUP rules
    /// and what the walk shares with the owner ([`MmShared`]).
    fn fast_view(&self) -> FastView<'_>;

    /// An owned handle for a lockless walk on another thread (see [`Mm::gup_fast_handle`]).
    fn gup_fast_handle(&self) -> GupFastMm;

    /// `access_ok()`: `[va, va+len)` lies in user space.
    fn access_ok(&self, va: u64, len: u64) -> bool;

    /// The physical memory the address space lives in.
    fn phys(&self) -> &Arc<PhysMem>;

    /// `mmap_read_lock()` for GUP's slow path (counted as a kernel `lock_ops` event, as
    /// [`Mm::mmap_read_lock`] and [`super::MmStruct::gup_read_lock`] count it).
    fn mmap_read_lock(&mut self) -> MmapReadGuard<'_>;

    /// `copy_{to,from}_user()` on this address space (no side of its `mmap_lock` may be
    /// held by the caller for a shared one).
    fn user(&mut self) -> &mut dyn crate::uaccess::UserAccess;
}

impl CurrentMm for Mm {
    fn fast_view(&self) -> FastView<'_> {
        Mm::fast_view(self)
    }

    fn gup_fast_handle(&self) -> GupFastMm {
        Mm::gup_fast_handle(self)
    }

    fn access_ok(&self, va: u64, len: u64) -> bool {
        Mm::access_ok(self, va, len)
    }

    fn phys(&self) -> &Arc<PhysMem> {
        Mm::phys(self)
    }

    fn mmap_read_lock(&mut self) -> MmapReadGuard<'_> {
        Mm::mmap_read_lock(self)
    }

    fn user(&mut self) -> &mut dyn crate::uaccess::UserAccess {
        self
    }
}

/// A shared address space that the caller uses (it holds an `mm_users` reference,
/// so its page tables stay: `exit_mmap()` runs at the last `mmput()`).
impl CurrentMm for &super::MmStruct {
    fn fast_view(&self) -> FastView<'_> {
        self.gup_fast().view()
    }

    fn gup_fast_handle(&self) -> GupFastMm {
        self.gup_fast().alias()
    }

    fn access_ok(&self, va: u64, len: u64) -> bool {
        va.checked_add(len)
            .is_some_and(|end| end <= self.gup_fast().task_size())
    }

    fn phys(&self) -> &Arc<PhysMem> {
        self.gup_fast().pgtable.phys()
    }

    fn mmap_read_lock(&mut self) -> MmapReadGuard<'_> {
        self.gup_read_lock()
    }

    fn user(&mut self) -> &mut dyn crate::uaccess::UserAccess {
        self
    }
}

impl<T: CurrentMm + ?Sized> CurrentMm for &mut T {
    fn fast_view(&self) -> FastView<'_> {
        (**self).fast_view()
    }

    fn gup_fast_handle(&self) -> GupFastMm {
        (**self).gup_fast_handle()
    }

    fn access_ok(&self, va: u64, len: u64) -> bool {
        (**self).access_ok(va, len)
    }

    fn phys(&self) -> &Arc<PhysMem> {
        (**self).phys()
    }

    fn mmap_read_lock(&mut self) -> MmapReadGuard<'_> {
        (**self).mmap_read_lock()
    }

    fn user(&mut self) -> &mut dyn crate::uaccess::UserAccess {
        (**self).user()
    }
}

/// What runs between the speculative reference and the PTE re-check of [`gup_fast`]
/// (tests model another hart changing the PTE there); `None` in production.
pub(crate) type FastHook<'h> = Option<&'h mut dyn FnMut(&PageTable, u64)>;

/// [`gup_fast`] appending to `pages`; returns how many were appended.
fn gup_fast_hooked(
    mm: FastView<'_>,
    start: u64,
    nr_pages: usize,
    flags: FollFlags,
    mut hook: FastHook<'_>,
    pages: &mut Vec<Pfn>,
) -> usize {
    let phys = mm.pgtable.phys();
    phys.pages.events.gup_calls.inc();
    let before = pages.len();
    let write = flags.contains(FollFlags::WRITE);
    // FOLL_PIN: a fork write-protecting the parent now (odd count) would share what we
    // pin with the child; the slow path, under the mmap lock, handles it.
    let seq = flags
        .contains(FollFlags::PIN)
        .then(|| mm.shared.write_protect_seq());
    if seq.is_some_and(|s| s & 1 != 0) {
        return 0;
    }
    // local_irq_save(): no page table we walk is freed until we are done.
    let walk = phys.gup_fast_begin();
    let mut addr = start & !(PAGE_SIZE - 1);
    let mut left = nr_pages;
    'tables: while left > 0 {
        // gup_fast_pgd_range() … gup_fast_pud_range(): the upper levels and the PUD (one
        // READ_ONCE()), once per PMD; a 1 GiB leaf is taken there (gup_fast_pud_leaf()),
        // else gup_fast_pmd_range() reads the PMD (one pmdp_get_lockless()).
        let Some(pud_slot) = mm.pgtable.huge_pte_offset(addr, PUD_LEVEL) else {
            break;
        };
        let pud = mm.pgtable.ptep_get(pud_slot);
        let (entry_slot, pmd, level) = if pmd_trans_huge(pud) {
            (pud_slot, pud, PUD_LEVEL)
        } else {
            let Some(pmd_slot) = mm.pgtable.pmd_offset_pud(pud, addr) else {
                break;
            };
            (pmd_slot, mm.pgtable.ptep_get(pmd_slot), PMD_LEVEL)
        };
        if pmd_trans_huge(pmd) {
            // A huge leaf: gup_fast_pmd_leaf() (or _pud_leaf()), one grab for all its
            // pages in range.
            let leaf = PteSlot {
                addr: entry_slot,
                pte: pmd,
                level,
            };
            let Some(n) = gup_fast_pmd_leaf(mm, addr, leaf, left, flags, pages, &mut hook) else {
                break;
            };
            addr = addr.wrapping_add(n * PAGE_SIZE);
            left -= n as usize;
            continue;
        }
        // pte_offset_map(): no last-level table (nothing mapped) is for the slow path.
        let Some(mut slot) = mm.pgtable.pte_offset_pmd(pmd, addr) else {
            break;
        };
        // The span one last-level table maps is PMD_SIZE (= HPAGE_PMD_SIZE, 2 MiB in Sv39
        // and Sv48): the upper levels are walked once per span, as Linux's
        // gup_fast_pmd_range() calls gup_fast_pte_range() once per PMD.
        let in_table = ((HPAGE_PMD_SIZE - (addr & (HPAGE_PMD_SIZE - 1))) / PAGE_SIZE) as usize;
        // gup_fast_pte_range()
        for _ in 0..in_table.min(left) {
            let pte = mm.pgtable.ptep_get(slot);
            if pte_protnone(pte) || !pte.is_valid() {
                break 'tables;
            }
            // pte_access_permitted()
            if write && !pte_write(pte) {
                break 'tables;
            }
            // pte_special(): the zero page and PFN mappings need the VMA.
            let Some(pfn) = mm.pgtable.vm_normal_page(pte) else {
                break 'tables;
            };
            let Some(page) = phys.pages.page(pfn) else {
                break 'tables;
            };
            // try_grab_folio_fast(): speculative, may race with the page being freed.
            if try_grab_folio(phys, pfn, flags).is_err() {
                break 'tables;
            }
            // Other harts run on meanwhile (a munmap, a COW, a fork): in deterministic
            // mode this is a scheduling point, so a seed may put them here.
            crate::sync::sched_point();
            if let Some(h) = hook.as_deref_mut() {
                h(mm.pgtable, addr);
            }
            // The PTE may have changed (zapped, COWed) between our read and the reference.
            if mm.pgtable.ptep_get(slot) != pte {
                gup_put_folio(phys, pfn, 1, flags);
                break 'tables;
            }
            // gup_fast_folio_allowed(): writable long-term pins of file pages that are
            // not shmem's go to the slow path, which refuses them by the VMA.
            if !gup_fast_folio_allowed(page, flags) {
                gup_put_folio(phys, pfn, 1, flags);
                break 'tables;
            }
            if !pte_write(pte) && gup_must_unshare(mm.gup_gen, None, flags, page) {
                gup_put_folio(phys, pfn, 1, flags);
                break 'tables;
            }
            pages.push(pfn);
            addr = addr.wrapping_add(PAGE_SIZE);
            slot = devices::GuestPhysAddr(slot.0 + PTE_SIZE);
            left -= 1;
        }
    }
    drop(walk);
    // read_seqcount_retry(write_protect_seq): a fork ran meanwhile and may have shared a
    // page we pinned with its child before we pinned it: give them all back.
    if seq.is_some_and(|s| mm.shared.write_protect_seq_retry(s)) {
        for pfn in pages.drain(before..) {
            gup_put_folio(phys, pfn, 1, flags);
        }
        mm.shared.count_fork_race();
        return 0;
    }
    pages.len() - before
}

/// `gup_fast_pmd_leaf()` (and `gup_fast_pud_leaf()` for a 1 GiB leaf, `slot.level` 2):
/// the lockless walk's huge leaf case. Takes the `refs` subpages from `addr` to the end
/// of the leaf (at most `want`) with one `try_grab_folio_fast(refs)`, re-checks the
/// leaf, then the unshare and long-term rules on the head page; appends them
/// to `pages` and returns `refs`, or `None` (nothing taken) when the slow path must handle
/// it: `PROT_NONE`, not writable for `FOLL_WRITE`, the huge zero folio (`pmd_special()`),
/// a PMD that changed, a R/O pin that must unshare, a long-term writable pin of a file
/// folio that is not shmem's.
fn gup_fast_pmd_leaf(
    mm: FastView<'_>,
    addr: u64,
    slot: PteSlot,
    want: usize,
    flags: FollFlags,
    pages: &mut Vec<Pfn>,
    hook: &mut FastHook<'_>,
) -> Option<u64> {
    let pmd = slot.pte;
    let phys = mm.pgtable.phys();
    if pte_protnone(pmd) || !pmd.is_valid() {
        return None;
    }
    if flags.contains(FollFlags::WRITE) && !pte_write(pmd) {
        return None;
    }
    let head = mm.pgtable.vm_normal_page(pmd)?;
    let head_page = phys.pages.page(head)?;
    let sub = slot.pfn_at(addr);
    let nr = huge_leaf_size(slot.level) / PAGE_SIZE;
    let refs = (nr - (sub.0 - head.0)).min(want as u64);
    let refs32 = u32::try_from(refs).ok()?;
    try_grab_folio_refs(phys, head, refs32, flags).ok()?;
    if let Some(h) = hook.as_deref_mut() {
        h(mm.pgtable, addr);
    }
    if mm.pgtable.ptep_get(slot.addr) != pmd {
        gup_put_folio(phys, head, refs32, flags);
        return None;
    }
    if !gup_fast_folio_allowed(head_page, flags) {
        gup_put_folio(phys, head, refs32, flags);
        return None;
    }
    if !pte_write(pmd) && gup_must_unshare(mm.gup_gen, None, flags, head_page) {
        gup_put_folio(phys, head, refs32, flags);
        return None;
    }
    pages.extend((0..refs).map(|i| Pfn(sub.0 + i)));
    Some(refs)
}

/// `gup_fast_fallback()`: [`gup_fast`], then the slow path for the rest unless
/// `FOLL_FAST_ONLY`, appending to `pages`; returns how many were appended.
///
/// # Errors
/// `EINVAL` for flags outside [`FollFlags::FAST_ALLOWED`]; `EOVERFLOW` if the range
/// wraps; `EFAULT` if it leaves user space; the slow path's error if no page was taken.
fn gup_fast_fallback(
    mm: &mut dyn CurrentMm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    hook: FastHook<'_>,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    let start = gup_fast_prepare(mm, start, nr_pages, gup_flags)?;
    // No mmap_lock: the walk is gup_fast()'s alone.
    let nr_pinned = gup_fast_hooked(mm.fast_view(), start, nr_pages, gup_flags, hook, pages);
    gup_fast_slow(mm, start, nr_pages, nr_pinned, gup_flags, pages)
}

/// The checks `gup_fast_fallback()` makes before its lockless walk (flags, the range,
/// `MMF_HAS_PINNED` for `FOLL_PIN`); returns the page-aligned start. A range that passes
/// them passes them in every sub-range.
///
/// # Errors
/// As `gup_fast_fallback()`.
pub(crate) fn gup_fast_prepare(
    mm: &dyn CurrentMm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<u64> {
    if !FollFlags::FAST_ALLOWED.contains(gup_flags) {
        return Err(Errno::EINVAL);
    }
    if gup_flags.contains(FollFlags::PIN) {
        mm.fast_view().shared.set_has_pinned();
    }
    let start = start & !(PAGE_SIZE - 1);
    let len = (nr_pages as u64)
        .checked_mul(PAGE_SIZE)
        .ok_or(Errno::EOVERFLOW)?;
    start.checked_add(len).ok_or(Errno::EOVERFLOW)?;
    // access_ok() includes the TASK_SIZE check.
    if !mm.access_ok(start, len) {
        return Err(Errno::EFAULT);
    }
    Ok(start)
}

/// The rest of `gup_fast_fallback()` once the lockless walk took `nr_pinned` of the
/// `nr_pages` from `start`: done if it took them all (or `FOLL_FAST_ONLY`), else the slow
/// path under the read side of the mmap lock for the others. Returns the total taken.
///
/// # Errors
/// The slow path's error if no page was taken at all.
pub(crate) fn gup_fast_slow(
    mm: &mut dyn CurrentMm,
    start: u64,
    nr_pages: usize,
    nr_pinned: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    if nr_pinned == nr_pages || gup_flags.contains(FollFlags::FAST_ONLY) {
        return Ok(nr_pinned);
    }
    let mut guard = mm.mmap_read_lock();
    let mut flags = gup_flags | FollFlags::TOUCH | FollFlags::UNLOCKABLE;
    if !flags.contains(FollFlags::PIN) {
        flags |= FollFlags::GET;
    }
    let r = __get_user_pages_hooked(
        &mut guard,
        start + nr_pinned as u64 * PAGE_SIZE,
        nr_pages - nr_pinned,
        flags,
        pages,
        None,
    );
    guard.unlock();
    match r {
        // The caller has to release what was taken, so an error is returned only if
        // nothing was.
        Err(e) if nr_pinned == 0 => Err(e),
        Err(_) => Ok(nr_pinned),
        Ok(n) => Ok(nr_pinned + n),
    }
}

/// `get_user_pages_fast()`: `FOLL_GET` references to `nr_pages` pages from `start` of the
/// caller's address space `mm`. The lockless walk (`gup_fast()`) takes no `mmap_lock`;
/// only the pages it could not take are faulted in, under the read side
/// (`gup_fast_fallback()`, see [`CurrentMm`]).
///
/// # Errors
/// As `gup_fast_fallback()`: `EINVAL`, `EOVERFLOW`, `EFAULT`, `ENOMEM`.
pub fn get_user_pages_fast(
    mut mm: impl CurrentMm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let mut pages = Vec::with_capacity(nr_pages.min(1024));
    get_user_pages_fast_into(&mut mm, start, nr_pages, gup_flags, &mut pages)?;
    Ok(pages)
}

/// [`get_user_pages_fast`] appending to `pages` (Linux's `struct page **pages`
/// argument); returns how many were appended.
///
/// # Errors
/// As [`get_user_pages_fast`]; nothing is appended then.
pub fn get_user_pages_fast_into(
    mut mm: impl CurrentMm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::GET)?;
    gup_fast_fallback(&mut mm, start, nr_pages, f, None, pages)
}

/// `pin_user_pages_fast()`: `FOLL_PIN` pins, as [`get_user_pages_fast`] takes its
/// references (lockless, the slow path under the read side).
///
/// # Errors
/// As [`get_user_pages_fast`].
pub fn pin_user_pages_fast(
    mut mm: impl CurrentMm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let mut pages = Vec::with_capacity(nr_pages.min(1024));
    pin_user_pages_fast_into(&mut mm, start, nr_pages, gup_flags, &mut pages)?;
    Ok(pages)
}

/// [`pin_user_pages_fast`] appending to `pages`; returns how many were appended.
///
/// # Errors
/// As [`get_user_pages_fast`]; nothing is appended then.
pub fn pin_user_pages_fast_into(
    mut mm: impl CurrentMm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    pages: &mut Vec<Pfn>,
) -> KResult<usize> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::PIN)?;
    gup_fast_fallback(&mut mm, start, nr_pages, f, None, pages)
}

/// [`pin_user_pages_fast`] with a hook between each speculative reference and its PTE
/// re-check (a test seam modelling another hart).
#[cfg(test)]
pub(crate) fn pin_user_pages_fast_racy(
    mm: &mut Mm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
    hook: &mut dyn FnMut(&PageTable, u64),
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::PIN)?;
    let mut pages = Vec::new();
    gup_fast_fallback(mm, start, nr_pages, f, Some(hook), &mut pages)?;
    Ok(pages)
}

/// `get_user_pages_fast_only()`: only the lockless walk, never a fault (callable where
/// sleeping is not allowed). Returns the pages it got, possibly none.
///
/// # Errors
/// `EINVAL` for invalid flags; `EOVERFLOW` / `EFAULT` for a bad range.
pub fn get_user_pages_fast_only(
    mm: &Mm,
    start: u64,
    nr_pages: usize,
    gup_flags: FollFlags,
) -> KResult<Vec<Pfn>> {
    let f = is_valid_gup_args(gup_flags, false, FollFlags::GET | FollFlags::FAST_ONLY)?;
    if !FollFlags::FAST_ALLOWED.contains(f) {
        return Err(Errno::EINVAL);
    }
    let start = start & !(PAGE_SIZE - 1);
    let len = (nr_pages as u64)
        .checked_mul(PAGE_SIZE)
        .ok_or(Errno::EOVERFLOW)?;
    start.checked_add(len).ok_or(Errno::EOVERFLOW)?;
    if !mm.access_ok(start, len) {
        return Err(Errno::EFAULT);
    }
    Ok(gup_fast(mm, start, nr_pages, f))
}

/// `put_page()`: releases a `FOLL_GET` reference.
pub fn put_page(phys: &PhysMem, pfn: Pfn) {
    phys.put_page(pfn);
}

/// `unpin_user_page()`: releases one `FOLL_PIN` pin (`gup_put_folio(FOLL_PIN)`); nothing
/// for the zero pages, which are never pinned.
pub fn unpin_user_page(phys: &PhysMem, pfn: Pfn) {
    gup_put_folio(phys, pfn, 1, FollFlags::PIN);
}

/// `gup_folio_next()`: the folio of `pages[0]` and how many consecutive entries from the
/// start belong to it.
fn gup_folio_next(phys: &PhysMem, pages: &[Pfn]) -> (Pfn, usize) {
    let Some(&first) = pages.first() else {
        return (Pfn(0), 0);
    };
    let head = phys.pages.folio(first).map_or(first, |(h, _)| h);
    let nr = phys.pages.folio_nr_pages(head);
    let large = nr > 1;
    let n = if large {
        1 + pages
            .iter()
            .skip(1)
            .take_while(|&&p| p.0 >= head.0 && p.0 < head.0 + nr)
            .count()
    } else {
        1
    };
    (head, n)
}

/// `unpin_user_pages()`: releases the pins, one `gup_put_folio(folio, n)` per run of
/// consecutive entries in the same folio.
pub fn unpin_user_pages(phys: &PhysMem, pages: &[Pfn]) {
    unpin_user_pages_dirty_lock(phys, pages, false);
}

/// `unpin_user_pages_dirty_lock()`: unpins as [`unpin_user_pages`], first marking each
/// folio `PG_dirty` (`folio_mark_dirty()` under the folio lock) when `make_dirty`: the
/// device wrote it.
pub fn unpin_user_pages_dirty_lock(phys: &PhysMem, pages: &[Pfn], make_dirty: bool) {
    let mut rest = pages;
    while !rest.is_empty() {
        let (head, n) = gup_folio_next(phys, rest);
        if make_dirty && !phys.pages.is_zero_pfn(head) && !phys.pages.is_huge_zero_pfn(head) {
            if let Some(p) = phys.pages.page(head) {
                p.set(PageFlags::DIRTY);
            }
        }
        gup_put_folio(
            phys,
            head,
            u32::try_from(n).unwrap_or(u32::MAX),
            FollFlags::PIN,
        );
        rest = rest.get(n.max(1)..).unwrap_or(&[]);
    }
}
