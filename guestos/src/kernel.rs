//! The kernel's main loop: boot the machine, exec the image, run the hart and handle
//! every exit — system calls, page faults (`handle_mm_fault`), and fatal traps turned into
//! signals (`force_sig_fault`), delivered to a handler or ending the process.

use std::sync::Arc;
use std::time::Instant;

use devices::{Clint, ClockSource, GuestMemory, GuestPhysAddr, MemoryError};
use emu::{Exit, Hart, HartConfig};

use crate::config::{ExitStatus, KernelConfig, KernelStats, RunReport, RAM_BASE};
use crate::exec::{exec, LoadError};
use crate::fs::{parse_file_arg, HostStreams, ImportError};
use crate::mm::{Mm, PageAllocError, PhysMem, TlbFlushRange, VmFault};
use crate::process::Process;
use crate::signal::{
    self, setup_rt_frame, SigAction, SigInfo, SIGBUS, SIGILL, SIGSEGV, SIGTRAP, SIG_DFL, SIG_IGN,
};
use crate::syscall::{self, SyscallOutcome};

/// Host-side failures that stop a run before the guest runs.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// Guest RAM could not be mapped.
    #[error("cannot set up guest RAM")]
    Memory(#[from] MemoryError),
    /// The frame allocator could not be set up over guest RAM.
    #[error("cannot set up the page allocator")]
    Pages(#[from] PageAllocError),
    /// The first address space could not be created.
    #[error("cannot create the address space: {0}")]
    AddressSpace(crate::errno::Errno),
    /// The image cannot be executed.
    #[error("cannot execute the image")]
    Exec(#[from] LoadError),
    /// A `--file` could not be copied into the guest.
    #[error("cannot copy a --file into the guest")]
    HostFile(#[from] ImportError),
}

/// ASID of the first process.
const FIRST_ASID: u16 = 1;

/// Boots a machine per `config`, executes `image` as `exe_path` with `argv`/`envp`, and
/// runs it to completion (or to the instruction limit).
///
/// # Errors
/// [`KernelError`] when the machine cannot be set up or the image cannot be executed; a
/// guest that faults or misbehaves is not an error but an [`ExitStatus`].
pub fn run(
    config: &KernelConfig,
    stdio: HostStreams,
    image: &[u8],
    exe_path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<RunReport, KernelError> {
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM_BASE), config.mem_bytes)])?;
    let phys = Arc::new(PhysMem::new(ram)?);
    let clint = Clint::new(1, ClockSource::Host(Instant::now()));
    let mm = Mm::new(Arc::clone(&phys), config.paging, config.ad, FIRST_ASID)
        .map_err(KernelError::AddressSpace)?;
    let mut proc = Process::new(1, config, mm, Arc::new(stdio));
    for (host, guest) in &config.files {
        let arg = parse_file_arg(&format!("{}:{guest}", host.display()))?;
        proc.vfs.import_host_file(&arg)?;
    }
    // The image is also a file in the guest (for /proc/self/exe and re-reading itself).
    if let Some(parent) = exe_path
        .rsplit_once('/')
        .map(|(d, _)| d)
        .filter(|d| d.starts_with('/') && !d.is_empty())
    {
        let _ = proc.vfs.create_dir_all(parent.as_bytes(), 0o755);
    }
    if exe_path.starts_with('/') {
        let _ = proc.vfs.write_file(exe_path.as_bytes(), image, 0o755);
    }
    exec(&mut proc, image, exe_path, argv, envp)?;

    let hart_config = HartConfig {
        hart_id: 0,
        tlb: config.tlb,
        ad: config.ad,
        cost: config.cost.clone(),
    };
    let mut hart = Hart::new(&phys.ram, Some(&clint), hart_config);
    hart.set_satp(proc.mm.satp());
    hart.restore_context(&proc.ctx);
    apply_flush(&mut hart, &mut proc);

    let mut stats = KernelStats::default();
    let start = Instant::now();
    let status = loop {
        let budget = match config.max_insns {
            Some(max) => {
                let done = hart.stats().instret;
                if done >= max {
                    break ExitStatus::InsnLimit;
                }
                (max - done).min(config.quantum_insns)
            }
            None => config.quantum_insns,
        };
        let fault = match hart.run(budget) {
            Exit::BudgetExhausted | Exit::Timer | Exit::Ipi | Exit::Wfi => continue,
            Exit::Ecall => {
                hart.account_trap();
                stats.syscalls += 1;
                let pc = hart.pc;
                match syscall::dispatch(&mut proc, &mut hart) {
                    SyscallOutcome::Return(v) => {
                        hart.x[10] = v;
                        hart.pc = pc.wrapping_add(4);
                    }
                    SyscallOutcome::Resume => {}
                    SyscallOutcome::Exit(status) => break status,
                }
                apply_flush(&mut hart, &mut proc);
                None
            }
            Exit::PageFault { va, access } => {
                hart.account_trap();
                stats.page_faults += 1;
                let r = proc.mm.handle_user_fault(va.raw(), access);
                apply_flush(&mut hart, &mut proc);
                match r {
                    Ok(()) => {
                        // update_mmu_cache(): drop a translation the TLB may still hold with
                        // the old permissions (a spurious fault on an upgraded PTE).
                        hart.sfence_vma(Some(va.raw()), Some(proc.mm.asid()));
                        None
                    }
                    Err(VmFault::SigsegvAccerr) => Some((SIGSEGV, signal::SEGV_ACCERR, va.raw())),
                    Err(VmFault::Sigbus) => Some((SIGBUS, 2, va.raw())),
                    Err(VmFault::SigsegvMaperr | VmFault::Oom) => {
                        Some((SIGSEGV, signal::SEGV_MAPERR, va.raw()))
                    }
                }
            }
            Exit::AccessFault { va, .. } => {
                hart.account_trap();
                Some((SIGSEGV, signal::SEGV_ACCERR, va.raw()))
            }
            Exit::Misaligned { va, .. } => {
                hart.account_trap();
                Some((SIGBUS, signal::BUS_ADRALN, va.raw()))
            }
            Exit::IllegalInstruction { .. } => {
                hart.account_trap();
                Some((SIGILL, signal::ILL_ILLOPC, hart.pc))
            }
            Exit::Breakpoint => {
                hart.account_trap();
                Some((SIGTRAP, signal::TRAP_BRKPT, hart.pc))
            }
        };
        if let Some((signo, code, addr)) = fault {
            if let Err(status) =
                force_sig_fault(&mut proc, &mut hart, SigInfo { signo, code, addr })
            {
                break status;
            }
        }
        if let Err(status) = deliver_pending(&mut proc, &mut hart) {
            break status;
        }
    };
    let host_seconds = start.elapsed().as_secs_f64();
    stats.uaccess_mmu = proc.mm.uaccess_counters();
    stats.peak_frames = phys.pages.peak_used();
    Ok(RunReport {
        status,
        hart: hart.stats(),
        kernel: stats,
        host_seconds,
    })
}

