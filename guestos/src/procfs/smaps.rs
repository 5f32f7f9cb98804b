//! `/proc/<pid>/smaps` and `/proc/<pid>/smaps_rollup` (`fs/proc/task_mmu.c`:
//! `show_smap()`, `show_smaps_rollup()`, `smap_gather_stats()`, `smaps_pte_entry()`,
//! `smaps_pmd_entry()`, `smaps_account()`, `__show_smap()`, `show_smap_vma_flags()`;
//! `Documentation/filesystems/proc.rst` §1.1).
//!
//! `smaps` is a `seq_file` over the VMAs like `maps` (the same iterator, see
//! [`super::maps`]); each record is the VMA's `maps` line followed by
//!
//! ```text
//! Size:               1024 kB
//! KernelPageSize:        4 kB
//! MMUPageSize:           4 kB
//! Rss:                  12 kB
//! Pss:                   8 kB
//! Pss_Dirty:             8 kB
//! Shared_Clean:          0 kB
//! …
//! THPeligible:           0
//! VmFlags: rd wr mr mw me ac
//! ```
//!
//! every value right-aligned in 8 columns (`seq_put_decimal_ull_width(…, 8)`; 7 for the
//! longer `Private_Hugetlb:` label), in kB. `smaps_rollup` is one record: a `maps`-style
//! header `start-end ---p 00000000 00:00 0` spanning the first VMA's start to the last
//! one's end, padded to the name column, `[rollup]`, and the sums of every VMA's values,
//! with `Pss_Anon`, `Pss_File` and `Pss_Shmem` after `Pss_Dirty` (shown only there, as
//! Linux does).
//!
//! # Where the values come from
//! The page tables themselves, read under the target's `mmap_lock` (read side) and each
//! table's lock, as `walk_page_vma()` with `smaps_walk_ops` does; nothing is faulted in:
//! - a present PTE's page (`vm_normal_page()`: the zero pages count nowhere) adds 4 KiB to
//!   `Rss`; a huge PMD's folio adds 2 MiB, and 2 MiB to `AnonHugePages` (anonymous),
//!   `ShmemPmdMapped` (shmem) or `FilePmdMapped`;
//! - `Referenced` if the entry's `A` bit is set (`pte_young()`: what the walker, or the
//!   Svade fault handler, wrote);
//! - dirty if the entry's `D` bit or the page's `PG_dirty` is set;
//! - shared or private, and the page's `Pss` share, by `smaps_account()`'s rule (current
//!   Linux, with `folio_precise_page_mapcount()`): a folio whose refcount is 1 is mapped
//!   exactly once — private, its whole size
//!   in `Pss`; otherwise each 4 KiB page is private when its precise mapcount (its PTE
//!   mappings plus the PMD mappings of its folio) is below 2, and its `Pss` share is
//!   `(4096 << PSS_SHIFT) / mapcount`, summed in Linux's fixed point ([`PSS_SHIFT`] = 12)
//!   and shifted down only when printed, so the rounding is Linux's;
//! - `Anonymous` for `PageAnon` pages; `Pss_Anon` / `Pss_Shmem` / `Pss_File` by the page's
//!   kind (anonymous; swap-backed, i.e. shmem; page cache of a regular file);
//! - `Locked` is the `Pss` of pages in a `VM_LOCKED` VMA;
//! - `Swap` counts the swap entries, `SwapPss` each one's share of its slot (divided by
//!   the swap PTEs referring to it).
//!
//! Fields this kernel has no source for print 0, which is also what Linux prints without
//! the feature: `KSM` (no KSM merging), `LazyFree` (`MADV_FREE` frees at once here, so no
//! anonymous page ever loses `PG_swapbacked`).
//!
//! hugetlb VMAs (`smaps_hugetlb_range()`): each mapped huge page adds 2 MiB to
//! `Shared_Hugetlb` when its folio is mapped twice or more, else to `Private_Hugetlb`,
//! and nothing to `Rss` or the other lines; `KernelPageSize` and `MMUPageSize` are
//! 2048 kB there (4 kB for every other VMA).
//!
//! `THPeligible` is the kernel's own THP policy ([`Mm::thp_vma_allowable`]) for the last
//! 2 MiB-aligned block the VMA holds, as `thp_vma_allowable_orders(…, TVA_SMAPS, …)`
//! checks the block ending at `vm_end`: 1 for a private anonymous `MADV_HUGEPAGE` VMA at
//! least 2 MiB long in which such a block fits. Shmem and file huge pages are not
//! modelled (Linux's defaults, `shmem_enabled = never` and no `READ_ONLY_THP_FOR_FS`,
//! give 0 for them too).
//!
//! `VmFlags` lists the two-letter code of every set flag in bit order
//! ([`show_smap_vma_flags`]); `VM_MTE` is `mt` (arm64's mnemonic) and `VM_MTE_ALLOWED`
//! prints nothing, as on arm64.

