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
//! written before) or that needs a fault per folio (`MADV_DONTNEED` before each run,
//! untimed), as the selftest's `gup_test -u/-a/-L -n N [-H]` would. "get" is the GUP walk
//! (`get_delta_usec`), "put" the release (`put_delta_usec`); `refs/pg` counts the atomic
//! refcount and `_pincount` updates of both (the `refcount_ops` kernel event) per 4 KiB
//! page.
//!
//! # Folio sizes
//! - `4K`: a plain private anonymous mapping, populated with `MAP_POPULATE`; every page
//!   is an order-0 folio mapped by a PTE. After `MADV_DONTNEED` the page tables stay, as
//!   after the first touch.
//! - `2M`: the same, 2 MiB aligned, with `MADV_HUGEPAGE` (the selftest's `-H`), populated
//!   by a user write to every page: each 2 MiB is one transparent huge page mapped by one
//!   level-1 leaf (a huge PMD). `MADV_DONTNEED` zaps the huge PMDs whole, so the faulting
//!   rows allocate, zero and map one 2 MiB folio per 512 pages. The range must be a whole
//!   number of 2 MiB (`--pages` a multiple of 512). Every run is checked afterwards, untimed:
//!   every page must be mapped by a huge PMD (the page-table level) and, for the faulting
//!   rows, `thp_fault_alloc` must have grown by one per 2 MiB with no `thp_fault_fallback`;
//!   anything else fails the command.
//!
//! Linux takes one reference operation per large folio and GUP call where it can:
//! `gup_fast_pmd_leaf()` grabs all the PMD's pages in range at once, the slow path's
//! `page_increm` grabs the rest of the folio after `follow_huge_pmd()`'s first page, and
//! `unpin_user_pages()` drops consecutive pages of one folio at once. A pin of a large
//! folio is two operations (`_refcount` and `_pincount`), of a small one one (adding
//! `GUP_PIN_COUNTING_BIAS`). `gup_test`'s release of `FOLL_GET` references is a
//! `put_page()` per page, so `get_user_pages_fast` saves only on the walk.

use std::sync::Arc;
use std::time::Duration;

use devices::{GuestMemory, GuestPhysAddr, PAGE_SIZE};
use emu::CostModel;
use guestos::mm::gup_test::{gup_test_run, GupTest, GupTestCmd, GupTestRun};
use guestos::mm::mmap::{
    MADV_DONTNEED, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_FIXED, MAP_POPULATE, MAP_PRIVATE, PROT_READ,
    PROT_WRITE,
};
use guestos::mm::{FollFlags, Mm, PhysMem, HPAGE_PMD_NR, HPAGE_PMD_SIZE};
use guestos::{Errno, UserAccess, RAM_BASE};
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

/// The folio size a [`PinSetup`] maps its range with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolioSize {
    /// Order-0 folios, one 4 KiB PTE each.
    K4,
    /// 2 MiB transparent huge pages, one huge PMD each (`MADV_HUGEPAGE`).
    M2,
}

impl FolioSize {
    /// Both sizes, in table order.
    pub const ALL: [FolioSize; 2] = [FolioSize::K4, FolioSize::M2];

    /// The folio size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Self::K4 => PAGE_SIZE,
            Self::M2 => HPAGE_PMD_SIZE,
        }
    }

    /// The table's label: `4K` or `2M`.
    pub fn label(self) -> &'static str {
        match self {
            Self::K4 => "4K",
            Self::M2 => "2M",
        }
    }

    /// The page-table level of a leaf mapping one such folio (0: PTE, 1: PMD).
    fn leaf_level(self) -> usize {
        match self {
            Self::K4 => 0,
            Self::M2 => 1,
        }
    }
}

/// An address space with one anonymous mapping to take references on: the set-up of
/// the selftest (`mmap`, `madvise(MADV_HUGEPAGE)` for 2 MiB folios, fault the pages in
/// from user space), in-process.
pub struct PinSetup {
    /// The physical memory (its kernel events price the runs).
    pub phys: Arc<PhysMem>,
    /// The address space.
    pub mm: Mm,
    /// First address of the mapping (2 MiB aligned).
    pub addr: u64,
    /// Its length in 4 KiB pages.
    pub pages: u64,
    /// The folios it is mapped with.
    pub folio: FolioSize,
}