/// A synchronous fault signal (`force_sig_fault`): delivered to a handler if one is
/// installed and the signal is not blocked; otherwise (blocked or ignored signals cannot
/// be ignored when forced) the default action ends the process.
fn force_sig_fault(
    proc: &mut Process,
    hart: &mut Hart<'_>,
    info: SigInfo,
) -> Result<(), ExitStatus> {
    let act = proc.signals.action(info.signo);
    if act.handler == SIG_DFL || act.handler == SIG_IGN || proc.signals.is_blocked(info.signo) {
        return Err(killed(info, hart.pc));
    }
    handle_signal(proc, hart, info, act)
}

/// Delivers the first deliverable pending signal, if any (`get_signal` + `handle_signal`
/// at the return to user mode).
fn deliver_pending(proc: &mut Process, hart: &mut Hart<'_>) -> Result<(), ExitStatus> {
    let Some(i) = proc
        .pending
        .iter()
        .position(|s| !proc.signals.is_blocked(s.signo) || s.signo == signal::SIGKILL)
    else {
        return Ok(());
    };
    let info = proc.pending.remove(i);
    let act = proc.signals.action(info.signo);
    match act.handler {
        SIG_IGN => Ok(()),
        SIG_DFL if signal::default_ignored(info.signo) => Ok(()),
        SIG_DFL => Err(killed(info, hart.pc)),
        _ => handle_signal(proc, hart, info, act),
    }
}

fn handle_signal(
    proc: &mut Process,
    hart: &mut Hart<'_>,
    info: SigInfo,
    act: SigAction,
) -> Result<(), ExitStatus> {
    let mut ctx = hart.save_context();
    match setup_rt_frame(
        &mut proc.mm,
        &mut ctx,
        &mut proc.signals,
        &info,
        &act,
        proc.sigreturn_trampoline,
    ) {
        Ok(()) => {
            hart.restore_context(&ctx);
            apply_flush(hart, proc);
            Ok(())
        }
        // The frame cannot be written: Linux forces SIGSEGV (force_sigsegv).
        Err(_) => Err(killed(
            SigInfo {
                signo: SIGSEGV,
                code: signal::SI_KERNEL,
                addr: 0,
            },
            hart.pc,
        )),
    }
}

fn killed(info: SigInfo, pc: u64) -> ExitStatus {
    ExitStatus::Signaled {
        signo: info.signo,
        code: info.code,
        addr: info.addr,
        pc,
    }
}

/// Carries out the TLB (and icache) maintenance the mm asked for: the single-hart form of
/// `flush_tlb_range()` / `flush_tlb_mm()` and `flush_icache_all()`.
fn apply_flush(hart: &mut Hart<'_>, proc: &mut Process) {
    let asid = proc.mm.asid();
    let flush = proc.mm.take_tlb_flush();
    match flush.range {
        TlbFlushRange::None => {}
        TlbFlushRange::All => hart.sfence_vma(None, Some(asid)),
        TlbFlushRange::Range { start, end } => {
            // As Linux's flush_tlb_range(): page by page up to a ceiling, then the ASID.
            const CEILING_PAGES: u64 = 64;
            if (end - start) / 4096 > CEILING_PAGES {
                hart.sfence_vma(None, Some(asid));
            } else {
                let mut va = start & !0xfff;
                while va < end {
                    hart.sfence_vma(Some(va), Some(asid));
                    va += 4096;
                }
            }
        }
    }
    if flush.icache {
        hart.flush_icache();
    }
}
