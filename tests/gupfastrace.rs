//! The lockless `gup_fast()` walk raced for real: `guest/bin/gupfastrace` has two threads
//! loop `PIN_FAST_BENCHMARK` and `GUP_FAST_BENCHMARK` over a 64-page region while a third
//! munmaps it (zap, `free_pgtables()`), maps it again and rewrites it, and a fourth forks
//! (`copy_page_range()` under `write_protect_seq`) with children writing into their copy.
//! The fast benchmarks run without the kernel lock on their harts' host threads (the whole
//! ioctl in parallel mode; the lockless walks, handed over, in deterministic mode), so on
//! several parallel harts the walks really overlap the munmaps and forks. Its stdout is the
//! same for every interleaving, so every run must print the reviewed reference
//! (`guest/expected-kernel/gupfastrace.stdout`), exit 0 and end with the page audit clean;
//! and the run must show that walks did run unlocked and, on parallel harts, that the zaps
//! shot down other harts' TLBs.

mod common;

use common::*;
use dirtybit::RunOptions;

const NAME: &str = "gupfastrace";

/// Runs gupfastrace under `opts` and checks stdout against the reference, the exit status,
/// the page audit and that fast benchmark calls ran without the kernel lock; on parallel
/// harts also that TLB shootdowns happened.
fn run_checked(opts: &RunOptions) {
    let what = format!(
        "--sched {} --seed {} --harts {}",
        opts.sched, opts.seed, opts.harts
    );
    let o = run_against(NAME, opts, expected_kernel(NAME, &opts.gup), &what);
    assert_eq!(o.code, 0, "{what}: exit status");
    let k = &o.report.kernel;
    if opts.sched == "parallel" {
        // The gup_test ioctls are served whole on the walkers' harts without the kernel
        // lock (syscall::unlocked); the kernel lock gets one only when the hart goes to
        // it anyway (kicked, a signal), and hands its walks back (`unlocked_calls`): a
        // few of the walkers' 1,200 or more.
        assert!(
            k.unlocked_calls < 60,
            "{what}: {} fast benchmark calls went through the kernel lock",
            k.unlocked_calls
        );
    } else {
        // Deterministic mode serves every call under the kernel lock, which hands the
        // lockless walks to the hart (percpu::defer_unlocked).
        assert!(
            k.unlocked_calls > 0,
            "{what}: no fast benchmark call ran without the kernel lock"
        );
    }
    if opts.sched == "parallel" {
        assert!(
            k.tlb_shootdowns > 0,
            "{what}: no munmap ever shot down another hart's TLB"
        );
    }
}

#[test]
fn parallel_on_2_harts_prints_the_reference_every_time() {
    for _ in 0..3 {
        run_checked(&sched_opts("parallel", 0, 2));
    }
}

#[test]
fn parallel_on_4_harts_prints_the_reference_every_time() {
    for _ in 0..3 {
        run_checked(&sched_opts("parallel", 0, 4));
    }
}

#[test]
fn deterministic_on_4_harts_prints_the_reference_for_seeds_1_to_3() {
    for seed in 1..=3 {
        run_checked(&sched_opts("deterministic", seed, 4));
    }
}
