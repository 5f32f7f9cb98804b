//! Futexes (`kernel/futex/`): the hash table of waiters with a lock per bucket
//! (`futex_hash_bucket`), keyed like Linux's `futex_key`; the decoding and checks of
//! `futex(uaddr, op, val, timeout|val2, uaddr2, val3)`; and the operations themselves
//! ([`do_futex`]: `futex_wait_setup()`, `futex_wake()`, `futex_requeue()`), which need
//! neither the kernel lock nor the scheduler.
//!
//! # The table
//! [`FutexHash`] is shared kernel state outside `struct Kernel`: an `Arc` that every hart
//! reaches, with or without the kernel lock. A key hashes to one bucket
//! (`futex_hash()`); each bucket has its own lock (`hb->lock`, lock class
//! [`crate::lockstat::HB_LOCK`]) over its list of waiters (`hb->chain`), in the order they
//! queued (Linux's `plist` of equal-priority waiters is FIFO). A waiter is a
//! [`FutexQ`] (`struct futex_q`), shared between the bucket and the sleeping task: its
//! `lock_ptr` names the bucket it is queued on, and is cleared by whoever takes it off
//! — a waker (`futex_wake_mark()`) or the waiter itself (`futex_unqueue()`, on a timeout
//! or a signal) — under that bucket's lock, so exactly one of them does. `FUTEX_REQUEUE`
//! moves a waiter to another bucket holding both locks, the lower-numbered first
//! (`double_lock_hb()`), and the waiter's `futex_unqueue()` follows it there (it re-reads
//! `lock_ptr` after taking the lock, as Linux does).
//!
//! # Waking
//! A waker does not make anyone runnable: it takes the woken waiters off their bucket,
//! marks them (`lock_ptr` cleared) and adds them to its `wake_q` ([`WakeList`]); making
//! them runnable is `wake_up_q()`'s, which the kernel runs under its lock (the waiter's task
//! state is there): a waker without the kernel lock queues its `wake_q` on the kernel's
//! lock-free wake list, as it queues a deferred `fput()`, and does not wait for the
//! kernel lock (`kernel.rs`, `run_user`; `kernel/ttwu.rs`). The kernel completes a
//! handed-back waiter's wait only if that [`FutexQ`] is still the one its task sleeps on
//! (the wait may have ended meanwhile — by its own check of the mark, a timeout, a
//! signal — and the task may even sleep in a new wait).
//!
//! # No lost wake-ups
//! A waiter that must sleep reads its word under its bucket's lock and queues itself
//! before releasing it ([`FutexHash::wait_setup`]): a waker that changed the word
//! before that read makes the wait return `EAGAIN`; one that changes it after finds the
//! waiter queued. Between the queueing and the sleep (the kernel lock's `block()`), a
//! wake marks the [`FutexQ`]: the kernel checks the mark before it puts the task to
//! sleep, and a wake that lands after it is handed back and completes the sleep.
//!
//! # Reading the word
//! Linux reads the word under `hb->lock` with page faults disabled
//! (`futex_get_value_locked()`), and on a fault drops the lock, faults the page in with
//! `get_user()` and starts over. [`FutexWord`] is that pair of reads; for an address space
//! ([`MmStruct`]) the read under the lock is a hardware-walker load that never faults
//! a page in, under the `mmap_lock`'s read side taken by trylock (a trylock may be taken
//! under anything: `crate::sync`'s lock order), and the faulting read is an ordinary
//! `copy_from_user()` with no bucket lock held.
//!
//! # Keys
//! (`get_futex_key()`, [`get_futex_key`]): a private futex (`FUTEX_PRIVATE_FLAG`, or any
//! futex in a private mapping) is `(mm, address)`; a futex in a `MAP_SHARED` mapping
//! without the private flag is `(page frame, offset)`, so processes that map the same page
//! at different addresses meet on it. Linux keys a shared file page by `(inode, index)`;
//! the frame is the same identity while the page is resident, which it is while a waiter
//! sleeps on it in this kernel (no reclaim of mapped shared pages under a sleeping waiter
//! is modelled). The key is taken before the bucket lock, under the `mmap_lock`'s read
//! side (and GUP for a shared futex), which is released first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use devices::GuestPhysAddr;
use mmu::{walk, AccessType, GuestVirtAddr, PrivCtx};

use crate::mm::MmStruct;
use crate::sync::{Mutex, MutexGuard};
use crate::uaccess::UserAccess;

use crate::errno::{Errno, KResult};

/// `FUTEX_WAIT`.
pub const FUTEX_WAIT: u32 = 0;
/// `FUTEX_WAKE`.
pub const FUTEX_WAKE: u32 = 1;
/// `FUTEX_REQUEUE`.
pub const FUTEX_REQUEUE: u32 = 3;
/// `FUTEX_CMP_REQUEUE`.
pub const FUTEX_CMP_REQUEUE: u32 = 4;
/// `FUTEX_WAIT_BITSET`.
pub const FUTEX_WAIT_BITSET: u32 = 9;
/// `FUTEX_WAKE_BITSET`.
pub const FUTEX_WAKE_BITSET: u32 = 10;
/// `FUTEX_PRIVATE_FLAG`.
pub const FUTEX_PRIVATE_FLAG: u64 = 128;
/// `FUTEX_CLOCK_REALTIME`.
pub const FUTEX_CLOCK_REALTIME: u64 = 256;
/// `FUTEX_BITSET_MATCH_ANY`.
pub const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;

