//! System calls: the riscv64 Linux ABI (number in a7, arguments in a0–a5, result or
//! `-errno` in a0), dispatch, `--strace`, and the handlers that need no subsystem of their
//! own. Unknown calls return `-ENOSYS`.

pub mod anonfd;
pub mod copy;
pub mod files;
pub mod fs;
pub mod kfile;
pub mod misc;
pub mod nr;
pub mod poll;
pub mod prctl;
pub mod process_vm;
pub mod splice;
pub mod sys;
pub mod unlocked;

use emu::Hart;

use crate::config::ExitStatus;
use crate::errno::{Errno, KResult};
use std::sync::Arc;

use crate::mm::mmap::MAP_ANONYMOUS;
use crate::mm::MappedFile;
use crate::process::Task;
use crate::signal::{force_sig, restore_sigframe, SIGSEGV};
use crate::uaccess::UserAccess;
use nr::*;

/// What the kernel loop does after a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallOutcome {
    /// Return this value in a0 and resume after the `ecall`.
    Return(u64),
    /// The registers were replaced (`rt_sigreturn`): resume at the restored pc.
    Resume,
    /// The process ended.
    Exit(ExitStatus),
    /// The call cannot complete now: the process sleeps and re-issues the same `ecall`
    /// when what it waits on may have changed (Linux's `-ERESTARTSYS` restart).
    Block(crate::process::WaitOn),
    /// The call stopped at a scheduling point (`-ERESTARTNOINTR`, see
    /// [`crate::percpu`]): the thread stays runnable with its pc at the `ecall`, and the
    /// re-issued call resumes where it stopped.
    Restart,
}

/// Modelled cycles are converted to time at this nominal clock (1 GHz) for the CPU-time
/// clocks.
const NOMINAL_HZ: u64 = 1_000_000_000;

/// The system-call number and arguments in the hart's registers (a7; a0–a5).
pub fn args(hart: &Hart<'_>) -> (u64, [u64; 6]) {
    (
        hart.x[17],
        [
            hart.x[10], hart.x[11], hart.x[12], hart.x[13], hart.x[14], hart.x[15],
        ],
    )
}

/// Handles the `ecall` the hart stopped at. `hart` holds the live registers. Calls that
/// manage processes (`clone`, `execve`, `wait4`, `kill`, `exit`…) are the kernel's and are
/// handled before this.
pub fn dispatch(task: &mut Task, hart: &mut Hart<'_>) -> SyscallOutcome {
    let (nr, a) = args(hart);
    let result = handle(task, hart, nr, a);
    finish(task, nr, a, result)
}

/// Turns a handler's result into the outcome (errors become `-errno`) and writes the
/// `--strace` line.
pub fn finish(
    proc: &Task,
    nr: u64,
    a: [u64; 6],
    result: KResult<SyscallOutcome>,
) -> SyscallOutcome {
    let outcome = match result {
        Ok(o) => o,
        Err(Errno::ERESTARTNOINTR) => SyscallOutcome::Restart,
        Err(e) => SyscallOutcome::Return(e.as_return()),
    };
    if proc.strace {
        let name = nr::name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_string);
        let ret = match (outcome, result) {
            (_, Err(e)) => format!("-1 {}", e.name()),
            (SyscallOutcome::Return(v), _) => format!("{:#x}", v),
            (SyscallOutcome::Resume, _) => "(resumed)".to_string(),
            (SyscallOutcome::Exit(_), _) => "?".to_string(),
            (SyscallOutcome::Block(_), _) => "(blocked; restarted)".to_string(),
            (SyscallOutcome::Restart, _) => "? ERESTARTNOINTR (to be restarted)".to_string(),
        };
        proc.log(&format!(
            "{} {name}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) = {ret}\n",
            proc.tid, a[0], a[1], a[2], a[3], a[4], a[5]
        ));
    }
    outcome
}

fn ret(v: KResult<u64>) -> KResult<SyscallOutcome> {
    v.map(SyscallOutcome::Return)
}

