//! The lockless walk against a concurrent owner, on two host threads: `gup_fast()` through
//! a [`GupFastMm`] handle while the owning thread unmaps and remaps (page tables freed
//! under the walker), or forks (anonymous PTEs write-protected and shared with a child).
//! Real page tables in guest RAM, real frames freed and reused; nothing is mocked.
//!
//! - Against `munmap`: every page the walker pins holds the marker of the address it was
//!   pinned at, or nothing yet (a freed-and-reused table would hand it some other page),
//!   and when both threads are done every frame is accounted for.
//! - Against `fork`: a `FOLL_PIN` that `gup_fast()` returns is never COW-shared with a
//!   child — while it holds the pin, the page is mapped once and anonymous-exclusive
//!   (fork copies pinned pages); `write_protect_seq` makes a walk that overlapped
//!   `copy_page_range()` give its pins back. Without that check the walker can pin a page
//!   fork has just shared.
//! - Threads of one address space faulting and zapping at once under the read side of
//!   its `mmap_lock` (the kernel's user-fault path and `madvise(MADV_DONTNEED)`): every
//!   page holds what its thread wrote, every fault is counted, every frame comes back —
//!   also when one thread zaps the very pages the other faults in, each path taking only
//!   its own gather; and a zapper that finds the PTEs already cleared by another whose
//!   shootdown is pending flushes the whole address space (`mm_tlb_flush_nested()`).
//! - A COW break with another hart still translating the shared page: that hart drops
//!   the old translation before the new PTE is set, and before the fault returns
//!   (`wp_page_copy()`'s `ptep_clear_flush()`; the stress guest's seed 131); and a write
//!   into another process's text flushes the icaches before it returns.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mmu::{AdScheme, SatpMode};

use super::mmap::MAP_FIXED;
use super::page_alloc::PageFlags;
use super::test_support::{clean, hart, hart_read, hart_write, setup_mm, ANON, P, RW};
use super::*;

const PAGES: u64 = 64;

/// The owner keeps changing the address space for at least `MIN_ROUNDS` rounds and until
/// the walker has pinned `MIN_PINS` pages (it may start late on a busy host), at most
/// `MAX_ROUNDS`.
const MIN_ROUNDS: u32 = 200;
const MIN_PINS: u64 = 20_000;
const MAX_ROUNDS: u32 = 200_000;

fn keep_going(round: u32, pinned: &AtomicU64) -> bool {
    round < MIN_ROUNDS || (pinned.load(Ordering::Relaxed) < MIN_PINS && round < MAX_ROUNDS)
}

fn populate(mm: &mut Mm, base: u64) {
    for i in 0..PAGES {
        let va = base + i * P;
        // The marker: the page's own address.
        hart_write(mm, va, va);
    }
}

/// Races a `FOLL_PIN | FOLL_WRITE` lockless walker over `[base, base + PAGES)` (pin,
/// check each page with `bad(index, pfn)` while pinned, unpin) against `owner(round)`,
/// which runs on this thread until [`keep_going`] says stop. Returns the pages pinned
/// and how many were bad.
fn race_walker(
    mm: &mut Mm,
    base: u64,
    bad: impl Fn(usize, Pfn) -> bool + Sync,
    mut owner: impl FnMut(&mut Mm, u32),
) -> (u64, u64) {
    let handle = mm.gup_fast_handle();
    let done = AtomicBool::new(false);
    let progress = AtomicU64::new(0);
    let r = std::thread::scope(|s| {
        let walker = s.spawn(|| {
            let (mut pinned, mut bad_pages) = (0u64, 0u64);
            while !done.load(Ordering::Acquire) {
                let pages =
                    handle.gup_fast(base, PAGES as usize, FollFlags::PIN | FollFlags::WRITE);
                for (i, &pfn) in pages.iter().enumerate() {
                    bad_pages += u64::from(bad(i, pfn));
                }
                pinned += pages.len() as u64;
                progress.fetch_add(pages.len() as u64, Ordering::Relaxed);
                handle.unpin_user_pages(&pages);
            }
            (pinned, bad_pages)
        });
        let mut round = 0;
        while keep_going(round, &progress) {
            round += 1;
            owner(mm, round);
        }
        done.store(true, Ordering::Release);
        walker.join().unwrap()
    });
    drop(handle);
    r
}

