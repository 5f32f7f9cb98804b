//! Unit tests of the file system calls, run against [`MockUser`] memory. Each expected
//! errno is the one Linux returns for the same call (the man pages and the fs/ functions
//! named in `fs.rs`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::*;
use crate::fs::{
    CapturedOutput, Cred, HostStreams, Timespec, VfsConfig, WaitOn, O_APPEND, O_CREAT, O_DIRECTORY,
    O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR,
    SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::uaccess::MockUser;

const BASE: u64 = 0x10000;
const MEM: usize = 0x40000;
/// Scratch slots in the mock user memory.
const PATH_A: u64 = BASE;
const PATH_B: u64 = BASE + 0x1000;
const SMALL: u64 = BASE + 0x2000; // stat buffers, iovecs, ints
const BUF: u64 = BASE + 0x4000; // data
const BUF_LEN: usize = MEM - 0x4000;
const FDCWD: u64 = AT_FDCWD as i64 as u64;

struct Env {
    vfs: Vfs,
    p: ProcessFs,
    u: MockUser,
    out: CapturedOutput,
}

/// Guest RAM for the page cache every test's files go through.
fn guest_ram() -> Arc<crate::mm::PhysMem> {
    let ram = devices::GuestMemory::new(&[(devices::GuestPhysAddr(0x8000_0000), 8 << 20)])
        .expect("guest RAM");
    Arc::new(crate::mm::PhysMem::new(ram).expect("frames"))
}

fn env_with(mut config: VfsConfig, stdin: &[u8]) -> Env {
    if config.phys.is_none() {
        config.phys = Some(guest_ram());
    }
    let vfs = Vfs::new(config);
    let (streams, out) = HostStreams::capture(stdin.to_vec());
    let p = ProcessFs::new(&vfs, &Arc::new(streams));
    Env {
        vfs,
        p,
        u: MockUser {
            base: BASE,
            mem: vec![0; MEM],
        },
        out,
    }
}

fn env() -> Env {
    env_with(VfsConfig::default(), b"")
}

/// A clock that advances one second per reading.
fn ticking_clock() -> crate::fs::Clock {
    let t = Arc::new(AtomicI64::new(1000));
    Arc::new(move || Timespec {
        sec: t.fetch_add(1, Ordering::Relaxed),
        nsec: 0,
    })
}

#[derive(Debug)]
struct St {
    ino: u64,
    mode: u32,
    nlink: u32,
    size: u64,
    blocks: u64,
    rdev: u64,
    uid: u32,
    gid: u32,
    atime: i64,
    atime_nsec: u64,
    mtime: i64,
    mtime_nsec: u64,
    ctime: i64,
}

fn parse_stat(b: &[u8]) -> St {
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    St {
        ino: u64_at(8),
        mode: u32_at(16),
        nlink: u32_at(20),
        size: u64_at(48),
        blocks: u64_at(64),
        rdev: u64_at(32),
        uid: u32_at(24),
        gid: u32_at(28),
        atime: u64_at(72) as i64,
        atime_nsec: u64_at(80),
        mtime: u64_at(88) as i64,
        mtime_nsec: u64_at(96),
        ctime: u64_at(104) as i64,
    }
}

impl Env {
    fn put_str(&mut self, va: u64, s: &str) -> u64 {
        let off = (va - BASE) as usize;
        self.u.mem[off..off + s.len()].copy_from_slice(s.as_bytes());
        self.u.mem[off + s.len()] = 0;
        va
    }

    fn put(&mut self, va: u64, data: &[u8]) {
        let off = (va - BASE) as usize;
        self.u.mem[off..off + data.len()].copy_from_slice(data);
    }

    fn get(&self, va: u64, len: usize) -> Vec<u8> {
        let off = (va - BASE) as usize;
        self.u.mem[off..off + len].to_vec()
    }

    fn open(&mut self, path: &str, flags: u32, mode: u32) -> KResult<u64> {
        self.openat(FDCWD, path, flags, mode)
    }

    fn openat(&mut self, dirfd: u64, path: &str, flags: u32, mode: u32) -> KResult<u64> {
        let va = self.put_str(PATH_A, path);
        sys_openat(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            dirfd,
            va,
            flags.into(),
            mode.into(),
        )
    }

    fn write(&mut self, fd: u64, data: &[u8]) -> SysResult {
        self.put(BUF, data);
        sys_write(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            fd,
            BUF,
            data.len() as u64,
        )
    }

    fn read(&mut self, fd: u64, len: usize) -> IoResult<Vec<u8>> {
        let n = sys_read(&mut self.p, &self.vfs, &mut self.u, fd, BUF, len as u64)?;
        Ok(self.get(BUF, n as usize))
    }

    fn stat(&mut self, path: &str, flags: u32) -> KResult<St> {
        let va = self.put_str(PATH_A, path);
        sys_newfstatat(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            FDCWD,
            va,
            SMALL,
            flags.into(),
        )?;
        Ok(parse_stat(&self.get(SMALL, 128)))
    }

    fn fstat(&mut self, fd: u64) -> KResult<St> {
        sys_fstat(&mut self.p, &self.vfs, &mut self.u, fd, SMALL)?;
        Ok(parse_stat(&self.get(SMALL, 128)))
    }

    fn mkdir(&mut self, path: &str, mode: u32) -> KResult<u64> {
        let va = self.put_str(PATH_A, path);
        sys_mkdirat(&mut self.p, &self.vfs, &mut self.u, FDCWD, va, mode.into())
    }

    fn unlink(&mut self, path: &str, flags: u32) -> KResult<u64> {
        let va = self.put_str(PATH_A, path);
        sys_unlinkat(&mut self.p, &self.vfs, &mut self.u, FDCWD, va, flags.into())
    }

    fn rename(&mut self, old: &str, new: &str, flags: u32) -> KResult<u64> {
        let a = self.put_str(PATH_A, old);
        let b = self.put_str(PATH_B, new);
        sys_renameat2(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            FDCWD,
            a,
            FDCWD,
            b,
            flags.into(),
        )
    }

    fn link(&mut self, old: &str, new: &str, flags: u32) -> KResult<u64> {
        self.linkat(FDCWD, old, new, flags)
    }

    fn linkat(&mut self, olddirfd: u64, old: &str, new: &str, flags: u32) -> KResult<u64> {
        let a = self.put_str(PATH_A, old);
        let b = self.put_str(PATH_B, new);
        sys_linkat(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            olddirfd,
            a,
            FDCWD,
            b,
            flags.into(),
        )
    }

    fn symlink(&mut self, target: &str, path: &str) -> KResult<u64> {
        let a = self.put_str(PATH_A, target);
        let b = self.put_str(PATH_B, path);
        sys_symlinkat(&mut self.p, &self.vfs, &mut self.u, a, FDCWD, b)
    }

    fn readlink(&mut self, path: &str) -> Vec<u8> {
        let va = self.put_str(PATH_A, path);
        let n = sys_readlinkat(&mut self.p, &self.vfs, &mut self.u, FDCWD, va, BUF, 4096).unwrap();
        self.get(BUF, n as usize)
    }

    fn chmod(&mut self, path: &str, mode: u32, flags: u32) -> KResult<u64> {
        let va = self.put_str(PATH_A, path);
        sys_fchmodat2(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            FDCWD,
            va,
            mode.into(),
            flags.into(),
        )
    }

    fn chown(&mut self, path: &str, uid: u32, gid: u32, flags: u32) -> KResult<u64> {
        let va = self.put_str(PATH_A, path);
        sys_fchownat(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            FDCWD,
            va,
            uid.into(),
            gid.into(),
            flags.into(),
        )
    }

    /// `utimensat(AT_FDCWD, path, times, flags)`; `times` of `None` passes NULL.
    fn utimens(&mut self, path: &str, times: Option<[(i64, i64); 2]>, flags: u32) -> KResult<u64> {
        let va = self.put_str(PATH_A, path);
        let tva = self.put_times(times);
        sys_utimensat(
            &mut self.p,
            &self.vfs,
            &mut self.u,
            FDCWD,
            va,
            tva,
            flags.into(),
        )
    }

    /// Writes two `struct timespec` at `SMALL + 0x200` and returns the address, or 0.
    fn put_times(&mut self, times: Option<[(i64, i64); 2]>) -> u64 {
        let Some(t) = times else { return 0 };
        let mut b = Vec::new();
        for (sec, nsec) in t {
            b.extend_from_slice(&sec.to_le_bytes());
            b.extend_from_slice(&nsec.to_le_bytes());
        }
        self.put(SMALL + 0x200, &b);
        SMALL + 0x200
    }

    fn create(&mut self, path: &str, data: &[u8]) -> u64 {
        let fd = self.open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644).unwrap();
        assert_eq!(self.write(fd, data), Ok(data.len() as u64));
        sys_lseek(&mut self.p, fd, 0, SEEK_SET.into()).unwrap();
        fd
    }

    fn contents(&mut self, path: &str) -> Vec<u8> {
        let fd = self.open(path, O_RDONLY, 0).unwrap();
        let data = self.read(fd, BUF_LEN).unwrap();
        sys_close(&mut self.p, fd).unwrap();
        data
    }

    fn getdents_names(&mut self, fd: u64, count: u64) -> KResult<Vec<(String, u8)>> {
        let n = sys_getdents64(&mut self.p, &self.vfs, &mut self.u, fd, BUF, count)?;
        let b = self.get(BUF, n as usize);
        let mut out = Vec::new();
        let mut off = 0;
        while off < b.len() {
            let reclen = u16::from_le_bytes([b[off + 16], b[off + 17]]) as usize;
            let name_end = b[off + 19..off + reclen]
                .iter()
                .position(|&c| c == 0)
                .unwrap();
            out.push((
                String::from_utf8(b[off + 19..off + 19 + name_end].to_vec()).unwrap(),
                b[off + 18],
            ));
            off += reclen;
        }
        Ok(out)
    }

    fn pipe(&mut self, flags: u32) -> (u64, u64) {
        sys_pipe2(&mut self.p, &self.vfs, &mut self.u, SMALL, flags.into()).unwrap();
        let b = self.get(SMALL, 8);
        (
            u64::from(u32::from_le_bytes(b[0..4].try_into().unwrap())),
            u64::from(u32::from_le_bytes(b[4..8].try_into().unwrap())),
        )
    }
}

fn errno(e: Errno) -> IoError {
    IoError::Errno(e)
}

// ----- openat / close -----

#[test]
fn openat_creates_with_umask_and_cloexec() {
    let mut e = env();
    let fd = e.open("/f", O_CREAT | O_WRONLY | O_CLOEXEC, 0o777).unwrap();
    assert_eq!(fd, 3, "lowest free descriptor after 0, 1, 2");
    let st = e.stat("/f", 0).unwrap();
    assert_eq!(st.mode, S_IFREG | 0o755, "0777 & ~022");
    assert_eq!(st.nlink, 1);
    assert_eq!(sys_fcntl(&mut e.p, fd, F_GETFD.into(), 0), Ok(FD_CLOEXEC));
    assert_eq!(
        sys_fcntl(&mut e.p, fd, F_GETFL.into(), 0),
        Ok(u64::from(O_WRONLY | O_LARGEFILE))
    );
}

