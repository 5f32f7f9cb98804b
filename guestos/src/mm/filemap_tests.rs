//! File mappings against the page cache in guest RAM: every access goes through the
//! hardware walker (`mmu::walk` in U-mode, which sets A and D in the PTEs exactly as a
//! hart does), every page count through the allocator's and the page cache's audits.

use std::sync::Arc;

use mmu::{AccessType, AdScheme, SatpMode};

use super::mmap::*;
use super::pgtable::{pte_dirty, pte_write};
use super::test_support::{hart, load, store, P, RW};
use super::*;
use crate::errno::Errno;
use crate::fs::{
    AddressSpace, FileTarget, Inode, OpenFile, Vfs, VfsConfig, O_RDONLY, O_RDWR, O_WRONLY,
};

struct Env {
    phys: Arc<PhysMem>,
    vfs: Vfs,
}

fn env_with(mib: u64) -> Env {
    let phys = super::test_support::phys(mib);
    let vfs = Vfs::new(VfsConfig {
        phys: Some(Arc::clone(&phys)),
        ..VfsConfig::default()
    });
    Env { phys, vfs }
}

fn env() -> Env {
    env_with(16)
}

impl Env {
    fn mm(&self, ad: AdScheme, asid: u16) -> Mm {
        Mm::new(Arc::clone(&self.phys), SatpMode::Sv39, ad, asid).unwrap()
    }

    /// A file of `pages` pages, page `i` filled with byte `b'a' + i`.
    fn file(&self, path: &str, pages: u64) -> Arc<Inode> {
        let mut data = Vec::new();
        for i in 0..pages {
            data.extend(std::iter::repeat_n(b'a' + i as u8, P as usize));
        }
        let inode = self.vfs.write_file(path.as_bytes(), &data, 0o644).unwrap();
        // On "disk" too, so that what reaches the backing store later is observable.
        self.vfs.sync().unwrap();
        inode
    }

    fn cache_clean(&self) {
        let cache = self.vfs.page_cache().unwrap();
        assert_eq!(cache.audit(), 0, "page-cache audit");
        let a = self.phys.pages.audit();
        assert_eq!((a.bad_puts, a.inconsistent_frames), (0, 0), "{a:?}");
    }
}

fn open(inode: &Arc<Inode>, flags: u32) -> Arc<OpenFile> {
    OpenFile::new(FileTarget::Inode(Arc::clone(inode)), flags)
}

fn as_file(f: &Arc<OpenFile>) -> Option<Arc<dyn MappedFile>> {
    Some(Arc::clone(f) as Arc<dyn MappedFile>)
}

fn mapping(f: &Arc<OpenFile>) -> Arc<AddressSpace> {
    Arc::clone(f.mapping().unwrap())
}

fn pte(mm: &Mm, va: u64) -> Option<mmu::Pte> {
    mm.page_table().follow_pte(va).map(|s| s.pte)
}

fn frame(mm: &Mm, va: u64) -> Pfn {
    Pfn(pte(mm, va).expect("mapped").ppn())
}

fn file_byte(m: &AddressSpace, off: u64) -> u8 {
    let mut b = [0u8];
    assert_eq!(m.read(off, &mut b), 1);
    b[0]
}

fn disk_byte(m: &AddressSpace, off: u64) -> u8 {
    let mut b = [0u8];
    m.read_backing(off, &mut b);
    b[0]
}

