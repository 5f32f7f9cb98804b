//! Address-space tests against real guest RAM: every mapping is checked with the hardware
//! walker (`mmu::walk` in U-mode), every page count with the allocator's audit.

use std::collections::BTreeMap;
use std::sync::Arc;

use devices::{GuestMemory, GuestPhysAddr};
use mmu::{AccessType, AdScheme, GuestVirtAddr, PteFlags, SatpMode, WalkFault};
use proptest::prelude::*;

use super::mmap::*;
use super::pgtable::{pte_dirty, pte_present, pte_protnone, pte_write, pte_young};
use super::test_support::{phys, touch, uwalk, ANON, P, RAM, RW};
use super::*;
use crate::errno::Errno;
use crate::uaccess::UserAccess;

fn mm_with(mode: SatpMode, ad: AdScheme) -> (Arc<PhysMem>, Mm) {
    super::test_support::setup_mm(16, mode, ad, 7)
}

fn mm() -> (Arc<PhysMem>, Mm) {
    mm_with(SatpMode::Sv39, AdScheme::Svadu)
}

fn pte_at(mm: &Mm, va: u64) -> Option<mmu::Pte> {
    mm.page_table().follow_pte(va).map(|s| s.pte)
}

fn vma_spans(mm: &Mm) -> Vec<(u64, u64)> {
    mm.vmas().iter().map(|v| (v.start, v.end)).collect()
}

#[test]
fn anon_read_maps_zero_page_then_write_copies() {
    let (phys, mut mm) = mm();
    let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    assert_eq!(
        uwalk(&mm, a, AccessType::Load),
        Err(WalkFault::PageFault),
        "nothing mapped yet"
    );

    let t = touch(&mut mm, a + 8, AccessType::Load).unwrap();
    assert_eq!(
        t.pa(GuestVirtAddr(a + 8)).ppn(),
        phys.pages.zero_pfn().0,
        "read → zero page"
    );
    assert!(
        !t.flags().contains(PteFlags::W),
        "zero page mapped read-only"
    );
    assert_eq!(mm.stats().zero_page_maps, 1);

    // A store faults on the read-only zero-page PTE; do_wp_page gives a fresh page.
    assert_eq!(
        uwalk(&mm, a + 8, AccessType::Store),
        Err(WalkFault::PageFault)
    );
    let t = touch(&mut mm, a + 8, AccessType::Store).unwrap();
    let pfn = Pfn(t.pte.ppn());
    assert_ne!(pfn, phys.pages.zero_pfn());
    let page = phys.pages.page(pfn).unwrap();
    assert!(page.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE));
    assert_eq!((page.refcount(), page.mapcount()), (1, 1));
    assert_eq!(mm.stats().wp_copy, 1);
    // The data path: what the "hart" stores, the kernel reads back through uaccess.
    phys.ram
        .write_u64(t.pa(GuestVirtAddr(a + 8)), 0x1122_3344)
        .unwrap();
    assert_eq!(mm.get_user_u64(a + 8).unwrap(), 0x1122_3344);
    // The other pages are untouched: still no PTE.
    assert!(pte_at(&mm, a + P).is_none());
}

#[test]
fn pte_policy_fresh_pte_has_a_d_clear_hardware_sets_them() {
    let (_phys, mut mm) = mm();
    let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    // Install the page with a write fault, as a store would, without walking again.
    mm.do_page_fault(a, AccessType::Store).unwrap();
    let pte = pte_at(&mm, a).unwrap();
    assert!(
        pte_write(pte)
            && pte
                .flags()
                .contains(PteFlags::U | PteFlags::R | PteFlags::V)
    );
    assert!(
        !pte_young(pte) && !pte_dirty(pte),
        "kernel leaves A/D to Svadu: {pte:?}"
    );
    // A load through the walker sets A only; the kernel reads what the walker wrote.
    uwalk(&mm, a, AccessType::Load).unwrap();
    let pte = pte_at(&mm, a).unwrap();
    assert!(pte_young(pte) && !pte_dirty(pte));
    uwalk(&mm, a, AccessType::Store).unwrap();
    assert!(
        pte_dirty(pte_at(&mm, a).unwrap()),
        "pte_dirty() reads the walker's D"
    );
}

#[test]
fn svade_fault_handler_sets_a_and_d() {
    let (_phys, mut mm) = mm_with(SatpMode::Sv39, AdScheme::Svade);
    let a = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    // Read fault: zero page with A set, D clear, so the retried load succeeds at once.
    mm.do_page_fault(a, AccessType::Load).unwrap();
    let pte = pte_at(&mm, a).unwrap();
    assert!(pte_young(pte) && !pte_dirty(pte));
    uwalk(&mm, a, AccessType::Load).unwrap();
    // Write fault on a fresh page: A and D set with the PTE.
    mm.do_page_fault(a + P, AccessType::Store).unwrap();
    let pte = pte_at(&mm, a + P).unwrap();
    assert!(pte_young(pte) && pte_dirty(pte) && pte_write(pte));
    uwalk(&mm, a + P, AccessType::Store).unwrap();

    // Age the page as reclaim would (clear A and D); the walker now faults and the
    // handler's spurious path sets them again for the access that faulted.
    let slot = mm.page_table().follow_pte(a + P).unwrap();
    let aged = slot.pte.without(PteFlags::A | PteFlags::D);
    mm.page_table().set_pte(slot.addr, aged);
    assert_eq!(
        uwalk(&mm, a + P, AccessType::Load),
        Err(WalkFault::PageFault)
    );
    let before = mm.stats().spurious;
    mm.do_page_fault(a + P, AccessType::Load).unwrap();
    let pte = pte_at(&mm, a + P).unwrap();
    assert!(pte_young(pte) && !pte_dirty(pte), "load sets A only");
    assert_eq!(
        uwalk(&mm, a + P, AccessType::Store),
        Err(WalkFault::PageFault)
    );
    touch(&mut mm, a + P, AccessType::Store).unwrap();
    assert!(pte_dirty(pte_at(&mm, a + P).unwrap()));
    assert_eq!(mm.stats().spurious, before + 2);
    // Under Svade, uaccess faults are resolved the same way.
    mm.copy_to_user(a + 16, b"svade").unwrap();
    let mut b = [0u8; 5];
    mm.copy_from_user(a + 16, &mut b).unwrap();
    assert_eq!(&b, b"svade");
}

#[test]
fn munmap_returns_frames_and_page_tables() {
    let (phys, mut mm) = mm();
    let base = phys.pages.audit();
    assert_eq!(mm.page_table().nr_tables(), 1);
    let a = mm.do_mmap(0, 64 * P, RW, ANON, None, 0).unwrap();
    for i in 0..64 {
        touch(&mut mm, a + i * P, AccessType::Store).unwrap();
    }
    let busy = phys.pages.audit();
    assert_eq!(busy.anon_frames, base.anon_frames + 64);
    assert_eq!(busy.total_mapcount, base.total_mapcount + 64);
    assert!(mm.page_table().nr_tables() >= 3);
    // Partial unmap in the middle splits the VMA and frees exactly those frames.
    mm.do_munmap(a + 10 * P, 4 * P).unwrap();
    assert_eq!(
        vma_spans(&mm),
        vec![(a, a + 10 * P), (a + 14 * P, a + 64 * P)]
    );
    assert_eq!(phys.pages.audit().anon_frames, base.anon_frames + 60);
    assert_eq!(
        touch(&mut mm, a + 11 * P, AccessType::Load),
        Err(UserFaultError::SEGV_MAPERR)
    );
    let _ = mm.take_tlb_flush();
    mm.do_munmap(a, 64 * P).unwrap();
    let after = phys.pages.audit();
    assert_eq!(
        after.used_frames, base.used_frames,
        "frames and tables all back"
    );
    assert_eq!(after.pgtable_frames, 1, "only the root table remains");
    assert_eq!(after.inconsistent_frames + after.bad_puts, 0);
    assert_eq!(mm.page_table().nr_tables(), 1);
    assert_eq!(
        mm.take_tlb_flush().range,
        TlbFlushRange::All,
        "freed page tables need a full flush"
    );
    // Errors.
    assert_eq!(mm.do_munmap(a + 1, P), Err(Errno::EINVAL));
    assert_eq!(mm.do_munmap(a, 0), Err(Errno::EINVAL));
    assert_eq!(mm.do_munmap(mm.task_size(), P), Err(Errno::EINVAL));
    assert_eq!(mm.do_munmap(a, 3 * P), Ok(0), "unmapping nothing is fine");
}

#[test]
fn mprotect_splits_changes_ptes_and_merges_back() {
    let (_phys, mut mm) = mm();
    let a = mm.do_mmap(0, 8 * P, RW, ANON, None, 0).unwrap();
    for i in 0..8 {
        mm.put_user_u64(a + i * P, i).unwrap();
    }
    let _ = mm.take_tlb_flush();
    mm.mprotect(a + 3 * P, 2 * P, PROT_READ).unwrap();
    assert_eq!(
        vma_spans(&mm),
        vec![
            (a, a + 3 * P),
            (a + 3 * P, a + 5 * P),
            (a + 5 * P, a + 8 * P)
        ]
    );
    assert_eq!(
        mm.take_tlb_flush().range,
        TlbFlushRange::Range {
            start: a + 3 * P,
            end: a + 5 * P
        }
    );
    assert!(!pte_write(pte_at(&mm, a + 3 * P).unwrap()));
    assert!(pte_write(pte_at(&mm, a + 2 * P).unwrap()));
    assert_eq!(
        uwalk(&mm, a + 4 * P, AccessType::Store),
        Err(WalkFault::PageFault)
    );
    assert_eq!(
        mm.do_page_fault(a + 4 * P, AccessType::Store),
        Err(UserFaultError::SEGV_ACCERR)
    );
    assert_eq!(mm.put_user_u64(a + 4 * P, 9), Err(Errno::EFAULT));
    assert_eq!(mm.get_user_u64(a + 4 * P), Ok(4), "still readable");
    assert!(mm
        .vmas()
        .vma_lookup(a + 3 * P)
        .unwrap()
        .flags
        .contains(VmFlags::ACCOUNT));

    // PROT_NONE keeps the data but the hardware sees an invalid PTE.
    mm.mprotect(a + 3 * P, P, PROT_NONE).unwrap();
    let pte = pte_at(&mm, a + 3 * P).unwrap();
    assert!(pte_protnone(pte) && pte_present(pte) && !pte.is_valid());
    assert_eq!(
        mm.do_page_fault(a + 3 * P, AccessType::Load),
        Err(UserFaultError::SEGV_ACCERR)
    );

    // Back to RW: one VMA again; the exclusive anon pages get W back without a fault.
    mm.mprotect(a, 8 * P, RW).unwrap();
    assert_eq!(vma_spans(&mm), vec![(a, a + 8 * P)]);
    for i in 0..8 {
        assert!(uwalk(&mm, a + i * P, AccessType::Store).is_ok(), "page {i}");
        assert_eq!(mm.get_user_u64(a + i * P), Ok(i));
    }
}

