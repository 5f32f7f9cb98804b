//! Disassembly: `Display` for [`Inst`] in the syntax of GNU objdump.
//!
//! The text is what `riscv64-linux-gnu-objdump -d -M no-aliases,numeric` (GNU Binutils
//! 2.40) prints for the 32-bit form of the instruction: registers as `x0`–`x31` /
//! `f0`–`f31`, immediates in decimal except shift amounts and `lui`/`auipc` immediates
//! (hex), CSRs by the name binutils gives the number under privileged spec 1.12, its
//! default when an object carries no `priv_spec` attribute (hex otherwise; the `numeric`
//! option does not affect CSR names, and spec 1.11 objects would also name the withdrawn
//! N-extension `ustatus`… CSRs), a static rounding mode as a trailing `,rne` … `,rmm`
//! (`,unknown` for the reserved values 5 and 6, nothing for DYN), and branch/jump targets
//! as the absolute address `0x…` that objdump prints when it has no symbol.
//!
//! Compressed instructions print their 32-bit expansion (`c.addi x8,-1` prints as
//! `addi x8,x8,-1`): [`Inst`] does not record which RVC form it came from, and several
//! forms expand to the same `Inst` (`c.addi x2,16` and `c.addi16sp x2,16`), so the `c.`
//! mnemonic cannot be recovered without widening the contract.
//!
//! Where the decoder accepts an encoding that binutils 2.40 prints as `.4byte` (spec-legal
//! encodings it does not know), the text is the natural extension of objdump's syntax:
//! - `fence` with a reserved `fm`, `rd` or `rs1` prints as a plain `fence pred,succ`
//!   (`fence.i` likewise ignores its reserved fields), as the spec says to execute it;
//! - `fcvt.d.s`, `fcvt.d.w`, `fcvt.d.wu` with `rm != 0` print the rounding mode, including
//!   `,dyn` for 7 (binutils 2.40 only knows these with `rm = 000` and prints no mode).

use std::fmt;

use crate::inst::{Inst, Op};

/// An [`Inst`] paired with the address it sits at, so that branch and jump targets print
/// as absolute addresses the way objdump prints them. Made by [`Inst::disasm_at`].
#[derive(Debug, Clone, Copy)]
pub struct Disasm {
    inst: Inst,
    pc: u64,
}

impl Inst {
    /// Returns a [`fmt::Display`] adapter that prints this instruction as objdump would
    /// at virtual address `pc` (branch/jump targets are `pc + imm`, wrapping at 2^64).
    pub const fn disasm_at(self, pc: u64) -> Disasm {
        Disasm { inst: self, pc }
    }
}

impl fmt::Display for Inst {
    /// Prints the instruction as objdump would at address 0 (see [`Inst::disasm_at`] for
    /// other addresses; only `jal` and branch targets depend on it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.disasm_at(0), f)
    }
}

/// How the operands of an op are laid out.
#[derive(Clone, Copy)]
enum Form {
    /// No operands.
    None,
    /// `rd,0x<imm >> 12>` (lui, auipc).
    U,
    /// `rd,<target>` (jal).
    J,
    /// `rs1,rs2,<target>` (branches).
    B,
    /// `rd,imm(rs1)`: integer load or jalr.
    Load,
    /// `fd,imm(rs1)`: FP load.
    FLoad,
    /// `rs2,imm(rs1)`: integer store.
    Store,
    /// `fs2,imm(rs1)`: FP store.
    FStore,
    /// `rd,rs1,imm` (decimal).
    I,
    /// `rd,rs1,0x<shamt>`.
    Shift,
    /// `rd,rs1,rs2`, all integer.
    R,
    /// `rd,csr,rs1` (rs1 printed as a register, or as a decimal uimm for the *i forms).
    Csr { uimm: bool },
    /// `rd,(rs1)` (lr) with the `.aq`/`.rl` suffix.
    Lr,
    /// `rd,rs2,(rs1)` (sc, amo*) with the `.aq`/`.rl` suffix.
    Amo,
    /// `fd,fs1,fs2,fs3[,rm]`.
    R4,
    /// `fd,fs1,fs2[,rm]`.
    FpRm,
    /// `fd,fs1,fs2`.
    Fp,
    /// `<rd>,<rs1>[,rm]` where the register files are given.
    UnaryRm { rd_fp: bool, rs1_fp: bool },
    /// Like `UnaryRm` for the exact widening conversions, which objdump prints without a
    /// rounding mode when `rm = 0`.
    Widen { rs1_fp: bool },
    /// `<rd>,<rs1>` where the register files are given.
    Unary { rd_fp: bool, rs1_fp: bool },
    /// `xd,fs1,fs2` (comparisons).
    FCmp,
    /// `pred,succ`, or `fence.tso`.
    Fence,
    /// `rs1,rs2` (sfence.vma).
    Rs1Rs2,
    /// `.n` suffix, then `rd,rs1` (Zimop `mop.r.n`, binutils' syntax).
    MopR,
    /// `.n` suffix, then `rd,rs1,rs2` (Zimop `mop.rr.n`).
    MopRR,
    /// `rd` (`gentag`).
    Rd,
    /// `rd,rs1,imm4` (`addtag`).
    RdRs1Imm,
    /// `rs1,imm4` (`settag`, `checktag`).
    Rs1Imm,
}

