//! The hart running hand-assembled code under a real Sv39 page table in guest RAM: the
//! A/D bits the walker writes, TLB inclusion of the host-pointer fast path, misaligned
//! accesses across pages, LR/SC/AMO, and decoded-code invalidation on stores.

use devices::{GuestMemory, GuestPhysAddr};
use emu::{Exit, Hart, HartConfig};
use mmu::{AccessType, AdScheme, Pte, PteFlags, Satp, SatpMode, TlbGeometry};

const RAM: u64 = 0x8000_0000;
const CODE_VA: u64 = 0x10000;
const DATA_VA: u64 = 0x20000;

/// `/tmp/asm/t.S` (see the comments): a loop of ALU ops, then stores/loads (one misaligned
/// across a page boundary), LR/SC and AMOADD, then `ecall`. Assembled with
/// `riscv64-linux-gnu-as -march=rv64gc` (`.option norvc`).
const PROGRAM: [u32; 20] = [
    0x00000293, 0x00000313, 0x00328293, 0x00534333, 0x00131393, 0x00730333, 0xfff58593, 0xfe0596e3,
    0x00653023, 0x00053383, 0x7fe50613, 0x7e763fa3, 0x7ff63e03, 0x10053eaf, 0x001e8e93, 0x19d53f2f,
    0x00500f93, 0x01f534af, 0x00053903, 0x00000073,
];

struct Machine {
    mem: GuestMemory,
}

impl Machine {
    /// Root at RAM, L1 at +0x1000, L0 at +0x2000; VA page `v` maps PA RAM + `v` for the
    /// given pages, with A=D=0 so the hardware has to set them.
    fn new(code_flags: PteFlags) -> Self {
        let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).unwrap();
        let w = |pa: u64, pte: Pte| mem.write_u64(GuestPhysAddr(pa), pte.0).unwrap();
        w(RAM, Pte::new((RAM + 0x1000) >> 12, PteFlags::V));
        w(RAM + 0x1000, Pte::new((RAM + 0x2000) >> 12, PteFlags::V));
        let leaf = |va: u64, f: PteFlags| {
            w(
                RAM + 0x2000 + ((va >> 12) & 0x1ff) * 8,
                Pte::new((RAM + va) >> 12, f | PteFlags::V | PteFlags::U),
            )
        };
        leaf(CODE_VA, code_flags);
        leaf(DATA_VA, PteFlags::R | PteFlags::W);
        leaf(DATA_VA + 0x1000, PteFlags::R | PteFlags::W);
        for (i, word) in PROGRAM.iter().enumerate() {
            mem.write_u32(GuestPhysAddr(RAM + CODE_VA + 4 * i as u64), *word)
                .unwrap();
        }
        Self { mem }
    }

    fn pte(&self, va: u64) -> Pte {
        Pte(self
            .mem
            .read_u64(GuestPhysAddr(RAM + 0x2000 + ((va >> 12) & 0x1ff) * 8))
            .unwrap())
    }

    fn hart(&self, tlb: &str, ad: AdScheme) -> Hart<'_> {
        let cfg = HartConfig {
            tlb: tlb.parse::<TlbGeometry>().unwrap(),
            ad,
            ..HartConfig::default()
        };
        let mut h = Hart::new(&self.mem, None, cfg);
        h.set_satp(Satp::new(SatpMode::Sv39, 1, RAM >> 12));
        h.pc = CODE_VA;
        h.x[10] = DATA_VA;
        h.x[11] = 1000;
        h
    }
}

fn expected_t1(iters: u64) -> u64 {
    let (mut t0, mut t1) = (0u64, 0u64);
    for _ in 0..iters {
        t0 = t0.wrapping_add(3);
        t1 ^= t0;
        t1 = t1.wrapping_add(t1 << 1);
    }
    t1
}

