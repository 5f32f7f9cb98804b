//! F and D arithmetic as pure functions over register bits (IEEE 754-2008 as the RISC-V
//! unprivileged spec requires, chapters "F" and "D": static and dynamic rounding, `fflags`,
//! NaN-boxing, canonical NaNs, saturating conversions).
//!
//! [`execute`] takes the raw source register values (FP registers as 64-bit patterns,
//! NaN-boxed for single precision; integer registers for `fcvt.*.{w,wu,l,lu}` / `fmv.*.x`)
//! and returns the value to write to `rd` (NaN-boxed when `rd` is a single-precision FP
//! register; sign-extended per the spec when `rd` is an integer register) plus the exception
//! flags to OR into `fflags`.
//!
//! # Where the arithmetic comes from
//!
//! Every rounded operation (add, sub, mul, div, sqrt, fused multiply-add, conversions) is
//! Berkeley SoftFloat 3e through the `softfloat-wrapper` crate, built with its `riscv`
//! feature, which selects SoftFloat's `RISCV` specialization: canonical-NaN results
//! (`0x7fc00000` / `0x7ff8000000000000`) instead of x86 NaN propagation, RISC-V's
//! out-of-range/NaN integer results for `fcvt` (NaN and +overflow → max, −overflow → min,
//! negative → 0 for unsigned) and tininess detected after rounding. It is the library Spike,
//! the RISC-V reference simulator, uses, so we get a well-tested implementation of exactly
//! the semantics the spec asks for. The alternative, `rustc_apfloat` (pure Rust), has no
//! square root, detects underflow on the denormalised result (not after rounding with an
//! unbounded exponent, as RISC-V requires) and would need the RISC-V NaN and conversion rules
//! layered on top; SoftFloat needs none of that. Costs: a C build (via `cc`, plus `cmake`
//! for `softfloat-sys`'s `c99` dependency) and SoftFloat's rounding mode and flags living in
//! C thread-locals, so each call sets the mode, clears the flags, runs, and reads them back
//! (a few FFI calls, no allocation). There is no host-float fast path.
//!
//! What SoftFloat does not provide is done here on the bits, per the spec: NaN-box checks
//! (an improperly boxed single input reads as the canonical NaN, §"NaN Boxing of Narrower
//! Values"), `fsgnj*`, `fmin`/`fmax` (IEEE 754-2019 minimumNumber/maximumNumber with
//! −0 < +0), `fclass`, the `fmv` moves, and the sign extension of 32-bit integer results.
//! The `fmsub`/`fnmsub`/`fnmadd` forms negate SoftFloat's `mulAdd` operands (as Spike does),
//! which keeps the single rounding.
//!
//! The oracle is `emu/tests/fpu_vectors.rs`: tens of thousands of vectors produced by
//! `emu/tests/data/fpgen.c` under `qemu-riscv64`.

use bitflags::bitflags;

use softfloat_wrapper::{ExceptionFlags, Float, F32, F64};

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

/// The single-precision canonical NaN (RISC-V unprivileged spec, "F", §"NaN Generation and
/// Propagation").
pub const CANONICAL_NAN_S: u32 = 0x7fc0_0000;

/// The double-precision canonical NaN (RISC-V unprivileged spec, "D").
pub const CANONICAL_NAN_D: u64 = 0x7ff8_0000_0000_0000;

