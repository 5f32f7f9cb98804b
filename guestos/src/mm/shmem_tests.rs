//! File classes against GUP: long-term writable pins of shared mappings are Linux's
//! `writable_file_mapping_allowed()` / `gup_fast_folio_allowed()` — allowed on shmem (a
//! memfd, a tmpfs file under `/tmp` or `/dev/shm`), refused with `EFAULT` on a file of
//! the root file system (writeback needs the PTE D bits), by the slow path and the
//! lockless walk alike; private mappings and read-only pins are always allowed.

use std::sync::Arc;

use mmu::{AdScheme, SatpMode};

use super::gup::*;
use super::mmap::*;
use super::test_support::{store, P, RW};
use super::*;
use crate::errno::Errno;
use crate::fs::mount::SuperBlock;
use crate::fs::{Cred, FileTarget, Inode, OpenFile, Vfs, VfsConfig, O_RDWR};

struct Env {
    phys: Arc<PhysMem>,
    vfs: Vfs,
}

fn env() -> Env {
    let phys = super::test_support::phys(16);
    let vfs = Vfs::new(VfsConfig {
        phys: Some(Arc::clone(&phys)),
        ..VfsConfig::default()
    });
    Env { phys, vfs }
}

impl Env {
    fn mm(&self) -> Mm {
        Mm::new(Arc::clone(&self.phys), SatpMode::Sv39, AdScheme::Svadu, 3).unwrap()
    }

    /// Maps one page of `inode` with `flags` (read-write) and dirties it by a hart store.
    fn map(&self, mm: &mut Mm, inode: &Arc<Inode>, flags: u64) -> u64 {
        self.vfs.truncate(inode, P).unwrap();
        let f = OpenFile::new(FileTarget::Inode(Arc::clone(inode)), O_RDWR);
        let a = mm
            .do_mmap(0, P, RW, flags, Some(f as Arc<dyn MappedFile>), 0)
            .unwrap();
        store(mm, a, b'x');
        a
    }
}

