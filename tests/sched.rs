//! `--sched deterministic --seed N`: a seeded scheduler picks the next thread and the
//! length of its quantum at every scheduling point, and the guest clocks are virtual, so
//! a run is a pure function of (image, arguments, options, seed). These tests hold the
//! multi-threaded images to that: the same seed twice gives bit-identical stdout, hart
//! counters, modelled cycles and kernel counters; different seeds give different
//! interleavings (different instruction counts: the spin and wait paths differ) and,
//! for these race-free programs, still qemu-riscv64's output — on one hart and on
//! several (`--harts`), where the seed also decides which hart runs at each scheduling
//! point. Parallel mode on 2 and 4 harts (one host thread each) must give qemu's output
//! too.

mod common;

use common::*;
use dirtybit::RunOptions;

fn deterministic(seed: u64) -> RunOptions {
    RunOptions {
        mem_bytes: 512 << 20,
        sched: "deterministic".into(),
        seed,
        ..RunOptions::default()
    }
}

/// Runs `name` with `opts` and checks it against qemu-riscv64's output and the page audit.
fn run_checked(name: &str, opts: &RunOptions) -> Outcome {
    let what = format!(
        "{name} ({} harts, {} seed {})",
        opts.harts, opts.sched, opts.seed
    );
    run_against(name, opts, expected(name), &what)
}

fn run_seeded(name: &str, seed: u64) -> Outcome {
    run_checked(name, &deterministic(seed))
}

#[test]
fn the_same_seed_replays_the_same_run_bit_for_bit() {
    for name in ["pthreads", "threadsys"] {
        let a = run_seeded(name, 7);
        let b = run_seeded(name, 7);
        assert_eq!(a.stdout, b.stdout, "{name}");
        assert_eq!(
            a.report.hart, b.report.hart,
            "{name}: hart counters and cycles"
        );
        assert_eq!(
            a.report.kernel, b.report.kernel,
            "{name}: kernel counters, kernel cycles"
        );
    }
}

#[test]
fn different_seeds_interleave_differently_and_the_output_stays_right() {
    let instret: Vec<u64> = (1..=4)
        .map(|seed| run_seeded("pthreads", seed).report.hart.instret)
        .collect();
    let mut distinct = instret.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() > 1,
        "four seeds ran the same interleaving: {instret:?}"
    );
}

#[test]
fn a_bad_scheduler_name_is_refused() {
    let opts = RunOptions {
        sched: "random".into(),
        ..RunOptions::default()
    };
    let e = opts.kernel_config().unwrap_err().to_string();
    assert!(e.contains("expected parallel or deterministic"), "{e}");
}

#[test]
fn pthreads_gives_qemus_output_on_1_2_and_4_harts_in_both_modes() {
    for harts in [1, 2, 4] {
        for sched in ["parallel", "deterministic"] {
            let opts = RunOptions {
                harts,
                sched: sched.into(),
                seed: 5,
                ..deterministic(0)
            };
            let o = run_checked("pthreads", &opts);
            assert_eq!(o.report.per_hart.len(), harts);
            if harts > 1 {
                let busy = o.report.per_hart.iter().filter(|h| h.instret > 0).count();
                assert!(
                    busy > 1,
                    "{harts} harts, {sched}: only one hart ran guest code"
                );
            }
        }
    }
}

#[test]
fn threads_and_processes_fault_and_map_without_the_kernel_lock_on_4_harts() {
    // Parallel mode on four harts: user faults are handled on the hart, under the read
    // side of the mmap_lock (threads of one process at once) — no longer limited to two
    // harts now that frames are freed only after their shootdown — and so are mmap,
    // munmap and madvise, under the mmap_lock alone; every page still holds what its
    // worker wrote (the workload checks each word), the page audit is clean, and the
    // output is qemu's.
    let opts = RunOptions {
        harts: 4,
        sched: "parallel".into(),
        ..deterministic(0)
    };
    let o = run_checked("faults", &opts);
    let k = &o.report.kernel;
    assert!(
        k.unlocked_faults > 0 && k.unlocked_faults <= k.page_faults,
        "no fault was handled without the kernel lock: {k:?}"
    );
    assert!(
        k.unlocked_syscalls > 0 && k.unlocked_syscalls <= k.syscalls,
        "no memory-map call was handled without the kernel lock: {k:?}"
    );
    // Deterministic mode keeps every fault and call under the kernel lock (a seed must
    // replay bit for bit).
    let o = run_checked(
        "faults",
        &RunOptions {
            harts: 4,
            ..deterministic(9)
        },
    );
    let k = &o.report.kernel;
    assert_eq!((k.unlocked_faults, k.unlocked_syscalls), (0, 0));
}

#[test]
fn several_harts_replay_bit_for_bit_with_the_same_seed() {
    for name in ["pthreads", "threadsys"] {
        let opts = |seed| RunOptions {
            harts: 2,
            ..deterministic(seed)
        };
        let a = run_checked(name, &opts(11));
        let b = run_checked(name, &opts(11));
        assert_eq!(
            a.report.per_hart, b.report.per_hart,
            "{name}: per-hart counters"
        );
        assert_eq!(a.report.kernel, b.report.kernel, "{name}: kernel counters");
        assert!(
            a.report.kernel.baton_switches > 0,
            "{name}: the harts took turns"
        );
        let c = run_checked(name, &opts(12));
        assert_ne!(
            a.report.per_hart, c.report.per_hart,
            "{name}: seeds 11 and 12 interleaved the harts identically"
        );
    }
}

#[test]
fn a_bad_hart_count_is_refused() {
    for harts in [0, 65] {
        let opts = RunOptions {
            harts,
            ..RunOptions::default()
        };
        let e = opts.kernel_config().unwrap_err().to_string();
        assert!(e.contains("--harts"), "{e}");
    }
}