/// What a futex word is identified by (`union futex_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// A private futex: the address space ([`crate::mm::Mm::id`]) and the user address.
    Private {
        /// The address space's id.
        mm: u64,
        /// The futex word's user address.
        addr: u64,
    },
    /// A shared futex: the page frame number holding the word and the offset in it.
    Shared {
        /// Page frame number.
        pfn: u64,
        /// Byte offset in the page.
        offset: u64,
    },
}

/// A decoded `futex` op: the command and its flags (`do_futex()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutexOp {
    /// `FUTEX_WAIT`, `FUTEX_WAKE`, …
    pub cmd: u32,
    /// `FUTEX_PRIVATE_FLAG` was given.
    pub private: bool,
    /// `FUTEX_CLOCK_REALTIME` was given (the timeout is against CLOCK_REALTIME).
    pub realtime: bool,
}

impl FutexOp {
    /// The bitset a wait or wake of this op goes with: `val3` for `FUTEX_WAIT_BITSET` and
    /// `FUTEX_WAKE_BITSET`, [`FUTEX_BITSET_MATCH_ANY`] for the others (`do_futex()`).
    ///
    /// # Errors
    /// `EINVAL` for a zero bitset (`futex_wait()`, `futex_wake()`).
    pub fn bitset(&self, val3: u32) -> KResult<u32> {
        let bitset = match self.cmd {
            FUTEX_WAIT_BITSET | FUTEX_WAKE_BITSET => val3,
            _ => FUTEX_BITSET_MATCH_ANY,
        };
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        Ok(bitset)
    }
}

/// Decodes `op` as `do_futex()` does.
///
/// # Errors
/// `ENOSYS` for a command this kernel does not implement (`FUTEX_WAKE_OP`, the PI
/// commands, `FUTEX_FD`, unknown ones) and for `FUTEX_CLOCK_REALTIME` with a command other
/// than `FUTEX_WAIT_BITSET` (Linux's rule).
pub fn decode_op(op: u64) -> KResult<FutexOp> {
    let cmd = (op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)) as u32;
    if op >> 32 != 0 {
        return Err(Errno::ENOSYS);
    }
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    match cmd {
        FUTEX_WAIT | FUTEX_WAKE | FUTEX_REQUEUE | FUTEX_CMP_REQUEUE | FUTEX_WAIT_BITSET
        | FUTEX_WAKE_BITSET => {}
        _ => return Err(Errno::ENOSYS),
    }
    if realtime && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    Ok(FutexOp {
        cmd,
        private: op & FUTEX_PRIVATE_FLAG != 0,
        realtime,
    })
}

/// Checks a futex address (`get_futex_key()`): 4-byte aligned.
///
/// # Errors
/// `EINVAL` for a misaligned address.
pub fn check_uaddr(uaddr: u64) -> KResult<()> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A `struct timespec` as nanoseconds (`timespec64_valid()`).
///
/// # Errors
/// `EINVAL` for a negative second count or `tv_nsec` outside `0..1e9`.
pub fn timespec_ns(sec: u64, nsec: u64) -> KResult<u64> {
    if (sec as i64) < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(sec.saturating_mul(1_000_000_000).saturating_add(nsec))
}

/// A `FUTEX_WAIT` that would sleep gives up after this many rounds of "the read under
/// the bucket lock faulted, the page was faulted in, try again" and returns `EAGAIN` (a
/// spurious return, which `futex(2)` callers must handle anyway): an address space
/// whose page another thread unmaps at every round cannot keep a hart here.
const MAX_WORD_RETRIES: usize = 64;

/// [`FutexQ::lock_ptr`] of a waiter on no bucket (`q->lock_ptr == NULL`): woken, or
/// taken off by itself.
const UNQUEUED: usize = usize::MAX;

/// The two ways of reading a futex word (`u32` at a user address): under a bucket lock
/// with page faults disabled, and without it, faulting the page in.
pub trait FutexWord {
    /// `futex_get_value_locked()`: the word at `uaddr`, or `None` if reading it would
    /// fault (or cannot be done without waiting: the caller retries outside the lock).
    fn read_nofault(&self, uaddr: u64) -> Option<u32>;

    /// `get_user()`: the word at `uaddr`, faulting its page in.
    ///
    /// # Errors
    /// `EFAULT` for an address that cannot be read.
    fn read(&self, uaddr: u64) -> KResult<u32>;
}

impl FutexWord for MmStruct {
    fn read_nofault(&self, uaddr: u64) -> Option<u32> {
        let mm = self.mmap_read_trylock()?;
        if !mm.access_ok(uaddr, 4) {
            return None;
        }
        let mut counters = mmu::MmuCounters::default();
        let gva = GuestVirtAddr(uaddr);
        let t = walk(
            &mm.phys().ram,
            mm.satp(),
            gva,
            AccessType::Load,
            PrivCtx::KERNEL_UACCESS,
            mm.ad_scheme(),
            &mut counters,
        )
        .ok()?;
        let pa: GuestPhysAddr = t.pa(gva);
        mm.phys().ram.load_u32(pa, Ordering::Acquire).ok()
    }

    fn read(&self, uaddr: u64) -> KResult<u32> {
        let mut word = [0u8; 4];
        let mut u: &MmStruct = self.uaccess();
        u.copy_from_user(uaddr, &mut word)?;
        Ok(u32::from_le_bytes(word))
    }
}