/// A read/write that would block puts the process to sleep until another process does
/// I/O (the kernel detects the case where nothing can ever wake it).
pub(crate) fn ret_io(v: crate::fs::IoResult<u64>) -> KResult<SyscallOutcome> {
    match v {
        Ok(n) => Ok(SyscallOutcome::Return(n)),
        Err(crate::fs::IoError::Errno(e)) => Err(e),
        Err(crate::fs::IoError::WouldBlock(_)) => {
            Ok(SyscallOutcome::Block(crate::process::WaitOn::Io))
        }
    }
}

/// The memory-map calls that need nothing of the caller but its address space:
/// `brk`, anonymous `mmap`, `munmap`, `mprotect`, `madvise`, `mremap`, `mlock`,
/// `mlock2`, `munlock`, `mlockall` and `munlockall`, each under the `mmap_lock` side Linux takes (the write side; the read
/// side for `madvise()` advice that leaves the VMAs alone, `madvise_need_mmap_write()`,
/// so that faults of other threads go on; `mlock_fixup()` changes `VM_LOCKED`, so
/// `do_mlock()` takes the write side). `None` for any other call. Not `msync`: its
/// `page_mkclean()` write-protects the pages in every address space that maps them,
/// whose TLB maintenance the kernel lock's holder carries out. The TLB maintenance
/// they leave is pending in `mm` ([`crate::mm::Mm::take_tlb_batch`]). Served by
/// [`handle`] under the kernel lock, and by a hart without it (`kernel.rs`, the
/// unlocked path).
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn mm_call(mm: &crate::mm::MmStruct, nr: u64, a: [u64; 6]) -> Option<KResult<u64>> {
    use crate::lockstat::MMAP_LOCK;
    let write = || MMAP_LOCK.acquire(|| mm.mmap_write_trylock(), || mm.mmap_write_lock());
    let advice = a[2] as i32;
    Some(match nr {
        SYS_brk => Ok(write().brk(a[0])),
        SYS_mmap if a[3] & MAP_ANONYMOUS != 0 => {
            write().sys_mmap(a[0], a[1], a[2], a[3], None, a[5])
        }
        SYS_munmap => write().do_munmap(a[0], a[1]),
        SYS_mprotect => write().mprotect(a[0], a[1], a[2]),
        SYS_madvise if !crate::mm::mmap::madvise_need_mmap_write(advice) => {
            crate::mm::madvise::madvise_read_locked(
                &mut MMAP_LOCK.acquire(|| mm.mmap_read_trylock(), || mm.mmap_read_lock()),
                a[0],
                a[1],
                advice,
            )
        }
        SYS_madvise => write().madvise(a[0], a[1], advice),
        SYS_mremap => write().mremap(a[0], a[1], a[2], a[3], a[4]),
        SYS_mlock => write().mlock(a[0], a[1], true),
        SYS_munlock => write().mlock(a[0], a[1], false),
        SYS_mlock2 => write().mlock2(a[0], a[1], a[2]),
        SYS_mlockall => write().mlockall(a[0], false),
        SYS_munlockall => write().mlockall(0, true),
        _ => return None,
    })
}

