//! A task's full credentials (`struct cred`, `include/linux/cred.h`): the real, effective,
//! saved and file-system user and group ids, the supplementary groups and the capability
//! sets, with the rules `kernel/sys.c`, `kernel/groups.c` and `kernel/capability.c`
//! (through `security/commoncap.c`) apply when a system call changes them.
//!
//! Permission checks read the file-system ids through [`super::Cred`], which
//! [`super::ProcessFs::commit_creds`] keeps equal to [`TaskCred::fsuid`]/[`TaskCred::fsgid`]
//! (`commit_creds()`). The VFS treats fsuid 0 as `CAP_DAC_OVERRIDE`/`CAP_FOWNER`
//! regardless of the capability sets, and does not consult the supplementary groups
//! (`in_group_p()`); the sets here govern the id-changing calls themselves.

use std::sync::Arc;

use crate::errno::{Errno, KResult};

/// `CAP_CHOWN` … `CAP_CHECKPOINT_RESTORE` (`include/uapi/linux/capability.h`):
/// `CAP_LAST_CAP` is 40, so the valid bits are 0..=40 (`CAP_VALID_MASK`).
pub const CAP_VALID_MASK: u64 = (1 << 41) - 1;
/// `CAP_SETGID`: change group ids, `setgroups()`.
pub const CAP_SETGID: u32 = 6;
/// `CAP_SETUID`: change user ids.
pub const CAP_SETUID: u32 = 7;
/// `CAP_SETPCAP`: raise inheritable capabilities beyond the permitted set.
pub const CAP_SETPCAP: u32 = 8;
/// `CAP_FS_MASK` (`include/linux/capability.h`): the capabilities an fsuid of 0 carries —
/// `CAP_CHOWN`, `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, `CAP_FOWNER`, `CAP_FSETID`,
/// `CAP_LINUX_IMMUTABLE` (9), `CAP_MKNOD` (27), `CAP_MAC_OVERRIDE` (32).
pub const CAP_FS_MASK: u64 = 0x1f | (1 << 9) | (1 << 27) | (1 << 32);
/// `NGROUPS_MAX` (`include/uapi/linux/limits.h`): the most supplementary groups.
pub const NGROUPS_MAX: u64 = 65536;

/// The credentials of one task (`struct cred`). Ids are `kuid_t`/`kgid_t` values of the
/// initial user namespace; `u32::MAX` (`(uid_t)-1`) is never an id (`uid_valid()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCred {
    /// Real user id (`cred->uid`).
    pub uid: u32,
    /// Effective user id (`cred->euid`).
    pub euid: u32,
    /// Saved set-user-id (`cred->suid`).
    pub suid: u32,
    /// File-system user id (`cred->fsuid`), which permission checks use.
    pub fsuid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
    /// File-system group id.
    pub fsgid: u32,
    /// Supplementary groups, sorted (`struct group_info`, `groups_sort()`).
    pub groups: Arc<[u32]>,
    /// `cap_inheritable`, one bit per capability.
    pub cap_inheritable: u64,
    /// `cap_permitted`.
    pub cap_permitted: u64,
    /// `cap_effective`.
    pub cap_effective: u64,
}

impl Default for TaskCred {
    /// The init task's (`init_cred`): root, no supplementary groups, every capability
    /// permitted and effective, none inheritable — as a container's init runs.
    fn default() -> Self {
        TaskCred {
            uid: 0,
            euid: 0,
            suid: 0,
            fsuid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            fsgid: 0,
            groups: Arc::from(Vec::new()),
            cap_inheritable: 0,
            cap_permitted: CAP_VALID_MASK,
            cap_effective: CAP_VALID_MASK,
        }
    }
}

/// An id argument: `(uid_t)-1` means "leave unchanged" (`None`).
fn id_arg(v: u64) -> Option<u32> {
    let id = v as u32;
    (id != u32::MAX).then_some(id)
}

/// One kind of ids, `[real, effective, saved, fs]`: the uids or the gids, which the
/// `set*uid` and `set*gid` calls change by the same rules (`cap`: `CAP_SETUID` or
/// `CAP_SETGID`).
type Ids = [u32; 4];

/// `__sys_setuid()`/`__sys_setgid()`: with `cap` all four become `id`; without, the
/// effective and fs ids may become the real or saved one.
fn set_id(cur: Ids, id: u64, cap: bool) -> KResult<Ids> {
    let id = id_arg(id).ok_or(Errno::EINVAL)?;
    let [r, _, s, _] = cur;
    if cap {
        Ok([id; 4])
    } else if id == r || id == s {
        Ok([r, id, s, id])
    } else {
        Err(Errno::EPERM)
    }
}

