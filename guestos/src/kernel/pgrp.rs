//! Process groups and sessions (`kernel/sys.c`): `setpgid`, `getpgid`, `setsid`,
//! `getsid`, and who is whose parent when a thread exits (`kernel/exit.c`
//! `forget_original_parent()`: a live thread of the group, else the nearest
//! `PR_SET_CHILD_SUBREAPER` ancestor, else init; `PR_SET_PDEATHSIG` signals).
//!
//! A process's group and session are its `signal_struct`'s ([`crate::process::SignalInner`]
//! `pgrp`, `session`, `leader`); a process group "exists" while any process (zombies
//! included, as their pids stay attached until `release_task()`) has that id as its
//! `pgrp`, which is what `pid_task(pgrp, PIDTYPE_PGID)` asks.

use emu::Hart;

use super::{Kernel, INIT_PID};
use crate::errno::{Errno, KResult};
use crate::process::TaskState;
use crate::signal::{SigInfo, SIGCHLD, SI_USER};
use crate::syscall::nr;

impl Kernel<'_> {
    /// `setpgid(pid, pgid)`, `getpgid(pid)`, `setsid()`, `getsid(pid)` by task `tid`;
    /// `pid` and `pgid` are `pid_t`s.
    ///
    /// # Errors
    /// As [`Kernel::sys_setpgid`], [`Kernel::sys_setsid`]; `getpgid`/`getsid`: `ESRCH`
    /// when `pid` (0: the caller) names no task (`find_task_by_vpid()`: any thread,
    /// a zombie included).
    pub(super) fn sys_pgrp_call(&mut self, tid: u32, n: u64, a: [u64; 6]) -> KResult<u64> {
        let pid = a[0] as u32 as i32;
        match n {
            nr::SYS_setpgid => self.sys_setpgid(tid, pid, a[1] as u32 as i32),
            nr::SYS_setsid => self.sys_setsid(tid),
            _ => {
                let who = if pid == 0 { tid } else { pid as u32 };
                // A negative pid finds no task.
                let task = self.tasks.get(&who).filter(|_| pid >= 0);
                let g = task.ok_or(Errno::ESRCH)?.signal.lock();
                Ok(u64::from(if n == nr::SYS_getsid {
                    g.session
                } else {
                    g.pgrp
                }))
            }
        }
    }

    /// `setpgid(pid, pgid)` (`kernel/sys.c`): process `pid` (0: the caller's) joins
    /// process group `pgid` (0: `pid`'s own id), which must exist in the caller's
    /// session unless it is the new group `pid`. Returns 0.
    ///
    /// # Errors
    /// `EINVAL` for `pgid < 0` or a `pid` that is not a group leader; `ESRCH` if `pid`
    /// is neither the caller nor a child of the caller's process; `EPERM` for a child in
    /// another session, a session leader, or a `pgid` with no group in the caller's
    /// session; `EACCES` for a child that has called `execve`.
    fn sys_setpgid(&mut self, tid: u32, pid: i32, pgid: i32) -> KResult<u64> {
        let me = self.group_of(tid).ok_or(Errno::ESRCH)?;
        let pid = if pid == 0 { me as i32 } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        // find_task_by_vpid(): a negative pid finds nothing.
        let p = u32::try_from(pid)
            .ok()
            .and_then(|p| self.tasks.get(&p))
            .ok_or(Errno::ESRCH)?;
        if p.tid != p.tgid {
            return Err(Errno::EINVAL);
        }
        let my_session = self.tasks.get(&me).ok_or(Errno::ESRCH)?.signal.session();
        let (p_parent, p_session, p_leader) = {
            let g = p.signal.lock();
            (g.ppid, g.session, g.leader)
        };
        if p_parent == me && p.tgid != me {
            if p_session != my_session {
                return Err(Errno::EPERM);
            }
            if !p.forknoexec {
                return Err(Errno::EACCES);
            }
        } else if p.tgid != me {
            return Err(Errno::ESRCH);
        }
        if p_leader {
            return Err(Errno::EPERM);
        }
        let pgid = pgid as u32;
        if pgid != pid as u32 {
            // pid_task(find_vpid(pgid), PIDTYPE_PGID): a process of that group, in the
            // caller's session.
            let g = self
                .tasks
                .values()
                .find(|t| t.tid == t.tgid && t.signal.pgrp() == pgid)
                .map(|t| t.signal.session());
            if g != Some(my_session) {
                return Err(Errno::EPERM);
            }
        }
        p.signal.lock().pgrp = pgid;
        Ok(0)
    }

    /// `setsid()` (`ksys_setsid()`): the caller's process leads a new session and a new
    /// process group, both its pid. Returns the new session id.
    ///
    /// # Errors
    /// `EPERM` if it already leads a session, or a process group with its pid exists
    /// (it leads its process group, or another process is in a group of that id).
    fn sys_setsid(&mut self, tid: u32) -> KResult<u64> {
        let me = self.group_of(tid).ok_or(Errno::ESRCH)?;
        let leader = self.tasks.get(&me).ok_or(Errno::ESRCH)?;
        if leader.signal.lock().leader || self.pgrp_members(me).next().is_some() {
            return Err(Errno::EPERM);
        }
        let mut g = leader.signal.lock();
        g.leader = true;
        g.pgrp = me;
        g.session = me;
        Ok(u64::from(me))
    }

    /// The process group of task `tid`'s process.
    ///
    /// # Errors
    /// `ESRCH` if there is no such task.
    pub(super) fn pgrp_of(&self, tid: u32) -> KResult<u32> {
        Ok(self.tasks.get(&tid).ok_or(Errno::ESRCH)?.signal.pgrp())
    }

    /// The processes (group leaders' tgids, zombies included) of process group `pgrp`
    /// (`do_each_pid_task(pgrp, PIDTYPE_PGID, p)`).
    pub(super) fn pgrp_members(&self, pgrp: u32) -> impl Iterator<Item = u32> + '_ {
        self.tasks
            .values()
            .filter(move |t| t.tid == t.tgid && t.signal.pgrp() == pgrp)
            .map(|t| t.tgid)
    }

    /// `find_alive_thread()`: a live thread of process `tgid` other than `but`.
    fn find_alive_thread(&self, tgid: u32, but: u32) -> Option<u32> {
        let leader = self.tasks.get(&tgid)?;
        if leader.signal.group_exit().is_some() {
            return None;
        }
        let threads = leader.signal.threads();
        threads.into_iter().find(|&t| {
            t != but
                && self
                    .tasks
                    .get(&t)
                    .is_some_and(|t| !matches!(t.state(), TaskState::Zombie(_)))
        })
    }

    /// `find_new_reaper()` for the children of thread `father` (of process `tgid`): a
    /// live thread of its own process; else the nearest ancestor process that is a
    /// child subreaper and has a live thread; else init. Returns `(tgid, tid)`.
    fn find_new_reaper(&self, tgid: u32, father: u32) -> (u32, u32) {
        if let Some(t) = self.find_alive_thread(tgid, father) {
            return (tgid, t);
        }
        let mut up = self.tasks.get(&tgid).map_or(0, |t| t.signal.ppid());
        // Up the chain of parents, which ends at init (or a process without a parent):
        // never more steps than there are tasks.
        for _ in 0..self.tasks.len() {
            if up == 0 || up == INIT_PID {
                break;
            }
            let Some(p) = self.tasks.get(&up) else {
                break;
            };
            if p.signal.lock().is_child_subreaper {
                if let Some(t) = self.find_alive_thread(up, 0) {
                    return (up, t);
                }
            }
            up = p.signal.ppid();
        }
        let init = self.find_alive_thread(INIT_PID, 0).unwrap_or(INIT_PID);
        (INIT_PID, init)
    }

    /// `forget_original_parent()`: thread `father` exits; each child process it is the
    /// `real_parent` of goes to [`Kernel::find_new_reaper`]'s reaper, every thread of the
    /// child with a `pdeath_signal` has it sent to its process, and a child handed to
    /// another process (`reparent_leader()`) gets SIGCHLD as its exit signal, its new
    /// parent being notified at once if it is already a zombie (`do_notify_parent()`).
    pub(super) fn forget_original_parent(&mut self, hart: &mut Hart<'_>, father: u32) {
        let Some(tgid) = self.group_of(father) else {
            return;
        };
        // The last thread takes every child of the process with it, whichever thread
        // was its real_parent.
        let last = self.find_alive_thread(tgid, father).is_none();
        let children: Vec<u32> = self
            .tasks
            .values()
            .filter(|c| {
                c.tid == c.tgid && c.tgid != tgid && {
                    let g = c.signal.lock();
                    g.ppid == tgid && (g.real_parent == father || last)
                }
            })
            .map(|c| c.tgid)
            .collect();
        if children.is_empty() {
            return;
        }
        let (reaper_tgid, reaper) = self.find_new_reaper(tgid, father);
        for child in children {
            let deaths: Vec<u8> = self
                .tasks
                .values()
                .filter(|t| t.tgid == child && t.pdeath_signal != 0)
                .map(|t| t.pdeath_signal)
                .collect();
            let Some(c) = self.tasks.get_mut(&child) else {
                continue;
            };
            c.signal.set_parent(reaper_tgid, reaper);
            let zombie = c.signal.group_exit();
            if reaper_tgid != tgid {
                c.exit_signal = SIGCHLD;
            }
            for sig in deaths {
                // group_send_sig_info(t->pdeath_signal, SEND_SIG_NOINFO, ...).
                let info = SigInfo {
                    signo: sig,
                    code: SI_USER,
                    addr: 0,
                    status: 0,
                };
                self.send_signal(hart, child, None, info);
            }
            if reaper_tgid != tgid {
                if let Some(status) = zombie {
                    self.notify_parent(child, status);
                }
            }
        }
    }
}
