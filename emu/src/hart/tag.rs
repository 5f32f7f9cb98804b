//! Memory tagging (Zimt v0.1) and pointer masking (Ssnpm) of the hart: the `senvcfg`
//! fields that enable them, the pointer-masking transformation, the tag check of a data
//! access, and the Zimt instructions. The rules, the encoding table and the departures
//! from the draft are in the [`crate::hart`] module docs, "Memory tagging (Zimt)".

use devices::{GuestPhysAddr, TAG_GRANULE_BYTES, TAG_MASK};
use mmu::{AccessType, GuestVirtAddr, SatpMode};

use super::mem::{DataPages, MemOp, CHECKED_KEY};
use super::{Hart, Step};
use crate::exit::Exit;
use crate::inst::{Inst, Op};

/// `senvcfg.PMM` (Ssnpm, bits 33:32): pointer masking for U-mode.
pub const SENVCFG_PMM_SHIFT: u32 = 32;
/// `senvcfg.MT_MODE` (Zimt v0.1, bits 35:34): memory tagging for U-mode.
pub const SENVCFG_MT_MODE_SHIFT: u32 = 34;
/// `PMM` = 0b10: PMLEN = 7.
const PMM_PMLEN7: u64 = 0b10;
/// `PMM` = 0b11: PMLEN = 16.
const PMM_PMLEN16: u64 = 0b11;
/// `MT_MODE` = 0b10: tagging enabled with `pointer_tag_width` = 4 (the only width built).
const MT_MODE_TAG4: u64 = 0b10;
/// Bit position of the 4-bit pointer tag (Zimt: "in masked bits starting at b63").
const POINTER_TAG_SHIFT: u32 = 60;
/// The pointer-tag field of an address.
const POINTER_TAG_FIELD: u64 = (TAG_MASK as u64) << POINTER_TAG_SHIFT;

/// What a tag mismatch of a checked load or store does — the hardware half of arm64's
/// `SCTLR_EL1.TCF0`, which Linux's `PR_MTE_TCF_*` set per thread. Zimt v0.1 has only
/// [`TagCheckMode::Sync`] (its default here); the other two are arm64's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagCheckMode {
    /// No check (`PR_MTE_TCF_NONE`): the instructions still work, accesses never fault.
    None,
    /// A mismatch raises [`Exit::TagCheckFault`] and the access is not performed
    /// (Zimt's only behaviour; `PR_MTE_TCF_SYNC`).
    #[default]
    Sync,
    /// A mismatch sets a sticky per-hart flag and the access is performed
    /// (`PR_MTE_TCF_ASYNC`, arm64's `TFSRE0_EL1.TF0`; Zimt dropped this mode); the OS
    /// reads and clears it with [`Hart::take_async_tag_fault`] at every kernel entry.
    Async,
}

/// What the tagging hardware of one hart did. Counts are events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagCounters {
    /// Tag checks performed: checked loads, stores, LR/SC and AMOs, and `checktag`s (each
    /// one tag-memory load, `CostModel::tag_load`).
    pub checks: u64,
    /// Mismatches that raised [`Exit::TagCheckFault`].
    pub sync_mismatches: u64,
    /// Mismatches recorded in the asynchronous flag (access performed).
    pub async_mismatches: u64,
    /// Granule tags written by `settag`.
    pub settag_granules: u64,
}

impl TagCounters {
    /// Adds `other` into `self` (for totals over harts).
    pub fn accumulate(&mut self, other: &TagCounters) {
        self.checks += other.checks;
        self.sync_mismatches += other.sync_mismatches;
        self.async_mismatches += other.async_mismatches;
        self.settag_granules += other.settag_granules;
    }
}

/// What Zimt makes of the page an access goes to (§"Tag checks on page basis").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageTag {
    /// Tagging off, or a PTE without `MTAG`: unchecked; tag reads give 0, tag writes are
    /// dropped (arm64's Untagged memory).
    Untagged,
    /// `MTAG` with X=0, or any page under `satp` Bare with tagging on: checked.
    TaggedData,
    /// `MTAG` with X=1 ("tagcheck-exempt code page"): instructions fetched from it make
    /// unchecked accesses; as data it has tags but is not checked.
    ExemptCode,
}

/// The part of a tag access's granules on one page.
#[derive(Debug, Clone, Copy)]
struct TagSpan {
    /// Guest-physical address of the first granule.
    pa: GuestPhysAddr,
    /// Bytes covered (a multiple of 16).
    bytes: u64,
    /// What Zimt makes of the page.
    page: PageTag,
}

