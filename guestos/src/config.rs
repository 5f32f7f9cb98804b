//! What a run of the machine is configured with, and what it reports.

use std::path::PathBuf;

use crate::mm::{GupGeneration, KernelEventCounts};
use emu::{CostModel, HartStats};
use mmu::{AdScheme, MmuCounters, SatpMode, TlbGeometry};

use crate::lockstat::LockClassStats;
use crate::mm::ThpStats;

/// Guest-physical base of RAM (as on QEMU `virt` and most RISC-V boards).
pub const RAM_BASE: u64 = 0x8000_0000;

/// Machine and kernel knobs of one run.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// Guest RAM in bytes (host memory is committed only as pages are touched).
    pub mem_bytes: u64,
    /// Paging mode of user address spaces.
    pub paging: SatpMode,
    /// A/D update scheme of the harts' walkers.
    pub ad: AdScheme,
    /// TLB geometry of each hart.
    pub tlb: TlbGeometry,
    /// The cycle model.
    pub cost: CostModel,
    /// Stop after exactly this many retired instructions in total over the harts (the
    /// run ends with [`ExitStatus::InsnLimit`]; in deterministic mode at the same
    /// instruction for the same seed). Each hart claims its quanta from this budget
    /// without the kernel lock, so faults and calls are still served on the harts.
    pub max_insns: Option<u64>,
    /// Trace system calls to the stderr stream.
    pub strace: bool,
    /// Host files copied into the guest file system at start: `(host path, guest path)`.
    pub files: Vec<(PathBuf, String)>,
    /// Seed of AT_RANDOM, `getrandom` and `/dev/urandom`.
    pub seed: u64,
    /// Which kernel generation's GUP rules every address space follows (`--gup`).
    pub gup: GupGeneration,
    /// How threads are scheduled and what the guest clocks follow (`--sched`).
    pub sched: SchedMode,
    /// Instructions a hart runs at most before it returns to the kernel's loop (the most
    /// it claims of the instruction limit at once; in deterministic mode the bound of the
    /// seeded quantum). The time slice itself is measured in time (see [`SchedMode`]).
    pub quantum_insns: u64,
    /// Number of harts (`--harts`, 1 to [`MAX_HARTS`]).
    pub harts: usize,
    /// Parallel mode: each hart runs on a host thread of its own pinned to one host CPU,
    /// hart `i` to the `i`-th CPU the process may use, round robin (`sched_setaffinity()`;
    /// `--pin-harts`, and always in `dirtybit bench faults`/`smp`), so that a measured
    /// run does not depend on where the host scheduler puts the harts. Off: the host
    /// scheduler places them (and one hart runs on the caller's thread).
    pub pin_harts: bool,
    /// hugetlb pools filled at boot (`--hugepages`, the kernel's `hugepagesz=` /
    /// `hugepages=` pairs): `(page size in bytes, count)`, each pool getting as many
    /// pages as guest RAM holds, at most its count (see
    /// [`crate::mm::hugetlb::hugetlb_init`]). A size without a pool is ignored, as
    /// Linux ignores an unsupported `hugepagesz=`.
    pub hugepages: Vec<(u64, u64)>,
    /// Size in bytes of the swap area (`--swap`; 0: no swap, as a machine without
    /// `swapon`). Slot 0 is the header, so `bytes / 4096 - 1` pages fit.
    pub swap_bytes: u64,
    /// Keep the swap area in this host file (`--swap-file`, created or truncated to
    /// [`KernelConfig::swap_bytes`]) instead of anonymous host memory.
    pub swap_file: Option<std::path::PathBuf>,
    /// Host time each swap read or write waits (`--swap-latency`), parallel mode only:
    /// deterministic mode prices swap I/O in modelled cycles alone (`k_swap_read`,
    /// `k_swap_write`), which host time never enters.
    pub swap_latency: Option<std::time::Duration>,
    /// Asynchronous page faults (`--async-pf on|off`, on by default): a user fault that
    /// must read its page from swap parks its task while a kernel worker reads it, and
    /// the hart runs another task (`kernel/async_pf.rs`). Parallel mode only:
    /// deterministic mode faults synchronously.
    pub async_pf: bool,
}

