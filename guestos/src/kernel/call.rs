//! The continuation of a task's system call while it sleeps or is stopped: what Linux
//! keeps on the task's kernel stack (the `poll_wqueues` of a sleeping `ppoll`, the
//! `futex_q` of a `futex_wait()`, a `pipe_write()`'s count so far and its `fdget()`
//! hold) and in `current->restart_block` (a `ppoll`'s deadline). It lives in the task
//! ([`crate::process::TaskRun::call`], behind the task's own lock), not in maps of the kernel by tid: whoever holds the
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
    /// The task's sleeping call ends for good (it is killed, it exits, its sleep is
    /// over): its wait queues, futex waiter and re-issue state are taken out, to be let
    /// go by the caller once the task's lock is dropped — the poll table leaves its
    /// queues (passing an exclusive wake-up on, `finish_wait()`), the waiter is taken
    /// off its bucket. The timer and a stopped call's place stay.
    pub(super) fn forget(&mut self) -> SleepingCall {
        SleepingCall {
            io_wait: self.io_wait.take(),
            futex_q: self.futex_q.take(),
            blocked: self.blocked.take(),
            ..SleepingCall::default()
        }
    }
}

impl Kernel<'_> {
    /// Runs `f` on task `tid`'s sleeping or stopped call ([`SleepingCall`]) under the
    /// task's lock ([`crate::process::Task::run`]), released when `f` returns; `None` if
    /// the task is gone.
    pub(super) fn with_call<R>(
        &self,
        tid: u32,
        f: impl FnOnce(&mut SleepingCall) -> R,
    ) -> Option<R> {
        let t = self.tasks.get(&tid)?;
        let mut run = t.run();
        Some(f(&mut run.call))
    }

    /// Task `tid` sleeps on the wait queues of `pt` (armed with its sleep) from now on;
    /// it leaves those of an earlier sleep first (a table dropped — the old one, or `pt`
    /// of a task that is gone — leaves its queues: `poll_freewait()`).
    pub(super) fn set_io_wait(&mut self, tid: u32, pt: PollTable) {
        let old = self.with_call(tid, |c| c.io_wait.replace(pt));
        drop(old);
    }

    /// Task `tid`'s sleeper timer, if it has one (armed, or fired and not yet acted on).
    pub(super) fn timer(&self, tid: u32) -> Option<Arc<Hrtimer>> {
        self.with_call(tid, |c| c.timer.clone()).flatten()
    }

    /// Arms task `tid`'s sleeper timer at `expires_ns` (CLOCK_MONOTONIC) on this hart's
    /// base (`hrtimer_sleeper_start_expires()`), cancelling the one it had. Nothing for
    /// a task that is gone.
    pub(super) fn timer_start(&mut self, tid: u32, expires_ns: u64) {
        let timers = &self.timers;
        self.with_call(tid, |c| timers.start(&mut c.timer, tid, expires_ns));
    }

    /// Books `timer`, armed by its task's hart (possibly without the kernel lock), as
    /// its task's sleeper timer, cancelling the one it had; a timer of a task that is
    /// gone is cancelled.
    pub(super) fn timer_adopt(&mut self, timer: Arc<Hrtimer>) {
        let timers = &self.timers;
        let tid = timer.tid();
        let mut slot = Some(timer);
        self.with_call(tid, |c| {
            if let Some(t) = slot.take() {
                timers.adopt(&mut c.timer, t);
            }
        });
        timers.cancel(&mut slot);
    }

    /// Whether `timer` is the one booked for its task (a fired timer that is not was
    /// cancelled by the books, or is still being handed to them).
    pub(super) fn timer_is_booked(&self, timer: &Arc<Hrtimer>) -> bool {
        self.timer(timer.tid())
            .is_some_and(|t| Arc::ptr_eq(&t, timer))
    }

    /// Task `tid` no longer sleeps on its timer: it is cancelled
    /// ([`super::hrtimer::HrtimerBases::try_to_cancel`], from whichever base it is on)
    /// and forgotten. Returns it.
    pub(super) fn timer_cancel(&mut self, tid: u32) -> Option<Arc<Hrtimer>> {
        let timers = &self.timers;
        self.with_call(tid, |c| timers.cancel(&mut c.timer))
            .flatten()
    }
}
