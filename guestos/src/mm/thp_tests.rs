//! Transparent-huge-page tests against real guest RAM: every mapping is checked with the
//! hardware walker (`mmu::walk` in U-mode, which sees the level-1 leaf), every count with
//! the allocator's audit, and the refcount cost of GUP on 2 MiB folios against 4 KiB ones
//! with the allocator's refcount-operation counter.

use std::collections::BTreeMap;
use std::sync::Arc;

use devices::{GuestMemory, GuestPhysAddr};
use mmu::{AccessType, AdScheme, GuestVirtAddr, PteFlags, SatpMode};
use proptest::prelude::*;

use super::gup::*;
use super::mmap::*;
use super::pgtable::{pte_dirty, pte_write, pte_young};
use super::test_support::{clean, hart_read, hart_write, touch, uwalk, ANON, P, RAM, RW};
use super::*;
use crate::uaccess::UserAccess;

const H: u64 = HPAGE_PMD_SIZE;
/// A 2 MiB-aligned user address for the THP regions.
const BASE: u64 = 0x4000_0000;

fn setup_with(mib: u64, mode: SatpMode, ad: AdScheme) -> (Arc<PhysMem>, Mm) {
    super::test_support::setup_mm(mib, mode, ad, 5)
}

fn setup() -> (Arc<PhysMem>, Mm) {
    setup_with(32, SatpMode::Sv39, AdScheme::Svadu)
}

/// Maps `len` bytes of private anonymous RW memory at `BASE` with `MADV_HUGEPAGE`.
fn thp_region(mm: &mut Mm, len: u64) -> u64 {
    let a = mm
        .do_mmap(BASE, len, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(a, BASE);
    mm.madvise(a, len, MADV_HUGEPAGE).unwrap();
    a
}

/// The frame mapping `va` (the subpage for a huge PMD) and the level of its entry.
fn frame(mm: &Mm, va: u64) -> (Pfn, usize) {
    let s = mm.page_table().follow_pte(va).expect("mapped");
    (s.pfn_at(va), s.level)
}

/// After everything is torn down: only the zero page is in use, every block is whole
/// again once merged, and the books balance.
fn all_freed(phys: &PhysMem) {
    let a = clean(phys);
    assert_eq!(a.used_frames, 1, "only the zero page: {a:?}");
    assert_eq!(a.large_folios, 0);
    assert!(
        phys.pages.huge_zero_pfn().is_none(),
        "huge zero folio freed"
    );
}

#[test]
fn write_fault_maps_one_level1_leaf_and_the_hardware_sets_d_on_it() {
    for mode in [SatpMode::Sv39, SatpMode::Sv48] {
        let (phys, mut mm) = setup_with(32, mode, AdScheme::Svadu);
        let a = thp_region(&mut mm, 2 * H);
        let before = phys.pages.audit();
        let huge_before = phys.pages.nr_free_huge();
        let tables_before = mm.page_table().nr_tables();
        let va = a + H + 0x1238;
        mm.do_page_fault(va, AccessType::Store).unwrap();
        let slot = mm.page_table().follow_pte(va).unwrap();
        assert_eq!(slot.level, 1, "one level-1 leaf (a PMD)");
        assert!(pte_write(slot.pte));
        assert!(
            !pte_young(slot.pte) && !pte_dirty(slot.pte),
            "A = D = 0 as created"
        );
        // The hart retries the store: the walker uses the megapage and sets A and D on it.
        let t = uwalk(&mm, va, AccessType::Store).unwrap();
        assert_eq!(t.level, 1);
        let pmd = mm.page_table().ptep_get(slot.addr);
        assert!(
            pte_young(pmd) && pte_dirty(pmd),
            "hardware set A/D: {pmd:?}"
        );
        let head = Pfn(pmd.ppn());
        assert_eq!(head.0 % HPAGE_PMD_NR, 0, "naturally aligned 2 MiB folio");
        assert_eq!(t.pa(GuestVirtAddr(va)).0, head.pa().0 + 0x1238);
        let h = phys.pages.page(head).unwrap();
        assert!(h.is_head() && h.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE));
        assert_eq!((h.refcount(), h.entire_mapcount(), h.mapcount()), (1, 1, 0));
        let tail = phys.pages.page(Pfn(head.0 + 7)).unwrap();
        assert!(tail.is_tail() && tail.test(PageFlags::ANON));
        assert_eq!(tail.refcount(), 0);
        assert_eq!(phys.pages.folio(Pfn(head.0 + 7)).unwrap().0, head);
        // Data through the megapage, read back through the kernel's uaccess.
        phys.ram.write_u64(t.pa(GuestVirtAddr(va)), 0xfeed).unwrap();
        assert_eq!(mm.get_user_u64(va).unwrap(), 0xfeed);
        let after = clean(&phys);
        assert_eq!(after.large_folios, before.large_folios + 1);
        let new_tables = mm.page_table().nr_tables() - tables_before;
        assert_eq!(
            after.used_frames,
            before.used_frames + 512 + 1 + new_tables,
            "the folio, its deposited table, the tables above it"
        );
        let s = mm.stats();
        assert_eq!(
            (s.thp_fault_alloc, s.anon_pages, s.thp_split_pmd),
            (1, 0, 0)
        );
        assert_eq!(phys.pages.thp_stats().fault_alloc, 1);
        // The first 2 MiB is still empty; the rest of the huge page is mapped.
        assert!(mm.page_table().follow_pte(a).is_none());
        assert_eq!(hart_read(&mut mm, a + 2 * H - 8), 0);
        assert_eq!(mm.stats().faults, 1, "no fault for the rest of the 2 MiB");
        mm.do_munmap(a, 2 * H).unwrap();
        assert_eq!(
            phys.pages.nr_free_huge(),
            huge_before,
            "the block is whole again"
        );
        drop(mm);
        all_freed(&phys);
    }
}

