//! `/proc/<pid>/pagemap`: `pagemap_read()` and `pte_to_pagemap_entry()`
//! (`fs/proc/task_mmu.c`, `Documentation/admin-guide/mm/pagemap.rst`). One 64-bit entry
//! per virtual page, the file offset being `(address / PAGE_SIZE) * 8`:
//!
//! | bits | meaning |
//! |---|---|
//! | 0–54 | PFN if present (shown: the reader has `CAP_SYS_ADMIN`) |
//! | 55 | `PM_SOFT_DIRTY`: the entry's soft-dirty bit, or the VMA's `VM_SOFTDIRTY` (holes in such a VMA included) |
//! | 56 | `PM_MMAP_EXCLUSIVE`: the page is mapped exactly once (by a PTE or its folio's PMD) |
//! | 57 | `PM_UFFD_WP`: the entry's uffd-wp bit (`UFFDIO_WRITEPROTECT`) |
//! | 61 | `PM_FILE`: a file page or shared anonymous (shmem) page |
//! | 62 | `PM_SWAP`: a swap entry; bits 0–4 its type and 5–54 its offset (shown as the PFN is) |
//! | 63 | `PM_PRESENT` |
//!
//! Only the page tables are read; nothing is faulted in. The shared zero page is present
//! with its PFN but neither `PM_FILE` nor `PM_MMAP_EXCLUSIVE` (`vm_normal_page()` gives no
//! page for it). Addresses outside every VMA read as 0, and pages never touched as 0 or,
//! in a `VM_SOFTDIRTY` VMA, `PM_SOFT_DIRTY` alone (`pagemap_pte_hole()`).

use devices::PAGE_SIZE;

use super::{mem_lseek, ProcBinding};
use crate::errno::{Errno, KResult};
use crate::fs::{FileCtx, FileOperations, IoResult, KernelFileBinding, Kiocb, OpenFile};
use crate::mm::pgtable::{pte_pfn, pte_soft_dirty};
use crate::mm::swapfile;
use crate::mm::{Mm, PageFlags, Pfn, VmFlags};
use crate::uaccess::UserAccess;

/// Bytes per entry (`PM_ENTRY_BYTES`).
pub const PM_ENTRY_BYTES: u64 = 8;
/// The PFN field (`PM_PFRAME_MASK`, bits 0–54).
pub const PM_PFRAME_MASK: u64 = (1 << 55) - 1;
/// `PM_SOFT_DIRTY`.
pub const PM_SOFT_DIRTY: u64 = 1 << 55;
/// `PM_MMAP_EXCLUSIVE`.
pub const PM_MMAP_EXCLUSIVE: u64 = 1 << 56;
/// `PM_UFFD_WP`.
pub const PM_UFFD_WP: u64 = 1 << 57;
/// `PM_FILE`.
pub const PM_FILE: u64 = 1 << 61;
/// `PM_SWAP`.
pub const PM_SWAP: u64 = 1 << 62;
/// `PM_PRESENT`.
pub const PM_PRESENT: u64 = 1 << 63;

/// `PAGEMAP_WALK_SIZE` (`PMD_SIZE`): entries are produced and copied out in chunks that
/// end on a multiple of this.
const PAGEMAP_WALK_SIZE: u64 = 512 * PAGE_SIZE;

/// The entry of the page at `addr` in `mm` (`pte_to_pagemap_entry()` /
/// `pagemap_pmd_range()`'s huge case, or a hole's: 0, `PM_SOFT_DIRTY` in a
/// `VM_SOFTDIRTY` VMA).
/// `show_pfn` is `file_ns_capable(CAP_SYS_ADMIN)` at open.
pub fn pagemap_entry(mm: &Mm, addr: u64, show_pfn: bool) -> u64 {
    if mm.is_dead() {
        return 0;
    }
    let Some(vma) = mm.vmas().vma_lookup(addr) else {
        return 0;
    };
    let vma_soft_dirty = if vma.flags.contains(VmFlags::SOFTDIRTY) {
        PM_SOFT_DIRTY
    } else {
        0
    };
    // pte_to_pagemap_entry()'s is_swap_pte() case: the swap type and offset in the
    // frame bits, the entry's soft-dirty and uffd-wp bits.
    if let Some(swp) = mm
        .page_table()
        .pte_offset(addr)
        .map(|a| mm.page_table().ptep_get(a))
        .filter(|&p| swapfile::is_swap_pte(p))
    {
        let mut flags = PM_SWAP | vma_soft_dirty;
        if swapfile::pte_swp_soft_dirty(swp) {
            flags |= PM_SOFT_DIRTY;
        }
        if swapfile::pte_swp_uffd_wp(swp) {
            flags |= PM_UFFD_WP;
        }
        let e = swapfile::pte_to_swp_entry(swp);
        let frame = u64::from(e.ty) | (e.offset << swapfile::MAX_SWAPFILES_SHIFT);
        return if show_pfn { frame & PM_PFRAME_MASK } else { 0 } | flags;
    }
    // follow_pte() returns only present entries (PROT_NONE ones included).
    let Some(slot) = mm.page_table().follow_pte(addr) else {
        return vma_soft_dirty;
    };
    // A leaf above level 0 maps a huge page: the PFN of the 4 KiB page inside it.
    let span_pages = 1u64 << (9 * slot.level.min(6));
    let pfn = Pfn(pte_pfn(slot.pte).0 + ((addr / PAGE_SIZE) & (span_pages - 1)));
    let phys = mm.phys();
    let mut flags = PM_PRESENT | vma_soft_dirty;
    if pte_soft_dirty(slot.pte) {
        flags |= PM_SOFT_DIRTY;
    }
    if crate::mm::userfaultfd::pte_uffd_wp(slot.pte) {
        flags |= PM_UFFD_WP;
    }
    // vm_normal_page(): no page for the zero page or a frame without metadata.
    let page = (!phys.pages.is_zero_pfn(pfn))
        .then(|| phys.pages.page(pfn))
        .flatten();
    if let Some(page) = page {
        if !page.test(PageFlags::ANON) {
            flags |= PM_FILE;
        }
        // page_mapcount() (folio_precise_page_mapcount() since Linux 6.10): the PTEs
        // mapping this page plus the PMDs mapping its whole folio, so a PMD-mapped THP
        // mapped once is exclusive in every one of its 512 entries.
        let entire = phys
            .pages
            .folio(pfn)
            .map_or(0, |(_, head)| head.entire_mapcount());
        if page.mapcount() + entire == 1 {
            flags |= PM_MMAP_EXCLUSIVE;
        }
    }
    let frame = if show_pfn { pfn.0 & PM_PFRAME_MASK } else { 0 };
    frame | flags
}

