//! The fair scheduler's books (`kernel/sched/fair.c`, simplified): per-task virtual
//! runtime, time slices measured in time, the pick of the task that has had the least
//! CPU, and wake-up preemption.
//!
//! **The clock** ([`SchedClock`], `rq_clock_task()`): modelled cycles of the hart in
//! [`crate::config::SchedMode::Deterministic`] (1 cycle = 1 ns at the virtual clock's
//! 1 GHz, so a replay stays bit for bit), host time in parallel mode. Whatever a hart
//! does between two readings while it runs a task is that task's: user instructions and
//! the kernel work of its system calls and faults (priced by the cost model and charged
//! to the hart in deterministic mode; host time spent in the kernel in parallel mode) —
//! so a thread living in system calls pays for them as Linux's `update_curr()` makes it.
//!
//! **Virtual runtime** ([`SchedEntity::vruntime`]): every task has weight 1024 (nice 0,
//! no `setpriority`), so it advances at the rate of real runtime. The pick
//! ([`Fair::pick`]) takes the runnable task with the smallest one (CFS's leftmost
//! entity); in deterministic mode a seeded choice among the runnable tasks within
//! [`SCHED_MIN_GRANULARITY_NS`] of the smallest, so seeds still interleave differently
//! while a task left behind is soon the only candidate (no starvation: each other
//! candidate leaves the window after at most that much more runtime plus one quantum).
//!
//! **Placement** (`place_entity()`): a task first seen starts at the queue's
//! `min_vruntime` (CFS adds a slice of debit, `START_DEBIT`; EEVDF places at the average
//! with half a slice of lag: we give neither credit nor debit); a sleeper that wakes gets
//! `max(its own, min_vruntime - sched_latency / 2)` (`GENTLE_FAIR_SLEEPERS`), so it is
//! ahead of the busy tasks without having banked its whole sleep.
//!
//! **Slices** ([`Fair::slice_ns`], `sched_slice()`): `sched_latency` shared among the
//! runnable tasks per hart, at least `sched_min_granularity`. In parallel mode a hart
//! keeps its task across traps until the slice is used up, a wake-up preempts it or it
//! blocks; a host-side tick ([`Tick`], the scheduler tick of a `HZ=1000` kernel) kicks a
//! hart out of user mode when its slice ends or the earliest timer is due. In
//! deterministic mode every scheduling point draws again (the seeded pick above).
//!
//! **Wake-up preemption** (`check_preempt_wakeup()` / `wakeup_preempt_entity()`): a
//! woken task whose vruntime is more than [`SCHED_WAKEUP_GRANULARITY_NS`] below that of
//! a running task preempts the running task with the largest vruntime: its hart is told
//! to reschedule (`resched_curr()`: a kick, the IPI of `smp_send_reschedule()`), unless
//! some hart is idle (it takes the woken task, as `select_idle_sibling()` would find it).
//!
//! Where it differs from Linux: one run queue for all harts under the kernel lock (no
//! per-CPU queues, no load balancing, no affinity); no weights or groups; wake-ups are
//! found by a scan of the task table at each scheduling point rather than at each
//! `try_to_wake_up()` call site (a task a file's wait queue woke is made runnable there,
//! from the kernel's `wake_q`, and preempts like any other).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::fs::Prng;
use crate::smp::Smp;

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

/// One task's scheduling state (`struct sched_entity`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SchedEntity {
    /// Virtual runtime in ns (weight 1024: real runtime, plus placement on wake-up).
    pub vruntime: u64,
    /// CPU time the task has had, user and kernel, in ns (`sum_exec_runtime`).
    pub sum_exec_runtime: u64,
    /// Last seen not runnable: the next time it is runnable it is a wake-up.
    sleeping: bool,
}

/// What a hart runs and since when (`cfs_rq->curr`, `se->exec_start`).
#[derive(Debug, Clone, Copy)]
struct Curr {
    tid: u32,
    /// Its thread group, whose CPU time the runtime also counts (for `ITIMER_PROF`).
    tgid: u32,
    /// Clock reading up to which its runtime is accounted.
    exec_start: u64,
    /// Clock reading at which it was picked: its slice runs from there.
    slice_start: u64,
}

