//! `dirtybit bench smp`: the throughput of an embarrassingly parallel guest workload on
//! 1 and more harts, and the price of deterministic mode.
//!
//! The workload is `guest/bin/parallel` (embedded): T threads, each computing on private
//! data with no system calls and no shared writes between `pthread_create` and its end;
//! its output depends only on its arguments, so every row must print the same checksums
//! (checked). Each row is the median host wall time of `samples` runs; the speedup of a
//! row is the 1-hart parallel row's time over its own. Parallel mode runs each hart on its
//! own host thread; deterministic mode runs the same harts but one host thread at a time
//! (the seeded baton), so its cost is the serialisation plus the scheduler's choices.

use super::{run_workload, Spread};
use crate::{Error, RunOptions};

/// The parallel workload image (`guest/src/parallel.c`).
pub const PARALLEL_IMAGE: &[u8] = include_bytes!("../../guest/bin/parallel");

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct SmpRow {
    /// `parallel` or `deterministic`.
    pub sched: &'static str,
    /// Harts.
    pub harts: usize,
    /// Median host wall seconds of the runs.
    pub seconds: f64,
    /// The runs' host seconds: median and spread.
    pub spread: Spread,
    /// Guest instructions retired by all harts (of the last run).
    pub instret: u64,
}

/// Runs the workload (`threads` threads × `units` work units each) `samples` times in
/// each configuration — parallel mode on every hart count of `harts`, deterministic mode
/// on the largest — and returns the rows.
///
/// # Errors
/// [`Error`] from a run; [`Error::BadFlag`] if a run's output differs from the first
/// (the workload's output does not depend on scheduling) or the guest failed.
pub fn measure(
    base: &RunOptions,
    threads: u32,
    units: u32,
    harts: &[usize],
    samples: usize,
) -> Result<Vec<SmpRow>, Error> {
    let args = [threads.to_string(), units.to_string()];
    let mut reference: Option<Vec<u8>> = None;
    let mut configs: Vec<(&'static str, usize)> = harts.iter().map(|&h| ("parallel", h)).collect();
    if let Some(&max) = harts.iter().max() {
        configs.push(("deterministic", max));
    }
    let mut rows = Vec::new();
    for (sched, h) in configs {
        let opts = RunOptions {
            harts: h,
            sched: sched.to_string(),
            pin_harts: true,
            ..base.clone()
        };
        let mut times = Vec::new();
        let mut instret = 0;
        for _ in 0..samples.max(1) {
            let (report, bytes) = run_workload(
                &opts,
                PARALLEL_IMAGE,
                "parallel",
                &args,
                "parallel workload",
            )?;
            match &reference {
                None => reference = Some(bytes),
                Some(r) if *r != bytes => {
                    return Err(Error::BadFlag(format!(
                        "the parallel workload printed different checksums on {h} harts ({sched})"
                    )))
                }
                Some(_) => {}
            }
            times.push(report.host_seconds);
            instret = report.hart.instret;
        }
        rows.push(SmpRow {
            sched,
            harts: h,
            seconds: Spread::of(times.clone()).median,
            spread: Spread::of(times),
            instret,
        });
    }
    Ok(rows)
}

/// `dirtybit bench smp`: prints the rows of [`measure`] with MIPS and speedups.
///
/// # Errors
/// As [`measure`].
pub fn run(
    base: &RunOptions,
    threads: u32,
    units: u32,
    harts: &[usize],
    samples: usize,
) -> Result<(), Error> {
    let rows = measure(base, threads, units, harts, samples)?;
    outln!(
        "parallel workload: {threads} threads x {units} units, median of {samples} runs, {} host CPUs, \
         harts pinned",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    outln!(
        "{:<14} {:>5} {:>14} {:>9} {:>13} {:>9} {:>10}",
        "sched",
        "harts",
        "instret",
        "host s",
        "min-max s",
        "MIPS",
        "speedup"
    );
    let one = rows
        .iter()
        .find(|r| r.sched == "parallel" && r.harts == 1)
        .map(|r| r.seconds);
    for r in &rows {
        let speedup = one.map_or("-".to_string(), |o| {
            format!("{:.2}x", o / r.seconds.max(1e-9))
        });
        outln!(
            "{:<14} {:>5} {:>14} {:>9.3} {:>13} {:>9.1} {:>10}",
            r.sched,
            r.harts,
            r.instret,
            r.seconds,
            r.spread.range(),
            r.instret as f64 / r.seconds.max(1e-9) / 1e6,
            speedup
        );
    }
    let max = rows
        .iter()
        .filter(|r| r.sched == "parallel")
        .map(|r| r.harts)
        .max();
    let par = rows
        .iter()
        .find(|r| r.sched == "parallel" && Some(r.harts) == max);
    let det = rows.iter().find(|r| r.sched == "deterministic");
    if let (Some(p), Some(d)) = (par, det) {
        outln!(
            "deterministic mode on {} harts costs {:.2}x the parallel mode's time",
            d.harts,
            d.seconds / p.seconds.max(1e-9)
        );
    }
    Ok(())
}
