//! Memory tagging (Zimt v0.1) and pointer masking (Ssnpm) on a hart running hand-assembled
//! code under a real Sv39 page table: the instructions and their encodings (with the
//! corners the draft leaves open), `settag` ranges read back, synchronous mismatches of
//! loads, stores, AMOs and LR/SC across a granule boundary with nothing performed, the
//! asynchronous flag, pointer masking on and off, `PTE.MTAG` as a reserved bit, the `sp`
//! and exempt-code rules, and the cycle model and counters.
//!
//! Reference encodings were assembled with `riscv64-linux-gnu-as -march=rv64gc`
//! (`.insn r 0x73, 4, 0x43, x5, x0, x0` for `gentag t0`, and so on).

use devices::{GuestMemory, GuestPhysAddr};
use emu::{CostModel, Exit, Hart, HartConfig, TagCheckMode};
use mmu::{AccessType, GuestVirtAddr, Pte, PteFlags, Satp, SatpMode};

const RAM: u64 = 0x8000_0000;
const CODE_VA: u64 = 0x10000;
/// Code page with `MTAG` and X: a tagcheck-exempt code page.
const EXEMPT_CODE_VA: u64 = 0x11000;
/// Two tagged-data pages (`MTAG`, X=0).
const TAGGED: u64 = 0x20000;
/// A data page without `MTAG`.
const PLAIN: u64 = 0x22000;
/// A data page with `MTAG` that is mapped only when a test asks (reserved-bit test).
const LATE: u64 = 0x23000;

/// `senvcfg` with `PMM` = 0b11 (PMLEN 16) and `MT_MODE` = 0b10.
const TAGGING_ON: u64 = (0b11 << 32) | (0b10 << 34);
/// Pointer tag `t` in bits 63:60.
const fn tagged(t: u64, va: u64) -> u64 {
    (t << 60) | va
}

// ---- encoders ---------------------------------------------------------------------------

