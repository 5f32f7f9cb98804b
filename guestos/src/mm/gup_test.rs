//! `/sys/kernel/debug/gup_test` (Linux `mm/gup_test.c`, ABI `mm/gup_test.h`): the
//! debugfs file through which Linux's mm selftests (`tools/testing/selftests/mm/gup_test.c`,
//! `cow.c`) drive `get_user_pages*()` and `pin_user_pages*()` from user space.
//!
//! # ABI
//! The command numbers are computed as `include/uapi/asm-generic/ioctl.h` computes them
//! (`_IOC(dir, 'g', nr, sizeof(T))`) from the sizes of the two structures on riscv64
//! (`struct gup_test`: 80 bytes, `struct pin_longterm_test`: 24 bytes, both padded to
//! 8-byte alignment):
//!
//! | command | definition | value |
//! |---|---|---|
//! | [`GUP_FAST_BENCHMARK`] | `_IOWR('g', 1, struct gup_test)` | `0xc0506701` |
//! | [`PIN_FAST_BENCHMARK`] | `_IOWR('g', 2, struct gup_test)` | `0xc0506702` |
//! | [`PIN_LONGTERM_BENCHMARK`] | `_IOWR('g', 3, struct gup_test)` | `0xc0506703` |
//! | [`GUP_BASIC_TEST`] | `_IOWR('g', 4, struct gup_test)` | `0xc0506704` |
//! | [`PIN_BASIC_TEST`] | `_IOWR('g', 5, struct gup_test)` | `0xc0506705` |
//! | [`DUMP_USER_PAGES_TEST`] | `_IOWR('g', 6, struct gup_test)` | `0xc0506706` |
//! | [`PIN_LONGTERM_TEST_START`] | `_IOW('g', 7, struct pin_longterm_test)` | `0x40186707` |
//! | [`PIN_LONGTERM_TEST_STOP`] | `_IO('g', 8)` | `0x6708` |
//! | [`PIN_LONGTERM_TEST_READ`] | `_IOW('g', 9, __u64)` | `0x40086709` |
//!
//! # Behaviour (as `mm/gup_test.c`)
//! - The six `struct gup_test` commands ([`gup_test_run`], Linux's `__gup_test_ioctl()`):
//!   `EINVAL` if `addr + size` overflows; the page array is allocated (`kvcalloc()`:
//!   `ENOMEM` beyond `INT_MAX` bytes or beyond free guest RAM); the range is walked
//!   `nr_pages_per_call` pages per call with the command's GUP function, stopping at the
//!   first call that returns fewer pages than asked (an error stops it too and is **not**
//!   returned: the ioctl succeeds with `size` cut to what was walked); `gup_flags` go to
//!   GUP as given, where `is_valid_gup_args()` and `gup_fast_fallback()` refuse what they
//!   refuse (so a refused flag shows as `size` 0); `get_delta_usec` is the host
//!   microseconds of that walk. Then `verify_dma_pinned()` for the pin commands: a page
//!   that `folio_maybe_dma_pinned()` does not see as pinned (the shared zero page, which
//!   pins never count on) gets a `WARN()` — a `WARNING:` report and a `dump_page()` on
//!   the kernel log (the guest's stderr stream), and the `warnings` kernel event, which
//!   `--stats` shows — and the ioctl still succeeds, as Linux's does. `DUMP_USER_PAGES_TEST`
//!   dumps the pages named by `which_pages[]` (1-based; out-of-range entries are zeroed
//!   with a warning and the zero written back). `put_back_pages()` releases everything
//!   (`put_page()` or `unpin_user_pages()`), timed as `put_delta_usec`.
//! - `PIN_LONGTERM_TEST_START` / `READ` / `STOP`: a long-term R/O or R/W pin held across
//!   calls (`cow.c`'s R/O pinning tests). Linux keeps one such test for the whole system
//!   (file-scope statics); here the state belongs to the open file description, so two
//!   opens are two independent tests (one active test per description: `START` twice
//!   is `EINVAL`, `READ` without `START` is `EINVAL`, `STOP` unpins, and closing the last
//!   descriptor unpins, as Linux's `release`).
//!
//! # Modelled cycles
//! The ioctl's kernel work is counted in [`super::KernelEvents`] and charged to the
//! calling hart when the system call returns (see [`super::events`]): a guest that reads
//! `rdcycle` right before and right after the `ecall` gets the trap entry and exit plus
//! the modelled cycles of that call — the modelled counterpart of `get_delta_usec` +
//! `put_delta_usec`. `dirtybit bench pin` reports the same per page.

use std::sync::Arc;

use crate::sync::Mutex;
use std::time::{Duration, Instant};

use devices::PAGE_SIZE;