#[test]
fn runs_to_ecall_with_hardware_ad() {
    let m = Machine::new(PteFlags::R | PteFlags::X);
    let mut h = m.hart("64x4", AdScheme::Svadu);
    assert_eq!(h.run(1_000_000), Exit::Ecall);
    assert_eq!(h.pc, CODE_VA + 4 * 19, "pc stays at the ecall");
    let t1 = expected_t1(1000);
    assert_eq!(h.x[6], t1);
    assert_eq!(
        h.x[28], t1,
        "misaligned load across the page boundary reads back the store"
    );
    assert_eq!(h.x[30], 0, "sc.d succeeded");
    assert_eq!(h.x[9], t1 + 1, "amoadd returns the old value");
    assert_eq!(h.x[18], t1 + 6);
    // 2 setup + 6*1000 loop + 12 after the loop; the ecall does not retire.
    assert_eq!(h.stats().instret, 2 + 6 * 1000 + 11);
    // The hardware set A on every page it touched, D only where it stored.
    let code = m.pte(CODE_VA).flags();
    assert!(code.contains(PteFlags::A) && !code.contains(PteFlags::D));
    for va in [DATA_VA, DATA_VA + 0x1000] {
        assert!(
            m.pte(va).flags().contains(PteFlags::A | PteFlags::D),
            "{va:#x}"
        );
    }
    let s = h.stats().mmu;
    assert_eq!(
        s.ad_updates, 3,
        "A on code; A+D in one CAS on each data page"
    );
    assert_eq!(s.page_faults, 0);
    assert_eq!(s.walks, s.tlb_misses, "one walk per miss when no CAS races");
    // Modelled cycles are exact. With the default table (alu 1, taken_branch 2, load 2,
    // store 1, lr_sc 4, amo 8, tlb_miss 5, walk_level 20, ad_update 25):
    //   ALU ops 2 + 6*1000 + 3 = 6005; loads 3*2; stores 2*1; LR/SC 2*4; AMO 8   = 6029
    //   taken branches 999 * 2                                                      = 1998
    //   TLB misses 3 * 5, PTE loads 9 * 20, A/D updates 3 * 25                      =  270
    assert_eq!(h.stats().cycles, 6029 + 1998 + 270);
}

#[test]
fn svade_faults_until_the_os_sets_ad() {
    let m = Machine::new(PteFlags::R | PteFlags::X);
    let mut h = m.hart("64x4", AdScheme::Svade);
    let mut faults = Vec::new();
    loop {
        match h.run(1_000_000) {
            Exit::Ecall => break,
            Exit::PageFault { va, access } => {
                faults.push((va.raw() & !0xfff, access));
                // What the OS does on an A/D fault: pte_mkyoung (+ pte_mkdirty on a store).
                let pte_pa = GuestPhysAddr(RAM + 0x2000 + ((va.raw() >> 12) & 0x1ff) * 8);
                let mut pte = Pte(m.mem.read_u64(pte_pa).unwrap()).with(PteFlags::A);
                if access == AccessType::Store {
                    pte = pte.with(PteFlags::D);
                }
                m.mem.write_u64(pte_pa, pte.0).unwrap();
                h.sfence_vma(Some(va.raw()), None);
            }
            e => panic!("unexpected exit {e:?}"),
        }
        assert!(faults.len() < 10);
    }
    assert_eq!(
        faults,
        vec![
            (CODE_VA, AccessType::Fetch),
            (DATA_VA, AccessType::Store),
            (DATA_VA + 0x1000, AccessType::Store),
        ]
    );
    assert_eq!(h.x[18], expected_t1(1000) + 6);
    assert_eq!(h.stats().mmu.ad_updates, 0, "Svade never writes PTEs");
}

#[test]
fn one_entry_tlb_is_not_hidden_by_the_fast_path() {
    let m = Machine::new(PteFlags::R | PteFlags::X);
    let mut big = m.hart("64x4", AdScheme::Svadu);
    assert_eq!(big.run(1_000_000), Exit::Ecall);
    let m2 = Machine::new(PteFlags::R | PteFlags::X);
    let mut one = m2.hart("1x1", AdScheme::Svadu);
    assert_eq!(one.run(1_000_000), Exit::Ecall);
    assert_eq!(one.x, big.x, "same architectural result");
    let (b, o) = (big.stats().mmu, one.stats().mmu);
    assert_eq!(
        b.tlb_misses, 3,
        "code page and two data pages, each missed once"
    );
    // With one entry, every switch between the code page and a data page misses: at least
    // one miss per data access after the loop (9 accesses, one spanning two pages).
    assert!(o.tlb_misses >= 12, "1-entry TLB misses: {}", o.tlb_misses);
    assert_eq!(o.walks, o.tlb_misses);
    assert!(one.tlb().entries().count() <= 1);
}

