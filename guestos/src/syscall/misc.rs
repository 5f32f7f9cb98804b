//! System calls that need no process state beyond user memory: identity, clocks, limits,
//! randomness, `uname`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::errno::{Errno, KResult};
use crate::kernel::{CputimeAtomic, TaskCputime};
use crate::uaccess::UserAccess;

/// `struct utsname` field length (`__NEW_UTS_LEN + 1`).
const UTS_LEN: usize = 65;

/// The `uname` strings: Linux-looking so glibc's version checks pass; `nodename` names us.
pub const UTSNAME: [&str; 6] = [
    "Linux",
    "dirtybit",
    "6.6.0-dirtybit",
    "#1 SMP",
    "riscv64",
    "(none)",
];

/// The machine's UTS namespace (`struct uts_namespace`): the `nodename` and
/// `domainname` that `sethostname`/`setdomainname` write and `uname` reads, each at most
/// `__NEW_UTS_LEN` (64) bytes. Every process shares the one namespace (no
/// `CLONE_NEWUTS`); it lives with the VFS they share ([`crate::fs::Vfs::uts`]).
#[derive(Debug)]
pub struct UtsNamespace {
    /// `nodename`, `domainname`: NUL-padded.
    names: std::sync::Mutex<[[u8; UTS_LEN]; 2]>,
}

impl Default for UtsNamespace {
    /// [`UTSNAME`]'s nodename and domainname.
    fn default() -> Self {
        let mut names = [[0u8; UTS_LEN]; 2];
        for (n, s) in names.iter_mut().zip([UTSNAME[1], UTSNAME[5]]) {
            n[..s.len()].copy_from_slice(s.as_bytes());
        }
        UtsNamespace {
            names: std::sync::Mutex::new(names),
        }
    }
}

