//! `madvise()` advice that works through GUP under the read side of the `mmap_lock`
//! (`mm/madvise.c`): `MADV_POPULATE_READ` and `MADV_POPULATE_WRITE`
//! ([`madvise_populate`], with `mm/gup.c`'s [`faultin_page_range`]), and the read-side
//! entry [`madvise_read_locked`] that dispatches them beside the rest
//! ([`Mm::madvise_read`]).
//!
//! # Errors of `MADV_POPULATE_*` (`madvise_populate()`, Linux ≥ 5.14)
//! The range is faulted in page by page as GUP does (`FOLL_TOUCH | FOLL_HWPOISON |
//! FOLL_MADV_POPULATE`, `FOLL_WRITE` for `WRITE`, never `FOLL_FORCE`), so the access must
//! be allowed by the VMA. The first failure ends the call (the pages before it stay
//! populated):
//!
//! | errno | when |
//! |---|---|
//! | `ENOMEM` | part of the range is not mapped (a hole), or out of memory (`VM_FAULT_OOM`) |
//! | `EINVAL` | bad arguments (unaligned `start`, a length that wraps); a VMA GUP refuses (`check_vma_flags()`: `VM_IO`/`VM_PFNMAP`, `WRITE` on a non-writable VMA, `READ` on `PROT_NONE`) |
//! | `EFAULT` | the fault fails with `VM_FAULT_SIGBUS` or `VM_FAULT_SIGSEGV` (a file page past the end of the file) |
//! | `EHWPOISON` | a hardware-poisoned page (none exist here) |
//! | `EINTR` | a fatal signal while faulting (no fatal signal interrupts a fault here) |
//!
//! Any other error of the walk is reported as `ENOMEM`, as Linux's `default:` case does.

use devices::PAGE_SIZE;

use super::gup::{__get_user_pages_hooked, put_page, FollFlags, MmapReadGuard};
use super::mmap::{madvise_need_mmap_write, MADV_POPULATE_READ, MADV_POPULATE_WRITE};
use super::{page_align, page_aligned};
use crate::errno::{Errno, KResult};

/// Pages faulted in per GUP call (the references GUP takes are dropped after each).
const POPULATE_BATCH_PAGES: u64 = 512;

/// `do_madvise()` for advice that leaves the VMAs alone ([`madvise_need_mmap_write`]
/// false), under the read side of the `mmap_lock` held by `guard`: `MADV_POPULATE_*`
/// to [`madvise_populate`], the rest to [`super::Mm::madvise_read`].
///
/// # Errors
/// As those; `EINVAL` for advice that needs the write side.
pub fn madvise_read_locked(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    len_in: u64,
    advice: i32,
) -> KResult<u64> {
    match advice {
        MADV_POPULATE_READ | MADV_POPULATE_WRITE => {
            madvise_populate(guard, start, len_in, advice == MADV_POPULATE_WRITE)
        }
        _ if madvise_need_mmap_write(advice) => Err(Errno::EINVAL),
        _ => guard.madvise_read(start, len_in, advice),
    }
}

/// `madvise_populate()`: `is_valid_madvise()` on `[start, start + len_in)`, then
/// [`faultin_page_range`] until the whole range is populated (readable, or writable for
/// `write`). Returns 0.
///
/// # Errors
/// See the module docs.
pub fn madvise_populate(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    len_in: u64,
    write: bool,
) -> KResult<u64> {
    if !page_aligned(start) {
        return Err(Errno::EINVAL);
    }
    let len = page_align(len_in).ok_or(Errno::EINVAL)?;
    let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
    let mut cur = start;
    while cur < end {
        match faultin_page_range(guard, cur, end, write) {
            Ok(pages) => cur += pages * PAGE_SIZE,
            Err(e) => {
                return Err(match e {
                    Errno::EINTR
                    | Errno::ERESTARTNOINTR
                    | Errno::EINVAL
                    | Errno::EHWPOISON
                    | Errno::EFAULT => e,
                    _ => Errno::ENOMEM,
                })
            }
        }
    }
    Ok(0)
}

