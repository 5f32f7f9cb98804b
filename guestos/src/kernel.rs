//! The kernel: boot the machine, exec the first image, schedule tasks on the harts and
//! handle every exit — system calls, page faults (`handle_mm_fault`), fatal traps turned
//! into signals (`force_sig_fault`) — plus the calls that manage processes and threads:
//! `clone` (fork/vfork/threads), `execve`, `exit`/`exit_group`, `wait4`/`waitid`,
//! `kill`/`tkill`/`tgkill`, `futex`, `nanosleep`/`clock_nanosleep`, `get_robust_list`.
//!
//! Tasks: the kernel keeps every task ([`crate::process::Task`], `task_struct`) by tid.
//! A task points at shared, reference-counted parts — address space, descriptor table,
//! fs information, handlers, thread group — and `clone()` shares or copies each as its
//! flags say (`copy_process()`): a thread shares them all, a fork none, and any valid
//! mix in between is allowed (`CLONE_VM` for `vfork`/`posix_spawn` and processes on one
//! address space, `CLONE_FILES` between processes…). A process is the tasks of one
//! `tgid`; its leader's entry stands for it (and stays, exited, while other threads
//! run) until it is reaped.
//!
//! Scheduling: fair ([`sched`], after CFS), one run queue per hart (`struct rq`, each
//! behind its own `rq->lock`): a task is enqueued when it becomes runnable — at fork on
//! an idle or the least loaded hart, at wake-up on the hart it last ran on unless
//! another is idle (`select_task_rq()`, [`Kernel::activate_task`]) — and dequeued when
//! it blocks, exits or is pulled to another hart ([`Kernel::deactivate_task`]). Each
//! hart runs the task of its own queue that has had the least CPU time — user and
//! kernel — for a time slice measured in time (modelled cycles in deterministic mode,
//! host time in parallel mode); a hart whose queue is empty pulls a waiting task from
//! the busiest other queue before it idles (`newidle_balance()`). A woken task that
//! deserves the CPU more than its queue's running one preempts it, and a sleeper wakes
//! at its deadline however busy the others are (a host-side tick kicks harts in
//! parallel mode). Each address space has
//! its own ASID, shared by the tasks that share it, so a switch writes `satp` without
//! flushing the TLB. A call that cannot complete (`wait4` with no
//! zombie, a pipe read with no data) puts the task to sleep with its pc still at the
//! `ecall`, and the call is re-issued when what it waits on may have changed (Linux's
//! syscall restart): a child's exit, or for a pipe, the wait queue of the file it sleeps
//! on ([`crate::fs::WaitQueueHead`], whose waker — on any hart, with or without the
//! kernel lock — enqueues the sleeper itself, [`SchedWaker`], and the sleep ends when it
//! next runs); a futex wait or a `nanosleep` is instead completed by whoever ends it
//! (a `FUTEX_WAKE`, the timer, a signal: for a futex wait, whichever takes its waiter
//! off its hash bucket first, [`crate::futex`]; for a timer, whichever of its expiry
//! and its cancel takes it off its base first, [`hrtimer`]). Timers — sleepers'
//! deadlines and interval timers ([`itimer`]: `setitimer`, `alarm`) — run on the guest's
//! CLOCK_MONOTONIC, read by any hart without a lock ([`timekeeping`]); a sleeper's
//! deadline and a process's `ITIMER_REAL` are hrtimers on the timer base of the hart
//! that armed them ([`hrtimer`], one base per hart behind its own lock), the interval
//! timers' books are the thread group's (`siglock`); with every task asleep the kernel
//! idles until the first deadline. When nothing can ever run again the run ends
//! instead of hanging.
//!
//! Locks: the kernel lock (`Machine::lock`) serialises every kernel path but four, which
//! the hart that trapped handles without it in parallel mode (`run_user`): a user page
//! fault (`unlocked_fault`: under the read side of its address space's `mmap_lock` and
//! the page-table locks only, so threads of one process fault at once), the
//! memory-map calls `brk`, anonymous `mmap`, `munmap`, `mprotect`, `madvise`, `mremap`,
//! `mlock`, `munlock` (`unlocked_syscall`: under the `mmap_lock` alone, the side Linux
//! takes), a `sched_yield` whose task is alone on its hart's run queue (under the
//! queue's `rq->lock`: nothing to switch to), and the file
//! and identity calls ([`crate::syscall::unlocked`]:
//! `read`/`write`/`pread64`/`pwrite64`/`readv`/`writev`/
//! `lseek`/`getdents64`/`mmap` of a VFS file, `read`/`write`/`readv`/`writev` of a host
//! stream (stdin, stdout, stderr: a read waiting for the host blocks only its hart), the path, descriptor and sync calls of
//! [`crate::syscall::vfs_call`] (`unlinkat`, `mkdirat`, `renameat2`, `chdir`,
//! `pipe2`, `memfd_create`, …), `read`/`write`/`readv`/`writev` of a pipe (one
//! that must wait is queued on the pipe's wait queue there and put to sleep there too,
//! [`switch`], or handed to the kernel lock to block, [`Kernel::io_sleep_block`]; woken,
//! it is re-issued on its hart with the file and count it held; the wake-ups it makes go
//! to the sleepers'
//! run queues from this hart), `openat` of anything but a kernel-served file,
//! `close`, `dup3`, the identity, limit and time calls of
//! [`crate::syscall::group_call`] (`getpid`, `prlimit64`, `clock_gettime` — the
//! CPU-time clocks of the caller and its process, brought up to date under the hart's
//! `rq->lock` —, `getrusage`, `getrandom`, …), `getitimer`/`setitimer` (the thread
//! group's `siglock`, the hart's timer base: [`itimer::itimer_call`]), `set_tid_address`
//! and `set_robust_list` (the task's own user pointers, [`crate::process::UserPtrs`]),
//! `rt_sigprocmask` and `rt_sigpending` (the task's own mask, one
//! atomic cell shared with the hart, [`crate::signal::SigMask`]; a call that unblocks a
//! queued signal goes on to the kernel lock, which delivers it): under the descriptor table's, the
//! description's, the inode's and the thread group's locks, and the `mmap_lock` read side
//! for each copy to or from user memory), and the `futex` calls that do not sleep
//! (`FUTEX_WAKE`, `FUTEX_WAKE_BITSET`, `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE`, and a
//! `FUTEX_WAIT`/`FUTEX_WAIT_BITSET` that returns at once: under the futex hash buckets'
//! locks, [`crate::futex`]; a wait that must sleep is queued on its bucket there, and
//! the task is put to sleep there too, under its own lock and its run queue's, and
//! the next task of the hart's queue switched in without the kernel lock
//! ([`switch`]: `schedule()` under `rq->lock`) — unless a signal, a kill, a traced
//! task or a `ppoll`/`epoll_wait` sleeper to re-issue needs that lock: then the wait is handed to it,
//! which puts the task to sleep unless a waker took it meanwhile, or its scheduler
//! picks; with nothing to switch in, the hart idles there too, on a doorbell of its own,
//! [`IdleHarts`], until a waker rings it), and `nanosleep`/`clock_nanosleep` (the deadline computed and the
//! timer armed on the hart's own base, a zero or past deadline returning at once; a
//! sleep blocks the same way, on the hart or, handed to the kernel lock, unless its
//! timer expired meanwhile, or returns `EINTR` with `rem` written if a signal came), then
//! straight back to user mode, falling back to the kernel lock for a fault that fails
//! (signal, OOM), a hart that was kicked, a used-up slice or (deterministic mode) an
//! armed timer, for a
//! `close`/`dup3` that took a kernel-served file or a host stream out of the table (its
//! release runs under the kernel lock: the deferred `fput()`; a pipe end's release,
//! which wakes the other end through its wait queues, runs on the hart that closed it). A futex call that woke waiters does not go back through the kernel lock:
//! the hart enqueues each woken task on its target hart's run queue itself
//! (`try_to_wake_up()`, [`Machine::wake_up_q`]: the task's `pi_lock`, the queue's
//! `rq->lock`), kicks that hart if the woken should preempt its task or wakes it if
//! idle, and goes back to user mode; the woken task's wait is completed under the
//! kernel lock when it next runs. A hart handling a trap without the kernel lock also
//! runs its own timer base's expired timers (`hrtimer_interrupt()`,
//! [`Machine::hrtimer_interrupt`]) and enqueues their sleepers the same way (an expired
//! `ITIMER_REAL` is re-armed there and its SIGALRM queued on the wake list, below), and
//! — its process having `ITIMER_PROF` or `ITIMER_VIRTUAL` armed — charges its task's
//! CPU time and checks those timers (`update_process_times()`,
//! [`Machine::run_posix_cpu_timers`]: the tick interrupts such a hart every tick without
//! sending it to the kernel lock, and an expiry's signal goes on the wake list too); an
//! expired sleeper's call — `nanosleep` 0, a futex wait `ETIMEDOUT`, a `ppoll`
//! re-issued — is completed under the kernel lock when it next runs
//! ([`Kernel::pick_next_task`]), because its saved registers, its state, its futex
//! waiter and its blocked call are in the task table. A `close` with a deferred `fput()` does not either:
//! the hart queues it on the lock-free wake list ([`ttwu`], Linux's
//! `ttwu_queue_wakelist()`), tries the kernel lock, drains the list itself if it gets
//! it and goes back to user mode; if another hart holds the lock, it goes back at once
//! and the holder drains the list before it lets the lock go, re-checking it after the
//! release (`Machine::unlock`, the race [`ttwu`] documents). Every system call copies to and from user memory under the read side of
//! the `mmap_lock`, taken for each access ([`crate::mm::MmStruct::uaccess`]); only
//! the calls that change the VMAs take the write side. Under the kernel lock each
//! shared part has its own lock already (`mmap_lock`, `files->file_lock`, `fs->lock`,
//! `sighand->siglock`, the thread group's). The lock order of the whole kernel, every
//! lock outermost first, is written down in one place, [`crate::sync`]'s module docs,
//! and checked at run time in the tests; the unlocked paths take the `mmap_lock` with
//! no kernel lock held and never take the kernel lock while holding it. In deterministic
//! mode every lock acquisition is a scheduling point of the baton, and a contended one
//! passes it on instead of blocking ([`crate::sync`], *Scheduling points*): the unlocked
//! fault runs there too, and a seed decides where it is parked and who runs meanwhile;
//! system calls all go through the kernel lock there (a seeded scheduling point at
//! every kernel entry), as they do under `--strace` (which logs under it), so nothing
//! is ever queued on the wake list there and its drains find it empty: the same seed
//! gives the same bits.
//!
//! What the kernel lock still guards (`struct Kernel`, one per machine), with what
//! takes it:
//!
//! | state | fields | Linux's lock |
//! |---|---|---|
//! | the task list: every task by tid, thread groups, parent links, zombies, `/proc/<pid>` registration | `tasks`, `next_pid` | `tasklist_lock` (RCU for readers) |
//! | each hart's instruction quantum, the deterministic scheduler's generator (the seeded pick and quanta). Not here: which task is live in which hart ([`OnHart`]: one atomic per hart, written by the hart itself with or without this lock, read by signal senders and killers), the handles of tasks put to sleep without this lock ([`SwitchStash`], behind its own lock); the run queues themselves are not here either: each hart's queue (its CFS books: the waiting tasks by vruntime, `min_vruntime`, `nr_running`, `curr`, `need_resched`) is behind its own `rq->lock` ([`sched::Rqs`], an `Arc` any hart reaches, with the scheduler's clock), a task's place in the scheduler — the queue it is on, a sleeper's entity — under its hashed `p->pi_lock`, and which harts are idle is atomic flags ([`IdleHarts`], set by each hart without the lock). Nor is CPU time: each task's (`se.sum_exec_runtime`, `utime`) and each thread group's with its reaped children's (`signal->cputimer`, `cutime`) are atomics in the task and its `signal_struct` ([`cputime`]), charged by the hart running the task — `update_curr()` under its `rq->lock`, with or without this lock — and read without any lock by `clock_gettime`, `getrusage`, `getitimer` and the CPU-time timers' check | `slice_left`, `sched_rng` | per-CPU data |
//! | the wake list's receiving end: what harts without the kernel lock queued (deferred `fput()`s of kernel-served files and host streams; a pipe end's is not deferred: its wake-ups go through the pipe's wait queues; the SIGALRMs of `ITIMER_REAL`s and the SIGPROFs and SIGVTALRMs of `ITIMER_PROF`s and `ITIMER_VIRTUAL`s expired without the lock, sent with the task table at the holder's next scheduling point), drained by the holder at every acquisition and release ([`Kernel::ttwu_pending`]); the sending end ([`Machine::ttwu`]) is lock-free and outside `struct Kernel`. Futex waiters woken without the kernel lock do not go there: the waker enqueues them ([`Machine::wake_up_q`]) and the wait is completed — its saved `a0` and `pc`, its timer, its `futex_q` and its state, all in the task table — when the task next runs | `ttwu`, `deferred_kills` | `rq->wake_list` is an `llist` |
//! | timers: which hart arms the holder's timers (`timers`: the bases and this hart). Not here: which timer each sleeper parks on (a futex wait's timeout, a `nanosleep`, a `ppoll` timeout: the `hrtimer_sleeper` on its stack), which is in the task with its sleeping call ([`SleepingCall`], below); the timers themselves — each hart's pending ones, sleepers' and `ITIMER_REAL`s, on its own base, ordered by expiry behind the base's lock ([`hrtimer::HrtimerBases`], an `Arc` any hart reaches: armed by the arming hart, cancelled from any, expired by their hart without the kernel lock or by the lock's holder for every base at its scheduling points); the interval timers' books (`real_timer`, `it_real_incr`, `it[]`), in each thread group's `signal_struct` behind its lock ([`itimer`]: `setitimer`, `getitimer` and the expiries' re-arms take it, on any hart with or without this lock; sending their signals is the task table's, above); the virtual clock, an atomic any hart reads and pushes forward without a lock ([`timekeeping`]) | `timers` | the sleeper's stack; `siglock` for the itimers; `hrtimer_cpu_base->lock` for the bases; the `tk_core` seqcount for the clock |
//! | sleeping and stopped calls, each in its task ([`SleepingCall`] in `TaskRun::call`, behind the task's own lock `Task::run`, reached through `tasks`): the futex waiter (`futex_q`) a task sleeping in `FUTEX_WAIT` sleeps on, so that a wake handed back completes only the wait it ended; an I/O sleeper's poll table (the heads it is queued on, its sleep's [`WaitTask`]); the continuation of a sleeping `read`/`write`/`ppoll` (its held file, the count written, the deadline: re-issued under this lock when woken); the timer it parks on; the place of a call stopped at a scheduling point. Not here: the futex waiters themselves, in the futex hash table (`futex`, an `Arc` the harts reach without the kernel lock) under each bucket's own lock; the wait queues, each `wait_queue_head_t` behind its own lock (`wq_head->lock`, [`crate::fs::WaitQueueHead`]): a waker on any hart, without this lock, takes the sleepers off it and enqueues them ([`SchedWaker`], the park/claim handshake of [`WaitTask`]); the woken's task-table state stays `Blocked(Io)` until it runs ([`Kernel::pick_next_task`]) | (through `tasks`) | the task's own kernel stack (`poll_wqueues`, the `futex_q`, the `wait_queue_entry`, the call's locals) and `restart_block`; `hb->lock` |
//! | signals sent to other tasks (`kill`/`tgkill`, a child's `SIGCHLD`, the timers'), the default actions (the group exit a fatal signal starts, stops), a signal made ignored by `rt_sigaction` discarded from the queues of a process of several threads, `rt_sigsuspend`, group exit, `execve`'s de-thread, `wait4`/`waitid`, `clone`; `ptrace` requests and stops (each task's [`crate::ptrace::PtraceState`], `kernel/ptrace.rs`). Not here: a signal a task sends itself or its process that it handles or ignores (queued on the task's own queue, [`crate::signal::SigQueue`] behind its own lock, or its process's under `siglock`), the delivery of a signal to its handler (its frame pushed by the hart running the task on its way back to user mode, [`crate::syscall::unlocked::Current::deliver_handled`]), `rt_sigaction`, `sigaltstack`, `rt_sigreturn`, `rt_sigprocmask` (the handlers, the alternate stack and the mask, each behind its own lock or the task's own) | (through `tasks`) | `siglock`, `tasklist_lock` |
//! | kernel-served files' dispatch (`/proc/<pid>/mem`, `maps`, `pagemap`, their `open`, gup_test's `open`) and `process_vm_*`: a look-up of another task by pid. Not here: a `process_vm_*` copy, which runs on its hart without this lock once the two address spaces are held ([`Kernel::sys_process_vm_rw`]), `pagemap`, `maps`, `smaps` and `smaps_rollup` reads (the address space bound at open) and gup_test's `ioctl`s (the caller's own) (served on the hart, `syscall::unlocked`; in deterministic mode here, with the lockless walks of a fast benchmark handed to the hart) | (through `tasks`) | RCU + `get_task_struct()` |
//! | what is left of the run's statistics: the MMU counters of the kernel's accesses to init's memory, kept when init exits. The rest is not here: each hart counts its own events (calls, faults, wake-ups, kernel-lock entries, priced kernel work) on counters of its own without this lock ([`stat`], summed when the run ends), the harts claim their quanta from the instruction budget and give back what they did not run with atomics ([`budget`]: a run still stops after exactly `--max-insns` instructions, in deterministic mode at the same one for a seed), and the run's end is a once cell that the hart ending it sets and every hart reads ([`budget`]); ASIDs are [`Smp::alloc_asid`]'s, lock-free | `init_uaccess_mmu` | `tasklist_lock` (init's group exit); per-CPU counters (`percpu_counter`, `this_cpu_inc()`) for the rest |
//!
//! Waiting for shootdown acknowledgements is not a lock, but it is one in effect: a
//! hart waits only for harts in user mode, which never hold a kernel lock (see
//! [`crate::smp`]).
//!
//! Calls that reach into another task are served here, with the task table:
//! `process_vm_readv/writev`, and every descriptor call on a kernel-served file
//! (`/proc/<pid>/mem`, `maps`, `pagemap`, `/sys/kernel/debug/gup_test`: see `fs::kfile`
//! and [`crate::syscall::kfile`]), whose `openat` the kernel also completes (the file's
//! `->open`, which grabs the target's address space: `mmgrab()`). The kernel adds
//! `/proc/<pid>` when it creates a process and removes it when it reaps it; a task that
//! exits releases its address space at once (`exit_mm()`: the last user's `mmput()`
//! tears it down) and a leader stays a zombie until it is reaped.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use devices::{Clint, ClockSource, GuestMemory, GuestPhysAddr, MemoryError};
use emu::{Exit, Hart, HartConfig, HartStats, UserContext};

use crate::config::{ExitStatus, KernelConfig, RunReport, SchedMode, RAM_BASE};
use crate::errno::{Errno, KResult};
use crate::exec::{copy_exec_args, exec, ExecArgs, LoadError};
use crate::fs::Prng;
use crate::fs::{
    parse_file_arg, HostStreams, ImportError, OpenFile, PollTable, TaskWaker, WaitTask,
};
use crate::futex::{self, FutexHash, FutexRet, WakeList, FUTEX_BITSET_MATCH_ANY};
use crate::loader::parse_elf;
use crate::lockstat;
use crate::mm::{
    FaultFlags, KernelEventCounts, Mm, MmStruct, MmUsers, PageAllocError, PhysMem, UserFaultError,
};
use crate::percpu::PerCpuVar;
use crate::process::{CloneShare, Task, TaskState, Tasks, WaitOn};
use crate::signal::{
    self, setup_rt_frame, SigAction, SigInfo, SIGBUS, SIGCHLD, SIGILL, SIGKILL, SIGSEGV, SIGTRAP,
    SIG_DFL, SIG_IGN,
};
use crate::smp::{Baton, BatonHook, Smp};
use crate::sync::{Condvar, CondvarMutex, CondvarMutexGuard};
use crate::syscall::unlocked::{Current, Delivery, IoSleep};
use crate::syscall::{self, nr, SyscallOutcome};
use crate::uaccess::UserAccess;
use budget::{Claim, InsnBudget, RunEnd};
use stat::KernelCounters;
use switch::{OnHart, SwitchStash};

mod async_pf;
mod budget;
mod call;
mod cputime;
mod hrtimer;
mod itimer;
mod pgrp;
mod poll;
mod ptrace;
mod sched;
mod sigqueue;
mod stat;
mod switch;
mod sysattr;
mod timekeeping;
mod ttwu;
mod userfault;

pub(crate) use call::SleepingCall;
pub(crate) use cputime::{CputimeAtomic, TaskCputime, ThreadGroupCputimer};
pub(crate) use itimer::ITimers;
pub(crate) use sysattr::fair_slice_ns;

