//! Sleeping, preempting and switching tasks without the kernel lock: `schedule()` on
//! the hart that trapped, under the task's lock and the run queue's, as Linux's runs
//! under `p->pi_lock` and `rq->lock` alone.
//!
//! A `FUTEX_WAIT` served without the kernel lock ([`super::unlocked_syscall`]) that must
//! sleep is queued on its hash bucket there, and a `nanosleep` arms its timer there.
//! Before this module either then went to the kernel lock to block and to pick the next
//! task; now the hart does both itself when nothing else is at stake
//! ([`Machine::sleep_unlocked`], [`Machine::pick_unlocked`]), as it does when a time
//! slice ends ([`Machine::tick_unlocked`]), and the kernel lock is taken only when the
//! next task needs it (a signal to deliver, a call to re-issue). With nothing to switch
//! in, the hart idles without the kernel lock too ([`Machine::idle_unlocked`]) and
//! picks again when a waker rings it — unless every other hart idles as well: whether
//! anything can ever run again is the kernel lock's verdict, with the task table.
//!
//! # The sleep
//! Under the sleeper's own lock (`Task::run`, Linux's `p->pi_lock` around `p->__state`):
//! the state must still be runnable (a killer under the kernel lock marks a dying task a
//! zombie first), no signal may be pending (a sender queues its signal *before* it looks
//! at the state under the same lock, so either the sleeper sees the signal here and
//! leaves the sleep to the kernel lock, or the sender sees the sleeper blocked and
//! interrupts the sleep itself), then: state `Blocked(Futex)` (or `Sleep`, or `Io` for a
//! pipe `read`/`write` that must wait), registers saved, waiter, timer or wait queue
//! entry in the task's [`SleepingCall`] — a pipe call's with what its re-issue takes
//! back, the file it took and the bytes it wrote ([`super::poll::BlockedCall`]) — off the
//! run queue (`deactivate_task()`, under `p->pi_lock` and `rq->lock`, below the task's
//! lock) and the park handshake with the waker, the wait queue's waker and the timer (a
//! wake-up that came meanwhile ends the sleep at once). The
//! hart keeps what it needs to run the task again ([`UnlockedFaults`]) in the
//! [`SwitchStash`] by tid, inserted under the task's lock.
//!
//! # The switch
//! The hart's queue's leftmost task is taken if it has a stash entry, and under its
//! lock it is runnable or a futex, timer or pipe sleeper whose wake-up came (its call is
//! completed as the kernel lock's `pick_next_task()` completes it: [`end_woken_sleep`],
//! shared; a pipe call is re-issued, on this hart, with what it held). It becomes the queue's running task (`set_next_entity()`), the hart's
//! `curr` ([`OnHart`]), its registers, `satp` and tag-check state are loaded, and the
//! hart goes back to user mode unless it was kicked. A task that left a hart through
//! this module's sleep or preemption has an entry (unless it is traced, under
//! `--strace`, dying, or the mode is deterministic); whoever switches the task in takes
//! it (the kernel lock's `switch_to()` drops it). Anything else — no entry (the task
//! last left a hart through the kernel lock), a sleep only the kernel lock ends (a
//! `ppoll`'s, an `epoll_wait`'s), a call stopped at a scheduling point (its place is
//! given back there), a signal pending, a thread group being killed, the budget — and
//! the hart takes the kernel lock, whose scheduler picks as before.
//!
//! # Preemption
//! In parallel mode the tick ends a slice by marking the hart and interrupting it
//! without asking for the kernel lock ([`super::sched::Tick::take_resched`]); the hart
//! then accounts its task, and if the slice is over or a wake-up preempted it, puts the
//! task back on its queue (`put_prev_task()`) and switches as above
//! ([`Machine::tick_unlocked`]).
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
    account_user_time, switch_mm_and_flush, Kernel, Machine, SleepingCall, UnlockedFaults,
    UnlockedSleep,
};
use crate::errno::Errno;
use crate::fs::PollTable;
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

    /// Stashes `u`, under its task's lock.
    fn insert(&self, u: UnlockedFaults<'m>) {
        let old = self.by_tid.lock().insert(u.tid, u);
        debug_assert!(old.is_none(), "a task is stashed once");
    }

    /// Task `tid`'s lock ([`crate::process::Task::run`]), thread group and CPU-time
    /// accounts, if it has an entry: the entry itself is taken under that lock
    /// ([`SwitchStash::take`]).
    fn peek(&self, tid: u32) -> Option<(Arc<Mutex<TaskRun>>, u32, super::sched::CputimeAcct)> {
        let by_tid = self.by_tid.lock();
        let u = by_tid.get(&tid)?;
        let acct = super::sched::CputimeAcct {
            task: Arc::clone(&u.cputime),
            group: Arc::clone(&u.signal),
        };
        Some((Arc::clone(&u.run), u.tgid, acct))
    }

    /// Takes task `tid`'s entry, if it has one: under the task's lock, but when the
    /// run is over.
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
        // A pipe read's or write's sleep a wake-up ended: it leaves its wait queue
        // (`finish_wait()`, after the task's lock) and its call is re-issued — the pc
        // stays at the ecall — with what it held ([`super::poll::BlockedCall`]).
        TaskState::Blocked(WaitOn::Io) => {
            let woken = run
                .call
                .io_wait
                .as_ref()
                .and_then(PollTable::task)
                .is_some_and(|w| w.is_woken());
            if !woken {
                return None;
            }
            run.state = TaskState::Runnable;
            return Some(SleepingCall {
                io_wait: run.call.io_wait.take(),
                ..SleepingCall::default()
            });
        }
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

