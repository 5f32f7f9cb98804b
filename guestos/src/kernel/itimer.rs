//! Interval timers (`kernel/time/itimer.c`): `setitimer`/`getitimer`, which glibc's
//! `alarm()` and `ualarm()` are built on (riscv64 has no `alarm` system call).
//!
//! Each process (`signal_struct`) has three, kept in its [`SignalStruct`](crate::process::SignalStruct) behind the
//! thread group's lock (which stands for `siglock`: [`ITimers`]): `ITIMER_REAL` counts
//! down on CLOCK_MONOTONIC and sends SIGALRM (`it_real_fn()`), `ITIMER_VIRTUAL` on the
//! process's user CPU time (SIGVTALRM) and `ITIMER_PROF` on its user and system CPU time
//! (SIGPROF) (`posix_cpu_timers`' `it[]`). They go with the thread group: a fork does
//! not inherit them (a new group), an `execve` keeps them, and the group's exit cancels
//! them (`do_exit()`'s `hrtimer_cancel(&sig->real_timer)` and `exit_itimers()`).
//!
//! `ITIMER_REAL` is an hrtimer, `signal->real_timer` ([`super::hrtimer`]): `setitimer`
//! arms it on the base of the hart that serves the call and cancels the one before from
//! whichever base it is on, both under `siglock`, as `do_setitimer()` does. Its expiry
//! runs on the hart of its base without the kernel lock (`Machine::hrtimer_interrupt`),
//! or under it at the lock holder's scheduling points for every base (deterministic
//! mode, and the backstop of harts that do not enter the kernel): [`it_real_fn`]
//! re-arms the period under `siglock` (`hrtimer_forward()`; Linux re-arms when SIGALRM
//! is dequeued: the same period, unless the signal stays blocked) and names the group
//! SIGALRM goes to. Sending it still needs the kernel lock — the thread that takes it is
//! chosen through the task table (`complete_signal()`), a default action is a group
//! exit, a sleeping call is interrupted, a handler's frame is set up — so a hart without
//! the lock queues it on the wake list ([`super::ttwu::Wakeup::KillPidInfo`],
//! `kill_pid_info(SIGALRM, SEND_SIG_PRIV, tgid)`), whose holder sends it at its next
//! scheduling point. A process with an alarm armed therefore keeps its page faults and
//! calls off the kernel lock; each SIGALRM costs one kernel entry, which its delivery
//! needs anyway.
//!
//! `ITIMER_PROF`'s clock is the process's CPU time (its threads' runtime, user and
//! kernel, exited threads included: `signal->cputimer`'s `sum_exec_runtime`,
//! [`super::cputime`]), `ITIMER_VIRTUAL`'s its user-mode part (`utime`): the time from
//! each return to user mode to the next kernel entry, less the kernel work done on the
//! way without the kernel lock (faults and system calls: priced in cycles in
//! deterministic mode, timed on the host in parallel mode). Both are atomics that the
//! hart running a thread adds to, and the timers' next expiries are mirrored beside
//! them (`nextevt`), so the check is made where the time is charged, on the hart that
//! charges it (`check_process_timers()`, [`check_process_timers`]): a lock-free
//! comparison, and only when a timer is due the group's `siglock` to fire and re-arm
//! it. In parallel mode the tick interrupts (without a kick) every hart whose task's
//! process has one armed; the hart charges its task's time and checks the timers at
//! that trap without the kernel lock (`update_process_times()` →
//! `run_posix_cpu_timers()`, `Machine::run_posix_cpu_timers`), and queues an expiry's
//! SIGPROF or SIGVTALRM on the wake list as `ITIMER_REAL`'s SIGALRM. In deterministic
//! mode the kernel lock's scheduler charges and checks at its seeded scheduling points
//! (the same seed, the same bits). `getitimer` and `setitimer` ([`itimer_call`]) read
//! those atomics and CLOCK_MONOTONIC, take `siglock` and (`ITIMER_REAL`) a timer base's
//! lock: a hart serves them without the kernel lock, and the kernel lock the same way.
//!
//! What still needs the kernel lock: sending the signals (the thread that takes one is
//! chosen through the task table, a default action is a group exit, a handler's frame
//! is set up), so each expiry costs one kernel entry, which its delivery needs anyway.
//! Where it differs from Linux: the CPU-time timers are checked when a hart charges the
//! time (each trap of a process with one armed, each tick, each scheduling point), not
//! at the exact moment, and a hart running a sibling thread learns that a `setitimer`
//! on another hart armed one at its next kernel-lock pass (its slice's end at the
//! latest; meanwhile its traps still check); the signal goes to the group
//! (`__group_send_sig_info()`), its thread chosen by the kernel lock's
//! `complete_signal()`, not preferring the thread that ran.

