//! userfaultfd (issue 12): `guest/bin/uffd`'s monitor threads answer the page faults of
//! other threads (`UFFDIO_COPY`, `UFFDIO_ZEROPAGE`, `UFFDIO_WAKE`, `UFFDIO_WRITEPROTECT`),
//! a `close()` wakes a waiting fault and a signal interrupts one. Faulting threads sleep
//! in the kernel until the monitor answers, so every interleaving of the two must give
//! the reviewed reference (`guest/expected-kernel/uffd.stdout`, whose checks end in
//! `failures: 0`): one hart and several, in parallel mode (threads on host threads,
//! time slices in host time) and in deterministic mode under several seeds. Each run
//! ends with a clean page audit (no frame leaked by a fill or by the teardown of
//! registered VMAs).

mod common;

use common::*;

#[test]
fn uffd_monitor_threads_answer_faults_on_any_hart_count_and_interleaving() {
    let want = expected_kernel("uffd", "modern");
    assert!(
        String::from_utf8_lossy(&want.0).ends_with("failures: 0\n"),
        "the reference records a failed check"
    );
    let mut runs = Vec::new();
    for harts in [1, 2, 4] {
        runs.push(sched_opts("parallel", 0, harts));
    }
    for (harts, seed) in [(1, 1), (2, 2), (4, 3), (4, 11)] {
        runs.push(sched_opts("deterministic", seed, harts));
    }
    for opts in runs {
        let what = format!(
            "uffd on {} hart(s), {} seed {}",
            opts.harts, opts.sched, opts.seed
        );
        run_against("uffd", &opts, want.clone(), &what);
    }
}

#[test]
fn uffd_deterministic_runs_repeat_exactly() {
    let opts = sched_opts("deterministic", 5, 2);
    let a = run_with(&opts, &image("uffd"), &[]);
    let b = run_with(&opts, &image("uffd"), &[]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(
        a.report.hart.instret, b.report.hart.instret,
        "the same seed retires the same instructions"
    );
}
