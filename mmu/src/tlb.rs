//! The per-hart TLB: set-associative, ASID-tagged, with global and superpage entries, and
//! `sfence.vma` in its four rs1/rs2 forms (*Priv §"Supervisor Memory-Management Fence
//! Instruction"*).
//!
//! Indexing: the set is chosen by the low bits of the accessed 4 KiB VPN. A superpage entry
//! is filled into the set of the 4 KiB page that missed and covers its whole superpage when
//! probed there; another 4 KiB page of the same superpage that indexes a different set
//! misses and fills its own copy (as a split L1 TLB that holds superpages in 4 KiB-indexed
//! sets does). `sfence.vma` with an address therefore checks every set for superpage
//! entries covering it — when the TLB holds any: without, it checks only the address's set
//! (the kernel fences one page per page fault). Replacement is round-robin per set.
//!
//! An entry caches the leaf PTE as it was when filled, including D. The caller must not use
//! an entry with D=0 for a store: "the address-translation cache cannot be used in step 9;
//! accessed and dirty bits may only be updated in memory directly" (§"Virtual Address
//! Translation Process"), so the store re-walks, and the walker sets D in guest RAM with a
//! compare-and-swap; see [`Tlb::lookup`]. A/D are never written from a TLB entry.
//!
//! What the spec lets this TLB do, and what it does:
//! - cache only leaf translations of successful walks (no invalid PTEs, no non-leaf PTEs),
//!   so `sfence.vma rs1≠x0` ("entries that contain leaf page table entries corresponding to
//!   the virtual address in rs1") is exact, and an `rs1=x0` form covers non-leaf changes;
//! - treat an entry as global only when the leaf PTE has G (see the `walk` module docs);
//! - tag entries with the full 52-bit VPN of the 64-bit VA, so a VA that is not canonical
//!   never hits an entry, and an `sfence.vma` with such an rs1 invalidates nothing (the spec:
//!   "If the value held in rs1 is not a valid virtual address, then the SFENCE.VMA
//!   instruction has no effect").

use std::fmt;
use std::str::FromStr;

use devices::GuestPhysAddr;

use crate::addr::GuestVirtAddr;
use crate::pte::{Pte, PteFlags};
use crate::walk::Translation;

/// TLB shape: `entries` in total, `ways` per set. `entries / ways` sets, a power of two;
/// at most [`TlbGeometry::MAX_ENTRIES`] entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbGeometry {
    /// Total entries (≥ 1).
    pub entries: usize,
    /// Associativity (1 ≤ ways ≤ entries, dividing entries).
    pub ways: usize,
}

impl Default for TlbGeometry {
    /// 64 entries, 4-way (16 sets): a typical L1 DTLB size.
    fn default() -> Self {
        Self {
            entries: 64,
            ways: 4,
        }
    }
}

/// A TLB geometry that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlbGeometryError {
    /// Not of the form `ENTRIESxWAYS`.
    #[error("TLB geometry must be ENTRIESxWAYS, e.g. 64x4, not {0:?}")]
    Syntax(String),
    /// Zero entries or ways, ways not dividing entries, or a set count that is not a power
    /// of two.
    #[error("TLB geometry {entries}x{ways}: entries and ways must be non-zero, ways must divide entries and entries/ways must be a power of two")]
    Shape {
        /// Entries asked for.
        entries: usize,
        /// Ways asked for.
        ways: usize,
    },
    /// More than [`TlbGeometry::MAX_ENTRIES`] entries.
    #[error("TLB geometry with {entries} entries: at most {max} are supported")]
    TooLarge {
        /// Entries asked for.
        entries: usize,
        /// The limit, [`TlbGeometry::MAX_ENTRIES`].
        max: usize,
    },
}

impl TlbGeometry {
    /// The largest TLB this model builds (entries). Real L1/L2 TLBs hold tens to a few
    /// thousand entries; the limit keeps a mistyped command line from allocating gigabytes.
    pub const MAX_ENTRIES: usize = 1 << 16;

    /// Validates the shape.
    ///
    /// # Errors
    /// [`TlbGeometryError::Shape`] or [`TlbGeometryError::TooLarge`] as described there.
    pub fn new(entries: usize, ways: usize) -> Result<Self, TlbGeometryError> {
        if entries == 0
            || ways == 0
            || !entries.is_multiple_of(ways)
            || !(entries / ways).is_power_of_two()
        {
            return Err(TlbGeometryError::Shape { entries, ways });
        }
        if entries > Self::MAX_ENTRIES {
            return Err(TlbGeometryError::TooLarge {
                entries,
                max: Self::MAX_ENTRIES,
            });
        }
        Ok(Self { entries, ways })
    }

