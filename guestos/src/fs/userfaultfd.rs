//! `fs/userfaultfd.c`, the file: `userfaultfd(2)` makes an anonymous file
//! (`anon_inode:[userfaultfd]`) on the caller's address space; its `read` returns the
//! page faults of the ranges registered with it (`struct uffd_msg`), its `poll` says
//! whether one waits, its `ioctl`s register ranges and resolve faults, and its release
//! unregisters every range and wakes every waiting fault. The address-space side (the
//! context, the registrations, the fills, the uffd-wp bit) is
//! [`crate::mm::userfaultfd`]; the faulting task's sleep is the kernel's
//! (`kernel/userfault.rs`).
//!
//! | ioctl | Linux | errors |
//! |---|---|---|
//! | `UFFDIO_API` | `userfaultfd_api()` | `EINVAL` for another `api`, a feature not in [`UFFD_API_FEATURES`] or a second call (the struct is zeroed then); `EFAULT` |
//! | `UFFDIO_REGISTER` | `userfaultfd_register()` | `EINVAL` (mode, range, a VMA that cannot be registered), `ENOMEM` (no VMA), `EPERM`, `EBUSY`; writes `ioctls` |
//! | `UFFDIO_UNREGISTER` | `userfaultfd_unregister()` | as `REGISTER`'s range checks |
//! | `UFFDIO_WAKE` | `userfaultfd_wake()` | `EINVAL` (range) |
//! | `UFFDIO_COPY` | `userfaultfd_copy()` | `EINVAL`, `ENOENT`, `EEXIST`, `EFAULT`, `ENOMEM`, `EAGAIN` (part done); writes `copy` (bytes, or `-errno`) |
//! | `UFFDIO_ZEROPAGE` | `userfaultfd_zeropage()` | as `COPY`; writes `zeropage` |
//! | `UFFDIO_WRITEPROTECT` | `userfaultfd_writeprotect()` | `EINVAL` (mode, range), `ENOENT` |
//!
//! Every ioctl but `UFFDIO_API` fails with `EINVAL` before `UFFDIO_API` succeeded, and so
//! does `read`; `poll` then reports `POLLERR`, and always for a descriptor without
//! `O_NONBLOCK` (Linux: "poll() never guarantees that read won't block"). An unknown
//! command is `EINVAL`. A read of a blocking descriptor with no fault waiting sleeps
//! on the context's `fd_wqh` and is re-issued when a fault is queued.

use std::sync::Arc;

use devices::PAGE_SIZE;

use super::fops::{FileCtx, FileOperations, Kiocb, PollMask};
use super::wait::PollTable;
use super::{AnonFile, FileTarget, IoError, IoResult, OpenFile, ProcessFs, WaitOn};
use super::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::errno::{Errno, KResult};
use crate::mm::userfaultfd::{
    nr, range_ioctls, validate_range, validate_unaligned_range, UffdMsg, UserfaultfdCtx,
    UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_COPY_MODE_WP, UFFDIO_REGISTER_MODE_MINOR,
    UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
    UFFDIO_WRITEPROTECT_MODE_WP, UFFD_API, UFFD_API_FEATURES, UFFD_API_IOCTLS, UFFD_USER_MODE_ONLY,
};
use crate::mm::{MmUsers, VmFlags};
use crate::uaccess::UserAccess;

/// `_IOC(dir, 0xAA, nr, size)` of a `UFFDIO_*` command (`dir`: 3 `_IOWR`, 2 `_IOR`).
const fn uffdio(dir: u32, nr: u32, size: u32) -> u32 {
    (dir << 30) | (size << 16) | (0xAA << 8) | nr
}

/// `UFFDIO_API`: `_IOWR(UFFDIO, _UFFDIO_API, struct uffdio_api)` (24 bytes).
pub const UFFDIO_API: u32 = uffdio(3, nr::API, 24);
/// `UFFDIO_REGISTER`: `_IOWR(UFFDIO, _UFFDIO_REGISTER, struct uffdio_register)` (32).
pub const UFFDIO_REGISTER: u32 = uffdio(3, nr::REGISTER, 32);
/// `UFFDIO_UNREGISTER`: `_IOR(UFFDIO, _UFFDIO_UNREGISTER, struct uffdio_range)` (16).
pub const UFFDIO_UNREGISTER: u32 = uffdio(2, nr::UNREGISTER, 16);
/// `UFFDIO_WAKE`: `_IOR(UFFDIO, _UFFDIO_WAKE, struct uffdio_range)` (16).
pub const UFFDIO_WAKE: u32 = uffdio(2, nr::WAKE, 16);
/// `UFFDIO_COPY`: `_IOWR(UFFDIO, _UFFDIO_COPY, struct uffdio_copy)` (40).
pub const UFFDIO_COPY: u32 = uffdio(3, nr::COPY, 40);
/// `UFFDIO_ZEROPAGE`: `_IOWR(UFFDIO, _UFFDIO_ZEROPAGE, struct uffdio_zeropage)` (32).
pub const UFFDIO_ZEROPAGE: u32 = uffdio(3, nr::ZEROPAGE, 32);
/// `UFFDIO_WRITEPROTECT`: `_IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, struct
/// uffdio_writeprotect)` (24).
pub const UFFDIO_WRITEPROTECT: u32 = uffdio(3, nr::WRITEPROTECT, 24);

