//! The file and identity system calls a hart serves without the kernel lock, holding only
//! the locks their state needs, as Linux serves every call: the descriptor table
//! (`files->file_lock`, [`crate::fs::FilesStruct`]), the open file description's
//! position lock (`f_pos_lock`), the inode's and page cache's locks, the `fs_struct`,
//! the thread group's `siglock`, and the caller's `mmap_lock` read side for each access
//! to its memory (`copy_to_user()`, see [`crate::mm::MmStruct::uaccess`]).
//!
//! Served here ([`file_call`]), the calls that neither block nor wake or schedule other
//! tasks, and only on files that cannot make them do so:
//!
//! | calls | served here when |
//! |---|---|
//! | `read`, `write`, `pread64`, `pwrite64`, `readv`, `writev`, `lseek`, `getdents64` | the descriptor is a VFS file ([`FileTarget::Inode`]: tmpfs regular files, directories, `/dev/null`, `/dev/zero`, `/dev/urandom`) |
//! | `openat` | the path does not lead to a kernel-served file (`/proc/<pid>/mem`…, whose `->open` needs the task table): that is found out before the open has any effect, and the call is then left to the kernel lock |
//! | `close`, `dup3` | always; the release of a description that is not a VFS file (a pipe end, whose release wakes the other end; a kernel-served file) is deferred to the kernel lock, as Linux defers the final `fput()` to `task_work` on the way back to user mode |
//! | `dup`, `fcntl`, `fstat`, `newfstatat`, `statx`, `getcwd`, `umask` | always |
//! | `getpid`, `gettid`, `getppid`, `getuid`, `geteuid`, `getgid`, `getegid`, `uname`, `clock_gettime`, `getrandom` | always |
//!
//! And [`futex_call`]: `futex` under the futex hash buckets' locks
//! ([`crate::futex::FutexHash`]) — every `FUTEX_WAKE`, `FUTEX_WAKE_BITSET`,
//! `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE`, and a `FUTEX_WAIT`/`FUTEX_WAIT_BITSET` that does
//! not sleep (`EAGAIN`, `ETIMEDOUT`, `EFAULT`, `EINVAL`); a wait that must sleep is
//! queued on its bucket here and handed to the kernel lock, which puts the task to sleep
//! unless a waker took the waiter meanwhile. The waiters a wake took are handed back to
//! the kernel (`wake_up_q()`, under its lock while the woken task's state is there) through its
//! lock-free wake list, without waiting for the lock (`kernel/ttwu.rs`).
//!
//! A pipe, a FIFO, a host stream (whose writes may block on the host and whose order
//! the kernel lock keeps), a kernel-served file, a futex wait's sleep, signals and everything that
//! touches the scheduler or another task stay with the kernel lock: [`file_call`]
//! answers `None` for them having done nothing, and the kernel re-issues the call
//! under its lock. So does a task whose previous call sleeps holding its file
//! (`fdget()`'s hold of a blocked `read`/`write`: the kernel's `BlockedCall`), which
//! the caller checks when it captures [`Current`].
//!
//! The results are those of the same calls under the kernel lock: the same functions
//! of [`super::fs`] and [`super::misc`] run, on the same shared parts.

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::{FileCtx, FileTarget, IoError, IoResult, OpenFile, ProcessFs, Vfs};
use crate::futex::{self, FutexCaller, FutexHash, FutexRet, FutexSleep, WakeList};
use crate::mm::MmStruct;
use crate::process::{SignalStruct, Task};
use crate::syscall::misc::{self, TimeSource};
use crate::syscall::{fs, nr::*};
use crate::uaccess::UserAccess;

/// What a hart keeps of the task it runs (`current`) to serve [`file_call`]'s calls:
/// the task's handles on its shared parts, captured under the kernel lock when the task
/// is switched in ([`Current::of`]).
#[derive(Debug)]
pub struct Current {
    /// `current->files` and `current->fs` (shared with the task), with its credentials
    /// and executable path (copies: only `execve` changes them, under the kernel lock,
    /// and the hart captures them again for the task's next time slice).
    fs: ProcessFs,
    /// The VFS.
    vfs: Arc<Vfs>,
    /// The thread group (`current->signal`): parent, threads, `AT_RANDOM`'s generator.
    signal: Arc<SignalStruct>,
    tid: u32,
    tgid: u32,
    time: TimeSource,
}

impl Current {
    /// The handles of `task`, for its time slice on this hart.
    pub fn of(task: &Task) -> Current {
        Current {
            fs: task.fs.copy(true, true),
            vfs: Arc::clone(&task.vfs),
            signal: Arc::clone(&task.signal),
            tid: task.tid,
            tgid: task.tgid,
            time: task.time,
        }
    }

