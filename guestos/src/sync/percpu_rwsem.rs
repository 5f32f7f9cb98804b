//! The raw reader/writer lock under the `mmap_lock`: Linux's `struct
//! percpu_rw_semaphore` (`kernel/locking/percpu-rwsem.c`), per-hart reader counts and a
//! writer's `block` flag.
//!
//! A reader adds one to its own hart's count (a line no other hart writes) and reads
//! `block`; a writer sets `block` and waits until the counts sum to zero. On the read
//! side no cache line moves between harts, where the one shared word of a classic
//! rwsem moved to each reader in turn: two threads of one process faulting on two
//! harts took the `mmap_lock`'s word from each other twice per page fault. The price is
//! paid by writers (a scan of every hart's count), which `mmap`/`munmap`/`mprotect`
//! take far less often than faults take the read side.
//!
//! **The handshake** (`percpu_down_read()` against `percpu_down_write()`): the reader
//! makes its increment, then reads `block`; the writer sets `block`, then reads the
//! counts — all sequentially consistent, so either the reader sees `block` (and takes
//! its increment back, then waits) or the writer sees the increment (and waits for its
//! release). Linux orders the two sides with RCU (`rcu_sync`) so that its readers need
//! no full barrier; here the reader's increment is a locked instruction on a line only
//! its hart holds, which costs no more than the barrier, and writers need no grace
//! period.
//!
//! **Fairness**: writers first, as in Linux — a reader that finds `block` set backs off
//! and waits until no writer holds or waits, so a stream of faults cannot starve
//! `munmap`. A thread that takes the read side twice while a writer waits deadlocks, as
//! it would on Linux's rwsem (and on `parking_lot`'s, which this replaced).
//!
//! **Counts may go negative per hart**: a reader that releases on another thread than
//! it acquired on (never in the kernel: the guards are not `Send`) would still balance
//! the sum, which is all the writer reads (as Linux's per-CPU `read_count`).
//!
//! The guest OS's one module with `unsafe`: `lock_api`'s raw-lock traits are unsafe to
//! implement (the implementation promises the exclusion their guards rely on); there is
//! no `unsafe` block.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use lock_api::{GuardNoSend, RawRwLock, RawRwLockDowngrade};

use crate::config::MAX_HARTS;
use crate::percpu::this_cpu_slot;

/// One hart's reader count, alone on its cache line (128 bytes: the adjacent-line
/// prefetcher of x86 hosts pairs lines).
#[derive(Debug)]
#[repr(align(128))]
struct ReadCount(AtomicU64);

/// The writer's flag and how many reader counts are in use, on a line of their own
/// (readers only read it, but for a hart's first read).
#[derive(Debug)]
#[repr(align(128))]
struct Block {
    block: AtomicBool,
    /// Counts `0..used` may be non-zero: a writer scans only those (a run's harts, not
    /// all [`MAX_HARTS`]), so a `brk`-heavy guest on 2 harts reads 3 lines per write lock,
    /// not 65.
    used: AtomicUsize,
}

/// `struct percpu_rw_semaphore`: a reader count per hart (count `i + 1` for hart `i`,
/// count 0 for threads that are no hart's, [`this_cpu_slot`]) and the writers' `block`
/// flag. About 8 KiB.
#[derive(Debug)]
pub struct RawPercpuRwLock {
    block: Block,
    read_count: [ReadCount; MAX_HARTS + 1],
}

impl RawPercpuRwLock {
    /// This thread's reader count, made visible to writers' scans first: the widening of
    /// `used` comes before the increment, which comes before the reader reads `block`.
    fn my_count(&self) -> &AtomicU64 {
        let i = (this_cpu_slot() + 1) % (MAX_HARTS + 1);
        if i >= self.block.used.load(Ordering::SeqCst) {
            self.block.used.fetch_max(i + 1, Ordering::SeqCst);
        }
        &self.read_count[i].0
    }

    /// `readers_active_check()`: the readers inside, summed over the counts in use.
    fn readers(&self) -> u64 {
        let used = self.block.used.load(Ordering::SeqCst);
        self.read_count
            .iter()
            .take(used)
            .fold(0u64, |t, c| t.wrapping_add(c.0.load(Ordering::SeqCst)))
    }

    /// Waits (spinning, then yielding the host CPU: [`super::spin_until`]) until `done`.
    fn wait(done: impl FnMut() -> bool) {
        super::spin_until(done);
    }
}

