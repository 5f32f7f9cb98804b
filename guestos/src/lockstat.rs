//! Lock statistics by lock class, after Linux's `CONFIG_LOCK_STAT` (`/proc/lock_stat`,
//! `Documentation/locking/lockstat.rst`): for every class of lock, how often it was
//! taken (`acquisitions`), how often the taker had to wait because someone else held it
//! (`contentions`), and how long those waits took in total (`waittime-total`, here in ns).
//!
//! A class is a `static` [`LockClass`] (Linux's `struct lock_class_key`: one per lock
//! *site*, shared by every instance of that lock), registered the first time one of its
//! locks is taken (`register_lock_class()`). A lock is taken through
//! [`LockClass::acquire`] (or [`LockClass::lock`] for a `parking_lot::Mutex`), which
//! tries the lock first and only on failure times the wait, as `lock_contended()` /
//! `lock_acquired()` do: an uncontended acquisition costs one atomic add, on the taking
//! hart's own slot of the counter (per-CPU, as Linux's `cpu_lock_stats`: a shared counter
//! bounced between the harts' host CPUs at every page fault).
//!
//! The classes: the kernel lock ([`KERNEL_LOCK`], `Machine::lock`), the `mmap_lock` of
//! the unlocked user-fault path, the memory-map calls and every system call's access to
//! user memory ([`MMAP_LOCK`]), the page-table locks ([`PTE_PTL`], the split lock of
//! each PTE-table page; [`PAGE_TABLE_LOCK`], an address space's lock for its upper
//! levels and huge PMDs), and the file locks the file system calls take with or without
//! the kernel lock ([`FILES_LOCK`], [`F_POS_LOCK`], [`I_RWSEM`]), and the futex hash
//! buckets' locks ([`HB_LOCK`]), the run queues' and tasks' scheduler locks ([`RQ_LOCK`],
//! [`PI_LOCK`]) and the harts' timer bases ([`HRTIMER_BASE`]). A finer lock adds its own `static` class beside them and
//! takes its lock through the class, and its line appears in `--stats` and `dirtybit
//! bench faults` with no other change.
//!
//! The counters are host-process-wide, as `/proc/lock_stat` is system-wide: a run reports
//! [`since`] its start ([`snapshot`]), which is exactly its own locking when one machine
//! runs at a time in the host process (the CLI, `dirtybit bench`) and also counts the
//! other machines' when several run at once (the test harness).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};

use crate::percpu::PerCpuCounter;

/// A class of locks and its statistics (Linux's `lock_class` with its
/// `lock_class_stats`). Define one as a `static` per lock site.
#[derive(Debug)]
pub struct LockClass {
    name: &'static str,
    acquisitions: PerCpuCounter,
    contentions: PerCpuCounter,
    wait_ns: PerCpuCounter,
    registered: AtomicBool,
}

/// The kernel lock: the one lock of the machine's kernel state today (`Machine::lock`),
/// taken at every kernel entry (system call, page fault, trap) and by idle harts.
pub static KERNEL_LOCK: LockClass = LockClass::new("kernel_lock");

/// An address space's `mmap_lock` (`MmStruct`), as user faults and the memory-map calls
/// take it (`lock_mm_and_find_vma()`, `syscall::mm_call`), with or without the kernel
/// lock; the other paths under the kernel lock take it uncounted.
pub static MMAP_LOCK: LockClass = LockClass::new("mmap_lock");

/// The split page-table lock of a PTE-table page (`ptlock_ptr()`, in its `struct page`:
/// [`crate::mm::Page`]), taken around installing and changing PTEs
/// (`pte_offset_map_lock()`).
pub static PTE_PTL: LockClass = LockClass::new("ptl");

/// An address space's `mm->page_table_lock`: populating the upper levels
/// (`__pte_alloc()`, `__pmd_alloc()`) and huge PMDs (`pmd_lock()`).
pub static PAGE_TABLE_LOCK: LockClass = LockClass::new("page_table_lock");

/// A descriptor table's lock (`files->file_lock`, [`crate::fs::FilesStruct`]): every
/// look-up, install and close of a descriptor, for the method's own length.
pub static FILES_LOCK: LockClass = LockClass::new("file_lock");

/// An open file description's position lock (`file->f_pos_lock`, `OpenFile`'s state):
/// held around a read, write, seek or getdents of the description.
pub static F_POS_LOCK: LockClass = LockClass::new("f_pos_lock");

/// An inode's lock (`inode->i_rwsem`, `Inode`): its fields, a regular file's data for
/// each piece read or written, a directory's entries.
pub static I_RWSEM: LockClass = LockClass::new("i_rwsem");

