//! Dirty COW (CVE-2016-5195) for real: `guest/bin/dirtycow` is the public proof of
//! concept's shape — one thread loops `madvise(MADV_DONTNEED)` on a read-only
//! `MAP_PRIVATE` mapping of a read-only file, another writes through `/proc/self/mem` —
//! and only the kernel decides whether the file changes. The race needs another thread
//! to run between `faultin_page()` and the retried `follow_page_mask()` in
//! `__get_user_pages()`: the kernel's `cond_resched()` there stops the write and
//! re-issues it (see `guestos::percpu`).
//!
//! - `--gup dirtycow`: the file is modified, in deterministic mode (fixed seeds; the run
//!   is a pure function of the seed, so the number of writes it takes is too) and in
//!   parallel mode on 2 harts (two host threads really racing).
//! - `foll-cow` and `modern`: never, with the same seeds, and in a parallel stress run of
//!   many thousands of racing writes whose calls did stop at `cond_resched()`.

mod common;

use common::*;
use dirtybit::RunOptions;

const ORIGINAL: &str = "file: ORIGINAL-CONTENT-0123456789\n";
const MODIFIED: &str = "file: DIRTYCOW-CONTENT-0123456789\n";

/// Runs the proof of concept with `writes` iterations; returns `(stdout, report)` after
/// checking the exit status and the page audit.
fn dirtycow(opts: &RunOptions, writes: u32) -> (String, guestos::RunReport) {
    let what = format!(
        "--gup {} --sched {} --seed {} --harts {}",
        opts.gup, opts.sched, opts.seed, opts.harts
    );
    let o = run_with(opts, &image("dirtycow"), &[writes.to_string()]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.code, 0, "{what}: exit status; stdout:\n{out}");
    assert_page_audit_clean(&o, &what);
    (out, o.report)
}

fn opts(gup: &str, sched: &str, seed: u64, harts: usize) -> RunOptions {
    RunOptions {
        mem_bytes: 256 << 20,
        gup: gup.into(),
        sched: sched.into(),
        seed,
        harts,
        ..RunOptions::default()
    }
}

/// The number of writes the PoC reports for a modified file.
fn writes_to_modify(out: &str) -> Option<u32> {
    let line = out.lines().next()?;
    let n = line
        .strip_prefix("dirtycow: file modified after ")?
        .strip_suffix(" writes")?;
    n.parse().ok()
}

#[test]
fn dirtycow_generation_lets_the_race_write_the_file_in_deterministic_mode() {
    for harts in [1, 2] {
        for seed in 1..=4 {
            let o = opts("dirtycow", "deterministic", seed, harts);
            let (out, report) = dirtycow(&o, 5000);
            let n = writes_to_modify(&out)
                .unwrap_or_else(|| panic!("seed {seed}, {harts} harts: not modified:\n{out}"));
            assert!(out.ends_with(MODIFIED), "seed {seed}: {out}");
            assert!(report.kernel.resched_stops > 0);
            // A replay: the same seed takes the same number of writes, bit for bit.
            let (again, report2) = dirtycow(&o, 5000);
            assert_eq!(again, out, "seed {seed}, {harts} harts: replay");
            assert_eq!(
                report2.per_hart, report.per_hart,
                "seed {seed}: replay counters"
            );
            eprintln!("dirtycow, {harts} hart(s), seed {seed}: modified after {n} writes");
        }
    }
}

#[test]
fn foll_cow_and_modern_never_write_the_file_in_deterministic_mode() {
    for gup in ["foll-cow", "modern"] {
        for (seed, harts) in [(1, 1), (2, 1), (3, 2), (4, 2)] {
            let (out, report) = dirtycow(&opts(gup, "deterministic", seed, harts), 1500);
            assert_eq!(
                out,
                format!("dirtycow: file unchanged after 1500 writes\n{ORIGINAL}"),
                "--gup {gup} seed {seed}"
            );
            // The writes did stop at cond_resched() with madvise running in between:
            // the race was run, and lost.
            assert!(report.kernel.resched_stops > 100, "--gup {gup} seed {seed}");
        }
    }
}

#[test]
fn dirtycow_generation_loses_the_file_on_two_parallel_harts() {
    let (out, report) = dirtycow(&opts("dirtycow", "parallel", 0, 2), 200_000);
    assert!(
        writes_to_modify(&out).is_some() && out.ends_with(MODIFIED),
        "two harts, 200000 writes: {out}"
    );
    assert!(report.per_hart.iter().all(|h| h.instret > 0));
}

#[test]
fn modern_survives_a_parallel_stress_of_racing_writes() {
    let (out, report) = dirtycow(&opts("modern", "parallel", 0, 2), 20_000);
    assert_eq!(
        out,
        format!("dirtycow: file unchanged after 20000 writes\n{ORIGINAL}")
    );
    // Both harts ran, and writes stopped at cond_resched() for the other hart.
    assert!(report.per_hart.iter().all(|h| h.instret > 0));
    assert!(
        report.kernel.resched_stops > 0,
        "no write ever stopped at cond_resched(): the race was not run"
    );
}