#[test]
fn svade_sets_a_and_d_on_the_huge_pmd_for_the_faulting_access() {
    let (phys, mut mm) = setup_with(32, SatpMode::Sv39, AdScheme::Svade);
    let a = thp_region(&mut mm, H);
    // Read first: the huge zero folio, A set by the handler.
    assert_eq!(hart_read(&mut mm, a + 16), 0);
    let (pfn, level) = frame(&mm, a);
    assert_eq!(level, 1);
    assert_eq!(Some(pfn), phys.pages.huge_zero_pfn());
    let pmd = mm.page_table().follow_pte(a).unwrap().pte;
    assert!(pte_young(pmd) && !pte_dirty(pmd) && !pte_write(pmd));
    // A write: a new THP replaces the huge zero folio, A and D set for the store.
    hart_write(&mut mm, a + 16, 9);
    let pmd = mm.page_table().follow_pte(a).unwrap().pte;
    assert!(pte_young(pmd) && pte_dirty(pmd) && pte_write(pmd));
    assert_ne!(Some(frame(&mm, a).0), phys.pages.huge_zero_pfn());
    // Clear A behind the kernel's back (as reclaim would): the next access faults and
    // huge_pmd_set_accessed() sets it again, counted as spurious.
    let slot = mm.page_table().follow_pte(a).unwrap().addr;
    let pmd = mm.page_table().ptep_get(slot);
    mm.page_table().set_pte(slot, pmd.without(PteFlags::A));
    let spurious = mm.stats().spurious;
    assert_eq!(hart_read(&mut mm, a + 16), 9);
    assert_eq!(mm.stats().spurious, spurious + 1);
    assert!(pte_young(mm.page_table().ptep_get(slot)));
    drop(mm);
    all_freed(&phys);
}

#[test]
fn huge_zero_folio_read_then_write_and_its_lifetime() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, 2 * H);
    assert_eq!(hart_read(&mut mm, a + 100), 0);
    assert_eq!(hart_read(&mut mm, a + H + 100), 0);
    let hz = phys.pages.huge_zero_pfn().unwrap();
    assert_eq!(frame(&mm, a + 5 * P), (Pfn(hz.0 + 5), 1));
    assert_eq!(frame(&mm, a + H).0, hz, "one huge zero folio for both PMDs");
    assert_eq!(mm.stats().huge_zero_maps, 2);
    assert_eq!(phys.pages.thp_stats().zero_page_alloc, 1);
    let hzp = phys.pages.page(hz).unwrap();
    assert_eq!(
        (hzp.refcount(), hzp.entire_mapcount()),
        (1, 0),
        "one mm reference"
    );
    // A forked child shares it and takes its own reference.
    let child = mm.dup_mmap(6).unwrap();
    assert_eq!(phys.pages.page(hz).unwrap().refcount(), 2);
    drop(child);
    assert_eq!(phys.pages.page(hz).unwrap().refcount(), 1);
    // A write replaces the huge zero PMD by a fresh zeroed THP.
    hart_write(&mut mm, a + 100, 77);
    let (pfn, level) = frame(&mm, a + 100);
    assert_eq!(level, 1);
    assert!(!phys.pages.is_huge_zero_pfn(pfn));
    assert_eq!(hart_read(&mut mm, a + 108), 0);
    assert_eq!(mm.stats().thp_fault_alloc, 1);
    assert_eq!(
        hart_read(&mut mm, a + H + 100),
        0,
        "other PMD still huge zero"
    );
    // Partial munmap of the huge zero mapping: split into small zero-page PTEs.
    mm.do_munmap(a + H, P).unwrap();
    assert_eq!(frame(&mm, a + H + P), (phys.pages.zero_pfn(), 0));
    assert_eq!(mm.stats().thp_split_pmd, 1);
    clean(&phys);
    drop(mm);
    all_freed(&phys);
}

#[test]
fn no_free_2mib_block_falls_back_to_4k_pages() {
    // 4 MiB of RAM: the zero page breaks the first block, one whole block is left.
    let (phys, mut mm) = setup_with(4, SatpMode::Sv39, AdScheme::Svadu);
    let a = thp_region(&mut mm, 2 * H);
    hart_write(&mut mm, a, 1);
    assert_eq!(frame(&mm, a).1, 1, "the last whole block became a THP");
    hart_write(&mut mm, a + H, 2);
    assert_eq!(frame(&mm, a + H).1, 0, "no block left: 4 KiB");
    let s = mm.stats();
    assert_eq!((s.thp_fault_alloc, s.thp_fault_fallback), (1, 1));
    assert_eq!(phys.pages.thp_stats().fault_fallback, 1);
    // Freeing the THP makes a block whole again; a later write fault uses it.
    mm.madvise(a, H, MADV_DONTNEED).unwrap();
    hart_write(&mut mm, a + 8, 3);
    assert_eq!(frame(&mm, a).1, 1);
    assert_eq!(hart_read(&mut mm, a), 0);
    drop(mm);
    all_freed(&phys);
}

