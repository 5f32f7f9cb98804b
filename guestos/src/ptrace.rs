//! ptrace's user ABI and the per-task tracing state (`include/uapi/linux/ptrace.h`,
//! `include/linux/ptrace.h`, `arch/riscv/kernel/ptrace.c`, arm64's
//! `arch/arm64/kernel/mte.c`): the request and option numbers, [`PtraceState`] (what
//! `task->ptrace`, `task->parent`, `task->exit_code`, `task->last_siginfo` and
//! `TIF_SYSCALL_TRACE` hold in Linux), the riscv64 regsets (`NT_PRSTATUS` = `struct
//! user_regs_struct`, `NT_PRFPREG` = `struct __riscv_d_ext_state`) as guest ABI structs,
//! and `__access_remote_tags()` for `PTRACE_PEEKMTETAGS`/`PTRACE_POKEMTETAGS`.
//!
//! The requests themselves, which need the task table, are served under the kernel lock
//! in `kernel/ptrace.rs` (`sys_ptrace`); the stops are taken there too, at the points
//! Linux takes them (syscall entry and exit, signal delivery, exec, fork).

use std::collections::VecDeque;

use devices::PAGE_SIZE;
use emu::UserContext;

use crate::errno::{Errno, KResult};
use crate::mm::gup::get_user_page_vma_remote;
use crate::mm::{FollFlags, MmStruct, MmUsers, VmFlags};
use crate::signal::{SigInfo, SIGTRAP};
use crate::uaccess::UserAccess;

/// `PTRACE_TRACEME`.
pub const PTRACE_TRACEME: u64 = 0;
/// `PTRACE_PEEKTEXT`.
pub const PTRACE_PEEKTEXT: u64 = 1;
/// `PTRACE_PEEKDATA`.
pub const PTRACE_PEEKDATA: u64 = 2;
/// `PTRACE_POKETEXT`.
pub const PTRACE_POKETEXT: u64 = 4;
/// `PTRACE_POKEDATA`.
pub const PTRACE_POKEDATA: u64 = 5;
/// `PTRACE_CONT`.
pub const PTRACE_CONT: u64 = 7;
/// `PTRACE_KILL`.
pub const PTRACE_KILL: u64 = 8;
/// `PTRACE_ATTACH`.
pub const PTRACE_ATTACH: u64 = 16;
/// `PTRACE_DETACH`.
pub const PTRACE_DETACH: u64 = 17;
/// `PTRACE_SYSCALL`.
pub const PTRACE_SYSCALL: u64 = 24;
/// `PTRACE_PEEKMTETAGS` (arm64 `arch/arm64/include/uapi/asm/ptrace.h`).
pub const PTRACE_PEEKMTETAGS: u64 = 33;
/// `PTRACE_POKEMTETAGS` (arm64).
pub const PTRACE_POKEMTETAGS: u64 = 34;
/// `PTRACE_SETOPTIONS`.
pub const PTRACE_SETOPTIONS: u64 = 0x4200;
/// `PTRACE_GETEVENTMSG`.
pub const PTRACE_GETEVENTMSG: u64 = 0x4201;
/// `PTRACE_GETSIGINFO`.
pub const PTRACE_GETSIGINFO: u64 = 0x4202;
/// `PTRACE_SETSIGINFO`: the siginfo of the stop, as the tracer rewrites it.
pub const PTRACE_SETSIGINFO: u64 = 0x4203;
/// `PTRACE_GETREGSET`.
pub const PTRACE_GETREGSET: u64 = 0x4204;
/// `PTRACE_SETREGSET`.
pub const PTRACE_SETREGSET: u64 = 0x4205;
/// `PTRACE_SEIZE`.
pub const PTRACE_SEIZE: u64 = 0x4206;
/// `PTRACE_INTERRUPT`.
pub const PTRACE_INTERRUPT: u64 = 0x4207;
/// `PTRACE_GETSIGMASK`: the tracee's blocked mask (`addr` = `sizeof(sigset_t)`, 8).
pub const PTRACE_GETSIGMASK: u64 = 0x420a;
/// `PTRACE_SETSIGMASK`.
pub const PTRACE_SETSIGMASK: u64 = 0x420b;
/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3): `struct ptrace_syscall_info` of the stop.
pub const PTRACE_GET_SYSCALL_INFO: u64 = 0x420e;
/// `ptrace_message` at a syscall-entry stop (`PTRACE_EVENTMSG_SYSCALL_ENTRY`).
pub const PTRACE_EVENTMSG_SYSCALL_ENTRY: u64 = 1;
/// `ptrace_message` at a syscall-exit stop (`PTRACE_EVENTMSG_SYSCALL_EXIT`).
pub const PTRACE_EVENTMSG_SYSCALL_EXIT: u64 = 2;
/// `AUDIT_ARCH_RISCV64` (`EM_RISCV | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`): the
/// `arch` of a `ptrace_syscall_info`.
pub const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;

