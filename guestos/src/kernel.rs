//! The kernel's main loop: boot the machine, exec the image, run the hart and handle
//! every exit (system calls, page faults, fatal traps).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use devices::{Clint, ClockSource, GuestMemory, GuestPhysAddr, MemoryError};
use emu::{Exit, Hart, HartConfig, UserContext};
use mmu::AccessType;

use crate::config::{ExitStatus, HostStdio, KernelConfig, KernelStats, RunReport, RAM_BASE};
use crate::errno::Errno;
use crate::exec::{exec, ExecError};
use crate::mm::{PhysMem, TlbFlush, VmFault};
use crate::process::Process;
use crate::signal::{self, SIGBUS, SIGILL, SIGSEGV, SIGTRAP};
use crate::syscall::{self, SyscallOutcome};

/// Host-side failures that stop a run before or outside the guest's control.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// Guest RAM could not be set up.
    #[error("cannot set up guest RAM")]
    Memory(#[from] MemoryError),
    /// The image cannot be executed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A `--file` could not be copied into the guest.
    #[error("cannot copy {host} into the guest as {guest}")]
    HostFile {
        /// Host path.
        host: String,
        /// Guest path.
        guest: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Boots a machine per `config`, executes `image` as `exe_path` with `argv`/`envp`, and
/// runs it to completion (or to the instruction limit).
///
/// # Errors
/// [`KernelError`] when the machine cannot be set up or the image cannot be executed; a
/// guest that faults or misbehaves is not an error but an [`ExitStatus`].
pub fn run(
    config: &KernelConfig,
    stdio: HostStdio,
    image: &[u8],
    exe_path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<RunReport, KernelError> {
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM_BASE), config.mem_bytes)])?;
    let phys = Arc::new(PhysMem::new(ram));
    let clint = Clint::new(1, ClockSource::Host(Instant::now()));
    let _ = AtomicU64::new(0);

    let mut proc = Process::new(1, config, stdio, exe_path);
    for (host, guest) in &config.files {
        let data = std::fs::read(host).map_err(|source| KernelError::HostFile {
            host: host.display().to_string(),
            guest: guest.clone(),
            source,
        })?;
        proc.vfs.install_file(guest, &data).map_err(|e| KernelError::HostFile {
            host: host.display().to_string(),
            guest: guest.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    proc.vfs.install_file(exe_path_in_vfs(exe_path).as_str(), image).ok();
    exec(&mut proc, &phys, config, image, exe_path, argv, envp)?;

    let hart_config = HartConfig { hart_id: 0, tlb: config.tlb, ad: config.ad, cost: config.cost.clone() };
    let mut hart = Hart::new(&phys.ram, Some(&clint), hart_config);
    hart.set_satp(proc.mm.satp());
    hart.restore_context(&proc.ctx);

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
        let exit = hart.run(budget);
        match exit {
            Exit::BudgetExhausted | Exit::Timer | Exit::Ipi | Exit::Wfi => continue,
            Exit::Ecall => {
                hart.account_trap();
                stats.syscalls += 1;
                let ctx = hart.save_context();
                match syscall::dispatch(&mut proc, &mut hart, &ctx, &stats) {
                    SyscallOutcome::Return(v) => {
                        hart.x[10] = v;
                        hart.pc = ctx.pc.wrapping_add(4);
                    }
                    SyscallOutcome::Exit(status) => break status,
                }
                apply_flush(&mut hart, &mut proc);
            }
            Exit::PageFault { va, access } => {
                hart.account_trap();
                stats.page_faults += 1;
                match proc.mm.handle_user_fault(va.raw(), access) {
                    Ok(()) => {
                        apply_flush(&mut hart, &mut proc);
                        // update_mmu_cache(): the faulting translation may still be cached
                        // with the old permissions (a spurious fault); drop it.
                        hart.sfence_vma(Some(va.raw()), Some(proc.mm.satp().asid()));
                    }
                    Err(fault) => {
                        let code = match fault {
                            VmFault::SigsegvMaperr => signal::SEGV_MAPERR,
                            VmFault::SigsegvAccerr => signal::SEGV_ACCERR,
                            _ => signal::SEGV_MAPERR,
                        };
                        let signo = if matches!(fault, VmFault::Sigbus) { SIGBUS } else { SIGSEGV };
                        break ExitStatus::Signaled { signo, code, addr: va.raw(), pc: hart.pc };
                    }
                }
            }
            Exit::AccessFault { va, access } => {
                hart.account_trap();
                let _ = access;
                break ExitStatus::Signaled { signo: SIGSEGV, code: signal::SEGV_ACCERR, addr: va.raw(), pc: hart.pc };
            }
            Exit::Misaligned { va, .. } => {
                hart.account_trap();
                break ExitStatus::Signaled { signo: SIGBUS, code: signal::BUS_ADRALN, addr: va.raw(), pc: hart.pc };
            }
            Exit::IllegalInstruction { .. } => {
                hart.account_trap();
                break ExitStatus::Signaled { signo: SIGILL, code: signal::ILL_ILLOPC, addr: hart.pc, pc: hart.pc };
            }
            Exit::Breakpoint => {
                hart.account_trap();
                break ExitStatus::Signaled { signo: SIGTRAP, code: signal::TRAP_BRKPT, addr: hart.pc, pc: hart.pc };
            }
        }
    };
    let host_seconds = start.elapsed().as_secs_f64();
    proc.flush_stdio();
    stats.uaccess_mmu = proc.mm.uaccess_counters();
    stats.peak_frames = phys.pages.peak_used();
    let _ = AccessType::Load;
    let _ = Errno::ENOSYS;
    Ok(RunReport { status, hart: hart.stats(), kernel: stats, host_seconds })
}

fn exe_path_in_vfs(exe_path: &str) -> String {
    if exe_path.starts_with('/') {
        exe_path.to_string()
    } else {
        format!("/{exe_path}")
    }
}

/// Carries out the TLB (and icache) maintenance the mm asked for: the single-hart form of
/// `flush_tlb_range()` / `flush_tlb_mm()`.
fn apply_flush(hart: &mut Hart<'_>, proc: &mut Process) {
    let asid = proc.mm.satp().asid();
    let flush = proc.mm.take_tlb_flush();
    match flush.range {
        TlbFlushRange::None => {}
        TlbFlushRange::All => hart.sfence_vma(None, Some(asid)),
        TlbFlushRange::Range { start, end } => {
            // Like Linux's flush_tlb_range(): page by page up to a ceiling, then the ASID.
            if (end - start) / 4096 > 64 {
                hart.sfence_vma(None, Some(asid));
            } else {
                let mut va = start;
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
    let _: Option<&TlbFlush> = None;
    let _: Option<&UserContext> = None;
}

use crate::mm::TlbFlushRange;