/// Executes FP operation `op` on raw register values.
///
/// `rs1`, `rs2`, `rs3` are the source registers as 64-bit patterns: FP registers as stored
/// (singles NaN-boxed), integer registers for `fcvt.*.{w,wu,l,lu}` and `fmv.{w,d}.x` (only
/// `rs1` is read; the `.w`/`.wu` forms use its low 32 bits). Unused sources are ignored. `rm`
/// is the already-resolved rounding mode (see [`RoundingMode::resolve`]); ops without an `rm`
/// field, and exact ones such as `fcvt.d.s`, ignore it.
///
/// Returns `Some((rd, flags))`: `rd` is NaN-boxed for single-precision FP destinations,
/// sign-extended from 32 bits for `fcvt.w[u].*` and `fmv.x.w`, and 0/1 for `feq`/`flt`/`fle`;
/// `flags` are the exceptions raised, to OR into `fflags` (never cleared by this function).
/// Returns `None` for ops that are not FP computations (`flw`/`fsw`/`fld`/`fsd` and every
/// non-FP op). Never panics.
pub fn execute(op: Op, rs1: u64, rs2: u64, rs3: u64, rm: RoundingMode) -> Option<(u64, Fflags)> {
    let r = rm.to_softfloat();
    let done = |v: u64| Some((v, Fflags::empty()));
    match op {
        // Fused multiply-add, single rounding: fmsub = a*b - c, fnmsub = -(a*b) + c,
        // fnmadd = -(a*b) - c.
        Op::FmaddS => soft(|| box_s(s(rs1).fused_mul_add(s(rs2), s(rs3), r))),
        Op::FmsubS => soft(|| box_s(s(rs1).fused_mul_add(s(rs2), s(rs3).neg(), r))),
        Op::FnmsubS => soft(|| box_s(s(rs1).neg().fused_mul_add(s(rs2), s(rs3), r))),
        Op::FnmaddS => soft(|| box_s(s(rs1).neg().fused_mul_add(s(rs2), s(rs3).neg(), r))),
        Op::FaddS => soft(|| box_s(s(rs1).add(s(rs2), r))),
        Op::FsubS => soft(|| box_s(s(rs1).sub(s(rs2), r))),
        Op::FmulS => soft(|| box_s(s(rs1).mul(s(rs2), r))),
        Op::FdivS => soft(|| box_s(s(rs1).div(s(rs2), r))),
        Op::FsqrtS => soft(|| box_s(s(rs1).sqrt(r))),
        Op::FsgnjS | Op::FsgnjnS | Op::FsgnjxS => {
            done(nan_box(
                SINGLE.sign_inject(op_sgnj(op), unbox(rs1), unbox(rs2)) as u32,
            ))
        }
        Op::FminS => Some(box_flags(SINGLE.min_max(unbox(rs1), unbox(rs2), false))),
        Op::FmaxS => Some(box_flags(SINGLE.min_max(unbox(rs1), unbox(rs2), true))),
        Op::FcvtWS => soft(|| sext32(s(rs1).to_i32(r, true) as u32)),
        Op::FcvtWuS => soft(|| sext32(s(rs1).to_u32(r, true))),
        Op::FcvtLS => soft(|| s(rs1).to_i64(r, true) as u64),
        Op::FcvtLuS => soft(|| s(rs1).to_u64(r, true)),
        // A transfer, not an operation: the low 32 bits move as they are, box or not.
        Op::FmvXW => done(sext32(rs1 as u32)),
        Op::FeqS => soft(|| u64::from(s(rs1).eq(s(rs2)))),
        Op::FltS => soft(|| u64::from(s(rs1).lt(s(rs2)))),
        Op::FleS => soft(|| u64::from(s(rs1).le(s(rs2)))),
        Op::FclassS => done(SINGLE.class(unbox(rs1))),
        Op::FcvtSW => soft(|| box_s(F32::from_i32(rs1 as i32, r))),
        Op::FcvtSWu => soft(|| box_s(F32::from_u32(rs1 as u32, r))),
        Op::FcvtSL => soft(|| box_s(F32::from_i64(rs1 as i64, r))),
        Op::FcvtSLu => soft(|| box_s(F32::from_u64(rs1, r))),
        Op::FmvWX => done(nan_box(rs1 as u32)),

        Op::FmaddD => soft(|| d(rs1).fused_mul_add(d(rs2), d(rs3), r).to_bits()),
        Op::FmsubD => soft(|| d(rs1).fused_mul_add(d(rs2), d(rs3).neg(), r).to_bits()),
        Op::FnmsubD => soft(|| d(rs1).neg().fused_mul_add(d(rs2), d(rs3), r).to_bits()),
        Op::FnmaddD => soft(|| {
            d(rs1)
                .neg()
                .fused_mul_add(d(rs2), d(rs3).neg(), r)
                .to_bits()
        }),
        Op::FaddD => soft(|| d(rs1).add(d(rs2), r).to_bits()),
        Op::FsubD => soft(|| d(rs1).sub(d(rs2), r).to_bits()),
        Op::FmulD => soft(|| d(rs1).mul(d(rs2), r).to_bits()),
        Op::FdivD => soft(|| d(rs1).div(d(rs2), r).to_bits()),
        Op::FsqrtD => soft(|| d(rs1).sqrt(r).to_bits()),
        Op::FsgnjD | Op::FsgnjnD | Op::FsgnjxD => done(DOUBLE.sign_inject(op_sgnj(op), rs1, rs2)),
        Op::FminD => Some(DOUBLE.min_max(rs1, rs2, false)),
        Op::FmaxD => Some(DOUBLE.min_max(rs1, rs2, true)),
        Op::FcvtSD => soft(|| box_s(d(rs1).to_f32(r))),
        Op::FcvtDS => soft(|| s(rs1).to_f64(r).to_bits()),
        Op::FcvtWD => soft(|| sext32(d(rs1).to_i32(r, true) as u32)),
        Op::FcvtWuD => soft(|| sext32(d(rs1).to_u32(r, true))),
        Op::FcvtLD => soft(|| d(rs1).to_i64(r, true) as u64),
        Op::FcvtLuD => soft(|| d(rs1).to_u64(r, true)),
        Op::FmvXD => done(rs1),
        Op::FeqD => soft(|| u64::from(d(rs1).eq(d(rs2)))),
        Op::FltD => soft(|| u64::from(d(rs1).lt(d(rs2)))),
        Op::FleD => soft(|| u64::from(d(rs1).le(d(rs2)))),
        Op::FclassD => done(DOUBLE.class(rs1)),
        Op::FcvtDW => soft(|| F64::from_i32(rs1 as i32, r).to_bits()),
        Op::FcvtDWu => soft(|| F64::from_u32(rs1 as u32, r).to_bits()),
        Op::FcvtDL => soft(|| F64::from_i64(rs1 as i64, r).to_bits()),
        Op::FcvtDLu => soft(|| F64::from_u64(rs1, r).to_bits()),
        Op::FmvDX => done(rs1),
        _ => None,
    }
}

