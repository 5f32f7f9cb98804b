//! `copy_{to,from}_user` for a real address space: every page is translated by the
//! **hardware** walker (`mmu::walk`) in S-mode with `sstatus.SUM = 1`
//! ([`PrivCtx::KERNEL_UACCESS`]), exactly as a kernel's user-copy loads and stores go
//! through the MMU — so Svadu sets A (and D on a copy *to* user) just as it would for the
//! program's own access, and a missing or read-only page raises a page fault. The fault is
//! handled like Linux's kernel-mode fault on a user address (`do_page_fault()` without
//! `FAULT_FLAG_USER`), and the access retried; a fault that cannot be resolved becomes
//! `EFAULT`, the exception-table fixup's result.
//!
//! The walks are counted in the address space's own [`mmu::MmuCounters`]
//! ([`Mm::uaccess_counters`]), kept apart from the harts'.

use devices::{GuestPhysAddr, PAGE_SIZE};
use mmu::{walk, AccessType, GuestVirtAddr, PrivCtx, PteFlags, WalkFault};

use super::fault::FaultFlags;
use super::Mm;
use crate::errno::{Errno, KResult};
use crate::uaccess::UserAccess;

/// How many times one page is faulted in before giving up (a fault that "succeeds" but
/// leaves the access still faulting would otherwise loop). Under Svade a write to a fresh
/// page needs at most two (install, then nothing: the handler sets A/D at install).
const MAX_UACCESS_FAULTS: usize = 4;

impl Mm {
    /// `access_ok()`: `[va, va+len)` lies in user space. Never true for a released
    /// address space ([`Mm::release`]), whose page tables are gone.
    pub fn access_ok(&self, va: u64, len: u64) -> bool {
        !self.dead && va.checked_add(len).is_some_and(|end| end <= self.task_size)
    }

    /// Translates one user address for a kernel access through the hardware walker,
    /// faulting the page in as needed. Returns the physical address and whether the page
    /// is executable (a kernel write there must flush the decoded-instruction cache).
    ///
    /// # Errors
    /// `EFAULT`.
    fn uaccess_translate(&mut self, va: u64, access: AccessType) -> KResult<(GuestPhysAddr, bool)> {
        let gva = GuestVirtAddr(va);
        for _ in 0..=MAX_UACCESS_FAULTS {
            let satp = self.satp();
            let r = walk(
                &self.phys.ram,
                satp,
                gva,
                access,
                PrivCtx::KERNEL_UACCESS,
                self.ad,
                self.uaccess_mmu.get_mut(),
            );
            match r {
                Ok(t) => return Ok((t.pa(gva), t.flags().contains(PteFlags::X))),
                Err(WalkFault::AccessFault) => return Err(Errno::EFAULT),
                Err(WalkFault::PageFault) => {
                    self.uaccess_mmu.get_mut().page_faults += 1;
                    let flags = if access == AccessType::Store {
                        FaultFlags::DEFAULT | FaultFlags::WRITE
                    } else {
                        FaultFlags::DEFAULT
                    };
                    // A kernel-mode fault: mm_fault_error() → no_context() → the
                    // exception fixup, EFAULT, whatever the fault result.
                    self.handle_page_fault(va, flags)
                        .map_err(|_| Errno::EFAULT)?;
                    // This walker has no TLB, so the retry sees the new PTE at once; the
                    // flush the fault recorded is for the harts.
                }
            }
        }
        Err(Errno::EFAULT)
    }
}

/// Calls `f(pa, offset_in_buf, len)` for each page-sized piece of `[va, va+len)`.
fn for_each_page(
    mm: &mut Mm,
    va: u64,
    len: usize,
    access: AccessType,
    f: &mut dyn FnMut(&Mm, GuestPhysAddr, usize, usize) -> KResult<()>,
) -> KResult<()> {
    if !mm.access_ok(va, len as u64) {
        return Err(Errno::EFAULT);
    }
    let mut done = 0usize;
    while done < len {
        let addr = va + done as u64;
        let n = (len - done).min((PAGE_SIZE - addr % PAGE_SIZE) as usize);
        let (pa, exec) = mm.uaccess_translate(addr, access)?;
        if exec && access == AccessType::Store {
            mm.request_icache_flush();
        }
        f(mm, pa, done, n)?;
        done += n;
    }
    Ok(())
}

impl UserAccess for Mm {
    fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
        let len = buf.len();
        for_each_page(self, va, len, AccessType::Load, &mut |mm, pa, off, n| {
            let dst = buf.get_mut(off..off + n).ok_or(Errno::EFAULT)?;
            mm.phys.ram.read_bytes(pa, dst).map_err(|_| Errno::EFAULT)
        })
    }

    fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
        for_each_page(
            self,
            va,
            data.len(),
            AccessType::Store,
            &mut |mm, pa, off, n| {
                let src = data.get(off..off + n).ok_or(Errno::EFAULT)?;
                mm.phys.ram.write_bytes(pa, src).map_err(|_| Errno::EFAULT)
            },
        )
    }
}
