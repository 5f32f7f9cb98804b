//! Page tables in guest RAM (Linux `mm/memory.c` page-table helpers, `mm/mprotect.c`
//! `change_protection()`, `mm/mremap.c` `move_ptes()`, `arch/riscv/include/asm/pgtable.h`).
//!
//! The tables are real Sv39/Sv48 tables in guest RAM, read and written with atomics
//! (`GuestMemory::load_u64`/`store_u64`/`compare_exchange_u64`/`amo_u64`), so the
//! hardware walker (`mmu::walk`) sees exactly what the kernel wrote and the kernel sees the
//! A/D bits the walker set. The number of levels comes from the paging mode
//! (`SatpMode::levels()`).
//!
//! # Huge PMDs
//! Besides 4 KiB leaves at level 0, a leaf at level 1 ([`PMD_LEVEL`], Linux's PMD in
//! both Sv39 and Sv48) maps a 2 MiB transparent huge page (`pmd_trans_huge()`); the
//! creation and the fault side are in [`super::huge_memory`]. Every walk here handles such a
//! leaf: an operation covering the whole 2 MiB acts on the one entry (`zap_huge_pmd()`,
//! `change_huge_pmd()`, `move_huge_pmd()`, `copy_huge_pmd()`); one covering part of it
//! first splits it into a table of 512 PTEs mapping the same pages
//! ([`PageTable::split_huge_pmd`], Linux `__split_huge_pmd()`). As in Linux, a page-table
//! page is allocated with every huge PMD and **deposited** (`pgtable_trans_huge_deposit()`)
//! so that a split never fails for lack of memory; it is freed with the PMD. Above level 1
//! only hugetlb creates a leaf: a 1 GiB page at level 2 ([`PUD_LEVEL`], see
//! [`super::hugetlb`]), which the walks report as they report a huge PMD (with its level:
//! its size is [`huge_leaf_size`]) and which is never split, deposits nothing and always
//! lies wholly inside its VMA. A leaf at level 3 (Sv48's 512 GiB) is never created; one
//! found there is skipped.
//!
//! # PTE policy (deliberate)
//! User PTEs are created with `V`, `U` and `R`/`W`/`X` from the VMA, and **`A = 0`,
//! `D = 0`**. Under Svadu the walker sets A on the first access and D on the first store,
//! so every `pte_young()`/`pte_dirty()` the kernel reads is what the hardware wrote; under
//! Svade the fault handler sets them for the access that faulted (see `fault.rs`). riscv
//! Linux instead pre-sets A in `_PAGE_BASE` (and `do_anonymous_page()` pre-sets D for
//! writable anonymous pages); we do not, on purpose, so the hardware A/D paths are exercised.
//!
//! `PROT_NONE` PTEs follow riscv Linux: `V = 0` with `_PAGE_PROT_NONE` (= `G`) and `R` set
//! and the PFN kept, so the hardware faults while the kernel still sees a present page
//! (`pte_present()` = `V | PROT_NONE`). User mappings are never global, so `G` is free.
//!
//! # Soft-dirty
//! A software bit, [`PAGE_SOFT_DIRTY`] (riscv's `_PAGE_SOFT_DIRTY`: bit 59, one of
//! Svrsw60t59b's two software bits, which the harts implement and the walker ignores; bit
//! 8, RSW's first, is `_PAGE_SPECIAL`), records that the page was written since the last
//! `clear_refs` 4 (`Documentation/admin-guide/mm/soft-dirty.rst`). riscv's `pte_mkdirty()`
//! sets it together with D; here the fault path sets it whenever it serves a write — a
//! new page, a reuse, a copy, a shared PTE made writable (see `fault.rs`) — whether or
//! not it sets D itself. The hardware cannot set it: the walker sets D on a store through
//! a *writable* PTE and knows nothing of bit 59. So tracking needs write faults:
//! `clear_refs` 4 clears the bit **and `W`** ([`PageTable::clear_refs_range`]), no path
//! gives `W` back without a fault while the VMA tracks (`can_change_pte_writable()`,
//! and [`vm_get_page_prot`] maps a tracked shared VMA read-only), and the next store
//! faults into `do_wp_page()`, which reuses an exclusive page and sets the bit. The bit
//! lives in the PTE bits `pte_modify()` keeps, so it survives `mprotect`, a huge PMD's
//! split, fork's copy and `mremap`'s move (which sets it, as `move_soft_dirty_pte()`).
//!
//! # Locks
//! PTEs are read and changed with atomics (the hardware walker sets A/D concurrently),
//! and, as in Linux, under page-table locks that order the kernel's multi-step updates:
//! the split lock of the PTE-table page ([`PageTable::pte_lock`], Linux's
//! `pte_offset_map_lock()` → `ptlock_ptr()`, kept in the table's `struct page`) around
//! installing, zapping, write-protecting or re-protecting its PTEs; and the address
//! space's `page_table_lock` ([`PageTable::pmd_lock`]) around populating an upper-level
//! entry (`__pte_alloc()`, `__pmd_alloc()`) and creating, changing, splitting or zapping
//! a huge PMD (`pmd_lock()`). The two are never nested. The `mmap_lock` is taken first
//! (read for faults, GUP and `MADV_DONTNEED`; write for what changes VMAs or frees page
//! tables), see [`crate::sync`].
//!
//! Page-table frames unlinked by [`PageTable::free_pgtables`] go into the
//! [`MmuGather`] and are freed after the TLB flush (Linux's `tlb_remove_table()`), and
//! past any lockless GUP-fast walk ([`super::PhysMem::free_pgtable`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::lockstat;
use crate::sync::{Mutex, MutexGuard};

use devices::{AmoOp, GuestPhysAddr, PAGE_SHIFT, PAGE_SIZE};
use mmu::{Pte, PteFlags, SatpMode};

use super::page_alloc::{PageFlags, Pfn, ThpEvent, HPAGE_PMD_NR, HPAGE_PMD_SIZE};
use super::swapfile::{
    is_swap_pte, pte_to_swp_entry, PAGE_SWP_EXCLUSIVE, PAGE_SWP_SOFT_DIRTY, PAGE_SWP_UFFD_WP,
};
use super::vma::VmFlags;
use super::PhysMem;
use crate::errno::{Errno, KResult};

/// Entries per table (4 KiB / 8-byte PTEs).
const PTRS_PER_TABLE: u64 = 512;
/// Bits of VPN per level.
const BITS_PER_LEVEL: u32 = 9;
/// PTE size in bytes.
pub(crate) const PTE_SIZE: u64 = 8;

/// `_PAGE_PROT_NONE` (riscv: the global bit, meaningful only while `V = 0`).
const PAGE_PROT_NONE: PteFlags = PteFlags::G;
/// The bits `pte_modify()` replaces (the complement of riscv's `_PAGE_CHG_MASK`): PFN, A,
/// D, RSW and PBMT are kept.
const PTE_PROT_BITS: PteFlags = PteFlags::V
    .union(PteFlags::R)
    .union(PteFlags::W)
    .union(PteFlags::X)
    .union(PteFlags::U)
    .union(PteFlags::G)
    .union(PAGE_MTAG);

/// Zimt's `PTE.MTAG` (bit 58, [`Pte::MTAG_BIT`]) as a protection bit: what a `VM_MTE`
/// VMA's PTEs carry (arm64's `PTE_ATTRINDX(MT_NORMAL_TAGGED)`). `PteFlags` names only
/// bits 7:0, so this one is retained by value; `Pte::flags()` drops it, `Pte::mtag()`
/// reads it.
pub const PAGE_MTAG: PteFlags = PteFlags::from_bits_retain(Pte::MTAG_BIT);

/// `_PAGE_SOFT_DIRTY` (riscv with Svrsw60t59b: bit 59, [`mmu::Pte::SVRSW60T59B_MASK`]'s
/// low bit), retained by value like [`PAGE_MTAG`]. See the module docs.
pub const PAGE_SOFT_DIRTY: PteFlags = PteFlags::from_bits_retain(1 << 59);

/// The level of a PMD entry: a leaf there maps 2 MiB.
pub const PMD_LEVEL: usize = 1;
/// The level of a PUD entry (Sv39's root, Sv48's third level): a leaf there maps 1 GiB,
/// and only a gigantic hugetlb page is mapped so.
pub const PUD_LEVEL: usize = 2;

/// Bytes one leaf at `level` maps: 4 KiB at 0, 2 MiB at [`PMD_LEVEL`], 1 GiB at
/// [`PUD_LEVEL`] (`PMD_SIZE`, `PUD_SIZE`).
#[inline]
pub const fn huge_leaf_size(level: usize) -> u64 {
    PAGE_SIZE << (BITS_PER_LEVEL * level as u32)
}

/// `PAGE_NONE`: what a `PROT_NONE` VMA's PTEs carry.
pub const PAGE_NONE: PteFlags = PAGE_PROT_NONE.union(PteFlags::R);

/// `vm_get_page_prot()` (riscv `protection_map[]`): the PTE protection for a VMA.
///
/// Private writable mappings get **no** `W` (`PAGE_COPY`): write permission is added per
/// PTE by the fault path (`maybe_mkwrite`) and by `change_protection()` only where the page
/// is exclusively owned, which is what makes COW possible. Shared writable ones get `W`
/// unless soft-dirty tracking is on for them (`VM_SOFTDIRTY` clear:
/// `vma_wants_writenotify()` → `vm_page_prot` without write). `W` without `R` is reserved in
/// RISC-V, so write implies read. A VMA with no access bits gets [`PAGE_NONE`].
pub fn vm_get_page_prot(flags: VmFlags) -> PteFlags {
    if !flags.is_accessible() {
        return PAGE_NONE;
    }
    let mut p = PteFlags::V | PteFlags::U;
    if flags.intersects(VmFlags::READ | VmFlags::WRITE) {
        p |= PteFlags::R;
    }
    if flags.contains(VmFlags::EXEC) {
        p |= PteFlags::X;
    }
    // vma_wants_writenotify(): a tracked shared VMA (soft-dirty enabled) maps read-only,
    // so the first store faults and sets the soft-dirty bit.
    if flags.contains(VmFlags::WRITE)
        && flags.contains(VmFlags::SHARED)
        && !flags.soft_dirty_enabled()
    {
        p |= PteFlags::W;
    }
    // arm64 arch_vm_get_page_prot(): VM_MTE maps Normal-Tagged memory.
    if flags.contains(VmFlags::MTE) {
        p |= PAGE_MTAG;
    }
    p
}

/// `pte_none()`: the entry is all zero.
#[inline]
pub fn pte_none(pte: Pte) -> bool {
    pte.0 == 0
}

/// `pte_present()`: valid, or a `PROT_NONE` page.
#[inline]
pub fn pte_present(pte: Pte) -> bool {
    pte.is_valid() || pte.flags().contains(PAGE_PROT_NONE)
}

