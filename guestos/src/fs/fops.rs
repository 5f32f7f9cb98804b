//! `struct file_operations` (include/linux/fs.h): what a kind of file does when it is
//! read, written, seeked, `ioctl`ed, mapped, polled and finally released. Every open file
//! description ([`OpenFile`]) reaches its operations through one trait object
//! ([`OpenFile::f_op`]), chosen when the file is opened, as Linux copies `inode->i_fop`
//! into `file->f_op`:
//!
//! | file | operations | Linux |
//! |---|---|---|
//! | tmpfs regular file | `ShmemFile` (`fs/file.rs`) | `shmem_file_operations` |
//! | directory | `DirFile` (`fs/file.rs`) | `simple_dir_operations` |
//! | `/dev/null`, `/dev/zero`, `/dev/urandom` | [`super::CharDev`] (`fs/dev.rs`) | `null_fops`, `zero_fops`, `urandom_fops` |
//! | pipe end | [`super::PipeEnd`] | `pipefifo_fops` |
//! | host stream behind fds 0–2 | [`super::HostFile`] | a tty's `tty_fops` / a pipe's |
//! | `/proc/<pid>/mem`, `maps`, `pagemap` | [`crate::procfs`] | `proc_mem_operations`, `proc_pid_maps_operations`, `proc_pagemap_operations` |
//! | `/sys/kernel/debug/gup_test` | [`crate::debugfs`] | `gup_test_fops` |
//!
//! A method a kind of file does not provide keeps the trait's default, which is what
//! Linux does for a `NULL` pointer in `struct file_operations`: no `read` is `EINVAL`
//! (`vfs_read()` without `FMODE_CAN_READ`), no `llseek` is `ESPIPE` (`vfs_llseek()`
//! without `FMODE_LSEEK`), no `unlocked_ioctl` is `ENOTTY` (`vfs_ioctl()`), no `mmap` is
//! `ENODEV` (`call_mmap()`), no `poll` is [`DEFAULT_POLLMASK`] (`vfs_poll()`).
//!
//! # What an operation may reach: [`FileCtx`]
//! The file description and the file are passed in; everything else a file needs from
//! the kernel comes through a [`FileCtx`], never through globals: the caller's memory
//! (`copy_to_user()` on `current->mm`), the VFS (clock, `/dev/urandom`'s generator), and,
//! for files that reach into a task (procfs's per-task files, `gup_test` on
//! `current->mm`), the process table with the caller's pid. The process table stands
//! for the one kernel lock the kernel holds while it serves a system call; when that lock
//! gives way to per-structure locks, [`FileCtx::tasks`] becomes a look-up of a task
//! handle (`find_get_task_by_vpid()`, `get_task_mm()`) and the context shrinks to
//! `current`'s handles.
//!
//! # Locking
//! The read, write and seek entry points of [`OpenFile`] hold the description's position
//! lock (`f_pos_lock`) around the operation and pass the position in a [`Kiocb`]: an
//! operation must not call [`OpenFile::pos`] or [`OpenFile::flags`] (the flags at the call
//! are in the [`Kiocb`]).

use std::fmt;

use bitflags::bitflags;

use super::file::{OpenFile, CHUNK};
use super::vfs::Vfs;
use super::{IoResult, O_APPEND, O_NOATIME, O_NONBLOCK};
use crate::errno::{Errno, KResult};
use crate::mm::MmapOp;
use crate::process::Tasks;
use crate::uaccess::UserAccess;

bitflags! {
    /// `__poll_t`: the events a file's `poll` reports ready, with Linux's values
    /// (include/uapi/asm-generic/poll.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PollMask: u32 {
        /// `POLLIN`: there is data to read (or end of file).
        const POLLIN = 0x0001;
        /// `POLLPRI`: urgent data.
        const POLLPRI = 0x0002;
        /// `POLLOUT`: writing does not block.
        const POLLOUT = 0x0004;
        /// `POLLERR`: an error condition (a pipe's write end without readers).
        const POLLERR = 0x0008;
        /// `POLLHUP`: hang-up (a pipe's read end without writers).
        const POLLHUP = 0x0010;
        /// `POLLNVAL`: the descriptor is not open (set by the poll calls, not by files).
        const POLLNVAL = 0x0020;
        /// `POLLRDNORM`: normal data to read.
        const POLLRDNORM = 0x0040;
        /// `POLLRDBAND`: priority-band data to read.
        const POLLRDBAND = 0x0080;
        /// `POLLWRNORM`: normal data may be written.
        const POLLWRNORM = 0x0100;
        /// `POLLWRBAND`: priority-band data may be written.
        const POLLWRBAND = 0x0200;
    }
}

