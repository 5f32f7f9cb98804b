//! ELF executable parsing: the checks `load_elf_binary` (fs/binfmt_elf.c) makes before it
//! maps anything, plus the sanity checks a host-side loader needs so that no input file can
//! make it misbehave.
//!
//! Only what dirtybit can run is accepted: ELF64, little-endian, `EM_RISCV`, and either
//! `ET_EXEC` or `ET_DYN` without `PT_INTERP` (a static-pie). The result, [`ElfImage`], holds
//! link-time addresses; a static-pie is placed by adding a load bias ([`ElfImage::with_bias`]).

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::program_header::{
    ProgramHeader, PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR, PT_TLS,
};
use goblin::elf::Elf;
use thiserror::Error;

use crate::errno::Errno;

/// `EM_RISCV` (include/uapi/linux/elf-em.h).
pub const EM_RISCV: u16 = 243;
/// `ET_EXEC`: a fixed-address executable.
pub const ET_EXEC: u16 = 2;
/// `ET_DYN`: a position-independent object (here: a static-pie executable).
pub const ET_DYN: u16 = 3;
/// `sizeof(Elf64_Phdr)`, the only program header size Linux accepts for ELF64.
pub const ELF64_PHDR_SIZE: u16 = 56;
/// `sizeof(Elf64_Ehdr)`.
pub const ELF64_EHDR_SIZE: usize = 64;
/// The page size segments must be congruent to (`ELF_MIN_ALIGN` on riscv64).
pub const ELF_PAGE_SIZE: u64 = 4096;
/// Linux refuses more program headers than fit in 64 KiB (`elf_read_phdrs`:
/// `size > ELF_MIN_ALIGN` on 4 KiB pages limits it to 73; we use Linux's looser
/// `65536 / sizeof(struct elf_phdr)` bound).
pub const MAX_PHNUM: u16 = (65536 / ELF64_PHDR_SIZE as u32) as u16;
/// A segment larger than this (1 TiB) cannot be meant for a riscv64 Sv39/Sv48 user space.
pub const MAX_SEGMENT_MEMSZ: u64 = 1 << 40;
/// `PATH_MAX`: the longest `PT_INTERP` string Linux reads.
const PATH_MAX: u64 = 4096;

/// Why an executable was refused. Every variant maps to the errno `execve` returns
/// ([`ExecError::errno`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExecError {
    /// The file does not start with `\x7fELF` (or is shorter than an ELF header).
    #[error("not an ELF file")]
    NotElf,
    /// `EI_CLASS` is `ELFCLASS32` (or not `ELFCLASS64`).
    #[error("not a 64-bit ELF file")]
    Not64Bit,
    /// `EI_DATA` is not `ELFDATA2LSB`.
    #[error("not a little-endian ELF file")]
    BigEndian,
    /// `e_machine` is not `EM_RISCV`.
    #[error("ELF machine {0} is not RISC-V (243)")]
    WrongMachine(u16),
    /// The executable has a `PT_INTERP`: it needs the named dynamic linker, which the guest
    /// OS does not provide.
    #[error("dynamically linked: needs the interpreter {0}, link it with -static")]
    DynamicallyLinked(String),
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    #[error("ELF type {0} is not an executable")]
    NotExecutable(u16),
    /// A header, the program header table or a segment's file range lies past the end of
    /// the file.
    #[error("truncated: {what} extends past the end of the file ({file_len} bytes)")]
    Truncated {
        /// What was cut short, e.g. "program header table" or "segment 2".
        what: String,
        /// The file's length in bytes.
        file_len: usize,
    },
    /// `e_phentsize` is not 56.
    #[error("program header size {0} is not 56")]
    BadPhentsize(u16),
    /// `e_phnum` is 0 or larger than [`MAX_PHNUM`].
    #[error("bad program header count {0}")]
    BadPhnum(u16),
    /// A `PT_LOAD` has `p_filesz > p_memsz`.
    #[error("segment {index} has a file size {filesz:#x} larger than its memory size {memsz:#x}")]
    FileszExceedsMemsz {
        /// Index in the program header table.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A `PT_LOAD`'s `p_memsz` exceeds [`MAX_SEGMENT_MEMSZ`].
    #[error("segment {index} memory size {memsz:#x} is absurdly large")]
    SegmentTooLarge {
        /// Index in the program header table.
        index: usize,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A `PT_LOAD`'s `p_vaddr + p_memsz` (or `p_offset + p_filesz`) overflows 64 bits.
    #[error("segment {index} wraps around the address space")]
    SegmentOverflows {
        /// Index in the program header table.
        index: usize,
    },
    /// `p_vaddr % 4096 != p_offset % 4096`: the segment cannot be mapped page by page.
    #[error(
        "segment {index} address {vaddr:#x} is not page-congruent with its file offset {offset:#x}"
    )]
    Misaligned {
        /// Index in the program header table.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
    },
    /// Two `PT_LOAD` segments overlap in memory.
    #[error("segments {first} and {second} overlap in memory")]
    OverlappingSegments {
        /// Index of the lower segment in the program header table.
        first: usize,
        /// Index of the other one.
        second: usize,
    },
    /// There is no `PT_LOAD` segment.
    #[error("no loadable segment")]
    NoLoadSegments,
    /// `e_entry` is not inside any executable `PT_LOAD`.
    #[error("entry point {0:#x} is not in an executable segment")]
    EntryNotExecutable(u64),
    /// A static-pie's load bias makes an address wrap.
    #[error("load bias {0:#x} makes the image wrap around the address space")]
    BiasOverflows(u64),
}

