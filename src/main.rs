//! `dirtybit`: run static riscv64 Linux programs on the emulated machine, benchmark it, and
//! print what the hardware did.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use dirtybit::{bench, run_report, RunOptions};

#[derive(Parser)]
#[command(name = "dirtybit", version, about = "An emulated RISC-V machine with a tiny Linux-like guest OS", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a static riscv64 Linux ELF image.
    Run(RunArgs),
    /// Run the built-in benchmarks and print MIPS and modelled cycles (`bench pin`: the
    /// cost of GUP references and pins per page).
    Bench(BenchArgs),
    /// Print the default cycle-model table (modelled cycles per event).
    CostTable,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// Print the hardware counters and modelled cycles to stderr at exit.
    #[arg(long)]
    stats: bool,
    /// Trace system calls to stderr.
    #[arg(long)]
    strace: bool,
    /// Copy a host file into the guest file system (`HOST[:GUEST]`; GUEST defaults to the
    /// same absolute path). Repeatable.
    #[arg(long = "file", value_name = "HOST[:GUEST]")]
    files: Vec<String>,
    /// Start the guest's environment empty instead of from the host's (as `env -i`). The
    /// environment's size moves the initial stack and with it what a deterministic seed
    /// interleaves: a replay on another machine needs the same environment.
    #[arg(long)]
    env_clear: bool,
    /// Set KEY=VALUE in the guest's environment (after `--env-clear`, or over the host's).
    /// Repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<String>,
    /// The image to run.
    image: PathBuf,
    /// Arguments passed to the guest program.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args, Clone)]
