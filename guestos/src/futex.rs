//! Futexes (`kernel/futex/`): the wait queue keyed like Linux's `futex_key`, the
//! decoding and checks of `futex(uaddr, op, val, timeout|val2, uaddr2, val3)` that do not
//! need the scheduler, and the wake/requeue operations.
//!
//! The kernel (`kernel.rs`) does the rest: it reads the futex word, queues the caller
//! and puts it to sleep (`futex_wait_setup()` + `futex_wait_queue()`), completes a woken
//! waiter's call with 0 (`futex_wake_mark()`), a timed-out one with `ETIMEDOUT` and an
//! interrupted one with `EINTR`.
//!
//! Keys (`get_futex_key()`): a private futex (`FUTEX_PRIVATE_FLAG`, or any futex in a
//! private mapping) is `(mm, address)`; a futex in a `MAP_SHARED` mapping without the
//! private flag is `(page frame, offset)`, so processes that map the same page at different
//! addresses meet on it. Linux keys a shared file page by `(inode, index)`; the frame is
//! the same identity while the page is resident, which it is while a waiter sleeps on it
//! in this kernel (no reclaim of mapped shared pages under a sleeping waiter is modelled).

use crate::errno::{Errno, KResult};

/// `FUTEX_WAIT`.
pub const FUTEX_WAIT: u32 = 0;
/// `FUTEX_WAKE`.
pub const FUTEX_WAKE: u32 = 1;
/// `FUTEX_REQUEUE`.
pub const FUTEX_REQUEUE: u32 = 3;
/// `FUTEX_CMP_REQUEUE`.
pub const FUTEX_CMP_REQUEUE: u32 = 4;
/// `FUTEX_WAIT_BITSET`.
pub const FUTEX_WAIT_BITSET: u32 = 9;
/// `FUTEX_WAKE_BITSET`.
pub const FUTEX_WAKE_BITSET: u32 = 10;
/// `FUTEX_PRIVATE_FLAG`.
pub const FUTEX_PRIVATE_FLAG: u64 = 128;
/// `FUTEX_CLOCK_REALTIME`.
pub const FUTEX_CLOCK_REALTIME: u64 = 256;
/// `FUTEX_BITSET_MATCH_ANY`.
pub const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// What a futex word is identified by (`union futex_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// A private futex: the address space ([`crate::mm::Mm::id`]) and the user address.
    Private {
        /// The address space's id.
        mm: u64,
        /// The futex word's user address.
        addr: u64,
    },
    /// A shared futex: the page frame number holding the word and the offset in it.
    Shared {
        /// Page frame number.
        pfn: u64,
        /// Byte offset in the page.
        offset: u64,
    },
}

/// A decoded `futex` op: the command and its flags (`do_futex()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutexOp {
    /// `FUTEX_WAIT`, `FUTEX_WAKE`, …
    pub cmd: u32,
    /// `FUTEX_PRIVATE_FLAG` was given.
    pub private: bool,
    /// `FUTEX_CLOCK_REALTIME` was given (the timeout is against CLOCK_REALTIME).
    pub realtime: bool,
}

/// Decodes `op` as `do_futex()` does.
///
/// # Errors
/// `ENOSYS` for a command this kernel does not implement (`FUTEX_WAKE_OP`, the PI
/// commands, `FUTEX_FD`, unknown ones) and for `FUTEX_CLOCK_REALTIME` with a command other
/// than `FUTEX_WAIT_BITSET` (Linux's rule).
pub fn decode_op(op: u64) -> KResult<FutexOp> {
    let cmd = (op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)) as u32;
    if op >> 32 != 0 {
        return Err(Errno::ENOSYS);
    }
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    match cmd {
        FUTEX_WAIT | FUTEX_WAKE | FUTEX_REQUEUE | FUTEX_CMP_REQUEUE | FUTEX_WAIT_BITSET
        | FUTEX_WAKE_BITSET => {}
        _ => return Err(Errno::ENOSYS),
    }
    if realtime && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    Ok(FutexOp {
        cmd,
        private: op & FUTEX_PRIVATE_FLAG != 0,
        realtime,
    })
}