#[test]
fn mprotect_never_makes_the_zero_page_writable() {
    let (phys, mut mm) = mm();
    let a = mm.do_mmap(0, 2 * P, PROT_READ, ANON, None, 0).unwrap();
    assert_eq!(mm.get_user_u64(a), Ok(0));
    mm.mprotect(a, 2 * P, RW).unwrap();
    let pte = pte_at(&mm, a).unwrap();
    assert_eq!(pte.ppn(), phys.pages.zero_pfn().0);
    assert!(
        !pte_write(pte),
        "can_change_pte_writable() refuses the zero page"
    );
    mm.put_user_u64(a, 3).unwrap();
    assert_ne!(
        pte_at(&mm, a).unwrap().ppn(),
        phys.pages.zero_pfn().0,
        "COWed"
    );
    let mut z = [0xffu8; 4096];
    phys.ram
        .read_bytes(phys.pages.zero_pfn().pa(), &mut z)
        .unwrap();
    assert!(z.iter().all(|&b| b == 0), "the zero page stays zero");
}

#[test]
fn mprotect_errors_follow_linux() {
    let (_phys, mut mm) = mm();
    let a = mm.do_mmap(0, 6 * P, RW, ANON, None, 0).unwrap();
    mm.do_munmap(a + 2 * P, P).unwrap();
    assert_eq!(mm.mprotect(a + 1, P, PROT_READ), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(a, P, 0x10), Err(Errno::EINVAL));
    assert_eq!(
        mm.mprotect(a, P, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.mprotect(a, P, PROT_READ | PROT_GROWSDOWN),
        Err(Errno::EINVAL)
    );
    assert_eq!(mm.mprotect(a, 0, PROT_READ), Ok(0));
    assert_eq!(mm.mprotect(a - 4 * P, P, PROT_READ), Err(Errno::ENOMEM));
    // Across the hole: the part before it is changed, then ENOMEM (as Linux).
    assert_eq!(mm.mprotect(a, 4 * P, PROT_READ), Err(Errno::ENOMEM));
    assert!(!mm
        .vmas()
        .vma_lookup(a)
        .unwrap()
        .flags
        .contains(VmFlags::WRITE));
    assert!(mm
        .vmas()
        .vma_lookup(a + 3 * P)
        .unwrap()
        .flags
        .contains(VmFlags::WRITE));
    // EACCES: asking for more than VM_MAY* allows.
    if let Some(v) = mm.vmas.get_mut(a + 3 * P) {
        v.flags -= VmFlags::MAYEXEC;
    }
    assert_eq!(mm.mprotect(a + 3 * P, P, PROT_EXEC), Err(Errno::EACCES));
}

#[test]
fn madvise_dontneed_zeros_and_errors() {
    let (phys, mut mm) = mm();
    let base = phys.pages.audit();
    let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    for i in 0..4 {
        mm.put_user_u64(a + i * P, 0xabcd + i).unwrap();
    }
    mm.madvise(a + P, 2 * P, MADV_DONTNEED).unwrap();
    assert_eq!(mm.get_user_u64(a), Ok(0xabcd));
    assert_eq!(
        mm.get_user_u64(a + P),
        Ok(0),
        "private anon reads back zeros"
    );
    assert_eq!(mm.get_user_u64(a + 2 * P), Ok(0));
    assert_eq!(mm.get_user_u64(a + 3 * P), Ok(0xabcd + 3));
    assert_eq!(
        vma_spans(&mm),
        vec![(a, a + 4 * P)],
        "DONTNEED keeps the VMA"
    );
    assert_eq!(phys.pages.audit().anon_frames, base.anon_frames + 2);

    assert_eq!(mm.madvise(a, P, 77), Err(Errno::EINVAL));
    assert_eq!(mm.madvise(a + 1, P, MADV_NORMAL), Err(Errno::EINVAL));
    assert_eq!(mm.madvise(a, 0, MADV_DONTNEED), Ok(0));
    // A hole: the mapped part is advised, then ENOMEM.
    mm.do_munmap(a + 3 * P, P).unwrap();
    mm.put_user_u64(a, 5).unwrap();
    assert_eq!(mm.madvise(a, 8 * P, MADV_DONTNEED), Err(Errno::ENOMEM));
    assert_eq!(mm.get_user_u64(a), Ok(0));
    // Flag advice splits and merges like mprotect.
    mm.madvise(a + P, P, MADV_DONTFORK).unwrap();
    assert_eq!(mm.vmas().map_count(), 3);
    assert!(mm
        .vmas()
        .vma_lookup(a + P)
        .unwrap()
        .flags
        .contains(VmFlags::DONTCOPY));
    mm.madvise(a, 3 * P, MADV_DOFORK).unwrap();
    assert_eq!(mm.vmas().map_count(), 1);
    for adv in [
        MADV_NORMAL,
        MADV_RANDOM,
        MADV_SEQUENTIAL,
        MADV_WILLNEED,
        MADV_HUGEPAGE,
        MADV_NOHUGEPAGE,
        MADV_DONTDUMP,
        MADV_DODUMP,
        MADV_FREE,
        MADV_COLD,
    ] {
        assert_eq!(mm.madvise(a, 3 * P, adv), Ok(0), "advice {adv}");
    }
    assert_eq!(
        mm.madvise(a, P, MADV_REMOVE),
        Err(Errno::EINVAL),
        "private mapping"
    );
}

#[test]
fn shared_anonymous_never_maps_zero_page_and_survives_dontneed() {
    let (phys, mut mm) = mm();
    let _shm = super::test_support::shm_vfs(&phys);
    let a = mm
        .do_mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, None, 0)
        .unwrap();
    let t = touch(&mut mm, a, AccessType::Load).unwrap();
    assert_ne!(t.pte.ppn(), phys.pages.zero_pfn().0);
    assert!(
        t.flags().contains(PteFlags::W),
        "shared writable: W from vm_page_prot"
    );
    mm.put_user_u64(a, 42).unwrap();
    mm.madvise(a, 2 * P, MADV_DONTNEED).unwrap();
    assert_eq!(mm.get_user_u64(a), Ok(42), "shmem keeps the data");
    assert_eq!(mm.madvise(a, P, MADV_FREE), Err(Errno::EINVAL));
    mm.madvise(a, P, MADV_REMOVE).unwrap();
    assert_eq!(mm.get_user_u64(a), Ok(0), "REMOVE punches the hole");
    assert_eq!(
        mm.do_mmap(
            0,
            P,
            RW,
            MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN,
            None,
            0
        ),
        Err(Errno::EINVAL)
    );
}

