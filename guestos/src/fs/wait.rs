//! Wait queues (`include/linux/wait.h`, `kernel/sched/wait.c`): what a task blocked on a
//! file sleeps on, and what the file's state change wakes, from any hart.
//!
//! A file that can make a caller wait (a pipe's read end waits on `rd_wait`, its write
//! end on `wr_wait`) owns a [`WaitQueueHead`] (`wait_queue_head_t`): its own lock (lock
//! class [`crate::lockstat::WQ_HEAD_LOCK`], `wq_head->lock`) over a list of
//! [`WaitQueueEntry`]s, each naming the sleeping task's [`WaitTask`] (the task and its
//! wake-up function, `default_wake_function()`) and whether it waits exclusively
//! (`WQ_FLAG_EXCLUSIVE`). A sleeping `read`/`write` queues one exclusive entry on its
//! file's head (`wait_event_interruptible_exclusive()` in `pipe_read()`/`pipe_write()`);
//! a sleeping `ppoll`/`pselect6` one non-exclusive entry per watched file on the heads
//! its files hand out ([`crate::fs::FileOperations::poll_wait`], Linux's `poll_wait()`
//! into a [`PollTable`]), all naming the same [`WaitTask`], so the first wake of any
//! of them ends the sleep (`pollwake()`).
//!
//! # Waking
//! A change of readiness (`pipe_write()` filling an empty pipe, `pipe_read()` making
//! room, `pipe_release()`) calls [`WaitQueueHead::wake_up`] (`__wake_up_common()`):
//! under the head's lock it takes the entries off the list in order
//! (`autoremove_wake_function()`) and calls each one's wake function, which claims the
//! wake-up ([`WaitTask::wake`]) and — the task asleep — makes it runnable with
//! [`TaskWaker::try_to_wake_up`] (the kernel's `try_to_wake_up()`: the task's
//! `p->pi_lock`, its target run queue's `rq->lock`, reached from any hart with or
//! without the kernel lock). Non-exclusive entries are all woken; the walk stops after
//! `nr_exclusive` exclusive entries were woken (0: all of them).
//!
//! # No lost wake-ups
//! A sleeper queues its entries *before* it checks its condition a last time
//! (`prepare_to_wait_event()`, then the check), so a waker that changes the condition
//! after that check finds it queued. Between the queueing and the sleep itself (the
//! task leaving its run queue under the kernel lock's `block()`), a wake-up cannot
//! enqueue a task that is still running: [`WaitTask`] carries the handshake the futex
//! path uses ([`crate::futex::FutexQ`]'s `park`/`claim_wake`, Linux's
//! `set_current_state()` against `try_to_wake_up()`'s read of `p->__state`). The
//! sleeper [`WaitTask::park`]s with its run queue's sleep number once it is off its
//! queue; a waker [`WaitTask::claim`]s the wake-up. If the claim comes first, the park
//! fails and the task does not sleep (its call is re-issued at once); if the park comes
//! first, the claim returns the sleep number and the waker enqueues exactly that sleep.
//! Exactly one waker claims a [`WaitTask`].

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::lockstat;
use crate::sync::{Mutex, MutexGuard};

/// The scheduler's wake-up of a task asleep on a wait queue (`try_to_wake_up()`), callable
/// from any hart, with or without the kernel lock: implemented by the kernel over its
/// run queues.
pub trait TaskWaker: Send + Sync + fmt::Debug {
    /// Task `tid`, asleep as its run queue's sleep number `seq`, becomes runnable: it is
    /// enqueued on the run queue `select_task_rq()` gives, and the hart that should run
    /// it is told (`resched_curr()`, an idle hart's wake-up). A `seq` that is not the
    /// task's current sleep wakes nothing.
    fn try_to_wake_up(&self, tid: u32, seq: u64);
}

pub use crate::wake::WakeClaim;

