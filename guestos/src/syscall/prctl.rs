//! `prctl(option, arg2, arg3, arg4, arg5)` (`kernel/sys.c`): the options that name a
//! task's own state — its name, parent-death signal, dumpable mode, `no_new_privs`,
//! child-subreaper flag, `clear_child_tid` address and tagged-address control (arm64's
//! MTE ABI, [`crate::mm::mte`]). Every other option is `EINVAL`,
//! as Linux answers an option it does not know (`default: error = -EINVAL`).

use crate::errno::{Errno, KResult};
use crate::mm::mte::{TaggedAddrCtrl, PR_GET_TAGGED_ADDR_CTRL, PR_SET_TAGGED_ADDR_CTRL};
use crate::process::{Task, TASK_COMM_LEN};
use crate::signal::valid_signal;
use crate::uaccess::UserAccess;

/// `PR_SET_PDEATHSIG` (`include/uapi/linux/prctl.h`).
pub const PR_SET_PDEATHSIG: i32 = 1;
/// `PR_GET_PDEATHSIG`.
pub const PR_GET_PDEATHSIG: i32 = 2;
/// `PR_GET_DUMPABLE`.
pub const PR_GET_DUMPABLE: i32 = 3;
/// `PR_SET_DUMPABLE`.
pub const PR_SET_DUMPABLE: i32 = 4;
/// `PR_SET_NAME`.
pub const PR_SET_NAME: i32 = 15;
/// `PR_GET_NAME`.
pub const PR_GET_NAME: i32 = 16;
/// `PR_SET_CHILD_SUBREAPER`.
pub const PR_SET_CHILD_SUBREAPER: i32 = 36;
/// `PR_GET_CHILD_SUBREAPER`.
pub const PR_GET_CHILD_SUBREAPER: i32 = 37;
/// `PR_SET_NO_NEW_PRIVS`.
pub const PR_SET_NO_NEW_PRIVS: i32 = 38;
/// `PR_GET_NO_NEW_PRIVS`.
pub const PR_GET_NO_NEW_PRIVS: i32 = 39;
/// `PR_GET_TID_ADDRESS` (`CONFIG_CHECKPOINT_RESTORE`).
pub const PR_GET_TID_ADDRESS: i32 = 40;

/// `SUID_DUMP_DISABLE`.
const SUID_DUMP_DISABLE: u64 = 0;

/// `prctl(option, arg2..arg5)` by task `p`, whose memory is `mm`; `option` is an `int`,
/// the others `unsigned long`s. Returns 0, or the value a `PR_GET_*` returns itself
/// (`PR_GET_DUMPABLE`: 0 or 1; `PR_GET_NO_NEW_PRIVS`: 0 or 1).
///
/// - `PR_SET_NAME`/`PR_GET_NAME`: the calling thread's `comm`, at most 15 bytes read
///   (`strncpy_from_user()`), 16 written;
/// - `PR_SET_PDEATHSIG`/`PR_GET_PDEATHSIG` (`int *`): the signal the process gets when
///   its parent thread exits (see `kernel/pgrp.rs`);
/// - `PR_SET_DUMPABLE` (0 or 1)/`PR_GET_DUMPABLE`: the process's dumpable mode;
/// - `PR_SET_NO_NEW_PRIVS` (arg2 = 1, the rest 0)/`PR_GET_NO_NEW_PRIVS` (all 0): sticky;
/// - `PR_SET_CHILD_SUBREAPER`/`PR_GET_CHILD_SUBREAPER` (`int *`): orphans below this
///   process come to it rather than to init;
/// - `PR_GET_TID_ADDRESS` (`int **`): the `set_tid_address` pointer;
/// - `PR_SET_TAGGED_ADDR_CTRL` (arg2 the control word, the rest 0) /
///   `PR_GET_TAGGED_ADDR_CTRL` (all 0): the calling thread's tagged-address ABI, MTE
///   check mode and `gentag` include mask ([`TaggedAddrCtrl::from_prctl`]); the GET
///   returns the word itself. The kernel loads it into the hart after the call.
///
/// # Errors
/// `EINVAL` for an unknown option, a signal above 64, a dumpable mode other than 0/1,
/// non-zero unused arguments of the `NO_NEW_PRIVS` and `TAGGED_ADDR_CTRL` options, a
/// control word [`TaggedAddrCtrl::from_prctl`] refuses; `EFAULT` for a bad pointer.
pub fn sys_prctl(p: &mut Task, mm: &mut dyn UserAccess, a: [u64; 6]) -> KResult<u64> {
    let (option, arg2) = (a[0] as u32 as i32, a[1]);
    let put_int = |mm: &mut dyn UserAccess, v: i32| mm.copy_to_user(arg2, &v.to_le_bytes());
    match option {
        PR_SET_PDEATHSIG => {
            if !valid_signal(arg2) {
                return Err(Errno::EINVAL);
            }
            p.pdeath_signal = arg2 as u8;
        }
        PR_GET_PDEATHSIG => put_int(mm, i32::from(p.pdeath_signal))?,
        PR_GET_DUMPABLE => return Ok(u64::from(p.signal.lock().dumpable)),
        PR_SET_DUMPABLE => {
            if arg2 > 1 {
                return Err(Errno::EINVAL);
            }
            p.signal.lock().dumpable = u8::from(arg2 != SUID_DUMP_DISABLE);
        }
        PR_SET_NAME => {
            // strncpy_from_user(comm, arg2, TASK_COMM_LEN - 1): up to the NUL or 15
            // bytes, EFAULT if a byte before that cannot be read.
            let mut name = Vec::with_capacity(TASK_COMM_LEN);
            for i in 0..TASK_COMM_LEN as u64 - 1 {
                let mut b = [0u8];
                mm.copy_from_user(arg2.wrapping_add(i), &mut b)?;
                if b[0] == 0 {
                    break;
                }
                name.push(b[0]);
            }
            p.set_comm(&name);
        }
        PR_GET_NAME => mm.copy_to_user(arg2, &p.comm)?,
        PR_SET_CHILD_SUBREAPER => p.signal.lock().is_child_subreaper = arg2 != 0,
        PR_GET_CHILD_SUBREAPER => {
            let on = p.signal.lock().is_child_subreaper;
            put_int(mm, i32::from(on))?;
        }
        PR_SET_NO_NEW_PRIVS => {
            if arg2 != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
                return Err(Errno::EINVAL);
            }
            p.no_new_privs = true;
        }
        PR_GET_NO_NEW_PRIVS => {
            if a[1..5].iter().any(|&x| x != 0) {
                return Err(Errno::EINVAL);
            }
            return Ok(u64::from(p.no_new_privs));
        }
        PR_GET_TID_ADDRESS => mm.put_user_u64(arg2, p.user_ptrs.clear_child_tid())?,
        // kernel/sys.c: "if (arg3 || arg4 || arg5) return -EINVAL;" then
        // SET_TAGGED_ADDR_CTRL(arg2) / GET_TAGGED_ADDR_CTRL() (arg2 too must be 0).
        PR_SET_TAGGED_ADDR_CTRL => {
            if a[2..5].iter().any(|&x| x != 0) {
                return Err(Errno::EINVAL);
            }
            let ctrl = TaggedAddrCtrl::from_prctl(arg2)?;
            if let Some(m) = &p.mm {
                m.set_tagged_addr_ctrl(ctrl);
            }
            p.mte_ctrl = ctrl;
        }
        PR_GET_TAGGED_ADDR_CTRL => {
            if a[1..5].iter().any(|&x| x != 0) {
                return Err(Errno::EINVAL);
            }
            return Ok(p.mte_ctrl.bits());
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}
