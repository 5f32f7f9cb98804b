//! ptrace with Linux's riscv64 ABI (guestos/src/ptrace.rs, guestos/src/kernel/ptrace.rs):
//! the guest tracers `ministrace` (PTRACE_SYSCALL + GETREGSET NT_PRSTATUS),
//! `ptracetest` (the requests, stops and errnos) and `mtetrace` (PTRACE_PEEKMTETAGS /
//! POKEMTETAGS) against their reviewed references (`guest/expected-kernel/`), on 1 and 2
//! harts in parallel mode and in deterministic mode (replayed), each with the page audit
//! clean; and ministrace's view of a traced program's system calls against `--strace`'s
//! for the same program.

mod common;

use common::*;
use dirtybit::RunOptions;

/// Runs kernel image `name` under `opts` against its reference and the page audit.
fn run_checked(name: &str, opts: &RunOptions) -> Outcome {
    let what = format!(
        "{name} --sched {} --seed {} --harts {}",
        opts.sched, opts.seed, opts.harts
    );
    run_against(name, opts, expected_kernel(name, "modern"), &what)
}

/// Every ptrace guest with a reference, on 1 and 2 harts (parallel), then in
/// deterministic mode twice with the same seed: the same cycles.
fn check_everywhere(name: &str) {
    for harts in [1, 2] {
        run_checked(name, &sched_opts("parallel", 0, harts));
        let o = run_checked(name, &sched_opts("deterministic", 3, harts));
        let again = run_checked(name, &sched_opts("deterministic", 3, harts));
        assert_eq!(
            (again.report.per_hart, again.report.hart.cycles),
            (o.report.per_hart, o.report.hart.cycles),
            "{name} on {harts} harts: the replay differs"
        );
    }
}

#[test]
fn ministrace_prints_the_reference() {
    check_everywhere("ministrace");
}

/// One system call of a `--strace` line (`TID name(args) = ret`, tid removed) or of a
/// ministrace line (`name(args) = ret`): `(name, ret)`.
fn call_of(line: &str) -> Option<(String, String)> {
    let (name, rest) = line.split_once('(')?;
    let name = name.rsplit(' ').next()?;
    let (_, ret) = rest.rsplit_once(") = ")?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| (name.to_string(), ret.to_string()))
}

#[test]
fn ministrace_sees_the_calls_strace_sees() {
    // The same image, by the same absolute path (so /proc/self/exe reads the same), run
    // under --strace and exec'd by ministrace's traced child.
    let hello = image("hello").to_string_lossy().into_owned();
    let args = vec!["one".to_string(), "two words".to_string()];
    for (sched, harts) in [("parallel", 1), ("parallel", 2), ("deterministic", 2)] {
        let base = sched_opts(sched, 5, harts);
        let strace = RunOptions {
            strace: true,
            ..base.clone()
        };
        let direct = run_with(&strace, &image("hello"), &args);
        let want: Vec<(String, String)> = String::from_utf8_lossy(&direct.stderr)
            .lines()
            .filter_map(call_of)
            .collect();
        let traced_opts = RunOptions {
            files: vec![hello.clone()],
            ..base
        };
        let mut targs = vec![hello.clone()];
        targs.extend(args.iter().cloned());
        let traced = run_with(&traced_opts, &image("ministrace"), &targs);
        assert_eq!(traced.code, 0, "ministrace's status");
        assert_page_audit_clean(&traced, "ministrace hello");
        let out = String::from_utf8_lossy(&traced.stdout);
        let lines: Vec<&str> = out.lines().collect();
        // The traced program's own output is in there, between the calls.
        assert!(out.contains("argv[2] = \"two words\""), "{out}");
        assert_eq!(
            lines.last().copied(),
            Some("+++ exited with 0 +++"),
            "{out}"
        );
        // Everything after the execve that started the program.
        let exec = lines
            .iter()
            .position(|l| l.starts_with("execve("))
            .unwrap_or_else(|| panic!("no execve line:\n{out}"));
        assert!(lines[exec].ends_with(" = 0x0"), "{}", lines[exec]);
        let got: Vec<(String, String)> = lines[exec + 1..]
            .iter()
            .copied()
            .filter_map(call_of)
            .collect();
        assert!(want.len() > 10, "--strace saw {} calls", want.len());
        assert_eq!(got.len(), want.len(), "{sched} {harts}: ministrace:\n{out}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0, w.0, "{sched} {harts}: the same call");
            // set_tid_address returns the caller's tid: 1 run directly, 2 traced.
            if g.0 != "set_tid_address" {
                assert_eq!(g.1, w.1, "{sched} {harts}: {}'s return value", g.0);
            }
        }
        assert_eq!(
            want.last().map(|c| c.0.as_str()),
            Some("exit_group"),
            "the program's last call"
        );
    }
}

#[test]
fn ptracetest_prints_the_reference() {
    check_everywhere("ptracetest");
}

/// PEEK/POKEMTETAGS: full, partial (`iov_len` 3 at the end of the `VM_MTE` VMA) and
/// failing transfers (`EIO`, `EFAULT`, `ESRCH`, `EPERM`) as arm64 Linux gives them, and the
/// tracee reading the poked tags; the hardware's tag counters show the tracee's `settag`s
/// and tag reads, the tracer's tag transfers going through no check.
#[test]
fn mtetrace_prints_the_reference() {
    check_everywhere("mtetrace");
    let o = run_checked("mtetrace", &sched_opts("parallel", 0, 1));
    let t = &o.report.hart.tags;
    assert_eq!(t.sync_mismatches + t.async_mismatches, 0, "{t:?}");
    assert!(t.settag_granules >= 16, "{t:?}");
}
