//! The kernel's lock types, and the one place where the kernel's lock order is written
//! down (as `mm/rmap.c`'s header comment does for Linux's mm).
//!
//! # Lock types
//! Every kernel lock is a [`Mutex`] or an [`RwLock`] from this module (or, where a
//! `Condvar` waits on it, a [`CondvarMutex`]). In unit tests and with the `lockdep`
//! cargo feature (of `guestos`, forwarded by the `dirtybit` package's `lockdep`, and on
//! for the workspace's integration tests through a dev-dependency) they are
//! tracing-mutex's dependency-tracking `parking_lot` locks: every acquisition made
//! while another lock is held adds an edge *held → taken* to a process-wide lock graph,
//! and an acquisition that would close a cycle — a lock-order inversion, a potential ABBA
//! deadlock, whether or not the two paths ever raced — panics with the cycle (with
//! `RUST_BACKTRACE=1`, the backtrace of each edge: both orders). This is Linux's lockdep
//! (`CONFIG_PROVE_LOCKING`, `Documentation/locking/lockdep-design.rst`) with one
//! difference: the graph's nodes are lock *instances*, not lock classes, so an inversion
//! is found only when the same two locks are taken in both orders (lockdep also reports
//! two instances of one pair of classes). Otherwise they are plain `parking_lot` locks:
//! the checker costs nothing in a release build.
//!
//! The tracing guards are `!Send` (the graph tracks which thread holds what): a kernel
//! lock is released by the thread that took it.
//!
//! # Lock order
//! As `mm/rmap.c`'s header: each line is a lock (the field, its file), indented under
//! the locks that may be held when it is taken — outermost first. A lock may be taken
//! while holding only locks on its path up the tree; taking one while holding a lock
//! below it, or beside it, is an inversion the checker refuses. A *leaf* takes nothing
//! while it is held. Trylocks ([`trylock`]) may be taken under anything.
//!
//! ```text
//! Machine::kernel           kernel.rs: the kernel lock (every kernel entry: system
//!                           call, fault, trap, idle harts). A CondvarMutex.
//!   Baton::state            smp.rs: the deterministic scheduler's baton (scheduling
//!                           points, idle, wake-ups). A CondvarMutex; leaf. Also taken
//!                           with no lock held (the yield point before the kernel lock).
//!   MmStruct::mmap_lock     mm/mm_struct.rs: the address space (Mm). Write: a task's
//!                           own for each of its system calls (but madvise's zaps and
//!                           hints), exec, exit, fork's dup_mmap of the parent, a
//!                           fault that grows a stack; a target's for
//!                           /proc/<pid>/maps and pagemap, the OOM reaper. Read: user
//!                           faults, GUP, madvise(MADV_DONTNEED/FREE/REMOVE/…), a
//!                           target's /proc/<pid>/mem and process_vm_*, satp,
//!                           statistics, OOM badness. Never two at once: a remote
//!                           access drops the target's before it takes the caller's.
//!                           A user fault or a memory-map call (brk, mmap,
//!                           munmap, mprotect, madvise) on a hart without the kernel
//!                           lock (kernel.rs, `user_fault`, `unlocked_syscall`)
//!                           takes it with no lock held, and never takes the kernel
//!                           lock while holding it.
//!     PageTable::page_table_lock  mm/pgtable.rs: mm->page_table_lock (pmd_lock()):
//!                           populating an upper-level entry (__pte_alloc), creating,
//!                           changing, splitting or zapping a huge PMD. Never held
//!                           with a ptl.
//!       PageTable::deposited, PageAlloc::free, PhysMem::pt_deferred (below),
//!       Mm::pending (below); leaves.
//!     Page::ptl             mm/page_alloc.rs: the split page-table lock of one PTE
//!                           table (ptlock_ptr(), pte_offset_map_lock()): installing,
//!                           zapping, write-protecting or re-protecting its PTEs. One
//!                           at a time. Also under MmRmap::inner (an rmap zap or
//!                           mkclean of a foreign mm's PTEs).
//!       Mm::pending         mm/mod.rs: the TLB flush and the frames waiting for it
//!                           (faults add to it under the read side); leaf. Also taken
//!                           under mmap_lock alone.
//!       PageAlloc::deferred_split  (below; a zap's rmap removal); leaf.
//!     Mm::uaccess_mmu       mm/mod.rs: the counters of kernel accesses to user
//!                           memory; leaf.
//!     HartSlot::mailbox     smp.rs: a hart's pending shootdowns (posted by
//!                           flush_tlb under the mmap_lock, drained by the hart);
//!                           leaf. Waiting for the acknowledgements is a lock in
//!                           effect, outside this tree: a hart waits only for harts in
//!                           user mode, which hold no kernel lock.
//!     File::state           fs/file.rs: f_pos_lock and the f_flags (read, write,
//!                           llseek, getdents of an open file description).
//!       Vfs::ns_lock        fs/vfs.rs: the namespace (create, link, unlink, rename,
//!                           lookups that must see one tree): s_vfs_rename_mutex.
//!         Inode::inner      fs/inode.rs: an inode's fields and data (i_rwsem); a
//!                           directory's entries.
//!           AddressSpace::inner  (below: a regular file's data, its truncation)
//!       SeqFile::m          fs/seq_file.rs: a seq_file's buffer and position
//!                           (m->lock); a /proc/<pid>/maps line then takes the
//!                           target's mmap_lock, the caller's not being held (kernel
//!                           files are served without it).
//!       Pipe::inner         fs/pipe.rs: the pipe's buffers (pipe->mutex); leaf.
//!       StdStreams::stdin/stdout/stderr, MemStreams' buffers
//!                           fs/stdio.rs: the host streams; leaves.
//!       Vfs::prng           fs/vfs.rs: /dev/urandom's generator; leaf.
//!     FilesStruct::fdt      fs/fdtable.rs: the descriptor table (files->file_lock),
//!                           held by each method for its own length; leaf.
//!     FsStruct::inner       fs/fdtable.rs: cwd and umask (fs->lock); leaf.
//!     SignalStruct::inner   process.rs: the thread group (signal->siglock: shared
//!                           pending, group exit, threads, rlimits, AT_RANDOM); leaf.
//!     SigHand::action       signal.rs: the handlers (sighand->siglock); leaf.
//!     GupTest::longterm     mm/gup_test.rs: PIN_LONGTERM_BENCHMARK's pins.
//!     AddressSpace::inner   fs/pagecache.rs: one file's page cache (the i_pages lock
//!                           and i_rwsem in one): faults, read, write, truncation,
//!                           writeback.
//!       IMmap::mms          mm/rmap.rs: the file's i_mmap list (link, walk: the list
//!                           is copied out); leaf.
//!       MmRmap::inner       mm/rmap.rs: one mm's published file VMAs and page-table
//!                           alias (truncation, writeback's folio_mkclean); the walk
//!                           takes each PTE table's Page::ptl (above) under it.
//!       PageCache::mappings fs/pagecache.rs: the live address spaces (the list is
//!                           copied out); leaf.
//!       PageAlloc::huge_zero   mm/page_alloc.rs: the huge zero folio
//!                              (mm_get/put_huge_zero_folio).
//!         PageAlloc::free      mm/page_alloc.rs: the free lists (zone->lock); leaf.
//!                              (Direct reclaim, from an allocation, trylocks each
//!                              AddressSpace::inner: never with `free` held.)
//!       PageAlloc::deferred_split  mm/page_alloc.rs: the deferred-split queue
//!                              (ds_queue->split_queue_lock); leaf.
//!       PhysMem::pt_deferred   mm/mod.rs: page-table pages freed while a lockless
//!                              GUP-fast walk may still read them; leaf.
//!       PageTable::deposited   mm/pgtable.rs: PTE tables deposited under huge PMDs
//!                              (pgtable_trans_huge_deposit); leaf.
//! ```
//!
//! Linux's order differs in one place, for now: a system call here holds its task's
//! `mmap_lock` (write) for its whole length, so `mmap_lock` sits above `f_pos_lock` and
//! `i_rwsem`, where Linux takes `i_rwsem` → `mmap_lock` (a fault while copying under
//! `i_rwsem`). The tree is the order of *this* kernel, checked by the tests; it moves
//! to Linux's as system calls stop holding the `mmap_lock`.
//!
//! Every lock below `Machine::kernel` is also taken without it where its owner runs
//! outside the kernel lock (a hart draining its mailbox before user mode, GUP-fast's
//! `PhysMem` walk, unit tests): the order among the others holds there too.
//!
//! Not kernel locks, so not in the table: `lockstat`'s class registry (a raw
//! `parking_lot::Mutex`, a leaf taken inside a lock statistic's first use) and
//! tracing-mutex's own graph lock.