/// `get_futex_key()`: the key of the futex word at `uaddr` in address space `mm` —
/// `(mm, uaddr)` when `private` or the mapping is private, `(frame, offset)` for a
/// `MAP_SHARED` mapping (the frame found by GUP, which faults it in). Takes the read side
/// of `mm`'s `mmap_lock` and releases it; the caller holds no side of it.
///
/// # Errors
/// `EINVAL` for a misaligned address, `EFAULT` for an address outside the address
/// space or a shared page that cannot be faulted in.
pub fn get_futex_key(mm_struct: &MmStruct, uaddr: u64, private: bool) -> KResult<FutexKey> {
    check_uaddr(uaddr)?;
    // The read side: the key is looked up, nothing of the VMAs changes.
    let mm = mm_struct.mmap_read_lock();
    if !mm.access_ok(uaddr, 4) {
        return Err(Errno::EFAULT);
    }
    let shared = !private
        && mm
            .vmas()
            .find_vma(uaddr)
            .is_some_and(|v| v.start <= uaddr && v.flags.contains(crate::mm::VmFlags::SHARED));
    if !shared {
        return Ok(FutexKey::Private {
            mm: mm.id(),
            addr: uaddr,
        });
    }
    let page = uaddr & !0xfff;
    let phys = Arc::clone(mm.phys());
    // Taken again as GUP takes it (counted): a VMA gone meanwhile is GUP's EFAULT.
    drop(mm);
    let mut guard = mm_struct.gup_read_lock();
    let pfns =
        crate::mm::gup::get_user_pages(&mut guard, page, 1, crate::mm::gup::FollFlags::empty())?;
    guard.unlock();
    let pfn = *pfns.first().ok_or(Errno::EFAULT)?;
    for &p in &pfns {
        crate::mm::gup::put_page(&phys, p);
    }
    Ok(FutexKey::Shared {
        pfn: pfn.0,
        offset: uaddr & 0xfff,
    })
}

/// One waiter (`struct futex_q`): shared by the bucket it is queued on and the task that
/// sleeps on it (the kernel's books of futex sleepers).
#[derive(Debug)]
pub struct FutexQ {
    /// The sleeping task.
    tid: u32,
    /// The index of the bucket it is queued on (`q->lock_ptr`), [`UNQUEUED`] once off
    /// it. Changed only under the lock of the bucket it names.
    lock_ptr: AtomicUsize,
    /// Whether its task sleeps yet, for the waker that took it (the handshake of
    /// `set_current_state()` against `try_to_wake_up()`'s read of `p->__state`): 0
    /// while the task has not gone to sleep, `seq + 1` once it sleeps as its run
    /// queue's sleep number `seq` ([`FutexQ::park`]), [`WAKE_CLAIMED`] once the waker
    /// has claimed the wake-up ([`FutexQ::claim_wake`]): [`crate::wake`].
    sleep: crate::wake::SleepHandshake,
}

impl FutexQ {
    /// The waiting task's tid.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// The task, queued on this waiter and now off its run queue as sleep number
    /// `seq`, goes to sleep: `true`; or — the waker that took the waiter claimed the
    /// wake-up before ([`FutexQ::claim_wake`]) — `false`, and the task must not sleep
    /// (nobody would wake it): its wait returns 0 at once.
    pub fn park(&self, seq: u64) -> bool {
        self.sleep.park(seq)
    }

    /// For the waker that took this waiter off its bucket (exactly one does): claims
    /// the wake-up. `Some(seq)`: the task sleeps as its run queue's sleep number `seq`
    /// and the caller wakes it (`try_to_wake_up()`); `None`: it has not gone to sleep
    /// yet, and [`FutexQ::park`] will tell it not to.
    pub fn claim_wake(&self) -> Option<u64> {
        self.sleep.claim_sleeper()
    }

    /// Whether it is off its bucket: a waker took it (`futex_wake_mark()`), or the waiter
    /// itself did ([`FutexHash::unqueue`]).
    pub fn is_woken(&self) -> bool {
        self.lock_ptr.load(Ordering::Acquire) == UNQUEUED
    }
}

/// A `wake_q`: the waiters a wake or requeue took off their buckets, to be made runnable
/// by the kernel (`wake_up_q()`) after the bucket locks are released.
pub type WakeList = Vec<Arc<FutexQ>>;

/// An entry of a bucket's list (`hb->chain`): the key and bitset the waiter waits with,
/// and the waiter.
#[derive(Debug)]
struct Queued {
    key: FutexKey,
    bitset: u32,
    q: Arc<FutexQ>,
}

/// One `futex_hash_bucket`: its lock and, under it, its waiters in queueing order.
#[derive(Debug, Default)]
struct FutexHashBucket {
    chain: Mutex<Vec<Queued>>,
}

/// The futex hash table (`futex_queues`): a fixed number of buckets, each with its own
/// lock. See the module docs.
#[derive(Debug)]
pub struct FutexHash {
    buckets: Box<[FutexHashBucket]>,
}

impl FutexHash {
    /// A table for a machine of `harts` harts: `roundup_pow_of_two(256 * harts)` buckets,
    /// as `futex_init()` sizes it for `num_possible_cpus()`.
    pub fn new(harts: usize) -> Self {
        let n = harts
            .clamp(1, 1 << 12)
            .saturating_mul(256)
            .next_power_of_two();
        Self {
            buckets: (0..n).map(|_| FutexHashBucket::default()).collect(),
        }
    }

    /// `futex_hash()`: the bucket of `key` (a multiplicative hash of its words; Linux
    /// uses `jhash2()`). Deterministic, so a seed replays the same bucket choices.
    pub fn hash(&self, key: &FutexKey) -> usize {
        let (a, b, tag) = match *key {
            FutexKey::Private { mm, addr } => (mm, addr, 1u64),
            FutexKey::Shared { pfn, offset } => (pfn, offset, 2u64),
        };
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = tag.wrapping_mul(K);
        h = (h ^ a).wrapping_mul(K);
        h = (h ^ (b >> 2)).wrapping_mul(K);
        h ^= h >> 29;
        (h as usize) & (self.buckets.len() - 1)
    }