const fn mop_rr(n: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
    0x8000_0000
        | ((n >> 2) & 1) << 30
        | (n & 3) << 26
        | 1 << 25
        | rs2 << 20
        | rs1 << 15
        | 4 << 12
        | rd << 7
        | 0x73
}
const fn mop_r(n: u32, rd: u32, rs1: u32) -> u32 {
    0x8000_0000
        | ((n >> 4) & 1) << 30
        | ((n >> 2) & 3) << 26
        | 0b0111 << 22
        | (n & 3) << 20
        | rs1 << 15
        | 4 << 12
        | rd << 7
        | 0x73
}
const fn gentag(rd: u32) -> u32 {
    mop_rr(1, rd, 0, 0)
}
const fn addtag(rd: u32, rs1: u32, imm: u32) -> u32 {
    mop_rr(1, rd, rs1, imm)
}
const fn settag(rs1: u32, imm: u32) -> u32 {
    mop_rr(0, 0, rs1, imm)
}
const fn checktag(rs1: u32, imm: u32) -> u32 {
    mop_rr(1, 0, rs1, imm)
}
const fn loadtag(rd: u32, rs1: u32) -> u32 {
    0x0b | rd << 7 | 4 << 12 | rs1 << 15
}
const fn ld(rd: u32, rs1: u32, imm: u32) -> u32 {
    (imm & 0xfff) << 20 | rs1 << 15 | 3 << 12 | rd << 7 | 0x03
}
const fn lb(rd: u32, rs1: u32, imm: u32) -> u32 {
    (imm & 0xfff) << 20 | rs1 << 15 | rd << 7 | 0x03
}
const fn sd(rs2: u32, rs1: u32, imm: u32) -> u32 {
    ((imm >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | 3 << 12 | (imm & 0x1f) << 7 | 0x23
}
const fn amo_d(funct5: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
    funct5 << 27 | rs2 << 20 | rs1 << 15 | 3 << 12 | rd << 7 | 0x2f
}
const ECALL: u32 = 0x73;
const T0: u32 = 5;
const T1: u32 = 6;
const T2: u32 = 7;
const SP: u32 = 2;
const A0: u32 = 10;
const A1: u32 = 11;
const A2: u32 = 12;

#[test]
fn encoders_match_the_assembler() {
    assert_eq!(gentag(T0), 0x8600_42f3, "gentag t0");
    assert_eq!(addtag(T1, T0, 3), 0x8632_c373, "addtag t1, t0, 3");
    assert_eq!(settag(A0, 15), 0x82f5_4073, "settag a0, 15");
    assert_eq!(checktag(A0, 1), 0x8615_4073, "checktag a0, 1");
    assert_eq!(loadtag(T2, A0), 0x0005_438b, "loadtag t2, a0");
    assert_eq!(ld(T0, A0, 12), 0x00c5_3283);
    assert_eq!(sd(A1, A0, (-8i32) as u32), 0xfeb5_3c23);
    assert_eq!(amo_d(0, 31, A0, A1), 0x00b5_3faf, "amoadd.d t6, a1, (a0)");
    assert_eq!(amo_d(0b00010, 29, A0, 0), 0x1005_3eaf, "lr.d t4, (a0)");
    assert_eq!(amo_d(0b00011, 30, A0, A2), 0x18c5_3f2f, "sc.d t5, a2, (a0)");
    assert_eq!(lb(T0, SP, 0), 0x0001_0283, "lb t0, 0(sp)");
}

// ---- the machine ------------------------------------------------------------------------

struct Machine {
    mem: GuestMemory,
}

impl Machine {
    /// Root at RAM, L1 at +0x1000, L0 at +0x2000; VA page `v` maps PA RAM + `v`.
    fn new(code: &[u32]) -> Self {
        let mem = GuestMemory::new(&[(GuestPhysAddr(RAM), 1 << 20)]).unwrap();
        let m = Self { mem };
        let w = |pa: u64, pte: Pte| m.mem.write_u64(GuestPhysAddr(pa), pte.0).unwrap();
        w(RAM, Pte::new((RAM + 0x1000) >> 12, PteFlags::V));
        w(RAM + 0x1000, Pte::new((RAM + 0x2000) >> 12, PteFlags::V));
        let rx = PteFlags::R | PteFlags::X;
        let rw = PteFlags::R | PteFlags::W;
        m.map(CODE_VA, rx, false);
        m.map(EXEMPT_CODE_VA, rx, true);
        m.map(TAGGED, rw, true);
        m.map(TAGGED + 0x1000, rw, true);
        m.map(PLAIN, rw, false);
        m.load(CODE_VA, code);
        m
    }

    fn map(&self, va: u64, flags: PteFlags, mtag: bool) {
        let f = flags | PteFlags::V | PteFlags::U | PteFlags::A | PteFlags::D;
        let mut pte = Pte::new((RAM + va) >> 12, f);
        if mtag {
            pte.0 |= Pte::MTAG_BIT;
        }
        self.mem
            .write_u64(
                GuestPhysAddr(RAM + 0x2000 + ((va >> 12) & 0x1ff) * 8),
                pte.0,
            )
            .unwrap();
    }

    fn load(&self, va: u64, code: &[u32]) {
        for (i, word) in code.iter().enumerate() {
            self.mem
                .write_u32(GuestPhysAddr(RAM + va + 4 * i as u64), *word)
                .unwrap();
        }
    }

    fn pa(va: u64) -> GuestPhysAddr {
        GuestPhysAddr(RAM + (va & 0xff_ffff))
    }

    fn tag(&self, va: u64) -> u8 {
        self.mem.tags().load_tag(Self::pa(va)).unwrap()
    }

    fn set_tag(&self, va: u64, len: u64, tag: u8) {
        self.mem.tags().set_tags(Self::pa(va), len, tag).unwrap();
    }

    fn read_u64(&self, va: u64) -> u64 {
        self.mem.read_u64(Self::pa(va)).unwrap()
    }

    /// A hart under Sv39 at `CODE_VA` with `senvcfg` = `senvcfg`.
    fn hart(&self, senvcfg: u64) -> Hart<'_> {
        self.hart_with(senvcfg, CostModel::default())
    }

    fn hart_with(&self, senvcfg: u64, cost: CostModel) -> Hart<'_> {
        let cfg = HartConfig {
            cost,
            ..HartConfig::default()
        };
        let mut h = Hart::new(&self.mem, None, cfg);
        h.set_satp(Satp::new(SatpMode::Sv39, 1, RAM >> 12));
        h.set_senvcfg(senvcfg);
        h.pc = CODE_VA;
        h
    }
}

