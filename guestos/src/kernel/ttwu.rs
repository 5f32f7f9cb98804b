//! The wake list (`rq->wake_list`, `kernel/sched/core.c`'s `TTWU_QUEUE`): how a hart
//! that released descriptions without the kernel lock hands their final `fput()` to it
//! without waiting for it, and the doorbell idle harts wait on.
//!
//! # Linux's shape
//! `try_to_wake_up()` with `TTWU_QUEUE` does not take a remote CPU's `rq->lock`: it adds
//! the task to that CPU's lock-free `wake_list` (`__ttwu_queue_wakelist()`, an `llist`)
//! and sends an IPI; the run queue's owner takes the whole list (`llist_del_all()`) and
//! enqueues each task under its own lock (`sched_ttwu_pending()`).
//!
//! # Here
//! Each hart's run queue has its own lock (`rq->lock`, `kernel/sched.rs`'s `Rq`) and each
//! task's place among them its own `p->pi_lock`, so a wake-up needs no kernel lock: a
//! hart that served a `futex` wake without it enqueues each woken waiter on its target
//! hart's queue itself (`Machine::wake_up_q`, `sched::Rqs::try_to_wake_up`: it takes the
//! target's `rq->lock` directly, as Linux does without `TTWU_QUEUE`), and the waiter's
//! wait is completed — its saved `a0` and `pc`, its timer and `futex_q` entry, its state
//! in the task table — under the kernel lock when it next runs, as Linux's woken task
//! returns from `futex_wait()` itself. What still goes through this list is what the
//! kernel lock alone may do: the final `fput()` of a description that `close`/`dup3`
//! took out of a table without the lock when its release is the kernel's (a
//! kernel-served file's, a host stream's), and the SIGALRM of an `ITIMER_REAL` that
//! expired on a hart without the lock (`kill_pid_info()` chooses the thread that takes
//! it through the task table, and may exit the group or interrupt a sleeping call; the
//! holder sends it at its next scheduling point, where a hart is at hand: it kicks
//! itself if it is on its way back to user mode). A pipe end's is not: its release wakes the
//! other end's sleepers through the pipe's wait queues, whose waker enqueues them from
//! any hart (`fs/wait.rs`, `SchedWaker`), so it runs where the descriptor was closed.
//! The hart queues them on [`TtwuQueue`], then *tries* the kernel lock: if it gets it,
//! it drains the list itself and goes back to user mode; if another hart holds it, it
//! goes back to user mode at once, and the holder drains the list before it lets the
//! lock go ([`TtwuQueue::unlock`]).
//!
//! # The race, and how it is closed
//! The waker's "queue, then try the lock" and the holder's "drain, then release" can
//! interleave so that the waker's try fails (the lock is held) while the holder has
//! already drained (the entry came after): neither would serve the entry. Linux closes
//! this with the IPI: `llist_add()` tells the waker whether the list was empty, and an
//! empty-to-non-empty transition sends an IPI that the owner cannot miss. Here the
//! holder *re-checks after the release*: it releases the lock, then (after a full
//! fence) looks at the list's count; if anything is pending it tries the lock again and
//! drains (and repeats). The waker, symmetrically, counts its entries, fences, then
//! tries the lock. Both are Dekker's pattern: *store; `fence(SeqCst)`; load* on each
//! side, over the pending count and the lock word. Of the two fences one comes first in
//! the single total order of `SeqCst` fences: if the waker's does, the holder's load
//! after its own fence sees the count; if the holder's does, the waker's try sees the
//! lock released (or taken again by a hart that will re-check at its own release). An
//! entry is therefore always drained by the waker, by the holder it found, or by a
//! later holder: never stranded while the lock is free. A holder's re-check that finds
//! the lock taken again leaves the entry to that holder, which re-checks in turn.
//!
//! The list is `std::sync::mpsc`'s unbounded channel (the lock-free linked blocks of
//! crossbeam-channel's list flavour): any hart sends; the receiver lives in the kernel
//! state, under the kernel lock, so only its holder drains. The count is signed: a
//! drainer may receive an entry before its sender has counted it (the count dips
//! below zero for that moment, and `pending()` asks only for more than zero).
//!
//! # Idle harts
//! A hart with nothing to run waits on the `work` condvar of the kernel lock, whose
//! wait releases the lock without [`TtwuQueue::unlock`]'s re-check. It drains the list
//! just before the wait, under the lock; a waker that queues after that drain finds the
//! lock held, and — some hart being idle — notifies `work` (the IPI of
//! `ttwu_queue_wakelist()`): from the moment the idle hart is queued on the condvar
//! (parking_lot queues the waiter before it releases the mutex) that notification
//! wakes it, and it drains the list when it takes the lock again. What is left is the
//! instant between the drain and the queueing, while the idle hart still holds the
//! lock: a wake-up queued then waits for the next holder — the waker's own next kernel
//! entry, any other hart's, or the idle hart's own, whose wait without a deadline of
//! its own lasts at most [`IDLE_RECHECK`] (a scheduler tick). An event count (a
//! generation the idle hart reads under the kernel lock, then waits past on a mutex of
//! its own after a normal release) closed that instant too, but the woken hart then
//! had to win the kernel lock from a running hart instead of being queued on it by the
//! condvar, and on 2 harts the `futexes` guest ran twice as long (0.28–0.45 s against
//! 0.14–0.21 s): measured, and not kept.