impl UtsNamespace {
    fn names(&self) -> std::sync::MutexGuard<'_, [[u8; UTS_LEN]; 2]> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `uname(buf)`: fills `struct new_utsname` (6 × 65 bytes), `nodename` and `domainname`
/// from `uts`.
///
/// # Errors
/// `EFAULT` for a bad buffer.
pub fn sys_uname(uts: &UtsNamespace, u: &mut dyn UserAccess, buf: u64) -> KResult<u64> {
    let mut out = [0u8; 6 * UTS_LEN];
    for (i, s) in UTSNAME.iter().enumerate() {
        out[i * UTS_LEN..i * UTS_LEN + s.len()].copy_from_slice(s.as_bytes());
    }
    let names = *uts.names();
    out[UTS_LEN..2 * UTS_LEN].copy_from_slice(&names[0]);
    out[5 * UTS_LEN..].copy_from_slice(&names[1]);
    u.copy_to_user(buf, &out)?;
    Ok(0)
}

/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;

/// `sethostname(name, len)` (`domain` false) and `setdomainname(name, len)`
/// (`kernel/sys.c`): the first `len` bytes at `name` become the name, the rest of the
/// field zeroed.
///
/// # Errors
/// `EPERM` without `CAP_SYS_ADMIN` (checked first); `EINVAL` for `len` (an `int`)
/// negative or above 64; `EFAULT`.
pub fn sys_sethostname(
    cred: &crate::fs::cred::TaskCred,
    uts: &UtsNamespace,
    u: &mut dyn UserAccess,
    domain: bool,
    name: u64,
    len: u64,
) -> KResult<u64> {
    if !cred.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let len = len as u32 as i32;
    if !(0..UTS_LEN as i32).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut field = [0u8; UTS_LEN];
    u.copy_from_user(name, &mut field[..len as usize])?;
    uts.names()[usize::from(domain)] = field;
    Ok(0)
}

/// Clock ids of `clock_gettime` (`include/uapi/linux/time.h`).
pub mod clock {
    /// CLOCK_REALTIME.
    pub const REALTIME: u64 = 0;
    /// CLOCK_MONOTONIC.
    pub const MONOTONIC: u64 = 1;
    /// CLOCK_PROCESS_CPUTIME_ID.
    pub const PROCESS_CPUTIME_ID: u64 = 2;
    /// CLOCK_THREAD_CPUTIME_ID.
    pub const THREAD_CPUTIME_ID: u64 = 3;
    /// CLOCK_MONOTONIC_RAW.
    pub const MONOTONIC_RAW: u64 = 4;
    /// CLOCK_REALTIME_COARSE.
    pub const REALTIME_COARSE: u64 = 5;
    /// CLOCK_MONOTONIC_COARSE.
    pub const MONOTONIC_COARSE: u64 = 6;
    /// CLOCK_BOOTTIME.
    pub const BOOTTIME: u64 = 7;
    /// CLOCK_REALTIME_ALARM.
    pub const REALTIME_ALARM: u64 = 8;
    /// CLOCK_BOOTTIME_ALARM.
    pub const BOOTTIME_ALARM: u64 = 9;
    /// CLOCK_TAI.
    pub const TAI: u64 = 11;
}

/// Where time comes from: the host clock, or a virtual clock derived from modelled cycles
/// (deterministic runs).
#[derive(Debug, Clone, Copy)]
pub enum TimeSource {
    /// Host wall clock and monotonic clock since `start`.
    Host {
        /// When the machine started.
        start: std::time::Instant,
    },
    /// Nanoseconds derived from the machine (e.g. modelled cycles at 1 GHz); realtime is
    /// `epoch_ns + ns`.
    Virtual {
        /// Realtime at ns = 0, in ns since the Unix epoch.
        epoch_ns: u64,
    },
}

impl TimeSource {
    /// `(realtime_ns, monotonic_ns)`; `virtual_ns` is used by [`TimeSource::Virtual`].
    pub fn now(&self, virtual_ns: u64) -> (u64, u64) {
        match *self {
            TimeSource::Host { start } => {
                let real = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                (real, start.elapsed().as_nanos() as u64)
            }
            TimeSource::Virtual { epoch_ns } => (epoch_ns + virtual_ns, virtual_ns),
        }
    }
}

fn timespec(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    b[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    b
}

/// The caller of a clock call: `(tgid, tid, the tids of its thread group)`.
pub type Caller<'a> = (u32, u32, &'a [u32]);

/// What a `clockid_t` names (`clockid_to_kclock()`, `kernel/time/posix-timers.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KClock {
    /// `CLOCK_REALTIME`, `CLOCK_REALTIME_COARSE`, and `CLOCK_TAI` (the TAI offset is 0
    /// until NTP sets it, as on a fresh Linux).
    Realtime,
    /// `CLOCK_MONOTONIC`, `_RAW`, `_COARSE` and `CLOCK_BOOTTIME` (the machine never
    /// suspends).
    Monotonic,
    /// A CPU-time clock (`clock_posix_cpu`): `CLOCK_PROCESS_CPUTIME_ID`,
    /// `CLOCK_THREAD_CPUTIME_ID`, or a negative id `~pid << 3 | which` (with bit 2 for a
    /// thread's clock; `pid` 0 is the caller).
    Cpu {
        /// The clock of one thread rather than of its process.
        thread: bool,
        /// `CPUCLOCK_VIRT` (user time) rather than `CPUCLOCK_PROF` or `CPUCLOCK_SCHED`
        /// (the runtime: user and system time, which are one here).
        virt: bool,
        /// The process or thread id in the clock id; 0 for the caller.
        pid: i32,
        /// A fixed id (`CLOCK_*_CPUTIME_ID`) rather than a `pid` clock.
        fixed: bool,
    },
    /// `CLOCK_REALTIME_ALARM`, `CLOCK_BOOTTIME_ALARM`: this machine has no RTC device, so
    /// they are refused as Linux refuses them without one (`alarmtimer_get_rtcdev()`).
    Alarm,
    /// Clocks that exist but cannot be slept on (`kc->nsleep == NULL`):
    /// `CLOCK_MONOTONIC_RAW`, the `_COARSE` clocks.
    NoSleep(&'static KClock),
}

impl KClock {
    /// The clock named by `clk` (a `clockid_t`, an `int`).
    ///
    /// # Errors
    /// `EINVAL` for an id that names no clock: 10 (`CLOCK_SGI_CYCLE`, gone), 12..=15, 16
    /// and above, a CPU clock whose `which` is `CPUCLOCK_MAX` (3) or more, and a dynamic
    /// (`CLOCKFD`) clock, since no descriptor here is a posix clock (`get_clock_desc()`).
    pub fn from_id(clk: u64) -> KResult<KClock> {
        const CPUCLOCK_PERTHREAD_MASK: i32 = 4;
        const CPUCLOCK_CLOCK_MASK: i32 = 3;
        const CLOCKFD: i32 = 3;
        let id = clk as u32 as i32;
        if id < 0 {
            // `(id & CLOCKFD_MASK) == CLOCKFD` is a dynamic clock; `which` 3 is the same
            // bits with the thread bit clear, CPUCLOCK_MAX.
            if id & CPUCLOCK_CLOCK_MASK == CLOCKFD {
                return Err(Errno::EINVAL);
            }
            const CPUCLOCK_VIRT: i32 = 1;
            return Ok(KClock::Cpu {
                thread: id & CPUCLOCK_PERTHREAD_MASK != 0,
                virt: id & CPUCLOCK_CLOCK_MASK == CPUCLOCK_VIRT,
                pid: !(id >> 3),
                fixed: false,
            });
        }
        Ok(match clk {
            clock::REALTIME | clock::TAI => KClock::Realtime,
            clock::MONOTONIC | clock::BOOTTIME => KClock::Monotonic,
            clock::REALTIME_COARSE => KClock::NoSleep(&KClock::Realtime),
            clock::MONOTONIC_RAW | clock::MONOTONIC_COARSE => KClock::NoSleep(&KClock::Monotonic),
            clock::PROCESS_CPUTIME_ID | clock::THREAD_CPUTIME_ID => KClock::Cpu {
                thread: clk == clock::THREAD_CPUTIME_ID,
                virt: false,
                pid: 0,
                fixed: true,
            },
            clock::REALTIME_ALARM | clock::BOOTTIME_ALARM => KClock::Alarm,
            _ => return Err(Errno::EINVAL),
        })
    }

