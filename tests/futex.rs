//! Futexes out of the kernel lock (issue 9, item 4): the futex hash buckets have their own
//! locks, and in parallel mode the hart that trapped serves `FUTEX_WAKE`, the requeues and
//! every `FUTEX_WAIT` that does not sleep without the kernel lock. `futexes` (a pthread
//! mutex and condvar under a producer/consumer queue, a raw private futex lock, timed
//! waits racing with wakes, exact requeue and bitset counts, a shared futex between two
//! processes at different addresses, and the errors) must print qemu-riscv64's output on
//! 2 and 4 harts in parallel mode, on the deterministic scheduler over several seeds, and
//! under `--strace` (every call through the kernel lock), with the page audit clean.

mod common;

use common::*;
use dirtybit::RunOptions;

fn run(opts: &RunOptions, what: &str) -> Outcome {
    run_against("futexes", opts, expected("futexes"), what)
}

#[test]
fn futexes_gives_qemus_output_in_parallel_on_2_and_4_harts_mostly_without_the_kernel_lock() {
    for harts in [2, 4] {
        let o = run(
            &sched_opts("parallel", 0, harts),
            &format!("futexes, {harts} harts, parallel"),
        );
        let k = &o.report.kernel;
        assert!(
            k.futex_calls > 1000 && k.futex_calls <= k.syscalls,
            "{harts} harts: futex calls counted: {k:?}"
        );
        assert!(
            k.unlocked_futex_calls <= k.futex_calls
                && k.unlocked_futex_calls <= k.unlocked_syscalls,
            "{harts} harts: {k:?}"
        );
        // Every wake, requeue and non-sleeping wait is served on the hart that trapped;
        // only the waits that sleep go to the kernel lock (and each of those is ended by
        // a wake served without it, or by a timeout).
        if harts == 2 {
            assert!(
                k.unlocked_futex_calls * 2 > k.futex_calls,
                "2 harts: only {} of {} futex calls were served without the kernel lock",
                k.unlocked_futex_calls,
                k.futex_calls
            );
        }
        // Each call takes at least one bucket lock, counted in its own lock class.
        let hb = o
            .report
            .lock_stat
            .iter()
            .find(|l| l.name == "hb->lock")
            .unwrap_or_else(|| {
                panic!(
                    "{harts} harts: no hb->lock class in {:?}",
                    o.report.lock_stat
                )
            });
        assert!(hb.acquisitions >= k.futex_calls, "{hb:?} for {k:?}");
    }
}

#[test]
fn futexes_gives_qemus_output_on_the_deterministic_scheduler_and_replays_bit_for_bit() {
    for (harts, seed) in [(4, 1), (4, 2), (2, 3), (1, 4)] {
        let opts = sched_opts("deterministic", seed, harts);
        let what = format!("futexes, {harts} harts, deterministic seed {seed}");
        let a = run(&opts, &what);
        let k = &a.report.kernel;
        // A kernel entry is a seeded scheduling point there: every call takes the lock.
        assert!(
            k.futex_calls > 1000 && k.unlocked_futex_calls == 0,
            "{what}: {k:?}"
        );
        if seed == 1 {
            let b = run(&opts, &what);
            assert_eq!(a.stdout, b.stdout, "{what}");
            assert_eq!(a.stderr, b.stderr, "{what}: the counts on stderr too");
            assert_eq!(a.report.per_hart, b.report.per_hart, "{what}");
            assert_eq!(a.report.kernel, b.report.kernel, "{what}");
        }
    }
}

#[test]
fn futexes_under_strace_take_the_kernel_lock_and_give_the_same_output() {
    let opts = RunOptions {
        strace: true,
        ..sched_opts("parallel", 0, 2)
    };
    let o = run(&opts, "futexes, 2 harts, --strace");
    let k = &o.report.kernel;
    assert!(
        k.futex_calls > 1000 && k.unlocked_futex_calls == 0,
        "--strace logs every call under the kernel lock: {k:?}"
    );
    let trace = String::from_utf8_lossy(&o.stderr);
    assert!(trace.contains("futex("), "no futex call in the trace");
}