/// `struct ptrace_syscall_info` (`include/uapi/linux/ptrace.h`) of a stop, as
/// `ptrace_get_syscall_info()` fills it: the op (`PTRACE_SYSCALL_INFO_NONE` 0, `ENTRY`
/// 1, `EXIT` 2), the arch, the pc and sp, then the entry's number and arguments or the
/// exit's return value and error flag. Returns the bytes and the size Linux reports
/// (the end of the part that applies: 24, 80 or 33), of which the tracer gets as many
/// as its buffer holds.
pub fn syscall_info(op: SyscallInfoOp, regs: &emu::UserContext) -> ([u8; 88], usize) {
    let mut b = [0u8; 88];
    b[4..8].copy_from_slice(&AUDIT_ARCH_RISCV64.to_le_bytes());
    b[8..16].copy_from_slice(&regs.pc.to_le_bytes());
    b[16..24].copy_from_slice(&regs.x[2].to_le_bytes());
    let size = match op {
        SyscallInfoOp::None => 24,
        SyscallInfoOp::Entry => {
            b[0] = 1;
            b[24..32].copy_from_slice(&regs.x[17].to_le_bytes());
            for (i, a) in regs.x[10..16].iter().enumerate() {
                b[32 + 8 * i..40 + 8 * i].copy_from_slice(&a.to_le_bytes());
            }
            80
        }
        SyscallInfoOp::Exit => {
            b[0] = 2;
            let rval = regs.x[10];
            b[24..32].copy_from_slice(&rval.to_le_bytes());
            // IS_ERR_VALUE(): -4095..-1.
            b[32] = u8::from(rval >= (-4095i64) as u64);
            33
        }
    };
    (b, size)
}

/// What a `ptrace_syscall_info` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallInfoOp {
    /// Not a syscall stop (`PTRACE_SYSCALL_INFO_NONE`).
    None,
    /// A syscall-entry stop.
    Entry,
    /// A syscall-exit stop.
    Exit,
}

/// `PTRACE_O_TRACESYSGOOD`: syscall stops report `SIGTRAP | 0x80`.
pub const PTRACE_O_TRACESYSGOOD: u32 = 1;
/// `PTRACE_O_TRACEFORK`: stop at `fork` (`PTRACE_EVENT_FORK`), trace the child.
pub const PTRACE_O_TRACEFORK: u32 = 2;
/// `PTRACE_O_TRACEVFORK`: stop at `vfork` (`PTRACE_EVENT_VFORK`), trace the child.
pub const PTRACE_O_TRACEVFORK: u32 = 4;
/// `PTRACE_O_TRACECLONE`: stop at `clone` (`PTRACE_EVENT_CLONE`), trace the child.
pub const PTRACE_O_TRACECLONE: u32 = 8;
/// `PTRACE_O_TRACEEXEC`: stop at a successful `execve` (`PTRACE_EVENT_EXEC`) instead of
/// the legacy `SIGTRAP`.
pub const PTRACE_O_TRACEEXEC: u32 = 0x10;
/// `PTRACE_O_EXITKILL`: the tracer's exit sends `SIGKILL` to the tracee.
pub const PTRACE_O_EXITKILL: u32 = 0x10_0000;
/// `PTRACE_O_MASK`: every option Linux knows (the others — `TRACEVFORKDONE`,
/// `TRACEEXIT`, `TRACESECCOMP`, `SUSPEND_SECCOMP` — are accepted and never reported).
pub const PTRACE_O_MASK: u32 = 0x0030_00ff;