/// Checks a futex address (`get_futex_key()`): 4-byte aligned.
///
/// # Errors
/// `EINVAL` for a misaligned address.
pub fn check_uaddr(uaddr: u64) -> KResult<()> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A `struct timespec` as nanoseconds (`timespec64_valid()`).
///
/// # Errors
/// `EINVAL` for a negative second count or `tv_nsec` outside `0..1e9`.
pub fn timespec_ns(sec: u64, nsec: u64) -> KResult<u64> {
    if (sec as i64) < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(sec.saturating_mul(1_000_000_000).saturating_add(nsec))
}

/// One sleeping waiter (`struct futex_q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    /// The futex it sleeps on.
    pub key: FutexKey,
    /// The `FUTEX_WAIT_BITSET` bitset (`FUTEX_BITSET_MATCH_ANY` for `FUTEX_WAIT`).
    pub bitset: u32,
    /// Its process.
    pub pid: u32,
    /// Its thread.
    pub tid: u32,
}

/// The futex hash table: every waiter in the order it queued (Linux's per-bucket
/// `plist` of equal-priority waiters is FIFO).
#[derive(Debug, Default)]
pub struct FutexTable {
    waiters: Vec<Waiter>,
}

impl FutexTable {
    /// `futex_queue()`: `pid`/`tid` sleeps on `key` with `bitset`.
    pub fn enqueue(&mut self, key: FutexKey, bitset: u32, pid: u32, tid: u32) {
        self.waiters.push(Waiter {
            key,
            bitset,
            pid,
            tid,
        });
    }

    /// `futex_wake()`: dequeues up to `nr_wake` waiters on `key` whose bitset meets
    /// `bitset`, oldest first, and returns them (the caller completes their calls with 0).
    /// As in Linux, `nr_wake <= 0` still wakes one.
    pub fn wake(&mut self, key: FutexKey, nr_wake: i32, bitset: u32) -> Vec<Waiter> {
        let limit = nr_wake.max(1) as usize;
        let mut woken = Vec::new();
        self.waiters.retain(|w| {
            if woken.len() < limit && w.key == key && w.bitset & bitset != 0 {
                woken.push(*w);
                false
            } else {
                true
            }
        });
        woken
    }

    /// `futex_requeue()` (not PI): wakes up to `nr_wake` waiters on `from` (at least
    /// one, as [`FutexTable::wake`]) and moves up to `nr_requeue` more to `to`. Returns
    /// the woken waiters and how many were requeued.
    pub fn requeue(
        &mut self,
        from: FutexKey,
        to: FutexKey,
        nr_wake: i32,
        nr_requeue: i32,
    ) -> (Vec<Waiter>, u32) {
        let woken = self.wake(from, nr_wake, FUTEX_BITSET_MATCH_ANY);
        let mut moved = 0u32;
        let limit = nr_requeue.max(0) as u32;
        for w in &mut self.waiters {
            if moved >= limit {
                break;
            }
            if w.key == from {
                w.key = to;
                moved += 1;
            }
        }
        (woken, moved)
    }

    /// Takes `pid`/`tid` off whatever futex it waits on (timeout, signal, exit:
    /// `futex_unqueue()`). Returns whether it was queued.
    pub fn remove(&mut self, pid: u32, tid: u32) -> bool {
        let before = self.waiters.len();
        self.waiters.retain(|w| !(w.pid == pid && w.tid == tid));
        self.waiters.len() != before
    }

    /// The key `pid`/`tid` waits on, if it waits.
    pub fn waiting_on(&self, pid: u32, tid: u32) -> Option<FutexKey> {
        self.waiters
            .iter()
            .find(|w| w.pid == pid && w.tid == tid)
            .map(|w| w.key)
    }

