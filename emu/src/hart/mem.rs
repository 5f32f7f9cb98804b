//! Data memory: the one seam every data access of the hart passes through.
//!
//! # The seam
//!
//! Every load, store, LR, SC and AMO the hart executes — integer and FP, aligned or
//! misaligned, within a page or split across two — is described by one [`MemOp`]
//! (effective virtual address, width in bytes, [`MemOpKind`]) and carried out by
//! [`Hart::data_access`], and by nothing else. Instruction fetch is not a data access: it
//! has its own one-page micro-ITLB (`fetch.rs`) and shares only [`Hart::translate_page`]
//! with this module.
//!
//! `data_access` has two paths:
//! - **Fast** (inline at every call site): a load or store that lies inside one page whose
//!   VPN is tagged in the direct-mapped host-pointer cache (QEMU softmmu's TLB with its
//!   addend, made safe by [`HostPage`]) moves the bytes with one relaxed atomic access and
//!   counts a TLB hit. The cache is *inclusive* of the TLB: an entry is filled only from a
//!   TLB entry, in `translate_page`, and dropped whenever that TLB entry is evicted or
//!   invalidated (`sfence.vma`, `satp` writes), so it never lets an access through that
//!   the TLB would not, and the TLB counters stay exact. A write tag is installed only
//!   from a TLB entry whose cached PTE has W=1 and D=1, so a store to a clean page always
//!   reaches the walker and sets D (*Privileged ISA, §"Virtual Address Translation
//!   Process", step 9*), and never for a page that holds decoded instructions, so stores
//!   to code invalidate the decoded page.
//! - **Slow** (out of line): everything else — LR/SC/AMO, accesses that cross a page,
//!   and loads and stores that miss the host-pointer cache. [`Hart::data_pages`] resolves
//!   the one or two pages the access touches through the TLB, then the hardware walker
//!   ([`mmu::walk`], which sets A/D under Svadu), before a single byte moves, so a split
//!   store that faults on its second page writes nothing; then the access is performed on
//!   those pages.
//!
//! # Pointer masking and memory-tag checks (Ssnpm, Zimt)
//!
//! With `senvcfg.PMM` ≠ 0, the slow path applies Ssnpm's "ignore" transformation to the
//! effective address (`MemOp::ptr` → `MemOp::va`) before translating it. The inline fast
//! path comes in two forms, and [`Hart::run`] picks the run loop by whether masking is on
//! (`data_access::<MASKED>`), the way QEMU picks translated code by its TB flags:
//! - **Unmasked** (PMLEN = 0, and every program that never enables masking): the
//!   effective address is looked up as it is. Every VPN in the host-pointer cache was
//!   installed from a masked address under the current PMLEN (the cache is dropped when
//!   `PMM` changes), so it is a fixed point of the transformation: an address that hits
//!   needed no masking. This loop is the one the hart always had; masking costs it nothing.
//! - **Masked**: the address is masked with one AND first (`fast_masked_inline`), so a
//!   tagged pointer hits its page's entry, and an entry of a tagged-data page serves a
//!   naturally aligned access (one granule) whose granule holds the pointer tag, checked
//!   inline with one load from the page's tag storage kept beside the entry
//!   (`Hart::fast_tags`, filled by `translate_page` with every checked key).
//!
//! A Zimt tag check (the pointer's 4-bit tag, bits 63:60 of `MemOp::ptr`, against the tag
//! of every 16-byte granule the access touches; see the [`crate::hart`] docs, "Memory
//! tagging (Zimt)") is made in three places and nowhere else:
//! 1. in [`Hart::data_pages`], after both pages are resolved and before any access is
//!    performed, when a page is a tagged-data page and the access is subject to checks:
//!    `check_access_tags` compares the granules on `DataPages` with the pointer tag and
//!    returns `Exit::TagCheckFault` on a synchronous mismatch — the state is then
//!    untouched, as for any other trap;
//! 2. in `fast_masked`, the first thing the slow path of a load or store tries: while
//!    checks run, `translate_page` installs a tagged-data page's host-pointer entry under
//!    a VPN tag with `CHECKED_KEY` set, which the unmasked fast path never matches (so its
//!    cost for untagged pages stays zero), and `fast_masked` serves it after the same
//!    `check_access_tags` — without the TLB lookup and permission re-check of step 1.
//!    The entry stays inclusive of the TLB like any other (its VPN is the tag without
//!    `CHECKED_KEY`). Enabling or disabling tagging or checks drops the host-pointer cache;
//! 3. in the masked inline path, for the common case only: an aligned access that passes
//!    its check there is counted in `Zimt::fast_checks` (a TLB hit, a check and its
//!    `tag_load` cycles, which [`Hart::stats`] and the cycle CSR add in); a mismatch, a
//!    misaligned access, an `sp`-based or exempt access goes to the slow path (1 or 2),
//!    which counts, charges and faults exactly as before.
//!
//! A block or JIT tier calls `data_access` with the same `MemOp` and inherits the fast
//! path, the walker, the counters, precise faults and the tag check unchanged.

use std::sync::atomic::{AtomicU8, Ordering};

use devices::{
    page_granule_tag, AmoOp, GuestMemory, GuestPhysAddr, HostPage, PageTags, TAG_BYTES_PER_PAGE,
};
use mmu::{
    check_leaf_permission, walk, AccessType, AdScheme, GuestVirtAddr, PteFlags, SatpMode, Tlb,
    TlbEntry, WalkFault,
};

use super::tag::{pointer_tag, PageTag};
use super::{Hart, NO_VPN};
use crate::exit::Exit;

/// Entries of the host-pointer data cache (direct-mapped on the low VPN bits).
pub(super) const FAST_ENTRIES: usize = 256;
/// Set in the VPN tag of a host-pointer entry for a tagged-data page while tag checks run:
/// no `va >> 12` has it, so the inline fast path misses such an entry, and only
/// `fast_masked`, which checks the tags, uses it.
pub(super) const CHECKED_KEY: u64 = 1 << 63;

