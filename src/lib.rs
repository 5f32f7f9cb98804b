//! dirtybit: an emulated RISC-V machine (RV64GC harts, Sv39/Sv48 MMU with TLB and hardware
//! A/D) hosting a tiny Linux-like guest OS.
//!
//! This crate is the command-line front end and re-exports the machine's crates:
//! [`devices`] (guest RAM, CLINT), [`mmu`] (walker, TLB), [`emu`] (the hart), [`guestos`]
//! (the kernel).

use std::io::Write;
use std::path::{Path, PathBuf};

pub use {devices, emu, guestos, mmu};

use guestos::exec::LoadError;
use guestos::fs::{HostFileError, HostInput};
use guestos::loader::ExecError;
use guestos::{ExitStatus, HostStreams, KernelConfig, KernelError, RunReport};

/// Writes `args` and a newline to dirtybit's own stdout. A failed write (a closed pipe: Rust
/// ignores SIGPIPE, so the write fails with `EPIPE`; a full disk) is ignored: `println!`
/// would panic, and the exit status must stay the one the guest earned.
pub fn host_println(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{args}");
}

/// [`host_println`] for dirtybit's own stderr (where `eprintln!` would panic).
pub fn host_eprintln(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `println!` that cannot panic: see [`host_println`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::host_println(format_args!($($arg)*)) };
}

/// `eprintln!` that cannot panic: see [`host_eprintln`].
macro_rules! errln {
    ($($arg:tt)*) => { $crate::host_eprintln(format_args!($($arg)*)) };
}

pub mod bench;

/// The image `cargo run --release` runs with no arguments: a guest program that touches
/// memory in patterns that exercise the TLB, the walker and the A/D bits.
pub const DEFAULT_IMAGE: &[u8] = include_bytes!("../guest/bin/demo");
/// The tight integer loop used as the MIPS benchmark when no image is given.
pub const LOOP_IMAGE: &[u8] = include_bytes!("../guest/bin/loop");

/// Failures of the front end (bad flags, unreadable images, kernel errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag value that cannot be used.
    #[error("{0}")]
    BadFlag(String),
    /// The image file cannot be read: missing, not a regular file, or too large.
    #[error("cannot read {path}")]
    ReadImage {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: HostFileError,
    },
    /// The kernel refused to run the image.
    #[error(transparent)]
    Kernel(#[from] guestos::KernelError),
    /// Writing the report failed.
    #[error("cannot write the report")]
    Io(#[from] std::io::Error),
}

/// Command-line options of a run, as strings where the kernel needs them parsed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Guest RAM in bytes.
    pub mem_bytes: u64,
    /// `sv39` or `sv48`.
    pub paging: String,
    /// `svadu` or `svade`.
    pub ad: String,
    /// `ENTRIESxWAYS`.
    pub tlb: String,
    /// Instruction limit.
    pub max_insns: Option<u64>,
    /// Cycle-model overrides.
    pub cost: Option<String>,
    /// Random seed.
    pub seed: u64,
    /// Print counters at exit.
    pub stats: bool,
    /// Trace system calls.
    pub strace: bool,
    /// `HOST[:GUEST]` files to copy in.
    pub files: Vec<String>,
    /// Kernel generation of the GUP rules: `dirtycow`, `foll-cow` or `modern`.
    pub gup: String,
    /// Scheduler: `parallel` (fair, time slices in host time, host clocks) or
    /// `deterministic` (seeded by `seed`, time in modelled cycles, virtual clocks).
    pub sched: String,
    /// Number of harts.
    pub harts: usize,
    /// Pin each hart's host thread to a host CPU of its own (parallel mode; see
    /// [`KernelConfig::pin_harts`]).
    pub pin_harts: bool,
    /// Start the guest's environment empty: without it, the host process's own, as
    /// qemu-user passes it; then each of `env` (`KEY=VALUE`) replaces the variable of its
    /// name or is added at the end, as `env [-i] KEY=VALUE…` builds it ([`guest_envp`]).
    /// The environment is part of a run's input: its size moves the initial stack, and
    /// with it what a deterministic seed interleaves, so a replay elsewhere needs the
    /// same environment (`--env-clear`, `--env`).
    pub env_clear: bool,
    /// Variables set over the environment (see [`RunOptions::env_clear`]).
    pub env: Vec<String>,
    /// hugetlb pools at boot, `(page size in bytes, count)` pairs
    /// ([`KernelConfig::hugepages`]).
    pub hugepages: Vec<(u64, u64)>,
    /// Swap area size in bytes, 0 for none ([`KernelConfig::swap_bytes`]).
    pub swap_bytes: u64,
    /// Host file holding the swap area ([`KernelConfig::swap_file`]).
    pub swap_file: Option<PathBuf>,
    /// Host time each swap read or write waits ([`KernelConfig::swap_latency`]).
    pub swap_latency: Option<std::time::Duration>,
    /// Asynchronous page faults ([`KernelConfig::async_pf`]).
    pub async_pf: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            mem_bytes: 1 << 30,
            paging: "sv39".into(),
            ad: "svadu".into(),
            tlb: "64x4".into(),
            max_insns: None,
            cost: None,
            seed: 0,
            stats: false,
            strace: false,
            files: Vec::new(),
            gup: "modern".into(),
            sched: "parallel".into(),
            harts: 1,
            pin_harts: false,
            env_clear: false,
            env: Vec::new(),
            hugepages: Vec::new(),
            swap_bytes: 0,
            swap_file: None,
            swap_latency: None,
            async_pf: true,
        }
    }
}

