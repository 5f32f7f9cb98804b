//! The fair scheduler (`kernel/sched/fair.c` and `core.c`, simplified): one run queue
//! per hart ([`Rq`], `struct rq` with its `cfs_rq`, behind its own lock `rq->lock`),
//! per-task virtual runtime, time slices measured in time, the pick of the queue's task
//! that has had the least CPU, placement of a woken or new task on a hart
//! ([`Rqs::select_task_rq`]), an idle hart pulling work from the busiest queue
//! ([`Rqs::newidle_balance`]), and wake-up preemption.
//!
//! **The clock** ([`SchedClock`], `rq_clock_task()`, kept with the queues:
//! [`Rqs::clock`]): modelled cycles of the hart in
//! [`crate::config::SchedMode::Deterministic`] (1 cycle = 1 ns at the virtual clock's
//! 1 GHz, so a replay stays bit for bit), host time in parallel mode. Whatever a hart
//! does between two readings while it runs a task is that task's: user instructions and
//! the kernel work of its system calls and faults (priced by the cost model and charged
//! to the hart in deterministic mode; host time spent in the kernel in parallel mode) —
//! so a thread living in system calls pays for them as Linux's `update_curr()` makes it.
//!
//! **Run queues** ([`CfsRq`]): each hart's queue holds the tasks placed on it — the one
//! it runs (`curr`) and the runnable ones waiting (`tasks_timeline`, ordered by
//! vruntime, the tid breaking ties) — with `min_vruntime` and `nr_running` (waiting and
//! running). A task is enqueued when it becomes runnable (`wake_up_new_task()` at fork,
//! `try_to_wake_up()` → `activate_task()`) and dequeued when it blocks, exits or is
//! pulled to another hart (`deactivate_task()`); a sleeping task's entity is kept off
//! the queues ([`Sleeper`]) under the task's `p->pi_lock`, with the number of its
//! sleep, so that a wake-up without the kernel lock ends only the sleep it was meant
//! for. A hart picks only from its own queue.
//!
//! **Virtual runtime** ([`SchedEntity::vruntime`]): every task has weight 1024 (nice 0,
//! no `setpriority`), so it advances at the rate of real runtime. The pick
//! ([`CfsRq::pick`]) takes the queue's leftmost entity; in deterministic mode a seeded
//! choice among the queued tasks within [`SCHED_MIN_GRANULARITY_NS`] of the leftmost, so
//! seeds still interleave differently while a task left behind is soon the only
//! candidate (no starvation: each other candidate leaves the window after at most that
//! much more runtime plus one quantum).
//!
//! **Placement** (`place_entity()`): a new task starts at its queue's `min_vruntime`
//! (CFS adds a slice of debit, `START_DEBIT`; EEVDF places at the average with half a
//! slice of lag: we give neither credit nor debit); a sleeper that wakes gets
//! `max(its own, min_vruntime - sched_latency / 2)` (`GENTLE_FAIR_SLEEPERS`), so it is
//! ahead of the busy tasks without having banked its whole sleep. A task that changes
//! queue carries its vruntime relative to the old queue's `min_vruntime` over to the
//! new one (`migrate_task_rq_fair()` of CFS before EEVDF).
//!
//! **Where a task goes** ([`Rqs::select_task_rq`], `select_task_rq_fair()`): a woken task
//! to the hart it last ran on, unless that hart is busy and another is idle
//! (`select_idle_sibling()`); a new task to an idle hart, or else to the queue with the
//! fewest tasks (`sched_balance_find_dst_cpu()`), this hart first among equals.
//!
//! **Balance**: a hart about to idle pulls the leftmost waiting task of the busiest
//! other queue (`newidle_balance()`), so no hart idles while a task waits on another
//! queue; at a scheduling point a hart whose queue has two tasks fewer than the busiest
//! pulls one (the periodic `sched_balance_rq()` of the tick, here at the scheduling
//! points, which in parallel mode the tick's end of a slice brings).
//!
//! **Slices** ([`CfsRq::slice_left_ns`], `sched_slice()`): `sched_latency` shared among
//! the tasks of the hart's queue, at least `sched_min_granularity`. In parallel mode a
//! hart keeps its task across traps until the slice is used up, a wake-up preempts it
//! or it blocks; a host-side tick ([`Tick`], the scheduler tick of a `HZ=1000` kernel)
//! kicks a hart out of user mode when its slice ends or the earliest timer of its timer
//! base ([`super::hrtimer`], programmed per hart as a clock event device is) is due; a
//! hart in user mode runs its own base's expired timers at each trap it handles
//! without the kernel lock and wakes their sleepers itself (`try_to_wake_up()` above).
//! In deterministic mode every scheduling point draws again (the seeded pick above).
//!
//! **Wake-up preemption** (`check_preempt_wakeup()` / `wakeup_preempt_entity()`): a
//! woken task whose vruntime is more than [`SCHED_WAKEUP_GRANULARITY_NS`] below that of
//! its queue's running task preempts it: that hart is told to reschedule
//! (`resched_curr()`: a kick, the IPI of `smp_send_reschedule()`).
//!
//! **Locks**: a task's place (the queue it is on, or its sleeping entity) is under its
//! `p->pi_lock` (hashed by tid, lock class [`crate::lockstat::PI_LOCK`]), taken before a
//! queue's lock, as Linux's `try_to_wake_up()` takes them; each queue's [`CfsRq`] is
//! behind its own [`crate::sync::Mutex`], lock class [`crate::lockstat::RQ_LOCK`]
//! (`rq->lock`), a leaf of the lock order: nothing is taken under it, and never two at
//! once — a migration (`newidle_balance()`, a wake-up on
//! another hart's queue) detaches under the source's lock and attaches under the
//! destination's, one after the other, as Linux's `detach_tasks()`/`attach_tasks()` do
//! with `TASK_ON_RQ_MIGRATING` in between. `nr_running` and `min_vruntime` are mirrored
//! in atomics for readers without the lock (Linux reads `rq->nr_running` and
//! `cfs_rq->min_vruntime` locklessly for balancing too).
//!
//! Where it differs from Linux: no weights or groups, no affinity masks, no scheduling
//! domains (every hart is every other's sibling); the load balancer counts tasks
//! (`nr_running`) instead of PELT load, pulls at most one task at a time (the leftmost,
//! where `detach_tasks()` takes from the cache-cold tail of `cfs_tasks`), and runs at
//! scheduling points instead of from a softirq; `select_task_rq()` has no `wake_affine()`
//! (a woken task never follows its waker). `p->pi_lock` is a table of locks hashed by
//! tid, not a field of each task (the task table is still the kernel lock's). The
//! task's run state is still the task table's, under the kernel lock: a futex waiter
//! woken without it is on a queue while its state still says it sleeps, and its wait is
//! completed when it is picked (Linux's woken task runs `futex_wait()`'s tail itself; a
//! `/proc/<pid>/stat` read in between shows `S` where Linux shows `R`).
//!
//! **CPU time**: `update_curr()` charges the running task's runtime to its own and its
//! thread group's CPU time as it charges its vruntime ([`CputimeAcct`]: atomics in the
//! task and its `signal_struct`, [`super::cputime`]), under the queue's lock only, on
//! whichever hart runs it, with or without the kernel lock; the user-mode part
//! ([`CfsRq::account_user`]) likewise.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::cputime::CputimeAtomic;
use crate::fs::Prng;
use crate::process::SignalStruct;
use crate::smp::Smp;
use crate::sync::{Mutex, MutexGuard};

