//! The hart: an RV64GC interpreter that runs until the OS is needed.
//!
//! The hart is split the way a pipeline is drawn, one module per stage, with [`Hart`] (this
//! module) owning the state and the run loop that joins them:
//! - `fetch` — the front end: the translation of the page being fetched from (a one-entry
//!   micro-ITLB, flushed with the TLB) and a decoded-instruction cache keyed by *physical*
//!   page; an instruction is decoded once and then dispatched from the cache. The TLB is
//!   consulted only when the PC leaves the current page.
//! - `execute` — the instruction semantics and their modelled cycles.
//! - `mem` — data memory: **the one seam every data access passes through**
//!   (`Hart::data_access`, taking a `MemOp`: virtual address, size, load / store / LR /
//!   SC / AMO), with the host-pointer fast path inline and the TLB and the hardware
//!   walker ([`mmu::walk`]) on the slow path. Its module docs say how the cache stays
//!   inclusive of the TLB, and where a memory-tag check (Zimt) or another execution tier
//!   attaches.
//! - `csr` — `fcsr`, the user counters, `satp`.
//! - `trap` — exceptions and interrupts to an [`Exit`] with precise `pc`, `instret` and
//!   `cycles`.
//! - `tag` — pointer masking (Ssnpm) and memory tagging (Zimt v0.1), below.
//!
//! Traps leave `pc` and all architectural state as they were before the trapping
//! instruction and return an [`Exit`].
//!
//! **SMP.** Each hart is driven by one host thread (`Hart` is `Send`); all harts share one
//! [`GuestMemory`], where every access is atomic, and one [`Clint`]. A hart polls its
//! `msip` bit between runs of instructions (see [`Hart::run`]), so another thread stops it
//! with [`Clint::set_msip`]; TLBs, the host-pointer cache and the decoded-instruction cache
//! are per hart, so remote TLB and icache maintenance is the OS's job (`sfence.vma` /
//! `fence.i` on each hart, as Linux does with shootdown IPIs).