impl RunOptions {
    /// The kernel configuration these options describe.
    ///
    /// # Errors
    /// [`Error::BadFlag`] for an unknown paging mode, A/D scheme or GUP generation, a bad TLB geometry, a
    /// bad cost override or a bad `--file`.
    pub fn kernel_config(&self) -> Result<KernelConfig, Error> {
        let paging = match self.paging.as_str() {
            "sv39" => mmu::SatpMode::Sv39,
            "sv48" => mmu::SatpMode::Sv48,
            p => {
                return Err(Error::BadFlag(format!(
                    "--paging {p}: expected sv39 or sv48"
                )))
            }
        };
        let ad = match self.ad.as_str() {
            "svadu" => mmu::AdScheme::Svadu,
            "svade" => mmu::AdScheme::Svade,
            a => return Err(Error::BadFlag(format!("--ad {a}: expected svadu or svade"))),
        };
        let tlb = self
            .tlb
            .parse()
            .map_err(|e| Error::BadFlag(format!("--tlb: {e}")))?;
        let mut cost = emu::CostModel::default();
        if let Some(spec) = &self.cost {
            cost.apply_overrides(spec)
                .map_err(|e| Error::BadFlag(format!("--cost: {e}")))?;
        }
        if self.mem_bytes < (16 << 20) || !self.mem_bytes.is_multiple_of(4096) {
            return Err(Error::BadFlag(format!(
                "--mem {}: guest RAM must be a multiple of 4 KiB and at least 16 MiB",
                self.mem_bytes
            )));
        }
        if self.swap_bytes != 0 && (self.swap_bytes < 8192 || !self.swap_bytes.is_multiple_of(4096))
        {
            return Err(Error::BadFlag(format!(
                "--swap {}: the swap area must be a multiple of 4 KiB and at least 8 KiB \
                 (a header slot and one page)",
                self.swap_bytes
            )));
        }
        if self.swap_file.is_some() && self.swap_bytes == 0 {
            return Err(Error::BadFlag(
                "--swap-file needs --swap SIZE (the size of the area)".into(),
            ));
        }
        if !(1..=guestos::MAX_HARTS).contains(&self.harts) {
            return Err(Error::BadFlag(format!(
                "--harts {}: expected 1 to {}",
                self.harts,
                guestos::MAX_HARTS
            )));
        }
        let mut files = Vec::new();
        for f in &self.files {
            let (host, guest) = match f.split_once(':') {
                Some((h, g)) => (h.to_string(), g.to_string()),
                None => (f.clone(), f.clone()),
            };
            if !guest.starts_with('/') {
                return Err(Error::BadFlag(format!(
                    "--file {f}: the guest path must be absolute"
                )));
            }
            files.push((PathBuf::from(host), guest));
        }
        Ok(KernelConfig {
            mem_bytes: self.mem_bytes,
            paging,
            ad,
            tlb,
            cost,
            max_insns: self.max_insns,
            strace: self.strace,
            files,
            seed: self.seed,
            gup: self
                .gup
                .parse()
                .map_err(|e| Error::BadFlag(format!("--gup {e}")))?,
            sched: match self.sched.as_str() {
                "parallel" => guestos::SchedMode::Parallel,
                "deterministic" => guestos::SchedMode::Deterministic,
                s => {
                    return Err(Error::BadFlag(format!(
                        "--sched {s}: expected parallel or deterministic"
                    )))
                }
            },
            harts: self.harts,
            pin_harts: self.pin_harts,
            hugepages: self.hugepages.clone(),
            swap_bytes: self.swap_bytes,
            swap_file: self.swap_file.clone(),
            swap_latency: self.swap_latency,
            async_pf: self.async_pf,
            ..KernelConfig::default()
        })
    }
}

