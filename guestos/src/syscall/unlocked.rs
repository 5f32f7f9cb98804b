//! The file and identity system calls a hart serves without the kernel lock, holding only
//! the locks their state needs, as Linux serves every call: the descriptor table
//! (`files->file_lock`, [`crate::fs::FilesStruct`]), the open file description's
//! position lock (`f_pos_lock`), the inode's and page cache's locks, the `fs_struct`,
//! the thread group's `siglock`, and the caller's `mmap_lock` read side for each access
//! to its memory (`copy_to_user()`, see [`crate::mm::MmStruct::uaccess`]).
//!
//! Served here ([`file_call`]), the calls that neither block nor wake or schedule other
//! tasks, and only on files that cannot make them do so:
//!
//! | calls | served here when |
//! |---|---|
//! | `read`, `write`, `pread64`, `pwrite64`, `readv`, `writev`, `lseek`, `getdents64` | the descriptor is a VFS file ([`FileTarget::Inode`]: tmpfs regular files, directories, `/dev/null`, `/dev/zero`, `/dev/urandom`) or a host stream ([`FileTarget::Host`]: stdin, stdout, stderr, under the stream's own lock; a host read or write may block the hart's host thread, and only it; a write that finds the host's reader gone returns `EPIPE` and the hart goes on to the kernel lock, which sends the task `SIGPIPE`); `lseek` also on a pipe (`ESPIPE`) |
//! | `openat` | the path does not lead to a kernel-served file (`/proc/<pid>/mem`…, whose `->open` needs the task table): that is found out before the open has any effect, and the call is then left to the kernel lock |
//! | `close`, `dup3` | always; a VFS file's or a pipe end's release runs here (a pipe end's wakes the other end's sleepers through the pipe's wait queues, from this hart); that of a kernel-served file or a host stream is deferred to the kernel lock, as Linux defers the final `fput()` to `task_work` on the way back to user mode |
//! | `mmap` of a file | the descriptor is a VFS file (tmpfs, memfd); the anonymous one is the kernel's [`super::mm_call`], served without the kernel lock too |
//! | the calls of [`super::vfs_call`]: the path calls (`unlinkat`, `mkdirat`, `renameat2`, `linkat`, `symlinkat`, `mknodat`, `fchmod*`, `fchown*`, `utimensat`, `faccessat*`, `readlinkat`, `chdir`), `fstat`, `newfstatat`, `statx`, `getcwd`, `umask`, `dup`, `fcntl`, `pipe2`, `memfd_create`, `sync`, `syncfs`, `fchdir`, `fadvise64`, `readahead`, `statfs`, `fstatfs`, `uname`, and the credential reads (`getuid`, `geteuid`, `getgid`, `getegid`, `getresuid`, `getresgid`, `getgroups`) | always |
//! | `set_tid_address`, `set_robust_list` ([`super::task_call`]) | always: the task's own user pointers ([`crate::process::UserPtrs`], shared with its entry) |
//! | `rt_sigprocmask`, `rt_sigpending` | always: the task's own blocked mask ([`crate::signal::SigMask`], shared with the task's entry) and the summaries of its queues; a mask that unblocks a queued signal sends the hart on to the kernel lock, which delivers it (`TIF_SIGPENDING`, [`Current::take_sigpending`]) |
//! | `read`, `write`, `pread64`, `pwrite64`, `readv`, `writev`, `lseek`, and the file's own `ioctl` commands, of a kernel-served file ([`FileTarget::Kernel`]) | its operations need only the caller's own parts ([`crate::fs::FileOperations::needs_tasks`] `false`: `/sys/kernel/debug/gup_test`, on `current->mm`, its log to the caller's stderr; `/proc/<pid>/pagemap`, `maps`, `smaps` and `smaps_rollup`, on the address space their open bound; [`crate::fs::CallerParts`]): served as the kernel lock serves them ([`super::kfile::serve_in`]), a fast benchmark's lockless walks right here rather than handed to the hart ([`crate::percpu::already_unlocked`]). The other procfs files look the task up at each call (`mem`'s resumable GUP, `clear_refs` on the task's current address space, `status`, `stat`): the kernel lock's |
//! | `rt_sigaction` | the handlers ([`crate::signal::SigHand`], shared by the threads of `CLONE_SIGHAND`) behind their own lock; an action that ignores the signal (`sig_handler_ignored()`) also discards its queued instances from the process's queue and every thread's (`do_sigaction()`'s `flush_sigqueue_mask()`): served when the caller is its group's only thread, else left to the kernel lock, which reaches the other threads' queues |
//! | `sigaltstack`, `rt_sigreturn` (in `kernel.rs`'s `unlocked_syscall`, which has the registers) | always, but a frame `rt_sigreturn` cannot read or that is malformed (the kernel lock's `badframe` path forces `SIGSEGV`): the task's own alternate stack ([`crate::signal::SigAltStack`], shared with its entry, which delivery reads) and mask, and its registers on the hart; a restored mask that leaves a queued signal open sends the hart on to the kernel lock, as above |
//! | the calls of [`super::group_call`]: `getpid`, `gettid`, `getppid`, `times`, `sched_get_priority_max`, `sched_get_priority_min`, `prlimit64` (the caller's process), `getrlimit`, `setrlimit`, `sysinfo`, `getrusage`, `membarrier`, `clock_gettime`, `clock_getres`, `gettimeofday`, `getrandom` | always |
//!
//! And [`futex_call`]: `futex` under the futex hash buckets' locks
//! ([`crate::futex::FutexHash`]) — every `FUTEX_WAKE`, `FUTEX_WAKE_BITSET`,
//! `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE`, and a `FUTEX_WAIT`/`FUTEX_WAIT_BITSET` that does
//! not sleep (`EAGAIN`, `ETIMEDOUT`, `EFAULT`, `EINVAL`); a wait that must sleep is
//! queued on its bucket here and handed to the kernel lock, which puts the task to sleep
//! unless a waker took the waiter meanwhile. The waiters a wake took are handed back to
//! the kernel (`wake_up_q()`, under its lock while the woken task's state is there) through its
//! lock-free wake list, without waiting for the lock (`kernel/ttwu.rs`).
//!
//! And [`pipe_call`]: `read`, `write`, `readv`, `writev` of a pipe, under the pipe's
//! lock (`pipe->mutex`); the wake-ups they make (data in an empty pipe, room in a full
//! one, the next reader or writer) go through the pipe's wait queues straight to the
//! sleepers' run queues ([`crate::fs::WaitQueueHead`]). One that must wait is queued,
//! exclusively, on its pipe end's wait queue here (`prepare_to_wait_event()`) and put to
//! sleep on this hart too ([`IoSleep`], `kernel/switch.rs`), unless the pipe is ready by
//! then or something else needs the kernel lock, which then blocks it; the handshake of
//! [`crate::fs::WaitTask`] sees a wake-up that came meanwhile. Woken, the call is
//! re-issued with the file it took and the bytes it wrote (`fdget()`'s hold,
//! `pipe_write()`'s count). A write that finds no reader returns `EPIPE` (or its count
//! so far) and owes `SIGPIPE`, which the kernel lock sends.
//!
//! A FIFO, a kernel-served file, a host stream's `ioctl` and `poll`, a futex wait's sleep, sending and delivering signals and everything that
//! touches the scheduler or another task stay with the kernel lock: [`file_call`]
//! answers `None` for them having done nothing, and the kernel re-issues the call
//! under its lock. So does a task whose previous call sleeps holding its file under the
//! kernel lock (`fdget()`'s hold of a blocked `read`/`write`: the kernel's
//! `BlockedCall`), which the caller checks when it captures [`Current`], and any
//! re-issue other than a pipe call's.
//!
//! The results are those of the same calls under the kernel lock: the same functions
//! of [`super::fs`] and [`super::misc`] run, on the same shared parts.

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::{
    FileCtx, FileTarget, HostStreams, IoError, IoResult, OpenFile, PollTable, ProcessFs, TaskWaker,
    Vfs, WaitTask, O_NONBLOCK,
};
use crate::futex::{self, FutexCaller, FutexHash, FutexRet, FutexSleep, WakeList};
use crate::mm::{MappedFile, MmStruct};
use crate::process::{SignalStruct, Task, UserPtrs};
use crate::signal::{restore_sigframe, SigAltStack, SigHand, SigMask, SigQueue};
use crate::syscall::misc::TimeSource;
use crate::syscall::{fs, nr::*};
use crate::uaccess::UserAccess;
use emu::UserContext;

