//! The scans of `ppoll` and `pselect6` (`fs/select.c`): `do_pollfd()` over an array of
//! `struct pollfd` and `do_select()` over three `fd_set` bitmaps, plus the argument
//! parsing they share (the timeout `timespec`, the temporary signal mask). Sleeping, the
//! deadline and signals are the kernel's (`kernel/poll.rs`): a scan here never blocks.

use crate::errno::{Errno, KResult};
use crate::fs::PollMask;
use crate::fs::{
    EpollEvent, EventPoll, FileTarget, FilesStruct, OpenFile, ProcessFs, EPOLL_CTL_DEL,
    EPOLL_EVENT_SIZE, O_CLOEXEC, O_RDWR,
};
use crate::futex::timespec_ns;
use crate::uaccess::UserAccess;

/// Size of `struct pollfd` (`int fd; short events; short revents;`), bytes.
pub const POLLFD_BYTES: u64 = 8;

/// `POLLIN_SET` of `fs/select.c`: what makes an fd of the read set ready.
const POLLIN_SET: PollMask = PollMask::POLLRDNORM
    .union(PollMask::POLLRDBAND)
    .union(PollMask::POLLIN)
    .union(PollMask::POLLHUP)
    .union(PollMask::POLLERR);
/// `POLLOUT_SET`: what makes an fd of the write set ready.
const POLLOUT_SET: PollMask = PollMask::POLLWRBAND
    .union(PollMask::POLLWRNORM)
    .union(PollMask::POLLOUT)
    .union(PollMask::POLLERR);
/// `POLLEX_SET`: what makes an fd of the exception set ready.
const POLLEX_SET: PollMask = PollMask::POLLPRI;

/// `SIGKILL` and `SIGSTOP` cannot be blocked (`set_current_blocked()` drops them).
const UNBLOCKABLE: u64 = (1 << 8) | (1 << 18);

/// One `struct pollfd` as read from the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollFd {
    /// `fd`: negative entries are skipped (their `revents` is 0).
    pub fd: i32,
    /// `events` asked for.
    pub events: u16,
    /// `revents` found.
    pub revents: u16,
}

/// Copies in `nfds` `struct pollfd` at `ufds` (as `do_sys_poll()` does before scanning).
///
/// # Errors
/// `EFAULT` for an array not readable in full.
pub fn read_pollfds(u: &mut dyn UserAccess, ufds: u64, nfds: u64) -> KResult<Vec<PollFd>> {
    let len = nfds.checked_mul(POLLFD_BYTES).ok_or(Errno::EFAULT)?;
    let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
    let mut raw = vec![0u8; len];
    u.copy_from_user(ufds, &mut raw)?;
    Ok(raw
        .chunks_exact(POLLFD_BYTES as usize)
        .map(|c| PollFd {
            fd: i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            events: u16::from_le_bytes([c[4], c[5]]),
            revents: 0,
        })
        .collect())
}

/// Writes each entry's `revents` back to the array at `ufds` (`do_sys_poll()`'s final
/// `__put_user` loop).
///
/// # Errors
/// `EFAULT`.
pub fn write_revents(u: &mut dyn UserAccess, ufds: u64, fds: &[PollFd]) -> KResult<()> {
    for (i, f) in (0u64..).zip(fds) {
        let at = ufds
            .checked_add(i * POLLFD_BYTES + 6)
            .ok_or(Errno::EFAULT)?;
        u.copy_to_user(at, &f.revents.to_le_bytes())?;
    }
    Ok(())
}

/// One pass of `do_poll()` over `fds` (`do_pollfd()` for each): `revents` is what the
/// file's `->poll` reports, filtered by `events | POLLERR | POLLHUP`; an fd that is not
/// open gets `POLLNVAL`; a negative fd gets 0. Returns how many entries have a non-zero
/// `revents`.
pub fn do_poll_scan(table: &FilesStruct, fds: &mut [PollFd]) -> u64 {
    let mut count = 0;
    for f in fds.iter_mut() {
        let mask = match u32::try_from(f.fd) {
            Err(_) => PollMask::empty(),
            Ok(fd) => match table.get(fd) {
                Err(_) => PollMask::POLLNVAL,
                Ok(file) => {
                    let filter = PollMask::from_bits_truncate(u32::from(f.events))
                        | PollMask::POLLERR
                        | PollMask::POLLHUP;
                    file.poll() & filter
                }
            },
        };
        // revents is a short: every PollMask bit fits.
        f.revents = mask.bits() as u16;
        if !mask.is_empty() {
            count += 1;
        }
    }
    count
}

