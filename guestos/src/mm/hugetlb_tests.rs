//! hugetlb tests against real guest RAM: the pool's accounting (grow, shrink,
//! reservations, surplus pages), the fault paths (first touch, COW after fork, shared
//! mappings, unshare for R/O pins), the VMA rules (alignment, `EINVAL` splits) and GUP on
//! the 2 MiB leaves, each checked with the walker and the allocator's audit; then the
//! 1 GiB (gigantic) pool: whole aligned gigabytes from `alloc_contig_pages()`, its
//! failure under fragmentation, and the level-2 leaf's fault, COW and GUP-fast paths.

use std::sync::Arc;

use mmu::{AccessType, AdScheme, SatpMode};

use super::gup::*;
use super::hugetlb::HstateCounts;
use super::mmap::*;
use super::pgtable::pte_write;
use super::test_support::{clean, hart_read, hart_write, ANON, P, RW};
use super::*;

const H: u64 = HPAGE_PMD_SIZE;
const BASE: u64 = 0x4000_0000;
const HUGE: u64 = ANON | MAP_HUGETLB;

fn setup(pool: u64) -> (Arc<PhysMem>, Mm) {
    let (phys, mm) = super::test_support::setup_mm(64, SatpMode::Sv39, AdScheme::Svadu, 5);
    assert_eq!(
        phys.pages
            .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, pool),
        pool
    );
    (phys, mm)
}

fn counts(phys: &PhysMem) -> HstateCounts {
    phys.pages.default_hstate().counts()
}

/// `(total, free, resv, surplus)`.
fn pool(phys: &PhysMem) -> (u64, u64, u64, u64) {
    let c = counts(phys);
    (
        c.persistent(),
        c.free_huge_pages,
        c.resv_huge_pages,
        c.surplus_huge_pages,
    )
}

#[test]
fn the_pool_grows_with_what_is_free_and_shrinks_by_its_free_pages() {
    let (phys, _mm) = setup(0);
    let free_before = phys.pages.nr_free();
    assert_eq!(
        phys.pages
            .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, 4),
        4
    );
    assert_eq!(pool(&phys), (4, 4, 0, 0));
    assert_eq!(
        phys.pages.nr_free(),
        free_before - 4 * 512,
        "taken from the buddy"
    );
    let a = clean(&phys);
    assert_eq!(a.hugetlb_free_frames, 4 * 512);
    // More than 64 MiB holds: as many as there are whole free blocks.
    let most = phys
        .pages
        .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, 1000);
    assert!((20..32).contains(&most), "{most}");
    assert_eq!(phys.pages.nr_free_huge(), 0);
    assert_eq!(
        phys.pages
            .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, 1),
        1
    );
    assert_eq!(
        phys.pages
            .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, 0),
        0
    );
    assert_eq!(phys.pages.nr_free(), free_before, "every block back");
    assert_eq!(clean(&phys).hugetlb_free_frames, 0);
}

#[test]
fn first_touch_maps_a_zeroed_level1_leaf_and_munmap_gives_it_back() {
    let (phys, mut mm) = setup(2);
    let before = clean(&phys);
    // A length that is not a multiple of 2 MiB is rounded up; the address is aligned.
    let a = mm.do_mmap(0, H + P, RW, HUGE, None, 0).unwrap();
    assert_eq!(a % H, 0);
    assert_eq!(mm.vmas().vma_lookup(a).unwrap().len(), 2 * H);
    assert_eq!(pool(&phys), (2, 2, 2, 0), "reserved at mmap");
    // A page left dirty in the pool by an earlier user is zeroed on allocation.
    assert_eq!(hart_read(&mut mm, a + H + 0x1000), 0);
    let s = mm.page_table().follow_pte(a + H).unwrap();
    assert_eq!(s.level, 1, "one 2 MiB leaf");
    assert!(
        !pte_write(s.pte),
        "a read fault maps a private page read-only"
    );
    hart_write(&mut mm, a + H + 0x1000, 0xfeed);
    assert!(pte_write(mm.page_table().follow_pte(a + H).unwrap().pte));
    assert_eq!(hart_read(&mut mm, a + H + 0x1000), 0xfeed);
    assert_eq!(mm.stats().hugetlb_faults, 1);
    assert_eq!(mm.get_mm_rss(), 0, "hugetlb pages are not RSS");
    assert_eq!(
        mm.stats().wp_reuse,
        1,
        "the write reused the exclusive page"
    );
    let head = Pfn(s.pte.ppn());
    let h = phys.pages.page(head).unwrap();
    assert!(h.test(PageFlags::HUGETLB | PageFlags::ANON | PageFlags::ANON_EXCLUSIVE));
    assert_eq!((h.refcount(), h.entire_mapcount()), (1, 1));
    assert_eq!(pool(&phys), (2, 1, 1, 0), "one reservation consumed");
    mm.do_munmap(a, 2 * H).unwrap();
    drop(mm.take_tlb_batch());
    assert_eq!(
        pool(&phys),
        (2, 2, 0, 0),
        "the page and the reservation back"
    );
    let after = clean(&phys);
    assert_eq!(after.used_frames, before.used_frames);
    // The page comes back zeroed next time although it held data.
    let b = mm.do_mmap(0, H, RW, HUGE, None, 0).unwrap();
    assert_eq!(hart_read(&mut mm, b + 0x1000), 0);
}