    /// The clock `clk` as `clock_gettime`/`clock_getres` see it, for caller `tid` in
    /// thread group `tgid` whose threads are `threads` (`pid_for_clock()`): a process
    /// clock must name the caller's process (pid 0, its tgid, or for `clock_gettime` the
    /// caller's own tid), a thread clock the caller (0) or one of its threads; another
    /// process's clock is refused like one that does not exist (Linux reads it: this
    /// kernel's readers reach the caller's thread group only).
    ///
    /// # Errors
    /// As [`KClock::from_id`]; `EINVAL` for a CPU clock of another process, an alarm clock.
    pub fn for_read(clk: u64, (tgid, tid, threads): Caller<'_>) -> KResult<KClock> {
        let k = KClock::from_id(clk)?;
        match k {
            KClock::Cpu { thread, pid, .. } => {
                let pid = pid as u32;
                let own = pid == 0
                    || if thread {
                        threads.contains(&pid)
                    } else {
                        pid == tgid || pid == tid
                    };
                if own {
                    Ok(k)
                } else {
                    Err(Errno::EINVAL)
                }
            }
            KClock::Alarm => Err(Errno::EINVAL),
            _ => Ok(k),
        }
    }

    /// The clock `clock_nanosleep(clk, ..)` sleeps on (`do_clock_nanosleep()`):
    /// `Ok(true)` for the realtime clock (an absolute deadline moves with it), `Ok(false)`
    /// for the monotonic ones and the caller's process CPU-time clock (slept on as
    /// monotonic time: there are no CPU-clock sleeps, `posix_cpu_nsleep()`, here).
    ///
    /// # Errors
    /// `EINVAL` for an unknown clock, a thread CPU-time clock of the caller
    /// (`posix_cpu_nsleep()`), or a CPU clock of another task; `EOPNOTSUPP` for a clock
    /// without `nsleep` (`CLOCK_THREAD_CPUTIME_ID`, `_RAW`, `_COARSE`) and the alarm
    /// clocks (no RTC; Linux reads the timespec first for those).
    pub fn for_nsleep(clk: u64) -> KResult<bool> {
        match KClock::from_id(clk)? {
            KClock::Realtime => Ok(true),
            KClock::Monotonic => Ok(false),
            KClock::Cpu {
                thread: true,
                fixed: true,
                ..
            }
            | KClock::NoSleep(_)
            | KClock::Alarm => Err(Errno::EOPNOTSUPP),
            KClock::Cpu {
                thread: false,
                pid: 0,
                ..
            } => Ok(false),
            KClock::Cpu { .. } => Err(Errno::EINVAL),
        }
    }
}

/// What a CPU-time clock or `getrusage` reads, without a lock (the atomics of
/// [`crate::kernel::CputimeAtomic`]): `cpu_clock_sample()` of a thread,
/// `thread_group_cputime()` of the caller's group, its reaped children's times. The
/// caller's own runtime is brought up to date by whoever serves the call, before the
/// read (`task_sched_runtime()`'s `update_curr()`).
pub(crate) trait CpuTimes: std::fmt::Debug {
    /// Thread `tid`'s own CPU time, if this reader reaches it: the caller always; another
    /// thread of its group only with the task table (under the kernel lock).
    fn thread(&self, tid: u32) -> Option<TaskCputime>;
    /// The caller's thread group's, exited threads included.
    fn group(&self) -> TaskCputime;
    /// The caller's thread group's reaped children's (`cutime`, `cstime`).
    fn children(&self) -> TaskCputime;
}

/// The CPU time of one task — the caller — and its thread group ([`CpuTimes`]), which
/// reaches no other thread.
#[derive(Debug)]
pub(crate) struct OwnCpuTimes<'a> {
    /// The caller's tid.
    pub tid: u32,
    /// Its own CPU time.
    pub task: &'a CputimeAtomic,
    /// Its thread group.
    pub group: &'a crate::process::SignalStruct,
}

