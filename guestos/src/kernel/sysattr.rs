//! The scheduling-attribute calls that name other tasks by id, served with the task
//! table: `sched_setscheduler`, `sched_setparam`, `sched_getscheduler`,
//! `sched_getparam`, `sched_rr_get_interval`, `sched_setaffinity`, `sched_getaffinity`
//! (`find_process_by_pid()`: 0 is the caller, any thread or zombie is found), and
//! `getpriority`/`setpriority` over a task, a process group or a user
//! (`kernel/sys.c`'s `PRIO_PROCESS`/`PRIO_PGRP`/`PRIO_USER`). The rules are
//! [`crate::syscall::sys`]'s; what the scheduler does with the values is said there.

use super::Kernel;
use crate::errno::{Errno, KResult};
use crate::mm::MmStruct;
use crate::syscall::nr;
use crate::syscall::sys::{self, SchedTarget, PRIO_USER};

/// `sched_slice()` of the fair class for a task sharing a hart with `nr_running - 1`
/// others, in ns (`sched_rr_get_interval()` of a `SCHED_NORMAL` task).
pub(crate) fn fair_slice_ns(nr_running: usize) -> u64 {
    super::sched::CfsRq::slice_ns(nr_running)
}

impl Kernel<'_> {
    /// The `sched_*` calls and `getpriority`/`setpriority` (call `n`, arguments `a`) of
    /// task `tid`.
    ///
    /// # Errors
    /// As [`sys::sched_call`], [`sys::getpriority`], [`sys::setpriority`]; `EINVAL` for
    /// an unknown `which`; `ESRCH` for a caller that is gone.
    pub(super) fn sys_sched_attr_call(&mut self, tid: u32, n: u64, a: [u64; 6]) -> KResult<u64> {
        let caller = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let cred = caller.fs.ids.clone();
        let mm = caller.mm.clone().ok_or(Errno::ESRCH)?;
        let nr_cpus = caller.nr_cpus;
        let pgrp = caller.signal.lock().pgrp;
        let mut user: &MmStruct = &mm;
        if n == nr::SYS_getpriority || n == nr::SYS_setpriority {
            let (which, who) = (a[0] as u32, a[1] as u32);
            if which > PRIO_USER {
                return Err(Errno::EINVAL);
            }
            // PRIO_PROCESS: one task; PRIO_PGRP: every thread of the group's processes;
            // PRIO_USER: every task of the real uid. `who` 0 is the caller's.
            let who = match (which, who) {
                (0, 0) => tid,
                (1, 0) => pgrp,
                (2, 0) => cred.uid,
                (_, w) => w,
            };
            let named = self.tasks.iter_mut().filter(|(&t, task)| match which {
                0 => t == who,
                1 => task.signal.lock().pgrp == who,
                _ => task.fs.ids.uid == who,
            });
            let targets = named.map(|(_, t)| SchedTarget {
                attrs: &mut t.attrs,
                cred: &t.fs.ids,
            });
            return if n == nr::SYS_getpriority {
                sys::getpriority(targets.map(|t| t.attrs.nice))
            } else {
                let nice = (a[2] as u32 as i32).clamp(-20, 19);
                sys::setpriority(&cred, targets, nice)
            };
        }
        let pid = a[0] as u32 as i32;
        let target_tid = if pid == 0 { tid } else { pid as u32 };
        let target = self
            .tasks
            .get_mut(&target_tid)
            .filter(|_| pid >= 0)
            .map(|t| SchedTarget {
                attrs: &mut t.attrs,
                cred: &t.fs.ids,
            });
        sys::sched_call(&cred, target, &mut user, nr_cpus, n, a).unwrap_or(Err(Errno::ENOSYS))
    }
}