impl ExecError {
    /// The errno `execve` returns for this refusal: `ENOEXEC` for a file that is not a
    /// usable executable, `ENOENT` for a missing interpreter (as Linux does when
    /// `open_exec(elf_interpreter)` fails), `EIO` for a truncated file (as `elf_read`
    /// reports a short read), `EINVAL` for segment arithmetic overflow (as `elf_map`'s
    /// `BAD_ADDR` → `-EINVAL`), and `ENOMEM` for a segment too large to map.
    pub fn errno(&self) -> Errno {
        match self {
            ExecError::DynamicallyLinked(_) => Errno::ENOENT,
            ExecError::Truncated { .. } => Errno::EIO,
            ExecError::SegmentTooLarge { .. } => Errno::ENOMEM,
            ExecError::SegmentOverflows { .. } | ExecError::BiasOverflows(_) => Errno::EINVAL,
            _ => Errno::ENOEXEC,
        }
    }
}

/// Access permissions of a loadable segment (`p_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentPerms {
    /// `PF_R`.
    pub read: bool,
    /// `PF_W`.
    pub write: bool,
    /// `PF_X`.
    pub exec: bool,
}

/// One `PT_LOAD` segment: map file bytes `[offset, offset+filesz)` at `[vaddr, vaddr+filesz)`
/// and zero-fill up to `vaddr + memsz` (the `.bss`), as `elf_load` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSegment {
    /// `p_vaddr`: where the segment starts in memory (link-time, before any bias).
    pub vaddr: u64,
    /// `p_memsz` in bytes.
    pub memsz: u64,
    /// `p_offset`: where its bytes start in the file.
    pub offset: u64,
    /// `p_filesz` in bytes (≤ `memsz`, and `offset + filesz` ≤ the file length).
    pub filesz: u64,
    /// `p_flags` R/W/X.
    pub perms: SegmentPerms,
}

impl LoadSegment {
    /// `vaddr + memsz`, the exclusive end (cannot overflow: checked by [`parse_elf`]).
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }
}

/// The `PT_TLS` template: what the C library copies into each thread's TLS block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsTemplate {
    /// `p_vaddr` of the initialised part (`.tdata`).
    pub vaddr: u64,
    /// `p_filesz`: bytes of `.tdata`.
    pub filesz: u64,
    /// `p_memsz`: `.tdata` + `.tbss`.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
}

