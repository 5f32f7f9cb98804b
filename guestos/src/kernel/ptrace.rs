//! ptrace under the kernel lock (`kernel/ptrace.c`, `kernel/signal.c`'s
//! `ptrace_stop()`/`ptrace_signal()`, `kernel/exit.c`'s `wait_task_stopped()` and
//! `exit_ptrace()`): the `ptrace` system call and the points where a tracee stops.
//!
//! A tracee stops (`TASK_TRACED`) only on its way back to user mode, at
//! [`Kernel::ptrace_exit_to_user`] (called first by `deliver_pending`): the stops it
//! owes are queued in its [`PtraceState::reports`] by whatever caused them — a
//! syscall-entry stop by [`Kernel::ptrace_syscall_entry`] (the call does not run; the
//! task is left at its `ecall` and runs the call when it re-executes it after the
//! resume, the kernel's restart), an event by `clone`/`execve`, a syscall-exit stop
//! when the pc has moved past the `ecall` whose entry was reported — or it stops for a
//! signal it dequeues ([`Kernel::ptrace_signal`]). A stopped tracee is blocked on
//! [`WaitOn::Traced`]: its registers are saved in its task, it holds no hart and is on
//! no run queue; the tracer's requests read and write that saved state, and a resume
//! makes it runnable again. Its tracer is told through `wait4`/`waitid`
//! ([`Kernel::ptrace_wait_stopped`]) and `SIGCHLD` (`CLD_TRAPPED`).
//!
//! A signal or `PTRACE_INTERRUPT` that finds a tracee asleep in a call this kernel
//! re-issues leaves the call to be restarted after the stop, unless a handler runs
//! first ([`Kernel::ptrace_restart_sleep`]): the tracer's suppression of the signal
//! restarts it, as Linux's `-ERESTARTSYS` does.
//!
//! Departures from Linux, each for a reason written where it is made: a tracee asleep
//! in a futex wait or a `nanosleep` (completed by their wakers here, not re-issued)
//! returns `EINTR` to a signal, and a `PTRACE_INTERRUPT` stops it when its call ends;
//! with a handler, an interrupted call returns `EINTR` even under `SA_RESTART`, as for
//! any task here;
//! `PTRACE_ATTACH`/`SEIZE` of init is `EPERM` (the run's first process is its
//! container's init: stopping it stops the run); only the thread-group leader's exit
//! is reported to a tracer.

use emu::Hart;

use super::{wait, Kernel, WaitPid, INIT_PID};
use crate::errno::{Errno, KResult};
use crate::mm::{FollFlags, MmUsers};
use crate::process::{TaskState, WaitOn};
use crate::ptrace::*;
use crate::signal::{self, SigInfo, SIGCHLD, SIGKILL, SIGSTOP, SIGTRAP, SI_KERNEL, SI_USER};

/// `CLD_TRAPPED`: `si_code` of the tracer's SIGCHLD for a ptrace stop.
const CLD_TRAPPED: i32 = 4;