/// The Zimt and Ssnpm state of a hart.
#[derive(Debug, Clone)]
pub(super) struct Zimt {
    /// `senvcfg` as read back: only `PMM` and `MT_MODE` are implemented.
    senvcfg: u64,
    /// PMLEN: 0 (masking off), 7 or 16. Read by every slow-path data access.
    pub(super) pmlen: u32,
    /// `u64::MAX >> pmlen`: the bits of an effective address that pointer masking keeps,
    /// for the masked inline path's look-up (`mem.rs`).
    pub(super) va_mask: u64,
    /// `MT_MODE` = 0b10 and `PMM` ≠ 0: tagging is enabled for U-mode.
    pub(super) enabled: bool,
    /// What a mismatch does.
    pub(super) check: TagCheckMode,
    /// Tags `gentag` never returns, one bit per tag (arm64's `GCR_EL1.Exclude`).
    exclude: u16,
    /// `gentag`'s generator state (xorshift64*, never 0).
    rng: u64,
    /// The sticky asynchronous-mismatch flag (arm64's `TFSRE0_EL1.TF0`).
    async_fault: bool,
    /// `key ^ vpn` of a host-pointer entry with a checked key ([`CHECKED_KEY`]) for the
    /// VPN: what the masked inline path compares; 0 — which that path's plain compare has
    /// already ruled out, so it never matches — while the current fetch page is a
    /// tagcheck-exempt code page (see [`Zimt::fetch_exempt`]).
    pub(super) checked_xor: u64,
    pub(super) counters: TagCounters,
    /// Checked accesses the masked inline path performed (`mem.rs`): each a TLB hit, a tag
    /// check and its `tag_load` modelled cycles, counted here with one increment and
    /// reported in all three by [`Hart::stats`] and [`Hart::modelled_cycles`].
    pub(super) fast_checks: u64,
}

impl Zimt {
    /// Tagging and masking off, `gentag` seeded from the hart id.
    pub(super) fn new(hart_id: usize) -> Self {
        Self {
            senvcfg: 0,
            pmlen: 0,
            va_mask: u64::MAX,
            enabled: false,
            check: TagCheckMode::Sync,
            exclude: 0,
            rng: seed(hart_id as u64),
            async_fault: false,
            checked_xor: CHECKED_KEY,
            counters: TagCounters::default(),
            fast_checks: 0,
        }
    }

    /// The current fetch page is a tagcheck-exempt code page: its instructions' accesses
    /// are unchecked.
    #[inline]
    pub(super) fn fetch_exempt(&self) -> bool {
        self.checked_xor == 0
    }

    /// Records whether the current fetch page is a tagcheck-exempt code page.
    #[inline]
    pub(super) fn set_fetch_exempt(&mut self, exempt: bool) {
        self.checked_xor = if exempt { 0 } else { CHECKED_KEY };
    }

    /// Checks run: tagging enabled and a mode that checks.
    #[inline]
    pub(super) fn checks_active(&self) -> bool {
        self.enabled && self.check != TagCheckMode::None
    }

    /// The next `gentag` tag: uniform over the tags not in `exclude` (0 if all are).
    fn next_tag(&mut self) -> u8 {
        let allowed = !self.exclude;
        let n = allowed.count_ones();
        if n == 0 {
            return 0;
        }
        // xorshift64* (Vigna): full period over non-zero states.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        let mut k = (r % u64::from(n)) as u32;
        (0..16u8)
            .find(|t| {
                if allowed & (1 << t) == 0 {
                    return false;
                }
                let hit = k == 0;
                k = k.wrapping_sub(1);
                hit
            })
            .unwrap_or(0)
    }
}

/// A non-zero generator state from `s`.
fn seed(s: u64) -> u64 {
    (s ^ 0x9e37_79b9_7f4a_7c15).max(1)
}

/// The 4-bit pointer tag of an effective address (bits 63:60).
#[inline]
pub(super) fn pointer_tag(ptr: u64) -> u8 {
    (ptr >> POINTER_TAG_SHIFT) as u8 & TAG_MASK
}

impl<'m> Hart<'m> {
    /// `senvcfg` as it reads back (WARL): `PMM` (bits 33:32) and `MT_MODE` (bits 35:34);
    /// every other field reads 0 (not implemented).
    pub fn senvcfg(&self) -> u64 {
        self.zimt.senvcfg
    }

