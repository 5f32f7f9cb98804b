//! `dirtybit bench`: MIPS and modelled cycles of guest workloads, with `qemu-riscv64`'s
//! wall time on the same binary beside them when it is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use std::sync::{Arc, Mutex};

use guestos::{HostStreams, RunReport};

use crate::{read_image, run_image, Error, RunOptions, LOOP_IMAGE};

pub mod faults;
pub mod pin;
pub mod smp;

/// The CPU workloads measured by default, from `guest/bin`.
pub const WORKLOADS: [&str; 5] = ["loop", "sort", "hash", "fpmatrix", "strsearch"];

fn sink_stdio() -> HostStreams {
    HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    )
}

/// A guest's stdout, kept in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs an embedded workload `image` (as `argv0`, with `args`) and returns its report and
/// its stdout (stdin empty, stderr discarded).
///
/// # Errors
/// [`Error`] from the run; [`Error::BadFlag`] naming `what` if the guest did not exit
/// with status 0.
fn run_workload(
    opts: &RunOptions,
    image: &[u8],
    argv0: &str,
    args: &[String],
    what: &str,
) -> Result<(RunReport, Vec<u8>), Error> {
    let out = Capture::default();
    let stdio = HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(out.clone()),
        Box::new(std::io::sink()),
    );
    let report = run_image(opts, image, argv0, args, stdio)?;
    if report.status != guestos::ExitStatus::Exited(0) {
        return Err(Error::BadFlag(format!(
            "the {what} failed on {} harts ({}): {:?}",
            opts.harts, opts.sched, report.status
        )));
    }
    let bytes = out.0.lock().map(|v| v.clone()).unwrap_or_default();
    Ok((report, bytes))
}

/// Host seconds of the samples of one bench row: the median and the spread, so that a
/// reader of the table sees how far one figure can be trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// The median sample (the upper one of an even count).
    pub median: f64,
    /// The fastest sample.
    pub min: f64,
    /// The slowest sample.
    pub max: f64,
}

impl Spread {
    /// The spread of `samples` (host seconds); all 0 for none.
    pub fn of(mut samples: Vec<f64>) -> Spread {
        samples.sort_by(f64::total_cmp);
        let at = |i: usize| samples.get(i).copied().unwrap_or(0.0);
        Spread {
            median: at(samples.len() / 2),
            min: at(0),
            max: at(samples.len().saturating_sub(1)),
        }
    }

    /// `min-max` with 3 decimals, for the table.
    pub fn range(&self) -> String {
        format!("{:.3}-{:.3}", self.min, self.max)
    }
}

fn qemu_seconds(path: &Path) -> Option<f64> {
    let t = Instant::now();
    let status = Command::new("qemu-riscv64")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| t.elapsed().as_secs_f64())
}

/// Runs each image once and prints a table: retired instructions, modelled cycles, host
/// seconds, MIPS, and qemu-riscv64's wall seconds on the same binary.
///
/// # Errors
/// See [`Error`].
pub fn run(opts: &RunOptions, images: &[PathBuf]) -> Result<(), Error> {
    let mut list: Vec<(String, Option<PathBuf>)> = images
        .iter()
        .map(|p| (p.display().to_string(), Some(p.clone())))
        .collect();
    if list.is_empty() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/bin");
        for w in WORKLOADS {
            let p = dir.join(w);
            if p.exists() {
                list.push((w.to_string(), Some(p)));
            }
        }
        if list.is_empty() {
            list.push(("loop (embedded)".to_string(), None));
        }
    }
    outln!(
        "{:<16} {:>14} {:>14} {:>6} {:>9} {:>9} {:>9} {:>8}",
        "image",
        "instret",
        "mcycles",
        "CPI",
        "host s",
        "MIPS",
        "qemu s",
        "vs qemu"
    );
    for (name, path) in list {
        let image = match &path {
            Some(p) => read_image(p, opts.kernel_config()?.tmpfs_size_bytes())?,
            None => LOOP_IMAGE.to_vec(),
        };
        let report = run_image(opts, &image, &name, &[], sink_stdio())?;
        let h = report.hart;
        let mips = h.instret as f64 / report.host_seconds.max(1e-9) / 1e6;
        let qemu = path.as_deref().and_then(qemu_seconds);
        outln!(
            "{:<16} {:>14} {:>14} {:>6.3} {:>9.3} {:>9.1} {:>9} {:>8}",
            name,
            h.instret,
            h.cycles,
            h.cycles as f64 / h.instret.max(1) as f64,
            report.host_seconds,
            mips,
            qemu.map_or("-".to_string(), |q| format!("{q:.3}")),
            qemu.map_or("-".to_string(), |q| format!(
                "{:.2}x",
                report.host_seconds / q
            )),
        );
    }
    Ok(())
}