use devices::{GuestPhysAddr, PAGE_SIZE};

use super::maps::{seq_pad_name, show_map_vma, show_vma_header_prefix};
use crate::mm::pgtable::{pmd_trans_huge, pte_dirty, pte_present, pte_young};
use crate::mm::{Mm, PageFlags, Pfn, VmFlags, Vma, HPAGE_PMD_NR, HPAGE_PMD_SIZE};

/// `PSS_SHIFT`: `Pss` values are summed as `bytes << 12` so that dividing a page among
/// up to 2^24 mappers loses almost nothing; they are shifted down when printed.
pub const PSS_SHIFT: u32 = 12;

/// `struct mem_size_stats`: what [`smap_gather_stats`] adds up for one VMA (or, for
/// `smaps_rollup`, for all of them). Sizes are in bytes; the `pss*` and `swap_pss`
/// fields are bytes `<< PSS_SHIFT`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemSizeStats {
    /// `Rss`: bytes mapped by present entries with a `struct page`.
    pub resident: u64,
    /// `Shared_Clean`.
    pub shared_clean: u64,
    /// `Shared_Dirty`.
    pub shared_dirty: u64,
    /// `Private_Clean`.
    pub private_clean: u64,
    /// `Private_Dirty`.
    pub private_dirty: u64,
    /// `Referenced`: entries with `A` set.
    pub referenced: u64,
    /// `Anonymous`: `PageAnon` memory.
    pub anonymous: u64,
    /// `LazyFree`: anonymous, clean and not swap-backed (`MADV_FREE`d).
    pub lazyfree: u64,
    /// `AnonHugePages`: anonymous memory mapped by huge PMDs.
    pub anonymous_thp: u64,
    /// `ShmemPmdMapped`.
    pub shmem_thp: u64,
    /// `FilePmdMapped`.
    pub file_thp: u64,
    /// `Swap`.
    pub swap: u64,
    /// Bytes of shmem folios mapped (`/proc/<pid>/status`'s `RssShmem`, with
    /// `MM_SHMEMPAGES`; `Rss` less this and `anonymous` is `RssFile`).
    pub rss_shmem: u64,
    /// `Shared_Hugetlb`.
    pub shared_hugetlb: u64,
    /// `Private_Hugetlb`.
    pub private_hugetlb: u64,
    /// `KSM`.
    pub ksm: u64,
    /// `Pss` (`<< PSS_SHIFT`).
    pub pss: u64,
    /// `Pss_Anon` (`<< PSS_SHIFT`).
    pub pss_anon: u64,
    /// `Pss_File` (`<< PSS_SHIFT`).
    pub pss_file: u64,
    /// `Pss_Shmem` (`<< PSS_SHIFT`).
    pub pss_shmem: u64,
    /// `Pss_Dirty` (`<< PSS_SHIFT`).
    pub pss_dirty: u64,
    /// `Locked` (`<< PSS_SHIFT`).
    pub pss_locked: u64,
    /// `SwapPss` (`<< PSS_SHIFT`).
    pub swap_pss: u64,
}

/// What one present entry maps, for [`MemSizeStats::account`].
struct Mapped<'p> {
    /// The folio's head page (`page_folio()`).
    folio: &'p crate::mm::Page,
    /// The kind of memory, by the folio.
    kind: FolioKind,
    /// The first 4 KiB page the entry maps.
    pfn: Pfn,
    /// 1 for a PTE, [`HPAGE_PMD_NR`] for a huge PMD (`compound`).
    nr: u64,
    /// `pte_young()` / `pmd_young()`.
    young: bool,
    /// `pte_dirty()` / `pmd_dirty()`.
    dirty: bool,
    /// The VMA is `VM_LOCKED`.
    locked: bool,
}