// ---- instructions -----------------------------------------------------------------------

#[test]
fn without_tagging_every_mop_writes_zero_and_loadtag_is_illegal() {
    let code = [
        gentag(T0),
        addtag(T1, A0, 3),
        settag(A0, 15),
        checktag(A0, 0),
        mop_r(17, T2, A0),
        mop_rr(5, 28, A0, A1),
        mop_rr(0, 29, A0, 3), // MOP.RR.0 with rd != 0: not a settag
        ECALL,
        loadtag(T2, A0),
    ];
    let m = Machine::new(&code);
    // Masking on but MT_MODE off, then both off: the same.
    for senvcfg in [0b11 << 32, 0] {
        let mut h = m.hart(senvcfg);
        h.x[A0 as usize] = tagged(5, TAGGED);
        h.x[A1 as usize] = 1;
        for r in [T0, T1, T2, 28, 29] {
            h.x[r as usize] = 0xdead;
        }
        assert_eq!(h.run(100), Exit::Ecall);
        for r in [T0, T1, T2, 28, 29] {
            assert_eq!(h.x[r as usize], 0, "x{r}: a MOP writes 0");
        }
        assert_eq!(m.tag(TAGGED), 0, "settag as a MOP stores no tag");
        assert_eq!(h.stats().tags, Default::default());
        h.pc += 4;
        assert_eq!(
            h.run(10),
            Exit::IllegalInstruction {
                bits: loadtag(T2, A0)
            }
        );
    }
}

#[test]
fn senvcfg_fields_are_warl_and_tagging_needs_pointer_masking() {
    let m = Machine::new(&[gentag(T0), ECALL]);
    let mut h = m.hart(0);
    h.set_senvcfg(u64::MAX);
    assert_eq!(
        h.senvcfg(),
        TAGGING_ON,
        "MT_MODE 0b11 (7-bit tags) reads back 0b10"
    );
    h.set_senvcfg((0b01 << 32) | (0b01 << 34));
    assert_eq!(h.senvcfg(), 0, "the reserved encodings 0b01 read back 0b00");
    h.set_senvcfg(0b10 << 34);
    assert_eq!(h.senvcfg(), 0b10 << 34);
    h.set_gentag_exclude(!(1u16 << 9));
    h.x[T0 as usize] = 1;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(
        h.x[T0 as usize], 0,
        "MT_MODE without PMM: gentag is the MOP"
    );
}

