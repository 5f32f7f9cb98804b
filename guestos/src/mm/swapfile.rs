//! Swap: the swap area and its slot counts (`mm/swapfile.c`'s `swap_info_struct` and
//! `swap_map`), the swap entries that non-present PTEs carry (`include/linux/swapops.h`,
//! riscv's `__swp_entry()`), and the page I/O (`mm/page_io.c`).
//!
//! # Swap PTEs
//! A swap PTE is any entry that is neither `pte_none()` nor `pte_present()`: `V = 0` and
//! the `PROT_NONE` bit (`G`) clear. Its layout follows riscv Linux's:
//!
//! | bits | meaning |
//! |---|---|
//! | 0 | `V` (zero) |
//! | 1–2 | zero |
//! | 3 | `_PAGE_SWP_UFFD_WP`: the uffd-wp bit of the PTE that was swapped out (ours) |
//! | 4 | `_PAGE_SWP_SOFT_DIRTY` (riscv: `_PAGE_USER`) |
//! | 5 | `_PAGE_PROT_NONE` (zero) |
//! | 6 | `_PAGE_SWP_EXCLUSIVE`: the page was `PageAnonExclusive` (5.19+), not stored in the swap entry |
//! | 7–11 | swap type (`swp_type()`; one area here: 0) |
//! | 12–63 | swap offset (`swp_offset()`: the slot; never 0, the header's) |
//!
//! The exclusive bit is what lets `PageAnonExclusive` survive swap: `try_to_unmap_one()`
//! moves it from the page to the PTE and `do_swap_page()` back, so a page that was
//! exclusive before swap-out is reused by a write after swap-in without a copy, and a
//! R/O pin after swap-in still pins the page the process writes (seed 001).
//!
//! # The swap map
//! Each slot has a count (`swap_map[offset]`): the swap PTEs referring to it. A slot is
//! taken by `folio_alloc_swap()` at swap-out with count 1 for the PTE that gets it,
//! duplicated by fork (`swap_duplicate()`), and freed by `swap_free()` when the count
//! drops to 0 — at swap-in, at zap (`free_swap_and_cache()`) and at `exit`.
//!
//! # Deliberate limits (this step)
//! There is no swap cache that outlives a fault: a page is written to its slot while the
//! page-table lock is held and the PTE is cleared (so no store and no fault can slip in),
//! and swap-in always reads the slot into a fresh page and drops the PTE's count; a slot
//! other PTEs still refer to (after fork) is read again by each of them, each getting its
//! own copy, which COW would have given them at their first write anyway. Linux instead
//! keeps the page in the swap cache, shared by the PTEs until a write, and keeps a clean
//! swapped-in page's slot so a second swap-out need not write it (the D bit decides).

use std::sync::atomic::{AtomicU64, Ordering};

use devices::{GuestPhysAddr, SwapDevice, PAGE_SIZE};
use mmu::{Pte, PteFlags};

use crate::sync::Mutex;

/// `_PAGE_SWP_UFFD_WP`: the uffd-wp bit of a swap PTE (see the module docs).
pub const PAGE_SWP_UFFD_WP: u64 = 1 << 3;
/// `_PAGE_SWP_SOFT_DIRTY`: the soft-dirty bit of a swap PTE (riscv: `_PAGE_USER`).
pub const PAGE_SWP_SOFT_DIRTY: u64 = 1 << 4;
/// `_PAGE_SWP_EXCLUSIVE`: the page was `PageAnonExclusive` when it was swapped out.
pub const PAGE_SWP_EXCLUSIVE: u64 = 1 << 6;
/// `__SWP_TYPE_SHIFT`.
const SWP_TYPE_SHIFT: u32 = 7;
/// `__SWP_TYPE_BITS`.
const SWP_TYPE_BITS: u32 = 5;
/// `__SWP_OFFSET_SHIFT`.
const SWP_OFFSET_SHIFT: u32 = 12;
/// `MAX_SWAPFILES_SHIFT`: how `/proc/<pid>/pagemap` packs type and offset
/// (`swp_type(entry) | (swp_offset(entry) << MAX_SWAPFILES_SHIFT)`).
pub const MAX_SWAPFILES_SHIFT: u32 = 5;

