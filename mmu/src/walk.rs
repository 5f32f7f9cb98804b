//! The hardware page-table walker, step by step as the RISC-V Privileged Architecture,
//! §"Virtual Address Translation Process" (the Sv32 section, which Sv39 and Sv48 reuse with
//! LEVELS = 3/4 and PTESIZE = 8) describes it, with the Svadu and Svade A/D schemes.
//!
//! Step numbers (*step N*) follow the current (2024+) text of that section:
//!
//! | step | what | here |
//! |------|------|------|
//! | 1 | `a = satp.ppn × PAGESIZE`, `i = LEVELS − 1` | [`walk`] |
//! | 2 | load the PTE at `a + va.vpn[i] × PTESIZE`; PMA failure → access fault | acquire load |
//! | 3 | `V=0`, `W=1 ∧ R=0`, or a reserved bit/encoding → page fault | reserved bits 60:54 (but `MTAG`, bit 58, on a leaf when [`PrivCtx::mtag`]), N (Svnapot is not implemented), PBMT=3 (Svpbmt), and on non-leaf PTEs D/A/U, PBMT≠0 and `MTAG` |
//! | 4 | not a leaf: `i −= 1`, `i < 0` → page fault, else descend | |
//! | 5 | misaligned superpage → page fault | |
//! | 6 | U bit against privilege, SUM → page fault | [`check_leaf_permission`] |
//! | 7 | shadow-stack rules (Zicfiss) | not implemented: no SS pages exist |
//! | 8 | R/W/X against the access, MXR → page fault | [`check_leaf_permission`] |
//! | 9 | A=0, or a store and D=0: Svade → page fault; else compare-and-swap A (and D) into the PTE, returning to step 2 if the PTE changed | [`AdScheme`] |
//! | 10 | success: `pa = pte.ppn[LEVELS−1:i] ‖ va.vpn[i−1:0] ‖ va.pgoff` | [`Translation::pa`] |
//!
//! Steps 5, 6 and 8 all raise the same page fault, so their order is not observable; the
//! code keeps the spec's order anyway.
//!
//! Global mappings: the spec says a G bit on a non-leaf PTE makes every mapping below it
//! global. [`Translation`] reports only the leaf PTE, so the TLB treats a mapping as global
//! only when the leaf's own G is set. The spec allows this: "failing to mark a global mapping
//! as global merely reduces performance" (§Sv32 "Addressing and Memory Protection"), and an
//! `sfence.vma` that flushes an entry it could have kept is an allowed over-fence.

use std::sync::atomic::Ordering;

use devices::{GuestMemory, GuestPhysAddr, PAGE_SIZE};

use crate::addr::GuestVirtAddr;
use crate::counters::MmuCounters;
use crate::mode::{PagingMode, Satp, SatpMode, Sv39, Sv48};
use crate::pte::{Pbmt, Pte, PteFlags};

/// Size of a PTE in bytes (PTESIZE).
const PTESIZE: u64 = 8;

/// Width of an RV64 physical address (44-bit PPN + 12-bit offset).
const PA_BITS: u32 = 56;

/// The kind of the original memory access; it selects which fault is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessType {
    /// Instruction fetch (instruction page fault, cause 12).
    Fetch,
    /// Load or LR (load page fault, cause 13).
    Load,
    /// Store, SC or AMO (store/AMO page fault, cause 15).
    Store,
}

/// The privilege context that *steps 6 and 8* check a leaf against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrivCtx {
    /// The effective privilege is U-mode (otherwise S-mode).
    pub user: bool,
    /// `sstatus.SUM`: S-mode may load/store U pages.
    pub sum: bool,
    /// `sstatus.MXR`: loads from executable pages succeed.
    pub mxr: bool,
    /// Memory tagging (Zimt) is enabled for this access — `senvcfg.MT_MODE` ≠ 0 for a
    /// U-mode access — so a leaf's `PTE.MTAG` ([`Pte::MTAG_BIT`]) is an attribute the walk
    /// returns; otherwise it is a reserved bit and faults (*step 3*).
    pub mtag: bool,
}

