//! userfaultfd, the address-space side: `mm/userfaultfd.c` and the context and fault
//! queue of `fs/userfaultfd.c` (`struct userfaultfd_ctx`, `handle_userfault()`'s message,
//! `userfaultfd_register()`/`_unregister()`/`_release()` on the VMAs), with the uapi of
//! `include/uapi/linux/userfaultfd.h`. The file (`read`, `poll`, `ioctl`) is
//! `crate::fs::userfaultfd`.
//!
//! # What is implemented
//! | piece | Linux | here |
//! |---|---|---|
//! | registration | `userfaultfd_register()` | `UFFDIO_REGISTER_MODE_MISSING` and `_WP` on private anonymous VMAs: the VMAs of the range split and merged, `VM_UFFD_MISSING`/`VM_UFFD_WP` set, the context kept in [`Vma::userfaultfd_ctx`] |
//! | `UFFDIO_COPY` | `mfill_atomic_copy()` | a new exclusive anonymous page filled from the caller's memory, mapped dirty (`pte_mkdirty()`), writable if `VM_WRITE` and not `UFFDIO_COPY_MODE_WP`, which sets the uffd-wp bit instead |
//! | `UFFDIO_ZEROPAGE` | `mfill_atomic_zeropage()` | the shared zero page, read-only |
//! | `UFFDIO_WRITEPROTECT` | `mwriteprotect_range()` | the uffd-wp bit ([`PAGE_UFFD_WP`]) set and `W` cleared on the present PTEs, or the bit cleared (the next write reuses the page in `do_wp_page()`) |
//! | fault side | `handle_userfault()` | a user fault on a none PTE of a `VM_UFFD_MISSING` VMA, or a write to a uffd-wp PTE of a `VM_UFFD_WP` VMA, returns `VM_FAULT_RETRY`; the kernel queues a message and sleeps the task ([`UserfaultfdCtx::handle_userfault`]) |
//!
//! Not here: `UFFDIO_MOVE`, `UFFDIO_CONTINUE`, `UFFDIO_POISON`, minor faults, the
//! non-cooperative events (`UFFD_FEATURE_EVENT_*`: a fork's child and an `mremap`'s new
//! VMA lose the registration, as without those features), shmem and hugetlb ranges
//! (`EINVAL` at registration), and uffd-wp of none PTEs (`UFFD_FEATURE_WP_UNPOPULATED`).
//! A kernel-mode fault (`get_user_pages()`, `copy_to_user()` of a system call) in a
//! registered range does not wait: `VM_FAULT_SIGBUS`, so `EFAULT`, as Linux gives a caller
//! without `FAULT_FLAG_ALLOW_RETRY`.
//!
//! # Waking a fault
//! A faulting task sleeps on the wait queue of its own [`UffdWaiter`], which the context
//! keeps in `pending` (not yet read: `fault_pending_wqh`) then, once read, in `waiting`
//! (`fault_wqh`). A resolving ioctl wakes every waiter whose address lies in its range
//! (`userfaultfd_wake_function()`), `UFFDIO_WAKE` too, and `close()` every waiter
//! (`userfaultfd_release()`); the woken task re-executes the faulting instruction, which
//! faults again and finds the page (or the range unregistered). A waiter whose task left
//! (a signal, its exit) has an empty queue and is dropped when met.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use devices::PAGE_SIZE;
use mmu::{Pte, PteFlags};

use super::fault::{FaultFlags, VmFault};
use super::mm_struct::MmGrab;
use super::page_alloc::PageFlags;
use super::pgtable::{mk_pte, pte_none, pte_present, pte_write, vm_get_page_prot};
use super::vma::{VmFlags, Vma};
use super::{Mm, MmuGather};
use crate::errno::{Errno, KResult};
use crate::fs::WaitQueueHead;
use crate::sync::Mutex;

/// `UFFD_API`: the only API version.
pub const UFFD_API: u64 = 0xAA;

/// `UFFD_FEATURE_PAGEFAULT_FLAG_WP`: write-protect faults say so in their message.
pub const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
/// `UFFD_FEATURE_EVENT_FORK`: fork events (not implemented).
pub const UFFD_FEATURE_EVENT_FORK: u64 = 1 << 1;
/// `UFFD_FEATURE_SIGBUS`: a fault in a registered range gets `SIGBUS` instead of a message.
pub const UFFD_FEATURE_SIGBUS: u64 = 1 << 7;
/// `UFFD_FEATURE_THREAD_ID`: the message carries the faulting thread's id.
pub const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
/// `UFFD_FEATURE_EXACT_ADDRESS`: the message carries the exact faulting address, not its
/// page.
pub const UFFD_FEATURE_EXACT_ADDRESS: u64 = 1 << 11;
/// `UFFD_FEATURE_INITIALIZED`: internal, set once `UFFDIO_API` succeeded.
const UFFD_FEATURE_INITIALIZED: u64 = 1 << 31;
/// The features this kernel implements, which `UFFDIO_API` reports (`UFFD_API_FEATURES`
/// less what is missing here).
pub const UFFD_API_FEATURES: u64 = UFFD_FEATURE_PAGEFAULT_FLAG_WP
    | UFFD_FEATURE_SIGBUS
    | UFFD_FEATURE_THREAD_ID
    | UFFD_FEATURE_EXACT_ADDRESS;

/// `UFFD_USER_MODE_ONLY`: only user-mode faults are handled (`userfaultfd(2)` flag).
pub const UFFD_USER_MODE_ONLY: u32 = 1;

/// `UFFD_EVENT_PAGEFAULT`: the message is a page fault.
pub const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
/// `UFFD_PAGEFAULT_FLAG_WRITE`: the fault was a write.
pub const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1 << 0;
/// `UFFD_PAGEFAULT_FLAG_WP`: the fault was a write to a write-protected page.
pub const UFFD_PAGEFAULT_FLAG_WP: u64 = 1 << 1;

