//! The host-memory bound of the README (issue 10), measured: dirtybit runs guests that try
//! to grow its host process (`guest/src/hoghost.c`: guest RAM touched to the OOM killer,
//! the tmpfs filled, `execve` with huge argument lists, hundreds of threads, every pipe
//! filled), on two RAM sizes and both schedulers, and its peak RSS (`ru_maxrss` of the
//! child, through GNU `time`) must stay within
//!
//! `base + 2 × --mem + 6 MiB + 128 KiB`
//!
//! where `base` is the peak RSS of the same dirtybit running a guest that exits at once
//! (code, tables, the image) and `6 MiB + 128 KiB` the argument copies of an `execve` in
//! progress. Pipe buffers are guest frames (charged to `--mem`), so a guest that fills
//! every pipe it can open adds nothing.

mod common;

use std::process::{Command, Stdio};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// One `execve`'s argument copies: a quarter of the stack rlimit, at most 6 MiB, plus one
/// `MAX_ARG_STRLEN` string.
const EXEC_ARGS: u64 = 6 * MIB + 128 * KIB;

/// Runs `dirtybit run ARGS… hoghost MODE` under GNU `time`; returns dirtybit's exit code
/// and peak RSS in bytes, or `None` if GNU `time` is missing.
fn peak_rss(args: &[&str], mode: &str) -> Option<(Option<i32>, u64)> {
    let out = std::env::temp_dir().join(format!(
        "dirtybit-hostmem-{}-{mode}-{}.rss",
        std::process::id(),
        args.join("_").replace('-', "")
    ));
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&out)
        .arg(env!("CARGO_BIN_EXE_dirtybit"))
        .arg("run")
        .args(args)
        .arg(common::image("hoghost"))
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let text = std::fs::read_to_string(&out).ok()?;
    let _ = std::fs::remove_file(&out);
    // GNU time prints "Command exited with non-zero status N" before the figure.
    let kib: u64 = text.lines().last()?.trim().parse().ok()?;
    // Under `time`, a guest's status is dirtybit's exit code.
    Some((status.code(), kib * KIB))
}

#[test]
fn hostile_guests_stay_within_the_documented_host_memory_bound() {
    if Command::new("/usr/bin/time")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("GNU time is not installed at /usr/bin/time: the bound is not measured");
        return;
    }
    let modes: [(&str, &[i32]); 6] = [
        // (mode, the statuses it may end with)
        ("mmap", &[137]),
        ("tmpfs", &[0]),
        ("argv", &[0]),
        ("threads", &[0]),
        ("pipes", &[0]),
        ("all", &[0]),
    ];
    let mut checked = 0;
    for mem in ["48M", "96M"] {
        let mem_bytes: u64 = mem.trim_end_matches('M').parse::<u64>().unwrap() * MIB;
        for sched in [
            &["--sched", "parallel"][..],
            &["--sched", "deterministic", "--harts", "2"],
        ] {
            let mut args = vec!["--mem", mem];
            args.extend_from_slice(sched);
            let (code, base) = peak_rss(&args, "exit").expect("run dirtybit under time");
            assert_eq!(code, Some(0), "{args:?} exit");
            for (mode, statuses) in modes {
                let (code, peak) = peak_rss(&args, mode).expect("run dirtybit under time");
                assert!(
                    code.is_some_and(|c| statuses.contains(&c)),
                    "{args:?} {mode}: status {code:?}, expected one of {statuses:?}"
                );
                let bound = base + 2 * mem_bytes + EXEC_ARGS;
                assert!(
                    peak <= bound,
                    "{args:?} {mode}: peak RSS {} KiB over the bound {} KiB (base {} KiB)",
                    peak / KIB,
                    bound / KIB,
                    base / KIB
                );
                // The guests do reach their limits: guest RAM filled shows in the RSS.
                if mode == "mmap" {
                    assert!(
                        peak >= base + mem_bytes / 2,
                        "{args:?} mmap: peak RSS {} KiB: guest RAM was not filled",
                        peak / KIB
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 24);
}
