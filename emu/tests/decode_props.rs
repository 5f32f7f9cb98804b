//! Property tests for `emu::decode`: totality and the `Inst` field invariants over the
//! whole 32-bit space, and an independent field encoder round-tripped through the decoder
//! for every immediate format (Unprivileged §2.3, figures 2.3/2.4).

use emu::decode::{decode, decode_compressed, DecodeError};
use emu::inst::{Inst, Op};
use proptest::prelude::*;

/// Sets `count` bits of `value` starting at `lo` of `word`.
fn put(word: u32, lo: u32, count: u32, value: u32) -> u32 {
    word | (value & ((1 << count) - 1)) << lo
}

/// The spec's immediate scrambling, written bit by bit from figure 2.4.
fn enc_b(imm: i32, rs1: u32, rs2: u32, funct3: u32) -> u32 {
    let imm = imm as u32;
    let mut w = 0x63;
    w = put(w, 7, 1, imm >> 11);
    w = put(w, 8, 4, imm >> 1);
    w = put(w, 12, 3, funct3);
    w = put(w, 15, 5, rs1);
    w = put(w, 20, 5, rs2);
    w = put(w, 25, 6, imm >> 5);
    put(w, 31, 1, imm >> 12)
}

fn enc_j(imm: i32, rd: u32) -> u32 {
    let imm = imm as u32;
    let mut w = 0x6f;
    w = put(w, 7, 5, rd);
    w = put(w, 12, 8, imm >> 12);
    w = put(w, 20, 1, imm >> 11);
    w = put(w, 21, 10, imm >> 1);
    put(w, 31, 1, imm >> 20)
}

fn enc_s(imm: i32, rs1: u32, rs2: u32, funct3: u32) -> u32 {
    let imm = imm as u32;
    let mut w = 0x23;
    w = put(w, 7, 5, imm);
    w = put(w, 12, 3, funct3);
    w = put(w, 15, 5, rs1);
    w = put(w, 20, 5, rs2);
    put(w, 25, 7, imm >> 5)
}

fn check_invariants(bits: u32, result: Result<Inst, DecodeError>) -> Result<(), TestCaseError> {
    let compressed = bits & 3 != 3;
    match result {
        Ok(inst) => {
            prop_assert_eq!(inst.len == 2, compressed);
            prop_assert!(inst.len == 2 || inst.len == 4);
            for r in [inst.rd, inst.rs1, inst.rs2, inst.rs3] {
                prop_assert!(r < 32, "register {} in {:?}", r, inst);
            }
            prop_assert!(inst.rm < 8);
            if matches!(
                inst.op,
                Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci
            ) {
                prop_assert!((0..4096).contains(&inst.imm));
            }
            // Display is total too.
            prop_assert!(!inst.disasm_at(u64::from(bits)).to_string().is_empty());
        }
        Err(e) => {
            prop_assert_eq!(e.bits, if compressed { bits & 0xffff } else { bits });
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000)
    ))]

    #[test]
    fn decode_is_total_and_fields_are_in_range(bits in any::<u32>()) {
        check_invariants(bits, decode(bits))?;
    }

    /// Words that are 32-bit encodings (random low bits would make 3/4 of cases RVC).
    #[test]
    fn decode_32_bit_space(bits in any::<u32>()) {
        let bits = bits | 3;
        check_invariants(bits, decode(bits))?;
    }

    #[test]
    fn compressed_agrees_with_decode(half in any::<u16>()) {
        let bits = u32::from(half);
        if bits & 3 != 3 {
            prop_assert_eq!(decode(bits), decode_compressed(half));
            check_invariants(bits, decode(bits))?;
        } else {
            prop_assert!(decode_compressed(half).is_err());
        }
    }

    #[test]
    fn b_immediate_round_trips(
        off in -2048i32..2048, rs1 in 0u32..32, rs2 in 0u32..32,
        f3 in prop::sample::select(vec![0u32, 1, 4, 5, 6, 7]),
    ) {
        let imm = off * 2;
        let inst = decode(enc_b(imm, rs1, rs2, f3)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inst.imm, imm);
        prop_assert_eq!((u32::from(inst.rs1), u32::from(inst.rs2), inst.rd), (rs1, rs2, 0));
    }

    #[test]
    fn j_immediate_round_trips(off in -(1i32 << 19)..(1 << 19), rd in 0u32..32) {
        let imm = off * 2;
        let inst = decode(enc_j(imm, rd)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inst.op, Op::Jal);
        prop_assert_eq!(inst.imm, imm);
        prop_assert_eq!(u32::from(inst.rd), rd);
    }

    #[test]
    fn s_immediate_round_trips(imm in -2048i32..2048, rs1 in 0u32..32, rs2 in 0u32..32, f3 in 0u32..4) {
        let inst = decode(enc_s(imm, rs1, rs2, f3)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inst.imm, imm);
        prop_assert_eq!((u32::from(inst.rs1), u32::from(inst.rs2)), (rs1, rs2));
    }

    #[test]
    fn u_immediate_is_shifted_and_sign_extended(upper in 0u32..(1 << 20), rd in 0u32..32) {
        let inst = decode(upper << 12 | rd << 7 | 0x37).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(inst.op, Op::Lui);
        prop_assert_eq!(i64::from(inst.imm), i64::from((upper << 12) as i32));
        prop_assert_eq!(inst.imm & 0xfff, 0);
    }
}

/// Every one of the 2^32 words: decode never panics and every `Ok` satisfies the field
/// invariants (Display is exercised on a 1-in-4096 sample to keep it to seconds).
/// Run with `cargo test -p emu --test decode_props -- --ignored` (about 60 s of CPU).
#[test]
#[ignore = "exhaustive 2^32 sweep; run explicitly"]
fn exhaustive_u32_sweep() {
    let mut ok = 0u64;
    for bits in 0..=u32::MAX {
        let result = decode(bits);
        match result {
            Ok(inst) => {
                ok += 1;
                assert_eq!(inst.len == 2, bits & 3 != 3, "{bits:#010x}");
                assert!(inst.rd < 32 && inst.rs1 < 32 && inst.rs2 < 32 && inst.rs3 < 32);
                assert!(inst.rm < 8, "{bits:#010x}");
                if bits & 0xfff == 0x073 {
                    assert!(!inst.to_string().is_empty());
                }
            }
            Err(e) => assert_eq!(e.bits, if bits & 3 != 3 { bits & 0xffff } else { bits }),
        }
    }
    eprintln!("{ok} of 2^32 words decode");
    assert!(ok > 1 << 31, "only {ok} words decode");
}