impl PinSetup {
    /// `pages` pages of private anonymous memory, 2 MiB aligned, mapped with `folio`
    /// folios, written (populated) when `populate`, in a machine with enough RAM for them
    /// and their tables.
    ///
    /// # Errors
    /// [`Error::BadFlag`] if the machine cannot be built, the mapping fails, `pages` is
    /// not a multiple of 512 for [`FolioSize::M2`], or the populated range is not mapped
    /// as `folio` asks ([`PinSetup::check_mapping`]).
    pub fn new(
        pages: u64,
        folio: FolioSize,
        populate: bool,
        paging: SatpMode,
    ) -> Result<Self, Error> {
        let bad = |what: &str, e: &dyn std::fmt::Debug| {
            Error::BadFlag(format!("bench pin: {what}: {e:?}"))
        };
        if folio == FolioSize::M2 && (pages == 0 || !pages.is_multiple_of(HPAGE_PMD_NR)) {
            return Err(Error::BadFlag(format!(
                "bench pin: 2 MiB folios need a whole number of 2 MiB: {pages} pages is not \
                 a multiple of {HPAGE_PMD_NR}"
            )));
        }
        let huge = HPAGE_PMD_SIZE;
        // Room for the folios twice over (2 MiB blocks must stay free for THP faults) and
        // the page tables.
        let mem = (pages * PAGE_SIZE * 2 + (64 << 20)).next_multiple_of(huge);
        let ram =
            GuestMemory::new(&[(GuestPhysAddr(RAM_BASE), mem)]).map_err(|e| bad("RAM", &e))?;
        let phys = Arc::new(PhysMem::new(ram).map_err(|e| bad("allocator", &e))?);
        let mut mm = Mm::new(Arc::clone(&phys), paging, AdScheme::Svadu, 1)
            .map_err(|e| bad("address space", &e))?;
        let len = pages * PAGE_SIZE;
        let flags = MAP_PRIVATE | MAP_ANONYMOUS;
        // Reserve, then map exactly the aligned part (MAP_FIXED over the reservation).
        let raw = mm
            .do_mmap(0, len + huge, PROT_READ | PROT_WRITE, flags, None, 0)
            .map_err(|e| bad("mmap", &e))?;
        let addr = raw.next_multiple_of(huge);
        let populate_flag = if populate && folio == FolioSize::K4 {
            MAP_POPULATE
        } else {
            0
        };
        mm.do_mmap(
            addr,
            len,
            PROT_READ | PROT_WRITE,
            flags | MAP_FIXED | populate_flag,
            None,
            0,
        )
        .map_err(|e| bad("mmap", &e))?;
        if folio == FolioSize::M2 {
            mm.madvise(addr, len, MADV_HUGEPAGE)
                .map_err(|e| bad("madvise(MADV_HUGEPAGE)", &e))?;
            if populate {
                // The selftest's `memset()`: a user write to every page; the first one in
                // each 2 MiB maps a huge PMD.
                for page in 0..pages {
                    mm.copy_to_user(addr + page * PAGE_SIZE, &[1])
                        .map_err(|e| bad("populate", &e))?;
                }
            }
        }
        let setup = Self {
            phys,
            mm,
            addr,
            pages,
            folio,
        };
        if populate {
            setup.check_mapping().map_err(Error::BadFlag)?;
        }
        Ok(setup)
    }