/// `PTRACE_EVENT_FORK`.
pub const PTRACE_EVENT_FORK: u32 = 1;
/// `PTRACE_EVENT_VFORK`.
pub const PTRACE_EVENT_VFORK: u32 = 2;
/// `PTRACE_EVENT_CLONE`.
pub const PTRACE_EVENT_CLONE: u32 = 3;
/// `PTRACE_EVENT_EXEC`.
pub const PTRACE_EVENT_EXEC: u32 = 4;
/// `PTRACE_EVENT_STOP`: a seized tracee's `PTRACE_INTERRUPT` or group-stop.
pub const PTRACE_EVENT_STOP: u32 = 128;

/// `NT_PRSTATUS`: the general registers.
pub const NT_PRSTATUS: u64 = 1;
/// `NT_PRFPREG` (`NT_FPREGSET`): the floating-point registers.
pub const NT_PRFPREG: u64 = 2;

use crate::mm::mte::MTE_GRANULE_SIZE;

/// riscv64's `struct user_regs_struct` (`arch/riscv/include/uapi/asm/ptrace.h`): `pc`,
/// then `ra`, `sp`, … `t6` (x1..x31), 32 × u64 = 256 bytes: the `NT_PRSTATUS` regset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRegsStruct {
    /// `pc`, then x1..x31.
    pub regs: [u64; 32],
}

/// riscv64's `struct __riscv_d_ext_state` (`user_fpregs_struct` of `NT_PRFPREG`):
/// `f[32]` as raw 64-bit patterns, `fcsr` as a u32, 4 bytes of padding: 264 bytes
/// (`ELF_NFPREG` = 33 elements of 8 bytes). `riscv_fpr_get()` writes `fcsr` as a u32
/// and leaves the padding zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiscvDExtState {
    /// f0..f31.
    pub f: [u64; 32],
    /// `fcsr`: `frm` in bits 7:5, `fflags` in bits 4:0.
    pub fcsr: u32,
    /// Padding to 8 bytes.
    pub pad: u32,
}

/// A user `struct iovec` (`iov_base`, `iov_len`), as `PTRACE_GETREGSET` and
/// `PTRACE_PEEKMTETAGS` take it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Iovec {
    /// `iov_base`.
    pub base: u64,
    /// `iov_len`, bytes.
    pub len: u64,
}

/// Why a tracee stopped (what `wait` reports and what a resume's signal means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// Signal-delivery-stop (`ptrace_signal()`): the signal in `last_siginfo` waits for
    /// the tracer's decision; the resume's `data` is the signal delivered (0: none).
    Signal,
    /// Syscall-entry or syscall-exit stop (`ptrace_report_syscall_entry/exit()`): a
    /// resume's signal is sent to the tracee (`send_sig()`).
    Syscall,
    /// `PTRACE_EVENT_*` stop (`ptrace_event()`), or group-stop/`PTRACE_INTERRUPT`
    /// (`do_jobctl_trap()`): a resume's signal is ignored.
    Event,
}

/// A stop the tracee owes its tracer before it goes back to user mode: what `wait`
/// will report (`task->exit_code`: `status >> 8`, the signal with the event in bits
/// 15:8 or `0x80` for a `TRACESYSGOOD` syscall stop) and the siginfo `GETSIGINFO` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtraceReport {
    /// `task->exit_code` while stopped.
    pub exit_code: u32,
    /// What the stop is.
    pub kind: StopKind,
    /// `task->last_siginfo` during the stop.
    pub info: SigInfo,
}

impl PtraceReport {
    /// A stop that is not a signal's (`ptrace_do_notify()`): `si_signo` the stop's
    /// signal, `si_code` the whole exit code, `si_pid` the tracee's pid.
    pub fn notify(exit_code: u32, kind: StopKind, pid: u32) -> Self {
        PtraceReport {
            exit_code,
            kind,
            info: SigInfo {
                signo: (exit_code & 0x7f) as u8,
                code: exit_code as i32,
                addr: u64::from(pid),
                status: 0,
            },
        }
    }

    /// A syscall stop of tracee `pid` with `options`: `SIGTRAP`, `| 0x80` with
    /// `PTRACE_O_TRACESYSGOOD` (`ptrace_report_syscall()`).
    pub fn syscall(options: u32, pid: u32) -> Self {
        let code = u32::from(SIGTRAP)
            | if options & PTRACE_O_TRACESYSGOOD != 0 {
                0x80
            } else {
                0
            };
        Self::notify(code, StopKind::Syscall, pid)
    }