impl CpuTimes for OwnCpuTimes<'_> {
    fn thread(&self, tid: u32) -> Option<TaskCputime> {
        (tid == self.tid).then(|| self.task.sample())
    }

    fn group(&self) -> TaskCputime {
        self.group.cputimer.cputime.sample()
    }

    fn children(&self) -> TaskCputime {
        self.group.cputimer.children.sample()
    }
}

/// `cpu_clock_sample()` / `cpu_clock_sample_group()` of clock `clk` for `caller`,
/// read through `cpu`, in ns: the named thread's or the caller's group's user time
/// (`CPUCLOCK_VIRT`) or runtime. `Some(0)` for a clock that is not a CPU clock or that
/// [`KClock::for_read`] refuses (the call reads or refuses it itself); `None` for a
/// thread clock of a thread `cpu` does not reach (the call is the kernel lock's).
pub(crate) fn cpu_clock_ns(cpu: &dyn CpuTimes, caller: Caller<'_>, clk: u64) -> Option<u64> {
    let Ok(KClock::Cpu {
        thread, virt, pid, ..
    }) = KClock::for_read(clk, caller)
    else {
        return Some(0);
    };
    let t = if thread {
        let tid = if pid == 0 { caller.1 } else { pid as u32 };
        cpu.thread(tid)?
    } else {
        cpu.group()
    };
    Some(if virt {
        t.utime_ns
    } else {
        t.sum_exec_runtime_ns
    })
}

/// `getrusage(who, ru)` (`kernel/sys.c`): `who` (an `int`) is `RUSAGE_SELF` (0: the
/// thread group, `thread_group_cputime_adjusted()`), `RUSAGE_THREAD` (1: the caller) or
/// `RUSAGE_CHILDREN` (-1: the reaped children, `cutime`/`cstime`); `struct rusage` (144
/// bytes: `ru_utime` and `ru_stime` as `struct timeval`s, then 14 `long`s, which stay 0
/// here: no fault, rss or context-switch counts are kept per task). `None` if `cpu`
/// does not reach the caller's own time.
///
/// # Errors
/// `EINVAL` for another `who` (checked before the copy); `EFAULT` for a bad `ru`.
pub(crate) fn sys_getrusage(
    u: &mut dyn UserAccess,
    cpu: &dyn CpuTimes,
    tid: u32,
    who: u64,
    ru: u64,
) -> Option<KResult<u64>> {
    let t = match who as u32 as i32 {
        0 => cpu.group(),
        1 => cpu.thread(tid)?,
        -1 => cpu.children(),
        _ => return Some(Err(Errno::EINVAL)),
    };
    Some(u.copy_to_user(ru, &rusage(t)).map(|()| 0))
}

