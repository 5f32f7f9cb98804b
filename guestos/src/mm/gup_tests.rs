//! GUP tests against real guest RAM and page tables: reference and pin counts, the three
//! generations' `FOLL_FORCE` rules (Dirty COW reproduced deterministically), R/O long-term
//! pin coherency after fork, GUP-fast and its fallback, and argument errors.

use std::sync::Arc;

use mmu::{AdScheme, SatpMode};

use super::gup::*;
use super::mmap::*;
use super::test_support::{clean, forced_write_lookup, hart_read, hart_write, ANON, P, RW};
use super::*;
use crate::errno::Errno;

const BIAS: u32 = GUP_PIN_COUNTING_BIAS;

fn setup(ad: AdScheme) -> (Arc<PhysMem>, Mm) {
    super::test_support::setup_mm(16, SatpMode::Sv39, ad, 3)
}

fn frame(mm: &Mm, va: u64) -> Pfn {
    Pfn(mm.page_table().follow_pte(va).expect("mapped").pte.ppn())
}

fn refcount(phys: &PhysMem, pfn: Pfn) -> u32 {
    phys.pages.page(pfn).unwrap().refcount()
}

#[test]
fn pin_and_get_counts_are_exact_and_audit_is_clean_after_release() {
    let (phys, mut mm) = setup(AdScheme::Svadu);
    let before = phys.pages.audit();
    let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    for i in 0..4 {
        hart_write(&mut mm, a + i * P, 0x100 + i);
    }
    assert!(!mm.has_pinned());
    let mut g = mm.mmap_read_lock();
    let pinned = pin_user_pages(&mut g, a, 4, FollFlags::WRITE).unwrap();
    let got = get_user_pages(&mut g, a + P, 2, FollFlags::empty()).unwrap();
    g.unlock();
    assert!(mm.has_pinned(), "FOLL_PIN sets MMF_HAS_PINNED");
    assert_eq!(pinned.len(), 4);
    for (i, &pfn) in pinned.iter().enumerate() {
        assert_eq!(pfn, frame(&mm, a + i as u64 * P), "the mapped page");
        let extra = u32::from(i == 1 || i == 2);
        assert_eq!(refcount(&phys, pfn), 1 + BIAS + extra);
        let page = phys.pages.page(pfn).unwrap();
        assert!(page.maybe_dma_pinned());
        assert_eq!(page.pincount(), 1);
    }
    assert_eq!(got, pinned[1..3].to_vec());
    for &pfn in &got {
        put_page(&phys, pfn);
    }
    unpin_user_pages_dirty_lock(&phys, &pinned[..1], true);
    unpin_user_pages(&phys, &pinned[1..]);
    for (i, &pfn) in pinned.iter().enumerate() {
        let page = phys.pages.page(pfn).unwrap();
        assert_eq!((page.refcount(), page.pincount()), (1, 0));
        assert_eq!(
            page.test(PageFlags::DIRTY),
            i == 0,
            "dirty_lock marks PG_dirty"
        );
    }
    // A R/O short-term pin of an untouched page maps and returns the zero page, which
    // is never refcounted.
    let z = phys.pages.zero_pfn();
    let zrc = refcount(&phys, z);
    let zp = pin_user_pages_unlocked(&mut mm, a + 8 * P, 1, FollFlags::empty());
    assert_eq!(zp, Err(Errno::EFAULT), "outside the VMA");
    let b = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    let zp = pin_user_pages_unlocked(&mut mm, b, 1, FollFlags::empty()).unwrap();
    assert_eq!(zp, vec![z]);
    assert_eq!(refcount(&phys, z), zrc);
    unpin_user_pages(&phys, &zp);
    assert_eq!(refcount(&phys, z), zrc);

    mm.do_munmap(a, 4 * P).unwrap();
    mm.do_munmap(b, P).unwrap();
    let after = phys.pages.audit();
    assert_eq!(after.anon_frames, before.anon_frames);
    assert_eq!(after.total_mapcount, before.total_mapcount);
    clean(&phys);
    drop(mm);
    assert_eq!(
        phys.pages.audit().used_frames,
        1,
        "only the zero page is left"
    );
}

