//! Files whose operations need the kernel's process table: the per-task files of procfs
//! (`/proc/<pid>/mem`, `maps`, `smaps`, `smaps_rollup`, `pagemap`, `clear_refs`), the
//! sysfs attributes and the debugfs file
//! `/sys/kernel/debug/gup_test`. The VFS only stores and finds them; their
//! [`FileOperations`] reach another process's address space or the caller's, so the
//! kernel serves every call on them with the process table (`crate::syscall::kfile`).
//!
//! How such a file works:
//! 1. The inode (a regular file to `stat`, as procfs and debugfs files are) carries a
//!    [`KernelNode`]: which file it is. `/proc/self/…` and `/proc/thread-self/…` exist
//!    from boot; the kernel adds `/proc/<pid>/…` when a task is created and removes it
//!    when the task is reaped ([`super::Vfs::proc_register`],
//!    [`super::Vfs::proc_unregister`]); other subsystems add theirs with
//!    [`super::Vfs::add_kernel_file`].
//! 2. `openat` (the VFS walk and permission checks) gives the descriptor a
//!    [`KernelFile`] (`FileTarget::Kernel`) whose operations [`KernelNode::file_operations`]
//!    chose (Linux's `inode->i_fop`).
//! 3. The kernel finishes the open with the file's [`FileOperations::open`]
//!    (`mem_open()`, `nonseekable_open()`…), which gives the operations their per-open
//!    state (`file->private_data`). `dup` and `fork` share it with the description.
//! 4. `read`, `pread64`, `readv`, `write`, `pwrite64`, `writev`, `lseek` and the file's
//!    own `ioctl` commands on such a descriptor go to the same entry points as on any
//!    other file, with a [`super::FileCtx`] that holds the process table. The commands
//!    `do_vfs_ioctl()` handles for every file (`FIOCLEX`, `FIONCLEX`, `FIONBIO`) stay with
//!    the generic `ioctl`.
//! 5. When the last reference to the description goes, its [`FileOperations::release`]
//!    runs and the per-open state is dropped.
//!
//! Adding another file means a [`KernelNode`] variant, its arm in
//! [`KernelNode::file_operations`], its [`FileOperations`], and a node in the tree.

use std::sync::Arc;

use super::fops::FileOperations;
use super::inode::Inode;

/// Which file of a `/proc/<pid>` directory (procfs's per-task `file_operations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcFile {
    /// `/proc/<pid>/mem` (`proc_mem_operations`): the task's memory, read and written
    /// through `access_remote_vm()` with `FOLL_FORCE`, the file offset being the address.
    Mem,
    /// `/proc/<pid>/maps` (`proc_pid_maps_operations`): one line per VMA.
    Maps,
    /// `/proc/<pid>/smaps` (`proc_pid_smaps_operations`): per VMA its `maps` line and
    /// what its page-table entries map (see [`crate::procfs::smaps`]).
    Smaps,
    /// `/proc/<pid>/smaps_rollup` (`proc_pid_smaps_rollup_operations`): the sums of
    /// `smaps` over every VMA.
    SmapsRollup,
    /// `/proc/<pid>/pagemap` (`proc_pagemap_operations`): 8 bytes per virtual page.
    Pagemap,
    /// `/proc/<pid>/stat` (`proc_tgid_stat()`): the process's status line.
    Stat,
    /// `/proc/<pid>/comm` (`comm_show()`): the task's name and a newline.
    Comm,
    /// `/proc/<pid>/status` (`proc_pid_status()`): the task's state, ids, memory, signals
    /// and scheduling counts, one `Name:\tvalue` line each.
    Status,
    /// `/proc/<pid>/clear_refs` (`proc_clear_refs_operations`): write-only; a number
    /// clears the accessed or soft-dirty bits of the task's pages (see
    /// [`crate::procfs`]).
    ClearRefs,
}

