//! Per-hart ("per-CPU") kernel state, and how a system call stops at a scheduling point
//! and later resumes where it stopped.
//!
//! Each hart enters the kernel on its own host thread, so the state here is thread-local:
//! Linux's per-CPU variables. It holds the scheduling policy of this hart's
//! `need_resched()` and, while a system call runs, its resume state.
//!
//! A system call runs to completion on the host thread; a task cannot sleep in the middle
//! of one with its kernel stack kept. Where Linux may reschedule inside a call —
//! [`cond_resched`] at the top of the `__get_user_pages()` retry loop, where another thread
//! can run between `faultin_page()` and the next `follow_page_mask()` (the Dirty COW
//! window) — this kernel ends the call with `-ERESTARTNOINTR` instead and keeps what the
//! call needs to continue exactly there ([`Resume`]: the bytes already copied, the GUP
//! address and its `foll_flags` as `faultin_page()` left them). The call is re-issued (the
//! pc stays at its `ecall`), the resume state is handed back to it, and it continues from
//! the point after `cond_resched()`. Between the two halves the scheduler runs other
//! threads, on this hart or another: the window Linux's `cond_resched()` opens.
//!
//! Only calls that know how to resume ([`ResumableSection`]: `/proc/<pid>/mem` reads and
//! writes) stop; elsewhere [`cond_resched`] is a no-op, as on a kernel without
//! preemption whose `need_resched` is clear.
//!
//! A call may also hand its hart work to do *without the kernel lock*
//! ([`defer_unlocked`]: the lockless `gup_fast()` walks of the gup_test fast benchmarks)
//! and stop; the hart drops the lock, runs it, takes the lock again and re-issues the
//! call at once (no return to user mode), which picks the work's result up
//! ([`take_unlocked_result`]) and finishes. A result nobody picks up (the thread was
//! killed meanwhile) is dropped, and its `Drop` releases what it holds.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mm::FollFlags;

/// Where a stopped system call continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resume {
    /// Bytes the call had completed before it stopped.
    pub progress: usize,
    /// The `__get_user_pages()` position it stopped at: the address and `foll_flags`
    /// (which the generation's `faultin_page()` fixup may have changed).
    pub gup: Option<(u64, FollFlags)>,
}

/// A counter kept per hart (Linux's `struct percpu_counter`, or a `DEFINE_PER_CPU`
/// statistic such as `lock_stat`'s `cpu_lock_stats`): [`PerCpuCounter::add`] adds to the
/// calling hart's own slot, on a cache line of its own, so harts counting the same event
/// at once do not pull one cache line back and forth (one shared atomic counted at every
/// page fault on two harts did); [`PerCpuCounter::sum`] adds the slots up
/// (`percpu_counter_sum()`). Threads that are no hart's share one extra slot.
#[derive(Debug)]
pub struct PerCpuCounter {
    slots: [CounterSlot; crate::config::MAX_HARTS + 1],
}

/// One hart's slot of a [`PerCpuCounter`], alone on its cache line.
#[derive(Debug)]
#[repr(align(64))]
struct CounterSlot(AtomicU64);

impl PerCpuCounter {
    /// A counter at zero (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            slots: [const { CounterSlot(AtomicU64::new(0)) }; crate::config::MAX_HARTS + 1],
        }
    }

    /// Adds `n` on this hart's slot (`this_cpu_add()`).
    #[inline]
    pub fn add(&self, n: u64) {
        let i = this_cpu_slot();
        if let Some(slot) = self.slots.get(i) {
            slot.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The total over every slot (`percpu_counter_sum()`): exact once the counting has
    /// stopped, a value it passed through otherwise.
    pub fn sum(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |t, s| t.wrapping_add(s.0.load(Ordering::Relaxed)))
    }
}

impl Default for PerCpuCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-hart data (`DEFINE_PER_CPU`): one `T` for each hart of a machine, each on cache
/// lines of its own, so that harts updating their own never pull a line back and forth.
/// A hart reaches its own by its id ([`PerCpuVar::cpu`], `per_cpu_ptr(p, cpu)`; the id is
/// explicit, as the kernel knows which hart it runs on: `smp_processor_id()`), and a
/// reader — the end of the run, a report — goes over all of them ([`PerCpuVar::iter`],
/// `for_each_possible_cpu()`).
#[derive(Debug)]
pub struct PerCpuVar<T> {
    slots: Box<[PerCpuVarSlot<T>]>,
}

/// One hart's `T` of a [`PerCpuVar`], starting a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PerCpuVarSlot<T>(T);