use super::events::KernelEventCounts;
use super::gup::{
    get_user_pages_fast_into, get_user_pages_into, gup_fast_prepare, gup_fast_slow,
    is_valid_gup_args, pin_user_pages_fast_into, pin_user_pages_into, put_page, unpin_user_pages,
    CurrentMm, FollFlags, GupFastMm, MmapReadGuard,
};
use super::page_alloc::Pfn;
use super::PhysMem;
use crate::errno::{Errno, KResult};

/// `_IOC_NONE` (include/uapi/asm-generic/ioctl.h).
const IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: user space writes the argument (the kernel reads it).
const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes the argument.
const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`: `dir << 30 | size << 16 | type << 8 | nr`.
const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}

/// `sizeof(struct gup_test)` on riscv64: five `__u64`… four `__u64`, three `__u32` and
/// `__u32 which_pages[8]` (76 bytes), padded to the 8-byte alignment: 80.
pub const GUP_TEST_SIZE: usize = 80;
/// `sizeof(struct pin_longterm_test)`: two `__u64` and a `__u32`, padded: 24.
pub const PIN_LONGTERM_TEST_SIZE: usize = 24;

/// `GUP_FAST_BENCHMARK`: `get_user_pages_fast()` over the range.
pub const GUP_FAST_BENCHMARK: u32 = ioc(IOC_READ | IOC_WRITE, b'g', 1, GUP_TEST_SIZE);
/// `PIN_FAST_BENCHMARK`: `pin_user_pages_fast()`.
pub const PIN_FAST_BENCHMARK: u32 = ioc(IOC_READ | IOC_WRITE, b'g', 2, GUP_TEST_SIZE);
/// `PIN_LONGTERM_BENCHMARK`: `pin_user_pages(FOLL_LONGTERM)`.
pub const PIN_LONGTERM_BENCHMARK: u32 = ioc(IOC_READ | IOC_WRITE, b'g', 3, GUP_TEST_SIZE);
/// `GUP_BASIC_TEST`: `get_user_pages()`.
pub const GUP_BASIC_TEST: u32 = ioc(IOC_READ | IOC_WRITE, b'g', 4, GUP_TEST_SIZE);
/// `PIN_BASIC_TEST`: `pin_user_pages()`.
pub const PIN_BASIC_TEST: u32 = ioc(IOC_READ | IOC_WRITE, b'g', 5, GUP_TEST_SIZE);
/// `DUMP_USER_PAGES_TEST`: `get_user_pages()` (or `pin_user_pages()` with
/// [`GUP_TEST_FLAG_DUMP_PAGES_USE_PIN`]) and `dump_page()` of chosen pages.
pub const DUMP_USER_PAGES_TEST: u32 = ioc(IOC_READ | IOC_WRITE, b'g', 6, GUP_TEST_SIZE);
/// `PIN_LONGTERM_TEST_START`: pin a range long-term and keep it pinned.
pub const PIN_LONGTERM_TEST_START: u32 = ioc(IOC_WRITE, b'g', 7, PIN_LONGTERM_TEST_SIZE);
/// `PIN_LONGTERM_TEST_STOP`: unpin it.
pub const PIN_LONGTERM_TEST_STOP: u32 = ioc(IOC_NONE, b'g', 8, 0);
/// `PIN_LONGTERM_TEST_READ`: copy the pinned pages' contents to a user buffer.
pub const PIN_LONGTERM_TEST_READ: u32 = ioc(IOC_WRITE, b'g', 9, 8);

/// `GUP_TEST_MAX_PAGES_TO_DUMP`.
pub const GUP_TEST_MAX_PAGES_TO_DUMP: usize = 8;
/// `GUP_TEST_FLAG_DUMP_PAGES_USE_PIN`: `DUMP_USER_PAGES_TEST` pins instead of getting.
pub const GUP_TEST_FLAG_DUMP_PAGES_USE_PIN: u32 = 0x1;
/// `PIN_LONGTERM_TEST_FLAG_USE_WRITE`: pin with `FOLL_WRITE`.
pub const PIN_LONGTERM_TEST_FLAG_USE_WRITE: u32 = 1;
/// `PIN_LONGTERM_TEST_FLAG_USE_FAST`: pin with `pin_user_pages_fast()`.
pub const PIN_LONGTERM_TEST_FLAG_USE_FAST: u32 = 2;

/// The six commands that take a `struct gup_test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GupTestCmd {
    /// [`GUP_FAST_BENCHMARK`].
    GupFastBenchmark,
    /// [`PIN_FAST_BENCHMARK`].
    PinFastBenchmark,
    /// [`PIN_LONGTERM_BENCHMARK`].
    PinLongtermBenchmark,
    /// [`GUP_BASIC_TEST`].
    GupBasicTest,
    /// [`PIN_BASIC_TEST`].
    PinBasicTest,
    /// [`DUMP_USER_PAGES_TEST`].
    DumpUserPagesTest,
}

