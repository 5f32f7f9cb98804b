//! High-resolution timers (`kernel/time/hrtimer.c`): one timer base per hart (`struct
//! hrtimer_cpu_base`), each its pending timers ordered by expiry behind its own lock
//! (lock class [`crate::lockstat::HRTIMER_BASE`]), all in one [`HrtimerBases`] that any
//! hart reaches without the kernel lock, with the clock they run on
//! ([`HrtimerBases::clock`], read without a lock: [`super::timekeeping`]).
//!
//! A timer here ([`Hrtimer`]) has a deadline (CLOCK_MONOTONIC ns, absolute,
//! `HRTIMER_MODE_ABS`) and one of two functions ([`HrtimerFunction`], the timer's
//! `->function`): it is an `hrtimer_sleeper` — the deadline of one sleeping task, a
//! `nanosleep`/`clock_nanosleep`, a futex wait's timeout, a `ppoll`/`pselect6` timeout —
//! whose expiry wakes the task (`hrtimer_wakeup()`), or a thread group's `ITIMER_REAL`
//! (`signal->real_timer`), whose expiry re-arms its period and sends the group SIGALRM
//! (`it_real_fn()`, [`super::itimer`]). It is armed on the base of the hart
//! that arms it ([`HrtimerBases::start`], `hrtimer_start_range_ns()` with the
//! `this_cpu_ptr(&hrtimer_bases)`), and cancelled from any hart
//! ([`HrtimerBases::try_to_cancel`], `hrtimer_try_to_cancel()`): the base it is on is
//! found through the timer (`timer->base`, read and then re-checked under that base's
//! lock: `lock_hrtimer_base()`). A hart runs its own base's expired timers
//! ([`HrtimerBases::run_queues`], `hrtimer_interrupt()` → `__hrtimer_run_queues()`),
//! with or without the kernel lock; each expired timer is taken off its base and marked
//! fired under the base's lock, and the caller then runs its function — wakes its task
//! (`hrtimer_wakeup()` → `wake_up_process()`), or re-arms the interval timer and queues
//! its signal — after the lock is released.
//!
//! # No lost wake-ups
//! A sleeper's timer may fire between its arming and its task's sleep (the hart that
//! armed it has not yet taken the task off its run queue), exactly as a futex waker may
//! take a waiter before it sleeps. The same handshake settles it
//! ([`crate::futex::FutexQ`]'s `park`/`claim_wake`, Linux's `set_current_state()`
//! against `try_to_wake_up()`'s read of `p->__state`): the sleeping task parks on the
//! timer with its run queue's sleep number ([`Hrtimer::park`]), the expiry claims the
//! wake-up ([`Hrtimer::claim_wake`]); whichever comes second learns what the first did —
//! a claim after the park wakes that sleep (`try_to_wake_up()` of that sleep number
//! only), a park after the claim is refused and the call returns at once.
//!
//! Lock order: a base's lock is a leaf, taken under the kernel lock, under a thread
//! group's `siglock` (`setitimer` arming or cancelling `ITIMER_REAL`, its expiry
//! re-arming it) or with no lock held, never two at once (see [`crate::sync`]'s *Lock
//! order*).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use super::timekeeping::Timekeeper;
use crate::process::SignalStruct;
use crate::sync::{Mutex, MutexGuard};

/// [`Hrtimer::base`]: taken off its base by its expiry (fired).
const FIRED: usize = usize::MAX;
/// [`Hrtimer::base`]: taken off its base by a cancel.
const CANCELLED: usize = usize::MAX - 1;

/// What a timer does when it expires (`timer->function`).
#[derive(Debug)]
pub(super) enum HrtimerFunction {
    /// `hrtimer_wakeup()`: the timer is an `hrtimer_sleeper`, its task sleeps on it.
    Wakeup,
    /// `it_real_fn()`: the timer is the `ITIMER_REAL` of a thread group (`signal->real_timer`,
    /// kept in the group's [`SignalStruct`], which this names without keeping it alive):
    /// [`super::itimer::it_real_fn`].
    ItReal(Weak<SignalStruct>),
}

