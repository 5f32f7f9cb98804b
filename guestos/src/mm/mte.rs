//! Memory tagging for user space: arm64 Linux's MTE user ABI (`arch/arm64/kernel/mte.c`,
//! `Documentation/arch/arm64/memory-tagging-extension.rst`) over the machine's Zimt
//! hardware (README, *Memory tagging (Zimt)*).
//!
//! - **Per thread**: the `PR_SET_TAGGED_ADDR_CTRL` value ([`TaggedAddrCtrl`], arm64's
//!   `thread.mte_ctrl` plus `TIF_TAGGED_ADDR`, riscv's `PR_PMLEN`), loaded into the hart
//!   whenever the thread is switched in ([`mte_thread_switch`]: `senvcfg.PMM`/`MT_MODE`,
//!   the check mode, `gentag`'s exclude mask).
//! - **Per page**: `PG_mte_tagged` ([`PageFlags::MTE_TAGGED`]): a frame's tags are zeroed
//!   the first time it is mapped by a `PTE.MTAG` entry ([`mte_sync_tags`], called from
//!   `set_pte()`), and copied with its data on a COW break or a fork copy
//!   ([`copy_highpage_tags`], arm64's `copy_highpage()`).
//! - **Per VMA**: `VM_MTE` (`PROT_MTE`), allowed only where `VM_MTE_ALLOWED` is
//!   (anonymous and shmem mappings), gives every PTE `PTE.MTAG` through
//!   [`super::pgtable::vm_get_page_prot`].

use emu::hart::{SENVCFG_MT_MODE_SHIFT, SENVCFG_PMM_SHIFT};
use emu::{Hart, TagCheckMode};

use super::page_alloc::{PageFlags, Pfn};
#[cfg(test)]
use super::vma::VmFlags;
use super::PhysMem;
use crate::errno::{Errno, KResult};
use devices::GuestPhysAddr;

/// `PROT_MTE` (arm64 `include/uapi/asm/mman.h`): the mapping's memory is tagged.
pub const PROT_MTE: u64 = 0x20;

/// `PR_SET_TAGGED_ADDR_CTRL` (`include/uapi/linux/prctl.h`).
pub const PR_SET_TAGGED_ADDR_CTRL: i32 = 55;
/// `PR_GET_TAGGED_ADDR_CTRL`.
pub const PR_GET_TAGGED_ADDR_CTRL: i32 = 56;
/// `PR_TAGGED_ADDR_ENABLE`: system calls accept tagged user pointers.
pub const PR_TAGGED_ADDR_ENABLE: u64 = 1;
/// `PR_MTE_TCF_SHIFT`.
pub const PR_MTE_TCF_SHIFT: u32 = 1;
/// `PR_MTE_TCF_NONE`: tag mismatches are ignored.
pub const PR_MTE_TCF_NONE: u64 = 0;
/// `PR_MTE_TCF_SYNC`: a mismatch is a synchronous `SIGSEGV`/`SEGV_MTESERR`.
pub const PR_MTE_TCF_SYNC: u64 = 1 << PR_MTE_TCF_SHIFT;
/// `PR_MTE_TCF_ASYNC`: a mismatch is reported later, `SIGSEGV`/`SEGV_MTEAERR`.
pub const PR_MTE_TCF_ASYNC: u64 = 2 << PR_MTE_TCF_SHIFT;
/// `PR_MTE_TCF_MASK`.
pub const PR_MTE_TCF_MASK: u64 = PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC;
/// `PR_MTE_TAG_SHIFT`: the include mask of `gentag` (arm64 `IRG`), one bit per tag.
pub const PR_MTE_TAG_SHIFT: u32 = 3;
/// `PR_MTE_TAG_MASK`.
pub const PR_MTE_TAG_MASK: u64 = 0xffff << PR_MTE_TAG_SHIFT;
/// `PR_PMLEN_SHIFT` (riscv): the pointer-masking length asked for.
pub const PR_PMLEN_SHIFT: u32 = 24;
/// `PR_PMLEN_MASK` (riscv).
pub const PR_PMLEN_MASK: u64 = 0x7f << PR_PMLEN_SHIFT;