#[test]
fn thp_only_where_the_vma_allows_it() {
    let (phys, mut mm) = setup();
    let _shm = super::test_support::shm_vfs(&phys);
    // Not advised: 4 KiB.
    let a = mm
        .do_mmap(BASE, 2 * H, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    hart_write(&mut mm, a, 1);
    assert_eq!(frame(&mm, a).1, 0);
    // Advised, but the 2 MiB around the address leaves the VMA: 4 KiB.
    mm.madvise(a + P, 2 * H - P, MADV_HUGEPAGE).unwrap();
    hart_write(&mut mm, a + 2 * P, 1);
    assert_eq!(frame(&mm, a + 2 * P).1, 0);
    hart_write(&mut mm, a + H, 1);
    assert_eq!(
        frame(&mm, a + H).1,
        1,
        "the second 2 MiB lies wholly inside"
    );
    // MADV_NOHUGEPAGE on it: the existing THP stays (no khugepaged either way), but the
    // VMA boundary inside it splits the PMD.
    mm.madvise(a + H, P, MADV_NOHUGEPAGE).unwrap();
    assert_eq!(frame(&mm, a + H).1, 0, "split at the new VMA boundary");
    assert_eq!(mm.stats().thp_split_pmd, 1);
    // MAP_STACK implies VM_NOHUGEPAGE.
    let s = mm
        .do_mmap(BASE + 8 * H, H, RW, ANON | MAP_FIXED | MAP_STACK, None, 0)
        .unwrap();
    mm.madvise(s, H, MADV_HUGEPAGE).unwrap();
    hart_write(&mut mm, s, 1);
    assert_eq!(frame(&mm, s).1, 1, "MADV_HUGEPAGE clears VM_NOHUGEPAGE");
    // Shared anonymous memory (a shmem object) never gets one here (no shmem THP).
    let sh = mm
        .do_mmap(
            BASE + 12 * H,
            H,
            RW,
            MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
            None,
            0,
        )
        .unwrap();
    mm.madvise(sh, H, MADV_HUGEPAGE).unwrap();
    hart_write(&mut mm, sh, 1);
    assert_eq!(frame(&mm, sh).1, 0);
}

#[test]
fn fork_shares_the_pmd_and_a_write_on_either_side_splits_and_copies_4k() {
    let (phys, mut parent) = setup();
    let a = thp_region(&mut parent, H);
    for i in 0..8 {
        hart_write(&mut parent, a + i * 0x40000, 100 + i);
    }
    let (head, _) = frame(&parent, a);
    let mut child = parent.dup_mmap(6).unwrap();
    let _ = parent.take_tlb_flush();
    let h = phys.pages.page(head).unwrap();
    assert_eq!((h.refcount(), h.entire_mapcount()), (2, 2));
    assert!(!h.test(PageFlags::ANON_EXCLUSIVE), "shared: not exclusive");
    for mm in [&parent, &child] {
        let s = mm.page_table().follow_pte(a).unwrap();
        assert_eq!(s.level, 1);
        assert!(!pte_write(s.pte), "write-protected on both sides");
    }
    assert!(
        !pte_young(child.page_table().follow_pte(a).unwrap().pte),
        "child's PMD is old"
    );
    // The child writes: its PMD is split, one 4 KiB page copied.
    hart_write(&mut child, a + 0x40000, 999);
    assert_eq!(child.stats().thp_split_pmd, 1);
    assert_eq!(child.stats().wp_copy, 1);
    let (cpfn, level) = frame(&child, a + 0x40000);
    assert_eq!(level, 0);
    assert_ne!(phys.pages.folio(cpfn).unwrap().0, head, "a private copy");
    assert_eq!(frame(&child, a + 0x80000), (Pfn(head.0 + 0x80), 0));
    // Folio refs: parent's PMD 1 + child's 511 PTEs.
    assert_eq!(phys.pages.page(head).unwrap().refcount(), 1 + 511);
    clean(&phys);
    // Isolation both ways.
    assert_eq!(hart_read(&mut parent, a + 0x40000), 101);
    hart_write(&mut parent, a + 0xc0000, 555);
    assert_eq!(
        parent.stats().thp_split_pmd,
        1,
        "not exclusive: split, copy"
    );
    assert_eq!(hart_read(&mut child, a + 0xc0000), 103);
    assert_eq!(hart_read(&mut child, a + 0x40000), 999);
    assert_eq!(hart_read(&mut parent, a + 0xc0000), 555);
    for i in [0u64, 2, 4, 5, 6, 7] {
        assert_eq!(hart_read(&mut child, a + i * 0x40000), 100 + i);
        assert_eq!(hart_read(&mut parent, a + i * 0x40000), 100 + i);
    }
    clean(&phys);
    // The child exits: the parent still maps 511 subpages; the one it copied is mapped
    // by nobody now, so the folio is partially mapped and is split (deferred split).
    drop(child);
    let t = phys.pages.thp_stats();
    assert_eq!(t.split_page, 1, "{t:?}");
    assert_eq!(hart_read(&mut parent, a + 0x80000), 102);
    let (p, _) = frame(&parent, a + 0x80000);
    assert!(!phys.pages.page(p).unwrap().is_tail(), "order-0 page now");
    assert_eq!(phys.pages.page(p).unwrap().refcount(), 1);
    drop(parent);
    all_freed(&phys);
}

/// COW isolation of a THP shared by fork holds under every generation's reuse rule: the
/// child's write splits its PMD, and the subpage it writes is then mapped by the child's
/// PTE and by the parent's PMD. Before 5.9, `reuse_swap_page()` counted the compound
/// mapcount too (`page_trans_huge_map_swapcount()`: 2), so the child copies; the modern
/// rule sees the folio's refcount. Neither may write into the parent's page.
#[test]
fn every_generation_copies_a_subpage_still_mapped_by_the_other_sides_pmd() {
    for gen in [
        GupGeneration::DirtyCow,
        GupGeneration::FollCow,
        GupGeneration::Modern,
    ] {
        let (phys, mut parent) = setup();
        parent.set_gup_generation(gen);
        let a = thp_region(&mut parent, H);
        hart_write(&mut parent, a + 0x40000, 7);
        let (head, _) = frame(&parent, a);
        let mut child = parent.dup_mmap(6).unwrap();
        let _ = parent.take_tlb_flush();
        hart_write(&mut child, a + 0x40000, 999);
        assert_eq!(child.stats().thp_split_pmd, 1, "{gen:?}");
        assert_eq!(child.stats().wp_copy, 1, "{gen:?}: the child copies");
        let (cpfn, _) = frame(&child, a + 0x40000);
        assert_ne!(phys.pages.folio(cpfn).unwrap().0, head, "{gen:?}");
        assert_eq!(
            hart_read(&mut parent, a + 0x40000),
            7,
            "{gen:?}: parent's data"
        );
        assert_eq!(hart_read(&mut child, a + 0x40000), 999, "{gen:?}");
        drop(child);
        drop(parent);
        all_freed(&phys);
    }
}

#[test]
fn both_sides_cow_the_same_page_and_the_folio_is_split_at_once() {
    let (phys, mut parent) = setup();
    let a = thp_region(&mut parent, H);
    hart_write(&mut parent, a + 5 * P, 1);
    let mut child = parent.dup_mmap(6).unwrap();
    hart_write(&mut child, a + 5 * P, 2);
    assert_eq!(
        phys.pages.thp_stats().split_page,
        0,
        "still mapped by the parent"
    );
    hart_write(&mut parent, a + 5 * P, 3);
    // Nobody maps the folio's page 5 any more: wp_page_copy() queued the folio and it
    // was split when the COW finished.
    let t = phys.pages.thp_stats();
    assert_eq!((t.split_pmd, t.split_page), (2, 1), "{t:?}");
    assert_eq!(clean(&phys).large_folios, 0);
    assert_eq!(hart_read(&mut child, a + 5 * P), 2);
    assert_eq!(hart_read(&mut parent, a + 5 * P), 3);
    drop(child);
    drop(parent);
    all_freed(&phys);
}

#[test]
fn after_the_other_side_exits_a_write_reuses_the_whole_pmd() {
    let (phys, mut parent) = setup();
    let a = thp_region(&mut parent, H);
    hart_write(&mut parent, a, 1);
    let child = parent.dup_mmap(6).unwrap();
    drop(child);
    let (head, _) = frame(&parent, a);
    assert_eq!(phys.pages.page(head).unwrap().refcount(), 1);
    let reuse = parent.stats().wp_reuse;
    hart_write(&mut parent, a + 8, 2);
    assert_eq!(parent.stats().wp_reuse, reuse + 1);
    assert_eq!(parent.stats().thp_split_pmd, 0, "reused, not split");
    assert_eq!(frame(&parent, a), (head, 1));
    assert!(phys
        .pages
        .page(head)
        .unwrap()
        .test(PageFlags::ANON_EXCLUSIVE));
    drop(parent);
    all_freed(&phys);
}

#[test]
fn partial_munmap_splits_the_pmd_then_the_folio_frees_the_hole() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    for i in 0..512 {
        hart_write(&mut mm, a + i * P, i);
    }
    let used = phys.pages.audit().used_frames;
    mm.do_munmap(a + 100 * P, 2 * P).unwrap();
    assert_eq!(mm.stats().thp_split_pmd, 1);
    let t = phys.pages.thp_stats();
    assert_eq!(
        (t.split_pmd, t.split_page, t.deferred_split_page),
        (1, 1, 1)
    );
    let a2 = clean(&phys);
    assert_eq!(a2.large_folios, 0);
    // The deposit became the PTE table; two pages were freed.
    assert_eq!(a2.used_frames, used - 2);
    for i in (0..512).filter(|i| !(100..102).contains(i)) {
        assert_eq!(hart_read(&mut mm, a + i * P), i, "page {i}");
    }
    assert_eq!(
        touch(&mut mm, a + 100 * P, AccessType::Load),
        Err(UserFaultError::SEGV_MAPERR)
    );
    drop(mm);
    all_freed(&phys);
}