/// The VPN a host-pointer tag names, without [`CHECKED_KEY`] ([`NO_VPN`] names none).
#[inline]
fn key_vpn(tag: u64) -> Option<u64> {
    (tag != NO_VPN).then_some(tag & !CHECKED_KEY)
}
/// What `Hart::fast_tags` holds for an entry that has never held a checked key: never
/// read (a checked key is installed only beside its page's tag storage).
pub(super) static NO_PAGE_TAGS: PageTags = [const { AtomicU8::new(0) }; TAG_BYTES_PER_PAGE];
/// Bytes per page (the host-pointer cache and the split logic work on 4 KiB pages).
const PAGE_BYTES: u64 = 0x1000;

/// One entry of the host-pointer cache: the VPN it grants loads for (`tag_r`), the VPN it
/// grants stores for (`tag_w`), either [`NO_VPN`], and the host page they map to. For a
/// tagged-data page under tag checks the tags carry [`CHECKED_KEY`].
#[derive(Clone, Copy)]
pub(super) struct FastEntry<'m> {
    tag_r: u64,
    tag_w: u64,
    page: Option<HostPage<'m>>,
}

impl FastEntry<'_> {
    pub(super) const EMPTY: Self = Self {
        tag_r: NO_VPN,
        tag_w: NO_VPN,
        page: None,
    };
}

/// What a data access does to memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemOpKind {
    /// A load (`lb`…`ld`, `lbu`…`lwu`, `flw`, `fld`): yields the `size` bytes at `va`,
    /// zero-extended.
    Load,
    /// A store (`sb`…`sd`, `fsw`, `fsd`) of the low `size` bytes of the value; yields 0.
    Store(u64),
    /// `lr.w`/`lr.d`: an acquire load that records the reservation (see "LR/SC" on
    /// [`Hart`]); yields the value, zero-extended.
    LoadReserved,
    /// `sc.w`/`sc.d` of the value: yields what `rd` receives, 0 on success, 1 on failure.
    StoreConditional(u64),
    /// An AMO (`amoswap`…`amomaxu`, `.w` or `.d`) with the value of `rs2`: yields the old
    /// value, zero-extended.
    Amo(AmoOp, u64),
}

impl MemOpKind {
    /// The access it translates and faults as: LR is a load; SC and AMOs raise store/AMO
    /// faults (exception codes 6, 7 and 15 of *Privileged ISA, §"Machine Cause Register
    /// (mcause)"*).
    #[inline(always)]
    pub(super) fn access_type(self) -> AccessType {
        match self {
            Self::Load | Self::LoadReserved => AccessType::Load,
            Self::Store(_) | Self::StoreConditional(_) | Self::Amo(..) => AccessType::Store,
        }
    }

    /// LR/SC/AMO: must be naturally aligned and are performed as one atomic operation on
    /// guest RAM.
    #[inline(always)]
    fn is_atomic(self) -> bool {
        !matches!(self, Self::Load | Self::Store(_))
    }
}

/// One data access as the seam sees it: what [`Hart::data_access`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemOp {
    /// The address translated: the effective address as the instruction computed it, and
    /// on the slow path after pointer masking (Ssnpm; the same as `ptr` while masking is
    /// off).
    pub va: u64,
    /// The effective address as the instruction computed it (`rs1 + imm`, or `rs1` for
    /// LR/SC/AMO), pointer tag included.
    pub ptr: u64,
    /// Width in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// What the access does.
    pub kind: MemOpKind,
    /// The base register is `sp` (x2): Zimt exempts the access from tag checks.
    pub sp_based: bool,
}

impl MemOp {
    /// An access of `size` bytes at effective address `ea` (not `sp`-based).
    #[inline(always)]
    pub(crate) fn new(ea: u64, size: u8, kind: MemOpKind) -> Self {
        Self {
            va: ea,
            ptr: ea,
            size,
            kind,
            sp_based: false,
        }
    }

    /// A load of `size` bytes at `ea`.
    #[inline(always)]
    pub(crate) fn load(ea: u64, size: u8) -> Self {
        Self::new(ea, size, MemOpKind::Load)
    }

    /// A store of the low `size` bytes of `value` at `ea`.
    #[inline(always)]
    pub(crate) fn store(ea: u64, size: u8, value: u64) -> Self {
        Self::new(ea, size, MemOpKind::Store(value))
    }

    /// `self`, with its base register `rs1` (for the `sp` exemption of tag checks).
    #[inline(always)]
    pub(crate) fn based_on(self, rs1: u8) -> Self {
        Self {
            sp_based: rs1 == 2,
            ..self
        }
    }

    /// Byte offset of `va` in its page.
    #[inline(always)]
    fn offset(&self) -> usize {
        (self.va & (PAGE_BYTES - 1)) as usize
    }
}

/// The host pages a slow-path access touches, resolved (translated, permission-checked,
/// A/D set) before any byte of it moves.
#[derive(Clone, Copy)]
pub(super) struct DataPages<'m> {
    /// The page of `va`.
    pub(super) first: HostPage<'m>,
    /// For an access that crosses into the next page: the bytes that fall in `first`, and
    /// the next page.
    pub(super) split: Option<(usize, HostPage<'m>)>,
}

impl DataPages<'_> {
    /// The guest-physical address of `op.va` (of its first byte).
    pub(super) fn pa(&self, op: &MemOp) -> GuestPhysAddr {
        GuestPhysAddr(self.first.pa().raw() | op.offset() as u64)
    }
}

/// Loads `size` bytes at `offset` of `p`, zero-extended; `None` if they cross the page end.
#[inline(always)]
fn page_load(p: HostPage<'_>, offset: usize, size: u8) -> Option<u64> {
    match size {
        1 => p.load_u8(offset).map(u64::from),
        2 => p.load_u16(offset).map(u64::from),
        4 => p.load_u32(offset).map(u64::from),
        _ => p.load_u64(offset),
    }
}

