//! Instruction decoding: a pure function from encoding to [`Inst`].
//!
//! [`decode`] decodes a 32-bit encoding, or, when `bits & 3 != 3`, the 16-bit RVC encoding
//! in the low half; [`decode_compressed`] expands an RVC encoding to the equivalent 32-bit
//! [`Inst`] with `len = 2`. Reserved and illegal encodings (including the all-zero
//! halfword) are `Err`. Both functions are pure, allocation-free and never panic.
//!
//! Sources: RISC-V Unprivileged ISA (20191213), chapter 24 "RV32/64G Instruction Set
//! Listings" (tables 24.2 and 24.3) and chapter 16 "C" (tables 16.5–16.7, the RVC
//! instruction listings); RISC-V Privileged ISA (20211203) §2.1 (CSR address space) and
//! table 9.1/§3.3 for `sret`, `mret`, `wfi`, `sfence.vma`.
//!
//! Field conventions follow the doc comment of [`Inst`]. Beyond those:
//! - `fence`: `imm` holds `fm:pred:succ` (`bits[31:20]`, zero-extended, so `pred` is
//!   `(imm >> 4) & 0xf` and `succ` is `imm & 0xf`); `rd`/`rs1` keep their raw values. The
//!   spec reserves `rd`, `rs1` and the `fm` values other than `0000`/`1000` for future
//!   fences and requires implementations to ignore them (Unprivileged §2.7), so they decode.
//! - `fence.i`: `rd`, `rs1` and the (sign-extended) `imm` keep their raw values, which the
//!   spec also reserves and requires to be ignored (Unprivileged §3.1 "Zifencei").
//! - Reserved `rm` values (5, 6) are not a decode error: the raw field is kept and the
//!   executor raises illegal-instruction when it resolves the rounding mode.
//! - Fields that an encoding fixes (for example `rs2` of `fsqrt.s` or `fcvt.w.s`) are
//!   checked here and stored as 0 in [`Inst`].

use crate::inst::{Inst, Op};

/// An encoding that is not a valid RV64GC instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal instruction {bits:#010x}")]
pub struct DecodeError {
    /// The encoding (16-bit ones zero-extended).
    pub bits: u32,
}

// ---------------------------------------------------------------------------------------
// 32-bit field extraction (Unprivileged §2.2–2.3, figure 2.3 and 2.4).
// ---------------------------------------------------------------------------------------

#[inline(always)]
const fn rd(bits: u32) -> u8 {
    ((bits >> 7) & 0x1f) as u8
}

#[inline(always)]
const fn rs1(bits: u32) -> u8 {
    ((bits >> 15) & 0x1f) as u8
}

#[inline(always)]
const fn rs2(bits: u32) -> u8 {
    ((bits >> 20) & 0x1f) as u8
}

#[inline(always)]
const fn rs3(bits: u32) -> u8 {
    ((bits >> 27) & 0x1f) as u8
}

#[inline(always)]
const fn funct3(bits: u32) -> u32 {
    (bits >> 12) & 7
}

#[inline(always)]
const fn funct7(bits: u32) -> u32 {
    bits >> 25
}

/// I-immediate: `inst[31:20]`, sign-extended.
#[inline(always)]
const fn imm_i(bits: u32) -> i32 {
    (bits as i32) >> 20
}

/// S-immediate: `inst[31:25] | inst[11:7]`, sign-extended.
#[inline(always)]
const fn imm_s(bits: u32) -> i32 {
    ((bits as i32) >> 25 << 5) | ((bits >> 7) & 0x1f) as i32
}

/// B-immediate: `inst[31|7|30:25|11:8]` as bits `12|11|10:5|4:1`, sign-extended.
#[inline(always)]
const fn imm_b(bits: u32) -> i32 {
    ((bits as i32) >> 31 << 12)
        | (((bits >> 7) & 1) << 11) as i32
        | (((bits >> 25) & 0x3f) << 5) as i32
        | (((bits >> 8) & 0xf) << 1) as i32
}

/// U-immediate: `inst[31:12] << 12`, sign-extended from 32 bits (it already is an `i32`).
#[inline(always)]
const fn imm_u(bits: u32) -> i32 {
    (bits & 0xffff_f000) as i32
}

/// J-immediate: `inst[31|19:12|20|30:21]` as bits `20|19:12|11|10:1`, sign-extended.
#[inline(always)]
const fn imm_j(bits: u32) -> i32 {
    ((bits as i32) >> 31 << 20)
        | (bits & 0x000f_f000) as i32
        | (((bits >> 20) & 1) << 11) as i32
        | (((bits >> 21) & 0x3ff) << 1) as i32
}

#[inline(always)]
const fn r_type(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: rs2(bits),
        rs3: 0,
        rm: 0,
        len: 4,
        imm: 0,
    }
}

#[inline(always)]
const fn i_type(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: imm_i(bits),
    }
}

/// An I-type shift: `imm` is the shift amount, `shamt_mask` wide (0x3f or 0x1f).
#[inline(always)]
const fn shift_type(op: Op, bits: u32, shamt_mask: u32) -> Inst {
    Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: ((bits >> 20) & shamt_mask) as i32,
    }
}

#[inline(always)]
const fn s_type(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: 0,
        rs1: rs1(bits),
        rs2: rs2(bits),
        rs3: 0,
        rm: 0,
        len: 4,
        imm: imm_s(bits),
    }
}

#[inline(always)]
const fn b_type(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: 0,
        rs1: rs1(bits),
        rs2: rs2(bits),
        rs3: 0,
        rm: 0,
        len: 4,
        imm: imm_b(bits),
    }
}

/// An FP R-type with a rounding mode (`rm = inst[14:12]`, kept raw).
#[inline(always)]
const fn fp_rm(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: rs2(bits),
        rs3: 0,
        rm: funct3(bits) as u8,
        len: 4,
        imm: 0,
    }
}

/// A one-source FP op with a rounding mode whose `rs2` field is a fixed selector.
#[inline(always)]
const fn fp_unary_rm(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: 0,
        rs3: 0,
        rm: funct3(bits) as u8,
        len: 4,
        imm: 0,
    }
}

/// A one-source FP op without a rounding mode (`fmv`, `fclass`).
#[inline(always)]
const fn fp_unary(op: Op, bits: u32) -> Inst {
    Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: 0,
    }
}

/// Decodes one instruction.
///
/// `bits` is the little-endian instruction word as fetched. When `bits & 3 != 3` only the
/// low 16 bits are an instruction (RVC) and are handed to [`decode_compressed`]; the upper
/// half is ignored. Otherwise `bits` is a 32-bit instruction of RV64IMAFD + Zicsr +
/// Zifencei or one of `sret`, `mret`, `wfi`, `sfence.vma`.
///
/// # Errors
/// [`DecodeError`] (carrying `bits`; the low half zero-extended for RVC) for reserved,
/// unknown or longer-than-32-bit encodings (`bits[4:2] == 0b111`), and for
/// instructions outside RV64GC (for example RV32-only shift amounts or `fmt = H/Q`).
pub fn decode(bits: u32) -> Result<Inst, DecodeError> {
    if bits & 3 != 3 {
        return decode_compressed(bits as u16);
    }
    decode_32(bits).ok_or(DecodeError { bits })
}

