//! Page faults: riscv `do_page_fault()` (`arch/riscv/mm/fault.c`) and the generic
//! `handle_mm_fault()` → `handle_pte_fault()` → `do_anonymous_page()` / `do_wp_page()`
//! (`mm/memory.c`).
//!
//! A/D bits: the kernel creates PTEs with `A = D = 0` (see [`super::pgtable`]). Under
//! Svadu it leaves them to the hardware — the access that faulted is retried by the hart
//! and the walker sets A (and D for a store). Under Svade the walker faults instead, so the
//! handler sets A, and D for a write, on the PTE it installs or finds (Linux's
//! `pte_mkyoung()`/`pte_mkdirty()` in `handle_pte_fault()`); that is the only place the
//! kernel writes A/D, and only for the access being served.

use bitflags::bitflags;
use devices::PAGE_SIZE;
use mmu::{AccessType, AdScheme, PteFlags};

use super::page_alloc::PageFlags;
use super::pgtable::{
    mk_pte, page_remove_rmap, pte_exec, pte_none, pte_pfn, pte_present, pte_protnone, pte_write,
    vm_get_page_prot,
};
use super::vma::{MappedFile, VmFlags, Vma, VmaBacking};
use super::{Mm, MmuGather, STACK_GUARD_GAP};
use crate::errno::{Errno, KResult};

bitflags! {
    /// `enum fault_flag` (`include/linux/mm_types.h`), Linux's values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct FaultFlags: u32 {
        /// The fault was a write.
        const WRITE = 1 << 0;
        /// The fault is a `->page_mkwrite` upgrade of a shared PTE.
        const MKWRITE = 1 << 1;
        /// The fault may drop the mmap lock and ask to be retried.
        const ALLOW_RETRY = 1 << 2;
        /// Do not wait for I/O when retrying.
        const RETRY_NOWAIT = 1 << 3;
        /// A fatal signal may interrupt the fault.
        const KILLABLE = 1 << 4;
        /// The fault has been retried once.
        const TRIED = 1 << 5;
        /// The fault came from user mode.
        const USER = 1 << 6;
        /// The fault is on another process's mm (GUP remote).
        const REMOTE = 1 << 7;
        /// The fault was an instruction fetch.
        const INSTRUCTION = 1 << 8;
        /// Any signal may interrupt the fault.
        const INTERRUPTIBLE = 1 << 9;
        /// Break COW on a read (R/O pin of an anon page), without making it writable.
        const UNSHARE = 1 << 10;
        /// `vmf->orig_pte` is valid (internal to the fault path).
        const ORIG_PTE_VALID = 1 << 11;
    }
}

impl FaultFlags {
    /// `FAULT_FLAG_DEFAULT`: `ALLOW_RETRY | KILLABLE | INTERRUPTIBLE`.
    pub const DEFAULT: FaultFlags = FaultFlags::ALLOW_RETRY
        .union(FaultFlags::KILLABLE)
        .union(FaultFlags::INTERRUPTIBLE);
}

/// Why a fault could not be resolved: what the kernel delivers to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFault {
    /// `SIGSEGV` / `SEGV_MAPERR`: no VMA covers the address (also `VM_FAULT_SIGSEGV`).
    SigsegvMaperr,
    /// `SIGSEGV` / `SEGV_ACCERR`: the VMA forbids the access (`access_error()`).
    SigsegvAccerr,
    /// `SIGBUS` / `BUS_ADRERR` (`VM_FAULT_SIGBUS`): an access to a file mapping beyond the
    /// end of the file, or a page the file system cannot provide.
    Sigbus,
    /// `VM_FAULT_OOM`: no free frame (Linux runs the OOM killer).
    Oom,
}

impl VmFault {
    /// `SIGSEGV` (11).
    pub const SIGSEGV: i32 = 11;
    /// `SIGBUS` (7).
    pub const SIGBUS: i32 = 7;
    /// `SIGKILL` (9), the OOM killer's signal.
    pub const SIGKILL: i32 = 9;

    /// The signal number to deliver.
    pub const fn signal(self) -> i32 {
        match self {
            VmFault::SigsegvMaperr | VmFault::SigsegvAccerr => Self::SIGSEGV,
            VmFault::Sigbus => Self::SIGBUS,
            VmFault::Oom => Self::SIGKILL,
        }
    }