/// `swp_entry_t`: a swap area (type) and a slot in it (offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SwpEntry {
    /// `swp_type()`: the area (`swap_info[]` index).
    pub ty: u32,
    /// `swp_offset()`: the slot.
    pub offset: u64,
}

/// `is_swap_pte()`: neither none nor present (`V = 0`, `PROT_NONE` clear, not zero).
#[inline]
pub fn is_swap_pte(pte: Pte) -> bool {
    pte.0 != 0 && !super::pgtable::pte_present(pte)
}

/// `pte_to_swp_entry()`, for a swap PTE.
#[inline]
pub fn pte_to_swp_entry(pte: Pte) -> SwpEntry {
    SwpEntry {
        ty: ((pte.0 >> SWP_TYPE_SHIFT) & ((1 << SWP_TYPE_BITS) - 1)) as u32,
        offset: pte.0 >> SWP_OFFSET_SHIFT,
    }
}

/// `swp_entry_to_pte()`: the swap PTE for `entry`, its flag bits clear.
#[inline]
pub fn swp_entry_to_pte(entry: SwpEntry) -> Pte {
    Pte((u64::from(entry.ty) << SWP_TYPE_SHIFT) | (entry.offset << SWP_OFFSET_SHIFT))
}

/// `pte_swp_exclusive()`.
#[inline]
pub fn pte_swp_exclusive(pte: Pte) -> bool {
    pte.0 & PAGE_SWP_EXCLUSIVE != 0
}

/// `pte_swp_soft_dirty()`.
#[inline]
pub fn pte_swp_soft_dirty(pte: Pte) -> bool {
    pte.0 & PAGE_SWP_SOFT_DIRTY != 0
}

/// `pte_swp_uffd_wp()`.
#[inline]
pub fn pte_swp_uffd_wp(pte: Pte) -> bool {
    pte.0 & PAGE_SWP_UFFD_WP != 0
}

/// The swap PTE that replaces the present `pte` when its page goes to `entry`
/// (`try_to_unmap_one()`): the exclusive bit if the page was `PageAnonExclusive`, and the
/// soft-dirty and uffd-wp bits carried over (`pte_swp_mksoft_dirty()`,
/// `pte_swp_mkuffd_wp()`).
pub fn make_swap_pte(entry: SwpEntry, pte: Pte, exclusive: bool) -> Pte {
    let mut swp = swp_entry_to_pte(entry).0;
    if exclusive {
        swp |= PAGE_SWP_EXCLUSIVE;
    }
    if super::pgtable::pte_soft_dirty(pte) {
        swp |= PAGE_SWP_SOFT_DIRTY;
    }
    if super::userfaultfd::pte_uffd_wp(pte) {
        swp |= PAGE_SWP_UFFD_WP;
    }
    Pte(swp)
}

/// The bits a present PTE made from swap PTE `swp` gets back (`do_swap_page()`:
/// `pte_mksoft_dirty()` if `pte_swp_soft_dirty()`, `pte_mkuffd_wp()` if
/// `pte_swp_uffd_wp()`).
pub fn swap_pte_flags(swp: Pte) -> PteFlags {
    let mut f = PteFlags::empty();
    if pte_swp_soft_dirty(swp) {
        f |= super::pgtable::PAGE_SOFT_DIRTY;
    }
    if pte_swp_uffd_wp(swp) {
        f |= super::userfaultfd::PAGE_UFFD_WP;
    }
    f
}

/// Why a swap operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapFail {
    /// No free slot (`folio_alloc_swap()` failed: swap is full).
    Full,
    /// The device refused the I/O (`-EIO`).
    Io,
}

#[derive(Debug)]
struct SwapMap {
    /// `swap_map[]`: swap PTEs per slot; slot 0 (the header) is never used.
    count: Vec<u32>,
    /// Slots in use.
    inuse: u64,
    /// Where the next search for a free slot starts (`cluster_next`).
    next: u64,
}