#[test]
fn gentag_is_uniform_over_the_included_tags() {
    let m = Machine::new(&[gentag(T0), ECALL]);
    let mut h = m.hart(TAGGING_ON);
    let mut seen = [0u32; 16];
    let include: u16 = 0b1010_0000_0110_0010; // tags 1, 5, 6, 13, 15
    h.set_gentag_exclude(!include);
    for _ in 0..1600 {
        h.pc = CODE_VA;
        assert_eq!(h.run(10), Exit::Ecall);
        let v = h.x[T0 as usize];
        assert_eq!(v & ((1 << 60) - 1), 0, "gentag clears rd below the tag");
        seen[(v >> 60) as usize] += 1;
    }
    for (t, n) in seen.iter().enumerate() {
        if include & (1 << t) != 0 {
            assert!(
                (220..=420).contains(n),
                "tag {t} drawn {n} times of 1600 (5 tags)"
            );
        } else {
            assert_eq!(*n, 0, "excluded tag {t} drawn");
        }
    }
    h.set_gentag_exclude(0xffff);
    h.pc = CODE_VA;
    h.x[T0 as usize] = 7;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(
        h.x[T0 as usize], 0,
        "everything excluded: tag 0, as arm64's IRG"
    );
    // The same seed draws the same tags.
    let draw = |h: &mut Hart<'_>| {
        h.pc = CODE_VA;
        h.run(10);
        h.x[T0 as usize]
    };
    h.set_gentag_exclude(0);
    h.set_gentag_seed(42);
    let a: Vec<u64> = (0..8).map(|_| draw(&mut h)).collect();
    h.set_gentag_seed(42);
    let b: Vec<u64> = (0..8).map(|_| draw(&mut h)).collect();
    assert_eq!(a, b);
}

#[test]
fn addtag_adds_modulo_16_and_keeps_the_address() {
    let code = [
        addtag(T0, A0, 3),
        addtag(T1, A0, 0),  // rs1 != 0, imm 0: copies rs1 (our choice)
        addtag(T2, 0, 12),  // rs1 = x0: the tag imm alone
        addtag(28, A1, 15), // 0xf + 15 wraps to 0xe
        checktag(0, 3),     // rd = rs1 = x0: a no-op MOP, not a check of address 0
        ECALL,
    ];
    let m = Machine::new(&code);
    let mut h = m.hart(TAGGING_ON);
    h.x[A0 as usize] = tagged(0xe, 0x1234_5678);
    h.x[A1 as usize] = tagged(0xf, 0xabc);
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(
        h.x[T0 as usize],
        tagged(0x1, 0x1234_5678),
        "0xe + 3 = 0x11 mod 16"
    );
    assert_eq!(h.x[T1 as usize], tagged(0xe, 0x1234_5678));
    assert_eq!(h.x[T2 as usize], tagged(12, 0));
    assert_eq!(h.x[28], tagged(0xe, 0xabc));
    assert_eq!(h.stats().tags.checks, 0);
}

#[test]
fn settag_tags_its_granules_across_pages_and_loadtag_reads_them() {
    let code = [
        settag(A0, 15), // 16 granules from TAGGED + 0xf87 & !15 = +0xf80: 8 + 8 over two pages
        settag(A1, 0),  // one granule of the untagged page: dropped
        loadtag(T0, A2),
        loadtag(T1, A1),
        ECALL,
    ];
    let m = Machine::new(&code);
    let mut h = m.hart(TAGGING_ON);
    h.x[A0 as usize] = tagged(0xb, TAGGED + 0xf87);
    h.x[A1 as usize] = tagged(0x4, PLAIN);
    h.x[A2 as usize] = tagged(0x2, TAGGED + 0x1070); // the last granule settag wrote
    assert_eq!(h.run(10), Exit::Ecall);
    let tags: Vec<u8> = (0..18).map(|g| m.tag(TAGGED + 0xf70 + 16 * g)).collect();
    let mut want = vec![0xb; 18];
    want[0] = 0;
    want[17] = 0;
    assert_eq!(tags, want, "exactly granules +0xf80..+0x1080");
    assert_eq!(m.tag(PLAIN), 0, "untagged page: tag store dropped");
    assert_eq!(h.x[T0 as usize], 0xb, "loadtag reads the granule's tag");
    assert_eq!(h.x[T1 as usize], 0, "loadtag of an untagged page reads 0");
    assert_eq!(h.stats().tags.settag_granules, 16);
}

