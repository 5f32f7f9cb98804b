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
use super::{Mm, MmStruct, MmapReadGuard};
use crate::errno::{Errno, KResult};
use crate::lockstat;
use crate::uaccess::UserAccess;

/// How many times one page is faulted in before giving up (a fault that "succeeds" but
/// leaves the access still faulting would otherwise loop). Under Svade a write to a fresh
/// page needs at most two (install, then nothing: the handler sets A/D at install).
const MAX_UACCESS_FAULTS: usize = 4;

/// Why a kernel access to user memory could not translate a page.
enum UaccessFault {
    /// The exception-table fixup's `EFAULT`: no VMA, a refused access, a fault that
    /// failed, or a fault that did not make the page accessible.
    Efault,
    /// The address lies below a `VM_GROWSDOWN` stack that must first grow down to it,
    /// which takes the `mmap_lock` write side ([`Mm::expand_stack`]).
    ExpandStack,
}

impl Mm {
    /// `access_ok()`: `[va, va+len)` lies in user space. Never true for a released
    /// address space ([`Mm::release`]), whose page tables are gone.
    pub fn access_ok(&self, va: u64, len: u64) -> bool {
        !self.dead && va.checked_add(len).is_some_and(|end| end <= self.task_size)
    }

    /// Translates one user address for a kernel access through the hardware walker,
    /// faulting the page in under either side of the `mmap_lock` as riscv
    /// `handle_page_fault()` does for a kernel-mode fault on a user address (the VMA
    /// found, [`Mm::handle_page_fault_vma`] without `FAULT_FLAG_USER`). Returns the
    /// physical address, whether the page is executable (a kernel write there must
    /// flush the decoded-instruction cache) and whether it is tagged (`PTE.MTAG`). Walks
    /// are counted in `counters`.
    fn uaccess_translate(
        &self,
        va: u64,
        access: AccessType,
        counters: &mut mmu::MmuCounters,
    ) -> Result<(GuestPhysAddr, bool, bool), UaccessFault> {
        let gva = GuestVirtAddr(va);
        for _ in 0..=MAX_UACCESS_FAULTS {
            let r = walk(
                &self.phys.ram,
                self.satp(),
                gva,
                access,
                PrivCtx::KERNEL_UACCESS,
                self.ad,
                counters,
            );
            match r {
                Ok(t) => return Ok((t.pa(gva), t.flags().contains(PteFlags::X), t.pte.mtag())),
                Err(WalkFault::AccessFault) => return Err(UaccessFault::Efault),
                Err(WalkFault::PageFault) => {
                    counters.page_faults += 1;
                    let flags = if access == AccessType::Store {
                        FaultFlags::DEFAULT | FaultFlags::WRITE
                    } else {
                        FaultFlags::DEFAULT
                    };
                    let vma = match self.vma_for_fault(va) {
                        Ok(Some(vma)) => vma,
                        Ok(None) => return Err(UaccessFault::ExpandStack),
                        Err(_) => {
                            super::count_event(&self.stats.local().bad_faults);
                            return Err(UaccessFault::Efault);
                        }
                    };
                    // A kernel-mode fault: mm_fault_error() → no_context() → the
                    // exception fixup, EFAULT, whatever the fault result.
                    self.handle_page_fault_vma(&vma, va, flags)
                        .map_err(|_| UaccessFault::Efault)?;
                    // This walker has no TLB, so the retry sees the new PTE at once; the
                    // flush the fault recorded is for the harts.
                }
            }
        }
        Err(UaccessFault::Efault)
    }
}

/// The address space a kernel access to user memory goes through, and how it gets a
/// stack grown.
trait UaccessMm {
    /// The address space, under the side of the `mmap_lock` held now (`None`: no side
    /// is held, after a stack expansion that failed to take it back; never so today).
    fn mm(&self) -> Option<&Mm>;

    /// Grows the stack down to `va` ([`Mm::expand_stack`] under the write side).
    ///
    /// # Errors
    /// `EFAULT` if the stack may not grow there.
    fn expand_stack(&mut self, va: u64) -> KResult<()>;
}

