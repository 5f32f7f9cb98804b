//! Signal numbers, `si_code`s and the per-process signal bookkeeping of this version.
//!
//! Delivery follows `arch/riscv/kernel/signal.c`: [`setup_rt_frame`] pushes a
//! `struct rt_sigframe` (siginfo + ucontext with the full integer and D-extension state) on
//! the user stack (or the alternate stack for SA_ONSTACK), enters the handler with
//! `a0 = signo`, `a1 = &info`, `a2 = &uc`, and `ra` pointing at the kernel's sigreturn
//! trampoline (Linux uses the vDSO's `__vdso_rt_sigreturn`; we map a one-page `[vdso]` with
//! just that trampoline). [`restore_sigframe`] is `rt_sigreturn`.

use std::sync::atomic::{AtomicU64, Ordering};

use emu::UserContext;

use crate::errno::{Errno, KResult};
use crate::uaccess::UserAccess;

/// SIGHUP.
pub const SIGHUP: u8 = 1;
/// SIGINT.
pub const SIGINT: u8 = 2;
/// SIGQUIT.
pub const SIGQUIT: u8 = 3;
/// SIGILL.
pub const SIGILL: u8 = 4;
/// SIGTRAP.
pub const SIGTRAP: u8 = 5;
/// SIGABRT.
pub const SIGABRT: u8 = 6;
/// SIGBUS.
pub const SIGBUS: u8 = 7;
/// SIGFPE.
pub const SIGFPE: u8 = 8;
/// SIGKILL.
pub const SIGKILL: u8 = 9;
/// SIGSEGV.
pub const SIGSEGV: u8 = 11;
/// SIGPIPE.
pub const SIGPIPE: u8 = 13;
/// SIGTERM.
pub const SIGTERM: u8 = 15;
/// SIGCONT.
pub const SIGCONT: u8 = 18;
/// The stop signals: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU (`SIG_KERNEL_STOP_MASK`).
pub const STOP_SIGNALS: [u8; 4] = [SIGSTOP, 20, 21, 22];
/// SIGCHLD.
pub const SIGCHLD: u8 = 17;
/// SIGSTOP.
pub const SIGSTOP: u8 = 19;
/// Highest signal number (`_NSIG`).
pub const NSIG: usize = 64;

/// `si_code` SEGV_MAPERR: address not mapped to an object.
pub const SEGV_MAPERR: i32 = 1;
/// `si_code` SEGV_ACCERR: invalid permissions for a mapped object.
pub const SEGV_ACCERR: i32 = 2;
/// `si_code` SEGV_MTEAERR: asynchronous memory-tag check fault (arm64's value), `si_addr`
/// 0.
pub const SEGV_MTEAERR: i32 = 8;
/// `si_code` SEGV_MTESERR: synchronous memory-tag check fault (arm64's value).
pub const SEGV_MTESERR: i32 = 9;
/// `si_code` BUS_ADRALN: invalid address alignment.
pub const BUS_ADRALN: i32 = 1;
/// `si_code` BUS_ADRERR: nonexistent physical address (a page a mapping cannot provide).
pub const BUS_ADRERR: i32 = 2;
/// `si_code` ILL_ILLOPC: illegal opcode.
pub const ILL_ILLOPC: i32 = 1;
/// `si_code` TRAP_BRKPT: process breakpoint.
pub const TRAP_BRKPT: i32 = 1;
/// `si_code` SI_TKILL: sent by tkill/tgkill.
pub const SI_TKILL: i32 = -6;
/// `si_code` SI_KERNEL: sent by the kernel.
pub const SI_KERNEL: i32 = 0x80;
/// `si_code` SI_USER: sent by kill.
pub const SI_USER: i32 = 0;

/// `SIG_DFL`.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`.
pub const SIG_IGN: u64 = 1;

/// A `struct sigaction` as riscv64 Linux lays it out for `rt_sigaction`
/// (`sa_handler`, `sa_flags`, `sa_mask`; no `sa_restorer` on riscv).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, `SIG_DFL` or `SIG_IGN`.
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
}

impl SigAction {
    /// Whether the disposition is a handler to run, not `SIG_DFL` or `SIG_IGN`.
    pub fn has_handler(&self) -> bool {
        !matches!(self.handler, SIG_DFL | SIG_IGN)
    }
}

/// `SA_SIGINFO`.
pub const SA_SIGINFO: u64 = 0x4;
/// `SA_ONSTACK`.
pub const SA_ONSTACK: u64 = 0x0800_0000;
/// `SA_RESTART`.
pub const SA_RESTART: u64 = 0x1000_0000;
/// `SA_NODEFER`.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// `SA_RESETHAND`.
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// The fields of a `siginfo_t` that this kernel fills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: u8,
    /// `si_code`.
    pub code: i32,
    /// `si_addr` for SIGSEGV/SIGBUS/SIGILL/SIGTRAP/SIGFPE; for SI_USER/SI_TKILL and SIGCHLD
    /// the sender's pid goes in `si_pid` (same offset) and uid 0 in `si_uid`.
    pub addr: u64,
    /// `si_status` of SIGCHLD (offset 24): the exit code or the killing signal.
    pub status: i32,
}

/// `sizeof(siginfo_t)`.
const SIGINFO_SIZE: u64 = 128;