    /// Writes `senvcfg`, the way the OS configures U-mode (the hart runs only U-mode, so
    /// this is the S-mode `csrw senvcfg`):
    /// - `PMM` (Ssnpm): 0b00 off, 0b10 PMLEN = 7, 0b11 PMLEN = 16; the reserved 0b01 is
    ///   written as 0b00. The pointer-masking transformation applies to U-mode loads,
    ///   stores, LR/SC, AMOs and the Zimt instructions' addresses, never to fetch.
    /// - `MT_MODE` (Zimt v0.1 §"CSR bits for memory tagging"): 0b00 off, 0b10 on with
    ///   4-bit tags; 0b11 (7-bit tags) is not implemented and reads back 0b10, the
    ///   discovery the draft describes; 0b01 (reserved) is written as 0b00. Tagging takes
    ///   effect only while `PMM` ≠ 0 ("Pointer masking has to be enabled as a requirement
    ///   for memory tagging").
    ///
    /// Pointer masking needs no `sfence.vma` (Ssnpm, "Interaction with SFENCE.VMA"); for
    /// `MT_MODE`, as for `menvcfg.PBMTE`, translations cached before the write may keep
    /// their old reading of `PTE.MTAG` until the OS fences them.
    pub fn set_senvcfg(&mut self, value: u64) {
        let pmm = match (value >> SENVCFG_PMM_SHIFT) & 3 {
            p @ (PMM_PMLEN7 | PMM_PMLEN16) => p,
            _ => 0,
        };
        let mt = if (value >> SENVCFG_MT_MODE_SHIFT) & MT_MODE_TAG4 != 0 {
            MT_MODE_TAG4
        } else {
            0
        };
        let z = &mut self.zimt;
        z.senvcfg = (pmm << SENVCFG_PMM_SHIFT) | (mt << SENVCFG_MT_MODE_SHIFT);
        let pmlen = match pmm {
            PMM_PMLEN7 => 7,
            PMM_PMLEN16 => 16,
            _ => 0,
        };
        let enabled = mt == MT_MODE_TAG4 && pmm != 0;
        if (pmlen, enabled) != (z.pmlen, z.enabled) {
            z.pmlen = pmlen;
            z.va_mask = u64::MAX >> pmlen;
            z.enabled = enabled;
            self.ctx.mtag = enabled;
            // The host-pointer cache holds only addresses the current masking leaves
            // unchanged (see `mem.rs`), and which pages it may hold and the fetch page's
            // exemption depend on tagging.
            self.flush_fast();
        }
    }

    /// What a mismatch does (see [`TagCheckMode`]).
    pub fn tag_check_mode(&self) -> TagCheckMode {
        self.zimt.check
    }

    /// Sets what a mismatch does: the OS's per-thread `PR_MTE_TCF_*`, switched with the
    /// thread as arm64 switches `SCTLR_EL1.TCF0`.
    pub fn set_tag_check_mode(&mut self, mode: TagCheckMode) {
        if mode != self.zimt.check {
            self.zimt.check = mode;
            self.flush_fast();
        }
    }

    /// The tags `gentag` excludes, bit `t` for tag `t`.
    pub fn gentag_exclude(&self) -> u16 {
        self.zimt.exclude
    }

    /// Sets the tags `gentag` must not return — arm64's `GCR_EL1.Exclude`, which Linux
    /// sets to the complement of the thread's `PR_MTE_TAG_MASK` include mask. Excluding
    /// all 16 makes `gentag` return tag 0, as arm64's `IRG` does.
    pub fn set_gentag_exclude(&mut self, exclude: u16) {
        self.zimt.exclude = exclude;
    }

    /// Re-seeds `gentag`'s generator (arm64's `RGSR_EL1`, which Linux seeds per thread);
    /// the same seed gives the same tags.
    pub fn set_gentag_seed(&mut self, seed_value: u64) {
        self.zimt.rng = seed(seed_value);
    }

    /// Whether an asynchronous tag mismatch is pending (arm64's `TFSRE0_EL1.TF0`).
    pub fn async_tag_fault_pending(&self) -> bool {
        self.zimt.async_fault
    }

    /// Reads and clears the asynchronous-mismatch flag: the OS calls this at each kernel
    /// entry and on a context switch (arm64's `mte_check_tfsr_entry()` /
    /// `mte_thread_switch()`) and raises `SIGSEGV`/`SEGV_MTEAERR` when it was set.
    pub fn take_async_tag_fault(&mut self) -> bool {
        std::mem::take(&mut self.zimt.async_fault)
    }

