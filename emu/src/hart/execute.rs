//! The instruction semantics: one `match` over the decoded [`Op`], with modelled cycles
//! charged per op; every data access goes to the memory seam in `mem`.

use std::sync::atomic::Ordering;

use devices::AmoOp;

use super::mem::{MemOp, MemOpKind};
use super::{Hart, Step, NO_VPN};
use crate::exit::Exit;
use crate::fpu::{self, nan_box, RoundingMode};
use crate::inst::{Inst, Op};

/// How an executed instruction continues.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Fall through to `pc + len` (`self.pc` not written).
    Next,
    /// `self.pc` holds the next PC (a control transfer).
    Jump,
    /// Fall through (`self.pc` not written), but re-fetch through the TLB first.
    Resync,
}

impl<'m> Hart<'m> {
    /// Writes `v` to `x[rd]` (a write to x0 is dropped).
    #[inline(always)]
    pub(super) fn wx(&mut self, rd: u8, v: u64) {
        self.x[rd as usize & 31] = v;
        self.x[0] = 0;
    }

    /// Reads `x[r]`.
    #[inline(always)]
    pub(super) fn rx(&self, r: u8) -> u64 {
        self.x[r as usize & 31]
    }

    /// Ends a branch: `pc` to the target if `taken` (charging the taken-branch cycles), else
    /// to the next instruction.
    #[inline(always)]
    fn branch(&mut self, inst: &Inst, pc: u64, taken: bool) -> Flow {
        if taken {
            self.pc = pc.wrapping_add(inst.imm as i64 as u64);
            self.cycles += u64::from(self.cost.taken_branch);
        } else {
            self.pc = pc.wrapping_add(u64::from(inst.len));
        }
        Flow::Jump
    }

    /// Charges `i`'s modelled cycles beyond the ALU base (non-ALU ops call this once).
    #[inline(always)]
    pub(super) fn charge(&mut self, i: &Inst) {
        self.cycles = self.cycles.wrapping_add(self.op_extra[i.op as usize]);
    }

    /// After a memory access: a slow-path translation may have displaced the fetch page's
    /// TLB entry, or a store invalidated decoded code; either ends the in-page run.
    #[inline(always)]
    fn mem_flow(&mut self, i: &Inst) -> Flow {
        self.charge(i);
        if self.fetch_vpn == NO_VPN {
            Flow::Resync
        } else {
            Flow::Next
        }
    }