#[test]
fn mremap_moves_ptes_not_data() {
    let (phys, mut mm) = mm();
    let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    for i in 0..4 {
        mm.put_user_u64(a + i * P, 100 + i).unwrap();
    }
    let frames: Vec<u64> = (0..4)
        .map(|i| pte_at(&mm, a + i * P).unwrap().ppn())
        .collect();
    // Block in-place growth: a mapping right after.
    mm.do_mmap(a + 4 * P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mremap(a, 4 * P, 8 * P, 0, 0),
        Err(Errno::ENOMEM),
        "no MAYMOVE"
    );
    let used = phys.pages.audit().anon_frames;
    let b = mm.mremap(a, 4 * P, 8 * P, MREMAP_MAYMOVE, 0).unwrap();
    assert_ne!(b, a);
    for i in 0..4 {
        assert_eq!(
            pte_at(&mm, b + i * P).unwrap().ppn(),
            frames[i as usize],
            "same frame"
        );
        assert_eq!(mm.get_user_u64(b + i * P), Ok(100 + i));
    }
    assert_eq!(phys.pages.audit().anon_frames, used, "nothing copied");
    assert!(mm.vmas().vma_lookup(a).is_none(), "old range unmapped");
    assert_eq!(
        mm.vmas().vma_lookup(b).unwrap().pgoff,
        a / P,
        "vm_pgoff travels"
    );
    assert_eq!(mm.get_user_u64(b + 6 * P), Ok(0), "the grown part is fresh");

    // Shrink in place, then grow in place into the freed room.
    assert_eq!(mm.mremap(b, 8 * P, 2 * P, 0, 0), Ok(b));
    assert!(mm.vmas().vma_lookup(b + 2 * P).is_none());
    assert_eq!(mm.mremap(b, 2 * P, 3 * P, 0, 0), Ok(b));
    assert_eq!(mm.vmas().vma_lookup(b).unwrap().end, b + 3 * P);

    // MREMAP_FIXED replaces the target; DONTUNMAP leaves the old range empty.
    let c = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    mm.put_user_u64(c, 7).unwrap();
    assert_eq!(mm.mremap(b, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, c), Ok(c));
    assert_eq!(mm.get_user_u64(c), Ok(100));
    let d = mm
        .mremap(c, P, P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0)
        .unwrap();
    assert_eq!(mm.get_user_u64(d), Ok(100));
    assert_eq!(mm.get_user_u64(c), Ok(0), "still mapped, now empty");

    // Errors per mm/mremap.c.
    assert_eq!(mm.mremap(d, P, P, 8, 0), Err(Errno::EINVAL));
    assert_eq!(mm.mremap(d, P, P, MREMAP_FIXED, 0), Err(Errno::EINVAL));
    assert_eq!(
        mm.mremap(d, P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(mm.mremap(d + 1, P, P, 0, 0), Err(Errno::EINVAL));
    assert_eq!(mm.mremap(d, P, 0, 0, 0), Err(Errno::EINVAL));
    assert_eq!(
        mm.mremap(0x5000_0000, P, 2 * P, MREMAP_MAYMOVE, 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        mm.mremap(d, 4 * P, 8 * P, MREMAP_MAYMOVE, 0),
        Err(Errno::EFAULT),
        "crosses the VMA end"
    );
    assert_eq!(
        mm.mremap(d, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, d),
        Err(Errno::EINVAL),
        "overlap"
    );
}

#[test]
fn brk_linux_semantics() {
    let (_phys, mut mm) = mm();
    mm.init_brk(0x40_1234);
    let start = 0x40_2000;
    assert_eq!(mm.brk(0), start, "brk(0) reports the break");
    assert_eq!(mm.brk(start + 0x3000), start + 0x3000);
    mm.put_user_u64(start + 0x2ff8, 9).unwrap();
    let v = mm.vmas().vma_lookup(start).unwrap();
    assert_eq!((v.start, v.end), (start, start + 0x3000));
    assert_eq!(mm.brk(start + 0x3800), start + 0x3800, "unaligned break");
    assert_eq!(
        mm.vmas().vma_lookup(start).unwrap().end,
        start + 0x4000,
        "merged, page-rounded"
    );
    assert_eq!(mm.brk(start + 0x1000), start + 0x1000, "shrink");
    assert_eq!(
        mm.get_user_u64(start + 0x2ff8),
        Err(Errno::EFAULT),
        "unmapped"
    );
    assert_eq!(
        mm.brk(start - P),
        start + 0x1000,
        "below start_brk: refused"
    );
    // A mapping in the way: refused, and the old break is returned (never an errno).
    mm.do_mmap(start + 0x10_0000, P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.brk(start + 0x10_0000), start + 0x1000);
    assert_eq!(
        mm.brk(start + 0xf_f000 - 1),
        start + 0xf_f000 - 1,
        "one page of gap is enough"
    );
    assert_eq!(mm.brk(u64::MAX), start + 0xf_f000 - 1);
}

#[test]
fn get_unmapped_area_topdown_hint_fixed() {
    let (_phys, mut mm) = mm();
    let top = mm.mmap_base();
    assert_eq!(top, (1 << 38) - (128 << 20));
    let a = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    assert_eq!(a, top - 2 * P, "top-down from mmap_base");
    let b = mm.do_mmap(0, P, PROT_READ, ANON, None, 0).unwrap();
    assert_eq!(b, a - P);
    // A free hint is honoured (rounded down), an occupied one is not.
    let h = mm.do_mmap(0x1234_5678, P, RW, ANON, None, 0).unwrap();
    assert_eq!(h, 0x1234_5000);
    let h2 = mm
        .do_mmap(0x1234_5000, P, PROT_READ, ANON, None, 0)
        .unwrap();
    assert_eq!(h2, b - P);
    // A hint below mmap_min_addr is raised to it.
    assert_eq!(mm.do_mmap(0x1000, P, RW, ANON, None, 0), Ok(MMAP_MIN_ADDR));
    // Fixed mappings.
    assert_eq!(
        mm.do_mmap(h, P, RW, ANON | MAP_FIXED_NOREPLACE, None, 0),
        Err(Errno::EEXIST)
    );
    assert_eq!(mm.do_mmap(h, P, RW, ANON | MAP_FIXED, None, 0), Ok(h));
    assert_eq!(
        mm.do_mmap(h + 1, P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.do_mmap(0x1000, P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::EPERM)
    );
    assert_eq!(
        mm.do_mmap(mm.task_size() - P, 2 * P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::ENOMEM)
    );
    // Argument errors.
    assert_eq!(mm.do_mmap(0, 0, RW, ANON, None, 0), Err(Errno::EINVAL));
    assert_eq!(
        mm.do_mmap(0, u64::MAX, RW, ANON, None, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        mm.do_mmap(0, 1 << 40, RW, ANON, None, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        mm.do_mmap(0, P, RW, MAP_ANONYMOUS, None, 0),
        Err(Errno::EINVAL),
        "no MAP_TYPE"
    );
    assert_eq!(
        mm.do_mmap(0, P, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, None, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.do_mmap(0, P, RW, ANON | MAP_HUGETLB, None, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(mm.sys_mmap(0, P, RW, ANON, None, 12), Err(Errno::EINVAL));
    #[derive(Debug)]
    struct F;
    impl MappedFile for F {
        fn inode_id(&self) -> u64 {
            1
        }
    }
    assert_eq!(
        mm.do_mmap(0, P, PROT_READ, MAP_PRIVATE, Some(Arc::new(F)), 0),
        Err(Errno::ENODEV)
    );
    // The stack guard gap is kept below a growsdown VMA.
    let (_phys2, mut mm2) = self::mm();
    let stack_top = mm2.setup_stack(4 * P).unwrap();
    let below = stack_top - 4 * P - STACK_GUARD_GAP;
    assert_eq!(
        mm2.do_mmap(below - P, 2 * P, RW, ANON, None, 0)
            .map(|x| x != below - P),
        Ok(true)
    );
    assert_eq!(mm2.do_mmap(below - P, P, RW, ANON, None, 0), Ok(below - P));
}

#[test]
fn map_populate_prefaults_writable_pages() {
    let (phys, mut mm) = mm();
    let base = phys.pages.audit().anon_frames;
    let a = mm
        .do_mmap(0, 3 * P, RW, ANON | MAP_POPULATE, None, 0)
        .unwrap();
    assert_eq!(phys.pages.audit().anon_frames, base + 3);
    for i in 0..3 {
        assert!(pte_write(pte_at(&mm, a + i * P).unwrap()));
    }
    let r = mm
        .do_mmap(0, 2 * P, PROT_READ, ANON | MAP_POPULATE, None, 0)
        .unwrap();
    assert_eq!(
        pte_at(&mm, r).unwrap().ppn(),
        phys.pages.zero_pfn().0,
        "read-only: zero page"
    );
}

#[test]
fn uaccess_crosses_pages_and_faults() {
    let (_phys, mut mm) = mm();
    let a = mm.do_mmap(0, 3 * P, RW, ANON, None, 0).unwrap();
    let data: Vec<u8> = (0..(2 * P as usize)).map(|i| (i * 7) as u8).collect();
    mm.copy_to_user(a + P - 50, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    mm.copy_from_user(a + P - 50, &mut back).unwrap();
    assert_eq!(back, data);
    let c = mm.uaccess_counters();
    // A kernel-mode fault has no FAULT_FLAG_USER: the handler sets A (and D for the
    // store) itself, as Linux's pte_mkyoung()/pte_mkdirty() do, so the walker's retry
    // finds them set even under Svadu.
    assert!(
        c.walks >= 6 && c.page_faults == 3 && c.ad_updates == 0,
        "{c:?}"
    );
    // The kernel's store faulted as a write: D is set on every written page.
    for i in 0..3 {
        assert!(pte_dirty(pte_at(&mm, a + i * P).unwrap()), "page {i}");
    }
    // EFAULT: unmapped, beyond user space, read-only for a write. Bytes before the bad
    // page are written.
    mm.do_mmap(a + 3 * P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.copy_to_user(a + 3 * P - 4, &[1; 8]), Err(Errno::EFAULT));
    assert_eq!(mm.get_user_u64(a + 3 * P - 8).unwrap() >> 32, 0x0101_0101);
    let mut b = [0u8; 8];
    assert_eq!(mm.copy_from_user(0x10, &mut b), Err(Errno::EFAULT));
    assert_eq!(
        mm.copy_from_user(mm.task_size() - 4, &mut b),
        Err(Errno::EFAULT)
    );
    assert_eq!(mm.copy_from_user(u64::MAX - 2, &mut b), Err(Errno::EFAULT));
    // strncpy_from_user across a page boundary.
    mm.copy_to_user(a + P - 3, b"hello\0").unwrap();
    assert_eq!(mm.strncpy_from_user(a + P - 3, 64).unwrap(), b"hello");
}

#[test]
fn exec_helpers_text_stack_and_icache() {
    let (_phys, mut mm) = mm();
    let text = 0x1_0000;
    mm.map_region(text, 2 * P, VmFlags::READ | VmFlags::EXEC, None)
        .unwrap();
    let _ = mm.take_tlb_flush();
    mm.write_region(text + P - 2, &[0x13, 0, 0, 0]).unwrap();
    assert!(
        mm.take_tlb_flush().icache,
        "kernel wrote an executable page"
    );
    let t = touch(&mut mm, text + P - 2, AccessType::Fetch).unwrap();
    assert!(t.flags().contains(PteFlags::X) && !t.flags().contains(PteFlags::W));
    let mut insn = [0u8; 4];
    mm.copy_from_user(text + P - 2, &mut insn).unwrap();
    assert_eq!(insn, [0x13, 0, 0, 0]);
    assert_eq!(
        touch(&mut mm, text, AccessType::Store),
        Err(UserFaultError::SEGV_ACCERR)
    );
    assert_eq!(mm.write_region(0x5000_0000, &[1]), Err(Errno::EFAULT));

    // Stack: grows on faults below it, up to RLIMIT_STACK.
    let top = mm.setup_stack(2 * P).unwrap();
    assert_eq!(top, mm.task_size());
    let v = mm.vmas().vma_lookup(top - P).unwrap();
    assert!(v.flags.contains(VmFlags::GROWSDOWN) && v.name.as_deref() == Some("[stack]"));
    mm.put_user_u64(top - 100 * P, 1).unwrap();
    assert_eq!(
        mm.vmas().vma_lookup(top - 100 * P).unwrap().start,
        top - 100 * P
    );
    assert_eq!(mm.stats().stack_expansions, 1);
    assert_eq!(
        touch(&mut mm, top - DEFAULT_STACK_RLIMIT - P, AccessType::Store),
        Err(UserFaultError::SEGV_MAPERR),
        "beyond RLIMIT_STACK"
    );
    assert!(touch(&mut mm, top - DEFAULT_STACK_RLIMIT, AccessType::Store).is_ok());
}

#[test]
fn wp_fault_copies_a_shared_anon_page() {
    // The state fork will create: the page mapped read-only and no longer exclusive, with
    // a second reference. A write must copy it and leave the original alone.
    let (phys, mut mm) = mm();
    let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    mm.put_user_u64(a, 0x55).unwrap();
    let slot = mm.page_table().follow_pte(a).unwrap();
    let old = Pfn(slot.pte.ppn());
    let page = phys.pages.page(old).unwrap();
    page.clear(PageFlags::ANON_EXCLUSIVE);
    phys.get_page(old);
    page.inc_mapcount();
    mm.page_table()
        .set_pte(slot.addr, slot.pte.without(PteFlags::W));
    // FAULT_FLAG_UNSHARE on a writable-later COW page copies without making it writable.
    mm.handle_page_fault(a, FaultFlags::UNSHARE).unwrap();
    let after = pte_at(&mm, a).unwrap();
    assert_ne!(after.ppn(), old.0);
    assert!(!pte_write(after));
    let new = phys.pages.page(Pfn(after.ppn())).unwrap();
    assert!(new.test(PageFlags::ANON_EXCLUSIVE));
    assert_eq!(
        (page.refcount(), page.mapcount()),
        (1, 1),
        "our reference dropped"
    );
    assert_eq!(mm.get_user_u64(a), Ok(0x55), "copied data");
    // The new page is exclusive: a write now reuses it.
    let reuse = mm.stats().wp_reuse;
    touch(&mut mm, a, AccessType::Store).unwrap();
    assert_eq!(pte_at(&mm, a).unwrap().ppn(), after.ppn());
    assert_eq!(mm.stats().wp_reuse, reuse + 1);
    assert_eq!(
        mm.handle_page_fault(a, FaultFlags::UNSHARE | FaultFlags::WRITE),
        Err(UserFaultError::SEGV_MAPERR)
    );
    // Drop the simulated other mapper's reference.
    page.dec_mapcount();
    phys.put_page(old);
    drop(mm);
    let audit = phys.pages.audit();
    assert_eq!(
        (audit.used_frames, audit.bad_puts, audit.inconsistent_frames),
        (1, 0, 0)
    );
}

#[test]
fn fault_errors() {
    let (_phys, mut mm) = mm();
    assert_eq!(
        mm.do_page_fault(0x4000_0000, AccessType::Load),
        Err(UserFaultError::SEGV_MAPERR)
    );
    assert_eq!(
        mm.do_page_fault(u64::MAX, AccessType::Load),
        Err(UserFaultError::SEGV_MAPERR)
    );
    let x = mm.do_mmap(0, P, PROT_EXEC, ANON, None, 0).unwrap();
    assert_eq!(
        mm.do_page_fault(x, AccessType::Load),
        Err(UserFaultError::SEGV_ACCERR)
    );
    assert!(touch(&mut mm, x, AccessType::Fetch).is_ok());
    let r = mm.do_mmap(0, P, PROT_READ, ANON, None, 0).unwrap();
    assert_eq!(
        mm.do_page_fault(r, AccessType::Fetch),
        Err(UserFaultError::SEGV_ACCERR)
    );
    let w = mm.do_mmap(0, P, PROT_WRITE, ANON, None, 0).unwrap();
    assert!(
        touch(&mut mm, w, AccessType::Load).is_ok(),
        "write implies read"
    );
    // sanitize_fault_flags(): VM_FAULT_SIGSEGV, which mm_fault_error() makes SEGV_MAPERR.
    let vma = mm.vmas().vma_lookup(w).unwrap().clone();
    assert_eq!(
        mm.handle_mm_fault_vma(&vma, w, FaultFlags::UNSHARE | FaultFlags::WRITE),
        VmFault::SIGSEGV
    );
}

#[test]
fn vm_fault_bits_have_linux_values() {
    // include/linux/mm_types.h, enum vm_fault_reason.
    let bits = [
        (VmFault::OOM, 0x1),
        (VmFault::SIGBUS, 0x2),
        (VmFault::MAJOR, 0x4),
        (VmFault::WRITE, 0x8),
        (VmFault::HWPOISON, 0x10),
        (VmFault::HWPOISON_LARGE, 0x20),
        (VmFault::SIGSEGV, 0x40),
        (VmFault::NOPAGE, 0x100),
        (VmFault::LOCKED, 0x200),
        (VmFault::RETRY, 0x400),
        (VmFault::FALLBACK, 0x800),
        (VmFault::DONE_COW, 0x1000),
        (VmFault::NEEDDSYNC, 0x2000),
        (VmFault::COMPLETED, 0x4000),
        (VmFault::HINDEX_MASK, 0xf_0000),
    ];
    for (f, v) in bits {
        assert_eq!(f.bits(), v, "{f:?}");
    }
    assert_eq!(
        VmFault::ERROR.bits(),
        0x1 | 0x2 | 0x40 | 0x10 | 0x20 | 0x800
    );
    for f in [
        VmFault::MAJOR,
        VmFault::WRITE,
        VmFault::RETRY,
        VmFault::COMPLETED,
    ] {
        assert!(!f.is_error(), "{f:?}");
    }
}

#[test]
fn mm_fault_error_maps_each_fault_as_riscv_does() {
    use crate::signal::{BUS_ADRERR, SEGV_MAPERR, SIGBUS, SIGSEGV};
    let sig = |signo, code| UserFaultError::Signal { signo, code };
    assert_eq!(mm_fault_error(VmFault::OOM), UserFaultError::Oom);
    // OOM wins over any other bit, as the if-chain of mm_fault_error() checks it first.
    assert_eq!(
        mm_fault_error(VmFault::OOM | VmFault::SIGBUS),
        UserFaultError::Oom
    );
    for f in [VmFault::SIGBUS, VmFault::HWPOISON, VmFault::HWPOISON_LARGE] {
        assert_eq!(mm_fault_error(f), sig(SIGBUS, BUS_ADRERR), "{f:?}");
    }
    assert_eq!(mm_fault_error(VmFault::SIGSEGV), sig(SIGSEGV, SEGV_MAPERR));
    assert_eq!(
        mm_fault_error(VmFault::SIGBUS | VmFault::SIGSEGV),
        sig(SIGBUS, BUS_ADRERR)
    );
}

#[test]
fn vm_fault_to_errno_follows_linux() {
    use super::gup::vm_fault_to_errno;
    let none = FollFlags::empty();
    assert_eq!(vm_fault_to_errno(VmFault::OOM, none), Some(Errno::ENOMEM));
    assert_eq!(
        vm_fault_to_errno(VmFault::OOM | VmFault::SIGBUS, none),
        Some(Errno::ENOMEM)
    );
    assert_eq!(
        vm_fault_to_errno(VmFault::SIGBUS, none),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        vm_fault_to_errno(VmFault::SIGSEGV, none),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        vm_fault_to_errno(VmFault::HWPOISON, none),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        vm_fault_to_errno(VmFault::HWPOISON_LARGE, FollFlags::HWPOISON),
        Some(Errno::EHWPOISON)
    );
    assert_eq!(vm_fault_to_errno(VmFault::FALLBACK, none), None);
    assert_eq!(vm_fault_to_errno(VmFault::empty(), none), None);
}

#[test]
fn oom_reaper_unmaps_private_memory_and_sets_mmf_oom_skip() {
    let (phys, mut mm) = mm();
    let _shm = super::test_support::shm_vfs(&phys);
    let a = mm.do_mmap(0, 8 * P, RW, ANON, None, 0).unwrap();
    let s = mm
        .do_mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, None, 0)
        .unwrap();
    for i in 0..8 {
        touch(&mut mm, a + i * P, AccessType::Store).unwrap();
    }
    touch(&mut mm, s, AccessType::Store).unwrap();
    let rss = mm.get_mm_rss();
    assert_eq!(rss, 9, "8 private pages and 1 shared");
    assert!(mm.mm_pgtables_pages() >= 3, "root, middle and leaf tables");
    assert!(!mm.mmf_oom_skip());
    assert_eq!(
        mm.oom_reap_task_mm(),
        8,
        "the shared anonymous page is shmem's: kept"
    );
    assert!(mm.mmf_oom_skip());
    assert_eq!(mm.get_mm_rss(), 1);
    assert_eq!(mm.vmas().iter().count(), 2, "the VMAs stay");
    let _ = mm.take_tlb_flush();
    drop(mm);
    assert_eq!(phys.pages.audit().used_frames, 1, "only the zero page");
}

#[test]
fn out_of_memory_is_reported_not_panicked() {
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM), 16 * P)]).unwrap();
    let phys = Arc::new(PhysMem::new(ram).unwrap());
    let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
    let a = mm.do_mmap(0, 64 * P, RW, ANON, None, 0).unwrap();
    let mut oom = false;
    for i in 0..64 {
        match touch(&mut mm, a + i * P, AccessType::Store) {
            Ok(_) => {}
            Err(UserFaultError::Oom) => {
                oom = true;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(oom);
    assert_eq!(mm.copy_to_user(a + 63 * P, &[1]), Err(Errno::EFAULT));
    drop(mm);
    assert_eq!(phys.pages.audit().used_frames, 1);
}

#[test]
fn sv48_round_trip_and_teardown() {
    let (phys, mut mm) = mm_with(SatpMode::Sv48, AdScheme::Svadu);
    assert_eq!(mm.task_size(), 1 << 47);
    assert_eq!(mm.satp().mode(), Some(SatpMode::Sv48));
    let high = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    assert!(high > 1 << 38, "above the Sv39 range: {high:#x}");
    mm.put_user_u64(high, 48).unwrap();
    let t = uwalk(&mm, high, AccessType::Load).unwrap();
    assert_eq!(phys.ram.read_u64(t.pa(GuestVirtAddr(high))).unwrap(), 48);
    assert_eq!(
        mm.page_table().nr_tables(),
        4,
        "root + 3 levels for one page"
    );
    let top = mm.setup_stack(P).unwrap();
    mm.put_user_u64(top - 8, 1).unwrap();
    drop(mm);
    let a = phys.pages.audit();
    assert_eq!(
        (
            a.used_frames,
            a.pgtable_frames,
            a.total_mapcount,
            a.bad_puts
        ),
        (1, 0, 0, 0)
    );
}

#[test]
fn exit_returns_everything() {
    let (phys, mut mm) = mm();
    let base = phys.pages.audit();
    mm.map_region(0x1_0000, 3 * P, VmFlags::READ | VmFlags::EXEC, None)
        .unwrap();
    mm.write_region(0x1_0000, &[1; 100]).unwrap();
    mm.setup_stack(4 * P).unwrap();
    mm.init_brk(0x40_0000);
    mm.brk(0x48_0000);
    mm.put_user_u64(0x47_0000, 1).unwrap();
    let a = mm
        .do_mmap(0, 32 * P, RW, ANON | MAP_POPULATE, None, 0)
        .unwrap();
    mm.mremap(a, 32 * P, 64 * P, MREMAP_MAYMOVE, 0).unwrap();
    assert!(phys.pages.audit().used_frames > base.used_frames + 35);
    mm.exit_mmap();
    let end = phys.pages.audit();
    assert_eq!(end.used_frames, base.used_frames - 1, "the root table too");
    assert_eq!(
        (end.total_mapcount, end.bad_puts, end.inconsistent_frames),
        (0, 0, 0)
    );
    assert!(phys.pages.peak_used() > 35);
}

#[test]
fn tlb_flush_accumulates() {
    let (_phys, mut mm) = mm();
    let a = mm.do_mmap(0, 4 * P, RW | PROT_EXEC, ANON, None, 0).unwrap();
    assert!(
        mm.take_tlb_flush().is_none(),
        "a new VMA changes no translation"
    );
    mm.do_page_fault(a + P, AccessType::Store).unwrap();
    mm.do_page_fault(a + 3 * P, AccessType::Store).unwrap();
    let f = mm.take_tlb_flush();
    assert_eq!(
        f.range,
        TlbFlushRange::Range {
            start: a + P,
            end: a + 4 * P
        }
    );
    assert!(f.icache, "executable PTEs created");
    assert!(mm.take_tlb_flush().is_none());
}

// ------------------------------------------------------------------ VMA property test

/// Page-granular reference model: vpn → (prot, VM_ACCOUNT).
type Model = BTreeMap<u64, (u64, bool)>;

const ARENA: u64 = 0x1000_0000;
const ARENA_PAGES: u64 = 32;

#[derive(Debug, Clone)]
enum Op {
    Mmap(u64, u64, u64),
    Munmap(u64, u64),
    Mprotect(u64, u64, u64),
    Touch(u64, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let range = (0..ARENA_PAGES).prop_flat_map(|p| (Just(p), 1..=(ARENA_PAGES - p).min(12)));
    prop_oneof![
        (range.clone(), 0u64..8).prop_map(|((p, n), prot)| Op::Mmap(p, n, prot)),
        range.clone().prop_map(|(p, n)| Op::Munmap(p, n)),
        (range, 0u64..8).prop_map(|((p, n), prot)| Op::Mprotect(p, n, prot)),
        (0..ARENA_PAGES, any::<bool>()).prop_map(|(p, w)| Op::Touch(p, w)),
    ]
}

fn apply_model(model: &mut Model, op: &Op) -> Option<Result<u64, Errno>> {
    match *op {
        Op::Mmap(p, n, prot) => {
            for v in p..p + n {
                model.insert(v, (prot, prot & PROT_WRITE != 0));
            }
            Some(Ok(ARENA + p * P))
        }
        Op::Munmap(p, n) => {
            for v in p..p + n {
                model.remove(&v);
            }
            Some(Ok(0))
        }
        Op::Mprotect(p, n, prot) => {
            for v in p..p + n {
                match model.get_mut(&v) {
                    Some(e) => *e = (prot, e.1 || prot & PROT_WRITE != 0),
                    None => return Some(Err(Errno::ENOMEM)),
                }
            }
            Some(Ok(0))
        }
        Op::Touch(..) => None,
    }
}

fn expected_vmas(model: &Model) -> Vec<(u64, u64, u64, bool)> {
    let mut out: Vec<(u64, u64, u64, bool)> = Vec::new();
    for (&v, &(prot, acct)) in model {
        let start = ARENA + v * P;
        match out.last_mut() {
            Some(last) if last.1 == start && last.2 == prot && last.3 == acct => last.1 += P,
            _ => out.push((start, start + P, prot, acct)),
        }
    }
    out
}

fn prot_of(f: VmFlags) -> u64 {
    super::mmap::vm_flags_to_prot(f)
}

fn check(mm: &Mm, model: &Model) -> Result<(), TestCaseError> {
    mm.vmas().validate().map_err(TestCaseError::fail)?;
    prop_assert!(mm.vmas().is_maximally_merged());
    let got: Vec<(u64, u64, u64, bool)> = mm
        .vmas()
        .iter()
        .map(|v| {
            (
                v.start,
                v.end,
                prot_of(v.flags),
                v.flags.contains(VmFlags::ACCOUNT),
            )
        })
        .collect();
    prop_assert_eq!(got, expected_vmas(model));
    // Anonymous VMAs also carry VM_MTE_ALLOWED (arm64's arch_calc_vm_flag_bits()), and
    // every VMA VM_SOFTDIRTY (new, and merged with new ones).
    for v in mm.vmas().iter() {
        prop_assert_eq!(
            v.flags - VmFlags::ACCESS - VmFlags::ACCOUNT,
            VmFlags::MAY_ALL | VmFlags::MTE_ALLOWED | VmFlags::SOFTDIRTY
        );
    }
    // Every PTE lies in a mapped page and carries at most the model's permissions.
    for vpn in 0..ARENA_PAGES {
        let Some(pte) = pte_at(mm, ARENA + vpn * P) else {
            continue;
        };
        let Some(&(prot, _)) = model.get(&vpn) else {
            return Err(TestCaseError::fail(format!("PTE for unmapped page {vpn}")));
        };
        let f = pte.flags();
        if pte.ppn() == mm.phys().pages.zero_pfn().0 {
            prop_assert!(!f.contains(PteFlags::W), "writable zero page at {}", vpn);
        }
        prop_assert_eq!(prot == 0, pte_protnone(pte), "page {}", vpn);
        prop_assert_eq!(
            f.contains(PteFlags::X),
            prot & PROT_EXEC != 0 && pte.is_valid()
        );
        prop_assert!(!f.contains(PteFlags::W) || prot & PROT_WRITE != 0);
        prop_assert!(!f.contains(PteFlags::R) || prot & (PROT_READ | PROT_WRITE) != 0 || prot == 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn vmas_match_page_model(ops in proptest::collection::vec(op(), 1..40)) {
        let (phys, mut mm) = mm();
        let base = phys.pages.audit();
        let mut model = Model::new();
        for op in &ops {
            let expect = apply_model(&mut model, op);
            let got = match *op {
                Op::Mmap(p, n, prot) => {
                    mm.do_mmap(ARENA + p * P, n * P, prot, ANON | MAP_FIXED, None, 0)
                }
                Op::Munmap(p, n) => mm.do_munmap(ARENA + p * P, n * P),
                Op::Mprotect(p, n, prot) => mm.mprotect(ARENA + p * P, n * P, prot),
                Op::Touch(p, write) => {
                    let va = ARENA + p * P;
                    let access = if write { AccessType::Store } else { AccessType::Load };
                    let r = touch(&mut mm, va, access);
                    let want = match model.get(&p) {
                        None => Err(UserFaultError::SEGV_MAPERR),
                        Some(&(prot, _)) if write && prot & PROT_WRITE == 0 => Err(UserFaultError::SEGV_ACCERR),
                        Some(&(prot, _)) if !write && prot & (PROT_READ | PROT_WRITE) == 0 => {
                            Err(UserFaultError::SEGV_ACCERR)
                        }
                        Some(_) => Ok(()),
                    };
                    prop_assert_eq!(r.map(|_| ()), want, "{:?}", op);
                    continue;
                }
            };
            prop_assert_eq!(Some(got), expect, "{:?}", op);
            check(&mm, &model)?;
        }
        drop(mm);
        let end = phys.pages.audit();
        prop_assert_eq!(end.used_frames, base.used_frames - 1);
        prop_assert_eq!(end.bad_puts + end.inconsistent_frames + end.total_mapcount, 0);
    }
}

// ------------------------------------------------------------------------------- fork

/// A user load of the `u64` at `va` in `mm`, as a hart does it: the hardware walk (with
/// faults served by `mm`), then the word at the physical address it produced.
fn uread(mm: &mut Mm, va: u64) -> u64 {
    let t = touch(mm, va, AccessType::Load).unwrap();
    mm.phys().ram.read_u64(t.pa(GuestVirtAddr(va))).unwrap()
}

/// A user store of `val` at `va` in `mm` (walk, fault, retry, then the write to RAM).
fn uwrite(mm: &mut Mm, va: u64, val: u64) {
    let t = touch(mm, va, AccessType::Store).unwrap();
    mm.phys()
        .ram
        .write_u64(t.pa(GuestVirtAddr(va)), val)
        .unwrap();
}

/// The frame mapped at `va`.
fn frame(mm: &Mm, va: u64) -> Pfn {
    Pfn(pte_at(mm, va).expect("mapped").ppn())
}

/// `(refcount, mapcount)` of `pfn`.
fn counts(phys: &PhysMem, pfn: Pfn) -> (u32, u32) {
    let p = phys.pages.page(pfn).unwrap();
    (p.refcount(), p.mapcount())
}

/// Checks the rmap books against the page tables of every live address space: each
/// refcounted frame is mapped by exactly `mapcount` PTEs and holds that many references
/// (no pins in these tests), the allocator's total mapcount equals the PTE count, and
/// every writable PTE of a private mapping maps an exclusive anonymous page with one
/// mapper (the COW safety property).
fn check_rmap(phys: &PhysMem, mms: &[&Mm]) -> Result<(), String> {
    let mut mapped: BTreeMap<Pfn, u32> = BTreeMap::new();
    for mm in mms {
        for vma in mm.vmas().iter() {
            let mut va = vma.start;
            while va < vma.end {
                if let Some(pte) = pte_at(mm, va) {
                    let pfn = Pfn(pte.ppn());
                    if !phys.pages.is_zero_pfn(pfn) {
                        *mapped.entry(pfn).or_default() += 1;
                    }
                    if pte_write(pte) && !vma.flags.contains(VmFlags::SHARED) {
                        let p = phys.pages.page(pfn).ok_or("writable PTE to no page")?;
                        if !p.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE) {
                            return Err(format!("writable PTE at {va:#x} to a shared page"));
                        }
                    }
                }
                va += P;
            }
        }
    }
    let mut total = 0u64;
    for (&pfn, &n) in &mapped {
        let (rc, mc) = counts(phys, pfn);
        // A page-cache page (a file's or a shmem object's) has the cache's reference too.
        let cached = phys
            .pages
            .page(pfn)
            .is_some_and(|p| p.test(PageFlags::PAGECACHE));
        if (rc, mc) != (n + u32::from(cached), n) {
            return Err(format!("{pfn:?}: {n} PTEs but refcount {rc} mapcount {mc}"));
        }
        let p = phys.pages.page(pfn).unwrap();
        if p.test(PageFlags::ANON_EXCLUSIVE) && n != 1 {
            return Err(format!("{pfn:?}: exclusive but mapped {n} times"));
        }
        total += u64::from(n);
    }
    let a = phys.pages.audit();
    if a.total_mapcount != total || a.bad_puts != 0 || a.inconsistent_frames != 0 {
        return Err(format!("audit {a:?} vs {total} PTEs"));
    }
    Ok(())
}

/// The allocator is back to `base`: same frames in use, nothing mapped, no bad puts.
fn assert_audit_clean(phys: &PhysMem, base: &PageAllocAudit) {
    let a = phys.pages.audit();
    assert_eq!(
        (
            a.used_frames,
            a.anon_frames,
            a.pgtable_frames,
            a.total_mapcount,
            a.bad_puts,
            a.inconsistent_frames
        ),
        (
            base.used_frames,
            base.anon_frames,
            base.pgtable_frames,
            base.total_mapcount,
            0,
            0
        ),
        "{a:?}"
    );
}

#[test]
fn fork_shares_read_only_then_parent_write_copies() {
    let phys = phys(16);
    let base = phys.pages.audit();
    let mut parent = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
    let a = parent.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, a, 0x11);
    assert_eq!(uread(&mut parent, a + P), 0, "page 1 is the zero page");
    let orig = frame(&parent, a);
    assert!(pte_dirty(pte_at(&parent, a).unwrap()));
    parent.take_tlb_flush();

    let mut child = parent.dup_mmap(2).unwrap();
    assert_eq!(child.asid(), 2);
    assert_ne!(
        child.page_table().pgd(),
        parent.page_table().pgd(),
        "own root table"
    );
    assert_eq!(vma_spans(&child), vma_spans(&parent));
    // copy_present_pte: the same frame, read-only in both, no longer exclusive, one
    // reference and one mapping more.
    let (pp, cp) = (pte_at(&parent, a).unwrap(), pte_at(&child, a).unwrap());
    assert_eq!((frame(&child, a), frame(&parent, a)), (orig, orig));
    assert!(!pte_write(pp) && !pte_write(cp));
    assert_eq!(counts(&phys, orig), (2, 2));
    assert!(!phys
        .pages
        .page(orig)
        .unwrap()
        .test(PageFlags::ANON_EXCLUSIVE));
    // The child's entry is pte_mkold (A clear); a private mapping keeps D.
    assert!(!pte_young(cp) && pte_dirty(cp), "{cp:?}");
    assert!(
        pte_young(pp) && pte_dirty(pp),
        "the parent keeps its A/D: {pp:?}"
    );
    // The parent's PTE lost W: its flush must cover it.
    match parent.take_tlb_flush().range {
        TlbFlushRange::Range { start, end } => assert!(start <= a && a + P <= end),
        r => panic!("parent flush {r:?}"),
    }
    assert_eq!(parent.stats().fork_wrprotected, 1);
    // The zero page is shared with no refcount games.
    let zero = phys.pages.zero_pfn();
    assert_eq!((frame(&parent, a + P), frame(&child, a + P)), (zero, zero));
    assert_eq!(counts(&phys, zero), (1, 0));
    check_rmap(&phys, &[&parent, &child]).unwrap();

    // The parent writes: wp_page_copy gives it a new frame; the child still sees 0x11.
    assert_eq!(
        uwalk(&parent, a, AccessType::Store),
        Err(WalkFault::PageFault)
    );
    uwrite(&mut parent, a, 0x22);
    let pcopy = frame(&parent, a);
    assert_ne!(pcopy, orig);
    assert_eq!(parent.stats().wp_copy, 1);
    assert_eq!(uread(&mut child, a), 0x11);
    assert_eq!(uread(&mut parent, a), 0x22);
    assert_eq!(
        counts(&phys, orig),
        (1, 1),
        "the parent's reference is gone"
    );
    assert_eq!(counts(&phys, pcopy), (1, 1));
    check_rmap(&phys, &[&parent, &child]).unwrap();

    // The child writes: it holds the only reference, so wp_can_reuse_anon_folio reuses
    // the original frame and marks it exclusive again.
    uwrite(&mut child, a, 0x33);
    assert_eq!(frame(&child, a), orig);
    assert_eq!((child.stats().wp_reuse, child.stats().wp_copy), (1, 0));
    assert!(phys
        .pages
        .page(orig)
        .unwrap()
        .test(PageFlags::ANON_EXCLUSIVE));
    assert_eq!(uread(&mut parent, a), 0x22);
    // A write to the shared zero page copies on both sides.
    uwrite(&mut child, a + P, 0x44);
    assert_eq!(uread(&mut parent, a + P), 0);
    check_rmap(&phys, &[&parent, &child]).unwrap();

    // The parent exits first; the child's memory is intact.
    parent.exit_mmap();
    assert_eq!(uread(&mut child, a), 0x33);
    assert_eq!(uread(&mut child, a + P), 0x44);
    check_rmap(&phys, &[&child]).unwrap();
    child.exit_mmap();
    assert_audit_clean(&phys, &base);
}

#[test]
fn fork_child_write_copies_parent_keeps_old_and_child_exits_first() {
    let (phys, mut parent) = mm();
    let base = phys.pages.audit();
    let a = parent.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    for i in 0..4 {
        uwrite(&mut parent, a + i * P, 100 + i);
    }
    let orig: Vec<Pfn> = (0..4).map(|i| frame(&parent, a + i * P)).collect();
    let mut child = parent.dup_mmap(9).unwrap();
    uwrite(&mut child, a + 2 * P, 7);
    assert_ne!(frame(&child, a + 2 * P), orig[2]);
    assert_eq!(
        uread(&mut parent, a + 2 * P),
        102,
        "parent sees the old data"
    );
    assert_eq!(uread(&mut child, a + 2 * P), 7);
    // The child exits while still sharing three pages: they survive, with one mapper.
    drop(child);
    for (i, &pfn) in orig.iter().enumerate() {
        assert_eq!(counts(&phys, pfn), (1, 1), "page {i}");
        assert!(!phys
            .pages
            .page(pfn)
            .unwrap()
            .test(PageFlags::ANON_EXCLUSIVE));
    }
    check_rmap(&phys, &[&parent]).unwrap();
    // The parent's writes reuse every page (refcount 1), no copies.
    for i in 0..4 {
        uwrite(&mut parent, a + i * P, 200 + i);
        assert_eq!(frame(&parent, a + i * P), orig[i as usize]);
    }
    assert_eq!(parent.stats().wp_copy, 0);
    assert_eq!(parent.stats().wp_reuse, 4);
    drop(parent);
    let mut b = base;
    b.used_frames -= 1; // `base` was taken with the parent's root table allocated.
    b.pgtable_frames -= 1;
    assert_audit_clean(&phys, &b);
}

#[test]
fn three_way_fork_gives_three_frames_and_last_writer_reuses() {
    let (phys, mut parent) = mm();
    let a = parent.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, a, 1);
    let orig = frame(&parent, a);
    let mut c1 = parent.dup_mmap(2).unwrap();
    let mut c2 = parent.dup_mmap(3).unwrap();
    assert_eq!(counts(&phys, orig), (3, 3));
    uwrite(&mut parent, a, 10);
    assert_eq!(counts(&phys, orig), (2, 2));
    uwrite(&mut c1, a, 11);
    assert_eq!(counts(&phys, orig), (1, 1));
    uwrite(&mut c2, a, 12);
    let frames = [frame(&parent, a), frame(&c1, a), frame(&c2, a)];
    assert_eq!(frames[2], orig, "the last sharer reuses the original");
    assert!(frames[0] != frames[1] && frames[0] != orig && frames[1] != orig);
    assert_eq!((c2.stats().wp_reuse, c2.stats().wp_copy), (1, 0));
    for (mm, want) in [(&mut parent, 10), (&mut c1, 11), (&mut c2, 12)] {
        assert_eq!(uread(mm, a), want);
    }
    check_rmap(&phys, &[&parent, &c1, &c2]).unwrap();
}

#[test]
fn fork_copies_a_maybe_pinned_page_and_parent_stays_writable() {
    let (phys, mut parent) = mm();
    let base = phys.pages.audit();
    let a = parent.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, a, 0xaa);
    uwrite(&mut parent, a + P, 0xbb);
    let pinned = frame(&parent, a);
    let page = phys.pages.page(pinned).unwrap();
    // A FOLL_PIN as try_grab_folio() takes it.
    page.page_ref_add(GUP_PIN_COUNTING_BIAS);
    assert!(page.maybe_dma_pinned());
    assert_eq!(page.pincount(), 1);

    // Without MMF_HAS_PINNED, fork does not look at pins (folio_needs_cow_for_dma()).
    let c0 = parent.dup_mmap(2).unwrap();
    assert_eq!(frame(&c0, a), pinned);
    drop(c0);
    // The page is mapped once again but is no longer exclusive, and the pin keeps its
    // refcount above 1: the write copies (the pin keeps the old page alive, unmapped).
    uwrite(&mut parent, a, 0xab);
    assert_ne!(
        frame(&parent, a),
        pinned,
        "the pin blocks refcount-based reuse"
    );
    assert_eq!(counts(&phys, pinned), (GUP_PIN_COUNTING_BIAS, 0));
    assert_eq!(phys.ram.read_u64(pinned.pa()).unwrap(), 0xaa);

    // Start over with a fresh pinned page and MMF_HAS_PINNED set.
    let b = parent.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, b, 0xcc);
    let pb = frame(&parent, b);
    phys.pages
        .page(pb)
        .unwrap()
        .page_ref_add(GUP_PIN_COUNTING_BIAS);
    parent.set_has_pinned_flag();
    parent.take_tlb_flush();
    let mut child = parent.dup_mmap(3).unwrap();
    assert!(!child.has_pinned(), "MMF_HAS_PINNED is not inherited");
    // copy_present_page: the child has its own copy, writable, exclusive.
    let cb = frame(&child, b);
    assert_ne!(cb, pb);
    let cpte = pte_at(&child, b).unwrap();
    assert!(pte_write(cpte));
    assert!(phys
        .pages
        .page(cb)
        .unwrap()
        .test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE));
    assert_eq!(counts(&phys, cb), (1, 1));
    assert_eq!(uread(&mut child, b), 0xcc);
    // The parent keeps the pinned page, writable and exclusive, untouched.
    let ppte = pte_at(&parent, b).unwrap();
    assert!(pte_write(ppte) && Pfn(ppte.ppn()) == pb);
    assert!(phys.pages.page(pb).unwrap().test(PageFlags::ANON_EXCLUSIVE));
    assert_eq!(counts(&phys, pb), (1 + GUP_PIN_COUNTING_BIAS, 1));
    assert_eq!(parent.stats().fork_copies, 1);
    // The unpinned page at a+P was shared copy-on-write as usual.
    assert_eq!(frame(&child, a + P), frame(&parent, a + P));
    // Writes on both sides need no fault on the pinned page and stay apart.
    let faults = parent.stats().faults;
    uwrite(&mut parent, b, 0xdd);
    assert_eq!(parent.stats().faults, faults);
    uwrite(&mut child, b, 0xee);
    assert_eq!((uread(&mut parent, b), uread(&mut child, b)), (0xdd, 0xee));

    // Unpin (unpin_user_page → folio_put_refs) and exit in either order.
    phys.pages
        .folio_put_refs(&phys.ram, pb, GUP_PIN_COUNTING_BIAS);
    phys.pages
        .folio_put_refs(&phys.ram, pinned, GUP_PIN_COUNTING_BIAS);
    assert_eq!(
        phys.pages.page(pinned).unwrap().refcount(),
        0,
        "freed on unpin"
    );
    check_rmap(&phys, &[&parent, &child]).unwrap();
    drop(parent);
    drop(child);
    let mut b0 = base;
    b0.used_frames -= 1;
    b0.pgtable_frames -= 1;
    assert_audit_clean(&phys, &b0);
}

#[test]
fn fork_shares_an_already_shared_pinned_page() {
    // __folio_try_dup_anon_rmap(): only an exclusive page must be copied; a pinned page
    // that is already shared (a R/O pin of a COW page) is duplicated like any other.
    let (phys, mut parent) = mm();
    let a = parent.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, a, 5);
    let pfn = frame(&parent, a);
    let c1 = parent.dup_mmap(2).unwrap();
    phys.pages
        .page(pfn)
        .unwrap()
        .page_ref_add(GUP_PIN_COUNTING_BIAS);
    parent.set_has_pinned_flag();
    let c2 = parent.dup_mmap(3).unwrap();
    assert_eq!(frame(&c2, a), pfn);
    assert_eq!(counts(&phys, pfn), (3 + GUP_PIN_COUNTING_BIAS, 3));
    phys.pages
        .folio_put_refs(&phys.ram, pfn, GUP_PIN_COUNTING_BIAS);
    check_rmap(&phys, &[&parent, &c1, &c2]).unwrap();
}

#[test]
fn write_fault_does_not_reuse_a_pinned_shared_page() {
    // wp_can_reuse_anon_folio() looks at the refcount, so a pin (or a second mapper)
    // forces a copy even when this is the only mapping.
    let (phys, mut parent) = mm();
    let a = parent.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, a, 5);
    let pfn = frame(&parent, a);
    drop(parent.dup_mmap(2).unwrap());
    phys.pages
        .page(pfn)
        .unwrap()
        .page_ref_add(GUP_PIN_COUNTING_BIAS);
    assert_eq!(counts(&phys, pfn), (1 + GUP_PIN_COUNTING_BIAS, 1));
    uwrite(&mut parent, a, 6);
    assert_ne!(frame(&parent, a), pfn);
    assert_eq!(counts(&phys, pfn), (GUP_PIN_COUNTING_BIAS, 0));
    assert_eq!(
        phys.ram.read_u64(pfn.pa()).unwrap(),
        5,
        "the pinned data is kept"
    );
    phys.pages
        .folio_put_refs(&phys.ram, pfn, GUP_PIN_COUNTING_BIAS);
    assert_eq!(
        phys.pages.page(pfn).unwrap().refcount(),
        0,
        "freed on unpin"
    );
    check_rmap(&phys, &[&parent]).unwrap();
}

#[test]
fn unshare_after_fork_copies_read_only() {
    let (phys, mut parent) = mm();
    let a = parent.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    uwrite(&mut parent, a, 9);
    let orig = frame(&parent, a);
    let mut child = parent.dup_mmap(2).unwrap();
    child.handle_page_fault(a, FaultFlags::UNSHARE).unwrap();
    let pte = pte_at(&child, a).unwrap();
    assert_ne!(Pfn(pte.ppn()), orig);
    assert!(!pte_write(pte), "unshare maps the copy read-only");
    assert!(phys
        .pages
        .page(Pfn(pte.ppn()))
        .unwrap()
        .test(PageFlags::ANON_EXCLUSIVE));
    assert_eq!(uread(&mut child, a), 9);
    // Unshare on a missing PTE maps the zero page (do_anonymous_page without WRITE).
    child.handle_page_fault(a + P, FaultFlags::UNSHARE).unwrap();
    assert_eq!(frame(&child, a + P), phys.pages.zero_pfn());
    // The parent is now the only mapper; unshare there just re-marks it exclusive.
    parent.handle_page_fault(a, FaultFlags::UNSHARE).unwrap();
    assert_eq!(frame(&parent, a), orig);
    assert!(!pte_write(pte_at(&parent, a).unwrap()));
    assert!(phys
        .pages
        .page(orig)
        .unwrap()
        .test(PageFlags::ANON_EXCLUSIVE));
    check_rmap(&phys, &[&parent, &child]).unwrap();
}

#[test]
fn madvise_dontfork_and_wipeonfork() {
    let (phys, mut parent) = mm();
    let _shm = super::test_support::shm_vfs(&phys);
    let base = phys.pages.audit();
    let a = parent.do_mmap(0, 6 * P, RW, ANON, None, 0).unwrap();
    for i in 0..6 {
        uwrite(&mut parent, a + i * P, 1 + i);
    }
    parent.madvise(a, 2 * P, MADV_DONTFORK).unwrap();
    parent.madvise(a + 4 * P, 2 * P, MADV_WIPEONFORK).unwrap();
    assert_eq!(
        vma_spans(&parent),
        vec![
            (a, a + 2 * P),
            (a + 2 * P, a + 4 * P),
            (a + 4 * P, a + 6 * P)
        ]
    );
    parent.take_tlb_flush();
    let mut child = parent.dup_mmap(2).unwrap();
    // DONTFORK: no VMA in the child; the parent's PTEs were not write-protected.
    assert_eq!(
        vma_spans(&child),
        vec![(a + 2 * P, a + 4 * P), (a + 4 * P, a + 6 * P)]
    );
    assert_eq!(
        touch(&mut child, a, AccessType::Load).unwrap_err(),
        UserFaultError::SEGV_MAPERR
    );
    // WIPEONFORK: the VMA (with its flag) but no pages; the child reads zeros.
    let w = child.vmas().vma_lookup(a + 4 * P).unwrap();
    assert!(w.flags.contains(VmFlags::WIPEONFORK));
    assert!(pte_at(&child, a + 4 * P).is_none());
    assert_eq!(uread(&mut child, a + 5 * P), 0);
    for i in [0, 1, 4, 5] {
        assert!(pte_write(pte_at(&parent, a + i * P).unwrap()), "page {i}");
        assert_eq!(uread(&mut parent, a + i * P), 1 + i);
    }
    assert!(!pte_write(pte_at(&parent, a + 2 * P).unwrap()));
    assert_eq!(parent.stats().fork_wrprotected, 2);
    assert_eq!(uread(&mut child, a + 3 * P), 4);
    check_rmap(&phys, &[&parent, &child]).unwrap();
    drop(child);

    // DOFORK and KEEPONFORK clear the flags and the VMAs merge back; the next fork copies.
    parent.madvise(a, 2 * P, MADV_DOFORK).unwrap();
    parent.madvise(a + 4 * P, 2 * P, MADV_KEEPONFORK).unwrap();
    assert_eq!(vma_spans(&parent), vec![(a, a + 6 * P)]);
    let mut child = parent.dup_mmap(3).unwrap();
    for i in 0..6 {
        assert_eq!(uread(&mut child, a + i * P), 1 + i);
    }
    // WIPEONFORK is for private anonymous memory only.
    let s = parent
        .do_mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS, None, 0)
        .unwrap();
    assert_eq!(parent.madvise(s, P, MADV_WIPEONFORK), Err(Errno::EINVAL));
    drop(child);
    drop(parent);
    let mut b = base;
    b.used_frames -= 1;
    b.pgtable_frames -= 1;
    assert_audit_clean(&phys, &b);
}

#[test]
fn fork_shares_shared_anonymous_memory_both_ways() {
    let (phys, mut parent) = mm();
    let _shm = super::test_support::shm_vfs(&phys);
    let s = parent
        .do_mmap(0, 3 * P, RW, MAP_SHARED | MAP_ANONYMOUS, None, 0)
        .unwrap();
    uwrite(&mut parent, s, 1);
    let faults = parent.stats().faults;
    let mut child = parent.dup_mmap(2).unwrap();
    // shmem_zero_setup(): one shmem object, shared by fork; vma_needs_copy() is false, so
    // no PTE is copied and nothing is populated: each side faults its pages in from the
    // object's page cache.
    for i in 0..3 {
        assert!(pte_at(&child, s + i * P).is_none(), "page {i}");
    }
    assert!(
        pte_at(&parent, s + P).is_none(),
        "not pre-faulted in the parent"
    );
    assert_eq!(parent.stats().faults, faults);
    assert_eq!(parent.stats().fork_wrprotected, 0);
    assert_eq!(
        uread(&mut child, s),
        1,
        "the parent's write, through the object"
    );
    assert_eq!(frame(&child, s), frame(&parent, s));
    assert!(pte_write(pte_at(&child, s).unwrap()), "not a COW mapping");
    uwrite(&mut child, s, 2);
    uwrite(&mut child, s + 2 * P, 3);
    assert_eq!(
        (uread(&mut parent, s), uread(&mut parent, s + 2 * P)),
        (2, 3)
    );
    uwrite(&mut parent, s + P, 4);
    assert_eq!(uread(&mut child, s + P), 4);
    assert_eq!(frame(&child, s + P), frame(&parent, s + P));
    // The object's page cache holds one reference, each mapping one more.
    assert_eq!(counts(&phys, frame(&parent, s)), (3, 2));
    check_rmap(&phys, &[&parent, &child]).unwrap();
}

#[test]
fn fork_does_not_inherit_mlock_and_keeps_layout() {
    let (_phys, mut parent) = mm();
    let a = parent
        .do_mmap(0, P, RW, ANON | MAP_LOCKED, None, 0)
        .unwrap();
    parent.init_brk(0x40_0000);
    parent.brk(0x41_0000);
    parent.setup_stack(2 * P).unwrap();
    let child = parent.dup_mmap(2).unwrap();
    assert!(parent
        .vmas()
        .vma_lookup(a)
        .unwrap()
        .flags
        .contains(VmFlags::LOCKED));
    assert!(!child
        .vmas()
        .vma_lookup(a)
        .unwrap()
        .flags
        .contains(VmFlags::LOCKED));
    assert_eq!(child.current_brk(), parent.current_brk());
    assert_eq!(child.start_brk(), parent.start_brk());
    assert_eq!(child.stack_bounds(), parent.stack_bounds());
    assert_eq!(child.mmap_base(), parent.mmap_base());
    assert_eq!(child.stats(), MmStats::default());
}

#[test]
fn fork_sv48_svade() {
    let (phys, mut parent) = mm_with(SatpMode::Sv48, AdScheme::Svade);
    let base = phys.pages.audit();
    // Far apart, so the copy needs every level of fresh tables.
    let lo = parent
        .do_mmap(0x1_0000_0000, P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    let hi = parent
        .do_mmap(0x7000_0000_0000, P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    uwrite(&mut parent, lo, 1);
    uwrite(&mut parent, hi, 2);
    let mut child = parent.dup_mmap(2).unwrap();
    assert_eq!(child.mode(), SatpMode::Sv48);
    assert_eq!(
        child.page_table().nr_tables(),
        parent.page_table().nr_tables()
    );
    // Svade: the child's old PTE faults on a load; the handler sets A.
    assert_eq!(
        uwalk(&child, hi, AccessType::Load),
        Err(WalkFault::PageFault)
    );
    assert_eq!(uread(&mut child, hi), 2);
    assert!(pte_young(pte_at(&child, hi).unwrap()));
    uwrite(&mut child, hi, 3);
    uwrite(&mut parent, lo, 4);
    assert_eq!((uread(&mut parent, hi), uread(&mut parent, lo)), (2, 4));
    assert_eq!((uread(&mut child, hi), uread(&mut child, lo)), (3, 1));
    check_rmap(&phys, &[&parent, &child]).unwrap();
    drop(child);
    drop(parent);
    let mut b = base;
    b.used_frames -= 1;
    b.pgtable_frames -= 1;
    assert_audit_clean(&phys, &b);
}

#[test]
fn fork_out_of_memory_leaves_parent_intact() {
    // 64 frames: enough for the parent, not for a child copying a pinned region.
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM), 64 * P)]).unwrap();
    let phys = Arc::new(PhysMem::new(ram).unwrap());
    let base = phys.pages.audit();
    let mut parent = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
    let a = parent.do_mmap(0, 40 * P, RW, ANON, None, 0).unwrap();
    for i in 0..40 {
        uwrite(&mut parent, a + i * P, i);
        phys.pages
            .page(frame(&parent, a + i * P))
            .unwrap()
            .page_ref_add(GUP_PIN_COUNTING_BIAS);
    }
    parent.set_has_pinned_flag();
    assert_eq!(parent.dup_mmap(2).err(), Some(Errno::ENOMEM));
    for i in 0..40 {
        assert_eq!(uread(&mut parent, a + i * P), i);
        phys.pages
            .folio_put_refs(&phys.ram, frame(&parent, a + i * P), GUP_PIN_COUNTING_BIAS);
    }
    check_rmap(&phys, &[&parent]).unwrap();
    drop(parent);
    assert_audit_clean(&phys, &base);
}

