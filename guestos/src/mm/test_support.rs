//! What the mm unit tests (and procfs's) share: fresh guest RAM with its page allocator
//! and an address space in it, a hart's user-mode access (the hardware walker, and on a
//! page fault the kernel's `do_page_fault()` and a retry, as the trap path does), and
//! the page allocator's audit.

use std::sync::Arc;

use devices::{GuestMemory, GuestPhysAddr, PAGE_SIZE};
use mmu::{
    walk, AccessType, AdScheme, GuestVirtAddr, MmuCounters, PrivCtx, SatpMode, Translation,
    WalkFault,
};

use super::mmap::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use super::{Mm, PageAllocAudit, PhysMem, UserFaultError};

/// One base page, in bytes.
pub const P: u64 = PAGE_SIZE;
/// Where guest RAM starts.
pub const RAM: u64 = 0x8000_0000;
/// `MAP_PRIVATE | MAP_ANONYMOUS`.
pub const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;
/// `PROT_READ | PROT_WRITE`.
pub const RW: u64 = PROT_READ | PROT_WRITE;

/// `mib` MiB of guest RAM at [`RAM`] with its page allocator.
pub fn phys(mib: u64) -> Arc<PhysMem> {
    let ram = GuestMemory::new(&[(GuestPhysAddr(RAM), mib << 20)]).unwrap();
    Arc::new(PhysMem::new(ram).unwrap())
}

/// A file system over `phys` (its page cache, and `shm_mnt` for shared anonymous
/// memory, which `MAP_SHARED|MAP_ANONYMOUS` needs); keep it alive while mapping.
pub fn shm_vfs(phys: &Arc<PhysMem>) -> crate::fs::Vfs {
    crate::fs::Vfs::new(crate::fs::VfsConfig {
        phys: Some(Arc::clone(phys)),
        ..crate::fs::VfsConfig::default()
    })
}

/// An empty address space (paging `mode`, A/D scheme `ad`, `asid`) in fresh RAM of `mib`
/// MiB.
pub fn setup_mm(mib: u64, mode: SatpMode, ad: AdScheme, asid: u16) -> (Arc<PhysMem>, Mm) {
    let phys = phys(mib);
    let mm = Mm::new(Arc::clone(&phys), mode, ad, asid).unwrap();
    (phys, mm)
}

/// One user-mode access translated by the hardware walker, with the mm's A/D scheme.
pub fn uwalk(mm: &Mm, va: u64, access: AccessType) -> Result<Translation, WalkFault> {
    let mut c = MmuCounters::default();
    walk(
        &mm.phys().ram,
        mm.satp(),
        GuestVirtAddr(va),
        access,
        PrivCtx::USER,
        mm.ad_scheme(),
        &mut c,
    )
}

/// What a hart does: walk, and on a page fault ask the kernel and retry. Panics on an
/// access fault or a fault the kernel never resolves.
///
/// # Errors
/// The kernel's verdict on a fault it refuses (`SIGSEGV`, `SIGBUS`…).
pub fn touch(mm: &mut Mm, va: u64, access: AccessType) -> Result<Translation, UserFaultError> {
    for _ in 0..4 {
        match uwalk(mm, va, access) {
            Ok(t) => return Ok(t),
            Err(WalkFault::AccessFault) => panic!("access fault at {va:#x}"),
            Err(WalkFault::PageFault) => mm.do_page_fault(va, access)?,
        }
    }
    panic!("fault at {va:#x} never resolved");
}

/// [`touch`], returning the guest-physical address `va` reaches.
///
/// # Errors
/// As [`touch`].
pub fn hart(mm: &mut Mm, va: u64, access: AccessType) -> Result<GuestPhysAddr, UserFaultError> {
    touch(mm, va, access).map(|t| t.pa(GuestVirtAddr(va)))
}

/// A hart's 8-byte load at `va` (which must succeed).
pub fn hart_read(mm: &mut Mm, va: u64) -> u64 {
    let pa = hart(mm, va, AccessType::Load).unwrap();
    mm.phys().ram.read_u64(pa).unwrap()
}