struct MachineArgs {
    /// Guest RAM size (bytes, or with a K/M/G suffix). Host memory grows with the pages the
    /// guest touches, not with this value.
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    mem: u64,
    /// hugetlb pool at boot: N 2 MiB pages, or with a size (2M:N, 1G:N) N pages of that
    /// size, as many as RAM holds (Linux's `hugepagesz=`/`hugepages=` boot parameters;
    /// repeat for both sizes; the guest may change them through
    /// /sys/kernel/mm/hugepages/hugepages-{2048,1048576}kB/nr_hugepages). A 1 GiB page
    /// needs a free, aligned gigabyte of guest RAM: `--mem 4G --hugepages 1G:2`.
    #[arg(long, value_name = "[SIZE:]N", value_parser = parse_hugepages)]
    hugepages: Vec<(u64, u64)>,
    /// Swap area size (bytes, or with a K/M/G suffix; 0: no swap): anonymous memory that
    /// `MADV_PAGEOUT` pushes out goes to its 4 KiB slots (`swapon` of a swap device).
    /// Host memory grows with the slots written.
    #[arg(long, default_value = "0", value_parser = parse_size)]
    swap: u64,
    /// Keep the swap area in this host file (created, or truncated to --swap's size)
    /// instead of anonymous host memory.
    #[arg(long, value_name = "PATH")]
    swap_file: Option<PathBuf>,
    /// Host time each swap page read or write waits, as a device's access time (e.g.
    /// 50us, 2ms; parallel mode only: modelled cycles price swap I/O in every mode,
    /// `k_swap_read`/`k_swap_write`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    swap_latency: Option<std::time::Duration>,
    /// Asynchronous page faults: a user fault that must read its page from swap parks
    /// its task while a kernel worker reads it, and the hart runs another task
    /// (parallel mode; deterministic mode faults synchronously).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    async_pf: String,
    /// Paging mode.
    #[arg(long, default_value = "sv39", value_parser = ["sv39", "sv48"])]
    paging: String,
    /// A/D update scheme: hardware updating (svadu) or page faults (svade).
    #[arg(long, default_value = "svadu", value_parser = ["svadu", "svade"])]
    ad: String,
    /// TLB geometry as ENTRIESxWAYS (entries/ways must be a power of two).
    #[arg(long, default_value = "64x4")]
    tlb: String,
    /// Stop the guest after this many instructions (exit status 124).
    #[arg(long, value_name = "N")]
    max_insns: Option<u64>,
    /// Cycle-model overrides, `NAME=CYCLES,...` (see `dirtybit cost-table`).
    #[arg(long, value_name = "NAME=CYCLES,...")]
    cost: Option<String>,
    /// Seed of the guest's random sources (AT_RANDOM, getrandom, /dev/urandom) and, with
    /// --sched deterministic, of the scheduler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Kernel generation of the get_user_pages rules: dirtycow (before 4.9: faultin_page
    /// drops FOLL_WRITE after COW), foll-cow (4.9-5.19: FOLL_COW + pte_dirty), modern
    /// (6.2+: PageAnonExclusive, FAULT_FLAG_UNSHARE).
    #[arg(long, default_value = "modern", value_parser = ["dirtycow", "foll-cow", "modern"])]
    gup: String,
    /// Scheduler: parallel (fair: least CPU time first, time slices in host time, host
    /// clocks; one host thread per hart) or
    /// deterministic (every scheduling choice and quantum drawn from --seed, virtual
    /// clocks: the same seed gives the same interleaving, output and cycles).
    #[arg(long, default_value = "parallel", value_parser = ["parallel", "deterministic"])]
    sched: String,
    /// Number of harts (1-64). Parallel mode runs each on its own host thread.
    #[arg(long, default_value_t = 1, value_name = "N")]
    harts: usize,
    /// Parallel mode: pin hart i's host thread to the i-th host CPU this process may use
    /// (round robin), so that where the host scheduler puts the harts does not change the
    /// run's speed. `bench faults` and `bench smp` always pin.
    #[arg(long)]
    pin_harts: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    what: Option<BenchCommand>,
    #[command(flatten)]
    machine: MachineArgs,
    /// Images to benchmark (default: the CPU workloads in guest/bin next to the sources,
    /// else the embedded loop image).
    images: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// get_user_pages_fast, pin_user_pages_fast, pin_user_pages and pin_user_pages with
    /// FOLL_LONGTERM: modelled cycles and host ns per page, 1/16/512 pages per call,
    /// populated or faulting, by folio size (the gup_test ioctl's kernel code).
    Pin(PinBenchArgs),
    /// Throughput of an embarrassingly parallel guest workload (guest/bin/parallel,
    /// embedded) on 1 and more harts in parallel mode, and deterministic mode's cost.
    /// Each hart's host thread is pinned to a host CPU of its own (--pin-harts); the
    /// table gives the median of the samples and their spread (fastest-slowest).
    Smp(SmpBenchArgs),
    /// Page-fault throughput (guest/bin/faults, embedded): processes that mmap, touch and
    /// munmap, and threads that touch and MADV_DONTNEED, on 1 and more harts in parallel
    /// mode, with page faults handled and the kernel lock's contention (lock_stat). Each
    /// hart's host thread is pinned to a host CPU of its own (--pin-harts); the table
    /// gives the median run and the spread of the samples (fastest-slowest).
    Faults(FaultsBenchArgs),
}

#[derive(Args)]
struct FaultsBenchArgs {
    /// Processes of the `procs` workload (1-64).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    procs: u32,
    /// Threads of the `threads` workload (1-64).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Rounds per worker; each round faults in 256 pages (4 KiB).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rounds: u32,
    /// Hart counts to run (parallel mode).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    harts: Vec<usize>,
    /// Runs per row (the row is the median run by host time).
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Read each page before writing it (modes procs-read, threads-read): a zero-page
    /// read fault, then a copy-on-write fault that shoots the old translation down on the
    /// other harts of a multi-threaded process.
    #[arg(long)]
    read_first: bool,
}

#[derive(Args)]
struct SmpBenchArgs {
    /// Guest threads.
    #[arg(long, default_value_t = 4)]
    threads: u32,
    /// Work units per thread (about 240k instructions each).
    #[arg(long, default_value_t = 320)]
    units: u32,
    /// Hart counts to run in parallel mode (deterministic mode runs the largest).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    harts: Vec<usize>,
    /// Runs per row (host time is their median).
    #[arg(long, default_value_t = 3)]
    samples: usize,
}

#[derive(Args)]
struct PinBenchArgs {
    /// Pages (4 KiB) per run.
    #[arg(long, default_value_t = 8192)]
    pages: u64,
    /// Runs per row (host time is their median).
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// Paging mode of the address space.
    #[arg(long, default_value = "sv39", value_parser = ["sv39", "sv48"])]
    paging: String,
    /// Cycle-model overrides, `NAME=CYCLES,...` (the k_* entries price kernel work).
    #[arg(long, value_name = "NAME=CYCLES,...")]
    cost: Option<String>,
}