impl<T: Default> PerCpuVar<T> {
    /// A default `T` for each of `nr_cpus` harts (at least one).
    pub fn new(nr_cpus: usize) -> Self {
        Self {
            slots: (0..nr_cpus.max(1))
                .map(|_| PerCpuVarSlot::default())
                .collect(),
        }
    }
}

impl<T> PerCpuVar<T> {
    /// Hart `cpu`'s `T` (`per_cpu_ptr()`); an id past the last hart gets the last one's.
    pub fn cpu(&self, cpu: usize) -> &T {
        let last = self.slots.len().saturating_sub(1);
        &self.slots[cpu.min(last)].0
    }

    /// Every hart's `T`, by hart id.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|s| &s.0)
    }
}

/// A statistic of one hart that only that hart adds to (a `DEFINE_PER_CPU` counter and
/// `this_cpu_add()`): the add is a plain load and store, not a read-modify-write —
/// no locked instruction, no lock — because no other thread adds to it; any thread may
/// read it ([`LocalCounter::get`]) and sees a value it passed through. Kept in a
/// [`PerCpuVar`], one per hart, whose readers add them up (`percpu_counter_sum()`). A
/// counter that any thread adds to is a [`PerCpuCounter`].
#[derive(Debug, Default)]
pub struct LocalCounter(AtomicU64);

