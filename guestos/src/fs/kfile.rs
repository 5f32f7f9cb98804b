//! Files whose operations the kernel serves itself, with its own state, instead of the
//! file system: the per-task files of procfs (`/proc/<pid>/mem`, `maps`, `pagemap`) and
//! the debugfs file `/sys/kernel/debug/gup_test`. This is Linux's `file->f_op` together
//! with `file->private_data`: the VFS only stores and finds these files; what they do
//! needs kernel state the VFS does not have (another process's address space, the
//! caller's address space, the page allocator), so the kernel serves them.
//!
//! How a kernel-served file works:
//! 1. The inode (a regular file to `stat`, as procfs and debugfs files are) carries a
//!    [`KernelNode`]: which file it is. `/proc/self/…` and `/proc/thread-self/…` exist
//!    from boot; the kernel adds `/proc/<pid>/…` when a task is created and removes it
//!    when the task is reaped ([`super::Vfs::proc_register`],
//!    [`super::Vfs::proc_unregister`]); other subsystems add theirs with
//!    [`super::Vfs::add_kernel_file`].
//! 2. `openat` (the VFS walk and permission checks) gives the descriptor a
//!    [`KernelFile`] (`FileTarget::Kernel`) with no per-open state yet.
//! 3. The kernel finishes the open (the file's `->open`: `mem_open()`,
//!    `nonseekable_open()`…), giving the open file description its state
//!    ([`KernelFile::open`] with a [`KernelFilePrivate`]). `dup` and `fork` share it with
//!    the description.
//! 4. `read`, `pread64`, `readv`, `write`, `pwrite64`, `writev`, `lseek` and the file's
//!    own `ioctl` commands on such a descriptor are served by the kernel
//!    (`crate::syscall::kfile`) before the ordinary file system calls would see them; the
//!    VFS-side [`super::OpenFile`] operations refuse them with `EIO` should one ever
//!    arrive there. The commands `do_vfs_ioctl()` handles for every file (`FIOCLEX`,
//!    `FIONCLEX`, `FIONBIO`) stay with the generic `ioctl`.
//! 5. When the last descriptor of the description is closed (or its process exits), the
//!    description is dropped and with it the [`KernelFilePrivate`]: its `Drop` is the
//!    file's `release`.
//!
//! Adding another file means a [`KernelNode`] variant, its [`KernelFilePrivate`], a node
//! in the tree, and its arms in the kernel's `open` and dispatch.

use std::sync::{Arc, OnceLock};

use super::inode::Inode;
use crate::mm::gup_test::GupTestFile;

/// Which file of a `/proc/<pid>` directory (procfs's per-task `file_operations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcFile {
    /// `/proc/<pid>/mem` (`proc_mem_operations`): the task's memory, read and written
    /// through `access_remote_vm()` with `FOLL_FORCE`, the file offset being the address.
    Mem,
    /// `/proc/<pid>/maps` (`proc_pid_maps_operations`): one line per VMA.
    Maps,
    /// `/proc/<pid>/pagemap` (`proc_pagemap_operations`): 8 bytes per virtual page.
    Pagemap,
}

impl ProcFile {
    /// The name of the file in a `/proc/<pid>` directory.
    pub fn name(self) -> &'static str {
        match self {
            ProcFile::Mem => "mem",
            ProcFile::Maps => "maps",
            ProcFile::Pagemap => "pagemap",
        }
    }

    /// Its permission bits (`fs/proc/base.c` `tgid_base_stuff[]`: `REG("mem", S_IRUSR |
    /// S_IWUSR, …)`, `REG("maps", S_IRUGO, …)`, `REG("pagemap", S_IRUSR, …)`).
    pub fn perm(self) -> u32 {
        match self {
            ProcFile::Mem => 0o600,
            ProcFile::Maps => 0o444,
            ProcFile::Pagemap => 0o400,
        }
    }

    /// Every per-task file, in directory order.
    pub const ALL: [ProcFile; 3] = [ProcFile::Maps, ProcFile::Mem, ProcFile::Pagemap];
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

/// The per-open state of a kernel-served file (`file->private_data`), made by the
/// file's `->open` and dropped with the open file description (`->release`).
#[derive(Debug)]
pub enum KernelFilePrivate {
    /// A procfs file: the task and address space it is bound to.
    Proc(KernelFileBinding),
    /// `gup_test`: the description's long-term pin test (unpinned on release).
    GupTest(GupTestFile),
}

/// The open-file side of a kernel-served file (`FileTarget::Kernel`).
#[derive(Debug)]
pub struct KernelFile {
    inode: Arc<Inode>,
    node: KernelNode,
    private: OnceLock<KernelFilePrivate>,
}

impl KernelFile {
    /// A descriptor for `inode`, which holds `node`, not yet opened by the kernel.
    pub fn new(inode: Arc<Inode>, node: KernelNode) -> Self {
        KernelFile {
            inode,
            node,
            private: OnceLock::new(),
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

    /// The per-open state, `None` until the kernel's `->open` has run.
    pub fn private(&self) -> Option<&KernelFilePrivate> {
        self.private.get()
    }

    /// What a procfs file's open bound it to, `None` until then (or for another file).
    pub fn binding(&self) -> Option<KernelFileBinding> {
        match self.private()? {
            KernelFilePrivate::Proc(b) => Some(b.clone()),
            KernelFilePrivate::GupTest(_) => None,
        }
    }

    /// Sets the per-open state (once; a later call keeps the first state, drops
    /// `private` and returns `false`).
    pub fn open(&self, private: KernelFilePrivate) -> bool {
        self.private.set(private).is_ok()
    }
}
