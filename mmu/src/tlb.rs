//! The per-hart TLB: set-associative, ASID-tagged, with global and superpage entries, and
//! `sfence.vma` in its four rs1/rs2 forms (*Priv §"Supervisor Memory-Management Fence
//! Instruction"*).
//!
//! Indexing: the set is chosen by the low bits of the accessed 4 KiB VPN. A superpage entry
//! is filled into the set of the 4 KiB page that missed and covers its whole superpage when
//! probed there; another 4 KiB page of the same superpage that indexes a different set
//! misses and fills its own copy (as a split L1 TLB that holds superpages in 4 KiB-indexed
//! sets does). `sfence.vma` with an address therefore checks every set for superpage
//! entries covering it. Replacement is round-robin per set.
//!
//! An entry caches the leaf PTE as it was when filled, including D. The caller must not use
//! an entry with D=0 for a store (*step 7*: the store re-walks and sets D); see
//! [`Tlb::lookup`].

use std::fmt;
use std::str::FromStr;

use devices::GuestPhysAddr;

use crate::addr::GuestVirtAddr;
use crate::pte::{Pte, PteFlags};
use crate::walk::Translation;

/// TLB shape: `entries` in total, `ways` per set. `entries / ways` sets, a power of two.
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
}

impl TlbGeometry {
    /// Validates the shape.
    ///
    /// # Errors
    /// [`TlbGeometryError::Shape`] as described there.
    pub fn new(entries: usize, ways: usize) -> Result<Self, TlbGeometryError> {
        if entries == 0
            || ways == 0
            || !entries.is_multiple_of(ways)
            || !(entries / ways).is_power_of_two()
        {
            return Err(TlbGeometryError::Shape { entries, ways });
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

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (e, w) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| TlbGeometryError::Syntax(s.to_string()))?;
        let parse = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| TlbGeometryError::Syntax(s.to_string()))
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

    /// Whether the entry maps `vpn` (a 4 KiB VPN).
    #[inline]
    pub fn covers(&self, vpn: u64) -> bool {
        let shift = 9 * u32::from(self.level);
        (vpn >> shift) == (self.vpn >> shift)
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
    next_victim: Vec<u16>,
}

impl Tlb {
    /// An empty TLB of the given geometry.
    pub fn new(geometry: TlbGeometry) -> Self {
        Self {
            geometry,
            set_mask: (geometry.sets() - 1) as u64,
            slots: vec![None; geometry.entries],
            next_victim: vec![0; geometry.sets()],
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

    /// Looks up `va` under `asid`. A store must not be granted by an entry whose cached PTE
    /// has D=0: for `need_dirty` such an entry is a miss (and is left to be replaced by the
    /// re-walk's fill).
    #[inline]
    pub fn lookup(&self, va: GuestVirtAddr, asid: u16, need_dirty: bool) -> Option<&TlbEntry> {
        let vpn = va.vpn();
        self.slots[self.set_range(vpn)]
            .iter()
            .flatten()
            .find(|e| e.matches(vpn, asid))
            .filter(|e| !need_dirty || e.pte.flags().contains(PteFlags::D))
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
                let w = *v as usize;
                *v = ((w + 1) % self.geometry.ways) as u16;
                w
            });
        set[way].replace(entry)
    }

    /// `sfence.vma rs1, rs2`. `va = None` is rs1=x0, `asid = None` is rs2=x0:
    /// - `(None, None)`: every entry, all address spaces;
    /// - `(None, Some(a))`: every non-global entry of ASID `a`;
    /// - `(Some(v), None)`: entries mapping `v` in every address space, global ones too;
    /// - `(Some(v), Some(a))`: entries mapping `v` for ASID `a`, except global ones.
    ///
    /// Returns how many entries were invalidated.
    pub fn sfence_vma(&mut self, va: Option<GuestVirtAddr>, asid: Option<u16>) -> usize {
        let mut n = 0;
        for slot in &mut self.slots {
            let Some(e) = slot else { continue };
            let addr_ok = va.is_none_or(|v| e.covers(v.vpn()));
            let asid_ok = asid.is_none_or(|a| !e.global() && e.asid == a);
            if addr_ok && asid_ok {
                *slot = None;
                n += 1;
            }
        }
        n
    }

    /// Invalidates everything (`sfence.vma x0, x0`).
    pub fn flush_all(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    /// The valid entries, for inspection and tests.
    pub fn entries(&self) -> impl Iterator<Item = &TlbEntry> {
        self.slots.iter().flatten()
    }
}