    /// The task's tid.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// The guest's clocks `(CLOCK_REALTIME, CLOCK_MONOTONIC)` in ns, as `clock_gettime`
    /// reads them here at `cpu_ns` of its hart's modelled time.
    pub fn now(&self, cpu_ns: u64) -> (u64, u64) {
        self.time.now(cpu_ns)
    }
}

/// Whether `file` is one whose `read`/`write`/`llseek`/`getdents` neither blocks nor
/// wakes another task: a VFS file (tmpfs regular file, directory, character device).
fn lock_free_file(file: &OpenFile) -> bool {
    matches!(file.target(), FileTarget::Inode(_))
}

/// The open description of descriptor `fd` (an `unsigned int`) if it is a
/// [`lock_free_file`]: `Some(Ok(file))`; `Some(Err(EBADF))` for a descriptor that is
/// not open (the answer under the kernel lock too); `None` for any other file.
fn lock_free_fd(cur: &Current, fd: u64) -> Option<KResult<Arc<OpenFile>>> {
    match cur.fs.fds.get(fd as u32) {
        Ok(f) if lock_free_file(&f) => Some(Ok(f)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

/// A read or write's result: a VFS file never reports that it would block.
fn io(r: IoResult<u64>) -> KResult<u64> {
    match r {
        Ok(n) => Ok(n),
        Err(IoError::Errno(e)) => Err(e),
        Err(IoError::WouldBlock(_)) => Err(Errno::EAGAIN),
    }
}

/// Serves system call `nr` with arguments `a` of the task `cur` describes, whose address
/// space is `mm`, without the kernel lock, if it is one of the calls this module serves
/// (see the module docs): `Some(result)`. `None`, having done nothing, for any other
/// call or file: the kernel serves it under its lock. `cpu_ns` is the calling thread's
/// CPU time (its hart's modelled cycles at the nominal clock) for `clock_gettime`.
/// Descriptions that `close`/`dup3` took out of the table and that are not VFS files go
/// to `deferred_fput`, for the kernel to release under its lock.
#[allow(non_upper_case_globals)] // the SYS_<name> constants in patterns
pub fn file_call(
    cur: &mut Current,
    mm: &MmStruct,
    cpu_ns: u64,
    nr: u64,
    a: [u64; 6],
    deferred_fput: &mut Vec<Arc<OpenFile>>,
) -> Option<KResult<u64>> {
    let mut user: &MmStruct = mm.uaccess();
    let u: &mut dyn UserAccess = &mut user;
    let vfs = &*cur.vfs;
    let rw = |cur: &Current, u: &mut dyn UserAccess| {
        let file = match lock_free_fd(cur, a[0])? {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let ctx = &mut FileCtx::current(vfs, u);
        Some(match nr {
            SYS_read => io(fs::ksys_read(ctx, &file, a[1], a[2])),
            SYS_write => io(fs::ksys_write(ctx, &file, a[1], a[2])),
            SYS_readv => io(fs::do_readv(ctx, &file, a[1], a[2])),
            SYS_writev => io(fs::do_writev(ctx, &file, a[1], a[2])),
            SYS_pread64 => fs::ksys_pread64(ctx, &file, a[1], a[2], a[3]),
            SYS_pwrite64 => fs::ksys_pwrite64(ctx, &file, a[1], a[2], a[3]),
            SYS_lseek => file.seek(a[1] as i64, a[2] as u32),
            _ => fs::getdents64(vfs, u, &file, a[1], a[2]),
        })
    };
    let p = &mut cur.fs;
    Some(match nr {
        // ksys_pread64()/ksys_pwrite64(): a negative offset is refused before the fd.
        SYS_pread64 | SYS_pwrite64 if (a[3] as i64) < 0 => Err(Errno::EINVAL),
        SYS_read | SYS_write | SYS_readv | SYS_writev | SYS_pread64 | SYS_pwrite64 | SYS_lseek
        | SYS_getdents64 => return rw(cur, u),
        SYS_openat => return fs::do_openat(p, vfs, u, a[0], a[1], a[2], a[3], false),
        SYS_close => fs::close_fd(p, a[0]).map(|f| {
            fput(f, deferred_fput);
            0
        }),
        SYS_dup3 => fs::do_dup3(p, a[0], a[1], a[2]).map(|(fd, old)| {
            if let Some(f) = old {
                fput(f, deferred_fput);
            }
            fd
        }),
        SYS_dup => fs::sys_dup(p, a[0]),
        SYS_fcntl => fs::sys_fcntl(p, a[0], a[1], a[2]),
        SYS_fstat => fs::sys_fstat(p, vfs, u, a[0], a[1]),
        SYS_newfstatat => fs::sys_newfstatat(p, vfs, u, a[0], a[1], a[2], a[3]),
        SYS_statx => fs::sys_statx(p, vfs, u, a[0], a[1], a[2], a[3], a[4]),
        SYS_getcwd => fs::sys_getcwd(p, vfs, u, a[0], a[1]),
        SYS_umask => Ok(u64::from(p.fs.set_umask((a[0] as u32) & 0o777))),
        SYS_getpid => Ok(u64::from(cur.tgid)),
        SYS_gettid => Ok(u64::from(cur.tid)),
        SYS_getppid => Ok(u64::from(cur.signal.ppid())),
        SYS_getuid | SYS_geteuid | SYS_getgid | SYS_getegid => Ok(0),
        SYS_uname => misc::sys_uname(u, a[0]),
        SYS_clock_gettime => {
            let threads = cur.signal.threads();
            misc::sys_clock_gettime(
                u,
                &cur.time,
                cpu_ns,
                cpu_ns,
                (cur.tgid, cur.tid, &threads),
                a[0],
                a[1],
            )
        }
        SYS_getrandom => super::getrandom(&cur.signal, u, a),
        _ => return None,
    })
}

/// `futex(uaddr, op, val, timeout | val2, uaddr2, val3)` (arguments `a`) of the task
/// `cur` describes, whose address space is `mm`, without the kernel lock
/// ([`futex::do_futex`] on the machine's table `hash`, the time from `cur`'s clock at
/// `cpu_ns` as `clock_gettime` reads it). Every outcome but a sleep is the call's result
/// (`Ok`); a wait that must sleep is queued on its bucket here and handed to the kernel
/// lock to block (`Err`): the kernel checks the waiter's woken mark before it puts the
/// task to sleep ([`futex`]'s *No lost wake-ups*). The waiters a wake or requeue took go
/// to `wake_q`, for the kernel's `wake_up_q()`.
pub fn futex_call(
    cur: &Current,
    mm: &MmStruct,
    hash: &FutexHash,
    cpu_ns: u64,
    a: [u64; 6],
    wake_q: &mut WakeList,
) -> Result<KResult<u64>, FutexSleep> {
    let caller = FutexCaller {
        mm,
        tid: cur.tid,
        now: cur.time.now(cpu_ns),
    };
    match futex::do_futex(hash, &caller, a, wake_q) {
        Ok(FutexRet::Return(v)) => Ok(Ok(v)),
        Err(e) => Ok(Err(e)),
        Ok(FutexRet::Sleep(sleep)) => Err(sleep),
    }
}

/// `fput()` of a description a descriptor no longer names: dropped here for a VFS file,
/// whose release needs no lock of the kernel's; kept in `deferred` for the kernel lock
/// otherwise (Linux's `task_work` fput on the way back to user mode).
fn fput(file: Arc<OpenFile>, deferred: &mut Vec<Arc<OpenFile>>) {
    if !lock_free_file(&file) {
        deferred.push(file);
    }
}

#[cfg(test)]
mod tests {
    //! The calls served here against a real task (address space in guest RAM, the VFS,
    //! its descriptor table), with the kernel's answers as the oracle: what a call does
    //! here is what it does under the kernel lock, and what it leaves alone is untouched.

    use std::sync::Arc;

    use mmu::{AdScheme, SatpMode};

    use super::*;
    use crate::fs::{IoError, AT_FDCWD, O_CREAT, O_NONBLOCK, O_RDWR};
    use crate::mm::test_support::{ANON, P, RW};
    use crate::mm::Mm;

    /// A task (pid 1) with a 16-page scratch area, and that area's address.
    fn task() -> (Task, u64) {
        let phys = crate::mm::test_support::phys(32);
        let mut mm = Mm::new(Arc::clone(&phys), SatpMode::Sv39, AdScheme::Svadu, 1).unwrap();
        let scratch = mm.do_mmap(0, 16 * P, RW, ANON, None, 0).unwrap();
        let t = crate::process::test_init(mm);
        t.vfs.proc_register(1).unwrap();
        (t, scratch)
    }

    /// `file_call` of task `t` with `deferred` for the releases it leaves.
    fn call(
        t: &Task,
        cur: &mut Current,
        nr: u64,
        a: [u64; 6],
        deferred: &mut Vec<Arc<OpenFile>>,
    ) -> Option<KResult<u64>> {
        let mm = t.mm.clone().unwrap();
        file_call(cur, &mm, 0, nr, a, deferred)
    }

    fn poke(t: &Task, va: u64, data: &[u8]) {
        t.mm.as_ref()
            .unwrap()
            .uaccess()
            .copy_to_user(va, data)
            .unwrap();
    }

    fn peek(t: &Task, va: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        t.mm.as_ref()
            .unwrap()
            .uaccess()
            .copy_from_user(va, &mut v)
            .unwrap();
        v
    }

    #[test]
    fn a_tmpfs_file_is_opened_written_read_and_closed_here() {
        let (t, s) = task();
        let mut cur = Current::of(&t);
        let mut deferred = Vec::new();
        poke(&t, s, b"/tmp/f\0");
        let flags = u64::from(O_CREAT | O_RDWR);
        let at = AT_FDCWD as u64;
        let fd = call(
            &t,
            &mut cur,
            SYS_openat,
            [at, s, flags, 0o600, 0, 0],
            &mut deferred,
        )
        .unwrap()
        .unwrap();
        poke(&t, s + P, b"hello, file");
        let w = [fd, s + P, 11, 0, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_write, w, &mut deferred),
            Some(Ok(11))
        );
        let r = [fd, s + 2 * P, 64, 0, 0, 0];
        // The position is the description's: at the end, nothing to read.
        assert_eq!(call(&t, &mut cur, SYS_read, r, &mut deferred), Some(Ok(0)));
        // pread64 past the end: the bytes there are.
        let pr = [fd, s + 2 * P, 8, 7, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_pread64, pr, &mut deferred),
            Some(Ok(4))
        );
        assert_eq!(peek(&t, s + 2 * P, 4), b"file");
        let seek = [fd, 0, 0, 0, 0, 0];
        assert_eq!(
            call(&t, &mut cur, SYS_lseek, seek, &mut deferred),
            Some(Ok(0))
        );
        assert_eq!(call(&t, &mut cur, SYS_read, r, &mut deferred), Some(Ok(11)));
        assert_eq!(peek(&t, s + 2 * P, 11), b"hello, file");
        // The same shared table: the task sees the descriptor, then sees it closed.
        assert!(t.fs.fds.get(fd as u32).is_ok());
        let c = [fd, 0, 0, 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_close, c, &mut deferred), Some(Ok(0)));
        assert!(deferred.is_empty(), "a tmpfs file is released here");
        assert_eq!(t.fs.fds.get(fd as u32).err(), Some(Errno::EBADF));
        assert_eq!(
            call(&t, &mut cur, SYS_read, r, &mut deferred),
            Some(Err(Errno::EBADF))
        );
        assert_eq!(
            call(&t, &mut cur, SYS_getpid, [0; 6], &mut deferred),
            Some(Ok(1))
        );
    }

    #[test]
    fn a_pipe_is_left_to_the_kernel_and_its_release_deferred() {
        let (mut t, s) = task();
        let mut deferred = Vec::new();
        let mm = t.mm.clone().unwrap();
        fs::sys_pipe2(
            &mut t.fs,
            &t.vfs,
            &mut mm.uaccess(),
            s,
            u64::from(O_NONBLOCK),
        )
        .unwrap();
        let fds = peek(&t, s, 8);
        let rd = u64::from(u32::from_le_bytes(fds[..4].try_into().unwrap()));
        let wr = u64::from(u32::from_le_bytes(fds[4..].try_into().unwrap()));
        let mut cur = Current::of(&t);
        let read = [rd, s + P, 8, 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_read, read, &mut deferred), None);
        assert_eq!(
            call(&t, &mut cur, SYS_write, [wr, s, 1, 0, 0, 0], &mut deferred),
            None
        );
        assert_eq!(
            call(&t, &mut cur, SYS_lseek, [rd, 0, 0, 0, 0, 0], &mut deferred),
            None
        );
        // close() of the write end here: the descriptor goes at once, the release (the
        // reader's end of file) waits for the kernel lock.
        let c = [wr, 0, 0, 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_close, c, &mut deferred), Some(Ok(0)));
        assert_eq!(t.fs.fds.get(wr as u32).err(), Some(Errno::EBADF));
        assert_eq!(deferred.len(), 1);
        let mut u = mm.uaccess();
        let r = fs::sys_read(&mut t.fs, &t.vfs, &mut u, rd, s + P, 8);
        assert_eq!(
            r.err(),
            Some(IoError::Errno(Errno::EAGAIN)),
            "a writer is left"
        );
        drop(std::mem::take(&mut deferred));
        let r = fs::sys_read(&mut t.fs, &t.vfs, &mut u, rd, s + P, 8);
        assert_eq!(r.ok(), Some(0), "end of file once released");
    }

    #[test]
    fn an_open_of_a_kernel_served_file_is_left_to_the_kernel_without_a_trace() {
        let (t, s) = task();
        let mut cur = Current::of(&t);
        let mut deferred = Vec::new();
        let before = t.fs.fds.open_fds();
        poke(&t, s, b"/proc/1/mem\0");
        let a = [AT_FDCWD as u64, s, u64::from(O_RDWR), 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_openat, a, &mut deferred), None);
        assert_eq!(t.fs.fds.open_fds(), before);
        // Through a symbolic link on tmpfs too.
        let mm = t.mm.clone().unwrap();
        poke(&t, s + P, b"/tmp/mem\0");
        fs::sys_symlinkat(
            &mut Current::of(&t).fs,
            &t.vfs,
            &mut mm.uaccess(),
            s,
            AT_FDCWD as u64,
            s + P,
        )
        .unwrap();
        let a = [AT_FDCWD as u64, s + P, u64::from(O_RDWR), 0, 0, 0];
        assert_eq!(call(&t, &mut cur, SYS_openat, a, &mut deferred), None);
        assert_eq!(t.fs.fds.open_fds(), before);
    }

    #[test]
    fn futex_calls_are_served_here_and_a_sleeping_wait_is_handed_back_queued() {
        use crate::futex::{FutexWord, FUTEX_PRIVATE_FLAG, FUTEX_WAIT, FUTEX_WAKE};
        let (t, s) = task();
        let cur = Current::of(&t);
        let mm = t.mm.clone().unwrap();
        let hash = FutexHash::new(1);
        let mut woken = WakeList::new();
        let wait = u64::from(FUTEX_WAIT) | FUTEX_PRIVATE_FLAG;
        let wake = u64::from(FUTEX_WAKE) | FUTEX_PRIVATE_FLAG;
        let futex = |a: [u64; 6], woken: &mut WakeList| futex_call(&cur, &mm, &hash, 0, a, woken);
        // The word is in a page never touched: the read under the bucket lock cannot
        // fault it in, the read outside it does (a zero page), and the wait goes on.
        assert_eq!(
            mm.read_nofault(s),
            None,
            "not present: no fault under the lock"
        );
        assert!(matches!(
            futex([s, wait, 1, 0, 0, 0], &mut woken),
            Ok(Err(Errno::EAGAIN))
        ));
        poke(&t, s, &7u32.to_le_bytes());
        assert_eq!(mm.read_nofault(s), Some(7));
        // A writer holds the mmap_lock (another thread, as an munmap on another hart):
        // the read under the bucket lock does not wait for it.
        std::thread::scope(|sc| {
            let (held_tx, held_rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let m = &mm;
            sc.spawn(move || {
                let _writer = m.mmap_write_lock();
                held_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            });
            held_rx.recv().unwrap();
            assert_eq!(mm.read_nofault(s), None, "mmap_lock taken by trylock only");
            done_tx.send(()).unwrap();
        });
        // Zero timeout: the timer has fired already.
        poke(&t, s + 64, &[0; 16]);
        assert!(matches!(
            futex([s, wait, 7, s + 64, 0, 0], &mut woken),
            Ok(Err(Errno::ETIMEDOUT))
        ));
        assert!(matches!(
            futex([s + 2, wait, 7, 0, 0, 0], &mut woken),
            Ok(Err(Errno::EINVAL))
        ));
        assert!(matches!(
            futex([1 << 60, wake, 1, 0, 0, 0], &mut woken),
            Ok(Err(Errno::EFAULT))
        ));
        assert!(hash.is_empty(), "no outcome above left a waiter queued");
        // A wait that must sleep comes back queued; a wake served here takes it.
        let sleep = match futex([s, wait, 7, 0, 0, 0], &mut woken) {
            Err(sleep) => sleep,
            Ok(r) => panic!("the wait should sleep: {r:?}"),
        };
        assert_eq!(sleep.deadline, None);
        assert!(!sleep.q.is_woken());
        assert!(matches!(
            futex([s, wake, 5, 0, 0, 0], &mut woken),
            Ok(Ok(1))
        ));
        assert!(sleep.q.is_woken(), "futex_wake_mark()");
        assert_eq!(woken.len(), 1);
        assert!(
            Arc::ptr_eq(&woken[0], &sleep.q),
            "handed back for wake_up_q()"
        );
        assert!(!hash.unqueue(&sleep.q), "a woken waiter is off its bucket");
        assert!(matches!(
            futex([s, wake, 5, 0, 0, 0], &mut woken),
            Ok(Ok(0))
        ));
    }
}
