//! Virtual memory areas (Linux `struct vm_area_struct`, `mm/vma.c`, `mm/mmap.c`).
//!
//! A [`VmaTree`] is the set of an address space's VMAs, kept sorted, non-overlapping and —
//! after every operation that the system calls perform — maximally merged, as Linux's
//! maple tree of VMAs is after `vma_merge()`. Keyed by `vm_start` in a `BTreeMap`.
//!
//! Anonymous VMAs here have no `anon_vma` object (there is no reverse mapping to serve):
//! any two adjacent anonymous VMAs with equal flags, name and contiguous `vm_pgoff` are
//! merge-compatible. Linux's `is_mergeable_anon_vma()` can refuse such a merge after fork,
//! when the two VMAs got different `anon_vma`s; that changes only how `/proc/<pid>/maps`
//! splits a range, never what memory holds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bitflags::bitflags;
use devices::PAGE_SIZE;

use super::fault::VmFault;
use super::page_alloc::Pfn;
use super::rmap::MmRmap;
use crate::errno::{Errno, KResult};

bitflags! {
    /// `vm_flags` (`include/linux/mm.h`), with Linux's numeric values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct VmFlags: u64 {
        /// Pages may be read.
        const READ = 0x0000_0001;
        /// Pages may be written.
        const WRITE = 0x0000_0002;
        /// Pages may be executed.
        const EXEC = 0x0000_0004;
        /// Writes are shared with other mappings of the same object (`MAP_SHARED`).
        const SHARED = 0x0000_0008;
        /// `mprotect()` may add `VM_READ`.
        const MAYREAD = 0x0000_0010;
        /// `mprotect()` may add `VM_WRITE`.
        const MAYWRITE = 0x0000_0020;
        /// `mprotect()` may add `VM_EXEC`.
        const MAYEXEC = 0x0000_0040;
        /// The mapping was created `MAP_SHARED` (stays set if `VM_SHARED` is dropped).
        const MAYSHARE = 0x0000_0080;
        /// A stack that grows down on faults below `vm_start` (`MAP_GROWSDOWN`).
        const GROWSDOWN = 0x0000_0100;
        /// `VM_UFFD_MISSING`: missing-page faults are reported to the userfaultfd the
        /// VMA is registered with ([`Vma::userfaultfd_ctx`]).
        const UFFD_MISSING = 0x0000_0200;
        /// Page ranges managed without `struct page`, pure PFNs (`remap_pfn_range`).
        const PFNMAP = 0x0000_0400;
        /// `VM_UFFD_WP`: writes to uffd-wp-protected PTEs are reported to the userfaultfd.
        const UFFD_WP = 0x0000_1000;
        /// Pages are `mlock()`ed (`MAP_LOCKED`).
        const LOCKED = 0x0000_2000;
        /// Memory-mapped I/O or similar; never GUP-able.
        const IO = 0x0000_4000;
        /// `MADV_SEQUENTIAL`: the application reads sequentially.
        const SEQ_READ = 0x0000_8000;
        /// `MADV_RANDOM`: no benefit from clustered reads.
        const RAND_READ = 0x0001_0000;
        /// `MADV_DONTFORK`: not copied on fork.
        const DONTCOPY = 0x0002_0000;
        /// Cannot be expanded with `mremap()`.
        const DONTEXPAND = 0x0004_0000;
        /// Pages are locked as they are faulted in (`MLOCK_ONFAULT`).
        const LOCKONFAULT = 0x0008_0000;
        /// The mapping is charged to the commit limit (private writable).
        const ACCOUNT = 0x0010_0000;
        /// Not charged to the commit limit (`MAP_NORESERVE`).
        const NORESERVE = 0x0020_0000;
        /// A hugetlbfs mapping.
        const HUGETLB = 0x0040_0000;
        /// Synchronous page faults (`MAP_SYNC`, DAX).
        const SYNC = 0x0080_0000;
        /// `MADV_WIPEONFORK`: the child sees zero-filled memory.
        const WIPEONFORK = 0x0200_0000;
        /// `MADV_DONTDUMP`: left out of core dumps.
        const DONTDUMP = 0x0400_0000;
        /// `VM_SOFTDIRTY`: "not soft-dirty clean area" — every page of the VMA counts as
        /// soft-dirty (pagemap bit 55) whatever its PTE says. Set on every new or grown
        /// VMA (`mmap`, `brk`, `mremap` growth: a range unmapped and mapped again is new
        /// data to a tracker), cleared by `clear_refs` 4; ignored by VMA merging
        /// (`is_mergeable_vma()`), the merged VMA keeping it if either part had it.
        const SOFTDIRTY = 0x0800_0000;
        /// Both `struct page` pages and raw PFNs (`vm_insert_page`, `vmf_insert_mixed`).
        const MIXEDMAP = 0x1000_0000;
        /// `MADV_HUGEPAGE`: transparent huge pages wanted.
        const HUGEPAGE = 0x2000_0000;
        /// `MADV_NOHUGEPAGE` (also set by `MAP_STACK`): no transparent huge pages.
        const NOHUGEPAGE = 0x4000_0000;
        /// `MADV_MERGEABLE`: KSM may merge identical pages.
        const MERGEABLE = 0x8000_0000;
        /// `VM_MTE` (arm64 `VM_HIGH_ARCH_0`): the memory is tagged (`PROT_MTE`); every
        /// PTE carries `PTE.MTAG`. `mprotect` cannot remove it.
        const MTE = 0x1_0000_0000;
        /// `VM_MTE_ALLOWED` (arm64 `VM_HIGH_ARCH_1`): `PROT_MTE` may be set (anonymous and
        /// shmem mappings, `arch_calc_vm_flag_bits()`).
        const MTE_ALLOWED = 0x2_0000_0000;
    }
}

