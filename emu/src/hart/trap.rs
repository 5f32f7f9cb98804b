//! Traps: an exception or interrupt becomes an [`Exit`] with precise state.
//!
//! Precision is kept by construction: an instruction writes no register before its last
//! possible fault (a data access performs nothing until all its pages are resolved, see
//! `mem.rs`), the run loop sets `pc` to the trapping instruction before it calls
//! [`Hart::trap`], and [`Hart::retire`] counts `instret` and the ALU base of `cycles`
//! only for instructions that completed. (A CSR or FP instruction that turns out illegal
//! has already been charged its cycles beyond the ALU base: the modelled cost of the
//! attempt.) An interrupt is taken between instructions, so `pc` is the next one to run.

use super::Hart;
use crate::exit::Exit;
use crate::inst::Inst;

impl<'m> Hart<'m> {
    /// Counts one trap taken to the OS and charges trap entry + exit.
    pub fn account_trap(&mut self) {
        self.traps += 1;
        self.cycles += u64::from(self.cost.trap_entry) + u64::from(self.cost.trap_exit);
    }

    /// Takes the trap or interrupt `e` (with `pc` already precise): counts page faults and
    /// drops the LR reservation, as every trap does (see "LR/SC" on [`Hart`]).
    pub(super) fn trap(&mut self, e: Exit) -> Exit {
        if matches!(e, Exit::PageFault { .. }) {
            self.counters.page_faults += 1;
        }
        self.reservation = None;
        e
    }

    /// Retires `n` instructions: `instret`, and the ALU base of their modelled cycles (an
    /// op's cycles beyond it were charged when it executed).
    #[inline(always)]
    pub(super) fn retire(&mut self, n: u64) {
        self.instret += n;
        self.cycles = self.cycles.wrapping_add(n * u64::from(self.cost.alu));
    }

    /// Whether this hart's software interrupt (CLINT `msip`) is pending: one `Acquire` load.
    #[inline(always)]
    pub(super) fn ipi_raised(&self) -> bool {
        self.msip.is_some_and(|m| m.is_raised())
    }

    /// The interrupt to take on entry to `run`, before any instruction: a software
    /// interrupt first, then the timer (`mtime >= mtimecmp`).
    pub(super) fn pending_interrupt(&self) -> Option<Exit> {
        if self.ipi_raised() {
            return Some(Exit::Ipi);
        }
        self.clint
            .is_some_and(|c| c.timer_pending(self.hart_id))
            .then_some(Exit::Timer)
    }

    /// An illegal-instruction exit for `i` at `pc`, with the encoding re-read from the fetch
    /// page for `stval` (the decoded cache does not keep raw bits).
    pub(super) fn illegal(&self, i: &Inst) -> Exit {
        let o = (self.pc & 0xfff) as usize;
        let bits = self.fetch_page.map_or(0, |p| {
            if i.len == 2 {
                p.load_u16(o).map_or(0, u32::from)
            } else {
                p.load_u32(o).unwrap_or(0)
            }
        });
        Exit::IllegalInstruction { bits }
    }
}