/// The three `fd_set`s of a `select`, as 64-bit words (`unsigned long` bitmaps); `None`
/// for a NULL set pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdSets {
    /// Read, write and exception sets, in that order.
    pub sets: [Option<Vec<u64>>; 3],
}

/// `FDS_BYTES(n)`: the bytes of an `fd_set` of `n` descriptors, in whole longs.
fn fds_words(n: u32) -> usize {
    (n as usize).div_ceil(64)
}

/// `max_fds` of the caller's file table as `core_sys_select()` clamps `n` to it: Linux's
/// table starts at `NR_OPEN_DEFAULT` (64) slots and grows by powers of two as
/// descriptors are allocated; here it is sized by the highest open descriptor.
pub fn max_fds(table: &FilesStruct) -> u32 {
    let top = table
        .open_fds()
        .last()
        .map_or(0, |&fd| fd.saturating_add(1));
    top.checked_next_power_of_two().unwrap_or(u32::MAX).max(64)
}

/// `get_fd_set()` for each of `ptrs` (read, write, exception): `n` bits each; a NULL
/// pointer is an empty set that is not written back.
///
/// # Errors
/// `EFAULT`.
pub fn read_fd_sets(u: &mut dyn UserAccess, n: u32, ptrs: [u64; 3]) -> KResult<FdSets> {
    let mut out = FdSets::default();
    for (slot, ptr) in out.sets.iter_mut().zip(ptrs) {
        if ptr == 0 {
            continue;
        }
        let mut raw = vec![0u8; fds_words(n) * 8];
        u.copy_from_user(ptr, &mut raw)?;
        let mut words: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        // Bits at or past n are not part of the set.
        if !n.is_multiple_of(64) {
            if let Some(last) = words.last_mut() {
                *last &= (1u64 << (n % 64)) - 1;
            }
        }
        *slot = Some(words);
    }
    Ok(out)
}

/// `set_fd_set()` for each non-NULL pointer of `ptrs`: the result bitmaps.
///
/// # Errors
/// `EFAULT`.
pub fn write_fd_sets(u: &mut dyn UserAccess, ptrs: [u64; 3], res: &FdSets) -> KResult<()> {
    for (ptr, set) in ptrs.into_iter().zip(&res.sets) {
        if let (true, Some(words)) = (ptr != 0, set) {
            let raw: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            u.copy_to_user(ptr, &raw)?;
        }
    }
    Ok(())
}

fn bit(set: &Option<Vec<u64>>, fd: u32) -> bool {
    set.as_ref()
        .and_then(|w| w.get(fd as usize / 64))
        .is_some_and(|w| w & (1 << (fd % 64)) != 0)
}

/// One pass of `do_select()` over descriptors `0..n`: each descriptor in a set is polled
/// once; a ready one is set in the result for each set it is in whose events it has
/// (`POLLIN_SET`, `POLLOUT_SET`, `POLLEX_SET`), and each such bit counts. Returns the
/// count and the result sets (same shape as `sets`).
///
/// # Errors
/// `EBADF` if a set names a descriptor that is not open (`max_select_fd()`).
pub fn do_select_scan(table: &FilesStruct, n: u32, sets: &FdSets) -> KResult<(u64, FdSets)> {
    let mut res = FdSets {
        sets: sets.sets.clone().map(|s| s.map(|w| vec![0u64; w.len()])),
    };
    let wanted: Vec<(u32, [bool; 3])> = (0..n)
        .map(|fd| (fd, [0, 1, 2].map(|i| bit(&sets.sets[i], fd))))
        .filter(|(_, b)| b.iter().any(|&x| x))
        .collect();
    let mut files = Vec::with_capacity(wanted.len());
    for &(fd, b) in &wanted {
        files.push((fd, b, table.get(fd)?));
    }
    let mut count = 0;
    for (fd, b, file) in files {
        let mask = file.poll();
        for (i, class) in [POLLIN_SET, POLLOUT_SET, POLLEX_SET]
            .into_iter()
            .enumerate()
        {
            if b[i] && mask.intersects(class) {
                if let Some(w) = res.sets[i]
                    .as_mut()
                    .and_then(|w| w.get_mut(fd as usize / 64))
                {
                    *w |= 1 << (fd % 64);
                    count += 1;
                }
            }
        }
    }
    Ok((count, res))
}