/// Reads the `N` 64-bit words of a uapi struct at `va` (every `uffdio_*` struct is made
/// of `__u64`/`__s64` fields).
fn get_words<const N: usize>(u: &mut dyn UserAccess, va: u64) -> KResult<[u64; N]> {
    let mut b = vec![0u8; N * 8];
    u.copy_from_user(va, &mut b)?;
    let mut w = [0u64; N];
    for (i, c) in b.chunks_exact(8).enumerate() {
        let mut v = [0u8; 8];
        v.copy_from_slice(c);
        if let Some(slot) = w.get_mut(i) {
            *slot = u64::from_le_bytes(v);
        }
    }
    Ok(w)
}

/// `put_user()` of one 64-bit field at `va`.
fn put_word(u: &mut dyn UserAccess, va: u64, v: u64) -> KResult<()> {
    u.copy_to_user(va, &v.to_le_bytes())
}

/// `USERFAULTFD_IOC_NEW` (`_IO(0xAA, 0x00)`): the one ioctl of `/dev/userfaultfd`, whose
/// argument is `userfaultfd(2)`'s flags.
pub const USERFAULTFD_IOC_NEW: u32 = 0xAA00;

/// `userfaultfd_dev_ioctl()`: an ioctl on descriptor `fd` of the caller (descriptor
/// table `p`, address space `mm`) that is `USERFAULTFD_IOC_NEW` on `/dev/userfaultfd`
/// makes a new userfaultfd on `mm` with flags `arg`, as [`sys_userfaultfd`] does —
/// `Some` of its result (`EINVAL` for bad flags, `EMFILE`). `None` for any other ioctl
/// (the device's other commands are `EINVAL` through its file operations).
pub fn userfaultfd_dev_ioctl(
    p: &mut ProcessFs,
    mm: &MmUsers,
    fd: u64,
    cmd: u64,
    arg: u64,
) -> Option<KResult<u64>> {
    let dev = p.fds.get(fd as u32).ok()?.char_dev();
    if cmd as u32 != USERFAULTFD_IOC_NEW || dev != Some(super::CharDev::Userfaultfd) {
        return None;
    }
    Some(sys_userfaultfd(p, mm, arg))
}

/// A userfaultfd's open file: its context (`file->private_data`).
#[derive(Debug)]
pub struct UserfaultfdFile {
    ctx: Arc<UserfaultfdCtx>,
}

/// `userfaultfd(flags)` (`new_userfaultfd()`): a new userfaultfd on the caller's address space `mm`, open
/// `O_RDWR` with `flags & O_NONBLOCK`, close-on-exec with `O_CLOEXEC`. Returns the
/// descriptor.
///
/// # Errors
/// `EINVAL` for flags outside `O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY`; `EMFILE`.
pub fn sys_userfaultfd(p: &mut ProcessFs, mm: &MmUsers, flags: u64) -> KResult<u64> {
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = Arc::new(UserfaultfdFile {
        ctx: UserfaultfdCtx::new(mm.mmgrab()),
    });
    let anon = AnonFile::new("[userfaultfd]", file);
    let path = anon.path();
    let f = OpenFile::new_named(FileTarget::Anon(anon), O_RDWR | (flags & O_NONBLOCK), path);
    let fd = p.fds.alloc(f, flags & O_CLOEXEC != 0, 0)?;
    Ok(u64::from(fd))
}

impl UserfaultfdFile {
    /// The context's address space, with a user reference (`mmget_not_zero()`).
    ///
    /// # Errors
    /// `ESRCH` once it has no users.
    fn mm(&self) -> KResult<MmUsers> {
        self.ctx.mm().mmget_not_zero().ok_or(Errno::ESRCH)
    }

    /// `userfaultfd_api()`.
    fn api(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [api, features, _] = get_words::<3>(u, arg)?;
        let ok = api == UFFD_API && features & !UFFD_API_FEATURES == 0;
        if ok {
            for (i, v) in [UFFD_API, UFFD_API_FEATURES, UFFD_API_IOCTLS]
                .into_iter()
                .enumerate()
            {
                put_word(u, arg + 8 * i as u64, v)?;
            }
            if self.ctx.set_features(features).is_ok() {
                return Ok(0);
            }
        }
        // err_out: the struct is zeroed.
        for i in 0..3 {
            put_word(u, arg + 8 * i, 0)?;
        }
        Err(Errno::EINVAL)
    }