    /// `PTRACE_EVENT_*` stop `event` of tracee `pid`: `SIGTRAP | event << 8`.
    pub fn event(event: u32, pid: u32) -> Self {
        Self::notify(u32::from(SIGTRAP) | event << 8, StopKind::Event, pid)
    }
}

/// A task's tracing state (`task->ptrace`, `task->parent` while traced, `exit_code`,
/// `last_siginfo`, `ptrace_message`, `TIF_SYSCALL_TRACE`), kept in its
/// [`crate::process::Task`]. A task with no tracer has it all empty.
#[derive(Debug, Clone, Default)]
pub struct PtraceState {
    /// The tracer thread (`task->parent` when `PT_PTRACED`), `None`: not traced.
    pub tracer: Option<u32>,
    /// `PT_SEIZED`: attached by `PTRACE_SEIZE` (no stop at attach, `INTERRUPT` allowed,
    /// group-stops reported as `PTRACE_EVENT_STOP`).
    pub seized: bool,
    /// `PTRACE_O_*` options.
    pub options: u32,
    /// `TIF_SYSCALL_TRACE`: resumed by `PTRACE_SYSCALL`.
    pub syscall_trace: bool,
    /// The stop the task is in (`TASK_TRACED`), and whether a `wait` has reported it
    /// (`exit_code` cleared by `wait_task_stopped()`).
    pub stop: Option<(PtraceReport, bool)>,
    /// Stops owed before the task returns to user mode, in order (an event stop inside
    /// a call, then its syscall-exit stop).
    pub reports: VecDeque<PtraceReport>,
    /// `task->last_siginfo`: the siginfo of the last stop, for `PTRACE_GETSIGINFO`.
    pub last_siginfo: Option<SigInfo>,
    /// The signal the tracer chose to deliver at the last signal-delivery-stop, delivered
    /// on the way back to user mode without another stop.
    pub inject: Option<SigInfo>,
    /// `ptrace_message` (`PTRACE_GETEVENTMSG`): the new child's pid of a fork event, the
    /// former tid of an exec event.
    pub event_msg: u64,
    /// The address of the `ecall` whose syscall-entry stop was reported and whose
    /// syscall-exit stop is still owed: the call runs when the task re-executes it
    /// (the kernel's restart), and a pc moved past it means the call returned.
    pub syscall_entry: Option<u64>,
    /// A sleeping call was interrupted for a stop (a signal for the tracer, a
    /// `PTRACE_INTERRUPT`) and left at its `ecall` to be re-issued: Linux's
    /// `-ERESTARTSYS`/`-ERESTARTNOHAND`, restarted unless a handler runs first (then it
    /// returns `EINTR`). Cleared when the task enters a call again.
    pub restart: bool,
}

impl PtraceState {
    /// Whether the task is traced (`task->ptrace & PT_PTRACED`).
    pub fn is_traced(&self) -> bool {
        self.tracer.is_some()
    }

    /// Whether the task is in a stop (`TASK_TRACED`).
    pub fn is_stopped(&self) -> bool {
        self.stop.is_some()
    }

    /// The state of a task `tracer` starts tracing with `options` (`ptrace_link()`).
    pub fn attach(tracer: u32, seized: bool, options: u32) -> Self {
        PtraceState {
            tracer: Some(tracer),
            seized,
            options,
            ..Self::default()
        }
    }
}

/// The `NT_PRSTATUS` view of `ctx`. A tracee stopped at syscall entry has its pc at the
/// `ecall` here (the call runs when it is re-executed); Linux has already stepped over
/// it (`regs->epc += 4` in `do_trap_ecall_u()`), and so does this view (`at_ecall`).
pub fn gpr_get(ctx: &UserContext, at_ecall: bool) -> UserRegsStruct {
    let mut r = UserRegsStruct { regs: ctx.x };
    r.regs[0] = ctx.pc.wrapping_add(if at_ecall { 4 } else { 0 });
    r
}

/// Writes the first `len` bytes (a multiple of 8) of `regs` into `ctx`
/// (`riscv_gpr_set()`): slot 0 is the pc (moved back onto the `ecall` for a tracee at
/// syscall entry, `at_ecall`), x0 stays 0.
pub fn gpr_set(ctx: &mut UserContext, regs: &UserRegsStruct, len: usize, at_ecall: bool) {
    for (i, &v) in regs.regs.iter().enumerate().take(len / 8) {
        match i {
            0 => ctx.pc = v.wrapping_sub(if at_ecall { 4 } else { 0 }),
            _ => ctx.x[i] = v,
        }
    }
}