use std::sync::{Arc, Weak};

use emu::Hart;

use super::cputime::{CpuClock, ThreadGroupCputimer};
use super::hrtimer::{Hrtimer, HrtimerBases, HrtimerFunction};
use super::sched::KTIME_MAX;
use super::Kernel;
use crate::errno::{Errno, KResult};
use crate::process::SignalStruct;
use crate::signal::{SigInfo, SI_KERNEL};
use crate::uaccess::UserAccess;

/// `ITIMER_REAL` (`include/uapi/linux/time.h`).
const ITIMER_REAL: u64 = 0;
/// `ITIMER_VIRTUAL`.
const ITIMER_VIRTUAL: u64 = 1;
/// `ITIMER_PROF`.
const ITIMER_PROF: u64 = 2;
/// SIGALRM.
const SIGALRM: u8 = 14;
/// SIGVTALRM.
const SIGVTALRM: u8 = 26;
/// SIGPROF.
const SIGPROF: u8 = 27;
const NSEC_PER_USEC: u64 = 1_000;
const USEC_PER_SEC: u64 = 1_000_000;

/// One CPU-time interval timer (`struct cpu_itimer`): when it expires on the process's
/// CPU clock, and its period, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CpuItimer {
    /// Expiry on the process's CPU clock; 0: disarmed.
    expires_ns: u64,
    /// Re-armed with this period after it fires (`it[].incr`); 0: once.
    interval_ns: u64,
}

/// A thread group's interval timers (`signal_struct`'s `real_timer`, `it_real_incr` and
/// `it[]`), in its [`SignalStruct`](crate::process::SignalStruct) behind the group's lock (`siglock`).
#[derive(Debug, Default)]
pub(crate) struct ITimers {
    /// `ITIMER_REAL`: the armed timer on a hart's base (`signal->real_timer`), `None`
    /// while disarmed.
    real_timer: Option<Arc<Hrtimer>>,
    /// `ITIMER_REAL`'s period, ns (`signal->it_real_incr`); 0: once.
    it_real_incr_ns: u64,
    /// `ITIMER_VIRTUAL` and `ITIMER_PROF` (`it[CPUCLOCK_VIRT]`, `it[CPUCLOCK_PROF]`),
    /// indexed by `which - 1`.
    cpu: [CpuItimer; 2],
}

impl ITimers {
    /// CPU-time timer `which` (`ITIMER_VIRTUAL`, `ITIMER_PROF`).
    fn cpu_timer(&mut self, which: u64) -> Option<&mut CpuItimer> {
        self.cpu.get_mut((which as usize).checked_sub(1)?)
    }

    /// The group exits (`do_exit()` with `group_dead`: `hrtimer_cancel(&sig->real_timer)`,
    /// `exit_itimers()`): every timer is disarmed, `ITIMER_REAL` cancelled on whichever
    /// of `bases` it is on (an expiry that took it first sends SIGALRM to a group that is
    /// dead: nothing), the CPU-time timers' next expiries cleared in the group's
    /// `cputimer`.
    pub(super) fn exit_itimers(&mut self, bases: &HrtimerBases, cputimer: &ThreadGroupCputimer) {
        if let Some(t) = self.real_timer.take() {
            bases.try_to_cancel(&t);
        }
        *self = ITimers::default();
        for clock in [CpuClock::Virt, CpuClock::Prof] {
            cputimer.set_nextevt(clock, 0);
        }
    }
}

/// The CPU clock of CPU-time interval timer `which`, with the signal it sends.
fn cpu_itimer_clock(which: u64) -> Option<(CpuClock, u8)> {
    match which {
        ITIMER_VIRTUAL => Some((CpuClock::Virt, SIGVTALRM)),
        ITIMER_PROF => Some((CpuClock::Prof, SIGPROF)),
        _ => None,
    }
}