/// What a hart keeps of the task it runs (`current`) to serve [`file_call`]'s calls:
/// the task's handles on its shared parts, captured under the kernel lock when the task
/// is switched in ([`Current::of`]).
#[derive(Debug)]
pub struct Current {
    /// `current->files` and `current->fs` (shared with the task), with its credentials
    /// and executable path (copies: only `execve` changes them, under the kernel lock,
    /// and the hart captures them again for the task's next time slice).
    fs: ProcessFs,
    /// The VFS.
    vfs: Arc<Vfs>,
    /// The thread group (`current->signal`): parent, threads, `AT_RANDOM`'s generator.
    signal: Arc<SignalStruct>,
    tid: u32,
    tgid: u32,
    time: TimeSource,
    /// The task's blocked mask (`current->blocked`: the task's own cell, shared).
    blocked: SigMask,
    /// The task's alternate signal stack (`current->sas_ss_*`: its own cell, shared).
    altstack: SigAltStack,
    /// The handlers (`current->sighand`), shared with the task and the threads of
    /// `CLONE_SIGHAND`, behind their own lock (`siglock`'s part for the dispositions).
    sighand: Arc<SigHand>,
    /// The task's own signal queue (`current->pending`, shared with its entry).
    pending: SigQueue,
    /// `TIF_RESTORE_SIGMASK`: `rt_sigsuspend` saved a mask that the next delivery must
    /// put in the frame (kept with the task's entry): such a delivery is the kernel
    /// lock's.
    saved_mask: bool,
    /// The `rt_sigreturn` trampoline a handler returns to.
    sigreturn_trampoline: u64,
    /// The host streams behind fds 0-2 (the kernel log of `gup_test` goes to stderr).
    stdio: Arc<HostStreams>,
    /// The user pointers the task registers for itself (shared with its entry).
    user_ptrs: Arc<UserPtrs>,
    /// `TIF_SIGPENDING` as `recalc_sigpending()` sets it: a call here unblocked a signal
    /// that waits on a queue, and the kernel lock must deliver it on the way back to
    /// user mode ([`Current::take_sigpending`]).
    sigpending: bool,
    /// A write here to a host stream failed with `EPIPE`: the task is owed `SIGPIPE`,
    /// which the kernel lock sends ([`Current::take_sigpipe`]).
    sigpipe: bool,
}

impl Current {
    /// The handles of `task`, for its time slice on this hart.
    pub fn of(task: &Task) -> Current {
        Current {
            fs: task.fs.copy(true, true),
            vfs: Arc::clone(&task.vfs),
            signal: Arc::clone(&task.signal),
            tid: task.tid,
            tgid: task.tgid,
            time: task.time,
            blocked: task.signals.blocked.share(),
            altstack: task.signals.altstack.share(),
            sighand: Arc::clone(task.signals.sighand()),
            pending: task.pending.share(),
            saved_mask: task.signals.saved_mask.is_some(),
            sigreturn_trampoline: task.sigreturn_trampoline,
            stdio: Arc::clone(&task.stdio),
            user_ptrs: Arc::clone(&task.user_ptrs),
            sigpending: false,
            sigpipe: false,
        }
    }

    /// Whether a write served here owes the task `SIGPIPE` (a host stream's reader went
    /// away), which the kernel lock then sends; the flag is cleared.
    pub fn take_sigpipe(&mut self) -> bool {
        std::mem::take(&mut self.sigpipe)
    }

    /// Whether a write served here owes the task `SIGPIPE` (left set).
    pub fn sigpipe_owed(&self) -> bool {
        self.sigpipe
    }

    /// Whether a call served here unblocked a queued signal (`TIF_SIGPENDING`), which
    /// the kernel lock then delivers; the flag is cleared.
    pub fn take_sigpending(&mut self) -> bool {
        std::mem::take(&mut self.sigpending)
    }

    /// The signals queued for the task, on its own queue or its process's.
    fn queued_signals(&self) -> u64 {
        self.pending.set() | self.signal.shared_pending_set()
    }

    /// `signal_pending()` as the task's hart sees it without the kernel lock: a signal
    /// on its own queue or its process's that it does not block (SIGKILL is never
    /// blocked). Ignored signals count too (the kernel lock drops them): a `true` only
    /// sends the hart to the kernel lock.
    pub fn signal_pending(&self) -> bool {
        let kill = 1u64 << (crate::signal::SIGKILL - 1);
        self.queued_signals() & !(self.blocked.get() & !kill) != 0
    }

    /// `sigaltstack(ss, old_ss)` at user stack pointer `sp`, on the task's own cell
    /// ([`SigAltStack::sys_sigaltstack`]).
    ///
    /// # Errors
    /// As [`SigAltStack::sys_sigaltstack`].
    pub fn sigaltstack(&self, mm: &MmStruct, ss: u64, old: u64, sp: u64) -> KResult<u64> {
        let mut user: &MmStruct = mm.uaccess();
        self.altstack.sys_sigaltstack(&mut user, ss, old, sp)
    }

    /// `rt_sigreturn` of the task whose user registers are `ctx`
    /// ([`crate::signal::restore_sigframe`] on the task's own mask and alternate stack):
    /// `true`, `ctx` restored, if the frame was good; the mask it restores may unblock a
    /// queued signal, which the kernel lock then delivers (`set_current_blocked()`'s
    /// `recalc_sigpending()`, [`Current::take_sigpending`]). `false`, nothing changed,
    /// for a bad frame: the kernel lock's `badframe` path forces `SIGSEGV`.
    pub fn rt_sigreturn(&mut self, mm: &MmStruct, ctx: &mut UserContext) -> bool {
        let mut user: &MmStruct = mm.uaccess();
        let mut restored = ctx.clone();
        if restore_sigframe(&mut user, &mut restored, &self.blocked, &self.altstack).is_err() {
            return false;
        }
        *ctx = restored;
        self.sigpending |= self.signal_pending();
        true
    }

    /// `kill`, `tkill` or `tgkill` (`nr`, arguments `a`) by which the task signals itself
    /// or its own process, served here when the kernel lock has nothing to do for it
    /// (`Some(result)`): the signal is dropped (ignored and not blocked, as
    /// `sig_ignored()`), or queued — on the task's own queue for `tkill`/`tgkill`, on
    /// the process's for `kill` (`__send_signal_locked()`, `legacy_queue()`'s rule) —
    /// and, if the task does not block it, delivered on the way back to user mode
    /// ([`Current::deliver_handled`], `signal_wake_up()` of `current` being nothing but
    /// `TIF_SIGPENDING`). `None`, having done nothing, for any other target, a stop or
    /// continue signal or `SIGKILL` (group effects), a default action that is not to
    /// ignore (the task dies), a process-directed signal this thread blocks while others
    /// may take it (`complete_signal()` picks one), or a group already exiting.
    ///
    /// # Errors
    /// As the kernel lock's `kill`: `EINVAL` for a non-positive id of `tkill`/`tgkill`
    /// or a bad signal number, `ESRCH` for `tgkill` naming this tid in another group.
    #[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
    pub fn send_self(&mut self, nr: u64, a: [u64; 6]) -> Option<KResult<u64>> {
        use crate::signal::{SigInfo, SIGCONT, SIGKILL, SIG_DFL, SI_TKILL, SI_USER, STOP_SIGNALS};
        let sig = match nr {
            SYS_tgkill => a[2],
            _ => a[1],
        } as u32 as i32 as i64 as u64;
        let (tid, tgid) = (self.tid as i32, self.tgid as i32);
        let shared = match nr {
            SYS_tkill | SYS_tgkill => {
                let (group, target) = match nr {
                    SYS_tkill => (None, a[0] as i64 as i32),
                    _ => (Some(a[0] as i64 as i32), a[1] as i64 as i32),
                };
                if target <= 0 || group.is_some_and(|g| g <= 0) {
                    return Some(Err(Errno::EINVAL));
                }
                if target != tid {
                    return None;
                }
                if group.is_some_and(|g| g != tgid) {
                    return Some(Err(Errno::ESRCH));
                }
                false
            }
            SYS_kill if a[0] as u32 as i32 == tgid || a[0] as u32 as i32 == tid => true,
            _ => return None,
        };
        if self.signal.lock().group_exit.is_some() {
            return None;
        }
        if !crate::signal::valid_signal(sig) {
            return Some(Err(Errno::EINVAL));
        }
        if sig == 0 {
            return Some(Ok(0));
        }
        let signo = sig as u8;
        if matches!(signo, SIGKILL | SIGCONT) || STOP_SIGNALS.contains(&signo) {
            return None;
        }
        let handler = self.sighand.action(signo).handler;
        let blocked = self.blocked.is_blocked(signo);
        if !blocked && crate::signal::ignores(sig, handler) {
            return Some(Ok(0));
        }
        if !blocked && handler == SIG_DFL {
            return None;
        }
        let info = SigInfo {
            signo,
            code: if shared { SI_USER } else { SI_TKILL },
            addr: u64::from(self.tgid),
            status: 0,
        };
        if shared {
            let mut g = self.signal.lock();
            if blocked && g.threads.len() > 1 {
                return None;
            }
            crate::signal::queue_signal(&mut g.shared_pending, info);
        } else {
            self.pending.push(info);
        }
        self.sigpending |= !blocked;
        Some(Ok(0))
    }

