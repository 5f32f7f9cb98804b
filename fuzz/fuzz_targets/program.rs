//! What the system-call fuzz targets (`syscalls`, `smp_syscalls`) share: the call records
//! read from the input and the image they generate, a static riscv64 ELF whose whole file
//! is one RWX `PT_LOAD`, with a bss after it. Included by each target with `#[path]`.

/// The input's bytes as little-endian u64s, the last one zero-padded.
pub fn le_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(b)
    })
}

/// The next call record `nr, a0..a5` from `words` (0 once they run out), adjusted: `nr`
/// is taken mod 512 (riscv64's numbers are below that), and an argument whose top byte
/// is `0xaa` becomes `scratch + (a & 0xffff)`, a pointer into the scratch area.
pub fn next_call(words: &mut impl Iterator<Item = u64>, scratch: u64) -> [u64; 7] {
    let mut call = [0u64; 7];
    for v in &mut call {
        *v = words.next().unwrap_or(0);
    }
    call[0] &= 0x1ff;
    for a in &mut call[1..] {
        if *a >> 56 == 0xaa {
            *a = scratch + (*a & 0xffff);
        }
    }
    call
}

/// Copies `bytes` into `image` at byte offset `off`.
pub fn put(image: &mut [u8], off: usize, bytes: &[u8]) {
    image[off..off + bytes.len()].copy_from_slice(bytes);
}

/// A zeroed image of `file_len` bytes (at least 120: the ELF and program headers) with
/// an ELF64 little-endian `ET_EXEC` `EM_RISCV` header entering at `entry` and one
/// program header: `PT_LOAD`, RWX, file offset 0 at virtual and physical address `base`,
/// `p_filesz` = `file_len`, `p_memsz` = `memsz_bytes`, 4 KiB aligned.
pub fn static_elf(base: u64, entry: u64, file_len: usize, memsz_bytes: u64) -> Vec<u8> {
    let mut img = vec![0u8; file_len];
    put(&mut img, 0, b"\x7fELF\x02\x01\x01");
    put(&mut img, 0x10, &2u16.to_le_bytes()); // e_type = ET_EXEC
    put(&mut img, 0x12, &243u16.to_le_bytes()); // e_machine = EM_RISCV
    put(&mut img, 0x14, &1u32.to_le_bytes()); // e_version
    put(&mut img, 0x18, &entry.to_le_bytes()); // e_entry
    put(&mut img, 0x20, &64u64.to_le_bytes()); // e_phoff
    put(&mut img, 0x34, &64u16.to_le_bytes()); // e_ehsize
    put(&mut img, 0x36, &56u16.to_le_bytes()); // e_phentsize
    put(&mut img, 0x38, &1u16.to_le_bytes()); // e_phnum
    let ph = 64;
    put(&mut img, ph, &1u32.to_le_bytes()); // PT_LOAD
    put(&mut img, ph + 4, &7u32.to_le_bytes()); // PF_R | PF_W | PF_X
    put(&mut img, ph + 16, &base.to_le_bytes());
    put(&mut img, ph + 24, &base.to_le_bytes());
    put(&mut img, ph + 32, &(file_len as u64).to_le_bytes());
    put(&mut img, ph + 40, &memsz_bytes.to_le_bytes());
    put(&mut img, ph + 48, &0x1000u64.to_le_bytes());
    img
}
