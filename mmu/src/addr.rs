//! Typed guest-virtual addresses.

use std::fmt;

/// A guest-virtual address. No arithmetic operators; see [`GuestVirtAddr::checked_add`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GuestVirtAddr(pub u64);

impl GuestVirtAddr {
    /// The raw address.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// `self + bytes`, or `None` on overflow.
    #[inline]
    pub fn checked_add(self, bytes: u64) -> Option<Self> {
        self.0.checked_add(bytes).map(Self)
    }

    /// `self - base`, or `None` if `base` is above `self`.
    #[inline]
    pub fn checked_offset_from(self, base: Self) -> Option<u64> {
        self.0.checked_sub(base.0)
    }

    /// The 4 KiB virtual page number (`self >> 12`, all 52 bits).
    #[inline]
    pub const fn vpn(self) -> u64 {
        self.0 >> 12
    }

    /// The offset within the 4 KiB page.
    #[inline]
    pub const fn page_offset(self) -> u64 {
        self.0 & 0xfff
    }

    /// Whether the address is canonical for a paging mode with `va_bits` bits (bits
    /// 63..va_bits all equal bit va_bits-1), *Priv §Sv39*: "bits 63–39 must all equal bit 38".
    #[inline]
    pub const fn is_canonical(self, va_bits: u32) -> bool {
        let shifted = (self.0 as i64) >> (va_bits - 1);
        shifted == 0 || shifted == -1
    }
}

impl fmt::Debug for GuestVirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VA:{:#x}", self.0)
    }
}

impl fmt::Display for GuestVirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