impl SigInfo {
    /// The `siginfo_t` (128 bytes) the guest sees: `si_signo`, `si_errno` (0),
    /// `si_code`, then the union — `si_addr` (or `si_pid`/`si_uid`) at 16, `si_status`
    /// at 24.
    pub fn to_bytes(&self) -> [u8; SIGINFO_SIZE as usize] {
        let mut b = [0u8; SIGINFO_SIZE as usize];
        b[0..4].copy_from_slice(&u32::from(self.signo).to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        b[16..24].copy_from_slice(&self.addr.to_le_bytes());
        b[24..28].copy_from_slice(&self.status.to_le_bytes());
        b
    }

    /// The fields of a `siginfo_t` `b` this kernel keeps ([`SigInfo::to_bytes`]'s
    /// layout; the rest of the union is not kept). `None` if `si_signo` is not a signal
    /// number (0 or above 64) or `b` is shorter than 28 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<SigInfo> {
        let word = |at: usize| -> Option<[u8; 4]> { b.get(at..at + 4)?.try_into().ok() };
        let signo = u8::try_from(u32::from_le_bytes(word(0)?)).ok()?;
        if signo == 0 || usize::from(signo) > NSIG {
            return None;
        }
        Some(SigInfo {
            signo,
            code: i32::from_le_bytes(word(8)?),
            addr: u64::from_le_bytes(b.get(16..24)?.try_into().ok()?),
            status: i32::from_le_bytes(word(24)?),
        })
    }
}
/// Offset of `uc_mcontext` in `struct ucontext` (after flags, link, stack, a 1024-bit
/// sigmask area, aligned to 16 because `__riscv_q_ext_state` is).
const UC_MCONTEXT: u64 = 176;
/// Offset of `sc_fpregs` in `struct sigcontext` (after `user_regs_struct`: pc + x1..x31).
const SC_FPREGS: u64 = 256;
/// `sizeof(struct rt_sigframe)`: siginfo (128) + ucontext (176 + 256 + 528).
pub const RT_SIGFRAME_SIZE: u64 = SIGINFO_SIZE + UC_MCONTEXT + SC_FPREGS + 528;

fn bit(signo: u8) -> u64 {
    1u64 << (signo - 1)
}

/// `sigmask(signo)`: the bit of `signo` (1..=64) in a signal set (0 for any other).
pub fn sigmask(signo: u8) -> u64 {
    if (1..=NSIG as u8).contains(&signo) {
        bit(signo)
    } else {
        0
    }
}

/// The signals of `queue` as a set (`sigpending.signal`: bit `signo - 1` each).
pub fn sigset_of<'a>(queue: impl IntoIterator<Item = &'a SigInfo>) -> u64 {
    queue.into_iter().fold(0, |m, s| m | sigmask(s.signo))
}

/// `legacy_queue()`'s answer inverted: whether `info` goes on a queue that holds
/// `queue` — a standard signal (< 32) at most once, every real-time instance.
pub fn queues(queue: &[SigInfo], info: &SigInfo) -> bool {
    info.signo >= 32 || !queue.iter().any(|q| q.signo == info.signo)
}

/// `__send_signal_locked()`'s `sigqueue` add to `queue` (a task's own or its process's
/// `shared_pending`): `info` joins it unless it is a standard signal already there
/// ([`queues`]). Returns whether it was queued.
pub fn queue_signal(queue: &mut Vec<SigInfo>, info: SigInfo) -> bool {
    let add = queues(queue, &info);
    if add {
        queue.push(info);
    }
    add
}

/// `rt_sigpending(uset, sigsetsize)` (`do_sigpending()`): the signals queued for the
/// caller — on its own queue or its process's, `queued` — that it blocks (`blocked`),
/// copied to `uset`; a smaller set gets the low bytes, only a larger one is `EINVAL`.
///
/// # Errors
/// `EINVAL` for `sigsetsize > 8`; `EFAULT`.
pub fn sys_rt_sigpending(
    u: &mut dyn UserAccess,
    uset: u64,
    sigsetsize: u64,
    blocked: u64,
    queued: u64,
) -> KResult<u64> {
    if sigsetsize > 8 {
        return Err(Errno::EINVAL);
    }
    let set = queued & blocked;
    u.copy_to_user(uset, &set.to_le_bytes()[..sigsetsize as usize])?;
    Ok(0)
}

/// A task's blocked mask (`task->blocked`), one bit per signal (bit `signo - 1`).
///
/// Only the task itself changes it — its `rt_sigprocmask`, `rt_sigsuspend`, signal
/// delivery and `sigreturn`, on whichever hart runs it, with the kernel lock or without
/// it (`rt_sigprocmask` on the unlocked path, [`crate::syscall::unlocked`]) — while a
/// sender on any hart reads it to choose the thread a process-directed signal wakes
/// (`complete_signal()`'s `wants_signal()`). One atomic word, shared by the task's
/// entry in the task table and the hart running the task ([`SigMask::share`]): Linux
/// guards it with `sighand->siglock`, and what the lock gives there — a sender that
/// queued a signal the thread then unblocks is not missed — holds here because a
/// sender always kicks the hart running its target, and a thread that unblocks a signal
/// looks at its queues afterwards ([`SigQueue::summary`]). Cloning copies the mask into
/// a cell of the clone's own (a `clone()`d thread inherits the value, not the cell).
#[derive(Debug, Default)]
pub struct SigMask(std::sync::Arc<AtomicU64>);

impl Clone for SigMask {
    fn clone(&self) -> Self {
        SigMask::new(self.get())
    }
}

impl SigMask {
    /// A mask of its own holding `mask`.
    pub fn new(mask: u64) -> Self {
        SigMask(std::sync::Arc::new(AtomicU64::new(mask)))
    }