impl UaccessMm for Mm {
    fn mm(&self) -> Option<&Mm> {
        Some(self)
    }

    fn expand_stack(&mut self, va: u64) -> KResult<()> {
        match Mm::expand_stack(self, va) {
            Ok(_) => Ok(()),
            Err(_) => {
                super::count_event(&self.stats.local().bad_faults);
                Err(Errno::EFAULT)
            }
        }
    }
}

/// The read side of a shared address space's `mmap_lock`, as a kernel access to user
/// memory holds it: [`MmStruct::lock_mm_and_find_vma`] grows a stack (the read side
/// dropped, the write side taken, then downgraded), as Linux's kernel-mode fault does.
struct ReadLocked<'a> {
    mm: &'a MmStruct,
    guard: Option<MmapReadGuard<'a>>,
}

impl UaccessMm for ReadLocked<'_> {
    fn mm(&self) -> Option<&Mm> {
        // Held from construction to drop but inside `expand_stack`, which puts it back.
        self.guard.as_deref()
    }

    fn expand_stack(&mut self, va: u64) -> KResult<()> {
        self.guard = None;
        let (guard, _vma) = match self.mm.lock_mm_and_find_vma(va) {
            Ok(g) => g,
            Err(_) => {
                // bad_area_nosemaphore(): no lock held; take the read side back for the
                // caller, who returns EFAULT under it.
                self.guard = Some(read_lock(self.mm));
                return Err(Errno::EFAULT);
            }
        };
        self.guard = Some(guard);
        Ok(())
    }
}

/// The read side of `mm`'s `mmap_lock`, counted in [`lockstat::MMAP_LOCK`].
fn read_lock(mm: &MmStruct) -> MmapReadGuard<'_> {
    lockstat::MMAP_LOCK.acquire(|| mm.mmap_read_trylock(), || mm.mmap_read_lock())
}

/// Calls `f(mm, pa, offset_in_buf, len)` for each page-sized piece of `[va, va+len)`,
/// the walks counted in `counters`.
fn for_each_page(
    m: &mut dyn UaccessMm,
    va: u64,
    len: usize,
    access: AccessType,
    counters: &mut mmu::MmuCounters,
    f: &mut dyn FnMut(&Mm, GuestPhysAddr, usize, usize) -> KResult<()>,
) -> KResult<()> {
    // untagged_addr(): a tagged pointer of a calling thread that enabled the
    // tagged-address ABI; with its sync checks on, the pointer's tag is checked against
    // tagged pages (arm64's uaccess runs under the current thread's TCF0: a mismatch is a
    // fault, EFAULT here). Per thread: another thread's mode does not matter.
    let ctrl = super::mte::current_tagged_addr_ctrl();
    let ptr_tag = (va >> super::mte::POINTER_TAG_SHIFT) as u8;
    let check = ctrl.check_mode() == emu::TagCheckMode::Sync;
    let va = ctrl.untagged_addr(va);
    if !m.mm().is_some_and(|mm| mm.access_ok(va, len as u64)) {
        return Err(Errno::EFAULT);
    }
    let mut done = 0usize;
    while done < len {
        let addr = va + done as u64;
        let n = (len - done).min((PAGE_SIZE - addr % PAGE_SIZE) as usize);
        let mm = m.mm().ok_or(Errno::EFAULT)?;
        let (pa, exec, mtag) = match mm.uaccess_translate(addr, access, counters) {
            Ok(t) => t,
            Err(UaccessFault::Efault) => return Err(Errno::EFAULT),
            Err(UaccessFault::ExpandStack) => {
                m.expand_stack(addr)?;
                continue;
            }
        };
        let mm = m.mm().ok_or(Errno::EFAULT)?;
        if check && mtag {
            let mismatch = mm.phys.ram.tags().first_mismatch(pa, n as u64, ptr_tag);
            if !matches!(mismatch, Ok(None)) {
                return Err(Errno::EFAULT);
            }
        }
        if exec && access == AccessType::Store {
            mm.request_icache_flush();
        }
        f(mm, pa, done, n)?;
        done += n;
    }
    Ok(())
}