#[test]
fn shared_mapping_read_write_coherence_and_writeback_from_the_d_bit() {
    for ad in [AdScheme::Svadu, AdScheme::Svade] {
        let e = env();
        let inode = e.file("/f", 2);
        let f = open(&inode, O_RDWR);
        let m = mapping(&f);
        let mut mm = e.mm(ad, 5);
        let a = mm
            .do_mmap(0, 2 * P, RW, MAP_SHARED, as_file(&f), 0)
            .unwrap();
        // A read fault maps the page-cache page itself, writable (shared, VM_WRITE) and
        // clean.
        assert_eq!(load(&mut mm, a + P), b'b');
        assert_eq!(Some(frame(&mm, a + P)), m.cached_page(1));
        let p = pte(&mm, a + P).unwrap();
        assert!(pte_write(p) && !pte_dirty(p), "{ad:?}: {p:?}");
        // write() → the mapping sees it at once (same frame).
        assert_eq!(m.write(P + 5, b"XYZ").unwrap(), 3);
        assert_eq!(load(&mut mm, a + P + 6), b'Y');
        // A store through the mapping → read() sees it at once, the disk does not.
        store(&mut mm, a + 7, b'!');
        assert_eq!(file_byte(&m, 7), b'!');
        assert_eq!(disk_byte(&m, 7), b'a', "{ad:?}: not written back yet");
        let p0 = pte(&mm, a).unwrap();
        assert!(pte_dirty(p0), "{ad:?}: the store set D");
        let pg = e.phys.pages.page(frame(&mm, a)).unwrap();
        assert!(!pg.test(PageFlags::DIRTY), "only the PTE knows");
        let before = e.vfs.page_cache().unwrap().stats();
        let _ = mm.take_tlb_flush();
        // msync(MS_SYNC): D moves into PG_dirty, D is cleared, the page is written.
        assert_eq!(mm.msync(a, 2 * P, MS_SYNC), Ok(0));
        assert_eq!(disk_byte(&m, 7), b'!');
        assert_eq!(disk_byte(&m, P + 6), b'Y', "write() data too");
        assert!(!pte_dirty(pte(&mm, a).unwrap()), "{ad:?}: D cleaned");
        assert!(pte_write(pte(&mm, a).unwrap()), "W kept");
        assert!(!pg.test(PageFlags::DIRTY));
        let after = e.vfs.page_cache().unwrap().stats();
        assert_eq!(after.written_back - before.written_back, 2);
        assert_eq!(after.ptes_cleaned - before.ptes_cleaned, 1);
        // The cleaned translation must be flushed before the hart stores again.
        match mm.take_tlb_flush().range {
            TlbFlushRange::Range { start, end } => assert!(start <= a && a < end),
            r => assert_eq!(r, TlbFlushRange::All),
        }
        // Clean page: nothing more to write. A second store sets D again.
        assert_eq!(mm.msync(a, P, MS_SYNC), Ok(0));
        assert_eq!(
            e.vfs.page_cache().unwrap().stats().written_back,
            after.written_back
        );
        store(&mut mm, a + 8, b'?');
        assert!(pte_dirty(pte(&mm, a).unwrap()));
        assert_eq!(f.fsync(), Ok(()));
        assert_eq!(disk_byte(&m, 8), b'?');
        drop(mm);
        e.cache_clean();
    }
}

#[test]
fn private_mapping_copies_on_write_and_never_reaches_the_file() {
    let e = env();
    let inode = e.file("/f", 2);
    let f = open(&inode, O_RDWR);
    let m = mapping(&f);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    let a = mm
        .do_mmap(0, 2 * P, RW, MAP_PRIVATE, as_file(&f), 0)
        .unwrap();
    let b = mm
        .do_mmap(0, 2 * P, PROT_READ, MAP_SHARED, as_file(&f), 0)
        .unwrap();
    assert_eq!(load(&mut mm, a), b'a');
    let cache0 = m.cached_page(0).unwrap();
    assert_eq!(frame(&mm, a), cache0, "read fault maps the cache page");
    assert!(!pte_write(pte(&mm, a).unwrap()), "read-only: PAGE_COPY");
    store(&mut mm, a, b'P');
    let copy = frame(&mm, a);
    assert_ne!(copy, cache0, "the write got a private copy");
    let cp = e.phys.pages.page(copy).unwrap();
    assert!(cp.test(PageFlags::ANON | PageFlags::ANON_EXCLUSIVE));
    assert_eq!(cp.mapping(), None);
    // A write fault on an untouched page copies directly (do_cow_fault).
    store(&mut mm, a + P, b'Q');
    assert_ne!(Some(frame(&mm, a + P)), m.cached_page(1));
    assert_eq!(
        load(&mut mm, a + 1),
        b'a',
        "the rest of the copy is the file's"
    );
    assert_eq!(
        file_byte(&m, 0),
        b'a',
        "the file never saw the private store"
    );
    assert_eq!(load(&mut mm, b), b'a', "another mapping sees the file");
    assert_eq!(load(&mut mm, b + P), b'b');
    assert_eq!(mm.msync(a, 2 * P, MS_SYNC), Ok(0));
    assert_eq!(f.fsync(), Ok(()));
    assert_eq!(disk_byte(&m, 0), b'a');
    assert_eq!(disk_byte(&m, P), b'b');
    assert_eq!(mm.stats().file_cow, 2);
    // MADV_DONTNEED drops the private copies: the file shows through again.
    assert_eq!(mm.madvise(a, 2 * P, MADV_DONTNEED), Ok(0));
    assert_eq!(load(&mut mm, a), b'a');
    assert_eq!(frame(&mm, a), cache0);
    // The copy was freed; the cache page is referenced by the cache and two PTEs.
    let page0 = e.phys.pages.page(cache0).unwrap();
    assert_eq!((page0.refcount(), page0.mapcount()), (3, 2));
    drop(mm);
    assert_eq!((page0.refcount(), page0.mapcount()), (1, 0));
    e.cache_clean();
}