/// `__sys_setreuid()`/`__sys_setregid()`: `-1` leaves an id; without `cap` the real id
/// may become the real or effective one, the effective id any of real, effective,
/// saved. The saved id follows the new effective one when the real id is set or the
/// effective one set to other than the old real id; the fs id follows the effective.
fn set_reid(cur: Ids, real: u64, eff: u64, cap: bool) -> KResult<Ids> {
    let (real, eff) = (id_arg(real), id_arg(eff));
    let [r, e, s, _] = cur;
    if real.is_some_and(|x| x != r && x != e && !cap)
        || eff.is_some_and(|x| x != r && x != e && x != s && !cap)
    {
        return Err(Errno::EPERM);
    }
    let (nr, ne) = (real.unwrap_or(r), eff.unwrap_or(e));
    let ns = if real.is_some() || eff.is_some_and(|x| x != r) {
        ne
    } else {
        s
    };
    Ok([nr, ne, ns, ne])
}

/// `__sys_setresuid()`/`__sys_setresgid()`: `-1` leaves an id; without `cap` each may
/// only become one of the current real, effective or saved ids. The fs id follows the
/// effective one.
fn set_resid(cur: Ids, new: [u64; 3], cap: bool) -> KResult<Ids> {
    let new = new.map(id_arg);
    let [r, e, s, _] = cur;
    let held = |id: u32| id == r || id == e || id == s;
    if !cap && new.iter().flatten().any(|&id| !held(id)) {
        return Err(Errno::EPERM);
    }
    let ne = new[1].unwrap_or(e);
    Ok([new[0].unwrap_or(r), ne, new[2].unwrap_or(s), ne])
}

/// `__sys_setfsuid()`/`__sys_setfsgid()`: the fs id becomes `id` if it is one of the
/// four or with `cap`; `(uid_t)-1` and a refusal leave them.
fn set_fsid(cur: Ids, id: u64, cap: bool) -> Ids {
    let mut ids = cur;
    if let Some(id) = id_arg(id).filter(|id| cap || cur.contains(id)) {
        ids[3] = id;
    }
    ids
}

impl TaskCred {
    /// `ns_capable(current_user_ns(), cap)`: whether `cap` is in the effective set.
    pub fn capable(&self, cap: u32) -> bool {
        self.cap_effective & (1 << cap) != 0
    }

    /// `cap_emulate_setxuid()` (`cap_task_fix_setuid()`'s `LSM_SETID_ID`/`RE`/`RES`
    /// cases, `security/commoncap.c`, without `SECURE_KEEP_CAPS`/
    /// `SECURE_NO_SETUID_FIXUP`): the capability sets after the uid change from `old` to
    /// `self`.
    fn fix_setuid(&mut self, old: &TaskCred) {
        let root = |c: &TaskCred| c.uid == 0 || c.euid == 0 || c.suid == 0;
        // Losing every root uid drops permitted and effective.
        if root(old) && !root(self) {
            self.cap_permitted = 0;
            self.cap_effective = 0;
        }
        if old.euid == 0 && self.euid != 0 {
            self.cap_effective = 0;
        }
        if old.euid != 0 && self.euid == 0 {
            self.cap_effective = self.cap_permitted;
        }
    }

    /// `cap_task_fix_setuid()`'s `LSM_SETID_FS` case: an fsuid leaving 0 drops
    /// [`CAP_FS_MASK`] from the effective set; one becoming 0 raises it from permitted.
    fn fix_setfsuid(&mut self, old: &TaskCred) {
        if old.fsuid == 0 && self.fsuid != 0 {
            self.cap_effective &= !CAP_FS_MASK;
        }
        if old.fsuid != 0 && self.fsuid == 0 {
            self.cap_effective |= self.cap_permitted & CAP_FS_MASK;
        }
    }

    /// The user ids `[real, effective, saved, fs]`.
    fn uids(&self) -> Ids {
        [self.uid, self.euid, self.suid, self.fsuid]
    }

    /// The group ids `[real, effective, saved, fs]`.
    fn gids(&self) -> Ids {
        [self.gid, self.egid, self.sgid, self.fsgid]
    }

    /// The credentials with user ids `u` (from `setuid`, `setreuid`, `setresuid`), their
    /// capabilities fixed up ([`TaskCred::fix_setuid`]).
    fn with_uids(&self, u: Ids) -> TaskCred {
        let mut new = self.clone();
        [new.uid, new.euid, new.suid, new.fsuid] = u;
        new.fix_setuid(self);
        new
    }