impl ProcFile {
    /// The name of the file in a `/proc/<pid>` directory.
    pub fn name(self) -> &'static str {
        match self {
            ProcFile::Mem => "mem",
            ProcFile::Maps => "maps",
            ProcFile::Smaps => "smaps",
            ProcFile::SmapsRollup => "smaps_rollup",
            ProcFile::Pagemap => "pagemap",
            ProcFile::Stat => "stat",
            ProcFile::Comm => "comm",
            ProcFile::Status => "status",
            ProcFile::ClearRefs => "clear_refs",
        }
    }

    /// Its permission bits (`fs/proc/base.c` `tgid_base_stuff[]`: `REG("mem", S_IRUSR |
    /// S_IWUSR, …)`, `REG("maps", S_IRUGO, …)`, `REG("smaps", S_IRUGO, …)`,
    /// `REG("smaps_rollup", S_IRUGO, …)`, `REG("pagemap", S_IRUSR, …)`,
    /// `ONE("stat", S_IRUGO, …)`, `ONE("status", S_IRUGO, …)`, `REG("clear_refs",
    /// S_IWUSR, …)`; `comm` is
    /// `S_IRUGO|S_IWUSR` in Linux, read-only here).
    pub fn perm(self) -> u32 {
        match self {
            ProcFile::Mem => 0o600,
            ProcFile::Maps | ProcFile::Smaps | ProcFile::SmapsRollup => 0o444,
            ProcFile::Pagemap => 0o400,
            ProcFile::Stat | ProcFile::Comm | ProcFile::Status => 0o444,
            ProcFile::ClearRefs => 0o200,
        }
    }

    /// Every per-task file, in directory order.
    pub const ALL: [ProcFile; 9] = [
        ProcFile::ClearRefs,
        ProcFile::Comm,
        ProcFile::Maps,
        ProcFile::Mem,
        ProcFile::Pagemap,
        ProcFile::Smaps,
        ProcFile::SmapsRollup,
        ProcFile::Stat,
        ProcFile::Status,
    ];
}

/// Whose file a `/proc` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcTask {
    /// The task that opens it (`/proc/self`, `/proc/thread-self`: one thread per
    /// process here).
    Opener,
    /// Task `pid` (`/proc/<pid>`).
    Pid(u32),
}

/// What an inode of a kernel-served file holds: which file it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelNode {
    /// A per-task procfs file.
    Proc {
        /// Which file.
        file: ProcFile,
        /// Whose.
        task: ProcTask,
    },
    /// `/sys/kernel/debug/gup_test` (`gup_test_fops`, see [`crate::mm::gup_test`]).
    GupTest,
    /// A sysfs attribute (see [`crate::sysfs`]).
    Sysfs(crate::sysfs::SysfsAttr),
    /// `/proc/self/mounts` (`proc_mounts_operations`, see [`super::mount`]).
    Mounts,
    /// `/proc/meminfo` (see [`crate::procfs::meminfo`]).
    Meminfo,
    /// `/proc/vmstat` ([`crate::procfs::vmstat_show`]).
    Vmstat,
}

impl KernelNode {
    /// The file's operations, fresh for one open (`inode->i_fop`, with room for the
    /// state its `open` makes).
    pub fn file_operations(self) -> Box<dyn FileOperations> {
        match self {
            KernelNode::Proc { file, task } => crate::procfs::file_operations(file, task),
            KernelNode::GupTest => crate::debugfs::gup_test::file_operations(),
            KernelNode::Sysfs(attr) => crate::sysfs::file_operations(attr),
            KernelNode::Mounts => Box::<crate::procfs::ProcMountsFile>::default(),
            KernelNode::Meminfo => Box::new(crate::procfs::ProcPhysShowFile(
                crate::procfs::meminfo_proc_show,
            )),
            KernelNode::Vmstat => {
                Box::new(crate::procfs::ProcPhysShowFile(crate::procfs::vmstat_show))
            }
        }
    }
}

/// What a procfs file's `->open` bound a descriptor to.
#[derive(Debug, Clone)]
pub struct KernelFileBinding {
    /// The task the file is about.
    pub pid: u32,
    /// Its address space at open, grabbed (`mmgrab()`: the structure, not the pages;
    /// each access takes `mmget_not_zero()`), or `None` if it had none (a zombie): then
    /// reads return 0, as for a NULL `private_data`.
    pub mm: Option<crate::mm::MmGrab>,
}

/// The open-file side of a kernel-served file (`FileTarget::Kernel`).
#[derive(Debug)]
pub struct KernelFile {
    inode: Arc<Inode>,
    node: KernelNode,
    f_op: Box<dyn FileOperations>,
}

impl KernelFile {
    /// A descriptor for `inode`, which holds `node`, with the node's operations, not yet
    /// opened by the kernel.
    pub fn new(inode: Arc<Inode>, node: KernelNode) -> Self {
        KernelFile {
            inode,
            node,
            f_op: node.file_operations(),
        }
    }

    /// The inode (for `fstat` and the metadata calls).
    pub fn inode(&self) -> &Arc<Inode> {
        &self.inode
    }

    /// Which file.
    pub fn node(&self) -> KernelNode {
        self.node
    }

    /// The file's operations and per-open state.
    pub fn f_op(&self) -> &dyn FileOperations {
        self.f_op.as_ref()
    }
}