/// `DEFAULT_POLLMASK` (include/linux/poll.h): what `vfs_poll()` reports for a file
/// without `poll` (regular files, procfs, devices): always readable and writable.
pub const DEFAULT_POLLMASK: PollMask = PollMask::POLLIN
    .union(PollMask::POLLOUT)
    .union(PollMask::POLLRDNORM)
    .union(PollMask::POLLWRNORM);

/// `struct kiocb` of one read or write: the file position it starts at (the
/// description's `f_pos`, or `pread`/`pwrite`'s offset), which the operation advances by
/// what it moved, and the description's `f_flags` at the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kiocb {
    /// `ki_pos`: the position in bytes.
    pub pos: u64,
    /// `f_flags` (`O_NONBLOCK`, `O_APPEND`, `O_NOATIME`…) when the call started.
    pub flags: u32,
}

impl Kiocb {
    /// `IOCB_NOWAIT` for a pipe: `O_NONBLOCK`.
    pub fn nonblock(&self) -> bool {
        self.flags & O_NONBLOCK != 0
    }

    /// `IOCB_APPEND`: every write goes to the end of the file.
    pub fn append(&self) -> bool {
        self.flags & O_APPEND != 0
    }

    /// `O_NOATIME`: a read leaves the access time alone.
    pub fn noatime(&self) -> bool {
        self.flags & O_NOATIME != 0
    }
}

/// Where the bytes of a write come from (a one-segment `struct iov_iter` source).
#[derive(Debug, Clone, Copy)]
pub enum WriteSource<'b> {
    /// `ITER_UBUF`: the caller's memory from this address on.
    User(u64),
    /// `ITER_KVEC`: bytes the kernel already holds (a `writev` of at most `PIPE_BUF`
    /// bytes gathered into one piece, so it lands in a pipe at once).
    Kernel(&'b [u8]),
}

/// The kernel a file operation runs in: the caller's memory, the VFS and, where the
/// kernel serves the call with it, the process table (see the module docs).
pub struct FileCtx<'a, 'p> {
    vfs: &'a Vfs,
    kernel: KernelView<'a, 'p>,
}

/// The caller's memory as [`FileCtx::user`] hands it out: the memory a plain file call
/// was given, or the caller's address space found through the task table (a user
/// reference, `mmget()`), each access taking the read side of its `mmap_lock` for its
/// own length as `copy_to_user()` does.
pub enum UserMem<'u> {
    /// The calling task's memory, borrowed from the system call.
    Current(&'u mut dyn UserAccess),
    /// The caller's address space, no side of its `mmap_lock` held between accesses.
    Task(crate::mm::MmUsers),
}

impl<'u> std::ops::Deref for UserMem<'u> {
    type Target = dyn UserAccess + 'u;

    fn deref(&self) -> &(dyn UserAccess + 'u) {
        match self {
            UserMem::Current(u) => &**u,
            UserMem::Task(mm) => mm,
        }
    }
}

impl<'u> std::ops::DerefMut for UserMem<'u> {
    fn deref_mut(&mut self) -> &mut (dyn UserAccess + 'u) {
        match self {
            UserMem::Current(u) => &mut **u,
            UserMem::Task(mm) => mm,
        }
    }
}

