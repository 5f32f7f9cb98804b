//! Checks `emu::fpu::execute` against `qemu-riscv64`: every line of
//! `tests/data/fp_vectors.txt` (made by `tests/data/fpgen.c`, see `regen_fp_vectors.sh`) is
//! one F/D instruction executed under qemu with its inputs, static rounding mode, result
//! register and `fflags`. The fixture covers every F/D computation in [`Op`] with special
//! values, boundary values and random inputs under all five rounding modes.

use emu::fpu::{execute, Fflags, RoundingMode};
use emu::Op;

const FIXTURE: &str = include_str!("data/fp_vectors.txt");

/// The assembler mnemonic of every F/D computation (loads and stores are the hart's).
const OPS: &[(&str, Op)] = &[
    ("fmadd.s", Op::FmaddS),
    ("fmsub.s", Op::FmsubS),
    ("fnmsub.s", Op::FnmsubS),
    ("fnmadd.s", Op::FnmaddS),
    ("fadd.s", Op::FaddS),
    ("fsub.s", Op::FsubS),
    ("fmul.s", Op::FmulS),
    ("fdiv.s", Op::FdivS),
    ("fsqrt.s", Op::FsqrtS),
    ("fsgnj.s", Op::FsgnjS),
    ("fsgnjn.s", Op::FsgnjnS),
    ("fsgnjx.s", Op::FsgnjxS),
    ("fmin.s", Op::FminS),
    ("fmax.s", Op::FmaxS),
    ("fcvt.w.s", Op::FcvtWS),
    ("fcvt.wu.s", Op::FcvtWuS),
    ("fcvt.l.s", Op::FcvtLS),
    ("fcvt.lu.s", Op::FcvtLuS),
    ("fmv.x.w", Op::FmvXW),
    ("feq.s", Op::FeqS),
    ("flt.s", Op::FltS),
    ("fle.s", Op::FleS),
    ("fclass.s", Op::FclassS),
    ("fcvt.s.w", Op::FcvtSW),
    ("fcvt.s.wu", Op::FcvtSWu),
    ("fcvt.s.l", Op::FcvtSL),
    ("fcvt.s.lu", Op::FcvtSLu),
    ("fmv.w.x", Op::FmvWX),
    ("fmadd.d", Op::FmaddD),
    ("fmsub.d", Op::FmsubD),
    ("fnmsub.d", Op::FnmsubD),
    ("fnmadd.d", Op::FnmaddD),
    ("fadd.d", Op::FaddD),
    ("fsub.d", Op::FsubD),
    ("fmul.d", Op::FmulD),
    ("fdiv.d", Op::FdivD),
    ("fsqrt.d", Op::FsqrtD),
    ("fsgnj.d", Op::FsgnjD),
    ("fsgnjn.d", Op::FsgnjnD),
    ("fsgnjx.d", Op::FsgnjxD),
    ("fmin.d", Op::FminD),
    ("fmax.d", Op::FmaxD),
    ("fcvt.s.d", Op::FcvtSD),
    ("fcvt.d.s", Op::FcvtDS),
    ("fcvt.w.d", Op::FcvtWD),
    ("fcvt.wu.d", Op::FcvtWuD),
    ("fcvt.l.d", Op::FcvtLD),
    ("fcvt.lu.d", Op::FcvtLuD),
    ("fmv.x.d", Op::FmvXD),
    ("feq.d", Op::FeqD),
    ("flt.d", Op::FltD),
    ("fle.d", Op::FleD),
    ("fclass.d", Op::FclassD),
    ("fcvt.d.w", Op::FcvtDW),
    ("fcvt.d.wu", Op::FcvtDWu),
    ("fcvt.d.l", Op::FcvtDL),
    ("fcvt.d.lu", Op::FcvtDLu),
    ("fmv.d.x", Op::FmvDX),
];

/// Conversions that are always exact: the assembler takes no `rm` for them, so the fixture
/// has them once; the result must not depend on the rounding mode, so all five are checked.
const EXACT: &[Op] = &[Op::FcvtDS, Op::FcvtDW, Op::FcvtDWu];

const ALL_RM: [RoundingMode; 5] = [
    RoundingMode::Rne,
    RoundingMode::Rtz,
    RoundingMode::Rdn,
    RoundingMode::Rup,
    RoundingMode::Rmm,
];

/// One fixture line: `op rm rs1 rs2 rs3 -> rd fflags`, numbers in hex.
struct Vector<'a> {
    name: &'a str,
    rm: u8,
    src: [u64; 3],
    rd: u64,
    fflags: u8,
}

fn parse(line: &str) -> Result<Vector<'_>, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [name, rm, a, b, c, "->", rd, fl] = f[..] else {
        return Err(format!("malformed line: {line:?}"));
    };
    let hex = |s: &str| u64::from_str_radix(s, 16).map_err(|e| format!("{s:?} in {line:?}: {e}"));
    Ok(Vector {
        name,
        rm: rm.parse().map_err(|e| format!("rm in {line:?}: {e}"))?,
        src: [hex(a)?, hex(b)?, hex(c)?],
        rd: hex(rd)?,
        fflags: u8::try_from(hex(fl)?).map_err(|e| format!("fflags in {line:?}: {e}"))?,
    })
}

#[test]
fn fpu_matches_qemu_on_every_vector() {
    let mut checked = 0usize;
    let mut per_op = vec![0usize; OPS.len()];
    let mut mismatches = Vec::new();
    for (lineno, line) in FIXTURE.lines().enumerate() {
        let v = parse(line).unwrap_or_else(|e| panic!("line {}: {e}", lineno + 1));
        let Some(idx) = OPS.iter().position(|(n, _)| *n == v.name) else {
            panic!("line {}: unknown op {:?}", lineno + 1, v.name);
        };
        let op = OPS[idx].1;
        per_op[idx] += 1;
        let rm = RoundingMode::resolve(v.rm, 0)
            .unwrap_or_else(|| panic!("line {}: bad rm {}", lineno + 1, v.rm));
        let rms = if EXACT.contains(&op) {
            &ALL_RM[..]
        } else {
            std::slice::from_ref(&rm)
        };
        for &rm in rms {
            checked += 1;
            let want = (v.rd, Fflags::from_bits_retain(v.fflags));
            let got = execute(op, v.src[0], v.src[1], v.src[2], rm);
            if got != Some(want) {
                mismatches.push(format!(
                    "line {}: {} {rm:?} {:#x} {:#x} {:#x}: want {:#x} {:?}, got {}",
                    lineno + 1,
                    v.name,
                    v.src[0],
                    v.src[1],
                    v.src[2],
                    want.0,
                    want.1,
                    match got {
                        Some((rd, fl)) => format!("{rd:#x} {fl:?}"),
                        None => "None".to_owned(),
                    }
                ));
            }
        }
    }
    for ((name, _), n) in OPS.iter().zip(&per_op) {
        assert!(*n >= 100, "fixture has only {n} vectors for {name}");
    }
    assert!(checked > 50_000, "fixture too small: {checked} checks");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} vectors differ from qemu; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
