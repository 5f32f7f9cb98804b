//! Process groups, sessions and prctl (issue 10): `pgrp linux`, the part of the `pgrp`
//! guest qemu-user cannot be the oracle of because it needs an `execve` (qemu-user runs a
//! riscv64 image only through binfmt_misc) or dirtybit's `/proc/<pid>/stat`. The qemu-
//! comparable part is `tests/differential.rs`'s `pgrp`; here the same run must print it
//! too, then Linux's answers spelled out: `sys_setpgid()` refuses a child that has called
//! `execve` (`PF_FORKNOEXEC` clear: `EACCES`), `begin_new_exec()` names the task after
//! the file (`kbasename("/proc/self/exe")` = "exe"), and `do_task_stat()` shows the
//! process group and session the child inherited, no terminal (`tty_nr` 0, `tpgid` -1).

mod common;

use common::*;
use dirtybit::RunOptions;

#[test]
fn setpgid_after_exec_comm_and_proc_stat_follow_linux() {
    let qemu_part = String::from_utf8(expected("pgrp").0).unwrap();
    let qemu_part = qemu_part
        .strip_suffix("session child: exit 0\n")
        .expect("the reference ends with the session child's status");
    for (label, opts) in [
        ("1 hart", RunOptions::default()),
        (
            "4 harts deterministic",
            RunOptions {
                harts: 4,
                sched: "deterministic".into(),
                seed: 5,
                ..RunOptions::default()
            },
        ),
    ] {
        let o = run_with(&opts, &image("pgrp"), &["linux".to_string()]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.code, 0, "{label}: {out}");
        let linux_part = out
            .strip_prefix(qemu_part)
            .unwrap_or_else(|| panic!("{label}: the qemu-comparable part differs:\n{out}"));
        assert_eq!(
            linux_part,
            "setpgid(child that has exec'd, 0): EACCES\n\
             setpgid(child that has exec'd, own group): EACCES\n\
             comm after exec: exe\n\
             stat: fields 8, comm (exe), ppid ok yes, pgrp ok yes, session ok yes, tty 0, tpgid -1\n\
             exec'd child: exit 0\n\
             session child: exit 0\n",
            "{label}"
        );
    }
}

/// `ITIMER_VIRTUAL` counts user time only, `ITIMER_PROF` user and system time: `pgrp
/// itimer` arms both with a 1 ms period, then spins in `read()` of /dev/zero until 40
/// SIGPROF ticks (fewer than half as many SIGVTALRM ticks: the time is the kernel's),
/// then in user-mode arithmetic until 40 SIGVTALRM ticks (SIGPROF within a quarter of
/// that). With one clock for both timers the first relation fails (about 40 and 40).
#[test]
fn itimer_virtual_counts_user_time_and_itimer_prof_both() {
    for (label, opts) in [
        ("parallel", RunOptions::default()),
        (
            "parallel 2 harts",
            RunOptions {
                harts: 2,
                ..RunOptions::default()
            },
        ),
        (
            "deterministic",
            RunOptions {
                sched: "deterministic".into(),
                seed: 1,
                ..RunOptions::default()
            },
        ),
    ] {
        let o = run_with(&opts, &image("pgrp"), &["itimer".to_string()]);
        let counts = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "busy in system calls: SIGVTALRM fewer than half the SIGPROF ticks: yes\n\
             busy in user mode: SIGPROF and SIGVTALRM ticks within a quarter of each other: yes\n",
            "{label}: {counts}"
        );
        assert_eq!(o.code, 0, "{label}");
    }
}

