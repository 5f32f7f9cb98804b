//! The OOM killer (`mm/oom_kill.c`): what a page fault that found no memory
//! (`VM_FAULT_OOM`, see [`crate::mm::mm_fault_error`]) runs before the faulting access is
//! re-executed.
//!
//! `pagefault_out_of_memory()` → `out_of_memory()` → `select_bad_process()` picks the
//! process with the highest [`oom_badness`] (resident pages + page-table pages + swap
//! entries), never the global init; `oom_kill_process()` sends it `SIGKILL` (the whole
//! thread group dies) and `oom_reap_task_mm()` takes its private memory if it is still
//! alive. The faulting task then returns to user mode: if it was not the victim, the
//! access faults again and finds the freed memory.
//!
//! Where this differs from Linux:
//! - Linux ≥ 5.16 runs the OOM killer from the page allocator's slow path
//!   (`__alloc_pages_may_oom()`), for system calls as well as faults, and a
//!   `VM_FAULT_OOM` reaching `pagefault_out_of_memory()` only retries. This kernel's
//!   allocator has no task context, so, as Linux ≤ 5.15 did, the fault path calls
//!   `out_of_memory()`; allocations in system calls return `ENOMEM` and GUP returns
//!   `ENOMEM` (`vm_fault_to_errno()`) without killing.
//! - `oom_score_adj` does not exist here (every process has 0), nor do memory cgroups,
//!   `vm.oom_kill_allocating_task` or `vm.panic_on_oom`.
//! - When nothing is killable (the global init is the only process left) Linux panics
//!   ("System is deadlocked on memory"); here the faulting task is killed, so a lone
//!   init that runs out of memory ends the run with `SIGKILL` (status 137).
//! - The kill is synchronous: a victim running on another hart is stopped and torn down
//!   by `send_signal()`, so its memory is free before the faulting access is
//!   retried; only the faulting task itself dies later (at its return to user mode), and
//!   the reaper takes its memory first.

use super::{Kernel, INIT_PID};
use crate::mm::Mm;
use crate::signal::{self, SigInfo, SIGKILL};
use emu::Hart;

/// `oom_badness()` without `oom_score_adj`: the baseline, in 4 KiB pages —
/// `get_mm_rss() + get_mm_counter(MM_SWAPENTS) + mm_pgtables_bytes() / PAGE_SIZE` (no swap
/// here, so no swap entries). `None` (Linux's `LONG_MIN`) for an address space that is
/// gone or already reaped (`MMF_OOM_SKIP`).
pub fn oom_badness(mm: &Mm) -> Option<u64> {
    if mm.is_dead() || mm.mmf_oom_skip() {
        return None;
    }
    Some(mm.get_mm_rss() + mm.mm_pgtables_pages())
}

/// `select_bad_process()` over `(pid, badness)` in pid order (`for_each_process()`): the
/// highest badness wins; on a tie the later process does (`oom_evaluate_task()` skips only
/// `points < chosen_points`). `None` badness is never chosen. `None` if nothing is
/// killable.
pub fn select_bad_process(candidates: impl IntoIterator<Item = (u32, Option<u64>)>) -> Option<u32> {
    let mut chosen: Option<(u32, u64)> = None;
    for (pid, points) in candidates {
        let Some(points) = points else { continue };
        if chosen.is_some_and(|(_, best)| points < best) {
            continue;
        }
        chosen = Some((pid, points));
    }
    chosen.map(|(pid, _)| pid)
}