#[test]
fn truncate_unmaps_every_mapping_and_faults_beyond_eof_get_sigbus() {
    let e = env();
    let inode = e.file("/f", 3);
    let f = open(&inode, O_RDWR);
    let m = mapping(&f);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    let sh = mm
        .do_mmap(0, 4 * P, RW, MAP_SHARED, as_file(&f), 0)
        .unwrap();
    let pr = mm
        .do_mmap(0, 3 * P, RW, MAP_PRIVATE, as_file(&f), 0)
        .unwrap();
    for i in 0..3 {
        assert_eq!(load(&mut mm, sh + i * P), b'a' + i as u8);
    }
    store(&mut mm, pr + 2 * P, b'C'); // a private COW copy of page 2
    assert_eq!(
        hart(&mut mm, sh + 3 * P, AccessType::Load),
        Err(UserFaultError::BUS_ADRERR)
    );
    let mut child = mm.dup_mmap(6).unwrap();
    // The child faults the shared pages in itself (fork copies no shared-file PTEs).
    assert_eq!(load(&mut child, sh + 2 * P), b'c');
    assert_eq!(load(&mut child, sh + P), b'b');
    // Truncate to 1 page + 10 bytes (from "another process": the VFS).
    let _ = mm.take_tlb_flush();
    e.vfs.truncate(&inode, P + 10).unwrap();
    for who in [&mm, &child] {
        assert!(pte(who, sh + 2 * P).is_none(), "shared page 2 unmapped");
        assert!(pte(who, pr + 2 * P).is_none(), "even the COW copy");
        assert!(pte(who, sh + P).is_some(), "the partial last page stays");
    }
    assert_ne!(mm.take_tlb_flush().range, TlbFlushRange::None);
    assert_ne!(child.take_tlb_flush().range, TlbFlushRange::None);
    assert_eq!(m.cached_page(2), None);
    assert_eq!(
        hart(&mut mm, sh + 2 * P, AccessType::Load),
        Err(UserFaultError::BUS_ADRERR)
    );
    assert_eq!(
        hart(&mut child, pr + 2 * P, AccessType::Store),
        Err(UserFaultError::BUS_ADRERR)
    );
    assert_eq!(load(&mut mm, sh + P + 9), b'b');
    assert_eq!(
        load(&mut mm, sh + P + 10),
        0,
        "tail of the last page zeroed"
    );
    // A store beyond EOF inside the last page stays out of the file and is zeroed when
    // the file grows again.
    store(&mut child, sh + P + 100, b'J');
    e.vfs.truncate(&inode, 3 * P).unwrap();
    assert_eq!(file_byte(&m, P + 100), 0);
    assert_eq!(load(&mut mm, sh + 2 * P), 0, "regrown: a hole reads zeros");
    drop(child);
    drop(mm);
    e.cache_clean();
}

