//! `struct mm_struct` as tasks share it: an address space ([`Mm`]) behind its
//! `mmap_lock`, with Linux's two reference counts (`include/linux/sched/mm.h`).
//!
//! - `mm_users` counts the users of the address space: every task whose `task->mm` it is
//!   (threads, `clone(CLONE_VM)` children, a `vfork` child) and every remote user that
//!   holds it for the length of an access (`/proc/<pid>/mem`, `process_vm_readv`):
//!   [`MmUsers`], taken by `mmget()` ([`MmUsers::clone`], after [`MmUsers::new`]) or `mmget_not_zero()`
//!   ([`MmGrab::mmget_not_zero`]) and given back by `mmput()` (drop, or
//!   [`MmUsers::mmput`]). The last `mmput()` tears the address space down
//!   (`exit_mmap()`: every page and page table goes back) while the structure stays.
//! - `mm_count` counts references to the structure itself: [`MmGrab`] (`mmgrab()` /
//!   `mmdrop()`), what an open `/proc/<pid>/mem` holds so that it can later try
//!   `mmget_not_zero()` without keeping the pages alive. All users together hold one
//!   `mm_count` reference, as in Linux. The memory of the structure is an `Arc`'s and
//!   goes with the last handle of either kind.
//!
//! The `mmap_lock` is a reader/writer lock ([`crate::sync::RwLock`]), taken as Linux
//! takes it. Readers ([`MmStruct::mmap_read_lock`], an [`MmapReadGuard`] that derefs to
//! `&Mm`): page faults ([`MmStruct::lock_mm_and_find_vma`], then
//! [`Mm::handle_page_fault_vma`]), GUP's slow path, `MADV_DONTNEED`, `/proc/<pid>/mem`,
//! `maps` and `pagemap`, `process_vm_*`, gup_test, `msync`'s VMA look-ups, every
//! `copy_{to,from}_user()` ([`MmStruct::uaccess`]: `wait4`'s status, the robust-list
//! walk at exit), and what only looks (`satp`, statistics); `get_user_pages_fast()`
//! takes no side at all ([`MmStruct::gup_fast`]). Every method they call
//! takes `&self`: PTEs change by atomics under the page-table locks
//! ([`super::pgtable`]), counters are atomics, and the pending TLB flush with the frames
//! waiting for it is a small lock of its own. Writers ([`MmStruct::mmap_write_lock`],
//! `&mut Mm`): what changes the VMAs or frees page tables — mmap, munmap, mprotect,
//! mremap, brk, fork's `dup_mmap`, exec, exit, and a fault that must grow a stack. The
//! kernel lock still serialises every kernel path but the user page fault, which a hart
//! handles under the read side alone (`kernel.rs`, the unlocked fault path): two
//! processes, or two threads of one process, fault at once.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::sync::{RwLock, RwLockWriteGuard};

use super::fault::UserFaultError;
use super::gup::GupFastMm;
use super::{count_event, Mm, MmapReadGuard, TlbBatch, Vma};
use crate::lockstat;

/// An address space shared by tasks (`struct mm_struct`): see the module docs.
#[derive(Debug)]
pub struct MmStruct {
    /// Users of the address space (`mm->mm_users`).
    mm_users: AtomicU32,
    /// References to the structure (`mm->mm_count`): the [`MmGrab`]s, plus one for all
    /// users together.
    mm_count: AtomicU32,
    /// The identity of the address space ([`Mm::id`]), readable without the lock.
    id: u64,
    /// What `gup_fast()` reads without the lock (`mm->pgd`, `write_protect_seq`,
    /// `MMF_HAS_PINNED`, the GUP rules fixed when the address space was shared): valid
    /// while there are users. Declared before `mmap_lock`, so dropped before the `Mm`.
    gup_fast: GupFastMm,
    /// The address space behind `mm->mmap_lock`.
    mmap_lock: RwLock<Mm>,
}

/// The write side of an `mmap_lock` (`mmap_write_lock()`): the address space, mutable.
pub type MmapWriteLock<'a> = RwLockWriteGuard<'a, Mm>;

impl MmStruct {
    /// `untagged_addr_remote()` without the `mmap_lock`: `va` with the pointer tag its
    /// threads' tagged-address ABI lets system calls carry removed (see
    /// [`super::mte::TaggedAddrCtrl::untagged_addr`]).
    pub fn untagged_addr(&self, va: u64) -> u64 {
        self.gup_fast.shared().tagged_addr_ctrl().untagged_addr(va)
    }

