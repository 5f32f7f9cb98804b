//! Concurrent pins: `guest/bin/gupconc` has four threads issue every
//! `/sys/kernel/debug/gup_test` benchmark and basic test at once over one shared buffer
//! (4 KiB pages and a 2 MiB folio) and their own buffers, while a fifth thread faults and
//! zaps pages of the same address space; then it checks from user space that no pin and
//! no reference survived (fork shares every page, every later write fault reuses its page
//! in place). Its stdout is the same for every interleaving, so every run here must print
//! the reviewed reference (`guest/expected-kernel/gupconc.stdout`, also run by the
//! differential suite's `kernel_images_all`) — on 1, 2 and 4 harts in parallel mode (host
//! threads really racing), on 2 and 4 harts in deterministic mode with two seeds each, and
//! under the older GUP generations — and end with the page audit clean.

mod common;

use common::*;
use dirtybit::RunOptions;

const NAME: &str = "gupconc";

fn opts(gup: &str, sched: &str, seed: u64, harts: usize) -> RunOptions {
    RunOptions {
        mem_bytes: 512 << 20,
        gup: gup.into(),
        sched: sched.into(),
        seed,
        harts,
        ..RunOptions::default()
    }
}

/// Runs gupconc with its recorded arguments under `opts` and checks stdout, exit status,
/// the page audit and, on several harts, that more than one hart ran guest code and that
/// the zaps shot down other harts' TLBs.
fn run_checked(opts: &RunOptions) -> Outcome {
    let what = format!(
        "--gup {} --sched {} --seed {} --harts {}",
        opts.gup, opts.sched, opts.seed, opts.harts
    );
    let o = run_against(NAME, opts, expected_kernel(NAME, &opts.gup), &what);
    let k = &o.report.kernel;
    assert_eq!(o.report.per_hart.len(), opts.harts, "{what}");
    if opts.harts > 1 {
        let busy = o.report.per_hart.iter().filter(|h| h.instret > 0).count();
        assert!(busy > 1, "{what}: only one hart ran guest code");
        assert!(
            k.tlb_shootdowns > 0,
            "{what}: no zap ever shot down another hart's TLB"
        );
    }
    o
}

#[test]
fn parallel_mode_on_1_2_and_4_harts_prints_the_reference() {
    for harts in [1, 2, 4] {
        run_checked(&opts("modern", "parallel", 0, harts));
    }
}

#[test]
fn deterministic_mode_on_2_and_4_harts_prints_the_reference_and_replays() {
    for harts in [2, 4] {
        for seed in [1, 2] {
            let o = run_checked(&opts("modern", "deterministic", seed, harts));
            if seed == 1 {
                let again = run_checked(&opts("modern", "deterministic", seed, harts));
                assert_eq!(
                    again.report.per_hart, o.report.per_hart,
                    "{harts} harts, seed {seed}: the replay interleaved differently"
                );
            }
        }
    }
}

/// The older generations' rules for GUP and write faults (`--gup foll-cow`, `dirtycow`)
/// must give the same output: nothing here depends on where they differ from Linux 6.2+.
/// (The fork check failed here before the ≤5.8 reuse rule counted a THP's PMD mappings.)
#[test]
fn older_gup_generations_on_4_parallel_harts_print_the_reference() {
    for gup in ["foll-cow", "dirtycow"] {
        run_checked(&opts(gup, "parallel", 0, 4));
    }
}
