//! The mounts of the guest's file tree and the file system each inode lies on
//! (`inode->i_sb`): the two file classes Linux's mm treats differently.
//!
//! | mount | file system | class |
//! | --- | --- | --- |
//! | `/` | the root file system, reported as ext4 (what a Debian root is) | writeback |
//! | `/dev` | devtmpfs | shmem |
//! | `/dev/shm`, `/tmp` | tmpfs | shmem |
//! | (none) | `shm_mnt`, the internal tmpfs of `memfd_create` and `MAP_SHARED\|MAP_ANONYMOUS` | shmem |
//! | `/proc`, `/sys`, `/sys/kernel/debug` | proc, sysfs, debugfs | no page cache |
//!
//! **shmem** files (`mm/shmem.c`) live in the page cache and nowhere else: nothing is
//! written back (`noop_backing_dev_info`), so a shared writable mapping needs no dirty
//! tracking and may be pinned long-term for writing. **Writeback** files are the root
//! file system's regular files: a shared writable mapping's pages are written back from
//! the page cache, dirty as the PTE D bits say (`folio_mkclean()` collects them), so
//! `FOLL_LONGTERM | FOLL_WRITE` is refused there (`vma_needs_dirty_tracking()`, see
//! [`crate::mm::gup`]). Both are the same tmpfs-like tree underneath (one space limit,
//! one page cache); only what Linux's mm decides by the file system differs.
//!
//! An inode's file system is fixed when it is made: the one of the directory it is
//! created in (`new_inode(dir->i_sb)`), so everything below `/tmp` is tmpfs; a link or a
//! rename across two file systems fails with `EXDEV` (`do_linkat()`/`do_renameat2()`
//! compare the mounts). `/proc/mounts` lists [`MOUNTS`] (`crate::procfs::ProcMountsFile`).

/// `TMPFS_MAGIC` (`include/uapi/linux/magic.h`): tmpfs, and devtmpfs on `/dev`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `EXT4_SUPER_MAGIC`: what `statfs()` reports for the root file system.
pub const EXT4_SUPER_MAGIC: u64 = 0xef53;
/// `PROC_SUPER_MAGIC`: `/proc`.
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;
/// `SYSFS_MAGIC`: `/sys`.
pub const SYSFS_MAGIC: u64 = 0x6265_6572;
/// `DEBUGFS_MAGIC`: `/sys/kernel/debug`.
pub const DEBUGFS_MAGIC: u64 = 0x6462_6720;

/// The file system an inode lies on (`inode->i_sb`), one per mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SuperBlock {
    /// The root file system (ext4 to `statfs`), with writeback.
    Root = 0,
    /// devtmpfs at `/dev` (shmem-backed, as `CONFIG_TMPFS` makes it).
    Devtmpfs = 1,
    /// The tmpfs at `/dev/shm`.
    DevShm = 2,
    /// The tmpfs at `/tmp`.
    Tmp = 3,
    /// `shm_mnt`: shmem's internal mount, holding memfds and the objects behind
    /// `MAP_SHARED|MAP_ANONYMOUS` (`shmem_file_setup()`); in no directory.
    ShmMnt = 4,
}

impl SuperBlock {
    /// The value [`SuperBlock::to_raw`] gave back; `Root` for anything else.
    pub fn from_raw(raw: u8) -> SuperBlock {
        match raw {
            1 => SuperBlock::Devtmpfs,
            2 => SuperBlock::DevShm,
            3 => SuperBlock::Tmp,
            4 => SuperBlock::ShmMnt,
            _ => SuperBlock::Root,
        }
    }

    /// The number an inode stores.
    pub fn to_raw(self) -> u8 {
        self as u8
    }

    /// `shmem_mapping()`: the file system is shmem's (tmpfs, devtmpfs, `shm_mnt`).
    pub fn is_shmem(self) -> bool {
        self != SuperBlock::Root
    }

    /// `f_type` of `statfs()`.
    pub fn magic(self) -> u64 {
        if self.is_shmem() {
            TMPFS_MAGIC
        } else {
            EXT4_SUPER_MAGIC
        }
    }

    /// `f_fsid`: distinct per file system (the device number, as most do).
    pub fn fsid(self) -> u64 {
        match self {
            SuperBlock::Root => 0xfe01,
            SuperBlock::Devtmpfs => 0x05,
            SuperBlock::DevShm => 0x18,
            SuperBlock::Tmp => 0x1a,
            SuperBlock::ShmMnt => 0x01,
        }
    }
}

/// One line of `/proc/mounts` (`show_vfsmnt()`): `SOURCE PATH TYPE OPTIONS 0 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mount {
    /// `mnt_devname`: the source.
    pub source: &'static str,
    /// The mount point.
    pub path: &'static str,
    /// The file system type's name.
    pub fstype: &'static str,
    /// The mount options, as Linux prints them.
    pub options: &'static str,
}

impl Mount {
    /// Its `/proc/mounts` line (`show_vfsmnt()`), newline included.
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} 0 0\n",
            self.source, self.path, self.fstype, self.options
        )
    }
}

/// The mount table, parents before children, as a Debian guest with a tmpfs `/tmp` shows
/// it (`/dev/vda1` being the root disk).
pub const MOUNTS: [Mount; 7] = [
    Mount {
        source: "/dev/vda1",
        path: "/",
        fstype: "ext4",
        options: "rw,relatime",
    },
    Mount {
        source: "udev",
        path: "/dev",
        fstype: "devtmpfs",
        options: "rw,nosuid,relatime,mode=755",
    },
    Mount {
        source: "tmpfs",
        path: "/dev/shm",
        fstype: "tmpfs",
        options: "rw,nosuid,nodev",
    },
    Mount {
        source: "proc",
        path: "/proc",
        fstype: "proc",
        options: "rw,nosuid,nodev,noexec,relatime",
    },
    Mount {
        source: "sysfs",
        path: "/sys",
        fstype: "sysfs",
        options: "rw,nosuid,nodev,noexec,relatime",
    },
    Mount {
        source: "debugfs",
        path: "/sys/kernel/debug",
        fstype: "debugfs",
        options: "rw,nosuid,nodev,noexec,relatime",
    },
    Mount {
        source: "tmpfs",
        path: "/tmp",
        fstype: "tmpfs",
        options: "rw,nosuid,nodev",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trips_and_only_root_has_writeback() {
        for sb in [
            SuperBlock::Root,
            SuperBlock::Devtmpfs,
            SuperBlock::DevShm,
            SuperBlock::Tmp,
            SuperBlock::ShmMnt,
        ] {
            assert_eq!(SuperBlock::from_raw(sb.to_raw()), sb);
            assert_eq!(sb.is_shmem(), sb != SuperBlock::Root);
            assert_eq!(sb.magic() == TMPFS_MAGIC, sb.is_shmem());
        }
        assert_eq!(SuperBlock::Root.magic(), EXT4_SUPER_MAGIC);
        assert_eq!(SuperBlock::from_raw(200), SuperBlock::Root);
    }

    #[test]
    fn mount_lines_are_linux_format() {
        let lines: Vec<String> = MOUNTS.iter().map(Mount::line).collect();
        assert_eq!(lines[0], "/dev/vda1 / ext4 rw,relatime 0 0\n");
        assert!(lines.contains(&"tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n".to_string()));
        assert!(lines.contains(&"tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n".to_string()));
        for l in &lines {
            assert_eq!(l.trim_end().split(' ').count(), 6, "{l}");
        }
    }
}