    /// Number of sets.
    pub fn sets(&self) -> usize {
        self.entries / self.ways
    }
}

impl FromStr for TlbGeometry {
    type Err = TlbGeometryError;

    /// Parses `ENTRIESxWAYS` (decimal digits only, `x` or `X`), e.g. `64x4`, `1x1`,
    /// `48x4` is rejected (12 sets is not a power of two, see [`TlbGeometry::new`]).
    ///
    /// # Errors
    /// [`TlbGeometryError::Syntax`] for anything but two decimal numbers around one `x`;
    /// otherwise as [`TlbGeometry::new`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || TlbGeometryError::Syntax(s.to_string());
        let (e, w) = s.split_once(['x', 'X']).ok_or_else(syntax)?;
        let parse = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            t.parse::<usize>().map_err(|_| syntax())
        };
        Self::new(parse(e)?, parse(w)?)
    }
}

impl fmt::Display for TlbGeometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.entries, self.ways)
    }
}

/// A cached translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbEntry {
    /// 4 KiB VPN of the first page the entry maps (superpage-aligned for level > 0).
    pub vpn: u64,
    /// Leaf level: 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB, 3 = 512 GiB.
    pub level: u8,
    /// The ASID it was filled under (ignored for global entries).
    pub asid: u16,
    /// The leaf PTE as the walker returned it (A/D included).
    pub pte: Pte,
    /// Where the leaf PTE lives.
    pub pte_addr: GuestPhysAddr,
}

impl TlbEntry {
    /// Whether this entry is global (PTE.G).
    #[inline]
    pub fn global(&self) -> bool {
        self.pte.flags().contains(PteFlags::G)
    }

    /// Whether the entry maps `vpn` (a 4 KiB VPN): the VPN bits above the leaf level are
    /// equal.
    #[inline]
    pub fn covers(&self, vpn: u64) -> bool {
        let shift = 9 * u32::from(self.level);
        vpn.checked_shr(shift).unwrap_or(0) == self.vpn.checked_shr(shift).unwrap_or(0)
    }

    /// Whether the entry answers a lookup of `vpn` under `asid`.
    #[inline]
    pub fn matches(&self, vpn: u64, asid: u16) -> bool {
        self.covers(vpn) && (self.asid == asid || self.global())
    }

    /// The translation it caches.
    #[inline]
    pub fn translation(&self) -> Translation {
        Translation {
            level: self.level,
            pte: self.pte,
            pte_addr: self.pte_addr,
        }
    }
}

/// A per-hart TLB.
#[derive(Debug, Clone)]
pub struct Tlb {
    geometry: TlbGeometry,
    set_mask: u64,
    slots: Vec<Option<TlbEntry>>,
    /// Per set, the way the next fill of a full set replaces.
    next_victim: Vec<usize>,
    /// Valid superpage entries (level > 0): while there are none, an `sfence.vma` with an
    /// address checks only the set of the address's 4 KiB page, the one set a 4 KiB entry
    /// for it can be in.
    superpages: usize,
}

impl Tlb {
    /// An empty TLB of the given geometry.
    ///
    /// # Panics
    /// If `geometry` is a struct literal that [`TlbGeometry::new`] would reject (a host
    /// configuration bug, never a guest action); parse or build geometries with
    /// [`TlbGeometry::new`] / [`str::parse`].
    pub fn new(geometry: TlbGeometry) -> Self {
        if let Err(e) = TlbGeometry::new(geometry.entries, geometry.ways) {
            panic!("invalid TLB geometry: {e}");
        }
        Self {
            geometry,
            set_mask: (geometry.sets() - 1) as u64,
            slots: vec![None; geometry.entries],
            next_victim: vec![0; geometry.sets()],
            superpages: 0,
        }
    }

    /// The geometry.
    pub fn geometry(&self) -> TlbGeometry {
        self.geometry
    }

    #[inline]
    fn set_range(&self, vpn: u64) -> std::ops::Range<usize> {
        let set = (vpn & self.set_mask) as usize;
        set * self.geometry.ways..(set + 1) * self.geometry.ways
    }