// ------------------------------------------------------------------ fork property test

const FORK_PAGES: u64 = 6;
const FORK_BASE: u64 = 0x2000_0000;
const MAX_PROCS: usize = 4;

#[derive(Debug, Clone)]
enum ForkOp {
    Fork(usize),
    Write(usize, u64, u64),
    Read(usize, u64),
    Exit(usize),
    DontNeed(usize, u64),
}

fn fork_op() -> impl Strategy<Value = ForkOp> {
    let who = 0..MAX_PROCS;
    prop_oneof![
        2 => who.clone().prop_map(ForkOp::Fork),
        5 => (who.clone(), 0..FORK_PAGES, any::<u64>()).prop_map(|(w, p, v)| ForkOp::Write(w, p, v)),
        3 => (who.clone(), 0..FORK_PAGES).prop_map(|(w, p)| ForkOp::Read(w, p)),
        1 => who.clone().prop_map(ForkOp::Exit),
        1 => (who, 0..FORK_PAGES).prop_map(|(w, p)| ForkOp::DontNeed(w, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Random fork/write/read/exit sequences against a model of each process's page
    /// contents: no process ever sees another's write, the rmap books match the page
    /// tables after every step, and the allocator is clean once all have exited.
    #[test]
    fn fork_isolation_matches_model(
        ops in proptest::collection::vec(fork_op(), 1..60),
        sv48 in any::<bool>(),
        svade in any::<bool>(),
    ) {
        let mode = if sv48 { SatpMode::Sv48 } else { SatpMode::Sv39 };
        let ad = if svade { AdScheme::Svade } else { AdScheme::Svadu };
        let phys = phys(16);
        let base = phys.pages.audit();
        let mut first = Mm::new(Arc::clone(&phys), mode, ad, 1).unwrap();
        first
            .do_mmap(FORK_BASE, FORK_PAGES * P, RW, ANON | MAP_FIXED, None, 0)
            .unwrap();
        // Slots of processes: each with its Mm and the model of its pages' first words.
        let mut procs: Vec<Option<(Mm, [u64; FORK_PAGES as usize])>> =
            (0..MAX_PROCS).map(|_| None).collect();
        procs[0] = Some((first, [0; FORK_PAGES as usize]));
        let mut next_asid = 2u16;
        for op in &ops {
            match *op {
                ForkOp::Fork(i) => {
                    let Some(free) = procs.iter().position(Option::is_none) else { continue };
                    let Some(Some((mm, model))) = procs.get_mut(i) else { continue };
                    let model = *model;
                    let child = mm.dup_mmap(next_asid).unwrap();
                    next_asid += 1;
                    procs[free] = Some((child, model));
                }
                ForkOp::Write(i, p, v) => {
                    let Some(Some((mm, model))) = procs.get_mut(i) else { continue };
                    uwrite(mm, FORK_BASE + p * P, v);
                    model[p as usize] = v;
                }
                ForkOp::Read(i, p) => {
                    let Some(Some((mm, model))) = procs.get_mut(i) else { continue };
                    prop_assert_eq!(uread(mm, FORK_BASE + p * P), model[p as usize]);
                }
                ForkOp::Exit(i) => {
                    if let Some(slot) = procs.get_mut(i) {
                        *slot = None;
                    }
                }
                ForkOp::DontNeed(i, p) => {
                    let Some(Some((mm, model))) = procs.get_mut(i) else { continue };
                    mm.madvise(FORK_BASE + p * P, P, MADV_DONTNEED).unwrap();
                    model[p as usize] = 0;
                }
            }
            // Every live process sees exactly its model, through the hardware walker.
            for (mm, model) in procs.iter_mut().flatten() {
                for (p, &want) in model.iter().enumerate() {
                    prop_assert_eq!(uread(mm, FORK_BASE + p as u64 * P), want, "page {}", p);
                }
            }
            let live: Vec<&Mm> = procs.iter().flatten().map(|(mm, _)| mm).collect();
            check_rmap(&phys, &live).map_err(TestCaseError::fail)?;
        }
        drop(procs);
        let a = phys.pages.audit();
        prop_assert_eq!(
            (a.used_frames, a.anon_frames, a.pgtable_frames, a.total_mapcount),
            (base.used_frames, base.anon_frames, base.pgtable_frames, 0)
        );
        prop_assert_eq!(a.bad_puts + a.inconsistent_frames, 0);
    }
}

#[test]
fn mm_counters_count_on_each_harts_block_and_a_snapshot_adds_them_up() {
    // A machine of 2 harts has booted (others in this process may have had more).
    crate::percpu::set_nr_cpu_ids(2);
    let c = super::MmCounters::default();
    let last = c.cpus.len() - 1;
    assert!(last >= 2, "a block per hart and the shared one");
    std::thread::scope(|s| {
        for id in [Some(0), Some(1), None] {
            let c = &c;
            s.spawn(move || {
                crate::percpu::set_smp_processor_id(id);
                for _ in 0..1000 {
                    super::count_event(&c.local().faults);
                }
                super::count_event(&c.local().anon_pages);
            });
        }
    });
    let st = c.snapshot();
    assert_eq!((st.faults, st.anon_pages), (3000, 3));
    let on = |i: usize| c.cpus[i].faults.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((on(0), on(1), on(last)), (1000, 1000, 1000));
    // A hart beyond the blocks shares the last one.
    std::thread::scope(|s| {
        s.spawn(|| {
            crate::percpu::set_smp_processor_id(Some(c.cpus.len() + 5));
            super::count_event(&c.local().faults);
        });
    });
    assert_eq!(on(last), 1001);
    // Each block on lines of its own: two harts' counting never shares one.
    assert_eq!(std::mem::align_of::<super::MmCounterBlock>(), 64);
}