impl PrivCtx {
    /// A user-mode access (SUM and MXR irrelevant).
    pub const USER: PrivCtx = PrivCtx {
        user: true,
        sum: false,
        mxr: false,
        mtag: false,
    };
    /// A supervisor access with SUM=1, the way a kernel's `copy_{to,from}_user` runs. The
    /// kernel knows `PTE.MTAG` (it sets it on `PROT_MTE` memory), so a tagged page is
    /// reachable to it whatever the user thread's `senvcfg` says.
    pub const KERNEL_UACCESS: PrivCtx = PrivCtx {
        user: false,
        sum: true,
        mxr: false,
        mtag: true,
    };
}

/// How the A and D bits are maintained (§Sv32 "Addressing and Memory Protection", the two
/// A/D schemes; §"Svadu" Extension: with `menvcfg.ADUE=0` Svade takes effect). All harts of
/// a machine must use the same scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdScheme {
    /// Svadu: the walker sets A (and D on a store) in guest RAM with a compare-and-swap.
    Svadu,
    /// Svade: the walker raises a page fault when A=0, or D=0 on a store; the OS sets them.
    Svade,
}

/// Why a walk failed. Combined with the [`AccessType`] it names the exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkFault {
    /// A page fault (invalid/reserved PTE, permission, misaligned superpage, non-canonical
    /// VA, or A/D clear under Svade).
    PageFault,
    /// An access fault: a PTE address outside guest RAM (the PMA check of step 2).
    AccessFault,
}

/// A successful translation: the leaf PTE that maps the page, and where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Level of the leaf: 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB, 3 = 512 GiB (Sv48).
    pub level: u8,
    /// The leaf PTE's value as the walker left it (A/D included).
    pub pte: Pte,
    /// Guest-physical address of the leaf PTE.
    pub pte_addr: GuestPhysAddr,
}

impl Translation {
    /// The leaf page size in bytes (`4 KiB << 9*level`).
    #[inline]
    pub const fn page_size(&self) -> u64 {
        PAGE_SIZE << (9 * self.level as u32)
    }

    /// The leaf's flags.
    #[inline]
    pub const fn flags(&self) -> PteFlags {
        self.pte.flags()
    }

    /// The physical address of `va` under this translation (*step 10*: offset bits of the
    /// page, and for a superpage the VPN bits below the leaf level, come from `va`; the PPN
    /// bits from the leaf level up come from the PTE).
    #[inline]
    pub const fn pa(&self, va: GuestVirtAddr) -> GuestPhysAddr {
        let mask = self.page_size() - 1;
        GuestPhysAddr(((self.pte.ppn() << 12) & !mask) | (va.0 & mask))
    }
}

/// Whether a leaf with `flags` allows `access` in `ctx`: the U/SUM check of *step 6* and the
/// R/W/X/MXR check of *step 8* (rules in §"Memory Privilege in `sstatus`" and §Sv32
/// "Addressing and Memory Protection"). Shared by the walker and by TLB hits, which re-check
/// cached permissions on every access.
///
/// U-mode needs U=1 (SUM is ignored). S-mode never fetches from a U=1 page, and loads or
/// stores to one only with SUM=1. Fetch needs X; load needs R, or X with MXR=1; store (and
/// AMO) needs W.
#[inline]
pub fn check_leaf_permission(flags: PteFlags, access: AccessType, ctx: PrivCtx) -> bool {
    let u_page = flags.contains(PteFlags::U);
    if ctx.user {
        if !u_page {
            return false;
        }
    } else if u_page && (access == AccessType::Fetch || !ctx.sum) {
        // S-mode never executes from U pages, and touches them only with SUM=1.
        return false;
    }
    match access {
        AccessType::Fetch => flags.contains(PteFlags::X),
        AccessType::Load => flags.contains(PteFlags::R) || (ctx.mxr && flags.contains(PteFlags::X)),
        AccessType::Store => flags.contains(PteFlags::W),
    }
}

