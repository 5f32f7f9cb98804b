//! The continuation of a task's system call while it sleeps or is stopped: what Linux
//! keeps on the task's kernel stack (the `poll_wqueues` of a sleeping `ppoll`, the
//! `futex_q` of a `futex_wait()`, a `pipe_write()`'s count so far and its `fdget()`
//! hold) and in `current->restart_block` (a `ppoll`'s deadline). It lives in the task
//! ([`crate::process::Task::call`]), not in maps of the kernel by tid: whoever holds the
//! task holds its call, and a task that goes away takes its call with it
//! ([`SleepingCall::forget`]).

use std::sync::Arc;

use super::poll::BlockedCall;
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