#[test]
fn mprotect_whole_pmd_changes_one_entry_partial_splits() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    hart_write(&mut mm, a, 1);
    mm.mprotect(a, H, PROT_READ).unwrap();
    let _ = mm.take_tlb_flush();
    let s = mm.page_table().follow_pte(a).unwrap();
    assert!(s.level == 1 && !pte_write(s.pte));
    assert_eq!(
        touch(&mut mm, a, AccessType::Store),
        Err(UserFaultError::SEGV_ACCERR)
    );
    mm.mprotect(a, H, RW).unwrap();
    assert!(
        pte_write(mm.page_table().follow_pte(a).unwrap().pte),
        "exclusive: W restored without a fault"
    );
    assert_eq!(mm.stats().thp_split_pmd, 0);
    // Part of it read-only: split, three VMAs.
    mm.mprotect(a + 8 * P, P, PROT_READ).unwrap();
    assert_eq!(mm.stats().thp_split_pmd, 1);
    assert_eq!(mm.vmas().iter().count(), 3);
    assert_eq!(
        touch(&mut mm, a + 8 * P, AccessType::Store),
        Err(UserFaultError::SEGV_ACCERR)
    );
    hart_write(&mut mm, a + 9 * P, 5);
    assert_eq!(hart_read(&mut mm, a), 1);
    let a2 = clean(&phys);
    assert_eq!(a2.large_folios, 1, "fully mapped: the folio stays large");
    drop(mm);
    all_freed(&phys);
}

#[test]
fn madv_dontneed_whole_pmd_frees_the_folio_partial_splits() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, 2 * H);
    hart_write(&mut mm, a, 1);
    hart_write(&mut mm, a + H, 2);
    let free_huge = phys.pages.nr_free_huge();
    mm.madvise(a, H, MADV_DONTNEED).unwrap();
    assert_eq!(phys.pages.nr_free_huge(), free_huge + 1);
    assert_eq!(mm.stats().thp_split_pmd, 0);
    assert_eq!(hart_read(&mut mm, a), 0);
    mm.madvise(a + H + 4 * P, 4 * P, MADV_DONTNEED).unwrap();
    assert_eq!(mm.stats().thp_split_pmd, 1);
    assert_eq!(hart_read(&mut mm, a + H + 4 * P), 0);
    assert_eq!(hart_read(&mut mm, a + H), 2);
    // Reads after DONTNEED of part refault 4 KiB zero pages (the PMD is a table now).
    assert_eq!(frame(&mm, a + H + 4 * P).0, phys.pages.zero_pfn());
    drop(mm);
    all_freed(&phys);
}

#[test]
fn mremap_moves_an_aligned_pmd_whole_and_splits_otherwise() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    hart_write(&mut mm, a + 0x3000, 42);
    let (head, _) = frame(&mm, a);
    let dst = BASE + 16 * H;
    let b = mm
        .mremap(a, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, dst)
        .unwrap();
    assert_eq!(b, dst);
    assert_eq!(frame(&mm, b), (head, 1), "moved as one PMD");
    assert_eq!(mm.stats().thp_split_pmd, 0);
    assert_eq!(hart_read(&mut mm, b + 0x3000), 42);
    // To an address that is not 2 MiB-aligned: split, 512 PTEs moved.
    let dst2 = BASE + 20 * H + P;
    let c = mm
        .mremap(b, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, dst2)
        .unwrap();
    assert_eq!(frame(&mm, c + 0x3000), (Pfn(head.0 + 3), 0));
    assert_eq!(mm.stats().thp_split_pmd, 1);
    assert_eq!(hart_read(&mut mm, c + 0x3000), 42);
    clean(&phys);
    drop(mm);
    all_freed(&phys);
}

