//! procfs, `process_vm_readv/writev` and `vmsplice` against real processes (address
//! spaces in guest RAM, the VFS, descriptor tables), driven through the same entry points
//! the kernel uses: `sys_openat` + [`kfile::open`] + [`kfile::serve`], and the system-call
//! functions. Every test ends with the page audit balanced.

use std::collections::BTreeMap;
use std::sync::Arc;

use mmu::{AdScheme, SatpMode};

use super::*;
use crate::config::ExitStatus;
use crate::fs::{IoError, WaitOn, AT_FDCWD, O_RDONLY, O_RDWR};
use crate::mm::mmap::{MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_FIXED, MAP_SHARED, PROT_READ};
use crate::mm::test_support::{ANON, P, RW};
use crate::mm::{GupGeneration, MappedFile, Mm, PhysMem, VmFlags, Vma, VmaBacking, HPAGE_PMD_SIZE};
use crate::process::{Task, TaskState, Tasks};
use crate::syscall::fs::sys_openat;
use crate::syscall::kfile;
use crate::syscall::nr;
use crate::syscall::process_vm::sys_process_vm_rw;
use crate::syscall::splice::{sys_vmsplice, SPLICE_F_GIFT, SPLICE_F_NONBLOCK};
use crate::uaccess::UserAccess;

mod smaps;

/// A kernel's worth of state without a hart: processes by pid, and a scratch area (the
/// same address in every process, made before any fork) for paths, buffers and iovecs.
struct World {
    phys: Arc<PhysMem>,
    procs: BTreeMap<u32, Task>,
    scratch: u64,
}

impl World {
    fn new(gen: GupGeneration) -> World {
        let phys = crate::mm::test_support::phys(32);
        let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        mm.set_gup_generation(gen);
        let scratch = mm.do_mmap(0, 16 * P, RW, ANON, None, 0).unwrap();
        let init = crate::process::test_init(mm);
        init.vfs.proc_register(1).unwrap();
        World {
            phys,
            procs: BTreeMap::from([(1, init)]),
            scratch,
        }
    }

    fn p(&mut self, pid: u32) -> &mut Task {
        self.procs.get_mut(&pid).unwrap()
    }

    /// Task `pid`'s address space, locked for writing.
    fn mm(&self, pid: u32) -> crate::mm::MmapWriteLock<'_> {
        self.procs[&pid].mm.as_ref().unwrap().mmap_write_lock()
    }

    fn fork(&mut self, parent: u32, child: u32) {
        let p = self.p(parent);
        let mm =
            p.mm.as_ref()
                .unwrap()
                .mmap_write_lock()
                .dup_mmap(child as u16 + 1)
                .unwrap();
        let c = p.copy_process(
            child,
            crate::process::CloneShare::default(),
            crate::mm::MmUsers::new(mm),
            emu::UserContext::default(),
            false,
        );
        c.vfs.proc_register(child).unwrap();
        self.procs.insert(child, c);
    }

    /// The task exits (`exit_files()`, `exit_mm()`): a zombie.
    fn exit(&mut self, pid: u32) {
        let p = self.p(pid);
        p.set_state(TaskState::Zombie(ExitStatus::Exited(0)));
        p.fs.exit_files();
        drop(p.mm.take());
    }

    fn reap(&mut self, pid: u32) {
        let p = self.procs.remove(&pid).unwrap();
        p.vfs.proc_unregister(pid);
    }

    fn mmap(&mut self, pid: u32, prot: u64, flags: u64, pages: u64) -> u64 {
        self.mm(pid)
            .do_mmap(0, pages * P, prot, flags, None, 0)
            .unwrap()
    }

    fn poke(&mut self, pid: u32, va: u64, data: &[u8]) {
        self.mm(pid).copy_to_user(va, data).unwrap();
    }

    fn peek(&mut self, pid: u32, va: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mm(pid).copy_from_user(va, &mut v).unwrap();
        v
    }

    /// `openat(AT_FDCWD, path, flags)` as the kernel runs it, `->open` included.
    fn open(&mut self, pid: u32, path: &str, flags: u32) -> KResult<u64> {
        let at = self.scratch + 15 * P;
        let mut bytes = path.as_bytes().to_vec();
        bytes.push(0);
        self.poke(pid, at, &bytes);
        let p = self.p(pid);
        let mm = p.mm.clone().unwrap();
        let fd = sys_openat(
            &mut p.fs,
            &p.vfs,
            &mut mm.uaccess(),
            AT_FDCWD as u64,
            at,
            u64::from(flags),
            0,
        )?;
        let file = p.fs.fds.get(fd as u32).unwrap();
        if let Some(kf) = file.kernel_file() {
            if let Err(e) = kfile::open(&mut Tasks::new(&mut self.procs), pid, kf) {
                self.p(pid).fs.fds.close(fd as u32).unwrap();
                return Err(e);
            }
        }
        Ok(fd)
    }

    /// A system call on a kernel-served descriptor `a[0]`.
    fn call(&mut self, pid: u32, n: u64, a: [u64; 6]) -> KResult<u64> {
        let file = self.p(pid).fs.fds.get(a[0] as u32)?;
        kfile::serve(&mut Tasks::new(&mut self.procs), pid, &file, n, a)
    }

    fn pread(&mut self, pid: u32, fd: u64, len: usize, pos: u64) -> KResult<Vec<u8>> {
        let buf = self.scratch;
        let n = self.call(pid, nr::SYS_pread64, [fd, buf, len as u64, pos, 0, 0])?;
        Ok(self.peek(pid, buf, n as usize))
    }

    fn pwrite(&mut self, pid: u32, fd: u64, data: &[u8], pos: u64) -> KResult<u64> {
        let buf = self.scratch;
        self.poke(pid, buf, data);
        self.call(
            pid,
            nr::SYS_pwrite64,
            [fd, buf, data.len() as u64, pos, 0, 0],
        )
    }

    fn pagemap(&mut self, pid: u32, va: u64) -> u64 {
        pagemap_entry(&self.mm(pid), va, true)
    }

    fn assert_clean(mut self) {
        let pids: Vec<u32> = self.procs.keys().copied().collect();
        for pid in pids {
            self.procs.remove(&pid);
        }
        let a = self.phys.pages.audit();
        assert_eq!((a.bad_puts, a.inconsistent_frames), (0, 0), "{a:?}");
        // Only the zero page is left.
        assert_eq!(a.used_frames, 1, "{a:?}");
    }
}

#[test]
fn mem_force_write_lands_in_the_cow_copy_and_never_in_a_shared_mapping() {
    for gen in GupGeneration::ALL {
        let mut w = World::new(gen);
        let ro = w.mmap(1, RW, ANON, 1);
        w.poke(1, ro, b"old data");
        w.mm(1).mprotect(ro, P, PROT_READ).unwrap();
        let shared = w.mmap(1, RW, MAP_SHARED | MAP_ANONYMOUS, 1);
        w.poke(1, shared, b"shared");
        w.mm(1).mprotect(shared, P, PROT_READ).unwrap();
        w.fork(1, 2);
        assert_eq!(
            w.pagemap(1, ro) & PM_MMAP_EXCLUSIVE,
            0,
            "{gen:?}: shared by fork"
        );
        let fd = w.open(1, "/proc/self/mem", O_RDWR).unwrap();
        assert_eq!(w.pwrite(1, fd, b"NEW DATA", ro), Ok(8), "{gen:?}");
        assert_eq!(w.peek(1, ro, 8), b"NEW DATA");
        assert_eq!(
            w.peek(2, ro, 8),
            b"old data",
            "{gen:?}: the child keeps the original"
        );
        let (e1, e2) = (w.pagemap(1, ro), w.pagemap(2, ro));
        assert_ne!(e1 & PM_PFRAME_MASK, e2 & PM_PFRAME_MASK, "a COW copy");
        assert_ne!(e1 & PM_MMAP_EXCLUSIVE, 0);
        let vma = w.mm(1).vmas().vma_lookup(ro).unwrap().flags;
        assert!(!vma.contains(VmFlags::WRITE), "still read-only");
        // A shared read-only mapping is never force-written: EIO, both pages unchanged.
        assert_eq!(w.pwrite(1, fd, b"X", shared), Err(Errno::EIO));
        assert_eq!(w.pread(1, fd, 6, shared).unwrap(), b"shared");
        assert_eq!(w.peek(2, shared, 6), b"shared");
        w.assert_clean();
    }
}