/// The three kinds `smaps_page_accumulate()` tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FolioKind {
    /// `folio_test_anon()`.
    Anon,
    /// Not anonymous but `folio_test_swapbacked()`: shmem (shared anonymous memory, a
    /// memfd's page cache).
    Shmem,
    /// The page cache of a regular file.
    File,
}

impl MemSizeStats {
    /// `smaps_account()`: one present entry mapping `m.nr` pages of a folio.
    fn account(&mut self, pages: &crate::mm::PageAlloc, m: &Mapped<'_>) {
        let size = m.nr * PAGE_SIZE;
        let folio_dirty = m.folio.test(PageFlags::DIRTY);
        if m.kind == FolioKind::Anon {
            self.anonymous += size;
            // !folio_test_swapbacked(): never true here (see the module docs), kept so
            // the sum is Linux's if lazily freed pages ever appear.
            if !folio_test_swapbacked(m.folio, m.kind) && !m.dirty && !folio_dirty {
                self.lazyfree += size;
            }
        }
        self.resident += size;
        if m.kind == FolioKind::Shmem {
            self.rss_shmem += size;
        }
        if m.young {
            self.referenced += size;
        }
        // folio_ref_count() == 1: mapped exactly once, by this entry.
        if m.folio.refcount() == 1 {
            self.page_accumulate(m, folio_dirty, size, size << PSS_SHIFT, true);
            return;
        }
        let entire = if m.folio.is_head() {
            m.folio.entire_mapcount()
        } else {
            0
        };
        for i in 0..m.nr {
            // folio_precise_page_mapcount(): the page's PTE mappings plus its folio's
            // PMD mappings.
            let mapcount = pages
                .page(Pfn(m.pfn.0 + i))
                .map_or(0, |p| p.mapcount() + entire);
            let mut pss = PAGE_SIZE << PSS_SHIFT;
            if mapcount >= 2 {
                pss /= u64::from(mapcount);
            }
            self.page_accumulate(m, folio_dirty, PAGE_SIZE, pss, mapcount < 2);
        }
    }

    /// `smaps_page_accumulate()`: `size` bytes with Pss share `pss` (`<< PSS_SHIFT`).
    fn page_accumulate(
        &mut self,
        m: &Mapped<'_>,
        folio_dirty: bool,
        size: u64,
        pss: u64,
        private: bool,
    ) {
        self.pss += pss;
        match m.kind {
            FolioKind::Anon => self.pss_anon += pss,
            FolioKind::Shmem => self.pss_shmem += pss,
            FolioKind::File => self.pss_file += pss,
        }
        if m.locked {
            self.pss_locked += pss;
        }
        if m.dirty || folio_dirty {
            self.pss_dirty += pss;
            if private {
                self.private_dirty += size;
            } else {
                self.shared_dirty += size;
            }
        } else if private {
            self.private_clean += size;
        } else {
            self.shared_clean += size;
        }
    }
}

/// `folio_test_swapbacked()`. Linux sets `PG_swapbacked` on every new anonymous folio
/// (`folio_add_new_anon_rmap()`) and clears it only for `MADV_FREE`'s lazy free, which
/// this kernel does not defer; shmem folios have it too. Here shared anonymous pages
/// carry [`PageFlags::SWAPBACKED`], private anonymous pages count as swap-backed, and a
/// memfd's page-cache pages are recognised by their kind ([`FolioKind::Shmem`]).
fn folio_test_swapbacked(folio: &crate::mm::Page, kind: FolioKind) -> bool {
    kind != FolioKind::File || folio.test(PageFlags::SWAPBACKED)
}

/// The kind of the folio `folio` mapped in `vma`: `PageAnon`; else shmem if the page is
/// swap-backed (shared anonymous memory) or the VMA maps a shmem file (memfd); else file.
fn folio_kind(folio: &crate::mm::Page, vma: &Vma) -> FolioKind {
    if folio.test(PageFlags::ANON) {
        FolioKind::Anon
    } else if folio.test(PageFlags::SWAPBACKED) || vma.file().is_some_and(|f| f.is_shmem()) {
        FolioKind::Shmem
    } else {
        FolioKind::File
    }
}

