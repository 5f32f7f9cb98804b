//! What the harts share beyond the kernel lock: TLB shootdown by IPI, kicks, and the
//! deterministic scheduler's baton.
//!
//! **TLB shootdown** (Linux's `flush_tlb_mm_range()` → `on_each_cpu_mask()`, riscv's
//! `__flush_tlb_range()` → SBI remote fence). A kernel path that changed PTEs of an
//! address space other harts may have cached (an ASID-tagged TLB keeps entries across
//! context switches) posts the `sfence.vma` to every other hart's mailbox and, for each
//! hart that is running guest code, raises its software interrupt (the CLINT's `msip`)
//! and waits for its acknowledgement (spinning first, as `csd_lock_wait()` does:
//! [`crate::sync::spin_until`]). A hart that is not in user mode has nothing to do
//! yet: it drains its mailbox before it next enters user mode. The handshake is the
//! Dekker-style pair "set `in_user`, then drain" / "post, then read `in_user`" in
//! sequentially consistent order, so a request is either seen by the drain or waited for.
//! A locked initiator holds the kernel lock while it waits, so no page or page table it
//! freed is reused by another locked kernel path before every hart has dropped the stale
//! translations.
//!
//! **Flushers without the kernel lock.** A user page fault is handled without the kernel
//! lock (`kernel.rs`, the unlocked fault path), so two harts may flush at once. That is
//! safe: a flusher has left user mode before it posts (its `in_user` is clear while it
//! waits), so two flushers never wait for each other — each sees the other out of user
//! mode and leaves its request in the mailbox, drained before that hart next enters
//! user mode; the mailboxes are mutexes and the tickets `fetch_add`/`fetch_max`, so no
//! request is lost.
//!
//! **Frames are freed after their shootdown** (Linux's `mmu_gather`: `tlb_finish_mmu()`
//! → `tlb_flush_mmu_tlbonly()` → `tlb_batch_pages_flush()`). A path that unmaps pages
//! or frees page tables leaves them in its own gather of that address space
//! (`Mm::tlb_finish_mmu`, thread-local: the caller's `struct mmu_gather`); the same path
//! takes it (`Mm::take_tlb_batch`), posts the shootdown, waits for the harts in user mode to
//! acknowledge, and only then frees the frames. A hart out of user mode drains its
//! mailbox before it enters user mode again, so once the frames are freed no hart can
//! reach one through a stale translation, whichever path (with or without the kernel
//! lock, in this address space or another) reuses it, on any number of harts.
//!
//! **Flushes that cannot wait for the end of the path** (`ptep_clear_flush()`: a COW
//! break must drop every hart's translation of the old page before it maps the copy):
//! the mm layer calls [`Smp::flush_tlb_posted`] through `mm::TlbShootdown`, which each
//! hart thread installs; the caller's own hart gets the request in its own mailbox.
//!
//! **Kicks**: the same interrupt without a request makes a hart leave user mode at its
//! next check (a fatal signal for a thread it runs, the end of the run):
//! [`Smp::kick`], and [`Smp::wait_out_of_user`] for callers that must know the hart
//! no longer runs guest code (tearing down an address space). A kick also sets the
//! hart's `notify` flag (Linux's `TIF_NOTIFY_RESUME`/`TIF_SIGPENDING` seen on the way
//! back to user mode): a hart handling a fault without the kernel lock returns to user
//! mode only through [`Smp::enter_user_unless_notified`], which refuses once the flag is
//! set — the same Dekker pair, "set `in_user`, then read `notify`" against "set
//! `notify`, then read `in_user`", so a kick either stops that return or finds the hart
//! in user mode and interrupts it. The flag is cleared when the hart takes the kernel
//! lock ([`Smp::clear_notify`]), which then sees whatever the kicker changed.
//!
//! **Baton** ([`Baton`], `--sched deterministic`): every hart still has its host thread,
//! but only the holder of the baton runs; at each scheduling point a seeded choice among
//! the harts that can run decides who continues. All inter-hart interaction happens in
//! between, so a seed fixes the interleaving.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use devices::Clint;
use emu::Hart;

use crate::fs::Prng;
use crate::mm::{TlbFlush, TlbFlushRange};
use crate::percpu::PerCpuCounter;
use crate::sync::{Condvar, CondvarMutex, CondvarMutexGuard, Mutex, SchedHook};