/// Reads the `struct timespec` at `tsp` as `poll_select_set_timeout()` checks it: `None`
/// for a NULL pointer (no timeout), else the timeout in ns.
///
/// # Errors
/// `EFAULT`; `EINVAL` for a negative `tv_sec` or a `tv_nsec` outside `0..1e9`.
pub fn read_timeout(u: &mut dyn UserAccess, tsp: u64) -> KResult<Option<u64>> {
    if tsp == 0 {
        return Ok(None);
    }
    let sec = u.get_user_u64(tsp)?;
    let nsec = u.get_user_u64(tsp.checked_add(8).ok_or(Errno::EFAULT)?)?;
    timespec_ns(sec, nsec).map(Some)
}

/// Writes `ns` as a `struct timespec` at `tsp` (`poll_select_finish()`'s
/// `put_timespec64` of the time left).
///
/// # Errors
/// `EFAULT`.
pub fn write_timespec(u: &mut dyn UserAccess, tsp: u64, ns: u64) -> KResult<()> {
    let mut ts = [0u8; 16];
    ts[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    ts[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    u.copy_to_user(tsp, &ts)
}

/// `set_user_sigmask(umask, sigsetsize)`'s checks and copy-in: `None` for a NULL mask
/// (the mask is left alone), else the temporary mask without `SIGKILL`/`SIGSTOP`.
///
/// # Errors
/// `EINVAL` for a `sigsetsize` other than 8; `EFAULT`.
pub fn read_sigmask(u: &mut dyn UserAccess, umask: u64, sigsetsize: u64) -> KResult<Option<u64>> {
    if umask == 0 {
        return Ok(None);
    }
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(u.get_user_u64(umask)? & !UNBLOCKABLE))
}

/// `epoll_create1(flags)` (`do_epoll_create()`): a descriptor for a new epoll instance,
/// open for reading and writing.
///
/// # Errors
/// `EINVAL` for flags other than `EPOLL_CLOEXEC` (`O_CLOEXEC`); `EMFILE`.
pub fn sys_epoll_create1(p: &mut ProcessFs, flags: u64) -> KResult<u64> {
    let flags = flags as i32 as u32;
    if flags & !O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let file = OpenFile::new(FileTarget::Epoll(EventPoll::new()), O_RDWR);
    p.fds.alloc(file, flags & O_CLOEXEC != 0, 0).map(u64::from)
}

/// `epoll_ctl(epfd, op, fd, event)` (`do_epoll_ctl()`), `event` pointing at a
/// `struct epoll_event` (16 bytes on riscv64), read unless `op` is `EPOLL_CTL_DEL`.
///
/// # Errors
/// `EFAULT` for the event; `EBADF` for either descriptor; `EPERM` for a file that cannot
/// be polled (a regular file, a directory); `EINVAL` if `epfd` is not an epoll instance
/// or is `fd`, for an unknown `op` or a bad `EPOLLEXCLUSIVE`; `EEXIST`, `ENOENT`,
/// `ELOOP` (see [`EventPoll::ctl`]).
pub fn sys_epoll_ctl(
    p: &ProcessFs,
    u: &mut dyn UserAccess,
    epfd: u64,
    op: u64,
    fd: u64,
    event: u64,
) -> KResult<u64> {
    let op = op as u32;
    let ev = if op == EPOLL_CTL_DEL {
        None
    } else {
        let mut b = [0u8; EPOLL_EVENT_SIZE as usize];
        u.copy_from_user(event, &mut b)?;
        Some(EpollEvent::from_bytes(b))
    };
    let epfile = p.fds.get(epfd as u32)?;
    let target = p.fds.get(fd as u32)?;
    if !target.f_op().can_poll() {
        return Err(Errno::EPERM);
    }
    let ep = epfile.epoll().ok_or(Errno::EINVAL)?;
    ep.ctl(&epfile, op, fd as u32, &target, ev)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat user memory at address 0x1000 for the copy helpers.
    struct Flat(Vec<u8>);
    impl UserAccess for Flat {
        fn copy_from_user(&mut self, addr: u64, buf: &mut [u8]) -> KResult<()> {
            let at = addr.checked_sub(0x1000).ok_or(Errno::EFAULT)? as usize;
            let src = self.0.get(at..at + buf.len()).ok_or(Errno::EFAULT)?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn copy_to_user(&mut self, addr: u64, buf: &[u8]) -> KResult<()> {
            let at = addr.checked_sub(0x1000).ok_or(Errno::EFAULT)? as usize;
            let dst = self.0.get_mut(at..at + buf.len()).ok_or(Errno::EFAULT)?;
            dst.copy_from_slice(buf);
            Ok(())
        }
    }

    #[test]
    fn pollfds_round_trip_and_fault() {
        let mut m = Flat(vec![0; 64]);
        m.copy_to_user(0x1000, &[3, 0, 0, 0, 1, 0, 0x55, 0x55])
            .unwrap();
        m.copy_to_user(0x1008, &[0xff, 0xff, 0xff, 0xff, 4, 0, 0, 0])
            .unwrap();
        let mut fds = read_pollfds(&mut m, 0x1000, 2).unwrap();
        assert_eq!(
            fds[0],
            PollFd {
                fd: 3,
                events: 1,
                revents: 0
            }
        );
        assert_eq!(fds[1].fd, -1);
        fds[0].revents = 0x20;
        write_revents(&mut m, 0x1000, &fds).unwrap();
        assert_eq!(m.0[6..8], [0x20, 0], "revents replaced");
        assert_eq!(m.0[4..6], [1, 0], "events kept");
        assert_eq!(read_pollfds(&mut m, 0x1000, 9), Err(Errno::EFAULT));
        assert_eq!(read_pollfds(&mut m, 0x1000, u64::MAX), Err(Errno::EFAULT));
    }

    #[test]
    fn poll_scan_reports_nval_and_skips_negative() {
        let table = FilesStruct::default();
        let mut fds = [
            PollFd {
                fd: -5,
                events: 1,
                revents: 7,
            },
            PollFd {
                fd: 9,
                events: 0,
                revents: 0,
            },
        ];
        assert_eq!(do_poll_scan(&table, &mut fds), 1);
        assert_eq!(fds[0].revents, 0);
        assert_eq!(fds[1].revents, PollMask::POLLNVAL.bits() as u16);
    }

    #[test]
    fn select_sets_are_masked_to_n_and_bad_fds_are_ebadf() {
        let mut m = Flat(vec![0xff; 32]);
        let sets = read_fd_sets(&mut m, 3, [0x1000, 0, 0]).unwrap();
        assert_eq!(sets.sets[0], Some(vec![0b111]));
        assert_eq!(sets.sets[1], None);
        let table = FilesStruct::default();
        assert_eq!(do_select_scan(&table, 3, &sets), Err(Errno::EBADF));
        let empty = read_fd_sets(&mut m, 0, [0x1000, 0x1000, 0]).unwrap();
        assert_eq!(do_select_scan(&table, 0, &empty).unwrap().0, 0);
        assert_eq!(max_fds(&table), 64);
    }

    #[test]
    fn timeouts_and_masks_are_checked_as_linux() {
        let mut m = Flat(vec![0; 32]);
        assert_eq!(read_timeout(&mut m, 0), Ok(None));
        write_timespec(&mut m, 0x1000, 2_500_000_000).unwrap();
        assert_eq!(read_timeout(&mut m, 0x1000), Ok(Some(2_500_000_000)));
        m.copy_to_user(0x1008, &1_000_000_000u64.to_le_bytes())
            .unwrap();
        assert_eq!(read_timeout(&mut m, 0x1000), Err(Errno::EINVAL));
        m.copy_to_user(0x1000, &u64::MAX.to_le_bytes()).unwrap();
        m.copy_to_user(0x1008, &0u64.to_le_bytes()).unwrap();
        assert_eq!(
            read_timeout(&mut m, 0x1000),
            Err(Errno::EINVAL),
            "tv_sec < 0"
        );
        assert_eq!(
            read_sigmask(&mut m, 0, 3),
            Ok(None),
            "NULL mask: size unchecked"
        );
        assert_eq!(read_sigmask(&mut m, 0x1000, 16), Err(Errno::EINVAL));
        m.copy_to_user(0x1010, &u64::MAX.to_le_bytes()).unwrap();
        assert_eq!(
            read_sigmask(&mut m, 0x1010, 8),
            Ok(Some(!UNBLOCKABLE)),
            "SIGKILL and SIGSTOP stay unblocked"
        );
    }
}
