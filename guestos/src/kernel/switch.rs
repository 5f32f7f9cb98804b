//! Sleeping and switching tasks without the kernel lock: `futex_wait()`'s `schedule()`
//! on the hart that trapped, as Linux's runs under the run queue's lock alone.
//!
//! A `FUTEX_WAIT` served without the kernel lock ([`super::unlocked_syscall`]) that must
//! sleep is queued on its hash bucket there. Before this module it then went to the
//! kernel lock to block and to pick the next task; now the hart does both itself when
//! nothing else is at stake ([`Machine::futex_sleep_unlocked`],
//! [`Machine::pick_unlocked`]), and the kernel lock is taken only when the next task
//! needs it (a signal to deliver, a call to re-issue, a task the locked scheduler
//! switched out, an empty queue to balance or idle on).
//!
//! # The sleep
//! Under the sleeper's own lock (`Task::run`, Linux's `p->pi_lock` around `p->__state`):
//! the state must still be runnable (a killer under the kernel lock marks a dying task a
//! zombie first), no signal may be pending (a sender queues its signal *before* it looks
//! at the state under the same lock, so either the sleeper sees the signal here and
//! leaves the sleep to the kernel lock, or the sender sees the sleeper blocked and
//! interrupts the sleep itself), then: state `Blocked(Futex)`, registers saved, waiter
//! and timer in the task's [`SleepingCall`], off the run queue (`deactivate_task()`,
//! under `p->pi_lock` and `rq->lock`, below the task's lock) and the park handshake with
//! the waker and the timer (a wake-up that came meanwhile ends the sleep at once). The
//! hart keeps what it needs to run the task again ([`UnlockedFaults`]) in the
//! [`SwitchStash`] by tid, inserted under the task's lock.
//!
//! # The switch
//! The hart's queue's leftmost task is taken if it has a stash (it went to sleep here,
//! so its handles are all at hand without the task table), and under its lock it is
//! runnable or a futex or timer sleeper whose wake-up came (its call is completed as
//! the kernel lock's `pick_next_task()` completes it: [`end_woken_sleep`], shared).
//! It becomes the queue's running task (`set_next_entity()`), the hart's `curr`
//! ([`OnHart`]), its registers, `satp` and tag-check state are loaded, and the hart
//! goes back to user mode unless it was kicked. Anything else — no stash (the task
//! last ran through the kernel lock, which takes the stash away whenever it switches a
//! task in), a signal pending, a thread group being killed, the budget — and the hart
//! takes the kernel lock, whose scheduler picks as before.
//!
//! # Killers
//! A task dies under the kernel lock: [`Kernel::zap_begin`] counts a kill in progress
//! before the killer looks at which harts run the group's tasks, and the dying task is
//! marked a zombie under its own lock before its stash is dropped
//! ([`Kernel::release_thread`]). A hart switching a task in publishes it in [`OnHart`]
//! first and then checks that no kill is in progress and the task is alive: either the
//! killer sees the hart running it (and kicks it out of user mode, as for any running
//! task), or the switch sees the kill and leaves the task to the kernel lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use emu::Hart;

use super::hrtimer::HrtimerBases;
use super::{
    account_user_time, flush_pending, switch_mm, Kernel, Machine, SleepingCall, UnlockedFaults,
    UnlockedSleep,
};
use crate::errno::Errno;
use crate::futex::{FutexHash, FutexSleep};
use crate::process::{TaskRun, TaskState, WaitOn};
use crate::smp::Smp;
use crate::sync::Mutex;

/// Which task's registers are live in which hart (`rq->curr` as the rest of the kernel
/// reads it, Linux's `cpu_curr()`): one atomic per hart, tid or 0 for none, written by
/// the hart itself (with or without the kernel lock) and by a killer under the kernel
/// lock that takes a dying task from a hart it stopped ([`OnHart::clear_if`]); read by
/// signal senders to kick the hart running a target.
#[derive(Debug)]
pub(super) struct OnHart(Vec<AtomicU32>);

impl OnHart {
    /// `harts` harts, running nothing.
    pub(super) fn new(harts: usize) -> Self {
        OnHart((0..harts).map(|_| AtomicU32::new(0)).collect())
    }

    /// The task live in hart `h`, if any.
    pub(super) fn get(&self, h: usize) -> Option<u32> {
        let t = self.0.get(h)?.load(Ordering::SeqCst);
        (t != 0).then_some(t)
    }