/// `copy_from_user()` of `buf.len()` bytes at `va` through `m`.
fn copy_from(
    m: &mut dyn UaccessMm,
    va: u64,
    buf: &mut [u8],
    c: &mut mmu::MmuCounters,
) -> KResult<()> {
    let len = buf.len();
    for_each_page(m, va, len, AccessType::Load, c, &mut |mm, pa, off, n| {
        let dst = buf.get_mut(off..off + n).ok_or(Errno::EFAULT)?;
        mm.phys.ram.read_bytes(pa, dst).map_err(|_| Errno::EFAULT)
    })
}

/// `copy_to_user()` of `data` at `va` through `m`.
fn copy_to(m: &mut dyn UaccessMm, va: u64, data: &[u8], c: &mut mmu::MmuCounters) -> KResult<()> {
    for_each_page(
        m,
        va,
        data.len(),
        AccessType::Store,
        c,
        &mut |mm, pa, off, n| {
            let src = data.get(off..off + n).ok_or(Errno::EFAULT)?;
            mm.phys.ram.write_bytes(pa, src).map_err(|_| Errno::EFAULT)
        },
    )
}

/// The accesses of a caller that holds the address space exclusively (the `mmap_lock`
/// write side, or an `Mm` nobody else reaches: exec building the new stack).
impl UserAccess for Mm {
    fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
        let mut c = mmu::MmuCounters::default();
        let r = copy_from(self, va, buf, &mut c);
        self.uaccess_mmu.get_mut().accumulate(&c);
        r
    }

    fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
        let mut c = mmu::MmuCounters::default();
        let r = copy_to(self, va, data, &mut c);
        self.uaccess_mmu.get_mut().accumulate(&c);
        r
    }

    fn untagged_addr(&self, va: u64) -> u64 {
        super::mte::current_tagged_addr_ctrl().untagged_addr(va)
    }
}

/// The accesses of a system call to its caller's memory, as Linux's `copy_to_user()`
/// makes them: no `mmap_lock` held by the call, each access taking the read side for
/// its length (counted in [`lockstat::MMAP_LOCK`]) and faulting pages in under it like
/// a kernel-mode page fault (`do_page_fault()` → `lock_mm_and_find_vma()` →
/// `handle_mm_fault()`), so that page faults of the caller's other threads go on
/// meanwhile and only the calls that change the VMAs wait. The caller must hold no
/// side of this `mmap_lock` (a read side taken again behind a waiting writer would
/// deadlock).
impl UserAccess for &MmStruct {
    fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
        read_locked(self, &mut |m, c| copy_from(m, va, buf, c))
    }

    fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
        read_locked(self, &mut |m, c| copy_to(m, va, data, c))
    }

    fn untagged_addr(&self, va: u64) -> u64 {
        super::mte::current_tagged_addr_ctrl().untagged_addr(va)
    }
}

/// The accesses of a kernel path to the memory of a task whose address space it holds a
/// user reference to (`mmget()`: the caller of a kernel-served file's `read`, a
/// `process_vm_*` caller): as `&MmStruct`'s, the read side for each access.
impl UserAccess for super::MmUsers {
    fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
        self.uaccess().copy_from_user(va, buf)
    }

    fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
        self.uaccess().copy_to_user(va, data)
    }

    fn untagged_addr(&self, va: u64) -> u64 {
        self.uaccess().untagged_addr(va)
    }
}

/// Runs the access `f` on `mm` under the read side of its `mmap_lock`, taken for `f`'s
/// length (and given back and taken again if `f` grows a stack), then adds the walks
/// it counted to `mm`'s uaccess counters.
fn read_locked(
    mm: &MmStruct,
    f: &mut dyn FnMut(&mut dyn UaccessMm, &mut mmu::MmuCounters) -> KResult<()>,
) -> KResult<()> {
    let mut c = mmu::MmuCounters::default();
    let mut m = ReadLocked {
        mm,
        guard: Some(read_lock(mm)),
    };
    let r = f(&mut m, &mut c);
    if let Some(mm) = m.mm() {
        mm.uaccess_mmu.lock().accumulate(&c);
    }
    r
}