#[cfg(any(test, feature = "lockdep"))]
pub use tracing_mutex::parkinglot::tracing::{
    Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(not(any(test, feature = "lockdep")))]
pub use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use parking_lot::{Condvar, WaitTimeoutResult};

use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// Whether the lock-order checker is on in this build (unit tests, or the `lockdep`
/// feature): `tests/lockdep.rs` asserts that the integration tests have it.
pub const LOCKDEP: bool = cfg!(any(test, feature = "lockdep"));

/// `mutex_trylock()` as lockdep sees it: takes `m` if it is free, without waiting, and
/// records no lock-order dependency on it (a trylock cannot deadlock, so lockdep's
/// `validate_chain()` adds no edge for one). Direct reclaim uses it on locks the
/// allocating caller may hold (this thread's own included, where it simply fails).
///
/// tracing-mutex's own `try_lock` checks like a blocking lock; this one sets a
/// thread-local flag that the checker's cycle handler reads, so a cycle closed by this
/// trylock is not reported. A trylock that closes no cycle still adds its edge, so a
/// *blocking* acquisition in the opposite order is reported afterwards (stricter than
/// lockdep).
pub fn trylock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    #[cfg(any(test, feature = "lockdep"))]
    {
        lockdep::install_cycle_handler();
        let _nodep = lockdep::NoDep::enter();
        m.try_lock()
    }
    #[cfg(not(any(test, feature = "lockdep")))]
    m.try_lock()
}