/// The cost the issue asks about: on 2 MiB folios GUP takes at least 50× fewer refcount
/// operations per 4 KiB than on 4 KiB folios.
#[test]
fn gup_on_a_thp_takes_one_folio_reference_operation_per_call() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    hart_write(&mut mm, a, 1);
    let small = mm
        .do_mmap(BASE + 8 * H, H, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    for i in 0..512 {
        hart_write(&mut mm, small + i * P, i);
    }
    let n = 512usize;
    let ops = |phys: &PhysMem| phys.pages.ref_atomic_ops();
    let (head, _) = frame(&mm, a);

    // GUP-fast: one try_grab_folio_fast(512) on the PMD; 512 on 4 KiB pages.
    let o = ops(&phys);
    let pages = get_user_pages_fast(&mut mm, a, n, FollFlags::empty()).unwrap();
    let thp_fast = ops(&phys) - o;
    assert_eq!(pages.len(), n);
    assert!(pages
        .iter()
        .enumerate()
        .all(|(i, p)| p.0 == head.0 + i as u64));
    assert_eq!(thp_fast, 1);
    assert_eq!(phys.pages.page(head).unwrap().refcount(), 1 + 512);
    for p in &pages {
        put_page(&phys, *p);
    }
    let o = ops(&phys);
    let spages = get_user_pages_fast(&mut mm, small, n, FollFlags::empty()).unwrap();
    let small_fast = ops(&phys) - o;
    assert_eq!(small_fast, 512);
    for p in &spages {
        put_page(&phys, *p);
    }

    // The slow path: follow_huge_pmd()'s reference, then page_increm - 1 more in one
    // operation (mm/gup.c): 2 per PMD.
    let o = ops(&phys);
    let mut guard = mm.mmap_read_lock();
    let pages = get_user_pages(&mut guard, a, n, FollFlags::empty()).unwrap();
    guard.unlock();
    let thp_slow = ops(&phys) - o;
    assert_eq!(pages.len(), n);
    assert_eq!(thp_slow, 2);
    for p in &pages {
        put_page(&phys, *p);
    }
    let o = ops(&phys);
    let mut guard = mm.mmap_read_lock();
    let spages = get_user_pages(&mut guard, small, n, FollFlags::empty()).unwrap();
    guard.unlock();
    let small_slow = ops(&phys) - o;
    assert_eq!(small_slow, 512);
    for p in &spages {
        put_page(&phys, *p);
    }

    // Pins on a large folio: +1 ref and +1 _pincount per page, each batch one operation
    // on each counter; unpin_user_pages() releases the run with one gup_put_folio().
    let o = ops(&phys);
    let pins = pin_user_pages_fast(&mut mm, a, n, FollFlags::WRITE).unwrap();
    assert_eq!(ops(&phys) - o, 2);
    let h = phys.pages.page(head).unwrap();
    assert_eq!((h.refcount(), h.pincount()), (1 + 512, 512));
    assert!(h.maybe_dma_pinned());
    let o = ops(&phys);
    unpin_user_pages(&phys, &pins);
    assert_eq!(ops(&phys) - o, 2);
    assert_eq!((h.refcount(), h.pincount()), (1, 0));
    let o = ops(&phys);
    let spins = pin_user_pages_fast(&mut mm, small, n, FollFlags::WRITE).unwrap();
    assert_eq!(ops(&phys) - o, 512);
    unpin_user_pages(&phys, &spins);

    // Starting mid-PMD: page_increm covers the rest of the PMD, capped by nr_pages.
    let o = ops(&phys);
    let mut guard = mm.mmap_read_lock();
    let mid = get_user_pages(&mut guard, a + 500 * P, 12, FollFlags::empty()).unwrap();
    guard.unlock();
    assert_eq!(ops(&phys) - o, 2);
    assert_eq!(mid.first(), Some(&Pfn(head.0 + 500)));
    assert_eq!(mid.last(), Some(&Pfn(head.0 + 511)));
    for p in &mid {
        put_page(&phys, *p);
    }

    let ratio_get = small_slow as f64 / thp_slow as f64;
    let ratio_fast = small_fast as f64 / thp_fast as f64;
    assert!(ratio_get >= 50.0 && ratio_fast >= 50.0);
    eprintln!(
        "refcount atomic ops per 512 pages: GUP slow 4K {small_slow} vs THP {thp_slow} \
         ({ratio_get:.0}x), GUP-fast 4K {small_fast} vs THP {thp_fast} ({ratio_fast:.0}x)"
    );
    clean(&phys);
    drop(mm);
    all_freed(&phys);
}

#[test]
fn gup_fast_on_a_pmd_drops_all_its_references_when_the_pmd_changed() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    hart_write(&mut mm, a, 5);
    let (head, _) = frame(&mm, a);
    let mut seen = Vec::new();
    let mut hook = |t: &PageTable, addr: u64| {
        seen.push(t.phys().pages.page(head).unwrap().refcount());
        if seen.len() == 1 {
            let slot = t.follow_pte(addr).unwrap().addr;
            t.ptep_set_wrprotect(slot);
        }
    };
    let pins = pin_user_pages_fast_racy(&mut mm, a, 16, FollFlags::WRITE, &mut hook).unwrap();
    assert_eq!(seen, vec![1 + 16], "one speculative grab of 16");
    assert_eq!(pins.len(), 16);
    let h = phys.pages.page(head).unwrap();
    assert_eq!(
        (h.refcount(), h.pincount()),
        (1 + 16, 16),
        "aborted grab dropped"
    );
    assert!(pte_write(mm.page_table().follow_pte(a).unwrap().pte));
    unpin_user_pages(&phys, &pins);
    drop(mm);
    all_freed(&phys);
}

