//! `/proc/<pid>/stat` (`do_task_stat()`, `fs/proc/array.c`) and `/proc/<pid>/comm`
//! (`comm_show()`, `fs/proc/base.c`): one line each, rendered from the process table at
//! each read and served from the file position.
//!
//! `stat` is the 52 fields of `do_task_stat()` for the process (its group leader):
//! `pid (comm) state ppid pgrp session tty_nr tpgid ...`, with `tty_nr` 0 and `tpgid`
//! -1 (no controlling terminal: the guest's stdio is not a tty), `num_threads`, the
//! `exit_signal`, `nice` 0 and `priority` 20 (every task is nice 0). Fields this kernel
//! does not keep (fault counts, CPU times, memory layout addresses, signal masks) are 0.

use super::{task_rw, ProcBinding};
use crate::errno::Errno;
use crate::fs::{FileCtx, FileOperations, IoResult, Kiocb, OpenFile, ProcFile};
use crate::process::{Task, TaskState, Tasks};

/// `proc_pid_stat`, `proc_pid_status` or `proc_pid_set_comm_operations`' read side: the
/// text of the bound task, rendered at each read; no `write`.
#[derive(Debug)]
pub struct ProcStatFile {
    pub(super) binding: ProcBinding,
    /// Which line: [`ProcFile::Stat`], [`ProcFile::Comm`] or [`ProcFile::Status`].
    pub(super) kind: ProcFile,
}

/// `task_state_array[]`'s letter for `task`.
pub(super) fn state_char(task: &Task) -> char {
    match task.state() {
        TaskState::Runnable => 'R',
        // `__TASK_TRACED`: "t (tracing stop)".
        TaskState::Blocked(crate::process::WaitOn::Traced) => 't',
        TaskState::Blocked(_) => 'S',
        TaskState::Zombie(_) => 'Z',
    }
}

/// The `stat` line of the process holding task `pid`, `None` if there is none.
pub fn show_stat(tasks: &mut Tasks<'_>, pid: u32) -> Option<Vec<u8>> {
    let tgid = tasks.get(pid)?.tgid;
    let leader = tasks.get(tgid)?;
    let (ppid, pgrp, session, threads) = {
        let g = leader.signal.lock();
        (g.ppid, g.pgrp, g.session, g.threads.len().max(1))
    };
    let mut out = format!(
        "{tgid} ({}) {} {ppid} {pgrp} {session} 0 -1 0 0 0 0 0 0 0 0 0 20 0 {threads} 0",
        String::from_utf8_lossy(leader.comm()),
        state_char(leader),
    );
    // starttime vsize rss rsslim startcode endcode startstack kstkesp kstkeip signal
    // blocked sigignore sigcatch wchan nswap cnswap: 0.
    out.push_str(&" 0".repeat(16));
    // exit_signal processor rt_priority policy.
    out.push_str(&format!(" {} 0 0 0", leader.exit_signal));
    // delayacct_blkio_ticks guest_time cguest_time start_data end_data start_brk
    // arg_start arg_end env_start env_end exit_code.
    out.push_str(&" 0".repeat(11));
    out.push('\n');
    Some(out.into_bytes())
}

impl FileOperations for ProcStatFile {
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> crate::errno::KResult<()> {
        self.binding.open(ctx)
    }

    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let pid = self.binding.get().map(|b| b.pid);
        let mut text = None;
        task_rw(ctx, iocb, |tasks, _caller, pos| {
            text = pid.and_then(|pid| match self.kind {
                ProcFile::Comm => {
                    let mut line = tasks.get(pid)?.comm().to_vec();
                    line.push(b'\n');
                    Some(line)
                }
                ProcFile::Status => super::status::show_status(tasks, pid),
                _ => show_stat(tasks, pid),
            });
            (Ok(0), pos)
        })?;
        // The task has been reaped: ESRCH, as get_proc_task() finds nothing.
        let text = text.ok_or(Errno::ESRCH)?;
        let start = usize::try_from(iocb.pos)
            .unwrap_or(usize::MAX)
            .min(text.len());
        let end = start.saturating_add(len).min(text.len());
        let n = ctx.copy_to_user(buf, text.get(start..end).unwrap_or_default())?;
        iocb.pos += n as u64;
        Ok(n)
    }

    /// No `write` (Linux's `comm` takes one from the task's own process: not here).
    fn can_write(&self) -> bool {
        false
    }

    fn llseek(
        &self,
        _file: &OpenFile,
        offset: i64,
        whence: u32,
        pos: u64,
    ) -> crate::errno::KResult<u64> {
        super::mem_lseek(offset, whence, pos)
    }
}