/// One armed timer (`struct hrtimer`, with its `function`): a sleeping task's (`struct
/// hrtimer_sleeper`), shared by the base it is queued on and the kernel's books of the
/// task's sleep, or a thread group's `ITIMER_REAL`, shared by its base and the group's
/// [`SignalStruct`].
#[derive(Debug)]
pub(super) struct Hrtimer {
    /// The sleeping task (`sleeper->task`); for an `ITIMER_REAL`, the thread group's
    /// id (tgid).
    tid: u32,
    /// What its expiry does.
    function: HrtimerFunction,
    /// The hart whose base it was armed on (`ITIMER_REAL`'s period re-arms it there).
    armed_on: usize,
    /// When it expires, CLOCK_MONOTONIC ns (`hrtimer_get_expires()`).
    expires_ns: u64,
    /// Unique among the timers of the machine: orders equal expiries by arming.
    id: u64,
    /// The hart whose base it is queued on (`timer->base`), [`FIRED`] or [`CANCELLED`]
    /// once off it. Changed only under the lock of the base it names.
    base: AtomicUsize,
    /// Whether its task sleeps yet, for the expiry (as [`crate::futex::FutexQ`]'s): 0
    /// while it does not, `seq + 1` once it sleeps as its run queue's sleep number
    /// `seq` ([`Hrtimer::park`]), [`WAKE_CLAIMED`] once the expiry claimed the
    /// wake-up ([`Hrtimer::claim_wake`]): [`crate::wake`].
    sleep: crate::wake::SleepHandshake,
}

impl Hrtimer {
    /// The sleeping task's tid (an `ITIMER_REAL`'s: its thread group's tgid).
    pub(super) fn tid(&self) -> u32 {
        self.tid
    }

    /// What its expiry does.
    pub(super) fn function(&self) -> &HrtimerFunction {
        &self.function
    }

    /// The hart whose base it was armed on.
    pub(super) fn armed_on(&self) -> usize {
        self.armed_on
    }

    /// When it expires, CLOCK_MONOTONIC ns.
    pub(super) fn expires_ns(&self) -> u64 {
        self.expires_ns
    }

    /// Whether its expiry took it off its base (`hrtimer_wakeup()` ran: `t->task` is
    /// NULL in `do_nanosleep()`), as opposed to still armed or cancelled.
    pub(super) fn fired(&self) -> bool {
        self.base.load(Ordering::Acquire) == FIRED
    }

    /// Its task, now off its run queue as sleep number `seq`, goes to sleep: `true`;
    /// or — the expiry claimed the wake-up before ([`Hrtimer::claim_wake`]) —
    /// `false`, and the task must not sleep: its call completes at once as expired.
    pub(super) fn park(&self, seq: u64) -> bool {
        self.sleep.park(seq)
    }

    /// For the expiry that took this timer off its base (exactly one does): claims the
    /// wake-up. `Some(seq)`: the task sleeps as its run queue's sleep number `seq` and
    /// the caller wakes it (`try_to_wake_up()`); `None`: it does not sleep yet, and
    /// [`Hrtimer::park`] will tell it not to.
    pub(super) fn claim_wake(&self) -> Option<u64> {
        self.sleep.claim_sleeper()
    }
}

/// One hart's timers (`struct hrtimer_cpu_base` with its one `hrtimer_clock_base`, the
/// CLOCK_MONOTONIC one): armed timers by `(expires_ns, id)` (the timerqueue, an
/// rbtree by expiry), under the base's lock.
#[derive(Debug, Default)]
struct HrtimerCpuBase {
    active: Mutex<BTreeMap<(u64, u64), Arc<Hrtimer>>>,
    /// The earliest expiry queued (`cpu_base->expires_next`), `u64::MAX` for none:
    /// written under the lock, read without it.
    expires_next: AtomicU64,
}

impl HrtimerCpuBase {
    /// `raw_spin_lock(&cpu_base->lock)` (class [`crate::lockstat::HRTIMER_BASE`]).
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(u64, u64), Arc<Hrtimer>>> {
        crate::lockstat::HRTIMER_BASE.acquire(|| self.active.try_lock(), || self.active.lock())
    }

    /// `hrtimer_update_next_event()`: publishes the earliest expiry of `active`.
    fn update_next(&self, active: &BTreeMap<(u64, u64), Arc<Hrtimer>>) {
        let next = active.keys().next().map_or(u64::MAX, |&(e, _)| e);
        self.expires_next.store(next, Ordering::SeqCst);
    }
}

/// Every hart's timer base (the per-CPU `hrtimer_bases`), and the clock they run on. See
/// the module docs.
#[derive(Debug)]
pub(super) struct HrtimerBases {
    bases: Vec<HrtimerCpuBase>,
    next_id: AtomicU64,
    /// CLOCK_MONOTONIC (`hrtimer_clock_base->get_time()`), read without a lock.
    clock: Timekeeper,
}

