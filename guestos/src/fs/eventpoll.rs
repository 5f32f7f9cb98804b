//! epoll instances (`fs/eventpoll.c`): the file `epoll_create1` makes, its interest list
//! (`epoll_ctl`) and the scan `epoll_pwait`/`epoll_pwait2` make of it.
//!
//! The ready list (`ep->rdllist`) is an order over the items: an item joins its tail
//! when it is added or modified while its file is ready (`ep_insert()`, `ep_modify()`),
//! and when its file's wait queue is woken (`ep_poll_callback()`: each item keeps an
//! entry on its file's wait queues whose wake-up stamps the item with the next number
//! of the instance's clock, without a lock; the next scan queues it in that order and
//! re-arms the entry). A scan (`ep_send_events()`) takes items from the head, polls
//! each file (`ep_item_poll()`) and reports those with an event asked for
//! (`EPOLLERR`/`EPOLLHUP` always); a level-triggered item reported goes back to the
//! tail, an edge-triggered one (`EPOLLET`) leaves until its file is woken again, an
//! `EPOLLONESHOT` one is disarmed (`epi->event.events &= EP_PRIVATE_BITS`) until
//! `EPOLL_CTL_MOD` re-arms it. A caller that finds nothing sleeps on every watched
//! file's wait queue and the instance's own ([`EventPoll::poll_wait`]), and scans again
//! when woken (see `crate::kernel::poll`).
//!
//! - An item holds its file weakly: when the file's last reference goes, the item
//!   vanishes from every instance (`eventpoll_release()`); closing one of several
//!   descriptors of the file leaves it registered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::file::OpenFile;
use super::fops::{FileOperations, PollMask};
use super::wait::{PollTable, TaskWaker, WaitQueueHead, WaitTask};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

/// `EPOLL_CTL_ADD`: register a file.
pub const EPOLL_CTL_ADD: u32 = 1;
/// `EPOLL_CTL_DEL`: unregister a file.
pub const EPOLL_CTL_DEL: u32 = 2;
/// `EPOLL_CTL_MOD`: change a registered file's events and data.
pub const EPOLL_CTL_MOD: u32 = 3;

/// `EPOLLIN` (include/uapi/linux/eventpoll.h).
pub const EPOLLIN: u32 = 0x0001;
/// `EPOLLOUT`.
pub const EPOLLOUT: u32 = 0x0004;
/// `EPOLLERR`: always reported.
pub const EPOLLERR: u32 = 0x0008;
/// `EPOLLHUP`: always reported.
pub const EPOLLHUP: u32 = 0x0010;
/// `EPOLLEXCLUSIVE`: wake one of the instances waiting on the file (ADD only).
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// `EPOLLWAKEUP`: hold a wakeup source (ignored without `CAP_BLOCK_SUSPEND`).
pub const EPOLLWAKEUP: u32 = 1 << 29;
/// `EPOLLONESHOT`: disarm after one event.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// `EPOLLET`: edge-triggered.
pub const EPOLLET: u32 = 1 << 31;
/// `EP_PRIVATE_BITS`: the flags that are not events.
const EP_PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// `EPOLLEXCLUSIVE_OK_BITS`: what may go with `EPOLLEXCLUSIVE`.
const EPOLLEXCLUSIVE_OK_BITS: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// `EP_MAX_NESTS`: how deep instances may watch instances.
pub const EP_MAX_NESTS: u32 = 4;
/// `sizeof(struct epoll_event)` on riscv64: `u32 events`, 4 bytes of padding, `u64 data`
/// (not packed: only x86-64 packs it).
pub const EPOLL_EVENT_SIZE: u64 = 16;
/// `EP_MAX_EVENTS`: `INT_MAX / sizeof(struct epoll_event)`.
pub const EP_MAX_EVENTS: u64 = i32::MAX as u64 / EPOLL_EVENT_SIZE;

/// `ep_poll_callback()`: the wake-up function of an item's entries on its file's wait
/// queues. It stamps the item with the next number of the instance's clock (the place
/// it takes in the ready list) unless it is stamped already; lock-free, as it runs
/// under the woken head's lock.
#[derive(Debug)]
struct ItemWaker {
    /// The instance's clock.
    clock: Arc<AtomicU64>,
    /// 0, or the clock when a wake-up came since the item was last armed.
    woken: AtomicU64,
}

