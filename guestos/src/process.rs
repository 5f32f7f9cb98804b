//! A process: its address space, registers, files, signals and limits (`task_struct` with
//! `mm_struct`, `files_struct`/`fs_struct`, `signal_struct` folded in — one thread each
//! until threads arrive).

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
}

/// One single-threaded process.
pub struct Process {
    /// Process id (and thread id).
    pub pid: u32,
    /// Parent's pid (0 for the first process).
    pub ppid: u32,
    /// Runnable, blocked or zombie.
    pub state: TaskState,
    /// Signal sent to the parent at exit (`clone`'s CSIGNAL bits; SIGCHLD for fork).
    pub exit_signal: u8,
    /// The address space.
    pub mm: Mm,
    /// Saved user registers (live in the hart while it runs).
    pub ctx: UserContext,
    /// Descriptor table, cwd, umask, credentials, executable path.
    pub fs: ProcessFs,
    /// The file system (shared by all processes).
    pub vfs: Arc<Vfs>,
    /// The host streams behind fds 0–2, also where `--strace` writes.
    pub stdio: Arc<HostStreams>,
    /// Dispositions, blocked mask, alternate stack.
    pub signals: SignalState,
    /// Signals sent to the process and not yet delivered.
    pub pending: Vec<SigInfo>,
    /// Resource limits.
    pub rlimits: Rlimits,
    /// AT_RANDOM and `getrandom`.
    pub rng: Prng,
    /// Where clocks come from.
    pub time: TimeSource,
    /// Trace system calls.
    pub strace: bool,
    /// `set_tid_address` pointer (`clear_child_tid`).
    pub clear_child_tid: u64,
    /// `set_robust_list` head and length.
    pub robust_list: (u64, u64),
    /// User address of the `rt_sigreturn` trampoline (the one-page `[vdso]`).
    pub sigreturn_trampoline: u64,
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
            rlimits: Rlimits::default(),
            rng: Prng::new(config.seed),
            time: TimeSource::Host {
                start: std::time::Instant::now(),
            },
            strace: config.strace,
            clear_child_tid: 0,
            robust_list: (0, 0),
            sigreturn_trampoline: 0,
        }
    }

    /// The file system every process shares, set up per `config`, with its page cache in
    /// `phys` and the kernel's debugfs files.
    pub fn new_vfs(config: &KernelConfig, phys: &Arc<crate::mm::PhysMem>) -> Arc<Vfs> {
        let vfs = Vfs::new(VfsConfig {
            phys: Some(Arc::clone(phys)),
            clock: VfsConfig::system_clock(),
            urandom_seed: config.seed ^ 0x7572_616e_646f_6d00,
            ..VfsConfig::default()
        });
        // debugfs: /sys/kernel/debug/gup_test. Cannot fail on a fresh tree; an error
        // would only leave the file missing (ENOENT, as on a kernel without it).
        let _ = crate::mm::gup_test::register(&vfs);
        Arc::new(vfs)
    }

    /// `copy_process` for `fork`: a child with `mm` (already duplicated by
    /// `Mm::dup_mmap`), the parent's descriptors (sharing open file descriptions),
    /// dispositions, mask, limits and registers; no pending signals.
    pub fn fork(&mut self, pid: u32, mm: Mm, ctx: UserContext) -> Process {
        Process {
            pid,
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
            rlimits: self.rlimits.clone(),
            rng: Prng::new(self.rng.next_u64()),
            time: self.time,
            strace: self.strace,
            clear_child_tid: 0,
            robust_list: (0, 0),
            sigreturn_trampoline: self.sigreturn_trampoline,
        }
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