    /// Task `tid` (or none) is live in hart `h` from now on.
    pub(super) fn set(&self, h: usize, tid: Option<u32>) {
        if let Some(c) = self.0.get(h) {
            c.store(tid.unwrap_or(0), Ordering::SeqCst);
        }
    }

    /// Hart `h` no longer runs task `tid`, if it still does; `false` if it runs another
    /// (or none).
    pub(super) fn clear_if(&self, h: usize, tid: u32) -> bool {
        self.0.get(h).is_some_and(|c| {
            c.compare_exchange(tid, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
    }

    /// The number of harts.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The first hart but `but` on which task `tid` is live.
    pub(super) fn find(&self, tid: u32, but: usize) -> Option<usize> {
        (0..self.len()).find(|&h| h != but && self.get(h) == Some(tid))
    }
}

/// What a hart that put a task to sleep without the kernel lock kept to run it again
/// without the lock ([`Machine::pick_unlocked`]): the task's handles, by tid, behind
/// their own lock (lock class `switch_stash`, a leaf; taken under the task's
/// `Task::run` when an entry is inserted or dropped for a task, alone when a hart
/// takes one). An entry exists only while its task is off every hart after such a
/// sleep: whoever switches the task in takes it (the kernel lock's `switch_to()` drops
/// it), and a task that dies loses it ([`Kernel::release_thread`]).
pub(super) struct SwitchStash<'m> {
    by_tid: Mutex<BTreeMap<u32, UnlockedFaults<'m>>>,
    /// Kills in progress under the kernel lock ([`Kernel::zap_begin`]).
    zapping: AtomicUsize,
}

impl<'m> SwitchStash<'m> {
    pub(super) fn new() -> Self {
        SwitchStash {
            by_tid: Mutex::new(BTreeMap::new()),
            zapping: AtomicUsize::new(0),
        }
    }

    fn insert(&self, u: UnlockedFaults<'m>) {
        let old = self.by_tid.lock().insert(u.tid, u);
        debug_assert!(old.is_none(), "a task is stashed once");
    }

    /// Takes task `tid`'s entry, if it has one.
    pub(super) fn take(&self, tid: u32) -> Option<UnlockedFaults<'m>> {
        self.by_tid.lock().remove(&tid)
    }

    /// Drops every entry (the run is over: their address-space references go before
    /// the page audit).
    pub(super) fn clear(&self) {
        let all = std::mem::take(&mut *self.by_tid.lock());
        drop(all);
    }

    fn zapping(&self) -> bool {
        self.zapping.load(Ordering::SeqCst) != 0
    }
}

/// Ends the sleep of a task picked to run (`run`, under its lock) if its wake-up came and
/// its call can complete where it is picked — as `futex_wait()` or `do_nanosleep()`
/// return after their `schedule()`: a futex waiter a waker took returns 0; one whose
/// timer expired returns `ETIMEDOUT` unless a waker took its waiter first
/// (`futex_unqueue()` decides, on `futex`), a `nanosleep` whose timer expired returns 0.
/// Its timer is cancelled (on `bases`), `a0` set, the pc moved past the `ecall`, the
/// state made runnable. Returns what leaving the call lets go, for the caller to drop
/// after the task's lock; `None` (nothing changed) for a task that is not such a
/// sleeper. A runnable task is left as it is (`Some` of nothing).
pub(super) fn end_woken_sleep(
    run: &mut TaskRun,
    bases: &HrtimerBases,
    futex: &FutexHash,
) -> Option<SleepingCall> {
    let expired = run.call.timer.as_ref().is_some_and(|t| t.fired());
    let value = match run.state {
        TaskState::Runnable => return Some(SleepingCall::default()),
        TaskState::Blocked(WaitOn::Futex) => {
            if run.call.futex_q.as_ref().is_some_and(|q| q.is_woken()) {
                0
            } else if expired {
                let q = run.call.futex_q.take()?;
                if futex.unqueue(&q) {
                    Errno::ETIMEDOUT.as_return()
                } else {
                    0
                }
            } else {
                return None;
            }
        }
        TaskState::Blocked(WaitOn::Sleep) if expired => 0,
        _ => return None,
    };
    if let Some(t) = run.call.timer.take() {
        bases.try_to_cancel(&t);
    }
    run.ctx.x[10] = value;
    run.ctx.pc = run.ctx.pc.wrapping_add(4);
    run.state = TaskState::Runnable;
    Some(run.call.forget())
}

/// A task the hart switched to without the kernel lock ([`Machine::pick_unlocked`]).
pub(super) struct SwitchedIn<'m> {
    pub(super) tid: u32,
    pub(super) u: UnlockedFaults<'m>,
    /// Its claim on the instruction budget.
    pub(super) claim: u64,
    /// It is live in the hart, but the kernel lock must see it before it runs (a
    /// signal came for it, the hart was kicked).
    pub(super) to_kernel: bool,
}