impl RoundingMode {
    /// The SoftFloat rounding mode with the same IEEE 754 meaning.
    fn to_softfloat(self) -> softfloat_wrapper::RoundingMode {
        use softfloat_wrapper::RoundingMode as Sf;
        match self {
            Self::Rne => Sf::TiesToEven,
            Self::Rtz => Sf::TowardZero,
            Self::Rdn => Sf::TowardNegative,
            Self::Rup => Sf::TowardPositive,
            Self::Rmm => Sf::TiesToAway,
        }
    }
}

/// Runs SoftFloat work with its (thread-local) exception flags cleared first and returns
/// the result with the flags it raised.
#[inline]
fn soft(work: impl FnOnce() -> u64) -> Option<(u64, Fflags)> {
    ExceptionFlags::default().set();
    let value = work();
    let mut raised = ExceptionFlags::default();
    raised.get();
    let mut flags = Fflags::empty();
    flags.set(Fflags::NX, raised.is_inexact());
    flags.set(Fflags::UF, raised.is_underflow());
    flags.set(Fflags::OF, raised.is_overflow());
    flags.set(Fflags::DZ, raised.is_infinite());
    flags.set(Fflags::NV, raised.is_invalid());
    Some((value, flags))
}

/// The single-precision value held in a 64-bit FP register: the low 32 bits if the upper 32
/// are all ones, otherwise the canonical NaN (RISC-V unprivileged spec, "D", §"NaN Boxing of
/// Narrower Values").
#[inline]
const fn unbox(reg: u64) -> u64 {
    if reg >> 32 == 0xffff_ffff {
        reg & 0xffff_ffff
    } else {
        CANONICAL_NAN_S as u64
    }
}

