//! F and D arithmetic as pure functions over register bits (IEEE 754-2008 as the RISC-V
//! spec requires: static and dynamic rounding, `fflags`, NaN-boxing, canonical NaNs,
//! saturating conversions).
//!
//! CONTRACT (being implemented): [`execute`] takes the raw source register values (FP
//! registers as 64-bit patterns, NaN-boxed for single precision; integer registers for
//! `fcvt.*.{w,wu,l,lu}` / `fmv.*.x`) and returns the value to write to `rd` (NaN-boxed when
//! `rd` is a single-precision FP register; sign-extended per the spec when `rd` is an
//! integer register) plus the exception flags to OR into `fflags`.

use bitflags::bitflags;

use crate::inst::Op;

bitflags! {
    /// The accrued exception flags (`fflags`, `fcsr[4:0]`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Fflags: u8 {
        /// Inexact.
        const NX = 1 << 0;
        /// Underflow.
        const UF = 1 << 1;
        /// Overflow.
        const OF = 1 << 2;
        /// Divide by zero.
        const DZ = 1 << 3;
        /// Invalid operation.
        const NV = 1 << 4;
    }
}

/// A static rounding mode (the `rm` field / `frm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// 000: round to nearest, ties to even.
    Rne,
    /// 001: round towards zero.
    Rtz,
    /// 010: round down (towards −∞).
    Rdn,
    /// 011: round up (towards +∞).
    Rup,
    /// 100: round to nearest, ties to max magnitude.
    Rmm,
}

impl RoundingMode {
    /// The effective rounding mode for an instruction's `rm` field (7 = DYN uses `frm`).
    /// `None` means the instruction is illegal (reserved `rm` 5/6, or DYN with `frm` ≥ 5).
    pub fn resolve(inst_rm: u8, frm: u8) -> Option<Self> {
        let rm = if inst_rm == 7 { frm } else { inst_rm };
        match rm {
            0 => Some(Self::Rne),
            1 => Some(Self::Rtz),
            2 => Some(Self::Rdn),
            3 => Some(Self::Rup),
            4 => Some(Self::Rmm),
            _ => None,
        }
    }
}

/// NaN-boxes a single-precision value into a 64-bit FP register.
#[inline]
pub const fn nan_box(f32_bits: u32) -> u64 {
    0xffff_ffff_0000_0000 | f32_bits as u64
}

/// Executes FP operation `op`. Returns `None` for ops that are not FP computations
/// (loads/stores and non-FP ops).
pub fn execute(op: Op, rs1: u64, rs2: u64, rs3: u64, rm: RoundingMode) -> Option<(u64, Fflags)> {
    let _ = (op, rs1, rs2, rs3, rm);
    None
}