#[test]
fn foll_force_write_into_prot_read_private_lands_in_a_cow_copy() {
    for ad in [AdScheme::Svadu, AdScheme::Svade] {
        let (phys, mut mm) = setup(ad);
        let a = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
        hart_write(&mut mm, a, 0x1111);
        mm.mprotect(a, 2 * P, PROT_READ).unwrap();
        let mut child = mm.dup_mmap(4).unwrap();
        let shared = frame(&mm, a);
        assert_eq!(frame(&child, a), shared);

        let mut g = mm.mmap_read_lock();
        assert_eq!(
            get_user_pages_remote(&mut g, a, 1, FollFlags::WRITE),
            Err(Errno::EFAULT),
            "a write to !VM_WRITE needs FOLL_FORCE"
        );
        let pages =
            get_user_pages_remote(&mut g, a, 2, FollFlags::WRITE | FollFlags::FORCE).unwrap();
        g.unlock();
        assert_ne!(pages[0], shared, "COW broken: a private copy");
        assert_ne!(pages[1], phys.pages.zero_pfn(), "zero page copied too");
        assert_eq!(
            phys.ram.read_u64(pages[0].pa()).unwrap(),
            0x1111,
            "copied data"
        );
        phys.ram.write_u64(pages[0].pa(), 0x2222).unwrap();
        phys.ram.write_u64(pages[1].pa(), 0x3333).unwrap();
        for &p in &pages {
            let page = phys.pages.page(p).unwrap();
            assert!(page.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE));
            put_page(&phys, p);
        }
        // The fault taken for GUP set D (no hart will), so the write is recorded in the
        // PTE and follow_page_pte() need not mark the page PG_dirty.
        assert!(super::pgtable::pte_dirty(
            mm.page_table().follow_pte(a).unwrap().pte
        ));
        // The process sees its write through its still read-only mapping; the child and
        // the zero page do not.
        assert_eq!(hart_read(&mut mm, a), 0x2222);
        assert_eq!(hart_read(&mut mm, a + P), 0x3333);
        assert!(!pte_w(&mm, a), "the PTE stays read-only");
        assert_eq!(hart_read(&mut child, a), 0x1111);
        assert_eq!(hart_read(&mut child, a + P), 0);
        assert_eq!(phys.ram.read_u64(phys.pages.zero_pfn().pa()).unwrap(), 0);
        drop(child);
        drop(mm);
        clean(&phys);
    }
}

fn pte_w(mm: &Mm, va: u64) -> bool {
    super::pgtable::pte_write(mm.page_table().follow_pte(va).unwrap().pte)
}

/// The Dirty COW race, made deterministic: a `FOLL_FORCE` write (ptrace,
/// `/proc/self/mem`) into a read-only private mapping whose page is the shared zero page
/// (also mapped by a forked child), with `MADV_DONTNEED` of the COW copy run at the retry
/// point between `faultin_page()` and `follow_page_pte()` — where, in Linux, the
/// `madvise()` thread ran during `cond_resched()`.
///
/// Anonymous memory has no page cache, so after the zap the read fault brings back the
/// shared zero page, the "original" every process maps (the file-mapping form of the
/// exploit brings back the page-cache page instead).
#[test]
fn dirty_cow_race_writes_the_shared_page_only_in_the_dirtycow_generation() {
    let gens = [
        GupGeneration::DirtyCow,
        GupGeneration::FollCow,
        GupGeneration::Modern,
    ];
    for gen in gens {
        for (ad, race) in [
            (AdScheme::Svadu, false),
            (AdScheme::Svadu, true),
            (AdScheme::Svade, false),
            (AdScheme::Svade, true),
        ] {
            let (phys, mut mm) = setup(ad);
            mm.set_gup_generation(gen);
            let zero = phys.pages.zero_pfn();
            let a = mm.do_mmap(0, P, PROT_READ, ANON, None, 0).unwrap();
            assert_eq!(hart_read(&mut mm, a), 0);
            let mut child = mm.dup_mmap(5).unwrap();
            assert_eq!(child.gup_generation(), gen, "inherited");
            assert_eq!(frame(&child, a), zero);

            let pages = [forced_write_lookup(&mut mm, a, race)];
            // The ptrace poke itself.
            phys.ram.write_u64(pages[0].pa(), 0x6666).unwrap();
            put_page(&phys, pages[0]);

            let bug = gen == GupGeneration::DirtyCow && race;
            assert_eq!(pages[0] == zero, bug, "{gen:?} {ad:?} race={race}");
            let child_sees = hart_read(&mut child, a);
            assert_eq!(
                child_sees == 0x6666,
                bug,
                "{gen:?} {ad:?} race={race}: child view"
            );
            if !bug {
                assert_eq!(hart_read(&mut mm, a), 0x6666, "{gen:?}: the writer's copy");
                assert_eq!(frame(&mm, a), pages[0]);
                assert_eq!(phys.ram.read_u64(zero.pa()).unwrap(), 0);
            } else {
                // Repair the zero page so the allocator's invariant holds for teardown.
                phys.ram.write_u64(zero.pa(), 0).unwrap();
            }
            drop(child);
            drop(mm);
            clean(&phys);
        }
    }
}