/// `UFFDIO_REGISTER_MODE_MISSING`: faults on missing pages.
pub const UFFDIO_REGISTER_MODE_MISSING: u64 = 1 << 0;
/// `UFFDIO_REGISTER_MODE_WP`: faults on write-protected pages.
pub const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
/// `UFFDIO_REGISTER_MODE_MINOR`: minor faults (not implemented: `EINVAL`).
pub const UFFDIO_REGISTER_MODE_MINOR: u64 = 1 << 2;
/// `UFFDIO_COPY_MODE_DONTWAKE` (also `UFFDIO_ZEROPAGE_MODE_DONTWAKE`): no wake-up.
pub const UFFDIO_COPY_MODE_DONTWAKE: u64 = 1 << 0;
/// `UFFDIO_COPY_MODE_WP`: the copied pages are mapped write-protected.
pub const UFFDIO_COPY_MODE_WP: u64 = 1 << 1;
/// `UFFDIO_WRITEPROTECT_MODE_WP`: protect (else unprotect).
pub const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
/// `UFFDIO_WRITEPROTECT_MODE_DONTWAKE`: no wake-up after unprotecting.
pub const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u64 = 1 << 1;

/// The `_UFFDIO_*` command numbers (the ioctl `nr`, and the bit of the `ioctls` masks).
pub mod nr {
    /// `_UFFDIO_REGISTER`.
    pub const REGISTER: u32 = 0x00;
    /// `_UFFDIO_UNREGISTER`.
    pub const UNREGISTER: u32 = 0x01;
    /// `_UFFDIO_WAKE`.
    pub const WAKE: u32 = 0x02;
    /// `_UFFDIO_COPY`.
    pub const COPY: u32 = 0x03;
    /// `_UFFDIO_ZEROPAGE`.
    pub const ZEROPAGE: u32 = 0x04;
    /// `_UFFDIO_WRITEPROTECT`.
    pub const WRITEPROTECT: u32 = 0x06;
    /// `_UFFDIO_API`.
    pub const API: u32 = 0x3F;
}

/// `UFFD_API_IOCTLS`: what `UFFDIO_API` reports the context supports.
pub const UFFD_API_IOCTLS: u64 = (1 << nr::REGISTER) | (1 << nr::UNREGISTER) | (1 << nr::API);

/// The range ioctls `UFFDIO_REGISTER` reports for a range registered with `mode` (Linux's
/// `UFFD_API_RANGE_IOCTLS` less `CONTINUE` without `MODE_MINOR`, `WRITEPROTECT` without
/// `MODE_WP`, and `MOVE` and `POISON`, which this kernel lacks).
pub fn range_ioctls(mode: u64) -> u64 {
    let mut ioctls = (1 << nr::WAKE) | (1 << nr::COPY) | (1 << nr::ZEROPAGE);
    if mode & UFFDIO_REGISTER_MODE_WP != 0 {
        ioctls |= 1 << nr::WRITEPROTECT;
    }
    ioctls
}

/// `_PAGE_UFFD_WP` (riscv with Svrsw60t59b: bit 60, the high bit of
/// [`mmu::Pte::SVRSW60T59B_MASK`], which the walker ignores): the PTE is write-protected
/// for userfaultfd, and a write to it is reported rather than resolved.
pub const PAGE_UFFD_WP: PteFlags = PteFlags::from_bits_retain(1 << 60);

/// `pte_uffd_wp()`.
#[inline]
pub fn pte_uffd_wp(pte: Pte) -> bool {
    pte.0 & PAGE_UFFD_WP.bits() != 0
}

/// `userfaultfd_pte_wp(vma, pte)`: the VMA is registered for write-protect faults and
/// the PTE is protected.
#[inline]
pub fn userfaultfd_pte_wp(vma: &Vma, pte: Pte) -> bool {
    vma.flags.contains(VmFlags::UFFD_WP) && pte_uffd_wp(pte)
}

/// `struct uffd_msg` of a page fault (`UFFD_EVENT_PAGEFAULT`): 32 bytes in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UffdMsg {
    /// `arg.pagefault.flags`: `UFFD_PAGEFAULT_FLAG_*`.
    pub flags: u64,
    /// `arg.pagefault.address`: the faulting address (its page without
    /// `UFFD_FEATURE_EXACT_ADDRESS`).
    pub address: u64,
    /// `arg.pagefault.feat.ptid`: the faulting thread (with `UFFD_FEATURE_THREAD_ID`),
    /// else 0.
    pub ptid: u32,
}

impl UffdMsg {
    /// Size of `struct uffd_msg` in bytes.
    pub const SIZE: usize = 32;

    /// The message as the guest reads it (little-endian `struct uffd_msg`).
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0] = UFFD_EVENT_PAGEFAULT;
        b[8..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.address.to_le_bytes());
        b[24..28].copy_from_slice(&self.ptid.to_le_bytes());
        b
    }
}

/// One faulting task's wait (`struct userfaultfd_wait_queue`): its message and the queue
/// its task sleeps on until a wake-up of a range holding the address.
#[derive(Debug)]
pub struct UffdWaiter {
    msg: UffdMsg,
    /// The faulting address, exact, for the range wake-ups.
    address: u64,
    wqh: Arc<WaitQueueHead>,
}

impl UffdWaiter {
    /// A wait for a fault at `address`, reported as `msg`.
    pub fn new(msg: UffdMsg, address: u64) -> Arc<UffdWaiter> {
        Arc::new(UffdWaiter {
            msg,
            address,
            wqh: Arc::new(WaitQueueHead::default()),
        })
    }

    /// The queue the faulting task sleeps on.
    pub fn wqh(&self) -> &Arc<WaitQueueHead> {
        &self.wqh
    }

