//! A process (thread group): its address space, files, signal handlers and limits
//! (`mm_struct`, `files_struct`/`fs_struct`, `sighand_struct`/`signal_struct`), and its
//! threads (`task_struct`s of one `tgid`).
//!
//! Ownership: the process owns its one [`Mm`], so the address space lives until the last
//! thread of the group has exited (Linux's `mm_users` reaching zero), and fork, exec, exit
//! and the page audit see one owner as before. Of its threads, one is *loaded*: its
//! per-thread state (registers, state, blocked mask, alternate stack, private pending
//! queue, `clear_child_tid`, robust list) sits in the process's own fields, so system calls
//! serve the calling thread through the process as before; the others wait in
//! [`Process::threads`]. The kernel loads a thread ([`Process::load_thread`]) when it
//! switches to it. Threads therefore always share `CLONE_VM | CLONE_FS | CLONE_FILES |
//! CLONE_SIGHAND`: the only thread model this design holds (see `sys_clone`).

use std::sync::Arc;

use emu::UserContext;

use crate::config::KernelConfig;
use crate::fs::{HostStreams, Prng, ProcessFs, StdStream, Vfs, VfsConfig};

use crate::mm::Mm;
use crate::signal::{SigInfo, SignalState};
use crate::syscall::misc::{Rlimits, TimeSource};

/// Where a process is in its life.
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

/// What a blocked process waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOn {
    /// A child to change state (`wait4`/`waitid`).
    Child,
    /// A vfork child (this pid) to exec or exit (`CLONE_VFORK`).
    VforkDone(u32),
    /// Pipe (or other file) I/O by another process.
    Io,
    /// Any signal (`rt_sigsuspend`).
    Signal,
    /// A `FUTEX_WAKE` (or requeue and wake) on the futex it is queued on, or its timeout;
    /// the call is completed by the waker, not re-issued.
    Futex,
    /// Its timeout (`nanosleep`, `clock_nanosleep`); completed by the kernel at the
    /// deadline, not re-issued.
    Sleep,
}