#[test]
fn openat_error_paths() {
    let mut e = env();
    e.create("/file", b"abc");
    e.mkdir("/dir", 0o755).unwrap();
    assert_eq!(e.open("/missing", O_RDONLY, 0), Err(Errno::ENOENT));
    assert_eq!(
        e.open("/file", O_CREAT | O_EXCL | O_RDWR, 0o644),
        Err(Errno::EEXIST)
    );
    assert_eq!(e.open("/file", O_DIRECTORY, 0), Err(Errno::ENOTDIR));
    assert_eq!(e.open("/file/", O_RDONLY, 0), Err(Errno::ENOTDIR));
    assert_eq!(e.open("/file/x", O_RDONLY, 0), Err(Errno::ENOTDIR));
    assert_eq!(e.open("/dir", O_WRONLY, 0), Err(Errno::EISDIR));
    assert_eq!(e.open("/dir", O_RDONLY | O_TRUNC, 0), Err(Errno::EISDIR));
    assert_eq!(
        e.open("/dir", O_CREAT | O_RDONLY, 0o644),
        Err(Errno::EISDIR)
    );
    assert_eq!(e.open("/new/", O_CREAT | O_RDWR, 0o644), Err(Errno::EISDIR));
    assert_eq!(
        e.open("/x", O_CREAT | O_DIRECTORY, 0o644),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        e.open("/x", crate::fs::O_TMPFILE | O_RDWR, 0o644),
        Err(Errno::ENOENT)
    );
    assert_eq!(e.open("", O_RDONLY, 0), Err(Errno::ENOENT));
    let long = format!("/{}", "a".repeat(256));
    assert_eq!(
        e.open(&long, O_CREAT | O_RDWR, 0o644),
        Err(Errno::ENAMETOOLONG)
    );
    assert_eq!(
        sys_openat(&mut e.p, &e.vfs, &mut e.u, FDCWD, 0x10, 0, 0),
        Err(Errno::EFAULT)
    );
    // A path of PATH_MAX bytes (no NUL within 4095 bytes).
    let va = e.put_str(BUF, &"/".repeat(5000));
    assert_eq!(
        sys_openat(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, 0, 0),
        Err(Errno::ENAMETOOLONG)
    );
    // Relative to a dirfd: must be a directory, and open.
    let file_fd = e.open("/file", O_RDONLY, 0).unwrap();
    assert_eq!(e.openat(file_fd, "x", O_RDONLY, 0), Err(Errno::ENOTDIR));
    assert_eq!(e.openat(77, "x", O_RDONLY, 0), Err(Errno::EBADF));
    // An absolute path ignores dirfd, even a bad one.
    assert!(e.openat(77, "/file", O_RDONLY, 0).is_ok());
    let dfd = e.open("/dir", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let inner = e.openat(dfd, "inner", O_CREAT | O_RDWR, 0o600).unwrap();
    assert!(inner > dfd);
    assert_eq!(e.stat("/dir/inner", 0).unwrap().mode, S_IFREG | 0o600);
}

#[test]
fn openat_symlinks() {
    let mut e = env();
    e.create("/target", b"T");
    e.vfs.symlink(b"/target", b"/link").unwrap();
    e.vfs.symlink(b"/nowhere/new", b"/dangling").unwrap();
    e.vfs.symlink(b"/created", b"/dangling2").unwrap();
    assert_eq!(e.open("/link", O_RDONLY | O_NOFOLLOW, 0), Err(Errno::ELOOP));
    assert_eq!(e.contents("/link"), b"T");
    // O_CREAT through a dangling link creates the target; O_EXCL refuses the link itself.
    assert_eq!(
        e.open("/dangling2", O_CREAT | O_EXCL | O_RDWR, 0o644),
        Err(Errno::EEXIST)
    );
    e.open("/dangling2", O_CREAT | O_RDWR, 0o644).unwrap();
    assert_eq!(e.stat("/created", 0).unwrap().mode & S_IFMT, S_IFREG);
    assert_eq!(
        e.open("/dangling", O_CREAT | O_RDWR, 0o644),
        Err(Errno::ENOENT)
    );
    // O_PATH|O_NOFOLLOW opens the link itself: fstat works, read does not.
    let fd = e.open("/link", O_PATH | O_NOFOLLOW, 0).unwrap();
    assert_eq!(e.fstat(fd).unwrap().mode & S_IFMT, S_IFLNK);
    assert_eq!(e.read(fd, 1), Err(errno(Errno::EBADF)));
}

#[test]
fn openat_truncates_and_emfile() {
    let mut e = env();
    e.create("/f", b"hello");
    let fd = e.open("/f", O_WRONLY | O_TRUNC, 0).unwrap();
    assert_eq!(e.fstat(fd).unwrap().size, 0);
    sys_close(&mut e.p, fd).unwrap();
    // Fill the table: 1024 descriptors.
    while e.open("/f", O_RDONLY, 0).is_ok() {}
    assert_eq!(e.p.fds.open_fds().len(), 1024);
    assert_eq!(e.open("/f", O_RDONLY, 0), Err(Errno::EMFILE));
    assert_eq!(e.open("/g", O_CREAT | O_RDWR, 0o644), Err(Errno::EMFILE));
    assert_eq!(
        e.stat("/g", 0).unwrap_err(),
        Errno::ENOENT,
        "nothing created on EMFILE"
    );
}

#[test]
fn close_paths() {
    let mut e = env();
    let fd = e.create("/f", b"");
    assert_eq!(sys_close(&mut e.p, fd), Ok(0));
    assert_eq!(sys_close(&mut e.p, fd), Err(Errno::EBADF));
    assert_eq!(sys_close(&mut e.p, u64::MAX), Err(Errno::EBADF));
}

// ----- read / write -----

#[test]
fn read_write_offsets_and_eof() {
    let mut e = env();
    let fd = e.create("/f", b"hello world");
    assert_eq!(e.read(fd, 5).unwrap(), b"hello");
    assert_eq!(e.read(fd, 100).unwrap(), b" world");
    assert_eq!(e.read(fd, 100).unwrap(), b"", "EOF");
    assert_eq!(e.write(fd, b"!"), Ok(1));
    assert_eq!(e.contents("/f"), b"hello world!");
    // O_APPEND writes at the end whatever the offset.
    let afd = e.open("/f", O_WRONLY | O_APPEND, 0).unwrap();
    assert_eq!(e.write(afd, b"??"), Ok(2));
    assert_eq!(e.contents("/f"), b"hello world!??");
    // Zero-length read and write.
    assert_eq!(e.read(fd, 0).unwrap(), b"");
    assert_eq!(e.write(fd, b""), Ok(0));
}

#[test]
fn read_write_error_paths() {
    let mut e = env();
    e.create("/f", b"data");
    let ro = e.open("/f", O_RDONLY, 0).unwrap();
    let wo = e.open("/f", O_WRONLY, 0).unwrap();
    assert_eq!(e.write(ro, b"x"), Err(errno(Errno::EBADF)));
    assert_eq!(e.read(wo, 1), Err(errno(Errno::EBADF)));
    assert_eq!(e.read(99, 1), Err(errno(Errno::EBADF)));
    let d = e.open("/", O_RDONLY | O_DIRECTORY, 0).unwrap();
    assert_eq!(e.read(d, 1), Err(errno(Errno::EISDIR)));
    assert_eq!(
        sys_read(&mut e.p, &e.vfs, &mut e.u, ro, 0x100, 4),
        Err(errno(Errno::EFAULT))
    );
    assert_eq!(
        sys_write(&mut e.p, &e.vfs, &mut e.u, wo, 0x100, 4),
        Err(errno(Errno::EFAULT))
    );
    assert_eq!(
        sys_read(&mut e.p, &e.vfs, &mut e.u, ro, BUF, u64::MAX),
        Err(errno(Errno::EFAULT)),
        "access_ok rejects a range that wraps"
    );
}

#[test]
fn read_stops_at_a_fault_with_a_short_count() {
    let mut e = env();
    let data = vec![9u8; 0x3000];
    let fd = e.create("/f", &data);
    // The user buffer's last 0x800 bytes are inside the mock memory, the rest is not.
    let end = BASE + MEM as u64;
    let n = sys_read(&mut e.p, &e.vfs, &mut e.u, fd, end - 0x800, 0x3000).unwrap();
    assert_eq!(n, 0x800);
    // The offset moved by what was copied only.
    assert_eq!(sys_lseek(&mut e.p, fd, 0, SEEK_CUR.into()), Ok(0x800));
}

#[test]
fn devices() {
    let mut e = env();
    let null = e.open("/dev/null", O_RDWR, 0).unwrap();
    assert_eq!(e.read(null, 10).unwrap(), b"");
    assert_eq!(e.write(null, b"gone"), Ok(4));
    let zero = e.open("/dev/zero", O_RDWR, 0).unwrap();
    e.put(BUF, &[0xff; 16]);
    assert_eq!(e.read(zero, 16).unwrap(), vec![0; 16]);
    let st = e.stat("/dev/zero", 0).unwrap();
    assert_eq!(st.mode, S_IFCHR | 0o666);
    assert_eq!(st.rdev, 0x105);
    let r = e.open("/dev/urandom", O_RDONLY, 0).unwrap();
    let a = e.read(r, 32).unwrap();
    // Same seed, same bytes; another seed, other bytes.
    let mut e2 = env();
    let r2 = e2.open("/dev/urandom", O_RDONLY, 0).unwrap();
    assert_eq!(e2.read(r2, 32).unwrap(), a);
    let mut e3 = env_with(
        VfsConfig {
            urandom_seed: 99,
            ..VfsConfig::default()
        },
        b"",
    );
    let r3 = e3.open("/dev/urandom", O_RDONLY, 0).unwrap();
    assert_ne!(e3.read(r3, 32).unwrap(), a);
    assert_eq!(
        sys_lseek(&mut e.p, null, 100, SEEK_SET.into()),
        Ok(0),
        "null_lseek"
    );
}

#[test]
fn host_stdio() {
    let mut e = env_with(VfsConfig::default(), b"input line\n");
    assert_eq!(e.write(1, b"to stdout\n"), Ok(10));
    assert_eq!(e.write(2, b"to stderr\n"), Ok(10));
    assert_eq!(e.out.stdout(), b"to stdout\n", "written through at once");
    assert_eq!(e.out.stderr(), b"to stderr\n");
    assert_eq!(e.read(0, 100).unwrap(), b"input line\n");
    assert_eq!(e.read(0, 100).unwrap(), b"", "host EOF");
    assert_eq!(e.read(1, 1), Err(errno(Errno::EBADF)));
    assert_eq!(e.write(0, b"x"), Err(errno(Errno::EBADF)));
    assert_eq!(
        sys_lseek(&mut e.p, 1, 0, SEEK_SET.into()),
        Err(Errno::ESPIPE)
    );
    assert_eq!(e.fstat(1).unwrap().mode, S_IFIFO | 0o600);
}

// ----- readv / writev -----

fn put_iov(e: &mut Env, iov: &[(u64, u64)]) {
    let mut raw = Vec::new();
    for &(b, l) in iov {
        raw.extend_from_slice(&b.to_le_bytes());
        raw.extend_from_slice(&l.to_le_bytes());
    }
    e.put(SMALL, &raw);
}

#[test]
fn readv_writev_scatter_gather() {
    let mut e = env();
    let fd = e.create("/f", b"");
    e.put(BUF, b"abc");
    e.put(BUF + 100, b"defgh");
    put_iov(&mut e, &[(BUF, 3), (BUF + 50, 0), (BUF + 100, 5)]);
    assert_eq!(sys_writev(&mut e.p, &e.vfs, &mut e.u, fd, SMALL, 3), Ok(8));
    assert_eq!(e.contents("/f"), b"abcdefgh");
    sys_lseek(&mut e.p, fd, 0, SEEK_SET.into()).unwrap();
    put_iov(&mut e, &[(BUF + 200, 2), (BUF + 300, 10)]);
    assert_eq!(sys_readv(&mut e.p, &e.vfs, &mut e.u, fd, SMALL, 2), Ok(8));
    assert_eq!(e.get(BUF + 200, 2), b"ab");
    assert_eq!(e.get(BUF + 300, 6), b"cdefgh");
    assert_eq!(sys_readv(&mut e.p, &e.vfs, &mut e.u, fd, SMALL, 0), Ok(0));
    // Errors.
    assert_eq!(
        sys_writev(&mut e.p, &e.vfs, &mut e.u, fd, SMALL, 1025),
        Err(errno(Errno::EINVAL))
    );
    put_iov(&mut e, &[(BUF, u64::MAX)]);
    assert_eq!(
        sys_readv(&mut e.p, &e.vfs, &mut e.u, fd, SMALL, 1),
        Err(errno(Errno::EINVAL)),
        "negative iov_len"
    );
    assert_eq!(
        sys_readv(&mut e.p, &e.vfs, &mut e.u, fd, 0x10, 1),
        Err(errno(Errno::EFAULT))
    );
    let ro = e.open("/f", O_RDONLY, 0).unwrap();
    assert_eq!(
        sys_writev(&mut e.p, &e.vfs, &mut e.u, ro, SMALL, 0),
        Err(errno(Errno::EBADF))
    );
}

// ----- pread / pwrite / lseek -----

#[test]
fn pread_pwrite_leave_the_offset() {
    let mut e = env();
    let fd = e.create("/f", b"0123456789");
    let n = sys_pread64(&mut e.p, &e.vfs, &mut e.u, fd, BUF, 3, 4).unwrap();
    assert_eq!((n, e.get(BUF, 3)), (3, b"456".to_vec()));
    e.put(BUF, b"XY");
    assert_eq!(
        sys_pwrite64(&mut e.p, &e.vfs, &mut e.u, fd, BUF, 2, 8),
        Ok(2)
    );
    assert_eq!(sys_lseek(&mut e.p, fd, 0, SEEK_CUR.into()), Ok(0));
    assert_eq!(e.contents("/f"), b"01234567XY");
    assert_eq!(
        sys_pread64(&mut e.p, &e.vfs, &mut e.u, fd, BUF, 1, -1i64 as u64),
        Err(Errno::EINVAL)
    );
    // Linux appends with O_APPEND even for pwrite.
    let afd = e.open("/f", O_WRONLY | O_APPEND, 0).unwrap();
    e.put(BUF, b"X");
    assert_eq!(
        sys_pwrite64(&mut e.p, &e.vfs, &mut e.u, afd, BUF, 1, 0),
        Ok(1)
    );
    assert_eq!(e.contents("/f"), b"01234567XYX");
    let (r, w) = e.pipe(0);
    assert_eq!(
        sys_pread64(&mut e.p, &e.vfs, &mut e.u, r, BUF, 1, 0),
        Err(Errno::ESPIPE)
    );
    assert_eq!(
        sys_pwrite64(&mut e.p, &e.vfs, &mut e.u, w, BUF, 1, 0),
        Err(Errno::ESPIPE)
    );
    assert_eq!(
        sys_pread64(&mut e.p, &e.vfs, &mut e.u, 99, BUF, 1, 0),
        Err(Errno::EBADF)
    );
}

#[test]
fn lseek_whences_and_holes() {
    let mut e = env();
    let fd = e.create("/f", b"abcdef");
    assert_eq!(sys_lseek(&mut e.p, fd, 2, SEEK_SET.into()), Ok(2));
    assert_eq!(sys_lseek(&mut e.p, fd, 1, SEEK_CUR.into()), Ok(3));
    assert_eq!(
        sys_lseek(&mut e.p, fd, -1i64 as u64, SEEK_END.into()),
        Ok(5)
    );
    assert_eq!(
        sys_lseek(&mut e.p, fd, -10i64 as u64, SEEK_CUR.into()),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys_lseek(&mut e.p, fd, 0, 5), Err(Errno::EINVAL));
    // Writing past the end leaves a hole that reads as zeros.
    assert_eq!(
        sys_lseek(&mut e.p, fd, 3 * 4096, SEEK_SET.into()),
        Ok(3 * 4096)
    );
    assert_eq!(e.write(fd, b"z"), Ok(1));
    let st = e.fstat(fd).unwrap();
    assert_eq!(st.size, 3 * 4096 + 1);
    assert_eq!(st.blocks, 2 * 8, "two pages allocated, 512-byte units");
    let n = sys_pread64(&mut e.p, &e.vfs, &mut e.u, fd, BUF, 4, 4096).unwrap();
    assert_eq!((n, e.get(BUF, 4)), (4, vec![0; 4]));
    assert_eq!(sys_lseek(&mut e.p, fd, 0, SEEK_HOLE.into()), Ok(4096));
    assert_eq!(
        sys_lseek(&mut e.p, fd, 4096, SEEK_DATA.into()),
        Ok(3 * 4096)
    );
    assert_eq!(
        sys_lseek(&mut e.p, fd, 3 * 4096 + 1, SEEK_DATA.into()),
        Err(Errno::ENXIO)
    );
    let (r, _w) = e.pipe(0);
    assert_eq!(
        sys_lseek(&mut e.p, r, 0, SEEK_SET.into()),
        Err(Errno::ESPIPE)
    );
    assert_eq!(
        sys_lseek(&mut e.p, 99, 0, SEEK_SET.into()),
        Err(Errno::EBADF)
    );
    let d = e.open("/", O_RDONLY, 0).unwrap();
    assert_eq!(
        sys_lseek(&mut e.p, d, 0, SEEK_END.into()),
        Err(Errno::EINVAL)
    );
}

// ----- stat family -----

#[test]
fn stat_family() {
    let mut e = env();
    e.create("/f", b"12345");
    e.vfs.symlink(b"/f", b"/l").unwrap();
    let f = e.stat("/f", 0).unwrap();
    assert_eq!((f.mode, f.size, f.nlink), (S_IFREG | 0o644, 5, 1));
    assert_eq!(e.stat("/l", 0).unwrap().ino, f.ino, "followed");
    let l = e.stat("/l", AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!((l.mode, l.size), (S_IFLNK | 0o777, 2));
    assert_eq!(e.stat("/", 0).unwrap().mode, S_IFDIR | 0o755);
    assert_eq!(e.stat("/f", 0x8000).unwrap_err(), Errno::EINVAL);
    assert_eq!(e.stat("", 0).unwrap_err(), Errno::ENOENT);
    // AT_EMPTY_PATH: the descriptor itself, or the cwd for AT_FDCWD.
    let fd = e.open("/f", O_RDONLY, 0).unwrap();
    e.put_str(PATH_A, "");
    sys_newfstatat(
        &mut e.p,
        &e.vfs,
        &mut e.u,
        fd,
        PATH_A,
        SMALL,
        AT_EMPTY_PATH.into(),
    )
    .unwrap();
    assert_eq!(parse_stat(&e.get(SMALL, 128)).ino, f.ino);
    assert_eq!(e.stat("", AT_EMPTY_PATH).unwrap().mode, S_IFDIR | 0o755);
    assert_eq!(
        sys_newfstatat(
            &mut e.p,
            &e.vfs,
            &mut e.u,
            99,
            PATH_A,
            SMALL,
            AT_EMPTY_PATH.into()
        ),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys_newfstatat(
            &mut e.p,
            &e.vfs,
            &mut e.u,
            FDCWD,
            PATH_A,
            0x10,
            AT_EMPTY_PATH.into()
        ),
        Err(Errno::EFAULT)
    );
    assert_eq!(e.fstat(99).unwrap_err(), Errno::EBADF);
}

#[test]
fn statx_paths() {
    let mut e = env();
    e.create("/f", b"123");
    let va = e.put_str(PATH_A, "/f");
    let buf = BUF;
    assert_eq!(
        sys_statx(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, 0, 0x7ff, buf),
        Ok(0)
    );
    let b = e.get(buf, 256);
    assert_eq!(
        u32::from_le_bytes(b[0..4].try_into().unwrap()) & 0x7ff,
        0x7ff
    );
    assert_eq!(u16::from_le_bytes([b[28], b[29]]), (S_IFREG | 0o644) as u16);
    assert_eq!(u64::from_le_bytes(b[40..48].try_into().unwrap()), 3);
    assert_eq!(
        u64::from_le_bytes(b[32..40].try_into().unwrap()),
        e.stat("/f", 0).unwrap().ino
    );
    let both_sync = u64::from(AT_STATX_SYNC_TYPE);
    assert_eq!(
        sys_statx(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, both_sync, 0x7ff, buf),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys_statx(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, 0, 0x8000_0000, buf),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys_statx(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, 0x1, 0x7ff, buf),
        Err(Errno::EINVAL)
    );
    // NULL path with AT_EMPTY_PATH (Linux 6.11+): the descriptor.
    assert_eq!(
        sys_statx(
            &mut e.p,
            &e.vfs,
            &mut e.u,
            1,
            0,
            AT_EMPTY_PATH.into(),
            0x7ff,
            buf
        ),
        Ok(0)
    );
    assert_eq!(
        u16::from_le_bytes([e.get(buf + 28, 1)[0], e.get(buf + 29, 1)[0]]),
        (S_IFIFO | 0o600) as u16
    );
}

// ----- unlink / rmdir / mkdir -----

#[test]
fn unlink_keeps_open_files_alive() {
    let mut e = env();
    let fd = e.create("/f", b"still here");
    assert_eq!(e.unlink("/f", 0), Ok(0));
    assert_eq!(e.stat("/f", 0).unwrap_err(), Errno::ENOENT);
    assert_eq!(e.read(fd, 100).unwrap(), b"still here");
    assert_eq!(e.fstat(fd).unwrap().nlink, 0);
    assert_eq!(e.unlink("/f", 0), Err(Errno::ENOENT));
}

#[test]
fn unlink_rmdir_error_paths() {
    let mut e = env();
    e.mkdir("/d", 0o755).unwrap();
    e.create("/d/f", b"");
    assert_eq!(e.unlink("/d", 0), Err(Errno::EISDIR));
    assert_eq!(e.unlink("/d/f/", 0), Err(Errno::ENOTDIR));
    assert_eq!(e.unlink("/d", AT_REMOVEDIR), Err(Errno::ENOTEMPTY));
    assert_eq!(e.unlink("/d/f", AT_REMOVEDIR), Err(Errno::ENOTDIR));
    assert_eq!(e.unlink("/d/.", AT_REMOVEDIR), Err(Errno::EINVAL));
    assert_eq!(e.unlink("/d/..", AT_REMOVEDIR), Err(Errno::ENOTEMPTY));
    assert_eq!(e.unlink("/", AT_REMOVEDIR), Err(Errno::EBUSY));
    assert_eq!(e.unlink("/d", 0x1), Err(Errno::EINVAL));
    assert_eq!(e.unlink("/nope", AT_REMOVEDIR), Err(Errno::ENOENT));
    assert_eq!(e.unlink("/d/f", 0), Ok(0));
    let root_links = e.stat("/", 0).unwrap().nlink;
    assert_eq!(e.unlink("/d/", AT_REMOVEDIR), Ok(0));
    assert_eq!(e.stat("/", 0).unwrap().nlink, root_links - 1);
}

#[test]
fn mkdir_paths() {
    let mut e = env();
    let root_links = e.stat("/", 0).unwrap().nlink;
    assert_eq!(e.mkdir("/d", 0o777), Ok(0));
    let d = e.stat("/d", 0).unwrap();
    assert_eq!((d.mode, d.nlink), (S_IFDIR | 0o755, 2));
    assert_eq!(e.stat("/", 0).unwrap().nlink, root_links + 1);
    assert_eq!(e.mkdir("/d", 0o755), Err(Errno::EEXIST));
    assert_eq!(e.mkdir("/d/", 0o755), Err(Errno::EEXIST));
    assert_eq!(e.mkdir("/", 0o755), Err(Errno::EEXIST));
    assert_eq!(e.mkdir("/d/..", 0o755), Err(Errno::EEXIST));
    assert_eq!(e.mkdir("/a/b", 0o755), Err(Errno::ENOENT));
    e.create("/f", b"");
    assert_eq!(e.mkdir("/f/x", 0o755), Err(Errno::ENOTDIR));
    assert_eq!(
        e.mkdir("/e/", 0o755),
        Ok(0),
        "a trailing slash is fine for mkdir"
    );
}

// ----- getdents64 -----

#[test]
fn getdents_lists_and_paginates() {
    let mut e = env();
    e.mkdir("/d", 0o755).unwrap();
    e.create("/d/a", b"");
    e.mkdir("/d/sub", 0o755).unwrap();
    e.vfs.symlink(b"a", b"/d/ln").unwrap();
    let fd = e.open("/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let all = e.getdents_names(fd, 4096).unwrap();
    assert_eq!(
        all,
        vec![
            (".".into(), 4),
            ("..".into(), 4),
            ("a".into(), 8),
            ("sub".into(), 4),
            ("ln".into(), 10)
        ]
    );
    assert_eq!(
        e.getdents_names(fd, 4096).unwrap(),
        vec![],
        "end of directory"
    );
    // Rewind and read one 24-byte record at a time.
    sys_lseek(&mut e.p, fd, 0, SEEK_SET.into()).unwrap();
    let mut names = Vec::new();
    loop {
        let got = e.getdents_names(fd, 24).unwrap();
        if got.is_empty() {
            break;
        }
        assert_eq!(got.len(), 1);
        names.push(got[0].0.clone());
    }
    assert_eq!(names, [".", "..", "a", "sub", "ln"]);
    // A buffer too small for any record.
    sys_lseek(&mut e.p, fd, 0, SEEK_SET.into()).unwrap();
    assert_eq!(e.getdents_names(fd, 10), Err(Errno::EINVAL));
    // Entries added mid-listing show up later; removed ones do not.
    sys_lseek(&mut e.p, fd, 0, SEEK_SET.into()).unwrap();
    assert_eq!(e.getdents_names(fd, 48).unwrap().len(), 2);
    e.unlink("/d/a", 0).unwrap();
    e.create("/d/late", b"");
    let rest: Vec<String> = e
        .getdents_names(fd, 4096)
        .unwrap()
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(rest, ["sub", "ln", "late"]);
    let f = e.open("/d/sub/../ln", O_RDONLY, 0).unwrap_err();
    assert_eq!(f, Errno::ENOENT, "ln points at the removed a");
    let file = e.create("/d/late", b"");
    assert_eq!(e.getdents_names(file, 4096), Err(Errno::ENOTDIR));
    assert_eq!(e.getdents_names(99, 4096), Err(Errno::EBADF));
    sys_lseek(&mut e.p, fd, 0, SEEK_SET.into()).unwrap();
    assert_eq!(
        sys_getdents64(&mut e.p, &e.vfs, &mut e.u, fd, 0x10, 4096),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        e.getdents_names(fd, 4096).unwrap().len(),
        5,
        "a failed copy does not advance"
    );
}

// ----- fcntl / dup / dup3 -----

#[test]
fn fcntl_commands() {
    let mut e = env();
    let fd = e.create("/f", b"abcdef");
    assert_eq!(sys_fcntl(&mut e.p, fd, F_DUPFD.into(), 10), Ok(10));
    assert_eq!(sys_fcntl(&mut e.p, fd, F_GETFD.into(), 0), Ok(0));
    assert_eq!(sys_fcntl(&mut e.p, fd, F_DUPFD_CLOEXEC.into(), 0), Ok(4));
    assert_eq!(sys_fcntl(&mut e.p, 4, F_GETFD.into(), 0), Ok(FD_CLOEXEC));
    assert_eq!(sys_fcntl(&mut e.p, 4, F_SETFD.into(), 0), Ok(0));
    assert_eq!(sys_fcntl(&mut e.p, 4, F_GETFD.into(), 0), Ok(0));
    // The offset is shared between duplicates.
    assert_eq!(e.read(10, 2).unwrap(), b"ab");
    assert_eq!(e.read(fd, 2).unwrap(), b"cd");
    // Status flags are shared too, and only the SETFL_MASK bits change.
    let fl = u64::from(O_APPEND | O_NONBLOCK | O_TRUNC | O_WRONLY);
    assert_eq!(sys_fcntl(&mut e.p, fd, F_SETFL.into(), fl), Ok(0));
    assert_eq!(
        sys_fcntl(&mut e.p, 10, F_GETFL.into(), 0),
        Ok(u64::from(O_RDWR | O_APPEND | O_NONBLOCK | O_LARGEFILE))
    );
    assert_eq!(sys_fcntl(&mut e.p, fd, 9999, 0), Err(Errno::EINVAL));
    assert_eq!(
        sys_fcntl(&mut e.p, fd, F_DUPFD.into(), 1024),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys_fcntl(&mut e.p, 99, F_GETFD.into(), 0),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys_fcntl(&mut e.p, fd, F_GETPIPE_SZ.into(), 0),
        Err(Errno::EBADF)
    );
    let (r, _w) = e.pipe(0);
    assert_eq!(sys_fcntl(&mut e.p, r, F_GETPIPE_SZ.into(), 0), Ok(65536));
    let pfd = e.open("/f", O_PATH, 0).unwrap();
    assert_eq!(
        sys_fcntl(&mut e.p, pfd, F_SETFL.into(), 0),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys_fcntl(&mut e.p, pfd, F_GETFL.into(), 0),
        Ok(u64::from(O_PATH | O_LARGEFILE))
    );
}

#[test]
fn dup_and_dup3() {
    let mut e = env();
    let fd = e.create("/f", b"xyz");
    assert_eq!(sys_dup(&mut e.p, fd), Ok(4));
    assert_eq!(sys_dup(&mut e.p, 99), Err(Errno::EBADF));
    assert_eq!(sys_dup3(&mut e.p, fd, 1, u64::from(O_CLOEXEC)), Ok(1));
    assert_eq!(sys_fcntl(&mut e.p, 1, F_GETFD.into(), 0), Ok(FD_CLOEXEC));
    assert_eq!(e.read(1, 3).unwrap(), b"xyz", "fd 1 now refers to /f");
    assert_eq!(e.out.stdout(), b"");
    assert_eq!(sys_dup3(&mut e.p, fd, fd, 0), Err(Errno::EINVAL));
    assert_eq!(sys_dup3(&mut e.p, fd, 5, 1), Err(Errno::EINVAL));
    assert_eq!(sys_dup3(&mut e.p, fd, 1024, 0), Err(Errno::EBADF));
    assert_eq!(sys_dup3(&mut e.p, 99, 5, 0), Err(Errno::EBADF));
    assert_eq!(sys_dup3(&mut e.p, fd, 700, 0), Ok(700));
    assert_eq!(sys_dup(&mut e.p, fd), Ok(5), "still the lowest free");
}

// ----- pipes -----

#[test]
fn pipe_round_trip_eof_and_epipe() {
    let mut e = env();
    let (r, w) = e.pipe(0);
    assert_eq!((r, w), (3, 4));
    assert_eq!(e.fstat(r).unwrap().mode, S_IFIFO | 0o600);
    assert_eq!(e.write(w, b"ping"), Ok(4));
    put_iov(&mut e, &[(BUF, 4)]);
    // FIONREAD.
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, r, FIONREAD.into(), SMALL + 64),
        Ok(0)
    );
    assert_eq!(e.get(SMALL + 64, 4), 4i32.to_le_bytes());
    assert_eq!(e.read(r, 10).unwrap(), b"ping");
    // Empty pipe with a writer: would block; with O_NONBLOCK: EAGAIN.
    assert_eq!(
        e.read(r, 10),
        Err(IoError::WouldBlock(WaitOn::PipeReadable(
            e.fstat(r).unwrap().ino
        )))
    );
    sys_fcntl(&mut e.p, r, F_SETFL.into(), O_NONBLOCK.into()).unwrap();
    assert_eq!(e.read(r, 10), Err(errno(Errno::EAGAIN)));
    // A dup keeps the write end open; closing both gives EOF.
    let w2 = sys_dup(&mut e.p, w).unwrap();
    sys_close(&mut e.p, w).unwrap();
    assert_eq!(e.read(r, 10), Err(errno(Errno::EAGAIN)));
    sys_close(&mut e.p, w2).unwrap();
    assert_eq!(e.read(r, 10).unwrap(), b"");
    // No readers: EPIPE.
    let (r, w) = e.pipe(0);
    sys_close(&mut e.p, r).unwrap();
    assert_eq!(e.write(w, b"x"), Err(errno(Errno::EPIPE)));
}

#[test]
fn pipe_capacity_atomicity_and_flags() {
    let mut e = env();
    let (r, w) = e.pipe(O_NONBLOCK | O_CLOEXEC);
    assert_eq!(sys_fcntl(&mut e.p, r, F_GETFD.into(), 0), Ok(FD_CLOEXEC));
    assert_eq!(
        sys_fcntl(&mut e.p, w, F_GETFL.into(), 0),
        Ok(u64::from(O_WRONLY | O_NONBLOCK))
    );
    let big = vec![1u8; 0x20000];
    // Non-blocking large write: takes the 64 KiB that fit.
    assert_eq!(e.write(w, &big), Ok(65536));
    assert_eq!(e.write(w, b"x"), Err(errno(Errno::EAGAIN)));
    // Capacity is 16 page buffers (Linux's pipe ring): a partly read buffer keeps its
    // slot, so after reading 100 bytes the pipe is still full.
    assert_eq!(e.read(r, 100).unwrap().len(), 100);
    put_iov(&mut e, &[(BUF, 60), (BUF + 1000, 40)]);
    assert_eq!(
        sys_writev(&mut e.p, &e.vfs, &mut e.u, w, SMALL, 2),
        Err(errno(Errno::EAGAIN))
    );
    assert_eq!(e.read(r, 4096 - 100).unwrap().len(), 4096 - 100);
    // One slot free: a 200-byte (<= PIPE_BUF) writev goes in whole, 3800 more merge
    // into its page, and then a 100-byte one is all or nothing: nothing.
    put_iov(&mut e, &[(BUF, 100), (BUF + 1000, 100)]);
    assert_eq!(sys_writev(&mut e.p, &e.vfs, &mut e.u, w, SMALL, 2), Ok(200));
    put_iov(&mut e, &[(BUF, 3800)]);
    assert_eq!(
        sys_writev(&mut e.p, &e.vfs, &mut e.u, w, SMALL, 1),
        Ok(3800)
    );
    put_iov(&mut e, &[(BUF, 60), (BUF + 1000, 40)]);
    assert_eq!(
        sys_writev(&mut e.p, &e.vfs, &mut e.u, w, SMALL, 2),
        Err(errno(Errno::EAGAIN))
    );
    put_iov(&mut e, &[(BUF, 60), (BUF + 1000, 36)]);
    assert_eq!(sys_writev(&mut e.p, &e.vfs, &mut e.u, w, SMALL, 2), Ok(96));
    // Blocking descriptors report WouldBlock instead.
    sys_fcntl(&mut e.p, w, F_SETFL.into(), 0).unwrap();
    let id = e.fstat(w).unwrap().ino;
    assert_eq!(
        e.write(w, b"y"),
        Err(IoError::WouldBlock(WaitOn::PipeWritable(id)))
    );
    // Errors.
    assert_eq!(
        sys_pipe2(&mut e.p, &e.vfs, &mut e.u, SMALL, u64::from(O_EXCL)),
        Err(Errno::EINVAL)
    );
    let before = e.p.fds.open_fds();
    assert_eq!(
        sys_pipe2(&mut e.p, &e.vfs, &mut e.u, 0x10, 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(e.p.fds.open_fds(), before, "no descriptor left behind");
}

// ----- faccessat / readlinkat / getcwd / chdir -----

#[test]
fn faccessat_paths() {
    let mut e = env();
    e.create("/rw", b"");
    e.vfs.write_file(b"/exe", b"", 0o755).unwrap();
    e.vfs.symlink(b"/nothing", b"/dangling").unwrap();
    let acc = |e: &mut Env, path: &str, mode: u64, flags: u64| {
        let va = e.put_str(PATH_A, path);
        sys_faccessat2(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, mode, flags)
    };
    assert_eq!(acc(&mut e, "/rw", 0, 0), Ok(0));
    assert_eq!(
        acc(&mut e, "/rw", 6, 0),
        Ok(0),
        "root reads and writes anything"
    );
    assert_eq!(
        acc(&mut e, "/rw", 1, 0),
        Err(Errno::EACCES),
        "no x bit at all"
    );
    assert_eq!(acc(&mut e, "/exe", 1, 0), Ok(0));
    assert_eq!(acc(&mut e, "/", 1, 0), Ok(0));
    assert_eq!(acc(&mut e, "/nope", 0, 0), Err(Errno::ENOENT));
    assert_eq!(acc(&mut e, "/dangling", 0, 0), Err(Errno::ENOENT));
    assert_eq!(
        acc(&mut e, "/dangling", 0, AT_SYMLINK_NOFOLLOW.into()),
        Ok(0)
    );
    assert_eq!(acc(&mut e, "/rw", 8, 0), Err(Errno::EINVAL));
    assert_eq!(acc(&mut e, "/rw", 0, 0x4), Err(Errno::EINVAL));
    let va = e.put_str(PATH_A, "/exe");
    assert_eq!(
        sys_faccessat(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, 1),
        Ok(0)
    );
}

#[test]
fn readlinkat_paths() {
    let mut e = env();
    e.create("/f", b"");
    e.vfs.symlink(b"/some/where", b"/l").unwrap();
    let rl = |e: &mut Env, path: &str, size: u64| {
        let va = e.put_str(PATH_A, path);
        sys_readlinkat(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, BUF, size)
            .map(|n| e.get(BUF, n as usize))
    };
    assert_eq!(rl(&mut e, "/l", 100).unwrap(), b"/some/where");
    assert_eq!(rl(&mut e, "/l", 5).unwrap(), b"/some", "truncated, no NUL");
    assert_eq!(rl(&mut e, "/f", 100), Err(Errno::EINVAL));
    assert_eq!(rl(&mut e, "/l", 0), Err(Errno::EINVAL));
    assert_eq!(rl(&mut e, "/none", 10), Err(Errno::ENOENT));
    e.p.exe_path = b"/bin/true".to_vec();
    assert_eq!(rl(&mut e, "/proc/self/exe", 100).unwrap(), b"/bin/true");
    assert_eq!(rl(&mut e, "", 100), Err(Errno::ENOENT));
}

#[test]
fn getcwd_and_chdir() {
    let mut e = env();
    let cwd = |e: &mut Env, size: u64| {
        sys_getcwd(&mut e.p, &e.vfs, &mut e.u, BUF, size).map(|n| e.get(BUF, n as usize))
    };
    assert_eq!(cwd(&mut e, 100).unwrap(), b"/\0");
    e.vfs.create_dir_all(b"/a/b", 0o755).unwrap();
    let va = e.put_str(PATH_A, "/a/b");
    assert_eq!(sys_chdir(&mut e.p, &e.vfs, &mut e.u, va), Ok(0));
    assert_eq!(cwd(&mut e, 100).unwrap(), b"/a/b\0");
    assert_eq!(cwd(&mut e, 5).unwrap(), b"/a/b\0", "exactly enough");
    assert_eq!(cwd(&mut e, 4), Err(Errno::ERANGE));
    assert_eq!(cwd(&mut e, 0), Err(Errno::ERANGE));
    // Relative paths now start at /a/b.
    e.create("rel", b"r");
    assert_eq!(e.contents("/a/b/rel"), b"r");
    let va = e.put_str(PATH_A, "..");
    sys_chdir(&mut e.p, &e.vfs, &mut e.u, va).unwrap();
    assert_eq!(cwd(&mut e, 100).unwrap(), b"/a\0");
    let va = e.put_str(PATH_A, "b/rel");
    assert_eq!(
        sys_chdir(&mut e.p, &e.vfs, &mut e.u, va),
        Err(Errno::ENOTDIR)
    );
    let va = e.put_str(PATH_A, "zz");
    assert_eq!(
        sys_chdir(&mut e.p, &e.vfs, &mut e.u, va),
        Err(Errno::ENOENT)
    );
    // A removed cwd.
    e.unlink("/a/b/rel", 0).unwrap();
    let va = e.put_str(PATH_A, "b");
    sys_chdir(&mut e.p, &e.vfs, &mut e.u, va).unwrap();
    e.unlink("/a/b", AT_REMOVEDIR).unwrap();
    assert_eq!(cwd(&mut e, 100), Err(Errno::ENOENT));
    assert_eq!(e.open("new", O_CREAT | O_RDWR, 0o644), Err(Errno::ENOENT));
}

// ----- ftruncate / rename -----

#[test]
fn ftruncate_paths() {
    let mut e = env();
    let fd = e.create("/f", b"abcdef");
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, fd, 3), Ok(0));
    assert_eq!(e.contents("/f"), b"abc");
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, fd, 6), Ok(0));
    assert_eq!(
        e.contents("/f"),
        b"abc\0\0\0",
        "regrown bytes read as zeros"
    );
    assert_eq!(
        sys_ftruncate(&mut e.p, &e.vfs, fd, -1i64 as u64),
        Err(Errno::EINVAL)
    );
    let ro = e.open("/f", O_RDONLY, 0).unwrap();
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, ro, 0), Err(Errno::EINVAL));
    let d = e.open("/", O_RDONLY, 0).unwrap();
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, d, 0), Err(Errno::EINVAL));
    let (_r, w) = e.pipe(0);
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, w, 0), Err(Errno::EINVAL));
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, 99, 0), Err(Errno::EBADF));
    // Huge sizes are sparse: no space used.
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, fd, 1 << 40), Ok(0));
    assert_eq!(e.fstat(fd).unwrap().size, 1 << 40);
    assert_eq!(e.vfs.used_bytes(), 4096);
}