#[test]
fn gup_fast_pins_only_live_pages_while_the_owner_unmaps_and_remaps() {
    let (phys, mut mm) = setup_mm(64, SatpMode::Sv39, AdScheme::Svadu, 1);
    let base = mm.do_mmap(0, PAGES * P, RW, ANON, None, 0).unwrap();
    populate(&mut mm, base);
    let (pinned, wrong) = race_walker(
        &mut mm,
        base,
        |i, pfn| {
            // 0: a page just faulted in whose marker is not written yet.
            let got = phys.ram.read_u64(pfn.pa()).unwrap_or(u64::MAX);
            got != base + i as u64 * P && got != 0
        },
        |mm, _| {
            mm.do_munmap(base, PAGES * P).unwrap();
            let _ = mm.take_tlb_flush();
            let again = mm
                .do_mmap(base, PAGES * P, RW, ANON | MAP_FIXED, None, 0)
                .unwrap();
            assert_eq!(again, base);
            populate(mm, base);
        },
    );
    assert!(pinned > 0, "the walker never pinned anything");
    assert_eq!(
        wrong, 0,
        "pinned pages that were not mapped where they were found"
    );
    assert_eq!(phys.deferred_pgtables(), 0, "page tables left waiting");
    drop(mm);
    clean(&phys);
}

#[test]
fn a_pin_gup_fast_returns_is_never_shared_with_a_concurrent_fork_child() {
    let (phys, mut mm) = setup_mm(128, SatpMode::Sv39, AdScheme::Svadu, 1);
    let base = mm.do_mmap(0, PAGES * P, RW, ANON, None, 0).unwrap();
    populate(&mut mm, base);
    mm.set_has_pinned_flag();
    let shared = Arc::clone(mm.shared());
    let (pinned, violations) = race_walker(
        &mut mm,
        base,
        |_, pfn| {
            // While we hold the pin no fork may share the page: it stays mapped once,
            // exclusively.
            let page = phys.pages.page(pfn).unwrap();
            page.mapcount() != 1 || !page.test(PageFlags::ANON_EXCLUSIVE)
        },
        |mm, round| {
            let child = mm.dup_mmap(2 + (round % 100) as u16).unwrap();
            let _ = mm.take_tlb_flush();
            drop(child);
            // The parent writes again: its pages become exclusive and writable.
            populate(mm, base);
        },
    );
    assert!(pinned > 0, "the walker never pinned anything");
    assert_eq!(violations, 0, "a pinned page was shared with a fork child");
    eprintln!(
        "{pinned} pages pinned; {} walks gave their pins back after overlapping a fork",
        shared.fork_races()
    );
    drop(mm);
    clean(&phys);
}

#[test]
fn page_tables_unlinked_during_a_walk_wait_for_it() {
    let (phys, mut mm) = setup_mm(64, SatpMode::Sv39, AdScheme::Svadu, 1);
    let base = mm.do_mmap(0, PAGES * P, RW, ANON, None, 0).unwrap();
    populate(&mut mm, base);
    let walk = phys.gup_fast_begin();
    let used = phys.pages.audit().used_frames;
    mm.do_munmap(base, PAGES * P).unwrap();
    let waiting = phys.deferred_pgtables();
    assert!(waiting > 0, "munmap freed no page table");
    // The data pages went at once; the tables wait for the walk.
    assert!(phys.pages.audit().used_frames < used);
    drop(walk);
    assert_eq!(phys.deferred_pgtables(), 0);
    drop(mm);
    clean(&phys);
}

#[test]
fn threads_fault_and_zap_one_mm_at_once_under_the_read_side() {
    const THREADS: u64 = 2;
    const ROUNDS: u64 = 40;
    let phys = super::test_support::phys(32);
    let used_before = clean(&phys).used_frames;
    let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
    let base = mm
        .do_mmap(0, THREADS * PAGES * P, RW, ANON, None, 0)
        .unwrap();
    let users = MmUsers::new(mm);
    let marker = |t: u64, round: u64, i: u64| (t << 48) | (round << 24) | i;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let users = &users;
            s.spawn(move || {
                let region = base + t * PAGES * P;
                for round in 0..ROUNDS {
                    for i in 0..PAGES {
                        let va = region + i * P;
                        // The kernel's user_fault(): lock_mm_and_find_vma(), then the
                        // fault on the read side, then the flush and the frees.
                        let (mm, vma) = users.lock_mm_and_find_vma(va).unwrap();
                        let store = mmu::AccessType::Store;
                        mm.handle_page_fault_vma(&vma, va, FaultFlags::for_user_access(store))
                            .unwrap();
                        // The hart's retried store: the walker sets A and D.
                        let pa = super::test_support::uwalk(&mm, va, store)
                            .unwrap()
                            .pa(mmu::GuestVirtAddr(va));
                        mm.phys().ram.write_u64(pa, marker(t, round, i)).unwrap();
                        drop(mm.take_tlb_batch());
                    }
                    let mm = users.mmap_read_lock();
                    for i in 0..PAGES {
                        let va = region + i * P;
                        let pa = super::test_support::uwalk(&mm, va, mmu::AccessType::Load)
                            .unwrap()
                            .pa(mmu::GuestVirtAddr(va));
                        assert_eq!(mm.phys().ram.read_u64(pa).unwrap(), marker(t, round, i));
                    }
                    mm.madvise_read(region, PAGES * P, super::mmap::MADV_DONTNEED)
                        .unwrap();
                    drop(mm.take_tlb_batch());
                }
            });
        }
    });
    let st = users.mmap_read_lock().stats();
    assert_eq!(
        st.anon_pages,
        THREADS * ROUNDS * PAGES,
        "one new page per fault"
    );
    assert_eq!(st.faults, THREADS * ROUNDS * PAGES);
    assert_eq!(st.bad_faults, 0);
    drop(users);
    assert_eq!(
        clean(&phys).used_frames,
        used_before,
        "every frame came back"
    );
}