#[test]
fn pinned_thp_at_fork_splits_and_the_child_gets_copies() {
    let (phys, mut parent) = setup();
    let a = thp_region(&mut parent, H);
    for i in 0..4 {
        hart_write(&mut parent, a + i * P, 10 + i);
    }
    let (head, _) = frame(&parent, a);
    let pins = pin_user_pages_fast(&mut parent, a, 4, FollFlags::WRITE).unwrap();
    let mut child = parent.dup_mmap(6).unwrap();
    let _ = parent.take_tlb_flush();
    assert_eq!(parent.stats().thp_split_pmd, 1, "possibly pinned: split");
    assert_eq!(
        parent.stats().fork_copies,
        512,
        "every subpage is exclusive and pinned"
    );
    // The parent keeps its writable, exclusive mapping of the pinned folio.
    let s = parent.page_table().follow_pte(a).unwrap();
    assert!(s.level == 0 && pte_write(s.pte));
    assert_eq!(phys.pages.folio(s.pfn_at(a)).unwrap().0, head);
    // A "device" write through the pin is seen by the parent only.
    phys.ram.write_u64(pins[2].pa(), 0xd0).unwrap();
    assert_eq!(hart_read(&mut parent, a + 2 * P), 0xd0);
    assert_eq!(hart_read(&mut child, a + 2 * P), 12);
    hart_write(&mut child, a + 3 * P, 7);
    assert_eq!(hart_read(&mut parent, a + 3 * P), 13);
    let h = phys.pages.page(head).unwrap();
    assert_eq!((h.refcount(), h.pincount()), (512 + 4, 4));
    assert_eq!(clean(&phys).large_folios, 1, "fully PTE-mapped: not split");
    unpin_user_pages(&phys, &pins);
    drop(child);
    drop(parent);
    all_freed(&phys);
}

#[test]
fn a_pinned_partially_mapped_folio_refuses_to_split_until_unpinned() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    hart_write(&mut mm, a, 1);
    let (head, _) = frame(&mm, a);
    let mut guard = mm.mmap_read_lock();
    let pins = pin_user_pages(&mut guard, a + 10 * P, 2, FollFlags::WRITE).unwrap();
    guard.unlock();
    mm.do_munmap(a + 300 * P, P).unwrap();
    let t = phys.pages.thp_stats();
    assert_eq!((t.split_pmd, t.split_page, t.split_page_failed), (1, 0, 1));
    assert_eq!(
        phys.pages.split_folio(&phys.ram, head),
        Err(SplitError::Again),
        "extra references: -EAGAIN"
    );
    assert_eq!(clean(&phys).large_folios, 1, "stays large, PTE-mapped");
    assert_eq!(hart_read(&mut mm, a + 10 * P), 0);
    unpin_user_pages(&phys, &pins);
    // The next unmap runs the deferred-split queue again: now it splits.
    mm.do_munmap(a + 301 * P, P).unwrap();
    let t = phys.pages.thp_stats();
    assert_eq!(t.split_page, 1, "{t:?}");
    assert_eq!(clean(&phys).large_folios, 0);
    assert_eq!(hart_read(&mut mm, a), 1);
    drop(mm);
    all_freed(&phys);
}

#[test]
fn gup_on_the_huge_zero_folio_unshares_only_for_a_longterm_ro_pin() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, H);
    assert_eq!(hart_read(&mut mm, a), 0);
    let hz = phys.pages.huge_zero_pfn().unwrap();
    // FOLL_GET and a short-term R/O pin: the huge zero subpage, no references.
    let mut guard = mm.mmap_read_lock();
    let got = get_user_pages(&mut guard, a + 3 * P, 2, FollFlags::empty()).unwrap();
    let pinned = pin_user_pages(&mut guard, a + 3 * P, 1, FollFlags::empty()).unwrap();
    guard.unlock();
    assert_eq!(got, vec![Pfn(hz.0 + 3), Pfn(hz.0 + 4)]);
    assert_eq!(pinned, vec![Pfn(hz.0 + 3)]);
    assert_eq!(phys.pages.page(hz).unwrap().refcount(), 1);
    // GUP-fast treats it as special and falls back, with the same result.
    assert_eq!(
        get_user_pages_fast_only(&mm, a, 1, FollFlags::empty()).unwrap(),
        vec![]
    );
    // A R/O long-term pin in a COW mapping must not pin a page the process will not see
    // its writes in: unshare (split the PMD, copy the small zero page).
    let mut guard = mm.mmap_read_lock();
    let lt = pin_user_pages(&mut guard, a + 3 * P, 1, FollFlags::LONGTERM).unwrap();
    guard.unlock();
    assert!(!phys.pages.is_huge_zero_pfn(lt[0]) && lt[0] != phys.pages.zero_pfn());
    assert_eq!(mm.stats().thp_split_pmd, 1);
    assert_eq!(
        frame(&mm, a + 3 * P),
        (lt[0], 0),
        "the process maps the pinned page"
    );
    assert_eq!(frame(&mm, a + 4 * P).0, phys.pages.zero_pfn());
    unpin_user_pages(&phys, &lt);
    // A GUP write on the huge zero folio allocates a THP (faultin → wp on huge zero).
    let b = mm
        .do_mmap(BASE + 8 * H, H, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    mm.madvise(b, H, MADV_HUGEPAGE).unwrap();
    assert_eq!(hart_read(&mut mm, b), 0);
    let mut guard = mm.mmap_read_lock();
    let w = get_user_pages(&mut guard, b, 1, FollFlags::WRITE).unwrap();
    guard.unlock();
    assert_eq!(frame(&mm, b), (w[0], 1));
    assert!(!phys.pages.is_huge_zero_pfn(w[0]));
    put_page(&phys, w[0]);
    drop(mm);
    all_freed(&phys);
}

