//! Tests of `/sys/kernel/debug/gup_test`: the ABI numbers and layout, every command on
//! real page tables, Linux's argument errors, the `verify_dma_pinned()` warning, the
//! long-term pin test's per-file state, and the exact modelled kernel events of a pin.

use std::sync::Arc;

use emu::CostModel;
use mmu::{AdScheme, SatpMode};

use super::gup::FollFlags;
use super::gup_test::*;
use super::mmap::MADV_HUGEPAGE;
use super::test_support::{clean, ANON, P, RW};
use super::*;
use crate::errno::Errno;
use crate::uaccess::UserAccess;

fn setup() -> (Arc<PhysMem>, Mm) {
    super::test_support::setup_mm(32, SatpMode::Sv39, AdScheme::Svadu, 3)
}

/// A 2 MiB-aligned populated (written) anonymous range of `pages` pages.
fn populated(mm: &mut Mm, pages: u64) -> u64 {
    let len = pages * P;
    let raw = mm.do_mmap(0, len + (2 << 20), RW, ANON, None, 0).unwrap();
    let a = (raw + (2 << 20) - 1) & !((2 << 20) - 1);
    for i in 0..pages {
        mm.copy_to_user(a + i * P, &(i + 1).to_le_bytes()).unwrap();
    }
    a
}

fn run(mm: &mut Mm, cmd: GupTestCmd, gup: &mut GupTest) -> (KResult<GupTestRun>, String) {
    let mut log = String::new();
    let r = gup_test_run(mm, cmd, gup, &mut |m| log.push_str(m), 7);
    (r, log)
}

#[test]
fn command_numbers_and_layout_are_linuxs() {
    // _IOWR('g', n, struct gup_test) with sizeof == 80; _IOW('g', 7, 24); _IO('g', 8);
    // _IOW('g', 9, __u64): the values riscv64-linux-gnu-gcc computes from mm/gup_test.h.
    assert_eq!(GUP_FAST_BENCHMARK, 0xc050_6701);
    assert_eq!(PIN_FAST_BENCHMARK, 0xc050_6702);
    assert_eq!(PIN_LONGTERM_BENCHMARK, 0xc050_6703);
    assert_eq!(GUP_BASIC_TEST, 0xc050_6704);
    assert_eq!(PIN_BASIC_TEST, 0xc050_6705);
    assert_eq!(DUMP_USER_PAGES_TEST, 0xc050_6706);
    assert_eq!(PIN_LONGTERM_TEST_START, 0x4018_6707);
    assert_eq!(PIN_LONGTERM_TEST_STOP, 0x6708);
    assert_eq!(PIN_LONGTERM_TEST_READ, 0x4008_6709);
    let g = GupTest {
        get_delta_usec: 1,
        put_delta_usec: 2,
        addr: 3,
        size: 4,
        nr_pages_per_call: 5,
        gup_flags: 6,
        test_flags: 7,
        which_pages: [8, 9, 10, 11, 12, 13, 14, 15],
    };
    let b = g.to_bytes();
    assert_eq!(b[32], 5, "nr_pages_per_call at offset 32");
    assert_eq!(b[44], 8, "which_pages at offset 44");
    assert_eq!(b[72], 15);
    assert_eq!(GupTest::from_bytes(&b), g);
}

#[test]
fn every_benchmark_and_basic_command_takes_and_releases_every_page() {
    let (phys, mut mm) = setup();
    let a = populated(&mut mm, 64);
    let base = phys.pages.audit();
    for cmd in [
        GupTestCmd::GupFastBenchmark,
        GupTestCmd::PinFastBenchmark,
        GupTestCmd::PinLongtermBenchmark,
        GupTestCmd::GupBasicTest,
        GupTestCmd::PinBasicTest,
        GupTestCmd::DumpUserPagesTest,
    ] {
        for per_call in [1, 16, 64, 1000] {
            let mut g = GupTest {
                addr: a,
                size: 64 * P,
                nr_pages_per_call: per_call,
                gup_flags: FollFlags::WRITE.bits(),
                ..GupTest::default()
            };
            let (r, log) = run(&mut mm, cmd, &mut g);
            let r = r.unwrap();
            assert_eq!((g.size, r.nr_pages), (64 * P, 64), "{cmd:?} x{per_call}");
            assert!(log.is_empty(), "{cmd:?}: {log}");
            assert_eq!(
                phys.pages.audit(),
                base,
                "{cmd:?}: every reference given back"
            );
        }
    }
    clean(&phys);
}