    /// The blocked signals.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Blocks exactly `mask` (SIGKILL and SIGSTOP are the caller's to leave out).
    pub fn set(&self, mask: u64) {
        self.0.store(mask, Ordering::SeqCst);
    }

    /// Another handle on the same mask, for the hart that runs the task.
    pub fn share(&self) -> SigMask {
        SigMask(std::sync::Arc::clone(&self.0))
    }

    /// Whether `signo` is blocked.
    pub fn is_blocked(&self, signo: u8) -> bool {
        signo >= 1 && usize::from(signo) <= NSIG && self.get() & bit(signo) != 0
    }

    /// `rt_sigprocmask(how, set, oset, sigsetsize)` (`kernel/signal.c`: `sigprocmask()`,
    /// `__set_current_blocked()`): SIGKILL and SIGSTOP cannot be blocked. Returns the
    /// old mask with the result: the caller checks what the change unblocked.
    ///
    /// # Errors
    /// `EINVAL` for a bad `how` or `sigsetsize`; `EFAULT`.
    pub fn sys_rt_sigprocmask(
        &self,
        u: &mut dyn UserAccess,
        how: u64,
        set: u64,
        oset: u64,
        setsize: u64,
    ) -> KResult<u64> {
        const SIG_BLOCK: u64 = 0;
        const SIG_UNBLOCK: u64 = 1;
        const SIG_SETMASK: u64 = 2;
        if setsize != 8 {
            return Err(Errno::EINVAL);
        }
        let old = self.get();
        if set != 0 {
            let s = u.get_user_u64(set)?;
            let unblockable = bit(SIGKILL) | bit(SIGSTOP);
            self.set(
                match how {
                    SIG_BLOCK => old | s,
                    SIG_UNBLOCK => old & !s,
                    SIG_SETMASK => s,
                    _ => return Err(Errno::EINVAL),
                } & !unblockable,
            );
        }
        if oset != 0 {
            u.put_user_u64(oset, old)?;
        }
        Ok(0)
    }
}

/// A task's private signal queue (`task->pending`: `tkill`/`tgkill`, forced faults),
/// behind its own lock (Linux's `siglock` guards it), with a lock-free summary of the
/// signals on it (`pending.signal`, one bit per signal) that the hart running the task
/// reads to see whether a signal it just unblocked waits (`recalc_sigpending()`). One
/// queue, shared by the task's entry in the task table and the hart running the task
/// ([`SigQueue::share`]): the kernel lock queues and delivers there, the hart queues the
/// signals the task sends itself and delivers those it handles without it. Cloning
/// gives an empty queue of its own (a new task's pending signals are cleared,
/// `copy_process()`'s `init_sigpending()`).
#[derive(Debug, Default)]
pub struct SigQueue(std::sync::Arc<SigQueueInner>);

#[derive(Debug, Default)]
struct SigQueueInner {
    list: crate::sync::Mutex<Vec<SigInfo>>,
    summary: std::sync::Arc<AtomicU64>,
}

impl Clone for SigQueue {
    fn clone(&self) -> Self {
        SigQueue::default()
    }
}

impl SigQueue {
    /// Another handle on the same queue, for the hart that runs the task.
    pub fn share(&self) -> SigQueue {
        SigQueue(std::sync::Arc::clone(&self.0))
    }

    /// Queues `info` (`__send_signal_locked()`'s `sigqueue` add): a standard signal
    /// (< 32) is queued at most once (`legacy_queue()`), every real-time instance is.
    pub fn push(&self, info: SigInfo) {
        let mut list = self.0.list.lock();
        if queue_signal(&mut list, info) {
            self.resummarize(&list);
        }
    }

    /// Puts `info` back at the head of the queue: a signal [`SigQueue::take_first_if`]
    /// took whose delivery could not be completed where it was taken.
    pub fn push_front(&self, info: SigInfo) {
        let mut list = self.0.list.lock();
        list.insert(0, info);
        self.resummarize(&list);
    }

    /// Keeps only the signals `keep` says (`flush_sigqueue_mask()`).
    pub fn retain(&self, keep: impl FnMut(&SigInfo) -> bool) {
        let mut list = self.0.list.lock();
        list.retain(keep);
        self.resummarize(&list);
    }

    /// Takes off the first signal `pick` accepts (`dequeue_signal()`), if any.
    pub fn take_first(&self, pick: impl FnMut(&SigInfo) -> bool) -> Option<SigInfo> {
        self.take_first_if(pick, |_| true).ok().flatten()
    }

    /// Takes off the first signal `pick` accepts if `take` accepts it too: `Ok(None)`
    /// when `pick` accepts none, `Err(info)` (left queued) when `take` refuses it.
    pub fn take_first_if(
        &self,
        pick: impl FnMut(&SigInfo) -> bool,
        take: impl FnOnce(&SigInfo) -> bool,
    ) -> Result<Option<SigInfo>, SigInfo> {
        let mut list = self.0.list.lock();
        let Some(i) = list.iter().position(pick) else {
            return Ok(None);
        };
        if !take(&list[i]) {
            return Err(list[i]);
        }
        let info = list.remove(i);
        self.resummarize(&list);
        Ok(Some(info))
    }

    /// A copy of the queued signals, oldest first.
    pub fn snapshot(&self) -> Vec<SigInfo> {
        self.0.list.lock().clone()
    }

    /// Whether a queued signal satisfies `pred`.
    pub fn any(&self, pred: impl FnMut(&SigInfo) -> bool) -> bool {
        self.0.list.lock().iter().any(pred)
    }