#[test]
fn rename_files_and_directories() {
    let mut e = env();
    e.create("/a", b"A");
    e.create("/b", b"B");
    let b_ino = e.stat("/b", 0).unwrap().ino;
    let bfd = e.open("/b", O_RDONLY, 0).unwrap();
    assert_eq!(e.rename("/a", "/b", 0), Ok(0));
    assert_eq!(e.contents("/b"), b"A");
    assert_eq!(e.stat("/a", 0).unwrap_err(), Errno::ENOENT);
    assert_eq!(
        e.fstat(bfd).unwrap().nlink,
        0,
        "the replaced file is unlinked"
    );
    assert_ne!(e.stat("/b", 0).unwrap().ino, b_ino);
    assert_eq!(e.rename("/b", "/b", 0), Ok(0), "same file: nothing happens");
    // Directories.
    e.vfs.create_dir_all(b"/d1/sub", 0o755).unwrap();
    e.vfs.create_dir_all(b"/d2", 0o755).unwrap();
    e.vfs.create_dir_all(b"/full/x", 0o755).unwrap();
    assert_eq!(e.rename("/d1", "/d1/sub/inside", 0), Err(Errno::EINVAL));
    assert_eq!(e.rename("/d1", "/b", 0), Err(Errno::ENOTDIR));
    assert_eq!(e.rename("/b", "/d2", 0), Err(Errno::EISDIR));
    assert_eq!(e.rename("/d1", "/full", 0), Err(Errno::ENOTEMPTY));
    // do_renameat2 checks a trailing slash on a non-directory before vfs_rename.
    assert_eq!(e.rename("/b", "/d2/", 0), Err(Errno::ENOTDIR));
    assert_eq!(e.rename("/b/", "/c", 0), Err(Errno::ENOTDIR));
    assert_eq!(e.rename("/d1/.", "/z", 0), Err(Errno::EBUSY));
    assert_eq!(e.rename("/nope", "/z", 0), Err(Errno::ENOENT));
    assert_eq!(e.rename("/b", "/d2/b", RENAME_NOREPLACE), Ok(0));
    e.create("/b", b"again");
    assert_eq!(
        e.rename("/b", "/d2/b", RENAME_NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        e.rename("/b", "/c", 2),
        Err(Errno::EINVAL),
        "RENAME_EXCHANGE"
    );
    // Moving a directory fixes link counts, `..` and paths.
    let va = e.put_str(PATH_A, "/d1/sub");
    sys_chdir(&mut e.p, &e.vfs, &mut e.u, va).unwrap();
    let (d1, d2) = (
        e.stat("/d1", 0).unwrap().nlink,
        e.stat("/d2", 0).unwrap().nlink,
    );
    assert_eq!(e.rename("/d1/sub", "/d2/moved", 0), Ok(0));
    assert_eq!(e.stat("/d1", 0).unwrap().nlink, d1 - 1);
    assert_eq!(e.stat("/d2", 0).unwrap().nlink, d2 + 1);
    let n = sys_getcwd(&mut e.p, &e.vfs, &mut e.u, BUF, 100).unwrap();
    assert_eq!(e.get(BUF, n as usize), b"/d2/moved\0");
    assert_eq!(e.stat("..", 0).unwrap().ino, e.stat("/d2", 0).unwrap().ino);
    // Replacing an empty directory.
    e.vfs.create_dir_all(b"/empty", 0o755).unwrap();
    assert_eq!(e.rename("/d2/moved", "/empty", 0), Ok(0));
    assert!(e.stat("/empty", 0).unwrap().mode & S_IFDIR != 0);
}

// ----- links -----

#[test]
fn linkat_counts_links() {
    let mut e = env_with(
        VfsConfig {
            clock: ticking_clock(),
            ..VfsConfig::default()
        },
        b"",
    );
    e.create("/a", b"A");
    let before = e.stat("/a", 0).unwrap();
    let root_mtime = e.stat("/", 0).unwrap().mtime;
    assert_eq!(e.link("/a", "/b", 0), Ok(0));
    let (a, b) = (e.stat("/a", 0).unwrap(), e.stat("/b", 0).unwrap());
    assert_eq!((a.ino, a.nlink), (b.ino, 2));
    assert!(a.ctime > before.ctime, "shmem_link sets the inode's ctime");
    assert_eq!(a.mtime, before.mtime, "but not its mtime");
    assert!(e.stat("/", 0).unwrap().mtime > root_mtime);
    assert_eq!(e.contents("/b"), b"A");
    // Both names are the same file; unlinking one leaves the other.
    let fd = e.open("/b", O_RDWR, 0).unwrap();
    assert_eq!(e.unlink("/a", 0), Ok(0));
    assert_eq!(e.stat("/b", 0).unwrap().nlink, 1);
    assert_eq!(e.unlink("/b", 0), Ok(0));
    assert_eq!(e.fstat(fd).unwrap().nlink, 0);
    // An open file without names cannot get one back (vfs_link: i_nlink == 0).
    assert_eq!(e.linkat(fd, "", "/back", AT_EMPTY_PATH), Err(Errno::ENOENT));
    // rename onto another name of the same file does nothing (fileio's case).
    e.create("/c", b"C");
    e.link("/c", "/c2", 0).unwrap();
    assert_eq!(e.rename("/c2", "/c", 0), Ok(0));
    assert_eq!(e.stat("/c2", 0).unwrap().nlink, 2, "both names stay");
    // rename of a link over a third file: that file goes, the link count stays 2.
    e.create("/other", b"O");
    assert_eq!(e.rename("/c2", "/other", 0), Ok(0));
    assert_eq!(e.stat("/other", 0).unwrap().nlink, 2);
    assert_eq!(e.contents("/other"), b"C");
}

#[test]
fn linkat_error_paths() {
    let mut e = env();
    e.create("/f", b"x");
    e.mkdir("/d", 0o755).unwrap();
    assert_eq!(e.link("/f", "/f", 0), Err(Errno::EEXIST));
    assert_eq!(e.link("/f", "/d", 0), Err(Errno::EEXIST));
    assert_eq!(e.link("/f", "/", 0), Err(Errno::EEXIST), "LAST_ROOT");
    assert_eq!(e.link("/f", "/d/.", 0), Err(Errno::EEXIST), "LAST_DOT");
    assert_eq!(e.link("/f", "/d/..", 0), Err(Errno::EEXIST), "LAST_DOTDOT");
    // filename_create runs before vfs_link's directory check.
    assert_eq!(e.link("/d", "/f", 0), Err(Errno::EEXIST));
    assert_eq!(e.link("/d", "/d2", 0), Err(Errno::EPERM));
    assert_eq!(e.link("/missing", "/n", 0), Err(Errno::ENOENT));
    assert_eq!(e.link("/f/", "/n", 0), Err(Errno::ENOTDIR));
    assert_eq!(e.link("/f", "/nodir/n", 0), Err(Errno::ENOENT));
    assert_eq!(e.link("/f", "/f/n", 0), Err(Errno::ENOTDIR));
    assert_eq!(e.link("/f", "/n/", 0), Err(Errno::ENOENT), "trailing slash");
    assert_eq!(e.link("", "/n", 0), Err(Errno::ENOENT));
    assert_eq!(e.link("/f", "", 0), Err(Errno::ENOENT));
    assert_eq!(e.link("/f", "/n", 0x100), Err(Errno::EINVAL));
    let long = format!("/{}", "n".repeat(256));
    assert_eq!(e.link("/f", &long, 0), Err(Errno::ENAMETOOLONG));
    assert_eq!(e.linkat(77, "f", "/n", 0), Err(Errno::EBADF));
    // Nothing was created along the way.
    assert_eq!(e.stat("/f", 0).unwrap().nlink, 1);
    assert_eq!(e.stat("/n", 0).unwrap_err(), Errno::ENOENT);
}

#[test]
fn linkat_symlinks_and_empty_path() {
    let mut e = env();
    e.create("/t", b"T");
    e.vfs.symlink(b"/t", b"/s").unwrap();
    let t_ino = e.stat("/t", 0).unwrap().ino;
    // By default the link itself gets a second name...
    assert_eq!(e.link("/s", "/s2", 0), Ok(0));
    let s2 = e.stat("/s2", AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!((s2.mode & S_IFMT, s2.nlink), (S_IFLNK, 2));
    // ...with AT_SYMLINK_FOLLOW its target does.
    assert_eq!(e.link("/s", "/t2", AT_SYMLINK_FOLLOW), Ok(0));
    let t2 = e.stat("/t2", AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!((t2.ino, t2.nlink), (t_ino, 2));
    // AT_EMPTY_PATH names the descriptor's file, O_PATH ones included.
    let fd = e.open("/t", O_PATH, 0).unwrap();
    assert_eq!(e.linkat(fd, "", "/t3", 0), Err(Errno::ENOENT));
    assert_eq!(e.linkat(fd, "", "/t3", AT_EMPTY_PATH), Ok(0));
    assert_eq!(e.stat("/t3", 0).unwrap().ino, t_ino);
    assert_eq!(e.stat("/t", 0).unwrap().nlink, 3);
    // ...and the cwd for AT_FDCWD: a directory.
    assert_eq!(
        e.linkat(FDCWD, "", "/cwd", AT_EMPTY_PATH),
        Err(Errno::EPERM)
    );
    // Pipes and procfs live on other file systems.
    let (r, _w) = e.pipe(0);
    assert_eq!(e.linkat(r, "", "/p", AT_EMPTY_PATH), Err(Errno::EXDEV));
    assert_eq!(e.linkat(r, "", "/t", AT_EMPTY_PATH), Err(Errno::EEXIST));
    assert_eq!(e.link("/proc/self/exe", "/exe", 0), Err(Errno::EXDEV));
}

#[test]
fn linkat_permissions_for_other_users() {
    let mut e = env();
    e.create("/tmp/mine", b"");
    e.create("/tmp/shared", b"");
    e.chmod("/tmp/mine", 0o644, 0).unwrap();
    e.chmod("/tmp/shared", 0o666, 0).unwrap();
    e.mkdir("/tmp/root-only", 0o755).unwrap();
    e.p.cred = Cred {
        uid: 1000,
        gid: 1000,
    };
    // protected_hardlinks: someone else's file needs read and write access.
    assert_eq!(e.link("/tmp/mine", "/tmp/l1", 0), Err(Errno::EPERM));
    assert_eq!(e.link("/tmp/shared", "/tmp/l2", 0), Ok(0));
    // The new name's directory must be writable.
    assert_eq!(
        e.link("/tmp/shared", "/tmp/root-only/l3", 0),
        Err(Errno::EACCES)
    );
    // Another file system (the root one; /tmp is a tmpfs) is EXDEV, checked first.
    assert_eq!(e.link("/tmp/shared", "/l3", 0), Err(Errno::EXDEV));
}

#[test]
fn symlinkat_paths() {
    let mut e = env();
    e.mkdir("/d", 0o755).unwrap();
    assert_eq!(e.symlink("../target", "/d/l"), Ok(0));
    assert_eq!(e.readlink("/d/l"), b"../target");
    let st = e.stat("/d/l", AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!((st.mode, st.size, st.nlink), (S_IFLNK | 0o777, 9, 1));
    assert_eq!(
        e.stat("/d/l", 0).unwrap_err(),
        Errno::ENOENT,
        "dangling is allowed"
    );
    e.create("/target", b"data");
    assert_eq!(e.contents("/d/l"), b"data");
    assert_eq!(e.symlink("x", "/d/l"), Err(Errno::EEXIST));
    assert_eq!(e.symlink("x", "/d"), Err(Errno::EEXIST));
    assert_eq!(e.symlink("x", "/"), Err(Errno::EEXIST));
    assert_eq!(e.symlink("x", "/n/"), Err(Errno::ENOENT));
    assert_eq!(e.symlink("x", "/nodir/n"), Err(Errno::ENOENT));
    assert_eq!(e.symlink("x", "/target/n"), Err(Errno::ENOTDIR));
    assert_eq!(e.symlink("", "/n"), Err(Errno::ENOENT), "empty target");
    assert_eq!(e.symlink("x", ""), Err(Errno::ENOENT));
    // Relative to a directory descriptor.
    let dfd = e.open("/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    let a = e.put_str(PATH_A, "/target");
    let b = e.put_str(PATH_B, "rel");
    assert_eq!(sys_symlinkat(&mut e.p, &e.vfs, &mut e.u, a, dfd, b), Ok(0));
    assert_eq!(e.contents("/d/rel"), b"data");
    // Another user needs write access to the directory, and owns the link.
    e.p.cred = Cred {
        uid: 1000,
        gid: 1000,
    };
    assert_eq!(e.symlink("x", "/d/u"), Err(Errno::EACCES));
    assert_eq!(e.symlink("x", "/tmp/u"), Ok(0));
    let st = e.stat("/tmp/u", AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!((st.uid, st.gid), (1000, 1000));
}

#[test]
fn mknodat_regular_files_only() {
    let mut e = env();
    let mknod = |e: &mut Env, path: &str, mode: u32| {
        let va = e.put_str(PATH_A, path);
        sys_mknodat(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, mode.into(), 0)
    };
    assert_eq!(mknod(&mut e, "/r", S_IFREG | 0o666), Ok(0));
    let st = e.stat("/r", 0).unwrap();
    assert_eq!(
        (st.mode, st.size),
        (S_IFREG | 0o644, 0),
        "umask 022 applies"
    );
    assert_eq!(mknod(&mut e, "/zero", 0o600), Ok(0), "type 0 is S_IFREG");
    assert_eq!(e.stat("/zero", 0).unwrap().mode, S_IFREG | 0o600);
    assert_eq!(mknod(&mut e, "/r", S_IFREG | 0o600), Err(Errno::EEXIST));
    assert_eq!(mknod(&mut e, "/dir", S_IFDIR | 0o755), Err(Errno::EPERM));
    assert_eq!(mknod(&mut e, "/bad", 0o030000 | 0o644), Err(Errno::EINVAL));
    // Node types the file system cannot hold: name errors first, then EPERM.
    assert_eq!(mknod(&mut e, "/r", S_IFIFO | 0o644), Err(Errno::EEXIST));
    assert_eq!(mknod(&mut e, "/fifo", S_IFIFO | 0o644), Err(Errno::EPERM));
    assert_eq!(mknod(&mut e, "/chr", S_IFCHR | 0o644), Err(Errno::EPERM));
    assert_eq!(e.stat("/fifo", 0).unwrap_err(), Errno::ENOENT);
}

// ----- attributes -----

#[test]
fn chmod_family() {
    let mut e = env_with(
        VfsConfig {
            clock: ticking_clock(),
            ..VfsConfig::default()
        },
        b"",
    );
    let fd = e.create("/f", b"");
    let c0 = e.stat("/f", 0).unwrap().ctime;
    assert_eq!(sys_fchmod(&mut e.p, &e.vfs, fd, 0o104755), Ok(0));
    let st = e.stat("/f", 0).unwrap();
    assert_eq!(st.mode, S_IFREG | 0o4755, "type bits in mode are ignored");
    assert!(st.ctime > c0);
    // fchmodat follows symlinks; fchmodat2 with AT_SYMLINK_NOFOLLOW refuses the link.
    e.vfs.symlink(b"/f", b"/l").unwrap();
    let va = e.put_str(PATH_A, "/l");
    assert_eq!(
        sys_fchmodat(&mut e.p, &e.vfs, &mut e.u, FDCWD, va, 0o600),
        Ok(0)
    );
    assert_eq!(e.stat("/f", 0).unwrap().mode, S_IFREG | 0o600);
    assert_eq!(
        e.chmod("/l", 0o644, AT_SYMLINK_NOFOLLOW),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(e.chmod("/f", 0o644, 0x400), Err(Errno::EINVAL));
    assert_eq!(e.chmod("/missing", 0o644, 0), Err(Errno::ENOENT));
    assert_eq!(e.chmod("", 0o644, 0), Err(Errno::ENOENT));
    // AT_EMPTY_PATH with an O_PATH descriptor works; fchmod on one does not (fdget).
    let pfd = e.open("/f", O_PATH, 0).unwrap();
    let va = e.put_str(PATH_A, "");
    assert_eq!(
        sys_fchmodat2(
            &mut e.p,
            &e.vfs,
            &mut e.u,
            pfd,
            va,
            0o640,
            AT_EMPTY_PATH.into()
        ),
        Ok(0)
    );
    assert_eq!(e.stat("/f", 0).unwrap().mode, S_IFREG | 0o640);
    assert_eq!(sys_fchmod(&mut e.p, &e.vfs, pfd, 0o600), Err(Errno::EBADF));
    assert_eq!(sys_fchmod(&mut e.p, &e.vfs, 77, 0o600), Err(Errno::EBADF));
    let (r, _w) = e.pipe(0);
    assert_eq!(sys_fchmod(&mut e.p, &e.vfs, r, 0o600), Err(Errno::EPERM));
    // Another user: only the owner may chmod, and S_ISGID needs group membership.
    e.create("/tmp/g", b"");
    e.chown("/tmp/g", 1000, 50, 0).unwrap();
    e.p.cred = Cred {
        uid: 1000,
        gid: 1000,
    };
    assert_eq!(e.chmod("/f", 0o777, 0), Err(Errno::EPERM));
    assert_eq!(e.chmod("/tmp/g", 0o2755, 0), Ok(0));
    assert_eq!(e.stat("/tmp/g", 0).unwrap().mode, S_IFREG | 0o755);
}

#[test]
fn chown_family() {
    let mut e = env();
    e.create("/f", b"");
    e.chmod("/f", 0o6755, 0).unwrap();
    assert_eq!(e.chown("/f", 1000, 100, 0), Ok(0));
    let st = e.stat("/f", 0).unwrap();
    assert_eq!((st.uid, st.gid), (1000, 100));
    assert_eq!(
        st.mode,
        S_IFREG | 0o755,
        "S_ISUID and group-exec S_ISGID dropped"
    );
    // -1 leaves an id alone; S_ISGID without group-exec survives root's chown.
    e.chmod("/f", 0o2744, 0).unwrap();
    assert_eq!(e.chown("/f", u32::MAX, 7, 0), Ok(0));
    let st = e.stat("/f", 0).unwrap();
    assert_eq!((st.uid, st.gid, st.mode), (1000, 7, S_IFREG | 0o2744));
    // Directories keep their set-id bits.
    e.mkdir("/d", 0o755).unwrap();
    e.chmod("/d", 0o2775, 0).unwrap();
    e.chown("/d", 5, 5, 0).unwrap();
    assert_eq!(e.stat("/d", 0).unwrap().mode, S_IFDIR | 0o2775);
    // AT_SYMLINK_NOFOLLOW changes the link itself.
    e.vfs.symlink(b"/f", b"/l").unwrap();
    assert_eq!(e.chown("/l", 42, 42, AT_SYMLINK_NOFOLLOW), Ok(0));
    assert_eq!(e.stat("/l", AT_SYMLINK_NOFOLLOW).unwrap().uid, 42);
    assert_eq!(e.stat("/l", 0).unwrap().uid, 1000);
    assert_eq!(e.chown("/f", 0, 0, 0x400), Err(Errno::EINVAL));
    assert_eq!(e.chown("/nope", 0, 0, 0), Err(Errno::ENOENT));
    let fd = e.open("/f", O_RDONLY, 0).unwrap();
    assert_eq!(sys_fchown(&mut e.p, &e.vfs, fd, 3, 4), Ok(0));
    assert_eq!((e.fstat(fd).unwrap().uid, e.fstat(fd).unwrap().gid), (3, 4));
    assert_eq!(sys_fchown(&mut e.p, &e.vfs, 77, 3, 4), Err(Errno::EBADF));
    // Another user may only change the group of its own file to its own group.
    e.chown("/f", 1000, 7, 0).unwrap();
    e.p.cred = Cred {
        uid: 1000,
        gid: 1000,
    };
    assert_eq!(e.chown("/f", u32::MAX, 1000, 0), Ok(0));
    assert_eq!(e.chown("/f", u32::MAX, 1000, 0), Ok(0), "same group again");
    assert_eq!(e.chown("/f", u32::MAX, 9, 0), Err(Errno::EPERM));
    assert_eq!(e.chown("/f", 0, u32::MAX, 0), Err(Errno::EPERM));
    assert_eq!(e.chown("/f", 1000, u32::MAX, 0), Ok(0), "to itself");
    assert_eq!(e.chown("/d", u32::MAX, 1000, 0), Err(Errno::EPERM));
}

#[test]
fn utimensat_times_now_and_omit() {
    let mut e = env_with(
        VfsConfig {
            clock: ticking_clock(),
            ..VfsConfig::default()
        },
        b"",
    );
    e.create("/f", b"");
    assert_eq!(
        e.utimens("/f", Some([(100, 5), (200, 999_999_999)]), 0),
        Ok(0)
    );
    let st = e.stat("/f", 0).unwrap();
    assert_eq!(
        (st.atime, st.atime_nsec, st.mtime, st.mtime_nsec),
        (100, 5, 200, 999_999_999)
    );
    // UTIME_OMIT keeps one; UTIME_NOW takes the clock; ctime always moves.
    assert_eq!(
        e.utimens("/f", Some([(0, UTIME_OMIT), (0, UTIME_NOW)]), 0),
        Ok(0)
    );
    let st2 = e.stat("/f", 0).unwrap();
    assert_eq!((st2.atime, st2.atime_nsec), (100, 5));
    assert!(st2.mtime > 1000 && st2.ctime > st.ctime);
    // NULL times: both now.
    assert_eq!(e.utimens("/f", None, 0), Ok(0));
    let st3 = e.stat("/f", 0).unwrap();
    assert!(st3.atime > st2.mtime && st3.mtime == st3.atime);
    // Both UTIME_OMIT: nothing happens, the path is not even looked at.
    assert_eq!(
        e.utimens("/missing", Some([(0, UTIME_OMIT), (0, UTIME_OMIT)]), 0),
        Ok(0)
    );
    assert_eq!(e.stat("/f", 0).unwrap().ctime, st3.ctime);
    // tv_nsec is checked after the lookup.
    assert_eq!(
        e.utimens("/f", Some([(0, 1_000_000_000), (0, 0)]), 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        e.utimens("/f", Some([(0, 0), (0, -1)]), 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        e.utimens("/missing", Some([(0, -1), (0, 0)]), 0),
        Err(Errno::ENOENT)
    );
    assert_eq!(e.utimens("/f", None, 0x400), Err(Errno::EINVAL));
    let t = e.put_times(Some([(1, 0), (2, 0)]));
    assert_eq!(
        sys_utimensat(&mut e.p, &e.vfs, &mut e.u, FDCWD, 0x10, t, 0),
        Err(Errno::EFAULT),
        "bad times pointer is fine here, bad path pointer is not"
    );
    assert_eq!(
        sys_utimensat(&mut e.p, &e.vfs, &mut e.u, FDCWD, PATH_A, 0x10, 0),
        Err(Errno::EFAULT)
    );
}

#[test]
fn utimensat_descriptors_links_and_permissions() {
    let mut e = env();
    let fd = e.create("/f", b"");
    let t = e.put_times(Some([(11, 0), (22, 0)]));
    // A NULL path with a descriptor is futimens.
    assert_eq!(
        sys_utimensat(&mut e.p, &e.vfs, &mut e.u, fd, 0, t, 0),
        Ok(0)
    );
    assert_eq!(e.fstat(fd).unwrap().mtime, 22);
    assert_eq!(
        sys_utimensat(
            &mut e.p,
            &e.vfs,
            &mut e.u,
            fd,
            0,
            t,
            AT_SYMLINK_NOFOLLOW.into()
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys_utimensat(&mut e.p, &e.vfs, &mut e.u, FDCWD, 0, t, 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys_utimensat(&mut e.p, &e.vfs, &mut e.u, 77, 0, t, 0),
        Err(Errno::EBADF)
    );
    let pfd = e.open("/f", O_PATH, 0).unwrap();
    assert_eq!(
        sys_utimensat(&mut e.p, &e.vfs, &mut e.u, pfd, 0, t, 0),
        Err(Errno::EBADF)
    );
    // AT_SYMLINK_NOFOLLOW sets the link's own times.
    e.vfs.symlink(b"/f", b"/l").unwrap();
    assert_eq!(
        e.utimens("/l", Some([(1, 0), (2, 0)]), AT_SYMLINK_NOFOLLOW),
        Ok(0)
    );
    assert_eq!(e.stat("/l", AT_SYMLINK_NOFOLLOW).unwrap().mtime, 2);
    assert_eq!(e.stat("/f", 0).unwrap().mtime, 22);
    // Another user: explicit times need ownership, "now" needs write access.
    e.create("/tmp/w", b"");
    e.chmod("/tmp/w", 0o666, 0).unwrap();
    e.chmod("/f", 0o644, 0).unwrap();
    e.p.cred = Cred {
        uid: 1000,
        gid: 1000,
    };
    assert_eq!(
        e.utimens("/tmp/w", Some([(1, 0), (2, 0)]), 0),
        Err(Errno::EPERM)
    );
    assert_eq!(
        e.utimens("/tmp/w", Some([(0, UTIME_NOW), (0, UTIME_OMIT)]), 0),
        Err(Errno::EPERM),
        "only NOW/NOW counts as a plain touch"
    );
    assert_eq!(e.utimens("/tmp/w", None, 0), Ok(0));
    assert_eq!(
        e.utimens("/tmp/w", Some([(0, UTIME_NOW), (0, UTIME_NOW)]), 0),
        Ok(0)
    );
    assert_eq!(e.utimens("/f", None, 0), Err(Errno::EACCES));
}

// ----- ioctl -----

#[test]
fn ioctl_terminal_and_not() {
    let mut e = env();
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, 1, TCGETS.into(), SMALL),
        Err(Errno::ENOTTY)
    );
    let fd = e.create("/f", b"");
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, fd, TCGETS.into(), SMALL),
        Err(Errno::ENOTTY)
    );
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, fd, TIOCGWINSZ.into(), SMALL),
        Err(Errno::ENOTTY)
    );
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, 99, TCGETS.into(), SMALL),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, fd, FIOCLEX.into(), 0),
        Ok(0)
    );
    assert_eq!(sys_fcntl(&mut e.p, fd, F_GETFD.into(), 0), Ok(FD_CLOEXEC));
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, fd, FIONCLEX.into(), 0),
        Ok(0)
    );
    assert_eq!(sys_fcntl(&mut e.p, fd, F_GETFD.into(), 0), Ok(0));
    e.put(SMALL, &1i32.to_le_bytes());
    assert_eq!(
        sys_ioctl(&mut e.p, &e.vfs, &mut e.u, fd, FIONBIO.into(), SMALL),
        Ok(0)
    );
    assert_eq!(
        sys_fcntl(&mut e.p, fd, F_GETFL.into(), 0).unwrap() & u64::from(O_NONBLOCK),
        u64::from(O_NONBLOCK)
    );
    // Host streams flagged as terminals.
    let vfs = Vfs::new(VfsConfig::default());
    let streams = HostStreams::with_terminals(
        Box::new(std::io::empty()),
        Box::new(std::io::sink()),
        Box::new(std::io::sink()),
        [true, true, false],
    );
    let mut p = ProcessFs::new(&vfs, &Arc::new(streams));
    assert_eq!(
        sys_ioctl(&mut p, &vfs, &mut e.u, 1, TCGETS.into(), SMALL),
        Ok(0)
    );
    let t = e.get(SMALL, 36);
    let lflag = u32::from_le_bytes(t[12..16].try_into().unwrap());
    assert_ne!(lflag & 0o2, 0, "ICANON");
    assert_eq!(t[17], 3, "VINTR is ^C");
    assert_eq!(
        sys_ioctl(&mut p, &vfs, &mut e.u, 0, TIOCGWINSZ.into(), SMALL),
        Ok(0)
    );
    assert_eq!(e.get(SMALL, 4), [24, 0, 80, 0]);
    assert_eq!(
        sys_ioctl(&mut p, &vfs, &mut e.u, 2, TCGETS.into(), SMALL),
        Err(Errno::ENOTTY)
    );
    assert_eq!(
        sys_ioctl(&mut p, &vfs, &mut e.u, 1, TCGETS.into(), 0x10),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys_ioctl(&mut p, &vfs, &mut e.u, 1, 0x1234, SMALL),
        Err(Errno::ENOTTY)
    );
    let st = {
        let f = p.fds.get(1).unwrap();
        f.stat(&vfs)
    };
    assert_eq!(st.mode, S_IFCHR | 0o620);
}

