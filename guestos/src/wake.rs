//! The handshake between a task going to sleep and the one waker that ends its sleep
//! (`set_current_state(TASK_INTERRUPTIBLE)` … `schedule()` against `try_to_wake_up()`'s
//! read of `p->__state`), shared by every sleep that a hart without the kernel lock may
//! end: a futex wait ([`crate::futex::FutexQ`]), a timer's sleeper (`kernel/hrtimer.rs`),
//! a wait-queue sleep ([`crate::fs::WaitTask`]).
//!
//! The sleeper queues itself where its waker will find it, then — off its run queue as
//! sleep number `seq` — [`SleepHandshake::park`]s; the waker that took it off that queue
//! (exactly one does) [`SleepHandshake::claim`]s the wake-up. Whichever comes second
//! learns what the first did: a claim before the park makes the park fail (the task must
//! not sleep: nobody would wake it), a park before the claim hands the claimer the sleep
//! number to wake (`try_to_wake_up()` on the task's run queue). One word, swapped or
//! compared-and-swapped, so no wake-up is lost and none is given twice.

use std::sync::atomic::{AtomicU64, Ordering};

/// The word's value once a waker has claimed the wake-up.
const WAKE_CLAIMED: u64 = u64::MAX;

/// One sleep's handshake word: 0 while the task has not gone to sleep, `seq + 1` once it
/// sleeps as its run queue's sleep number `seq`, [`WAKE_CLAIMED`] once a waker claimed it.
#[derive(Debug, Default)]
pub struct SleepHandshake(AtomicU64);

/// What [`SleepHandshake::claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeClaim {
    /// The task sleeps as its run queue's sleep number `seq`: the claimer wakes it.
    Asleep(u64),
    /// The task has not gone to sleep yet: its [`SleepHandshake::park`] fails, and it
    /// does not sleep.
    NotAsleep,
    /// Another waker claimed it first (`try_to_wake_up()` returning 0).
    Claimed,
}

impl SleepHandshake {
    /// A sleep not parked nor claimed yet.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// The task, off its run queue as sleep number `seq`, goes to sleep: `true`; or — a
    /// waker claimed the wake-up before — `false`, and the task must not sleep.
    pub fn park(&self, seq: u64) -> bool {
        let parked = seq.saturating_add(1).min(WAKE_CLAIMED - 1);
        self.0
            .compare_exchange(0, parked, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Claims the wake-up: exactly one caller gets anything but [`WakeClaim::Claimed`].
    pub fn claim(&self) -> WakeClaim {
        match self.0.swap(WAKE_CLAIMED, Ordering::AcqRel) {
            0 => WakeClaim::NotAsleep,
            WAKE_CLAIMED => WakeClaim::Claimed,
            parked => WakeClaim::Asleep(parked - 1),
        }
    }

    /// [`SleepHandshake::claim`] for a waker that wakes only a sleeping task: its sleep
    /// number, or `None` (not asleep yet, or claimed by another).
    pub fn claim_sleeper(&self) -> Option<u64> {
        match self.claim() {
            WakeClaim::Asleep(seq) => Some(seq),
            WakeClaim::NotAsleep | WakeClaim::Claimed => None,
        }
    }

    /// Whether a waker has claimed the wake-up.
    pub fn is_claimed(&self) -> bool {
        self.0.load(Ordering::Acquire) == WAKE_CLAIMED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whichever_comes_second_learns_what_the_first_did() {
        let h = SleepHandshake::new();
        assert!(h.park(9), "nobody claimed: the task sleeps");
        assert_eq!(h.claim(), WakeClaim::Asleep(9));
        assert_eq!(h.claim(), WakeClaim::Claimed, "one claimer only");
        let h = SleepHandshake::new();
        assert_eq!(h.claim_sleeper(), None, "not asleep yet");
        assert!(h.is_claimed());
        assert!(!h.park(3), "claimed first: the task must not sleep");
        let h = SleepHandshake::new();
        assert!(h.park(u64::MAX), "the largest sleep number still parks");
        assert_eq!(h.claim_sleeper(), Some(WAKE_CLAIMED - 2));
    }

    /// A sleeper and a waker racing on many handshakes: exactly one of "the park failed"
    /// and "the claim found it asleep" happens for each.
    #[test]
    fn a_race_gives_exactly_one_outcome() {
        const N: usize = 2000;
        let hs: Vec<SleepHandshake> = (0..N).map(|_| SleepHandshake::new()).collect();
        let (parked, claimed) = std::thread::scope(|s| {
            let p = s.spawn(|| hs.iter().map(|h| h.park(1)).collect::<Vec<_>>());
            let c = s.spawn(|| hs.iter().map(|h| h.claim()).collect::<Vec<_>>());
            (p.join().unwrap(), c.join().unwrap())
        });
        for (p, c) in parked.iter().zip(&claimed) {
            match c {
                WakeClaim::Asleep(1) => assert!(*p),
                WakeClaim::NotAsleep => assert!(!*p),
                other => panic!("unexpected claim {other:?}"),
            }
        }
    }
}