/// `struct rusage` (144 bytes) with `ru_utime`/`ru_stime` from `t` (microseconds,
/// rounded down: `ns_to_kernel_old_timeval()`), every other field 0.
pub(crate) fn rusage(t: TaskCputime) -> [u8; 144] {
    let mut b = [0u8; 144];
    let timeval = |ns: u64| {
        let usec = ns / 1_000;
        [usec / 1_000_000, usec % 1_000_000]
    };
    let words = timeval(t.utime_ns).into_iter().chain(timeval(t.stime_ns));
    for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// `clock_gettime(clk, tp)` for `caller`. `cpu_ns` is the named CPU-time clock's
/// reading ([`cpu_clock_ns`]).
///
/// # Errors
/// `EINVAL` for a clock [`KClock::for_read`] refuses, then `EFAULT` for a bad `tp`.
#[allow(clippy::too_many_arguments)] // the syscall's two arguments and the caller's clocks
pub fn sys_clock_gettime(
    u: &mut dyn UserAccess,
    time: &TimeSource,
    virtual_ns: u64,
    cpu_ns: u64,
    caller: Caller<'_>,
    clk: u64,
    tp: u64,
) -> KResult<u64> {
    let (real, mono) = time.now(virtual_ns);
    let k = KClock::for_read(clk, caller)?;
    let ns = match k {
        KClock::Realtime | KClock::NoSleep(KClock::Realtime) => real,
        KClock::Cpu { .. } => cpu_ns,
        _ => mono,
    };
    u.copy_to_user(tp, &timespec(ns))?;
    Ok(0)
}

/// `clock_getres(clk, res)`: 1 ns for every clock (`res` may be NULL).
///
/// # Errors
/// `EINVAL` for a clock [`KClock::for_read`] refuses, then `EFAULT` for a bad `res`.
pub fn sys_clock_getres(
    u: &mut dyn UserAccess,
    caller: Caller<'_>,
    clk: u64,
    res: u64,
) -> KResult<u64> {
    KClock::for_read(clk, caller)?;
    if res != 0 {
        u.copy_to_user(res, &timespec(1))?;
    }
    Ok(0)
}

/// `gettimeofday(tv, tz)`; `tz` is filled with zeros if given.
///
/// # Errors
/// `EFAULT`.
pub fn sys_gettimeofday(
    u: &mut dyn UserAccess,
    time: &TimeSource,
    virtual_ns: u64,
    tv: u64,
    tz: u64,
) -> KResult<u64> {
    let (real, _) = time.now(virtual_ns);
    if tv != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(real / 1_000_000_000).to_le_bytes());
        b[8..].copy_from_slice(&((real % 1_000_000_000) / 1000).to_le_bytes());
        u.copy_to_user(tv, &b)?;
    }
    if tz != 0 {
        u.copy_to_user(tz, &[0u8; 8])?;
    }
    Ok(0)
}

/// Resource limits (`include/uapi/asm-generic/resource.h`), as `(cur, max)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimits {
    limits: [(u64, u64); RLIM_NLIMITS],
}

/// RLIM_INFINITY.
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Number of resources.
pub const RLIM_NLIMITS: usize = 16;
/// RLIMIT_STACK.
pub const RLIMIT_STACK: usize = 3;
/// RLIMIT_NOFILE.
pub const RLIMIT_NOFILE: usize = 7;
/// `fs.nr_open`'s default (`sysctl_nr_open`, 1024 * 1024): the highest `RLIMIT_NOFILE`.
pub const NR_OPEN: u64 = 1 << 20;

impl Default for Rlimits {
    /// Linux's defaults for a root shell: 8 MiB stack, 1024/4096 files, the rest unlimited
    /// except RLIMIT_CORE (0), RLIMIT_NPROC, RLIMIT_MEMLOCK (8 MiB), RLIMIT_MSGQUEUE,
    /// RLIMIT_SIGPENDING, RLIMIT_RTPRIO/NICE (0).
    fn default() -> Self {
        let inf = (RLIM_INFINITY, RLIM_INFINITY);
        let mut limits = [inf; RLIM_NLIMITS];
        limits[RLIMIT_STACK] = (8 << 20, RLIM_INFINITY);
        limits[4] = (0, RLIM_INFINITY); // RLIMIT_CORE
        limits[6] = (63_704, 63_704); // RLIMIT_NPROC
        limits[RLIMIT_NOFILE] = (1024, 4096);
        limits[8] = (8 << 20, 8 << 20); // RLIMIT_MEMLOCK
        limits[11] = (63_704, 63_704); // RLIMIT_SIGPENDING
        limits[12] = (819_200, 819_200); // RLIMIT_MSGQUEUE
        limits[13] = (0, 0); // RLIMIT_NICE
        limits[14] = (0, 0); // RLIMIT_RTPRIO
        Self { limits }
    }
}

impl Rlimits {
    /// `(cur, max)` of `resource`, or `None` if out of range.
    pub fn get(&self, resource: usize) -> Option<(u64, u64)> {
        self.limits.get(resource).copied()
    }