/// The generation table applied to a huge PMD: a `FOLL_FORCE` write into a read-only
/// private THP mapping lands in a private THP under all three rules; a R/O pin of a THP
/// shared after fork unshares (splits and copies 4 KiB) only in the modern generation.
#[test]
fn generations_follow_the_same_table_on_huge_pmds() {
    for gen in [
        GupGeneration::DirtyCow,
        GupGeneration::FollCow,
        GupGeneration::Modern,
    ] {
        let (phys, mut mm) = setup();
        mm.set_gup_generation(gen);
        let a = mm
            .do_mmap(BASE, H, PROT_READ, ANON | MAP_FIXED, None, 0)
            .unwrap();
        mm.madvise(a, H, MADV_HUGEPAGE).unwrap();
        assert_eq!(hart_read(&mut mm, a + 8), 0, "huge zero folio");
        let mut buf = 0x55u64.to_le_bytes();
        let n = access_remote_vm(
            &mut mm.mmap_read_lock(),
            a + 8,
            &mut buf,
            FollFlags::WRITE | FollFlags::FORCE,
        );
        assert_eq!(n, 8, "{gen:?}");
        let (pfn, level) = frame(&mm, a + 8);
        assert_eq!(level, 1, "{gen:?}: a private THP");
        assert!(!phys.pages.is_huge_zero_pfn(pfn));
        assert!(!pte_write(mm.page_table().follow_pte(a).unwrap().pte));
        assert_eq!(hart_read(&mut mm, a + 8), 0x55, "{gen:?}");
        drop(mm);
        all_freed(&phys);

        // R/O FOLL_PIN of a THP shared with a child.
        let (phys, mut parent) = setup();
        parent.set_gup_generation(gen);
        let a = thp_region(&mut parent, H);
        hart_write(&mut parent, a + P, 3);
        let (head, _) = frame(&parent, a);
        let child = parent.dup_mmap(6).unwrap();
        let mut guard = parent.mmap_read_lock();
        let pin = pin_user_pages(&mut guard, a + P, 1, FollFlags::empty()).unwrap();
        guard.unlock();
        let on_shared = phys.pages.folio(pin[0]).unwrap().0 == head;
        assert_eq!(on_shared, gen != GupGeneration::Modern, "{gen:?}");
        if gen == GupGeneration::Modern {
            assert_eq!(parent.stats().thp_split_pmd, 1);
            assert_eq!(
                frame(&parent, a + P),
                (pin[0], 0),
                "coherent with the mapping"
            );
            assert!(phys
                .pages
                .page(pin[0])
                .unwrap()
                .test(PageFlags::ANON_EXCLUSIVE));
        }
        unpin_user_pages(&phys, &pin);
        drop(child);
        drop(parent);
        all_freed(&phys);
    }
}

#[test]
fn exit_with_thps_huge_zero_and_split_pmds_frees_everything() {
    let (phys, mut mm) = setup();
    let a = thp_region(&mut mm, 4 * H);
    hart_write(&mut mm, a, 1);
    assert_eq!(hart_read(&mut mm, a + H), 0);
    hart_write(&mut mm, a + 2 * H, 1);
    mm.do_munmap(a + 2 * H + P, P).unwrap();
    let child = mm.dup_mmap(6).unwrap();
    clean(&phys);
    mm.exit_mmap();
    clean(&phys);
    drop(child);
    all_freed(&phys);
}

#[test]
fn allocator_merges_free_frames_back_into_2mib_blocks() {
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM), 6 << 20)]).unwrap();
    let phys = PhysMem::new(ram).unwrap();
    let pa = &phys.pages;
    assert_eq!(pa.nr_free_huge(), 2, "block 0 holds the zero page");
    // Take every 4 KiB frame: blocks are broken one by one, lowest first.
    let mut small = Vec::new();
    while let Some(p) = phys.alloc_page(false) {
        small.push(p);
    }
    assert_eq!(pa.nr_free_huge(), 0);
    assert!(pa.alloc_large_folio(&phys.ram, true).is_none());
    // Free one whole block's worth plus a stray frame: the merge finds exactly one block.
    let block = Pfn((RAM >> 12) + 2 * HPAGE_PMD_NR);
    for p in small
        .iter()
        .filter(|p| p.0 >= block.0 && p.0 < block.0 + HPAGE_PMD_NR)
    {
        phys.put_page(*p);
    }
    phys.put_page(small[0]);
    let head = pa.alloc_large_folio(&phys.ram, true).unwrap();
    assert_eq!(head, block);
    assert!(pa.alloc_large_folio(&phys.ram, true).is_none());
    let a = pa.audit();
    assert_eq!((a.large_folios, a.inconsistent_frames), (1, 0));
    // A large folio frees as one block; split_folio of an unmapped folio frees all 512.
    phys.put_page(Pfn(head.0 + 17));
    assert_eq!(pa.nr_free_huge(), 1);
    let head = pa.alloc_large_folio(&phys.ram, false).unwrap();
    assert_eq!(
        pa.split_folio(&phys.ram, head),
        Err(SplitError::Again),
        "our ref"
    );
    for p in small
        .into_iter()
        .filter(|p| p.0 < block.0 || p.0 >= block.0 + HPAGE_PMD_NR)
        .skip(1)
    {
        phys.put_page(p);
    }
    phys.put_page(head);
    let a = pa.audit();
    assert_eq!(
        (a.used_frames, a.inconsistent_frames, a.bad_puts),
        (1, 0, 0)
    );
    assert!(pa.alloc_large_folio(&phys.ram, false).is_some());
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Write { off: u64, v: u8 },
    Read { off: u64 },
    Munmap { page: u64, n: u64 },
    Mprotect { page: u64, n: u64, ro: bool },
    DontNeed { page: u64, n: u64 },
    ForkAndChildWrites { off: u64 },
    PinAndRelease { page: u64, n: u64 },
}

const REGION: u64 = 2 * H;
const NPAGES: u64 = REGION / P;

