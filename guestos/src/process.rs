//! Tasks (`task_struct`) and the shared parts they point at, as Linux splits them: the
//! address space ([`MmUsers`] on a [`crate::mm::MmStruct`]: `mm_struct`), the descriptor table and
//! fs information ([`ProcessFs`]'s `files_struct` and `fs_struct`), the signal handlers
//! ([`SignalState`]'s `sighand_struct`) and the thread group ([`SignalStruct`]:
//! `signal_struct`). Each shared part is reference-counted and has its own lock;
//! `clone()` decides which the new task shares and which it copies
//! ([`Task::copy_process`]). The kernel keeps tasks by tid and finds a thread group
//! through its `tgid` and `signal`; no task's state ever sits in another's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use emu::UserContext;

use crate::config::{ExitStatus, KernelConfig};
use crate::fs::{HostStreams, Prng, ProcessFs, StdStream, Vfs, VfsConfig};

use crate::mm::{Mm, MmUsers};
use crate::signal::{SigInfo, SignalState};
use crate::sync::{Mutex, MutexGuard};
use crate::syscall::misc::{Rlimits, TimeSource};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Can run.
    Runnable,
    /// Sleeping in a system call that will be restarted when `on` may have changed
    /// (the syscall is re-issued: the pc still points at its `ecall`).
    Blocked(WaitOn),
    /// Exited; waiting for its parent to reap it (`EXIT_ZOMBIE`).
    Zombie(crate::config::ExitStatus),
}

/// What a blocked task waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOn {
    /// A child to change state (`wait4`/`waitid`).
    Child,
    /// A vfork child (this pid) to exec or exit (`CLONE_VFORK`).
    VforkDone(u32),
    /// A file's readiness (a pipe's data, room or last close): the task sleeps on the
    /// wait queues of the files its call named and a wake-up on one re-issues it.
    Io,
    /// Any signal (`rt_sigsuspend`).
    Signal,
    /// A `FUTEX_WAKE` (or requeue and wake) on the futex it is queued on, or its timeout;
    /// the call is completed by the waker, not re-issued.
    Futex,
    /// Its timeout (`nanosleep`, `clock_nanosleep`); completed by the kernel at the
    /// deadline, not re-issued.
    Sleep,
    /// A userfaultfd's answer to its page fault (`handle_userfault()`): woken by the
    /// ioctl that resolves the fault, `UFFDIO_WAKE`, the file's close or a signal, it
    /// re-executes the faulting instruction (nothing is re-issued or completed).
    Userfault,
    /// A page an asynchronous page fault is bringing back from swap ("page not
    /// present", `kernel/async_pf.rs`): woken by the worker that faulted it in ("page
    /// ready") or a signal, it re-executes the faulting instruction.
    AsyncPf,
    /// Its tracer (`TASK_TRACED`): stopped for ptrace ([`crate::ptrace::PtraceState`]
    /// says why), resumed by the tracer's request; signals do not interrupt it.
    Traced,
}

/// The user pointers a task registers for itself (`task->clear_child_tid`,
/// `task->robust_list` and its length): only the task writes them — its
/// `set_tid_address` and `set_robust_list`, on whichever hart runs it, with or without
/// the kernel lock ([`crate::syscall::task_call`]) — and they are read at its exit
/// (`mm_release()`, on its own hart) and by `get_robust_list` of another task. Linux
/// needs no lock for them either (only `current` writes them). Each word is atomic; a
/// reader on another hart sees a head and length from one call or the next.
#[derive(Debug, Default)]
pub struct UserPtrs {
    clear_child_tid: AtomicU64,
    robust_head: AtomicU64,
    robust_len: AtomicU64,
}

impl UserPtrs {
    /// A task's pointers at creation: `clear_child_tid` (`CLONE_CHILD_CLEARTID`'s
    /// `ctid`, or 0), no robust list.
    pub fn new(clear_child_tid: u64) -> Self {
        let p = UserPtrs::default();
        p.set_clear_child_tid(clear_child_tid);
        p
    }

    /// `clear_child_tid`: where the task's exit stores 0 and wakes a futex waiter.
    pub fn clear_child_tid(&self) -> u64 {
        self.clear_child_tid.load(Ordering::SeqCst)
    }

