//! Wait queues (`include/linux/wait.h`, `kernel/sched/wait.c`): what a task blocked on a
//! file sleeps on, and what the file's state change wakes.
//!
//! A file that can make a caller wait (a pipe's read end waits on `rd_wait`, its write
//! end on `wr_wait`) owns a [`WaitQueueHead`]. A sleeping `read`/`write`/`ppoll` puts
//! one [`WaitQueueEntry`] per file on the heads its file hands out
//! ([`crate::fs::FileOperations::poll_wait`], Linux's `poll_wait()` into a
//! `poll_table`). A change of readiness (`pipe_write()` filling an empty pipe,
//! `pipe_read()` making room, `pipe_release()`) calls [`WaitQueueHead::wake_up`], which
//! takes every entry off the head (`autoremove_wake_function()`) and queues its task on
//! the kernel's [`WakeQ`] (Linux's `wake_q_add()`). The kernel drains the [`WakeQ`]
//! after the call that woke them (`wake_up_q()`): each task becomes runnable through the
//! scheduler's wake path, so a wake-up may preempt.
//!
//! The heads are only touched under the kernel lock (every file operation runs there),
//! so a sleeper registers before any other call can change what it found: no wake-up is
//! lost between the check and the sleep.

use std::sync::Arc;

use crate::sync::Mutex;

/// The kernel's list of tasks woken by wait queues and not yet made runnable
/// (`struct wake_q_head`), by tid, in wake order.
#[derive(Debug, Default)]
pub struct WakeQ {
    tids: Mutex<Vec<u32>>,
}

impl WakeQ {
    /// `wake_q_add()`: task `tid` is to be woken (once, however often it is added).
    pub fn add(&self, tid: u32) {
        let mut q = self.tids.lock();
        if !q.contains(&tid) {
            q.push(tid);
        }
    }

    /// Takes every task queued so far, in the order they were woken.
    pub fn take(&self) -> Vec<u32> {
        std::mem::take(&mut *self.tids.lock())
    }
}

/// One sleeper on a [`WaitQueueHead`] (`struct wait_queue_entry`): the task and the
/// [`WakeQ`] of the kernel it belongs to.
#[derive(Debug, Clone)]
pub struct WaitQueueEntry {
    /// The sleeping task's tid.
    pub tid: u32,
    /// Where a wake-up sends it.
    pub wake_q: Arc<WakeQ>,
}

/// A wait queue (`wait_queue_head_t`): the tasks sleeping until the owner's state changes.
#[derive(Debug, Default)]
pub struct WaitQueueHead {
    entries: Mutex<Vec<WaitQueueEntry>>,
}

impl WaitQueueHead {
    /// `add_wait_queue()`: `entry`'s task sleeps here (a task already here is not added
    /// twice).
    pub fn add(&self, entry: WaitQueueEntry) {
        let mut e = self.entries.lock();
        if !e
            .iter()
            .any(|x| x.tid == entry.tid && Arc::ptr_eq(&x.wake_q, &entry.wake_q))
        {
            e.push(entry);
        }
    }

    /// `remove_wait_queue()`: task `tid` of `wake_q`'s kernel no longer sleeps here (it
    /// woke for another reason: another file, a signal, a timeout, its exit).
    pub fn remove(&self, tid: u32, wake_q: &Arc<WakeQ>) {
        self.entries
            .lock()
            .retain(|x| !(x.tid == tid && Arc::ptr_eq(&x.wake_q, wake_q)));
    }

    /// `wake_up_interruptible_all()` with `autoremove_wake_function()`: every sleeper
    /// leaves the queue and is queued on its kernel's [`WakeQ`], in the order it came.
    pub fn wake_up(&self) {
        let woken = std::mem::take(&mut *self.entries.lock());
        for e in woken {
            e.wake_q.add(e.tid);
        }
    }

    /// `waitqueue_active()`: whether anyone sleeps here.
    pub fn active(&self) -> bool {
        !self.entries.lock().is_empty()
    }
}

/// The wait queues one sleeping call registered on (`struct poll_wqueues`): a head per
/// file it waits for. [`PollTable::free`] takes the task off all of them
/// (`poll_freewait()`).
#[derive(Debug, Default)]
pub struct PollTable {
    heads: Vec<Arc<WaitQueueHead>>,
}

impl PollTable {
    /// `poll_wait()`: the call will sleep on `head` too.
    pub fn poll_wait(&mut self, head: &Arc<WaitQueueHead>) {
        if !self.heads.iter().any(|h| Arc::ptr_eq(h, head)) {
            self.heads.push(Arc::clone(head));
        }
    }

    /// Whether the call waits on no queue at all (nothing but a signal or a timeout can
    /// wake it).
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Puts task `tid` (of the kernel whose wake list is `wake_q`) on every head.
    pub fn arm(&self, tid: u32, wake_q: &Arc<WakeQ>) {
        for h in &self.heads {
            h.add(WaitQueueEntry {
                tid,
                wake_q: Arc::clone(wake_q),
            });
        }
    }

    /// `poll_freewait()`: task `tid` leaves every head it may still be on.
    pub fn free(&self, tid: u32, wake_q: &Arc<WakeQ>) {
        for h in &self.heads {
            h.remove(tid, wake_q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_up_moves_sleepers_to_their_wake_q_once_in_order() {
        let (k1, k2) = (Arc::new(WakeQ::default()), Arc::new(WakeQ::default()));
        let head = Arc::new(WaitQueueHead::default());
        let mut pt = PollTable::default();
        pt.poll_wait(&head);
        pt.poll_wait(&head);
        assert!(!pt.is_empty());
        pt.arm(7, &k1);
        pt.arm(7, &k1);
        pt.arm(3, &k1);
        pt.arm(7, &k2);
        assert!(head.active());
        head.wake_up();
        assert!(
            !head.active(),
            "autoremove: the queue is empty after a wake-up"
        );
        assert_eq!(k1.take(), vec![7, 3], "once each, in the order they slept");
        assert_eq!(k2.take(), vec![7], "each kernel's own task");
        assert!(k1.take().is_empty());
        head.wake_up();
        assert!(k1.take().is_empty(), "no sleeper, no wake-up");
    }

    #[test]
    fn freewait_takes_a_sleeper_off_every_head() {
        let k = Arc::new(WakeQ::default());
        let (a, b) = (
            Arc::new(WaitQueueHead::default()),
            Arc::new(WaitQueueHead::default()),
        );
        let mut pt = PollTable::default();
        pt.poll_wait(&a);
        pt.poll_wait(&b);
        pt.arm(5, &k);
        a.add(WaitQueueEntry {
            tid: 6,
            wake_q: Arc::clone(&k),
        });
        pt.free(5, &k);
        assert!(!b.active());
        a.wake_up();
        assert_eq!(k.take(), vec![6], "only the one still sleeping");
    }
}
