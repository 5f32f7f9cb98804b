//! The kernel stress guest (`guest/bin/stress`): six workers at once — fork/exec/exit
//! with `/proc/<pid>/mem` and `process_vm_readv/writev` on each child, a thread faulting,
//! pinning, `mprotect`ing and zapping its region, one mapping, unmapping, `mprotect`ing
//! and `mremap`ping a region another thread reads, writes, faults on (SIGSEGV handled)
//! and walks with `/sys/kernel/debug/gup_test`, and two doing file I/O on private and
//! shared tmpfs files into freshly faulted buffers, with a `dup3`/`close` race on one
//! descriptor number under the other's `pread`s — whose stdout is the same for every
//! interleaving (`guest/expected-kernel/stress.stdout`).
//!
//! Every run here must print that reference with exit status 0 and end with the page
//! audit clean, under the lock-order checker (this test binary has it: a lock-order
//! inversion panics the hart that took it and fails the run), and within a budget: a
//! host wall-clock limit on every run (a deadlock fails the test instead of hanging it;
//! no instruction limit, which would keep every trap under the kernel lock). In
//! parallel mode on four harts (three runs) and on two, user page faults, the
//! memory-map calls and the file calls are handled without the kernel lock (the test
//! checks that some were); in
//! deterministic mode over seeds 1..=N on four harts and on two (N = 8, or
//! `STRESS_SEEDS`), where the same seed must give the same bits: stdout, per-hart
//! counters and modelled cycles, kernel counters. On deterministic harts the unlocked
//! fault path runs under the baton, and kernel paths wait for locks a parked fault
//! holds: the baton must have passed at contended locks.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use dirtybit::RunOptions;

const NAME: &str = "stress";

/// Host wall-clock limit of one run: far above what a run takes (well under a second in
/// a release build, a few seconds in a loaded debug build), so only a hang reaches it.
const WALL_LIMIT: Duration = Duration::from_secs(300);

// Without the checker on, a lock-order inversion would pass unseen.
const _: () = assert!(guestos::sync::LOCKDEP, "guestos built without lockdep");

/// Seeds for the deterministic runs: `1..=STRESS_SEEDS` (default 8).
fn seeds() -> std::ops::RangeInclusive<u64> {
    let n = std::env::var("STRESS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    1..=n
}

/// Runs the stress guest under `opts` on a thread of its own and checks it against the
/// reference and the page audit; fails if it has not finished within [`WALL_LIMIT`].
fn run_checked(opts: &RunOptions) -> Outcome {
    let what = format!(
        "stress --sched {} --seed {} --harts {}",
        opts.sched, opts.seed, opts.harts
    );
    let (done, outcome) = mpsc::channel();
    let (o, w) = (opts.clone(), what.clone());
    std::thread::spawn(move || {
        let o = run_against(NAME, &o, expected_kernel(NAME, "modern"), &w);
        let _ = done.send(o);
    });
    let o = match outcome.recv_timeout(WALL_LIMIT) {
        Ok(o) => o,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {WALL_LIMIT:?}: a deadlock")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{what}: the run failed (see its panic above)")
        }
    };
    assert_eq!(o.report.per_hart.len(), opts.harts, "{what}");
    // In deterministic mode the seeded baton decides who runs; in parallel mode the host
    // scheduler does, and a loaded host may let one hart thread do all the work in a run,
    // so the parallel test asks it of one run in several.
    if opts.sched != "parallel" {
        assert!(
            harts_that_ran(&o) > 1,
            "{what}: only one hart ran guest code"
        );
    }
    o
}

/// The harts that retired guest instructions in the run.
fn harts_that_ran(o: &Outcome) -> usize {
    o.report.per_hart.iter().filter(|h| h.instret > 0).count()
}

/// The system calls a parallel run must have served without the kernel lock, at least:
/// half of the 8192 `pwrite`s to a tmpfs file the guest makes before its workers start
/// (the memory-map calls, which were served so before, are a few hundred).
const MIN_UNLOCKED_SYSCALLS: u64 = 4096;

#[test]
fn parallel_mode_on_4_and_2_harts_prints_the_reference() {
    let mut most_harts = 0;
    for harts in [4, 4, 4, 2] {
        let o = run_checked(&sched_opts("parallel", 0, harts));
        most_harts = most_harts.max(harts_that_ran(&o));
        let k = &o.report.kernel;
        assert!(
            k.unlocked_syscalls >= MIN_UNLOCKED_SYSCALLS,
            "{harts} harts: only {} of {} system calls served without the kernel lock",
            k.unlocked_syscalls,
            k.syscalls
        );
    }
    assert!(
        most_harts > 1,
        "no parallel run had more than one hart run guest code"
    );
}

/// Deterministic runs over `seeds()` on `harts`: each prints the reference; seed 1 runs
/// twice and must replay bit for bit. Returns the baton's contended passes, summed.
fn deterministic_over_seeds(harts: usize) -> u64 {
    let mut lock_waits = 0;
    let mut cycles = std::collections::BTreeSet::new();
    for seed in seeds() {
        let o = run_checked(&sched_opts("deterministic", seed, harts));
        let k = &o.report.kernel;
        assert!(k.baton_switches > 0, "seed {seed}: the harts took no turns");
        lock_waits += k.baton_lock_waits;
        cycles.insert(o.report.hart.cycles);
        if seed == 1 {
            let again = run_checked(&sched_opts("deterministic", seed, harts));
            assert_eq!(again.stdout, o.stdout, "seed {seed}: replay stdout");
            assert_eq!(
                again.report.per_hart, o.report.per_hart,
                "seed {seed}, {harts} harts: replay per-hart counters and cycles"
            );
            assert_eq!(
                again.report.kernel, o.report.kernel,
                "seed {seed}, {harts} harts: replay kernel counters"
            );
        }
    }
    let n = seeds().count();
    eprintln!(
        "stress: {harts} deterministic harts, {n} seeds: {} distinct cycle counts, \
         {lock_waits} contended lock waits",
        cycles.len()
    );
    if n > 1 {
        assert!(cycles.len() > 1, "{n} seeds ran one interleaving");
    }
    lock_waits
}

#[test]
fn deterministic_mode_on_4_harts_passes_the_baton_at_contended_locks_and_replays() {
    let lock_waits = deterministic_over_seeds(4);
    assert!(
        lock_waits > 0,
        "4 harts: no kernel path ever found a lock held by a parked fault"
    );
}

#[test]
fn deterministic_mode_on_2_harts_passes_the_baton_at_contended_locks() {
    let lock_waits = deterministic_over_seeds(2);
    assert!(
        lock_waits > 0,
        "2 harts: no kernel path ever found a lock held by a parked fault"
    );
}