/// What of the kernel a [`FileCtx`] holds besides the VFS.
enum KernelView<'a, 'p> {
    /// Only the calling task's memory (the system calls that run with the caller's own
    /// parts: `syscall::handle`).
    Current(&'a mut dyn UserAccess),
    /// The whole process table and who calls (the kernel's dispatch of kernel-served
    /// files, `syscall::kfile`).
    Tasks {
        tasks: &'a mut Tasks<'p>,
        caller: u32,
    },
    /// The calling task's own parts, without the process table (a hart serving a
    /// kernel-served file that needs no other task, `syscall::unlocked`).
    Caller {
        user: &'a mut dyn UserAccess,
        caller: CallerParts<'a>,
    },
}

/// What of the calling task (`current`) a kernel-served file may use without the
/// process table: its tid, its address space (`current->mm`) and its host streams (the
/// kernel log of `gup_test` goes to its stderr).
#[derive(Clone, Copy)]
pub struct CallerParts<'a> {
    /// `current->pid`.
    pub tid: u32,
    /// `current->mm`.
    pub mm: &'a crate::mm::MmStruct,
    /// The streams behind its fds 0-2.
    pub stdio: &'a super::HostStreams,
}

impl fmt::Debug for FileCtx<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let caller = match &self.kernel {
            KernelView::Current(_) => None,
            KernelView::Tasks { caller, .. } => Some(*caller),
            KernelView::Caller { caller, .. } => Some(caller.tid),
        };
        f.debug_struct("FileCtx")
            .field("caller", &caller)
            .finish_non_exhaustive()
    }
}

impl<'a, 'p> FileCtx<'a, 'p> {
    /// A context with the caller's memory `user` only: enough for files that do not
    /// reach into any task (tmpfs, devices, pipes, host streams).
    pub fn current(vfs: &'a Vfs, user: &'a mut dyn UserAccess) -> Self {
        FileCtx {
            vfs,
            kernel: KernelView::Current(user),
        }
    }

    /// A context with the process table, the call being made by task `caller` (its
    /// memory is `tasks.get_task_mm(caller)`).
    pub fn with_tasks(vfs: &'a Vfs, tasks: &'a mut Tasks<'p>, caller: u32) -> Self {
        FileCtx {
            vfs,
            kernel: KernelView::Tasks { tasks, caller },
        }
    }

    /// A context with the calling task's own parts `caller` and its memory `user`: for
    /// the kernel-served files whose operations reach no other task
    /// ([`FileOperations::needs_tasks`] is `false`).
    pub fn with_caller(
        vfs: &'a Vfs,
        user: &'a mut dyn UserAccess,
        caller: CallerParts<'a>,
    ) -> Self {
        FileCtx {
            vfs,
            kernel: KernelView::Caller { user, caller },
        }
    }

    /// Runs `f` on the caller's tid, address space (a user reference held for the call)
    /// and host streams, found through the process table or given as the caller's own.
    ///
    /// # Errors
    /// `ESRCH` if the caller is gone or has no address space; `EIO` on a path that has
    /// neither (a plain file call).
    pub fn with_caller_parts<R>(&mut self, f: impl FnOnce(CallerParts<'_>) -> R) -> KResult<R> {
        match &mut self.kernel {
            KernelView::Current(_) => Err(Errno::EIO),
            KernelView::Caller { caller, .. } => Ok(f(*caller)),
            KernelView::Tasks { tasks, caller } => {
                let p = tasks.get(*caller).ok_or(Errno::ESRCH)?;
                let stdio = std::sync::Arc::clone(&p.stdio);
                let mm = p.mm.clone().ok_or(Errno::ESRCH)?;
                Ok(f(CallerParts {
                    tid: *caller,
                    mm: &mm,
                    stdio: &stdio,
                }))
            }
        }
    }

    /// The VFS (clock, random generator).
    pub fn vfs(&self) -> &'a Vfs {
        self.vfs
    }