/// Stores the low `size` bytes of `value` at `offset` of `p`; `false` (nothing written) if
/// they cross the page end.
#[inline(always)]
fn page_store(p: HostPage<'_>, offset: usize, size: u8, value: u64) -> bool {
    match size {
        1 => p.store_u8(offset, value as u8),
        2 => p.store_u16(offset, value as u16),
        4 => p.store_u32(offset, value as u32),
        _ => p.store_u64(offset, value),
    }
}

/// Performs the load or store `op` at byte `offset` of `p`: what a load yields, 0 for a
/// store; `None` (nothing written) if it crosses the page end. LR/SC/AMOs never come here.
#[inline(always)]
fn page_access(p: HostPage<'_>, offset: usize, op: &MemOp) -> Option<u64> {
    match op.kind {
        MemOpKind::Store(value) => page_store(p, offset, op.size, value).then_some(0),
        _ => page_load(p, offset, op.size),
    }
}

impl<'m> Hart<'m> {
    /// The TLB (for inspection).
    pub fn tlb(&self) -> &Tlb {
        &self.tlb
    }

    /// The A/D scheme.
    pub fn ad_scheme(&self) -> AdScheme {
        self.ad
    }

    /// `sfence.vma`: `va = None` is rs1=x0, `asid = None` is rs2=x0 (see [`Tlb::sfence_vma`]).
    ///
    /// The host-pointer cache and the fetch translation are inclusive of the TLB (an
    /// entry displaced from the TLB drops its copies), so a fence for one address drops
    /// only the copies of the TLB entries it invalidates — one slot for a 4 KiB leaf, a
    /// scan for a superpage — rather than the whole cache: the kernel fences page by page
    /// after every fault and zap. A fence for every address, or in Bare mode (whose cache
    /// entries have no TLB entry behind them), drops the whole cache.
    pub fn sfence_vma(&mut self, va: Option<u64>, asid: Option<u16>) {
        match va {
            Some(va) if self.mode != SatpMode::Bare => {
                let (fast, fetch_vpn) = (&mut self.fast[..], &mut self.fetch_vpn);
                self.tlb
                    .sfence_vma_each(Some(GuestVirtAddr(va)), asid, |e| {
                        drop_cached_copies(fast, fetch_vpn, e)
                    });
            }
            _ => {
                self.tlb.sfence_vma(va.map(GuestVirtAddr), asid);
                self.flush_fast();
            }
        }
    }

    /// Drops the whole host-pointer cache and the fetch translation (they are not
    /// ASID-tagged).
    pub(super) fn flush_fast(&mut self) {
        self.fast.fill(FastEntry::EMPTY);
        self.fetch_vpn = NO_VPN;
        self.fetch_page = None;
    }

    /// Drops cached copies of a TLB entry that was displaced (inclusion).
    fn drop_cached(&mut self, e: &TlbEntry) {
        drop_cached_copies(&mut self.fast[..], &mut self.fetch_vpn, e);
    }

    /// Revokes the write tags of every host-pointer entry on physical page `ppn`, so that
    /// stores to it take the slow path (it now holds decoded instructions).
    pub(super) fn revoke_fast_writes(&mut self, ppn: u64) {
        for f in self.fast.iter_mut() {
            if f.tag_w != NO_VPN && f.page.is_some_and(|p| p.pa().ppn() == ppn) {
                f.tag_w = NO_VPN;
            }
        }
    }

    /// Translates the page of `va` for `access` through the TLB (filling it from the walker
    /// on a miss, and charging the walk's modelled cycles), fills the host-pointer cache
    /// for data accesses, and returns the host page and what Zimt makes of it. While tag
    /// checks run, a tagged-data page's entry is filled under a [`CHECKED_KEY`] VPN tag,
    /// which only `fast_masked` — after the tag check — uses.
    ///
    /// # Errors
    /// [`Exit::PageFault`] when the walk or the cached permissions refuse `access`;
    /// [`Exit::AccessFault`] when a PTE or the page itself is outside guest RAM.
    pub(super) fn translate_page(
        &mut self,
        va: u64,
        access: AccessType,
    ) -> Result<(HostPage<'m>, PageTag), Exit> {
        let vaddr = GuestVirtAddr(va);
        let fault = |access| Exit::PageFault { va: vaddr, access };
        let (pa, flags, tag) = if self.mode == SatpMode::Bare {
            (GuestPhysAddr(va), None, self.page_tag(None))
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
            let x = t.flags().contains(PteFlags::X);
            (
                t.pa(vaddr),
                Some(t.flags()),
                self.page_tag(Some((t.pte.mtag(), x))),
            )
        };
        let page = self
            .mem
            .host_page(pa)
            .ok_or(Exit::AccessFault { va: vaddr, access })?;
        if access != AccessType::Fetch {
            let vpn = va >> 12;
            let slot = (vpn as usize) & (FAST_ENTRIES - 1);
            let key = if tag == PageTag::TaggedData && self.zimt.checks_active() {
                if !self.fill_fast_tags(slot, page.pa()) {
                    // No tag storage (not reached: every RAM page has it): no entry, and
                    // every access goes to the slow path, whose check reports it.
                    return Ok((page, tag));
                }
                vpn | CHECKED_KEY
            } else {
                vpn
            };
            let e = &mut self.fast[slot];
            if e.page.is_none_or(|p| p.pa() != page.pa()) || (e.tag_r != key && e.tag_w != key) {
                *e = FastEntry {
                    tag_r: NO_VPN,
                    tag_w: NO_VPN,
                    page: Some(page),
                };
            }
            let allow = |acc| flags.is_none_or(|f| check_leaf_permission(f, acc, self.ctx));
            if allow(AccessType::Load) {
                e.tag_r = key;
            }
            let dirty = flags.is_none_or(|f| f.contains(PteFlags::D));
            if allow(AccessType::Store) && dirty && !self.code_ppns.contains(&page.pa().ppn()) {
                e.tag_w = key;
            }
        }
        Ok((page, tag))
    }

