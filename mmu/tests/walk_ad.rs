//! A/D exactness of the walker (*step 9* of §"Virtual Address Translation Process"), the
//! Svade scheme, Bare mode, and the compare-and-swap re-walk under concurrent PTE changes.
//!
//! The spec's rules checked here, as the tests state them:
//! - Svadu: A is set on a successful access with A=0; D on a successful store with D=0;
//!   nothing else in the PTE changes (the update rewrites the whole PTE atomically, so
//!   RSW, G, PBMT and the PPN must come back as they were); non-leaf PTEs are never written;
//!   nothing is written by an access that faults, nor when the bits are already set.
//! - Svade: a page fault when A=0, or on a store when D=0; no write ever.
//! - "If the comparison fails, return to step 2": a walker never stores A/D into a PTE
//!   whose value changed since it loaded it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use devices::{AmoOp, GuestMemory, GuestPhysAddr};
use mmu::{
    walk, AccessType, AdScheme, GuestVirtAddr, MmuCounters, PrivCtx, Pte, PteFlags, Satp, SatpMode,
    WalkFault,
};

const RAM: u64 = 0x8000_0000;
const VA: u64 = 0x7f_c012_3000;

/// One chain of tables mapping `VA` with a leaf at `level`.
struct Chain {
    mem: GuestMemory,
    satp: Satp,
    /// Addresses of the pointer PTEs, root first.
    pointers: Vec<GuestPhysAddr>,
    leaf: GuestPhysAddr,
}

impl Chain {
    fn new(mode: SatpMode, level: usize, leaf: u64) -> Self {
        let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).unwrap();
        let va = sign_extend(VA, mode.va_bits());
        let mut table = RAM;
        let mut pointers = Vec::new();
        for l in (level + 1..mode.levels()).rev() {
            let next = table + 0x1000;
            let slot = GuestPhysAddr(table + ((va >> (12 + 9 * l)) & 0x1ff) * 8);
            mem.write_u64(slot, Pte::new(next >> 12, PteFlags::V).0)
                .unwrap();
            pointers.push(slot);
            table = next;
        }
        let leaf_pa = GuestPhysAddr(table + ((va >> (12 + 9 * level)) & 0x1ff) * 8);
        mem.write_u64(leaf_pa, leaf).unwrap();
        Self {
            mem,
            satp: Satp::new(mode, 5, RAM >> 12),
            pointers,
            leaf: leaf_pa,
        }
    }

    fn va(&self) -> GuestVirtAddr {
        GuestVirtAddr(sign_extend(VA, self.satp.mode().unwrap().va_bits()))
    }

    fn leaf(&self) -> u64 {
        self.mem.read_u64(self.leaf).unwrap()
    }

    fn walk(
        &self,
        access: AccessType,
        ctx: PrivCtx,
        ad: AdScheme,
        c: &mut MmuCounters,
    ) -> Result<mmu::Translation, WalkFault> {
        walk(&self.mem, self.satp, self.va(), access, ctx, ad, c)
    }

    fn pointers_untouched(&self) -> bool {
        self.pointers.iter().all(|&p| {
            let v = self.mem.read_u64(p).unwrap();
            v & 0xff == PteFlags::V.bits()
        })
    }
}

fn sign_extend(va: u64, bits: u32) -> u64 {
    let s = 64 - bits;
    (((va << s) as i64) >> s) as u64
}

const A: u64 = PteFlags::A.bits();
const D: u64 = PteFlags::D.bits();

/// A leaf value at `level` with `flags` plus bits the update must preserve: G, RSW=0b10,
/// PBMT=NC, and a PPN aligned for the level.
fn leaf_value(level: usize, flags: PteFlags) -> u64 {
    let ppn = (0x1_2340_0000u64 >> (9 * level)) << (9 * level);
    Pte::new(ppn, flags | PteFlags::V | PteFlags::G).0 | (0b10 << 8) | (1 << 61)
}

fn all_levels() -> impl Iterator<Item = (SatpMode, usize)> {
    [SatpMode::Sv39, SatpMode::Sv48]
        .into_iter()
        .flat_map(|m| (0..m.levels()).map(move |l| (m, l)))
}

const RWXU: PteFlags = PteFlags::R
    .union(PteFlags::W)
    .union(PteFlags::X)
    .union(PteFlags::U);