#[test]
fn fork_shares_file_pages_and_writeback_sees_the_childs_d_bit() {
    let e = env();
    let inode = e.file("/f", 1);
    let f = open(&inode, O_RDWR);
    let m = mapping(&f);
    let mut parent = e.mm(AdScheme::Svadu, 5);
    let a = parent
        .do_mmap(0, P, RW, MAP_SHARED, as_file(&f), 0)
        .unwrap();
    assert_eq!(load(&mut parent, a), b'a');
    let mut child = parent.dup_mmap(6).unwrap();
    let cache0 = m.cached_page(0).unwrap();
    let pg = e.phys.pages.page(cache0).unwrap();
    // vma_needs_copy(): a shared file VMA's PTEs are not copied; the child faults the
    // page-cache page in on first touch.
    assert!(pte(&child, a).is_none());
    assert_eq!((pg.refcount(), pg.mapcount()), (2, 1));
    assert_eq!(load(&mut child, a), b'a');
    assert_eq!(frame(&child, a), cache0);
    assert_eq!((pg.refcount(), pg.mapcount()), (3, 2));
    store(&mut child, a + 1, b'K');
    assert_eq!(load(&mut parent, a + 1), b'K', "shared, not copied");
    assert!(!pte_dirty(pte(&parent, a).unwrap()));
    assert!(pte_dirty(pte(&child, a).unwrap()));
    // The parent's msync writes back the child's store: the reverse map found its D bit.
    assert_eq!(parent.msync(a, P, MS_ASYNC), Ok(0));
    assert_eq!(disk_byte(&m, 1), b'K');
    assert!(!pte_dirty(pte(&child, a).unwrap()));
    assert_ne!(child.take_tlb_flush().range, TlbFlushRange::None);
    // munmap in the child hands a new D bit to the page (no writeback).
    store(&mut child, a + 2, b'L');
    assert_eq!(child.do_munmap(a, P), Ok(0));
    assert!(pg.test(PageFlags::DIRTY));
    assert_eq!(disk_byte(&m, 2), b'a');
    assert_eq!(e.vfs.sync(), Ok(()));
    assert_eq!(disk_byte(&m, 2), b'L');
    drop(child);
    drop(parent);
    e.cache_clean();
}

#[test]
fn mmap_checks_the_open_mode_and_the_file_type() {
    let e = env();
    let inode = e.file("/f", 1);
    let ro = open(&inode, O_RDONLY);
    let wo = open(&inode, O_WRONLY);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    assert_eq!(
        mm.do_mmap(0, P, RW, MAP_SHARED, as_file(&ro), 0),
        Err(Errno::EACCES)
    );
    assert_eq!(
        mm.do_mmap(0, P, PROT_READ, MAP_PRIVATE, as_file(&wo), 0),
        Err(Errno::EACCES)
    );
    assert_eq!(
        mm.do_mmap(
            0,
            P,
            PROT_READ,
            MAP_SHARED_VALIDATE | MAP_SYNC,
            as_file(&ro),
            0
        ),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        mm.do_mmap(0, P, PROT_READ, MAP_SHARED | MAP_GROWSDOWN, as_file(&ro), 0),
        Err(Errno::EINVAL)
    );
    // A shared read-only mapping of an O_RDONLY file can never become writable.
    let a = mm
        .do_mmap(0, P, PROT_READ, MAP_SHARED, as_file(&ro), 0)
        .unwrap();
    let v = mm.vmas().vma_lookup(a).unwrap();
    assert!(v.flags.contains(VmFlags::MAYSHARE));
    assert!(!v.flags.intersects(VmFlags::SHARED | VmFlags::MAYWRITE));
    assert_eq!(mm.mprotect(a, P, RW), Err(Errno::EACCES));
    // A private mapping of it can (COW).
    let b = mm
        .do_mmap(0, P, PROT_READ, MAP_PRIVATE, as_file(&ro), 0)
        .unwrap();
    assert_eq!(mm.mprotect(b, P, RW), Ok(0));
    // Beyond EOF the mapping exists but faults SIGBUS.
    let c = mm
        .do_mmap(0, 3 * P, PROT_READ, MAP_SHARED, as_file(&ro), 0)
        .unwrap();
    assert_eq!(load(&mut mm, c), b'a');
    assert_eq!(
        hart(&mut mm, c + P, AccessType::Load),
        Err(UserFaultError::BUS_ADRERR)
    );
    // Page offsets: page 1 of a 2-page file at the start of the mapping.
    let two = e.file("/two", 2);
    let tf = open(&two, O_RDONLY);
    let d = mm
        .do_mmap(0, P, PROT_READ, MAP_PRIVATE, as_file(&tf), 1)
        .unwrap();
    assert_eq!(load(&mut mm, d), b'b');
    // /dev/zero maps anonymous memory; other devices have no ->mmap.
    let zero = e
        .vfs
        .lookup(
            &e.vfs.root(),
            b"",
            crate::fs::Cred::default(),
            b"/dev/zero",
            true,
        )
        .unwrap();
    let z = mm
        .do_mmap(0, P, RW, MAP_PRIVATE, as_file(&open(&zero, O_RDWR)), 0)
        .unwrap();
    assert!(mm.vmas().vma_lookup(z).unwrap().is_anonymous());
    let null = e
        .vfs
        .lookup(
            &e.vfs.root(),
            b"",
            crate::fs::Cred::default(),
            b"/dev/null",
            true,
        )
        .unwrap();
    assert_eq!(
        mm.do_mmap(
            0,
            P,
            PROT_READ,
            MAP_PRIVATE,
            as_file(&open(&null, O_RDWR)),
            0
        ),
        Err(Errno::ENODEV)
    );
    drop(mm);
    e.cache_clean();
}