/// The `NT_PRFPREG` view of `ctx` (`riscv_fpr_get()`).
pub fn fpr_get(ctx: &UserContext) -> RiscvDExtState {
    RiscvDExtState {
        f: ctx.f,
        fcsr: ctx.fcsr,
        pad: 0,
    }
}

/// Writes the first `len` bytes of `fp` into `ctx` (`riscv_fpr_set()`): whole `f`
/// registers, then `fcsr` if the 4 bytes after `f[31]` are covered.
pub fn fpr_set(ctx: &mut UserContext, fp: &RiscvDExtState, len: usize) {
    for (i, &v) in fp.f.iter().enumerate().take(len / 8) {
        ctx.f[i] = v;
    }
    if len >= 32 * 8 + 4 {
        ctx.fcsr = fp.fcsr & 0xff;
    }
}

/// Which way `__access_remote_tags()` copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagAccess {
    /// `PTRACE_PEEKMTETAGS`: the tracee's tags into the tracer's buffer.
    Peek,
    /// `PTRACE_POKEMTETAGS`: the tracer's buffer into the tracee's tags (`FOLL_WRITE`).
    Poke,
}

/// arm64's `__access_remote_tags()` (`arch/arm64/kernel/mte.c`) for
/// `mte_ptrace_copy_tags()`: moves up to `iov.len` tags, one per byte of the tracer's
/// buffer at `iov.base` (`tracer`'s memory; a poked byte's low 4 bits are the tag),
/// between it and the tracee's (`target`) granules from `addr` aligned down to 16
/// bytes, page by page through [`get_user_page_vma_remote`] (`FOLL_FORCE`, plus
/// `FOLL_WRITE` for a poke, which also marks the page dirty, `set_page_dirty_lock()`).
/// A page that cannot be taken or a VMA without `VM_MTE` ends the walk. The tags are the
/// frame's, read and written by physical address ([`devices::TagMemory`]); a poked frame
/// not yet `PG_mte_tagged` is synced first ([`crate::mm::mte::mte_sync_tags`]), so the
/// tags it receives are never wiped by a later mapping.
///
/// Linux holds the tracee's `mmap_lock` across the walk and copies to the tracer under
/// it; here it is taken for each page and dropped before the tracer's memory is
/// touched (as [`crate::procfs::mem::mem_rw`] does), since a tracer sharing the
/// tracee's address space (`CLONE_VM`) would take the one lock twice.
///
/// Returns the tags moved (the new `iov_len`; the caller writes it back).
///
/// # Errors
/// `EFAULT` for a tracer buffer outside user space (`access_ok()`) or when no tag was
/// moved because the tracer's buffer faulted (or `iov.len` is 0); `EIO` when no tag was
/// moved because the tracee's address space refused the first page (unmapped, not
/// `VM_MTE`: `EOPNOTSUPP` inside, `EIO` out).
pub fn access_remote_tags(
    tracer: &MmUsers,
    target: &MmUsers,
    addr: u64,
    iov: Iovec,
    access: TagAccess,
) -> KResult<u64> {
    let mut flags = FollFlags::FORCE;
    if access == TagAccess::Poke {
        flags |= FollFlags::WRITE;
    }
    if !tracer.mmap_read_lock().mm().access_ok(iov.base, iov.len) {
        return Err(Errno::EFAULT);
    }
    let mut user: &MmStruct = tracer.uaccess();
    let mut addr = addr & !(MTE_GRANULE_SIZE - 1);
    let (mut buf, mut len) = (iov.base, iov.len);
    let mut err = None;
    let mut tags = vec![0u8; (PAGE_SIZE / MTE_GRANULE_SIZE) as usize];
    while len > 0 {
        let offset = addr % PAGE_SIZE;
        let n = len.min((PAGE_SIZE - offset) / MTE_GRANULE_SIZE);
        let chunk = tags.get_mut(..n as usize).unwrap_or_default();
        if access == TagAccess::Poke && user.copy_from_user(buf, chunk).is_err() {
            break;
        }
        let r = {
            let mut guard = target.gup_read_lock();
            let phys = std::sync::Arc::clone(guard.phys());
            match get_user_page_vma_remote(&mut guard, addr, flags) {
                Err(e) => Err(e),
                Ok((pfn, vma)) => {
                    let tagged = vma.flags.contains(VmFlags::MTE);
                    if tagged {
                        let pa = pfn.pa().0 + offset;
                        match access {
                            TagAccess::Peek => crate::mm::mte::mte_copy_tags_out(&phys, pa, chunk),
                            TagAccess::Poke => {
                                crate::mm::mte::mte_copy_tags_in(&phys, pfn, pa, chunk);
                            }
                        }
                    }
                    phys.put_page(pfn);
                    if tagged {
                        Ok(())
                    } else {
                        Err(Errno::EOPNOTSUPP)
                    }
                }
            }
        };
        if let Err(e) = r {
            err = Some(e);
            break;
        }
        if access == TagAccess::Peek && user.copy_to_user(buf, chunk).is_err() {
            break;
        }
        len -= n;
        buf += n;
        addr = addr.wrapping_add(n * MTE_GRANULE_SIZE);
    }
    match buf - iov.base {
        0 if err.is_some() => Err(Errno::EIO),
        0 => Err(Errno::EFAULT),
        moved => Ok(moved),
    }
}