#[test]
fn store_to_code_invalidates_decoded_instructions() {
    // Code page writable: patch the `ecall` at the end into `addi x0,x0,0`… then the
    // instruction after it must be fetched anew. Simpler observable: overwrite the first
    // loop instruction while stopped, without fence.i, via a guest store from a second run.
    let m = Machine::new(PteFlags::R | PteFlags::W | PteFlags::X);
    let mut h = m.hart("64x4", AdScheme::Svadu);
    assert_eq!(h.run(1_000_000), Exit::Ecall);
    // The guest stores `li t0, 7` (addi t0, x0, 7 = 0x00700293) over its first instruction.
    h.x[10] = CODE_VA; // a0 = address, reuse the program's `sd t1,0(a0)` path is too long;
    h.x[6] = 0x00700293;
    // Execute a single `sw t1, 0(a0)` placed in the data page.
    m.mem
        .write_u32(GuestPhysAddr(RAM + DATA_VA + 0x800), 0x00652023)
        .unwrap(); // sw t1,0(a0)
    m.mem
        .write_u32(GuestPhysAddr(RAM + DATA_VA + 0x804), 0x00000073)
        .unwrap(); // ecall
                   // Make the data page executable for this step.
    let pte_pa = GuestPhysAddr(RAM + 0x2000 + ((DATA_VA >> 12) & 0x1ff) * 8);
    let pte = Pte(m.mem.read_u64(pte_pa).unwrap()).with(PteFlags::X);
    m.mem.write_u64(pte_pa, pte.0).unwrap();
    h.sfence_vma(None, None);
    h.pc = DATA_VA + 0x800;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(
        m.mem.read_u32(GuestPhysAddr(RAM + CODE_VA)).unwrap(),
        0x00700293
    );
    // Re-run the program from the top: the patched first instruction must execute.
    h.pc = CODE_VA;
    h.x[10] = DATA_VA;
    h.x[11] = 1;
    assert_eq!(h.run(1_000_000), Exit::Ecall);
    assert_eq!(
        h.x[5],
        7 + 3,
        "t0 = 7 (patched li) + 3 (one loop iteration)"
    );
}

#[test]
fn faults_leave_state_untouched() {
    let m = Machine::new(PteFlags::R | PteFlags::X);
    let mut h = m.hart("64x4", AdScheme::Svadu);
    h.x[10] = 0x30000; // unmapped
    h.x[11] = 1;
    match h.run(1_000_000) {
        Exit::PageFault { va, access } => {
            assert_eq!(va.raw(), 0x30000);
            assert_eq!(access, AccessType::Store);
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(h.pc, CODE_VA + 4 * 8, "pc at the faulting sd");
    assert_eq!(h.stats().mmu.page_faults, 1);
}

#[test]
fn a_fence_for_one_address_drops_that_pages_cached_translation_only_there() {
    // Run the program once: the data pages are in the TLB and the host-pointer cache.
    let m = Machine::new(PteFlags::R | PteFlags::X);
    let mut h = m.hart("64x4", AdScheme::Svadu);
    assert!(matches!(h.run(1_000_000), Exit::Ecall));
    // Remap DATA_VA to another frame holding a marker, as the kernel does on a COW break.
    let other = RAM + 0x30000;
    m.mem.write_u64(GuestPhysAddr(other), 0x5eed_f00d).unwrap();
    let slot = GuestPhysAddr(RAM + 0x2000 + ((DATA_VA >> 12) & 0x1ff) * 8);
    let old = m.pte(DATA_VA);
    m.mem
        .write_u64(slot, Pte::new(other >> 12, old.flags()).0)
        .unwrap();
    // `ld x18, 0(x10)` then `ecall`, the program's last two instructions.
    let reload = |h: &mut Hart<'_>| {
        h.pc = CODE_VA + 4 * 18;
        h.x[10] = DATA_VA;
        assert!(matches!(h.run(10), Exit::Ecall));
        h.x[18]
    };
    // Without a fence the hart may keep using the old translation (RISC-V allows it; ours
    // does): the load still reads the old frame.
    let stale = reload(&mut h);
    assert_ne!(stale, 0x5eed_f00d);
    // A fence for another page leaves it; a fence for this page drops it.
    h.sfence_vma(Some(DATA_VA + 0x1000), None);
    assert_eq!(reload(&mut h), stale);
    h.sfence_vma(Some(DATA_VA), None);
    assert_eq!(reload(&mut h), 0x5eed_f00d);
}