    /// Takes bucket `idx`'s lock (`spin_lock(&hb->lock)`), counted in
    /// [`crate::lockstat::HB_LOCK`]: a scheduling point in deterministic mode, as every
    /// kernel lock.
    fn lock(&self, idx: usize) -> MutexGuard<'_, Vec<Queued>> {
        // `idx` comes from `hash()` or a waiter's lock_ptr: always in range.
        let chain = &self.buckets[idx % self.buckets.len()].chain;
        crate::lockstat::HB_LOCK.acquire(|| chain.try_lock(), || chain.lock())
    }

    /// `futex_wait_setup()` + `futex_queue()`: under the lock of `key`'s bucket, reads
    /// the word at `uaddr` (page faults disabled; on a fault the lock is dropped, the
    /// page faulted in, and it starts over) and, if it holds `val`, queues task `tid` to
    /// wait on `key` for a wake that meets `bitset`. Returns the queued waiter: the
    /// caller sleeps on it, and ends its wait with [`FutexHash::unqueue`] unless a waker
    /// took it.
    ///
    /// # Errors
    /// `EAGAIN` when the word differs from `val` (or the read kept faulting:
    /// [`MAX_WORD_RETRIES`]), `EFAULT` when it cannot be read.
    pub fn wait_setup(
        &self,
        key: FutexKey,
        uaddr: u64,
        val: u32,
        bitset: u32,
        tid: u32,
        word: &dyn FutexWord,
    ) -> KResult<Arc<FutexQ>> {
        let idx = self.hash(&key);
        for _ in 0..MAX_WORD_RETRIES {
            let mut chain = self.lock(idx);
            let Some(uval) = word.read_nofault(uaddr) else {
                drop(chain);
                word.read(uaddr)?;
                continue;
            };
            if uval != val {
                return Err(Errno::EAGAIN);
            }
            let q = Arc::new(FutexQ {
                tid,
                lock_ptr: AtomicUsize::new(idx),
                sleep: crate::wake::SleepHandshake::new(),
            });
            chain.push(Queued {
                key,
                bitset,
                q: Arc::clone(&q),
            });
            return Ok(q);
        }
        Err(Errno::EAGAIN)
    }

    /// `futex_wake()`: takes up to `nr_wake` waiters on `key` whose bitset meets
    /// `bitset` off their bucket, oldest first, marks them woken and adds them to
    /// `wake_q` (`futex_wake_mark()`). As in Linux, `nr_wake <= 0` still wakes one.
    /// Returns how many were woken.
    pub fn wake(&self, key: FutexKey, nr_wake: i32, bitset: u32, wake_q: &mut WakeList) -> u64 {
        let limit = nr_wake.max(1) as usize;
        let mut chain = self.lock(self.hash(&key));
        let mut woken = 0usize;
        chain.retain(|e| {
            if woken < limit && e.key == key && e.bitset & bitset != 0 {
                woken += 1;
                futex_wake_mark(&e.q, wake_q);
                false
            } else {
                true
            }
        });
        woken as u64
    }

    /// `futex_requeue()` (not PI): with both buckets locked (`double_lock_hb()`), checks
    /// the word at `uaddr` against `cmp` if given (`FUTEX_CMP_REQUEUE`; the read as in
    /// [`FutexHash::wait_setup`]), then takes waiters on `from` in queueing order: the
    /// first `nr_wake` are woken (onto `wake_q`), the next `nr_requeue` move to `to`
    /// (`requeue_futex()`: onto `to`'s bucket, following it in `lock_ptr`). Returns how
    /// many were woken and moved.
    ///
    /// # Errors
    /// `EAGAIN` when the word differs from `cmp` (or kept faulting), `EFAULT` when it
    /// cannot be read.
    pub fn requeue(
        &self,
        from: FutexKey,
        to: FutexKey,
        nr_wake: u32,
        nr_requeue: u32,
        cmp: Option<(u64, u32, &dyn FutexWord)>,
        wake_q: &mut WakeList,
    ) -> KResult<u64> {
        let (i1, i2) = (self.hash(&from), self.hash(&to));
        for _ in 0..MAX_WORD_RETRIES {
            // double_lock_hb(): the lower-numbered bucket first; one lock if the same.
            let (mut lo, mut hi) = if i1 == i2 {
                (self.lock(i1), None)
            } else {
                let lo = self.lock(i1.min(i2));
                let hi = self.lock(i1.max(i2));
                (lo, Some(hi))
            };
            if let Some((uaddr, val, word)) = cmp {
                let Some(uval) = word.read_nofault(uaddr) else {
                    drop(hi);
                    drop(lo);
                    word.read(uaddr)?;
                    continue;
                };
                if uval != val {
                    return Err(Errno::EAGAIN);
                }
            }
            let (src, mut dst) = match hi.as_mut() {
                None => (&mut *lo, None),
                Some(hi) if i1 < i2 => (&mut *lo, Some(&mut **hi)),
                Some(hi) => (&mut **hi, Some(&mut *lo)),
            };
            let (nr_wake, limit) = (
                u64::from(nr_wake),
                u64::from(nr_wake) + u64::from(nr_requeue),
            );
            let mut count: u64 = 0;
            let mut i = 0;
            while i < src.len() && count < limit {
                if src[i].key != from {
                    i += 1;
                    continue;
                }
                count += 1;
                if count <= nr_wake {
                    let e = src.remove(i);
                    futex_wake_mark(&e.q, wake_q);
                    continue;
                }
                match dst.as_deref_mut() {
                    // requeue_futex() within one bucket: only the key changes.
                    None => {
                        src[i].key = to;
                        i += 1;
                    }
                    Some(dst) => {
                        let mut e = src.remove(i);
                        e.key = to;
                        e.q.lock_ptr.store(i2, Ordering::Release);
                        dst.push(e);
                    }
                }
            }
            return Ok(count);
        }
        Err(Errno::EAGAIN)
    }

    /// `futex_unqueue()`: the waiter `q` takes itself off its bucket (its wait ended by a
    /// timeout, a signal, its exit), under the lock of the bucket `lock_ptr` names, taken
    /// again if a requeue moved it meanwhile. Returns `true` if it was still queued;
    /// `false` if a waker took it first — the wait was woken, and returns 0.
    pub fn unqueue(&self, q: &FutexQ) -> bool {
        loop {
            let idx = q.lock_ptr.load(Ordering::Acquire);
            if idx == UNQUEUED {
                return false;
            }
            let mut chain = self.lock(idx);
            if q.lock_ptr.load(Ordering::Acquire) != idx {
                // Requeued (or woken) between the load and the lock: follow it.
                continue;
            }
            chain.retain(|e| !std::ptr::eq(Arc::as_ptr(&e.q), q));
            q.lock_ptr.store(UNQUEUED, Ordering::Release);
            return true;
        }
    }

    /// Number of queued waiters, over every bucket (each locked in turn).
    pub fn len(&self) -> usize {
        (0..self.buckets.len()).map(|i| self.lock(i).len()).sum()
    }

    /// Whether no one waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `futex_wake_mark()`: `q`, just taken off its bucket under the bucket's lock, is marked