/// The run queue's books (one for all harts; see the module docs).
#[derive(Debug)]
pub(super) struct Fair {
    clock: SchedClock,
    /// By tid: every task the scheduler has seen (dropped when the task is gone).
    entities: BTreeMap<u32, SchedEntity>,
    /// By tgid: CPU time of the thread group, exited threads included, in ns.
    group_runtime: BTreeMap<u32, u64>,
    /// By tgid: the part of `group_runtime` spent in user mode (`utime`), in ns.
    group_utime: BTreeMap<u32, u64>,
    /// Per hart: the task it runs.
    curr: Vec<Option<Curr>>,
    /// Per hart: `TIF_NEED_RESCHED` — a wake-up preempted its task.
    need_resched: Vec<bool>,
    /// `cfs_rq->min_vruntime`: never goes backwards.
    min_vruntime: u64,
    /// Runnable tasks at the last scan (`nr_running`, all harts).
    nr_running: usize,
}

impl Fair {
    /// Books for `harts` harts, timed by `clock`.
    pub(super) fn new(harts: usize, clock: SchedClock) -> Self {
        Self {
            clock,
            entities: BTreeMap::new(),
            group_runtime: BTreeMap::new(),
            group_utime: BTreeMap::new(),
            curr: vec![None; harts],
            need_resched: vec![false; harts],
            min_vruntime: 0,
            nr_running: 0,
        }
    }

    /// The clock on a hart whose modelled cycle count is `hart_cycles`, in ns.
    pub(super) fn now(&self, hart_cycles: u64) -> u64 {
        self.clock.now(hart_cycles)
    }

    /// Task `tid`'s entity, if the scheduler has seen it.
    #[cfg(test)]
    pub(super) fn entity(&self, tid: u32) -> Option<&SchedEntity> {
        self.entities.get(&tid)
    }

    /// CPU time of thread group `tgid` so far, in ns.
    pub(super) fn group_runtime(&self, tgid: u32) -> u64 {
        self.group_runtime.get(&tgid).copied().unwrap_or(0)
    }

    /// User-mode CPU time of thread group `tgid` so far (`utime`), in ns.
    pub(super) fn group_utime(&self, tgid: u32) -> u64 {
        self.group_utime.get(&tgid).copied().unwrap_or(0)
    }

    /// `account_user_time()`: thread group `tgid` ran `user_ns` in user mode.
    pub(super) fn account_user(&mut self, tgid: u32, user_ns: u64) {
        let u = self.group_utime.entry(tgid).or_default();
        *u = u.saturating_add(user_ns);
    }

    /// The clock the books are kept on.
    pub(super) fn clock(&self) -> SchedClock {
        self.clock
    }

    /// The task hart `hart` runs, if any.
    pub(super) fn curr(&self, hart: usize) -> Option<u32> {
        self.curr.get(hart).copied().flatten().map(|c| c.tid)
    }

    /// `update_curr()`: charges hart `hart`'s task with the time since it was last
    /// accounted (`now`). Returns its thread group, if it runs one.
    pub(super) fn update_curr(&mut self, hart: usize, now: u64) -> Option<u32> {
        let c = self.curr.get_mut(hart)?.as_mut()?;
        let delta = now.saturating_sub(c.exec_start);
        c.exec_start = now.max(c.exec_start);
        let (tid, tgid) = (c.tid, c.tgid);
        if let Some(se) = self.entities.get_mut(&tid) {
            se.vruntime = se.vruntime.saturating_add(delta);
            se.sum_exec_runtime = se.sum_exec_runtime.saturating_add(delta);
        }
        let g = self.group_runtime.entry(tgid).or_default();
        *g = g.saturating_add(delta);
        Some(tgid)
    }

    /// `put_prev_task()`: hart `hart` stops running its task (accounted up to `now`).
    pub(super) fn put_prev(&mut self, hart: usize, now: u64) {
        self.update_curr(hart, now);
        if let Some(c) = self.curr.get_mut(hart) {
            *c = None;
        }
    }