/// `smap_gather_stats(vma, mss, 0)`: adds what `vma`'s page-table entries map to `mss`
/// (`walk_page_vma()` with `smaps_pte_range()`: a huge PMD is one
/// `smaps_pmd_entry()`, read under [`crate::mm::PageTable::pmd_lock`]; a PTE table's
/// entries are each a `smaps_pte_entry()`, read under that table's lock). Ranges
/// without tables are skipped a PMD at a time. The caller holds `mm`'s `mmap_lock`.
pub fn smap_gather_stats(mm: &Mm, vma: &Vma, mss: &mut MemSizeStats) {
    let pt = mm.page_table();
    let pages = &mm.phys().pages;
    let locked = vma.flags.contains(VmFlags::LOCKED);
    if vma.is_vm_hugetlb_page() {
        // smaps_hugetlb_range(): one leaf per huge page (2 MiB or 1 GiB), read under
        // huge_pte_lock(); only the two hugetlb lines, by the folio's mapcount.
        let size = vma.kernel_pagesize();
        for addr in (vma.start..vma.end).step_by(size as usize) {
            let Some((slot, _ptl)) = pt.follow_pte_locked(addr) else {
                continue;
            };
            let folio = (slot.level > 0)
                .then(|| pt.vm_normal_page(slot.pte))
                .flatten()
                .and_then(|pfn| pages.page(pfn));
            if let Some(folio) = folio {
                if folio.entire_mapcount() >= 2 {
                    mss.shared_hugetlb += size;
                } else {
                    mss.private_hugetlb += size;
                }
            }
        }
        return;
    }
    let mut addr = vma.start;
    while addr < vma.end {
        let next = (addr & !(HPAGE_PMD_SIZE - 1))
            .saturating_add(HPAGE_PMD_SIZE)
            .min(vma.end);
        let Some(pmd_slot) = pt.pmd_offset(addr) else {
            addr = next;
            continue;
        };
        // pmd_trans_huge_lock(): a huge PMD is read under the PMD lock.
        let pmd_lock = pt.pmd_lock();
        let pmd = pt.ptep_get(pmd_slot);
        if pmd_trans_huge(pmd) {
            // smaps_pmd_entry(): vm_normal_page_pmd() (none for the huge zero folio).
            let head = pt
                .vm_normal_page(pmd)
                .and_then(|pfn| pages.folio(pfn).map(|(h, page)| (pfn, h, page)));
            if let Some((pfn, _, folio)) = head {
                let kind = folio_kind(folio, vma);
                match kind {
                    FolioKind::Anon => mss.anonymous_thp += HPAGE_PMD_SIZE,
                    FolioKind::Shmem => mss.shmem_thp += HPAGE_PMD_SIZE,
                    FolioKind::File => mss.file_thp += HPAGE_PMD_SIZE,
                }
                let m = Mapped {
                    folio,
                    kind,
                    pfn,
                    nr: HPAGE_PMD_NR,
                    young: pte_young(pmd),
                    dirty: pte_dirty(pmd),
                    locked,
                };
                mss.account(pages, &m);
            }
            drop(pmd_lock);
            addr = next;
            continue;
        }
        drop(pmd_lock);
        let Some(first) = pt.pte_offset_pmd(pmd, addr) else {
            addr = next;
            continue;
        };
        // pte_offset_map_lock(): the whole table's entries under its lock.
        let _ptl = pt.pte_lock(first);
        let mut slot: Option<GuestPhysAddr> = Some(first);
        while addr < next {
            let Some(s) = slot else { break };
            smaps_pte_entry(mm, vma, pt.ptep_get(s), locked, mss);
            slot = s.checked_add(8);
            addr += PAGE_SIZE;
        }
    }
}