/// The guest's `envp` (see [`RunOptions::env_clear`]): the host's variables byte for
/// byte unless `clear`, each of `set` replacing the variable of its name or added at the
/// end.
pub fn guest_envp(clear: bool, set: &[String]) -> Vec<Vec<u8>> {
    let mut env: Vec<Vec<u8>> = if clear {
        Vec::new()
    } else {
        std::env::vars_os()
            .map(|(k, v)| {
                let mut e = k.into_encoded_bytes();
                e.push(b'=');
                e.extend(v.into_encoded_bytes());
                e
            })
            .collect()
    };
    let key = |e: &[u8]| e.split(|&b| b == b'=').next().map(<[u8]>::to_vec);
    for kv in set {
        let kv = kv.as_bytes();
        match env.iter_mut().find(|e| key(e) == key(kv)) {
            Some(e) => *e = kv.to_vec(),
            None => env.push(kv.to_vec()),
        }
    }
    env
}

/// Runs `image` with `args` (argv[1..]); argv[0] is the image path as given and the
/// environment is [`guest_envp`]'s (the host's by default, as qemu-user passes it).
///
/// # Errors
/// See [`Error`].
pub fn run_image(
    opts: &RunOptions,
    image: &[u8],
    argv0: &str,
    args: &[String],
    stdio: HostStreams,
) -> Result<RunReport, Error> {
    let config = opts.kernel_config()?;
    let mut argv: Vec<Vec<u8>> = vec![argv0.as_bytes().to_vec()];
    argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    let envp = guest_envp(opts.env_clear, &opts.env);
    // /proc/self/exe is always absolute on Linux (glibc asserts it); qemu-user reports the
    // image's absolute host path, and so do we.
    let exe_path = if argv0.starts_with('/') {
        argv0.to_string()
    } else {
        std::env::current_dir()
            .map(|d| d.join(argv0).to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("/{argv0}"))
    };
    Ok(guestos::run(
        &config, stdio, image, &exe_path, &argv, &envp,
    )?)
}

/// Bytes of an image read before anything else: the ELF header (`Elf64_Ehdr`).
const ELF_HEADER_BYTES: usize = 64;

/// Reads the image at `path` with a bound on host memory: only a regular file (as
/// `execve`'s `EACCES` for anything else), refused after its first 64 bytes if they are
/// not a RISC-V executable's ELF header (as `search_binary_handler` looks at the first
/// bytes), and read whole only if it is at most `limit_bytes` long.
///
/// # Errors
/// [`Error::ReadImage`]; [`Error::Kernel`] with the loader's reason for a bad header.
pub fn read_image(path: &Path, limit_bytes: u64) -> Result<Vec<u8>, Error> {
    let read_error = |source| Error::ReadImage {
        path: path.to_path_buf(),
        source,
    };
    let mut file = HostInput::open(path).map_err(read_error)?;
    let header = file.read_header(ELF_HEADER_BYTES).map_err(read_error)?;
    if let Err(e) = guestos::loader::parse_elf(&header) {
        // Only the program headers past the first 64 bytes are missing: read on.
        let needs_more =
            matches!(e, ExecError::Truncated { .. }) && (header.len() as u64) < file.len();
        if !needs_more {
            return Err(Error::Kernel(KernelError::Exec(LoadError::Image(e))));
        }
    }
    file.read_all(
        header,
        limit_bytes,
        "the guest's tmpfs, half of --mem, holds the image as /proc/self/exe",
    )
    .map_err(read_error)
}

/// `dirtybit run`: runs the image at `path`, prints the stats if asked, returns the shell
/// exit code (the guest's status, 128+signal, or 124 for `--max-insns`).
///
/// # Errors
/// See [`Error`].
pub fn run_report(opts: &RunOptions, path: &Path, args: &[String]) -> Result<i32, Error> {
    let image = read_image(path, opts.kernel_config()?.tmpfs_size_bytes())?;
    let report = run_image(
        opts,
        &image,
        &path.to_string_lossy(),
        args,
        HostStreams::inherit(),
    )?;
    finish(opts, &report)
}