#[test]
fn reservations_refuse_what_the_pool_cannot_cover_unless_noreserve() {
    let (phys, mut mm) = setup(2);
    assert_eq!(mm.do_mmap(0, 3 * H, RW, HUGE, None, 0), Err(Errno::ENOMEM));
    assert_eq!(pool(&phys), (2, 2, 0, 0));
    // Far more than RAM could hold: refused at once, even with unlimited overcommit.
    phys.pages
        .set_nr_overcommit_huge_pages(phys.pages.default_hstate(), u64::MAX)
        .unwrap();
    assert_eq!(
        mm.do_mmap(0, 64 << 30, RW, HUGE, None, 0),
        Err(Errno::ENOMEM)
    );
    phys.pages
        .set_nr_overcommit_huge_pages(phys.pages.default_hstate(), 0)
        .unwrap();
    assert_eq!(pool(&phys), (2, 2, 0, 0));
    let a = mm.do_mmap(0, 2 * H, RW, HUGE, None, 0).unwrap();
    assert_eq!(mm.do_mmap(0, H, RW, HUGE, None, 0), Err(Errno::ENOMEM));
    // MAP_NORESERVE maps, and its fault finds no unreserved page: SIGBUS.
    let n = mm.do_mmap(0, H, RW, HUGE | MAP_NORESERVE, None, 0).unwrap();
    assert_eq!(
        mm.do_page_fault(n, AccessType::Store),
        Err(UserFaultError::BUS_ADRERR)
    );
    // The reserved mapping still gets both pages.
    hart_write(&mut mm, a, 1);
    hart_write(&mut mm, a + H, 2);
    assert_eq!(pool(&phys), (2, 0, 0, 0));
    // Overcommit: surplus pages from the buddy allocator, freed when released.
    phys.pages
        .set_nr_overcommit_huge_pages(phys.pages.default_hstate(), 1)
        .unwrap();
    let s = mm.do_mmap(0, H, RW, HUGE, None, 0).unwrap();
    assert_eq!(pool(&phys), (2, 1, 1, 1));
    hart_write(&mut mm, s, 3);
    mm.do_munmap(s, H).unwrap();
    drop(mm.take_tlb_batch());
    assert_eq!(
        pool(&phys),
        (2, 0, 0, 0),
        "the surplus page went back to the buddy"
    );
    // Shrinking below what is in use keeps the pages and counts them as surplus.
    assert_eq!(
        phys.pages
            .set_max_huge_pages(phys.pages.default_hstate(), &phys.ram, 0),
        0
    );
    assert_eq!(pool(&phys), (0, 0, 0, 2));
    mm.do_munmap(a, 2 * H).unwrap();
    mm.do_munmap(n, H).unwrap();
    drop(mm.take_tlb_batch());
    assert_eq!(pool(&phys), (0, 0, 0, 0));
    assert_eq!(clean(&phys).hugetlb_free_frames, 0);
}

