//! The mm system calls with Linux semantics and errnos: `mmap` (`mm/mmap.c do_mmap()`,
//! `mmap_region()`, `get_unmapped_area()`), `munmap` (`do_vmi_munmap()`), `mprotect`
//! (`mm/mprotect.c`), `madvise` (`mm/madvise.c`), `brk` (`mm/mmap.c`), `mremap`
//! (`mm/mremap.c`), plus the kernel-internal helpers exec uses to build an image
//! ([`Mm::map_region`], [`Mm::write_region`], [`Mm::setup_stack`], [`Mm::init_brk`]).
//!
//! File mappings (`MAP_PRIVATE`, `MAP_SHARED`, `MAP_SHARED_VALIDATE`) are served from the
//! file's page cache through [`MappedFile`]; `msync` writes shared mappings back
//! ([`Mm::msync`]). `/dev/zero` maps anonymous memory, as its `mmap_zero()` does.
//! `MAP_SHARED|MAP_ANONYMOUS` (and a shared mapping of `/dev/zero`) gets a shmem object of
//! its own, as Linux's `shmem_zero_setup()` gives it ([`super::PhysMem::shmem_zero_setup`]):
//! the VMA is a shared file mapping of that object, its pages live in the object's page
//! cache (never the zero page; `MADV_DONTNEED` only drops PTEs, `MADV_REMOVE` punches the
//! object, `MADV_FREE` is refused), and fork shares the object, not the PTEs (see
//! [`super::fork`]).
//!
//! No address-space randomisation: layouts are deterministic.

use std::sync::Arc;

use devices::PAGE_SIZE;

use super::fault::FaultFlags;
use super::page_alloc::{PageFlags, Pfn};
use super::pgtable::pte_write;
use super::rmap::FileVmaRange;
use super::vma::{MappedFile, MmapOp, VmFlags, Vma, VmaBacking};
use super::{page_align, page_aligned, Mm, MmuGather, STACK_GUARD_GAP};
use crate::errno::{Errno, KResult};

/// `PROT_READ`.
pub const PROT_READ: u64 = 0x1;
/// `PROT_WRITE`.
pub const PROT_WRITE: u64 = 0x2;
/// `PROT_EXEC`.
pub const PROT_EXEC: u64 = 0x4;
/// `PROT_SEM` (accepted and ignored).
pub const PROT_SEM: u64 = 0x8;
/// `PROT_NONE`.
pub const PROT_NONE: u64 = 0x0;
pub use super::mte::PROT_MTE;
/// `PROT_GROWSDOWN`: `mprotect` extends down to the start of a growsdown VMA.
pub const PROT_GROWSDOWN: u64 = 0x0100_0000;
/// `PROT_GROWSUP` (no `VM_GROWSUP` on riscv: always `EINVAL`).
pub const PROT_GROWSUP: u64 = 0x0200_0000;

/// `MAP_SHARED`.
pub const MAP_SHARED: u64 = 0x01;
/// `MAP_PRIVATE`.
pub const MAP_PRIVATE: u64 = 0x02;
/// `MAP_SHARED_VALIDATE`.
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
/// `MAP_TYPE`: the mask of the three above.
pub const MAP_TYPE: u64 = 0x0f;
/// `MAP_FIXED`: map exactly at `addr`, replacing what is there.
pub const MAP_FIXED: u64 = 0x10;
/// `MAP_ANONYMOUS`: no file; `fd` is ignored.
pub const MAP_ANONYMOUS: u64 = 0x20;
/// `MAP_GROWSDOWN`: a stack-like mapping (`VM_GROWSDOWN`).
pub const MAP_GROWSDOWN: u64 = 0x0100;
/// `MAP_DENYWRITE` (ignored, as in Linux).
pub const MAP_DENYWRITE: u64 = 0x0800;
/// `MAP_EXECUTABLE` (ignored, as in Linux).
pub const MAP_EXECUTABLE: u64 = 0x1000;
/// `MAP_LOCKED`: `VM_LOCKED`, pages populated.
pub const MAP_LOCKED: u64 = 0x2000;
/// `MAP_NORESERVE`: `VM_NORESERVE`.
pub const MAP_NORESERVE: u64 = 0x4000;
/// `MAP_POPULATE`: prefault the mapping.
pub const MAP_POPULATE: u64 = 0x8000;
/// `MAP_NONBLOCK`: with `MAP_POPULATE`, do not populate.
pub const MAP_NONBLOCK: u64 = 0x1_0000;
/// `MAP_STACK`: a thread stack (`VM_NOHUGEPAGE` since Linux 6.7).
pub const MAP_STACK: u64 = 0x2_0000;
/// `MAP_HUGETLB`: anonymous memory in hugetlb pages (see [`super::hugetlb`]).
pub const MAP_HUGETLB: u64 = 0x4_0000;
/// `MAP_FIXED_NOREPLACE`: like `MAP_FIXED` but `EEXIST` instead of replacing.
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// `MAP_SYNC` (DAX only: refused with `EOPNOTSUPP` under `MAP_SHARED_VALIDATE`).
pub const MAP_SYNC: u64 = 0x8_0000;
/// `LEGACY_MAP_MASK` (`include/linux/mman.h`): the flags every `mmap` implementation
/// accepts; `MAP_SHARED_VALIDATE` refuses any other with `EOPNOTSUPP`.
pub const LEGACY_MAP_MASK: u64 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB;
/// `MAP_UNINITIALIZED` (ignored without `CONFIG_MMAP_ALLOW_UNINITIALIZED`).
pub const MAP_UNINITIALIZED: u64 = 0x400_0000;

/// `MS_ASYNC`: schedule writeback.
pub const MS_ASYNC: u64 = 1;
/// `MS_INVALIDATE`: invalidate other mappings (nothing to do with a coherent page cache;
/// `EBUSY` on locked memory).
pub const MS_INVALIDATE: u64 = 2;
/// `MS_SYNC`: write back and wait.
pub const MS_SYNC: u64 = 4;

/// `MREMAP_MAYMOVE`.
pub const MREMAP_MAYMOVE: u64 = 1;
/// `MREMAP_FIXED`.
pub const MREMAP_FIXED: u64 = 2;
/// `MREMAP_DONTUNMAP`.
pub const MREMAP_DONTUNMAP: u64 = 4;

/// `MADV_NORMAL`.
pub const MADV_NORMAL: i32 = 0;
/// `MADV_RANDOM`.
pub const MADV_RANDOM: i32 = 1;
/// `MADV_SEQUENTIAL`.
pub const MADV_SEQUENTIAL: i32 = 2;
/// `MADV_WILLNEED`.
pub const MADV_WILLNEED: i32 = 3;
/// `MADV_DONTNEED`.
pub const MADV_DONTNEED: i32 = 4;
/// `MADV_FREE`.
pub const MADV_FREE: i32 = 8;
/// `MADV_REMOVE`.
pub const MADV_REMOVE: i32 = 9;
/// `MADV_DONTFORK`.
pub const MADV_DONTFORK: i32 = 10;
/// `MADV_DOFORK`.
pub const MADV_DOFORK: i32 = 11;
/// `MADV_MERGEABLE`.
pub const MADV_MERGEABLE: i32 = 12;
/// `MADV_UNMERGEABLE`.
pub const MADV_UNMERGEABLE: i32 = 13;
/// `MADV_HUGEPAGE`.
pub const MADV_HUGEPAGE: i32 = 14;
/// `MADV_NOHUGEPAGE`.
pub const MADV_NOHUGEPAGE: i32 = 15;
/// `MADV_DONTDUMP`.
pub const MADV_DONTDUMP: i32 = 16;
/// `MADV_DODUMP`.
pub const MADV_DODUMP: i32 = 17;
/// `MADV_WIPEONFORK`.
pub const MADV_WIPEONFORK: i32 = 18;
/// `MADV_KEEPONFORK`.
pub const MADV_KEEPONFORK: i32 = 19;
/// `MADV_COLD`.
pub const MADV_COLD: i32 = 20;
/// `MADV_PAGEOUT`.
pub const MADV_PAGEOUT: i32 = 21;
/// `MADV_POPULATE_READ`: fault the range in readable, as a read would
/// ([`super::madvise::madvise_populate`]).
pub const MADV_POPULATE_READ: i32 = 22;
/// `MADV_POPULATE_WRITE`: fault the range in writable, as a write would (breaking COW).
pub const MADV_POPULATE_WRITE: i32 = 23;
/// `MADV_COLLAPSE`: collapse the range's 4 KiB pages into THPs now
/// ([`super::khugepaged`]).
pub const MADV_COLLAPSE: i32 = 25;

/// The `PROT_*` bits a VMA's `VM_READ/WRITE/EXEC` correspond to (the inverse of
/// [`calc_vm_prot_bits`], as `/proc/pid/maps` and mprotect-style callers need it).
pub fn vm_flags_to_prot(flags: VmFlags) -> u64 {
    let mut prot = PROT_NONE;
    if flags.contains(VmFlags::READ) {
        prot |= PROT_READ;
    }
    if flags.contains(VmFlags::WRITE) {
        prot |= PROT_WRITE;
    }
    if flags.contains(VmFlags::EXEC) {
        prot |= PROT_EXEC;
    }
    prot
}

