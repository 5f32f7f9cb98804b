//! Identity, capability and scheduling-attribute system calls: the uid/gid family and
//! `getgroups`/`setgroups` (`kernel/sys.c`, `kernel/groups.c`), `capget`/`capset`
//! (`kernel/capability.c`), `personality` (`kernel/exec_domain.c`), `times`, `getcpu`,
//! and the `sched_*`/`getpriority`/`setpriority` calls (`kernel/sched/syscalls.c`,
//! `kernel/sys.c`) on a task's [`TaskAttrs`].
//!
//! The scheduler (`kernel/sched.rs`) keeps treating every task as `SCHED_NORMAL` at nice
//! 0 on any hart: the policy, real-time priority, nice value and affinity mask set here
//! are stored, validated and reported as Linux does, and change no scheduling decision.

use crate::errno::{Errno, KResult};
use crate::fs::cred::{TaskCred, NGROUPS_MAX};
use crate::fs::ProcessFs;
use crate::syscall::nr::*;
use crate::uaccess::UserAccess;

/// `SCHED_NORMAL` (`SCHED_OTHER`).
pub const SCHED_NORMAL: u32 = 0;
/// `SCHED_FIFO`.
pub const SCHED_FIFO: u32 = 1;
/// `SCHED_RR`.
pub const SCHED_RR: u32 = 2;
/// `SCHED_BATCH`.
pub const SCHED_BATCH: u32 = 3;
/// `SCHED_IDLE`.
pub const SCHED_IDLE: u32 = 5;
/// `SCHED_DEADLINE`: known to `sched_get_priority_max/min`, settable only by
/// `sched_setattr` (which this kernel does not offer).
pub const SCHED_DEADLINE: u32 = 6;
/// `SCHED_RESET_ON_FORK`, or-ed into a policy.
pub const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;
/// `MAX_RT_PRIO - 1`: the highest real-time priority.
const MAX_USER_RT_PRIO: u32 = 99;
/// `CAP_SYS_NICE`: raise priorities, real-time policies, other users' tasks.
const CAP_SYS_NICE: u32 = 23;
/// `sched_rr_timeslice` (`RR_TIMESLICE`, 100 ms), in ns.
const RR_TIMESLICE_NS: u64 = 100_000_000;
/// `PER_LINUX`: the only execution domain.
const PER_LINUX: u32 = 0;
/// `USER_HZ`: clock ticks per second of `times()`'s `clock_t`.
pub const USER_HZ: u64 = 100;

/// A task's scheduling attributes and execution domain (`p->policy`, `p->rt_priority`,
/// `p->static_prio` as a nice value, `p->cpus_mask`, `p->sched_reset_on_fork`,
/// `p->personality`). Copied by `clone`, reset by `sched_fork()` per
/// [`TaskAttrs::fork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskAttrs {
    /// `SCHED_*` policy, without `SCHED_RESET_ON_FORK`.
    pub policy: u32,
    /// Real-time priority, 1..=99 for `SCHED_FIFO`/`SCHED_RR`, 0 otherwise.
    pub rt_priority: u32,
    /// Nice value, -20..=19.
    pub nice: i32,
    /// `SCHED_RESET_ON_FORK`.
    pub reset_on_fork: bool,
    /// Allowed harts, bit `i` for hart `i` (`cpus_mask`).
    pub cpus_allowed: u64,
    /// `personality()`'s value.
    pub personality: u32,
}

impl Default for TaskAttrs {
    /// init's: `SCHED_NORMAL`, nice 0, every hart, `PER_LINUX`.
    fn default() -> Self {
        TaskAttrs {
            policy: SCHED_NORMAL,
            rt_priority: 0,
            nice: 0,
            reset_on_fork: false,
            cpus_allowed: u64::MAX,
            personality: PER_LINUX,
        }
    }
}

impl TaskAttrs {
    /// `sched_fork()`: a child of a `SCHED_RESET_ON_FORK` task gets `SCHED_NORMAL` (from
    /// a real-time policy) and nice 0 (from a negative nice), and no reset flag.
    pub fn fork(&self) -> TaskAttrs {
        let mut child = *self;
        if self.reset_on_fork {
            if matches!(self.policy, SCHED_FIFO | SCHED_RR) {
                child.policy = SCHED_NORMAL;
                child.rt_priority = 0;
            }
            child.nice = child.nice.max(0);
            child.reset_on_fork = false;
        }
        child
    }
}

