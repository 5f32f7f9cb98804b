//! The per-task files of procfs that reach into another process's address space:
//! `/proc/<pid>/mem` (`fs/proc/base.c`), `/proc/<pid>/maps`, `smaps`, `smaps_rollup`
//! ([`smaps`]), `/proc/<pid>/pagemap` and `/proc/<pid>/clear_refs` (`fs/proc/task_mmu.c`),
//! also under `/proc/self` and `/proc/thread-self`; and the process-table lines
//! `/proc/<pid>/stat` and `comm` ([`stat`]), and `/proc/<pid>/status` ([`status`]).
//!
//! Each has its own [`FileOperations`] (`proc_mem_operations`,
//! `proc_pid_maps_operations`, `proc_pid_smaps_operations`,
//! `proc_pid_smaps_rollup_operations`, `proc_pagemap_operations`,
//! `proc_clear_refs_operations`, chosen by
//! [`file_operations`]);
//! their work needs the whole process table, so the kernel serves every call on them with
//! a [`FileCtx`] that holds it (see `fs::kfile` and [`crate::syscall::kfile`]). Their
//! `open` (`mem_open()`, `proc_maps_open()`, `pagemap_open()`) is [`open`]; `maps` and
//! `smaps` are [`crate::fs::SeqFile`]s rendered VMA by VMA from the position,
//! `smaps_rollup` one of a single record.
//!
//! What a descriptor refers to: the task and the address space it had at open
//! (`mmgrab()`). A read or write first checks that this address space is still alive
//! (`mmget_not_zero()`): once the task has exited (its address space is released at exit,
//! see [`crate::mm::Mm::release`]), been reaped, or exec'd a new image, reads return 0
//! and writes write nothing. Opening `mem` of a zombie fails with `ESRCH` (`__mem_open()`
//! of current kernels: no mm); `maps`, `smaps` and `pagemap` of a zombie open and read
//! empty; reading `smaps_rollup` of one fails with `ESRCH` (`show_smaps_rollup()`).
//!
//! Permission: Linux asks `ptrace_may_access(PTRACE_MODE_ATTACH)` for `mem` and
//! `PTRACE_MODE_READ` for `maps`/`smaps`/`pagemap`, which a task of the same uid passes (with the
//! default Yama scope 0). Every task here runs as uid 0, so every open is allowed;
//! `pagemap` shows PFNs because the opener has `CAP_SYS_ADMIN`.

mod clear_refs;
mod maps;
mod mem;
pub mod meminfo;
mod mounts;
mod pagemap;
pub mod smaps;
mod stat;
mod status;
#[cfg(test)]
mod tests;

pub use clear_refs::{clear_refs_parse, clear_refs_write, ProcClearRefsFile};
pub use maps::{show_map_vma, show_maps, ProcMapsFile};
pub use mem::{mem_rw, ProcMemFile};
pub use meminfo::{meminfo_proc_show, vmstat_show, ProcPhysShowFile};
pub use mounts::ProcMountsFile;
pub use pagemap::{
    pagemap_entry, pagemap_read, ProcPagemapFile, PM_FILE, PM_MMAP_EXCLUSIVE, PM_PFRAME_MASK,
    PM_PRESENT, PM_SOFT_DIRTY, PM_SWAP,
};
pub use smaps::{show_smap, show_smaps_rollup, MemSizeStats, PSS_SHIFT};
pub use stat::{show_stat, ProcStatFile};
pub use status::show_status;

use std::sync::OnceLock;

use crate::errno::{Errno, KResult};
use crate::fs::{
    FileCtx, FileOperations, IoResult, KernelFileBinding, Kiocb, ProcFile, ProcTask, SEEK_CUR,
    SEEK_SET,
};
use crate::process::{TaskState, Tasks};

/// The operations of `file` of `task`, for one open (`tgid_base_stuff[]`'s `fops`).
pub fn file_operations(file: ProcFile, task: ProcTask) -> Box<dyn FileOperations> {
    let binding = ProcBinding::new(file, task);
    match file {
        ProcFile::Mem => Box::new(ProcMemFile { binding }),
        ProcFile::Maps | ProcFile::Smaps | ProcFile::SmapsRollup => {
            Box::new(ProcMapsFile::new(binding))
        }
        ProcFile::Pagemap => Box::new(ProcPagemapFile { binding }),
        ProcFile::ClearRefs => Box::new(ProcClearRefsFile { binding }),
        ProcFile::Stat | ProcFile::Comm | ProcFile::Status => Box::new(ProcStatFile {
            kind: file,
            binding,
        }),
    }
}