#[test]
fn pin_fast_kernel_events_are_exact() {
    // 512 populated pages in one last-level table, one call: the upper levels once (Sv39:
    // two PTE loads), then per page the PTE, its re-check after the reference, and one
    // refcount update; the release is one refcount update per page.
    let (phys, mut mm) = setup();
    let a = populated(&mut mm, 512);
    let mut g = GupTest {
        addr: a,
        size: 512 * P,
        nr_pages_per_call: 512,
        gup_flags: FollFlags::WRITE.bits(),
        ..GupTest::default()
    };
    let (r, _) = run(&mut mm, GupTestCmd::PinFastBenchmark, &mut g);
    let r = r.unwrap();
    let e = r.get_events;
    assert_eq!(
        (e.gup_calls, e.pte_loads, e.refcount_ops, e.lock_ops),
        (1, 2 + 2 * 512, 512, 0)
    );
    assert_eq!(e.total(), 1 + 2 + 2 * 512 + 512);
    let c = CostModel::default();
    assert_eq!(e.cycles(&c), 40 + (2 + 1024) * 20 + 512 * 20);
    assert_eq!(r.put_events.refcount_ops, 512);
    assert_eq!(r.put_events.total(), 512);
    // The same range one page per call walks the upper levels every time.
    let mut g1 = GupTest {
        nr_pages_per_call: 1,
        ..g
    };
    g1.size = 512 * P;
    let (r, _) = run(&mut mm, GupTestCmd::PinFastBenchmark, &mut g1);
    let e = r.unwrap().get_events;
    assert_eq!((e.gup_calls, e.pte_loads), (512, 512 * (2 + 2)));
    // The slow path walks every level per page and takes the mmap lock once.
    let mut gs = GupTest {
        nr_pages_per_call: 512,
        ..g
    };
    gs.size = 512 * P;
    let (r, _) = run(&mut mm, GupTestCmd::PinBasicTest, &mut gs);
    let e = r.unwrap().get_events;
    assert_eq!((e.gup_calls, e.lock_ops, e.refcount_ops), (1, 1, 512));
    assert_eq!(e.pte_loads, 512 * 3);
    clean(&phys);
}

#[test]
fn pins_of_a_huge_pmd_are_per_folio_and_verified_on_the_head() {
    // One 2 MiB THP (MADV_HUGEPAGE, written): every pin command pins all 512 pages and
    // verify_dma_pinned() sees them pinned (the pincount is the folio's, on its head;
    // the pages taken are tail pages). GUP-fast reads the upper levels and the PMD once
    // (Sv39: two PTE loads), grabs the folio once for 512 pages (a large-folio pin is two
    // atomics: _refcount and _pincount) and re-checks the PMD; the release is one
    // gup_put_folio() for the run of 512 (two atomics).
    let (phys, mut mm) = setup();
    let len = 2 << 20;
    let raw = mm.do_mmap(0, 2 * len, RW, ANON, None, 0).unwrap();
    let a = raw.next_multiple_of(len);
    mm.madvise(a, len, MADV_HUGEPAGE).unwrap();
    for i in 0..512 {
        mm.copy_to_user(a + i * P, &[1]).unwrap();
    }
    let leaf = mm.page_table().follow_pte(a).unwrap();
    assert_eq!(leaf.level, 1, "mapped by a huge PMD");
    let c = CostModel::default();
    let g = GupTest {
        addr: a,
        size: len,
        nr_pages_per_call: 512,
        gup_flags: FollFlags::WRITE.bits(),
        ..GupTest::default()
    };
    for cmd in [
        GupTestCmd::PinFastBenchmark,
        GupTestCmd::PinBasicTest,
        GupTestCmd::PinLongtermBenchmark,
    ] {
        let mut g = g;
        let (r, log) = run(&mut mm, cmd, &mut g);
        let r = r.unwrap();
        assert_eq!(
            (r.nr_pages, g.size, log.as_str()),
            (512, len, ""),
            "{cmd:?}"
        );
        assert_eq!(r.put_events.refcount_ops, 2, "{cmd:?}");
        let e = r.get_events;
        if cmd == GupTestCmd::PinFastBenchmark {
            assert_eq!((e.gup_calls, e.pte_loads, e.refcount_ops), (1, 3, 2));
            assert_eq!(e.cycles(&c), 40 + 3 * 20 + 2 * 20);
        } else {
            // follow_huge_pmd() pins the first page, page_increm the other 511.
            assert_eq!((e.gup_calls, e.refcount_ops), (1, 4), "{cmd:?}");
        }
    }
    // FOLL_GET: one reference for the 512 on the walk; gup_test's put_back_pages() is a
    // put_page() per page.
    let mut gg = g;
    let (r, _) = run(&mut mm, GupTestCmd::GupFastBenchmark, &mut gg);
    let r = r.unwrap();
    assert_eq!(
        (r.get_events.refcount_ops, r.put_events.refcount_ops),
        (1, 512)
    );
    let head = phys.pages.page(leaf.pfn_at(a)).unwrap();
    assert_eq!((head.refcount(), head.pincount()), (1, 0), "all given back");
    clean(&phys);
}