    /// Checks that every page of the range is present and mapped by a leaf of the level
    /// [`PinSetup::folio`] implies: a 4 KiB PTE, or a huge PMD of a 2 MiB folio (not the
    /// huge zero folio).
    ///
    /// # Errors
    /// A description of the first page that is not.
    pub fn check_mapping(&self) -> Result<(), String> {
        let pt = self.mm.page_table();
        let want = self.folio.leaf_level();
        // A huge PMD maps 512 pages: one look per PMD suffices, every page for 4 KiB.
        let step = self.folio.bytes() / PAGE_SIZE;
        for page in (0..self.pages).step_by(step as usize) {
            let va = self.addr + page * PAGE_SIZE;
            let Some(slot) = pt.follow_pte(va) else {
                return Err(format!("bench pin: page {page} ({va:#x}) is not mapped"));
            };
            if slot.level != want {
                return Err(format!(
                    "bench pin: page {page} ({va:#x}) is mapped at page-table level {}, \
                     not {want}: the range is not mapped with {} folios",
                    slot.level,
                    self.folio.label()
                ));
            }
            let pfn = slot.pfn_at(va);
            let pages = &self.phys.pages;
            if pages.is_huge_zero_pfn(pfn)
                || pages.is_zero_pfn(pfn)
                || pages.folio_nr_pages(pfn) != step
            {
                return Err(format!(
                    "bench pin: page {page} ({va:#x}) is not in a private {} folio",
                    self.folio.label()
                ));
            }
        }
        Ok(())
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
    /// Folio size.
    pub folio: FolioSize,
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
    /// Atomic refcount and pincount updates per page, walk and release.
    pub refcount_ops: f64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Measures every row: `pages` pages per run, `samples` runs per row (the host time is
/// their median; the modelled cycles must be the same in every run, or the row reports
/// the difference as an error). With `pages` not a multiple of 512 the 2 MiB rows say
/// they are unavailable.
///
/// # Errors
/// [`Error::BadFlag`] if an in-process machine cannot be built, or a range is not mapped
/// with the folios its rows claim ([`PinSetup::check_mapping`]).
pub fn measure(
    pages: u64,
    samples: usize,
    cost: &CostModel,
    paging: SatpMode,
) -> Result<Vec<PinBenchRow>, Error> {
    let mut rows = Vec::new();
    let huge_ok = pages.is_multiple_of(HPAGE_PMD_NR);
    let mut setups = Vec::new();
    for folio in FolioSize::ALL {
        if folio == FolioSize::M2 && !huge_ok {
            setups.push(None);
            continue;
        }
        setups.push(Some((
            PinSetup::new(pages, folio, true, paging)?,
            PinSetup::new(pages, folio, false, paging)?,
        )));
    }
    for (api, cmd) in APIS {
        for (folio, setup) in FolioSize::ALL.into_iter().zip(setups.iter_mut()) {
            for batch in BATCHES {
                for is_populated in [true, false] {
                    let result = match setup {
                        None => Err(format!(
                            "unavailable: --pages {pages} is not a multiple of {HPAGE_PMD_NR}"
                        )),
                        Some((populated, faulting)) => {
                            let setup = if is_populated { populated } else { faulting };
                            measure_row(setup, cmd, batch, samples, cost, !is_populated)?
                        }
                    };
                    rows.push(PinBenchRow {
                        api,
                        folio,
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

/// One GUP run of a row: the command, then (untimed) the check that the range is still,
/// or was faulted in, as the row claims. For a faulting 2 MiB run, every 2 MiB must
/// have been a `thp_fault_alloc` and none a `thp_fault_fallback`.
///
/// # Errors
/// The outer error for a mapping that is not what the row claims (the command fails);
/// the inner one for a run that did not take every page (the row reports it).
fn checked_run(
    setup: &mut PinSetup,
    cmd: GupTestCmd,
    batch: u32,
    refault: bool,
) -> Result<Result<GupTestRun, String>, Error> {
    if refault {
        if let Err(e) = setup.depopulate() {
            return Ok(Err(format!("madvise: {e:?}")));
        }
    }
    let thp0 = setup.phys.pages.thp_stats();
    let r = match setup.run(cmd, batch) {
        Ok(r) => r,
        Err(e) => return Ok(Err(format!("{e:?}"))),
    };
    let thp1 = setup.phys.pages.thp_stats();
    setup.check_mapping().map_err(Error::BadFlag)?;
    if refault && setup.folio == FolioSize::M2 {
        let want = setup.pages / HPAGE_PMD_NR;
        let (alloc, fallback) = (
            thp1.fault_alloc - thp0.fault_alloc,
            thp1.fault_fallback - thp0.fault_fallback,
        );
        if alloc != want || fallback != 0 {
            return Err(Error::BadFlag(format!(
                "bench pin: a faulting 2 MiB run made {alloc} thp_fault_alloc (want {want}) \
                 and {fallback} thp_fault_fallback (want 0)"
            )));
        }
    }
    Ok(Ok(r))
}

fn measure_row(
    setup: &mut PinSetup,
    cmd: GupTestCmd,
    batch: u32,
    samples: usize,
    cost: &CostModel,
    refault: bool,
) -> Result<Result<PinBenchNumbers, String>, Error> {
    let mut gets = Vec::new();
    let mut puts = Vec::new();
    let mut first: Option<GupTestRun> = None;
    // A warm-up run: the first faults of a range also allocate its page tables, which
    // MADV_DONTNEED leaves in place; every measured run then sees the same state.
    if let Err(e) = checked_run(setup, cmd, batch, refault)? {
        return Ok(Err(e));
    }
    for _ in 0..samples.max(1) {
        let r = match checked_run(setup, cmd, batch, refault)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        gets.push(r.get_time);
        puts.push(r.put_time);
        match &first {
            None => first = Some(r),
            Some(f) if f.get_events != r.get_events || f.put_events != r.put_events => {
                return Ok(Err(
                    "modelled cycles differ between runs (a bug)".to_string()
                ));
            }
            Some(_) => {}
        }
    }
    let r = first.unwrap_or_default();
    let n = setup.pages as f64;
    Ok(Ok(PinBenchNumbers {
        get_cycles: r.get_events.cycles(cost) as f64 / n,
        put_cycles: r.put_events.cycles(cost) as f64 / n,
        get_ns: median(gets).as_nanos() as f64 / n,
        put_ns: median(puts).as_nanos() as f64 / n,
        refcount_ops: (r.get_events.refcount_ops + r.put_events.refcount_ops) as f64 / n,
    }))
}

/// The target: on 2 MiB folios at least this many times fewer refcount
/// operations per 4 KiB of memory than on 4 KiB folios (512 pages per call, populated).
pub const REFCOUNT_RATIO_TARGET: f64 = 50.0;

/// `dirtybit bench pin`: measures and prints the table, then the refcount operations
/// per 4 KiB page of 2 MiB against 4 KiB folios for each API at 512 pages per call,
/// populated, and whether the pinning ones meet [`REFCOUNT_RATIO_TARGET`].
///
/// # Errors
/// [`Error::BadFlag`] for bad options, a machine that cannot be built, or a range not
/// mapped with the folios its rows claim.
pub fn run(opts: &RunOptions, pages: u64, samples: usize) -> Result<(), Error> {
    let config = opts.kernel_config()?;
    if pages == 0 {
        return Err(Error::BadFlag("--pages must be at least 1".into()));
    }
    let rows = measure(pages, samples, &config.cost, config.paging)?;
    outln!(
        "dirtybit bench pin: {pages} pages ({} KiB) per run, FOLL_WRITE, {} paging; \
         cycles: modelled (cost model k_* entries, deterministic); ns: host, median of {samples} runs; \
         refs: refcount/pincount atomics",
        pages * PAGE_SIZE / 1024,
        opts.paging
    );
    outln!(
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
    for r in &rows {
        let state = if r.populated { "populated" } else { "fault" };
        match &r.result {
            Ok(n) => outln!(
                "{:<24} {:>5} {:>5} {:<9} {:>11.1} {:>11.1} {:>9.1} {:>9.1} {:>9.4}",
                r.api,
                r.folio.label(),
                r.batch,
                state,
                n.get_cycles,
                n.put_cycles,
                n.get_ns,
                n.put_ns,
                n.refcount_ops
            ),
            Err(why) => outln!(
                "{:<24} {:>5} {:>5} {:<9} {why}",
                r.api,
                r.folio.label(),
                r.batch,
                state
            ),
        }
    }
    let refs = |api: &str, folio: FolioSize| {
        rows.iter()
            .find(|r| r.api == api && r.folio == folio && r.batch == 512 && r.populated)
            .and_then(|r| r.result.as_ref().ok())
            .map(|n| n.refcount_ops)
    };
    for (api, cmd) in APIS {
        let (Some(small), Some(huge)) = (refs(api, FolioSize::K4), refs(api, FolioSize::M2)) else {
            continue;
        };
        let ratio = small / huge;
        let verdict = if cmd == GupTestCmd::GupFastBenchmark {
            // gup_test releases FOLL_GET references with a put_page() per page.
            "(no target: put_page() per page)".to_string()
        } else if ratio >= REFCOUNT_RATIO_TARGET {
            format!("(target >= {REFCOUNT_RATIO_TARGET}x: met)")
        } else {
            format!("(target >= {REFCOUNT_RATIO_TARGET}x: NOT met)")
        };
        outln!(
            "refcount ops per 4 KiB, {api}, 512 pages per call, populated: \
             4K folios {small:.4}, 2M folios {huge:.4}, ratio {ratio:.1}x {verdict}"
        );
    }
    Ok(())
}