#[inline]
fn s(reg: u64) -> F32 {
    F32::from_bits(unbox(reg) as u32)
}

#[inline]
fn d(reg: u64) -> F64 {
    F64::from_bits(reg)
}

#[inline]
fn box_s(v: F32) -> u64 {
    nan_box(v.to_bits())
}

#[inline]
fn box_flags((v, flags): (u64, Fflags)) -> (u64, Fflags) {
    (nan_box(v as u32), flags)
}

/// A 32-bit integer result as RV64 writes it to an integer register: sign-extended.
#[inline]
const fn sext32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// Which sign `fsgnj*` injects.
#[derive(Clone, Copy)]
enum Sgnj {
    /// `fsgnj`: rs2's sign.
    Copy,
    /// `fsgnjn`: the opposite of rs2's sign.
    Negate,
    /// `fsgnjx`: rs1's sign XOR rs2's sign.
    Xor,
}

fn op_sgnj(op: Op) -> Sgnj {
    match op {
        Op::FsgnjnS | Op::FsgnjnD => Sgnj::Negate,
        Op::FsgnjxS | Op::FsgnjxD => Sgnj::Xor,
        _ => Sgnj::Copy,
    }
}

/// An IEEE 754 binary interchange format described by its field masks, for the operations
/// done on the bits rather than by SoftFloat. Values are right-aligned in a `u64`.
struct Format {
    sign: u64,
    exp: u64,
    frac: u64,
    /// The most significant fraction bit: set in a quiet NaN, clear in a signalling one.
    quiet: u64,
    canonical_nan: u64,
}

/// binary32.
const SINGLE: Format = Format {
    sign: 1 << 31,
    exp: 0xff << 23,
    frac: (1 << 23) - 1,
    quiet: 1 << 22,
    canonical_nan: CANONICAL_NAN_S as u64,
};

/// binary64.
const DOUBLE: Format = Format {
    sign: 1 << 63,
    exp: 0x7ff << 52,
    frac: (1 << 52) - 1,
    quiet: 1 << 51,
    canonical_nan: CANONICAL_NAN_D,
};

impl Format {
    #[inline]
    fn is_nan(&self, x: u64) -> bool {
        x & self.exp == self.exp && x & self.frac != 0
    }

    #[inline]
    fn is_snan(&self, x: u64) -> bool {
        self.is_nan(x) && x & self.quiet == 0
    }

    /// A key whose unsigned order is the numeric order of non-NaN values, with −0 < +0.
    #[inline]
    fn order_key(&self, x: u64) -> u64 {
        if x & self.sign != 0 {
            !x & (self.sign | self.exp | self.frac)
        } else {
            x | self.sign
        }
    }

    /// `fsgnj`, `fsgnjn`, `fsgnjx`: `a`'s magnitude with the injected sign. Never raises.
    fn sign_inject(&self, kind: Sgnj, a: u64, b: u64) -> u64 {
        let sign = match kind {
            Sgnj::Copy => b & self.sign,
            Sgnj::Negate => !b & self.sign,
            Sgnj::Xor => (a ^ b) & self.sign,
        };
        (a & !self.sign) | sign
    }

    /// `fmin`/`fmax` (RISC-V unprivileged spec, "F", §"Single-Precision Floating-Point
    /// Compare Instructions"; IEEE 754-2019 minimumNumber/maximumNumber): a NaN operand loses
    /// to a number, two NaNs give the canonical NaN, −0 is less than +0, and a signalling NaN
    /// input raises NV.
    fn min_max(&self, a: u64, b: u64, max: bool) -> (u64, Fflags) {
        let flags = if self.is_snan(a) || self.is_snan(b) {
            Fflags::NV
        } else {
            Fflags::empty()
        };
        let value = match (self.is_nan(a), self.is_nan(b)) {
            (true, true) => self.canonical_nan,
            (true, false) => b,
            (false, true) => a,
            (false, false) => {
                let a_less = self.order_key(a) < self.order_key(b);
                if a_less != max {
                    a
                } else {
                    b
                }
            }
        };
        (value, flags)
    }

