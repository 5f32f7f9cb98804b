//! Descriptor calls that sleep, served by the kernel because they need its timers,
//! signals or a hold on a file across the sleep:
//!
//! - `ppoll` and `pselect6` (`fs/select.c`; riscv64 has no `poll`, `select` or `pause`:
//!   glibc builds them on these two, `pause()` being `ppoll(NULL, 0, NULL, NULL)`). A
//!   scan ([`crate::syscall::poll`]) that finds nothing ready puts the caller to sleep
//!   with its deadline on the wait queues of the files it watches (`poll_wait()`, see
//!   [`crate::fs::PollTable`]: queued on each, non-exclusively, before the scan reads
//!   the file, so a change after the read wakes it); it is re-issued when one of them
//!   wakes it — the first to wake it ends the sleep (`pollwake()`), from any hart —
//!   ([`WaitOn::Io`]) or the deadline passes, and interrupted with `EINTR` by a signal it
//!   does not block (Linux's `-ERESTARTNOHAND` turned into `EINTR` by the handler; a
//!   signal without a handler is dropped or kills before it reaches a sleeper here). The
//!   temporary mask works as `rt_sigsuspend`'s: it stays until a handler has run or the
//!   call returns otherwise (`restore_saved_sigmask_unless()`). The time left is written
//!   back as `poll_select_finish()` does.
//! - `read`, `write`, `readv`, `writev` with `fdget()`'s hold: a call that sleeps keeps
//!   its `Arc<OpenFile>` ([`BlockedCall::file`]) and the re-issued call uses it, not the
//!   descriptor, so a concurrent `close()` does not end it (it completes when data or end
//!   of file arrives) and the pipe keeps its reader or writer meanwhile. The sleeper
//!   waits, exclusively, on the file's wait queue (a pipe's `rd_wait` or `wr_wait`),
//!   queued before its last look at the pipe. A pipe call's first pass is served
//!   without the kernel lock (`syscall/unlocked.rs`'s `pipe_call`), which queues a call
//!   that must wait and hands it here only to block ([`Kernel::io_sleep_block`]); its
//!   re-issue when woken, with the file and count it kept, is served here. That
//!   continuation stays under the kernel lock because the rest of the sleeping call's
//!   state is here too: the task-table state, the `SIGPIPE` a later pass may send, the
//!   signal that may interrupt it (`interrupted_return()`), the timers.
//! - A blocking `write` or `writev` keeps going until all of it is written
//!   (`pipe_write()`'s loop):
//!   a write that filled the pipe part-way sleeps with its count
//!   ([`BlockedCall::written`]) and goes on from there when a reader makes room. It
//!   returns the count so far when the last reader goes (and `SIGPIPE` is sent, as
//!   `pipe_write()` does before `break`), on a fault, or when a signal interrupts it
//!   (`-ERESTARTSYS` only if nothing was written).
//! - `SIGPIPE`: a write that finds no reader (`EPIPE`, a pipe, a FIFO or the host's
//!   closed stdout) sends `SIGPIPE` to the writing thread (`pipe_write()`'s
//!   `send_sig(SIGPIPE, current, 0)`).

use std::sync::Arc;

use emu::Hart;

use super::Kernel;
use crate::errno::{Errno, KResult};
use crate::fs::{FileCtx, IoError, OpenFile, PollTable, WaitTask, EPOLL_EVENT_SIZE, EP_MAX_EVENTS};
use crate::process::{Task, WaitOn};
use crate::signal::{SigInfo, SIGPIPE, SI_USER};
use crate::syscall::misc::RLIMIT_NOFILE;
use crate::syscall::poll::{
    do_poll_scan, do_select_scan, max_fds, read_fd_sets, read_pollfds, read_sigmask, read_timeout,
    write_fd_sets, write_revents, write_timespec,
};
use crate::syscall::unlocked::{write_pass_sleeps, IoSleep};
use crate::syscall::{self, nr, SyscallOutcome};
use crate::uaccess::UserAccess;