    /// The signals on the queue as a set (bit `signo - 1`), read without its lock.
    pub fn set(&self) -> u64 {
        self.0.summary.load(Ordering::SeqCst)
    }

    /// A handle on the summary.
    pub fn summary(&self) -> std::sync::Arc<AtomicU64> {
        std::sync::Arc::clone(&self.0.summary)
    }

    fn resummarize(&self, list: &[SigInfo]) {
        self.0.summary.store(sigset_of(list), Ordering::SeqCst);
    }
}

/// Pushes a signal frame for `info` and redirects `ctx` to the handler of `act`
/// (`setup_rt_frame` + `handle_signal` in Linux). Updates the blocked mask (`sa_mask`, and
/// the signal itself unless SA_NODEFER) and applies SA_RESETHAND.
///
/// # Errors
/// `EFAULT` if the frame cannot be written (Linux then forces SIGSEGV).
pub fn setup_rt_frame(
    u: &mut dyn UserAccess,
    ctx: &mut UserContext,
    state: &mut SignalState,
    info: &SigInfo,
    act: &SigAction,
    trampoline: u64,
) -> KResult<()> {
    let saved_mask = state.saved_mask.take();
    let parts = FrameState {
        blocked: &state.blocked,
        altstack: &state.altstack,
        sighand: &state.sighand,
        saved_mask,
    };
    push_rt_frame(u, ctx, &parts, info, act, trampoline)
}

/// What a signal's delivery reads and changes of its task besides the registers: the
/// blocked mask, the alternate stack, the handlers (`SA_RESETHAND`) and the mask
/// `rt_sigsuspend` saved, if any (`sigmask_to_save()`).
#[derive(Debug)]
pub struct FrameState<'a> {
    /// `current->blocked`.
    pub blocked: &'a SigMask,
    /// `current->sas_ss_*`.
    pub altstack: &'a SigAltStack,
    /// `current->sighand`.
    pub sighand: &'a SigHand,
    /// `current->saved_sigmask` when `TIF_RESTORE_SIGMASK` is set.
    pub saved_mask: Option<u64>,
}

/// [`setup_rt_frame`] on the parts of a task's signal state (`state`): the frame for
/// `info` pushed, `ctx` redirected to `act`'s handler, the mask and `SA_RESETHAND`
/// applied. Nothing changes if the frame cannot be written.
///
/// # Errors
/// `EFAULT` if the frame cannot be written.
pub fn push_rt_frame(
    u: &mut dyn UserAccess,
    ctx: &mut UserContext,
    state: &FrameState<'_>,
    info: &SigInfo,
    act: &SigAction,
    trampoline: u64,
) -> KResult<()> {
    let (ss_sp, ss_flags, ss_size) = state.altstack.get();
    let on_alt = ss_flags & SS_DISABLE == 0 && ctx.x[2].wrapping_sub(ss_sp) < ss_size;
    let mut sp = ctx.x[2];
    if act.flags & SA_ONSTACK != 0 && ss_flags & SS_DISABLE == 0 && !on_alt {
        sp = ss_sp.wrapping_add(ss_size);
    }
    let frame = sp.checked_sub(RT_SIGFRAME_SIZE).ok_or(Errno::EFAULT)? & !0xf;

    let mut buf = vec![0u8; RT_SIGFRAME_SIZE as usize];
    let put = |b: &mut [u8], off: u64, v: u64, n: usize| {
        b[off as usize..off as usize + n].copy_from_slice(&v.to_le_bytes()[..n]);
    };
    buf[..SIGINFO_SIZE as usize].copy_from_slice(&info.to_bytes());
    // ucontext: uc_flags, uc_link, uc_stack, uc_sigmask.
    let uc = SIGINFO_SIZE;
    put(&mut buf, uc + 16, ss_sp, 8);
    put(
        &mut buf,
        uc + 24,
        u64::from(if on_alt { 1 } else { ss_flags }),
        4,
    );
    put(&mut buf, uc + 32, ss_size, 8);
    // The mask to restore at sigreturn: the one saved by rt_sigsuspend if any
    // (sigmask_to_save()), else the current one.
    let restore_mask = state.saved_mask.unwrap_or(state.blocked.get());
    put(&mut buf, uc + 40, restore_mask, 8);
    // sigcontext: user_regs_struct (pc in slot 0, x1..x31), then the D state.
    let mc = uc + UC_MCONTEXT;
    put(&mut buf, mc, ctx.pc, 8);
    for r in 1..32u64 {
        put(&mut buf, mc + 8 * r, ctx.x[r as usize], 8);
    }
    for r in 0..32u64 {
        put(&mut buf, mc + SC_FPREGS + 8 * r, ctx.f[r as usize], 8);
    }
    put(&mut buf, mc + SC_FPREGS + 256, u64::from(ctx.fcsr), 4);
    u.copy_to_user(frame, &buf)?;
    // __save_altstack(): a stack set with SS_AUTODISARM is disarmed while the handler
    // runs (sas_ss_reset()); the frame's uc_stack brings it back at rt_sigreturn.
    if ss_flags & SS_AUTODISARM != 0 {
        state.altstack.reset();
    }

    ctx.x[1] = trampoline;
    ctx.x[2] = frame;
    ctx.x[10] = u64::from(info.signo);
    ctx.x[11] = frame;
    ctx.x[12] = frame + uc;
    ctx.pc = act.handler;
    let mut block = act.mask;
    if act.flags & SA_NODEFER == 0 {
        block |= bit(info.signo);
    }
    let blocked = state.blocked.get();
    state
        .blocked
        .set(blocked | (block & !(bit(SIGKILL) | bit(SIGSTOP))));
    if act.flags & SA_RESETHAND != 0 {
        state.sighand.set_action(info.signo, SigAction::default());
    }
    Ok(())
}