/// One thread's write fault at `va` on the read side (the kernel's `user_fault()`: the
/// fault, the hart's retried walk, the path's own flush and frees), retried as a hart
/// retries when another thread zapped the page in between. Nothing is stored: the page
/// may be zapped and freed right after the walk, which only a hart's TLB entry (and the
/// shootdown waiting for it) would keep alive.
fn fault_in(users: &MmUsers, va: u64) {
    let store = mmu::AccessType::Store;
    for _ in 0..1000 {
        let (mm, vma) = users.lock_mm_and_find_vma(va).unwrap();
        mm.handle_page_fault_vma(&vma, va, FaultFlags::for_user_access(store))
            .unwrap();
        let walked = super::test_support::uwalk(&mm, va, store);
        drop(mm.take_tlb_batch());
        if walked.is_ok() {
            return;
        }
    }
    panic!("the fault at {va:#x} never got through");
}

/// Sets its flag when dropped: a thread that ends, or panics, tells the others to stop.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[test]
fn one_threads_zap_races_anothers_faults_on_the_same_pages() {
    // The faulter installs pages the zapper takes away again, on the same addresses; each
    // path takes only its own gather. Frames the zapper unmapped stay allocated until its
    // own batch is dropped (its shootdown), and at the end every frame is back.
    const ROUNDS: u64 = 200;
    let phys = super::test_support::phys(32);
    let used_before = clean(&phys).used_frames;
    let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
    let base = mm.do_mmap(0, PAGES * P, RW, ANON, None, 0).unwrap();
    let users = MmUsers::new(mm);
    let done = AtomicBool::new(false);
    let zapped_frames = AtomicU64::new(0);
    std::thread::scope(|s| {
        let (users, done, zapped_frames) = (&users, &done, &zapped_frames);
        s.spawn(move || {
            let mut round = 0;
            while round < ROUNDS || !done.load(Ordering::Acquire) {
                let mm = users.mmap_read_lock();
                mm.madvise_read(base, PAGES * P, super::mmap::MADV_DONTNEED)
                    .unwrap();
                let batch = mm.take_tlb_batch();
                // What this zapper unmapped is in its own batch, still allocated (the
                // full audit is for a quiet allocator; the count is not).
                let used = mm.phys().pages.audit().used_frames;
                assert!(used >= used_before + batch.frames() as u64);
                zapped_frames.fetch_add(batch.frames() as u64, Ordering::Relaxed);
                drop(batch);
                round += 1;
            }
        });
        let _done = SetOnDrop(done);
        for _ in 0..ROUNDS {
            for i in 0..PAGES {
                fault_in(users, base + i * P);
            }
        }
    });
    assert!(
        zapped_frames.load(Ordering::Relaxed) > 0,
        "the zapper never took a page"
    );
    assert_eq!(users.mmap_read_lock().stats().bad_faults, 0);
    drop(users);
    assert_eq!(
        clean(&phys).used_frames,
        used_before,
        "every frame came back"
    );
}