#[cfg(any(test, feature = "lockdep"))]
mod lockdep {
    use std::cell::Cell;
    use std::sync::Once;

    thread_local! {
        /// This thread is inside [`super::trylock`].
        static IN_TRYLOCK: Cell<bool> = const { Cell::new(false) };
    }

    /// Replaces the checker's default report (a panic) with one that lets a cycle
    /// closed by [`super::trylock`] pass and panics on every other, with the same
    /// message. Done once per host process.
    pub(super) fn install_cycle_handler() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            tracing_mutex::util::set_cycle_handler(|message| {
                if !IN_TRYLOCK.with(Cell::get) {
                    panic!("{message}");
                }
            });
        });
    }

    /// The flag set for a scope (cleared on drop, also when unwinding).
    pub(super) struct NoDep(bool);

    impl NoDep {
        pub(super) fn enter() -> Self {
            Self(IN_TRYLOCK.with(|f| f.replace(true)))
        }
    }

    impl Drop for NoDep {
        fn drop(&mut self) {
            IN_TRYLOCK.with(|f| f.set(self.0));
        }
    }
}

/// A mutex that a [`Condvar`] waits on: a raw `parking_lot::Mutex` (a `Condvar` waits
/// only on parking_lot's own guard), whose place in the lock order is still checked.
///
/// With the checker on, it carries an *order marker*: a checked [`Mutex<()>`] taken just
/// after the raw mutex and released just before it (and around each wait), so the lock
/// graph sees the marker exactly where the raw lock is held. Only the raw lock's holder
/// takes the marker, so the marker itself never waits. With the checker off there is no
/// marker.
#[derive(Debug, Default)]
pub struct CondvarMutex<T> {
    raw: parking_lot::Mutex<T>,
    #[cfg(any(test, feature = "lockdep"))]
    order: Mutex<()>,
}

/// The guard of a [`CondvarMutex`]: derefs to the protected value.
#[derive(Debug)]
pub struct CondvarMutexGuard<'a, T> {
    // Declared first, so dropped first: the marker is released before the raw lock.
    #[cfg(any(test, feature = "lockdep"))]
    order: Option<MutexGuard<'a, ()>>,
    #[cfg(any(test, feature = "lockdep"))]
    marker: &'a Mutex<()>,
    raw: parking_lot::MutexGuard<'a, T>,
}

impl<T> CondvarMutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            raw: parking_lot::Mutex::new(value),
            #[cfg(any(test, feature = "lockdep"))]
            order: Mutex::new(()),
        }
    }

    /// The protected value, taking the mutex apart (no lock needed: it is owned).
    pub fn into_inner(self) -> T {
        self.raw.into_inner()
    }

    /// Takes the lock, waiting for it.
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn lock(&self) -> CondvarMutexGuard<'_, T> {
        self.lock_with(parking_lot::Mutex::lock)
    }

    /// Takes the lock through `take` (given the raw mutex, returns its guard: e.g. a
    /// [`crate::lockstat::LockClass::lock`] that counts contention), then marks it held.
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn lock_with<'a>(
        &'a self,
        take: impl FnOnce(&'a parking_lot::Mutex<T>) -> parking_lot::MutexGuard<'a, T>,
    ) -> CondvarMutexGuard<'a, T> {
        let raw = take(&self.raw);
        CondvarMutexGuard {
            #[cfg(any(test, feature = "lockdep"))]
            order: Some(self.order.lock()),
            #[cfg(any(test, feature = "lockdep"))]
            marker: &self.order,
            raw,
        }
    }
}

