//! The user-level CSRs: `fcsr` (`fflags`, `frm`), the `cycle`/`time`/`instret` counters,
//! and `satp` as the OS writes it.

use devices::Clint;
use mmu::Satp;

use super::{Hart, Step};
use crate::inst::{Inst, Op};

impl<'m> Hart<'m> {
    /// `fcsr`.
    pub fn fcsr(&self) -> u32 {
        self.fcsr
    }

    /// Current `satp`.
    pub fn satp(&self) -> Satp {
        self.satp
    }

    /// Writes `satp` (a context switch to another address space). Like a real `csrw satp`
    /// this does not flush the TLB (entries are ASID-tagged); it does drop the host-pointer
    /// and fetch caches, which are not. An unsupported MODE leaves `satp` unchanged (WARL).
    pub fn set_satp(&mut self, satp: Satp) {
        let Some(mode) = satp.mode() else { return };
        self.satp = satp;
        self.mode = mode;
        self.asid = satp.asid();
        self.flush_fast();
    }

    /// Executes a Zicsr instruction on the user CSRs `fflags` (0x001), `frm` (0x002), `fcsr`
    /// (0x003) and the read-only counters `cycle` (0xc00), `time` (0xc01) and `instret`
    /// (0xc02) (*Unprivileged ISA, "Zicsr" and "Zicntr"*).
    ///
    /// # Errors
    /// [`crate::Exit::IllegalInstruction`] for any other CSR, and for a write to a
    /// read-only counter.
    pub(super) fn exec_csr(&mut self, i: &Inst) -> Step {
        self.charge(i);
        use Op::*;
        let csr = (i.imm as u32) & 0xfff;
        let src = match i.op {
            Csrrwi | Csrrsi | Csrrci => u64::from(i.rs1),
            _ => self.rx(i.rs1),
        };
        // Csrrs/Csrrc with rs1=x0 (or uimm 0) do not write: reading a read-only CSR is legal.
        let writes = matches!(i.op, Csrrw | Csrrwi) || i.rs1 != 0;
        let old = match csr {
            0x001 => u64::from(self.fcsr & 0x1f),
            0x002 => u64::from((self.fcsr >> 5) & 7),
            0x003 => u64::from(self.fcsr & 0xff),
            // cycle, time, instret (user counters; Linux's scounteren grants them and
            // qemu-user allows them).
            0xc00 => self.modelled_cycles(),
            0xc01 => self
                .clint
                .map_or_else(|| self.modelled_cycles(), Clint::mtime),
            0xc02 => self.instret,
            _ => return Err(self.illegal(i)),
        };
        if writes {
            if csr >= 0xc00 {
                return Err(self.illegal(i));
            }
            let new = match i.op {
                Csrrw | Csrrwi => src,
                Csrrs | Csrrsi => old | src,
                _ => old & !src,
            };
            let new = new as u32;
            self.fcsr = match csr {
                0x001 => (self.fcsr & !0x1f) | (new & 0x1f),
                0x002 => (self.fcsr & 0x1f) | ((new & 7) << 5),
                _ => new & 0xff,
            };
        }
        self.wx(i.rd, old);
        Ok(())
    }
}
