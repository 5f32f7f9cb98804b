//! `/proc/<pid>/smaps` and `smaps_rollup` on hand-built address spaces: the values
//! `smaps_account()` gives for the entries really in the page tables (private and
//! COW-shared pages after forks, Linux's `PSS_SHIFT` rounding, a PMD-mapped THP, file,
//! shmem and dirty/clean pages), the VmFlags codes, and the files read through the
//! kernel's entry points.

use std::sync::Arc;

use super::World;
use crate::errno::Errno;
use crate::fs::{FileTarget, OpenFile, O_RDONLY, O_RDWR};
use crate::mm::mmap::{MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED};
use crate::mm::mte::PROT_MTE;
use crate::mm::test_support::{ANON, P, RW};
use crate::mm::{GupGeneration, MappedFile, PageFlags, HPAGE_PMD_SIZE};
use crate::procfs::smaps::show_smap_vma_flags;
use crate::procfs::{show_smap, show_smaps_rollup};
use crate::syscall::nr;

/// The `smaps` record of the VMA starting at `start` in task `pid`'s address space.
fn record(w: &World, pid: u32, start: u64) -> String {
    let mm = w.mm(pid);
    let vma = mm.vmas().vma_lookup(start).expect("a VMA");
    assert_eq!(vma.start, start, "the VMA starts there");
    let mut out = Vec::new();
    show_smap(&mut out, &mm, vma);
    String::from_utf8(out).unwrap()
}

/// The value of `field` (in kB, or the number of `THPeligible`) in `text`.
fn field(text: &str, field: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in\n{text}"));
    line[field.len() + 1..]
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap()
}

/// `(Rss, Pss, Shared_Clean, Shared_Dirty, Private_Clean, Private_Dirty)` in kB.
fn sharing(text: &str) -> [u64; 6] {
    [
        "Rss",
        "Pss",
        "Shared_Clean",
        "Shared_Dirty",
        "Private_Clean",
        "Private_Dirty",
    ]
    .map(|f| field(text, f))
}

fn vm_flags(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix("VmFlags: "))
        .expect("a VmFlags line")
}