#[test]
fn splits_inside_a_huge_page_are_einval_and_bad_sizes_too() {
    let (_phys, mut mm) = setup(3);
    let a = mm.do_mmap(0, 2 * H, RW, HUGE, None, 0).unwrap();
    assert_eq!(mm.do_munmap(a, P), Err(Errno::EINVAL));
    assert_eq!(mm.do_munmap(a + P, H), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(a, P, PROT_READ), Err(Errno::EINVAL));
    assert_eq!(mm.madvise(a + P, P, MADV_DONTNEED), Err(Errno::EINVAL));
    assert_eq!(mm.vmas().map_count(), 1, "nothing was split");
    assert_eq!(mm.mprotect(a, H, PROT_READ), Ok(0));
    assert_eq!(mm.vmas().map_count(), 2);
    assert_eq!(
        mm.do_mmap(a + P, H, RW, HUGE | MAP_FIXED, None, 0),
        Err(Errno::EINVAL)
    );
    // MAP_HUGE_1GB has a pool (empty here: nothing to reserve); 16 MiB has none.
    let one_gib = 30 << MAP_HUGE_SHIFT_TEST;
    assert_eq!(
        mm.do_mmap(0, H, RW, HUGE | one_gib, None, 0),
        Err(Errno::ENOMEM)
    );
    let sixteen_mib = 24 << MAP_HUGE_SHIFT_TEST;
    assert_eq!(
        mm.do_mmap(0, H, RW, HUGE | sixteen_mib, None, 0),
        Err(Errno::EINVAL)
    );
    let two_mib = 21 << MAP_HUGE_SHIFT_TEST;
    assert!(mm.do_mmap(0, H, RW, HUGE | two_mib, None, 0).is_ok());
    assert_eq!(
        mm.mremap(a, H, 2 * H, MREMAP_MAYMOVE, 0),
        Err(Errno::EINVAL)
    );
}

const MAP_HUGE_SHIFT_TEST: u64 = super::hugetlb::MAP_HUGE_SHIFT as u64;

#[test]
fn fork_shares_the_page_and_a_write_copies_all_2mib_then_the_last_mapper_reuses() {
    let (phys, mut parent) = setup(3);
    let a = parent
        .do_mmap(BASE, H, RW, HUGE | MAP_FIXED, None, 0)
        .unwrap();
    hart_write(&mut parent, a + 0x10_0000, 41);
    let head = Pfn(parent.page_table().follow_pte(a).unwrap().pte.ppn());
    let mut child = parent.dup_mmap(6).unwrap();
    let _ = parent.take_tlb_flush();
    let h = phys.pages.page(head).unwrap();
    assert_eq!((h.refcount(), h.entire_mapcount()), (2, 2));
    assert!(!h.test(PageFlags::ANON_EXCLUSIVE));
    for mm in [&parent, &child] {
        let s = mm.page_table().follow_pte(a).unwrap();
        assert_eq!(s.level, 1, "never split");
        assert!(!pte_write(s.pte));
    }
    // The child writes: it gets a whole 2 MiB copy (from the pool, unreserved).
    hart_write(&mut child, a, 7);
    let c = child.page_table().follow_pte(a).unwrap();
    assert_eq!(c.level, 1);
    assert_ne!(Pfn(c.pte.ppn()), head);
    assert_eq!(
        hart_read(&mut child, a + 0x10_0000),
        41,
        "the data came along"
    );
    assert_eq!(hart_read(&mut parent, a), 0, "isolated");
    assert_eq!(child.stats().wp_copy, 1);
    assert_eq!((h.refcount(), h.entire_mapcount()), (1, 1));
    // The parent's page is mapped once now: reused, not copied.
    hart_write(&mut parent, a, 9);
    assert_eq!(
        Pfn(parent.page_table().follow_pte(a).unwrap().pte.ppn()),
        head
    );
    assert_eq!(parent.stats().wp_copy, 0);
    assert_eq!(hart_read(&mut child, a), 7);
    drop(child);
    parent.do_munmap(a, H).unwrap();
    drop(parent.take_tlb_batch());
    assert_eq!(pool(&phys), (3, 3, 0, 0));
    assert_eq!(clean(&phys).large_folios, 0);
}