#[test]
fn settag_faults_as_a_store_before_writing_any_tag() {
    // The second page of a 16-granule settag is read-only: a store page fault on it, and
    // no tag written on the first page either.
    let m = Machine::new(&[settag(A0, 15), ECALL]);
    m.map(TAGGED + 0x1000, PteFlags::R, true);
    let mut h = m.hart(TAGGING_ON);
    h.x[A0 as usize] = tagged(3, TAGGED + 0xf80);
    assert_eq!(
        h.run(10),
        Exit::PageFault {
            va: GuestVirtAddr(TAGGED + 0x1000),
            access: AccessType::Store
        }
    );
    assert_eq!(m.tag(TAGGED + 0xf80), 0, "nothing written before the fault");
    assert_eq!((h.pc, h.stats().tags.settag_granules), (CODE_VA, 0));
}

#[test]
fn checktag_checks_every_granule_it_names() {
    let m = Machine::new(&[checktag(A0, 2), ECALL]);
    m.set_tag(TAGGED + 0x100, 0x30, 6);
    let mut h = m.hart(TAGGING_ON);
    h.x[A0 as usize] = tagged(6, TAGGED + 0x108);
    assert_eq!(h.run(10), Exit::Ecall, "three matching granules");
    m.set_tag(TAGGED + 0x120, 1, 7);
    h.pc = CODE_VA;
    assert_eq!(
        h.run(10),
        Exit::TagCheckFault {
            va: GuestVirtAddr(tagged(6, TAGGED + 0x120)),
            access: AccessType::Load
        },
        "the third granule mismatches"
    );
    assert_eq!(h.pc, CODE_VA);
    let t = h.stats().tags;
    assert_eq!((t.checks, t.sync_mismatches), (2, 1));
}

// ---- checks at the data-access seam -----------------------------------------------------

/// A granule boundary at `TAGGED + 0x110`: granule `+0x100` holds tag 3, `+0x110` tag 5.
fn two_granules(m: &Machine) {
    m.set_tag(TAGGED + 0x100, 16, 3);
    m.set_tag(TAGGED + 0x110, 16, 5);
}

#[test]
fn a_load_spanning_two_granules_faults_on_the_second_and_writes_no_register() {
    let m = Machine::new(&[ld(T0, A0, 0), ld(T1, A0, 8), ECALL]);
    two_granules(&m);
    m.mem.write_u64(Machine::pa(TAGGED + 0x104), 0x99).unwrap();
    m.mem
        .write_u64(Machine::pa(TAGGED + 0x10c), 0x1122_3344_5566_7788)
        .unwrap();
    let mut h = m.hart(TAGGING_ON);
    // ld at +0x104 lies in the tag-3 granule; ld at +0x10c spans into the tag-5 one.
    h.x[A0 as usize] = tagged(3, TAGGED + 0x104);
    h.x[T1 as usize] = 0x77;
    assert_eq!(
        h.run(10),
        Exit::TagCheckFault {
            va: GuestVirtAddr(tagged(3, TAGGED + 0x110)),
            access: AccessType::Load
        },
        "ld at +0x10c: bytes +0x110.. are in the tag-5 granule"
    );
    assert_eq!(h.x[T0 as usize], 0x99, "the first ld retired");
    assert_eq!((h.pc, h.x[T1 as usize]), (CODE_VA + 4, 0x77), "precise");
    assert_eq!(Exit::SOFTWARE_CHECK_CAUSE, 18);
    assert_eq!(Exit::TAG_MISMATCH_TVAL, 4);
    // A pointer tagged 5, to +0x110 and up, passes.
    h.x[A0 as usize] = tagged(5, TAGGED + 0x108);
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(h.x[T1 as usize], 0x1122_3344, "read +0x110");
}