    /// Keeps the tag storage of `pa`'s page beside host-pointer entry `slot`, which is
    /// about to hold a [`CHECKED_KEY`] for that page (`fast_tags`); `false` if the page has
    /// none. Out of line and cold: `translate_page` serves every TLB miss of untagged
    /// programs, whose code this would otherwise disturb.
    #[cold]
    #[inline(never)]
    fn fill_fast_tags(&mut self, slot: usize, pa: GuestPhysAddr) -> bool {
        match (self.mem.tags().page_tags(pa), self.fast_tags.get_mut(slot)) {
            (Some(tags), Some(e)) => {
                *e = tags;
                true
            }
            _ => false,
        }
    }

    // ---- the seam ----------------------------------------------------------------------

    /// The host page for a load from `va`, if the host-pointer cache grants it.
    #[inline(always)]
    fn fast_read(&self, va: u64) -> Option<HostPage<'m>> {
        let e = &self.fast[((va >> 12) as usize) & (FAST_ENTRIES - 1)];
        if e.tag_r == va >> 12 {
            e.page
        } else {
            None
        }
    }

    /// The host page for a store to `va`, if the host-pointer cache grants it.
    #[inline(always)]
    fn fast_write(&self, va: u64) -> Option<HostPage<'m>> {
        let e = &self.fast[((va >> 12) as usize) & (FAST_ENTRIES - 1)];
        if e.tag_w == va >> 12 {
            e.page
        } else {
            None
        }
    }

    /// The inline path of a load or store (`store`) under pointer masking
    /// (`data_access::<true>`): performs `op` on its host page and counts it if the
    /// host-pointer cache serves it (returning what a load yields, 0 for a store), or
    /// returns `None` for the slow path.
    ///
    /// The effective address is masked with one AND (`Zimt::va_mask`: Ssnpm's
    /// transformation as a zero-extension) before the look-up. Every key in the cache was
    /// installed from an address masked under the current PMLEN (the cache is dropped when
    /// it changes), sign-extended from bit 63−PMLEN; a key whose masked address has that
    /// bit clear equals the zero-extended VPN exactly when it names the same page, and one
    /// with it set never matches, so such (kernel-half) addresses take the slow path.
    ///
    /// An entry with a [`CHECKED_KEY`] serves the access when it is subject to checks
    /// (`Zimt::checked_xor` is 0 while the fetch page is exempt; the base register is not
    /// `sp`), lies in one 16-byte granule (hence in the page), and that granule holds the
    /// pointer tag: one load from the page's tag storage kept beside the entry
    /// (`fast_tags`). It is counted with one increment of `Zimt::fast_checks`, which
    /// stands for the TLB hit, the tag check and its `tag_load` modelled cycles that
    /// `check_access_tags` would have counted and charged (see [`Hart::stats`]).
    /// A mismatch, an access wider than its granule or an exempt access goes to the slow
    /// path, which masks, checks and counts as before.
    #[inline(always)]
    fn fast_masked_inline(&mut self, op: &MemOp) -> Option<u64> {
        let vpn = (op.va & self.zimt.va_mask) >> 12;
        let slot = (vpn as usize) & (FAST_ENTRIES - 1);
        let e = &self.fast[slot];
        let key = match op.kind {
            MemOpKind::Store(_) => e.tag_w,
            _ => e.tag_r,
        };
        if key == vpn {
            let v = page_access(e.page?, op.offset(), op)?;
            self.counters.tlb_hits += 1;
            return Some(v);
        }
        // Naturally aligned, the access lies in one granule (it is at most 8 bytes wide):
        // one tag. The same test selects the aligned access in `page_access`, which the
        // compiler then drops, with its page-end test: `off` is spelled with its low bits
        // clear so that it can see that an aligned offset cannot cross the page end.
        let size = u64::from(op.size);
        if key ^ vpn != self.zimt.checked_xor || (op.va & (size - 1) != 0) | op.sp_based {
            return None;
        }
        let off = (op.va & (PAGE_BYTES - size)) as usize;
        if page_granule_tag(self.fast_tags[slot], off) != pointer_tag(op.ptr) {
            return None;
        }
        let v = page_access(e.page?, off, op)?;
        self.zimt.fast_checks += 1;
        Some(v)
    }

    /// Performs the data access `op` — the one seam through which every load, store, LR,
    /// SC and AMO of the hart passes (see the module docs) — and returns what it yields
    /// (see [`MemOpKind`]): the loaded value zero-extended, 0 for a store, the `rd` value
    /// of an SC, the old value of an AMO.
    ///
    /// Loads and stores of any alignment are carried out, also across a page boundary,
    /// as Linux's misaligned-access emulation would; a split access checks both pages
    /// before it touches either.
    ///
    /// Only the fast path is inlined; every slow path is `#[cold]` and out of line, which
    /// keeps the interpreter loop in [`Hart::run`] (into which this inlines) at its
    /// register allocation: inlined, the slow paths cost it 2–3 host instructions per
    /// guest instruction (measured with callgrind).
    ///
    /// `MASKED` selects the fast path, as [`Hart::run`] selects the run loop by whether
    /// pointer masking is on (QEMU selects translated code by its TB flags the same way,
    /// e.g. arm64's `MTE_ACTIVE`): `false` looks the effective address up as it is, which
    /// costs nothing for masking and serves every access while masking is off; `true`
    /// masks it first and serves checked one-granule accesses to tagged-data pages inline
    /// (see `fast_masked_inline`). Both are correct in either state.
    ///
    /// # Errors
    /// The trap, with nothing written and `rd` untouched: [`Exit::PageFault`] or
    /// [`Exit::AccessFault`] from translation (`stval` is the address of the page that
    /// faulted, the second page's first byte for a split access), [`Exit::Misaligned`]
    /// for an LR/SC/AMO that is not naturally aligned, [`Exit::AccessFault`] for an atomic
    /// on an address that guest RAM refuses.
    #[inline(always)]
    pub(crate) fn data_access<const MASKED: bool>(&mut self, op: MemOp) -> Result<u64, Exit> {
        #[cfg(test)]
        self.seam_log.push(op);
        // Unmasked, the fast path looks the effective address up as it is: the
        // host-pointer cache holds only addresses that pointer masking leaves unchanged
        // (see the module docs), so a hit needs no masking; everything else is masked on
        // the slow path.
        match op.kind {
            MemOpKind::Load => {
                if MASKED {
                    if let Some(v) = self.fast_masked_inline(&op) {
                        return Ok(v);
                    }
                } else if let Some(v) = self
                    .fast_read(op.va)
                    .and_then(|p| page_load(p, op.offset(), op.size))
                {
                    self.counters.tlb_hits += 1;
                    return Ok(v);
                }
                self.load_slow(&self.masked(op))
            }
            MemOpKind::Store(value) => {
                if MASKED {
                    if let Some(v) = self.fast_masked_inline(&op) {
                        return Ok(v);
                    }
                } else if self
                    .fast_write(op.va)
                    .is_some_and(|p| page_store(p, op.offset(), op.size, value))
                {
                    self.counters.tlb_hits += 1;
                    return Ok(0);
                }
                self.store_slow(&self.masked(op), value)
            }
            MemOpKind::LoadReserved => self.load_reserved(&self.masked(op)),
            MemOpKind::StoreConditional(value) => self.store_conditional(&self.masked(op), value),
            MemOpKind::Amo(amo, value) => self.amo(&self.masked(op), amo, value),
        }
    }

    /// `op` with Ssnpm's transformation applied to the address it translates.
    #[inline(always)]
    fn masked(&self, op: MemOp) -> MemOp {
        MemOp {
            va: self.pointer_mask(op.ptr),
            ..op
        }
    }

    /// The page of `va` for a data access, translated for `access`, and what Zimt makes of
    /// it; a store to a page with decoded instructions invalidates them.
    fn data_page(&mut self, va: u64, access: AccessType) -> Result<(HostPage<'m>, PageTag), Exit> {
        let (page, tag) = self.translate_page(va, access)?;
        if access == AccessType::Store {
            self.code_written(page.pa().ppn());
        }
        Ok((page, tag))
    }

    /// Resolves the pages `op` touches, in address order, and checks the access's memory
    /// tags when it is subject to a check, before the access is performed.
    #[inline(always)]
    fn data_pages(&mut self, op: &MemOp) -> Result<DataPages<'m>, Exit> {
        let access = op.kind.access_type();
        let size = usize::from(op.size);
        if op.kind.is_atomic() && !op.va.is_multiple_of(u64::from(op.size)) {
            return Err(Exit::Misaligned {
                va: GuestVirtAddr(op.va),
                access,
            });
        }
        let (first, mut tag) = self.data_page(op.va, access)?;
        let in_first = (PAGE_BYTES as usize - op.offset()).min(size);
        let split = if in_first < size {
            // Misaligned across a page boundary: both pages must allow the access before
            // any byte moves.
            let (next, t) = self.data_page(op.va.wrapping_add(in_first as u64), access)?;
            // Zimt rule 6: an access straddling a tagged-data page and another page is a
            // tagged-data access on both.
            if t == PageTag::TaggedData {
                tag = t;
            }
            Some((in_first, next))
        } else {
            None
        };
        let pages = DataPages { first, split };
        if tag == PageTag::TaggedData
            && self.zimt.checks_active()
            && !op.sp_based
            && !self.zimt.fetch_exempt()
        {
            self.check_access_tags(op, &pages)?;
        }
        Ok(pages)
    }

    /// The host-pointer cache for the masked address of a load or store that missed the
    /// inline fast path: an ordinary entry serves a pointer whose tag masking removed, and
    /// a [`CHECKED_KEY`] entry a tagged-data page, after the access's tag check (done
    /// here, inline, instead of through the TLB). `None` when neither applies or the access
    /// crosses the page: the caller takes the full slow path.
    #[inline(always)]
    fn fast_masked(&mut self, op: &MemOp) -> Option<Result<u64, Exit>> {
        let vpn = op.va >> 12;
        let e = &self.fast[(vpn as usize) & (FAST_ENTRIES - 1)];
        let tag = match op.kind {
            MemOpKind::Store(_) => e.tag_w,
            _ => e.tag_r,
        };
        let page = e.page?;
        if key_vpn(tag) != Some(vpn) || op.offset() + usize::from(op.size) > PAGE_BYTES as usize {
            return None;
        }
        if tag & CHECKED_KEY != 0 && !op.sp_based && !self.zimt.fetch_exempt() {
            // What the inline path left: a mismatch, an access wider than its granule.
            let pages = DataPages {
                first: page,
                split: None,
            };
            if let Err(e) = self.check_access_tags(op, &pages) {
                return Some(Err(e));
            }
        }
        self.counters.tlb_hits += 1;
        Some(Ok(match op.kind {
            MemOpKind::Store(value) => {
                page_store(page, op.offset(), op.size, value);
                0
            }
            _ => page_load(page, op.offset(), op.size).unwrap_or(0),
        }))
    }

    #[cold]
    #[inline(never)]
    fn load_slow(&mut self, op: &MemOp) -> Result<u64, Exit> {
        if let Some(r) = self.fast_masked(op) {
            return r;
        }
        let pages = self.data_pages(op)?;
        let Some((in_first, next)) = pages.split else {
            return Ok(page_load(pages.first, op.offset(), op.size).unwrap_or(0));
        };
        // Byte-wise, as Linux's misaligned-access handler would.
        let mut bytes = [0u8; 8];
        let size = usize::from(op.size);
        pages.first.read(op.offset(), &mut bytes[..in_first]);
        next.read(0, &mut bytes[in_first..size]);
        Ok(u64::from_le_bytes(bytes))
    }

    #[cold]
    #[inline(never)]
    fn store_slow(&mut self, op: &MemOp, value: u64) -> Result<u64, Exit> {
        if let Some(r) = self.fast_masked(op) {
            return r;
        }
        let pages = self.data_pages(op)?;
        let Some((in_first, next)) = pages.split else {
            page_store(pages.first, op.offset(), op.size, value);
            return Ok(0);
        };
        let bytes = value.to_le_bytes();
        let size = usize::from(op.size);
        Self::write_bytes(pages.first, op.offset(), &bytes[..in_first]);
        Self::write_bytes(next, 0, &bytes[in_first..size]);
        Ok(0)
    }

    fn write_bytes(p: HostPage<'m>, off: usize, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            p.store_u8(off + i, *b);
        }
    }

    #[cold]
    #[inline(never)]
    fn load_reserved(&mut self, op: &MemOp) -> Result<u64, Exit> {
        let pa = self.data_pages(op)?.pa(op);
        let v = self.mem_atomic(op, |m| {
            if op.size == 4 {
                m.load_u32(pa, Ordering::Acquire).map(u64::from)
            } else {
                m.load_u64(pa, Ordering::Acquire)
            }
        })?;
        self.reservation = Some((pa, v));
        Ok(v)
    }

    #[cold]
    #[inline(never)]
    fn store_conditional(&mut self, op: &MemOp, value: u64) -> Result<u64, Exit> {
        let pa = self.data_pages(op)?.pa(op);
        // SC succeeds iff the reservation is on this address and memory still holds the
        // value LR saw, checked and written by one compare-and-swap (see "LR/SC" on `Hart`
        // for why, and for the ABA caveat).
        let ok = match self.reservation.take() {
            Some((rpa, old)) if rpa == pa => self.mem_atomic(op, |m| {
                if op.size == 4 {
                    m.compare_exchange_u32(pa, old as u32, value as u32)
                        .map(|r| r.is_ok())
                } else {
                    m.compare_exchange_u64(pa, old, value).map(|r| r.is_ok())
                }
            })?,
            _ => false,
        };
        Ok(u64::from(!ok))
    }

    #[cold]
    #[inline(never)]
    fn amo(&mut self, op: &MemOp, amo: AmoOp, value: u64) -> Result<u64, Exit> {
        let pa = self.data_pages(op)?.pa(op);
        self.mem_atomic(op, |m| {
            if op.size == 4 {
                m.amo_u32(pa, amo, value as u32).map(u64::from)
            } else {
                m.amo_u64(pa, amo, value)
            }
        })
    }

    /// Runs an atomic operation on guest RAM for `op`; guest RAM refusing it is an access
    /// fault at `op.va`.
    fn mem_atomic<T>(
        &self,
        op: &MemOp,
        f: impl FnOnce(&GuestMemory) -> Result<T, devices::MemoryError>,
    ) -> Result<T, Exit> {
        f(self.mem).map_err(|_| Exit::AccessFault {
            va: GuestVirtAddr(op.va),
            access: op.kind.access_type(),
        })
    }
}

