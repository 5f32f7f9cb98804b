//! Page tables in guest RAM (Linux `mm/memory.c` page-table helpers, `mm/mprotect.c`
//! `change_protection()`, `mm/mremap.c` `move_ptes()`, `arch/riscv/include/asm/pgtable.h`).
//!
//! The tables are real Sv39/Sv48 tables in guest RAM, read and written with atomics
//! (`GuestMemory::load_u64`/`store_u64`/`compare_exchange_u64`/`amo_u64`), so the
//! hardware walker (`mmu::walk`) sees exactly what the kernel wrote and the kernel sees the
//! A/D bits the walker set. The number of levels comes from the paging mode
//! (`SatpMode::levels()`); nothing here special-cases a level number. This kernel maps only
//! 4 KiB leaves (no THP yet); a non-table entry above level 0 is never created and is
//! skipped if found.
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
//! Freed page-table frames go back to the allocator at once; lockless GUP-fast (a later
//! issue) will need them deferred (Linux `tlb_remove_table()`), which plugs into
//! [`MmuGather`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use devices::{AmoOp, GuestPhysAddr, PAGE_SHIFT, PAGE_SIZE};
use mmu::{Pte, PteFlags, SatpMode};

use super::page_alloc::{PageFlags, Pfn};
use super::vma::VmFlags;
use super::PhysMem;
use crate::errno::{Errno, KResult};

/// Entries per table (4 KiB / 8-byte PTEs).
const PTRS_PER_TABLE: u64 = 512;
/// Bits of VPN per level.
const BITS_PER_LEVEL: u32 = 9;
/// PTE size in bytes.
const PTE_SIZE: u64 = 8;

/// `_PAGE_PROT_NONE` (riscv: the global bit, meaningful only while `V = 0`).
const PAGE_PROT_NONE: PteFlags = PteFlags::G;
/// The bits `pte_modify()` replaces (the complement of riscv's `_PAGE_CHG_MASK`): PFN, A,
/// D, RSW and PBMT are kept.
const PTE_PROT_BITS: PteFlags = PteFlags::V
    .union(PteFlags::R)
    .union(PteFlags::W)
    .union(PteFlags::X)
    .union(PteFlags::U)
    .union(PteFlags::G);

/// `PAGE_NONE`: what a `PROT_NONE` VMA's PTEs carry.
pub const PAGE_NONE: PteFlags = PAGE_PROT_NONE.union(PteFlags::R);

/// `vm_get_page_prot()` (riscv `protection_map[]`): the PTE protection for a VMA.
///
/// Private writable mappings get **no** `W` (`PAGE_COPY`): write permission is added per
/// PTE by the fault path (`maybe_mkwrite`) and by `change_protection()` only where the page
/// is exclusively owned, which is what makes COW possible. `W` without `R` is reserved in
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
    if flags.contains(VmFlags::WRITE) && flags.contains(VmFlags::SHARED) {
        p |= PteFlags::W;
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
    /// Level of the entry (0 = 4 KiB leaf).
    pub level: usize,
}

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
    /// Pages to `put_page()` once the entries are cleared.
    pub pages: Vec<Pfn>,
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
}