/// Little-endian u64 words of `bytes` (a whole number of them).
fn words<const N: usize>(bytes: &[u8]) -> [u64; N] {
    let mut w = [0u64; N];
    for (v, c) in w.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *v = u64::from_le_bytes(b);
    }
    w
}

impl UserRegsStruct {
    /// Size in bytes (`ELF_NGREG` x 8).
    pub const SIZE: usize = 256;

    /// The struct as the guest lays it out.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (c, v) in b.chunks_exact_mut(8).zip(self.regs) {
            c.copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// The struct from the guest's bytes (missing bytes read as 0).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = [0u8; Self::SIZE];
        let n = bytes.len().min(Self::SIZE);
        b[..n].copy_from_slice(&bytes[..n]);
        UserRegsStruct { regs: words(&b) }
    }
}

impl RiscvDExtState {
    /// Size in bytes (`ELF_NFPREG` x 8).
    pub const SIZE: usize = 264;

    /// The struct as the guest lays it out.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (c, v) in b.chunks_exact_mut(8).zip(self.f) {
            c.copy_from_slice(&v.to_le_bytes());
        }
        b[256..260].copy_from_slice(&self.fcsr.to_le_bytes());
        b
    }

    /// The struct from the guest's bytes (missing bytes read as 0).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = [0u8; Self::SIZE];
        let n = bytes.len().min(Self::SIZE);
        b[..n].copy_from_slice(&bytes[..n]);
        let mut fcsr = [0u8; 4];
        fcsr.copy_from_slice(&b[256..260]);
        RiscvDExtState {
            f: words(&b[..256]),
            fcsr: u32::from_le_bytes(fcsr),
            pad: 0,
        }
    }
}

impl Iovec {
    /// Size in bytes.
    pub const SIZE: usize = 16;