/// The mnemonic and operand form of `op` (Unprivileged chapter 25 "RISC-V Assembly
/// Programmer's Handbook" and binutils `opcodes/riscv-opc.c` spell them).
const fn info(op: Op) -> (&'static str, Form) {
    use Form::*;
    const XF: Form = UnaryRm {
        rd_fp: false,
        rs1_fp: true,
    };
    const FX: Form = UnaryRm {
        rd_fp: true,
        rs1_fp: false,
    };
    const FF: Form = UnaryRm {
        rd_fp: true,
        rs1_fp: true,
    };
    match op {
        Op::Lui => ("lui", U),
        Op::Auipc => ("auipc", U),
        Op::Jal => ("jal", J),
        Op::Jalr => ("jalr", Load),
        Op::Beq => ("beq", B),
        Op::Bne => ("bne", B),
        Op::Blt => ("blt", B),
        Op::Bge => ("bge", B),
        Op::Bltu => ("bltu", B),
        Op::Bgeu => ("bgeu", B),
        Op::Lb => ("lb", Load),
        Op::Lh => ("lh", Load),
        Op::Lw => ("lw", Load),
        Op::Ld => ("ld", Load),
        Op::Lbu => ("lbu", Load),
        Op::Lhu => ("lhu", Load),
        Op::Lwu => ("lwu", Load),
        Op::Sb => ("sb", Store),
        Op::Sh => ("sh", Store),
        Op::Sw => ("sw", Store),
        Op::Sd => ("sd", Store),
        Op::Addi => ("addi", I),
        Op::Slti => ("slti", I),
        Op::Sltiu => ("sltiu", I),
        Op::Xori => ("xori", I),
        Op::Ori => ("ori", I),
        Op::Andi => ("andi", I),
        Op::Slli => ("slli", Shift),
        Op::Srli => ("srli", Shift),
        Op::Srai => ("srai", Shift),
        Op::Add => ("add", R),
        Op::Sub => ("sub", R),
        Op::Sll => ("sll", R),
        Op::Slt => ("slt", R),
        Op::Sltu => ("sltu", R),
        Op::Xor => ("xor", R),
        Op::Srl => ("srl", R),
        Op::Sra => ("sra", R),
        Op::Or => ("or", R),
        Op::And => ("and", R),
        Op::Addiw => ("addiw", I),
        Op::Slliw => ("slliw", Shift),
        Op::Srliw => ("srliw", Shift),
        Op::Sraiw => ("sraiw", Shift),
        Op::Addw => ("addw", R),
        Op::Subw => ("subw", R),
        Op::Sllw => ("sllw", R),
        Op::Srlw => ("srlw", R),
        Op::Sraw => ("sraw", R),
        Op::Fence => ("fence", Fence),
        Op::Ecall => ("ecall", None),
        Op::Ebreak => ("ebreak", None),
        Op::FenceI => ("fence.i", None),
        Op::Csrrw => ("csrrw", Csr { uimm: false }),
        Op::Csrrs => ("csrrs", Csr { uimm: false }),
        Op::Csrrc => ("csrrc", Csr { uimm: false }),
        Op::Csrrwi => ("csrrwi", Csr { uimm: true }),
        Op::Csrrsi => ("csrrsi", Csr { uimm: true }),
        Op::Csrrci => ("csrrci", Csr { uimm: true }),
        Op::Mul => ("mul", R),
        Op::Mulh => ("mulh", R),
        Op::Mulhsu => ("mulhsu", R),
        Op::Mulhu => ("mulhu", R),
        Op::Div => ("div", R),
        Op::Divu => ("divu", R),
        Op::Rem => ("rem", R),
        Op::Remu => ("remu", R),
        Op::Mulw => ("mulw", R),
        Op::Divw => ("divw", R),
        Op::Divuw => ("divuw", R),
        Op::Remw => ("remw", R),
        Op::Remuw => ("remuw", R),
        Op::LrW => ("lr.w", Lr),
        Op::ScW => ("sc.w", Amo),
        Op::AmoswapW => ("amoswap.w", Amo),
        Op::AmoaddW => ("amoadd.w", Amo),
        Op::AmoxorW => ("amoxor.w", Amo),
        Op::AmoandW => ("amoand.w", Amo),
        Op::AmoorW => ("amoor.w", Amo),
        Op::AmominW => ("amomin.w", Amo),
        Op::AmomaxW => ("amomax.w", Amo),
        Op::AmominuW => ("amominu.w", Amo),
        Op::AmomaxuW => ("amomaxu.w", Amo),
        Op::LrD => ("lr.d", Lr),
        Op::ScD => ("sc.d", Amo),
        Op::AmoswapD => ("amoswap.d", Amo),
        Op::AmoaddD => ("amoadd.d", Amo),
        Op::AmoxorD => ("amoxor.d", Amo),
        Op::AmoandD => ("amoand.d", Amo),
        Op::AmoorD => ("amoor.d", Amo),
        Op::AmominD => ("amomin.d", Amo),
        Op::AmomaxD => ("amomax.d", Amo),
        Op::AmominuD => ("amominu.d", Amo),
        Op::AmomaxuD => ("amomaxu.d", Amo),
        Op::Flw => ("flw", FLoad),
        Op::Fsw => ("fsw", FStore),
        Op::FmaddS => ("fmadd.s", R4),
        Op::FmsubS => ("fmsub.s", R4),
        Op::FnmsubS => ("fnmsub.s", R4),
        Op::FnmaddS => ("fnmadd.s", R4),
        Op::FaddS => ("fadd.s", FpRm),
        Op::FsubS => ("fsub.s", FpRm),
        Op::FmulS => ("fmul.s", FpRm),
        Op::FdivS => ("fdiv.s", FpRm),
        Op::FsqrtS => ("fsqrt.s", FF),
        Op::FsgnjS => ("fsgnj.s", Fp),
        Op::FsgnjnS => ("fsgnjn.s", Fp),
        Op::FsgnjxS => ("fsgnjx.s", Fp),
        Op::FminS => ("fmin.s", Fp),
        Op::FmaxS => ("fmax.s", Fp),
        Op::FcvtWS => ("fcvt.w.s", XF),
        Op::FcvtWuS => ("fcvt.wu.s", XF),
        Op::FcvtLS => ("fcvt.l.s", XF),
        Op::FcvtLuS => ("fcvt.lu.s", XF),
        Op::FmvXW => (
            "fmv.x.w",
            Unary {
                rd_fp: false,
                rs1_fp: true,
            },
        ),
        Op::FeqS => ("feq.s", FCmp),
        Op::FltS => ("flt.s", FCmp),
        Op::FleS => ("fle.s", FCmp),
        Op::FclassS => (
            "fclass.s",
            Unary {
                rd_fp: false,
                rs1_fp: true,
            },
        ),
        Op::FcvtSW => ("fcvt.s.w", FX),
        Op::FcvtSWu => ("fcvt.s.wu", FX),
        Op::FcvtSL => ("fcvt.s.l", FX),
        Op::FcvtSLu => ("fcvt.s.lu", FX),
        Op::FmvWX => (
            "fmv.w.x",
            Unary {
                rd_fp: true,
                rs1_fp: false,
            },
        ),
        Op::Fld => ("fld", FLoad),
        Op::Fsd => ("fsd", FStore),
        Op::FmaddD => ("fmadd.d", R4),
        Op::FmsubD => ("fmsub.d", R4),
        Op::FnmsubD => ("fnmsub.d", R4),
        Op::FnmaddD => ("fnmadd.d", R4),
        Op::FaddD => ("fadd.d", FpRm),
        Op::FsubD => ("fsub.d", FpRm),
        Op::FmulD => ("fmul.d", FpRm),
        Op::FdivD => ("fdiv.d", FpRm),
        Op::FsqrtD => ("fsqrt.d", FF),
        Op::FsgnjD => ("fsgnj.d", Fp),
        Op::FsgnjnD => ("fsgnjn.d", Fp),
        Op::FsgnjxD => ("fsgnjx.d", Fp),
        Op::FminD => ("fmin.d", Fp),
        Op::FmaxD => ("fmax.d", Fp),
        Op::FcvtSD => ("fcvt.s.d", FF),
        Op::FcvtDS => ("fcvt.d.s", Widen { rs1_fp: true }),
        Op::FcvtWD => ("fcvt.w.d", XF),
        Op::FcvtWuD => ("fcvt.wu.d", XF),
        Op::FcvtLD => ("fcvt.l.d", XF),
        Op::FcvtLuD => ("fcvt.lu.d", XF),
        Op::FmvXD => (
            "fmv.x.d",
            Unary {
                rd_fp: false,
                rs1_fp: true,
            },
        ),
        Op::FeqD => ("feq.d", FCmp),
        Op::FltD => ("flt.d", FCmp),
        Op::FleD => ("fle.d", FCmp),
        Op::FclassD => (
            "fclass.d",
            Unary {
                rd_fp: false,
                rs1_fp: true,
            },
        ),
        Op::FcvtDW => ("fcvt.d.w", Widen { rs1_fp: false }),
        Op::FcvtDWu => ("fcvt.d.wu", Widen { rs1_fp: false }),
        Op::FcvtDL => ("fcvt.d.l", FX),
        Op::FcvtDLu => ("fcvt.d.lu", FX),
        Op::FmvDX => (
            "fmv.d.x",
            Unary {
                rd_fp: true,
                rs1_fp: false,
            },
        ),
        Op::Sret => ("sret", None),
        Op::Mret => ("mret", None),
        Op::Wfi => ("wfi", None),
        Op::SfenceVma => ("sfence.vma", Rs1Rs2),
        Op::MopR => ("mop.r", MopR),
        Op::MopRR => ("mop.rr", MopRR),
        Op::Gentag => ("gentag", Rd),
        Op::Addtag => ("addtag", RdRs1Imm),
        Op::Settag => ("settag", Rs1Imm),
        Op::Checktag => ("checktag", Rs1Imm),
        Op::Loadtag => (
            "loadtag",
            Unary {
                rd_fp: false,
                rs1_fp: false,
            },
        ),
    }
}