/// `sysctl_sched_latency`: the period in which every runnable task runs once, in ns
/// (Linux: 6 ms, scaled by `1 + ilog2(ncpus)`; not scaled here).
pub(super) const SCHED_LATENCY_NS: u64 = 6_000_000;
/// `sysctl_sched_min_granularity`: the shortest slice, in ns (Linux: 0.75 ms).
pub(super) const SCHED_MIN_GRANULARITY_NS: u64 = 750_000;
/// `sysctl_sched_wakeup_granularity`: how far behind a running task a woken task's
/// vruntime must be to preempt it, in ns (Linux: 1 ms).
pub(super) const SCHED_WAKEUP_GRANULARITY_NS: u64 = 1_000_000;
/// `KTIME_MAX`: the latest time a timer can be set for, in ns (about 292 years); a
/// deadline at or past it never fires (an hrtimer there never expires).
pub(super) const KTIME_MAX: u64 = i64::MAX as u64;
/// The host-side tick's period in parallel mode (`HZ=1000`).
const TICK: Duration = Duration::from_millis(1);

/// What the scheduler's time is measured in (`rq_clock_task()`), in ns.
#[derive(Debug, Clone, Copy)]
pub(super) enum SchedClock {
    /// The hart's modelled cycles (deterministic mode: the virtual clock runs at 1 GHz).
    Cycles,
    /// Host time since `start` (parallel mode).
    Host(Instant),
}

impl SchedClock {
    /// Now, on a hart whose modelled cycle count is `hart_cycles`, in ns.
    pub(super) fn now(&self, hart_cycles: u64) -> u64 {
        match self {
            SchedClock::Cycles => hart_cycles,
            SchedClock::Host(start) => start.elapsed().as_nanos() as u64,
        }
    }
}

/// One task's scheduling state (`struct sched_entity`). Its `sum_exec_runtime` is the
/// task's [`CputimeAtomic`] ([`CputimeAcct::task`]), which readers reach without the
/// run queue's lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SchedEntity {
    /// Virtual runtime in ns (weight 1024: real runtime, plus placement on wake-up).
    pub vruntime: u64,
}

/// Where the running task's CPU time goes as it is charged: its own
/// (`se.sum_exec_runtime`, `utime`) and its thread group's (`signal->cputimer`), both
/// atomics ([`super::cputime`]).
#[derive(Debug, Clone, Default)]
pub(super) struct CputimeAcct {
    /// The task's own CPU time ([`crate::process::Task::cputime`]).
    pub task: Arc<CputimeAtomic>,
    /// Its thread group, whose [`crate::process::SignalStruct::cputimer`] sums it.
    pub group: Arc<SignalStruct>,
}

impl CputimeAcct {
    /// `account_group_exec_runtime()` with the task's own: `ns` more runtime.
    fn exec_runtime(&self, ns: u64) {
        self.task.account_exec_runtime(ns);
        self.group.cputimer.cputime.account_exec_runtime(ns);
    }
}

/// A sleeping task's entity, kept with the task while it is on no queue: its
/// vruntime, and the hart whose queue it left (`task_cpu()`), whose `min_vruntime` that
/// vruntime is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sleeper {
    /// The entity as it was dequeued.
    pub se: SchedEntity,
    /// The hart it last ran on (`task_cpu()`, `prev_cpu` of `select_task_rq()`).
    pub cpu: usize,
}

/// How a task comes onto a queue ([`Rqs::activate`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Enqueue {
    /// A new task (`wake_up_new_task()`): placed at the queue's `min_vruntime`.
    New,
    /// A sleeper waking (`ENQUEUE_WAKEUP`): `GENTLE_FAIR_SLEEPERS` placement, after its
    /// vruntime is carried over from the queue it left if that was another hart's.
    Wakeup(Sleeper),
}

/// A slice of CPU time charged to the running task by `update_curr()` (added to the
/// task's and its group's CPU time already): its thread group, whose CPU-time timers
/// the caller may check, and the ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Charged {
    /// The thread group of the task charged.
    pub tgid: u32,
    /// The time charged, in ns.
    pub delta_ns: u64,
}

/// What a hart runs and since when (`cfs_rq->curr`, `se->exec_start`).
#[derive(Debug, Clone)]
struct Curr {
    tid: u32,
    /// Its thread group, whose CPU time the runtime also counts (for `ITIMER_PROF`).
    tgid: u32,
    /// Where its runtime is charged.
    acct: CputimeAcct,
    /// Clock reading up to which its runtime is accounted.
    exec_start: u64,
    /// Clock reading at which it was picked: its slice runs from there.
    slice_start: u64,
}

/// One hart's CFS run queue (`struct cfs_rq` with the parts of `struct rq` it needs),
/// as its lock guards it ([`Rq::lock`]).
#[derive(Debug, Default)]
pub(super) struct CfsRq {
    /// `tasks_timeline`: the waiting tasks (runnable, not running) by `(vruntime, tid)`.
    timeline: BTreeSet<(u64, u32)>,
    /// The entities on this queue, by tid: the waiting tasks and `curr`.
    entities: BTreeMap<u32, SchedEntity>,
    /// The task the hart runs (`cfs_rq->curr`: on the queue, not in the timeline).
    curr: Option<Curr>,
    /// `TIF_NEED_RESCHED` of `curr`: a wake-up preempted it.
    need_resched: bool,
    /// `cfs_rq->min_vruntime`: never goes backwards.
    min_vruntime: u64,
    /// `cfs_rq->skip`: the task that called `sched_yield()`, which the next pick passes
    /// over if another waits ([`CfsRq::yield_curr`]).
    skip: Option<u32>,
}

impl CfsRq {
    /// `nr_running`: tasks on the queue, waiting and running.
    pub(super) fn nr_running(&self) -> usize {
        self.entities.len()
    }

    /// Tasks waiting on the queue (runnable, not running): what another hart may pull.
    pub(super) fn nr_queued(&self) -> usize {
        self.timeline.len()
    }

    /// The task the hart runs, if any.
    pub(super) fn curr(&self) -> Option<u32> {
        self.curr.as_ref().map(|c| c.tid)
    }

    /// Task `tid`'s entity, if it is on this queue.
    #[cfg(test)]
    pub(super) fn entity(&self, tid: u32) -> Option<&SchedEntity> {
        self.entities.get(&tid)
    }

    /// Whether the hart must give up its task at the next scheduling point: a wake-up
    /// preempted it (`need_resched()`).
    pub(super) fn need_resched(&self) -> bool {
        self.need_resched
    }