/// `check_process_timers()` of thread group `signal`, on the hart that charged its CPU
/// time (with or without the kernel lock): under its `siglock`, each CPU-time interval
/// timer that the group's CPU time has reached (`check_cpu_itimer()`, `ITIMER_PROF`
/// first, as Linux checks them) is re-armed for its next period after now
/// (`hrtimer_forward()`-like, skipping the periods missed) or disarmed, and the next
/// expiries the charging harts compare with are updated
/// ([`ThreadGroupCputimer::expired`]). Returns the signals to send the group
/// (`SIGPROF`, `SIGVTALRM`; `SEND_SIG_PRIV`: [`itimer_siginfo`]) — sent by the caller
/// with the task table, or queued for the kernel lock on the wake list.
pub(super) fn check_process_timers(signal: &SignalStruct) -> Vec<SigInfo> {
    let mut g = signal.lock();
    let cputimer = &signal.cputimer;
    let now = cputimer.cputime.sample();
    let mut due = Vec::new();
    for which in [ITIMER_PROF, ITIMER_VIRTUAL] {
        let (Some(t), Some((clock, signo))) = (g.itimers.cpu_timer(which), cpu_itimer_clock(which))
        else {
            continue;
        };
        let now = clock.of(now);
        if t.expires_ns != 0 && t.expires_ns <= now {
            t.expires_ns = match t.interval_ns {
                0 => 0,
                p => hrtimer_forward(t.expires_ns, now, p),
            };
            due.push(itimer_siginfo(signo));
        }
        cputimer.set_nextevt(clock, t.expires_ns);
    }
    due
}

/// `hrtimer_forward()`: the first expiry after `now_ns` of a timer that expired at
/// `expires_ns` with period `period_ns` (> 0), skipping the periods missed; at most
/// [`KTIME_MAX`].
fn hrtimer_forward(expires_ns: u64, now_ns: u64, period_ns: u64) -> u64 {
    let missed = now_ns.saturating_sub(expires_ns) / period_ns + 1;
    expires_ns
        .saturating_add(missed.saturating_mul(period_ns))
        .min(KTIME_MAX)
}

/// The signal an interval timer sends (`SEND_SIG_PRIV`: `si_code` `SI_KERNEL`).
fn itimer_siginfo(signo: u8) -> SigInfo {
    SigInfo {
        signo,
        code: SI_KERNEL,
        addr: 0,
        status: 0,
    }
}

/// SIGALRM as `it_real_fn()` sends it: `kill_pid_info(SIGALRM, SEND_SIG_PRIV, tgid)`.
pub(super) fn sigalrm() -> SigInfo {
    itimer_siginfo(SIGALRM)
}

/// `it_real_fn()` for `timer`, taken off its base by an expiry at CLOCK_MONOTONIC
/// `now_ns` (on any hart, with or without the kernel lock; `bases` are the harts'):
/// under its group's `siglock`, if it is still the group's `ITIMER_REAL` (no
/// `setitimer` replaced or cancelled it after it fired), its period re-arms it on the
/// base it was armed on, the next period after `now_ns` (`hrtimer_forward()`), or it is
/// disarmed. Returns the thread group SIGALRM goes to (the caller sends it with the task
/// table: [`sigalrm`]) — also for a timer a `setitimer` found fired, as Linux's
/// callback has run by the time `hrtimer_try_to_cancel()` fails — or `None` for a
/// sleeper's timer or a group that is gone.
pub(super) fn it_real_fn(bases: &HrtimerBases, timer: &Arc<Hrtimer>, now_ns: u64) -> Option<u32> {
    let HrtimerFunction::ItReal(weak) = timer.function() else {
        return None;
    };
    let signal = weak.upgrade()?;
    let mut g = signal.lock();
    let it = &mut g.itimers;
    if it
        .real_timer
        .as_ref()
        .is_some_and(|t| Arc::ptr_eq(t, timer))
    {
        let incr = it.it_real_incr_ns;
        it.real_timer = (incr != 0).then(|| {
            let next = hrtimer_forward(timer.expires_ns(), now_ns, incr);
            bases.start_it_real(timer.armed_on(), timer.tid(), Weak::clone(weak), next)
        });
    }
    Some(timer.tid())
}