/// Drops the host-pointer cache entries and the fetch translation that copy TLB entry `e`
/// (displaced or fenced): the one slot of a 4 KiB leaf, every slot a superpage covers.
fn drop_cached_copies(fast: &mut [FastEntry], fetch_vpn: &mut u64, e: &TlbEntry) {
    if e.level == 0 {
        let f = &mut fast[(e.vpn as usize) & (FAST_ENTRIES - 1)];
        if key_vpn(f.tag_r) == Some(e.vpn) || key_vpn(f.tag_w) == Some(e.vpn) {
            *f = FastEntry::EMPTY;
        }
    } else {
        for f in fast.iter_mut() {
            let covered = |t| key_vpn(t).is_some_and(|v| e.covers(v));
            if covered(f.tag_r) || covered(f.tag_w) {
                *f = FastEntry::EMPTY;
            }
        }
    }
    if *fetch_vpn != NO_VPN && e.covers(*fetch_vpn) {
        *fetch_vpn = NO_VPN;
    }
}

#[cfg(test)]
mod tests {
    use devices::{AmoOp, GuestMemory, GuestPhysAddr};
    use mmu::{AccessType, GuestVirtAddr};

    use super::{MemOp, MemOpKind};
    use crate::exit::Exit;
    use crate::hart::{Hart, HartConfig};

