//! Page faults: riscv `do_page_fault()` / `handle_page_fault()` and `mm_fault_error()`
//! (`arch/riscv/mm/fault.c`) and the generic `handle_mm_fault()` → `handle_pte_fault()` →
//! `do_anonymous_page()` / `do_wp_page()` (`mm/memory.c`).
//!
//! Results: every handler returns Linux's `vm_fault_t` bits ([`VmFault`]). The user fault
//! path turns an error into what the task gets with one function, [`mm_fault_error`]
//! (a signal, or [`UserFaultError::Oom`] for the OOM killer, `crate::oom`); GUP turns it
//! into an errno with `vm_fault_to_errno()` (see [`super::gup`]).
//!
//! A/D bits: the kernel creates PTEs with `A = D = 0` (see [`super::pgtable`]). For a user
//! fault (`FAULT_FLAG_USER`) under Svadu it leaves them to the hardware — the access that
//! faulted is retried by the hart and the walker sets A (and D for a store). Under Svade
//! the walker faults instead, so the handler sets A, and D for a write, on the PTE it
//! installs or finds (Linux's `pte_mkyoung()`/`pte_mkdirty()` in `handle_pte_fault()`).
//! A fault without `FAULT_FLAG_USER` (GUP, populate, the ELF loader, the kernel's own
//! accesses) gets A/D from the handler under both schemes ([`Mm::fault_young_dirty`]). The fault
//! handler is the only place the kernel writes A/D, and only for the access being served.

use bitflags::bitflags;
use devices::PAGE_SIZE;
use mmu::{AccessType, AdScheme, PteFlags};

use super::page_alloc::PageFlags;
use super::pgtable::{
    mk_pte, page_remove_rmap, pte_exec, pte_none, pte_pfn, pte_present, pte_protnone, pte_write,
    vm_get_page_prot, PAGE_SOFT_DIRTY,
};
use super::vma::{MappedFile, VmFlags, Vma, VmaBacking};
use super::{Mm, MmuGather, STACK_GUARD_GAP};
use crate::errno::{Errno, KResult};
use crate::signal::{BUS_ADRERR, SEGV_ACCERR, SEGV_MAPERR, SIGBUS, SIGSEGV};

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

    /// An unshare fault (`vmf->flags & FAULT_FLAG_UNSHARE`): `UNSHARE` without `WRITE`,
    /// a write that also asks to unshare being a write.
    pub fn is_unshare(self) -> bool {
        self.contains(FaultFlags::UNSHARE) && !self.contains(FaultFlags::WRITE)
    }
}

bitflags! {
    /// `vm_fault_t`: what [`Mm::handle_mm_fault_vma`] and every handler under it return,
    /// the bits of `enum vm_fault_reason` (`include/linux/mm_types.h`) with Linux's
    /// values. Empty means the fault was handled (the access can be retried). Callers
    /// turn it into a signal ([`mm_fault_error`], the user fault path) or an errno
    /// ([`super::gup::vm_fault_to_errno`], GUP); nothing else reports a fault's outcome.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct VmFault: u32 {
        /// `VM_FAULT_OOM`: no memory for a page or a page table.
        const OOM = 0x0001;
        /// `VM_FAULT_SIGBUS`: the page cannot be provided (beyond the end of a file, a
        /// full backing store, an entry the kernel cannot handle).
        const SIGBUS = 0x0002;
        /// `VM_FAULT_MAJOR`: the fault needed I/O (not reported here: page-cache reads
        /// are not accounted as major faults).
        const MAJOR = 0x0004;
        /// `VM_FAULT_WRITE` (Linux ≤ 6.0; removed in 6.1 once 5535be309971 had dropped
        /// `FOLL_COW`, its only reader): `do_wp_page()` broke COW or reused the page, so
        /// the PTE now belongs to this mapping. Returned only under the generations that
        /// had it ([`super::GupGeneration::vm_fault_write`]), for `faultin_page()`'s
        /// Dirty COW / `FOLL_COW` rule.
        const WRITE = 0x0008;
        /// `VM_FAULT_HWPOISON`: the page is hardware-poisoned (no poison here).
        const HWPOISON = 0x0010;
        /// `VM_FAULT_HWPOISON_LARGE`: a poisoned huge page; the index is in `HINDEX_MASK`.
        const HWPOISON_LARGE = 0x0020;
        /// `VM_FAULT_SIGSEGV`: the fault must raise `SIGSEGV` (e.g. `FAULT_FLAG_UNSHARE`
        /// misuse in `sanitize_fault_flags()`).
        const SIGSEGV = 0x0040;
        /// `VM_FAULT_NOPAGE`: `->fault` installed the PTE itself.
        const NOPAGE = 0x0100;
        /// `VM_FAULT_LOCKED`: `->fault` returns the page locked.
        const LOCKED = 0x0200;
        /// `VM_FAULT_RETRY`: the handler dropped the mmap lock; retry with
        /// `FAULT_FLAG_TRIED` (never returned here: the lock is never dropped).
        const RETRY = 0x0400;
        /// `VM_FAULT_FALLBACK`: a huge-page handler could not map a huge page; the PTE
        /// level must handle the fault (internal to [`Mm::handle_mm_fault_vma`]).
        const FALLBACK = 0x0800;
        /// `VM_FAULT_DONE_COW`: `->fault` fully handled COW (DAX only).
        const DONE_COW = 0x1000;
        /// `VM_FAULT_NEEDDSYNC`: the PTE needs `fsync()` to be installed (DAX only).
        const NEEDDSYNC = 0x2000;
        /// `VM_FAULT_COMPLETED`: the fault completed with the mmap lock released.
        const COMPLETED = 0x4000;
        /// `VM_FAULT_HINDEX_MASK`: the huge-page size index of `HWPOISON_LARGE`.
        const HINDEX_MASK = 0x0f_0000;
    }
}

