//! `--max-insns` on several harts: the budget is claimed from by each hart without the
//! kernel lock (`guestos/src/kernel/budget.rs`), so a run stops after exactly the limit
//! in total — not the limit plus what the other harts had in flight — while faults and
//! calls are still served on the harts without the kernel lock, and deterministic mode
//! still replays a seed bit for bit.

mod common;

use common::*;
use dirtybit::guestos::ExitStatus;
use dirtybit::RunOptions;

/// About half of `faults procs 2 20 threads 2 20` (960 thousand instructions), odd so
/// that it is no multiple of a quantum or of the harts' shares.
const LIMIT: u64 = 500_001;

fn faults_args() -> Vec<String> {
    ["procs", "2", "20", "threads", "2", "20"]
        .map(String::from)
        .to_vec()
}

fn limited(sched: &str, seed: u64) -> RunOptions {
    RunOptions {
        mem_bytes: 512 << 20,
        harts: 2,
        sched: sched.into(),
        seed,
        max_insns: Some(LIMIT),
        ..RunOptions::default()
    }
}

/// Runs the faults workload under `opts` and checks what every limited run must give:
/// status 124 (`InsnLimit`), exactly [`LIMIT`] instructions retired over both harts,
/// each hart having run some, faults served without the kernel lock, a clean audit.
fn run_limited(opts: &RunOptions) -> Outcome {
    let o = run_with(opts, &image("faults"), &faults_args());
    let r = &o.report;
    let what = format!("{} seed {}", opts.sched, opts.seed);
    assert_eq!(r.status, ExitStatus::InsnLimit, "{what}");
    assert_eq!(o.code, 124, "{what}: timeout(1)'s status");
    assert_eq!(r.hart.instret, LIMIT, "{what}: retired in total");
    assert_eq!(
        r.per_hart.iter().map(|h| h.instret).sum::<u64>(),
        LIMIT,
        "{what}: the harts' own counts"
    );
    assert!(
        r.per_hart.iter().all(|h| h.instret > 0),
        "{what}: both harts ran: {:?}",
        r.per_hart
    );
    let k = &r.kernel;
    assert!(
        k.unlocked_faults > 0 && k.unlocked_faults <= k.page_faults,
        "{what}: faults served without the kernel lock under --max-insns: {k:?}"
    );
    assert!(
        k.kernel_lock_acquisitions < k.page_faults,
        "{what}: the kernel lock saw fewer entries than faults: {k:?}"
    );
    assert_eq!((k.frames_leaked, k.page_audit_errors), (0, 0), "{what}");
    o
}

#[test]
fn two_harts_retire_exactly_the_limit_with_faults_served_without_the_kernel_lock() {
    run_limited(&limited("parallel", 0));
}

#[test]
fn a_limited_run_on_two_harts_replays_bit_for_bit_in_deterministic_mode() {
    let a = run_limited(&limited("deterministic", 5));
    let b = run_limited(&limited("deterministic", 5));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.report.per_hart, b.report.per_hart, "per-hart counters");
    assert_eq!(a.report.kernel, b.report.kernel, "kernel counters");
    let c = run_limited(&limited("deterministic", 6));
    assert_ne!(
        a.report.per_hart, c.report.per_hart,
        "seeds 5 and 6 split the budget between the harts identically"
    );
}
