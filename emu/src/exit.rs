//! Why [`crate::Hart::run`] returned: the hart's equivalent of a `KVM_RUN` exit reason.

use mmu::{AccessType, GuestVirtAddr};

/// The reason the hart stopped and the OS is needed.
///
/// For every trap (all variants but [`Exit::BudgetExhausted`], [`Exit::Timer`] and
/// [`Exit::Ipi`]) `pc` still points at the instruction that trapped and no architectural
/// state was changed by it, exactly as `sepc` would be on a real trap; after an `ecall` the
/// OS advances `pc` by 4 itself, as Linux does with `regs->epc += 4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `ecall` from U-mode (cause 8). Arguments are in a0–a5, the number in a7.
    Ecall,
    /// `ebreak` / `c.ebreak` (cause 3).
    Breakpoint,
    /// An instruction, load or store/AMO page fault (causes 12, 13, 15); `va` is `stval`.
    PageFault {
        /// The faulting virtual address.
        va: GuestVirtAddr,
        /// Which access faulted.
        access: AccessType,
    },
    /// An access fault (causes 1, 5, 7): the physical address is outside guest RAM or a
    /// PTE could not be read.
    AccessFault {
        /// The faulting virtual address.
        va: GuestVirtAddr,
        /// Which access faulted.
        access: AccessType,
    },
    /// A misaligned LR/SC/AMO (causes 4, 6); ordinary loads and stores of any alignment are
    /// carried out by the hart, as Linux's misaligned-access emulation would.
    Misaligned {
        /// The misaligned virtual address.
        va: GuestVirtAddr,
        /// Load (LR) or store (SC/AMO).
        access: AccessType,
    },
    /// An illegal instruction (cause 2); `bits` is the encoding (`stval`).
    IllegalInstruction {
        /// The instruction bits (16-bit encodings zero-extended).
        bits: u32,
    },
    /// A memory-tag mismatch (Zimt v0.1 §"tag checks"): the software-check exception,
    /// cause [`Exit::SOFTWARE_CHECK_CAUSE`] (18) with `stval` = [`Exit::TAG_MISMATCH_TVAL`]
    /// (4), raised synchronously by a tag-checked load, store, LR/SC or AMO, or by
    /// `checktag`; the access was not performed. Zimt reports no address (`stval` is the
    /// code 4); dirtybit adds the one arm64 puts in `FAR_EL1`, which Linux reports in
    /// `si_addr` with `SEGV_MTESERR`.
    TagCheckFault {
        /// The tagged address (pointer tag in bits 63:60, as the program wrote it) of the
        /// first byte of the access that lies in a mismatching granule.
        va: GuestVirtAddr,
        /// Load (load, LR, `checktag`) or store (store, SC, AMO).
        access: AccessType,
    },
    /// `wfi` in U-mode is allowed to be treated as a hint; the hart reports it so the OS
    /// can idle.
    Wfi,
    /// The instruction budget given to `run` is used up.
    BudgetExhausted,
    /// The machine timer fired (CLINT `mtime >= mtimecmp`).
    Timer,
    /// A software interrupt (CLINT `msip`) is pending: another hart (the OS on another
    /// host thread) wants this one out of user mode, e.g. for a TLB shootdown. Taken
    /// between instructions: `pc` is the next instruction to run. `msip` stays set until
    /// the OS clears it ([`devices::Clint::set_msip`]).
    Ipi,
}

impl Exit {
    /// `scause` of the software-check exception (*Privileged ISA, "Supervisor Cause
    /// Register"*, added with Zicfilp/Zicfiss), which Zimt raises on a tag mismatch.
    pub const SOFTWARE_CHECK_CAUSE: u64 = 18;
    /// `stval` of a software-check exception caused by a tag mismatch (Zimt v0.1).
    pub const TAG_MISMATCH_TVAL: u64 = 4;
}