use std::sync::atomic::{fence, AtomicIsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::fs::OpenFile;
use crate::signal::SigInfo;

/// What a hart without the kernel lock hands to the kernel. (Futex waiters it woke
/// are not handed over: it enqueues them itself, `Machine::wake_up_q`.)
pub(super) enum Wakeup {
    /// A description `close`/`dup3` took out of a table whose release is the kernel's
    /// (a kernel-served file, a host stream): the final `fput()`, dropped under the lock.
    Fput(Arc<OpenFile>),
    /// `kill_pid_info(info.signo, SEND_SIG_PRIV, tgid)`: a signal for thread group
    /// `tgid` from a timer that expired without the kernel lock (an `ITIMER_REAL`'s
    /// SIGALRM, `it_real_fn()`), sent by the lock's holder with the task table at its
    /// next scheduling point (`Kernel::deferred_kills`).
    KillPidInfo {
        /// The thread group.
        tgid: u32,
        /// The signal.
        info: SigInfo,
    },
}

/// An entry of the wake list: what, and which hart queued it.
pub(super) struct Queued<E> {
    /// The hart that queued it (`--stats` counts the entries another hart drained).
    pub hart: usize,
    /// The entry.
    pub what: E,
}

/// The producer side of the wake list (`rq->wake_list`), outside the kernel state:
/// every hart queues on it without a lock.
#[derive(Debug)]
pub(super) struct TtwuQueue<E> {
    tx: Sender<Queued<E>>,
    /// Entries sent and not yet received (see the module docs: may dip below zero).
    pending: AtomicIsize,
}

/// The consumer side of the wake list: kept in the state the lock guards, so only the
/// lock's holder drains it.
#[derive(Debug)]
pub(super) struct TtwuPending<E> {
    rx: Receiver<Queued<E>>,
}

/// A new, empty wake list: its producer and consumer sides.
pub(super) fn wake_list<E>() -> (TtwuQueue<E>, TtwuPending<E>) {
    let (tx, rx) = channel();
    (
        TtwuQueue {
            tx,
            pending: AtomicIsize::new(0),
        },
        TtwuPending { rx },
    )
}

impl<E> TtwuQueue<E> {
    /// `__ttwu_queue_wakelist()` for each of `items`, queued by hart `hart`; then a
    /// full fence, so that the caller's next look at the lock word is ordered after
    /// the count (the waker's half of the module docs' race). Returns how many were
    /// queued.
    pub(super) fn queue(&self, hart: usize, items: impl IntoIterator<Item = E>) -> usize {
        let mut n = 0;
        for what in items {
            // The receiver lives as long as the kernel state, which outlives every hart:
            // a send cannot fail while a hart runs.
            if self.tx.send(Queued { hart, what }).is_ok() {
                n += 1;
            }
        }
        self.pending.fetch_add(n as isize, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        n
    }

    /// Whether entries wait to be drained, as seen after a full fence (the holder's
    /// re-check after its release).
    pub(super) fn pending(&self) -> bool {
        fence(Ordering::SeqCst);
        self.pending.load(Ordering::SeqCst) > 0
    }

    /// Releases the lock held by `guard`: drains the list into the locked state
    /// (`drain`, which calls [`TtwuPending::take`]), releases the lock, then re-checks
    /// the list after a full fence; if entries are pending, takes the lock again with
    /// `try_lock` (never waiting: if it is held, its holder re-checks in turn) and
    /// starts over. See the module docs for the race this closes.
    pub(super) fn unlock<G>(
        &self,
        mut guard: G,
        mut drain: impl FnMut(&mut G),
        mut try_lock: impl FnMut() -> Option<G>,
    ) {
        loop {
            drain(&mut guard);
            drop(guard);
            if !self.pending() {
                return;
            }
            match try_lock() {
                Some(g) => guard = g,
                None => return,
            }
        }
    }
}

impl<E> TtwuPending<E> {
    /// `llist_del_all()`: every entry queued so far, in queueing order per hart.
    pub(super) fn take(&self, queue: &TtwuQueue<E>) -> Vec<Queued<E>> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            out.push(e);
        }
        queue
            .pending
            .fetch_sub(out.len() as isize, Ordering::SeqCst);
        out
    }
}