/// The 32-bit decoder proper; `None` is an illegal encoding. Follows the opcode map of
/// Unprivileged table 24.1 (`inst[6:2]`) and the listings of tables 24.2/24.3.
#[inline]
fn decode_32(bits: u32) -> Option<Inst> {
    let f3 = funct3(bits);
    let f7 = funct7(bits);
    let inst = match (bits >> 2) & 0x1f {
        // LOAD
        0b00000 => {
            let op = match f3 {
                0 => Op::Lb,
                1 => Op::Lh,
                2 => Op::Lw,
                3 => Op::Ld,
                4 => Op::Lbu,
                5 => Op::Lhu,
                6 => Op::Lwu,
                _ => return None,
            };
            i_type(op, bits)
        }
        // LOAD-FP
        0b00001 => match f3 {
            2 => i_type(Op::Flw, bits),
            3 => i_type(Op::Fld, bits),
            _ => return None,
        },
        // MISC-MEM
        0b00011 => match f3 {
            0 => Inst {
                imm: (bits >> 20) as i32,
                ..i_type(Op::Fence, bits)
            },
            1 => i_type(Op::FenceI, bits),
            _ => return None,
        },
        // OP-IMM
        0b00100 => match f3 {
            0 => i_type(Op::Addi, bits),
            1 if bits >> 26 == 0 => shift_type(Op::Slli, bits, 0x3f),
            2 => i_type(Op::Slti, bits),
            3 => i_type(Op::Sltiu, bits),
            4 => i_type(Op::Xori, bits),
            5 if bits >> 26 == 0 => shift_type(Op::Srli, bits, 0x3f),
            5 if bits >> 26 == 0b01_0000 => shift_type(Op::Srai, bits, 0x3f),
            6 => i_type(Op::Ori, bits),
            7 => i_type(Op::Andi, bits),
            _ => return None,
        },
        // AUIPC
        0b00101 => Inst {
            rd: rd(bits),
            imm: imm_u(bits),
            ..Inst::new(Op::Auipc)
        },
        // OP-IMM-32
        0b00110 => match (f3, f7) {
            (0, _) => i_type(Op::Addiw, bits),
            (1, 0) => shift_type(Op::Slliw, bits, 0x1f),
            (5, 0) => shift_type(Op::Srliw, bits, 0x1f),
            (5, 0b010_0000) => shift_type(Op::Sraiw, bits, 0x1f),
            _ => return None,
        },
        // STORE
        0b01000 => {
            let op = match f3 {
                0 => Op::Sb,
                1 => Op::Sh,
                2 => Op::Sw,
                3 => Op::Sd,
                _ => return None,
            };
            s_type(op, bits)
        }
        // STORE-FP
        0b01001 => match f3 {
            2 => s_type(Op::Fsw, bits),
            3 => s_type(Op::Fsd, bits),
            _ => return None,
        },
        // AMO
        0b01011 => return decode_amo(bits),
        // OP
        0b01100 => {
            let op = match (f7, f3) {
                (0, 0) => Op::Add,
                (0b010_0000, 0) => Op::Sub,
                (0, 1) => Op::Sll,
                (0, 2) => Op::Slt,
                (0, 3) => Op::Sltu,
                (0, 4) => Op::Xor,
                (0, 5) => Op::Srl,
                (0b010_0000, 5) => Op::Sra,
                (0, 6) => Op::Or,
                (0, 7) => Op::And,
                (1, 0) => Op::Mul,
                (1, 1) => Op::Mulh,
                (1, 2) => Op::Mulhsu,
                (1, 3) => Op::Mulhu,
                (1, 4) => Op::Div,
                (1, 5) => Op::Divu,
                (1, 6) => Op::Rem,
                (1, 7) => Op::Remu,
                _ => return None,
            };
            r_type(op, bits)
        }
        // LUI
        0b01101 => Inst {
            rd: rd(bits),
            imm: imm_u(bits),
            ..Inst::new(Op::Lui)
        },
        // OP-32
        0b01110 => {
            let op = match (f7, f3) {
                (0, 0) => Op::Addw,
                (0b010_0000, 0) => Op::Subw,
                (0, 1) => Op::Sllw,
                (0, 5) => Op::Srlw,
                (0b010_0000, 5) => Op::Sraw,
                (1, 0) => Op::Mulw,
                (1, 4) => Op::Divw,
                (1, 5) => Op::Divuw,
                (1, 6) => Op::Remw,
                (1, 7) => Op::Remuw,
                _ => return None,
            };
            r_type(op, bits)
        }
        // MADD, MSUB, NMSUB, NMADD: fmt = inst[26:25]
        0b10000..=0b10011 => {
            let single = match f7 & 3 {
                0 => true,
                1 => false,
                _ => return None,
            };
            let op = match ((bits >> 2) & 3, single) {
                (0, true) => Op::FmaddS,
                (1, true) => Op::FmsubS,
                (2, true) => Op::FnmsubS,
                (3, true) => Op::FnmaddS,
                (0, false) => Op::FmaddD,
                (1, false) => Op::FmsubD,
                (2, false) => Op::FnmsubD,
                _ => Op::FnmaddD,
            };
            Inst {
                rs3: rs3(bits),
                ..fp_rm(op, bits)
            }
        }
        // OP-FP
        0b10100 => return decode_op_fp(bits),
        // BRANCH
        0b11000 => {
            let op = match f3 {
                0 => Op::Beq,
                1 => Op::Bne,
                4 => Op::Blt,
                5 => Op::Bge,
                6 => Op::Bltu,
                7 => Op::Bgeu,
                _ => return None,
            };
            b_type(op, bits)
        }
        // JALR
        0b11001 if f3 == 0 => i_type(Op::Jalr, bits),
        // JAL
        0b11011 => Inst {
            rd: rd(bits),
            imm: imm_j(bits),
            ..Inst::new(Op::Jal)
        },
        // SYSTEM
        0b11100 => return decode_system(bits),
        // custom-0: dirtybit's `loadtag` (see `crate::hart` "Memory tagging (Zimt)").
        0b00010 if f3 == 0b100 && f7 == 0 && rs2(bits) == 0 => Inst {
            rd: rd(bits),
            rs1: rs1(bits),
            ..Inst::new(Op::Loadtag)
        },
        _ => return None,
    };
    Some(inst)
}

/// Zimop's may-be-operations (*Unprivileged ISA, "Zimop"*) in SYSTEM with funct3 = 100,
/// and the Zimt v0.1 instructions that overlay `MOP.RR.0`/`MOP.RR.1`; `None` if `bits` is
/// not a MOP. `MOP.R.n` is `1 n[4] 00 n[3:2] 0111 n[1:0] rs1 100 rd 1110011`, `MOP.RR.n`
/// is `1 n[2] 00 n[1:0] 1 rs2 rs1 100 rd 1110011`; `rs3` holds `n`. For the Zimt ones
/// `rs2` is `0 ‖ imm4`, and `imm` holds `imm4`; which Zimt instruction a `MOP.RR.0/1` word is, at
/// every `rd`/`rs1`/`imm4` (the draft's encodings overlap at `rd = 0`, `rs1 = 0`,
/// `imm4 = 0`), is the table in the `crate::hart` docs, "Memory tagging (Zimt)".
#[inline]
fn decode_mop(bits: u32) -> Option<Inst> {
    let (rd, rs1, rs2) = (rd(bits), rs1(bits), rs2(bits));
    let (op, n) = if bits & 0xb3c0_707f == 0x81c0_4073 {
        let n = ((bits >> 26) & 0x10) | ((bits >> 24) & 0xc) | ((bits >> 20) & 3);
        (Op::MopR, n)
    } else if bits & 0xb200_707f == 0x8200_4073 {
        let n = ((bits >> 28) & 4) | ((bits >> 26) & 3);
        let op = match (n, rs2 & 0x10 == 0, rd, rs1) {
            (0, true, 0, _) => Op::Settag,
            (1, true, 0, 0) => Op::MopRR,
            (1, true, 0, _) => Op::Checktag,
            (1, true, _, 0) if rs2 == 0 => Op::Gentag,
            (1, true, _, _) => Op::Addtag,
            _ => Op::MopRR,
        };
        (op, n)
    } else {
        return None;
    };
    Some(Inst {
        rd,
        rs1,
        rs2: if op == Op::MopR { 0 } else { rs2 },
        rs3: n as u8,
        imm: i32::from(rs2 & 0xf),
        ..Inst::new(op)
    })
}