#[test]
fn punch_hole_unmaps_cache_pages_but_keeps_private_copies() {
    let e = env();
    let inode = e.file("/f", 3);
    let f = open(&inode, O_RDWR);
    let m = mapping(&f);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    let sh = mm
        .do_mmap(0, 3 * P, RW, MAP_SHARED, as_file(&f), 0)
        .unwrap();
    let pr = mm
        .do_mmap(0, 3 * P, RW, MAP_PRIVATE, as_file(&f), 0)
        .unwrap();
    assert_eq!(load(&mut mm, sh + P), b'b');
    assert_eq!(load(&mut mm, pr + 2 * P), b'c');
    store(&mut mm, pr + P, b'V');
    // Punch [P - 10, 3P - 100): page 1 whole, parts of pages 0 and 2.
    f.fallocate(
        &e.vfs,
        crate::fs::FALLOC_FL_PUNCH_HOLE | crate::fs::FALLOC_FL_KEEP_SIZE,
        (P - 10) as i64,
        (2 * P - 90) as i64,
    )
    .unwrap();
    assert!(pte(&mm, sh + P).is_none(), "shared PTE of the hole gone");
    assert_eq!(load(&mut mm, pr + P), b'V', "private COW copy kept");
    assert_eq!(load(&mut mm, sh + P), 0);
    assert_eq!(load(&mut mm, sh + P - 11), b'a');
    assert_eq!(load(&mut mm, sh + P - 10), 0);
    assert_eq!(
        load(&mut mm, pr + 2 * P),
        0,
        "partial page zeroed, still mapped"
    );
    assert_eq!(load(&mut mm, sh + 3 * P - 100), b'c');
    assert_eq!(inode.size(), 3 * P, "KEEP_SIZE");
    assert_eq!(file_byte(&m, P + 1), 0);
    // MADV_REMOVE punches through the mapping.
    store(&mut mm, sh + 2 * P, b'R');
    assert_eq!(mm.madvise(sh + 2 * P, P, MADV_REMOVE), Ok(0));
    assert_eq!(file_byte(&m, 2 * P), 0);
    assert_eq!(
        f.fallocate(&e.vfs, crate::fs::FALLOC_FL_PUNCH_HOLE, 0, 1),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        f.fallocate(&e.vfs, crate::fs::FALLOC_FL_ZERO_RANGE, 0, 1),
        Err(Errno::EOPNOTSUPP)
    );
    // Mode 0 extends, KEEP_SIZE does not.
    f.fallocate(&e.vfs, 0, 0, (4 * P + 1) as i64).unwrap();
    assert_eq!(inode.size(), 4 * P + 1);
    f.fallocate(&e.vfs, crate::fs::FALLOC_FL_KEEP_SIZE, 0, (8 * P) as i64)
        .unwrap();
    assert_eq!(inode.size(), 4 * P + 1);
    drop(mm);
    e.cache_clean();
}

