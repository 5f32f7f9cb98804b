//! Guest physical memory and platform devices of the dirtybit machine.
//!
//! [`GuestMemory`] is guest RAM: KVM-style memory slots, each a `memmap2` anonymous mapping,
//! addressed by [`GuestPhysAddr`]. Everything the CPU, the MMU and the guest OS share lives
//! here, so every access is either a relaxed atomic (plain data) or an explicit
//! acquire/release atomic (PTEs, LR/SC, AMOs): several host threads may touch guest RAM at
//! once. All `unsafe` code of the mapping is in the private `ram` module.
//!
//! [`TagMemory`] holds the memory tags of guest RAM (4 bits per 16-byte granule, stored
//! physically beside it, as arm64 MTE's tag RAM), reached through [`GuestMemory::tags`].
//!
//! Devices ([`Clint`], [`DmaEngine`]) see offsets and byte slices, never the CPU: they are
//! [`BusDevice`]s on a [`Bus`] of guest-physical ranges, raise interrupts through an
//! [`IrqLine`], and reach guest RAM only through [`Dma`], by guest-physical address.

mod addr;
mod bus;
mod clint;
pub mod dma;
mod ram;
pub mod swap;
mod tags;

pub use addr::{GuestPhysAddr, PAGE_SHIFT, PAGE_SIZE};
pub use bus::{Bus, BusDevice, BusError, IrqLine};
pub use clint::{Clint, ClockSource, MsipLine, CLINT_MTIME_HZ};
pub use dma::{Dma, DmaEngine, DmaError};
pub use ram::{AmoOp, GuestMemory, HostPage, MemoryError};
pub use swap::{SwapDevice, SwapError};
pub use tags::{
    page_granule_tag, PageTags, TagMemory, TAG_BYTES_PER_PAGE, TAG_GRANULE_BYTES, TAG_MASK,
};