impl Kernel<'_> {
    /// Whether task `tid` is traced.
    pub(super) fn ptraced(&self, tid: u32) -> bool {
        self.tasks.get(&tid).is_some_and(|t| t.ptrace.is_traced())
    }

    /// `ptrace(request, pid, addr, data)` by task `tid` (`SYSCALL_DEFINE4(ptrace)`,
    /// `arch_ptrace()`, `ptrace_request()`). `PEEKTEXT`/`PEEKDATA` store the word at
    /// `*data` and return 0, as the system call does (glibc's wrapper returns the word).
    ///
    /// # Errors
    /// `ESRCH`: no task `pid`, or not traced by the caller, or (but for `KILL` and
    /// `INTERRUPT`) not stopped. `EPERM`: `TRACEME` when traced, `ATTACH`/`SEIZE` of
    /// the caller's own thread group, of init, of a zombie or a traced task. `EIO`: an
    /// unknown request, a bad signal to resume with, a `PEEK`/`POKE` the tracee's memory
    /// refuses, `SEIZE` with `addr` or unknown options, `INTERRUPT` of a task not seized,
    /// a tag transfer that moved nothing because of the tracee's memory. `EINVAL`:
    /// unknown options to `SETOPTIONS`, an unknown regset or an `iov_len` not a
    /// multiple of 8 (`ptrace_regset()`), `GETSIGINFO` without a stop's siginfo.
    /// `EFAULT`: the caller's buffer.
    pub(super) fn sys_ptrace(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        a: [u64; 6],
    ) -> KResult<u64> {
        let (request, pid, addr, data) = (a[0], a[1] as i64, a[2], a[3]);
        if request == PTRACE_TRACEME {
            return self.ptrace_traceme(tid);
        }
        let child = u32::try_from(pid)
            .ok()
            .filter(|&p| p > 0 && self.tasks.contains_key(&p))
            .ok_or(Errno::ESRCH)?;
        if request == PTRACE_ATTACH || request == PTRACE_SEIZE {
            return self.ptrace_attach(hart, tid, child, request == PTRACE_SEIZE, addr, data);
        }
        self.ptrace_check_attach(
            tid,
            child,
            request == PTRACE_KILL || request == PTRACE_INTERRUPT,
        )?;
        let caller_mm = self
            .tasks
            .get(&tid)
            .and_then(|t| t.mm.clone())
            .ok_or(Errno::ESRCH)?;
        let mut user = caller_mm.uaccess();
        match request {
            PTRACE_PEEKTEXT | PTRACE_PEEKDATA => {
                let mut word = [0u8; 8];
                if self.access_process_vm(child, addr, &mut word, FollFlags::FORCE) != 8 {
                    return Err(Errno::EIO);
                }
                crate::uaccess::UserAccess::copy_to_user(&mut user, data, &word)?;
                Ok(0)
            }
            PTRACE_POKETEXT | PTRACE_POKEDATA => {
                let mut word = data.to_le_bytes();
                let flags = FollFlags::FORCE | FollFlags::WRITE;
                match self.access_process_vm(child, addr, &mut word, flags) {
                    8 => Ok(0),
                    _ => Err(Errno::EIO),
                }
            }
            PTRACE_CONT | PTRACE_SYSCALL => {
                let sig = resume_signal(data)?;
                if let Some(t) = self.tasks.get_mut(&child) {
                    t.ptrace.syscall_trace = request == PTRACE_SYSCALL;
                }
                self.ptrace_resume(child, sig);
                Ok(0)
            }
            PTRACE_DETACH => {
                let sig = resume_signal(data)?;
                self.ptrace_resume(child, sig);
                self.ptrace_unlink(child);
                Ok(0)
            }
            PTRACE_KILL => {
                let live = self
                    .tasks
                    .get(&child)
                    .is_some_and(|t| !matches!(t.state(), TaskState::Zombie(_)));
                if let (true, Some(tgid)) = (live, self.group_of(child)) {
                    let info = siginfo(SIGKILL, SI_USER);
                    self.send_signal(hart, tgid, Some(child), info);
                }
                Ok(0)
            }
            PTRACE_INTERRUPT => self.ptrace_interrupt(child),
            PTRACE_SETOPTIONS => {
                let opts = u32::try_from(data)
                    .ok()
                    .filter(|o| o & !PTRACE_O_MASK == 0)
                    .ok_or(Errno::EINVAL)?;
                if let Some(t) = self.tasks.get_mut(&child) {
                    t.ptrace.options = opts;
                }
                Ok(0)
            }
            PTRACE_GETEVENTMSG => {
                let msg = self.tasks.get(&child).map_or(0, |t| t.ptrace.event_msg);
                crate::uaccess::UserAccess::put_user_u64(&mut user, data, msg)?;
                Ok(0)
            }
            PTRACE_GETSIGINFO => {
                let info = self
                    .tasks
                    .get(&child)
                    .and_then(|t| t.ptrace.last_siginfo)
                    .ok_or(Errno::EINVAL)?;
                crate::uaccess::UserAccess::copy_to_user(&mut user, data, &info.to_bytes())?;
                Ok(0)
            }
            PTRACE_SETSIGINFO => {
                // ptrace_setsiginfo(): the stop's siginfo, as delivered if the tracer
                // resumes with its signal.
                let mut b = [0u8; 128];
                crate::uaccess::UserAccess::copy_from_user(&mut user, data, &mut b)?;
                let t = self.tasks.get_mut(&child).ok_or(Errno::ESRCH)?;
                if t.ptrace.last_siginfo.is_none() {
                    return Err(Errno::EINVAL);
                }
                // One whose si_signo is no signal cannot be held here: the old one stays.
                t.ptrace.last_siginfo = SigInfo::from_bytes(&b).or(t.ptrace.last_siginfo);
                Ok(0)
            }
            PTRACE_GETSIGMASK | PTRACE_SETSIGMASK => {
                if addr != 8 {
                    return Err(Errno::EINVAL);
                }
                let t = self.tasks.get(&child).ok_or(Errno::ESRCH)?;
                if request == PTRACE_GETSIGMASK {
                    let mask = t.signals.blocked.get();
                    crate::uaccess::UserAccess::put_user_u64(&mut user, data, mask)?;
                } else {
                    let mut b = [0u8; 8];
                    crate::uaccess::UserAccess::copy_from_user(&mut user, data, &mut b)?;
                    let never = signal::sigmask(SIGKILL) | signal::sigmask(SIGSTOP);
                    t.signals.blocked.set(u64::from_le_bytes(b) & !never);
                }
                Ok(0)
            }
            PTRACE_GET_SYSCALL_INFO => {
                let t = self.tasks.get(&child).ok_or(Errno::ESRCH)?;
                let mut regs = t.run().ctx.clone();
                let op = match &t.ptrace.stop {
                    Some((r, _)) if r.kind == StopKind::Syscall => {
                        if t.ptrace.syscall_entry == Some(regs.pc) {
                            // At its entry stop the task is still at its ecall; Linux's
                            // pc is past it (the regset shows it so too).
                            regs.pc = regs.pc.wrapping_add(4);
                            SyscallInfoOp::Entry
                        } else {
                            SyscallInfoOp::Exit
                        }
                    }
                    _ => SyscallInfoOp::None,
                };
                let (b, size) = syscall_info(op, &regs);
                let n = (addr as usize).min(size);
                crate::uaccess::UserAccess::copy_to_user(&mut user, data, &b[..n])?;
                Ok(size as u64)
            }
            PTRACE_GETREGSET | PTRACE_SETREGSET => {
                self.ptrace_regset(child, request == PTRACE_SETREGSET, addr, data, &caller_mm)
            }
            PTRACE_PEEKMTETAGS | PTRACE_POKEMTETAGS => {
                // mte_ptrace_copy_tags(): the iovec from the tracer, the walk, the new
                // iov_len back to it.
                let iov = Iovec::read(&mut user, data)?;
                let target = self.tracee_mm(child).ok_or(Errno::EIO)?;
                let access = match request {
                    PTRACE_PEEKMTETAGS => TagAccess::Peek,
                    _ => TagAccess::Poke,
                };
                let moved = access_remote_tags(&caller_mm, &target, addr, iov, access)?;
                crate::uaccess::UserAccess::put_user_u64(&mut user, data.wrapping_add(8), moved)?;
                Ok(0)
            }
            _ => Err(Errno::EIO),
        }
    }

    /// `ptrace_traceme()`: task `tid` is traced by its parent thread (`real_parent`).
    ///
    /// # Errors
    /// `EPERM` if it is traced already or has no parent.
    fn ptrace_traceme(&mut self, tid: u32) -> KResult<u64> {
        let t = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let parent = t.signal.real_parent();
        if t.ptrace.is_traced() || parent == 0 || !self.tasks.contains_key(&parent) {
            return Err(Errno::EPERM);
        }
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.ptrace = PtraceState::attach(parent, false, 0);
        }
        Ok(0)
    }

    /// `ptrace_attach()`: task `tracer` traces `child`; `PTRACE_SEIZE` (`seize`) with
    /// options `data` and no stop, `PTRACE_ATTACH` with a `SIGSTOP` sent to it
    /// (`send_sig_info(SIGSTOP, SEND_SIG_PRIV)`).
    fn ptrace_attach(
        &mut self,
        hart: &mut Hart<'_>,
        tracer: u32,
        child: u32,
        seize: bool,
        addr: u64,
        data: u64,
    ) -> KResult<u64> {
        let options = if seize {
            u32::try_from(data)
                .ok()
                .filter(|o| addr == 0 && o & !PTRACE_O_MASK == 0)
                .ok_or(Errno::EIO)?
        } else {
            0
        };
        let tgid = self.group_of(child).ok_or(Errno::ESRCH)?;
        let t = self.tasks.get(&child).ok_or(Errno::ESRCH)?;
        if Some(tgid) == self.group_of(tracer)
            || tgid == INIT_PID
            || matches!(t.state(), TaskState::Zombie(_))
            || t.ptrace.is_traced()
        {
            return Err(Errno::EPERM);
        }
        if let Some(t) = self.tasks.get_mut(&child) {
            t.ptrace = PtraceState::attach(tracer, seize, options);
        }
        // A tracee's calls go through the kernel lock, which takes its stops: it is no
        // longer switched in without it.
        self.unstash(hart, child);
        if !seize {
            let info = siginfo(SIGSTOP, SI_KERNEL);
            self.send_signal(hart, tgid, Some(child), info);
        }
        Ok(0)
    }

    /// `ptrace_check_attach()`: `child` is traced by task `tracer` and, unless
    /// `ignore_state`, stopped.
    ///
    /// # Errors
    /// `ESRCH` otherwise.
    fn ptrace_check_attach(&self, tracer: u32, child: u32, ignore_state: bool) -> KResult<()> {
        let t = self.tasks.get(&child).ok_or(Errno::ESRCH)?;
        let stopped = t.ptrace.is_stopped() && t.state() == TaskState::Blocked(WaitOn::Traced);
        if t.ptrace.tracer == Some(tracer) && (ignore_state || stopped) {
            Ok(())
        } else {
            Err(Errno::ESRCH)
        }
    }

    /// `ptrace_resume()`'s wake-up of stopped tracee `child` with signal `sig` (0:
    /// none): at a signal-delivery-stop `sig` is the signal delivered (the stopped one
    /// with its siginfo, or a new `SI_USER` one from the tracer, `ptrace_signal()`); at
    /// a syscall stop it is sent to the tracee (`send_sig()`); at an event stop it is
    /// ignored. Nothing happens to a task not stopped.
    fn ptrace_resume(&mut self, child: u32, sig: u8) {
        let tracer_pid = self
            .tasks
            .get(&child)
            .and_then(|t| t.ptrace.tracer)
            .and_then(|tr| self.group_of(tr))
            .unwrap_or(0);
        let Some(t) = self.tasks.get_mut(&child) else {
            return;
        };
        let Some((report, _)) = t.ptrace.stop.take() else {
            return;
        };
        if sig != 0 {
            match report.kind {
                StopKind::Signal => {
                    let info = match t.ptrace.last_siginfo {
                        Some(i) if i.signo == sig => i,
                        _ => SigInfo {
                            signo: sig,
                            code: SI_USER,
                            addr: u64::from(tracer_pid),
                            status: 0,
                        },
                    };
                    t.ptrace.inject = Some(info);
                }
                StopKind::Syscall => t.pending.push(siginfo(sig, SI_KERNEL)),
                StopKind::Event => {}
            }
        }
        self.try_to_wake_up(child);
    }

    /// `__ptrace_unlink()`: `child` is traced no more (what it owes its tracer is
    /// dropped; a signal the tracer chose to deliver still is).
    fn ptrace_unlink(&mut self, child: u32) {
        if let Some(t) = self.tasks.get_mut(&child) {
            let inject = t.ptrace.inject.take();
            t.ptrace = PtraceState {
                inject,
                ..PtraceState::default()
            };
        }
    }

    /// `PTRACE_INTERRUPT` of seized `child`: a `PTRACE_EVENT_STOP` (`SIGTRAP`) on its
    /// way back to user mode (`JOBCTL_TRAP_STOP`), after the stop it is in if any; a
    /// tracee running on another hart is kicked to it; one asleep in a call that this
    /// kernel re-issues (`wait4`, a pipe or poll, `pause`) is woken and its call
    /// restarted after the stop, as Linux's `-ERESTARTSYS`. One in a futex wait or a
    /// `nanosleep` (completed, not re-issued, here) stops when its call ends.
    ///
    /// # Errors
    /// `EIO` if `child` was not seized.
    fn ptrace_interrupt(&mut self, child: u32) -> KResult<u64> {
        let t = self.tasks.get_mut(&child).ok_or(Errno::ESRCH)?;
        if !t.ptrace.seized {
            return Err(Errno::EIO);
        }
        let report = PtraceReport::event(PTRACE_EVENT_STOP, child);
        if !t.ptrace.reports.contains(&report) {
            t.ptrace.reports.push_back(report);
        }
        let state = t.state();
        let this = self.this;
        if let Some(h) = self.on_hart.find(child, this) {
            self.smp.kick(h);
        }
        if let TaskState::Blocked(on) = state {
            self.ptrace_wake_for_stop(child, on);
        }
        Ok(0)
    }

    /// `signal_wake_up()` of tracee `tid` asleep on `on` with a stop owed (a
    /// `PTRACE_INTERRUPT`, also one that came while it was on its way to sleep, as
    /// `signal_pending()` keeps Linux's interruptible sleep from sleeping): a sleep whose
    /// call this kernel re-issues (`wait4`, a pipe or poll, `pause`/`sigsuspend`) ends
    /// now, the call restarted after the stop. Others are left asleep.
    pub(super) fn ptrace_wake_for_stop(&mut self, tid: u32, on: WaitOn) {
        let owed = self
            .tasks
            .get(&tid)
            .is_some_and(|t| !t.ptrace.reports.is_empty());
        if owed {
            self.ptrace_restart_sleep(tid, on);
        }
    }

    /// Traced task `tid`, asleep on `on`, must stop (a signal for its tracer, an
    /// `INTERRUPT`): a call this kernel re-issues (`wait4`, a pipe or poll sleep,
    /// `pause`/`sigsuspend`) that has moved nothing yet leaves its sleep with its pc
    /// still at the `ecall` (its deadline, if any, kept with the call), to be restarted
    /// after the stop — Linux's `-ERESTARTSYS`/`-ERESTARTNOHAND`, which the
    /// tracer's suppression of the signal turns into a restart. A handler that runs
    /// first makes it return `EINTR` instead ([`Kernel::ptrace_handler_interrupts`]).
    /// Returns whether it was (otherwise the call is interrupted as for any task).
    pub(super) fn ptrace_restart_sleep(&mut self, tid: u32, on: WaitOn) -> bool {
        let restartable = matches!(on, WaitOn::Child | WaitOn::Io | WaitOn::Signal)
            && self.interrupted_return(tid) == Errno::EINTR.as_return();
        let Some(t) = self.tasks.get_mut(&tid).filter(|t| t.ptrace.is_traced()) else {
            return false;
        };
        if !restartable {
            return false;
        }
        t.ptrace.restart = true;
        self.io_wait_end(tid, true);
        self.timer_cancel(tid);
        self.try_to_wake_up(tid);
        true
    }

    /// A handler is about to run for task `tid` (live in this hart): a call left to be
    /// restarted ([`Kernel::ptrace_restart_sleep`]) returns `EINTR` now, as an
    /// interrupted call does here (the time left written for a `ppoll`/`pselect6`).
    pub(super) fn ptrace_handler_interrupts(&mut self, hart: &mut Hart<'_>, tid: u32) {
        let Some(t) = self.tasks.get_mut(&tid).filter(|t| t.ptrace.restart) else {
            return;
        };
        t.ptrace.restart = false;
        self.poll_interrupted(hart, tid);
        let value = self.interrupted_return(tid);
        self.forget_sleeper(tid);
        hart.x[10] = value;
        hart.pc = hart.pc.wrapping_add(4);
    }

    /// The address space of tracee `child` while it has users (`get_task_mm()`).
    fn tracee_mm(&self, child: u32) -> Option<MmUsers> {
        let mm = self.tasks.get(&child)?.mm.as_ref()?;
        (mm.mm_users() > 0).then(|| mm.clone())
    }

    /// `ptrace_access_vm()` → `__access_remote_vm()` on tracee `child`'s memory at
    /// `addr` with `gup_flags` ([`crate::mm::gup::access_remote_vm`], under the read
    /// side of its `mmap_lock`). Returns the bytes moved (0 without an address space).
    fn access_process_vm(
        &self,
        child: u32,
        addr: u64,
        buf: &mut [u8],
        gup_flags: FollFlags,
    ) -> usize {
        let Some(mm) = self.tracee_mm(child) else {
            return 0;
        };
        let mut guard = mm.gup_read_lock();
        crate::mm::gup::access_remote_vm(&mut guard, addr, buf, gup_flags)
    }

    /// `ptrace_regset()`: `PTRACE_GETREGSET`/`SETREGSET` (`set`) of regset `nt` of
    /// stopped `child` through the tracer's `struct iovec` at `iov_va` (in `caller`):
    /// `iov_len` bytes at most of the regset, and `iov_len` becomes what was moved.
    ///
    /// # Errors
    /// `EINVAL` for an unknown regset or an `iov_len` not a multiple of 8; `EFAULT`.
    fn ptrace_regset(
        &mut self,
        child: u32,
        set: bool,
        nt: u64,
        iov_va: u64,
        caller: &MmUsers,
    ) -> KResult<u64> {
        use crate::uaccess::UserAccess;
        let mut user = caller.uaccess();
        let iov = Iovec::read(&mut user, iov_va)?;
        let size = match nt {
            NT_PRSTATUS => UserRegsStruct::SIZE,
            NT_PRFPREG => RiscvDExtState::SIZE,
            _ => return Err(Errno::EINVAL),
        };
        if iov.len % 8 != 0 {
            return Err(Errno::EINVAL);
        }
        let len = (iov.len as usize).min(size);
        let t = self.tasks.get(&child).ok_or(Errno::ESRCH)?;
        // The stopped tracee's registers, copied out of its lock for the copies to and
        // from the tracer's memory (nothing else changes them while it is stopped).
        let mut ctx = t.run().ctx.clone();
        // A tracee at syscall entry is still at its `ecall` (see `gpr_get`).
        let at_ecall = t.ptrace.syscall_entry == Some(ctx.pc);
        if set {
            let mut bytes = vec![0u8; len];
            user.copy_from_user(iov.base, &mut bytes)?;
            match nt {
                NT_PRSTATUS => {
                    gpr_set(&mut ctx, &UserRegsStruct::from_bytes(&bytes), len, at_ecall)
                }
                _ => fpr_set(&mut ctx, &RiscvDExtState::from_bytes(&bytes), len),
            }
            t.run().ctx = ctx;
        } else {
            let bytes = match nt {
                NT_PRSTATUS => gpr_get(&ctx, at_ecall).to_bytes().to_vec(),
                _ => fpr_get(&ctx).to_bytes().to_vec(),
            };
            user.copy_to_user(iov.base, bytes.get(..len).unwrap_or_default())?;
        }
        user.put_user_u64(iov_va.wrapping_add(8), len as u64)?;
        Ok(0)
    }

    // ---- the tracee's stops ---------------------------------------------------------

    /// `ptrace_stop()`: task `tid`, live in this hart on its way to user mode, stops
    /// with `report` (`TASK_TRACED`: its registers saved, off its run queue) and its
    /// tracer is told (woken in `wait`, sent `SIGCHLD`/`CLD_TRAPPED`). Nothing happens
    /// to a task no longer traced.
    fn ptrace_stop(&mut self, hart: &mut Hart<'_>, tid: u32, report: PtraceReport) {
        let Some(t) = self.tasks.get_mut(&tid) else {
            return;
        };
        let Some(tracer) = t.ptrace.tracer else {
            return;
        };
        t.ptrace.last_siginfo = Some(report.info);
        t.ptrace.stop = Some((report, false));
        self.block(tid, WaitOn::Traced, hart);
        let Some(tg) = self.group_of(tracer) else {
            return;
        };
        // do_notify_parent_cldstop(tsk, true, why).
        self.wake(tg, WaitOn::Child);
        let info = SigInfo {
            signo: SIGCHLD,
            code: CLD_TRAPPED,
            addr: u64::from(tid),
            status: report.exit_code as i32,
        };
        self.send_signal(hart, tg, None, info);
    }

    /// The tracee's part of the way back to user mode of task `tid` (live in this hart,
    /// runnable): a call whose entry stop was reported and whose pc has moved on has
    /// returned (its exit stop is owed if the tracer still traces syscalls); the first
    /// owed stop is taken; else a signal the tracer chose at the last
    /// signal-delivery-stop is delivered. Returns whether any of that happened (the
    /// caller delivers nothing more now).
    pub(super) fn ptrace_exit_to_user(&mut self, hart: &mut Hart<'_>, tid: u32) -> bool {
        let Some(t) = self.tasks.get_mut(&tid) else {
            return false;
        };
        let p = &mut t.ptrace;
        if p.syscall_entry.is_some_and(|e| e != hart.pc) {
            p.syscall_entry = None;
            if p.syscall_trace && p.tracer.is_some() {
                p.event_msg = PTRACE_EVENTMSG_SYSCALL_EXIT;
                p.reports.push_back(PtraceReport::syscall(p.options, tid));
            }
        }
        if let Some(report) = p.reports.pop_front() {
            self.ptrace_stop(hart, tid, report);
            return true;
        }
        let Some(info) = p.inject.take() else {
            return false;
        };
        // ptrace_signal(): a signal now blocked is queued again.
        if t.signals.is_blocked(info.signo) && info.signo != SIGKILL {
            t.pending.push(info);
            return false;
        }
        self.deliver_signal(hart, tid, info);
        true
    }

    /// `ptrace_signal()`: signal `info`, just dequeued by traced task `tid`, goes to
    /// the tracer first (a signal-delivery-stop); `SIGKILL` never does. Returns whether
    /// the task stopped for it.
    pub(super) fn ptrace_signal(&mut self, hart: &mut Hart<'_>, tid: u32, info: SigInfo) -> bool {
        if info.signo == SIGKILL || !self.ptraced(tid) {
            return false;
        }
        let report = PtraceReport {
            exit_code: u32::from(info.signo),
            kind: StopKind::Signal,
            info,
        };
        self.ptrace_stop(hart, tid, report);
        true
    }

    /// A default-action stop signal (`SIGSTOP`, `SIGTSTP`, `SIGTTIN`, `SIGTTOU`)
    /// delivered to traced task `tid`: its group-stop, which a tracee reports to its
    /// tracer (`do_signal_stop()` → `do_jobctl_trap()`): the signal, with
    /// `PTRACE_EVENT_STOP` for a seized tracee. Returns whether the task stopped. A
    /// resume ends it for the tracee (no `SIGCONT` needed, there being no job control
    /// here).
    pub(super) fn ptrace_group_stop(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        info: SigInfo,
    ) -> bool {
        let Some(t) = self.tasks.get(&tid) else {
            return false;
        };
        let default = t.signals.action(info.signo).handler == signal::SIG_DFL;
        if !t.ptrace.is_traced() || !default || !signal::STOP_SIGNALS.contains(&info.signo) {
            return false;
        }
        let seized = t.ptrace.seized;
        let event = if seized { PTRACE_EVENT_STOP << 8 } else { 0 };
        let report = PtraceReport::notify(u32::from(info.signo) | event, StopKind::Event, tid);
        self.ptrace_stop(hart, tid, report);
        // A group-stop of a task not seized has no siginfo (`ptrace_stop(..., NULL)`):
        // PTRACE_GETSIGINFO is EINVAL there.
        if let (false, Some(t)) = (seized, self.tasks.get_mut(&tid)) {
            t.ptrace.last_siginfo = None;
        }
        true
    }

    /// `ptrace_report_syscall_entry()` at the system call of task `tid` (live in this
    /// hart, at its `ecall`). A tracee resumed by `PTRACE_SYSCALL` owes a
    /// syscall-entry stop: it is queued and the call does not run now (returns
    /// `true`); the task re-executes the `ecall` after its resume and the call runs
    /// then — or, if the tracer set `a7` to -1, it is skipped (`a0` as the tracer left
    /// it). A call re-issued after a sleep runs without a second entry stop.
    pub(super) fn ptrace_syscall_entry(&mut self, hart: &mut Hart<'_>, tid: u32) -> bool {
        let Some(t) = self.tasks.get_mut(&tid) else {
            return false;
        };
        let p = &mut t.ptrace;
        // The call left to be restarted (if any) is being re-issued.
        p.restart = false;
        if p.tracer.is_none() {
            return false;
        }
        if p.syscall_entry == Some(hart.pc) {
            if hart.x[17] == u64::MAX {
                hart.pc = hart.pc.wrapping_add(4);
                return true;
            }
            return false;
        }
        if !p.syscall_trace {
            return false;
        }
        p.syscall_entry = Some(hart.pc);
        p.event_msg = PTRACE_EVENTMSG_SYSCALL_ENTRY;
        p.reports.push_back(PtraceReport::syscall(p.options, tid));
        true
    }

    /// `ptrace_event(PTRACE_EVENT_EXEC, old_tid)` after a successful `execve` by traced
    /// task `tid` (its tid before the exec `old_tid`): an event stop with
    /// `PTRACE_O_TRACEEXEC`, else — not seized — the legacy `SIGTRAP` (`send_sig()`).
    pub(super) fn ptrace_event_exec(&mut self, tid: u32, old_tid: u32) {
        let Some(t) = self.tasks.get_mut(&tid) else {
            return;
        };
        let p = &mut t.ptrace;
        if p.tracer.is_none() {
            return;
        }
        if p.options & PTRACE_O_TRACEEXEC != 0 {
            p.event_msg = u64::from(old_tid);
            p.reports
                .push_back(PtraceReport::event(PTRACE_EVENT_EXEC, tid));
        } else if !p.seized {
            t.pending.push(siginfo(SIGTRAP, SI_USER));
        }
    }

    /// `clone` by traced task `tid` made `child` with `flags` (`kernel_clone()`'s
    /// `ptrace_event_pid()` and `ptrace_init_task()`): with the option of its kind
    /// (`VFORK` for `CLONE_VFORK`, `CLONE` for an exit signal other than `SIGCHLD`, else
    /// `FORK`) the child is traced by the same tracer with the same options, starting
    /// with a `SIGSTOP` (a `PTRACE_EVENT_STOP` if seized), and the caller owes the event
    /// stop (`PTRACE_GETEVENTMSG`: the child's pid).
    pub(super) fn ptrace_event_fork(&mut self, tid: u32, child: u32, flags: u64) {
        use super::clone::{CLONE_VFORK, CSIGNAL};
        let Some(p) = self.tasks.get(&tid).map(|t| t.ptrace.clone()) else {
            return;
        };
        let Some(tracer) = p.tracer else {
            return;
        };
        let (event, option) = if flags & CLONE_VFORK != 0 {
            (PTRACE_EVENT_VFORK, PTRACE_O_TRACEVFORK)
        } else if flags & CSIGNAL != u64::from(SIGCHLD) {
            (PTRACE_EVENT_CLONE, PTRACE_O_TRACECLONE)
        } else {
            (PTRACE_EVENT_FORK, PTRACE_O_TRACEFORK)
        };
        if p.options & option == 0 {
            return;
        }
        if let Some(c) = self.tasks.get_mut(&child) {
            c.ptrace = PtraceState::attach(tracer, p.seized, p.options);
            if p.seized {
                c.ptrace
                    .reports
                    .push_back(PtraceReport::event(PTRACE_EVENT_STOP, child));
            } else {
                c.pending.push(siginfo(SIGSTOP, SI_KERNEL));
            }
        }
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.ptrace.event_msg = u64::from(child);
            t.ptrace.reports.push_back(PtraceReport::event(event, tid));
        }
    }

    // ---- wait, exit -----------------------------------------------------------------

    /// Whether task `c` (`tid` of the caller, `tgid` its process) is traced by the
    /// waiter: by a thread of its process, or with `__WNOTHREAD` by `tid` itself.
    pub(super) fn traced_by_waiter(&self, c: u32, tid: u32, tgid: u32, nothread: bool) -> bool {
        let Some(tracer) = self.tasks.get(&c).and_then(|t| t.ptrace.tracer) else {
            return false;
        };
        if nothread {
            tracer == tid
        } else {
            self.group_of(tracer) == Some(tgid)
        }
    }

    /// `wait_task_stopped()` for `ptrace` (`ptrace_do_wait()`): a tracee of waiter
    /// `tid` matching `which`, in a stop no `wait` has reported yet — reported now
    /// (unless `consume` is false: `WNOWAIT`). Returns it and its exit code (`status >>
    /// 8`), and whether the waiter traces any task matching `which` (no `ECHILD` then).
    pub(super) fn ptrace_wait_stopped(
        &mut self,
        tid: u32,
        which: WaitPid,
        options: u64,
        consume: bool,
    ) -> (Option<(u32, u32)>, bool) {
        let Some(tgid) = self.group_of(tid) else {
            return (None, false);
        };
        let nothread = options & wait::WNOTHREAD != 0;
        let mut any = false;
        let tracees: Vec<u32> = self
            .tasks
            .keys()
            .copied()
            .filter(|&c| self.traced_by_waiter(c, tid, tgid, nothread))
            .collect();
        for c in tracees {
            let Some(t) = self.tasks.get_mut(&c) else {
                continue;
            };
            let matches = match which {
                WaitPid::Any => true,
                WaitPid::Pid(p) => p == c,
                WaitPid::Pgid(g) => t.signal.pgrp() == g,
            };
            if !matches {
                continue;
            }
            any = true;
            if let Some((report, reported @ false)) = t.ptrace.stop.as_mut() {
                let code = report.exit_code;
                if consume {
                    *reported = true;
                }
                return (Some((c, code)), true);
            }
        }
        (None, any)
    }

    /// `wait4` of waiter `tid` for `which` with `options`: a tracee's stop, reported
    /// with `(exit_code << 8) | 0x7f` at `wstatus` (if not 0). `Ok(None)`: none, and
    /// whether the waiter traces a matching task at all.
    ///
    /// # Errors
    /// `EFAULT`.
    pub(super) fn ptrace_wait4(
        &mut self,
        tid: u32,
        which: WaitPid,
        options: u64,
        wstatus: u64,
    ) -> KResult<(Option<u32>, bool)> {
        let (found, any) = self.ptrace_wait_stopped(tid, which, options, true);
        let Some((pid, code)) = found else {
            return Ok((None, any));
        };
        if wstatus != 0 {
            let mm = self
                .tasks
                .get(&tid)
                .and_then(|t| t.mm.clone())
                .ok_or(Errno::ESRCH)?;
            let word = (code << 8) | 0x7f;
            crate::uaccess::UserAccess::copy_to_user(
                &mut mm.uaccess(),
                wstatus,
                &word.to_le_bytes(),
            )?;
        }
        Ok((Some(pid), true))
    }

    /// `waitid` of waiter `tid` for `which` with `options`: a tracee's stop, reported in
    /// the siginfo at `infop` (if not 0): `SIGCHLD`, `CLD_TRAPPED`, the pid, the exit
    /// code as `si_status`; `WNOWAIT` leaves it to be reported again.
    ///
    /// # Errors
    /// `EFAULT`.
    pub(super) fn ptrace_waitid(
        &mut self,
        tid: u32,
        which: WaitPid,
        options: u64,
        infop: u64,
    ) -> KResult<(Option<u32>, bool)> {
        let consume = options & wait::WNOWAIT == 0;
        let (found, any) = self.ptrace_wait_stopped(tid, which, options, consume);
        let Some((pid, code)) = found else {
            return Ok((None, any));
        };
        if infop != 0 {
            let info = SigInfo {
                signo: SIGCHLD,
                code: CLD_TRAPPED,
                addr: u64::from(pid),
                status: code as i32,
            };
            let mm = self
                .tasks
                .get(&tid)
                .and_then(|t| t.mm.clone())
                .ok_or(Errno::ESRCH)?;
            crate::uaccess::UserAccess::copy_to_user(&mut mm.uaccess(), infop, &info.to_bytes())?;
        }
        Ok((Some(pid), true))
    }

    /// `exit_notify()` of traced process `tgid` (its leader): a tracer that is not its
    /// parent is told first (woken, sent `SIGCHLD`); the parent hears of the exit when
    /// the tracer has reaped it or is gone ([`Kernel::wait_release`]). Returns whether
    /// it was.
    pub(super) fn ptrace_notify_exit(
        &mut self,
        tgid: u32,
        status: crate::config::ExitStatus,
    ) -> bool {
        let Some(leader) = self.tasks.get(&tgid) else {
            return false;
        };
        let ppid = leader.signal.ppid();
        let Some(tg) = leader.ptrace.tracer.and_then(|tr| self.group_of(tr)) else {
            return false;
        };
        if tg == ppid {
            return false;
        }
        self.wake(tg, WaitOn::Child);
        let (code, status) = super::child_status(status);
        if let Some(tr) = self.tasks.get(&tg) {
            if !tr.signals.is_ignored(SIGCHLD) {
                tr.signal.lock().shared_pending.push(SigInfo {
                    signo: SIGCHLD,
                    code,
                    addr: u64::from(tgid),
                    status,
                });
            }
        }
        true
    }

    /// A waiter has reaped zombie `cpid` (`wait_task_zombie()`'s end): a tracee whose
    /// tracer is not its parent is untraced and handed to its parent
    /// (`ptrace_unlink()`, `do_notify_parent()`); anything else is released.
    pub(super) fn wait_release(&mut self, cpid: u32) {
        let Some(c) = self.tasks.get(&cpid) else {
            return;
        };
        let reparented = c
            .ptrace
            .tracer
            .and_then(|tr| self.group_of(tr))
            .is_some_and(|tg| tg != c.signal.ppid());
        let status = c.signal.group_exit();
        if let (true, Some(status)) = (reparented, status) {
            self.ptrace_unlink(cpid);
            self.notify_parent(cpid, status);
        } else {
            self.release_task(cpid);
        }
    }

    /// `exit_ptrace()`: tracer thread `tracer` exits; each tracee is sent `SIGKILL`
    /// with `PTRACE_O_EXITKILL`, else detached and resumed; a zombie tracee is handed
    /// to its parent.
    pub(super) fn exit_ptrace(&mut self, hart: &mut Hart<'_>, tracer: u32) {
        let tracees: Vec<u32> = self
            .tasks
            .values()
            .filter(|t| t.ptrace.tracer == Some(tracer))
            .map(|t| t.tid)
            .collect();
        for c in tracees {
            let Some(t) = self.tasks.get(&c) else {
                continue;
            };
            let (tgid, kill) = (t.tgid, t.ptrace.options & PTRACE_O_EXITKILL != 0);
            // A zombie traced by a process other than its parent is its parent's now.
            let reparented = t.signal.ppid() != self.group_of(tracer).unwrap_or(0);
            let zombie = t.signal.group_exit().filter(|_| c == tgid && reparented);
            let live = !matches!(t.state(), TaskState::Zombie(_));
            self.ptrace_resume(c, 0);
            self.ptrace_unlink(c);
            if let Some(status) = zombie {
                self.notify_parent(c, status);
            } else if kill && live {
                let info = siginfo(SIGKILL, SI_USER);
                self.send_signal(hart, tgid, Some(c), info);
            }
        }
    }
}

/// A signal with no sender or address: `signo`, `si_code` `code`.
fn siginfo(signo: u8, code: i32) -> SigInfo {
    SigInfo {
        signo,
        code,
        addr: 0,
        status: 0,
    }
}

/// The signal a resume request delivers (`data`): 0 for none.
///
/// # Errors
/// `EIO` for a value that is not a signal (`valid_signal()`).
fn resume_signal(data: u64) -> KResult<u8> {
    if signal::valid_signal(data) {
        Ok(data as u8)
    } else {
        Err(Errno::EIO)
    }
}
