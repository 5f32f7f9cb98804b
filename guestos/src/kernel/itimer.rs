//! Interval timers (`kernel/time/itimer.c`): `setitimer`/`getitimer`, which glibc's
//! `alarm()` and `ualarm()` are built on (riscv64 has no `alarm` system call).
//!
//! Each process (`signal_struct`) has three: `ITIMER_REAL` counts down on
//! CLOCK_MONOTONIC and sends SIGALRM (`it_real_fn()`), `ITIMER_VIRTUAL` on the process's
//! user CPU time (SIGVTALRM) and `ITIMER_PROF` on its user and system CPU time (SIGPROF)
//! (`posix_cpu_timers`' `it[]`). They are kept by tgid: a fork does not inherit them, an
//! `execve` keeps them, and they go with the process.
//!
//! `ITIMER_PROF`'s clock is the scheduler's runtime of the process
//! ([`super::sched::Fair::group_runtime`], user and kernel time), `ITIMER_VIRTUAL`'s its
//! user-mode part ([`super::sched::Fair::group_utime`]): the time from each return to
//! user mode to the next kernel entry, less the kernel work done on the way without the
//! kernel lock (faults and system calls: priced in cycles in deterministic mode, timed
//! on the host in parallel mode). Where it differs from Linux: CPU-time expiry is checked
//! when a hart accounts the process's runtime (each scheduling point), not at the exact
//! moment. A periodic `ITIMER_REAL` is re-armed when
//! it fires (Linux re-arms when SIGALRM is dequeued: the same period, unless the signal
//! stays blocked).
//!
//! They stay under the kernel lock, not on the harts' timer bases ([`super::hrtimer`]):
//! their expiry queues a signal on a thread group, chosen through the task table
//! (`complete_signal()`'s choice of a thread to wake, a group exit for a default
//! action), which is the kernel lock's; Linux's `it_real_fn()` runs from the hrtimer
//! interrupt but takes `siglock`, which here the task table stands for. The tick
//! watches their earliest expiry as the kernel's own clock event
//! ([`super::sched::Tick::arm_timer`] with `None`).

use emu::Hart;

use super::sched::KTIME_MAX;
use super::Kernel;
use crate::errno::{Errno, KResult};
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

/// One interval timer: when it expires, on its clock, and its period, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ITimer {
    /// Expiry on the timer's clock (CLOCK_MONOTONIC or the process's CPU time); 0:
    /// disarmed.
    expires_ns: u64,
    /// Re-armed with this period after it fires (`it_real_incr`, `it[].incr`); 0: once.
    interval_ns: u64,
}

/// A process's three interval timers, indexed by `which`.
pub(super) type ITimers = [ITimer; 3];

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