/// The vmstat counters of swap (`/proc/vmstat`): machine-wide, as Linux's are.
#[derive(Debug, Default)]
pub struct SwapEvents {
    /// `pswpin`: pages read from swap.
    pub pswpin: AtomicU64,
    /// `pswpout`: pages written to swap.
    pub pswpout: AtomicU64,
    /// `pgmajfault`: faults that had to read a page in (`VM_FAULT_MAJOR`).
    pub pgmajfault: AtomicU64,
}

/// `swap_info_struct`: one swap area, its device and its slot counts.
#[derive(Debug)]
pub struct SwapInfo {
    dev: SwapDevice,
    map: Mutex<SwapMap>,
    /// The vmstat counters.
    pub events: SwapEvents,
    /// Host time each page read or write waits (`--swap-latency`, parallel mode), so
    /// that there is real waiting for a scheduler or an async fault to hide.
    latency: Option<std::time::Duration>,
}

impl SwapInfo {
    /// A swap area over `dev` (`swapon`): every slot but the header free.
    pub fn new(dev: SwapDevice) -> Self {
        Self::with_latency(dev, None)
    }

    /// [`SwapInfo::new`] whose page I/O also waits `latency` of host time (the device's
    /// access time: `--swap-latency`).
    pub fn with_latency(dev: SwapDevice, latency: Option<std::time::Duration>) -> Self {
        let slots = dev.slots() as usize;
        Self {
            latency,
            dev,
            map: Mutex::new(SwapMap {
                count: vec![0; slots],
                inuse: 0,
                next: 1,
            }),
            events: SwapEvents::default(),
        }
    }

    /// `si->pages`: usable slots (the header excluded), in 4 KiB pages.
    pub fn total_pages(&self) -> u64 {
        self.dev.slots() - 1
    }

    /// `si->inuse_pages`.
    pub fn inuse_pages(&self) -> u64 {
        self.map.lock().inuse
    }

    /// `folio_alloc_swap()` → `get_swap_pages()`: a free slot, its count set to 1 for the
    /// swap PTE about to refer to it.
    ///
    /// # Errors
    /// [`SwapFail::Full`] when every slot is in use.
    pub fn get_swap_page(&self) -> Result<SwpEntry, SwapFail> {
        let mut m = self.map.lock();
        let n = m.count.len() as u64;
        if m.inuse + 1 >= n {
            return Err(SwapFail::Full);
        }
        let start = m.next.clamp(1, n - 1);
        let mut off = start;
        loop {
            if m.count[off as usize] == 0 {
                m.count[off as usize] = 1;
                m.inuse += 1;
                m.next = if off + 1 >= n { 1 } else { off + 1 };
                return Ok(SwpEntry { ty: 0, offset: off });
            }
            off = if off + 1 >= n { 1 } else { off + 1 };
            if off == start {
                return Err(SwapFail::Full);
            }
        }
    }

    /// `swap_duplicate()`: one more swap PTE refers to `entry` (fork's
    /// `copy_nonpresent_pte()`). Returns `false` for an entry that is not in use (a bad
    /// swap entry: the caller gives up, as `-EIO`).
    pub fn swap_duplicate(&self, entry: SwpEntry) -> bool {
        let mut m = self.map.lock();
        match m.count.get_mut(entry.offset as usize) {
            Some(c) if *c > 0 && entry.offset > 0 => {
                *c += 1;
                true
            }
            _ => false,
        }
    }

    /// `swap_free()` / `free_swap_and_cache()`: a swap PTE referring to `entry` is gone
    /// (swapped in, zapped); the slot is free when none is left. Returns the references
    /// left, or `None` for an entry that was not in use (counted by the caller as a bad
    /// swap entry).
    pub fn swap_free(&self, entry: SwpEntry) -> Option<u32> {
        let mut m = self.map.lock();
        let c = m.count.get_mut(entry.offset as usize)?;
        if *c == 0 || entry.offset == 0 {
            return None;
        }
        *c -= 1;
        let left = *c;
        if left == 0 {
            m.inuse -= 1;
        }
        Some(left)
    }

    /// `swp_swapcount()`: the swap PTEs referring to `entry` (0 if free).
    pub fn swap_count(&self, entry: SwpEntry) -> u32 {
        self.map
            .lock()
            .count
            .get(entry.offset as usize)
            .copied()
            .unwrap_or(0)
    }