#[test]
fn stores_amos_and_lr_sc_that_mismatch_are_not_performed() {
    let code = [
        sd(A1, A0, 0),
        amo_d(0, 31, A0, A1),       // amoadd.d t6, a1, (a0)
        amo_d(0b00010, 29, A0, 0),  // lr.d t4, (a0)
        amo_d(0b00011, 30, A0, A2), // sc.d t5, a2, (a0)
        ECALL,
    ];
    let m = Machine::new(&code);
    two_granules(&m);
    let mut h = m.hart(TAGGING_ON);
    // sd at +0x10c (pointer tag 3) spans into the tag-5 granule.
    h.x[A0 as usize] = tagged(3, TAGGED + 0x10c);
    h.x[A1 as usize] = u64::MAX;
    let fault = |va| Exit::TagCheckFault {
        va: GuestVirtAddr(va),
        access: AccessType::Store,
    };
    assert_eq!(h.run(10), fault(tagged(3, TAGGED + 0x110)));
    assert_eq!(m.read_u64(TAGGED + 0x108), 0);
    assert_eq!(m.read_u64(TAGGED + 0x110), 0, "no byte of the store moved");
    // The atomics at +0x110 with pointer tag 3.
    h.x[A0 as usize] = tagged(3, TAGGED + 0x110);
    for (k, access) in [
        (1u64, AccessType::Store),
        (2, AccessType::Load),
        (3, AccessType::Store),
    ] {
        h.pc = CODE_VA + 4 * k;
        h.x[29] = 9;
        h.x[31] = 9;
        assert_eq!(
            h.run(10),
            Exit::TagCheckFault {
                va: GuestVirtAddr(tagged(3, TAGGED + 0x110)),
                access
            }
        );
        assert_eq!(h.pc, CODE_VA + 4 * k);
    }
    assert_eq!((h.x[29], h.x[31]), (9, 9), "no rd written");
    assert_eq!(m.read_u64(TAGGED + 0x110), 0);
    // Tag 5: all of them go through.
    h.x[A0 as usize] = tagged(5, TAGGED + 0x110);
    h.x[A1 as usize] = 2;
    h.x[A2 as usize] = 40;
    h.pc = CODE_VA + 4;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!((h.x[31], h.x[29], h.x[30]), (0, 2, 0), "amoadd, lr, sc");
    assert_eq!(m.read_u64(TAGGED + 0x110), 40);
    let t = h.stats().tags;
    assert_eq!((t.checks, t.sync_mismatches, t.async_mismatches), (7, 4, 0));
}

#[test]
fn async_mode_performs_the_access_and_raises_a_sticky_flag() {
    let m = Machine::new(&[sd(A1, A0, 0), ld(T0, A0, 0), ECALL]);
    two_granules(&m);
    let mut h = m.hart(TAGGING_ON);
    h.set_tag_check_mode(TagCheckMode::Async);
    h.x[A0 as usize] = tagged(3, TAGGED + 0x110);
    h.x[A1 as usize] = 0x55;
    assert!(!h.async_tag_fault_pending());
    assert_eq!(h.run(10), Exit::Ecall, "no synchronous exit");
    assert_eq!(m.read_u64(TAGGED + 0x110), 0x55, "the store was performed");
    assert_eq!(h.x[T0 as usize], 0x55);
    assert!(h.async_tag_fault_pending());
    assert!(h.take_async_tag_fault());
    assert!(!h.take_async_tag_fault(), "taking clears it");
    let t = h.stats().tags;
    assert_eq!((t.checks, t.sync_mismatches, t.async_mismatches), (2, 0, 2));
    // Mode None: no checks at all.
    h.set_tag_check_mode(TagCheckMode::None);
    h.pc = CODE_VA;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(h.stats().tags.checks, 2);
}

#[test]
fn sp_based_accesses_and_exempt_code_pages_are_not_checked() {
    let prog = [lb(T0, SP, 0), lb(T1, A0, 0), ECALL];
    let m = Machine::new(&prog);
    m.load(EXEMPT_CODE_VA, &prog);
    m.set_tag(TAGGED, 16, 9);
    let mut h = m.hart(TAGGING_ON);
    h.x[SP as usize] = TAGGED; // pointer tag 0 against 9: exempt (sp)
    h.x[A0 as usize] = TAGGED;
    assert_eq!(
        h.run(10),
        Exit::TagCheckFault {
            va: GuestVirtAddr(TAGGED),
            access: AccessType::Load
        },
        "the a0-based load is checked"
    );
    assert_eq!(h.pc, CODE_VA + 4);
    // The same code on the exempt code page: both unchecked.
    h.pc = EXEMPT_CODE_VA;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(h.stats().tags.checks, 1);
}