/// The first ASID [`Smp::alloc_asid`] hands out (0 and 1 are never handed out).
pub const FIRST_ASID: u16 = 2;

/// One `sfence.vma` request for a remote hart.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shootdown {
    /// The address space's ASID.
    pub asid: u16,
    /// What to invalidate.
    pub flush: TlbFlush,
}

/// One hart's part of the shootdown protocol, in two cache lines: what the hart itself
/// writes at every kernel entry and exit (`in_user`, and `acked` when it drains) apart
/// from what flushers write (its mailbox and `posted`), and both apart from the other
/// harts' slots. Packed together, the slots of two harts shared one line, and every
/// `in_user` store of one hart's page faults took that line from the other (perf annotate
/// of `faults threads 2 2000` on 2 harts: the loads after those stores were a third of
/// `hart_main`'s samples).
#[derive(Debug, Default)]
struct HartSlot {
    own: OwnLine,
    inbox: InboxLine,
}

/// The words of a [`HartSlot`] its hart writes (a kicker also sets `notify`).
#[derive(Debug, Default)]
#[repr(align(128))]
struct OwnLine {
    /// Running guest code (between [`Smp::enter_user`] and [`Smp::leave_user`]).
    in_user: AtomicBool,
    /// Kicked since the hart last took the kernel lock (see the module docs).
    notify: AtomicBool,
    /// Requests acknowledged (each drain acknowledges all posted before it); written by
    /// the hart only.
    acked: AtomicU64,
}

/// The words of a [`HartSlot`] that flushers write.
#[derive(Debug, Default)]
#[repr(align(128))]
struct InboxLine {
    mailbox: Mutex<Mailbox>,
    /// Requests posted.
    posted: AtomicU64,
}

/// Requests a mailbox holds before it folds them into one flush of everything.
const MAILBOX_SLOTS: usize = 4;

/// A hart's pending shootdown requests, held inline beside the lock that guards them: a
/// `Vec`'s buffer was one more cache line that every shootdown moved from the drainer to
/// the flusher and back. Requests that do not fit become one `sfence.vma x0, x0` (every
/// ASID) — what Linux does past `tlb_flush_all_threshold` — and the decoded-instruction
/// cache if any of them asked for it.
#[derive(Debug, Default)]
struct Mailbox {
    reqs: [Shootdown; MAILBOX_SLOTS],
    len: usize,
    /// Requests overflowed: `Some(icache)`, flush every ASID (and the icache if asked).
    overflow: Option<bool>,
}

impl Mailbox {
    fn post(&mut self, r: Shootdown) {
        if let Some(icache) = self.overflow.as_mut() {
            *icache |= r.flush.icache;
        } else if let Some(slot) = self.reqs.get_mut(self.len) {
            *slot = r;
            self.len += 1;
        } else {
            let icache = self.reqs.iter().any(|q| q.flush.icache);
            self.overflow = Some(icache || r.flush.icache);
            self.len = 0;
        }
    }

    /// Whether no request waits.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len == 0 && self.overflow.is_none()
    }

    /// Applies every request to `hart` and empties the mailbox.
    fn apply(&mut self, hart: &mut Hart<'_>) {
        if let Some(icache) = self.overflow.take() {
            hart.sfence_vma(None, None);
            if icache {
                hart.flush_icache();
            }
        }
        for r in self.reqs.iter().take(self.len) {
            flush_local(hart, r.asid, r.flush);
        }
        self.len = 0;
    }
}

/// Counts of inter-hart traffic (for `--stats`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SmpCounts {
    /// Shootdown requests posted to remote harts.
    pub shootdowns: u64,
    /// Software interrupts raised (shootdowns and kicks).
    pub ipis: u64,
    /// Times an initiator waited for a hart in user mode to acknowledge.
    pub ack_waits: u64,
}