/// `AT_HWCAP2` bit dirtybit reports when the machine has memory tagging: bit 18, arm64's
/// `HWCAP2_MTE`, so that programs written for arm64 test the same bit.
pub const HWCAP2_MTE: u64 = 1 << 18;

/// `senvcfg.PMM` values (Ssnpm).
const PMM_PMLEN7: u64 = 0b10;
const PMM_PMLEN16: u64 = 0b11;
/// `senvcfg.MT_MODE` = 0b10: 4-bit tags.
const MT_MODE_TAG4: u64 = 0b10;
/// Bit position of the 4-bit pointer tag (Zimt: bits 63:60).
pub const POINTER_TAG_SHIFT: u32 = 60;
/// The PMLEN a thread gets when it turns tagging on without naming one (arm64 programs
/// never do): 16, the width Zimt's pointer tag in bits 63:60 is specified for.
const DEFAULT_PMLEN: u64 = 16;

/// A thread's tagged-address control word, exactly as `PR_GET_TAGGED_ADDR_CTRL` returns
/// it: `PR_TAGGED_ADDR_ENABLE`, one `PR_MTE_TCF_*` mode, the include mask at
/// `PR_MTE_TAG_SHIFT` and the pointer-masking length in effect at `PR_PMLEN_SHIFT`.
/// Copied by `clone`, reset to 0 by `execve` (arm64 `mte_thread_init_user()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaggedAddrCtrl(u64);

impl TaggedAddrCtrl {
    /// `set_tagged_addr_ctrl()` (arm64 `arch/arm64/kernel/process.c` with
    /// `set_mte_ctrl()`, riscv `arch/riscv/kernel/process.c`): validates `arg`.
    ///
    /// - `PR_MTE_TCF_SYNC | PR_MTE_TCF_ASYNC` together is arm64's "the CPU's preferred
    ///   mode": dirtybit prefers **sync** (the exact address; the check costs the same).
    /// - `PR_PMLEN`: 0 asks for nothing, 1–7 gets 7, 8–16 gets 16 (riscv's "smallest
    ///   PMLEN that satisfies the request"), more is `EINVAL`. Deviation from riscv, for
    ///   arm64's ABI: `PR_TAGGED_ADDR_ENABLE` or a check mode with `PR_PMLEN` 0 gets
    ///   PMLEN 16 (arm64's top-byte ignore is always on; riscv refuses
    ///   `PR_TAGGED_ADDR_ENABLE` without a PMLEN). A check mode with PMLEN 7 is kept:
    ///   bits 63:60 are masked either way.
    ///
    /// # Errors
    /// `EINVAL` for a bit outside `PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_MASK |
    /// PR_MTE_TAG_MASK | PR_PMLEN_MASK` or a PMLEN above 16.
    pub fn from_prctl(arg: u64) -> KResult<Self> {
        let valid = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_MASK | PR_MTE_TAG_MASK | PR_PMLEN_MASK;
        if arg & !valid != 0 {
            return Err(Errno::EINVAL);
        }
        let mut tcf = arg & PR_MTE_TCF_MASK;
        if tcf == PR_MTE_TCF_MASK {
            tcf = PR_MTE_TCF_SYNC;
        }
        let asked = (arg & PR_PMLEN_MASK) >> PR_PMLEN_SHIFT;
        let wants_tags = arg & PR_TAGGED_ADDR_ENABLE != 0 || tcf != PR_MTE_TCF_NONE;
        let pmlen = match asked {
            0 if wants_tags => DEFAULT_PMLEN,
            0 => 0,
            1..=7 => 7,
            8..=16 => 16,
            _ => return Err(Errno::EINVAL),
        };
        let keep = arg & (PR_TAGGED_ADDR_ENABLE | PR_MTE_TAG_MASK);
        Ok(Self(keep | tcf | (pmlen << PR_PMLEN_SHIFT)))
    }

