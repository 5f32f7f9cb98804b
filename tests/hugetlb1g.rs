//! 1 GiB hugetlb pages, proven by a real guest: `guest/bin/hugetlb1g` on a machine with
//! 4 GiB of RAM and one 1 GiB page at boot (`--mem 4G --hugepages 1G:1`, Linux's
//! `hugepagesz=1G hugepages=1`), against `guest/expected-gigantic/` (recorded from
//! dirtybit: qemu-user has no hugetlb pool). The guest grows the pool at run time to the
//! three whole gigabytes above the kernel's frames, maps private, shared and memfd pages
//! (level-2 leaves in Sv39 and Sv48), copies one on write after fork, pins them through
//! `gup_test`, and shrinks the pool under them.
//!
//! Each run copies a whole gigabyte on write (about 1 GiB of host memory; zeroing a
//! gigabyte costs none, see `GuestMemory::discard_range`): two machine configurations
//! only, the walker's two paging modes, one with Svade's A/D faults and a one-entry TLB,
//! one on two harts.

mod common;

use common::*;
use dirtybit::RunOptions;

fn opts() -> RunOptions {
    RunOptions {
        mem_bytes: 4 << 30,
        hugepages: vec![(1 << 30, 1)],
        ..RunOptions::default()
    }
}

#[test]
fn gigantic_pages_in_sv39_and_sv48() {
    let runs = [
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
    ];
    for (label, o) in runs {
        run_against(
            "hugetlb1g",
            &o,
            expected_in("guest/expected-gigantic", "hugetlb1g"),
            &format!("hugetlb1g [{label}]"),
        );
    }
}

#[test]
fn without_a_free_gigabyte_the_boot_pool_is_smaller() {
    // 1 GiB of RAM holds no whole, aligned, free gigabyte: hugepages=1 gives none, and
    // the guest's mappings of the size fail as Linux's would (ENOMEM at mmap).
    let o = run_with(
        &RunOptions {
            mem_bytes: 1 << 30,
            ..opts()
        },
        &image("hugetlb1g"),
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("boot (hugepages=1):                total 0 free 0"),
        "{out}"
    );
    assert!(out.contains("mmap MAP_HUGE_1GB: ENOMEM"), "{out}");
    assert_eq!(o.code, 1);
    assert_page_audit_clean(&o, "hugetlb1g on 1 GiB");
}