/// woken (`lock_ptr` cleared) and added to `wake_q`.
fn futex_wake_mark(q: &Arc<FutexQ>, wake_q: &mut WakeList) {
    q.lock_ptr.store(UNQUEUED, Ordering::Release);
    wake_q.push(Arc::clone(q));
}

/// The caller of a `futex` call: its address space, its tid, and the time.
pub struct FutexCaller<'a> {
    /// The caller's address space (`current->mm`).
    pub mm: &'a MmStruct,
    /// The caller's tid.
    pub tid: u32,
    /// Now, `(CLOCK_REALTIME, CLOCK_MONOTONIC)` in ns, for the timeouts.
    pub now: (u64, u64),
}

/// A `FUTEX_WAIT`/`FUTEX_WAIT_BITSET` queued and about to sleep: it sleeps until a waker
/// takes `q`, `deadline` passes, or a signal comes (`futex_wait_queue()`, the kernel's).
#[derive(Debug)]
pub struct FutexSleep {
    /// The queued waiter.
    pub q: Arc<FutexQ>,
    /// When the wait times out (CLOCK_MONOTONIC ns), if it does.
    pub deadline: Option<u64>,
}

/// What a `futex` call came to ([`do_futex`]).
#[derive(Debug)]
pub enum FutexRet {
    /// The call is done: its return value.
    Return(u64),
    /// A wait is queued and must sleep.
    Sleep(FutexSleep),
}