    const RAM: u64 = 0x8000_0000;
    const RAM_BYTES: u64 = 1 << 20;
    /// The data page; `D + 0xffe` starts an access that crosses into the next page.
    const D: u64 = RAM + 0x1000;
    const A1: u64 = 0x1122_3344_5566_7788;
    const A2: u64 = 0xdead_beef_0000_0001;

    /// One of every kind of data access (`.option norvc`, `riscv64-linux-gnu-as
    /// -march=rv64gc`), with a0 = D, a1 = A1, a2 = A2, a3 = D + 0x800.
    const EVERY_ACCESS: [u32; 13] = [
        0x00b53023, // sd       a1, 0(a0)
        0x00050283, // lb       t0, 0(a0)
        0x00255303, // lhu      t1, 2(a0)
        0x00452383, // lw       t2, 4(a0)
        0x00b51423, // sh       a1, 8(a0)
        0x7eb6af23, // sw       a1, 2046(a3)    D+0xffe: split across two pages
        0x7fc6be03, // ld       t3, 2044(a3)    D+0xffc: split
        0x00053007, // fld      ft0, 0(a0)
        0x00052827, // fsw      ft0, 16(a0)
        0x10053eaf, // lr.d     t4, (a0)
        0x18c53f2f, // sc.d     t5, a2, (a0)
        0x00b52faf, // amoadd.w t6, a1, (a0)
        0x00000073, // ecall
    ];