    /// `fclass`: the one-hot class mask (RISC-V unprivileged spec, "F", Table "Format of
    /// result of FCLASS instruction"). Never raises.
    fn class(&self, x: u64) -> u64 {
        let negative = x & self.sign != 0;
        let exp = x & self.exp;
        let frac = x & self.frac;
        let bit = if exp == self.exp {
            if frac == 0 {
                if negative {
                    0
                } else {
                    7
                }
            } else if x & self.quiet == 0 {
                8
            } else {
                9
            }
        } else if exp == 0 {
            match (frac == 0, negative) {
                (true, true) => 3,
                (true, false) => 4,
                (false, true) => 2,
                (false, false) => 5,
            }
        } else if negative {
            1
        } else {
            6
        };
        1 << bit
    }
}

#[cfg(test)]
mod tests {
    //! Spec statements spelled out as examples; the exhaustive check against qemu is
    //! `tests/fpu_vectors.rs`.
    use super::*;

    const ONE_S: u64 = nan_box(0x3f80_0000);
    const ONE_D: u64 = 0x3ff0_0000_0000_0000;
    const QNAN_S: u64 = nan_box(0x7fc0_0000);
    const SNAN_S: u64 = nan_box(0x7f80_0001);
    const RNE: RoundingMode = RoundingMode::Rne;

    fn ex(op: Op, a: u64, b: u64) -> (u64, Fflags) {
        execute(op, a, b, 0, RNE).expect("an FP computation")
    }

    #[test]
    fn loads_stores_and_integer_ops_are_not_fp_computations() {
        for op in [Op::Flw, Op::Fsw, Op::Fld, Op::Fsd, Op::Add, Op::Csrrw] {
            assert_eq!(execute(op, 1, 2, 3, RNE), None, "{op:?}");
        }
    }

    #[test]
    fn rounding_mode_resolution_follows_frm_for_dyn_only() {
        assert_eq!(RoundingMode::resolve(1, 3), Some(RoundingMode::Rtz));
        assert_eq!(RoundingMode::resolve(7, 3), Some(RoundingMode::Rup));
        assert_eq!(RoundingMode::resolve(5, 0), None);
        assert_eq!(RoundingMode::resolve(7, 5), None);
    }

    #[test]
    fn improperly_boxed_single_reads_as_canonical_nan() {
        // 0x3f800000 would be 1.0 if the upper half were ignored; the canonical NaN is
        // quiet, so no flag is raised.
        assert_eq!(ex(Op::FaddS, 0x3f80_0000, ONE_S), (QNAN_S, Fflags::empty()));
        assert_eq!(ex(Op::FclassS, 0x3f80_0000, 0).0, 1 << 9);
        // ...but fmv.x.w is a transfer: it moves the low 32 bits, sign-extended.
        assert_eq!(ex(Op::FmvXW, 0xbf80_0000, 0).0, 0xffff_ffff_bf80_0000);
    }

    #[test]
    fn conversions_to_integer_saturate_and_raise_nv() {
        let nv = Fflags::NV;
        assert_eq!(ex(Op::FcvtWS, QNAN_S, 0), (0x7fff_ffff, nv));
        assert_eq!(
            ex(Op::FcvtWS, nan_box(0xff80_0000), 0),
            (0xffff_ffff_8000_0000, nv)
        );
        assert_eq!(ex(Op::FcvtWuS, nan_box(0xbf80_0000), 0), (0, nv));
        assert_eq!(ex(Op::FcvtLuD, 0x7ff8_0000_0000_0000, 0), (u64::MAX, nv));
        // −0.5 rounds to 0 under RTZ: in range, so only inexact.
        let r = execute(Op::FcvtWuS, nan_box(0xbf00_0000), 0, 0, RoundingMode::Rtz);
        assert_eq!(r, Some((0, Fflags::NX)));
        // fcvt.wu results are sign-extended to 64 bits like every W result.
        let max_u32 = f64::from(u32::MAX).to_bits();
        assert_eq!(ex(Op::FcvtWuD, max_u32, 0), (u64::MAX, Fflags::empty()));
    }