/// `pte_protnone()`: present for the kernel, invalid for the hardware.
#[inline]
pub fn pte_protnone(pte: Pte) -> bool {
    !pte.is_valid() && pte.flags().contains(PAGE_PROT_NONE)
}

/// A valid non-leaf entry (a pointer to the next-level table).
#[inline]
pub fn pte_is_table(pte: Pte) -> bool {
    pte.is_valid()
        && !pte
            .flags()
            .intersects(PteFlags::R | PteFlags::W | PteFlags::X)
}

/// `pmd_trans_huge()` for an entry above level 0: a present (valid or `PROT_NONE`) leaf.
#[inline]
pub fn pmd_trans_huge(pmd: Pte) -> bool {
    pte_present(pmd)
        && pmd
            .flags()
            .intersects(PteFlags::R | PteFlags::W | PteFlags::X)
}

/// `pte_write()`.
#[inline]
pub fn pte_write(pte: Pte) -> bool {
    pte.flags().contains(PteFlags::W)
}

/// `pte_exec()`.
#[inline]
pub fn pte_exec(pte: Pte) -> bool {
    pte.flags().contains(PteFlags::X)
}

/// `pte_young()`: the A bit.
#[inline]
pub fn pte_young(pte: Pte) -> bool {
    pte.flags().contains(PteFlags::A)
}

/// `pte_dirty()`: the D bit.
#[inline]
pub fn pte_dirty(pte: Pte) -> bool {
    pte.flags().contains(PteFlags::D)
}

/// `pte_soft_dirty()` / `pmd_soft_dirty()`: the [`PAGE_SOFT_DIRTY`] bit.
#[inline]
pub fn pte_soft_dirty(pte: Pte) -> bool {
    pte.0 & PAGE_SOFT_DIRTY.bits() != 0
}

/// `pte_clear_soft_dirty()` / `pmd_clear_soft_dirty()`.
#[inline]
pub fn pte_clear_soft_dirty(pte: Pte) -> Pte {
    pte.without(PAGE_SOFT_DIRTY)
}

/// `pte_pfn()`.
#[inline]
pub fn pte_pfn(pte: Pte) -> Pfn {
    Pfn(pte.ppn())
}

/// `mk_pte()`: a PTE for `pfn` with protection `prot` (A = D = 0, per the policy above).
#[inline]
pub fn mk_pte(pfn: Pfn, prot: PteFlags) -> Pte {
    Pte::new(pfn.0, prot)
}

/// `pte_modify()`: `pte` with its protection replaced by `prot`; PFN, A, D, RSW and PBMT
/// are kept.
#[inline]
pub fn pte_modify(pte: Pte, prot: PteFlags) -> Pte {
    Pte((pte.0 & !PTE_PROT_BITS.bits()) | prot.bits())
}

/// A PTE slot found by a software walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PteSlot {
    /// Guest-physical address of the entry.
    pub addr: GuestPhysAddr,
    /// Its value when read.
    pub pte: Pte,
    /// Level of the entry (0 = 4 KiB leaf, 1 = 2 MiB huge PMD).
    pub level: usize,
}

impl PteSlot {
    /// The frame that maps `va` through this entry: the entry's own PFN for a 4 KiB leaf,
    /// the subpage `pfn + (va's offset in the leaf) / 4 KiB` for a huge one.
    #[inline]
    pub fn pfn_at(&self, va: u64) -> Pfn {
        let span = 1u64 << (BITS_PER_LEVEL * self.level as u32);
        Pfn(self.pte.ppn() + ((va >> PAGE_SHIFT) & (span - 1)))
    }
}

/// What a walk does after its callback saw a huge PMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Go on with the next entry.
    Next,
    /// The callback split the PMD: walk the new table's PTEs.
    Descend,
}

/// A walk callback: `(va, entry address, entry, level)`; the answer matters only for
/// level-1 leaves.
type WalkFn<'a> = dyn FnMut(u64, GuestPhysAddr, Pte, usize) -> Step + 'a;

/// Whether a walk holds each PTE table's split lock while it visits its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkLock {
    /// `pte_offset_map_lock()` per table: the walk changes PTEs.
    Ptl,
    /// No lock: the walk only reads, or the `mmap_lock` write side excludes every other
    /// kernel path that changes these PTEs.
    None,
}

/// A held page-table lock ([`PageTable::pte_lock`], [`PageTable::pmd_lock`]).
pub type PtlGuard<'a> = MutexGuard<'a, ()>;

/// Linux's `struct mmu_gather`: what a zap/unmap/protection change has to flush, and the
/// pages whose last reference it dropped, which are released only after the entries that
/// mapped them are gone (`tlb_finish_mmu`).
#[derive(Debug, Default)]
pub struct MmuGather {
    /// Lowest address whose translation changed.
    pub start: u64,
    /// One past the highest.
    pub end: u64,
    /// A page-table page was freed: non-leaf entries changed, so the whole address space
    /// must be flushed (riscv `tlb_flush()` uses `flush_tlb_mm()` when `freed_tables`).
    pub freed_tables: bool,
    /// An executable translation was created, removed or changed.
    pub exec: bool,
    /// Pages to `put_page()` once the entries are cleared and the TLBs flushed.
    pub pages: Vec<Pfn>,
    /// Page-table pages unlinked from their parent entry, to free once the TLBs are
    /// flushed (`tlb_remove_table()`): a hart in the middle of a walk may still read one.
    pub tables: Vec<Pfn>,
    /// Counted in its address space's `tlb_flush_pending` (started by
    /// `Mm::tlb_gather_mmu()`, as Linux's zappers are; the fault path's own gathers are
    /// not, as `ptep_clear_flush()` is not).
    pub flush_pending: bool,
}

impl MmuGather {
    /// `tlb_flush_pte_range()`: records that `[start, end)` must be flushed.
    pub fn add_range(&mut self, start: u64, end: u64, exec: bool) {
        if self.start >= self.end {
            self.start = start;
            self.end = end;
        } else {
            self.start = self.start.min(start);
            self.end = self.end.max(end);
        }
        self.exec |= exec;
    }

    /// Whether nothing needs flushing.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end && !self.freed_tables
    }
}

/// What [`PageTable::clear_refs_range`] clears (`enum clear_refs_types`' page-table
/// work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearRefs {
    /// `CLEAR_REFS_ALL`, `CLEAR_REFS_ANON`, `CLEAR_REFS_MAPPED`: the A bits.
    Young,
    /// `CLEAR_REFS_SOFT_DIRTY`: the soft-dirty bits, write-protecting.
    SoftDirty,
}

/// What `PageTable::copy_page_range()` (the fork copy, see [`super::Mm::dup_mmap`]) did.
#[derive(Debug, Default)]
pub struct ForkCopy {
    /// Entries the child now shares with the parent (zero page included).
    pub ptes: u64,
    /// Parent entries that lost `W` (became copy-on-write).
    pub wrprotected: u64,
    /// Possibly pinned pages copied for the child at fork (`copy_present_page()`).
    pub copied: u64,
    /// The parent's translations that changed: its flush.
    pub parent_tlb: MmuGather,
    /// Huge PMDs the child now shares with the parent (each also counted in `ptes`).
    pub huge_pmds: u64,
    /// The child maps the huge zero folio and must hold a reference on it.
    pub huge_zero: bool,
}

/// One address space's page table, rooted at `pgd`.
#[derive(Debug)]
pub struct PageTable {
    phys: Arc<PhysMem>,
    mode: SatpMode,
    levels: usize,
    pgd: Pfn,
    /// Page tables deposited with huge PMDs, by the PMD's 2 MiB-aligned address
    /// (`pmd_huge_pte`). Shared with [`PageTable::alias`] handles.
    deposited: Arc<Mutex<BTreeMap<u64, Pfn>>>,
    /// Huge PMDs split in this address space (shared with aliases).
    split_pmds: Arc<AtomicU64>,
    /// `mm->page_table_lock` (shared with aliases): see [`PageTable::pmd_lock`].
    page_table_lock: Arc<Mutex<()>>,
}

impl PageTable {
    /// `pgd_alloc()`: allocates a zeroed root table for `mode`.
    ///
    /// # Errors
    /// `EINVAL` for `SatpMode::Bare`; `ENOMEM` if no frame is free.
    pub fn new(phys: Arc<PhysMem>, mode: SatpMode) -> KResult<Self> {
        let levels = mode.levels();
        if levels == 0 {
            return Err(Errno::EINVAL);
        }
        let pgd = alloc_table(&phys).ok_or(Errno::ENOMEM)?;
        Ok(Self {
            phys,
            mode,
            levels,
            pgd,
            deposited: Arc::new(Mutex::new(BTreeMap::new())),
            split_pmds: Arc::new(AtomicU64::new(0)),
            page_table_lock: Arc::new(Mutex::new(())),
        })
    }

    /// A second handle on the same tables (same root, same `PhysMem`), for the reverse
    /// map ([`super::rmap::MmRmap`]) to reach this address space's PTEs from another
    /// process's system call. `PageTable` has no destructor; the owner frees the tables
    /// with [`PageTable::destroy`], after which the alias must not be used (the rmap
    /// drops it first, see `MmRmap::kill`).
    /// The physical memory the tables live in.
    pub fn phys(&self) -> &Arc<PhysMem> {
        &self.phys
    }

    pub(crate) fn alias(&self) -> PageTable {
        PageTable {
            phys: Arc::clone(&self.phys),
            mode: self.mode,
            levels: self.levels,
            pgd: self.pgd,
            deposited: Arc::clone(&self.deposited),
            split_pmds: Arc::clone(&self.split_pmds),
            page_table_lock: Arc::clone(&self.page_table_lock),
        }
    }