impl VmFlags {
    /// `VM_ACCESS_FLAGS`: `VM_READ | VM_WRITE | VM_EXEC`.
    pub const ACCESS: VmFlags = VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::EXEC);
    /// `VM_SPECIAL`: mappings that are never merged or expanded.
    pub const SPECIAL: VmFlags = VmFlags::IO
        .union(VmFlags::DONTEXPAND)
        .union(VmFlags::PFNMAP)
        .union(VmFlags::MIXEDMAP);
    /// `VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC`, what every anonymous mapping gets.
    pub const MAY_ALL: VmFlags = VmFlags::MAYREAD
        .union(VmFlags::MAYWRITE)
        .union(VmFlags::MAYEXEC);
    /// `VM_STACK_DEFAULT_FLAGS | VM_GROWSDOWN | VM_ACCOUNT` for a non-exec stack
    /// (`VM_STACK_FLAGS` on riscv, without `READ_IMPLIES_EXEC`).
    pub const STACK: VmFlags = VmFlags::READ
        .union(VmFlags::WRITE)
        .union(VmFlags::MAY_ALL)
        .union(VmFlags::GROWSDOWN)
        .union(VmFlags::ACCOUNT);

    /// `is_cow_mapping()`: private and may become writable.
    #[inline]
    pub fn is_cow_mapping(self) -> bool {
        self & (VmFlags::SHARED | VmFlags::MAYWRITE) == VmFlags::MAYWRITE
    }

    /// `vma_is_accessible()`: any of read, write or exec.
    #[inline]
    pub fn is_accessible(self) -> bool {
        self.intersects(VmFlags::ACCESS)
    }

    /// `vma_soft_dirty_enabled()`: soft-dirty tracking is on for the VMA's pages —
    /// `VM_SOFTDIRTY` is clear (`clear_refs` 4 cleared it), so a write must fault to set a
    /// PTE's soft-dirty bit: no PTE may become writable without it
    /// (`can_change_pte_writable()`), and a shared writable VMA maps its pages read-only
    /// first (`vma_wants_writenotify()`).
    #[inline]
    pub fn soft_dirty_enabled(self) -> bool {
        !self.contains(VmFlags::SOFTDIRTY)
    }
}

/// How a file is opened, as `do_mmap()` checks it (`file->f_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FMode {
    /// `FMODE_READ`.
    pub read: bool,
    /// `FMODE_WRITE`.
    pub write: bool,
}