    /// `update_min_vruntime()`: the smallest vruntime of `curr` and the leftmost, never
    /// going backwards.
    fn update_min_vruntime(&mut self) {
        let curr = self
            .curr
            .as_ref()
            .and_then(|c| self.entities.get(&c.tid))
            .map(|se| se.vruntime);
        let left = self.timeline.first().map(|&(v, _)| v);
        let m = match (curr, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(m) = m {
            self.min_vruntime = self.min_vruntime.max(m);
        }
    }

    /// `update_curr()`: charges the running task with the time since it was last
    /// accounted (`now`, ns): its vruntime, and its own and its thread group's CPU time
    /// (`account_group_exec_runtime()`, atomics). Returns what was charged, if a task
    /// runs.
    pub(super) fn update_curr(&mut self, now: u64) -> Option<Charged> {
        let c = self.curr.as_mut()?;
        let delta = now.saturating_sub(c.exec_start);
        c.exec_start = now.max(c.exec_start);
        c.acct.exec_runtime(delta);
        let (tid, tgid) = (c.tid, c.tgid);
        if let Some(se) = self.entities.get_mut(&tid) {
            se.vruntime = se.vruntime.saturating_add(delta);
        }
        self.update_min_vruntime();
        Some(Charged {
            tgid,
            delta_ns: delta,
        })
    }

    /// `account_user_time()` for the running task, if it is `tid`: `user_ns` of the
    /// runtime charged so far (`update_curr()` at the same reading of the clock, first)
    /// was in user mode — its own `utime` and its group's. `false` if `tid` is not the
    /// queue's running task (nothing is charged).
    pub(super) fn account_user(&self, tid: u32, user_ns: u64) -> bool {
        let Some(c) = self.curr.as_ref().filter(|c| c.tid == tid) else {
            return false;
        };
        c.acct.task.account_user_time(user_ns);
        c.acct.group.cputimer.cputime.account_user_time(user_ns);
        true
    }

    /// `put_prev_task()`: the hart stops running its task (accounted up to `now`), which
    /// goes back into the timeline. Returns what was charged.
    pub(super) fn put_prev(&mut self, now: u64) -> Option<Charged> {
        let charged = self.update_curr(now);
        if let Some(c) = self.curr.take() {
            if let Some(se) = self.entities.get(&c.tid) {
                self.timeline.insert((se.vruntime, c.tid));
            }
        }
        charged
    }

    /// `pick_next_entity()`: the leftmost waiting task (ties: the smaller tid) — but
    /// not the task that yielded (`cfs_rq->skip`) while another waits; with `rng`
    /// (deterministic mode), a seeded choice among those within
    /// [`SCHED_MIN_GRANULARITY_NS`] of the leftmost, in timeline order. The pick stays
    /// queued until [`CfsRq::set_next`].
    pub(super) fn pick(&self, rng: Option<&mut Prng>) -> Option<u32> {
        let skip = self.skip.filter(|_| self.timeline.len() > 1);
        let mut waiting = self.timeline.iter().filter(|&&(_, t)| Some(t) != skip);
        let &(first_vr, first) = waiting.next()?;
        let Some(rng) = rng else {
            return Some(first);
        };
        let window = first_vr.saturating_add(SCHED_MIN_GRANULARITY_NS);
        let near = 1 + waiting.take_while(|&&(v, _)| v < window).count();
        let i = (rng.next_u64() % near as u64) as usize;
        self.timeline
            .iter()
            .filter(|&&(_, t)| Some(t) != skip)
            .nth(i)
            .map(|&(_, t)| t)
            .or(Some(first))
    }

    /// `yield_task_fair()` for the running task, then `schedule()`'s reason: if others
    /// wait on this queue, the running task gives up the hart at the next scheduling
    /// point (`need_resched`) and the next pick passes it over once
    /// (`set_skip_buddy()`), as Linux's CFS makes `sched_yield()` run another task of
    /// the queue. Alone on the queue, nothing changes (`do_sched_yield()` then picks it
    /// again).
    pub(super) fn yield_curr(&mut self) {
        let Some(tid) = self.curr() else {
            return;
        };
        if self.timeline.is_empty() {
            return;
        }
        self.skip = Some(tid);
        self.need_resched = true;
    }

    /// `set_next_entity()`: the hart runs task `tid` (of group `tgid`, on this queue)
    /// from `now`, a new slice, its runtime charged to `acct`; it leaves the timeline.
    /// `false` if it is not on the queue (nothing changes).
    pub(super) fn set_next(&mut self, tid: u32, tgid: u32, acct: CputimeAcct, now: u64) -> bool {
        let Some(se) = self.entities.get(&tid) else {
            return false;
        };
        self.timeline.remove(&(se.vruntime, tid));
        self.curr = Some(Curr {
            tid,
            tgid,
            acct,
            exec_start: now,
            slice_start: now,
        });
        self.need_resched = false;
        self.skip = None;
        true
    }

    /// `sched_slice()`: the slice of a task when `nr_running` tasks share a hart, in ns.
    pub(super) fn slice_ns(nr_running: usize) -> u64 {
        (SCHED_LATENCY_NS / nr_running.max(1) as u64).max(SCHED_MIN_GRANULARITY_NS)
    }

    /// Time left in the running task's slice at `now`, in ns (0: used up or no task).
    pub(super) fn slice_left_ns(&self, now: u64) -> u64 {
        let Some(c) = &self.curr else {
            return 0;
        };
        let slice = Self::slice_ns(self.nr_running());
        slice.saturating_sub(now.saturating_sub(c.slice_start))
    }

    /// `enqueue_entity()`: task `tid` joins the timeline with entity `se`, placed as
    /// `how` says (`place_entity()`; for a wake-up, `se`'s vruntime is already measured
    /// against this queue). An entity already on the queue stays as it is.
    fn enqueue(&mut self, tid: u32, se: SchedEntity, how: Enqueue) {
        if self.entities.contains_key(&tid) {
            return;
        }
        let vruntime = match how {
            Enqueue::New => self.min_vruntime,
            Enqueue::Wakeup(_) => se
                .vruntime
                .max(self.min_vruntime.saturating_sub(SCHED_LATENCY_NS / 2)),
        };
        let se = SchedEntity { vruntime };
        self.entities.insert(tid, se);
        self.timeline.insert((vruntime, tid));
        self.update_min_vruntime();
    }

    /// `dequeue_entity()`: task `tid` leaves the queue — the running task accounted up
    /// to `now` first. Returns its entity, and what was charged if it ran; `None` if it
    /// was not on the queue.
    fn dequeue(&mut self, tid: u32, now: u64) -> Option<(SchedEntity, Option<Charged>)> {
        let charged = if self.curr() == Some(tid) {
            let c = self.update_curr(now);
            self.curr = None;
            self.need_resched = false;
            c
        } else {
            None
        };
        let se = self.entities.remove(&tid)?;
        self.timeline.remove(&(se.vruntime, tid));
        self.update_min_vruntime();
        Some((se, charged))
    }

    /// `check_preempt_wakeup()` for task `woken`, on this queue: whether its vruntime
    /// is more than [`SCHED_WAKEUP_GRANULARITY_NS`] below the running task's; if so,
    /// the running task is marked `need_resched` (the caller kicks the hart:
    /// `resched_curr()`).
    pub(super) fn check_preempt_wakeup(&mut self, woken: u32) -> bool {
        let Some(v) = self.entities.get(&woken).map(|se| se.vruntime) else {
            return false;
        };
        let Some(c) = self.curr.as_ref().filter(|c| c.tid != woken) else {
            return false;
        };
        let Some(curr_vr) = self.entities.get(&c.tid).map(|se| se.vruntime) else {
            return false;
        };
        if v.saturating_add(SCHED_WAKEUP_GRANULARITY_NS) >= curr_vr {
            return false;
        }
        self.need_resched = true;
        true
    }

    /// Task `old` is now called `new` (`de_thread()`'s `exchange_tids()`: an `execve`
    /// by a thread that is not its group's leader takes the leader's tid).
    fn rename(&mut self, old: u32, new: u32) {
        let Some(se) = self.entities.remove(&old) else {
            return;
        };
        if self.timeline.remove(&(se.vruntime, old)) {
            self.timeline.insert((se.vruntime, new));
        }
        self.entities.insert(new, se);
        if let Some(c) = self.curr.as_mut().filter(|c| c.tid == old) {
            c.tid = new;
            c.tgid = new;
        }
    }
}

/// One hart's run queue (`struct rq`): its [`CfsRq`] behind its own lock (`rq->lock`),
/// with lock-free mirrors of `nr_running`, the waiting count and `min_vruntime`
/// for readers on other harts (balancing, placement, the tick).
#[derive(Debug, Default)]
pub(super) struct Rq {
    cfs: Mutex<CfsRq>,
    nr_running: AtomicUsize,
    nr_queued: AtomicUsize,
    min_vruntime: AtomicU64,
}

/// A held run-queue lock ([`Rq::lock`]): the queue's books, and on release the
/// mirrors of its counts updated.
pub(super) struct RqGuard<'a> {
    rq: &'a Rq,
    cfs: MutexGuard<'a, CfsRq>,
}