/// A per-task file's `private_data`: which task it is about, and what its `open` bound
/// it to.
#[derive(Debug)]
pub struct ProcBinding {
    file: ProcFile,
    task: ProcTask,
    bound: OnceLock<KernelFileBinding>,
}

impl ProcBinding {
    fn new(file: ProcFile, task: ProcTask) -> Self {
        ProcBinding {
            file,
            task,
            bound: OnceLock::new(),
        }
    }

    /// The file's `->open` ([`open`]) by the caller of `ctx`; once (a later call keeps
    /// the first binding).
    ///
    /// # Errors
    /// As [`open`]; `EIO` without the process table.
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> KResult<()> {
        if self.bound.get().is_some() {
            return Ok(());
        }
        let (tasks, opener) = ctx.tasks()?;
        let b = open(tasks, opener, self.file, self.task)?;
        let _ = self.bound.set(b);
        Ok(())
    }

    /// What the open bound the file to (`None` before the open).
    pub fn get(&self) -> Option<KernelFileBinding> {
        self.bound.get().cloned()
    }

    /// Whether the address space bound at open is still alive (`mmget_not_zero()`
    /// succeeds and it has not been released).
    fn mm_alive(&self) -> bool {
        let Some(KernelFileBinding { mm: Some(grab), .. }) = self.get() else {
            return false;
        };
        grab.mmget_not_zero()
            .is_some_and(|users| !users.mmap_read_lock().is_dead())
    }
}

/// The file's `->open` for `file` of `task`, just opened by task `opener`: returns what
/// the descriptor is bound to, the task and its current address space
/// (`proc_mem_open()`: `mm_access()` + `mmgrab()`). A zombie target has no address
/// space: `maps` and `pagemap` then read as empty.
///
/// # Errors
/// `ESRCH` for `mem` of a task without an address space (`__mem_open()`); the caller
/// closes the descriptor and fails the `open`.
pub fn open(
    tasks: &mut Tasks<'_>,
    opener: u32,
    file: ProcFile,
    task: ProcTask,
) -> KResult<KernelFileBinding> {
    let pid = match task {
        ProcTask::Opener => opener,
        ProcTask::Pid(pid) => pid,
    };
    // mm_access() + mmgrab(): a zombie has no address space.
    let mm = tasks
        .get(pid)
        .filter(|t| !matches!(t.state(), TaskState::Zombie(_)))
        .and_then(|t| t.mm.as_ref())
        .filter(|mm| mm.mm_users() > 0)
        .map(crate::mm::MmUsers::mmgrab);
    if mm.is_none() && file == ProcFile::Mem {
        return Err(Errno::ESRCH);
    }
    Ok(KernelFileBinding { pid, mm })
}

/// A `->read`/`->write` whose work (`rw(tasks, caller, pos)`, returning the result and
/// the new position) needs the process table: runs it from `iocb.pos` and stores the new
/// position.
///
/// # Errors
/// `EIO` without the process table; `rw`'s.
fn task_rw(
    ctx: &mut FileCtx<'_, '_>,
    iocb: &mut Kiocb,
    rw: impl FnOnce(&mut Tasks<'_>, u32, u64) -> (KResult<usize>, u64),
) -> IoResult<usize> {
    let (tasks, caller) = ctx.tasks()?;
    let (r, pos) = rw(tasks, caller, iocb.pos);
    iocb.pos = pos;
    Ok(r?)
}

/// `mem_lseek()` (`mem`, `pagemap`): `SEEK_SET` and `SEEK_CUR` (from `pos`) to any
/// 64-bit value.
///
/// # Errors
/// `EINVAL` for another `whence`.
fn mem_lseek(offset: i64, whence: u32, pos: u64) -> KResult<u64> {
    match whence {
        SEEK_SET => Ok(offset as u64),
        SEEK_CUR => Ok(pos.wrapping_add(offset as u64)),
        _ => Err(Errno::EINVAL),
    }
}
