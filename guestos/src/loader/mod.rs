//! Program loading for `execve`: checking a riscv64 ELF executable ([`elf`]) and building
//! the initial user stack ([`stack`]), as `load_elf_binary` and `create_elf_tables`
//! (fs/binfmt_elf.c) do.
//!
//! The kernel's exec path reads the file from the VFS, calls [`parse_elf`], picks a load
//! bias for a static-pie ([`ElfImage::with_bias`]), maps the segments, then calls
//! [`build_initial_stack`] with [`AuxFacts::for_image`] and copies
//! [`InitialStack::bytes`] to `[base, stack_top)`.

pub mod elf;
pub mod stack;

pub use elf::{parse_elf, ElfImage, ExecError, LoadSegment, SegmentPerms, TlsTemplate};
pub use stack::{build_initial_stack, AuxFacts, InitialStack, StackError, StackRequest};
