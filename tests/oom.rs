//! The OOM killer, proven by a real guest: `guest/bin/oom` on 32 MiB of guest RAM
//! (`guest/expected-oom/`, recorded from dirtybit: qemu-user has the host's memory).
//!
//! - A sleeping child holding 9/16 of RAM is the victim when an allocating child runs
//!   memory out: it dies of `SIGKILL`, the allocator's fault is retried and it goes on
//!   into the freed memory until it is the biggest and is killed in turn; the parent
//!   (init, never chosen) sees both deaths through `waitpid()` and exits 0.
//! - A process that runs out of memory alone (nothing else killable) dies of `SIGKILL`:
//!   status 137, where the fault path used to deliver `SIGSEGV` (139).

mod common;

use common::*;
use dirtybit::RunOptions;

fn opts(ad: &str) -> RunOptions {
    RunOptions {
        mem_bytes: 32 << 20,
        ad: ad.into(),
        ..RunOptions::default()
    }
}

#[test]
fn oom_killer_picks_the_biggest_process_and_the_faulting_one_retries() {
    for ad in ["svadu", "svade"] {
        let o = run_against(
            "oom",
            &opts(ad),
            expected_in("guest/expected-oom", "oom"),
            &format!("oom [{ad}]"),
        );
        assert_eq!(
            o.report.kernel.oom_kills, 2,
            "[{ad}] the sleeper, then the allocator"
        );
    }
}

#[test]
fn a_process_out_of_memory_alone_is_killed_with_sigkill() {
    let o = run_with(&opts("svadu"), &image("oom"), &args_of("oom@alone"));
    let (want_out, want_status) = expected_in("guest/expected-oom", "oom@alone");
    assert!(
        o.stdout == want_out,
        "oom alone: stdout differs\n{}",
        first_diff(&o.stdout, &want_out)
    );
    assert_eq!(o.code, want_status);
    assert_eq!(o.code, 128 + 9, "SIGKILL");
    assert_eq!(o.report.kernel.oom_kills, 1);
    assert_page_audit_clean(&o, "oom alone");
}