/// `valid_signal()` (include/linux/signal.h): `sig <= _NSIG` (0, the null signal, is
/// valid). System calls that take an `int` signal pass it sign-extended, so a negative one
/// is not valid.
pub fn valid_signal(sig: u64) -> bool {
    sig <= NSIG as u64
}

/// `force_sig(signo)` (`force_sig_info_to_task(..., HANDLER_CURRENT)`, kernel/signal.c)
/// for the running thread, whose private queue is `thread_pending`: a signal the thread
/// blocks is unblocked and one it ignores gets the default action back (so it cannot be
/// ignored), then it is queued with `SI_KERNEL`; it is delivered on the way back to user
/// mode (a handler runs if one is installed).
pub fn force_sig(state: &mut SignalState, thread_pending: &mut SigQueue, signo: u8) {
    let blocked = state.is_blocked(signo);
    if blocked || state.action(signo).handler == SIG_IGN {
        state.set_action(signo, SigAction::default());
        state.blocked.set(state.blocked.get() & !bit(signo));
    }
    thread_pending.push(SigInfo {
        signo,
        code: SI_KERNEL,
        addr: 0,
        status: 0,
    });
}

/// `rt_sigreturn` (arch/riscv/kernel/signal.c `sys_rt_sigreturn()`): restores the
/// registers, FP state and signal mask saved by [`setup_rt_frame`] from the frame at the
/// current `sp`, then the alternate stack from `uc_stack` (`restore_altstack()`: its
/// errors are ignored, as Linux squashes all but `EFAULT`).
///
/// # Errors
/// `EFAULT` if the frame cannot be read; `EINVAL` if the word after the FP state
/// (`sc_extdesc.reserved`) is not 0 or the extension header that follows is not the end
/// marker (`restore_sigcontext()`: magic 0, size 0; this hart has no V state). The caller
/// then forces SIGSEGV ([`force_sig`]), as the `badframe` path does, nothing restored.
pub fn restore_sigframe(
    u: &mut dyn UserAccess,
    ctx: &mut UserContext,
    blocked: &SigMask,
    altstack: &SigAltStack,
) -> KResult<()> {
    let frame = ctx.x[2];
    let mut buf = vec![0u8; RT_SIGFRAME_SIZE as usize];
    u.copy_from_user(frame, &mut buf)?;
    let get = |off: u64| -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[off as usize..off as usize + 8]);
        u64::from_le_bytes(b)
    };
    let uc = SIGINFO_SIZE;
    let mc = uc + UC_MCONTEXT;
    // sc_extdesc: `reserved` at 516, then `hdr` {magic, size} at 520 of sc_fpregs.
    let ext = mc + SC_FPREGS + 516;
    if get(ext) != 0 || get(ext + 4) != 0 {
        return Err(Errno::EINVAL);
    }
    ctx.pc = get(mc);
    for r in 1..32u64 {
        ctx.x[r as usize] = get(mc + 8 * r);
    }
    for r in 0..32u64 {
        ctx.f[r as usize] = get(mc + SC_FPREGS + 8 * r);
    }
    ctx.fcsr = (get(mc + SC_FPREGS + 256) as u32) & 0xff;
    blocked.set(get(uc + 40) & !(bit(SIGKILL) | bit(SIGSTOP)));
    // restore_altstack(): do_sigaltstack() from uc_stack at the restored sp.
    let _ = altstack.sys_sigaltstack(u, frame + uc + 16, 0, ctx.x[2]);
    Ok(())
}

/// Whether the default action of `signo` is to ignore it (SIGCHLD, SIGURG, SIGWINCH).
pub fn default_ignored(signo: u8) -> bool {
    matches!(signo, 17 | 23 | 28)
}

/// The signal handlers (`struct sighand_struct`): one disposition per signal, shared by
/// the tasks of `clone(CLONE_SIGHAND)` (every thread) and copied by `fork`
/// (`copy_sighand()`), behind its own lock (`sighand->siglock`).
#[derive(Debug)]
pub struct SigHand {
    action: crate::sync::Mutex<[SigAction; NSIG]>,
}

impl Default for SigHand {
    fn default() -> Self {
        SigHand {
            action: crate::sync::Mutex::new([SigAction::default(); NSIG]),
        }
    }
}

impl SigHand {
    /// `copy_sighand()` without `CLONE_SIGHAND`: a copy of the dispositions.
    pub fn copy(&self) -> SigHand {
        SigHand {
            action: crate::sync::Mutex::new(*self.action.lock()),
        }
    }

    /// Sets the disposition of `signo` (1..=64; others are ignored).
    pub fn set_action(&self, signo: u8, act: SigAction) {
        if let Some(a) = self
            .action
            .lock()
            .get_mut(usize::from(signo).wrapping_sub(1))
        {
            *a = act;
        }
    }

    /// Every disposition, signal `n` at index `n - 1`: a copy taken under the lock.
    pub fn snapshot(&self) -> [SigAction; NSIG] {
        *self.action.lock()
    }

