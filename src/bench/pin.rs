//! `dirtybit bench pin`: the cost of taking page references and pins, per page, in
//! modelled cycles (deterministic, from the cost model's `k_*` entries) and in host
//! nanoseconds (this machine, median of several runs).
//!
//! It drives the kernel code the guest's `/sys/kernel/debug/gup_test` ioctl drives —
//! [`gup_test_run`], Linux's `__gup_test_ioctl()` — on an address space built in-process:
//!
//! | row | command | GUP call |
//! |---|---|---|
//! | `get_user_pages_fast` | `GUP_FAST_BENCHMARK` | `get_user_pages_fast(FOLL_WRITE)` |
//! | `pin_user_pages_fast` | `PIN_FAST_BENCHMARK` | `pin_user_pages_fast(FOLL_WRITE)` |
//! | `pin_user_pages` | `PIN_BASIC_TEST` | `pin_user_pages(FOLL_WRITE)` under the mmap lock |
//! | `pin_user_pages LONGTERM` | `PIN_LONGTERM_BENCHMARK` | `pin_user_pages(FOLL_WRITE \| FOLL_LONGTERM)` |
//!
//! each with 1, 16 and 512 pages per call, on a range that is populated (every page
//! written before) or that needs a fault per page (`MADV_DONTNEED` before each run,
//! untimed; the page tables stay, as after the first touch), as the selftest's
//! `gup_test -u/-a/-L -n N` would. "get" is the GUP walk
//! (`get_delta_usec`), "put" the release (`put_delta_usec`); `refs/page` counts the atomic
//! refcount updates of both per 4 KiB page.
//!
//! The folio-size column is there for 2 MiB folios (THP); this build maps only 4 KiB
//! folios, so those rows say so instead of showing numbers.

use std::sync::Arc;
use std::time::Duration;

use devices::{GuestMemory, GuestPhysAddr, PAGE_SIZE};
use emu::CostModel;
use guestos::mm::gup_test::{gup_test_run, GupTest, GupTestCmd, GupTestRun};
use guestos::mm::mmap::{
    MADV_DONTNEED, MAP_ANONYMOUS, MAP_POPULATE, MAP_PRIVATE, PROT_READ, PROT_WRITE,
};
use guestos::mm::{FollFlags, Mm, PhysMem};
use guestos::{Errno, RAM_BASE};
use mmu::{AdScheme, SatpMode};

use crate::{Error, RunOptions};

/// The four GUP entry points measured, as `(row name, gup_test command)`.
pub const APIS: [(&str, GupTestCmd); 4] = [
    ("get_user_pages_fast", GupTestCmd::GupFastBenchmark),
    ("pin_user_pages_fast", GupTestCmd::PinFastBenchmark),
    ("pin_user_pages", GupTestCmd::PinBasicTest),
    ("pin_user_pages LONGTERM", GupTestCmd::PinLongtermBenchmark),
];

/// Pages per GUP call measured.
pub const BATCHES: [u32; 3] = [1, 16, 512];

/// An address space with one anonymous mapping to take references on: the set-up of
/// the selftest (`mmap`, fault the pages in from user space), in-process.
pub struct PinSetup {
    /// The physical memory (its kernel events price the runs).
    pub phys: Arc<PhysMem>,
    /// The address space.
    pub mm: Mm,
    /// First address of the mapping (2 MiB aligned).
    pub addr: u64,
    /// Its length in 4 KiB pages.
    pub pages: u64,
}