impl GupTestCmd {
    /// The command for an ioctl number, if it is one of the six.
    pub fn from_ioctl(cmd: u32) -> Option<Self> {
        Some(match cmd {
            GUP_FAST_BENCHMARK => Self::GupFastBenchmark,
            PIN_FAST_BENCHMARK => Self::PinFastBenchmark,
            PIN_LONGTERM_BENCHMARK => Self::PinLongtermBenchmark,
            GUP_BASIC_TEST => Self::GupBasicTest,
            PIN_BASIC_TEST => Self::PinBasicTest,
            DUMP_USER_PAGES_TEST => Self::DumpUserPagesTest,
            _ => return None,
        })
    }

    /// Linux's name of the command (as the selftest's `cmd_to_str()`).
    pub fn name(self) -> &'static str {
        match self {
            Self::GupFastBenchmark => "GUP_FAST_BENCHMARK",
            Self::PinFastBenchmark => "PIN_FAST_BENCHMARK",
            Self::PinLongtermBenchmark => "PIN_LONGTERM_BENCHMARK",
            Self::GupBasicTest => "GUP_BASIC_TEST",
            Self::PinBasicTest => "PIN_BASIC_TEST",
            Self::DumpUserPagesTest => "DUMP_USER_PAGES_TEST",
        }
    }

    /// Whether the command holds the mmap lock around its walk (every one but the two
    /// fast benchmarks: `needs_mmap_lock`).
    fn needs_mmap_lock(self) -> bool {
        !matches!(self, Self::GupFastBenchmark | Self::PinFastBenchmark)
    }
}

/// `struct gup_test`, decoded (little-endian, the riscv64 layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GupTest {
    /// Out: host microseconds of the GUP walk.
    pub get_delta_usec: u64,
    /// Out: host microseconds of releasing the pages.
    pub put_delta_usec: u64,
    /// In: first user address.
    pub addr: u64,
    /// In: bytes to walk; out: bytes walked.
    pub size: u64,
    /// In: pages per GUP call.
    pub nr_pages_per_call: u32,
    /// In: `FOLL_*` flags passed to GUP as given.
    pub gup_flags: u32,
    /// In: [`GUP_TEST_FLAG_DUMP_PAGES_USE_PIN`].
    pub test_flags: u32,
    /// In/out: 1-based page numbers to dump (0: none); out-of-range ones are zeroed.
    pub which_pages: [u32; GUP_TEST_MAX_PAGES_TO_DUMP],
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

impl GupTest {
    /// Decodes the 80 bytes of a `struct gup_test`.
    pub fn from_bytes(b: &[u8; GUP_TEST_SIZE]) -> Self {
        let mut which_pages = [0u32; GUP_TEST_MAX_PAGES_TO_DUMP];
        for (i, w) in which_pages.iter_mut().enumerate() {
            *w = u32_at(b, 44 + 4 * i);
        }
        Self {
            get_delta_usec: u64_at(b, 0),
            put_delta_usec: u64_at(b, 8),
            addr: u64_at(b, 16),
            size: u64_at(b, 24),
            nr_pages_per_call: u32_at(b, 32),
            gup_flags: u32_at(b, 36),
            test_flags: u32_at(b, 40),
            which_pages,
        }
    }