/// The mnemonic of `op` as the assembler spells it (`"fcvt.w.s"`, `"amoadd.d"`), without
/// the `.aq`/`.rl` suffixes of the A extension.
pub const fn mnemonic(op: Op) -> &'static str {
    info(op).0
}

/// An integer register, printed `x<n>`.
struct X(u8);

impl fmt::Display for X {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "x{}", self.0)
    }
}

/// An FP register, printed `f<n>`.
struct F(u8);

impl fmt::Display for F {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "f{}", self.0)
    }
}

/// A register of the given file.
struct Reg {
    fp: bool,
    n: u8,
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.fp { 'f' } else { 'x' };
        write!(f, "{prefix}{}", self.n)
    }
}

/// The objdump rounding-mode operand for a raw `rm` field, with its leading comma: DYN (7)
/// prints nothing, the reserved 5 and 6 print `,unknown`.
const fn rm_suffix(rm: u8) -> &'static str {
    match rm {
        0 => ",rne",
        1 => ",rtz",
        2 => ",rdn",
        3 => ",rup",
        4 => ",rmm",
        7 => "",
        _ => ",unknown",
    }
}

/// The `.aq`/`.rl` suffix for the A-extension ordering bits (`rm` bit 1 = aq, bit 0 = rl).
const fn aqrl_suffix(rm: u8) -> &'static str {
    match rm & 3 {
        0 => "",
        1 => ".rl",
        2 => ".aq",
        _ => ".aqrl",
    }
}

/// A FENCE predecessor/successor set (`PI PO PR PW` / `SI SO SR SW`) as objdump prints it:
/// the letters of the set bits in `iorw` order, or `unknown` for the empty set.
struct FenceSet(u32);

impl fmt::Display for FenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 & 0xf == 0 {
            return f.write_str("unknown");
        }
        for (bit, letter) in [(8, 'i'), (4, 'o'), (2, 'r'), (1, 'w')] {
            if self.0 & bit != 0 {
                fmt::Write::write_char(f, letter)?;
            }
        }
        Ok(())
    }
}