impl Kernel<'_> {
    /// Process `tgid` has `ITIMER_VIRTUAL` or `ITIMER_PROF` armed: the parallel mode's
    /// tick then brings its hart to the kernel every tick to fire them.
    pub(super) fn cputimers_armed(&self, tgid: u32) -> bool {
        self.itimers.get(&tgid).is_some_and(|t| {
            t[ITIMER_VIRTUAL as usize].expires_ns != 0 || t[ITIMER_PROF as usize].expires_ns != 0
        })
    }

    /// Now on the clock of interval timer `which` of process `tgid`, in ns.
    fn itimer_clock(&self, hart: &Hart<'_>, tgid: u32, which: u64) -> u64 {
        match which {
            ITIMER_REAL => self.clock_now(hart).1,
            ITIMER_VIRTUAL => self.fair.group_utime(tgid),
            _ => self.fair.group_runtime(tgid),
        }
    }

    /// `getitimer(which, value)` by task `tid` (`do_getitimer()`): the time left
    /// (`itimer_get_remtime()`: at least 1 µs while armed) and the period.
    ///
    /// # Errors
    /// `EINVAL` for an unknown `which`; `EFAULT` for a bad `value`.
    pub(super) fn sys_getitimer(&mut self, hart: &Hart<'_>, tid: u32, a: [u64; 6]) -> KResult<u64> {
        let (which, value) = (a[0], a[1]);
        let tgid = self.group_of(tid).ok_or(Errno::ESRCH)?;
        let old = self.itimer_get(hart, tgid, which)?;
        self.put_itimerval(tid, value, old)?;
        Ok(0)
    }

    /// `setitimer(which, value, ovalue)` by task `tid` (`do_setitimer()`): arms interval
    /// timer `which` of the caller's process to expire after `value.it_value` (0:
    /// disarm) and then every `value.it_interval`, storing the old setting at `ovalue`
    /// if not NULL. A NULL `value` disarms (Linux's deprecated "misfeature").
    ///
    /// # Errors
    /// `EINVAL` for an unknown `which` or an invalid timeval (negative seconds,
    /// microseconds outside `0..1_000_000`); `EFAULT` for a bad `value` or `ovalue`.
    pub(super) fn sys_setitimer(&mut self, hart: &Hart<'_>, tid: u32, a: [u64; 6]) -> KResult<u64> {
        let (which, value, ovalue) = (a[0], a[1], a[2]);
        let tgid = self.group_of(tid).ok_or(Errno::ESRCH)?;
        let (value_ns, interval_ns) = if value == 0 {
            (0, 0)
        } else {
            let mut b = [0u8; OldItimerval::SIZE];
            let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
            let mm = task.mm.as_ref().ok_or(Errno::EFAULT)?;
            mm.uaccess().copy_from_user(value, &mut b)?;
            OldItimerval::from_bytes(&b).to_ns()?
        };
        let old = self.itimer_get(hart, tgid, which)?;
        let now = self.itimer_clock(hart, tgid, which);
        let timer = ITimer {
            // ktime_add_safe(): at most KTIME_MAX.
            expires_ns: if value_ns == 0 {
                0
            } else {
                now.saturating_add(value_ns).clamp(1, KTIME_MAX)
            },
            interval_ns: if value_ns == 0 { 0 } else { interval_ns },
        };
        let timers = self.itimers.entry(tgid).or_default();
        if let Some(t) = timers.get_mut(which as usize) {
            *t = timer;
        }
        if ovalue != 0 {
            self.put_itimerval(tid, ovalue, old)?;
        }
        Ok(0)
    }

    /// Interval timer `which` of process `tgid` as `getitimer` reports it.
    ///
    /// # Errors
    /// `EINVAL` for an unknown `which`.
    fn itimer_get(&self, hart: &Hart<'_>, tgid: u32, which: u64) -> KResult<OldItimerval> {
        if !matches!(which, ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) {
            return Err(Errno::EINVAL);
        }
        let t = self
            .itimers
            .get(&tgid)
            .and_then(|ts| ts.get(which as usize))
            .copied()
            .unwrap_or_default();
        if t.expires_ns == 0 {
            return Ok(OldItimerval::from_ns(0, t.interval_ns));
        }
        let now = self.itimer_clock(hart, tgid, which);
        let left = t.expires_ns.saturating_sub(now).max(NSEC_PER_USEC);
        Ok(OldItimerval::from_ns(left, t.interval_ns))
    }

    /// Stores `v` at `va` in task `tid`'s memory.
    ///
    /// # Errors
    /// `EFAULT`.
    fn put_itimerval(&self, tid: u32, va: u64, v: OldItimerval) -> KResult<()> {
        let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let mm = task.mm.as_ref().ok_or(Errno::EFAULT)?;
        let r = mm.uaccess().copy_to_user(va, &v.to_bytes());
        r
    }

    /// The earliest `ITIMER_REAL` expiry of any process on CLOCK_MONOTONIC, in ns.
    pub(super) fn next_itimer_real(&self) -> Option<u64> {
        self.itimers
            .values()
            .filter_map(|ts| ts.get(ITIMER_REAL as usize))
            .map(|t| t.expires_ns)
            .filter(|&e| e != 0)
            .min()
    }

    /// Fires the `ITIMER_REAL` timers due at CLOCK_MONOTONIC `now` (SIGALRM to their
    /// process, `it_real_fn()`), re-arming the periodic ones; forgets the timers of
    /// processes that are gone.
    pub(super) fn fire_itimers_real(&mut self, hart: &mut Hart<'_>, now: u64) {
        self.fire_itimers(hart, None, ITIMER_REAL, now);
    }

    /// Fires the CPU-time timers (`ITIMER_VIRTUAL`, `ITIMER_PROF`) of process `tgid`
    /// that its runtime has reached (`check_process_timers()`).
    pub(super) fn fire_itimers_cputime(&mut self, hart: &mut Hart<'_>, tgid: u32) {
        if !self.itimers.contains_key(&tgid) {
            return;
        }
        let utime = self.fair.group_utime(tgid);
        let cputime = self.fair.group_runtime(tgid);
        self.fire_itimers(hart, Some(tgid), ITIMER_VIRTUAL, utime);
        self.fire_itimers(hart, Some(tgid), ITIMER_PROF, cputime);
    }

    /// Fires timer `which` of process `only` (or of every process) if due at `now` on
    /// its clock.
    fn fire_itimers(&mut self, hart: &mut Hart<'_>, only: Option<u32>, which: u64, now: u64) {
        let gone: Vec<u32> = self
            .itimers
            .keys()
            .copied()
            .filter(|&g| self.group_dead(g))
            .collect();
        for g in gone {
            self.itimers.remove(&g);
        }
        let signo = match which {
            ITIMER_REAL => SIGALRM,
            ITIMER_VIRTUAL => SIGVTALRM,
            _ => SIGPROF,
        };
        let due: Vec<u32> = self
            .itimers
            .iter()
            .filter(|(&g, ts)| {
                only.is_none_or(|o| o == g)
                    && ts
                        .get(which as usize)
                        .is_some_and(|t| t.expires_ns != 0 && t.expires_ns <= now)
            })
            .map(|(&g, _)| g)
            .collect();
        for tgid in due {
            if let Some(t) = self
                .itimers
                .get_mut(&tgid)
                .and_then(|ts| ts.get_mut(which as usize))
            {
                // hrtimer_forward(): the next period after now, skipping missed ones.
                t.expires_ns = match t.interval_ns {
                    0 => 0,
                    p => {
                        let missed = (now - t.expires_ns) / p + 1;
                        let next = t.expires_ns.saturating_add(missed.saturating_mul(p));
                        next.min(KTIME_MAX)
                    }
                };
            }
            let info = SigInfo {
                signo,
                code: SI_KERNEL,
                addr: 0,
                status: 0,
            };
            self.send_signal(hart, tgid, None, info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