#[test]
fn mremap_keeps_pgoff_and_the_reverse_map_follows_the_move() {
    let e = env();
    let inode = e.file("/f", 4);
    let f = open(&inode, O_RDWR);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    let a = mm
        .do_mmap(0, 2 * P, RW, MAP_SHARED, as_file(&f), 1)
        .unwrap();
    assert_eq!(load(&mut mm, a), b'b');
    let b = mm.mremap(a, 2 * P, 3 * P, MREMAP_MAYMOVE, 0).unwrap();
    assert_eq!(load(&mut mm, b + 2 * P), b'd');
    assert_eq!(mm.vmas().vma_lookup(b).unwrap().pgoff, 1);
    e.vfs.truncate(&inode, 2 * P).unwrap();
    assert!(
        pte(&mm, b + 2 * P).is_none(),
        "truncation found the moved VMA"
    );
    assert_eq!(
        hart(&mut mm, b + P, AccessType::Load),
        Err(UserFaultError::BUS_ADRERR)
    );
    assert_eq!(load(&mut mm, b), b'b');
    drop(mm);
    e.cache_clean();
}

#[test]
fn msync_errors_follow_linux() {
    let e = env();
    let inode = e.file("/f", 1);
    let f = open(&inode, O_RDWR);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    let a = mm
        .do_mmap(0, 3 * P, RW, MAP_SHARED, as_file(&f), 0)
        .unwrap();
    assert_eq!(mm.do_munmap(a + P, P), Ok(0));
    assert_eq!(mm.msync(a, P, 8), Err(Errno::EINVAL));
    assert_eq!(mm.msync(a + 1, P, MS_SYNC), Err(Errno::EINVAL));
    assert_eq!(mm.msync(a, P, MS_SYNC | MS_ASYNC), Err(Errno::EINVAL));
    assert_eq!(mm.msync(a, 0, MS_SYNC), Ok(0));
    assert_eq!(mm.msync(a, P, MS_SYNC | MS_INVALIDATE), Ok(0));
    assert_eq!(mm.msync(a, 3 * P, MS_SYNC), Err(Errno::ENOMEM), "hole");
    assert_eq!(mm.msync(a + P, P, MS_ASYNC), Err(Errno::ENOMEM));
    assert_eq!(mm.msync(!(P - 1), 2 * P, MS_SYNC), Err(Errno::ENOMEM));
    drop(mm);
    e.cache_clean();
}

#[test]
fn reclaim_evicts_unmapped_pages_and_writes_dirty_ones_back() {
    // 2 MiB of RAM: 511 usable frames; a 4 MiB file cannot stay cached.
    let e = env_with(2);
    let inode = e.file("/small", 1);
    let f = open(&inode, O_RDWR);
    let m = mapping(&f);
    let mut mm = e.mm(AdScheme::Svadu, 5);
    let a = mm.do_mmap(0, P, RW, MAP_SHARED, as_file(&f), 0).unwrap();
    store(&mut mm, a, b'M'); // mapped: must survive reclaim
    let big: Vec<u8> = (0..4u64 << 20).map(|i| (i / P) as u8).collect();
    // Written through the cache, as write(2) does (write_file would seed the disk).
    let bf = e.vfs.write_file(b"/big", b"", 0o644).unwrap();
    let bm = mapping(&open(&bf, O_RDWR));
    assert_eq!(bm.write(0, &big), Ok(big.len()));
    let st = e.vfs.page_cache().unwrap().stats();
    assert!(st.evicted > 0 && st.written_back > 0, "{st:?}");
    assert_eq!(bf.read_all(8 << 20).unwrap().unwrap(), big);
    assert_eq!(load(&mut mm, a), b'M');
    assert_eq!(Some(frame(&mm, a)), m.cached_page(0));
    drop(mm);
    e.cache_clean();
    e.vfs.page_cache().unwrap().shutdown();
    assert_eq!(e.phys.pages.audit().pagecache_frames, 0);
    assert_eq!(m.read_backing(0, &mut [0u8; 1]), 1);
    assert_eq!(
        disk_byte(&m, 0),
        b'M',
        "shutdown wrote the mapping's store back"
    );
}