impl std::ops::Deref for RqGuard<'_> {
    type Target = CfsRq;
    fn deref(&self) -> &CfsRq {
        &self.cfs
    }
}

impl std::ops::DerefMut for RqGuard<'_> {
    fn deref_mut(&mut self) -> &mut CfsRq {
        &mut self.cfs
    }
}

impl Drop for RqGuard<'_> {
    fn drop(&mut self) {
        self.rq
            .nr_running
            .store(self.cfs.nr_running(), Ordering::SeqCst);
        self.rq
            .nr_queued
            .store(self.cfs.nr_queued(), Ordering::SeqCst);
        self.rq
            .min_vruntime
            .store(self.cfs.min_vruntime, Ordering::SeqCst);
    }
}

impl Rq {
    /// `rq_lock()`: takes the queue's lock (class [`crate::lockstat::RQ_LOCK`]).
    pub(super) fn lock(&self) -> RqGuard<'_> {
        let cfs = crate::lockstat::RQ_LOCK.acquire(|| self.cfs.try_lock(), || self.cfs.lock());
        RqGuard { rq: self, cfs }
    }

    /// `rq->nr_running`, read without the lock.
    pub(super) fn nr_running(&self) -> usize {
        self.nr_running.load(Ordering::SeqCst)
    }

    /// Tasks waiting on the queue (runnable, not running), read without the lock.
    pub(super) fn nr_queued(&self) -> usize {
        self.nr_queued.load(Ordering::SeqCst)
    }

    /// `cfs_rq->min_vruntime`, read without the lock.
    fn min_vruntime(&self) -> u64 {
        self.min_vruntime.load(Ordering::SeqCst)
    }
}

/// Where a task is in the scheduler (`p->on_rq` with `task_cpu()`, and `p->se` while it
/// is on no queue).
#[derive(Debug, Clone, Copy)]
enum Place {
    /// On hart `0`'s queue (waiting or running).
    Queued(usize),
    /// Asleep, its entity kept here for its wake-up.
    Sleeping(Sleeper),
}

/// A task's scheduler state under its `p->pi_lock` ([`Rqs`]'s hashed `pi` locks).
#[derive(Debug, Clone, Copy)]
struct TaskRq {
    place: Place,
    /// How many times it went to sleep: a wake-up without the kernel lock names the
    /// sleep it ends ([`Rqs::try_to_wake_up`]), so a late one cannot end a later sleep.
    sleeps: u64,
}

/// Locks of the task-state table per hart (`p->pi_lock`, hashed by tid).
const PI_LOCKS_PER_HART: usize = 4;

/// Every hart's run queue (the per-CPU `runqueues`), shared by the harts, and each
/// task's place among them: each queue has its own lock (`rq->lock`), each task's place
/// is under its hashed `p->pi_lock`, taken before a queue's lock (Linux's order), and
/// none of it needs the kernel lock — so `try_to_wake_up()` runs on any hart, with or
/// without it.
#[derive(Debug)]
pub(super) struct Rqs {
    /// The scheduler's clock (`rq_clock_task()`), which every queue's time is kept on.
    clock: SchedClock,
    rq: Vec<Rq>,
    /// By tid, hashed over the locks (tid modulo their number): each task's place.
    pi: Vec<Mutex<BTreeMap<u32, TaskRq>>>,
}

impl Rqs {
    /// Queues for `harts` harts timed by `clock`, all empty, and no task.
    pub(super) fn new(harts: usize, clock: SchedClock) -> Self {
        let harts = harts.max(1);
        Self {
            clock,
            rq: (0..harts).map(|_| Rq::default()).collect(),
            pi: (0..harts * PI_LOCKS_PER_HART)
                .map(|_| Mutex::new(BTreeMap::new()))
                .collect(),
        }
    }

    /// The clock the queues' time is kept on.
    pub(super) fn clock(&self) -> SchedClock {
        self.clock
    }