    /// Whether its task still sleeps (or is about to): a waiter whose task left is
    /// dropped.
    fn live(&self) -> bool {
        self.wqh.active()
    }
}

/// The queues of a context, behind its lock (`fault_pending_wqh`, `fault_wqh` and
/// `ctx->features`).
#[derive(Debug, Default)]
struct UffdQueues {
    /// `ctx->features`, with `UFFD_FEATURE_INITIALIZED` once `UFFDIO_API` succeeded.
    features: u64,
    /// Faults not yet read.
    pending: VecDeque<Arc<UffdWaiter>>,
    /// Faults read and not yet woken.
    waiting: Vec<Arc<UffdWaiter>>,
}

/// What [`UserfaultfdCtx::handle_userfault`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserfaultOutcome {
    /// The message is queued: the task must sleep on the waiter's queue.
    Queued,
    /// The context was released: retry the access at once (`VM_FAULT_NOPAGE`).
    Retry,
    /// `SIGBUS` (`UFFD_FEATURE_SIGBUS`, or a kernel-mode fault).
    Sigbus,
}

/// `struct userfaultfd_ctx`: one userfaultfd, shared by its file and the VMAs registered
/// with it ([`Vma::userfaultfd_ctx`]).
pub struct UserfaultfdCtx {
    /// `ctx->mm` (`mmgrab()`): the address space the ioctls act on.
    mm: MmGrab,
    /// `ctx->released`: the file is closed; faults no longer wait.
    released: AtomicBool,
    queues: Mutex<UffdQueues>,
    /// `ctx->fd_wqh`: readers and pollers of the file.
    fd_wqh: Arc<WaitQueueHead>,
}

impl fmt::Debug for UserfaultfdCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserfaultfdCtx")
            .field("mm", &self.mm.id())
            .field("released", &self.released.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl UserfaultfdCtx {
    /// A new context on the address space `mm` (`new_userfaultfd()`).
    pub fn new(mm: MmGrab) -> Arc<UserfaultfdCtx> {
        Arc::new(UserfaultfdCtx {
            mm,
            released: AtomicBool::new(false),
            queues: Mutex::new(UffdQueues::default()),
            fd_wqh: Arc::new(WaitQueueHead::default()),
        })
    }

    /// The address space the context is for.
    pub fn mm(&self) -> &MmGrab {
        &self.mm
    }

    /// `ctx->fd_wqh`.
    pub fn fd_wqh(&self) -> &Arc<WaitQueueHead> {
        &self.fd_wqh
    }

    /// `userfaultfd_is_initialized()`: `UFFDIO_API` succeeded.
    pub fn is_initialized(&self) -> bool {
        self.queues.lock().features & UFFD_FEATURE_INITIALIZED != 0
    }

    /// The features `UFFDIO_API` enabled.
    pub fn features(&self) -> u64 {
        self.queues.lock().features & !UFFD_FEATURE_INITIALIZED
    }

    /// `UFFDIO_API`'s last step: enables `features` (already checked against
    /// [`UFFD_API_FEATURES`]) once.
    ///
    /// # Errors
    /// `EINVAL` if `UFFDIO_API` already succeeded on this context.
    pub fn set_features(&self, features: u64) -> KResult<()> {
        let mut q = self.queues.lock();
        if q.features != 0 {
            return Err(Errno::EINVAL);
        }
        q.features = features | UFFD_FEATURE_INITIALIZED;
        Ok(())
    }

    /// Whether the file was closed.
    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::SeqCst)
    }

    /// `handle_userfault()` up to the sleep, for a fault at `address` (`flags`, `wp`: a
    /// write-protect fault) by thread `tid`: decides whether the fault waits, and if so
    /// queues `waiter`'s message for the readers and wakes them. The faulting task must
    /// already sleep on `waiter`'s queue (armed), so no wake-up is lost; after this the
    /// caller re-checks the PTE (`userfaultfd_must_wait()`).
    pub fn handle_userfault(
        &self,
        address: u64,
        flags: FaultFlags,
        wp: bool,
        tid: u32,
    ) -> Result<Arc<UffdWaiter>, UserfaultOutcome> {
        let features = self.features();
        // A kernel-mode fault cannot sleep here (see the module docs); with
        // `UFFD_USER_MODE_ONLY` Linux refuses it as well.
        if features & UFFD_FEATURE_SIGBUS != 0 || !flags.contains(FaultFlags::USER) {
            return Err(UserfaultOutcome::Sigbus);
        }
        if self.is_released() {
            return Err(UserfaultOutcome::Retry);
        }
        let mut msg_flags = 0;
        if flags.contains(FaultFlags::WRITE) {
            msg_flags |= UFFD_PAGEFAULT_FLAG_WRITE;
        }
        if wp {
            msg_flags |= UFFD_PAGEFAULT_FLAG_WP;
        }
        let msg = UffdMsg {
            flags: msg_flags,
            address: if features & UFFD_FEATURE_EXACT_ADDRESS != 0 {
                address
            } else {
                address & !(PAGE_SIZE - 1)
            },
            ptid: if features & UFFD_FEATURE_THREAD_ID != 0 {
                tid
            } else {
                0
            },
        };
        Ok(UffdWaiter::new(msg, address))
    }

    /// Publishes `waiter` (whose task is armed on its queue) for the readers and wakes
    /// them (`__add_wait_queue()` on `fault_pending_wqh`, `wake_up_poll(&ctx->fd_wqh,
    /// EPOLLIN)`). Returns `false`, publishing nothing, if the context was released
    /// meanwhile: the fault retries at once.
    pub fn queue(&self, waiter: &Arc<UffdWaiter>) -> bool {
        {
            let mut q = self.queues.lock();
            // Under the lock, ordered against userfaultfd_release()'s wake-up of all.
            if self.is_released() {
                return false;
            }
            q.pending.push_back(Arc::clone(waiter));
        }
        self.fd_wqh.wake_up_all();
        true
    }

    /// Takes `waiter` out of the queues (its fault no longer waits: the PTE changed
    /// before it slept).
    pub fn dequeue(&self, waiter: &Arc<UffdWaiter>) {
        let mut q = self.queues.lock();
        q.pending.retain(|w| !Arc::ptr_eq(w, waiter));
        q.waiting.retain(|w| !Arc::ptr_eq(w, waiter));
    }

    /// `userfaultfd_ctx_read()`'s one message: the oldest unread fault whose task still
    /// waits, moved to the read ones (`fault_pending_wqh` → `fault_wqh`); `None` if there
    /// is none.
    pub fn read_msg(&self) -> Option<UffdMsg> {
        let mut q = self.queues.lock();
        while let Some(w) = q.pending.pop_front() {
            if !w.live() {
                continue;
            }
            let msg = w.msg;
            q.waiting.push(w);
            return Some(msg);
        }
        None
    }

    /// Whether an unread fault waits (`userfaultfd_poll()`'s `EPOLLIN`).
    pub fn has_pending(&self) -> bool {
        self.queues.lock().pending.iter().any(|w| w.live())
    }

    /// `wake_userfault()` / `__wake_userfault()`: wakes every fault, read or not, whose
    /// address lies in `[start, start + len)` (every fault for `len` 0), taking it off the
    /// queues. Returns how many tasks it woke.
    pub fn wake_range(&self, start: u64, len: u64) -> usize {
        let in_range =
            |w: &Arc<UffdWaiter>| len == 0 || (start <= w.address && w.address - start < len);
        let woken: Vec<Arc<UffdWaiter>> = {
            let mut q = self.queues.lock();
            let mut out = Vec::new();
            q.pending.retain(|w| {
                let hit = in_range(w) || !w.live();
                if hit {
                    out.push(Arc::clone(w));
                }
                !hit
            });
            q.waiting.retain(|w| {
                let hit = in_range(w) || !w.live();
                if hit {
                    out.push(Arc::clone(w));
                }
                !hit
            });
            out
        };
        woken.iter().map(|w| w.wqh.wake_up_all()).sum()
    }

    /// `userfaultfd_release()`'s context part: no fault waits from now on, every waiting
    /// one is woken (it retries and, the VMAs unregistered, is handled normally), and the
    /// readers and pollers are woken (`EPOLLHUP`). The VMAs are the caller's
    /// ([`Mm::userfaultfd_release_all`]), first.
    pub fn release(&self) {
        {
            let _q = self.queues.lock();
            self.released.store(true, Ordering::SeqCst);
        }
        self.wake_range(0, 0);
        self.fd_wqh.wake_up_all();
    }
}

