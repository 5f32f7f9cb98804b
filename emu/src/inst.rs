//! The decoded instruction: one flat opcode plus fixed operand fields.
//!
//! [`crate::decode::decode`] turns a 32-bit or 16-bit (RVC) encoding into an [`Inst`]; the
//! compressed forms expand to the same [`Op`]s as their 32-bit equivalents (with `len = 2`).
//! The executor matches on `op` once (one jump table), which is why integer operations are
//! flat rather than nested.

/// Every operation of RV64IMAFDC + Zicsr + Zifencei (+ the privileged instructions a
/// full-system mode will need). Names are the mnemonics in UpperCamelCase.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    // RV64I
    Lui,
    Auipc,
    Jal,
    Jalr,
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    Lb,
    Lh,
    Lw,
    Ld,
    Lbu,
    Lhu,
    Lwu,
    Sb,
    Sh,
    Sw,
    Sd,
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    Addiw,
    Slliw,
    Srliw,
    Sraiw,
    Addw,
    Subw,
    Sllw,
    Srlw,
    Sraw,
    Fence,
    Ecall,
    Ebreak,
    // Zifencei
    FenceI,
    // Zicsr (`imm` holds the CSR number; for the *i forms `rs1` holds the 5-bit uimm)
    Csrrw,
    Csrrs,
    Csrrc,
    Csrrwi,
    Csrrsi,
    Csrrci,
    // M
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    Mulw,
    Divw,
    Divuw,
    Remw,
    Remuw,
    // A (aq/rl are in `rm`: bit 1 = aq, bit 0 = rl)
    LrW,
    ScW,
    AmoswapW,
    AmoaddW,
    AmoxorW,
    AmoandW,
    AmoorW,
    AmominW,
    AmomaxW,
    AmominuW,
    AmomaxuW,
    LrD,
    ScD,
    AmoswapD,
    AmoaddD,
    AmoxorD,
    AmoandD,
    AmoorD,
    AmominD,
    AmomaxD,
    AmominuD,
    AmomaxuD,
    // F
    Flw,
    Fsw,
    FmaddS,
    FmsubS,
    FnmsubS,
    FnmaddS,
    FaddS,
    FsubS,
    FmulS,
    FdivS,
    FsqrtS,
    FsgnjS,
    FsgnjnS,
    FsgnjxS,
    FminS,
    FmaxS,
    FcvtWS,
    FcvtWuS,
    FcvtLS,
    FcvtLuS,
    FmvXW,
    FeqS,
    FltS,
    FleS,
    FclassS,
    FcvtSW,
    FcvtSWu,
    FcvtSL,
    FcvtSLu,
    FmvWX,
    // D
    Fld,
    Fsd,
    FmaddD,
    FmsubD,
    FnmsubD,
    FnmaddD,
    FaddD,
    FsubD,
    FmulD,
    FdivD,
    FsqrtD,
    FsgnjD,
    FsgnjnD,
    FsgnjxD,
    FminD,
    FmaxD,
    FcvtSD,
    FcvtDS,
    FcvtWD,
    FcvtWuD,
    FcvtLD,
    FcvtLuD,
    FmvXD,
    FeqD,
    FltD,
    FleD,
    FclassD,
    FcvtDW,
    FcvtDWu,
    FcvtDL,
    FcvtDLu,
    FmvDX,
    // Privileged
    Sret,
    Mret,
    Wfi,
    SfenceVma,
}

/// A decoded instruction (12 bytes).
///
/// Field use by format: R: `rd rs1 rs2`; I: `rd rs1 imm`; S/B: `rs1 rs2 imm`; U/J: `rd imm`
/// (U: `imm` is the already-shifted 32-bit value, sign-extended); R4: `rd rs1 rs2 rs3 rm`;
/// FP ops with a rounding mode keep it in `rm` (7 = DYN); shifts keep the shamt in `imm`;
/// CSR ops keep the CSR number in `imm`. Unused fields are 0. `len` is 2 (RVC) or 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inst {
    /// The operation.
    pub op: Op,
    /// Destination register (integer or FP by `op`).
    pub rd: u8,
    /// First source register (or the CSR uimm).
    pub rs1: u8,
    /// Second source register.
    pub rs2: u8,
    /// Third source register (R4 fused multiply-add).
    pub rs3: u8,
    /// Rounding mode (FP) or aq/rl bits (A).
    pub rm: u8,
    /// Encoded length in bytes: 2 or 4.
    pub len: u8,
    /// Immediate, sign-extended as the format defines; CSR number; shift amount.
    pub imm: i32,
}

impl Inst {
    /// An instruction with every operand field zero and `len = 4`.
    pub const fn new(op: Op) -> Self {
        Self {
            op,
            rd: 0,
            rs1: 0,
            rs2: 0,
            rs3: 0,
            rm: 0,
            len: 4,
            imm: 0,
        }
    }
}