    /// Delivers the task's first deliverable signal (`get_signal()`'s `dequeue_signal()`:
    /// its own queue first, then its process's) to its handler, here, without the kernel
    /// lock (`handle_signal()`: [`crate::signal::push_rt_frame`] on the task's own mask,
    /// alternate stack and handlers, `ctx` being its user registers). Only a signal with a
    /// handler is taken; anything else — no handler (the default action or ignoring it,
    /// which may end the process or stop it), a mask `rt_sigsuspend` saved, a frame that
    /// cannot be written (the signal is put back: `force_sigsegv()` is the kernel lock's)
    /// — is left to the kernel lock ([`Delivery::Kernel`]).
    pub fn deliver_handled(&mut self, mm: &MmStruct, ctx: &mut UserContext) -> Delivery {
        use crate::signal::{sigmask, SigInfo, SIGKILL};
        if self.saved_mask {
            return Delivery::Kernel;
        }
        let actions = self.sighand.snapshot();
        let blocked = self.blocked.get();
        let deliverable = |s: &SigInfo| s.signo == SIGKILL || blocked & sigmask(s.signo) == 0;
        let action = |s: &SigInfo| actions[usize::from(s.signo.wrapping_sub(1) & 63)];
        let handled = |s: &SigInfo| s.signo != SIGKILL && action(s).has_handler();
        let (info, own) = match self.pending.take_first_if(deliverable, handled) {
            Ok(Some(info)) => (info, true),
            Err(_) => return Delivery::Kernel,
            Ok(None) => {
                let mut g = self.signal.lock();
                let Some(i) = g.shared_pending.iter().position(deliverable) else {
                    return Delivery::Nothing;
                };
                if !handled(&g.shared_pending[i]) {
                    return Delivery::Kernel;
                }
                (g.shared_pending.remove(i), false)
            }
        };
        if self.push_frame(mm, ctx, &info, &action(&info)).is_err() {
            if own {
                self.pending.push_front(info);
            } else {
                self.signal.lock().shared_pending.insert(0, info);
            }
            return Delivery::Kernel;
        }
        Delivery::Delivered
    }

    /// `force_sig_fault()` of the signal `info` a user fault of the task raised, to its
    /// handler, here (`handle_signal()` at once, as the kernel lock's does): `true`, its
    /// frame pushed and `ctx` (the task's user registers) sent to the handler, if the
    /// task has a handler for it and does not block it. `false`, nothing done, for the
    /// kernel lock to force it (the default action, which ends the process; a blocked or
    /// ignored fault signal, which cannot be; a frame that cannot be written).
    pub fn force_sig_fault(
        &self,
        mm: &MmStruct,
        ctx: &mut UserContext,
        info: &crate::signal::SigInfo,
    ) -> bool {
        let act = self.sighand.action(info.signo);
        if !act.has_handler() || self.blocked.is_blocked(info.signo) {
            return false;
        }
        self.push_frame(mm, ctx, info, &act).is_ok()
    }

    /// `setup_rt_frame()` of `info` for handler `act` on the task's own state: the frame
    /// on its stack, `ctx` redirected; nothing changed on error.
    ///
    /// # Errors
    /// `EFAULT`: the frame cannot be written.
    fn push_frame(
        &self,
        mm: &MmStruct,
        ctx: &mut UserContext,
        info: &crate::signal::SigInfo,
        act: &crate::signal::SigAction,
    ) -> KResult<()> {
        let state = crate::signal::FrameState {
            blocked: &self.blocked,
            altstack: &self.altstack,
            sighand: &self.sighand,
            saved_mask: None,
        };
        let mut user: &MmStruct = mm.uaccess();
        let tramp = self.sigreturn_trampoline;
        crate::signal::push_rt_frame(&mut user, ctx, &state, info, act, tramp)
    }

    /// The task's tid.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// The guest's clocks `(CLOCK_REALTIME, CLOCK_MONOTONIC)` in ns, as `clock_gettime`
    /// reads them here at `cpu_ns` of its hart's modelled time.
    pub fn now(&self, cpu_ns: u64) -> (u64, u64) {
        self.time.now(cpu_ns)
    }
}

/// What [`Current::deliver_handled`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A signal's frame is pushed: the registers go to its handler.
    Delivered,
    /// No signal the task does not block is queued.
    Nothing,
    /// The first deliverable signal is the kernel lock's to deliver (left queued).
    Kernel,
}

/// Whether `file` is one whose `read`/`write`/`llseek`/`getdents` neither blocks nor
/// wakes another task: a VFS file (tmpfs regular file, directory, character device).
fn lock_free_file(file: &OpenFile) -> bool {
    matches!(file.target(), FileTarget::Inode(_))
}

/// Whether `file`'s `read`/`write` (and their vectored, positioned forms, `llseek`,
/// `getdents64`) are served without the kernel lock: a [`lock_free_file`], or a host
/// stream — whose reads and writes go to the host under the stream's own lock and may
/// block the hart's host thread there, as a Linux task blocks in a tty's
/// `n_tty_read()` or a pipe's write, without stopping other CPUs (under the kernel lock
/// a `read` of stdin waiting for the host stopped every hart's next kernel entry).
fn lock_free_rw_file(file: &OpenFile) -> bool {
    lock_free_file(file) || matches!(file.target(), FileTarget::Host(_))
}