/// Seed 001 / commit a7f226604170: a R/O pin of a page shared with a forked child must
/// first unshare, or a later write by the parent COWs away from the pinned page.
#[test]
fn ro_longterm_pin_after_fork_is_coherent_only_with_unsharing() {
    for gen in [GupGeneration::FollCow, GupGeneration::Modern] {
        let (phys, mut mm) = setup(AdScheme::Svadu);
        mm.set_gup_generation(gen);
        let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
        hart_write(&mut mm, a, 0x11);
        let mut child = mm.dup_mmap(6).unwrap();
        let shared = frame(&child, a);
        let wp_copy = mm.stats().wp_copy;

        let mut g = mm.mmap_read_lock();
        let pin = pin_user_pages(&mut g, a, 1, FollFlags::LONGTERM).unwrap()[0];
        g.unlock();
        hart_write(&mut mm, a, 0x22);
        let pinned_sees = phys.ram.read_u64(pin.pa()).unwrap();
        match gen {
            GupGeneration::Modern => {
                assert_ne!(pin, shared, "unshared before pinning");
                assert_eq!(mm.stats().wp_copy, wp_copy + 1, "one copy: the unshare");
                assert_eq!(frame(&mm, a), pin, "the write reused the pinned page");
                assert_eq!(pinned_sees, 0x22, "the pin sees the parent's write");
            }
            _ => {
                assert_eq!(pin, shared, "pinned the page shared with the child");
                assert_ne!(frame(&mm, a), pin, "the write COWed away from the pin");
                assert_eq!(pinned_sees, 0x11, "the pin lost coherency");
            }
        }
        assert_eq!(hart_read(&mut child, a), 0x11);
        assert_eq!(refcount(&phys, pin) / BIAS, 1);
        unpin_user_page(&phys, pin);
        assert!(!phys.pages.page(pin).unwrap().maybe_dma_pinned());
        drop(child);
        drop(mm);
        clean(&phys);
    }
}

#[test]
fn ro_longterm_pin_of_the_zero_page_unshares_short_term_does_not() {
    let (phys, mut mm) = setup(AdScheme::Svadu);
    let zero = phys.pages.zero_pfn();
    let a = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    assert_eq!(hart_read(&mut mm, a), 0);
    assert_eq!(hart_read(&mut mm, a + P), 0);
    let mut g = mm.mmap_read_lock();
    let short = pin_user_pages(&mut g, a, 1, FollFlags::empty()).unwrap();
    let long = pin_user_pages(&mut g, a + P, 1, FollFlags::LONGTERM).unwrap();
    g.unlock();
    assert_eq!(
        short,
        vec![zero],
        "short-term R/O pins have snapshot semantics"
    );
    assert_ne!(long[0], zero, "long-term: an exclusive anon page instead");
    assert_eq!(frame(&mm, a + P), long[0]);
    assert!(!pte_w(&mm, a + P), "unshare leaves the PTE read-only");
    hart_write(&mut mm, a + P, 0x77);
    assert_eq!(phys.ram.read_u64(long[0].pa()).unwrap(), 0x77, "coherent");
    unpin_user_pages(&phys, &short);
    unpin_user_pages(&phys, &long);
    drop(mm);
    clean(&phys);
}

