//! hugetlbfs files as `memfd_create(MFD_HUGETLB)` makes them (`fs/hugetlbfs/inode.c` on
//! the internal mount, `hugetlb_file_setup()`): an anonymous file whose object is a
//! [`HugetlbFile`] of the 2 MiB or 1 GiB pool (`MFD_HUGE_2MB`, `MFD_HUGE_1GB`, or the
//! default size). Its descriptor is an anonymous-inode file
//! (`FileTarget::Anon`) whose operations, [`HugetlbfsFile`], carry the object; mapping it
//! makes a `VM_HUGETLB` VMA served by [`crate::mm::Mm`]'s hugetlb fault path.
//!
//! What works: `ftruncate` to a multiple of the huge page size (`hugetlbfs_setattr()`; `EINVAL`
//! otherwise), `fallocate` mode 0 or `FALLOC_FL_KEEP_SIZE` (`hugetlbfs_fallocate()`:
//! pages put in the cache now, `ENOSPC` when the pool has none), `mmap`,
//! `fstatfs` (`HUGETLBFS_MAGIC`, block size the huge page size). `read`/`write` are not built
//! (hugetlbfs has no `->write` either: `EINVAL`).

use std::sync::Arc;

use super::fops::FileOperations;
use super::OpenFile;
use crate::errno::{Errno, KResult};
use crate::mm::hugetlb::HugetlbFile;
use crate::mm::MmapOp;

/// The operations of a hugetlbfs file (`hugetlbfs_file_operations`), holding its object.
#[derive(Debug)]
pub struct HugetlbfsFile {
    inode: Arc<HugetlbFile>,
}

impl HugetlbfsFile {
    /// The operations of a file whose object is `inode`.
    pub fn new(inode: Arc<HugetlbFile>) -> Self {
        HugetlbfsFile { inode }
    }

    /// The object.
    pub fn inode(&self) -> &HugetlbFile {
        &self.inode
    }

    /// `hugetlbfs_fallocate()` with mode 0 or `FALLOC_FL_KEEP_SIZE`: every huge page of
    /// `[offset, offset + len)` (widened to huge page bounds) put in the cache, the size
    /// grown to the end unless `keep_size`.
    ///
    /// # Errors
    /// `EFBIG` past `MAX_LFS_FILESIZE`; `ENOSPC` when the pool has no page for one (the
    /// pages added so far stay).
    pub fn fallocate(&self, offset: u64, len: u64, keep_size: bool) -> KResult<()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= crate::fs::MAX_LFS_FILESIZE)
            .and_then(|e| e.checked_next_multiple_of(self.inode.huge_page_size()))
            .ok_or(Errno::EFBIG)?;
        let size = self.inode.huge_page_size();
        self.inode.allocate(offset / size, end / size)?;
        if !keep_size && end > self.inode.size_bytes() {
            self.inode.set_size(end);
        }
        Ok(())
    }
}

impl FileOperations for HugetlbfsFile {
    /// `hugetlbfs_file_mmap()`: a page-cache mapping of the object.
    fn mmap(&self, _file: &OpenFile) -> MmapOp {
        MmapOp::PageCache
    }
}