    /// Records a thread's `PR_SET_TAGGED_ADDR_CTRL` for kernel accesses to this address
    /// space (see [`super::Mm::set_uaccess_tag_ctrl`]).
    pub fn set_tagged_addr_ctrl(&self, ctrl: super::mte::TaggedAddrCtrl) {
        self.gup_fast.shared().set_tagged_addr_ctrl(ctrl);
    }

    /// `mmap_write_lock()`: the address space to change (see the module docs for which
    /// paths take which side).
    pub fn mmap_write_lock(&self) -> MmapWriteLock<'_> {
        self.mmap_lock.write()
    }

    /// `mmap_write_trylock()`: the address space to change, if nobody holds the lock.
    pub fn mmap_write_trylock(&self) -> Option<MmapWriteLock<'_>> {
        self.mmap_lock.try_write()
    }

    /// `mmap_read_lock()`: the address space to look at, or to fault in, pin or zap
    /// (`MADV_DONTNEED`) pages of: readers run at once, each PTE change under its
    /// page-table lock (see [`super::pgtable`]).
    pub fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        MmapReadGuard::locked(self.mmap_lock.read())
    }

    /// `lock_mm_and_find_vma()` (Linux 6.5+, `mm/memory.c`) for a user fault at `va`:
    /// the read side of the `mmap_lock` (counted in [`lockstat::MMAP_LOCK`]) and the VMA
    /// that covers `va`. When `va` lies below a `VM_GROWSDOWN` stack that must grow, the
    /// read side is dropped, the write side taken, the stack expanded
    /// ([`Mm::expand_stack`]: the VMA is looked up again, another fault may have grown
    /// it), and the lock downgraded to the read side (`mmap_write_downgrade()`), as Linux
    /// does.
    ///
    /// # Errors
    /// [`UserFaultError::SEGV_MAPERR`] (no VMA, or the stack may not grow there), with no
    /// lock held (`bad_area_nosemaphore()`); counted as a bad fault.
    pub fn lock_mm_and_find_vma(
        &self,
        va: u64,
    ) -> Result<(MmapReadGuard<'_>, Vma), UserFaultError> {
        let read =
            || lockstat::MMAP_LOCK.acquire(|| self.mmap_read_trylock(), || self.mmap_read_lock());
        let mm = read();
        match mm.vma_for_fault(va) {
            Ok(Some(vma)) => return Ok((mm, vma)),
            Ok(None) => {}
            Err(e) => {
                count_event(&mm.counters().local().bad_faults);
                return Err(e);
            }
        }
        drop(mm);
        let mut mm =
            lockstat::MMAP_LOCK.acquire(|| self.mmap_write_trylock(), || self.mmap_write_lock());
        match mm.expand_stack(va) {
            Ok(vma) => Ok((MmapReadGuard::locked(RwLockWriteGuard::downgrade(mm)), vma)),
            Err(e) => {
                count_event(&mm.counters().local().bad_faults);
                Err(e)
            }
        }
    }

    /// [`MmStruct::mmap_read_lock`] for a GUP caller (`/proc/<pid>/mem`,
    /// `process_vm_*`): the acquisition is also counted as a kernel-primitive event
    /// (`lock_ops`, priced `k_lock`), as [`Mm::mmap_read_lock`] counts it for GUP; the
    /// kernel's own acquisitions (faults, flushes, `satp`) are not priced.
    pub fn gup_read_lock(&self) -> MmapReadGuard<'_> {
        let g = self.mmap_read_lock();
        g.phys().pages.events.lock_ops.inc();
        g
    }

    /// The address space as a system call's `copy_{to,from}_user()` reaches it: a
    /// [`crate::uaccess::UserAccess`] that takes the read side for each access and
    /// faults pages in under it (see `impl UserAccess for &MmStruct` in
    /// [`super::uaccess`]). The caller must hold neither side of this `mmap_lock`.
    pub fn uaccess(&self) -> &Self {
        self
    }

    /// The lockless view `get_user_pages_fast()` walks (see
    /// [`super::gup::CurrentMm`]): no side of the `mmap_lock` is taken.
    pub fn gup_fast(&self) -> &GupFastMm {
        &self.gup_fast
    }

    /// `mmap_read_trylock()`: the read side, if no writer holds or waits for the lock.
    pub fn mmap_read_trylock(&self) -> Option<MmapReadGuard<'_>> {
        self.mmap_lock.try_read().map(MmapReadGuard::locked)
    }

    /// [`MmStruct::mmap_read_trylock`] for direct reclaim, which may run under any lock
    /// of the allocating caller ([`crate::sync::trylock_read`]).
    pub(crate) fn mmap_read_trylock_reclaim(&self) -> Option<MmapReadGuard<'_>> {
        crate::sync::trylock_read(&self.mmap_lock).map(MmapReadGuard::locked)
    }

    /// `atomic_read(&mm->mm_users)`.
    pub fn mm_users(&self) -> u32 {
        self.mm_users.load(Ordering::Acquire)
    }

    /// `atomic_read(&mm->mm_count)`.
    pub fn mm_count(&self) -> u32 {
        self.mm_count.load(Ordering::Acquire)
    }

    /// The identity of the address space ([`Mm::id`]): unique for the run.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `mmput()`'s tail for the last user: `exit_mmap()` in place, returning the ASID and
    /// the TLB and icache maintenance the teardown left with the frames waiting for it
    /// (the caller carries it out on the harts, then drops the batch, which frees them).
    fn exit_mmap(&self) -> (u16, TlbBatch) {
        let mut mm = self.mmap_lock.write();
        mm.release();
        (mm.asid(), mm.take_tlb_batch())
    }
}