impl<T> CondvarMutexGuard<'_, T> {
    /// `cv.wait(guard)`: releases the lock, sleeps until `cv` is notified, and takes the
    /// lock again (checked again).
    pub fn wait(&mut self, cv: &Condvar) {
        #[cfg(any(test, feature = "lockdep"))]
        drop(self.order.take());
        cv.wait(&mut self.raw);
        #[cfg(any(test, feature = "lockdep"))]
        {
            self.order = Some(self.marker.lock());
        }
    }

    /// `cv.wait_for(guard, timeout)`: releases the lock, sleeps until `cv` is notified
    /// or `timeout` passes, and takes the lock again (checked again).
    pub fn wait_for(&mut self, cv: &Condvar, timeout: Duration) -> WaitTimeoutResult {
        #[cfg(any(test, feature = "lockdep"))]
        drop(self.order.take());
        let r = cv.wait_for(&mut self.raw, timeout);
        #[cfg(any(test, feature = "lockdep"))]
        {
            self.order = Some(self.marker.lock());
        }
        r
    }
}

impl<T> Deref for CondvarMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.raw
    }
}

impl<T> DerefMut for CondvarMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Runs `f` and returns its panic message (`None` if it did not panic).
    fn panic_message(f: impl FnOnce()) -> Option<String> {
        let err = catch_unwind(AssertUnwindSafe(f)).err()?;
        let msg = err
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Some(msg)
    }

    #[test]
    fn an_inversion_between_an_mmap_lock_and_a_page_cache_lock_panics() {
        // mmap_lock → i_pages (a fault filling a file page), then i_pages → mmap_lock:
        // the second order closes a cycle, and is refused before it takes the lock.
        let mmap_lock = RwLock::new(0u32);
        let i_pages = Mutex::new(0u32);
        {
            let _m = mmap_lock.read();
            *i_pages.lock() += 1;
        }
        let msg = panic_message(|| {
            let _p = i_pages.lock();
            let _m = mmap_lock.write();
        });
        let msg = msg.expect("the inverted order must panic");
        assert!(msg.contains("cycle"), "{msg}");
        // The panic left no lock held: both are free, and the first order still works.
        assert!(i_pages.try_lock().is_some());
        assert!(mmap_lock.try_write().is_some());
        let _m = mmap_lock.read();
        *i_pages.lock() += 1;
    }

    #[test]
    fn the_order_of_a_condvar_mutex_is_checked_too() {
        // The kernel lock is outermost: taking it while holding a lock below it is an
        // inversion, though the raw mutex it wraps is invisible to the checker.
        let kernel = CondvarMutex::new(());
        let pipe = Mutex::new(());
        {
            let _k = kernel.lock();
            let _p = pipe.lock();
        }
        let msg = panic_message(|| {
            let _p = pipe.lock();
            let _k = kernel.lock();
        });
        assert!(msg.is_some_and(|m| m.contains("cycle")));
        // The raw mutex was taken before the marker panicked, and the unwinding guard
        // released it.
        assert!(kernel.raw.try_lock().is_some());
    }

    #[test]
    fn a_condvar_wait_releases_the_marker_and_takes_it_again() {
        let m = CondvarMutex::new(0u32);
        let cv = Condvar::new();
        let mut g = m.lock();
        assert!(g.wait_for(&cv, Duration::from_millis(1)).timed_out());
        *g += 1;
        assert!(g.order.is_some());
        assert!(m.order.is_locked());
        drop(g);
        assert!(!m.order.is_locked());
        assert_eq!(*m.lock(), 1);
    }

    #[test]
    fn a_trylock_records_no_order_and_fails_on_a_lock_this_thread_holds() {
        // Direct reclaim under one file's lock trylocks every file, its own included.
        let (a, b) = (Mutex::new(()), Mutex::new(()));
        {
            let _a = a.lock();
            assert!(trylock(&a).is_none());
            assert!(trylock(&b).is_some());
        }
        {
            let _b = b.lock();
            assert!(trylock(&a).is_some());
        }
        // tracing-mutex's own try_lock is checked as a blocking lock is.
        let _a = a.lock();
        assert!(panic_message(|| drop(a.try_lock())).is_some_and(|m| m.contains("cycle")));
    }

    #[test]
    fn a_consistent_order_never_panics() {
        let outer = Mutex::new(());
        let inner = RwLock::new(());
        for _ in 0..3 {
            let _o = outer.lock();
            let _i = inner.write();
        }
        let _i = inner.read();
    }
}