    /// A word [`TaggedAddrCtrl::from_prctl`] made, given back by [`TaggedAddrCtrl::bits`].
    pub(crate) const fn from_raw(bits: u64) -> Self {
        Self(bits)
    }

    /// The value `PR_GET_TAGGED_ADDR_CTRL` returns.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// `PR_TAGGED_ADDR_ENABLE` (arm64's `TIF_TAGGED_ADDR`): system calls untag pointers.
    pub fn tagged_addr_enabled(self) -> bool {
        self.0 & PR_TAGGED_ADDR_ENABLE != 0
    }

    /// The pointer-masking length in effect: 0, 7 or 16 bits.
    pub fn pmlen(self) -> u32 {
        ((self.0 & PR_PMLEN_MASK) >> PR_PMLEN_SHIFT) as u32
    }

    /// What a tag mismatch does (arm64's `SCTLR_EL1.TCF0`).
    pub fn check_mode(self) -> TagCheckMode {
        match self.0 & PR_MTE_TCF_MASK {
            PR_MTE_TCF_SYNC => TagCheckMode::Sync,
            PR_MTE_TCF_ASYNC => TagCheckMode::Async,
            _ => TagCheckMode::None,
        }
    }

    /// `gentag`'s exclude mask (arm64's `GCR_EL1.Exclude`): the complement of the
    /// include mask.
    pub fn gentag_exclude(self) -> u16 {
        !((self.0 & PR_MTE_TAG_MASK) >> PR_MTE_TAG_SHIFT) as u16
    }

    /// `untagged_addr()` for this thread's system-call pointers: the top `pmlen` bits
    /// sign-extended from the bit below them once the thread enabled the tagged-address
    /// ABI (riscv `__untagged_addr_remote()`); `addr` unchanged otherwise.
    pub fn untagged_addr(self, addr: u64) -> u64 {
        match self.pmlen() {
            p @ (7 | 16) if self.tagged_addr_enabled() => ((addr << p) as i64 >> p) as u64,
            _ => addr,
        }
    }
}

/// `senvcfg` for `pmlen` bits of pointer masking with Zimt's 4-bit tags on (0: off).
fn senvcfg_for(pmlen: u32) -> u64 {
    let pmm = match pmlen {
        7 => PMM_PMLEN7,
        16 => PMM_PMLEN16,
        _ => return 0,
    };
    (pmm << SENVCFG_PMM_SHIFT) | (MT_MODE_TAG4 << SENVCFG_MT_MODE_SHIFT)
}

/// `mte_thread_switch()` (and `mte_update_sctlr_user()`/`mte_update_gcr_excl()`): loads
/// thread `ctrl` into `hart` — pointer masking and tagging in `senvcfg`, the check mode,
/// `gentag`'s exclude mask — and makes it this hart's [`current_tagged_addr_ctrl`]. A
/// thread that asked for nothing runs with `senvcfg` = 0, as every thread did before
/// tagging existed.
pub fn mte_thread_switch(hart: &mut Hart<'_>, ctrl: TaggedAddrCtrl) {
    hart.set_senvcfg(senvcfg_for(ctrl.pmlen()));
    hart.set_tag_check_mode(ctrl.check_mode());
    hart.set_gentag_exclude(ctrl.gentag_exclude());
    set_current_tagged_addr_ctrl(ctrl);
}

