//! Memory tags: one 4-bit allocation tag per 16-byte granule of guest RAM, stored
//! physically beside it.
//!
//! The RISC-V memory-tagging draft (Zimt v0.1, with Svatag) keeps tags in a virtually
//! indexed tag table; dirtybit deliberately departs from it and stores them by physical
//! address, as arm64 MTE's tag RAM and QEMU's arm64 tag memory do, because the Linux ABI
//! this machine serves copies tags per physical page (`copy_highpage()`'s
//! `mte_copy_page_tags()` on a COW break, `mte_clear_page_tags()` on a fresh page,
//! `__access_remote_tags()` for ptrace). The layout is QEMU's and arm64's: byte `i` of a
//! slot's tag storage holds granule `2i` in its low nibble and granule `2i + 1` in its high
//! nibble, so tag storage is 1/32 of RAM.
//!
//! Tag storage is one lazily committed anonymous mapping per RAM slot (see
//! `ram::AtomicBytes`): untouched tags read as 0 and cost no host memory. Every access is
//! atomic, as for RAM itself: a one-granule store is a compare-and-swap loop on its byte,
//! so two harts tagging neighbouring granules never lose each other's nibble.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::addr::{GuestPhysAddr, PAGE_SIZE};
use crate::ram::{AtomicBytes, MemoryError, Result};

/// Bytes of RAM one tag covers (a Zimt memory chunk `mc`, an arm64 MTE granule).
pub const TAG_GRANULE_BYTES: u64 = 16;
/// The bits of a tag (Zimt `mc_tag_width` = 4 with `pointer_tag_width` = 4).
pub const TAG_MASK: u8 = 0xf;
/// Bytes of RAM per byte of tag storage (two granules per byte).
const RAM_BYTES_PER_TAG_BYTE: u64 = 2 * TAG_GRANULE_BYTES;
/// Bytes of tag storage per 4 KiB page (128: 256 granules, two per byte).
pub const TAG_BYTES_PER_PAGE: usize = (PAGE_SIZE / RAM_BYTES_PER_TAG_BYTE) as usize;

/// The tag storage of one 4 KiB page ([`TagMemory::page_tags`]): byte `i` holds granule
/// `2i` in its low nibble and `2i + 1` in its high nibble.
pub type PageTags = [AtomicU8; TAG_BYTES_PER_PAGE];

/// The tag of the granule at byte `offset` of a page whose tag storage is `tags` (only
/// the low 12 bits of `offset` count): one relaxed load, no look-up and no bounds check
/// — what a hart's tag check costs once it holds the page's [`PageTags`] (QEMU's arm64
/// MTE keeps the tag-memory address in its TLB entry the same way).
#[inline(always)]
pub fn page_granule_tag(tags: &PageTags, offset: usize) -> u8 {
    let g = (offset & (PAGE_SIZE as usize - 1)) / TAG_GRANULE_BYTES as usize;
    (tags[(g / 2) & (TAG_BYTES_PER_PAGE - 1)].load(Ordering::Relaxed) >> (4 * (g % 2))) & TAG_MASK
}

/// The tag storage of one RAM slot.
struct TagSlot {
    /// Guest-physical base of the RAM slot.
    base: u64,
    /// Length of the RAM slot in bytes.
    len: u64,
    /// `len / 32` bytes of tags.
    bytes: AtomicBytes,
}

/// The allocation tags of guest RAM, addressed by guest-physical address: 4 bits per
/// 16-byte granule. Obtained from [`crate::GuestMemory::tags`]; all methods take `&self`
/// and may be called from any thread.
///
/// Every address argument may point anywhere inside its granule (or page, for the page
/// operations): it is rounded down.
pub struct TagMemory {
    slots: Vec<TagSlot>,
}

impl std::fmt::Debug for TagMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TagMemory({} slots)", self.slots.len())
    }
}

