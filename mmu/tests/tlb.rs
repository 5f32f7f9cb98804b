//! The TLB: geometry parsing, replacement, ASID/global matching, the D=0 rule for stores,
//! and `sfence.vma` in its four forms (§"Supervisor Memory-Management Fence Instruction"):
//!
//! | rs1 | rs2 | invalidates |
//! |-----|-----|-------------|
//! | x0 | x0 | everything |
//! | x0 | ASID | entries of that ASID, except global ones |
//! | VA | x0 | entries whose leaf maps VA, any ASID, global ones too |
//! | VA | ASID | entries whose leaf maps VA for that ASID, except global ones |
//!
//! The hand-written cases pin each form; the property tests compare `sfence_vma` and
//! `lookup` on random TLB contents with predicates written here from that table.

use std::collections::HashMap;

use devices::{GuestMemory, GuestPhysAddr};
use mmu::{
    walk, AccessType, AdScheme, GuestVirtAddr, MmuCounters, PrivCtx, Pte, PteFlags, Satp, SatpMode,
    Tlb, TlbEntry, TlbGeometry, TlbGeometryError, Translation,
};
use proptest::prelude::*;

const KIB4: u64 = 1 << 12;
const MIB2: u64 = 1 << 21;
const GIB1: u64 = 1 << 30;

fn tr(level: u8, ppn: u64, flags: PteFlags) -> Translation {
    Translation {
        level,
        pte: Pte::new(ppn, flags | PteFlags::V),
        pte_addr: GuestPhysAddr(0x8000_0000 + ppn * 8),
    }
}

const RWAD: PteFlags = PteFlags::R
    .union(PteFlags::W)
    .union(PteFlags::A)
    .union(PteFlags::D);

fn va(x: u64) -> GuestVirtAddr {
    GuestVirtAddr(x)
}

/// An entry as compared here: (4 KiB VPN, level, ASID, PTE value).
type Key = (u64, u8, u16, u64);

/// The entries as a sorted list, for comparing TLB contents.
fn contents(tlb: &Tlb) -> Vec<Key> {
    let mut v: Vec<_> = tlb
        .entries()
        .map(|e| (e.vpn, e.level, e.asid, e.pte.0))
        .collect();
    v.sort_unstable();
    v
}

// ---------------------------------------------------------------------------------------
// Geometry.
// ---------------------------------------------------------------------------------------

#[test]
fn geometry_parses_entries_x_ways() {
    let g: TlbGeometry = "64x4".parse().unwrap();
    assert_eq!((g.entries, g.ways, g.sets()), (64, 4, 16));
    assert_eq!(g.to_string(), "64x4");
    assert_eq!(g, TlbGeometry::default());
    let g: TlbGeometry = "1x1".parse().unwrap();
    assert_eq!((g.entries, g.ways, g.sets()), (1, 1, 1));
    let g: TlbGeometry = "32X32".parse().unwrap();
    assert_eq!(g.sets(), 1, "fully associative");
    let g: TlbGeometry = "2048x1".parse().unwrap();
    assert_eq!(g.sets(), 2048, "direct-mapped");
    for s in ["64x4", "1x1", "1536x3", "65536x1"] {
        let g: TlbGeometry = s.parse().unwrap();
        assert_eq!(g.to_string().parse::<TlbGeometry>().unwrap(), g);
    }
}

#[test]
fn geometry_rejects_bad_shapes_and_syntax() {
    for s in [
        "",
        "64",
        "x4",
        "64x",
        "64x4x2",
        "+64x4",
        "64x+4",
        " 64x4",
        "64 x 4",
        "-1x1",
        "0x10x1",
        "64x4 ",
        "sixty-four x4",
        "99999999999999999999999x1",
    ] {
        assert!(
            matches!(s.parse::<TlbGeometry>(), Err(TlbGeometryError::Syntax(_))),
            "{s:?}: {:?}",
            s.parse::<TlbGeometry>()
        );
    }
    for (e, w) in [
        (0, 1),
        (1, 0),
        (0, 0),
        (64, 3),
        (48, 4),
        (64, 128),
        (24, 1),
        (12, 4),
    ] {
        assert_eq!(
            TlbGeometry::new(e, w),
            Err(TlbGeometryError::Shape {
                entries: e,
                ways: w
            }),
            "{e}x{w}"
        );
        assert!(format!("{e}x{w}").parse::<TlbGeometry>().is_err());
    }
    assert!(matches!(
        "131072x2".parse::<TlbGeometry>(),
        Err(TlbGeometryError::TooLarge {
            entries: 131072,
            ..
        })
    ));
}