/// `cargo run --release` with no arguments: runs the embedded demo image with `--stats`.
///
/// # Errors
/// See [`Error`].
pub fn run_default_demo() -> Result<i32, Error> {
    let opts = RunOptions {
        stats: true,
        ..RunOptions::default()
    };
    errln!("dirtybit: running the embedded demo image (dirtybit run --help for more)");
    let report = run_image(
        &opts,
        DEFAULT_IMAGE,
        "/bin/demo",
        &[],
        HostStreams::inherit(),
    )?;
    finish(&opts, &report)
}

/// Reports how the guest ended on stderr (and the stats if asked) and returns its shell
/// status. Nothing written to stderr can change that status: a failed write is ignored.
fn finish(opts: &RunOptions, report: &RunReport) -> Result<i32, Error> {
    match report.status {
        ExitStatus::Signaled {
            signo,
            code,
            addr,
            pc,
        } => {
            errln!(
                "{} (signal {signo}, si_code {code}, address {addr:#x}, pc {pc:#x})",
                signal_name(signo)
            );
        }
        ExitStatus::InsnLimit => {
            errln!(
                "dirtybit: stopped after {} instructions (--max-insns)",
                report.hart.instret
            );
        }
        ExitStatus::Exited(_) => {}
    }
    if opts.stats {
        let _ = write_stats(&mut std::io::stderr().lock(), opts, report);
    }
    Ok(i32::from(report.status.shell_code()))
}

/// The message a shell prints for a process killed by `signo`.
pub fn signal_name(signo: u8) -> &'static str {
    match signo {
        4 => "Illegal instruction",
        5 => "Trace/breakpoint trap",
        6 => "Aborted",
        7 => "Bus error",
        8 => "Floating point exception",
        9 => "Killed",
        11 => "Segmentation fault",
        13 => "Broken pipe",
        _ => "Killed by a signal",
    }
}