// ----- exec support and timestamps -----

#[test]
fn open_exec_checks() {
    let mut e = env();
    e.vfs
        .write_file(b"/bin/prog", b"\x7fELF...", 0o755)
        .unwrap();
    e.create("/data", b"x");
    let exec = open_exec(&e.p, &e.vfs, b"/bin/prog", 1 << 20).unwrap();
    assert_eq!(exec.bytes, b"\x7fELF...");
    assert_eq!(exec.inode.ino(), e.stat("/bin/prog", 0).unwrap().ino);
    assert_eq!(exec.path, b"/bin/prog");
    assert_eq!(
        open_exec(&e.p, &e.vfs, b"/data", 1 << 20).unwrap_err(),
        Errno::EACCES
    );
    assert_eq!(
        open_exec(&e.p, &e.vfs, b"/bin", 1 << 20).unwrap_err(),
        Errno::EACCES
    );
    assert_eq!(
        open_exec(&e.p, &e.vfs, b"/none", 1 << 20).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(
        open_exec(&e.p, &e.vfs, b"/bin/prog", 3).unwrap_err(),
        Errno::ENOEXEC
    );
    let va = e.put_str(PATH_A, "/bin/prog");
    assert_eq!(get_user_path(&mut e.u, va).unwrap(), b"/bin/prog");
}

#[test]
fn memfd_tmpfile_truncate_fallocate_and_fsync() {
    let mut e = env();
    // memfd_create: an unlinked O_RDWR regular file named "memfd:NAME".
    let name = e.put_str(PATH_A, "buf");
    let fd = sys_memfd_create(&mut e.p, &e.vfs, &mut e.u, name, u64::from(MFD_CLOEXEC)).unwrap();
    let st = e.fstat(fd).unwrap();
    assert_eq!((st.mode, st.nlink, st.size), (S_IFREG | 0o777, 0, 0));
    assert_eq!(
        e.p.fds.get(fd as u32).unwrap().path(),
        b"/memfd:buf (deleted)"
    );
    assert_eq!(sys_fcntl(&mut e.p, fd, 1, 0), Ok(1), "FD_CLOEXEC");
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, fd, 10_000), Ok(0));
    assert_eq!(e.write(fd, b"hello"), Ok(5));
    assert_eq!(e.fstat(fd).unwrap().size, 10_000);
    assert_eq!(sys_fsync(&mut e.p, fd), Ok(0));
    // MFD_HUGETLB: a hugetlbfs file, sized in huge pages only; MFD_HUGE_1GB has its pool
    // (a file in 1 GiB pages), a size without one (MFD_HUGE_16MB) is ENODEV, a size
    // without MFD_HUGETLB is EINVAL.
    let huge = sys_memfd_create(&mut e.p, &e.vfs, &mut e.u, name, u64::from(MFD_HUGETLB)).unwrap();
    assert_eq!(
        sys_ftruncate(&mut e.p, &e.vfs, huge, 10_000),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys_ftruncate(&mut e.p, &e.vfs, huge, 2 << 20), Ok(0));
    let (mfd_huge_2mb, mfd_huge_1gb) = (21 << 26, 30 << 26);
    assert!(e.p.fds.get(huge as u32).unwrap().hugetlbfs().is_some());
    assert!(sys_memfd_create(
        &mut e.p,
        &e.vfs,
        &mut e.u,
        name,
        u64::from(MFD_HUGETLB | mfd_huge_2mb)
    )
    .is_ok());
    let giga = sys_memfd_create(
        &mut e.p,
        &e.vfs,
        &mut e.u,
        name,
        u64::from(MFD_HUGETLB | mfd_huge_1gb),
    )
    .unwrap();
    assert_eq!(
        sys_ftruncate(&mut e.p, &e.vfs, giga, 2 << 20),
        Err(Errno::EINVAL),
        "1 GiB pages"
    );
    assert_eq!(
        sys_memfd_create(
            &mut e.p,
            &e.vfs,
            &mut e.u,
            name,
            u64::from(MFD_HUGETLB | (24 << 26))
        ),
        Err(Errno::ENODEV)
    );
    for bad in [mfd_huge_2mb, 0x100, MFD_EXEC | MFD_NOEXEC_SEAL] {
        assert_eq!(
            sys_memfd_create(&mut e.p, &e.vfs, &mut e.u, name, u64::from(bad)),
            Err(Errno::EINVAL)
        );
    }
    let long = e.put_str(PATH_A, &"n".repeat(250));
    assert_eq!(
        sys_memfd_create(&mut e.p, &e.vfs, &mut e.u, long, 0),
        Err(Errno::EINVAL)
    );
    let ok = e.put_str(PATH_A, &"n".repeat(249));
    assert!(sys_memfd_create(&mut e.p, &e.vfs, &mut e.u, ok, u64::from(MFD_NOEXEC_SEAL)).is_ok());

    // O_TMPFILE: needs write access and a directory; the file has no name.
    e.mkdir("/d", 0o755).unwrap();
    let tmp = crate::fs::O_TMPFILE;
    assert_eq!(e.open("/d", tmp | O_RDONLY, 0o600), Err(Errno::EINVAL));
    assert_eq!(
        e.open("/d", tmp | O_CREAT | O_RDWR, 0o600),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        e.open("/d", (tmp & !O_DIRECTORY) | O_RDWR, 0o600),
        Err(Errno::EINVAL)
    );
    e.create("/d/file", b"x");
    assert_eq!(e.open("/d/file", tmp | O_RDWR, 0o600), Err(Errno::ENOTDIR));
    let t = e.open("/d", tmp | O_RDWR, 0o640).unwrap();
    assert_eq!(e.write(t, b"abc"), Ok(3));
    let st = e.fstat(t).unwrap();
    assert_eq!((st.mode, st.nlink, st.size), (S_IFREG | 0o640, 0, 3));
    assert_eq!(
        e.stat("/d", 0).unwrap().size,
        3 * 20,
        "one entry: the tmpfile has none"
    );

    // truncate(path).
    let path = e.put_str(PATH_A, "/d/file");
    assert_eq!(sys_truncate(&mut e.p, &e.vfs, &mut e.u, path, 5000), Ok(0));
    assert_eq!(e.stat("/d/file", 0).unwrap().size, 5000);
    assert_eq!(
        sys_truncate(&mut e.p, &e.vfs, &mut e.u, path, u64::MAX),
        Err(Errno::EINVAL)
    );
    let dir = e.put_str(PATH_A, "/d");
    assert_eq!(
        sys_truncate(&mut e.p, &e.vfs, &mut e.u, dir, 0),
        Err(Errno::EISDIR)
    );
    let null = e.put_str(PATH_A, "/dev/null");
    assert_eq!(
        sys_truncate(&mut e.p, &e.vfs, &mut e.u, null, 0),
        Err(Errno::EINVAL)
    );

    // fallocate.
    let f = e.open("/d/file", O_RDWR, 0).unwrap();
    let fa = |e: &mut Env, fd: u64, mode: u32, off: i64, len: i64| {
        sys_fallocate(&mut e.p, &e.vfs, fd, mode.into(), off as u64, len as u64)
    };
    assert_eq!(fa(&mut e, f, 0, 0, 0), Err(Errno::EINVAL));
    assert_eq!(fa(&mut e, f, 0, -1, 10), Err(Errno::EINVAL));
    assert_eq!(
        fa(&mut e, f, 0x2, 0, 10),
        Err(Errno::EOPNOTSUPP),
        "hole needs KEEP_SIZE"
    );
    assert_eq!(fa(&mut e, f, 0x100, 0, 10), Err(Errno::EOPNOTSUPP));
    assert_eq!(
        fa(&mut e, f, 0x10, 0, 10),
        Err(Errno::EOPNOTSUPP),
        "ZERO_RANGE on tmpfs"
    );
    assert_eq!(fa(&mut e, f, 0, i64::MAX, 10), Err(Errno::EFBIG));
    assert_eq!(fa(&mut e, f, 0, 0, 3 * 4096), Ok(0));
    let st = e.fstat(f).unwrap();
    assert_eq!((st.size, st.blocks), (3 * 4096, 24));
    assert_eq!(fa(&mut e, f, 1, 0, 5 * 4096), Ok(0));
    let st = e.fstat(f).unwrap();
    assert_eq!(
        (st.size, st.blocks),
        (3 * 4096, 40),
        "KEEP_SIZE allocates only"
    );
    assert_eq!(e.write(f, b"0123456789"), Ok(10));
    assert_eq!(fa(&mut e, f, 3, 2, 4096 + 100), Ok(0));
    let st = e.fstat(f).unwrap();
    assert_eq!(st.size, 3 * 4096);
    let fd2 = e.open("/d/file", O_RDONLY, 0).unwrap();
    assert_eq!(e.read(fd2, 12).unwrap(), b"01\0\0\0\0\0\0\0\0\0\0".to_vec());
    assert_eq!(fa(&mut e, fd2, 0, 0, 1), Err(Errno::EBADF), "read-only");
    let (r, w) = e.pipe(0);
    assert_eq!(fa(&mut e, w, 0, 0, 1), Err(Errno::ESPIPE));
    assert_eq!(sys_fsync(&mut e.p, r), Err(Errno::EINVAL));
    let dfd = e.open("/d", O_RDONLY | O_DIRECTORY, 0).unwrap();
    assert_eq!(sys_fsync(&mut e.p, dfd), Ok(0));
    assert_eq!(sys_syncfs(&mut e.p, &e.vfs, dfd), Ok(0));
    assert_eq!(sys_fsync(&mut e.p, 99), Err(Errno::EBADF));
}