/// The harts' shared state (see the module docs).
#[derive(Debug)]
pub struct Smp {
    /// Shared with the harts (their `msip` polls) and, through this `Smp`, with the mm
    /// layer's synchronous flushes ([`crate::mm::TlbShootdown`]), which hold it beyond
    /// any borrow.
    clint: Arc<Clint>,
    slots: Vec<HartSlot>,
    /// Per ASID: the harts that have loaded it and may cache its translations (Linux's
    /// `mm_cpumask()`), bit `i` for hart `i`. Bits are never cleared: with ASIDs a hart
    /// keeps an address space's entries after switching away, as riscv Linux keeps the
    /// bit.
    asid_harts: Box<[AtomicU64]>,
    /// Per hart, so that two harts flushing at once do not share a counter's cache line.
    shootdowns: PerCpuCounter,
    ipis: PerCpuCounter,
    ack_waits: PerCpuCounter,
    /// The next ASID to hand out ([`Smp::alloc_asid`]).
    next_asid: std::sync::atomic::AtomicU16,
}

impl Smp {
    /// State for `harts` harts whose interrupts are `clint`'s `msip` bits.
    pub fn new(harts: usize, clint: Arc<Clint>) -> Self {
        Self {
            clint,
            slots: (0..harts).map(|_| HartSlot::default()).collect(),
            asid_harts: (0..=u16::MAX).map(|_| AtomicU64::new(0)).collect(),
            shootdowns: PerCpuCounter::new(),
            ipis: PerCpuCounter::new(),
            ack_waits: PerCpuCounter::new(),
            next_asid: std::sync::atomic::AtomicU16::new(FIRST_ASID),
        }
    }

    /// Number of harts.
    pub fn harts(&self) -> usize {
        self.slots.len()
    }

    /// Hart `hart` is about to load ASID `asid` into `satp` (`switch_mm()`): from now on
    /// shootdowns of that ASID reach it. The bit is published before the hart walks a
    /// page table of the ASID; a flusher reads the mask after its PTE stores (both
    /// `SeqCst`), so a flusher that misses the bit made its change before the hart's first
    /// walk could see the old entry (Dekker).
    pub fn note_asid(&self, hart: usize, asid: u16) {
        if let Some(m) = self.asid_harts.get(usize::from(asid)) {
            m.fetch_or(1u64 << (hart % 64), Ordering::SeqCst);
        }
    }

