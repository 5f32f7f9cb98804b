//! Asynchronous page faults, after KVM's (`virt/kvm/async_pf.c`, `arch/x86/kvm/mmu`'s
//! `kvm_arch_setup_async_pf()`): a user fault whose page must come back from swap does
//! not stall its hart. The fault is queued as a work item for a pool of kernel workers
//! and the task is parked ("page not present"); the hart runs another runnable task.
//! A worker runs `async_pf_execute()` — `mmget_not_zero()`, `mmap_read_lock()`,
//! `get_user_pages_remote(mm, addr, 1, FOLL_WRITE, …)`, which faults the page in (the
//! swap read, with its `--swap-latency`, happens on the worker), `mmap_read_unlock()`,
//! `mmput()` — and completes the item ("page ready"): the task is made runnable and, when
//! it runs again, re-executes the faulting access, which now finds its page.
//!
//! Rules, as KVM's:
//! - At most [`ASYNC_PF_PER_VCPU`] items are outstanding per hart; beyond that the fault
//!   is handled synchronously (`kvm_can_do_async_pf()` false), counted as a fallback.
//! - Only user faults go asynchronous; the kernel's own accesses (uaccess, GUP) fault
//!   synchronously.
//! - The task sleeps like a userfaultfd fault ([`WaitOn::AsyncPf`]): a signal ends the
//!   sleep (the handler runs, then the access is re-executed and may queue again); a
//!   fatal signal or exit leaves the item to finish on its own — its worker finds the
//!   address space gone (`mmget_not_zero()` fails) or faults a page nobody waits for, and
//!   its wake-up finds no sleeper; nothing is leaked (the workers are joined before the
//!   run's page audit).
//! - Workers are host threads fed by a `crossbeam` channel; each installs a TLB
//!   shootdown of its own so that a COW break it makes is flushed from every hart.
//! - Deterministic mode does not queue (every fault is synchronous there): the workers
//!   run on host time, which a seed does not decide.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread::JoinHandle;
use std::time::Instant;

use emu::Hart;

use super::Kernel;
use crate::fs::{PollTable, WaitTask};
use crate::mm::{FaultFlags, FollFlags, MmGrab};
use crate::process::WaitOn;
use crate::smp::Smp;

/// `ASYNC_PF_PER_VCPU`: outstanding async faults per hart.
pub const ASYNC_PF_PER_VCPU: u32 = 64;

/// Worker threads (`system_unbound_wq`'s share for the async PF work here).
const WORKERS: usize = 2;

/// One queued fault (`struct kvm_async_pf`).
struct Work {
    /// The parked task's sleep, woken at completion ("page ready").
    waiter: Arc<WaitTask>,
    /// The address space (`mmgrab()`: the worker tries `mmget_not_zero()`).
    mm: MmGrab,
    /// The faulting address and whether the access was a store.
    va: u64,
    write: bool,
    /// The hart that queued it (its outstanding count).
    hart: usize,
    queued_at: Instant,
}

/// The counters `--stats` shows.
#[derive(Debug, Default)]
pub struct AsyncPfStats {
    /// Faults queued to a worker.
    pub queued: AtomicU64,
    /// Items a worker completed.
    pub completed: AtomicU64,
    /// Faults handled synchronously because the hart had [`ASYNC_PF_PER_VCPU`]
    /// outstanding.
    pub sync_fallbacks: AtomicU64,
    /// Host nanoseconds from queueing to completion, summed (the time tasks were parked).
    pub parked_ns: AtomicU64,
    /// Faults handled synchronously because the task's previous queued fault was for
    /// the same page (swapped out again before the task re-executed its access).
    pub repeated: AtomicU64,
}

/// The async page fault machinery of one machine: the queue, the workers, the
/// per-hart outstanding counts.
pub struct AsyncPf {
    tx: StdMutex<Option<crossbeam_channel::Sender<Work>>>,
    /// Per task, the page its last queued fault was for: the fault it takes there after
    /// "page ready" is handled synchronously (see [`AsyncPf::setup`]).
    last: StdMutex<std::collections::HashMap<u32, u64>>,
    workers: StdMutex<Vec<JoinHandle<()>>>,
    outstanding: Arc<[AtomicU32]>,
    stats: Arc<AsyncPfStats>,
}