/// One `mm_users` reference to an address space: what `task->mm` holds, and what a
/// remote access holds while it runs. Cloning is `mmget()`; dropping is `mmput()` (the
/// last one tears the address space down: use [`MmUsers::mmput`] to learn the TLB
/// maintenance that needs).
#[derive(Debug)]
pub struct MmUsers {
    mm: Arc<MmStruct>,
    /// Still holds its `mm_users` reference (not given back by [`MmUsers::mmput`]).
    counted: bool,
}

impl MmUsers {
    /// `mm_alloc()` + `mm_init()`: `mm` shared from now on, with its first user (the
    /// task that will run in it): `mm_users == 1`, `mm_count == 1`.
    pub fn new(mm: Mm) -> Self {
        // From now on harts may load it: frames wait for their shootdown.
        mm.set_defer_frees();
        let phys = Arc::clone(mm.phys());
        let mm = Arc::new(MmStruct {
            mm_users: AtomicU32::new(1),
            mm_count: AtomicU32::new(1),
            id: mm.id(),
            gup_fast: mm.gup_fast_handle(),
            mmap_lock: RwLock::new(mm),
        });
        // lru_gen_add_mm(): reclaim walks the address spaces on this list.
        phys.lru_gen_add_mm(Arc::downgrade(&mm));
        MmUsers::from_counted(mm)
    }

    /// A handle on `mm` for a `mm_users` reference already counted.
    fn from_counted(mm: Arc<MmStruct>) -> Self {
        MmUsers { mm, counted: true }
    }

    /// `mmgrab()`: a reference to the structure that does not keep the pages.
    pub fn mmgrab(&self) -> MmGrab {
        self.mm.mm_count.fetch_add(1, Ordering::AcqRel);
        MmGrab(Arc::clone(&self.mm))
    }

    /// `mmput()`: gives this user reference back. Returns the ASID and the TLB
    /// maintenance the teardown left, with the frames that wait for it
    /// ([`super::Mm::take_tlb_batch`]), if this was the last user (`exit_mmap()` ran);
    /// `None` otherwise.
    pub fn mmput(mut self) -> Option<(u16, TlbBatch)> {
        self.counted = false;
        Self::put(&self.mm)
    }

    fn put(mm: &MmStruct) -> Option<(u16, TlbBatch)> {
        if mm.mm_users.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
        let r = mm.exit_mmap();
        // The users' collective mm_count reference.
        mm.mm_count.fetch_sub(1, Ordering::AcqRel);
        Some(r)
    }

    /// Whether `self` and `other` are the same address space.
    pub fn ptr_eq(&self, other: &MmStruct) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.mm), other)
    }
}

impl Clone for MmUsers {
    /// `mmget()`: one more user of an address space that has users.
    fn clone(&self) -> Self {
        self.mm.mm_users.fetch_add(1, Ordering::AcqRel);
        MmUsers::from_counted(Arc::clone(&self.mm))
    }
}

impl Drop for MmUsers {
    /// `mmput()`; a teardown's TLB maintenance is left to the harts' next full flush of
    /// the ASID (use [`MmUsers::mmput`] where it matters).
    fn drop(&mut self) {
        if self.counted {
            let _ = Self::put(&self.mm);
        }
    }
}