#[test]
fn gup_fast_walks_locklessly_and_falls_back_to_the_slow_path() {
    let (phys, mut mm) = setup(AdScheme::Svadu);
    let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
    // Nothing mapped: fast-only gets nothing and faults nothing in.
    assert_eq!(
        get_user_pages_fast_only(&mm, a, 4, FollFlags::WRITE),
        Ok(vec![])
    );
    assert!(mm.page_table().follow_pte(a).is_none());
    hart_write(&mut mm, a, 1);
    hart_write(&mut mm, a + P, 2);
    let faults = mm.stats().faults;
    let fast = get_user_pages_fast_only(&mm, a, 4, FollFlags::WRITE).unwrap();
    assert_eq!(fast, vec![frame(&mm, a), frame(&mm, a + P)], "a prefix");
    assert_eq!(mm.stats().faults, faults, "no faults on the fast path");
    for &p in &fast {
        assert_eq!(refcount(&phys, p), 2);
        put_page(&phys, p);
    }
    // The fallback faults the rest in.
    let all = get_user_pages_fast(&mut mm, a, 4, FollFlags::WRITE).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(mm.stats().faults, faults + 2);
    for (i, &p) in all.iter().enumerate() {
        assert_eq!(p, frame(&mm, a + i as u64 * P));
        assert_eq!(refcount(&phys, p), 2);
        put_page(&phys, p);
    }
    // A R/O pin of a page shared after fork: the fast path refuses (must unshare), the
    // slow path unshares.
    let child = mm.dup_mmap(8).unwrap();
    let shared = frame(&child, a);
    assert_eq!(
        get_user_pages_fast_only(&mm, a, 1, FollFlags::empty()),
        Ok(vec![shared]),
        "FOLL_GET needs no unsharing"
    );
    put_page(&phys, shared);
    let pin = pin_user_pages_fast(&mut mm, a, 1, FollFlags::empty()).unwrap();
    assert_ne!(pin[0], shared);
    assert!(mm.has_pinned());
    assert_eq!(refcount(&phys, pin[0]), 1 + BIAS);
    unpin_user_pages(&phys, &pin);
    // A write through a read-only (COW) PTE also needs the slow path.
    let w = get_user_pages_fast(&mut mm, a + P, 1, FollFlags::WRITE).unwrap();
    assert_ne!(w[0], frame(&child, a + P));
    assert!(pte_w(&mm, a + P), "COW broken in a writable VMA");
    put_page(&phys, w[0]);
    // The zero page is special: only the slow path returns it.
    let b = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    assert_eq!(hart_read(&mut mm, b), 0);
    assert_eq!(
        get_user_pages_fast_only(&mm, b, 1, FollFlags::empty()),
        Ok(vec![])
    );
    assert_eq!(
        get_user_pages_fast(&mut mm, b, 1, FollFlags::empty()),
        Ok(vec![phys.pages.zero_pfn()])
    );
    drop(child);
    drop(mm);
    clean(&phys);
}

#[derive(Debug)]
struct FakeFile;
impl MappedFile for FakeFile {
    fn inode_id(&self) -> u64 {
        1
    }
}

/// A file whose page cache is written back (a root file system file).
#[derive(Debug)]
struct WritebackFile;
impl MappedFile for WritebackFile {
    fn inode_id(&self) -> u64 {
        2
    }

    fn mapping_can_writeback(&self) -> bool {
        true
    }
}