    /// The credentials with group ids `g`.
    fn with_gids(&self, g: Ids) -> TaskCred {
        let mut new = self.clone();
        [new.gid, new.egid, new.sgid, new.fsgid] = g;
        new
    }

    /// `setuid(uid)` (`__sys_setuid()`): with `CAP_SETUID` every uid becomes `uid`;
    /// without it, the effective (and fs) uid may become the real or saved one.
    ///
    /// # Errors
    /// `EINVAL` for `(uid_t)-1`; `EPERM` as above.
    pub fn setuid(&self, uid: u64) -> KResult<TaskCred> {
        let u = set_id(self.uids(), uid, self.capable(CAP_SETUID))?;
        Ok(self.with_uids(u))
    }

    /// `setreuid(ruid, euid)` (`__sys_setreuid()`): `-1` leaves an id; without
    /// `CAP_SETUID` the real uid may become the real or effective one and the effective
    /// uid the real, effective or saved one. The saved uid follows the new effective one
    /// when the real uid is set or the effective one set to other than the old real uid.
    ///
    /// # Errors
    /// `EPERM` as above.
    pub fn setreuid(&self, ruid: u64, euid: u64) -> KResult<TaskCred> {
        let u = set_reid(self.uids(), ruid, euid, self.capable(CAP_SETUID))?;
        Ok(self.with_uids(u))
    }

    /// `setresuid(ruid, euid, suid)` (`__sys_setresuid()`): `-1` leaves an id; without
    /// `CAP_SETUID` each may only become one of the current real, effective or saved
    /// uids. The fs uid follows the effective one.
    ///
    /// # Errors
    /// `EPERM` as above.
    pub fn setresuid(&self, ruid: u64, euid: u64, suid: u64) -> KResult<TaskCred> {
        let u = set_resid(self.uids(), [ruid, euid, suid], self.capable(CAP_SETUID))?;
        Ok(self.with_uids(u))
    }

    /// `setfsuid(uid)` (`__sys_setfsuid()`): returns the old fs uid in every case; it
    /// becomes `uid` if that is one of the real, effective, saved or fs uids, or with
    /// `CAP_SETUID`. `(uid_t)-1` only queries.
    pub fn setfsuid(&self, uid: u64) -> (u32, TaskCred) {
        let mut new = self.clone();
        new.fsuid = set_fsid(self.uids(), uid, self.capable(CAP_SETUID))[3];
        new.fix_setfsuid(self);
        (self.fsuid, new)
    }

    /// `setgid(gid)` (`__sys_setgid()`), as [`TaskCred::setuid`] with `CAP_SETGID` and
    /// no capability fix-up.
    ///
    /// # Errors
    /// `EINVAL` for `(gid_t)-1`; `EPERM`.
    pub fn setgid(&self, gid: u64) -> KResult<TaskCred> {
        let g = set_id(self.gids(), gid, self.capable(CAP_SETGID))?;
        Ok(self.with_gids(g))
    }

    /// `setregid(rgid, egid)` (`__sys_setregid()`), as [`TaskCred::setreuid`].
    ///
    /// # Errors
    /// `EPERM`.
    pub fn setregid(&self, rgid: u64, egid: u64) -> KResult<TaskCred> {
        let g = set_reid(self.gids(), rgid, egid, self.capable(CAP_SETGID))?;
        Ok(self.with_gids(g))
    }

    /// `setresgid(rgid, egid, sgid)` (`__sys_setresgid()`), as [`TaskCred::setresuid`].
    ///
    /// # Errors
    /// `EPERM`.
    pub fn setresgid(&self, rgid: u64, egid: u64, sgid: u64) -> KResult<TaskCred> {
        let g = set_resid(self.gids(), [rgid, egid, sgid], self.capable(CAP_SETGID))?;
        Ok(self.with_gids(g))
    }

    /// `setfsgid(gid)` (`__sys_setfsgid()`), as [`TaskCred::setfsuid`].
    pub fn setfsgid(&self, gid: u64) -> (u32, TaskCred) {
        let g = set_fsid(self.gids(), gid, self.capable(CAP_SETGID));
        (self.fsgid, self.with_gids(g))
    }

    /// `setgroups()`'s check and `set_groups()` (`kernel/groups.c`): `groups` (read by
    /// the caller, at most [`NGROUPS_MAX`]) sorted become the supplementary groups.
    ///
    /// # Errors
    /// `EPERM` without `CAP_SETGID`.
    pub fn setgroups(&self, mut groups: Vec<u32>) -> KResult<TaskCred> {
        if !self.capable(CAP_SETGID) {
            return Err(Errno::EPERM);
        }
        groups.sort_unstable();
        Ok(TaskCred {
            groups: Arc::from(groups),
            ..self.clone()
        })
    }