/// The most harts a machine may have (`--harts`).
pub const MAX_HARTS: usize = 64;

/// How the kernel schedules threads, and what the guest clocks follow (`--sched`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedMode {
    /// Each hart is one host thread running guest code in parallel with the others; a hart
    /// picks the runnable thread that has had the least CPU time (user and kernel, in host
    /// time) and runs it for a time slice (6 ms shared by the runnable threads, at least
    /// 0.75 ms) unless a woken thread preempts it, as Linux's CFS; the guest clocks are
    /// the host's.
    #[default]
    Parallel,
    /// A scheduler seeded by [`KernelConfig::seed`] decides at every scheduling point —
    /// a quantum's end, a kernel entry (taking the kernel lock), a `cond_resched()` in
    /// GUP, blocking — which hart runs next (only one host thread runs at a time), which
    /// runnable thread it picks among those within 0.75 ms of CPU time of the least-run
    /// one (CPU time in modelled cycles, kernel work included) and the length of its
    /// quantum (1 to `quantum_insns` instructions, ending by the earliest timer), and the
    /// guest clocks are virtual (modelled cycles at 1 GHz from
    /// [`DETERMINISTIC_EPOCH_NS`]): the same seed gives the same interleaving, output,
    /// counters and modelled cycles; another seed, another interleaving.
    Deterministic,
}

/// `CLOCK_REALTIME` at boot in [`SchedMode::Deterministic`]: 2026-01-01T00:00:00Z in ns.
pub const DETERMINISTIC_EPOCH_NS: u64 = 1_767_225_600_000_000_000;

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            mem_bytes: 1 << 30,
            paging: SatpMode::Sv39,
            ad: AdScheme::Svadu,
            tlb: TlbGeometry::default(),
            cost: CostModel::default(),
            max_insns: None,
            strace: false,
            files: Vec::new(),
            seed: 0,
            gup: GupGeneration::Modern,
            sched: SchedMode::Parallel,
            quantum_insns: 1 << 20,
            harts: 1,
            pin_harts: false,
            hugepages: Vec::new(),
            swap_bytes: 0,
            swap_file: None,
            swap_latency: None,
            async_pf: true,
        }
    }
}

impl KernelConfig {
    /// The size of the guest's in-memory file system in bytes: tmpfs's default `size=`,
    /// half of RAM (`shmem_default_max_blocks()`: `totalram_pages() / 2`). File data,
    /// `--file` contents and the image's copy (`/proc/self/exe`) are charged to it, so
    /// they take at most this much host memory.
    pub fn tmpfs_size_bytes(&self) -> u64 {
        self.mem_bytes / 2
    }
}

/// How the guest program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit`/`exit_group` with this status (low 8 bits, as `wait` reports them).
    Exited(u8),
    /// Killed by a signal.
    Signaled {
        /// The signal number (e.g. 11 = SIGSEGV).
        signo: u8,
        /// `si_code` (e.g. SEGV_MAPERR = 1, SEGV_ACCERR = 2).
        code: i32,
        /// `si_addr`: the faulting address, or the PC for SIGILL/SIGTRAP.
        addr: u64,
        /// The PC of the instruction that caused it.
        pc: u64,
    },
    /// Stopped by `--max-insns`.
    InsnLimit,
}

impl ExitStatus {
    /// The exit status a shell would report: the code, 128 + signal, or 124 (as
    /// `timeout(1)`) for the instruction limit.
    pub fn shell_code(&self) -> u8 {
        match *self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled { signo, .. } => 128u8.saturating_add(signo),
            ExitStatus::InsnLimit => 124,
        }
    }
}