#[test]
fn timestamps_follow_the_kernel_clock() {
    let mut e = env_with(
        VfsConfig {
            clock: ticking_clock(),
            ..VfsConfig::default()
        },
        b"",
    );
    let fd = e.create("/f", b"abc");
    let s1 = e.stat("/f", 0).unwrap();
    e.write(fd, b"more").unwrap();
    let s2 = e.stat("/f", 0).unwrap();
    assert!(s2.mtime > s1.mtime && s2.ctime > s1.ctime);
    // relatime: a read after a modification updates atime...
    sys_lseek(&mut e.p, fd, 0, SEEK_SET.into()).unwrap();
    e.read(fd, 1).unwrap();
    let s3 = e.stat("/f", 0).unwrap();
    assert!(s3.atime > s2.mtime);
    // ...but a second read right after does not.
    e.read(fd, 1).unwrap();
    assert_eq!(e.stat("/f", 0).unwrap().atime, s3.atime);
    // Creating an entry changes the directory's mtime.
    let d1 = e.stat("/", 0).unwrap().mtime;
    e.create("/g", b"");
    assert!(e.stat("/", 0).unwrap().mtime > d1);
}

#[test]
fn file_system_state_can_be_shared_between_hart_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vfs>();
    assert_send_sync::<ProcessFs>();
    assert_send_sync::<OpenFile>();
    assert_send_sync::<HostStreams>();
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// A register value: small numbers, addresses in and around the mock memory, flag-ish
    /// bits, or anything.
    fn reg() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..8,
            Just(FDCWD),
            (0u64..0x3000).prop_map(|o| BASE + o),
            (0u64..0x100).prop_map(|o| BASE + MEM as u64 - o),
            any::<u32>().prop_map(u64::from),
            any::<u64>(),
        ]
    }

    fn call(e: &mut Env, nr: u8, a: [u64; 5]) {
        let (p, v, u) = (&mut e.p, &e.vfs, &mut e.u);
        let _ = match nr % 40 {
            0 => sys_openat(p, v, u, a[0], a[1], a[2], a[3]),
            1 => sys_close(p, a[0]),
            2 => sys_read(p, v, u, a[0], a[1], a[2] & 0xffff).map_err(|_| Errno::EIO),
            3 => sys_write(p, v, u, a[0], a[1], a[2] & 0xffff).map_err(|_| Errno::EIO),
            4 => sys_readv(p, v, u, a[0], a[1], a[2]).map_err(|_| Errno::EIO),
            5 => sys_writev(p, v, u, a[0], a[1], a[2]).map_err(|_| Errno::EIO),
            6 => sys_pread64(p, v, u, a[0], a[1], a[2] & 0xffff, a[3]),
            7 => sys_pwrite64(p, v, u, a[0], a[1], a[2] & 0xffff, a[3]),
            8 => sys_lseek(p, a[0], a[1], a[2]),
            9 => sys_fstat(p, v, u, a[0], a[1]),
            10 => sys_newfstatat(p, v, u, a[0], a[1], a[2], a[3]),
            11 => sys_statx(p, v, u, a[0], a[1], a[2], a[3], a[4]),
            12 => sys_unlinkat(p, v, u, a[0], a[1], a[2]),
            13 => sys_mkdirat(p, v, u, a[0], a[1], a[2]),
            14 => sys_getdents64(p, v, u, a[0], a[1], a[2]),
            15 => sys_fcntl(p, a[0], a[1], a[2]),
            16 => sys_dup(p, a[0]),
            17 => sys_dup3(p, a[0], a[1], a[2]),
            18 => sys_pipe2(p, v, u, a[0], a[1]),
            19 => sys_faccessat2(p, v, u, a[0], a[1], a[2], a[3]),
            20 => sys_readlinkat(p, v, u, a[0], a[1], a[2], a[3]),
            21 => sys_getcwd(p, v, u, a[0], a[1]),
            22 => sys_chdir(p, v, u, a[0]),
            23 => sys_ftruncate(p, v, a[0], a[1]),
            24 => sys_renameat2(p, v, u, a[0], a[1], a[2], a[3], a[4]),
            25 => sys_ioctl(p, v, u, a[0], a[1], a[2]),
            26 => sys_faccessat(p, v, u, a[0], a[1], a[2]),
            27 => sys_linkat(p, v, u, a[0], a[1], a[2], a[3], a[4]),
            28 => sys_symlinkat(p, v, u, a[0], a[1], a[2]),
            29 => sys_mknodat(p, v, u, a[0], a[1], a[2], a[3]),
            30 => sys_fchmod(p, v, a[0], a[1]),
            31 => sys_fchmodat2(p, v, u, a[0], a[1], a[2], a[3]),
            32 => sys_fchown(p, v, a[0], a[1], a[2]),
            33 => sys_fchownat(p, v, u, a[0], a[1], a[2], a[3], a[4]),
            34 => sys_truncate(p, v, u, a[0], a[1] & 0xf_ffff),
            35 => sys_fallocate(p, v, a[0], a[1], a[2] & 0xf_ffff, a[3] & 0xf_ffff),
            36 => sys_memfd_create(p, v, u, a[0], a[1]),
            37 => sys_fsync(p, a[0]),
            38 => sys_syncfs(p, v, a[0]),
            _ => sys_utimensat(p, v, u, a[0], a[1], a[2], a[3]),
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random system calls with random arguments, over memory holding plausible paths,
        /// never panic, and leave the tree walkable.
        #[test]
        fn random_calls_never_panic(
            calls in proptest::collection::vec((any::<u8>(), [reg(), reg(), reg(), reg(), reg()]), 1..60),
        ) {
            let mut e = env();
            e.create("/f", b"some bytes");
            e.mkdir("/d", 0o755).unwrap();
            e.vfs.symlink(b"/d", b"/l").unwrap();
            // Paths at the start of the memory the arguments point into.
            for (i, s) in ["/f", "/d/x", "d", "/l/y", "..", "/", "/dev/zero", "/f/"].iter().enumerate() {
                e.put_str(BASE + 0x10 * i as u64, s);
            }
            for (nr, args) in calls {
                call(&mut e, nr, args);
            }
            prop_assert!(e.stat("/", 0).is_ok());
            let root = e.vfs.root();
            prop_assert!(e.vfs.path_of(&root).is_ok());
        }
    }
}