#[test]
fn a_record_is_the_maps_line_and_linux_fields_in_linux_layout() {
    let mut w = World::new(GupGeneration::Modern);
    let a = w
        .mm(1)
        .do_mmap(0x1000_0000, 4 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    w.poke(1, a, b"x");
    w.poke(1, a + P, b"y");
    // A read maps the shared zero page: no struct page, nowhere in smaps.
    w.peek(1, a + 2 * P, 1);
    let text = record(&w, 1, a);
    let expected = format!(
        "{a:08x}-{:08x} rw-p 00000000 00:00 0 \n\
         Size:                 16 kB\n\
         KernelPageSize:        4 kB\n\
         MMUPageSize:           4 kB\n\
         Rss:                   8 kB\n\
         Pss:                   8 kB\n\
         Pss_Dirty:             8 kB\n\
         Shared_Clean:          0 kB\n\
         Shared_Dirty:          0 kB\n\
         Private_Clean:         0 kB\n\
         Private_Dirty:         8 kB\n\
         Referenced:            8 kB\n\
         Anonymous:             8 kB\n\
         KSM:                   0 kB\n\
         LazyFree:              0 kB\n\
         AnonHugePages:         0 kB\n\
         ShmemPmdMapped:        0 kB\n\
         FilePmdMapped:         0 kB\n\
         Shared_Hugetlb:        0 kB\n\
         Private_Hugetlb:       0 kB\n\
         Swap:                  0 kB\n\
         SwapPss:               0 kB\n\
         Locked:                0 kB\n\
         THPeligible:           0\n\
         VmFlags: rd wr mr mw me ac sd \n",
        a + 4 * P
    );
    assert_eq!(text, expected);
    w.assert_clean();
}

#[test]
fn cow_shared_pages_divide_pss_in_linux_fixed_point() {
    let mut w = World::new(GupGeneration::Modern);
    let a = w
        .mm(1)
        .do_mmap(0x1000_0000, 4 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    for i in 0..3 {
        w.poke(1, a + i * P, b"d");
    }
    w.fork(1, 2);
    w.fork(1, 3);
    // Three dirty pages, each mapped by three processes: (4096 << 12) / 3 per page,
    // 16777215 in all, which is 4095 bytes: Pss 3 kB where the exact share is 4 kB.
    for pid in [1, 2, 3] {
        let text = record(&w, pid, a);
        assert_eq!(sharing(&text), [12, 3, 0, 12, 0, 0], "pid {pid}\n{text}");
        assert_eq!(field(&text, "Pss_Dirty"), 3);
        assert_eq!(field(&text, "Anonymous"), 12);
    }
    // Task 3 breaks COW on page 0: its copy is private; the old page is mapped twice.
    w.poke(3, a, b"c");
    let t3 = record(&w, 3, a);
    // 4096 << 12 (own page) + 2 * 5592405 = 27962026 → 6826 bytes: 6 kB.
    assert_eq!(sharing(&t3), [12, 6, 0, 8, 0, 4], "\n{t3}");
    let t1 = record(&w, 1, a);
    // (4096 << 12) / 2 + 2 * 5592405 = 19573418 → 4778 bytes: 4 kB.
    assert_eq!(sharing(&t1), [12, 4, 0, 12, 0, 0], "\n{t1}");
    // The others exit: every page is the parent's alone again.
    w.exit(2);
    w.exit(3);
    assert_eq!(sharing(&record(&w, 1, a)), [12, 12, 0, 0, 0, 12]);
    w.reap(2);
    w.reap(3);
    w.assert_clean();
}

#[test]
fn a_pmd_mapped_thp_is_anon_huge_pages_and_shared_after_fork() {
    let h = HPAGE_PMD_SIZE;
    let mut w = World::new(GupGeneration::Modern);
    let a = w
        .mm(1)
        .do_mmap(0x4000_0000, h, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        field(&record(&w, 1, a), "THPeligible"),
        0,
        "no MADV_HUGEPAGE"
    );
    w.mm(1).madvise(a, h, MADV_HUGEPAGE).unwrap();
    w.poke(1, a + P, b"x");
    assert_eq!(w.mm(1).page_table().follow_pte(a).unwrap().level, 1);
    let text = record(&w, 1, a);
    assert_eq!(sharing(&text), [2048, 2048, 0, 0, 0, 2048], "\n{text}");
    assert_eq!(field(&text, "AnonHugePages"), 2048);
    assert_eq!(field(&text, "Anonymous"), 2048);
    assert_eq!(field(&text, "THPeligible"), 1);
    assert_eq!(vm_flags(&text), "rd wr mr mw me ac sd hg ");
    // fork copies the PMD (copy_huge_pmd()): both map the whole folio, each page's
    // precise mapcount is 2.
    w.fork(1, 2);
    for pid in [1, 2] {
        let text = record(&w, pid, a);
        assert_eq!(sharing(&text), [2048, 1024, 0, 2048, 0, 0], "pid {pid}");
        assert_eq!(field(&text, "AnonHugePages"), 2048);
    }
    w.exit(2);
    assert_eq!(sharing(&record(&w, 1, a)), [2048, 2048, 0, 0, 0, 2048]);
    w.reap(2);
    w.assert_clean();
}

#[test]
fn file_and_shmem_pages_are_clean_or_dirty_by_pte_d_and_pg_dirty() {
    let mut w = World::new(GupGeneration::Modern);
    let vfs = w.p(1).vfs.clone();
    let data = vec![b'f'; 2 * P as usize];
    // A root file system file: its page-cache pages are file pages (under /tmp they would
    // be shmem's).
    let inode = vfs.write_file(b"/smaps-file", &data, 0o644).unwrap();
    vfs.sync().unwrap();
    let file = OpenFile::new(FileTarget::Inode(inode), O_RDWR);
    let mapped = || Some(Arc::clone(&file) as Arc<dyn MappedFile>);
    let private = w
        .mm(1)
        .do_mmap(0x1000_0000, 2 * P, RW, MAP_PRIVATE | MAP_FIXED, mapped(), 0)
        .unwrap();
    // A read maps the page-cache page (the cache holds a reference: refcount 2,
    // mapcount 1): private and clean.
    w.peek(1, private, 1);
    let text = record(&w, 1, private);
    assert_eq!(sharing(&text), [4, 4, 0, 0, 4, 0], "\n{text}");
    assert_eq!(field(&text, "Anonymous"), 0);
    // PG_dirty (a kernel write to the cached page) makes it dirty under a clean PTE.
    let pfn = w
        .mm(1)
        .page_table()
        .follow_pte(private)
        .unwrap()
        .pfn_at(private);
    let page = || w.phys.pages.page(pfn).unwrap();
    page().set(PageFlags::DIRTY);
    let text = record(&w, 1, private);
    assert_eq!(sharing(&text), [4, 4, 0, 0, 0, 4], "\n{text}");
    assert_eq!(field(&text, "Pss_Dirty"), 4);
    page().clear(PageFlags::DIRTY);
    // A write to the other page copies it (do_cow_fault()): an anonymous dirty page.
    w.poke(1, private + P, b"w");
    let text = record(&w, 1, private);
    assert_eq!(sharing(&text), [8, 8, 0, 0, 4, 4], "\n{text}");
    assert_eq!(field(&text, "Anonymous"), 4);
    // A shared mapping of the same file, written: its PTE is dirty; page 0 is now
    // mapped by both VMAs, so both see it shared.
    let shared = w
        .mm(1)
        .do_mmap(0x2000_0000, 2 * P, RW, MAP_SHARED | MAP_FIXED, mapped(), 0)
        .unwrap();
    w.poke(1, shared, b"s");
    let text = record(&w, 1, shared);
    assert_eq!(field(&text, "Rss"), 4);
    assert_eq!(field(&text, "Pss"), 2);
    assert_eq!(field(&text, "Shared_Dirty"), 4, "\n{text}");
    assert_eq!(field(&text, "Anonymous"), 0);
    assert_eq!(vm_flags(&text), "rd wr sh mr mw me ms sd ");
    // Shared anonymous memory and a PROT_MTE mapping.
    let shm = w
        .mm(1)
        .do_mmap(
            0x3000_0000,
            P,
            RW,
            MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
            None,
            0,
        )
        .unwrap();
    w.poke(1, shm, b"m");
    let text = record(&w, 1, shm);
    assert_eq!(sharing(&text), [4, 4, 0, 0, 0, 4], "\n{text}");
    assert_eq!(field(&text, "Anonymous"), 0, "shmem is not anonymous");
    let tagged = w
        .mm(1)
        .do_mmap(0x5000_0000, P, RW | PROT_MTE, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(vm_flags(&record(&w, 1, tagged)), "rd wr mr mw me ac sd mt ");
    // The rollup: Pss split by kind, every other value the sum over the VMAs.
    let mut out = Vec::new();
    show_smaps_rollup(&mut out, &w.mm(1));
    let rollup = String::from_utf8(out).unwrap();
    let sum = |f: &str| {
        let mm = w.mm(1);
        mm.vmas()
            .iter()
            .map(|v| {
                let mut o = Vec::new();
                show_smap(&mut o, &mm, v);
                field(&String::from_utf8(o).unwrap(), f)
            })
            .sum::<u64>()
    };
    for f in [
        "Rss",
        "Private_Dirty",
        "Shared_Dirty",
        "Private_Clean",
        "Anonymous",
    ] {
        assert_eq!(field(&rollup, f), sum(f), "{f}\n{rollup}");
    }
    assert_eq!(field(&rollup, "Pss_Shmem"), 4, "the shared anonymous page");
    assert_eq!(
        field(&rollup, "Pss_File"),
        2 + 2,
        "file page 0, mapped by both VMAs"
    );
    let first_line = rollup.lines().next().unwrap();
    assert!(first_line.ends_with(" [rollup]"), "{first_line}");
    assert_eq!(first_line.len(), 73 + "[rollup]".len());
    drop(file);
    drop(vfs);
    w.assert_clean();
}

#[test]
fn every_vm_flag_has_its_linux_code_in_bit_order() {
    use crate::mm::VmFlags;
    let mut out = Vec::new();
    show_smap_vma_flags(&mut out, VmFlags::all());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "VmFlags: rd wr ex sh mr mw me ms gd um pf uw lo io sr rr dc de lf ac nr ht sf wf dd sd \
         mm hg nh mg mt \n"
    );
    let mut out = Vec::new();
    show_smap_vma_flags(&mut out, VmFlags::from_bits_retain(1 << 11));
    assert_eq!(out, b"VmFlags: ?? \n", "a bit without a code, as Linux");
}

#[test]
fn the_files_read_through_the_kernel_and_rollup_of_a_zombie_is_esrch() {
    let mut w = World::new(GupGeneration::Modern);
    let a = w
        .mm(1)
        .do_mmap(0x1000_0000, 2 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    w.poke(1, a, b"x");
    let fd = w.open(1, "/proc/self/smaps", O_RDONLY).unwrap();
    let whole = {
        let mut v = Vec::new();
        let mut pos = 0;
        loop {
            // Small reads: records are cut and carried on as seq_file does.
            let piece = w.pread(1, fd, 100, pos).unwrap();
            if piece.is_empty() {
                break;
            }
            pos += piece.len() as u64;
            v.extend(piece);
        }
        String::from_utf8(v).unwrap()
    };
    let mut expected = Vec::new();
    {
        let mm = w.mm(1);
        for v in mm.vmas().iter() {
            show_smap(&mut expected, &mm, v);
        }
    }
    // The scratch area's pages were written by the reads themselves; compare after.
    assert_eq!(whole, String::from_utf8(expected).unwrap());
    assert!(whole.contains(&format!("{a:08x}-")));
    w.fork(1, 2);
    let fd2 = w.open(1, "/proc/2/smaps_rollup", O_RDONLY).unwrap();
    let rollup = String::from_utf8(w.pread(1, fd2, 4096, 0).unwrap()).unwrap();
    assert!(rollup.contains("[rollup]\nRss:"), "{rollup}");
    assert_eq!(w.pread(1, fd2, 4096, rollup.len() as u64).unwrap(), b"");
    w.exit(2);
    assert_eq!(w.pread(1, fd2, 4096, 0), Err(Errno::ESRCH));
    let smaps2 = w.open(1, "/proc/2/smaps", O_RDONLY).unwrap();
    assert_eq!(
        w.pread(1, smaps2, 4096, 0).unwrap(),
        b"",
        "a zombie's smaps: empty"
    );
    assert_eq!(
        w.call(1, nr::SYS_pwrite64, [fd, w.scratch, 1, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    w.reap(2);
    w.assert_clean();
}
