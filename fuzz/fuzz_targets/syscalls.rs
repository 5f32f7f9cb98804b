//! Fuzz target `syscalls`: runs a tiny generated static program that issues a sequence of
//! system calls whose numbers and arguments come from the input, through the whole
//! machine (`dirtybit::run_image`, 32 MiB of RAM, 200 000 instructions, deterministic
//! mode). The kernel must answer every call with a result or an errno, or kill the guest;
//! a host panic is a bug. Deterministic mode runs on modelled time, so a call that sleeps
//! (`nanosleep`, `ppoll`/`pselect6` with a timeout, `pause` after `setitimer`) advances the
//! virtual clock instead of sleeping the host, and the instruction budget bounds the run.
//!
//! Input format: byte 0 is the number of calls `k` (taken mod 33), then `k` records of
//! seven little-endian u64s `nr, a0..a5` (zero-padded if the input is short), then up to
//! 4 KiB of bytes that initialise the scratch area (paths, iovecs, sigactions...).
//! Host-side adjustments before the image is built:
//! - `nr` is taken mod 512 (riscv64 syscall numbers are below that).
//! - An argument whose top byte is `0xaa` becomes a pointer into the 64 KiB scratch area:
//!   `scratch + (a & 0xffff)`, so pointer arguments often point at mapped, writable memory.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run syscalls -- -max_total_time=300`.
//! To replay an input with a syscall trace, set `SYSCALLS_DUMP=<file>` while running the
//! target binary on it and run the dumped image with `dirtybit run --strace <file>`.

#![no_main]

use dirtybit::guestos::HostStreams;
use dirtybit::{run_image, RunOptions};
use libfuzzer_sys::fuzz_target;

#[path = "program.rs"]
mod program;
use program::{le_words, next_call, put, static_elf};

/// Link address of the single `PT_LOAD` (file offset 0).
const BASE: u64 = 0x10000;
/// File offset of the code (entry point = `BASE + CODE_OFF`).
const CODE_OFF: usize = 0x80;
/// The record count is a u32 at `CODE_OFF + 124`, the records start at `CODE_OFF + 128`.
const RECORDS_OFF: usize = CODE_OFF + 128;
/// Size of the scratch area that starts right after the records (file bytes, then bss).
const SCRATCH_LEN: u64 = 0x10000;
const MAX_CALLS: usize = 32;

/// The program, assembled with `riscv64-linux-gnu-as` (`.option norvc`):
/// ```text
///     auipc s0, 0
///     addi  s0, s0, 128      # s0 = &records[0]
///     lw    s1, -4(s0)       # s1 = count
/// 1:  beqz  s1, 2f
///     ld a7, 0(s0); ld a0, 8(s0); ld a1, 16(s0); ld a2, 24(s0)
///     ld a3, 32(s0); ld a4, 40(s0); ld a5, 48(s0)
///     ecall
///     addi s0, s0, 56
///     addi s1, s1, -1
///     j 1b
/// 2:  li a7, 94              # exit_group(0)
///     li a0, 0
///     ecall
/// ```
const CODE: [u32; 18] = [
    0x0000_0417,
    0x0804_0413,
    0xffc4_2483,
    0x0204_8863,
    0x0004_3883,
    0x0084_3503,
    0x0104_3583,
    0x0184_3603,
    0x0204_3683,
    0x0284_3703,
    0x0304_3783,
    0x0000_0073,
    0x0384_0413,
    0xfff4_8493,
    0xfd5f_f06f,
    0x05e0_0893,
    0x0000_0513,
    0x0000_0073,
];

/// Builds the ELF image for `calls` (already adjusted) and the scratch initialiser.
fn build_image(calls: &[[u64; 7]], scratch_init: &[u8]) -> Vec<u8> {
    let scratch_off = RECORDS_OFF + calls.len() * 56;
    let file_len = scratch_off + scratch_init.len();
    let memsz = (scratch_off as u64) + SCRATCH_LEN;
    let mut img = static_elf(BASE, BASE + CODE_OFF as u64, file_len, memsz);
    for (i, w) in CODE.iter().enumerate() {
        put(&mut img, CODE_OFF + 4 * i, &w.to_le_bytes());
    }
    put(
        &mut img,
        RECORDS_OFF - 4,
        &(calls.len() as u32).to_le_bytes(),
    );
    for (i, call) in calls.iter().enumerate() {
        for (j, v) in call.iter().enumerate() {
            put(&mut img, RECORDS_OFF + 56 * i + 8 * j, &v.to_le_bytes());
        }
    }
    put(&mut img, scratch_off, scratch_init);
    img
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count) % (MAX_CALLS + 1);
    let scratch = BASE + (RECORDS_OFF + count * 56) as u64;
    let mut words = le_words(rest);
    let mut calls = Vec::with_capacity(count);
    for _ in 0..count {
        calls.push(next_call(&mut words, scratch));
    }
    let used = (count * 56).min(rest.len());
    let init = &rest[used..];
    let init = &init[..init.len().min(4096)];
    let image = build_image(&calls, init);
    // Triage aid: `SYSCALLS_DUMP=f.elf ./syscalls crash-...` writes the generated image,
    // which `dirtybit run --strace f.elf` then replays.
    if let Some(path) = std::env::var_os("SYSCALLS_DUMP") {
        let _ = std::fs::write(path, &image);
    }

    let opts = RunOptions {
        mem_bytes: 32 << 20,
        max_insns: Some(200_000),
        sched: "deterministic".into(),
        ..Default::default()
    };
    let stdio = HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    );
    let _ = run_image(&opts, &image, "/fuzz", &[], stdio);
});