impl HrtimerBases {
    /// Bases for `harts` harts, all empty, on `clock`.
    pub(super) fn new(harts: usize, clock: Timekeeper) -> Self {
        let bases = (0..harts.max(1))
            .map(|_| HrtimerCpuBase {
                expires_next: AtomicU64::new(u64::MAX),
                ..HrtimerCpuBase::default()
            })
            .collect();
        Self {
            bases,
            next_id: AtomicU64::new(0),
            clock,
        }
    }

    /// Bases for `harts` harts on a virtual clock at 0 (unit tests).
    #[cfg(test)]
    pub(super) fn with_virtual_clock(harts: usize) -> Self {
        let epoch = crate::syscall::misc::TimeSource::Virtual { epoch_ns: 0 };
        Self::new(harts, Timekeeper::new(epoch))
    }

    /// The clock the timers run on: the guest's clocks, read by any hart without a
    /// lock ([`Timekeeper::now`]).
    pub(super) fn clock(&self) -> &Timekeeper {
        &self.clock
    }

    /// Hart `hart`'s base; a hart out of range gets the last one.
    fn base(&self, hart: usize) -> &HrtimerCpuBase {
        &self.bases[hart.min(self.bases.len() - 1)]
    }

    /// `hrtimer_start_range_ns(timer, expires, 0, HRTIMER_MODE_ABS)` on hart `hart`
    /// (the arming hart): a new sleeper's timer of task `tid` expiring at `expires_ns`
    /// (CLOCK_MONOTONIC ns), queued on that hart's base. Returns the timer, which the
    /// sleeper keeps to park on it and to cancel it.
    pub(super) fn start(&self, hart: usize, tid: u32, expires_ns: u64) -> Arc<Hrtimer> {
        self.enqueue(hart, tid, HrtimerFunction::Wakeup, expires_ns)
    }

    /// `hrtimer_start(&signal->real_timer, expires, HRTIMER_MODE_ABS)` on hart `hart`:
    /// thread group `tgid`'s `ITIMER_REAL` (its group's `signal`), expiring at
    /// `expires_ns` (CLOCK_MONOTONIC ns), queued on that hart's base. Returns the timer,
    /// which the group keeps to re-arm and cancel it.
    pub(super) fn start_it_real(
        &self,
        hart: usize,
        tgid: u32,
        signal: Weak<SignalStruct>,
        expires_ns: u64,
    ) -> Arc<Hrtimer> {
        self.enqueue(hart, tgid, HrtimerFunction::ItReal(signal), expires_ns)
    }

    /// A new timer (`tid`, `function`) expiring at `expires_ns`, queued on hart `hart`'s
    /// base.
    fn enqueue(
        &self,
        hart: usize,
        tid: u32,
        function: HrtimerFunction,
        expires_ns: u64,
    ) -> Arc<Hrtimer> {
        let hart = hart.min(self.bases.len() - 1);
        let timer = Arc::new(Hrtimer {
            tid,
            function,
            armed_on: hart,
            expires_ns,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            base: AtomicUsize::new(hart),
            sleep: crate::wake::SleepHandshake::new(),
        });
        let base = self.base(hart);
        let mut active = base.lock();
        active.insert((expires_ns, timer.id), Arc::clone(&timer));
        base.update_next(&active);
        timer
    }

    /// `hrtimer_try_to_cancel()`, from any hart: takes `timer` off the base it is on
    /// (found through the timer, `lock_hrtimer_base()`). Returns `true` if it was armed
    /// and is now cancelled; `false` if its expiry took it first (it fired: its task is
    /// woken or told not to sleep) or it was cancelled already.
    pub(super) fn try_to_cancel(&self, timer: &Hrtimer) -> bool {
        loop {
            let hart = timer.base.load(Ordering::Acquire);
            if hart >= self.bases.len() {
                return false;
            }
            let base = self.base(hart);
            let mut active = base.lock();
            // The timer's base changes only under the lock of the base it names.
            if timer.base.load(Ordering::Acquire) != hart {
                continue;
            }
            active.remove(&(timer.expires_ns, timer.id));
            timer.base.store(CANCELLED, Ordering::Release);
            base.update_next(&active);
            return true;
        }
    }