#[test]
fn svadu_load_and_fetch_set_exactly_a_at_every_level() {
    for (mode, level) in all_levels() {
        for access in [AccessType::Load, AccessType::Fetch] {
            let raw = leaf_value(level, RWXU);
            let ch = Chain::new(mode, level, raw);
            let mut c = MmuCounters::default();
            let t = ch
                .walk(access, PrivCtx::USER, AdScheme::Svadu, &mut c)
                .unwrap();
            assert_eq!(usize::from(t.level), level);
            assert_eq!(ch.leaf(), raw | A, "{mode:?} L{level} {access:?}");
            assert_eq!(t.pte.0, raw | A);
            assert_eq!(c.ad_updates, 1);
            assert!(ch.pointers_untouched());
        }
    }
}

#[test]
fn svadu_store_sets_a_and_d_at_every_level() {
    for (mode, level) in all_levels() {
        let raw = leaf_value(level, RWXU);
        let ch = Chain::new(mode, level, raw);
        let mut c = MmuCounters::default();
        let t = ch
            .walk(AccessType::Store, PrivCtx::USER, AdScheme::Svadu, &mut c)
            .unwrap();
        assert_eq!(ch.leaf(), raw | A | D, "{mode:?} L{level}");
        assert_eq!(t.pte.0, raw | A | D);
        assert_eq!(c.ad_updates, 1, "one compare-and-swap sets both");
        assert!(ch.pointers_untouched());
    }
}

#[test]
fn svadu_store_to_accessed_page_sets_only_d() {
    let raw = leaf_value(0, RWXU | PteFlags::A);
    let ch = Chain::new(SatpMode::Sv39, 0, raw);
    let mut c = MmuCounters::default();
    ch.walk(AccessType::Store, PrivCtx::USER, AdScheme::Svadu, &mut c)
        .unwrap();
    assert_eq!(ch.leaf(), raw | D);
}

#[test]
fn svadu_writes_nothing_when_bits_already_set() {
    let cases = [
        (PteFlags::A, AccessType::Load),
        (PteFlags::A, AccessType::Fetch),
        (PteFlags::A | PteFlags::D, AccessType::Store),
        (PteFlags::A | PteFlags::D, AccessType::Load),
    ];
    for (bits, access) in cases {
        let raw = leaf_value(0, RWXU | bits);
        let ch = Chain::new(SatpMode::Sv48, 0, raw);
        let mut c = MmuCounters::default();
        let t = ch
            .walk(access, PrivCtx::USER, AdScheme::Svadu, &mut c)
            .unwrap();
        assert_eq!(t.pte.0, raw);
        assert_eq!(ch.leaf(), raw, "{bits:?} {access:?}");
        assert_eq!(c.ad_updates, 0);
    }
}

#[test]
fn a_load_never_sets_d() {
    let raw = leaf_value(1, RWXU | PteFlags::A);
    let ch = Chain::new(SatpMode::Sv39, 1, raw);
    let mut c = MmuCounters::default();
    for _ in 0..3 {
        ch.walk(AccessType::Load, PrivCtx::USER, AdScheme::Svadu, &mut c)
            .unwrap();
    }
    assert_eq!(ch.leaf(), raw);
    assert_eq!(c.ad_updates, 0);
}

#[test]
fn faulting_accesses_write_nothing() {
    let s_no_sum = PrivCtx {
        user: false,
        sum: false,
        mxr: false,
        mtag: false,
    };
    let s_sum = PrivCtx::KERNEL_UACCESS;
    let user = PrivCtx::USER;
    // (leaf level, leaf flags, access, privilege): each must page-fault.
    let cases: &[(usize, PteFlags, AccessType, PrivCtx)] = &[
        (0, PteFlags::R | PteFlags::U, AccessType::Store, user),
        (0, PteFlags::R | PteFlags::U, AccessType::Fetch, user),
        (0, PteFlags::X | PteFlags::U, AccessType::Load, user),
        (0, RWXU, AccessType::Load, s_no_sum),
        (0, RWXU, AccessType::Store, s_no_sum),
        (0, RWXU, AccessType::Fetch, s_sum),
        (
            0,
            PteFlags::R | PteFlags::W | PteFlags::X,
            AccessType::Load,
            user,
        ),
        (1, PteFlags::R | PteFlags::X, AccessType::Store, s_no_sum),
    ];
    for &(level, flags, access, ctx) in cases {
        let raw = leaf_value(level, flags);
        let ch = Chain::new(SatpMode::Sv39, level, raw);
        let mut c = MmuCounters::default();
        let r = ch.walk(access, ctx, AdScheme::Svadu, &mut c);
        assert_eq!(r, Err(WalkFault::PageFault), "{flags:?} {access:?} {ctx:?}");
        assert_eq!(
            ch.leaf(),
            raw,
            "no A/D on a fault: {flags:?} {access:?} {ctx:?}"
        );
        assert_eq!(c.ad_updates, 0);
    }
    // A misaligned 2 MiB superpage with A=D=0, and one with a reserved bit.
    for raw in [
        leaf_value(1, RWXU) | (1 << 10),
        leaf_value(1, RWXU) | (1 << 55),
        leaf_value(1, PteFlags::W | PteFlags::U) & !PteFlags::R.bits(),
    ] {
        let ch = Chain::new(SatpMode::Sv39, 1, raw);
        let mut c = MmuCounters::default();
        let r = ch.walk(AccessType::Store, PrivCtx::USER, AdScheme::Svadu, &mut c);
        assert_eq!(r, Err(WalkFault::PageFault));
        assert_eq!(ch.leaf(), raw);
    }
}

