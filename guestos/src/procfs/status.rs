//! `/proc/<pid>/status` (`proc_pid_status()`, `fs/proc/array.c`, with `task_mem()` of
//! `fs/proc/task_mmu.c`): the process's name, state, ids, memory, signals, capabilities
//! and scheduling counts, one `Field:\tvalue` line each in Linux 6.18's order and
//! format (memory as `%8lu kB`, signal sets as 16 hex digits).
//!
//! Where the values come from:
//! - ids, umask, descriptor table, credentials, ptrace tracer, signal queues and
//!   handlers: the task and its thread group, as Linux reads them; `FDSize` is
//!   `max_fds`, which grows from 64 in powers of two to hold the highest descriptor.
//! - memory: `VmSize`, `VmLck`, `VmData`, `VmStk`, `VmExe`, `VmLib` from the VMAs
//!   (Linux's `total_vm`, `locked_vm`, `data_vm`, `stack_vm`, `exec_vm` counters are the
//!   sums of the same VMAs: `vm_stat_account()`); `VmRSS`, `RssAnon`, `RssFile`,
//!   `RssShmem` from the present page-table entries (what `MM_ANONPAGES`,
//!   `MM_FILEPAGES`, `MM_SHMEMPAGES` count: a page of a mapping, not the zero page);
//!   `VmPTE` from the page-table frames. `VmPeak` and `VmHWM` are the peaks the address
//!   space recorded: the size at each `munmap` and read of this file, the RSS at each
//!   read (Linux also records the RSS before each unmap; here a peak between two reads
//!   that an unmap took away is missed). `HugetlbPages` is the hugetlb pages the address
//!   space maps (smaps' `Shared_Hugetlb` + `Private_Hugetlb`, as `mm->hugetlb_usage`
//!   counts them). `VmSwap` is the swap entries (smaps' `Swap`, `MM_SWAPENTS`). `VmPin`
//!   is 0 (no `pinned_vm` accounting).
//! - `Cpus_allowed` is every hart; `Mems_allowed` one node.
//! - `voluntary_ctxt_switches` / `nonvoluntary_ctxt_switches`: the task's sleeps and
//!   preemptions ([`crate::process::TaskRun::nvcsw`]).
//!
//! The lines for the process are its leader's (`/proc/<tgid>/status`), as `stat`'s.

use std::fmt::Write;

use devices::PAGE_SIZE;

use super::smaps::{smap_gather_stats, MemSizeStats};
use crate::fs::cred::CAP_VALID_MASK;
use crate::mm::{Mm, VmFlags};
use crate::process::{Task, TaskState, Tasks, WaitOn};

/// `task_state_array[]`'s string for `task`.
fn state_name(task: &Task) -> &'static str {
    match task.state() {
        TaskState::Runnable => "R (running)",
        TaskState::Blocked(WaitOn::Traced) => "t (tracing stop)",
        TaskState::Blocked(_) => "S (sleeping)",
        TaskState::Zombie(_) => "Z (zombie)",
    }
}

/// `render_sigset_t()`: the 64 signals as 16 hex digits, signal 1 the lowest bit.
fn sigset(mask: u64) -> String {
    format!("{mask:016x}")
}

/// The bit of signal `signo` in a `sigset_t`.
fn sigbit(signo: u8) -> u64 {
    1u64.checked_shl(u32::from(signo).saturating_sub(1))
        .unwrap_or(0)
}

/// `max_fds` of a descriptor table whose highest open descriptor is `highest`: 64
/// (`NR_OPEN_DEFAULT`), doubled until it holds it (`expand_fdtable()`).
fn max_fds(highest: Option<u32>) -> u64 {
    let need = highest.map_or(0, |fd| u64::from(fd) + 1);
    let mut n = 64u64;
    while n < need {
        n *= 2;
    }
    n
}

/// `%*pb` of the first `n` bits set: hex, 32-bit groups separated by commas.
fn cpumask_hex(n: usize) -> String {
    let words = n.div_ceil(32).max(1);
    let mut parts = Vec::new();
    for w in (0..words).rev() {
        let bits = n.saturating_sub(w * 32).min(32);
        let v: u64 = if bits == 32 {
            0xffff_ffff
        } else {
            (1u64 << bits) - 1
        };
        if w == words - 1 {
            parts.push(format!("{v:x}"));
        } else {
            parts.push(format!("{v:08x}"));
        }
    }
    parts.join(",")
}