//!
//! # Memory tagging (Zimt)
//!
//! The hart follows the RISC-V memory-tagging draft, Zimt v0.1
//! (`riscv/riscv-memory-tagging`, `src/mte_tag.adoc`, cited as §"…"), with pointer masking
//! as Ssnpm (*Privileged ISA, "Pointer Masking Extensions"*):
//! - **Enable**: [`Hart::set_senvcfg`]: `senvcfg.PMM` (bits 33:32; 0b11 = PMLEN 16,
//!   0b10 = PMLEN 7) and `senvcfg.MT_MODE` (bits 35:34; 0b10 = on, 4-bit tags). Tagging
//!   is on when `MT_MODE` = 0b10 and `PMM` ≠ 0 ("Pointer masking has to be enabled as a
//!   requirement for memory tagging"). Off by default: the hart then behaves as before.
//! - **Pointer tag**: bits 63:60 of the effective address (§"Tag placement in pointer":
//!   "in masked bits … starting at b63"); translation sees the masked address
//!   (sign-extended from bit 63−PMLEN; zero-extended under `satp` Bare). Fetch is
//!   never masked.
//! - **Pages**: `PTE.MTAG` is bit 58 ([`mmu::Pte::MTAG_BIT`]; a reserved bit, faulting,
//!   while tagging is off). MTAG with X=0 is a tagged-data page; with X=1 a
//!   tagcheck-exempt code page. Under `satp` Bare every page is a tagged-data page.
//! - **Checks** (§"tag checks"): a U-mode load, store, LR/SC or AMO to a tagged-data
//!   page is checked unless its base register is `sp`, or it was fetched from an exempt
//!   code page; every 16-byte granule it touches must hold the pointer tag (an access
//!   straddling a tagged-data page and another page is checked on both, rule 6). The
//!   check is one tag-memory load ([`CostModel::tag_load`]). A mismatch in
//!   [`TagCheckMode::Sync`] (Zimt's behaviour, the default) is the software-check
//!   exception, cause 18, `stval` 4: [`Exit::TagCheckFault`], the access not performed.
//!
//! | mnemonic | encoding: `31:25 · rs2 · rs1 · 14:12 · rd · 6:0` | with tagging on | with tagging off | source, or why |
//! |---|---|---|---|---|
//! | `gentag rd` | `1000011 · 00000 · 00000 · 100 · rd≠0 · 1110011` (MOP.RR.1) | `rd` ← a tag drawn uniformly from the tags not in the exclusion mask ([`Hart::set_gentag_exclude`]), `<< 60`; 0 if all are excluded | `rd` ← 0 | §"Generate a tag - gentag rd" (rs1 = 00000, tag_imm4 = 0000); the mask is arm64's `GCR_EL1.Exclude`, which Linux's `PR_MTE_TAG_MASK` feeds (the draft has none) |
//! | `addtag rd, rs1, imm4` | `1000011 · 0‖imm4 · rs1 · 100 · rd≠0 · 1110011`, rs1≠0 or imm4≠0 | `rd` ← `rs1` with bits 63:60 = (`rs1[63:60]` + imm4) mod 16 | `rd` ← 0 | §"Arithmetics on pointer tag - addtag rd, rs1, #tag_imm4". The draft wants imm4 "non-zero" and says nothing of bits 59:0: imm4 = 0 with rs1≠0 is still `addtag` (a tag-preserving copy; no other instruction claims it), and `rd` keeps `rs1`'s bits 59:0 as arm64's `ADDG` does (the draft's own example applies it to `gentag` output, whose low bits are 0) |
//! | `checktag rs1, imm4` | `1000011 · 0‖imm4 · rs1≠0 · 100 · 00000 · 1110011` | the tags of imm4+1 granules from `rs1`'s granule against `rs1[63:60]`; a mismatch is [`Exit::TagCheckFault`] (load), whatever the pages' MTAG and [`TagCheckMode`]; a page without MTAG reads tag 0 | nothing | §"Explicit tag check". The count is zero-based as §"set tag(s)" says for `settag` (a check of no granule would be useless); always synchronous: it is an explicit check |
//! | (no-op) | `1000011 · 0‖imm4 · 00000 · 100 · 00000 · 1110011` | nothing | nothing | rd = rs1 = x0 fits `gentag x0`, `addtag x0, x0` and `checktag x0` at once: the MOP it is (writes x0), rather than a check of address 0 |
//! | `settag rs1, imm4` | `1000001 · 0‖imm4 · rs1 · 100 · 00000 · 1110011` (MOP.RR.0) | the tags of imm4+1 granules from `rs1 & ~0xf` ← `rs1[63:60]`; translated as a store (store page fault, A/D set), all pages before any tag moves; dropped on a page without MTAG | nothing | §"Store tag(s) for memory chunk(s): settag rs1, #chunk_count"; the drop is arm64's (tag stores to Untagged memory are ignored), tags being physical here |
//! | `mop.r.n`, `mop.rr.n` | every other Zimop encoding: `MOP.R.0–31`, `MOP.RR.2–7`, `MOP.RR.0/1` with rs2\[4\] = 1, `MOP.RR.0` with rd ≠ 0 | `rd` ← 0 | `rd` ← 0 | Zimop: "write 0 to rd" |
//! | `loadtag rd, rs1` | `0000000 · 00000 · rs1 · 100 · rd · 0001011` (custom-0; dirtybit's) | `rd` ← the tag (0–15) of `rs1`'s granule, 0 on a page without MTAG; translated as a load | illegal instruction | arm64's `LDG`, for `mte_loadtag()`: the draft reads tags only through "an alternate read-only mapping of tag storage", which physical tags do not have; not a MOP, so custom-0 |
//!
//! Departures from the draft, each deliberate:
//! - Tags are stored **physically** beside RAM ([`devices::TagMemory`], arm64/QEMU
//!   style), not in Svatag's virtually indexed tag table: the Linux ABI copies tags per
//!   physical page.
//! - **Asynchronous and no-check modes** ([`TagCheckMode`], arm64's `SCTLR_EL1.TCF0`):
//!   in `Async` a mismatch performs the access and sets a sticky per-hart flag
//!   ([`Hart::take_async_tag_fault`], arm64's `TFSRE0_EL1.TF0`) the OS reads at kernel
//!   entry. Zimt dropped this mode.
//! - [`Exit::TagCheckFault`] carries the tagged address of the first mismatching byte
//!   (arm64's `FAR_EL1`, Linux's `si_addr`); Zimt's `stval` is only the code 4.
//! - `MT_MODE` = 0b11 (7-bit tags) is not built (reads back 0b10, the draft's discovery
//!   rule); the hart runs only U-mode, so `mseccfg`/`menvcfg`/`henvcfg.MT_MODE` and
//!   `mstatus`/`hstatus.MTAG_I` do not exist; kernel accesses (`FOLL_FORCE`) never pass
//!   the hart and are unchecked.
//! - A 32-bit instruction straddling an exempt code page into another page takes the
//!   first page's exemption (the draft's rule 5 would take the other page's).