/// A CSR operand: the name binutils 2.40 prints for the number, or `0x<hex>`.
struct Csr(u32);

impl fmt::Display for Csr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match csr_name(self.0) {
            Some(name) => f.write_str(name),
            Option::None => write!(f, "{:#x}", self.0),
        }
    }
}

/// The name of CSR `number` as binutils 2.40 prints it, if it has one (`0x300` →
/// `"mstatus"`). Covers the CSRs of the privileged spec 1.12 and the extensions binutils
/// declares in `include/opcode/riscv-opc.h` (`DECLARE_CSR`), including RV32-only `*h`
/// halves, which objdump names on RV64 as well.
pub fn csr_name(number: u32) -> Option<&'static str> {
    CSR_NAMES
        .binary_search_by_key(&number, |&(n, _)| n)
        .ok()
        .and_then(|i| CSR_NAMES.get(i))
        .map(|&(_, name)| name)
}

impl fmt::Display for Disasm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inst;
        let (name, form) = info(i.op);
        let target = self.pc.wrapping_add(i.imm as i64 as u64);
        match form {
            Form::None => f.write_str(name),
            Form::U => write!(f, "{name}\t{},{:#x}", X(i.rd), (i.imm as u32) >> 12),
            Form::J => write!(f, "{name}\t{},{target:#x}", X(i.rd)),
            Form::B => write!(f, "{name}\t{},{},{target:#x}", X(i.rs1), X(i.rs2)),
            Form::Load => write!(f, "{name}\t{},{}({})", X(i.rd), i.imm, X(i.rs1)),
            Form::FLoad => write!(f, "{name}\t{},{}({})", F(i.rd), i.imm, X(i.rs1)),
            Form::Store => write!(f, "{name}\t{},{}({})", X(i.rs2), i.imm, X(i.rs1)),
            Form::FStore => write!(f, "{name}\t{},{}({})", F(i.rs2), i.imm, X(i.rs1)),
            Form::I => write!(f, "{name}\t{},{},{}", X(i.rd), X(i.rs1), i.imm),
            Form::Shift => write!(f, "{name}\t{},{},{:#x}", X(i.rd), X(i.rs1), i.imm),
            Form::R => write!(f, "{name}\t{},{},{}", X(i.rd), X(i.rs1), X(i.rs2)),
            Form::Csr { uimm } => {
                write!(f, "{name}\t{},{},", X(i.rd), Csr(i.imm as u32 & 0xfff))?;
                if uimm {
                    write!(f, "{}", i.rs1)
                } else {
                    write!(f, "{}", X(i.rs1))
                }
            }
            Form::Lr => write!(f, "{name}{}\t{},({})", aqrl_suffix(i.rm), X(i.rd), X(i.rs1)),
            Form::Amo => write!(
                f,
                "{name}{}\t{},{},({})",
                aqrl_suffix(i.rm),
                X(i.rd),
                X(i.rs2),
                X(i.rs1)
            ),
            Form::R4 => write!(
                f,
                "{name}\t{},{},{},{}{}",
                F(i.rd),
                F(i.rs1),
                F(i.rs2),
                F(i.rs3),
                rm_suffix(i.rm)
            ),
            Form::FpRm => write!(
                f,
                "{name}\t{},{},{}{}",
                F(i.rd),
                F(i.rs1),
                F(i.rs2),
                rm_suffix(i.rm)
            ),
            Form::Fp => write!(f, "{name}\t{},{},{}", F(i.rd), F(i.rs1), F(i.rs2)),
            Form::UnaryRm { rd_fp, rs1_fp } => write!(
                f,
                "{name}\t{},{}{}",
                Reg { fp: rd_fp, n: i.rd },
                Reg {
                    fp: rs1_fp,
                    n: i.rs1
                },
                rm_suffix(i.rm)
            ),
            Form::Widen { rs1_fp } => {
                let rs1 = Reg {
                    fp: rs1_fp,
                    n: i.rs1,
                };
                write!(f, "{name}\t{},{rs1}", F(i.rd))?;
                match i.rm {
                    0 => Ok(()),
                    7 => f.write_str(",dyn"),
                    rm => f.write_str(rm_suffix(rm)),
                }
            }
            Form::Unary { rd_fp, rs1_fp } => write!(
                f,
                "{name}\t{},{}",
                Reg { fp: rd_fp, n: i.rd },
                Reg {
                    fp: rs1_fp,
                    n: i.rs1
                }
            ),
            Form::FCmp => write!(f, "{name}\t{},{},{}", X(i.rd), F(i.rs1), F(i.rs2)),
            Form::Fence => {
                let fields = i.imm as u32 & 0xfff;
                if fields == 0x833 {
                    f.write_str("fence.tso")
                } else {
                    write!(f, "{name}\t{},{}", FenceSet(fields >> 4), FenceSet(fields))
                }
            }
            Form::Rs1Rs2 => write!(f, "{name}\t{},{}", X(i.rs1), X(i.rs2)),
            Form::MopR => write!(f, "{name}.{}\t{},{}", i.rs3, X(i.rd), X(i.rs1)),
            Form::MopRR => write!(f, "{name}.{}\t{},{},{}", i.rs3, X(i.rd), X(i.rs1), X(i.rs2)),
            Form::Rd => write!(f, "{name}\t{}", X(i.rd)),
            Form::RdRs1Imm => write!(f, "{name}\t{},{},{}", X(i.rd), X(i.rs1), i.imm),
            Form::Rs1Imm => write!(f, "{name}\t{},{}", X(i.rs1), i.imm),
        }
    }
}