#[test]
fn a_zapper_that_finds_the_ptes_cleared_by_another_flushes_the_whole_mm() {
    // mm_tlb_flush_nested(): zapper A clears the PTEs and has not flushed yet; zapper B,
    // on another thread, finds nothing to clear in the same range and must not return to
    // user mode on A's stale translations, so its flush covers the whole address space.
    let phys = super::test_support::phys(16);
    let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
    let base = mm.do_mmap(0, PAGES * P, RW, ANON, None, 0).unwrap();
    populate(&mut mm, base);
    let users = MmUsers::new(mm);
    drop(users.mmap_read_lock().take_tlb_batch());
    let dontneed = |users: &MmUsers| {
        let mm = users.mmap_read_lock();
        mm.madvise_read(base, PAGES * P, super::mmap::MADV_DONTNEED)
            .unwrap();
        mm.take_tlb_batch()
    };
    let a = dontneed(&users);
    assert_eq!(a.frames(), PAGES as usize, "A took the pages");
    assert!(users.mmap_read_lock().mm_tlb_flush_pending());
    let b = std::thread::scope(|s| s.spawn(|| dontneed(&users).finish()).join().unwrap());
    assert_eq!(b.range, TlbFlushRange::All, "B flushes the whole mm");
    drop(a);
    assert!(!users.mmap_read_lock().mm_tlb_flush_pending());
    // With no other zapper in flight, B's empty gather flushes nothing, as Linux's
    // tlb_finish_mmu() of an empty range does not.
    let b = std::thread::scope(|s| s.spawn(|| dontneed(&users).finish()).join().unwrap());
    assert_eq!(b.range, TlbFlushRange::None);
    drop(users);
    clean(&phys);
}

/// A second hart for [`a_cow_break_flushes_the_old_translation_before_it_maps_the_copy`]:
/// its TLB holds one translation of `va`, which a shootdown covering `va` drops; it
/// notes the PTE it would walk at the moment it is told to flush.
struct StaleHart {
    phys: Arc<PhysMem>,
    va: u64,
    /// The PTE's guest-physical address.
    slot: devices::GuestPhysAddr,
    /// The frame its TLB still maps `va` to.
    tlb: std::sync::Mutex<Option<Pfn>>,
    /// The PTE in memory when each shootdown reached it.
    pte_at_flush: std::sync::Mutex<Vec<u64>>,
}

impl TlbShootdown for StaleHart {
    fn flush_tlb_posted(&self, _me: usize, _asid: u16, flush: TlbFlush) {
        let covers = match flush.range {
            TlbFlushRange::All => true,
            TlbFlushRange::Range { start, end } => (start..end).contains(&self.va),
            TlbFlushRange::None => false,
        };
        if covers {
            let pte = self.phys.ram.read_u64(self.slot).unwrap();
            self.pte_at_flush.lock().unwrap().push(pte);
            *self.tlb.lock().unwrap() = None;
        }
    }
}

/// The seed-131 failure of the stress guest, forced: a page shared with a fork child,
/// another hart of the parent still translating it to the shared frame, a write fault
/// that breaks COW. When the fault returns, the other hart must no longer reach the old
/// frame — else it reads the page's old contents while everything that walks the new PTE
/// (this hart, the kernel's `process_vm_readv()` copy) writes the copy — and it must not
/// have been able to walk the new PTE while it still held the old one: `wp_page_copy()`
/// clears the PTE and flushes every hart before it sets the new one
/// (`ptep_clear_flush()`). With the flush left in the fault's gather for after the
/// fault, the stress guest's forker, moved to that hart, read zeros where
/// `process_vm_readv()` had put the child's data.
#[test]
fn a_cow_break_flushes_the_old_translation_before_it_maps_the_copy() {
    const OLD: u64 = 0x01d0_01d0;
    const NEW: u64 = 0x0e_0e_0e_0e;
    let (phys, mut mm) = setup_mm(16, SatpMode::Sv39, AdScheme::Svadu, 1);
    let va = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    hart_write(&mut mm, va, OLD);
    let child = mm.dup_mmap(2).unwrap();
    let _ = mm.take_tlb_flush();
    let slot = mm.page_table().follow_pte(va).unwrap();
    assert!(
        !pgtable::pte_write(slot.pte),
        "fork write-protected the page"
    );
    let other = Arc::new(StaleHart {
        phys: Arc::clone(&phys),
        va,
        slot: slot.addr,
        tlb: std::sync::Mutex::new(Some(pgtable::pte_pfn(slot.pte))),
        pte_at_flush: std::sync::Mutex::new(Vec::new()),
    });
    let installed = install_tlb_shootdown(0, Arc::clone(&other) as _);

    hart_write(&mut mm, va, NEW);

    assert_eq!(
        *other.tlb.lock().unwrap(),
        None,
        "after the COW fault another hart still translates the page to the shared frame"
    );
    let seen = other.pte_at_flush.lock().unwrap().clone();
    assert!(
        seen.iter().all(|&pte| pte == 0),
        "a hart was told to drop the old translation only after the new PTE was \
         visible (PTEs at the flush: {seen:x?}): break before make"
    );
    // What the other hart reads now, through a fresh walk: the copy and what was
    // written to it; the child still has the old contents.
    let pa = hart(&mut mm, va, mmu::AccessType::Load).unwrap();
    assert_eq!(phys.ram.read_u64(pa).unwrap(), NEW);
    let mut child = child;
    assert_eq!(hart_read(&mut child, va), OLD);
    drop(installed);
    let _ = mm.take_tlb_flush();
    let _ = child.take_tlb_flush();
    drop(child);
    drop(mm);
    clean(&phys);
}

