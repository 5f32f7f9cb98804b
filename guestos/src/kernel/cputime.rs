//! CPU time accounting (`kernel/sched/cputime.c`, and the thread group's sums of
//! `kernel/time/posix-cpu-timers.c`): each task's own CPU time ([`CputimeAtomic`] in
//! the task, `p->se.sum_exec_runtime` and `p->utime`) and its thread group's
//! ([`ThreadGroupCputimer`] in the `signal_struct`: `signal->cputimer`'s
//! `cputime_atomic`, with the reaped children's `cutime`/`cstime`), both atomics that
//! the hart charging the time adds to without any lock, as Linux's
//! `account_group_exec_runtime()` adds to `atomic64_t`s.
//!
//! **Who charges**: the hart running the task, whenever it accounts the task's runtime —
//! `update_curr()` of its run queue ([`super::sched::CfsRq::update_curr`], under its
//! `rq->lock`: the runtime since the last accounting, user and kernel) and, at the same
//! reading of the clock, the user-mode part of it ([`super::sched::CfsRq::account_user`],
//! `account_user_time()`: the time from the return to user mode, less the kernel work
//! of the faults and calls served on the way). Each task's time is added to its
//! group's as it is charged, so an exited thread's time stays in the group's sums
//! (Linux adds a dead thread's to `sig->sum_sched_runtime` in `__exit_signal()`; here
//! it is there already). Readers — `clock_gettime` of the CPU-time clocks, `getrusage`,
//! `getitimer`, the CPU-time interval timers' check — read the atomics without a lock.
//!
//! **Where it differs from Linux**: the group's sums are always kept (Linux starts
//! `signal->cputimer` only while a CPU-time timer is armed, and otherwise sums the live
//! threads in `thread_group_cputime()` under `siglock`): with every charge made at a
//! scheduling point or a trap, not at every tick, an atomic add per charge is cheaper
//! than the walk. User time is measured, not sampled by the tick
//! (`VIRT_CPU_ACCOUNTING_GEN`'s way rather than `TICK_CPU_ACCOUNTING`'s), and system
//! time is what is left of the runtime ([`TaskCputime::stime_ns`]), without
//! `cputime_adjust()`'s scaling.

use std::sync::atomic::{AtomicU64, Ordering};

/// A sample of CPU time (`struct task_cputime`), in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TaskCputime {
    /// Time in user mode (`utime`), at most `sum_exec_runtime_ns`.
    pub utime_ns: u64,
    /// Time in the kernel on the task's behalf (`stime`): the runtime less `utime`.
    pub stime_ns: u64,
    /// Runtime, user and kernel (`sum_exec_runtime`: what `update_curr()` charged).
    pub sum_exec_runtime_ns: u64,
}

/// CPU time as atomics (`struct task_cputime_atomic`): a task's own (in its
/// [`crate::process::Task`]) or a thread group's, added to by the hart that charges it,
/// read by anyone, without a lock.
#[derive(Debug, Default)]
pub(crate) struct CputimeAtomic {
    /// `utime`, ns.
    utime: AtomicU64,
    /// `sum_exec_runtime`, ns.
    sum_exec_runtime: AtomicU64,
}

impl CputimeAtomic {
    /// `account_group_exec_runtime()` / `se.sum_exec_runtime += delta`: `ns` more runtime.
    pub(crate) fn account_exec_runtime(&self, ns: u64) {
        self.sum_exec_runtime.fetch_add(ns, Ordering::Relaxed);
    }

    /// `account_user_time()`: `ns` more time in user mode.
    pub(crate) fn account_user_time(&self, ns: u64) {
        self.utime.fetch_add(ns, Ordering::Relaxed);
    }

    /// Adds a whole sample (`wait_task_zombie()`'s `sig->cutime += …`).
    pub(crate) fn add(&self, t: TaskCputime) {
        self.account_exec_runtime(t.sum_exec_runtime_ns);
        self.account_user_time(t.utime_ns);
    }

    /// The time so far (`sample_cputime_atomic()`): `utime` is capped at the runtime
    /// (user time is charged with the runtime that covers it, but a reader between two
    /// adds could see it first) and `stime` is the rest.
    pub(crate) fn sample(&self) -> TaskCputime {
        let sum = self.sum_exec_runtime.load(Ordering::Relaxed);
        let utime = self.utime.load(Ordering::Relaxed).min(sum);
        TaskCputime {
            utime_ns: utime,
            stime_ns: sum - utime,
            sum_exec_runtime_ns: sum,
        }
    }
}

/// The CPU-time interval timers' clocks (`CPUCLOCK_VIRT`, `CPUCLOCK_PROF`): indexes of
/// [`ThreadGroupCputimer`]'s next expiries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuClock {
    /// `CPUCLOCK_VIRT`: user time (`ITIMER_VIRTUAL`).
    Virt = 0,
    /// `CPUCLOCK_PROF`: user and system time (`ITIMER_PROF`).
    Prof = 1,
}

impl CpuClock {
    /// The clock's reading in `t`, ns.
    pub(crate) fn of(self, t: TaskCputime) -> u64 {
        match self {
            CpuClock::Virt => t.utime_ns,
            CpuClock::Prof => t.sum_exec_runtime_ns,
        }
    }
}