#[test]
fn shared_mappings_share_the_page_across_fork_and_smaps_says_so() {
    let (phys, mut parent) = setup(2);
    let shared = HUGE & !MAP_PRIVATE | MAP_SHARED;
    let a = parent.do_mmap(0, H, RW, shared, None, 0).unwrap();
    assert_eq!(pool(&phys), (2, 2, 1, 0));
    let mut child = parent.dup_mmap(6).unwrap();
    hart_write(&mut child, a + 8, 5);
    assert_eq!(hart_read(&mut parent, a + 8), 5, "one page for both");
    assert_eq!(pool(&phys), (2, 1, 0, 0));
    let vma = parent.vmas().vma_lookup(a).unwrap().clone();
    let mut out = Vec::new();
    crate::procfs::show_smap(&mut out, &parent, &vma);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("KernelPageSize:     2048 kB\nMMUPageSize:        2048 kB\n"),
        "{text}"
    );
    assert!(text.contains("Rss:                   0 kB\n"), "{text}");
    assert!(
        text.contains("Shared_Hugetlb:     2048 kB\nPrivate_Hugetlb:       0 kB\n"),
        "{text}"
    );
    assert!(text.contains("anon_hugepage (deleted)"), "{text}");
    drop((vma, child));
    parent.do_munmap(a, H).unwrap();
    drop(parent.take_tlb_batch());
    assert_eq!(
        pool(&phys),
        (2, 2, 0, 0),
        "the object went with its last mapping"
    );
}

#[test]
fn gup_pins_hugetlb_pages_and_a_ro_longterm_pin_unshares_after_fork() {
    let (phys, mut parent) = setup(3);
    let a = parent
        .do_mmap(BASE, H, RW, HUGE | MAP_FIXED, None, 0)
        .unwrap();
    hart_write(&mut parent, a, 3);
    let head = Pfn(parent.page_table().follow_pte(a).unwrap().pte.ppn());
    // GUP-fast and the slow path take the pages of the one leaf.
    let pins =
        pin_user_pages_fast(&mut parent, a, 4, FollFlags::WRITE | FollFlags::LONGTERM).unwrap();
    assert_eq!(pins.len(), 4);
    assert_eq!(pins[1], Pfn(head.0 + 1));
    assert_eq!(phys.pages.page(head).unwrap().pincount(), 4);
    unpin_user_pages(&phys, &pins);
    // Pinned at fork: the child gets its own copy, the parent keeps its exclusive page.
    let pins = pin_user_pages_fast(&mut parent, a, 1, FollFlags::WRITE).unwrap();
    let mut child = parent.dup_mmap(6).unwrap();
    let _ = parent.take_tlb_flush();
    let c = Pfn(child.page_table().follow_pte(a).unwrap().pte.ppn());
    assert_ne!(c, head);
    assert_eq!(hart_read(&mut child, a), 3);
    let h = phys.pages.page(head).unwrap();
    assert!(h.test(PageFlags::ANON_EXCLUSIVE));
    unpin_user_pages(&phys, &pins);
    drop(child);
    // Shared by fork, then a R/O long-term pin: FAULT_FLAG_UNSHARE gives the pinner an
    // exclusive copy, so a later write by the other side cannot be missed.
    let mut child = parent.dup_mmap(6).unwrap();
    let _ = parent.take_tlb_flush();
    let mut guard = parent.mmap_read_lock();
    let ro = pin_user_pages(&mut guard, a, 1, FollFlags::LONGTERM).unwrap();
    guard.unlock();
    let pinned = phys.pages.folio(ro[0]).unwrap().0;
    assert_ne!(
        pinned,
        Pfn(child.page_table().follow_pte(a).unwrap().pte.ppn())
    );
    assert!(phys
        .pages
        .page(pinned)
        .unwrap()
        .test(PageFlags::ANON_EXCLUSIVE));
    hart_write(&mut child, a, 77);
    assert_eq!(
        phys.ram.read_u64(ro[0].pa()).unwrap(),
        3,
        "the pin sees its own page"
    );
    unpin_user_pages(&phys, &ro);
    drop(child);
    parent.do_munmap(a, H).unwrap();
    drop(parent.take_tlb_batch());
    assert_eq!(pool(&phys), (3, 3, 0, 0));
    clean(&phys);
}

#[test]
fn madvise_dontneed_frees_whole_pages_and_rounds_the_end_down() {
    let (phys, mut mm) = setup(2);
    let a = mm.do_mmap(0, 2 * H, RW, HUGE, None, 0).unwrap();
    hart_write(&mut mm, a, 1);
    hart_write(&mut mm, a + H, 2);
    assert_eq!(pool(&phys), (2, 0, 0, 0));
    // [a, a + H + P) zaps only the first page ("avoid unexpected data loss").
    assert_eq!(mm.madvise(a, H + P, MADV_DONTNEED), Ok(0));
    drop(mm.take_tlb_batch());
    assert_eq!(pool(&phys), (2, 1, 0, 0));
    assert_eq!(hart_read(&mut mm, a + H), 2);
    // The freed page is unreserved now; faulting it back takes the free page.
    assert_eq!(hart_read(&mut mm, a), 0);
    assert_eq!(pool(&phys), (2, 0, 0, 0));
}