    /// The caller's memory (`current->mm` for `copy_to_user()`).
    ///
    /// # Errors
    /// `EFAULT` if the caller has no address space any more.
    pub fn user(&mut self) -> KResult<UserMem<'_>> {
        match &mut self.kernel {
            KernelView::Current(u) | KernelView::Caller { user: u, .. } => {
                Ok(UserMem::Current(&mut **u))
            }
            KernelView::Tasks { tasks, caller } => tasks
                .get_task_mm(*caller)
                .map(UserMem::Task)
                .ok_or(Errno::EFAULT),
        }
    }

    /// The process table and the caller's pid, for a file that reaches into a task.
    ///
    /// # Errors
    /// `EIO` on a path that runs without the process table (the kernel serves the files
    /// that need it with it: see `syscall::kfile`).
    pub fn tasks(&mut self) -> KResult<(&mut Tasks<'p>, u32)> {
        match &mut self.kernel {
            KernelView::Current(_) | KernelView::Caller { .. } => Err(Errno::EIO),
            KernelView::Tasks { tasks, caller } => Ok((&mut **tasks, *caller)),
        }
    }

    /// `copy_to_user()` of `data` to the caller's memory at `va`, page by page: the bytes
    /// copied before a fault.
    ///
    /// # Errors
    /// `EFAULT` if not even the first byte could be copied.
    pub fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<usize> {
        let mut u = self.user()?;
        let mut done = 0usize;
        while done < data.len() {
            let addr = va.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let n = ((0x1000 - (addr & 0xfff)) as usize).min(data.len() - done);
            let piece = data.get(done..done + n).unwrap_or_default();
            if let Err(e) = u.copy_to_user(addr, piece) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            done += n;
        }
        Ok(done)
    }

    /// Fills `dst` with the bytes at offset `off` of a write's `src`.
    ///
    /// # Errors
    /// `EFAULT` if the caller's memory cannot be read or `src` is shorter.
    pub fn copy_from_source(
        &mut self,
        src: WriteSource<'_>,
        off: usize,
        dst: &mut [u8],
    ) -> KResult<()> {
        match src {
            WriteSource::User(base) => {
                let va = base.checked_add(off as u64).ok_or(Errno::EFAULT)?;
                self.user()?.copy_from_user(va, dst)
            }
            WriteSource::Kernel(bytes) => {
                let piece = bytes.get(off..off + dst.len()).ok_or(Errno::EFAULT)?;
                dst.copy_from_slice(piece);
                Ok(())
            }
        }
    }

    /// The read loop of a file that produces its bytes in pieces: up to `len` bytes to
    /// the caller's memory at `buf`, 64 KiB (`CHUNK`) at a time, each piece made by
    /// `fill` (given the bytes done so far and the piece to fill, it returns how many it
    /// produced: 0 is the end of the data). Stops at the end of the data or at a short
    /// copy.
    ///
    /// # Errors
    /// `fill`'s error, or `EFAULT` for the first piece, if nothing was copied; else the
    /// bytes copied.
    pub fn read_pieces(
        &mut self,
        buf: u64,
        len: usize,
        fill: &mut dyn FnMut(usize, &mut [u8]) -> KResult<usize>,
    ) -> KResult<usize> {
        let mut done = 0usize;
        let mut piece = vec![0u8; len.min(CHUNK)];
        while done < len {
            let want = (len - done).min(CHUNK);
            let chunk = piece.get_mut(..want).unwrap_or_default();
            let got = match fill(done, chunk) {
                Ok(n) => n.min(want),
                Err(e) => return partial(done, e),
            };
            if got == 0 {
                break;
            }
            let data = chunk.get(..got).unwrap_or_default();
            let copied = match self.copy_to_user(buf.wrapping_add(done as u64), data) {
                Ok(c) => c.min(got),
                Err(e) => return partial(done, e),
            };
            done += copied;
            if copied < got {
                break;
            }
        }
        Ok(done)
    }

    /// The write loop of a file that consumes its bytes in pieces: `len` bytes of `src`,
    /// 64 KiB (`CHUNK`) at a time, each piece handed to `put`, which returns how many
    /// it took. Stops at a short `put`.
    ///
    /// # Errors
    /// The copy's or `put`'s error if nothing was written; else the bytes written.
    pub fn write_pieces(
        &mut self,
        src: WriteSource<'_>,
        len: usize,
        put: &mut dyn FnMut(&[u8]) -> KResult<usize>,
    ) -> KResult<usize> {
        let mut done = 0usize;
        let mut piece = vec![0u8; len.min(CHUNK)];
        while done < len {
            let want = (len - done).min(CHUNK);
            let chunk = piece.get_mut(..want).unwrap_or_default();
            if let Err(e) = self.copy_from_source(src, done, chunk) {
                return partial(done, e);
            }
            let took = match put(chunk) {
                Ok(n) => n.min(want),
                Err(e) => return partial(done, e),
            };
            done += took;
            if took < want {
                break;
            }
        }
        Ok(done)
    }
}