// ---- pointer masking and PTE.MTAG ---------------------------------------------------------

#[test]
fn pointer_masking_ignores_the_top_bits_only_when_enabled() {
    let m = Machine::new(&[ld(T0, A0, 0), ECALL]);
    m.mem.write_u64(Machine::pa(PLAIN + 8), 0xfeed).unwrap();
    let mut h = m.hart(0);
    h.x[A0 as usize] = 0xabcd_0000_0000_0000 | (PLAIN + 8);
    assert_eq!(
        h.run(10),
        Exit::PageFault {
            va: GuestVirtAddr(0xabcd_0000_0000_0000 | (PLAIN + 8)),
            access: AccessType::Load
        },
        "masking off: non-canonical"
    );
    h.set_senvcfg(0b11 << 32);
    assert_eq!(h.run(10), Exit::Ecall, "PMLEN 16: bits 63:48 ignored");
    assert_eq!(h.x[T0 as usize], 0xfeed);
    // Sign extension from bit 47: an address with bit 47 set becomes a kernel-half address
    // (non-canonical for Sv39), and stval reports the transformed address.
    h.pc = CODE_VA;
    h.x[A0 as usize] = 0x0000_8000_0000_0000 | PLAIN;
    assert_eq!(
        h.run(10),
        Exit::PageFault {
            va: GuestVirtAddr(0xffff_8000_0000_0000 | PLAIN),
            access: AccessType::Load
        }
    );
    // PMLEN 7: bits 63:57 ignored, bit 56 is not.
    h.set_senvcfg(0b10 << 32);
    h.pc = CODE_VA;
    h.x[A0 as usize] = 0xfe00_0000_0000_0000 | (PLAIN + 8);
    assert_eq!(h.run(10), Exit::Ecall);
    h.pc = CODE_VA;
    h.x[A0 as usize] = 0x0100_0000_0000_0000 | (PLAIN + 8);
    assert!(matches!(h.run(10), Exit::PageFault { .. }));
    // Instruction fetch is never masked.
    h.set_senvcfg(0b11 << 32);
    h.pc = 0x1000_0000_0000_0000 | CODE_VA;
    assert_eq!(
        h.run(10),
        Exit::PageFault {
            va: GuestVirtAddr(0x1000_0000_0000_0000 | CODE_VA),
            access: AccessType::Fetch
        }
    );
}

#[test]
fn pointer_masking_under_bare_zero_extends() {
    let m = Machine::new(&[]);
    let pa = RAM + 0x40000;
    m.mem.write_u32(GuestPhysAddr(pa), ld(T0, A0, 0)).unwrap();
    m.mem.write_u32(GuestPhysAddr(pa + 4), ECALL).unwrap();
    m.mem.write_u64(GuestPhysAddr(pa + 0x800), 0x77).unwrap();
    let mut h = Hart::new(&m.mem, None, HartConfig::default());
    h.pc = pa;
    h.set_senvcfg(0b11 << 32);
    h.x[A0 as usize] = 0xffff_0000_0000_0000 | (pa + 0x800);
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(h.x[T0 as usize], 0x77);
}

#[test]
fn pte_mtag_is_a_reserved_bit_while_tagging_is_off() {
    let m = Machine::new(&[ld(T0, A0, 0), ECALL]);
    m.map(LATE, PteFlags::R | PteFlags::W, true);
    for senvcfg in [0, 0b11 << 32, 0b10 << 34] {
        let mut h = m.hart(senvcfg);
        h.x[A0 as usize] = LATE;
        assert_eq!(
            h.run(10),
            Exit::PageFault {
                va: GuestVirtAddr(LATE),
                access: AccessType::Load
            },
            "senvcfg {senvcfg:#x}"
        );
    }
    let mut h = m.hart(TAGGING_ON);
    h.x[A0 as usize] = LATE;
    assert_eq!(
        h.run(10),
        Exit::Ecall,
        "tagging on: an attribute (tags 0 = pointer tag 0)"
    );
    assert_eq!(h.stats().tags.checks, 1);
}