/// `proc_pagemap_operations`: [`pagemap_read`], `mem_lseek()`, opened by
/// `pagemap_open()`; no `write` (`EINVAL`).
#[derive(Debug)]
pub struct ProcPagemapFile {
    pub(super) binding: ProcBinding,
}

impl FileOperations for ProcPagemapFile {
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> KResult<()> {
        self.binding.open(ctx)
    }

    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let binding = self.binding.get();
        let mut user = ctx.user()?;
        let (r, pos) = pagemap_read(&mut *user, binding, buf, len, iocb.pos);
        iocb.pos = pos;
        Ok(r?)
    }

    /// The address space bound at open and the caller's memory: no other task, so the
    /// caller's hart serves it without the kernel lock (`syscall::unlocked`).
    fn needs_tasks(&self) -> bool {
        false
    }

    /// No `write`.
    fn can_write(&self) -> bool {
        false
    }

    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        mem_lseek(offset, whence, pos)
    }
}

/// `pagemap_read()`: `count` bytes of entries from file offset `pos` into the caller's
/// buffer at `buf` in its memory `user`. Returns the result and the new file position.
///
/// The result is the bytes copied: fewer than `count` where the range reaches
/// `TASK_SIZE`; 0 for a descriptor without a live address space or `count == 0`.
///
/// # Errors
/// `EINVAL` if `pos` or `count` is not a multiple of 8; `EFAULT` if the caller's buffer
/// faults (nothing is reported copied then, and the position does not move).
pub fn pagemap_read(
    user: &mut dyn UserAccess,
    binding: Option<KernelFileBinding>,
    mut buf: u64,
    mut count: usize,
    pos: u64,
) -> (KResult<usize>, u64) {
    let Some(KernelFileBinding { mm: Some(grab), .. }) = binding else {
        return (Ok(0), pos);
    };
    // mmget_not_zero() for the whole read; the lock is taken per walk step.
    let Some(target) = grab.mmget_not_zero() else {
        return (Ok(0), pos);
    };
    let task_size = target.mmap_read_lock().task_size();
    if !pos.is_multiple_of(PM_ENTRY_BYTES) || !(count as u64).is_multiple_of(PM_ENTRY_BYTES) {
        return (Err(Errno::EINVAL), pos);
    }
    if count == 0 {
        return (Ok(0), pos);
    }
    let svpfn = pos / PM_ENTRY_BYTES;
    let mut end_vaddr = task_size;
    let mut start_vaddr = end_vaddr;
    if svpfn <= u64::MAX / PAGE_SIZE {
        start_vaddr = svpfn * PAGE_SIZE;
        let pages = count as u64 / PM_ENTRY_BYTES;
        if let Some(end) = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|l| start_vaddr.checked_add(l))
        {
            if end < task_size {
                end_vaddr = end;
            }
        }
    }
    // Ensure the address is inside the task.
    if start_vaddr > task_size {
        start_vaddr = end_vaddr;
    }
    let mut copied = 0usize;
    while count > 0 && start_vaddr < end_vaddr {
        let mut end = start_vaddr.saturating_add(PAGEMAP_WALK_SIZE) & !(PAGEMAP_WALK_SIZE - 1);
        if end <= start_vaddr || end > end_vaddr {
            end = end_vaddr;
        }
        let bytes: Vec<u8> = {
            // pagemap_read(): mmap_read_lock_killable() around walk_page_range(); the
            // PTEs are read under their page-table locks.
            let mm = target.mmap_read_lock();
            if mm.is_dead() {
                break;
            }
            let mut v = Vec::new();
            let mut addr = start_vaddr;
            while addr < end {
                v.extend_from_slice(&pagemap_entry(&mm, addr, true).to_le_bytes());
                addr += PAGE_SIZE;
            }
            v
        };
        start_vaddr = end;
        let len = count.min(bytes.len());
        let piece = bytes.get(..len).unwrap_or_default();
        // copy_to_user() with the target's lock dropped (for /proc/self/pagemap they are
        // one lock): the read side of the caller's, for the access.
        if user.copy_to_user(buf, piece).is_err() {
            return (Err(Errno::EFAULT), pos);
        }
        copied += len;
        buf = buf.wrapping_add(len as u64);
        count -= len;
    }
    (Ok(copied), pos.wrapping_add(copied as u64))
}