thread_local! {
    /// The control word of the thread this hart runs (each hart is a host thread: this
    /// is per-CPU state, like arm64's `SCTLR_EL1.TCF0`, which `mte_thread_switch()`
    /// loads, and `current`'s `TIF_TAGGED_ADDR`).
    static CURRENT_CTRL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The tagged-address control of the thread this hart runs, as [`mte_thread_switch`]
/// last loaded it (0 — no ABI, no checks — on a thread that is no hart's, like a
/// kernel thread's). Kernel accesses to user memory follow it, as arm64's do
/// (`Documentation/arch/arm64/memory-tagging-extension.rst`: "Kernel accesses to the
/// user address space … are not checked if the user thread tag checking mode is
/// `PR_MTE_TCF_NONE` or `PR_MTE_TCF_ASYNC`"; sync mode checks them; `access_ok()` untags
/// only for a thread with `TIF_TAGGED_ADDR`): per thread, not per address space.
pub fn current_tagged_addr_ctrl() -> TaggedAddrCtrl {
    TaggedAddrCtrl(CURRENT_CTRL.with(std::cell::Cell::get))
}

/// Makes `ctrl` this hart's [`current_tagged_addr_ctrl`] (the register half of
/// [`mte_thread_switch`]; unit tests without a hart call it directly).
pub fn set_current_tagged_addr_ctrl(ctrl: TaggedAddrCtrl) {
    CURRENT_CTRL.with(|c| c.set(ctrl.bits()));
}

/// Whether Zimt's tagging is on in `hart` (`senvcfg.MT_MODE` and `PMM` both set), so the
/// walker takes `PTE.MTAG` as the tagged-data attribute rather than a reserved bit.
pub fn hart_tagging_on(hart: &Hart<'_>) -> bool {
    let s = hart.senvcfg();
    (s >> SENVCFG_MT_MODE_SHIFT) & 0b11 != 0 && (s >> SENVCFG_PMM_SHIFT) & 0b11 != 0
}

/// A user access faulted on a `VM_MTE` page of a thread whose hart has tagging off (it
/// never asked for a check mode or the tagged-address ABI, so its PMLEN is 0): turns
/// the tagging hardware on for it with PMLEN 16, its check mode and exclude mask as
/// [`mte_thread_switch`] loaded them (no checks, by default), as arm64's top-byte ignore
/// and Normal-Tagged memory work for every thread. Without this the walker would keep
/// taking `PTE.MTAG` as a reserved bit and the access would fault forever. Lasts until
/// the thread is next switched in.
pub fn enable_for_tagged_vma(hart: &mut Hart<'_>) {
    hart.set_senvcfg(senvcfg_for(DEFAULT_PMLEN as u32));
}

/// The frames whose `PG_mte_tagged` speaks with `pfn`'s: the whole folio of a large
/// folio's head (mapped by one huge leaf), else `pfn` alone.
fn folio_frames(phys: &PhysMem, pfn: Pfn) -> u64 {
    phys.pages.page(pfn).map_or(1, |p| p.folio_nr_pages())
}

/// `mte_sync_tags()` (called from `set_pte_at()` for a tagged PTE): the first time a
/// frame is mapped tagged, its tags are zeroed and it becomes `PG_mte_tagged`; later
/// mappings (fork, a second VMA, a split) keep the tags it has. The shared zero page is
/// synced too: its tags stay zero because it is never written (a `settag` there is a
/// store, which COW-breaks first), arm64's tagged zero page.
pub fn mte_sync_tags(phys: &PhysMem, pfn: Pfn) {
    for i in 0..folio_frames(phys, pfn) {
        let f = Pfn(pfn.0 + i);
        let Some(page) = phys.pages.page(f) else {
            return;
        };
        if !page.test(PageFlags::MTE_TAGGED) {
            // A frame outside guest RAM has no tags: nothing to clear.
            let _ = phys.ram.tags().clear_page_tags(f.pa());
            page.set(PageFlags::MTE_TAGGED);
        }
    }
}

/// `copy_highpage()`'s tag half (arm64 `arch/arm64/mm/copypage.c`): after the data of
/// `from` was copied to `to`, a `PG_mte_tagged` source gives the copy its tags and the
/// flag, so the tags survive a COW break on both sides and a fork's copy of a pinned
/// page. An untagged source leaves `to` untagged (tags zeroed when first mapped tagged).
pub fn copy_highpage_tags(phys: &PhysMem, from: Pfn, to: Pfn) {
    let (Some(src), Some(dst)) = (phys.pages.page(from), phys.pages.page(to)) else {
        return;
    };
    if !src.test(PageFlags::MTE_TAGGED) {
        return;
    }
    if phys.ram.tags().copy_page_tags(from.pa(), to.pa()).is_ok() {
        dst.set(PageFlags::MTE_TAGGED);
    }
}

/// `mte_copy_tags_to_user()`'s read side: the tags of `tags.len()` granules from
/// physical address `pa` (granule-aligned), one per byte (a frame outside tag memory
/// reads as 0).
pub fn mte_copy_tags_out(phys: &PhysMem, pa: u64, tags: &mut [u8]) {
    for (i, t) in tags.iter_mut().enumerate() {
        let g = GuestPhysAddr(pa + i as u64 * MTE_GRANULE_SIZE);
        *t = phys.ram.tags().load_tag(g).unwrap_or(0);
    }
}

/// `mte_copy_tags_from_user()`'s write side for frame `pfn`: granules from physical
/// address `pa` (granule-aligned, in `pfn`) take the low 4 bits of each byte of `tags`;
/// then the page is dirty (`set_page_dirty_lock()`). A frame not yet `PG_mte_tagged` is
/// synced first ([`mte_sync_tags`]: its other tags zeroed, the flag set), so a later
/// mapping keeps what was written.
pub fn mte_copy_tags_in(phys: &PhysMem, pfn: Pfn, pa: u64, tags: &[u8]) {
    if phys
        .pages
        .page(pfn)
        .is_some_and(|p| !p.test(PageFlags::MTE_TAGGED))
    {
        mte_sync_tags(phys, pfn);
    }
    for (i, &t) in tags.iter().enumerate() {
        let g = GuestPhysAddr(pa + i as u64 * MTE_GRANULE_SIZE);
        let _ = phys.ram.tags().store_tag(g, t & 0xf);
    }
    if let Some(p) = phys.pages.page(pfn) {
        if !phys.pages.is_zero_pfn(pfn) {
            p.set(PageFlags::DIRTY);
        }
    }
}

/// `MTE_GRANULE_SIZE`: bytes covered by one tag.
pub const MTE_GRANULE_SIZE: u64 = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::mmap::{MADV_DONTNEED, PROT_READ, PROT_WRITE};
    use crate::mm::test_support::{clean, phys, ANON, P, RAM};
    use crate::mm::Mm;
    use devices::GuestPhysAddr;
    use mmu::{walk, AccessType, AdScheme, GuestVirtAddr, MmuCounters, PrivCtx, SatpMode};

    /// A U-mode access of a hart with tagging on (so `PTE.MTAG` is an attribute): walk,
    /// fault, retry; the frame reached.
    fn tagged_touch(mm: &mut Mm, va: u64, access: AccessType) -> (GuestPhysAddr, bool) {
        let ctx = PrivCtx {
            mtag: true,
            ..PrivCtx::USER
        };
        for _ in 0..4 {
            let mut c = MmuCounters::default();
            match walk(
                &mm.phys().ram,
                mm.satp(),
                GuestVirtAddr(va),
                access,
                ctx,
                mm.ad_scheme(),
                &mut c,
            ) {
                Ok(t) => return (t.pa(GuestVirtAddr(va)), t.pte.mtag()),
                Err(_) => mm.do_page_fault(va, access).unwrap(),
            }
        }
        panic!("fault at {va:#x} never resolved");
    }

    fn tag(mm: &Mm, pa: GuestPhysAddr) -> u8 {
        mm.phys().ram.tags().load_tag(pa).unwrap()
    }

    #[test]
    fn tags_zero_on_first_tagged_map_copied_on_cow_and_gone_after_dontneed() {
        let phys = phys(16);
        let mut mm = Mm::new(phys.clone(), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let rw = PROT_READ | PROT_WRITE;
        let a = mm.do_mmap(0, 2 * P, rw | PROT_MTE, ANON, None, 0).unwrap();
        // Stale tags everywhere (frames freed with tags): a frame mapped tagged for the
        // first time must come back zeroed.
        phys.ram
            .tags()
            .set_tags(GuestPhysAddr(RAM), 16 << 20, 5)
            .unwrap();
        let (zero, mtag) = tagged_touch(&mut mm, a, AccessType::Load);
        assert!(mtag, "a VM_MTE read maps the zero page tagged");
        assert_eq!(tag(&mm, zero), 0);
        let (pa, mtag) = tagged_touch(&mut mm, a, AccessType::Store);
        assert!(mtag && pa != zero);
        let pfn = Pfn::of(pa);
        assert!(phys.pages.page(pfn).unwrap().test(PageFlags::MTE_TAGGED));
        assert!((0..256).all(|g| tag(&mm, GuestPhysAddr(pa.0 + 16 * g)) == 0));
        // settag of the whole page to 7, then fork: the child shares the frame, tags too.
        phys.ram.tags().set_tags(pa, P, 7).unwrap();
        let mut child = mm.dup_mmap(2).unwrap();
        let (cpa, _) = tagged_touch(&mut child, a, AccessType::Load);
        assert_eq!(cpa, pa, "fork shares the frame until COW");
        // The child's write breaks COW: a new frame with the tags copied, the parent's
        // frame keeps its own; the parent's write reuses it.
        let (cnew, mtag) = tagged_touch(&mut child, a, AccessType::Store);
        assert!(mtag && cnew != pa);
        assert!((0..256).all(|g| tag(&child, GuestPhysAddr(cnew.0 + 16 * g)) == 7));
        assert!(phys
            .pages
            .page(Pfn::of(cnew))
            .unwrap()
            .test(PageFlags::MTE_TAGGED));
        let (ppa, _) = tagged_touch(&mut mm, a, AccessType::Store);
        assert!((0..256).all(|g| tag(&mm, GuestPhysAddr(ppa.0 + 16 * g)) == 7));
        drop(child);
        // MADV_DONTNEED: the next touch maps a new page, its tags zero.
        mm.madvise(a, P, MADV_DONTNEED).unwrap();
        let (fresh, _) = tagged_touch(&mut mm, a, AccessType::Store);
        assert!((0..256).all(|g| tag(&mm, GuestPhysAddr(fresh.0 + 16 * g)) == 0));
        drop(mm);
        clean(&phys);
    }

    #[test]
    fn prot_mte_needs_vm_mte_allowed_and_mprotect_keeps_it() {
        let phys = phys(16);
        let mut mm = Mm::new(phys, SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let a = mm
            .do_mmap(0, P, PROT_READ | PROT_MTE, ANON, None, 0)
            .unwrap();
        mm.mprotect(a, P, PROT_READ | PROT_WRITE).unwrap();
        let f = mm.vmas().find_vma(a).unwrap().flags;
        assert!(f.contains(VmFlags::MTE | VmFlags::MTE_ALLOWED | VmFlags::WRITE));
        let (_, mtag) = tagged_touch(&mut mm, a, AccessType::Store);
        assert!(mtag, "the PTE of a VM_MTE VMA carries MTAG after mprotect");
        // A VMA without VM_MTE_ALLOWED (a file mapping's flags) refuses PROT_MTE.
        let file_flags = VmFlags::READ | VmFlags::MAY_ALL;
        assert_eq!(
            crate::mm::mmap::arch_mte_flags(file_flags, PROT_MTE, false),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn prctl_words_round_trip_as_arm64_and_riscv_define_them() {
        let sync = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC | (0xfffe << PR_MTE_TAG_SHIFT);
        let c = TaggedAddrCtrl::from_prctl(sync).unwrap();
        assert_eq!(c.bits(), sync | (16 << PR_PMLEN_SHIFT));
        assert_eq!(c.check_mode(), TagCheckMode::Sync);
        assert_eq!(c.gentag_exclude(), 0x0001);
        // Both modes: the preferred one, sync.
        let both = TaggedAddrCtrl::from_prctl(PR_MTE_TCF_MASK).unwrap();
        assert_eq!(both.check_mode(), TagCheckMode::Sync);
        // PMLEN: 1..7 -> 7, 8..16 -> 16, 17 -> EINVAL; nothing asked -> off.
        let p = |n: u64| TaggedAddrCtrl::from_prctl(PR_TAGGED_ADDR_ENABLE | (n << PR_PMLEN_SHIFT));
        assert_eq!(p(3).unwrap().pmlen(), 7);
        assert_eq!(p(9).unwrap().pmlen(), 16);
        assert_eq!(p(17), Err(Errno::EINVAL));
        assert_eq!(TaggedAddrCtrl::from_prctl(0).unwrap().bits(), 0);
        assert_eq!(TaggedAddrCtrl::from_prctl(1 << 20), Err(Errno::EINVAL));
        assert_eq!(TaggedAddrCtrl::from_prctl(1 << 63), Err(Errno::EINVAL));
    }

    #[test]
    fn uaccess_checks_follow_the_calling_thread_not_the_address_space() {
        use crate::uaccess::UserAccess;
        let phys = phys(16);
        let mut mm = Mm::new(phys.clone(), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let a = mm
            .do_mmap(0, P, PROT_READ | PROT_WRITE | PROT_MTE, ANON, None, 0)
            .unwrap();
        let (pa, _) = tagged_touch(&mut mm, a, AccessType::Store);
        // Granule 0 holds "/p\0" under tag 3; granule 1 keeps tag 0.
        phys.ram.tags().set_tags(pa, 16, 3).unwrap();
        phys.ram.write_bytes(pa, b"/p\0").unwrap();
        let ptr = |tag: u64| a | (tag << POINTER_TAG_SHIFT);
        let sync = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC;
        let none = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_NONE;
        // The address space's word (untagged_addr_remote()) says "no checks"; the
        // calling thread's says sync: the thread's decides.
        mm.set_uaccess_tag_ctrl(TaggedAddrCtrl::from_prctl(none).unwrap());
        set_current_tagged_addr_ctrl(TaggedAddrCtrl::from_prctl(sync).unwrap());
        let mut b = [0u8; 3];
        assert_eq!(mm.copy_from_user(ptr(3), &mut b), Ok(()));
        assert_eq!(mm.copy_from_user(ptr(5), &mut b), Err(Errno::EFAULT));
        // A path ends a granule before tag-0 memory: read granule-wise, not past it.
        assert_eq!(mm.strncpy_from_user(ptr(3), 4096), Ok(b"/p".to_vec()));
        assert_eq!(
            mm.copy_from_user(ptr(3), &mut [0u8; 32]),
            Err(Errno::EFAULT)
        );
        // The other way round: the thread turned checks off, the address space's word
        // says sync.
        mm.set_uaccess_tag_ctrl(TaggedAddrCtrl::from_prctl(sync).unwrap());
        set_current_tagged_addr_ctrl(TaggedAddrCtrl::from_prctl(none).unwrap());
        assert_eq!(mm.copy_from_user(ptr(5), &mut b), Ok(()));
        assert_eq!(&b, b"/p\0");
        // Without the tagged-address ABI a tagged pointer is not a user address.
        set_current_tagged_addr_ctrl(TaggedAddrCtrl::default());
        assert_eq!(mm.copy_from_user(ptr(3), &mut b), Err(Errno::EFAULT));
        drop(mm);
        clean(&phys);
    }

    #[test]
    fn untagged_addr_strips_only_with_the_abi_enabled() {
        let tagged = 0xa000_0000_1234_5670u64;
        let on = TaggedAddrCtrl::from_prctl(PR_TAGGED_ADDR_ENABLE).unwrap();
        assert_eq!(on.untagged_addr(tagged), 0x1234_5670);
        let off = TaggedAddrCtrl::from_prctl(PR_MTE_TCF_SYNC).unwrap();
        assert_eq!(off.untagged_addr(tagged), tagged);
        let seven = TaggedAddrCtrl::from_prctl(PR_TAGGED_ADDR_ENABLE | (7 << PR_PMLEN_SHIFT));
        assert_eq!(seven.unwrap().untagged_addr(tagged), 0x1234_5670);
    }
}