    /// `swap_writepage()`: the page at `pa` goes to `entry`'s slot (`pswpout`).
    ///
    /// # Errors
    /// [`SwapFail::Io`] if guest RAM or the device refuses it.
    pub fn write_page(
        &self,
        ram: &devices::GuestMemory,
        pa: GuestPhysAddr,
        entry: SwpEntry,
    ) -> Result<(), SwapFail> {
        let mut buf = [0u8; PAGE_SIZE as usize];
        ram.read_bytes(pa, &mut buf).map_err(|_| SwapFail::Io)?;
        self.wait();
        self.dev
            .write_slot(entry.offset, &buf)
            .map_err(|_| SwapFail::Io)?;
        self.events.pswpout.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `swap_read_folio()`: `entry`'s slot into the page at `pa` (`pswpin`).
    ///
    /// # Errors
    /// [`SwapFail::Io`] if the device or guest RAM refuses it.
    pub fn read_page(
        &self,
        ram: &devices::GuestMemory,
        pa: GuestPhysAddr,
        entry: SwpEntry,
    ) -> Result<(), SwapFail> {
        let mut buf = [0u8; PAGE_SIZE as usize];
        self.wait();
        self.dev
            .read_slot(entry.offset, &mut buf)
            .map_err(|_| SwapFail::Io)?;
        ram.write_bytes(pa, &buf).map_err(|_| SwapFail::Io)?;
        self.events.pswpin.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The device's access time, waited on the calling host thread.
    fn wait(&self) {
        if let Some(d) = self.latency {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_ptes_round_trip_and_are_never_present() {
        let e = SwpEntry {
            ty: 0,
            offset: 0x1234_5678,
        };
        let pte = Pte(0xfff | (1 << 59)).without(PteFlags::V | PteFlags::G);
        let swp = make_swap_pte(e, pte, true);
        assert!(is_swap_pte(swp));
        assert!(!super::super::pgtable::pte_present(swp));
        assert_eq!(pte_to_swp_entry(swp), e);
        assert!(pte_swp_exclusive(swp));
        assert!(pte_swp_soft_dirty(swp));
        assert!(!pte_swp_exclusive(make_swap_pte(e, Pte(0), false)));
    }

    #[test]
    fn slots_are_counted_and_freed() {
        let si = SwapInfo::new(SwapDevice::anonymous(4 * PAGE_SIZE).unwrap());
        assert_eq!(si.total_pages(), 3);
        let a = si.get_swap_page().unwrap();
        let b = si.get_swap_page().unwrap();
        let c = si.get_swap_page().unwrap();
        assert_ne!(a.offset, 0);
        assert_eq!(si.get_swap_page(), Err(SwapFail::Full));
        assert!(si.swap_duplicate(b));
        assert_eq!(si.swap_free(b), Some(1));
        assert_eq!(si.swap_free(b), Some(0));
        assert_eq!(si.swap_free(b), None, "a free slot cannot be freed again");
        assert_eq!(si.inuse_pages(), 2);
        assert_eq!(si.get_swap_page().unwrap(), b);
        let _ = (a, c);
    }
}

#[cfg(test)]
mod mm_tests {
    //! Swap through a real address space in guest RAM: the hardware walker's accesses
    //! (faulting into `do_swap_page()`), GUP, fork and zap, with the page and slot audits.

    use std::sync::Arc;

    use devices::PAGE_SIZE;
    use mmu::{AdScheme, SatpMode};

    use super::super::gup::{get_user_pages, put_page, FollFlags};
    use super::super::mmap::{MADV_DONTNEED, MADV_PAGEOUT};
    use super::super::test_support::*;
    use super::super::Mm;
    use super::*;

    fn swap_mm(ad: AdScheme) -> (Arc<super::super::PhysMem>, Mm) {
        let (phys, mm) = setup_mm(64, SatpMode::Sv39, ad, 1);
        let si = SwapInfo::new(SwapDevice::anonymous(64 * PAGE_SIZE).unwrap());
        assert!(phys.set_swap(Arc::new(si)));
        (phys, mm)
    }

    /// The entry mapping `va` (zero without a table).
    fn pte_at(mm: &Mm, va: u64) -> Pte {
        let pt = mm.page_table();
        pt.pte_offset(va).map_or(Pte(0), |s| pt.ptep_get(s))
    }

    fn swapped(mm: &Mm, va: u64) -> bool {
        is_swap_pte(pte_at(mm, va))
    }

    #[test]
    fn pageout_then_access_gup_and_zap_under_both_ad_schemes() {
        for ad in [AdScheme::Svadu, AdScheme::Svade] {
            let (phys, mut mm) = swap_mm(ad);
            let si = Arc::clone(phys.swap().unwrap());
            let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
            for i in 0..4 {
                hart_write(&mut mm, a + i * P, 0x1000 + i);
            }
            mm.madvise(a, 4 * P, MADV_PAGEOUT).unwrap();
            assert!((0..4).all(|i| swapped(&mm, a + i * P)), "{ad:?}");
            assert_eq!(si.inuse_pages(), 4);
            // The hart's load faults the page back in (a major fault).
            assert_eq!(hart_read(&mut mm, a), 0x1000);
            assert!(!swapped(&mm, a));
            // GUP (a kernel access: no hart retries) faults the second in too.
            let pages = {
                let mut g = mm.mmap_read_lock();
                get_user_pages(&mut g, a + P, 1, FollFlags::WRITE).unwrap()
            };
            assert_eq!(phys.ram.read_u64(pages[0].pa()).unwrap(), 0x1001);
            put_page(&phys, pages[0]);
            // Zapping the other two gives their slots back; they read as zeros.
            mm.madvise(a + 2 * P, 2 * P, MADV_DONTNEED).unwrap();
            assert_eq!(si.inuse_pages(), 0);
            assert_eq!(hart_read(&mut mm, a + 3 * P), 0);
            drop(mm);
            clean(&phys);
            assert_eq!(si.inuse_pages(), 0);
        }
    }

    #[test]
    fn fork_shares_slots_and_each_side_gets_its_own_copy() {
        let (phys, mut mm) = swap_mm(AdScheme::Svadu);
        let si = Arc::clone(phys.swap().unwrap());
        let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
        hart_write(&mut mm, a, 7);
        mm.madvise(a, P, MADV_PAGEOUT).unwrap();
        let e = pte_to_swp_entry(pte_at(&mm, a));
        assert!(pte_swp_exclusive(pte_at(&mm, a)));
        let mut child = mm.dup_mmap(2).unwrap();
        assert_eq!(si.swap_count(e), 2, "fork duplicated the slot");
        assert!(
            !pte_swp_exclusive(pte_at(&mm, a)),
            "the parent's entry is shared now"
        );
        // The child writes: the parent still refers to the slot, so the page comes in
        // shared (read-only) and the write breaks COW onto a copy of its own.
        hart_write(&mut child, a, 9);
        assert_eq!(si.swap_count(e), 1);
        assert_eq!(hart_read(&mut mm, a), 7, "the parent still reads its data");
        assert_eq!(si.swap_count(e), 0);
        assert_eq!(hart_read(&mut child, a), 9);
        drop(child);
        drop(mm);
        clean(&phys);
        assert_eq!(si.inuse_pages(), 0);
    }

    #[test]
    fn a_pinned_page_is_never_paged_out() {
        let (phys, mut mm) = swap_mm(AdScheme::Svadu);
        let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
        hart_write(&mut mm, a, 1);
        let pfn = {
            let mut g = mm.mmap_read_lock();
            super::super::gup::pin_user_pages(&mut g, a, 1, FollFlags::WRITE | FollFlags::LONGTERM)
                .unwrap()[0]
        };
        mm.madvise(a, P, MADV_PAGEOUT).unwrap();
        assert!(!swapped(&mm, a));
        super::super::gup::unpin_user_page(&phys, pfn);
        mm.madvise(a, P, MADV_PAGEOUT).unwrap();
        assert!(swapped(&mm, a), "unpinned, it goes");
        drop(mm);
        clean(&phys);
    }
}