impl std::fmt::Debug for AsyncPf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPf")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl AsyncPf {
    /// Starts the workers for a machine of `nharts` harts whose shootdowns go through
    /// `smp`.
    pub fn start(nharts: usize, smp: &Arc<Smp>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Work>();
        let outstanding: Arc<[AtomicU32]> = (0..nharts).map(|_| AtomicU32::new(0)).collect();
        let stats = Arc::new(AsyncPfStats::default());
        let workers = (0..WORKERS)
            .map(|i| {
                let rx = rx.clone();
                let smp = Arc::clone(smp);
                let outstanding = Arc::clone(&outstanding);
                let stats = Arc::clone(&stats);
                std::thread::Builder::new()
                    .name(format!("async-pf-{i}"))
                    .spawn(move || {
                        // Not a hart: its id is past the harts', so every hart that may
                        // cache a translation it changes is sent the flush.
                        let _shootdown = crate::mm::install_tlb_shootdown(nharts + i, smp as _);
                        for w in rx.iter() {
                            async_pf_execute(&w);
                            stats.completed.fetch_add(1, Ordering::Relaxed);
                            stats.parked_ns.fetch_add(
                                w.queued_at.elapsed().as_nanos() as u64,
                                Ordering::Relaxed,
                            );
                            // kvm_check_async_pf_completion(): "page ready". The task
                            // is runnable before the item stops counting as
                            // outstanding, so an idle hart that finds nothing
                            // outstanding finds the task on its queue instead.
                            w.waiter.wake();
                            if let Some(c) = outstanding.get(w.hart) {
                                c.fetch_sub(1, Ordering::AcqRel);
                            }
                        }
                    })
                    .expect("spawn an async page fault worker")
            })
            .collect();
        Self {
            last: StdMutex::new(std::collections::HashMap::new()),
            tx: StdMutex::new(Some(tx)),
            workers: StdMutex::new(workers),
            outstanding,
            stats,
        }
    }

    /// `kvm_setup_async_pf()`: queues the fault of the task whose sleep is `waiter` at
    /// `va` (`write`) in `mm`, taken on hart `hart`. Returns `false` — nothing queued, the
    /// caller handles the fault synchronously — when the hart has
    /// [`ASYNC_PF_PER_VCPU`] outstanding, the workers are gone, or the task's previous
    /// queued fault was for the same page: the page came in but was swapped out again
    /// before the task re-executed its access (another thread's `MADV_PAGEOUT` in a
    /// loop, reclaim). Going asynchronous again could repeat forever; KVM avoids it by
    /// faulting the page in for the vCPU at "page ready" (`kvm_arch_async_page_ready()`)
    /// and by halting on a repeated fault, and here the retry faults it in on the hart,
    /// where the access follows the fault at once.
    pub fn setup(
        &self,
        hart: usize,
        waiter: Arc<WaitTask>,
        mm: MmGrab,
        va: u64,
        write: bool,
    ) -> bool {
        let page = va & !(devices::PAGE_SIZE - 1);
        let tid = waiter.tid();
        if let Ok(mut last) = self.last.lock() {
            if last.remove(&tid) == Some(page) {
                self.stats.repeated.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            last.insert(tid, page);
        }
        let Some(count) = self.outstanding.get(hart) else {
            return false;
        };
        if count.fetch_add(1, Ordering::AcqRel) >= ASYNC_PF_PER_VCPU {
            count.fetch_sub(1, Ordering::AcqRel);
            self.stats.sync_fallbacks.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let work = Work {
            waiter,
            mm,
            va,
            write,
            hart,
            queued_at: Instant::now(),
        };
        let sent = self
            .tx
            .lock()
            .ok()
            .and_then(|tx| tx.as_ref().map(|tx| tx.send(work).is_ok()))
            .unwrap_or(false);
        if !sent {
            count.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Faults queued and not completed yet, over every hart.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .sum()
    }

    /// The counters.
    pub fn stats(&self) -> &AsyncPfStats {
        &self.stats
    }

    /// Stops the workers once the queue is empty and waits for them (`kvm_async_pf_deinit()`
    /// at the run's end: every item finished, its references given back).
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let workers = self
            .workers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for w in workers {
            let _ = w.join();
        }
    }
}

impl Drop for AsyncPf {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `async_pf_execute()`: faults the page in on the worker, under the read side of the
/// address space's `mmap_lock`, as `get_user_pages_remote()` does for KVM (`FOLL_WRITE`
/// for a store: KVM always asks for it, its memslots being writable; a load here may be
/// in a read-only VMA). The page reference GUP took is dropped at once: the fault's
/// work — the swap read, the PTE — is what was wanted.
fn async_pf_execute(w: &Work) {
    let Some(users) = w.mm.mmget_not_zero() else {
        return;
    };
    {
        let mut g = users.mmap_read_lock();
        let flags = if w.write {
            FollFlags::WRITE
        } else {
            FollFlags::empty()
        };
        if let Ok(pages) = crate::mm::gup::get_user_pages_remote(&mut g, w.va, 1, flags) {
            let phys = std::sync::Arc::clone(g.phys());
            for p in pages {
                crate::mm::gup::put_page(&phys, p);
            }
        }
        // A COW break the fault made is flushed already (the worker's shootdown); what
        // the path gathered besides goes now.
        g.flush_gather_posted();
    }
    drop(users);
}

impl Kernel<'_> {
    /// `kvm_setup_async_pf()` for task `tid` (live in `hart`), whose user fault at `va`
    /// (`access`) must read its page from swap: the fault is queued for a worker and the
    /// task sleeps ([`WaitOn::AsyncPf`]) until the page is in; the hart goes on with
    /// another task. With a signal pending the access is simply re-executed after it;
    /// with [`ASYNC_PF_PER_VCPU`] outstanding on this hart, or no workers, the fault is
    /// handled here and now (its kernel work charged to the hart as any fault's).
    pub(super) fn kvm_setup_async_pf(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        va: u64,
        access: mmu::AccessType,
    ) -> Option<(u8, i32, u64)> {
        let users = self.tasks.get(&tid)?.mm.clone()?;
        if self.signal_pending(tid) {
            return None;
        }
        let write = FaultFlags::for_user_access(access).contains(FaultFlags::WRITE);
        let waiter = WaitTask::new(tid, Arc::clone(&self.waker));
        let mut pt = PollTable::default();
        pt.arm(Arc::clone(&waiter), false);
        let queued = self
            .async_pf
            .as_ref()
            .is_some_and(|a| a.setup(hart.hart_id(), waiter, users.mmgrab(), va, write));
        if !queued {
            let before = self.phys.events().snapshot();
            let r = super::user_fault(self.smp, hart, &users, va, access, false);
            self.charge_kernel_work(hart, &before);
            drop(users);
            return self.user_fault_result(hart, tid, va, access, r);
        }
        drop(users);
        self.set_io_wait(tid, pt);
        self.block(tid, WaitOn::AsyncPf, hart);
        None
    }
}