/// One sleep of one task on wait queues: the task (`wq_entry->private`), its wake-up
/// function (`wq_entry->func`: claim, then [`TaskWaker::try_to_wake_up`]) and the
/// park/claim handshake ([`crate::wake`]). Shared by every entry the sleep queued.
#[derive(Debug)]
pub struct WaitTask {
    tid: u32,
    waker: Arc<dyn TaskWaker>,
    /// 0 while the task has not gone to sleep, `seq + 1` once it sleeps as sleep number
    /// `seq` ([`WaitTask::park`]), [`WAKE_CLAIMED`] once a waker claimed it.
    sleep: crate::wake::SleepHandshake,
}

impl WaitTask {
    /// A new sleep of task `tid`, woken through `waker`.
    pub fn new(tid: u32, waker: Arc<dyn TaskWaker>) -> Arc<WaitTask> {
        Arc::new(WaitTask {
            tid,
            waker,
            sleep: crate::wake::SleepHandshake::new(),
        })
    }

    /// The sleeping task's tid.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// The task, off its run queue as sleep number `seq`, goes to sleep: `true`; or — a
    /// waker claimed the wake-up before — `false`, and the task must not sleep (nobody
    /// would wake it).
    pub fn park(&self, seq: u64) -> bool {
        self.sleep.park(seq)
    }

    /// Claims the wake-up (exactly one caller gets anything but [`WakeClaim::Claimed`]).
    pub fn claim(&self) -> WakeClaim {
        self.sleep.claim()
    }

    /// Whether a waker claimed the wake-up.
    pub fn is_woken(&self) -> bool {
        self.sleep.is_claimed()
    }

    /// `default_wake_function()`: claims the wake-up and, the task asleep, makes it
    /// runnable. Returns whether this call woke it (`try_to_wake_up()`'s "success":
    /// also when it had not gone to sleep yet, as its state was already
    /// `TASK_INTERRUPTIBLE`); `false` if another waker had.
    pub fn wake(&self) -> bool {
        match self.claim() {
            WakeClaim::Asleep(seq) => {
                self.waker.try_to_wake_up(self.tid, seq);
                true
            }
            WakeClaim::NotAsleep => true,
            WakeClaim::Claimed => false,
        }
    }
}

/// One sleeper on a [`WaitQueueHead`] (`struct wait_queue_entry`).
#[derive(Debug, Clone)]
pub struct WaitQueueEntry {
    /// The sleep it belongs to.
    pub task: Arc<WaitTask>,
    /// `WQ_FLAG_EXCLUSIVE`: counted against a wake-up's `nr_exclusive`.
    pub exclusive: bool,
}

/// A wait queue (`wait_queue_head_t`): the tasks sleeping until the owner's state
/// changes, behind the head's own lock (`wq_head->lock`).
#[derive(Debug, Default)]
pub struct WaitQueueHead {
    entries: Mutex<VecDeque<WaitQueueEntry>>,
    /// How many entries the list holds, written under the lock and read without it
    /// (`wq_has_sleeper()`): a waker whose change of the condition is ordered after a
    /// sleeper's check (the owner's lock orders both: `pipe->mutex`) sees the sleeper's
    /// entry counted, so a wake-up of an empty head can skip the lock.
    len: AtomicUsize,
}