    /// `pte_lockptr()` + `spin_lock()`: takes the split lock of the PTE table that holds
    /// the entry `slot` (its `struct page`'s, [`super::Page::ptl`]), spinning while
    /// another hart holds it ([`crate::sync::Mutex::spin_lock`]). `None` only for an
    /// entry outside managed RAM, which no table of ours is.
    pub fn pte_lock(&self, slot: GuestPhysAddr) -> Option<PtlGuard<'_>> {
        let page = self.phys.pages.page(Pfn(slot.0 >> PAGE_SHIFT))?;
        let ptl = page.ptl();
        Some(lockstat::PTE_PTL.acquire(|| ptl.try_lock(), || ptl.spin_lock()))
    }

    /// `spin_trylock()` of the split lock [`PageTable::pte_lock`] takes, for direct
    /// reclaim ([`crate::sync::trylock`]: the allocating caller may hold it). `None` if
    /// it is held, or for an entry outside managed RAM.
    pub fn pte_trylock(&self, slot: GuestPhysAddr) -> Option<PtlGuard<'_>> {
        let page = self.phys.pages.page(Pfn(slot.0 >> PAGE_SHIFT))?;
        crate::sync::trylock(page.ptl())
    }

    /// `pmd_lock()` / `spin_lock(&mm->page_table_lock)`: the address space's lock for its
    /// upper-level entries and huge PMDs (Linux splits it per PMD table with
    /// `USE_SPLIT_PMD_PTLOCKS`; one per address space is what it falls back to).
    pub fn pmd_lock(&self) -> PtlGuard<'_> {
        let l = &*self.page_table_lock;
        lockstat::PAGE_TABLE_LOCK.acquire(|| l.try_lock(), || l.spin_lock())
    }

    /// The root table's frame (`satp.PPN`).
    pub fn pgd(&self) -> Pfn {
        self.pgd
    }

    /// The paging mode.
    pub fn mode(&self) -> SatpMode {
        self.mode
    }

    /// First address above the user half: `1 << (VA_BITS - 1)` (256 GiB for Sv39, 128 TiB
    /// for Sv48), Linux's `TASK_SIZE`.
    pub fn user_top(&self) -> u64 {
        1u64 << (self.mode.va_bits() - 1)
    }

    #[inline]
    fn shift(level: usize) -> u32 {
        PAGE_SHIFT + BITS_PER_LEVEL * level as u32
    }

    #[inline]
    fn index(va: u64, level: usize) -> u64 {
        (va >> Self::shift(level)) & (PTRS_PER_TABLE - 1)
    }

    #[inline]
    fn slot(table: Pfn, idx: u64) -> GuestPhysAddr {
        GuestPhysAddr(table.pa().0 + idx * PTE_SIZE)
    }

    /// `ptep_get()`: an acquire load of the entry (zero if the address is not in RAM).
    #[inline]
    pub fn ptep_get(&self, slot: GuestPhysAddr) -> Pte {
        self.phys.pages.events.pte_loads.inc();
        Pte(self.phys.ram.load_u64(slot, Ordering::Acquire).unwrap_or(0))
    }

    /// `set_pte()`: a release store. A valid tagged entry first syncs its frame's tags
    /// (`set_pte_at()` → `mte_sync_tags()`: zeroed the first time it is mapped tagged).
    #[inline]
    pub fn set_pte(&self, slot: GuestPhysAddr, pte: Pte) {
        self.sync_tags(pte);
        self.phys.pages.events.pte_stores.inc();
        let _ = self.phys.ram.store_u64(slot, pte.0, Ordering::Release);
    }

    /// `ptep_get_and_clear()`: atomically clears the entry and returns what was there,
    /// including any A/D bit the hardware set up to that instant.
    #[inline]
    pub fn ptep_get_and_clear(&self, slot: GuestPhysAddr) -> Pte {
        self.phys.pages.events.pte_rmws.inc();
        Pte(self.phys.ram.amo_u64(slot, AmoOp::Swap, 0).unwrap_or(0))
    }

    /// `ptep_cmpxchg`: replaces `old` with `new` if the entry still holds `old` (the
    /// hardware walker may have set A/D in between). Returns whether it did.
    #[inline]
    pub fn ptep_cmpxchg(&self, slot: GuestPhysAddr, old: Pte, new: Pte) -> bool {
        self.sync_tags(new);
        self.phys.pages.events.pte_rmws.inc();
        matches!(
            self.phys.ram.compare_exchange_u64(slot, old.0, new.0),
            Ok(Ok(_))
        )
    }

    /// `mte_sync_tags()` for an entry about to be stored, before any hart can use it: a
    /// valid leaf with `PTE.MTAG` whose frame was not yet mapped tagged gets zero tags.
    #[inline]
    fn sync_tags(&self, pte: Pte) {
        if pte.mtag() && pte.is_valid() && pte.is_leaf() {
            super::mte::mte_sync_tags(&self.phys, pte_pfn(pte));
        }
    }

    fn is_table_frame(&self, pfn: Pfn) -> bool {
        self.phys
            .pages
            .page(pfn)
            .is_some_and(|p| p.test(PageFlags::PGTABLE))
    }

    /// The child table an entry points to, if it is a table pointer to one of our tables
    /// (a garbage entry is never followed).
    fn child_table(&self, pte: Pte) -> Option<Pfn> {
        (pte_is_table(pte) && self.is_table_frame(pte_pfn(pte))).then_some(pte_pfn(pte))
    }

    fn is_user(&self, va: u64) -> bool {
        va < self.user_top()
    }

    /// `pte_offset_map()`: the level-0 entry for `va` if all tables above it exist.
    pub fn pte_offset(&self, va: u64) -> Option<GuestPhysAddr> {
        if !self.is_user(va) {
            return None;
        }
        let mut table = self.pgd;
        for level in (1..self.levels).rev() {
            let pte = self.ptep_get(Self::slot(table, Self::index(va, level)));
            table = self.child_table(pte)?;
        }
        Some(Self::slot(table, Self::index(va, 0)))
    }

    /// `pte_offset_map(pmd, va)`: the level-0 entry for `va` in the table the level-1
    /// entry `pmd` (already read) points to, or `None` if `pmd` is not a pointer to one
    /// of our tables (empty, or a huge PMD). Reads nothing: a walker that loaded the PMD
    /// itself (GUP-fast, which must tell a huge PMD from a table) does not walk twice.
    pub fn pte_offset_pmd(&self, pmd: Pte, va: u64) -> Option<GuestPhysAddr> {
        if !self.is_user(va) {
            return None;
        }
        self.child_table(pmd)
            .map(|table| Self::slot(table, Self::index(va, 0)))
    }

    /// `pmd_offset()`: the level-1 entry for `va` if all tables above it exist.
    pub fn pmd_offset(&self, va: u64) -> Option<GuestPhysAddr> {
        self.huge_pte_offset(va, PMD_LEVEL)
    }

    /// `huge_pte_offset()`: the entry at `level` ([`PMD_LEVEL`] or [`PUD_LEVEL`]) for
    /// `va` if all tables above it exist.
    pub fn huge_pte_offset(&self, va: u64, level: usize) -> Option<GuestPhysAddr> {
        if !self.is_user(va) || level >= self.levels {
            return None;
        }
        let mut table = self.pgd;
        for l in (level + 1..self.levels).rev() {
            let pte = self.ptep_get(Self::slot(table, Self::index(va, l)));
            table = self.child_table(pte)?;
        }
        Some(Self::slot(table, Self::index(va, level)))
    }

    /// `pmd_offset(pud, va)`: the level-1 entry for `va` in the table the level-2 entry
    /// `pud` (already read) points to, or `None` if `pud` is not a pointer to one of our
    /// tables (empty, or a 1 GiB leaf): GUP-fast, which reads the PUD to tell a leaf
    /// from a table, does not walk twice.
    pub fn pmd_offset_pud(&self, pud: Pte, va: u64) -> Option<GuestPhysAddr> {
        if !self.is_user(va) {
            return None;
        }
        self.child_table(pud)
            .map(|table| Self::slot(table, Self::index(va, PMD_LEVEL)))
    }

    /// `pte_alloc()` / `walk_alloc`: the level-0 entry for `va`, allocating missing
    /// intermediate tables.
    ///
    /// # Errors
    /// `ENOMEM` when a table cannot be allocated; `EFAULT` for a non-user `va` or a
    /// non-table entry in the way (a huge PMD: split it first).
    pub fn pte_alloc(&self, va: u64) -> KResult<GuestPhysAddr> {
        self.walk_alloc(va, 0)
    }

    /// `pmd_alloc()`: the level-1 entry for `va`, allocating missing tables above it.
    ///
    /// # Errors
    /// `ENOMEM` when a table cannot be allocated; `EFAULT` for a non-user `va`.
    pub fn pmd_alloc(&self, va: u64) -> KResult<GuestPhysAddr> {
        self.walk_alloc(va, PMD_LEVEL)
    }

    /// `huge_pte_alloc()`: the entry at `level` ([`PMD_LEVEL`] for a 2 MiB hugetlb page,
    /// [`PUD_LEVEL`] for 1 GiB) for `va`, allocating missing tables above it.
    ///
    /// # Errors
    /// `ENOMEM` when a table cannot be allocated; `EFAULT` for a non-user `va` or a
    /// level the paging mode does not have below its root.
    pub fn huge_pte_alloc(&self, va: u64, level: usize) -> KResult<GuestPhysAddr> {
        if level >= self.levels {
            return Err(Errno::EFAULT);
        }
        self.walk_alloc(va, level)
    }

    fn walk_alloc(&self, va: u64, stop: usize) -> KResult<GuestPhysAddr> {
        if !self.is_user(va) {
            return Err(Errno::EFAULT);
        }
        let mut table = self.pgd;
        for level in (stop + 1..self.levels).rev() {
            let slot = Self::slot(table, Self::index(va, level));
            let pte = self.ptep_get(slot);
            if let Some(child) = self.child_table(pte) {
                table = child;
                continue;
            }
            if !pte_none(pte) {
                return Err(Errno::EFAULT);
            }
            // __pte_alloc(): the table is allocated outside the lock, then installed
            // under it if the entry is still empty (another fault may have populated it,
            // or made it a huge PMD, meanwhile).
            let new = alloc_table(&self.phys).ok_or(Errno::ENOMEM)?;
            let ptl = self.pmd_lock();
            // Non-leaf entries: V only (D, A, U are reserved there).
            let installed = self.ptep_cmpxchg(slot, pte, Pte::new(new.0, PteFlags::V));
            drop(ptl);
            if !installed {
                free_table(&self.phys, new);
                let now = self.ptep_get(slot);
                table = self.child_table(now).ok_or(Errno::EFAULT)?;
                continue;
            }
            table = new;
        }
        Ok(Self::slot(table, Self::index(va, stop)))
    }

    /// `follow_pte()` (and `follow_pmd_mask()`'s huge case): the kernel's own software
    /// walk. Returns the present leaf mapping `va` — a 4 KiB PTE, or a huge PMD at level 1
    /// (valid or `PROT_NONE`; use [`PteSlot::pfn_at`] for the subpage) — with its entry
    /// address, value and level, or `None` if there is none.
    pub fn follow_pte(&self, va: u64) -> Option<PteSlot> {
        if !self.is_user(va) {
            return None;
        }
        let mut table = self.pgd;
        for level in (0..self.levels).rev() {
            let addr = Self::slot(table, Self::index(va, level));
            let pte = self.ptep_get(addr);
            if level > 0 {
                if let Some(child) = self.child_table(pte) {
                    table = child;
                    continue;
                }
                return pmd_trans_huge(pte).then_some(PteSlot { addr, pte, level });
            }
            return pte_present(pte).then_some(PteSlot { addr, pte, level });
        }
        None
    }

    /// [`PageTable::follow_pte`] with the entry's lock held while the caller uses what it
    /// found (`follow_page_pte()`'s `pte_offset_map_lock()`, `follow_huge_pmd()`'s
    /// `pmd_lock()`): the leaf entry is read under its PTE table's lock, a level-1 entry
    /// under [`PageTable::pmd_lock`], so a concurrent zap cannot clear it (and queue its
    /// page for freeing) between the read and the reference the caller takes.
    pub fn follow_pte_locked(&self, va: u64) -> Option<(PteSlot, PtlGuard<'_>)> {
        if !self.is_user(va) {
            return None;
        }
        let mut table = self.pgd;
        for level in (0..self.levels).rev() {
            let addr = Self::slot(table, Self::index(va, level));
            let ptl = match level {
                0 => self.pte_lock(addr),
                // huge_pte_lock(): a 1 GiB leaf is read under the page_table_lock too.
                PMD_LEVEL | PUD_LEVEL => Some(self.pmd_lock()),
                _ => None,
            };
            let pte = self.ptep_get(addr);
            if level > 0 {
                if let Some(child) = self.child_table(pte) {
                    table = child;
                    continue;
                }
                let found = PteSlot { addr, pte, level };
                return pmd_trans_huge(pte).then_some(found).zip(ptl);
            }
            return pte_present(pte)
                .then_some(PteSlot { addr, pte, level })
                .zip(ptl);
        }
        None
    }

    /// Calls `f(va, entry_addr, pte, level)` for every non-zero level-0 entry and every
    /// huge PMD (level 1) in `[start, end)`, skipping absent tables entirely (so huge
    /// sparse ranges cost only their tables). A huge PMD is reported with its aligned
    /// address even if `[start, end)` covers only part of it; if the callback splits it
    /// and answers [`Step::Descend`], the new table's PTEs inside the range follow.
    /// With [`WalkLock::Ptl`] each PTE table's split lock is held while its entries are
    /// visited (not while a huge PMD is: the callback takes [`PageTable::pmd_lock`]).
    fn for_each_pte(&self, start: u64, end: u64, lock: WalkLock, f: &mut WalkFn<'_>) {
        let end = end.min(self.user_top());
        if start < end {
            self.walk_level(self.pgd, self.levels - 1, 0, start, end, lock, f);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_level(
        &self,
        table: Pfn,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
        lock: WalkLock,
        f: &mut WalkFn<'_>,
    ) {
        let shift = Self::shift(level);
        let table_end = base.saturating_add(PTRS_PER_TABLE << shift);
        let lo = start.max(base);
        let hi = end.min(table_end);
        if lo >= hi {
            return;
        }
        let _ptl = (level == 0 && lock == WalkLock::Ptl)
            .then(|| self.pte_lock(Self::slot(table, 0)))
            .flatten();
        for idx in ((lo - base) >> shift)..=((hi - 1 - base) >> shift) {
            let addr = Self::slot(table, idx);
            let pte = self.ptep_get(addr);
            if pte_none(pte) {
                continue;
            }
            let va = base + (idx << shift);
            if level == 0 {
                f(va, addr, pte, 0);
            } else if let Some(child) = self.child_table(pte) {
                self.walk_level(child, level - 1, va, start, end, lock, f);
            } else if (level == PMD_LEVEL || level == PUD_LEVEL)
                && pmd_trans_huge(pte)
                && f(va, addr, pte, level) == Step::Descend
            {
                if let Some(child) = self.child_table(self.ptep_get(addr)) {
                    self.walk_level(child, level - 1, va, start, end, lock, f);
                }
            }
        }
    }

    /// Whether `[start, end)` covers the whole huge leaf at `haddr` of `level`.
    #[inline]
    fn covers_pmd(haddr: u64, level: usize, start: u64, end: u64) -> bool {
        start <= haddr && haddr.saturating_add(huge_leaf_size(level)) <= end
    }

    // ------------------------------------------------------------------- huge PMDs

    /// `pgtable_trans_huge_deposit()`: keeps `table` (an empty page-table page) with the
    /// huge PMD at `haddr`, for its split.
    pub(crate) fn deposit(&self, haddr: u64, table: Pfn) {
        let old = self.deposited.lock().insert(haddr, table);
        if let Some(old) = old {
            free_table(&self.phys, old);
        }
    }

    /// `pgtable_trans_huge_withdraw()`: takes back the table deposited at `haddr`.
    pub(crate) fn withdraw(&self, haddr: u64) -> Option<Pfn> {
        self.deposited.lock().remove(&haddr)
    }

    /// Allocates a page-table page for a deposit (`pte_alloc_one()`).
    pub(crate) fn alloc_deposit_table(&self) -> Option<Pfn> {
        alloc_table(&self.phys)
    }

    /// Releases a page-table page allocated with [`PageTable::alloc_deposit_table`] and
    /// never deposited (`pte_free()`).
    pub(crate) fn free_deposit_table(&self, table: Pfn) {
        free_table(&self.phys, table);
    }

    /// Huge PMDs split in this address space so far.
    pub fn nr_split_pmds(&self) -> u64 {
        self.split_pmds.load(Ordering::Relaxed)
    }

    /// Whether the huge leaf `pmd` maps a hugetlb folio (`folio_test_hugetlb()`).
    pub fn is_hugetlb_leaf(&self, pmd: Pte) -> bool {
        self.phys
            .pages
            .page(pte_pfn(pmd))
            .is_some_and(|p| p.test(PageFlags::HUGETLB))
    }

    /// The huge PMD mapping `va`, if there is one: its entry address and value.
    pub fn huge_pmd_at(&self, va: u64) -> Option<(GuestPhysAddr, Pte)> {
        let slot = self.pmd_offset(va)?;
        let pmd = self.ptep_get(slot);
        pmd_trans_huge(pmd).then_some((slot, pmd))
    }

    /// `split_huge_pmd_address()`: splits the huge PMD mapping `va`, if any (used where a
    /// VMA boundary falls inside it: Linux's `vma_adjust_trans_huge()`). Returns whether
    /// one was split.
    pub fn split_huge_pmd_address(&self, va: u64, tlb: &mut MmuGather) -> bool {
        let haddr = va & !(HPAGE_PMD_SIZE - 1);
        match self.huge_pmd_at(haddr) {
            Some((slot, _)) => self.split_huge_pmd(haddr, slot, tlb),
            None => false,
        }
    }

    /// `__split_huge_pmd()` → `__split_huge_pmd_locked()`: replaces the huge PMD at
    /// `haddr` (entry at `slot`) by its deposited table filled with 512 PTEs mapping the
    /// folio's subpages with the PMD's permissions and A/D bits (`pte_mkdirty` /
    /// `pte_mkold` as the PMD was), and flushes the 2 MiB. The folio gains 511 references
    /// (one per PTE, the PMD's becomes the first's), loses its entire mapcount and each
    /// subpage gains one mapcount; `PageAnonExclusive` of the head (the PMD mapping's) is
    /// given to every subpage. The huge zero folio is split into PTEs mapping the small
    /// zero page (`__split_huge_zero_page_pmd()`). The entry is cleared with one atomic
    /// swap first (`pmdp_invalidate()`), so an A/D bit the hardware sets meanwhile is not
    /// lost. Returns `false` if there is no huge PMD there, it maps a hugetlb page, or no
    /// table could be found.
    pub fn split_huge_pmd(&self, haddr: u64, slot: GuestPhysAddr, tlb: &mut MmuGather) -> bool {
        let _ptl = self.pmd_lock();
        let pmd = self.ptep_get(slot);
        if !pmd_trans_huge(pmd) || self.is_hugetlb_leaf(pmd) {
            // A hugetlb page is never split: its VMA's bounds never fall inside it.
            return false;
        }
        let Some(table) = self.withdraw(haddr).or_else(|| alloc_table(&self.phys)) else {
            return false;
        };
        let old = self.ptep_get_and_clear(slot);
        if !pmd_trans_huge(old) {
            self.set_pte(slot, old);
            self.deposit(haddr, table);
            return false;
        }
        let head = pte_pfn(old);
        let pages = &self.phys.pages;
        // Everything but the PPN (flags, RSW, PBMT) carries over to the PTEs.
        let rest = old.0 - Pte::new(old.ppn(), PteFlags::empty()).0;
        if pages.is_huge_zero_pfn(head) {
            let zero = Pte::new(pages.zero_pfn().0, PteFlags::empty()).0;
            for i in 0..PTRS_PER_TABLE {
                self.set_pte(Self::slot(table, i), Pte(rest | zero));
            }
        } else {
            let exclusive = pages
                .page(head)
                .is_some_and(|p| p.test(PageFlags::ANON_EXCLUSIVE));
            for i in 0..HPAGE_PMD_NR {
                let pfn = Pfn(head.0 + i);
                if let Some(p) = pages.page(pfn) {
                    p.inc_mapcount();
                    if exclusive {
                        p.set(PageFlags::ANON_EXCLUSIVE);
                    } else {
                        p.clear(PageFlags::ANON_EXCLUSIVE);
                    }
                }
                self.set_pte(
                    Self::slot(table, i),
                    Pte(rest | Pte::new(pfn.0, PteFlags::empty()).0),
                );
            }
            pages.folio_ref_add(head, (HPAGE_PMD_NR - 1) as u32);
            if !pages.page(head).is_some_and(|p| p.dec_entire_mapcount()) {
                pages.note_bad_put();
            }
        }
        // pmd_populate(): non-leaf entries carry V only.
        self.set_pte(slot, Pte::new(table.0, PteFlags::V));
        tlb.add_range(haddr, haddr + HPAGE_PMD_SIZE, pte_exec(old));
        self.split_pmds.fetch_add(1, Ordering::Relaxed);
        pages.count_thp_event(ThpEvent::SplitPmd);
        true
    }

    /// `zap_huge_pmd()` (and, for a 1 GiB hugetlb leaf at `level` 2, `zap_huge_pud()`'s
    /// hugetlb twin in `__unmap_hugepage_range()`): clears the huge leaf at `haddr`,
    /// frees its deposited table (`zap_deposited_table()`), drops the entire mapcount,
    /// marks the folio `PG_dirty` if the hardware set D, and queues the leaf's reference
    /// in `tlb`.
    fn zap_huge_pmd(&self, haddr: u64, level: usize, slot: GuestPhysAddr, tlb: &mut MmuGather) {
        let ptl = self.pmd_lock();
        let old = self.ptep_get_and_clear(slot);
        let deposited = self.withdraw(haddr);
        drop(ptl);
        if let Some(t) = deposited {
            free_table(&self.phys, t);
        }
        if !pmd_trans_huge(old) {
            return;
        }
        tlb.add_range(haddr, haddr + huge_leaf_size(level), pte_exec(old));
        let head = pte_pfn(old);
        if self.phys.pages.is_huge_zero_pfn(head) {
            return;
        }
        if let Some(page) = self.phys.pages.page(head) {
            if pte_dirty(old) {
                page.set(PageFlags::DIRTY);
            }
            if !page.dec_entire_mapcount() {
                self.phys.pages.note_bad_put();
            }
            tlb.pages.push(head);
        }
    }

    /// For a huge PMD the walk found at `haddr`: splits it if `[start, end)` covers only
    /// part of it (and answers [`Step::Descend`]); `None` if the whole PMD is covered.
    fn split_if_partial(
        &self,
        haddr: u64,
        level: usize,
        slot: GuestPhysAddr,
        start: u64,
        end: u64,
        tlb: &mut MmuGather,
    ) -> Option<Step> {
        if Self::covers_pmd(haddr, level, start, end) {
            return None;
        }
        self.split_huge_pmd(haddr, slot, tlb);
        Some(Step::Descend)
    }

    /// `zap_pmd_range()` + `zap_pte_range()` (via `unmap_page_range()`): clears every
    /// PTE in `[start, end)` atomically, drops the mapcount of each mapped page, marks it
    /// `PG_dirty` if the hardware had set D, and queues its reference in `tlb` for release
    /// after the flush. A huge PMD inside the range goes whole (`zap_huge_pmd()`); one
    /// the range covers only partly is split first. A large folio that loses some of its
    /// PTE mappings is queued for a deferred split. Returns the number of 4 KiB pages
    /// unmapped (512 for a huge PMD).
    ///
    /// A swap PTE is cleared and its slot's count dropped (`zap_nonpresent_ptes()` →
    /// `free_swap_and_cache()`).
    pub fn zap_pte_range(&self, start: u64, end: u64, tlb: &mut MmuGather) -> u64 {
        self.zap_range(start, end, tlb, None)
    }

    /// [`PageTable::zap_pte_range`] limited to the present PTEs for which `want(pte)`
    /// holds (`zap_details` with a `single_folio` / `even_cows = false` filter in Linux:
    /// a hole punched in a file unmaps its page-cache pages but keeps private COW copies,
    /// swapped out ones included: `should_zap_cows()`).
    pub fn zap_pte_range_if(
        &self,
        start: u64,
        end: u64,
        tlb: &mut MmuGather,
        want: &dyn Fn(Pte) -> bool,
    ) -> u64 {
        self.zap_range(start, end, tlb, Some(want))
    }

    fn zap_range(
        &self,
        start: u64,
        end: u64,
        tlb: &mut MmuGather,
        want: Option<&dyn Fn(Pte) -> bool>,
    ) -> u64 {
        let mut zapped = 0;
        let phys = Arc::clone(&self.phys);
        self.for_each_pte(start, end, WalkLock::Ptl, &mut |va, addr, pte, level| {
            if pte_present(pte) && want.is_some_and(|w| !w(pte)) {
                return Step::Next;
            }
            if level == 0 && is_swap_pte(pte) {
                if want.is_none() && self.ptep_cmpxchg(addr, pte, Pte(0)) {
                    self.free_swap_entry(pte);
                }
                return Step::Next;
            }
            if level > 0 {
                if let Some(step) = self.split_if_partial(va, level, addr, start, end, tlb) {
                    return step;
                }
                self.zap_huge_pmd(va, level, addr, tlb);
                zapped += huge_leaf_size(level) / PAGE_SIZE;
                return Step::Next;
            }
            let old = self.ptep_get_and_clear(addr);
            if !pte_present(old) {
                return Step::Next;
            }
            zapped += 1;
            tlb.add_range(va, va + PAGE_SIZE, pte_exec(old));
            let pfn = pte_pfn(old);
            if phys.pages.is_zero_pfn(pfn) {
                return Step::Next;
            }
            if let Some(page) = phys.pages.page(pfn) {
                if pte_dirty(old) {
                    page.set(PageFlags::DIRTY);
                }
                page_remove_rmap(&phys, pfn, page);
                tlb.pages.push(pfn);
            }
            Step::Next
        });
        zapped
    }

    /// `page_mkclean_one()` for the D-bit half (`folio_mkclean()` over one VMA range):
    /// every present PTE in `[start, end)` whose D bit the hardware (or the Svade fault
    /// path) set has D cleared with one AMO — so a concurrent A/D update by a walker is not
    /// lost — and its page marked `PG_dirty`. `W` is kept: a TLB entry cached with D = 0
    /// grants no store (the walker must re-walk and set D again), which is the dirty
    /// tracking this kernel relies on instead of Linux's write-protect + `->page_mkwrite`.
    /// Cleaned entries are added to `tlb` (the translations cached with D = 1 must go).
    /// Returns the number of PTEs cleaned.
    pub fn mkclean_range(&self, start: u64, end: u64, tlb: &mut MmuGather) -> u64 {
        let mut cleaned = 0;
        self.for_each_pte(start, end, WalkLock::Ptl, &mut |va, addr, pte, level| {
            if !pte.is_valid() || !pte_dirty(pte) {
                return Step::Next;
            }
            let old = Pte(self
                .phys
                .ram
                .amo_u64(addr, AmoOp::And, !PteFlags::D.bits())
                .unwrap_or(0));
            if !pte_dirty(old) {
                return Step::Next;
            }
            if let Some(pfn) = self.vm_normal_page(old) {
                if let Some(page) = self.phys.pages.page(pfn) {
                    page.set(PageFlags::DIRTY);
                }
            }
            cleaned += 1;
            let size = huge_leaf_size(level);
            tlb.add_range(va, va + size, pte_exec(old));
            Step::Next
        });
        cleaned
    }

    /// `clear_refs_pte_range()` (`fs/proc/task_mmu.c`) over `[start, end)`, one VMA with
    /// flags `vm_flags`, under the PTE tables' locks and, for a huge PMD, the PMD lock:
    ///
    /// - [`ClearRefs::Young`] (`clear_refs` 1–3): `ptep_test_and_clear_young()` on every
    ///   present PTE that maps a page (`vm_normal_folio()`: not the zero page) and on
    ///   every huge PMD (`pmdp_test_and_clear_young()`); no `PG_referenced`/`PG_young`
    ///   exists here to clear with them.
    /// - [`ClearRefs::SoftDirty`] (`clear_refs` 4): `clear_soft_dirty()` — the PTE loses
    ///   [`PAGE_SOFT_DIRTY`] **and `W`** so the next store faults
    ///   (`ptep_modify_prot_start/commit()`); a writable PTE of a COW mapping whose folio
    ///   may be pinned is left alone when `has_pinned` (`pte_is_pinned()`: the pinning
    ///   device writes without faults, so write-protecting it would only break COW
    ///   later). A huge PMD gets the same without a split (`clear_soft_dirty_pmd()`).
    ///
    /// Each entry changes with a compare-and-swap, so an A/D update a walker makes
    /// meanwhile is never lost (a lost race is retried). Every changed entry's range goes
    /// into `tlb`: a hart must re-walk (and set A, or take the write fault) after the
    /// flush. Returns the number of entries changed.
    pub fn clear_refs_range(
        &self,
        start: u64,
        end: u64,
        op: ClearRefs,
        vm_flags: VmFlags,
        has_pinned: bool,
        tlb: &mut MmuGather,
    ) -> u64 {
        let mut changed = 0;
        self.for_each_pte(start, end, WalkLock::Ptl, &mut |va, addr, _, level| {
            let _ptl = (level > 0).then(|| self.pmd_lock());
            loop {
                let old = self.ptep_get(addr);
                if level == 0 && is_swap_pte(old) && matches!(op, ClearRefs::SoftDirty) {
                    // clear_soft_dirty(): pte_swp_clear_soft_dirty(). Nothing is cached.
                    let new = Pte(old.0 & !PAGE_SWP_SOFT_DIRTY);
                    if new == old || self.ptep_cmpxchg(addr, old, new) {
                        return Step::Next;
                    }
                    continue;
                }
                if !pte_present(old) || (level > 0 && !pmd_trans_huge(old)) {
                    return Step::Next;
                }
                let new = match op {
                    ClearRefs::Young => {
                        if level == 0 && self.vm_normal_page(old).is_none() {
                            return Step::Next;
                        }
                        old.without(PteFlags::A)
                    }
                    ClearRefs::SoftDirty => {
                        if level == 0 && self.pte_is_pinned(vm_flags, old, has_pinned) {
                            return Step::Next;
                        }
                        pte_clear_soft_dirty(old).without(PteFlags::W)
                    }
                };
                if new == old {
                    return Step::Next;
                }
                if self.ptep_cmpxchg(addr, old, new) {
                    changed += 1;
                    let size = huge_leaf_size(level);
                    tlb.add_range(va, va + size, pte_exec(old));
                    return Step::Next;
                }
            }
        });
        changed
    }

    /// `pte_is_pinned()`: a writable PTE of a COW mapping in an address space that has
    /// pinned pages (`MMF_HAS_PINNED`: `has_pinned`), whose folio may be pinned.
    fn pte_is_pinned(&self, vm_flags: VmFlags, pte: Pte, has_pinned: bool) -> bool {
        if !pte_write(pte) || !vm_flags.is_cow_mapping() || !has_pinned {
            return false;
        }
        self.vm_normal_page(pte)
            .and_then(|pfn| self.phys.pages.folio(pfn))
            .is_some_and(|(_, folio)| folio.maybe_dma_pinned())
    }

    /// `free_pgtables()`: frees the page-table pages under `[start, end)` that hold no
    /// entries any more (after a zap), clearing the entries that pointed to them. The root
    /// is never freed here. Sets `tlb.freed_tables` if anything was freed.
    pub fn free_pgtables(&self, start: u64, end: u64, tlb: &mut MmuGather) {
        let end = end.min(self.user_top());
        if start < end {
            self.free_level(self.pgd, self.levels - 1, 0, start, end, tlb);
        }
    }

    fn free_level(
        &self,
        table: Pfn,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
        tlb: &mut MmuGather,
    ) {
        if level == 0 {
            return;
        }
        let shift = Self::shift(level);
        let table_end = base.saturating_add(PTRS_PER_TABLE << shift);
        let lo = start.max(base);
        let hi = end.min(table_end);
        if lo >= hi {
            return;
        }
        for idx in ((lo - base) >> shift)..=((hi - 1 - base) >> shift) {
            let addr = Self::slot(table, idx);
            let Some(child) = self.child_table(self.ptep_get(addr)) else {
                continue;
            };
            let va = base + (idx << shift);
            self.free_level(child, level - 1, va, start, end, tlb);
            if self.table_is_empty(child) {
                self.set_pte(addr, Pte(0));
                tlb.tables.push(child);
                tlb.freed_tables = true;
                tlb.add_range(va, va.saturating_add(1 << shift), false);
            }
        }
    }

    fn table_is_empty(&self, table: Pfn) -> bool {
        (0..PTRS_PER_TABLE).all(|i| pte_none(self.ptep_get(Self::slot(table, i))))
    }

    /// `change_protection()` (`change_pte_range()`): gives every present PTE in
    /// `[start, end)` the protection of `vm_flags` with `pte_modify()` (keeping PFN and the
    /// hardware A/D bits, with a compare-and-swap so a concurrent A/D update is not lost),
    /// then, for a private writable VMA, adds `W` where `can_change_pte_writable()` allows
    /// (an exclusively owned anonymous page; never the zero page). A huge PMD the range
    /// covers is changed as one entry (`change_huge_pmd()`), one it covers partly is split
    /// first. Returns the number of entries changed.
    pub fn change_protection(
        &self,
        start: u64,
        end: u64,
        vm_flags: VmFlags,
        tlb: &mut MmuGather,
    ) -> u64 {
        let newprot = vm_get_page_prot(vm_flags);
        let try_write = vm_flags.contains(VmFlags::WRITE) && !vm_flags.contains(VmFlags::SHARED);
        let mut changed = 0;
        self.for_each_pte(start, end, WalkLock::Ptl, &mut |va, addr, _, level| {
            if level > 0 {
                if let Some(step) = self.split_if_partial(va, level, addr, start, end, tlb) {
                    return step;
                }
            }
            let size = huge_leaf_size(level);
            // change_huge_pmd() under pmd_lock(); a PTE's table lock the walk holds.
            let _ptl = (level > 0).then(|| self.pmd_lock());
            loop {
                let old = self.ptep_get(addr);
                if !pte_present(old) || (level > 0 && !pmd_trans_huge(old)) {
                    return Step::Next;
                }
                let mut new = pte_modify(old, newprot);
                if try_write && !pte_write(new) && self.can_change_pte_writable(vm_flags, new) {
                    new = new.with(PteFlags::W);
                }
                if new == old {
                    return Step::Next;
                }
                if self.ptep_cmpxchg(addr, old, new) {
                    changed += 1;
                    tlb.add_range(va, va + size, pte_exec(old) || pte_exec(new));
                    return Step::Next;
                }
            }
        });
        changed
    }

    /// `change_pte_range()` with `MM_CP_UFFD_WP` (`wp`) or `MM_CP_UFFD_WP_RESOLVE` on the
    /// present 4 KiB PTEs of `[start, end)`: `wp` sets the uffd-wp bit
    /// ([`super::userfaultfd::PAGE_UFFD_WP`]) and clears `W`; otherwise the bit is
    /// cleared and `W` left for the next write fault to give back. A huge PMD (a THP
    /// made before the VMA was registered: none is made in a registered one) is split
    /// first to protect, so its PTEs carry the bit (Linux marks the PMD itself,
    /// `pmd_mkuffd_wp()`), and left alone to unprotect (it carries no bit). Returns how
    /// many entries changed; the TLB maintenance goes to `tlb`.
    pub fn uffd_wp_range(&self, start: u64, end: u64, wp: bool, tlb: &mut MmuGather) -> u64 {
        use super::userfaultfd::PAGE_UFFD_WP;
        let mut changed = 0;
        self.for_each_pte(start, end, WalkLock::Ptl, &mut |va, addr, _, level| {
            if level > 0 {
                if !wp {
                    return Step::Next;
                }
                let haddr = va & !(huge_leaf_size(level) - 1);
                return if self.split_huge_pmd(haddr, addr, tlb) {
                    Step::Descend
                } else {
                    Step::Next
                };
            }
            loop {
                let old = self.ptep_get(addr);
                if is_swap_pte(old) {
                    // pte_swp_mkuffd_wp() / pte_swp_clear_uffd_wp(): the bit comes back
                    // with the page at swap-in.
                    let new = Pte(if wp {
                        old.0 | PAGE_SWP_UFFD_WP
                    } else {
                        old.0 & !PAGE_SWP_UFFD_WP
                    });
                    if new == old || self.ptep_cmpxchg(addr, old, new) {
                        changed += u64::from(new != old);
                        return Step::Next;
                    }
                    continue;
                }
                if !pte_present(old) {
                    return Step::Next;
                }
                let new = if wp {
                    old.with(PAGE_UFFD_WP).without(PteFlags::W)
                } else {
                    old.without(PAGE_UFFD_WP)
                };
                if new == old {
                    return Step::Next;
                }
                if self.ptep_cmpxchg(addr, old, new) {
                    changed += 1;
                    tlb.add_range(va, va + PAGE_SIZE, false);
                    return Step::Next;
                }
            }
        });
        changed
    }

    /// `can_change_pte_writable()`: whether a present PTE of a `VM_WRITE` VMA may get `W`
    /// without a write fault. Never a PTE without the soft-dirty bit in a VMA that tracks
    /// it (the write must fault to set it). Private: only an anonymous page we own
    /// exclusively (`PageAnonExclusive`); shared: only if already dirty.
    pub fn can_change_pte_writable(&self, vm_flags: VmFlags, pte: Pte) -> bool {
        if !vm_flags.contains(VmFlags::WRITE) || pte_protnone(pte) || !pte.is_valid() {
            return false;
        }
        // "Do we need write faults for softdirty tracking?"
        if vm_flags.soft_dirty_enabled() && !pte_soft_dirty(pte) {
            return false;
        }
        // "Do we need write faults for uffd-wp tracking?"
        if vm_flags.contains(VmFlags::UFFD_WP) && super::userfaultfd::pte_uffd_wp(pte) {
            return false;
        }
        if !vm_flags.contains(VmFlags::SHARED) {
            return self.vm_normal_page(pte).is_some_and(|pfn| {
                self.phys
                    .pages
                    .page(pfn)
                    .is_some_and(|p| p.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE))
            });
        }
        pte_dirty(pte)
    }

    /// `vm_normal_page()` / `vm_normal_page_pmd()`: the refcounted page behind a present
    /// PTE (for a huge PMD, its head page), or `None` for the zero pages and frames
    /// without metadata.
    pub fn vm_normal_page(&self, pte: Pte) -> Option<Pfn> {
        let pfn = pte_pfn(pte);
        let pages = &self.phys.pages;
        (!pages.is_zero_pfn(pfn) && !pages.is_huge_zero_pfn(pfn) && pages.page(pfn).is_some())
            .then_some(pfn)
    }

    /// `free_swap_and_cache()` for the swap PTE `pte` just cleared from a table: its
    /// slot loses a reference. A swap PTE without a swap area, or for a free slot, is a
    /// bad swap entry (`print_bad_pte()`): counted as a bad put, nothing else done.
    pub(crate) fn free_swap_entry(&self, pte: Pte) {
        let freed = self
            .phys
            .swap()
            .and_then(|si| si.swap_free(pte_to_swp_entry(pte)));
        if freed.is_none() {
            self.phys.pages.note_bad_put();
        }
    }

    /// `move_ptes()` / `move_page_tables()`: moves every entry of
    /// `[old_start, old_end)` to the same offset from `new_start` (the target range must be
    /// empty), keeping PFN, protection and A/D, and marking it soft-dirty
    /// (`move_soft_dirty_pte()`): the data does not move. A huge PMD moves as
    /// one entry with its deposited table (`move_huge_pmd()`) when the range covers it and
    /// its new address is 2 MiB-aligned with an empty PMD there; otherwise it is split and
    /// its PTEs move. On `ENOMEM` for a new table, the entries already moved are moved
    /// back, so nothing changed but splits.
    ///
    /// # Errors
    /// `ENOMEM` (tables could not be allocated) or `EFAULT` (target outside user space).
    pub fn move_ptes(
        &self,
        old_start: u64,
        old_end: u64,
        new_start: u64,
        tlb: &mut MmuGather,
    ) -> KResult<()> {
        let mut entries = Vec::new();
        let mut split_failed = false;
        self.for_each_pte(
            old_start,
            old_end,
            WalkLock::None,
            &mut |va, addr, _, level| {
                if level > 0 {
                    let new_va = new_start.wrapping_add(va.wrapping_sub(old_start));
                    // Only 2 MiB leaves move here: a 1 GiB one is hugetlb's, whose VMAs
                    // mremap() refuses.
                    if level == PMD_LEVEL
                        && Self::covers_pmd(va, level, old_start, old_end)
                        && new_va.is_multiple_of(HPAGE_PMD_SIZE)
                        && self
                            .pmd_offset(new_va)
                            .is_none_or(|s| pte_none(self.ptep_get(s)))
                    {
                        entries.push((va, addr, level));
                        return Step::Next;
                    }
                    if self.split_huge_pmd(va, addr, tlb) {
                        return Step::Descend;
                    }
                    split_failed = true;
                    return Step::Next;
                }
                entries.push((va, addr, 0));
                Step::Next
            },
        );
        if split_failed {
            return Err(Errno::ENOMEM);
        }
        // (old entry, new entry, Some((old, new)) addresses for a huge PMD's deposit)
        type MovedEntry = (GuestPhysAddr, GuestPhysAddr, Option<(u64, u64)>);
        let mut moved: Vec<MovedEntry> = Vec::with_capacity(entries.len());
        for (va, old_addr, level) in entries {
            let new_va = new_start + (va - old_start);
            let new_addr = if level > 0 {
                self.pmd_alloc(new_va)
            } else {
                self.pte_alloc(new_va)
            };
            let new_addr = match new_addr {
                Ok(a) => a,
                Err(e) => {
                    for (o, n, huge) in moved.into_iter().rev() {
                        let pte = self.ptep_get_and_clear(n);
                        self.set_pte(o, pte);
                        if let Some((old_h, new_h)) = huge {
                            if let Some(t) = self.withdraw(new_h) {
                                self.deposit(old_h, t);
                            }
                        }
                    }
                    return Err(e);
                }
            };
            // move_soft_dirty_pte(): "Set soft dirty bit so we can notice in userspace
            // the ptes were moved."
            let pte = self.ptep_get_and_clear(old_addr);
            let moved_pte = if pte_present(pte) {
                pte.with(PAGE_SOFT_DIRTY)
            } else if is_swap_pte(pte) {
                Pte(pte.0 | PAGE_SWP_SOFT_DIRTY)
            } else {
                pte
            };
            self.set_pte(new_addr, moved_pte);
            let huge = (level > 0).then(|| {
                if let Some(t) = self.withdraw(va) {
                    self.deposit(new_va, t);
                }
                (va, new_va)
            });
            tlb.add_range(va, va + huge_leaf_size(level), pte_exec(pte));
            moved.push((old_addr, new_addr, huge));
        }
        Ok(())
    }

    /// `ptep_set_wrprotect()` (riscv: `atomic_long_and(~_PAGE_WRITE, ptep)`): clears `W`
    /// with one AMO, so an A/D update by a hart's walker is never lost, and returns the
    /// entry as it was just before.
    #[inline]
    pub fn ptep_set_wrprotect(&self, slot: GuestPhysAddr) -> Pte {
        self.phys.pages.events.pte_rmws.inc();
        Pte(self
            .phys
            .ram
            .amo_u64(slot, AmoOp::And, !PteFlags::W.bits())
            .unwrap_or(0))
    }

    /// `copy_page_range()` → `copy_pte_range()` → `copy_present_pte()` (`mm/memory.c`),
    /// for fork: copies every present PTE of this table in `[start, end)` (one VMA with
    /// flags `vm_flags`) into `dst` at the same address, allocating `dst`'s tables in
    /// guest RAM as needed. Per entry, as `copy_present_pte()` + `__copy_present_ptes()`:
    ///
    /// - An anonymous page: `folio_try_dup_anon_rmap_pte()`. If `has_pinned`
    ///   (`MMF_HAS_PINNED`) and the page is `PageAnonExclusive` and
    ///   `folio_maybe_dma_pinned()`, the child gets its own copy now
    ///   (`copy_present_page()`) and the parent's entry is left alone, writable and
    ///   exclusive. Otherwise `PageAnonExclusive` is cleared and the page gains a
    ///   reference and a mapping.
    /// - Another refcounted page (shared anonymous memory, our shmem stand-in): a reference
    ///   and a mapping (`folio_dup_file_rmap_pte()`).
    /// - The zero page and frames without metadata: copied as is, no counts
    ///   (`vm_normal_page()` is `NULL`).
    /// - A COW mapping (`is_cow_mapping()`) with a writable entry: `W` is cleared in the
    ///   parent (`ptep_set_wrprotect()`) and the child.
    /// - The child's entry is `pte_mkold()` (A cleared) and, for a `VM_SHARED` mapping,
    ///   `pte_mkclean()` (D cleared); a private mapping's D is kept.
    /// - A huge PMD is shared whole by `copy_huge_pmd()` (see there); if its folio may be
    ///   pinned it is split first and its 512 PTEs take the path above, so the child gets
    ///   copies of the exclusive pinned subpages.
    ///
    /// Non-present non-zero entries (swap, migration) do not exist yet and are skipped
    /// (`copy_nonpresent_pte()`). Counts go into `st`; every parent entry that lost `W` is
    /// added to `st.parent_tlb`, which the caller must fold into the parent's flush (Linux
    /// ends `dup_mmap()` with `flush_tlb_mm(oldmm)`).
    ///
    /// # Errors
    /// `ENOMEM` if `dst` needs a table or a pinned page's copy and no frame is free; the
    /// entries copied so far stay in `dst` with their references (dropping `dst` releases
    /// them), and the parent entries already write-protected stay so (a later write fault
    /// reuses the page once the child is gone).
    pub(crate) fn copy_page_range(
        &self,
        dst: &PageTable,
        start: u64,
        end: u64,
        vm_flags: VmFlags,
        has_pinned: bool,
        st: &mut ForkCopy,
    ) -> KResult<()> {
        let mut entries = Vec::new();
        let parent_tlb = &mut st.parent_tlb;
        self.for_each_pte(start, end, WalkLock::None, &mut |va, addr, _, level| {
            // A VMA never ends inside a huge PMD (the boundary splits it), but be safe.
            if level > 0 {
                if let Some(step) = self.split_if_partial(va, level, addr, start, end, parent_tlb) {
                    return step;
                }
            }
            entries.push((va, addr, level));
            Step::Next
        });
        for (va, src_addr, level) in entries {
            if level > 0 {
                if self.copy_huge_pmd(dst, va, level, src_addr, vm_flags, has_pinned, st)? {
                    continue;
                }
                // Possibly pinned: split, and let the PTE path copy what must be copied.
                if !self.split_huge_pmd(va, src_addr, &mut st.parent_tlb) {
                    return Err(Errno::ENOMEM);
                }
                let Some(table) = self.child_table(self.ptep_get(src_addr)) else {
                    return Err(Errno::ENOMEM);
                };
                for i in 0..PTRS_PER_TABLE {
                    let sub = va + i * PAGE_SIZE;
                    self.copy_present_pte(
                        dst,
                        sub,
                        Self::slot(table, i),
                        vm_flags,
                        has_pinned,
                        st,
                    )?;
                }
                continue;
            }
            self.copy_present_pte(dst, va, src_addr, vm_flags, has_pinned, st)?;
        }
        Ok(())
    }

    /// `copy_nonpresent_pte()` for a swap PTE: the slot gains a reference for the child
    /// (`swap_duplicate()`), and the page is no longer exclusive to either side — the
    /// exclusive bit is cleared in the parent's entry and left out of the child's ("Mark
    /// the swap entry as shared"). The child's entry drops the uffd-wp bit: its VMA is not
    /// registered (`pte_swp_clear_uffd_wp()` without `UFFD_FEATURE_EVENT_FORK`). An entry
    /// whose slot is not in use is a bad swap entry: counted, not copied.
    ///
    /// # Errors
    /// `ENOMEM` if the child needs a table and no frame is free.
    fn copy_swap_pte(
        &self,
        dst: &PageTable,
        va: u64,
        src_addr: GuestPhysAddr,
        pte: Pte,
        st: &mut ForkCopy,
    ) -> KResult<()> {
        let dst_addr = dst.pte_alloc(va)?;
        let entry = pte_to_swp_entry(pte);
        if !self.phys.swap().is_some_and(|si| si.swap_duplicate(entry)) {
            self.phys.pages.note_bad_put();
            return Ok(());
        }
        if pte.0 & PAGE_SWP_EXCLUSIVE != 0 {
            // Non-present: no walker sets A/D in it, and fork holds the write side of
            // the parent's mmap_lock.
            self.set_pte(src_addr, Pte(pte.0 & !PAGE_SWP_EXCLUSIVE));
        }
        dst.set_pte(
            dst_addr,
            Pte(pte.0 & !(PAGE_SWP_EXCLUSIVE | PAGE_SWP_UFFD_WP)),
        );
        st.ptes += 1;
        Ok(())
    }

    /// `copy_present_pte()` for one parent entry (see [`PageTable::copy_page_range`]). For
    /// a page of a large folio the pin test reads the folio (`folio_maybe_dma_pinned()`)
    /// and `PageAnonExclusive` the page.
    fn copy_present_pte(
        &self,
        dst: &PageTable,
        va: u64,
        src_addr: GuestPhysAddr,
        vm_flags: VmFlags,
        has_pinned: bool,
        st: &mut ForkCopy,
    ) -> KResult<()> {
        let pte = self.ptep_get(src_addr);
        if is_swap_pte(pte) {
            return self.copy_swap_pte(dst, va, src_addr, pte, st);
        }
        if !pte_present(pte) {
            return Ok(());
        }
        let dst_addr = dst.pte_alloc(va)?;
        if let Some(pfn) = self.vm_normal_page(pte) {
            if let (Some(page), Some((_, folio))) =
                (self.phys.pages.page(pfn), self.phys.pages.folio(pfn))
            {
                // folio_get() first, as Linux does, then the pin check.
                self.phys.get_page(pfn);
                if page.test(PageFlags::ANON) {
                    if has_pinned
                        && folio.maybe_dma_pinned()
                        && page.test(PageFlags::ANON_EXCLUSIVE)
                    {
                        self.phys.put_page(pfn);
                        self.copy_present_page(dst, dst_addr, pfn, vm_flags)?;
                        st.copied += 1;
                        return Ok(());
                    }
                    page.clear(PageFlags::ANON_EXCLUSIVE);
                }
                page.inc_mapcount();
            }
        }
        // Between the pin check above and the write-protect below a lockless walker may
        // still pin the page through the writable PTE: the window write_protect_seq
        // closes. Test builds widen it so the concurrent tests (mm/smp_tests.rs) meet it.
        #[cfg(test)]
        std::thread::yield_now();
        let mut child = pte;
        if vm_flags.is_cow_mapping() && pte_write(pte) {
            child = self.ptep_set_wrprotect(src_addr).without(PteFlags::W);
            st.wrprotected += 1;
            st.parent_tlb.add_range(va, va + PAGE_SIZE, pte_exec(pte));
        }
        if vm_flags.contains(VmFlags::SHARED) {
            child = child.without(PteFlags::D);
        }
        dst.set_pte(dst_addr, child.without(PteFlags::A));
        st.ptes += 1;
        Ok(())
    }

    /// `copy_huge_pmd()`: shares the huge PMD at `haddr` with the child: a new deposited
    /// table for it, one more folio reference and entire mapcount
    /// (`folio_try_dup_anon_rmap_pmd()`: `PageAnonExclusive` of the head cleared), both
    /// entries write-protected (`pmdp_set_wrprotect()`), the child's old (A cleared). The
    /// huge zero folio is shared as is (the child takes its own reference on it, see
    /// [`ForkCopy::huge_zero`]). Returns `Ok(false)` without copying when the folio may be
    /// pinned (`MMF_HUGE_PINNED` and `folio_maybe_dma_pinned()` on an exclusive folio):
    /// Linux then splits the PMD and copies at PTE level (`-EAGAIN`).
    ///
    /// # Errors
    /// `ENOMEM` if a table for the child cannot be allocated.
    #[allow(clippy::too_many_arguments)]
    fn copy_huge_pmd(
        &self,
        dst: &PageTable,
        haddr: u64,
        level: usize,
        src_slot: GuestPhysAddr,
        vm_flags: VmFlags,
        has_pinned: bool,
        st: &mut ForkCopy,
    ) -> KResult<bool> {
        let pmd = self.ptep_get(src_slot);
        if !pmd_trans_huge(pmd) {
            return Ok(true);
        }
        if vm_flags.contains(VmFlags::HUGETLB) {
            let leaf = (haddr, level, src_slot, pmd);
            return self.copy_hugetlb_pmd(dst, leaf, vm_flags, has_pinned, st);
        }
        if level != PMD_LEVEL {
            // Only hugetlb maps a leaf above the PMD.
            return Ok(true);
        }
        let table = alloc_table(&self.phys).ok_or(Errno::ENOMEM)?;
        let dst_slot = match dst.pmd_alloc(haddr) {
            Ok(s) => s,
            Err(e) => {
                free_table(&self.phys, table);
                return Err(e);
            }
        };
        let head = pte_pfn(pmd);
        if self.phys.pages.is_huge_zero_pfn(head) {
            st.huge_zero = true;
        } else if let Some(page) = self.phys.pages.page(head) {
            self.phys.get_page(head);
            if has_pinned
                && vm_flags.is_cow_mapping()
                && page.maybe_dma_pinned()
                && page.test(PageFlags::ANON_EXCLUSIVE)
            {
                self.phys.put_page(head);
                free_table(&self.phys, table);
                return Ok(false);
            }
            page.clear(PageFlags::ANON_EXCLUSIVE);
            page.inc_entire_mapcount();
        }
        dst.deposit(haddr, table);
        let leaf = (haddr, level, src_slot, pmd);
        self.share_huge_leaf(dst, dst_slot, leaf, vm_flags.is_cow_mapping(), st);
        st.huge_pmds += 1;
        Ok(true)
    }

    /// The child's entry for a huge leaf it shares with the parent — `leaf` is the
    /// parent's `(haddr, level, slot, entry)`, a 2 MiB PMD or a 1 GiB hugetlb PUD; the
    /// page's reference and mapcount taken by the caller: in a COW mapping (`cow`) a
    /// writable parent leaf is write-protected first (`pmdp_set_wrprotect()`, its flush
    /// queued in `st`), and the child gets the same entry without `A`.
    fn share_huge_leaf(
        &self,
        dst: &PageTable,
        dst_slot: GuestPhysAddr,
        leaf: (u64, usize, GuestPhysAddr, Pte),
        cow: bool,
        st: &mut ForkCopy,
    ) {
        let (haddr, level, src_slot, pmd) = leaf;
        let mut child = pmd;
        if cow && pte_write(pmd) {
            child = self.ptep_set_wrprotect(src_slot).without(PteFlags::W);
            st.wrprotected += 1;
            st.parent_tlb
                .add_range(haddr, haddr + huge_leaf_size(level), pte_exec(pmd));
        }
        dst.set_pte(dst_slot, child.without(PteFlags::A));
        st.ptes += 1;
    }

    /// `copy_hugetlb_page_range()` for one leaf: the child shares the hugetlb page (one
    /// more reference and entire mapcount, `hugetlb_try_dup_anon_rmap()` clearing
    /// `PageAnonExclusive`), both entries write-protected in a COW mapping; no table is
    /// deposited (hugetlb leaves are never split). A possibly pinned exclusive anonymous
    /// page is copied for the child instead (`copy_user_large_folio()` into a page
    /// without reservation, mapped as the parent's: `hugetlb_install_folio()`).
    ///
    /// `leaf` is the parent's `(haddr, level, slot, entry)`: a 2 MiB PMD or a 1 GiB PUD.
    ///
    /// # Errors
    /// `ENOMEM` if the child needs a table, or the pool has no page for the copy.
    fn copy_hugetlb_pmd(
        &self,
        dst: &PageTable,
        leaf: (u64, usize, GuestPhysAddr, Pte),
        vm_flags: VmFlags,
        has_pinned: bool,
        st: &mut ForkCopy,
    ) -> KResult<bool> {
        let (haddr, level, _, pmd) = leaf;
        let size = huge_leaf_size(level);
        let dst_slot = dst.huge_pte_alloc(haddr, level)?;
        let head = pte_pfn(pmd);
        let Some(page) = self.phys.pages.page(head) else {
            return Ok(true);
        };
        let cow = vm_flags.is_cow_mapping();
        if has_pinned
            && cow
            && page.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE)
            && page.maybe_dma_pinned()
        {
            let pages = &self.phys.pages;
            let h = pages.folio_hstate(size / PAGE_SIZE);
            let new = pages
                .alloc_hugetlb_folio(h, &self.phys.ram, false, false)
                .ok_or(Errno::ENOMEM)?;
            if !self.phys.copy_to_new_folio(head, new, size) {
                return Err(Errno::EFAULT);
            }
            folio_add_new_anon_rmap_pmd(&self.phys, new);
            let rest = pmd.0 - Pte::new(pmd.ppn(), PteFlags::empty()).0;
            let child = Pte(rest | Pte::new(new.0, PteFlags::empty()).0);
            dst.set_pte(dst_slot, child.without(PteFlags::A));
            st.copied += 1;
            st.ptes += 1;
            return Ok(true);
        }
        self.phys.get_page(head);
        page.clear(PageFlags::ANON_EXCLUSIVE);
        page.inc_entire_mapcount();
        self.share_huge_leaf(dst, dst_slot, leaf, cow, st);
        Ok(true)
    }

    /// `copy_present_page()`: the child's private copy of a possibly pinned anonymous page
    /// `src`, mapped at `dst_addr` in `dst` with the VMA's protection, writable if
    /// `VM_WRITE` (`maybe_mkwrite()`), `PageAnon | PageAnonExclusive`
    /// (`folio_add_new_anon_rmap(RMAP_EXCLUSIVE)`). Linux also sets `pte_mkdirty()` so
    /// reclaim keeps the unbacked copy; per this module's PTE policy the entry gets
    /// `A = D = 0` and the page `PG_dirty` instead (and the entry the soft-dirty bit
    /// `pte_mkdirty()` would have set).
    ///
    /// # Errors
    /// `ENOMEM` if no frame is free, `EFAULT` if the copy fails (`-EHWPOISON` in Linux;
    /// cannot happen for managed frames).
    fn copy_present_page(
        &self,
        dst: &PageTable,
        dst_addr: GuestPhysAddr,
        src: Pfn,
        vm_flags: VmFlags,
    ) -> KResult<()> {
        let new = self.phys.alloc_page(false).ok_or(Errno::ENOMEM)?;
        if !self.phys.copy_to_new_folio(src, new, PAGE_SIZE) {
            return Err(Errno::EFAULT);
        }
        super::mte::copy_highpage_tags(&self.phys, src, new);
        if let Some(page) = self.phys.pages.page(new) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE | PageFlags::DIRTY);
            page.inc_mapcount();
        }
        // pte_mkdirty() sets the soft-dirty bit too.
        let mut pte = mk_pte(new, vm_get_page_prot(vm_flags)).with(PAGE_SOFT_DIRTY);
        if vm_flags.contains(VmFlags::WRITE) {
            pte = pte.with(PteFlags::W);
        }
        dst.set_pte(dst_addr, pte);
        Ok(())
    }

    /// Exit teardown (`unmap_vmas()` + `free_pgtables()` over everything + `pgd_free()`):
    /// zaps all user PTEs into `tlb` and frees every table including the root.
    pub(crate) fn destroy(&self, tlb: &mut MmuGather) {
        self.zap_pte_range(0, self.user_top(), tlb);
        self.free_tree(self.pgd, self.levels - 1);
        let left: Vec<Pfn> = std::mem::take(&mut *self.deposited.lock())
            .into_values()
            .collect();
        for t in left {
            free_table(&self.phys, t);
        }
        tlb.freed_tables = true;
    }

    fn free_tree(&self, table: Pfn, level: usize) {
        if level > 0 {
            for idx in 0..PTRS_PER_TABLE {
                let addr = Self::slot(table, idx);
                if let Some(child) = self.child_table(self.ptep_get(addr)) {
                    self.free_tree(child, level - 1);
                    self.set_pte(addr, Pte(0));
                }
            }
        }
        free_table(&self.phys, table);
    }

    /// Number of page-table frames reachable from the root, the root included (for tests
    /// and `/proc/<pid>/status`'s `VmPTE`).
    pub fn nr_tables(&self) -> u64 {
        self.count_tables(self.pgd, self.levels - 1)
    }

    /// `get_mm_rss()`: 4 KiB pages mapped by present user entries (a huge PMD counts
    /// 512), the zero pages, hugetlb pages and frames without `struct page` excluded
    /// (Linux's `MM_ANONPAGES + MM_FILEPAGES + MM_SHMEMPAGES`, which neither a zero-page
    /// nor a hugetlb mapping increments). Walks the page table: the counters Linux keeps are not kept here.
    pub fn rss_pages(&self) -> u64 {
        let mut rss = 0;
        self.for_each_pte(
            0,
            self.user_top(),
            WalkLock::None,
            &mut |_, _, pte, level| {
                // hugetlb pages are not RSS (Linux counts them in `hugetlb_usage`).
                if pte_present(pte)
                    && self.vm_normal_page(pte).is_some()
                    && !(level > 0 && self.is_hugetlb_leaf(pte))
                {
                    rss += huge_leaf_size(level) / PAGE_SIZE;
                }
                Step::Next
            },
        );
        rss
    }

    fn count_tables(&self, table: Pfn, level: usize) -> u64 {
        let mut n = 1;
        if level > 0 {
            for idx in 0..PTRS_PER_TABLE {
                if let Some(child) = self.child_table(self.ptep_get(Self::slot(table, idx))) {
                    n += self.count_tables(child, level - 1);
                }
            }
        }
        n
    }
}

