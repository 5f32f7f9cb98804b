//! The system calls that make anonymous-inode files (`fs/anon_inodes.c`'s users):
//! `eventfd2` (`fs/eventfd.c`).

use crate::errno::KResult;
use crate::fs::{
    AnonFile, EventFd, FileTarget, OpenFile, ProcessFs, EFD_CLOEXEC, EFD_NONBLOCK, O_RDWR,
};

/// `eventfd2(initval, flags)` (`do_eventfd()`): a new eventfd, its counter at `initval`
/// (an `unsigned int`), open `O_RDWR` with `flags & EFD_NONBLOCK` and close-on-exec
/// with `EFD_CLOEXEC`. Returns the descriptor.
///
/// # Errors
/// `EINVAL` for flags outside `EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK`; `EMFILE`.
pub fn sys_eventfd2(p: &mut ProcessFs, initval: u64, flags: u64) -> KResult<u64> {
    // `unsigned int count, int flags`: the upper halves are not the call's.
    let flags = flags as u32;
    let efd = EventFd::new(initval as u32, flags)?;
    let file = AnonFile::new("[eventfd]", efd);
    let path = file.path();
    let f = OpenFile::new_named(
        FileTarget::Anon(file),
        O_RDWR | (flags & EFD_NONBLOCK),
        path,
    );
    let fd = p.fds.alloc(f, flags & EFD_CLOEXEC != 0, 0)?;
    Ok(u64::from(fd))
}