#[test]
#[should_panic(expected = "invalid TLB geometry")]
fn tlb_new_refuses_an_unvalidated_geometry() {
    let _ = Tlb::new(TlbGeometry {
        entries: 12,
        ways: 4,
    });
}

// ---------------------------------------------------------------------------------------
// Lookup, fill and replacement.
// ---------------------------------------------------------------------------------------

#[test]
fn asid_tagging_and_global_entries() {
    let mut tlb = Tlb::new(TlbGeometry::default());
    tlb.insert(va(0x1000), 1, &tr(0, 0x111, RWAD));
    tlb.insert(va(0x2000), 1, &tr(0, 0x222, RWAD | PteFlags::G));
    assert!(tlb.lookup(va(0x1abc), 1, false).is_some());
    assert!(tlb.lookup(va(0x1abc), 2, false).is_none(), "other ASID");
    assert_eq!(
        tlb.lookup(va(0x2abc), 7, false).unwrap().pte.ppn(),
        0x222,
        "global"
    );
    assert!(tlb.lookup(va(0x3000), 1, false).is_none());
}

#[test]
fn superpage_entries_cover_their_whole_page_in_their_set() {
    let mut tlb = Tlb::new(TlbGeometry::default());
    // A 2 MiB page filled by an access at +0x3000 (set 3 of 16).
    let base = 0x4000_0000;
    tlb.insert(va(base + 0x3456), 1, &tr(1, 0x8_0000, RWAD));
    let e = tlb.lookup(va(base + 0x3000), 1, false).unwrap();
    assert_eq!(
        (e.vpn, e.level),
        (base >> 12, 1),
        "entry VPN is superpage-aligned"
    );
    // Another 4 KiB page of the superpage that indexes set 3 hits...
    assert!(tlb.lookup(va(base + 0x13_3000), 1, false).is_some());
    // ...one in another set misses (it would fill its own copy)...
    assert!(tlb.lookup(va(base + 0x4000), 1, false).is_none());
    // ...and nothing outside the superpage hits.
    assert!(tlb.lookup(va(base + MIB2 + 0x3000), 1, false).is_none());
    assert_eq!(
        e.translation().pa(va(base + 0x13_3456)),
        GuestPhysAddr(0x8000_0000 + 0x13_3456)
    );
}

#[test]
fn round_robin_replacement_within_a_set() {
    let mut tlb = Tlb::new(TlbGeometry::new(64, 4).unwrap());
    // VPNs 0, 16, 32, ... all index set 0 of 16.
    let vas: Vec<GuestVirtAddr> = (0..7u64).map(|i| va(i * 16 * KIB4)).collect();
    for (i, &v) in vas.iter().take(4).enumerate() {
        tlb.insert(v, 1, &tr(0, 0x100 + i as u64, RWAD));
    }
    assert_eq!(tlb.entries().count(), 4);
    tlb.insert(vas[4], 1, &tr(0, 0x104, RWAD));
    assert_eq!(tlb.entries().count(), 4, "the set holds 4");
    assert!(
        tlb.lookup(vas[0], 1, false).is_none(),
        "way 0 replaced first"
    );
    assert!(tlb.lookup(vas[4], 1, false).is_some());
    tlb.insert(vas[5], 1, &tr(0, 0x105, RWAD));
    assert!(tlb.lookup(vas[1], 1, false).is_none(), "then way 1");
    for v in [vas[2], vas[3], vas[4], vas[5]] {
        assert!(tlb.lookup(v, 1, false).is_some());
    }
    // Refilling a VA that is present replaces its entry in place.
    tlb.insert(vas[3], 1, &tr(0, 0x333, RWAD));
    assert_eq!(tlb.entries().count(), 4);
    assert_eq!(tlb.lookup(vas[3], 1, false).unwrap().pte.ppn(), 0x333);
    assert!(
        tlb.lookup(vas[2], 1, false).is_some(),
        "no eviction for a refill"
    );
    // Other sets were never touched.
    assert!(tlb.lookup(va(KIB4), 1, false).is_none());
}