/// A short count if anything was done, else the error.
pub(super) fn partial(done: usize, e: Errno) -> KResult<usize> {
    if done > 0 {
        Ok(done)
    } else {
        Err(e)
    }
}

/// `struct file_operations`: the operations of one kind of file. The object is the
/// description's `file->f_op` together with its `file->private_data` (state made by
/// `open`, dropped with the description). Every method has Linux's default for a
/// missing operation (see the module docs).
pub trait FileOperations: Send + Sync + fmt::Debug {
    /// `->open`: finishes the open (binds the file to a task, checks the task may be
    /// opened), giving these operations their per-open state. Runs right after the VFS
    /// made the description, before any other operation; a second call keeps the first
    /// state. The default accepts.
    ///
    /// # Errors
    /// The file's; the open then fails and the descriptor is closed.
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> KResult<()> {
        let _ = ctx;
        Ok(())
    }

    /// `->read_iter`: reads up to `len` bytes at `iocb.pos` to the caller's memory at
    /// `buf`, advancing `iocb.pos` by what it read (a stream file leaves it alone).
    /// `len` is already clamped to `MAX_RW_COUNT` and the access checked.
    ///
    /// # Errors
    /// The file's; the default is `EINVAL` (no `FMODE_CAN_READ`).
    fn read(
        &self,
        file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        let _ = (file, ctx, iocb, buf, len);
        Err(Errno::EINVAL.into())
    }

    /// `->write_iter`: writes `len` bytes of `src` at `iocb.pos` (or the end with
    /// `O_APPEND`), advancing `iocb.pos` past them.
    ///
    /// # Errors
    /// The file's; the default is `EINVAL` (no `FMODE_CAN_WRITE`).
    fn write(
        &self,
        file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        let _ = (file, ctx, iocb, src, len);
        Err(Errno::EINVAL.into())
    }

    /// `->llseek`: the new position for `offset` from `whence` (at most `SEEK_HOLE`,
    /// `ksys_lseek()` refused the rest), the current one being `pos`.
    ///
    /// # Errors
    /// The file's (`EINVAL`, `ENXIO`); the default is `ESPIPE` (no `FMODE_LSEEK`).
    fn llseek(&self, file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        let _ = (file, offset, whence, pos);
        Err(Errno::ESPIPE)
    }

    /// Whether `->read`, `->write`, `->llseek` and `->unlocked_ioctl` reach into the
    /// process table (a procfs file: another task's state) — the kernel serves them
    /// with it, under its lock — or need only the caller's own parts
    /// ([`FileCtx::with_caller_parts`]: `gup_test` on `current->mm`), which the hart
    /// running the caller serves without it. The default is `true`; only kernel-served
    /// files are asked.
    fn needs_tasks(&self) -> bool {
        true
    }

    /// `->unlocked_ioctl`: command `cmd` with argument `arg` (the commands
    /// `do_vfs_ioctl()` serves for every file never arrive here).
    ///
    /// # Errors
    /// The command's; the default is `ENOTTY` (`vfs_ioctl()` without the operation).
    fn unlocked_ioctl(
        &self,
        file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        cmd: u32,
        arg: u64,
    ) -> KResult<u64> {
        let _ = (file, ctx, cmd, arg);
        Err(Errno::ENOTTY)
    }

    /// `->mmap`: what mapping the file makes. The default, [`MmapOp::None`], makes
    /// `mmap` fail with `ENODEV`.
    fn mmap(&self, file: &OpenFile) -> MmapOp {
        let _ = file;
        MmapOp::None
    }

