//! Memory tagging with arm64 Linux's user ABI: `guest/bin/mte` (guest/src/mte.c, over
//! guest/include/mte.h) tags a heap over a `PROT_MTE` mapping and checks the prctl round
//! trips and errnos, the sync fault (`SEGV_MTESERR`, exact tagged `si_addr`, the store not
//! performed), the async one (`SEGV_MTEAERR`, `si_addr` 0), a use-after-free, tags
//! across fork, COW, `MADV_DONTNEED`, `mprotect`, threads and `execve`, `PROT_MTE` on a
//! file (`EINVAL`) and `read()` through a tagged pointer. Its stdout is the reviewed
//! reference (`guest/expected-kernel/mte.stdout`, also run by the differential suite in
//! every machine configuration): here on 1 and 2 harts in parallel mode and in
//! deterministic mode (replayed), each with the page audit clean and the hardware's tag
//! counters showing the checks and mismatches the program provokes.

mod common;

use common::*;
use dirtybit::RunOptions;

const NAME: &str = "mte";

/// Runs the program under `opts`: the reference, the page audit, and the tag counters —
/// at least the four synchronous mismatches it provokes (overflow, use after free, the
/// store after `mprotect`, the child's store), the asynchronous one, and the two whole
/// pages it tags.
fn run_checked(opts: &RunOptions) -> Outcome {
    let what = format!(
        "--sched {} --seed {} --harts {}",
        opts.sched, opts.seed, opts.harts
    );
    let o = run_against(NAME, opts, expected_kernel(NAME, "modern"), &what);
    let t = &o.report.hart.tags;
    assert!(t.sync_mismatches >= 4, "{what}: {t:?}");
    assert!(t.async_mismatches >= 1, "{what}: {t:?}");
    assert!(
        t.checks > t.sync_mismatches + t.async_mismatches,
        "{what}: {t:?}"
    );
    assert!(t.settag_granules >= 2 * 256, "{what}: {t:?}");
    o
}

#[test]
fn parallel_mode_on_1_and_2_harts_prints_the_reference() {
    for harts in [1, 2] {
        run_checked(&sched_opts("parallel", 0, harts));
    }
}

#[test]
fn deterministic_mode_prints_the_reference_and_replays() {
    for harts in [1, 2] {
        let o = run_checked(&sched_opts("deterministic", 1, harts));
        let again = run_checked(&sched_opts("deterministic", 1, harts));
        assert_eq!(
            (again.report.per_hart, again.report.hart.cycles),
            (o.report.per_hart, o.report.hart.cycles),
            "{harts} harts: the replay differs"
        );
    }
}
