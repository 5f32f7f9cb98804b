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
//! # Scheduling points (deterministic mode)
//! `--sched deterministic` runs one hart at a time: the holder of the baton
//! ([`crate::smp::Baton`]), passed at scheduling points by a seeded choice. For races
//! between two kernel paths to be explorable by seed, every lock acquisition is one: in
//! deterministic mode each hart thread has a [`SchedHook`] ([`crate::smp::BatonHook`],
//! installed by `kernel.rs`'s `hart_main`), and every [`Mutex::lock`], [`RwLock::read`]
//! and [`RwLock::write`] goes through [`acquire`]:
//!
//! - **Before the acquisition**, if the thread is preemptible, a seeded
//!   [`SchedHook::sched_point`]: another hart may run here, so the caller may be parked
//!   *holding* the locks it already has (Linux's preemption of a task holding a mutex or
//!   an rwsem). A held [`CondvarMutex`] — the kernel lock — disables preemption, as a
//!   spinlock does (`preempt_count()`), and so does [`preempt_disable`]; so today the
//!   points fire on paths without the kernel lock: the user-fault path of `run_user`
//!   (`mmap_lock`, page-table and allocator locks), the lockless `gup_fast()` walks run
//!   for gup_test (which also call [`sched_point`] between a speculative reference and
//!   its PTE re-check), a hart draining its mailbox on its way to user mode (preemption
//!   off there: see `smp`).
//! - **A contended acquisition** — `try_lock` fails, so the lock is held by a hart parked
//!   at a scheduling point — does not block the host thread, which would keep the baton
//!   and deadlock with the parked holder. It passes the baton ([`SchedHook::contended`]:
//!   a seeded pick among the *other* ready harts, the holder among them) and tries again
//!   when it holds the baton again. It is allowed with preemption off (a spinning
//!   waiter): the kernel lock itself is taken this way ([`crate::lockstat::LockClass`]
//!   waits through [`acquire_contended`]), so a hart parked in a fault holding the
//!   `mmap_lock` is run on by the system call that wants it. If no other hart is ready,
//!   nobody can ever release the lock: [`acquire`] then blocks as parallel mode would (a
//!   deadlock, which lockdep reports as an order cycle first where it is one).
//!
//! Deadlock between the baton and a held lock is thus ruled out: a hart waits for the
//! baton only at a scheduling point, and for a lock only while no other hart can run. A
//! lock taken without this module's types is no scheduling point: the baton's own lock
//! ([`CondvarMutex::lock`], a raw wait), `lockstat`'s registry, tracing-mutex's graph.
//! Without a hook (parallel mode, other threads) an acquisition costs one relaxed load
//! more than `parking_lot`'s.
//!
//! The seed alone still decides the run: only the baton's holder runs, and whether a
//! `try_lock` succeeds is a function of what the harts did before. The count of
//! contended passes is `--stats`' `baton lock waits`.
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
//!                           call, fault, trap, idle harts). A CondvarMutex. Also
//!                           taken by try, never waiting, with no lock held: a hart
//!                           that queued wake-ups on the wake list (kernel/ttwu.rs,
//!                           Machine::ttwu, lock-free: a std mpsc channel, no lock of
//!                           this table) tries it to drain the list itself, and a
//!                           holder re-checking the list after its release tries it
//!                           again. Its holder drains the list at every acquisition
//!                           and release, under it alone.
//!   Baton::state            smp.rs: the deterministic scheduler's baton (scheduling
//!                           points, idle, wake-ups). A CondvarMutex; leaf. Also taken
//!                           with no lock held (the yield point before the kernel lock)
//!                           and under any other lock of this table (the scheduling
//!                           point of an acquisition, a contended wait: see above).
//!   Task::run               process.rs: a task's state, saved registers and sleeping
//!                           call (TaskRun: Linux's p->__state, the pt_regs and the
//!                           call's locals on its kernel stack). Taken under the kernel
//!                           lock, one task at a time, for as long as a look or a
//!                           change takes: a context switch's save and restore, a
//!                           sleep, a wake-up's completion of the call. Also taken
//!                           with no lock held, by a hart that puts its task to sleep
//!                           in FUTEX_WAIT or switches a task in without the kernel
//!                           lock (kernel/switch.rs): the state, the registers, the
//!                           queue and the park handshake change together under it,
//!                           as Linux's try_to_wake_up() and schedule() meet under
//!                           p->pi_lock and rq->lock. Under it:
//!     HrtimerCpuBase::active  (below) arming or cancelling the sleeper's timer. What
//!                           else leaving the call lets go (its poll table, futex
//!                           waiter, held file) is let go after the task's lock.
//!     Rqs::pi, Rq::cfs      (below) the sleep's deactivate_task() and park, a woken
//!                           sleeper's re-enqueue, the switch's set_next_entity().
//!     FutexHashBucket::chain  (below) a timed-out waiter's futex_unqueue() at its
//!                           switch-in.
//!     SignalStruct::inner   (below) the look at the process's pending signals that
//!                           decides whether the task may sleep or run without the
//!                           kernel lock.
//!     SwitchStash::by_tid   kernel/switch.rs: the handles of tasks put to sleep
//!                           without the kernel lock, by tid: inserted and taken out
//!                           for a task under its lock (so a dying task's entry
//!                           cannot come back), taken with no lock held by a hart
//!                           switching a task in. A leaf.
//!   IdleBell::rung          kernel.rs: an idle hart's doorbell (IdleHarts: Linux's
//!                           reschedule IPI to a CPU in do_idle()). A CondvarMutex;
//!                           leaf. Taken by the idle hart with no lock held (clearing
//!                           it, waiting on it) and by a waker under anything (the
//!                           kernel lock, a wait queue head's lock, a timer expiry).
//!   WaitQueueHead::entries  fs/wait.rs: a wait queue head's lock (wq_head->lock,
//!                           lock class wq_head->lock): a sleeper's queueing
//!                           (prepare_to_wait_event, poll_wait) and removal
//!                           (finish_wait, poll_freewait), a wake-up's walk. Taken
//!                           under the kernel lock or with no lock held (a pipe read,
//!                           write or release served on the hart that trapped); never
//!                           under Pipe::inner (a pipe wakes after it drops its lock).
//!                           One at a time. Held across the wake functions it calls:
//!     Rqs::pi               (below) try_to_wake_up() of each woken sleeper, as Linux's
//!                           __wake_up_common() under wq_head->lock takes p->pi_lock.
//!   Rqs::pi                 kernel/sched.rs: a task's place in the scheduler (p->pi_lock,
//!                           hashed by tid; lock class pi_lock): the queue it is on or
//!                           its entity while asleep. One at a time. Taken under the
//!                           kernel lock (wake-ups, block, exit, exec's tid change) or
//!                           with no lock held (a futex waker without the kernel lock:
//!                           try_to_wake_up(); a hart's newidle/periodic balance), or
//!                           under a wait queue head's lock (a wake-up's walk).
//!     Rq::cfs               kernel/sched.rs: a hart's run queue (rq->lock, lock class
//!                           rq->lock): enqueue, dequeue, pick, update_curr, the
//!                           preemption check, a migration's detach and attach. A
//!                           leaf: nothing is taken under it, and never two at once
//!                           (a migration detaches under the source's and attaches
//!                           under the destination's, one after the other). Also
//!                           taken under the kernel lock alone (the pick, the
//!                           accounting) or with no lock held.
//!   HrtimerCpuBase::active  kernel/hrtimer.rs: a hart's timer base
//!                           (hrtimer_cpu_base->lock, lock class hrtimer_base): arming
//!                           a sleeper's timer on the arming hart's base, a cancel from
//!                           any hart, the base's expiry. A leaf, never two at once
//!                           (the expiry wakes the sleepers after releasing it). Taken
//!                           under the kernel lock (nanosleep, a futex or ppoll
//!                           timeout, a signal's or exit's cancel, the scheduler's
//!                           expiry) or with no lock held (nanosleep's arming and a
//!                           hart's expiry of its own base, kernel.rs run_user), or
//!                           under SignalStruct::inner (below: ITIMER_REAL's arming,
//!                           cancel and re-arm).
//!   FutexHashBucket::chain  futex.rs: a futex hash bucket's lock (hb->lock): a wait's
//!                           queueing with the read of its word, a wake, a requeue, an
//!                           unqueue. Taken under the kernel lock or with no lock held
//!                           (a futex call served on the hart that trapped); never with
//!                           the mmap_lock held: the key is looked up first (under its
//!                           read side, and GUP for a shared futex) and that released,
//!                           as Linux's get_futex_key() comes before futex_q_lock().
//!     FutexHashBucket::chain  a second bucket: a requeue holds both, the lower-numbered
//!                           first (double_lock_hb()).
//!       MmStruct::mmap_lock (below) by trylock only, the read side: the word read with
//!                           page faults disabled (futex_get_value_locked(): a
//!                           hardware-walker load, no fault handled). When it fails the
//!                           bucket lock is dropped and the word read with faults, with
//!                           no bucket lock held, before the next try.
//!   File::state             fs/file.rs: f_pos_lock (read, write, llseek, getdents of
//!                           an open file description), held across the copies to and
//!                           from user memory (the mmap_lock's read side, below).
//!     SeqFile::m            fs/seq_file.rs: a seq_file's buffer and position
//!                           (m->lock); a /proc/<pid>/maps line then takes the
//!                           target's mmap_lock, the caller's not being held.
//!       Pipe::inner         fs/pipe.rs: the pipe's buffers (pipe->mutex), held across
//!                           pipe_read()'s copy_to_user() (a fault takes the mmap_lock,
//!                           as Linux's pipe->mutex → mmap_lock).
//!         MmStruct::mmap_lock  mm/mm_struct.rs: the address space (Mm); per-hart
//!                           reader counts and a writer flag (sync/percpu_rwsem.rs).
//!                           Write: the calls that change the VMAs (brk, mmap, munmap,
//!                           mprotect, mremap, mlock, madvise that changes VMAs), exec,
//!                           exit, fork's dup_mmap of the parent, a fault that grows a
//!                           stack. Read: user faults, the OOM reaper,
//!                           futex keys, every system
//!                           call's copy_{to,from}_user() (taken for the one access,
//!                           with no lock of this table held but those above: see
//!                           `impl UserAccess for &MmStruct`), GUP,
//!                           madvise(MADV_DONTNEED/FREE/REMOVE/…), a target's
//!                           /proc/<pid>/mem and process_vm_*, satp, statistics, OOM
//!                           badness. Never two at once: a remote access drops the
//!                           target's before it takes the caller's. A user fault, a
//!                           memory-map call or a file call on a hart without the
//!                           kernel lock (kernel.rs, `user_fault`, `unlocked_syscall`)
//!                           takes it with no kernel lock held, and never takes the
//!                           kernel lock while holding it.
//!           Vfs::ns_lock    fs/vfs.rs: the namespace (create, link, unlink, rename,
//!                           lookups that must see one tree): s_vfs_rename_mutex.
//!             Inode::inner  fs/inode.rs: an inode's fields and data (i_rwsem) for
//!                           one piece of a read or write (released before the copy
//!                           to user memory); a directory's entries.
//!               AddressSpace::inner  (below: a regular file's data, its truncation)
//!           PageTable::page_table_lock  mm/pgtable.rs: mm->page_table_lock (pmd_lock()):
//!                                 populating an upper-level entry (__pte_alloc), creating,
//!                                 changing, splitting or zapping a huge PMD. Never held
//!                                 with a ptl.
//!             PageTable::deposited, PageAlloc::pcp, PhysMem::pt_deferred (below);
//!             leaves. HartSlot::mailbox (below: pmdp_huge_clear_flush()).
//!           Page::ptl             mm/page_alloc.rs: the split page-table lock of one PTE
//!                                 table (ptlock_ptr(), pte_offset_map_lock()): installing,
//!                                 zapping, write-protecting or re-protecting its PTEs. One
//!                                 at a time. Also under MmRmap::inner (an rmap zap or
//!                                 mkclean of a foreign mm's PTEs).
//!             PageAlloc::deferred_split  (below; a zap's rmap removal); leaf.
//!             HartSlot::mailbox  (below: ptep_clear_flush() shoots the old entry
//!                                 down before it sets the new one).
//!           Mm::uaccess_mmu       mm/mod.rs: the counters of kernel accesses to user
//!                                 memory; leaf.
//!           HartSlot::mailbox     smp.rs: a hart's pending shootdowns (posted by
//!                                 flush_tlb under the mmap_lock, and under a ptl or
//!                                 the page_table_lock by Mm::ptep_clear_flush, drained
//!                                 by the hart);
//!                                 leaf. Waiting for the acknowledgements is a lock in
//!                                 effect, outside this tree: a hart waits only for harts in
//!                                 user mode, which hold no kernel lock.
//!           StdStreams::stdin/stdout/stderr, MemStreams' buffers
//!                                 fs/stdio.rs: the host streams (a piece at a time, the
//!                                 copy from user memory done before); leaves.
//!           Vfs::prng             fs/vfs.rs: /dev/urandom's generator; leaf.
//!           FilesStruct::fdt      fs/fdtable.rs: the descriptor table (files->file_lock),
//!                                 held by each method for its own length; leaf.
//!           FsStruct::inner       fs/fdtable.rs: cwd and umask (fs->lock); leaf.
//!           SignalStruct::inner   process.rs: the thread group (signal->siglock: shared
//!                                 pending, group exit, threads, rlimits, AT_RANDOM, the
//!                                 interval timers); prlimit64 and getrandom copy to and
//!                                 from user memory outside it. Also taken with no lock
//!                                 held (an ITIMER_REAL's expiry on a hart without the
//!                                 kernel lock, kernel/itimer.rs it_real_fn).
//!             HrtimerCpuBase::active  (above) setitimer's cancel and arming of
//!                                 ITIMER_REAL, its expiry's re-arm, as do_setitimer()
//!                                 holds siglock across hrtimer_try_to_cancel() and
//!                                 hrtimer_start(); a leaf.
//!           SigHand::action       signal.rs: the handlers (sighand->siglock); leaf. Also
//!                                 taken with no lock held (rt_sigaction, and a delivery's
//!                                 look, on a hart without the kernel lock).
//!           SigQueueInner::list   signal.rs: a task's own pending signals (task->pending,
//!                                 under siglock in Linux); leaf. Also taken with no lock
//!                                 held (a hart queuing a signal its task sends itself, or
//!                                 taking one it delivers, without the kernel lock).
//!           GupTest::longterm     mm/gup_test.rs: PIN_LONGTERM_BENCHMARK's pins.
//!           AddressSpace::inner   fs/pagecache.rs: one file's page cache (the i_pages lock
//!                                 and i_rwsem in one): faults, read, write, truncation,
//!                                 writeback.
//!             IMmap::mms          mm/rmap.rs: the file's i_mmap list (link, walk: the list
//!                                 is copied out); leaf.
//!             MmRmap::inner       mm/rmap.rs: one mm's published file VMAs and page-table
//!                                 alias (truncation, writeback's folio_mkclean); the walk
//!                                 takes each PTE table's Page::ptl (above) under it.
//!             PageCache::mappings fs/pagecache.rs: the live address spaces (the list is
//!                                 copied out); leaf.
//!             PageAlloc::huge_zero   mm/page_alloc.rs: the huge zero folio
//!                                    (mm_get/put_huge_zero_folio).
//!               PageAlloc::pcp       mm/page_alloc.rs: one hart's free list
//!                                    (per_cpu_pages: its own hart's, or each in turn
//!                                    in drain_all_pages(), never two at once).
//!                 PageAlloc::free    mm/page_alloc.rs: the zone's free lists
//!                                    (zone->lock), under a pcp lock with preemption
//!                                    off; leaf. Also taken without one (a large
//!                                    folio, a thread that is no hart's). (Direct
//!                                    reclaim, from an allocation, trylocks each
//!                                    AddressSpace::inner: never with `free` or a pcp
//!                                    lock held.)
//!             PageAlloc::deferred_split  mm/page_alloc.rs: the deferred-split queue
//!                                    (ds_queue->split_queue_lock); leaf.
//!             PhysMem::pt_deferred   mm/mod.rs: page-table pages freed while a lockless
//!                                    GUP-fast walk may still read them; leaf.
//!             PageTable::deposited   mm/pgtable.rs: PTE tables deposited under huge PMDs
//!                                    (pgtable_trans_huge_deposit); leaf.
//! ```
//!
//! Linux's order, as `mm/filemap.c`'s and `mm/rmap.c`'s headers give it: `f_pos_lock`
//! and `pipe->mutex` above `mmap_lock` (a system call's copy to or from user memory
//! faults under them), no system call holding the `mmap_lock` but those that change the
//! VMAs. One difference: Linux's `generic_perform_write()` copies from user memory under
//! `i_rwsem` (`i_rwsem` → `mmap_lock`, the copy made with page faults disabled and the
//! pages faulted in outside); here a write copies each piece into a kernel buffer before
//! it takes `Inode::inner`, so `Inode::inner` sits below the `mmap_lock`, where a fault
//! on a file mapping and a file `mmap` take it.
//!
//! Every lock below `Machine::kernel` is also taken without it where its owner runs
//! outside the kernel lock (a hart draining its mailbox before user mode, GUP-fast's
//! `PhysMem` walk, unit tests): the order among the others holds there too.
//!
//! Not kernel locks, so not in the table: `lockstat`'s class registry (a raw
//! `parking_lot::Mutex`, a leaf taken inside a lock statistic's first use) and
//! tracing-mutex's own graph lock.