    /// `->poll`: the events ready now (registering for a wake-up is the poll calls'
    /// business). The default is [`DEFAULT_POLLMASK`].
    fn poll(&self, file: &OpenFile) -> PollMask {
        let _ = file;
        DEFAULT_POLLMASK
    }

    /// The wait queues a caller blocked on this file sleeps on (`poll_wait()` calls in
    /// `->poll`): each goes into `pt`. The default is none: the file never makes a
    /// caller wait.
    fn poll_wait(&self, file: &OpenFile, pt: &mut super::PollTable) {
        let _ = (file, pt);
    }

    /// Whether a `read` (`reading`) or `write` that returned [`super::IoError::WouldBlock`]
    /// may go on now: the condition its sleeper checks once more after queueing on
    /// [`FileOperations::poll_wait`]'s queues (`wait_event_interruptible()`'s condition).
    /// The default reads it from [`FileOperations::poll`] (`POLLIN`/`POLLHUP`/`POLLERR`
    /// for a read, `POLLOUT`/`POLLERR` for a write); a file whose `poll` does not say it
    /// (a blocking userfaultfd's is always `POLLERR`) gives its own.
    fn io_ready(&self, file: &OpenFile, reading: bool) -> bool {
        let want = if reading {
            PollMask::POLLIN | PollMask::POLLHUP | PollMask::POLLERR
        } else {
            PollMask::POLLOUT | PollMask::POLLERR
        };
        self.poll(file).intersects(want)
    }

    /// `file_can_poll()`: the file has a `->poll` of its own (pipes, terminals, epoll
    /// instances); `epoll_ctl` refuses the others (regular files, directories) with
    /// `EPERM`. The default is `false`.
    fn can_poll(&self) -> bool {
        false
    }

    /// `->release`: the last reference to the description is gone (its last descriptor
    /// closed, its last mapping unmapped). Runs once, before the state is dropped.
    fn release(&self, file: &OpenFile) {
        let _ = file;
    }

    /// `FMODE_CAN_READ`: the file has a `read`. Without one, `read` and `readv` fail
    /// with `EINVAL` before their buffer is looked at (`vfs_read()`, `vfs_readv()`).
    fn can_read(&self) -> bool {
        true
    }

    /// `FMODE_CAN_WRITE`: the file has a `write` (as [`FileOperations::can_read`]).
    fn can_write(&self) -> bool {
        true
    }

    /// `FMODE_STREAM` (`stream_open()`, `nonseekable_open()`): the file has no position;
    /// `pread`/`pwrite` fail with `ESPIPE`.
    fn is_stream(&self) -> bool {
        false
    }

    /// `FMODE_UNSIGNED_OFFSET` (`/proc/<pid>/mem`): every 64-bit value is a valid
    /// position (`rw_verify_area()` refuses only a range that wraps to 0).
    fn unsigned_offset(&self) -> bool {
        false
    }
}

/// The operations of a description that can do nothing but be closed (an `O_PATH`
/// descriptor of a symbolic link, of `/proc/self/exe`, of a kernel-served file): every
/// method keeps its default.
#[derive(Debug)]
pub(super) struct NoFileOps;

impl FileOperations for NoFileOps {
    fn can_read(&self) -> bool {
        false
    }