    /// Sets `clear_child_tid` (`set_tid_address`).
    pub fn set_clear_child_tid(&self, va: u64) {
        self.clear_child_tid.store(va, Ordering::SeqCst);
    }

    /// The robust list's head and length (`set_robust_list`'s), `(0, 0)` if none.
    pub fn robust_list(&self) -> (u64, u64) {
        (
            self.robust_head.load(Ordering::SeqCst),
            self.robust_len.load(Ordering::SeqCst),
        )
    }

    /// Registers the robust list at `head`, `len` bytes (`set_robust_list`).
    pub fn set_robust_list(&self, head: u64, len: u64) {
        self.robust_head.store(head, Ordering::SeqCst);
        self.robust_len.store(len, Ordering::SeqCst);
    }

    /// Takes both away (`mm_release()` at exit): what they were.
    pub fn take(&self) -> (u64, (u64, u64)) {
        let ctid = self.clear_child_tid.swap(0, Ordering::SeqCst);
        let head = self.robust_head.swap(0, Ordering::SeqCst);
        let len = self.robust_len.swap(0, Ordering::SeqCst);
        (ctid, (head, len))
    }
}

/// The thread group's shared state (`struct signal_struct`): shared by every thread
/// (`clone(CLONE_THREAD)`), new for every process. Behind its own lock (`siglock`).
#[derive(Debug, Default)]
pub struct SignalStruct {
    inner: Mutex<SignalInner>,
    /// The group's CPU time and its children's (`signal->cputimer`, `cutime`/`cstime`):
    /// atomics, outside `siglock`, that the harts charging the time add to.
    pub(crate) cputimer: crate::kernel::ThreadGroupCputimer,
}

/// What [`SignalStruct`] holds.
#[derive(Debug)]
pub struct SignalInner {
    /// Signals sent to the process (`signal->shared_pending`) and not yet delivered.
    pub shared_pending: Vec<SigInfo>,
    /// The group has exited (`SIGNAL_GROUP_EXIT` and the leader's `EXIT_ZOMBIE`): its
    /// status, kept until the parent reaps it.
    pub group_exit: Option<ExitStatus>,
    /// The parent process's pid (`real_parent->tgid`; 0 for the first process).
    pub ppid: u32,
    /// The parent thread (`real_parent`): the task of process `ppid` that created this
    /// process (or, after that one exited, the thread the group was re-parented to). A
    /// `wait4` with `__WNOTHREAD` finds only the children whose `real_parent` it is.
    pub real_parent: u32,
    /// Process group id (`task_pgrp()`, the group's `PIDTYPE_PGID`): inherited by fork,
    /// set by `setpgid`/`setsid`.
    pub pgrp: u32,
    /// Session id (`task_session()`, `PIDTYPE_SID`): inherited by fork, set by `setsid`.
    pub session: u32,
    /// `signal->leader`: the process is a session leader (it called `setsid`).
    pub leader: bool,
    /// `signal->is_child_subreaper` (`PR_SET_CHILD_SUBREAPER`): orphaned descendants are
    /// re-parented to this process instead of init.
    pub is_child_subreaper: bool,
    /// `get_dumpable(mm)`: `SUID_DUMP_USER` (1) or `SUID_DUMP_DISABLE` (0)
    /// (`PR_SET_DUMPABLE`); inherited by fork, reset to 1 by `execve`.
    pub dumpable: u8,
    /// The ids of the group's live threads, ascending (`signal->thread_head`); the leader
    /// leaves it when it exits, even while other threads run (`delay_group_leader()`).
    pub threads: Vec<u32>,
    /// Resource limits (`signal->rlim`).
    pub rlimits: Rlimits,
    /// AT_RANDOM and `getrandom` of this process.
    pub rng: Prng,
    /// The interval timers (`real_timer`, `it_real_incr`, `it[]`): `setitimer`'s.
    pub(crate) itimers: crate::kernel::ITimers,
}

impl Default for SignalInner {
    fn default() -> Self {
        SignalInner {
            shared_pending: Vec::new(),
            group_exit: None,
            ppid: 0,
            real_parent: 0,
            pgrp: 0,
            session: 0,
            leader: false,
            is_child_subreaper: false,
            dumpable: SUID_DUMP_USER,
            threads: Vec::new(),
            rlimits: Rlimits::default(),
            rng: Prng::new(0),
            itimers: Default::default(),
        }
    }
}