/// Host-side failures that stop a run before the guest runs.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// Guest RAM could not be mapped.
    #[error("cannot set up guest RAM")]
    Memory(#[from] MemoryError),
    /// The frame allocator could not be set up over guest RAM.
    #[error("cannot set up the page allocator")]
    Pages(#[from] PageAllocError),
    /// The first address space could not be created.
    #[error("cannot create the address space: {0}")]
    AddressSpace(Errno),
    /// The image cannot be executed.
    #[error("cannot execute the image")]
    Exec(#[from] LoadError),
    /// A `--file` could not be copied into the guest.
    #[error("cannot copy a --file into the guest")]
    HostFile(#[from] ImportError),
    /// The swap area (`--swap`, `--swap-file`) could not be set up.
    #[error("cannot set up the swap area: {0}")]
    Swap(#[from] devices::SwapError),
}

/// pid of the first process; when it exits the run ends (as a container's init).
pub(crate) const INIT_PID: u32 = 1;

/// `clone` flags (`include/uapi/linux/sched.h`).
mod clone {
    pub const CSIGNAL: u64 = 0xff;
    pub const CLONE_VM: u64 = 0x100;
    pub const CLONE_FS: u64 = 0x200;
    pub const CLONE_FILES: u64 = 0x400;
    pub const CLONE_PIDFD: u64 = 0x1000;
    pub const CLONE_NEWNS: u64 = 0x20000;
    pub const CLONE_NEWUSER: u64 = 0x1000_0000;
    pub const CLONE_NEWPID: u64 = 0x2000_0000;
    pub const CLONE_VFORK: u64 = 0x4000;
    pub const CLONE_PARENT: u64 = 0x8000;
    pub const CLONE_THREAD: u64 = 0x10000;
    pub const CLONE_SETTLS: u64 = 0x80000;
    pub const CLONE_PARENT_SETTID: u64 = 0x100000;
    pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
    pub const CLONE_SIGHAND: u64 = 0x800;
}

/// `wait4`/`waitid` options and `waitid` id types (`include/uapi/linux/wait.h`).
mod wait {
    pub const WNOHANG: u64 = 1;
    pub const WEXITED: u64 = 4;
    pub const WSTOPPED: u64 = 2;
    pub const WCONTINUED: u64 = 8;
    pub const WNOWAIT: u64 = 0x0100_0000;
    /// `__WCLONE`: wait for "clone" children only (exit signal other than SIGCHLD).
    pub const WCLONE: u64 = 0x8000_0000;
    /// `__WALL`: wait for every child.
    pub const WALL: u64 = 0x4000_0000;
    /// `__WNOTHREAD`: wait for the caller's own children only, not its threads'.
    pub const WNOTHREAD: u64 = 0x2000_0000;
    /// `__WNOTHREAD | __WALL | __WCLONE`: the options both calls also take.
    pub const W_KERNEL_BITS: u64 = WNOTHREAD | WALL | WCLONE;
    /// `wait4`'s options (`kernel_wait4()`).
    pub const WAIT4_OPTIONS: u64 = WNOHANG | WSTOPPED | WCONTINUED | W_KERNEL_BITS;
    /// `waitid`'s options (`kernel_waitid()`).
    pub const WAITID_OPTIONS: u64 =
        WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | W_KERNEL_BITS;
    pub const P_ALL: u64 = 0;
    pub const P_PID: u64 = 1;
    pub const P_PGID: u64 = 2;
    /// `si_code`s of SIGCHLD.
    pub const CLD_EXITED: i32 = 1;
    pub const CLD_KILLED: i32 = 2;
}

/// Which children a `wait4`/`waitid` is for (`wo_type` and `wo_pid`, `eligible_pid()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitPid {
    /// Any child (`PIDTYPE_MAX`).
    Any,
    /// The child with this pid (`PIDTYPE_PID`).
    Pid(u32),
    /// The children in this process group (`PIDTYPE_PGID`).
    Pgid(u32),
}

struct Kernel<'m> {
    config: &'m KernelConfig,
    phys: Arc<PhysMem>,
    /// Asynchronous page faults' queue and workers (`--async-pf on`, parallel mode).
    async_pf: Option<Arc<async_pf::AsyncPf>>,
    /// Every task by tid (`find_task_by_vpid()`); a thread group is the tasks of one
    /// `tgid`, its leader's entry standing for the process.
    tasks: BTreeMap<u32, Task>,
    /// The harts' shared state: TLB shootdown, kicks.
    smp: &'m Smp,
    /// The hart whose kernel entry holds the kernel lock now.
    this: usize,
    /// Per hart: the task (tid) whose registers are live in it, if any ([`OnHart`]:
    /// atomics, written by the hart itself with or without this lock).
    on_hart: Arc<OnHart>,
    /// What harts that put tasks to sleep without this lock kept to switch them in
    /// again without it ([`SwitchStash`]); [`Machine::stash`] is the same object.
    stash: Arc<SwitchStash<'m>>,
    /// The harts' run queues and each task's place among them ([`sched::Rqs`]: each
    /// queue behind its own `rq->lock`, each task's place behind its `p->pi_lock`),
    /// reached without the kernel lock too ([`Machine::rqs`]).
    rqs: Arc<sched::Rqs>,
    /// Per hart: instructions the running thread may retire before its hart comes back
    /// to the kernel lock (its quantum; the time slice is the run queue's).
    slice_left: Vec<u64>,
    /// The harts waiting for work ([`IdleHarts`], shared with [`Machine::idle`]).
    idle: Arc<IdleHarts>,
    /// How the run ended, once it has ([`budget`]: set once by the hart that ends it,
    /// read without this lock; [`Machine::end`] is the same object).
    end: &'m RunEnd,
    /// The instruction budget (`--max-insns`), which each hart claims its quanta from
    /// without this lock ([`budget`]; [`Machine::insns`] is the same object).
    insns: &'m InsnBudget,
    next_pid: u32,

    /// The wake function of every wait-queue sleep ([`SchedWaker`]): a file's wait
    /// queue makes its sleepers runnable through it from any hart, without this lock.
    waker: Arc<dyn TaskWaker>,
    /// The wake list's receiving end ([`ttwu`]): what harts without the kernel lock
    /// queued for it ([`Machine::ttwu`]), drained by [`Kernel::ttwu_pending`].
    ttwu: ttwu::TtwuPending<ttwu::Wakeup>,
    /// Signals drained from the wake list (`kill_pid_info()` of an `ITIMER_REAL`'s
    /// SIGALRM, [`ttwu::Wakeup::KillPidInfo`]): `(tgid, info)`, sent at this lock's next
    /// scheduling point, where a hart is at hand ([`Kernel::fire_timers`]).
    deferred_kills: Vec<(u32, SigInfo)>,
    /// The futex hash table (`futex_queues`): its buckets have their own locks, and
    /// harts reach it without the kernel lock too ([`UnlockedFaults::futex`]).
    futex: Arc<FutexHash>,
    /// The harts' timer bases ([`hrtimer`]: each behind its own lock, reached without
    /// the kernel lock too, [`Machine::hrtimers`]) and the hart that arms the holder's
    /// sleeper timers; which timer a sleeping task parks on is in the task
    /// ([`SleepingCall::timer`]).
    timers: hrtimer::Timers,
    /// [`SchedMode::Deterministic`]: the seeded source of every scheduling decision (which
    /// runnable thread runs next among the fair candidates, for how many instructions).
    /// `None`: the fair pick alone.
    sched_rng: Option<Prng>,
    /// The harts' event counters ([`stat`]: each hart counts on its own, without this
    /// lock; [`Kernel::stat`] is the holder's).
    stats: &'m PerCpuVar<KernelCounters>,
    /// The MMU counters of the kernel's accesses to init's user memory, taken when init
    /// exits (its address space goes then): `--stats`' `kernel uaccess walks`.
    init_uaccess_mmu: Option<mmu::MmuCounters>,
}

/// Which harts wait for work (Linux's `idle_cpu()`, `nohz.idle_cpus_mask`): one flag
/// per hart, set and cleared by the hart itself around its wait — under the kernel lock
/// ([`idle`]) or without it ([`Machine::idle_unlocked`]). The kernel reads them under
/// the lock — to wake idle harts for a runnable task, to skip wake-up preemption while a
/// hart is free, to see that nothing can ever run again — and wakers and a hart's
/// `need_resched()` policy read them without it (another hart busy: it may want the
/// kernel lock).
///
/// With each flag, the hart's doorbell: a hart idling without the kernel lock waits on
/// it instead of the kernel lock's `work` condvar, and whoever wakes idle harts rings
/// it too ([`IdleHarts::wake`], the reschedule IPI that ends Linux's idle loop).
#[derive(Debug)]
struct IdleHarts {
    idle: Vec<AtomicBool>,
    bells: Vec<IdleBell>,
}

/// An idle hart's doorbell ([`IdleHarts`]): rung (`true`) until the hart takes the ring.
#[derive(Debug, Default)]
struct IdleBell {
    rung: CondvarMutex<bool>,
    ring: Condvar,
}

impl IdleHarts {
    /// `nharts` harts, none idle.
    fn new(nharts: usize) -> Self {
        IdleHarts {
            idle: (0..nharts).map(|_| AtomicBool::new(false)).collect(),
            bells: (0..nharts).map(|_| IdleBell::default()).collect(),
        }
    }

    /// Hart `hart` starts (`true`) or stops waiting for work.
    fn set(&self, hart: usize, idle: bool) {
        if let Some(f) = self.idle.get(hart) {
            f.store(idle, Ordering::SeqCst);
        }
    }

    /// The harts waiting for work, in order.
    fn idle_harts(&self) -> impl Iterator<Item = usize> + '_ {
        self.idle
            .iter()
            .enumerate()
            .filter(|(_, f)| f.load(Ordering::SeqCst))
            .map(|(h, _)| h)
    }

    /// Whether hart `hart` waits for work (`idle_cpu()`).
    fn is_idle(&self, hart: usize) -> bool {
        self.idle
            .get(hart)
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Whether any hart waits for work.
    fn any(&self) -> bool {
        self.idle_harts().next().is_some()
    }

    /// Whether every hart but `hart` waits for work.
    fn all_but(&self, hart: usize) -> bool {
        self.idle
            .iter()
            .enumerate()
            .all(|(h, f)| h == hart || f.load(Ordering::SeqCst))
    }

    /// How many harts do not wait for work (they run a task, in user mode or in the
    /// kernel).
    fn busy(&self) -> usize {
        self.idle.len() - self.idle_harts().count()
    }

    /// Wakes every idle hart: those waiting under the kernel lock on `work`, and those
    /// waiting without it on their doorbells. Every doorbell is rung, idle or not: a hart
    /// about to idle clears its own before it sets its flag, so a ring between its last
    /// look at its queue and its wait is not lost.
    fn wake(&self, work: &Condvar) {
        work.notify_all();
        for bell in &self.bells {
            *bell.rung.lock() = true;
            bell.ring.notify_one();
        }
    }

    /// Hart `hart`'s doorbell: forgets a ring from before its idle period.
    fn clear_bell(&self, hart: usize) {
        if let Some(bell) = self.bells.get(hart) {
            *bell.rung.lock() = false;
        }
    }

    /// Hart `hart` waits at most `timeout` for its doorbell to ring (at once if it rang
    /// since [`IdleHarts::clear_bell`]), and takes the ring.
    fn wait_bell(&self, hart: usize, timeout: std::time::Duration) {
        let Some(bell) = self.bells.get(hart) else {
            return;
        };
        let mut rung = bell.rung.lock();
        if !*rung {
            let _ = rung.wait_for(&bell.ring, timeout);
        }
        *rung = false;
    }
}

/// The machine's kernel lock and what harts waiting for work sleep on.
struct Machine<'m> {
    kernel: CondvarMutex<Kernel<'m>>,
    /// The run queues ([`Kernel::rqs`]: one object), which a hart that woke futex
    /// waiters without the kernel lock enqueues them on ([`Machine::wake_up_q`]).
    rqs: Arc<sched::Rqs>,
    /// The wake list (`rq->wake_list`): harts that woke tasks without the kernel lock
    /// queue them here and do not wait for the lock; its holder drains the list
    /// ([`Kernel::ttwu_pending`]) before it lets the lock go ([`Machine::unlock`]).
    ttwu: ttwu::TtwuQueue<ttwu::Wakeup>,
    /// Idle harts wait here for runnable threads (parallel mode), a condvar of the
    /// kernel lock (shared with [`SchedWaker`], which wakes them from any hart).
    work: Arc<Condvar>,
    /// Harts waiting to take the kernel lock.
    waiters: Arc<AtomicUsize>,
    /// The harts waiting for work, as the kernel sees them ([`Kernel::idle`]: one
    /// object), read here without the kernel lock by each hart's `need_resched()`.
    idle: Arc<IdleHarts>,
    /// Times the kernel lock was taken (a hart that yields it waits for this to move).
    acquisitions: AtomicU64,
    /// The harts' event counters ([`Kernel::stats`]: one object), which each hart adds
    /// to without the kernel lock.
    stats: &'m PerCpuVar<KernelCounters>,
    /// How the run ended, once it has ([`Kernel::end`]: one object): each hart stops at
    /// its next look, without the kernel lock ([`hart_main`]).
    end: &'m RunEnd,
    /// The instruction budget ([`Kernel::insns`]: one object), to which each hart gives
    /// back what it did not run of its claim without the kernel lock ([`hart_main`]).
    insns: &'m InsnBudget,
    /// [`SchedMode::Deterministic`]: who runs.
    baton: Option<Arc<Baton>>,
    /// The harts' timer bases ([`Kernel::timers`]' bases: one object): a hart without
    /// the kernel lock arms a `nanosleep` on its own and runs its own base's expired
    /// timers ([`Machine::hrtimer_interrupt`]).
    hrtimers: Arc<hrtimer::HrtimerBases>,
    /// A timer that only the kernel lock's scheduler fires is armed, as of the last time
    /// a hart dropped the kernel lock on its way to user mode or to idle: a fault
    /// handled without the lock then goes back through it. Only in deterministic mode,
    /// where that is any timer (the seeded scheduling points stay where they were); in
    /// parallel mode every timer — a sleeper's, an `ITIMER_REAL` — expires on its
    /// base's hart without the lock, and the tick kicks that hart when it is due.
    timers_armed: AtomicBool,
    /// Parallel mode: what the host-side scheduler tick watches ([`sched::Tick`]).
    tick: Option<sched::Tick>,
    /// Which task is live in which hart ([`Kernel::on_hart`]: one object).
    on_hart: Arc<OnHart>,
    /// The tasks put to sleep without the kernel lock, by tid, with what a hart needs to
    /// switch them in without it ([`Kernel::stash`]: one object).
    stash: Arc<SwitchStash<'m>>,
}

impl<'m> Machine<'m> {
    /// Takes the kernel lock for hart `id` (a scheduling point in deterministic mode).
    fn lock(&self, id: usize) -> CondvarMutexGuard<'_, Kernel<'m>> {
        if let Some(b) = &self.baton {
            b.yield_point(id);
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut k = self.kernel.lock_with(|m| lockstat::KERNEL_LOCK.lock(m));
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        self.acquisitions.fetch_add(1, Ordering::SeqCst);
        k.set_this(id);
        k.smp.clear_notify(id);
        self.stats.cpu(id).kernel_lock_acquisitions.inc();
        // Entering the kernel, the hart reaches a scheduling decision anyway: no kick.
        k.ttwu_pending(self, false);
        k
    }

    /// Takes the kernel lock for hart `id` if it is free, without waiting and without
    /// clearing the hart's kicks (it may go back to user mode without a scheduling
    /// decision, and a kick must still send it to the kernel). Counted as an
    /// acquisition of the lock class, and in `wakelist_trylocks`.
    fn try_lock(&self, id: usize) -> Option<CondvarMutexGuard<'_, Kernel<'m>>> {
        let mut k = self
            .kernel
            .try_lock_with(|m| lockstat::KERNEL_LOCK.try_acquire(|| m.try_lock()))?;
        self.acquisitions.fetch_add(1, Ordering::SeqCst);
        k.set_this(id);
        self.stats.cpu(id).wakelist_trylocks.inc();
        Some(k)
    }

    /// Releases the kernel lock `k`: its holder first drains the wake list
    /// ([`Kernel::ttwu_pending`]), and after the release re-checks it, taking the lock
    /// again by a try to drain what came in between ([`ttwu::TtwuQueue::unlock`]: the
    /// race this closes).
    fn unlock(&self, k: CondvarMutexGuard<'_, Kernel<'m>>) {
        let id = k.this;
        self.ttwu
            .unlock(k, |k| k.ttwu_pending(self, true), || self.try_lock(id));
    }

    /// `wake_up_q()` on hart `id` without the kernel lock, for the futex waiters a call
    /// served there woke (`woken`, each taken off its bucket by this hart alone): each
    /// whose task has gone to sleep ([`crate::futex::FutexQ::claim_wake`]) is enqueued
    /// on its target hart's queue by `try_to_wake_up()` ([`sched::Rqs::try_to_wake_up`],
    /// under the task's `p->pi_lock` and that queue's `rq->lock`); that hart is kicked
    /// if the woken should preempt its task (`resched_curr()`, this hart too), and idle
    /// harts are woken if it is idle. The wait itself — `a0`, the timer, the waiter — is
    /// completed when the task next runs, under the kernel lock (`pick_next_task()`,
    /// as futex_wait() returns after schedule()). A task not asleep yet sees the claim
    /// when it blocks and returns at once. Counts the enqueued, and those on another
    /// hart's queue, on hart `id`'s counters.
    ///
    /// An idle hart is woken through the `work` condvar without the kernel lock: if it
    /// is in the instant between its last look and its wait (holding the lock) the
    /// notification is lost, and the task waits for the next scheduling point of any
    /// hart ([`Kernel::wake_idle_harts`], which notifies under the lock; the tick is
    /// told a task waits, so this hart's slice ends with one) or the idle hart's own
    /// recheck ([`ttwu::IDLE_RECHECK`]) — a pull by a hart whose queue empties takes it
    /// sooner. The wake list's idle harts have the same bound ([`ttwu`], *Idle
    /// harts*).
    fn wake_up_q(&self, smp: &Smp, id: usize, woken: WakeList) {
        for q in woken {
            if let Some(seq) = q.claim_wake() {
                self.ttwu_sleep(smp, id, q.tid(), seq);
            }
        }
        if let Some(tick) = &self.tick {
            tick.set_waiting(self.rqs.nr_waiting());
        }
    }

    /// `try_to_wake_up()` without the kernel lock, by hart `id`, of task `tid` asleep as
    /// its run queue's sleep number `seq` (a claimed wake-up): enqueued on its target
    /// hart's queue, which is woken if idle or kicked if the woken should preempt its
    /// task. Counted on hart `id`'s counters.
    fn ttwu_sleep(&self, smp: &Smp, id: usize, tid: u32, seq: u64) {
        let placed = self
            .rqs
            .try_to_wake_up(tid, id, |h| self.idle.is_idle(h), Some(seq));
        let Some((cpu, preempt)) = placed else {
            return;
        };
        let stat = self.stats.cpu(id);
        stat.ttwu_unlocked.inc();
        stat.ttwu_unlocked_remote.add(u64::from(cpu != id));
        resched_woken(&self.idle, &self.work, smp, cpu, preempt);
    }

    /// `hrtimer_interrupt()` on hart `id`, without the kernel lock, at CLOCK_MONOTONIC
    /// `now_ns`: its own base's expired timers are taken off it
    /// ([`hrtimer::HrtimerBases::run_queues`]) and each one's function run. A
    /// sleeper's task is woken (`hrtimer_wakeup()`: [`Machine::ttwu_sleep`] of the sleep
    /// it parked as; one not asleep yet is refused its sleep when it parks); the woken's
    /// call — a `nanosleep` returning 0, a futex wait `ETIMEDOUT`, a `ppoll` re-issued —
    /// is completed under the kernel lock when it next runs ([`Kernel::pick_next_task`]):
    /// its saved registers, its state and its futex waiter are in the task table. A
    /// thread group's `ITIMER_REAL` is re-armed for its next period on this base
    /// ([`itimer::it_real_fn`], under the group's `siglock`; the tick is told the base's
    /// new earliest expiry) and its SIGALRM queued on the wake list for the kernel lock,
    /// which sends it with the task table ([`Machine::ttwu_queue_wakelist`]).
    fn hrtimer_interrupt(&self, smp: &Smp, id: usize, now_ns: u64) {
        let fired = self.hrtimers.run_queues(id, now_ns);
        if fired.is_empty() {
            return;
        }
        let mut kills = Vec::new();
        for t in fired {
            match t.function() {
                hrtimer::HrtimerFunction::Wakeup => {
                    if let Some(seq) = t.claim_wake() {
                        self.ttwu_sleep(smp, id, t.tid(), seq);
                    }
                }
                hrtimer::HrtimerFunction::ItReal(_) => {
                    kills.extend(itimer::it_real_fn(&self.hrtimers, &t, now_ns));
                }
            }
        }
        if let Some(tick) = &self.tick {
            tick.set_waiting(self.rqs.nr_waiting());
        }
        if !kills.is_empty() {
            // hrtimer_reprogram() for the periods re-armed here.
            self.hrtimer_reprogram(id, now_ns);
        }
        let kills = kills.into_iter().map(|tgid| ttwu::Wakeup::KillPidInfo {
            tgid,
            info: itimer::sigalrm(),
        });
        self.ttwu_queue_wakelist(id, kills);
    }

    /// `hrtimer_reprogram()` of hart `id`'s clock event device, without the kernel lock,
    /// at CLOCK_MONOTONIC `now_ns`: the tick learns its base's earliest expiry, after
    /// the hart armed a timer there (an expiry's re-arm, a `setitimer`).
    fn hrtimer_reprogram(&self, id: usize, now_ns: u64) {
        if let Some(tick) = &self.tick {
            let next = self.hrtimers.expires_next(id);
            let in_ns = next
                .filter(|&d| d < sched::KTIME_MAX)
                .map(|d| d.saturating_sub(now_ns));
            tick.arm_timer(id, in_ns);
        }
    }

    /// `update_process_times()` → `run_posix_cpu_timers()` on hart `hart`, without the
    /// kernel lock, for the task `u` describes: if its process has a CPU-time interval
    /// timer armed, the task's time up to now is charged to it and its group
    /// ([`account_cputime`]) and, if the group's sums have reached a timer's expiry
    /// (`fastpath_timer_check()`), the timers are fired under the group's `siglock`
    /// ([`itimer::check_process_timers`]) and their signals queued on the wake list for
    /// the kernel lock, as an `ITIMER_REAL`'s SIGALRM is. Parallel mode only: in
    /// deterministic mode the kernel lock's scheduler charges and checks at its seeded
    /// points.
    fn run_posix_cpu_timers(&self, hart: &Hart<'_>, u: &UnlockedFaults<'_>, tally: &mut HartTally) {
        if self.baton.is_some() || !u.signal.cputimer.armed() {
            return;
        }
        account_cputime(&u.rqs, hart, u.tid, tally);
        if !u.signal.cputimer.expired() {
            return;
        }
        let due = itimer::check_process_timers(&u.signal);
        let kills = due
            .into_iter()
            .map(|info| ttwu::Wakeup::KillPidInfo { tgid: u.tgid, info });
        self.ttwu_queue_wakelist(hart.hart_id(), kills);
    }

    /// `scheduler_tick()` for the task live in `hart` (its `u`), whose quantum ran out in
    /// user mode, without the kernel lock: if no other task waits for a hart, nothing
    /// is due and the hart was not kicked, it keeps the task, as the kernel lock's
    /// scheduler would ([`Kernel::schedule_next`] keeps a running task nobody preempts):
    /// the task's runtime and user time are accounted under its `rq->lock`, the claim
    /// on the instruction budget is settled (`claim` granted, `tally.insns` run) and a
    /// new quantum claimed into `claim` and `u.slice_left`. Returns `false`, the claim
    /// settled or not as it was, when the kernel lock must decide: deterministic mode
    /// (its scheduler draws at every quantum), a timer armed, a kick, a task waiting on
    /// any run queue (a pick or a balance is due), the running task preempted
    /// (`need_resched`), or nothing left of the budget to claim.
    fn renew_quantum(
        &self,
        smp: &Smp,
        hart: &Hart<'_>,
        u: &mut UnlockedFaults<'_>,
        claim: &mut u64,
        tally: &mut HartTally,
    ) -> bool {
        let id = hart.hart_id();
        if self.baton.is_some()
            || self.timers_armed.load(Ordering::SeqCst)
            || smp.notified(id)
            || self.rqs.nr_waiting() > 0
        {
            return false;
        }
        account_cputime(&self.rqs, hart, u.tid, tally);
        {
            let rq = self.rqs.cpu_rq(id).lock();
            if rq.curr() != Some(u.tid) || rq.need_resched() {
                return false;
            }
        }
        // The old claim is settled only if a new one is granted: otherwise the kernel
        // lock's scheduler settles it and waits or ends the run.
        let old = *claim;
        if !self.next_quantum(u, claim) {
            return false;
        }
        self.insns.settle(old, std::mem::take(&mut tally.insns));
        true
    }

    /// A new quantum for the task of `u`, which keeps its hart without the kernel lock:
    /// claimed from the instruction budget into `claim` and `u.slice_left` if granted
    /// (`false`, nothing changed, if not: the kernel lock's scheduler waits or ends the
    /// run). Settling the old claim is the caller's.
    fn next_quantum(&self, u: &mut UnlockedFaults<'_>, claim: &mut u64) -> bool {
        let Claim::Granted(n) = self.insns.claim(u.config.quantum_insns) else {
            return false;
        };
        *claim = n;
        u.slice_left = n;
        u.stat.unlocked_quanta.inc();
        true
    }

    /// `ttwu_queue_wakelist()` for hart `id`, which without the kernel lock served a
    /// call that took descriptions whose final `fput()` is the kernel's (a kernel-served
    /// file's, a host stream's) or expired an `ITIMER_REAL` whose SIGALRM the kernel
    /// sends (`items`): queues them on the wake list, then tries the kernel lock; if it
    /// gets it, drains the list (releases the descriptions, the woken become runnable,
    /// an idle hart is woken for them, a running task they deserve to preempt is
    /// kicked; a signal waits for this hart's next scheduling point, which the drain
    /// brings it to) and releases it; if another hart holds it, that hart drains the
    /// list before it lets the lock go. Never waits for the lock.
    fn ttwu_queue_wakelist(&self, id: usize, items: impl IntoIterator<Item = ttwu::Wakeup>) {
        if self.ttwu.queue(id, items) == 0 {
            return;
        }
        match self.try_lock(id) {
            Some(k) => self.unlock(k),
            // The holder drains the list before it lets the lock go — unless it is a
            // hart about to wait for work, whose wait releases the lock: the "IPI".
            None if self.idle.any() => {
                self.idle.wake(&self.work);
            }
            None => {}
        }
    }

    /// The tick found hart `hart`'s base's earliest timer due ([`sched::Tick::run`]):
    /// idle harts wake (each one's wait ends at the deadline anyway) and that hart comes
    /// back from user mode (a kick): its trap runs its base's expiry
    /// ([`Machine::hrtimer_interrupt`]), and the kernel's scheduler fires the timers and
    /// lets the woken preempt.
    fn timer_due(&self, smp: &Smp, hart: usize) {
        self.idle.wake(&self.work);
        smp.kick(hart);
    }
}

/// The kernel's wake function for wait-queue sleepers ([`TaskWaker`],
/// `default_wake_function()` → `try_to_wake_up()`), called by a waker on any hart,
/// with or without the kernel lock: the sleeper is enqueued on the run queue
/// `select_task_rq()` gives ([`sched::Rqs::try_to_wake_up`], under its `p->pi_lock`
/// and that queue's `rq->lock`), as [`Machine::wake_up_q`] enqueues a futex waiter; in
/// parallel mode an idle target hart is woken (the `work` condvar, the IPI) and a busy
/// one that should run it kicked (`resched_curr()`). The waker's own hart is not
/// kicked: under the kernel lock it reaches a scheduling decision anyway, and without
/// it the woken waits for its queue's next one (the slice's end, a block). In
/// deterministic mode every waker holds the kernel lock, and its next scheduling point
/// wakes idle harts through the baton ([`Kernel::wake_idle_harts`]). The task's state
/// in the task table is still `Blocked(Io)` until it runs: [`Kernel::pick_next_task`]
/// ends the sleep then.
struct SchedWaker {
    rqs: Arc<sched::Rqs>,
    idle: Arc<IdleHarts>,
    smp: Arc<Smp>,
    work: Arc<Condvar>,
    parallel: bool,
}

impl std::fmt::Debug for SchedWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedWaker")
            .field("parallel", &self.parallel)
            .finish_non_exhaustive()
    }
}

impl TaskWaker for SchedWaker {
    fn try_to_wake_up(&self, tid: u32, seq: u64) {
        // The waker's hart; none for a kernel worker (an async page fault's).
        let me = crate::percpu::smp_processor_id();
        let this = me.unwrap_or(0);
        let idle = |h| self.idle.is_idle(h);
        let Some((cpu, preempt)) = self.rqs.try_to_wake_up(tid, this, idle, Some(seq)) else {
            return;
        };
        if self.parallel {
            // No kick of the waker's own hart: it reschedules at its next point. A
            // waker that is no hart kicks whichever hart must preempt.
            resched_woken(
                &self.idle,
                &self.work,
                &self.smp,
                cpu,
                preempt && me != Some(cpu),
            );
        }
    }
}

/// After `try_to_wake_up()` put a task on hart `cpu`'s run queue (parallel mode): an idle
/// hart is woken to run it (the `work` condvar, the doorbells), a busy one kicked if the
/// woken should preempt its task (`resched_curr()`: the reschedule IPI). The full fence
/// orders the enqueue before the look at the idle flag, as the idling hart's orders its
/// flag before its look at its queue ([`Machine::idle_unlocked`]): one of the two sees
/// the other.
fn resched_woken(idle: &IdleHarts, work: &Condvar, smp: &Smp, cpu: usize, preempt: bool) {
    std::sync::atomic::fence(Ordering::SeqCst);
    if idle.is_idle(cpu) {
        idle.wake(work);
    } else if preempt {
        smp.kick(cpu);
    }
}

/// What a hart keeps, while it runs a task in user mode, to handle the task's page
/// faults without the kernel lock ([`run_user`]): captured under the kernel lock when
/// the task is switched in ([`Kernel::unlocked_faults`]).
struct UnlockedFaults<'m> {
    config: &'m KernelConfig,
    smp: &'m Smp,
    /// The hart's event counters, which the faults and calls served here count on.
    stat: &'m KernelCounters,
    /// The task's address space, with a user reference (`mm_users`) held while the hart
    /// runs the task, as a running Linux task keeps `current->mm` until its own
    /// `exit_mm()`: taken when the hart leaves the kernel lock for user mode and given
    /// back when it takes the lock again ([`Kernel::put_unlocked_mm`]), so a fault or
    /// call served on the way takes none. Taking one per fault (`mmget_not_zero()` and
    /// `mmput()`) bounced the count's cache line between two threads of one process
    /// faulting on two harts at every fault. A task killed meanwhile is told by its kick
    /// (the hart's `notify`), and the last reference's teardown runs where it is dropped.
    mm: MmUsers,
    phys: Arc<PhysMem>,
    /// Instructions left in the task's time slice.
    slice_left: u64,
    /// `--strace` is on for the task, or it is traced (`ptrace`): its calls go through
    /// the kernel lock, which logs them or takes the tracee's syscall stops.
    strace: bool,
    /// The task's handles for the file and identity calls served without the kernel
    /// lock ([`crate::syscall::unlocked`]); `None` under `--strace` or when the task's
    /// last call sleeps holding its file (its re-issue is the kernel's).
    current: Option<Current>,
    /// The futex hash table, for the futex calls served without the kernel lock.
    futex: Arc<FutexHash>,
    /// A fault that must read its page from swap is handed to the kernel lock to be
    /// queued as an async page fault (`--async-pf on`, parallel mode).
    async_pf: bool,
    /// The wake function of a pipe sleep queued without the kernel lock
    /// ([`Kernel::waker`]).
    waker: Arc<dyn TaskWaker>,
    /// The harts' timer bases, for a `nanosleep` armed without the kernel lock.
    hrtimers: Arc<hrtimer::HrtimerBases>,
    /// The run queues, for a `sched_yield` answered without the kernel lock, and the
    /// task's CPU time charged without it ([`account_cputime`]).
    rqs: Arc<sched::Rqs>,
    /// The task's tid and thread group id.
    tid: u32,
    tgid: u32,
    /// The task's thread group (`current->signal`): its CPU time and interval timers,
    /// which `getitimer`/`setitimer` and the CPU-time timers' check reach here
    /// ([`itimer`]).
    signal: Arc<crate::process::SignalStruct>,
    /// The task's own CPU time (`current->se.sum_exec_runtime`, `utime`).
    cputime: Arc<CputimeAtomic>,
    /// The task's state, saved registers and sleeping call ([`Task::run`]), for a
    /// sleep and a switch without the kernel lock ([`switch`]).
    run: Arc<crate::sync::Mutex<crate::process::TaskRun>>,
    /// Its tagged-address control, loaded when it is switched in.
    mte_ctrl: crate::mm::mte::TaggedAddrCtrl,
}

/// What a hart did without the kernel lock since it last held it that the kernel lock's
/// scheduler and books need ([`account_user_time`], [`Kernel::account_unlocked`]).
/// The events it handled there are not here: the hart counts them on its own counters
/// ([`stat`]) as it handles them.
#[derive(Default)]
struct HartTally {
    /// Instructions retired in user mode.
    insns: u64,
    /// The scheduler's clock when the task's time in user mode was last accounted: its
    /// return to user mode, or the last [`account_user_time`] since.
    user_since: u64,
    /// The kernel work of the faults and calls served without the kernel lock, priced
    /// ([`account_kernel_work`]): system time for the deterministic clock.
    kernel_cycles: u64,
    /// Their kernel work in host time, ns: system time for the parallel mode's clock
    /// ([`account_user_time`]).
    kernel_host_ns: u64,
    /// Descriptions that `close`/`dup3` without the kernel lock took out of a table and
    /// whose release is the kernel's (a kernel-served file, a host stream): queued on the
    /// wake list after the call ([`Machine::ttwu_queue_wakelist`]), or released when the
    /// hart next takes the lock if it goes there anyway — as Linux runs a final
    /// `fput()` from `task_work`.
    deferred_fput: Vec<Arc<OpenFile>>,
    /// Waiters the futex calls without the kernel lock woke (their `wake_q`): enqueued
    /// on their harts' run queues after the call, without the kernel lock
    /// ([`Machine::wake_up_q`]); any left when the hart takes the lock are woken there
    /// ([`Kernel::futex_wake_up_q`]).
    futex_woken: WakeList,
}