/// `task_mem()`'s values in kB for address space `mm` of a process whose executable
/// is `exe`: the lines from `VmPeak` to `VmSwap`.
fn task_mem(out: &mut String, mm: &Mm, exe: &[u8]) {
    let kb = |bytes: u64| bytes >> 10;
    let (mut total, mut locked, mut data, mut stack, mut text, mut lib) = (0, 0, 0, 0, 0, 0);
    let mut mss = MemSizeStats::default();
    for v in mm.vmas().iter() {
        let len = v.len();
        total += len;
        if v.flags.contains(VmFlags::LOCKED) {
            locked += len;
        }
        // is_stack_mapping(), is_data_mapping(), is_exec_mapping() (vm_stat_account()).
        let is_stack = v.flags.contains(VmFlags::GROWSDOWN);
        let wx = v.flags & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::EXEC);
        if is_stack {
            stack += len;
        } else if wx == VmFlags::WRITE {
            data += len;
        } else if wx == VmFlags::EXEC {
            // The executable's own text is VmExe, any other VmLib.
            if v.file().is_some_and(|f| f.path() == exe) {
                text += len;
            } else {
                lib += len;
            }
        }
        smap_gather_stats(mm, v, &mut mss);
    }
    let peak_vm = mm.update_hiwater_vm() * PAGE_SIZE;
    let hwm = mm.update_hiwater_rss() * PAGE_SIZE;
    let rss = mss.resident;
    let anon = mss.anonymous;
    let shmem = mss.rss_shmem;
    let file = rss.saturating_sub(anon).saturating_sub(shmem);
    let pte = mm.mm_pgtables_pages() * PAGE_SIZE;
    for (name, bytes) in [
        ("VmPeak", peak_vm.max(total)),
        ("VmSize", total),
        ("VmLck", locked),
        ("VmPin", 0),
        ("VmHWM", hwm.max(rss)),
        ("VmRSS", rss),
        ("RssAnon", anon),
        ("RssFile", file),
        ("RssShmem", shmem),
        ("VmData", data),
        ("VmStk", stack),
        ("VmExe", text),
        ("VmLib", lib),
        ("VmPTE", pte),
        ("VmSwap", mss.swap),
        // hugetlb_report_usage(): the hugetlb pages this address space maps.
        ("HugetlbPages", mss.shared_hugetlb + mss.private_hugetlb),
    ] {
        let _ = writeln!(out, "{name}:\t{:>8} kB", kb(bytes));
    }
}