    /// Looks up `va` under `asid`: an entry of `va`'s set that covers it and was filled
    /// under `asid` or is global. A store must not be granted by an entry whose cached PTE
    /// has D=0 (*step 9* is never served from the TLB): with `need_dirty` such an entry does
    /// not answer, and if no matching entry has D=1 the lookup misses (the D=0 entry is left
    /// for the re-walk's fill to replace). Permissions are not checked here; the caller
    /// re-checks them with [`crate::check_leaf_permission`].
    #[inline]
    pub fn lookup(&self, va: GuestVirtAddr, asid: u16, need_dirty: bool) -> Option<&TlbEntry> {
        let vpn = va.vpn();
        self.slots[self.set_range(vpn)]
            .iter()
            .flatten()
            .filter(|e| e.matches(vpn, asid))
            .find(|e| !need_dirty || e.pte.flags().contains(PteFlags::D))
    }

    /// Fills the translation of `va` under `asid`, replacing an entry of the set that
    /// already answers for `va` (e.g. the D=0 copy a store just re-walked), else a free way,
    /// else the round-robin victim. Returns the valid entry that was displaced, if any (so
    /// a caller that caches translations in front of the TLB can drop its copies and stay
    /// inclusive).
    pub fn insert(&mut self, va: GuestVirtAddr, asid: u16, t: &Translation) -> Option<TlbEntry> {
        let vpn = va.vpn();
        let shift = 9 * u32::from(t.level);
        let entry = TlbEntry {
            vpn: (vpn >> shift) << shift,
            level: t.level,
            asid,
            pte: t.pte,
            pte_addr: t.pte_addr,
        };
        let range = self.set_range(vpn);
        let base = range.start;
        let set = &mut self.slots[range];
        let way = set
            .iter()
            .position(|s| s.is_some_and(|e| e.matches(vpn, asid)))
            .or_else(|| set.iter().position(Option::is_none))
            .unwrap_or_else(|| {
                let v = &mut self.next_victim[base / self.geometry.ways];
                let w = *v;
                *v = (w + 1) % self.geometry.ways;
                w
            });
        let old = set[way].replace(entry);
        self.superpages += usize::from(entry.level > 0);
        self.superpages -= usize::from(old.is_some_and(|o| o.level > 0));
        old
    }

    /// `sfence.vma rs1, rs2` (§"Supervisor Memory-Management Fence Instruction"). `va = None`
    /// is rs1=x0, `asid = None` is rs2=x0; the caller passes rs2's low 16 bits (ASIDLEN=16,
    /// the higher bits are ignored):
    /// - `(None, None)`: every entry, all address spaces;
    /// - `(None, Some(a))`: every entry of ASID `a` "except for entries containing global
    ///   mappings";
    /// - `(Some(v), None)`: entries whose leaf maps `v` (of any page size: superpage entries
    ///   in every set are checked), in every address space, global ones too;
    /// - `(Some(v), Some(a))`: entries whose leaf maps `v` and that were filled under ASID
    ///   `a`, except global ones.
    ///
    /// Returns how many entries were invalidated.
    pub fn sfence_vma(&mut self, va: Option<GuestVirtAddr>, asid: Option<u16>) -> usize {
        self.sfence_vma_each(va, asid, |_| {})
    }

    /// [`Tlb::sfence_vma`], calling `dropped` with each entry it invalidates, so that a
    /// cache kept inclusive of the TLB (a hart's host-pointer cache) drops its copies of
    /// those entries alone. Returns how many entries were invalidated.
    pub fn sfence_vma_each(
        &mut self,
        va: Option<GuestVirtAddr>,
        asid: Option<u16>,
        mut dropped: impl FnMut(&TlbEntry),
    ) -> usize {
        // A 4 KiB entry covering `va` sits in `va`'s set; a superpage entry in any set.
        let range = match va {
            Some(v) if self.superpages == 0 => self.set_range(v.vpn()),
            _ => 0..self.slots.len(),
        };
        let mut n = 0;
        for slot in &mut self.slots[range] {
            let Some(e) = slot else { continue };
            let addr_ok = va.is_none_or(|v| e.covers(v.vpn()));
            let asid_ok = asid.is_none_or(|a| !e.global() && e.asid == a);
            if addr_ok && asid_ok {
                dropped(e);
                if e.level > 0 {
                    self.superpages -= 1;
                }
                *slot = None;
                n += 1;
            }
        }
        n
    }

    /// Invalidates everything (`sfence.vma x0, x0`).
    pub fn flush_all(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.superpages = 0;
    }

    /// The valid entries, for inspection and tests.
    pub fn entries(&self) -> impl Iterator<Item = &TlbEntry> {
        self.slots.iter().flatten()
    }
}