    fn can_write(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fs::{FileTarget, Pipe, Timespec, VfsConfig, FIONREAD, O_RDONLY, O_WRONLY};

    /// User memory that faults everywhere: no default may touch it.
    struct NoMemory;

    impl UserAccess for NoMemory {
        fn copy_from_user(&mut self, _va: u64, _buf: &mut [u8]) -> KResult<()> {
            Err(Errno::EFAULT)
        }

        fn copy_to_user(&mut self, _va: u64, _data: &[u8]) -> KResult<()> {
            Err(Errno::EFAULT)
        }
    }

    fn pipe() -> (Arc<OpenFile>, Arc<OpenFile>) {
        let (r, w) = Pipe::new_pair(7, Timespec::default(), None);
        (
            OpenFile::new(FileTarget::Pipe(r), O_RDONLY),
            OpenFile::new(FileTarget::Pipe(w), O_WRONLY),
        )
    }

    /// A file that provides nothing: every operation is Linux's default for a `NULL`
    /// pointer in `struct file_operations`.
    #[derive(Debug)]
    struct Nothing;
    impl FileOperations for Nothing {
        fn can_read(&self) -> bool {
            false
        }

        fn can_write(&self) -> bool {
            false
        }
    }

    #[test]
    fn missing_operations_get_linux_defaults() {
        let vfs = Vfs::new(VfsConfig::default());
        let mut user = NoMemory;
        let mut ctx = FileCtx::current(&vfs, &mut user);
        let (file, _w) = pipe();
        let mut iocb = Kiocb { pos: 5, flags: 0 };
        assert_eq!(Nothing.open(&mut ctx), Ok(()));
        // vfs_read()/vfs_write() without FMODE_CAN_READ/FMODE_CAN_WRITE.
        assert_eq!(
            Nothing.read(&file, &mut ctx, &mut iocb, 0x1000, 1),
            Err(Errno::EINVAL.into())
        );
        assert_eq!(
            Nothing.write(&file, &mut ctx, &mut iocb, WriteSource::Kernel(b"x"), 1),
            Err(Errno::EINVAL.into())
        );
        assert_eq!(iocb.pos, 5, "the position is left alone");
        // vfs_llseek() without FMODE_LSEEK, vfs_ioctl() without unlocked_ioctl.
        assert_eq!(Nothing.llseek(&file, 0, 0, 5), Err(Errno::ESPIPE));
        assert_eq!(
            Nothing.unlocked_ioctl(&file, &mut ctx, FIONREAD, 0x1000),
            Err(Errno::ENOTTY)
        );
        // call_mmap() without ->mmap is ENODEV; vfs_poll() without ->poll.
        assert_eq!(Nothing.mmap(&file), MmapOp::None);
        assert_eq!(Nothing.poll(&file), DEFAULT_POLLMASK);
        assert_eq!(
            DEFAULT_POLLMASK.bits(),
            0x0001 | 0x0004 | 0x0040 | 0x0100,
            "EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM"
        );
        assert!(!Nothing.is_stream() && !Nothing.unsigned_offset());
        // Without the process table, a file that needs it gets EIO.
        assert_eq!(ctx.tasks().err(), Some(Errno::EIO));
    }

    #[test]
    fn pipe_poll_reports_data_room_hangup_and_error_as_pipe_poll() {
        let (r, w) = pipe();
        let rd = PollMask::POLLIN | PollMask::POLLRDNORM;
        let wr = PollMask::POLLOUT | PollMask::POLLWRNORM;
        assert_eq!(
            r.poll(),
            PollMask::empty(),
            "empty, a writer: nothing ready"
        );
        assert_eq!(w.poll(), wr);
        let vfs = Vfs::new(VfsConfig::default());
        let mut user = NoMemory;
        let mut ctx = FileCtx::current(&vfs, &mut user);
        assert_eq!(
            w.write(&mut ctx, None, WriteSource::Kernel(b"hi"), 2),
            Ok(2)
        );
        assert_eq!(r.poll(), rd);
        // Fill every buffer: no room.
        let page = [0u8; 4096];
        while w.write(&mut ctx, None, WriteSource::Kernel(&page), 4096) == Ok(4096) {}
        assert_eq!(w.poll(), PollMask::empty());
        // The writer goes: data and hang-up; the reader goes: error for the writer.
        let (r2, w2) = pipe();
        drop(w);
        assert_eq!(r.poll(), rd | PollMask::POLLHUP);
        drop(r2);
        assert_eq!(w2.poll(), wr | PollMask::POLLERR);
        // Pipes have no position.
        assert!(r.is_stream());
        assert_eq!(r.seek(0, crate::fs::SEEK_SET), Err(Errno::ESPIPE));
        assert_eq!(
            r.seek(0, 5),
            Err(Errno::EINVAL),
            "ksys_lseek() checks whence first"
        );
    }
}
