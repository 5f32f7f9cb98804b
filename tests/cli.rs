//! The command line as a user meets it: exit statuses, messages for bad input, `--stats`,
//! `--strace`, `--max-insns`, and the embedded default image.

mod common;

use std::process::{Command, Output};

fn dirtybit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dirtybit"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run dirtybit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn image(name: &str) -> String {
    common::image(name).to_string_lossy().into_owned()
}

#[test]
fn default_run_is_the_demo_with_stats() {
    let o = dirtybit(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("dirtybit demo:"));
    let err = stderr(&o);
    for row in [
        "instructions retired",
        "modelled cycles",
        "TLB misses",
        "A/D updates (hw)",
        "page faults (hw)",
        "tag checks (hw)",
        "tag mismatches (hw)",
        "settag granules",
    ] {
        assert!(err.contains(row), "--stats row {row:?} missing:\n{err}");
    }
}

#[test]
fn cost_table_lists_the_tag_memory_costs() {
    let o = dirtybit(&["cost-table"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for row in ["tag_load = 2", "tag_store = 1"] {
        assert!(out.contains(row), "cost-table row {row:?} missing:\n{out}");
    }
}

#[test]
fn not_an_elf_is_refused_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("dirtybit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notelf");
    std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
    let o = dirtybit(&["run", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("not an ELF file"), "{}", stderr(&o));
    // An x86-64 ELF (this very test binary) names its machine.
    let me = std::env::current_exe().unwrap();
    let o = dirtybit(&["run", me.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not RISC-V"), "{}", stderr(&o));
    let o = dirtybit(&["run", "/nonexistent/image"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/image"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_flags_get_clear_errors() {
    let o = dirtybit(&["run", "--tlb", "3x2", &image("hello")]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("TLB geometry 3x2"), "{}", stderr(&o));
    let o = dirtybit(&["run", "--mem", "1M", &image("hello")]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("at least 16 MiB"), "{}", stderr(&o));
    let o = dirtybit(&["run", "--cost", "bogus=1", &image("hello")]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("unknown cost entry"), "{}", stderr(&o));
    let o = dirtybit(&["run", "--paging", "sv57", &image("hello")]);
    assert_eq!(o.status.code(), Some(2), "clap rejects the value");
    let o = dirtybit(&["run", "--gup", "2.6", &image("hello")]);
    assert_eq!(o.status.code(), Some(2), "clap rejects the generation");
    // --hugepages [SIZE:]N: only the pools' sizes, and a number of pages.
    let o = dirtybit(&["run", "--hugepages", "4M:2", &image("hello")]);
    assert_eq!(o.status.code(), Some(2), "clap rejects the size");
    assert!(stderr(&o).contains("expected 2M or 1G"), "{}", stderr(&o));
    let o = dirtybit(&["run", "--hugepages", "1G:two", &image("hello")]);
    assert_eq!(o.status.code(), Some(2), "clap rejects the count");
    assert!(stderr(&o).contains("not a number"), "{}", stderr(&o));
    let o = dirtybit(&[
        "run",
        "--hugepages",
        "3",
        "--hugepages",
        "1G:0",
        &image("hello"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The library checks it too (callers of run_image without clap).
    let opts = dirtybit::RunOptions {
        gup: "2.6".into(),
        ..Default::default()
    };
    let e = opts.kernel_config().unwrap_err().to_string();
    assert!(e.contains("expected dirtycow, foll-cow or modern"), "{e}");
}

#[test]
fn instruction_limit_stops_a_guest() {
    let o = dirtybit(&["run", "--stats", "--max-insns", "100000", &image("loop")]);
    assert_eq!(o.status.code(), Some(124));
    let err = stderr(&o);
    assert!(err.contains("stopped after 100000 instructions"), "{err}");
    assert!(err.contains("instructions retired  100000"), "{err}");
}

#[test]
fn a_fatal_fault_ends_the_guest_like_linux() {
    let o = dirtybit(&["run", &image("segv")]);
    assert_eq!(o.status.code(), Some(139));
    let err = stderr(&o);
    assert!(
        err.contains("Segmentation fault (signal 11, si_code 2"),
        "SEGV_ACCERR: {err}"
    );
}

#[test]
fn strace_names_calls_and_errnos() {
    let o = dirtybit(&["run", "--strace", &image("hello"), "x"]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.contains("set_tid_address("), "{err}");
    assert!(err.contains("readlinkat("), "{err}");
    assert!(err.contains("exit_group("), "{err}");
    // The mm exerciser's deliberate failures show their errno by name.
    let o = dirtybit(&["run", "--strace", &image("mm")]);
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.contains("munmap(") && l.ends_with("= -1 EINVAL")),
        "{err}"
    );
}

#[test]
fn cost_overrides_change_modelled_cycles_only() {
    let cycles = |extra: &[&str]| -> (u64, u64) {
        let mut args = vec!["run", "--stats"];
        args.extend_from_slice(extra);
        let img = image("hello");
        args.push(&img);
        let o = dirtybit(&args);
        let err = stderr(&o);
        let get = |row: &str| -> u64 {
            err.lines()
                .find(|l| l.trim_start().starts_with(row))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{row} in {err}"))
        };
        (get("instructions retired"), get("modelled cycles"))
    };
    let (i1, c1) = cycles(&[]);
    let (i2, c2) = cycles(&["--cost", "alu=2"]);
    assert_eq!(i1, i2, "the program is the same");
    assert!(
        c2 > c1 && c2 - c1 < i1,
        "alu 1→2 adds one cycle per ALU instruction: {c1} → {c2}"
    );
    let (i3, c3) = cycles(&[]);
    assert_eq!((i1, c1), (i3, c3), "modelled cycles are deterministic");
}

/// The `--stats` value of a row (its first number after the label).
fn stat(err: &str, row: &str) -> u64 {
    err.lines()
        .find(|l| l.trim_start().starts_with(row))
        .and_then(|l| l.trim_start()[row.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{row} in {err}"))
}

#[test]
fn kernel_work_is_charged_to_the_hart_and_listed() {
    let run = |extra: &[&str]| -> String {
        let mut args = vec!["run", "--stats"];
        args.extend_from_slice(extra);
        let img = image("hello");
        args.push(&img);
        stderr(&dirtybit(&args))
    };
    let a = run(&[]);
    let b = run(&["--cost", "k_page_zero=0,k_pte_load=1"]);
    let zeroes = stat(&a, "kernel page_zeroes");
    let loads = stat(&a, "kernel pte_loads");
    assert!(zeroes > 0 && loads > 0, "{a}");
    assert_eq!(stat(&a, "kernel warnings"), 0);
    // Exactly the repriced kernel events leave the hart's modelled cycles.
    let saved = zeroes * 300 + loads * 19;
    assert_eq!(
        stat(&a, "modelled cycles") - stat(&b, "modelled cycles"),
        saved,
        "{a}\n{b}"
    );
    assert_eq!(
        stat(&a, "kernel modelled cycles") - stat(&b, "kernel modelled cycles"),
        saved
    );
}

#[test]
fn bench_pin_prices_the_gup_paths_per_page() {
    let o = dirtybit(&["bench", "pin", "--pages", "1024", "--samples", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let row = |api: &str, folio: &str, batch: &str, state: &str| -> Vec<String> {
        out.lines()
            .find(|l| {
                l.starts_with(api) && {
                    let f: Vec<&str> = l[api.len()..].split_whitespace().collect();
                    f.first() == Some(&folio)
                        && f.get(1) == Some(&batch)
                        && f.get(2) == Some(&state)
                }
            })
            .map(|l| {
                l[api.len()..]
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(|| panic!("{api} {folio} {batch} {state} in\n{out}"))
    };
    // pin_user_pages_fast, 512 populated pages per call: per call one GUP entry (40) and
    // two upper-level PTE loads (2 × 20), per page two PTE loads (the walk and the
    // re-check) and one refcount update (3 × 20): (80 + 512 × 60) / 512 = 60.16.
    let r = row("pin_user_pages_fast ", "4K", "512", "populated");
    assert_eq!(&r[3..5], ["60.2", "20.0"], "{out}");
    assert_eq!(r[7], "2.0000", "one refcount update to pin, one to unpin");
    // One page per call walks the upper levels every time.
    let r = row("get_user_pages_fast ", "4K", "1", "populated");
    assert_eq!(r[3], "140.0");
    // 2 MiB folios: a row for every API, batch and state, with numbers.
    for (api, _) in dirtybit::bench::pin::APIS {
        for batch in ["1", "16", "512"] {
            for state in ["populated", "fault"] {
                let r = row(&format!("{api} "), "2M", batch, state);
                let nums: Vec<f64> = r[3..8].iter().map(|v| v.parse().unwrap()).collect();
                assert!(
                    nums.iter().all(|v| v.is_finite() && *v >= 0.0) && nums[4] > 0.0,
                    "{api} 2M {batch} {state}: {r:?}\n{out}"
                );
            }
        }
    }
    // GUP-fast on a huge PMD: per call one GUP entry (40), the upper level and the PMD
    // (2 × 20), one grab of the folio for all 512 pages (a large-folio pin: _refcount and
    // _pincount, 2 × 20) and the PMD re-check (20): 2 PMDs × 140 / 1024 = 0.27 per page;
    // the release, one gup_put_folio() per folio (2 × 20): 0.08.
    let r = row("pin_user_pages_fast ", "2M", "512", "populated");
    assert_eq!(&r[3..5], ["0.3", "0.1"], "{out}");
    assert_eq!(r[7], "0.0078", "2 + 2 atomics per 512 pages");
    // One page per call: 40 + 2 × 20 + 20 + 20, the 4 KiB path's cost less one PTE load.
    let r = row("get_user_pages_fast ", "2M", "1", "populated");
    assert_eq!(r[3], "120.0", "{out}");
    // The slow path: follow_huge_pmd() pins one page, page_increm the other 511 (2 + 2),
    // the release 2: 6 atomics per 512 pages, populated or faulted in.
    for state in ["populated", "fault"] {
        let r = row("pin_user_pages ", "2M", "512", state);
        assert_eq!(r[7], "0.0117", "{state}\n{out}");
    }
    // The summary: the target of 50× fewer refcount operations per 4 KiB.
    for api in ["pin_user_pages_fast", "pin_user_pages"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("refcount ops per 4 KiB, {api}, 512")))
            .unwrap_or_else(|| panic!("{api} summary in\n{out}"));
        let ratio: f64 = line
            .split("ratio ")
            .nth(1)
            .and_then(|r| r.split('x').next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("ratio in {line}"));
        assert!(ratio >= 50.0, "{line}");
        assert!(
            line.contains("4K folios 2.0000") && line.contains(": met)"),
            "{line}"
        );
    }
    // A range that is not a whole number of 2 MiB has no 2 MiB rows.
    let o = dirtybit(&["bench", "pin", "--pages", "16", "--samples", "1"]);
    let out16 = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out16
            .lines()
            .any(|l| l.starts_with("pin_user_pages_fast ") && l.contains("unavailable: --pages 16")),
        "{out16}"
    );
    // The k_* entries price it: free PTE loads leave (40 + 512 × 20) / 512.
    let o = dirtybit(&[
        "bench",
        "pin",
        "--pages",
        "512",
        "--samples",
        "1",
        "--cost",
        "k_pte_load=0",
    ]);
    let out2 = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out2.lines().any(|l| l.starts_with("pin_user_pages_fast ")
            && l.split_whitespace().collect::<Vec<_>>()[1..5]
                == ["4K", "512", "populated", "20.1"]),
        "{out2}"
    );
}

#[test]
fn bench_smp_runs_the_parallel_workload_on_each_hart_count() {
    let o = dirtybit(&[
        "bench",
        "smp",
        "--units",
        "4",
        "--harts",
        "1,2,4",
        "--samples",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // One row per mode and hart count; the checksums of every run were equal.
    for row in [
        "parallel           1",
        "parallel           2",
        "parallel           4",
        "deterministic      4",
    ] {
        assert!(out.contains(row), "row {row:?} missing:\n{out}");
    }
    assert!(out.contains("deterministic mode on 4 harts costs"), "{out}");
}

#[test]
fn harts_flag_runs_several_harts_and_reports_each() {
    let o = dirtybit(&["run", "--harts", "2", "--stats", &image("pthreads")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    for row in ["hart 0", "hart 1", "TLB shootdowns", "IPIs"] {
        assert!(err.contains(row), "--stats row {row:?} missing:\n{err}");
    }
    let o = dirtybit(&["run", "--harts", "0", &image("hello")]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--harts 0"), "{}", stderr(&o));
}

/// The `--stats` line of the kernel lock class: (acquisitions, contended, wait ms).
fn kernel_lock_line(err: &str) -> (u64, u64, f64) {
    lock_line(err, "kernel_lock").unwrap_or_else(|| panic!("no kernel lock line:\n{err}"))
}

/// The `--stats` line of lock class `class`, if it was taken: (acquisitions, contended,
/// wait ms).
fn lock_line(err: &str, class: &str) -> Option<(u64, u64, f64)> {
    // `lock kernel_lock  A acquisitions, C contended, W ms waiting`
    let line = err
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("lock {class} ")))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (w.len(), w[3], w[5], w[7], w[8]),
        (9, "acquisitions,", "contended,", "ms", "waiting"),
        "{line}"
    );
    let num = |i: usize| w[i].parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
    Some((num(2) as u64, num(4) as u64, num(6)))
}

#[test]
fn stats_list_each_lock_class_as_lock_stat_does() {
    for harts in ["1", "2"] {
        let o = dirtybit(&[
            "run",
            "--harts",
            harts,
            "--stats",
            &image("faults"),
            "threads",
            "2",
            "2",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let err = stderr(&o);
        let (acquisitions, contended, wait_ms) = kernel_lock_line(&err);
        // Every system call is handled under the kernel lock, every page fault under it
        // or (on the hart, without it) under its address space's mmap_lock.
        let entries = stat(&err, "system calls") + stat(&err, "page faults handled");
        let mmap = lock_line(&err, "mmap_lock").map_or(0, |l| l.0);
        assert!(
            acquisitions + mmap >= entries,
            "{harts} harts: {acquisitions} + {mmap} acquisitions < {entries} kernel entries"
        );
        assert!(contended <= acquisitions, "{harts} harts: {err}");
        if harts == "1" {
            // One hart, one host thread: nobody else can hold the lock (this process
            // runs one machine, so the counts are the run's alone).
            assert_eq!((contended, wait_ms), (0, 0.0), "{err}");
        }
    }
}

#[test]
fn bench_faults_runs_both_workloads_on_each_hart_count() {
    let o = dirtybit(&[
        "bench",
        "faults",
        "--procs",
        "2",
        "--threads",
        "3",
        "--rounds",
        "2",
        "--harts",
        "1,2",
        "--samples",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("faults workload:")),
        "{out}"
    );
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "workload",
            "workers",
            "harts",
            "host",
            "s",
            "min-max",
            "s",
            "speedup",
            "mcycles",
            "faults",
            "lock",
            "acq",
            "contended",
            "wait",
            "ms"
        ],
        "{out}"
    );
    // One row per mode and hart count, in that order: workload, workers, harts, host s,
    // the samples' fastest-slowest host s, speedup, modelled cycles, faults, lock
    // acquisitions, contended, wait ms (lock
    // classes other than the kernel lock, indented, under their row).
    let rest: Vec<&str> = lines.collect();
    let rows: Vec<Vec<&str>> = rest
        .iter()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("lock acq"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    // Per row, the acquisitions of the mmap_lock class (the faults handled without the
    // kernel lock take it): its indented line under the row, if any.
    let mut mmap_acq = Vec::new();
    for l in &rest {
        if !l.starts_with(' ') && !l.starts_with("lock acq") {
            mmap_acq.push(0.0);
        } else if let (Some(acq), ["lock", "mmap_lock", n, ..]) = (
            mmap_acq.last_mut(),
            l.split_whitespace().collect::<Vec<_>>().as_slice(),
        ) {
            *acq = n.parse::<f64>().unwrap_or_else(|_| panic!("{l}"));
        }
    }
    let want = [
        ("procs", "2", "1"),
        ("procs", "2", "2"),
        ("threads", "3", "1"),
        ("threads", "3", "2"),
    ];
    for ((row, (mode, workers, harts)), mmap) in rows.iter().zip(want).zip(mmap_acq) {
        assert_eq!(row.len(), 11, "{row:?}\n{out}");
        assert_eq!((row[0], row[1], row[2]), (mode, workers, harts), "{out}");
        let mut row = row.clone();
        let spread = row.remove(4);
        let num = |i: usize| row[i].parse::<f64>().unwrap_or_else(|_| panic!("{row:?}"));
        assert!(num(3) > 0.0, "host seconds: {row:?}");
        // One sample: fastest, slowest and median are the same run.
        assert_eq!(spread, format!("{}-{}", row[3], row[3]), "spread: {row:?}");
        assert!(row[4].ends_with('x'), "speedup: {row:?}");
        if harts == "1" {
            assert_eq!(row[4], "1.00x", "the 1-hart row is the baseline: {row:?}");
        }
        // Each worker faults in 256 pages a round; every fault takes the kernel lock or,
        // handled without it, its mmap_lock.
        let written: f64 = workers.parse::<f64>().unwrap_or(0.0) * 2.0 * 256.0;
        assert!(num(6) >= written, "faults {} < {written}: {row:?}", num(6));
        assert!(
            num(7) + mmap >= num(6),
            "lock acquisitions < faults: {row:?}"
        );
        assert!(num(8) <= num(7), "contended > acquisitions: {row:?}");
        if harts == "1" {
            assert_eq!(
                (num(8), num(9)),
                (0.0, 0.0),
                "one hart cannot contend: {row:?}"
            );
        }
        assert!(num(5) > 0.0, "modelled cycles: {row:?}");
    }
    assert_eq!(rows.len(), 4, "{out}");
    assert!(
        rest.last()
            .is_some_and(|l| l.starts_with("lock acq / contended / wait ms")),
        "{out}"
    );
}

/// A guest writing into `| head -1` dies as under Linux: the host's stdout is a closed
/// pipe, the guest's write gets `EPIPE` and `SIGPIPE` at its default action kills it, so
/// dirtybit exits with 128 + 13 (the guest's own error path, status 3, is never reached).
#[test]
fn closed_host_stdout_kills_the_guest_with_sigpipe() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dirtybit"))
        .args(["run", &image("pollpipe"), "flood"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dirtybit");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read the first line");
    // The reader goes, as `head -1` exits: the pipe has no reader any more.
    assert_eq!(first, "line 0\n");
    let o = child.wait_with_output().expect("wait for dirtybit");
    assert_eq!(o.status.code(), Some(141), "{}", stderr(&o));
}

/// A `read` of stdin waiting for the host blocks its own hart only: on 2 harts the
/// other thread of `pollpipe stdin` computes and prints its sum while the reader waits
/// for a line that comes only after the sum has been read (served without the kernel
/// lock, the host read holds up nobody else; under it, every other hart's next kernel
/// entry — the sum's `write` — waited for the host). The watchdog is a generous bound
/// on a machine that hangs, not a timing: the sum takes well under a second.
#[test]
fn a_read_of_stdin_waiting_for_the_host_blocks_only_its_own_hart() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dirtybit"))
        .args(["run", "--harts", "2", &image("pollpipe"), "stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dirtybit");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(120));
    if first.is_err() {
        let _ = child.kill();
    }
    assert_eq!(
        first.as_deref(),
        Ok("sum 1250000025000000"),
        "the sum before any input"
    );
    stdin.write_all(b"hi\n").expect("write stdin");
    drop(stdin);
    let o = child.wait_with_output().expect("wait for dirtybit");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rx.recv().as_deref(), Ok("read: hi"));
}

/// `--env-clear` and `--env` build the guest's environment as `env -i KEY=VALUE…` does (a
/// later `--env` of a name replaces the earlier), the host's is passed otherwise (as
/// qemu-user passes it), and a value without `KEY=` is refused before anything runs.
#[test]
fn env_flags_set_the_guest_environment() {
    let show = |extra: &[&str]| {
        let exe = image("execer");
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[exe.as_str(), "--show", "-1", "-1"]);
        String::from_utf8_lossy(&dirtybit(&args).stdout).into_owned()
    };
    let out = show(&[
        "--env-clear",
        "--env",
        "FOO=1",
        "--env",
        "BAR=2",
        "--env",
        "FOO=3",
    ]);
    assert!(
        out.contains("new image: env \"FOO=3\"\nnew image: env \"BAR=2\"\n"),
        "{out}"
    );
    assert!(
        out.contains("2 environment strings, getenv(\"FOO\") = 3"),
        "{out}"
    );
    // The harness runs dirtybit with PATH alone: the host's environment, plus FOO.
    let out = show(&["--env", "FOO=x"]);
    assert!(
        out.contains("new image: env \"PATH=/usr/bin:/bin\""),
        "{out}"
    );
    assert!(
        out.contains("2 environment strings, getenv(\"FOO\") = x"),
        "{out}"
    );
    let o = dirtybit(&["run", "--env", "=x", &image("hello")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("expected KEY=VALUE"), "{}", stderr(&o));
}