mod csr;
mod execute;
mod fetch;
mod mem;
mod tag;
mod trap;

use devices::{Clint, GuestMemory, GuestPhysAddr, HostPage, MsipLine};
use mmu::{AdScheme, MmuCounters, PrivCtx, Satp, SatpMode, Tlb, TlbGeometry};

use crate::cost::CostModel;
use crate::exit::Exit;
use crate::inst::Op;

pub use tag::{TagCheckMode, TagCounters, SENVCFG_MT_MODE_SHIFT, SENVCFG_PMM_SHIFT};

use execute::Flow;
use fetch::DecodeCache;
use mem::{FastEntry, FAST_ENTRIES};

/// The outcome of one step that may trap.
type Step = Result<(), Exit>;

/// An impossible VPN, marking an invalid tag.
const NO_VPN: u64 = u64::MAX;
/// Most instructions the hart runs between two polls of its `msip` bit. The poll happens
/// at every taken control transfer (the end of a basic block, where QEMU checks for
/// interrupts at each translation block), each time execution leaves the current fetch
/// page, and at least this often in straight-line code; one `Acquire` load of a line only
/// an IPI writes (an L1 hit otherwise). Polling only at page changes and every 4096
/// instructions left a TLB shootdown's initiator waiting for a hart in a tight loop for up
/// to 4096 instructions (tens of microseconds); per basic block, the wait is one block.
pub const IRQ_POLL_INSNS: u64 = 4096;

/// Machine knobs of one hart.
#[derive(Debug, Clone)]
pub struct HartConfig {
    /// `mhartid`.
    pub hart_id: usize,
    /// TLB shape.
    pub tlb: TlbGeometry,
    /// How A/D bits are maintained.
    pub ad: AdScheme,
    /// The cycle model.
    pub cost: CostModel,
}

impl Default for HartConfig {
    fn default() -> Self {
        Self {
            hart_id: 0,
            tlb: TlbGeometry::default(),
            ad: AdScheme::Svadu,
            cost: CostModel::default(),
        }
    }
}

/// What one hart has done. Counts are events; `cycles` are modelled cycles, not time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HartStats {
    /// Instructions retired (`minstret`).
    pub instret: u64,
    /// Modelled cycles (`mcycle`), per [`CostModel`].
    pub cycles: u64,
    /// MMU counters.
    pub mmu: MmuCounters,
    /// Traps taken to the OS (ecalls, faults, breakpoints, illegal instructions).
    pub traps: u64,
    /// Instructions decoded into the decoded-instruction cache.
    pub decodes: u64,
    /// Memory-tagging counters (Zimt).
    pub tags: TagCounters,
}