/// `statfs()`'s `f_type`: what `gup_longterm.c` reads to decide whether a long-term
/// writable pin of a shared mapping must work (tmpfs) or fail (ext4).
fn f_type(e: &mut Env, path: &str) -> u64 {
    let va = e.put_str(PATH_A, path);
    crate::syscall::files::sys_statfs(&e.p, &e.vfs, &mut e.u, va, SMALL)
        .unwrap_or_else(|err| panic!("{path}: {err:?}"));
    u64::from_le_bytes(e.get(SMALL, 8).try_into().unwrap())
}

#[test]
fn statfs_tells_tmpfs_mounts_from_the_root_file_system() {
    use crate::fs::mount::{EXT4_SUPER_MAGIC, TMPFS_MAGIC};
    let mut e = env();
    e.create("/tmp/t", b"");
    e.create("/data", b"");
    e.mkdir("/tmp/sub", 0o755).unwrap();
    for (path, magic) in [
        ("/", EXT4_SUPER_MAGIC),
        ("/data", EXT4_SUPER_MAGIC),
        ("/tmp", TMPFS_MAGIC),
        ("/tmp/t", TMPFS_MAGIC),
        ("/tmp/sub", TMPFS_MAGIC),
        ("/dev/shm", TMPFS_MAGIC),
        ("/dev", TMPFS_MAGIC),
    ] {
        assert_eq!(f_type(&mut e, path), magic, "{path}");
    }
    // fstatfs() by the inode: a memfd is tmpfs (shm_mnt), a root file ext4.
    let name = e.put_str(PATH_A, "m");
    let mfd = sys_memfd_create(&mut e.p, &e.vfs, &mut e.u, name, 0).unwrap();
    let fd = e.open("/data", O_RDONLY, 0).unwrap();
    for (fd, magic) in [(mfd, TMPFS_MAGIC), (fd, EXT4_SUPER_MAGIC)] {
        crate::syscall::files::sys_fstatfs(&e.p, &e.vfs, &mut e.u, fd, SMALL).unwrap();
        assert_eq!(
            u64::from_le_bytes(e.get(SMALL, 8).try_into().unwrap()),
            magic
        );
    }
    // A rename between two file systems is EXDEV; within one it works.
    assert_eq!(e.rename("/tmp/t", "/t", 0), Err(Errno::EXDEV));
    assert_eq!(e.rename("/data", "/dev/shm/data", 0), Err(Errno::EXDEV));
    assert_eq!(e.rename("/tmp/t", "/tmp/sub/t", 0), Ok(0));
    assert_eq!(e.rename("/data", "/data2", 0), Ok(0));
}