/// A sleeping call's state kept for its re-issue (the part of Linux's kernel stack that a
/// re-issued call here would otherwise lose).
#[derive(Debug)]
pub(super) struct BlockedCall {
    /// The call (`a7`) and its arguments: a re-issue must match them.
    nr: u64,
    args: [u64; 6],
    /// `ppoll`/`pselect6`: the CLOCK_MONOTONIC deadline in ns (`None`: no timeout).
    deadline: Option<u64>,
    /// `read`/`write`…: the file `fdget()` took when the call started.
    file: Option<Arc<OpenFile>>,
    /// `write`: the bytes written before it slept (`pipe_write()`'s `ret`).
    written: u64,
}

impl BlockedCall {
    /// The state a pipe `read`/`write` (call `nr`, arguments `args`) that must wait
    /// keeps for its re-issue: the file it took and the bytes it wrote so far.
    pub(super) fn pipe_io(nr: u64, args: [u64; 6], file: Arc<OpenFile>, written: u64) -> Self {
        BlockedCall {
            nr,
            args,
            deadline: None,
            file: Some(file),
            written,
        }
    }

    /// The file and count a re-issued call `(nr, args)` takes back from its task's
    /// sleeping call `call` if it is the pipe `read`/`write` that slept there
    /// ([`BlockedCall::pipe_io`], served without the kernel lock: `fdget()`'s hold and
    /// `pipe_write()`'s `ret`); `Err(())` for any other re-issue the call has, which
    /// only the kernel lock serves; `Ok(None)` if it has none.
    pub(super) fn take_pipe_io(
        call: &mut super::SleepingCall,
        nr: u64,
        args: [u64; 6],
    ) -> Result<Option<(Arc<OpenFile>, u64)>, ()> {
        let Some(b) = &call.blocked else {
            return Ok(None);
        };
        let pipe = b
            .file
            .as_ref()
            .is_some_and(|f| matches!(f.target(), crate::fs::FileTarget::Pipe(_)));
        if b.nr != nr || b.args != args || !pipe {
            return Err(());
        }
        let b = call.blocked.take().ok_or(())?;
        Ok(b.file.map(|f| (f, b.written)))
    }
}

/// How a sleeping descriptor call gives its timeout.
#[derive(Debug, Clone, Copy)]
enum Timeout {
    /// A `struct timespec` at this address (NULL: none): `ppoll`, `pselect6`,
    /// `epoll_pwait2`.
    Timespec(u64),
    /// Milliseconds, negative for none: `epoll_pwait`.
    Millis(i32),
}

