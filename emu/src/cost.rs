//! The cycle model: deterministic *modelled cycles* per instruction class, per MMU and
//! trap event, and per kernel primitive (the `k_*` entries, which the guest OS counts and
//! charges to the hart after each system call and fault), from a table the user can
//! override (`--cost key=value,...`).
//!
//! Modelled cycles are a model, not time: the same program with the same knobs always
//! costs the same number of cycles, which is what lets tests assert on them and lets
//! experiments compare, say, Svadu against Svade without host noise. The default values
//! are loosely those of a simple in-order RV64 core (SiFive U74-class latencies); they are
//! documented here and printed by `dirtybit run --stats --cost-table`.

use crate::inst::Op;

macro_rules! cost_table {
    ($( $(#[doc = $doc:literal])* $name:ident = $default:expr ),* $(,)?) => {
        /// Modelled cycles per event. Every field is overridable by name.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct CostModel {
            $( $(#[doc = $doc])* pub $name: u32, )*
        }

        impl Default for CostModel {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        impl CostModel {
            /// `(name, value)` for every entry, in table order.
            pub fn entries(&self) -> Vec<(&'static str, u32)> {
                vec![$( (stringify!($name), self.$name), )*]
            }

            fn field_mut(&mut self, name: &str) -> Option<&mut u32> {
                match name {
                    $( stringify!($name) => Some(&mut self.$name), )*
                    _ => None,
                }
            }
        }
    };
}

cost_table! {
    /// Integer ALU op, `lui`/`auipc`, not-taken branch.
    alu = 1,
    /// Extra cycles for a taken branch or a jump (front-end redirect).
    taken_branch = 2,
    /// Integer multiply.
    mul = 3,
    /// Integer divide / remainder.
    div = 20,
    /// Load that hits (L1).
    load = 2,
    /// Store.
    store = 1,
    /// LR/SC.
    lr_sc = 4,
    /// AMO.
    amo = 8,
    /// CSR access.
    csr = 2,
    /// FENCE / FENCE.I / SFENCE.VMA.
    fence = 4,
    /// FP add/sub/mul/min/max/sign-inject/compare/class/move.
    fp = 4,
    /// FP fused multiply-add.
    fp_fma = 5,
    /// FP divide.
    fp_div = 18,
    /// FP square root.
    fp_sqrt = 20,
    /// FP conversion.
    fp_cvt = 3,
    /// FP load/store.
    fp_mem = 2,
    /// Trap entry (ecall, fault, breakpoint) into the OS.
    trap_entry = 30,
    /// Return from trap (sret) back to the program.
    trap_exit = 15,
    /// A TLB miss (fixed cost before the walk starts).
    tlb_miss = 5,
    /// One page-table level walked (one PTE load from memory).
    walk_level = 20,
    /// A hardware A/D compare-and-swap on a PTE (Svadu).
    ad_update = 25,
    /// A tag-memory load (Zimt's `load tag` operation): charged once per tag-checked
    /// load, store, LR/SC or AMO (the tags of the at most two granules an access touches
    /// arrive in one load), and as the cost of `checktag` and `loadtag`. Priced as an L1D
    /// load hit (`load`): a tag cache beside the L1, as arm64 MTE cores have.
    tag_load = 2,
    /// A tag-memory store (Zimt's `store tag` operation): the cost of one `settag` (its 1
    /// to 16 granules' tags are at most 64 bits, one store), priced as `store`.
    tag_store = 1,
    // Kernel primitives: the guest OS counts these events (guestos `mm::KernelEvents`)
    // and charges their modelled cycles to the hart that trapped, when the system call or
    // fault returns. The values assume the same U74-class core: a 32 KiB L1D with 3-cycle
    // hits, a shared L2 at about 20 cycles, 64-byte lines, 16 bytes per cycle of store
    // bandwidth into L1.
    /// Kernel primitive: one PTE load by a software page-table walk (`ptep_get()`). Page
    /// tables of a large range are rarely L1-resident: priced as an L2 hit, the same as a
    /// hardware walker's `walk_level`.
    k_pte_load = 20,
    /// Kernel primitive: one plain PTE store (`set_pte()`): a store to a line the walk
    /// just loaded (L1 hit) plus the ordering fence riscv's `set_pte()` implies.
    k_pte_store = 5,
    /// Kernel primitive: one atomic PTE read-modify-write (`ptep_get_and_clear()`,
    /// `ptep_cmpxchg()`, `ptep_set_wrprotect()`): an AMO/LR-SC on the PTE's line, priced as
    /// the hardware A/D compare-and-swap (`ad_update`).
    k_pte_rmw = 25,
    /// Kernel primitive: one atomic refcount/pincount update on page metadata
    /// (`folio_ref_add()`, `put_page()`): an AMO on the `struct page` line, which a walk
    /// over many pages finds in L2.
    k_atomic = 20,
    /// Kernel primitive: taking a frame off the free list (`alloc_page()`, the per-CPU
    /// list fast path: list unlink, counters, `struct page` initialisation).
    k_page_alloc = 100,
    /// Kernel primitive: returning a frame to the free list (`free_unref_page()`).
    k_page_free = 80,
    /// Kernel primitive: copying one 4 KiB page (`copy_page()`): 64 lines read and
    /// written, about 8 bytes per cycle, plus the loop.
    k_page_copy = 600,
    /// Kernel primitive: zeroing one 4 KiB page (`clear_page()`): 4096 bytes at 16 bytes
    /// per cycle, plus the loop.
    k_page_zero = 300,
    /// Kernel primitive: taking and releasing an uncontended sleeping lock
    /// (`mmap_read_lock()` / `mmap_read_unlock()`: two AMOs and their fences).
    k_lock = 30,
    /// Kernel primitive: the fixed cost of one GUP walk (`gup_fast()` or
    /// `__get_user_pages()` entered): argument checks, `local_irq_save()`/`restore()`
    /// (two CSR writes of `sstatus`), the call and return.
    k_gup_call = 40,
    /// Kernel primitive: reading one 4 KiB page from the swap device (`swap_read_folio()`
    /// and the wait for it): 25 µs at 1 GHz, a typical NVMe 4 KiB random read (SATA SSDs
    /// take 50–100 µs, zram about 2 µs: set it with `--cost k_swap_read=…`).
    k_swap_read = 25000,
    /// Kernel primitive: writing one 4 KiB page to the swap device (`swap_writepage()`,
    /// waited for: reclaim here is synchronous): 25 µs at 1 GHz.
    k_swap_write = 25000,
}

/// A `--cost` override that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostModelError {
    /// Not of the form `name=value`.
    #[error("cost override {0:?} is not NAME=CYCLES")]
    Syntax(String),
    /// No such entry.
    #[error("unknown cost entry {0:?} (see --cost-table for the names)")]
    UnknownEntry(String),
    /// The value is not a non-negative integer that fits in 32 bits.
    #[error("cost {name} = {value:?}: not a cycle count")]
    BadValue {
        /// The entry.
        name: String,
        /// The value given.
        value: String,
    },
}

impl CostModel {
    /// Applies overrides written as `name=cycles`, separated by commas, whitespace or
    /// newlines; `#` starts a comment to the end of the line (so a file of `name = cycles`
    /// lines works too, once `' = '` is normalised).
    ///
    /// # Errors
    /// [`CostModelError`] for the first override that is malformed, unknown or out of range;
    /// nothing is applied then.
    pub fn apply_overrides(&mut self, spec: &str) -> Result<(), CostModelError> {
        let mut next = self.clone();
        for line in spec.lines() {
            let line = line.split('#').next().unwrap_or("").replace(" = ", "=");
            for item in line.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
                let (name, value) = item
                    .split_once('=')
                    .ok_or_else(|| CostModelError::Syntax(item.to_string()))?;
                let slot = next
                    .field_mut(name)
                    .ok_or_else(|| CostModelError::UnknownEntry(name.to_string()))?;
                *slot = value.parse().map_err(|_| CostModelError::BadValue {
                    name: name.to_string(),
                    value: value.to_string(),
                })?;
            }
        }
        *self = next;
        Ok(())
    }

    /// Base cycles of executing `op` (memory-system and taken-branch extras are added by the
    /// hart as they happen).
    pub fn op_cycles(&self, op: Op) -> u32 {
        use Op::*;
        match op {
            Mul | Mulh | Mulhsu | Mulhu | Mulw => self.mul,
            Div | Divu | Rem | Remu | Divw | Divuw | Remw | Remuw => self.div,
            Lb | Lh | Lw | Ld | Lbu | Lhu | Lwu => self.load,
            Sb | Sh | Sw | Sd => self.store,
            LrW | ScW | LrD | ScD => self.lr_sc,
            AmoswapW | AmoaddW | AmoxorW | AmoandW | AmoorW | AmominW | AmomaxW | AmominuW
            | AmomaxuW | AmoswapD | AmoaddD | AmoxorD | AmoandD | AmoorD | AmominD | AmomaxD
            | AmominuD | AmomaxuD => self.amo,
            Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => self.csr,
            Fence | FenceI | SfenceVma => self.fence,
            Flw | Fsw | Fld | Fsd => self.fp_mem,
            FmaddS | FmsubS | FnmsubS | FnmaddS | FmaddD | FmsubD | FnmsubD | FnmaddD => {
                self.fp_fma
            }
            FdivS | FdivD => self.fp_div,
            FsqrtS | FsqrtD => self.fp_sqrt,
            FcvtWS | FcvtWuS | FcvtLS | FcvtLuS | FcvtSW | FcvtSWu | FcvtSL | FcvtSLu | FcvtSD
            | FcvtDS | FcvtWD | FcvtWuD | FcvtLD | FcvtLuD | FcvtDW | FcvtDWu | FcvtDL
            | FcvtDLu => self.fp_cvt,
            FaddS | FsubS | FmulS | FsgnjS | FsgnjnS | FsgnjxS | FminS | FmaxS | FmvXW | FeqS
            | FltS | FleS | FclassS | FmvWX | FaddD | FsubD | FmulD | FsgnjD | FsgnjnD
            | FsgnjxD | FminD | FmaxD | FmvXD | FeqD | FltD | FleD | FclassD | FmvDX => self.fp,
            Checktag | Loadtag => self.tag_load,
            Settag => self.tag_store,
            Ecall | Ebreak => self.trap_entry,
            Sret | Mret => self.trap_exit,
            _ => self.alu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_atomically() {
        let mut c = CostModel::default();
        c.apply_overrides("alu=2, walk_level=50\n# comment\nad_update = 7")
            .unwrap();
        assert_eq!((c.alu, c.walk_level, c.ad_update), (2, 50, 7));
        let before = c.clone();
        assert_eq!(
            c.apply_overrides("mul=9,bogus=1"),
            Err(CostModelError::UnknownEntry("bogus".into()))
        );
        assert_eq!(c, before, "nothing applied on error");
        assert!(matches!(
            c.apply_overrides("mul=-1"),
            Err(CostModelError::BadValue { .. })
        ));
        assert!(matches!(
            c.apply_overrides("mul"),
            Err(CostModelError::Syntax(_))
        ));
        assert_eq!(c.op_cycles(Op::Divw), c.div);
    }
}