#[test]
fn one_entry_tlb() {
    let mut tlb = Tlb::new("1x1".parse().unwrap());
    assert!(tlb.lookup(va(0x1000), 0, false).is_none());
    tlb.insert(va(0x1000), 0, &tr(0, 0x11, RWAD));
    assert_eq!(tlb.lookup(va(0x1fff), 0, false).unwrap().pte.ppn(), 0x11);
    tlb.insert(va(0x7000), 0, &tr(0, 0x77, RWAD));
    assert_eq!(tlb.entries().count(), 1);
    assert!(tlb.lookup(va(0x1000), 0, false).is_none(), "evicted");
    assert_eq!(tlb.lookup(va(0x7000), 0, false).unwrap().pte.ppn(), 0x77);
    tlb.insert(va(GIB1 + 0x5000), 0, &tr(2, 0x4_0000, RWAD | PteFlags::G));
    assert!(
        tlb.lookup(va(GIB1 + 0x3ff0_0000), 9, false).is_some(),
        "1 GiB, global"
    );
    assert_eq!(
        tlb.sfence_vma(Some(va(GIB1 + 0x1234)), Some(9)),
        0,
        "global kept"
    );
    assert_eq!(tlb.sfence_vma(Some(va(GIB1 + 0x1234)), None), 1);
    assert_eq!(tlb.entries().count(), 0);
}

#[test]
fn a_store_never_hits_an_entry_cached_with_d_clear() {
    let mut tlb = Tlb::new(TlbGeometry::default());
    let clean = PteFlags::R | PteFlags::W | PteFlags::A;
    tlb.insert(va(0x5000), 3, &tr(0, 0x55, clean));
    assert!(
        tlb.lookup(va(0x5000), 3, false).is_some(),
        "loads may use it"
    );
    assert!(
        tlb.lookup(va(0x5000), 3, true).is_none(),
        "a store must re-walk"
    );
    // The re-walk's fill replaces the clean copy instead of adding a second one.
    tlb.insert(va(0x5000), 3, &tr(0, 0x55, clean | PteFlags::D));
    assert_eq!(tlb.entries().count(), 1);
    assert!(tlb.lookup(va(0x5000), 3, true).is_some());
    // Same for a superpage entry.
    tlb.insert(va(MIB2 * 9 + 0x6000), 3, &tr(1, 0x200, clean));
    assert!(tlb.lookup(va(MIB2 * 9 + 0x6000), 3, true).is_none());
}

/// The full store path a hart follows: TLB miss → walk → fill; a load fills a D=0 entry;
/// the next store misses on it, re-walks, and the walker sets D in guest RAM.
#[test]
fn store_after_load_rewalks_and_sets_d_in_memory() {
    const RAM: u64 = 0x8000_0000;
    let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 16)]).unwrap();
    let v = 0x40_2000u64;
    let l2 = RAM + ((v >> 30) & 0x1ff) * 8;
    let l1 = RAM + 0x1000 + ((v >> 21) & 0x1ff) * 8;
    let l0 = GuestPhysAddr(RAM + 0x2000 + ((v >> 12) & 0x1ff) * 8);
    mem.write_u64(GuestPhysAddr(l2), Pte::new((RAM >> 12) + 1, PteFlags::V).0)
        .unwrap();
    mem.write_u64(GuestPhysAddr(l1), Pte::new((RAM >> 12) + 2, PteFlags::V).0)
        .unwrap();
    let flags = PteFlags::V | PteFlags::R | PteFlags::W | PteFlags::U;
    mem.write_u64(l0, Pte::new(0x9_9999, flags).0).unwrap();
    let satp = Satp::new(SatpMode::Sv39, 4, RAM >> 12);
    let mut tlb = Tlb::new(TlbGeometry::default());
    let mut c = MmuCounters::default();
    let translate = |access: AccessType, tlb: &mut Tlb, c: &mut MmuCounters| {
        let store = access == AccessType::Store;
        if let Some(e) = tlb.lookup(va(v), 4, store) {
            c.tlb_hits += 1;
            return e.translation();
        }
        c.tlb_misses += 1;
        let t = walk(&mem, satp, va(v), access, PrivCtx::USER, AdScheme::Svadu, c).unwrap();
        tlb.insert(va(v), 4, &t);
        t
    };
    translate(AccessType::Load, &mut tlb, &mut c);
    assert_eq!(mem.read_u64(l0).unwrap() & PteFlags::D.bits(), 0);
    translate(AccessType::Load, &mut tlb, &mut c);
    assert_eq!((c.tlb_hits, c.tlb_misses, c.walks), (1, 1, 1));
    let t = translate(AccessType::Store, &mut tlb, &mut c);
    assert_eq!(
        (c.tlb_hits, c.tlb_misses, c.walks),
        (1, 2, 2),
        "the store re-walked"
    );
    assert!(t.flags().contains(PteFlags::D));
    assert_eq!(Pte(mem.read_u64(l0).unwrap()), t.pte, "D is in guest RAM");
    translate(AccessType::Store, &mut tlb, &mut c);
    assert_eq!((c.tlb_hits, c.walks, c.ad_updates), (2, 2, 2));
    assert_eq!(tlb.entries().count(), 1);
}

