//! The hart: an RV64GC interpreter that runs until the OS is needed.
//!
//! Execution path, fastest first:
//! - **Fetch**: the front end keeps the translation of the page it is fetching from (a
//!   one-entry micro-ITLB, flushed with the TLB) and a decoded-instruction cache keyed by
//!   *physical* page; an instruction is decoded once and then dispatched from the cache.
//!   The TLB is consulted only when the PC leaves the current page.
//! - **Data**: a direct-mapped host-pointer cache (QEMU softmmu style) in front of the TLB,
//!   one read tag and one write tag per entry. It is kept *inclusive* of the TLB — an entry
//!   is filled only from a TLB entry, and dropped whenever that TLB entry is evicted or
//!   invalidated (`sfence.vma`, `satp` writes) — so it never lets an access through that
//!   the TLB would not, and the TLB counters stay exact. A write tag is installed only
//!   from a TLB entry whose cached PTE has W=1 and D=1, so a store to a clean page always
//!   reaches the walker and sets D (*Priv §Translation, step 7*), and never for a page that
//!   holds decoded instructions, so stores to code invalidate the decoded page.
//! - **Slow path**: TLB lookup, then the hardware walker ([`mmu::walk`]).
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

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use devices::{AmoOp, Clint, GuestMemory, GuestPhysAddr, HostPage, MsipLine};
use mmu::{
    check_leaf_permission, walk, AccessType, AdScheme, GuestVirtAddr, MmuCounters, PrivCtx,
    PteFlags, Satp, SatpMode, Tlb, TlbEntry, TlbGeometry, WalkFault,
};

use crate::cost::CostModel;
use crate::decode::decode;
use crate::exit::Exit;
use crate::fpu::{self, nan_box, RoundingMode};
use crate::inst::{Inst, Op};

/// Entries of the host-pointer data cache (direct-mapped on the low VPN bits).
const FAST_ENTRIES: usize = 256;
/// Instruction slots per decoded page (one per halfword).
const SLOTS: usize = 2048;
/// An impossible VPN, marking an invalid tag.
const NO_VPN: u64 = u64::MAX;
/// Most instructions the hart runs between two polls of its `msip` bit. The poll happens
/// each time execution leaves the current fetch page, and at least this often inside one
/// page (a loop that never leaves its page), so an IPI stops even `j .` within this many
/// instructions (tens of microseconds of host time), while the poll costs one atomic load
/// per few thousand instructions.
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
}

impl HartStats {
    /// Adds `other` into `self`.
    pub fn accumulate(&mut self, other: &HartStats) {
        self.instret += other.instret;
        self.cycles += other.cycles;
        self.mmu.accumulate(&other.mmu);
        self.traps += other.traps;
        self.decodes += other.decodes;
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

#[derive(Clone, Copy)]
struct FastEntry<'m> {
    tag_r: u64,
    tag_w: u64,
    page: Option<HostPage<'m>>,
}

impl FastEntry<'_> {
    const EMPTY: Self = Self {
        tag_r: NO_VPN,
        tag_w: NO_VPN,
        page: None,
    };
}

struct DecodedPage {
    ppn: u64,
    slots: Box<[Option<Inst>; SLOTS]>,
}

/// Decoded instructions by physical page.
#[derive(Default)]
struct DecodeCache {
    index: HashMap<u64, usize>,
    pages: Vec<DecodedPage>,
    spare: Vec<Box<[Option<Inst>; SLOTS]>>,
}

impl DecodeCache {
    fn get_or_insert(&mut self, ppn: u64) -> (usize, bool) {
        if let Some(&i) = self.index.get(&ppn) {
            return (i, false);
        }
        let slots = self.spare.pop().unwrap_or_else(|| Box::new([None; SLOTS]));
        self.pages.push(DecodedPage { ppn, slots });
        let i = self.pages.len() - 1;
        self.index.insert(ppn, i);
        (i, true)
    }

    fn remove(&mut self, ppn: u64) -> bool {
        let Some(i) = self.index.remove(&ppn) else {
            return false;
        };
        let mut page = self.pages.swap_remove(i);
        if let Some(moved) = self.pages.get(i) {
            self.index.insert(moved.ppn, i);
        }
        page.slots.fill(None);
        self.spare.push(page.slots);
        true
    }

    fn clear(&mut self) {
        for mut p in self.pages.drain(..) {
            p.slots.fill(None);
            self.spare.push(p.slots);
        }
        self.index.clear();
    }
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
}

type Step = Result<(), Exit>;

