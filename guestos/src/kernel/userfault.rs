//! The sleep of `handle_userfault()` (`fs/userfaultfd.c`): a user fault that the fault
//! path handed to a userfaultfd ([`UserFaultError::Userfault`]) queues its message and
//! puts its task to sleep ([`WaitOn::Userfault`]) until a resolving ioctl, `UFFDIO_WAKE`
//! or the file's close wakes it, or a signal comes; then the task re-executes the faulting
//! instruction, as Linux returns `VM_FAULT_RETRY` and retries the fault.
//!
//! Order, as in Linux: the task is armed on its waiter's queue first, the message
//! published second, and the PTE read a last time third (`userfaultfd_must_wait()`,
//! under the `mmap_lock`). A `UFFDIO_COPY` that installed the page before that read is
//! seen there (the task does not sleep); one that installed it after finds the waiter in
//! the context's queues and wakes it, and the park handshake of [`Kernel::block`] keeps
//! that wake-up if it comes before the task left its run queue.
//!
//! The unlocked fault path hands such a fault to the kernel lock whole (`run_user`): the
//! fault is run again here, and sleeps only if it still goes to the userfaultfd.

use std::sync::Arc;

use emu::Hart;

use super::Kernel;
use crate::fs::PollTable;
use crate::fs::WaitTask;
use crate::mm::userfaultfd::{pte_uffd_wp, UserfaultOutcome};
use crate::mm::{FaultFlags, UserFaultError, VmFlags};
use crate::process::WaitOn;
use crate::signal::{BUS_ADRERR, SIGBUS};

impl Kernel<'_> {
    /// `handle_userfault()` for task `tid` (live in `hart`), whose user fault at `va`
    /// (`access`) went to a userfaultfd: the fault's message is queued and the task
    /// sleeps ([`WaitOn::Userfault`]), unless the fault was resolved meanwhile, the
    /// context was closed (the access is re-executed at once) or `SIGBUS` is the answer
    /// (`UFFD_FEATURE_SIGBUS`), returned as the fault signal to force.
    pub(super) fn handle_userfault(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        va: u64,
        access: mmu::AccessType,
    ) -> Option<(u8, i32, u64)> {
        let mm = self.tasks.get(&tid)?.mm.as_ref()?.mmgrab();
        let flags = FaultFlags::for_user_access(access);
        let write = flags.contains(FaultFlags::WRITE);
        // What the fault is (the PTE none: missing; present and uffd-wp: write-protect)
        // and the context, under the mmap_lock; a fault resolved since is retried.
        let (ctx, wp) = {
            let users = mm.mmget_not_zero()?;
            let g = users.mmap_read_lock();
            let vma = g.vmas().vma_lookup(va)?;
            let ctx = Arc::clone(&vma.userfaultfd_ctx.as_ref()?.0);
            let wp = write
                && vma.flags.contains(VmFlags::UFFD_WP)
                && g.pte_at(va).is_some_and(pte_uffd_wp);
            if !g.userfaultfd_must_wait(va, wp) {
                return None;
            }
            (ctx, wp)
        };
        let waiter = match ctx.handle_userfault(va, flags, wp, tid) {
            Ok(w) => w,
            Err(UserfaultOutcome::Sigbus) => return Some((SIGBUS, BUS_ADRERR, va)),
            Err(UserfaultOutcome::Queued | UserfaultOutcome::Retry) => return None,
        };
        let mut pt = PollTable::default();
        pt.arm(WaitTask::new(tid, Arc::clone(&self.waker)), false);
        pt.poll_wait(waiter.wqh());
        if !ctx.queue(&waiter) {
            return None;
        }
        // userfaultfd_must_wait() after the queueing: a resolution in between found no
        // waiter to wake.
        let must_wait = mm.mmget_not_zero().is_some_and(|users| {
            let g = users.mmap_read_lock();
            g.userfaultfd_must_wait(va, wp)
        });
        if !must_wait || self.signal_pending(tid) {
            ctx.dequeue(&waiter);
            return None;
        }
        self.set_io_wait(tid, pt);
        self.block(tid, WaitOn::Userfault, hart);
        None
    }

    /// The user fault of task `tid` at `va` (`access`) ended with `r`: the signal to
    /// force for a failed one (`mm_fault_error()`, see [`Kernel::fault_signal`]), or, for
    /// one that went to a userfaultfd, its sleep ([`Kernel::handle_userfault`]).
    pub(super) fn user_fault_result(
        &mut self,
        hart: &mut Hart<'_>,
        tid: u32,
        va: u64,
        access: mmu::AccessType,
        r: Result<(), UserFaultError>,
    ) -> Option<(u8, i32, u64)> {
        match r {
            Ok(()) => None,
            Err(UserFaultError::Userfault) => self.handle_userfault(hart, tid, va, access),
            Err(UserFaultError::AsyncPf) => self.kvm_setup_async_pf(hart, tid, va, access),
            Err(e) => self.fault_signal(hart, tid, va, e),
        }
    }

    /// A signal for task `tid`, asleep in a userfault ([`WaitOn::Userfault`]), ends the
    /// sleep: the task leaves its waiter's queue and is made runnable at the faulting
    /// instruction, which it re-executes after the handler (Linux's
    /// `handle_userfault()` returns `VM_FAULT_RETRY` with a signal pending, and the arch
    /// fault handler returns to user mode to take it).
    pub(super) fn userfault_interrupted(&mut self, tid: u32) {
        self.forget_sleeper(tid);
        self.try_to_wake_up(tid);
    }
}