    /// The harts a shootdown of `flush` for `asid` must reach: those that have loaded the
    /// ASID, or every hart when decoded instructions must go (the decoded-instruction
    /// cache is physically indexed: a frame's old code may sit in any hart's cache).
    fn flush_targets(&self, asid: u16, flush: &TlbFlush) -> u64 {
        if flush.icache || self.slots.len() > 64 {
            return u64::MAX;
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        self.asid_harts
            .get(usize::from(asid))
            .map_or(u64::MAX, |m| m.load(Ordering::SeqCst))
    }

    /// Inter-hart traffic so far.
    pub fn counts(&self) -> SmpCounts {
        SmpCounts {
            shootdowns: self.shootdowns.sum(),
            ipis: self.ipis.sum(),
            ack_waits: self.ack_waits.sum(),
        }
    }

    /// Hart `hart` is about to run guest code: from now on shootdowns wait for it.
    /// Drains its mailbox (after publishing `in_user`, see the module docs).
    pub fn enter_user(&self, hart: &mut Hart<'_>) {
        let id = hart.hart_id();
        if let Some(slot) = self.slots.get(id) {
            slot.own.in_user.store(true, Ordering::SeqCst);
        }
        self.drain(hart);
    }

    /// Hart `hart`, back from a fault it handled without the kernel lock, re-enters user
    /// mode unless it was kicked since it last took the kernel lock: returns `true` if
    /// it did (its mailbox drained, as [`Smp::enter_user`]), `false` if it stays out of
    /// user mode and must take the kernel lock (see the module docs).
    pub fn enter_user_unless_notified(&self, hart: &mut Hart<'_>) -> bool {
        let Some(slot) = self.slots.get(hart.hart_id()) else {
            return false;
        };
        slot.own.in_user.store(true, Ordering::SeqCst);
        if slot.own.notify.load(Ordering::SeqCst) {
            slot.own.in_user.store(false, Ordering::SeqCst);
            return false;
        }
        self.drain(hart);
        true
    }

    /// Whether hart `id` was kicked since it last took the kernel lock.
    pub fn notified(&self, id: usize) -> bool {
        self.slots
            .get(id)
            .is_some_and(|s| s.own.notify.load(Ordering::SeqCst))
    }

    /// Hart `id` holds the kernel lock: what a kick asked for is visible to it there.
    pub fn clear_notify(&self, id: usize) {
        if let Some(slot) = self.slots.get(id) {
            slot.own.notify.store(false, Ordering::SeqCst);
        }
    }

    /// Hart `hart` has stopped running guest code (a trap, its quantum, a kick).
    pub fn leave_user(&self, hart: &Hart<'_>) {
        if let Some(slot) = self.slots.get(hart.hart_id()) {
            slot.own.in_user.store(false, Ordering::SeqCst);
        }
    }

    /// Applies every request in `hart`'s mailbox to its TLB, acknowledges them, and
    /// clears its software interrupt. The interrupt is cleared before the requests are
    /// read (as `clint_ipi_interrupt()` clears before `ipi_mux_process()`), so a request
    /// posted meanwhile is either seen now or leaves it raised; with nothing posted since
    /// the last drain (the common case: every kernel entry drains) the mailbox is not
    /// touched.
    pub fn drain(&self, hart: &mut Hart<'_>) {
        let id = hart.hart_id();
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        if self.clint.ipi_pending(id) {
            self.clint.set_msip(id, false);
        }
        let posted = slot.inbox.posted.load(Ordering::SeqCst);
        if posted == slot.own.acked.load(Ordering::SeqCst) {
            return;
        }
        // The hart may already count as running guest code (`in_user` is published
        // before the drain): parked here by the deterministic scheduler, it would leave a
        // flusher waiting for its acknowledgement forever, holding the baton.
        let _nopreempt = crate::sync::preempt_disable();
        slot.inbox.mailbox.lock().apply(hart);
        slot.own.acked.fetch_max(posted, Ordering::SeqCst);
    }

    /// `flush_tlb_mm_range()` across harts: applies `flush` for `asid` on `hart` (the
    /// caller's) and posts it to every other hart, then waits until each of them that is
    /// running guest code has acknowledged it.
    pub fn flush_tlb(&self, hart: &mut Hart<'_>, asid: u16, flush: TlbFlush) {
        flush_local(hart, asid, flush);
        if self.slots.len() < 2 || !flush.needs_shootdown() {
            return;
        }
        self.post_and_wait(hart.hart_id(), asid, flush.remote());
    }

    /// `flush_tlb_page()` as `ptep_clear_flush()` calls it, from a kernel path that has
    /// not its hart at hand (the mm layer, through [`crate::mm::TlbShootdown`]):
    /// posts `flush` for `asid` to the mailbox of hart `me` (the caller's: it is out of
    /// user mode and applies it before it goes back) and of every other hart that may
    /// cache `asid`, then waits until each of those running guest code has acknowledged
    /// it. On return no hart can use the old translation again, so the caller may make
    /// the PTE point elsewhere and free what it pointed to.
    pub fn flush_tlb_posted(&self, me: usize, asid: u16, flush: TlbFlush) {
        if let Some(slot) = self.slots.get(me) {
            slot.inbox.mailbox.lock().post(Shootdown { asid, flush });
            slot.inbox.posted.fetch_add(1, Ordering::SeqCst);
        }
        // Another hart may cache the translation — or, the caller being no hart (an
        // async page fault worker), any hart may.
        if self.slots.len() >= 2 || me >= self.slots.len() {
            self.post_and_wait(me, asid, flush);
        }
    }

    /// Posts `flush` for `asid` to every hart but `me` that may cache `asid`, raising the
    /// interrupt of those running guest code, and waits for their acknowledgements.
    fn post_and_wait(&self, me: usize, asid: u16, flush: TlbFlush) {
        let targets = self.flush_targets(asid, &flush);
        let mut waits = Vec::new();
        for (id, slot) in self.slots.iter().enumerate() {
            if id == me || targets & (1u64 << (id % 64)) == 0 {
                continue;
            }
            slot.inbox.mailbox.lock().post(Shootdown { asid, flush });
            let ticket = slot.inbox.posted.fetch_add(1, Ordering::SeqCst) + 1;
            self.shootdowns.add(1);
            // Only a hart running guest code needs the interrupt: one out of user mode
            // drains its mailbox before it goes back (the Dekker pair: post, then read
            // `in_user`, against set `in_user`, then read `posted`). Raising it anyway
            // moved the `msip` line to this hart and back for every shootdown.
            if slot.own.in_user.load(Ordering::SeqCst) {
                self.raise(id);
                waits.push((id, ticket));
            }
        }
        for (id, ticket) in waits {
            let Some(slot) = self.slots.get(id) else {
                continue;
            };
            let waited = crate::sync::spin_until(|| {
                !slot.own.in_user.load(Ordering::SeqCst)
                    || slot.own.acked.load(Ordering::SeqCst) >= ticket
            });
            if waited {
                self.ack_waits.add(1);
            }
        }
    }

    /// Makes hart `id` leave user mode at its next interrupt check, and keeps it from
    /// going back without the kernel lock.
    pub fn kick(&self, id: usize) {
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        slot.own.notify.store(true, Ordering::SeqCst);
        if slot.own.in_user.load(Ordering::SeqCst) {
            self.raise(id);
        }
    }

    /// Raises hart `id`'s software interrupt if it runs guest code, without asking it to
    /// take the kernel lock (unlike [`Smp::kick`]): it traps, does what it can without
    /// the lock (the tick's CPU-time accounting, `update_process_times()`), and goes
    /// back to user mode.
    pub fn interrupt(&self, id: usize) {
        if let Some(slot) = self.slots.get(id) {
            if slot.own.in_user.load(Ordering::SeqCst) {
                self.raise(id);
            }
        }
    }

    /// Kicks hart `id` and returns once it no longer runs guest code; it will not go
    /// back to guest code before it has taken the kernel lock.
    pub fn wait_out_of_user(&self, id: usize) {
        let Some(slot) = self.slots.get(id) else {
            return;
        };
        slot.own.notify.store(true, Ordering::SeqCst);
        self.raise(id);
        crate::sync::spin_until(|| !slot.own.in_user.load(Ordering::SeqCst));
    }

    /// A fresh ASID for a new address space (riscv's `__new_context()`,
    /// `arch/riscv/mm/context.c`), from any hart without a lock: the next one in turn,
    /// its stale entries shot down on every hart before it is handed out. When the
    /// numbers wrap, the hart that takes the last one flushes every ASID on every hart
    /// (Linux's generation rollover, `__flush_context()`) and numbering starts again at
    /// [`FIRST_ASID`]; a number handed out meanwhile is clean anyway, by its own flush.
    /// ASIDs 0 (threads sharing their parent's, `CLONE_VM`) and 1 (init's) are never
    /// handed out.
    pub fn alloc_asid(&self, hart: &mut Hart<'_>) -> u16 {
        let all = TlbFlush {
            range: TlbFlushRange::All,
            ..TlbFlush::default()
        };
        let mut asid = self.next_asid.load(Ordering::SeqCst);
        loop {
            let next = asid.checked_add(1).unwrap_or(FIRST_ASID);
            match self.next_asid.compare_exchange_weak(
                asid,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => asid = now,
            }
        }
        if asid == u16::MAX {
            for a in 0..=u16::MAX {
                self.flush_tlb(hart, a, all);
            }
        }
        // A reused ASID may still have stale entries.
        self.flush_tlb(hart, asid, all);
        asid
    }

    /// Raises hart `id`'s software interrupt.
    fn raise(&self, id: usize) {
        self.ipis.add(1);
        self.clint.set_msip(id, true);
    }
}

/// `local_flush_tlb_range()` / `local_flush_tlb_mm()`: the `sfence.vma` forms for `flush`
/// on this hart (page by page up to a ceiling, then the whole ASID, as Linux's
/// `flush_tlb_range()`), and the decoded-instruction cache if asked.
pub fn flush_local(hart: &mut Hart<'_>, asid: u16, flush: TlbFlush) {
    flush_range_local(hart, asid, flush.range);
    flush_range_local(hart, asid, flush.local);
    if flush.icache {
        hart.flush_icache();
    }
}

fn flush_range_local(hart: &mut Hart<'_>, asid: u16, range: TlbFlushRange) {
    match range {
        TlbFlushRange::None => {}
        TlbFlushRange::All => hart.sfence_vma(None, Some(asid)),
        TlbFlushRange::Range { start, end } => {
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
}

/// The deterministic scheduler's baton: one hart thread runs at a time, and a seeded
/// choice at every scheduling point decides which.
#[derive(Debug)]
pub struct Baton {
    state: CondvarMutex<BatonState>,
    turn: Condvar,
}

#[derive(Debug)]
struct BatonState {
    /// The hart that may run.
    holder: usize,
    /// Harts that have something to do (not idle, not finished).
    ready: Vec<bool>,
    finished: Vec<bool>,
    rng: Prng,
    /// Scheduling points at which the baton moved to another hart.
    switches: u64,
    /// Of those, the ones at a contended lock acquisition ([`Baton::contended`]).
    lock_waits: u64,
}

impl Baton {
    /// A baton for `harts` harts, held by hart 0, every hart ready; choices drawn from
    /// `rng`.
    pub fn new(harts: usize, rng: Prng) -> Self {
        Self {
            state: CondvarMutex::new(BatonState {
                holder: 0,
                ready: vec![true; harts],
                finished: vec![false; harts],
                rng,
                switches: 0,
                lock_waits: 0,
            }),
            turn: Condvar::new(),
        }
    }

    /// Waits until hart `me` holds the baton.
    pub fn wait_turn(&self, me: usize) {
        let mut s = self.state.lock();
        while s.holder != me {
            s.wait(&self.turn);
        }
    }

    /// A scheduling point of hart `me` (which holds the baton): a seeded pick among the
    /// ready harts (`me` included) runs next; returns when `me` holds the baton again.
    pub fn yield_point(&self, me: usize) {
        let mut s = self.state.lock();
        let Some(next) = pick(&mut s, Some(me)) else {
            return;
        };
        if next == me {
            return;
        }
        self.hand_over(&mut s, me, next);
    }

    /// Hart `me` (which holds the baton) wants a lock another hart holds — a hart parked
    /// at a scheduling point, since only the baton's holder runs: the baton goes to a
    /// seeded pick among the *other* ready harts (the holder is one of them: a hart
    /// parked at a scheduling point stays ready), and this returns when `me` holds it
    /// again, to try the lock again. Returns `false` at once if no other hart is ready:
    /// then no hart can release the lock (a deadlock).
    pub fn contended(&self, me: usize) -> bool {
        let mut s = self.state.lock();
        let st = &mut *s;
        let ready = &st.ready;
        let others = (0..ready.len()).filter(|&h| h != me && ready[h]);
        let Some(next) = pick_from(&mut st.rng, others) else {
            return false;
        };
        s.lock_waits += 1;
        self.hand_over(&mut s, me, next);
        true
    }

    /// A seeded coin for `need_resched()` inside the kernel: `true` one time in `odds`.
    pub fn coin(&self, odds: u64) -> bool {
        let mut s = self.state.lock();
        s.rng.next_u64().is_multiple_of(odds.max(1))
    }

    /// Hart `me` has nothing to run: it is no longer ready and the baton goes to a ready
    /// hart; returns `true` when `me` has been woken ([`Baton::wake`]) and holds the baton
    /// again, or `false` at once (still holding it, still ready) if no other hart is
    /// ready — the caller is the last one awake and must advance time or stop.
    pub fn idle(&self, me: usize) -> bool {
        let mut s = self.state.lock();
        if let Some(r) = s.ready.get_mut(me) {
            *r = false;
        }
        let Some(next) = pick(&mut s, None) else {
            if let Some(r) = s.ready.get_mut(me) {
                *r = true;
            }
            return false;
        };
        self.hand_over(&mut s, me, next);
        true
    }

    /// Hart `me` passes the baton (its state locked in `s`) to hart `next` and waits
    /// until it holds it again.
    fn hand_over(&self, s: &mut CondvarMutexGuard<'_, BatonState>, me: usize, next: usize) {
        s.switches += 1;
        s.holder = next;
        self.turn.notify_all();
        while s.holder != me {
            s.wait(&self.turn);
        }
    }

    /// Makes hart `h` ready again (work for it appeared).
    pub fn wake(&self, h: usize) {
        let mut s = self.state.lock();
        if !s.finished.get(h).copied().unwrap_or(true) {
            if let Some(r) = s.ready.get_mut(h) {
                *r = true;
            }
        }
    }

    /// Hart `me` leaves for good (the run is over): every other unfinished hart is made
    /// ready so that it sees the end, and the baton passes on.
    pub fn finish(&self, me: usize) {
        let mut s = self.state.lock();
        if let Some(f) = s.finished.get_mut(me) {
            *f = true;
        }
        let n = s.ready.len();
        for h in 0..n {
            s.ready[h] = !s.finished[h];
        }
        if let Some(next) = (0..n).find(|&h| !s.finished[h]) {
            s.holder = next;
        }
        self.turn.notify_all();
    }

    /// Scheduling points at which the baton moved to another hart.
    pub fn switches(&self) -> u64 {
        self.state.lock().switches
    }

    /// Of those, the ones at a contended lock acquisition ([`Baton::contended`]).
    pub fn lock_waits(&self) -> u64 {
        self.state.lock().lock_waits
    }
}

/// A seeded pick among the ready harts (and `also`).
fn pick(s: &mut BatonState, also: Option<usize>) -> Option<usize> {
    let ready = &s.ready;
    let candidates = (0..ready.len()).filter(|&h| ready[h] || Some(h) == also);
    pick_from(&mut s.rng, candidates)
}

/// A seeded pick among `candidates` (`None` if there are none).
fn pick_from(rng: &mut Prng, candidates: impl Iterator<Item = usize>) -> Option<usize> {
    let candidates: Vec<usize> = candidates.collect();
    if candidates.is_empty() {
        return None;
    }
    let i = (rng.next_u64() % candidates.len() as u64) as usize;
    candidates.get(i).copied()
}

/// Hart `me`'s scheduler as the kernel's lock types see it ([`crate::sync::SchedHook`],
/// installed on the hart's thread in deterministic mode): a lock acquisition with
/// preemption enabled is a [`Baton::yield_point`], and a contended one passes the baton
/// ([`Baton::contended`]).
#[derive(Debug)]
pub struct BatonHook {
    baton: Arc<Baton>,
    me: usize,
}

impl BatonHook {
    /// The hook of hart `me` on `baton`.
    pub fn new(baton: Arc<Baton>, me: usize) -> Self {
        Self { baton, me }
    }
}

impl crate::mm::TlbShootdown for Smp {
    fn flush_tlb_posted(&self, me: usize, asid: u16, flush: TlbFlush) {
        Smp::flush_tlb_posted(self, me, asid, flush);
    }
}

impl SchedHook for BatonHook {
    fn sched_point(&self) {
        self.baton.yield_point(self.me);
    }

    fn contended(&self) -> bool {
        self.baton.contended(self.me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{ClockSource, GuestMemory, GuestPhysAddr};
    use emu::HartConfig;

    /// Two harts that shoot each other down at the same moment, over and over, while the
    /// other runs guest code or is itself flushing (`flush_tlb_mm_range()` on both CPUs
    /// of one `mm` at once), both finish every flush — neither waits for a hart that is
    /// waiting for it: a flusher is out of user mode, so it is not waited for, and its
    /// request waits in its mailbox — and every request posted is drained and
    /// acknowledged, none lost, when each goes back to user mode.
    #[test]
    fn two_harts_shooting_each_other_down_at_once_both_complete_and_drain_all() {
        const ROUNDS: u64 = 2000;
        const ASID: u16 = 7;
        let ram = GuestMemory::new(&[(GuestPhysAddr(0x8000_0000), 1 << 20)]).unwrap();
        let clint = Arc::new(Clint::new(2, ClockSource::Virtual(AtomicU64::new(0))));
        let smp = Smp::new(2, Arc::clone(&clint));
        let flush = TlbFlush {
            range: TlbFlushRange::Range {
                start: 0x1000,
                end: 0x2000,
            },
            ..TlbFlush::default()
        };
        let start = std::sync::Barrier::new(2);
        let stop = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for id in 0..2 {
                let (ram, clint, smp, start, stop) = (&ram, &*clint, &smp, &start, &stop);
                s.spawn(move || {
                    let config = HartConfig {
                        hart_id: id,
                        ..HartConfig::default()
                    };
                    let mut hart = Hart::new(ram, Some(clint), config);
                    smp.note_asid(id, ASID);
                    smp.enter_user(&mut hart);
                    start.wait();
                    for round in 0..ROUNDS {
                        // "User mode": the interrupt check of the run loop, answered as
                        // run_user answers it (out of user mode, back in: the drain).
                        for _ in 0..(round % 7) {
                            if clint.ipi_pending(id) {
                                smp.leave_user(&hart);
                                smp.enter_user(&mut hart);
                            }
                            std::hint::spin_loop();
                        }
                        // A fault or madvise of this hart: out of user mode, flush.
                        smp.leave_user(&hart);
                        smp.flush_tlb(&mut hart, ASID, flush);
                        smp.enter_user(&mut hart);
                    }
                    smp.leave_user(&hart);
                    stop.wait();
                    // Both are done posting: the last drain takes whatever is left.
                    smp.drain(&mut hart);
                });
            }
        });
        assert_eq!(smp.counts().shootdowns, 2 * ROUNDS);
        for slot in &smp.slots {
            assert_eq!(slot.inbox.posted.load(Ordering::SeqCst), ROUNDS);
            assert_eq!(slot.own.acked.load(Ordering::SeqCst), ROUNDS);
            assert!(slot.inbox.mailbox.lock().is_empty());
            assert!(!slot.own.in_user.load(Ordering::SeqCst));
        }
        assert!(!clint.ipi_pending(0) && !clint.ipi_pending(1));
    }

    /// ASIDs come in turn from any thread, never 0 or 1, each handed out once until the
    /// numbers wrap back to [`FIRST_ASID`].
    #[test]
    fn asids_come_in_turn_and_wrap_to_the_first() {
        let ram = GuestMemory::new(&[(GuestPhysAddr(0x8000_0000), 1 << 20)]).unwrap();
        let clint = Arc::new(Clint::new(1, ClockSource::Virtual(AtomicU64::new(0))));
        let smp = Smp::new(1, Arc::clone(&clint));
        let mut hart = Hart::new(&ram, Some(&clint), HartConfig::default());
        assert_eq!(smp.alloc_asid(&mut hart), FIRST_ASID);
        assert_eq!(smp.alloc_asid(&mut hart), FIRST_ASID + 1);
        let got: std::collections::BTreeSet<u16> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let mut hart = Hart::new(&ram, Some(&clint), HartConfig::default());
                        (0..100)
                            .map(|_| smp.alloc_asid(&mut hart))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        assert_eq!(got.len(), 300, "each handed out once");
        smp.next_asid.store(u16::MAX, Ordering::SeqCst);
        assert_eq!(smp.alloc_asid(&mut hart), u16::MAX);
        assert_eq!(
            smp.alloc_asid(&mut hart),
            FIRST_ASID,
            "wrapped, skipping 0 and 1"
        );
    }

    /// Requests beyond the mailbox's slots fold into one flush of every ASID that keeps
    /// an icache request of any of them; a drain empties it.
    #[test]
    fn a_full_mailbox_folds_its_requests_into_one_flush_of_everything() {
        let page = |i: u64, icache: bool| Shootdown {
            asid: i as u16,
            flush: TlbFlush {
                range: TlbFlushRange::Range {
                    start: i << 12,
                    end: (i + 1) << 12,
                },
                icache,
                ..TlbFlush::default()
            },
        };
        let mut m = Mailbox::default();
        for i in 0..MAILBOX_SLOTS as u64 {
            m.post(page(i, i == 1));
        }
        assert_eq!((m.len, m.overflow), (MAILBOX_SLOTS, None));
        m.post(page(9, false));
        assert_eq!(
            (m.len, m.overflow),
            (0, Some(true)),
            "the icache request stays"
        );
        m.post(page(10, false));
        assert_eq!(m.overflow, Some(true));
        let ram = GuestMemory::new(&[(GuestPhysAddr(0x8000_0000), 1 << 20)]).unwrap();
        let mut hart = Hart::new(&ram, None, HartConfig::default());
        m.apply(&mut hart);
        assert_eq!((m.len, m.overflow), (0, None));
        m.post(page(3, false));
        assert_eq!(
            (m.len, m.overflow),
            (1, None),
            "slots are reused after a drain"
        );
    }

    #[test]
    fn the_baton_is_held_by_one_hart_at_a_time_and_replays_with_its_seed() {
        fn trace(seed: u64) -> Vec<usize> {
            let baton = Baton::new(3, Prng::new(seed));
            let log = Mutex::new(Vec::new());
            std::thread::scope(|s| {
                for me in 0..3 {
                    let (baton, log) = (&baton, &log);
                    s.spawn(move || {
                        baton.wait_turn(me);
                        for _ in 0..20 {
                            log.lock().push(me);
                            baton.yield_point(me);
                        }
                        baton.finish(me);
                    });
                }
            });
            log.into_inner()
        }
        let a = trace(7);
        assert_eq!(a.len(), 60);
        assert_eq!(a, trace(7));
        assert_ne!(a, trace(8));
    }
}