/// CSR numbers and names as binutils 2.40 prints them, sorted by number. Extracted by
/// disassembling `csrrs x1,<n>,x0` for every `n` in 0..4096 with
/// `riscv64-linux-gnu-objdump -M no-aliases,numeric` (the fixture
/// `tests/data/objdump.txt` holds that sweep, so the table is re-checked by `cargo test`).
static CSR_NAMES: &[(u32, &str)] = &[
    (0x001, "fflags"),
    (0x002, "frm"),
    (0x003, "fcsr"),
    (0x008, "vstart"),
    (0x009, "vxsat"),
    (0x00a, "vxrm"),
    (0x00f, "vcsr"),
    (0x015, "seed"),
    (0x100, "sstatus"),
    (0x104, "sie"),
    (0x105, "stvec"),
    (0x106, "scounteren"),
    (0x10a, "senvcfg"),
    (0x10c, "sstateen0"),
    (0x10d, "sstateen1"),
    (0x10e, "sstateen2"),
    (0x10f, "sstateen3"),
    (0x114, "sieh"),
    (0x140, "sscratch"),
    (0x141, "sepc"),
    (0x142, "scause"),
    (0x143, "stval"),
    (0x144, "sip"),
    (0x14d, "stimecmp"),
    (0x150, "siselect"),
    (0x151, "sireg"),
    (0x154, "siph"),
    (0x15c, "stopei"),
    (0x15d, "stimecmph"),
    (0x180, "satp"),
    (0x200, "vsstatus"),
    (0x204, "vsie"),
    (0x205, "vstvec"),
    (0x214, "vsieh"),
    (0x240, "vsscratch"),
    (0x241, "vsepc"),
    (0x242, "vscause"),
    (0x243, "vstval"),
    (0x244, "vsip"),
    (0x24d, "vstimecmp"),
    (0x250, "vsiselect"),
    (0x251, "vsireg"),
    (0x254, "vsiph"),
    (0x25c, "vstopei"),
    (0x25d, "vstimecmph"),
    (0x280, "vsatp"),
    (0x300, "mstatus"),
    (0x301, "misa"),
    (0x302, "medeleg"),
    (0x303, "mideleg"),
    (0x304, "mie"),
    (0x305, "mtvec"),
    (0x306, "mcounteren"),
    (0x308, "mvien"),
    (0x309, "mvip"),
    (0x30a, "menvcfg"),
    (0x30c, "mstateen0"),
    (0x30d, "mstateen1"),
    (0x30e, "mstateen2"),
    (0x30f, "mstateen3"),
    (0x310, "mstatush"),
    (0x313, "midelegh"),
    (0x314, "mieh"),
    (0x318, "mvienh"),
    (0x319, "mviph"),
    (0x31a, "menvcfgh"),
    (0x31c, "mstateen0h"),
    (0x31d, "mstateen1h"),
    (0x31e, "mstateen2h"),
    (0x31f, "mstateen3h"),
    (0x320, "mcountinhibit"),
    (0x323, "mhpmevent3"),
    (0x324, "mhpmevent4"),
    (0x325, "mhpmevent5"),
    (0x326, "mhpmevent6"),
    (0x327, "mhpmevent7"),
    (0x328, "mhpmevent8"),
    (0x329, "mhpmevent9"),
    (0x32a, "mhpmevent10"),
    (0x32b, "mhpmevent11"),
    (0x32c, "mhpmevent12"),
    (0x32d, "mhpmevent13"),
    (0x32e, "mhpmevent14"),
    (0x32f, "mhpmevent15"),
    (0x330, "mhpmevent16"),
    (0x331, "mhpmevent17"),
    (0x332, "mhpmevent18"),
    (0x333, "mhpmevent19"),
    (0x334, "mhpmevent20"),
    (0x335, "mhpmevent21"),
    (0x336, "mhpmevent22"),
    (0x337, "mhpmevent23"),
    (0x338, "mhpmevent24"),
    (0x339, "mhpmevent25"),
    (0x33a, "mhpmevent26"),
    (0x33b, "mhpmevent27"),
    (0x33c, "mhpmevent28"),
    (0x33d, "mhpmevent29"),
    (0x33e, "mhpmevent30"),
    (0x33f, "mhpmevent31"),
    (0x340, "mscratch"),
    (0x341, "mepc"),
    (0x342, "mcause"),
    (0x343, "mtval"),
    (0x344, "mip"),
    (0x34a, "mtinst"),
    (0x34b, "mtval2"),
    (0x350, "miselect"),
    (0x351, "mireg"),
    (0x354, "miph"),
    (0x35c, "mtopei"),
    (0x3a0, "pmpcfg0"),
    (0x3a1, "pmpcfg1"),
    (0x3a2, "pmpcfg2"),
    (0x3a3, "pmpcfg3"),
    (0x3a4, "pmpcfg4"),
    (0x3a5, "pmpcfg5"),
    (0x3a6, "pmpcfg6"),
    (0x3a7, "pmpcfg7"),
    (0x3a8, "pmpcfg8"),
    (0x3a9, "pmpcfg9"),
    (0x3aa, "pmpcfg10"),
    (0x3ab, "pmpcfg11"),
    (0x3ac, "pmpcfg12"),
    (0x3ad, "pmpcfg13"),
    (0x3ae, "pmpcfg14"),
    (0x3af, "pmpcfg15"),
    (0x3b0, "pmpaddr0"),
    (0x3b1, "pmpaddr1"),
    (0x3b2, "pmpaddr2"),
    (0x3b3, "pmpaddr3"),
    (0x3b4, "pmpaddr4"),
    (0x3b5, "pmpaddr5"),
    (0x3b6, "pmpaddr6"),
    (0x3b7, "pmpaddr7"),
    (0x3b8, "pmpaddr8"),
    (0x3b9, "pmpaddr9"),
    (0x3ba, "pmpaddr10"),
    (0x3bb, "pmpaddr11"),
    (0x3bc, "pmpaddr12"),
    (0x3bd, "pmpaddr13"),
    (0x3be, "pmpaddr14"),
    (0x3bf, "pmpaddr15"),
    (0x3c0, "pmpaddr16"),
    (0x3c1, "pmpaddr17"),
    (0x3c2, "pmpaddr18"),
    (0x3c3, "pmpaddr19"),
    (0x3c4, "pmpaddr20"),
    (0x3c5, "pmpaddr21"),
    (0x3c6, "pmpaddr22"),
    (0x3c7, "pmpaddr23"),
    (0x3c8, "pmpaddr24"),
    (0x3c9, "pmpaddr25"),
    (0x3ca, "pmpaddr26"),
    (0x3cb, "pmpaddr27"),
    (0x3cc, "pmpaddr28"),
    (0x3cd, "pmpaddr29"),
    (0x3ce, "pmpaddr30"),
    (0x3cf, "pmpaddr31"),
    (0x3d0, "pmpaddr32"),
    (0x3d1, "pmpaddr33"),
    (0x3d2, "pmpaddr34"),
    (0x3d3, "pmpaddr35"),
    (0x3d4, "pmpaddr36"),
    (0x3d5, "pmpaddr37"),
    (0x3d6, "pmpaddr38"),
    (0x3d7, "pmpaddr39"),
    (0x3d8, "pmpaddr40"),
    (0x3d9, "pmpaddr41"),
    (0x3da, "pmpaddr42"),
    (0x3db, "pmpaddr43"),
    (0x3dc, "pmpaddr44"),
    (0x3dd, "pmpaddr45"),
    (0x3de, "pmpaddr46"),
    (0x3df, "pmpaddr47"),
    (0x3e0, "pmpaddr48"),
    (0x3e1, "pmpaddr49"),
    (0x3e2, "pmpaddr50"),
    (0x3e3, "pmpaddr51"),
    (0x3e4, "pmpaddr52"),
    (0x3e5, "pmpaddr53"),
    (0x3e6, "pmpaddr54"),
    (0x3e7, "pmpaddr55"),
    (0x3e8, "pmpaddr56"),
    (0x3e9, "pmpaddr57"),
    (0x3ea, "pmpaddr58"),
    (0x3eb, "pmpaddr59"),
    (0x3ec, "pmpaddr60"),
    (0x3ed, "pmpaddr61"),
    (0x3ee, "pmpaddr62"),
    (0x3ef, "pmpaddr63"),
    (0x5a8, "scontext"),
    (0x600, "hstatus"),
    (0x602, "hedeleg"),
    (0x603, "hideleg"),
    (0x604, "hie"),
    (0x605, "htimedelta"),
    (0x606, "hcounteren"),
    (0x607, "hgeie"),
    (0x608, "hvien"),
    (0x609, "hvictl"),
    (0x60a, "henvcfg"),
    (0x60c, "hstateen0"),
    (0x60d, "hstateen1"),
    (0x60e, "hstateen2"),
    (0x60f, "hstateen3"),
    (0x613, "hidelegh"),
    (0x615, "htimedeltah"),
    (0x618, "hvienh"),
    (0x61a, "henvcfgh"),
    (0x61c, "hstateen0h"),
    (0x61d, "hstateen1h"),
    (0x61e, "hstateen2h"),
    (0x61f, "hstateen3h"),
    (0x643, "htval"),
    (0x644, "hip"),
    (0x645, "hvip"),
    (0x646, "hviprio1"),
    (0x647, "hviprio2"),
    (0x64a, "htinst"),
    (0x655, "hviph"),
    (0x656, "hviprio1h"),
    (0x657, "hviprio2h"),
    (0x680, "hgatp"),
    (0x6a8, "hcontext"),
    (0x723, "mhpmevent3h"),
    (0x724, "mhpmevent4h"),
    (0x725, "mhpmevent5h"),
    (0x726, "mhpmevent6h"),
    (0x727, "mhpmevent7h"),
    (0x728, "mhpmevent8h"),
    (0x729, "mhpmevent9h"),
    (0x72a, "mhpmevent10h"),
    (0x72b, "mhpmevent11h"),
    (0x72c, "mhpmevent12h"),
    (0x72d, "mhpmevent13h"),
    (0x72e, "mhpmevent14h"),
    (0x72f, "mhpmevent15h"),
    (0x730, "mhpmevent16h"),
    (0x731, "mhpmevent17h"),
    (0x732, "mhpmevent18h"),
    (0x733, "mhpmevent19h"),
    (0x734, "mhpmevent20h"),
    (0x735, "mhpmevent21h"),
    (0x736, "mhpmevent22h"),
    (0x737, "mhpmevent23h"),
    (0x738, "mhpmevent24h"),
    (0x739, "mhpmevent25h"),
    (0x73a, "mhpmevent26h"),
    (0x73b, "mhpmevent27h"),
    (0x73c, "mhpmevent28h"),
    (0x73d, "mhpmevent29h"),
    (0x73e, "mhpmevent30h"),
    (0x73f, "mhpmevent31h"),
    (0x747, "mseccfg"),
    (0x757, "mseccfgh"),
    (0x7a0, "tselect"),
    (0x7a1, "tdata1"),
    (0x7a2, "tdata2"),
    (0x7a3, "tdata3"),
    (0x7a4, "tinfo"),
    (0x7a5, "tcontrol"),
    (0x7a8, "mcontext"),
    (0x7aa, "mscontext"),
    (0x7b0, "dcsr"),
    (0x7b1, "dpc"),
    (0x7b2, "dscratch0"),
    (0x7b3, "dscratch1"),
    (0xb00, "mcycle"),
    (0xb02, "minstret"),
    (0xb03, "mhpmcounter3"),
    (0xb04, "mhpmcounter4"),
    (0xb05, "mhpmcounter5"),
    (0xb06, "mhpmcounter6"),
    (0xb07, "mhpmcounter7"),
    (0xb08, "mhpmcounter8"),
    (0xb09, "mhpmcounter9"),
    (0xb0a, "mhpmcounter10"),
    (0xb0b, "mhpmcounter11"),
    (0xb0c, "mhpmcounter12"),
    (0xb0d, "mhpmcounter13"),
    (0xb0e, "mhpmcounter14"),
    (0xb0f, "mhpmcounter15"),
    (0xb10, "mhpmcounter16"),
    (0xb11, "mhpmcounter17"),
    (0xb12, "mhpmcounter18"),
    (0xb13, "mhpmcounter19"),
    (0xb14, "mhpmcounter20"),
    (0xb15, "mhpmcounter21"),
    (0xb16, "mhpmcounter22"),
    (0xb17, "mhpmcounter23"),
    (0xb18, "mhpmcounter24"),
    (0xb19, "mhpmcounter25"),
    (0xb1a, "mhpmcounter26"),
    (0xb1b, "mhpmcounter27"),
    (0xb1c, "mhpmcounter28"),
    (0xb1d, "mhpmcounter29"),
    (0xb1e, "mhpmcounter30"),
    (0xb1f, "mhpmcounter31"),
    (0xb80, "mcycleh"),
    (0xb82, "minstreth"),
    (0xb83, "mhpmcounter3h"),
    (0xb84, "mhpmcounter4h"),
    (0xb85, "mhpmcounter5h"),
    (0xb86, "mhpmcounter6h"),
    (0xb87, "mhpmcounter7h"),
    (0xb88, "mhpmcounter8h"),
    (0xb89, "mhpmcounter9h"),
    (0xb8a, "mhpmcounter10h"),
    (0xb8b, "mhpmcounter11h"),
    (0xb8c, "mhpmcounter12h"),
    (0xb8d, "mhpmcounter13h"),
    (0xb8e, "mhpmcounter14h"),
    (0xb8f, "mhpmcounter15h"),
    (0xb90, "mhpmcounter16h"),
    (0xb91, "mhpmcounter17h"),
    (0xb92, "mhpmcounter18h"),
    (0xb93, "mhpmcounter19h"),
    (0xb94, "mhpmcounter20h"),
    (0xb95, "mhpmcounter21h"),
    (0xb96, "mhpmcounter22h"),
    (0xb97, "mhpmcounter23h"),
    (0xb98, "mhpmcounter24h"),
    (0xb99, "mhpmcounter25h"),
    (0xb9a, "mhpmcounter26h"),
    (0xb9b, "mhpmcounter27h"),
    (0xb9c, "mhpmcounter28h"),
    (0xb9d, "mhpmcounter29h"),
    (0xb9e, "mhpmcounter30h"),
    (0xb9f, "mhpmcounter31h"),
    (0xc00, "cycle"),
    (0xc01, "time"),
    (0xc02, "instret"),
    (0xc03, "hpmcounter3"),
    (0xc04, "hpmcounter4"),
    (0xc05, "hpmcounter5"),
    (0xc06, "hpmcounter6"),
    (0xc07, "hpmcounter7"),
    (0xc08, "hpmcounter8"),
    (0xc09, "hpmcounter9"),
    (0xc0a, "hpmcounter10"),
    (0xc0b, "hpmcounter11"),
    (0xc0c, "hpmcounter12"),
    (0xc0d, "hpmcounter13"),
    (0xc0e, "hpmcounter14"),
    (0xc0f, "hpmcounter15"),
    (0xc10, "hpmcounter16"),
    (0xc11, "hpmcounter17"),
    (0xc12, "hpmcounter18"),
    (0xc13, "hpmcounter19"),
    (0xc14, "hpmcounter20"),
    (0xc15, "hpmcounter21"),
    (0xc16, "hpmcounter22"),
    (0xc17, "hpmcounter23"),
    (0xc18, "hpmcounter24"),
    (0xc19, "hpmcounter25"),
    (0xc1a, "hpmcounter26"),
    (0xc1b, "hpmcounter27"),
    (0xc1c, "hpmcounter28"),
    (0xc1d, "hpmcounter29"),
    (0xc1e, "hpmcounter30"),
    (0xc1f, "hpmcounter31"),
    (0xc20, "vl"),
    (0xc21, "vtype"),
    (0xc22, "vlenb"),
    (0xc80, "cycleh"),
    (0xc81, "timeh"),
    (0xc82, "instreth"),
    (0xc83, "hpmcounter3h"),
    (0xc84, "hpmcounter4h"),
    (0xc85, "hpmcounter5h"),
    (0xc86, "hpmcounter6h"),
    (0xc87, "hpmcounter7h"),
    (0xc88, "hpmcounter8h"),
    (0xc89, "hpmcounter9h"),
    (0xc8a, "hpmcounter10h"),
    (0xc8b, "hpmcounter11h"),
    (0xc8c, "hpmcounter12h"),
    (0xc8d, "hpmcounter13h"),
    (0xc8e, "hpmcounter14h"),
    (0xc8f, "hpmcounter15h"),
    (0xc90, "hpmcounter16h"),
    (0xc91, "hpmcounter17h"),
    (0xc92, "hpmcounter18h"),
    (0xc93, "hpmcounter19h"),
    (0xc94, "hpmcounter20h"),
    (0xc95, "hpmcounter21h"),
    (0xc96, "hpmcounter22h"),
    (0xc97, "hpmcounter23h"),
    (0xc98, "hpmcounter24h"),
    (0xc99, "hpmcounter25h"),
    (0xc9a, "hpmcounter26h"),
    (0xc9b, "hpmcounter27h"),
    (0xc9c, "hpmcounter28h"),
    (0xc9d, "hpmcounter29h"),
    (0xc9e, "hpmcounter30h"),
    (0xc9f, "hpmcounter31h"),
    (0xda0, "scountovf"),
    (0xdb0, "stopi"),
    (0xe12, "hgeip"),
    (0xeb0, "vstopi"),
    (0xf11, "mvendorid"),
    (0xf12, "marchid"),
    (0xf13, "mimpid"),
    (0xf14, "mhartid"),
    (0xf15, "mconfigptr"),
    (0xfb0, "mtopi"),
];

