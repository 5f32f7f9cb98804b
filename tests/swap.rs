//! Swap, proven by a real guest: `guest/bin/swap` on machines with a swap area
//! (`--swap 64M`), against `guest/expected-swap/` (recorded from dirtybit: qemu-user
//! passes `MADV_PAGEOUT` to the host, whose swap is not the program's to see). The guest
//! pages anonymous memory out with `MADV_PAGEOUT`, checks `/proc/self/pagemap`'s
//! `PM_SWAP`, smaps `Swap:`, `VmSwap`, `/proc/meminfo` and `/proc/vmstat`, reads it back
//! (major faults), checks that `PageAnonExclusive` survives swap, that fork shares the
//! slots and COW gives each side its data, that mprotect/mremap keep swap entries,
//! that `MADV_DONTNEED`, munmap and exit give slots back, that a pinned page stays and
//! that a THP is split and swapped. Every run ends with the page audit and the swap-slot
//! audit clean.

mod common;

use common::*;
use dirtybit::RunOptions;

fn opts() -> RunOptions {
    RunOptions {
        swap_bytes: 64 << 20,
        ..RunOptions::default()
    }
}

#[test]
fn pages_go_to_swap_and_come_back_in_every_machine_configuration() {
    let runs = [
        ("sv39-svadu-64x4", opts()),
        ("sv39-svadu-64x4-2harts", RunOptions { harts: 2, ..opts() }),
        (
            "sv48-svade-1x1",
            RunOptions {
                paging: "sv48".into(),
                ad: "svade".into(),
                tlb: "1x1".into(),
                ..opts()
            },
        ),
        (
            "4harts-deterministic",
            RunOptions {
                harts: 4,
                sched: "deterministic".into(),
                seed: 7,
                ..opts()
            },
        ),
        (
            "2harts --swap-latency 20us",
            RunOptions {
                harts: 2,
                swap_latency: Some(std::time::Duration::from_micros(20)),
                ..opts()
            },
        ),
        (
            "gup=dirtycow",
            RunOptions {
                gup: "dirtycow".into(),
                ..opts()
            },
        ),
    ];
    for (label, o) in runs {
        let out = run_against(
            "swap",
            &o,
            expected_in("guest/expected-swap", "swap"),
            &format!("swap [{label}]"),
        );
        assert_page_audit_clean(&out, &format!("swap [{label}]"));
    }
}

#[test]
fn a_swap_file_on_the_host_holds_the_slots() {
    let path = std::env::temp_dir().join(format!("dirtybit-swapfile-{}", std::process::id()));
    let o = RunOptions {
        swap_file: Some(path.clone()),
        ..opts()
    };
    let out = run_against(
        "swap",
        &o,
        expected_in("guest/expected-swap", "swap"),
        "swap [--swap-file]",
    );
    assert_page_audit_clean(&out, "swap [--swap-file]");
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    assert_eq!(len, 64 << 20, "the file is the area's size");
}

#[test]
fn without_swap_pageout_changes_nothing() {
    let o = run_with(
        &RunOptions::default(),
        &image("swap"),
        &["noswap".to_string()],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("MADV_PAGEOUT: 64 present, 0 swapped"), "{out}");
    assert!(
        out.contains("no swap: SwapTotal 0 kB, data intact"),
        "{out}"
    );
    assert_eq!(o.code, 0);
    assert_page_audit_clean(&o, "swap noswap");
}

#[test]
fn a_full_swap_area_leaves_the_rest_in_memory() {
    // 16 slots (15 pages after the header): the first pageout of 64 pages swaps 15,
    // the rest stay, and the data is intact either way.
    let o = run_with(
        &RunOptions {
            swap_bytes: 16 * 4096,
            ..RunOptions::default()
        },
        &image("swap"),
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("MADV_PAGEOUT: 49 present, 15 swapped"),
        "{out}"
    );
    assert!(out.contains("read back: 0 bad"), "{out}");
    assert!(!out.contains("BAD"), "{out}");
    assert_page_audit_clean(&o, "swap on a 64 KiB area");
}

#[test]
fn bad_swap_sizes_are_refused() {
    for (bytes, file) in [(1000u64, None), (4096, None), (0, Some("/tmp/x".into()))] {
        let o = RunOptions {
            swap_bytes: bytes,
            swap_file: file,
            ..RunOptions::default()
        };
        let err = o.kernel_config().unwrap_err();
        assert!(err.to_string().contains("--swap"), "{err}");
    }
}

