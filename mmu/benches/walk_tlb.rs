//! Criterion benches of the MMU's fast and slow paths, in host nanoseconds:
//! - `tlb_hit`: `Tlb::lookup` hitting in a full 64x4 TLB plus the permission re-check a hart
//!   does on every hit (`check_leaf_permission`);
//! - `walk_4k/{sv39,sv48}`: a complete walk to a 4 KiB leaf whose A and D are already set
//!   (3 or 4 acquire PTE loads, no compare-and-swap);
//! - `walk_4k_sets_ad/sv39`: the same walk for a store to a leaf with A=D=0, so step 9's
//!   compare-and-swap runs (the PTE is reset with a plain store before each walk, which is
//!   included in the time).
//!
//! Run: `cargo bench -p mmu -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_main, Criterion};
use devices::{GuestMemory, GuestPhysAddr};
use mmu::{
    check_leaf_permission, walk, AccessType, AdScheme, GuestVirtAddr, MmuCounters, PrivCtx, Pte,
    PteFlags, Satp, SatpMode, Tlb, TlbGeometry, Translation,
};

const RAM: u64 = 0x8000_0000;
const VA: u64 = 0x12_3456_7000;

/// Maps `VA` to a 4 KiB page with `leaf_flags` through a fresh chain of `levels` tables at
/// the start of RAM. Returns `satp` and the leaf PTE's address.
fn map_4k(mem: &GuestMemory, mode: SatpMode, leaf_flags: PteFlags) -> (Satp, GuestPhysAddr) {
    let levels = mode.levels() as u64;
    let mut table = RAM;
    for level in (1..levels).rev() {
        let next = table + 0x1000;
        let slot = table + ((VA >> (12 + 9 * level)) & 0x1ff) * 8;
        mem.write_u64(GuestPhysAddr(slot), Pte::new(next >> 12, PteFlags::V).0)
            .unwrap();
        table = next;
    }
    let leaf = GuestPhysAddr(table + ((VA >> 12) & 0x1ff) * 8);
    mem.write_u64(leaf, Pte::new(0x9_0000, leaf_flags | PteFlags::V).0)
        .unwrap();
    (Satp::new(mode, 1, RAM >> 12), leaf)
}

fn ram() -> GuestMemory {
    GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).unwrap()
}

fn bench_tlb_hit(c: &mut Criterion) {
    let mut tlb = Tlb::new(TlbGeometry::default());
    let flags = PteFlags::V | PteFlags::R | PteFlags::W | PteFlags::U | PteFlags::A | PteFlags::D;
    let vas: Vec<GuestVirtAddr> = (0..64u64).map(|i| GuestVirtAddr(VA + i * 0x1000)).collect();
    for (i, &va) in vas.iter().enumerate() {
        let t = Translation {
            level: 0,
            pte: Pte::new(0x90000 + i as u64, flags),
            pte_addr: GuestPhysAddr(RAM + 8 * i as u64),
        };
        tlb.insert(va, 1, &t);
    }
    assert_eq!(tlb.entries().count(), 64, "the TLB is full");
    let mut i = 0usize;
    c.bench_function("tlb_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 63;
            let va = black_box(vas[i]);
            let e = tlb.lookup(va, 1, false).expect("hit");
            black_box(check_leaf_permission(
                e.pte.flags(),
                AccessType::Load,
                PrivCtx::USER,
            ))
        })
    });
}

fn bench_walk(c: &mut Criterion) {
    let mut g = c.benchmark_group("walk_4k");
    for mode in [SatpMode::Sv39, SatpMode::Sv48] {
        let mem = ram();
        let flags = PteFlags::R | PteFlags::W | PteFlags::U | PteFlags::A | PteFlags::D;
        let (satp, _) = map_4k(&mem, mode, flags);
        let mut counters = MmuCounters::default();
        g.bench_function(mode.name(), |b| {
            b.iter(|| {
                walk(
                    &mem,
                    satp,
                    black_box(GuestVirtAddr(VA + 0x123)),
                    AccessType::Load,
                    PrivCtx::USER,
                    AdScheme::Svadu,
                    &mut counters,
                )
                .expect("mapped")
            })
        });
        assert_eq!(counters.ad_updates, 0, "A and D were already set");
    }
    g.finish();

    let mut g = c.benchmark_group("walk_4k_sets_ad");
    let mem = ram();
    let (satp, leaf) = map_4k(
        &mem,
        SatpMode::Sv39,
        PteFlags::R | PteFlags::W | PteFlags::U,
    );
    let clean = mem.read_u64(leaf).unwrap();
    let mut counters = MmuCounters::default();
    g.bench_function("sv39", |b| {
        b.iter(|| {
            mem.write_u64(leaf, clean).unwrap();
            walk(
                &mem,
                satp,
                black_box(GuestVirtAddr(VA)),
                AccessType::Store,
                PrivCtx::USER,
                AdScheme::Svadu,
                &mut counters,
            )
            .expect("mapped")
        })
    });
    assert_eq!(
        counters.ad_updates, counters.walks,
        "every walk set A and D"
    );
    g.finish();
}

/// The bench group (in a private module: `criterion_group!` makes an undocumented `pub fn`).
mod group {
    use super::{bench_tlb_hit, bench_walk};
    use criterion::criterion_group;

    criterion_group!(benches, bench_tlb_hit, bench_walk);
}

criterion_main!(group::benches);
