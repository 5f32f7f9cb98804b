//! The dirtybit MMU: RISC-V Sv39/Sv48 page-table formats, the hardware page-table walker,
//! the TLB and the A/D update schemes.
//!
//! Everything here follows the RISC-V Privileged Architecture, chapter "Supervisor-Level
//! ISA", sections "Sv39/Sv48: Page-Based Virtual-Memory Systems", "Virtual Address
//! Translation Process" (cited as *step N*, numbered as in the current text: the A/D update
//! is step 9, see the `walk` module docs) and "Supervisor Memory-Management Fence
//! Instruction" (`sfence.vma`, see [`Tlb::sfence_vma`]), plus the Svadu/Svade and Svpbmt
//! extensions. Svnapot is not implemented (a PTE with N=1 raises a page fault), nor are
//! Sv57 and Zicfiss shadow-stack pages. The walker reads PTEs from guest RAM with acquire loads and sets
//! A/D with a compare-and-swap on the PTE, so whatever the guest OS later reads with
//! `pte_dirty()` is exactly what this walker wrote.

mod addr;
mod counters;
mod mode;
mod pte;
mod tlb;
mod walk;

pub use addr::GuestVirtAddr;
pub use counters::MmuCounters;
pub use mode::{PagingMode, Satp, SatpMode, Sv39, Sv48};
pub use pte::{Pbmt, Pte, PteFlags};
pub use tlb::{Tlb, TlbEntry, TlbGeometry, TlbGeometryError};
pub use walk::{
    check_leaf_permission, walk, AccessType, AdScheme, PrivCtx, Translation, WalkFault,
};