#[test]
fn gup_errors_shorten_size_but_the_ioctl_succeeds() {
    let (phys, mut mm) = setup();
    let a = populated(&mut mm, 8);
    // Unmap the last 3 pages: with 2 pages per call, the call at page 4 gets 1 of 2 and
    // the walk stops after that chunk (Linux's `nr != nr_pages_per_call` check), so the
    // reported size covers the whole chunk: 6 pages.
    mm.do_munmap(a + 5 * P, 3 * P).unwrap();
    for cmd in [GupTestCmd::PinFastBenchmark, GupTestCmd::GupBasicTest] {
        let mut g = GupTest {
            addr: a,
            size: 8 * P,
            nr_pages_per_call: 2,
            ..GupTest::default()
        };
        let (r, _) = run(&mut mm, cmd, &mut g);
        assert_eq!((r.unwrap().nr_pages, g.size), (5, 6 * P), "{cmd:?}");
    }
    // Refused flags: FOLL_LONGTERM without a pin (is_valid_gup_args()), an internal flag,
    // FOLL_DUMP on the fast path (not in FOLL_FAST_ALLOWED): nothing taken, size 0, Ok.
    for (cmd, flags) in [
        (GupTestCmd::GupFastBenchmark, FollFlags::LONGTERM.bits()),
        (GupTestCmd::GupBasicTest, FollFlags::PIN.bits()),
        (GupTestCmd::PinFastBenchmark, FollFlags::DUMP.bits()),
        (GupTestCmd::PinBasicTest, FollFlags::GET.bits()),
    ] {
        let mut g = GupTest {
            addr: a,
            size: 4 * P,
            nr_pages_per_call: 4,
            gup_flags: flags,
            ..GupTest::default()
        };
        let (r, _) = run(&mut mm, cmd, &mut g);
        assert_eq!((r.unwrap().nr_pages, g.size), (0, 0), "{cmd:?} {flags:#x}");
    }
    // nr_pages_per_call 0: the first call takes nothing.
    let mut g = GupTest {
        addr: a,
        size: 4 * P,
        ..GupTest::default()
    };
    assert_eq!(
        run(&mut mm, GupTestCmd::GupFastBenchmark, &mut g)
            .0
            .unwrap()
            .nr_pages,
        0
    );
    assert_eq!(g.size, 0);
    // addr + size overflows: EINVAL; an array larger than INT_MAX bytes: ENOMEM.
    let mut g = GupTest {
        addr: u64::MAX - P,
        size: 2 * P,
        nr_pages_per_call: 1,
        ..GupTest::default()
    };
    assert_eq!(
        run(&mut mm, GupTestCmd::PinBasicTest, &mut g).0,
        Err(Errno::EINVAL)
    );
    let mut g = GupTest {
        addr: a,
        size: 1 << 40,
        nr_pages_per_call: 1,
        ..GupTest::default()
    };
    assert_eq!(
        run(&mut mm, GupTestCmd::PinBasicTest, &mut g).0,
        Err(Errno::ENOMEM)
    );
    // More than free guest RAM could hold as a page array: ENOMEM too.
    let mut g = GupTest {
        addr: a,
        size: 64 << 30,
        nr_pages_per_call: 1,
        ..GupTest::default()
    };
    assert_eq!(
        run(&mut mm, GupTestCmd::GupBasicTest, &mut g).0,
        Err(Errno::ENOMEM)
    );
    clean(&phys);
}

