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

/// One single-threaded process.
pub struct Process {
    /// Process id (and thread id).
    pub pid: u32,
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
    pub fn new(pid: u32, config: &KernelConfig, mm: Mm, stdio: Arc<HostStreams>) -> Self {
        let vfs = Arc::new(Vfs::new(VfsConfig {
            clock: VfsConfig::system_clock(),
            urandom_seed: config.seed ^ 0x7572_616e_646f_6d00,
            ..VfsConfig::default()
        }));
        let fs = ProcessFs::new(&vfs, &stdio);
        Self {
            pid,
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

    /// Writes a kernel message (strace line, fatal-signal note) to the guest's stderr stream.
    pub fn log(&self, msg: &str) {
        let _ = self.stdio.write_out(StdStream::Stderr, msg.as_bytes());
    }
}