impl VmFault {
    /// `VM_FAULT_ERROR`: `OOM | SIGBUS | SIGSEGV | HWPOISON | HWPOISON_LARGE | FALLBACK`.
    pub const ERROR: VmFault = VmFault::OOM
        .union(VmFault::SIGBUS)
        .union(VmFault::SIGSEGV)
        .union(VmFault::HWPOISON)
        .union(VmFault::HWPOISON_LARGE)
        .union(VmFault::FALLBACK);

    /// `fault & VM_FAULT_ERROR`: whether the fault failed.
    pub const fn is_error(self) -> bool {
        self.intersects(VmFault::ERROR)
    }
}

/// What the kernel must do about a user page fault that [`Mm::do_page_fault`] could not
/// resolve: riscv's `bad_area()` / `mm_fault_error()` (`arch/riscv/mm/fault.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFaultError {
    /// `do_trap()` / `force_sig_fault(signo, code, addr)`: deliver `signo` with
    /// `si_code` `code` at the faulting address.
    Signal {
        /// The signal number (`SIGSEGV`, `SIGBUS`).
        signo: u8,
        /// `si_code`: `SEGV_MAPERR`, `SEGV_ACCERR`, `BUS_ADRERR`.
        code: i32,
    },
    /// `VM_FAULT_OOM`: run `pagefault_out_of_memory()` (the OOM killer, see
    /// `crate::oom`), then return to user mode, which re-executes the access (or dies,
    /// if the task was the victim).
    Oom,
    /// `VM_FAULT_RETRY` from `handle_userfault()`: the fault is one for the userfaultfd
    /// its VMA is registered with (see [`super::userfaultfd`]); the kernel queues its
    /// message and sleeps the task until the fault is resolved or woken, then the access
    /// is re-executed.
    Userfault,
    /// The fault needs I/O (its PTE is a swap entry) and may be made asynchronous
    /// (`kvm_arch_setup_async_pf()`'s "page not present"): returned only when the caller
    /// asked ([`Mm::fault_needs_io`]); the kernel queues the swap-in for a worker and runs
    /// another task meanwhile, then the access is re-executed.
    AsyncPf,
}

impl UserFaultError {
    /// `bad_area(SEGV_MAPERR)`: no VMA covers the address (or `VM_FAULT_SIGSEGV`).
    pub const SEGV_MAPERR: UserFaultError = UserFaultError::Signal {
        signo: SIGSEGV,
        code: SEGV_MAPERR,
    };
    /// `bad_area(SEGV_ACCERR)`: the VMA forbids the access (`access_error()`).
    pub const SEGV_ACCERR: UserFaultError = UserFaultError::Signal {
        signo: SIGSEGV,
        code: SEGV_ACCERR,
    };
    /// `SIGBUS` / `BUS_ADRERR`: `VM_FAULT_SIGBUS` or `VM_FAULT_HWPOISON*`.
    pub const BUS_ADRERR: UserFaultError = UserFaultError::Signal {
        signo: SIGBUS,
        code: BUS_ADRERR,
    };
}