impl<'m> Machine<'m> {
    /// `futex_wait_queue()`'s sleep and the first half of its `schedule()`, without the
    /// kernel lock, for the task live in `hart` (its handles `u`), whose wait `sleep` is
    /// queued on its bucket: see the module docs. `Ok` — the task sleeps (or its
    /// wake-up came meanwhile and it is runnable again on a queue), its handles are in
    /// the stash, the hart runs nothing. `Err` gives `u` and `sleep` back, nothing
    /// changed, for the kernel lock: deterministic mode, a traced or `--strace`d task, a
    /// kick, work the kernel lock must do for the hart (final `fput()`s, waiters to
    /// wake), a wake-up that came already, a signal pending, a task no longer runnable.
    #[allow(clippy::result_large_err)]
    pub(super) fn futex_sleep_unlocked(
        &self,
        smp: &Smp,
        hart: &mut Hart<'_>,
        u: UnlockedFaults<'m>,
        sleep: UnlockedSleep,
        tally: &mut super::HartTally,
    ) -> Result<(), (UnlockedFaults<'m>, UnlockedSleep)> {
        let id = hart.hart_id();
        let UnlockedSleep::Futex(FutexSleep { q, deadline }) = &sleep else {
            return Err((u, sleep));
        };
        let refuse = self.baton.is_some()
            || u.strace
            || smp.notified(id)
            || !tally.deferred_fput.is_empty()
            || !tally.futex_woken.is_empty()
            || q.is_woken()
            || u.current.as_ref().is_none_or(|c| c.signal_pending());
        if refuse {
            return Err((u, sleep));
        }
        let now = self.rqs.clock().now(hart.stats().cycles);
        let run_handle = Arc::clone(&u.run);
        let mut run = run_handle.lock();
        // Under the task's lock: a sender that queued a signal before this saw the task
        // runnable and counts on it to look (here); one after it sees it blocked.
        if run.state != TaskState::Runnable || u.current.as_ref().is_none_or(|c| c.signal_pending())
        {
            drop(run);
            return Err((u, sleep));
        }
        account_user_time(&self.rqs, id, u.tid, now, tally);
        run.state = TaskState::Blocked(WaitOn::Futex);
        run.ctx = hart.save_context();
        run.call.futex_q = Some(Arc::clone(q));
        if let Some(d) = *deadline {
            let t = u.hrtimers.start(id, u.tid, d);
            if let Some(old) = run.call.timer.replace(t) {
                u.hrtimers.try_to_cancel(&old);
            }
        }
        let seq = self.rqs.deactivate(u.tid, now, true).1;
        // The handshakes: a waker that took the waiter, or the expiry of the timer,
        // before the park ends the sleep here; after it, they enqueue the task.
        let parked = q.park(seq) && run.call.timer.as_ref().is_none_or(|t| t.park(seq));
        let mut gone = None;
        if !parked {
            gone = end_woken_sleep(&mut run, &u.hrtimers, &u.futex);
            let idle = |h| self.idle.is_idle(h);
            self.rqs.try_to_wake_up(u.tid, id, idle, None);
        }
        self.on_hart.clear_if(id, u.tid);
        hart.account_trap();
        u.stat.syscalls.inc();
        u.stat.futex_calls.inc();
        u.stat.unlocked_sleeps.inc();
        let armed = deadline.is_some();
        self.stash.insert(u);
        drop(run);
        drop(gone);
        if armed {
            let (_, mono) = self.hrtimers.clock().now(hart.stats().cycles);
            self.hrtimer_reprogram(id, mono);
        }
        Ok(())
    }