/// A futex hash bucket's lock (`hb->lock`, [`crate::futex::FutexHash`]): every wait's
/// queueing (with the word's read), wake, requeue (two at once, in bucket order) and
/// unqueue of a waiter on the bucket, with or without the kernel lock.
pub static HB_LOCK: LockClass = LockClass::new("hb->lock");

/// A wait queue head's lock (`wq_head->lock`, [`crate::fs::WaitQueueHead`]): a sleeper's
/// queueing and removal, and a wake-up's walk, which wakes each task under it
/// (`try_to_wake_up()`: `p->pi_lock`, then `rq->lock`), with or without the kernel lock.
pub static WQ_HEAD_LOCK: LockClass = LockClass::new("wq_head->lock");

/// A hart's run-queue lock (`rq->lock`, the kernel's `sched::Rq`): every enqueue,
/// dequeue, pick and accounting of the hart's queue, and a migration's detach and attach
/// (one queue at a time), with or without the kernel lock.
pub static RQ_LOCK: LockClass = LockClass::new("rq->lock");

/// A task's `p->pi_lock` (hashed by tid in the kernel's `sched::Rqs`): its place in
/// the scheduler — the queue it is on, or its entity while it sleeps — read and changed
/// by `try_to_wake_up()`, a block, an exit and a migration, before the queue's lock.
pub static PI_LOCK: LockClass = LockClass::new("pi_lock");

/// A hart's timer base lock (`hrtimer_cpu_base->lock`, the kernel's
/// `hrtimer::HrtimerBases`): arming a sleeper's timer on the arming hart's base,
/// cancelling it from any hart, and the base's expiry, with or without the kernel lock.
pub static HRTIMER_BASE: LockClass = LockClass::new("hrtimer_base");

/// Every class taken at least once in this host process, in order of first use.
static REGISTRY: Mutex<Vec<&'static LockClass>> = Mutex::new(Vec::new());

impl LockClass {
    /// A class named `name` (shown in `--stats` as `lock <name>`), with zeroed counters.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            acquisitions: PerCpuCounter::new(),
            contentions: PerCpuCounter::new(),
            wait_ns: PerCpuCounter::new(),
            registered: AtomicBool::new(false),
        }
    }

    /// The class's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes a lock of this class: `try_lock()` first; if that fails (someone holds it),
    /// `lock()` and count the acquisition as contended, with the host time it waited.
    /// Returns the guard of whichever succeeded. Works for any lock kind (mutex, rwlock
    /// read or write side, a spinlock): the two closures are its two ways of taking it.
    /// With a deterministic scheduler on this thread, the wait is its scheduling points
    /// ([`crate::sync::acquire_contended`]): tries with other harts run in between.
    pub fn acquire<G>(
        &'static self,
        mut try_lock: impl FnMut() -> Option<G>,
        lock: impl FnOnce() -> G,
    ) -> G {
        self.register();
        let guard = match try_lock() {
            Some(g) => g,
            None => {
                let start = Instant::now();
                let g = crate::sync::acquire_contended(try_lock, lock);
                let waited = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.contentions.add(1);
                self.wait_ns.add(waited);
                g
            }
        };
        self.acquisitions.add(1);
        guard
    }

    /// Takes a lock of this class if it is free (`try_lock` its one try), counting a
    /// success as an acquisition; a failure is neither an acquisition nor a contention
    /// (nobody waited), as `lock_stat` counts a failed `spin_trylock()`.
    pub fn try_acquire<G>(&'static self, try_lock: impl FnOnce() -> Option<G>) -> Option<G> {
        self.register();
        let guard = try_lock()?;
        self.acquisitions.add(1);
        Some(guard)
    }

    /// [`LockClass::acquire`] for a `parking_lot::Mutex`.
    pub fn lock<'a, T>(&'static self, mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        self.acquire(|| mutex.try_lock(), || mutex.lock())
    }

    /// The class's counters now (since the host process started).
    pub fn stats(&self) -> LockClassStats {
        LockClassStats {
            name: self.name,
            acquisitions: self.acquisitions.sum(),
            contentions: self.contentions.sum(),
            wait_ns: self.wait_ns.sum(),
        }
    }

    /// `register_lock_class()`: puts the class in the registry at its first use.
    fn register(&'static self) {
        if self.registered.load(Ordering::Acquire) {
            return;
        }
        let mut reg = REGISTRY.lock();
        if !self.registered.swap(true, Ordering::AcqRel) {
            reg.push(self);
        }
    }
}