/// The lock implementations the kernel's lock types wrap: tracing-mutex's checked
/// `parking_lot` locks with the checker on, plain `parking_lot` locks without.
mod imp {
    #[cfg(any(test, feature = "lockdep"))]
    pub use tracing_mutex::parkinglot::tracing::{Mutex, MutexGuard};

    #[cfg(not(any(test, feature = "lockdep")))]
    pub use parking_lot::{Mutex, MutexGuard};

    /// The reader/writer lock's raw lock: per-hart reader counts
    /// ([`super::percpu_rwsem`]), wrapped by the checker when it is on.
    #[cfg(any(test, feature = "lockdep"))]
    type RawRwLock = tracing_mutex::lockapi::TracingWrapper<super::percpu_rwsem::RawPercpuRwLock>;
    #[cfg(not(any(test, feature = "lockdep")))]
    type RawRwLock = super::percpu_rwsem::RawPercpuRwLock;

    pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;
    /// The read side of a [`super::RwLock`], held.
    pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
    /// The write side of a [`super::RwLock`], held.
    pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;
}

mod percpu_rwsem;

pub use imp::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};
pub use parking_lot::{Condvar, WaitTimeoutResult};

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Whether the lock-order checker is on in this build (unit tests, or the `lockdep`
/// feature): `tests/lockdep.rs` asserts that the integration tests have it.
pub const LOCKDEP: bool = cfg!(any(test, feature = "lockdep"));

/// The deterministic scheduler as the lock types see it: the thread's scheduling
/// points (see the module docs, *Scheduling points*). Installed per thread with
/// [`set_sched_hook`]; `smp::BatonHook` is the kernel's.
pub trait SchedHook {
    /// A scheduling point at a lock acquisition made with preemption enabled: a seeded
    /// choice may run another thread before this one goes on (and takes the lock).
    fn sched_point(&self);

    /// This thread found the lock it wants held by another thread, which can only be
    /// parked at a scheduling point: run another thread (one that can release it) and
    /// return when this thread runs again, to try again. Returns `false`, having run
    /// nothing, if no other thread can run — nobody will ever release the lock (a
    /// deadlock, or this thread's own lock).
    fn contended(&self) -> bool;
}

thread_local! {
    /// This thread's scheduler ([`set_sched_hook`]).
    static HOOK: RefCell<Option<Rc<dyn SchedHook>>> = const { RefCell::new(None) };
    /// Linux's `preempt_count()`: non-zero while this thread holds a lock that disables
    /// preemption (a [`CondvarMutex`], the kernel lock).
    static PREEMPT_COUNT: Cell<u32> = const { Cell::new(0) };
}

/// Threads with a [`SchedHook`] installed, host-process-wide: while there is none (every
/// parallel-mode run), a lock acquisition does not look for one.
static HOOKED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Installs `hook` as this thread's scheduler (`None`: removes it). Every lock
/// acquisition of the thread from now on goes through it (see the module docs).
pub fn set_sched_hook(hook: Option<Rc<dyn SchedHook>>) {
    let installed = hook.is_some();
    let was = HOOK.with(|h| h.replace(hook)).is_some();
    match (was, installed) {
        (false, true) => {
            HOOKED_THREADS.fetch_add(1, Ordering::SeqCst);
        }
        (true, false) => {
            HOOKED_THREADS.fetch_sub(1, Ordering::SeqCst);
        }
        _ => {}
    }
}

/// This thread's scheduler, if one is installed.
fn sched_hook() -> Option<Rc<dyn SchedHook>> {
    if HOOKED_THREADS.load(Ordering::Relaxed) == 0 {
        return None;
    }
    HOOK.with(|h| h.borrow().clone())
}

/// Whether a scheduling point may run another thread now (`preemptible()`): no lock
/// that disables preemption is held.
pub fn preemptible() -> bool {
    PREEMPT_COUNT.with(Cell::get) == 0
}

/// `preempt_disable()`: no scheduling point fires on this thread while the returned
/// token lives (`preempt_enable()` when it is dropped). For code that must not be parked
/// by the deterministic scheduler though it holds no lock that says so: a hart that
/// already counts as running guest code (see `smp`).
pub fn preempt_disable() -> PreemptDisabled {
    PreemptDisabled::new()
}

/// The token of [`preempt_disable`] (and of a held [`CondvarMutex`]).
#[derive(Debug)]
pub struct PreemptDisabled;

impl PreemptDisabled {
    fn new() -> Self {
        PREEMPT_COUNT.with(|c| c.set(c.get().saturating_add(1)));
        Self
    }
}

impl Drop for PreemptDisabled {
    fn drop(&mut self) {
        PREEMPT_COUNT.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// How long [`spin_until`] spins before it yields the host CPU between checks.
pub const SPIN_BEFORE_YIELD: Duration = Duration::from_micros(50);

/// Waits until `done()` holds, as Linux's `csd_lock_wait()` waits for the
/// acknowledgement of an IPI (`smp_cond_load_acquire()`: a spin with `cpu_relax()`):
/// spinning (`std::hint::spin_loop`) for up to [`SPIN_BEFORE_YIELD`] — another hart
/// answers a shootdown or finishes one within microseconds, a `sched_yield()` per check
/// costs a host system call each and, with more runnable host threads than CPUs, hands
/// the CPU away for a time slice — then yielding between checks (the other hart's host
/// thread may be descheduled). Returns whether it had to wait at all.
pub fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    spin_for(|| done().then_some(())).1
}

/// Tries `attempt` until it gives a value, spinning and then yielding between tries as
/// [`spin_until`] does. Returns the value and whether the first try failed.
///
/// While spinning it tries again after every `spin_loop()` (a `pause`: 25 ns on this
/// project's AMD EPYC host), as `smp_cond_load_acquire()` re-reads after every
/// `cpu_relax()`, and reads the clock once per [`SPIN_CHECKS_PER_CLOCK_READ`] tries. Trying
/// once per 64 pauses (1.6 µs) made a flusher notice an acknowledgement that came in
/// half a microsecond only after 1.6: most of the shootdown waits of `faults threads`
/// on 2 harts ended in that first batch of pauses.
fn spin_for<G>(mut attempt: impl FnMut() -> Option<G>) -> (G, bool) {
    if let Some(g) = attempt() {
        return (g, false);
    }
    let start = std::time::Instant::now();
    while start.elapsed() < SPIN_BEFORE_YIELD {
        for _ in 0..SPIN_CHECKS_PER_CLOCK_READ {
            std::hint::spin_loop();
            if let Some(g) = attempt() {
                return (g, true);
            }
        }
    }
    loop {
        std::thread::yield_now();
        if let Some(g) = attempt() {
            return (g, true);
        }
    }
}

/// Tries [`spin_for`] makes between two reads of the host clock while it spins.
const SPIN_CHECKS_PER_CLOCK_READ: u32 = 64;

/// A scheduling point outside any lock acquisition, where another hart may run before
/// this one goes on (a lockless walk between its speculative reference and its
/// re-check): with a scheduler installed and preemption enabled, [`SchedHook::sched_point`];
/// otherwise nothing.
pub fn sched_point() {
    if let Some(hook) = sched_hook() {
        if preemptible() {
            hook.sched_point();
        }
    }
}

/// Takes a lock: `try_lock` tries it, `lock` waits for it. Without a scheduler on this
/// thread, just `lock()`. With one: a scheduling point first (if preemptible), then
/// `try_lock` until it succeeds, [`SchedHook::contended`] running another thread between
/// two tries; if no other thread can run, `lock()` waits as a parallel run would (a
/// deadlock hangs there as it would in parallel mode, and no seed changes that).
pub fn acquire<G>(try_lock: impl FnMut() -> Option<G>, lock: impl FnOnce() -> G) -> G {
    let Some(hook) = sched_hook() else {
        return lock();
    };
    if preemptible() {
        hook.sched_point();
    }
    wait_contended(&*hook, try_lock, lock)
}

/// The waiting half of [`acquire`], for a caller whose first `try_lock` failed (a lock
/// statistic counting the contention, [`crate::lockstat::LockClass::acquire`]): with a
/// scheduler, tries again with [`SchedHook::contended`] between tries; without, `lock()`.
/// No scheduling point beyond those.
pub fn acquire_contended<G>(try_lock: impl FnMut() -> Option<G>, lock: impl FnOnce() -> G) -> G {
    match sched_hook() {
        Some(hook) => wait_contended(&*hook, try_lock, lock),
        None => lock(),
    }
}

fn wait_contended<G>(
    hook: &dyn SchedHook,
    mut try_lock: impl FnMut() -> Option<G>,
    lock: impl FnOnce() -> G,
) -> G {
    loop {
        if let Some(g) = try_lock() {
            return g;
        }
        if !hook.contended() {
            return lock();
        }
    }
}

/// A kernel mutex (`struct mutex`, `spinlock_t`): `parking_lot`'s, checked for lock
/// order with the checker on, and taken through this thread's scheduler if it has one
/// ([`acquire`]).
#[derive(Default)]
pub struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }

    /// Takes the mutex, waiting for it (a scheduling point in deterministic mode).
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        acquire(|| self.0.try_lock(), || self.0.lock())
    }

    /// Takes the mutex as a `spinlock_t` is taken (`spin_lock()`): as [`Mutex::lock`],
    /// but a waiter in parallel mode spins, then yields the host CPU between tries
    /// ([`spin_until`]'s rhythm), instead of sleeping in the host kernel. For a lock held
    /// for microseconds by a hart that is running (a page-table lock): parking a waiter
    /// costs two host context switches and a wake-up latency longer than the hold, where
    /// Linux's queued spinlock spins. With a scheduler on the thread (deterministic mode)
    /// nothing changes: the scheduler decides who runs while the lock is held.
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn spin_lock(&self) -> MutexGuard<'_, T> {
        acquire(|| self.0.try_lock(), || spin_for(|| self.0.try_lock()).0)
    }

    /// Takes the mutex if it is free (checked as a blocking lock: see [`trylock`] for
    /// lockdep's trylock).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.0.try_lock()
    }

    /// Whether someone holds it now.
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    /// The protected value, through a unique borrow (no lock needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// The protected value, taking the mutex apart.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A kernel reader/writer lock (the `mmap_lock`'s `struct rw_semaphore`): per-hart
/// reader counts and a writer flag, as Linux's `percpu_rw_semaphore`, so that readers on
/// different harts share no written cache line (see [`percpu_rwsem`]); checked for lock
/// order with the checker on, and taken through this thread's scheduler if it has one
/// ([`acquire`]).
#[derive(Default)]
pub struct RwLock<T>(imp::RwLock<T>);

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        Self(imp::RwLock::new(value))
    }

    /// Takes the read side, waiting for it (a scheduling point in deterministic mode).
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        acquire(|| self.0.try_read(), || self.0.read())
    }

    /// Takes the write side, waiting for it (a scheduling point in deterministic mode).
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        acquire(|| self.0.try_write(), || self.0.write())
    }

    /// Takes the read side if no writer holds it.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.0.try_read()
    }

    /// Takes the write side if nobody holds it.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.0.try_write()
    }

    /// Whether someone holds either side now.
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    /// The protected value, through a unique borrow (no lock needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// The protected value, taking the lock apart.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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