impl Kernel<'_> {
    /// A poll table armed with a new, non-exclusive sleep of task `tid`: every head a
    /// scan hands it ([`crate::fs::FileOperations::poll_wait`]) queues the task before
    /// the scan reads the file's state (`poll_initwait()`, `__pollwait()`), so a change
    /// after that read wakes it (`pollwake()`).
    fn poll_table(&self, tid: u32) -> PollTable {
        let mut pt = PollTable::default();
        pt.arm(WaitTask::new(tid, Arc::clone(&self.waker)), false);
        pt
    }

    /// Runs `f` on task `tid` with access to its memory as the system-call layer has
    /// it: each access under the read side of the `mmap_lock` (`copy_to_user()`).
    ///
    /// # Errors
    /// `ESRCH` for a task that is gone or has no address space; `f`'s.
    fn with_task_mm<R>(
        &mut self,
        tid: u32,
        f: impl FnOnce(&mut Task, &mut dyn UserAccess) -> KResult<R>,
    ) -> KResult<R> {
        let task = self.tasks.get_mut(&tid).ok_or(Errno::ESRCH)?;
        let mm_users = task.mm.clone().ok_or(Errno::ESRCH)?;
        let mut user: &crate::mm::MmStruct = &mm_users;
        f(task, &mut user)
    }

    /// The state task `tid` left when its call `(n, a)` went to sleep, if this is that
    /// call re-issued (another call discards it).
    fn take_blocked_call(&mut self, tid: u32, n: u64, a: [u64; 6]) -> Option<BlockedCall> {
        self.with_call(tid, |c| c.blocked.take())
            .flatten()
            .filter(|b| b.nr == n && b.args == a)
    }

    /// Task `tid`'s sleeping call keeps `b` for its re-issue.
    fn set_blocked_call(&mut self, tid: u32, b: BlockedCall) {
        // An older one (holding a file) is let go after the task's lock.
        let old = self.with_call(tid, |c| c.blocked.replace(b));
        drop(old);
    }

    /// Whether the call `(n, a)` of task `tid` is a re-issued one that holds its file.
    pub(super) fn holds_file(&self, tid: u32, n: u64, a: [u64; 6]) -> bool {
        self.with_call(tid, |c| {
            c.blocked
                .as_ref()
                .is_some_and(|b| b.nr == n && b.args == a && b.file.is_some())
        }) == Some(true)
    }

    /// A timer of a task whose sleeping call is re-issued has fired: the task runs again
    /// and its call sees the deadline passed. Returns `false` if the task has no such
    /// call (the timer is someone else's: futex, nanosleep).
    pub(super) fn wake_blocked_call(&mut self, tid: u32) -> bool {
        if self.with_call(tid, |c| c.blocked.is_none()) != Some(false) {
            return false;
        }
        self.timer_cancel(tid);
        self.io_wait_end(tid, false);
        self.try_to_wake_up(tid);
        true
    }

    /// A signal interrupts the sleeping `ppoll`/`pselect6` of task `tid`: the time left
    /// goes to its timeout argument (`poll_select_finish()` on `-ERESTARTNOHAND`).
    pub(super) fn poll_interrupted(&mut self, hart: &Hart<'_>, tid: u32) {
        let timeout = self.with_call(tid, |c| {
            let b = c.blocked.as_ref()?;
            let tsp = match b.nr {
                nr::SYS_ppoll => b.args[2],
                nr::SYS_pselect6 => b.args[4],
                _ => return None,
            };
            Some((tsp, b.deadline?))
        });
        let Some((tsp, deadline)) = timeout.flatten() else {
            return;
        };
        let (_, now) = self.clock_now(hart);
        // A fault here is the caller's: Linux keeps EINTR too (STICKY_TIMEOUTS path).
        let _ = self.with_task_mm(tid, |_, u| {
            write_timespec(u, tsp, deadline.saturating_sub(now))
        });
    }

    /// `ppoll(ufds, nfds, tsp, sigmask, sigsetsize)` (`do_sys_poll()` + `do_poll()`).
    ///
    /// # Errors
    /// `EFAULT`; `EINVAL` for a bad timeout or `sigsetsize`, or `nfds` over
    /// `RLIMIT_NOFILE`; `EINTR` when a signal it does not block arrives first.
    pub(super) fn sys_ppoll(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let (ufds, nfds) = (a[0], a[1]);
        let mut pt = self.poll_table(tid);
        let scan = |t: &mut Task, u: &mut dyn UserAccess| {
            let limit = t.signal.lock().rlimits.get(RLIMIT_NOFILE);
            if nfds > limit.map_or(u64::MAX, |l| l.0) {
                return Err(Errno::EINVAL);
            }
            let mut fds = read_pollfds(u, ufds, nfds)?;
            // Queued on every file's wait queue before the scan reads its state.
            for f in &fds {
                if let Some(file) = u32::try_from(f.fd)
                    .ok()
                    .and_then(|fd| t.fs.fds.get(fd).ok())
                {
                    file.poll_wait(&mut pt);
                }
            }
            let count = do_poll_scan(&t.fs.fds, &mut fds);
            Ok((count, nfds == 0, fds, pt))
        };
        let copy_out = |u: &mut dyn UserAccess, fds: Vec<_>| write_revents(u, ufds, &fds);
        self.poll_select(hart, tid, n, a, a[2], |_| Ok((a[3], a[4])), scan, copy_out)
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
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let (nfds, ptrs, sig) = (a[0], [a[1], a[2], a[3]], a[5]);
        // get_sigset_argpack(): the `{ss, ss_len}` pair.
        let mask = |u: &mut dyn UserAccess| {
            if sig == 0 {
                return Ok((0, 0));
            }
            let len_at = sig.checked_add(8).ok_or(Errno::EFAULT)?;
            Ok((u.get_user_u64(sig)?, u.get_user_u64(len_at)?))
        };
        let mut pt = self.poll_table(tid);
        let scan = |t: &mut Task, u: &mut dyn UserAccess| {
            // An `int`: negative is EINVAL; beyond the table it is clamped.
            let nfds = u32::try_from(nfds as i32).map_err(|_| Errno::EINVAL)?;
            let nfds = nfds.min(max_fds(&t.fs.fds));
            let sets = read_fd_sets(u, nfds, ptrs)?;
            // Queued on every file's wait queue before the scan reads its state.
            for fd in 0..nfds {
                let named = sets.sets.iter().flatten().any(|words| {
                    words
                        .get((fd / 64) as usize)
                        .is_some_and(|w| w >> (fd % 64) & 1 != 0)
                });
                if let Some(file) = named.then(|| t.fs.fds.get(fd).ok()).flatten() {
                    file.poll_wait(&mut pt);
                }
            }
            let (count, res) = do_select_scan(&t.fs.fds, nfds, &sets)?;
            Ok((count, nfds == 0, res, pt))
        };
        let copy_out = |u: &mut dyn UserAccess, res| write_fd_sets(u, ptrs, &res);
        self.poll_select(hart, tid, n, a, a[4], mask, scan, copy_out)
    }

    /// The body `ppoll` and `pselect6` share: on the first issue the timeout at `tsp`
    /// and the temporary mask (`mask` reads `(umask, sigsetsize)`); then one `scan`
    /// (`(ready count, no descriptor to watch, result, the watched files' wait
    /// queues)`); the result goes out with
    /// `copy_out` once the call returns other than by a signal.
    #[allow(clippy::too_many_arguments)] // the call, its timeout and its three steps
    fn poll_select<R>(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
        tsp: u64,
        mask: impl FnOnce(&mut dyn UserAccess) -> KResult<(u64, u64)>,
        scan: impl FnOnce(&mut Task, &mut dyn UserAccess) -> KResult<(u64, bool, R, PollTable)>,
        copy_out: impl FnOnce(&mut dyn UserAccess, R) -> KResult<()>,
    ) -> KResult<SyscallOutcome> {
        let deadline = match self.take_blocked_call(tid, n, a) {
            Some(b) => b.deadline,
            None => {
                let (umask, size) = self.with_task_mm(tid, |_, u| mask(u))?;
                self.enter_poll_select(hart, tid, Timeout::Timespec(tsp), umask, size)?
            }
        };
        let (count, no_fds, res, pt) = match self.with_task_mm(tid, scan) {
            Ok(r) => r,
            Err(e) => return self.poll_select_finish(hart, tid, tsp, deadline, Err(e)),
        };
        let sleep = PollSleep {
            deadline,
            count,
            no_fds,
            pt,
            file: None,
        };
        if let Some(stop) = self.poll_select_wait(hart, tid, n, a, tsp, sleep) {
            return stop;
        }
        let r = self
            .with_task_mm(tid, |_, u| copy_out(u, res))
            .map(|()| count);
        self.poll_select_finish(hart, tid, tsp, deadline, r)
    }

    /// The first issue of a `ppoll`/`pselect6`/`epoll_pwait`: the timeout becomes a
    /// deadline (`poll_select_set_timeout()`, `ep_timeout_to_timespec()`: `None` = none,
    /// `Some(0)` = do not sleep), then the temporary mask `(umask, sigsetsize)` is
    /// installed (`set_user_sigmask()`).
    fn enter_poll_select(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        timeout: Timeout,
        umask: u64,
        sigsetsize: u64,
    ) -> KResult<Option<u64>> {
        let (_, now) = self.clock_now(hart);
        self.with_task_mm(tid, |t, u| {
            let ns = match timeout {
                Timeout::Timespec(tsp) => read_timeout(u, tsp)?,
                // A negative timeout waits forever.
                Timeout::Millis(ms) => u64::try_from(ms).ok().map(|ms| ms * 1_000_000),
            };
            let deadline = ns.map(|t| if t == 0 { 0 } else { now.saturating_add(t) });
            if let Some(mask) = read_sigmask(u, umask, sigsetsize)? {
                if t.signals.saved_mask.is_none() {
                    t.signals.saved_mask = Some(t.signals.blocked.get());
                }
                t.signals.blocked.set(mask);
            }
            Ok(deadline)
        })
    }

    /// Whether `deadline` (0: a zero timeout) has passed.
    fn timed_out(&self, hart: &Hart<'_>, deadline: Option<u64>) -> bool {
        deadline.is_some_and(|d| d == 0 || d <= self.clock_now(hart).1)
    }

    /// Whether task `tid` has a pending signal (its own or its group's) that its
    /// (possibly temporary) mask lets through and that is not ignored
    /// (`signal_pending()`).
    pub(super) fn signal_pending(&self, tid: u32) -> bool {
        self.tasks.get(&tid).is_some_and(|t| {
            let shared = t.signal.lock().shared_pending.clone();
            shared
                .iter()
                .chain(&t.pending.snapshot())
                .any(|s| !t.signals.is_blocked(s.signo) && !t.signals.is_ignored(s.signo))
        })
    }

    /// The end of one pass of `do_poll()`/`do_select()` that found `sleep.count` ready:
    /// `None` if the call returns its result now (something is ready, or the deadline
    /// passed); `EINTR` if a signal is pending (`-ERESTARTNOHAND`); otherwise the caller
    /// sleeps with its deadline armed on the watched files' wait queues and the call is
    /// re-issued — when one wakes it, or, with no descriptor to watch (`pause()`), on a
    /// signal or the deadline alone.
    fn poll_select_wait(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
        tsp: u64,
        sleep: PollSleep,
    ) -> Option<KResult<SyscallOutcome>> {
        let PollSleep {
            deadline,
            count,
            no_fds,
            pt,
            file,
        } = sleep;
        if count != 0 || self.timed_out(hart, deadline) {
            return None;
        }
        if self.signal_pending(tid) {
            return Some(self.poll_select_finish(hart, tid, tsp, deadline, Err(Errno::EINTR)));
        }
        if let Some(d) = deadline {
            self.timer_start(tid, d);
        }
        self.set_blocked_call(
            tid,
            BlockedCall {
                nr: n,
                args: a,
                deadline,
                file,
                written: 0,
            },
        );
        if no_fds {
            return Some(Ok(SyscallOutcome::Block(WaitOn::Signal)));
        }
        // Armed during the scan: a wake-up since then ends the sleep at once.
        self.set_io_wait(tid, pt);
        Some(Ok(SyscallOutcome::Block(WaitOn::Io)))
    }

    /// `poll_select_finish()`: the call ends with `r`. Its timer is disarmed; the
    /// temporary mask is restored unless the call was interrupted (a handler runs
    /// first, its `rt_sigreturn` restores it); the time left goes to `tsp` unless the
    /// timeout was zero or absent (`tsp` 0: nowhere to write it, as `epoll_pwait`).
    fn poll_select_finish(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        tsp: u64,
        deadline: Option<u64>,
        r: KResult<u64>,
    ) -> KResult<SyscallOutcome> {
        let (_, now) = self.clock_now(hart);
        self.timer_cancel(tid);
        self.with_task_mm(tid, |t, u| {
            if r != Err(Errno::EINTR) {
                if let Some(m) = t.signals.saved_mask.take() {
                    t.signals.blocked.set(m);
                }
            }
            if let Some(d) = deadline.filter(|&d| d != 0 && tsp != 0) {
                // The time left is written even after success; a fault is ignored
                // (Linux keeps the result then too).
                let _ = write_timespec(u, tsp, d.saturating_sub(now));
            }
            Ok(())
        })?;
        r.map(SyscallOutcome::Return)
    }

    /// `epoll_pwait(epfd, events, maxevents, timeout, sigmask, sigsetsize)` with
    /// `timeout` in ms (negative: forever), and `epoll_pwait2` with a `struct timespec`
    /// pointer there (NULL: forever) (`do_epoll_pwait()` → `do_epoll_wait()` →
    /// `ep_poll()`). The temporary mask is installed first, then the instance is
    /// scanned ([`crate::fs::EventPoll::send_events`], up to `maxevents` 16-byte `struct
    /// epoll_event`s to `events`); with nothing ready the caller sleeps on the
    /// instance's wait queue and every watched file's, and scans again when woken,
    /// holding the instance as `fdget()` does: a `close()` of `epfd` meanwhile does
    /// not end the wait.
    ///
    /// # Errors
    /// `EINVAL` for a bad `sigsetsize` or timeout, `maxevents` <= 0 or over
    /// `EP_MAX_EVENTS`, or an `epfd` that is not an epoll instance; `EBADF`; `EFAULT`
    /// when not even the first event can be written; `EINTR` when a signal it does not
    /// block arrives first (never restarted).
    pub(super) fn sys_epoll_pwait(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let (epfd, events, maxevents) = (a[0] as i32, a[1], a[2] as i32);
        let (deadline, held) = match self.take_blocked_call(tid, n, a) {
            Some(b) => (b.deadline, b.file),
            None => {
                let timeout = if n == nr::SYS_epoll_pwait2 {
                    Timeout::Timespec(a[3])
                } else {
                    Timeout::Millis(a[3] as i32)
                };
                (
                    self.enter_poll_select(hart, tid, timeout, a[4], a[5])?,
                    None,
                )
            }
        };
        let mut pt = self.poll_table(tid);
        let scan = |t: &mut Task, u: &mut dyn UserAccess| {
            let max = u64::try_from(maxevents)
                .ok()
                .filter(|&m| m > 0 && m <= EP_MAX_EVENTS)
                .ok_or(Errno::EINVAL)?;
            // access_ok() of the whole array.
            if events.checked_add(max * EPOLL_EVENT_SIZE).is_none() {
                return Err(Errno::EFAULT);
            }
            // A re-issued wait goes on with the instance it started with, whatever
            // the descriptor is now (fdget()'s hold across ep_poll()'s sleep).
            let file = match held {
                Some(f) => f,
                None => {
                    let fd = u32::try_from(epfd).map_err(|_| Errno::EBADF)?;
                    t.fs.fds.get(fd)?
                }
            };
            let ep = file.epoll().ok_or(Errno::EINVAL)?;
            // Queued before the scan reads the files' state.
            file.poll_wait(&mut pt);
            let (mut at, mut faulted) = (events, false);
            let sent = ep.send_events(max as usize, |ev| {
                faulted = u.copy_to_user(at, &ev.to_bytes()).is_err();
                at += EPOLL_EVENT_SIZE;
                !faulted
            });
            if sent == 0 && faulted {
                return Err(Errno::EFAULT);
            }
            Ok((sent as u64, pt, file))
        };
        let (count, pt, file) = match self.with_task_mm(tid, scan) {
            Ok(r) => r,
            Err(e) => return self.poll_select_finish(hart, tid, 0, deadline, Err(e)),
        };
        let sleep = PollSleep {
            deadline,
            count,
            no_fds: false,
            pt,
            file: Some(file),
        };
        if let Some(stop) = self.poll_select_wait(hart, tid, n, a, 0, sleep) {
            return stop;
        }
        self.poll_select_finish(hart, tid, 0, deadline, Ok(count))
    }

    /// `read`/`write`/`readv`/`writev` of task `tid` through `fdget()`: the descriptor's
    /// file, or, for a re-issued call that slept, the file it held when it started. A
    /// call that sleeps keeps the file and sleeps on its wait queue. A blocking `write`
    /// goes on where it stopped (see the module docs).
    ///
    /// # Errors
    /// `EBADF` for a descriptor not open at the start; the call's.
    pub(super) fn sys_rw_fdget(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let held = self.take_blocked_call(tid, n, a);
        let written = held.as_ref().map_or(0, |b| b.written);
        let held = held.and_then(|b| b.file);
        let (r, want, file) = self.with_task_mm(tid, |t, u| {
            let file = match held {
                Some(f) => f,
                // An `unsigned int fd`.
                None => t.fs.fds.get(a[0] as u32)?,
            };
            // The bytes a write pass is asked for (0 for a vector the pass refuses).
            let want = match n {
                nr::SYS_write => a[2].saturating_sub(written),
                nr::SYS_writev => syscall::fs::import_iovec(u, a[1], a[2])
                    .map_or(0, |segs| segs.iter().map(|s| s.1 as u64).sum::<u64>())
                    .saturating_sub(written),
                _ => 0,
            };
            let mut ctx = FileCtx::current(&t.vfs, u);
            let r = match n {
                nr::SYS_read => syscall::fs::ksys_read(&mut ctx, &file, a[1], a[2]),
                nr::SYS_write => {
                    syscall::fs::ksys_write(&mut ctx, &file, a[1].wrapping_add(written), want)
                }
                nr::SYS_readv => syscall::fs::do_readv(&mut ctx, &file, a[1], a[2]),
                _ => syscall::fs::do_writev_from(&mut ctx, &file, a[1], a[2], written),
            };
            Ok((r, want, file))
        })?;
        let (out, written) = if n == nr::SYS_write || n == nr::SYS_writev {
            match self.pipe_write_loop(hart, tid, &file, want, written, r) {
                Some(done) => return done.map(SyscallOutcome::Return),
                None => (SyscallOutcome::Block(WaitOn::Io), written + r.unwrap_or(0)),
            }
        } else {
            (syscall::ret_io(r)?, 0)
        };
        if matches!(out, SyscallOutcome::Block(_)) {
            let mut pt = PollTable::default();
            file.poll_wait(&mut pt);
            self.io_wait(tid, pt, true);
            let reading = n == nr::SYS_read || n == nr::SYS_readv;
            if self.hold_io_call(tid, (n, a), file, written, reading) {
                return Ok(SyscallOutcome::Restart);
            }
        }
        Ok(out)
    }

    /// `pipe_write()`'s loop around one pass `r` of a `write`/`writev` asked for `want`
    /// bytes, `written` having gone in before: `Some(result)` if the call returns now, `None` if it
    /// sleeps until there is room. A short pass on a blocking file that is full and
    /// still has readers sleeps (every byte is written before a blocking write returns);
    /// with bytes written before, an error ends the call with their count, `EPIPE`
    /// after sending `SIGPIPE`. An error with nothing written is the call's
    /// (`EPIPE`'s `SIGPIPE` is then sent by [`Kernel::sigpipe_on_epipe`]).
    fn pipe_write_loop(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        file: &OpenFile,
        want: u64,
        written: u64,
        r: crate::fs::IoResult<u64>,
    ) -> Option<KResult<u64>> {
        let total = written.saturating_add(*r.as_ref().unwrap_or(&0));
        match r {
            Ok(now) if write_pass_sleeps(file, now, want) => None,
            Ok(_) => Some(Ok(total)),
            Err(IoError::WouldBlock(_)) => None,
            Err(IoError::Errno(e)) if written == 0 => Some(Err(e)),
            Err(IoError::Errno(e)) => {
                if e == Errno::EPIPE {
                    self.send_sigpipe(hart, tid);
                }
                Some(Ok(written))
            }
        }
    }

    /// Finishes, under the kernel lock, the pipe `read`/`write` of task `tid` (live in
    /// `hart`, the call counted: [`Kernel::finish_unlocked_sleep`]) that a hart served
    /// without it up to the point where it must wait ([`IoSleep`]: queued on its pipe's
    /// wait queue, holding its file, with the count it wrote): a signal pending since
    /// ends it as a signal would have (`EINTR`, or the count written); otherwise it
    /// keeps its file and count for its re-issue ([`BlockedCall`]) and — the pipe still
    /// not ready (`prepare_to_wait_event()`'s check after the queueing) — sleeps
    /// ([`Kernel::block`], whose park sees a wake-up that came meanwhile); ready, it is
    /// re-issued at once.
    pub(super) fn io_sleep_block(&mut self, hart: &mut Hart<'_>, tid: u32, sleep: IoSleep) {
        let (n, a) = syscall::args(hart);
        let IoSleep {
            file,
            pt,
            written,
            reading,
        } = sleep;
        if self.signal_pending(tid) {
            hart.x[10] = if written > 0 {
                written
            } else {
                Errno::EINTR.as_return()
            };
            hart.pc = hart.pc.wrapping_add(4);
        } else {
            self.set_io_wait(tid, pt);
            if !self.hold_io_call(tid, (n, a), file, written, reading) {
                self.block(tid, WaitOn::Io, hart);
            }
        }
    }

    /// A pipe `read`/`write` of task `tid` (call `n` with args `a`, `written` bytes in
    /// so far), its sleep queued on the pipe ([`super::SleepingCall::io_wait`]), keeps its file and
    /// count for its re-issue ([`BlockedCall`]); then `prepare_to_wait_event()`'s
    /// condition once more: a waker on another hart (without the kernel lock) that
    /// changed it since the pass found no sleeper to wake. Returns `true`, the sleep
    /// ended, if the pipe is ready (`reading`: for a read) — the call is re-issued at
    /// once; `false` if the task must sleep.
    fn hold_io_call(
        &mut self,
        tid: u32,
        (n, a): (u64, [u64; 6]),
        file: Arc<OpenFile>,
        written: u64,
        reading: bool,
    ) -> bool {
        let ready = file_ready(&file, reading);
        self.set_blocked_call(
            tid,
            BlockedCall {
                nr: n,
                args: a,
                deadline: None,
                file: Some(file),
                written,
            },
        );
        if ready {
            self.io_wait_end(tid, true);
        }
        ready
    }

    /// The value a sleeping call of task `tid` returns when a signal interrupts it:
    /// the count of a `write` that wrote part of its bytes, `EINTR` otherwise.
    pub(super) fn interrupted_return(&self, tid: u32) -> u64 {
        match self.with_call(tid, |c| c.blocked.as_ref().map_or(0, |b| b.written)) {
            Some(written) if written > 0 => written,
            _ => Errno::EINTR.as_return(),
        }
    }

    /// A call of task `tid` that did not name the wait queues it sleeps on sleeps on
    /// those of descriptor `fd` (`vmsplice` on a full pipe, exclusively as
    /// `pipe_wait_writable()`; a `read` of an eventfd or a userfaultfd). Returns `true`
    /// if, once queued, the file is found ready after all (`reading`: for a read; a
    /// reader on another hart made room, a fault was queued): the call is then re-issued
    /// instead of sleeping.
    pub(super) fn io_wait_on_fd(&mut self, tid: u32, fd: u64, reading: bool) -> bool {
        let mut pt = PollTable::default();
        let file = u32::try_from(fd)
            .ok()
            .and_then(|fd| self.tasks.get(&tid)?.fs.fds.get(fd).ok());
        if let Some(file) = &file {
            file.poll_wait(&mut pt);
        }
        self.io_wait(tid, pt, true);
        let ready = file.is_some_and(|f| file_ready(&f, reading));
        if ready {
            self.io_wait_end(tid, true);
        }
        ready
    }

    /// A write-side call of task `tid` ended with `EPIPE`: the task gets `SIGPIPE`
    /// (`send_sig(SIGPIPE, current, 0)`: `SI_USER` from its own process); an ignored one
    /// is dropped by [`Kernel::send_signal`] and only `EPIPE` remains.
    pub(super) fn sigpipe_on_epipe(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
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
        self.send_sigpipe(hart, tid);
    }

    /// `send_sig(SIGPIPE, current, 0)` to task `tid`: `SI_USER` from its own process.
    pub(super) fn send_sigpipe(&mut self, hart: &mut Hart<'_>, tid: u32) {
        let Some(tgid) = self.group_of(tid) else {
            return;
        };
        let info = SigInfo {
            signo: SIGPIPE,
            code: SI_USER,
            addr: u64::from(tgid),
            status: 0,
        };
        self.send_signal(hart, tgid, Some(tid), info);
    }
}

/// Whether `file` is ready for the call that would sleep on it: for reading
/// (`read_end`) data or a hang-up (`POLLIN`, `POLLHUP`), for writing room or an error
/// (`POLLOUT`, `POLLERR`) — `pipe_readable()`/`pipe_writable()`.
pub(super) fn file_ready(file: &OpenFile, read_end: bool) -> bool {
    file.io_ready(read_end)
}

/// What one `do_poll()`/`do_select()` pass found, for [`Kernel::poll_select_wait`].
struct PollSleep {
    /// The call's CLOCK_MONOTONIC deadline in ns (`None`: no timeout; 0: do not sleep).
    deadline: Option<u64>,
    /// Descriptors found ready.
    count: u64,
    /// No descriptor to watch (`pause()`).
    no_fds: bool,
    /// The wait queues of the watched files.
    pt: PollTable,
    /// `epoll_pwait`: the instance `fdget()` took, held across the sleep.
    file: Option<Arc<OpenFile>>,
}