    /// `si_code`: `SEGV_MAPERR` 1, `SEGV_ACCERR` 2, `BUS_ADRERR` 2, 0 for OOM.
    pub const fn si_code(self) -> i32 {
        match self {
            VmFault::SigsegvMaperr => 1,
            VmFault::SigsegvAccerr | VmFault::Sigbus => 2,
            VmFault::Oom => 0,
        }
    }
}

/// riscv `access_error()`: whether the VMA forbids the faulting access. A load needs
/// `VM_READ` or `VM_WRITE` (write implies read), a store `VM_WRITE`, a fetch `VM_EXEC`.
pub fn access_error(flags: FaultFlags, vm_flags: VmFlags) -> bool {
    if flags.contains(FaultFlags::INSTRUCTION) {
        !vm_flags.contains(VmFlags::EXEC)
    } else if flags.contains(FaultFlags::WRITE) {
        !vm_flags.contains(VmFlags::WRITE)
    } else {
        !vm_flags.intersects(VmFlags::READ | VmFlags::WRITE)
    }
}

impl Mm {
    /// The entry point from a hart's page-fault exit (riscv `do_page_fault()` for a U-mode
    /// fault) at `va` (`stval`): `Fetch` → `FAULT_FLAG_INSTRUCTION`, `Store` → `FAULT_FLAG_WRITE`, plus
    /// `FAULT_FLAG_DEFAULT | FAULT_FLAG_USER`.
    ///
    /// On `Ok` the kernel resumes the hart at the faulting instruction, after draining
    /// [`Mm::take_tlb_flush`].
    ///
    /// # Errors
    /// The [`VmFault`] to deliver as a signal.
    pub fn handle_user_fault(&mut self, va: u64, access: AccessType) -> Result<(), VmFault> {
        let mut flags = FaultFlags::DEFAULT | FaultFlags::USER;
        match access {
            AccessType::Fetch => flags |= FaultFlags::INSTRUCTION,
            AccessType::Store => flags |= FaultFlags::WRITE,
            AccessType::Load => {}
        }
        self.handle_mm_fault(va, flags)
    }

    /// Resolves a fault at `va`: finds the VMA (growing a `VM_GROWSDOWN` stack down to
    /// `va` if needed, `lock_mm_and_find_vma()`), checks the access against the VMA
    /// (`access_error()`), then [`Mm::handle_mm_fault_vma`].
    ///
    /// # Errors
    /// [`VmFault::SigsegvMaperr`] (no VMA, or the stack may not grow there), [`VmFault::SigsegvAccerr`],
    /// [`VmFault::Sigbus`], [`VmFault::Oom`].
    pub fn handle_mm_fault(&mut self, va: u64, flags: FaultFlags) -> Result<(), VmFault> {
        let r = self.find_vma_for_fault(va).and_then(|vma| {
            if access_error(flags, vma.flags) {
                return Err(VmFault::SigsegvAccerr);
            }
            self.handle_mm_fault_vma(&vma, va, flags)
        });
        if r.is_err() {
            self.stats.bad_faults += 1;
        }
        r
    }

    /// `lock_mm_and_find_vma()`: the VMA containing `va`, expanding a stack below it.
    fn find_vma_for_fault(&mut self, va: u64) -> Result<Vma, VmFault> {
        let vma = self
            .vmas
            .find_vma(va)
            .cloned()
            .ok_or(VmFault::SigsegvMaperr)?;
        if vma.start <= va {
            return Ok(vma);
        }
        if !vma.flags.contains(VmFlags::GROWSDOWN) {
            return Err(VmFault::SigsegvMaperr);
        }
        self.expand_downwards(&vma, va)
            .map_err(|_| VmFault::SigsegvMaperr)?;
        self.vmas
            .vma_lookup(va)
            .cloned()
            .ok_or(VmFault::SigsegvMaperr)
    }

    /// `expand_downwards()`: grows the stack VMA `vma` down to the page of `addr`.
    ///
    /// # Errors
    /// `EPERM` below `mmap_min_addr`; `ENOMEM` if the stack guard gap to the VMA below
    /// would be violated or the stack would exceed `RLIMIT_STACK`.
    fn expand_downwards(&mut self, vma: &Vma, addr: u64) -> KResult<()> {
        let addr = addr & !(PAGE_SIZE - 1);
        if addr < self.mmap_min_addr {
            return Err(Errno::EPERM);
        }
        if let Some(prev) = self.vmas.vma_prev(vma.start) {
            if !prev.flags.contains(VmFlags::GROWSDOWN)
                && prev.flags.is_accessible()
                && addr.saturating_sub(prev.end) < STACK_GUARD_GAP
            {
                return Err(Errno::ENOMEM);
            }
        }
        if vma.end - addr > self.stack_rlimit {
            return Err(Errno::ENOMEM);
        }
        if !self.vmas.set_start(vma.start, addr) {
            return Err(Errno::ENOMEM);
        }
        self.stats.stack_expansions += 1;
        Ok(())
    }