impl SignalStruct {
    /// A group whose only thread is `tid`, child of `ppid`, with `rlimits` and the
    /// random stream `rng`, in process group and session `tid` (init's; a forked
    /// process takes its parent's: [`Task::copy_process`]).
    pub fn new(tid: u32, ppid: u32, rlimits: Rlimits, rng: Prng) -> Self {
        SignalStruct {
            inner: Mutex::new(SignalInner {
                threads: vec![tid],
                ppid,
                real_parent: ppid,
                pgrp: tid,
                session: tid,
                rlimits,
                rng,
                ..SignalInner::default()
            }),
            cputimer: Default::default(),
        }
    }

    /// The group's state, locked.
    pub fn lock(&self) -> MutexGuard<'_, SignalInner> {
        self.inner.lock()
    }

    /// The signals on the process's queue (`signal->shared_pending.signal`) as a set
    /// (bit `signo - 1`).
    pub fn shared_pending_set(&self) -> u64 {
        crate::signal::sigset_of(&self.lock().shared_pending)
    }

    /// The parent's pid.
    pub fn ppid(&self) -> u32 {
        self.inner.lock().ppid
    }

    /// The group has exited: its status.
    pub fn group_exit(&self) -> Option<ExitStatus> {
        self.inner.lock().group_exit
    }

    /// The ids of the live threads, ascending.
    pub fn threads(&self) -> Vec<u32> {
        self.inner.lock().threads.clone()
    }

    /// The process group id (`task_pgrp_vnr()`).
    pub fn pgrp(&self) -> u32 {
        self.inner.lock().pgrp
    }

    /// The session id (`task_session_vnr()`).
    pub fn session(&self) -> u32 {
        self.inner.lock().session
    }

    /// The parent thread (`real_parent`'s tid).
    pub fn real_parent(&self) -> u32 {
        self.inner.lock().real_parent
    }

    /// Makes thread `tid` of process `tgid` the group's parent (`real_parent`).
    pub fn set_parent(&self, tgid: u32, tid: u32) {
        let mut g = self.inner.lock();
        g.ppid = tgid;
        g.real_parent = tid;
    }
}

/// `SUID_DUMP_USER` (`include/linux/sched/coredump.h`): the default dumpable mode.
pub const SUID_DUMP_USER: u8 = 1;

/// Bytes of a task's name (`TASK_COMM_LEN`), the terminating NUL included.
pub const TASK_COMM_LEN: usize = 16;

