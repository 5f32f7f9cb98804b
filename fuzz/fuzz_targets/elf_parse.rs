//! Fuzz target `elf_parse`: [`guestos::loader::parse_elf`] must never panic on any input.
//! When it accepts an image, the documented invariants of [`ElfImage`] must hold, and
//! [`ElfImage::with_bias`] and [`build_initial_stack`] on the result must not panic either
//! (they may return errors).
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run elf_parse -- -max_total_time=300`.

#![no_main]

use guestos::loader::{
    build_initial_stack, parse_elf, AuxFacts, ElfImage, InitialStack, StackRequest,
};
use libfuzzer_sys::fuzz_target;

/// The biases tried: none, the one the kernel picks for a static-pie on Sv39
/// (`ELF_ET_DYN_BASE`-like, two thirds of the way up), one near the top of the address
/// space (overflow path), and one taken from the input itself.
fn biases(data: &[u8]) -> [u64; 4] {
    let tail = data
        .len()
        .checked_sub(8)
        .and_then(|at| data.get(at..))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    [0, 0x2a_aaaa_a000, u64::MAX - 0xfff, tail & !0xfff]
}

/// What `parse_elf` promises about an accepted image (see `ElfImage`'s field docs).
fn check_image(img: &ElfImage, file_len: usize) {
    assert!(!img.segments.is_empty(), "{img:?}");
    for seg in &img.segments {
        assert!(seg.filesz <= seg.memsz, "{seg:?}");
        let file_end = seg
            .offset
            .checked_add(seg.filesz)
            .expect("file range wraps");
        assert!(file_end <= file_len as u64, "{seg:?} beyond {file_len}");
        assert!(seg.vaddr.checked_add(seg.memsz).is_some(), "{seg:?}");
        assert_eq!(seg.vaddr % 4096, seg.offset % 4096, "{seg:?}");
    }
    for pair in img.segments.windows(2) {
        if let [a, b] = pair {
            assert!(a.vaddr <= b.vaddr, "not sorted: {a:?} {b:?}");
            assert!(a.end() <= b.vaddr, "overlap: {a:?} {b:?}");
        }
    }
    assert!(
        img.segments
            .iter()
            .any(|s| s.perms.exec && s.vaddr <= img.entry && img.entry < s.end()),
        "entry {:#x} not in an executable segment",
        img.entry
    );
    assert_eq!(
        img.span_start,
        img.segments.iter().map(|s| s.vaddr).min().unwrap_or(0)
    );
    assert_eq!(
        img.span_end,
        img.segments.iter().map(|s| s.end()).max().unwrap_or(0)
    );
    assert_eq!(img.phent, 56);
}

fn check_stack(stack: &InitialStack, top: u64) {
    assert_eq!(stack.bytes.len() as u64, top - stack.base);
    assert_eq!(stack.sp % 16, 0);
    assert_eq!(stack.sp, stack.base);
    assert_eq!(stack.auxv.last(), Some(&(0, 0)));
}

fuzz_target!(|data: &[u8]| {
    let Ok(img) = parse_elf(data) else {
        return;
    };
    check_image(&img, data.len());
    for bias in biases(data) {
        let Ok(biased) = img.with_bias(bias) else {
            continue;
        };
        if bias == 0 {
            assert_eq!(biased, img);
        }
        let argv: [&[u8]; 2] = [b"/fuzz", b"arg"];
        let envp: [&[u8]; 1] = [b"HOME=/"];
        let top = 0x3f_ffff_f000;
        let req = StackRequest {
            stack_top: top,
            argv: &argv,
            envp: &envp,
            execfn: b"/fuzz",
            random: [7; 16],
            aux: AuxFacts::for_image(&img, bias),
            stack_rlimit_bytes: 8 << 20,
        };
        let stack = build_initial_stack(&req).expect("a well-formed request is accepted");
        check_stack(&stack, top);
    }
});