/// `guest/bin/swapstress 96 THREADS` on 32 MiB of RAM and a 128 MiB swap area: three
/// times the machine's memory of anonymous data written and read back twice, with direct
/// reclaim paging out pages aged by the A bit (Svadu: the walker's; Svade: the fault
/// path's), while a long-term pin holds 16 pages that must never go.
fn pressure(threads: u32, o: RunOptions, what: &str) -> Outcome {
    let o = RunOptions {
        mem_bytes: 32 << 20,
        swap_bytes: 128 << 20,
        ..o
    };
    let out = run_with(
        &o,
        &image("swapstress"),
        &["96".into(), threads.to_string()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "96 MiB in {threads} thread(s): 0 bad words; pinned pages intact (pin held)"
        )),
        "{what}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.code, 0, "{what}");
    assert_eq!(out.report.kernel.oom_kills, 0, "{what}: OOM kill");
    assert_page_audit_clean(&out, what);
    out
}

#[test]
fn three_times_ram_of_anonymous_data_comes_back_through_swap() {
    for (label, o) in [
        ("1 hart svadu", RunOptions::default()),
        (
            "1 hart svade",
            RunOptions {
                ad: "svade".into(),
                ..RunOptions::default()
            },
        ),
        (
            "2 harts svadu",
            RunOptions {
                harts: 2,
                ..RunOptions::default()
            },
        ),
        (
            "2 harts svade",
            RunOptions {
                harts: 2,
                ad: "svade".into(),
                ..RunOptions::default()
            },
        ),
    ] {
        for threads in [1, 4] {
            pressure(
                threads,
                o.clone(),
                &format!("swapstress [{label}, {threads} threads]"),
            );
        }
    }
}

#[test]
fn reclaim_under_pressure_replays_by_seed() {
    let det = || RunOptions {
        harts: 4,
        sched: "deterministic".into(),
        seed: 11,
        ..RunOptions::default()
    };
    let a = pressure(4, det(), "swapstress [deterministic, seed 11]");
    let b = pressure(4, det(), "swapstress [deterministic, seed 11, again]");
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(
        (a.report.per_hart, a.report.hart.cycles),
        (b.report.per_hart, b.report.hart.cycles),
        "the same seed, the same run"
    );
}

/// `guest/bin/asyncpf`: a CPU-bound thread beside one that reads back 1024 swapped-out
/// pages, on one hart. With asynchronous page faults (the default) every one of those
/// faults is queued to a worker and its task parked; with `--async-pf off` none is; the
/// program's output is the same, and so is the page and slot audit.
#[test]
fn async_page_faults_queue_swap_ins_and_change_nothing_the_guest_sees() {
    let args = ["1024".to_string(), "2000000".to_string()];
    let mut outs = Vec::new();
    for (async_pf, harts) in [(true, 1), (false, 1), (true, 2)] {
        let o = RunOptions {
            swap_bytes: 64 << 20,
            async_pf,
            harts,
            swap_latency: Some(std::time::Duration::from_micros(20)),
            ..RunOptions::default()
        };
        let out = run_with(&o, &image("asyncpf"), &args);
        let what = format!("asyncpf [async-pf {async_pf}, {harts} harts]");
        assert_eq!(
            out.code,
            0,
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_page_audit_clean(&out, &what);
        let k = &out.report.kernel;
        if async_pf {
            assert_eq!(k.async_pf_queued, 1024, "{what}: every swap-in queued");
            assert_eq!(k.async_pf_completed, 1024, "{what}");
        } else {
            assert_eq!(k.async_pf_queued, 0, "{what}");
        }
        outs.push(out.stdout);
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]), "the same output");
    assert!(
        String::from_utf8_lossy(&outs[0]).contains("read back 1024 of 1024 pages intact"),
        "{}",
        String::from_utf8_lossy(&outs[0])
    );
}

#[test]
fn deterministic_mode_faults_synchronously() {
    let o = RunOptions {
        swap_bytes: 64 << 20,
        sched: "deterministic".into(),
        harts: 2,
        seed: 4,
        ..RunOptions::default()
    };
    let out = run_with(&o, &image("asyncpf"), &["256".into(), "100000".into()]);
    assert_eq!(out.code, 0);
    assert_eq!(out.report.kernel.async_pf_queued, 0);
    assert_page_audit_clean(&out, "asyncpf deterministic");
}