// ------------------------------------------------------------------ 1 GiB (gigantic)

/// `MAP_HUGE_1GB`.
const HUGE_1GB: u64 = 30 << MAP_HUGE_SHIFT_TEST;
const G: u64 = HPAGE_PUD_SIZE;

/// `gib` GiB of RAM from 2 GiB up: the lowest gigabyte holds the zero page (never whole
/// again), the others are whole and aligned.
fn setup_gigantic(gib: u64) -> (Arc<PhysMem>, Mm) {
    super::test_support::setup_mm(gib << 10, SatpMode::Sv39, AdScheme::Svadu, 5)
}

fn gigantic(phys: &PhysMem) -> &super::hugetlb::Hstate {
    phys.pages.size_to_hstate(G).expect("a 1 GiB pool")
}

/// `(total, free, resv, surplus)` of the 1 GiB pool.
fn gpool(phys: &PhysMem) -> (u64, u64, u64, u64) {
    let c = gigantic(phys).counts();
    (
        c.persistent(),
        c.free_huge_pages,
        c.resv_huge_pages,
        c.surplus_huge_pages,
    )
}

#[test]
fn the_gigantic_pool_takes_whole_aligned_gigabytes_and_refuses_surplus() {
    let (phys, _mm) = setup_gigantic(3);
    let h = gigantic(&phys);
    assert!(h.hstate_is_gigantic());
    assert_eq!(
        (h.huge_page_order(), h.name()),
        (18, "hugepages-1048576kB".to_string())
    );
    let free_before = phys.pages.nr_free();
    // Three gigabytes, the lowest not whole: two pages, as many as alloc_contig_pages()
    // finds.
    assert_eq!(phys.pages.set_max_huge_pages(h, &phys.ram, 5), 2);
    assert_eq!(gpool(&phys), (2, 2, 0, 0));
    assert_eq!(phys.pages.nr_free(), free_before - 2 * HPAGE_PUD_NR);
    let a = clean(&phys);
    assert_eq!(a.hugetlb_free_frames, 2 * HPAGE_PUD_NR);
    // Each page is a naturally aligned gigabyte, flagged gigantic.
    let heads: Vec<Pfn> = phys
        .pages
        .hugetlb_free_heads()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for head in &heads {
        assert_eq!(head.0 % HPAGE_PUD_NR, 0);
        let p = phys.pages.page(*head).unwrap();
        assert!(p.test(PageFlags::HEAD | PageFlags::GIGANTIC | PageFlags::HUGETLB));
        assert_eq!(p.folio_nr_pages(), HPAGE_PUD_NR);
        // A tail on a 2 MiB boundary finds the 1 GiB head.
        assert_eq!(
            phys.pages.folio(Pfn(head.0 + 512 * 7 + 3)).unwrap().0,
            *head
        );
    }
    // No surplus gigantic pages: nr_overcommit_hugepages is EINVAL, and a reservation
    // beyond the free pages is ENOMEM.
    assert_eq!(
        phys.pages.set_nr_overcommit_huge_pages(h, 1),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        phys.pages.hugetlb_acct_memory(h, &phys.ram, 3),
        Err(Errno::ENOMEM)
    );
    assert_eq!(phys.pages.hugetlb_acct_memory(h, &phys.ram, 2), Ok(()));
    assert_eq!(gpool(&phys), (2, 2, 2, 0));
    assert_eq!(phys.pages.hugetlb_acct_memory(h, &phys.ram, -2), Ok(()));
    // The default pool is untouched; /proc/meminfo's Hugetlb sums both.
    assert_eq!(phys.pages.default_hstate().counts().nr_huge_pages, 0);
    let meminfo = crate::procfs::meminfo::meminfo_proc_show(&phys);
    assert!(meminfo.contains("HugePages_Total:       0\n"), "{meminfo}");
    assert!(
        meminfo.contains("Hugepagesize:       2048 kB\nHugetlb:         2097152 kB\n"),
        "{meminfo}"
    );
    // Shrinking gives a gigabyte back as 512 whole 2 MiB blocks.
    let blocks = phys.pages.nr_free_huge();
    assert_eq!(phys.pages.set_max_huge_pages(h, &phys.ram, 1), 1);
    assert_eq!(phys.pages.nr_free_huge(), blocks + 512);
    assert_eq!(phys.pages.set_max_huge_pages(h, &phys.ram, 0), 0);
    assert_eq!(phys.pages.nr_free(), free_before, "every frame back");
    let a = clean(&phys);
    assert_eq!((a.hugetlb_free_frames, a.large_folios), (0, 0));
}