/// What the file's `f_op->mmap` does (`call_mmap()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmapOp {
    /// No `->mmap`: `do_mmap()` fails with `ENODEV` (pipes, most devices, directories).
    None,
    /// `generic_file_mmap()` / `shmem_mmap()`: a file VMA served from the page cache
    /// through [`MappedFile::fault`].
    PageCache,
    /// `mmap_zero()` (`/dev/zero`): the VMA becomes anonymous memory (private) or shared
    /// anonymous memory (shared).
    AnonZero,
}

/// A file that can back a mapping: Linux's `vma->vm_file` with the `vm_operations_struct`
/// a page-cache file installs (`filemap_fault`, `shmem_fault`).
///
/// Every method but [`MappedFile::inode_id`] has a default for a file without a page
/// cache (`->mmap` absent: `ENODEV`).
pub trait MappedFile: Send + Sync + fmt::Debug {
    /// A stable identity of the underlying object (the inode number).
    fn inode_id(&self) -> u64;

    /// The name `/proc/<pid>/maps` shows for the mapping (`d_path()` of the file the
    /// mapping was made from, e.g. `/tmp/data`; `"/memfd:NAME (deleted)"` for a memfd).
    /// The default, for a file that cannot name itself, is empty (the line then ends
    /// after the inode number).
    fn path(&self) -> Vec<u8> {
        Vec::new()
    }

    /// `shmem_file()`: the file is shmem's — a memfd, a file of a tmpfs mount (`/tmp`,
    /// `/dev/shm`), or the object behind `MAP_SHARED|MAP_ANONYMOUS` — whose mappings may
    /// be tagged (`VM_MTE_ALLOWED`, arm64's `arch_calc_vm_flag_bits()`) and need no dirty
    /// tracking ([`MappedFile::mapping_can_writeback`]).
    fn is_shmem(&self) -> bool {
        false
    }

    /// `mapping_can_writeback(file->f_mapping)`: the file's page cache is written back to
    /// a backing device, so shared writable mappings of it need dirty tracking
    /// (`vma_needs_dirty_tracking()`, see [`super::gup`]). True for a page-cache file of
    /// the root file system; false for shmem and hugetlbfs (`noop_backing_dev_info`: no
    /// `BDI_CAP_WRITEBACK`) and for files without a page cache.
    fn mapping_can_writeback(&self) -> bool {
        self.mmap_op() == MmapOp::PageCache && !self.is_shmem() && self.hugetlb().is_none()
    }

    /// `file->f_mode`: how the file was opened.
    fn f_mode(&self) -> FMode {
        FMode {
            read: true,
            write: true,
        }
    }

    /// What `->mmap` does with this file.
    fn mmap_op(&self) -> MmapOp {
        MmapOp::None
    }

    /// `i_size_read()`: the file size in bytes. A fault on a page at or beyond
    /// `ceil(size / PAGE_SIZE)` gets `SIGBUS`.
    fn size(&self) -> u64 {
        0
    }

    /// `->fault` (`filemap_fault()` / `shmem_fault()`): the page-cache page holding file
    /// page `index`, read in from the backing store if it is not cached, with one
    /// reference taken for the caller (the PTE it installs keeps it). `may_write`: the
    /// page will be mapped writable by a shared mapping, so its backing store is allocated
    /// now (a later writeback cannot fail for lack of space; tmpfs charges at fault time
    /// too).
    ///
    /// Linux's `->fault` returns its `vm_fault_t` and the page in `vmf->page`; here the
    /// page is the `Ok` value and the error bits the `Err` value.
    ///
    /// # Errors
    /// `VM_FAULT_SIGBUS` beyond the end of the file or when the backing store is full
    /// (`ENOSPC`); `VM_FAULT_OOM` when no frame is free.
    fn fault(&self, index: u64, may_write: bool) -> Result<Pfn, VmFault> {
        let _ = (index, may_write);
        Err(VmFault::SIGBUS)
    }