/// [`trylock`] for the read side of an [`RwLock`] (`mmap_read_trylock()` as lockdep sees
/// it): no lock-order dependency recorded, so direct reclaim may try the `mmap_lock` of
/// an address space whatever the allocating caller holds — that address space's own
/// `mmap_lock` included (a read taken again succeeds unless a writer holds or waits for
/// it; a write held fails it).
pub fn trylock_read<T>(rw: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
    #[cfg(any(test, feature = "lockdep"))]
    {
        lockdep::install_cycle_handler();
        let _nodep = lockdep::NoDep::enter();
        rw.try_read()
    }
    #[cfg(not(any(test, feature = "lockdep")))]
    rw.try_read()
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
/// Holding one disables preemption: no scheduling point fires at a lock acquisition
/// made under it (see the module docs, *Scheduling points*). [`CondvarMutex::lock`]
/// waits without going through the thread's scheduler (the baton's own lock is one);
/// [`CondvarMutex::lock_with`] waits as its `take` does.
///
/// With the checker on, it carries an *order marker*: a checked [`Mutex<()>`] taken just
/// after the raw mutex and released just before it (and around each wait), so the lock
/// graph sees the marker exactly where the raw lock is held. Only the raw lock's holder
/// takes the marker, so the marker itself never waits (and is taken without the
/// thread's scheduler: the baton's own lock is a `CondvarMutex`). With the checker off there is no
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
    /// Held with preemption disabled (see the module docs, *Scheduling points*).
    _preempt: PreemptDisabled,
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
        self.held(take(&self.raw))
    }

    /// The guard of the raw lock `raw` (this mutex's, just taken): marks it held (the
    /// order marker, preemption off).
    fn held<'a>(&'a self, raw: parking_lot::MutexGuard<'a, T>) -> CondvarMutexGuard<'a, T> {
        CondvarMutexGuard {
            #[cfg(any(test, feature = "lockdep"))]
            order: Some(self.order.0.lock()),
            #[cfg(any(test, feature = "lockdep"))]
            marker: &self.order,
            raw,
            _preempt: PreemptDisabled::new(),
        }
    }

    /// Takes the lock through `try_take` (given the raw mutex, returns its guard if the
    /// lock was free: e.g. a [`crate::lockstat::LockClass::try_acquire`] that counts it),
    /// then marks it held; `None`, having waited for nothing, if it is held. Checked for
    /// lock order as a blocking acquisition (see [`trylock`]).
    ///
    /// # Panics
    /// With the checker on, when taking it now inverts the lock order.
    pub fn try_lock_with<'a>(
        &'a self,
        try_take: impl FnOnce(&'a parking_lot::Mutex<T>) -> Option<parking_lot::MutexGuard<'a, T>>,
    ) -> Option<CondvarMutexGuard<'a, T>> {
        try_take(&self.raw).map(|raw| self.held(raw))
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
            self.order = Some(self.marker.0.lock());
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
            self.order = Some(self.marker.0.lock());
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

    /// Two harts' threads on a baton seeded with `seed`, each taking `shared` ten times
    /// and, while holding it, `inner` (a scheduling point with `shared` held, where the
    /// other hart may run and find `shared` taken). Returns the order in which they held
    /// `shared` and the baton's contended passes.
    fn two_harts_on_a_baton(seed: u64) -> (Vec<usize>, u64) {
        use crate::fs::Prng;
        use crate::smp::{Baton, BatonHook};
        use std::sync::Arc;

        let baton = Arc::new(Baton::new(2, Prng::new(seed)));
        let shared = Mutex::new(Vec::new());
        let inner = Mutex::new(0u32);
        std::thread::scope(|s| {
            for me in 0..2 {
                let (baton, shared, inner) = (&baton, &shared, &inner);
                s.spawn(move || {
                    baton.wait_turn(me);
                    set_sched_hook(Some(Rc::new(BatonHook::new(Arc::clone(baton), me))));
                    for _ in 0..10 {
                        let mut held = shared.lock();
                        held.push(me);
                        *inner.lock() += 1;
                        // Nobody took `shared` while this hart was parked holding it.
                        assert_eq!(held.last(), Some(&me));
                    }
                    set_sched_hook(None);
                    baton.finish(me);
                });
            }
        });
        assert_eq!(*inner.lock(), 20);
        (shared.into_inner(), baton.lock_waits())
    }

    /// [`two_harts_on_a_baton`] on a thread of its own, failing if it has not finished
    /// within a minute: a contended lock that blocked instead of passing the baton hangs.
    fn two_harts_on_a_baton_or_fail(seed: u64) -> (Vec<usize>, u64) {
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(two_harts_on_a_baton(seed));
        });
        result
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("seed {seed}: the two harts did not finish: {e}"))
    }

    #[test]
    fn a_contended_lock_passes_the_baton_and_the_seed_fixes_the_order() {
        let runs: Vec<(Vec<usize>, u64)> = (1..=8).map(two_harts_on_a_baton_or_fail).collect();
        for (seed, run) in (1..=8).zip(&runs) {
            assert_eq!(run.0.len(), 20, "seed {seed}");
            assert_eq!(
                *run,
                two_harts_on_a_baton_or_fail(seed),
                "seed {seed}: a replay"
            );
        }
        // The mechanism ran: some seed parked a hart holding `shared` and the other
        // found it taken, and gave the baton back instead of blocking on it.
        assert!(
            runs.iter().any(|r| r.1 > 0),
            "no seed of eight contended: {runs:?}"
        );
        let orders: std::collections::BTreeSet<&Vec<usize>> = runs.iter().map(|r| &r.0).collect();
        assert!(orders.len() > 1, "eight seeds, one order: {runs:?}");
    }

    #[test]
    fn a_lock_no_other_hart_can_release_is_a_deadlock_not_a_pass() {
        use crate::fs::Prng;
        use crate::smp::Baton;
        // One hart: nobody else can run.
        assert!(!Baton::new(1, Prng::new(1)).contended(0));
        // Two, the other gone: the same.
        let lone = Baton::new(2, Prng::new(1));
        lone.finish(1);
        assert!(!lone.contended(0));
        assert_eq!(lone.lock_waits(), 0);
    }

    #[test]
    fn without_a_scheduler_a_lock_takes_no_scheduling_point() {
        struct Never;
        impl SchedHook for Never {
            fn sched_point(&self) {
                panic!("a scheduling point with preemption disabled");
            }
            fn contended(&self) -> bool {
                panic!("contended on a free lock");
            }
        }
        let kernel = CondvarMutex::new(());
        let m = Mutex::new(1);
        set_sched_hook(Some(Rc::new(Never)));
        {
            // The kernel lock disables preemption: no point fires under it.
            let _k = kernel.lock();
            assert!(!preemptible());
            *m.lock() += 1;
            sched_point();
        }
        assert!(preemptible());
        set_sched_hook(None);
        // Without a hook nothing is asked, preemptible or not.
        *m.lock() += 1;
        sched_point();
        assert_eq!(*m.lock(), 3);
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