    /// `__hrtimer_run_queues()` of hart `hart`'s base at CLOCK_MONOTONIC `now_ns`:
    /// every timer expired by then is taken off the base, in order of expiry, and
    /// marked fired (`__run_hrtimer()`'s dequeue), under the base's lock. Returns them:
    /// the caller wakes their tasks after the lock is released (`hrtimer_wakeup()`).
    pub(super) fn run_queues(&self, hart: usize, now_ns: u64) -> Vec<Arc<Hrtimer>> {
        let base = self.base(hart);
        if base.expires_next.load(Ordering::SeqCst) > now_ns {
            return Vec::new();
        }
        let mut active = base.lock();
        let mut fired = Vec::new();
        while let Some(entry) = active.first_entry() {
            if entry.key().0 > now_ns {
                break;
            }
            let timer = entry.remove();
            timer.base.store(FIRED, Ordering::Release);
            fired.push(timer);
        }
        base.update_next(&active);
        fired
    }

    /// [`HrtimerBases::run_queues`] of every hart's base (the kernel lock's holder,
    /// the backstop for bases whose hart is idle or runs user code without entering
    /// the kernel: see `Kernel::fire_timers`).
    pub(super) fn run_all_queues(&self, now_ns: u64) -> Vec<Arc<Hrtimer>> {
        (0..self.bases.len())
            .flat_map(|h| self.run_queues(h, now_ns))
            .collect()
    }

    /// The earliest expiry queued on hart `hart`'s base, CLOCK_MONOTONIC ns
    /// (`cpu_base->expires_next`), read without its lock.
    pub(super) fn expires_next(&self, hart: usize) -> Option<u64> {
        let next = self.base(hart).expires_next.load(Ordering::SeqCst);
        (next != u64::MAX).then_some(next)
    }

    /// The earliest expiry queued on any base.
    pub(super) fn earliest(&self) -> Option<u64> {
        (0..self.bases.len())
            .filter_map(|h| self.expires_next(h))
            .min()
    }

    /// The number of bases (harts).
    pub(super) fn harts(&self) -> usize {
        self.bases.len()
    }
}

/// Where the kernel lock's holder arms its sleepers' timers: the harts' bases and the
/// hart that holds the lock. Which timer each sleeping task parks on (the
/// `hrtimer_sleeper` on its stack in Linux) is in the task, with its sleeping call
/// ([`super::SleepingCall::timer`]): a task has at most one, and arming a new one
/// cancels the old. The timers themselves are on the bases, which any hart reaches
/// without the kernel lock ([`Timers::bases`]).
#[derive(Debug)]
pub(super) struct Timers {
    bases: Arc<HrtimerBases>,
    /// The hart whose kernel entry holds the kernel lock: where [`Timers::start`] arms.
    this: usize,
}

impl Timers {
    /// Arming on `bases`, from hart 0 until [`Timers::set_this`].
    pub(super) fn new(bases: Arc<HrtimerBases>) -> Self {
        Self { bases, this: 0 }
    }

    /// The harts' bases.
    pub(super) fn bases(&self) -> &Arc<HrtimerBases> {
        &self.bases
    }

    /// Hart `hart` holds the kernel lock now: it arms what [`Timers::start`] arms.
    pub(super) fn set_this(&mut self, hart: usize) {
        self.this = hart;
    }

    /// Arms task `tid`'s sleeper timer at `expires_ns` (CLOCK_MONOTONIC) on this hart's
    /// base ([`HrtimerBases::start`]) in its task's `slot`, cancelling the one there.
    pub(super) fn start(&self, slot: &mut Option<Arc<Hrtimer>>, tid: u32, expires_ns: u64) {
        let timer = self.bases.start(self.this, tid, expires_ns);
        self.adopt(slot, timer);
    }

    /// Books `timer`, armed by its task's hart (possibly without the kernel lock), in
    /// its task's `slot`, cancelling the one there.
    pub(super) fn adopt(&self, slot: &mut Option<Arc<Hrtimer>>, timer: Arc<Hrtimer>) {
        if let Some(old) = slot.replace(timer) {
            self.bases.try_to_cancel(&old);
        }
    }

    /// The task of `slot` no longer sleeps on its timer: it is cancelled
    /// ([`HrtimerBases::try_to_cancel`], from whichever base it is on) and forgotten.
    /// Returns it.
    pub(super) fn cancel(&self, slot: &mut Option<Arc<Hrtimer>>) -> Option<Arc<Hrtimer>> {
        let timer = slot.take()?;
        self.bases.try_to_cancel(&timer);
        Some(timer)
    }
}