    /// `vma_link_file()`: records that the address space behind `mm` maps this file, so
    /// that truncation and writeback reach its PTEs.
    fn i_mmap_link(&self, mm: &Arc<MmRmap>) {
        let _ = mm;
    }

    /// `vfs_fsync_range()` (what `msync(MS_SYNC)` calls): writes the dirty page-cache
    /// pages of bytes `[start, end]` back to the backing store, after collecting the
    /// hardware D bits of every shared mapping.
    ///
    /// # Errors
    /// A writeback error recorded on the file (`EIO`, `ENOSPC`).
    fn fsync_range(&self, start: u64, end: u64) -> KResult<()> {
        let _ = (start, end);
        Ok(())
    }

    /// `vfs_fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)` for `madvise(MADV_REMOVE)`:
    /// frees bytes `[offset, offset + len)` of the file; they read back as zeros.
    ///
    /// # Errors
    /// `EOPNOTSUPP` if the file cannot punch holes.
    fn punch_hole(&self, offset: u64, len: u64) -> KResult<()> {
        let _ = (offset, len);
        Err(Errno::EOPNOTSUPP)
    }

    /// The hugetlbfs object behind the file (`is_file_hugepages()`), whose VMAs are
    /// `VM_HUGETLB` and faulted by [`super::Mm::hugetlb_fault`]. `None` (the default) for
    /// every other file.
    fn hugetlb(&self) -> Option<&super::hugetlb::HugetlbFile> {
        None
    }

    /// `(major, minor)` of the device holding the file (`inode->i_sb->s_dev`), as
    /// `/proc/<pid>/maps` shows it. The default is `(0, 0)`.
    fn dev(&self) -> (u32, u32) {
        (0, 0)
    }
}

/// What backs a VMA's pages.
#[derive(Clone, Debug)]
pub enum VmaBacking {
    /// Anonymous memory (zero-filled on first touch). `MAP_SHARED|MAP_ANONYMOUS` is also
    /// anonymous here (Linux backs it with shmem); see [`super::mmap`].
    Anon,
    /// A file mapping: `vm_file` with `vm_pgoff` counting pages into it, served from the
    /// file's page cache (see [`super::fault`]).
    File(Arc<dyn MappedFile>),
}

impl VmaBacking {
    fn same_object(&self, other: &VmaBacking) -> bool {
        match (self, other) {
            (VmaBacking::Anon, VmaBacking::Anon) => true,
            (VmaBacking::File(a), VmaBacking::File(b)) => a.inode_id() == b.inode_id(),
            _ => false,
        }
    }
}

/// One virtual memory area: `[start, end)`, page-aligned, `start < end`.
#[derive(Clone, Debug)]
pub struct Vma {
    /// First address (`vm_start`).
    pub start: u64,
    /// One past the last address (`vm_end`).
    pub end: u64,
    /// `vm_flags`.
    pub flags: VmFlags,
    /// `vm_pgoff`: for a file, the page offset of `start` in the file; for private anon,
    /// `start >> 12` at creation (kept across `mremap` moves, as in Linux).
    pub pgoff: u64,
    /// What backs it.
    pub backing: VmaBacking,
    /// `anon_vma_name` (`PR_SET_VMA_ANON_NAME`), or a name like `"[stack]"` set by the
    /// kernel. VMAs with different names do not merge.
    pub name: Option<Arc<str>>,
    /// `vm_userfaultfd_ctx`: the userfaultfd the VMA is registered with (set with
    /// `VM_UFFD_MISSING` or `VM_UFFD_WP`, see [`super::userfaultfd`]). VMAs registered with
    /// different contexts do not merge.
    pub userfaultfd_ctx: Option<super::userfaultfd::VmUserfaultfdCtx>,
}