/// The three kinds of regular file: a root file system file, a `/tmp` file, a memfd.
fn files(e: &Env) -> [(&'static str, Arc<Inode>); 4] {
    [
        ("/data", e.vfs.write_file(b"/data", b"", 0o644).unwrap()),
        ("/tmp/t", e.vfs.write_file(b"/tmp/t", b"", 0o644).unwrap()),
        (
            "/dev/shm/s",
            e.vfs.write_file(b"/dev/shm/s", b"", 0o644).unwrap(),
        ),
        ("memfd", e.vfs.memfd_inode(Cred::default(), 0)),
    ]
}

const LONGTERM_W: FollFlags = FollFlags::LONGTERM.union(FollFlags::WRITE);

#[test]
fn files_lie_on_their_mounts_file_system() {
    let e = env();
    let [(_, root), (_, tmp), (_, shm), (_, memfd)] = files(&e);
    assert_eq!(root.sb(), SuperBlock::Root);
    assert_eq!(tmp.sb(), SuperBlock::Tmp);
    assert_eq!(shm.sb(), SuperBlock::DevShm);
    assert_eq!(memfd.sb(), SuperBlock::ShmMnt);
    assert!(!root.is_shmem() && tmp.is_shmem() && shm.is_shmem() && memfd.is_shmem());
    // A directory made under /tmp is tmpfs, and so is what is created in it.
    e.vfs.create_dir_all(b"/tmp/a/b", 0o755).unwrap();
    let deep = e.vfs.write_file(b"/tmp/a/b/f", b"", 0o644).unwrap();
    assert_eq!(deep.sb(), SuperBlock::Tmp);
    e.vfs.create_dir_all(b"/var/lib", 0o755).unwrap();
    let disk = e.vfs.write_file(b"/var/lib/f", b"", 0o644).unwrap();
    assert_eq!(disk.sb(), SuperBlock::Root);
}

#[test]
fn longterm_writable_pins_of_shared_mappings_follow_the_file_class() {
    let e = env();
    for (name, inode) in files(&e) {
        let shmem = inode.is_shmem();
        let mut mm = e.mm();
        let a = e.map(&mut mm, &inode, MAP_SHARED);
        let mut g = mm.mmap_read_lock();
        // check_vma_flags(): writable_file_mapping_allowed().
        let vma = g.vma_lookup(a).unwrap().clone();
        assert_eq!(vma_needs_dirty_tracking(&vma), !shmem, "{name}");
        let r = pin_user_pages(&mut g, a, 1, LONGTERM_W);
        g.unlock();
        match r {
            Ok(p) if shmem => unpin_user_pages(&e.phys, &p),
            Ok(_) => panic!("{name}: a writeback file was pinned for writing"),
            Err(err) => {
                assert!(!shmem, "{name}: {err:?}");
                assert_eq!(err, Errno::EFAULT, "{name}");
            }
        }
        // GUP-fast agrees: the lockless walk takes a shmem page itself, and leaves a
        // writeback page to the slow path, which refuses it.
        let fast = gup_fast(&mm, a, 1, FollFlags::PIN | LONGTERM_W);
        assert_eq!(
            fast.len(),
            usize::from(shmem),
            "{name}: gup_fast_folio_allowed()"
        );
        unpin_user_pages(&e.phys, &fast);
        let r = pin_user_pages_fast(&mut mm, a, 1, LONGTERM_W);
        assert_eq!(r.is_ok(), shmem, "{name}: {r:?}");
        if let Ok(p) = r {
            unpin_user_pages(&e.phys, &p);
        } else {
            assert_eq!(r, Err(Errno::EFAULT));
        }
        // Short-term writable pins and long-term read-only pins are always allowed.
        for flags in [FollFlags::WRITE, FollFlags::LONGTERM] {
            let p = pin_user_pages_fast(&mut mm, a, 1, flags).unwrap();
            assert_eq!(p.len(), 1, "{name} {flags:?}");
            unpin_user_pages(&e.phys, &p);
        }
        drop(mm);
    }
    assert_eq!(e.vfs.page_cache().unwrap().audit(), 0);
}

#[test]
fn private_and_read_only_shared_mappings_need_no_dirty_tracking() {
    let e = env();
    let root = e.vfs.write_file(b"/data", b"", 0o644).unwrap();
    let mut mm = e.mm();
    // MAP_PRIVATE: the write lands in an anonymous copy, which may be pinned.
    let a = e.map(&mut mm, &root, MAP_PRIVATE);
    let p = pin_user_pages_fast(&mut mm, a, 1, LONGTERM_W).unwrap();
    unpin_user_pages(&e.phys, &p);
    // MAP_SHARED without VM_WRITE: vma_is_shared_writable() is false.
    let b = e.map(&mut mm, &root, MAP_SHARED);
    assert_eq!(mm.mprotect(b, P, PROT_READ), Ok(0));
    let g = mm.mmap_read_lock();
    assert!(!vma_needs_dirty_tracking(g.vma_lookup(b).unwrap()));
    g.unlock();
    let p = pin_user_pages_fast(&mut mm, b, 1, FollFlags::LONGTERM).unwrap();
    unpin_user_pages(&e.phys, &p);
}

#[test]
fn shmem_page_cache_folios_are_swap_backed_and_writeback_ones_are_not() {
    let e = env();
    for (name, inode) in files(&e) {
        let mut mm = e.mm();
        let a = e.map(&mut mm, &inode, MAP_SHARED);
        let pfn = Pfn(mm.page_table().follow_pte(a).unwrap().pte.ppn());
        let page = e.phys.pages.page(pfn).unwrap();
        assert!(page.test(PageFlags::PAGECACHE), "{name}");
        assert_eq!(page.test(PageFlags::SWAPBACKED), inode.is_shmem(), "{name}");
    }
}

#[test]
fn shared_anonymous_memory_is_a_shmem_object_pinnable_long_term() {
    let e = env();
    let mut mm = e.mm();
    let a = mm
        .do_mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, None, 0)
        .unwrap();
    store(&mut mm, a, b's');
    let g = mm.mmap_read_lock();
    let vma = g.vma_lookup(a).unwrap();
    // shmem_zero_setup(): a shared file mapping of its own shmem object.
    assert!(!vma.is_anonymous());
    assert!(vma
        .file()
        .is_some_and(|f| f.is_shmem() && !f.mapping_can_writeback()));
    assert!(!vma_needs_dirty_tracking(vma));
    g.unlock();
    let fast = gup_fast(&mm, a, 1, FollFlags::PIN | LONGTERM_W);
    assert_eq!(fast.len(), 1, "GUP-fast takes the shmem folio");
    unpin_user_pages(&e.phys, &fast);
    let p = pin_user_pages_fast(&mut mm, a, 2, LONGTERM_W).unwrap();
    assert_eq!(
        p.len(),
        2,
        "the slow path faults the second page in and pins it"
    );
    unpin_user_pages(&e.phys, &p);
    // FOLL_ANON: shmem is not anonymous memory (check_vma_flags()).
    let mut g = mm.mmap_read_lock();
    assert_eq!(
        get_user_pages(&mut g, a, 1, FollFlags::ANON).err(),
        Some(Errno::EFAULT)
    );
    g.unlock();
    drop(mm);
    assert_eq!(e.vfs.page_cache().unwrap().audit(), 0);
}