    /// Guest RAM with `code` at `RAM`, and a hart (satp Bare) about to run it.
    fn machine(code: &[u32]) -> GuestMemory {
        let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), RAM_BYTES)]).unwrap();
        for (i, w) in code.iter().enumerate() {
            mem.write_u32(GuestPhysAddr(RAM + 4 * i as u64), *w)
                .unwrap();
        }
        mem
    }

    fn hart(mem: &GuestMemory, a0: u64) -> Hart<'_> {
        let mut h = Hart::new(mem, None, HartConfig::default());
        h.pc = RAM;
        h.x[10] = a0;
        h.x[11] = A1;
        h.x[12] = A2;
        h.x[13] = a0 + 0x800;
        h
    }

    fn op(va: u64, size: u8, kind: MemOpKind) -> MemOp {
        MemOp::new(va, size, kind)
    }

    #[test]
    fn every_data_access_passes_the_seam_once() {
        let mem = machine(&EVERY_ACCESS);
        let mut h = hart(&mem, D);
        assert_eq!(h.run(100), Exit::Ecall);
        assert_eq!(h.pc, RAM + 4 * 12);
        assert_eq!(
            h.seam_log,
            [
                MemOp::store(D, 8, A1),
                MemOp::load(D, 1),
                MemOp::load(D + 2, 2),
                MemOp::load(D + 4, 4),
                MemOp::store(D + 8, 2, A1),
                MemOp::store(D + 0xffe, 4, A1),
                MemOp::load(D + 0xffc, 8),
                MemOp::load(D, 8),
                MemOp::store(D + 16, 4, A1),
                op(D, 8, MemOpKind::LoadReserved),
                op(D, 8, MemOpKind::StoreConditional(A2)),
                op(D, 4, MemOpKind::Amo(AmoOp::Add, A1)),
            ]
        );
        // And each did what the instruction says.
        let x = |r: usize| h.x[r];
        assert_eq!(x(5), 0xffff_ffff_ffff_ff88, "lb sign-extends");
        assert_eq!(x(6), 0x5566, "lhu");
        assert_eq!(x(7), 0x1122_3344, "lw");
        assert_eq!(x(28), 0x0000_5566_7788_0000, "split ld sees the split sw");
        assert_eq!(h.f[0], A1, "fld");
        assert_eq!(x(29), A1, "lr.d");
        assert_eq!(x(30), 0, "sc.d succeeded");
        assert_eq!(x(31), 1, "amoadd.w returns the old low word of A2");
        let r32 = |pa: u64| mem.read_u32(GuestPhysAddr(pa)).unwrap();
        assert_eq!(mem.read_u16(GuestPhysAddr(D + 8)).unwrap(), 0x7788);
        assert_eq!(r32(D + 0xffc), 0x7788_0000);
        assert_eq!(r32(D + 0x1000), 0x5566);
        assert_eq!(r32(D + 16), 0x5566_7788, "fsw of the low word");
        assert_eq!(
            r32(D),
            0x5566_7789,
            "sc.d wrote A2, amoadd.w added the low word of A1"
        );
        assert_eq!(r32(D + 4), 0xdead_beef);
    }

    #[test]
    fn tagged_pages_leave_the_inline_fast_path_only_while_checks_run() {
        use crate::hart::TagCheckMode;
        // sd a1, 0(a0); ld t3, 0(a0); ecall — under Bare, where with tagging on every page
        // is a tagged-data page (Zimt §"Tag checks on page basis").
        let mem = machine(&[0x00b53023, 0x00053e03, 0x00000073]);
        let on = (0b11 << 32) | (0b10 << 34);
        for (senvcfg, mode, fast, checks) in [
            (0, TagCheckMode::Sync, true, 0),
            (on, TagCheckMode::Sync, false, 2),
            (on, TagCheckMode::Async, false, 2),
            (on, TagCheckMode::None, true, 0),
        ] {
            let mut h = hart(&mem, D);
            h.set_senvcfg(senvcfg);
            h.set_tag_check_mode(mode);
            assert_eq!(h.run(10), Exit::Ecall);
            assert_eq!(h.x[28], A1);
            assert_eq!(h.fast_read(D).is_some(), fast, "{senvcfg:#x} {mode:?}");
            assert_eq!(h.fast_write(D).is_some(), fast, "{senvcfg:#x} {mode:?}");
            assert_eq!(h.stats().tags.checks, checks);
        }
    }

    #[test]
    fn the_cached_tag_storage_sees_every_tag_change_and_charges_as_the_slow_check() {
        use crate::hart::TagCheckMode;
        // ld t3, 0(a0) three times; ecall — a pointer tagged 5 to a granule tagged 5.
        let mem = machine(&[0x00053e03, 0x00053e03, 0x00053e03, 0x00000073]);
        mem.write_u64(GuestPhysAddr(D + 8), A1).unwrap();
        mem.tags().store_tag(GuestPhysAddr(D), 5).unwrap();
        let ptr = (5 << 60) | (D + 8);
        let run = |tag_now: u8| {
            mem.tags().store_tag(GuestPhysAddr(D), tag_now).unwrap();
            let mut h = hart(&mem, ptr);
            h.set_senvcfg((0b11 << 32) | (0b10 << 34));
            h.set_tag_check_mode(TagCheckMode::Sync);
            let exit = h.run(10);
            (exit, h.x[28], h.stats().tags, h.stats().cycles)
        };
        // The first load checks through data_pages, the second fills the tag storage
        // beside its host-pointer entry, the third uses it: three checks.
        let (exit, v, tags, cycles) = run(5);
        assert_eq!(
            (exit, v, tags.checks, tags.sync_mismatches),
            (Exit::Ecall, A1, 3, 0)
        );
        // The same program with its granule retagged between the runs mismatches at once,
        // at the exact tagged address, and a retag seen through the kept storage works
        // the same: a hart that kept it reads the tag memory itself, never a copy.
        let (exit, _, tags, _) = run(6);
        assert_eq!(
            exit,
            Exit::TagCheckFault {
                va: GuestVirtAddr(ptr),
                access: AccessType::Load
            }
        );
        assert_eq!((tags.checks, tags.sync_mismatches), (1, 1));
        let mut h = hart(&mem, ptr);
        h.set_senvcfg((0b11 << 32) | (0b10 << 34));
        h.set_tag_check_mode(TagCheckMode::Sync);
        mem.tags().store_tag(GuestPhysAddr(D), 5).unwrap();
        // Two loads (the storage is kept after the second), then a retag to 7: the
        // third load faults through the kept storage.
        assert_eq!(h.run(2), Exit::BudgetExhausted);
        mem.tags().store_tag(GuestPhysAddr(D), 7).unwrap();
        assert!(matches!(h.run(10), Exit::TagCheckFault { .. }));
        assert_eq!(h.stats().tags.checks, 3);
        // Modelled cycles: every check costs tag_load whichever path made it.
        let untagged_cycles = {
            let mut h = hart(&mem, D + 8);
            assert_eq!(h.run(10), Exit::Ecall);
            h.stats().cycles
        };
        assert_eq!(cycles, untagged_cycles + 3 * u64::from(h.cost.tag_load));
    }

    #[test]
    fn the_masked_inline_check_counts_charges_and_faults_as_the_slow_path() {
        use crate::hart::TagCheckMode;
        // a0 = a pointer tagged 5 to D + 8, whose granule (and the next) hold tag 5;
        // sp tagged 9 to a granule of tag 0; a3 = a0 + 0x800.
        let mem = machine(&[
            0x00053e03, // ld t3, 0(a0)    fills the entry (slow path)
            0x00452e83, // lw t4, 4(a0)    checked inline
            0x00153f03, // ld t5, 1(a0)    two granules: slow path, both checked
            0x00b53023, // sd a1, 0(a0)    checked inline
            0x00013f83, // ld t6, 0(sp)    sp-based: exempt, unchecked (slow path)
            0x0106be03, // ld t3, 16(a3)   a granule of tag 0: the fault, via the slow path
            0x00000073, // ecall
        ]);
        mem.write_u64(GuestPhysAddr(D + 8), A2).unwrap();
        mem.write_u64(GuestPhysAddr(D + 16), A2).unwrap();
        mem.tags().set_tags(GuestPhysAddr(D), 32, 5).unwrap();
        let ptr = (5 << 60) | (D + 8);
        let run = |masked: bool| {
            let mut h = hart(&mem, ptr);
            h.x[2] = (9 << 60) | (D + 0x100);
            h.set_senvcfg((0b11 << 32) | (0b10 << 34));
            h.set_tag_check_mode(TagCheckMode::Sync);
            let exit = h.run_loop(100, masked);
            (exit, h.x, h.pc, h.stats(), h.zimt.fast_checks)
        };
        let (exit, x, pc, stats, fast) = run(true);
        assert_eq!(
            exit,
            Exit::TagCheckFault {
                va: GuestVirtAddr((5 << 60) | (D + 0x818)),
                access: AccessType::Load
            }
        );
        assert_eq!(pc, RAM + 4 * 5);
        let lw = (A2 >> 32) as u32 as i32 as i64 as u64;
        // ld t5 reads bytes 9..16 of A2 at D + 8 and the low byte of A2 at D + 16.
        assert_eq!((x[28], x[29], x[30]), (A2, lw, A2.rotate_right(8)));
        assert_eq!(mem.read_u64(GuestPhysAddr(D + 8)).unwrap(), A1);
        assert_eq!(fast, 2, "lw and sd were checked inline");
        assert_eq!((stats.tags.checks, stats.tags.sync_mismatches), (5, 1));
        // The unmasked loop takes the slow path for every tagged pointer: the same exit,
        // registers, counters and modelled cycles.
        mem.write_u64(GuestPhysAddr(D + 8), A2).unwrap();
        let (exit_u, x_u, pc_u, stats_u, fast_u) = run(false);
        assert_eq!((exit_u, x_u, pc_u, stats_u), (exit, x, pc, stats));
        assert_eq!(fast_u, 0);
        let cycles_csr = {
            let mut h = hart(&mem, ptr);
            h.set_senvcfg((0b11 << 32) | (0b10 << 34));
            h.zimt.fast_checks = 3;
            h.modelled_cycles()
        };
        assert_eq!(
            cycles_csr,
            3 * u64::from(HartConfig::default().cost.tag_load)
        );
    }

    #[test]
    fn masked_pointers_take_the_slow_path_and_never_enter_the_fast_cache() {
        // sd a1, 0(a0); ld t3, 0(a0); ecall, with a0 a pointer tagged 0xab in bits 63:56.
        let mem = machine(&[0x00b53023, 0x00053e03, 0x00000073]);
        let ptr = 0xab00_0000_0000_0000 | D;
        let mut h = hart(&mem, ptr);
        h.set_senvcfg(0b11 << 32);
        assert_eq!(h.run(10), Exit::Ecall);
        assert_eq!((h.x[28], mem.read_u64(GuestPhysAddr(D)).unwrap()), (A1, A1));
        assert!(h.fast_read(ptr).is_none() && h.fast_write(ptr).is_none());
        assert!(h.fast_read(D).is_some(), "the masked address was cached");
        // Masking off again drops the cache; the tagged pointer is then an access fault
        // (under Bare, beyond any physical address).
        h.set_senvcfg(0);
        assert!(h.fast_read(D).is_none());
        h.pc = RAM;
        assert!(matches!(h.run(10), Exit::AccessFault { .. }));
    }

    #[test]
    fn misaligned_amo_traps_in_the_seam_with_nothing_changed() {
        let mem = machine(&[0x00b52faf]); // amoadd.w t6, a1, (a0)
        let mut h = hart(&mem, D + 2);
        assert_eq!(
            h.run(10),
            Exit::Misaligned {
                va: GuestVirtAddr(D + 2),
                access: AccessType::Store
            }
        );
        assert_eq!(h.seam_log, [op(D + 2, 4, MemOpKind::Amo(AmoOp::Add, A1))]);
        assert_eq!((h.pc, h.x[31], h.stats().instret), (RAM, 0, 0));
        assert_eq!(mem.read_u64(GuestPhysAddr(D)).unwrap(), 0);
    }

    #[test]
    fn split_store_faulting_on_its_second_page_writes_nothing() {
        let last = RAM + RAM_BYTES - 4;
        let mem = machine(&[0x00b53023]); // sd a1, 0(a0)
        let mut h = hart(&mem, last);
        assert_eq!(
            h.run(10),
            Exit::AccessFault {
                va: GuestVirtAddr(RAM + RAM_BYTES),
                access: AccessType::Store
            }
        );
        assert_eq!(h.seam_log, [MemOp::store(last, 8, A1)]);
        assert_eq!(mem.read_u32(GuestPhysAddr(last)).unwrap(), 0);
        assert_eq!((h.pc, h.stats().instret), (RAM, 0));
    }
}