/// Pipe buffers are guest frames (issue 10: they were host memory outside `--mem`): `pgrp
/// pipes` fills 1 MiB pipes (`F_SETPIPE_SZ`) until guest RAM is used up — the write that
/// meets the end returns a short count, the next one `ENOMEM` (`pipe_write()` when
/// `alloc_page()` fails) — then reads one pipe and writes again. The frames go back to
/// the allocator as they are read and when the pipes are closed: the page audit at
/// teardown is clean.
#[test]
fn pipes_filled_beyond_guest_ram_fail_with_enomem_and_free_their_frames() {
    for (label, opts) in [
        (
            "16 MiB",
            RunOptions {
                mem_bytes: 16 << 20,
                ..RunOptions::default()
            },
        ),
        (
            "48 MiB, 2 harts deterministic",
            RunOptions {
                mem_bytes: 48 << 20,
                harts: 2,
                sched: "deterministic".into(),
                seed: 2,
                ..RunOptions::default()
            },
        ),
    ] {
        let o = run_with(&opts, &image("pgrp"), &["pipes".to_string()]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "filling pipes beyond RAM: a short write, then ENOMEM\n\
             more than 4 MiB went into pipes first: yes\n\
             a short write came first: yes\n\
             with one pipe read, a write goes in again: yes\n",
            "{label}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.code, 0, "{label}");
        assert_page_audit_clean(&o, &format!("{label}: after teardown"));
    }
}

/// `ITIMER_REAL` is an hrtimer on the harts' timer bases (`signal->real_timer`), expired
/// by its hart without the kernel lock: `pgrp alarm` arms it at a 200 µs period while
/// two threads fault 2 x 200 x 256 pages on 2 harts. The faults are handled without the
/// kernel lock and the harts go straight back to user mode: the kernel lock is entered
/// for a small fraction of the faults (each SIGALRM costs an entry, which its delivery
/// needs). With the interval timer on the kernel lock, an armed alarm sent every fault
/// back through the lock: more lock entries than faults. Deterministic mode goes
/// through the lock with any timer armed (its seeded scheduling points): there the same
/// seed must give the same run, SIGALRM for SIGALRM.
#[test]
fn an_armed_alarm_keeps_faults_off_the_kernel_lock() {
    let want = "faults with ITIMER_REAL armed: every page held its word: yes\n\
                SIGALRM kept coming: pause() woken 3 times: yes\n\
                the old setting had the 200 us period: yes\n\
                disarmed: yes\n";
    let args = ["alarm".to_string(), "200".to_string()];
    let opts = RunOptions {
        harts: 2,
        ..RunOptions::default()
    };
    let o = run_with(&opts, &image("pgrp"), &args);
    let counts = String::from_utf8_lossy(&o.stderr);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want, "{counts}");
    assert_eq!(o.code, 0);
    let k = &o.report.kernel;
    assert!(k.page_faults >= 2 * 200 * 256, "{} faults", k.page_faults);
    assert!(
        k.unlocked_faults * 10 >= k.page_faults * 9,
        "{} of {} faults without the kernel lock",
        k.unlocked_faults,
        k.page_faults
    );
    assert!(
        k.kernel_lock_acquisitions * 5 < k.page_faults,
        "{} kernel lock entries for {} faults with the alarm armed ({counts})",
        k.kernel_lock_acquisitions,
        k.page_faults
    );

    let det = |seed| {
        let opts = RunOptions {
            harts: 2,
            sched: "deterministic".into(),
            seed,
            ..RunOptions::default()
        };
        run_with(
            &opts,
            &image("pgrp"),
            &["alarm".to_string(), "20".to_string()],
        )
    };
    let (a, b) = (det(3), det(3));
    assert_eq!(String::from_utf8_lossy(&a.stdout), want);
    assert_eq!(a.code, 0);
    assert_eq!(a.stderr, b.stderr, "the same seed, the same SIGALRMs");
    assert_eq!(a.report.hart, b.report.hart, "the same seed, the same bits");
}

/// A process's CPU time is its threads' (`thread_group_cputime()`), charged by the harts
/// that run them into the thread group's sums without the kernel lock, and `ITIMER_PROF`
/// and `ITIMER_VIRTUAL` fire on those sums: `pgrp cputime` arms both at a 2 ms period,
/// two threads burn CPU until 40 SIGPROFs and 20 SIGVTALRMs came, and the process's,
/// the threads' and a reaped child's clocks and `getrusage()` must relate as on Linux
/// (qemu-riscv64 prints the same lines). On 2 harts in parallel mode the timers are
/// checked on the tick's interrupt without the kernel lock: with a 50 ms period (4
/// SIGPROFs) the kernel lock is entered no more often than for the calls themselves
/// (about 60 entries: exec, the threads, the child; a kick per tick per hart before:
/// about 115). Deterministic mode: the same seed, the same run.
#[test]
fn the_process_cpu_clock_sums_its_threads_and_its_cpu_timers_fire() {
    let want = "ITIMER_PROF and ITIMER_VIRTUAL kept coming: 40 SIGPROF, 20 SIGVTALRM: yes\n\
                ITIMER_PROF still armed with its 2 ms period: yes\n\
                a burner's clock, read by the main thread: positive, below the process's: yes\n\
                each burner burnt at least 20 ms: yes\n\
                the process clock is at least each thread's: yes\n\
                the process clock is at least the threads' sum: yes\n\
                the process clock is about the threads' sum (within a quarter): yes\n\
                getrusage(RUSAGE_SELF): between the threads' sum and the process clock after it: yes\n\
                getrusage(RUSAGE_SELF): mostly user time: yes\n\
                getrusage(RUSAGE_THREAD) of the main thread: its own, well below the process's: yes\n\
                RUSAGE_CHILDREN: nothing before the reap, the child's 20 ms after: yes\n";
    let det = |seed| RunOptions {
        harts: 2,
        sched: "deterministic".into(),
        seed,
        ..RunOptions::default()
    };
    let two = RunOptions {
        harts: 2,
        ..RunOptions::default()
    };
    for (label, opts) in [
        ("1 hart", RunOptions::default()),
        ("2 harts", two.clone()),
        ("2 harts deterministic", det(3)),
    ] {
        let o = run_with(&opts, &image("pgrp"), &["cputime".to_string()]);
        let counts = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            want,
            "{label}: {counts}"
        );
        assert_eq!(o.code, 0, "{label}");
    }
    let args = ["cputime".to_string(), "50000".into(), "4".into()];
    let o = run_with(&two, &image("pgrp"), &args);
    let counts = String::from_utf8_lossy(&o.stderr);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want, "{counts}");
    assert_eq!(o.code, 0, "{counts}");
    assert!(
        o.report.kernel.kernel_lock_acquisitions < 100,
        "{} kernel lock entries with ITIMER_PROF armed ({counts})",
        o.report.kernel.kernel_lock_acquisitions
    );
    let (a, b) = (
        run_with(&det(4), &image("pgrp"), &["cputime".to_string()]),
        run_with(&det(4), &image("pgrp"), &["cputime".to_string()]),
    );
    assert_eq!(String::from_utf8_lossy(&a.stdout), want);
    assert_eq!(
        a.stderr, b.stderr,
        "the same seed, the same times and signals"
    );
    assert_eq!(a.report.hart, b.report.hart, "the same seed, the same bits");
}