    #[test]
    fn min_max_follow_minimum_number_with_signed_zeros() {
        let neg_zero = nan_box(0x8000_0000);
        let pos_zero = nan_box(0);
        assert_eq!(
            ex(Op::FminS, pos_zero, neg_zero),
            (neg_zero, Fflags::empty())
        );
        assert_eq!(
            ex(Op::FmaxS, neg_zero, pos_zero),
            (pos_zero, Fflags::empty())
        );
        assert_eq!(ex(Op::FminS, QNAN_S, ONE_S), (ONE_S, Fflags::empty()));
        assert_eq!(ex(Op::FmaxS, ONE_S, SNAN_S), (ONE_S, Fflags::NV));
        assert_eq!(ex(Op::FminS, SNAN_S, QNAN_S), (QNAN_S, Fflags::NV));
        let d = ex(Op::FmaxD, 0x7ff0_0000_0000_0001, 0xfff8_0000_0000_1234);
        assert_eq!(d, (CANONICAL_NAN_D, Fflags::NV));
    }

    #[test]
    fn feq_is_quiet_and_flt_fle_signal() {
        assert_eq!(ex(Op::FeqS, QNAN_S, ONE_S), (0, Fflags::empty()));
        assert_eq!(ex(Op::FeqS, SNAN_S, ONE_S), (0, Fflags::NV));
        assert_eq!(ex(Op::FltS, QNAN_S, ONE_S), (0, Fflags::NV));
        assert_eq!(ex(Op::FleD, ONE_D, ONE_D), (1, Fflags::empty()));
        assert_eq!(ex(Op::FeqD, 0, 1 << 63), (1, Fflags::empty()));
    }

    #[test]
    fn fused_multiply_add_rounds_once() {
        // (1 + 2^-52)(1 - 2^-52) - 1 = -2^-104 exactly; a separate multiply would round the
        // product to 1 and give 0.
        let (a, b) = (0x3ff0_0000_0000_0001, 0x3fef_ffff_ffff_fffe);
        let r = execute(Op::FmsubD, a, b, ONE_D, RNE);
        assert_eq!(
            r,
            Some(((-104f64).exp2().to_bits() | 1 << 63, Fflags::empty()))
        );
    }

    #[test]
    fn arithmetic_results_and_flags() {
        let two_s = nan_box(0x4000_0000);
        assert_eq!(ex(Op::FaddS, ONE_S, ONE_S), (two_s, Fflags::empty()));
        assert_eq!(ex(Op::FdivD, ONE_D, 0), (0x7ff0_0000_0000_0000, Fflags::DZ));
        assert_eq!(
            ex(Op::FsqrtD, 1 << 63 | ONE_D, 0),
            (CANONICAL_NAN_D, Fflags::NV)
        );
        assert_eq!(
            ex(Op::FcvtSD, 0x7ff0_0000_0000_0001, 0),
            (QNAN_S, Fflags::NV)
        );
        let third = ex(Op::FdivS, ONE_S, nan_box(0x4040_0000));
        assert_eq!(third, (nan_box(0x3eaa_aaab), Fflags::NX));
    }

    #[test]
    fn fclass_sets_one_bit_per_class() {
        let cases = [
            (0xfff0_0000_0000_0000, 0),
            (0xbff0_0000_0000_0000, 1),
            (0x8000_0000_0000_0001, 2),
            (0x8000_0000_0000_0000, 3),
            (0, 4),
            (1, 5),
            (ONE_D, 6),
            (0x7ff0_0000_0000_0000, 7),
            (0x7ff0_0000_0000_0001, 8),
            (0x7ff8_0000_0000_0000, 9),
        ];
        for (x, bit) in cases {
            assert_eq!(ex(Op::FclassD, x, 0), (1 << bit, Fflags::empty()), "{x:#x}");
        }
    }
}