/// `smaps_pte_entry()`: a present PTE's page (`vm_normal_page()`) is accounted; holes
/// and the zero page are not. A swap entry adds a page to `Swap` and its share to
/// `SwapPss` (the page divided by the swap PTEs referring to its slot,
/// `swp_swapcount()`).
fn smaps_pte_entry(mm: &Mm, vma: &Vma, pte: mmu::Pte, locked: bool, mss: &mut MemSizeStats) {
    if crate::mm::swapfile::is_swap_pte(pte) {
        let count = mm.phys().swap().map_or(1, |si| {
            si.swap_count(crate::mm::swapfile::pte_to_swp_entry(pte))
                .max(1)
        });
        mss.swap += PAGE_SIZE;
        mss.swap_pss += (PAGE_SIZE << PSS_SHIFT) / u64::from(count);
        return;
    }
    if !pte_present(pte) {
        return;
    }
    let pages = &mm.phys().pages;
    let Some(pfn) = mm.page_table().vm_normal_page(pte) else {
        return;
    };
    let Some((_, folio)) = pages.folio(pfn) else {
        return;
    };
    let m = Mapped {
        folio,
        kind: folio_kind(folio, vma),
        pfn,
        nr: 1,
        young: pte_young(pte),
        dirty: pte_dirty(pte),
        locked,
    };
    mss.account(pages, &m);
}

/// The two-letter codes of `show_smap_vma_flags()` (`mnemonics[]`), in bit order, for
/// every flag [`VmFlags`] has; `VM_MTE_ALLOWED` prints nothing, as on arm64.
const MNEMONICS: [(VmFlags, &str); 32] = [
    (VmFlags::READ, "rd"),
    (VmFlags::WRITE, "wr"),
    (VmFlags::EXEC, "ex"),
    (VmFlags::SHARED, "sh"),
    (VmFlags::MAYREAD, "mr"),
    (VmFlags::MAYWRITE, "mw"),
    (VmFlags::MAYEXEC, "me"),
    (VmFlags::MAYSHARE, "ms"),
    (VmFlags::GROWSDOWN, "gd"),
    (VmFlags::UFFD_MISSING, "um"),
    (VmFlags::PFNMAP, "pf"),
    (VmFlags::UFFD_WP, "uw"),
    (VmFlags::LOCKED, "lo"),
    (VmFlags::IO, "io"),
    (VmFlags::SEQ_READ, "sr"),
    (VmFlags::RAND_READ, "rr"),
    (VmFlags::DONTCOPY, "dc"),
    (VmFlags::DONTEXPAND, "de"),
    (VmFlags::LOCKONFAULT, "lf"),
    (VmFlags::ACCOUNT, "ac"),
    (VmFlags::NORESERVE, "nr"),
    (VmFlags::HUGETLB, "ht"),
    (VmFlags::SYNC, "sf"),
    (VmFlags::WIPEONFORK, "wf"),
    (VmFlags::DONTDUMP, "dd"),
    (VmFlags::SOFTDIRTY, "sd"),
    (VmFlags::MIXEDMAP, "mm"),
    (VmFlags::HUGEPAGE, "hg"),
    (VmFlags::NOHUGEPAGE, "nh"),
    (VmFlags::MERGEABLE, "mg"),
    (VmFlags::MTE, "mt"),
    (VmFlags::MTE_ALLOWED, ""),
];

/// `show_smap_vma_flags()`: `VmFlags: ` and the code of every set flag followed by a
/// space, in bit order, then a newline. A bit without a code would print `??`, as Linux
/// does for a flag it does not know.
pub fn show_smap_vma_flags(out: &mut Vec<u8>, flags: VmFlags) {
    out.extend_from_slice(b"VmFlags: ");
    for bit in 0..u64::BITS {
        let f = 1u64 << bit;
        if flags.bits() & f == 0 {
            continue;
        }
        let code = MNEMONICS
            .iter()
            .find(|(flag, _)| flag.bits() == f)
            .map_or("??", |(_, code)| code);
        if code.is_empty() {
            continue;
        }
        out.extend_from_slice(code.as_bytes());
        out.push(b' ');
    }
    out.push(b'\n');
}

/// `SEQ_PUT_DEC(label, bytes)`: the label, then `bytes >> 10` right-aligned in `width`
/// columns (`seq_put_decimal_ull_width()`).
fn put_kb(out: &mut Vec<u8>, label: &str, bytes: u64, width: usize) {
    out.extend_from_slice(format!("{label}{:>width$} kB\n", bytes >> 10).as_bytes());
}