impl PinSetup {
    /// `pages` pages of private anonymous memory, 2 MiB aligned, written (populated)
    /// when `populate`, in a machine with enough RAM for them and their tables.
    ///
    /// # Errors
    /// [`Error::BadFlag`] if the machine cannot be built or the mapping fails.
    pub fn new(pages: u64, populate: bool, paging: SatpMode) -> Result<Self, Error> {
        let bad = |what: &str, e: &dyn std::fmt::Debug| {
            Error::BadFlag(format!("bench pin: {what}: {e:?}"))
        };
        let mem = (pages * PAGE_SIZE * 2 + (64 << 20)).next_multiple_of(PAGE_SIZE);
        let ram =
            GuestMemory::new(&[(GuestPhysAddr(RAM_BASE), mem)]).map_err(|e| bad("RAM", &e))?;
        let phys = Arc::new(PhysMem::new(ram).map_err(|e| bad("allocator", &e))?);
        let mut mm = Mm::new(Arc::clone(&phys), paging, AdScheme::Svadu, 1)
            .map_err(|e| bad("address space", &e))?;
        let huge = 2u64 << 20;
        let len = pages * PAGE_SIZE;
        let mut flags = MAP_PRIVATE | MAP_ANONYMOUS;
        // Reserve, then map exactly the aligned part (MAP_FIXED over the reservation).
        let raw = mm
            .do_mmap(0, len + huge, PROT_READ | PROT_WRITE, flags, None, 0)
            .map_err(|e| bad("mmap", &e))?;
        let addr = raw.next_multiple_of(huge);
        if populate {
            flags |= MAP_POPULATE;
        }
        mm.do_mmap(
            addr,
            len,
            PROT_READ | PROT_WRITE,
            flags | guestos::mm::mmap::MAP_FIXED,
            None,
            0,
        )
        .map_err(|e| bad("mmap", &e))?;
        Ok(Self {
            phys,
            mm,
            addr,
            pages,
        })
    }

    /// Zaps the range (`MADV_DONTNEED`): every page needs a fault again.
    ///
    /// # Errors
    /// The errno of `madvise`.
    pub fn depopulate(&mut self) -> Result<(), Errno> {
        self.mm
            .madvise(self.addr, self.pages * PAGE_SIZE, MADV_DONTNEED)
            .map(|_| ())
    }