#[test]
fn mem_reads_and_writes_page_by_page_with_linux_errors() {
    let mut w = World::new(GupGeneration::Modern);
    let two = w.mmap(1, RW, ANON, 2);
    w.mm(1).do_munmap(two + P, P).unwrap();
    w.poke(1, two + P - 4, b"tail");
    let fd = w.open(1, "/proc/self/mem", O_RDWR).unwrap();
    // Up to the hole, then stop; nothing at all is EIO.
    assert_eq!(w.pread(1, fd, 64, two + P - 4).unwrap(), b"tail");
    assert_eq!(w.pread(1, fd, 1, two + P), Err(Errno::EIO));
    assert_eq!(w.pwrite(1, fd, b"x", two + P), Err(Errno::EIO));
    assert_eq!(
        w.pread(1, fd, 1, 1 << 60),
        Err(Errno::EIO),
        "beyond TASK_SIZE"
    );
    // read/write use and advance the offset; lseek sets any 64-bit address.
    let file = w.p(1).fs.fds.get(fd as u32).unwrap();
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, two + P - 4, 0, 0, 0, 0]),
        Ok(two + P - 4)
    );
    assert_eq!(w.call(1, nr::SYS_read, [fd, w.scratch, 2, 0, 0, 0]), Ok(2));
    assert_eq!(file.pos(), two + P - 2);
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, (-2i64) as u64, 1, 0, 0, 0]),
        Ok(two + P - 4)
    );
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, 0, 2, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let high = 0xffff_ffff_8000_0000u64;
    assert_eq!(w.call(1, nr::SYS_lseek, [fd, high, 0, 0, 0, 0]), Ok(high));
    assert_eq!(
        w.call(1, nr::SYS_read, [fd, w.scratch, 1, 0, 0, 0]),
        Err(Errno::EIO),
        "FMODE_UNSIGNED_OFFSET: a kernel address is an offset, just not a mapped one"
    );
    // ... but a range that would wrap to 0 is EOVERFLOW (rw_verify_area()).
    w.call(1, nr::SYS_lseek, [fd, (-16i64) as u64, 0, 0, 0, 0])
        .unwrap();
    assert_eq!(
        w.call(1, nr::SYS_read, [fd, w.scratch, 16, 0, 0, 0]),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(
        w.call(
            1,
            nr::SYS_pread64,
            [fd, w.scratch, 1, (-4096i64) as u64, 0, 0]
        ),
        Err(Errno::EINVAL)
    );
    // The caller's buffer faulting: EFAULT, even after a page moved; the offset still
    // advances past what moved (mem_rw() sets *ppos = addr on the way out).
    let src = w.mmap(1, RW, ANON, 2);
    w.poke(1, src, &[7u8; 8]);
    let dst = w.mmap(1, RW, ANON, 2);
    w.mm(1).do_munmap(dst + P, P).unwrap();
    w.call(1, nr::SYS_lseek, [fd, src, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        w.call(1, nr::SYS_read, [fd, dst, 2 * P, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(file.pos(), src + P);
    assert_eq!(
        w.call(1, nr::SYS_read, [fd, 1 << 50, 8, 0, 0, 0]),
        Err(Errno::EFAULT),
        "access_ok()"
    );
    // readv/writev: segment by segment.
    let iov = w.scratch + 4 * P;
    let mut raw = Vec::new();
    for (b, l) in [(w.scratch + 2 * P, 3u64), (w.scratch + 3 * P, 5)] {
        raw.extend_from_slice(&b.to_le_bytes());
        raw.extend_from_slice(&l.to_le_bytes());
    }
    w.poke(1, iov, &raw);
    w.poke(1, src, b"abcdefgh");
    w.call(1, nr::SYS_lseek, [fd, src, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.call(1, nr::SYS_readv, [fd, iov, 2, 0, 0, 0]), Ok(8));
    assert_eq!(w.peek(1, w.scratch + 2 * P, 3), b"abc");
    assert_eq!(w.peek(1, w.scratch + 3 * P, 5), b"defgh");
    w.poke(1, w.scratch + 2 * P, b"XYZ");
    w.call(1, nr::SYS_lseek, [fd, src, 0, 0, 0, 0]).unwrap();
    assert_eq!(w.call(1, nr::SYS_writev, [fd, iov, 2, 0, 0, 0]), Ok(8));
    assert_eq!(w.peek(1, src, 8), b"XYZdefgh");
    assert_eq!(
        w.call(1, nr::SYS_ioctl, [fd, 0x5401, 0, 0, 0, 0]),
        Err(Errno::ENOTTY)
    );
    // Access modes.
    let ro = w.open(1, "/proc/self/mem", O_RDONLY).unwrap();
    assert_eq!(w.pwrite(1, ro, b"x", src), Err(Errno::EBADF));
    w.assert_clean();
}

#[test]
fn mem_descriptors_hold_the_address_space_of_open_time() {
    let mut w = World::new(GupGeneration::Modern);
    let page = w.mmap(1, RW, ANON, 1);
    w.poke(1, page, b"before");
    w.fork(1, 2);
    w.fork(1, 3);
    let m2 = w.open(1, "/proc/2/mem", O_RDWR).unwrap();
    let maps2 = w.open(1, "/proc/2/maps", O_RDONLY).unwrap();
    assert_eq!(w.pread(1, m2, 6, page).unwrap(), b"before");
    assert_eq!(w.pwrite(1, m2, b"remote", page), Ok(6));
    assert_eq!(w.peek(2, page, 6), b"remote");
    assert_eq!(w.peek(1, page, 6), b"before");
    // Task 3 execs: the descriptor keeps pointing at the old address space, now gone.
    let m3 = w.open(1, "/proc/3/mem", O_RDONLY).unwrap();
    let phys = Arc::clone(&w.phys);
    let mut fresh = Mm::new(phys, SatpMode::Sv39, AdScheme::Svadu, 9).unwrap();
    fresh
        .do_mmap(page, P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    fresh
        .do_mmap(w.scratch, 16 * P, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    w.p(3).mm = Some(crate::mm::MmUsers::new(fresh));
    assert_eq!(w.pread(1, m3, 6, page), Ok(Vec::new()), "old mm: 0 bytes");
    assert_eq!(w.pwrite(1, m3, b"x", page), Err(Errno::EBADF), "O_RDONLY");
    // Task 2 exits: reads give 0; a new open of mem is ESRCH, maps/pagemap open empty.
    w.exit(2);
    assert!(w.p(2).mm.is_none(), "exit_mm()");
    assert_eq!(w.pread(1, m2, 6, page), Ok(Vec::new()));
    assert_eq!(w.pwrite(1, m2, b"x", page), Ok(0));
    assert_eq!(w.open(1, "/proc/2/mem", O_RDONLY), Err(Errno::ESRCH));
    let zmaps = w.open(1, "/proc/2/maps", O_RDONLY).unwrap();
    assert_eq!(w.pread(1, zmaps, 100, 0), Ok(Vec::new()));
    assert_eq!(w.pread(1, maps2, 100, 0), Ok(Vec::new()));
    let zpm = w.open(1, "/proc/2/pagemap", O_RDONLY).unwrap();
    assert_eq!(w.pread(1, zpm, 8, page / P * 8), Ok(Vec::new()));
    // Reaped: the directory is gone; open descriptors stay harmless.
    w.reap(2);
    assert_eq!(w.open(1, "/proc/2/mem", O_RDONLY), Err(Errno::ENOENT));
    assert_eq!(w.pread(1, m2, 6, page), Ok(Vec::new()));
    // /proc/thread-self is the caller too.
    let ts = w.open(3, "/proc/thread-self/mem", O_RDONLY).unwrap();
    w.poke(3, page, b"three");
    assert_eq!(w.pread(3, ts, 5, page).unwrap(), b"three");
    w.assert_clean();
}

#[derive(Debug)]
struct FakeFile;

impl MappedFile for FakeFile {
    fn inode_id(&self) -> u64 {
        1234
    }
    fn path(&self) -> Vec<u8> {
        b"/tmp/data.bin".to_vec()
    }
    fn dev(&self) -> (u32, u32) {
        (0, 0x1a)
    }
}

#[test]
fn maps_lines_are_show_map_vma_byte_for_byte() {
    let mut w = World::new(GupGeneration::Modern);
    let anon = w.mmap(1, RW, ANON, 2);
    let shared = w.mmap(1, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, 1);
    let mut mm = w.mm(1);
    let vdso = mm.do_mmap(0, P, PROT_READ | 0x4, ANON, None, 0).unwrap();
    mm.name_special_mapping(vdso, P, "[vdso]").unwrap();
    mm.init_brk(0x40_0000);
    mm.brk(0x40_0000 + 3 * P);
    let stack_top = mm.setup_stack(8 * P).unwrap();
    let text = show_maps(&mm);
    let text = String::from_utf8(text).unwrap();
    let line = |start: u64| {
        text.lines()
            .find(|l| l.starts_with(&format!("{start:08x}-")))
            .unwrap_or_else(|| panic!("no line at {start:#x} in\n{text}"))
            .to_string()
    };
    // The anonymous mapping merged with the scratch area above it: one VMA, one line.
    let (lo, hi) = {
        let v = mm.vmas().vma_lookup(anon).unwrap();
        (v.start, v.end)
    };
    assert!(lo <= anon && anon + 2 * P <= hi);
    assert_eq!(
        line(lo),
        format!("{:08x}-{:08x} rw-p 00000000 00:00 0 ", lo, hi)
    );
    let pad = |prefix: String, name: &str| format!("{prefix:<72} {name}");
    assert_eq!(
        line(shared),
        pad(
            format!(
                "{:08x}-{:08x} r--s 00000000 00:01 {} ",
                shared,
                shared + P,
                mm.vmas()
                    .vma_lookup(shared)
                    .unwrap()
                    .file()
                    .unwrap()
                    .inode_id()
            ),
            "/dev/zero (deleted)"
        )
    );
    assert_eq!(
        line(vdso),
        pad(
            format!("{:08x}-{:08x} r-xp 00000000 00:00 0 ", vdso, vdso + P),
            "[vdso]"
        )
    );
    assert_eq!(
        line(0x40_0000),
        pad(
            format!(
                "{:08x}-{:08x} rw-p 00000000 00:00 0 ",
                0x40_0000,
                0x40_0000 + 3 * P
            ),
            "[heap]"
        )
    );
    let stack = line(stack_top - 8 * P);
    assert!(
        stack.ends_with(" [stack]") && stack.find("[stack]") == Some(73),
        "{stack}"
    );
    assert!(text.ends_with('\n'));
    // A file mapping shows its offset, device, inode and path; a user-named anonymous
    // mapping shows [anon:NAME].
    let mut out = Vec::new();
    let mut v = Vma::new_anon(0x1000_0000, 0x1000_2000, VmFlags::READ, None);
    v.backing = VmaBacking::File(Arc::new(FakeFile));
    v.pgoff = 3;
    show_map_vma(&mut out, &mm, &v);
    let mut named = Vma::new_anon(
        0x2000_0000,
        0x2000_1000,
        VmFlags::READ | VmFlags::WRITE,
        None,
    );
    named.name = Some("buffers".into());
    show_map_vma(&mut out, &mm, &named);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "{}\n{}\n",
            pad(
                "10000000-10002000 r--p 00003000 00:1a 1234 ".into(),
                "/tmp/data.bin"
            ),
            pad(
                "20000000-20001000 rw-p 00000000 00:00 0 ".into(),
                "[anon:buffers]"
            )
        )
    );
    drop(mm);
    // Read through the file in small pieces: the same text; writes are refused.
    let fd = w.open(1, "/proc/self/maps", O_RDWR).unwrap();
    let mut read = Vec::new();
    loop {
        let n = w
            .call(1, nr::SYS_read, [fd, w.scratch, 37, 0, 0, 0])
            .unwrap();
        if n == 0 {
            break;
        }
        read.extend(w.peek(1, w.scratch, n as usize));
    }
    assert_eq!(read, show_maps(&w.mm(1)));
    assert_eq!(w.pwrite(1, fd, b"x", 0), Err(Errno::EINVAL));
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, (-1i64) as u64, 0, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(w.call(1, nr::SYS_lseek, [fd, 10, 0, 0, 0, 0]), Ok(10));
    assert_eq!(w.call(1, nr::SYS_lseek, [fd, 5, 1, 0, 0, 0]), Ok(15));
    w.assert_clean();
}

/// `/proc/<pid>/maps` is a `seq_file` over the VMAs: a read costs one `find_vma()` plus
/// the lines it returns, not the whole table (before, every `read()` rendered every VMA:
/// 25 ms per 1-byte read with 60,000 VMAs). Counted in lines rendered, on 60,000 VMAs:
/// 1,000 one-byte reads render the ~20 lines they cover; reading on to the end renders
/// each line once more in all; the bytes are `show_maps()`'s.
#[test]
fn maps_reads_cost_the_lines_they_return_not_the_table() {
    use crate::fs::{FileCtx, FileOperations, Kiocb};
    const VMAS: u64 = 60_000;
    let mut w = World::new(GupGeneration::Modern);
    // Alternate protections so that neighbours never merge: one VMA per page.
    let base = 0x1_0000_0000u64;
    // (The count first: a guard made in the loop's range would live through the loop.)
    let have = w.mm(1).vmas().map_count() as u64;
    for i in 0..VMAS - have {
        let prot = if i % 2 == 0 { RW } else { PROT_READ };
        w.mm(1)
            .do_mmap(base + i * P, P, prot, ANON | MAP_FIXED, None, 0)
            .unwrap();
    }
    assert_eq!(w.mm(1).vmas().map_count() as u64, VMAS);
    let whole = show_maps(&w.mm(1));
    let fd = w.open(1, "/proc/self/maps", O_RDONLY).unwrap();
    let file = w.p(1).fs.fds.get(fd as u32).unwrap();
    let maps = ProcMapsFile::new(ProcBinding::new(ProcFile::Maps, ProcTask::Opener));
    let vfs = Arc::clone(&w.p(1).vfs);
    let buf = w.scratch;
    let mut tasks = Tasks::new(&mut w.procs);
    let mut ctx = FileCtx::with_tasks(&vfs, &mut tasks, 1);
    maps.open(&mut ctx).unwrap();
    let mut iocb = Kiocb { pos: 0, flags: 0 };
    let mut read = Vec::new();
    let mut byte = [0u8; 1];
    for _ in 0..1000 {
        assert_eq!(maps.read(&file, &mut ctx, &mut iocb, buf, 1), Ok(1));
        ctx.user().unwrap().copy_from_user(buf, &mut byte).unwrap();
        read.push(byte[0]);
    }
    let lines = whole[..1000].iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(
        maps.seq_file().records_shown(),
        lines + 1,
        "1,000 one-byte reads"
    );
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = maps.read(&file, &mut ctx, &mut iocb, buf, 4096).unwrap();
        if n == 0 {
            break;
        }
        ctx.user()
            .unwrap()
            .copy_from_user(buf, &mut chunk[..n])
            .unwrap();
        read.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(iocb.pos, whole.len() as u64);
    assert!(read == whole, "the same bytes as show_maps()");
    assert_eq!(maps.seq_file().records_shown(), VMAS);
}

/// `pagemap_pmd_range()`: every 4 KiB entry of a PMD-mapped THP gets its subpage's PFN,
/// and `PM_MMAP_EXCLUSIVE` from `page_mapcount()`, which counts the folio's PMD mappings:
/// exclusive while one process maps it, not while a fork shares the PMD.
#[test]
fn pagemap_shows_a_pmd_mapped_thp_exclusive_until_a_fork_shares_it() {
    let h = HPAGE_PMD_SIZE;
    let mut w = World::new(GupGeneration::Modern);
    let a = w
        .mm(1)
        .do_mmap(0x4000_0000, h, RW, ANON | MAP_FIXED, None, 0)
        .unwrap();
    w.mm(1).madvise(a, h, MADV_HUGEPAGE).unwrap();
    w.poke(1, a + P, b"x");
    assert_eq!(
        w.mm(1).page_table().follow_pte(a).unwrap().level,
        1,
        "mapped by a PMD"
    );
    let head = w.pagemap(1, a) & PM_PFRAME_MASK;
    let offsets = [0, P, h / 2, h - P];
    for off in offsets {
        let e = w.pagemap(1, a + off);
        assert_eq!(
            e & !PM_PFRAME_MASK,
            PM_PRESENT | PM_MMAP_EXCLUSIVE | PM_SOFT_DIRTY,
            "offset {off:#x}"
        );
        assert_eq!(e & PM_PFRAME_MASK, head + off / P, "offset {off:#x}");
    }
    w.fork(1, 2);
    for (pid, off) in [1, 2].into_iter().flat_map(|p| offsets.map(|o| (p, o))) {
        let e = w.pagemap(pid, a + off);
        assert_eq!(
            e & !PM_PFRAME_MASK,
            PM_PRESENT | PM_SOFT_DIRTY,
            "pid {pid} offset {off:#x}: shared"
        );
        assert_eq!(e & PM_PFRAME_MASK, head + off / P);
    }
    w.exit(2);
    for off in offsets {
        assert_ne!(w.pagemap(1, a + off) & PM_MMAP_EXCLUSIVE, 0, "{off:#x}");
    }
    w.reap(2);
    w.assert_clean();
}

#[test]
fn pagemap_entries_follow_pte_to_pagemap_entry() {
    let mut w = World::new(GupGeneration::Modern);
    let a = w.mmap(1, RW, ANON, 3);
    let shared = w.mmap(1, RW, MAP_SHARED | MAP_ANONYMOUS, 1);
    assert_eq!(
        w.pagemap(1, a),
        PM_SOFT_DIRTY,
        "untouched: a hole, soft-dirty as its new VMA (VM_SOFTDIRTY)"
    );
    assert_eq!(w.pagemap(1, 0x1000), 0, "no VMA");
    w.peek(1, a, 1);
    let zero = w.pagemap(1, a);
    assert_eq!(
        zero & !PM_PFRAME_MASK,
        PM_PRESENT | PM_SOFT_DIRTY,
        "zero page: present only (and the VMA's soft-dirty)"
    );
    assert_eq!(zero & PM_PFRAME_MASK, w.phys.pages.zero_pfn().0);
    w.poke(1, a + P, b"x");
    let own = w.pagemap(1, a + P);
    assert_eq!(
        own & !PM_PFRAME_MASK,
        PM_PRESENT | PM_MMAP_EXCLUSIVE | PM_SOFT_DIRTY
    );
    w.poke(1, shared, b"s");
    assert_eq!(
        w.pagemap(1, shared) & !PM_PFRAME_MASK,
        PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE | PM_SOFT_DIRTY,
        "shmem is not anonymous"
    );
    assert_eq!(w.pagemap(1, a) & PM_SWAP, 0);
    w.fork(1, 2);
    let (e1, e2) = (w.pagemap(1, a + P), w.pagemap(2, a + P));
    assert_eq!(e1, e2, "same page, mapped twice: not exclusive");
    assert_eq!(e1 & PM_MMAP_EXCLUSIVE, 0);
    // The child exits: its address space goes at exit, not at reaping.
    w.exit(2);
    assert_ne!(w.pagemap(1, a + P) & PM_MMAP_EXCLUSIVE, 0);
    w.reap(2);
    // Reads through the file: alignment, ranges, holes, the end of user space.
    let fd = w.open(1, "/proc/self/pagemap", O_RDONLY).unwrap();
    let at = a / P * 8;
    let three = w.pread(1, fd, 24, at).unwrap();
    let entries: Vec<u64> = three
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(entries, vec![zero, own, PM_SOFT_DIRTY]);
    assert_eq!(w.pread(1, fd, 8, at + 4), Err(Errno::EINVAL));
    assert_eq!(w.pread(1, fd, 12, at), Err(Errno::EINVAL));
    assert_eq!(w.pread(1, fd, 0, at), Ok(Vec::new()));
    let task_size = w.mm(1).task_size();
    let last = (task_size / P - 1) * 8;
    assert_eq!(
        w.pread(1, fd, 32, last).unwrap().len(),
        8,
        "stops at TASK_SIZE"
    );
    assert_eq!(w.pread(1, fd, 8, task_size / P * 8), Ok(Vec::new()));
    assert_eq!(
        w.pread(1, fd, 8, u64::MAX - 7),
        Err(Errno::EINVAL),
        "loff_t < 0"
    );
    // read() advances by what was copied; a faulting buffer copies nothing.
    let file = w.p(1).fs.fds.get(fd as u32).unwrap();
    w.call(1, nr::SYS_lseek, [fd, at, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        w.call(1, nr::SYS_read, [fd, w.scratch, 16, 0, 0, 0]),
        Ok(16)
    );
    assert_eq!(file.pos(), at + 16);
    let hole = w.mmap(1, RW, ANON, 1);
    w.mm(1).do_munmap(hole, P).unwrap();
    assert_eq!(
        w.call(1, nr::SYS_read, [fd, hole, 8, 0, 0, 0]),
        Err(Errno::EFAULT)
    );
    assert_eq!(file.pos(), at + 16);
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, 0, 2, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    w.assert_clean();
}

/// The six arguments of process_vm_{readv,writev} with one local and one remote iovec
/// per list, written at the scratch area.
fn pvm_args(w: &mut World, pid: i64, local: &[(u64, u64)], remote: &[(u64, u64)]) -> [u64; 6] {
    let (lv, rv) = (w.scratch + 8 * P, w.scratch + 9 * P);
    for (at, list) in [(lv, local), (rv, remote)] {
        let mut raw = Vec::new();
        for &(b, l) in list {
            raw.extend_from_slice(&b.to_le_bytes());
            raw.extend_from_slice(&l.to_le_bytes());
        }
        if !raw.is_empty() {
            w.poke(1, at, &raw);
        }
    }
    [
        pid as u64,
        lv,
        local.len() as u64,
        rv,
        remote.len() as u64,
        0,
    ]
}

fn pvm(w: &mut World, a: [u64; 6], write: bool) -> KResult<u64> {
    sys_process_vm_rw(&mut Tasks::new(&mut w.procs), 1, a, write)
}

#[test]
fn process_vm_rw_pins_copies_and_reports_like_linux() {
    let mut w = World::new(GupGeneration::Modern);
    let buf = w.mmap(1, RW, ANON, 2);
    let ro = w.mmap(1, RW, ANON, 1);
    let hole = w.mmap(1, RW, ANON, 1);
    w.mm(1).do_munmap(hole, P).unwrap();
    w.fork(1, 2);
    w.poke(2, buf + P - 4, b"remote!!");
    w.poke(2, ro, b"ro");
    w.mm(2).mprotect(ro, P, PROT_READ).unwrap();
    let local = w.scratch + 2 * P;
    // A read across the child's page boundary, scattered into two local pieces.
    let a = pvm_args(
        &mut w,
        2,
        &[(local, 3), (local + 100, 5)],
        &[(buf + P - 4, 8)],
    );
    assert_eq!(pvm(&mut w, a, false), Ok(8));
    assert_eq!(w.peek(1, local, 3), b"rem");
    assert_eq!(w.peek(1, local + 100, 5), b"ote!!");
    // A write into the child, gathered from two remote pieces.
    w.poke(1, local, b"ABCDEF");
    let a = pvm_args(&mut w, 2, &[(local, 6)], &[(buf, 2), (buf + P, 4)]);
    assert_eq!(pvm(&mut w, a, true), Ok(6));
    assert_eq!(w.peek(2, buf, 2), b"AB");
    assert_eq!(w.peek(2, buf + P, 4), b"CDEF");
    assert_eq!(
        w.peek(1, buf, 2),
        [0, 0],
        "the caller's own copy is untouched"
    );
    // Partial: the bytes before the first remote page that cannot be pinned.
    let a = pvm_args(&mut w, 2, &[(local, 16)], &[(buf, 8), (hole, 8)]);
    assert_eq!(pvm(&mut w, a, false), Ok(8));
    // Nothing moved: EFAULT (unmapped remote, read-only remote for writev, bad local).
    let a = pvm_args(&mut w, 2, &[(local, 8)], &[(hole, 8)]);
    assert_eq!(pvm(&mut w, a, false), Err(Errno::EFAULT));
    let a = pvm_args(&mut w, 2, &[(local, 2)], &[(ro, 2)]);
    assert_eq!(pvm(&mut w, a, true), Err(Errno::EFAULT), "no FOLL_FORCE");
    assert_eq!(pvm(&mut w, a, false), Ok(2), "but readable");
    let a = pvm_args(&mut w, 2, &[(hole, 8)], &[(buf, 8)]);
    assert_eq!(pvm(&mut w, a, false), Err(Errno::EFAULT));
    // Argument checks, in Linux's order.
    let mut a = pvm_args(&mut w, 2, &[(local, 8)], &[(buf, 8)]);
    a[5] = 1;
    assert_eq!(pvm(&mut w, a, false), Err(Errno::EINVAL), "flags");
    let a = pvm_args(&mut w, 99, &[(local, 8)], &[(buf, 8)]);
    assert_eq!(pvm(&mut w, a, false), Err(Errno::ESRCH));
    let a = pvm_args(&mut w, -1, &[(local, 8)], &[(buf, 8)]);
    assert_eq!(pvm(&mut w, a, false), Err(Errno::ESRCH));
    let a = pvm_args(&mut w, 99, &[(local, 0)], &[(buf, 8)]);
    assert_eq!(
        pvm(&mut w, a, false),
        Ok(0),
        "no local bytes: nothing is looked up"
    );
    let a = pvm_args(&mut w, 99, &[(local, 8)], &[(buf, 0)]);
    assert_eq!(pvm(&mut w, a, false), Ok(0), "no remote bytes: nor the pid");
    let mut a = pvm_args(&mut w, 2, &[(local, 8)], &[(buf, 8)]);
    a[2] = 1025;
    assert_eq!(pvm(&mut w, a, false), Err(Errno::EINVAL), "UIO_MAXIOV");
    let mut a = pvm_args(&mut w, 2, &[(local, 8)], &[(buf, 8)]);
    a[4] = 1025;
    assert_eq!(pvm(&mut w, a, false), Err(Errno::EINVAL));
    let a = pvm_args(&mut w, 2, &[(local, 8)], &[(buf, u64::MAX)]);
    assert_eq!(pvm(&mut w, a, false), Err(Errno::EINVAL), "negative length");
    // A zombie has no address space.
    w.exit(2);
    let a = pvm_args(&mut w, 2, &[(local, 8)], &[(buf, 8)]);
    assert_eq!(pvm(&mut w, a, false), Err(Errno::ESRCH));
    w.assert_clean();
}

#[test]
fn process_vm_readv_unshares_a_fork_shared_page_under_modern_rules_only() {
    for gen in GupGeneration::ALL {
        let mut w = World::new(gen);
        let page = w.mmap(1, RW, ANON, 1);
        w.poke(1, page, b"shared");
        w.fork(1, 2);
        let before = w.pagemap(2, page) & PM_PFRAME_MASK;
        let local = w.scratch + 2 * P;
        let a = pvm_args(&mut w, 2, &[(local, 6)], &[(page, 6)]);
        assert_eq!(pvm(&mut w, a, false), Ok(6));
        assert_eq!(w.peek(1, local, 6), b"shared");
        let after = w.pagemap(2, page) & PM_PFRAME_MASK;
        // gup_must_unshare(): a R/O FOLL_PIN of a non-exclusive anon page breaks COW first.
        assert_eq!(before != after, gen.has_unshare(), "{gen:?}");
        w.assert_clean();
    }
}

/// `vmsplice(fd, iov at scratch, n, flags)` for task `pid`.
fn vmsplice(
    w: &mut World,
    pid: u32,
    fd: u64,
    segs: &[(u64, u64)],
    flags: u32,
) -> crate::fs::IoResult<u64> {
    let iov = w.scratch + 10 * P;
    let mut raw = Vec::new();
    for &(b, l) in segs {
        raw.extend_from_slice(&b.to_le_bytes());
        raw.extend_from_slice(&l.to_le_bytes());
    }
    if !raw.is_empty() {
        w.poke(pid, iov, &raw);
    }
    let p = w.p(pid);
    let mm = p.mm.clone().unwrap();
    sys_vmsplice(&p.fs, &mm, fd, iov, segs.len() as u64, u64::from(flags))
}

fn pipe(w: &mut World, pid: u32) -> (u64, u64) {
    let at = w.scratch + 11 * P;
    let p = w.p(pid);
    let mm = p.mm.clone().unwrap();
    crate::syscall::fs::sys_pipe2(&mut p.fs, &p.vfs, &mut mm.uaccess(), at, 0).unwrap();
    let fds = w.peek(pid, at, 8);
    (
        u64::from(u32::from_le_bytes(fds[..4].try_into().unwrap())),
        u64::from(u32::from_le_bytes(fds[4..].try_into().unwrap())),
    )
}

fn read_pipe(w: &mut World, pid: u32, fd: u64, len: usize) -> Vec<u8> {
    let at = w.scratch + 12 * P;
    let p = w.p(pid);
    let mm = p.mm.clone().unwrap();
    let n = crate::syscall::fs::sys_read(&mut p.fs, &p.vfs, &mut mm.uaccess(), fd, at, len as u64)
        .unwrap();
    w.peek(pid, at, n as usize)
}

#[test]
fn vmsplice_references_pages_and_the_reader_sees_later_writes() {
    let mut w = World::new(GupGeneration::Modern);
    let (r, wr) = pipe(&mut w, 1);
    let page = w.mmap(1, RW, ANON, 2);
    w.poke(1, page, b"first");
    let pfn = w.pagemap(1, page) & PM_PFRAME_MASK;
    let rc = |w: &World| w.phys.pages.page(crate::mm::Pfn(pfn)).unwrap().refcount();
    assert_eq!(rc(&w), 1);
    assert_eq!(vmsplice(&mut w, 1, wr, &[(page, 5)], SPLICE_F_GIFT), Ok(5));
    assert_eq!(rc(&w), 2, "the pipe holds a FOLL_GET reference, not a copy");
    w.poke(1, page, b"later");
    assert_eq!(read_pipe(&mut w, 1, r, 64), b"later");
    assert_eq!(rc(&w), 1, "released when read");
    // Across a page boundary: one buffer per page piece.
    w.poke(1, page + P - 2, b"abcd");
    assert_eq!(vmsplice(&mut w, 1, wr, &[(page + P - 2, 4)], 0), Ok(4));
    assert_eq!(read_pipe(&mut w, 1, r, 64), b"abcd");
    // Sixteen buffers fill the pipe: a 17th piece is left out, then EAGAIN / WouldBlock.
    let one: Vec<(u64, u64)> = (0..17).map(|i| (page + i, 1)).collect();
    assert_eq!(vmsplice(&mut w, 1, wr, &one, 0), Ok(16));
    assert_eq!(rc(&w), 17);
    assert_eq!(
        vmsplice(&mut w, 1, wr, &one[..1], SPLICE_F_NONBLOCK),
        Err(IoError::Errno(Errno::EAGAIN))
    );
    assert!(matches!(
        vmsplice(&mut w, 1, wr, &one[..1], 0),
        Err(IoError::WouldBlock(WaitOn::PipeWritable(_)))
    ));
    // Out of the pipe (the read end): a copy into the segments.
    let out = w.scratch + 13 * P;
    assert_eq!(
        vmsplice(&mut w, 1, r, &[(out, 4), (out + 100, 4)], 0),
        Ok(8)
    );
    assert_eq!(w.peek(1, out, 4), b"late");
    assert_eq!(w.peek(1, out + 100, 4), b"r\0\0\0");
    assert_eq!(rc(&w), 9);
    // Errors.
    let hole = w.mmap(1, RW, ANON, 1);
    w.mm(1).do_munmap(hole, P).unwrap();
    assert_eq!(read_pipe(&mut w, 1, r, 64).len(), 8);
    assert_eq!(
        vmsplice(&mut w, 1, wr, &[(hole, 4)], 0),
        Err(Errno::EFAULT.into())
    );
    assert_eq!(
        vmsplice(&mut w, 1, wr, &[(page, 1)], 0x10),
        Err(Errno::EINVAL.into())
    );
    assert_eq!(
        vmsplice(&mut w, 1, 77, &[(page, 1)], 0),
        Err(Errno::EBADF.into())
    );
    let mem = w.open(1, "/proc/self/mem", O_RDWR).unwrap();
    assert_eq!(
        vmsplice(&mut w, 1, mem, &[(page, 1)], 0),
        Err(Errno::EBADF.into())
    );
    assert_eq!(vmsplice(&mut w, 1, wr, &[], 0), Ok(0));
    // Closing the pipe with spliced pages unread drops their references.
    assert_eq!(vmsplice(&mut w, 1, wr, &one[..5], 0), Ok(5));
    assert_eq!(rc(&w), 6);
    w.p(1).fs.fds.close(r as u32).unwrap();
    assert_eq!(
        vmsplice(&mut w, 1, wr, &one[..1], 0),
        Err(Errno::EPIPE.into())
    );
    w.p(1).fs.fds.close(wr as u32).unwrap();
    assert_eq!(rc(&w), 1);
    w.assert_clean();
}

/// CVE-2020-29374 at the kernel level: the child splices a page it shares with its
/// parent, drops its mapping, the parent writes. Only the modern refcount rule keeps the
/// parent's write out of the pipe.
#[test]
fn vmsplice_after_fork_leaks_the_parents_write_only_with_the_mapcount_rule() {
    for gen in GupGeneration::ALL {
        for child_exits in [false, true] {
            let mut w = World::new(gen);
            let (r, wr) = pipe(&mut w, 1);
            let page = w.mmap(1, RW, ANON, 1);
            w.poke(1, page, b"AAAA");
            w.fork(1, 2);
            assert_eq!(vmsplice(&mut w, 2, wr, &[(page, 4)], 0), Ok(4));
            if child_exits {
                w.exit(2);
            } else {
                w.mm(2).do_munmap(page, P).unwrap();
            }
            w.poke(1, page, b"BBBB");
            let got = read_pipe(&mut w, 1, r, 4);
            let leaked = gen != GupGeneration::Modern;
            assert_eq!(
                got,
                if leaked { b"BBBB" } else { b"AAAA" },
                "{gen:?}, child exits: {child_exits}"
            );
            w.assert_clean();
        }
    }
}

/// Garbage arguments never panic the host and never unbalance the page books: every
/// descriptor call on the three kernel-served files, `process_vm_{readv,writev}` and
/// `vmsplice`, with arguments that are often pointers into the scratch area, often
/// small, sometimes anything.
#[test]
fn garbage_arguments_get_errnos_not_panics() {
    let mut w = World::new(GupGeneration::Modern);
    let page = w.mmap(1, RW, ANON, 4);
    w.poke(1, page, b"data");
    w.fork(1, 2);
    let mem = w.open(1, "/proc/2/mem", O_RDWR).unwrap();
    let maps = w.open(1, "/proc/self/maps", O_RDONLY).unwrap();
    let pm = w.open(1, "/proc/self/pagemap", O_RDONLY).unwrap();
    let (r, wr) = pipe(&mut w, 1);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let scratch = w.scratch;
    let arg = |next: &mut dyn FnMut() -> u64| match next() % 4 {
        0 => scratch + next() % (8 * P),
        1 => page + next() % (4 * P),
        2 => next() % 40,
        _ => next(),
    };
    // Random iovec arrays in the scratch area.
    let junk: Vec<u8> = (0..P).map(|_| (next() % 7) as u8).collect();
    w.poke(1, scratch + 8 * P, &junk);
    let mut iov = Vec::new();
    for k in 0..64 {
        // Mostly mapped bases (the scratch area or the fork-shared pages), some not.
        let base = match k % 8 {
            7 => arg(&mut next),
            k if k % 2 == 0 => scratch + next() % (8 * P),
            _ => page + next() % (4 * P),
        };
        iov.extend_from_slice(&base.to_le_bytes());
        iov.extend_from_slice(&(next() % 9000).to_le_bytes());
    }
    w.poke(1, scratch + 9 * P, &iov);
    let calls = [
        nr::SYS_read,
        nr::SYS_write,
        nr::SYS_pread64,
        nr::SYS_pwrite64,
        nr::SYS_readv,
        nr::SYS_writev,
        nr::SYS_lseek,
        nr::SYS_ioctl,
    ];
    let mut ok = [0usize; 3];
    for i in 0..3000 {
        let mut a = [0u64; 6];
        for x in &mut a {
            *x = arg(&mut next);
        }
        if next() % 2 == 0 {
            a[1] = scratch + 9 * P + (next() % 64) * 16;
            a[2] = next() % 8;
        }
        match i % 5 {
            0..=2 => {
                a[0] = [mem, maps, pm][i % 3];
                let n = calls[(next() % calls.len() as u64) as usize];
                ok[0] += usize::from(w.call(1, n, a).is_ok_and(|v| v > 0));
            }
            3 => {
                a[0] = if next() % 4 == 0 { next() % 5 } else { 2 };
                a[3] = scratch + 9 * P + (next() % 64) * 16;
                a[4] = next() % 6;
                if next() % 3 != 0 {
                    a[5] = 0;
                }
                let r = sys_process_vm_rw(&mut Tasks::new(&mut w.procs), 1, a, next() % 2 == 0);
                ok[1] += usize::from(r.is_ok_and(|v| v > 0));
            }
            _ => {
                if next() % 4 == 0 {
                    let p = w.p(1);
                    let mm = p.mm.clone().unwrap();
                    let _ = crate::syscall::fs::sys_read(
                        &mut p.fs,
                        &p.vfs,
                        &mut mm.uaccess(),
                        r,
                        scratch + 4 * P,
                        next() % 9000,
                    );
                }
                let p = w.p(1);
                let fd = if next() % 4 == 0 { a[0] } else { wr };
                let mm = p.mm.clone().unwrap();
                let r = sys_vmsplice(&p.fs, &mm, fd, a[1], a[2], a[3] % 17);
                ok[2] += usize::from(r.is_ok_and(|v| v > 0));
            }
        }
    }
    // The garbage reached the real paths, not only the argument checks.
    assert!(ok.iter().all(|&n| n >= 5), "successful calls: {ok:?}");
    w.assert_clean();
}

#[test]
fn gup_test_is_served_by_the_same_dispatch_with_its_state_per_open() {
    use crate::mm::gup_test::{PIN_LONGTERM_TEST_START, PIN_LONGTERM_TEST_STOP};
    let mut w = World::new(GupGeneration::Modern);
    let a = w.mmap(1, RW, ANON, 2);
    w.poke(1, a, &[1u8; 2 * P as usize]);
    let fd = w.open(1, "/sys/kernel/debug/gup_test", O_RDWR).unwrap();
    // No read, write or llseek (nonseekable_open()).
    let buf = w.scratch;
    let iov = w.scratch + P;
    w.poke(1, iov, &[buf.to_le_bytes(), 8u64.to_le_bytes()].concat());
    for n in [nr::SYS_read, nr::SYS_write, nr::SYS_readv, nr::SYS_writev] {
        let a2 = if n == nr::SYS_readv || n == nr::SYS_writev {
            iov
        } else {
            buf
        };
        let a3 = if a2 == iov { 1 } else { 8 };
        assert_eq!(
            w.call(1, n, [fd, a2, a3, 0, 0, 0]),
            Err(Errno::EINVAL),
            "{n}"
        );
        // Without FMODE_CAN_READ/FMODE_CAN_WRITE, before the buffer is looked at.
        assert_eq!(
            w.call(1, n, [fd, 1 << 60, a3, 0, 0, 0]),
            Err(Errno::EINVAL),
            "{n} with a bad buffer"
        );
    }
    assert_eq!(
        w.call(1, nr::SYS_pread64, [fd, buf, 8, 0, 0, 0]),
        Err(Errno::ESPIPE)
    );
    assert_eq!(
        w.call(1, nr::SYS_pwrite64, [fd, buf, 8, u64::MAX, 0, 0]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, 0, 0, 0, 0, 0]),
        Err(Errno::ESPIPE)
    );
    assert_eq!(
        w.call(1, nr::SYS_lseek, [fd, 0, 5, 0, 0, 0]),
        Err(Errno::EINVAL)
    );
    let ro = w.open(1, "/sys/kernel/debug/gup_test", O_RDONLY).unwrap();
    assert_eq!(
        w.call(1, nr::SYS_write, [ro, buf, 8, 0, 0, 0]),
        Err(Errno::EBADF)
    );
    // The generic ioctls are not the file's: they stay with sys_ioctl.
    assert!(!kfile::serves(nr::SYS_ioctl, [fd, 0x5451, 0, 0, 0, 0]));
    assert!(kfile::serves(
        nr::SYS_ioctl,
        [fd, PIN_LONGTERM_TEST_STOP as u64, 0, 0, 0, 0]
    ));
    assert_eq!(
        w.call(1, nr::SYS_ioctl, [fd, 0xc050_6710, 0, 0, 0, 0]),
        Err(Errno::EINVAL),
        "unknown command"
    );
    // A long-term pin belongs to the open file description: a dup shares it, another
    // open has its own, and the last close unpins.
    let args = w.scratch + 2 * P;
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&a.to_le_bytes());
    b[8..16].copy_from_slice(&(2 * P).to_le_bytes());
    w.poke(1, args, &b);
    let start = PIN_LONGTERM_TEST_START as u64;
    assert_eq!(w.call(1, nr::SYS_ioctl, [fd, start, args, 0, 0, 0]), Ok(0));
    let dup = crate::syscall::fs::sys_dup(&mut w.p(1).fs, fd).unwrap();
    assert_eq!(
        w.call(1, nr::SYS_ioctl, [dup, start, args, 0, 0, 0]),
        Err(Errno::EINVAL),
        "the same description: one test"
    );
    assert_eq!(w.call(1, nr::SYS_ioctl, [ro, start, args, 0, 0, 0]), Ok(0));
    let pinned = |w: &mut World| {
        let pfn = w.pagemap(1, a) & PM_PFRAME_MASK;
        let page = w.phys.pages.page(crate::mm::Pfn(pfn)).unwrap();
        page.refcount()
    };
    let with_two_pins = pinned(&mut w);
    w.p(1).fs.fds.close(ro as u32).unwrap();
    let with_one_pin = pinned(&mut w);
    assert!(
        with_one_pin < with_two_pins,
        "close of the other open unpins"
    );
    w.p(1).fs.fds.close(fd as u32).unwrap();
    assert_eq!(
        pinned(&mut w),
        with_one_pin,
        "the dup still holds the description"
    );
    w.p(1).fs.fds.close(dup as u32).unwrap();
    assert_eq!(
        pinned(&mut w),
        1,
        "the last close is release: only the mapping's ref"
    );
    w.assert_clean();
}

/// The kernel-served files, `process_vm_*`, `vmsplice`, gup_test and `msync` take only
/// the read side of an `mmap_lock` (Linux: `m_start()`, `pagemap_read()`,
/// `access_remote_vm()` + `copy_to_user()`, `process_vm_rw_core()`,
/// `iov_iter_get_pages2()`, `__gup_test_ioctl()`, `ksys_msync()`): each runs to the end
/// while another thread holds the read side of the caller's address space (the target's
/// too: they are one here). A path that still took the write side would wait for that
/// reader, which gives up only after a timeout ([`beside_mmap_lock`]).
#[test]
fn kernel_served_files_gup_and_msync_run_beside_a_reader() {
    use crate::mm::gup_test::{GupTest, GUP_BASIC_TEST, GUP_FAST_BENCHMARK};
    use crate::mm::gup_test::{PIN_LONGTERM_TEST_START, PIN_LONGTERM_TEST_STOP};
    use crate::mm::mmap::MS_SYNC;
    use crate::mm::test_support::{beside_mmap_lock, MmapSide, BESIDE_TIMEOUT};
    let mut w = World::new(GupGeneration::Modern);
    let a = w.mmap(1, RW, ANON, 2);
    w.poke(1, a, b"payload");
    let users = w.p(1).mm.clone().unwrap();
    let beside = |f: &mut dyn FnMut() -> bool, what: &str| {
        let (ok, in_time) = beside_mmap_lock(&users, MmapSide::Read, BESIDE_TIMEOUT, f);
        assert!(ok, "{what} failed");
        assert!(
            in_time,
            "{what} waited for a reader: it took the write side"
        );
    };

    let maps = w.open(1, "/proc/1/maps", O_RDONLY).unwrap();
    let pagemap = w.open(1, "/proc/1/pagemap", O_RDONLY).unwrap();
    let mem = w.open(1, "/proc/1/mem", O_RDWR).unwrap();
    let buf = w.scratch;
    let w = std::cell::RefCell::new(w);
    beside(
        &mut || {
            let n = w
                .borrow_mut()
                .call(1, nr::SYS_pread64, [maps, buf, 4096, 0, 0, 0]);
            n.is_ok_and(|n| n > 0)
        },
        "a read of /proc/1/maps",
    );
    beside(
        &mut || {
            let pos = a / P * pagemap::PM_ENTRY_BYTES;
            let n = w
                .borrow_mut()
                .call(1, nr::SYS_pread64, [pagemap, buf, 8, pos, 0, 0]);
            n == Ok(8)
        },
        "a read of /proc/1/pagemap",
    );
    beside(
        &mut || {
            let r = w
                .borrow_mut()
                .call(1, nr::SYS_pread64, [mem, buf, 7, a, 0, 0]);
            let wr = w
                .borrow_mut()
                .call(1, nr::SYS_pwrite64, [mem, buf, 7, a + P, 0, 0]);
            r == Ok(7) && wr == Ok(7)
        },
        "a read and a write of /proc/1/mem",
    );
    assert_eq!(w.borrow_mut().peek(1, a + P, 7), b"payload");
    let args = pvm_args(&mut w.borrow_mut(), 1, &[(buf + 64, 7)], &[(a, 7)]);
    beside(
        &mut || pvm(&mut w.borrow_mut(), args, false) == Ok(7),
        "process_vm_readv",
    );
    let (r, wr) = pipe(&mut w.borrow_mut(), 1);
    let iov = w.borrow().scratch + 10 * P;
    w.borrow_mut()
        .poke(1, iov, &[a.to_le_bytes(), 7u64.to_le_bytes()].concat());
    beside(
        &mut || {
            let mut w = w.borrow_mut();
            let p = w.p(1);
            let mm = p.mm.clone().unwrap();
            sys_vmsplice(&p.fs, &mm, wr, iov, 1, 0) == Ok(7)
        },
        "vmsplice",
    );
    assert_eq!(read_pipe(&mut w.borrow_mut(), 1, r, 64), b"payload");

    let gup = w
        .borrow_mut()
        .open(1, "/sys/kernel/debug/gup_test", O_RDWR)
        .unwrap();
    let arg = buf + 2 * P;
    for cmd in [GUP_BASIC_TEST, GUP_FAST_BENCHMARK] {
        let t = GupTest {
            addr: a,
            size: 2 * P,
            nr_pages_per_call: 1,
            ..GupTest::default()
        };
        w.borrow_mut().poke(1, arg, &t.to_bytes());
        beside(
            &mut || {
                let call = [gup, u64::from(cmd), arg, 0, 0, 0];
                w.borrow_mut().call(1, nr::SYS_ioctl, call) == Ok(0)
            },
            &format!("gup_test ioctl {cmd:#x}"),
        );
    }
    let mut b = [0u8; 24];
    b[0..8].copy_from_slice(&a.to_le_bytes());
    b[8..16].copy_from_slice(&(2 * P).to_le_bytes());
    w.borrow_mut().poke(1, arg, &b);
    beside(
        &mut || {
            let call = [gup, u64::from(PIN_LONGTERM_TEST_START), arg, 0, 0, 0];
            w.borrow_mut().call(1, nr::SYS_ioctl, call) == Ok(0)
        },
        "PIN_LONGTERM_TEST_START (pin_user_pages())",
    );
    let stop = [gup, u64::from(PIN_LONGTERM_TEST_STOP), 0, 0, 0, 0];
    assert_eq!(w.borrow_mut().call(1, nr::SYS_ioctl, stop), Ok(0));
    beside(&mut || users.msync(a, 2 * P, MS_SYNC) == Ok(0), "msync");
    drop(users);
    w.into_inner().assert_clean();
}

/// `get_user_pages_fast()`/`pin_user_pages_fast()` on the caller's shared address space
/// take no `mmap_lock` at all when the lockless walk gets every page: they complete while
/// another thread holds the write side. A page the walk cannot take goes to the slow
/// path, which waits for the writer (the read side).
#[test]
fn gup_fast_of_a_shared_address_space_takes_no_mmap_lock() {
    use crate::mm::gup::{get_user_pages_fast, pin_user_pages_fast, unpin_user_pages};
    use crate::mm::test_support::{beside_mmap_lock, MmapSide, BESIDE_TIMEOUT};
    use crate::mm::FollFlags;
    let mut w = World::new(GupGeneration::Modern);
    let a = w.mmap(1, RW, ANON, 3);
    w.poke(1, a, &[7u8; 2 * P as usize]);
    let users = w.p(1).mm.clone().unwrap();
    let mm: &crate::mm::MmStruct = &users;
    let (got, in_time) = beside_mmap_lock(mm, MmapSide::Write, BESIDE_TIMEOUT, || {
        get_user_pages_fast(mm, a, 2, FollFlags::WRITE)
    });
    let got = got.unwrap();
    assert!(
        in_time,
        "GUP-fast of present pages waited for the mmap_lock writer"
    );
    assert_eq!(got.len(), 2);
    for pfn in got {
        w.phys.put_page(pfn);
    }
    let (pins, in_time) = beside_mmap_lock(mm, MmapSide::Write, BESIDE_TIMEOUT, || {
        pin_user_pages_fast(mm, a, 2, FollFlags::empty())
    });
    let pins = pins.unwrap();
    assert!(
        in_time,
        "PIN-fast of present pages waited for the mmap_lock writer"
    );
    unpin_user_pages(&w.phys, &pins);
    // The third page was never touched: the slow path faults it in, under the read side.
    let brief = std::time::Duration::from_millis(200);
    let (got, in_time) = beside_mmap_lock(mm, MmapSide::Write, brief, || {
        get_user_pages_fast(mm, a + 2 * P, 1, FollFlags::WRITE)
    });
    assert!(!in_time, "the slow path runs under the mmap_lock");
    for pfn in got.unwrap() {
        w.phys.put_page(pfn);
    }
    drop(users);
    w.assert_clean();
}

/// `/proc/<pid>/clear_refs`: 4 clears pagemap's bit 55 and write-protects, a kernel
/// write (a write fault) sets it again on the same page, a read does not; 1 clears A and
/// an access sets it again; fork and `mprotect` keep the bit; bad values are `EINVAL`.
#[test]
fn clear_refs_soft_dirty_and_young() {
    use crate::fs::O_WRONLY;
    use crate::mm::pgtable::{pte_soft_dirty, pte_write, pte_young};
    let mut w = World::new(GupGeneration::Modern);
    let a = w.mmap(1, RW, ANON, 3);
    w.poke(1, a, b"x");
    w.peek(1, a + P, 1);
    let fd = w.open(1, "/proc/self/clear_refs", O_WRONLY).unwrap();
    assert_eq!(w.pread(1, fd, 1, 0), Err(Errno::EBADF), "opened write-only");
    assert_eq!(w.pwrite(1, fd, b"4\n", 0), Ok(2));
    assert!(!w
        .mm(1)
        .vmas()
        .vma_lookup(a)
        .unwrap()
        .flags
        .contains(VmFlags::SOFTDIRTY));
    for off in [0, P, 2 * P] {
        assert_eq!(w.pagemap(1, a + off) & PM_SOFT_DIRTY, 0, "{off:#x}");
    }
    let pte = |w: &World, va| w.mm(1).page_table().follow_pte(va).unwrap().pte;
    assert!(
        !pte_write(pte(&w, a)),
        "write-protected for the next write to fault"
    );
    let pfn = w.pagemap(1, a) & PM_PFRAME_MASK;
    w.peek(1, a, 1);
    assert_eq!(w.pagemap(1, a) & PM_SOFT_DIRTY, 0, "a read does not set it");
    w.poke(1, a, b"y");
    let e = w.pagemap(1, a);
    assert_ne!(e & PM_SOFT_DIRTY, 0, "the write fault set it");
    assert_eq!(
        e & PM_PFRAME_MASK,
        pfn,
        "exclusive: reused (wp_page_reuse), not copied"
    );
    assert!(pte_write(pte(&w, a)) && pte_soft_dirty(pte(&w, a)));
    // mprotect keeps the bit; so does fork, in both.
    w.mm(1).mprotect(a, 3 * P, PROT_READ).unwrap();
    assert_ne!(w.pagemap(1, a) & PM_SOFT_DIRTY, 0);
    w.mm(1).mprotect(a, 3 * P, RW).unwrap();
    w.fork(1, 2);
    assert_ne!(
        w.pagemap(2, a) & PM_SOFT_DIRTY,
        0,
        "the child's copy of the PTE"
    );
    assert_ne!(w.pagemap(1, a) & PM_SOFT_DIRTY, 0);
    w.exit(2);
    w.reap(2);
    // 1: A cleared; the next access sets it again (the kernel's access walks).
    assert!(pte_young(pte(&w, a)));
    assert_eq!(w.pwrite(1, fd, b"1", 0), Ok(1));
    assert!(!pte_young(pte(&w, a)));
    w.peek(1, a, 1);
    assert!(pte_young(pte(&w, a)));
    // FOLL_FORCE through /proc/self/mem into a read-only exclusive page takes the write
    // fault while the VMA tracks soft-dirty (pte_needs_soft_dirty_wp()), which sets it.
    w.mm(1).mprotect(a, 3 * P, PROT_READ).unwrap();
    assert_eq!(w.pwrite(1, fd, b"4", 0), Ok(1));
    let mem = w.open(1, "/proc/self/mem", O_RDWR).unwrap();
    assert_eq!(w.pwrite(1, mem, b"z", a), Ok(1));
    assert_ne!(
        w.pagemap(1, a) & PM_SOFT_DIRTY,
        0,
        "the forced write faulted"
    );
    assert_eq!(w.pagemap(1, a) & PM_PFRAME_MASK, pfn, "on the same page");
    assert_eq!(w.peek(1, a, 1), b"z");
    w.call(1, nr::SYS_close, [mem, 0, 0, 0, 0, 0]).ok();
    for bad in [&b"0"[..], b"6", b"x", b""] {
        assert_eq!(w.pwrite(1, fd, bad, 0), Err(Errno::EINVAL), "{bad:?}");
    }
    assert_eq!(w.pwrite(1, fd, b"5", 0), Ok(1));
    assert_eq!(
        w.pwrite(1, fd, b"4                 ", 0),
        Ok(12),
        "at most PROC_NUMBUF - 1 bytes taken"
    );
    w.call(1, nr::SYS_close, [fd, 0, 0, 0, 0, 0]).ok();
    w.assert_clean();
}