// ---------------------------------------------------------------------------------------
// sfence.vma, by hand.
// ---------------------------------------------------------------------------------------

const BASE_2M: u64 = 0x4000_0000;
const BASE_1G: u64 = 0x80_0000_0000;

/// A TLB holding:
/// - `a1`: 4 KiB at 0x1000, ASID 1;  `a2`: 4 KiB at 0x1000, ASID 2;
/// - `g`: 4 KiB global at 0x5000 (filled under ASID 1);  `b1`: 4 KiB at 0x2000, ASID 1;
/// - `s1`: 2 MiB at `BASE_2M`, ASID 1, filled via +0x3000 (set 3);
/// - `sg`: 1 GiB global at `BASE_1G`, filled via +0x7000 (set 7).
fn fixture() -> (Tlb, HashMap<&'static str, Key>) {
    let mut tlb = Tlb::new(TlbGeometry::default());
    let fills: [(&str, u64, u16, Translation); 6] = [
        ("a1", 0x1000, 1, tr(0, 0xa1, RWAD)),
        ("a2", 0x1000, 2, tr(0, 0xa2, RWAD)),
        ("g", 0x5000, 1, tr(0, 0x99, RWAD | PteFlags::G)),
        ("b1", 0x2000, 1, tr(0, 0xb1, RWAD)),
        ("s1", BASE_2M + 0x3000, 1, tr(1, 0x200, RWAD)),
        (
            "sg",
            BASE_1G + 0x7000,
            1,
            tr(2, 0x4_0000, RWAD | PteFlags::G),
        ),
    ];
    let mut names = HashMap::new();
    for (name, v, asid, t) in fills {
        tlb.insert(va(v), asid, &t);
        let shift = 9 * u32::from(t.level);
        names.insert(name, ((v >> 12) >> shift << shift, t.level, asid, t.pte.0));
    }
    assert_eq!(tlb.entries().count(), 6);
    (tlb, names)
}

fn check_fence(rs1: Option<u64>, rs2: Option<u16>, gone: &[&str]) {
    let (mut tlb, names) = fixture();
    let n = tlb.sfence_vma(rs1.map(va), rs2);
    let mut want: Vec<_> = names
        .iter()
        .filter(|(k, _)| !gone.contains(k))
        .map(|(_, &e)| e)
        .collect();
    want.sort_unstable();
    assert_eq!(contents(&tlb), want, "sfence.vma {rs1:x?}, {rs2:?}");
    assert_eq!(n, gone.len(), "count for sfence.vma {rs1:x?}, {rs2:?}");
}

#[test]
fn sfence_x0_x0_flushes_everything() {
    check_fence(None, None, &["a1", "a2", "g", "b1", "s1", "sg"]);
}

#[test]
fn sfence_x0_asid_flushes_that_asid_except_global() {
    check_fence(None, Some(1), &["a1", "b1", "s1"]);
    check_fence(None, Some(2), &["a2"]);
    check_fence(None, Some(3), &[]);
}

#[test]
fn sfence_va_x0_flushes_that_page_in_every_asid_with_globals() {
    check_fence(Some(0x1234), None, &["a1", "a2"]);
    check_fence(Some(0x5fff), None, &["g"]);
    check_fence(Some(0x3000), None, &[]);
    // Superpage entries are found from any 4 KiB page they cover, in any set.
    check_fence(Some(BASE_2M + 0x1f_f000), None, &["s1"]);
    check_fence(Some(BASE_1G + 0x3fff_fff8), None, &["sg"]);
    check_fence(Some(BASE_2M + MIB2), None, &[]);
}

