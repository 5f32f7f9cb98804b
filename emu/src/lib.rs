//! The dirtybit hart: an RV64GC interpreter (RV64IMAFDC + Zicsr + Zifencei) with a
//! decoded-instruction cache, a host-pointer fast path in front of the TLB, and a
//! deterministic cycle model.
//!
//! [`Hart::run`] executes until the OS is needed and returns an [`Exit`], like `KVM_RUN`.

pub mod cost;
pub mod decode;
pub mod disasm;
pub mod exit;
pub mod fpu;
pub mod hart;
pub mod inst;

pub use cost::{CostModel, CostModelError};
pub use decode::{decode, decode_compressed, DecodeError};
pub use exit::Exit;
pub use hart::{Hart, HartConfig, HartStats, TagCheckMode, TagCounters, UserContext};
pub use inst::{Inst, Op};