/// CVE-2016-5195 in its original, file-backed form (seed 003): a read-only file (opened
/// `O_RDONLY`, like `/etc/passwd` in the proof of concept) mapped `PROT_READ` +
/// `MAP_PRIVATE`, a `FOLL_FORCE` write through `/proc/self/mem` (`access_remote_vm`), and
/// another thread running `MADV_DONTNEED` between `faultin_page()` and the retried
/// `follow_page_pte()` — here a deterministic hook at that retry point. Only the
/// `DirtyCow` generation returns the page-cache page to the writer, so the write reaches
/// the file (the cache, then the disk at writeback); `FollCow` and `Modern` write into the
/// private COW copy every time.
#[test]
fn dirty_cow_file_race_reaches_the_file_only_in_the_dirtycow_generation() {
    use super::gup::GupGeneration;
    use super::test_support::forced_write_lookup;
    for gen in GupGeneration::ALL {
        for race in [false, true] {
            for ad in [AdScheme::Svadu, AdScheme::Svade] {
                let e = env();
                let inode = e.file("/etc/passwd", 1);
                let f = open(&inode, O_RDONLY);
                let m = mapping(&f);
                let mut mm = e.mm(ad, 7);
                mm.set_gup_generation(gen);
                let a = mm
                    .do_mmap(0, P, PROT_READ, MAP_PRIVATE, as_file(&f), 0)
                    .unwrap();
                assert_eq!(load(&mut mm, a), b'a');
                let cache = m.cached_page(0).unwrap();

                let pages = [forced_write_lookup(&mut mm, a, race)];
                // mem_rw()'s copy into the page, then put_page().
                e.phys.ram.write_bytes(pages[0].pa(), b"X").unwrap();
                e.phys.put_page(pages[0]);

                let bug = gen == GupGeneration::DirtyCow && race;
                let what = format!("{gen:?} {ad:?} race={race}");
                assert_eq!(pages[0] == cache, bug, "{what}: page handed to the writer");
                assert_eq!(file_byte(&m, 0) == b'X', bug, "{what}: the file changed");
                assert_eq!(f.fsync(), Ok(()));
                if bug {
                    // The exploit's write is a store into the cache page by the kernel, not
                    // through a PTE: nothing marked it dirty, so it lives in the cache only
                    // (Linux 4.8 likewise lost it at eviction unless something dirtied it).
                    assert_eq!(disk_byte(&m, 0), b'a', "{what}: not on disk");
                } else {
                    assert_eq!(load(&mut mm, a), b'X', "{what}: the writer's private copy");
                    assert_ne!(frame(&mm, a), cache, "{what}");
                    assert_eq!(disk_byte(&m, 0), b'a', "{what}");
                }
                drop(mm);
                e.cache_clean();
            }
        }
    }
}

/// Files seeded at boot (`Vfs::write_file`: the image, `--file`) are on the backing store,
/// not dirty page-cache pages: nothing is cached or written back until the guest reads.
#[test]
fn seeded_files_start_on_disk_and_are_read_in_on_first_use() {
    let e = env();
    let inode = e.vfs.write_file(b"/seed", &[7u8; 3 * 4096], 0o644).unwrap();
    let cache = e.vfs.page_cache().unwrap();
    let m = mapping(&open(&inode, O_RDONLY));
    assert_eq!(
        (m.nr_pages(), cache.stats().pages),
        (0, 0),
        "nothing cached"
    );
    assert_eq!(disk_byte(&m, 2 * P), 7, "on disk");
    assert_eq!(file_byte(&m, P), 7);
    let st = cache.stats();
    assert_eq!((st.read_ins, st.written_back, m.nr_pages()), (1, 0, 1));
    e.cache_clean();
}