    /// Linux's `handle_mm_fault()` proper, for a `vma` the caller has already found and
    /// checked (the GUP path checks `check_vma_flags()` instead of `access_error()`, which is
    /// how `FOLL_FORCE` writes reach read-only private mappings). Implements
    /// `sanitize_fault_flags()` and `handle_pte_fault()`.
    ///
    /// # Errors
    /// [`VmFault::SigsegvMaperr`] for `FAULT_FLAG_UNSHARE` misuse, [`VmFault::Sigbus`] for a file
    /// page beyond the end of the file or an unexpected entry, [`VmFault::Oom`].
    pub fn handle_mm_fault_vma(
        &mut self,
        vma: &Vma,
        va: u64,
        flags: FaultFlags,
    ) -> Result<(), VmFault> {
        if flags.contains(FaultFlags::UNSHARE)
            && (flags.contains(FaultFlags::WRITE) || !vma.flags.is_cow_mapping())
        {
            return Err(VmFault::SigsegvMaperr);
        }
        self.stats.faults += 1;
        let va = va & !(PAGE_SIZE - 1);
        // The PMD level first: a huge PMD there, or one to create (huge_memory.rs).
        if let Some(r) = self.handle_pmd_fault(vma, va, flags) {
            return r;
        }
        let slot = self.pgtable.pte_alloc(va).map_err(|e| match e {
            Errno::ENOMEM => VmFault::Oom,
            _ => VmFault::Sigbus,
        })?;
        let pte = self.pgtable.ptep_get(slot);
        let write = flags.contains(FaultFlags::WRITE);

        if pte_none(pte) {
            return match &vma.backing {
                VmaBacking::Anon if vma.flags.contains(VmFlags::SHARED) => {
                    self.do_shared_anon_page(vma, va, slot, write)
                }
                VmaBacking::Anon => self.do_anonymous_page(vma, va, slot, flags),
                VmaBacking::File(file) => self.do_fault(vma, file.as_ref(), va, slot, flags),
            };
        }
        if !pte_present(pte) {
            // Swap and migration entries arrive with swap support.
            return Err(VmFault::Sigbus);
        }
        if pte_protnone(pte) && vma.flags.is_accessible() {
            // do_numa_page()'s restore: the VMA allows access (checked above) but the PTE
            // still carries PAGE_NONE. Give it the VMA's protection. In an inaccessible
            // (PROT_NONE) VMA only GUP with FOLL_FORCE gets here; as in Linux's
            // handle_pte_fault() it falls through to the write/unshare handling below.
            let mut tlb = MmuGather::default();
            self.pgtable
                .change_protection(va, va + PAGE_SIZE, vma.flags, &mut tlb);
            self.tlb_finish_mmu(tlb);
            return Ok(());
        }
        if (write || flags.contains(FaultFlags::UNSHARE)) && !pte_write(pte) {
            return self.do_wp_page(vma, va, slot, pte, flags);
        }
        // The PTE already allows the access. Under Svade the walker faulted because A (or D
        // for a store) was clear: set them (pte_mkyoung / pte_mkdirty). Otherwise the hart
        // used a stale TLB entry: flush it (riscv's local_flush_tlb_page in
        // update_mmu_cache / flush_tlb_fix_spurious_fault).
        let entry = pte.with(self.svade_ad(write));
        if entry != pte && !self.pgtable.ptep_cmpxchg(slot, pte, entry) {
            // The PTE changed under us (hardware A/D on another hart): retry the access.
            return Ok(());
        }
        self.stats.spurious += 1;
        self.flush_tlb_range(va, va + PAGE_SIZE, false);
        Ok(())
    }