    /// The disposition of `signo` (1..=64; the default for others).
    pub fn action(&self, signo: u8) -> SigAction {
        self.action
            .lock()
            .get(usize::from(signo).wrapping_sub(1))
            .copied()
            .unwrap_or_default()
    }

    /// `rt_sigaction(sig, act, oact, sigsetsize)` (`kernel/signal.c`: the syscall, then
    /// `do_sigaction()` under `sighand->siglock`, here the handlers' own lock). What
    /// `do_sigaction()` does besides — discarding the pending instances of a signal the
    /// new action ignores, from every thread's queue — is the caller's: the queues are
    /// not here ([`ignores`] tells when).
    ///
    /// # Errors
    /// In Linux's order: `EINVAL` for `sigsetsize != 8`; `EFAULT` for an unreadable `act`;
    /// `EINVAL` for a signal outside 1..=64 or SIGKILL/SIGSTOP with `act`; `EFAULT` for an
    /// unwritable `oact` (the new action is already set).
    pub fn sys_rt_sigaction(
        &self,
        u: &mut dyn UserAccess,
        sig: u64,
        act: u64,
        oact: u64,
        setsize: u64,
    ) -> KResult<u64> {
        // The rt_sigaction syscall: the set size, then the copy of `act` (EFAULT), then
        // do_sigaction()'s signal checks; `oact` is written after the change.
        if setsize != 8 {
            return Err(Errno::EINVAL);
        }
        let new = if act != 0 {
            Some(SigAction {
                handler: u.get_user_u64(act)?,
                flags: u.get_user_u64(act + 8)?,
                mask: u.get_user_u64(act + 16)? & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))),
            })
        } else {
            None
        };
        if sig == 0
            || sig > NSIG as u64
            || (new.is_some() && (sig == u64::from(SIGKILL) || sig == u64::from(SIGSTOP)))
        {
            return Err(Errno::EINVAL);
        }
        let idx = (sig - 1) as usize;
        let old = {
            let mut actions = self.action.lock();
            let old = actions[idx];
            if let Some(n) = new {
                actions[idx] = n;
            }
            old
        };
        if oact != 0 {
            u.put_user_u64(oact, old.handler)?;
            u.put_user_u64(oact + 8, old.flags)?;
            u.put_user_u64(oact + 16, old.mask)?;
        }
        Ok(0)
    }
}

/// `sig_handler_ignored()`: whether handler `handler` (a `sa_handler` value) makes signal
/// `sig` ignored — `SIG_IGN`, or `SIG_DFL` for a signal whose default is to ignore it.
pub fn ignores(sig: u64, handler: u64) -> bool {
    handler == SIG_IGN || (handler == SIG_DFL && u8::try_from(sig).is_ok_and(default_ignored))
}

/// A task's alternate signal stack (`task->sas_ss_sp`, `sas_ss_size`, `sas_ss_flags`):
/// `(ss_sp, ss_flags, ss_size)`, `ss_flags` being `SS_DISABLE` or the `SS_AUTODISARM`
/// the stack was set with. Only the task itself reads or writes it (`sigaltstack`,
/// `rt_sigreturn`'s `restore_altstack()`, the delivery of one of its signals, its
/// `execve`), on the hart that runs it, with or without the kernel lock — Linux's fields
/// are plain ones of `current` — so no lock guards it; it is one cell, shared by the
/// task's entry in the task table and the hart running the task ([`SigAltStack::share`]),
/// of three atomics only because two places reach it. Cloning copies the value into a
/// cell of the clone's own.
#[derive(Debug)]
pub struct SigAltStack(std::sync::Arc<[AtomicU64; 3]>);

impl Default for SigAltStack {
    fn default() -> Self {
        SigAltStack::new((0, SS_DISABLE, 0))
    }
}

impl Clone for SigAltStack {
    fn clone(&self) -> Self {
        SigAltStack::new(self.get())
    }
}

impl SigAltStack {
    /// A cell of its own holding `(ss_sp, ss_flags, ss_size)`.
    pub fn new((sp, flags, size): (u64, u32, u64)) -> Self {
        let cell = [
            AtomicU64::new(sp),
            AtomicU64::new(u64::from(flags)),
            AtomicU64::new(size),
        ];
        SigAltStack(std::sync::Arc::new(cell))
    }

    /// `(ss_sp, ss_flags, ss_size)`.
    pub fn get(&self) -> (u64, u32, u64) {
        let [sp, flags, size] = &*self.0;
        (
            sp.load(Ordering::Relaxed),
            flags.load(Ordering::Relaxed) as u32,
            size.load(Ordering::Relaxed),
        )
    }

    fn set(&self, (sp, flags, size): (u64, u32, u64)) {
        let [s, f, z] = &*self.0;
        s.store(sp, Ordering::Relaxed);
        f.store(u64::from(flags), Ordering::Relaxed);
        z.store(size, Ordering::Relaxed);
    }

    /// `sas_ss_reset()`: no alternate stack (`SS_DISABLE`).
    pub fn reset(&self) {
        self.set((0, SS_DISABLE, 0));
    }

    /// Another handle on the same cell, for the hart that runs the task.
    pub fn share(&self) -> SigAltStack {
        SigAltStack(std::sync::Arc::clone(&self.0))
    }