/// What [`Machine::tick_unlocked`] did with a task whose quantum ran out.
pub(super) enum Tick<'m> {
    /// It keeps the hart for a new quantum.
    Kept(UnlockedFaults<'m>),
    /// It went back to its queue, stashed; the hart runs nothing.
    Preempted,
    /// The kernel lock decides (its handles given back).
    Refused(UnlockedFaults<'m>),
}

impl<'m> Machine<'m> {
    /// `futex_wait_queue()`'s or `do_nanosleep()`'s sleep and the first half of its
    /// `schedule()`, without the kernel lock, for the task live in `hart` (its handles
    /// `u`), whose wait `sleep` is queued on its bucket or whose timer is armed: see the
    /// module docs. `Ok` — the task sleeps (or its wake-up came meanwhile and it is
    /// runnable again on a queue), its handles are in the stash, the hart runs nothing.
    /// `Err` gives `u` and `sleep` back, nothing changed, for the kernel lock:
    /// deterministic mode, a traced or `--strace`d task, a kick, work the kernel lock
    /// must do for the hart (final `fput()`s, waiters to wake), a wake-up or an expiry
    /// that came already, a pipe made ready since its pass, a signal pending, a task no
    /// longer runnable, a kill in progress.
    #[allow(clippy::result_large_err)]
    pub(super) fn sleep_unlocked(
        &self,
        smp: &Smp,
        hart: &mut Hart<'_>,
        u: UnlockedFaults<'m>,
        sleep: UnlockedSleep,
        tally: &mut super::HartTally,
    ) -> Result<(), (UnlockedFaults<'m>, UnlockedSleep)> {
        let id = hart.hart_id();
        let (on, q, deadline, armed) = match &sleep {
            UnlockedSleep::Futex(FutexSleep { q, deadline }) if !q.is_woken() => {
                (WaitOn::Futex, Some(Arc::clone(q)), *deadline, None)
            }
            UnlockedSleep::Nanosleep(t) if !t.fired() => {
                (WaitOn::Sleep, None, None, Some(Arc::clone(t)))
            }
            // `prepare_to_wait_event()`'s check after the queueing: a pipe made ready
            // since the pass (by a hart that found no sleeper to wake) is the kernel
            // lock's to re-issue at once.
            UnlockedSleep::Io(s) if !super::poll::file_ready(&s.file, s.reading) => {
                (WaitOn::Io, None, None, None)
            }
            _ => return Err((u, sleep)),
        };
        if self.kernel_lock_wanted(smp, id, &u, tally) {
            return Err((u, sleep));
        }
        let now = self.rqs.clock().now(hart.stats().cycles);
        let run_handle = Arc::clone(&u.run);
        let mut run = run_handle.lock();
        if !self.may_leave_hart(&run, &u) {
            drop(run);
            return Err((u, sleep));
        }
        // A futex wait's timeout is armed on this hart's base; a nanosleep's is already.
        let timer = armed.or_else(|| deadline.map(|d| u.hrtimers.start(id, u.tid, d)));
        account_user_time(&self.rqs, id, u.tid, now, tally);
        run.state = TaskState::Blocked(on);
        run.ctx = hart.save_context();
        run.nvcsw += 1;
        if let Some(q) = &q {
            run.call.futex_q = Some(Arc::clone(q));
        }
        if let Some(old) = std::mem::replace(&mut run.call.timer, timer) {
            u.hrtimers.try_to_cancel(&old);
        }
        // A pipe call's wait queue entry, and what its re-issue takes back (the file
        // `fdget()` took, the bytes written so far); anything older goes after the lock.
        let mut old_io = None;
        if let UnlockedSleep::Io(s) = sleep {
            let (n, a) = crate::syscall::args(hart);
            let held = super::poll::BlockedCall::pipe_io(n, a, s.file, s.written);
            old_io = Some((
                run.call.io_wait.replace(s.pt),
                run.call.blocked.replace(held),
            ));
        }
        let seq = self.rqs.deactivate(u.tid, now, true).1;
        // The handshakes: a waker that took the waiter, a wake-up of the wait queue
        // entry, or the expiry of the timer, before the park ends the sleep here; after
        // it, they enqueue the task.
        let io_parked = run
            .call
            .io_wait
            .as_ref()
            .and_then(PollTable::task)
            .is_none_or(|w| w.park(seq));
        let parked = q.is_none_or(|q| q.park(seq))
            && io_parked
            && run.call.timer.as_ref().is_none_or(|t| t.park(seq));
        let mut gone = None;
        if !parked {
            gone = end_woken_sleep(&mut run, &u.hrtimers, &u.futex);
            let idle = |h| self.idle.is_idle(h);
            self.rqs.try_to_wake_up(u.tid, id, idle, None);
        }
        self.on_hart.clear_if(id, u.tid);
        hart.account_trap();
        u.stat.syscalls.inc();
        if on == WaitOn::Futex {
            u.stat.futex_calls.inc();
        }
        u.stat.unlocked_sleeps.inc();
        if on == WaitOn::Io {
            u.stat.unlocked_io_sleeps.inc();
        }
        let armed = run.call.timer.is_some();
        self.stash.insert(u);
        drop(run);
        drop(gone);
        drop(old_io);
        if armed {
            let (_, mono) = self.hrtimers.clock().now(hart.stats().cycles);
            self.hrtimer_reprogram(id, mono);
        }
        Ok(())
    }

    /// `scheduler_tick()` and, if its slice is used up or a wake-up preempted it, the
    /// first half of `schedule()` without the kernel lock for the task live in `hart`
    /// (its handles `u`), whose quantum ran out while other tasks wait for a hart (with
    /// none waiting, [`Machine::renew_quantum`] keeps it). The quantum's claim `claim`
    /// is settled already. [`Tick::Kept`] — the slice goes on, a new quantum is claimed
    /// into `claim` and `u`; [`Tick::Preempted`] —
    /// the task goes back to its queue's timeline (`put_prev_task()`), its registers
    /// saved and its handles stashed, and the hart runs nothing; [`Tick::Refused`], `u`
    /// given back and nothing changed, when the kernel lock must decide (as for a
    /// sleep, [`Machine::sleep_unlocked`], or the budget is spent).
    pub(super) fn tick_unlocked(
        &self,
        smp: &Smp,
        hart: &mut Hart<'_>,
        mut u: UnlockedFaults<'m>,
        claim: &mut u64,
        tally: &mut super::HartTally,
    ) -> Tick<'m> {
        let id = hart.hart_id();
        if self.kernel_lock_wanted(smp, id, &u, tally) {
            return Tick::Refused(u);
        }
        let now = self.rqs.clock().now(hart.stats().cycles);
        let (keep, slice_left) = {
            let mut rq = self.rqs.cpu_rq(id).lock();
            rq.update_curr(now);
            if rq.curr() != Some(u.tid) {
                return Tick::Refused(u);
            }
            let left = rq.slice_left_ns(now);
            (!rq.need_resched() && left > 0, left)
        };
        account_user_time(&self.rqs, id, u.tid, now, tally);
        if keep {
            if !self.next_quantum(&mut u, claim) {
                return Tick::Refused(u);
            }
            // The old claim is settled (the caller's, after the run).
            tally.insns = 0;
            // The tick ends what is left of the slice.
            self.arm_slice(id, slice_left, &u);
            return Tick::Kept(u);
        }
        let run_handle = Arc::clone(&u.run);
        let mut run = run_handle.lock();
        if !self.may_leave_hart(&run, &u) {
            drop(run);
            return Tick::Refused(u);
        }
        run.ctx = hart.save_context();
        run.nivcsw += 1;
        self.rqs.cpu_rq(id).lock().put_prev(now);
        self.on_hart.clear_if(id, u.tid);
        u.stat.unlocked_preemptions.inc();
        self.stash.insert(u);
        drop(run);
        Tick::Preempted
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
        // The periodic balance, and with nothing waiting here the newidle one, as the
        // kernel lock's pick_next_task() does them.
        self.rqs.balance(id);
        let pick = || {
            let rq = self.rqs.cpu_rq(id).lock();
            rq.curr().is_none().then(|| rq.pick(None)).flatten()
        };
        let next = match pick() {
            Some(t) => t,
            None => {
                self.rqs.newidle_balance(id)?;
                pick()?
            }
        };
        // The pick becomes the queue's running task first (`set_next_entity()`), so
        // that no balance pulls it away while its sleep is ended; if it cannot be run
        // here after all, the kernel lock's scheduler puts it back (`put_prev_task()`).
        let (run_handle, tgid, acct) = self.stash.peek(next)?;
        let now = self.rqs.clock().now(hart.stats().cycles);
        if !self.rqs.cpu_rq(id).lock().set_next(next, tgid, acct, now) {
            return None;
        }
        // The entry is taken under the task's lock: one there now was put there since
        // the task last ran, and nobody switches it in meanwhile.
        let mut run = run_handle.lock();
        let mut u = self.stash.take(next)?;
        // A call stopped at a scheduling point is re-issued under the kernel lock, which
        // gives it its place back. A pipe call woken here is re-issued on this hart
        // with what it held; any other re-issue goes to the kernel lock from there
        // ([`super::poll::BlockedCall::take_pipe_io`]).
        let ended =
            end_woken_sleep(&mut run, &u.hrtimers, &u.futex).filter(|_| run.call.resume.is_none());
        let claim = match ended {
            Some(_) => self.insns.claim(u.config.quantum_insns),
            None => super::Claim::Wait,
        };
        let super::Claim::Granted(claim) = claim else {
            drop(run);
            drop(ended);
            self.drop_stashed(smp, hart, u);
            return None;
        };
        // Published before the checks: a killer either sees it here or is seen.
        self.on_hart.set(id, Some(next));
        // (Its sleep ended, it is runnable: only a kill announced since can be at stake.)
        let dying = self.stash.zapping();
        hart.restore_context(&run.ctx);
        drop(run);
        drop(ended);
        switch_mm_and_flush(smp, hart, &u.mm);
        crate::mm::mte::mte_thread_switch(hart, u.mte_ctrl);
        u.stat = self.stats.cpu(id);
        u.slice_left = claim;
        u.stat.unlocked_switches.inc();
        let pending = u.current.as_ref().is_none_or(|c| c.signal_pending());
        if self.idle.any() && self.rqs.nr_waiting() > 0 {
            self.idle.wake(&self.work);
        }
        let slice = self.rqs.cpu_rq(id).lock().slice_left_ns(now);
        self.arm_slice(id, slice, &u);
        Some(SwitchedIn {
            tid: next,
            u,
            claim,
            to_kernel: dying || pending,
        })
    }

    /// Whether the task live in hart `id` (its handles `u`) must leave its sleep or its
    /// preemption to the kernel lock before its lock is even looked at: deterministic
    /// mode (every kernel entry is a seeded scheduling point there), a traced or
    /// `--strace`d task, a kick, or work the kernel lock must do for the hart (final
    /// `fput()`s, futex waiters to wake: `tally`).
    fn kernel_lock_wanted(
        &self,
        smp: &Smp,
        id: usize,
        u: &UnlockedFaults<'m>,
        tally: &super::HartTally,
    ) -> bool {
        self.baton.is_some()
            || u.strace
            || smp.notified(id)
            || !tally.deferred_fput.is_empty()
            || !tally.futex_woken.is_empty()
    }

    /// Under the task's lock `run` (its handles `u`): whether it may leave its hart
    /// without the kernel lock — still runnable (a killer marks a dying task a zombie
    /// under this lock first), no kill announced, no signal pending. A sender that
    /// queued a signal before this lock was taken saw the task runnable and counts on
    /// it to look here; one after it sees it blocked or queued. A kill announced before
    /// is seen here; one after it finds the task off the hart.
    fn may_leave_hart(&self, run: &TaskRun, u: &UnlockedFaults<'m>) -> bool {
        run.state == TaskState::Runnable
            && !self.stash.zapping()
            && u.current.as_ref().is_some_and(|c| !c.signal_pending())
    }

    /// The idle loop without the kernel lock (`do_idle()`), once: hart `hart` found
    /// nothing to switch in ([`Machine::pick_unlocked`]) and its queue is empty, so it
    /// waits on its doorbell ([`super::IdleHarts`]) until a waker rings it (a task put on
    /// its queue, a timer due, the run's end) or a scheduler tick has passed
    /// ([`super::ttwu::IDLE_RECHECK`]: the bound on a wake-up lost in the instant
    /// before the wait, as for the kernel lock's idle harts), or until its own base's
    /// earliest timer, which it then fires itself ([`Machine::hrtimer_interrupt`]).
    /// Returns `true` after the wait: the caller picks again. `false`, having waited
    /// for nothing, when the kernel lock's idle must take over: deterministic mode, the
    /// run's end, a kick, a kill in progress, tasks on the queue that only the kernel
    /// lock can switch in, kernel timers armed, the wake list to drain — or every other
    /// hart idle too, where the kernel lock's idle decides whether anything can ever run
    /// again (the deadlock verdict) with the whole task table.
    ///
    /// The idle flag is set before the last look at the queue, with a full fence, and a
    /// waker fences between its enqueue and its look at the flag ([`super::resched_woken`]):
    /// one of the two sees the other. A ring that comes between the doorbell's clearing
    /// and the wait is kept for the wait.
    pub(super) fn idle_unlocked(&self, smp: &Smp, hart: &mut Hart<'_>) -> bool {
        let id = hart.hart_id();
        // A task on the queue, or one made its running task by a pick that then left
        // it to the kernel lock (its claim refused, say): the kernel lock's scheduler runs
        // it or puts it back.
        let queued = || {
            let rq = self.rqs.cpu_rq(id).lock();
            rq.nr_queued() != 0 || rq.curr().is_some()
        };
        let kernel_wanted = || {
            self.baton.is_some()
                || self.end.is_over()
                || smp.notified(id)
                || self.stash.zapping()
                || self.timers_armed.load(Ordering::SeqCst)
                || self.ttwu.pending()
        };
        if kernel_wanted() || self.idle.all_but(id) || queued() {
            return false;
        }
        if let Some(tick) = &self.tick {
            tick.arm_slice(id, None, false, self.rqs.nr_waiting());
        }
        self.idle.clear_bell(id);
        self.idle.set(id, true);
        std::sync::atomic::fence(Ordering::SeqCst);
        if !queued() && !kernel_wanted() {
            let now = self.hrtimers.clock().now(hart.stats().cycles).1;
            let wait = self
                .hrtimers
                .expires_next(id)
                .map_or(super::ttwu::IDLE_RECHECK, |at| {
                    std::time::Duration::from_nanos(at.saturating_sub(now))
                        .min(super::ttwu::IDLE_RECHECK)
                });
            self.idle.wait_bell(id, wait);
        }
        self.idle.set(id, false);
        self.stats.cpu(id).unlocked_idles.inc();
        // What was posted to this hart while it waited (it ran no guest code).
        smp.drain(hart);
        if self.hrtimers.expires_next(id).is_some() {
            let now = self.hrtimers.clock().now(hart.stats().cycles).1;
            self.hrtimer_interrupt(smp, id, now);
        }
        true
    }

    /// Tells the tick that hart `id` runs the task of `u` in user mode with `left_ns` of
    /// its slice left, as [`Kernel::arm_tick`] does when a hart leaves the kernel lock.
    fn arm_slice(&self, id: usize, left_ns: u64, u: &UnlockedFaults<'m>) {
        if let Some(tick) = &self.tick {
            let cputimer = u.signal.cputimer.armed();
            tick.arm_slice(id, Some(left_ns), cputimer, self.rqs.nr_waiting());
        }
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

impl<'m> Kernel<'m> {
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