    /// Ssnpm's "ignore" transformation of a U-mode effective address under PMLEN: the top
    /// PMLEN bits become the sign extension of bit 63−PMLEN for a virtual address, zeros
    /// under `satp` Bare (a physical address). The identity with masking off.
    #[inline(always)]
    pub(super) fn pointer_mask(&self, ea: u64) -> u64 {
        let s = self.zimt.pmlen;
        if self.mode == SatpMode::Bare {
            (ea << s) >> s
        } else {
            (((ea << s) as i64) >> s) as u64
        }
    }

    /// What Zimt makes of a page whose leaf PTE has `mtag` and, for the leaf, `x`
    /// (`None` under `satp` Bare).
    #[inline]
    pub(super) fn page_tag(&self, leaf: Option<(bool, bool)>) -> PageTag {
        match leaf {
            _ if !self.zimt.enabled => PageTag::Untagged,
            None => PageTag::TaggedData,
            Some((true, false)) => PageTag::TaggedData,
            Some((true, true)) => PageTag::ExemptCode,
            Some((false, _)) => PageTag::Untagged,
        }
    }

    /// The tag check of the access `op` to `pages` (resolved, nothing performed yet):
    /// called by `data_pages` when checks are active, a page is a tagged-data page, the
    /// base register is not `sp` and the instruction's page is not exempt. One tag-memory
    /// load; every granule the access touches must hold the pointer tag.
    ///
    /// # Errors
    /// [`Exit::TagCheckFault`] in [`TagCheckMode::Sync`] on a mismatch.
    #[inline(never)]
    pub(super) fn check_access_tags(&mut self, op: &MemOp, pages: &DataPages<'m>) -> Step {
        let tag = pointer_tag(op.ptr);
        self.zimt.counters.checks += 1;
        self.cycles += u64::from(self.cost.tag_load);
        let size = u64::from(op.size);
        let start = pages.pa(op);
        let tags = self.mem.tags();
        let fault = || Exit::AccessFault {
            va: GuestVirtAddr(op.va),
            access: op.kind.access_type(),
        };
        // The common case, an access inside one granule: one tag.
        if pages.split.is_none() && start.raw() % TAG_GRANULE_BYTES + size <= TAG_GRANULE_BYTES {
            if tags.load_tag(start).map_err(|_| fault())? == tag {
                return Ok(());
            }
            return self.tag_mismatch(op.ptr, op.kind.access_type());
        }
        let (first_len, next) = match pages.split {
            Some((n, p)) => (n as u64, Some(p)),
            None => (size, None),
        };
        let mut bad = tags
            .first_mismatch(start, first_len, tag)
            .map_err(|_| fault())?
            .map(|g| g.raw().max(start.raw()) - start.raw());
        if let (None, Some(p)) = (bad, next) {
            bad = tags
                .first_mismatch(p.pa(), size - first_len, tag)
                .map_err(|_| fault())?
                .map(|g| first_len + (g.raw() - p.pa().raw()));
        }
        let Some(offset) = bad else { return Ok(()) };
        self.tag_mismatch(op.ptr.wrapping_add(offset), op.kind.access_type())
    }

    /// A mismatch at the tagged address `ptr`, as the check mode says.
    fn tag_mismatch(&mut self, ptr: u64, access: AccessType) -> Step {
        match self.zimt.check {
            TagCheckMode::Async => {
                self.zimt.counters.async_mismatches += 1;
                self.zimt.async_fault = true;
                Ok(())
            }
            TagCheckMode::Sync | TagCheckMode::None => {
                self.zimt.counters.sync_mismatches += 1;
                Err(Exit::TagCheckFault {
                    va: GuestVirtAddr(ptr),
                    access,
                })
            }
        }
    }

    /// Resolves the granules `[va, va + granules × 16)` (`va` granule-aligned, after
    /// pointer masking; at most 16 granules, so at most two pages) for a tag access:
    /// one span per page, in address order, all translated before any tag moves.
    fn tag_pages(
        &mut self,
        va: u64,
        granules: u64,
        access: AccessType,
    ) -> Result<[Option<TagSpan>; 2], Exit> {
        let len = granules * TAG_GRANULE_BYTES;
        let in_first = (0x1000 - (va & 0xfff)).min(len);
        let (p, page) = self.translate_page(va, access)?;
        let first = TagSpan {
            pa: GuestPhysAddr(p.pa().raw() | (va & 0xfff)),
            bytes: in_first,
            page,
        };
        let second = if in_first < len {
            let (p, page) = self.translate_page(va.wrapping_add(in_first), access)?;
            Some(TagSpan {
                pa: p.pa(),
                bytes: len - in_first,
                page,
            })
        } else {
            None
        };
        Ok([Some(first), second])
    }