#[test]
fn svade_faults_exactly_when_a_or_needed_d_is_clear() {
    for (mode, level) in all_levels() {
        for a in [false, true] {
            for d in [false, true] {
                for access in [AccessType::Fetch, AccessType::Load, AccessType::Store] {
                    let mut flags = RWXU;
                    flags.set(PteFlags::A, a);
                    flags.set(PteFlags::D, d);
                    let raw = leaf_value(level, flags);
                    let ch = Chain::new(mode, level, raw);
                    let mut c = MmuCounters::default();
                    let r = ch.walk(access, PrivCtx::USER, AdScheme::Svade, &mut c);
                    let must_fault = !a || (access == AccessType::Store && !d);
                    assert_eq!(
                        r.is_err(),
                        must_fault,
                        "{mode:?} L{level} A={a} D={d} {access:?}: {r:?}"
                    );
                    if let Err(e) = r {
                        assert_eq!(e, WalkFault::PageFault);
                    }
                    assert_eq!(ch.leaf(), raw, "Svade never writes");
                    assert_eq!(c.ad_updates, 0);
                }
            }
        }
    }
}

#[test]
fn bare_mode_is_identity_below_2_pow_56_and_access_faults_above() {
    let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).unwrap();
    let satp = Satp::new(SatpMode::Bare, 0, 0);
    let mut c = MmuCounters::default();
    for va in [0, 0x8000_1234, (1 << 56) - 1] {
        let t = walk(
            &mem,
            satp,
            GuestVirtAddr(va),
            AccessType::Store,
            PrivCtx::USER,
            AdScheme::Svade,
            &mut c,
        )
        .unwrap();
        assert_eq!(t.pa(GuestVirtAddr(va)), GuestPhysAddr(va));
    }
    for va in [1 << 56, 0x0100_0000_8000_0000, u64::MAX] {
        let r = walk(
            &mem,
            satp,
            GuestVirtAddr(va),
            AccessType::Load,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        );
        assert_eq!(
            r,
            Err(WalkFault::AccessFault),
            "{va:#x} has no physical address"
        );
    }
    assert_eq!(c.pte_loads, 0);
}

/// Generation `k` of the leaf PTE in the concurrency test: PPN `0x100 + k`, R/W/U, A=D=0;
/// every fourth generation is invalid (V=0) with the same other bits.
fn generation(k: u64) -> u64 {
    let valid = if k % 4 == 3 {
        PteFlags::empty()
    } else {
        PteFlags::V
    };
    Pte::new(0x100 + k, valid | PteFlags::R | PteFlags::W | PteFlags::U).0
}