#[test]
fn alloc_contig_pages_fails_while_one_frame_of_the_gigabyte_is_used() {
    let (phys, _mm) = setup_gigantic(2);
    let h = gigantic(&phys);
    // Take every 2 MiB block, then give back all but one in the upper gigabyte.
    let mut blocks = Vec::new();
    while let Some(b) = phys.pages.alloc_large_folio(&phys.ram, false) {
        blocks.push(b);
    }
    let upper = |b: &Pfn| b.pa().0 >= 0xC000_0000;
    let kept = *blocks.iter().find(|b| upper(b)).expect("a block up there");
    for b in blocks.iter().filter(|&&b| b != kept) {
        phys.put_page(*b);
    }
    assert_eq!(
        phys.pages.set_max_huge_pages(h, &phys.ram, 1),
        0,
        "fragmented: no whole gigabyte"
    );
    // One 4 KiB frame of the upper gigabyte is enough too.
    phys.put_page(kept);
    let mut small = Vec::new();
    let inside = loop {
        let p = phys.alloc_page(false).expect("a free frame");
        if upper(&p) {
            break p;
        }
        small.push(p);
    };
    assert_eq!(phys.pages.set_max_huge_pages(h, &phys.ram, 1), 0);
    phys.put_page(inside);
    assert_eq!(
        phys.pages.set_max_huge_pages(h, &phys.ram, 1),
        1,
        "whole again once its last frame is free"
    );
    for p in small {
        phys.put_page(p);
    }
    assert_eq!(phys.pages.set_max_huge_pages(h, &phys.ram, 0), 0);
    clean(&phys);
}