#[cfg(test)]
mod tests {
    //! Hand-written expectations in objdump's syntax; the full comparison against objdump
    //! itself is `tests/disasm_objdump.rs`.

    use super::*;

    fn i(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Inst {
        Inst {
            rd,
            rs1,
            rs2,
            imm,
            ..Inst::new(op)
        }
    }

    #[test]
    fn integer_forms() {
        assert_eq!(i(Op::Addi, 1, 2, 0, -5).to_string(), "addi\tx1,x2,-5");
        assert_eq!(i(Op::Lui, 1, 0, 0, -4096).to_string(), "lui\tx1,0xfffff");
        assert_eq!(i(Op::Auipc, 31, 0, 0, 0).to_string(), "auipc\tx31,0x0");
        assert_eq!(i(Op::Srai, 1, 2, 0, 63).to_string(), "srai\tx1,x2,0x3f");
        assert_eq!(i(Op::Sd, 0, 2, 3, -8).to_string(), "sd\tx3,-8(x2)");
        assert_eq!(i(Op::Jalr, 0, 1, 0, 0).to_string(), "jalr\tx0,0(x1)");
        assert_eq!(i(Op::Sub, 3, 2, 1, 0).to_string(), "sub\tx3,x2,x1");
    }

    #[test]
    fn targets_are_absolute() {
        let beq = i(Op::Beq, 0, 1, 2, -4);
        assert_eq!(beq.disasm_at(0x1000).to_string(), "beq\tx1,x2,0xffc");
        assert_eq!(beq.to_string(), "beq\tx1,x2,0xfffffffffffffffc");
        let jal = i(Op::Jal, 1, 0, 0, 0x10);
        assert_eq!(jal.disasm_at(0x10078).to_string(), "jal\tx1,0x10088");
    }

    #[test]
    fn system_csr_and_fence() {
        assert_eq!(
            i(Op::Csrrw, 1, 2, 0, 0x300).to_string(),
            "csrrw\tx1,mstatus,x2"
        );
        assert_eq!(
            i(Op::Csrrsi, 0, 31, 0, 0x7c0).to_string(),
            "csrrsi\tx0,0x7c0,31"
        );
        assert_eq!(
            i(Op::Csrrs, 5, 0, 0, 0xc00).to_string(),
            "csrrs\tx5,cycle,x0"
        );
        assert_eq!(i(Op::Fence, 0, 0, 0, 0x0ff).to_string(), "fence\tiorw,iorw");
        assert_eq!(i(Op::Fence, 0, 0, 0, 0x031).to_string(), "fence\trw,w");
        assert_eq!(
            i(Op::Fence, 0, 0, 0, 0x00f).to_string(),
            "fence\tunknown,iorw"
        );
        assert_eq!(i(Op::Fence, 0, 0, 0, 0x833).to_string(), "fence.tso");
        assert_eq!(Inst::new(Op::SfenceVma).to_string(), "sfence.vma\tx0,x0");
        assert_eq!(Inst::new(Op::Wfi).to_string(), "wfi");
        assert_eq!(csr_name(0x180), Some("satp"));
        assert_eq!(csr_name(0x7c0), None);
    }

    #[test]
    fn atomics_and_fp() {
        let lr = Inst {
            rm: 3,
            ..i(Op::LrD, 1, 2, 0, 0)
        };
        assert_eq!(lr.to_string(), "lr.d.aqrl\tx1,(x2)");
        let amo = Inst {
            rm: 1,
            ..i(Op::AmoaddW, 1, 2, 3, 0)
        };
        assert_eq!(amo.to_string(), "amoadd.w.rl\tx1,x3,(x2)");
        let fma = Inst {
            rs3: 4,
            rm: 0,
            ..i(Op::FmaddS, 1, 2, 3, 0)
        };
        assert_eq!(fma.to_string(), "fmadd.s\tf1,f2,f3,f4,rne");
        let fadd = Inst {
            rm: 7,
            ..i(Op::FaddD, 1, 2, 3, 0)
        };
        assert_eq!(fadd.to_string(), "fadd.d\tf1,f2,f3");
        let reserved = Inst { rm: 6, ..fadd };
        assert_eq!(reserved.to_string(), "fadd.d\tf1,f2,f3,unknown");
        let cvt = Inst {
            rm: 1,
            ..i(Op::FcvtWS, 10, 11, 0, 0)
        };
        assert_eq!(cvt.to_string(), "fcvt.w.s\tx10,f11,rtz");
        assert_eq!(i(Op::FcvtDW, 1, 2, 0, 0).to_string(), "fcvt.d.w\tf1,x2");
        let widen_dyn = Inst {
            rm: 7,
            ..i(Op::FcvtDW, 1, 2, 0, 0)
        };
        assert_eq!(widen_dyn.to_string(), "fcvt.d.w\tf1,x2,dyn");
        assert_eq!(i(Op::FmvXD, 5, 6, 0, 0).to_string(), "fmv.x.d\tx5,f6");
        assert_eq!(i(Op::FleS, 17, 18, 19, 0).to_string(), "fle.s\tx17,f18,f19");
        assert_eq!(i(Op::Fsd, 0, 31, 0, 2047).to_string(), "fsd\tf0,2047(x31)");
    }

    #[test]
    fn csr_table_is_sorted_and_unique() {
        assert!(CSR_NAMES
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.0 < b.0)));
        assert!(CSR_NAMES.iter().all(|&(n, _)| n < 4096));
    }
}