/// `clock_nanosleep(clk, flags, req)`'s deadline on CLOCK_MONOTONIC, ns: the clock is
/// checked, then `req` read (`read_req`: `(tv_sec, tv_nsec)`) and checked, as
/// `common_nsleep()` → `hrtimer_nanosleep()` do; `TIMER_ABSTIME` in `flags` makes it
/// absolute on `clk` (a CLOCK_REALTIME one converted with the clocks `(CLOCK_REALTIME,
/// CLOCK_MONOTONIC)` of `now`, ns), else it is relative to CLOCK_MONOTONIC's now.
///
/// # Errors
/// As [`crate::syscall::misc::KClock::for_nsleep`] for the clock (`EINVAL` for an
/// unknown one, `EOPNOTSUPP` for one that cannot sleep); then what `read_req` returns
/// (`EFAULT`); `EINVAL` for a bad `req`.
pub(super) fn nanosleep_deadline(
    clk: u64,
    flags: u64,
    read_req: impl FnOnce() -> crate::errno::KResult<(u64, u64)>,
    now: (u64, u64),
) -> crate::errno::KResult<u64> {
    const TIMER_ABSTIME: u64 = 1;
    let realtime = crate::syscall::misc::KClock::for_nsleep(clk)?;
    let (sec, nsec) = read_req()?;
    let t = crate::futex::timespec_ns(sec, nsec)?;
    let (real, mono) = now;
    Ok(if flags & TIMER_ABSTIME == 0 {
        mono.saturating_add(t)
    } else if realtime {
        mono.saturating_add(t.saturating_sub(real))
    } else {
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_runs_in_order_of_deadline_and_only_what_is_due() {
        let b = HrtimerBases::with_virtual_clock(2);
        let late = b.start(0, 1, 300);
        let early = b.start(0, 2, 100);
        let mid = b.start(0, 3, 200);
        let tie = b.start(0, 4, 200);
        assert_eq!(b.expires_next(0), Some(100));
        assert_eq!(b.expires_next(1), None);
        let fired: Vec<u32> = b.run_queues(0, 200).iter().map(|t| t.tid()).collect();
        // Equal expiries fire in the order they were armed.
        assert_eq!(fired, [2, 3, 4]);
        assert!(early.fired() && mid.fired() && tie.fired());
        assert!(!late.fired());
        assert_eq!(b.expires_next(0), Some(300));
        assert!(b.run_queues(0, 299).is_empty());
        assert_eq!(b.run_queues(0, 300).len(), 1);
        assert_eq!(b.earliest(), None);
    }

    #[test]
    fn a_timer_is_armed_on_the_arming_harts_base_and_earliest_spans_bases() {
        let b = HrtimerBases::with_virtual_clock(3);
        b.start(2, 7, 500);
        b.start(1, 8, 400);
        assert_eq!(b.expires_next(0), None);
        assert_eq!(b.expires_next(1), Some(400));
        assert_eq!(b.expires_next(2), Some(500));
        assert_eq!(b.earliest(), Some(400));
        // Hart 0's expiry does not run another hart's timers.
        assert!(b.run_queues(0, 1000).is_empty());
        assert_eq!(b.run_all_queues(1000).len(), 2);
    }

    #[test]
    fn cancel_from_another_thread_finds_the_timers_base() {
        let b = Arc::new(HrtimerBases::with_virtual_clock(2));
        let t = b.start(1, 9, 100);
        let keep = b.start(1, 10, 150);
        let b2 = Arc::clone(&b);
        let t2 = Arc::clone(&t);
        let cancelled = std::thread::spawn(move || b2.try_to_cancel(&t2))
            .join()
            .unwrap();
        assert!(cancelled);
        assert!(!t.fired());
        assert_eq!(b.expires_next(1), Some(150));
        // Cancelled: neither a second cancel nor the expiry sees it again.
        assert!(!b.try_to_cancel(&t));
        let fired = b.run_queues(1, 1000);
        assert_eq!(fired.len(), 1);
        assert!(Arc::ptr_eq(&fired[0], &keep));
        // Fired: too late to cancel.
        assert!(!b.try_to_cancel(&keep));
    }

    #[test]
    fn cancel_races_expiry_and_exactly_one_wins() {
        for _ in 0..200 {
            let b = Arc::new(HrtimerBases::with_virtual_clock(2));
            let t = b.start(0, 1, 10);
            let b2 = Arc::clone(&b);
            let expiry = std::thread::spawn(move || b2.run_queues(0, 10).len());
            let cancelled = b.try_to_cancel(&t);
            let fired = expiry.join().unwrap();
            assert_eq!(usize::from(cancelled) + fired, 1);
            assert_eq!(t.fired(), fired == 1);
        }
    }

    #[test]
    fn park_and_claim_settle_who_completes_the_sleep() {
        let b = HrtimerBases::with_virtual_clock(1);
        // Claimed before the task sleeps: the park is refused.
        let t = b.start(0, 1, 5);
        assert_eq!(b.run_queues(0, 5).len(), 1);
        assert_eq!(t.claim_wake(), None);
        assert!(!t.park(3));
        // Parked first: the claim names the sleep to wake.
        let t = b.start(0, 1, 5);
        assert!(t.park(4));
        assert_eq!(b.run_queues(0, 5).len(), 1);
        assert_eq!(t.claim_wake(), Some(4));
        assert_eq!(t.claim_wake(), None);
    }
    #[test]
    fn a_task_keeps_one_timer_and_the_books_cancel_what_they_drop() {
        let bases = Arc::new(HrtimerBases::with_virtual_clock(2));
        let mut books = Timers::new(Arc::clone(&bases));
        books.set_this(1);
        let (mut five, mut six) = (None, None);
        books.start(&mut five, 5, 100);
        let first = Arc::clone(five.as_ref().unwrap());
        assert_eq!(bases.expires_next(1), Some(100));
        // A new timer for the same task cancels the old one.
        books.start(&mut five, 5, 300);
        assert!(!five.as_ref().is_some_and(|t| Arc::ptr_eq(t, &first)));
        assert_eq!(bases.expires_next(1), Some(300));
        // One armed elsewhere (without the kernel lock) is adopted as is.
        let elsewhere = bases.start(0, 6, 50);
        books.adopt(&mut six, Arc::clone(&elsewhere));
        assert!(six.as_ref().is_some_and(|t| Arc::ptr_eq(t, &elsewhere)));
        assert_eq!(bases.earliest(), Some(50));
        // Dropping it from the books cancels it on its base.
        let dropped = books.cancel(&mut six).unwrap();
        assert!(!dropped.fired());
        assert_eq!(bases.expires_next(0), None);
        assert!(books.cancel(&mut six).is_none());
        // A fired timer stays booked, fired, until its task's call completes.
        let fired = bases.run_queues(1, 300);
        assert_eq!(fired.len(), 1);
        assert!(five.as_ref().is_some_and(|t| t.fired()));
    }

    #[test]
    fn nanosleep_deadlines_follow_clock_nanosleep() {
        const REALTIME: u64 = 0;
        const MONOTONIC: u64 = 1;
        const NO_CLOCK: u64 = 12;
        const ABSTIME: u64 = 1;
        let now = (1_000_000_000_000, 5_000);
        let req = |ts: (u64, u64)| move || Ok(ts);
        // Relative: from CLOCK_MONOTONIC's now, whatever the clock.
        assert_eq!(
            nanosleep_deadline(MONOTONIC, 0, req((1, 2)), now),
            Ok(1_000_005_002)
        );
        assert_eq!(nanosleep_deadline(REALTIME, 0, req((0, 7)), now), Ok(5_007));
        // Absolute on CLOCK_MONOTONIC as is; on CLOCK_REALTIME converted.
        assert_eq!(
            nanosleep_deadline(MONOTONIC, ABSTIME, req((0, 9)), now),
            Ok(9)
        );
        let real = nanosleep_deadline(REALTIME, ABSTIME, req((1000, 100)), now);
        assert_eq!(real, Ok(5_100));
        // A bad timespec; the clock is checked before the timespec is read.
        let bad = nanosleep_deadline(MONOTONIC, 0, req((0, 1_000_000_000)), now);
        assert_eq!(bad, Err(crate::errno::Errno::EINVAL));
        let unread = || Err(crate::errno::Errno::EFAULT);
        assert_eq!(
            nanosleep_deadline(NO_CLOCK, 0, unread, now),
            Err(crate::errno::Errno::EINVAL)
        );
        assert_eq!(
            nanosleep_deadline(MONOTONIC, 0, unread, now),
            Err(crate::errno::Errno::EFAULT)
        );
    }
}