    /// `userfaultfd_register()`.
    fn register(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [start, len, mode, _] = get_words::<4>(u, arg)?;
        let known = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
        if mode == 0 || mode & !known != 0 || mode & UFFDIO_REGISTER_MODE_MINOR != 0 {
            return Err(Errno::EINVAL);
        }
        let mut vm_flags = VmFlags::empty();
        if mode & UFFDIO_REGISTER_MODE_MISSING != 0 {
            vm_flags |= VmFlags::UFFD_MISSING;
        }
        if mode & UFFDIO_REGISTER_MODE_WP != 0 {
            vm_flags |= VmFlags::UFFD_WP;
        }
        let users = self.ctx.mm().mmget_not_zero().ok_or(Errno::ENOMEM)?;
        {
            let mut mm = users.mmap_write_lock();
            let start = mm.untagged_addr(start);
            validate_range(&mm, start, len)?;
            mm.userfaultfd_register(&self.ctx, start, start + len, vm_flags)?;
        }
        put_word(u, arg + 24, range_ioctls(mode))?;
        Ok(0)
    }

    /// `userfaultfd_unregister()`: the range's registrations go, and the faults waiting
    /// in it are woken.
    fn unregister(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [start, len] = get_words::<2>(u, arg)?;
        let users = self.ctx.mm().mmget_not_zero().ok_or(Errno::ENOMEM)?;
        let (start, ctxs) = {
            let mut mm = users.mmap_write_lock();
            let start = mm.untagged_addr(start);
            validate_range(&mm, start, len)?;
            (start, mm.userfaultfd_unregister(start, start + len)?)
        };
        for ctx in ctxs {
            ctx.wake_range(start, len);
        }
        Ok(0)
    }

    /// `userfaultfd_wake()`.
    fn wake(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [start, len] = get_words::<2>(u, arg)?;
        validate_range(&self.mm()?.mmap_read_lock(), start, len)?;
        self.ctx.wake_range(start, len);
        Ok(0)
    }

    /// `userfaultfd_copy()` (`src`: `Some(address)`) and `userfaultfd_zeropage()`
    /// (`None`): fills `[dst, dst + len)` page by page, writes the count (or `-errno`) to
    /// the struct's last field at `result_at`, and wakes the faults of what it filled
    /// unless `DONTWAKE`.
    fn fill(
        &self,
        u: &mut dyn UserAccess,
        (dst, src, len): (u64, Option<u64>, u64),
        wp: bool,
        dontwake: bool,
        result_at: u64,
    ) -> KResult<u64> {
        let users = self.mm()?;
        let mut done = 0u64;
        let mut err = None;
        let mut page = vec![0u8; PAGE_SIZE as usize];
        while done < len {
            let va = dst + done;
            let bytes = match src {
                Some(s) => match u.copy_from_user(s + done, &mut page) {
                    Ok(()) => Some(&page[..]),
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                },
                None => None,
            };
            let r = users
                .mmap_read_lock()
                .mfill_atomic_pte((dst, len), va, bytes, wp);
            if let Err(e) = r {
                err = Some(e);
                break;
            }
            done += PAGE_SIZE;
        }
        let ret = match (done, err) {
            (0, Some(e)) => e.as_return(),
            (n, _) => n,
        };
        put_word(u, result_at, ret)?;
        if done == 0 {
            return Err(err.unwrap_or(Errno::EINVAL));
        }
        if !dontwake {
            self.ctx.wake_range(dst, done);
        }
        if done == len {
            Ok(0)
        } else {
            Err(Errno::EAGAIN)
        }
    }

    /// `userfaultfd_copy()`.
    fn copy(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [dst, src, len, mode] = get_words::<4>(u, arg)?;
        {
            let users = self.mm()?;
            let mm = users.mmap_read_lock();
            validate_unaligned_range(&mm, src, len)?;
            validate_range(&mm, dst, len)?;
        }
        if src.checked_add(len).is_none()
            || mode & !(UFFDIO_COPY_MODE_DONTWAKE | UFFDIO_COPY_MODE_WP) != 0
        {
            return Err(Errno::EINVAL);
        }
        let wp = mode & UFFDIO_COPY_MODE_WP != 0;
        let dontwake = mode & UFFDIO_COPY_MODE_DONTWAKE != 0;
        self.fill(u, (dst, Some(src), len), wp, dontwake, arg + 32)
    }