impl HartStats {
    /// Adds `other` into `self`. Cycles saturate: a hart that idled to a timer set
    /// centuries ahead (up to `KTIME_MAX` ns of the virtual clock) holds nearly half of
    /// `u64`'s range.
    pub fn accumulate(&mut self, other: &HartStats) {
        self.instret += other.instret;
        self.cycles = self.cycles.saturating_add(other.cycles);
        self.mmu.accumulate(&other.mmu);
        self.traps += other.traps;
        self.decodes += other.decodes;
        self.tags.accumulate(&other.tags);
    }
}

/// The user-visible register state of a task: what a context switch saves and restores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserContext {
    /// x0..x31 (x0 is always 0).
    pub x: [u64; 32],
    /// f0..f31 as raw 64-bit patterns (singles NaN-boxed).
    pub f: [u64; 32],
    /// The program counter.
    pub pc: u64,
    /// `fcsr`: `frm` in bits 7:5, `fflags` in bits 4:0.
    pub fcsr: u32,
}

/// One RV64GC hart in U-mode, executing against guest RAM through its MMU.
///
/// `Hart` is `Send`: each hart of an SMP machine runs on its own host thread, sharing
/// guest RAM and the CLINT by reference.
///
/// # LR/SC
///
/// `lr.w`/`lr.d` record a reservation: the physical address and the value loaded. `sc`
/// succeeds only if the reservation is for the same physical address and memory still
/// holds that value, checked and written by one atomic compare-and-swap on guest RAM
/// (QEMU implements LR/SC the same way); success writes 0 to `rd`, failure 1 and leaves
/// memory alone. Every `sc`, every trap and interrupt exit, and
/// [`Hart::restore_context`] drop the reservation (the spec's "SC to a scratch word on a
/// preemptive context switch"; Linux's `ret_from_exception` does the same with a dummy
/// `sc`), and since the reservation names a physical address, an `sc` through a page that
/// was remapped meanwhile fails.
///
/// A store by another hart, or by the OS, that *changes* the reserved word makes the
/// compare fail, hence the `sc`, as the A extension requires ("The SC must fail if a store
/// to the reservation set from another hart can be observed to occur between the LR and
/// SC", *Unprivileged ISA, §Load-Reserved/Store-Conditional Instructions*).
///
/// **Caveat (ABA):** a store that leaves the *same* value in the word (A→A, or A→B→A) is
/// not noticed, and such an `sc` succeeds where the spec says it must fail; the spec
/// chose LR/SC over CAS precisely because LR/SC does not have this problem. In a
/// constrained LR/SC loop (no other loads or stores between LR and SC, which is what
/// Linux's and glibc's atomics are) the result is the same as if the LR had executed just
/// after the last such store and read its value, so no program can tell; an unconstrained
/// sequence that orders other accesses between LR and SC (e.g. `lr.aq` followed by a load
/// of a flag the other hart set between its two stores) can observe the difference.
/// Stores by the same hart between LR and SC also make the `sc` fail when they change the
/// word, which the spec allows (an SC may fail for any reason outside constrained loops).
pub struct Hart<'m> {
    /// Integer registers; `x[0]` is kept 0.
    pub x: [u64; 32],
    /// FP registers as raw bits.
    pub f: [u64; 32],
    /// Program counter.
    pub pc: u64,
    fcsr: u32,
    satp: Satp,
    mode: SatpMode,
    asid: u16,
    ctx: PrivCtx,
    ad: AdScheme,
    hart_id: usize,
    mem: &'m GuestMemory,
    clint: Option<&'m Clint>,
    /// This hart's `msip` bit, cached from `clint` so the poll in `run` is one load.
    msip: Option<MsipLine<'m>>,
    tlb: Tlb,
    counters: MmuCounters,
    instret: u64,
    cycles: u64,
    traps: u64,
    decodes: u64,
    cost: CostModel,
    /// Modelled cycles of each op beyond `cost.alu` (charged by the op's arm; the loop
    /// charges `alu` per retired instruction in bulk).
    op_extra: [u64; 256],
    fast: Box<[FastEntry<'m>; FAST_ENTRIES]>,
    /// Beside each host-pointer entry, the tag storage of its page while the entry holds a
    /// checked key (`mem.rs`, `CHECKED_KEY`): written by `translate_page` whenever it
    /// installs one, so that the inline path checks a one-granule access with one load
    /// from it (QEMU's arm64 MTE keeps the tag memory's host address in its TLB the same
    /// way). Stale, and never read, for an entry without a checked key.
    fast_tags: [&'m devices::PageTags; FAST_ENTRIES],
    fetch_vpn: u64,
    fetch_slot: usize,
    fetch_page: Option<HostPage<'m>>,
    dcache: DecodeCache,
    /// Physical pages with decoded instructions (mirrors `dcache`'s keys while `run` has the
    /// cache out of `self`).
    code_ppns: std::collections::HashSet<u64>,
    /// Invalidations requested while `run` holds the cache: pages, or everything.
    inval_pages: Vec<u64>,
    inval_all: bool,
    /// The LR reservation: the physical address and the value LR loaded (see "LR/SC").
    reservation: Option<(GuestPhysAddr, u64)>,
    /// Pointer masking and memory tagging (`tag.rs`).
    zimt: tag::Zimt,
    /// Every access the data-memory seam performed, in order (unit tests only: they check
    /// that no data access bypasses `data_access`).
    #[cfg(test)]
    seam_log: Vec<mem::MemOp>,
}

impl<'m> Hart<'m> {
    /// A hart in U-mode with all registers zero, `satp` Bare, executing against `mem`;
    /// `clint` provides the `time` CSR (without it `time` reads as the cycle count) and
    /// the timer and software interrupts of hart `config.hart_id` (a hart id the CLINT does
    /// not have never sees an interrupt).
    pub fn new(mem: &'m GuestMemory, clint: Option<&'m Clint>, config: HartConfig) -> Self {
        let mut op_extra = [0u64; 256];
        for (i, c) in op_extra.iter_mut().enumerate() {
            if let Some(op) = op_from_index(i) {
                *c = u64::from(config.cost.op_cycles(op)).wrapping_sub(u64::from(config.cost.alu));
            }
        }
        Self {
            x: [0; 32],
            f: [0; 32],
            pc: 0,
            fcsr: 0,
            satp: Satp::default(),
            mode: SatpMode::Bare,
            asid: 0,
            ctx: PrivCtx::USER,
            ad: config.ad,
            hart_id: config.hart_id,
            mem,
            clint,
            msip: clint.and_then(|c| c.msip_line(config.hart_id)),
            tlb: Tlb::new(config.tlb),
            counters: MmuCounters::default(),
            instret: 0,
            cycles: 0,
            traps: 0,
            decodes: 0,
            cost: config.cost,
            op_extra,
            fast: Box::new([FastEntry::EMPTY; FAST_ENTRIES]),
            fast_tags: [&mem::NO_PAGE_TAGS; FAST_ENTRIES],
            fetch_vpn: NO_VPN,
            fetch_slot: 0,
            fetch_page: None,
            dcache: DecodeCache::default(),
            code_ppns: std::collections::HashSet::new(),
            inval_pages: Vec::new(),
            inval_all: false,
            reservation: None,
            zimt: tag::Zimt::new(config.hart_id),
            #[cfg(test)]
            seam_log: Vec::new(),
        }
    }

    /// `mhartid`.
    pub fn hart_id(&self) -> usize {
        self.hart_id
    }

    /// The counters so far.
    pub fn stats(&self) -> HartStats {
        let mut mmu = self.counters;
        let mut tags = self.zimt.counters;
        // The masked inline path counts a checked access once for all three.
        mmu.tlb_hits += self.zimt.fast_checks;
        tags.checks += self.zimt.fast_checks;
        HartStats {
            instret: self.instret,
            cycles: self.modelled_cycles(),
            mmu,
            traps: self.traps,
            decodes: self.decodes,
            tags,
        }
    }

    /// Modelled cycles so far (`mcycle`): `cycles`, and `tag_load` for each checked access
    /// the masked inline path counted in `Zimt::fast_checks` instead of charging it.
    #[inline(always)]
    pub(super) fn modelled_cycles(&self) -> u64 {
        let tag_loads = self
            .zimt
            .fast_checks
            .wrapping_mul(u64::from(self.cost.tag_load));
        self.cycles.wrapping_add(tag_loads)
    }

    /// The cost model in use.
    pub fn cost(&self) -> &CostModel {
        &self.cost
    }

    /// Charges `cycles` modelled cycles (e.g. for kernel work done on this hart's behalf).
    pub fn charge_cycles(&mut self, cycles: u64) {
        self.cycles += cycles;
    }

    /// Saves the user-visible registers.
    pub fn save_context(&self) -> UserContext {
        UserContext {
            x: self.x,
            f: self.f,
            pc: self.pc,
            fcsr: self.fcsr,
        }
    }

    /// Restores user-visible registers (and drops any LR reservation, as a trap does).
    pub fn restore_context(&mut self, ctx: &UserContext) {
        self.x = ctx.x;
        self.x[0] = 0;
        self.f = ctx.f;
        self.pc = ctx.pc;
        self.fcsr = ctx.fcsr & 0xff;
        self.reservation = None;
    }

    /// Runs at most `budget` instructions and returns why it stopped.
    ///
    /// Interrupts: on entry, a pending software interrupt (CLINT `msip`) returns
    /// [`Exit::Ipi`] and then a pending timer (`mtime >= mtimecmp`) [`Exit::Timer`], before
    /// any instruction runs. While running, the hart polls `msip` (one `Acquire` load)
    /// after every taken control transfer, each time execution leaves the current fetch
    /// page and at least every [`IRQ_POLL_INSNS`] instructions, and stops with [`Exit::Ipi`] when it is set, also
    /// in preference to [`Exit::BudgetExhausted`] when both happen at once. On that exit,
    /// `pc` is the next instruction to execute, every instruction before it has retired and
    /// been counted in `instret` and `cycles`, and none after it has. `msip` is a level: the
    /// OS clears it with [`Clint::set_msip`] or the next `run` returns `Ipi` again at once.
    /// As on any trap, an interrupt exit drops the LR reservation (Linux's
    /// `ret_from_exception` in `arch/riscv/kernel/entry.S` clears it with a dummy `sc` for
    /// the same reason). The timer is checked only on entry; the OS bounds a quantum with
    /// `budget`.
    pub fn run(&mut self, budget: u64) -> Exit {
        self.run_loop(budget, self.zimt.pmlen != 0)
    }

    /// [`Hart::run`] with the run loop chosen by `masked`: two loops, one per state of
    /// pointer masking (`data_access`'s `MASKED`), so that the loop of a program without
    /// masking is the one it always was. Either is correct in either state (the tests run
    /// both).
    fn run_loop(&mut self, budget: u64, masked: bool) -> Exit {
        if let Some(irq) = self.pending_interrupt() {
            return self.trap(irq);
        }
        // The decoded-instruction cache is moved out of `self` while the hart runs, so an
        // instruction executes by reference from it; invalidations requested meanwhile
        // (stores to code, fence.i) are queued and applied at the next fetch-page change,
        // which they force.
        let mut dc = std::mem::take(&mut self.dcache);
        let exit = if masked {
            self.run_masked(&mut dc, budget)
        } else {
            self.run_plain(&mut dc, budget)
        };
        self.apply_invalidations(&mut dc);
        self.dcache = dc;
        exit
    }

    /// The run loop without pointer masking.
    #[inline(never)]
    fn run_plain(&mut self, dc: &mut DecodeCache, budget: u64) -> Exit {
        self.run_inner::<false>(dc, budget)
    }

    /// The run loop under pointer masking.
    #[inline(never)]
    fn run_masked(&mut self, dc: &mut DecodeCache, budget: u64) -> Exit {
        self.run_inner::<true>(dc, budget)
    }

    #[inline(always)]
    fn run_inner<const MASKED: bool>(&mut self, dc: &mut DecodeCache, budget: u64) -> Exit {
        let mut left = budget;
        while left > 0 {
            let mut pc = self.pc;
            if pc >> 12 != self.fetch_vpn {
                self.apply_invalidations(dc);
                if let Err(e) = self.refill_fetch(dc, pc) {
                    return self.trap(e);
                }
            }
            // Run inside the current fetch page: the PC stays in a register and the page is
            // not re-translated until the PC leaves it, a trap, the budget, or an event that
            // drops the fetch translation.
            let page = &dc.pages[self.fetch_slot];
            let base = pc & !0xfff;
            let chunk = left.min(IRQ_POLL_INSNS);
            let mut countdown = chunk;
            let result = loop {
                // Off the end of the page (or a jump out of it) indexes past the slots.
                let off = (pc.wrapping_sub(base) >> 1) as usize;
                let Some(Some(inst)) = page.slots.get(off) else {
                    break Ok(Flow::Next);
                };
                match self.execute::<MASKED>(inst, pc) {
                    Ok(flow) => {
                        countdown -= 1;
                        match flow {
                            Flow::Next => pc = pc.wrapping_add(u64::from(inst.len)),
                            // A taken control transfer continues here; if it left the page
                            // the slot lookup above ends the run. It also ends a basic
                            // block, where a pending interrupt is taken (as QEMU checks at
                            // every translation block): the IPI of a TLB shootdown waits
                            // one basic block, not a poll period.
                            Flow::Jump => {
                                pc = self.pc;
                                if self.ipi_raised() {
                                    break Ok(Flow::Next);
                                }
                            }
                            Flow::Resync => {
                                pc = pc.wrapping_add(u64::from(inst.len));
                                break Ok(Flow::Next);
                            }
                        }
                        if countdown == 0 {
                            break Ok(Flow::Next);
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            let retired = chunk - countdown;
            self.retire(retired);
            left -= retired;
            match result {
                Ok(_) => {
                    self.pc = pc;
                    let off = ((pc & 0xfff) >> 1) as usize;
                    if pc >> 12 == self.fetch_vpn
                        && left > 0
                        && dc.pages[self.fetch_slot].slots[off].is_none()
                    {
                        // Not decoded yet (or straddling a page): decode and run it alone.
                        let inst = match self.fill_slot(dc, pc, off) {
                            Ok(i) => i,
                            Err(e) => return self.trap(e),
                        };
                        match self.execute::<MASKED>(&inst, pc) {
                            Ok(flow) => {
                                if flow != Flow::Jump {
                                    self.pc = pc.wrapping_add(u64::from(inst.len));
                                }
                                self.retire(1);
                                left -= 1;
                            }
                            Err(e) => {
                                self.pc = pc;
                                return self.trap(e);
                            }
                        }
                    }
                }
                Err(e) => {
                    self.pc = pc;
                    return self.trap(e);
                }
            }
            // The interrupt check, between instructions: `self.pc` is the next one.
            if self.ipi_raised() {
                return self.trap(Exit::Ipi);
            }
        }
        Exit::BudgetExhausted
    }
}

/// The `Op` with discriminant `i`, for building per-op tables.
fn op_from_index(i: usize) -> Option<Op> {
    crate::inst::ALL_OPS.get(i).copied()
}