    /// `cap_capset()` (`security/commoncap.c`): the new sets `(effective, permitted,
    /// inheritable)`, each masked to [`CAP_VALID_MASK`]. The inheritable set may only
    /// grow within the old inheritable and permitted sets (without `CAP_SETPCAP`; the
    /// bounding set is full), the permitted set may only shrink, and the effective set
    /// must lie within the new permitted one.
    ///
    /// # Errors
    /// `EPERM` as above.
    pub fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> KResult<TaskCred> {
        let (e, p, i) = (
            effective & CAP_VALID_MASK,
            permitted & CAP_VALID_MASK,
            inheritable & CAP_VALID_MASK,
        );
        let subset = |a: u64, b: u64| a & !b == 0;
        let inh_capped = !self.capable(CAP_SETPCAP);
        if inh_capped && !subset(i, self.cap_inheritable | self.cap_permitted) {
            return Err(Errno::EPERM);
        }
        if !subset(p, self.cap_permitted) || !subset(e, p) {
            return Err(Errno::EPERM);
        }
        Ok(TaskCred {
            cap_effective: e,
            cap_permitted: p,
            cap_inheritable: i,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32) -> TaskCred {
        let root = TaskCred::default();
        root.setresuid(u64::from(uid), u64::from(uid), u64::from(uid))
            .unwrap()
    }

    #[test]
    fn root_dropping_every_uid_loses_its_capabilities() {
        let c = user(1000);
        assert_eq!((c.uid, c.euid, c.suid, c.fsuid), (1000, 1000, 1000, 1000));
        assert_eq!((c.cap_permitted, c.cap_effective), (0, 0));
        assert_eq!(c.setuid(0), Err(Errno::EPERM));
        assert_eq!(c.setresuid(u64::MAX, 0, u64::MAX), Err(Errno::EPERM));
        assert_eq!(c.setgroups(vec![1]), Err(Errno::EPERM));
    }

    #[test]
    fn seteuid_away_from_root_and_back_keeps_permitted() {
        let root = TaskCred::default();
        let c = root.setresuid(u64::MAX, 1000, u64::MAX).unwrap();
        assert_eq!(c.cap_effective, 0);
        assert_eq!(c.cap_permitted, CAP_VALID_MASK);
        // The saved uid is still 0: going back is allowed and raises effective again.
        let back = c.setresuid(u64::MAX, 0, u64::MAX).unwrap();
        assert_eq!(back.cap_effective, CAP_VALID_MASK);
    }

    #[test]
    fn setreuid_sets_saved_uid_as_linux() {
        let c = user(1000).setresuid(u64::MAX, u64::MAX, 1000).unwrap();
        // An unprivileged swap of real and effective (equal here) keeps saved = new euid.
        let d = c.setreuid(1000, 1000).unwrap();
        assert_eq!(d.suid, 1000);
        assert_eq!(c.setreuid(2000, u64::MAX), Err(Errno::EPERM));
    }

    #[test]
    fn setfsuid_returns_the_old_value_even_when_refused() {
        let c = user(1000);
        let (old, new) = c.setfsuid(0);
        assert_eq!(old, 1000);
        assert_eq!(new.fsuid, 1000);
        let (old, root_fs) = TaskCred::default().setfsuid(1000);
        assert_eq!((old, root_fs.fsuid), (0, 1000));
        assert_eq!(root_fs.cap_effective & CAP_FS_MASK, 0);
    }

    #[test]
    fn capset_may_only_shrink_permitted_and_keep_effective_within() {
        let root = TaskCred::default();
        let c = root.capset(0, 1 << CAP_SETUID, 0).unwrap();
        assert_eq!(
            c.capset(1 << CAP_SETGID, 1 << CAP_SETUID, 0),
            Err(Errno::EPERM)
        );
        assert_eq!(c.capset(0, CAP_VALID_MASK, 0), Err(Errno::EPERM));
        assert_eq!(
            c.capset(0, 1 << CAP_SETUID, 1 << CAP_SETGID),
            Err(Errno::EPERM)
        );
        assert!(c.capset(1 << CAP_SETUID, 1 << CAP_SETUID, 0).is_ok());
    }

    #[test]
    fn setgroups_sorts() {
        let c = TaskCred::default().setgroups(vec![5, 1, 3]).unwrap();
        assert_eq!(&*c.groups, &[1, 3, 5]);
    }
}