impl TagMemory {
    /// Tag storage for RAM slots `(base, len_bytes)` (page-aligned, as
    /// [`crate::GuestMemory::new`] checked).
    ///
    /// # Errors
    /// [`MemoryError::Map`] if the host refuses a mapping.
    pub(crate) fn new(regions: impl Iterator<Item = (GuestPhysAddr, u64)>) -> Result<Self> {
        let slots = regions
            .map(|(base, len)| {
                let tag_len = usize::try_from(len / RAM_BYTES_PER_TAG_BYTE).map_err(|_| {
                    MemoryError::BadSlot {
                        base,
                        len,
                        why: "tag storage larger than the host address space",
                    }
                })?;
                Ok(TagSlot {
                    base: base.raw(),
                    len,
                    bytes: AtomicBytes::new(tag_len)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { slots })
    }

    /// The tag bytes of the slot holding `[pa, pa+len)` (`len` ≥ 1) and the index of
    /// `pa`'s granule in that slot.
    fn locate(&self, pa: GuestPhysAddr, len: u64) -> Result<(&[AtomicU8], u64)> {
        for s in &self.slots {
            if let Some(off) = pa.raw().checked_sub(s.base) {
                if off < s.len && len <= s.len - off {
                    return Ok((s.bytes.as_slice(), off / TAG_GRANULE_BYTES));
                }
            }
        }
        Err(MemoryError::OutOfRange { addr: pa, len })
    }

    /// The tag storage of the 4 KiB page containing `pa`, for [`page_granule_tag`]; `None`
    /// if the page is not guest RAM. The reference lives as long as the memory.
    pub fn page_tags(&self, pa: GuestPhysAddr) -> Option<&PageTags> {
        let (bytes, g) = self.locate(pa.page_base(), PAGE_SIZE).ok()?;
        let b0 = (g / 2) as usize;
        bytes.get(b0..b0 + TAG_BYTES_PER_PAGE)?.try_into().ok()
    }

    /// The tag of the granule containing `pa` (arm64 `LDG`; Zimt's `load tag` operation).
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if `pa` is not guest RAM.
    pub fn load_tag(&self, pa: GuestPhysAddr) -> Result<u8> {
        let (bytes, g) = self.locate(pa, 1)?;
        Ok(nibble(bytes, g))
    }

    /// Sets the tag of the granule containing `pa` to `tag & 0xf` (arm64 `STG`).
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if `pa` is not guest RAM; nothing is written then.
    pub fn store_tag(&self, pa: GuestPhysAddr, tag: u8) -> Result<()> {
        let (bytes, g) = self.locate(pa, 1)?;
        set_nibble(bytes, g, tag);
        Ok(())
    }

    /// Sets the tag of every granule that `[pa, pa+len_bytes)` touches to `tag & 0xf`
    /// (Zimt's `settag`, arm64's `STG`/`ST2G`/`DC GVA` loops). `len_bytes` = 0 sets nothing.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the range leaves one RAM slot; nothing is written then.
    pub fn set_tags(&self, pa: GuestPhysAddr, len_bytes: u64, tag: u8) -> Result<()> {
        if len_bytes == 0 {
            return Ok(());
        }
        let (bytes, first) = self.locate(pa, len_bytes)?;
        let last = first + granules_touched(pa, len_bytes) - 1;
        let both = (tag & TAG_MASK) * 0x11;
        let mut g = first;
        while g <= last {
            if g % 2 == 0 && g < last {
                bytes[(g / 2) as usize].store(both, Ordering::Relaxed);
                g += 2;
            } else {
                set_nibble(bytes, g, tag);
                g += 1;
            }
        }
        Ok(())
    }

    /// The first granule of `[pa, pa+len_bytes)` (`len_bytes` ≥ 1) whose tag is not
    /// `tag & 0xf`, as the guest-physical address of its first byte; `None` if every
    /// granule the range touches holds `tag`. This is the tag check of one access (Zimt
    /// §"tag checks": "determined separately for each memory chunk").
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the range leaves one RAM slot.
    pub fn first_mismatch(
        &self,
        pa: GuestPhysAddr,
        len_bytes: u64,
        tag: u8,
    ) -> Result<Option<GuestPhysAddr>> {
        let len = len_bytes.max(1);
        let (bytes, first) = self.locate(pa, len)?;
        let granule_base = pa.raw() - pa.raw() % TAG_GRANULE_BYTES;
        let n = granules_touched(pa, len);
        Ok((0..n)
            .find(|i| nibble(bytes, first + i) != tag & TAG_MASK)
            .map(|i| GuestPhysAddr(granule_base + i * TAG_GRANULE_BYTES)))
    }

    /// Copies the 256 tags of the 4 KiB page at `src` to the page at `dst` (arm64's
    /// `mte_copy_page_tags()`, called by `copy_highpage()` on a COW break and by
    /// migration).
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if either page is not guest RAM; nothing is copied then.
    pub fn copy_page_tags(&self, src: GuestPhysAddr, dst: GuestPhysAddr) -> Result<()> {
        let (s, sg) = self.locate(src.page_base(), PAGE_SIZE)?;
        let (d, dg) = self.locate(dst.page_base(), PAGE_SIZE)?;
        let (s0, d0) = ((sg / 2) as usize, (dg / 2) as usize);
        for i in 0..TAG_BYTES_PER_PAGE {
            let v = s[s0 + i].load(Ordering::Relaxed);
            store_if_changed(&d[d0 + i], v);
        }
        Ok(())
    }

    /// Sets the 256 tags of the 4 KiB page at `pa` to 0 (arm64's `mte_clear_page_tags()`,
    /// for a page first mapped into a `VM_MTE` VMA). Bytes that are already 0 are not
    /// written, so clearing never-tagged pages commits no host memory.
    ///
    /// # Errors
    /// [`MemoryError::OutOfRange`] if the page is not guest RAM.
    pub fn clear_page_tags(&self, pa: GuestPhysAddr) -> Result<()> {
        let (bytes, g) = self.locate(pa.page_base(), PAGE_SIZE)?;
        let b0 = (g / 2) as usize;
        for b in &bytes[b0..b0 + TAG_BYTES_PER_PAGE] {
            store_if_changed(b, 0);
        }
        Ok(())
    }
}

/// How many granules `[pa, pa+len_bytes)` touches (`len_bytes` ≥ 1, the range inside RAM).
#[inline]
fn granules_touched(pa: GuestPhysAddr, len_bytes: u64) -> u64 {
    (pa.raw() + len_bytes - 1) / TAG_GRANULE_BYTES - pa.raw() / TAG_GRANULE_BYTES + 1
}

/// The tag of granule `g` of a slot.
#[inline]
fn nibble(bytes: &[AtomicU8], g: u64) -> u8 {
    (bytes[(g / 2) as usize].load(Ordering::Relaxed) >> (4 * (g % 2))) & TAG_MASK
}

/// Sets the tag of granule `g` of a slot, leaving its neighbour in the same byte alone
/// (a compare-and-swap loop: another hart may be setting the other nibble).
#[inline]
fn set_nibble(bytes: &[AtomicU8], g: u64, tag: u8) {
    let shift = 4 * (g % 2);
    let keep = !(TAG_MASK << shift);
    let new = (tag & TAG_MASK) << shift;
    // The closure always returns `Some`, so the update cannot fail.
    let _ = bytes[(g / 2) as usize].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some((old & keep) | new)
    });
}

/// Stores `v` into `b` unless it already holds it (a load of an untouched anonymous page
/// maps the shared zero page; a store would commit a fresh one).
#[inline]
fn store_if_changed(b: &AtomicU8, v: u8) {
    if b.load(Ordering::Relaxed) != v {
        b.store(v, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GuestMemory;
    use proptest::prelude::*;

    const A: u64 = 0x8000_0000;
    const B: u64 = 0x9000_0000;
    const SLOT: u64 = 4 * PAGE_SIZE;

    fn mem() -> GuestMemory {
        GuestMemory::new(&[(GuestPhysAddr(A), SLOT), (GuestPhysAddr(B), SLOT)]).unwrap()
    }

    #[test]
    fn page_tags_read_what_load_tag_reads() {
        let m = mem();
        let t = m.tags();
        let page = GuestPhysAddr(B + PAGE_SIZE);
        for (i, g) in [0u64, 1, 2, 77, 254, 255].into_iter().enumerate() {
            t.store_tag(GuestPhysAddr(page.raw() + g * 16), i as u8 + 3)
                .unwrap();
        }
        let pt = t.page_tags(GuestPhysAddr(page.raw() + 0x123)).unwrap();
        for off in (0..PAGE_SIZE).step_by(8) {
            let want = t.load_tag(GuestPhysAddr(page.raw() + off)).unwrap();
            assert_eq!(page_granule_tag(pt, off as usize), want, "offset {off:#x}");
        }
        assert!(
            t.page_tags(GuestPhysAddr(B + SLOT)).is_none(),
            "past the slot"
        );
    }

    #[test]
    fn granules_are_independent_nibbles() {
        let m = mem();
        let t = m.tags();
        t.store_tag(GuestPhysAddr(A + 0x13), 0x5).unwrap();
        t.store_tag(GuestPhysAddr(A), 0xa).unwrap();
        t.store_tag(GuestPhysAddr(A + 0x2f), 0x1f).unwrap(); // only 4 bits are kept
        assert_eq!(t.load_tag(GuestPhysAddr(A + 0xf)).unwrap(), 0xa);
        assert_eq!(t.load_tag(GuestPhysAddr(A + 0x10)).unwrap(), 0x5);
        assert_eq!(t.load_tag(GuestPhysAddr(A + 0x20)).unwrap(), 0xf);
        assert_eq!(t.load_tag(GuestPhysAddr(A + 0x30)).unwrap(), 0);
        assert_eq!(
            t.load_tag(GuestPhysAddr(B)).unwrap(),
            0,
            "other slot untouched"
        );
        assert!(matches!(
            t.store_tag(GuestPhysAddr(A + SLOT), 1),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(t.load_tag(GuestPhysAddr(0)).is_err());
    }

    #[test]
    fn set_tags_covers_every_touched_granule_and_no_other() {
        let m = mem();
        let t = m.tags();
        // [A+0x18, A+0x18+0x19) touches granules 1, 2 and 3 (bytes 0x10..0x40).
        t.set_tags(GuestPhysAddr(A + 0x18), 0x19, 7).unwrap();
        let tags: Vec<u8> = (0..5)
            .map(|g| t.load_tag(GuestPhysAddr(A + 16 * g)).unwrap())
            .collect();
        assert_eq!(tags, [0, 7, 7, 7, 0]);
        assert_eq!(
            t.first_mismatch(GuestPhysAddr(A + 0x10), 0x30, 7).unwrap(),
            None
        );
        assert_eq!(
            t.first_mismatch(GuestPhysAddr(A + 0x3f), 2, 7).unwrap(),
            Some(GuestPhysAddr(A + 0x40)),
            "a 2-byte access spanning granules 3 and 4 mismatches in 4"
        );
        assert!(
            t.set_tags(GuestPhysAddr(A + SLOT - 16), 17, 1).is_err(),
            "a range leaving the slot"
        );
        assert_eq!(t.load_tag(GuestPhysAddr(A + SLOT - 16)).unwrap(), 0);
    }

    #[test]
    fn copy_and_clear_whole_pages() {
        let m = mem();
        let t = m.tags();
        for g in 0..256u64 {
            t.store_tag(GuestPhysAddr(A + 16 * g), g as u8).unwrap();
        }
        t.copy_page_tags(GuestPhysAddr(A + 0x123), GuestPhysAddr(B + PAGE_SIZE))
            .unwrap();
        for g in 0..256u64 {
            let d = GuestPhysAddr(B + PAGE_SIZE + 16 * g);
            assert_eq!(t.load_tag(d).unwrap(), (g as u8) & TAG_MASK);
        }
        assert_eq!(t.load_tag(GuestPhysAddr(B + 2 * PAGE_SIZE)).unwrap(), 0);
        t.clear_page_tags(GuestPhysAddr(A + 0xfff)).unwrap();
        assert_eq!(
            t.first_mismatch(GuestPhysAddr(A), PAGE_SIZE, 0).unwrap(),
            None
        );
        assert!(t
            .copy_page_tags(GuestPhysAddr(A), GuestPhysAddr(A + SLOT))
            .is_err());
    }

    #[test]
    fn concurrent_neighbours_keep_both_nibbles() {
        let m = mem();
        let t = m.tags();
        std::thread::scope(|s| {
            for half in 0..2u64 {
                s.spawn(move || {
                    for round in 0..2000u64 {
                        let g = 2 * (round % 64) + half;
                        t.store_tag(GuestPhysAddr(A + 16 * g), (half as u8) + 1)
                            .unwrap();
                    }
                });
            }
        });
        for g in 0..128u64 {
            let want = (g % 2) as u8 + 1;
            assert_eq!(t.load_tag(GuestPhysAddr(A + 16 * g)).unwrap(), want);
        }
    }

    #[derive(Debug, Clone)]
    enum TagOp {
        Store(u64, u8),
        Set(u64, u64, u8),
        Copy(u64, u64),
        Clear(u64),
    }

    /// A RAM offset in either slot (`0..2*SLOT`) mapped to its address.
    fn addr(o: u64) -> u64 {
        if o < SLOT {
            A + o
        } else {
            B + o - SLOT
        }
    }

    fn op() -> impl Strategy<Value = TagOp> {
        let o = 0..2 * SLOT;
        prop_oneof![
            (o.clone(), any::<u8>()).prop_map(|(a, t)| TagOp::Store(a, t)),
            (o.clone(), 0u64..300, any::<u8>()).prop_map(|(a, l, t)| TagOp::Set(a, l, t)),
            (o.clone(), o.clone()).prop_map(|(s, d)| TagOp::Copy(s, d)),
            o.prop_map(TagOp::Clear),
        ]
    }

    proptest! {
        /// Tag storage against a model: one byte per granule, over both slots.
        #[test]
        fn matches_a_byte_per_granule_model(ops in proptest::collection::vec(op(), 1..60)) {
            let m = mem();
            let t = m.tags();
            let mut model = vec![0u8; (2 * SLOT / TAG_GRANULE_BYTES) as usize];
            let same_slot = |a: u64, len: u64| a / SLOT == (a + len.max(1) - 1) / SLOT;
            for op in ops {
                match op {
                    TagOp::Store(o, tag) => {
                        t.store_tag(GuestPhysAddr(addr(o)), tag).unwrap();
                        model[(o / 16) as usize] = tag & TAG_MASK;
                    }
                    TagOp::Set(o, len, tag) => {
                        let r = t.set_tags(GuestPhysAddr(addr(o)), len, tag);
                        prop_assert_eq!(r.is_ok(), len == 0 || (o + len <= 2 * SLOT && same_slot(o, len)));
                        if r.is_ok() && len > 0 {
                            for g in o / 16..=(o + len - 1) / 16 {
                                model[g as usize] = tag & TAG_MASK;
                            }
                        }
                    }
                    TagOp::Copy(s, d) => {
                        t.copy_page_tags(GuestPhysAddr(addr(s)), GuestPhysAddr(addr(d))).unwrap();
                        let (s0, d0) = ((s & !0xfff) / 16, (d & !0xfff) / 16);
                        for i in 0..256 {
                            model[(d0 + i) as usize] = model[(s0 + i) as usize];
                        }
                    }
                    TagOp::Clear(o) => {
                        t.clear_page_tags(GuestPhysAddr(addr(o))).unwrap();
                        let p0 = (o & !0xfff) / 16;
                        model[p0 as usize..(p0 + 256) as usize].fill(0);
                    }
                }
            }
            for (g, want) in model.iter().enumerate() {
                let pa = GuestPhysAddr(addr(g as u64 * 16));
                prop_assert_eq!(t.load_tag(pa).unwrap(), *want, "granule {}", g);
            }
        }
    }
}
