//! Signal numbers, `si_code`s and the per-process signal bookkeeping of this version.
//!
//! Dispositions are recorded (`rt_sigaction`, `rt_sigprocmask`, `sigaltstack` behave as
//! Linux's do for the caller) but handlers are not yet invoked: a synchronous fault or a
//! self-sent fatal signal ends the process with the default action, as if no handler were
//! installed. Handler delivery (`setup_rt_frame`, `rt_sigreturn`) comes with fork/signals.

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
/// `si_code` BUS_ADRALN: invalid address alignment.
pub const BUS_ADRALN: i32 = 1;
/// `si_code` ILL_ILLOPC: illegal opcode.
pub const ILL_ILLOPC: i32 = 1;
/// `si_code` TRAP_BRKPT: process breakpoint.
pub const TRAP_BRKPT: i32 = 1;
/// `si_code` SI_TKILL: sent by tkill/tgkill.
pub const SI_TKILL: i32 = -6;
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

/// Whether the default action of `signo` is to ignore it (SIGCHLD, SIGURG, SIGWINCH).
pub fn default_ignored(signo: u8) -> bool {
    matches!(signo, 17 | 23 | 28)
}

/// Per-process signal state.
#[derive(Debug, Clone)]
pub struct SignalState {
    actions: [SigAction; NSIG],
    /// Blocked signals.
    pub blocked: u64,
    /// `sigaltstack` as `(ss_sp, ss_flags, ss_size)`.
    pub altstack: (u64, u32, u64),
}

impl Default for SignalState {
    fn default() -> Self {
        Self { actions: [SigAction::default(); NSIG], blocked: 0, altstack: (0, SS_DISABLE, 0) }
    }
}

/// `SS_DISABLE`.
const SS_DISABLE: u32 = 2;
/// `MINSIGSTKSZ` on riscv64.
const MINSIGSTKSZ: u64 = 2048;

impl SignalState {
    /// The disposition of `signo` (1..=64).
    pub fn action(&self, signo: u8) -> SigAction {
        self.actions.get(usize::from(signo).wrapping_sub(1)).copied().unwrap_or_default()
    }