/// `struct __kernel_old_itimerval`: `it_interval`, `it_value`, each a `struct
/// __kernel_old_timeval` (`tv_sec`, `tv_usec`: two `long`s). 32 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OldItimerval {
    interval: (i64, i64),
    value: (i64, i64),
}

impl OldItimerval {
    const SIZE: usize = 32;

    fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let f = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            i64::from_le_bytes(w)
        };
        Self {
            interval: (f(0), f(1)),
            value: (f(2), f(3)),
        }
    }

    fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        let words = [self.interval.0, self.interval.1, self.value.0, self.value.1];
        for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// `get_itimerval()`'s check, `timeval_valid()` on both: `tv_sec >= 0` and
    /// `0 <= tv_usec < USEC_PER_SEC`. Returns `(value_ns, interval_ns)`.
    ///
    /// # Errors
    /// `EINVAL` for an invalid timeval.
    fn to_ns(self) -> KResult<(u64, u64)> {
        let ns = |(sec, usec): (i64, i64)| -> KResult<u64> {
            let sec = u64::try_from(sec).map_err(|_| Errno::EINVAL)?;
            let usec = u64::try_from(usec)
                .ok()
                .filter(|&u| u < USEC_PER_SEC)
                .ok_or(Errno::EINVAL)?;
            // timespec64_to_ktime() saturates at KTIME_MAX (a timer there never fires).
            Ok(sec
                .saturating_mul(1_000_000_000)
                .saturating_add(usec * NSEC_PER_USEC)
                .min(KTIME_MAX))
        };
        Ok((ns(self.value)?, ns(self.interval)?))
    }

    /// `put_itimerval()` of a remaining time and period in ns (microseconds, rounded
    /// down).
    fn from_ns(value_ns: u64, interval_ns: u64) -> Self {
        let tv = |ns: u64| {
            let usec = ns / NSEC_PER_USEC;
            ((usec / USEC_PER_SEC) as i64, (usec % USEC_PER_SEC) as i64)
        };
        Self {
            interval: tv(interval_ns),
            value: tv(value_ns),
        }
    }
}

/// Who calls `getitimer`/`setitimer` ([`itimer_call`]): the caller's thread group and
/// its id, the harts' timer bases, the hart serving the call (an `ITIMER_REAL` is armed
/// on its base) and CLOCK_MONOTONIC now, ns.
pub(super) struct ItimerCaller<'a> {
    /// The thread group (`current->signal`).
    pub signal: &'a Arc<SignalStruct>,
    /// Its id (SIGALRM's target).
    pub tgid: u32,
    /// The harts' timer bases.
    pub bases: &'a HrtimerBases,
    /// The hart serving the call.
    pub hart: usize,
    /// CLOCK_MONOTONIC now, ns.
    pub mono_now_ns: u64,
}

/// `getitimer(which, value)` and `setitimer(which, value, ovalue)` (system call `nr`,
/// arguments `a`) of `caller`, its memory `u`, with or without the kernel lock: every
/// clock they read is an atomic (CLOCK_MONOTONIC, the group's CPU time) and every timer
/// they change is under the group's `siglock` or a timer base's lock. `None` for any
/// other call.
///
/// `getitimer` (`do_getitimer()`) stores the time left (`itimer_get_remtime()`: at
/// least 1 µs while armed) and the period; `setitimer` (`do_setitimer()`) arms timer
/// `which` of the caller's process to expire after `value.it_value` (0: disarm) and
/// then every `value.it_interval`, storing the old setting at `ovalue` if not NULL. A
/// NULL `value` disarms (Linux's deprecated "misfeature").
///
/// # Errors
/// `EINVAL` for an unknown `which` or an invalid timeval (negative seconds,
/// microseconds outside `0..1_000_000`); `EFAULT` for a bad `value` or `ovalue`.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub(super) fn itimer_call(
    caller: &ItimerCaller<'_>,
    u: &mut dyn UserAccess,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    use crate::syscall::nr::{SYS_getitimer, SYS_setitimer};
    let (which, value, ovalue) = (a[0], a[1], a[2]);
    Some(match nr {
        SYS_getitimer => do_setitimer(caller, which, None)
            .and_then(|old| u.copy_to_user(value, &old.to_bytes()))
            .map(|()| 0),
        SYS_setitimer => (|| {
            let set = if value == 0 {
                (0, 0)
            } else {
                let mut b = [0u8; OldItimerval::SIZE];
                u.copy_from_user(value, &mut b)?;
                OldItimerval::from_bytes(&b).to_ns()?
            };
            let old = do_setitimer(caller, which, Some(set))?;
            if ovalue != 0 {
                u.copy_to_user(ovalue, &old.to_bytes())?;
            }
            Ok(0)
        })(),
        _ => return None,
    })
}

