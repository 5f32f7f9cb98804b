//! Typed guest-physical addresses (no arithmetic operators; checked helpers only).

use std::fmt;

/// log2 of the base page size.
pub const PAGE_SHIFT: u32 = 12;
/// The base page size in bytes (4 KiB, RISC-V Privileged §12.3 "Sv32": PAGESIZE = 2^12).
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// A guest-physical address.
///
/// There are no arithmetic operators: use [`GuestPhysAddr::checked_add`] and friends so an
/// overflowing guest-supplied value is a `None`, never a wrap.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GuestPhysAddr(pub u64);

impl GuestPhysAddr {
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

    /// `self - base` in bytes, or `None` if `base` is above `self`.
    #[inline]
    pub fn checked_offset_from(self, base: Self) -> Option<u64> {
        self.0.checked_sub(base.0)
    }

    /// The physical page number (`self >> 12`).
    #[inline]
    pub const fn ppn(self) -> u64 {
        self.0 >> PAGE_SHIFT
    }

    /// The address of page number `ppn`.
    #[inline]
    pub const fn from_ppn(ppn: u64) -> Self {
        Self(ppn << PAGE_SHIFT)
    }

    /// The offset within the 4 KiB page.
    #[inline]
    pub const fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }

    /// The address rounded down to its 4 KiB page.
    #[inline]
    pub const fn page_base(self) -> Self {
        Self(self.0 & !(PAGE_SIZE - 1))
    }
}

impl fmt::Debug for GuestPhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PA:{:#x}", self.0)
    }
}

impl fmt::Display for GuestPhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_helpers() {
        let a = GuestPhysAddr(0x8000_1234);
        assert_eq!(a.checked_add(0x10), Some(GuestPhysAddr(0x8000_1244)));
        assert_eq!(GuestPhysAddr(u64::MAX).checked_add(1), None);
        assert_eq!(
            a.checked_offset_from(GuestPhysAddr(0x8000_0000)),
            Some(0x1234)
        );
        assert_eq!(a.checked_offset_from(GuestPhysAddr(0x9000_0000)), None);
        assert_eq!(a.ppn(), 0x80001);
        assert_eq!(a.page_offset(), 0x234);
        assert_eq!(a.page_base(), GuestPhysAddr(0x8000_1000));
        assert_eq!(format!("{a:?}"), "PA:0x80001234");
    }
}
