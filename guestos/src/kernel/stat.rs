//! The kernel's event counters, kept per hart (Linux's per-CPU statistics:
//! `DEFINE_PER_CPU` counters bumped with `this_cpu_inc()`, added up on read as
//! `percpu_counter_sum()` or `all_vm_events()` do).
//!
//! Each hart counts what it handles — system calls, page faults, futex calls, wake-ups,
//! kernel-lock entries, the priced kernel work — on its own [`KernelCounters`], with
//! or without the kernel lock, and no other hart writes them: a fault or call served
//! without the kernel lock counts itself where it runs, instead of being tallied on the
//! side and folded into the kernel lock's books when the hart next took it. The run's
//! [`KernelStats`] is their sum ([`sum`]), taken when the run ends.

use crate::config::KernelStats;
use crate::mm::KernelEventCounts;
use crate::percpu::{LocalCounter, PerCpuVar};

/// One hart's event counters: the counting fields of [`KernelStats`] (see there for what
/// each counts), added to by that hart alone ([`LocalCounter`]).
#[derive(Debug, Default)]
pub(super) struct KernelCounters {
    pub syscalls: LocalCounter,
    pub page_faults: LocalCounter,
    pub unlocked_faults: LocalCounter,
    pub unlocked_syscalls: LocalCounter,
    pub futex_calls: LocalCounter,
    pub unlocked_futex_calls: LocalCounter,
    pub ttwu_unlocked: LocalCounter,
    pub ttwu_unlocked_remote: LocalCounter,
    pub wakelist_queued: LocalCounter,
    pub wakelist_drained_remote: LocalCounter,
    pub wakelist_trylocks: LocalCounter,
    pub kernel_lock_acquisitions: LocalCounter,
    pub oom_kills: LocalCounter,
    pub resched_stops: LocalCounter,
    pub unlocked_calls: LocalCounter,
    pub unlocked_quanta: LocalCounter,
    pub unlocked_sleeps: LocalCounter,
    pub unlocked_io_sleeps: LocalCounter,
    pub unlocked_switches: LocalCounter,
    pub unlocked_preemptions: LocalCounter,
    pub unlocked_idles: LocalCounter,
    pub unlocked_signals: LocalCounter,
    pub kernel_cycles: LocalCounter,
    /// [`KernelStats::kernel_events`], in [`KernelEventCounts::to_array`]'s order.
    kernel_events: [LocalCounter; KernelEventCounts::COUNT],
}

impl KernelCounters {
    /// Counts the kernel work `work`, priced at `cycles` modelled cycles, that this hart
    /// did for a system call or a fault.
    pub(super) fn add_kernel_work(&self, work: &KernelEventCounts, cycles: u64) {
        for (c, n) in self.kernel_events.iter().zip(work.to_array()) {
            if n != 0 {
                c.add(n);
            }
        }
        self.kernel_cycles.add(cycles);
    }

    /// Adds this hart's counts to `s`.
    fn add_to(&self, s: &mut KernelStats) {
        let add = |field: &mut u64, c: &LocalCounter| *field = field.wrapping_add(c.get());
        add(&mut s.syscalls, &self.syscalls);
        add(&mut s.page_faults, &self.page_faults);
        add(&mut s.unlocked_faults, &self.unlocked_faults);
        add(&mut s.unlocked_syscalls, &self.unlocked_syscalls);
        add(&mut s.futex_calls, &self.futex_calls);
        add(&mut s.unlocked_futex_calls, &self.unlocked_futex_calls);
        add(&mut s.ttwu_unlocked, &self.ttwu_unlocked);
        add(&mut s.ttwu_unlocked_remote, &self.ttwu_unlocked_remote);
        add(&mut s.wakelist_queued, &self.wakelist_queued);
        add(
            &mut s.wakelist_drained_remote,
            &self.wakelist_drained_remote,
        );
        add(&mut s.wakelist_trylocks, &self.wakelist_trylocks);
        add(
            &mut s.kernel_lock_acquisitions,
            &self.kernel_lock_acquisitions,
        );
        add(&mut s.oom_kills, &self.oom_kills);
        add(&mut s.resched_stops, &self.resched_stops);
        add(&mut s.unlocked_calls, &self.unlocked_calls);
        add(&mut s.unlocked_quanta, &self.unlocked_quanta);
        add(&mut s.unlocked_sleeps, &self.unlocked_sleeps);
        add(&mut s.unlocked_io_sleeps, &self.unlocked_io_sleeps);
        add(&mut s.unlocked_switches, &self.unlocked_switches);
        add(&mut s.unlocked_preemptions, &self.unlocked_preemptions);
        add(&mut s.unlocked_idles, &self.unlocked_idles);
        add(&mut s.unlocked_signals, &self.unlocked_signals);
        add(&mut s.kernel_cycles, &self.kernel_cycles);
        let events = self.kernel_events.each_ref().map(LocalCounter::get);
        s.kernel_events
            .accumulate(&KernelEventCounts::from_array(events));
    }
}

/// The run's statistics so far: every hart's counters added up (`percpu_counter_sum()`),
/// the other fields of [`KernelStats`] zero. Exact once the harts have stopped; while
/// they run, each count is one its hart passed through.
pub(super) fn sum(counters: &PerCpuVar<KernelCounters>) -> KernelStats {
    let mut s = KernelStats::default();
    for c in counters.iter() {
        c.add_to(&mut s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statistics_are_every_harts_counts_added_up() {
        let harts: PerCpuVar<KernelCounters> = PerCpuVar::new(2);
        harts.cpu(0).syscalls.add(3);
        harts.cpu(1).syscalls.inc();
        harts.cpu(1).unlocked_faults.add(5);
        let work = KernelEventCounts {
            pte_loads: 2,
            warnings: 1,
            ..KernelEventCounts::default()
        };
        harts.cpu(0).add_kernel_work(&work, 40);
        harts.cpu(1).add_kernel_work(&work, 2);
        let s = sum(&harts);
        assert_eq!((s.syscalls, s.unlocked_faults), (4, 5));
        assert_eq!((s.kernel_cycles, s.page_faults), (42, 0));
        assert_eq!(
            (s.kernel_events.pte_loads, s.kernel_events.warnings),
            (4, 2)
        );
    }
}