/// The shootdowns a kernel path carried out, for tests that check what reached the harts
/// before the path returned.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<TlbFlush>>);

impl TlbShootdown for Recorder {
    fn flush_tlb_posted(&self, _me: usize, _asid: u16, flush: TlbFlush) {
        self.0.lock().unwrap().push(flush);
    }
}

/// A `/proc/<pid>/mem` or ptrace write into another process's text reaches that
/// process's harts before it returns (`copy_to_user_page()` → `flush_icache_user_page()`):
/// the writer's own return to user mode flushes only its own address space's gather,
/// so an icache flush left in its gather of the target's would never reach them.
#[test]
fn a_remote_poke_into_text_flushes_the_icaches_before_it_returns() {
    let (phys, mut mm) = setup_mm(16, SatpMode::Sv39, AdScheme::Svadu, 1);
    let a = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
    hart_write(&mut mm, a, 0x1313_1313);
    mm.mprotect(a, P, super::mmap::PROT_READ | super::mmap::PROT_EXEC)
        .unwrap();
    let _ = mm.take_tlb_flush();
    let harts = Arc::new(Recorder::default());
    let installed = install_tlb_shootdown(0, Arc::clone(&harts) as _);
    let mut ebreak = 0x0010_0073u32.to_le_bytes();
    let n = gup::access_remote_vm(
        &mut mm.mmap_read_lock(),
        a,
        &mut ebreak,
        FollFlags::WRITE | FollFlags::FORCE,
    );
    assert_eq!(n, 4);
    let flushes = harts.0.lock().unwrap().clone();
    assert!(
        flushes.iter().any(|f| f.icache),
        "the text changed but no hart's icache was flushed: {flushes:?}"
    );
    drop(installed);
    assert!(
        !mm.take_tlb_flush().needs_shootdown(),
        "nothing left behind for the target's harts"
    );
    drop(mm);
    clean(&phys);
}

/// fork's write-protection of the parent's pages, and mprotect's, reach every hart before
/// the `mmap_lock` is given back (`dup_mmap()`'s `flush_tlb_mm(oldmm)` before
/// `mmap_write_unlock(oldmm)`, `change_protection()`'s flush): otherwise a thread could
/// copy a page for COW (a write fault, a `FOLL_WRITE` GUP) while another still stores
/// into the old copy through a writable translation it cached, and those stores would
/// be lost (`gupfastrace` lost counter increments and writes that way when its gup_test
/// ioctls first ran without the kernel lock).
#[test]
fn fork_and_mprotect_flush_their_write_protection_before_the_lock_is_free() {
    let (phys, mut mm) = setup_mm(32, SatpMode::Sv39, AdScheme::Svadu, 1);
    let a = mm.do_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    hart_write(&mut mm, a, 0x1111);
    hart_write(&mut mm, a + P, 0x2222);
    let _ = mm.take_tlb_flush();
    let harts = Arc::new(Recorder::default());
    let installed = install_tlb_shootdown(0, Arc::clone(&harts) as _);
    let covers = |f: &TlbFlush, va: u64| match f.range {
        TlbFlushRange::All => true,
        TlbFlushRange::Range { start, end } => start <= va && va < end,
        TlbFlushRange::None => false,
    };
    mm.mprotect(a + P, P, super::mmap::PROT_READ).unwrap();
    assert!(
        harts.0.lock().unwrap().iter().any(|f| covers(f, a + P)),
        "mprotect returned with the write-protection not flushed"
    );
    harts.0.lock().unwrap().clear();
    let child = mm.dup_mmap(2).unwrap();
    assert!(
        harts.0.lock().unwrap().iter().any(|f| covers(f, a)),
        "fork returned with the parent's write-protection not flushed"
    );
    drop(installed);
    assert!(
        !mm.take_tlb_flush().needs_shootdown(),
        "nothing left behind"
    );
    drop(child);
    drop(mm);
    clean(&phys);
}
