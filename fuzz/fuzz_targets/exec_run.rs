//! Fuzz target `exec_run`: boots the whole machine in-process on the input as the program
//! image (`dirtybit::run_image`: guest RAM, address space, `execve`, the hart and the
//! system calls) with 32 MiB of RAM and a 200 000-instruction limit. Any `Err` is an
//! acceptable answer to a bad image; a panic anywhere on the way is a bug.
//!
//! The custom mutator keeps inputs near-valid ELFs: most mutations rewrite one field of
//! the ELF header or of a program header with an interesting value, or overwrite
//! instructions at the entry point, so the fuzzer gets past `parse_elf` into the mapping
//! code and the running guest. Seed the corpus with real images (see `fuzz/README.md`).
//!
//! Run from `fuzz/`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run exec_run corpus/exec_run -- -max_len=1048576 -max_total_time=300`.

#![no_main]

use dirtybit::guestos::HostStreams;
use dirtybit::{run_image, RunOptions};
use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};

fuzz_target!(|data: &[u8]| {
    let opts = RunOptions {
        mem_bytes: 32 << 20,
        max_insns: Some(200_000),
        ..Default::default()
    };
    let stdio = HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
    );
    let _ = run_image(&opts, data, "/fuzz", &[], stdio);
});

/// A tiny xorshift generator seeded by libFuzzer's seed, so mutations are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn get(data: &[u8], off: usize, width: usize) -> Option<u64> {
    let bytes = data.get(off..off.checked_add(width)?)?;
    let mut buf = [0u8; 8];
    buf.get_mut(..width)?.copy_from_slice(bytes);
    Some(u64::from_le_bytes(buf))
}

fn put(data: &mut [u8], off: usize, width: usize, value: u64) -> bool {
    let Some(end) = off.checked_add(width) else {
        return false;
    };
    match (data.get_mut(off..end), value.to_le_bytes().get(..width)) {
        (Some(dst), Some(src)) => {
            dst.copy_from_slice(src);
            true
        }
        _ => false,
    }
}

/// Offsets and widths of the ELF64 header fields worth mutating.
const EHDR_FIELDS: &[(usize, usize)] = &[
    (0x10, 2), // e_type
    (0x12, 2), // e_machine
    (0x18, 8), // e_entry
    (0x20, 8), // e_phoff
    (0x36, 2), // e_phentsize
    (0x38, 2), // e_phnum
];

/// Offsets (within one program header) and widths of its fields.
const PHDR_FIELDS: &[(usize, usize)] = &[
    (0, 4),  // p_type
    (4, 4),  // p_flags
    (8, 8),  // p_offset
    (16, 8), // p_vaddr
    (32, 8), // p_filesz
    (40, 8), // p_memsz
    (48, 8), // p_align
];

/// Values at the edges of the checks in `parse_elf`, the Sv39/Sv48 user range, and the
/// program header types the loader acts on.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,           // PT_INTERP
    6,           // PT_PHDR
    7,           // PT_TLS
    0x6474_e551, // PT_GNU_STACK
    0xfff,
    0x1000,
    0x1001,
    0x10000,
    0x7fff_ffff,
    0xffff_ffff,
    0x3f_ffff_f000,
    0x3f_ffff_ffff,
    0x40_0000_0000,
    0x7fff_ffff_f000,
    0x8000_0000_0000,
    0x8000_0000_0000_0000,
    u64::MAX - 0xfff,
    u64::MAX,
];

/// Rewrites one header field: a small step, a bit flip, an interesting value, or a value
/// copied from another field (sizes and addresses are often related).
fn mutate_field(data: &mut [u8], rng: &mut Rng) -> bool {
    let phoff = get(data, 0x20, 8).unwrap_or(64);
    let phnum = get(data, 0x38, 2).unwrap_or(0);
    let (off, width) = if phnum == 0 || rng.below(4) == 0 {
        EHDR_FIELDS[rng.below(EHDR_FIELDS.len() as u64) as usize]
    } else {
        let (f, w) = PHDR_FIELDS[rng.below(PHDR_FIELDS.len() as u64) as usize];
        let index = rng.below(phnum.min(16));
        let Some(base) = usize::try_from(phoff.saturating_add(index * 56)).ok() else {
            return false;
        };
        (base.saturating_add(f), w)
    };
    let Some(old) = get(data, off, width) else {
        return false;
    };
    let value = match rng.below(5) {
        0 => old.wrapping_add(rng.below(33)).wrapping_sub(16),
        1 => old ^ (1 << rng.below(width as u64 * 8)),
        2 => old.wrapping_add(0x1000u64.wrapping_mul(rng.below(9)).wrapping_sub(0x4000)),
        3 => INTERESTING[rng.below(INTERESTING.len() as u64) as usize],
        _ => {
            let (f, w) = PHDR_FIELDS[rng.below(PHDR_FIELDS.len() as u64) as usize];
            let index = rng.below(phnum.clamp(1, 16));
            let at = usize::try_from(phoff.saturating_add(index * 56))
                .unwrap_or(usize::MAX)
                .saturating_add(f);
            get(data, at, w).unwrap_or(0)
        }
    };
    put(data, off, width, value)
}

/// The file offset of the entry point, found through the executable `PT_LOAD` holding it.
fn entry_offset(data: &[u8]) -> Option<usize> {
    let entry = get(data, 0x18, 8)?;
    let phoff = get(data, 0x20, 8)?;
    let phnum = get(data, 0x38, 2)?;
    for i in 0..phnum.min(64) {
        let base = usize::try_from(phoff.checked_add(i * 56)?).ok()?;
        let (ty, vaddr, offset, filesz) = (
            get(data, base, 4)?,
            get(data, base + 16, 8)?,
            get(data, base + 8, 8)?,
            get(data, base + 32, 8)?,
        );
        if ty == 1 && vaddr <= entry && entry - vaddr < filesz {
            return usize::try_from(offset.checked_add(entry - vaddr)?).ok();
        }
    }
    None
}

/// Overwrites a few instruction words at or just after the entry point with random
/// values, so the hart executes garbage (and random system calls) early in the run.
fn mutate_code(data: &mut [u8], rng: &mut Rng) -> bool {
    let Some(entry) = entry_offset(data) else {
        return false;
    };
    let at = entry.saturating_add(4 * rng.below(16) as usize);
    let word = match rng.below(3) {
        0 => 0x0000_0073, // ecall
        1 => rng.next() as u32 | 3,
        _ => rng.next() as u32,
    };
    put(data, at, 4, u64::from(word))
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng(u64::from(seed) | 1 << 40);
    let is_elf = size >= 64 && data.get(..4) == Some(b"\x7fELF".as_slice());
    let choice = if is_elf { rng.below(10) } else { 9 };
    let Some(live) = data.get_mut(..size) else {
        return fuzzer_mutate(data, size, max_size);
    };
    let done = match choice {
        0..=3 => (0..=rng.below(3)).fold(false, |d, _| mutate_field(live, &mut rng) | d),
        4..=5 => mutate_code(live, &mut rng),
        6..=7 => {
            // libFuzzer's byte mutations confined to the headers, keeping the length.
            let window = size.min(1024);
            fuzzer_mutate(&mut live[..window], window, window);
            true
        }
        _ => false,
    };
    if done {
        size
    } else {
        fuzzer_mutate(data, size, max_size)
    }
});