    /// One gup_test command over the whole range, `batch` pages per call, `FOLL_WRITE`.
    ///
    /// # Errors
    /// The command's errno (cannot happen for a valid set-up).
    pub fn run(&mut self, cmd: GupTestCmd, batch: u32) -> Result<GupTestRun, Errno> {
        let mut gup = GupTest {
            addr: self.addr,
            size: self.pages * PAGE_SIZE,
            nr_pages_per_call: batch,
            gup_flags: FollFlags::WRITE.bits(),
            ..GupTest::default()
        };
        let mut warnings = String::new();
        let r = gup_test_run(
            &mut self.mm,
            cmd,
            &mut gup,
            &mut |m| warnings.push_str(m),
            0,
        )?;
        if r.nr_pages as u64 != self.pages || !warnings.is_empty() {
            // Cannot happen on a valid set-up; refuse to report numbers of a partial run.
            return Err(Errno::EFAULT);
        }
        Ok(r)
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct PinBenchRow {
    /// The GUP entry point.
    pub api: &'static str,
    /// Folio size in bytes.
    pub folio_bytes: u64,
    /// Pages per call.
    pub batch: u32,
    /// Whether the pages were populated before the call (else each needs a fault).
    pub populated: bool,
    /// The measurements, or why there are none.
    pub result: Result<PinBenchNumbers, String>,
}

/// The measurements of one row, per 4 KiB page.
#[derive(Debug, Clone, Copy, Default)]
pub struct PinBenchNumbers {
    /// Modelled cycles of the GUP walk per page.
    pub get_cycles: f64,
    /// Modelled cycles of the release per page.
    pub put_cycles: f64,
    /// Host nanoseconds of the walk per page (median run).
    pub get_ns: f64,
    /// Host nanoseconds of the release per page (median run).
    pub put_ns: f64,
    /// Atomic refcount updates per page, walk and release.
    pub refcount_ops: f64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Measures every row: `pages` pages per run, `samples` runs per row (the host time is
/// their median; the modelled cycles must be the same in every run, or the row reports
/// the difference as an error).
///
/// # Errors
/// [`Error::BadFlag`] if the in-process machine cannot be built.
pub fn measure(
    pages: u64,
    samples: usize,
    cost: &CostModel,
    paging: SatpMode,
) -> Result<Vec<PinBenchRow>, Error> {
    let mut rows = Vec::new();
    let mut populated = PinSetup::new(pages, true, paging)?;
    let mut faulting = PinSetup::new(pages, false, paging)?;
    for (api, cmd) in APIS {
        for folio_bytes in [PAGE_SIZE, 2 << 20] {
            for batch in BATCHES {
                for is_populated in [true, false] {
                    let result = if folio_bytes != PAGE_SIZE {
                        Err("unavailable: this build maps 4 KiB folios only".to_string())
                    } else {
                        let setup = if is_populated {
                            &mut populated
                        } else {
                            &mut faulting
                        };
                        measure_row(setup, cmd, batch, samples, cost, !is_populated)
                    };
                    rows.push(PinBenchRow {
                        api,
                        folio_bytes,
                        batch,
                        populated: is_populated,
                        result,
                    });
                }
            }
        }
    }
    Ok(rows)
}

fn measure_row(
    setup: &mut PinSetup,
    cmd: GupTestCmd,
    batch: u32,
    samples: usize,
    cost: &CostModel,
    refault: bool,
) -> Result<PinBenchNumbers, String> {
    let mut gets = Vec::new();
    let mut puts = Vec::new();
    let mut first: Option<GupTestRun> = None;
    // A warm-up run: the first faults of a range also allocate its page tables, which
    // MADV_DONTNEED leaves in place; every measured run then sees the same state.
    if refault {
        setup.depopulate().map_err(|e| format!("madvise: {e:?}"))?;
    }
    setup.run(cmd, batch).map_err(|e| format!("{e:?}"))?;
    for _ in 0..samples.max(1) {
        if refault {
            setup.depopulate().map_err(|e| format!("madvise: {e:?}"))?;
        }
        let r = setup.run(cmd, batch).map_err(|e| format!("{e:?}"))?;
        gets.push(r.get_time);
        puts.push(r.put_time);
        match &first {
            None => first = Some(r),
            Some(f) if f.get_events != r.get_events || f.put_events != r.put_events => {
                return Err("modelled cycles differ between runs (a bug)".to_string());
            }
            Some(_) => {}
        }
    }
    let r = first.unwrap_or_default();
    let n = setup.pages as f64;
    Ok(PinBenchNumbers {
        get_cycles: r.get_events.cycles(cost) as f64 / n,
        put_cycles: r.put_events.cycles(cost) as f64 / n,
        get_ns: median(gets).as_nanos() as f64 / n,
        put_ns: median(puts).as_nanos() as f64 / n,
        refcount_ops: (r.get_events.refcount_ops + r.put_events.refcount_ops) as f64 / n,
    })
}

/// `dirtybit bench pin`: measures and prints the table.
///
/// # Errors
/// [`Error::BadFlag`] for bad options or a machine that cannot be built.
pub fn run(opts: &RunOptions, pages: u64, samples: usize) -> Result<(), Error> {
    let config = opts.kernel_config()?;
    if pages == 0 {
        return Err(Error::BadFlag("--pages must be at least 1".into()));
    }
    let rows = measure(pages, samples, &config.cost, config.paging)?;
    println!(
        "dirtybit bench pin: {pages} pages ({} KiB) per run, FOLL_WRITE, {} paging; \
         cycles: modelled (cost model k_* entries, deterministic); ns: host, median of {samples} runs",
        pages * PAGE_SIZE / 1024,
        opts.paging
    );
    println!(
        "{:<24} {:>5} {:>5} {:<9} {:>11} {:>11} {:>9} {:>9} {:>9}",
        "api",
        "folio",
        "batch",
        "state",
        "get cyc/pg",
        "put cyc/pg",
        "get ns/pg",
        "put ns/pg",
        "refs/pg"
    );
    for r in rows {
        let folio = if r.folio_bytes == PAGE_SIZE {
            "4K"
        } else {
            "2M"
        };
        let state = if r.populated { "populated" } else { "fault" };
        match r.result {
            Ok(n) => println!(
                "{:<24} {:>5} {:>5} {:<9} {:>11.1} {:>11.1} {:>9.1} {:>9.1} {:>9.2}",
                r.api,
                folio,
                r.batch,
                state,
                n.get_cycles,
                n.put_cycles,
                n.get_ns,
                n.put_ns,
                n.refcount_ops
            ),
            Err(why) => println!(
                "{:<24} {:>5} {:>5} {:<9} {why}",
                r.api, folio, r.batch, state
            ),
        }
    }
    Ok(())
}