/// A `--env` value: `KEY=VALUE` with a non-empty key without `=` or NUL.
fn parse_env(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some((k, _)) if !k.is_empty() && !s.contains('\0') => Ok(s.to_string()),
        _ => Err(format!("{s:?}: expected KEY=VALUE")),
    }
}

/// `--hugepages [SIZE:]N`: `(page size in bytes, count)`; the size (2M when omitted)
/// must be one of the pools' (2M, 1G).
fn parse_hugepages(s: &str) -> Result<(u64, u64), String> {
    let (size, count) = match s.split_once(':') {
        Some((size, count)) => (parse_size(size)?, count),
        None => (2 << 20, s),
    };
    if size != 2 << 20 && size != 1 << 30 {
        return Err(format!(
            "{s:?}: no hugetlb pool of that page size (expected 2M or 1G)"
        ));
    }
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: the page count is not a number"))?;
    Ok((size, count))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 512M, 2G)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// `--swap-latency`: a number with a unit, `ns`, `us`, `ms` or `s` (`50us`, `1.5ms`).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("{s:?}: give a unit (ns, us, ms, s), e.g. 50us"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 50us, 2ms)"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return Err(format!("{s:?}: unit {unit:?} is not ns, us, ms or s")),
    };
    std::time::Duration::try_from_secs_f64(n * scale)
        .map_err(|_| format!("{s:?} is not a duration (e.g. 50us, 2ms)"))
}

impl MachineArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            mem_bytes: self.mem,
            paging: self.paging.clone(),
            ad: self.ad.clone(),
            tlb: self.tlb.clone(),
            max_insns: self.max_insns,
            cost: self.cost.clone(),
            seed: self.seed,
            gup: self.gup.clone(),
            sched: self.sched.clone(),
            harts: self.harts,
            pin_harts: self.pin_harts,
            hugepages: self.hugepages.clone(),
            swap_bytes: self.swap,
            swap_file: self.swap_file.clone(),
            swap_latency: self.swap_latency,
            async_pf: self.async_pf == "on",
            ..RunOptions::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => dirtybit::run_default_demo(),
        Some(Command::Run(a)) => {
            let mut opts = a.machine.options();
            opts.stats = a.stats;
            opts.strace = a.strace;
            opts.files = a.files;
            opts.env_clear = a.env_clear;
            opts.env = a.env;
            run_report(&opts, &a.image, &a.args)
        }
        Some(Command::Bench(BenchArgs {
            what: Some(BenchCommand::Pin(p)),
            ..
        })) => {
            let opts = RunOptions {
                paging: p.paging,
                cost: p.cost,
                ..RunOptions::default()
            };
            bench::pin::run(&opts, p.pages, p.samples).map(|()| 0)
        }
        Some(Command::Bench(BenchArgs {
            what: Some(BenchCommand::Smp(a)),
            machine,
            ..
        })) => {
            bench::smp::run(&machine.options(), a.threads, a.units, &a.harts, a.samples).map(|()| 0)
        }
        Some(Command::Bench(BenchArgs {
            what: Some(BenchCommand::Faults(a)),
            machine,
            ..
        })) => {
            let faults = bench::faults::FaultsBench {
                procs: a.procs,
                threads: a.threads,
                rounds: a.rounds,
                harts: a.harts,
                samples: a.samples,
                read_first: a.read_first,
            };
            bench::faults::run(&machine.options(), &faults).map(|()| 0)
        }
        Some(Command::Bench(b)) => bench::run(&b.machine.options(), &b.images).map(|()| 0),
        Some(Command::CostTable) => {
            for (name, cycles) in emu::CostModel::default().entries() {
                dirtybit::host_println(format_args!("{name:>14} = {cycles}"));
            }
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            dirtybit::host_eprintln(format_args!("dirtybit: {e}"));
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                dirtybit::host_eprintln(format_args!("  caused by: {s}"));
                src = s.source();
            }
            ExitCode::from(125)
        }
    }
}