/// Translates `va` for `access` through the page table rooted at `satp`, reading and
/// updating PTEs in `mem`.
///
/// Follows *steps 1–10* of the translation process (see the module docs); A/D per `ad`
/// (*step 9*, Svadu/Svade). Under Svadu the A/D update is a compare-and-swap of the whole
/// PTE in guest RAM against the value loaded in step 2; if the PTE changed since, nothing is
/// written and the walker returns to step 2 at the same level and reloads it. A and D are
/// written only on a translation that succeeds, D only for [`AccessType::Store`], and
/// nothing is written when both are already set or under Svade.
///
/// Before step 1, a VA that is not sign-extended from bit VA_BITS−1 raises a page fault
/// (§Sv39/§Sv48 "Addressing and Memory Protection"), without any PTE load.
///
/// For `satp.MODE=Bare` (and an unimplemented MODE, which `satp`'s WARL rule keeps out of
/// the CSR) the translation is the identity with every permission (level 0), except that a
/// VA at or above 2^56, which no RV64 physical address can equal, is an access fault.
///
/// Counts in `counters`: `walks` (once per start at step 1 and once per return to step 2
/// after a failed compare-and-swap), `pte_loads` (successful step-2 loads) and `ad_updates`
/// (successful compare-and-swaps). Page faults are counted by the caller that raises them.
///
/// # Errors
/// [`WalkFault::PageFault`] or [`WalkFault::AccessFault`] as the spec says; the caller maps
/// it with `access` to the exception cause.
pub fn walk(
    mem: &GuestMemory,
    satp: Satp,
    va: GuestVirtAddr,
    access: AccessType,
    ctx: PrivCtx,
    ad: AdScheme,
    counters: &mut MmuCounters,
) -> Result<Translation, WalkFault> {
    walk_in(mem, satp, va, access, ctx, ad, counters)
}

/// Where the walker loads PTEs (*step 2*) and compare-and-swaps A/D into them (*step 9*):
/// guest RAM in the machine; a wrapper that plays another hart's store between the two in
/// the unit tests below, which makes the step-9 re-walk testable without relying on thread
/// timing.
pub(crate) trait PteMemory {
    /// Acquire load of the 8-byte PTE at `pa`; `None` if `pa` is not RAM (access fault).
    fn load_pte(&self, pa: GuestPhysAddr) -> Option<u64>;
    /// Atomic compare-and-swap of the PTE at `pa`: `Some(Ok(current))` if it held `current`
    /// and now holds `new`, `Some(Err(actual))` if it held `actual` (nothing written),
    /// `None` if `pa` is not RAM.
    fn cas_pte(&self, pa: GuestPhysAddr, current: u64, new: u64) -> Option<Result<u64, u64>>;
}

impl PteMemory for GuestMemory {
    #[inline]
    fn load_pte(&self, pa: GuestPhysAddr) -> Option<u64> {
        self.load_u64(pa, Ordering::Acquire).ok()
    }

    #[inline]
    fn cas_pte(&self, pa: GuestPhysAddr, current: u64, new: u64) -> Option<Result<u64, u64>> {
        self.compare_exchange_u64(pa, current, new).ok()
    }
}

/// [`walk`] over any [`PteMemory`].
fn walk_in<P: PteMemory>(
    mem: &P,
    satp: Satp,
    va: GuestVirtAddr,
    access: AccessType,
    ctx: PrivCtx,
    ad: AdScheme,
    counters: &mut MmuCounters,
) -> Result<Translation, WalkFault> {
    match satp.mode() {
        Some(SatpMode::Sv39) => walk_mode::<Sv39, P>(mem, satp, va, access, ctx, ad, counters),
        Some(SatpMode::Sv48) => walk_mode::<Sv48, P>(mem, satp, va, access, ctx, ad, counters),
        Some(SatpMode::Bare) | None if va.0 >> PA_BITS != 0 => Err(WalkFault::AccessFault),
        Some(SatpMode::Bare) | None => Ok(Translation {
            level: 0,
            pte: Pte::new(
                va.0 >> 12,
                PteFlags::V
                    | PteFlags::R
                    | PteFlags::W
                    | PteFlags::X
                    | PteFlags::U
                    | PteFlags::A
                    | PteFlags::D,
            ),
            pte_addr: GuestPhysAddr(0),
        }),
    }
}