/// One class's counters (a `/proc/lock_stat` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockClassStats {
    /// The class's name.
    pub name: &'static str,
    /// Times a lock of the class was taken (`acquisitions`).
    pub acquisitions: u64,
    /// Of those, the times it was held by someone else and the taker waited
    /// (`contentions`).
    pub contentions: u64,
    /// Host nanoseconds spent in those waits, summed (`waittime-total`).
    pub wait_ns: u64,
}

impl LockClassStats {
    /// Host milliseconds waited, in total.
    pub fn wait_ms(&self) -> f64 {
        self.wait_ns as f64 / 1e6
    }

    /// Mean host nanoseconds of a contended wait (`waittime-avg`); 0 with no contention.
    pub fn wait_avg_ns(&self) -> u64 {
        self.wait_ns.checked_div(self.contentions).unwrap_or(0)
    }
}

/// Every registered class's counters now, in order of first use.
pub fn snapshot() -> Vec<LockClassStats> {
    REGISTRY.lock().iter().map(|c| c.stats()).collect()
}

/// Every registered class's counters accumulated since `before` (a [`snapshot`]): the
/// difference, for each class taken at least once since (a class first used after
/// `before` counts from zero).
pub fn since(before: &[LockClassStats]) -> Vec<LockClassStats> {
    snapshot()
        .into_iter()
        .map(|now| match before.iter().find(|b| b.name == now.name) {
            Some(b) => LockClassStats {
                name: now.name,
                acquisitions: now.acquisitions.saturating_sub(b.acquisitions),
                contentions: now.contentions.saturating_sub(b.contentions),
                wait_ns: now.wait_ns.saturating_sub(b.wait_ns),
            },
            None => now,
        })
        .filter(|s| s.acquisitions > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stats_of(list: &[LockClassStats], name: &str) -> Option<LockClassStats> {
        list.iter().find(|s| s.name == name).copied()
    }

    #[test]
    fn an_uncontended_acquisition_counts_no_wait() {
        static CLASS: LockClass = LockClass::new("test_uncontended");
        let m = Mutex::new(5);
        let before = snapshot();
        assert_eq!(
            stats_of(&before, "test_uncontended"),
            None,
            "registered at first use"
        );
        *CLASS.lock(&m) += 1;
        *CLASS.lock(&m) += 1;
        assert_eq!(*m.lock(), 7);
        let s = stats_of(&since(&before), "test_uncontended").expect("registered");
        assert_eq!((s.acquisitions, s.contentions, s.wait_ns), (2, 0, 0));
    }

    #[test]
    fn a_failed_try_lock_is_a_contention_and_its_wait_is_timed() {
        static CLASS: LockClass = LockClass::new("test_contended");
        let got = CLASS.acquire(
            || None,
            || {
                std::thread::sleep(Duration::from_millis(2));
                42
            },
        );
        assert_eq!(got, 42, "the guard of the blocking path is returned");
        let s = CLASS.stats();
        assert_eq!((s.acquisitions, s.contentions), (1, 1));
        assert!(s.wait_ns >= 2_000_000, "waited {} ns", s.wait_ns);
        assert_eq!(s.wait_avg_ns(), s.wait_ns);
    }

    #[test]
    fn a_mutex_held_by_another_thread_is_contended() {
        static CLASS: LockClass = LockClass::new("test_held");
        let m = Mutex::new(0u32);
        let holder = m.lock();
        let (tried, was_tried) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let try_lock = || {
                    let g = m.try_lock();
                    let _ = tried.send(());
                    g
                };
                *CLASS.acquire(try_lock, || m.lock()) += 1;
            });
            // The guard lives until the taker has tried: its try_lock fails and it blocks
            // until the drop.
            was_tried.recv().expect("the taker tried");
            drop(holder);
            t.join().expect("taker");
        });
        let s = CLASS.stats();
        assert_eq!((s.acquisitions, s.contentions), (1, 1));
        assert_eq!(*m.lock(), 1);
    }

    #[test]
    fn since_subtracts_and_omits_idle_classes() {
        static CLASS: LockClass = LockClass::new("test_since");
        let m = Mutex::new(());
        drop(CLASS.lock(&m));
        let before = snapshot();
        assert_eq!(
            stats_of(&since(&before), "test_since"),
            None,
            "no acquisition since"
        );
        drop(CLASS.lock(&m));
        let s = stats_of(&since(&before), "test_since").expect("taken since");
        assert_eq!(s.acquisitions, 1);
        assert_eq!(
            stats_of(&before, "test_since").map(|b| b.acquisitions),
            Some(1)
        );
    }
}