#[test]
fn sfence_va_asid_flushes_that_page_of_that_asid_except_global() {
    check_fence(Some(0x1000), Some(1), &["a1"]);
    check_fence(Some(0x1000), Some(2), &["a2"]);
    check_fence(Some(0x5000), Some(1), &[]);
    check_fence(Some(BASE_2M + 0x1_0000), Some(1), &["s1"]);
    check_fence(Some(BASE_2M + 0x1_0000), Some(2), &[]);
    check_fence(Some(BASE_1G + 0x1_0000), Some(1), &[]);
}

#[test]
fn sfence_with_a_non_canonical_va_invalidates_nothing() {
    // Entries are tagged with all 52 VPN bits, so an rs1 that is not a valid VA (here
    // 0x1000 with bit 62 set) matches no entry, as the spec requires ("no effect").
    check_fence(Some(0x1000 | 1 << 62), None, &[]);
}

// ---------------------------------------------------------------------------------------
// Property tests against predicates written from the spec.
// ---------------------------------------------------------------------------------------

/// Whether `sfence.vma rs1, rs2` must invalidate an entry mapping the `level` page at
/// 4 KiB-VPN `vpn`, filled under `asid`, global or not.
fn fence_hits(
    vpn: u64,
    level: u8,
    asid: u16,
    global: bool,
    rs1: Option<u64>,
    rs2: Option<u16>,
) -> bool {
    let page_bytes = KIB4 << (9 * u32::from(level));
    let maps_rs1 = match rs1 {
        None => true,
        Some(v) => {
            let start = vpn * KIB4;
            v >= start && v - start < page_bytes
        }
    };
    let space_ok = match rs2 {
        None => true,
        Some(a) => !global && asid == a,
    };
    maps_rs1 && space_ok
}

/// Whether a lookup of `v` under `asid` may be answered by `e` (any entry it returns must
/// satisfy this), for a store when `store`.
fn may_answer(e: &TlbEntry, v: u64, asid: u16, store: bool) -> bool {
    let page_bytes = KIB4 << (9 * u32::from(e.level));
    let start = e.vpn * KIB4;
    let covers = v >= start && v - start < page_bytes;
    let global = e.pte.0 & PteFlags::G.bits() != 0;
    let dirty = e.pte.0 & PteFlags::D.bits() != 0;
    covers && (global || e.asid == asid) && (!store || dirty)
}

#[derive(Debug, Clone)]
struct Fill {
    va: u64,
    asid: u16,
    level: u8,
    g: bool,
    d: bool,
}

fn fill() -> impl Strategy<Value = Fill> {
    (
        // A small VA space so that pages, sets and superpages collide.
        (0u64..4, 0u64..4, 0u64..64, 0u64..4096),
        0u16..3,
        prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|((gib, mib2, page, off), asid, level, g, d)| Fill {
            va: gib * GIB1 + mib2 * MIB2 + page * KIB4 + off,
            asid,
            level,
            g,
            d,
        })
}

fn geometry() -> impl Strategy<Value = TlbGeometry> {
    prop_oneof![
        Just("1x1"),
        Just("2x2"),
        Just("4x1"),
        Just("8x2"),
        Just("16x4"),
        Just("64x4"),
        Just("32x32")
    ]
    .prop_map(|s| s.parse().unwrap())
}

fn do_fill(tlb: &mut Tlb, f: &Fill) {
    let mut flags = PteFlags::R | PteFlags::A;
    flags.set(PteFlags::G, f.g);
    flags.set(PteFlags::D, f.d);
    flags.set(PteFlags::W, f.d);
    let ppn = (f.va >> 12) >> (9 * u32::from(f.level)) << (9 * u32::from(f.level));
    tlb.insert(va(f.va), f.asid, &tr(f.level, ppn, flags));
}