/// The context of a VMA registered with a userfaultfd (`vma->vm_userfaultfd_ctx`):
/// compared by identity, as Linux compares the pointer.
#[derive(Clone)]
pub struct VmUserfaultfdCtx(pub Arc<UserfaultfdCtx>);

impl PartialEq for VmUserfaultfdCtx {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for VmUserfaultfdCtx {}

impl fmt::Debug for VmUserfaultfdCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VmUserfaultfdCtx({:p})", Arc::as_ptr(&self.0))
    }
}

/// `__VM_UFFD_FLAGS`: the registration modes a VMA can carry.
pub const VM_UFFD_FLAGS: VmFlags = VmFlags::UFFD_MISSING.union(VmFlags::UFFD_WP);

/// `validate_unaligned_range()`: `[start, start + len)` is a non-empty, page-multiple range
/// of user space above `mmap_min_addr`.
///
/// # Errors
/// `EINVAL` otherwise.
pub fn validate_unaligned_range(mm: &Mm, start: u64, len: u64) -> KResult<()> {
    let task_size = mm.task_size();
    if !len.is_multiple_of(PAGE_SIZE)
        || len == 0
        || start < mm.mmap_min_addr
        || start >= task_size
        || len > task_size - start
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `validate_range()`: [`validate_unaligned_range`] with a page-aligned `start`.
///
/// # Errors
/// `EINVAL`.
pub fn validate_range(mm: &Mm, start: u64, len: u64) -> KResult<()> {
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    validate_unaligned_range(mm, start, len)
}

/// `vma_can_userfault(vma, vm_flags)`: private anonymous memory only here (Linux also
/// takes shmem and hugetlb).
fn vma_can_userfault(vma: &Vma, _vm_flags: VmFlags) -> bool {
    vma.is_anonymous() && !vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE)
}

impl Mm {
    /// `userfaultfd_register()`'s VMA part, under the write side of the `mmap_lock`:
    /// every VMA of `[start, end)` gets `vm_flags` (`VM_UFFD_MISSING`/`VM_UFFD_WP`, in
    /// place of the modes it had) and `ctx`, split at the range's ends and merged after.
    ///
    /// # Errors
    /// `ENOMEM` if no VMA meets the range; `EINVAL` if one cannot be registered (not
    /// private anonymous); `EPERM` for one without `VM_MAYWRITE`; `EBUSY` for one
    /// registered with another context.
    pub fn userfaultfd_register(
        &mut self,
        ctx: &Arc<UserfaultfdCtx>,
        start: u64,
        end: u64,
        vm_flags: VmFlags,
    ) -> KResult<()> {
        // vma_find(&vmi, end): no VMA in the range is ENOMEM (Linux 6.1+).
        if self.vmas.find_vma_intersection(start, end).is_none() {
            return Err(Errno::ENOMEM);
        }
        let new = VmUserfaultfdCtx(Arc::clone(ctx));
        for vma in self.vmas.overlapping(start, end) {
            if !vma_can_userfault(vma, vm_flags) {
                return Err(Errno::EINVAL);
            }
            if !vma.flags.contains(VmFlags::MAYWRITE) {
                return Err(Errno::EPERM);
            }
            if vma.userfaultfd_ctx.as_ref().is_some_and(|c| *c != new) {
                return Err(Errno::EBUSY);
            }
        }
        self.userfaultfd_set_range(start, end, |_| Some((vm_flags, new.clone())))
    }