    /// Executes a Zimt instruction, or `loadtag`. Returns `false` when tagging is off and
    /// the instruction behaved as the Zimop MOP it overlays (`rd` ← 0; nothing else).
    ///
    /// # Errors
    /// `loadtag` with tagging off is an illegal instruction; `settag`, `checktag` and
    /// `loadtag` raise the page or access faults of their tag accesses (`settag` as a
    /// store, the others as loads) and `checktag` [`Exit::TagCheckFault`] on a mismatch.
    pub(super) fn exec_zimt(&mut self, i: &Inst) -> Result<bool, Exit> {
        if !self.zimt.enabled {
            if i.op == Op::Loadtag {
                return Err(self.illegal(i));
            }
            self.wx(i.rd, 0);
            return Ok(false);
        }
        let rs1 = self.rx(i.rs1);
        let imm = i.imm as u64 & u64::from(TAG_MASK);
        match i.op {
            Op::Gentag => {
                let t = self.zimt.next_tag();
                self.wx(i.rd, u64::from(t) << POINTER_TAG_SHIFT);
            }
            Op::Addtag => {
                let t = (u64::from(pointer_tag(rs1)) + imm) & u64::from(TAG_MASK);
                self.wx(i.rd, (rs1 & !POINTER_TAG_FIELD) | (t << POINTER_TAG_SHIFT));
            }
            Op::Settag => {
                let tag = pointer_tag(rs1);
                let va = self.pointer_mask(rs1) & !(TAG_GRANULE_BYTES - 1);
                for span in self
                    .tag_pages(va, imm + 1, AccessType::Store)?
                    .into_iter()
                    .flatten()
                {
                    if span.page != PageTag::Untagged {
                        self.mem
                            .tags()
                            .set_tags(span.pa, span.bytes, tag)
                            .map_err(|_| Exit::AccessFault {
                                va: GuestVirtAddr(va),
                                access: AccessType::Store,
                            })?;
                        self.zimt.counters.settag_granules += span.bytes / TAG_GRANULE_BYTES;
                    }
                }
            }
            Op::Checktag => {
                let tag = pointer_tag(rs1);
                let va = self.pointer_mask(rs1);
                let base = va & !(TAG_GRANULE_BYTES - 1);
                self.zimt.counters.checks += 1;
                let mut offset = 0;
                for span in self
                    .tag_pages(base, imm + 1, AccessType::Load)?
                    .into_iter()
                    .flatten()
                {
                    for g in 0..span.bytes / TAG_GRANULE_BYTES {
                        let gpa = GuestPhysAddr(span.pa.raw() + g * TAG_GRANULE_BYTES);
                        if self.granule_tag(gpa, span.page, va)? != tag {
                            let byte = (base + offset + g * TAG_GRANULE_BYTES).max(va);
                            self.zimt.counters.sync_mismatches += 1;
                            return Err(Exit::TagCheckFault {
                                va: GuestVirtAddr(rs1.wrapping_add(byte - va)),
                                access: AccessType::Load,
                            });
                        }
                    }
                    offset += span.bytes;
                }
            }
            _ => {
                // Loadtag.
                let va = self.pointer_mask(rs1) & !(TAG_GRANULE_BYTES - 1);
                let [first, _] = self.tag_pages(va, 1, AccessType::Load)?;
                let t = match first {
                    Some(span) => self.granule_tag(span.pa, span.page, va)?,
                    None => 0,
                };
                self.wx(i.rd, u64::from(t));
            }
        }
        Ok(true)
    }

    /// The tag of the granule at `pa` on a page tagged `pt` as tag reads see it: 0 on an
    /// untagged page.
    fn granule_tag(&self, pa: GuestPhysAddr, pt: PageTag, va: u64) -> Result<u8, Exit> {
        if pt == PageTag::Untagged {
            return Ok(0);
        }
        self.mem.tags().load_tag(pa).map_err(|_| Exit::AccessFault {
            va: GuestVirtAddr(va),
            access: AccessType::Load,
        })
    }
}