/// The identity calls served on the caller's own credentials and descriptor table
/// (`fsx`), which need no lock but the copies already held: `getuid`, `geteuid`,
/// `getgid`, `getegid`, `getresuid`, `getresgid`, `getgroups`. Served under the kernel
/// lock ([`super::handle`]) and without it ([`super::vfs_call`]). `None` for any other
/// call.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn cred_read_call(
    fsx: &ProcessFs,
    u: &mut dyn UserAccess,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    let c = &fsx.ids;
    Some(match nr {
        SYS_getuid => Ok(u64::from(c.uid)),
        SYS_geteuid => Ok(u64::from(c.euid)),
        SYS_getgid => Ok(u64::from(c.gid)),
        SYS_getegid => Ok(u64::from(c.egid)),
        SYS_getresuid => put_ids(u, [c.uid, c.euid, c.suid], a),
        SYS_getresgid => put_ids(u, [c.gid, c.egid, c.sgid], a),
        SYS_getgroups => sys_getgroups(c, u, a[0], a[1]),
        _ => return None,
    })
}

/// `getresuid()`/`getresgid()`'s three `put_user()`s of `ids` to `a[0..3]`.
fn put_ids(u: &mut dyn UserAccess, ids: [u32; 3], a: [u64; 6]) -> KResult<u64> {
    for (id, va) in ids.into_iter().zip(a) {
        u.copy_to_user(va, &id.to_le_bytes())?;
    }
    Ok(0)
}

/// `getgroups(size, list)` (`kernel/groups.c`): with `size` 0 the number of
/// supplementary groups; otherwise they are written to `list` (`gid_t`s), which must
/// hold them all.
///
/// # Errors
/// `EINVAL` for a negative or too small `size`; `EFAULT`.
fn sys_getgroups(c: &TaskCred, u: &mut dyn UserAccess, size: u64, list: u64) -> KResult<u64> {
    let size = size as u32 as i32;
    let n = c.groups.len();
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size != 0 {
        if (size as usize) < n {
            return Err(Errno::EINVAL);
        }
        let bytes: Vec<u8> = c.groups.iter().flat_map(|g| g.to_le_bytes()).collect();
        u.copy_to_user(list, &bytes)?;
    }
    Ok(n as u64)
}

/// The calls that change the caller's credentials (`prepare_creds()` …
/// `commit_creds()`): `setuid`, `setreuid`, `setresuid`, `setfsuid`, the gid
/// counterparts, `setgroups`, `capset` (on the caller only). Only under the kernel lock
/// ([`super::handle`]), on the task's own [`ProcessFs`]: a hart serving calls without the
/// lock holds a copy, captured again when it next returns the task to user mode. `None`
/// for any other call.
///
/// Linux's credentials are per thread, and so are these; glibc makes `setuid()` and kin
/// process-wide by running the call on every thread (`__nptl_setxid`, with `SIGSETXID`).
///
/// # Errors
/// As each [`TaskCred`] rule; `EINVAL`/`EFAULT` for `setgroups`'s and `capset`'s
/// arguments.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn cred_write_call(
    fsx: &mut ProcessFs,
    tid: u32,
    u: &mut dyn UserAccess,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    let c = &fsx.ids;
    let new = match nr {
        SYS_setuid => c.setuid(a[0]),
        SYS_setreuid => c.setreuid(a[0], a[1]),
        SYS_setresuid => c.setresuid(a[0], a[1], a[2]),
        SYS_setgid => c.setgid(a[0]),
        SYS_setregid => c.setregid(a[0], a[1]),
        SYS_setresgid => c.setresgid(a[0], a[1], a[2]),
        SYS_setfsuid | SYS_setfsgid => {
            let (old, new) = if nr == SYS_setfsuid {
                c.setfsuid(a[0])
            } else {
                c.setfsgid(a[0])
            };
            fsx.commit_creds(new);
            return Some(Ok(u64::from(old)));
        }
        SYS_setgroups => read_groups(u, a[0], a[1]).and_then(|g| c.setgroups(g)),
        SYS_capset => capset(c, tid, u, a[0], a[1]),
        _ => return None,
    };
    Some(new.map(|new| {
        fsx.commit_creds(new);
        0
    }))
}