impl TaskWaker for ItemWaker {
    fn try_to_wake_up(&self, _tid: u32, _seq: u64) {
        let stamp = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self
            .woken
            .compare_exchange(0, stamp, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// One registered file (`struct epitem`).
#[derive(Debug)]
struct EpItem {
    /// The descriptor it was added by (half of the key `epoll_filefd`).
    fd: u32,
    /// The file (the other half); weak, see the module docs.
    file: Weak<OpenFile>,
    /// `epi->event.events`: the events asked for and the private flags.
    events: u32,
    /// `epi->event.data`.
    data: u64,
    /// Its place in the ready list (`epi->rdllink`), if it is on it.
    queued: Option<u64>,
    /// The wake-up function of its entries.
    waker: Arc<ItemWaker>,
    /// Its entries on the file's wait queues (`epi->pwqlist`).
    pwq: PollTable,
}

impl EpItem {
    /// Whether it waits for any event (a fired `EPOLLONESHOT` item does not).
    fn armed(&self) -> bool {
        self.events & !EP_PRIVATE_BITS != 0
    }

    /// What it reports for the file's ready mask `ready` (`ep_item_poll()`).
    fn revents(&self, ready: u32) -> u32 {
        if self.armed() {
            ready & self.events & !EP_PRIVATE_BITS
        } else {
            0
        }
    }

    /// Queues a new entry on `file`'s wait queues (`ep_ptable_queue_proc()`), the old
    /// one leaving them, and clears the stamp.
    fn arm(&mut self, file: &OpenFile) {
        self.waker.woken.store(0, Ordering::Release);
        let task = WaitTask::new(0, Arc::clone(&self.waker) as Arc<dyn TaskWaker>);
        // Asleep from the start: every wake-up reaches ItemWaker.
        task.park(0);
        self.pwq.arm(task, false);
        file.poll_wait(&mut self.pwq);
    }

    /// A wake-up since it was armed puts it on the ready list (if not there) at the
    /// wake-up's place; the entry is armed again. Returns the file, if it is still open.
    fn take_wakeup(&mut self) -> Option<Arc<OpenFile>> {
        let file = self.file.upgrade()?;
        let stamp = self.waker.woken.load(Ordering::Acquire);
        if stamp != 0 {
            self.arm(&file);
            if self.queued.is_none() && self.armed() {
                self.queued = Some(stamp);
            }
        }
        Some(file)
    }
}

/// An epoll instance (`struct eventpoll`), the operations of the file
/// `epoll_create1` returns.
#[derive(Debug, Default)]
pub struct EventPoll {
    /// The interest list (`ep->rbr`), in registration order, with the ready list's
    /// places.
    items: Mutex<Vec<EpItem>>,
    /// The ready list's clock (see [`ItemWaker`]).
    clock: Arc<AtomicU64>,
    /// `ep->wq` and `ep->poll_wait`: woken when the interest list changes, so a caller
    /// sleeping in `epoll_pwait` (or polling this file) looks again.
    wq: Arc<WaitQueueHead>,
}

/// One event `epoll_pwait` reports: `struct epoll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpollEvent {
    /// The ready events.
    pub events: u32,
    /// The item's data.
    pub data: u64,
}

impl EpollEvent {
    /// The 16 bytes of `struct epoll_event` on riscv64.
    pub fn to_bytes(self) -> [u8; EPOLL_EVENT_SIZE as usize] {
        let mut b = [0u8; EPOLL_EVENT_SIZE as usize];
        b[..4].copy_from_slice(&self.events.to_le_bytes());
        b[8..].copy_from_slice(&self.data.to_le_bytes());
        b
    }

    /// Reads a `struct epoll_event` from its 16 bytes.
    pub fn from_bytes(b: [u8; EPOLL_EVENT_SIZE as usize]) -> Self {
        let mut e = [0u8; 4];
        let mut d = [0u8; 8];
        e.copy_from_slice(&b[..4]);
        d.copy_from_slice(&b[8..]);
        EpollEvent {
            events: u32::from_le_bytes(e),
            data: u64::from_le_bytes(d),
        }
    }
}

impl EventPoll {
    /// A new, empty instance (`ep_alloc()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The next place at the ready list's tail.
    fn tail(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `do_epoll_ctl(epfd, op, fd, event)` on this instance (`self_file` is its file):
    /// `target` is the file `fd` names, `event` the caller's (read for ADD and MOD only).
    /// The caller checked that `target` can be polled ([`FileOperations::can_poll`]).
    ///
    /// # Errors
    /// `EINVAL` for an unknown `op`, the instance itself as target, or `EPOLLEXCLUSIVE`
    /// where it is not allowed; `EEXIST` (ADD of a registered file), `ENOENT` (MOD/DEL
    /// of one that is not); `ELOOP` for an instance that would watch itself through
    /// others, or nesting deeper than [`EP_MAX_NESTS`].
    pub fn ctl(
        &self,
        self_file: &Arc<OpenFile>,
        op: u32,
        fd: u32,
        target: &Arc<OpenFile>,
        event: Option<EpollEvent>,
    ) -> KResult<()> {
        if Arc::ptr_eq(self_file, target) {
            return Err(Errno::EINVAL);
        }
        let mut ev = event.unwrap_or(EpollEvent { events: 0, data: 0 });
        if matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_MOD) && ev.events & EPOLLEXCLUSIVE != 0 {
            // EPOLLEXCLUSIVE only on ADD, with the allowed bits, not on an epoll file.
            if op == EPOLL_CTL_MOD
                || ev.events & !EPOLLEXCLUSIVE_OK_BITS != 0
                || target.epoll().is_some()
            {
                return Err(Errno::EINVAL);
            }
        }
        // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND; without a wakeup source it is dropped.
        ev.events &= !EPOLLWAKEUP;
        if op == EPOLL_CTL_ADD {
            if let Some(inner) = target.epoll() {
                // ep_loop_check(): this instance must not be reachable from the target,
                // and the nesting must stay within EP_MAX_NESTS.
                if inner.reaches(self, 1)? {
                    return Err(Errno::ELOOP);
                }
            }
        }
        let mut items = self.items.lock();
        items.retain(|i| i.file.strong_count() > 0);
        let at = items
            .iter()
            .position(|i| i.fd == fd && i.file.as_ptr() == Arc::as_ptr(target));
        let events = ev.events | EPOLLERR | EPOLLHUP;
        match (op, at) {
            (EPOLL_CTL_ADD, Some(_)) => return Err(Errno::EEXIST),
            (EPOLL_CTL_ADD, None) => {
                // ep_insert(): the entry is queued before the file is polled.
                let mut item = EpItem {
                    fd,
                    file: Arc::downgrade(target),
                    events,
                    data: ev.data,
                    queued: None,
                    waker: Arc::new(ItemWaker {
                        clock: Arc::clone(&self.clock),
                        woken: AtomicU64::new(0),
                    }),
                    pwq: PollTable::default(),
                };
                item.arm(target);
                if item.revents(target.poll().bits()) != 0 {
                    item.queued = Some(self.tail());
                }
                items.push(item);
            }
            (EPOLL_CTL_DEL, Some(i)) => {
                items.remove(i);
            }
            (EPOLL_CTL_MOD, Some(i)) => {
                // ep_modify(): EPOLLEXCLUSIVE items may not be modified.
                if items[i].events & EPOLLEXCLUSIVE != 0 {
                    return Err(Errno::EINVAL);
                }
                let tail = self.tail();
                let item = &mut items[i];
                item.events = events;
                item.data = ev.data;
                if item.queued.is_none() && item.revents(target.poll().bits()) != 0 {
                    item.queued = Some(tail);
                }
            }
            (EPOLL_CTL_DEL | EPOLL_CTL_MOD, None) => return Err(Errno::ENOENT),
            _ => return Err(Errno::EINVAL),
        }
        drop(items);
        // A sleeper does not wait on a file added now: it looks again.
        self.wq.wake_up_all();
        Ok(())
    }

    /// `ep_loop_check_proc()`: whether `target` is reachable from this instance
    /// `depth` levels down.
    ///
    /// # Errors
    /// `ELOOP` beyond [`EP_MAX_NESTS`].
    fn reaches(&self, target: &EventPoll, depth: u32) -> KResult<bool> {
        if std::ptr::eq(self, target) {
            return Ok(true);
        }
        if depth > EP_MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        for f in self.files() {
            if let Some(inner) = f.epoll() {
                if inner.reaches(target, depth + 1)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The registered files still open.
    fn files(&self) -> Vec<Arc<OpenFile>> {
        let items = self.items.lock();
        items.iter().filter_map(|i| i.file.upgrade()).collect()
    }

    /// The ready list after the wake-ups so far: `(index in the interest list, file)`
    /// of each item on it, head first. Items whose file is gone leave the interest list
    /// (`eventpoll_release()`).
    fn ready_list(items: &mut Vec<EpItem>) -> Vec<(usize, Arc<OpenFile>)> {
        items.retain(|i| i.file.strong_count() > 0);
        let mut ready: Vec<(u64, usize, Arc<OpenFile>)> = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            if let Some(file) = item.take_wakeup() {
                if let Some(place) = item.queued {
                    ready.push((place, i, file));
                }
            }
        }
        ready.sort_by_key(|r| r.0);
        ready.into_iter().map(|(_, i, f)| (i, f)).collect()
    }

    /// `ep_send_events()`: up to `max` events from the head of the ready list.
    /// `deliver` takes each in turn and returns `false` to stop (the caller's buffer
    /// faulted: that item stays at the head). Returns how many were delivered.
    pub fn send_events(&self, max: usize, mut deliver: impl FnMut(EpollEvent) -> bool) -> usize {
        let mut items = self.items.lock();
        let mut sent = 0;
        for (i, file) in Self::ready_list(&mut items) {
            if sent == max {
                break;
            }
            let item = &mut items[i];
            let revents = item.revents(file.poll().bits());
            if revents == 0 {
                item.queued = None;
                continue;
            }
            if !deliver(EpollEvent {
                events: revents,
                data: item.data,
            }) {
                break;
            }
            sent += 1;
            item.queued = None;
            if item.events & EPOLLONESHOT != 0 {
                item.events &= EP_PRIVATE_BITS;
            } else if item.events & EPOLLET == 0 {
                // Level-triggered: back to the tail, to be polled again.
                item.queued = Some(self.tail());
            }
        }
        sent
    }

    /// `ep_eventpoll_poll()`: whether an item on the ready list has an event now.
    fn ready(&self) -> bool {
        let mut items = self.items.lock();
        Self::ready_list(&mut items)
            .into_iter()
            .any(|(i, file)| items[i].revents(file.poll().bits()) != 0)
    }
}

impl FileOperations for EventPoll {
    /// `ep_eventpoll_poll()`: readable when a scan would report an event.
    fn poll(&self, _file: &OpenFile) -> PollMask {
        if self.ready() {
            PollMask::POLLIN | PollMask::POLLRDNORM
        } else {
            PollMask::empty()
        }
    }

    /// A caller waiting on the instance sleeps on its own queue and on every watched
    /// file's (Linux chains them through `ep_poll_callback()`).
    fn poll_wait(&self, _file: &OpenFile, pt: &mut PollTable) {
        pt.poll_wait(&self.wq);
        for f in self.files() {
            f.poll_wait(pt);
        }
    }

    fn can_poll(&self) -> bool {
        true
    }

    fn can_read(&self) -> bool {
        false
    }

    fn can_write(&self) -> bool {
        false
    }

    fn is_stream(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileTarget, Pipe, Timespec, O_RDONLY, O_RDWR, O_WRONLY};

    fn pipe() -> (Arc<OpenFile>, Arc<OpenFile>) {
        let (r, w) = Pipe::new_pair(7, Timespec::default(), None);
        (
            OpenFile::new(FileTarget::Pipe(r), O_RDONLY),
            OpenFile::new(FileTarget::Pipe(w), O_WRONLY),
        )
    }

    fn write(w: &OpenFile) {
        let FileTarget::Pipe(end) = w.target() else {
            panic!("not a pipe");
        };
        end.pipe().write(b"x", true).unwrap();
    }

    fn read(r: &OpenFile) {
        let FileTarget::Pipe(end) = r.target() else {
            panic!("not a pipe");
        };
        end.pipe().read_with(1, true, &mut |b| Ok(b.len())).unwrap();
    }

    fn instance() -> Arc<OpenFile> {
        OpenFile::new(FileTarget::Epoll(EventPoll::new()), O_RDWR)
    }

    fn ctl(ep: &Arc<OpenFile>, op: u32, fd: u32, f: &Arc<OpenFile>, events: u32) -> KResult<()> {
        let ev = EpollEvent {
            events,
            data: u64::from(fd),
        };
        ep.epoll().unwrap().ctl(ep, op, fd, f, Some(ev))
    }

    /// `(data, events)` of one scan of up to `max` events.
    fn scan(ep: &OpenFile, max: usize) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        ep.epoll().unwrap().send_events(max, |e| {
            out.push((e.data, e.events));
            true
        });
        out
    }

    #[test]
    fn event_layout_is_riscv64s() {
        let e = EpollEvent {
            events: EPOLLIN,
            data: 0x1122_3344_5566_7788,
        };
        let b = e.to_bytes();
        assert_eq!(&b[..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(EpollEvent::from_bytes(b), e);
        assert_eq!(EP_MAX_EVENTS, 134_217_727);
    }

    #[test]
    fn level_triggered_in_ready_list_order() {
        let ep = instance();
        let (r, w) = pipe();
        ctl(&ep, EPOLL_CTL_ADD, 3, &r, EPOLLIN).unwrap();
        ctl(&ep, EPOLL_CTL_ADD, 4, &w, EPOLLOUT).unwrap();
        assert_eq!(scan(&ep, 8), [(4, EPOLLOUT)]);
        write(&w);
        // The write end went back to the tail first; the read end was woken after.
        assert_eq!(scan(&ep, 8), [(4, EPOLLOUT), (3, EPOLLIN)]);
        assert_eq!(scan(&ep, 1), [(4, EPOLLOUT)]);
        assert_eq!(scan(&ep, 1), [(3, EPOLLIN)]);
        assert!(ep.poll().contains(PollMask::POLLIN));
        read(&r);
        ctl(&ep, EPOLL_CTL_DEL, 4, &w, 0).unwrap();
        assert_eq!(scan(&ep, 8), []);
        assert!(ep.poll().is_empty());
    }

    #[test]
    fn edge_triggered_reports_each_wakeup_once() {
        let ep = instance();
        let (r, w) = pipe();
        ctl(&ep, EPOLL_CTL_ADD, 3, &r, EPOLLIN | EPOLLET).unwrap();
        write(&w);
        assert_eq!(scan(&ep, 8), [(3, EPOLLIN)]);
        assert_eq!(scan(&ep, 8), []);
        read(&r);
        write(&w);
        assert_eq!(scan(&ep, 8), [(3, EPOLLIN)]);
    }

    #[test]
    fn oneshot_disarms_until_mod() {
        let ep = instance();
        let (r, w) = pipe();
        ctl(&ep, EPOLL_CTL_ADD, 3, &r, EPOLLIN | EPOLLONESHOT).unwrap();
        write(&w);
        assert_eq!(scan(&ep, 8), [(3, EPOLLIN)]);
        write(&w);
        assert_eq!(scan(&ep, 8), []);
        ctl(&ep, EPOLL_CTL_MOD, 3, &r, EPOLLIN | EPOLLONESHOT).unwrap();
        assert_eq!(scan(&ep, 8), [(3, EPOLLIN)]);
    }

    #[test]
    fn ctl_errors_and_release() {
        let (ep, other) = (instance(), instance());
        let (r, w) = pipe();
        assert_eq!(ctl(&ep, EPOLL_CTL_ADD, 5, &ep, EPOLLIN), Err(Errno::EINVAL));
        ctl(&ep, EPOLL_CTL_ADD, 3, &r, EPOLLIN).unwrap();
        assert_eq!(ctl(&ep, EPOLL_CTL_ADD, 3, &r, EPOLLIN), Err(Errno::EEXIST));
        assert_eq!(ctl(&ep, EPOLL_CTL_MOD, 4, &w, EPOLLIN), Err(Errno::ENOENT));
        assert_eq!(ctl(&ep, 9, 3, &r, EPOLLIN), Err(Errno::EINVAL));
        let excl = EPOLLIN | EPOLLEXCLUSIVE;
        assert_eq!(ctl(&ep, EPOLL_CTL_MOD, 3, &r, excl), Err(Errno::EINVAL));
        assert_eq!(ctl(&ep, EPOLL_CTL_ADD, 6, &other, excl), Err(Errno::EINVAL));
        ctl(&other, EPOLL_CTL_ADD, 5, &ep, EPOLLIN).unwrap();
        assert_eq!(
            ctl(&ep, EPOLL_CTL_ADD, 6, &other, EPOLLIN),
            Err(Errno::ELOOP)
        );
        write(&w);
        assert_eq!(scan(&other, 8), [(5, EPOLLIN)]);
        // The file's last reference goes: it leaves the set.
        drop(r);
        assert_eq!(scan(&ep, 8), []);
        assert_eq!(ep.epoll().unwrap().files().len(), 0);
    }

    #[test]
    fn nesting_deeper_than_ep_max_nests_is_eloop() {
        let chain: Vec<Arc<OpenFile>> = (0..=EP_MAX_NESTS + 1).map(|_| instance()).collect();
        let mut r = Ok(());
        for (i, pair) in chain.windows(2).enumerate() {
            r = ctl(&pair[1], EPOLL_CTL_ADD, i as u32, &pair[0], EPOLLIN);
            if r.is_err() {
                break;
            }
        }
        assert_eq!(r, Err(Errno::ELOOP));
    }
}
