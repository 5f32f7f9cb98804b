//! hugetlb tests against real guest RAM: the pool's accounting (grow, shrink,
//! reservations, surplus pages), the fault paths (first touch, COW after fork, shared
//! mappings, unshare for R/O pins), the VMA rules (alignment, `EINVAL` splits) and GUP on
//! the 2 MiB leaves, each checked with the walker and the allocator's audit.

use std::sync::Arc;

use mmu::{AccessType, AdScheme, SatpMode};

use super::gup::*;
use super::hugetlb::{HstateCounts, HPAGE_SIZE};
use super::mmap::*;
use super::pgtable::pte_write;
use super::test_support::{clean, hart_read, hart_write, ANON, P, RW};
use super::*;

const H: u64 = HPAGE_SIZE;
const BASE: u64 = 0x4000_0000;
const HUGE: u64 = ANON | MAP_HUGETLB;

fn setup(pool: u64) -> (Arc<PhysMem>, Mm) {
    let (phys, mm) = super::test_support::setup_mm(64, SatpMode::Sv39, AdScheme::Svadu, 5);
    assert_eq!(phys.pages.set_max_huge_pages(&phys.ram, pool), pool);
    (phys, mm)
}

fn counts(phys: &PhysMem) -> HstateCounts {
    phys.pages.hstate_counts()
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
    assert_eq!(phys.pages.set_max_huge_pages(&phys.ram, 4), 4);
    assert_eq!(pool(&phys), (4, 4, 0, 0));
    assert_eq!(
        phys.pages.nr_free(),
        free_before - 4 * 512,
        "taken from the buddy"
    );
    let a = clean(&phys);
    assert_eq!(a.hugetlb_free_frames, 4 * 512);
    // More than 64 MiB holds: as many as there are whole free blocks.
    let most = phys.pages.set_max_huge_pages(&phys.ram, 1000);
    assert!((20..32).contains(&most), "{most}");
    assert_eq!(phys.pages.nr_free_huge(), 0);
    assert_eq!(phys.pages.set_max_huge_pages(&phys.ram, 1), 1);
    assert_eq!(phys.pages.set_max_huge_pages(&phys.ram, 0), 0);
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
    phys.pages.set_nr_overcommit_huge_pages(u64::MAX);
    assert_eq!(
        mm.do_mmap(0, 64 << 30, RW, HUGE, None, 0),
        Err(Errno::ENOMEM)
    );
    phys.pages.set_nr_overcommit_huge_pages(0);
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
    phys.pages.set_nr_overcommit_huge_pages(1);
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
    assert_eq!(phys.pages.set_max_huge_pages(&phys.ram, 0), 0);
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
    let one_gib = 30 << MAP_HUGE_SHIFT_TEST;
    assert_eq!(
        mm.do_mmap(0, H, RW, HUGE | one_gib, None, 0),
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