// SAFETY: the read side is held only while the holder's increment is counted and
// `block` is clear (the handshake in the module docs excludes a writer), the write side
// only by the one thread whose compare-and-swap set `block` and who then saw no reader.
unsafe impl RawRwLock for RawPercpuRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        block: Block {
            block: AtomicBool::new(false),
            used: AtomicUsize::new(0),
        },
        read_count: [const { ReadCount(AtomicU64::new(0)) }; MAX_HARTS + 1],
    };

    type GuardMarker = GuardNoSend;

    /// `percpu_down_read()`.
    fn lock_shared(&self) {
        if !self.try_lock_shared() {
            Self::wait(|| self.try_lock_shared());
        }
    }

    /// `percpu_down_read_trylock()`: the increment, then `block`; backs off if a writer
    /// holds or waits.
    fn try_lock_shared(&self) -> bool {
        let count = self.my_count();
        count.fetch_add(1, Ordering::SeqCst);
        if !self.block.block.load(Ordering::SeqCst) {
            return true;
        }
        count.fetch_sub(1, Ordering::SeqCst);
        false
    }

    /// `percpu_up_read()`: what the reader did happens before a writer that sees the
    /// count drop.
    unsafe fn unlock_shared(&self) {
        self.my_count().fetch_sub(1, Ordering::Release);
    }

    /// `percpu_down_write()`: `block` against other writers, then the readers drain
    /// (new ones back off meanwhile).
    fn lock_exclusive(&self) {
        let take = || {
            self.block
                .block
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        };
        if !take() {
            Self::wait(take);
        }
        if self.readers() != 0 {
            Self::wait(|| self.readers() == 0);
        }
    }

    /// `percpu_down_write()` without waiting: fails, holding nothing, if a writer holds
    /// it or a reader is inside.
    fn try_lock_exclusive(&self) -> bool {
        if self
            .block
            .block
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        if self.readers() == 0 {
            return true;
        }
        self.block.block.store(false, Ordering::SeqCst);
        false
    }

    /// `percpu_up_write()`.
    unsafe fn unlock_exclusive(&self) {
        self.block.block.store(false, Ordering::Release);
    }

    fn is_locked(&self) -> bool {
        self.block.block.load(Ordering::SeqCst) || self.readers() != 0
    }
}

// SAFETY: the writer counts itself as a reader before it clears `block`, so no other
// writer gets in between.
unsafe impl RawRwLockDowngrade for RawPercpuRwLock {
    /// `downgrade_write()`.
    unsafe fn downgrade(&self) {
        self.my_count().fetch_add(1, Ordering::SeqCst);
        self.block.block.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lock<T> = lock_api::RwLock<RawPercpuRwLock, T>;

    #[test]
    fn readers_share_a_writer_excludes_and_a_downgrade_keeps_the_read_side() {
        let l = Lock::new(0u64);
        let r1 = l.read();
        let r2 = l.try_read().expect("readers share");
        assert!(l.try_write().is_none(), "a reader keeps writers out");
        assert!(
            l.try_read().is_some(),
            "a failed trywrite left no block behind"
        );
        drop((r1, r2));
        let mut w = l.try_write().expect("free");
        *w = 7;
        assert!(l.try_read().is_none(), "the writer keeps readers out");
        drop(w);
        let w = l
            .try_write()
            .expect("a reader that backed off left no count");
        let r = lock_api::RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 7, "the value the writer stored");
        assert!(l.try_read().is_some(), "downgraded: readers get in");
        assert!(l.try_write().is_none(), "but not writers");
        drop(r);
        assert!(!l.is_locked());
    }

    /// Readers on several threads and writers hammering one counter pair: a writer's two
    /// stores are never seen half done, and every writer's increment is there at the end.
    #[test]
    fn writers_are_exclusive_against_readers_on_other_threads() {
        const WRITES: u64 = 2000;
        let l = Lock::new((0u64, 0u64));
        std::thread::scope(|s| {
            for t in 0..3 {
                let l = &l;
                s.spawn(move || {
                    crate::percpu::set_smp_processor_id(Some(t));
                    for _ in 0..20 * WRITES {
                        let g = l.read();
                        assert_eq!(g.0, g.1, "a reader saw a write half done");
                    }
                    crate::percpu::set_smp_processor_id(None);
                });
            }
            for _ in 0..2 {
                let l = &l;
                s.spawn(move || {
                    for _ in 0..WRITES {
                        let mut g = l.write();
                        g.0 += 1;
                        std::hint::spin_loop();
                        g.1 += 1;
                    }
                });
            }
        });
        assert_eq!(*l.read(), (2 * WRITES, 2 * WRITES));
    }
}