/// arm64's `arch_calc_vm_flag_bits()`, `arch_calc_vm_prot_bits()` and
/// `arch_validate_flags()` for `vm_flags` of a mapping asked for with `prot`: an
/// anonymous mapping (`MAP_ANONYMOUS`, private or shared, or `/dev/zero`'s anonymous
/// memory) or one of a shmem file (`shmem_file()`: a memfd) — `allowed` — gets
/// `VM_MTE_ALLOWED`; `PROT_MTE` adds `VM_MTE`, which needs `VM_MTE_ALLOWED`.
///
/// # Errors
/// `EINVAL` for `PROT_MTE` on a mapping without `VM_MTE_ALLOWED` (a file of the file
/// system tree).
pub fn arch_mte_flags(mut vm_flags: VmFlags, prot: u64, allowed: bool) -> KResult<VmFlags> {
    if allowed {
        vm_flags |= VmFlags::MTE_ALLOWED;
    }
    if prot & PROT_MTE != 0 {
        vm_flags |= VmFlags::MTE;
    }
    if vm_flags.contains(VmFlags::MTE) && !vm_flags.contains(VmFlags::MTE_ALLOWED) {
        return Err(Errno::EINVAL);
    }
    Ok(vm_flags)
}

/// `calc_vm_prot_bits()`: `PROT_READ/WRITE/EXEC` → `VM_READ/WRITE/EXEC`.
pub fn calc_vm_prot_bits(prot: u64) -> VmFlags {
    let mut f = VmFlags::empty();
    if prot & PROT_READ != 0 {
        f |= VmFlags::READ;
    }
    if prot & PROT_WRITE != 0 {
        f |= VmFlags::WRITE;
    }
    if prot & PROT_EXEC != 0 {
        f |= VmFlags::EXEC;
    }
    f
}

/// `calc_vm_flag_bits()`: `MAP_GROWSDOWN` → `VM_GROWSDOWN`, `MAP_LOCKED` → `VM_LOCKED`,
/// `MAP_STACK` → `VM_NOHUGEPAGE`.
pub fn calc_vm_flag_bits(flags: u64) -> VmFlags {
    let mut f = VmFlags::empty();
    if flags & MAP_GROWSDOWN != 0 {
        f |= VmFlags::GROWSDOWN;
    }
    if flags & MAP_LOCKED != 0 {
        f |= VmFlags::LOCKED;
    }
    if flags & MAP_STACK != 0 {
        f |= VmFlags::NOHUGEPAGE;
    }
    f
}

/// `accountable_mapping()`: private writable mappings without `MAP_NORESERVE` are charged.
/// hugetlb mappings are not charged either (their pool reservations are their accounting).
fn accountable(flags: VmFlags) -> bool {
    flags & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE | VmFlags::HUGETLB)
        == VmFlags::WRITE
}

/// `madvise_behavior_valid()` for the advice values this kernel implements.
fn madvise_behavior_valid(advice: i32) -> bool {
    matches!(
        advice,
        MADV_NORMAL
            | MADV_RANDOM
            | MADV_SEQUENTIAL
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_FREE
            | MADV_REMOVE
            | MADV_DONTFORK
            | MADV_DOFORK
            | MADV_MERGEABLE
            | MADV_UNMERGEABLE
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
            | MADV_DONTDUMP
            | MADV_DODUMP
            | MADV_WIPEONFORK
            | MADV_KEEPONFORK
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
            | MADV_COLLAPSE
    )
}

/// `madvise_need_mmap_write()`: whether `advice` changes VMAs (the write side of the
/// `mmap_lock`) or only pages and page tables (the read side): `MADV_REMOVE`,
/// `MADV_WILLNEED`, `MADV_DONTNEED`, `MADV_COLD`, `MADV_PAGEOUT`, `MADV_FREE` and
/// `MADV_POPULATE_(READ|WRITE)` read; everything else, unknown values included, writes.
/// `MADV_COLLAPSE` too: Linux starts it under the read side and takes the write side
/// for each PMD it replaces (`collapse_huge_page()`); here it holds the write side
/// throughout.
pub fn madvise_need_mmap_write(advice: i32) -> bool {
    !matches!(
        advice,
        MADV_REMOVE
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_FREE
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
    )
}

/// `do_madvise()` → `madvise_walk_vmas()` over `[start, start + len_in)` of `mm` (an
/// `Mm` under either side of its lock): validates the range, then calls `apply(mm, vma,
/// from, to)` for each piece of a VMA in it, the VMA found again after each (`find`,
/// `find_vma()`), since applying may split or merge VMAs. Returns 0, or `ENOMEM` when
/// part of the range was unmapped (after applying to the rest, as Linux does).
fn madvise_walk<M>(
    mm: &mut M,
    start: u64,
    len_in: u64,
    advice: i32,
    find: impl Fn(&M, u64) -> Option<Vma>,
    mut apply: impl FnMut(&mut M, &Vma, u64, u64) -> KResult<()>,
) -> KResult<u64> {
    if !madvise_behavior_valid(advice) || !page_aligned(start) {
        return Err(Errno::EINVAL);
    }
    let len = page_align(len_in).ok_or(Errno::EINVAL)?;
    let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
    if end == start {
        return Ok(0);
    }
    let mut unmapped = false;
    let mut cur = start;
    loop {
        let Some(vma) = find(mm, cur) else {
            return Err(Errno::ENOMEM);
        };
        if cur < vma.start {
            unmapped = true;
            cur = vma.start;
            if cur >= end {
                break;
            }
        }
        let tmp = vma.end.min(end);
        apply(mm, &vma, cur, tmp)?;
        cur = tmp;
        if cur >= end {
            break;
        }
    }
    if unmapped {
        Err(Errno::ENOMEM)
    } else {
        Ok(0)
    }
}

impl Mm {
    // ---------------------------------------------------------------- get_unmapped_area

    /// `__get_unmapped_area()` with the top-down allocator
    /// (`generic_get_unmapped_area_topdown()`): for `MAP_FIXED`, `addr` itself after the
    /// checks; otherwise the hint `addr` if `[addr, addr+len)` is free (guard gaps
    /// included), else the highest free gap below `mmap_base`, else (Linux's fallback)
    /// the lowest free gap above `TASK_SIZE / 3`. `len` must be page-aligned.
    ///
    /// # Errors
    /// `ENOMEM` (too long, out of range, or no room), `EINVAL` (unaligned fixed address),
    /// `EPERM` (a fixed address below `mmap_min_addr`).
    pub fn get_unmapped_area(&self, addr: u64, len: u64, flags: u64) -> KResult<u64> {
        if len > self.task_size {
            return Err(Errno::ENOMEM);
        }
        if flags & MAP_FIXED != 0 {
            if addr > self.task_size - len {
                return Err(Errno::ENOMEM);
            }
            if !page_aligned(addr) {
                return Err(Errno::EINVAL);
            }
            if addr < self.mmap_min_addr {
                return Err(Errno::EPERM);
            }
            return Ok(addr);
        }
        if addr != 0 {
            if let Some(a) = page_align(addr) {
                if self.range_is_free(a, len) {
                    return Ok(a);
                }
            }
        }
        let low = PAGE_SIZE.max(self.mmap_min_addr);
        if let Some(a) = self.unmapped_area_topdown(len, low, self.mmap_base) {
            return Ok(a);
        }
        let base = page_align(self.task_size / 3).unwrap_or(self.task_size);
        self.unmapped_area(len, base.max(low), self.task_size)
            .ok_or(Errno::ENOMEM)
    }

    /// `hugetlb_get_unmapped_area()`: a free range of `len` bytes (a multiple of the huge
    /// page size `huge_size`, 2 MiB or 1 GiB) starting on a huge page boundary: the hint
    /// rounded up to one if that is free, else the highest aligned start in a gap found
    /// as [`Mm::get_unmapped_area`] finds one.
    ///
    /// # Errors
    /// `EINVAL` for an unaligned `len`, or an unaligned address with `MAP_FIXED`
    /// (`prepare_hugepage_range()`); `ENOMEM` as [`Mm::get_unmapped_area`].
    fn hugetlb_get_unmapped_area(
        &self,
        addr: u64,
        len: u64,
        flags: u64,
        huge_size: u64,
    ) -> KResult<u64> {
        let mask = huge_size - 1;
        if len & mask != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_FIXED != 0 {
            if addr & mask != 0 {
                return Err(Errno::EINVAL);
            }
            return self.get_unmapped_area(addr, len, flags);
        }
        if let Some(a) = addr.checked_next_multiple_of(huge_size).filter(|&a| a != 0) {
            if self.range_is_free(a, len) {
                return Ok(a);
            }
        }
        let padded = len.checked_add(mask + 1 - PAGE_SIZE).ok_or(Errno::ENOMEM)?;
        let a = self.get_unmapped_area(0, padded, flags)?;
        Ok((a + padded - len) & !mask)
    }

    /// The hint test of `generic_get_unmapped_area_topdown()`.
    fn range_is_free(&self, addr: u64, len: u64) -> bool {
        if self.task_size - len < addr || addr < self.mmap_min_addr {
            return false;
        }
        let next_ok = self
            .vmas
            .find_vma(addr)
            .is_none_or(|v| addr + len <= v.start_gap(STACK_GUARD_GAP));
        let prev_ok = self.vmas.vma_prev(addr).is_none_or(|p| addr >= p.end_gap());
        next_ok && prev_ok
    }

    /// `unmapped_area_topdown()`: the highest `len`-byte gap in `[low, high)`.
    fn unmapped_area_topdown(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut gap_end = high;
        for vma in self.vmas.iter().rev() {
            if gap_end < low || gap_end - low < len {
                return None;
            }
            let s = vma.start_gap(STACK_GUARD_GAP);
            if s >= gap_end {
                continue;
            }
            let e = vma.end_gap();
            if e <= gap_end && gap_end - e >= len {
                return Some(gap_end - len);
            }
            gap_end = s;
        }
        (gap_end >= low && gap_end - low >= len).then(|| gap_end - len)
    }

