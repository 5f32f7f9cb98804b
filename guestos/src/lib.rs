//! The dirtybit guest OS: a tiny Linux-like kernel that runs on the host side of the
//! machine ("hypervisor-style"), owns guest RAM, builds real Sv39/Sv48 page tables in it
//! and handles every hart exit.
//!
//! Names follow Linux (`Mm`, `Vma`, `handle_mm_fault`, `FOLL_*`, `FAULT_FLAG_*`, `VM_*`)
//! so the code reads next to `mm/`.

pub mod config;
pub mod debugfs;
pub mod errno;
pub mod exec;
pub mod fs;
pub mod futex;
pub mod kernel;
pub mod loader;
pub mod lockstat;
pub mod mm;
pub mod percpu;
pub mod process;
pub mod procfs;
pub mod ptrace;
pub mod signal;
pub mod smp;
pub mod sync;
pub mod syscall;
pub mod sysfs;
pub mod uaccess;
pub mod wake;

pub use config::{
    ExitStatus, KernelConfig, KernelStats, RunReport, SchedMode, DETERMINISTIC_EPOCH_NS, MAX_HARTS,
    RAM_BASE,
};
pub use errno::{Errno, KResult};
pub use fs::HostStreams;
pub use kernel::{run, KernelError};
pub use uaccess::UserAccess;
