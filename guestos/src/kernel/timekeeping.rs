//! The guest's clocks (`kernel/time/timekeeping.c`'s `ktime_get()`,
//! `ktime_get_real()`), read by any hart without a lock: CLOCK_MONOTONIC and
//! CLOCK_REALTIME in ns, from the host clock (parallel mode) or from the virtual clock
//! (deterministic mode: modelled cycles at the nominal clock rate).
//!
//! The virtual clock is the largest modelled cycle count any hart has reached, so that
//! it never runs backwards across harts: each hart pushes it forward with an atomic
//! `fetch_max` when it accounts its cycles ([`Timekeeper::advance`]), and a reader takes
//! the larger of it and its own hart's count ([`Timekeeper::now`]). Linux reads its
//! clocksource under the `tk_core.seq` seqcount, never a lock; one word needs no
//! seqcount. (It was the kernel lock's `vclock_cycles`.)

use std::sync::atomic::{AtomicU64, Ordering};

use crate::syscall::misc::TimeSource;

/// The machine's clocks: where time comes from, and the virtual clock. Shared by every
/// hart ([`super::hrtimer::HrtimerBases::clock`]).
#[derive(Debug)]
pub(super) struct Timekeeper {
    /// Where time comes from: the first process's source, which every task shares (a
    /// copy of it).
    source: TimeSource,
    /// The largest modelled cycle count any hart has reached (the virtual clock's
    /// source): only ever grows.
    cycles: AtomicU64,
}

impl Timekeeper {
    /// Clocks from `source`, the virtual clock at 0 cycles.
    pub(super) fn new(source: TimeSource) -> Self {
        Self {
            source,
            cycles: AtomicU64::new(0),
        }
    }

    /// `(CLOCK_REALTIME, CLOCK_MONOTONIC)` now, in ns, as read by a hart whose modelled
    /// cycle count is `hart_cycles` (a virtual clock follows the furthest any hart has
    /// got; the host clock ignores it).
    pub(super) fn now(&self, hart_cycles: u64) -> (u64, u64) {
        let cycles = self.cycles().max(hart_cycles);
        self.source.now(crate::syscall::cycles_to_ns(cycles))
    }

    /// The virtual clock's cycle count: the largest any hart has reached.
    pub(super) fn cycles(&self) -> u64 {
        // A single location: its modification order is the same for every reader, so a
        // relaxed load never sees the clock go back from what this thread saw before.
        self.cycles.load(Ordering::Relaxed)
    }

    /// A hart has reached `cycles` modelled cycles: the virtual clock moves forward to
    /// it if it is behind (`fetch_max`). Host clocks ignore it (nothing is written), and
    /// a hart that is not ahead only reads: every hart calls this at every kernel entry,
    /// and a read-modify-write of the one shared word at each made the word's cache line
    /// bounce between the host CPUs (5% of a 2-hart page-fault run's host time).
    pub(super) fn advance(&self, cycles: u64) {
        if self.is_host() || cycles <= self.cycles.load(Ordering::Relaxed) {
            return;
        }
        self.cycles.fetch_max(cycles, Ordering::Relaxed);
    }

    /// Whether the clocks are the host's (parallel mode) rather than virtual.
    pub(super) fn is_host(&self) -> bool {
        matches!(self.source, TimeSource::Host { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_clock_follows_the_furthest_hart_and_never_goes_back() {
        let epoch_ns = 1_000_000_000_000;
        let tk = std::sync::Arc::new(Timekeeper::new(TimeSource::Virtual { epoch_ns }));
        assert!(!tk.is_host());
        // Four harts push it forward at once; it ends at the largest.
        std::thread::scope(|s| {
            for h in 0..4u64 {
                let tk = &tk;
                s.spawn(move || {
                    for c in 0..10_000u64 {
                        tk.advance(c * 4 + h);
                    }
                });
            }
        });
        assert_eq!(tk.cycles(), 39_999);
        // A hart behind the clock reads the clock; one ahead of it reads its own count.
        let at = |c| crate::syscall::cycles_to_ns(c);
        assert_eq!(tk.now(5), (epoch_ns + at(39_999), at(39_999)));
        assert_eq!(tk.now(50_000), (epoch_ns + at(50_000), at(50_000)));
        tk.advance(7);
        assert_eq!(tk.cycles(), 39_999);
    }
}