/// `account_user_time()` on hart `hart` for task `tid`, its run queue's running task:
/// the time from `tally.user_since` to `now` (the scheduler's clock, ns), less the
/// kernel work the hart did on the way without the kernel lock (`tally`'s: priced in
/// cycles on the deterministic clock, one per ns; timed on the host clock), was in
/// user mode — added to the task's and its thread group's `utime` under the queue's
/// `rq->lock` ([`sched::CfsRq::account_user`]), with or without the kernel lock. The
/// next user period starts at `now`.
fn account_user_time(rqs: &sched::Rqs, hart: usize, tid: u32, now: u64, tally: &mut HartTally) {
    let cycles = std::mem::take(&mut tally.kernel_cycles);
    let host_ns = std::mem::take(&mut tally.kernel_host_ns);
    let kernel_ns = match rqs.clock() {
        sched::SchedClock::Cycles => cycles,
        sched::SchedClock::Host(_) => host_ns,
    };
    let user_ns = now
        .saturating_sub(tally.user_since)
        .saturating_sub(kernel_ns);
    rqs.cpu_rq(hart).lock().account_user(tid, user_ns);
    tally.user_since = now;
}

/// `update_curr()` and `account_user_time()` on hart `hart`, with or without the kernel
/// lock, for task `tid`, its run queue's running task: its runtime up to now on the
/// scheduler's clock, and the user-mode part of it since `tally.user_since`
/// ([`account_user_time`]), charged to the task and its thread group, under the
/// queue's `rq->lock` only — as `task_sched_runtime()` brings a running task's clock up
/// to date before a read, and as the tick accounts the running task
/// (`update_process_times()`).
fn account_cputime(rqs: &sched::Rqs, hart: &Hart<'_>, tid: u32, tally: &mut HartTally) {
    let now = rqs.clock().now(hart.stats().cycles);
    rqs.cpu_rq(hart.hart_id()).lock().update_curr(now);
    account_user_time(rqs, hart.hart_id(), tid, now, tally);
}

/// Whether system call `nr` (arguments `a`) reads the caller's CPU time, which must be
/// brought up to date first ([`account_cputime`]): `clock_gettime` of a CPU-time clock,
/// `getrusage`, `times`.
fn reads_own_cputime(nr: u64, a: [u64; 6]) -> bool {
    use crate::syscall::misc::KClock;
    nr == nr::SYS_getrusage
        || nr == nr::SYS_times
        || (nr == nr::SYS_clock_gettime && matches!(KClock::from_id(a[0]), Ok(KClock::Cpu { .. })))
}

/// The CPU time of a caller ([`syscall::misc::OwnCpuTimes`]) and of every other
/// thread of its group (`tgid`), found in the task table under the kernel lock.
struct GroupCpuTimes<'a> {
    tasks: &'a BTreeMap<u32, Task>,
    tgid: u32,
    own: syscall::misc::OwnCpuTimes<'a>,
}

impl std::fmt::Debug for GroupCpuTimes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCpuTimes")
            .field("tgid", &self.tgid)
            .field("own", &self.own)
            .finish_non_exhaustive()
    }
}

impl syscall::misc::CpuTimes for GroupCpuTimes<'_> {
    fn thread(&self, tid: u32) -> Option<cputime::TaskCputime> {
        let t = self.tasks.get(&tid).filter(|t| t.tgid == self.tgid)?;
        Some(t.cputime.sample())
    }

    fn group(&self) -> cputime::TaskCputime {
        self.own.group()
    }

    fn children(&self) -> cputime::TaskCputime {
        self.own.children()
    }
}

/// Why a hart running a task in user mode came back to the kernel lock.
enum KernelEntry {
    /// Something the kernel handles under its lock.
    Exit(Exit),
    /// A user fault at `va` (or, with `va` 0 and `Ok`, a system call) handled without
    /// the kernel lock whose result `result` is finished under it
    /// ([`Kernel::finish_unlocked_fault`]).
    Fault {
        va: u64,
        result: Result<(), UserFaultError>,
    },
    /// A `futex` wait queued on its bucket, a `nanosleep` whose timer is armed, or a
    /// pipe `read`/`write` queued on its pipe's wait queue, without the kernel lock, which puts the task to sleep unless a waker or the
    /// expiry took it meanwhile ([`Kernel::finish_unlocked_sleep`]).
    Sleep(UnlockedSleep),
    /// The hart's task went to sleep without the kernel lock and no task could be
    /// switched in without it ([`switch`]): the hart runs nothing and its scheduler
    /// picks.
    Switched,
}

/// A sleep a hart began without the kernel lock, for the kernel lock to block.
enum UnlockedSleep {
    /// A `FUTEX_WAIT`/`FUTEX_WAIT_BITSET` queued on its bucket.
    Futex(futex::FutexSleep),
    /// A `nanosleep`/`clock_nanosleep` whose timer is armed on the hart's base
    /// (`do_nanosleep()` up to its `schedule()`).
    Nanosleep(Arc<hrtimer::Hrtimer>),
    /// A pipe `read`/`write` queued on its pipe's wait queue, which the kernel lock
    /// puts to sleep unless the pipe changed or a waker came meanwhile
    /// ([`Kernel::io_sleep_block`]).
    Io(IoSleep),
}

/// What [`unlocked_syscall`] did with the call.
enum UnlockedCall {
    /// Served: its result is in `a0`, the hart past the `ecall`. `sigpending`: the call
    /// unblocked a queued signal, which the kernel lock delivers on the way back to user
    /// mode (`TIF_SIGPENDING`).
    Served { sigpending: bool },
    /// A futex wait, queued, a `nanosleep`, its timer armed, or a pipe read or write,
    /// queued on its pipe's wait queue, that must sleep: the
    /// kernel lock's to block (the hart still at the `ecall`).
    Sleep(UnlockedSleep),
}

/// Runs the task live in `hart` in user mode for up to `budget` instructions (the
/// caller has entered user mode, [`Smp::enter_user`]), and — given `unlocked` — handles
/// its user page faults without the kernel lock ([`unlocked_fault`]), as it does the
/// interrupt of a TLB shootdown, and goes back to user mode while it can: the fault
/// succeeded, the slice has instructions left, no
/// timer is armed and the hart was not kicked ([`Smp::enter_user_unless_notified`]: a
/// signal, an `exit_group`/`execve` taking the task, the end of the run). Counts what
/// ran in `tally`. Returns, out of user mode, what the kernel handles under its lock.
fn run_user(
    machine: &Machine<'_>,
    smp: &Smp,
    hart: &mut Hart<'_>,
    claim: &mut u64,
    mut unlocked: Option<&mut UnlockedFaults<'_>>,
    tally: &mut HartTally,
) -> KernelEntry {
    let mut budget = *claim;
    loop {
        let before = hart.stats().instret;
        let exit = hart.run(budget);
        smp.leave_user(hart);
        let after = hart.stats();
        let ran = after.instret - before;
        tally.insns += ran;
        // The virtual clock follows the furthest hart, without a lock.
        machine.hrtimers.clock().advance(after.cycles);
        // An asynchronous tag mismatch is reported at this kernel entry, under the lock.
        let Some(u) = unlocked
            .as_deref_mut()
            .filter(|_| !hart.async_tag_fault_pending())
        else {
            return KernelEntry::Exit(exit);
        };
        u.slice_left = u.slice_left.saturating_sub(ran);
        // hrtimer_interrupt(): this hart's own expired timers wake their sleepers and
        // re-arm and signal interval timers, without the kernel lock (parallel mode:
        // deterministic mode's are fired by the kernel lock's scheduler, at its seeded
        // points). The clock is read (lock-free) only when the base has a timer: a fault
        // of a hart with none (the common case) reads one word of its own base.
        if let (None, Some(_)) = (
            &machine.baton,
            machine.hrtimers.expires_next(hart.hart_id()),
        ) {
            let (_, now) = machine.hrtimers.clock().now(hart.stats().cycles);
            machine.hrtimer_interrupt(smp, hart.hart_id(), now);
        }
        machine.run_posix_cpu_timers(hart, u, tally);
        // Back to user mode without the kernel lock if nothing asks for it: as the
        // scheduler would keep the task (slice left, no timer to fire), and unless kicked.
        let resched = |hart: &Hart<'_>| {
            machine
                .tick
                .as_ref()
                .is_some_and(|t| t.resched_pending(hart.hart_id()))
        };
        let may_resume = |u: &UnlockedFaults<'_>, hart: &mut Hart<'_>| {
            u.slice_left > 0
                && !machine.timers_armed.load(Ordering::SeqCst)
                && !resched(hart)
                && smp.enter_user_unless_notified(hart)
        };
        match exit {
            Exit::PageFault { va, access } => {
                let va = va.raw();
                let start = Instant::now();
                let result = unlocked_fault(hart, u, va, access, tally);
                tally.kernel_host_ns += start.elapsed().as_nanos() as u64;
                let Some(result) = result else {
                    return KernelEntry::Exit(exit);
                };
                // A fault for a userfaultfd sleeps, and so does one queued as an async
                // page fault: the kernel lock runs it again (handle_userfault(),
                // `kernel/userfault.rs`; kvm_setup_async_pf(), `kernel/async_pf.rs`).
                if matches!(
                    result,
                    Err(UserFaultError::Userfault | UserFaultError::AsyncPf)
                ) {
                    return KernelEntry::Exit(exit);
                }
                if !(result.is_ok() && may_resume(u, hart)) {
                    return KernelEntry::Fault { va, result };
                }
            }
            Exit::Ecall => {
                let start = Instant::now();
                let nr = hart.x[17];
                let served = unlocked_syscall(hart, u, tally);
                tally.kernel_host_ns += start.elapsed().as_nanos() as u64;
                let sigpending = match served {
                    None => return KernelEntry::Exit(exit),
                    Some(UnlockedCall::Sleep(sleep)) => return KernelEntry::Sleep(sleep),
                    Some(UnlockedCall::Served { sigpending }) => sigpending,
                };
                if let (nr::SYS_setitimer, Some(tick)) = (nr, &machine.tick) {
                    // The timers it armed: a CPU-time one is checked at every tick, an
                    // ITIMER_REAL expires on this hart's base.
                    tick.set_cputimer(hart.hart_id(), u.signal.cputimer.armed());
                    let (_, now) = machine.hrtimers.clock().now(hart.stats().cycles);
                    machine.hrtimer_reprogram(hart.hart_id(), now);
                }
                // The futex waiters the call woke go straight onto their harts' run
                // queues, without the kernel lock.
                if !tally.futex_woken.is_empty() {
                    let woken = std::mem::take(&mut tally.futex_woken);
                    machine.wake_up_q(smp, hart.hart_id(), woken);
                }
                // Final fput()s for the kernel go on the wake list, without waiting for
                // the kernel lock (its holder releases them) — unless the hart goes to
                // the kernel lock anyway (slice used up, a timer armed, kicked): then
                // they stay in the tally, for that entry to release.
                let to_kernel = sigpending
                    || u.slice_left == 0
                    || machine.timers_armed.load(Ordering::SeqCst)
                    || smp.notified(hart.hart_id());
                if !tally.deferred_fput.is_empty() && !to_kernel {
                    let fputs = std::mem::take(&mut tally.deferred_fput);
                    let items = fputs.into_iter().map(ttwu::Wakeup::Fput);
                    machine.ttwu_queue_wakelist(hart.hart_id(), items);
                }
                if sigpending || !may_resume(u, hart) {
                    return KernelEntry::Fault {
                        va: 0,
                        result: Ok(()),
                    };
                }
            }
            // The quantum ran out: a new one on the hart if nothing else wants it.
            Exit::BudgetExhausted => {
                if !machine.renew_quantum(smp, hart, u, claim, tally) {
                    return KernelEntry::Exit(exit);
                }
            }
            // A shootdown's interrupt (a kick sets `notify` too, and goes to the kernel):
            // re-entering user mode drains the mailbox.
            Exit::Ipi => {
                // The tick's: the slice ended with tasks waiting (`resched_curr()`).
                let id = hart.hart_id();
                if machine.tick.as_ref().is_some_and(|t| t.take_resched(id)) {
                    return KernelEntry::Exit(Exit::BudgetExhausted);
                }
                if !may_resume(u, hart) {
                    return KernelEntry::Exit(exit);
                }
            }
            _ => return KernelEntry::Exit(exit),
        }
        budget = u.slice_left;
    }
}

/// The user page fault at `va` (`access`) of the task live in `hart`, handled without
/// the kernel lock ([`user_fault`]) and accounted as the locked path accounts it (trap,
/// fault count, priced kernel work) on the hart's counters, its kernel work in `tally`
/// too. `None`, having done nothing, if the
/// kernel has something for the hart (it was kicked) or the address space has no users
/// left (the task is being killed): the kernel lock decides then.
fn unlocked_fault(
    hart: &mut Hart<'_>,
    u: &UnlockedFaults<'_>,
    va: u64,
    access: mmu::AccessType,
    tally: &mut HartTally,
) -> Option<Result<(), UserFaultError>> {
    let smp = u.smp;
    if smp.notified(hart.hart_id()) {
        return None;
    }
    hart.account_trap();
    u.stat.page_faults.inc();
    u.stat.unlocked_faults.inc();
    let before = u.phys.events().snapshot();
    let mut r = user_fault(smp, hart, &u.mm, va, access, u.async_pf);
    // A fault signal the task handles goes to its handler from here (force_sig_fault()).
    if let (Err(UserFaultError::Signal { signo, code }), Some(cur)) = (r, &u.current) {
        let info = SigInfo {
            signo,
            code,
            addr: va,
            status: 0,
        };
        let mut ctx = hart.save_context();
        if cur.force_sig_fault(&u.mm, &mut ctx, &info) {
            enter_handler(hart, &ctx, &u.mm, smp, u.stat);
            r = Ok(());
        }
    }
    tally.kernel_cycles += account_kernel_work(&u.phys, u.config, u.stat, hart, &before);
    Some(r)
}

/// The system call the task live in `hart` stopped at, if it is one of
/// [`crate::syscall::mm_call`]'s memory-map calls (`brk`, anonymous `mmap`, `munmap`,
/// `mprotect`, `madvise`) or [`crate::syscall::unlocked::file_call`]'s file and identity
/// calls (`read`/`write`… of a VFS file, `openat`, `close`, `fstat`, `getpid`…, the
/// CPU-time clocks and `getrusage` after [`account_cputime`]), or `getitimer`/
/// `setitimer` ([`itimer::itimer_call`]),
/// handled without the kernel lock: under the caller's `mmap_lock` and the locks of the
/// state the call reaches alone, as Linux serves them, then its TLB maintenance carried
/// out on the harts and the frames it freed released after it ([`flush_pending`]); the
/// result goes to `a0` and the hart past the `ecall`. Descriptions whose release is the
/// kernel's go to `tally.deferred_fput`. Accounted as the locked path accounts a call
/// (trap, call count, priced kernel work) on the hart's counters, its kernel work in
/// `tally` too. A `futex` wait that must sleep is
/// queued on its bucket, and a `nanosleep`/`clock_nanosleep` whose deadline is ahead has
/// its timer armed on this hart's base, and either is handed back
/// ([`UnlockedCall::Sleep`]: the call is then counted under the kernel lock, which
/// blocks the task); a sleep's deadline already passed returns 0 here. `None`, having done nothing, for
/// any other call, a task under `--strace`, a kicked hart, an address space without
/// users, or in deterministic mode: the kernel lock handles the call then. Deterministic
/// mode promises a seeded scheduling point at every kernel entry; a call served here
/// would skip it, and with it the interleavings a seed explores there — on one hart, the
/// Dirty COW PoC's `madvise()` between two retries of the other thread's GUP never ran
/// and the race was never won (`tests/dirtycow.rs`).
fn unlocked_syscall(
    hart: &mut Hart<'_>,
    u: &mut UnlockedFaults<'_>,
    tally: &mut HartTally,
) -> Option<UnlockedCall> {
    if u.strace || u.smp.notified(hart.hart_id()) || u.config.sched == SchedMode::Deterministic {
        return None;
    }
    let (n, a) = crate::syscall::args(hart);
    let mm = &u.mm;
    let before = u.phys.events().snapshot();
    let cpu_ns = crate::syscall::cycles_to_ns(hart.stats().cycles);
    let mut sleep = None;
    // rt_sigreturn restores the registers itself: no result goes to a0.
    let mut resumed = false;
    // do_sched_yield(): yield_task_fair() does nothing for the only task of its queue and
    // schedule() picks it again, so that answer needs only the queue's `rq->lock`; with
    // others waiting on the queue, the switch is the kernel lock's.
    let r = if n == nr::SYS_sched_yield {
        if u.rqs.cpu_rq(hart.hart_id()).lock().nr_queued() != 0 {
            return None;
        }
        Some(Ok(0))
    } else if n == nr::SYS_rt_sigreturn {
        // The frame at sp restores the registers, the mask and the alternate stack, all
        // the task's own; a bad frame is the kernel lock's (force_sig(SIGSEGV)).
        let cur = u.current.as_mut()?;
        let mut ctx = hart.save_context();
        if !cur.rt_sigreturn(mm, &mut ctx) {
            return None;
        }
        hart.restore_context(&ctx);
        resumed = true;
        Some(Ok(0))
    } else {
        crate::syscall::mm_call(mm, n, a)
    };
    let r = r.or_else(|| {
        let cur = u.current.as_mut()?;
        // A call re-issued after a sleep takes back what it held; any re-issue but a
        // pipe read's or write's is the kernel lock's (its call left as it was).
        let held = match n {
            nr::SYS_read | nr::SYS_write | nr::SYS_readv | nr::SYS_writev => {
                poll::BlockedCall::take_pipe_io(&mut u.run.lock().call, n, a).ok()?
            }
            _ => None,
        };
        match crate::syscall::unlocked::pipe_call(cur, mm, n, a, &u.waker, held) {
            Some(Ok(r)) => return Some(r),
            Some(Err(s)) => {
                sleep = Some(UnlockedSleep::Io(s));
                return None;
            }
            None => {}
        }
        if n == nr::SYS_sigaltstack {
            return Some(cur.sigaltstack(mm, a[0], a[1], hart.x[2]));
        }
        if matches!(n, nr::SYS_kill | nr::SYS_tkill | nr::SYS_tgkill) {
            return cur.send_self(n, a);
        }
        if n == nr::SYS_nanosleep || n == nr::SYS_clock_nanosleep {
            // hrtimer_nanosleep() up to do_nanosleep()'s schedule(): the deadline, a
            // zero or past one returning at once, the timer armed on this hart's base.
            let (clk, flags, req) = match n {
                nr::SYS_nanosleep => (1, 0, a[0]),
                _ => (a[0], a[1], a[2]),
            };
            let now = cur.now(cpu_ns);
            let read_req = || get_timespec(mm, req);
            return match hrtimer::nanosleep_deadline(clk, flags, read_req, now) {
                Ok(deadline) if deadline > now.1 => {
                    let timer = u.hrtimers.start(hart.hart_id(), cur.tid(), deadline);
                    sleep = Some(UnlockedSleep::Nanosleep(timer));
                    None
                }
                Ok(_) => Some(Ok(0)),
                Err(e) => Some(Err(e)),
            };
        }
        if n == nr::SYS_futex {
            let woken = &mut tally.futex_woken;
            return match crate::syscall::unlocked::futex_call(cur, mm, &u.futex, cpu_ns, a, woken) {
                Ok(r) => {
                    u.stat.futex_calls.inc();
                    u.stat.unlocked_futex_calls.inc();
                    Some(r)
                }
                Err(s) => {
                    sleep = Some(UnlockedSleep::Futex(s));
                    None
                }
            };
        }
        if n == nr::SYS_getitimer || n == nr::SYS_setitimer {
            let caller = itimer::ItimerCaller {
                signal: &u.signal,
                tgid: u.tgid,
                bases: &u.hrtimers,
                hart: hart.hart_id(),
                mono_now_ns: u.hrtimers.clock().now(hart.stats().cycles).1,
            };
            let mut user: &MmStruct = mm.uaccess();
            return itimer::itimer_call(&caller, &mut user, n, a);
        }
        if reads_own_cputime(n, a) {
            account_cputime(&u.rqs, hart, u.tid, tally);
        }
        let cputime = crate::syscall::misc::OwnCpuTimes {
            tid: u.tid,
            task: &u.cputime,
            group: &u.signal,
        };
        let deferred = &mut tally.deferred_fput;
        crate::syscall::unlocked::file_call(cur, mm, cpu_ns, &cputime, n, a, deferred)
    });
    if r.is_some() {
        flush_pending(u.smp, hart, &mm.mmap_read_lock());
    }
    let served = match (r, sleep) {
        (Some(r), _) => {
            hart.account_trap();
            u.stat.syscalls.inc();
            u.stat.unlocked_syscalls.inc();
            if !resumed {
                hart.x[10] = r.unwrap_or_else(Errno::as_return);
                hart.pc = hart.pc.wrapping_add(4);
            }
            let mut sigpending = u.current.as_mut().is_some_and(|c| c.take_sigpending());
            // SIGPIPE owed by a write without a reader: sent under the kernel lock, which
            // takes it from the task's handles (`hart_main`).
            let sigpipe = u.current.as_ref().is_some_and(Current::sigpipe_owed);
            if let (true, false, Some(cur)) = (sigpending, sigpipe, u.current.as_mut()) {
                sigpending = deliver_unlocked(hart, cur, &u.mm, u.smp, u.stat);
            }
            UnlockedCall::Served {
                sigpending: sigpending || sigpipe,
            }
        }
        (None, Some(s)) => UnlockedCall::Sleep(s),
        (None, None) => return None,
    };
    tally.kernel_cycles += account_kernel_work(&u.phys, u.config, u.stat, hart, &before);
    Some(served)
}

/// The return to user mode's signal delivery (`exit_to_user_mode_loop()`: `get_signal()`
/// and `handle_signal()` while `TIF_SIGPENDING` is set) for the task live in `hart`,
/// whose handles are `cur`, without the kernel lock: each signal it does not block that
/// has a handler gets its frame ([`Current::deliver_handled`]), the next on top of the
/// last, then the maintenance the frames' writes recorded is carried out. Returns
/// whether a signal is left that only the kernel lock delivers (no handler, a mask
/// `rt_sigsuspend` saved, a frame that cannot be written).
fn deliver_unlocked(
    hart: &mut Hart<'_>,
    cur: &mut Current,
    mm: &MmStruct,
    smp: &Smp,
    stat: &KernelCounters,
) -> bool {
    // Each delivery blocks its signal in the handler's mask: at most one per signal.
    for _ in 0..signal::NSIG {
        if !cur.signal_pending() {
            return false;
        }
        let mut ctx = hart.save_context();
        match cur.deliver_handled(mm, &mut ctx) {
            Delivery::Delivered => enter_handler(hart, &ctx, mm, smp, stat),
            Delivery::Nothing => return false,
            Delivery::Kernel => return true,
        }
    }
    true
}

/// The end of a signal delivery without the kernel lock: the hart takes the registers
/// `ctx` a frame was pushed for (the handler's), the maintenance the frame's writes
/// recorded in `mm` is carried out, and the delivery is counted (`unlocked signal
/// deliveries`).
fn enter_handler(
    hart: &mut Hart<'_>,
    ctx: &UserContext,
    mm: &MmStruct,
    smp: &Smp,
    stat: &KernelCounters,
) {
    hart.restore_context(ctx);
    flush_pending(smp, hart, &mm.mmap_read_lock());
    stat.unlocked_signals.inc();
}

/// Reads a `struct timespec` (`tv_sec`, `tv_nsec`) at `va` in `mm`'s user memory.
///
/// # Errors
/// `EFAULT`.
fn get_timespec(mm: &MmStruct, va: u64) -> KResult<(u64, u64)> {
    let mut access = mm.uaccess();
    let sec = access.get_user_u64(va)?;
    let nsec = access.get_user_u64(va.checked_add(8).ok_or(Errno::EFAULT)?)?;
    Ok((sec, nsec))
}