/// Step 9 under contention. A "kernel" thread keeps replacing the leaf PTE with a new
/// generation (a new PPN, A=D=0, sometimes V=0) using an atomic swap, while two walker
/// threads translate the page, one loading and one storing, under Svadu.
///
/// - Every value the kernel swaps out must be the generation it last swapped in, plus at
///   most A or A|D. Anything else means a walker stored A/D over a PTE that had changed
///   since it loaded it (a stale PPN came back, or A appeared on an invalid PTE).
/// - Every successful translation carries a generation that was really written, with A
///   (and D for the store), and never an invalid one.
/// - Once a walker's store has set D on a generation, D stays set on it until the kernel
///   replaces it or clears D (the loading walker's own compare-and-swap cannot wipe it).
///
/// Whether a compare-and-swap actually fails during the run depends on thread timing (on a
/// loaded machine the threads may barely overlap); the count is printed. The re-walk path
/// itself is tested deterministically by the `step9_*` unit tests in `walk.rs`.
#[test]
fn concurrent_pte_changes_never_get_stale_ad_writes() {
    const MIN_FLIPS: u64 = 20_000;
    const MIN_SUCCESSES: u64 = 2_000;
    // Long enough for the three threads to overlap on a loaded two-core machine.
    const MIN_RUN: Duration = Duration::from_millis(1500);
    let ch = Chain::new(SatpMode::Sv39, 0, generation(0));
    let stop = AtomicBool::new(false);
    let walks = [AtomicU64::new(0), AtomicU64::new(0)];
    let successes = [AtomicU64::new(0), AtomicU64::new(0)];
    let rewalks = AtomicU64::new(0);
    // A sequence count around each kernel swap or clear: odd while one is under way.
    let kernel_ops = AtomicU64::new(0);
    let ch = &ch;

    std::thread::scope(|s| {
        let walkers: Vec<_> = [AccessType::Load, AccessType::Store]
            .into_iter()
            .enumerate()
            .map(|(i, access)| {
                let (stop, walks, successes, rewalks, kernel_ops) =
                    (&stop, &walks, &successes, &rewalks, &kernel_ops);
                s.spawn(move || {
                    let mut c = MmuCounters::default();
                    let mut ok = 0u64;
                    let mut calls = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        calls += 1;
                        let ops_before = kernel_ops.load(Ordering::SeqCst);
                        let r = ch.walk(access, PrivCtx::USER, AdScheme::Svadu, &mut c);
                        walks[i].fetch_add(1, Ordering::Relaxed);
                        let Ok(t) = r else { continue };
                        ok += 1;
                        successes[i].fetch_add(1, Ordering::Relaxed);
                        let k = t.pte.ppn().wrapping_sub(0x100);
                        assert_eq!(
                            t.pte.0 & !(A | D),
                            generation(k),
                            "translation of a generation never written: {t:?}"
                        );
                        assert!(t.pte.is_valid());
                        assert!(t.pte.flags().contains(PteFlags::A));
                        if access == AccessType::Store {
                            assert!(t.pte.flags().contains(PteFlags::D));
                        }
                        // If no kernel operation overlapped the walk and this read, the PTE is still
                        // what the walk left (the other walker can only add bits already
                        // set, or D, which it cannot: it loads), so no D was lost.
                        let now = ch.mem.load_u64(ch.leaf, Ordering::SeqCst).unwrap();
                        if ops_before % 2 == 0
                            && kernel_ops.load(Ordering::SeqCst) == ops_before
                            && access == AccessType::Store
                        {
                            assert_eq!(now, t.pte.0, "PTE changed behind the walker");
                        }
                    }
                    rewalks.fetch_add(c.walks - calls, Ordering::Relaxed);
                    ok
                })
            })
            .collect();

        // Stops the walkers when this thread leaves the scope, also by a failed assertion
        // (else the scope would wait for them forever).
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let stop_guard = StopOnDrop(&stop);

        let started = Instant::now();
        let mut k = 0u64;
        let mut ops = 0u64;
        while k < MIN_FLIPS
            || started.elapsed() < MIN_RUN
            || successes
                .iter()
                .any(|n| n.load(Ordering::Relaxed) < MIN_SUCCESSES)
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "walkers starved: walks {walks:?}, successes {successes:?}"
            );
            ops += 1;
            kernel_ops.fetch_add(1, Ordering::SeqCst);
            // Alternate a new generation (an unmap/remap) with clearing A and D of the
            // current one (page aging), so that walkers keep having to update.
            let (old, cur) = if ops % 2 == 1 {
                k += 1;
                let old = ch.mem.amo_u64(ch.leaf, AmoOp::Swap, generation(k)).unwrap();
                (old, generation(k - 1))
            } else {
                let old = ch.mem.amo_u64(ch.leaf, AmoOp::And, !(A | D)).unwrap();
                (old, generation(k))
            };
            kernel_ops.fetch_add(1, Ordering::SeqCst);
            let added = old & !cur;
            assert_eq!(old & cur, cur, "op {ops}: {old:#x} is not {cur:#x}+A/D");
            assert!(
                added == 0 || added == A || added == A | D,
                "op {ops}: walker wrote {added:#x} into {cur:#x}"
            );
            if cur & PteFlags::V.bits() == 0 {
                assert_eq!(added, 0, "A/D written into an invalid PTE");
            }
        }
        drop(stop_guard);
        let ok: Vec<u64> = walkers.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(ok.iter().all(|&n| n >= MIN_SUCCESSES), "{ok:?}");
        eprintln!(
            "{k} generations, walks {walks:?}, successes {ok:?}, re-walks after a failed \
             compare-and-swap: {}",
            rewalks.load(Ordering::Relaxed)
        );
    });
}