/// The per-thread state of a thread that is not loaded (see the module docs): what
/// `task_struct` holds beyond the shared structures.
#[derive(Debug, Clone)]
pub struct Thread {
    /// Thread id.
    pub tid: u32,
    /// Runnable or blocked (a thread that exits is removed; the group's zombie state is
    /// the process's).
    pub state: TaskState,
    /// Saved user registers.
    pub ctx: UserContext,
    /// Blocked signals (`task->blocked`).
    pub blocked: u64,
    /// `sigaltstack` (`(ss_sp, ss_flags, ss_size)`).
    pub altstack: (u64, u32, u64),
    /// The mask `rt_sigsuspend` replaced (`saved_sigmask`).
    pub saved_mask: Option<u64>,
    /// Signals sent to this thread (`task->pending`: tkill/tgkill, faults).
    pub pending: Vec<SigInfo>,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID` pointer.
    pub clear_child_tid: u64,
    /// `set_robust_list` head and length.
    pub robust_list: (u64, u64),
}

/// One process (thread group) and its loaded thread.
pub struct Process {
    /// Process id (`tgid`).
    pub pid: u32,
    /// Thread id of the loaded thread (`== pid` for the leader).
    pub tid: u32,
    /// Parent's pid (0 for the first process).
    pub ppid: u32,
    /// The loaded thread's state; `Zombie` once the whole group has exited.
    pub state: TaskState,
    /// Signal sent to the parent at exit (`clone`'s CSIGNAL bits; SIGCHLD for fork).
    pub exit_signal: u8,
    /// The address space.
    pub mm: Mm,
    /// The loaded thread's saved user registers (live in the hart while it runs).
    pub ctx: UserContext,
    /// Descriptor table, cwd, umask, credentials, executable path.
    pub fs: ProcessFs,
    /// The file system (shared by all processes).
    pub vfs: Arc<Vfs>,
    /// The host streams behind fds 0–2, also where `--strace` writes.
    pub stdio: Arc<HostStreams>,
    /// Dispositions (shared by the threads); blocked mask, alternate stack and saved mask
    /// of the loaded thread.
    pub signals: SignalState,
    /// Signals sent to the process (`signal->shared_pending`) and not yet delivered.
    pub pending: Vec<SigInfo>,
    /// Signals sent to the loaded thread (`task->pending`).
    pub thread_pending: Vec<SigInfo>,
    /// The group's other threads (not loaded), in creation order.
    pub threads: Vec<Thread>,
    /// Resource limits.
    pub rlimits: Rlimits,
    /// AT_RANDOM and `getrandom`.
    pub rng: Prng,
    /// Where clocks come from.
    pub time: TimeSource,
    /// Trace system calls.
    pub strace: bool,
    /// The loaded thread's `set_tid_address` pointer (`clear_child_tid`).
    pub clear_child_tid: u64,
    /// The loaded thread's `set_robust_list` head and length.
    pub robust_list: (u64, u64),
    /// User address of the `rt_sigreturn` trampoline (the one-page `[vdso]`).
    pub sigreturn_trampoline: u64,
    /// Harts of the machine (`nr_cpu_ids`: `sched_getaffinity`'s mask).
    pub nr_cpus: usize,
}

impl Process {
    /// A process with no address space content yet (see [`crate::exec::exec`]), fds 0–2 on
    /// `stdio`.
    pub fn new(
        pid: u32,
        config: &KernelConfig,
        mm: Mm,
        vfs: Arc<Vfs>,
        stdio: Arc<HostStreams>,
    ) -> Self {
        let fs = ProcessFs::new(&vfs, &stdio);
        Self {
            pid,
            tid: pid,
            ppid: 0,
            state: TaskState::Runnable,
            exit_signal: 0,
            mm,
            ctx: UserContext::default(),
            fs,
            vfs,
            stdio,
            signals: SignalState::default(),
            pending: Vec::new(),
            thread_pending: Vec::new(),
            threads: Vec::new(),
            rlimits: Rlimits::default(),
            rng: Prng::new(config.seed),
            time: match config.sched {
                crate::config::SchedMode::Parallel => TimeSource::Host {
                    start: std::time::Instant::now(),
                },
                crate::config::SchedMode::Deterministic => TimeSource::Virtual {
                    epoch_ns: crate::config::DETERMINISTIC_EPOCH_NS,
                },
            },
            strace: config.strace,
            clear_child_tid: 0,
            robust_list: (0, 0),
            sigreturn_trampoline: 0,
            nr_cpus: config.harts.clamp(1, crate::config::MAX_HARTS),
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
        // debugfs: /sys/kernel/debug/gup_test. Cannot fail on a fresh tree; an error
        // would only leave the file missing (ENOENT, as on a kernel without it).
        let _ = crate::debugfs::register(&vfs);
        Arc::new(vfs)
    }

    /// `copy_process` for `fork`: a child with `mm` (already duplicated by
    /// `Mm::dup_mmap`), the parent's descriptors (sharing open file descriptions),
    /// dispositions, mask, limits and registers; no pending signals.
    pub fn fork(&mut self, pid: u32, mm: Mm, ctx: UserContext) -> Process {
        Process {
            pid,
            tid: pid,
            ppid: self.pid,
            state: TaskState::Runnable,
            exit_signal: crate::signal::SIGCHLD,
            mm,
            ctx,
            fs: self.fs.fork(),
            vfs: Arc::clone(&self.vfs),
            stdio: Arc::clone(&self.stdio),
            signals: self.signals.clone(),
            pending: Vec::new(),
            thread_pending: Vec::new(),
            threads: Vec::new(),
            rlimits: self.rlimits.clone(),
            rng: Prng::new(self.rng.next_u64()),
            time: self.time,
            strace: self.strace,
            clear_child_tid: 0,
            robust_list: (0, 0),
            sigreturn_trampoline: self.sigreturn_trampoline,
            nr_cpus: self.nr_cpus,
        }
    }

    /// The loaded thread's per-thread state, moved out (its fields in the process are
    /// left as they were; the caller replaces them).
    fn loaded_as_thread(&mut self) -> Thread {
        Thread {
            tid: self.tid,
            state: self.state,
            ctx: self.ctx.clone(),
            blocked: self.signals.blocked,
            altstack: self.signals.altstack,
            saved_mask: self.signals.saved_mask,
            pending: std::mem::take(&mut self.thread_pending),
            clear_child_tid: self.clear_child_tid,
            robust_list: self.robust_list,
        }
    }

    /// Makes `t` the loaded thread (its fields into the process's).
    fn install(&mut self, t: Thread) {
        self.tid = t.tid;
        self.state = t.state;
        self.ctx = t.ctx;
        self.signals.blocked = t.blocked;
        self.signals.altstack = t.altstack;
        self.signals.saved_mask = t.saved_mask;
        self.thread_pending = t.pending;
        self.clear_child_tid = t.clear_child_tid;
        self.robust_list = t.robust_list;
    }

    /// Loads thread `tid` (the loaded one goes to [`Process::threads`]). Returns whether
    /// `tid` is a thread of this group; nothing changes if it is not.
    pub fn load_thread(&mut self, tid: u32) -> bool {
        if self.tid == tid {
            return true;
        }
        let Some(i) = self.threads.iter().position(|t| t.tid == tid) else {
            return false;
        };
        let next = self.threads.remove(i);
        let prev = self.loaded_as_thread();
        self.install(next);
        self.threads.push(prev);
        true
    }

    /// Adds a new thread (not loaded) to the group.
    pub fn add_thread(&mut self, t: Thread) {
        self.threads.push(t);
    }

    /// A new thread's per-thread state as `clone(CLONE_THREAD)` makes it from the loaded
    /// thread: registers `ctx`, the caller's blocked mask, no alternate stack
    /// (`CLONE_VM` without `CLONE_VFORK` clears `sas_ss_sp`), no pending signals.
    pub fn new_thread(&self, tid: u32, ctx: UserContext) -> Thread {
        Thread {
            tid,
            state: TaskState::Runnable,
            ctx,
            blocked: self.signals.blocked,
            altstack: (0, 2, 0),
            saved_mask: None,
            pending: Vec::new(),
            clear_child_tid: 0,
            robust_list: (0, 0),
        }
    }

    /// Removes the loaded thread from the group (it exited) and loads another one.
    /// Returns `false` (and changes nothing) if it is the last thread.
    pub fn drop_loaded_thread(&mut self) -> bool {
        if self.threads.is_empty() {
            return false;
        }
        let next = self.threads.remove(0);
        self.install(next);
        true
    }

    /// Thread ids of the group, the loaded one included, ascending.
    pub fn tids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = std::iter::once(self.tid)
            .chain(self.threads.iter().map(|t| t.tid))
            .collect();
        v.sort_unstable();
        v
    }

    /// The state of thread `tid`, `None` if there is no such thread in the group.
    pub fn thread_state(&self, tid: u32) -> Option<TaskState> {
        if tid == self.tid {
            return Some(self.state);
        }
        self.threads.iter().find(|t| t.tid == tid).map(|t| t.state)
    }

    /// State and registers of thread `tid`, loaded or not.
    pub fn thread_parts(&mut self, tid: u32) -> Option<(&mut TaskState, &mut UserContext)> {
        if tid == self.tid {
            return Some((&mut self.state, &mut self.ctx));
        }
        self.threads
            .iter_mut()
            .find(|t| t.tid == tid)
            .map(|t| (&mut t.state, &mut t.ctx))
    }

    /// The not-loaded thread `tid`.
    pub fn thread_mut(&mut self, tid: u32) -> Option<&mut Thread> {
        self.threads.iter_mut().find(|t| t.tid == tid)
    }

    /// Writes a kernel message (strace line, fatal-signal note) to the guest's stderr stream.
    pub fn log(&self, msg: &str) {
        let _ = self.stdio.write_out(StdStream::Stderr, msg.as_bytes());
    }
}

/// The process table as seen by code that serves one process's request on another's
/// address space (`/proc/<pid>/mem`, `process_vm_readv`): Linux's `find_task_by_vpid()`
/// + `mm_access()`/`mmget_not_zero()`, over the kernel's map of processes by pid.
pub struct Tasks<'a> {
    procs: &'a mut std::collections::BTreeMap<u32, Process>,
}

impl<'a> Tasks<'a> {
    /// A view of `procs`.
    pub fn new(procs: &'a mut std::collections::BTreeMap<u32, Process>) -> Self {
        Tasks { procs }
    }

    /// The process `pid` (a zombie included), `None` if there is none.
    pub fn get(&mut self, pid: u32) -> Option<&mut Process> {
        self.procs.get_mut(&pid)
    }

    /// `get_task_mm()`: the address space of `pid`, `None` if there is no such task or
    /// it has none any more (a zombie: released at exit).
    pub fn mm_of(&mut self, pid: u32) -> Option<&mut Mm> {
        self.procs
            .get_mut(&pid)
            .map(|p| &mut p.mm)
            .filter(|mm| !mm.is_dead())
    }

    /// `mmget_not_zero()` on the address space a descriptor grabbed at open: task `pid`'s
    /// address space if it is still the one numbered `mm_id` ([`Mm::id`]) and alive;
    /// `None` once the task has exited, been reaped or exec'd another image.
    pub fn mm_by_id(&mut self, pid: u32, mm_id: u64) -> Option<&mut Mm> {
        self.mm_of(pid).filter(|mm| mm.id() == mm_id)
    }
}
