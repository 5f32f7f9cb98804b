//! `rt_sigqueueinfo(pid, sig, info)` and `rt_tgsigqueueinfo(tgid, tid, sig, info)`
//! (`kernel/signal.c`): a signal with the caller's own `siginfo_t`, to a process or to
//! one thread.
//!
//! The queued [`SigInfo`] keeps `si_signo` (set to `sig`), `si_code`, `si_pid`/`si_uid`
//! and the low 32 bits of `si_value` (`si_int`, where [`SigInfo::to_bytes`] puts
//! `si_status`); the high half of a `si_ptr` is not carried.

use emu::Hart;

use super::Kernel;
use crate::errno::{Errno, KResult};
use crate::mm::MmStruct;
use crate::process::TaskState;
use crate::signal::{self, SigInfo, SI_TKILL};
use crate::syscall::nr;
use crate::uaccess::UserAccess;

impl Kernel<'_> {
    /// `rt_sigqueueinfo` / `rt_tgsigqueueinfo` (call `n`, arguments `a`) of task `tid`.
    /// The `siginfo_t` is read first (`__copy_siginfo_from_user()`); a `si_code` of 0 or
    /// more (the kernel's own) or `SI_TKILL` may only name the caller itself
    /// (`task_pid_vnr(current)`, its thread id); then the target is looked up, then the
    /// signal checked (signal 0 only checks).
    ///
    /// # Errors
    /// `EFAULT`; `EINVAL` for a non-positive tgid or tid (`rt_tgsigqueueinfo`) or an
    /// invalid signal; `EPERM` as above; `ESRCH` for a target that does not exist (or a
    /// thread outside `tgid`).
    pub(super) fn sys_sigqueueinfo(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<u64> {
        let tg = n == nr::SYS_rt_tgsigqueueinfo;
        let (tgid, pid, sig, uinfo) = if tg {
            (Some(a[0] as u32 as i32), a[1] as u32 as i32, a[2], a[3])
        } else {
            (None, a[0] as u32 as i32, a[1], a[2])
        };
        let sig = sig as u32 as i32 as i64 as u64;
        let mm = self
            .tasks
            .get(&tid)
            .and_then(|t| t.mm.clone())
            .ok_or(Errno::ESRCH)?;
        let mut raw = [0u8; 32];
        let mut user: &MmStruct = &mm;
        user.copy_from_user(uinfo, &mut raw)?;
        let word = |o: usize| u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
        let code = word(8) as i32;
        if tg && (pid <= 0 || tgid.is_some_and(|g| g <= 0)) {
            return Err(Errno::EINVAL);
        }
        if (code >= 0 || code == SI_TKILL) && pid as u32 != tid {
            return Err(Errno::EPERM);
        }
        let live = |k: &Self, t: u32| {
            k.tasks
                .get(&t)
                .is_some_and(|task| !matches!(task.state(), TaskState::Zombie(_)))
        };
        let target = u32::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .ok_or(Errno::ESRCH)?;
        let group = self.group_of(target).ok_or(Errno::ESRCH)?;
        if tg && (!live(self, target) || tgid.is_some_and(|g| g as u32 != group)) {
            return Err(Errno::ESRCH);
        }
        if !signal::valid_signal(sig) {
            return Err(Errno::EINVAL);
        }
        if sig != 0 {
            let info = SigInfo {
                signo: sig as u8,
                code,
                addr: u64::from(word(16)) | (u64::from(word(20)) << 32),
                status: word(24) as i32,
            };
            self.send_signal(hart, group, tg.then_some(target), info);
        }
        Ok(0)
    }
}