/// riscv `mm_fault_error()` for a user-mode fault: the one mapping from a failed fault
/// (`fault.is_error()`) to what the task gets. `VM_FAULT_OOM` → the OOM killer
/// ([`UserFaultError::Oom`]); `VM_FAULT_SIGBUS | HWPOISON | HWPOISON_LARGE` → `SIGBUS` /
/// `BUS_ADRERR`; `VM_FAULT_SIGSEGV` → `SIGSEGV` / `SEGV_MAPERR`. Linux `BUG()`s on any
/// other error bit (a `VM_FAULT_FALLBACK` that leaked out); that is a kernel bug, which
/// here becomes `SIGBUS` rather than a host panic.
pub fn mm_fault_error(fault: VmFault) -> UserFaultError {
    if fault.contains(VmFault::OOM) {
        UserFaultError::Oom
    } else if fault.intersects(VmFault::SIGBUS | VmFault::HWPOISON | VmFault::HWPOISON_LARGE) {
        UserFaultError::BUS_ADRERR
    } else if fault.contains(VmFault::SIGSEGV) {
        UserFaultError::SEGV_MAPERR
    } else {
        debug_assert!(false, "mm_fault_error() without an error bit: {fault:?}");
        UserFaultError::BUS_ADRERR
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

/// How many times [`Mm::handle_page_fault`] re-runs a fault that asked to be retried
/// (`VM_FAULT_RETRY`) before it gives up with `SIGBUS`. Linux retries until the fault
/// completes or a fatal signal is pending; no handler here drops the mmap lock, so a
/// retry loop can only be a kernel bug, which must not hang the host.
const MAX_FAULT_RETRIES: u32 = 8;

impl FaultFlags {
    /// riscv `do_page_fault()`'s flags for a U-mode page fault of kind `access`: `Fetch` →
    /// `FAULT_FLAG_INSTRUCTION`, `Store` → `FAULT_FLAG_WRITE`, plus `FAULT_FLAG_DEFAULT |
    /// FAULT_FLAG_USER`.
    pub fn for_user_access(access: AccessType) -> FaultFlags {
        let flags = FaultFlags::DEFAULT | FaultFlags::USER;
        match access {
            AccessType::Fetch => flags | FaultFlags::INSTRUCTION,
            AccessType::Store => flags | FaultFlags::WRITE,
            AccessType::Load => flags,
        }
    }
}

impl Mm {
    /// riscv `do_page_fault()` for a U-mode page fault at `va` (`stval`) in an address
    /// space the caller has exclusively (the `mmap_lock` write side, or an `Mm` no one
    /// else reaches): [`FaultFlags::for_user_access`], then [`Mm::handle_page_fault`].
    /// The kernel's user fault path runs under the read side instead:
    /// [`super::MmStruct::lock_mm_and_find_vma`], then [`Mm::handle_page_fault_vma`].
    ///
    /// On `Ok` the kernel resumes the hart at the faulting instruction, after draining
    /// [`Mm::take_tlb_batch`].
    ///
    /// # Errors
    /// The [`UserFaultError`]: a signal to force, or the OOM killer to run.
    pub fn do_page_fault(&mut self, va: u64, access: AccessType) -> Result<(), UserFaultError> {
        self.handle_page_fault(va, FaultFlags::for_user_access(access))
    }

    /// riscv `handle_page_fault()` after the flags are known, for a user fault or a
    /// kernel access to user memory (`flags` without `FAULT_FLAG_USER`), in an address
    /// space the caller has exclusively: `lock_mm_and_find_vma()` (growing a
    /// `VM_GROWSDOWN` stack down to `va` if needed; none →
    /// `bad_area_nosemaphore(SEGV_MAPERR)`), then [`Mm::handle_page_fault_vma`]. A
    /// kernel-mode caller turns any `Err` into `EFAULT` (`no_context()` → the exception
    /// fixup).
    ///
    /// # Errors
    /// [`UserFaultError::SEGV_MAPERR`], [`UserFaultError::SEGV_ACCERR`],
    /// [`UserFaultError::BUS_ADRERR`], [`UserFaultError::Oom`].
    pub fn handle_page_fault(&mut self, va: u64, flags: FaultFlags) -> Result<(), UserFaultError> {
        let vma = match self.vma_for_fault(va) {
            Ok(Some(vma)) => Ok(vma),
            Ok(None) => self.expand_stack(va),
            Err(e) => Err(e),
        };
        match vma {
            Ok(vma) => self.handle_page_fault_vma(&vma, va, flags),
            Err(e) => {
                super::count_event(&self.stats.local().bad_faults);
                Err(e)
            }
        }
    }

    /// riscv `handle_page_fault()` once `lock_mm_and_find_vma()` has found `vma` for
    /// `va`, under either side of the `mmap_lock`: `access_error()` (→
    /// `bad_area(SEGV_ACCERR)`), [`Mm::handle_mm_fault_vma`] (again with
    /// `FAULT_FLAG_TRIED` after `VM_FAULT_RETRY`; done at `VM_FAULT_COMPLETED`), and
    /// [`mm_fault_error`] for an error.
    ///
    /// # Errors
    /// [`UserFaultError::SEGV_ACCERR`], [`UserFaultError::BUS_ADRERR`],
    /// [`UserFaultError::SEGV_MAPERR`] (`VM_FAULT_SIGSEGV`), [`UserFaultError::Oom`].
    pub fn handle_page_fault_vma(
        &self,
        vma: &Vma,
        va: u64,
        mut flags: FaultFlags,
    ) -> Result<(), UserFaultError> {
        let r = (|| {
            if access_error(flags, vma.flags) {
                return Err(UserFaultError::SEGV_ACCERR);
            }
            for _ in 0..=MAX_FAULT_RETRIES {
                let fault = self.handle_mm_fault_vma(vma, va, flags);
                if fault.contains(VmFault::COMPLETED) {
                    return Ok(());
                }
                if fault.contains(VmFault::RETRY) && flags.contains(FaultFlags::USER) {
                    // handle_userfault(): the sleep is the kernel's, outside the
                    // mmap_lock (Linux sleeps in the handler after dropping it).
                    return Err(UserFaultError::Userfault);
                }
                if fault.contains(VmFault::RETRY) {
                    flags |= FaultFlags::TRIED;
                    continue;
                }
                if fault.is_error() {
                    return Err(mm_fault_error(fault));
                }
                return Ok(());
            }
            Err(UserFaultError::BUS_ADRERR)
        })();
        if r.is_err() && r != Err(UserFaultError::Userfault) {
            super::count_event(&self.stats.local().bad_faults);
        }
        r
    }

    /// The read-side half of `lock_mm_and_find_vma()`: the VMA containing `va`
    /// (`Some`), or `None` when `va` lies below a `VM_GROWSDOWN` VMA that must first
    /// grow down to it, which takes the write side ([`Mm::expand_stack`]).
    ///
    /// # Errors
    /// [`UserFaultError::SEGV_MAPERR`]: no VMA at or above `va` that could cover it.
    pub fn vma_for_fault(&self, va: u64) -> Result<Option<Vma>, UserFaultError> {
        let vma = self.vmas.find_vma(va).ok_or(UserFaultError::SEGV_MAPERR)?;
        if vma.start <= va {
            return Ok(Some(vma.clone()));
        }
        if !vma.flags.contains(VmFlags::GROWSDOWN) {
            return Err(UserFaultError::SEGV_MAPERR);
        }
        Ok(None)
    }

    /// `expand_stack_locked()` under the write side of the `mmap_lock`: grows the
    /// `VM_GROWSDOWN` VMA above `va` down to it and returns the grown VMA (or the VMA
    /// that covers `va` already: another fault may have grown it first).
    ///
    /// # Errors
    /// [`UserFaultError::SEGV_MAPERR`] if there is no such VMA or it may not grow
    /// (`expand_downwards()`'s limits).
    pub fn expand_stack(&mut self, va: u64) -> Result<Vma, UserFaultError> {
        const MAPERR: UserFaultError = UserFaultError::SEGV_MAPERR;
        let vma = match self.vma_for_fault(va)? {
            Some(vma) => return Ok(vma),
            None => self.vmas.find_vma(va).cloned().ok_or(MAPERR)?,
        };
        self.expand_downwards(&vma, va).map_err(|_| MAPERR)?;
        self.vmas.vma_lookup(va).cloned().ok_or(MAPERR)
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
        super::count_event(&self.stats.local().stack_expansions);
        Ok(())
    }

    /// Whether a user fault at `va` (`flags`) in `vma` would have to read its page from
    /// swap: the VMA allows the access (`access_error()` false), it is not hugetlb, and
    /// the PTE is a swap entry. The kernel's async page faults ask this before handling
    /// the fault (`kvm_can_do_async_pf()` + the "page not present" check); a fault it
    /// answers `true` for is queued instead of waited for.
    pub fn fault_needs_io(&self, vma: &Vma, va: u64, flags: FaultFlags) -> bool {
        !access_error(flags, vma.flags)
            && !vma.is_vm_hugetlb_page()
            && self
                .pgtable
                .pte_offset(va)
                .is_some_and(|s| super::swapfile::is_swap_pte(self.pgtable.ptep_get(s)))
    }

    /// Linux's `handle_mm_fault()` proper, for a `vma` the caller has already found and
    /// checked (the GUP path checks `check_vma_flags()` instead of `access_error()`, which is
    /// how `FOLL_FORCE` writes reach read-only private mappings). Implements
    /// `sanitize_fault_flags()`, the `hugetlb_fault()` branch (see [`super::hugetlb`]),
    /// `__handle_mm_fault()` (the PMD level, see [`super::huge_memory`]) and
    /// `handle_pte_fault()`.
    ///
    /// Runs under the read side of the `mmap_lock` (or the write side): faults of several
    /// harts in one address space run at once. Each handler reads the PTE without a lock
    /// (`vmf->orig_pte`), prepares what it needs (a page allocated, zeroed or copied; a
    /// page-cache lookup), then takes the PTE table's lock ([`PageTable::pte_lock`],
    /// `pte_offset_map_lock()`) and installs its entry only if the PTE is still the one
    /// it read (`pte_same()`, with a compare-and-swap because the hardware walker sets
    /// A/D without the lock); a fault that lost the race undoes its work and returns
    /// empty, and the access retries. Huge PMDs are changed under
    /// [`PageTable::pmd_lock`] instead.
    ///
    /// Returns the `vm_fault_t` bits: empty when handled; `VM_FAULT_SIGSEGV` for
    /// `FAULT_FLAG_UNSHARE` misuse, `VM_FAULT_SIGBUS` for a file page beyond the end of
    /// the file or an unexpected entry, `VM_FAULT_OOM` when no page or page table could
    /// be allocated; `VM_FAULT_WRITE` after a COW break or reuse under the generations
    /// that had it. Never `VM_FAULT_FALLBACK` (consumed at the PMD level).
    ///
    /// Without `FAULT_FLAG_USER` no hart retries the access (GUP, the kernel's own
    /// accesses), so the handler sets the PTE's A/D bits itself (see [`Mm::fault_young_dirty`]).
    pub fn handle_mm_fault_vma(&self, vma: &Vma, va: u64, flags: FaultFlags) -> VmFault {
        if flags.contains(FaultFlags::UNSHARE)
            && (flags.contains(FaultFlags::WRITE) || !vma.flags.is_cow_mapping())
        {
            return VmFault::SIGSEGV;
        }
        super::count_event(&self.stats.local().faults);
        let va = va & !(PAGE_SIZE - 1);
        if vma.is_vm_hugetlb_page() {
            return self.hugetlb_fault(vma, va, flags);
        }
        // The PMD level first: a huge PMD there, or one to create (huge_memory.rs).
        let ret = self.handle_pmd_fault(vma, va, flags);
        if !ret.contains(VmFault::FALLBACK) {
            return ret;
        }
        let slot = match self.pgtable.pte_alloc(va) {
            Ok(slot) => slot,
            Err(Errno::ENOMEM) => return VmFault::OOM,
            // Another fault made the PMD huge meanwhile (__pte_alloc() finds it
            // pmd_trans_huge, pte_offset_map() fails): retry the access.
            Err(_) if self.pgtable.huge_pmd_at(va).is_some() => return VmFault::empty(),
            Err(_) => return VmFault::SIGBUS,
        };
        let pte = self.pgtable.ptep_get(slot);
        let write = flags.contains(FaultFlags::WRITE);

        if let Some(fault) = self.userfault_check(vma, pte, flags) {
            return fault;
        }
        if pte_none(pte) {
            return match &vma.backing {
                VmaBacking::Anon => self.do_anonymous_page(vma, va, slot, flags),
                VmaBacking::File(file) => self.do_fault(vma, file.as_ref(), va, slot, flags),
            };
        }
        if super::swapfile::is_swap_pte(pte) {
            return self.do_swap_page(vma, va, slot, pte, flags);
        }
        if !pte_present(pte) {
            return VmFault::SIGBUS;
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
            return VmFault::empty();
        }
        if (write || flags.contains(FaultFlags::UNSHARE)) && !pte_write(pte) {
            return self.do_wp_page(vma, va, slot, pte, flags);
        }
        // The PTE already allows the access. Under Svade the walker faulted because A (or D
        // for a store) was clear: set them (pte_mkyoung / pte_mkdirty). Otherwise the hart
        // used a stale TLB entry: flush it (riscv's local_flush_tlb_page in
        // update_mmu_cache / flush_tlb_fix_spurious_fault).
        let _ptl = self.pgtable.pte_lock(slot);
        let entry = pte.with(self.fault_young_dirty(flags, write));
        if entry != pte && !self.pgtable.ptep_cmpxchg(slot, pte, entry) {
            // Not pte_same(): the PTE changed under us (another fault, or hardware A/D
            // on another hart): retry the access.
            return VmFault::empty();
        }
        super::count_event(&self.stats.local().spurious);
        self.flush_tlb_range(va, va + PAGE_SIZE, false);
        VmFault::empty()
    }

    /// The bits the fault handler sets on the entry for an access: `A` (and `D` for a
    /// write) under Svade, none under Svadu (the hardware sets them when the access
    /// retries); and, for a write under both, the soft-dirty bit
    /// ([`super::pgtable::PAGE_SOFT_DIRTY`]), which riscv's `pte_mkdirty()` sets with `D`
    /// and which no hardware sets (see [`super::pgtable`]'s "Soft-dirty").
    ///
    /// A fault without `FAULT_FLAG_USER` is different: it was not taken by a hart running
    /// user code that will retry the access — GUP's `faultin_page()` (see [`super::gup`]),
    /// populate, the ELF loader, or a kernel access to user memory — so the handler sets
    /// `A` (and `D` for a write) under either scheme, as Linux's unconditional
    /// `pte_mkyoung()`/`pte_mkdirty()` do. The `FOLL_COW` generation of GUP depends on it
    /// (`can_follow_write_pte()` tests `pte_dirty()`).
    pub(super) fn fault_young_dirty(&self, flags: FaultFlags, write: bool) -> PteFlags {
        let soft_dirty = if write {
            PAGE_SOFT_DIRTY
        } else {
            PteFlags::empty()
        };
        if !flags.contains(FaultFlags::USER) {
            return if write {
                PteFlags::A | PteFlags::D | soft_dirty
            } else {
                PteFlags::A
            };
        }
        match self.ad {
            AdScheme::Svadu => soft_dirty,
            AdScheme::Svade if write => PteFlags::A | PteFlags::D | soft_dirty,
            AdScheme::Svade => PteFlags::A,
        }
    }

    /// The TLB maintenance after the PTE of `va` went from none to `entry`: the local
    /// hart's `update_mmu_cache()` only, unless `entry` is executable — then every hart's
    /// decoded-instruction cache must drop what it decoded from the frame's earlier life
    /// (`flush_icache_pte()`), which takes a shootdown.
    fn update_mmu_cache_new(&self, va: u64, entry: mmu::Pte) {
        if pte_exec(entry) {
            self.flush_tlb_range(va, va + PAGE_SIZE, true);
        } else {
            self.update_mmu_cache(va);
        }
    }

    /// `finish_fault()` → `set_pte_range()` for a page a fault just obtained (a new anon
    /// page, a shmem page, a page-cache page or a COW copy): takes the mapcount the PTE
    /// will hold and installs `entry` at `slot` if it is still empty, queueing the TLB
    /// maintenance for `va`. If another fault filled the slot first (`!pte_none()` under the
    /// page-table lock in Linux), undoes the mapcount and drops the caller's reference on
    /// `pfn` instead. Returns whether `entry` was installed.
    pub(super) fn set_new_pte(
        &self,
        slot: devices::GuestPhysAddr,
        va: u64,
        pfn: super::Pfn,
        entry: mmu::Pte,
    ) -> bool {
        let page = self.phys.pages.page(pfn);
        if let Some(p) = page {
            p.inc_mapcount();
        }
        let ptl = self.pgtable.pte_lock(slot);
        if !self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
            drop(ptl);
            if let Some(p) = page {
                p.dec_mapcount();
            }
            self.phys.put_page(pfn);
            return false;
        }
        self.update_mmu_cache_new(va, entry);
        true
    }

    /// `do_anonymous_page()`: first touch of a private anonymous page. A read (or unshare)
    /// maps the shared zero page read-only; a write allocates a zeroed page, marks it
    /// `PageAnon | PageAnonExclusive` (`folio_add_new_anon_rmap`) and maps it, writable if
    /// the VMA is (`maybe_mkwrite`).
    fn do_anonymous_page(
        &self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> VmFault {
        let write = flags.contains(FaultFlags::WRITE);
        let prot = vm_get_page_prot(vma.flags);
        // "Use the zero-page for reads": any fault without FAULT_FLAG_WRITE, unshare
        // included (the zero page is not anonymous, so GUP need not unshare it).
        if !write {
            let zero = self.phys.pages.zero_pfn();
            let entry = mk_pte(zero, prot.difference(PteFlags::W))
                .with(self.fault_young_dirty(flags, false));
            let _ptl = self.pgtable.pte_lock(slot);
            if self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry) {
                super::count_event(&self.stats.local().zero_page_maps);
                self.update_mmu_cache_new(va, entry);
            }
            return VmFault::empty();
        }
        let Some(pfn) = self.phys.alloc_page(true) else {
            return VmFault::OOM;
        };
        if let Some(page) = self.phys.pages.page(pfn) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
        }
        let mut entry = mk_pte(pfn, prot).with(self.fault_young_dirty(flags, write));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        if self.set_new_pte(slot, va, pfn, entry) {
            super::count_event(&self.stats.local().anon_pages);
        }
        VmFault::empty()
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
        &self,
        vma: &Vma,
        file: &dyn MappedFile,
        va: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> VmFault {
        let index = vma.pgoff_of(va);
        // filemap_fault(): "index >= max_idx" → VM_FAULT_SIGBUS.
        if index >= file.size().div_ceil(PAGE_SIZE) {
            return VmFault::SIGBUS;
        }
        let write = flags.contains(FaultFlags::WRITE);
        let shared = vma.flags.contains(VmFlags::SHARED);
        if write && !shared {
            return self.do_cow_fault(vma, file, index, va, slot, flags);
        }
        let may_write = shared && vma.flags.contains(VmFlags::WRITE);
        let pfn = match file.fault(index, may_write) {
            Ok(pfn) => pfn,
            Err(fault) => return fault,
        };
        // finish_fault() → set_pte_range(): the VMA's protection (W only for a writable
        // shared VMA: vm_get_page_prot() gives private VMAs PAGE_COPY).
        let entry =
            mk_pte(pfn, vm_get_page_prot(vma.flags)).with(self.fault_young_dirty(flags, write));
        if self.set_new_pte(slot, va, pfn, entry) {
            super::count_event(&self.stats.local().file_maps);
        }
        VmFault::empty()
    }

    /// `do_cow_fault()`: a write fault on an unmapped page of a private file VMA. The
    /// page-cache page is copied into a new exclusive anonymous page (never mapped itself:
    /// the write must not reach the file), writable if `VM_WRITE` (a `FOLL_FORCE` write
    /// into a read-only private VMA gets a read-only exclusive copy, as
    /// `maybe_mkwrite()` decides).
    fn do_cow_fault(
        &self,
        vma: &Vma,
        file: &dyn MappedFile,
        index: u64,
        va: u64,
        slot: devices::GuestPhysAddr,
        flags: FaultFlags,
    ) -> VmFault {
        let src = match file.fault(index, false) {
            Ok(pfn) => pfn,
            Err(fault) => return fault,
        };
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
                return VmFault::SIGBUS;
            }
            (None, _) => return VmFault::OOM,
        };
        if let Some(page) = self.phys.pages.page(new) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
        }
        let mut entry =
            mk_pte(new, vm_get_page_prot(vma.flags)).with(self.fault_young_dirty(flags, true));
        if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        if self.set_new_pte(slot, va, new, entry) {
            super::count_event(&self.stats.local().file_cow);
            super::count_event(&self.stats.local().anon_pages);
        }
        VmFault::empty()
    }

    /// `do_swap_page()`: a fault on a swap PTE (`swp`). The slot is read into a new page
    /// (a major fault: `VM_FAULT_MAJOR`, `pgmajfault`, priced `k_swap_read`), then under
    /// the PTE table's lock, if the PTE is still `swp` (`pte_same()`: another thread may
    /// have swapped it in meanwhile, and this page is dropped), the page is mapped and
    /// the slot loses the PTE's reference (`swap_free()`).
    ///
    /// The page is exclusive (`PageAnonExclusive`, `RMAP_EXCLUSIVE`) if the swap PTE
    /// carried the exclusive bit, or if no other PTE refers to the slot — Linux's
    /// "fresh page that is not exposed to the swapcache → certainly exclusive" for
    /// synchronous devices; it is the only copy then. An exclusive page is mapped
    /// writable by a write fault (`maybe_mkwrite(pte_mkdirty())`); a shared one (fork
    /// cleared the bit and the child still refers to the slot) is mapped read-only and a
    /// write goes on to [`Mm::do_wp_page`], as Linux's `do_swap_page()` does. The swap
    /// PTE's soft-dirty and uffd-wp bits come back (`pte_mksoft_dirty()`,
    /// `pte_mkuffd_wp()`: such a PTE stays read-only).
    ///
    /// Returns `VM_FAULT_MAJOR` with what the rest returned; `VM_FAULT_OOM` without a
    /// free frame; `VM_FAULT_SIGBUS` if there is no swap area or the read fails (Linux:
    /// `VM_FAULT_SIGBUS` for an I/O error).
    fn do_swap_page(
        &self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        swp: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        use super::swapfile::{
            pte_swp_exclusive, pte_swp_uffd_wp, pte_to_swp_entry, swap_pte_flags,
        };
        let Some(si) = self.phys.swap() else {
            return VmFault::SIGBUS;
        };
        let entry = pte_to_swp_entry(swp);
        let Some(pfn) = self.phys.alloc_page(false) else {
            return VmFault::OOM;
        };
        if si.read_page(&self.phys.ram, pfn.pa(), entry).is_err() {
            self.phys.put_page(pfn);
            return VmFault::SIGBUS;
        }
        self.phys.pages.events.swap_ins.inc();
        si.events
            .pgmajfault
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        super::count_event(&self.stats.local().swap_ins);
        let write = flags.contains(FaultFlags::WRITE);
        let ptl = self.pgtable.pte_lock(slot);
        if self.pgtable.ptep_get(slot) != swp {
            drop(ptl);
            self.phys.put_page(pfn);
            return VmFault::MAJOR;
        }
        let exclusive = pte_swp_exclusive(swp) || si.swap_count(entry) == 1;
        let Some(page) = self.phys.pages.page(pfn) else {
            drop(ptl);
            self.phys.put_page(pfn);
            return VmFault::SIGBUS;
        };
        page.set(PageFlags::ANON);
        if exclusive {
            page.set(PageFlags::ANON_EXCLUSIVE);
        }
        let uffd_wp = pte_swp_uffd_wp(swp);
        let mut entry_pte = mk_pte(pfn, vm_get_page_prot(vma.flags).difference(PteFlags::W))
            .with(swap_pte_flags(swp));
        let make_writable = write && exclusive && !uffd_wp;
        if make_writable {
            entry_pte = entry_pte.with(super::pgtable::PAGE_SOFT_DIRTY);
            if vma.flags.contains(VmFlags::WRITE) {
                entry_pte = entry_pte.with(PteFlags::W);
            }
        }
        entry_pte = entry_pte.with(self.fault_young_dirty(flags, make_writable));
        page.inc_mapcount();
        if !self.pgtable.ptep_cmpxchg(slot, swp, entry_pte) {
            page.dec_mapcount();
            drop(ptl);
            self.phys.put_page(pfn);
            return VmFault::MAJOR;
        }
        if si.swap_free(entry).is_none() {
            self.phys.pages.note_bad_put();
        }
        self.update_mmu_cache_new(va, entry_pte);
        drop(ptl);
        if uffd_wp && write {
            // The write meets the uffd-wp PTE when the access retries (the user fault
            // path's check: handle_userfault() for the write-protect fault).
            return VmFault::MAJOR;
        }
        if (write && !make_writable) || (flags.is_unshare() && !exclusive) {
            return VmFault::MAJOR | self.do_wp_page(vma, va, slot, entry_pte, flags);
        }
        VmFault::MAJOR
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
    ///
    /// A reuse or copy that installed its PTE returns `VM_FAULT_WRITE` under the
    /// generations that had it ([`super::GupGeneration::vm_fault_write`]), as Linux ≤ 6.0's
    /// `wp_page_reuse()` / `wp_page_copy()` did.
    fn do_wp_page(
        &self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        pte: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let unshare = flags.is_unshare();
        let page = self.pgtable.vm_normal_page(pte);
        // pte_offset_map_lock(): the reuse decisions and the upgrade under the PTE
        // table's lock; every change is a compare-and-swap against `pte` (pte_same()).
        let ptl = self.pgtable.pte_lock(slot);
        if vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            if page.is_none() {
                return VmFault::SIGBUS;
            }
            let mut entry = pte.with(self.fault_young_dirty(flags, true));
            if vma.flags.contains(VmFlags::WRITE) {
                entry = entry.with(PteFlags::W);
            }
            if entry != pte && self.pgtable.ptep_cmpxchg(slot, pte, entry) {
                super::count_event(&self.stats.local().wp_reuse);
                self.flush_tlb_range(va, va + PAGE_SIZE, false);
                return self.gup_gen.vm_fault_write();
            }
            return VmFault::empty();
        }
        if let Some(pfn) = page {
            if let Some(meta) = self.phys.pages.page(pfn) {
                // wp_can_reuse_anon_folio(): an exclusive anonymous page is ours; a shared
                // one only if the kernel generation's reuse rule says so (the folio's
                // refcount on modern, the page's mapcount before 5.9; see
                // GupGeneration::wp_can_reuse_anon_page). No swap cache or KSM here. For a
                // page of a large folio the refcount is the folio's.
                // The folio is looked up again after the count is read: a split of it on
                // another hart (`PageAlloc::split_folio`, of a folio this mapping only
                // maps by PTE) may have made the page an order-0 page meanwhile, and the
                // count read was then its former head's — one that another process may
                // share the page with (the split stores the tails' counts before the
                // head's, so a head count read after the split finds the page no tail).
                let reusable = meta.test(PageFlags::ANON)
                    && (meta.test(PageFlags::ANON_EXCLUSIVE)
                        || self.phys.pages.folio(pfn).is_some_and(|(head, folio)| {
                            self.gup_gen.wp_can_reuse_anon_page(folio, meta)
                                && self.phys.pages.folio(pfn).is_some_and(|(h, _)| h == head)
                        }));
                if reusable {
                    if !meta.test(PageFlags::ANON_EXCLUSIVE) {
                        meta.set(PageFlags::ANON_EXCLUSIVE);
                    }
                    if unshare {
                        return VmFault::empty();
                    }
                    // wp_page_reuse(): maybe_mkwrite(pte_mkyoung/mkdirty(entry)).
                    let mut entry = pte.with(self.fault_young_dirty(flags, true));
                    if vma.flags.contains(VmFlags::WRITE) {
                        entry = entry.with(PteFlags::W);
                    }
                    if self.pgtable.ptep_cmpxchg(slot, pte, entry) {
                        super::count_event(&self.stats.local().wp_reuse);
                        self.flush_tlb_range(va, va + PAGE_SIZE, false);
                        return self.gup_gen.vm_fault_write();
                    }
                    return VmFault::empty();
                }
            }
        }
        drop(ptl);
        self.wp_page_copy(vma, va, slot, pte, flags)
    }

    /// `wp_page_copy()`: gives this mapping its own copy of the page behind `pte` (a
    /// zeroed page when it is the zero page), exclusive and anonymous, replacing the PTE in
    /// one compare-and-swap, then drops the old page's mapcount and reference. Writable if
    /// `VM_WRITE` and this is not an unshare.
    fn wp_page_copy(
        &self,
        vma: &Vma,
        va: u64,
        slot: devices::GuestPhysAddr,
        pte: mmu::Pte,
        flags: FaultFlags,
    ) -> VmFault {
        let unshare = flags.is_unshare();
        let old = self.pgtable.vm_normal_page(pte);
        let Some(new) = self.phys.alloc_page(old.is_none()) else {
            return VmFault::OOM;
        };
        if let Some(old) = old {
            self.phys.pages.events.page_copies.inc();
            if self
                .phys
                .ram
                .copy_within(old.pa(), new.pa(), PAGE_SIZE)
                .is_err()
            {
                self.phys.put_page(new);
                return VmFault::SIGBUS;
            }
            // copy_user_highpage() → arm64 copy_highpage(): the tags go with the data.
            super::mte::copy_highpage_tags(&self.phys, old, new);
        }
        if let Some(page) = self.phys.pages.page(new) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
            page.inc_mapcount();
        }
        let mut entry =
            mk_pte(new, vm_get_page_prot(vma.flags)).with(self.fault_young_dirty(flags, !unshare));
        if !unshare && vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        let ptl = self.pgtable.pte_lock(slot);
        // Break before make: the old translation is gone from every hart before the new
        // one can be walked, or a hart still reading the old page through its TLB would
        // miss what others write to the new one (a thread of a forked process reading a
        // buffer that process_vm_readv() filled on another hart's walk).
        let Some(flushed) = self.ptep_clear_flush(slot, va, PAGE_SIZE, pte) else {
            drop(ptl);
            if let Some(page) = self.phys.pages.page(new) {
                page.dec_mapcount();
            }
            self.phys.put_page(new);
            return VmFault::empty();
        };
        let installed = self.pgtable.ptep_cmpxchg(slot, mmu::Pte(0), entry);
        // Under the page-table lock nothing else fills a cleared PTE.
        debug_assert!(installed, "a cleared PTE changed under its lock");
        super::count_event(&self.stats.local().wp_copy);
        if old.is_some_and(|p| {
            self.phys
                .pages
                .page(p)
                .is_some_and(|m| m.test(PageFlags::PAGECACHE))
        }) {
            super::count_event(&self.stats.local().file_cow);
        }
        if pte_exec(entry) {
            // The new page's code must not be decoded from the frame's earlier life.
            self.flush_tlb_range(va, va + PAGE_SIZE, true);
        }
        if let Some(old) = old {
            if let Some(page) = self.phys.pages.page(old) {
                // A page of a large folio COWed away may leave it partially mapped.
                page_remove_rmap(&self.phys, old, page);
            }
        }
        drop(ptl);
        debug_assert_eq!(pte_pfn(entry), new);
        match old {
            // Flushed everywhere: no hart reaches the old page through this PTE any more
            // (a large folio it leaves partially mapped goes to the deferred split, as a
            // gather's free would).
            Some(old) if flushed => super::free_batch(&self.phys, vec![old], Vec::new()),
            Some(old) => {
                let mut tlb = MmuGather::default();
                tlb.pages.push(old);
                self.tlb_finish_mmu(tlb);
            }
            None => {}
        }
        self.gup_gen.vm_fault_write()
    }
}