    /// `raw_spin_lock(&p->pi_lock)` for task `tid` (class [`crate::lockstat::PI_LOCK`]).
    fn pi_lock(&self, tid: u32) -> MutexGuard<'_, BTreeMap<u32, TaskRq>> {
        let m = &self.pi[tid as usize % self.pi.len()];
        crate::lockstat::PI_LOCK.acquire(|| m.try_lock(), || m.lock())
    }

    /// The hart whose queue task `tid` is on (`task_cpu()` of a task `on_rq`), if any.
    #[cfg(test)]
    pub(super) fn task_cpu(&self, tid: u32) -> Option<usize> {
        match self.pi_lock(tid).get(&tid)?.place {
            Place::Queued(cpu) => Some(cpu),
            Place::Sleeping(_) => None,
        }
    }

    /// Hart `hart`'s queue (`cpu_rq()`); a hart out of range gets the last one.
    pub(super) fn cpu_rq(&self, hart: usize) -> &Rq {
        let last = self.rq.len() - 1;
        &self.rq[hart.min(last)]
    }

    /// The hart a task goes to (`select_task_rq_fair()`): a waking task that last ran
    /// on `prev` (`Some`) stays there if that hart is idle or none is
    /// (`select_idle_sibling()`: else the first idle hart after `prev`); a new task
    /// (`None`: `SD_BALANCE_FORK`) goes to an idle hart, or else to the queue with the
    /// fewest tasks, `this` hart first among equals. `idle(h)`: hart `h` waits for work.
    pub(super) fn select_task_rq(
        &self,
        prev: Option<usize>,
        this: usize,
        idle: impl Fn(usize) -> bool,
    ) -> usize {
        let n = self.rq.len();
        let this = this.min(n - 1);
        let start = prev.map_or(this, |p| p.min(n - 1));
        if idle(start) {
            return start;
        }
        if let Some(h) = (1..n).map(|i| (start + i) % n).find(|&h| idle(h)) {
            return h;
        }
        match prev {
            Some(_) => start,
            None => (0..n)
                .map(|i| (this + i) % n)
                .min_by_key(|&h| self.cpu_rq(h).nr_running())
                .unwrap_or(this),
        }
    }

    /// `try_to_wake_up()`'s enqueue, from any hart, with or without the kernel lock:
    /// task `tid`, asleep (or new: never on a queue), joins the queue of the hart
    /// [`Rqs::select_task_rq`] gives (`this`: the waker's hart; `idle(h)`: hart `h`
    /// waits for work), under its `p->pi_lock` and that queue's lock
    /// (`ttwu_do_activate()`). `sleep`: the sleep the wake-up ends (a futex waker's,
    /// [`crate::futex::FutexQ::claim_wake`]); it is a no-op if the task has slept again
    /// since, or is gone. Returns the hart, and whether the task should preempt that
    /// hart's running task (`check_preempt_wakeup()`: the caller kicks the hart,
    /// `resched_curr()`, or wakes it if idle); `None` if nothing was done — the task
    /// is on a queue already (`ttwu_runnable()`), or not the sleeper `sleep` names.
    pub(super) fn try_to_wake_up(
        &self,
        tid: u32,
        this: usize,
        idle: impl Fn(usize) -> bool,
        sleep: Option<u64>,
    ) -> Option<(usize, bool)> {
        let mut pi = self.pi_lock(tid);
        let (how, prev, sleeps) = match pi.get(&tid).copied() {
            None if sleep.is_none() => (Enqueue::New, None, 0),
            None => return None,
            Some(TaskRq {
                place: Place::Queued(_),
                ..
            }) => return None,
            Some(TaskRq {
                place: Place::Sleeping(s),
                sleeps,
            }) => {
                if sleep.is_some_and(|n| n != sleeps) {
                    return None;
                }
                (Enqueue::Wakeup(s), Some(s.cpu), sleeps)
            }
        };
        let cpu = self.select_task_rq(prev, this, idle);
        let preempt = self.activate(cpu, tid, how);
        pi.insert(
            tid,
            TaskRq {
                place: Place::Queued(cpu),
                sleeps,
            },
        );
        Some((cpu, preempt))
    }

    /// `activate_task()`: task `tid` joins hart `cpu`'s queue as `how` says (a waking
    /// task's vruntime carried over from the queue it left, `migrate_task_rq_fair()`).
    /// Returns whether it should preempt that hart's running task
    /// (`check_preempt_wakeup()`; the caller kicks the hart, `resched_curr()`).
    fn activate(&self, cpu: usize, tid: u32, how: Enqueue) -> bool {
        let mut rq = self.cpu_rq(cpu).lock();
        let se = match how {
            Enqueue::New => SchedEntity::default(),
            Enqueue::Wakeup(s) => self.carried_over(s, cpu, rq.min_vruntime),
        };
        rq.enqueue(tid, se, how);
        rq.check_preempt_wakeup(tid)
    }

    /// Entity `s`, which left hart `s.cpu`'s queue, measured against hart `dst`'s queue
    /// whose `min_vruntime` is `dst_min`: its lag behind the old queue's `min_vruntime`
    /// (read without that queue's lock) kept against the new one's
    /// (`migrate_task_rq_fair()`'s `vruntime -= min_vruntime` and the enqueue's `+=`).
    fn carried_over(&self, s: Sleeper, dst: usize, dst_min: u64) -> SchedEntity {
        if s.cpu == dst {
            return s.se;
        }
        let lag =
            s.se.vruntime
                .saturating_sub(self.cpu_rq(s.cpu).min_vruntime());
        SchedEntity {
            vruntime: dst_min.saturating_add(lag),
        }
    }

    /// `deactivate_task()`: task `tid` leaves its queue, the running task accounted up
    /// to `now` first, under its `p->pi_lock` and the queue's lock. A task that goes to
    /// sleep (`sleep`) keeps its entity for its wake-up, as a new sleep; one that exits
    /// is forgotten. Returns what was charged, and the number of the sleep (what a
    /// futex waiter parks with, [`crate::futex::FutexQ::park`]).
    pub(super) fn deactivate(&self, tid: u32, now: u64, sleep: bool) -> (Option<Charged>, u64) {
        let mut pi = self.pi_lock(tid);
        let Some(mut t) = pi.remove(&tid) else {
            return (None, 0);
        };
        let mut charged = None;
        if let Place::Queued(cpu) = t.place {
            let dequeued = self.cpu_rq(cpu).lock().dequeue(tid, now);
            let se = dequeued.map_or_else(SchedEntity::default, |(se, c)| {
                charged = c;
                se
            });
            t.sleeps += 1;
            t.place = Place::Sleeping(Sleeper { se, cpu });
        }
        if sleep {
            pi.insert(tid, t);
        }
        (charged, t.sleeps)
    }

    /// Task `old` is now called `new` (`exchange_tids()`), on its queue too.
    pub(super) fn rename(&self, old: u32, new: u32) {
        let Some(t) = self.pi_lock(old).remove(&old) else {
            return;
        };
        if let Place::Queued(cpu) = t.place {
            self.cpu_rq(cpu).lock().rename(old, new);
        }
        self.pi_lock(new).insert(new, t);
    }

    /// Tasks waiting on any queue (runnable, not running), read without the locks.
    pub(super) fn nr_waiting(&self) -> usize {
        self.rq.iter().map(Rq::nr_queued).sum()
    }

    /// The queue other than `this`'s with the most waiting tasks (at least
    /// `min_waiting`; ties: the lowest hart), read without the locks
    /// (`sched_balance_find_src_rq()`).
    fn busiest(&self, this: usize, min_waiting: usize) -> Option<usize> {
        (0..self.rq.len())
            .filter(|&h| h != this)
            .map(|h| (h, self.cpu_rq(h).nr_queued()))
            .filter(|&(_, q)| q >= min_waiting.max(1))
            .max_by_key(|&(h, q)| (q, std::cmp::Reverse(h)))
            .map(|(h, _)| h)
    }

    /// Moves the leftmost waiting task of hart `src`'s queue to hart `dst`'s
    /// (`detach_task()` under the source's lock, then `attach_task()` under the
    /// destination's: never both at once). Returns it; `None` if `src` has none waiting.
    fn pull_one(&self, src: usize, dst: usize) -> Option<u32> {
        let &(_, tid) = self.cpu_rq(src).lock().timeline.first()?;
        // p->pi_lock before the queue's lock; then check it is still waiting there.
        let mut pi = self.pi_lock(tid);
        let t = pi.get_mut(&tid)?;
        if !matches!(t.place, Place::Queued(cpu) if cpu == src) {
            return None;
        }
        let se = {
            let mut rq = self.cpu_rq(src).lock();
            if rq.curr() == Some(tid) {
                return None;
            }
            rq.dequeue(tid, 0)?.0
        };
        self.activate_migrated(dst, tid, Sleeper { se, cpu: src });
        t.place = Place::Queued(dst);
        Some(tid)
    }

    /// `attach_task()`: a task detached from another queue joins hart `dst`'s, its
    /// vruntime carried over (no sleeper placement: it was runnable all along).
    fn activate_migrated(&self, dst: usize, tid: u32, s: Sleeper) {
        let mut rq = self.cpu_rq(dst).lock();
        let se = self.carried_over(s, dst, rq.min_vruntime);
        rq.entities.insert(tid, se);
        rq.timeline.insert((se.vruntime, tid));
        rq.update_min_vruntime();
    }

    /// `newidle_balance()` (`sched_balance_newidle()`) for hart `this`, whose queue has
    /// no task waiting: pulls the leftmost waiting task of the busiest other queue.
    /// Returns it (now on `this`'s queue), or `None` if no other queue has one waiting.
    pub(super) fn newidle_balance(&self, this: usize) -> Option<u32> {
        let src = self.busiest(this, 1)?;
        self.pull_one(src, this)
    }

    /// The periodic balance at a scheduling point of hart `this` (`sched_balance_rq()`
    /// of the tick): if the busiest other queue has at least two tasks more than
    /// `this`'s and one waiting, pulls its leftmost waiting task. Returns it.
    pub(super) fn balance(&self, this: usize) -> Option<u32> {
        let mine = self.cpu_rq(this).nr_running();
        let src = self.busiest(this, 1)?;
        if self.cpu_rq(src).nr_running() < mine + 2 {
            return None;
        }
        self.pull_one(src, this)
    }
}