    /// Encodes it as the 80 bytes of a `struct gup_test` (the 4 padding bytes zero).
    pub fn to_bytes(&self) -> [u8; GUP_TEST_SIZE] {
        let mut b = [0u8; GUP_TEST_SIZE];
        b[0..8].copy_from_slice(&self.get_delta_usec.to_le_bytes());
        b[8..16].copy_from_slice(&self.put_delta_usec.to_le_bytes());
        b[16..24].copy_from_slice(&self.addr.to_le_bytes());
        b[24..32].copy_from_slice(&self.size.to_le_bytes());
        b[32..36].copy_from_slice(&self.nr_pages_per_call.to_le_bytes());
        b[36..40].copy_from_slice(&self.gup_flags.to_le_bytes());
        b[40..44].copy_from_slice(&self.test_flags.to_le_bytes());
        for (i, w) in self.which_pages.iter().enumerate() {
            let off = 44 + 4 * i;
            b[off..off + 4].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

/// What one [`gup_test_run`] did, for `dirtybit bench pin`: host time and kernel events
/// of the GUP walk and of the release, separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GupTestRun {
    /// Pages taken (and released).
    pub nr_pages: usize,
    /// Host time of the GUP walk (`get_delta_usec`, unrounded).
    pub get_time: Duration,
    /// Host time of the release (`put_delta_usec`, unrounded).
    pub put_time: Duration,
    /// Kernel events of the walk, VMA/page-table work and faults included.
    pub get_events: KernelEventCounts,
    /// Kernel events of the release.
    pub put_events: KernelEventCounts,
}

/// `kvcalloc(nr_pages, sizeof(struct page *))` for the page array. Linux's
/// `kvmalloc_node()` refuses more than `INT_MAX` bytes, and the array comes out of the
/// same RAM as everything else, so more than free guest RAM could hold is refused too.
/// The host vector itself grows only with the pages actually taken.
///
/// # Errors
/// `ENOMEM`.
fn kvcalloc_pages(phys: &PhysMem, nr_pages: u64) -> KResult<Vec<Pfn>> {
    let bytes = nr_pages.checked_mul(8).ok_or(Errno::ENOMEM)?;
    if bytes > i32::MAX as u64 || bytes > phys.pages.nr_free().saturating_mul(PAGE_SIZE) {
        return Err(Errno::ENOMEM);
    }
    Ok(Vec::with_capacity(nr_pages.min(1 << 16) as usize))
}

/// One GUP call of the benchmark loop: `(addr, nr_pages, pages) -> pages taken`.
type GupCall<'c> = dyn FnMut(u64, usize, &mut Vec<Pfn>) -> KResult<usize> + 'c;

/// Where the loop of `__gup_test_ioctl()` stands: `nr_pages_per_call` pages per call from
/// `addr` to `end`, stopping after a call that took fewer than asked (or failed).
#[derive(Debug, Clone, Copy)]
struct Walk {
    addr: u64,
    end: u64,
    per_call: i64,
    /// What the last call returned (a negative errno in Linux: only its sign matters).
    nr: i64,
    stopped: bool,
}

impl Walk {
    fn new(gup: &GupTest, end: u64) -> Self {
        let per_call = i64::from(gup.nr_pages_per_call);
        Self {
            addr: gup.addr,
            end,
            per_call,
            nr: per_call,
            stopped: false,
        }
    }

    /// The next call's `(addr, nr_pages, next)`, or `None` when the loop is over.
    fn next_call(&self) -> Option<(u64, usize, u64)> {
        if self.stopped || self.addr >= self.end || self.nr != self.per_call {
            return None;
        }
        // unsigned long arithmetic, as Linux: a wrap is left to GUP to refuse.
        let mut nr = self.nr;
        let mut next = self.addr.wrapping_add((nr as u64).wrapping_mul(PAGE_SIZE));
        if next > self.end {
            next = self.end;
            nr = ((next - self.addr) / PAGE_SIZE) as i64;
        }
        Some((self.addr, nr as usize, next))
    }

    /// Records what the call returned; `next` is from [`Walk::next_call`].
    fn record(&mut self, r: KResult<usize>, next: u64) {
        self.nr = r.map_or(-1, |n| n as i64);
        if self.nr <= 0 {
            // `break` skips the `addr = next` of Linux's for loop.
            self.stopped = true;
        } else {
            self.addr = next;
        }
    }

    /// Runs the loop to its end with `call`; returns the address reached
    /// (`gup->size = addr - gup->addr`).
    fn run(&mut self, pages: &mut Vec<Pfn>, call: &mut GupCall<'_>) -> u64 {
        while let Some((addr, nr, next)) = self.next_call() {
            let r = call(addr, nr, pages);
            self.record(r, next);
        }
        self.addr
    }
}

/// The walk of `__gup_test_ioctl()` (see [`Walk`]). Returns the address reached.
fn gup_test_walk(gup: &GupTest, end: u64, pages: &mut Vec<Pfn>, call: &mut GupCall<'_>) -> u64 {
    Walk::new(gup, end).run(pages, call)
}

/// Linux's `__gup_test_ioctl()` on `mm` for `cmd`: walks the range of `gup` with the
/// command's GUP function, verifies the pins, dumps pages for `DUMP_USER_PAGES_TEST`,
/// releases everything, and fills in `gup`'s outputs (`size` walked, host
/// microseconds). Kernel messages go to `log`, attributed to `pid`.
///
/// Errors of the GUP calls end the walk early and are not returned (Linux's loop breaks
/// on `nr <= 0` with `ret` still 0).
///
/// # Errors
/// `EINVAL` if `addr + size` overflows; `ENOMEM` if the page array cannot be allocated.
pub fn gup_test_run(
    mut mm: impl CurrentMm,
    cmd: GupTestCmd,
    gup: &mut GupTest,
    log: &mut dyn FnMut(&str),
    pid: u32,
) -> KResult<GupTestRun> {
    let end = gup.addr.checked_add(gup.size).ok_or(Errno::EINVAL)?;
    let phys = Arc::clone(mm.phys());
    let mut pages = kvcalloc_pages(&phys, gup.size / PAGE_SIZE)?;
    let flags = FollFlags::from_bits_retain(gup.gup_flags);
    let use_pin = gup.test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN != 0;
    let ev0 = phys.events().snapshot();
    let t0 = Instant::now();
    let reached = if cmd.needs_mmap_lock() {
        let mut guard = mm.mmap_read_lock();
        let g: &mut MmapReadGuard<'_> = &mut guard;
        let r = gup_test_walk(gup, end, &mut pages, &mut |addr, nr, pages| match cmd {
            GupTestCmd::GupBasicTest => get_user_pages_into(g, addr, nr, flags, pages),
            GupTestCmd::PinBasicTest => pin_user_pages_into(g, addr, nr, flags, pages),
            GupTestCmd::PinLongtermBenchmark => {
                pin_user_pages_into(g, addr, nr, flags | FollFlags::LONGTERM, pages)
            }
            GupTestCmd::DumpUserPagesTest if use_pin => {
                pin_user_pages_into(g, addr, nr, flags, pages)
            }
            GupTestCmd::DumpUserPagesTest => get_user_pages_into(g, addr, nr, flags, pages),
            GupTestCmd::GupFastBenchmark | GupTestCmd::PinFastBenchmark => Err(Errno::EINVAL),
        });
        guard.unlock();
        r
    } else {
        // No mmap_lock: gup_fast() is lockless, its slow path takes the read side.
        gup_test_walk(gup, end, &mut pages, &mut |addr, nr, pages| match cmd {
            GupTestCmd::PinFastBenchmark => {
                pin_user_pages_fast_into(&mut mm, addr, nr, flags, pages)
            }
            _ => get_user_pages_fast_into(&mut mm, addr, nr, flags, pages),
        })
    };
    Ok(gup_test_finish(
        &phys,
        cmd,
        gup,
        &pages,
        reached,
        (ev0, t0),
        log,
        pid,
    ))
}

/// The end of `__gup_test_ioctl()` once the walk started at `start` (events, host time)
/// has reached `reached` with `pages`: verify the pins, dump pages, release everything,
/// fill in `gup`'s outputs.
#[allow(clippy::too_many_arguments)]
fn gup_test_finish(
    phys: &PhysMem,
    cmd: GupTestCmd,
    gup: &mut GupTest,
    pages: &[Pfn],
    reached: u64,
    start: (KernelEventCounts, Instant),
    log: &mut dyn FnMut(&str),
    pid: u32,
) -> GupTestRun {
    let (ev0, t0) = start;
    let use_pin = gup.test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN != 0;
    let get_time = t0.elapsed();
    let ev1 = phys.events().snapshot();
    gup.get_delta_usec = get_time.as_micros() as u64;
    gup.size = reached.wrapping_sub(gup.addr);

    // Take an un-benchmark-timed moment to verify DMA pinned state.
    verify_dma_pinned(phys, cmd, pages, log, pid);
    if cmd == GupTestCmd::DumpUserPagesTest {
        dump_pages_test(phys, gup, pages, log);
    }

    let ev2 = phys.events().snapshot();
    let t1 = Instant::now();
    put_back_pages(phys, cmd, pages, use_pin);
    let put_time = t1.elapsed();
    gup.put_delta_usec = put_time.as_micros() as u64;
    GupTestRun {
        nr_pages: pages.len(),
        get_time,
        put_time,
        get_events: ev1.since(&ev0),
        put_events: phys.events().snapshot().since(&ev2),
    }
}

/// The first, lockless half of a fast benchmark (`GUP_FAST_BENCHMARK`,
/// `PIN_FAST_BENCHMARK`) when the hart can run it without the kernel lock (see
/// [`crate::percpu::defer_unlocked`]): each call's `gup_fast()` walk runs through a
/// [`GupFastMm`] handle while other harts run the kernel — `munmap`, `fork`,
/// `madvise` on the same address space — and the first call the lockless walk cannot
/// complete is left, with what it took, to [`FastPhase::finish`] under the lock (the
/// slow path of `gup_fast_fallback()`), which then walks on as usual. The same calls, in
/// the same order, with the same events as the locked loop.
struct FastPhase {
    phys: Arc<PhysMem>,
    cmd: GupTestCmd,
    gup: GupTest,
    flags: FollFlags,
    walk: Walk,
    pages: Vec<Pfn>,
    /// The call the lockless walk could not complete: `(addr, nr, taken, next)`.
    pending: Option<(u64, usize, usize, u64)>,
    start: (KernelEventCounts, Instant),
    /// Handed to [`FastPhase::finish`] (else dropping it releases the pages).
    finished: bool,
}

impl FastPhase {
    /// Prepares the lockless half of `cmd` over `gup` for `mm`, or `None` if the plain
    /// locked loop must run instead (a range or flags the checks refuse: the locked loop
    /// gets the errors right).
    fn prepare(mm: &dyn CurrentMm, cmd: GupTestCmd, gup: &GupTest) -> Option<(Self, GupFastMm)> {
        let end = gup.addr.checked_add(gup.size)?;
        if !(gup.addr | gup.size).is_multiple_of(PAGE_SIZE) || gup.nr_pages_per_call == 0 {
            return None;
        }
        let to_set = if cmd == GupTestCmd::PinFastBenchmark {
            FollFlags::PIN
        } else {
            FollFlags::GET
        };
        let flags =
            is_valid_gup_args(FollFlags::from_bits_retain(gup.gup_flags), false, to_set).ok()?;
        // Every call's range is inside this one: its checks hold for each.
        gup_fast_prepare(mm, gup.addr, (gup.size / PAGE_SIZE) as usize, flags).ok()?;
        let phys = Arc::clone(mm.phys());
        let pages = kvcalloc_pages(&phys, gup.size / PAGE_SIZE).ok()?;
        Some((
            Self {
                phys,
                cmd,
                gup: *gup,
                flags,
                walk: Walk::new(gup, end),
                pages,
                pending: None,
                start: (KernelEventCounts::default(), Instant::now()),
                finished: false,
            },
            mm.gup_fast_handle(),
        ))
    }

    /// The lockless half, on the hart without the kernel lock.
    fn run_unlocked(mut self, handle: &GupFastMm) -> Self {
        // The address space may go meanwhile (its last thread exits on another hart):
        // its page tables wait for this walk to end (see PhysMem::gup_fast_begin).
        let phys = Arc::clone(&self.phys);
        let _walk = phys.gup_fast_begin();
        self.start = (self.phys.events().snapshot(), Instant::now());
        while let Some((addr, nr, next)) = self.walk.next_call() {
            let got = handle.gup_fast(addr, nr, self.flags);
            let taken = got.len();
            self.pages.extend(got);
            if taken == nr || self.flags.contains(FollFlags::FAST_ONLY) {
                self.walk.record(Ok(taken), next);
            } else {
                self.pending = Some((addr, nr, taken, next));
                break;
            }
        }
        self
    }

    /// The locked half: the pending call's slow path, the rest of the loop, and the end
    /// of the ioctl. Returns the filled-in `struct gup_test`.
    fn finish(mut self, mm: &mut dyn CurrentMm, log: &mut dyn FnMut(&str), pid: u32) -> GupTest {
        self.finished = true;
        let mut pages = std::mem::take(&mut self.pages);
        if let Some((addr, nr, taken, next)) = self.pending.take() {
            let r = gup_fast_slow(mm, addr, nr, taken, self.flags, &mut pages);
            self.walk.record(r, next);
        }
        let (cmd, flags) = (self.cmd, FollFlags::from_bits_retain(self.gup.gup_flags));
        let reached = self.walk.run(&mut pages, &mut |addr, nr, pages| match cmd {
            GupTestCmd::PinFastBenchmark => {
                pin_user_pages_fast_into(&mut *mm, addr, nr, flags, pages)
            }
            _ => get_user_pages_fast_into(&mut *mm, addr, nr, flags, pages),
        });
        let mut gup = self.gup;
        gup_test_finish(
            &self.phys, cmd, &mut gup, &pages, reached, self.start, log, pid,
        );
        gup
    }
}

impl Drop for FastPhase {
    fn drop(&mut self) {
        if !self.finished {
            put_back_pages(&self.phys, self.cmd, &self.pages, false);
        }
    }
}

/// `put_back_pages()`: `put_page()` for the `FOLL_GET` commands, `unpin_user_pages()`
/// for the pinning ones.
fn put_back_pages(phys: &PhysMem, cmd: GupTestCmd, pages: &[Pfn], use_pin: bool) {
    let pinned = match cmd {
        GupTestCmd::GupFastBenchmark | GupTestCmd::GupBasicTest => false,
        GupTestCmd::PinFastBenchmark
        | GupTestCmd::PinBasicTest
        | GupTestCmd::PinLongtermBenchmark => true,
        GupTestCmd::DumpUserPagesTest => use_pin,
    };
    if pinned {
        unpin_user_pages(phys, pages);
    } else {
        for &pfn in pages {
            put_page(phys, pfn);
        }
    }
}

/// `WARN(cond, fmt)`: the report Linux prints for a failed kernel self-check, on the
/// kernel log, counted as the `warnings` kernel event.
fn warn(phys: &PhysMem, log: &mut dyn FnMut(&str), pid: u32, msg: &str, func: &str) {
    phys.events().warnings.inc();
    log("------------[ cut here ]------------\n");
    log(&format!("{msg}\n"));
    log(&format!(
        "WARNING: CPU: 0 PID: {pid} at mm/gup_test.c {func}\n"
    ));
}

/// `dump_page(page, reason)`: refcount, mapcount, pfn and flags of a frame.
fn dump_page(phys: &PhysMem, pfn: Pfn, reason: &str, log: &mut dyn FnMut(&str)) {
    match phys.pages.page(pfn) {
        Some(p) => {
            let zero = if phys.pages.is_zero_pfn(pfn) {
                " (zero page)"
            } else {
                ""
            };
            log(&format!(
                "page: refcount:{} mapcount:{} pfn:{:#x}{zero}\nflags: {:?}\n",
                p.refcount(),
                p.mapcount(),
                pfn.0,
                p.flags()
            ));
        }
        None => log(&format!("page: pfn:{:#x} (no struct page)\n", pfn.0)),
    }
    log(&format!("page dumped because: {reason}\n"));
}

/// `verify_dma_pinned()`: every page a pin command took must be
/// `folio_maybe_dma_pinned()`; the first that is not gets a `WARN()` and a dump, and the
/// check stops (as Linux's `break`). Every frame here is long-term pinnable (no
/// `ZONE_MOVABLE`, CMA or device memory), so the `PIN_LONGTERM_BENCHMARK` check of
/// `folio_is_longterm_pinnable()` cannot fail.
fn verify_dma_pinned(
    phys: &PhysMem,
    cmd: GupTestCmd,
    pages: &[Pfn],
    log: &mut dyn FnMut(&str),
    pid: u32,
) {
    if !matches!(
        cmd,
        GupTestCmd::PinFastBenchmark | GupTestCmd::PinBasicTest | GupTestCmd::PinLongtermBenchmark
    ) {
        return;
    }
    for (i, &pfn) in pages.iter().enumerate() {
        // folio_maybe_dma_pinned(page_folio(pages[i])): a large folio's pins are
        // counted on its head (`_pincount`), never on the tail page taken.
        let folio = phys.pages.folio(pfn);
        if !folio.is_some_and(|(_, f)| f.maybe_dma_pinned()) {
            warn(
                phys,
                log,
                pid,
                &format!("pages[{i}] is NOT dma-pinned"),
                "verify_dma_pinned",
            );
            let head = folio.map_or(pfn, |(h, _)| h);
            dump_page(phys, head, "gup_test failure", log);
            break;
        }
    }
}

/// `dump_pages_test()`: zeroes the out-of-range entries of `which_pages` (with a
/// warning, `pr_warn()`), then dumps each page named (1-based) by the others.
fn dump_pages_test(phys: &PhysMem, gup: &mut GupTest, pages: &[Pfn], log: &mut dyn FnMut(&str)) {
    let nr = pages.len() as u64;
    for (i, w) in gup.which_pages.iter_mut().enumerate() {
        if u64::from(*w) > nr {
            log(&format!(
                "ZEROING due to out of range: .which_pages[{i}]: {}\n",
                *w
            ));
            *w = 0;
        }
    }
    for &w in &gup.which_pages {
        let Some(index) = (w as usize).checked_sub(1) else {
            continue;
        };
        if let Some(&pfn) = pages.get(index) {
            log(&format!(
                "---- page #{index}, starting from user virt addr: {:#x}\n",
                gup.addr
            ));
            dump_page(phys, pfn, "gup_test: dump_pages() test", log);
        }
    }
}

/// Pages held by a `PIN_LONGTERM_TEST_START`, unpinned when dropped
/// (`pin_longterm_test_stop()`).
#[derive(Debug)]
struct LongtermPins {
    phys: Arc<PhysMem>,
    pages: Vec<Pfn>,
}

impl Drop for LongtermPins {
    fn drop(&mut self) {
        unpin_user_pages(&self.phys, &self.pages);
    }
}

/// One open of `/sys/kernel/debug/gup_test`: its long-term pin test (see the module
/// docs on why per open file). The file's operations
/// ([`crate::debugfs::gup_test::GupTestFops`]) hold a default one (no test running) as
/// the open file description's state; their `release` stops the test.
#[derive(Debug, Default)]
pub struct GupTestFile {
    longterm: Mutex<Option<LongtermPins>>,
}

impl GupTestFile {
    /// The pages currently held by `PIN_LONGTERM_TEST_START` (for tests).
    pub fn longterm_pages(&self) -> usize {
        self.longterm.lock().as_ref().map_or(0, |p| p.pages.len())
    }

    /// `pin_longterm_test_stop()`: unpins the pages of the running test, if any.
    pub fn longterm_stop(&self) {
        self.longterm.lock().take();
    }

    /// `pin_longterm_test_start()`.
    fn longterm_start(&self, mm: &mut dyn CurrentMm, arg: u64) -> KResult<u64> {
        let mut state = self.longterm.lock();
        if state.is_some() {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; PIN_LONGTERM_TEST_SIZE];
        mm.user().copy_from_user(arg, &mut b)?;
        let (addr, size, flags) = (u64_at(&b, 0), u64_at(&b, 8), u32_at(&b, 16));
        if flags & !(PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST) != 0 {
            return Err(Errno::EINVAL);
        }
        if (addr | size) % PAGE_SIZE != 0 || size > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let nr_pages = size / PAGE_SIZE;
        if nr_pages == 0 {
            return Err(Errno::EINVAL);
        }
        let phys = Arc::clone(mm.phys());
        let pages = kvcalloc_pages(&phys, nr_pages)?;
        let mut gup_flags = FollFlags::LONGTERM;
        if flags & PIN_LONGTERM_TEST_FLAG_USE_WRITE != 0 {
            gup_flags |= FollFlags::WRITE;
        }
        let fast = flags & PIN_LONGTERM_TEST_FLAG_USE_FAST != 0;
        // The pages taken so far are released by this guard's Drop on any error
        // (Linux: pin_longterm_test_stop()).
        let mut pins = LongtermPins { phys, pages };
        let nr_pages = nr_pages as usize;
        let mut pin_all = |call: &mut GupCall<'_>| -> KResult<()> {
            while pins.pages.len() < nr_pages {
                let done = pins.pages.len();
                let at = addr.wrapping_add(done as u64 * PAGE_SIZE);
                // GUP never returns 0 for a non-empty range (Linux would loop forever).
                if call(at, nr_pages - done, &mut pins.pages)? == 0 {
                    return Err(Errno::EFAULT);
                }
            }
            Ok(())
        };
        if fast {
            pin_all(&mut |a, n, p| pin_user_pages_fast_into(&mut *mm, a, n, gup_flags, p))?;
        } else {
            let mut guard = mm.mmap_read_lock();
            let r = pin_all(&mut |a, n, p| pin_user_pages_into(&mut guard, a, n, gup_flags, p));
            guard.unlock();
            r?;
        }
        *state = Some(pins);
        Ok(0)
    }

    /// `pin_longterm_test_read()`: copies each pinned page to consecutive pages of user
    /// memory from the address `arg` points to.
    fn longterm_read(&self, mm: &mut dyn CurrentMm, arg: u64) -> KResult<u64> {
        let state = self.longterm.lock();
        let Some(pins) = state.as_ref() else {
            return Err(Errno::EINVAL);
        };
        let mut user_addr = mm.user().get_user_u64(arg)?;
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        for &pfn in &pins.pages {
            // kmap_local_page() + copy_to_user() of a whole page.
            pins.phys.events().page_copies.inc();
            pins.phys
                .ram
                .read_bytes(pfn.pa(), &mut buf)
                .map_err(|_| Errno::EFAULT)?;
            mm.user().copy_to_user(user_addr, &buf)?;
            user_addr = user_addr.wrapping_add(PAGE_SIZE);
        }
        Ok(0)
    }

    /// `gup_test_ioctl()`: command `cmd` with argument `arg`, made by task `pid` whose
    /// address space (`current->mm`, also its user memory) is `mm`; kernel messages go to
    /// `log` (`printk`: whole lines).
    ///
    /// # Errors
    /// `EINVAL` for an unknown command and the argument checks above; `EFAULT` when the
    /// argument cannot be copied; `ENOMEM`; the pin's errno for `PIN_LONGTERM_TEST_START`.
    pub fn ioctl(
        &self,
        mut mm: impl CurrentMm,
        cmd: u32,
        arg: u64,
        log: &mut dyn FnMut(&str),
        pid: u32,
    ) -> KResult<u64> {
        match cmd {
            PIN_LONGTERM_TEST_START => return self.longterm_start(&mut mm, arg),
            PIN_LONGTERM_TEST_STOP => {
                self.longterm_stop();
                return Ok(0);
            }
            PIN_LONGTERM_TEST_READ => return self.longterm_read(&mut mm, arg),
            _ => {}
        }
        let cmd = GupTestCmd::from_ioctl(cmd).ok_or(Errno::EINVAL)?;
        // The second half of a fast benchmark whose lockless half the hart has run.
        if let Some(phase) = crate::percpu::take_unlocked_result::<FastPhase>() {
            let gup = phase.finish(&mut mm, log, pid);
            mm.user().copy_to_user(arg, &gup.to_bytes())?;
            return Ok(0);
        }
        let mut b = [0u8; GUP_TEST_SIZE];
        mm.user().copy_from_user(arg, &mut b)?;
        let mut gup = GupTest::from_bytes(&b);
        if !cmd.needs_mmap_lock() && crate::percpu::unlocked_allowed() {
            if let Some((phase, handle)) = FastPhase::prepare(&mm, cmd, &gup) {
                crate::percpu::defer_unlocked(Box::new(move || {
                    Box::new(phase.run_unlocked(&handle))
                }));
                return Err(Errno::ERESTARTNOINTR);
            }
        }
        gup_test_run(&mut mm, cmd, &mut gup, log, pid)?;
        mm.user().copy_to_user(arg, &gup.to_bytes())?;
        Ok(0)
    }
}