/// `faultin_page_range()` (`mm/gup.c`): faults in the pages of `[start, end)` (both
/// page-aligned), writable for `write`, as `__get_user_pages()` with `FOLL_TOUCH |
/// FOLL_HWPOISON | FOLL_MADV_POPULATE` (and `FOLL_WRITE`) — up to
/// [`POPULATE_BATCH_PAGES`] per call. GUP here always takes references (`FOLL_GET`);
/// they are dropped at once, since Linux passes no pages array. Returns the pages
/// populated (at least one).
///
/// # Errors
/// GUP's, with `FOLL_MADV_POPULATE`'s look-up rules (`ENOMEM` for a hole, `EINVAL` for
/// a refused VMA), when not even the first page could be populated.
pub fn faultin_page_range(
    guard: &mut MmapReadGuard<'_>,
    start: u64,
    end: u64,
    write: bool,
) -> KResult<u64> {
    let mut flags = FollFlags::TOUCH
        | FollFlags::HWPOISON
        | FollFlags::UNLOCKABLE
        | FollFlags::MADV_POPULATE
        | FollFlags::GET;
    if write {
        flags |= FollFlags::WRITE;
    }
    let nr = ((end.saturating_sub(start)) / PAGE_SIZE).min(POPULATE_BATCH_PAGES);
    let mut pages = Vec::with_capacity(nr as usize);
    let done = __get_user_pages_hooked(guard, start, nr as usize, flags, &mut pages, None);
    let phys = std::sync::Arc::clone(guard.phys());
    for pfn in pages {
        put_page(&phys, pfn);
    }
    Ok(done? as u64)
}

#[cfg(test)]
mod tests {
    use mmu::{AdScheme, SatpMode};

    use super::*;
    use crate::mm::mmap::{MAP_FIXED, PROT_NONE, PROT_READ};
    use crate::mm::pgtable::{pte_pfn, pte_write};
    use crate::mm::test_support::{clean, setup_mm, ANON, P, RW};

    /// `madvise_populate()`'s answers: the pages appear (zero page for READ, own
    /// writable pages for WRITE, COW broken), and each errno of the table in the module
    /// docs that this kernel can produce.
    #[test]
    fn populate_faults_in_and_answers_with_linuxs_errnos() {
        let (phys, mut mm) = setup_mm(64, SatpMode::Sv39, AdScheme::Svadu, 1);
        let base = clean(&phys);
        let a = mm
            .do_mmap(0x4000_0000, 8 * P, RW, ANON | MAP_FIXED, None, 0)
            .unwrap();
        assert_eq!(mm.madvise(a, 2 * P, MADV_POPULATE_READ), Ok(0));
        let slot = |mm: &crate::mm::Mm, va| mm.page_table().follow_pte(va).unwrap().pte;
        assert_eq!(
            pte_pfn(slot(&mm, a)),
            phys.pages.zero_pfn(),
            "READ maps the zero page"
        );
        assert_eq!(mm.madvise(a, 2 * P, MADV_POPULATE_WRITE), Ok(0));
        let own = slot(&mm, a + P);
        assert!(
            pte_write(own) && pte_pfn(own) != phys.pages.zero_pfn(),
            "WRITE breaks COW"
        );
        assert_eq!(
            mm.madvise(a + 2 * P, 1, MADV_POPULATE_WRITE),
            Ok(0),
            "length rounded up"
        );
        assert!(mm.page_table().follow_pte(a + 3 * P).is_none());
        // Holes: ENOMEM, after populating what comes before.
        mm.do_munmap(a + 5 * P, P).unwrap();
        assert_eq!(
            mm.madvise(a + 4 * P, 3 * P, MADV_POPULATE_READ),
            Err(Errno::ENOMEM)
        );
        assert!(mm.page_table().follow_pte(a + 4 * P).is_some());
        assert!(mm.page_table().follow_pte(a + 6 * P).is_none());
        // Access the VMA does not allow: EINVAL (no FOLL_FORCE).
        mm.mprotect(a, P, PROT_READ).unwrap();
        assert_eq!(mm.madvise(a, P, MADV_POPULATE_WRITE), Err(Errno::EINVAL));
        assert_eq!(mm.madvise(a, P, MADV_POPULATE_READ), Ok(0));
        mm.mprotect(a, P, PROT_NONE).unwrap();
        assert_eq!(mm.madvise(a, P, MADV_POPULATE_READ), Err(Errno::EINVAL));
        // Bad arguments.
        assert_eq!(mm.madvise(a + 1, P, MADV_POPULATE_READ), Err(Errno::EINVAL));
        assert_eq!(
            mm.madvise(a, u64::MAX, MADV_POPULATE_READ),
            Err(Errno::EINVAL)
        );
        assert_eq!(mm.madvise(a, 0, MADV_POPULATE_WRITE), Ok(0));
        mm.do_munmap(a, 8 * P).unwrap();
        let _ = mm.take_tlb_flush();
        drop(mm);
        let after = clean(&phys);
        assert_eq!(
            (after.anon_frames, after.total_mapcount, after.bad_puts),
            (0, 0, 0),
            "every GUP reference given back"
        );
        assert_eq!(
            after.allocs - base.allocs + 1,
            after.frees - base.frees,
            "and the pgd"
        );
    }
}