    /// Executes `i` at `pc`. Sequential instructions do not write `self.pc` (the block loop
    /// keeps the PC in a register); control transfers write it and return [`Flow::Jump`].
    #[inline(always)]
    pub(super) fn execute<const MASKED: bool>(&mut self, i: &Inst, pc: u64) -> Result<Flow, Exit> {
        use Op::*;
        // Operands are read inside each arm, so an instruction pays only for what it uses.
        macro_rules! a {
            () => {
                self.x[i.rs1 as usize & 31]
            };
        }
        macro_rules! b {
            () => {
                self.x[i.rs2 as usize & 31]
            };
        }
        macro_rules! imm {
            () => {
                (i.imm as i64 as u64)
            };
        }
        macro_rules! sh {
            () => {
                ((i.imm as u32) & 63)
            };
        }
        macro_rules! next {
            () => {
                pc.wrapping_add(u64::from(i.len))
            };
        }
        match i.op {
            Lui => self.wx(i.rd, imm!()),
            Auipc => self.wx(i.rd, pc.wrapping_add(imm!())),
            Jal => {
                self.wx(i.rd, next!());
                self.pc = pc.wrapping_add(imm!());
                self.cycles += u64::from(self.cost.taken_branch);
                return Ok(Flow::Jump);
            }
            Jalr => {
                let target = a!().wrapping_add(imm!()) & !1;
                self.wx(i.rd, next!());
                self.pc = target;
                self.cycles += u64::from(self.cost.taken_branch);
                return Ok(Flow::Jump);
            }
            Beq => return Ok(self.branch(i, pc, a!() == b!())),
            Bne => return Ok(self.branch(i, pc, a!() != b!())),
            Blt => return Ok(self.branch(i, pc, (a!() as i64) < (b!() as i64))),
            Bge => return Ok(self.branch(i, pc, (a!() as i64) >= (b!() as i64))),
            Bltu => return Ok(self.branch(i, pc, a!() < b!())),
            Bgeu => return Ok(self.branch(i, pc, a!() >= b!())),
            Lb => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 1).based_on(i.rs1),
                )?;
                self.wx(i.rd, v as u8 as i8 as i64 as u64);
                return Ok(self.mem_flow(i));
            }
            Lh => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 2).based_on(i.rs1),
                )?;
                self.wx(i.rd, v as u16 as i16 as i64 as u64);
                return Ok(self.mem_flow(i));
            }
            Lw => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 4).based_on(i.rs1),
                )?;
                self.wx(i.rd, v as u32 as i32 as i64 as u64);
                return Ok(self.mem_flow(i));
            }
            Ld => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 8).based_on(i.rs1),
                )?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Lbu => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 1).based_on(i.rs1),
                )?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Lhu => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 2).based_on(i.rs1),
                )?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Lwu => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 4).based_on(i.rs1),
                )?;
                self.wx(i.rd, v);
                return Ok(self.mem_flow(i));
            }
            Sb => {
                self.data_access::<MASKED>(
                    MemOp::store(a!().wrapping_add(imm!()), 1, b!()).based_on(i.rs1),
                )?;
                return Ok(self.mem_flow(i));
            }
            Sh => {
                self.data_access::<MASKED>(
                    MemOp::store(a!().wrapping_add(imm!()), 2, b!()).based_on(i.rs1),
                )?;
                return Ok(self.mem_flow(i));
            }
            Sw => {
                self.data_access::<MASKED>(
                    MemOp::store(a!().wrapping_add(imm!()), 4, b!()).based_on(i.rs1),
                )?;
                return Ok(self.mem_flow(i));
            }
            Sd => {
                self.data_access::<MASKED>(
                    MemOp::store(a!().wrapping_add(imm!()), 8, b!()).based_on(i.rs1),
                )?;
                return Ok(self.mem_flow(i));
            }
            Addi => self.wx(i.rd, a!().wrapping_add(imm!())),
            Slti => self.wx(i.rd, u64::from((a!() as i64) < (imm!() as i64))),
            Sltiu => self.wx(i.rd, u64::from(a!() < imm!())),
            Xori => self.wx(i.rd, a!() ^ imm!()),
            Ori => self.wx(i.rd, a!() | imm!()),
            Andi => self.wx(i.rd, a!() & imm!()),
            Slli => self.wx(i.rd, a!() << sh!()),
            Srli => self.wx(i.rd, a!() >> sh!()),
            Srai => self.wx(i.rd, ((a!() as i64) >> sh!()) as u64),
            Add => self.wx(i.rd, a!().wrapping_add(b!())),
            Sub => self.wx(i.rd, a!().wrapping_sub(b!())),
            Sll => self.wx(i.rd, a!() << (b!() & 63)),
            Slt => self.wx(i.rd, u64::from((a!() as i64) < (b!() as i64))),
            Sltu => self.wx(i.rd, u64::from(a!() < b!())),
            Xor => self.wx(i.rd, a!() ^ b!()),
            Srl => self.wx(i.rd, a!() >> (b!() & 63)),
            Sra => self.wx(i.rd, ((a!() as i64) >> (b!() & 63)) as u64),
            Or => self.wx(i.rd, a!() | b!()),
            And => self.wx(i.rd, a!() & b!()),
            Addiw => self.wx(i.rd, sext32(a!().wrapping_add(imm!()))),
            Slliw => self.wx(i.rd, sext32(u64::from((a!() as u32) << (sh!() & 31)))),
            Srliw => self.wx(i.rd, sext32(u64::from((a!() as u32) >> (sh!() & 31)))),
            Sraiw => self.wx(i.rd, ((a!() as i32) >> (sh!() & 31)) as i64 as u64),
            Addw => self.wx(i.rd, sext32(a!().wrapping_add(b!()))),
            Subw => self.wx(i.rd, sext32(a!().wrapping_sub(b!()))),
            Sllw => self.wx(i.rd, sext32(u64::from((a!() as u32) << (b!() & 31)))),
            Srlw => self.wx(i.rd, sext32(u64::from((a!() as u32) >> (b!() & 31)))),
            Sraw => self.wx(i.rd, ((a!() as i32) >> (b!() & 31)) as i64 as u64),
            Mul => {
                self.charge(i);
                self.wx(i.rd, a!().wrapping_mul(b!()))
            }
            Mulh => {
                self.charge(i);
                self.wx(
                    i.rd,
                    ((i128::from(a!() as i64) * i128::from(b!() as i64)) >> 64) as u64,
                )
            }
            Mulhsu => {
                self.charge(i);
                self.wx(
                    i.rd,
                    ((i128::from(a!() as i64) * (b!() as i128)) >> 64) as u64,
                )
            }
            Mulhu => {
                self.charge(i);
                self.wx(i.rd, ((u128::from(a!()) * u128::from(b!())) >> 64) as u64)
            }
            Div => {
                self.charge(i);
                self.wx(i.rd, div_s(a!() as i64, b!() as i64) as u64)
            }
            Divu => {
                self.charge(i);
                self.wx(i.rd, a!().checked_div(b!()).unwrap_or(u64::MAX))
            }
            Rem => {
                self.charge(i);
                self.wx(i.rd, rem_s(a!() as i64, b!() as i64) as u64)
            }
            Remu => {
                self.charge(i);
                self.wx(i.rd, if b!() == 0 { a!() } else { a!() % b!() })
            }
            Mulw => {
                self.charge(i);
                self.wx(i.rd, sext32(a!().wrapping_mul(b!())))
            }
            Divw => {
                self.charge(i);
                self.wx(i.rd, i64::from(div_s32(a!() as i32, b!() as i32)) as u64)
            }
            Divuw => {
                self.charge(i);
                let (x, y) = (a!() as u32, b!() as u32);
                self.wx(
                    i.rd,
                    sext32(u64::from(x.checked_div(y).unwrap_or(u32::MAX))),
                );
            }
            Remw => {
                self.charge(i);
                self.wx(i.rd, i64::from(rem_s32(a!() as i32, b!() as i32)) as u64)
            }
            Remuw => {
                self.charge(i);
                let (x, y) = (a!() as u32, b!() as u32);
                self.wx(i.rd, sext32(u64::from(if y == 0 { x } else { x % y })));
            }
            Fence => {
                self.charge(i);
                std::sync::atomic::fence(Ordering::SeqCst)
            }
            FenceI => {
                self.charge(i);
                self.flush_icache();
                self.pc = next!();
                return Ok(Flow::Jump);
            }
            Ecall => return Err(Exit::Ecall),
            Ebreak => return Err(Exit::Breakpoint),
            Csrrw | Csrrs | Csrrc | Csrrwi | Csrrsi | Csrrci => {
                self.pc = pc;
                self.exec_csr(i)?
            }
            LrW | LrD => {
                let size = if i.op == LrW { 4 } else { 8 };
                let v = self.data_access::<MASKED>(
                    MemOp::new(a!(), size, MemOpKind::LoadReserved).based_on(i.rs1),
                )?;
                self.wx(i.rd, if size == 4 { sext32(v) } else { v });
                return Ok(self.mem_flow(i));
            }
            ScW | ScD => {
                let size = if i.op == ScW { 4 } else { 8 };
                let failed = self.data_access::<MASKED>(
                    MemOp::new(a!(), size, MemOpKind::StoreConditional(b!())).based_on(i.rs1),
                )?;
                self.wx(i.rd, failed);
                return Ok(self.mem_flow(i));
            }
            AmoswapW | AmoaddW | AmoxorW | AmoandW | AmoorW | AmominW | AmomaxW | AmominuW
            | AmomaxuW => {
                let old = self.data_access::<MASKED>(
                    MemOp::new(a!(), 4, MemOpKind::Amo(amo_op(i.op), b!())).based_on(i.rs1),
                )?;
                self.wx(i.rd, sext32(old));
                return Ok(self.mem_flow(i));
            }
            AmoswapD | AmoaddD | AmoxorD | AmoandD | AmoorD | AmominD | AmomaxD | AmominuD
            | AmomaxuD => {
                let old = self.data_access::<MASKED>(
                    MemOp::new(a!(), 8, MemOpKind::Amo(amo_op(i.op), b!())).based_on(i.rs1),
                )?;
                self.wx(i.rd, old);
                return Ok(self.mem_flow(i));
            }
            Flw => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 4).based_on(i.rs1),
                )?;
                self.f[i.rd as usize & 31] = nan_box(v as u32);
                return Ok(self.mem_flow(i));
            }
            Fld => {
                let v = self.data_access::<MASKED>(
                    MemOp::load(a!().wrapping_add(imm!()), 8).based_on(i.rs1),
                )?;
                self.f[i.rd as usize & 31] = v;
                return Ok(self.mem_flow(i));
            }
            Fsw => {
                self.data_access::<MASKED>(
                    MemOp::store(a!().wrapping_add(imm!()), 4, self.f[i.rs2 as usize & 31])
                        .based_on(i.rs1),
                )?;
                return Ok(self.mem_flow(i));
            }
            Fsd => {
                self.data_access::<MASKED>(
                    MemOp::store(a!().wrapping_add(imm!()), 8, self.f[i.rs2 as usize & 31])
                        .based_on(i.rs1),
                )?;
                return Ok(self.mem_flow(i));
            }
            // Zimop: "MOPs write 0 to rd".
            MopR | MopRR => self.wx(i.rd, 0),
            Gentag | Addtag | Settag | Checktag | Loadtag => {
                self.pc = pc;
                if self.exec_zimt(i)? {
                    return Ok(self.mem_flow(i));
                }
            }
            Sret | Mret | Wfi | SfenceVma => {
                self.pc = pc;
                return Err(self.illegal(i));
            }
            _ => {
                self.pc = pc;
                self.exec_fp(i)?
            }
        }
        Ok(Flow::Next)
    }

    fn exec_fp(&mut self, i: &Inst) -> Step {
        self.charge(i);
        use Op::*;
        let frm = ((self.fcsr >> 5) & 7) as u8;
        let rm = RoundingMode::resolve(i.rm, frm).ok_or_else(|| self.illegal(i))?;
        let int_src = matches!(
            i.op,
            FcvtSW
                | FcvtSWu
                | FcvtSL
                | FcvtSLu
                | FmvWX
                | FcvtDW
                | FcvtDWu
                | FcvtDL
                | FcvtDLu
                | FmvDX
        );
        let rs1 = if int_src {
            self.rx(i.rs1)
        } else {
            self.f[i.rs1 as usize & 31]
        };
        let rs2 = self.f[i.rs2 as usize & 31];
        let rs3 = self.f[i.rs3 as usize & 31];
        let (v, flags) = fpu::execute(i.op, rs1, rs2, rs3, rm).ok_or_else(|| self.illegal(i))?;
        let int_dst = matches!(
            i.op,
            FcvtWS
                | FcvtWuS
                | FcvtLS
                | FcvtLuS
                | FmvXW
                | FeqS
                | FltS
                | FleS
                | FclassS
                | FcvtWD
                | FcvtWuD
                | FcvtLD
                | FcvtLuD
                | FmvXD
                | FeqD
                | FltD
                | FleD
                | FclassD
        );
        if int_dst {
            self.wx(i.rd, v);
        } else {
            self.f[i.rd as usize & 31] = v;
        }
        self.fcsr |= u32::from(flags.bits());
        Ok(())
    }
}

#[inline(always)]
fn sext32(v: u64) -> u64 {
    v as u32 as i32 as i64 as u64
}

fn div_s(a: i64, b: i64) -> i64 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem_s(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

fn div_s32(a: i32, b: i32) -> i32 {
    if b == 0 {
        -1
    } else {
        a.wrapping_div(b)
    }
}

fn rem_s32(a: i32, b: i32) -> i32 {
    if b == 0 {
        a
    } else {
        a.wrapping_rem(b)
    }
}

fn amo_op(op: Op) -> AmoOp {
    use Op::*;
    match op {
        AmoswapW | AmoswapD => AmoOp::Swap,
        AmoaddW | AmoaddD => AmoOp::Add,
        AmoxorW | AmoxorD => AmoOp::Xor,
        AmoandW | AmoandD => AmoOp::And,
        AmoorW | AmoorD => AmoOp::Or,
        AmominW | AmominD => AmoOp::Min,
        AmomaxW | AmomaxD => AmoOp::Max,
        AmominuW | AmominuD => AmoOp::MinU,
        _ => AmoOp::MaxU,
    }
}