#[test]
fn bad_arguments_get_linux_errnos() {
    let (phys, mut mm) = setup(AdScheme::Svadu);
    let _shm = super::test_support::shm_vfs(&phys);
    let a = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    let ro = mm.do_mmap(0, P, PROT_READ, ANON, None, 0).unwrap();
    let none = mm.do_mmap(0, P, PROT_NONE, ANON, None, 0).unwrap();
    let shared_ro = mm
        .do_mmap(0, P, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, None, 0)
        .unwrap();
    let mut g = mm.mmap_read_lock();
    let e = |r: KResult<Vec<Pfn>>| r.err();
    // is_valid_gup_args()
    assert_eq!(
        e(get_user_pages(&mut g, a, 1, FollFlags::PIN)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(get_user_pages(&mut g, a, 1, FollFlags::TOUCH)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(pin_user_pages(&mut g, a, 1, FollFlags::GET)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(get_user_pages(&mut g, a, 1, FollFlags::LONGTERM)),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        e(pin_user_pages(
            &mut g,
            a,
            1,
            FollFlags::LONGTERM | FollFlags::PCI_P2PDMA
        )),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        get_user_page_vma_remote(&mut g, a, FollFlags::NOWAIT).err(),
        Some(Errno::EINVAL)
    );
    // check_vma_flags() and the walk
    assert_eq!(
        e(get_user_pages(&mut g, 0x1000, 1, FollFlags::empty())),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        e(get_user_pages(&mut g, ro, 1, FollFlags::WRITE)),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        e(get_user_pages(&mut g, none, 1, FollFlags::empty())),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        e(get_user_pages(
            &mut g,
            shared_ro,
            1,
            FollFlags::WRITE | FollFlags::FORCE
        )),
        Some(Errno::EFAULT),
        "FOLL_FORCE never writes a shared mapping"
    );
    assert_eq!(
        e(get_user_pages(&mut g, a, 1, FollFlags::NOFAULT)),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        e(get_user_pages(&mut g, a, 1, FollFlags::DUMP)),
        Some(Errno::EFAULT),
        "zero page"
    );
    assert_eq!(get_user_pages(&mut g, a, 0, FollFlags::empty()), Ok(vec![]));
    // FOLL_FORCE reads a PROT_NONE mapping.
    let p = get_user_pages(&mut g, none, 1, FollFlags::FORCE).unwrap();
    assert_eq!(p, vec![phys.pages.zero_pfn()]);
    // Partial: the second page is unmapped, so one page comes back, no error.
    let part = get_user_pages(&mut g, a + P, 3, FollFlags::WRITE).unwrap();
    assert_eq!(part.len(), 1);
    put_page(&phys, part[0]);
    // The VMA view borrows the guard.
    let (pfn, vma) = get_user_page_vma_remote(&mut g, a + 8, FollFlags::WRITE).unwrap();
    assert_eq!((vma.start, vma.end), (a, a + 2 * P));
    put_page(&phys, pfn);
    g.unlock();
    // GUP-fast ranges and flags.
    assert_eq!(
        get_user_pages_fast(&mut mm, a, 1, FollFlags::DUMP).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        get_user_pages_fast(&mut mm, !(P - 1), 2, FollFlags::empty()).err(),
        Some(Errno::EOVERFLOW)
    );
    let top = mm.task_size();
    assert_eq!(
        get_user_pages_fast(&mut mm, top, 1, FollFlags::empty()).err(),
        Some(Errno::EFAULT)
    );
    // check_vma_flags() cases without a constructor here.
    let mut v = Vma::new_anon(
        a,
        a + P,
        VmFlags::READ | VmFlags::WRITE | VmFlags::MAY_ALL,
        None,
    );
    assert_eq!(check_vma_flags(&v, FollFlags::empty()), Ok(()));
    v.flags |= VmFlags::PFNMAP;
    assert_eq!(check_vma_flags(&v, FollFlags::empty()), Err(Errno::EFAULT));
    v.flags -= VmFlags::PFNMAP;
    v.backing = VmaBacking::File(Arc::new(FakeFile));
    assert_eq!(check_vma_flags(&v, FollFlags::ANON), Err(Errno::EFAULT));
    v.flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
    let lt = FollFlags::PIN | FollFlags::LONGTERM | FollFlags::WRITE;
    assert_eq!(
        check_vma_flags(&v, lt),
        Ok(()),
        "no page cache: no writeback"
    );
    v.backing = VmaBacking::File(Arc::new(WritebackFile));
    assert_eq!(
        check_vma_flags(&v, lt),
        Err(Errno::EFAULT),
        "needs dirty tracking"
    );
    assert_eq!(check_vma_flags(&v, lt - FollFlags::LONGTERM), Ok(()));
    v.flags -= VmFlags::WRITE;
    assert_eq!(
        check_vma_flags(&v, lt | FollFlags::FORCE),
        Err(Errno::EFAULT),
        "not COW"
    );
    assert_eq!(
        check_vma_flags(&v, FollFlags::PIN | FollFlags::LONGTERM),
        Ok(())
    );
    drop(mm);
    clean(&phys);
}

#[test]
fn generations_differ_only_in_the_four_documented_rules() {
    use mmu::{Pte, PteFlags};
    let (phys, _mm) = setup(AdScheme::Svadu);
    let pfn = phys.alloc_page(true).unwrap();
    let page = phys.pages.page(pfn).unwrap();
    page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
    let ro = Pte::new(pfn.0, PteFlags::V | PteFlags::U | PteFlags::R);
    let ro_dirty = ro.with(PteFlags::A | PteFlags::D);
    // A VMA as mmap makes it: VM_SOFTDIRTY, so no soft-dirty write fault is needed.
    let vmf = VmFlags::READ | VmFlags::MAY_ALL | VmFlags::SOFTDIRTY;
    let f = FollFlags::WRITE | FollFlags::FORCE;
    use GupGeneration::*;
    // Once clear_refs 4 cleared VM_SOFTDIRTY, only a PTE with the soft-dirty bit may be
    // followed for a forced write (pte_needs_soft_dirty_wp()).
    let tracked = vmf - VmFlags::SOFTDIRTY;
    assert!(!Modern.can_follow_write_pte(ro, Some(page), tracked, f));
    let ro_sd = ro.with(crate::mm::pgtable::PAGE_SOFT_DIRTY);
    assert!(Modern.can_follow_write_pte(ro_sd, Some(page), tracked, f));
    // A PTE write-protected for userfaultfd in a VMA registered for it wants the write
    // fault that reports it (userfaultfd_pte_wp()); the bit alone, unregistered, does not.
    let ro_wp = ro.with(crate::mm::userfaultfd::PAGE_UFFD_WP);
    assert!(!Modern.can_follow_write_pte(ro_wp, Some(page), vmf | VmFlags::UFFD_WP, f));
    assert!(Modern.can_follow_write_pte(ro_wp, Some(page), vmf, f));
    assert!(!DirtyCow.can_follow_write_pte(ro_dirty, Some(page), vmf, f | FollFlags::COW));
    assert!(!FollCow.can_follow_write_pte(ro, Some(page), vmf, f | FollFlags::COW));
    assert!(FollCow.can_follow_write_pte(ro_dirty, Some(page), vmf, f | FollFlags::COW));
    assert!(!FollCow.can_follow_write_pte(ro_dirty, Some(page), vmf, f));
    assert!(Modern.can_follow_write_pte(ro, Some(page), vmf, f));
    assert!(!Modern.can_follow_write_pte(ro, Some(page), vmf, FollFlags::WRITE));
    assert!(!Modern.can_follow_write_pte(ro, Some(page), vmf | VmFlags::WRITE, f));
    assert!(!Modern.can_follow_write_pte(ro, None, vmf, f), "zero page");
    page.clear(PageFlags::ANON_EXCLUSIVE);
    assert!(!Modern.can_follow_write_pte(ro_dirty, Some(page), vmf, f | FollFlags::COW));
    for (gen, want) in [
        (DirtyCow, FollFlags::FORCE),
        (FollCow, f | FollFlags::COW),
        (Modern, f),
    ] {
        let mut flags = f;
        gen.faultin_page_fixup(VmFault::WRITE, vmf, &mut flags);
        assert_eq!(flags, want, "{gen:?}");
        let mut flags = f;
        gen.faultin_page_fixup(VmFault::WRITE, vmf | VmFlags::WRITE, &mut flags);
        assert_eq!(flags, f, "{gen:?}: VM_WRITE VMAs are left alone");
    }
    assert_eq!(
        [DirtyCow, FollCow, Modern].map(GupGeneration::has_unshare),
        [false, false, true]
    );
    assert_eq!(GupGeneration::default(), Modern);
    // do_wp_page() on a non-exclusive anonymous page mapped once: only the modern
    // refcount rule sees an extra (GUP, pipe) reference.
    page.inc_mapcount();
    assert_eq!(
        [DirtyCow, FollCow, Modern].map(|g| g.wp_can_reuse_anon_page(page, page)),
        [true, true, true],
        "mapcount 1, refcount 1"
    );
    phys.get_page(pfn);
    assert_eq!(
        [DirtyCow, FollCow, Modern].map(|g| g.wp_can_reuse_anon_page(page, page)),
        [true, true, false],
        "mapcount 1, refcount 2: reuse_swap_page() reuses, wp_can_reuse_anon_folio() copies"
    );
    page.inc_mapcount();
    assert_eq!(
        [DirtyCow, FollCow, Modern].map(|g| g.wp_can_reuse_anon_page(page, page)),
        [false, false, false],
        "mapped twice"
    );
    page.dec_mapcount();
    page.dec_mapcount();
    phys.put_page(pfn);
    phys.put_page(pfn);
}

/// The re-check after the speculative reference: another hart write-protects the PTE
/// (as a concurrent fork would) between `try_grab_folio()` and the re-read. The fast path
/// must drop its reference and leave the page to the slow path, which breaks COW (here:
/// reuses the exclusive page) and pins it once.
#[test]
fn gup_fast_drops_its_reference_when_the_pte_changed_and_falls_back() {
    let (phys, mut mm) = setup(AdScheme::Svadu);
    let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    hart_write(&mut mm, a, 5);
    let pfn = frame(&mm, a);
    let reuse = mm.stats().wp_reuse;
    let mut seen = Vec::new();
    let mut hook = |t: &PageTable, addr: u64| {
        seen.push(refcount(t.phys(), pfn));
        if seen.len() == 1 {
            let slot = t.follow_pte(addr).unwrap().addr;
            t.ptep_set_wrprotect(slot);
        }
    };
    let pin = pin_user_pages_fast_racy(&mut mm, a, 1, FollFlags::WRITE, &mut hook).unwrap();
    assert_eq!(seen, vec![1 + BIAS], "the speculative pin was taken, once");
    assert_eq!(pin, vec![pfn]);
    assert_eq!(
        refcount(&phys, pfn),
        1 + BIAS,
        "the aborted fast pin was dropped"
    );
    assert_eq!(
        mm.stats().wp_reuse,
        reuse + 1,
        "the slow path's write fault ran"
    );
    assert!(pte_w(&mm, a));
    unpin_user_pages(&phys, &pin);
    assert_eq!(refcount(&phys, pfn), 1);
    drop(mm);
    clean(&phys);
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Pin {
        page: u64,
        write: bool,
        longterm: bool,
    },
    Get {
        page: u64,
    },
    Release {
        which: usize,
    },
    Write {
        page: u64,
        v: u64,
    },
    Fast {
        page: u64,
        pin: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u64, any::<bool>(), any::<bool>()).prop_map(|(page, write, longterm)| Op::Pin {
            page,
            write,
            longterm
        }),
        (0..4u64).prop_map(|page| Op::Get { page }),
        (0..8usize).prop_map(|which| Op::Release { which }),
        (0..4u64, any::<u64>()).prop_map(|(page, v)| Op::Write { page, v }),
        (0..4u64, any::<bool>()).prop_map(|(page, pin)| Op::Fast { page, pin }),
    ]
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any interleaving of pins, references, releases and process writes on exclusive
    /// anonymous pages: each page's refcount is exactly its one mapping plus one per
    /// `FOLL_GET` plus `GUP_PIN_COUNTING_BIAS` per pin, a pinned page is never replaced
    /// in the page table (writes reuse it), and everything returns to a clean audit.
    #[test]
    fn pins_and_references_balance(ops in proptest::collection::vec(op(), 1..40)) {
        let (phys, mut mm) = setup(AdScheme::Svadu);
        let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
        for i in 0..4 {
            hart_write(&mut mm, a + i * P, i);
        }
        // (pfn, pinned?)
        let mut held: Vec<(Pfn, bool)> = Vec::new();
        for op in ops {
            match op {
                Op::Pin { page, write, longterm } => {
                    let mut f = FollFlags::empty();
                    if write { f |= FollFlags::WRITE; }
                    if longterm { f |= FollFlags::LONGTERM; }
                    let mut g = mm.mmap_read_lock();
                    let p = pin_user_pages(&mut g, a + page * P, 1, f).unwrap();
                    g.unlock();
                    held.push((p[0], true));
                }
                Op::Get { page } => {
                    let mut g = mm.mmap_read_lock();
                    let p = get_user_pages(&mut g, a + page * P, 1, FollFlags::empty()).unwrap();
                    g.unlock();
                    held.push((p[0], false));
                }
                Op::Release { which } => {
                    if !held.is_empty() {
                        let (pfn, pinned) = held.remove(which % held.len());
                        if pinned { unpin_user_page(&phys, pfn) } else { put_page(&phys, pfn) }
                    }
                }
                Op::Write { page, v } => {
                    hart_write(&mut mm, a + page * P, v);
                    prop_assert_eq!(phys.ram.read_u64(frame(&mm, a + page * P).pa()).unwrap(), v);
                }
                Op::Fast { page, pin } => {
                    let p = if pin {
                        pin_user_pages_fast(&mut mm, a + page * P, 1, FollFlags::empty())
                    } else {
                        get_user_pages_fast(&mut mm, a + page * P, 1, FollFlags::WRITE)
                    };
                    held.push((p.unwrap()[0], pin));
                }
            }
            for i in 0..4 {
                let pfn = frame(&mm, a + i * P);
                let gets = held.iter().filter(|h| **h == (pfn, false)).count() as u32;
                let pins = held.iter().filter(|h| **h == (pfn, true)).count() as u32;
                prop_assert_eq!(refcount(&phys, pfn), 1 + gets + BIAS * pins);
            }
            for (pfn, _) in &held {
                prop_assert!((0..4).any(|i| frame(&mm, a + i * P) == *pfn),
                    "a held page was replaced in the page table");
            }
        }
        for (pfn, pinned) in held {
            if pinned { unpin_user_page(&phys, pfn) } else { put_page(&phys, pfn) }
        }
        for i in 0..4 {
            prop_assert_eq!(refcount(&phys, frame(&mm, a + i * P)), 1);
        }
        drop(mm);
        clean(&phys);
        prop_assert_eq!(phys.pages.audit().used_frames, 1);
    }
}

/// A ptrace `POKEDATA` into a read-only executable private mapping (a breakpoint in
/// text), shared with a forked child: the writer gets a private copy, the child keeps
/// the original, an instruction-cache flush is requested, and a read stops at the first
/// unmapped page.
#[test]
fn access_remote_vm_pokes_text_like_ptrace() {
    let (phys, mut mm) = setup(AdScheme::Svadu);
    let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    hart_write(&mut mm, a + 8, 0x1313_1313);
    mm.mprotect(a, P, PROT_READ | PROT_EXEC).unwrap();
    let mut child = mm.dup_mmap(9).unwrap();
    mm.take_tlb_flush();
    let brk = 0x0010_0073u32.to_le_bytes(); // ebreak
    let mut poke = brk;
    assert_eq!(
        access_remote_vm(&mut mm.mmap_read_lock(), a + 8, &mut poke, FollFlags::WRITE),
        0,
        "no FORCE"
    );
    let n = access_remote_vm(
        &mut mm.mmap_read_lock(),
        a + 8,
        &mut poke,
        FollFlags::WRITE | FollFlags::FORCE,
    );
    assert_eq!(n, 4);
    assert!(
        mm.take_tlb_flush().icache,
        "text changed: flush the harts' icaches"
    );
    let mut peek = [0u8; 8];
    assert_eq!(
        access_remote_vm(&mut mm.mmap_read_lock(), a + 8, &mut peek, FollFlags::FORCE),
        8
    );
    assert_eq!(peek[..4], brk);
    assert_eq!(peek[4..], [0; 4]);
    let mut cpeek = [0u8; 4];
    assert_eq!(
        access_remote_vm(
            &mut child.mmap_read_lock(),
            a + 8,
            &mut cpeek,
            FollFlags::empty()
        ),
        4
    );
    assert_eq!(
        u32::from_le_bytes(cpeek),
        0x1313_1313,
        "the child keeps the original"
    );
    assert_ne!(frame(&mm, a), frame(&child, a));
    // A read running off the end of the VMA copies what it can.
    let mut long = [0u8; 16];
    assert_eq!(
        access_remote_vm(
            &mut mm.mmap_read_lock(),
            a + P - 8,
            &mut long,
            FollFlags::FORCE
        ),
        8
    );
    drop(child);
    drop(mm);
    clean(&phys);
}