proptest! {
    #[test]
    fn sfence_invalidates_exactly_the_spec_set(
        g in geometry(),
        fills in prop::collection::vec(fill(), 0..80),
        rs1 in prop::option::of(prop_oneof![
            (0u64..4, 0u64..4, 0u64..64, 0u64..4096)
                .prop_map(|(a, b, c, d)| a * GIB1 + b * MIB2 + c * KIB4 + d),
            any::<u64>(),
        ]),
        rs2 in prop::option::of(0u16..3),
    ) {
        let mut tlb = Tlb::new(g);
        for f in &fills {
            do_fill(&mut tlb, f);
        }
        let before = contents(&tlb);
        let n = tlb.sfence_vma(rs1.map(va), rs2);
        let after = contents(&tlb);
        let want: Vec<_> = before
            .iter()
            .copied()
            .filter(|&(vpn, level, asid, pte)| {
                !fence_hits(vpn, level, asid, pte & PteFlags::G.bits() != 0, rs1, rs2)
            })
            .collect();
        prop_assert_eq!(&after, &want);
        prop_assert_eq!(n, before.len() - after.len());
    }

    /// Fences interleaved with fills, each checked against the spec: an `sfence.vma` with
    /// an address that looks in one set only while no superpage entry is cached (after
    /// fences and replacements have dropped them) must still invalidate exactly the
    /// spec's set.
    #[test]
    fn interleaved_fences_invalidate_exactly_the_spec_set(
        g in geometry(),
        ops in prop::collection::vec(
            prop_oneof![
                3 => fill().prop_map(Ok),
                1 => (
                    prop::option::of((0u64..4, 0u64..4, 0u64..64, 0u64..4096)
                        .prop_map(|(a, b, c, d)| a * GIB1 + b * MIB2 + c * KIB4 + d)),
                    prop::option::of(0u16..3),
                ).prop_map(Err),
            ],
            0..120,
        ),
    ) {
        let mut tlb = Tlb::new(g);
        for op in &ops {
            match op {
                Ok(f) => do_fill(&mut tlb, f),
                Err((rs1, rs2)) => {
                    let before = contents(&tlb);
                    let n = tlb.sfence_vma(rs1.map(va), *rs2);
                    let after = contents(&tlb);
                    let want: Vec<_> = before
                        .iter()
                        .copied()
                        .filter(|&(vpn, level, asid, pte)| {
                            !fence_hits(vpn, level, asid, pte & PteFlags::G.bits() != 0, *rs1, *rs2)
                        })
                        .collect();
                    prop_assert_eq!(&after, &want);
                    prop_assert_eq!(n, before.len() - after.len());
                }
            }
        }
    }

    #[test]
    fn lookups_are_sound_fills_are_found_and_sets_never_overflow(
        g in geometry(),
        ops in prop::collection::vec((fill(), any::<bool>(), any::<bool>()), 1..120),
    ) {
        let mut tlb = Tlb::new(g);
        for (f, probe_store, probe_only) in &ops {
            if !probe_only {
                do_fill(&mut tlb, f);
                // The entry just filled answers for the address that filled it.
                let e = tlb.lookup(va(f.va), f.asid, false).copied();
                prop_assert!(e.is_some(), "fill of {:x?} not found", f);
                prop_assert_eq!(e.unwrap().level, f.level);
                // A store may use it exactly when it is dirty (another, dirty, entry that
                // also covers the address may answer instead).
                match tlb.lookup(va(f.va), f.asid, true) {
                    Some(e) => prop_assert!(may_answer(e, f.va, f.asid, true)),
                    None => prop_assert!(!f.d, "dirty fill of {:x?} not found", f),
                }
            }
            let r = tlb.lookup(va(f.va), f.asid, *probe_store).copied();
            if let Some(e) = r {
                prop_assert!(may_answer(&e, f.va, f.asid, *probe_store), "{:x?} for {:x?}", e, f);
            }
            // Capacity: never more than `entries` in all, nor `ways` in a set.
            prop_assert!(tlb.entries().count() <= g.entries);
        }
        // With only 4 KiB entries the set of each entry is known: check every set.
        let mut small = Tlb::new(g);
        for (f, _, _) in &ops {
            do_fill(&mut small, &Fill { level: 0, ..f.clone() });
        }
        let mut per_set: HashMap<u64, usize> = HashMap::new();
        for e in small.entries() {
            *per_set.entry(e.vpn % g.sets() as u64).or_default() += 1;
        }
        prop_assert!(per_set.values().all(|&n| n <= g.ways), "{:?}", per_set);
    }
}