    /// `userfaultfd_unregister()`'s VMA part: every registered VMA of `[start, end)` loses
    /// its modes, its context and its PTEs' uffd-wp bits (`userfaultfd_clear_vma()`).
    /// Returns the contexts the range was registered with, whose faults in it the caller
    /// wakes.
    ///
    /// # Errors
    /// `ENOMEM` if no VMA meets the range.
    pub fn userfaultfd_unregister(
        &mut self,
        start: u64,
        end: u64,
    ) -> KResult<Vec<Arc<UserfaultfdCtx>>> {
        if self.vmas.find_vma_intersection(start, end).is_none() {
            return Err(Errno::ENOMEM);
        }
        let mut ctxs: Vec<Arc<UserfaultfdCtx>> = Vec::new();
        for vma in self.vmas.overlapping(start, end) {
            if let Some(c) = &vma.userfaultfd_ctx {
                if !ctxs.iter().any(|x| Arc::ptr_eq(x, &c.0)) {
                    ctxs.push(Arc::clone(&c.0));
                }
            }
        }
        self.userfaultfd_set_range(start, end, |_| None)?;
        Ok(ctxs)
    }

    /// `userfaultfd_release_all()`: every VMA registered with `ctx` is unregistered.
    pub fn userfaultfd_release_all(&mut self, ctx: &Arc<UserfaultfdCtx>) {
        let ranges: Vec<(u64, u64)> = self
            .vmas
            .iter()
            .filter(|v| {
                v.userfaultfd_ctx
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(&c.0, ctx))
            })
            .map(|v| (v.start, v.end))
            .collect();
        for (start, end) in ranges {
            // Whole VMAs: no split, so no ENOMEM.
            let _ = self.userfaultfd_set_range(start, end, |_| None);
        }
    }

    /// Gives every VMA of `[start, end)` the registration `reg(vma)` returns (`None`:
    /// none), splitting at the ends first and merging after (`vma_modify_flags_uffd()`);
    /// a VMA that loses `VM_UFFD_WP` has its PTEs' uffd-wp bits cleared.
    fn userfaultfd_set_range(
        &mut self,
        start: u64,
        end: u64,
        reg: impl Fn(&Vma) -> Option<(VmFlags, VmUserfaultfdCtx)>,
    ) -> KResult<()> {
        let lo = self
            .vmas
            .find_vma(start)
            .map_or(start, |v| v.start.max(start));
        let hi = self
            .vmas
            .overlapping(start, end)
            .last()
            .map_or(end, |v| v.end.min(end));
        self.vma_adjust_trans_huge(lo, hi);
        self.vmas.split_at_bounds(lo, hi)?;
        let starts: Vec<u64> = self.vmas.overlapping(lo, hi).map(|v| v.start).collect();
        let mut unprotect = Vec::new();
        for s in starts {
            let Some(v) = self.vmas.get_mut(s) else {
                continue;
            };
            let had_wp = v.flags.contains(VmFlags::UFFD_WP);
            let r = reg(v);
            v.flags.remove(VM_UFFD_FLAGS);
            match r {
                Some((flags, ctx)) => {
                    v.flags |= flags & VM_UFFD_FLAGS;
                    v.userfaultfd_ctx = Some(ctx);
                }
                None => v.userfaultfd_ctx = None,
            }
            if had_wp && !v.flags.contains(VmFlags::UFFD_WP) {
                unprotect.push((v.start, v.end));
            }
        }
        for (s, e) in unprotect {
            self.uffd_wp_range(s, e, false);
        }
        self.vmas.merge_range(lo, hi);
        Ok(())
    }

    /// `uffd_wp_range()` / `change_protection(MM_CP_UFFD_WP[_RESOLVE])` on the present
    /// PTEs of `[start, end)`: `wp` sets [`PAGE_UFFD_WP`] and clears `W`; otherwise the bit
    /// is cleared and `W` left to the next write fault (`do_wp_page()` reuses an
    /// exclusive page). Returns how many PTEs changed; the TLB maintenance is queued.
    pub fn uffd_wp_range(&self, start: u64, end: u64, wp: bool) -> u64 {
        let mut tlb = MmuGather::default();
        let changed = self.pgtable.uffd_wp_range(start, end, wp, &mut tlb);
        self.tlb_finish_mmu(tlb);
        changed
    }

    /// The VMA a fill of `[dst, dst + len)` goes to (`uffd_mfill_lock()` →
    /// `validate_dst_vma()`): the one covering the whole range, registered with a
    /// userfaultfd.
    ///
    /// # Errors
    /// `ENOENT` otherwise; `EINVAL` for a shared anonymous VMA.
    fn mfill_vma(&self, dst: u64, len: u64) -> KResult<Vma> {
        let vma = self.vmas.vma_lookup(dst).ok_or(Errno::ENOENT)?;
        if dst.checked_add(len).is_none_or(|e| e > vma.end) || vma.userfaultfd_ctx.is_none() {
            return Err(Errno::ENOENT);
        }
        if !vma_can_userfault(vma, vma.flags) {
            return Err(Errno::EINVAL);
        }
        Ok(vma.clone())
    }

    /// One page of `mfill_atomic()` for `UFFDIO_COPY` (`src`: the page's bytes, read
    /// from the caller before the `mmap_lock` was taken) or `UFFDIO_ZEROPAGE` (`None`),
    /// at `va` in the fill of `[dst, dst + len)`, under the read side of the `mmap_lock`:
    /// the VMA checked again (`uffd_mfill_lock()` → `validate_dst_vma()`), then
    /// `mfill_atomic_pte_copy()` / `mfill_atomic_pte_zeropage()`, `wp` mapping a copy
    /// write-protected.
    ///
    /// # Errors
    /// `ENOENT` (no registered VMA covers the range), `EINVAL` (`wp` on a VMA without
    /// `VM_UFFD_WP`, or a VMA that cannot be filled), `EEXIST` (the page is mapped
    /// already), `ENOMEM`.
    pub fn mfill_atomic_pte(
        &self,
        (dst, len): (u64, u64),
        va: u64,
        src: Option<&[u8]>,
        wp: bool,
    ) -> KResult<()> {
        let vma = self.mfill_vma(dst, len)?;
        if wp && !vma.flags.contains(VmFlags::UFFD_WP) {
            return Err(Errno::EINVAL);
        }
        match src {
            Some(bytes) => self.mfill_atomic_pte_copy(&vma, va, bytes, wp),
            None => self.mfill_atomic_pte_zeropage(&vma, va),
        }
    }

    /// `mfill_atomic_pte_copy()` of the page at `va` from `bytes` (a page), then
    /// `mfill_atomic_install_pte()`.
    fn mfill_atomic_pte_copy(&self, vma: &Vma, va: u64, bytes: &[u8], wp: bool) -> KResult<()> {
        let slot = self.pgtable.pte_alloc(va)?;
        if !pte_none(self.pgtable.ptep_get(slot)) {
            return Err(Errno::EEXIST);
        }
        let pfn = self.phys.alloc_page(false).ok_or(Errno::ENOMEM)?;
        if self.phys.ram.write_bytes(pfn.pa(), bytes).is_err() {
            self.phys.put_page(pfn);
            return Err(Errno::EFAULT);
        }
        self.phys.pages.events.page_copies.inc();
        if let Some(page) = self.phys.pages.page(pfn) {
            page.set(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE);
        }
        // mfill_atomic_install_pte(): pte_mkdirty() always (riscv's sets soft-dirty
        // too); writable only if VM_WRITE and not write-protected.
        let mut entry = mk_pte(pfn, vm_get_page_prot(vma.flags))
            .with(PteFlags::D | super::pgtable::PAGE_SOFT_DIRTY);
        if wp {
            entry = entry.with(PAGE_UFFD_WP);
        } else if vma.flags.contains(VmFlags::WRITE) {
            entry = entry.with(PteFlags::W);
        }
        if !self.set_new_pte(slot, va, pfn, entry) {
            return Err(Errno::EEXIST);
        }
        super::count_event(&self.stats.local().anon_pages);
        Ok(())
    }

    /// `mfill_atomic_pte_zeropage()`: the zero page mapped read-only at `va`.
    fn mfill_atomic_pte_zeropage(&self, vma: &Vma, va: u64) -> KResult<()> {
        let slot = self.pgtable.pte_alloc(va)?;
        let zero = self.phys.pages.zero_pfn();
        let entry = mk_pte(zero, vm_get_page_prot(vma.flags).difference(PteFlags::W));
        let _ptl = self.pgtable.pte_lock(slot);
        if !self.pgtable.ptep_cmpxchg(slot, Pte(0), entry) {
            return Err(Errno::EEXIST);
        }
        super::count_event(&self.stats.local().zero_page_maps);
        Ok(())
    }

    /// `mwriteprotect_range()`: write-protects (`wp`) or unprotects `[start, start +
    /// len)`, which registered `VM_UFFD_WP` VMAs must cover without a hole.
    ///
    /// # Errors
    /// `ENOENT` for a hole or a VMA without `VM_UFFD_WP`.
    pub fn mwriteprotect_range(&self, start: u64, len: u64, wp: bool) -> KResult<()> {
        let end = start + len;
        let mut at = start;
        for vma in self.vmas.overlapping(start, end) {
            if vma.start > at || !vma.flags.contains(VmFlags::UFFD_WP) {
                return Err(Errno::ENOENT);
            }
            at = vma.end;
        }
        if at < end {
            return Err(Errno::ENOENT);
        }
        self.uffd_wp_range(start, end, wp);
        Ok(())
    }

    /// `handle_userfault()`'s check in the fault path (`do_anonymous_page()`'s
    /// `userfaultfd_missing()`, `do_wp_page()`'s `userfaultfd_pte_wp()`): a fault on a none
    /// PTE (`pte` none) of a `VM_UFFD_MISSING` VMA, or a write to a uffd-wp PTE of a
    /// `VM_UFFD_WP` VMA, goes to the userfaultfd: `VM_FAULT_RETRY` for a user fault (the
    /// kernel queues it and sleeps the task), `VM_FAULT_SIGBUS` for a kernel-mode one (it
    /// cannot sleep here: Linux's answer without `FAULT_FLAG_ALLOW_RETRY`). `None` if the
    /// fault is not one for the userfaultfd.
    pub(super) fn userfault_check(
        &self,
        vma: &Vma,
        pte: Pte,
        flags: FaultFlags,
    ) -> Option<VmFault> {
        let missing = pte_none(pte) && vma.flags.contains(VmFlags::UFFD_MISSING);
        let wp = flags.contains(FaultFlags::WRITE)
            && pte_present(pte)
            && !pte_write(pte)
            && userfaultfd_pte_wp(vma, pte);
        if !(missing || wp) {
            return None;
        }
        Some(if flags.contains(FaultFlags::USER) {
            VmFault::RETRY
        } else {
            VmFault::SIGBUS
        })
    }

    /// The 4 KiB PTE that maps `va`, if its page tables exist (`pte_offset_map()` and a
    /// read).
    pub fn pte_at(&self, va: u64) -> Option<Pte> {
        self.pgtable
            .pte_offset(va)
            .map(|slot| self.pgtable.ptep_get(slot))
    }

    /// `userfaultfd_must_wait()`: whether the fault at `va` (`wp`: a write-protect one)
    /// still needs the userfaultfd — the PTE still none, or still uffd-wp — read under the
    /// `mmap_lock` after the message was queued, so a resolution that came before is not
    /// missed.
    pub fn userfaultfd_must_wait(&self, va: u64, wp: bool) -> bool {
        let Some(vma) = self.vmas.vma_lookup(va) else {
            return false;
        };
        if vma.userfaultfd_ctx.is_none() {
            return false;
        }
        let pte = self.pte_at(va).unwrap_or(Pte(0));
        if wp {
            pte_present(pte) && pte_uffd_wp(pte) && !pte_write(pte)
        } else {
            pte_none(pte) && self.pgtable.huge_pmd_at(va).is_none()
        }
    }
}