impl Vma {
    /// A private anonymous VMA with `pgoff = start >> 12`.
    pub fn new_anon(start: u64, end: u64, flags: VmFlags, name: Option<Arc<str>>) -> Self {
        Self {
            start,
            end,
            flags,
            pgoff: start >> 12,
            backing: VmaBacking::Anon,
            name,
            userfaultfd_ctx: None,
        }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Always `false` for a VMA in a tree (`start < end`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// `vma_is_anonymous()`.
    #[inline]
    pub fn is_anonymous(&self) -> bool {
        matches!(self.backing, VmaBacking::Anon)
    }

    /// `vma->vm_file`: the mapped file, if any.
    #[inline]
    pub fn file(&self) -> Option<&Arc<dyn MappedFile>> {
        match &self.backing {
            VmaBacking::File(f) => Some(f),
            VmaBacking::Anon => None,
        }
    }

    /// Whether `addr` is inside.
    #[inline]
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// `linear_page_index()`: `vm_pgoff` of the page containing `addr`.
    #[inline]
    pub fn pgoff_of(&self, addr: u64) -> u64 {
        self.pgoff
            .wrapping_add(addr.saturating_sub(self.start) / PAGE_SIZE)
    }

    /// `vm_start_gap()`: the start including the stack guard gap below a `VM_GROWSDOWN`
    /// VMA.
    #[inline]
    pub fn start_gap(&self, stack_guard_gap: u64) -> u64 {
        if self.flags.contains(VmFlags::GROWSDOWN) {
            self.start.saturating_sub(stack_guard_gap)
        } else {
            self.start
        }
    }

    /// `vm_end_gap()` (no `VM_GROWSUP` on riscv, so just `end`).
    #[inline]
    pub fn end_gap(&self) -> u64 {
        self.end
    }

    /// Whether `self` (below) and `next` (above) may become one VMA: adjacent, equal
    /// flags (but `VM_SOFTDIRTY`) and name, not `VM_SPECIAL`, same backing object, contiguous `vm_pgoff`
    /// (Linux `can_vma_merge_after()` / `is_mergeable_vma()`).
    pub fn can_merge_with_next(&self, next: &Vma) -> bool {
        self.end == next.start
            && self.flags.difference(VmFlags::SOFTDIRTY)
                == next.flags.difference(VmFlags::SOFTDIRTY)
            && !self.flags.intersects(VmFlags::SPECIAL)
            && self.name == next.name
            && self.userfaultfd_ctx == next.userfaultfd_ctx
            && self.backing.same_object(&next.backing)
            && self.pgoff.checked_add(self.len() / PAGE_SIZE) == Some(next.pgoff)
    }
}

/// `sysctl_max_map_count` default (`DEFAULT_MAX_MAP_COUNT`).
pub const DEFAULT_MAX_MAP_COUNT: usize = 65530;

/// The VMAs of one address space.
#[derive(Clone, Debug, Default)]
pub struct VmaTree {
    map: BTreeMap<u64, Vma>,
    max_map_count: usize,
}

impl VmaTree {
    /// An empty tree limited to [`DEFAULT_MAX_MAP_COUNT`] VMAs.
    pub fn new() -> Self {
        Self {
            map: BTreeMap::new(),
            max_map_count: DEFAULT_MAX_MAP_COUNT,
        }
    }

    /// `mm->map_count`.
    pub fn map_count(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no VMAs.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All VMAs in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vma> {
        self.map.values()
    }

    /// `find_vma()`: the first VMA with `end > addr` (it may start above `addr`).
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        if let Some((_, v)) = self.map.range(..=addr).next_back() {
            if v.end > addr {
                return Some(v);
            }
        }
        self.map
            .range((std::ops::Bound::Excluded(addr), std::ops::Bound::Unbounded))
            .next()
            .map(|(_, v)| v)
    }

    /// `vma_lookup()`: the VMA containing `addr`.
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.end > addr)
    }

    /// `find_vma_prev()`'s `prev`: the last VMA lying entirely below `addr` (`end <= addr`).
    pub fn vma_prev(&self, addr: u64) -> Option<&Vma> {
        let mut below = self.map.range(..addr).rev().map(|(_, v)| v);
        match below.next() {
            Some(v) if v.end <= addr => Some(v),
            Some(_) => below.next(),
            None => None,
        }
    }