impl LocalCounter {
    /// Adds `n` (wrapping). Only the owning hart's thread calls it.
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds one (`this_cpu_inc()`).
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// The count so far.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `need_resched()` of this hart: asked at each scheduling point.
pub type ReschedPolicy = Box<dyn FnMut() -> bool>;

/// Work a system call hands to its hart to run without the kernel lock; its result goes
/// back to the re-issued call.
pub type UnlockedWork = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

#[derive(Default)]
struct PerCpu {
    policy: Option<ReschedPolicy>,
    /// Inside a call that can stop and resume.
    resumable: bool,
    /// Handed to the running call at entry (consumed piece by piece).
    resume: Option<Resume>,
    /// Set when the running call stopped at a scheduling point.
    stopped: Option<Resume>,
    /// The running call is a resumed one: it has just been rescheduled (a fresh time
    /// slice), so it does not stop again.
    resumed: bool,
    /// This thread is a hart that can run work without the kernel lock.
    unlocked_allowed: bool,
    /// Work the running call handed over ([`defer_unlocked`]).
    unlocked: Option<UnlockedWork>,
    /// The result of that work, for the re-issued call.
    unlocked_result: Option<Box<dyn Any + Send>>,
}

thread_local! {
    static CPU: RefCell<PerCpu> = RefCell::new(PerCpu::default());
    /// This thread's hart id ([`set_smp_processor_id`]).
    static CPU_ID: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Makes this thread hart `id`'s (`None`: no hart's, as at the end of its run): what
/// [`smp_processor_id`] returns from now on. Set by each hart thread when it starts.
pub fn set_smp_processor_id(id: Option<usize>) {
    CPU_ID.with(|c| c.set(id));
}

/// `smp_processor_id()`: the hart this thread runs the kernel for, `None` on a thread
/// that is no hart's (a unit test, a host worker). Per-hart data (the page allocator's
/// per-CPU free lists) is indexed by it; a hart thread never migrates, so, unlike
/// Linux, no `preempt_disable()` is needed to keep it valid.
#[inline]
pub fn smp_processor_id() -> Option<usize> {
    CPU_ID.with(Cell::get)
}

/// `nr_cpu_ids`: the most harts a machine of this host process has booted with (it only
/// grows), for per-hart data allocated per object (an address space's fault counters)
/// that need not have a slot for every possible hart: a hart beyond the slots shares the
/// last one, as threads that are no hart's do. At least 1.
pub fn nr_cpu_ids() -> usize {
    NR_CPU_IDS.load(Ordering::Relaxed).max(1)
}

/// A machine boots with `n` harts ([`nr_cpu_ids`]).
pub fn set_nr_cpu_ids(n: usize) {
    NR_CPU_IDS.fetch_max(n.min(crate::config::MAX_HARTS), Ordering::Relaxed);
}

static NR_CPU_IDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The slot of this thread in per-hart data of `MAX_HARTS + 1` slots (a
/// [`PerCpuCounter`], an address space's fault counters): its hart's, or the last one,
/// shared by threads that are no hart's and by ids out of range.
#[inline]
pub fn this_cpu_slot() -> usize {
    let last = crate::config::MAX_HARTS;
    smp_processor_id().map_or(last, |id| id.min(last))
}

/// Installs this hart's `need_resched()` (`None`: never reschedule inside a call).
pub fn set_resched_policy(policy: Option<ReschedPolicy>) {
    CPU.with(|c| c.borrow_mut().policy = policy);
}

/// At system-call entry: the resume state of the call being re-issued, if it stopped.
pub fn enter_syscall(resume: Option<Resume>) {
    CPU.with(|c| {
        let mut c = c.borrow_mut();
        c.resumed = resume.is_some();
        c.resume = resume;
        c.stopped = None;
    });
}

/// At system-call exit: the resume state if the call stopped at a scheduling point
/// (it returned `ERESTARTNOINTR`), else `None`. Clears what is left (an unlocked work's
/// result the call did not take is dropped).
pub fn exit_syscall() -> Option<Resume> {
    let (stopped, unused) = CPU.with(|c| {
        let mut c = c.borrow_mut();
        c.resume = None;
        let stopped = c
            .stopped
            .take()
            .or_else(|| c.unlocked.is_some().then(Resume::default));
        (stopped, c.unlocked_result.take())
    });
    drop(unused);
    stopped
}

/// Marks this thread as a hart that can run work without the kernel lock.
pub fn set_unlocked_allowed(allowed: bool) {
    CPU.with(|c| c.borrow_mut().unlocked_allowed = allowed);
}

/// Whether the running call may hand work to its hart ([`defer_unlocked`]).
pub fn unlocked_allowed() -> bool {
    CPU.with(|c| c.borrow().unlocked_allowed)
}

/// Runs `f`, a call this hart serves without the kernel lock already, with handing
/// work over off ([`unlocked_allowed`] `false` for its length): what the call would
/// hand over it runs inline.
pub fn already_unlocked<R>(f: impl FnOnce() -> R) -> R {
    let allowed = unlocked_allowed();
    set_unlocked_allowed(false);
    let r = f();
    set_unlocked_allowed(allowed);
    r
}

/// Hands `work` to this hart to run without the kernel lock; the caller then returns
/// `ERESTARTNOINTR`, and is re-issued with the result ([`take_unlocked_result`]).
pub fn defer_unlocked(work: UnlockedWork) {
    CPU.with(|c| c.borrow_mut().unlocked = Some(work));
}

/// Whether the running (or last) call handed work over that the hart has not taken.
pub fn has_unlocked() -> bool {
    CPU.with(|c| c.borrow().unlocked.is_some())
}

/// Drops a result no call took (its thread is gone): its `Drop` releases what it holds.
pub fn clear_unlocked_result() {
    let old = CPU.with(|c| c.borrow_mut().unlocked_result.take());
    drop(old);
}

/// The work the last call handed over, if any (for the hart).
pub fn take_unlocked() -> Option<UnlockedWork> {
    CPU.with(|c| c.borrow_mut().unlocked.take())
}

/// Hands the work's result to the call about to be re-issued.
pub fn set_unlocked_result(r: Box<dyn Any + Send>) {
    let old = CPU.with(|c| c.borrow_mut().unlocked_result.replace(r));
    drop(old);
}

/// The result of the work this call handed over before it was re-issued, if it is a `T`.
pub fn take_unlocked_result<T: Any>() -> Option<Box<T>> {
    let r = CPU.with(|c| c.borrow_mut().unlocked_result.take())?;
    r.downcast::<T>().ok()
}

/// A call that can stop at a scheduling point and resume, for as long as it lives.
#[derive(Debug)]
pub struct ResumableSection(());

impl ResumableSection {
    /// Enters the section; returns it and the bytes a previous, stopped instance of the
    /// call completed.
    pub fn enter() -> (Self, usize) {
        let progress = CPU.with(|c| {
            let mut c = c.borrow_mut();
            c.resumable = true;
            c.resume.as_ref().map_or(0, |r| r.progress)
        });
        (Self(()), progress)
    }

    /// Whether the call stopped at a scheduling point (it must return
    /// `ERESTARTNOINTR` at once); `progress` is recorded as the bytes it completed.
    pub fn stopped(&self, progress: usize) -> bool {
        CPU.with(|c| {
            let mut c = c.borrow_mut();
            match c.stopped.as_mut() {
                Some(s) => {
                    s.progress = progress;
                    true
                }
                None => false,
            }
        })
    }
}

impl Drop for ResumableSection {
    fn drop(&mut self) {
        CPU.with(|c| c.borrow_mut().resumable = false);
    }
}

/// The `foll_flags` to resume `__get_user_pages()` with at `addr`, if the re-issued call
/// stopped there (consumed: `None` afterwards). The caller continues after its
/// `cond_resched()`, with the page lookup.
pub fn gup_resume(addr: u64) -> Option<FollFlags> {
    CPU.with(|c| {
        let mut c = c.borrow_mut();
        let r = c.resume.as_mut()?;
        match r.gup {
            Some((a, flags)) if a == addr => {
                r.gup = None;
                Some(flags)
            }
            _ => None,
        }
    })
}

/// `cond_resched()` in the `__get_user_pages()` loop, about to look up `addr` with
/// `foll_flags`: returns `true` if the call must stop here (a resumable call, and this
/// hart's `need_resched()` says another thread should run); the position is kept for
/// [`gup_resume`]. A resumed call has just been rescheduled and runs on to completion
/// (its `need_resched` is clear for a fresh time slice).
pub fn cond_resched(addr: u64, foll_flags: FollFlags) -> bool {
    CPU.with(|c| {
        let mut c = c.borrow_mut();
        if !c.resumable || c.resumed || c.stopped.is_some() {
            return false;
        }
        let yes = c.policy.as_mut().is_some_and(|p| p());
        if yes {
            c.stopped = Some(Resume {
                progress: 0,
                gup: Some((addr, foll_flags)),
            });
        }
        yes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_kept_only_inside_a_resumable_section() {
        set_resched_policy(Some(Box::new(|| true)));
        enter_syscall(None);
        assert!(!cond_resched(0x1000, FollFlags::WRITE));
        let (section, progress) = ResumableSection::enter();
        assert_eq!(progress, 0);
        assert!(cond_resched(0x1000, FollFlags::FORCE));
        assert!(section.stopped(7));
        drop(section);
        let r = exit_syscall().expect("stopped");
        assert_eq!(r.progress, 7);
        assert_eq!(r.gup, Some((0x1000, FollFlags::FORCE)));
        // Re-issued: the progress and the GUP position come back once.
        enter_syscall(Some(r));
        let (_section, progress) = ResumableSection::enter();
        assert_eq!(progress, 7);
        assert_eq!(gup_resume(0x2000), None);
        assert_eq!(gup_resume(0x1000), Some(FollFlags::FORCE));
        assert_eq!(gup_resume(0x1000), None);
        assert!(
            !cond_resched(0x1000, FollFlags::FORCE),
            "a resumed call runs on"
        );
        set_resched_policy(None);
        assert!(!cond_resched(0x1000, FollFlags::FORCE));
        assert_eq!(exit_syscall(), None);
    }

    #[test]
    fn per_cpu_data_is_one_slot_per_hart_each_on_its_own_cache_line() {
        let p: PerCpuVar<LocalCounter> = PerCpuVar::new(3);
        std::thread::scope(|s| {
            for id in 0..3 {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..1000 {
                        p.cpu(id).add(id as u64 + 1);
                    }
                });
            }
        });
        let counts: Vec<u64> = p.iter().map(LocalCounter::get).collect();
        assert_eq!(
            counts,
            [1000, 2000, 3000],
            "no add lost: one writer per slot"
        );
        let a = std::ptr::from_ref(p.cpu(0)) as usize;
        let b = std::ptr::from_ref(p.cpu(1)) as usize;
        assert!(
            b - a >= 64 && a.is_multiple_of(64),
            "slots on lines of their own"
        );
        assert_eq!(p.cpu(7).get(), 3000, "an id past the last: the last slot");
        assert_eq!(PerCpuVar::<LocalCounter>::new(0).iter().count(), 1);
    }

    #[test]
    fn a_per_cpu_counter_sums_every_harts_slot_and_the_others() {
        static C: PerCpuCounter = PerCpuCounter::new();
        std::thread::scope(|s| {
            for id in [Some(0), Some(3), None, Some(crate::config::MAX_HARTS + 5)] {
                s.spawn(move || {
                    set_smp_processor_id(id);
                    for _ in 0..1000 {
                        C.add(2);
                    }
                });
            }
        });
        assert_eq!(C.sum(), 8000);
        assert_eq!(C.slots[0].0.load(Ordering::Relaxed), 2000);
        assert_eq!(C.slots[3].0.load(Ordering::Relaxed), 2000);
        assert_eq!(
            C.slots[crate::config::MAX_HARTS].0.load(Ordering::Relaxed),
            4000,
            "no hart's, and an id out of range, share the last slot"
        );
    }
}