/// The open description of descriptor `fd` (an `unsigned int`) if it is a
/// [`lock_free_rw_file`]: `Some(Ok(file))`; `Some(Err(EBADF))` for a descriptor that is
/// not open (the answer under the kernel lock too); `None` for any other file.
fn lock_free_fd(cur: &Current, fd: u64) -> Option<KResult<Arc<OpenFile>>> {
    match cur.fs.fds.get(fd as u32) {
        Ok(f) if lock_free_rw_file(&f) => Some(Ok(f)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

/// The open description of descriptor `fd` (an `unsigned int`) if it is a pipe end.
fn pipe_fd(fs: &ProcessFs, fd: u64) -> Option<Arc<OpenFile>> {
    let file = fs.fds.get(fd as u32).ok()?;
    matches!(file.target(), FileTarget::Pipe(_)).then_some(file)
}

/// A read or write's result: a VFS file never reports that it would block.
fn io(r: IoResult<u64>) -> KResult<u64> {
    match r {
        Ok(n) => Ok(n),
        Err(IoError::Errno(e)) => Err(e),
        Err(IoError::WouldBlock(_)) => Err(Errno::EAGAIN),
    }
}

/// Serves system call `nr` with arguments `a` of the task `cur` describes, whose address
/// space is `mm`, without the kernel lock, if it is one of the calls this module serves
/// (see the module docs): `Some(result)`. `None`, having done nothing, for any other
/// call or file: the kernel serves it under its lock. `cpu_ns` is its hart's modelled
/// cycles at the nominal clock (the virtual clock's time), `cputime` the caller's and
/// its group's CPU time (for the CPU-time clocks and `getrusage`).
/// Descriptions that `close`/`dup3` took out of the table and that are not VFS files go
/// to `deferred_fput`, for the kernel to release under its lock.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub(crate) fn file_call(
    cur: &mut Current,
    mm: &MmStruct,
    cpu_ns: u64,
    cputime: &dyn super::misc::CpuTimes,
    nr: u64,
    a: [u64; 6],
    deferred_fput: &mut Vec<Arc<OpenFile>>,
) -> Option<KResult<u64>> {
    let mut user: &MmStruct = mm.uaccess();
    let u: &mut dyn UserAccess = &mut user;
    let vfs = &*cur.vfs;
    let rw = |cur: &Current, u: &mut dyn UserAccess| {
        let file = match lock_free_fd(cur, a[0])? {
            Ok(f) => f,
            Err(e) => return Some((Err(e), false)),
        };
        let ctx = &mut FileCtx::current(vfs, u);
        let r = match nr {
            SYS_read => io(fs::ksys_read(ctx, &file, a[1], a[2])),
            SYS_write => io(fs::ksys_write(ctx, &file, a[1], a[2])),
            SYS_readv => io(fs::do_readv(ctx, &file, a[1], a[2])),
            SYS_writev => io(fs::do_writev(ctx, &file, a[1], a[2])),
            SYS_pread64 => fs::ksys_pread64(ctx, &file, a[1], a[2], a[3]),
            SYS_pwrite64 => fs::ksys_pwrite64(ctx, &file, a[1], a[2], a[3]),
            SYS_lseek => file.seek(a[1] as i64, a[2] as u32),
            _ => fs::getdents64(vfs, u, &file, a[1], a[2]),
        };
        // A write to a host stream whose reader went away: `send_sig(SIGPIPE, current)`
        // is owed (`pipe_write()`'s), which the kernel lock sends.
        let writes = matches!(nr, SYS_write | SYS_writev | SYS_pwrite64);
        let sigpipe = writes && r == Err(Errno::EPIPE);
        Some((r, sigpipe))
    };
    // A pipe's `llseek` (`no_llseek`: ESPIPE) has nothing to wait for either.
    if let Some(file) = (nr == SYS_lseek).then(|| pipe_fd(&cur.fs, a[0])).flatten() {
        return Some(file.seek(a[1] as i64, a[2] as u32));
    }
    let p = &mut cur.fs;
    Some(match nr {
        // ksys_pread64()/ksys_pwrite64(): a negative offset is refused before the fd.
        SYS_pread64 | SYS_pwrite64 if (a[3] as i64) < 0 => Err(Errno::EINVAL),
        SYS_read | SYS_write | SYS_readv | SYS_writev | SYS_pread64 | SYS_pwrite64 | SYS_lseek
        | SYS_getdents64 => {
            // Not a VFS file or host stream: maybe a kernel-served file whose operations
            // need only the caller's own parts (gup_test, pagemap), as the kernel lock
            // serves it.
            let Some((r, sigpipe)) = rw(cur, u) else {
                return kernel_file_call(cur, mm, u, nr, a);
            };
            cur.sigpipe |= sigpipe;
            return Some(r);
        }
        // Only a kernel-served file's own commands are served here.
        SYS_ioctl => return kernel_file_call(cur, mm, u, nr, a),
        SYS_openat => return fs::do_openat(p, vfs, u, a[0], a[1], a[2], a[3], false),
        SYS_close => fs::close_fd(p, a[0]).map(|f| {
            fput(f, deferred_fput);
            0
        }),
        SYS_dup3 => fs::do_dup3(p, a[0], a[1], a[2]).map(|(fd, old)| {
            if let Some(f) = old {
                fput(f, deferred_fput);
            }
            fd
        }),
        // sigprocmask() and recalc_sigpending(): the task's own mask, which only it
        // changes. A signal the new mask unblocks that waits on a queue is the kernel
        // lock's to deliver; one queued from now on comes with a kick of this hart (its
        // sender reads the new mask, or finds the task running and kicks it anyway).
        SYS_rt_sigprocmask => {
            let old = cur.blocked.get();
            let r = cur.blocked.sys_rt_sigprocmask(u, a[0], a[1], a[2], a[3]);
            let unblocked = old & !cur.blocked.get();
            if unblocked != 0 && cur.queued_signals() & unblocked != 0 {
                cur.sigpending = true;
            }
            r
        }
        // do_sigaction() under the handlers' lock. An action that makes the signal
        // ignored also discards its pending instances from the process's queue and every
        // thread's (flush_sigqueue_mask()): here when the caller is its group's only
        // thread; the other threads' queues are the kernel lock's to reach, and that call
        // is left to it, having done nothing.
        SYS_rt_sigaction => {
            let handler = (a[1] != 0).then(|| u.get_user_u64(a[1]).ok()).flatten();
            let ignoring = handler.is_some_and(|h| crate::signal::ignores(a[0], h));
            if ignoring && cur.signal.threads().len() > 1 {
                return None;
            }
            let r = cur.sighand.sys_rt_sigaction(u, a[0], a[1], a[2], a[3]);
            if ignoring && r.is_ok() {
                let keep = |s: &crate::signal::SigInfo| u64::from(s.signo) != a[0];
                cur.signal.lock().shared_pending.retain(keep);
                cur.pending.retain(keep);
            }
            r
        }
        SYS_rt_sigpending => {
            let queued = cur.queued_signals();
            crate::signal::sys_rt_sigpending(u, a[0], a[1], cur.blocked.get(), queued)
        }
        // mmap() of a VFS file (tmpfs, memfd): the file's ->mmap and the VMA under the
        // write side; the anonymous one is the kernel's `mm_call`, served before this.
        SYS_mmap => {
            let file = match fs::mmap_file(p, a[4]) {
                Ok(f) if lock_free_file(&f) => f,
                Ok(_) => return None,
                Err(e) => return Some(Err(e)),
            };
            let file: Arc<dyn MappedFile> = file;
            crate::lockstat::MMAP_LOCK
                .acquire(|| mm.mmap_write_trylock(), || mm.mmap_write_lock())
                .sys_mmap(a[0], a[1], a[2], a[3], Some(file), a[5])
        }
        _ => {
            let group = super::GroupCaller {
                signal: &cur.signal,
                tgid: cur.tgid,
                tid: cur.tid,
                time: cur.time,
                cpu_ns,
                cputime,
            };
            return super::group_call(&group, mm, u, nr, a)
                .or_else(|| super::task_call(&cur.user_ptrs, cur.tid, nr, a))
                .or_else(|| super::vfs_call(&mut cur.fs, vfs, u, nr, a));
        }
    })
}

/// System call `nr` (arguments `a`) of the task `cur` describes on a kernel-served file
/// ([`FileTarget::Kernel`]) that needs no other task than the caller
/// ([`crate::fs::FileOperations::needs_tasks`] `false`: `gup_test`), served as the
/// kernel lock serves it ([`super::kfile::serve_in`]) with the caller's own parts
/// ([`crate::fs::CallerParts`]: its address space `mm`, its host streams). `None` for
/// any other call or file.
fn kernel_file_call(
    cur: &Current,
    mm: &MmStruct,
    u: &mut dyn UserAccess,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    if !super::kfile::serves(nr, a) {
        return None;
    }
    let file = cur.fs.fds.get(u32::try_from(a[0]).ok()?).ok()?;
    if file.kernel_file()?.f_op().needs_tasks() {
        return None;
    }
    let caller = crate::fs::CallerParts {
        tid: cur.tid,
        mm,
        stdio: &cur.stdio,
    };
    let ctx = &mut FileCtx::with_caller(&cur.vfs, u, caller);
    // A fast benchmark's lockless walks run right here (the kernel lock's dispatch
    // hands them to the hart to run without it: `percpu::defer_unlocked`).
    Some(crate::percpu::already_unlocked(|| {
        super::kfile::serve_in(ctx, &file, nr, a)
    }))
}

/// `futex(uaddr, op, val, timeout | val2, uaddr2, val3)` (arguments `a`) of the task
/// `cur` describes, whose address space is `mm`, without the kernel lock
/// ([`futex::do_futex`] on the machine's table `hash`, the time from `cur`'s clock at
/// `cpu_ns` as `clock_gettime` reads it). Every outcome but a sleep is the call's result
/// (`Ok`); a wait that must sleep is queued on its bucket here and handed to the kernel
/// lock to block (`Err`): the kernel checks the waiter's woken mark before it puts the
/// task to sleep ([`futex`]'s *No lost wake-ups*). The waiters a wake or requeue took go
/// to `wake_q`, for the kernel's `wake_up_q()`.
pub fn futex_call(
    cur: &Current,
    mm: &MmStruct,
    hash: &FutexHash,
    cpu_ns: u64,
    a: [u64; 6],
    wake_q: &mut WakeList,
) -> Result<KResult<u64>, FutexSleep> {
    let caller = FutexCaller {
        mm,
        tid: cur.tid,
        now: cur.time.now(cpu_ns),
    };
    match futex::do_futex(hash, &caller, a, wake_q) {
        Ok(FutexRet::Return(v)) => Ok(Ok(v)),
        Err(e) => Ok(Err(e)),
        Ok(FutexRet::Sleep(sleep)) => Err(sleep),
    }
}

/// `fput()` of a description a descriptor no longer names: dropped here for a VFS file
/// or a pipe end, whose release needs no lock of the kernel's (a pipe end's
/// `pipe_release()` wakes the other end's sleepers through the pipe's wait queues, from
/// this hart); kept in `deferred` for the kernel lock otherwise — a kernel-served file, a
/// host stream — (Linux's `task_work` fput on the way back to user mode).
fn fput(file: Arc<OpenFile>, deferred: &mut Vec<Arc<OpenFile>>) {
    if !(lock_free_file(&file) || matches!(file.target(), FileTarget::Pipe(_))) {
        deferred.push(file);
    }
}

/// A pipe `read`/`write`/`readv`/`writev` served by [`pipe_call`] that must wait: its
/// task is queued, exclusively, on the pipe end's wait queue (`pt`, armed:
/// `prepare_to_wait_event()` in `pipe_read()`/`pipe_write()`), and the kernel lock only
/// checks the pipe once more and blocks it (or sees a wake-up that came meanwhile).
#[derive(Debug)]
pub struct IoSleep {
    /// The file `fdget()` took: the call keeps it across the sleep.
    pub file: Arc<OpenFile>,
    /// The pipe end's wait queue, with the task's sleep queued on it.
    pub pt: PollTable,
    /// Bytes a `write`/`writev` wrote before it had to wait (`pipe_write()`'s `ret`).
    pub written: u64,
    /// A `read`/`readv` (it waits for data or the last writer), not a write (room or
    /// the last reader).
    pub reading: bool,
}

/// Whether a `write`/`writev` pass that wrote `now` of the `want` bytes asked for goes
/// on (`pipe_write()`'s loop): `file` is a blocking pipe and the pass wrote some but not
/// all of it (a pass that could write nothing would block). It then waits for room
/// on the pipe's wait queue — or, room made meanwhile (a reader on another hart), is
/// re-issued at once; a pass that was short for another reason (a fault part-way, no
/// memory, no reader left) meets it again in the next pass, which then returns the count
/// so far. Whether the pipe is full after the pass is no answer: with readers on other
/// harts it may have room again already, and the write would return short.
pub(crate) fn write_pass_sleeps(file: &OpenFile, now: u64, want: u64) -> bool {
    matches!(file.target(), FileTarget::Pipe(_))
        && 0 < now
        && now < want
        && file.flags() & O_NONBLOCK == 0
}

/// `read`, `write`, `readv`, `writev` (call `nr`, arguments `a`) on a pipe, by the task
/// `cur` describes whose address space is `mm`, without the kernel lock (under the
/// pipe's `pipe->mutex`, the description's `f_pos_lock` and the `mmap_lock` read side
/// for each copy): `None`, having done nothing, for another call or file, a descriptor
/// that is not open (the kernel answers); `Some(Ok(result))` for a call that completes
/// (a write that found no reader: `EPIPE` or its count so far, and `SIGPIPE` owed,
/// [`Current::take_sigpipe`]); `Some(Err(sleep))` for one that must wait — a read of an
/// empty pipe, a write into a full one (after the bytes that fitted) — queued on the
/// pipe's wait queue with a new sleep woken through `waker`, for the hart or the kernel
/// lock to block ([`IoSleep`]). `held`: a re-issue of a call that slept, with the file
/// it took and the count it wrote, which it goes on with.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn pipe_call(
    cur: &mut Current,
    mm: &MmStruct,
    nr: u64,
    a: [u64; 6],
    waker: &Arc<dyn TaskWaker>,
    held: Option<(Arc<OpenFile>, u64)>,
) -> Option<Result<KResult<u64>, IoSleep>> {
    if !matches!(nr, SYS_read | SYS_write | SYS_readv | SYS_writev) {
        return None;
    }
    // A re-issued call goes on with the file it took when it started and the bytes it
    // wrote before it slept (`fdget()`'s hold, `pipe_write()`'s `ret`).
    let (file, before) = match held {
        Some(h) => h,
        None => (pipe_fd(&cur.fs, a[0])?, 0),
    };
    let mut user: &MmStruct = mm.uaccess();
    let u: &mut dyn UserAccess = &mut user;
    let reading = matches!(nr, SYS_read | SYS_readv);
    // The bytes this pass of the write is asked for (0 for a vector it refuses).
    let want = match nr {
        SYS_write => a[2].saturating_sub(before),
        SYS_writev => fs::import_iovec(u, a[1], a[2])
            .map_or(0, |segs| segs.iter().map(|s| s.1 as u64).sum::<u64>())
            .saturating_sub(before),
        _ => 0,
    };
    let ctx = &mut FileCtx::current(&cur.vfs, u);
    let r = match nr {
        SYS_read => fs::ksys_read(ctx, &file, a[1], a[2]),
        SYS_write => fs::ksys_write(ctx, &file, a[1].wrapping_add(before), want),
        SYS_readv => fs::do_readv(ctx, &file, a[1], a[2]),
        _ => fs::do_writev_from(ctx, &file, a[1], a[2], before),
    };
    let written = match r {
        Ok(n) if reading => return Some(Ok(Ok(n))),
        Ok(n) if !write_pass_sleeps(&file, n, want) => return Some(Ok(Ok(before + n))),
        Ok(n) => before + n,
        Err(IoError::WouldBlock(_)) => before,
        // No reader left: `SIGPIPE` is owed (sent by the kernel lock, which the hart
        // goes to at once), and the call returns the count so far, or `EPIPE`.
        Err(IoError::Errno(Errno::EPIPE)) => {
            cur.sigpipe = true;
            return Some(Ok(if before > 0 {
                Ok(before)
            } else {
                Err(Errno::EPIPE)
            }));
        }
        Err(IoError::Errno(_)) if before > 0 => return Some(Ok(Ok(before))),
        Err(IoError::Errno(e)) => return Some(Ok(Err(e))),
    };
    let mut pt = PollTable::default();
    pt.arm(WaitTask::new(cur.tid, Arc::clone(waker)), true);
    file.poll_wait(&mut pt);
    Some(Err(IoSleep {
        file,
        pt,
        written,
        reading,
    }))
}

#[cfg(test)]
mod tests {
    //! The calls served here against a real task (address space in guest RAM, the VFS,
    //! its descriptor table), with the kernel's answers as the oracle: what a call does
    //! here is what it does under the kernel lock, and what it leaves alone is untouched.

    use std::sync::Arc;

    use mmu::{AdScheme, SatpMode};

    use super::*;
    use crate::fs::{AT_FDCWD, O_CREAT, O_NONBLOCK, O_RDWR};
    use crate::mm::test_support::{ANON, P, RW};
    use crate::mm::Mm;

    /// A task (pid 1) with a 24-page scratch area (more than a pipe holds), and that
    /// area's address.
    fn task() -> (Task, u64) {
        let phys = crate::mm::test_support::phys(64);
        let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let scratch = mm.do_mmap(0, 24 * P, RW, ANON, None, 0).unwrap();
        let t = crate::process::test_init(mm);
        t.vfs.proc_register(1).unwrap();
        (t, scratch)
    }

    /// `file_call` of task `t` with `deferred` for the releases it leaves.
    fn call(
        t: &Task,
        cur: &mut Current,
        nr: u64,
        a: [u64; 6],
        deferred: &mut Vec<Arc<OpenFile>>,
    ) -> Option<KResult<u64>> {
        let mm = t.mm.clone().unwrap();
        let cputime = super::super::misc::OwnCpuTimes {
            tid: t.tid,
            task: &t.cputime,
            group: &t.signal,
        };
        file_call(cur, &mm, 0, &cputime, nr, a, deferred)
    }

    fn poke(t: &Task, va: u64, data: &[u8]) {
        t.mm.as_ref()
            .unwrap()
            .uaccess()
            .copy_to_user(va, data)
            .unwrap();
    }

    fn peek(t: &Task, va: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        t.mm.as_ref()
            .unwrap()
            .uaccess()
            .copy_from_user(va, &mut v)
            .unwrap();
        v
    }

    #[test]
    fn a_tmpfs_file_is_opened_written_read_and_closed_here() {
        let (t, s) = task();
        let mut cur = Current::of(&t);
        let mut deferred = Vec::new();
        poke(&t, s, b"/tmp/f\0");
        let flags = u64::from(O_CREAT | O_RDWR);
        let at = AT_FDCWD as u64;
        let fd = call(
            &t,
            &mut cur,
            SYS_openat,
            [at, s, flags, 0o600, 0, 0],
            &mut deferred,
        )
        .unwrap()
        .unwrap();
        poke(&t, s + P, b"hello, file");
        let w = [fd, s + P, 11, 0, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_write, w, &mut deferred),
            Some(Ok(11))
        );
        let r = [fd, s + 2 * P, 64, 0, 0, 0];
        // The position is the description's: at the end, nothing to read.
        assert_eq!(call(&t, &mut cur, SYS_read, r, &mut deferred), Some(Ok(0)));
        // pread64 past the end: the bytes there are.
        let pr = [fd, s + 2 * P, 8, 7, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_pread64, pr, &mut deferred),
            Some(Ok(4))
        );
        assert_eq!(peek(&t, s + 2 * P, 4), b"file");
        let seek = [fd, 0, 0, 0, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_lseek, seek, &mut deferred),
            Some(Ok(0))
        );
        assert_eq!(call(&t, &mut cur, SYS_read, r, &mut deferred), Some(Ok(11)));
        assert_eq!(peek(&t, s + 2 * P, 11), b"hello, file");
        // The same shared table: the task sees the descriptor, then sees it closed.
        assert!(t.fs.fds.get(fd as u32).is_ok());
        let c = [fd, 0, 0, 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_close, c, &mut deferred), Some(Ok(0)));
        assert!(deferred.is_empty(), "a tmpfs file is released here");
        assert_eq!(t.fs.fds.get(fd as u32).err(), Some(Errno::EBADF));
        assert_eq!(
            call(&t, &mut cur, SYS_read, r, &mut deferred),
            Some(Err(Errno::EBADF))
        );
        assert_eq!(
            call(&t, &mut cur, SYS_getpid, [0; 6], &mut deferred),
            Some(Ok(1))
        );
    }

    #[test]
    fn the_tasks_own_pointers_and_mask_are_set_here_and_seen_by_its_entry() {
        let (t, s) = task();
        let mut deferred = Vec::new();
        let mut cur = Current::of(&t);
        let tid_addr = [s, 0, 0, 0, 0, 0];
        let set_tid = call(&t, &mut cur, SYS_set_tid_address, tid_addr, &mut deferred);
        assert_eq!(set_tid, Some(Ok(1)));
        assert_eq!(t.user_ptrs.clear_child_tid(), s);
        let bad = [s + 8, 16, 0, 0, 0, 0];
        let r = call(&t, &mut cur, SYS_set_robust_list, bad, &mut deferred);
        assert_eq!(r, Some(Err(Errno::EINVAL)));
        let robust = [s + 8, 24, 0, 0, 0, 0];
        let r = call(&t, &mut cur, SYS_set_robust_list, robust, &mut deferred);
        assert_eq!(r, Some(Ok(0)));
        assert_eq!(t.user_ptrs.robust_list(), (s + 8, 24));
        // SIGUSR1 queued while blocked: unblocking it here sends the hart on to the
        // kernel lock to deliver it; blocking more does not.
        poke(&t, s + 64, &(1u64 << 9).to_le_bytes());
        let block = [0, s + 64, 0, 8, 0, 0];
        let r = call(&t, &mut cur, SYS_rt_sigprocmask, block, &mut deferred);
        assert_eq!(r, Some(Ok(0)));
        assert_eq!(t.signals.blocked.get(), 1 << 9, "the task's own cell");
        t.pending.push(crate::signal::SigInfo {
            signo: 10,
            code: 0,
            addr: 0,
            status: 0,
        });
        assert!(!cur.take_sigpending());
        let pend = [s + 72, 8, 0, 0, 0, 0];
        let r = call(&t, &mut cur, SYS_rt_sigpending, pend, &mut deferred);
        assert_eq!(r, Some(Ok(0)));
        assert_eq!(peek(&t, s + 72, 8), (1u64 << 9).to_le_bytes());
        let unblock = [1, s + 64, 0, 8, 0, 0];
        let r = call(&t, &mut cur, SYS_rt_sigprocmask, unblock, &mut deferred);
        assert_eq!(r, Some(Ok(0)));
        assert_eq!(t.signals.blocked.get(), 0);
        assert!(cur.take_sigpending(), "the unblocked SIGUSR1 waits");
        assert!(!cur.take_sigpending(), "the flag is taken once");
    }

    #[test]
    fn handlers_the_alternate_stack_and_sigreturn_are_the_tasks_own_and_served_here() {
        use crate::signal::{setup_rt_frame, SigAction, SigInfo, SIG_IGN};
        let (mut t, s) = task();
        let mut cur = Current::of(&t);
        let mut deferred = Vec::new();
        let mm = t.mm.clone().unwrap();
        // rt_sigaction(SIGUSR1, {handler 0x1234, SA_ONSTACK}, &old): the task's handlers,
        // shared with its entry, change here.
        let act = [0x1234u64, 0x0800_0000, 1 << 11];
        poke(
            &t,
            s,
            &act.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<_>>(),
        );
        let sa = [10, s, s + 64, 8, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, sa, &mut deferred),
            Some(Ok(0))
        );
        assert_eq!(t.signals.action(10).handler, 0x1234);
        assert_eq!(
            peek(&t, s + 64, 8),
            0u64.to_le_bytes(),
            "the old one: SIG_DFL"
        );
        // One that ignores the signal discards its queued instances from the process's
        // queue and every thread's: here for the only thread of its group, by the
        // kernel lock (nothing done here) when there are others.
        let usr1 = crate::signal::SigInfo {
            signo: 10,
            code: 0,
            addr: 0,
            status: 0,
        };
        t.pending.push(usr1);
        t.signal.lock().shared_pending.push(usr1);
        t.signal.lock().threads.push(2);
        poke(&t, s, &SIG_IGN.to_le_bytes());
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, sa, &mut deferred),
            None
        );
        assert_eq!(t.signals.action(10).handler, 0x1234);
        t.signal.lock().threads.retain(|&tid| tid != 2);
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, sa, &mut deferred),
            Some(Ok(0))
        );
        assert_eq!(t.signals.action(10).handler, SIG_IGN);
        assert_eq!(
            (t.pending.set(), t.signal.shared_pending_set()),
            (0, 0),
            "flushed"
        );
        // SIG_DFL for SIGCHLD ignores it too (served, nothing queued); for SIGUSR1 it
        // does not.
        poke(&t, s, &0u64.to_le_bytes());
        let chld = [17, s, 0, 8, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, chld, &mut deferred),
            Some(Ok(0))
        );
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, sa, &mut deferred),
            Some(Ok(0))
        );
        assert_eq!(t.signals.action(10).handler, 0);
        // The errors are Linux's, in its order, from here too.
        let bad = [10, s, 0, 4, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, bad, &mut deferred),
            Some(Err(Errno::EINVAL))
        );
        let kill = [9, s, 0, 8, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_rt_sigaction, kill, &mut deferred),
            Some(Err(Errno::EINVAL))
        );

        // sigaltstack: a 16 KiB stack in the scratch area, set through the hart's handle
        // and seen by the task's entry (which signal delivery reads).
        let (alt, size) = (s + 4 * P, 4 * P);
        poke(
            &t,
            s,
            &[alt.to_le_bytes(), 0u64.to_le_bytes(), size.to_le_bytes()].concat(),
        );
        let sp = s + 20 * P;
        assert_eq!(cur.sigaltstack(&mm, s, 0, sp), Ok(0));
        assert_eq!(t.signals.altstack.get(), (alt, 0, size));
        poke(
            &t,
            s,
            &[alt.to_le_bytes(), 0u64.to_le_bytes(), 100u64.to_le_bytes()].concat(),
        );
        assert_eq!(cur.sigaltstack(&mm, s, 0, sp), Err(Errno::ENOMEM));
        assert_eq!(
            cur.sigaltstack(&mm, s, 0, alt + 8),
            Err(Errno::EPERM),
            "on it"
        );

        // rt_sigreturn of a frame the kernel pushed: registers, mask and alternate stack
        // come back; the mask it restores leaves a queued SIGUSR2 open, so the kernel
        // lock must deliver it.
        let mut ctx = UserContext::default();
        ctx.x[2] = sp;
        ctx.pc = 0x4000;
        ctx.x[10] = 77;
        let info = SigInfo {
            signo: 10,
            code: 0,
            addr: 0,
            status: 0,
        };
        let onstack = SigAction {
            handler: 0x1234,
            flags: 0x0800_0000,
            mask: 1 << 11,
        };
        let mut user: &MmStruct = mm.uaccess();
        setup_rt_frame(&mut user, &mut ctx, &mut t.signals, &info, &onstack, 0x7770).unwrap();
        assert!(
            ctx.x[2] < alt + size && ctx.x[2] >= alt,
            "the frame is on the stack"
        );
        assert_eq!(t.signals.blocked.get(), (1 << 9) | (1 << 11));
        t.pending.push(SigInfo { signo: 12, ..info });
        assert!(cur.rt_sigreturn(&mm, &mut ctx));
        assert_eq!((ctx.pc, ctx.x[2], ctx.x[10]), (0x4000, sp, 77));
        assert_eq!(t.signals.blocked.get(), 0, "the mask saved in the frame");
        assert_eq!(t.signals.altstack.get(), (alt, 0, size));
        assert!(cur.take_sigpending(), "SIGUSR2 is open again and waits");
        // A frame that cannot be read changes nothing: the kernel lock's badframe path.
        let mut bad_ctx = ctx.clone();
        bad_ctx.x[2] = 8;
        assert!(!cur.rt_sigreturn(&mm, &mut bad_ctx));
        assert_eq!(bad_ctx.x[2], 8);
        assert!(!cur.take_sigpending());
    }

    #[test]
    fn a_signal_the_task_sends_itself_is_queued_and_delivered_to_its_handler_here() {
        use crate::signal::{SigAction, SIG_IGN};
        let (mut t, s) = task();
        t.sigreturn_trampoline = 0x7770;
        let mut cur = Current::of(&t);
        let mm = t.mm.clone().unwrap();
        let handler = |h| SigAction {
            handler: h,
            ..SigAction::default()
        };
        t.signals.set_action(10, handler(0x1000));
        t.signals.set_action(12, handler(SIG_IGN));
        // tgkill(1, 1, SIGUSR1): queued on the task's own queue, pending for delivery.
        assert_eq!(cur.send_self(SYS_tgkill, [1, 1, 10, 0, 0, 0]), Some(Ok(0)));
        assert_eq!(t.pending.set(), 1 << 9);
        assert!(cur.take_sigpending());
        // An ignored one is dropped; a bad number, a wrong group, another task, a
        // default-fatal one, SIGKILL and the stop signals are not for here.
        assert_eq!(cur.send_self(SYS_tkill, [1, 12, 0, 0, 0, 0]), Some(Ok(0)));
        assert_eq!(t.pending.set(), 1 << 9, "SIGUSR2 dropped");
        let einval = Some(Err(Errno::EINVAL));
        assert_eq!(cur.send_self(SYS_tkill, [1, 65, 0, 0, 0, 0]), einval);
        assert_eq!(cur.send_self(SYS_tkill, [0, 10, 0, 0, 0, 0]), einval);
        let esrch = Some(Err(Errno::ESRCH));
        assert_eq!(cur.send_self(SYS_tgkill, [2, 1, 10, 0, 0, 0]), esrch);
        assert_eq!(cur.send_self(SYS_tkill, [2, 10, 0, 0, 0, 0]), None);
        assert_eq!(
            cur.send_self(SYS_tkill, [1, 15, 0, 0, 0, 0]),
            None,
            "SIGTERM kills"
        );
        assert_eq!(cur.send_self(SYS_kill, [1, 9, 0, 0, 0, 0]), None);
        assert_eq!(
            cur.send_self(SYS_kill, [1, 20, 0, 0, 0, 0]),
            None,
            "SIGTSTP"
        );
        assert_eq!(cur.send_self(SYS_kill, [1, 0, 0, 0, 0, 0]), Some(Ok(0)));
        // kill(getpid(), SIGUSR1) while SIGUSR1 waits on the task's queue: the process's
        // queue takes it too (one instance per queue).
        assert_eq!(cur.send_self(SYS_kill, [1, 10, 0, 0, 0, 0]), Some(Ok(0)));
        assert_eq!(t.signal.shared_pending_set(), 1 << 9);
        assert!(!cur.saved_mask);

        // Delivery: the task's own queue first, the frame on its stack, SIGUSR1 blocked
        // in the handler; the process's instance then waits, blocked.
        let mut ctx = UserContext::default();
        ctx.x[2] = s + 20 * P;
        ctx.pc = 0x4000;
        assert_eq!(cur.deliver_handled(&mm, &mut ctx), Delivery::Delivered);
        assert_eq!((ctx.pc, ctx.x[1], ctx.x[10]), (0x1000, 0x7770, 10));
        assert!(ctx.x[2] < s + 20 * P);
        assert_eq!(t.pending.set(), 0);
        assert_eq!(t.signals.blocked.get(), 1 << 9);
        assert!(!cur.signal_pending());
        assert_eq!(cur.deliver_handled(&mm, &mut ctx), Delivery::Nothing);
        // Back from the handler: the process's SIGUSR1 is open again and delivered.
        assert!(cur.rt_sigreturn(&mm, &mut ctx));
        assert!(cur.take_sigpending());
        assert_eq!(cur.deliver_handled(&mm, &mut ctx), Delivery::Delivered);
        assert_eq!(t.signal.shared_pending_set(), 0);
        // A signal without a handler stays for the kernel lock, queued.
        t.signals.blocked.set(0);
        t.pending.push(crate::signal::SigInfo {
            signo: 15,
            code: 0,
            addr: 0,
            status: 0,
        });
        assert_eq!(cur.deliver_handled(&mm, &mut ctx), Delivery::Kernel);
        assert_eq!(t.pending.set(), 1 << 14);
        // Neither does a frame that cannot be written: the signal goes back, first.
        let sp = ctx.x[2];
        t.pending.retain(|_| false);
        assert_eq!(cur.send_self(SYS_tkill, [1, 10, 0, 0, 0, 0]), Some(Ok(0)));
        ctx.x[2] = 0x10;
        assert_eq!(cur.deliver_handled(&mm, &mut ctx), Delivery::Kernel);
        assert_eq!((t.pending.set(), ctx.x[2]), (1 << 9, 0x10));
        ctx.x[2] = sp;
        assert_eq!(cur.deliver_handled(&mm, &mut ctx), Delivery::Delivered);

        // A fault's SIGSEGV: forced on the kernel lock's side without a handler, or
        // blocked; to the handler from here with one, si_addr the faulting address.
        let segv = crate::signal::SigInfo {
            signo: 11,
            code: crate::signal::SEGV_MAPERR,
            addr: 0xdead_0000,
            status: 0,
        };
        assert!(!cur.force_sig_fault(&mm, &mut ctx, &segv), "SIG_DFL");
        t.signals.set_action(11, handler(0x2000));
        t.signals.blocked.set(1 << 10);
        assert!(!cur.force_sig_fault(&mm, &mut ctx, &segv), "blocked");
        t.signals.blocked.set(0);
        assert!(cur.force_sig_fault(&mm, &mut ctx, &segv));
        assert_eq!((ctx.pc, ctx.x[10]), (0x2000, 11));
        let mut si = [0u8; 8];
        let mut user: &MmStruct = mm.uaccess();
        user.copy_from_user(ctx.x[11] + 16, &mut si).unwrap();
        assert_eq!(u64::from_le_bytes(si), 0xdead_0000, "si_addr");
    }

    /// A pipe made by task `t` in its scratch area `s` (`flags` for `pipe2`): its read
    /// and write descriptors.
    fn pipe(t: &mut Task, s: u64, flags: u32) -> (u64, u64) {
        let mm = t.mm.clone().unwrap();
        fs::sys_pipe2(&mut t.fs, &t.vfs, &mut mm.uaccess(), s, u64::from(flags)).unwrap();
        let fds = peek(t, s, 8);
        let rd = u64::from(u32::from_le_bytes(fds[..4].try_into().unwrap()));
        let wr = u64::from(u32::from_le_bytes(fds[4..].try_into().unwrap()));
        (rd, wr)
    }

    #[test]
    fn a_pipe_is_left_to_file_call_and_released_here() {
        let (mut t, s) = task();
        let mut deferred = Vec::new();
        let (rd, wr) = pipe(&mut t, s, O_NONBLOCK);
        let mut cur = Current::of(&t);
        let read = [rd, s + P, 8, 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_read, read, &mut deferred), None);
        // A pipe has no position: ESPIPE here, as under the kernel lock.
        assert_eq!(
            call(&t, &mut cur, SYS_lseek, [rd, 0, 0, 0, 0, 0], &mut deferred),
            Some(Err(Errno::ESPIPE))
        );
        // close() of the write end here: the descriptor goes, and so does the end (its
        // release wakes the readers through the pipe's wait queue, from any hart).
        let c = [wr, 0, 0, 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_close, c, &mut deferred), Some(Ok(0)));
        assert_eq!(t.fs.fds.get(wr as u32).err(), Some(Errno::EBADF));
        assert!(deferred.is_empty(), "a pipe end is released here");
        let mm = t.mm.clone().unwrap();
        let r = fs::sys_read(&mut t.fs, &t.vfs, &mut mm.uaccess(), rd, s + P, 8);
        assert_eq!(r.ok(), Some(0), "end of file at once");
    }

    #[test]
    fn a_pipe_read_or_write_that_must_wait_is_queued_here_and_woken_by_the_other_end() {
        use crate::fs::wait_tests::Recorder;
        let (mut t, s) = task();
        let (rd, wr) = pipe(&mut t, s, 0);
        let mut cur = Current::of(&t);
        let mm = t.mm.clone().unwrap();
        let rec = Arc::new(Recorder::default());
        let waker: Arc<dyn TaskWaker> = rec.clone();
        let pc = |cur: &mut Current, n, a, held| pipe_call(cur, &mm, n, a, &waker, held);
        // Not a pipe call: left alone.
        assert!(pc(&mut cur, SYS_lseek, [rd, 0, 0, 0, 0, 0], None).is_none());
        assert!(
            pc(&mut cur, SYS_read, [99, s, 1, 0, 0, 0], None).is_none(),
            "EBADF: the kernel's"
        );
        // A read of the empty pipe waits, queued on rd_wait.
        let sleep = match pc(&mut cur, SYS_read, [rd, s + P, 8, 0, 0, 0], None) {
            Some(Err(sleep)) => sleep,
            r => panic!("the read should wait: {r:?}"),
        };
        assert!(sleep.reading && sleep.written == 0);
        let task = Arc::clone(sleep.pt.task().unwrap());
        assert_eq!(task.tid(), 1);
        assert!(task.park(5), "no wake-up yet: it sleeps as sleep 5");
        // The writer's call is served here and wakes it.
        poke(&t, s + 2 * P, b"hi");
        assert!(matches!(
            pc(&mut cur, SYS_write, [wr, s + 2 * P, 2, 0, 0, 0], None),
            Some(Ok(Ok(2)))
        ));
        assert_eq!(*rec.0.lock(), vec![(1, 5)], "try_to_wake_up() of sleep 5");
        drop(sleep);
        assert!(matches!(
            pc(&mut cur, SYS_read, [rd, s + P, 8, 0, 0, 0], None),
            Some(Ok(Ok(2)))
        ));
        assert_eq!(peek(&t, s + P, 2), b"hi");
        // A write larger than the pipe fills it and waits with its count.
        let big = (crate::fs::PIPE_CAPACITY + 100) as u64;
        let w = [wr, s, big, 0, 0, 0];
        let sleep = match pc(&mut cur, SYS_write, w, None) {
            Some(Err(sleep)) => sleep,
            r => panic!("the write should wait: {r:?}"),
        };
        assert!(!sleep.reading);
        assert_eq!(sleep.written, crate::fs::PIPE_CAPACITY as u64);
        // A reader (on another hart) makes room before the kernel lock looks: the
        // short write still goes on, it does not return its count (pipe_write()'s loop).
        assert!(matches!(
            pc(&mut cur, SYS_read, [rd, s + P, 8, 0, 0, 0], None),
            Some(Ok(Ok(8)))
        ));
        assert!(write_pass_sleeps(&sleep.file, sleep.written, big));
        assert!(!write_pass_sleeps(&sleep.file, big, big), "complete");
        assert!(
            !write_pass_sleeps(&sleep.file, 0, big),
            "nothing written: it blocks"
        );
        // Its re-issue goes on with the file it held and its count: a page read frees a
        // buffer (the 8 bytes did not: pipe_write() appends only to the last one), and
        // the write's last 100 bytes go in; it returns the whole count.
        let rest = crate::fs::PIPE_BUF as u64 - 8;
        assert!(matches!(
            pc(&mut cur, SYS_read, [rd, s + P, rest, 0, 0, 0], None),
            Some(Ok(Ok(x))) if x == rest
        ));
        let file = Arc::clone(&sleep.file);
        let held = Some((Arc::clone(&sleep.file), sleep.written));
        drop(sleep);
        let r = pc(&mut cur, SYS_write, w, held);
        assert!(matches!(r, Some(Ok(Ok(x))) if x == big), "{r:?}");
        // Without readers: the count so far, and SIGPIPE owed (the kernel lock sends it);
        // with nothing written, EPIPE.
        let mut deferred = Vec::new();
        let mut cur2 = Current::of(&t);
        let c = [rd, 0, 0, 0, 0, 0];
        assert_eq!(
            call(&t, &mut cur2, SYS_close, c, &mut deferred),
            Some(Ok(0))
        );
        let r = pc(&mut cur, SYS_write, w, Some((file, 5)));
        assert!(matches!(r, Some(Ok(Ok(5)))), "{r:?}");
        assert!(cur.take_sigpipe() && !cur.take_sigpipe());
        let r = pc(&mut cur, SYS_write, [wr, s, 1, 0, 0, 0], None);
        assert!(matches!(r, Some(Ok(Err(Errno::EPIPE)))), "{r:?}");
        assert!(cur.take_sigpipe());
    }

    #[test]
    fn an_open_of_a_kernel_served_file_is_left_to_the_kernel_without_a_trace() {
        let (t, s) = task();
        let mut cur = Current::of(&t);
        let mut deferred = Vec::new();
        let before = t.fs.fds.open_fds();
        poke(&t, s, b"/proc/1/mem\0");
        let a = [AT_FDCWD as u64, s, u64::from(O_RDWR), 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_openat, a, &mut deferred), None);
        assert_eq!(t.fs.fds.open_fds(), before);
        // Through a symbolic link on tmpfs too.
        let mm = t.mm.clone().unwrap();
        poke(&t, s + P, b"/tmp/mem\0");
        fs::sys_symlinkat(
            &mut Current::of(&t).fs,
            &t.vfs,
            &mut mm.uaccess(),
            s,
            AT_FDCWD as u64,
            s + P,
        )
        .unwrap();
        let a = [AT_FDCWD as u64, s + P, u64::from(O_RDWR), 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_openat, a, &mut deferred), None);
        assert_eq!(t.fs.fds.open_fds(), before);
    }

    #[test]
    fn futex_calls_are_served_here_and_a_sleeping_wait_is_handed_back_queued() {
        use crate::futex::{FutexWord, FUTEX_PRIVATE_FLAG, FUTEX_WAIT, FUTEX_WAKE};
        let (t, s) = task();
        let cur = Current::of(&t);
        let mm = t.mm.clone().unwrap();
        let hash = FutexHash::new(1);
        let mut woken = WakeList::new();
        let wait = u64::from(FUTEX_WAIT) | FUTEX_PRIVATE_FLAG;
        let wake = u64::from(FUTEX_WAKE) | FUTEX_PRIVATE_FLAG;
        let futex = |a: [u64; 6], woken: &mut WakeList| futex_call(&cur, &mm, &hash, 0, a, woken);
        // The word is in a page never touched: the read under the bucket lock cannot
        // fault it in, the read outside it does (a zero page), and the wait goes on.
        assert_eq!(
            mm.read_nofault(s),
            None,
            "not present: no fault under the lock"
        );
        assert!(matches!(
            futex([s, wait, 1, 0, 0, 0], &mut woken),
            Ok(Err(Errno::EAGAIN))
        ));
        poke(&t, s, &7u32.to_le_bytes());
        assert_eq!(mm.read_nofault(s), Some(7));
        // A writer holds the mmap_lock (another thread, as an munmap on another hart):
        // the read under the bucket lock does not wait for it.
        std::thread::scope(|sc| {
            let (held_tx, held_rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let m = &mm;
            sc.spawn(move || {
                let _writer = m.mmap_write_lock();
                held_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            });
            held_rx.recv().unwrap();
            assert_eq!(mm.read_nofault(s), None, "mmap_lock taken by trylock only");
            done_tx.send(()).unwrap();
        });
        // Zero timeout: the timer has fired already.
        poke(&t, s + 64, &[0; 16]);
        assert!(matches!(
            futex([s, wait, 7, s + 64, 0, 0], &mut woken),
            Ok(Err(Errno::ETIMEDOUT))
        ));
        assert!(matches!(
            futex([s + 2, wait, 7, 0, 0, 0], &mut woken),
            Ok(Err(Errno::EINVAL))
        ));
        assert!(matches!(
            futex([1 << 60, wake, 1, 0, 0, 0], &mut woken),
            Ok(Err(Errno::EFAULT))
        ));
        assert!(hash.is_empty(), "no outcome above left a waiter queued");
        // A wait that must sleep comes back queued; a wake served here takes it.
        let sleep = match futex([s, wait, 7, 0, 0, 0], &mut woken) {
            Err(sleep) => sleep,
            Ok(r) => panic!("the wait should sleep: {r:?}"),
        };
        assert_eq!(sleep.deadline, None);
        assert!(!sleep.q.is_woken());
        assert!(matches!(
            futex([s, wake, 5, 0, 0, 0], &mut woken),
            Ok(Ok(1))
        ));
        assert!(sleep.q.is_woken(), "futex_wake_mark()");
        assert_eq!(woken.len(), 1);
        assert!(
            Arc::ptr_eq(&woken[0], &sleep.q),
            "handed back for wake_up_q()"
        );
        assert!(!hash.unqueue(&sleep.q), "a woken waiter is off its bucket");
        assert!(matches!(
            futex([s, wake, 5, 0, 0, 0], &mut woken),
            Ok(Ok(0))
        ));
    }
}