impl Kernel<'_> {
    /// `pagefault_out_of_memory()` for task `tid`, whose user fault returned
    /// `VM_FAULT_OOM`: nothing to do if it is already dying (`fatal_signal_pending()`),
    /// else [`Kernel::out_of_memory`]. The caller returns to user mode without a signal:
    /// the access is re-executed, or the task dies of its pending `SIGKILL`.
    pub(super) fn pagefault_out_of_memory(&mut self, hart: &mut Hart<'_>, tid: u32) {
        let Some(task) = self.tasks.get(&tid) else {
            return;
        };
        let dying = task.pending.any(|s| s.signo == SIGKILL)
            || task
                .signal
                .lock()
                .shared_pending
                .iter()
                .any(|s| s.signo == SIGKILL);
        let tgid = task.tgid;
        if !dying {
            self.out_of_memory(hart, tgid);
        }
    }

    /// A live task of process `tgid` that still has an address space (the leader may
    /// have exited before its threads).
    fn oom_mm_of(&self, tgid: u32) -> Option<crate::mm::MmUsers> {
        let leader = self.tasks.get(&tgid)?;
        if leader.signal.group_exit().is_some() {
            return None;
        }
        leader
            .signal
            .threads()
            .iter()
            .find_map(|t| self.tasks.get(t)?.mm.clone())
    }

    /// `out_of_memory()`: chooses the victim ([`select_bad_process`] over every live
    /// process but the global init, `oom_unkillable_task()`) and kills it; with no
    /// candidate, kills `current` (where Linux panics: see the module docs).
    fn out_of_memory(&mut self, hart: &mut Hart<'_>, current: u32) {
        let pids: Vec<u32> = self
            .tasks
            .values()
            .filter(|t| t.tid == t.tgid && t.tgid != INIT_PID)
            .map(|t| t.tgid)
            .collect();
        // Processes that share an address space (CLONE_VM) each count it, as Linux's
        // for_each_process() does.
        let candidates: Vec<(u32, Option<u64>)> = pids
            .into_iter()
            .filter_map(|pid| {
                let mm = self.oom_mm_of(pid)?;
                let points = oom_badness(&mm.mmap_read_lock());
                Some((pid, points))
            })
            .collect();
        let victim = select_bad_process(candidates).unwrap_or(current);
        self.oom_kill_process(hart, victim);
    }

    /// `oom_kill_process()` → `__oom_kill_process()`: `SIGKILL` to the victim's thread
    /// group (`SEND_SIG_PRIV`: `si_code` `SI_KERNEL`), counted in `oom_kills`; if it has
    /// not exited at once (it is the task this hart runs), `oom_reap_task_mm()` takes its
    /// private memory now and the harts drop the translations.
    fn oom_kill_process(&mut self, hart: &mut Hart<'_>, victim: u32) {
        self.stat().oom_kills.inc();
        let info = SigInfo {
            signo: SIGKILL,
            code: signal::SI_KERNEL,
            addr: 0,
            status: 0,
        };
        self.send_signal(hart, victim, None, info);
        if let Some(mm) = self.oom_mm_of(victim) {
            let (asid, batch) = {
                // Linux's reaper tries the read side and retries later rather than wait
                // behind a writer that may itself wait for memory; an allocation here
                // never waits (it fails), so a writer always finishes and waiting for it
                // is safe.
                let mm = mm
                    .mmap_read_trylock()
                    .unwrap_or_else(|| mm.mmap_read_lock());
                mm.oom_reap_task_mm();
                (mm.asid(), mm.take_tlb_batch())
            };
            // The reaped frames are freed after the shootdown (the batch's drop).
            self.smp.flush_tlb(hart, asid, batch.flush);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_bad_process_takes_the_highest_badness() {
        let c = [(2, Some(10)), (3, Some(300)), (4, Some(20))];
        assert_eq!(select_bad_process(c), Some(3));
    }

    #[test]
    fn select_bad_process_ties_go_to_the_later_process() {
        let c = [(2, Some(50)), (3, Some(50)), (4, Some(7))];
        assert_eq!(select_bad_process(c), Some(3));
    }

    #[test]
    fn select_bad_process_skips_unkillable_and_may_find_nothing() {
        assert_eq!(select_bad_process([(2, None), (5, Some(0))]), Some(5));
        assert_eq!(select_bad_process([(2, None), (3, None)]), None);
        assert_eq!(select_bad_process([]), None);
    }
}