/// Interval timer `which` of `caller`'s process as `getitimer` reports it, then — given
/// `set`, `(value_ns, interval_ns)` — set to expire `value_ns` from now on its clock (0:
/// disarmed) and every `interval_ns` after, all under the group's `siglock`. An
/// `ITIMER_REAL` is cancelled from whichever base it is on and armed on the caller's
/// hart's (`hrtimer_try_to_cancel()`, `hrtimer_start()`); a CPU-time timer's expiry is
/// published to the harts that charge the group's time (`set_process_cpu_timer()`).
///
/// # Errors
/// `EINVAL` for an unknown `which`.
fn do_setitimer(
    caller: &ItimerCaller<'_>,
    which: u64,
    set: Option<(u64, u64)>,
) -> KResult<OldItimerval> {
    let signal = caller.signal;
    let cpu = cpu_itimer_clock(which);
    let now = match cpu {
        Some((clock, _)) => clock.of(signal.cputimer.cputime.sample()),
        None if which == ITIMER_REAL => caller.mono_now_ns,
        None => return Err(Errno::EINVAL),
    };
    // ktime_add_safe(): at most KTIME_MAX; 0 stays disarmed.
    let expires = |value_ns: u64| match value_ns {
        0 => 0,
        v => now.saturating_add(v).clamp(1, KTIME_MAX),
    };
    let left = |expires_ns: u64| expires_ns.saturating_sub(now).max(NSEC_PER_USEC);
    let mut g = signal.lock();
    let it = &mut g.itimers;
    let Some((clock, _)) = cpu else {
        let old = match &it.real_timer {
            Some(t) => OldItimerval::from_ns(left(t.expires_ns()), it.it_real_incr_ns),
            None => OldItimerval::from_ns(0, it.it_real_incr_ns),
        };
        if let Some((value_ns, interval_ns)) = set {
            let bases = caller.bases;
            // A timer that fired already is not the group's any more: its expiry
            // sends SIGALRM and leaves the new setting alone (it_real_fn()).
            if let Some(t) = it.real_timer.take() {
                bases.try_to_cancel(&t);
            }
            it.it_real_incr_ns = if value_ns == 0 { 0 } else { interval_ns };
            it.real_timer = (value_ns != 0).then(|| {
                let weak = Arc::downgrade(signal);
                bases.start_it_real(caller.hart, caller.tgid, weak, expires(value_ns))
            });
        }
        return Ok(old);
    };
    let t = it.cpu_timer(which).ok_or(Errno::EINVAL)?;
    let old = match t.expires_ns {
        0 => OldItimerval::from_ns(0, t.interval_ns),
        e => OldItimerval::from_ns(left(e), t.interval_ns),
    };
    if let Some((value_ns, interval_ns)) = set {
        *t = CpuItimer {
            expires_ns: expires(value_ns),
            interval_ns: if value_ns == 0 { 0 } else { interval_ns },
        };
        signal.cputimer.set_nextevt(clock, t.expires_ns);
    }
    Ok(old)
}