/// `__show_smap()`: the lines from `Rss` to `Locked`; `rollup` adds `Pss_Anon`,
/// `Pss_File` and `Pss_Shmem`.
pub fn show_smap_stats(out: &mut Vec<u8>, mss: &MemSizeStats, rollup: bool) {
    let p = |v: u64| v >> PSS_SHIFT;
    put_kb(out, "Rss:            ", mss.resident, 8);
    put_kb(out, "Pss:            ", p(mss.pss), 8);
    put_kb(out, "Pss_Dirty:      ", p(mss.pss_dirty), 8);
    if rollup {
        put_kb(out, "Pss_Anon:       ", p(mss.pss_anon), 8);
        put_kb(out, "Pss_File:       ", p(mss.pss_file), 8);
        put_kb(out, "Pss_Shmem:      ", p(mss.pss_shmem), 8);
    }
    put_kb(out, "Shared_Clean:   ", mss.shared_clean, 8);
    put_kb(out, "Shared_Dirty:   ", mss.shared_dirty, 8);
    put_kb(out, "Private_Clean:  ", mss.private_clean, 8);
    put_kb(out, "Private_Dirty:  ", mss.private_dirty, 8);
    put_kb(out, "Referenced:     ", mss.referenced, 8);
    put_kb(out, "Anonymous:      ", mss.anonymous, 8);
    put_kb(out, "KSM:            ", mss.ksm, 8);
    put_kb(out, "LazyFree:       ", mss.lazyfree, 8);
    put_kb(out, "AnonHugePages:  ", mss.anonymous_thp, 8);
    put_kb(out, "ShmemPmdMapped: ", mss.shmem_thp, 8);
    put_kb(out, "FilePmdMapped:  ", mss.file_thp, 8);
    put_kb(out, "Shared_Hugetlb: ", mss.shared_hugetlb, 8);
    put_kb(out, "Private_Hugetlb: ", mss.private_hugetlb, 7);
    put_kb(out, "Swap:           ", mss.swap, 8);
    put_kb(out, "SwapPss:        ", p(mss.swap_pss), 8);
    put_kb(out, "Locked:         ", p(mss.pss_locked), 8);
}

/// `THPeligible` of `vma` (see the module docs): the THP policy for the last 2 MiB
/// block that fits below `vm_end`.
fn thp_eligible(mm: &Mm, vma: &Vma) -> bool {
    let Some(haddr) = vma.end.checked_sub(HPAGE_PMD_SIZE) else {
        return false;
    };
    mm.thp_vma_allowable(vma, haddr & !(HPAGE_PMD_SIZE - 1))
}

/// `show_smap()`: `vma`'s record of `/proc/<pid>/smaps` (its `maps` line, sizes, the
/// gathered statistics, `THPeligible`, `VmFlags`), appended to `out`.
pub fn show_smap(out: &mut Vec<u8>, mm: &Mm, vma: &Vma) {
    let mut mss = MemSizeStats::default();
    smap_gather_stats(mm, vma, &mut mss);
    show_map_vma(out, mm, vma);
    put_kb(out, "Size:           ", vma.len(), 8);
    // vma_kernel_pagesize() / vma_mmu_pagesize(): the huge page size for hugetlb.
    put_kb(out, "KernelPageSize: ", vma.kernel_pagesize(), 8);
    put_kb(out, "MMUPageSize:    ", vma.kernel_pagesize(), 8);
    show_smap_stats(out, &mss, false);
    out.extend_from_slice(
        format!("THPeligible:    {:>8}\n", u8::from(thp_eligible(mm, vma))).as_bytes(),
    );
    show_smap_vma_flags(out, vma.flags);
}

/// `show_smaps_rollup()`: the whole of `/proc/<pid>/smaps_rollup` for `mm`, the sums of
/// every VMA's statistics under a header spanning the first VMA's start to the last one's
/// end (`00000000-00000000` without VMAs).
pub fn show_smaps_rollup(out: &mut Vec<u8>, mm: &Mm) {
    let mut mss = MemSizeStats::default();
    let (mut vma_start, mut last_vma_end) = (0, 0);
    for (i, vma) in mm.vmas().iter().enumerate() {
        if i == 0 {
            vma_start = vma.start;
        }
        smap_gather_stats(mm, vma, &mut mss);
        last_vma_end = vma.end;
    }
    let line_start = out.len();
    show_vma_header_prefix(out, vma_start, last_vma_end, VmFlags::empty(), 0, (0, 0), 0);
    seq_pad_name(out, line_start, b"[rollup]");
    out.push(b'\n');
    show_smap_stats(out, &mss, true);
}