#[cfg(test)]
mod tests {
    //! The address-space side against real guest RAM, with the hardware walker as the
    //! oracle for what a user access does: registration splits and merges, the fault
    //! path's `VM_FAULT_RETRY` (user) and `SIGBUS` (kernel), the fills and `EEXIST`, the
    //! uffd-wp bit, and the context's message queue and range wake-ups.

    use std::sync::Arc;

    use mmu::{AccessType, AdScheme, SatpMode, WalkFault};

    use super::*;
    use crate::fs::wait_tests::{asleep, Recorder};
    use crate::fs::PollTable;
    use crate::mm::test_support::{setup_mm, touch, uwalk, ANON, P, RW};
    use crate::mm::{MmUsers, UserFaultError};

    /// An address space with 4 private anonymous pages at the returned address, and a
    /// context on it.
    fn setup() -> (MmUsers, u64, Arc<UserfaultfdCtx>) {
        let (_phys, mut mm) = setup_mm(16, SatpMode::Sv39, AdScheme::Svadu, 9);
        let a = mm.do_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
        let users = MmUsers::new(mm);
        let ctx = UserfaultfdCtx::new(users.mmgrab());
        ctx.set_features(UFFD_FEATURE_PAGEFAULT_FLAG_WP).unwrap();
        (users, a, ctx)
    }