/// A hart's 8-byte store of `v` at `va` (which must succeed).
pub fn hart_write(mm: &mut Mm, va: u64, v: u64) {
    let pa = hart(mm, va, AccessType::Store).unwrap();
    mm.phys().ram.write_u64(pa, v).unwrap();
}

/// A hart's byte load at `va` (which must succeed).
pub fn load(mm: &mut Mm, va: u64) -> u8 {
    let pa = hart(mm, va, AccessType::Load).unwrap();
    let mut b = [0u8];
    mm.phys().ram.read_bytes(pa, &mut b).unwrap();
    b[0]
}

/// A hart's byte store of `v` at `va` (which must succeed).
pub fn store(mm: &mut Mm, va: u64, v: u8) {
    let pa = hart(mm, va, AccessType::Store).unwrap();
    mm.phys().ram.write_bytes(pa, &[v]).unwrap();
}

/// The page allocator's audit, asserting that no page was put too often and no frame's
/// metadata is inconsistent.
pub fn clean(phys: &PhysMem) -> PageAllocAudit {
    let a = phys.pages.audit();
    assert_eq!((a.bad_puts, a.inconsistent_frames), (0, 0), "{a:?}");
    a
}

/// The ptrace / `/proc/self/mem` side of the Dirty COW interleaving: a forced write
/// lookup (`FOLL_WRITE | FOLL_FORCE`, `get_user_pages_remote()`) of the page at `addr`,
/// with — if `race` — another thread's `madvise(MADV_DONTNEED)` of that page run once at
/// the `faultin_page()` → `follow_page_pte()` retry point. Returns the page handed to the
/// writer, with the lookup's reference (drop it with `put_page`).
pub fn forced_write_lookup(mm: &mut Mm, addr: u64, race: bool) -> super::Pfn {
    use super::gup::{get_user_pages_remote_racy, FollFlags};
    let mut zaps = 0;
    let mut hook = |m: &mut Mm, at: u64| {
        if race && zaps == 0 {
            zaps += 1;
            m.madvise(at & !(P - 1), P, super::mmap::MADV_DONTNEED)
                .unwrap();
        }
    };
    let mut g = mm.mmap_read_lock();
    let pages = get_user_pages_remote_racy(
        &mut g,
        addr,
        1,
        FollFlags::WRITE | FollFlags::FORCE,
        &mut hook,
    )
    .unwrap();
    g.unlock();
    pages[0]
}

/// Which side of an `mmap_lock` [`beside_mmap_lock`]'s other thread holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmapSide {
    /// `mmap_read_lock()`: a path that takes the write side waits for it.
    Read,
    /// `mmap_write_lock()`: a path that takes either side waits for it.
    Write,
}

/// A [`beside_mmap_lock`] timeout that a path which does not wait meets on any host.
pub const BESIDE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `f` on this thread while another thread holds `side` of `mm`'s `mmap_lock`, and
/// returns `f`'s result and whether `f` finished while the lock was still held. A path
/// that needs a side the holder excludes (the write side beside a reader; anything but
/// a lockless walk beside a writer) waits for the holder, which lets go only after
/// `timeout`: then `false`, and no hang. Assert on the flag to show which side a path
/// takes.
pub fn beside_mmap_lock<R>(
    mm: &super::MmStruct,
    side: MmapSide,
    timeout: std::time::Duration,
    f: impl FnOnce() -> R,
) -> (R, bool) {
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let holder = s.spawn(move || {
            let (read, write) = match side {
                MmapSide::Read => (Some(mm.mmap_read_lock()), None),
                MmapSide::Write => (None, Some(mm.mmap_write_lock())),
            };
            held_tx.send(()).unwrap();
            let in_time = done_rx.recv_timeout(timeout).is_ok();
            drop((read, write));
            in_time
        });
        held_rx.recv().unwrap();
        let r = f();
        let _ = done_tx.send(());
        (r, holder.join().unwrap())
    })
}
