//! `mincore(start, len, vec)` (`mm/mincore.c`): which pages of a range are resident.
//!
//! A page is resident when the page table maps it (a present PTE, a `PROT_NONE` one, or
//! a huge PMD). Without swap, an anonymous page that is not mapped is not resident. A
//! file page that this address space does not map is reported not resident even when
//! the page cache holds it (Linux's `mincore_page()` asks the cache; the file
//! interface here does not offer that look-up).

use super::{Mm, MmStruct, PAGE_SIZE};
use crate::errno::{Errno, KResult};
use crate::uaccess::UserAccess;

/// Pages `do_mincore()` reports per pass (one page of `vec`).
const CHUNK_PAGES: u64 = PAGE_SIZE;

impl Mm {
    /// `do_mincore()`: the residency of up to `pages` pages from `addr`, within the one
    /// VMA that holds `addr` (fewer if it ends first), one byte per page (bit 0).
    ///
    /// # Errors
    /// `ENOMEM` when no VMA holds `addr`.
    pub fn do_mincore(&self, addr: u64, pages: u64) -> KResult<Vec<u8>> {
        let vma = self.vmas.vma_lookup(addr).ok_or(Errno::ENOMEM)?;
        let end = vma
            .end
            .min(addr.saturating_add(pages.saturating_mul(PAGE_SIZE)));
        Ok((addr..end)
            .step_by(PAGE_SIZE as usize)
            .map(|va| u8::from(self.pgtable.follow_pte(va).is_some()))
            .collect())
    }
}

impl MmStruct {
    /// `mincore(start, len, vec)`: one byte per page of `[start, start+len)` (`len`
    /// rounded up to pages) written to `vec`, bit 0 set for a resident page
    /// ([`Mm::do_mincore`], a chunk at a time under the `mmap_lock` read side, copied
    /// out without it). A hole in the range ends the call with `ENOMEM`, the bytes of the
    /// chunks before it written.
    ///
    /// # Errors
    /// `EINVAL` for an unaligned `start`; `ENOMEM` for a range beyond user space or one
    /// with unmapped pages; `EFAULT` for a bad `vec`.
    pub fn mincore(&self, u: &mut dyn UserAccess, start: u64, len: u64, vec: u64) -> KResult<u64> {
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let task_size = self.mmap_read_lock().task_size();
        if start.checked_add(len).is_none_or(|end| end > task_size) {
            return Err(Errno::ENOMEM);
        }
        let mut pages = len.div_ceil(PAGE_SIZE);
        if vec.checked_add(pages).is_none_or(|end| end > task_size) {
            return Err(Errno::EFAULT);
        }
        let (mut addr, mut out) = (start, vec);
        while pages > 0 {
            let chunk = {
                let mm = crate::lockstat::MMAP_LOCK
                    .acquire(|| self.mmap_read_trylock(), || self.mmap_read_lock());
                mm.do_mincore(addr, pages.min(CHUNK_PAGES))?
            };
            u.copy_to_user(out, &chunk)?;
            let n = chunk.len() as u64;
            pages -= n;
            out += n;
            addr += n * PAGE_SIZE;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use mmu::{AccessType, AdScheme, SatpMode};

    use super::super::mmap::MADV_DONTNEED;
    use super::super::test_support::{setup_mm, touch, ANON, P, RW};
    use super::super::vma::VmFlags;
    use crate::errno::Errno;

    fn mm() -> super::Mm {
        setup_mm(16, SatpMode::Sv39, AdScheme::Svadu, 7).1
    }

    #[test]
    fn mincore_follows_faults_and_madv_dontneed() {
        let mut mm = mm();
        let a = mm.sys_mmap(0, 4 * P, RW, ANON, None, 0).unwrap();
        touch(&mut mm, a, AccessType::Store).unwrap();
        touch(&mut mm, a + 2 * P, AccessType::Load).unwrap();
        assert_eq!(mm.do_mincore(a, 4), Ok(vec![1, 0, 1, 0]));
        // A VMA ends the chunk: pages past it are the next pass's.
        assert_eq!(mm.do_mincore(a + 3 * P, 9), Ok(vec![0]));
        mm.madvise(a, P, MADV_DONTNEED).unwrap();
        assert_eq!(mm.do_mincore(a, 4), Ok(vec![0, 0, 1, 0]));
        mm.do_munmap(a + 3 * P, P).unwrap();
        assert_eq!(mm.do_mincore(a + 3 * P, 1), Err(Errno::ENOMEM));
    }

    #[test]
    fn mlockall_current_populates_and_future_locks_new_mappings() {
        let mut mm = mm();
        let a = mm.sys_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
        assert_eq!(mm.mlockall(0, false), Err(Errno::EINVAL));
        assert_eq!(mm.mlockall(4, false), Err(Errno::EINVAL));
        // MCL_CURRENT | MCL_ONFAULT: locked, not faulted in.
        mm.mlockall(1 | 4, false).unwrap();
        let flags = mm.vmas().vma_lookup(a).unwrap().flags;
        assert!(flags.contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT));
        assert_eq!(mm.do_mincore(a, 2), Ok(vec![0, 0]));
        // MCL_CURRENT: every page faulted in now; MCL_FUTURE: later mappings too.
        mm.mlockall(1 | 2, false).unwrap();
        assert_eq!(mm.do_mincore(a, 2), Ok(vec![1, 1]));
        let b = mm.sys_mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
        assert!(mm
            .vmas()
            .vma_lookup(b)
            .unwrap()
            .flags
            .contains(VmFlags::LOCKED));
        assert_eq!(mm.do_mincore(b, 2), Ok(vec![1, 1]));
        mm.mlockall(0, true).unwrap();
        let c = mm.sys_mmap(0, P, RW, ANON, None, 0).unwrap();
        for va in [a, b, c] {
            let f = mm.vmas().vma_lookup(va).unwrap().flags;
            assert!(
                !f.intersects(VmFlags::LOCKED | VmFlags::LOCKONFAULT),
                "{va:#x}"
            );
        }
        // mlock2(MLOCK_ONFAULT) leaves the pages out; bad flags are EINVAL.
        let d = mm.sys_mmap(0, P, RW, ANON, None, 0).unwrap();
        assert_eq!(mm.mlock2(d, P, 2), Err(Errno::EINVAL));
        mm.mlock2(d, P, 1).unwrap();
        assert_eq!(mm.do_mincore(d, 1), Ok(vec![0]));
    }
}