    fn spans(mm: &Mm) -> Vec<(u64, u64, bool)> {
        mm.vmas()
            .iter()
            .map(|v| (v.start, v.end, v.userfaultfd_ctx.is_some()))
            .collect()
    }

    #[test]
    fn uffd_register_splits_and_unregister_merges_back() {
        let (users, a, ctx) = setup();
        let mut mm = users.mmap_write_lock();
        mm.userfaultfd_register(&ctx, a + P, a + 3 * P, VmFlags::UFFD_MISSING)
            .unwrap();
        assert_eq!(
            spans(&mm),
            vec![
                (a, a + P, false),
                (a + P, a + 3 * P, true),
                (a + 3 * P, a + 4 * P, false)
            ]
        );
        let other = UserfaultfdCtx::new(users.mmgrab());
        assert_eq!(
            mm.userfaultfd_register(&other, a, a + 2 * P, VmFlags::UFFD_MISSING),
            Err(Errno::EBUSY),
            "a VMA belongs to one context"
        );
        assert_eq!(
            mm.userfaultfd_register(&ctx, a + 8 * P, a + 9 * P, VmFlags::UFFD_MISSING),
            Err(Errno::ENOMEM),
            "no VMA in the range"
        );
        let woken = mm.userfaultfd_unregister(a, a + 4 * P).unwrap();
        assert_eq!(woken.len(), 1);
        assert_eq!(spans(&mm), vec![(a, a + 4 * P, false)], "merged back");
        assert!(!mm.vmas().iter().any(|v| v.flags.intersects(VM_UFFD_FLAGS)));
    }

    #[test]
    fn uffd_missing_faults_retry_for_users_and_sigbus_for_the_kernel() {
        let (users, a, ctx) = setup();
        let mut mm = users.mmap_write_lock();
        mm.userfaultfd_register(&ctx, a, a + 4 * P, VmFlags::UFFD_MISSING)
            .unwrap();
        assert_eq!(
            mm.do_page_fault(a, AccessType::Load),
            Err(UserFaultError::Userfault)
        );
        assert!(mm.userfaultfd_must_wait(a, false));
        let vma = mm.vmas().vma_lookup(a).unwrap().clone();
        let kernel = mm.handle_mm_fault_vma(&vma, a, FaultFlags::DEFAULT);
        assert_eq!(
            kernel,
            VmFault::SIGBUS,
            "GUP and copy_to_user cannot wait here"
        );
        // UFFDIO_COPY, then the access goes through and reads what was copied.
        let page = vec![0x5a; P as usize];
        mm.mfill_atomic_pte((a, P), a, Some(&page), false).unwrap();
        assert!(!mm.userfaultfd_must_wait(a, false));
        assert_eq!(
            mm.mfill_atomic_pte((a, P), a, Some(&page), false),
            Err(Errno::EEXIST)
        );
        let t = touch(&mut mm, a + 5, AccessType::Store).unwrap();
        assert!(
            t.pte.flags().contains(PteFlags::W),
            "VM_WRITE: a writable copy"
        );
        let mut word = [0u8; 8];
        crate::uaccess::UserAccess::copy_from_user(&mut *mm, a + 8, &mut word).unwrap();
        assert_eq!(word, [0x5a; 8]);
        // UFFDIO_ZEROPAGE maps the zero page read-only; a write then copies it.
        mm.mfill_atomic_pte((a + P, P), a + P, None, false).unwrap();
        assert_eq!(
            uwalk(&mm, a + P, AccessType::Store),
            Err(WalkFault::PageFault)
        );
        touch(&mut mm, a + P, AccessType::Store).unwrap();
        // Outside a registered VMA: ENOENT.
        mm.userfaultfd_unregister(a + 2 * P, a + 4 * P).unwrap();
        assert_eq!(
            mm.mfill_atomic_pte((a + 2 * P, P), a + 2 * P, None, false),
            Err(Errno::ENOENT)
        );
        let audit = mm.phys().pages.audit();
        assert_eq!((audit.inconsistent_frames, audit.bad_puts), (0, 0));
    }