    /// `sigaltstack(ss, old_ss)` at user stack pointer `sp` (`stack_t` = `ss_sp`,
    /// `ss_flags` (int, padded), `ss_size`), as `do_sigaltstack()`: `ss` is read first,
    /// then the checks in Linux's order; the old stack is written to `old_ss` after the
    /// new one is set. `ss_flags` is 0, `SS_ONSTACK` (accepted as 0 for old programs) or
    /// `SS_DISABLE`, with or without `SS_AUTODISARM`.
    ///
    /// # Errors
    /// `EFAULT` for an unreadable `ss`; `EPERM` while running on the alternate stack;
    /// `EINVAL` for other flags; `ENOMEM` for a stack smaller than `MINSIGSTKSZ`; `EFAULT`
    /// for an unwritable `old_ss`.
    pub fn sys_sigaltstack(
        &self,
        u: &mut dyn UserAccess,
        ss: u64,
        old: u64,
        sp: u64,
    ) -> KResult<u64> {
        let (alt_sp, alt_flags, alt_size) = self.get();
        let on_stack = alt_flags & SS_DISABLE == 0 && sp.wrapping_sub(alt_sp) < alt_size;
        if ss != 0 {
            let sp = u.get_user_u64(ss)?;
            let flags = u.get_user_u64(ss + 8)? as u32;
            let size = u.get_user_u64(ss + 16)?;
            if on_stack {
                // The alternate stack cannot be changed while running on it.
                return Err(Errno::EPERM);
            }
            let mode = flags & !SS_AUTODISARM;
            if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
                return Err(Errno::EINVAL);
            }
            if mode == SS_DISABLE {
                self.reset();
            } else if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            } else {
                self.set((sp, flags & SS_AUTODISARM, size));
            }
        }
        if old != 0 {
            let flags = if on_stack { SS_ONSTACK } else { alt_flags };
            u.put_user_u64(old, alt_sp)?;
            u.put_user_u64(old + 8, u64::from(flags))?;
            u.put_user_u64(old + 16, alt_size)?;
        }
        Ok(0)
    }
}

/// A task's signal state: its own blocked mask, alternate stack and saved mask
/// (`task->blocked`, `task->sas_ss_*`, `task->saved_sigmask`) and its handle on the
/// shared handlers (`task->sighand`). Cloning shares the handlers (`CLONE_SIGHAND`);
/// [`SignalState::unshare_sighand`] gives the task a copy of its own.
#[derive(Debug, Clone, Default)]
pub struct SignalState {
    sighand: std::sync::Arc<SigHand>,
    /// Blocked signals ([`SigMask`]: the hart running the task shares it).
    pub blocked: SigMask,
    /// The alternate stack ([`SigAltStack`]: the hart running the task shares it).
    pub altstack: SigAltStack,
    /// The mask `rt_sigsuspend` replaced, restored when the handler returns
    /// (`current->saved_sigmask`).
    pub saved_mask: Option<u64>,
}

/// `SS_ONSTACK`.
const SS_ONSTACK: u32 = 1;
/// `SS_DISABLE`.
const SS_DISABLE: u32 = 2;
/// `SS_AUTODISARM`: the stack is disarmed while a handler runs on it.
const SS_AUTODISARM: u32 = 1 << 31;
/// `MINSIGSTKSZ` on riscv64.
const MINSIGSTKSZ: u64 = 2048;

impl SignalState {
    /// The disposition of `signo` (1..=64).
    pub fn action(&self, signo: u8) -> SigAction {
        self.sighand.action(signo)
    }

    /// The shared handlers.
    pub fn sighand(&self) -> &std::sync::Arc<SigHand> {
        &self.sighand
    }

    /// `copy_sighand()` without `CLONE_SIGHAND` (`fork`), or `unshare_sighand()` of
    /// `execve` when another process still shares the handlers: this task gets a copy
    /// of its own.
    pub fn unshare_sighand(&mut self) {
        if std::sync::Arc::strong_count(&self.sighand) > 1 {
            self.sighand = std::sync::Arc::new(self.sighand.copy());
        }
    }

    /// What `execve` does to signal state (`flush_signal_handlers`): caught signals go back
    /// to their default action, ignored ones stay ignored; the alternate stack is cleared;
    /// the blocked mask is kept.
    pub fn exec_reset(&mut self) {
        self.unshare_sighand();
        for a in self.sighand.action.lock().iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
        self.altstack.reset();
    }

    /// Sets the disposition of `signo` (1..=64; others are ignored).
    pub fn set_action(&mut self, signo: u8, act: SigAction) {
        self.sighand.set_action(signo, act);
    }

    /// Whether a signal sent now would be ignored (`sig_ignored` without the blocked case:
    /// SIG_IGN, or SIG_DFL for a default-ignored signal).
    pub fn is_ignored(&self, signo: u8) -> bool {
        let a = self.action(signo);
        a.handler == SIG_IGN || (a.handler == SIG_DFL && default_ignored(signo))
    }