    /// `userfaultfd_zeropage()`.
    fn zeropage(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [start, len, mode] = get_words::<3>(u, arg)?;
        validate_range(&self.mm()?.mmap_read_lock(), start, len)?;
        if mode & !UFFDIO_COPY_MODE_DONTWAKE != 0 {
            return Err(Errno::EINVAL);
        }
        let dontwake = mode & UFFDIO_COPY_MODE_DONTWAKE != 0;
        self.fill(u, (start, None, len), false, dontwake, arg + 24)
    }

    /// `userfaultfd_writeprotect()`.
    fn writeprotect(&self, u: &mut dyn UserAccess, arg: u64) -> KResult<u64> {
        let [start, len, mode] = get_words::<3>(u, arg)?;
        let users = self.mm()?;
        {
            let mm = users.mmap_read_lock();
            validate_range(&mm, start, len)?;
        }
        let known = UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
        let wp = mode & UFFDIO_WRITEPROTECT_MODE_WP != 0;
        let dontwake = mode & UFFDIO_WRITEPROTECT_MODE_DONTWAKE != 0;
        if mode & !known != 0 || (wp && dontwake) {
            return Err(Errno::EINVAL);
        }
        users.mmap_read_lock().mwriteprotect_range(start, len, wp)?;
        if !wp && !dontwake {
            self.ctx.wake_range(start, len);
        }
        Ok(0)
    }
}

impl FileOperations for UserfaultfdFile {
    /// `userfaultfd_read()`: as many `struct uffd_msg` (32 bytes) as fit, each an unread
    /// fault; sleeps (or `EAGAIN` with `O_NONBLOCK`) only for the first.
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        if !self.ctx.is_initialized() {
            return Err(Errno::EINVAL.into());
        }
        let mut done = 0usize;
        while len - done >= UffdMsg::SIZE {
            let Some(msg) = self.ctx.read_msg() else {
                break;
            };
            let at = buf.wrapping_add(done as u64);
            if ctx.copy_to_user(at, &msg.to_bytes())? != UffdMsg::SIZE {
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EFAULT.into())
                };
            }
            done += UffdMsg::SIZE;
        }
        match done {
            0 if len < UffdMsg::SIZE => Err(Errno::EINVAL.into()),
            0 if iocb.nonblock() => Err(Errno::EAGAIN.into()),
            0 => Err(IoError::WouldBlock(WaitOn::UserfaultfdReadable)),
            n => Ok(n),
        }
    }

    /// `userfaultfd_poll()`.
    fn poll(&self, file: &OpenFile) -> PollMask {
        if !self.ctx.is_initialized() || file.flags() & O_NONBLOCK == 0 {
            return PollMask::POLLERR;
        }
        if self.ctx.has_pending() {
            PollMask::POLLIN
        } else {
            PollMask::empty()
        }
    }

    /// `poll_wait(file, &ctx->fd_wqh, wait)`.
    fn poll_wait(&self, _file: &OpenFile, pt: &mut PollTable) {
        pt.poll_wait(self.ctx.fd_wqh());
    }

    /// A blocked `read` goes on once a fault is queued (or the context is gone).
    fn io_ready(&self, _file: &OpenFile, reading: bool) -> bool {
        !reading || self.ctx.has_pending() || self.ctx.is_released()
    }

    fn can_poll(&self) -> bool {
        true
    }

    /// `userfaultfd_ioctl()` (see the module docs).
    fn unlocked_ioctl(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        cmd: u32,
        arg: u64,
    ) -> KResult<u64> {
        if cmd != UFFDIO_API && !self.ctx.is_initialized() {
            return Err(Errno::EINVAL);
        }
        let mut user = ctx.user()?;
        let u: &mut dyn UserAccess = &mut *user;
        match cmd {
            UFFDIO_API => self.api(u, arg),
            UFFDIO_REGISTER => self.register(u, arg),
            UFFDIO_UNREGISTER => self.unregister(u, arg),
            UFFDIO_WAKE => self.wake(u, arg),
            UFFDIO_COPY => self.copy(u, arg),
            UFFDIO_ZEROPAGE => self.zeropage(u, arg),
            UFFDIO_WRITEPROTECT => self.writeprotect(u, arg),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `userfaultfd_release()`: every range registered with the context is unregistered
    /// (its uffd-wp bits cleared), then every waiting fault is woken and retries.
    fn release(&self, _file: &OpenFile) {
        if let Some(users) = self.ctx.mm().mmget_not_zero() {
            users.mmap_write_lock().userfaultfd_release_all(&self.ctx);
        }
        self.ctx.release();
    }

    /// `anon_inode_getfile()` without `FMODE_LSEEK`/`FMODE_PREAD`.
    fn is_stream(&self) -> bool {
        true
    }

    /// No `write_iter`: `EINVAL`.
    fn can_write(&self) -> bool {
        false
    }
}