/// Boots a machine per `config`, executes `image` as `exe_path` with `argv`/`envp`, and
/// runs it — and any processes it creates — until the first process exits (or the
/// instruction limit: exactly `max_insns` instructions over all harts).
///
/// # Errors
/// [`KernelError`] when the machine cannot be set up or the image cannot be executed; a
/// guest that faults or misbehaves is not an error but an [`ExitStatus`].
pub fn run(
    config: &KernelConfig,
    stdio: HostStreams,
    image: &[u8],
    exe_path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<RunReport, KernelError> {
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM_BASE), config.mem_bytes)])?;
    let phys = Arc::new(PhysMem::new(ram)?);
    // hugetlb_init() with hugepagesz=/hugepages=: the boot-time pools.
    crate::mm::hugetlb::hugetlb_init(&phys, &config.hugepages);
    // swapon: the area --swap describes.
    if config.swap_bytes > 0 {
        let dev = match &config.swap_file {
            Some(path) => devices::SwapDevice::file(path, config.swap_bytes)?,
            None => devices::SwapDevice::anonymous(config.swap_bytes)?,
        };
        let latency = config
            .swap_latency
            .filter(|_| config.sched == SchedMode::Parallel);
        phys.set_swap(Arc::new(crate::mm::swapfile::SwapInfo::with_latency(
            dev, latency,
        )));
    }
    let baseline = phys.pages.audit();
    let nharts = config.harts.clamp(1, crate::config::MAX_HARTS);
    crate::percpu::set_nr_cpu_ids(nharts);
    let clint = Arc::new(Clint::new(nharts, ClockSource::Host(Instant::now())));
    let smp = Arc::new(Smp::new(nharts, Arc::clone(&clint)));
    let vfs = Task::new_vfs(config, &phys);
    let fs_handle = Arc::clone(&vfs);
    for (host, guest) in &config.files {
        let arg = parse_file_arg(&format!("{}:{guest}", host.display()))?;
        vfs.import_host_file(&arg)?;
    }
    // The image is also a file in the guest (for /proc/self/exe and re-reading itself).
    if let Some((parent, _)) = exe_path
        .rsplit_once('/')
        .filter(|(d, _)| d.starts_with('/'))
    {
        let _ = vfs.create_dir_all(parent.as_bytes(), 0o755);
    }
    if exe_path.starts_with('/') {
        let _ = vfs.write_file(exe_path.as_bytes(), image, 0o755);
    }
    let mut mm = Mm::new(Arc::clone(&phys), config.paging, config.ad, 1)
        .map_err(KernelError::AddressSpace)?;
    mm.set_gup_generation(config.gup);
    // /proc/1 (a fresh file system has no such entry: cannot fail).
    let _ = vfs.proc_register(INIT_PID);
    let mut init = Task::new(INIT_PID, config, mm, vfs, Arc::new(stdio));
    exec(&mut init, image, exe_path, argv, envp)?;

    let deterministic = config.sched == SchedMode::Deterministic;
    // The guest's clocks: init's time source, which every task copies.
    let clock = timekeeping::Timekeeper::new(init.time);
    let idle = Arc::new(IdleHarts::new(nharts));
    let (ttwu_queue, ttwu_pending) = ttwu::wake_list();
    let rqs = Arc::new(sched::Rqs::new(
        nharts,
        if deterministic {
            sched::SchedClock::Cycles
        } else {
            sched::SchedClock::Host(Instant::now())
        },
    ));
    let work = Arc::new(Condvar::new());
    let stats = PerCpuVar::<KernelCounters>::new(nharts);
    let end = RunEnd::default();
    let insns = InsnBudget::new(config.max_insns, nharts);
    let on_hart = Arc::new(OnHart::new(nharts));
    let stash = Arc::new(SwitchStash::new());
    let async_pf = (config.async_pf && !deterministic && config.swap_bytes > 0)
        .then(|| Arc::new(async_pf::AsyncPf::start(nharts, &smp)));
    let mut k = Kernel {
        config,
        phys: Arc::clone(&phys),
        async_pf: async_pf.clone(),
        tasks: BTreeMap::from([(INIT_PID, init)]),
        smp: &smp,
        this: 0,
        on_hart: Arc::clone(&on_hart),
        stash: Arc::clone(&stash),
        rqs: Arc::clone(&rqs),
        slice_left: vec![0; nharts],
        idle: Arc::clone(&idle),
        end: &end,
        insns: &insns,
        next_pid: INIT_PID + 1,
        waker: Arc::new(SchedWaker {
            rqs: Arc::clone(&rqs),
            idle: Arc::clone(&idle),
            smp: Arc::clone(&smp),
            work: Arc::clone(&work),
            parallel: !deterministic,
        }),
        ttwu: ttwu_pending,
        deferred_kills: Vec::new(),
        futex: Arc::new(FutexHash::new(nharts)),
        timers: hrtimer::Timers::new(Arc::new(hrtimer::HrtimerBases::new(nharts, clock))),
        // A stream of its own, so the guest's getrandom/AT_RANDOM draws stay the same.
        sched_rng: deterministic.then(|| Prng::new(config.seed ^ 0x5c4e_d0e7_5eed_0001)),
        stats: &stats,
        init_uaccess_mmu: None,
    };
    // The first task: on hart 0's queue (`wake_up_new_task()` of init).
    k.activate_task(INIT_PID);
    let rqs = Arc::clone(&k.rqs);
    let hrtimers = Arc::clone(k.timers.bases());
    let machine = Machine {
        rqs,
        hrtimers,
        on_hart,
        stash,
        kernel: CondvarMutex::new(k),
        ttwu: ttwu_queue,
        work,
        waiters: Arc::new(AtomicUsize::new(0)),
        idle,
        acquisitions: AtomicU64::new(0),
        stats: &stats,
        end: &end,
        insns: &insns,
        timers_armed: AtomicBool::new(false),
        tick: (!deterministic).then(|| sched::Tick::new(nharts)),
        baton: deterministic.then(|| {
            Arc::new(Baton::new(
                nharts,
                Prng::new(config.seed ^ 0xba70_5eed_0002),
            ))
        }),
    };
    let mut harts: Vec<Hart<'_>> = (0..nharts)
        .map(|hart_id| {
            let hart_config = HartConfig {
                hart_id,
                tlb: config.tlb,
                ad: config.ad,
                cost: config.cost.clone(),
            };
            Hart::new(&phys.ram, Some(&*clint), hart_config)
        })
        .collect();
    let locks_before = lockstat::snapshot();
    let start = Instant::now();
    std::thread::scope(|s| {
        if let Some(tick) = &machine.tick {
            let (machine, smp) = (&machine, &smp);
            s.spawn(move || tick.run(smp, |hart| machine.timer_due(smp, hart)));
        }
        // The first hart to leave — the run is over, or it panicked — stops the tick,
        // which the scope would otherwise wait for.
        let cpus = host_cpus_to_pin(config);
        match harts.as_mut_slice() {
            [hart] if cpus.is_empty() => {
                let _stop = sched::StopTick(machine.tick.as_ref());
                hart_main(&machine, &smp, hart);
            }
            harts => {
                for (i, hart) in harts.iter_mut().enumerate() {
                    let (machine, smp) = (&machine, &smp);
                    let cpu = cpus.get(i % cpus.len().max(1)).copied();
                    s.spawn(move || {
                        // Pinning is best effort: a refused affinity leaves the thread
                        // where the host scheduler puts it.
                        if let Some(cpu) = cpu {
                            let _ = core_affinity::set_for_current(cpu);
                        }
                        let _stop = sched::StopTick(machine.tick.as_ref());
                        let id = hart.hart_id();
                        let _others = StopHartsOnPanic { machine, smp, id };
                        hart_main(machine, smp, hart)
                    });
                }
            }
        }
    });
    let host_seconds = start.elapsed().as_secs_f64();
    let baton_switches = machine.baton.as_ref().map_or(0, |b| b.switches());
    let baton_lock_waits = machine.baton.as_ref().map_or(0, |b| b.lock_waits());
    // The stash's address-space references go before the teardown and the audit.
    machine.stash.clear();
    let mut k = machine.kernel.into_inner();
    let status = end.status().unwrap_or(ExitStatus::InsnLimit);
    // The harts have stopped: their counters are final.
    let mut kstats = stat::sum(&stats);
    kstats.uaccess_mmu = match k.tasks.get(&INIT_PID).and_then(|t| t.mm.as_ref()) {
        Some(mm) => mm.mmap_read_lock().uaccess_counters(),
        None => k.init_uaccess_mmu.unwrap_or_default(),
    };
    let counts = smp.counts();
    kstats.tlb_shootdowns = counts.shootdowns;
    kstats.ipis = counts.ipis;
    kstats.shootdown_ack_waits = counts.ack_waits;
    kstats.baton_switches = baton_switches;
    kstats.baton_lock_waits = baton_lock_waits;
    kstats.peak_frames = phys.pages.peak_used();
    // Tear every process down (exit_mmap) and audit page metadata: every reference, map
    // and pin taken during the run must have been given back. The page cache is checked
    // against the frame table, written back and emptied first: its own references are
    // not leaks.
    // kvm_async_pf_deinit(): every queued fault finished and its references given
    // back before the audit.
    if let Some(a) = &async_pf {
        a.shutdown();
        let st = a.stats();
        kstats.async_pf_queued = st.queued.load(Ordering::Relaxed);
        kstats.async_pf_completed = st.completed.load(Ordering::Relaxed);
        kstats.async_pf_sync_fallbacks = st.sync_fallbacks.load(Ordering::Relaxed);
        kstats.async_pf_repeated = st.repeated.load(Ordering::Relaxed);
        kstats.async_pf_parked_ns = st.parked_ns.load(Ordering::Relaxed);
    }
    k.tasks.clear();
    let mut cache_errors = 0;
    if let Some(cache) = fs_handle.page_cache() {
        cache_errors = cache.audit();
        cache.shutdown();
        let st = cache.stats();
        kstats.page_cache_peak_pages = st.peak_pages;
        kstats.page_cache_read_ins = st.read_ins;
        kstats.page_cache_written_back = st.written_back;
        kstats.page_cache_evicted = st.evicted;
    }
    drop(fs_handle);
    let end = phys.pages.audit();
    kstats.frames_leaked = end.used_frames.saturating_sub(baseline.used_frames);
    kstats.page_audit_errors = end.inconsistent_frames + end.bad_puts + cache_errors;
    kstats.swap_slots_leaked = phys.swap().map_or(0, |si| si.inuse_pages());
    kstats.thp = phys.pages.thp_stats();
    let per_hart: Vec<HartStats> = harts.iter().map(Hart::stats).collect();
    let mut total = HartStats::default();
    for h in &per_hart {
        total.accumulate(h);
    }
    Ok(RunReport {
        status,
        hart: total,
        per_hart,
        kernel: kstats,
        lock_stat: lockstat::since(&locks_before),
        host_seconds,
    })
}

/// Ends the run when dropped by a hart thread that panics, and sends every other hart
/// to look (kicked out of user mode, woken from idle): they stop, and the panic reaches
/// the caller through the thread scope, instead of the other harts running on forever
/// without the task the panicked one had.
struct StopHartsOnPanic<'a, 'm> {
    machine: &'a Machine<'m>,
    smp: &'a Smp,
    /// The hart whose thread this is.
    id: usize,
}

impl Drop for StopHartsOnPanic<'_, '_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        self.machine.end.end(ExitStatus::Signaled {
            signo: SIGKILL,
            code: signal::SI_KERNEL,
            addr: 0,
            pc: 0,
        });
        for h in 0..self.smp.harts() {
            self.smp.kick(h);
        }
        self.machine.idle.wake(&self.machine.work);
        if let Some(b) = &self.machine.baton {
            b.finish(self.id);
        }
    }
}

/// The host CPUs the harts' threads are pinned to, in order ([`KernelConfig::pin_harts`]):
/// those this process may run on, or none if pinning is off, the mode is deterministic
/// (one hart runs at a time) or the host does not say.
fn host_cpus_to_pin(config: &KernelConfig) -> Vec<core_affinity::CoreId> {
    if !config.pin_harts || config.sched == SchedMode::Deterministic {
        return Vec::new();
    }
    core_affinity::get_core_ids().unwrap_or_default()
}

/// One hart's life, on its own host thread: take the kernel lock, pick a thread, run it
/// in user mode without the lock, come back with what stopped it, handle that, repeat —
/// until the run is over.
fn hart_main(machine: &Machine<'_>, smp: &Arc<Smp>, hart: &mut Hart<'_>) {
    let id = hart.hart_id();
    // The synchronous shootdown of this hart's kernel paths (`ptep_clear_flush()`).
    let _shootdown = crate::mm::install_tlb_shootdown(id, Arc::clone(smp) as _);
    // need_resched() inside a call, as if a scheduler tick had landed at a random point
    // of it: deterministic, a seeded coin (one time in four); parallel, another hart is
    // busy (it may want the kernel) and a coin from a host-seeded stream comes up (one
    // time in two), so that a call does not always stop at its first scheduling point.
    let policy: crate::percpu::ReschedPolicy = match &machine.baton {
        Some(b) => {
            let b = Arc::clone(b);
            Box::new(move || b.coin(4))
        }
        None => {
            let idle = Arc::clone(&machine.idle);
            let mut coin = Prng::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    ^ id as u64,
            );
            Box::new(move || idle.busy() > 1 && coin.next_u64().is_multiple_of(2))
        }
    };
    crate::percpu::set_resched_policy(Some(policy));
    crate::percpu::set_unlocked_allowed(true);
    crate::percpu::set_smp_processor_id(Some(id));
    if let Some(b) = &machine.baton {
        b.wait_turn(id);
        // Every lock this hart takes from now on is a scheduling point of the baton.
        crate::sync::set_sched_hook(Some(Rc::new(BatonHook::new(Arc::clone(b), id))));
    }
    let mut k = machine.lock(id);
    let mut tally = HartTally::default();
    loop {
        if machine.end.is_over() {
            break;
        }
        let Some((tid, budget)) = k.schedule_next(hart) else {
            if machine.end.is_over() {
                break;
            }
            k = idle(machine, k, hart);
            continue;
        };
        // A thread no hart runs is runnable: wake an idle hart for it.
        k.wake_idle_harts(machine);
        let smp = k.smp;
        let mut unlocked = k.unlocked_faults(tid);
        smp.enter_user(hart);
        machine
            .timers_armed
            .store(k.timers_armed(), Ordering::SeqCst);
        k.arm_tick(machine, hart, true);
        // parking_lot's mutex is eventually fair (a waiter gets it within about 0.5 ms):
        // std's barging mutex let a thread making tiny calls starve one making long ones;
        // a fair unlock at every return to user mode costs a host context switch each.
        let clock = k.rqs.clock();
        tally.user_since = clock.now(hart.stats().cycles);
        machine.unlock(k);
        let mut claim = budget;
        let mut tid = tid;
        let entry = loop {
            let entry = run_user(
                machine,
                smp,
                hart,
                &mut claim,
                unlocked.as_mut(),
                &mut tally,
            );
            // The claim ends: what the task did not run of it goes back to the budget,
            // for any hart, before this one waits for the kernel lock.
            machine.insns.settle(claim, tally.insns);
            // A futex wait that must sleep: the task sleeps and the next one is switched
            // in on this hart without the kernel lock, if nothing needs it ([`switch`]).
            match (entry, unlocked.take()) {
                (KernelEntry::Sleep(sleep), Some(u)) => {
                    if let Err((u, sleep)) = machine.sleep_unlocked(smp, hart, u, sleep, &mut tally)
                    {
                        unlocked = Some(u);
                        break KernelEntry::Sleep(sleep);
                    }
                }
                // The quantum ran out with tasks waiting: the slice goes on, or the task
                // is preempted, without the kernel lock if nothing needs it.
                (KernelEntry::Exit(Exit::BudgetExhausted), Some(u)) => {
                    match machine.tick_unlocked(smp, hart, u, &mut claim, &mut tally) {
                        switch::Tick::Kept(u) => {
                            unlocked = Some(u);
                            if smp.enter_user_unless_notified(hart) {
                                continue;
                            }
                            break KernelEntry::Fault {
                                va: 0,
                                result: Ok(()),
                            };
                        }
                        switch::Tick::Preempted => {}
                        switch::Tick::Refused(u) => {
                            unlocked = Some(u);
                            break KernelEntry::Exit(Exit::BudgetExhausted);
                        }
                    }
                }
                (entry, u) => {
                    unlocked = u;
                    break entry;
                }
            }
            tally.insns = 0;
            // The next task, or an idle wait for one, without the kernel lock.
            let next = loop {
                if let Some(next) = machine.pick_unlocked(smp, hart) {
                    break Some(next);
                }
                if !machine.idle_unlocked(smp, hart) {
                    break None;
                }
            };
            let Some(next) = next else {
                break KernelEntry::Switched;
            };
            (tid, claim, unlocked) = (next.tid, next.claim, Some(next.u));
            tally.user_since = clock.now(hart.stats().cycles);
            if next.to_kernel || !smp.enter_user_unless_notified(hart) {
                // Live in the hart: the kernel lock delivers its signal or takes it; its
                // claim ends unused (the scheduler there claims anew).
                machine.insns.settle(claim, 0);
                break KernelEntry::Fault {
                    va: 0,
                    result: Ok(()),
                };
            }
        };
        let user_to = clock.now(hart.stats().cycles);
        k = machine.lock(id);
        smp.drain(hart);
        let mut sigpipe = false;
        if let Some(mut u) = unlocked.take() {
            sigpipe = u.current.as_mut().is_some_and(Current::take_sigpipe);
            k.put_unlocked_mm(hart, u);
        }
        account_user_time(&k.rqs, id, tid, user_to, &mut tally);
        k.account_unlocked(&mut tally);
        if sigpipe && k.reload_current(tid) {
            k.send_sigpipe(hart, tid);
        }
        let mut restart = match entry {
            KernelEntry::Exit(exit) => k.handle_exit(hart, tid, exit),
            KernelEntry::Fault { va, result } => k.finish_unlocked_fault(hart, tid, va, result),
            KernelEntry::Sleep(sleep) => k.finish_unlocked_sleep(hart, tid, sleep),
            KernelEntry::Switched => false,
        };
        // Work the call handed over to run without the kernel lock (a gup_test fast
        // benchmark's lockless walks): run it, then finish the call at once.
        while let Some(work) = crate::percpu::take_unlocked() {
            let phys = Arc::clone(&k.phys);
            machine.unlock(k);
            let before = phys.events().snapshot();
            let result = work();
            k = machine.lock(id);
            k.charge_kernel_work(hart, &before);
            crate::percpu::set_unlocked_result(result);
            restart = k.continue_syscall(hart, tid);
        }
        k.sync_remote_tlbs(hart);
        if restart && machine.baton.is_none() {
            // The call stopped so that another hart may run the kernel: give one that
            // wants it (or is about to, from user mode) the chance before the call is
            // re-issued — the time a rescheduled task spends off the CPU.
            let seen = machine.acquisitions.load(Ordering::SeqCst);
            machine.unlock(k);
            let t0 = Instant::now();
            while machine.acquisitions.load(Ordering::SeqCst) == seen
                && t0.elapsed() < std::time::Duration::from_micros(10)
            {
                std::thread::yield_now();
            }
            k = machine.lock(id);
        }
    }
    // The run is over: the other harts must see it.
    for h in 0..k.smp.harts() {
        k.smp.kick(h);
    }
    machine.unlock(k);
    machine.idle.wake(&machine.work);
    if let Some(b) = &machine.baton {
        crate::sync::set_sched_hook(None);
        b.finish(id);
    }
    crate::percpu::set_resched_policy(None);
    crate::percpu::set_unlocked_allowed(false);
    crate::percpu::set_smp_processor_id(None);
}

/// Hart `k.this` has no thread to run: wait (without burning the host CPU) until another
/// hart makes one runnable or the first timer is due, or end the run if nothing can ever
/// run again. Returns the kernel lock.
fn idle<'a, 'm>(
    machine: &'a Machine<'m>,
    mut k: CondvarMutexGuard<'a, Kernel<'m>>,
    hart: &mut Hart<'_>,
) -> CondvarMutexGuard<'a, Kernel<'m>> {
    let id = k.this;
    if let Some(b) = &machine.baton {
        // Deterministic: the baton goes to a hart that can run; if none can, this hart
        // is the last one awake and advances virtual time to the first timer.
        let smp = k.smp;
        k.idle.set(id, true);
        machine.unlock(k);
        let woken = b.idle(id);
        k = machine.lock(id);
        k.idle.set(id, false);
        smp.drain(hart);
        if !woken && !k.idle_until_timer(hart) {
            k.deadlock(hart);
        }
        return k;
    }
    machine
        .timers_armed
        .store(k.timers_armed(), Ordering::SeqCst);
    k.arm_tick(machine, hart, false);
    let others_idle = k.idle.all_but(id);
    let deadline = k.next_deadline();
    // A fault a worker is bringing in will wake its task ("page ready"); one that it
    // just completed has put its task on a queue (that of an idle hart, maybe, which
    // its waker is waking): either keeps the run alive.
    let async_pending = k.async_pf.as_ref().is_some_and(|a| {
        a.outstanding() > 0 || (0..k.smp.harts()).any(|h| k.rqs.cpu_rq(h).nr_running() > 0)
    });
    if others_idle && deadline.is_none() && !async_pending {
        k.deadlock(hart);
        return k;
    }
    k.idle.set(id, true);
    let wait = match deadline {
        Some(d) => {
            let (_, now) = k.clock_now(hart);
            std::time::Duration::from_nanos(d.saturating_sub(now))
        }
        // Another hart is running: it will wake this one (or end the run); a wake-up
        // queued in the instant before this wait is served within a tick.
        None => ttwu::IDLE_RECHECK,
    };
    // The doorbell's generation is read under the kernel lock, so a hart that makes a
    // task runnable after this (it rings under the lock) ends the wait; the release
    // drains the wake list and re-checks it ([`Machine::unlock`]): a wake-up queued
    // while this hart held the lock rings the doorbell from there.
    // The wake list is drained before the wait (this hart holds the lock); a wake-up
    // queued between that drain and the wait's release of the lock finds the lock held
    // and the waker notifies `work` (this hart may already be queued on it), and the
    // wait is at most one scheduler tick without a deadline of its own: see `ttwu`'s
    // module docs, *Idle harts*.
    k.ttwu_pending(machine, false);
    if !k.deferred_kills.is_empty() {
        // A signal to send (an `ITIMER_REAL`'s, drained just now): the scheduler sends
        // it, which may make a task runnable.
        k.idle.set(id, false);
        return k;
    }
    let _ = k.wait_for(&machine.work, wait);
    k.set_this(id);
    k.idle.set(id, false);
    k.smp.drain(hart);
    k
}

impl<'m> Kernel<'m> {
    /// Hart `id` holds the kernel lock now (`Kernel::this`; the timers it arms go on its
    /// base).
    fn set_this(&mut self, id: usize) {
        self.this = id;
        self.timers.set_this(id);
    }

    /// The event counters of hart `self.this`, the lock's holder (`this_cpu_ptr()`).
    fn stat(&self) -> &'m KernelCounters {
        self.stats.cpu(self.this)
    }

    /// What hart `self.this`, about to run task `tid` in user mode, needs to handle the
    /// task's page faults without the kernel lock ([`run_user`]), or `None` for a task
    /// without an address space. Any number of harts may take it: frames are freed only
    /// after the shootdown that drops their translations
    /// ([`crate::mm::Mm::take_tlb_batch`]). An instruction limit does not stop it: the
    /// hart goes back to user mode within its claim on the budget (its slice,
    /// [`budget`]), so the run still stops after exactly `--max-insns` instructions.
    ///
    /// Deterministic mode takes it too: only the baton's holder runs, and every lock the
    /// fault takes is a scheduling point of the baton (`sync`'s *Scheduling points*), so
    /// a seed may park the fault holding the `mmap_lock` or a page-table lock while
    /// another hart's system call runs — and that call, finding the lock held, hands the
    /// baton back instead of blocking. The interleaving is still the seed's alone.
    fn unlocked_faults(&self, tid: u32) -> Option<UnlockedFaults<'m>> {
        let task = self.tasks.get(&tid)?;
        let mm = task.mm.as_ref()?;
        Some(UnlockedFaults {
            async_pf: self.async_pf.is_some(),
            tid,
            tgid: task.tgid,
            signal: Arc::clone(&task.signal),
            cputime: Arc::clone(&task.cputime),
            config: self.config,
            smp: self.smp,
            stat: self.stat(),
            mm: mm.clone(),
            phys: Arc::clone(&self.phys),
            slice_left: self.slice_left.get(self.this).copied().unwrap_or(0),
            strace: self
                .tasks
                .get(&tid)
                .is_some_and(|t| t.strace || t.ptrace.is_traced()),
            current: self
                .tasks
                .get(&tid)
                .filter(|t| !t.strace && t.run().call.blocked.is_none())
                .map(Current::of),
            futex: Arc::clone(&self.futex),
            waker: Arc::clone(&self.waker),
            hrtimers: Arc::clone(self.timers.bases()),
            rqs: Arc::clone(&self.rqs),
            run: task.run_handle(),
            mte_ctrl: task.mte_ctrl,
        })
    }
}