    /// `set_next_entity()`: hart `hart` runs task `tid` (of group `tgid`) from `now`, a
    /// new slice.
    pub(super) fn set_next(&mut self, hart: usize, tid: u32, tgid: u32, now: u64) {
        if let Some(c) = self.curr.get_mut(hart) {
            *c = Some(Curr {
                tid,
                tgid,
                exec_start: now,
                slice_start: now,
            });
        }
        if let Some(r) = self.need_resched.get_mut(hart) {
            *r = false;
        }
    }

    /// `sched_slice()`: the slice of a task when `nr_running` tasks share `harts` harts,
    /// in ns.
    pub(super) fn slice_ns(nr_running: usize, harts: usize) -> u64 {
        let per_hart = nr_running.div_ceil(harts.max(1)).max(1) as u64;
        (SCHED_LATENCY_NS / per_hart).max(SCHED_MIN_GRANULARITY_NS)
    }

    /// Time left in the slice of hart `hart`'s task at `now`, in ns (0: used up or no
    /// task).
    pub(super) fn slice_left_ns(&self, hart: usize, now: u64) -> u64 {
        let Some(c) = self.curr.get(hart).copied().flatten() else {
            return 0;
        };
        let slice = Self::slice_ns(self.nr_running, self.curr.len());
        slice.saturating_sub(now.saturating_sub(c.slice_start))
    }

    /// Runnable tasks that no hart runs, as of the last scan: what a slice's end would
    /// make room for.
    pub(super) fn nr_waiting(&self) -> usize {
        let running = self.curr.iter().filter(|c| c.is_some()).count();
        self.nr_running.saturating_sub(running)
    }

    /// Whether hart `hart` must give up its task at the next scheduling point: a wake-up
    /// preempted it (`need_resched()`).
    pub(super) fn need_resched(&self, hart: usize) -> bool {
        self.need_resched.get(hart).copied().unwrap_or(false)
    }

    /// Notes the state of every task — `(tid, tgid, runnable)`, all of them, in any
    /// order — at a scheduling point: places the new and the woken (`place_entity()`),
    /// forgets the gone, advances `min_vruntime`. Returns the tasks that woke (or are
    /// new) since the last scan, by tid.
    pub(super) fn scan(&mut self, tasks: impl Iterator<Item = (u32, bool)>) -> Vec<u32> {
        let mut seen = BTreeMap::new();
        let mut woken = Vec::new();
        let mut min_runnable: Option<u64> = None;
        let sleeper_floor = self.min_vruntime.saturating_sub(SCHED_LATENCY_NS / 2);
        for (tid, runnable) in tasks {
            let se = match self.entities.remove(&tid) {
                Some(mut se) => {
                    if runnable && se.sleeping {
                        se.vruntime = se.vruntime.max(sleeper_floor);
                        woken.push(tid);
                    }
                    se
                }
                None => {
                    if runnable {
                        woken.push(tid);
                    }
                    SchedEntity {
                        vruntime: self.min_vruntime,
                        ..SchedEntity::default()
                    }
                }
            };
            let se = SchedEntity {
                sleeping: !runnable,
                ..se
            };
            if runnable {
                min_runnable = Some(min_runnable.map_or(se.vruntime, |m| m.min(se.vruntime)));
            }
            seen.insert(tid, se);
        }
        self.entities = seen;
        self.nr_running = self.entities.values().filter(|se| !se.sleeping).count();
        if let Some(m) = min_runnable {
            self.min_vruntime = self.min_vruntime.max(m);
        }
        woken
    }

    /// Forgets thread groups not in `alive` (their CPU time is no longer asked for).
    pub(super) fn retain_groups(&mut self, alive: impl Fn(u32) -> bool) {
        self.group_runtime.retain(|&g, _| alive(g));
        self.group_utime.retain(|&g, _| alive(g));
    }