/// A task (`struct task_struct`): one thread of execution with its own registers,
/// blocked mask, private signal queue, `clear_child_tid` and robust list, and handles on
/// the shared, reference-counted parts that `clone()` shares or copies: the address
/// space (`mm`), the descriptor table and fs information (`fs`), the handlers (`signals`'
/// sighand) and the thread group (`signal`).
pub struct Task {
    /// Thread id.
    pub tid: u32,
    /// Thread group id: the process id (the leader's tid).
    pub tgid: u32,
    /// Signal sent to the parent at exit (`clone`'s CSIGNAL bits; SIGCHLD for fork; 0 for
    /// a thread).
    pub exit_signal: u8,
    /// The address space (`task->mm`): one `mm_users` reference; `None` once the task
    /// has exited (`exit_mm()`).
    pub mm: Option<MmUsers>,
    /// Handles on the descriptor table and fs information, credentials, executable.
    pub fs: ProcessFs,
    /// The file system (shared by all tasks).
    pub vfs: Arc<Vfs>,
    /// The host streams behind fds 0–2, also where `--strace` writes.
    pub stdio: Arc<HostStreams>,
    /// Blocked mask, alternate stack, saved mask, and the handle on the handlers.
    pub signals: SignalState,
    /// Signals sent to this task (`task->pending`: tkill/tgkill, faults).
    pub pending: crate::signal::SigQueue,
    /// The thread group (`task->signal`).
    pub signal: Arc<SignalStruct>,
    /// The task's own CPU time (`se.sum_exec_runtime`, `utime`), charged by the hart
    /// running it ([`crate::kernel::CputimeAtomic`]).
    pub(crate) cputime: Arc<crate::kernel::CputimeAtomic>,
    /// Where clocks come from.
    pub time: TimeSource,
    /// Trace system calls.
    pub strace: bool,
    /// The user pointers the task registers for itself: `clear_child_tid`, the robust
    /// list ([`UserPtrs`], shared with the hart running the task).
    pub user_ptrs: Arc<UserPtrs>,
    /// User address of the `rt_sigreturn` trampoline (the one-page `[vdso]`; Linux keeps
    /// it in `mm->context.vdso`, and the tasks sharing an address space agree on it).
    pub sigreturn_trampoline: u64,
    /// Harts of the machine (`nr_cpu_ids`: `sched_getaffinity`'s mask).
    pub nr_cpus: usize,
    /// The task's name (`task->comm`): NUL-padded, at most 15 bytes of name. Copied by
    /// `clone`, set from the file name by `execve` and by `PR_SET_NAME`.
    pub comm: [u8; TASK_COMM_LEN],
    /// `pdeath_signal` (`PR_SET_PDEATHSIG`): sent to this task's process when its parent
    /// thread exits; 0: none. Not inherited by `clone`.
    pub pdeath_signal: u8,
    /// `PF_FORKNOEXEC`: created by `clone` and has not called `execve` (`setpgid` on a
    /// child that has exec'd is `EACCES`).
    pub forknoexec: bool,
    /// `no_new_privs` (`PR_SET_NO_NEW_PRIVS`): inherited by `clone`, kept across `execve`.
    pub no_new_privs: bool,
    /// The tagged-address control (`PR_SET_TAGGED_ADDR_CTRL`: arm64's `thread.mte_ctrl`
    /// and `TIF_TAGGED_ADDR`, riscv's PMLEN), loaded into the hart when the task is
    /// switched in ([`crate::mm::mte::mte_thread_switch`]). Copied by `clone`, reset by
    /// `execve`.
    pub mte_ctrl: crate::mm::mte::TaggedAddrCtrl,
    /// Tracing state (`task->ptrace` and what goes with it): the tracer, options, the
    /// stop the task is in or owes. Not inherited by `clone` (the kernel attaches a
    /// traced parent's child itself for `PTRACE_O_TRACEFORK` and kin).
    pub ptrace: crate::ptrace::PtraceState,
    /// Its state, saved registers and sleeping call, behind the task's own lock
    /// ([`TaskRun`], [`Task::run`]).
    run: Arc<Mutex<TaskRun>>,
    /// Scheduling policy, priority, nice value, affinity and personality
    /// ([`crate::syscall::sys::TaskAttrs`]): copied by `clone` as `sched_fork()` does.
    pub attrs: crate::syscall::sys::TaskAttrs,
}

/// What a context switch, a sleep and a wake-up read and change of a task, behind the
/// task's own lock ([`Task::run`]): Linux's `p->__state` (which wake-ups change under
/// `p->pi_lock`), the saved user registers (the `pt_regs` at the top of its kernel
/// stack) and the continuation of its sleeping call. Taken one task at a time; under
/// it, only what dropping or re-arming a part of the call takes (a wait queue head's
/// lock, a timer base's lock: see [`crate::sync`]'s lock order).
#[derive(Debug)]
pub struct TaskRun {
    /// Runnable, blocked, or `Zombie` once it has exited (a group leader stays in the
    /// table until the group is reaped; other threads leave it at once).
    pub state: TaskState,
    /// Saved user registers (live in the hart while it runs).
    pub ctx: UserContext,
    /// The continuation of the task's sleeping or stopped system call (what Linux keeps
    /// on its kernel stack and in `restart_block`): its wait queues, futex waiter and
    /// timer, a re-issued call's state, a stopped call's place
    /// ([`crate::kernel::SleepingCall`]). Empty for a new task: `clone` does not copy it.
    pub(crate) call: crate::kernel::SleepingCall,
    /// `nvcsw`: the times the task left its hart to sleep (`/proc/<pid>/status`'s
    /// `voluntary_ctxt_switches`).
    pub nvcsw: u64,
    /// `nivcsw`: the times it was switched out still runnable (preempted, its slice
    /// used up: `nonvoluntary_ctxt_switches`).
    pub nivcsw: u64,
}

impl TaskRun {
    /// A runnable task's, with registers `ctx` and no call in progress.
    fn runnable(ctx: UserContext) -> Arc<Mutex<TaskRun>> {
        Arc::new(Mutex::new(TaskRun {
            state: TaskState::Runnable,
            ctx,
            call: Default::default(),
            nvcsw: 0,
            nivcsw: 0,
        }))
    }
}