/// How an executed instruction continues.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Fall through to `pc + len` (`self.pc` not written).
    Next,
    /// `self.pc` holds the next PC (a control transfer).
    Jump,
    /// Fall through (`self.pc` not written), but re-fetch through the TLB first.
    Resync,
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
            fetch_vpn: NO_VPN,
            fetch_slot: 0,
            fetch_page: None,
            dcache: DecodeCache::default(),
            code_ppns: std::collections::HashSet::new(),
            inval_pages: Vec::new(),
            inval_all: false,
            reservation: None,
        }
    }

    /// `mhartid`.
    pub fn hart_id(&self) -> usize {
        self.hart_id
    }

    /// The counters so far.
    pub fn stats(&self) -> HartStats {
        HartStats {
            instret: self.instret,
            cycles: self.cycles,
            mmu: self.counters,
            traps: self.traps,
            decodes: self.decodes,
        }
    }

    /// The cost model in use.
    pub fn cost(&self) -> &CostModel {
        &self.cost
    }

    /// Charges `cycles` modelled cycles (e.g. for kernel work done on this hart's behalf).
    pub fn charge_cycles(&mut self, cycles: u64) {
        self.cycles += cycles;
    }

    /// Counts one trap taken to the OS and charges trap entry + exit.
    pub fn account_trap(&mut self) {
        self.traps += 1;
        self.cycles += u64::from(self.cost.trap_entry) + u64::from(self.cost.trap_exit);
    }

    /// The TLB (for inspection).
    pub fn tlb(&self) -> &Tlb {
        &self.tlb
    }

    /// The A/D scheme.
    pub fn ad_scheme(&self) -> AdScheme {
        self.ad
    }

    /// `fcsr`.
    pub fn fcsr(&self) -> u32 {
        self.fcsr
    }

    /// Current `satp`.
    pub fn satp(&self) -> Satp {
        self.satp
    }

    /// Writes `satp` (a context switch to another address space). Like a real `csrw satp`
    /// this does not flush the TLB (entries are ASID-tagged); it does drop the host-pointer
    /// and fetch caches, which are not. An unsupported MODE leaves `satp` unchanged (WARL).
    pub fn set_satp(&mut self, satp: Satp) {
        let Some(mode) = satp.mode() else { return };
        self.satp = satp;
        self.mode = mode;
        self.asid = satp.asid();
        self.flush_fast();
    }

    /// `sfence.vma`: `va = None` is rs1=x0, `asid = None` is rs2=x0 (see [`Tlb::sfence_vma`]).
    pub fn sfence_vma(&mut self, va: Option<u64>, asid: Option<u16>) {
        self.tlb.sfence_vma(va.map(GuestVirtAddr), asid);
        self.flush_fast();
    }

    /// `fence.i`: drops every decoded instruction. The OS also calls this when executable
    /// mappings change, as Linux flushes the icache when it maps text.
    pub fn flush_icache(&mut self) {
        self.dcache.clear();
        self.code_ppns.clear();
        self.inval_all = true;
        self.fetch_vpn = NO_VPN;
        self.fetch_page = None;
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

    fn flush_fast(&mut self) {
        self.fast.fill(FastEntry::EMPTY);
        self.fetch_vpn = NO_VPN;
        self.fetch_page = None;
    }

    /// Drops cached copies of a TLB entry that was displaced (inclusion).
    fn drop_cached(&mut self, e: &TlbEntry) {
        if e.level == 0 {
            let f = &mut self.fast[(e.vpn as usize) & (FAST_ENTRIES - 1)];
            if f.tag_r == e.vpn || f.tag_w == e.vpn {
                *f = FastEntry::EMPTY;
            }
        } else {
            for f in self.fast.iter_mut() {
                if (f.tag_r != NO_VPN && e.covers(f.tag_r))
                    || (f.tag_w != NO_VPN && e.covers(f.tag_w))
                {
                    *f = FastEntry::EMPTY;
                }
            }
        }
        if self.fetch_vpn != NO_VPN && e.covers(self.fetch_vpn) {
            self.fetch_vpn = NO_VPN;
        }
    }

    /// Runs at most `budget` instructions and returns why it stopped.
    ///
    /// Interrupts: on entry, a pending software interrupt (CLINT `msip`) returns
    /// [`Exit::Ipi`] and then a pending timer (`mtime >= mtimecmp`) [`Exit::Timer`], before
    /// any instruction runs. While running, the hart polls `msip` (one `Acquire` load)
    /// each time execution leaves the current fetch page and at least every
    /// [`IRQ_POLL_INSNS`] instructions, and stops with [`Exit::Ipi`] when it is set, also
    /// in preference to [`Exit::BudgetExhausted`] when both happen at once. On that exit,
    /// `pc` is the next instruction to execute, every instruction before it has retired and
    /// been counted in `instret` and `cycles`, and none after it has. `msip` is a level: the
    /// OS clears it with [`Clint::set_msip`] or the next `run` returns `Ipi` again at once.
    /// As on any trap, an interrupt exit drops the LR reservation (Linux's
    /// `ret_from_exception` in `arch/riscv/kernel/entry.S` clears it with a dummy `sc` for
    /// the same reason). The timer is checked only on entry; the OS bounds a quantum with
    /// `budget`.
    pub fn run(&mut self, budget: u64) -> Exit {
        if self.msip.is_some_and(|m| m.is_raised()) {
            return self.trap(Exit::Ipi);
        }
        if let Some(clint) = self.clint {
            if clint.timer_pending(self.hart_id) {
                return self.trap(Exit::Timer);
            }
        }
        // The decoded-instruction cache is moved out of `self` while the hart runs, so an
        // instruction executes by reference from it; invalidations requested meanwhile
        // (stores to code, fence.i) are queued and applied at the next fetch-page change,
        // which they force.
        let mut dc = std::mem::take(&mut self.dcache);
        let exit = self.run_inner(&mut dc, budget);
        self.apply_invalidations(&mut dc);
        self.dcache = dc;
        exit
    }

    fn apply_invalidations(&mut self, dc: &mut DecodeCache) {
        if self.inval_all {
            dc.clear();
            self.inval_all = false;
            self.inval_pages.clear();
        }
        for ppn in self.inval_pages.drain(..) {
            dc.remove(ppn);
        }
    }

    #[inline(always)]
    fn run_inner(&mut self, dc: &mut DecodeCache, budget: u64) -> Exit {
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
                match self.execute(inst, pc) {
                    Ok(flow) => {
                        countdown -= 1;
                        match flow {
                            Flow::Next => pc = pc.wrapping_add(u64::from(inst.len)),
                            // A taken control transfer continues here; if it left the page
                            // the slot lookup above ends the run.
                            Flow::Jump => pc = self.pc,
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
            self.instret += retired;
            self.cycles = self.cycles.wrapping_add(retired * u64::from(self.cost.alu));
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
                        match self.execute(&inst, pc) {
                            Ok(flow) => {
                                if flow != Flow::Jump {
                                    self.pc = pc.wrapping_add(u64::from(inst.len));
                                }
                                self.instret += 1;
                                self.cycles = self.cycles.wrapping_add(u64::from(self.cost.alu));
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
            if self.msip.is_some_and(|m| m.is_raised()) {
                return self.trap(Exit::Ipi);
            }
        }
        Exit::BudgetExhausted
    }

    fn trap(&mut self, e: Exit) -> Exit {
        if matches!(e, Exit::PageFault { .. }) {
            self.counters.page_faults += 1;
        }
        self.reservation = None;
        e
    }

    // ---- fetch -------------------------------------------------------------------------

    fn refill_fetch(&mut self, dc: &mut DecodeCache, pc: u64) -> Step {
        let page = self.translate_page(pc, AccessType::Fetch)?;
        let ppn = page.pa().ppn();
        let (slot, new) = dc.get_or_insert(ppn);
        if new {
            self.code_ppns.insert(ppn);
            // Stores to this page must now take the slow path, which invalidates it.
            for f in self.fast.iter_mut() {
                if f.tag_w != NO_VPN && f.page.is_some_and(|p| p.pa().ppn() == ppn) {
                    f.tag_w = NO_VPN;
                }
            }
        }
        self.fetch_vpn = pc >> 12;
        self.fetch_slot = slot;
        self.fetch_page = Some(page);
        Ok(())
    }

    fn fill_slot(&mut self, dc: &mut DecodeCache, pc: u64, off: usize) -> Result<Inst, Exit> {
        let page = self.fetch_page.ok_or(Exit::AccessFault {
            va: GuestVirtAddr(pc),
            access: AccessType::Fetch,
        })?;
        let o = (pc & 0xfff) as usize;
        let lo = page.load_u16(o).unwrap_or(0);
        let (bits, cacheable) = if lo & 3 != 3 {
            (u32::from(lo), true)
        } else if let Some(w) = page.load_u32(o) {
            (w, true)
        } else {
            // A 32-bit instruction straddling two pages: fetch the upper half through its
            // own translation every time (stval names the half that faults).
            let next = self.translate_page(pc + 2, AccessType::Fetch)?;
            let hi = next.load_u16(0).unwrap_or(0);
            (u32::from(lo) | (u32::from(hi) << 16), false)
        };
        let inst = decode(bits).map_err(|e| Exit::IllegalInstruction { bits: e.bits })?;
        self.decodes += 1;
        if cacheable {
            dc.pages[self.fetch_slot].slots[off] = Some(inst);
        }
        Ok(inst)
    }

    // ---- translation -------------------------------------------------------------------

    /// Translates the page of `va` for `access` through the TLB (filling it from the walker
    /// on a miss), fills the host-pointer cache for data accesses, and returns the host page.
    fn translate_page(&mut self, va: u64, access: AccessType) -> Result<HostPage<'m>, Exit> {
        let vaddr = GuestVirtAddr(va);
        let fault = |access| Exit::PageFault { va: vaddr, access };
        let (pa, flags) = if self.mode == SatpMode::Bare {
            (GuestPhysAddr(va), None)
        } else {
            let need_dirty = access == AccessType::Store;
            let hit = self
                .tlb
                .lookup(vaddr, self.asid, need_dirty)
                .map(TlbEntry::translation);
            let t = match hit {
                Some(t) => {
                    self.counters.tlb_hits += 1;
                    t
                }
                None => {
                    self.counters.tlb_misses += 1;
                    let before = self.counters;
                    let r = walk(
                        self.mem,
                        self.satp,
                        vaddr,
                        access,
                        self.ctx,
                        self.ad,
                        &mut self.counters,
                    );
                    self.cycles += u64::from(self.cost.tlb_miss)
                        + (self.counters.pte_loads - before.pte_loads)
                            * u64::from(self.cost.walk_level)
                        + (self.counters.ad_updates - before.ad_updates)
                            * u64::from(self.cost.ad_update);
                    let t = r.map_err(|f| match f {
                        WalkFault::PageFault => fault(access),
                        WalkFault::AccessFault => Exit::AccessFault { va: vaddr, access },
                    })?;
                    if let Some(victim) = self.tlb.insert(vaddr, self.asid, &t) {
                        self.drop_cached(&victim);
                    }
                    t
                }
            };
            // A TLB hit re-checks the cached permissions (the walker checked them on a fill).
            if !check_leaf_permission(t.flags(), access, self.ctx) {
                return Err(fault(access));
            }
            (t.pa(vaddr), Some(t.flags()))
        };
        let page = self
            .mem
            .host_page(pa)
            .ok_or(Exit::AccessFault { va: vaddr, access })?;
        if access != AccessType::Fetch {
            let vpn = va >> 12;
            let e = &mut self.fast[(vpn as usize) & (FAST_ENTRIES - 1)];
            if e.page.is_none_or(|p| p.pa() != page.pa()) || (e.tag_r != vpn && e.tag_w != vpn) {
                *e = FastEntry {
                    tag_r: NO_VPN,
                    tag_w: NO_VPN,
                    page: Some(page),
                };
            }
            let allow = |acc| flags.is_none_or(|f| check_leaf_permission(f, acc, self.ctx));
            if allow(AccessType::Load) {
                e.tag_r = vpn;
            }
            let dirty = flags.is_none_or(|f| f.contains(PteFlags::D));
            if allow(AccessType::Store) && dirty && !self.code_ppns.contains(&page.pa().ppn()) {
                e.tag_w = vpn;
            }
        }
        Ok(page)
    }

    /// The host page for a store to `va`, invalidating decoded instructions on it.
    fn store_page(&mut self, va: u64) -> Result<HostPage<'m>, Exit> {
        let page = self.translate_page(va, AccessType::Store)?;
        let ppn = page.pa().ppn();
        if self.code_ppns.remove(&ppn) {
            self.inval_pages.push(ppn);
            self.fetch_vpn = NO_VPN;
            self.fetch_page = None;
        }
        Ok(page)
    }

    // ---- data access -------------------------------------------------------------------

    #[inline(always)]
    fn fast_read(&self, va: u64) -> Option<HostPage<'m>> {
        let e = &self.fast[((va >> 12) as usize) & (FAST_ENTRIES - 1)];
        if e.tag_r == va >> 12 {
            e.page
        } else {
            None
        }
    }

    #[inline(always)]
    fn fast_write(&self, va: u64) -> Option<HostPage<'m>> {
        let e = &self.fast[((va >> 12) as usize) & (FAST_ENTRIES - 1)];
        if e.tag_w == va >> 12 {
            e.page
        } else {
            None
        }
    }

    #[inline(always)]
    fn load(&mut self, va: u64, size: usize) -> Result<u64, Exit> {
        if let Some(p) = self.fast_read(va) {
            self.counters.tlb_hits += 1;
            let o = (va & 0xfff) as usize;
            let v = match size {
                1 => p.load_u8(o).map(u64::from),
                2 => p.load_u16(o).map(u64::from),
                4 => p.load_u32(o).map(u64::from),
                _ => p.load_u64(o),
            };
            if let Some(v) = v {
                return Ok(v);
            }
            self.counters.tlb_hits -= 1;
        }
        self.load_slow(va, size)
    }

    fn load_slow(&mut self, va: u64, size: usize) -> Result<u64, Exit> {
        let mut bytes = [0u8; 8];
        let first = (0x1000 - (va & 0xfff) as usize).min(size);
        let p = self.translate_page(va, AccessType::Load)?;
        p.read((va & 0xfff) as usize, &mut bytes[..first]);
        if first < size {
            // Misaligned across a page boundary: emulated byte-wise, as Linux's
            // misaligned-access handler would.
            let va2 = va.wrapping_add(first as u64);
            let p2 = self.translate_page(va2, AccessType::Load)?;
            p2.read(0, &mut bytes[first..size]);
        }
        Ok(u64::from_le_bytes(bytes))
    }

    #[inline(always)]
    fn store(&mut self, va: u64, size: usize, value: u64) -> Step {
        if let Some(p) = self.fast_write(va) {
            let o = (va & 0xfff) as usize;
            let ok = match size {
                1 => p.store_u8(o, value as u8),
                2 => p.store_u16(o, value as u16),
                4 => p.store_u32(o, value as u32),
                _ => p.store_u64(o, value),
            };
            if ok {
                self.counters.tlb_hits += 1;
                return Ok(());
            }
        }
        self.store_slow(va, size, value)
    }

    fn store_slow(&mut self, va: u64, size: usize, value: u64) -> Step {
        let bytes = value.to_le_bytes();
        let first = (0x1000 - (va & 0xfff) as usize).min(size);
        let p = self.store_page(va)?;
        if first < size {
            // Both pages must be writable before any byte is written.
            let va2 = va.wrapping_add(first as u64);
            let p2 = self.store_page(va2)?;
            Self::write_bytes(p, (va & 0xfff) as usize, &bytes[..first]);
            Self::write_bytes(p2, 0, &bytes[first..size]);
        } else {
            Self::write_bytes(p, (va & 0xfff) as usize, &bytes[..size]);
        }
        Ok(())
    }

    fn write_bytes(p: HostPage<'m>, off: usize, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            p.store_u8(off + i, *b);
        }
    }

    /// Physical address for an LR/SC/AMO of `size` bytes at `va` (naturally aligned).
    fn atomic_pa(&mut self, va: u64, size: u64, access: AccessType) -> Result<GuestPhysAddr, Exit> {
        if !va.is_multiple_of(size) {
            return Err(Exit::Misaligned {
                va: GuestVirtAddr(va),
                access,
            });
        }
        let page = if access == AccessType::Store {
            self.store_page(va)?
        } else {
            self.translate_page(va, access)?
        };
        Ok(GuestPhysAddr(page.pa().raw() | (va & 0xfff)))
    }

    // ---- execute -----------------------------------------------------------------------

    #[inline(always)]
    fn wx(&mut self, rd: u8, v: u64) {
        self.x[rd as usize & 31] = v;
        self.x[0] = 0;
    }

    #[inline(always)]
    fn rx(&self, r: u8) -> u64 {
        self.x[r as usize & 31]
    }

    #[inline(always)]
    fn branch(&mut self, inst: &Inst, pc: u64, taken: bool) -> Flow {
        if taken {
            self.pc = pc.wrapping_add(inst.imm as i64 as u64);
            self.cycles += u64::from(self.cost.taken_branch);
        } else {
            self.pc = pc.wrapping_add(u64::from(inst.len));
        }
        Flow::Jump
    }

    /// Charges `i`'s modelled cycles beyond the ALU base (non-ALU ops call this once).
    #[inline(always)]
    fn charge(&mut self, i: &Inst) {
        self.cycles = self.cycles.wrapping_add(self.op_extra[i.op as usize]);
    }

    /// After a memory access: a slow-path translation may have displaced the fetch page's
    /// TLB entry, or a store invalidated decoded code; either ends the in-page run.
    #[inline(always)]
    fn mem_flow(&mut self, i: &Inst) -> Flow {
        self.charge(i);
        if self.fetch_vpn == NO_VPN {
            Flow::Resync
        } else {
            Flow::Next
        }
    }

    /// Executes `i` at `pc`. Sequential instructions do not write `self.pc` (the block loop
    /// keeps the PC in a register); control transfers write it and return [`Flow::Jump`].
    #[inline(always)]
    fn execute(&mut self, i: &Inst, pc: u64) -> Result<Flow, Exit> {
        use Op::*;
        // Operands are read inside each arm, so an instruction pays only for what it uses.
        macro_rules! a {
            () => {
                self.x[i.rs1 as usize & 31]
            };
        }
        macro_rules! b {
            () => {
                self.x[i.rs2 as usize & 31]
            };
        }
        macro_rules! imm {
            () => {
                (i.imm as i64 as u64)
            };
        }
        macro_rules! sh {
            () => {
                ((i.imm as u32) & 63)
            };
        }
        macro_rules! next {
            () => {
                pc.wrapping_add(u64::from(i.len))
            };
        }
        match i.op {
            Lui => self.wx(i.rd, imm!()),
            Auipc => self.wx(i.rd, pc.wrapping_add(imm!())),
            Jal => {
                self.wx(i.rd, next!());
                self.pc = pc.wrapping_add(imm!());
                self.cycles += u64::from(self.cost.taken_branch);
                return Ok(Flow::Jump);
            }
            Jalr => {
                let target = a!().wrapping_add(imm!()) & !1;
                self.wx(i.rd, next!());
                self.pc = target;
                self.cycles += u64::from(self.cost.taken_branch);
                return Ok(Flow::Jump);
            }
            Beq => return Ok(self.branch(i, pc, a!() == b!())),
            Bne => return Ok(self.branch(i, pc, a!() != b!())),
            Blt => return Ok(self.branch(i, pc, (a!() as i64) < (b!() as i64))),
            Bge => return Ok(self.branch(i, pc, (a!() as i64) >= (b!() as i64))),
            Bltu => return Ok(self.branch(i, pc, a!() < b!())),
            Bgeu => return Ok(self.branch(i, pc, a!() >= b!())),
            Lb => {
                let v = self.load(a!().wrapping_add(imm!()), 1)?;
                self.wx(i.rd, v as u8 as i8 as i64 as u64);
                return Ok(self.mem_flow(i));
            }
            Lh => {
                let v = self.load(a!().wrapping_add(imm!()), 2)?;
                self.wx(i.rd, v as u16 as i16 as i64 as u64);
                return Ok(self.mem_flow(i));
            }
            Lw => {
                let v = self.load(a!().wrapping_add(imm!()), 4)?;
                self.wx(i.rd, v as u32 as i32 as i64 as u64);
                return Ok(self.mem_flow(i));
            }
            Ld => {
                let v = self.load(a!().wrapping_add(imm!()), 8)?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Lbu => {
                let v = self.load(a!().wrapping_add(imm!()), 1)?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Lhu => {
                let v = self.load(a!().wrapping_add(imm!()), 2)?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Lwu => {
                let v = self.load(a!().wrapping_add(imm!()), 4)?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Sb => {
                self.store(a!().wrapping_add(imm!()), 1, b!())?;
                return Ok(self.mem_flow(i));
            }
            Sh => {
                self.store(a!().wrapping_add(imm!()), 2, b!())?;
                return Ok(self.mem_flow(i));
            }
            Sw => {
                self.store(a!().wrapping_add(imm!()), 4, b!())?;
                return Ok(self.mem_flow(i));
            }
            Sd => {
                self.store(a!().wrapping_add(imm!()), 8, b!())?;
                return Ok(self.mem_flow(i));
            }
            Addi => self.wx(i.rd, a!().wrapping_add(imm!())),
            Slti => self.wx(i.rd, u64::from((a!() as i64) < (imm!() as i64))),
            Sltiu => self.wx(i.rd, u64::from(a!() < imm!())),
            Xori => self.wx(i.rd, a!() ^ imm!()),
            Ori => self.wx(i.rd, a!() | imm!()),
            Andi => self.wx(i.rd, a!() & imm!()),
            Slli => self.wx(i.rd, a!() << sh!()),
            Srli => self.wx(i.rd, a!() >> sh!()),
            Srai => self.wx(i.rd, ((a!() as i64) >> sh!()) as u64),
            Add => self.wx(i.rd, a!().wrapping_add(b!())),
            Sub => self.wx(i.rd, a!().wrapping_sub(b!())),
            Sll => self.wx(i.rd, a!() << (b!() & 63)),
            Slt => self.wx(i.rd, u64::from((a!() as i64) < (b!() as i64))),
            Sltu => self.wx(i.rd, u64::from(a!() < b!())),
            Xor => self.wx(i.rd, a!() ^ b!()),
            Srl => self.wx(i.rd, a!() >> (b!() & 63)),
            Sra => self.wx(i.rd, ((a!() as i64) >> (b!() & 63)) as u64),
            Or => self.wx(i.rd, a!() | b!()),
            And => self.wx(i.rd, a!() & b!()),
            Addiw => self.wx(i.rd, sext32(a!().wrapping_add(imm!()))),
            Slliw => self.wx(i.rd, sext32(u64::from((a!() as u32) << (sh!() & 31)))),
            Srliw => self.wx(i.rd, sext32(u64::from((a!() as u32) >> (sh!() & 31)))),
            Sraiw => self.wx(i.rd, ((a!() as i32) >> (sh!() & 31)) as i64 as u64),
            Addw => self.wx(i.rd, sext32(a!().wrapping_add(b!()))),
            Subw => self.wx(i.rd, sext32(a!().wrapping_sub(b!()))),
            Sllw => self.wx(i.rd, sext32(u64::from((a!() as u32) << (b!() & 31)))),
            Srlw => self.wx(i.rd, sext32(u64::from((a!() as u32) >> (b!() & 31)))),
            Sraw => self.wx(i.rd, ((a!() as i32) >> (b!() & 31)) as i64 as u64),
            Mul => {
                self.charge(i);
                self.wx(i.rd, a!().wrapping_mul(b!()))
            }
            Mulh => {
                self.charge(i);
                self.wx(
                    i.rd,
                    ((i128::from(a!() as i64) * i128::from(b!() as i64)) >> 64) as u64,
                )
            }
            Mulhsu => {
                self.charge(i);
                self.wx(
                    i.rd,
                    ((i128::from(a!() as i64) * (b!() as i128)) >> 64) as u64,
                )
            }
            Mulhu => {
                self.charge(i);
                self.wx(i.rd, ((u128::from(a!()) * u128::from(b!())) >> 64) as u64)
            }
            Div => {
                self.charge(i);
                self.wx(i.rd, div_s(a!() as i64, b!() as i64) as u64)
            }
            Divu => {
                self.charge(i);
                self.wx(i.rd, a!().checked_div(b!()).unwrap_or(u64::MAX))
            }
            Rem => {
                self.charge(i);
                self.wx(i.rd, rem_s(a!() as i64, b!() as i64) as u64)
            }
            Remu => {
                self.charge(i);
                self.wx(i.rd, if b!() == 0 { a!() } else { a!() % b!() })
            }
            Mulw => {
                self.charge(i);
                self.wx(i.rd, sext32(a!().wrapping_mul(b!())))
            }
            Divw => {
                self.charge(i);
                self.wx(i.rd, i64::from(div_s32(a!() as i32, b!() as i32)) as u64)
            }
            Divuw => {
                self.charge(i);
                let (x, y) = (a!() as u32, b!() as u32);
                self.wx(
                    i.rd,
                    sext32(u64::from(x.checked_div(y).unwrap_or(u32::MAX))),
                );
            }
            Remw => {
                self.charge(i);
                self.wx(i.rd, i64::from(rem_s32(a!() as i32, b!() as i32)) as u64)
            }
            Remuw => {
                self.charge(i);
                let (x, y) = (a!() as u32, b!() as u32);
                self.wx(i.rd, sext32(u64::from(if y == 0 { x } else { x % y })));
            }
            Fence => {
                self.charge(i);
                std::sync::atomic::fence(Ordering::SeqCst)
            }
            FenceI => {
                self.charge(i);
                self.flush_icache();
                self.pc = next!();
                return Ok(Flow::Jump);
            }
            Ecall => return Err(Exit::Ecall),
            Ebreak => return Err(Exit::Breakpoint),
            Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => {
                self.pc = pc;
                self.exec_csr(i)?
            }
            LrW | LrD => {
                let size = if i.op == LrW { 4 } else { 8 };
                let pa = self.atomic_pa(a!(), size, AccessType::Load)?;
                let v = self.mem_atomic(
                    |m| {
                        if size == 4 {
                            m.load_u32(pa, Ordering::Acquire).map(u64::from)
                        } else {
                            m.load_u64(pa, Ordering::Acquire)
                        }
                    },
                    a!(),
                    AccessType::Load,
                )?;
                self.reservation = Some((pa, v));
                self.wx(i.rd, if size == 4 { sext32(v) } else { v });
                return Ok(self.mem_flow(i));
            }
            ScW | ScD => {
                let size = if i.op == ScW { 4 } else { 8 };
                let pa = self.atomic_pa(a!(), size, AccessType::Store)?;
                // SC succeeds iff the reservation is on this address and memory still holds
                // the value LR saw, checked and written by one compare-and-swap (see "LR/SC"
                // on `Hart` for why, and for the ABA caveat).
                let ok = match self.reservation.take() {
                    Some((rpa, old)) if rpa == pa => self.mem_atomic(
                        |m| {
                            if size == 4 {
                                m.compare_exchange_u32(pa, old as u32, b!() as u32)
                                    .map(|r| r.is_ok())
                            } else {
                                m.compare_exchange_u64(pa, old, b!()).map(|r| r.is_ok())
                            }
                        },
                        a!(),
                        AccessType::Store,
                    )?,
                    _ => false,
                };
                self.wx(i.rd, u64::from(!ok));
                return Ok(self.mem_flow(i));
            }
            AmoswapW | AmoaddW | AmoxorW | AmoandW | AmoorW | AmominW | AmomaxW | AmominuW
            | AmomaxuW => {
                let pa = self.atomic_pa(a!(), 4, AccessType::Store)?;
                let op = amo_op(i.op);
                let old = self.mem_atomic(
                    |m| m.amo_u32(pa, op, b!() as u32).map(u64::from),
                    a!(),
                    AccessType::Store,
                )?;
                self.wx(i.rd, sext32(old));
                return Ok(self.mem_flow(i));
            }
            AmoswapD | AmoaddD | AmoxorD | AmoandD | AmoorD | AmominD | AmomaxD | AmominuD
            | AmomaxuD => {
                let pa = self.atomic_pa(a!(), 8, AccessType::Store)?;
                let op = amo_op(i.op);
                let old = self.mem_atomic(|m| m.amo_u64(pa, op, b!()), a!(), AccessType::Store)?;
                self.wx(i.rd, old);
                return Ok(self.mem_flow(i));
            }
            Flw => {
                let v = self.load(a!().wrapping_add(imm!()), 4)?;
                self.f[i.rd as usize & 31] = nan_box(v as u32);
                return Ok(self.mem_flow(i));
            }
            Fld => {
                let v = self.load(a!().wrapping_add(imm!()), 8)?;
                self.f[i.rd as usize & 31] = v;
                return Ok(self.mem_flow(i));
            }
            Fsw => {
                self.store(a!().wrapping_add(imm!()), 4, self.f[i.rs2 as usize & 31])?;
                return Ok(self.mem_flow(i));
            }
            Fsd => {
                self.store(a!().wrapping_add(imm!()), 8, self.f[i.rs2 as usize & 31])?;
                return Ok(self.mem_flow(i));
            }
            Sret | Mret | Wfi | SfenceVma => {
                self.pc = pc;
                return Err(self.illegal(i));
            }
            _ => {
                self.pc = pc;
                self.exec_fp(i)?
            }
        }
        Ok(Flow::Next)
    }

    /// An illegal-instruction exit for `i` at `pc`, with the encoding re-read from the fetch
    /// page for `stval` (the decoded cache does not keep raw bits).
    fn illegal(&self, i: &Inst) -> Exit {
        let o = (self.pc & 0xfff) as usize;
        let bits = self.fetch_page.map_or(0, |p| {
            if i.len == 2 {
                p.load_u16(o).map_or(0, u32::from)
            } else {
                p.load_u32(o).unwrap_or(0)
            }
        });
        Exit::IllegalInstruction { bits }
    }

    fn mem_atomic<T>(
        &self,
        f: impl FnOnce(&GuestMemory) -> Result<T, devices::MemoryError>,
        va: u64,
        access: AccessType,
    ) -> Result<T, Exit> {
        f(self.mem).map_err(|_| Exit::AccessFault {
            va: GuestVirtAddr(va),
            access,
        })
    }

    fn exec_fp(&mut self, i: &Inst) -> Step {
        self.charge(i);
        use Op::*;
        let frm = ((self.fcsr >> 5) & 7) as u8;
        let rm = RoundingMode::resolve(i.rm, frm).ok_or_else(|| self.illegal(i))?;
        let int_src = matches!(
            i.op,
            FcvtSW
                | FcvtSWu
                | FcvtSL
                | FcvtSLu
                | FmvWX
                | FcvtDW
                | FcvtDWu
                | FcvtDL
                | FcvtDLu
                | FmvDX
        );
        let rs1 = if int_src {
            self.rx(i.rs1)
        } else {
            self.f[i.rs1 as usize & 31]
        };
        let rs2 = self.f[i.rs2 as usize & 31];
        let rs3 = self.f[i.rs3 as usize & 31];
        let (v, flags) = fpu::execute(i.op, rs1, rs2, rs3, rm).ok_or_else(|| self.illegal(i))?;
        let int_dst = matches!(
            i.op,
            FcvtWS
                | FcvtWuS
                | FcvtLS
                | FcvtLuS
                | FmvXW
                | FeqS
                | FltS
                | FleS
                | FclassS
                | FcvtWD
                | FcvtWuD
                | FcvtLD
                | FcvtLuD
                | FmvXD
                | FeqD
                | FltD
                | FleD
                | FclassD
        );
        if int_dst {
            self.wx(i.rd, v);
        } else {
            self.f[i.rd as usize & 31] = v;
        }
        self.fcsr |= u32::from(flags.bits());
        Ok(())
    }

    fn exec_csr(&mut self, i: &Inst) -> Step {
        self.charge(i);
        use Op::*;
        let csr = (i.imm as u32) & 0xfff;
        let src = match i.op {
            Csrrwi | Csrrsi | Csrrci => u64::from(i.rs1),
            _ => self.rx(i.rs1),
        };
        // Csrrs/Csrrc with rs1=x0 (or uimm 0) do not write: reading a read-only CSR is legal.
        let writes = matches!(i.op, Csrrw | Csrrwi) || i.rs1 != 0;
        let old = match csr {
            0x001 => u64::from(self.fcsr & 0x1f),
            0x002 => u64::from((self.fcsr >> 5) & 7),
            0x003 => u64::from(self.fcsr & 0xff),
            // cycle, time, instret (user counters; Linux's scounteren grants them and
            // qemu-user allows them).
            0xc00 => self.cycles,
            0xc01 => self.clint.map_or(self.cycles, Clint::mtime),
            0xc02 => self.instret,
            _ => return Err(self.illegal(i)),
        };
        if writes {
            if csr >= 0xc00 {
                return Err(self.illegal(i));
            }
            let new = match i.op {
                Csrrw | Csrrwi => src,
                Csrrs | Csrrsi => old | src,
                _ => old & !src,
            };
            let new = new as u32;
            self.fcsr = match csr {
                0x001 => (self.fcsr & !0x1f) | (new & 0x1f),
                0x002 => (self.fcsr & 0x1f) | ((new & 7) << 5),
                _ => new & 0xff,
            };
        }
        self.wx(i.rd, old);
        Ok(())
    }
}

#[inline(always)]
fn sext32(v: u64) -> u64 {
    v as u32 as i32 as i64 as u64
}

fn div_s(a: i64, b: i64) -> i64 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem_s(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

fn div_s32(a: i32, b: i32) -> i32 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem_s32(a: i32, b: i32) -> i32 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

fn amo_op(op: Op) -> AmoOp {
    use Op::*;
    match op {
        AmoswapW | AmoswapD => AmoOp::Swap,
        AmoaddW | AmoaddD => AmoOp::Add,
        AmoxorW | AmoxorD => AmoOp::Xor,
        AmoandW | AmoandD => AmoOp::And,
        AmoorW | AmoorD => AmoOp::Or,
        AmominW | AmominD => AmoOp::Min,
        AmomaxW | AmomaxD => AmoOp::Max,
        AmominuW | AmominuD => AmoOp::MinU,
        _ => AmoOp::MaxU,
    }
}

/// The `Op` with discriminant `i`, for building per-op tables.
fn op_from_index(i: usize) -> Option<Op> {
    crate::inst::ALL_OPS.get(i).copied()
}
