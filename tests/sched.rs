//! `--sched deterministic --seed N`: a seeded scheduler picks the next thread and the
//! length of its quantum at every scheduling point, and the guest clocks are virtual, so
//! a run is a pure function of (image, arguments, options, seed). These tests hold the
//! multi-threaded images to that: the same seed twice gives bit-identical stdout, hart
//! counters, modelled cycles and kernel counters; different seeds give different
//! interleavings (different instruction counts: the spin and wait paths differ) and,
//! for these race-free programs, still qemu-riscv64's output.

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

fn run_seeded(name: &str, seed: u64) -> Outcome {
    let o = run_with(&deterministic(seed), &image(name), &args_of(name));
    let (want_out, want_status) = expected(name);
    assert!(
        o.stdout == want_out,
        "{name} seed {seed}: stdout differs from qemu-riscv64's\n{}",
        first_diff(&o.stdout, &want_out)
    );
    assert_eq!(o.code, want_status, "{name} seed {seed}: exit status");
    let k = &o.report.kernel;
    assert_eq!(
        (k.frames_leaked, k.page_audit_errors),
        (0, 0),
        "{name} seed {seed}: page audit"
    );
    o
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