    /// The second half of `schedule()` without the kernel lock, on `hart`, which runs
    /// nothing: its queue's leftmost task is switched in if it has a stash and nothing
    /// else is at stake (the module docs). `None`, nothing changed (the pick stays
    /// queued), when the kernel lock must pick.
    pub(super) fn pick_unlocked(&self, smp: &Smp, hart: &mut Hart<'_>) -> Option<SwitchedIn<'m>> {
        let id = hart.hart_id();
        if self.baton.is_some() || smp.notified(id) || self.stash.zapping() {
            return None;
        }
        let next = {
            let rq = self.rqs.cpu_rq(id).lock();
            if rq.curr().is_some() {
                return None;
            }
            rq.pick(None)?
        };
        let mut u = self.stash.take(next)?;
        let quantum = u.config.quantum_insns;
        let run_handle = Arc::clone(&u.run);
        let mut run = run_handle.lock();
        let ended = end_woken_sleep(&mut run, &u.hrtimers, &u.futex);
        let claim = match ended {
            Some(_) if run.state == TaskState::Runnable => self.insns.claim(quantum),
            _ => super::Claim::Wait,
        };
        let super::Claim::Granted(claim) = claim else {
            drop(run);
            drop(ended);
            self.drop_stashed(smp, hart, u);
            return None;
        };
        let now = self.rqs.clock().now(hart.stats().cycles);
        let acct = super::sched::CputimeAcct {
            task: Arc::clone(&u.cputime),
            group: Arc::clone(&u.signal),
        };
        if !self.rqs.cpu_rq(id).lock().set_next(next, u.tgid, acct, now) {
            // Pulled by another hart meanwhile: it is that hart's to run.
            drop(run);
            drop(ended);
            self.insns.settle(claim, 0);
            self.drop_stashed(smp, hart, u);
            return None;
        }
        // Published before the checks: a killer either sees it here or is seen.
        self.on_hart.set(id, Some(next));
        let dying = self.stash.zapping() || run.state != TaskState::Runnable;
        hart.restore_context(&run.ctx);
        drop(run);
        drop(ended);
        switch_mm(smp, hart, &u.mm.mmap_read_lock());
        crate::mm::mte::mte_thread_switch(hart, u.mte_ctrl);
        flush_pending(smp, hart, &u.mm.mmap_read_lock());
        u.stat = self.stats.cpu(id);
        u.slice_left = claim;
        u.stat.unlocked_switches.inc();
        let pending = u.current.as_ref().is_none_or(|c| c.signal_pending());
        if self.idle.any() && self.rqs.nr_waiting() > 0 {
            self.work.notify_all();
        }
        if let Some(tick) = &self.tick {
            let slice = self.rqs.cpu_rq(id).lock().slice_left_ns(now);
            tick.arm_slice(
                id,
                Some(slice),
                u.signal.cputimer.armed(),
                self.rqs.nr_waiting(),
            );
        }
        Some(SwitchedIn {
            tid: next,
            u,
            claim,
            to_kernel: dying || pending,
        })
    }

    /// Lets go of a stash entry taken but not used: its address-space reference goes
    /// (the teardown's TLB maintenance on this hart if it was the last, as
    /// [`Kernel::put_unlocked_mm`]).
    fn drop_stashed(&self, smp: &Smp, hart: &mut Hart<'_>, u: UnlockedFaults<'m>) {
        if let Some((asid, batch)) = u.mm.mmput() {
            super::shootdown(smp, hart, asid, batch);
        }
    }
}

impl Kernel<'_> {
    /// A kill of tasks is in progress under the kernel lock (`zap_other_threads()`, a
    /// group exit): harts switching tasks in without the lock leave them to it until
    /// [`Kernel::zap_end`].
    pub(super) fn zap_begin(&self) {
        self.stash.zapping.fetch_add(1, Ordering::SeqCst);
    }

    /// The kill that [`Kernel::zap_begin`] announced is done.
    pub(super) fn zap_end(&self) {
        self.stash.zapping.fetch_sub(1, Ordering::SeqCst);
    }

    /// Task `tid` will not be switched in from the stash: its entry, if any, is taken
    /// under the task's lock (so a hart putting it to sleep cannot insert one after)
    /// and dropped after it.
    pub(super) fn unstash(&mut self, hart: &mut Hart<'_>, tid: u32) {
        let u = match self.tasks.get(&tid) {
            Some(t) => {
                let _run = t.run();
                self.stash.take(tid)
            }
            None => self.stash.take(tid),
        };
        if let Some(u) = u {
            self.put_unlocked_mm(hart, u);
        }
    }
}
