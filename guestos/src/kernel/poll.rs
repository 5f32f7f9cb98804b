//! Descriptor calls that sleep, served by the kernel because they need its timers,
//! signals or a hold on a file across the sleep:
//!
//! - `ppoll` and `pselect6` (`fs/select.c`; riscv64 has no `poll`, `select` or `pause`:
//!   glibc builds them on these two, `pause()` being `ppoll(NULL, 0, NULL, NULL)`). A
//!   scan ([`crate::syscall::poll`]) that finds nothing ready puts the caller to sleep
//!   with its deadline; it is re-issued when I/O may have changed something
//!   ([`WaitOn::Io`]) or the deadline passes, and interrupted with `EINTR` by a signal it
//!   does not block (Linux's `-ERESTARTNOHAND` turned into `EINTR` by the handler; a
//!   signal without a handler is dropped or kills before it reaches a sleeper here). The
//!   temporary mask works as `rt_sigsuspend`'s: it stays until a handler has run or the
//!   call returns otherwise (`restore_saved_sigmask_unless()`). The time left is written
//!   back as `poll_select_finish()` does.
//! - `read`, `write`, `readv`, `writev` with `fdget()`'s hold: a call that sleeps keeps
//!   its `Arc<OpenFile>` ([`BlockedCall::file`]) and the re-issued call uses it, not the
//!   descriptor, so a concurrent `close()` does not end it (it completes when data or end
//!   of file arrives) and the pipe keeps its reader or writer meanwhile.
//! - `SIGPIPE`: a write that finds no reader (`EPIPE`, a pipe, a FIFO or the host's
//!   closed stdout) sends `SIGPIPE` to the writing thread (`pipe_write()`'s
//!   `send_sig(SIGPIPE, current, 0)`).

use std::sync::Arc;

use emu::Hart;

use super::Kernel;
use crate::errno::{Errno, KResult};
use crate::fs::{FileCtx, OpenFile};
use crate::process::{Process, TaskState, WaitOn};
use crate::signal::{SigInfo, SIGPIPE, SI_USER};
use crate::syscall::misc::RLIMIT_NOFILE;
use crate::syscall::poll::{
    do_poll_scan, do_select_scan, max_fds, read_fd_sets, read_pollfds, read_sigmask, read_timeout,
    write_fd_sets, write_revents, write_timespec,
};
use crate::syscall::{self, nr, SyscallOutcome};
use crate::uaccess::UserAccess;

/// A sleeping call's state kept for its re-issue (the part of Linux's kernel stack that a
/// re-issued call here would otherwise lose).
pub(super) struct BlockedCall {
    /// The call (`a7`) and its arguments: a re-issue must match them.
    nr: u64,
    args: [u64; 6],
    /// `ppoll`/`pselect6`: the CLOCK_MONOTONIC deadline in ns (`None`: no timeout).
    deadline: Option<u64>,
    /// `read`/`write`…: the file `fdget()` took when the call started.
    file: Option<Arc<OpenFile>>,
}