impl Task {
    /// The task's name as `/proc/<pid>/comm` shows it: the bytes up to the NUL.
    pub fn comm(&self) -> &[u8] {
        let n = self
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(TASK_COMM_LEN);
        &self.comm[..n]
    }

    /// `__set_task_comm()`: the name becomes `name` cut to `TASK_COMM_LEN - 1` bytes.
    pub fn set_comm(&mut self, name: &[u8]) {
        self.comm = [0; TASK_COMM_LEN];
        let n = name.len().min(TASK_COMM_LEN - 1);
        self.comm[..n].copy_from_slice(&name[..n]);
    }
}

/// What `clone()` shares between the caller and the new task: `copy_process()`'s
/// `CLONE_FILES`, `CLONE_FS`, `CLONE_SIGHAND`, `CLONE_THREAD` (the caller decides the
/// address space, `CLONE_VM`, itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneShare {
    /// `CLONE_FILES`: one descriptor table.
    pub files: bool,
    /// `CLONE_FS`: one cwd and umask.
    pub fs: bool,
    /// `CLONE_SIGHAND`: one set of handlers.
    pub sighand: bool,
    /// `CLONE_THREAD`: one thread group.
    pub thread: bool,
}

impl Task {
    /// The first task (init's), its address space `mm` still empty (see
    /// [`crate::exec::exec`]), fds 0–2 on `stdio`.
    pub fn new(
        pid: u32,
        config: &KernelConfig,
        mm: Mm,
        vfs: Arc<Vfs>,
        stdio: Arc<HostStreams>,
    ) -> Self {
        let fs = ProcessFs::new(&vfs, &stdio);
        let signal = SignalStruct::new(pid, 0, Rlimits::default(), Prng::new(config.seed));
        // The first process leads its own session and process group, as a container's
        // init does (it is started by `setsid`).
        signal.lock().leader = true;
        Self {
            tid: pid,
            tgid: pid,
            exit_signal: 0,
            mm: Some(MmUsers::new(mm)),
            fs,
            vfs,
            stdio,
            signals: SignalState::default(),
            pending: crate::signal::SigQueue::default(),
            signal: Arc::new(signal),
            cputime: Arc::default(),
            time: match config.sched {
                crate::config::SchedMode::Parallel => TimeSource::Host {
                    start: std::time::Instant::now(),
                },
                crate::config::SchedMode::Deterministic => TimeSource::Virtual {
                    epoch_ns: crate::config::DETERMINISTIC_EPOCH_NS,
                },
            },
            strace: config.strace,
            user_ptrs: Arc::default(),
            sigreturn_trampoline: 0,
            nr_cpus: config.harts.clamp(1, crate::config::MAX_HARTS),
            comm: [0; TASK_COMM_LEN],
            pdeath_signal: 0,
            forknoexec: false,
            no_new_privs: false,
            mte_ctrl: Default::default(),
            ptrace: Default::default(),
            run: TaskRun::runnable(UserContext::default()),
            attrs: Default::default(),
        }
    }

    /// The file system every process shares, set up per `config`, with its page cache in
    /// `phys` and the kernel's debugfs files.
    pub fn new_vfs(config: &KernelConfig, phys: &Arc<crate::mm::PhysMem>) -> Arc<Vfs> {
        let vfs = Vfs::new(VfsConfig {
            phys: Some(Arc::clone(phys)),
            clock: VfsConfig::system_clock(),
            urandom_seed: config.seed ^ 0x7572_616e_646f_6d00,
            size_limit_bytes: config.tmpfs_size_bytes(),
        });
        // debugfs (/sys/kernel/debug/gup_test) and sysfs (/sys/kernel/mm/…). Cannot fail
        // on a fresh tree; an error would only leave a file missing (ENOENT, as on a
        // kernel without it).
        let _ = crate::debugfs::register(&vfs);
        let _ = crate::sysfs::register(&vfs);
        Arc::new(vfs)
    }