/// `setgroups()`'s argument: `size` (an `int`, at most [`NGROUPS_MAX`]) `gid_t`s at
/// `list`.
///
/// # Errors
/// `EINVAL` for a bad `size`; `EFAULT`.
fn read_groups(u: &mut dyn UserAccess, size: u64, list: u64) -> KResult<Vec<u32>> {
    let size = size as u32;
    if u64::from(size) > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; size as usize * 4];
    u.copy_from_user(list, &mut bytes)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// `_LINUX_CAPABILITY_VERSION_1`: one 32-bit word per set.
const CAP_V1: u32 = 0x1998_0330;
/// `_LINUX_CAPABILITY_VERSION_2` (deprecated, treated as version 3).
const CAP_V2: u32 = 0x2007_1026;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_V3: u32 = 0x2008_0522;

/// `cap_validate_magic()`: the number of `struct __user_cap_data_struct`s (12 bytes:
/// effective, permitted, inheritable) the header's version carries.
///
/// # Errors
/// `EINVAL` for an unknown version, having written [`CAP_V3`] back to the header;
/// `EFAULT`.
fn cap_validate_magic(u: &mut dyn UserAccess, hdr: u64) -> KResult<usize> {
    let mut v = [0u8; 4];
    u.copy_from_user(hdr, &mut v)?;
    match u32::from_le_bytes(v) {
        CAP_V1 => Ok(1),
        CAP_V2 | CAP_V3 => Ok(2),
        _ => {
            u.copy_to_user(hdr, &CAP_V3.to_le_bytes())?;
            Err(Errno::EINVAL)
        }
    }
}

/// The header's `pid` (an `int`, at offset 4).
fn cap_header_pid(u: &mut dyn UserAccess, hdr: u64) -> KResult<i32> {
    let mut p = [0u8; 4];
    u.copy_from_user(hdr.checked_add(4).ok_or(Errno::EFAULT)?, &mut p)?;
    Ok(i32::from_le_bytes(p))
}

/// `capget(hdr, data)` (`kernel/capability.c`) of the caller `c` (thread `tid`): a NULL
/// `data` only validates the version (0 even for a bad one, which is written back).
/// The `pid` must be 0 or the caller's; the sets of another task are not reachable from
/// here (`ESRCH`).
///
/// # Errors
/// `EINVAL` for a bad version or negative pid; `ESRCH`; `EFAULT`.
pub fn sys_capget(
    c: &TaskCred,
    tid: u32,
    u: &mut dyn UserAccess,
    hdr: u64,
    data: u64,
) -> KResult<u64> {
    let words = match cap_validate_magic(u, hdr) {
        Err(Errno::EINVAL) if data == 0 => return Ok(0),
        r => r?,
    };
    if data == 0 {
        return Ok(0);
    }
    let pid = cap_header_pid(u, hdr)?;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid as u32 != tid {
        return Err(Errno::ESRCH);
    }
    let mut out = Vec::with_capacity(words * 12);
    for w in 0..words {
        for set in [c.cap_effective, c.cap_permitted, c.cap_inheritable] {
            out.extend_from_slice(&((set >> (32 * w)) as u32).to_le_bytes());
        }
    }
    u.copy_to_user(data, &out)?;
    Ok(0)
}

