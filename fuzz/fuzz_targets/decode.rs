//! Fuzz target `decode`: every 4-byte window of the input is decoded as an instruction
//! word (and its low half as an RVC parcel); decoding and disassembly must never panic and
//! every decoded instruction must satisfy the `Inst` field invariants.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run decode -- -max_total_time=300` from `fuzz/`.

#![no_main]

use std::fmt::Write as _;

use emu::decode::{decode, decode_compressed};
use libfuzzer_sys::fuzz_target;

fn check(bits: u32, text: &mut String) {
    let result = decode(bits);
    if bits & 3 != 3 {
        assert_eq!(result, decode_compressed(bits as u16));
    }
    match result {
        Ok(inst) => {
            assert_eq!(inst.len == 2, bits & 3 != 3, "{bits:#010x}: {inst:?}");
            assert!(inst.len == 2 || inst.len == 4);
            for r in [inst.rd, inst.rs1, inst.rs2, inst.rs3] {
                assert!(r < 32, "{bits:#010x}: {inst:?}");
            }
            assert!(inst.rm < 8, "{bits:#010x}: {inst:?}");
            text.clear();
            write!(text, "{inst}").expect("formatting into a String");
            write!(
                text,
                "{}",
                inst.disasm_at(u64::from(bits) << 32 | 0xffff_fff0)
            )
            .expect("formatting into a String");
            assert!(!text.is_empty());
        }
        Err(e) => {
            let expected = if bits & 3 != 3 { bits & 0xffff } else { bits };
            assert_eq!(e.bits, expected);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut text = String::new();
    for window in data.windows(4) {
        let bits = u32::from_le_bytes([window[0], window[1], window[2], window[3]]);
        check(bits, &mut text);
    }
});