/// The longest an idle hart waits for work without a deadline of its own before it
/// takes the kernel lock again and looks (`kernel.rs`, `idle`): the scheduler tick
/// (`HZ=1000`), which bounds how long a wake-up queued in the instant before its wait
/// can stay on the list (see the module docs, *Idle harts*).
pub(super) const IDLE_RECHECK: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Mutex;
    use std::collections::BTreeSet;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc::channel as std_channel;

    /// The locked state of the tests: the wake list's receiver and what was drained.
    struct State {
        rx: TtwuPending<u32>,
        delivered: Vec<(usize, u32)>,
    }

    fn drain(q: &TtwuQueue<u32>) -> impl FnMut(&mut crate::sync::MutexGuard<'_, State>) + '_ {
        move |g| {
            let items = g.rx.take(q);
            g.delivered
                .extend(items.into_iter().map(|e| (e.hart, e.what)));
        }
    }

    #[test]
    fn a_waker_does_not_wait_for_a_held_lock_and_the_holder_delivers_its_wake() {
        let (q, rx) = wake_list::<u32>();
        let lock = Mutex::new(State {
            rx,
            delivered: Vec::new(),
        });
        let held = lock.lock();
        let (done_tx, done_rx) = std_channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                q.queue(1, [7, 8]);
                let got = lock.try_lock();
                done_tx.send(got.is_some()).ok();
            });
            // The waker finishes while the lock is still held here: it did not wait.
            let took = done_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the waker blocked on the held lock");
            assert!(!took, "the lock was held: the try must fail");
        });
        assert!(q.pending(), "the wakes wait for the holder");
        q.unlock(held, drain(&q), || lock.try_lock());
        assert!(!q.pending());
        assert_eq!(lock.lock().delivered, vec![(1, 7), (1, 8)]);
    }

    #[test]
    fn every_queued_wake_is_delivered_exactly_once_while_holders_come_and_go() {
        const WAKERS: usize = 3;
        const PER_WAKER: u32 = 20_000;
        let (q, rx) = wake_list::<u32>();
        let lock = Mutex::new(State {
            rx,
            delivered: Vec::new(),
        });
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            // A hart taking the lock for work of its own, again and again, releasing it
            // through the protocol.
            s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let g = lock.lock();
                    std::hint::spin_loop();
                    q.unlock(g, drain(&q), || lock.try_lock());
                }
            });
            let wakers: Vec<_> = (0..WAKERS)
                .map(|h| {
                    let (q, lock) = (&q, &lock);
                    s.spawn(move || {
                        for i in 0..PER_WAKER {
                            q.queue(h, [i]);
                            if let Some(g) = lock.try_lock() {
                                q.unlock(g, drain(q), || lock.try_lock());
                            }
                        }
                    })
                })
                .collect();
            for w in wakers {
                w.join().expect("waker");
            }
            stop.store(true, Ordering::SeqCst);
        });
        // Nothing was drained after the last release: whatever is delivered, each
        // release's re-check delivered.
        assert!(!q.pending(), "a wake was stranded on the list");
        let st = lock.lock();
        assert_eq!(st.delivered.len(), WAKERS * PER_WAKER as usize);
        let distinct: BTreeSet<_> = st.delivered.iter().copied().collect();
        assert_eq!(distinct.len(), st.delivered.len(), "a wake delivered twice");
        // Per waker, in the order queued (the list is FIFO).
        for h in 0..WAKERS {
            let mine: Vec<u32> = st
                .delivered
                .iter()
                .filter(|e| e.0 == h)
                .map(|e| e.1)
                .collect();
            assert_eq!(mine, (0..PER_WAKER).collect::<Vec<_>>(), "waker {h}");
        }
    }
}