    /// `prlimit64(0, resource, new, old)` on the calling process, whose limits are
    /// `self`: [`sys_prlimit64`] with `self` as the limits.
    ///
    /// # Errors
    /// As [`sys_prlimit64`].
    pub fn sys_prlimit64(
        &mut self,
        u: &mut dyn UserAccess,
        resource: u64,
        new: u64,
        old: u64,
    ) -> KResult<u64> {
        sys_prlimit64(u, resource, new, old, &mut |r, l| self.exchange(r, l))
    }

    /// `do_prlimit()`'s exchange: the `(cur, max)` of resource `r` (an index checked
    /// against [`RLIM_NLIMITS`]), replaced by `new` if given; `(0, 0)` for no resource.
    pub fn exchange(&mut self, r: usize, new: Option<(u64, u64)>) -> (u64, u64) {
        let Some(l) = self.limits.get_mut(r) else {
            return (0, 0);
        };
        let was = *l;
        if let Some(n) = new {
            *l = n;
        }
        was
    }
}

/// `prlimit64(0, resource, new, old)` on the calling process: the new limit is read
/// from `new` (0: none) and the old one written to `old` (0: none) with no lock held,
/// and `do_prlimit()`'s exchange is `exchange(resource, new)` ([`Rlimits::exchange`]
/// on the process's limits under their lock, `task_lock(tsk->group_leader)`; here the
/// thread group's `siglock`), which returns the old limit: a copy may fault, and takes
/// the `mmap_lock`, so none is made under that lock.
///
/// # Errors
/// `EINVAL` for a bad resource or `cur > max`; `EPERM` for an `RLIMIT_NOFILE` maximum
/// above `fs.nr_open` ([`NR_OPEN`]; raising other maxima needs `CAP_SYS_RESOURCE`,
/// which root has); `EFAULT` (an unwritable `old` after the new limit is set).
pub fn sys_prlimit64(
    u: &mut dyn UserAccess,
    resource: u64,
    new: u64,
    old: u64,
    exchange: &mut dyn FnMut(usize, Option<(u64, u64)>) -> (u64, u64),
) -> KResult<u64> {
    let r = usize::try_from(resource)
        .ok()
        .filter(|&r| r < RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)?;
    let new_lim = if new != 0 {
        let cur = u.get_user_u64(new)?;
        let max = u.get_user_u64(new + 8)?;
        if cur > max {
            return Err(Errno::EINVAL);
        }
        if r == RLIMIT_NOFILE && max > NR_OPEN {
            return Err(Errno::EPERM);
        }
        Some((cur, max))
    } else {
        None
    };
    // do_prlimit() sets the new limit, then the syscall copies the old one out.
    let (cur, max) = exchange(r, new_lim);
    if old != 0 {
        u.put_user_u64(old, cur)?;
        u.put_user_u64(old + 8, max)?;
    }
    Ok(0)
}