/// The text of `/proc/<pid>/status` for the process holding task `pid`, `None` if there
/// is none (`proc_pid_status()`).
pub fn show_status(tasks: &mut Tasks<'_>, pid: u32) -> Option<Vec<u8>> {
    let tgid = tasks.get(pid)?.tgid;
    let nr_cpus = tasks.get(pid)?.nr_cpus;
    let t = tasks.get(tgid)?;
    let mut out = String::new();
    let (ppid, threads, shared, rlim_sigpending) = {
        let g = t.signal.lock();
        let shared: u64 = g
            .shared_pending
            .iter()
            .map(|s| sigbit(s.signo))
            .fold(0, |a, b| a | b);
        let lim = g.rlimits.get(11).map_or(0, |l| l.0);
        (g.ppid, g.threads.len().max(1), shared, lim)
    };
    let ids = &t.fs.ids;
    let _ = writeln!(out, "Name:\t{}", String::from_utf8_lossy(t.comm()));
    let _ = writeln!(out, "Umask:\t{:04o}", t.fs.fs.umask());
    let _ = writeln!(out, "State:\t{}", state_name(t));
    let _ = writeln!(out, "Tgid:\t{tgid}\nNgid:\t0\nPid:\t{tgid}\nPPid:\t{ppid}");
    let _ = writeln!(out, "TracerPid:\t{}", t.ptrace.tracer.unwrap_or(0));
    let _ = writeln!(
        out,
        "Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}",
        ids.uid, ids.euid, ids.suid, ids.fsuid, ids.gid, ids.egid, ids.sgid, ids.fsgid
    );
    let _ = writeln!(
        out,
        "FDSize:\t{}",
        max_fds(t.fs.fds.open_fds().into_iter().max())
    );
    let groups: Vec<String> = ids.groups.iter().map(u32::to_string).collect();
    // "Trailing space shouldn't have been added in the first place."
    let _ = writeln!(out, "Groups:\t{} ", groups.join(" "));
    let (sid, pgrp) = {
        let g = t.signal.lock();
        (g.session, g.pgrp)
    };
    let _ = writeln!(
        out,
        "NStgid:\t{tgid}\nNSpid:\t{tgid}\nNSpgid:\t{pgrp}\nNSsid:\t{sid}\nKthread:\t0"
    );
    if let Some(users) = t.mm.as_ref().and_then(|m| m.mmgrab().mmget_not_zero()) {
        let mm = users.mmap_read_lock();
        if !mm.is_dead() {
            task_mem(&mut out, &mm, &t.fs.exe_path);
            let _ = writeln!(out, "CoreDumping:\t0\nTHP_enabled:\t1");
        }
    }
    let own = t.pending.snapshot();
    let pending: u64 = own.iter().map(|s| sigbit(s.signo)).fold(0, |a, b| a | b);
    let queued = own.len() + t.signal.lock().shared_pending.len();
    let (mut ign, mut cgt) = (0u64, 0u64);
    for signo in 1..=64u8 {
        let h = t.signals.action(signo).handler;
        if h == crate::signal::SIG_IGN {
            ign |= sigbit(signo);
        } else if h != crate::signal::SIG_DFL {
            cgt |= sigbit(signo);
        }
    }
    let _ = writeln!(
        out,
        "Threads:\t{threads}\nSigQ:\t{queued}/{rlim_sigpending}"
    );
    for (name, set) in [
        ("SigPnd", pending),
        ("ShdPnd", shared),
        ("SigBlk", t.signals.blocked.get()),
        ("SigIgn", ign),
        ("SigCgt", cgt),
        ("CapInh", ids.cap_inheritable),
        ("CapPrm", ids.cap_permitted),
        ("CapEff", ids.cap_effective),
        ("CapBnd", CAP_VALID_MASK),
        ("CapAmb", 0),
    ] {
        let _ = writeln!(out, "{name}:\t{}", sigset(set));
    }
    let _ = writeln!(
        out,
        "NoNewPrivs:\t{}\nSeccomp:\t0\nSeccomp_filters:\t0",
        u8::from(t.no_new_privs)
    );
    // riscv has no arch_prctl_spec_ctrl_get(): "unknown".
    let _ = writeln!(
        out,
        "Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown"
    );
    let n = nr_cpus.max(1);
    let list = if n == 1 {
        "0".to_string()
    } else {
        format!("0-{}", n - 1)
    };
    let _ = writeln!(
        out,
        "Cpus_allowed:\t{}\nCpus_allowed_list:\t{list}\nMems_allowed:\t1\nMems_allowed_list:\t0",
        cpumask_hex(n)
    );
    let (nvcsw, nivcsw) = {
        let run = t.run();
        (run.nvcsw, run.nivcsw)
    };
    let _ = writeln!(
        out,
        "voluntary_ctxt_switches:\t{nvcsw}\nnonvoluntary_ctxt_switches:\t{nivcsw}"
    );
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_formats_follow_linux() {
        assert_eq!(sigset(sigbit(1) | sigbit(64)), "8000000000000001");
        assert_eq!(max_fds(None), 64);
        assert_eq!(max_fds(Some(63)), 64);
        assert_eq!(max_fds(Some(64)), 128);
        assert_eq!(cpumask_hex(1), "1");
        assert_eq!(cpumask_hex(4), "f");
        assert_eq!(cpumask_hex(64), "ffffffff,ffffffff");
        assert_eq!(cpumask_hex(33), "1,ffffffff");
    }
}
