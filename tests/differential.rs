//! Differential tests: every image in `guest/bin/` must print byte-identical stdout and
//! exit with the same status under dirtybit as under `qemu-riscv64` — in Sv39 and Sv48,
//! with Svadu and Svade, and with a 1-entry TLB as well as the default geometry.
//!
//! The oracle is `guest/expected/`, recorded from qemu-riscv64 by `make -C guest expected`,
//! so these tests need no cross toolchain. `qemu_live_agrees` re-runs qemu-riscv64 itself
//! when it is installed (CI installs it) to prove the recordings are still qemu's output.

mod common;

use common::*;
use dirtybit::RunOptions;

/// The machine configurations every image must agree in.
fn configs() -> Vec<(&'static str, RunOptions)> {
    let base = RunOptions {
        mem_bytes: 512 << 20,
        ..RunOptions::default()
    };
    vec![
        ("sv39-svadu-64x4", base.clone()),
        (
            "sv48-svadu-64x4",
            RunOptions {
                paging: "sv48".into(),
                ..base.clone()
            },
        ),
        (
            "sv39-svade-64x4",
            RunOptions {
                ad: "svade".into(),
                ..base.clone()
            },
        ),
        (
            "sv48-svade-1x1",
            RunOptions {
                paging: "sv48".into(),
                ad: "svade".into(),
                tlb: "1x1".into(),
                ..base.clone()
            },
        ),
        (
            "sv39-svadu-1x1",
            RunOptions {
                tlb: "1x1".into(),
                ..base.clone()
            },
        ),
        // SMP: two harts on two host threads, and four harts taking seeded turns.
        (
            "sv39-svadu-64x4-2harts",
            RunOptions {
                harts: 2,
                ..base.clone()
            },
        ),
        (
            "sv39-svadu-64x4-4harts-deterministic",
            RunOptions {
                harts: 4,
                sched: "deterministic".into(),
                seed: 3,
                ..base
            },
        ),
    ]
}

fn check_image(name: &str) {
    let runs = configs()
        .into_iter()
        .map(|(label, opts)| (label.to_string(), opts, expected(name)))
        .collect();
    check_runs(name, "qemu-riscv64's", runs);
}

/// A kernel image (reference recorded from dirtybit, `guest/expected-kernel/`): every
/// machine configuration on the modern kernel, and the default machine on each older GUP
/// generation against that generation's reference.
fn check_kernel_image(name: &str) {
    let mut runs: Vec<(String, RunOptions, (Vec<u8>, u8))> = configs()
        .into_iter()
        .map(|(label, opts)| (label.to_string(), opts, expected_kernel(name, "modern")))
        .collect();
    for gen in ["dirtycow", "foll-cow"] {
        let (_, base) = configs().swap_remove(0);
        let opts = RunOptions {
            gup: gen.into(),
            ..base
        };
        runs.push((format!("gup={gen}"), opts, expected_kernel(name, gen)));
    }
    check_runs(name, "the reviewed reference", runs);
}

/// Runs `name` once per `(label, options, (stdout, status))` and compares.
fn check_runs(name: &str, oracle: &str, runs: Vec<(String, RunOptions, (Vec<u8>, u8))>) {
    let args = args_of(name);
    // execer runs the images next to it (argv[0]'s directory): give the guest file system
    // those files at the same absolute paths, as `--file` does.
    let files: Vec<String> = if name == "execer" {
        ["hello", "segv"]
            .iter()
            .map(|n| image(n).to_string_lossy().into_owned())
            .collect()
    } else {
        Vec::new()
    };
    let mut instret = None;
    for (label, mut opts, (want_out, want_status)) in runs {
        let gen_differs = opts.gup != "modern";
        opts.files = files.clone();
        let o = run_with(&opts, &image(name), &args);
        assert!(
            o.stdout == want_out,
            "{name} [{label}]: stdout differs from {oracle}\n{}\nstderr:\n{}",
            first_diff(&o.stdout, &want_out),
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            o.code,
            want_status,
            "{name} [{label}]: exit status; stderr:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Every run ends with the page audit: no leaked reference, map or pin.
        assert_page_audit_clean(&o, &format!("{name} [{label}]: after teardown"));
        // The program is the same in every configuration: so is the instruction count,
        // unless it reads time or counters (none of ours branch on them) — or it is
        // signal-driven: a pending signal is delivered at the next return to user mode,
        // and Svade or a tiny TLB adds returns (A/D faults), as on Linux — or it parses
        // /proc/self/maps or smaps (smaps, softdirty), whose text holds addresses as wide
        // as the paging mode's — or
        // it sleeps (threadsys: threads sleep on the host clock while another spins on
        // sched_yield, so how often it spins depends on the host's speed; pollpipe and
        // waitq: threads sleep on the host clock and wait for each other on pipes;
        // starve: its threads work until the sleeper has slept).
        // On several harts, how long a thread waits (spinning, or in the kernel) depends
        // on the interleaving — and so it does on one hart for threads or processes that
        // wait for each other (pthreads, parallel, faults, gupconc, gupfastrace), since
        // time slices are host time in parallel mode, as on Linux; stress probes until
        // another thread is done, on any hart count; badargs2 kills a child that may or
        // may not have reached its pause() by then; pgrp's processes wait for each other
        // on pipes and sleep on the host clock; futexes' threads and processes wait for
        // each other and time out on the host clock; mte's asynchronous tag fault is
        // reported at the next kernel entry, which Svade's A/D faults or a tiny TLB move;
        // ptracetest's tracees spin until their tracer attaches to or kills them;
        // syscalls2's blocked flock() is re-issued until the parent unlocks; eventfd's
        // threads and child sleep on the host clock and wait for each other's writes;
        // epoll's threads wait for each other on a pipe and time out on the host clock;
        // shmemfile parses smaps and its parent and child wait for each other on pipes;
        // uffd's monitor threads poll for the faults of other threads, which sleep in
        // the kernel until answered; procstatus parses /proc/self/status, whose values
        // (VmPTE, the context switches) depend on the paging mode and the interleaving.
        // hugetlb parses smaps, whose addresses are as wide as the paging mode's.
        let n = o.report.hart.instret;
        if [
            "sigs",
            "pollpipe",
            "waitq",
            "procmem",
            "threadsys",
            "starve",
            "pthreads",
            "parallel",
            "faults",
            "gupconc",
            "gupfastrace",
            "stress",
            "badargs2",
            "pgrp",
            "futexes",
            "syscalls2",
            "mte",
            "ptracetest",
            "smaps",
            "softdirty",
            "eventfd",
            "epoll",
            "shmemfile",
            "uffd",
            "procstatus",
            "hugetlb",
        ]
        .contains(&name)
            || gen_differs
            || opts.harts > 1
        {
            continue;
        }
        if let Some(prev) = instret {
            assert_eq!(
                n, prev,
                "{name} [{label}]: retired a different number of instructions"
            );
        }
        instret = Some(n);
    }
}

macro_rules! image_tests {
    ($($name:ident = $image:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_image($image);
            }
        )*
    };
}