    /// `find_vma_intersection()`: the first VMA overlapping `[start, end)`.
    pub fn find_vma_intersection(&self, start: u64, end: u64) -> Option<&Vma> {
        self.find_vma(start).filter(|v| v.start < end)
    }

    /// VMAs overlapping `[start, end)`, in order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.find_vma(start).map_or(u64::MAX, |v| v.start);
        self.map
            .range(first..)
            .map(|(_, v)| v)
            .take_while(move |v| v.start < end)
    }

    /// Inserts `vma`, which must not overlap any VMA (callers unmap first).
    ///
    /// # Errors
    /// `ENOMEM` at the map-count limit; `EINVAL` for an empty, unaligned or overlapping VMA
    /// (a kernel bug, reported rather than corrupting the tree).
    pub fn insert(&mut self, vma: Vma) -> KResult<()> {
        if vma.is_empty()
            || !vma.start.is_multiple_of(PAGE_SIZE)
            || !vma.end.is_multiple_of(PAGE_SIZE)
        {
            return Err(Errno::EINVAL);
        }
        if self.find_vma_intersection(vma.start, vma.end).is_some() {
            return Err(Errno::EINVAL);
        }
        if self.map.len() >= self.max_map_count {
            return Err(Errno::ENOMEM);
        }
        self.map.insert(vma.start, vma);
        Ok(())
    }

    /// Removes and returns the VMA starting exactly at `start`.
    pub fn remove(&mut self, start: u64) -> Option<Vma> {
        self.map.remove(&start)
    }

    /// Mutable access to the VMA starting at `start` (not to its bounds' keys: use
    /// [`VmaTree::set_start`] to move `start`).
    pub(crate) fn get_mut(&mut self, start: u64) -> Option<&mut Vma> {
        self.map.get_mut(&start)
    }

    /// Moves the VMA at `old_start` to begin at `new_start` (stack growth), adjusting
    /// `vm_pgoff` by the same number of pages. Returns `false` if there is no such VMA or
    /// the new start would overlap the previous VMA or pass `end`.
    pub(crate) fn set_start(&mut self, old_start: u64, new_start: u64) -> bool {
        let Some(v) = self.map.get(&old_start) else {
            return false;
        };
        if new_start >= v.end || !new_start.is_multiple_of(PAGE_SIZE) {
            return false;
        }
        if new_start < old_start && self.find_vma_intersection(new_start, old_start).is_some() {
            return false;
        }
        let Some(mut v) = self.map.remove(&old_start) else {
            return false;
        };
        if new_start < old_start {
            v.pgoff = v.pgoff.wrapping_sub((old_start - new_start) / PAGE_SIZE);
        } else {
            v.pgoff = v.pgoff.wrapping_add((new_start - old_start) / PAGE_SIZE);
        }
        v.start = new_start;
        self.map.insert(new_start, v);
        true
    }

    /// `__split_vma()`: if `addr` lies strictly inside a VMA, splits it there into
    /// `[start, addr)` and `[addr, end)` (the upper part's `vm_pgoff` advanced). Returns
    /// whether a split happened.
    ///
    /// # Errors
    /// `ENOMEM` at the map-count limit; `EINVAL` for an address inside a huge page of a
    /// hugetlb VMA (`hugetlb_vm_op_split()`).
    pub fn split_vma(&mut self, addr: u64) -> KResult<bool> {
        let Some(v) = self.vma_lookup(addr) else {
            return Ok(false);
        };
        if v.start == addr {
            return Ok(false);
        }
        if !addr.is_multiple_of(v.kernel_pagesize()) {
            return Err(Errno::EINVAL);
        }
        if self.map.len() >= self.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let lower_start = v.start;
        let mut upper = v.clone();
        upper.pgoff = v.pgoff_of(addr);
        upper.start = addr;
        if let Some(lower) = self.map.get_mut(&lower_start) {
            lower.end = addr;
        }
        self.map.insert(addr, upper);
        Ok(true)
    }

    /// Splits so that `start` and `end` are VMA boundaries, checking the map-count limit
    /// before changing anything (Linux checks before each `__split_vma`; checking both first
    /// keeps the tree unchanged on failure).
    ///
    /// # Errors
    /// `ENOMEM` at the map-count limit; `EINVAL` for a bound inside a huge page of a
    /// hugetlb VMA (checked first too).
    pub fn split_at_bounds(&mut self, start: u64, end: u64) -> KResult<()> {
        let misaligned = |a: u64| {
            self.vma_lookup(a)
                .is_some_and(|v| !a.is_multiple_of(v.kernel_pagesize()))
        };
        if misaligned(start) || misaligned(end) {
            return Err(Errno::EINVAL);
        }
        let needs = |a: u64| self.vma_lookup(a).is_some_and(|v| v.start != a);
        let extra = usize::from(needs(start)) + usize::from(needs(end));
        if self.map.len() + extra > self.max_map_count {
            return Err(Errno::ENOMEM);
        }
        self.split_vma(start)?;
        self.split_vma(end)?;
        Ok(())
    }

    /// Removes `[start, end)` from the tree (`do_vmi_align_munmap`'s VMA part), splitting
    /// VMAs that straddle the bounds, and returns the removed pieces in order.
    ///
    /// # Errors
    /// `ENOMEM` if an unmap strictly inside one VMA would exceed the map-count limit
    /// (Linux's check in `do_vmi_align_munmap`); nothing is changed then.
    pub fn remove_range(&mut self, start: u64, end: u64) -> KResult<Vec<Vma>> {
        if start >= end {
            return Ok(Vec::new());
        }
        if let Some(v) = self.vma_lookup(start) {
            if v.start < start && end < v.end && self.map.len() >= self.max_map_count {
                return Err(Errno::ENOMEM);
            }
        }
        // Splitting at both ends of a range that is then removed never raises the count by
        // more than one, which the check above allowed.
        let saved = self.max_map_count;
        self.max_map_count = usize::MAX;
        let r = self.split_at_bounds(start, end);
        self.max_map_count = saved;
        r?;
        let keys: Vec<u64> = self.overlapping(start, end).map(|v| v.start).collect();
        Ok(keys
            .into_iter()
            .filter_map(|k| self.map.remove(&k))
            .collect())
    }

    /// `vma_merge()` over a range: merges every pair of neighbouring, merge-compatible VMAs
    /// from the one ending at (or containing) `start` up to the one starting at `end`.
    pub fn merge_range(&mut self, start: u64, end: u64) {
        let mut cur = match self.map.range(..start).next_back() {
            Some((_, v)) if v.end >= start => Some(v.start),
            _ => self.map.range(start..).next().map(|(k, _)| *k),
        };
        while let Some(k) = cur {
            let Some(a) = self.map.get(&k) else { break };
            if a.start > end {
                break;
            }
            let a_end = a.end;
            let next = self.map.get(&a_end);
            match next {
                Some(b) if a.can_merge_with_next(b) => {
                    let b_end = b.end;
                    let b_soft_dirty = b.flags & VmFlags::SOFTDIRTY;
                    self.map.remove(&a_end);
                    if let Some(a) = self.map.get_mut(&k) {
                        a.end = b_end;
                        a.flags |= b_soft_dirty;
                    }
                    // Try again from the same VMA: it may now merge with the one after.
                }
                _ => {
                    cur = self
                        .map
                        .range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                        .next()
                        .map(|(k, _)| *k);
                }
            }
        }
    }

    /// Checks the tree's invariants: every VMA non-empty and page-aligned, keys equal to
    /// starts, sorted, non-overlapping. Returns a description of the first violation.
    pub fn validate(&self) -> Result<(), String> {
        let mut prev_end = 0u64;
        for (k, v) in &self.map {
            if *k != v.start {
                return Err(format!("key {k:#x} != start {:#x}", v.start));
            }
            if v.is_empty()
                || !v.start.is_multiple_of(PAGE_SIZE)
                || !v.end.is_multiple_of(PAGE_SIZE)
            {
                return Err(format!("bad VMA [{:#x}, {:#x})", v.start, v.end));
            }
            if v.start < prev_end {
                return Err(format!("overlap at {:#x}", v.start));
            }
            prev_end = v.end;
        }
        Ok(())
    }

    /// Whether no two neighbouring VMAs could be merged.
    pub fn is_maximally_merged(&self) -> bool {
        let v: Vec<&Vma> = self.map.values().collect();
        v.windows(2).all(|w| !w[0].can_merge_with_next(w[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    fn rw() -> VmFlags {
        VmFlags::READ | VmFlags::WRITE | VmFlags::MAY_ALL
    }

    #[test]
    fn find_lookup_split_merge() {
        let mut t = VmaTree::new();
        t.insert(Vma::new_anon(10 * P, 20 * P, rw(), None)).unwrap();
        t.insert(Vma::new_anon(30 * P, 40 * P, rw(), None)).unwrap();
        assert_eq!(t.find_vma(0).unwrap().start, 10 * P);
        assert_eq!(t.find_vma(20 * P).unwrap().start, 30 * P);
        assert!(t.find_vma(40 * P).is_none());
        assert!(t.vma_lookup(25 * P).is_none());
        assert_eq!(t.vma_lookup(39 * P).unwrap().start, 30 * P);
        assert_eq!(t.vma_prev(30 * P).unwrap().start, 10 * P);
        assert_eq!(
            t.insert(Vma::new_anon(15 * P, 31 * P, rw(), None)),
            Err(Errno::EINVAL)
        );

        assert!(t.split_vma(15 * P).unwrap());
        assert!(!t.split_vma(15 * P).unwrap(), "already a boundary");
        assert_eq!(t.vma_lookup(16 * P).unwrap().pgoff, 15);
        assert_eq!(t.map_count(), 3);
        t.merge_range(10 * P, 20 * P);
        assert_eq!(t.map_count(), 2);
        assert!(t.is_maximally_merged());

        // Fill the hole: all three merge.
        t.insert(Vma::new_anon(20 * P, 30 * P, rw(), None)).unwrap();
        t.merge_range(20 * P, 30 * P);
        assert_eq!(t.map_count(), 1);
        let v = t.iter().next().unwrap();
        assert_eq!((v.start, v.end, v.pgoff), (10 * P, 40 * P, 10));
    }

    #[test]
    fn no_merge_across_pgoff_name_or_flags() {
        let mut t = VmaTree::new();
        let mut moved = Vma::new_anon(10 * P, 20 * P, rw(), None);
        moved.pgoff = 1000; // as after an mremap move
        t.insert(moved).unwrap();
        t.insert(Vma::new_anon(20 * P, 30 * P, rw(), None)).unwrap();
        t.insert(Vma::new_anon(30 * P, 40 * P, rw(), Some("[stack]".into())))
            .unwrap();
        t.insert(Vma::new_anon(
            40 * P,
            50 * P,
            VmFlags::READ | VmFlags::MAY_ALL,
            None,
        ))
        .unwrap();
        t.merge_range(0, 60 * P);
        assert_eq!(t.map_count(), 4);
        assert!(t.is_maximally_merged());
    }

    #[test]
    fn remove_range_splits_and_map_count_limit() {
        let mut t = VmaTree::new();
        t.insert(Vma::new_anon(10 * P, 20 * P, rw(), None)).unwrap();
        let removed = t.remove_range(12 * P, 14 * P).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].start, removed[0].end), (12 * P, 14 * P));
        let spans: Vec<_> = t.iter().map(|v| (v.start, v.end, v.pgoff)).collect();
        assert_eq!(spans, vec![(10 * P, 12 * P, 10), (14 * P, 20 * P, 14)]);

        t.max_map_count = 2;
        assert_eq!(t.remove_range(15 * P, 16 * P).unwrap_err(), Errno::ENOMEM);
        assert_eq!(t.map_count(), 2, "unchanged on failure");
        // Unmapping a whole VMA end needs no net new VMA.
        assert_eq!(t.remove_range(18 * P, 25 * P).unwrap().len(), 1);
        assert_eq!(t.split_at_bounds(15 * P, 16 * P), Err(Errno::ENOMEM));
        t.validate().unwrap();
    }
}
