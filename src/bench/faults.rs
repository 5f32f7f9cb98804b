//! `dirtybit bench faults`: page-fault throughput on 1 and more harts, and what the
//! kernel's locks cost it.
//!
//! The workload is `guest/bin/faults` (embedded, `guest/src/faults.c`) in its two modes:
//! - `procs`: P processes (fork), each looping `rounds` times over mmap of 256 anonymous
//!   pages, a write to each (one `do_anonymous_page()` fault per page), munmap — every
//!   process has its own `mm`;
//! - `threads`: T threads of one process, each looping over its own 256-page region:
//!   a write to each page, `madvise(MADV_DONTNEED)` — one `mm` shared by all.
//!
//! With `--read-first` the modes are `procs-read` and `threads-read`: each page is read
//! before it is written, so a read fault maps the shared zero page and the write copies
//! it (`wp_page_copy()`), which for threads breaks before it makes — the old translation
//! shot down on the other harts under the page-table lock (`ptep_clear_flush()`): two
//! faults and an IPI round trip per page.
//!
//! Each row runs one mode in parallel mode (one host thread per hart) `samples` times and
//! reports the median run by host time: its host seconds, the speedup over the 1-hart
//! row of the same mode, modelled cycles (all harts), page faults handled, and the
//! kernel's lock statistics (`/proc/lock_stat`'s acquisitions, contentions and total wait,
//! see [`guestos::lockstat`]). The workload prints only counts and checksums that do not
//! depend on the interleaving, so every run of a mode must print the same (checked).

use guestos::lockstat::{LockClassStats, KERNEL_LOCK};
use guestos::RunReport;

use super::{run_workload, Spread};
use crate::{Error, RunOptions};

/// The page-fault workload image (`guest/src/faults.c`).
pub const FAULTS_IMAGE: &[u8] = include_bytes!("../../guest/bin/faults");

/// Pages each worker faults in per round (`REGION_PAGES` of `faults.c`, 4 KiB each).
pub const PAGES_PER_ROUND: u64 = 256;

/// The modes of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Processes (fork), each with its own address space: mmap, touch, munmap.
    Procs,
    /// Threads of one process, sharing its address space: touch, `MADV_DONTNEED`.
    Threads,
    /// [`Workload::Procs`] reading each page before writing it (zero page, then COW).
    ProcsRead,
    /// [`Workload::Threads`] reading each page before writing it (zero page, then COW
    /// with a shootdown).
    ThreadsRead,
}

impl Workload {
    /// The two write-first modes, in the order the table lists them.
    pub const ALL: [Workload; 2] = [Workload::Procs, Workload::Threads];
    /// The two read-first modes (`--read-first`).
    pub const READ_FIRST: [Workload; 2] = [Workload::ProcsRead, Workload::ThreadsRead];

    /// The mode's name: the workload's first argument and the table's first column.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Procs => "procs",
            Workload::Threads => "threads",
            Workload::ProcsRead => "procs-read",
            Workload::ThreadsRead => "threads-read",
        }
    }
}

/// Runs the workload once: `workers` processes or threads, `rounds` rounds each, on the
/// machine `opts` describes. Returns the run's report and the guest's stdout.
///
/// # Errors
/// [`Error`] from the run; [`Error::BadFlag`] if the guest did not exit with status 0
/// (one of its checks failed: a page not zero-filled, a word read back wrong).
pub fn run_once(
    opts: &RunOptions,
    workload: Workload,
    workers: u32,
    rounds: u32,
) -> Result<(RunReport, Vec<u8>), Error> {
    let args = [
        workload.label().to_string(),
        workers.to_string(),
        rounds.to_string(),
    ];
    run_workload(
        opts,
        FAULTS_IMAGE,
        "faults",
        &args,
        &format!("faults workload ({} {workers} {rounds})", workload.label()),
    )
}

/// What `dirtybit bench faults` measures: the sizes of the two modes and the machines.
#[derive(Debug, Clone)]
pub struct FaultsBench {
    /// Processes of the `procs` mode (1-64).
    pub procs: u32,
    /// Threads of the `threads` mode (1-64).
    pub threads: u32,
    /// Rounds per worker, [`PAGES_PER_ROUND`] page faults each.
    pub rounds: u32,
    /// Hart counts to run, in parallel mode.
    pub harts: Vec<usize>,
    /// Runs per row (the row is their median by host time).
    pub samples: usize,
    /// Run the read-first modes ([`Workload::READ_FIRST`]) instead of the write-first ones.
    pub read_first: bool,
}

impl FaultsBench {
    /// Processes or threads of `workload`.
    pub fn workers(&self, workload: Workload) -> u32 {
        match workload {
            Workload::Procs | Workload::ProcsRead => self.procs,
            Workload::Threads | Workload::ThreadsRead => self.threads,
        }
    }

    /// The modes to run.
    pub fn workloads(&self) -> [Workload; 2] {
        if self.read_first {
            Workload::READ_FIRST
        } else {
            Workload::ALL
        }
    }
}