/// `capset(hdr, data)`'s reading: the new sets of the caller `c` (thread `tid`), which
/// [`TaskCred::capset`] checks. Only the caller's own sets may change (`pid` 0 or its
/// tid).
///
/// # Errors
/// `EINVAL` for a bad version; `EPERM` for another pid or a forbidden change; `EFAULT`.
fn capset(
    c: &TaskCred,
    tid: u32,
    u: &mut dyn UserAccess,
    hdr: u64,
    data: u64,
) -> KResult<TaskCred> {
    let words = cap_validate_magic(u, hdr)?;
    let pid = cap_header_pid(u, hdr)?;
    if pid != 0 && pid as u32 != tid {
        return Err(Errno::EPERM);
    }
    let mut raw = vec![0u8; words * 12];
    u.copy_from_user(data, &mut raw)?;
    let mut sets = [0u64; 3];
    for (i, chunk) in raw.chunks_exact(4).enumerate() {
        let v = u64::from(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        sets[i % 3] |= v << (32 * (i / 3));
    }
    c.capset(sets[0], sets[1], sets[2])
}

/// `personality(persona)` (`kernel/exec_domain.c`): returns the old value; `0xffffffff`
/// only queries. The execution domain is `PER_LINUX` whatever the flags; the flag bits
/// (`ADDR_NO_RANDOMIZE`, `READ_IMPLIES_EXEC`…) are stored and reported, with no effect.
pub fn sys_personality(attrs: &mut TaskAttrs, persona: u64) -> u64 {
    let old = attrs.personality;
    if persona as u32 != 0xffff_ffff {
        attrs.personality = persona as u32;
    }
    u64::from(old)
}

/// `times(buf)` (`kernel/sys.c`): `struct tms` (four `clock_t`s, in [`USER_HZ`] ticks:
/// the group's user and system time, its reaped children's) at `buf` unless NULL;
/// returns the ticks since boot (`jiffies_64_to_clock_t(get_jiffies_64())`), here the
/// monotonic clock `mono_ns`.
///
/// # Errors
/// `EFAULT`.
pub(crate) fn sys_times(
    u: &mut dyn UserAccess,
    cpu: &dyn super::misc::CpuTimes,
    mono_ns: u64,
    buf: u64,
) -> KResult<u64> {
    let tick_ns = 1_000_000_000 / USER_HZ;
    if buf != 0 {
        let (g, ch) = (cpu.group(), cpu.children());
        let mut b = [0u8; 32];
        let ticks = [g.utime_ns, g.stime_ns, ch.utime_ns, ch.stime_ns].map(|ns| ns / tick_ns);
        for (chunk, t) in b.chunks_exact_mut(8).zip(ticks) {
            chunk.copy_from_slice(&t.to_le_bytes());
        }
        u.copy_to_user(buf, &b)?;
    }
    Ok(mono_ns / tick_ns)
}

/// `getcpu(cpu, node, cache)` (`kernel/sys.c`): the caller's hart id and NUMA node 0,
/// each written unless its pointer is NULL.
///
/// # Errors
/// `EFAULT`.
pub fn sys_getcpu(u: &mut dyn UserAccess, hart: usize, cpu: u64, node: u64) -> KResult<u64> {
    if cpu != 0 {
        u.copy_to_user(cpu, &(hart as u32).to_le_bytes())?;
    }
    if node != 0 {
        u.copy_to_user(node, &0u32.to_le_bytes())?;
    }
    Ok(0)
}

/// `sched_get_priority_max(policy)` / `_min`: 99/1 for `SCHED_FIFO`/`SCHED_RR`, 0 for
/// the others.
///
/// # Errors
/// `EINVAL` for an unknown policy.
pub fn sched_priority_bound(policy: u64, max: bool) -> KResult<u64> {
    match policy as u32 as i32 {
        p if p == SCHED_FIFO as i32 || p == SCHED_RR as i32 => {
            Ok(if max { u64::from(MAX_USER_RT_PRIO) } else { 1 })
        }
        p if [SCHED_NORMAL, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE].contains(&(p as u32)) => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// A task that a `sched_*`/`*priority` call names: its attributes and credentials.
#[derive(Debug)]
pub struct SchedTarget<'a> {
    /// Its scheduling attributes.
    pub attrs: &'a mut TaskAttrs,
    /// Its credentials.
    pub cred: &'a TaskCred,
}

/// `check_same_owner()`: the caller's effective uid is the target's real or effective
/// uid.
fn same_owner(caller: &TaskCred, target: &TaskCred) -> bool {
    caller.euid == target.euid || caller.euid == target.uid
}

/// The `sched_*` calls on one task (`kernel/sched/syscalls.c`), run by the caller
/// `caller` on `target` (`None`: `find_process_by_pid()` found none, `ESRCH` at the
/// point Linux looks it up). `nr_cpus` is the machine's harts. `None` for any other
/// call.
/// - `sched_setscheduler(pid, policy, param)`, `sched_setparam(pid, param)`:
///   `EINVAL` for a negative pid or NULL param (before the copy), an unknown policy
///   (`SCHED_DEADLINE` included: it needs `sched_setattr`), or a priority outside 1..=99
///   for `SCHED_FIFO`/`SCHED_RR` or not 0 for the others; `EPERM` for a real-time
///   policy, a policy change or another owner's task without `CAP_SYS_NICE`.
/// - `sched_getscheduler(pid)`: the policy, with `SCHED_RESET_ON_FORK`.
/// - `sched_getparam(pid, param)`: the real-time priority (0 for the others).
/// - `sched_rr_get_interval(pid, tp)`: 100 ms for `SCHED_RR`, 0 for `SCHED_FIFO`, the
///   fair class's slice for one task on a hart (`sched_slice()`) otherwise.
/// - `sched_setaffinity(pid, len, mask)`: the first `min(len, 8)` bytes, and-ed with the
///   machine's harts; `EINVAL` if none is left; `EPERM` for another owner's task without
///   `CAP_SYS_NICE`.
/// - `sched_getaffinity(pid, len, mask)`: `len` must hold every hart and be a multiple
///   of 8 (`EINVAL`, before the look-up); writes 8 bytes, returns 8.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn sched_call(
    caller: &TaskCred,
    target: Option<SchedTarget<'_>>,
    u: &mut dyn UserAccess,
    nr_cpus: usize,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    let pid = a[0] as u32 as i32;
    let online = u64::MAX >> (64 - nr_cpus.clamp(1, 64));
    Some((|| match nr {
        SYS_sched_setscheduler | SYS_sched_setparam => {
            let param = if nr == SYS_sched_setscheduler {
                a[2]
            } else {
                a[1]
            };
            let policy = (nr == SYS_sched_setscheduler).then_some(a[1] as u32 as i32);
            if pid < 0 || param == 0 || policy.is_some_and(|p| p < 0) {
                return Err(Errno::EINVAL);
            }
            let mut prio = [0u8; 4];
            u.copy_from_user(param, &mut prio)?;
            let prio = u32::from_le_bytes(prio);
            let t = target.ok_or(Errno::ESRCH)?;
            setscheduler(caller, t, policy.map(|p| p as u32), prio)
        }
        SYS_sched_getscheduler | SYS_sched_getparam | SYS_sched_rr_get_interval => {
            if pid < 0 || (nr == SYS_sched_getparam && a[1] == 0) {
                return Err(Errno::EINVAL);
            }
            let t = *target.ok_or(Errno::ESRCH)?.attrs;
            match nr {
                SYS_sched_getscheduler => Ok(u64::from(
                    t.policy
                        | if t.reset_on_fork {
                            SCHED_RESET_ON_FORK
                        } else {
                            0
                        },
                )),
                SYS_sched_getparam => {
                    u.copy_to_user(a[1], &t.rt_priority.to_le_bytes())?;
                    Ok(0)
                }
                _ => {
                    let ns = match t.policy {
                        SCHED_RR => RR_TIMESLICE_NS,
                        SCHED_FIFO => 0,
                        _ => crate::kernel::fair_slice_ns(1),
                    };
                    let mut ts = [0u8; 16];
                    ts[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
                    ts[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
                    u.copy_to_user(a[1], &ts)?;
                    Ok(0)
                }
            }
        }
        SYS_sched_setaffinity => {
            // get_user_cpu_mask(): a shorter mask is zero-extended, a longer one cut.
            let mut m = [0u8; 8];
            let len = (a[1].min(8)) as usize;
            u.copy_from_user(a[2], &mut m[..len])?;
            let t = target.ok_or(Errno::ESRCH)?;
            if !same_owner(caller, t.cred) && !caller.capable(CAP_SYS_NICE) {
                return Err(Errno::EPERM);
            }
            let mask = u64::from_le_bytes(m) & online;
            if mask == 0 {
                return Err(Errno::EINVAL);
            }
            t.attrs.cpus_allowed = mask;
            Ok(0)
        }
        SYS_sched_getaffinity => {
            let len = a[1];
            if len.saturating_mul(8) < nr_cpus.clamp(1, 64) as u64 || !len.is_multiple_of(8) {
                return Err(Errno::EINVAL);
            }
            let mask = target.ok_or(Errno::ESRCH)?.attrs.cpus_allowed & online;
            u.put_user_u64(a[2], mask)?;
            Ok(8)
        }
        _ => Err(Errno::ENOSYS),
    })())
    .filter(|r| *r != Err(Errno::ENOSYS))
}

/// `__sched_setscheduler()`'s checks and effect: `policy` `None` keeps the task's
/// (`sched_setparam`).
fn setscheduler(
    caller: &TaskCred,
    t: SchedTarget<'_>,
    policy: Option<u32>,
    prio: u32,
) -> KResult<u64> {
    let reset = policy.map(|p| p & SCHED_RESET_ON_FORK != 0);
    let policy = policy.map_or(t.attrs.policy, |p| p & !SCHED_RESET_ON_FORK);
    let rt = matches!(policy, SCHED_FIFO | SCHED_RR);
    if !matches!(
        policy,
        SCHED_NORMAL | SCHED_FIFO | SCHED_RR | SCHED_BATCH | SCHED_IDLE
    ) {
        return Err(Errno::EINVAL);
    }
    if (rt && !(1..=MAX_USER_RT_PRIO).contains(&prio)) || (!rt && prio != 0) {
        return Err(Errno::EINVAL);
    }
    // Without CAP_SYS_NICE (RLIMIT_RTPRIO is 0): no real-time policy or priority rise,
    // no leaving SCHED_IDLE, no other owner's task, no clearing reset-on-fork.
    if !caller.capable(CAP_SYS_NICE) {
        let raises = rt && (prio > t.attrs.rt_priority || policy != t.attrs.policy);
        let leaves_idle = t.attrs.policy == SCHED_IDLE && policy != SCHED_IDLE;
        let clears_reset = t.attrs.reset_on_fork && reset == Some(false);
        if raises || leaves_idle || clears_reset || !same_owner(caller, t.cred) {
            return Err(Errno::EPERM);
        }
    }
    t.attrs.policy = policy;
    t.attrs.rt_priority = if rt { prio } else { 0 };
    if let Some(r) = reset {
        t.attrs.reset_on_fork = r;
    }
    Ok(0)
}

/// `PRIO_PROCESS`, `PRIO_PGRP`, `PRIO_USER`: `getpriority`/`setpriority`'s `which`.
pub const PRIO_USER: u32 = 2;

/// `getpriority()`'s result over the nice values of the tasks `which`/`who` names:
/// `20 - nice` of the highest-priority one (`nice_to_rlimit()`).
///
/// # Errors
/// `ESRCH` when it names none.
pub fn getpriority(nices: impl Iterator<Item = i32>) -> KResult<u64> {
    nices.map(|n| (20 - n) as u64).max().ok_or(Errno::ESRCH)
}

/// `setpriority()`'s `set_one_prio()` of each named task, in order, with the nice value
/// `niceval` (clamped to -20..=19 by the caller). Returns 0 if one was set and none
/// refused.
///
/// # Errors
/// `ESRCH` when none is named; the last refusal otherwise: `EPERM` for another owner's
/// task, `EACCES` for a lower nice value without `CAP_SYS_NICE` (`RLIMIT_NICE` is 0).
pub fn setpriority<'a>(
    caller: &TaskCred,
    targets: impl Iterator<Item = SchedTarget<'a>>,
    niceval: i32,
) -> KResult<u64> {
    let mut error = Err(Errno::ESRCH);
    for t in targets {
        let cap = caller.capable(CAP_SYS_NICE);
        if !same_owner(caller, t.cred) && !cap {
            error = Err(Errno::EPERM);
        } else if niceval < t.attrs.nice && !cap {
            error = Err(Errno::EACCES);
        } else {
            if error == Err(Errno::ESRCH) {
                error = Ok(0);
            }
            t.attrs.nice = niceval;
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credential calls through [`cred_write_call`]/[`cred_read_call`] on a task's
    /// [`ProcessFs`]: the fs ids the VFS checks follow, and the user buffers are Linux's.
    #[test]
    fn cred_calls_commit_to_the_permission_checks_and_copy_out() {
        use crate::fs::{HostStreams, Vfs, VfsConfig};
        use crate::uaccess::MockUser;
        let vfs = Vfs::new(VfsConfig::default());
        let (streams, _) = HostStreams::capture(Vec::new());
        let mut p = ProcessFs::new(&vfs, &std::sync::Arc::new(streams));
        let base = 0x10000;
        let mut u = MockUser {
            base,
            mem: vec![0; 64],
        };
        // setgroups([7, 3]) then getgroups: sorted; a short list is EINVAL.
        u.mem[..8].copy_from_slice(&[7, 0, 0, 0, 3, 0, 0, 0]);
        let mut a = [2, base, 0, 0, 0, 0];
        assert_eq!(
            cred_write_call(&mut p, 1, &mut u, SYS_setgroups, a),
            Some(Ok(0))
        );
        a[1] = base + 16;
        assert_eq!(cred_read_call(&p, &mut u, SYS_getgroups, a), Some(Ok(2)));
        assert_eq!(&u.mem[16..24], &[3, 0, 0, 0, 7, 0, 0, 0]);
        a[0] = 1;
        assert_eq!(
            cred_read_call(&p, &mut u, SYS_getgroups, a),
            Some(Err(Errno::EINVAL))
        );
        // setresuid(1000, 1000, 1000): the checks now run as uid 1000, and root is gone.
        let ids = [1000, 1000, 1000, 0, 0, 0];
        assert_eq!(
            cred_write_call(&mut p, 1, &mut u, SYS_setresuid, ids),
            Some(Ok(0))
        );
        assert_eq!(p.cred.uid, 1000);
        let resuid = [base + 32, base + 36, base + 40, 0, 0, 0];
        assert_eq!(
            cred_read_call(&p, &mut u, SYS_getresuid, resuid),
            Some(Ok(0))
        );
        assert_eq!(
            &u.mem[32..44],
            &[0xe8, 3, 0, 0, 0xe8, 3, 0, 0, 0xe8, 3, 0, 0]
        );
        let root = [0, 0, 0, 0, 0, 0];
        assert_eq!(
            cred_write_call(&mut p, 1, &mut u, SYS_setuid, root),
            Some(Err(Errno::EPERM))
        );
        // setfsuid returns the old fs uid even when it refuses.
        assert_eq!(
            cred_write_call(&mut p, 1, &mut u, SYS_setfsuid, root),
            Some(Ok(1000))
        );
        assert_eq!(p.cred.uid, 1000);
    }

    #[test]
    fn priority_bounds_are_linuxs() {
        assert_eq!(sched_priority_bound(1, true), Ok(99));
        assert_eq!(sched_priority_bound(2, false), Ok(1));
        assert_eq!(sched_priority_bound(0, true), Ok(0));
        assert_eq!(sched_priority_bound(6, false), Ok(0));
        assert_eq!(sched_priority_bound(4, true), Err(Errno::EINVAL));
        assert_eq!(sched_priority_bound(u64::MAX, true), Err(Errno::EINVAL));
    }

    #[test]
    fn setscheduler_validates_priority_and_needs_cap_sys_nice_for_rt() {
        let root = TaskCred::default();
        let mut a = TaskAttrs::default();
        let cred = TaskCred::default();
        let st = |a: &mut TaskAttrs, c: &TaskCred, p, prio| {
            setscheduler(
                c,
                SchedTarget {
                    attrs: a,
                    cred: &cred,
                },
                p,
                prio,
            )
        };
        assert_eq!(st(&mut a, &root, Some(SCHED_FIFO), 0), Err(Errno::EINVAL));
        assert_eq!(st(&mut a, &root, Some(SCHED_NORMAL), 5), Err(Errno::EINVAL));
        assert_eq!(
            st(&mut a, &root, Some(SCHED_RR | SCHED_RESET_ON_FORK), 50),
            Ok(0)
        );
        assert_eq!(
            (a.policy, a.rt_priority, a.reset_on_fork),
            (SCHED_RR, 50, true)
        );
        let child = a.fork();
        assert_eq!((child.policy, child.rt_priority), (SCHED_NORMAL, 0));
        let user = root
            .setresuid(0, 1000, 0)
            .unwrap()
            .setresuid(1000, 1000, 1000)
            .unwrap();
        let mut b = TaskAttrs::default();
        assert_eq!(st(&mut b, &user, Some(SCHED_FIFO), 1), Err(Errno::EPERM));
    }

    #[test]
    fn setpriority_refuses_lowering_nice_without_cap_and_reports_the_best() {
        let user = TaskCred::default().setresuid(1000, 1000, 1000).unwrap();
        let mut b = TaskAttrs {
            nice: 5,
            ..TaskAttrs::default()
        };
        let tgt = SchedTarget {
            attrs: &mut b,
            cred: &user,
        };
        assert_eq!(
            setpriority(&user, std::iter::once(tgt), 0),
            Err(Errno::EACCES)
        );
        let tgt = SchedTarget {
            attrs: &mut b,
            cred: &user,
        };
        assert_eq!(setpriority(&user, std::iter::once(tgt), 10), Ok(0));
        assert_eq!(b.nice, 10);
        assert_eq!(
            setpriority(&user, std::iter::empty(), 10),
            Err(Errno::ESRCH)
        );
        assert_eq!(getpriority([10, -3, 0].into_iter()), Ok(23));
        assert_eq!(getpriority(std::iter::empty()), Err(Errno::ESRCH));
    }
}