/// A checked riscv64 executable, ready to be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfImage {
    /// `e_entry`: the first instruction (link-time address).
    pub entry: u64,
    /// `true` for a static-pie (`ET_DYN`): add a load bias before mapping.
    pub is_pie: bool,
    /// The `PT_LOAD` segments, sorted by `vaddr`, non-overlapping in memory (two segments
    /// may still share a page, as Linux allows; the later mapping wins for that page).
    pub segments: Vec<LoadSegment>,
    /// Address of the program header table in memory, for `AT_PHDR`: `PT_PHDR`'s `p_vaddr`,
    /// or else computed from the `PT_LOAD` whose file range contains `e_phoff` (as
    /// `load_elf_binary` computes `phdr_addr`); `None` if the table is not mapped at all.
    pub phdr_vaddr: Option<u64>,
    /// `e_phentsize` (always 56), for `AT_PHENT`.
    pub phent: u16,
    /// `e_phnum`, for `AT_PHNUM`.
    pub phnum: u16,
    /// Lowest `p_vaddr` of any `PT_LOAD` (not page-rounded).
    pub span_start: u64,
    /// Highest `p_vaddr + p_memsz` of any `PT_LOAD` (exclusive, not page-rounded); the
    /// initial program break is this rounded up to a page, as `mm->brk` is.
    pub span_end: u64,
    /// `PT_GNU_STACK` has `PF_X`: the stack must be executable. `false` when there is no
    /// `PT_GNU_STACK` (riscv64's default stack is not executable).
    pub exec_stack: bool,
    /// The `PT_TLS` template, if any.
    pub tls: Option<TlsTemplate>,
}

impl ElfImage {
    /// The image with `bias` added to every address: what `load_elf_binary` does with
    /// `load_bias` for an `ET_DYN`. A bias of 0 returns an identical image.
    ///
    /// # Errors
    /// [`ExecError::BiasOverflows`] if any address would wrap.
    pub fn with_bias(&self, bias: u64) -> Result<ElfImage, ExecError> {
        let add = |a: u64| a.checked_add(bias).ok_or(ExecError::BiasOverflows(bias));
        let mut out = self.clone();
        out.entry = add(self.entry)?;
        for seg in &mut out.segments {
            seg.vaddr = add(seg.vaddr)?;
        }
        out.phdr_vaddr = self.phdr_vaddr.map(add).transpose()?;
        out.span_start = add(self.span_start)?;
        out.span_end = add(self.span_end)?;
        if let Some(tls) = &mut out.tls {
            tls.vaddr = add(tls.vaddr)?;
        }
        Ok(out)
    }
}

fn truncated(what: impl Into<String>, file_len: usize) -> ExecError {
    ExecError::Truncated {
        what: what.into(),
        file_len,
    }
}

