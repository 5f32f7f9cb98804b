//! The run's instruction budget (`--max-insns`) and its end, shared by the harts without
//! the kernel lock.
//!
//! **The budget** ([`InsnBudget`]) is what is left of `--max-insns`, which the harts claim
//! quanta from with a compare-and-swap, as `percpu_counter`-style batching claims from
//! a global count: a hart about to run a task in user mode claims its quantum
//! ([`InsnBudget::claim`], clipped to its share of what is left: a hart claims at most
//! `ceil(left / harts)`, so that the others still get some), runs at most that many
//! instructions — with or without the kernel lock in between: its faults and calls
//! served on the hart go back to user mode within the same claim — and on its way back
//! gives back what it did not run and records what it did ([`InsnBudget::settle`]).
//! Claims never add up to more than the budget and every instruction retired was
//! claimed, so the run retires exactly `--max-insns` instructions in total; and since
//! in deterministic mode only the baton's holder claims or settles, at points the seed
//! decides, the same seed stops the run at the same instruction. The kernel lock never
//! has to see a trap for this.
//!
//! When everything left is claimed by harts still running, a hart that wants to run
//! gets nothing ([`Claim::Wait`]): it puts its task back on its queue and idles, as with
//! nothing to run, until the others give some back (their claims were larger than what
//! they ran: the hart is woken for the task that waits) or the budget is spent. The
//! budget is spent ([`Claim::Spent`]) once the settled instructions reach it; the hart
//! that sees that ends the run.
//!
//! **The end** ([`RunEnd`]): set once, by whichever hart ends the run — init's group
//! exit, the budget spent, a deadlock — and read by every hart without the kernel lock.
//! The hart that ends it kicks the others out of user mode and wakes the idle ones on
//! its way out (`hart_main`), and each stops at its next look.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::config::ExitStatus;

/// The instruction budget of a run (`--max-insns`), claimed by the harts without a lock.
#[derive(Debug)]
pub(super) struct InsnBudget {
    /// The budget; `None`: unlimited (every claim is granted as asked).
    max: Option<u64>,
    /// Instructions no hart holds a claim on.
    left: AtomicU64,
    /// Instructions retired by settled claims.
    retired: AtomicU64,
    /// How many harts share what is left.
    harts: u64,
}

/// What a hart got from [`InsnBudget::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// The hart may run this many instructions (at least one), and settles them after.
    Granted(u64),
    /// Nothing is left to claim, but harts hold claims they may give back in part.
    Wait,
    /// Every instruction of the budget has been retired: the run is over.
    Spent,
}

impl InsnBudget {
    /// The budget of `max` instructions (`None`: unlimited) shared by `harts` harts.
    pub(super) fn new(max: Option<u64>, harts: usize) -> Self {
        Self {
            max,
            left: AtomicU64::new(max.unwrap_or(0)),
            retired: AtomicU64::new(0),
            harts: (harts as u64).max(1),
        }
    }

    /// Claims up to `want` instructions: all of them without a budget; otherwise at
    /// least one and at most the hart's share of what is left (`ceil(left / harts)`).
    pub(super) fn claim(&self, want: u64) -> Claim {
        if self.max.is_none() {
            return Claim::Granted(want);
        }
        let want = want.max(1);
        let share = |left: u64| want.min(left.div_ceil(self.harts));
        let claimed = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                (left > 0).then(|| left - share(left))
            });
        match claimed {
            Ok(left) => Claim::Granted(share(left)),
            Err(_) if self.is_spent() => Claim::Spent,
            Err(_) => Claim::Wait,
        }
    }

    /// A claim of `granted` instructions ends, `ran` of them retired: the rest is given
    /// back for any hart to claim.
    pub(super) fn settle(&self, granted: u64, ran: u64) {
        if self.max.is_none() {
            return;
        }
        let ran = ran.min(granted);
        if granted > ran {
            self.left.fetch_add(granted - ran, Ordering::SeqCst);
        }
        self.retired.fetch_add(ran, Ordering::SeqCst);
    }

    /// Whether every instruction of the budget has been retired (never, without one).
    pub(super) fn is_spent(&self) -> bool {
        self.max
            .is_some_and(|max| self.retired.load(Ordering::SeqCst) >= max)
    }
}

/// How the run ended: set once, by the hart that ends it, read by any without a lock.
#[derive(Debug, Default)]
pub(super) struct RunEnd(OnceLock<ExitStatus>);

impl RunEnd {
    /// Ends the run with `status`, unless it has ended already: the first end stands.
    pub(super) fn end(&self, status: ExitStatus) {
        let _ = self.0.set(status);
    }

    /// How the run ended, if it has.
    pub(super) fn status(&self) -> Option<ExitStatus> {
        self.0.get().copied()
    }

    /// Whether the run has ended.
    pub(super) fn is_over(&self) -> bool {
        self.0.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_share_what_is_left_and_the_budget_is_spent_exactly() {
        let b = InsnBudget::new(Some(10), 2);
        assert_eq!(b.claim(100), Claim::Granted(5), "half of 10");
        assert_eq!(b.claim(100), Claim::Granted(3), "half of 5, rounded up");
        assert_eq!(b.claim(1), Claim::Granted(1), "no more than asked");
        assert_eq!(b.claim(100), Claim::Granted(1));
        assert_eq!(b.claim(100), Claim::Wait, "all claimed, none settled");
        b.settle(5, 2); // a trap after 2 of 5: 3 given back
        assert_eq!(b.claim(100), Claim::Granted(2));
        for (granted, ran) in [(3, 3), (1, 1), (1, 1), (2, 2)] {
            assert!(!b.is_spent());
            b.settle(granted, ran);
        }
        assert_eq!(b.claim(100), Claim::Granted(1), "the last one given back");
        b.settle(1, 1);
        assert!(b.is_spent());
        assert_eq!(b.claim(100), Claim::Spent);
    }

    #[test]
    fn harts_claiming_at_once_retire_exactly_the_budget() {
        let b = InsnBudget::new(Some(1_000_003), 4);
        let retired = AtomicU64::new(0);
        std::thread::scope(|s| {
            for h in 0..4u64 {
                let (b, retired) = (&b, &retired);
                s.spawn(move || {
                    let mut round = 0u64;
                    loop {
                        match b.claim(1000 + h) {
                            Claim::Granted(n) => {
                                // Some quanta end early (a trap): the rest goes back.
                                round += 1;
                                let ran = if round.is_multiple_of(3) { n / 2 } else { n };
                                retired.fetch_add(ran, Ordering::SeqCst);
                                b.settle(n, ran);
                            }
                            Claim::Wait => std::thread::yield_now(),
                            Claim::Spent => break,
                        }
                    }
                });
            }
        });
        assert_eq!(retired.load(Ordering::SeqCst), 1_000_003);
        assert!(b.is_spent());
    }

    #[test]
    fn without_a_budget_every_claim_is_granted_and_the_first_end_stands() {
        let b = InsnBudget::new(None, 2);
        assert_eq!(b.claim(7), Claim::Granted(7));
        b.settle(7, 3);
        assert!(!b.is_spent());
        let end = RunEnd::default();
        assert!(!end.is_over());
        end.end(ExitStatus::Exited(3));
        end.end(ExitStatus::InsnLimit);
        assert_eq!(end.status(), Some(ExitStatus::Exited(3)));
    }
}