/// Kernel-side counters of a run. The event counts (calls, faults, wake-ups, lock
/// entries, kernel work) are kept per hart during the run, each hart counting its own
/// without a lock as Linux's per-CPU counters, and summed here when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// System calls handled.
    pub syscalls: u64,
    /// User page faults handled (including Svade A/D faults).
    pub page_faults: u64,
    /// Of those, the ones a hart handled without the kernel lock, under the read side of
    /// the address space's `mmap_lock` (parallel mode, see `kernel.rs`).
    pub unlocked_faults: u64,
    /// System calls a hart served without the kernel lock, under the locks of the state
    /// they reach (the memory-map calls under the `mmap_lock`; the file and identity
    /// calls of `syscall::unlocked`; parallel mode, see `kernel.rs`).
    pub unlocked_syscalls: u64,
    /// `futex` calls handled, with or without the kernel lock (counted in `syscalls`).
    pub futex_calls: u64,
    /// Of those, the ones a hart served without the kernel lock, under the futex hash
    /// buckets' locks (`futex::FutexHash`; parallel mode, see `kernel.rs`): every call
    /// but a wait that sleeps (queued without the kernel lock, it blocks under it).
    pub unlocked_futex_calls: u64,
    /// Futex waiters that a hart serving a wake without the kernel lock enqueued on
    /// their target hart's run queue itself (`try_to_wake_up()` under the task's
    /// `pi_lock` and that queue's `rq->lock`; parallel mode, see `kernel/ttwu.rs`).
    pub ttwu_unlocked: u64,
    /// Of those, the ones enqueued on another hart's queue than the waker's.
    pub ttwu_unlocked_remote: u64,
    /// What harts serving calls without the kernel lock queued on the wake list
    /// (`rq->wake_list`, `ttwu_queue_wakelist()`) instead of waiting for the lock:
    /// descriptions whose final `fput()` is the kernel's (parallel mode; see
    /// `kernel/ttwu.rs`). Each is released by whoever holds the kernel lock next: the
    /// queuer itself if its try of the lock succeeded, otherwise the holder, before it
    /// lets the lock go.
    pub wakelist_queued: u64,
    /// Of those, the ones a kernel-lock holder drained for another hart (the waker found
    /// the lock held and did not wait).
    pub wakelist_drained_remote: u64,
    /// Times a waker (or a holder re-checking the list after its release) took the
    /// kernel lock by a try to drain the wake list itself.
    pub wakelist_trylocks: u64,
    /// Times a hart took the kernel lock waiting for it if held (`Machine::lock`: every
    /// kernel entry; not an idle hart's return from its wait, nor the tries of
    /// `wakelist_trylocks`): this machine's own count, where the `kernel_lock` line of
    /// `lock_stat` also counts the tries, and the takes of other machines in the same
    /// host process.
    pub kernel_lock_acquisitions: u64,
    /// Processes killed by the OOM killer (`oom_kill` in `/proc/vmstat`).
    pub oom_kills: u64,
    /// MMU events of the kernel's own user-memory accesses (copy_to/from_user).
    pub uaccess_mmu: MmuCounters,
    /// Guest frames in use at the high-water mark.
    pub peak_frames: u64,
    /// Frames still referenced after every process was torn down at the end of the run,
    /// beyond those the kernel itself keeps (the zero page): leaked references or pins.
    /// Zero on a healthy kernel.
    pub frames_leaked: u64,
    /// Page-metadata inconsistencies found by the final audit (`PageAlloc::audit`):
    /// referenced-but-free or free-but-referenced frames, and puts of unreferenced pages;
    /// and page-cache pages whose metadata disagree with the cache index
    /// (`PageCache::audit`).
    pub page_audit_errors: u64,
    /// Swap slots still in use after every process was torn down (the swap-slot audit:
    /// each swap PTE's reference must have been given back). Zero on a healthy kernel.
    pub swap_slots_leaked: u64,
    /// Asynchronous page faults queued to a worker (`--async-pf on`).
    pub async_pf_queued: u64,
    /// Asynchronous page faults a worker completed ("page ready").
    pub async_pf_completed: u64,
    /// Faults that could have gone asynchronous but were handled synchronously: the hart
    /// had `ASYNC_PF_PER_VCPU` (64) outstanding.
    pub async_pf_sync_fallbacks: u64,
    /// Faults handled synchronously because the task's previous asynchronous fault was
    /// for the same page, swapped out again before the access was re-executed.
    pub async_pf_repeated: u64,
    /// Host nanoseconds tasks spent parked on asynchronous page faults (queued to
    /// completed, summed).
    pub async_pf_parked_ns: u64,
    /// The most page-cache pages (guest frames holding file data) at once.
    pub page_cache_peak_pages: u64,
    /// Page-cache pages read in from the backing store.
    pub page_cache_read_ins: u64,
    /// Dirty page-cache pages written back to the backing store (fsync, msync, sync,
    /// reclaim, shutdown).
    pub page_cache_written_back: u64,
    /// Page-cache pages evicted under memory pressure.
    pub page_cache_evicted: u64,
    /// Transparent-huge-page events over the whole run (faults, huge zero maps, PMD and
    /// folio splits; Linux's `thp_*` vmstat lines), teardown included.
    pub thp: ThpStats,
    /// Kernel-primitive events of the system calls and faults handled (see
    /// `mm::events`), including the `WARN()`s printed.
    pub kernel_events: KernelEventCounts,
    /// Their modelled cycles, charged to the harts (included in `HartStats::cycles`).
    pub kernel_cycles: u64,
    /// TLB shootdown requests posted to remote harts (one per remote hart per flush).
    pub tlb_shootdowns: u64,
    /// Software interrupts raised between harts (shootdowns and kicks).
    pub ipis: u64,
    /// Shootdowns that had to wait for a hart in user mode to acknowledge.
    pub shootdown_ack_waits: u64,
    /// System calls that stopped at a scheduling point (`cond_resched()` in GUP) and were
    /// re-issued to resume.
    pub resched_stops: u64,
    /// System calls that handed work to their hart to run without the kernel lock (the
    /// lockless `gup_fast()` walks of the gup_test fast benchmarks).
    pub unlocked_calls: u64,
    /// Quanta renewed on the hart without the kernel lock: the running task's quantum
    /// ran out with no other task waiting for a hart (`scheduler_tick()` with nothing
    /// to switch to).
    pub unlocked_quanta: u64,
    /// Sleeps begun without the kernel lock (`FUTEX_WAIT`, `nanosleep`, a pipe `read` or
    /// `write`): the task blocked and its hart went on to pick the next task on its own
    /// (`kernel/switch.rs`).
    pub unlocked_sleeps: u64,
    /// Of [`KernelStats::unlocked_sleeps`], the pipe `read`/`write` sleeps (on the
    /// pipe's wait queue; the call is re-issued on its hart when woken).
    pub unlocked_io_sleeps: u64,
    /// Tasks switched in without the kernel lock: a hart whose task slept there picked
    /// the next one from its run queue and loaded it (`kernel/switch.rs`).
    pub unlocked_switches: u64,
    /// Tasks whose time slice ended (or that a wake-up preempted) put back on their
    /// run queue without the kernel lock, the hart going on to switch one in
    /// (`kernel/switch.rs`).
    pub unlocked_preemptions: u64,
    /// Idle periods of a hart without the kernel lock: its queue empty after a sleep or
    /// a preemption there, it waited on its doorbell and picked again
    /// (`kernel/switch.rs`, [`crate::kernel`]'s idle harts).
    pub unlocked_idles: u64,
    /// Signals delivered to their handlers without the kernel lock: taken off the
    /// task's queue or its process's and their frames pushed by the hart running the
    /// task, on its way back to user mode (`syscall::unlocked`'s `deliver_handled`).
    pub unlocked_signals: u64,
    /// Deterministic mode: scheduling points at which another hart took over.
    pub baton_switches: u64,
    /// Deterministic mode: of those, the ones at a contended lock acquisition (the lock
    /// held by a hart parked at a scheduling point; see `sync`'s *Scheduling points*).
    pub baton_lock_waits: u64,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// How the program ended.
    pub status: ExitStatus,
    /// Hart counters, summed over harts.
    pub hart: HartStats,
    /// Each hart's counters, by hart id.
    pub per_hart: Vec<HartStats>,
    /// Kernel counters.
    pub kernel: KernelStats,
    /// Lock statistics over the run, one entry per lock class taken (`/proc/lock_stat`;
    /// see [`crate::lockstat`] for what a concurrent run in the same host process adds).
    pub lock_stat: Vec<LockClassStats>,
    /// Host wall-clock seconds spent running (for MIPS).
    pub host_seconds: f64,
}