/// `do_futex()`: `futex(uaddr, op, val, timeout | val2, uaddr2, val3)` of `caller`, with
/// arguments `a`, for `FUTEX_WAIT`, `FUTEX_WAKE`, `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE`,
/// `FUTEX_WAIT_BITSET`, `FUTEX_WAKE_BITSET`, with `FUTEX_PRIVATE_FLAG` and
/// `FUTEX_CLOCK_REALTIME`. A wait whose word holds `val` and whose deadline is ahead is
/// queued and returned as [`FutexRet::Sleep`] (relative on CLOCK_MONOTONIC for
/// `FUTEX_WAIT`, absolute for `FUTEX_WAIT_BITSET` on CLOCK_MONOTONIC or, with the flag,
/// CLOCK_REALTIME); the waiters a wake or requeue took go to `wake_q`. The same code
/// serves the call with and without the kernel lock.
///
/// # Errors
/// `EAGAIN` when the word differs from `val` (or `val3` for `FUTEX_CMP_REQUEUE`),
/// `EINVAL` for a misaligned address, a zero bitset, a bad timeout or negative counts,
/// `EFAULT`, `ENOSYS` for other commands, `ETIMEDOUT` for a deadline already past.
pub fn do_futex(
    hash: &FutexHash,
    caller: &FutexCaller<'_>,
    a: [u64; 6],
    wake_q: &mut WakeList,
) -> KResult<FutexRet> {
    let (uaddr, val, timeout, uaddr2, val3) = (a[0], a[2] as u32, a[3], a[4], a[5] as u32);
    let op = decode_op(a[1])?;
    let mm = caller.mm;
    match op.cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = op.bitset(val3)?;
            let (real, mono) = caller.now;
            let deadline = if timeout == 0 {
                None
            } else {
                let mut u: &MmStruct = mm.uaccess();
                let sec = u.get_user_u64(timeout)?;
                let nsec = u.get_user_u64(timeout.checked_add(8).ok_or(Errno::EFAULT)?)?;
                let t = timespec_ns(sec, nsec)?;
                Some(if op.cmd == FUTEX_WAIT {
                    mono.saturating_add(t)
                } else if op.realtime {
                    // An absolute CLOCK_REALTIME deadline, on the monotonic timeline.
                    mono.saturating_add(t.saturating_sub(real))
                } else {
                    t
                })
            };
            let key = get_futex_key(mm, uaddr, op.private)?;
            let q = hash.wait_setup(key, uaddr, val, bitset, caller.tid, mm)?;
            if deadline.is_some_and(|d| d <= mono) {
                // The timer has fired already: futex_wait()'s unqueue after it.
                return if hash.unqueue(&q) {
                    Err(Errno::ETIMEDOUT)
                } else {
                    Ok(FutexRet::Return(0))
                };
            }
            Ok(FutexRet::Sleep(FutexSleep { q, deadline }))
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = op.bitset(val3)?;
            let key = get_futex_key(mm, uaddr, op.private)?;
            Ok(FutexRet::Return(hash.wake(key, val as i32, bitset, wake_q)))
        }
        _ => {
            // FUTEX_REQUEUE / FUTEX_CMP_REQUEUE: val2 is the timeout argument.
            let (nr_wake, nr_requeue) = (val as i32, timeout as u32 as i32);
            if nr_wake < 0 || nr_requeue < 0 {
                return Err(Errno::EINVAL);
            }
            let from = get_futex_key(mm, uaddr, op.private)?;
            let to = get_futex_key(mm, uaddr2, op.private)?;
            let cmp = (op.cmd == FUTEX_CMP_REQUEUE).then_some((uaddr, val3, mm as &dyn FutexWord));
            let n = hash.requeue(from, to, nr_wake as u32, nr_requeue as u32, cmp, wake_q)?;
            Ok(FutexRet::Return(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    fn k(addr: u64) -> FutexKey {
        FutexKey::Private { mm: 1, addr }
    }

    #[test]
    fn exactly_one_of_the_waiter_and_its_waker_ends_the_sleep() {
        let q = |tid| FutexQ {
            tid,
            lock_ptr: AtomicUsize::new(UNQUEUED),
            sleep: crate::wake::SleepHandshake::new(),
        };
        // The waker claims before the task sleeps: the task must not sleep.
        let early = q(1);
        assert_eq!(early.claim_wake(), None);
        assert!(!early.park(7));
        // The task sleeps first (sleep number 7): the waker gets it, once.
        let late = q(2);
        assert!(late.park(7));
        assert_eq!(late.claim_wake(), Some(7));
        assert_eq!(late.claim_wake(), None);
        assert!(!late.park(8));
        // Sleep number 0 is a sleep too.
        let zero = q(3);
        assert!(zero.park(0));
        assert_eq!(zero.claim_wake(), Some(0));
    }

    #[test]
    fn decode_rules() {
        assert_eq!(
            decode_op(u64::from(FUTEX_WAIT) | FUTEX_PRIVATE_FLAG),
            Ok(FutexOp {
                cmd: FUTEX_WAIT,
                private: true,
                realtime: false
            })
        );
        assert_eq!(
            decode_op(u64::from(FUTEX_WAIT_BITSET) | FUTEX_CLOCK_REALTIME),
            Ok(FutexOp {
                cmd: FUTEX_WAIT_BITSET,
                private: false,
                realtime: true
            })
        );
        // CLOCK_REALTIME only goes with WAIT_BITSET (and the PI commands).
        assert_eq!(
            decode_op(u64::from(FUTEX_WAIT) | FUTEX_CLOCK_REALTIME),
            Err(Errno::ENOSYS)
        );
        assert_eq!(decode_op(5), Err(Errno::ENOSYS), "FUTEX_WAKE_OP");
        assert_eq!(decode_op(6), Err(Errno::ENOSYS), "FUTEX_LOCK_PI");
        assert_eq!(decode_op(99), Err(Errno::ENOSYS));
        assert_eq!(check_uaddr(0x1002), Err(Errno::EINVAL));
        assert_eq!(check_uaddr(0x1004), Ok(()));
        assert_eq!(timespec_ns(1, 5), Ok(1_000_000_005));
        assert_eq!(timespec_ns(0, 1_000_000_000), Err(Errno::EINVAL));
        assert_eq!(timespec_ns(u64::MAX, 0), Err(Errno::EINVAL));
        // The bitset: val3 for the _BITSET commands (zero refused), all bits otherwise.
        let op = |cmd: u32| decode_op(u64::from(cmd)).unwrap();
        assert_eq!(op(FUTEX_WAIT).bitset(0), Ok(FUTEX_BITSET_MATCH_ANY));
        assert_eq!(op(FUTEX_WAKE).bitset(0b10), Ok(FUTEX_BITSET_MATCH_ANY));
        assert_eq!(op(FUTEX_WAIT_BITSET).bitset(0b10), Ok(0b10));
        assert_eq!(op(FUTEX_WAKE_BITSET).bitset(0), Err(Errno::EINVAL));
        assert_eq!(op(FUTEX_WAIT_BITSET).bitset(0), Err(Errno::EINVAL));
    }

    /// A futex word in a test: its value, how many more `read_nofault()`s fault, and
    /// whether the faulting read fails.
    struct Word {
        val: AtomicU32,
        nofault_faults: AtomicUsize,
        efault: bool,
    }

    impl Word {
        fn new(val: u32) -> Self {
            Word {
                val: AtomicU32::new(val),
                nofault_faults: AtomicUsize::new(0),
                efault: false,
            }
        }
    }

    impl FutexWord for Word {
        fn read_nofault(&self, _uaddr: u64) -> Option<u32> {
            let left = self.nofault_faults.load(Ordering::SeqCst);
            if left > 0 {
                self.nofault_faults.store(left - 1, Ordering::SeqCst);
                return None;
            }
            Some(self.val.load(Ordering::SeqCst))
        }

        fn read(&self, _uaddr: u64) -> KResult<u32> {
            if self.efault {
                return Err(Errno::EFAULT);
            }
            Ok(self.val.load(Ordering::SeqCst))
        }
    }

    impl FutexHash {
        /// The tids queued on `key`, in queueing order.
        fn waiters(&self, key: FutexKey) -> Vec<u32> {
            self.lock(self.hash(&key))
                .iter()
                .filter(|e| e.key == key)
                .map(|e| e.q.tid)
                .collect()
        }
    }

    /// Queues `tid` on `key` with `bitset` (the word holds what it expects).
    fn enqueue(h: &FutexHash, key: FutexKey, bitset: u32, tid: u32) -> Arc<FutexQ> {
        h.wait_setup(key, 0, 0, bitset, tid, &Word::new(0))
            .expect("the word holds 0")
    }

    fn tids(w: &WakeList) -> Vec<u32> {
        w.iter().map(|q| q.tid).collect()
    }

    /// Two keys whose buckets differ, and two distinct keys that share a bucket.
    fn keys_apart_and_together(h: &FutexHash) -> ((FutexKey, FutexKey), (FutexKey, FutexKey)) {
        let a = k(0x100);
        let apart = (1..)
            .map(|i| k(0x100 + 4 * i))
            .find(|b| h.hash(b) != h.hash(&a))
            .expect("some address hashes elsewhere");
        let together = (1..)
            .map(|i| k(0x100 + 4 * i))
            .find(|b| h.hash(b) == h.hash(&a))
            .expect("some address shares the bucket");
        ((a, apart), (a, together))
    }

    #[test]
    fn table_is_sized_for_the_harts_and_hashes_in_range() {
        assert_eq!(FutexHash::new(1).buckets.len(), 256);
        assert_eq!(FutexHash::new(3).buckets.len(), 1024);
        let h = FutexHash::new(2);
        for addr in (0..4096).step_by(4) {
            assert!(h.hash(&k(addr)) < 512);
            let s = FutexKey::Shared {
                pfn: addr,
                offset: addr & 0xfff,
            };
            assert!(h.hash(&s) < 512);
        }
        // Spread: 1024 consecutive words of one mm land in many buckets.
        let used: std::collections::BTreeSet<usize> =
            (0..1024).map(|i| h.hash(&k(0x1000 + 4 * i))).collect();
        assert!(used.len() > 256, "{} buckets used", used.len());
    }

    #[test]
    fn wake_n_of_m_is_fifo_counted_and_keyed() {
        let h = FutexHash::new(2);
        let qs: Vec<_> = (10..14)
            .map(|tid| enqueue(&h, k(0x100), FUTEX_BITSET_MATCH_ANY, tid))
            .collect();
        enqueue(&h, k(0x104), FUTEX_BITSET_MATCH_ANY, 20);
        enqueue(&h, FutexKey::Private { mm: 2, addr: 0x100 }, !0, 30);
        let mut wq = WakeList::new();
        assert_eq!(h.wake(k(0x100), 2, !0, &mut wq), 2);
        assert_eq!(tids(&wq), [10, 11], "oldest first, at most nr_wake");
        assert!(qs[0].is_woken() && qs[1].is_woken() && !qs[2].is_woken());
        // nr_wake 0 still wakes one (futex_wake's ++ret >= nr_wake).
        assert_eq!(h.wake(k(0x100), 0, !0, &mut wq), 1);
        assert_eq!(h.wake(k(0x100), 10, !0, &mut wq), 1);
        assert_eq!(h.wake(k(0x100), 10, !0, &mut wq), 0);
        assert_eq!(tids(&wq), [10, 11, 12, 13]);
        assert_eq!(h.waiters(k(0x104)), [20]);
        assert_eq!(h.waiters(FutexKey::Private { mm: 2, addr: 0x100 }), [30]);
        assert_eq!(h.len(), 2);
        // A woken waiter cannot take itself off again: its wait returns 0.
        assert!(!h.unqueue(&qs[0]));
    }

    #[test]
    fn bitsets_select_waiters() {
        let h = FutexHash::new(1);
        enqueue(&h, k(0x100), 0b01, 1);
        enqueue(&h, k(0x100), 0b10, 2);
        enqueue(&h, k(0x100), 0b11, 3);
        let mut wq = WakeList::new();
        assert_eq!(h.wake(k(0x100), 10, 0b10, &mut wq), 2);
        assert_eq!(tids(&wq), [2, 3]);
        assert_eq!(
            h.wake(k(0x100), 10, 0b10, &mut wq),
            0,
            "tid 1 waits on bit 0"
        );
        assert_eq!(h.wake(k(0x100), 10, 0b01, &mut wq), 1);
        assert_eq!(tids(&wq), [2, 3, 1]);
        assert!(h.is_empty());
    }

    #[test]
    fn requeue_between_buckets_wakes_then_moves() {
        let h = FutexHash::new(2);
        let ((from, to), _) = keys_apart_and_together(&h);
        let qs: Vec<_> = (1..=5).map(|tid| enqueue(&h, from, !0, tid)).collect();
        let mut wq = WakeList::new();
        assert_eq!(h.requeue(from, to, 1, 2, None, &mut wq), Ok(3));
        assert_eq!(tids(&wq), [1]);
        assert_eq!(h.waiters(from), [4, 5]);
        assert_eq!(h.waiters(to), [2, 3]);
        // A wake on the old key finds only the ones not moved; the moved ones follow
        // their new bucket, for a wake and for their own unqueue.
        assert_eq!(h.wake(from, 10, !0, &mut wq), 2);
        assert!(h.unqueue(&qs[1]), "tid 2 is queued, on the other bucket");
        assert!(!h.unqueue(&qs[1]), "once");
        assert_eq!(h.wake(to, 10, !0, &mut wq), 1);
        assert_eq!(tids(&wq), [1, 4, 5, 3]);
        assert!(h.is_empty());
        // Linux's count: nr_wake 0 wakes none, requeues up to nr_requeue.
        for tid in 6..=8 {
            enqueue(&h, from, !0, tid);
        }
        let mut wq = WakeList::new();
        assert_eq!(h.requeue(from, to, 0, 2, None, &mut wq), Ok(2));
        assert!(wq.is_empty());
        assert_eq!(h.waiters(to), [6, 7]);
        assert_eq!(h.waiters(from), [8]);
        // Both orders of the two buckets (double_lock_hb() takes the lower first).
        assert_eq!(h.requeue(to, from, 0, 10, None, &mut wq), Ok(2));
        assert_eq!(h.waiters(from), [8, 6, 7]);
    }

    #[test]
    fn requeue_within_one_bucket_keeps_the_order() {
        let h = FutexHash::new(1);
        let (_, (from, to)) = keys_apart_and_together(&h);
        for tid in 1..=3 {
            enqueue(&h, from, !0, tid);
        }
        enqueue(&h, to, !0, 9);
        let mut wq = WakeList::new();
        assert_eq!(h.requeue(from, to, 1, 1, None, &mut wq), Ok(2));
        assert_eq!(tids(&wq), [1]);
        assert_eq!(
            h.waiters(to),
            [2, 9],
            "moved in place, ahead of the later waiter"
        );
        assert_eq!(h.waiters(from), [3]);
    }

    #[test]
    fn cmp_requeue_and_wait_check_the_word_under_the_lock() {
        let h = FutexHash::new(1);
        let w = Word::new(7);
        assert_eq!(
            h.wait_setup(k(0x100), 0x100, 6, !0, 1, &w).map(|_| ()),
            Err(Errno::EAGAIN)
        );
        assert!(h.is_empty(), "a mismatch queues nothing");
        let q = h.wait_setup(k(0x100), 0x100, 7, !0, 1, &w).unwrap();
        let mut wq = WakeList::new();
        let cmp = |v| Some((0x100, v, &w as &dyn FutexWord));
        assert_eq!(
            h.requeue(k(0x100), k(0x200), 1, 1, cmp(8), &mut wq),
            Err(Errno::EAGAIN)
        );
        assert!(!q.is_woken());
        // A read that faults under the lock is retried after the faulting read.
        w.nofault_faults.store(3, Ordering::SeqCst);
        assert_eq!(h.requeue(k(0x100), k(0x200), 1, 1, cmp(7), &mut wq), Ok(1));
        assert_eq!(tids(&wq), [1]);
        w.nofault_faults.store(2, Ordering::SeqCst);
        let q = h.wait_setup(k(0x100), 0x100, 7, !0, 2, &w).unwrap();
        assert!(h.unqueue(&q));
        // An address that cannot be read at all: EFAULT, nothing queued.
        let bad = Word {
            efault: true,
            ..Word::new(7)
        };
        bad.nofault_faults.store(1, Ordering::SeqCst);
        assert_eq!(
            h.wait_setup(k(0x100), 0x100, 7, !0, 3, &bad).map(|_| ()),
            Err(Errno::EFAULT)
        );
        // A read that faults at every round gives up with EAGAIN (spurious), bounded.
        w.nofault_faults.store(usize::MAX, Ordering::SeqCst);
        assert_eq!(
            h.wait_setup(k(0x100), 0x100, 7, !0, 4, &w).map(|_| ()),
            Err(Errno::EAGAIN)
        );
        assert!(h.is_empty());
    }

    #[test]
    fn unqueue_on_timeout_and_wake_end_a_wait_exactly_once() {
        let h = FutexHash::new(1);
        // Timeout first: the waker then finds nobody.
        let q = enqueue(&h, k(0x100), !0, 1);
        assert!(h.unqueue(&q), "the timeout takes it off");
        let mut wq = WakeList::new();
        assert_eq!(h.wake(k(0x100), 1, !0, &mut wq), 0);
        assert!(!h.unqueue(&q));
        // Wake first: the timeout finds it gone (the wait returns 0, not ETIMEDOUT).
        let q = enqueue(&h, k(0x100), !0, 1);
        assert_eq!(h.wake(k(0x100), 1, !0, &mut wq), 1);
        assert!(!h.unqueue(&q));
        // Racing on two threads, many times: exactly one side wins each round, and a
        // waiter requeued meanwhile is still found by its unqueue.
        let h = Arc::new(FutexHash::new(2));
        let ((a, b), _) = keys_apart_and_together(&h);
        for round in 0..300u32 {
            let q = enqueue(&h, a, !0, round);
            let waker = {
                let h = Arc::clone(&h);
                std::thread::spawn(move || {
                    let mut wq = WakeList::new();
                    let moved = h.requeue(a, b, 0, 1, None, &mut wq).unwrap();
                    let woken = h.wake(b, 1, !0, &mut wq) + h.wake(a, 1, !0, &mut wq);
                    assert!(moved <= 1);
                    (woken, wq.len() as u64)
                })
            };
            let unqueued = h.unqueue(&q);
            let (woken, marked) = waker.join().unwrap();
            assert_eq!(woken, marked);
            assert_eq!(
                u64::from(unqueued) + woken,
                1,
                "round {round}: one of the waker and the unqueue takes the waiter"
            );
            assert!(q.is_woken());
            assert!(h.is_empty());
        }
    }
}