/// `getrandom(buf, len, flags)`: fills up to 32 MiB per call (Linux caps a call at
/// `MAX_RW_COUNT`; we cap lower to bound host work), 256 bytes at a time, each piece
/// filled by `rng` (which takes the generator's lock for that piece only: the copy to
/// user memory may fault, and takes the `mmap_lock`).
///
/// # Errors
/// `EINVAL` for unknown flags or `GRND_RANDOM | GRND_INSECURE`, `EFAULT`.
pub fn sys_getrandom(
    u: &mut dyn UserAccess,
    rng: &mut dyn FnMut(&mut [u8]),
    buf: u64,
    len: u64,
    flags: u64,
) -> KResult<u64> {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(Errno::EINVAL);
    }
    let len = len.min(32 << 20) as usize;
    let mut done = 0usize;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = (len - done).min(chunk.len());
        rng(&mut chunk[..n]);
        u.copy_to_user(buf + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(len as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Prng;
    use crate::uaccess::MockUser;

    fn user() -> MockUser {
        MockUser {
            base: 0x1000,
            mem: vec![0; 4096],
        }
    }

    #[test]
    fn uname_layout() {
        let mut u = user();
        let uts = UtsNamespace::default();
        sys_uname(&uts, &mut u, 0x1000).unwrap();
        assert_eq!(&u.mem[..6], b"Linux\0");
        assert_eq!(&u.mem[65..74], b"dirtybit\0");
        assert_eq!(&u.mem[4 * 65..4 * 65 + 8], b"riscv64\0");
        assert_eq!(&u.mem[5 * 65..5 * 65 + 7], b"(none)\0");
        assert_eq!(sys_uname(&uts, &mut u, 0x10), Err(Errno::EFAULT));
    }

    #[test]
    fn sethostname_and_setdomainname_need_cap_sys_admin_and_64_bytes() {
        let mut u = user();
        let uts = UtsNamespace::default();
        let root = crate::fs::cred::TaskCred::default();
        u.mem[..4].copy_from_slice(b"box1");
        assert_eq!(
            sys_sethostname(&root, &uts, &mut u, false, 0x1000, 65),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sys_sethostname(&root, &uts, &mut u, false, 0x1000, u64::MAX),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sys_sethostname(&root, &uts, &mut u, false, 0x10, 4),
            Err(Errno::EFAULT)
        );
        sys_sethostname(&root, &uts, &mut u, false, 0x1000, 4).unwrap();
        sys_sethostname(&root, &uts, &mut u, true, 0x1000, 3).unwrap();
        sys_uname(&uts, &mut u, 0x1100).unwrap();
        assert_eq!(&u.mem[0x100 + 65..0x100 + 70], b"box1\0");
        assert_eq!(&u.mem[0x100 + 5 * 65..0x100 + 5 * 65 + 4], b"box\0");
        let user = root.setresuid(1000, 1000, 1000).unwrap();
        assert_eq!(
            sys_sethostname(&user, &uts, &mut u, false, 0x1000, 99),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn clocks() {
        let mut u = user();
        let t = TimeSource::Virtual {
            epoch_ns: 1_700_000_000_000_000_000,
        };
        let me = (5, 5, &[5u32, 6][..]);
        sys_clock_gettime(&mut u, &t, 2_500_000_000, 7, me, clock::MONOTONIC, 0x1000).unwrap();
        assert_eq!(u.get_user_u64(0x1000).unwrap(), 2);
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 500_000_000);
        sys_clock_gettime(&mut u, &t, 0, 7, me, clock::THREAD_CPUTIME_ID, 0x1000).unwrap();
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 7);
        for bad in [10, 12, 16, 99, u64::from(u32::MAX)] {
            assert_eq!(
                sys_clock_gettime(&mut u, &t, 0, 0, me, bad, 0x1000),
                Err(Errno::EINVAL),
                "clock {bad}"
            );
        }
        // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) = ~pid << 3 | 2; thread clocks | 4.
        let cpu =
            |pid: i32, thread: bool| u64::from((!pid << 3 | 2 | i32::from(thread) << 2) as u32);
        for (id, want) in [
            (cpu(0, false), Ok(0)),
            (cpu(5, false), Ok(0)),
            (cpu(6, true), Ok(0)),
            (cpu(6, false), Err(Errno::EINVAL)), // a thread, not the caller: no process
            (cpu(77, false), Err(Errno::EINVAL)),
            (u64::from((!0i32 << 3 | 3) as u32), Err(Errno::EINVAL)), // CLOCKFD
        ] {
            assert_eq!(
                sys_clock_gettime(&mut u, &t, 0, 7, me, id, 0x1000),
                want,
                "{id:#x}"
            );
        }
        assert_eq!(sys_clock_getres(&mut u, me, clock::TAI, 0), Ok(0));
        assert_eq!(
            sys_clock_getres(&mut u, me, clock::MONOTONIC, 0x10),
            Err(Errno::EFAULT)
        );
        assert_eq!(sys_clock_getres(&mut u, me, 100, 0x10), Err(Errno::EINVAL));
        assert_eq!(KClock::for_nsleep(clock::TAI), Ok(true));
        assert_eq!(
            KClock::for_nsleep(clock::THREAD_CPUTIME_ID),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            KClock::for_nsleep(clock::MONOTONIC_RAW),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(KClock::for_nsleep(cpu(0, true)), Err(Errno::EINVAL));
        assert_eq!(KClock::for_nsleep(cpu(0, false)), Ok(false));
        sys_gettimeofday(&mut u, &t, 1_000, 0x1000, 0).unwrap();
        assert_eq!(u.get_user_u64(0x1000).unwrap(), 1_700_000_000);
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 1);
    }

    #[test]
    fn cpu_clocks_and_getrusage_read_the_thread_the_group_and_the_children() {
        let group = crate::process::SignalStruct::default();
        let task = CputimeAtomic::default();
        task.account_exec_runtime(3_000_000);
        task.account_user_time(2_000_000);
        let g = &group.cputimer;
        g.cputime.account_exec_runtime(7_500_000);
        g.cputime.account_user_time(5_000_000);
        g.children.account_exec_runtime(1_000_000);
        let me = (5, 5, &[5u32, 6][..]);
        let cpu = OwnCpuTimes {
            tid: 5,
            task: &task,
            group: &group,
        };
        let id = |pid: i32, which: i32, thread: bool| {
            u64::from((!pid << 3 | which | i32::from(thread) << 2) as u32)
        };
        for (clk, want) in [
            (clock::PROCESS_CPUTIME_ID, Some(7_500_000)),
            (clock::THREAD_CPUTIME_ID, Some(3_000_000)),
            (id(0, 1, false), Some(5_000_000)), // CPUCLOCK_VIRT: user time
            (id(5, 0, true), Some(3_000_000)),  // CPUCLOCK_PROF of the caller
            (id(6, 2, true), None),             // a sibling: the kernel lock's
            (id(77, 2, false), Some(0)),        // refused by the call itself
            (clock::MONOTONIC, Some(0)),
        ] {
            assert_eq!(cpu_clock_ns(&cpu, me, clk), want, "{clk:#x}");
        }
        let mut u = user();
        let timeval = |u: &MockUser, at: u64| {
            let w = |o| u.mem[o..o + 8].try_into().map(u64::from_le_bytes).unwrap();
            (w(at as usize), w(at as usize + 8))
        };
        assert_eq!(sys_getrusage(&mut u, &cpu, 5, 0, 0x1000), Some(Ok(0)));
        assert_eq!(timeval(&u, 0), (0, 5_000), "RUSAGE_SELF ru_utime");
        assert_eq!(timeval(&u, 16), (0, 2_500), "ru_stime");
        assert_eq!(sys_getrusage(&mut u, &cpu, 5, 1, 0x1000), Some(Ok(0)));
        assert_eq!((timeval(&u, 0), timeval(&u, 16)), ((0, 2_000), (0, 1_000)));
        let children = u64::from(u32::MAX); // RUSAGE_CHILDREN, an int
        assert_eq!(
            sys_getrusage(&mut u, &cpu, 5, children, 0x1000),
            Some(Ok(0))
        );
        assert_eq!((timeval(&u, 0), timeval(&u, 16)), ((0, 0), (0, 1_000)));
        assert_eq!(
            sys_getrusage(&mut u, &cpu, 5, 2, 0x10),
            Some(Err(Errno::EINVAL))
        );
        assert_eq!(
            sys_getrusage(&mut u, &cpu, 5, 0, 0x10),
            Some(Err(Errno::EFAULT))
        );
        assert_eq!(sys_getrusage(&mut u, &cpu, 6, 1, 0x1000), None);
    }

    #[test]
    fn prlimit() {
        let mut u = user();
        let mut r = Rlimits::default();
        r.sys_prlimit64(&mut u, RLIMIT_STACK as u64, 0, 0x1000)
            .unwrap();
        assert_eq!(u.get_user_u64(0x1000).unwrap(), 8 << 20);
        u.put_user_u64(0x1100, 100).unwrap();
        u.put_user_u64(0x1108, 50).unwrap();
        assert_eq!(
            r.sys_prlimit64(&mut u, 7, 0x1100, 0),
            Err(Errno::EINVAL),
            "cur > max"
        );
        assert_eq!(r.sys_prlimit64(&mut u, 99, 0, 0x1000), Err(Errno::EINVAL));
    }

    #[test]
    fn getrandom_is_seeded() {
        let mut u = user();
        let mut a = Prng::new(1);
        assert_eq!(
            sys_getrandom(&mut u, &mut |c| a.fill(c), 0x1000, 16, 0),
            Ok(16)
        );
        let first = u.mem[..16].to_vec();
        let mut b = Prng::new(1);
        sys_getrandom(&mut u, &mut |c| b.fill(c), 0x1000, 16, 0).unwrap();
        assert_eq!(u.mem[..16], first[..]);
        assert_eq!(
            sys_getrandom(&mut u, &mut |c| b.fill(c), 0x1000, 16, 8),
            Err(Errno::EINVAL)
        );
    }
}
