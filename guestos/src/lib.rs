//! The dirtybit guest OS: a tiny Linux-like kernel that runs on the host side of the
//! machine ("hypervisor-style"), owns guest RAM, builds real Sv39/Sv48 page tables in it
//! and handles every hart exit.
//!
//! Names follow Linux (`Mm`, `Vma`, `handle_mm_fault`, `FOLL_*`, `FAULT_FLAG_*`, `VM_*`)
//! so the code reads next to `mm/`.

pub mod errno;
pub mod fs;
pub mod loader;
pub mod mm;
pub mod syscall;
pub mod uaccess;

pub use errno::{Errno, KResult};
pub use uaccess::UserAccess;