/// The file-system calls that need nothing of the caller but its descriptor table and
/// fs information (`fsx`: `current->files`, `current->fs`, credentials), the VFS and
/// its memory (`u`), and that neither block nor wake another task: the path calls
/// (`unlinkat`, `mkdirat`, `renameat`/`renameat2`, `linkat`, `symlinkat`, `mknodat`,
/// `fchmod`/`fchmodat`/`fchmodat2`, `fchown`/`fchownat`, `utimensat`, `faccessat`/
/// `faccessat2`, `readlinkat`, `chdir`, `fchdir`, `statfs`), `fstat`/`newfstatat`/`statx`,
/// `fstatfs`, `fadvise64`, `readahead`, `uname` (the VFS holds the UTS namespace),
/// `getcwd`, `umask`,
/// the calls that read the caller's credentials ([`sys::cred_read_call`]: `getuid`…,
/// `getresuid`, `getresgid`, `getgroups`),
/// `dup`, `fcntl`, `pipe2`, `eventfd2`, `memfd_create`, `sync`, `syncfs`, `epoll_create1`,
/// `epoll_ctl`: under the locks of the
/// parts they touch (the descriptor table's, `fs->lock`, each inode's and the page
/// cache's, the `mmap_lock` read side for each user copy). `None` for any other call.
/// Served by [`handle`] under the kernel lock, and by a hart without it
/// ([`unlocked::file_call`]).
///
/// Not here: calls that may block or whose effect reaches other tasks' address spaces —
/// `read`/`write` (a pipe, a FIFO, a host stream may block; [`unlocked::file_call`]
/// serves them on VFS files), `truncate`/`ftruncate`/`fallocate` (they unmap the cut
/// pages from every address space that maps them, whose TLB maintenance the kernel
/// lock's holder carries out), `ioctl` and `fsync` (a host stream's order is the kernel
/// lock's).
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn vfs_call(
    fsx: &mut crate::fs::ProcessFs,
    vfs: &crate::fs::Vfs,
    u: &mut dyn UserAccess,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    if let Some(r) = sys::cred_read_call(fsx, u, nr, a) {
        return Some(r);
    }
    Some(match nr {
        SYS_fstat => fs::sys_fstat(fsx, vfs, u, a[0], a[1]),
        SYS_newfstatat => fs::sys_newfstatat(fsx, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_statx => fs::sys_statx(fsx, vfs, u, a[0], a[1], a[2], a[3], a[4]),
        SYS_unlinkat => fs::sys_unlinkat(fsx, vfs, u, a[0], a[1], a[2]),
        SYS_mkdirat => fs::sys_mkdirat(fsx, vfs, u, a[0], a[1], a[2]),
        SYS_renameat2 => fs::sys_renameat2(fsx, vfs, u, a[0], a[1], a[2], a[3], a[4]),
        SYS_renameat => fs::sys_renameat2(fsx, vfs, u, a[0], a[1], a[2], a[3], 0),
        SYS_linkat => fs::sys_linkat(fsx, vfs, u, a[0], a[1], a[2], a[3], a[4]),
        SYS_symlinkat => fs::sys_symlinkat(fsx, vfs, u, a[0], a[1], a[2]),
        SYS_mknodat => fs::sys_mknodat(fsx, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_fchmod => fs::sys_fchmod(fsx, vfs, a[0], a[1]),
        SYS_fchmodat => fs::sys_fchmodat(fsx, vfs, u, a[0], a[1], a[2]),
        SYS_fchmodat2 => fs::sys_fchmodat2(fsx, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_fchown => fs::sys_fchown(fsx, vfs, a[0], a[1], a[2]),
        SYS_fchownat => fs::sys_fchownat(fsx, vfs, u, a[0], a[1], a[2], a[3], a[4]),
        SYS_utimensat => fs::sys_utimensat(fsx, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_getcwd => fs::sys_getcwd(fsx, vfs, u, a[0], a[1]),
        SYS_chdir => fs::sys_chdir(fsx, vfs, u, a[0]),
        SYS_fcntl => fs::sys_fcntl(fsx, a[0], a[1], a[2]),
        SYS_dup => fs::sys_dup(fsx, a[0]),
        SYS_pipe2 => fs::sys_pipe2(fsx, vfs, u, a[0], a[1]),
        SYS_eventfd2 => anonfd::sys_eventfd2(fsx, a[0], a[1]),
        SYS_epoll_create1 => poll::sys_epoll_create1(fsx, a[0]),
        SYS_epoll_ctl => poll::sys_epoll_ctl(fsx, u, a[0], a[1], a[2], a[3]),
        SYS_faccessat => fs::sys_faccessat(fsx, vfs, u, a[0], a[1], a[2]),
        SYS_faccessat2 => fs::sys_faccessat2(fsx, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_readlinkat => fs::sys_readlinkat(fsx, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_umask => Ok(u64::from(fsx.fs.set_umask((a[0] as u32) & 0o777))),
        SYS_sync => {
            // ksys_sync() returns nothing: errors stay recorded on the files.
            let _ = vfs.sync();
            Ok(0)
        }
        SYS_syncfs => fs::sys_syncfs(fsx, vfs, a[0]),
        SYS_memfd_create => fs::sys_memfd_create(fsx, vfs, u, a[0], a[1]),
        SYS_uname => misc::sys_uname(vfs.uts(), u, a[0]),
        SYS_fchdir => files::sys_fchdir(fsx, vfs, a[0]),
        SYS_statfs => files::sys_statfs(fsx, vfs, u, a[0], a[1]),
        SYS_fstatfs => files::sys_fstatfs(fsx, vfs, u, a[0], a[1]),
        SYS_fadvise64 => files::sys_fadvise64(fsx, a[0], a[2], a[3]),
        SYS_readahead => files::sys_readahead(fsx, a[0]),
        _ => return None,
    })
}

/// What [`group_call`]'s calls need of their caller: its thread group (`current->signal`:
/// parent, threads, limits, `AT_RANDOM`'s generator), its ids, its clocks (`cpu_ns`:
/// its hart's modelled cycles at the nominal clock, which the virtual clock reads) and
/// its CPU time and its group's (`cputime`).
#[derive(Debug)]
pub struct GroupCaller<'a> {
    /// The thread group.
    pub signal: &'a crate::process::SignalStruct,
    /// The process id.
    pub tgid: u32,
    /// The thread id.
    pub tid: u32,
    /// Where the clocks come from.
    pub time: misc::TimeSource,
    /// The hart's modelled cycles at the nominal clock, in ns (the virtual clock's time).
    pub cpu_ns: u64,
    /// The caller's CPU time, its group's and its children's, as `clock_gettime`'s
    /// CPU-time clocks and `getrusage` read them.
    pub(crate) cputime: &'a dyn misc::CpuTimes,
}

/// The identity, limit and time calls that need nothing of the caller but what
/// [`GroupCaller`] holds and its memory (`mm`, `u`): `getpid`, `gettid`, `getppid`,
/// `times`, `sched_get_priority_max`/`_min`, `prlimit64` on the caller's process, `getrlimit`,
/// `setrlimit`, `sysinfo`, `getrusage`, `membarrier`, `clock_gettime`,
/// `clock_getres`, `gettimeofday`, `getrandom`: under the thread group's lock (its
/// limits, its generator) and the `mmap_lock` read side for each user copy. `None` for
/// any other call. Served by [`handle`] under the kernel lock, and by a hart without it
/// ([`unlocked::file_call`]).
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn group_call(
    g: &GroupCaller<'_>,
    mm: &crate::mm::MmStruct,
    u: &mut dyn UserAccess,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    let threads = || g.signal.threads();
    Some(match nr {
        SYS_getpid => Ok(u64::from(g.tgid)),
        SYS_gettid => Ok(u64::from(g.tid)),
        SYS_getppid => Ok(u64::from(g.signal.ppid())),
        // The caller's process, by its pid or any of its threads' ids.
        SYS_prlimit64
            if a[0] != 0 && a[0] != u64::from(g.tgid) && !threads().contains(&(a[0] as u32)) =>
        {
            Err(Errno::ESRCH)
        }
        SYS_prlimit64 => prlimit64(g.signal, u, a[1], a[2], a[3]),
        SYS_getrlimit => prlimit64(g.signal, u, a[0], 0, a[1]),
        SYS_setrlimit => prlimit64(g.signal, u, a[0], a[1], 0),
        SYS_sysinfo => {
            let phys = Arc::clone(mm.mmap_read_lock().phys());
            sys_sysinfo(u, &phys, g.time, a[0])
        }
        SYS_getrusage => return misc::sys_getrusage(u, g.cputime, g.tid, a[0], a[1]),
        SYS_membarrier => sys_membarrier(a[0], a[1]),
        SYS_clock_gettime => {
            let threads = threads();
            let caller = (g.tgid, g.tid, &threads[..]);
            let cpu_ns = misc::cpu_clock_ns(g.cputime, caller, a[0])?;
            misc::sys_clock_gettime(u, &g.time, g.cpu_ns, cpu_ns, caller, a[0], a[1])
        }
        SYS_clock_getres => misc::sys_clock_getres(u, (g.tgid, g.tid, &threads()), a[0], a[1]),
        SYS_gettimeofday => misc::sys_gettimeofday(u, &g.time, 0, a[0], a[1]),
        SYS_getrandom => getrandom(g.signal, u, a),
        SYS_times => sys::sys_times(u, g.cputime, g.time.now(g.cpu_ns).1, a[0]),
        SYS_sched_get_priority_max => sys::sched_priority_bound(a[0], true),
        SYS_sched_get_priority_min => sys::sched_priority_bound(a[0], false),
        _ => return None,
    })
}

/// The calls that register the caller's own user pointers ([`crate::process::UserPtrs`]
/// of task `tid`): `set_tid_address(tidptr)` (returns the tid) and
/// `set_robust_list(head, len)` (`len` must be `sizeof(struct robust_list_head)`, 24:
/// `EINVAL`). Only the task writes them, so they need no lock: served by [`handle`] under
/// the kernel lock, and by a hart without it ([`unlocked::file_call`]). `None` for any
/// other call.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn task_call(
    ptrs: &crate::process::UserPtrs,
    tid: u32,
    nr: u64,
    a: [u64; 6],
) -> Option<KResult<u64>> {
    Some(match nr {
        SYS_set_tid_address => {
            ptrs.set_clear_child_tid(a[0]);
            Ok(u64::from(tid))
        }
        SYS_set_robust_list if a[1] != 24 => Err(Errno::EINVAL),
        SYS_set_robust_list => {
            ptrs.set_robust_list(a[0], a[1]);
            Ok(0)
        }
        _ => return None,
    })
}

/// Runs system call `nr` with arguments `a` for the current task `task` — its accesses to
/// the caller's memory under the read side of the `mmap_lock`, taken for each access
/// (`copy_to_user()`, see `impl UserAccess for &MmStruct`), the calls that change the
/// VMAs ([`mm_call`]'s, file `mmap`, `mremap`, `mlock`) under the write side for their
/// own length — without the `--strace` line and
/// without turning errors into `-errno` (the kernel finishes calls it completes itself,
/// e.g. `openat` of a kernel-served file, with [`finish`]).
///
/// # Errors
/// The call's errno.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn handle(
    task: &mut Task,
    hart: &mut Hart<'_>,
    nr: u64,
    a: [u64; 6],
) -> KResult<SyscallOutcome> {
    let p = &mut *task;
    // A running task has an address space: it loses it only when it exits.
    let mm_users = p.mm.clone().ok_or(Errno::ESRCH)?;
    if let Some(r) = mm_call(&mm_users, nr, a) {
        return ret(r);
    }
    // copy_{to,from}_user() take the read side for each access, as a fault does; only
    // the calls that change the VMAs take the write side, for their own length.
    let mut user: &crate::mm::MmStruct = &mm_users;
    let write = || {
        crate::lockstat::MMAP_LOCK.acquire(
            || mm_users.mmap_write_trylock(),
            || mm_users.mmap_write_lock(),
        )
    };
    let (fsx, vfs, u): (
        &mut crate::fs::ProcessFs,
        &crate::fs::Vfs,
        &mut dyn UserAccess,
    ) = (&mut p.fs, &p.vfs, &mut user);
    if let Some(r) = vfs_call(fsx, vfs, u, nr, a) {
        return ret(r);
    }
    let group = GroupCaller {
        signal: &p.signal,
        tgid: p.tgid,
        tid: p.tid,
        time: p.time,
        cpu_ns: cycles_to_ns(hart.stats().cycles),
        cputime: &misc::OwnCpuTimes {
            tid: p.tid,
            task: &p.cputime,
            group: &p.signal,
        },
    };
    if let Some(r) = group_call(&group, &mm_users, u, nr, a) {
        return ret(r);
    }
    if let Some(r) = task_call(&p.user_ptrs, p.tid, nr, a) {
        return ret(r);
    }
    if let Some(r) = sys::cred_write_call(fsx, p.tid, u, nr, a) {
        return ret(r);
    }
    match nr {
        // ---- files (syscall::fs) ----
        SYS_openat => ret(fs::sys_openat(fsx, vfs, u, a[0], a[1], a[2], a[3])),
        SYS_openat2 => {
            let (flags, mode) = files::openat2_how(u, a[2], a[3])?;
            ret(fs::sys_openat(fsx, vfs, u, a[0], a[1], flags, mode))
        }
        SYS_close => ret(fs::sys_close(fsx, a[0])),
        SYS_read => ret_io(fs::sys_read(fsx, vfs, u, a[0], a[1], a[2])),
        SYS_write => ret_io(fs::sys_write(fsx, vfs, u, a[0], a[1], a[2])),
        SYS_readv => ret_io(fs::sys_readv(fsx, vfs, u, a[0], a[1], a[2])),
        SYS_writev => ret_io(fs::sys_writev(fsx, vfs, u, a[0], a[1], a[2])),
        SYS_pread64 => ret(fs::sys_pread64(fsx, vfs, u, a[0], a[1], a[2], a[3])),
        SYS_pwrite64 => ret(fs::sys_pwrite64(fsx, vfs, u, a[0], a[1], a[2], a[3])),
        SYS_lseek => ret(fs::sys_lseek(fsx, a[0], a[1], a[2])),
        SYS_getdents64 => ret(fs::sys_getdents64(fsx, vfs, u, a[0], a[1], a[2])),
        SYS_dup3 => ret(fs::sys_dup3(fsx, a[0], a[1], a[2])),
        SYS_vmsplice => ret_io(splice::sys_vmsplice(
            &p.fs, &mm_users, a[0], a[1], a[2], a[3],
        )),
        SYS_ftruncate => ret(fs::sys_ftruncate(fsx, vfs, a[0], a[1])),
        SYS_ioctl => match crate::fs::userfaultfd_dev_ioctl(fsx, &mm_users, a[0], a[1], a[2]) {
            Some(r) => ret(r),
            None => ret(fs::sys_ioctl(fsx, vfs, u, a[0], a[1], a[2])),
        },
        SYS_userfaultfd => ret(crate::fs::sys_userfaultfd(fsx, &mm_users, a[0])),
        SYS_fsync | SYS_fdatasync => ret(fs::sys_fsync(fsx, a[0])),
        SYS_truncate => ret(fs::sys_truncate(fsx, vfs, u, a[0], a[1])),
        SYS_fallocate => ret(fs::sys_fallocate(fsx, vfs, a[0], a[1], a[2], a[3])),
        SYS_sendfile => ret_io(copy::sys_sendfile(fsx, vfs, u, a[0], a[1], a[2], a[3])),
        SYS_copy_file_range => ret(copy::sys_copy_file_range(
            fsx, vfs, u, a[0], a[1], a[2], a[3], a[4], a[5],
        )),
        // The closed descriptions are released here, under the kernel lock (`fput()`).
        SYS_close_range => ret(files::sys_close_range(fsx, a[0], a[1], a[2]).map(|_| 0)),
        // A blocking request that conflicts waits by being re-issued at the next
        // scheduling point (the holder runs meanwhile), not on a wait queue.
        SYS_flock => match files::sys_flock(fsx, vfs, a[0], a[1]) {
            Err(Errno::EAGAIN) if !files::flock_nonblocking(a[1]) => Err(Errno::ERESTARTNOINTR),
            r => ret(r),
        },

        // ---- memory (mm::mmap) ----
        SYS_mincore => ret(mm_users.mincore(u, a[0], a[1], a[2])),
        // ksys_msync(): the read side for each VMA look-up, none across a writeback.
        SYS_msync => ret(mm_users.msync(a[0], a[1], a[2])),
        SYS_mmap => {
            let file: Option<Arc<dyn MappedFile>> = if a[3] & MAP_ANONYMOUS == 0 {
                match fs::mmap_file(&p.fs, a[4]) {
                    Ok(f) => Some(f),
                    Err(e) => return ret(Err(e)),
                }
            } else {
                None
            };
            ret(write().sys_mmap(a[0], a[1], a[2], a[3], file, a[5]))
        }
        SYS_riscv_flush_icache => {
            // riscv's sys_riscv_flush_icache(start, end, flags): this hart now; without
            // SYS_RISCV_FLUSH_ICACHE_LOCAL every hart that may run the address space
            // too (flush_icache_mm(): by IPI, with the next TLB maintenance).
            const SYS_RISCV_FLUSH_ICACHE_LOCAL: u64 = 1;
            if a[2] & !SYS_RISCV_FLUSH_ICACHE_LOCAL != 0 {
                return ret(Err(Errno::EINVAL));
            }
            hart.flush_icache();
            if a[2] & SYS_RISCV_FLUSH_ICACHE_LOCAL == 0 {
                mm_users.mmap_read_lock().request_icache_flush();
            }
            ret(Ok(0))
        }

        // ---- process identity and exit ----
        // `exit` of one thread is the kernel's; here it ends a single-threaded caller.
        SYS_exit | SYS_exit_group => Ok(SyscallOutcome::Exit(ExitStatus::Exited(a[0] as u8))),
        SYS_sched_yield => ret(Ok(0)),
        SYS_capget => ret(sys::sys_capget(&fsx.ids, p.tid, u, a[0], a[1])),
        SYS_personality => ret(Ok(sys::sys_personality(&mut p.attrs, a[0]))),
        SYS_getcpu => ret(sys::sys_getcpu(u, hart.hart_id(), a[0], a[1])),
        SYS_sethostname | SYS_setdomainname => ret(misc::sys_sethostname(
            &fsx.ids,
            vfs.uts(),
            u,
            nr == SYS_setdomainname,
            a[0],
            a[1],
        )),
        SYS_prctl => ret(prctl::sys_prctl(p, u, a)),

        // ---- signals ----
        SYS_rt_sigaction => {
            // Discarding the pending instances of a signal this makes ignored is the
            // kernel's (do_sigaction's flush_sigqueue_mask() over every thread).
            ret(p
                .signals
                .sighand()
                .sys_rt_sigaction(u, a[0], a[1], a[2], a[3]))
        }
        SYS_rt_sigprocmask => ret(p
            .signals
            .blocked
            .sys_rt_sigprocmask(u, a[0], a[1], a[2], a[3])),
        SYS_sigaltstack => ret(p.signals.altstack.sys_sigaltstack(u, a[0], a[1], hart.x[2])),
        SYS_rt_sigpending => ret(crate::signal::sys_rt_sigpending(
            u,
            a[0],
            a[1],
            p.signals.blocked.get(),
            p.pending.set() | p.signal.shared_pending_set(),
        )),
        SYS_rt_sigsuspend => {
            // Sleep with the given mask until a signal is delivered; the handler's frame
            // restores the old mask (current->saved_sigmask) and the call returns EINTR.
            if a[1] != 8 {
                return ret(Err(Errno::EINVAL));
            }
            let mask = u.get_user_u64(a[0])? & !((1 << 8) | (1 << 18));
            if p.signals.saved_mask.is_none() {
                p.signals.saved_mask = Some(p.signals.blocked.get());
            }
            p.signals.blocked.set(mask);
            let shared = p.signal.lock().shared_pending.clone();
            if shared
                .iter()
                .chain(&p.pending.snapshot())
                .any(|s| !p.signals.is_blocked(s.signo))
            {
                return ret(Err(Errno::EINTR));
            }
            Ok(SyscallOutcome::Block(crate::process::WaitOn::Signal))
        }
        SYS_rt_sigreturn => {
            let mut ctx = hart.save_context();
            let signals = &p.signals;
            if restore_sigframe(u, &mut ctx, &signals.blocked, &signals.altstack).is_err() {
                // badframe: force_sig(SIGSEGV); return 0.
                force_sig(&mut p.signals, &mut p.pending, SIGSEGV);
                return Ok(SyscallOutcome::Return(0));
            }
            hart.restore_context(&ctx);
            Ok(SyscallOutcome::Resume)
        }
        // ---- process management, futexes and sleeping are the kernel's ----
        _ => ret(Err(Errno::ENOSYS)),
    }
}

/// `prlimit64()` on the caller's process, whose limits its thread group `signal` holds
/// (see [`misc::sys_prlimit64`]).
///
/// # Errors
/// As [`misc::sys_prlimit64`].
fn prlimit64(
    signal: &crate::process::SignalStruct,
    u: &mut dyn UserAccess,
    resource: u64,
    new: u64,
    old: u64,
) -> KResult<u64> {
    misc::sys_prlimit64(u, resource, new, old, &mut |r, l| {
        signal.lock().rlimits.exchange(r, l)
    })
}

/// `getrandom(a[0], a[1], a[2])` from the generator of the caller's thread group
/// `signal` (see [`misc::sys_getrandom`]).
///
/// # Errors
/// As [`misc::sys_getrandom`].
pub(crate) fn getrandom(
    signal: &crate::process::SignalStruct,
    u: &mut dyn UserAccess,
    a: [u64; 6],
) -> KResult<u64> {
    misc::sys_getrandom(u, &mut |c| signal.lock().rng.fill(c), a[0], a[1], a[2])
}

/// `membarrier(cmd, flags, cpu_id)` (`kernel/sched/membarrier.c`): `flags` must be 0
/// (or `MEMBARRIER_CMD_FLAG_CPU` with `MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ`), then
/// `MEMBARRIER_CMD_QUERY` returns the supported commands. This machine supports none
/// (0, as a kernel without `CONFIG_MEMBARRIER` commands would): the harts are host
/// threads that no system call can make execute a barrier at a given point, so every
/// other command is `EINVAL`, as Linux answers a command it does not offer.
///
/// # Errors
/// `EINVAL`.
fn sys_membarrier(cmd: u64, flags: u64) -> KResult<u64> {
    const MEMBARRIER_CMD_QUERY: i32 = 0;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
    const MEMBARRIER_CMD_FLAG_CPU: u32 = 1;
    let (cmd, flags) = (cmd as u32 as i32, flags as u32);
    let flags_ok = if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ {
        flags == 0 || flags == MEMBARRIER_CMD_FLAG_CPU
    } else {
        flags == 0
    };
    if !flags_ok || cmd != MEMBARRIER_CMD_QUERY {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

pub(crate) fn cycles_to_ns(cycles: u64) -> u64 {
    (u128::from(cycles) * 1_000_000_000 / u128::from(NOMINAL_HZ)) as u64
}

/// `sysinfo(info)`: `struct sysinfo` (112 bytes on 64-bit), RAM figures from the frame
/// allocator, `mem_unit` = 1.
fn sys_sysinfo(
    u: &mut dyn UserAccess,
    phys: &crate::mm::PhysMem,
    time: misc::TimeSource,
    info: u64,
) -> KResult<u64> {
    let pages = &phys.pages;
    let mut b = [0u8; 112];
    let uptime = match time {
        misc::TimeSource::Host { start } => start.elapsed().as_secs(),
        misc::TimeSource::Virtual { .. } => 0,
    };
    b[0..8].copy_from_slice(&uptime.to_le_bytes());
    b[32..40].copy_from_slice(&(pages.nr_total() * 4096).to_le_bytes());
    b[40..48].copy_from_slice(&(pages.nr_free() * 4096).to_le_bytes());
    b[80..82].copy_from_slice(&1u16.to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    u.copy_to_user(info, &b)?;
    Ok(0)
}