impl Kernel<'_> {
    /// Back under the kernel lock from user mode: gives back the user reference on the
    /// task's address space that the hart held there ([`UnlockedFaults::mm`]). If the
    /// task was killed meanwhile and this was the last user, the teardown ran here and
    /// its TLB maintenance is carried out now, as `exit_mm()` would have done it.
    fn put_unlocked_mm(&mut self, hart: &mut Hart<'_>, u: UnlockedFaults<'_>) {
        if let Some((asid, batch)) = u.mm.mmput() {
            shootdown(self.smp, hart, asid, batch);
        }
    }

    /// The task whose registers are live in the hart in the kernel now.
    fn cur(&self) -> Option<u32> {
        self.on_hart.get(self.this)
    }

    fn set_cur(&mut self, t: Option<u32>) {
        self.on_hart.set(self.this, t);
    }

    /// The thread group (tgid) of task `tid`, zombies included (the leader's id finds
    /// the group even after the leader thread has exited).
    fn group_of(&self, tid: u32) -> Option<u32> {
        self.tasks.get(&tid).map(|t| t.tgid)
    }

    /// Every task of thread group `tgid` in the table, the leader (even an exited one)
    /// included, ascending.
    fn group_tids(&self, tgid: u32) -> Vec<u32> {
        self.tasks
            .values()
            .filter(|t| t.tgid == tgid)
            .map(|t| t.tid)
            .collect()
    }

    /// Whether the process `tgid` has exited as a whole (or is gone).
    fn group_dead(&self, tgid: u32) -> bool {
        self.tasks
            .get(&tgid)
            .is_none_or(|t| t.signal.group_exit().is_some())
    }

    /// Stops every other hart running a task of thread group `tgid` (they leave user
    /// mode; what they were running is gone or going) and takes the tasks from them: the
    /// caller is about to kill those tasks. (A hart whose task was taken drops what
    /// stopped it: see [`Kernel::handle_exit`].)
    fn stop_other_harts_of(&mut self, tgid: u32) {
        for h in 0..self.on_hart.len() {
            let Some(t) = self.on_hart.get(h) else {
                continue;
            };
            if h != self.this && self.group_of(t) == Some(tgid) {
                self.smp.wait_out_of_user(h);
                self.on_hart.clear_if(h, t);
            }
        }
    }

    /// Ends the run with a deadlock: every thread waits and nothing can wake one.
    fn deadlock(&mut self, hart: &Hart<'_>) {
        if let Some(init) = self.tasks.get(&INIT_PID) {
            init.log("dirtybit: every process is blocked and nothing can wake them (deadlock); stopping\n");
        }
        self.end.end(ExitStatus::Signaled {
            signo: SIGKILL,
            code: signal::SI_KERNEL,
            addr: 0,
            pc: hart.pc,
        });
    }

    /// The top of the scheduler loop for this hart: ends the run when init has exited or
    /// the instruction budget is spent; otherwise claims a quantum from the budget
    /// ([`InsnBudget::claim`]: with all of it claimed by harts still running, the hart
    /// idles as with nothing to run), fires due timers, picks the next task (`None`:
    /// nothing to run), switches to it and delivers its pending signals on the way to
    /// user mode. Returns the task and its quantum, a claim the caller settles
    /// ([`InsnBudget::settle`]) when the hart comes back from user mode.
    fn schedule_next(&mut self, hart: &mut Hart<'_>) -> Option<(u32, u64)> {
        if let Some(status) = self
            .tasks
            .get(&INIT_PID)
            .and_then(|t| t.signal.group_exit())
        {
            self.end.end(status);
            return None;
        }
        let budget = self.config.quantum_insns;
        // Deterministic mode: a seeded quantum length, so preemption points move
        // with the seed (the same seed, the same points).
        let budget = match self.sched_rng.as_mut() {
            Some(rng) => 1 + rng.next_u64() % budget.max(1),
            None => budget,
        };
        // Deterministic mode: back in the kernel by the earliest deadline (an
        // instruction takes at least a cycle, a nanosecond of the virtual clock).
        let budget = match (self.sched_rng.is_some(), self.next_deadline()) {
            (true, Some(d)) => budget.min(d.saturating_sub(self.clock_now(hart).1).max(1)),
            _ => budget,
        };
        let budget = match self.insns.claim(budget) {
            Claim::Granted(n) => n,
            Claim::Spent => {
                self.end.end(ExitStatus::InsnLimit);
                return None;
            }
            Claim::Wait => {
                // All that is left is claimed by harts still running, which may give
                // some back: this hart's task waits on its queue (another hart may pull
                // it, and the first to schedule with a claim wakes this one for it) and
                // the hart idles meanwhile.
                let now = self.rqs.clock().now(hart.stats().cycles);
                self.rqs.cpu_rq(self.this).lock().put_prev(now);
                self.switch_out(hart);
                return None;
            }
        };
        self.fire_timers(hart);
        let this = self.this;
        // update_curr(): the time since the last scheduling point, user and kernel, is
        // the running task's (and its process's CPU time, which may fire its timers).
        let now = self.rqs.clock().now(hart.stats().cycles);
        let charged = self.rqs.cpu_rq(this).lock().update_curr(now);
        if let Some(c) = charged {
            self.fire_itimers_cputime(hart, c.tgid);
        }
        // The running task keeps the hart until its time slice is used up, a wake-up
        // preempts it or it blocks (deterministic mode draws at every scheduling point).
        let keep = self.cur().filter(|&tid| {
            let rq = self.rqs.cpu_rq(this).lock();
            self.sched_rng.is_none()
                && rq.curr() == Some(tid)
                && !rq.need_resched()
                && rq.slice_left_ns(now) > 0
        });
        let tid = match keep {
            Some(t) => t,
            None => {
                let Some(next) = self.pick_next_task(now) else {
                    // Going idle: whatever this hart last ran is saved; its queue is
                    // empty, so nothing of it is left here. The claim goes back.
                    self.insns.settle(budget, 0);
                    self.switch_out(hart);
                    return None;
                };
                next
            }
        };
        if let Some(s) = self.slice_left.get_mut(this) {
            *s = budget;
        }
        self.switch_to(hart, tid);
        // Signals queued while it was not running are delivered on the way to user mode.
        self.deliver_pending(hart, tid);
        if self.cur() != Some(tid)
            || self
                .tasks
                .get(&tid)
                .is_none_or(|t| t.state() != TaskState::Runnable)
        {
            self.insns.settle(budget, 0);
            return self.schedule_next(hart);
        }
        Some((tid, budget))
    }

    /// Wakes idle harts if a task waits on any run queue (placed on an idle hart's
    /// queue by [`sched::Rqs::select_task_rq`], or on a busy one's, from which an idle
    /// hart pulls it: [`sched::Rqs::newidle_balance`]).
    fn wake_idle_harts(&mut self, machine: &Machine<'_>) {
        if !self.idle.any() || self.rqs.nr_waiting() == 0 {
            return;
        }
        match &machine.baton {
            Some(b) => {
                for h in self.idle.idle_harts() {
                    b.wake(h);
                }
            }
            None => {
                machine.idle.wake(&machine.work);
            }
        }
    }

    /// `pick_next_task()` on this hart at `now` (ns): the running task goes back to the
    /// queue (`put_prev_task()`) after a periodic balance has pulled a task from a
    /// much busier queue ([`sched::Rqs::balance`]); then the queue's pick (seeded in
    /// deterministic mode), or — the queue empty — one pulled from the busiest other
    /// queue ([`sched::Rqs::newidle_balance`]), becomes the hart's task
    /// (`set_next_entity()`). `None`: nothing to run here or anywhere waiting.
    fn pick_next_task(&mut self, now: u64) -> Option<u32> {
        let this = self.this;
        self.rqs.balance(this);
        // The pick becomes the queue's running task in the same hold of `rq->lock`
        // (`set_next_entity()`): a balance on another hart, which may run without the
        // kernel lock, cannot pull it away between the two.
        let tasks = &self.tasks;
        let mut rng = self.sched_rng.as_mut();
        let mut pick_and_set = |rq: &mut sched::CfsRq| {
            let next = rq.pick(rng.as_deref_mut())?;
            let task = tasks.get(&next)?;
            let acct = sched::CputimeAcct {
                task: Arc::clone(&task.cputime),
                group: Arc::clone(&task.signal),
            };
            rq.set_next(next, task.tgid, acct, now).then_some(next)
        };
        let mut next = {
            let mut rq = self.rqs.cpu_rq(this).lock();
            rq.put_prev(now);
            pick_and_set(&mut rq)
        };
        if next.is_none() {
            self.rqs.newidle_balance(this)?;
            next = pick_and_set(&mut self.rqs.cpu_rq(this).lock());
        }
        let next = next?;
        let state = self.tasks.get(&next).map(Task::state);
        let woken_waiter = self
            .with_call(next, |c| c.futex_q.as_ref().is_some_and(|q| q.is_woken()))
            == Some(true);
        if state == Some(TaskState::Blocked(WaitOn::Futex)) && woken_waiter {
            // A futex waiter a hart woke without the kernel lock, enqueued by it
            // ([`Machine::wake_up_q`]): its wait ends with 0 now that it runs again,
            // as futex_wait() returns after schedule() — its timer and waiter go, its
            // state is running (it is on the queue already): as a switch without the
            // kernel lock completes it ([`switch::end_woken_sleep`]).
            let gone = self.tasks.get(&next).and_then(|t| {
                switch::end_woken_sleep(&mut t.run(), self.timers.bases(), &self.futex)
            });
            drop(gone);
        }
        let woken_io = self.with_call(next, |c| {
            c.io_wait
                .as_ref()
                .and_then(PollTable::task)
                .is_some_and(|w| w.is_woken())
        }) == Some(true);
        let io_sleep = matches!(
            state,
            Some(TaskState::Blocked(
                WaitOn::Io | WaitOn::Userfault | WaitOn::AsyncPf
            ))
        );
        if io_sleep && woken_io {
            // A sleeper a file's wait queue woke, enqueued by its waker on any hart
            // ([`SchedWaker`]): it leaves its queues (`finish_wait()`), its timer goes,
            // and its call is re-issued now that it runs (the pc is still at the ecall).
            self.io_wait_end(next, true);
            self.timer_cancel(next);
            if let Some(t) = self.tasks.get(&next) {
                t.set_state(TaskState::Runnable);
            }
        }
        let state = self.tasks.get(&next).map(Task::state);
        let expired = self.timer(next).is_some_and(|t| t.fired());
        if matches!(state, Some(TaskState::Blocked(_))) && expired {
            // A sleeper whose timer expired on a hart without the kernel lock, enqueued
            // by it ([`Machine::hrtimer_interrupt`]): its call completes now.
            self.hrtimer_expired(next);
        }
        let state = self.tasks.get(&next).map(Task::state);
        if state != Some(TaskState::Runnable) {
            // A task is on a queue exactly while it is runnable (a task live in another
            // hart is that hart's `curr`, never in a timeline): a pick against that is
            // a bookkeeping bug. Take it off (a sleeper keeps its entity) and pick
            // again rather than run it.
            debug_assert!(false, "task {next} on hart {this}'s queue is {state:?}");
            let asleep = matches!(state, Some(TaskState::Blocked(_)));
            self.deactivate_task(next, now, asleep);
            return self.pick_next_task(now);
        }
        Some(next)
    }

    /// `activate_task()` for task `tid`, runnable now (new, or woken: its entity kept
    /// with its place, [`sched::Rqs`]) — nothing if it is on a queue already: placed on
    /// the hart [`sched::Rqs::select_task_rq`] gives (the hart it last ran on unless
    /// another is idle; a new task an idle or the least loaded hart) and, if it
    /// deserves that hart's CPU more than the running task, the hart reschedules
    /// (`check_preempt_wakeup()` → `resched_curr()`: kicked out of user mode in
    /// parallel mode; in deterministic mode every scheduling point picks anew). An
    /// idle hart is woken for it at this hart's next scheduling point or release of
    /// the lock ([`Kernel::wake_idle_harts`]).
    fn activate_task(&mut self, tid: u32) {
        let idle = &self.idle;
        let placed = self
            .rqs
            .try_to_wake_up(tid, self.this, |h| idle.is_idle(h), None);
        if let Some((cpu, true)) = placed {
            if cpu != self.this && self.sched_rng.is_none() {
                self.smp.kick(cpu);
            }
        }
    }

    /// `deactivate_task()` for task `tid`: it leaves its queue, the running task
    /// accounted up to now on the clock of a hart at `hart_cycles` modelled cycles. A
    /// task that goes to sleep (`sleep`) keeps its entity for its wake-up; one that
    /// exits loses it. Returns the number of the sleep ([`sched::Rqs::deactivate`]).
    fn deactivate_task(&mut self, tid: u32, hart_cycles: u64, sleep: bool) -> u64 {
        let now = self.rqs.clock().now(hart_cycles);
        self.rqs.deactivate(tid, now, sleep).1
    }

    /// `try_to_wake_up()` under the kernel lock: task `tid`, asleep, becomes runnable
    /// and is enqueued ([`Kernel::activate_task`]). Returns `false`, changing nothing,
    /// if it was not asleep (running, runnable, a zombie, gone).
    fn try_to_wake_up(&mut self, tid: u32) -> bool {
        let Some(t) = self.tasks.get(&tid) else {
            return false;
        };
        {
            let mut run = t.run();
            if !matches!(run.state, TaskState::Blocked(_)) {
                return false;
            }
            run.state = TaskState::Runnable;
        }
        self.activate_task(tid);
        true
    }

    /// The earliest deadline of any timer — a sleeper's, an `ITIMER_REAL` — on
    /// CLOCK_MONOTONIC, in ns: every one is on a hart's base. Deadlines at or past
    /// [`sched::KTIME_MAX`] never fire and are not counted.
    fn next_deadline(&self) -> Option<u64> {
        let next = self.timers.bases().earliest();
        next.filter(|&d| d < sched::KTIME_MAX)
    }

    /// Publishes to the parallel-mode tick ([`sched::Tick`]) what it must watch as this
    /// hart leaves the kernel lock: the end of its task's slice if it goes to user mode
    /// (`to_user`), and the earliest timer.
    fn arm_tick(&self, machine: &Machine<'_>, hart: &Hart<'_>, to_user: bool) {
        let Some(tick) = &machine.tick else {
            return;
        };
        let now = self.rqs.clock().now(hart.stats().cycles);
        let cputimer = self
            .on_hart
            .get(self.this)
            .and_then(|tid| self.tasks.get(&tid))
            .is_some_and(|t| t.signal.cputimer.armed());
        let slice_left = self.rqs.cpu_rq(self.this).lock().slice_left_ns(now);
        tick.arm_slice(
            self.this,
            to_user.then_some(slice_left),
            cputimer,
            self.rqs.nr_waiting(),
        );
        // The clock event devices: each base's earliest (`hrtimer_reprogram()`).
        let (_, mono) = self.clock_now(hart);
        let in_ns = |d: u64| (d < sched::KTIME_MAX).then(|| d.saturating_sub(mono));
        let bases = self.timers.bases();
        for h in 0..bases.harts() {
            tick.arm_timer(h, bases.expires_next(h).and_then(in_ns));
        }
    }

    /// What [`Machine::timers_armed`] says as this hart leaves the kernel lock: in
    /// deterministic mode, whether any timer is armed; in parallel mode never (every
    /// timer expires on its base's hart, or the tick kicks that hart).
    fn timers_armed(&self) -> bool {
        self.sched_rng.is_some() && self.next_deadline().is_some()
    }

    /// The guest's clocks now: `(CLOCK_REALTIME, CLOCK_MONOTONIC)` in ns, as
    /// `clock_gettime` gives them to the guest, read without a lock
    /// ([`timekeeping::Timekeeper::now`]: a virtual clock follows the furthest any hart
    /// has got in modelled cycles, so it never runs backwards across harts).
    fn clock_now(&self, hart: &Hart<'_>) -> (u64, u64) {
        self.timers.bases().clock().now(hart.stats().cycles)
    }

    /// Sends the signals drained from the wake list ([`Kernel::deferred_kills`]), then
    /// runs every hart's timer base ([`hrtimer::HrtimerBases::run_all_queues`]: under
    /// the kernel lock its holder is the backstop of bases whose hart idles or runs user
    /// code without a kernel entry, where Linux would have migrated their timers): each
    /// expired `ITIMER_REAL` is re-armed and its SIGALRM sent
    /// ([`itimer::it_real_fn`]), in order of tgid, then the calls of sleepers whose
    /// deadline has passed complete ([`Kernel::hrtimer_expired`]), in order of tid (as
    /// the single tables of interval timers and deadlines did: the same seed, the same
    /// bits).
    fn fire_timers(&mut self, hart: &mut Hart<'_>) {
        for (tgid, info) in std::mem::take(&mut self.deferred_kills) {
            self.send_signal(hart, tgid, None, info);
        }
        if self.next_deadline().is_none() {
            return;
        }
        let (_, now) = self.clock_now(hart);
        let mut fired = self.timers.bases().run_all_queues(now);
        fired.sort_by_key(|t| {
            let sleeper = matches!(t.function(), hrtimer::HrtimerFunction::Wakeup);
            (sleeper, t.tid())
        });
        for t in fired {
            if let hrtimer::HrtimerFunction::ItReal(_) = t.function() {
                if let Some(tgid) = itimer::it_real_fn(self.timers.bases(), &t, now) {
                    self.send_signal(hart, tgid, None, itimer::sigalrm());
                }
                continue;
            }
            // Under the kernel lock the call completes here, parked or not.
            t.claim_wake();
            // A timer the books no longer hold was cancelled meanwhile or is still
            // being handed to them ([`Kernel::finish_unlocked_sleep`]: it sees it fired).
            if self.timer_is_booked(&t) {
                self.hrtimer_expired(t.tid());
            }
        }
    }

    /// The timer task `tid` sleeps on expired (`hrtimer_wakeup()`, then the call's own
    /// return: `do_nanosleep()`, `futex_wait()`'s `-ETIMEDOUT`, `poll`'s timeout): a
    /// sleeping `ppoll`/`pselect6` is re-issued, a futex wait returns `ETIMEDOUT` (0 if
    /// a waker took its waiter first), a `nanosleep` 0.
    fn hrtimer_expired(&mut self, tid: u32) {
        if self.wake_blocked_call(tid) {
            return;
        }
        let value = match self.tasks.get(&tid).map(|t| t.state()) {
            Some(TaskState::Blocked(WaitOn::Futex)) => self.futex_wait_end(tid, Errno::ETIMEDOUT),
            _ => 0,
        };
        self.complete_blocked(tid, value);
    }

    /// With no task runnable and the guest clocks virtual: advances time to the
    /// earliest timer (idle cycles charged to the hart) and returns `true`, or returns
    /// `false` if no timer is set.
    fn idle_until_timer(&mut self, hart: &mut Hart<'_>) -> bool {
        let Some(deadline) = self.next_deadline() else {
            return false;
        };
        let (_, now) = self.clock_now(hart);
        let wait = deadline.saturating_sub(now);
        let clock = self.timers.bases().clock();
        if clock.is_host() {
            std::thread::sleep(std::time::Duration::from_nanos(wait));
        } else {
            // The hart idles from the furthest point any hart has reached.
            let cycles = hart.stats().cycles;
            let behind = clock.cycles().saturating_sub(cycles);
            // A deadline is below KTIME_MAX: the cycle count stays far from overflow.
            let idle = behind.saturating_add(wait.max(1));
            hart.charge_cycles(idle.min(u64::MAX - cycles));
            clock.advance(hart.stats().cycles);
        }
        self.fire_timers(hart);
        true
    }

    /// `sched_ttwu_pending()`: drains the wake list ([`Machine::ttwu`]) that harts
    /// without the kernel lock queued on — the descriptions whose final `fput()` is the
    /// kernel's are released (kernel-served files, host streams) — then, if
    /// anything was drained, enqueues the woken on their harts' queues and lets them
    /// preempt a queue's running task ([`Kernel::try_to_wake_up`]: the preempted hart
    /// is kicked; this one too when it is the one and `kick_self` says it goes back to
    /// user mode without a scheduling decision), wakes an idle hart for them
    /// ([`Kernel::wake_idle_harts`]) and tells the tick that tasks wait. (Futex
    /// waiters woken without the kernel lock are enqueued by their waker:
    /// [`Machine::wake_up_q`].) Counts the entries, and those another hart queued. Nothing is ever
    /// queued in deterministic mode or under `--strace` (their calls all take the kernel
    /// lock), so there it does nothing.
    fn ttwu_pending(&mut self, machine: &Machine<'_>, kick_self: bool) {
        let entries = self.ttwu.take(&machine.ttwu);
        if entries.is_empty() {
            return;
        }
        let resched = self.rqs.cpu_rq(self.this).lock().need_resched();
        let kills = self.deferred_kills.len();
        for e in entries {
            self.stat().wakelist_queued.inc();
            if e.hart != self.this {
                self.stat().wakelist_drained_remote.inc();
            }
            match e.what {
                ttwu::Wakeup::Fput(f) => drop(f),
                ttwu::Wakeup::KillPidInfo { tgid, info } => self.deferred_kills.push((tgid, info)),
            }
        }
        let resched_now = self.rqs.cpu_rq(self.this).lock().need_resched();
        // A signal is sent at the next scheduling point ([`Kernel::fire_timers`]): a
        // holder going back to user mode comes back for it at once.
        let kill = self.deferred_kills.len() > kills;
        if kick_self && (kill || (!resched && resched_now)) {
            self.smp.kick(self.this);
        }
        self.wake_idle_harts(machine);
        if let Some(tick) = &machine.tick {
            tick.set_waiting(self.rqs.nr_waiting());
        }
    }

    /// Task `tid`'s call is about to sleep on I/O ([`WaitOn::Io`]): a new sleep of it
    /// ([`WaitTask`], woken through [`Kernel::waker`]) is queued on the wait queues in
    /// `pt`, `exclusive`ly (a `read`/`write`: `wait_event_interruptible_exclusive()`) or
    /// not (`ppoll`/`pselect6`'s `poll_wait()`); it leaves those of an earlier sleep
    /// first. The caller checks its condition once more after this
    /// (`prepare_to_wait_event()`, then the check); [`Kernel::block`] parks the sleep.
    fn io_wait(&mut self, tid: u32, mut pt: PollTable, exclusive: bool) {
        pt.arm(WaitTask::new(tid, Arc::clone(&self.waker)), exclusive);
        self.set_io_wait(tid, pt);
    }

    /// The I/O sleep of task `tid` ends: its sleep leaves every wait queue
    /// (`poll_freewait()`, `finish_wait()`). `acted_on`: the call will act on a
    /// wake-up it got (it is re-issued); otherwise (a signal, a timeout, its exit) an
    /// exclusive wake-up it got is passed on to the next sleeper.
    fn io_wait_end(&mut self, tid: u32, acted_on: bool) {
        if let Some(mut pt) = self.with_call(tid, |c| c.io_wait.take()).flatten() {
            pt.finish(!acted_on);
        }
    }

    /// Context switch on this hart: save the running task's registers, load task
    /// `tid`'s registers into the hart and its address space's `satp` (each address
    /// space has its own ASID, shared by the tasks that share it: no TLB flush).
    fn switch_to(&mut self, hart: &mut Hart<'_>, tid: u32) {
        if self.cur() == Some(tid) {
            return;
        }
        self.switch_out(hart);
        let mut stashed = None;
        if let Some(next) = self.tasks.get(&tid) {
            if let Some(mm) = &next.mm {
                switch_mm_and_flush(self.smp, hart, mm);
            }
            {
                // Its stash goes, under its lock: from now on it runs through this one.
                let run = next.run();
                hart.restore_context(&run.ctx);
                stashed = self.stash.take(tid);
            }
            crate::mm::mte::mte_thread_switch(hart, next.mte_ctrl);
        }
        self.set_cur(Some(tid));
        if let Some(u) = stashed {
            self.put_unlocked_mm(hart, u);
        }
    }

    /// Saves the registers of the task live in this hart (if it still exists); none
    /// are live afterwards.
    fn switch_out(&mut self, hart: &Hart<'_>) {
        if let Some(tid) = self.cur() {
            if let Some(prev) = self.tasks.get(&tid) {
                let mut run = prev.run();
                run.ctx = hart.save_context();
                // __schedule()'s switch_count: a task switched out while still runnable
                // was preempted (a sleeper left through block(), which counts nvcsw).
                if run.state == TaskState::Runnable {
                    run.nivcsw += 1;
                }
            }
        }
        self.set_cur(None);
    }

    /// Whether task `tid` is the one live in this hart.
    fn is_current(&self, tid: u32) -> bool {
        self.cur() == Some(tid)
    }

    /// Completes the sleeping call of task `tid` with `value` in a0 (a futex wait woken
    /// or timed out, a sleep ended, a call interrupted): it resumes after its `ecall`.
    /// Nothing happens unless the task is blocked.
    fn complete_blocked(&mut self, tid: u32, value: u64) {
        self.forget_sleeper(tid);
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let blocked = {
            let mut run = t.run();
            let blocked = matches!(run.state, TaskState::Blocked(_));
            if blocked {
                run.ctx.x[10] = value;
                run.ctx.pc = run.ctx.pc.wrapping_add(4);
            }
            blocked
        };
        if blocked {
            self.try_to_wake_up(tid);
        }
    }

    /// `flush_tlb_mm_range()` for every address space a kernel path left a flush pending
    /// in (the reverse map unmaps pages of other processes; a fork write-protects the
    /// parent): on this hart and, by IPI, on the others; then the frames that waited for
    /// it are freed (`tlb_finish_mmu()`'s tail). That freeing is the kernel work of the
    /// call or fault that unmapped them, done after its shootdown: it is charged to this
    /// hart before it returns to user mode, as it was when the call freed them itself.
    fn sync_remote_tlbs(&mut self, hart: &mut Hart<'_>) {
        let before = self.phys.events().snapshot();
        for t in self.tasks.values() {
            apply_flush(self.smp, hart, t);
        }
        self.charge_kernel_work(hart, &before);
    }

    /// Handles what stopped task `tid` on this hart (`exit`), then delivers its pending
    /// signals on the way back to user mode. Returns whether a system call stopped at a
    /// scheduling point (it is re-issued).
    fn handle_exit(&mut self, hart: &mut Hart<'_>, tid: u32, exit: Exit) -> bool {
        if !self.reload_current(tid) {
            return false;
        }
        // arm64 check_mte_async_tcf0() at kernel entry: an asynchronous tag mismatch since
        // the last one (the unlocked paths bring a hart with one here, see `run_user`).
        let async_tag_fault = hart.take_async_tag_fault();
        let mut restart = false;
        let fault = match exit {
            Exit::BudgetExhausted | Exit::Timer | Exit::Ipi | Exit::Wfi => None,
            Exit::Ecall => {
                hart.account_trap();
                self.stat().syscalls.inc();
                let before = self.phys.events().snapshot();
                restart = self.syscall(hart, tid);
                self.charge_kernel_work(hart, &before);
                None
            }
            Exit::PageFault { va, access } => {
                hart.account_trap();
                self.stat().page_faults.inc();
                let before = self.phys.events().snapshot();
                let Some(mm) = self.tasks.get(&tid).and_then(|t| t.mm.as_ref()) else {
                    return false;
                };
                let r = user_fault(
                    self.smp,
                    hart,
                    mm,
                    va.raw(),
                    access,
                    self.async_pf.is_some(),
                );
                self.charge_kernel_work(hart, &before);
                self.user_fault_result(hart, tid, va.raw(), access, r)
            }
            Exit::AccessFault { va, .. } => {
                hart.account_trap();
                Some((SIGSEGV, signal::SEGV_ACCERR, va.raw()))
            }
            Exit::TagCheckFault { va, .. } => {
                hart.account_trap();
                Some((SIGSEGV, signal::SEGV_MTESERR, va.raw()))
            }
            Exit::Misaligned { va, .. } => {
                hart.account_trap();
                Some((SIGBUS, signal::BUS_ADRALN, va.raw()))
            }
            Exit::IllegalInstruction { .. } => {
                hart.account_trap();
                Some((SIGILL, signal::ILL_ILLOPC, hart.pc))
            }
            Exit::Breakpoint => {
                hart.account_trap();
                Some((SIGTRAP, signal::TRAP_BRKPT, hart.pc))
            }
        };
        let fault = if async_tag_fault {
            self.mte_async_fault(hart, tid, fault)
        } else {
            fault
        };
        self.return_to_user(hart, tid, fault);
        restart
    }

    /// `do_notify_resume()`'s `TIF_MTE_ASYNC_FAULT` for task `tid`, whose kernel entry
    /// found an asynchronous tag mismatch: `SIGSEGV`/`SEGV_MTEAERR`, `si_addr` 0, forced
    /// on the way out (returned as the fault to deliver) when the task goes straight back
    /// to user mode with no other fault; queued to it otherwise (its call sleeps, or a
    /// synchronous fault goes first).
    fn mte_async_fault(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        fault: Option<(u8, i32, u64)>,
    ) -> Option<(u8, i32, u64)> {
        let runs = self.is_current(tid)
            && self
                .tasks
                .get(&tid)
                .is_some_and(|t| t.state() == TaskState::Runnable);
        if fault.is_none() && runs {
            return Some((SIGSEGV, signal::SEGV_MTEAERR, 0));
        }
        if let Some(tgid) = self.tasks.get(&tid).map(|t| t.tgid) {
            let info = SigInfo {
                signo: SIGSEGV,
                code: signal::SEGV_MTEAERR,
                addr: 0,
                status: 0,
            };
            self.send_signal(hart, tgid, Some(tid), info);
        }
        fault
    }

    /// What a failed user fault of task `tid` at `va` leads to (`mm_fault_error()`): the
    /// signal to force, or, for `VM_FAULT_OOM`, `pagefault_out_of_memory()` and none
    /// (the access is re-executed, unless this task was the victim).
    fn fault_signal(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        va: u64,
        err: UserFaultError,
    ) -> Option<(u8, i32, u64)> {
        match err {
            UserFaultError::Signal { signo, code } => Some((signo, code, va)),
            UserFaultError::Oom => {
                self.pagefault_out_of_memory(hart, tid);
                None
            }
            // Handled before (`Kernel::user_fault_result`); the access is re-executed.
            UserFaultError::Userfault | UserFaultError::AsyncPf => None,
        }
    }

    /// The way back to user mode of task `tid` after a trap: the fault signal `fault`
    /// (`(signo, si_code, si_addr)`) is forced, then pending signals are delivered.
    fn return_to_user(&mut self, hart: &mut Hart<'_>, tid: u32, fault: Option<(u8, i32, u64)>) {
        if let Some((signo, code, addr)) = fault {
            self.force_sig_fault(
                hart,
                tid,
                SigInfo {
                    signo,
                    code,
                    addr,
                    status: 0,
                },
            );
        }
        // A call finishing after unlocked work is still in progress: no signal now.
        if !crate::percpu::has_unlocked() {
            self.deliver_pending(hart, tid);
        }
    }

    /// Finishes, under the kernel lock, a user fault of task `tid` at `va` that this
    /// hart handled without it ([`unlocked_fault`]) with result `r`, but could not
    /// return from to user mode on its own (the fault failed, the hart was kicked, the
    /// slice is used up, a timer is armed): as the tail of [`Kernel::handle_exit`].
    /// Returns as that (a fault never restarts a call).
    fn finish_unlocked_fault(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        va: u64,
        r: Result<(), UserFaultError>,
    ) -> bool {
        if !self.reload_current(tid) {
            return false;
        }
        let fault = r.err().and_then(|e| self.fault_signal(hart, tid, va, e));
        self.return_to_user(hart, tid, fault);
        false
    }

    /// Takes over what hart `self.this` left for the kernel lock while it ran without
    /// it since it last held it ([`HartTally`]) — the quantum and the virtual clock move
    /// on, the final `fput()`s and futex wake-ups it left are done — and empties the
    /// tally. The faults and calls it handled there are counted already, on its own
    /// counters ([`stat`]).
    fn account_unlocked(&mut self, tally: &mut HartTally) {
        let t = std::mem::take(tally);
        if let Some(s) = self.slice_left.get_mut(self.this) {
            *s = s.saturating_sub(t.insns);
        }
        // The final fput() of what the unlocked close/dup3 took out, under the lock.
        drop(t.deferred_fput);
        // wake_up_q() of the waiters the unlocked futex calls woke.
        self.futex_wake_up_q(t.futex_woken);
    }

    /// Back in the kernel for task `tid`, which this hart was running: returns `true`
    /// if it is still this hart's and alive. Another hart may have killed it meanwhile
    /// (its group exited, an `execve` — whose caller may even have taken its tid): then
    /// what it was doing is moot, this hart runs nothing, and the answer is `false`.
    fn reload_current(&mut self, tid: u32) -> bool {
        let alive = self.cur() == Some(tid)
            && self
                .tasks
                .get(&tid)
                .is_some_and(|t| !matches!(t.state(), TaskState::Zombie(_)));
        if !alive {
            self.set_cur(None);
        }
        alive
    }

    /// Re-issues the system call task `tid` stopped in to hand work to the hart
    /// ([`crate::percpu::defer_unlocked`]), now that the work has run: the same
    /// `ecall`, without a return to user mode. Returns as [`Kernel::handle_exit`].
    fn continue_syscall(&mut self, hart: &mut Hart<'_>, tid: u32) -> bool {
        if !self.reload_current(tid) {
            crate::percpu::clear_unlocked_result();
            return false;
        }
        let before = self.phys.events().snapshot();
        let restart = self.syscall(hart, tid);
        self.charge_kernel_work(hart, &before);
        if !crate::percpu::has_unlocked() {
            self.deliver_pending(hart, tid);
        }
        restart
    }

    /// Charges the kernel work done since `before` (a [`crate::mm::KernelEvents`]
    /// snapshot taken when the hart trapped) to the hart, priced by the cost model: a
    /// guest reading `rdcycle` around an `ecall` sees it. Also counts it on this hart's
    /// counters.
    fn charge_kernel_work(&mut self, hart: &mut Hart<'_>, before: &KernelEventCounts) {
        account_kernel_work(&self.phys, self.config, self.stat(), hart, before);
    }

    /// One system call of task `tid` (whose registers are live in the hart). Returns
    /// whether it stopped at a scheduling point (it is re-issued and resumes).
    fn syscall(&mut self, hart: &mut Hart<'_>, tid: u32) -> bool {
        // A tracee's syscall-entry stop comes first; the call runs after its resume.
        if self.ptrace_syscall_entry(hart, tid) {
            return false;
        }
        let (n, a) = syscall::args(hart);
        let pc = hart.pc;
        // A call that stopped at a scheduling point gets its resume state back if it is
        // re-issued as it was (a signal handler may have run in between).
        let resume = self
            .with_call(tid, |c| c.resume.take())
            .flatten()
            .filter(|&(rn, ra, _)| rn == n && ra == a)
            .map(|(_, _, r)| r);
        crate::percpu::enter_syscall(resume);
        self.syscall_inner(hart, tid, n, a, pc);
        // A PR_SET_TAGGED_ADDR_CTRL takes effect on the caller's hart at once.
        if n == nr::SYS_prctl && a[0] as i32 == crate::mm::mte::PR_SET_TAGGED_ADDR_CTRL {
            if let Some(t) = self.tasks.get(&tid) {
                crate::mm::mte::mte_thread_switch(hart, t.mte_ctrl);
            }
        }
        match crate::percpu::exit_syscall() {
            Some(r) => {
                if crate::percpu::has_unlocked() {
                    self.stat().unlocked_calls.inc();
                } else {
                    self.stat().resched_stops.inc();
                }
                self.with_call(tid, |c| c.resume = Some((n, a, r)));
                true
            }
            None => false,
        }
    }

    fn syscall_inner(&mut self, hart: &mut Hart<'_>, tid: u32, n: u64, a: [u64; 6], pc: u64) {
        let outcome = match n {
            nr::SYS_clone => {
                let r = self.sys_clone(hart, tid, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_clone3 => self.finish(tid, n, a, Err(Errno::ENOSYS)),
            nr::SYS_execve => {
                let r = self.sys_execve(hart, tid, a);
                // A successful execve may have given the caller the leader's tid.
                let now = self.cur().unwrap_or(tid);
                self.finish(now, n, a, r)
            }
            nr::SYS_wait4 => {
                let r = self.sys_wait4(tid, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_waitid => {
                let r = self.sys_waitid(tid, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_kill | nr::SYS_tkill | nr::SYS_tgkill => {
                let r = self.sys_kill(hart, tid, n, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_sched_yield => {
                // do_sched_yield(): another task of the queue runs next, if one waits.
                self.rqs.cpu_rq(self.this).lock().yield_curr();
                self.finish(tid, n, a, Ok(SyscallOutcome::Return(0)))
            }
            nr::SYS_ptrace => {
                let r = self.sys_ptrace(hart, tid, a).map(SyscallOutcome::Return);
                self.finish(tid, n, a, r)
            }
            nr::SYS_exit => {
                // One thread ends; the group ends with its last thread.
                let _ = self.finish(tid, n, a, Ok(SyscallOutcome::Exit(ExitStatus::Exited(0))));
                self.exit_thread(hart, tid, ExitStatus::Exited(a[0] as u8));
                return;
            }
            nr::SYS_futex => {
                let r = self.sys_futex(hart, tid, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_nanosleep => {
                let r = self.sys_nanosleep(hart, tid, 1, 0, a[0]);
                self.finish(tid, n, a, r)
            }
            nr::SYS_clock_nanosleep => {
                let r = self.sys_nanosleep(hart, tid, a[0], a[1], a[2]);
                self.finish(tid, n, a, r)
            }
            nr::SYS_get_robust_list => {
                let r = self.sys_get_robust_list(tid, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_rt_sigaction => {
                let Some(task) = self.tasks.get_mut(&tid) else {
                    return;
                };
                let r = syscall::handle(task, hart, n, a);
                // Setting a disposition that ignores the signal discards its pending
                // instances, blocked or not, in every thread (do_sigaction's
                // flush_sigqueue_mask() on the shared and each thread's queue).
                let sig = a[0];
                if r.is_ok()
                    && a[1] != 0
                    && (1..=64).contains(&sig)
                    && task.signals.is_ignored(sig as u8)
                {
                    let keep = |s: &SigInfo| u64::from(s.signo) != sig;
                    task.signal.lock().shared_pending.retain(keep);
                    let tgid = task.tgid;
                    for t in self.tasks.values_mut().filter(|t| t.tgid == tgid) {
                        t.pending.retain(keep);
                    }
                }
                self.finish(tid, n, a, r)
            }
            nr::SYS_clock_gettime | nr::SYS_getrusage | nr::SYS_times => {
                let r = self.sys_cputime_call(hart, tid, n, a);
                self.finish(tid, n, a, r.map(SyscallOutcome::Return))
            }
            nr::SYS_getitimer | nr::SYS_setitimer => {
                let r = self.sys_itimer(hart, tid, n, a).map(SyscallOutcome::Return);
                self.finish(tid, n, a, r)
            }
            nr::SYS_ppoll => {
                let r = self.sys_ppoll(hart, tid, n, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_pselect6 => {
                let r = self.sys_pselect6(hart, tid, n, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_epoll_pwait | nr::SYS_epoll_pwait2 => {
                let r = self.sys_epoll_pwait(hart, tid, n, a);
                self.finish(tid, n, a, r)
            }
            nr::SYS_setpgid | nr::SYS_getpgid | nr::SYS_setsid | nr::SYS_getsid => {
                let r = self.sys_pgrp_call(tid, n, a).map(SyscallOutcome::Return);
                self.finish(tid, n, a, r)
            }
            nr::SYS_rt_sigqueueinfo | nr::SYS_rt_tgsigqueueinfo => {
                let r = self.sys_sigqueueinfo(hart, tid, n, a);
                self.finish(tid, n, a, r.map(SyscallOutcome::Return))
            }
            nr::SYS_sched_setscheduler
            | nr::SYS_sched_setparam
            | nr::SYS_sched_getscheduler
            | nr::SYS_sched_getparam
            | nr::SYS_sched_rr_get_interval
            | nr::SYS_sched_setaffinity
            | nr::SYS_sched_getaffinity
            | nr::SYS_getpriority
            | nr::SYS_setpriority => {
                let r = self.sys_sched_attr_call(tid, n, a);
                self.finish(tid, n, a, r.map(SyscallOutcome::Return))
            }
            nr::SYS_process_vm_readv | nr::SYS_process_vm_writev => {
                let r = self.sys_process_vm_rw(tid, n, a);
                self.finish(tid, n, a, r.map(SyscallOutcome::Return))
            }
            // A call that slept holding its file goes on with it, whatever the fd is now.
            nr::SYS_read | nr::SYS_write | nr::SYS_readv | nr::SYS_writev
                if self.holds_file(tid, n, a) || self.kernel_file_of(tid, a[0]).is_none() =>
            {
                let r = self.sys_rw_fdget(hart, tid, n, a);
                self.finish(tid, n, a, r)
            }
            // Descriptor calls on a kernel-served file (/proc/<pid>/mem…, gup_test): the
            // kernel serves them with the task table (see fs::kfile, syscall::kfile).
            _ if syscall::kfile::serves(n, a) && self.kernel_file_of(tid, a[0]).is_some() => {
                let r = match self.kernel_file_of(tid, a[0]) {
                    Some(file) => {
                        syscall::kfile::serve(&mut Tasks::new(&mut self.tasks), tid, &file, n, a)
                            .map(SyscallOutcome::Return)
                    }
                    None => Err(Errno::EBADF),
                };
                self.finish(tid, n, a, r)
            }
            nr::SYS_openat | nr::SYS_openat2 => {
                let Some(task) = self.tasks.get_mut(&tid) else {
                    return;
                };
                let mut r = syscall::handle(task, hart, n, a);
                // The file's ->open for a kernel-served file: bind it to its task, or
                // fail the open.
                if let Ok(SyscallOutcome::Return(fd)) = r {
                    if let Some(file) = self.kernel_file_of(tid, fd) {
                        if let Some(kf) = file.kernel_file() {
                            let opened =
                                syscall::kfile::open(&mut Tasks::new(&mut self.tasks), tid, kf);
                            if let Err(e) = opened {
                                if let Some(t) = self.tasks.get(&tid) {
                                    let _ = t.fs.fds.close(fd as u32);
                                }
                                r = Err(e);
                            }
                        }
                    }
                }
                self.finish(tid, n, a, r)
            }
            _ => {
                let Some(task) = self.tasks.get_mut(&tid) else {
                    return;
                };
                syscall::dispatch(task, hart)
            }
        };
        // execve may have moved the caller to the leader's tid.
        let tid = self.cur().unwrap_or(tid);
        self.sigpipe_on_epipe(hart, tid, n, outcome);
        match outcome {
            SyscallOutcome::Return(v) => {
                hart.x[10] = v;
                hart.pc = pc.wrapping_add(4);
            }
            SyscallOutcome::Resume => {}
            SyscallOutcome::Block(on) => {
                // A call that did not say what it waits for (`vmsplice`): the queues of
                // the file it names — unless, queued there, it finds the file ready.
                let ready = on == WaitOn::Io
                    && self.with_call(tid, |c| c.io_wait.is_none()) == Some(true)
                    && self.io_wait_on_fd(
                        tid,
                        a[0],
                        matches!(n, nr::SYS_read | nr::SYS_readv | nr::SYS_pread64),
                    );
                // The pc stays at the ecall: the call is re-issued on wake-up (or now).
                if !ready {
                    self.block(tid, on, hart);
                }
            }
            SyscallOutcome::Exit(status) => {
                if let Some(tgid) = self.group_of(tid) {
                    self.exit_process(hart, tgid, status);
                }
            }
            // The pc stays at the ecall: the thread re-issues the call and it resumes.
            SyscallOutcome::Restart => {}
        }
        if self.is_current(tid) {
            if let Some(task) = self.tasks.get(&tid) {
                apply_flush(self.smp, hart, task);
            }
        }
    }

    /// `process_vm_readv`/`process_vm_writev` (call `n`, arguments `a`) of task `tid`:
    /// the checks and the target's look-up with the task table, under this lock; the copy
    /// — pinning the target's pages and copying them page by page, which needs only the
    /// two address spaces, held — handed to the hart to run without the lock
    /// ([`crate::percpu::defer_unlocked`]), as Linux runs it under no global lock; the
    /// re-issued call returns its result. (Without a hart to hand it to, as in unit
    /// tests, the copy runs here.)
    fn sys_process_vm_rw(&mut self, tid: u32, n: u64, a: [u64; 6]) -> KResult<u64> {
        use syscall::process_vm::{process_vm_prepare, ProcessVm};
        if let Some(r) = crate::percpu::take_unlocked_result::<KResult<u64>>() {
            return *r;
        }
        let write = n == nr::SYS_process_vm_writev;
        match process_vm_prepare(&mut Tasks::new(&mut self.tasks), tid, a, write)? {
            ProcessVm::Done(v) => Ok(v),
            ProcessVm::Copy(copy) if crate::percpu::unlocked_allowed() => {
                crate::percpu::defer_unlocked(Box::new(move || Box::new(copy.run())));
                Err(Errno::ERESTARTNOINTR)
            }
            ProcessVm::Copy(copy) => copy.run(),
        }
    }

    /// The open file description behind descriptor `fd` (an `unsigned int`) of task
    /// `tid` if it is a kernel-served file.
    fn kernel_file_of(&self, tid: u32, fd: u64) -> Option<Arc<OpenFile>> {
        let fd = u32::try_from(fd).ok()?;
        let file = self.tasks.get(&tid)?.fs.fds.get(fd).ok()?;
        file.kernel_file().is_some().then_some(file)
    }

    /// `clock_gettime`, `getrusage` and `times` (system call `n`, arguments `a`) of task `tid`
    /// under the kernel lock: [`syscall::group_call`], as a hart without the lock
    /// serves them, but with a reader of every thread of the caller's group (the task
    /// table: a thread's CPU-time clock of another thread, `clock_getcpuclockid()`), the
    /// caller's runtime brought up to date first (`task_sched_runtime()`).
    ///
    /// # Errors
    /// As [`syscall::group_call`]; `ESRCH` for a task that is gone.
    fn sys_cputime_call(&mut self, hart: &Hart<'_>, tid: u32, n: u64, a: [u64; 6]) -> KResult<u64> {
        if reads_own_cputime(n, a) {
            let now = self.rqs.clock().now(hart.stats().cycles);
            self.rqs.cpu_rq(self.this).lock().update_curr(now);
        }
        let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let mm = task.mm.as_ref().ok_or(Errno::ESRCH)?;
        let cputime = GroupCpuTimes {
            tasks: &self.tasks,
            tgid: task.tgid,
            own: syscall::misc::OwnCpuTimes {
                tid,
                task: &task.cputime,
                group: &task.signal,
            },
        };
        let g = syscall::GroupCaller {
            signal: &task.signal,
            tgid: task.tgid,
            tid,
            time: task.time,
            cpu_ns: syscall::cycles_to_ns(hart.stats().cycles),
            cputime: &cputime,
        };
        let mut u: &MmStruct = mm.uaccess();
        syscall::group_call(&g, mm, &mut u, n, a).unwrap_or(Err(Errno::ENOSYS))
    }

    /// `wait_task_zombie()`'s accounting as task `tid` reaps process `cpid`: the
    /// child's CPU time and its own reaped children's (`sig->utime + sig->cutime`, …)
    /// are added to the reaper's process's children's times (`psig->cutime`,
    /// `cstime`), which `getrusage(RUSAGE_CHILDREN)` reads. Returns what was added (the
    /// child's `RUSAGE_BOTH`, for `wait4`'s `rusage`). Called once per reap.
    fn wait_task_zombie_cputime(&self, tid: u32, cpid: u32) -> cputime::TaskCputime {
        let Some(child) = self.tasks.get(&cpid) else {
            return cputime::TaskCputime::default();
        };
        let own = child.signal.cputimer.cputime.sample();
        let reaped = child.signal.cputimer.children.sample();
        let both = cputime::TaskCputime {
            utime_ns: own.utime_ns + reaped.utime_ns,
            stime_ns: own.stime_ns + reaped.stime_ns,
            sum_exec_runtime_ns: own.sum_exec_runtime_ns + reaped.sum_exec_runtime_ns,
        };
        if let Some(reaper) = self.tasks.get(&tid) {
            reaper.signal.cputimer.children.add(both);
        }
        both
    }

    /// `release_task()`: the reaped process (its leader, the last of its tasks)
    /// disappears, with its `/proc/<pid>`.
    fn release_task(&mut self, tgid: u32) {
        for tid in self.group_tids(tgid) {
            // A zombie is on no queue; its entity goes (nothing is left of it).
            self.deactivate_task(tid, self.timers.bases().clock().cycles(), false);
            if let Some(t) = self.tasks.remove(&tid) {
                if tid == tgid {
                    t.vfs.proc_unregister(tgid);
                }
            }
        }
    }

    fn finish(&self, tid: u32, n: u64, a: [u64; 6], r: KResult<SyscallOutcome>) -> SyscallOutcome {
        match self.tasks.get(&tid) {
            Some(t) => syscall::finish(t, n, a, r),
            None => r.unwrap_or(SyscallOutcome::Resume),
        }
    }

    /// Puts task `tid` (running on this hart) to sleep on `on`, its registers saved:
    /// none are live in the hart any more, and it leaves its run queue
    /// ([`Kernel::deactivate_task`], `DEQUEUE_SLEEP`).
    fn block(&mut self, tid: u32, on: WaitOn, hart: &mut Hart<'_>) {
        if !self.tasks.contains_key(&tid) {
            return;
        }
        if let Some(t) = self.tasks.get(&tid) {
            let mut run = t.run();
            run.state = TaskState::Blocked(on);
            run.ctx = hart.save_context();
            run.nvcsw += 1;
        }
        if self.cur() == Some(tid) {
            self.set_cur(None);
        }
        let seq = self.deactivate_task(tid, hart.stats().cycles, true);
        // A futex waiter sleeps only if the waker that may have taken its waiter has
        // not claimed the wake-up yet: from now on, that waker enqueues it, on any hart
        // ([`Machine::wake_up_q`]); if it has, the wait returns 0 at once.
        if on == WaitOn::Futex {
            let parked = self
                .with_call(tid, |c| c.futex_q.as_ref().is_none_or(|q| q.park(seq)))
                .unwrap_or(true);
            if !parked {
                self.complete_blocked(tid, 0);
                return;
            }
        }
        // The same handshake for a sleep on wait queues: a wake-up that came between
        // its queueing and now ([`WaitTask::claim`]) leaves the task runnable, its call
        // re-issued at once; from now on, a waker on any hart enqueues it.
        if matches!(on, WaitOn::Io | WaitOn::Userfault | WaitOn::AsyncPf) {
            let parked = self
                .with_call(tid, |c| {
                    c.io_wait
                        .as_ref()
                        .and_then(PollTable::task)
                        .is_none_or(|w| w.park(seq))
                })
                .unwrap_or(true);
            if !parked {
                // Its timer (a ppoll timeout) goes: the re-issued call arms it again.
                self.timer_cancel(tid);
                self.io_wait_end(tid, true);
                self.try_to_wake_up(tid);
                return;
            }
        }
        // Likewise a sleeper with a timer, against its expiry on a hart without the
        // kernel lock ([`Machine::hrtimer_interrupt`]): if that claimed the wake-up
        // first, the call completes as expired at once.
        let parked = self.timer(tid).is_none_or(|t| t.park(seq));
        if !parked {
            self.hrtimer_expired(tid);
            return;
        }
        self.ptrace_wake_for_stop(tid, on);
    }

    /// Wakes every task of thread group `tgid` sleeping on `on` (its call is re-issued).
    fn wake(&mut self, tgid: u32, on: WaitOn) {
        let sleeping: Vec<u32> = self
            .tasks
            .values()
            .filter(|t| t.tgid == tgid && t.state() == TaskState::Blocked(on))
            .map(|t| t.tid)
            .collect();
        for tid in sleeping {
            self.try_to_wake_up(tid);
        }
    }

    // ---- fork, exec, exit, wait ------------------------------------------------------

    /// `clone(flags, newsp, parent_tid, tls, child_tid)` by task `tid`: `copy_process()`.
    /// Each of `CLONE_VM`, `CLONE_FILES`, `CLONE_FS`, `CLONE_SIGHAND` and `CLONE_THREAD`
    /// decides whether the new task shares that part with the caller or gets a copy
    /// (`CLONE_VM` off: `dup_mmap()` into a new address space with its own ASID). The new
    /// task starts after the `ecall` with a0 = 0, on stack `newsp` (if not 0), with `tp` =
    /// `tls` for `CLONE_SETTLS`; its tid is stored at `parent_tid` in the caller's address
    /// space for `CLONE_PARENT_SETTID` and at `child_tid` in the new task's for
    /// `CLONE_CHILD_SETTID`, and `child_tid` is remembered for `CLONE_CHILD_CLEARTID`. A
    /// thread (`CLONE_THREAD`) joins the caller's group and has no exit signal; a process
    /// is a child of the caller's process (of its parent with `CLONE_PARENT`) and sends
    /// the `CSIGNAL` bits at exit. `CLONE_VFORK`: the caller sleeps until the child
    /// execs or exits (`posix_spawn`, `vfork`: with `CLONE_VM` the child runs in the
    /// caller's address space, and what it writes there the caller sees).
    ///
    /// # Errors
    /// `EINVAL` for a combination `copy_process()` refuses ([`clone_flags_valid`]);
    /// `ENOMEM` if the address space cannot be copied. A `parent_tid`/`child_tid` store
    /// that faults is ignored, as Linux ignores it.
    fn sys_clone(&mut self, hart: &mut Hart<'_>, tid: u32, a: [u64; 6]) -> KResult<SyscallOutcome> {
        use clone::*;
        let (flags, newsp, ptid, tls, ctid) = (a[0], a[1], a[2], a[3], a[4]);
        clone_flags_valid(flags)?;
        let vfork = flags & CLONE_VFORK != 0;
        // "Siblings of global init remain as zombies on exit since they are not reaped by
        // their parent (swapper)... prevent global and container-inits from creating
        // siblings" (copy_process(), SIGNAL_UNKILLABLE).
        if flags & CLONE_PARENT != 0 && self.group_of(tid) == Some(INIT_PID) {
            return Err(Errno::EINVAL);
        }
        let share = CloneShare {
            files: flags & CLONE_FILES != 0,
            fs: flags & CLONE_FS != 0,
            sighand: flags & CLONE_SIGHAND != 0,
            thread: flags & CLONE_THREAD != 0,
        };
        let share_vm = flags & CLONE_VM != 0;
        let asid = if share_vm {
            0
        } else {
            self.smp.alloc_asid(hart)
        };
        let child_tid = self.next_pid;
        let parent = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let parent_mm = parent.mm.as_ref().ok_or(Errno::ESRCH)?;
        // copy_mm(): the same address space (mmget()) or a copy of it.
        let mm = if share_vm {
            parent_mm.clone()
        } else {
            MmUsers::new(parent_mm.mmap_write_lock().dup_mmap(asid)?)
        };
        let ctx = copy_thread(hart, flags, newsp, tls);
        // kernel_clone()'s put_user() to parent_tid and schedule_tail()'s to child_tid
        // ignore a fault: the child exists either way. Each is one access under the read
        // side of its address space's mmap_lock ([`MmStruct::uaccess`]), as a fault of
        // Linux's put_user() takes it.
        if flags & CLONE_PARENT_SETTID != 0 {
            let _ = parent_mm
                .uaccess()
                .copy_to_user(ptid, &child_tid.to_le_bytes());
        }
        if flags & CLONE_CHILD_SETTID != 0 {
            let _ = mm.uaccess().copy_to_user(ctid, &child_tid.to_le_bytes());
        }
        let mut child = parent.copy_process(child_tid, share, mm, ctx, share_vm && !vfork);
        // copy_process(): CLONE_PARENT re-uses the parent's parent and the exit signal of
        // the parent's group leader; otherwise the exit signal is CSIGNAL as given, even
        // one that is not a valid signal (legacy clone() does not check it: exit_notify()
        // then sends nothing, see do_notify_parent()). A thread has none.
        if !share.thread {
            if flags & CLONE_PARENT != 0 {
                child
                    .signal
                    .set_parent(parent.signal.ppid(), parent.signal.real_parent());
                child.exit_signal = self
                    .tasks
                    .get(&parent.tgid)
                    .map_or(parent.exit_signal, |l| l.exit_signal);
            } else {
                child.exit_signal = (flags & CSIGNAL) as u8;
            }
        }
        if flags & CLONE_CHILD_CLEARTID != 0 {
            child.user_ptrs.set_clear_child_tid(ctid);
        }
        // The parent's PTEs were write-protected for COW: flush its TLB entries now.
        apply_flush(self.smp, hart, parent);
        self.next_pid += 1;
        if !share.thread {
            // /proc/<pid> appears with the process (pids are never reused: cannot fail).
            let _ = child.vfs.proc_register(child_tid);
        }
        self.tasks.insert(child_tid, child);
        self.ptrace_event_fork(tid, child_tid, flags);
        // wake_up_new_task(): on an idle or the least loaded hart.
        self.activate_task(child_tid);
        if vfork {
            hart.x[10] = u64::from(child_tid);
            hart.pc = hart.pc.wrapping_add(4);
            self.block(tid, WaitOn::VforkDone(child_tid), hart);
            return Ok(SyscallOutcome::Resume);
        }
        Ok(SyscallOutcome::Return(u64::from(child_tid)))
    }

    /// `execve(path, argv, envp)` by task `tid`: everything that can fail with an errno
    /// is checked before the old image is torn down (the point of no return); a failure
    /// after it kills the process with SIGSEGV, as Linux does. The caller gets an
    /// address space, descriptor table and handlers of its own (`exec_mmap()`,
    /// `unshare_files()`, `unshare_sighand()`): another process that shared them by
    /// `clone` keeps the old ones.
    fn sys_execve(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let asid = self.smp.alloc_asid(hart);
        let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let old_mm = task.mm.clone().ok_or(Errno::ESRCH)?;
        let path = syscall::fs::get_user_path(&mut old_mm.uaccess(), a[0])?;
        // alloc_bprm() opens the file first (do_open_execat(): ENOENT, EACCES...), then
        // the argument strings are counted and copied.
        // One walk: the file, and its own path (d_path of bprm->file) for
        // /proc/<pid>/exe.
        let syscall::fs::ExecFile {
            bytes: image,
            path: exe_file,
            ..
        } = syscall::fs::open_exec(&task.fs, &task.vfs, &path, 1 << 30)?;
        // The name the caller gave (made absolute): AT_EXECFN and the task's comm.
        let exe_path = String::from_utf8_lossy(&path).into_owned();
        let exe_path = if exe_path.starts_with('/') {
            exe_path
        } else {
            let cwd = task
                .vfs
                .path_of(&task.fs.fs.pwd())
                .map(|c| String::from_utf8_lossy(&c).into_owned())
                .unwrap_or_default();
            format!("{}/{exe_path}", cwd.trim_end_matches('/'))
        };
        // Bounded copies checked as Linux checks them: E2BIG/EFAULT leave the caller as
        // it was. The new stack's AT_EXECFN string is exe_path, so that is what is charged.
        let rlim_stack = crate::exec::stack_rlimit_bytes(task);
        let ExecArgs { argv, envp } = copy_exec_args(
            &mut old_mm.uaccess(),
            exe_path.as_bytes(),
            a[1],
            a[2],
            rlim_stack,
        )?;
        drop(old_mm);
        parse_elf(&image).map_err(|e| e.errno())?;
        let old_tid = tid;
        // Point of no return. de_thread(): the other threads die and the caller takes
        // the leader's id; exec_mm_release() clears its child_tid and robust list.
        let tid = self.de_thread(hart, tid);
        // The new address space replaces the old one (exec_mmap(): mmput() of the old,
        // which another process sharing it by CLONE_VM, a vfork parent, keeps).
        let mut mm = Mm::new(
            Arc::clone(&self.phys),
            self.config.paging,
            self.config.ad,
            asid,
        )?;
        mm.set_gup_generation(self.config.gup);
        let task = self.tasks.get_mut(&tid).ok_or(Errno::ESRCH)?;
        let old = task.mm.replace(MmUsers::new(mm));
        if let Some((old_asid, batch)) = old.and_then(MmUsers::mmput) {
            shootdown(self.smp, hart, old_asid, batch);
        }
        task.fs.unshare_files();
        task.signals.exec_reset();
        // begin_new_exec(): PF_FORKNOEXEC is cleared and the process is dumpable again
        // (`set_dumpable(SUID_DUMP_USER)`); exec() names the task after the file.
        task.forknoexec = false;
        task.signal.lock().dumpable = crate::process::SUID_DUMP_USER;
        // arm64 mte_thread_init_user(): tagging off, checks off, the default mask.
        task.mte_ctrl = Default::default();
        if exec(task, &image, &exe_path, &argv, &envp).is_err() {
            let pc = hart.pc;
            self.exit_process(
                hart,
                tid,
                ExitStatus::Signaled {
                    signo: SIGSEGV,
                    code: signal::SI_KERNEL,
                    addr: 0,
                    pc,
                },
            );
            return Ok(SyscallOutcome::Resume);
        }
        task.fs.exe_path = exe_file;
        if let Some(mm) = &task.mm {
            switch_mm(self.smp, hart, &mm.mmap_read_lock());
        }
        hart.restore_context(&task.run().ctx);
        crate::mm::mte::mte_thread_switch(hart, task.mte_ctrl);
        hart.flush_icache();
        let ppid = task.signal.ppid();
        self.wake(ppid, WaitOn::VforkDone(tid));
        self.ptrace_event_exec(tid, old_tid);
        Ok(SyscallOutcome::Resume)
    }

    /// `de_thread()` for an `execve` by task `tid`: every other thread of its group
    /// exits, and the caller continues as the leader (its tid becomes the tgid), with
    /// no `clear_child_tid` or robust list (`exec_mm_release()`). Returns the caller's
    /// tid now.
    fn de_thread(&mut self, hart: &mut Hart<'_>, tid: u32) -> u32 {
        let Some(tgid) = self.group_of(tid) else {
            return tid;
        };
        self.zap_other_threads(hart, tid);
        self.mm_release(tid);
        if tid != tgid {
            // The exec'ing thread takes over the leader's identity (exchange_tids()),
            // on its run queue too; the old leader, a zombie, is on none.
            self.deactivate_task(tgid, hart.stats().cycles, false);
            self.rqs.rename(tid, tgid);
            self.tasks.remove(&tgid);
            self.forget_sleeper(tid);
            self.with_call(tid, |c| c.resume = None);
            // Its children keep it as their parent under its new id.
            for c in self.tasks.values().filter(|c| c.tid == c.tgid) {
                let mut g = c.signal.lock();
                if g.ppid == tgid && g.real_parent == tid {
                    g.real_parent = tgid;
                }
            }
            if let Some(mut me) = self.tasks.remove(&tid) {
                me.tid = tgid;
                me.signal.lock().threads = vec![tgid];
                // de_thread(): "tsk->exit_signal = SIGCHLD" (a thread had none), so a
                // wait4 without __WCLONE sees the new leader.
                me.exit_signal = SIGCHLD;
                self.tasks.insert(tgid, me);
            }
        }
        self.set_cur(Some(tgid));
        tgid
    }

    /// `exit(code)` of task `tid` (`do_exit()` of one task): its robust futexes are
    /// released and its `clear_child_tid` cleared and woken (`mm_release()`), it drops
    /// its address space and descriptor table (`exit_mm()`, `exit_files()`), and it
    /// goes; a group leader stays, exited, until its group is reaped
    /// (`delay_group_leader()`). The last thread's exit ends the process with `status`.
    fn exit_thread(&mut self, hart: &mut Hart<'_>, tid: u32, status: ExitStatus) {
        let Some(task) = self.tasks.get(&tid) else {
            return;
        };
        let tgid = task.tgid;
        if task.signal.threads().iter().all(|&t| t == tid) {
            self.exit_process(hart, tgid, status);
            return;
        }
        self.release_thread(hart, tid, status);
        if self.cur() == Some(tid) {
            self.set_cur(None);
        }
    }

    /// Task `tid` leaves (`do_exit()`'s part for one task of a group that goes on): its
    /// `mm_release()`, no timer, futex queue or I/O sleep holds it any more, it leaves
    /// the group's thread list and drops its address space and descriptor table, its
    /// children get a new parent (`forget_original_parent()`); a leader stays behind as
    /// `Zombie(status)`, any other task leaves the table.
    fn release_thread(&mut self, hart: &mut Hart<'_>, tid: u32, status: ExitStatus) {
        self.mm_release(tid);
        self.forget_sleeper(tid);
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        task.signal.lock().threads.retain(|&t| t != tid);
        task.fs.exit_files();
        let mm = task.mm.take();
        if let Some((asid, batch)) = mm.and_then(MmUsers::mmput) {
            shootdown(self.smp, hart, asid, batch);
        }
        self.exit_ptrace(hart, tid);
        self.forget_original_parent(hart, tid);
        // It leaves its run queue for good (do_task_dead()).
        self.deactivate_task(tid, hart.stats().cycles, false);
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        // A zombie under its own lock first: a hart putting it to sleep without the
        // kernel lock then stashes nothing more, and what it stashed goes now.
        task.set_state(TaskState::Zombie(status));
        let leader = tid == task.tgid;
        self.unstash(hart, tid);
        if !leader {
            self.tasks.remove(&tid);
        }
    }

    /// Task `tid` is no longer on a timer, a futex queue or an I/O sleep.
    fn forget_sleeper(&mut self, tid: u32) {
        self.timer_cancel(tid);
        // Let go of with the task's lock dropped (`SleepingCall::forget`).
        let Some(gone) = self.with_call(tid, SleepingCall::forget) else {
            return;
        };
        if let Some(q) = gone.futex_q {
            self.futex.unqueue(&q);
        }
        if let Some(mut pt) = gone.io_wait {
            pt.finish(true);
        }
    }

    /// `zap_other_threads()`: every task of `tid`'s group but `tid` exits. Those running
    /// on other harts leave user mode first (before anything of theirs goes), and the
    /// registers of `tid` are saved if it is this hart's.
    fn zap_other_threads(&mut self, hart: &mut Hart<'_>, tid: u32) {
        let Some(tgid) = self.group_of(tid) else {
            return;
        };
        self.zap_begin();
        self.zap_other_threads_of(hart, tid, tgid);
        self.zap_end();
    }

    /// [`Kernel::zap_other_threads`] of task `tid` in group `tgid`, the kill announced.
    fn zap_other_threads_of(&mut self, hart: &mut Hart<'_>, tid: u32, tgid: u32) {
        self.stop_other_harts_of(tgid);
        if self.is_current(tid) {
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.run().ctx = hart.save_context();
            }
        }
        for other in self.group_tids(tgid) {
            if other == tid {
                continue;
            }
            let live = self
                .tasks
                .get(&other)
                .is_some_and(|t| !matches!(t.state(), TaskState::Zombie(_)));
            if live {
                self.release_thread(hart, other, ExitStatus::Exited(0));
            }
        }
    }

    /// `mm_release()` and `exit_robust_list()` for task `tid`: each lock on its robust
    /// list that it holds gets `FUTEX_OWNER_DIED` (and a waiter woken); a non-zero
    /// `clear_child_tid` gets 0 stored and one waiter woken (`pthread_join`).
    fn mm_release(&mut self, tid: u32) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let (ctid, robust) = task.user_ptrs.take();
        let Some(mm) = task.mm.clone() else {
            return;
        };
        // Plain user accesses (exit_robust_list()'s get_user()/futex_cmpxchg_value_locked(),
        // mm_release()'s put_user()): each takes the read side of the mmap_lock for its
        // own length, as a kernel-mode fault does; nothing here changes the VMAs. A
        // released address space fails every access (access_ok()).
        let mut user = mm.uaccess();
        let mut wake = Vec::new();
        if robust.0 != 0 {
            wake.extend(exit_robust_list(&mut user, robust.0, tid));
        }
        if ctid != 0 && user.copy_to_user(ctid, &0u32.to_le_bytes()).is_ok() {
            wake.push(ctid);
        }
        let mut woken = WakeList::new();
        for addr in wake {
            if let Ok(key) = futex::get_futex_key(&mm, addr, false) {
                self.futex.wake(key, 1, FUTEX_BITSET_MATCH_ANY, &mut woken);
            }
        }
        self.futex_wake_up_q(woken);
    }

    /// The process `tgid` ends (`do_group_exit()`): every task of it is killed, the
    /// leader becomes a zombie holding the exit status (`signal->group_exit`), its
    /// children are re-parented to init, and its parent is woken (and sent its exit
    /// signal).
    fn exit_process(&mut self, hart: &mut Hart<'_>, tgid: u32, status: ExitStatus) {
        self.zap_begin();
        self.do_group_exit(hart, tgid, status);
        self.zap_end();
    }

    /// [`Kernel::exit_process`], the kill announced ([`Kernel::zap_begin`]).
    fn do_group_exit(&mut self, hart: &mut Hart<'_>, tgid: u32, status: ExitStatus) {
        let Some(leader) = self.tasks.get(&tgid) else {
            return;
        };
        // Any live task of the group: the leader if it still runs.
        let any = leader.signal.threads().first().copied().unwrap_or(tgid);
        self.zap_other_threads(hart, any);
        if self.cur().is_some_and(|t| self.group_of(t) == Some(tgid)) {
            self.set_cur(None);
        }
        if tgid == INIT_PID {
            if let Some(mm) = self.tasks.get(&any).and_then(|t| t.mm.as_ref()) {
                self.init_uaccess_mmu = Some(mm.mmap_read_lock().uaccess_counters());
            }
        }
        // exit_files() and exit_mm() of the last task: closing the descriptors lets
        // pipe readers see EOF and writers EPIPE; the address space goes now (mmput()
        // → exit_mmap() unless another process shares it), its translations and any
        // executable frames freed with it out of every hart.
        let live = self
            .tasks
            .get(&any)
            .is_some_and(|t| !matches!(t.state(), TaskState::Zombie(_)));
        if live {
            self.release_thread(hart, any, status);
        }
        self.deactivate_task(tgid, hart.stats().cycles, false);
        let Some(leader) = self.tasks.get_mut(&tgid) else {
            return;
        };
        leader.set_state(TaskState::Zombie(status));
        {
            let mut g = leader.signal.lock();
            g.group_exit = Some(status);
            g.threads.clear();
            g.shared_pending.clear();
            g.itimers
                .exit_itimers(self.timers.bases(), &leader.signal.cputimer);
        }
        self.notify_parent(tgid, status);
    }

    /// `do_notify_parent()` for process `tgid`, which has exited with `status`: its
    /// parent's waiters are woken, the exit signal is sent, and a child whose parent
    /// ignores SIGCHLD is reaped at once.
    fn notify_parent(&mut self, tgid: u32, status: ExitStatus) {
        if self.ptrace_notify_exit(tgid, status) {
            return;
        }
        let Some(leader) = self.tasks.get(&tgid) else {
            return;
        };
        let (ppid, exit_signal) = (leader.signal.ppid(), leader.exit_signal);
        self.wake(ppid, WaitOn::Child);
        self.wake(ppid, WaitOn::VforkDone(tgid));
        let (code, status_word) = child_status(status);
        if let Some(parent) = self.tasks.get(&ppid) {
            // A parent that set SIGCHLD to SIG_IGN never sees zombies: the child is reaped
            // at once (do_notify_parent's autoreap), and its wait4 gets ECHILD.
            let autoreap =
                exit_signal == SIGCHLD && parent.signals.action(SIGCHLD).handler == SIG_IGN;
            // do_notify_parent(): only a valid signal is sent (a legacy clone() may
            // have asked for any of 0-255); the parent is woken either way.
            if signal::valid_signal(u64::from(exit_signal))
                && exit_signal != 0
                && !parent.signals.is_ignored(exit_signal)
            {
                parent.signal.lock().shared_pending.push(SigInfo {
                    signo: exit_signal,
                    code,
                    addr: u64::from(tgid),
                    status: status_word,
                });
            }
            if autoreap && tgid != INIT_PID {
                self.release_task(tgid);
            }
        }
    }

    /// Finds a zombie among the children of task `tid` (of every thread of its process,
    /// or with `__WNOTHREAD` of `tid` alone: `do_wait()`'s `while_each_thread` loop over
    /// each thread's `children`) matching `which` (`eligible_pid()`) and the
    /// `__WALL`/`__WCLONE` bits of `options` (`eligible_child()`). `Err(ECHILD)` if no
    /// child matches at all.
    fn find_zombie(
        &self,
        tid: u32,
        which: WaitPid,
        options: u64,
    ) -> KResult<Option<(u32, ExitStatus)>> {
        let tgid = self.group_of(tid).ok_or(Errno::ESRCH)?;
        let nothread = options & wait::WNOTHREAD != 0;
        let mut any = false;
        for (&cpid, c) in &self.tasks {
            if c.tid != c.tgid || cpid == tgid {
                continue;
            }
            let (ppid, real_parent, pgrp) = {
                let g = c.signal.lock();
                (g.ppid, g.real_parent, g.pgrp)
            };
            // A tracee is its tracer's child for wait (ptrace_reparented()).
            let traced = self.traced_by_waiter(cpid, tid, tgid, nothread);
            if !traced && (ppid != tgid || (nothread && real_parent != tid)) {
                continue;
            }
            let eligible_pid = match which {
                WaitPid::Any => true,
                WaitPid::Pid(p) => p == cpid,
                WaitPid::Pgid(g) => g == pgrp,
            };
            if !eligible_pid {
                continue;
            }
            // eligible_child(): without __WALL, a "clone" child (exit signal other than
            // SIGCHLD) is waited for with __WCLONE only, any other child without it.
            let clone_child = c.exit_signal != SIGCHLD;
            if !traced && options & wait::WALL == 0 && clone_child != (options & wait::WCLONE != 0)
            {
                continue;
            }
            any = true;
            // A child traced by another process is its tracer's to reap first.
            let tracers = traced || !c.ptrace.is_traced();
            if let (Some(st), true) = (c.signal.group_exit(), tracers) {
                return Ok(Some((cpid, st)));
            }
        }
        if any {
            Ok(None)
        } else {
            Err(Errno::ECHILD)
        }
    }

    /// `wait4(pid, wstatus, options, rusage)` (`kernel_wait4()`); `options` is an `int`.
    ///
    /// # Errors
    /// `EINVAL` for an option other than `WNOHANG|WUNTRACED|WCONTINUED|__WNOTHREAD|
    /// __WCLONE|__WALL`; `ESRCH` for pid `INT_MIN`; `ECHILD` without an eligible child;
    /// `EFAULT`.
    fn sys_wait4(&mut self, tid: u32, a: [u64; 6]) -> KResult<SyscallOutcome> {
        // `int options`: __WCLONE (bit 31) arrives sign-extended.
        let (target, wstatus, options, rusage) =
            (a[0] as i64 as i32, a[1], a[2] as u32 as u64, a[3]);
        if options & !wait::WAIT4_OPTIONS != 0 {
            return Err(Errno::EINVAL);
        }
        // kernel_wait4(): "-INT_MIN is not defined".
        if target == i32::MIN {
            return Err(Errno::ESRCH);
        }
        // -1: any child; below: process group -pid; 0: the caller's process group.
        let which = match target {
            -1 => WaitPid::Any,
            t if t < 0 => WaitPid::Pgid(t.unsigned_abs()),
            0 => WaitPid::Pgid(self.pgrp_of(tid)?),
            t => WaitPid::Pid(t as u32),
        };
        let (stopped, tracing) = self.ptrace_wait4(tid, which, options, wstatus)?;
        if let Some(pid) = stopped {
            return Ok(SyscallOutcome::Return(u64::from(pid)));
        }
        let zombie = match self.find_zombie(tid, which, options) {
            Err(Errno::ECHILD) if tracing => Ok(None),
            r => r,
        };
        match zombie? {
            Some((cpid, st)) => {
                // The wait status word: exit code in bits 15:8, or the killing signal.
                let word: u32 = match child_status(st) {
                    (wait::CLD_EXITED, code) => (code as u32) << 8,
                    (_, signo) => signo as u32,
                };
                // put_user() of the status, copy_to_user() of the rusage: each access
                // under the read side of the mmap_lock alone.
                let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
                let mut user = task.mm.as_ref().ok_or(Errno::ESRCH)?.uaccess();
                if wstatus != 0 {
                    user.copy_to_user(wstatus, &word.to_le_bytes())?;
                }
                let child_times = self.wait_task_zombie_cputime(tid, cpid);
                if rusage != 0 {
                    let ru = syscall::misc::rusage(child_times);
                    user.copy_to_user(rusage, &ru)?;
                }
                self.wait_release(cpid);
                Ok(SyscallOutcome::Return(u64::from(cpid)))
            }
            None if options & wait::WNOHANG != 0 => Ok(SyscallOutcome::Return(0)),
            None => Ok(SyscallOutcome::Block(WaitOn::Child)),
        }
    }

    /// `waitid(idtype, id, infop, options, rusage)` (`kernel_waitid()`); `id` (a
    /// `pid_t`) and `options` are `int`s.
    ///
    /// # Errors
    /// `EINVAL` for an option other than `WNOHANG|WNOWAIT|WEXITED|WSTOPPED|WCONTINUED|
    /// __WNOTHREAD|__WCLONE|__WALL`, for none of `WEXITED|WSTOPPED|WCONTINUED`, for an
    /// unknown `idtype` or a `P_PID` id not above 0; `ECHILD` without an eligible child;
    /// `EFAULT`.
    fn sys_waitid(&mut self, tid: u32, a: [u64; 6]) -> KResult<SyscallOutcome> {
        // kernel_waitid()'s checks, in its order; `id` is a `pid_t`.
        let (idtype, id, infop, options) = (a[0], a[1] as u32 as i32, a[2], a[3] as u32 as u64);
        const P_PIDFD: u64 = 3;
        if options & !wait::WAITID_OPTIONS != 0
            || options & (wait::WEXITED | wait::WSTOPPED | wait::WCONTINUED) == 0
        {
            return Err(Errno::EINVAL);
        }
        let which = match idtype {
            wait::P_ALL => WaitPid::Any,
            wait::P_PID if id <= 0 => return Err(Errno::EINVAL),
            wait::P_PID => WaitPid::Pid(id as u32),
            wait::P_PGID | P_PIDFD if id < 0 => return Err(Errno::EINVAL),
            // Since Linux 5.4, P_PGID with id 0 is the caller's process group.
            wait::P_PGID if id == 0 => WaitPid::Pgid(self.pgrp_of(tid)?),
            wait::P_PGID => WaitPid::Pgid(id as u32),
            // pidfd_get_pid(): no descriptor is a pidfd here.
            P_PIDFD => return Err(Errno::EBADF),
            _ => return Err(Errno::EINVAL),
        };
        let (stopped, tracing) = self.ptrace_waitid(tid, which, options, a[2])?;
        if stopped.is_some() {
            return Ok(SyscallOutcome::Return(0));
        }
        let found = match self.find_zombie(tid, which, options) {
            Err(Errno::ECHILD) if tracing => Ok(None),
            r => r,
        }?;
        // The siginfo goes out with copy_to_user() (Linux's unsafe_put_user()s): under
        // the read side of the mmap_lock, for the access's length.
        let mm = self
            .tasks
            .get(&tid)
            .and_then(|t| t.mm.clone())
            .ok_or(Errno::ESRCH)?;
        let mut info = [0u8; 128];
        match found {
            Some((cpid, st)) => {
                let (code, status) = child_status(st);
                info[0..4].copy_from_slice(&i32::from(SIGCHLD).to_le_bytes());
                info[8..12].copy_from_slice(&code.to_le_bytes());
                info[16..20].copy_from_slice(&cpid.to_le_bytes());
                info[24..28].copy_from_slice(&status.to_le_bytes());
                if infop != 0 {
                    mm.uaccess().copy_to_user(infop, &info)?;
                }
                if options & wait::WNOWAIT == 0 {
                    self.wait_task_zombie_cputime(tid, cpid);
                    self.wait_release(cpid);
                }
                Ok(SyscallOutcome::Return(0))
            }
            None if options & wait::WNOHANG != 0 => {
                if infop != 0 {
                    mm.uaccess().copy_to_user(infop, &info)?;
                }
                Ok(SyscallOutcome::Return(0))
            }
            None => Ok(SyscallOutcome::Block(WaitOn::Child)),
        }
    }

    // ---- futexes and sleeping ---------------------------------------------------------

    /// `wake_up_q()` for the futex waiters in `woken`, which wakes took off their buckets
    /// (with or without the kernel lock): each one still the waiter its task sleeps on
    /// ([`SleepingCall::futex_q`]) has its wait completed with 0 and becomes runnable (the
    /// scheduler's wake path, which may preempt or wake an idle hart). One whose wait has
    /// ended otherwise — its own check of the mark before sleeping, a timeout or a signal
    /// that found it gone (and returned 0) — is passed over.
    fn futex_wake_up_q(&mut self, woken: WakeList) {
        for q in woken {
            let tid = q.tid();
            // Not asleep yet: its block sees the claim and returns 0 instead.
            if q.claim_wake().is_none() {
                continue;
            }
            let ours = self.with_call(tid, |c| {
                let ours = c.futex_q.as_ref().is_some_and(|w| Arc::ptr_eq(w, &q));
                if ours {
                    c.futex_q = None;
                }
                ours
            });
            if ours == Some(true) {
                self.complete_blocked(tid, 0);
            }
        }
    }

    /// The end of task `tid`'s `FUTEX_WAIT` by its timeout or a signal: `futex_unqueue()`
    /// takes it off its bucket and the wait returns `err`, unless a waker took it first,
    /// and then it returns 0 (`futex_wait()`: "if we were woken (and unqueued), we
    /// succeeded, whatever"). Exactly one of the two ends the wait.
    fn futex_wait_end(&mut self, tid: u32, err: Errno) -> u64 {
        let q = self.with_call(tid, |c| c.futex_q.take()).flatten();
        match q {
            Some(q) if !self.futex.unqueue(&q) => 0,
            _ => err.as_return(),
        }
    }

    /// `futex(uaddr, op, val, timeout | val2, uaddr2, val3)` under the kernel lock
    /// ([`futex::do_futex`], the same code as without it): the waiters a wake or requeue
    /// took are made runnable at once ([`Kernel::futex_wake_up_q`]); a wait that must
    /// sleep blocks ([`WaitOn::Futex`]) with its waiter in [`SleepingCall::futex_q`] and its
    /// deadline in `timers` — unless a waker on another hart (without the kernel lock)
    /// took the waiter between its queueing and now: then it returns 0 at once.
    ///
    /// # Errors
    /// As [`futex::do_futex`]; `ESRCH` for a task without an address space.
    fn sys_futex(&mut self, hart: &mut Hart<'_>, tid: u32, a: [u64; 6]) -> KResult<SyscallOutcome> {
        self.stat().futex_calls.inc();
        let now = self.clock_now(hart);
        let mut woken = WakeList::new();
        let r = {
            let mm = self
                .tasks
                .get(&tid)
                .and_then(|t| t.mm.as_ref())
                .ok_or(Errno::ESRCH)?;
            let caller = futex::FutexCaller { mm, tid, now };
            futex::do_futex(&self.futex, &caller, a, &mut woken)
        };
        self.futex_wake_up_q(woken);
        match r? {
            FutexRet::Return(v) => Ok(SyscallOutcome::Return(v)),
            FutexRet::Sleep(sleep) => Ok(self
                .futex_wait_queue(tid, sleep)
                .map_or(SyscallOutcome::Block(WaitOn::Futex), SyscallOutcome::Return)),
        }
    }

    /// `futex_wait_queue()`'s sleep, under the kernel lock, of task `tid` whose wait is
    /// queued (`sleep`, with or without the kernel lock): if a waker already took the
    /// waiter (between its queueing and now), the wait returns 0 at once; if a signal is
    /// pending, it is unqueued and returns `EINTR` (0 if a waker took it first): these
    /// return `Some(a0)`. Otherwise the waiter goes in [`SleepingCall::futex_q`] and its
    /// deadline in `timers`, and `None` answers: the caller blocks the task
    /// ([`WaitOn::Futex`]).
    fn futex_wait_queue(&mut self, tid: u32, sleep: futex::FutexSleep) -> Option<u64> {
        let futex::FutexSleep { q, deadline } = sleep;
        if q.is_woken() {
            return Some(0);
        }
        if self.signal_pending(tid) {
            return Some(if self.futex.unqueue(&q) {
                Errno::EINTR.as_return()
            } else {
                0
            });
        }
        self.with_call(tid, |c| c.futex_q = Some(q));
        if let Some(d) = deadline {
            self.timer_start(tid, d);
        }
        None
    }

    /// Finishes, under the kernel lock, the sleep of task `tid` that this hart began
    /// without it ([`unlocked_syscall`]): the call is counted, and the task sleeps or
    /// returns — a `futex` wait as [`Kernel::futex_wait_queue`] decides, a `nanosleep`
    /// as [`Kernel::nanosleep_queue`] does — then goes back to user mode as
    /// [`Kernel::handle_exit`]'s tail. A task killed meanwhile leaves its waiter's bucket
    /// (`futex_unqueue()`) or its timer's base (`hrtimer_cancel()`). Returns `false`
    /// (the call never restarts).
    fn finish_unlocked_sleep(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        sleep: UnlockedSleep,
    ) -> bool {
        if !self.reload_current(tid) {
            match sleep {
                // The table's drop takes it off the pipe's wait queue.
                UnlockedSleep::Io(_) => {}
                UnlockedSleep::Futex(s) => {
                    self.futex.unqueue(&s.q);
                }
                UnlockedSleep::Nanosleep(t) => {
                    self.timers.bases().try_to_cancel(&t);
                }
            }
            return false;
        }
        hart.account_trap();
        self.stat().syscalls.inc();
        let (on, done) = match sleep {
            UnlockedSleep::Futex(s) => {
                self.stat().futex_calls.inc();
                (WaitOn::Futex, self.futex_wait_queue(tid, s))
            }
            UnlockedSleep::Nanosleep(t) => (WaitOn::Sleep, self.nanosleep_queue(hart, tid, t)),
            UnlockedSleep::Io(s) => {
                self.io_sleep_block(hart, tid, s);
                self.return_to_user(hart, tid, None);
                return false;
            }
        };
        match done {
            None => self.block(tid, on, hart),
            Some(v) => {
                hart.x[10] = v;
                hart.pc = hart.pc.wrapping_add(4);
            }
        }
        self.return_to_user(hart, tid, None);
        false
    }

    /// `do_nanosleep()`'s sleep, under the kernel lock, of task `tid` (live in `hart`)
    /// whose timer `timer` a hart armed without it: if the timer expired meanwhile
    /// (between its arming and now), the call returns 0 at once; if a signal is
    /// pending, the timer is cancelled and the call returns `EINTR`, the time left in
    /// its `rem` ([`Kernel::sleep_copyout`]): these return `Some(a0)`.
    /// Otherwise the timer is booked as the task's and `None` answers: the caller
    /// blocks the task ([`WaitOn::Sleep`]).
    fn nanosleep_queue(
        &mut self,
        hart: &Hart<'_>,
        tid: u32,
        timer: Arc<hrtimer::Hrtimer>,
    ) -> Option<u64> {
        if timer.fired() {
            return Some(0);
        }
        self.timer_adopt(timer);
        if !self.signal_pending(tid) {
            return None;
        }
        // The call's registers are live in the hart.
        self.sleep_copyout(hart, tid, &hart.x);
        // Cancelled (Timers::remove) unless it fired in between: then the sleep is over.
        let fired = self.timer_cancel(tid).is_some_and(|t| t.fired());
        Some(if fired { 0 } else { Errno::EINTR.as_return() })
    }

    /// `nanosleep(req, rem)` (`clk` = CLOCK_MONOTONIC, `flags` = 0) and
    /// `clock_nanosleep(clk, flags, req, rem)`: the thread sleeps until the deadline on
    /// the guest clock while others run; `TIMER_ABSTIME` makes `req` absolute. A signal
    /// ends the sleep with `EINTR` (`rem` is not written).
    ///
    /// # Errors
    /// `EINVAL` for a bad `req`, an unknown clock or flags, CLOCK_THREAD_CPUTIME_ID;
    /// `EFAULT`.
    fn sys_nanosleep(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        clk: u64,
        flags: u64,
        req: u64,
    ) -> KResult<SyscallOutcome> {
        let now = self.clock_now(hart);
        let deadline =
            hrtimer::nanosleep_deadline(clk, flags, || self.get_timespec(tid, req), now)?;
        if deadline <= now.1 {
            return Ok(SyscallOutcome::Return(0));
        }
        self.timer_start(tid, deadline);
        Ok(SyscallOutcome::Block(WaitOn::Sleep))
    }

    /// A relative `nanosleep`/`clock_nanosleep` of thread `tid` interrupted by a signal
    /// stores the time left in its `rem` (if not NULL), as `hrtimer_nanosleep_restart`'s
    /// `nanosleep_copyout()`. The call is read from the thread's saved registers.
    fn write_sleep_remaining(&mut self, hart: &Hart<'_>, tid: u32) {
        let Some(x) = self.tasks.get(&tid).map(|t| t.run().ctx.x) else {
            return;
        };
        self.sleep_copyout(hart, tid, &x);
    }

    /// [`Kernel::write_sleep_remaining`] for the call in registers `x` (`x[17]` the
    /// call, `x[10..]` its arguments) of task `tid`: saved, or live in `hart`.
    fn sleep_copyout(&self, hart: &Hart<'_>, tid: u32, x: &[u64; 32]) {
        let Some(deadline) = self.timer(tid).map(|t| t.expires_ns()) else {
            return;
        };
        let (_, now) = self.clock_now(hart);
        let Some(t) = self.tasks.get(&tid) else {
            return;
        };
        let rem = match x[17] {
            nr::SYS_nanosleep => x[11],
            nr::SYS_clock_nanosleep if x[11] & 1 == 0 => x[13],
            _ => 0,
        };
        if rem == 0 {
            return;
        }
        let left = deadline.saturating_sub(now);
        let mut ts = [0u8; 16];
        ts[..8].copy_from_slice(&(left / 1_000_000_000).to_le_bytes());
        ts[8..].copy_from_slice(&(left % 1_000_000_000).to_le_bytes());
        // A bad rem is the caller's problem: Linux returns EFAULT instead of EINTR, we
        // keep EINTR.
        if let Some(mm) = &t.mm {
            let _ = mm.uaccess().copy_to_user(rem, &ts);
        }
    }

    /// Reads a `struct timespec` (`tv_sec`, `tv_nsec`) at `va` in task `tid`'s memory.
    ///
    /// # Errors
    /// `EFAULT`; `ESRCH` for a task without an address space.
    fn get_timespec(&self, tid: u32, va: u64) -> KResult<(u64, u64)> {
        let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        get_timespec(task.mm.as_ref().ok_or(Errno::ESRCH)?, va)
    }

    /// `get_robust_list(pid, head_ptr, len_ptr)`: the robust list head of task `pid`
    /// (0: the caller) and its length, written to the caller's memory.
    ///
    /// # Errors
    /// `ESRCH` for an unknown or exited task, `EFAULT`.
    fn sys_get_robust_list(&mut self, tid: u32, a: [u64; 6]) -> KResult<SyscallOutcome> {
        let target = match a[0] as u32 {
            0 => tid,
            t => t,
        };
        let (head, len) = self
            .tasks
            .get(&target)
            .filter(|t| !matches!(t.state(), TaskState::Zombie(_)))
            .map(|t| t.user_ptrs.robust_list())
            .ok_or(Errno::ESRCH)?;
        let task = self.tasks.get(&tid).ok_or(Errno::ESRCH)?;
        let mut mm = task.mm.as_ref().ok_or(Errno::ESRCH)?.uaccess();
        mm.put_user_u64(a[1], head)?;
        mm.put_user_u64(a[2], len)?;
        Ok(SyscallOutcome::Return(0))
    }

    // ---- signals -----------------------------------------------------------------------

    /// `kill(pid, sig)`, `tkill(tid, sig)`, `tgkill(tgid, tid, sig)` by task `tid`.
    /// `kill` of a positive id signals the thread group holding that task (Linux's
    /// `kill_pid_info()` on any tid); `tkill`/`tgkill` queue on one task.
    ///
    /// # Errors
    /// `EINVAL` for a non-positive tid/tgid of `tkill`/`tgkill`; `ESRCH` when the target
    /// does not exist (or is not in `tgid`), whatever the signal; then `EINVAL` for a bad
    /// signal number (`check_kill_permission()` runs on a found target).
    fn sys_kill(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        n: u64,
        a: [u64; 6],
    ) -> KResult<SyscallOutcome> {
        let sender = self.group_of(tid).ok_or(Errno::ESRCH)?;
        // `int sig`, as valid_signal() sees it after the sign extension.
        let sig = match n {
            nr::SYS_tgkill => a[2],
            _ => a[1],
        } as u32 as i32 as i64 as u64;
        // The target is looked up first: ESRCH for a target that does not exist, bad
        // signal or not; check_kill_permission()'s valid_signal() sees a target.
        let valid = || {
            if signal::valid_signal(sig) {
                Ok(())
            } else {
                Err(Errno::EINVAL)
            }
        };
        let info = SigInfo {
            signo: sig as u8,
            code: if n == nr::SYS_kill {
                signal::SI_USER
            } else {
                signal::SI_TKILL
            },
            addr: u64::from(sender),
            status: 0,
        };
        if n != nr::SYS_kill {
            let (tgid, target) = match n {
                nr::SYS_tkill => (None, a[0] as i64 as i32),
                _ => (Some(a[0] as i64 as i32), a[1] as i64 as i32),
            };
            if target <= 0 || tgid.is_some_and(|g| g <= 0) {
                return Err(Errno::EINVAL);
            }
            let target = target as u32;
            let live = self
                .tasks
                .get(&target)
                .is_some_and(|t| !matches!(t.state(), TaskState::Zombie(_)));
            let group = self.group_of(target).filter(|_| live).ok_or(Errno::ESRCH)?;
            if tgid.is_some_and(|g| g as u32 != group) {
                return Err(Errno::ESRCH);
            }
            valid()?;
            if sig != 0 {
                self.send_signal(hart, group, Some(target), info);
            }
            return Ok(SyscallOutcome::Return(0));
        }
        let targets = self.kill_targets(sender, a[0] as u32 as i32)?;
        valid()?;
        if sig != 0 {
            for t in targets {
                self.send_signal(hart, t, None, info);
            }
        }
        Ok(SyscallOutcome::Return(0))
    }

    /// The processes `kill(target, sig)` from process `pid` signals
    /// (`kill_something_info()`): `target > 0` the process holding that thread; `0` the
    /// caller's process group; `-1` every process but init (pid 1) and the caller; below
    /// `-1` the process group `-target` (`__kill_pgrp_info()`); `INT_MIN` (whose negation
    /// overflows) none. Zombies count: the signal reaches them and does nothing, and the
    /// call succeeds, as on Linux.
    ///
    /// # Errors
    /// `ESRCH` when nothing matches (an empty process group).
    fn kill_targets(&self, pid: u32, target: i32) -> KResult<Vec<u32>> {
        let targets: Vec<u32> = match target {
            t if t > 0 => vec![self.group_of(t as u32).ok_or(Errno::ESRCH)?],
            i32::MIN => return Err(Errno::ESRCH),
            0 => self.pgrp_members(self.pgrp_of(pid)?).collect(),
            -1 => self
                .all_pids()
                .into_iter()
                .filter(|&p| p > INIT_PID && p != pid)
                .collect(),
            t => self.pgrp_members(t.unsigned_abs()).collect(),
        };
        if targets.is_empty() {
            return Err(Errno::ESRCH);
        }
        Ok(targets)
    }

    /// Every process (thread group id), zombies included (`for_each_process()`).
    fn all_pids(&self) -> Vec<u32> {
        self.tasks
            .values()
            .filter(|t| t.tid == t.tgid)
            .map(|t| t.tgid)
            .collect()
    }

    /// Queues `info` for process `tgid` (`tid` = `None`: the shared queue) or for its
    /// task `tid`. A default-fatal signal to a process none of whose tasks runs on this
    /// hart ends it now (the whole group); otherwise a task that does not block it — the
    /// target task, or for a process-directed signal the one running here if it does not
    /// block it, else the first such thread (`complete_signal()`) — has its sleeping call
    /// interrupted with EINTR.
    fn send_signal(&mut self, hart: &mut Hart<'_>, tgid: u32, tid: Option<u32>, info: SigInfo) {
        if self.group_dead(tgid) {
            return;
        }
        let Some(leader) = self.tasks.get(&tgid) else {
            return;
        };
        let threads = leader.signal.threads();
        let cur = self.cur();
        let running = cur.is_some_and(|t| threads.contains(&t));
        let mask_of = |k: &Self, t: u32| -> Option<u64> {
            k.tasks
                .get(&t)
                .filter(|t| !matches!(t.state(), TaskState::Zombie(_)))
                .map(|t| t.signals.blocked.get())
        };
        let bit = 1u64 << info.signo.wrapping_sub(1).min(63);
        let target = match tid {
            Some(t) => t,
            None => threads
                .iter()
                .copied()
                .filter(|&t| mask_of(self, t).is_some_and(|m| m & bit == 0))
                // The task running here first, as Linux prefers current.
                .min_by_key(|&t| Some(t) != cur)
                .unwrap_or_else(|| threads.first().copied().unwrap_or(tgid)),
        };
        let Some(mask) = mask_of(self, target) else {
            return;
        };
        let Some(task) = self.tasks.get_mut(&target) else {
            return;
        };
        let act = task.signals.action(info.signo);
        let blocked = mask & bit != 0 && info.signo != SIGKILL;
        // A traced task's signals go to its tracer first, ignored or fatal ones too
        // (sig_ignored(), prepare_signal()); SIGKILL never does.
        let traced = task.ptrace.is_traced() && info.signo != SIGKILL;
        // An ignored signal is dropped at once unless it is blocked (sig_ignored()).
        if task.signals.is_ignored(info.signo) && !blocked && info.signo != SIGKILL && !traced {
            return;
        }
        if !running && !blocked && !traced && (act.handler == SIG_DFL || info.signo == SIGKILL) {
            let pc = task.run().ctx.pc;
            self.exit_process(hart, tgid, killed(info, pc));
            return;
        }
        // A standard signal (< 32) is pending at most once per queue; tkill/tgkill queue on
        // the task (`task->pending`), kill on the process (`signal->shared_pending`).
        // Real-time signals queue every instance.
        match tid {
            None => {
                signal::queue_signal(&mut task.signal.lock().shared_pending, info);
            }
            Some(_) => task.pending.push(info),
        }
        let state = task.state();
        // signal_wake_up() → kick_process(): a target running on another hart comes back
        // to the kernel, which delivers it.
        let this = self.this;
        if let Some(h) = self.on_hart.find(target, this) {
            self.smp.kick(h);
        }
        if !blocked {
            if let TaskState::Blocked(on) = state {
                // A vfork parent's call has already completed: nothing to interrupt; a
                // stopped tracee stays stopped until its tracer resumes it; a tracee's
                // call may be restarted after its stop.
                if matches!(on, WaitOn::Userfault | WaitOn::AsyncPf) {
                    self.userfault_interrupted(target);
                } else if !matches!(on, WaitOn::VforkDone(_) | WaitOn::Traced)
                    && !self.ptrace_restart_sleep(target, on)
                {
                    // Interrupt the sleeping call: it returns EINTR (interrupted calls
                    // are not restarted, SA_RESTART or not).
                    if on == WaitOn::Sleep {
                        self.write_sleep_remaining(hart, target);
                    }
                    self.poll_interrupted(hart, target);
                    let value = if on == WaitOn::Futex {
                        self.futex_wait_end(target, Errno::EINTR)
                    } else {
                        self.interrupted_return(target)
                    };
                    self.complete_blocked(target, value);
                }
            }
        }
    }

    /// A synchronous fault signal (`force_sig_fault`) for task `tid`: delivered to a
    /// handler if one is installed and the signal is not blocked; otherwise the default
    /// action ends the process (blocked or ignored fault signals cannot be ignored when
    /// forced).
    fn force_sig_fault(&mut self, hart: &mut Hart<'_>, tid: u32, info: SigInfo) {
        let Some(task) = self.tasks.get(&tid) else {
            return;
        };
        let act = task.signals.action(info.signo);
        if task.ptrace.is_traced() {
            // force_sig_info_to_task(): unblocked, and to the tracer first (deliver_pending).
            let tracee = self.tasks.get_mut(&tid);
            if let Some(t) = tracee {
                let blocked = t.signals.blocked.get();
                t.signals
                    .blocked
                    .set(blocked & !(1u64 << info.signo.wrapping_sub(1).min(63)));
                t.pending.push(info);
            }
            return;
        }
        if !act.has_handler() || task.signals.is_blocked(info.signo) {
            let tgid = task.tgid;
            self.exit_process(hart, tgid, killed(info, hart.pc));
            return;
        }
        self.handle_signal(hart, tid, info, act);
    }

    /// Delivers the first deliverable pending signal of task `tid` running on this hart,
    /// if any — its own queue first, then the process's (`dequeue_signal()`) — at the
    /// return to user mode (`get_signal` + `handle_signal`).
    fn deliver_pending(&mut self, hart: &mut Hart<'_>, tid: u32) {
        if !self.is_current(tid) {
            return;
        }
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        if task.state() != TaskState::Runnable {
            return;
        }
        if self.ptrace_exit_to_user(hart, tid) {
            return;
        }
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let signals = &task.signals;
        let deliverable = |s: &SigInfo| !signals.is_blocked(s.signo) || s.signo == SIGKILL;
        let info = if let Some(info) = task.pending.take_first(deliverable) {
            info
        } else {
            let mut g = task.signal.lock();
            match g.shared_pending.iter().position(deliverable) {
                Some(i) => g.shared_pending.remove(i),
                None => {
                    drop(g);
                    // rt_sigsuspend's temporary mask ends with the call if no handler ran.
                    if let Some(m) = task.signals.saved_mask.take() {
                        task.signals.blocked.set(m);
                    }
                    return;
                }
            }
        };
        if self.ptrace_signal(hart, tid, info) {
            return;
        }
        self.deliver_signal(hart, tid, info);
    }

    /// `get_signal()`'s action for signal `info` dequeued by task `tid` (running on
    /// this hart): the process dies, the signal is ignored, a traced task's stop signal
    /// stops it, or its handler runs (`handle_signal`).
    fn deliver_signal(&mut self, hart: &mut Hart<'_>, tid: u32, info: SigInfo) {
        if self.ptrace_group_stop(hart, tid, info) {
            return;
        }
        let Some(task) = self.tasks.get(&tid) else {
            return;
        };
        let act = task.signals.action(info.signo);
        let tgid = task.tgid;
        match act.handler {
            _ if info.signo == SIGKILL => self.exit_process(hart, tgid, killed(info, hart.pc)),
            SIG_IGN => {}
            SIG_DFL if signal::default_ignored(info.signo) => {}
            SIG_DFL => self.exit_process(hart, tgid, killed(info, hart.pc)),
            _ => {
                self.ptrace_handler_interrupts(hart, tid);
                self.handle_signal(hart, tid, info, act);
            }
        }
    }

    fn handle_signal(&mut self, hart: &mut Hart<'_>, tid: u32, info: SigInfo, act: SigAction) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let Some(mm) = task.mm.clone() else {
            return;
        };
        let mut ctx = hart.save_context();
        let (tramp, tgid) = (task.sigreturn_trampoline, task.tgid);
        let r = setup_rt_frame(
            &mut mm.uaccess(),
            &mut ctx,
            &mut task.signals,
            &info,
            &act,
            tramp,
        );
        match r {
            Ok(()) => {
                hart.restore_context(&ctx);
                apply_flush(self.smp, hart, task);
            }
            // The frame cannot be written: Linux forces SIGSEGV (force_sigsegv).
            Err(_) => {
                let info = SigInfo {
                    signo: SIGSEGV,
                    code: signal::SI_KERNEL,
                    addr: 0,
                    status: 0,
                };
                self.exit_process(hart, tgid, killed(info, hart.pc));
            }
        }
    }
}

/// `exit_robust_list()`: walks the robust list at `head` (`struct robust_list_head`:
/// `list.next`, `futex_offset`, `list_op_pending`) of the exiting thread `tid` and marks
/// each lock word it owns (`handle_futex_death()`): `FUTEX_OWNER_DIED`, keeping
/// `FUTEX_WAITERS`; a `list_op_pending` lock still 0 gets a waiter woken (the thread died
/// before taking it). Returns the addresses whose waiters must be woken. At most
/// `ROBUST_LIST_LIMIT` (2048) entries; a fault ends the walk.
fn exit_robust_list(u: &mut dyn UserAccess, head: u64, tid: u32) -> Vec<u64> {
    const ROBUST_LIST_LIMIT: usize = 2048;
    const FUTEX_WAITERS: u32 = 0x8000_0000;
    const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
    const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
    let mut wake = Vec::new();
    let mut death = |u: &mut dyn UserAccess, addr: u64, pending_op: bool| {
        let mut w = [0u8; 4];
        if !addr.is_multiple_of(4) || u.copy_from_user(addr, &mut w).is_err() {
            return;
        }
        let v = u32::from_le_bytes(w);
        // Died between taking the list entry and the lock: a waiter may need waking.
        if pending_op && v == 0 {
            wake.push(addr);
            return;
        }
        if v & FUTEX_TID_MASK != tid {
            return;
        }
        let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if u.copy_to_user(addr, &new.to_le_bytes()).is_ok() && v & FUTEX_WAITERS != 0 {
            wake.push(addr);
        }
    };
    let (Ok(first), Ok(offset), Ok(pending)) = (
        u.get_user_u64(head),
        u.get_user_u64(head.wrapping_add(8)),
        u.get_user_u64(head.wrapping_add(16)),
    ) else {
        return wake;
    };
    let (pending, offset) = (pending & !1, offset as i64);
    let mut entry = first & !1;
    for _ in 0..ROBUST_LIST_LIMIT {
        if entry == head {
            break;
        }
        let Ok(next) = u.get_user_u64(entry) else {
            break;
        };
        // The lock being taken or released (list_op_pending) is handled last.
        if entry != pending {
            death(u, entry.wrapping_add_signed(offset), false);
        }
        entry = next & !1;
    }
    if pending != 0 {
        death(u, pending.wrapping_add_signed(offset), true);
    }
    wake
}

/// `copy_process()`'s checks of `clone` flags that hold for every kind of task.
///
/// # Errors
/// `EINVAL` for a combination Linux refuses (see [`Kernel::sys_clone`]).
fn clone_flags_valid(flags: u64) -> KResult<()> {
    use clone::*;
    let both = |a: u64, b: u64| flags & (a | b) == a | b;
    if both(CLONE_NEWNS, CLONE_FS) || both(CLONE_NEWUSER, CLONE_FS) {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_THREAD != 0 && flags & (CLONE_NEWUSER | CLONE_NEWPID) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_PIDFD != 0 && flags & CLONE_THREAD != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// SIGCHLD's `si_code` and `si_status` for a child that ended with `st` (CLD_EXITED and
/// the exit code, or CLD_KILLED and the signal).
fn child_status(st: ExitStatus) -> (i32, i32) {
    match st {
        ExitStatus::Exited(c) => (wait::CLD_EXITED, i32::from(c)),
        ExitStatus::Signaled { signo, .. } => (wait::CLD_KILLED, i32::from(signo)),
        ExitStatus::InsnLimit => (wait::CLD_KILLED, i32::from(SIGKILL)),
    }
}

fn killed(info: SigInfo, pc: u64) -> ExitStatus {
    ExitStatus::Signaled {
        signo: info.signo,
        code: info.code,
        addr: info.addr,
        pc,
    }
}

/// `copy_thread()` (arch/riscv/kernel/process.c): the registers a new task created by
/// `clone` starts with — the caller's, resuming after the `ecall` with a0 = 0, on stack
/// `newsp` if it is not 0, and with `tp = tls` for `CLONE_SETTLS`.
fn copy_thread(hart: &Hart<'_>, flags: u64, newsp: u64, tls: u64) -> UserContext {
    let mut ctx = hart.save_context();
    ctx.x[10] = 0;
    ctx.pc = ctx.pc.wrapping_add(4);
    if newsp != 0 {
        ctx.x[2] = newsp;
    }
    if flags & clone::CLONE_SETTLS != 0 {
        ctx.x[4] = tls;
    }
    ctx
}

/// Carries out the TLB (and icache) maintenance the mm asked for — `flush_tlb_range()` /
/// `flush_tlb_mm()` and `flush_icache_all()` — on this hart and, by IPI with
/// acknowledgement, on the others ([`Smp::flush_tlb`]) — of what `task`'s address space
/// has pending from this kernel path, then the frees that waited for it
/// ([`flush_pending`]). The read side of the `mmap_lock` is enough: the gather is this
/// path's own, and faults on other harts may go on meanwhile (a frame is freed only after every hart let go of it).
fn apply_flush(smp: &Smp, hart: &mut Hart<'_>, task: &Task) {
    if let Some(mm) = &task.mm {
        flush_pending(smp, hart, &mm.mmap_read_lock());
    }
}

/// `switch_mm()`: loads `mm`'s `satp` on `hart`, after adding the hart to the harts that
/// may cache its ASID (`cpumask_set_cpu(cpu, mm_cpumask(next))`), which shootdowns of
/// that ASID go to.
fn switch_mm(smp: &Smp, hart: &mut Hart<'_>, mm: &Mm) {
    smp.note_asid(hart.hart_id(), mm.asid());
    hart.set_satp(mm.satp());
}

/// A context switch's address-space half, under one hold of `mm`'s `mmap_lock` read
/// side: `switch_mm()` to it ([`switch_mm`]), then the maintenance recorded in it carried
/// out ([`flush_pending`]).
fn switch_mm_and_flush(smp: &Smp, hart: &mut Hart<'_>, mm: &MmStruct) {
    let mm = mm.mmap_read_lock();
    switch_mm(smp, hart, &mm);
    flush_pending(smp, hart, &mm);
}

/// `tlb_finish_mmu()`'s second half for `mm` (whose `mmap_lock` the caller holds, either
/// side): the maintenance this kernel path recorded in it (its own gather, see
/// [`crate::mm::Mm::take_tlb_batch`]), carried out on the harts, then the frames that
/// waited for it freed ([`shootdown`]). No path takes another's records, so none waits
/// for another's shootdown before it returns to user mode.
fn flush_pending(smp: &Smp, hart: &mut Hart<'_>, mm: &Mm) {
    shootdown(smp, hart, mm.asid(), mm.take_tlb_batch());
}

/// `tlb_flush_mmu_tlbonly()` then `tlb_batch_pages_flush()`: the batch's maintenance
/// for `asid` on this hart and, acknowledged, on every other hart that may cache it
/// ([`Smp::flush_tlb`]); only then are its frames freed (the batch's drop), so no hart
/// can still reach a frame that is reused.
fn shootdown(smp: &Smp, hart: &mut Hart<'_>, asid: u16, batch: crate::mm::TlbBatch) {
    smp.flush_tlb(hart, asid, batch.flush);
    drop(batch);
}

/// Prices the kernel work this hart's thread did since `before` (a
/// [`crate::mm::KernelEvents`] snapshot) with the cost model, charges it to `hart` and
/// counts it on the hart's counters `stat`. Returns its modelled cycles.
fn account_kernel_work(
    phys: &PhysMem,
    config: &KernelConfig,
    stat: &KernelCounters,
    hart: &mut Hart<'_>,
    before: &KernelEventCounts,
) -> u64 {
    let work = phys.events().snapshot().since(before);
    let cycles = work.cycles(&config.cost);
    hart.charge_cycles(cycles);
    stat.add_kernel_work(&work, cycles);
    cycles
}

/// A user page fault at `va` in `mm` (riscv `do_page_fault()` → `handle_mm_fault()`),
/// under the read side of the `mmap_lock` as Linux takes it: `lock_mm_and_find_vma()`
/// ([`MmStruct::lock_mm_and_find_vma`], which takes the write side only to grow a
/// stack), then [`Mm::handle_page_fault_vma`], whose PTE changes take the page-table
/// locks. Faults of threads of one address space on several harts run at once. The
/// TLB maintenance the fault leaves (and any another path left pending in `mm`) is
/// carried out before the lock is dropped, the frames it freed only after that
/// ([`flush_pending`]); for a fault that succeeded, `update_mmu_cache()`: the
/// translation the TLB may still hold with the old permissions (a spurious fault on an
/// upgraded PTE) is dropped.
///
/// # Errors
/// [`UserFaultError`] when the fault cannot be resolved (`mm_fault_error()`'s cases).
fn user_fault(
    smp: &Smp,
    hart: &mut Hart<'_>,
    mm: &MmStruct,
    va: u64,
    access: mmu::AccessType,
    async_pf: bool,
) -> Result<(), UserFaultError> {
    let (mm, vma) = mm.lock_mm_and_find_vma(va)?;
    if vma.flags.contains(crate::mm::VmFlags::MTE) && !crate::mm::mte::hart_tagging_on(hart) {
        // PTE.MTAG is a reserved bit to a hart with tagging off: turn it on (the fault
        // below finds the PTE in place and the access is retried).
        crate::mm::mte::enable_for_tagged_vma(hart);
    }
    let flags = FaultFlags::for_user_access(access);
    // kvm_arch_setup_async_pf()'s question: does the page have to come back from swap?
    // Then the kernel queues the fault instead (`kernel/async_pf.rs`).
    if async_pf && mm.fault_needs_io(&vma, va, flags) {
        return Err(UserFaultError::AsyncPf);
    }
    let r = mm.handle_page_fault_vma(&vma, va, flags);
    flush_pending(smp, hart, &mm);
    if r.is_ok() {
        hart.sfence_vma(Some(va), Some(mm.asid()));
    }
    r
}

#[path = "oom.rs"]
mod oom;

#[cfg(test)]
#[path = "thread_tests.rs"]
mod tests;
