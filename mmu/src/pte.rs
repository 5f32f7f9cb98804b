//! Page-table entries for Sv39/Sv48 (*Priv §Sv39 "Sv39 page table entry"*, Svpbmt, Svnapot).
//!
//! Layout (64 bits): `N`(63) `PBMT`(62:61) Svrsw60t59b's software bits (60:59)
//! reserved(58:54, of which dirtybit gives bit 58 to Zimt's `MTAG`) `PPN`(53:10)
//! `RSW`(9:8) `D A G U X W R V`(7:0). The harts implement Svrsw60t59b: bits 60:59 are
//! the supervisor's, ignored by the walker ([`Pte::SVRSW60T59B_MASK`]).
//!
//! **`PTE.MTAG` is bit 58.** The Zimt v0.1 draft (`riscv/riscv-memory-tagging`,
//! §"Tag checks on page basis") defines the bit but leaves its position open. Of the
//! reserved bits 60:54, 60:59 are now Svrsw60t59b's software bits, and 54 is the one a
//! wider PPN would take first; 58 is the highest bit still reserved for standard use.
//! When memory tagging is not enabled for the access ([`crate::PrivCtx::mtag`]), bit 58
//! stays reserved and a leaf with it set faults exactly as before; it is reserved on
//! non-leaf PTEs always.

use bitflags::bitflags;

bitflags! {
    /// The low eight permission/status bits of a PTE.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PteFlags: u64 {
        /// Valid.
        const V = 1 << 0;
        /// Readable.
        const R = 1 << 1;
        /// Writable.
        const W = 1 << 2;
        /// Executable.
        const X = 1 << 3;
        /// Accessible to U-mode.
        const U = 1 << 4;
        /// Global mapping (present in all address spaces).
        const G = 1 << 5;
        /// Accessed: the page was read, written or fetched since A was last cleared.
        const A = 1 << 6;
        /// Dirty: the page was written since D was last cleared.
        const D = 1 << 7;
    }
}

/// Page-based memory type (Svpbmt, PTE bits 62:61; §"Svpbmt" Extension). The walker accepts
/// NC and IO on leaves and raises a page fault for the reserved value 3 on a leaf and for any
/// non-zero value on a non-leaf PTE; it does not change how the access itself is performed
/// (guest RAM here has no caches to bypass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pbmt {
    /// 0: no override of the PMA.
    Pma,
    /// 1: non-cacheable, idempotent, weakly-ordered main memory.
    Nc,
    /// 2: non-cacheable, non-idempotent, strongly-ordered I/O.
    Io,
    /// 3: reserved for future standard use (a PTE using it faults).
    Reserved,
}

/// A raw 64-bit page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pte(pub u64);

impl Pte {
    /// Bits 60:54, reserved for future standard use: must be zero.
    pub const RESERVED_MASK: u64 = 0x7f << 54;
    /// Bit 58, Zimt's `MTAG` (see the module docs): on a leaf with X=0, a "tagged-data
    /// page" whose loads and stores are tag-checked; with X=1, a "tagcheck-exempt code
    /// page" whose instructions' accesses are not. Reserved (a page fault) unless memory
    /// tagging is enabled for the access.
    pub const MTAG_BIT: u64 = 1 << 58;
    /// Bits 60:59, Svrsw60t59b's software bits: "reserved for use by supervisor
    /// software and ignored by the implementation" on every PTE (the walker does not
    /// check them). Linux uses bit 59 for `_PAGE_SOFT_DIRTY` and bit 60 for
    /// `_PAGE_UFFD_WP` when the hart has the extension (`arch/riscv/include/asm/
    /// pgtable-bits.h`, v6.18).
    pub const SVRSW60T59B_MASK: u64 = 3 << 59;
    /// Bit 63, Svnapot's N.
    pub const N_BIT: u64 = 1 << 63;
    const PPN_SHIFT: u32 = 10;
    const PPN_MASK: u64 = (1 << 44) - 1;

    /// A leaf or pointer PTE for physical page `ppn` with `flags`.
    #[inline]
    pub const fn new(ppn: u64, flags: PteFlags) -> Self {
        Self(((ppn & Self::PPN_MASK) << Self::PPN_SHIFT) | flags.bits())
    }

    /// The 44-bit physical page number.
    #[inline]
    pub const fn ppn(self) -> u64 {
        (self.0 >> Self::PPN_SHIFT) & Self::PPN_MASK
    }

    /// The flag bits 7:0.
    #[inline]
    pub const fn flags(self) -> PteFlags {
        PteFlags::from_bits_truncate(self.0)
    }

    /// The two software bits (RSW, 9:8).
    #[inline]
    pub const fn rsw(self) -> u8 {
        ((self.0 >> 8) & 3) as u8
    }

    /// The memory type (Svpbmt).
    #[inline]
    pub const fn pbmt(self) -> Pbmt {
        match (self.0 >> 61) & 3 {
            0 => Pbmt::Pma,
            1 => Pbmt::Nc,
            2 => Pbmt::Io,
            _ => Pbmt::Reserved,
        }
    }

    /// Zimt's `MTAG` bit.
    #[inline]
    pub const fn mtag(self) -> bool {
        self.0 & Self::MTAG_BIT != 0
    }

    /// Svnapot's N bit.
    #[inline]
    pub const fn n(self) -> bool {
        self.0 & Self::N_BIT != 0
    }

    /// `V` set.
    #[inline]
    pub const fn is_valid(self) -> bool {
        self.0 & PteFlags::V.bits() != 0
    }

    /// A leaf: R or X set (*step 4* of §"Virtual Address Translation Process").
    #[inline]
    pub const fn is_leaf(self) -> bool {
        self.0 & (PteFlags::R.bits() | PteFlags::X.bits()) != 0
    }

    /// `self` with `flags` added.
    #[inline]
    pub const fn with(self, flags: PteFlags) -> Self {
        Self(self.0 | flags.bits())
    }

    /// `self` with `flags` removed.
    #[inline]
    pub const fn without(self, flags: PteFlags) -> Self {
        Self(self.0 & !flags.bits())
    }
}

impl std::fmt::Debug for Pte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pte({:#x}: ppn={:#x} {:?})",
            self.0,
            self.ppn(),
            self.flags()
        )
    }
}