/// Parses and checks a riscv64 executable.
///
/// Follows the checks of `load_elf_binary` / `elf_read_phdrs` (fs/binfmt_elf.c) in order:
/// magic, class, data encoding, type, machine, `e_phentsize`, `e_phnum`, the program header
/// table's file range, then `PT_INTERP` (refused: no dynamic linker), then per-`PT_LOAD`
/// sanity (which Linux leaves to `mmap` failing, and we check up front).
///
/// # Errors
/// One [`ExecError`] variant per reason; never panics, whatever `bytes` holds.
pub fn parse_elf(bytes: &[u8]) -> Result<ElfImage, ExecError> {
    let file_len = bytes.len();
    if file_len < 4 || bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ExecError::NotElf);
    }
    // e_ident[EI_CLASS] (4) and e_ident[EI_DATA] (5), checked before goblin reads the rest.
    match bytes.get(4) {
        Some(&goblin::elf::header::ELFCLASS64) => {}
        Some(_) => return Err(ExecError::Not64Bit),
        None => return Err(ExecError::NotElf),
    }
    match bytes.get(5) {
        Some(&goblin::elf::header::ELFDATA2LSB) => {}
        Some(_) => return Err(ExecError::BigEndian),
        None => return Err(ExecError::NotElf),
    }
    if file_len < ELF64_EHDR_SIZE {
        return Err(truncated("ELF header", file_len));
    }
    let header = Elf::parse_header(bytes).map_err(|_| truncated("ELF header", file_len))?;
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return Err(ExecError::NotExecutable(header.e_type));
    }
    if header.e_machine != EM_RISCV {
        return Err(ExecError::WrongMachine(header.e_machine));
    }
    if header.e_phentsize != ELF64_PHDR_SIZE {
        return Err(ExecError::BadPhentsize(header.e_phentsize));
    }
    if header.e_phnum == 0 || header.e_phnum > MAX_PHNUM {
        return Err(ExecError::BadPhnum(header.e_phnum));
    }
    let table_len = u64::from(header.e_phnum) * u64::from(ELF64_PHDR_SIZE);
    let table_end = header.e_phoff.checked_add(table_len);
    if table_end.is_none_or(|end| end > file_len as u64) {
        return Err(truncated("program header table", file_len));
    }
    let phoff =
        usize::try_from(header.e_phoff).map_err(|_| truncated("program header table", file_len))?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(bytes, phoff, usize::from(header.e_phnum), ctx)
        .map_err(|_| truncated("program header table", file_len))?;

    // PT_INTERP first, as Linux does: a dynamically linked program gets a clear answer.
    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        let range = interp
            .p_offset
            .checked_add(interp.p_filesz)
            .filter(|&end| end <= file_len as u64 && interp.p_filesz <= PATH_MAX);
        let name = match range {
            Some(end) => {
                // Both bounds are within `bytes` (checked just above).
                let raw = bytes
                    .get(interp.p_offset as usize..end as usize)
                    .unwrap_or_default();
                let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
                String::from_utf8_lossy(raw).into_owned()
            }
            None => return Err(truncated("the PT_INTERP string", file_len)),
        };
        return Err(ExecError::DynamicallyLinked(name));
    }

    let mut loads: Vec<(usize, LoadSegment)> = Vec::new();
    let mut phdr_from_pt_phdr = None;
    let mut phdr_from_load = None;
    let mut exec_stack = false;
    let mut tls = None;
    for (index, ph) in phdrs.iter().enumerate() {
        match ph.p_type {
            PT_LOAD => {
                let seg = check_load(index, ph, file_len)?;
                // load_elf_binary: the PT_LOAD whose file range holds e_phoff maps the table.
                if phdr_from_load.is_none()
                    && seg.offset <= header.e_phoff
                    && header.e_phoff - seg.offset < seg.filesz
                {
                    phdr_from_load = seg.vaddr.checked_add(header.e_phoff - seg.offset);
                }
                loads.push((index, seg));
            }
            PT_PHDR => phdr_from_pt_phdr = Some(ph.p_vaddr),
            PT_GNU_STACK => exec_stack = ph.p_flags & PF_X != 0,
            PT_TLS => {
                tls = Some(TlsTemplate {
                    vaddr: ph.p_vaddr,
                    filesz: ph.p_filesz,
                    memsz: ph.p_memsz,
                    align: ph.p_align,
                })
            }
            _ => {}
        }
    }
    if loads.is_empty() {
        return Err(ExecError::NoLoadSegments);
    }
    loads.sort_by_key(|(_, s)| s.vaddr);
    for pair in loads.windows(2) {
        if let [(i, a), (j, b)] = pair {
            if a.end() > b.vaddr {
                return Err(ExecError::OverlappingSegments {
                    first: *i,
                    second: *j,
                });
            }
        }
    }
    let entry = header.e_entry;
    let entry_ok = loads
        .iter()
        .any(|(_, s)| s.perms.exec && s.vaddr <= entry && entry < s.end());
    if !entry_ok {
        return Err(ExecError::EntryNotExecutable(entry));
    }
    let span_start = loads.iter().map(|(_, s)| s.vaddr).min().unwrap_or(0);
    let span_end = loads.iter().map(|(_, s)| s.end()).max().unwrap_or(0);
    Ok(ElfImage {
        entry,
        is_pie: header.e_type == ET_DYN,
        segments: loads.into_iter().map(|(_, s)| s).collect(),
        phdr_vaddr: phdr_from_pt_phdr.or(phdr_from_load),
        phent: header.e_phentsize,
        phnum: header.e_phnum,
        span_start,
        span_end,
        exec_stack,
        tls,
    })
}