    /// `copy_process()`: a new task `tid` with registers `ctx` in address space `mm`
    /// (this task's shared by `CLONE_VM`, or a `Mm::dup_mmap` copy), sharing or copying
    /// the rest as `share` says. A new thread group (no `CLONE_THREAD`) is a child of
    /// this task's process, with its limits and a random stream drawn from it. The
    /// blocked mask is inherited, pending signals are not; `clear_altstack` (`CLONE_VM`
    /// without `CLONE_VFORK`) leaves the new task without an alternate stack.
    pub fn copy_process(
        &self,
        tid: u32,
        share: CloneShare,
        mm: MmUsers,
        ctx: UserContext,
        clear_altstack: bool,
    ) -> Task {
        let mut signals = self.signals.clone();
        signals.saved_mask = None;
        if clear_altstack {
            signals.altstack.reset();
        }
        if !share.sighand {
            signals.unshare_sighand();
        }
        let signal = if share.thread {
            let mut g = self.signal.lock();
            g.threads.push(tid);
            g.threads.sort_unstable();
            drop(g);
            Arc::clone(&self.signal)
        } else {
            let mut g = self.signal.lock();
            let rng = Prng::new(g.rng.next_u64());
            let s = SignalStruct::new(tid, self.tgid, g.rlimits.clone(), rng);
            // copy_process(): the new process joins the caller's process group and
            // session (`init_task_pid(p, PIDTYPE_PGID, task_pgrp(current))`) and is
            // dumpable as the caller's mm is (dup_mm() copies mm->flags).
            {
                let mut c = s.lock();
                c.real_parent = self.tid;
                c.pgrp = g.pgrp;
                c.session = g.session;
                c.dumpable = g.dumpable;
            }
            drop(g);
            Arc::new(s)
        };
        Task {
            tid,
            tgid: if share.thread { self.tgid } else { tid },
            exit_signal: 0,
            mm: Some(mm),
            fs: self.fs.copy(share.files, share.fs),
            vfs: Arc::clone(&self.vfs),
            stdio: Arc::clone(&self.stdio),
            signals,
            pending: crate::signal::SigQueue::default(),
            signal,
            cputime: Arc::default(),
            time: self.time,
            strace: self.strace,
            user_ptrs: Arc::default(),
            sigreturn_trampoline: self.sigreturn_trampoline,
            nr_cpus: self.nr_cpus,
            comm: self.comm,
            // copy_process(): "p->pdeath_signal = 0"; PF_FORKNOEXEC set.
            pdeath_signal: 0,
            forknoexec: true,
            no_new_privs: self.no_new_privs,
            mte_ctrl: self.mte_ctrl,
            ptrace: Default::default(),
            run: TaskRun::runnable(ctx),
            attrs: self.attrs.fork(),
        }
    }

    /// The task's state, saved registers and sleeping call, locked ([`TaskRun`]). The
    /// guard must be dropped before another task's is taken.
    pub fn run(&self) -> MutexGuard<'_, TaskRun> {
        self.run.lock()
    }

    /// A handle on the task's lock ([`Task::run`]) for a hart that sleeps and switches
    /// the task without the kernel lock (`kernel/switch.rs`).
    pub(crate) fn run_handle(&self) -> Arc<Mutex<TaskRun>> {
        Arc::clone(&self.run)
    }

    /// Where the task is in its life.
    pub fn state(&self) -> TaskState {
        self.run().state
    }

    /// The task is `state` from now on.
    pub fn set_state(&self, state: TaskState) {
        self.run().state = state;
    }

    /// Writes a kernel message (strace line, fatal-signal note) to the guest's stderr stream.
    pub fn log(&self, msg: &str) {
        let _ = self.stdio.write_out(StdStream::Stderr, msg.as_bytes());
    }
}

/// The task table as seen by code that serves one task's request on another's address
/// space (`/proc/<pid>/mem`, `process_vm_readv`): Linux's `find_task_by_vpid()` +
/// `get_task_mm()`, over the kernel's map of tasks by tid. An address space is handed
/// out as a user reference ([`Tasks::get_task_mm`]), no side of its `mmap_lock` held:
/// the caller's copies take the read side for each access
/// ([`crate::mm::MmStruct::uaccess`]) and a target's GUP takes it around each batch, one
/// at a time, so a task reaching its own address space through two paths (for
/// `/proc/self/mem` they are one lock) never takes it twice.
pub struct Tasks<'a> {
    tasks: &'a mut BTreeMap<u32, Task>,
}

impl<'a> Tasks<'a> {
    /// A view of `tasks`.
    pub fn new(tasks: &'a mut BTreeMap<u32, Task>) -> Self {
        Tasks { tasks }
    }

