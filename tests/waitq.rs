//! Wait queues (issue 10): a task blocked on a pipe runs again only when that pipe wakes
//! it. `waitq precise` blocks a thread in `read()` on an empty pipe while another makes
//! 2000 unrelated system calls, then writes one byte; `--strace` shows every issue of the
//! read. With wait queues it is issued at most twice (it sleeps, the write wakes it); the
//! kernel that re-issued every I/O sleeper after any system call issued it 979 times on
//! the deterministic scheduler.

mod common;

use std::process::{Command, Stdio};

/// Runs `dirtybit run ARGS… waitq precise --strace`; returns (stdout, issues of `read`).
fn reads(args: &[&str]) -> (String, usize) {
    let o = Command::new(env!("CARGO_BIN_EXE_dirtybit"))
        .arg("run")
        .arg("--strace")
        .args(args)
        .arg(common::image("waitq"))
        .arg("precise")
        .stdin(Stdio::null())
        .output()
        .expect("run dirtybit");
    assert!(o.status.success(), "{args:?}: {:?}", o.status);
    let trace = String::from_utf8_lossy(&o.stderr);
    let n = trace.lines().filter(|l| l.contains(" read(0x3,")).count();
    (String::from_utf8_lossy(&o.stdout).into_owned(), n)
}

#[test]
fn a_pipe_sleeper_is_issued_again_only_when_its_pipe_wakes_it() {
    let mut runs: Vec<Vec<&str>> = vec![vec!["--sched", "parallel"]];
    for seed in ["1", "2", "3"] {
        runs.push(vec!["--sched", "deterministic", "--seed", seed]);
        runs.push(vec![
            "--sched",
            "deterministic",
            "--harts",
            "2",
            "--seed",
            seed,
        ]);
    }
    for args in runs {
        let (out, n) = reads(&args);
        assert_eq!(out, "precise: the blocked read returned 1\n", "{args:?}");
        assert!(
            (1..=2).contains(&n),
            "{args:?}: the blocked read was issued {n} times"
        );
    }
}

/// A pipe `read`/`write` that must wait sleeps on its hart without the kernel lock, and
/// is re-issued there when woken, going on with the file it took and the bytes it wrote
/// (`kernel/switch.rs`: `unlocked I/O sleeps` in `--stats`): the whole `waitq` guest —
/// a 256 KiB write drained in 1000-byte reads, a write interrupted part-way, the last
/// reader closing under a sleeping writer — gives qemu's output on 1, 2 and 4 harts,
/// with its pipe sleeps begun there.
#[test]
fn pipe_sleeps_without_the_kernel_lock_keep_the_guests_output() {
    for harts in [1, 2, 4] {
        let what = format!("waitq, {harts} harts, parallel");
        let o = common::run_against(
            "waitq",
            &common::sched_opts("parallel", 0, harts),
            common::expected("waitq"),
            &what,
        );
        let k = &o.report.kernel;
        assert!(
            k.unlocked_io_sleeps > 0 && k.unlocked_io_sleeps <= k.unlocked_sleeps,
            "{what}: {k:?}"
        );
    }
}