fn walk_mode<M: PagingMode, P: PteMemory>(
    mem: &P,
    satp: Satp,
    va: GuestVirtAddr,
    access: AccessType,
    ctx: PrivCtx,
    ad: AdScheme,
    counters: &mut MmuCounters,
) -> Result<Translation, WalkFault> {
    counters.walks += 1;
    // Sv39/Sv48: "instruction fetch addresses and load and store effective addresses, which
    // are 64 bits, must have bits 63–VA_BITS all equal to bit VA_BITS-1, or else a page-fault
    // exception will occur."
    if !va.is_canonical(M::VA_BITS) {
        return Err(WalkFault::PageFault);
    }
    // Step 1: a = satp.ppn × PAGESIZE, i = LEVELS − 1.
    let mut a = satp.root_ppn() * PAGE_SIZE;
    let mut i = M::LEVELS - 1;
    loop {
        // Step 2: pte = value at a + va.vpn[i] × PTESIZE (PMA check → access fault).
        let vpn_i = (va.0 >> (12 + 9 * i)) & 0x1ff;
        let pte_addr = GuestPhysAddr(a + vpn_i * PTESIZE);
        let pte = Pte(mem.load_pte(pte_addr).ok_or(WalkFault::AccessFault)?);
        counters.pte_loads += 1;
        let f = pte.flags();

        // Step 3: invalid, W without R, or reserved bits/encodings set → page fault.
        if !pte.is_valid() || (!f.contains(PteFlags::R) && f.contains(PteFlags::W)) {
            return Err(WalkFault::PageFault);
        }
        // Bits 58:54 are reserved, except Zimt's MTAG on a leaf when tagging is enabled
        // (checked below, once the PTE is known to be a leaf); 60:59 are software bits
        // (Svrsw60t59b: ignored); N is reserved (Svnapot is not implemented); PBMT=3 is
        // reserved (Svpbmt).
        let reserved = Pte::RESERVED_MASK & !Pte::MTAG_BIT & !Pte::SVRSW60T59B_MASK;
        if pte.0 & reserved != 0 || pte.n() || pte.pbmt() == Pbmt::Reserved {
            return Err(WalkFault::PageFault);
        }
        if pte.mtag() && !(ctx.mtag && pte.is_leaf()) {
            return Err(WalkFault::PageFault);
        }

        // Step 4: not a leaf → next level.
        if !pte.is_leaf() {
            // Step 3 for pointers: "For non-leaf PTEs, the D, A, and U bits are reserved"
            // (§Sv32) and "For non-leaf PTEs, bits 62-61 are reserved" (Svpbmt).
            if f.intersects(PteFlags::D | PteFlags::A | PteFlags::U) || pte.pbmt() != Pbmt::Pma {
                return Err(WalkFault::PageFault);
            }
            if i == 0 {
                return Err(WalkFault::PageFault);
            }
            i -= 1;
            a = pte.ppn() * PAGE_SIZE;
            continue;
        }

        // Step 5: a leaf above level 0 must have pte.ppn[i-1:0] = 0 (misaligned superpage).
        if i > 0 && pte.ppn() & ((1u64 << (9 * i)) - 1) != 0 {
            return Err(WalkFault::PageFault);
        }

        // Steps 6 and 8: U/SUM, then R/W/X/MXR.
        if !check_leaf_permission(f, access, ctx) {
            return Err(WalkFault::PageFault);
        }

        // Step 9: A/D.
        let need_d = access == AccessType::Store;
        if !f.contains(PteFlags::A) || (need_d && !f.contains(PteFlags::D)) {
            match ad {
                AdScheme::Svade => return Err(WalkFault::PageFault),
                AdScheme::Svadu => {
                    let mut new = pte.with(PteFlags::A);
                    if need_d {
                        new = new.with(PteFlags::D);
                    }
                    match mem.cas_pte(pte_addr, pte.0, new.0) {
                        Some(Ok(_)) => {
                            counters.ad_updates += 1;
                            return Ok(Translation {
                                level: i as u8,
                                pte: new,
                                pte_addr,
                            });
                        }
                        // The PTE changed since step 2: write nothing and return to step 2
                        // at the same level (same a and i), which reloads it.
                        Some(Err(_)) => {
                            counters.walks += 1;
                            continue;
                        }
                        None => return Err(WalkFault::AccessFault),
                    }
                }
            }
        }

        // Step 10: success.
        return Ok(Translation {
            level: i as u8,
            pte,
            pte_addr,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u64 = 0x8000_0000;

    fn setup() -> (GuestMemory, Satp) {
        let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).unwrap();
        (mem, Satp::new(SatpMode::Sv39, 1, RAM >> 12))
    }

    fn map4k(mem: &GuestMemory, va: u64, pa: u64, flags: PteFlags) {
        // root at RAM, L1 at RAM+0x1000, L0 at RAM+0x2000 (single chain).
        let v = |l: u64| (va >> (12 + 9 * l)) & 0x1ff;
        let root = RAM;
        let l1 = RAM + 0x1000;
        let l0 = RAM + 0x2000;
        mem.write_u64(
            GuestPhysAddr(root + v(2) * 8),
            Pte::new(l1 >> 12, PteFlags::V).0,
        )
        .unwrap();
        mem.write_u64(
            GuestPhysAddr(l1 + v(1) * 8),
            Pte::new(l0 >> 12, PteFlags::V).0,
        )
        .unwrap();
        mem.write_u64(
            GuestPhysAddr(l0 + v(0) * 8),
            Pte::new(pa >> 12, flags | PteFlags::V).0,
        )
        .unwrap();
    }

    /// Guest RAM plus "another hart" that stores the next queued value into the PTE at `at`
    /// right after each walker load of it, i.e. between *step 2* and *step 9*.
    struct OtherHart<'m> {
        mem: &'m GuestMemory,
        at: GuestPhysAddr,
        stores: std::cell::RefCell<std::collections::VecDeque<u64>>,
        /// The values the walker's successful compare-and-swaps wrote, in order.
        cas_writes: std::cell::RefCell<Vec<u64>>,
    }

    impl<'m> OtherHart<'m> {
        fn new(mem: &'m GuestMemory, at: GuestPhysAddr, stores: &[u64]) -> Self {
            Self {
                mem,
                at,
                stores: std::cell::RefCell::new(stores.iter().copied().collect()),
                cas_writes: std::cell::RefCell::new(Vec::new()),
            }
        }
    }

    impl PteMemory for OtherHart<'_> {
        fn load_pte(&self, pa: GuestPhysAddr) -> Option<u64> {
            let v = self.mem.load_pte(pa);
            if pa == self.at {
                if let Some(next) = self.stores.borrow_mut().pop_front() {
                    self.mem.write_u64(pa, next).unwrap();
                }
            }
            v
        }

        fn cas_pte(&self, pa: GuestPhysAddr, current: u64, new: u64) -> Option<Result<u64, u64>> {
            let r = self.mem.cas_pte(pa, current, new);
            if let Some(Ok(_)) = r {
                self.cas_writes.borrow_mut().push(new);
            }
            r
        }
    }

    const VA: u64 = 0x1234_5678;
    const RW_U: PteFlags = PteFlags::V
        .union(PteFlags::R)
        .union(PteFlags::W)
        .union(PteFlags::U);

    /// Maps `VA` and returns the leaf PTE's address (root RAM, L1 RAM+0x1000, L0 RAM+0x2000).
    fn leaf_of_va(mem: &GuestMemory, ppn: u64, flags: PteFlags) -> GuestPhysAddr {
        map4k(mem, VA, ppn << 12, flags);
        GuestPhysAddr(RAM + 0x2000 + ((VA >> 12) & 0x1ff) * 8)
    }

    fn walk_other(
        other: &OtherHart<'_>,
        satp: Satp,
        access: AccessType,
        c: &mut MmuCounters,
    ) -> Result<Translation, WalkFault> {
        walk_in(
            other,
            satp,
            GuestVirtAddr(VA),
            access,
            PrivCtx::USER,
            AdScheme::Svadu,
            c,
        )
    }

    #[test]
    fn step9_rewalks_when_the_pte_changed_and_never_writes_the_stale_value() {
        let (mem, satp) = setup();
        let leaf = leaf_of_va(&mem, 0x111, RW_U);
        let changed = Pte::new(0x222, RW_U).0;
        let other = OtherHart::new(&mem, leaf, &[changed]);
        let mut c = MmuCounters::default();
        let t = walk_other(&other, satp, AccessType::Store, &mut c).unwrap();
        assert_eq!(
            t.pte.ppn(),
            0x222,
            "the translation uses the PTE as changed"
        );
        assert_eq!(t.pte, Pte(changed).with(PteFlags::A | PteFlags::D));
        assert_eq!(mem.read_u64(leaf).unwrap(), t.pte.0);
        assert_eq!(
            *other.cas_writes.borrow(),
            vec![t.pte.0],
            "one write, of the new PTE"
        );
        assert_eq!(c.walks, 2, "the failed compare-and-swap counts a re-walk");
        assert_eq!(
            c.pte_loads, 4,
            "3 levels, then the leaf again (step 2 at the same level)"
        );
        assert_eq!(c.ad_updates, 1);
    }

    #[test]
    fn step9_rewalk_faults_on_a_pte_made_invalid_and_writes_nothing() {
        let (mem, satp) = setup();
        let leaf = leaf_of_va(&mem, 0x111, RW_U);
        let invalid = Pte::new(0x111, RW_U.difference(PteFlags::V)).0;
        let other = OtherHart::new(&mem, leaf, &[invalid]);
        let mut c = MmuCounters::default();
        let r = walk_other(&other, satp, AccessType::Load, &mut c);
        assert_eq!(r, Err(WalkFault::PageFault));
        assert_eq!(mem.read_u64(leaf).unwrap(), invalid);
        assert!(other.cas_writes.borrow().is_empty());
        assert_eq!(c.ad_updates, 0);
    }

    #[test]
    fn step9_rewalk_rechecks_permissions() {
        let (mem, satp) = setup();
        let leaf = leaf_of_va(&mem, 0x111, RW_U);
        let read_only = Pte::new(0x111, RW_U.difference(PteFlags::W)).0;
        let other = OtherHart::new(&mem, leaf, &[read_only]);
        let mut c = MmuCounters::default();
        let r = walk_other(&other, satp, AccessType::Store, &mut c);
        assert_eq!(
            r,
            Err(WalkFault::PageFault),
            "W was removed before the update"
        );
        assert_eq!(
            mem.read_u64(leaf).unwrap(),
            read_only,
            "no D on a read-only PTE"
        );
        assert!(other.cas_writes.borrow().is_empty());
    }

    #[test]
    fn step9_rewalk_needs_no_write_when_the_other_hart_set_a() {
        let (mem, satp) = setup();
        let leaf = leaf_of_va(&mem, 0x111, RW_U);
        let accessed = Pte::new(0x111, RW_U | PteFlags::A).0;
        let other = OtherHart::new(&mem, leaf, &[accessed]);
        let mut c = MmuCounters::default();
        let t = walk_other(&other, satp, AccessType::Load, &mut c).unwrap();
        assert_eq!(t.pte.0, accessed);
        assert!(other.cas_writes.borrow().is_empty());
        assert_eq!((c.walks, c.ad_updates), (2, 0));
    }

    #[test]
    fn step9_rewalk_survives_repeated_interference() {
        let (mem, satp) = setup();
        let leaf = leaf_of_va(&mem, 0x111, RW_U);
        let gens: Vec<u64> = (0x112..0x117).map(|p| Pte::new(p, RW_U).0).collect();
        let other = OtherHart::new(&mem, leaf, &gens);
        let mut c = MmuCounters::default();
        let t = walk_other(&other, satp, AccessType::Store, &mut c).unwrap();
        assert_eq!(
            t.pte.ppn(),
            0x116,
            "the last generation, stored before the last load"
        );
        assert_eq!(c.walks, 6);
        assert_eq!(other.cas_writes.borrow().len(), 1);
    }

    #[test]
    fn step9_return_to_step2_follows_a_leaf_turned_pointer() {
        // A 2 MiB leaf at level 1 that another hart replaces with a pointer to a level-0
        // table before the A/D update: "return to step 2" at level 1 reads the pointer
        // and descends to the 4 KiB leaf.
        let (mem, satp) = setup();
        map4k(&mem, VA, RAM + 0x10_000, RW_U);
        let l1_slot = GuestPhysAddr(RAM + 0x1000 + ((VA >> 21) & 0x1ff) * 8);
        let superpage = Pte::new(0x4_0000, RW_U).0;
        mem.write_u64(l1_slot, superpage).unwrap();
        let pointer = Pte::new((RAM + 0x2000) >> 12, PteFlags::V).0;
        let other = OtherHart::new(&mem, l1_slot, &[pointer]);
        let mut c = MmuCounters::default();
        let t = walk_other(&other, satp, AccessType::Load, &mut c).unwrap();
        assert_eq!(t.level, 0);
        assert_eq!(t.pa(GuestVirtAddr(VA)), GuestPhysAddr(RAM + 0x10_678));
        assert_eq!(
            mem.read_u64(l1_slot).unwrap(),
            pointer,
            "no A on the pointer"
        );
    }

    #[test]
    fn svadu_sets_a_then_d() {
        let (mem, satp) = setup();
        let va = GuestVirtAddr(0x1234_5678);
        map4k(
            &mem,
            va.0,
            RAM + 0x10_000,
            PteFlags::R | PteFlags::W | PteFlags::U,
        );
        let mut c = MmuCounters::default();
        let t = walk(
            &mem,
            satp,
            va,
            AccessType::Load,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        )
        .unwrap();
        assert_eq!(t.pa(va), GuestPhysAddr(RAM + 0x10_678));
        assert!(t.flags().contains(PteFlags::A) && !t.flags().contains(PteFlags::D));
        assert_eq!(
            Pte(mem.read_u64(t.pte_addr).unwrap()),
            t.pte,
            "A written to guest RAM"
        );
        let t = walk(
            &mem,
            satp,
            va,
            AccessType::Store,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        )
        .unwrap();
        assert!(t.flags().contains(PteFlags::D));
        assert_eq!(c.ad_updates, 2);
        assert_eq!(c.pte_loads, 6);
        let t2 = walk(
            &mem,
            satp,
            va,
            AccessType::Store,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        )
        .unwrap();
        assert_eq!(t2, t);
        assert_eq!(c.ad_updates, 2, "no update when A and D are already set");
    }

    #[test]
    fn svade_faults_on_clear_a_or_d() {
        let (mem, satp) = setup();
        let va = GuestVirtAddr(0x4000);
        map4k(
            &mem,
            va.0,
            RAM + 0x10_000,
            PteFlags::R | PteFlags::W | PteFlags::U,
        );
        let mut c = MmuCounters::default();
        let r = walk(
            &mem,
            satp,
            va,
            AccessType::Load,
            PrivCtx::USER,
            AdScheme::Svade,
            &mut c,
        );
        assert_eq!(r, Err(WalkFault::PageFault));
        map4k(
            &mem,
            va.0,
            RAM + 0x10_000,
            PteFlags::R | PteFlags::W | PteFlags::U | PteFlags::A,
        );
        assert!(walk(
            &mem,
            satp,
            va,
            AccessType::Load,
            PrivCtx::USER,
            AdScheme::Svade,
            &mut c
        )
        .is_ok());
        let r = walk(
            &mem,
            satp,
            va,
            AccessType::Store,
            PrivCtx::USER,
            AdScheme::Svade,
            &mut c,
        );
        assert_eq!(r, Err(WalkFault::PageFault));
        assert_eq!(c.ad_updates, 0);
    }

    #[test]
    fn permissions_sum_mxr() {
        let (mem, satp) = setup();
        let va = GuestVirtAddr(0x4000);
        map4k(&mem, va.0, RAM + 0x10_000, PteFlags::X | PteFlags::U);
        let mut c = MmuCounters::default();
        let w = |acc, ctx, c: &mut MmuCounters| {
            walk(&mem, satp, va, acc, ctx, AdScheme::Svadu, c).is_ok()
        };
        assert!(w(AccessType::Fetch, PrivCtx::USER, &mut c));
        assert!(!w(AccessType::Load, PrivCtx::USER, &mut c));
        assert!(w(
            AccessType::Load,
            PrivCtx {
                mxr: true,
                ..PrivCtx::USER
            },
            &mut c
        ));
        assert!(
            !w(AccessType::Fetch, PrivCtx::KERNEL_UACCESS, &mut c),
            "S never executes U pages"
        );
        assert!(!w(
            AccessType::Load,
            PrivCtx {
                user: false,
                mxr: true,
                ..PrivCtx::USER
            },
            &mut c
        ));
    }

    #[test]
    fn non_canonical_and_bad_pte() {
        let (mem, satp) = setup();
        let mut c = MmuCounters::default();
        let r = walk(
            &mem,
            satp,
            GuestVirtAddr(1 << 40),
            AccessType::Load,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        );
        assert_eq!(r, Err(WalkFault::PageFault));
        assert_eq!(c.pte_loads, 0);
        // W without R is reserved.
        map4k(&mem, 0x4000, RAM + 0x10_000, PteFlags::W | PteFlags::U);
        let r = walk(
            &mem,
            satp,
            GuestVirtAddr(0x4000),
            AccessType::Store,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        );
        assert_eq!(r, Err(WalkFault::PageFault));
        // A pointer PTE outside RAM → access fault.
        mem.write_u64(GuestPhysAddr(RAM), Pte::new(0x10, PteFlags::V).0)
            .unwrap();
        let r = walk(
            &mem,
            satp,
            GuestVirtAddr(0x4000),
            AccessType::Load,
            PrivCtx::USER,
            AdScheme::Svadu,
            &mut c,
        );
        assert_eq!(r, Err(WalkFault::AccessFault));
    }

    #[test]
    fn svrsw60t59b_bits_are_ignored_and_bit_57_is_still_reserved() {
        let (mem, satp) = setup();
        let mut c = MmuCounters::default();
        let flags = PteFlags::R | PteFlags::W | PteFlags::U | PteFlags::A | PteFlags::D;
        map4k(&mem, 0x4000, RAM + 0x10_000, flags);
        let leaf = GuestPhysAddr(RAM + 0x2000 + 4 * 8); // L0 entry of VPN 4 (see map4k)
        let plain = mem.read_u64(leaf).unwrap();
        let load = |c: &mut MmuCounters| {
            walk(
                &mem,
                satp,
                GuestVirtAddr(0x4008),
                AccessType::Load,
                PrivCtx::USER,
                AdScheme::Svadu,
                c,
            )
        };
        // Linux's _PAGE_SOFT_DIRTY (59) and _PAGE_UFFD_WP (60): the walk succeeds.
        mem.write_u64(leaf, plain | Pte::SVRSW60T59B_MASK).unwrap();
        let t = load(&mut c).unwrap();
        assert_eq!(t.pte.ppn(), (RAM + 0x10_000) >> 12);
        // Bit 57 stays reserved.
        mem.write_u64(leaf, plain | (1 << 57)).unwrap();
        assert_eq!(load(&mut c), Err(WalkFault::PageFault));
    }

    #[test]
    fn mtag_is_reserved_unless_tagging_is_enabled_and_only_on_leaves() {
        let (mem, satp) = setup();
        let mut c = MmuCounters::default();
        let flags = PteFlags::R | PteFlags::W | PteFlags::U | PteFlags::A | PteFlags::D;
        map4k(&mem, 0x4000, RAM + 0x10_000, flags);
        let leaf = GuestPhysAddr(RAM + 0x2000 + 4 * 8); // L0 entry of VPN 4 (see map4k)
        let plain = mem.read_u64(leaf).unwrap();
        mem.write_u64(leaf, plain | Pte::MTAG_BIT).unwrap();
        let tagging = PrivCtx {
            mtag: true,
            ..PrivCtx::USER
        };
        let w = |ctx, c: &mut MmuCounters| {
            walk(
                &mem,
                satp,
                GuestVirtAddr(0x4008),
                AccessType::Load,
                ctx,
                AdScheme::Svadu,
                c,
            )
        };
        assert_eq!(
            w(PrivCtx::USER, &mut c),
            Err(WalkFault::PageFault),
            "off: reserved"
        );
        let t = w(tagging, &mut c).unwrap();
        assert!(
            t.pte.mtag(),
            "on: the attribute reaches the translation (and the TLB)"
        );
        assert_eq!(t.pa(GuestVirtAddr(0x4008)), GuestPhysAddr(RAM + 0x10_008));
        // Any other bit of 60:54 stays reserved with tagging on.
        mem.write_u64(leaf, plain | Pte::MTAG_BIT | 1 << 57)
            .unwrap();
        assert_eq!(w(tagging, &mut c), Err(WalkFault::PageFault));
        // On a pointer PTE, MTAG is reserved even with tagging on.
        mem.write_u64(leaf, plain).unwrap();
        let root = GuestPhysAddr(RAM); // the root entry of VA 0x4000
        let ptr = mem.read_u64(root).unwrap();
        mem.write_u64(root, ptr | Pte::MTAG_BIT).unwrap();
        assert_eq!(w(tagging, &mut c), Err(WalkFault::PageFault));
        mem.write_u64(root, ptr).unwrap();
        assert!(!w(tagging, &mut c).unwrap().pte.mtag());
    }
}