    /// Number of queued waiters.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether no one waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(addr: u64) -> FutexKey {
        FutexKey::Private { mm: 1, addr }
    }

    #[test]
    fn decode_rules() {
        assert_eq!(
            decode_op(u64::from(FUTEX_WAIT) | FUTEX_PRIVATE_FLAG),
            Ok(FutexOp {
                cmd: FUTEX_WAIT,
                private: true,
                realtime: false
            })
        );
        assert_eq!(
            decode_op(u64::from(FUTEX_WAIT_BITSET) | FUTEX_CLOCK_REALTIME),
            Ok(FutexOp {
                cmd: FUTEX_WAIT_BITSET,
                private: false,
                realtime: true
            })
        );
        // CLOCK_REALTIME only goes with WAIT_BITSET (and the PI commands).
        assert_eq!(
            decode_op(u64::from(FUTEX_WAIT) | FUTEX_CLOCK_REALTIME),
            Err(Errno::ENOSYS)
        );
        assert_eq!(decode_op(5), Err(Errno::ENOSYS), "FUTEX_WAKE_OP");
        assert_eq!(decode_op(6), Err(Errno::ENOSYS), "FUTEX_LOCK_PI");
        assert_eq!(decode_op(99), Err(Errno::ENOSYS));
        assert_eq!(check_uaddr(0x1002), Err(Errno::EINVAL));
        assert_eq!(check_uaddr(0x1004), Ok(()));
        assert_eq!(timespec_ns(1, 5), Ok(1_000_000_005));
        assert_eq!(timespec_ns(0, 1_000_000_000), Err(Errno::EINVAL));
        assert_eq!(timespec_ns(u64::MAX, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn wake_is_fifo_counted_and_keyed() {
        let mut t = FutexTable::default();
        for tid in 10..14 {
            t.enqueue(k(0x100), FUTEX_BITSET_MATCH_ANY, 1, tid);
        }
        t.enqueue(k(0x104), FUTEX_BITSET_MATCH_ANY, 1, 20);
        t.enqueue(FutexKey::Private { mm: 2, addr: 0x100 }, !0, 2, 30);
        let w: Vec<u32> = t.wake(k(0x100), 2, !0).iter().map(|w| w.tid).collect();
        assert_eq!(w, [10, 11], "oldest first, at most nr_wake");
        // nr_wake 0 still wakes one (futex_wake's ++ret >= nr_wake).
        assert_eq!(t.wake(k(0x100), 0, !0).len(), 1);
        assert_eq!(t.wake(k(0x100), 10, !0).len(), 1);
        assert!(t.wake(k(0x100), 10, !0).is_empty());
        assert_eq!(t.waiting_on(1, 20), Some(k(0x104)));
        assert_eq!(
            t.waiting_on(2, 30).map(|_| ()),
            Some(()),
            "other mm untouched"
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn bitsets_select_waiters() {
        let mut t = FutexTable::default();
        t.enqueue(k(0x100), 0b01, 1, 1);
        t.enqueue(k(0x100), 0b10, 1, 2);
        t.enqueue(k(0x100), 0b11, 1, 3);
        let w: Vec<u32> = t.wake(k(0x100), 10, 0b10).iter().map(|w| w.tid).collect();
        assert_eq!(w, [2, 3]);
        let w: Vec<u32> = t.wake(k(0x100), 10, 0b10).iter().map(|w| w.tid).collect();
        assert!(w.is_empty(), "tid 1 waits on bit 0 only");
        assert_eq!(t.wake(k(0x100), 10, 0b01)[0].tid, 1);
    }

    #[test]
    fn requeue_moves_the_rest() {
        let mut t = FutexTable::default();
        for tid in 1..=5 {
            t.enqueue(k(0x100), !0, 1, tid);
        }
        let (woken, moved) = t.requeue(k(0x100), k(0x200), 1, 2);
        assert_eq!(woken.iter().map(|w| w.tid).collect::<Vec<_>>(), [1]);
        assert_eq!(moved, 2);
        assert_eq!(t.waiting_on(1, 2), Some(k(0x200)));
        assert_eq!(t.waiting_on(1, 3), Some(k(0x200)));
        assert_eq!(t.waiting_on(1, 4), Some(k(0x100)));
        // A wake on the old key now only finds the ones not moved.
        let w: Vec<u32> = t.wake(k(0x100), 10, !0).iter().map(|w| w.tid).collect();
        assert_eq!(w, [4, 5]);
        assert!(t.remove(1, 2));
        assert!(!t.remove(1, 2));
        assert_eq!(t.wake(k(0x200), 10, !0)[0].tid, 3);
        assert!(t.is_empty());
    }
}