#[test]
fn a_1gib_page_is_one_level2_leaf_copied_on_write_and_pinned_by_gup_fast() {
    let (phys, mut parent) = setup_gigantic(3);
    assert_eq!(
        phys.pages.set_max_huge_pages(gigantic(&phys), &phys.ram, 2),
        2
    );
    let before = clean(&phys);
    let a = parent.do_mmap(0, P, RW, HUGE | HUGE_1GB, None, 0).unwrap();
    assert_eq!(a % G, 0, "aligned to 1 GiB");
    let vma = parent.vmas().vma_lookup(a).unwrap().clone();
    assert_eq!((vma.len(), vma.kernel_pagesize()), (G, G));
    drop(vma);
    assert_eq!(gpool(&phys), (2, 2, 1, 0));
    // Inside the page, a 2 MiB boundary is no boundary.
    assert_eq!(parent.do_munmap(a + H, H), Err(Errno::EINVAL));
    assert_eq!(parent.madvise(a + H, H, MADV_DONTNEED), Err(Errno::EINVAL));
    // First touch: one level-2 leaf, zeroed, writable at once for a write.
    hart_write(&mut parent, a + 0x3000_0008, 0x51);
    let s = parent.page_table().follow_pte(a + 0x3000_0000).unwrap();
    assert_eq!(s.level, 2, "a PUD leaf");
    assert!(pte_write(s.pte));
    let head = Pfn(s.pte.ppn());
    assert_eq!(head.0 % HPAGE_PUD_NR, 0);
    assert_eq!(s.pfn_at(a + 0x3000_0000), Pfn(head.0 + 0x3_0000));
    assert_eq!(hart_read(&mut parent, a + 0x1000), 0);
    assert_eq!(gpool(&phys), (2, 1, 0, 0));
    // GUP-fast takes the pages of the leaf with one grab; the slow path too.
    let pins = pin_user_pages_fast(
        &mut parent,
        a + G - 2 * P,
        2,
        FollFlags::WRITE | FollFlags::LONGTERM,
    )
    .unwrap();
    assert_eq!(
        pins,
        vec![
            Pfn(head.0 + HPAGE_PUD_NR - 2),
            Pfn(head.0 + HPAGE_PUD_NR - 1)
        ]
    );
    let hp = phys.pages.page(head).unwrap();
    assert_eq!((hp.pincount(), hp.refcount()), (2, 3));
    unpin_user_pages(&phys, &pins);
    let mut guard = parent.mmap_read_lock();
    let got = get_user_pages(&mut guard, a + 0x3000_0000, 3, FollFlags::WRITE).unwrap();
    guard.unlock();
    assert_eq!(got[2], Pfn(head.0 + 0x3_0002));
    for p in &got {
        phys.put_page(*p);
    }
    // fork: shared read-only; the child's write copies the whole gigabyte.
    let mut child = parent.dup_mmap(6).unwrap();
    let _ = parent.take_tlb_flush();
    assert_eq!((hp.refcount(), hp.entire_mapcount()), (2, 2));
    assert!(!pte_write(child.page_table().follow_pte(a).unwrap().pte));
    hart_write(&mut child, a, 7);
    let c = child.page_table().follow_pte(a).unwrap();
    assert_eq!(c.level, 2);
    assert_ne!(Pfn(c.pte.ppn()), head);
    assert_eq!(
        hart_read(&mut child, a + 0x3000_0008),
        0x51,
        "the data came along"
    );
    assert_eq!(hart_read(&mut parent, a), 0, "isolated");
    assert_eq!(gpool(&phys), (2, 0, 0, 0));
    drop(child);
    assert_eq!(
        gpool(&phys),
        (2, 1, 0, 0),
        "the child's copy back in the pool"
    );
    // The parent's page is mapped once again: reused.
    hart_write(&mut parent, a, 9);
    assert_eq!(
        Pfn(parent.page_table().follow_pte(a).unwrap().pte.ppn()),
        head
    );
    // mincore: resident throughout; mprotect of the whole VMA changes the one leaf.
    assert_eq!(parent.do_mincore(a + G - 2 * P, 2).unwrap(), vec![1, 1]);
    assert_eq!(parent.mprotect(a, G, PROT_READ), Ok(0));
    let s = parent.page_table().follow_pte(a + G - P).unwrap();
    assert_eq!((s.level, pte_write(s.pte)), (2, false));
    assert_eq!(
        parent.do_page_fault(a + 8, AccessType::Store),
        Err(UserFaultError::SEGV_ACCERR)
    );
    assert_eq!(parent.mprotect(a, G, PROT_READ | PROT_WRITE), Ok(0));
    // MADV_DONTNEED of the whole page gives it back; the next touch gets a zeroed one.
    assert_eq!(parent.madvise(a, G, MADV_DONTNEED), Ok(0));
    drop(parent.take_tlb_batch());
    assert_eq!(parent.do_mincore(a, 1).unwrap(), vec![0]);
    assert_eq!(gpool(&phys), (2, 2, 0, 0));
    assert_eq!(hart_read(&mut parent, a + 0x3000_0008), 0, "zeroed");
    parent.do_munmap(a, G).unwrap();
    drop(parent.take_tlb_batch());
    assert_eq!(gpool(&phys), (2, 2, 0, 0));
    let after = clean(&phys);
    assert_eq!(
        (after.used_frames, after.large_folios),
        (before.used_frames, before.large_folios)
    );
    assert_eq!(
        phys.pages.set_max_huge_pages(gigantic(&phys), &phys.ram, 0),
        0
    );
}

#[test]
fn boot_pools_fill_the_gigantic_one_first_and_the_last_pair_of_a_size_wins() {
    let phys = super::test_support::phys(3 << 10);
    // hugepages=3 hugepagesz=1G hugepages=5 hugepagesz=2M hugepages=4 (and a size
    // without a pool, ignored): the 1 GiB pool first, before 2 MiB blocks break up the
    // free gigabytes.
    super::hugetlb::hugetlb_init(&phys, &[(H, 3), (G, 5), (16 << 20, 1), (H, 4)]);
    assert_eq!(gpool(&phys), (2, 2, 0, 0), "the two whole gigabytes");
    assert_eq!(pool(&phys), (4, 4, 0, 0), "the last 2 MiB pair");
    let heads = phys.pages.hugetlb_free_heads();
    assert_eq!(
        heads.iter().filter(|(_, nr)| *nr == HPAGE_PUD_NR).count(),
        2
    );
    clean(&phys);
}