#[test]
fn a_pin_of_the_zero_page_is_not_dma_pinned_and_warns() {
    // A R/O short-term pin of never-written anonymous memory gets the shared zero page,
    // which pins never count on: verify_dma_pinned() WARNs once and stops; the ioctl
    // succeeds (Linux's WARN does not fail it).
    let (phys, mut mm) = setup();
    let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    let w0 = phys.events().warnings.get();
    let mut g = GupTest {
        addr: a,
        size: 4 * P,
        nr_pages_per_call: 4,
        ..GupTest::default()
    };
    let (r, log) = run(&mut mm, GupTestCmd::PinBasicTest, &mut g);
    assert_eq!(r.unwrap().nr_pages, 4);
    assert!(log.contains("pages[0] is NOT dma-pinned\n"), "{log}");
    assert!(
        log.contains("WARNING: CPU: 0 PID: 7 at mm/gup_test.c"),
        "{log}"
    );
    assert!(
        log.contains("page dumped because: gup_test failure"),
        "{log}"
    );
    assert_eq!(
        log.matches("NOT dma-pinned").count(),
        1,
        "stops at the first"
    );
    assert_eq!(phys.events().warnings.get(), w0 + 1);
    // A long-term R/O pin unshares the zero page instead (FAULT_FLAG_UNSHARE): no warning.
    let (r, log) = run(&mut mm, GupTestCmd::PinLongtermBenchmark, &mut g);
    assert_eq!(r.unwrap().nr_pages, 4);
    assert!(log.is_empty(), "{log}");
    // A FOLL_GET of the zero page is not checked.
    let mut g2 = GupTest {
        addr: mm.do_mmap(0, P, RW, ANON, None, 0).unwrap(),
        size: P,
        nr_pages_per_call: 1,
        ..GupTest::default()
    };
    assert!(run(&mut mm, GupTestCmd::GupBasicTest, &mut g2).1.is_empty());
    clean(&phys);
}

#[test]
fn dump_user_pages_zeroes_out_of_range_indices() {
    let (phys, mut mm) = setup();
    let a = populated(&mut mm, 4);
    for test_flags in [0, GUP_TEST_FLAG_DUMP_PAGES_USE_PIN] {
        let mut g = GupTest {
            addr: a,
            size: 4 * P,
            nr_pages_per_call: 4,
            test_flags,
            which_pages: [1, 5, 4, 0, 0, 0, 0, 0],
            ..GupTest::default()
        };
        let (r, log) = run(&mut mm, GupTestCmd::DumpUserPagesTest, &mut g);
        assert_eq!(r.unwrap().nr_pages, 4);
        assert_eq!(g.which_pages, [1, 0, 4, 0, 0, 0, 0, 0]);
        assert!(
            log.contains("ZEROING due to out of range: .which_pages[1]: 5"),
            "{log}"
        );
        assert!(
            log.contains("---- page #0, starting from user virt addr"),
            "{log}"
        );
        assert!(log.contains("---- page #3,"), "{log}");
        assert_eq!(
            log.matches("page dumped because: gup_test: dump_pages() test")
                .count(),
            2
        );
    }
    clean(&phys);
}

fn ioctl(f: &GupTestFile, mm: &mut Mm, cmd: u32, arg: u64) -> (KResult<u64>, String) {
    let mut log = String::new();
    let r = f.ioctl(mm, cmd, arg, &mut |m| log.push_str(m), 1);
    (r, log)
}

/// Writes a `struct pin_longterm_test` at `at`.
fn put_args(mm: &mut Mm, at: u64, addr: u64, size: u64, flags: u32) {
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&addr.to_le_bytes());
    b[8..16].copy_from_slice(&size.to_le_bytes());
    b[16..20].copy_from_slice(&flags.to_le_bytes());
    mm.copy_to_user(at, &b).unwrap();
}