    /// The A/D bits the fault handler sets for an access: `A` (and `D` for a write) under
    /// Svade, none under Svadu (the hardware sets them when the access retries).
    ///
    /// A fault taken for GUP (`faultin_page()`, see [`super::gup`]) is different: no hart
    /// retries the access, the kernel reads or writes the frame directly, so the handler
    /// sets `A` (and `D` for a write) under either scheme, as Linux's unconditional
    /// `pte_mkyoung()`/`pte_mkdirty()` do. The `FOLL_COW` generation of GUP depends on it
    /// (`can_follow_write_pte()` tests `pte_dirty()`).
    pub(super) fn svade_ad(&self, write: bool) -> PteFlags {
        if self.gup_fault {
            return if write {
                PteFlags::A | PteFlags::D
            } else {
                PteFlags::A
            };
        }
        match self.ad {
            AdScheme::Svadu => PteFlags::empty(),
            AdScheme::Svade if write => PteFlags::A | PteFlags::D,
            AdScheme::Svade => PteFlags::A,
        }
    }

    /// `finish_fault()` → `set_pte_range()` for a page a fault just obtained (a new anon
    /// page, a shmem page, a page-cache page or a COW copy): takes the mapcount the PTE
    /// will hold and installs `entry` at `slot` if it is still empty, queueing the TLB
    /// flush for `va`. If another fault filled the slot first (`!pte_none()` under the
    /// page-table lock in Linux), undoes the mapcount and drops the caller's reference on
    /// `pfn` instead. Returns whether `entry` was installed.
    fn set_new_pte(
        &mut self,
        slot: devices::GuestPhysAddr,
        va: u64,
        pfn: super::Pfn,
        entry: mmu::Pte,
    ) -> bool {
        let page = self.phys.pages.page(pfn);
        if let Some(p) = page {
            p.inc_mapcount();
        }
        if !self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
            if let Some(p) = page {
                p.dec_mapcount();
            }
            self.phys.put_page(pfn);
            return false;
        }
        self.flush_tlb_range(va, va + PAGE_SIZE, pte_exec(entry));
        true
    }

    /// `do_anonymous_page()`: first touch of a private anonymous page. A read (or unshare)
    /// maps the shared zero page read-only; a write allocates a zeroed page, marks it
    /// `PageAnon | PageAnonExclusive` (`folio_add_new_anon_rmap`) and maps it, writable if
    /// the VMA is (`maybe_mkwrite`).
    fn do_anonymous_page(
        &mut self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> Result<(), VmFault> {
        let write = flags.contains(FaultFlags::WRITE);
        let prot = vm_get_page_prot(vma.flags);
        // "Use the zero-page for reads": any fault without FAULT_FLAG_WRITE, unshare
        // included (the zero page is not anonymous, so GUP need not unshare it).
        if !write {
            let zero = self.phys.pages.zero_pfn();
            let entry = mk_pte(zero, prot.difference(PteFlags::W)).with(self.svade_ad(false));
            if self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
                self.stats.zero_page_maps += 1;
                self.flush_tlb_range(va, va + PAGE_SIZE, pte_exec(entry));
            }
            return Ok(());
        }
        let pfn = self.phys.alloc_page(true).ok_or(VmFault::Oom)?;
        if let Some(page) = self.phys.pages.page(pfn) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
        }
        let mut entry = mk_pte(pfn, prot).with(self.svade_ad(write));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        if self.set_new_pte(slot, va, pfn, entry) {
            self.stats.anon_pages += 1;
        }
        Ok(())
    }

    /// First touch of a `MAP_SHARED|MAP_ANONYMOUS` page. Linux serves it from shmem
    /// (`shmem_fault()`): a real page, never the zero page, mapped with the VMA's shared
    /// protection (writable if `VM_WRITE`). Other processes share it only through PTEs
    /// copied at fork (see [`Mm::dup_mmap`], which populates such VMAs first).
    pub(super) fn do_shared_anon_page(
        &mut self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        write: bool,
    ) -> Result<(), VmFault> {
        let pfn = self.phys.alloc_page(true).ok_or(VmFault::Oom)?;
        if let Some(page) = self.phys.pages.page(pfn) {
            page.set(PageFlags::SWAPBACKED);
        }
        let entry = mk_pte(pfn, vm_get_page_prot(vma.flags)).with(self.svade_ad(write));
        if self.set_new_pte(slot, va, pfn, entry) {
            self.stats.anon_pages += 1;
        }
        Ok(())
    }

    /// `do_fault()`: first touch of a page of a file VMA. A write fault in a private VMA
    /// copies the page-cache page (`do_cow_fault()`); any other fault maps the
    /// page-cache page itself (`do_read_fault()` / `do_shared_fault()`).
    ///
    /// Dirty tracking of shared mappings is the hardware's: the page-cache page is mapped
    /// with the VMA's protection — writable for a `VM_SHARED | VM_WRITE` VMA even on a read
    /// fault, as Linux does for VMAs without write-notify (`vm_page_prot` = `PAGE_SHARED`)
    /// — and with `D = 0`, so the first store makes the walker set D (or, under Svade,
    /// fault to the spurious path, which sets it). Writeback reads and clears D through the
    /// reverse map (`folio_mkclean()`, see [`super::rmap`]), instead of Linux's
    /// write-protect + `->page_mkwrite` cycle for file systems that need write-notify.
    fn do_fault(
        &mut self,
        vma: &Vma,
        file: &dyn MappedFile,
        va: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> Result<(), VmFault> {
        let index = vma.pgoff_of(va);
        // filemap_fault(): "index >= max_idx" → VM_FAULT_SIGBUS.
        if index >= file.size().div_ceil(PAGE_SIZE) {
            return Err(VmFault::Sigbus);
        }
        let write = flags.contains(FaultFlags::WRITE);
        let shared = vma.flags.contains(VmFlags::SHARED);
        if write && !shared {
            return self.do_cow_fault(vma, file, index, va, slot);
        }
        let may_write = shared && vma.flags.contains(VmFlags::WRITE);
        let pfn = file.fault(index, may_write)?;
        // finish_fault() → set_pte_range(): the VMA's protection (W only for a writable
        // shared VMA: vm_get_page_prot() gives private VMAs PAGE_COPY).
        let entry = mk_pte(pfn, vm_get_page_prot(vma.flags)).with(self.svade_ad(write));
        if self.set_new_pte(slot, va, pfn, entry) {
            self.stats.file_maps += 1;
        }
        Ok(())
    }

    /// `do_cow_fault()`: a write fault on an unmapped page of a private file VMA. The
    /// page-cache page is copied into a new exclusive anonymous page (never mapped itself:
    /// the write must not reach the file), writable if `VM_WRITE` (a `FOLL_FORCE` write
    /// into a read-only private VMA gets a read-only exclusive copy, as
    /// `maybe_mkwrite()` decides).
    fn do_cow_fault(
        &mut self,
        vma: &Vma,
        file: &dyn MappedFile,
        index: u64,
        va: u64,
        slot: devices::GuestPhysAddr,
    ) -> Result<(), VmFault> {
        let src = file.fault(index, false)?;
        let new = self.phys.alloc_page(false);
        self.phys
            .pages
            .events
            .page_copies
            .add(u64::from(new.is_some()));
        let copied = new.is_some_and(|new| {
            self.phys
                .ram
                .copy_within(src.pa(), new.pa(), PAGE_SIZE)
                .is_ok()
        });
        self.phys.put_page(src);
        let new = match (new, copied) {
            (Some(new), true) => new,
            (Some(new), false) => {
                self.phys.put_page(new);
                return Err(VmFault::Sigbus);
            }
            (None, _) => return Err(VmFault::Oom),
        };
        if let Some(page) = self.phys.pages.page(new) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
        }
        let mut entry = mk_pte(new, vm_get_page_prot(vma.flags)).with(self.svade_ad(true));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        if self.set_new_pte(slot, va, new, entry) {
            self.stats.file_cow += 1;
            self.stats.anon_pages += 1;
        }
        Ok(())
    }

    /// `do_wp_page()`: a write (or unshare) fault on a present PTE without `W`.
    ///
    /// - Shared mapping: make the PTE writable (`wp_page_shared`).
    /// - Private, anonymous page we own (`PageAnonExclusive`, or the generation's reuse
    ///   rule, [`super::GupGeneration::wp_can_reuse_anon_page`]: modern
    ///   `wp_can_reuse_anon_folio()` wants `folio_ref_count() == 1`, our mapping's
    ///   reference the only one, e.g. the other side of a fork copied or exited; ≤ 5.8's
    ///   `reuse_swap_page()` only a mapcount of 1): set `PageAnonExclusive` again and
    ///   reuse it (`wp_page_reuse`), writable if `VM_WRITE`; for unshare only the flag is
    ///   set and the PTE stays read-only.
    /// - Otherwise (the zero page, a page still shared after fork, or one with extra
    ///   references such as GUP pins): copy (`wp_page_copy`).
    fn do_wp_page(
        &mut self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        pte: mmu::Pte,
        flags: FaultFlags,
    ) -> Result<(), VmFault> {
        let unshare = flags.contains(FaultFlags::UNSHARE) && !flags.contains(FaultFlags::WRITE);
        let page = self.pgtable.vm_normal_page(pte);
        if vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            if page.is_none() {
                return Err(VmFault::Sigbus);
            }
            let mut entry = pte.with(self.svade_ad(true));
            if vma.flags.contains(VmFlags::WRITE) {
                entry = entry.with(PteFlags::W);
            }
            if entry != pte && self.pgtable.ptep_cmpxchg(slot, pte, entry) {
                self.stats.wp_reuse += 1;
                self.flush_tlb_range(va, va + PAGE_SIZE, false);
            }
            return Ok(());
        }
        if let Some(pfn) = page {
            if let Some(meta) = self.phys.pages.page(pfn) {
                // wp_can_reuse_anon_folio(): an exclusive anonymous page is ours; a shared
                // one only if the kernel generation's reuse rule says so (the folio's
                // refcount on modern, the page's mapcount before 5.9; see
                // GupGeneration::wp_can_reuse_anon_page). No swap cache or KSM here. For a
                // page of a large folio the refcount is the folio's.
                let reusable = meta.test(PageFlags::ANON)
                    && (meta.test(PageFlags::ANON_EXCLUSIVE)
                        || self.phys.pages.folio(pfn).is_some_and(|(_, folio)| {
                            self.gup_gen.wp_can_reuse_anon_page(folio, meta)
                        }));
                if reusable {
                    if !meta.test(PageFlags::ANON_EXCLUSIVE) {
                        meta.set(PageFlags::ANON_EXCLUSIVE);
                    }
                    if unshare {
                        return Ok(());
                    }
                    // wp_page_reuse(): maybe_mkwrite(pte_mkyoung/mkdirty(entry)).
                    let mut entry = pte.with(self.svade_ad(true));
                    if vma.flags.contains(VmFlags::WRITE) {
                        entry = entry.with(PteFlags::W);
                    }
                    if self.pgtable.ptep_cmpxchg(slot, pte, entry) {
                        self.stats.wp_reuse += 1;
                        self.flush_tlb_range(va, va + PAGE_SIZE, false);
                    }
                    return Ok(());
                }
            }
        }
        self.wp_page_copy(vma, va, slot, pte, unshare)
    }

    /// `wp_page_copy()`: gives this mapping its own copy of the page behind `pte` (a
    /// zeroed page when it is the zero page), exclusive and anonymous, replacing the PTE in
    /// one compare-and-swap, then drops the old page's mapcount and reference. Writable if
    /// `VM_WRITE` and this is not an unshare.
    fn wp_page_copy(
        &mut self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        pte: mmu::Pte,
        unshare: bool,
    ) -> Result<(), VmFault> {
        let old = self.pgtable.vm_normal_page(pte);
        let new = self.phys.alloc_page(old.is_none()).ok_or(VmFault::Oom)?;
        if let Some(old) = old {
            self.phys.pages.events.page_copies.inc();
            if self
                .phys
                .ram
                .copy_within(old.pa(), new.pa(), PAGE_SIZE)
                .is_err()
            {
                self.phys.put_page(new);
                return Err(VmFault::Sigbus);
            }
        }
        if let Some(page) = self.phys.pages.page(new) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
            page.inc_mapcount();
        }
        let mut entry = mk_pte(new, vm_get_page_prot(vma.flags)).with(self.svade_ad(!unshare));
        if !unshare && vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        if !self.pgtable.ptep_cmpxchg(slot, pte, entry) {
            if let Some(page) = self.phys.pages.page(new) {
                page.dec_mapcount();
            }
            self.phys.put_page(new);
            return Ok(());
        }
        self.stats.wp_copy += 1;
        if old.is_some_and(|p| {
            self.phys
                .pages
                .page(p)
                .is_some_and(|m| m.test(PageFlags::PAGECACHE))
        }) {
            self.stats.file_cow += 1;
        }
        let mut tlb = MmuGather::default();
        tlb.add_range(va, va + PAGE_SIZE, pte_exec(pte) || pte_exec(entry));
        if let Some(old) = old {
            if let Some(page) = self.phys.pages.page(old) {
                // A page of a large folio COWed away may leave it partially mapped.
                page_remove_rmap(&self.phys, old, page);
            }
            tlb.pages.push(old);
        }
        debug_assert_eq!(pte_pfn(entry), new);
        self.tlb_finish_mmu(tlb);
        Ok(())
    }
}