/// The host-side scheduler tick of parallel mode: what the harts publish, lock-free, for
/// the tick thread ([`Tick::run`]), which kicks a hart out of user mode when its slice
/// ends or the earliest timer is due (`scheduler_tick()` → `resched_curr()`, and the
/// hrtimer interrupt). Times are ns of [`Tick::now_ns`]; `u64::MAX` is "none".
#[derive(Debug)]
pub(super) struct Tick {
    start: Instant,
    /// Per hart: when its task's slice ends, while it runs one in user mode.
    resched_at: Vec<AtomicU64>,
    /// Per hart: its slice ended while a task waits (`check_preempt_tick()`'s
    /// `resched_curr()`): set by the tick with an interrupt, taken by the hart, which
    /// reschedules without the kernel lock if it can ([`Tick::take_resched`]).
    resched: Vec<AtomicBool>,
    /// Per hart: when its timer base's earliest timer is due (the per-CPU clock event
    /// device an hrtimer base programs, `hrtimer_reprogram()`): sleepers' timers and
    /// `ITIMER_REAL`s alike.
    timer_at: Vec<AtomicU64>,
    /// Per hart: its task's process has a CPU-time interval timer armed
    /// (`ITIMER_VIRTUAL`/`ITIMER_PROF`): the hart is interrupted at every tick, and
    /// accounts its task's time and checks the timers without the kernel lock, as
    /// Linux's `update_process_times()` → `run_posix_cpu_timers()` checks the current
    /// task's.
    cputimer: Vec<AtomicBool>,
    /// Runnable tasks no hart runs, as of the last time a hart left the kernel lock: a
    /// slice ends with a kick only if some task waits for it (`check_preempt_tick()`
    /// preempts only for another task).
    waiting: AtomicUsize,
    /// The run is over: the tick thread leaves.
    done: AtomicBool,
}

impl Tick {
    /// A tick for `harts` harts, nothing armed.
    pub(super) fn new(harts: usize) -> Self {
        Self {
            start: Instant::now(),
            resched_at: (0..harts).map(|_| AtomicU64::new(u64::MAX)).collect(),
            resched: (0..harts).map(|_| AtomicBool::new(false)).collect(),
            timer_at: (0..harts).map(|_| AtomicU64::new(u64::MAX)).collect(),
            cputimer: (0..harts).map(|_| AtomicBool::new(false)).collect(),
            waiting: AtomicUsize::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// The tick's clock, in ns.
    pub(super) fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Hart `hart`'s task has `left_ns` of its slice left as it goes to user mode
    /// (`None`: no slice to end, e.g. the hart goes idle), its process has a CPU-time
    /// interval timer armed (`cputimer`), and `waiting` runnable tasks wait for a hart.
    pub(super) fn arm_slice(
        &self,
        hart: usize,
        left_ns: Option<u64>,
        cputimer: bool,
        waiting: usize,
    ) {
        self.waiting.store(waiting, Ordering::SeqCst);
        if let Some(r) = self.resched.get(hart) {
            r.store(false, Ordering::SeqCst);
        }
        if let Some(at) = self.resched_at.get(hart) {
            let when = left_ns.map_or(u64::MAX, |l| self.now_ns().saturating_add(l));
            at.store(when, Ordering::SeqCst);
        }
        if let Some(c) = self.cputimer.get(hart) {
            c.store(cputimer && left_ns.is_some(), Ordering::SeqCst);
        }
    }

    /// Hart `hart`'s task's process has a CPU-time interval timer armed (`cputimer`), as
    /// a call served without the kernel lock (`setitimer`) left it.
    pub(super) fn set_cputimer(&self, hart: usize, cputimer: bool) {
        if let Some(c) = self.cputimer.get(hart) {
            c.store(cputimer, Ordering::SeqCst);
        }
    }

    /// `waiting` runnable tasks wait for a hart, as a drain of the wake list found them
    /// (`Kernel::ttwu_pending`) while the harts' slices stay armed.
    pub(super) fn set_waiting(&self, waiting: usize) {
        self.waiting.store(waiting, Ordering::SeqCst);
    }

    /// Hart `hart`'s timer base's earliest timer is due in `in_ns` (`None`: no timer).
    pub(super) fn arm_timer(&self, hart: usize, in_ns: Option<u64>) {
        let when = in_ns.map_or(u64::MAX, |l| self.now_ns().saturating_add(l));
        if let Some(at) = self.timer_at.get(hart) {
            at.store(when, Ordering::SeqCst);
        }
    }

    /// Whether hart `hart`'s slice ended ([`Tick::run`]) and it has not yet taken it.
    pub(super) fn resched_pending(&self, hart: usize) -> bool {
        self.resched
            .get(hart)
            .is_some_and(|r| r.load(Ordering::SeqCst))
    }

    /// Takes hart `hart`'s slice end, if the tick marked one: `true` once per mark.
    pub(super) fn take_resched(&self, hart: usize) -> bool {
        self.resched
            .get(hart)
            .is_some_and(|r| r.swap(false, Ordering::SeqCst))
    }

    /// Ends [`Tick::run`].
    pub(super) fn stop(&self) {
        self.done.store(true, Ordering::SeqCst);
    }

    /// The tick thread: every [`TICK`], marks each hart whose slice has ended if a task
    /// waits for a hart and interrupts it (it reschedules, without the kernel lock if it
    /// can: [`Tick::take_resched`]), interrupts each hart whose process has a CPU-time timer armed
    /// (without the kernel lock, its trap accounts the task's time and checks the
    /// process's timers: `update_process_times()`), and — when a hart's
    /// timer base's earliest timer is due — calls `timer_due(hart)` (which wakes an idle
    /// hart or kicks a busy one: it fires the timers and preempts for the woken).
    /// A deadline or slice end is cleared once acted on; the harts re-arm them when
    /// they next leave the kernel. Returns after [`Tick::stop`].
    pub(super) fn run(&self, smp: &Smp, timer_due: impl Fn(usize)) {
        while !self.done.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            let now = self.now_ns();
            let waiting = self.waiting.load(Ordering::SeqCst) > 0;
            for (h, (at, cputimer)) in self.resched_at.iter().zip(&self.cputimer).enumerate() {
                if waiting && at.load(Ordering::SeqCst) <= now {
                    at.store(u64::MAX, Ordering::SeqCst);
                    if let Some(r) = self.resched.get(h) {
                        r.store(true, Ordering::SeqCst);
                    }
                    smp.interrupt(h);
                } else if cputimer.load(Ordering::SeqCst) {
                    smp.interrupt(h);
                }
            }
            for (h, at) in self.timer_at.iter().enumerate() {
                if at.load(Ordering::SeqCst) <= now {
                    at.store(u64::MAX, Ordering::SeqCst);
                    timer_due(h);
                }
            }
        }
    }
}

/// Stops the tick ([`Tick::stop`]) when dropped: held by each hart's thread, so the tick
/// ends with the first hart to leave, by the end of the run or by a panic.
pub(super) struct StopTick<'a>(pub Option<&'a Tick>);