/// The A extension (Unprivileged chapter 8, table 24.2 "RV32A/RV64A").
#[inline]
fn decode_amo(bits: u32) -> Option<Inst> {
    let word = match funct3(bits) {
        2 => true,
        3 => false,
        _ => return None,
    };
    let (w, d) = match bits >> 27 {
        0b00010 if rs2(bits) == 0 => (Op::LrW, Op::LrD),
        0b00011 => (Op::ScW, Op::ScD),
        0b00001 => (Op::AmoswapW, Op::AmoswapD),
        0b00000 => (Op::AmoaddW, Op::AmoaddD),
        0b00100 => (Op::AmoxorW, Op::AmoxorD),
        0b01100 => (Op::AmoandW, Op::AmoandD),
        0b01000 => (Op::AmoorW, Op::AmoorD),
        0b10000 => (Op::AmominW, Op::AmominD),
        0b10100 => (Op::AmomaxW, Op::AmomaxD),
        0b11000 => (Op::AmominuW, Op::AmominuD),
        0b11100 => (Op::AmomaxuW, Op::AmomaxuD),
        _ => return None,
    };
    Some(Inst {
        // aq = inst[26], rl = inst[25].
        rm: ((bits >> 25) & 3) as u8,
        ..r_type(if word { w } else { d }, bits)
    })
}

/// OP-FP (Unprivileged chapters 11–12, tables 24.2/24.3 "RV32F/RV64F/RV32D/RV64D").
/// `fmt = inst[26:25]`: 00 = S, 01 = D; H (10) and Q (11) are not part of RV64GC.
#[inline]
fn decode_op_fp(bits: u32) -> Option<Inst> {
    let f3 = funct3(bits);
    let sel = rs2(bits);
    let single = match funct7(bits) & 3 {
        0 => true,
        1 => false,
        _ => return None,
    };
    let pick = |s: Op, d: Op| if single { s } else { d };
    let inst = match funct7(bits) >> 2 {
        0b00000 => fp_rm(pick(Op::FaddS, Op::FaddD), bits),
        0b00001 => fp_rm(pick(Op::FsubS, Op::FsubD), bits),
        0b00010 => fp_rm(pick(Op::FmulS, Op::FmulD), bits),
        0b00011 => fp_rm(pick(Op::FdivS, Op::FdivD), bits),
        0b01011 if sel == 0 => fp_unary_rm(pick(Op::FsqrtS, Op::FsqrtD), bits),
        0b00100 => {
            let op = match f3 {
                0 => pick(Op::FsgnjS, Op::FsgnjD),
                1 => pick(Op::FsgnjnS, Op::FsgnjnD),
                2 => pick(Op::FsgnjxS, Op::FsgnjxD),
                _ => return None,
            };
            r_type(op, bits)
        }
        0b00101 => {
            let op = match f3 {
                0 => pick(Op::FminS, Op::FminD),
                1 => pick(Op::FmaxS, Op::FmaxD),
                _ => return None,
            };
            r_type(op, bits)
        }
        // fcvt.s.d (fmt = S, source D) and fcvt.d.s (fmt = D, source S).
        0b01000 => match (single, sel) {
            (true, 1) => fp_unary_rm(Op::FcvtSD, bits),
            (false, 0) => fp_unary_rm(Op::FcvtDS, bits),
            _ => return None,
        },
        0b10100 => {
            let op = match f3 {
                0 => pick(Op::FleS, Op::FleD),
                1 => pick(Op::FltS, Op::FltD),
                2 => pick(Op::FeqS, Op::FeqD),
                _ => return None,
            };
            r_type(op, bits)
        }
        // fcvt.{w,wu,l,lu}.fmt: FP -> integer.
        0b11000 => {
            let op = match sel {
                0 => pick(Op::FcvtWS, Op::FcvtWD),
                1 => pick(Op::FcvtWuS, Op::FcvtWuD),
                2 => pick(Op::FcvtLS, Op::FcvtLD),
                3 => pick(Op::FcvtLuS, Op::FcvtLuD),
                _ => return None,
            };
            fp_unary_rm(op, bits)
        }
        // fcvt.fmt.{w,wu,l,lu}: integer -> FP.
        0b11010 => {
            let op = match sel {
                0 => pick(Op::FcvtSW, Op::FcvtDW),
                1 => pick(Op::FcvtSWu, Op::FcvtDWu),
                2 => pick(Op::FcvtSL, Op::FcvtDL),
                3 => pick(Op::FcvtSLu, Op::FcvtDLu),
                _ => return None,
            };
            fp_unary_rm(op, bits)
        }
        0b11100 if sel == 0 => match f3 {
            0 => fp_unary(pick(Op::FmvXW, Op::FmvXD), bits),
            1 => fp_unary(pick(Op::FclassS, Op::FclassD), bits),
            _ => return None,
        },
        0b11110 if sel == 0 && f3 == 0 => fp_unary(pick(Op::FmvWX, Op::FmvDX), bits),
        _ => return None,
    };
    Some(inst)
}

/// SYSTEM: Zicsr (Unprivileged chapter 9), Zimop and Zimt (funct3 = 100, see
/// `decode_mop`) and the privileged instructions (Privileged table 9.1 / §3.3.1–3.3.3,
/// §4.2.1). Trap-return and `wfi` encodings are exact (every other field zero);
/// `sfence.vma` requires `rd = 0`.
#[inline]
fn decode_system(bits: u32) -> Option<Inst> {
    let csr = |op: Op| Inst {
        op,
        rd: rd(bits),
        rs1: rs1(bits),
        rs2: 0,
        rs3: 0,
        rm: 0,
        len: 4,
        imm: (bits >> 20) as i32,
    };
    let inst = match funct3(bits) {
        0 => match bits {
            0x0000_0073 => Inst::new(Op::Ecall),
            0x0010_0073 => Inst::new(Op::Ebreak),
            0x1020_0073 => Inst::new(Op::Sret),
            0x3020_0073 => Inst::new(Op::Mret),
            0x1050_0073 => Inst::new(Op::Wfi),
            _ if funct7(bits) == 0b000_1001 && rd(bits) == 0 => Inst {
                rs1: rs1(bits),
                rs2: rs2(bits),
                ..Inst::new(Op::SfenceVma)
            },
            _ => return None,
        },
        1 => csr(Op::Csrrw),
        2 => csr(Op::Csrrs),
        3 => csr(Op::Csrrc),
        4 => return decode_mop(bits),
        5 => csr(Op::Csrrwi),
        6 => csr(Op::Csrrsi),
        7 => csr(Op::Csrrci),
        _ => return None,
    };
    Some(inst)
}