fn op() -> impl Strategy<Value = Op> {
    let off = 0..REGION;
    let page = 0..NPAGES;
    prop_oneof![
        4 => (off.clone(), any::<u8>()).prop_map(|(off, v)| Op::Write { off, v }),
        2 => off.clone().prop_map(|off| Op::Read { off }),
        1 => (page.clone(), 1..64u64).prop_map(|(page, n)| Op::Munmap { page, n }),
        1 => (page.clone(), 1..600u64, any::<bool>())
            .prop_map(|(page, n, ro)| Op::Mprotect { page, n, ro }),
        1 => (page.clone(), 1..600u64).prop_map(|(page, n)| Op::DontNeed { page, n }),
        1 => off.prop_map(|off| Op::ForkAndChildWrites { off }),
        1 => (page, 1..600u64).prop_map(|(page, n)| Op::PinAndRelease { page, n }),
    ]
}

/// The byte model: unmapped pages, read-only pages, and every byte written.
#[derive(Default)]
struct Model {
    unmapped: Vec<bool>,
    ro: Vec<bool>,
    bytes: BTreeMap<u64, u8>,
}

impl Model {
    fn range(page: u64, n: u64) -> std::ops::Range<u64> {
        page..(page + n).min(NPAGES)
    }
}

fn byte_at(mm: &mut Mm, va: u64, access: AccessType) -> Result<GuestPhysAddr, UserFaultError> {
    touch(mm, va, access).map(|t| t.pa(GuestVirtAddr(va)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random operations on a `MADV_HUGEPAGE` region against a byte model: what the
    /// process reads is what the model says, whatever was split, COWed or pinned on
    /// the way, and the books balance at every step and after exit.
    #[test]
    fn random_ops_on_a_hugepage_region_match_a_byte_model(
        ops in proptest::collection::vec(op(), 1..30)
    ) {
        let (phys, mut mm) = setup_with(48, SatpMode::Sv39, AdScheme::Svadu);
        let a = thp_region(&mut mm, REGION);
        let mut m = Model {
            unmapped: vec![false; NPAGES as usize],
            ro: vec![false; NPAGES as usize],
            ..Model::default()
        };
        for op in ops {
            match op {
                Op::Write { off, v } => {
                    let pg = (off / P) as usize;
                    let r = byte_at(&mut mm, a + off, AccessType::Store);
                    if m.unmapped[pg] {
                        prop_assert_eq!(r, Err(UserFaultError::SEGV_MAPERR));
                    } else if m.ro[pg] {
                        prop_assert_eq!(r, Err(UserFaultError::SEGV_ACCERR));
                    } else {
                        phys.ram.write_bytes(r.unwrap(), &[v]).unwrap();
                        m.bytes.insert(off, v);
                    }
                }
                Op::Read { off } => {
                    let pg = (off / P) as usize;
                    let r = byte_at(&mut mm, a + off, AccessType::Load);
                    if m.unmapped[pg] {
                        prop_assert_eq!(r, Err(UserFaultError::SEGV_MAPERR));
                    } else {
                        let mut b = [0u8];
                        phys.ram.read_bytes(r.unwrap(), &mut b).unwrap();
                        prop_assert_eq!(b[0], m.bytes.get(&off).copied().unwrap_or(0));
                    }
                }
                Op::Munmap { page, n } => {
                    let r = Model::range(page, n);
                    mm.do_munmap(a + r.start * P, (r.end - r.start) * P).unwrap();
                    for p in r.clone() {
                        m.unmapped[p as usize] = true;
                    }
                    m.bytes.retain(|o, _| !r.contains(&(o / P)));
                }
                Op::Mprotect { page, n, ro } => {
                    let r = Model::range(page, n);
                    let prot = if ro { PROT_READ } else { RW };
                    let res = mm.mprotect(a + r.start * P, (r.end - r.start) * P, prot);
                    // Linux changes the VMAs before a hole and then reports ENOMEM.
                    for p in r.clone() {
                        if m.unmapped[p as usize] {
                            prop_assert_eq!(res, Err(crate::errno::Errno::ENOMEM));
                            break;
                        }
                        m.ro[p as usize] = ro;
                    }
                }
                Op::DontNeed { page, n } => {
                    let r = Model::range(page, n);
                    let _ = mm.madvise(a + r.start * P, (r.end - r.start) * P, MADV_DONTNEED);
                    m.bytes.retain(|o, _| !r.contains(&(o / P)));
                }
                Op::ForkAndChildWrites { off } => {
                    let mut child = mm.dup_mmap(9).unwrap();
                    let _ = mm.take_tlb_flush();
                    let pg = (off / P) as usize;
                    if let Ok(pa) = byte_at(&mut child, a + off, AccessType::Store) {
                        prop_assert!(!m.unmapped[pg] && !m.ro[pg]);
                        phys.ram.write_bytes(pa, &[0xee]).unwrap();
                    }
                    drop(child);
                }
                Op::PinAndRelease { page, n } => {
                    let r = Model::range(page, n);
                    let pins = pin_user_pages_fast(
                        &mut mm,
                        a + r.start * P,
                        (r.end - r.start) as usize,
                        FollFlags::empty(),
                    )
                    .unwrap_or_default();
                    // Unmap part of the pinned range while pinned: a large folio that
                    // loses PTE mappings may not split now.
                    let _ = mm.madvise(a + r.start * P, P, MADV_DONTNEED);
                    m.bytes.retain(|o, _| o / P != r.start);
                    unpin_user_pages(&phys, &pins);
                }
            }
            let _ = mm.take_tlb_flush();
            let au = phys.pages.audit();
            prop_assert_eq!((au.bad_puts, au.inconsistent_frames), (0, 0), "{:?}", au);
        }
        // Everything the model knows, read back at the end.
        for (&off, &v) in &m.bytes {
            let mut b = [0u8];
            let pa = byte_at(&mut mm, a + off, AccessType::Load).unwrap();
            phys.ram.read_bytes(pa, &mut b).unwrap();
            prop_assert_eq!(b[0], v);
        }
        drop(mm);
        let au = phys.pages.audit();
        prop_assert_eq!(
            (au.used_frames, au.large_folios, au.bad_puts, au.inconsistent_frames),
            (1, 0, 0, 0)
        );
    }
}