#[test]
fn ioctl_argument_errors_are_linuxs() {
    let (phys, mut mm) = setup();
    let f = GupTestFile::default();
    let a = populated(&mut mm, 4);
    let argp = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    // Unknown command; bad argument pointer.
    assert_eq!(ioctl(&f, &mut mm, 0xc050_6710, argp).0, Err(Errno::EINVAL));
    assert_eq!(
        ioctl(&f, &mut mm, PIN_FAST_BENCHMARK, 8).0,
        Err(Errno::EFAULT)
    );
    // A valid struct round trip through user memory.
    let g = GupTest {
        addr: a,
        size: 4 * P,
        nr_pages_per_call: 1,
        gup_flags: 1,
        ..GupTest::default()
    };
    mm.copy_to_user(argp, &g.to_bytes()).unwrap();
    assert_eq!(ioctl(&f, &mut mm, PIN_FAST_BENCHMARK, argp).0, Ok(0));
    let mut back = [0u8; GUP_TEST_SIZE];
    mm.copy_from_user(argp, &mut back).unwrap();
    assert_eq!(GupTest::from_bytes(&back).size, 4 * P);
    // The long-term test: READ and STOP without START; START's checks.
    assert_eq!(
        ioctl(&f, &mut mm, PIN_LONGTERM_TEST_READ, argp).0,
        Err(Errno::EINVAL)
    );
    assert_eq!(ioctl(&f, &mut mm, PIN_LONGTERM_TEST_STOP, 0).0, Ok(0));
    assert_eq!(
        ioctl(&f, &mut mm, PIN_LONGTERM_TEST_START, 8).0,
        Err(Errno::EFAULT)
    );
    for (addr, size, flags) in [
        (a, 4 * P, 4),     // unknown flag
        (a + 1, 4 * P, 0), // unaligned address
        (a, 4 * P - 1, 0), // unaligned size
        (a, 0, 0),         // no pages
        (a, 1 << 63, 0),   // size > LONG_MAX
    ] {
        put_args(&mut mm, argp, addr, size, flags);
        assert_eq!(
            ioctl(&f, &mut mm, PIN_LONGTERM_TEST_START, argp).0,
            Err(Errno::EINVAL),
            "{addr:#x} {size:#x} {flags}"
        );
    }
    // A range GUP cannot pin: its errno, and nothing stays pinned.
    put_args(&mut mm, argp, 0x1000, 4 * P, 0);
    assert_eq!(
        ioctl(&f, &mut mm, PIN_LONGTERM_TEST_START, argp).0,
        Err(Errno::EFAULT)
    );
    assert_eq!(f.longterm_pages(), 0);
    // Partially pinnable (the last page unmapped): the pins taken are dropped.
    mm.do_munmap(a + 3 * P, P).unwrap();
    let before = phys.pages.audit();
    put_args(&mut mm, argp, a, 4 * P, PIN_LONGTERM_TEST_FLAG_USE_FAST);
    assert_eq!(
        ioctl(&f, &mut mm, PIN_LONGTERM_TEST_START, argp).0,
        Err(Errno::EFAULT)
    );
    assert_eq!(f.longterm_pages(), 0);
    assert_eq!(phys.pages.audit(), before);
    clean(&phys);
}

#[test]
fn longterm_test_is_per_file_and_unpins_on_stop_and_release() {
    let (phys, mut mm) = setup();
    let a = populated(&mut mm, 4);
    let argp = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    let buf = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    for flags in 0..4 {
        let f = GupTestFile::default();
        put_args(&mut mm, argp, a, 4 * P, flags);
        assert_eq!(ioctl(&f, &mut mm, PIN_LONGTERM_TEST_START, argp).0, Ok(0));
        assert_eq!(f.longterm_pages(), 4);
        assert_eq!(
            ioctl(&f, &mut mm, PIN_LONGTERM_TEST_START, argp).0,
            Err(Errno::EINVAL),
            "one test per file"
        );
        // Another open is another test.
        let g = GupTestFile::default();
        assert_eq!(ioctl(&g, &mut mm, PIN_LONGTERM_TEST_START, argp).0, Ok(0));
        drop(g);
        // Write through the page table, then READ the pinned pages: coherent.
        mm.copy_to_user(a + 2 * P, &[0xab; 8]).unwrap();
        mm.put_user_u64(argp + 64, buf).unwrap();
        assert_eq!(
            ioctl(&f, &mut mm, PIN_LONGTERM_TEST_READ, argp + 64).0,
            Ok(0)
        );
        assert_eq!(mm.get_user_u64(buf + 2 * P).unwrap(), 0xabab_abab_abab_abab);
        assert_eq!(mm.get_user_u64(buf + 3 * P).unwrap(), 4);
        // READ into an unmapped buffer: EFAULT.
        mm.put_user_u64(argp + 64, 0x1000).unwrap();
        assert_eq!(
            ioctl(&f, &mut mm, PIN_LONGTERM_TEST_READ, argp + 64).0,
            Err(Errno::EFAULT)
        );
        if flags & 1 == 0 {
            assert_eq!(ioctl(&f, &mut mm, PIN_LONGTERM_TEST_STOP, 0).0, Ok(0));
            assert_eq!(f.longterm_pages(), 0);
        }
        // Release (the last close) unpins whatever is still pinned.
        drop(f);
        for i in 0..4 {
            let pfn = Pfn(mm.page_table().follow_pte(a + i * P).unwrap().pte.ppn());
            let page = phys.pages.page(pfn).unwrap();
            assert_eq!((page.refcount(), page.mapcount()), (1, 1), "flags {flags}");
        }
    }
    clean(&phys);
}