// ---------------------------------------------------------------------------------------
// RVC (Unprivileged chapter 16, tables 16.5–16.7).
// ---------------------------------------------------------------------------------------

/// `bits[hi:lo]` of a halfword, shifted down.
#[inline(always)]
const fn cbits(bits: u32, hi: u32, lo: u32) -> u32 {
    (bits >> lo) & ((1 << (hi - lo + 1)) - 1)
}

/// A 3-bit "prime" register field (`x8`–`x15` / `f8`–`f15`) starting at bit `lo`.
#[inline(always)]
const fn creg(bits: u32, lo: u32) -> u8 {
    8 + cbits(bits, lo + 2, lo) as u8
}

/// The CI-format 6-bit signed immediate `imm[5] = bits[12]`, `imm[4:0] = bits[6:2]`.
#[inline(always)]
const fn ci_imm(bits: u32) -> i32 {
    let raw = (cbits(bits, 12, 12) << 5) | cbits(bits, 6, 2);
    ((raw << 26) as i32) >> 26
}

/// The CI-format 6-bit shift amount `shamt[5] = bits[12]`, `shamt[4:0] = bits[6:2]`.
#[inline(always)]
const fn ci_shamt(bits: u32) -> i32 {
    ((cbits(bits, 12, 12) << 5) | cbits(bits, 6, 2)) as i32
}

/// CL/CS doubleword offset: `uimm[5:3] = bits[12:10]`, `uimm[7:6] = bits[6:5]`.
#[inline(always)]
const fn cl_d_off(bits: u32) -> i32 {
    ((cbits(bits, 12, 10) << 3) | (cbits(bits, 6, 5) << 6)) as i32
}

/// CL/CS word offset: `uimm[5:3] = bits[12:10]`, `uimm[2] = bits[6]`, `uimm[6] = bits[5]`.
#[inline(always)]
const fn cl_w_off(bits: u32) -> i32 {
    ((cbits(bits, 12, 10) << 3) | (cbits(bits, 6, 6) << 2) | (cbits(bits, 5, 5) << 6)) as i32
}

/// CB branch offset: `offset[8|4:3] = bits[12:10]`, `offset[7:6|2:1|5] = bits[6:2]`.
#[inline(always)]
const fn cb_off(bits: u32) -> i32 {
    let raw = (cbits(bits, 12, 12) << 8)
        | (cbits(bits, 11, 10) << 3)
        | (cbits(bits, 6, 5) << 6)
        | (cbits(bits, 4, 3) << 1)
        | (cbits(bits, 2, 2) << 5);
    ((raw << 23) as i32) >> 23
}

/// CJ jump offset: `offset[11|4|9:8|10|6|7|3:1|5] = bits[12:2]`.
#[inline(always)]
const fn cj_off(bits: u32) -> i32 {
    let raw = (cbits(bits, 12, 12) << 11)
        | (cbits(bits, 11, 11) << 4)
        | (cbits(bits, 10, 9) << 8)
        | (cbits(bits, 8, 8) << 10)
        | (cbits(bits, 7, 7) << 6)
        | (cbits(bits, 6, 6) << 7)
        | (cbits(bits, 5, 3) << 1)
        | (cbits(bits, 2, 2) << 5);
    ((raw << 20) as i32) >> 20
}