/// Checks one `PT_LOAD` program header.
fn check_load(index: usize, ph: &ProgramHeader, file_len: usize) -> Result<LoadSegment, ExecError> {
    if ph.p_filesz > ph.p_memsz {
        return Err(ExecError::FileszExceedsMemsz {
            index,
            filesz: ph.p_filesz,
            memsz: ph.p_memsz,
        });
    }
    if ph.p_memsz > MAX_SEGMENT_MEMSZ {
        return Err(ExecError::SegmentTooLarge {
            index,
            memsz: ph.p_memsz,
        });
    }
    let file_end = ph
        .p_offset
        .checked_add(ph.p_filesz)
        .ok_or(ExecError::SegmentOverflows { index })?;
    if ph.p_vaddr.checked_add(ph.p_memsz).is_none() {
        return Err(ExecError::SegmentOverflows { index });
    }
    if file_end > file_len as u64 {
        return Err(truncated(format!("segment {index}"), file_len));
    }
    if ph.p_vaddr % ELF_PAGE_SIZE != ph.p_offset % ELF_PAGE_SIZE {
        return Err(ExecError::Misaligned {
            index,
            vaddr: ph.p_vaddr,
            offset: ph.p_offset,
        });
    }
    Ok(LoadSegment {
        vaddr: ph.p_vaddr,
        memsz: ph.p_memsz,
        offset: ph.p_offset,
        filesz: ph.p_filesz,
        perms: SegmentPerms {
            read: ph.p_flags & PF_R != 0,
            write: ph.p_flags & PF_W != 0,
            exec: ph.p_flags & PF_X != 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATIC: &[u8] = include_bytes!("../../testdata/static.elf");
    const EXECSTACK: &[u8] = include_bytes!("../../testdata/execstack.elf");
    const STATIC_PIE: &[u8] = include_bytes!("../../testdata/static-pie.elf");
    const DYNAMIC: &[u8] = include_bytes!("../../testdata/dynamic.elf");

    /// Offset of program header `i` in our fixtures (e_phoff = 64).
    fn ph_off(i: usize) -> usize {
        64 + i * 56
    }

    fn put_u64(b: &mut [u8], off: usize, v: u64) {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u16(b: &mut [u8], off: usize, v: u16) {
        b[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    // The fixture's layout, as `riscv64-linux-gnu-readelf -l testdata/static.elf` shows it:
    //   [0] RISCV_ATTRIBUTES, [1] LOAD 0x0 @0x10000 R E filesz=memsz=0x1b4,
    //   [2] LOAD 0xff8 @0x11ff8 RW filesz 0x10 memsz 0x2010, [3] TLS @0x11ff8 8/8 align 8,
    //   [4] GNU_STACK RW, [5] GNU_RELRO.

    #[test]
    fn static_executable_matches_readelf() {
        let img = parse_elf(STATIC).unwrap();
        assert_eq!(img.entry, 0x10190);
        assert!(!img.is_pie);
        assert_eq!(
            img.segments,
            vec![
                LoadSegment {
                    vaddr: 0x10000,
                    memsz: 0x1b4,
                    offset: 0,
                    filesz: 0x1b4,
                    perms: SegmentPerms {
                        read: true,
                        write: false,
                        exec: true
                    },
                },
                LoadSegment {
                    vaddr: 0x11ff8,
                    memsz: 0x2010,
                    offset: 0xff8,
                    filesz: 0x10,
                    perms: SegmentPerms {
                        read: true,
                        write: true,
                        exec: false
                    },
                },
            ]
        );
        // No PT_PHDR: the first PT_LOAD maps file offset 0, so the table (e_phoff 64) is at
        // 0x10000 + 64.
        assert_eq!(img.phdr_vaddr, Some(0x10040));
        assert_eq!((img.phent, img.phnum), (56, 6));
        assert_eq!((img.span_start, img.span_end), (0x10000, 0x11ff8 + 0x2010));
        assert!(!img.exec_stack);
        assert_eq!(
            img.tls,
            Some(TlsTemplate {
                vaddr: 0x11ff8,
                filesz: 8,
                memsz: 8,
                align: 8
            })
        );
    }

    #[test]
    fn execstack_is_reported() {
        assert!(parse_elf(EXECSTACK).unwrap().exec_stack);
    }

    #[test]
    fn static_pie_is_accepted_and_biased() {
        let img = parse_elf(STATIC_PIE).unwrap();
        assert!(img.is_pie);
        assert_eq!(img.entry, 0x238);
        assert_eq!(img.span_start, 0);
        assert_eq!(img.phdr_vaddr, Some(0x40));
        let moved = img.with_bias(0x5555_5555_4000).unwrap();
        assert_eq!(moved.entry, 0x5555_5555_4238);
        assert_eq!(moved.segments[1].vaddr, 0x5555_5555_4000 + 0x1ed8);
        assert_eq!(moved.segments[1].offset, img.segments[1].offset);
        assert_eq!(moved.phdr_vaddr, Some(0x5555_5555_4040));
        assert_eq!(
            img.with_bias(u64::MAX),
            Err(ExecError::BiasOverflows(u64::MAX))
        );
    }

    #[test]
    fn pt_phdr_wins_over_the_computed_address() {
        let mut b = STATIC.to_vec();
        // Turn the RISCV_ATTRIBUTES header [0] into a PT_PHDR at a made-up address.
        put_u32(&mut b, ph_off(0), PT_PHDR);
        put_u64(&mut b, ph_off(0) + 16, 0x10abc);
        assert_eq!(parse_elf(&b).unwrap().phdr_vaddr, Some(0x10abc));
    }

    #[test]
    fn dynamically_linked_names_its_interpreter() {
        let err = parse_elf(DYNAMIC).unwrap_err();
        assert_eq!(
            err,
            ExecError::DynamicallyLinked("/lib/ld-linux-riscv64-lp64d.so.1".into())
        );
        assert_eq!(
            err.to_string(),
            "dynamically linked: needs the interpreter /lib/ld-linux-riscv64-lp64d.so.1, link it with -static"
        );
        assert_eq!(err.errno(), Errno::ENOENT);
    }

    #[test]
    fn header_rejections() {
        assert_eq!(parse_elf(b""), Err(ExecError::NotElf));
        assert_eq!(parse_elf(b"#!/bin/sh\n"), Err(ExecError::NotElf));
        let mut b = STATIC.to_vec();
        b[4] = 1; // ELFCLASS32
        assert_eq!(parse_elf(&b), Err(ExecError::Not64Bit));
        let mut b = STATIC.to_vec();
        b[5] = 2; // ELFDATA2MSB
        assert_eq!(parse_elf(&b), Err(ExecError::BigEndian));
        let mut b = STATIC.to_vec();
        put_u16(&mut b, 18, 62); // EM_X86_64
        assert_eq!(parse_elf(&b), Err(ExecError::WrongMachine(62)));
        let mut b = STATIC.to_vec();
        put_u16(&mut b, 16, 1); // ET_REL
        assert_eq!(parse_elf(&b), Err(ExecError::NotExecutable(1)));
        assert_eq!(parse_elf(&b).unwrap_err().errno(), Errno::ENOEXEC);
        let mut b = STATIC.to_vec();
        put_u16(&mut b, 54, 32);
        assert_eq!(parse_elf(&b), Err(ExecError::BadPhentsize(32)));
        let mut b = STATIC.to_vec();
        put_u16(&mut b, 56, 0);
        assert_eq!(parse_elf(&b), Err(ExecError::BadPhnum(0)));
        let mut b = STATIC.to_vec();
        put_u16(&mut b, 56, 2000);
        assert_eq!(parse_elf(&b), Err(ExecError::BadPhnum(2000)));
        assert!(matches!(
            parse_elf(&STATIC[..40]),
            Err(ExecError::Truncated { .. })
        ));
        // Table cut off: 6 headers need 64 + 336 bytes.
        assert!(matches!(
            parse_elf(&STATIC[..300]),
            Err(ExecError::Truncated { .. })
        ));
    }

    #[test]
    fn segment_rejections() {
        // Segment 2's file range (0xff8 + 0x10) ends past a file cut at 0x1000.
        let cut = &STATIC[..0x1000];
        assert_eq!(
            parse_elf(cut),
            Err(ExecError::Truncated {
                what: "segment 2".into(),
                file_len: 0x1000
            })
        );
        let mut b = STATIC.to_vec();
        put_u64(&mut b, ph_off(2) + 32, 0x3000); // filesz > memsz (0x2010)
        assert!(matches!(
            parse_elf(&b),
            Err(ExecError::FileszExceedsMemsz { index: 2, .. })
        ));
        let mut b = STATIC.to_vec();
        put_u64(&mut b, ph_off(2) + 40, (1 << 40) + 1);
        assert!(matches!(
            parse_elf(&b),
            Err(ExecError::SegmentTooLarge { index: 2, .. })
        ));
        let mut b = STATIC.to_vec();
        put_u64(&mut b, ph_off(2) + 16, u64::MAX - 0x10); // vaddr + memsz wraps
        assert_eq!(parse_elf(&b), Err(ExecError::SegmentOverflows { index: 2 }));
        let mut b = STATIC.to_vec();
        put_u64(&mut b, ph_off(2) + 16, 0x12000); // 0x000 vs offset 0xff8
        assert!(matches!(
            parse_elf(&b),
            Err(ExecError::Misaligned { index: 2, .. })
        ));
        let mut b = STATIC.to_vec();
        put_u64(&mut b, ph_off(2) + 16, 0x10ff8); // inside segment 1's page but past its end: fine
        assert!(parse_elf(&b).is_ok());
        put_u64(&mut b, ph_off(2) + 16, 0x0fff8); // now [0xfff8, 0x12008) covers segment 1
        assert_eq!(
            parse_elf(&b),
            Err(ExecError::OverlappingSegments {
                first: 2,
                second: 1
            })
        );
        let mut b = STATIC.to_vec();
        put_u64(&mut b, 24, 0x11ff8); // entry in the RW segment
        assert_eq!(parse_elf(&b), Err(ExecError::EntryNotExecutable(0x11ff8)));
        let mut b = STATIC.to_vec();
        for i in [1, 2] {
            put_u32(&mut b, ph_off(i), 0x6fff_fff0); // no longer PT_LOAD
        }
        assert_eq!(parse_elf(&b), Err(ExecError::NoLoadSegments));
    }

    /// Every single-byte flip in the headers and every truncation length: no panic, and
    /// both outcomes occur (so the checks neither accept nor refuse everything).
    #[test]
    fn every_header_flip_and_every_truncation() {
        let (mut ok, mut refused) = (0, 0);
        for pos in 0..64 + 6 * 56 {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = STATIC.to_vec();
                b[pos] ^= mask;
                match parse_elf(&b) {
                    Ok(_) => ok += 1,
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(
            ok > 100 && refused > 100,
            "accepted {ok}, refused {refused}"
        );
        for len in 0..STATIC.len() {
            // Cutting the file anywhere before the end of segment 2 must be refused.
            let r = parse_elf(&STATIC[..len]);
            assert_eq!(r.is_ok(), len >= 0xff8 + 0x10, "length {len}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_elf(&bytes);
        }

        #[test]
        fn elf_magic_then_random_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut b = b"\x7fELF\x02\x01\x01".to_vec();
            b.extend_from_slice(&tail);
            let _ = parse_elf(&b);
        }

        #[test]
        fn mutated_real_elf_never_panics(
            which in 0usize..3,
            flips in proptest::collection::vec((0usize..1024, any::<u8>()), 1..16),
            cut in proptest::option::of(0usize..8192),
        ) {
            let base = [STATIC, STATIC_PIE, DYNAMIC][which];
            let mut b = base.to_vec();
            // Concentrate on the headers, where the interesting fields are.
            for (pos, val) in flips {
                let pos = pos % b.len().min(64 + 9 * 56);
                b[pos] = val;
            }
            if let Some(cut) = cut {
                b.truncate(cut % (b.len() + 1));
            }
            if let Ok(img) = parse_elf(&b) {
                // Whatever is accepted satisfies the documented invariants.
                prop_assert!(!img.segments.is_empty());
                for s in &img.segments {
                    prop_assert!(s.filesz <= s.memsz);
                    prop_assert!(s.offset + s.filesz <= b.len() as u64);
                    prop_assert_eq!(s.vaddr % ELF_PAGE_SIZE, s.offset % ELF_PAGE_SIZE);
                }
                for w in img.segments.windows(2) {
                    prop_assert!(w[0].end() <= w[1].vaddr);
                }
                prop_assert!(img.segments.iter().any(|s| s.perms.exec && s.vaddr <= img.entry && img.entry < s.end()));
            }
        }
    }
}