    /// `pick_next_entity()` among `candidates` (runnable tasks no other hart runs):
    /// the one with the smallest vruntime (ties: the smaller tid); with `rng`
    /// (deterministic mode), a seeded choice among those within
    /// [`SCHED_MIN_GRANULARITY_NS`] of the smallest.
    pub(super) fn pick(&self, candidates: &[u32], rng: Option<&mut Prng>) -> Option<u32> {
        let vr = |t: u32| {
            self.entities
                .get(&t)
                .map_or(self.min_vruntime, |se| se.vruntime)
        };
        let first = candidates.iter().copied().min_by_key(|&t| (vr(t), t))?;
        let Some(rng) = rng else {
            return Some(first);
        };
        let window = vr(first).saturating_add(SCHED_MIN_GRANULARITY_NS);
        let near: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|&t| vr(t) < window)
            .collect();
        let i = (rng.next_u64() % near.len().max(1) as u64) as usize;
        near.get(i).copied().or(Some(first))
    }

    /// `check_preempt_wakeup()` for task `woken`: the hart whose task it should preempt
    /// — the running task with the largest vruntime, if `woken`'s is more than
    /// [`SCHED_WAKEUP_GRANULARITY_NS`] below it — marked `need_resched`. The caller
    /// kicks that hart.
    pub(super) fn check_preempt_wakeup(&mut self, woken: u32) -> Option<usize> {
        let v = self.entities.get(&woken)?.vruntime;
        let (hart, curr_vr) = self
            .curr
            .iter()
            .enumerate()
            .filter_map(|(h, c)| {
                let c = (*c)?;
                (c.tid != woken).then(|| (h, self.entities.get(&c.tid).map(|se| se.vruntime)))
            })
            .filter_map(|(h, v)| Some((h, v?)))
            .max_by_key(|&(h, v)| (v, std::cmp::Reverse(h)))?;
        if v.saturating_add(SCHED_WAKEUP_GRANULARITY_NS) >= curr_vr {
            return None;
        }
        if let Some(r) = self.need_resched.get_mut(hart) {
            *r = true;
        }
        Some(hart)
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
    /// When the earliest timer (sleeper, interval timer) is due.
    timer_at: AtomicU64,
    /// Per hart: its task's process has a CPU-time interval timer armed
    /// (`ITIMER_VIRTUAL`/`ITIMER_PROF`), checked at every tick as Linux's
    /// `update_process_times()` → `run_posix_cpu_timers()` checks the current task's.
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
            timer_at: AtomicU64::new(u64::MAX),
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
        if let Some(at) = self.resched_at.get(hart) {
            let when = left_ns.map_or(u64::MAX, |l| self.now_ns().saturating_add(l));
            at.store(when, Ordering::SeqCst);
        }
        if let Some(c) = self.cputimer.get(hart) {
            c.store(cputimer && left_ns.is_some(), Ordering::SeqCst);
        }
    }

    /// `waiting` runnable tasks wait for a hart, as a drain of the wake list found them
    /// (`Kernel::ttwu_pending`) while the harts' slices stay armed.
    pub(super) fn set_waiting(&self, waiting: usize) {
        self.waiting.store(waiting, Ordering::SeqCst);
    }

    /// The earliest timer is due in `in_ns` (`None`: no timer).
    pub(super) fn arm_timer(&self, in_ns: Option<u64>) {
        let when = in_ns.map_or(u64::MAX, |l| self.now_ns().saturating_add(l));
        self.timer_at.store(when, Ordering::SeqCst);
    }

    /// Ends [`Tick::run`].
    pub(super) fn stop(&self) {
        self.done.store(true, Ordering::SeqCst);
    }

    /// The tick thread: every [`TICK`], kicks each hart whose slice has ended if a task
    /// waits for a hart, each hart whose process has a CPU-time timer armed (its kernel
    /// entry accounts the process's time and fires what is due), and —
    /// when the earliest timer is due — calls `timer_due` (which wakes an idle hart or
    /// kicks a busy one: its scheduler fires the timers and preempts for the woken).
    /// A deadline or slice end is cleared once acted on; the harts re-arm them when
    /// they next leave the kernel. Returns after [`Tick::stop`].
    pub(super) fn run(&self, smp: &Smp, timer_due: impl Fn()) {
        while !self.done.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            let now = self.now_ns();
            let waiting = self.waiting.load(Ordering::SeqCst) > 0;
            for (h, (at, cputimer)) in self.resched_at.iter().zip(&self.cputimer).enumerate() {
                if waiting && at.load(Ordering::SeqCst) <= now {
                    at.store(u64::MAX, Ordering::SeqCst);
                    smp.kick(h);
                } else if cputimer.load(Ordering::SeqCst) {
                    smp.kick(h);
                }
            }
            if self.timer_at.load(Ordering::SeqCst) <= now {
                self.timer_at.store(u64::MAX, Ordering::SeqCst);
                timer_due();
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

    fn runnable(tids: &[u32]) -> impl Iterator<Item = (u32, bool)> + '_ {
        tids.iter().map(|&t| (t, true))
    }

    #[test]
    fn the_task_with_the_least_runtime_is_picked_and_charged() {
        let mut f = Fair::new(1, SchedClock::Cycles);
        assert_eq!(f.scan(runnable(&[1, 2, 3])), vec![1, 2, 3]);
        assert_eq!(f.pick(&[1, 2, 3], None), Some(1));
        f.set_next(0, 1, 1, 100);
        f.put_prev(0, 2_100);
        assert_eq!(f.entity(1).map(|e| e.sum_exec_runtime), Some(2_000));
        assert_eq!(f.pick(&[1, 2, 3], None), Some(2));
        assert_eq!(f.group_runtime(1), 2_000);
    }

    #[test]
    fn a_woken_sleeper_is_placed_half_a_latency_behind_and_preempts() {
        let mut f = Fair::new(1, SchedClock::Cycles);
        f.scan([(1, true), (2, false)].into_iter());
        // Task 1 runs 100 ms while task 2 sleeps.
        f.set_next(0, 1, 1, 0);
        f.update_curr(0, 100_000_000);
        f.scan([(1, true), (2, false)].into_iter());
        assert_eq!(f.scan([(1, true), (2, true)].into_iter()), vec![2]);
        let v2 = f.entity(2).map(|e| e.vruntime);
        assert_eq!(v2, Some(100_000_000 - SCHED_LATENCY_NS / 2));
        assert_eq!(f.check_preempt_wakeup(2), Some(0));
        assert!(f.need_resched(0));
        f.set_next(0, 2, 2, 100_000_000);
        assert!(!f.need_resched(0));
    }

    #[test]
    fn a_wakeup_within_the_granularity_does_not_preempt() {
        let mut f = Fair::new(1, SchedClock::Cycles);
        f.scan([(1, true), (2, false)].into_iter());
        f.set_next(0, 1, 1, 0);
        f.update_curr(0, SCHED_WAKEUP_GRANULARITY_NS / 2);
        f.scan([(1, true), (2, true)].into_iter());
        assert_eq!(f.check_preempt_wakeup(2), None);
    }

    #[test]
    fn the_seeded_pick_never_leaves_a_task_behind_for_long() {
        let mut f = Fair::new(1, SchedClock::Cycles);
        let tids = [1, 2, 3, 4, 5, 6, 7, 8];
        f.scan(runnable(&tids));
        let mut rng = Prng::new(42);
        let mut now = 0;
        let mut last_run = BTreeMap::new();
        let mut longest_wait = 0;
        for _ in 0..10_000 {
            let t = f.pick(&tids, Some(&mut rng)).unwrap();
            let waited = now - last_run.get(&t).copied().unwrap_or(0);
            longest_wait = longest_wait.max(waited);
            f.set_next(0, t, t, now);
            // A seeded quantum of up to 1 ms.
            now += 1 + rng.next_u64() % 1_000_000;
            f.put_prev(0, now);
            last_run.insert(t, now);
            f.scan(runnable(&tids));
        }
        // A task that stopped is at most granularity + a quantum past the smallest
        // vruntime; it is the only candidate once each of the 7 others has caught up
        // with it plus the granularity: at most twice that each, a quantum included.
        let bound = 7 * 2 * (SCHED_MIN_GRANULARITY_NS + 1_000_000);
        assert!(longest_wait <= bound, "{longest_wait} > {bound}");
        let runtimes: Vec<u64> = tids
            .iter()
            .map(|t| f.entity(*t).unwrap().sum_exec_runtime)
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
        assert_eq!(Fair::slice_ns(1, 1), SCHED_LATENCY_NS);
        assert_eq!(Fair::slice_ns(4, 2), SCHED_LATENCY_NS / 2);
        assert_eq!(Fair::slice_ns(100, 1), SCHED_MIN_GRANULARITY_NS);
    }
}