/// A thread group's CPU time (`signal->cputimer`, `struct thread_group_cputimer`), in
/// its [`crate::process::SignalStruct`] outside `siglock`: the group's threads' time,
/// live and exited ([`ThreadGroupCputimer::cputime`]), the reaped children's
/// (`cutime`/`cstime`, [`ThreadGroupCputimer::children`]), and the earliest expiry of
/// each CPU-time interval timer (`posix_cputimers`' `bases[].nextevt`), which the
/// charging hart compares the sums with without a lock (`fastpath_timer_check()`);
/// the timers themselves are `siglock`'s ([`super::ITimers`]).
#[derive(Debug)]
pub(crate) struct ThreadGroupCputimer {
    /// The group's threads' CPU time, exited threads included (`cputime_atomic`).
    pub cputime: CputimeAtomic,
    /// The CPU time of the reaped children and their own reaped descendants
    /// (`cutime`, `cstime`; Linux's `cutime` is under `siglock`).
    pub children: CputimeAtomic,
    /// By [`CpuClock`]: the earliest expiry of the group's CPU-time timers on that
    /// clock, ns; `u64::MAX`: none armed. Written under `siglock`.
    nextevt: [AtomicU64; 2],
}

impl Default for ThreadGroupCputimer {
    fn default() -> Self {
        Self {
            cputime: CputimeAtomic::default(),
            children: CputimeAtomic::default(),
            nextevt: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
        }
    }
}

impl ThreadGroupCputimer {
    /// A timer on `clock` is armed: the next expiry is at `ns` (`u64::MAX` or 0: none).
    /// Called under `siglock`, with the timers it mirrors.
    pub(crate) fn set_nextevt(&self, clock: CpuClock, ns: u64) {
        let ns = if ns == 0 { u64::MAX } else { ns };
        if let Some(n) = self.nextevt.get(clock as usize) {
            n.store(ns, Ordering::SeqCst);
        }
    }

    /// A CPU-time interval timer is armed (`cputimer->running`).
    pub(crate) fn armed(&self) -> bool {
        self.nextevt
            .iter()
            .any(|n| n.load(Ordering::Relaxed) != u64::MAX)
    }

    /// `fastpath_timer_check()`: whether a CPU-time timer may have expired — the sums
    /// have reached a next expiry — so that `check_process_timers()` must run, under
    /// `siglock`. Lock-free; `false` at once when none is armed.
    pub(crate) fn expired(&self) -> bool {
        if !self.armed() {
            return false;
        }
        let now = self.cputime.sample();
        [CpuClock::Virt, CpuClock::Prof].into_iter().any(|c| {
            let next = self.nextevt[c as usize].load(Ordering::SeqCst);
            c.of(now) >= next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_charges_all_count_and_utime_never_passes_the_runtime() {
        // Four "harts" charge two threads' time to one group at once, each charge's
        // user part charged after its runtime (as the harts do).
        let group = Arc::new(ThreadGroupCputimer::default());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let group = Arc::clone(&group);
                std::thread::spawn(move || {
                    let own = CputimeAtomic::default();
                    for n in 0..10_000u64 {
                        let run = 10 + (n + i) % 7;
                        own.account_exec_runtime(run);
                        group.cputime.account_exec_runtime(run);
                        own.account_user_time(run / 2);
                        group.cputime.account_user_time(run / 2);
                        let s = group.cputime.sample();
                        assert!(s.utime_ns <= s.sum_exec_runtime_ns);
                    }
                    own.sample()
                })
            })
            .collect();
        let per_thread: Vec<TaskCputime> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let total = group.cputime.sample();
        let sum = |f: fn(&TaskCputime) -> u64| per_thread.iter().map(f).sum::<u64>();
        assert_eq!(total.sum_exec_runtime_ns, sum(|t| t.sum_exec_runtime_ns));
        assert_eq!(total.utime_ns, sum(|t| t.utime_ns));
        assert_eq!(
            total.stime_ns,
            total.sum_exec_runtime_ns - total.utime_ns,
            "stime is the rest"
        );
        for t in &per_thread {
            assert!(t.sum_exec_runtime_ns <= total.sum_exec_runtime_ns);
        }
    }

    #[test]
    fn the_fast_path_fires_only_at_a_next_expiry() {
        let g = ThreadGroupCputimer::default();
        g.cputime.account_exec_runtime(1_000);
        g.cputime.account_user_time(400);
        assert!(!g.armed() && !g.expired(), "nothing armed");
        g.set_nextevt(CpuClock::Prof, 1_500);
        g.set_nextevt(CpuClock::Virt, 500);
        assert!(g.armed() && !g.expired());
        g.cputime.account_exec_runtime(100);
        g.cputime.account_user_time(100);
        assert!(g.expired(), "utime reached ITIMER_VIRTUAL's 500");
        g.set_nextevt(CpuClock::Virt, 0);
        assert!(!g.expired());
        g.cputime.account_exec_runtime(400);
        assert!(g.expired(), "the runtime reached ITIMER_PROF's 1500");
        g.set_nextevt(CpuClock::Prof, u64::MAX);
        assert!(!g.armed());
    }
}