impl Kernel<'_> {
    /// `getitimer`/`setitimer` (system call `nr`, arguments `a`) by task `tid` under the
    /// kernel lock ([`itimer_call`], which a hart without it serves the same way).
    ///
    /// # Errors
    /// As [`itimer_call`]; `ESRCH` for a task that is gone, `EFAULT` for one without an
    /// address space.
    pub(super) fn sys_itimer(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        nr: u64,
        a: [u64; 6],
    ) -> KResult<u64> {
        let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let mm = task.mm.as_ref().ok_or(Errno::EFAULT)?;
        let caller = ItimerCaller {
            signal: &task.signal,
            tgid: task.tgid,
            bases: self.timers.bases(),
            hart: self.this,
            mono_now_ns: self.clock_now(hart).1,
        };
        let mut u: &crate::mm::MmStruct = mm.uaccess();
        itimer_call(&caller, &mut u, nr, a).unwrap_or(Err(Errno::ENOSYS))
    }

    /// Fires the CPU-time timers (`ITIMER_VIRTUAL`, `ITIMER_PROF`) of process `tgid`
    /// that its CPU time has reached ([`check_process_timers`]), at a scheduling point
    /// of the kernel lock (where the deterministic mode charges every task's time), and
    /// sends their signals.
    pub(super) fn fire_itimers_cputime(&mut self, hart: &mut Hart<'_>, tgid: u32) {
        let Some(task) = self.tasks.get(&tgid) else {
            return;
        };
        if !task.signal.cputimer.expired() {
            return;
        }
        for info in check_process_timers(&task.signal) {
            self.send_signal(hart, tgid, None, info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::SignalStruct;

    #[test]
    fn hrtimer_forward_skips_missed_periods() {
        assert_eq!(hrtimer_forward(100, 100, 10), 110);
        assert_eq!(hrtimer_forward(100, 135, 10), 140);
        assert_eq!(hrtimer_forward(100, 140, 10), 150);
        assert_eq!(hrtimer_forward(KTIME_MAX - 5, KTIME_MAX, 10), KTIME_MAX);
    }

    /// A group's `ITIMER_REAL` with a period, armed on hart 1's base of `bases`.
    fn armed(bases: &HrtimerBases, signal: &Arc<SignalStruct>, at: u64, incr: u64) {
        let mut g = signal.lock();
        g.itimers.it_real_incr_ns = incr;
        let t = bases.start_it_real(1, 7, Arc::downgrade(signal), at);
        g.itimers.real_timer = Some(t);
    }

    /// Two harts' bases, and a thread group (tgid 7) whose `ITIMER_REAL` expires at
    /// `at` with period `incr`, armed on hart 1's base.
    fn group_with_alarm(at: u64, incr: u64) -> (HrtimerBases, Arc<SignalStruct>) {
        let bases = HrtimerBases::with_virtual_clock(2);
        let signal = Arc::new(SignalStruct::default());
        armed(&bases, &signal, at, incr);
        (bases, signal)
    }

    #[test]
    fn it_real_fn_rearms_the_period_on_its_base_and_names_the_group() {
        let (bases, signal) = group_with_alarm(1_000, 300);
        // Fired late, at 1_700: the next period after it is 1_900, on hart 1's base.
        let fired = bases.run_queues(1, 1_700);
        assert_eq!(fired.len(), 1);
        assert_eq!(it_real_fn(&bases, &fired[0], 1_700), Some(7));
        assert_eq!(bases.expires_next(1), Some(1_900));
        assert_eq!(bases.expires_next(0), None);
        let rearmed = signal.lock().itimers.real_timer.clone().unwrap();
        assert!(!Arc::ptr_eq(&rearmed, &fired[0]));
        // A sleeper's timer is not an interval timer.
        let sleeper = bases.start(0, 3, 5);
        assert_eq!(it_real_fn(&bases, &sleeper, 10), None);
    }

    #[test]
    fn a_one_shot_is_disarmed_and_a_replaced_timer_signals_without_rearming() {
        let (bases, signal) = group_with_alarm(1_000, 0);
        let fired = bases.run_queues(1, 1_000);
        assert_eq!(it_real_fn(&bases, &fired[0], 1_000), Some(7));
        assert!(signal.lock().itimers.real_timer.is_none());
        assert_eq!(bases.earliest(), None);
        // Fired, then replaced by a setitimer before its expiry ran (the cancel came
        // too late): SIGALRM is still sent, the new setting is left alone.
        armed(&bases, &signal, 2_000, 100);
        let fired = bases.run_queues(1, 2_000);
        let t = signal.lock().itimers.real_timer.take().unwrap();
        assert!(!bases.try_to_cancel(&t), "it fired: too late to cancel");
        armed(&bases, &signal, 5_000, 0);
        assert_eq!(it_real_fn(&bases, &fired[0], 2_000), Some(7));
        assert_eq!(bases.earliest(), Some(5_000));
        // The group exits: its timer is cancelled, and a late expiry of a group that
        // is gone sends nothing.
        signal.lock().itimers.exit_itimers(&bases, &signal.cputimer);
        assert_eq!(bases.earliest(), None);
        armed(&bases, &signal, 6_000, 100);
        let fired = bases.run_queues(1, 6_000);
        drop(signal);
        assert_eq!(it_real_fn(&bases, &fired[0], 6_000), None);
        assert_eq!(bases.earliest(), None);
    }

    #[test]
    fn cpu_timers_fire_on_the_groups_sums_and_rearm_their_period() {
        let bases = HrtimerBases::with_virtual_clock(2);
        let signal = Arc::new(SignalStruct::default());
        let caller = ItimerCaller {
            signal: &signal,
            tgid: 7,
            bases: &bases,
            hart: 1,
            mono_now_ns: 0,
        };
        let cputime = &signal.cputimer.cputime;
        cputime.account_exec_runtime(100);
        // ITIMER_PROF in 1000 ns of runtime, then every 500; ITIMER_VIRTUAL once, in
        // 300 ns of user time.
        do_setitimer(&caller, ITIMER_PROF, Some((1_000, 500))).unwrap();
        do_setitimer(&caller, ITIMER_VIRTUAL, Some((300, 0))).unwrap();
        assert!(signal.cputimer.armed());
        cputime.account_exec_runtime(900);
        cputime.account_user_time(200);
        assert!(!signal.cputimer.expired());
        assert!(check_process_timers(&signal).is_empty());
        // Two harts' threads charge more: 2_300 ns of runtime (the PROF expiry at
        // 1_100 and two periods after it passed), 350 of user time.
        cputime.account_exec_runtime(1_300);
        cputime.account_user_time(150);
        assert!(signal.cputimer.expired());
        let sent: Vec<u8> = check_process_timers(&signal)
            .iter()
            .map(|s| s.signo)
            .collect();
        assert_eq!(sent, [SIGPROF, SIGVTALRM]);
        assert!(!signal.cputimer.expired(), "re-armed past now, or disarmed");
        let g = signal.lock();
        assert_eq!(
            g.itimers.cpu[1].expires_ns, 2_600,
            "the next period after 2_300"
        );
        assert_eq!(
            g.itimers.cpu[0],
            CpuItimer::default(),
            "a one-shot is disarmed"
        );
        drop(g);
        // getitimer: 300 ns left, reported as at least 1 us; the group's exit disarms.
        let old = do_setitimer(&caller, ITIMER_PROF, None).unwrap();
        assert_eq!((old.value, old.interval), ((0, 1), (0, 0)));
        signal.lock().itimers.exit_itimers(&bases, &signal.cputimer);
        assert!(!signal.cputimer.armed());
        assert_eq!(do_setitimer(&caller, 5, None), Err(Errno::EINVAL));
    }

    #[test]
    fn itimerval_round_trips_and_is_checked_as_timeval_valid() {
        let v = OldItimerval {
            interval: (1, 500_000),
            value: (2, 0),
        };
        assert_eq!(OldItimerval::from_bytes(&v.to_bytes()), v);
        assert_eq!(v.to_ns(), Ok((2_000_000_000, 1_500_000_000)));
        for bad in [(0, 1_000_000), (0, -1), (-1, 0)] {
            let v = OldItimerval {
                interval: (0, 0),
                value: bad,
            };
            assert_eq!(v.to_ns(), Err(Errno::EINVAL), "{bad:?}");
            let v = OldItimerval {
                interval: bad,
                value: (1, 0),
            };
            assert_eq!(v.to_ns(), Err(Errno::EINVAL), "{bad:?}");
        }
        // Centuries saturate at KTIME_MAX, a deadline that never fires.
        let far = OldItimerval {
            interval: (0, 0),
            value: (i64::MAX, 999_999),
        };
        assert_eq!(far.to_ns(), Ok((KTIME_MAX, 0)));
        assert_eq!(
            OldItimerval::from_ns(1_500_000_999, 0),
            OldItimerval {
                interval: (0, 0),
                value: (1, 500_000),
            }
        );
    }
}