impl Drop for StopTick<'_> {
    fn drop(&mut self) {
        if let Some(tick) = self.0 {
            tick.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tids` new on hart 0's queue of `rqs`.
    fn spawn(rqs: &Rqs, tids: &[u32]) {
        for &t in tids {
            spawn_on(rqs, 0, t);
        }
    }

    /// Task `tid` new on hart `hart`'s queue of `rqs` (the only idle hart).
    fn spawn_on(rqs: &Rqs, hart: usize, tid: u32) {
        let placed = rqs.try_to_wake_up(tid, hart, |h| h == hart, None);
        assert_eq!(placed, Some((hart, false)));
    }

    /// Sleeping task `tid`'s entity in `rqs`.
    fn sleeper(rqs: &Rqs, tid: u32) -> Option<Sleeper> {
        match rqs.pi_lock(tid).get(&tid)?.place {
            Place::Sleeping(s) => Some(s),
            Place::Queued(_) => None,
        }
    }

    /// Hart `hart` of `rqs` runs its pick from `now` (deterministic with `rng`).
    fn run_next(rqs: &Rqs, hart: usize, now: u64, rng: Option<&mut Prng>) -> Option<u32> {
        let mut rq = rqs.cpu_rq(hart).lock();
        rq.put_prev(now);
        let t = rq.pick(rng)?;
        assert!(rq.set_next(t, t, CputimeAcct::default(), now));
        Some(t)
    }

    #[test]
    fn the_queue_picks_its_leftmost_and_charges_the_running_task() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[3, 1, 2]);
        assert_eq!(rqs.cpu_rq(0).nr_running(), 3);
        assert_eq!(run_next(&rqs, 0, 100, None), Some(1));
        let charged = rqs.cpu_rq(0).lock().put_prev(2_100);
        assert_eq!(
            charged,
            Some(Charged {
                tgid: 1,
                delta_ns: 2_000
            })
        );
        let rq = rqs.cpu_rq(0).lock();
        // 1 ran: 2 and 3 are left of it now, the smaller tid first.
        assert_eq!(rq.pick(None), Some(2));
        assert_eq!(rq.curr(), None);
        assert_eq!(rq.nr_queued(), 3);
    }

    #[test]
    fn a_yield_lets_another_waiting_task_run_and_alone_changes_nothing() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[1, 2]);
        assert_eq!(run_next(&rqs, 0, 100, None), Some(1));
        // 1 yields after 10 ns: its vruntime is still the smallest, yet 2 runs next,
        // in either scheduler mode.
        {
            let mut rq = rqs.cpu_rq(0).lock();
            rq.yield_curr();
            assert!(rq.need_resched());
        }
        assert_eq!(run_next(&rqs, 0, 110, None), Some(2));
        // 2 yields back (seeded pick or not) and 1 runs; the skip is spent with it, and
        // the next pick goes by vruntime again: 2 (10 ns) before 1 (20 ns).
        rqs.cpu_rq(0).lock().yield_curr();
        let mut rng = Prng::new(7);
        assert_eq!(run_next(&rqs, 0, 120, Some(&mut rng)), Some(1));
        assert_eq!(run_next(&rqs, 0, 130, None), Some(2));
        // Alone on its queue, a yield does nothing.
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[5]);
        assert_eq!(run_next(&rqs, 0, 100, None), Some(5));
        let mut rq = rqs.cpu_rq(0).lock();
        rq.yield_curr();
        assert!(!rq.need_resched());
    }

    #[test]
    fn a_dequeued_task_is_never_picked_and_its_entity_goes_with_it() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[1, 2]);
        assert_eq!(run_next(&rqs, 0, 0, None), Some(1));
        // 1 blocks after 5 ms: dequeued while running, charged, its entity kept.
        let (charged, seq) = rqs.deactivate(1, 5_000_000, true);
        assert_eq!(charged.map(|c| c.delta_ns), Some(5_000_000));
        assert_eq!(seq, 1);
        let s = sleeper(&rqs, 1).unwrap();
        assert_eq!(s.se.vruntime, 5_000_000);
        assert_eq!(s.cpu, 0);
        assert_eq!(rqs.task_cpu(1), None);
        assert_eq!(rqs.cpu_rq(0).nr_running(), 1);
        assert_eq!(run_next(&rqs, 0, 5_000_000, None), Some(2));
        assert_eq!(run_next(&rqs, 0, 6_000_000, None), Some(2));
        // Exiting while asleep: forgotten.
        assert_eq!(rqs.deactivate(1, 6_000_000, false), (None, 1));
        assert!(sleeper(&rqs, 1).is_none());
    }

    #[test]
    fn a_wake_up_names_the_sleep_it_ends() {
        let rqs = Rqs::new(2, SchedClock::Cycles);
        spawn(&rqs, &[1]);
        assert_eq!(run_next(&rqs, 0, 0, None), Some(1));
        let (_, first) = rqs.deactivate(1, 10, true);
        // A waker of another sleep number does nothing; the right one enqueues it on
        // the idle hart 1 (hart 0 busy), and a second wake-up finds it queued.
        assert_eq!(rqs.try_to_wake_up(1, 0, |h| h == 1, Some(first + 1)), None);
        assert_eq!(
            rqs.try_to_wake_up(1, 0, |h| h == 1, Some(first)),
            Some((1, false))
        );
        assert_eq!(rqs.task_cpu(1), Some(1));
        assert_eq!(rqs.try_to_wake_up(1, 0, |_| false, None), None);
        // It sleeps again: the first sleep's late waker cannot end the second.
        assert_eq!(run_next(&rqs, 1, 20, None), Some(1));
        let (_, second) = rqs.deactivate(1, 30, true);
        assert_eq!(second, first + 1);
        assert_eq!(rqs.try_to_wake_up(1, 0, |_| false, Some(first)), None);
        assert_eq!(
            rqs.try_to_wake_up(1, 0, |_| false, Some(second)),
            Some((1, false))
        );
        // A task never seen is woken only as a new one (no sleep number).
        assert_eq!(rqs.try_to_wake_up(9, 0, |_| false, Some(0)), None);
    }

    #[test]
    fn a_woken_sleeper_is_placed_half_a_latency_behind_and_preempts() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[1, 2]);
        assert_eq!(run_next(&rqs, 0, 0, None), Some(1));
        // 2 sleeps at once; 1 runs 100 ms.
        rqs.deactivate(2, 0, true);
        rqs.cpu_rq(0).lock().update_curr(100_000_000);
        assert_eq!(rqs.try_to_wake_up(2, 0, |_| false, None), Some((0, true)));
        let rq = rqs.cpu_rq(0).lock();
        let v2 = rq.entity(2).map(|e| e.vruntime);
        assert_eq!(v2, Some(100_000_000 - SCHED_LATENCY_NS / 2));
        assert!(rq.need_resched());
    }

    #[test]
    fn a_wakeup_within_the_granularity_does_not_preempt() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[1, 2]);
        assert_eq!(run_next(&rqs, 0, 0, None), Some(1));
        rqs.deactivate(2, 0, true);
        rqs.cpu_rq(0)
            .lock()
            .update_curr(SCHED_WAKEUP_GRANULARITY_NS / 2);
        assert_eq!(rqs.try_to_wake_up(2, 0, |_| false, None), Some((0, false)));
        assert!(!rqs.cpu_rq(0).lock().need_resched());
    }

    #[test]
    fn an_idle_hart_pulls_the_leftmost_waiting_task_of_the_busiest_queue() {
        let rqs = Rqs::new(3, SchedClock::Cycles);
        spawn(&rqs, &[1, 2]);
        for t in [3, 4, 5] {
            spawn_on(&rqs, 1, t);
        }
        assert_eq!(run_next(&rqs, 1, 0, None), Some(3));
        // Hart 1 has 2 waiting (4, 5), hart 0 has 2 waiting (1, 2): the tie goes to the
        // lower hart; the running task is never taken.
        assert_eq!(rqs.newidle_balance(2), Some(1));
        assert_eq!(rqs.task_cpu(1), Some(2));
        assert_eq!(rqs.cpu_rq(2).nr_running(), 1);
        assert_eq!(rqs.cpu_rq(0).nr_running(), 1);
        assert_eq!(rqs.newidle_balance(2), Some(4));
        assert_eq!(rqs.newidle_balance(2), Some(2));
        assert_eq!(rqs.newidle_balance(2), Some(5));
        // Only hart 1's running task is left elsewhere: nothing to pull.
        assert_eq!(rqs.newidle_balance(2), None);
        assert_eq!(rqs.cpu_rq(1).lock().curr(), Some(3));
        assert_eq!(run_next(&rqs, 2, 0, None), Some(1));
    }

    #[test]
    fn a_migrated_task_keeps_its_lag_against_the_new_queues_min_vruntime() {
        let rqs = Rqs::new(2, SchedClock::Cycles);
        spawn(&rqs, &[1, 2]);
        assert_eq!(run_next(&rqs, 0, 0, None), Some(1));
        rqs.cpu_rq(0).lock().update_curr(10_000_000);
        assert_eq!(run_next(&rqs, 0, 10_000_000, None), Some(2));
        // min_vruntime on hart 0 is 0 (task 2 has run nothing); task 1 is 10 ms right.
        spawn_on(&rqs, 1, 7);
        assert_eq!(run_next(&rqs, 1, 0, None), Some(7));
        rqs.cpu_rq(1).lock().update_curr(50_000_000);
        // Balance: hart 1 has 1 task, hart 0 has 2 — not two more: nothing moves.
        assert_eq!(rqs.balance(1), None);
        assert_eq!(rqs.newidle_balance(1), Some(1));
        let v1 = rqs.cpu_rq(1).lock().entity(1).map(|e| e.vruntime);
        assert_eq!(v1, Some(50_000_000 + 10_000_000));
    }

    #[test]
    fn select_task_rq_prefers_the_previous_hart_then_an_idle_one() {
        let rqs = Rqs::new(4, SchedClock::Cycles);
        let idle = |set: &'static [usize]| move |h: usize| set.contains(&h);
        // Previous hart idle: it.
        assert_eq!(rqs.select_task_rq(Some(2), 0, idle(&[1, 2])), 2);
        // Previous hart busy, another idle: the first idle one after it.
        assert_eq!(rqs.select_task_rq(Some(2), 0, idle(&[1, 3])), 3);
        assert_eq!(rqs.select_task_rq(Some(3), 0, idle(&[1])), 1);
        // None idle: the previous hart.
        assert_eq!(rqs.select_task_rq(Some(2), 0, idle(&[])), 2);
        // A new task with none idle: the least loaded queue, this hart among equals.
        spawn_on(&rqs, 0, 1);
        spawn_on(&rqs, 1, 2);
        spawn_on(&rqs, 3, 3);
        assert_eq!(rqs.select_task_rq(None, 1, idle(&[])), 2);
        spawn_on(&rqs, 2, 4);
        assert_eq!(rqs.select_task_rq(None, 1, idle(&[])), 1);
        assert_eq!(rqs.select_task_rq(None, 1, idle(&[3])), 3);
    }

    #[test]
    fn a_renamed_task_keeps_its_place() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        spawn(&rqs, &[5, 6]);
        assert_eq!(run_next(&rqs, 0, 0, None), Some(5));
        rqs.rename(5, 1);
        rqs.rename(6, 2);
        let rq = rqs.cpu_rq(0).lock();
        assert_eq!(rq.curr(), Some(1));
        assert_eq!(rq.pick(None), Some(2));
        assert!(rq.entity(5).is_none() && rq.entity(6).is_none());
        drop(rq);
        assert_eq!((rqs.task_cpu(1), rqs.task_cpu(5)), (Some(0), None));
    }

    #[test]
    fn the_seeded_pick_never_leaves_a_task_behind_for_long() {
        let rqs = Rqs::new(1, SchedClock::Cycles);
        let tids = [1, 2, 3, 4, 5, 6, 7, 8];
        spawn(&rqs, &tids);
        let mut rng = Prng::new(42);
        let mut now = 0;
        let mut last_run = BTreeMap::new();
        let mut longest_wait = 0;
        for _ in 0..10_000 {
            let t = run_next(&rqs, 0, now, Some(&mut rng)).unwrap();
            let waited = now - last_run.get(&t).copied().unwrap_or(0);
            longest_wait = longest_wait.max(waited);
            // A seeded quantum of up to 1 ms.
            now += 1 + rng.next_u64() % 1_000_000;
            rqs.cpu_rq(0).lock().update_curr(now);
            last_run.insert(t, now);
        }
        // A task that stopped is at most granularity + a quantum past the smallest
        // vruntime; it is the only candidate once each of the 7 others has caught up
        // with it plus the granularity: at most twice that each, a quantum included.
        let bound = 7 * 2 * (SCHED_MIN_GRANULARITY_NS + 1_000_000);
        assert!(longest_wait <= bound, "{longest_wait} > {bound}");
        let rq = rqs.cpu_rq(0).lock();
        // All placed at vruntime 0 and never woken: each vruntime is its runtime.
        let runtimes: Vec<u64> = tids
            .iter()
            .map(|t| rq.entity(*t).unwrap().vruntime)
            .collect();
        let (lo, hi) = (
            runtimes.iter().min().unwrap(),
            runtimes.iter().max().unwrap(),
        );
        assert!(
            hi - lo <= SCHED_MIN_GRANULARITY_NS + 1_000_000,
            "{runtimes:?}"
        );
    }

    #[test]
    fn slices_shrink_with_the_load_down_to_the_granularity() {
        assert_eq!(CfsRq::slice_ns(1), SCHED_LATENCY_NS);
        assert_eq!(CfsRq::slice_ns(2), SCHED_LATENCY_NS / 2);
        assert_eq!(CfsRq::slice_ns(100), SCHED_MIN_GRANULARITY_NS);
    }

    #[test]
    fn update_curr_charges_the_task_and_its_group_and_an_exited_threads_time_stays() {
        // Threads 1 and 2 of one group, on two harts' queues.
        let rqs = Rqs::new(2, SchedClock::Cycles);
        let group = Arc::new(SignalStruct::default());
        let acct = |_| CputimeAcct {
            task: Arc::default(),
            group: Arc::clone(&group),
        };
        let (a1, a2): (CputimeAcct, CputimeAcct) = (acct(1), acct(2));
        spawn_on(&rqs, 0, 1);
        spawn_on(&rqs, 1, 2);
        for (hart, tid, a) in [(0, 1, &a1), (1, 2, &a2)] {
            let mut rq = rqs.cpu_rq(hart).lock();
            assert_eq!(rq.pick(None), Some(tid));
            assert!(rq.set_next(tid, 1, a.clone(), 100));
        }
        // 1 runs 900 ns (600 in user mode), 2 runs 400 (all in user mode).
        {
            let mut rq = rqs.cpu_rq(0).lock();
            assert_eq!(rq.update_curr(1_000).map(|c| c.delta_ns), Some(900));
            assert!(rq.account_user(1, 600));
            assert!(!rq.account_user(2, 600), "not this queue's task");
        }
        {
            let mut rq = rqs.cpu_rq(1).lock();
            rq.update_curr(500);
            assert!(rq.account_user(2, 400));
        }
        let sample = |a: &CputimeAcct| a.task.sample();
        assert_eq!(
            (
                sample(&a1).sum_exec_runtime_ns,
                sample(&a1).utime_ns,
                sample(&a1).stime_ns
            ),
            (900, 600, 300)
        );
        assert_eq!(sample(&a2).sum_exec_runtime_ns, 400);
        let g = group.cputimer.cputime.sample();
        assert_eq!((g.sum_exec_runtime_ns, g.utime_ns), (1_300, 1_000));
        // 2 exits 100 ns later: charged as it leaves, its time stays the group's.
        let (charged, _) = rqs.deactivate(2, 600, false);
        assert_eq!(charged.map(|c| c.delta_ns), Some(100));
        assert_eq!(group.cputimer.cputime.sample().sum_exec_runtime_ns, 1_400);
        assert_eq!(sample(&a2).sum_exec_runtime_ns, 500);
    }
}