impl WaitQueueHead {
    /// `spin_lock(&wq_head->lock)` (class [`lockstat::WQ_HEAD_LOCK`]).
    fn lock(&self) -> MutexGuard<'_, VecDeque<WaitQueueEntry>> {
        lockstat::WQ_HEAD_LOCK.acquire(|| self.entries.try_lock(), || self.entries.lock())
    }

    /// `add_wait_queue()` / `add_wait_queue_exclusive()`: a non-exclusive entry goes
    /// first, an exclusive one last (`prepare_to_wait_event()`), so a wake-up reaches
    /// every non-exclusive sleeper before it counts exclusive ones. A sleep already here
    /// is not added twice.
    pub fn add(&self, entry: WaitQueueEntry) {
        let mut e = self.lock();
        if e.iter().any(|x| Arc::ptr_eq(&x.task, &entry.task)) {
            return;
        }
        if entry.exclusive {
            e.push_back(entry);
        } else {
            e.push_front(entry);
        }
        self.len.store(e.len(), Ordering::SeqCst);
    }

    /// `remove_wait_queue()` / `finish_wait()`: sleep `task` no longer waits here (it
    /// woke for another reason: another file, a signal, a timeout, its exit).
    pub fn remove(&self, task: &Arc<WaitTask>) {
        if self.len.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut e = self.lock();
        e.retain(|x| !Arc::ptr_eq(&x.task, task));
        self.len.store(e.len(), Ordering::SeqCst);
    }

    /// `__wake_up(wq_head, TASK_INTERRUPTIBLE, nr_exclusive, key)` with
    /// `autoremove_wake_function()`: under the head's lock, each entry in order leaves
    /// the queue and its task is woken ([`WaitTask::wake`]); after `nr_exclusive`
    /// exclusive entries were woken the walk stops (0: no limit). An entry whose sleep
    /// another head's waker already woke leaves too (nothing can wake it again) and is
    /// not counted. Returns how many tasks this wake-up woke.
    pub fn wake_up_nr(&self, nr_exclusive: usize) -> usize {
        if !self.active() {
            return 0;
        }
        let mut q = self.lock();
        let mut left = nr_exclusive;
        let mut woken = 0;
        while let Some(e) = q.pop_front() {
            if !e.task.wake() {
                continue;
            }
            woken += 1;
            if e.exclusive && left != 0 {
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        self.len.store(q.len(), Ordering::SeqCst);
        woken
    }

    /// `wake_up_interruptible_sync_poll()`: every non-exclusive sleeper and one
    /// exclusive one. Returns how many it woke.
    pub fn wake_up(&self) -> usize {
        self.wake_up_nr(1)
    }

    /// `wake_up_interruptible_all()`: every sleeper. Returns how many it woke.
    pub fn wake_up_all(&self) -> usize {
        self.wake_up_nr(0)
    }

    /// `wq_has_sleeper()`: whether anyone sleeps here, read without the head's lock
    /// after a full fence (see [`WaitQueueHead::len`]).
    pub fn active(&self) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.len.load(Ordering::SeqCst) != 0
    }
}

/// The wait queues one sleeping call registered on (`struct poll_wqueues`): a head per
/// file it waits for, and, once armed, the sleep queued on them. [`PollTable::free`]
/// takes it off all of them (`poll_freewait()`).
#[derive(Debug, Default)]
pub struct PollTable {
    heads: Vec<Arc<WaitQueueHead>>,
    armed: Option<(Arc<WaitTask>, bool)>,
}

impl PollTable {
    /// `poll_wait()`: the call will sleep on `head` too (and, armed, sleeps there now).
    pub fn poll_wait(&mut self, head: &Arc<WaitQueueHead>) {
        if self.heads.iter().any(|h| Arc::ptr_eq(h, head)) {
            return;
        }
        if let Some((task, exclusive)) = &self.armed {
            head.add(WaitQueueEntry {
                task: Arc::clone(task),
                exclusive: *exclusive,
            });
        }
        self.heads.push(Arc::clone(head));
    }

    /// Whether the call waits on no queue at all (nothing but a signal or a timeout can
    /// wake it).
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Queues sleep `task` on every head so far and on those [`PollTable::poll_wait`]
    /// adds later, `exclusive`ly or not (`prepare_to_wait_event()`; the poll table's
    /// `__pollwait()`). An earlier sleep armed here leaves first.
    pub fn arm(&mut self, task: Arc<WaitTask>, exclusive: bool) {
        self.free();
        for h in &self.heads {
            h.add(WaitQueueEntry {
                task: Arc::clone(&task),
                exclusive,
            });
        }
        self.armed = Some((task, exclusive));
    }

    /// The sleep armed here, if any.
    pub fn task(&self) -> Option<&Arc<WaitTask>> {
        self.armed.as_ref().map(|(t, _)| t)
    }