    /// `unmapped_area()`: the lowest `len`-byte gap in `[low, high)`.
    fn unmapped_area(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut gap_start = low;
        for vma in self.vmas.iter() {
            let e = vma.end_gap();
            if e <= gap_start {
                continue;
            }
            let s = vma.start_gap(STACK_GUARD_GAP);
            if s > gap_start && s - gap_start >= len {
                break;
            }
            gap_start = gap_start.max(e);
            if gap_start >= high {
                return None;
            }
        }
        (high > gap_start && high - gap_start >= len).then_some(gap_start)
    }

    // ---------------------------------------------------------------------------- mmap

    /// The `mmap` system call's body after the riscv entry (`riscv_sys_mmap()`): checks
    /// that `offset` is page-aligned and calls [`Mm::do_mmap`] with `offset >> 12`.
    ///
    /// The dispatcher passes `file = None` when `MAP_ANONYMOUS` is set (the fd is ignored,
    /// as in Linux); otherwise it looks the fd up (`EBADF` if there is none) and passes it.
    ///
    /// # Errors
    /// `EINVAL` for an unaligned offset; otherwise as [`Mm::do_mmap`].
    pub fn sys_mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        file: Option<Arc<dyn MappedFile>>,
        offset: u64,
    ) -> KResult<u64> {
        if !page_aligned(offset) {
            return Err(Errno::EINVAL);
        }
        self.do_mmap(addr, len, prot, flags, file, offset / PAGE_SIZE)
    }

    /// `do_mmap()` + `mmap_region()`: creates a mapping and returns its address.
    ///
    /// Order of checks as in Linux: `len == 0` → `EINVAL`; page-aligned `len` overflow →
    /// `ENOMEM`; `pgoff` overflow → `EOVERFLOW`; map count → `ENOMEM`;
    /// [`Mm::get_unmapped_area`]; `MAP_FIXED_NOREPLACE` over a mapping → `EEXIST`; then
    /// for a file ([`Mm::mmap_file_flags`]) the `f_mode` and `MAP_TYPE` checks (`EACCES`,
    /// `EOPNOTSUPP`, `EINVAL`) and `ENODEV` for a file without `->mmap`; for anonymous
    /// memory a `MAP_TYPE` other than `MAP_SHARED` or `MAP_PRIVATE` → `EINVAL`;
    /// `MAP_SHARED|MAP_GROWSDOWN` → `EINVAL`; `MAP_HUGETLB` with a size other than 2 MiB
    /// or 1 GiB or with a file not on hugetlbfs → `EINVAL`; a hugetlb mapping the pool cannot
    /// reserve → `ENOMEM`. `MAP_FIXED` replaces existing mappings.
    /// `MAP_POPULATE` (without `MAP_NONBLOCK`) and `MAP_LOCKED` prefault the pages, as
    /// `mm_populate()` does (errors ignored).
    ///
    /// # Errors
    /// As listed.
    pub fn do_mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: u64,
        mut flags: u64,
        file: Option<Arc<dyn MappedFile>>,
        pgoff: u64,
    ) -> KResult<u64> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_FIXED_NOREPLACE != 0 {
            flags |= MAP_FIXED;
        }
        let mut addr = addr;
        if flags & MAP_FIXED == 0 {
            // round_hint_to_min()
            addr &= !(PAGE_SIZE - 1);
            if addr != 0 && addr < self.mmap_min_addr {
                addr = page_align(self.mmap_min_addr).ok_or(Errno::ENOMEM)?;
            }
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        if pgoff.checked_add(len / PAGE_SIZE).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        // file_mmap_ok(): the mapping must end within MAX_LFS_FILESIZE.
        if file.is_some() {
            let max = crate::fs::MAX_LFS_FILESIZE;
            if len > max || pgoff > (max - len) / PAGE_SIZE {
                return Err(Errno::EOVERFLOW);
            }
        }
        if self.vmas.map_count() > super::vma::DEFAULT_MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        // ksys_mmap_pgoff(): anonymous MAP_HUGETLB memory is a file of its own on the
        // internal hugetlbfs mount (hugetlb_file_setup()); the length of any hugetlb
        // mapping is rounded up to the huge page size. MAP_HUGETLB with another file is
        // EINVAL.
        let mut file = file;
        let mut pgoff = pgoff;
        let mut len = len;
        if file.is_none() && flags & MAP_HUGETLB != 0 {
            // hstate_sizelog(): MAP_HUGE_2MB, MAP_HUGE_1GB or the default size.
            let order = self
                .phys
                .pages
                .hstate_sizelog(super::hugetlb::huge_size_log(flags))
                .ok_or(Errno::EINVAL)?
                .huge_page_order();
            len = len
                .checked_next_multiple_of(PAGE_SIZE << order)
                .ok_or(Errno::ENOMEM)?;
            let f = super::hugetlb::HugetlbFile::new(Arc::clone(&self.phys), len, None, order);
            file = Some(Arc::new(f));
            pgoff = 0;
        } else if let Some(f) = &file {
            if let Some(h) = f.hugetlb() {
                len = len
                    .checked_next_multiple_of(h.huge_page_size())
                    .ok_or(Errno::ENOMEM)?;
            } else if flags & MAP_HUGETLB != 0 {
                return Err(Errno::EINVAL);
            }
        }
        let huge_size = file
            .as_ref()
            .and_then(|f| f.hugetlb().map(|h| h.huge_page_size()));
        if huge_size.is_some_and(|size| !(pgoff * PAGE_SIZE).is_multiple_of(size)) {
            // hugetlbfs_file_mmap(): vm_pgoff must fall on a huge page.
            return Err(Errno::EINVAL);
        }
        let mut vm_flags =
            calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags) | self.def_flags | VmFlags::MAY_ALL;
        let addr = if let Some(size) = huge_size {
            self.hugetlb_get_unmapped_area(addr, len, flags, size)?
        } else {
            self.get_unmapped_area(addr, len, flags)?
        };
        if flags & MAP_FIXED_NOREPLACE != 0
            && self.vmas.find_vma_intersection(addr, addr + len).is_some()
        {
            return Err(Errno::EEXIST);
        }
        let (pgoff, backing) = match file {
            Some(file) => {
                vm_flags = Self::mmap_file_flags(file.as_ref(), prot, flags, vm_flags)?;
                match file.mmap_op() {
                    MmapOp::PageCache => (pgoff, VmaBacking::File(file)),
                    // mmap_zero(): a private mapping is anonymous memory
                    // (vma_set_anonymous(), keeping the file offset as vm_pgoff); a
                    // shared one is shared anonymous memory (shmem_zero_setup()).
                    MmapOp::AnonZero if vm_flags.contains(VmFlags::SHARED) => {
                        (0, VmaBacking::File(self.phys.shmem_zero_setup(len)?))
                    }
                    MmapOp::AnonZero => (pgoff, VmaBacking::Anon),
                    MmapOp::None => return Err(Errno::ENODEV),
                }
            }
            None => {
                match flags & MAP_TYPE {
                    MAP_SHARED => {
                        if vm_flags.contains(VmFlags::GROWSDOWN) {
                            return Err(Errno::EINVAL);
                        }
                        vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                        // mmap_region() → shmem_zero_setup(): a shmem object of its own.
                        (0, VmaBacking::File(self.phys.shmem_zero_setup(len)?))
                    }
                    MAP_PRIVATE => (addr / PAGE_SIZE, VmaBacking::Anon),
                    _ => return Err(Errno::EINVAL),
                }
            }
        };
        if flags & MAP_NORESERVE != 0 {
            vm_flags |= VmFlags::NORESERVE;
        }
        let mte_allowed = match &backing {
            VmaBacking::Anon => true,
            VmaBacking::File(f) => f.is_shmem(),
        };
        vm_flags = arch_mte_flags(vm_flags, prot, mte_allowed)?;
        let huge_file = match &backing {
            VmaBacking::File(f) if f.hugetlb().is_some() => Some(Arc::clone(f)),
            _ => None,
        };
        if huge_file.is_some() {
            // hugetlbfs_file_mmap(): VM_HUGETLB | VM_DONTEXPAND, never accounted to the
            // commit limit (the pool's reservations are the accounting).
            vm_flags |= VmFlags::HUGETLB | VmFlags::DONTEXPAND;
        }
        self.mmap_region(addr, len, vm_flags, pgoff, backing, None)?;
        if let Some(f) = huge_file.as_deref().and_then(|f| f.hugetlb()) {
            let end = addr + len;
            if let Err(e) = self.hugetlb_reserve_pages(f, addr, end, pgoff, vm_flags) {
                self.do_vmi_munmap(addr, end)?;
                return Err(e);
            }
            // hugetlbfs_file_mmap(): "if (vma->vm_flags & VM_WRITE && inode->i_size <
            // len) i_size_write(inode, len)".
            let reach = (pgoff * PAGE_SIZE).saturating_add(len);
            if vm_flags.contains(VmFlags::WRITE) && f.size_bytes() < reach {
                f.set_size(reach);
            }
        }
        let locked = vm_flags & (VmFlags::LOCKED | VmFlags::LOCKONFAULT);
        if flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE || locked == VmFlags::LOCKED {
            self.mm_populate(addr, addr + len);
        }
        Ok(addr)
    }

    /// `mmap_region()`: replaces whatever is in `[addr, addr+len)` with one new VMA and
    /// merges it with compatible neighbours. Adds `VM_ACCOUNT` to accountable mappings and
    /// `VM_SOFTDIRTY` to every one.
    fn mmap_region(
        &mut self,
        addr: u64,
        len: u64,
        mut vm_flags: VmFlags,
        pgoff: u64,
        backing: VmaBacking,
        name: Option<Arc<str>>,
    ) -> KResult<()> {
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        self.do_vmi_munmap(addr, end)?;
        if accountable(vm_flags) {
            vm_flags |= VmFlags::ACCOUNT;
        }
        // __mmap_complete(): "New (or expanded) vma always get soft dirty status.
        // Otherwise user-space soft-dirty page tracker won't be able to distinguish
        // situation when vma area unmapped, then new mapped in-place". The merge below
        // keeps it on the merged VMA.
        vm_flags |= VmFlags::SOFTDIRTY;
        if let VmaBacking::File(f) = &backing {
            f.i_mmap_link(&self.rmap);
        }
        let is_file = !matches!(backing, VmaBacking::Anon);
        self.vmas.insert(Vma {
            start: addr,
            end,
            flags: vm_flags,
            pgoff,
            backing,
            name,
            userfaultfd_ctx: None,
        })?;
        self.vmas.merge_range(addr, end);
        if is_file {
            self.sync_file_rmap();
        }
        Ok(())
    }

    /// The `do_mmap()` checks of a file mapping against how the file is open, and the
    /// `VM_SHARED`/`VM_MAYSHARE` flags it gets:
    ///
    /// - `MAP_SHARED` drops flags outside [`LEGACY_MAP_MASK`]; `MAP_SHARED_VALIDATE`
    ///   refuses them (`EOPNOTSUPP`).
    /// - Shared: `PROT_WRITE` needs the file open for writing (`EACCES`); the VMA gets
    ///   `VM_SHARED | VM_MAYSHARE`, but a file open read-only loses `VM_MAYWRITE` and
    ///   `VM_SHARED` (so `mprotect(PROT_WRITE)` fails with `EACCES` later).
    /// - Any mapping needs the file open for reading (`EACCES`, `O_WRONLY`).
    /// - `MAP_GROWSDOWN` → `EINVAL`; another `MAP_TYPE` → `EINVAL`.
    ///
    /// # Errors
    /// As listed.
    pub fn mmap_file_flags(
        file: &dyn MappedFile,
        prot: u64,
        flags: u64,
        mut vm_flags: VmFlags,
    ) -> KResult<VmFlags> {
        let mode = file.f_mode();
        match flags & MAP_TYPE {
            t @ (MAP_SHARED | MAP_SHARED_VALIDATE) => {
                let flags = if t == MAP_SHARED {
                    flags & LEGACY_MAP_MASK
                } else {
                    flags
                };
                if flags & !LEGACY_MAP_MASK != 0 {
                    return Err(Errno::EOPNOTSUPP);
                }
                if prot & PROT_WRITE != 0 && !mode.write {
                    return Err(Errno::EACCES);
                }
                vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                if !mode.write {
                    vm_flags -= VmFlags::MAYWRITE | VmFlags::SHARED;
                }
            }
            MAP_PRIVATE => {}
            _ => return Err(Errno::EINVAL),
        }
        if !mode.read {
            return Err(Errno::EACCES);
        }
        if file.mmap_op() == MmapOp::None {
            return Err(Errno::ENODEV);
        }
        if vm_flags.contains(VmFlags::GROWSDOWN) {
            return Err(Errno::EINVAL);
        }
        Ok(vm_flags)
    }

    /// Publishes this address space's file VMAs to the reverse map ([`super::rmap`]),
    /// after anything that changed which file pages are mapped where.
    pub(crate) fn sync_file_rmap(&mut self) {
        let vmas: Vec<FileVmaRange> = self
            .vmas
            .iter()
            .filter_map(|v| {
                v.file().map(|f| FileVmaRange {
                    start: v.start,
                    end: v.end,
                    pgoff: v.pgoff,
                    ino: f.inode_id(),
                    shared: v.flags.contains(VmFlags::SHARED),
                })
            })
            .collect();
        if !vmas.is_empty() || self.has_file_vmas {
            self.has_file_vmas = !vmas.is_empty();
            self.rmap.set_file_vmas(vmas);
        }
    }

    /// `mm_populate()` / `populate_vma_page_range()`: faults in every page of
    /// `[start, end)` that is not already mapped suitably, with a write fault for private
    /// writable VMAs (so they get their own pages, not the zero page). Skips `VM_IO`,
    /// `VM_PFNMAP` and inaccessible VMAs; stops at the first failure (Linux ignores
    /// populate errors in `mmap`).
    pub(crate) fn mm_populate(&mut self, start: u64, end: u64) {
        let mut cur = start;
        while cur < end {
            let Some(vma) = self.vmas.find_vma(cur).cloned() else {
                return;
            };
            if vma.start >= end {
                return;
            }
            let (s, e) = (cur.max(vma.start), end.min(vma.end));
            if !vma.flags.intersects(VmFlags::IO | VmFlags::PFNMAP) && vma.flags.is_accessible() {
                let write = vma.flags & (VmFlags::WRITE | VmFlags::SHARED) == VmFlags::WRITE;
                let flags = if write {
                    FaultFlags::WRITE
                } else {
                    FaultFlags::empty()
                };
                let mut va = s;
                while va < e {
                    let done = self
                        .pgtable
                        .follow_pte(va)
                        .is_some_and(|p| !write || pte_write(p.pte));
                    if !done && self.handle_mm_fault_vma(&vma, va, flags).is_error() {
                        return;
                    }
                    va += PAGE_SIZE;
                }
            }
            cur = e;
        }
    }

    // -------------------------------------------------------------------------- munmap

    /// `munmap` (`do_vmi_munmap()`): removes every mapping in `[start, start+len)`,
    /// splitting VMAs at the ends, zapping the PTEs (frames return to the allocator once
    /// unreferenced) and freeing page tables that became empty. Holes are fine. Returns 0.
    ///
    /// # Errors
    /// `EINVAL` for an unaligned `start`, `len == 0`, or a range beyond `TASK_SIZE`;
    /// `ENOMEM` if splitting a VMA would exceed the map-count limit.
    pub fn do_munmap(&mut self, start: u64, len: u64) -> KResult<u64> {
        if !page_aligned(start) || start > self.task_size || len > self.task_size - start {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        self.do_vmi_munmap(start, start + len)?;
        Ok(0)
    }

    /// The body of munmap on a validated page-aligned range.
    pub(crate) fn do_vmi_munmap(&mut self, start: u64, end: u64) -> KResult<()> {
        // do_vmi_align_munmap(): update_hiwater_vm() before the VMAs go (`VmPeak`).
        if self.vmas.find_vma_intersection(start, end).is_some() {
            self.update_hiwater_vm();
        }
        let removed = self.vmas.remove_range(start, end)?;
        if removed.is_empty() {
            return Ok(());
        }
        let mut tlb = self.tlb_gather_mmu();
        for v in &removed {
            self.pgtable.zap_pte_range(v.start, v.end, &mut tlb);
            self.hugetlb_vm_op_close(v, v.start, v.end);
        }
        self.pgtable.free_pgtables(start, end, &mut tlb);
        self.tlb_finish_mmu(tlb);
        if removed.iter().any(|v| !v.is_anonymous()) {
            self.sync_file_rmap();
        }
        Ok(())
    }

    // --------------------------------------------------------------------------- msync

    /// `msync` (`mm/msync.c`): writes the shared file mappings in `[start, start+len)`
    /// back to their files (`vfs_fsync_range()` over each VMA's file range), after the
    /// reverse map has moved the hardware D bits of every mapping of those pages into
    /// the page cache. `MS_SYNC` and `MS_ASYNC` both write back now (Linux's `MS_ASYNC`
    /// is a no-op since dirty pages are tracked anyway; doing the writeback at once is one
    /// of the behaviours POSIX allows, and makes the call observable in the statistics).
    /// `MS_INVALIDATE` has nothing to invalidate in a coherent page cache. Unmapped parts
    /// of the range are skipped and reported as `ENOMEM` at the end; with plain `MS_ASYNC`
    /// the first hole ends the call with `ENOMEM` at once, as in Linux.
    ///
    /// # Errors
    /// `EINVAL`: flags other than `MS_ASYNC | MS_INVALIDATE | MS_SYNC`, both `MS_ASYNC` and
    /// `MS_SYNC`, or an unaligned `start`. `ENOMEM`: the range wraps past 2^64 (a length
    /// that wraps to 0 when page-aligned is an empty range, 0), or part of it is unmapped. `EBUSY`: `MS_INVALIDATE` on `VM_LOCKED` memory. A writeback error of a
    /// file (`EIO`, `ENOSPC`).
    pub fn msync(&self, start: u64, len: u64, flags: u64) -> KResult<u64> {
        ksys_msync(start, len, flags, &mut |a| self.vmas.find_vma(a).cloned())
    }

    // ------------------------------------------------------------------------ mprotect

    /// `mprotect` (`do_mprotect_pkey()`): sets the protection of `[start, start+len)` to
    /// `prot`, splitting and merging VMAs, and changing the PTEs (`change_protection()`).
    /// VMAs before a hole are changed before the hole is reported, as in Linux.
    ///
    /// # Errors
    /// `EINVAL`: unaligned `start`, unknown `prot` bits, both `PROT_GROWSDOWN` and
    /// `PROT_GROWSUP`, `PROT_GROWSUP` at all (riscv has no `VM_GROWSUP`), `PROT_GROWSDOWN`
    /// on a VMA without `VM_GROWSDOWN`. `ENOMEM`: a `len` that overflows, an unmapped
    /// address in the range, the map-count limit. `EACCES`: asking for an access the VMA's
    /// `VM_MAY*` bits forbid.
    pub fn mprotect(&mut self, start: u64, len: u64, prot: u64) -> KResult<u64> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(Errno::EINVAL);
        }
        if !page_aligned(start) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(0);
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        // arch_validate_prot(): arm64 also accepts PROT_MTE.
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_MTE) != 0 {
            return Err(Errno::EINVAL);
        }
        let first = self
            .vmas
            .find_vma_intersection(start, end)
            .cloned()
            .ok_or(Errno::ENOMEM)?;
        let mut start = start;
        if grows & PROT_GROWSDOWN != 0 {
            start = first.start;
            if !first.flags.contains(VmFlags::GROWSDOWN) {
                return Err(Errno::EINVAL);
            }
        } else {
            if first.start > start {
                return Err(Errno::ENOMEM);
            }
            if grows & PROT_GROWSUP != 0 {
                // Linux extends `end` to the VMA's end; riscv has no VM_GROWSUP VMA.
                return Err(Errno::EINVAL);
            }
        }

        let mut tlb = self.tlb_gather_mmu();
        let (result, tmp) = self.walk_vma_range(start, end, first.start, |mm, vma, s, e| {
            let newflags = calc_vm_prot_bits(prot) | (vma.flags - VmFlags::ACCESS);
            // VM_MTE stays once set (arm64 keeps it: it is not in VM_ACCESS_FLAGS).
            let newflags = arch_mte_flags(newflags, prot, false)?;
            // newflags >> 4 shifts VM_MAY* onto VM_*.
            let bits = newflags.bits();
            if (bits & !(bits >> 4)) & VmFlags::ACCESS.bits() != 0 {
                return Err(Errno::EACCES);
            }
            mm.mprotect_fixup(vma, s, e, newflags, &mut tlb)
        });
        self.vmas.merge_range(start, tmp.max(start));
        self.tlb_finish_mmu(tlb);
        // change_protection()'s flush before mmap_write_unlock(): a PTE made read-only
        // is read-only on every hart before another path may copy its page (a
        // FOLL_FORCE write's COW), as after fork (see Mm::dup_mmap).
        self.flush_gather_posted();
        result
    }

    /// The walk `do_mprotect_pkey()` and `apply_vma_lock_flags()` share: `f(mm, vma, s, e)`
    /// for each piece `[s, e)` of `[start, end)` inside a VMA, from the VMA that starts
    /// at `first_start`; a hole ends the walk with `ENOMEM`, the pieces before it done,
    /// and so does an error of `f`. Returns the result and the end of the last piece
    /// reached (where the caller's `merge_range` stops).
    fn walk_vma_range(
        &mut self,
        start: u64,
        end: u64,
        first_start: u64,
        mut f: impl FnMut(&mut Self, &Vma, u64, u64) -> KResult<()>,
    ) -> (KResult<u64>, u64) {
        let mut tmp = first_start;
        let mut nstart = start;
        let mut result = Ok(0);
        while let Some(vma) = self.vmas.find_vma(nstart).cloned() {
            if vma.start >= end {
                break;
            }
            if vma.start != tmp {
                result = Err(Errno::ENOMEM);
                break;
            }
            tmp = vma.end.min(end);
            if let Err(e) = f(self, &vma, nstart, tmp) {
                result = Err(e);
                break;
            }
            nstart = tmp;
            if nstart >= end {
                break;
            }
        }
        if result.is_ok() && tmp < end {
            result = Err(Errno::ENOMEM);
        }
        (result, tmp)
    }

    /// `mprotect_fixup()`: gives `[start, end)` (inside `vma`) the flags `newflags`.
    fn mprotect_fixup(
        &mut self,
        vma: &Vma,
        start: u64,
        end: u64,
        mut newflags: VmFlags,
        tlb: &mut MmuGather,
    ) -> KResult<()> {
        let old = vma.flags;
        if newflags == old {
            return Ok(());
        }
        // Making a private mapping writable charges it; the charge is not dropped when it
        // becomes read-only again.
        if newflags.contains(VmFlags::WRITE)
            && !old.intersects(
                VmFlags::ACCOUNT
                    | VmFlags::WRITE
                    | VmFlags::HUGETLB
                    | VmFlags::SHARED
                    | VmFlags::NORESERVE,
            )
        {
            newflags |= VmFlags::ACCOUNT;
        }
        self.vma_adjust_trans_huge(start, end);
        self.vmas.split_at_bounds(start, end)?;
        if let Some(v) = self.vmas.get_mut(start) {
            v.flags = newflags;
        }
        self.pgtable.change_protection(start, end, newflags, tlb);
        Ok(())
    }

    // --------------------------------------------------------------------------- mlock

    /// `mlock(start, len)` (`lock`) and `munlock(start, len)` (`mm/mlock.c` `do_mlock()`,
    /// `munlock` syscall): `start` is rounded down to its page and `len + (start & 0xfff)`
    /// up (`PAGE_ALIGN`, wrapping: a length within a page of 2^64 is an empty range), then
    /// `apply_vma_lock_flags()` sets or clears `VM_LOCKED` on every VMA of the range,
    /// splitting and merging them as `mlock_fixup()` does (`VM_SPECIAL` and hugetlb VMAs
    /// are left alone), and `mlock` faults the pages in (`__mm_populate()`). The caller is
    /// root (`CAP_IPC_LOCK`): `RLIMIT_MEMLOCK` does not apply.
    ///
    /// # Errors
    /// `EINVAL` when the rounded range wraps past 2^64; `ENOMEM` when `start` is not in a
    /// VMA (nothing changed), or a hole follows (the VMAs before it changed), or the
    /// map-count limit.
    pub fn mlock(&mut self, start: u64, len: u64, lock: bool) -> KResult<u64> {
        let to_add = if lock {
            VmFlags::LOCKED
        } else {
            VmFlags::empty()
        };
        self.do_mlock(start, len, to_add)
    }

    /// `mlock2(start, len, flags)`: as [`Mm::mlock`], with `MLOCK_ONFAULT` (1) setting
    /// `VM_LOCKONFAULT` too, whose pages are locked as they fault in rather than now.
    ///
    /// # Errors
    /// `EINVAL` for other flags; as [`Mm::mlock`].
    pub fn mlock2(&mut self, start: u64, len: u64, flags: u64) -> KResult<u64> {
        const MLOCK_ONFAULT: u64 = 1;
        if flags & !MLOCK_ONFAULT != 0 {
            return Err(Errno::EINVAL);
        }
        let mut to_add = VmFlags::LOCKED;
        if flags & MLOCK_ONFAULT != 0 {
            to_add |= VmFlags::LOCKONFAULT;
        }
        self.do_mlock(start, len, to_add)
    }

    /// `do_mlock()`/`sys_munlock()` with the lock flags `to_add` (none: unlock).
    fn do_mlock(&mut self, start: u64, len: u64, to_add: VmFlags) -> KResult<u64> {
        let len = len
            .wrapping_add(start & (PAGE_SIZE - 1))
            .wrapping_add(PAGE_SIZE - 1)
            & !(PAGE_SIZE - 1);
        let start = start & !(PAGE_SIZE - 1);
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if end == start {
            return Ok(0);
        }
        let result = self.apply_vma_lock_flags(start, end, to_add);
        // __mm_populate() skips VM_LOCKONFAULT VMAs (populate_vma_page_range()).
        if result.is_ok() && to_add == VmFlags::LOCKED {
            self.mm_populate(start, end);
        }
        result
    }

    /// `apply_vma_lock_flags()`: `mlock_fixup()` of every VMA of `[start, end)` to its
    /// flags without `VM_LOCKED_MASK`, plus `to_add`.
    ///
    /// # Errors
    /// `ENOMEM` when `start` is not in a VMA or a hole follows; the map-count limit.
    fn apply_vma_lock_flags(&mut self, start: u64, end: u64, to_add: VmFlags) -> KResult<u64> {
        let first = self
            .vmas
            .find_vma(start)
            .filter(|v| v.start <= start)
            .cloned()
            .ok_or(Errno::ENOMEM)?;
        let (result, tmp) = self.walk_vma_range(start, end, first.start, |mm, vma, s, e| {
            let newflags = (vma.flags - (VmFlags::LOCKED | VmFlags::LOCKONFAULT)) | to_add;
            let fixed = vma.flags.intersects(VmFlags::SPECIAL | VmFlags::HUGETLB);
            if newflags != vma.flags && !fixed {
                mm.vmas.split_at_bounds(s, e)?;
                if let Some(v) = mm.vmas.get_mut(s) {
                    v.flags = newflags;
                }
            }
            Ok(())
        });
        self.vmas.merge_range(start, tmp.max(start));
        result
    }

    /// `mlockall(flags)` and, with `flags` 0, `munlockall()` (`apply_mlockall_flags()`):
    /// `MCL_FUTURE` (2) makes later mappings locked (`mm->def_flags`), `MCL_CURRENT` (1)
    /// locks every VMA now and faults them in, `MCL_ONFAULT` (4) makes either lock on
    /// fault. The caller is root: `RLIMIT_MEMLOCK` does not apply.
    ///
    /// # Errors
    /// `EINVAL` for no flag (in `mlockall`), unknown flags or `MCL_ONFAULT` alone; the
    /// map-count limit.
    pub fn mlockall(&mut self, flags: u64, munlockall: bool) -> KResult<u64> {
        const MCL_CURRENT: u64 = 1;
        const MCL_FUTURE: u64 = 2;
        const MCL_ONFAULT: u64 = 4;
        if !munlockall
            && (flags == 0
                || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0
                || flags == MCL_ONFAULT)
        {
            return Err(Errno::EINVAL);
        }
        let lock = |on: bool| match (on, flags & MCL_ONFAULT != 0) {
            (false, _) => VmFlags::empty(),
            (true, false) => VmFlags::LOCKED,
            (true, true) => VmFlags::LOCKED | VmFlags::LOCKONFAULT,
        };
        self.def_flags = (self.def_flags - (VmFlags::LOCKED | VmFlags::LOCKONFAULT))
            | lock(flags & MCL_FUTURE != 0);
        if flags & MCL_FUTURE != 0 && flags & MCL_CURRENT == 0 {
            return Ok(0);
        }
        let to_add = lock(flags & MCL_CURRENT != 0);
        let ranges: Vec<(u64, u64)> = self.vmas.iter().map(|v| (v.start, v.end)).collect();
        for (s, e) in ranges {
            self.apply_vma_lock_flags(s, e, to_add)?;
        }
        if to_add == VmFlags::LOCKED {
            self.mm_populate(0, self.task_size);
        }
        Ok(0)
    }

    // ------------------------------------------------------------------------- madvise

    /// `madvise`: applies `advice` to every VMA in `[start, start+len)`.
    ///
    /// Implemented: `MADV_DONTNEED` and `MADV_FREE` (zap: private anonymous memory reads
    /// back as zeros; `FREE` is treated as an immediate `DONTNEED`), `MADV_REMOVE` (shared
    /// writable only), the flag-setting advice (`NORMAL`, `RANDOM`, `SEQUENTIAL`,
    /// `DONTFORK`, `DOFORK`, `HUGEPAGE`, `NOHUGEPAGE`, `DONTDUMP`, `DODUMP`,
    /// `WIPEONFORK`, `KEEPONFORK`, `MERGEABLE`, `UNMERGEABLE`), which splits and merges VMAs
    /// like `mprotect`, the hints `WILLNEED` (nothing to do) and `COLD`/`PAGEOUT` (private
    /// anonymous pages aged or written to swap, see [`super::vmscan`]),
    /// `MADV_POPULATE_READ`/`WRITE`
    /// ([`super::madvise::madvise_populate`], which stops at the first hole) and
    /// `MADV_COLLAPSE` ([`super::khugepaged`]). Unmapped
    /// parts of the range are otherwise skipped and reported as `ENOMEM` after the
    /// mapped parts were advised, as in Linux.
    ///
    /// # Errors
    /// `EINVAL`: unknown advice, unaligned `start`, a length that wraps, or advice the VMA
    /// does not allow (`DONTNEED` on `VM_LOCKED`/`VM_PFNMAP`, `FREE` on a non-private-anon
    /// VMA, `DOFORK` on `VM_IO`, `DODUMP` on `VM_SPECIAL`, `WIPEONFORK` on shared/file,
    /// `REMOVE` on a private or locked VMA). `EACCES`: `REMOVE` on a non-writable shared
    /// VMA. `ENOMEM`: unmapped addresses, map-count limit.
    pub fn madvise(&mut self, start: u64, len_in: u64, advice: i32) -> KResult<u64> {
        if !madvise_need_mmap_write(advice) {
            let mut guard = self.mmap_read_lock();
            return super::madvise::madvise_read_locked(&mut guard, start, len_in, advice);
        }
        madvise_walk(
            self,
            start,
            len_in,
            advice,
            |mm, cur| mm.vmas.find_vma(cur).cloned(),
            |mm, vma, s, e| mm.madvise_vma(vma, s, e, advice),
        )
    }

    /// `do_madvise()` for the advice that leaves the VMAs alone
    /// ([`madvise_need_mmap_write`] false: `MADV_DONTNEED`, `MADV_FREE`, `MADV_REMOVE`,
    /// `MADV_WILLNEED`, `MADV_COLD`, `MADV_PAGEOUT`), under the read side of the
    /// `mmap_lock` as Linux takes it: a zap changes PTEs under their page-table locks
    /// only, so faults of other threads go on meanwhile. Other advice is `EINVAL` here.
    ///
    /// # Errors
    /// As [`Mm::madvise`].
    pub fn madvise_read(&self, start: u64, len_in: u64, advice: i32) -> KResult<u64> {
        if madvise_need_mmap_write(advice) {
            return Err(Errno::EINVAL);
        }
        madvise_walk(
            &mut &*self,
            start,
            len_in,
            advice,
            |mm, cur| mm.vmas.find_vma(cur).cloned(),
            |mm, vma, s, e| mm.madvise_vma_read(vma, s, e, advice),
        )
    }

    /// `madvise_vma_behavior()` for `[start, end)` inside `vma`, for the advice that
    /// needs only the read side of the `mmap_lock` (see [`Mm::madvise_read`]).
    fn madvise_vma_read(&self, vma: &Vma, start: u64, end: u64, advice: i32) -> KResult<()> {
        let f = vma.flags;
        let lru_ok = !f.intersects(VmFlags::LOCKED | VmFlags::PFNMAP | VmFlags::HUGETLB);
        match advice {
            MADV_DONTNEED if vma.is_vm_hugetlb_page() => {
                // madvise_dontneed_free_valid_vma(): the start must be on a huge page;
                // the end is rounded down to one ("avoid unexpected data loss").
                let size = vma.kernel_pagesize();
                if !start.is_multiple_of(size) {
                    return Err(Errno::EINVAL);
                }
                let end = end & !(size - 1);
                if start < end {
                    self.zap_range(start, end);
                }
                Ok(())
            }
            MADV_DONTNEED | MADV_FREE => {
                if !lru_ok {
                    return Err(Errno::EINVAL);
                }
                if advice == MADV_FREE && (!vma.is_anonymous() || f.contains(VmFlags::SHARED)) {
                    return Err(Errno::EINVAL);
                }
                // The PTEs go (the next access faults the file's or shmem object's page
                // back in, or zeros for anonymous memory; a dirty shared file PTE hands its
                // D bit to the page first).
                self.zap_range(start, end);
                Ok(())
            }
            MADV_REMOVE => {
                if f.contains(VmFlags::LOCKED) || !f.contains(VmFlags::SHARED) {
                    return Err(Errno::EINVAL);
                }
                if !f.contains(VmFlags::WRITE) {
                    return Err(Errno::EACCES);
                }
                // madvise_remove(): vfs_fallocate(PUNCH_HOLE | KEEP_SIZE) on the file (or
                // shmem object) range, which unmaps it from every mapping.
                let file = vma.file().ok_or(Errno::EINVAL)?;
                let offset = vma.pgoff_of(start).saturating_mul(PAGE_SIZE);
                file.punch_hole(offset, end - start)?;
                Ok(())
            }
            MADV_WILLNEED => Ok(()),
            MADV_COLD if lru_ok => {
                self.madvise_cold(vma, start, end);
                Ok(())
            }
            MADV_PAGEOUT if lru_ok => {
                self.madvise_pageout(vma, start, end);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `madvise_vma_behavior()` for `[start, end)` inside `vma`, for the advice that
    /// changes VMA flags (the write side of the `mmap_lock`).
    fn madvise_vma(&mut self, vma: &Vma, start: u64, end: u64, advice: i32) -> KResult<()> {
        if !madvise_need_mmap_write(advice) {
            return self.madvise_vma_read(vma, start, end, advice);
        }
        if advice == MADV_COLLAPSE {
            return self.madvise_collapse(vma, start, end);
        }
        let f = vma.flags;
        let new = match advice {
            MADV_NORMAL => f - (VmFlags::SEQ_READ | VmFlags::RAND_READ),
            MADV_SEQUENTIAL => (f - VmFlags::RAND_READ) | VmFlags::SEQ_READ,
            MADV_RANDOM => (f - VmFlags::SEQ_READ) | VmFlags::RAND_READ,
            MADV_DONTFORK => f | VmFlags::DONTCOPY,
            MADV_DOFORK => {
                if f.contains(VmFlags::IO) {
                    return Err(Errno::EINVAL);
                }
                f - VmFlags::DONTCOPY
            }
            MADV_WIPEONFORK => {
                if !vma.is_anonymous() || f.contains(VmFlags::SHARED) {
                    return Err(Errno::EINVAL);
                }
                f | VmFlags::WIPEONFORK
            }
            MADV_KEEPONFORK => f - VmFlags::WIPEONFORK,
            MADV_DONTDUMP => f | VmFlags::DONTDUMP,
            MADV_DODUMP => {
                if f.intersects(VmFlags::SPECIAL) {
                    return Err(Errno::EINVAL);
                }
                f - VmFlags::DONTDUMP
            }
            MADV_HUGEPAGE => (f - VmFlags::NOHUGEPAGE) | VmFlags::HUGEPAGE,
            MADV_NOHUGEPAGE => (f - VmFlags::HUGEPAGE) | VmFlags::NOHUGEPAGE,
            MADV_MERGEABLE => {
                if f.intersects(
                    VmFlags::MERGEABLE
                        | VmFlags::SHARED
                        | VmFlags::MAYSHARE
                        | VmFlags::SPECIAL
                        | VmFlags::HUGETLB,
                ) {
                    return Ok(());
                }
                f | VmFlags::MERGEABLE
            }
            MADV_UNMERGEABLE => f - VmFlags::MERGEABLE,
            _ => return Err(Errno::EINVAL),
        };
        if new == f {
            return Ok(());
        }
        self.vma_adjust_trans_huge(start, end);
        self.vmas.split_at_bounds(start, end)?;
        if let Some(v) = self.vmas.get_mut(start) {
            v.flags = new;
        }
        self.vmas.merge_range(start, end);
        Ok(())
    }

    /// `zap_page_range_single()`: drops every PTE in `[start, end)` (VMAs unchanged),
    /// under the PTE tables' locks; the pages go after the shootdown.
    fn zap_range(&self, start: u64, end: u64) {
        let mut tlb = self.tlb_gather_mmu();
        self.pgtable.zap_pte_range(start, end, &mut tlb);
        self.tlb_finish_mmu(tlb);
    }

    // ----------------------------------------------------------------------------- brk

    /// Sets the initial program break (exec, after the bss): `start_brk = brk =
    /// PAGE_ALIGN(addr)`.
    pub fn init_brk(&mut self, addr: u64) {
        let b = page_align(addr).unwrap_or(addr);
        self.start_brk = b;
        self.brk = b;
    }

    /// `brk`: moves the program break to `brk` and returns the new break, or the old one
    /// if the request is refused — never an errno (Linux semantics; glibc checks the
    /// result). Below `start_brk`, beyond `TASK_SIZE`, too close to the next mapping (one
    /// page plus the stack guard gap if it is a stack), or out of memory: refused.
    /// Shrinking unmaps; growing maps anonymous memory
    /// (`VM_READ|VM_WRITE|VM_MAY*|VM_ACCOUNT|VM_SOFTDIRTY`), merged with the heap VMA.
    pub fn brk(&mut self, brk: u64) -> u64 {
        let origbrk = self.brk;
        if brk < self.start_brk {
            return origbrk;
        }
        let (Some(newbrk), Some(oldbrk)) = (page_align(brk), page_align(self.brk)) else {
            return origbrk;
        };
        if newbrk > self.task_size {
            return origbrk;
        }
        if oldbrk == newbrk {
            self.brk = brk;
            return brk;
        }
        if brk <= self.brk {
            if self.do_vmi_munmap(newbrk, oldbrk).is_err() {
                return origbrk;
            }
            self.brk = brk;
            return brk;
        }
        let limit = newbrk.saturating_add(PAGE_SIZE + STACK_GUARD_GAP);
        if let Some(next) = self.vmas.find_vma_intersection(oldbrk, limit) {
            if newbrk + PAGE_SIZE > next.start_gap(STACK_GUARD_GAP) {
                return origbrk;
            }
        }
        // do_brk_flags(): the (grown) heap VMA gets VM_SOFTDIRTY.
        let flags = VmFlags::READ
            | VmFlags::WRITE
            | VmFlags::MAY_ALL
            | VmFlags::ACCOUNT
            | VmFlags::SOFTDIRTY;
        let vma = Vma::new_anon(oldbrk, newbrk, flags, None);
        if self.vmas.insert(vma).is_err() {
            return origbrk;
        }
        self.vmas.merge_range(oldbrk, newbrk);
        self.brk = brk;
        brk
    }

    // -------------------------------------------------------------------------- mremap

    /// `mremap`: resizes and/or moves the mapping at `addr`.
    ///
    /// Shrinking unmaps the tail in place. Growing extends in place when the VMA ends at
    /// `addr + old_len` and the space after it is free; otherwise, with `MREMAP_MAYMOVE`,
    /// the mapping moves to a free area (or to `new_addr` with `MREMAP_FIXED`, replacing
    /// what is there) by moving its PTEs — the data is not copied. `MREMAP_DONTUNMAP`
    /// moves the PTEs and leaves the old range mapped but empty (private anonymous memory
    /// there reads zeros afterwards). `old_len == 0` makes a second mapping of a shared
    /// mapping's object (a file, or the shmem object of shared anonymous memory), with
    /// `MREMAP_MAYMOVE`.
    ///
    /// # Errors
    /// `EINVAL`: unknown flags, `FIXED` without `MAYMOVE`, `DONTUNMAP` without `MAYMOVE`
    /// or with a size change, a hugetlb VMA (not built here), unaligned `addr`/`new_addr`,
    /// `new_len == 0`, `old_len == 0`
    /// on anything but a shared mapping,
    /// overlapping old and new ranges, a new range beyond `TASK_SIZE`, `pgoff` overflow.
    /// `EFAULT`: `addr` not mapped, or the old range crosses the VMA's end, or the VMA is
    /// `VM_DONTEXPAND`/`VM_PFNMAP` and must grow. `ENOMEM`: cannot grow in place and may
    /// not move, no room, or out of memory.
    pub fn mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> KResult<u64> {
        if flags & !(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_DONTUNMAP != 0 && (flags & MREMAP_MAYMOVE == 0 || old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let old_len = page_align(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_align(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let Some(vma) = self.vmas.vma_lookup(addr) else {
            return Err(Errno::EFAULT);
        };
        if vma.is_vm_hugetlb_page() {
            // Not built here (see super::hugetlb): Linux moves aligned hugetlb ranges.
            return Err(Errno::EINVAL);
        }
        // "We allow a zero old-len as a special case for DOS-emu legacy (sic)": a second
        // mapping of a shared mapping's object.
        if old_len == 0 && !vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            return Err(Errno::EINVAL);
        }
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return self.mremap_to(addr, old_len, new_addr, new_len, flags);
        }
        // "Always allow a shrinking remap: that just unmaps the unnecessary pages" — with
        // munmap's range checks, so a huge old_len is EINVAL, never an unmap of
        // everything above addr.
        if old_len >= new_len {
            if old_len > new_len {
                self.munmap_tail(addr, old_len, new_len)?;
            }
            return Ok(addr);
        }
        let vma = self.vma_to_resize(addr, old_len, new_len, flags)?;
        if old_len == vma.end - addr {
            let delta = new_len - old_len;
            if self.vma_expandable(&vma, delta) {
                let new_end = vma.end + delta;
                if let Some(v) = self.vmas.get_mut(vma.start) {
                    v.end = new_end;
                    // A grown VMA is soft-dirty, as a new one (see mmap_region()).
                    v.flags |= VmFlags::SOFTDIRTY;
                }
                self.vmas.merge_range(vma.start, new_end);
                if !vma.is_anonymous() {
                    self.sync_file_rmap();
                }
                if vma.flags.contains(VmFlags::LOCKED) {
                    self.mm_populate(addr + old_len, addr + new_len);
                }
                return Ok(addr);
            }
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let map_flags = if vma.flags.contains(VmFlags::MAYSHARE) {
            MAP_SHARED
        } else {
            0
        };
        let dst = self.get_unmapped_area(0, new_len, map_flags)?;
        self.move_vma(&vma, addr, old_len, new_len, dst, flags)
    }

    /// Unmaps `[addr + new_len, addr + old_len)` for a shrinking `mremap`
    /// (`do_vmi_munmap(addr + new_len, old_len - new_len)`): `EINVAL` unless the range lies
    /// inside user space, as for `munmap`.
    fn munmap_tail(&mut self, addr: u64, old_len: u64, new_len: u64) -> KResult<()> {
        let start = addr.checked_add(new_len).ok_or(Errno::EINVAL)?;
        self.do_munmap(start, old_len - new_len).map(|_| ())
    }

    /// `vma_to_resize()`.
    fn vma_to_resize(&self, addr: u64, old_len: u64, new_len: u64, flags: u64) -> KResult<Vma> {
        let vma = self.vmas.vma_lookup(addr).cloned().ok_or(Errno::EFAULT)?;
        if old_len > vma.end - addr {
            return Err(Errno::EFAULT);
        }
        if flags & MREMAP_DONTUNMAP != 0
            && vma.flags.intersects(VmFlags::DONTEXPAND | VmFlags::PFNMAP)
        {
            return Err(Errno::EINVAL);
        }
        if new_len == old_len {
            return Ok(vma);
        }
        if vma
            .pgoff_of(addr)
            .checked_add(new_len / PAGE_SIZE)
            .is_none()
        {
            return Err(Errno::EINVAL);
        }
        if vma.flags.intersects(VmFlags::DONTEXPAND | VmFlags::PFNMAP) {
            return Err(Errno::EFAULT);
        }
        Ok(vma)
    }

    /// `vma_expandable()`: nothing mapped in the `delta` bytes after `vma` and still inside
    /// user space.
    fn vma_expandable(&self, vma: &Vma, delta: u64) -> bool {
        let Some(end) = vma.end.checked_add(delta) else {
            return false;
        };
        end <= self.task_size && self.vmas.find_vma_intersection(vma.end, end).is_none()
    }

    /// `mremap_to()`: the `MREMAP_FIXED` / `MREMAP_DONTUNMAP` path.
    fn mremap_to(
        &mut self,
        addr: u64,
        mut old_len: u64,
        new_addr: u64,
        new_len: u64,
        flags: u64,
    ) -> KResult<u64> {
        if !page_aligned(new_addr) {
            return Err(Errno::EINVAL);
        }
        if new_len > self.task_size || new_addr > self.task_size - new_len {
            return Err(Errno::EINVAL);
        }
        let old_end = addr.checked_add(old_len).ok_or(Errno::EINVAL)?;
        if old_end > new_addr && new_addr + new_len > addr {
            return Err(Errno::EINVAL);
        }
        if flags & MREMAP_FIXED != 0 {
            self.do_munmap(new_addr, new_len)?;
        }
        if old_len > new_len {
            self.munmap_tail(addr, old_len, new_len)?;
            old_len = new_len;
        }
        let vma = self.vma_to_resize(addr, old_len, new_len, flags)?;
        let mut map_flags = 0;
        if flags & MREMAP_FIXED != 0 {
            map_flags |= MAP_FIXED;
        }
        if vma.flags.contains(VmFlags::MAYSHARE) {
            map_flags |= MAP_SHARED;
        }
        let got = self.get_unmapped_area(new_addr, new_len, map_flags)?;
        let dst = if flags & MREMAP_FIXED != 0 {
            new_addr
        } else {
            got
        };
        self.move_vma(&vma, addr, old_len, new_len, dst, flags)
    }

    /// `move_vma()`: a new VMA at `new_addr` (same flags, backing and `vm_pgoff` as the
    /// moved part), the PTEs moved over (`move_page_tables()`), then the old range unmapped
    /// unless `MREMAP_DONTUNMAP`.
    fn move_vma(
        &mut self,
        vma: &Vma,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        new_addr: u64,
        flags: u64,
    ) -> KResult<u64> {
        // Linux: "We'd prefer to avoid failure later on in do_munmap: which may split
        // into 2 VMAs and then add 1 at the new place".
        if self.vmas.map_count() + 3 >= super::vma::DEFAULT_MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        let new_vma = Vma {
            start: new_addr,
            end: new_addr + new_len,
            flags: vma.flags.difference(super::userfaultfd::VM_UFFD_FLAGS),
            pgoff: vma.pgoff_of(old_addr),
            backing: vma.backing.clone(),
            name: vma.name.clone(),
            // mremap_userfaultfd_prep() without UFFD_FEATURE_EVENT_REMAP: the moved range
            // is no longer registered (userfaultfd_reset_ctx()).
            userfaultfd_ctx: None,
        };
        let mut tlb = self.tlb_gather_mmu();
        let moved = self
            .pgtable
            .move_ptes(old_addr, old_addr + old_len, new_addr, &mut tlb);
        if let Err(e) = moved {
            self.tlb_finish_mmu(tlb);
            return Err(e);
        }
        if let Err(e) = self.vmas.insert(new_vma) {
            // Put the PTEs back where the VMA still is.
            let mut back = self.tlb_gather_mmu();
            let _ = self
                .pgtable
                .move_ptes(new_addr, new_addr + old_len, old_addr, &mut back);
            self.pgtable
                .free_pgtables(new_addr, new_addr + new_len, &mut back);
            self.tlb_finish_mmu(tlb);
            self.tlb_finish_mmu(back);
            return Err(e);
        }
        self.vmas.merge_range(new_addr, new_addr + new_len);
        self.tlb_finish_mmu(tlb);
        if !vma.is_anonymous() {
            self.sync_file_rmap();
        }
        if flags & MREMAP_DONTUNMAP == 0 {
            self.do_vmi_munmap(old_addr, old_addr + old_len)?;
        } else {
            let mut tlb = self.tlb_gather_mmu();
            self.pgtable
                .free_pgtables(old_addr, old_addr + old_len, &mut tlb);
            self.tlb_finish_mmu(tlb);
        }
        if vma.flags.contains(VmFlags::LOCKED) && new_len > old_len {
            self.mm_populate(new_addr + old_len, new_addr + new_len);
        }
        Ok(new_addr)
    }

    // ------------------------------------------------------------ exec-time helpers

    /// Maps `[start, start+len)` (`len` rounded up to pages) as private anonymous memory
    /// with `flags` (the caller gives the access bits, e.g. from an ELF segment's
    /// `p_flags`, plus `VM_GROWSDOWN` for a stack); `VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC` and
    /// `VM_ACCOUNT` (if writable) are added. Like `MAP_FIXED`, it replaces whatever was
    /// there. Pages are not populated: use [`Mm::write_region`] to fill them.
    ///
    /// # Errors
    /// `EINVAL` for an unaligned `start`, `len == 0` or `VM_SHARED`; `ENOMEM` if the range
    /// leaves user space or the map-count limit is reached.
    pub fn map_region(
        &mut self,
        start: u64,
        len: u64,
        flags: VmFlags,
        name: Option<&str>,
    ) -> KResult<()> {
        if !page_aligned(start) || len == 0 || flags.contains(VmFlags::SHARED) {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.task_size {
            return Err(Errno::ENOMEM);
        }
        self.mmap_region(
            start,
            len,
            flags | VmFlags::MAY_ALL,
            start / PAGE_SIZE,
            VmaBacking::Anon,
            name.map(Arc::from),
        )
    }

    /// Writes `data` at user address `va` regardless of the VMA's protection (the ELF
    /// loader filling a read-only text segment; Linux's equivalent is a `FOLL_FORCE` write
    /// or the page cache). Each page is made a private page of this mapping first (a write
    /// fault through [`Mm::handle_mm_fault_vma`], which maps it with the VMA's protection),
    /// then written through its physical address, and marked `PG_dirty`. The PTE's D bit
    /// stays as it was: no user store happened.
    ///
    /// # Errors
    /// `EFAULT` if part of the range has no VMA (bytes before it are written); `ENOMEM`
    /// when out of memory.
    pub fn write_region(&mut self, va: u64, data: &[u8]) -> KResult<()> {
        let mut done = 0usize;
        while done < data.len() {
            let addr = va.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let off = addr % PAGE_SIZE;
            let n = (data.len() - done).min((PAGE_SIZE - off) as usize);
            let (pfn, exec) = self.get_page_for_kernel_write(addr)?;
            let pa = devices::GuestPhysAddr(pfn.pa().0 + off);
            let chunk = data.get(done..done + n).ok_or(Errno::EFAULT)?;
            self.phys
                .ram
                .write_bytes(pa, chunk)
                .map_err(|_| Errno::EFAULT)?;
            if let Some(p) = self.phys.pages.page(pfn) {
                p.set(PageFlags::DIRTY);
            }
            if exec {
                self.request_icache_flush();
            }
            done += n;
        }
        Ok(())
    }

    /// The private page mapped at `addr`, faulting one in with a write fault if needed.
    fn get_page_for_kernel_write(&mut self, addr: u64) -> KResult<(Pfn, bool)> {
        let vma = self.vmas.vma_lookup(addr).cloned().ok_or(Errno::EFAULT)?;
        let exec = vma.flags.contains(VmFlags::EXEC);
        for _ in 0..3 {
            if let Some(slot) = self.pgtable.follow_pte(addr) {
                // For a huge PMD the head's PageAnonExclusive speaks for the mapping.
                if let Some(owner) = self.pgtable.vm_normal_page(slot.pte) {
                    let owned = self.phys.pages.page(owner).is_some_and(|p| {
                        p.test(PageFlags::ANON_EXCLUSIVE) || p.test(PageFlags::SWAPBACKED)
                    });
                    if owned {
                        return Ok((slot.pfn_at(addr), exec));
                    }
                }
            }
            let ret = self.handle_mm_fault_vma(&vma, addr, FaultFlags::WRITE);
            if let Some(e) = super::gup::vm_fault_to_errno(ret, super::FollFlags::empty()) {
                return Err(e);
            }
        }
        Err(Errno::EFAULT)
    }

    /// Maps the initial stack: `[STACK_TOP - initial_len, STACK_TOP)` with
    /// `VM_STACK_FLAGS` (`VM_GROWSDOWN`, read/write, accounted), named `"[stack]"`;
    /// faults below it grow it up to `RLIMIT_STACK`. Returns `STACK_TOP` (= `TASK_SIZE`).
    ///
    /// # Errors
    /// `E2BIG` if `initial_len` exceeds `RLIMIT_STACK`; `ENOMEM` from mapping.
    pub fn setup_stack(&mut self, initial_len: u64) -> KResult<u64> {
        let len = page_align(initial_len.max(PAGE_SIZE)).ok_or(Errno::E2BIG)?;
        if len > self.stack_rlimit || len >= self.task_size {
            return Err(Errno::E2BIG);
        }
        let top = self.task_size;
        let start = top - len;
        self.map_region(start, len, VmFlags::STACK, Some("[stack]"))?;
        self.stack_start = start;
        self.stack_top = top;
        Ok(top)
    }
}

impl super::MmStruct {
    /// `msync` on a shared address space as `ksys_msync()` runs it: the read side of the
    /// `mmap_lock` for each VMA look-up, dropped around each file's writeback
    /// (`vfs_fsync_range()` may sleep on I/O and walks the file's reverse map), so
    /// faults and GUP of other threads go on throughout. Same results as [`Mm::msync`].
    ///
    /// # Errors
    /// As [`Mm::msync`].
    pub fn msync(&self, start: u64, len: u64, flags: u64) -> KResult<u64> {
        ksys_msync(start, len, flags, &mut |a| {
            let mm = crate::lockstat::MMAP_LOCK
                .acquire(|| self.mmap_read_trylock(), || self.mmap_read_lock());
            mm.vmas().find_vma(a).cloned()
        })
    }
}

/// `ksys_msync()`'s walk (`mm/msync.c`) over `[start, start+len)`, with `find_vma(addr)`
/// the first VMA ending above `addr` as a snapshot taken under the `mmap_lock` (the
/// lock is not held between look-ups, so none is held across a writeback).
fn ksys_msync(
    start: u64,
    len: u64,
    flags: u64,
    find_vma: &mut dyn FnMut(u64) -> Option<Vma>,
) -> KResult<u64> {
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 {
        return Err(Errno::EINVAL);
    }
    if !page_aligned(start) {
        return Err(Errno::EINVAL);
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(Errno::EINVAL);
    }
    // `(len + ~PAGE_MASK) & PAGE_MASK` wraps a length within a page of 2^64 to 0.
    let len = len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
    if end == start {
        return Ok(0);
    }
    let mut unmapped = false;
    let mut start = start;
    loop {
        let Some(vma) = find_vma(start) else {
            return Err(Errno::ENOMEM);
        };
        if start < vma.start {
            if flags == MS_ASYNC {
                return Err(Errno::ENOMEM);
            }
            start = vma.start;
            if start >= end {
                return Err(Errno::ENOMEM);
            }
            unmapped = true;
        }
        if flags & MS_INVALIDATE != 0 && vma.flags.contains(VmFlags::LOCKED) {
            return Err(Errno::EBUSY);
        }
        let fstart = vma.pgoff_of(start).saturating_mul(PAGE_SIZE);
        let fend = fstart.saturating_add(end.min(vma.end) - start - 1);
        start = vma.end;
        if flags & (MS_SYNC | MS_ASYNC) != 0 && vma.flags.contains(VmFlags::SHARED) {
            if let Some(file) = vma.file() {
                file.fsync_range(fstart, fend)?;
            }
        }
        if start >= end {
            break;
        }
    }
    if unmapped {
        Err(Errno::ENOMEM)
    } else {
        Ok(0)
    }
}
