//! System calls that need no process state beyond user memory: identity, clocks, limits,
//! randomness, `uname`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::errno::{Errno, KResult};
use crate::fs::Prng;
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

/// `uname(buf)`: fills `struct new_utsname` (6 × 65 bytes).
///
/// # Errors
/// `EFAULT` for a bad buffer.
pub fn sys_uname(u: &mut dyn UserAccess, buf: u64) -> KResult<u64> {
    let mut out = [0u8; 6 * UTS_LEN];
    for (i, s) in UTSNAME.iter().enumerate() {
        out[i * UTS_LEN..i * UTS_LEN + s.len()].copy_from_slice(s.as_bytes());
    }
    u.copy_to_user(buf, &out)?;
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

/// `clock_gettime(clk, tp)`. `cpu_ns` is the task's CPU time (for the CPU-time clocks).
///
/// # Errors
/// `EINVAL` for an unknown clock, `EFAULT` for a bad `tp`.
pub fn sys_clock_gettime(
    u: &mut dyn UserAccess,
    time: &TimeSource,
    virtual_ns: u64,
    cpu_ns: u64,
    clk: u64,
    tp: u64,
) -> KResult<u64> {
    let (real, mono) = time.now(virtual_ns);
    let ns = match clk {
        clock::REALTIME | clock::REALTIME_COARSE => real,
        clock::MONOTONIC | clock::MONOTONIC_RAW | clock::MONOTONIC_COARSE | clock::BOOTTIME => mono,
        clock::PROCESS_CPUTIME_ID | clock::THREAD_CPUTIME_ID => cpu_ns,
        _ => return Err(Errno::EINVAL),
    };
    u.copy_to_user(tp, &timespec(ns))?;
    Ok(0)
}

/// `clock_getres(clk, res)`: 1 ns for every clock.
///
/// # Errors
/// `EINVAL` for an unknown clock, `EFAULT` for a bad `res`.
pub fn sys_clock_getres(u: &mut dyn UserAccess, clk: u64, res: u64) -> KResult<u64> {
    if clk > clock::BOOTTIME {
        return Err(Errno::EINVAL);
    }
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

    /// `prlimit64(0, resource, new, old)` on the calling process.
    ///
    /// # Errors
    /// `EINVAL` for a bad resource or `cur > max`; `EPERM` for raising `max` (we are root,
    /// so this never happens); `EFAULT`.
    pub fn sys_prlimit64(
        &mut self,
        u: &mut dyn UserAccess,
        resource: u64,
        new: u64,
        old: u64,
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
            Some((cur, max))
        } else {
            None
        };
        if old != 0 {
            let (cur, max) = self.limits[r];
            u.put_user_u64(old, cur)?;
            u.put_user_u64(old + 8, max)?;
        }
        if let Some(l) = new_lim {
            self.limits[r] = l;
        }
        Ok(0)
    }
}

/// `getrandom(buf, len, flags)`: fills up to 32 MiB per call (Linux caps a call at
/// `MAX_RW_COUNT`; we cap lower to bound host work).
///
/// # Errors
/// `EINVAL` for unknown flags, `EFAULT`.
pub fn sys_getrandom(
    u: &mut dyn UserAccess,
    rng: &mut Prng,
    buf: u64,
    len: u64,
    flags: u64,
) -> KResult<u64> {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.min(32 << 20) as usize;
    let mut done = 0usize;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = (len - done).min(chunk.len());
        rng.fill(&mut chunk[..n]);
        u.copy_to_user(buf + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(len as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        sys_uname(&mut u, 0x1000).unwrap();
        assert_eq!(&u.mem[..6], b"Linux\0");
        assert_eq!(&u.mem[4 * 65..4 * 65 + 8], b"riscv64\0");
        assert_eq!(sys_uname(&mut u, 0x10), Err(Errno::EFAULT));
    }

    #[test]
    fn clocks() {
        let mut u = user();
        let t = TimeSource::Virtual {
            epoch_ns: 1_700_000_000_000_000_000,
        };
        sys_clock_gettime(&mut u, &t, 2_500_000_000, 7, clock::MONOTONIC, 0x1000).unwrap();
        assert_eq!(u.get_user_u64(0x1000).unwrap(), 2);
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 500_000_000);
        sys_clock_gettime(&mut u, &t, 0, 7, clock::THREAD_CPUTIME_ID, 0x1000).unwrap();
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 7);
        assert_eq!(
            sys_clock_gettime(&mut u, &t, 0, 0, 99, 0x1000),
            Err(Errno::EINVAL)
        );
        sys_gettimeofday(&mut u, &t, 1_000, 0x1000, 0).unwrap();
        assert_eq!(u.get_user_u64(0x1000).unwrap(), 1_700_000_000);
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 1);
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
        assert_eq!(sys_getrandom(&mut u, &mut a, 0x1000, 16, 0), Ok(16));
        let first = u.mem[..16].to_vec();
        let mut b = Prng::new(1);
        sys_getrandom(&mut u, &mut b, 0x1000, 16, 0).unwrap();
        assert_eq!(u.mem[..16], first[..]);
        assert_eq!(
            sys_getrandom(&mut u, &mut b, 0x1000, 16, 8),
            Err(Errno::EINVAL)
        );
    }
}