/// An expanded RVC instruction: `len = 2`, every other field as given.
#[inline(always)]
const fn c_inst(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Inst {
    Inst {
        op,
        rd,
        rs1,
        rs2,
        rs3: 0,
        rm: 0,
        len: 2,
        imm,
    }
}

/// Decodes one RVC instruction, expanding it to the equivalent 32-bit [`Inst`] with
/// `len = 2` (Unprivileged §16.3–16.7 give the expansion of each instruction; HINT
/// encodings such as `c.li x0, imm` or `c.slli` with `shamt = 0` decode to their
/// expansion, which writes `x0` or does nothing, as the spec allows).
///
/// # Errors
/// [`DecodeError`] (carrying `bits` zero-extended) for the all-zero halfword and every
/// encoding the spec marks reserved for RV64: `c.addi4spn` with `nzuimm = 0`, `c.addiw`
/// with `rd = 0`, `c.addi16sp`/`c.lui` with a zero immediate, `c.lwsp`/`c.ldsp` with
/// `rd = 0`, `c.jr` with `rs1 = 0`, the funct3 = 100 slot of quadrant 0, and the two
/// reserved CA encodings of quadrant 1. `bits & 3 == 3` (not an RVC encoding) is also
/// an error.
pub fn decode_compressed(bits: u16) -> Result<Inst, DecodeError> {
    let b = u32::from(bits);
    decode_c(b).ok_or(DecodeError { bits: b })
}

#[inline]
fn decode_c(b: u32) -> Option<Inst> {
    const SP: u8 = 2;
    let f3 = cbits(b, 15, 13);
    // The full 5-bit rd/rs1 and rs2 fields of CR/CI/CSS.
    let r = cbits(b, 11, 7) as u8;
    let r2 = cbits(b, 6, 2) as u8;
    let inst = match (b & 3, f3) {
        // Quadrant 0.
        (0, 0b000) => {
            // C.ADDI4SPN: nzuimm[5:4|9:6|2|3] = bits[12:5]; the all-zero halfword lands
            // here too and is illegal.
            let nzuimm = (cbits(b, 12, 11) << 4)
                | (cbits(b, 10, 7) << 6)
                | (cbits(b, 6, 6) << 2)
                | (cbits(b, 5, 5) << 3);
            if nzuimm == 0 {
                return None;
            }
            c_inst(Op::Addi, creg(b, 2), SP, 0, nzuimm as i32)
        }
        (0, 0b001) => c_inst(Op::Fld, creg(b, 2), creg(b, 7), 0, cl_d_off(b)),
        (0, 0b010) => c_inst(Op::Lw, creg(b, 2), creg(b, 7), 0, cl_w_off(b)),
        (0, 0b011) => c_inst(Op::Ld, creg(b, 2), creg(b, 7), 0, cl_d_off(b)),
        (0, 0b101) => c_inst(Op::Fsd, 0, creg(b, 7), creg(b, 2), cl_d_off(b)),
        (0, 0b110) => c_inst(Op::Sw, 0, creg(b, 7), creg(b, 2), cl_w_off(b)),
        (0, 0b111) => c_inst(Op::Sd, 0, creg(b, 7), creg(b, 2), cl_d_off(b)),
        // Quadrant 1.
        (1, 0b000) => c_inst(Op::Addi, r, r, 0, ci_imm(b)), // C.NOP / C.ADDI
        (1, 0b001) if r != 0 => c_inst(Op::Addiw, r, r, 0, ci_imm(b)),
        (1, 0b010) => c_inst(Op::Addi, r, 0, 0, ci_imm(b)), // C.LI
        (1, 0b011) if r == SP => {
            // C.ADDI16SP: nzimm[9|4|6|8:7|5] = bits[12|6|5|4:3|2].
            let raw = (cbits(b, 12, 12) << 9)
                | (cbits(b, 6, 6) << 4)
                | (cbits(b, 5, 5) << 6)
                | (cbits(b, 4, 3) << 7)
                | (cbits(b, 2, 2) << 5);
            if raw == 0 {
                return None;
            }
            c_inst(Op::Addi, SP, SP, 0, ((raw << 22) as i32) >> 22)
        }
        (1, 0b011) => {
            // C.LUI: nzimm[17] = bits[12], nzimm[16:12] = bits[6:2].
            let imm = ci_imm(b);
            if imm == 0 {
                return None;
            }
            c_inst(Op::Lui, r, 0, 0, imm << 12)
        }
        (1, 0b100) => {
            let rdp = creg(b, 7);
            match cbits(b, 11, 10) {
                0b00 => c_inst(Op::Srli, rdp, rdp, 0, ci_shamt(b)),
                0b01 => c_inst(Op::Srai, rdp, rdp, 0, ci_shamt(b)),
                0b10 => c_inst(Op::Andi, rdp, rdp, 0, ci_imm(b)),
                _ => {
                    let op = match (cbits(b, 12, 12), cbits(b, 6, 5)) {
                        (0, 0b00) => Op::Sub,
                        (0, 0b01) => Op::Xor,
                        (0, 0b10) => Op::Or,
                        (0, _) => Op::And,
                        (_, 0b00) => Op::Subw,
                        (_, 0b01) => Op::Addw,
                        _ => return None,
                    };
                    c_inst(op, rdp, rdp, creg(b, 2), 0)
                }
            }
        }
        (1, 0b101) => c_inst(Op::Jal, 0, 0, 0, cj_off(b)), // C.J
        (1, 0b110) => c_inst(Op::Beq, 0, creg(b, 7), 0, cb_off(b)),
        (1, 0b111) => c_inst(Op::Bne, 0, creg(b, 7), 0, cb_off(b)),
        // Quadrant 2.
        (2, 0b000) => c_inst(Op::Slli, r, r, 0, ci_shamt(b)),
        (2, 0b001) => {
            // C.FLDSP: uimm[5] = bits[12], uimm[4:3] = bits[6:5], uimm[8:6] = bits[4:2].
            let off = (cbits(b, 12, 12) << 5) | (cbits(b, 6, 5) << 3) | (cbits(b, 4, 2) << 6);
            c_inst(Op::Fld, r, SP, 0, off as i32)
        }
        (2, 0b010) if r != 0 => {
            // C.LWSP: uimm[5] = bits[12], uimm[4:2] = bits[6:4], uimm[7:6] = bits[3:2].
            let off = (cbits(b, 12, 12) << 5) | (cbits(b, 6, 4) << 2) | (cbits(b, 3, 2) << 6);
            c_inst(Op::Lw, r, SP, 0, off as i32)
        }
        (2, 0b011) if r != 0 => {
            let off = (cbits(b, 12, 12) << 5) | (cbits(b, 6, 5) << 3) | (cbits(b, 4, 2) << 6);
            c_inst(Op::Ld, r, SP, 0, off as i32)
        }
        (2, 0b100) => match (cbits(b, 12, 12), r, r2) {
            (0, 0, 0) => return None,                    // C.JR x0: reserved
            (0, _, 0) => c_inst(Op::Jalr, 0, r, 0, 0),   // C.JR
            (0, _, _) => c_inst(Op::Add, r, 0, r2, 0),   // C.MV
            (_, 0, 0) => c_inst(Op::Ebreak, 0, 0, 0, 0), // C.EBREAK
            (_, _, 0) => c_inst(Op::Jalr, 1, r, 0, 0),   // C.JALR
            _ => c_inst(Op::Add, r, r, r2, 0),           // C.ADD
        },
        (2, 0b101) => {
            // C.FSDSP: uimm[5:3] = bits[12:10], uimm[8:6] = bits[9:7] (as C.SDSP).
            let off = (cbits(b, 12, 10) << 3) | (cbits(b, 9, 7) << 6);
            c_inst(Op::Fsd, 0, SP, r2, off as i32)
        }
        (2, 0b110) => {
            // C.SWSP: uimm[5:2] = bits[12:9], uimm[7:6] = bits[8:7].
            let off = (cbits(b, 12, 9) << 2) | (cbits(b, 8, 7) << 6);
            c_inst(Op::Sw, 0, SP, r2, off as i32)
        }
        (2, 0b111) => {
            let off = (cbits(b, 12, 10) << 3) | (cbits(b, 9, 7) << 6);
            c_inst(Op::Sd, 0, SP, r2, off as i32)
        }
        _ => return None,
    };
    Some(inst)
}

#[cfg(test)]
mod tests {
    //! Hand-checked encodings, one group per format. Each 32-bit word is either built from
    //! its fields by the small encoders below (so the field placement is visible) or
    //! written out with its fields derived in the comment.

    use super::*;

    fn enc_r(funct7: u32, rs2: u32, rs1: u32, funct3: u32, rd: u32, opcode: u32) -> u32 {
        funct7 << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
    }

    fn enc_i(imm: i32, rs1: u32, funct3: u32, rd: u32, opcode: u32) -> u32 {
        ((imm as u32) & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
    }

    /// An AMO: `funct5`, then `aq:rl`, then the R-type fields, opcode 0101111.
    fn enc_amo(funct5: u32, aqrl: u32, rs2: u32, rs1: u32, funct3: u32, rd: u32) -> u32 {
        enc_r(funct5 << 2 | aqrl, rs2, rs1, funct3, rd, 0x2f)
    }

    fn ok(bits: u32) -> Inst {
        match decode(bits) {
            Ok(inst) => inst,
            Err(e) => panic!("{bits:#010x} should decode: {e}"),
        }
    }

    fn illegal(bits: u32) {
        assert_eq!(decode(bits), Err(DecodeError { bits }), "{bits:#010x}");
    }

    fn inst(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Inst {
        Inst {
            rd,
            rs1,
            rs2,
            imm,
            ..Inst::new(op)
        }
    }

    fn c(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Inst {
        Inst {
            len: 2,
            ..inst(op, rd, rs1, rs2, imm)
        }
    }

    #[test]
    fn r_type() {
        assert_eq!(ok(enc_r(0, 3, 2, 0, 1, 0x33)), inst(Op::Add, 1, 2, 3, 0));
        assert_eq!(
            ok(enc_r(0x20, 31, 30, 5, 29, 0x33)),
            inst(Op::Sra, 29, 30, 31, 0)
        );
        assert_eq!(ok(enc_r(1, 5, 6, 3, 7, 0x33)), inst(Op::Mulhu, 7, 6, 5, 0));
        assert_eq!(
            ok(enc_r(0x20, 1, 2, 0, 3, 0x3b)),
            inst(Op::Subw, 3, 2, 1, 0)
        );
        assert_eq!(ok(enc_r(1, 1, 2, 7, 3, 0x3b)), inst(Op::Remuw, 3, 2, 1, 0));
        // funct7 0x20 only exists for sub/sra; mulhw-style OP-32 funct3 1..3 with M: none.
        illegal(enc_r(0x20, 1, 2, 1, 3, 0x33));
        illegal(enc_r(0x02, 1, 2, 0, 3, 0x33));
        illegal(enc_r(1, 1, 2, 1, 3, 0x3b));
        illegal(enc_r(0, 1, 2, 2, 3, 0x3b));
    }

    #[test]
    fn i_type_and_shifts() {
        // addi x1,x2,-5: imm 0xffb | rs1 2 | funct3 0 | rd 1 | 0010011.
        assert_eq!(ok(0xffb1_0093), inst(Op::Addi, 1, 2, 0, -5));
        assert_eq!(
            ok(enc_i(2047, 4, 3, 5, 0x13)),
            inst(Op::Sltiu, 5, 4, 0, 2047)
        );
        assert_eq!(
            ok(enc_i(-2048, 4, 0, 5, 0x1b)),
            inst(Op::Addiw, 5, 4, 0, -2048)
        );
        assert_eq!(ok(enc_i(-1, 9, 6, 8, 0x03)), inst(Op::Lwu, 8, 9, 0, -1));
        assert_eq!(ok(enc_i(8, 2, 3, 1, 0x07)), inst(Op::Fld, 1, 2, 0, 8));
        assert_eq!(ok(enc_i(-4, 2, 0, 1, 0x67)), inst(Op::Jalr, 1, 2, 0, -4));
        illegal(enc_i(0, 2, 7, 1, 0x03)); // no load with funct3 111
        illegal(enc_i(0, 2, 1, 1, 0x67)); // jalr needs funct3 000
        illegal(enc_i(0, 2, 0, 1, 0x07)); // flh/flq are not RV64GC
                                          // srai x1,x2,63: funct6 010000 | shamt 111111 | rs1 2 | 101 | rd 1 | 0010011.
        assert_eq!(ok(0x43f1_5093), inst(Op::Srai, 1, 2, 0, 63));
        assert_eq!(ok(enc_i(32, 2, 1, 1, 0x13)), inst(Op::Slli, 1, 2, 0, 32));
        assert_eq!(
            ok(enc_i(0x400 | 31, 2, 5, 1, 0x1b)),
            inst(Op::Sraiw, 1, 2, 0, 31)
        );
        illegal(enc_i(0x040, 2, 1, 1, 0x13)); // slli with imm[6] set: funct6 000001
        illegal(enc_i(0x200, 2, 5, 1, 0x13)); // srli/srai with funct6 001000
        illegal(enc_i(32, 2, 1, 1, 0x1b)); // slliw shamt[5] = 1 is reserved on RV64
        illegal(enc_i(0x400 | 32, 2, 5, 1, 0x1b)); // sraiw likewise
    }

    #[test]
    fn s_b_u_j_immediates() {
        // sd x3,-8(x2): imm 0xff8 -> imm[11:5] = 0x7f, imm[4:0] = 0x18.
        assert_eq!(ok(0xfe31_3c23), inst(Op::Sd, 0, 2, 3, -8));
        illegal(0xfe31_4c23); // store funct3 100
                              // beq x1,x2,-4096: only imm[12] (bit 31) set.
        assert_eq!(ok(0x8020_8063), inst(Op::Beq, 0, 1, 2, -4096));
        // beq x1,x2,+2048: only imm[11] (bit 7) set.
        assert_eq!(ok(0x0020_80e3), inst(Op::Beq, 0, 1, 2, 2048));
        // bgeu x1,x2,+4094: imm[10:5] = bits 30:25, imm[4:1] = bits 11:8, imm[11] = bit 7.
        assert_eq!(ok(0x7e20_ffe3), inst(Op::Bgeu, 0, 1, 2, 4094));
        illegal(0x0020_a063); // branch funct3 010
                              // lui x1,0xfffff: imm is the shifted value, sign-extended.
        assert_eq!(ok(0xffff_f0b7), inst(Op::Lui, 1, 0, 0, -4096));
        assert_eq!(ok(0x8000_0117), inst(Op::Auipc, 2, 0, 0, i32::MIN));
        // jal x0,-2: imm[20] = bit 31, imm[10:1] = bits 30:21, imm[11] = bit 20,
        // imm[19:12] = bits 19:12, all ones.
        assert_eq!(ok(0xffff_f06f), inst(Op::Jal, 0, 0, 0, -2));
        // jal x1,+0x80000 - 2... imm[19:12] only: 0x000ff0ef = +0xff000.
        assert_eq!(ok(0x000f_f0ef), inst(Op::Jal, 1, 0, 0, 0xff000));
    }

    /// `MOP.RR.n rd, rs1, rs2` (Zimop).
    fn mop_rr(n: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
        enc_r(0x41 | (n & 4) << 3 | (n & 3) << 1, rs2, rs1, 4, rd, 0x73)
    }

    #[test]
    fn zimop_and_the_zimt_overlays() {
        // rs3 holds n: MOP.RR.0 for settag, MOP.RR.1 for the others.
        let zimt = |op, rd, rs1, rs2: u8| Inst {
            rs3: u8::from(op != Op::Settag),
            ..inst(op, rd, rs1, rs2, i32::from(rs2 & 0xf))
        };
        // The draft's encodings (as `riscv64-linux-gnu-as` assembles `.insn r 0x73, 4, …`).
        assert_eq!(ok(0x8600_42f3), zimt(Op::Gentag, 5, 0, 0), "gentag t0");
        assert_eq!(
            ok(0x8632_c373),
            zimt(Op::Addtag, 6, 5, 3),
            "addtag t1, t0, 3"
        );
        assert_eq!(
            ok(0x82f5_4073),
            zimt(Op::Settag, 0, 10, 15),
            "settag a0, 15"
        );
        assert_eq!(
            ok(0x8615_4073),
            zimt(Op::Checktag, 0, 10, 1),
            "checktag a0, 1"
        );
        // The corners the draft leaves open (the table in the `hart` docs).
        for (bits, op, why) in [
            (mop_rr(1, 5, 6, 0), Op::Addtag, "rs1 != 0, imm 0: addtag"),
            (mop_rr(1, 5, 0, 7), Op::Addtag, "rs1 = 0, imm != 0: addtag"),
            (mop_rr(1, 0, 6, 0), Op::Checktag, "rd = 0: checktag"),
            (mop_rr(1, 0, 0, 0), Op::MopRR, "rd = rs1 = 0: a MOP"),
            (mop_rr(0, 0, 0, 4), Op::Settag, "settag x0: a tag store"),
            (mop_rr(0, 5, 6, 4), Op::MopRR, "MOP.RR.0 with rd != 0"),
            (mop_rr(1, 5, 6, 0x13), Op::MopRR, "rs2[4] = 1"),
        ] {
            assert_eq!(ok(bits).op, op, "{why}");
        }
        for n in 2..8 {
            let i = ok(mop_rr(n, 5, 6, 7));
            assert_eq!(
                (i.op, i.rd, i.rs1, i.rs2, i.rs3),
                (Op::MopRR, 5, 6, 7, n as u8)
            );
        }
        // MOP.R.n: 1 n[4] 00 n[3:2] 0111 n[1:0] rs1 100 rd 1110011.
        for n in 0..32u32 {
            let bits = 0x81c0_4073
                | (n >> 4) << 30
                | ((n >> 2) & 3) << 26
                | (n & 3) << 20
                | 6 << 15
                | 5 << 7;
            let i = ok(bits);
            assert_eq!((i.op, i.rd, i.rs1, i.rs3), (Op::MopR, 5, 6, n as u8));
        }
        // Neighbours that are not MOPs stay illegal.
        illegal(0x8000_4073); // bit 25 and bits 25:22 = 0111 both clear
        illegal(0xa200_4073); // bit 29 set
                              // dirtybit's loadtag (custom-0); other custom-0 words are illegal.
        assert_eq!(
            ok(0x0005_438b),
            inst(Op::Loadtag, 7, 10, 0, 0),
            "loadtag t2, a0"
        );
        illegal(0x0015_438b); // rs2 != 0
        illegal(0x0005_038b); // funct3 000
    }

    #[test]
    fn system_and_fences() {
        assert_eq!(ok(0x0000_0073), Inst::new(Op::Ecall));
        assert_eq!(ok(0x0010_0073), Inst::new(Op::Ebreak));
        assert_eq!(ok(0x1020_0073), Inst::new(Op::Sret));
        assert_eq!(ok(0x3020_0073), Inst::new(Op::Mret));
        assert_eq!(ok(0x1050_0073), Inst::new(Op::Wfi));
        assert_eq!(ok(0x1220_8073), inst(Op::SfenceVma, 0, 1, 2, 0));
        illegal(0x0000_00f3); // ecall with rd = 1
        illegal(0x0020_0073); // uret (N extension, not ratified)
        illegal(0x7b20_0073); // dret (debug mode)
        illegal(0x1220_80f3); // sfence.vma with rd = 1
        illegal(0x0000_4073); // funct3 100 (hypervisor loads/stores)
                              // csrrw x1,0xfff,x2 keeps the CSR number non-negative.
        assert_eq!(
            ok(enc_i(-1, 2, 1, 1, 0x73)),
            inst(Op::Csrrw, 1, 2, 0, 0xfff)
        );
        // csrrwi x1,0x7c0,5: uimm in rs1.
        assert_eq!(ok(0x7c02_d0f3), inst(Op::Csrrwi, 1, 5, 0, 0x7c0));
        assert_eq!(
            ok(enc_i(0x300, 31, 7, 0, 0x73)),
            inst(Op::Csrrci, 0, 31, 0, 0x300)
        );
        // fence iorw,iorw / fence.tso: imm = fm:pred:succ, zero-extended.
        assert_eq!(ok(0x0ff0_000f), inst(Op::Fence, 0, 0, 0, 0x0ff));
        assert_eq!(ok(0x8330_000f), inst(Op::Fence, 0, 0, 0, 0x833));
        assert_eq!(ok(0x0000_100f), Inst::new(Op::FenceI));
        illegal(0x0000_200f); // MISC-MEM funct3 010
    }

    #[test]
    fn atomics() {
        // amoadd.d.aqrl x1,x3,(x2): funct5 00000, aq = rl = 1.
        let aqrl = ok(enc_amo(0b00000, 0b11, 3, 2, 3, 1));
        assert_eq!(
            aqrl,
            Inst {
                rm: 3,
                ..inst(Op::AmoaddD, 1, 2, 3, 0)
            }
        );
        let lr = ok(enc_amo(0b00010, 0b10, 0, 2, 2, 1));
        assert_eq!(
            lr,
            Inst {
                rm: 2,
                ..inst(Op::LrW, 1, 2, 0, 0)
            }
        );
        let sc = ok(enc_amo(0b00011, 0b01, 4, 5, 3, 6));
        assert_eq!(
            sc,
            Inst {
                rm: 1,
                ..inst(Op::ScD, 6, 5, 4, 0)
            }
        );
        assert_eq!(ok(enc_amo(0b11100, 0b00, 4, 5, 2, 6)).op, Op::AmomaxuW);
        illegal(enc_amo(0b00010, 0b00, 1, 2, 2, 1)); // lr.w with rs2 != 0
        illegal(enc_amo(0b00000, 0b00, 1, 2, 4, 1)); // amoadd.q: not RV64
        illegal(enc_amo(0b00101, 0b00, 1, 2, 2, 1)); // funct5 00101 undefined
    }

    #[test]
    fn floating_point() {
        // fmadd.s f1,f2,f3,f4,rne: rs3 4 | fmt 00 | rs2 3 | rs1 2 | rm 000 | rd 1 | 1000011.
        assert_eq!(
            ok(0x2031_00c3),
            Inst {
                rs3: 4,
                ..inst(Op::FmaddS, 1, 2, 3, 0)
            }
        );
        let fnmadd_d = ok(enc_r(31 << 2 | 1, 30, 29, 7, 28, 0x4f));
        assert_eq!(
            fnmadd_d,
            Inst {
                rs3: 31,
                rm: 7,
                ..inst(Op::FnmaddD, 28, 29, 30, 0)
            }
        );
        illegal(enc_r(4 << 2 | 2, 3, 2, 0, 1, 0x43)); // fmt = H
        illegal(enc_r(4 << 2 | 3, 3, 2, 0, 1, 0x43)); // fmt = Q
                                                      // fadd.d with the reserved rm 5 decodes; execute rejects it.
        let fadd = ok(enc_r(0x01, 3, 2, 5, 1, 0x53));
        assert_eq!(
            fadd,
            Inst {
                rm: 5,
                ..inst(Op::FaddD, 1, 2, 3, 0)
            }
        );
        let fsqrt = ok(enc_r(0x2c, 0, 2, 1, 1, 0x53));
        assert_eq!(
            fsqrt,
            Inst {
                rm: 1,
                ..inst(Op::FsqrtS, 1, 2, 0, 0)
            }
        );
        illegal(enc_r(0x2c, 1, 2, 1, 1, 0x53)); // fsqrt.s with rs2 != 0
        assert_eq!(ok(enc_r(0x20, 1, 2, 7, 1, 0x53)).op, Op::FcvtSD);
        assert_eq!(ok(enc_r(0x21, 0, 2, 0, 1, 0x53)).op, Op::FcvtDS);
        illegal(enc_r(0x20, 0, 2, 7, 1, 0x53)); // fcvt.s.s
        illegal(enc_r(0x21, 1, 2, 7, 1, 0x53)); // fcvt.d.d
        let cvt = ok(enc_r(0x61, 3, 2, 1, 1, 0x53));
        assert_eq!(
            cvt,
            Inst {
                rm: 1,
                ..inst(Op::FcvtLuD, 1, 2, 0, 0)
            }
        );
        illegal(enc_r(0x61, 4, 2, 1, 1, 0x53)); // fcvt selector 4
        assert_eq!(ok(enc_r(0x68, 2, 5, 7, 6, 0x53)).op, Op::FcvtSL);
        assert_eq!(
            ok(enc_r(0x70, 0, 2, 0, 1, 0x53)),
            inst(Op::FmvXW, 1, 2, 0, 0)
        );
        assert_eq!(
            ok(enc_r(0x71, 0, 2, 1, 1, 0x53)),
            inst(Op::FclassD, 1, 2, 0, 0)
        );
        illegal(enc_r(0x70, 0, 2, 2, 1, 0x53)); // funct3 010 under fmv.x.w
        assert_eq!(
            ok(enc_r(0x79, 0, 2, 0, 1, 0x53)),
            inst(Op::FmvDX, 1, 2, 0, 0)
        );
        illegal(enc_r(0x79, 0, 2, 1, 1, 0x53)); // fmv.d.x with funct3 001
        assert_eq!(
            ok(enc_r(0x51, 3, 2, 1, 1, 0x53)),
            inst(Op::FltD, 1, 2, 3, 0)
        );
        illegal(enc_r(0x51, 3, 2, 3, 1, 0x53));
        assert_eq!(
            ok(enc_r(0x14, 3, 2, 1, 1, 0x53)),
            inst(Op::FmaxS, 1, 2, 3, 0)
        );
        illegal(enc_r(0x14, 3, 2, 2, 1, 0x53));
        assert_eq!(
            ok(enc_r(0x11, 3, 2, 2, 1, 0x53)),
            inst(Op::FsgnjxD, 1, 2, 3, 0)
        );
        illegal(enc_r(0x11, 3, 2, 3, 1, 0x53));
        assert_eq!(ok(enc_i(-8, 2, 2, 1, 0x07)), inst(Op::Flw, 1, 2, 0, -8));
    }

    #[test]
    fn longer_encodings_are_illegal() {
        illegal(0x0000_001f); // 48-bit prefix
        illegal(0x0000_003f); // 64-bit prefix
        illegal(0x0000_007f); // >= 80-bit prefix
        illegal(0xffff_ffff);
    }

    #[test]
    fn compressed_quadrant_0() {
        let d = |h: u16| decode_compressed(h);
        assert_eq!(d(0x0000), Err(DecodeError { bits: 0 }));
        // c.addi4spn x8,x2,16: nzuimm[5:4] at bits 12:11 = 01.
        assert_eq!(d(0x0800), Ok(c(Op::Addi, 8, 2, 0, 16)));
        // c.addi4spn x15,x2,1020: every nzuimm bit set, rd' = 7.
        assert_eq!(d(0x1ffc), Ok(c(Op::Addi, 15, 2, 0, 1020)));
        // c.fld f8,248(x15): uimm[5:3] = 111 at 12:10, uimm[7:6] = 11 at 6:5.
        assert_eq!(d(0x3fe0), Ok(c(Op::Fld, 8, 15, 0, 248)));
        // c.lw x8,4(x9): uimm[2] at bit 6, rs1' = 1.
        assert_eq!(d(0x40c0), Ok(c(Op::Lw, 8, 9, 0, 4)));
        // c.sw x15,124(x15): uimm[5:3] 111, uimm[2] bit 6, uimm[6] bit 5.
        assert_eq!(d(0xdffc), Ok(c(Op::Sw, 0, 15, 15, 124)));
        assert_eq!(d(0xfffc), Ok(c(Op::Sd, 0, 15, 15, 248)));
        assert_eq!(d(0x6000), Ok(c(Op::Ld, 8, 8, 0, 0)));
        assert!(d(0x8000).is_err()); // funct3 100 reserved
    }

    #[test]
    fn compressed_quadrant_1() {
        let d = |h: u16| decode_compressed(h);
        assert_eq!(d(0x0001), Ok(c(Op::Addi, 0, 0, 0, 0))); // c.nop
        assert_eq!(d(0x0085), Ok(c(Op::Addi, 1, 1, 0, 1))); // c.addi x1,1
        assert_eq!(d(0x50f5), Ok(c(Op::Addi, 1, 0, 0, -3))); // c.li x1,-3
        assert_eq!(d(0x3ffd), Ok(c(Op::Addiw, 31, 31, 0, -1))); // c.addiw x31,-1
        assert!(d(0x2001).is_err()); // c.addiw x0: reserved
                                     // c.addi16sp x2,-64: nzimm[9] bit 12, [4] bit 6, [6] bit 5, [8:7] bits 4:3, [5] bit 2.
        assert_eq!(d(0x7139), Ok(c(Op::Addi, 2, 2, 0, -64)));
        assert!(d(0x6101).is_err()); // c.addi16sp with nzimm 0
                                     // c.lui x5,0xfffe1: nzimm[17] = 1, nzimm[16:12] = 00001.
        assert_eq!(d(0x7285), Ok(c(Op::Lui, 5, 0, 0, -0x1f000)));
        assert!(d(0x6081).is_err()); // c.lui x1,0
        assert_eq!(d(0x6005), Ok(c(Op::Lui, 0, 0, 0, 0x1000))); // HINT
                                                                // c.srai x8,63: 100 1 01 000 11111 01.
        assert_eq!(d(0x947d), Ok(c(Op::Srai, 8, 8, 0, 63)));
        assert_eq!(d(0x800d), Ok(c(Op::Srli, 8, 8, 0, 3)));
        assert_eq!(d(0x987d), Ok(c(Op::Andi, 8, 8, 0, -1)));
        assert_eq!(d(0x8c05), Ok(c(Op::Sub, 8, 8, 9, 0)));
        assert_eq!(d(0x8c65), Ok(c(Op::And, 8, 8, 9, 0)));
        assert_eq!(d(0x9c05), Ok(c(Op::Subw, 8, 8, 9, 0)));
        assert_eq!(d(0x9c25), Ok(c(Op::Addw, 8, 8, 9, 0)));
        assert!(d(0x9c41).is_err()); // reserved CA slot
        assert!(d(0x9c61).is_err());
        // c.j -2: offset bits 12:2 all ones.
        assert_eq!(d(0xbffd), Ok(c(Op::Jal, 0, 0, 0, -2)));
        // c.beqz x8,-256: only offset[8] (bit 12).
        assert_eq!(d(0xd001), Ok(c(Op::Beq, 0, 8, 0, -256)));
        // c.bnez x15,+254: offset[7:6] bits 6:5, [4:3] bits 11:10, [2:1] bits 4:3, [5] bit 2.
        assert_eq!(d(0xeffd), Ok(c(Op::Bne, 0, 15, 0, 254)));
    }

    #[test]
    fn compressed_quadrant_2() {
        let d = |h: u16| decode_compressed(h);
        assert_eq!(d(0x1082), Ok(c(Op::Slli, 1, 1, 0, 32))); // c.slli x1,32
        assert_eq!(d(0x0002), Ok(c(Op::Slli, 0, 0, 0, 0))); // HINT
                                                            // c.ldsp x1,504(x2): uimm[5] bit 12, [4:3] bits 6:5, [8:6] bits 4:2.
        assert_eq!(d(0x70fe), Ok(c(Op::Ld, 1, 2, 0, 504)));
        assert!(d(0x6002).is_err()); // c.ldsp x0
        assert!(d(0x4002).is_err()); // c.lwsp x0
                                     // c.lwsp x1,252(x2): uimm[5] bit 12, [4:2] bits 6:4, [7:6] bits 3:2.
        assert_eq!(d(0x50fe), Ok(c(Op::Lw, 1, 2, 0, 252)));
        assert_eq!(d(0x20a2), Ok(c(Op::Fld, 1, 2, 0, 8))); // c.fldsp f1,8(x2)
        assert_eq!(d(0x8082), Ok(c(Op::Jalr, 0, 1, 0, 0))); // c.jr x1
        assert!(d(0x8002).is_err()); // c.jr x0
        assert_eq!(d(0x808a), Ok(c(Op::Add, 1, 0, 2, 0))); // c.mv x1,x2
        assert_eq!(d(0x9002), Ok(c(Op::Ebreak, 0, 0, 0, 0)));
        assert_eq!(d(0x9082), Ok(c(Op::Jalr, 1, 1, 0, 0))); // c.jalr x1
        assert_eq!(d(0x908a), Ok(c(Op::Add, 1, 1, 2, 0))); // c.add x1,x2
                                                           // c.sdsp x1,504(x2): uimm[5:3] bits 12:10, [8:6] bits 9:7.
        assert_eq!(d(0xff86), Ok(c(Op::Sd, 0, 2, 1, 504)));
        assert_eq!(d(0xbf86), Ok(c(Op::Fsd, 0, 2, 1, 504)));
        // c.swsp x31,252(x2): uimm[5:2] bits 12:9, [7:6] bits 8:7.
        assert_eq!(d(0xdffe), Ok(c(Op::Sw, 0, 2, 31, 252)));
    }

    #[test]
    fn decode_routes_by_length() {
        // The upper half of a word whose low half is an RVC parcel is ignored.
        assert_eq!(decode(0xdead_0085), decode_compressed(0x0085));
        assert_eq!(decode(0xffff_0000), Err(DecodeError { bits: 0 }));
    }
}