    /// Reads a `struct iovec` at `va`.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn read(u: &mut dyn UserAccess, va: u64) -> KResult<Self> {
        Ok(Iovec {
            base: u.get_user_u64(va)?,
            len: u.get_user_u64(va.wrapping_add(8))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regset_layouts_are_linux_riscv64s() {
        let mut r = UserRegsStruct::default();
        r.regs[0] = 0x1122;
        r.regs[31] = 7;
        let b = r.to_bytes();
        assert_eq!((b.len(), b[0], b[1], b[248]), (256, 0x22, 0x11, 7));
        assert_eq!(UserRegsStruct::from_bytes(&b), r);
        let fp = RiscvDExtState {
            f: [1; 32],
            fcsr: 0xe5,
            pad: 0,
        };
        let b = fp.to_bytes();
        assert_eq!(
            (b.len(), b[256], b[260]),
            (264, 0xe5, 0),
            "ELF_NFPREG 33 x 8"
        );
        assert_eq!(RiscvDExtState::from_bytes(&b), fp);
    }

    #[test]
    fn the_entry_stop_view_steps_over_the_ecall_and_back() {
        let mut ctx = UserContext {
            pc: 0x1000,
            ..Default::default()
        };
        ctx.x[10] = 7;
        ctx.x[17] = 64;
        let r = gpr_get(&ctx, true);
        assert_eq!((r.regs[0], r.regs[10], r.regs[17]), (0x1004, 7, 64));
        let mut w = r;
        w.regs[0] = 0x2004;
        w.regs[11] = 99;
        gpr_set(&mut ctx, &w, 256, true);
        assert_eq!((ctx.pc, ctx.x[11], ctx.x[0]), (0x2000, 99, 0));
        // A short write changes only the registers it covers.
        w.regs[12] = 5;
        gpr_set(&mut ctx, &w, 8 * 12, false);
        assert_eq!((ctx.pc, ctx.x[12]), (0x2004, 0));
    }

    #[test]
    fn fcsr_is_written_only_when_covered() {
        let mut ctx = UserContext::default();
        let fp = RiscvDExtState {
            f: [3; 32],
            fcsr: 0x1e5,
            pad: 0,
        };
        fpr_set(&mut ctx, &fp, 256);
        assert_eq!((ctx.f[31], ctx.fcsr), (3, 0));
        fpr_set(&mut ctx, &fp, 264);
        assert_eq!(ctx.fcsr, 0xe5, "frm and fflags only");
        assert_eq!(fpr_get(&ctx).fcsr, 0xe5);
    }

    /// `__access_remote_tags()`'s results: full, partial at the end of the `VM_MTE` VMA,
    /// `EIO` without `VM_MTE`, `EFAULT` for the tracer's buffer or a zero length; the
    /// pages all given back.
    #[test]
    fn remote_tags_full_partial_and_failing() {
        use crate::mm::mmap::{PROT_MTE, PROT_READ, PROT_WRITE};
        use crate::mm::test_support::{clean, phys, ANON, P};
        use crate::mm::Mm;
        use mmu::{AdScheme, SatpMode};
        let phys = phys(16);
        let rw = PROT_READ | PROT_WRITE;
        let mut tmm = Mm::new(phys.clone(), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let a = tmm.do_mmap(0, 3 * P, rw, ANON, None, 0).unwrap();
        tmm.mprotect(a, 2 * P, rw | PROT_MTE).unwrap();
        let target = MmUsers::new(tmm);
        let mut umm = Mm::new(phys.clone(), SatpMode::Sv39, AdScheme::Svadu, 2).unwrap();
        let buf = umm.do_mmap(0, P, rw, ANON, None, 0).unwrap();
        let tracer = MmUsers::new(umm);
        let mut user: &MmStruct = tracer.uaccess();
        user.copy_to_user(buf, &[0xf1, 2, 3, 4]).unwrap();
        let iov = |len| Iovec { base: buf, len };
        let poke = access_remote_tags(&tracer, &target, a + 48 + 5, iov(4), TagAccess::Poke);
        assert_eq!(poke, Ok(4));
        user.copy_to_user(buf, &[9; 8]).unwrap();
        let peek = access_remote_tags(&tracer, &target, a + 32, iov(6), TagAccess::Peek);
        assert_eq!(peek, Ok(6));
        let mut got = [0u8; 6];
        user.copy_from_user(buf, &mut got).unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4, 0], "low nibbles, at granule 3");
        let end = a + 2 * P - 48;
        let partial = access_remote_tags(&tracer, &target, end, iov(10), TagAccess::Peek);
        assert_eq!(partial, Ok(3), "the walk ends at the VMA without VM_MTE");
        let no_mte = access_remote_tags(&tracer, &target, a + 2 * P, iov(4), TagAccess::Peek);
        assert_eq!(no_mte, Err(Errno::EIO));
        let unmapped = Iovec {
            base: buf + P,
            len: 4,
        };
        let bad = access_remote_tags(&tracer, &target, a, unmapped, TagAccess::Peek);
        assert_eq!(bad, Err(Errno::EFAULT));
        let empty = access_remote_tags(&tracer, &target, a, iov(0), TagAccess::Peek);
        assert_eq!(empty, Err(Errno::EFAULT), "nothing copied, no tracee error");
        drop((target, tracer));
        clean(&phys);
    }

    #[test]
    fn stop_codes_are_linuxs() {
        assert_eq!(PtraceReport::syscall(0, 3).exit_code, 5);
        assert_eq!(
            PtraceReport::syscall(PTRACE_O_TRACESYSGOOD, 3).exit_code,
            0x85
        );
        let e = PtraceReport::event(PTRACE_EVENT_EXEC, 3);
        assert_eq!((e.exit_code, e.info.signo, e.info.code), (0x405, 5, 0x405));
    }
}