/// `__pte_alloc_one()`: a zeroed frame flagged as a page table.
fn alloc_table(phys: &PhysMem) -> Option<Pfn> {
    let pfn = phys.alloc_page(true)?;
    if let Some(p) = phys.pages.page(pfn) {
        p.set(PageFlags::PGTABLE);
    }
    Some(pfn)
}

/// `folio_remove_rmap_pte()`: one PTE fewer maps `pfn` (metadata `page`); a large folio
/// left partially mapped is queued for a deferred split (`deferred_split_folio()`). A
/// mapcount underflow is recorded as a bad put.
pub(crate) fn page_remove_rmap(phys: &PhysMem, pfn: Pfn, page: &super::page_alloc::Page) {
    if !page.dec_mapcount() {
        phys.pages.note_bad_put();
    }
    if page.mapcount() == 0 && (page.is_head() || page.is_tail()) {
        phys.pages.deferred_split_folio(pfn);
    }
}

/// `pte_free()`: releases a page-table frame.
/// `folio_add_new_anon_rmap(folio, vma, haddr, RMAP_EXCLUSIVE)` for a new folio mapped
/// whole by one huge leaf (a THP's PMD, or hugetlb's `hugetlb_add_new_anon_rmap()` for
/// a 2 MiB or 1 GiB page): `PageAnon` on every page, `PageAnonExclusive` on the head (it
/// speaks for the leaf's mapping), entire mapcount 1.
pub(crate) fn folio_add_new_anon_rmap_pmd(phys: &PhysMem, head: Pfn) {
    for i in 0..phys.pages.folio_nr_pages(head) {
        if let Some(p) = phys.pages.page(Pfn(head.0 + i)) {
            p.set(PageFlags::ANON);
        }
    }
    if let Some(h) = phys.pages.page(head) {
        h.set(PageFlags::ANON_EXCLUSIVE);
        h.inc_entire_mapcount();
    }
}

fn free_table(phys: &PhysMem, pfn: Pfn) {
    phys.free_pgtable(pfn);
}