/// One measured configuration: the median run (by host time) of one mode on one hart
/// count.
#[derive(Debug, Clone)]
pub struct FaultsRow {
    /// The mode.
    pub workload: Workload,
    /// Processes or threads.
    pub workers: u32,
    /// Harts.
    pub harts: usize,
    /// Median host wall seconds.
    pub seconds: f64,
    /// The runs' host seconds: median and spread.
    pub spread: Spread,
    /// Modelled cycles of all harts (of the median run).
    pub cycles: u64,
    /// User page faults the kernel handled (of the median run).
    pub page_faults: u64,
    /// The kernel lock's statistics (of the median run).
    pub kernel_lock: LockClassStats,
    /// Every other lock class taken in the median run.
    pub other_locks: Vec<LockClassStats>,
}

/// Runs each mode of `bench` `samples` times in parallel mode on every hart count of
/// `harts`, on the machine `base` describes otherwise, and returns the rows, mode by mode
/// in the order of `harts`.
///
/// # Errors
/// As [`run_once`]; [`Error::BadFlag`] if a run of a mode prints other counts or checksums
/// than its first run.
pub fn measure(base: &RunOptions, bench: &FaultsBench) -> Result<Vec<FaultsRow>, Error> {
    let mut rows = Vec::new();
    for workload in bench.workloads() {
        let workers = bench.workers(workload);
        let mut reference: Option<Vec<u8>> = None;
        for &h in &bench.harts {
            let opts = RunOptions {
                harts: h,
                sched: "parallel".to_string(),
                pin_harts: true,
                ..base.clone()
            };
            let mut runs = Vec::new();
            for _ in 0..bench.samples.max(1) {
                let (report, out) = run_once(&opts, workload, workers, bench.rounds)?;
                match &reference {
                    None => reference = Some(out),
                    Some(r) if *r != out => {
                        return Err(Error::BadFlag(format!(
                            "the faults workload ({}) printed different results on {h} harts",
                            workload.label()
                        )))
                    }
                    Some(_) => {}
                }
                runs.push(report);
            }
            let spread = Spread::of(runs.iter().map(|r| r.host_seconds).collect());
            runs.sort_by(|a, b| a.host_seconds.total_cmp(&b.host_seconds));
            let Some(r) = runs.get(runs.len() / 2) else {
                continue;
            };
            let (kernel, other_locks): (Vec<_>, Vec<_>) = r
                .lock_stat
                .iter()
                .copied()
                .partition(|l| l.name == KERNEL_LOCK.name());
            let kernel_lock = kernel.first().copied().unwrap_or(LockClassStats {
                name: KERNEL_LOCK.name(),
                acquisitions: 0,
                contentions: 0,
                wait_ns: 0,
            });
            rows.push(FaultsRow {
                workload,
                workers,
                harts: h,
                seconds: r.host_seconds,
                spread,
                cycles: r.hart.cycles,
                page_faults: r.kernel.page_faults,
                kernel_lock,
                other_locks,
            });
        }
    }
    Ok(rows)
}

/// `dirtybit bench faults`: prints the rows of [`measure`].
///
/// # Errors
/// As [`measure`].
pub fn run(base: &RunOptions, bench: &FaultsBench) -> Result<(), Error> {
    let rows = measure(base, bench)?;
    let FaultsBench {
        procs,
        threads,
        rounds,
        samples,
        ..
    } = bench;
    outln!(
        "faults workload: procs {procs} x {rounds} rounds, threads {threads} x {rounds} rounds, \
         {PAGES_PER_ROUND} pages a round; parallel mode, median of {samples} runs, {} host CPUs, \
         harts pinned",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    outln!(
        "{:<12} {:>7} {:>5} {:>9} {:>13} {:>8} {:>14} {:>10} {:>10} {:>10} {:>10}",
        "workload",
        "workers",
        "harts",
        "host s",
        "min-max s",
        "speedup",
        "mcycles",
        "faults",
        "lock acq",
        "contended",
        "wait ms"
    );
    for r in &rows {
        let one = rows
            .iter()
            .find(|o| o.workload == r.workload && o.harts == 1)
            .map(|o| o.seconds);
        let speedup = one.map_or("-".to_string(), |o| {
            format!("{:.2}x", o / r.seconds.max(1e-9))
        });
        outln!(
            "{:<12} {:>7} {:>5} {:>9.3} {:>13} {:>8} {:>14} {:>10} {:>10} {:>10} {:>10.3}",
            r.workload.label(),
            r.workers,
            r.harts,
            r.seconds,
            r.spread.range(),
            speedup,
            r.cycles,
            r.page_faults,
            r.kernel_lock.acquisitions,
            r.kernel_lock.contentions,
            r.kernel_lock.wait_ms()
        );
        for l in &r.other_locks {
            outln!(
                "{:>85} {:>10} {:>10} {:>10.3}",
                format!("lock {}", l.name),
                l.acquisitions,
                l.contentions,
                l.wait_ms()
            );
        }
    }
    outln!(
        "lock acq / contended / wait ms: the kernel lock ({}) as /proc/lock_stat counts it \
         (acquisitions, contentions, total wait); other lock classes on their own lines",
        KERNEL_LOCK.name()
    );
    Ok(())
}