impl std::ops::Deref for MmUsers {
    type Target = MmStruct;

    fn deref(&self) -> &MmStruct {
        &self.mm
    }
}

/// One `mm_count` reference (`mmgrab()`): keeps the structure, not the pages. Dropping
/// it is `mmdrop()`.
#[derive(Debug)]
pub struct MmGrab(Arc<MmStruct>);

impl MmGrab {
    /// `mmget_not_zero()`: a user reference if the address space still has users (its
    /// task has not exited or exec'd away from it), `None` once it was torn down.
    pub fn mmget_not_zero(&self) -> Option<MmUsers> {
        self.try_get_user()
            .then(|| MmUsers::from_counted(Arc::clone(&self.0)))
    }

    /// `atomic_inc_not_zero(&mm->mm_users)`: whether a user reference was taken.
    fn try_get_user(&self) -> bool {
        let mut n = self.0.mm_users.load(Ordering::Acquire);
        loop {
            if n == 0 {
                return false;
            }
            match self.0.mm_users.compare_exchange_weak(
                n,
                n + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// The identity of the address space ([`Mm::id`]).
    pub fn id(&self) -> u64 {
        self.0.id
    }
}

impl Clone for MmGrab {
    /// `mmgrab()` again.
    fn clone(&self) -> Self {
        self.0.mm_count.fetch_add(1, Ordering::AcqRel);
        MmGrab(Arc::clone(&self.0))
    }
}

impl Drop for MmGrab {
    /// `mmdrop()`.
    fn drop(&mut self) {
        self.0.mm_count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::test_support::{ANON, P, RW};
    use mmu::{AdScheme, SatpMode};

    fn mm_with_a_page() -> (Arc<crate::mm::PhysMem>, MmUsers, u64) {
        let phys = crate::mm::test_support::phys(8);
        let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let va = mm.do_mmap(0, P, RW, ANON, None, 0).unwrap();
        crate::uaccess::UserAccess::copy_to_user(&mut mm, va, b"x").unwrap();
        (phys, MmUsers::new(mm), va)
    }

    /// The OOM reaper runs on the read side, beside a fault that holds it (Linux's
    /// `oom_reap_task_mm()` under `mmap_read_trylock()`), and the VMAs stay.
    #[test]
    fn the_oom_reaper_runs_beside_a_reader() {
        let (_phys, users, va) = mm_with_a_page();
        let fault = users.mmap_read_lock();
        let reaped = std::thread::scope(|s| {
            s.spawn(|| {
                let reaper = users.mmap_read_trylock().expect("readers share the lock");
                let n = reaper.oom_reap_task_mm();
                drop(reaper.take_tlb_batch());
                n
            })
            .join()
            .unwrap()
        });
        assert_eq!(reaped, 1, "the private page goes");
        assert!(
            fault.mmf_oom_skip(),
            "MMF_OOM_SKIP, seen by the other reader"
        );
        assert!(fault.vmas().find_vma(va).is_some(), "the VMA stays");
    }

    #[test]
    fn the_last_mmput_tears_down_and_mmget_not_zero_fails_after() {
        let (phys, first, va) = mm_with_a_page();
        let used = phys.pages.audit().used_frames;
        assert_eq!((first.mm_users(), first.mm_count()), (1, 1));
        let second = first.clone();
        let grab = first.mmgrab();
        assert_eq!((first.mm_users(), first.mm_count()), (2, 2));
        // A remote user while the task runs.
        let remote = grab.mmget_not_zero().expect("users left");
        assert_eq!(first.mm_users(), 3);
        drop(remote);
        assert!(first.mmput().is_none(), "not the last user");
        assert!(!second.mmap_read_lock().is_dead());
        let (asid, batch) = second.mmput().expect("the last user tears down");
        assert_eq!(asid, 1);
        assert!(
            !batch.flush.is_none(),
            "the teardown leaves TLB maintenance"
        );
        let waiting = phys.pages.audit().used_frames;
        assert!(batch.frames() > 0, "the frames wait for the flush");
        drop(batch);
        assert!(phys.pages.audit().used_frames < waiting, "freed after it");
        assert!(
            grab.mmget_not_zero().is_none(),
            "no users: mmget_not_zero() fails"
        );
        assert_eq!(grab.0.mm_count(), 1, "only the grab holds the structure");
        // Every page and page table went back when the last user left, not at mmdrop.
        assert!(phys.pages.audit().used_frames < used);
        let mut mm = grab.0.mmap_write_lock();
        assert!(mm.is_dead());
        assert!(crate::uaccess::UserAccess::copy_from_user(&mut *mm, va, &mut [0]).is_err());
    }

    #[test]
    fn zapped_and_unmapped_frames_of_a_shared_mm_wait_for_the_shootdown() {
        const PAGES: u64 = 16;
        let phys = crate::mm::test_support::phys(16);
        let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let va = mm.do_mmap(0, PAGES * P, RW, ANON, None, 0).unwrap();
        for i in 0..PAGES {
            crate::uaccess::UserAccess::copy_to_user(&mut mm, va + i * P, b"x").unwrap();
        }
        let users = MmUsers::new(mm);
        drop(users.mmap_read_lock().take_tlb_batch());
        let used = phys.pages.audit().used_frames;
        // MADV_DONTNEED on the read side: the PTEs go, the pages wait.
        let mm = users.mmap_read_lock();
        mm.madvise_read(va, PAGES * P, crate::mm::mmap::MADV_DONTNEED)
            .unwrap();
        assert!(mm.page_table().follow_pte(va).is_none(), "zapped");
        assert_eq!(
            phys.pages.audit().used_frames,
            used,
            "nothing is freed before the flush"
        );
        let batch = mm.take_tlb_batch();
        assert!(batch.flush.needs_shootdown());
        assert_eq!(batch.frames(), PAGES as usize);
        drop(batch);
        assert_eq!(phys.pages.audit().used_frames, used - PAGES);
        drop(mm);
        // munmap on the write side: the emptied page tables wait too.
        let mut mm = users.mmap_write_lock();
        mm.do_munmap(va, PAGES * P).unwrap();
        let tables = mm.take_tlb_batch();
        assert_eq!(tables.flush.range, crate::mm::TlbFlushRange::All);
        assert!(tables.frames() > 0, "the page tables wait for the flush");
        let before = phys.pages.audit().used_frames;
        drop(tables);
        assert!(phys.pages.audit().used_frames < before);
        drop(mm);
        drop(users);
        let a = phys.pages.audit();
        assert_eq!((a.bad_puts, a.inconsistent_frames), (0, 0), "{a:?}");
    }

    #[test]
    fn lock_mm_and_find_vma_grows_the_stack_on_the_write_side() {
        let phys = crate::mm::test_support::phys(16);
        let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        mm.setup_stack(P).unwrap();
        let (start, _) = mm.stack_bounds();
        let users = MmUsers::new(mm);
        let (mm, vma) = users.lock_mm_and_find_vma(start + 8).unwrap();
        assert!(vma.start <= start, "inside the stack: no growth");
        assert_eq!(mm.stats().stack_expansions, 0);
        drop(mm);
        let below = start - 3 * P;
        let (mm, vma) = users.lock_mm_and_find_vma(below).unwrap();
        assert_eq!(vma.start, below, "grown down to the faulting page");
        assert_eq!(mm.stats().stack_expansions, 1);
        // Downgraded to the read side: a reader on another thread gets in.
        let other = std::thread::scope(|s| {
            s.spawn(|| users.mmap_read_trylock().is_some())
                .join()
                .unwrap()
        });
        assert!(other, "the read side is held, not the write side");
        mm.handle_page_fault_vma(
            &vma,
            below,
            crate::mm::FaultFlags::for_user_access(mmu::AccessType::Store),
        )
        .unwrap();
        assert!(mm.page_table().follow_pte(below).is_some());
        drop(mm);
        // Beyond RLIMIT_STACK: SIGSEGV, counted, no lock left held.
        let far = start - crate::mm::DEFAULT_STACK_RLIMIT - P;
        assert_eq!(
            users.lock_mm_and_find_vma(far).map(|_| ()),
            Err(UserFaultError::SEGV_MAPERR)
        );
        let mm = users.mmap_write_trylock().expect("no lock held");
        assert_eq!(mm.stats().bad_faults, 1);
        assert_eq!(mm.stats().stack_expansions, 1);
    }

    #[test]
    fn dropping_the_last_user_tears_down_too() {
        let (phys, users, _) = mm_with_a_page();
        let grab = users.mmgrab();
        drop(users);
        assert!(grab.mmget_not_zero().is_none());
        drop(grab);
        let a = phys.pages.audit();
        assert_eq!((a.bad_puts, a.inconsistent_frames), (0, 0), "{a:?}");
    }
}