/// One address space's page table, rooted at `pgd`.
#[derive(Debug)]
pub struct PageTable {
    phys: Arc<PhysMem>,
    mode: SatpMode,
    levels: usize,
    pgd: Pfn,
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
        })
    }

    /// A second handle on the same tables (same root, same `PhysMem`), for the reverse
    /// map ([`super::rmap::MmRmap`]) to reach this address space's PTEs from another
    /// process's system call. `PageTable` has no destructor; the owner frees the tables
    /// with [`PageTable::destroy`], after which the alias must not be used (the rmap
    /// drops it first, see `MmRmap::kill`).
    pub(crate) fn alias(&self) -> PageTable {
        PageTable {
            phys: Arc::clone(&self.phys),
            mode: self.mode,
            levels: self.levels,
            pgd: self.pgd,
        }
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

    /// `set_pte()`: a release store.
    #[inline]
    pub fn set_pte(&self, slot: GuestPhysAddr, pte: Pte) {
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
        self.phys.pages.events.pte_rmws.inc();
        matches!(
            self.phys.ram.compare_exchange_u64(slot, old.0, new.0),
            Ok(Ok(_))
        )
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

    /// `pte_alloc()` / `walk_alloc`: the level-0 entry for `va`, allocating missing
    /// intermediate tables.
    ///
    /// # Errors
    /// `ENOMEM` when a table cannot be allocated; `EFAULT` for a non-user `va` or a
    /// non-table entry in the way (never created by this kernel).
    pub fn pte_alloc(&self, va: u64) -> KResult<GuestPhysAddr> {
        if !self.is_user(va) {
            return Err(Errno::EFAULT);
        }
        let mut table = self.pgd;
        for level in (1..self.levels).rev() {
            let slot = Self::slot(table, Self::index(va, level));
            let pte = self.ptep_get(slot);
            if let Some(child) = self.child_table(pte) {
                table = child;
                continue;
            }
            if !pte_none(pte) {
                return Err(Errno::EFAULT);
            }
            let new = alloc_table(&self.phys).ok_or(Errno::ENOMEM)?;
            // Non-leaf entries: V only (D, A, U are reserved there).
            if !self.ptep_cmpxchg(slot, pte, Pte::new(new.0, PteFlags::V)) {
                free_table(&self.phys, new);
                let now = self.ptep_get(slot);
                table = self.child_table(now).ok_or(Errno::EFAULT)?;
                continue;
            }
            table = new;
        }
        Ok(Self::slot(table, Self::index(va, 0)))
    }

    /// `follow_pte()`: the kernel's own software walk. Returns the present leaf mapping
    /// `va` (its entry address, value and level), or `None` if there is none.
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
                // A superpage leaf would be returned here; this kernel creates none.
                return (pte.is_valid() && pte.is_leaf()).then_some(PteSlot { addr, pte, level });
            }
            return pte_present(pte).then_some(PteSlot { addr, pte, level });
        }
        None
    }

    /// Calls `f(va, entry_addr, pte)` for every non-zero level-0 entry in `[start, end)`,
    /// skipping absent tables entirely (so huge sparse ranges cost only their tables).
    fn for_each_pte(&self, start: u64, end: u64, f: &mut dyn FnMut(u64, GuestPhysAddr, Pte)) {
        let end = end.min(self.user_top());
        if start < end {
            self.walk_level(self.pgd, self.levels - 1, 0, start, end, f);
        }
    }

    fn walk_level(
        &self,
        table: Pfn,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, GuestPhysAddr, Pte),
    ) {
        let shift = Self::shift(level);
        let table_end = base.saturating_add(PTRS_PER_TABLE << shift);
        let lo = start.max(base);
        let hi = end.min(table_end);
        if lo >= hi {
            return;
        }
        for idx in ((lo - base) >> shift)..=((hi - 1 - base) >> shift) {
            let addr = Self::slot(table, idx);
            let pte = self.ptep_get(addr);
            if pte_none(pte) {
                continue;
            }
            let va = base + (idx << shift);
            if level == 0 {
                f(va, addr, pte);
            } else if let Some(child) = self.child_table(pte) {
                self.walk_level(child, level - 1, va, start, end, f);
            }
        }
    }

    /// `zap_pte_range()` (via `unmap_page_range()`): clears every PTE in `[start, end)`
    /// atomically, drops the mapcount of each mapped page, marks it `PG_dirty` if the
    /// hardware had set D, and queues its reference in `tlb` for release after the flush.
    /// Returns the number of present PTEs removed.
    pub fn zap_pte_range(&self, start: u64, end: u64, tlb: &mut MmuGather) -> u64 {
        self.zap_pte_range_if(start, end, tlb, &|_| true)
    }

    /// [`PageTable::zap_pte_range`] limited to the present PTEs for which `want(pte)`
    /// holds (`zap_details` with a `single_folio` / `even_cows = false` filter in Linux:
    /// a hole punched in a file unmaps its page-cache pages but keeps private COW copies).
    pub fn zap_pte_range_if(
        &self,
        start: u64,
        end: u64,
        tlb: &mut MmuGather,
        want: &dyn Fn(Pte) -> bool,
    ) -> u64 {
        let mut zapped = 0;
        let phys = Arc::clone(&self.phys);
        self.for_each_pte(start, end, &mut |va, addr, pte| {
            if pte_present(pte) && !want(pte) {
                return;
            }
            let old = self.ptep_get_and_clear(addr);
            if !pte_present(old) {
                // Swap entries do not exist yet; any other non-zero entry is dropped.
                return;
            }
            zapped += 1;
            tlb.add_range(va, va + PAGE_SIZE, pte_exec(old));
            let pfn = pte_pfn(old);
            if phys.pages.is_zero_pfn(pfn) {
                return;
            }
            if let Some(page) = phys.pages.page(pfn) {
                if pte_dirty(old) {
                    page.set(PageFlags::DIRTY);
                }
                if !page.dec_mapcount() {
                    phys.pages.note_bad_put();
                }
                tlb.pages.push(pfn);
            }
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
        self.for_each_pte(start, end, &mut |va, addr, pte| {
            if !pte.is_valid() || !pte_dirty(pte) {
                return;
            }
            let old = Pte(self
                .phys
                .ram
                .amo_u64(addr, AmoOp::And, !PteFlags::D.bits())
                .unwrap_or(0));
            if !pte_dirty(old) {
                return;
            }
            if let Some(pfn) = self.vm_normal_page(old) {
                if let Some(page) = self.phys.pages.page(pfn) {
                    page.set(PageFlags::DIRTY);
                }
            }
            cleaned += 1;
            tlb.add_range(va, va + PAGE_SIZE, pte_exec(old));
        });
        cleaned
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
                free_table(&self.phys, child);
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
    /// (an exclusively owned anonymous page; never the zero page). Returns the number of
    /// PTEs changed.
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
        self.for_each_pte(start, end, &mut |va, addr, _| loop {
            let old = self.ptep_get(addr);
            if !pte_present(old) {
                return;
            }
            let mut new = pte_modify(old, newprot);
            if try_write && !pte_write(new) && self.can_change_pte_writable(vm_flags, new) {
                new = new.with(PteFlags::W);
            }
            if new == old {
                return;
            }
            if self.ptep_cmpxchg(addr, old, new) {
                changed += 1;
                tlb.add_range(va, va + PAGE_SIZE, pte_exec(old) || pte_exec(new));
                return;
            }
        });
        changed
    }

    /// `can_change_pte_writable()`: whether a present PTE of a `VM_WRITE` VMA may get `W`
    /// without a write fault. Private: only an anonymous page we own exclusively
    /// (`PageAnonExclusive`); shared: only if already dirty.
    pub fn can_change_pte_writable(&self, vm_flags: VmFlags, pte: Pte) -> bool {
        if !vm_flags.contains(VmFlags::WRITE) || pte_protnone(pte) || !pte.is_valid() {
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

    /// `vm_normal_page()`: the refcounted page behind a present PTE, or `None` for the
    /// zero page and frames without metadata.
    pub fn vm_normal_page(&self, pte: Pte) -> Option<Pfn> {
        let pfn = pte_pfn(pte);
        (!self.phys.pages.is_zero_pfn(pfn) && self.phys.pages.page(pfn).is_some()).then_some(pfn)
    }

    /// `move_ptes()` / `move_page_tables()`: moves every entry of
    /// `[old_start, old_end)` to the same offset from `new_start` (the target range must be
    /// empty), keeping PFN, protection and A/D: the data does not move. On `ENOMEM` for a
    /// new table, the entries already moved are moved back, so nothing changed.
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
        self.for_each_pte(old_start, old_end, &mut |va, addr, _| {
            entries.push((va, addr))
        });
        let mut moved: Vec<(GuestPhysAddr, GuestPhysAddr)> = Vec::with_capacity(entries.len());
        for (va, old_addr) in entries {
            let new_va = new_start + (va - old_start);
            let new_addr = match self.pte_alloc(new_va) {
                Ok(a) => a,
                Err(e) => {
                    for (o, n) in moved.into_iter().rev() {
                        let pte = self.ptep_get_and_clear(n);
                        self.set_pte(o, pte);
                    }
                    return Err(e);
                }
            };
            let pte = self.ptep_get_and_clear(old_addr);
            self.set_pte(new_addr, pte);
            tlb.add_range(va, va + PAGE_SIZE, pte_exec(pte));
            moved.push((old_addr, new_addr));
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
        self.for_each_pte(start, end, &mut |va, addr, _| entries.push((va, addr)));
        let cow = vm_flags.is_cow_mapping();
        for (va, src_addr) in entries {
            let pte = self.ptep_get(src_addr);
            if !pte_present(pte) {
                continue;
            }
            let dst_addr = dst.pte_alloc(va)?;
            if let Some(pfn) = self.vm_normal_page(pte) {
                if let Some(page) = self.phys.pages.page(pfn) {
                    // folio_get() first, as Linux does, then the pin check.
                    self.phys.get_page(pfn);
                    if page.test(PageFlags::ANON) {
                        if has_pinned
                            && page.maybe_dma_pinned()
                            && page.test(PageFlags::ANON_EXCLUSIVE)
                        {
                            self.phys.put_page(pfn);
                            self.copy_present_page(dst, dst_addr, pfn, vm_flags)?;
                            st.copied += 1;
                            continue;
                        }
                        page.clear(PageFlags::ANON_EXCLUSIVE);
                    }
                    page.inc_mapcount();
                }
            }
            let mut child = pte;
            if cow && pte_write(pte) {
                child = self.ptep_set_wrprotect(src_addr).without(PteFlags::W);
                st.wrprotected += 1;
                st.parent_tlb.add_range(va, va + PAGE_SIZE, pte_exec(pte));
            }
            if vm_flags.contains(VmFlags::SHARED) {
                child = child.without(PteFlags::D);
            }
            dst.set_pte(dst_addr, child.without(PteFlags::A));
            st.ptes += 1;
        }
        Ok(())
    }

    /// `copy_present_page()`: the child's private copy of a possibly pinned anonymous page
    /// `src`, mapped at `dst_addr` in `dst` with the VMA's protection, writable if
    /// `VM_WRITE` (`maybe_mkwrite()`), `PageAnon | PageAnonExclusive`
    /// (`folio_add_new_anon_rmap(RMAP_EXCLUSIVE)`). Linux also sets `pte_mkdirty()` so
    /// reclaim keeps the unbacked copy; per this module's PTE policy the entry gets
    /// `A = D = 0` and the page `PG_dirty` instead.
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
        self.phys.pages.events.page_copies.inc();
        if self
            .phys
            .ram
            .copy_within(src.pa(), new.pa(), PAGE_SIZE)
            .is_err()
        {
            self.phys.put_page(new);
            return Err(Errno::EFAULT);
        }
        if let Some(page) = self.phys.pages.page(new) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE | PageFlags::DIRTY);
            page.inc_mapcount();
        }
        let mut pte = mk_pte(new, vm_get_page_prot(vm_flags));
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

/// `pte_free()`: releases a page-table frame.
fn free_table(phys: &PhysMem, pfn: Pfn) {
    if let Some(p) = phys.pages.page(pfn) {
        p.clear(PageFlags::PGTABLE);
    }
    phys.pages.put_page(&phys.ram, pfn);
}