/// Writes the `--stats` table: what the hardware and the kernel did.
///
/// # Errors
/// I/O errors of `w`.
pub fn write_stats(w: &mut dyn Write, opts: &RunOptions, r: &RunReport) -> std::io::Result<()> {
    let h = &r.hart;
    let m = &h.mmu;
    let mips = if r.host_seconds > 0.0 {
        h.instret as f64 / r.host_seconds / 1e6
    } else {
        0.0
    };
    writeln!(
        w,
        "--- dirtybit stats ({} {} tlb {}) ---",
        opts.paging, opts.ad, opts.tlb
    )?;
    let t = &r.kernel.thp;
    let tg = &h.tags;
    let rows: [(&str, String); 30] = [
        ("exit status", r.status.shell_code().to_string()),
        ("instructions retired", h.instret.to_string()),
        ("modelled cycles", h.cycles.to_string()),
        (
            "modelled CPI",
            format!("{:.3}", h.cycles as f64 / h.instret.max(1) as f64),
        ),
        ("host seconds", format!("{:.3}", r.host_seconds)),
        ("MIPS (host)", format!("{mips:.1}")),
        ("TLB hits", m.tlb_hits.to_string()),
        ("TLB misses", m.tlb_misses.to_string()),
        ("page walks", m.walks.to_string()),
        ("PTE loads", m.pte_loads.to_string()),
        ("A/D updates (hw)", m.ad_updates.to_string()),
        ("page faults (hw)", m.page_faults.to_string()),
        ("page faults handled", r.kernel.page_faults.to_string()),
        ("tag checks (hw)", tg.checks.to_string()),
        (
            "tag mismatches (hw)",
            format!("{} sync, {} async", tg.sync_mismatches, tg.async_mismatches),
        ),
        ("settag granules", tg.settag_granules.to_string()),
        ("OOM kills", r.kernel.oom_kills.to_string()),
        ("system calls", r.kernel.syscalls.to_string()),
        (
            "kernel uaccess walks",
            r.kernel.uaccess_mmu.walks.to_string(),
        ),
        ("peak guest frames", r.kernel.peak_frames.to_string()),
        ("frames leaked at exit", r.kernel.frames_leaked.to_string()),
        (
            "swap slots leaked at exit",
            r.kernel.swap_slots_leaked.to_string(),
        ),
        (
            "async page faults",
            format!(
                "{} queued, {} completed, {} synchronous fallbacks, {} repeated faults \
                 synchronous, {:.3} ms parked",
                r.kernel.async_pf_queued,
                r.kernel.async_pf_completed,
                r.kernel.async_pf_sync_fallbacks,
                r.kernel.async_pf_repeated,
                r.kernel.async_pf_parked_ns as f64 / 1e6
            ),
        ),
        (
            "page-cache peak pages",
            r.kernel.page_cache_peak_pages.to_string(),
        ),
        (
            "page-cache read-ins",
            r.kernel.page_cache_read_ins.to_string(),
        ),
        (
            "pages written back",
            r.kernel.page_cache_written_back.to_string(),
        ),
        (
            "THP faults",
            format!("{} ({} fell back to 4K)", t.fault_alloc, t.fault_fallback),
        ),
        ("huge zero page maps", t.huge_zero_maps.to_string()),
        ("THP PMD splits", t.split_pmd.to_string()),
        (
            "THP folio splits",
            format!("{} ({} refused)", t.split_page, t.split_page_failed),
        ),
    ];
    for (k, v) in rows {
        writeln!(w, "{k:>22}  {v}")?;
    }
    // Kernel work of the system calls and faults, priced by the cost model's k_* entries
    // and charged to the hart (part of "modelled cycles" above).
    let cost = match opts.kernel_config() {
        Ok(c) => c.cost,
        Err(_) => emu::CostModel::default(),
    };
    let ke = &r.kernel.kernel_events;
    writeln!(
        w,
        "{:>22}  {}",
        "kernel modelled cycles", r.kernel.kernel_cycles
    )?;
    for (name, count, entry, cycles) in ke.rows(&cost) {
        writeln!(
            w,
            "{:>22}  {count} ({entry}: {cycles} cycles)",
            format!("kernel {name}")
        )?;
    }
    writeln!(w, "{:>22}  {}", "kernel warnings", ke.warnings)?;
    // SMP: what each hart did and what crossed between them.
    if r.per_hart.len() > 1 {
        for (i, ph) in r.per_hart.iter().enumerate() {
            writeln!(
                w,
                "{:>22}  {} instructions, {} cycles",
                format!("hart {i}"),
                ph.instret,
                ph.cycles
            )?;
        }
    }
    let k = &r.kernel;
    let smp_rows = [
        ("TLB shootdowns", k.tlb_shootdowns),
        ("IPIs", k.ipis),
        ("shootdown ack waits", k.shootdown_ack_waits),
        ("resched stops (GUP)", k.resched_stops),
        ("unlocked page faults", k.unlocked_faults),
        ("unlocked system calls", k.unlocked_syscalls),
        ("futex calls", k.futex_calls),
        ("unlocked futex calls", k.unlocked_futex_calls),
        ("unlocked wake-ups", k.ttwu_unlocked),
        ("unlocked wake-ups remote", k.ttwu_unlocked_remote),
        ("wake list queued", k.wakelist_queued),
        ("wake list for others", k.wakelist_drained_remote),
        ("wake list trylocks", k.wakelist_trylocks),
        ("kernel lock entries", k.kernel_lock_acquisitions),
        ("calls run unlocked", k.unlocked_calls),
        ("unlocked quanta", k.unlocked_quanta),
        ("unlocked sleeps", k.unlocked_sleeps),
        ("unlocked I/O sleeps", k.unlocked_io_sleeps),
        ("unlocked switches", k.unlocked_switches),
        ("unlocked preemptions", k.unlocked_preemptions),
        ("unlocked idles", k.unlocked_idles),
        ("unlocked signal deliveries", k.unlocked_signals),
        ("baton switches", k.baton_switches),
        ("baton lock waits", k.baton_lock_waits),
    ];
    for (name, v) in smp_rows {
        writeln!(w, "{name:>22}  {v}")?;
    }
    // /proc/lock_stat: one line per lock class taken during the run.
    for l in &r.lock_stat {
        writeln!(
            w,
            "{:>22}  {} acquisitions, {} contended, {:.3} ms waiting",
            format!("lock {}", l.name),
            l.acquisitions,
            l.contentions,
            l.wait_ms()
        )?;
    }
    Ok(())
}
