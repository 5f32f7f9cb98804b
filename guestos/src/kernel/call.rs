//! The continuation of a task's system call while it sleeps or is stopped: what Linux
//! keeps on the task's kernel stack (the `poll_wqueues` of a sleeping `ppoll`, the
//! `futex_q` of a `futex_wait()`, a `pipe_write()`'s count so far and its `fdget()`
//! hold) and in `current->restart_block` (a `ppoll`'s deadline). It lives in the task
//! ([`crate::process::Task::call`]), not in maps of the kernel by tid: whoever holds the
//! task holds its call, and a task that goes away takes its call with it
//! ([`SleepingCall::forget`]).

use std::sync::Arc;

use super::hrtimer::Hrtimer;
use super::poll::BlockedCall;
use super::Kernel;
use crate::fs::PollTable;
use crate::futex::FutexQ;
use crate::percpu::Resume;

/// One task's sleeping or stopped call. Every part is `None` while the task runs in
/// user mode or is runnable with no call in progress.
#[derive(Debug, Default)]
pub(crate) struct SleepingCall {
    /// The wait queues the task sleeps on in an I/O wait ([`crate::process::WaitOn::Io`]),
    /// armed with its sleep ([`crate::fs::WaitTask`]): `poll_wqueues`, or a pipe call's
    /// `wait_queue_entry`.
    pub(super) io_wait: Option<PollTable>,
    /// The waiter it sleeps on in `FUTEX_WAIT` (the `futex_q` on its stack): a waiter a
    /// wake hands back completes the wait only if it is still this one.
    pub(super) futex_q: Option<Arc<FutexQ>>,
    /// The timer it parks on (a futex wait's timeout, a `nanosleep`, a `ppoll`
    /// timeout: the `hrtimer_sleeper` on its stack), armed or fired and not yet acted
    /// on; the timer itself is on a hart's base ([`super::hrtimer::HrtimerBases`]).
    pub(super) timer: Option<Arc<Hrtimer>>,
    /// A sleeping `read`/`write`/`ppoll`/`pselect6`'s state for its re-issue
    /// ([`BlockedCall`]).
    pub(super) blocked: Option<BlockedCall>,
    /// A call stopped at a scheduling point: `(nr, args, where to resume)`; it gets its
    /// place back if it is re-issued as it was.
    pub(super) resume: Option<(u64, [u64; 6], Resume)>,
}

impl SleepingCall {
    /// The task's sleeping call ends for good (it is killed, or exits): it leaves the
    /// wait queues it sleeps on and its futex waiter is dropped (a wake-up it got goes
    /// to no one: an exclusive wake-up is passed on, `finish_wait()`'s
    /// `__wake_up_locked_key()` of an `abort_exclusive_wait()`). Returns the futex waiter,
    /// which the caller takes off its bucket.
    pub(super) fn forget(&mut self) -> Option<Arc<FutexQ>> {
        if let Some(mut pt) = self.io_wait.take() {
            pt.finish(true);
        }
        self.blocked = None;
        self.futex_q.take()
    }
}

impl Kernel<'_> {
    /// Task `tid`'s sleeping or stopped call ([`SleepingCall`]), if the task exists.
    pub(super) fn call(&self, tid: u32) -> Option<&SleepingCall> {
        self.tasks.get(&tid).map(|t| &t.call)
    }

    /// Task `tid`'s sleeping or stopped call, to change.
    pub(super) fn call_mut(&mut self, tid: u32) -> Option<&mut SleepingCall> {
        self.tasks.get_mut(&tid).map(|t| &mut t.call)
    }

    /// Task `tid` sleeps on the wait queues of `pt` (armed with its sleep) from now on;
    /// it leaves those of an earlier sleep first.
    pub(super) fn set_io_wait(&mut self, tid: u32, pt: PollTable) {
        // A table dropped (the old one, or `pt` of a task that is gone) leaves its
        // queues (`poll_freewait()`).
        if let Some(c) = self.call_mut(tid) {
            c.io_wait = Some(pt);
        }
    }

    /// Task `tid`'s sleeper timer, if it has one (armed, or fired and not yet acted on).
    pub(super) fn timer(&self, tid: u32) -> Option<&Arc<Hrtimer>> {
        self.call(tid).and_then(|c| c.timer.as_ref())
    }

    /// Arms task `tid`'s sleeper timer at `expires_ns` (CLOCK_MONOTONIC) on this hart's
    /// base (`hrtimer_sleeper_start_expires()`), cancelling the one it had. Nothing for
    /// a task that is gone.
    pub(super) fn timer_start(&mut self, tid: u32, expires_ns: u64) {
        if let Some(t) = self.tasks.get_mut(&tid) {
            self.timers.start(&mut t.call.timer, tid, expires_ns);
        }
    }

    /// Books `timer`, armed by its task's hart (possibly without the kernel lock), as
    /// its task's sleeper timer, cancelling the one it had; a timer of a task that is
    /// gone is cancelled.
    pub(super) fn timer_adopt(&mut self, timer: Arc<Hrtimer>) {
        match self.tasks.get_mut(&timer.tid()) {
            Some(t) => self.timers.adopt(&mut t.call.timer, timer),
            None => {
                self.timers.cancel(&mut Some(timer));
            }
        }
    }

    /// Whether `timer` is the one booked for its task (a fired timer that is not was
    /// cancelled by the books, or is still being handed to them).
    pub(super) fn timer_is_booked(&self, timer: &Arc<Hrtimer>) -> bool {
        self.timer(timer.tid())
            .is_some_and(|t| Arc::ptr_eq(t, timer))
    }

    /// Task `tid` no longer sleeps on its timer: it is cancelled
    /// ([`super::hrtimer::HrtimerBases::try_to_cancel`], from whichever base it is on)
    /// and forgotten. Returns it.
    pub(super) fn timer_cancel(&mut self, tid: u32) -> Option<Arc<Hrtimer>> {
        let t = self.tasks.get_mut(&tid)?;
        self.timers.cancel(&mut t.call.timer)
    }
}