    #[test]
    fn uffd_wp_bit_write_protects_until_cleared() {
        let (users, a, ctx) = setup();
        let mut mm = users.mmap_write_lock();
        touch(&mut mm, a, AccessType::Store).unwrap();
        mm.userfaultfd_register(&ctx, a, a + 4 * P, VmFlags::UFFD_WP)
            .unwrap();
        mm.mwriteprotect_range(a, 4 * P, true).unwrap();
        let pte = mm.pte_at(a).unwrap();
        assert!(pte_uffd_wp(pte) && !pte_write(pte));
        assert!(uwalk(&mm, a, AccessType::Load).is_ok(), "reads go on");
        assert_eq!(
            mm.do_page_fault(a, AccessType::Store),
            Err(UserFaultError::Userfault)
        );
        assert!(mm.userfaultfd_must_wait(a, true));
        // mprotect keeps the bit and does not make the PTE writable.
        mm.mprotect(a, P, 3).unwrap();
        assert!(pte_uffd_wp(mm.pte_at(a).unwrap()));
        assert!(!pte_write(mm.pte_at(a).unwrap()));
        mm.mwriteprotect_range(a, 4 * P, false).unwrap();
        assert!(!mm.userfaultfd_must_wait(a, true));
        touch(&mut mm, a, AccessType::Store).unwrap();
        assert!(
            pte_write(mm.pte_at(a).unwrap()),
            "the write fault reused the page"
        );
        // A hole or a VMA without VM_UFFD_WP: ENOENT.
        mm.userfaultfd_unregister(a + 3 * P, a + 4 * P).unwrap();
        assert_eq!(mm.mwriteprotect_range(a, 4 * P, true), Err(Errno::ENOENT));
    }

    #[test]
    fn uffd_wp_splits_a_thp_made_before_registration() {
        use crate::mm::mmap::{MADV_HUGEPAGE, MAP_FIXED};
        use crate::mm::page_alloc::HPAGE_PMD_SIZE;
        let (_phys, mut mm) = setup_mm(32, SatpMode::Sv39, AdScheme::Svadu, 9);
        let base = 0x4000_0000;
        mm.do_mmap(base, HPAGE_PMD_SIZE, RW, ANON | MAP_FIXED, None, 0)
            .unwrap();
        mm.madvise(base, HPAGE_PMD_SIZE, MADV_HUGEPAGE).unwrap();
        touch(&mut mm, base, AccessType::Store).unwrap();
        assert_eq!(mm.page_table().follow_pte(base).unwrap().level, 1, "a THP");
        let users = MmUsers::new(mm);
        let ctx = UserfaultfdCtx::new(users.mmgrab());
        let mut mm = users.mmap_write_lock();
        mm.userfaultfd_register(&ctx, base, base + HPAGE_PMD_SIZE, VmFlags::UFFD_WP)
            .unwrap();
        mm.mwriteprotect_range(base + 5 * P, P, true).unwrap();
        let s = mm.page_table().follow_pte(base + 5 * P).unwrap();
        assert_eq!(s.level, 0, "split into PTEs");
        assert!(pte_uffd_wp(s.pte) && !pte_write(s.pte));
        assert!(
            !pte_uffd_wp(mm.pte_at(base).unwrap()),
            "only the range is protected"
        );
        assert_eq!(
            mm.do_page_fault(base + 5 * P, AccessType::Store),
            Err(UserFaultError::Userfault)
        );
        touch(&mut mm, base, AccessType::Store).unwrap();
    }

    #[test]
    fn uffd_messages_queue_in_order_and_wakes_follow_ranges() {
        let (_users, a, ctx) = setup();
        let rec = Arc::new(Recorder::default());
        let user = FaultFlags::for_user_access(AccessType::Store);
        let mut tables = Vec::new();
        for (tid, off) in [(1u32, 0), (2, P + 7), (3, 3 * P)] {
            let w = ctx.handle_userfault(a + off, user, false, tid).unwrap();
            let mut pt = PollTable::default();
            pt.arm(asleep(&rec, tid, 0), false);
            pt.poll_wait(w.wqh());
            assert!(ctx.queue(&w));
            tables.push(pt);
        }
        let m = ctx.read_msg().unwrap();
        assert_eq!(
            (m.address, m.flags, m.ptid),
            (a, UFFD_PAGEFAULT_FLAG_WRITE, 0)
        );
        let bytes = m.to_bytes();
        assert_eq!(bytes[0], UFFD_EVENT_PAGEFAULT);
        assert_eq!(&bytes[16..24], &a.to_le_bytes());
        assert_eq!(
            ctx.read_msg().unwrap().address,
            a + P,
            "the page, not the exact address"
        );
        // A wake of page 1 wakes the second fault only (read already); the third still
        // waits unread.
        assert_eq!(ctx.wake_range(a + P, P), 1);
        assert_eq!(rec.take(), vec![2]);
        assert!(ctx.has_pending());
        // close(): every fault is woken, none waits from now on.
        ctx.release();
        assert_eq!(rec.take().len(), 2);
        assert!(!ctx.queue(&UffdWaiter::new(m, a)));
        assert_eq!(
            ctx.handle_userfault(a, user, false, 1).err(),
            Some(UserfaultOutcome::Retry)
        );
        let kernel = FaultFlags::DEFAULT;
        assert_eq!(
            ctx.handle_userfault(a, kernel, false, 1).err(),
            Some(UserfaultOutcome::Sigbus)
        );
        drop(tables);
    }
}