    /// The task `tid` (a zombie included), `None` if there is none.
    pub fn get(&mut self, tid: u32) -> Option<&mut Task> {
        self.tasks.get_mut(&tid)
    }

    /// `get_task_mm()`: a user reference to the address space of `tid` (`mmget()`),
    /// `None` if there is no such task or it has none any more (it exited).
    pub fn get_task_mm(&self, tid: u32) -> Option<MmUsers> {
        let mm = self.tasks.get(&tid)?.mm.as_ref()?;
        (mm.mm_users() > 0).then(|| mm.clone())
    }
}

/// A first task (pid 1) for unit tests: address space `mm`, a fresh VFS on `mm`'s
/// physical memory, the default configuration, fds 0–2 on an empty stdin and sinks.
#[cfg(test)]
pub(crate) fn test_init(mm: Mm) -> Task {
    let config = KernelConfig::default();
    let vfs = Task::new_vfs(&config, mm.phys());
    let stdio = Arc::new(HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    ));
    Task::new(1, &config, mm, vfs, stdio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmu::{AdScheme, SatpMode};

    fn init() -> Task {
        let phys = crate::mm::test_support::phys(8);
        test_init(Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap())
    }

    #[test]
    fn copy_process_shares_or_copies_each_part_as_the_flags_say() {
        let parent = init();
        parent.signals.blocked.set(0b100);
        let ctx = UserContext::default();
        let all = CloneShare {
            files: true,
            fs: true,
            sighand: true,
            thread: true,
        };
        let users = parent.mm.clone().unwrap();
        let thread = parent.copy_process(2, all, users, ctx.clone(), true);
        assert_eq!((thread.tid, thread.tgid), (2, 1));
        assert!(Arc::ptr_eq(&thread.signal, &parent.signal));
        assert!(Arc::ptr_eq(&thread.fs.fds, &parent.fs.fds));
        assert!(Arc::ptr_eq(&thread.fs.fs, &parent.fs.fs));
        assert!(Arc::ptr_eq(
            thread.signals.sighand(),
            parent.signals.sighand()
        ));
        assert_eq!(parent.signal.threads(), vec![1, 2]);
        assert_eq!(
            parent.mm.as_ref().unwrap().mm_users(),
            2,
            "one mm, two users"
        );
        assert_eq!(thread.signals.blocked.get(), 0b100, "the mask is inherited");
        assert_eq!(
            thread.signals.altstack.get().1,
            2,
            "CLONE_VM without CLONE_VFORK: SS_DISABLE"
        );

        // fork: nothing shared, a new thread group that is the caller's child.
        let copy = parent
            .mm
            .as_ref()
            .unwrap()
            .mmap_write_lock()
            .dup_mmap(2)
            .unwrap();
        let child = parent.copy_process(3, CloneShare::default(), MmUsers::new(copy), ctx, false);
        assert_eq!((child.tgid, child.signal.ppid()), (3, 1));
        assert_eq!(child.signal.real_parent(), 1, "the thread that forked");
        assert_eq!(
            (child.signal.pgrp(), child.signal.session()),
            (1, 1),
            "fork inherits the process group and session"
        );
        assert_eq!(child.signal.threads(), vec![3]);
        assert_eq!(
            parent.signal.threads(),
            vec![1, 2],
            "the parent's group is unchanged"
        );
        assert!(!Arc::ptr_eq(&child.fs.fds, &parent.fs.fds));
        assert_eq!(child.fs.fds.open_fds(), parent.fs.fds.open_fds());
        assert!(!Arc::ptr_eq(&child.fs.fs, &parent.fs.fs));
        assert!(!Arc::ptr_eq(
            child.signals.sighand(),
            parent.signals.sighand()
        ));
        assert_eq!(parent.mm.as_ref().unwrap().mm_users(), 2);

        // The task table hands out address spaces by tid, as user references.
        let mut table = BTreeMap::from([(1, parent), (2, thread), (3, child)]);
        let tasks = Tasks::new(&mut table);
        assert_eq!(tasks.get_task_mm(2).map(|m| m.mm_users()), Some(3));
        assert_eq!(tasks.get_task_mm(3).map(|m| m.mm_users()), Some(2));
        assert!(tasks.get_task_mm(4).is_none());
    }
}