image_tests!(
    hello = "hello",
    demo = "demo",
    static_pie = "pie",
    forkcow = "forkcow",
    sigs = "sigs",
    execer = "execer",
    isa = "isa",
    mm = "mm",
    segv = "segv",
    fileio = "fileio",
    sort = "sort",
    hash = "hash",
    fpmatrix = "fpmatrix",
    strsearch = "strsearch",
    tight_loop = "loop",
    filemap = "filemap",
    thp = "thp",
    pthreads = "pthreads",
    threadsys = "threadsys",
    parallel = "parallel",
    faults = "faults",
    badargs = "badargs",
    badargs2 = "badargs2",
    pollpipe = "pollpipe",
    starve = "starve",
    waitq = "waitq",
    pgrp = "pgrp",
    futexes = "futexes",
    syscalls2 = "syscalls2",
    eventfd = "eventfd",
    epoll = "epoll",
);

#[test]
fn every_image_with_a_reference_is_tested() {
    let tested = [
        "hello",
        "demo",
        "pie",
        "forkcow",
        "sigs",
        "execer",
        "isa",
        "mm",
        "segv",
        "fileio",
        "sort",
        "hash",
        "fpmatrix",
        "strsearch",
        "loop",
        "filemap",
        "thp",
        "pthreads",
        "threadsys",
        "parallel",
        "faults",
        "badargs",
        "badargs2",
        "pollpipe",
        "starve",
        "waitq",
        "pgrp",
        "futexes",
        "syscalls2",
        "eventfd",
        "epoll",
    ];
    for name in images_with_expected() {
        if name.starts_with("rand_") {
            continue; // covered by randinsn_all
        }
        assert!(
            tested.contains(&name.as_str()),
            "image {name} has a reference output but no test"
        );
    }
}

/// Every kernel image (`guest/expected-kernel/`) in every configuration and generation.
#[test]
fn kernel_images_all() {
    for n in kernel_images() {
        check_kernel_image(&n);
    }
}

#[test]
fn randinsn_all() {
    let names: Vec<String> = images_with_expected()
        .into_iter()
        .filter(|n| n.starts_with("rand_"))
        .collect();
    assert!(
        !names.is_empty(),
        "the random-instruction images are missing"
    );
    for n in names {
        check_image(&n);
    }
}

#[test]
fn qemu_live_agrees() {
    if std::process::Command::new("qemu-riscv64")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "qemu-riscv64 not installed: the recorded outputs in guest/expected are the oracle"
        );
        return;
    }
    for name in images_with_expected() {
        let (want_out, want_status) = expected(&name);
        let out = std::process::Command::new("qemu-riscv64")
            .arg(image(&name))
            .args(args_of(&name))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run qemu-riscv64");
        let status = out.status.code().map_or_else(
            || {
                use std::os::unix::process::ExitStatusExt;
                128 + out.status.signal().unwrap_or(0) as u8
            },
            |c| c as u8,
        );
        // Where qemu-user differs from Linux the recording was corrected by a documented sed
        // script (guest/qemu-fixups/NAME.sed, each line citing the Linux function): apply it.
        let fixups = root().join("guest/qemu-fixups").join(format!("{name}.sed"));
        let stdout = if fixups.exists() {
            let mut sed = std::process::Command::new("sed")
                .arg("-f")
                .arg(&fixups)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run sed");
            std::io::Write::write_all(&mut sed.stdin.take().expect("stdin"), &out.stdout)
                .expect("feed sed");
            sed.wait_with_output().expect("sed output").stdout
        } else {
            out.stdout
        };
        assert!(
            stdout == want_out,
            "{name}: qemu-riscv64 no longer prints the recorded output\n{}",
            first_diff(&stdout, &want_out)
        );
        assert_eq!(status, want_status, "{name}: qemu-riscv64 exit status");
    }
}