impl Kernel<'_> {
    /// The loaded (calling) thread of `pid`.
    fn caller_tid(&self, pid: u32) -> KResult<u32> {
        self.procs.get(&pid).map(|p| p.tid).ok_or(Errno::ESRCH)
    }

    /// The state thread `tid` left when its call `(n, a)` went to sleep, if this is that
    /// call re-issued (another call discards it).
    fn take_blocked_call(
        &mut self,
        pid: u32,
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> Option<BlockedCall> {
        self.blocked_calls
            .remove(&(pid, tid))
            .filter(|b| b.nr == n && b.args == a)
    }

    /// Whether the call `(n, a)` of `pid`'s loaded thread is a re-issued one that holds
    /// its file.
    pub(super) fn holds_file(&self, pid: u32, n: u64, a: [u64; 6]) -> bool {
        self.caller_tid(pid).is_ok_and(|tid| {
            self.blocked_calls
                .get(&(pid, tid))
                .is_some_and(|b| b.nr == n && b.args == a && b.file.is_some())
        })
    }

    /// A timer of a thread whose sleeping call is re-issued has fired: the thread runs
    /// again and its call sees the deadline passed. Returns `false` if the thread has no
    /// such call (the timer is someone else's: futex, nanosleep).
    pub(super) fn wake_blocked_call(&mut self, pid: u32, tid: u32) -> bool {
        if !self.blocked_calls.contains_key(&(pid, tid)) {
            return false;
        }
        self.timers.remove(&(pid, tid));
        if let Some((state, _)) = self.procs.get_mut(&pid).and_then(|p| p.thread_parts(tid)) {
            if matches!(state, TaskState::Blocked(_)) {
                *state = TaskState::Runnable;
            }
        }
        true
    }

    /// A signal interrupts the sleeping `ppoll`/`pselect6` of thread `tid`: the time
    /// left goes to its timeout argument (`poll_select_finish()` on `-ERESTARTNOHAND`).
    pub(super) fn poll_interrupted(&mut self, hart: &Hart<'_>, pid: u32, tid: u32) {
        let Some(b) = self.blocked_calls.get(&(pid, tid)) else {
            return;
        };
        let tsp = match b.nr {
            nr::SYS_ppoll => b.args[2],
            nr::SYS_pselect6 => b.args[4],
            _ => return,
        };
        let Some(deadline) = b.deadline else {
            return;
        };
        let (_, now) = self.clock_now(hart);
        if let Some(p) = self.procs.get_mut(&pid) {
            // A fault here is the caller's: Linux keeps EINTR too (STICKY_TIMEOUTS path).
            let _ = write_timespec(&mut p.mm, tsp, deadline.saturating_sub(now));
        }
    }

    /// `ppoll(ufds, nfds, tsp, sigmask, sigsetsize)` (`do_sys_poll()` + `do_poll()`).
    ///
    /// # Errors
    /// `EFAULT`; `EINVAL` for a bad timeout or `sigsetsize`, or `nfds` over
    /// `RLIMIT_NOFILE`; `EINTR` when a signal it does not block arrives first.
    pub(super) fn sys_ppoll(
        &mut self,
        hart: &Hart<'_>,
        pid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let (ufds, nfds) = (a[0], a[1]);
        let scan = |p: &mut Process| {
            let nofile = p.rlimits.get(RLIMIT_NOFILE).map_or(u64::MAX, |l| l.0);
            if nfds > nofile {
                return Err(Errno::EINVAL);
            }
            let mut fds = read_pollfds(&mut p.mm, ufds, nfds)?;
            let count = do_poll_scan(&p.fs.fds, &mut fds);
            Ok((count, nfds == 0, fds))
        };
        let copy_out = |p: &mut Process, fds: Vec<_>| write_revents(&mut p.mm, ufds, &fds);
        self.poll_select(hart, pid, n, a, a[2], |_| Ok((a[3], a[4])), scan, copy_out)
    }

    /// `pselect6(n, inp, outp, exp, tsp, sig)` (`core_sys_select()` + `do_select()`);
    /// `sig` points at `{ const sigset_t *ss; size_t ss_len; }`.
    ///
    /// # Errors
    /// `EFAULT`; `EINVAL` for a negative `n`, a bad timeout or `ss_len`; `EBADF` for a
    /// set naming a descriptor that is not open; `EINTR` when a signal it does not block
    /// arrives first (the sets are then left as they were).
    pub(super) fn sys_pselect6(
        &mut self,
        hart: &Hart<'_>,
        pid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let (nfds, ptrs, sig) = (a[0], [a[1], a[2], a[3]], a[5]);
        // get_sigset_argpack(): the `{ss, ss_len}` pair.
        let mask = |p: &mut Process| {
            if sig == 0 {
                return Ok((0, 0));
            }
            let len_at = sig.checked_add(8).ok_or(Errno::EFAULT)?;
            Ok((p.mm.get_user_u64(sig)?, p.mm.get_user_u64(len_at)?))
        };
        let scan = |p: &mut Process| {
            // An `int`: negative is EINVAL; beyond the table it is clamped.
            let nfds = u32::try_from(nfds as i32).map_err(|_| Errno::EINVAL)?;
            let nfds = nfds.min(max_fds(&p.fs.fds));
            let sets = read_fd_sets(&mut p.mm, nfds, ptrs)?;
            let (count, res) = do_select_scan(&p.fs.fds, nfds, &sets)?;
            Ok((count, nfds == 0, res))
        };
        let copy_out = |p: &mut Process, res| write_fd_sets(&mut p.mm, ptrs, &res);
        self.poll_select(hart, pid, n, a, a[4], mask, scan, copy_out)
    }

    /// The body `ppoll` and `pselect6` share: on the first issue the timeout at `tsp`
    /// and the temporary mask (`mask` reads `(umask, sigsetsize)`); then one `scan`
    /// (`(ready count, no descriptor to watch, result)`); the result goes out with
    /// `copy_out` once the call returns other than by a signal.
    #[allow(clippy::too_many_arguments)] // the call, its timeout and its three steps
    fn poll_select<R>(
        &mut self,
        hart: &Hart<'_>,
        pid: u32,
        n: u64,
        a: [u64; 6],
        tsp: u64,
        mask: impl FnOnce(&mut Process) -> KResult<(u64, u64)>,
        scan: impl FnOnce(&mut Process) -> KResult<(u64, bool, R)>,
        copy_out: impl FnOnce(&mut Process, R) -> KResult<()>,
    ) -> KResult<SyscallOutcome> {
        let tid = self.caller_tid(pid)?;
        let deadline = match self.take_blocked_call(pid, tid, n, a) {
            Some(b) => b.deadline,
            None => {
                let (umask, size) = mask(self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?)?;
                self.enter_poll_select(hart, pid, tsp, umask, size)?
            }
        };
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let (count, no_fds, res) = match scan(p) {
            Ok(r) => r,
            Err(e) => return self.poll_select_finish(hart, pid, tsp, deadline, Err(e)),
        };
        if let Some(stop) =
            self.poll_select_wait(hart, pid, tid, n, a, tsp, deadline, count, no_fds)
        {
            return stop;
        }
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let r = copy_out(p, res).map(|()| count);
        self.poll_select_finish(hart, pid, tsp, deadline, r)
    }

    /// The first issue of a `ppoll`/`pselect6`: the timeout at `tsp` becomes a deadline
    /// (`poll_select_set_timeout()`: `None` = none, `Some(0)` = do not sleep), then the
    /// temporary mask `(umask, sigsetsize)` is installed (`set_user_sigmask()`).
    fn enter_poll_select(
        &mut self,
        hart: &Hart<'_>,
        pid: u32,
        tsp: u64,
        umask: u64,
        sigsetsize: u64,
    ) -> KResult<Option<u64>> {
        let (_, now) = self.clock_now(hart);
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let deadline =
            read_timeout(&mut p.mm, tsp)?.map(|t| if t == 0 { 0 } else { now.saturating_add(t) });
        if let Some(mask) = read_sigmask(&mut p.mm, umask, sigsetsize)? {
            if p.signals.saved_mask.is_none() {
                p.signals.saved_mask = Some(p.signals.blocked);
            }
            p.signals.blocked = mask;
        }
        Ok(deadline)
    }

    /// Whether `deadline` (0: a zero timeout) has passed.
    fn timed_out(&self, hart: &Hart<'_>, deadline: Option<u64>) -> bool {
        deadline.is_some_and(|d| d == 0 || d <= self.clock_now(hart).1)
    }

    /// Whether the loaded thread of `pid` has a pending signal its (possibly temporary)
    /// mask lets through and that is not ignored (`signal_pending()`).
    fn signal_pending(&self, pid: u32) -> bool {
        self.procs.get(&pid).is_some_and(|p| {
            p.pending
                .iter()
                .chain(&p.thread_pending)
                .any(|s| !p.signals.is_blocked(s.signo) && !p.signals.is_ignored(s.signo))
        })
    }

    /// The end of one pass of `do_poll()`/`do_select()` that found `count` ready: `None`
    /// if the call returns its result now (something is ready, or the deadline passed);
    /// `EINTR` if a signal is pending (`-ERESTARTNOHAND`); otherwise the caller sleeps
    /// with its deadline armed and the call is re-issued — on I/O, or, with no
    /// descriptor to watch (`pause()`), on a signal or the deadline alone.
    #[allow(clippy::too_many_arguments)] // the call, its timeout and the scan's result
    fn poll_select_wait(
        &mut self,
        hart: &Hart<'_>,
        pid: u32,
        tid: u32,
        n: u64,
        a: [u64; 6],
        tsp: u64,
        deadline: Option<u64>,
        count: u64,
        no_fds: bool,
    ) -> Option<KResult<SyscallOutcome>> {
        if count != 0 || self.timed_out(hart, deadline) {
            return None;
        }
        if self.signal_pending(pid) {
            return Some(self.poll_select_finish(hart, pid, tsp, deadline, Err(Errno::EINTR)));
        }
        if let Some(d) = deadline {
            self.timers.insert((pid, tid), d);
        }
        self.blocked_calls.insert(
            (pid, tid),
            BlockedCall {
                nr: n,
                args: a,
                deadline,
                file: None,
            },
        );
        Some(Ok(SyscallOutcome::Block(if no_fds {
            WaitOn::Signal
        } else {
            WaitOn::Io
        })))
    }

    /// `poll_select_finish()`: the call ends with `r`. Its timer is disarmed; the
    /// temporary mask is restored unless the call was interrupted (a handler runs
    /// first, its `rt_sigreturn` restores it); the time left goes to `tsp` unless the
    /// timeout was zero or absent.
    fn poll_select_finish(
        &mut self,
        hart: &Hart<'_>,
        pid: u32,
        tsp: u64,
        deadline: Option<u64>,
        r: KResult<u64>,
    ) -> KResult<SyscallOutcome> {
        let (_, now) = self.clock_now(hart);
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        self.timers.remove(&(pid, p.tid));
        if r != Err(Errno::EINTR) {
            if let Some(m) = p.signals.saved_mask.take() {
                p.signals.blocked = m;
            }
        }
        if let Some(d) = deadline.filter(|&d| d != 0) {
            // The time left is written even after success; a fault is ignored (Linux
            // keeps the result then too).
            let _ = write_timespec(&mut p.mm, tsp, d.saturating_sub(now));
        }
        r.map(SyscallOutcome::Return)
    }

    /// `read`/`write`/`readv`/`writev` of `pid` through `fdget()`: the descriptor's file,
    /// or, for a re-issued call that slept, the file it held when it started. A call that
    /// sleeps keeps the file.
    ///
    /// # Errors
    /// `EBADF` for a descriptor not open at the start; the call's.
    pub(super) fn sys_rw_fdget(
        &mut self,
        pid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let tid = self.caller_tid(pid)?;
        let held = self.take_blocked_call(pid, tid, n, a).and_then(|b| b.file);
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let file = match held {
            Some(f) => f,
            // An `unsigned int fd`.
            None => p.fs.fds.get(a[0] as u32)?,
        };
        let mut ctx = FileCtx::current(&p.vfs, &mut p.mm);
        let r = match n {
            nr::SYS_read => syscall::fs::ksys_read(&mut ctx, &file, a[1], a[2]),
            nr::SYS_write => syscall::fs::ksys_write(&mut ctx, &file, a[1], a[2]),
            nr::SYS_readv => syscall::fs::do_readv(&mut ctx, &file, a[1], a[2]),
            _ => syscall::fs::do_writev(&mut ctx, &file, a[1], a[2]),
        };
        let out = syscall::ret_io(r)?;
        if matches!(out, SyscallOutcome::Block(_)) {
            self.blocked_calls.insert(
                (pid, tid),
                BlockedCall {
                    nr: n,
                    args: a,
                    deadline: None,
                    file: Some(file),
                },
            );
        }
        Ok(out)
    }

    /// A write-side call of `pid`'s loaded thread ended with `EPIPE`: the thread gets
    /// `SIGPIPE` (`send_sig(SIGPIPE, current, 0)`: `SI_USER` from itself); an ignored
    /// one is dropped by [`Kernel::send_signal`] and only `EPIPE` remains.
    pub(super) fn sigpipe_on_epipe(
        &mut self,
        hart: &mut Hart<'_>,
        pid: u32,
        n: u64,
        outcome: SyscallOutcome,
    ) {
        let writes = matches!(
            n,
            nr::SYS_write | nr::SYS_writev | nr::SYS_pwrite64 | nr::SYS_vmsplice
        );
        if !writes || outcome != SyscallOutcome::Return(Errno::EPIPE.as_return()) {
            return;
        }
        let Ok(tid) = self.caller_tid(pid) else {
            return;
        };
        let info = SigInfo {
            signo: SIGPIPE,
            code: SI_USER,
            addr: u64::from(pid),
            status: 0,
        };
        self.send_signal(hart, pid, Some(tid), info);
    }
}