    /// `poll_freewait()` / `finish_wait()`: the armed sleep leaves every head it may
    /// still be on. If it was woken exclusively and ends without acting on that
    /// wake-up (a signal, a timeout, its exit: the caller knows), `pass_on` hands the
    /// wake-up on to the next exclusive sleeper of each head, as `___wait_event()`
    /// does when a woken exclusive waiter takes a signal. Returns whether the sleep had
    /// been woken.
    pub fn finish(&mut self, pass_on: bool) -> bool {
        let Some((task, exclusive)) = self.armed.take() else {
            return false;
        };
        for h in &self.heads {
            h.remove(&task);
        }
        // A waker that took the entry claimed under the head's lock: after the
        // removals, every claim that will ever come from these heads has come.
        let woken = task.is_woken();
        if woken && exclusive && pass_on {
            for h in &self.heads {
                h.wake_up();
            }
        }
        woken
    }

    /// `poll_freewait()`: [`PollTable::finish`] of a sleep whose wake-up is acted on
    /// (or was never had).
    pub fn free(&mut self) {
        self.finish(false);
    }
}

/// A table dropped takes its armed sleep off every head (`poll_freewait()` at the end
/// of `do_sys_poll()`), so no entry outlives the call that queued it.
impl Drop for PollTable {
    fn drop(&mut self) {
        self.free();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A scheduler that records who it woke, as `(tid, seq)`.
    #[derive(Debug, Default)]
    pub(crate) struct Recorder(pub Mutex<Vec<(u32, u64)>>);

    impl TaskWaker for Recorder {
        fn try_to_wake_up(&self, tid: u32, seq: u64) {
            self.0.lock().push((tid, seq));
        }
    }

    impl Recorder {
        pub(crate) fn take(&self) -> Vec<u32> {
            std::mem::take(&mut *self.0.lock())
                .into_iter()
                .map(|(t, _)| t)
                .collect()
        }
    }

    /// Task `tid`'s sleep, parked as sleep number `seq`.
    pub(crate) fn asleep(rec: &Arc<Recorder>, tid: u32, seq: u64) -> Arc<WaitTask> {
        let t = WaitTask::new(tid, Arc::clone(rec) as Arc<dyn TaskWaker>);
        assert!(t.park(seq));
        t
    }

    fn entry(task: &Arc<WaitTask>, exclusive: bool) -> WaitQueueEntry {
        WaitQueueEntry {
            task: Arc::clone(task),
            exclusive,
        }
    }

    #[test]
    fn a_wake_up_wakes_every_non_exclusive_sleeper_and_one_exclusive_one() {
        let rec = Arc::new(Recorder::default());
        let head = WaitQueueHead::default();
        let (r1, r2, p1, p2) = (
            asleep(&rec, 1, 0),
            asleep(&rec, 2, 0),
            asleep(&rec, 10, 0),
            asleep(&rec, 11, 0),
        );
        head.add(entry(&r1, true));
        head.add(entry(&p1, false));
        head.add(entry(&r2, true));
        head.add(entry(&p2, false));
        head.add(entry(&r1, true));
        assert_eq!(head.wake_up(), 3);
        assert_eq!(
            rec.take(),
            vec![11, 10, 1],
            "pollers first (added at the head), then the first exclusive sleeper only"
        );
        assert!(head.active(), "the second reader still sleeps");
        assert!(!r2.is_woken());
        assert_eq!(head.wake_up_all(), 1);
        assert_eq!(rec.take(), vec![2]);
        assert!(!head.active(), "autoremove: the queue is empty");
        assert_eq!(head.wake_up_all(), 0, "no sleeper, no wake-up");
    }

    #[test]
    fn a_sleep_on_several_heads_is_woken_once_by_the_first() {
        let rec = Arc::new(Recorder::default());
        let (a, b) = (
            Arc::new(WaitQueueHead::default()),
            Arc::new(WaitQueueHead::default()),
        );
        let t = asleep(&rec, 5, 3);
        let mut pt = PollTable::default();
        pt.poll_wait(&a);
        pt.arm(Arc::clone(&t), false);
        pt.poll_wait(&b);
        pt.poll_wait(&b);
        assert!(
            a.active() && b.active(),
            "armed on heads added before and after"
        );
        assert_eq!(b.wake_up(), 1);
        assert_eq!(*rec.0.lock(), vec![(5, 3)], "woken as its sleep number");
        assert_eq!(a.wake_up(), 0, "pollwake(): the first wake ended the sleep");
        assert_eq!(rec.take(), vec![5]);
        assert!(pt.finish(true), "woken");
        assert!(!a.active() && !b.active());
    }

    #[test]
    fn a_wake_between_queueing_and_sleeping_is_not_lost() {
        let rec = Arc::new(Recorder::default());
        let head = WaitQueueHead::default();
        let t = WaitTask::new(7, Arc::clone(&rec) as Arc<dyn TaskWaker>);
        head.add(entry(&t, true));
        // The waker comes before the sleeper left its run queue.
        assert_eq!(head.wake_up(), 1, "counted as a wake-up: it will not sleep");
        assert!(
            rec.take().is_empty(),
            "nothing to enqueue: it is still running"
        );
        assert!(!t.park(4), "the sleeper sees the claim and does not sleep");
        // Sleeping first, then woken: enqueued once, as the sleep it parked as.
        let t = WaitTask::new(7, Arc::clone(&rec) as Arc<dyn TaskWaker>);
        head.add(entry(&t, true));
        assert!(t.park(9));
        assert_eq!(t.claim(), WakeClaim::Asleep(9));
        assert_eq!(t.claim(), WakeClaim::Claimed);
        assert_eq!(head.wake_up(), 0, "claimed by another waker: not counted");
        assert!(rec.take().is_empty());
    }

    #[test]
    fn a_wake_racing_the_queueing_from_another_thread_is_never_lost() {
        // The sleeper's protocol: queue, check the condition, park; the waker's: set
        // the condition, wake. Whatever the interleaving, the sleeper either sees the
        // condition, fails to park, or is enqueued by the waker.
        for round in 0..2000u64 {
            let rec = Arc::new(Recorder::default());
            let head = Arc::new(WaitQueueHead::default());
            let cond = Arc::new(AtomicBool::new(false));
            let t = WaitTask::new(1, Arc::clone(&rec) as Arc<dyn TaskWaker>);
            let waker = {
                let (head, cond) = (Arc::clone(&head), Arc::clone(&cond));
                std::thread::spawn(move || {
                    cond.store(true, Ordering::SeqCst);
                    head.wake_up();
                })
            };
            head.add(entry(&t, true));
            let slept = !cond.load(Ordering::SeqCst) && t.park(round);
            waker.join().unwrap();
            if slept {
                assert_eq!(*rec.0.lock(), vec![(1, round)], "round {round}: lost");
            } else {
                assert!(
                    rec.0.lock().is_empty(),
                    "round {round}: a running task woken"
                );
            }
        }
    }

    #[test]
    fn a_sleep_ended_by_a_signal_or_timeout_leaves_and_passes_an_exclusive_wake_on() {
        let rec = Arc::new(Recorder::default());
        let head = Arc::new(WaitQueueHead::default());
        let (a, b) = (asleep(&rec, 1, 0), asleep(&rec, 2, 0));
        let mut pa = PollTable::default();
        pa.poll_wait(&head);
        pa.arm(Arc::clone(&a), true);
        let mut pb = PollTable::default();
        pb.poll_wait(&head);
        pb.arm(Arc::clone(&b), true);
        // A timeout ends b's sleep before any wake-up: it leaves, nothing is woken.
        assert!(!pb.finish(true));
        assert_eq!(head.wake_up(), 1);
        assert_eq!(rec.take(), vec![1]);
        // a was woken exclusively but a signal ends its call: the wake-up goes on to the
        // next exclusive sleeper.
        let c = asleep(&rec, 3, 0);
        let mut pc = PollTable::default();
        pc.poll_wait(&head);
        pc.arm(Arc::clone(&c), true);
        assert!(pa.finish(true));
        assert_eq!(rec.take(), vec![3], "passed on");
        assert!(pc.finish(false));
        assert!(!head.active());
    }
}