    /// Whether `signo` is blocked.
    pub fn is_blocked(&self, signo: u8) -> bool {
        self.blocked.is_blocked(signo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uaccess::MockUser;

    #[test]
    fn handlers_are_shared_until_unshared_and_exec_resets_its_own_copy() {
        let handler = |h| SigAction {
            handler: h,
            ..SigAction::default()
        };
        let mut a = SignalState::default();
        // CLONE_SIGHAND: one set of handlers; the masks stay per task.
        let mut b = a.clone();
        b.blocked.set(1);
        a.set_action(10, handler(0x1000));
        assert_eq!(b.action(10).handler, 0x1000);
        assert_eq!(a.blocked.get(), 0, "a clone's mask is a cell of its own");
        // fork (copy_sighand()): a copy, changed on its own.
        let mut c = a.clone();
        c.unshare_sighand();
        c.set_action(10, handler(0x2000));
        assert_eq!(a.action(10).handler, 0x1000);
        // execve: b gets its own handlers back to SIG_DFL; a and c keep theirs.
        a.set_action(12, handler(SIG_IGN));
        b.exec_reset();
        assert_eq!(b.action(10).handler, SIG_DFL);
        assert_eq!(b.action(12).handler, SIG_IGN, "ignored stays ignored");
        assert_eq!(a.action(10).handler, 0x1000);
        assert_eq!(c.action(10).handler, 0x2000);
    }

    #[test]
    fn sigaction_round_trip_and_rules() {
        let mut u = MockUser {
            base: 0x1000,
            mem: vec![0; 256],
        };
        let s = SignalState::default();
        u.put_user_u64(0x1000, 0x1234).unwrap();
        u.put_user_u64(0x1008, 4).unwrap();
        u.put_user_u64(0x1010, u64::MAX).unwrap();
        s.sighand()
            .sys_rt_sigaction(&mut u, 11, 0x1000, 0, 8)
            .unwrap();
        assert_eq!(s.action(11).handler, 0x1234);
        assert_eq!(
            s.action(11).mask & (1 << 8),
            0,
            "SIGKILL can never be masked"
        );
        s.sighand()
            .sys_rt_sigaction(&mut u, 11, 0, 0x1040, 8)
            .unwrap();
        assert_eq!(u.get_user_u64(0x1040).unwrap(), 0x1234);
        assert_eq!(
            s.sighand().sys_rt_sigaction(&mut u, 9, 0x1000, 0, 8),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            s.sighand().sys_rt_sigaction(&mut u, 65, 0, 0, 8),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            s.sighand().sys_rt_sigaction(&mut u, 11, 0, 0, 4),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn frame_round_trip() {
        let mut u = MockUser {
            base: 0x10_000,
            mem: vec![0; 0x4000],
        };
        let mut s = SignalState::default();
        let mut ctx = UserContext::default();
        for r in 1..32 {
            ctx.x[r] = 0x1000 + r as u64;
            ctx.f[r] = 0x2000 + r as u64;
        }
        ctx.x[2] = 0x13_ff8;
        ctx.pc = 0xabc0;
        ctx.fcsr = 0x61;
        let saved = ctx.clone();
        let act = SigAction {
            handler: 0x5550,
            flags: SA_SIGINFO,
            mask: bit(SIGBUS),
        };
        let info = SigInfo {
            signo: SIGSEGV,
            code: SEGV_ACCERR,
            addr: 0xdead_0000,
            status: 0,
        };
        setup_rt_frame(&mut u, &mut ctx, &mut s, &info, &act, 0x7770).unwrap();
        assert_eq!(ctx.pc, 0x5550);
        assert_eq!(ctx.x[1], 0x7770);
        assert_eq!(ctx.x[2] % 16, 0);
        assert_eq!(ctx.x[2], (0x13_ff8 - RT_SIGFRAME_SIZE) & !0xf);
        assert_eq!(ctx.x[10], 11);
        let info_va = ctx.x[11];
        assert_eq!(
            u.get_user_u64(info_va + 8).unwrap() as u32,
            SEGV_ACCERR as u32
        );
        assert_eq!(u.get_user_u64(info_va + 16).unwrap(), 0xdead_0000);
        assert_eq!(ctx.x[12], info_va + 128);
        assert!(s.is_blocked(SIGSEGV) && s.is_blocked(SIGBUS));
        // The handler returns through the trampoline with sp unchanged.
        restore_sigframe(&mut u, &mut ctx, &s.blocked, &s.altstack).unwrap();
        assert_eq!(ctx, saved);
        assert!(!s.is_blocked(SIGSEGV));
    }

    #[test]
    fn sigprocmask() {
        let mut u = MockUser {
            base: 0x1000,
            mem: vec![0; 64],
        };
        let s = SignalState::default();
        u.put_user_u64(0x1000, u64::MAX).unwrap();
        s.blocked
            .sys_rt_sigprocmask(&mut u, 0, 0x1000, 0x1008, 8)
            .unwrap();
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 0);
        assert_eq!(s.blocked.get() & (1 << 8), 0, "SIGKILL stays unblocked");
        // The hart running the task shares the cell: what it sets, the task has.
        let shared = s.blocked.share();
        shared.set(0b10);
        assert_eq!(s.blocked.get(), 0b10);
        assert_eq!(
            s.blocked.sys_rt_sigprocmask(&mut u, 7, 0x1000, 0, 8),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn a_queue_summarizes_its_signals_and_queues_a_standard_one_once() {
        let info = |signo| SigInfo {
            signo,
            code: SI_KERNEL,
            addr: 0,
            status: 0,
        };
        let q = SigQueue::default();
        let summary = q.summary();
        q.push(info(10));
        q.push(info(10));
        q.push(info(40));
        q.push(info(40));
        assert_eq!(
            q.snapshot().len(),
            3,
            "SIGUSR1 once, both real-time instances"
        );
        assert_eq!(summary.load(Ordering::SeqCst), (1 << 9) | (1 << 39));
        assert_eq!(q.take_first(|s| s.signo == 40).map(|s| s.signo), Some(40));
        assert_eq!(q.set(), (1 << 9) | (1 << 39), "one SIGRTMIN+6 still waits");
        q.retain(|s| s.signo != 40);
        assert_eq!(q.set(), 1 << 9);
        assert_eq!(q.clone().set(), 0, "a new task's queue starts empty");
    }
}