    /// `rt_sigaction(sig, act, oact, sigsetsize)`.
    ///
    /// # Errors
    /// `EINVAL` for a bad signal, SIGKILL/SIGSTOP with `act`, or `sigsetsize != 8`;
    /// `EFAULT`.
    pub fn sys_rt_sigaction(&mut self, u: &mut dyn UserAccess, sig: u64, act: u64, oact: u64, setsize: u64) -> KResult<u64> {
        if setsize != 8 || sig == 0 || sig > NSIG as u64 {
            return Err(Errno::EINVAL);
        }
        let idx = (sig - 1) as usize;
        let new = if act != 0 {
            if sig == u64::from(SIGKILL) || sig == u64::from(SIGSTOP) {
                return Err(Errno::EINVAL);
            }
            Some(SigAction {
                handler: u.get_user_u64(act)?,
                flags: u.get_user_u64(act + 8)?,
                mask: u.get_user_u64(act + 16)? & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))),
            })
        } else {
            None
        };
        if oact != 0 {
            let old = self.actions[idx];
            u.put_user_u64(oact, old.handler)?;
            u.put_user_u64(oact + 8, old.flags)?;
            u.put_user_u64(oact + 16, old.mask)?;
        }
        if let Some(n) = new {
            self.actions[idx] = n;
        }
        Ok(0)
    }

    /// `rt_sigprocmask(how, set, oset, sigsetsize)`.
    ///
    /// # Errors
    /// `EINVAL` for a bad `how` or `sigsetsize`; `EFAULT`.
    pub fn sys_rt_sigprocmask(&mut self, u: &mut dyn UserAccess, how: u64, set: u64, oset: u64, setsize: u64) -> KResult<u64> {
        const SIG_BLOCK: u64 = 0;
        const SIG_UNBLOCK: u64 = 1;
        const SIG_SETMASK: u64 = 2;
        if setsize != 8 {
            return Err(Errno::EINVAL);
        }
        let old = self.blocked;
        if set != 0 {
            let s = u.get_user_u64(set)?;
            let unblockable = (1u64 << (SIGKILL - 1)) | (1u64 << (SIGSTOP - 1));
            self.blocked = match how {
                SIG_BLOCK => old | s,
                SIG_UNBLOCK => old & !s,
                SIG_SETMASK => s,
                _ => return Err(Errno::EINVAL),
            } & !unblockable;
        }
        if oset != 0 {
            u.put_user_u64(oset, old)?;
        }
        Ok(0)
    }

    /// `sigaltstack(ss, old_ss)` (`stack_t` = `ss_sp`, `ss_flags` (int, padded), `ss_size`).
    ///
    /// # Errors
    /// `EINVAL` for bad flags, `ENOMEM` for a stack smaller than MINSIGSTKSZ, `EFAULT`.
    pub fn sys_sigaltstack(&mut self, u: &mut dyn UserAccess, ss: u64, old: u64) -> KResult<u64> {
        let new = if ss != 0 {
            let sp = u.get_user_u64(ss)?;
            let flags = u.get_user_u64(ss + 8)? as u32;
            let size = u.get_user_u64(ss + 16)?;
            if flags & !(SS_DISABLE | (1 << 31)) != 0 {
                return Err(Errno::EINVAL);
            }
            if flags & SS_DISABLE == 0 && size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            Some((sp, flags, size))
        } else {
            None
        };
        if old != 0 {
            let (sp, flags, size) = self.altstack;
            u.put_user_u64(old, sp)?;
            u.put_user_u64(old + 8, u64::from(flags))?;
            u.put_user_u64(old + 16, size)?;
        }
        if let Some(n) = new {
            self.altstack = if n.1 & SS_DISABLE != 0 { (0, SS_DISABLE, 0) } else { n };
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uaccess::MockUser;

    #[test]
    fn sigaction_round_trip_and_rules() {
        let mut u = MockUser { base: 0x1000, mem: vec![0; 256] };
        let mut s = SignalState::default();
        u.put_user_u64(0x1000, 0x1234).unwrap();
        u.put_user_u64(0x1008, 4).unwrap();
        u.put_user_u64(0x1010, u64::MAX).unwrap();
        s.sys_rt_sigaction(&mut u, 11, 0x1000, 0, 8).unwrap();
        assert_eq!(s.action(11).handler, 0x1234);
        assert_eq!(s.action(11).mask & (1 << 8), 0, "SIGKILL can never be masked");
        s.sys_rt_sigaction(&mut u, 11, 0, 0x1040, 8).unwrap();
        assert_eq!(u.get_user_u64(0x1040).unwrap(), 0x1234);
        assert_eq!(s.sys_rt_sigaction(&mut u, 9, 0x1000, 0, 8), Err(Errno::EINVAL));
        assert_eq!(s.sys_rt_sigaction(&mut u, 65, 0, 0, 8), Err(Errno::EINVAL));
        assert_eq!(s.sys_rt_sigaction(&mut u, 11, 0, 0, 4), Err(Errno::EINVAL));
    }

    #[test]
    fn sigprocmask() {
        let mut u = MockUser { base: 0x1000, mem: vec![0; 64] };
        let mut s = SignalState::default();
        u.put_user_u64(0x1000, u64::MAX).unwrap();
        s.sys_rt_sigprocmask(&mut u, 0, 0x1000, 0x1008, 8).unwrap();
        assert_eq!(u.get_user_u64(0x1008).unwrap(), 0);
        assert_eq!(s.blocked & (1 << 8), 0);
        assert_eq!(s.sys_rt_sigprocmask(&mut u, 7, 0x1000, 0, 8), Err(Errno::EINVAL));
    }
}