// ---- fast path, cycle model, counters -----------------------------------------------------

/// Eight loads and stores to one page.
const EIGHT: [u32; 9] = [
    ld(T0, A0, 0),
    sd(T0, A0, 8),
    ld(T0, A0, 16),
    sd(T0, A0, 24),
    ld(T0, A0, 32),
    sd(T0, A0, 40),
    ld(T0, A0, 48),
    sd(T0, A0, 56),
    ECALL,
];

#[test]
fn each_checked_access_costs_one_tag_load_and_untagged_pages_keep_the_fast_path() {
    let m = Machine::new(&EIGHT);
    let run = |va: u64, senvcfg: u64, tag_load: u32| {
        let cost = CostModel {
            tag_load,
            ..CostModel::default()
        };
        let mut h = m.hart_with(senvcfg, cost);
        h.x[A0 as usize] = va;
        assert_eq!(h.run(100), Exit::Ecall);
        h.stats()
    };
    // Tagged page, checks on: 8 checks, each priced `tag_load` exactly.
    let a = run(TAGGED, TAGGING_ON, 2);
    let b = run(TAGGED, TAGGING_ON, 0);
    assert_eq!(a.tags.checks, 8);
    assert_eq!(a.cycles - b.cycles, 8 * 2);
    // An untagged page with tagging on costs and counts exactly as with tagging off: the
    // host-pointer fast path serves it (TLB hits are counted per fast access).
    let plain_on = run(PLAIN, TAGGING_ON, 2);
    let plain_off = run(PLAIN, 0, 2);
    assert_eq!(plain_on.tags.checks, 0);
    assert_eq!(plain_on.cycles, plain_off.cycles);
    assert_eq!(plain_on.mmu, plain_off.mmu);
    // The checks are the only modelled difference of a tagged page.
    assert_eq!(b.cycles, plain_on.cycles);
}

#[test]
fn a_fence_drops_the_checked_host_pointer_entry_like_any_other() {
    let m = Machine::new(&[ld(T0, A0, 0), ld(T1, A0, 8), ECALL]);
    m.set_tag(TAGGED, 16, 3);
    m.mem.write_u64(Machine::pa(TAGGED + 8), 1).unwrap();
    let mut h = m.hart(TAGGING_ON);
    h.x[A0 as usize] = tagged(3, TAGGED);
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(
        h.x[T1 as usize], 1,
        "the second ld went through the checked entry"
    );
    // Remap the page to PLAIN's frame (tagged-data, MTAG), tag 3 there, and fence it.
    let f = PteFlags::V | PteFlags::U | PteFlags::R | PteFlags::W | PteFlags::A | PteFlags::D;
    let pte = Pte::new((RAM + PLAIN) >> 12, f).0 | Pte::MTAG_BIT;
    m.mem
        .write_u64(GuestPhysAddr(RAM + 0x2000 + (TAGGED >> 12) * 8), pte)
        .unwrap();
    m.set_tag(PLAIN, 16, 3);
    m.mem.write_u64(Machine::pa(PLAIN + 8), 2).unwrap();
    h.sfence_vma(Some(TAGGED), None);
    h.pc = CODE_VA;
    assert_eq!(h.run(10), Exit::Ecall);
    assert_eq!(h.x[T1 as usize], 2, "the new frame, through a fresh walk");
    // And its tags are checked: retag the new frame and the same loads fault.
    m.set_tag(PLAIN, 16, 4);
    h.pc = CODE_VA;
    assert_eq!(
        h.run(10),
        Exit::TagCheckFault {
            va: GuestVirtAddr(tagged(3, TAGGED)),
            access: AccessType::Load
        }
    );
}
