//! Files whose operations the kernel serves itself, with its own state, instead of the
//! file system: `/proc/<pid>/mem`, `/proc/<pid>/maps`, `/proc/<pid>/pagemap` (procfs's
//! per-task `file_operations`). The VFS only stores and finds them; what they do needs
//! the process table (another process's address space), which only the kernel has.
//!
//! How a kernel-served file works:
//! 1. The inode carries a [`KernelNode`]: which kind of file ([`KernelFileKind`]) and
//!    whose ([`ProcTask`]). `/proc/self/…` and `/proc/thread-self/…` exist from boot;
//!    the kernel adds `/proc/<pid>/…` when a task is created and removes it when the task
//!    is reaped ([`super::Vfs::proc_register`], [`super::Vfs::proc_unregister`]).
//! 2. `openat` (the VFS walk and permission checks) gives the descriptor a
//!    [`KernelFile`] (`FileTarget::Kernel`), not yet bound to anything.
//! 3. The kernel finishes the open (the file's `->open`, e.g. `mem_open()`), binding the
//!    descriptor to the task and its address space of that moment
//!    ([`KernelFile::bind`]; Linux's `mmgrab()` into `file->private_data`).
//! 4. `read`, `pread64`, `readv`, `write`, `pwrite64`, `writev`, `lseek` and `ioctl` on
//!    such a descriptor are served by the kernel (`crate::procfs`) before the ordinary
//!    file system calls would see them; the VFS-side [`super::OpenFile`] operations
//!    refuse them with `EIO` should one ever arrive there.
//!
//! Adding another kind (e.g. a debugfs device served from kernel state) means a
//! [`KernelFileKind`] variant, a node in the tree, and its arm in the kernel's dispatch.

use std::sync::{Arc, OnceLock};

use super::inode::Inode;

/// Which `file_operations` a kernel-served file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelFileKind {
    /// `/proc/<pid>/mem` (`proc_mem_operations`): the task's memory, read and written
    /// through `access_remote_vm()` with `FOLL_FORCE`, the file offset being the address.
    ProcMem,
    /// `/proc/<pid>/maps` (`proc_pid_maps_operations`): one line per VMA.
    ProcMaps,
    /// `/proc/<pid>/pagemap` (`proc_pagemap_operations`): 8 bytes per virtual page.
    ProcPagemap,
}

impl KernelFileKind {
    /// The name of the file in a `/proc/<pid>` directory.
    pub fn name(self) -> &'static str {
        match self {
            KernelFileKind::ProcMem => "mem",
            KernelFileKind::ProcMaps => "maps",
            KernelFileKind::ProcPagemap => "pagemap",
        }
    }

    /// Its permission bits (`fs/proc/base.c` `tgid_base_stuff[]`: `REG("mem", S_IRUSR |
    /// S_IWUSR, …)`, `REG("maps", S_IRUGO, …)`, `REG("pagemap", S_IRUSR, …)`).
    pub fn perm(self) -> u32 {
        match self {
            KernelFileKind::ProcMem => 0o600,
            KernelFileKind::ProcMaps => 0o444,
            KernelFileKind::ProcPagemap => 0o400,
        }
    }

    /// Every per-task file, in directory order.
    pub const PROC_PID: [KernelFileKind; 3] = [
        KernelFileKind::ProcMaps,
        KernelFileKind::ProcMem,
        KernelFileKind::ProcPagemap,
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

/// What an inode of a kernel-served file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelNode {
    /// Which file.
    pub kind: KernelFileKind,
    /// Whose.
    pub task: ProcTask,
}

/// What the kernel's `->open` bound a descriptor to (`file->private_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelFileBinding {
    /// The task the file is about.
    pub pid: u32,
    /// [`crate::mm::Mm::id`] of its address space at open, or `None` if it had none
    /// (a zombie): then reads return 0, as for a NULL `private_data`.
    pub mm: Option<u64>,
}

/// The open-file side of a kernel-served file (`FileTarget::Kernel`).
#[derive(Debug)]
pub struct KernelFile {
    inode: Arc<Inode>,
    node: KernelNode,
    binding: OnceLock<KernelFileBinding>,
}

impl KernelFile {
    /// An unbound descriptor for `inode`, which holds `node`.
    pub fn new(inode: Arc<Inode>, node: KernelNode) -> Self {
        KernelFile {
            inode,
            node,
            binding: OnceLock::new(),
        }
    }

    /// The inode (for `fstat` and the metadata calls).
    pub fn inode(&self) -> &Arc<Inode> {
        &self.inode
    }

    /// Which file and whose.
    pub fn node(&self) -> KernelNode {
        self.node
    }

    /// What the open bound it to, `None` until then.
    pub fn binding(&self) -> Option<KernelFileBinding> {
        self.binding.get().copied()
    }

    /// Binds the descriptor (once; later calls keep the first binding and return
    /// `false`).
    pub fn bind(&self, binding: KernelFileBinding) -> bool {
        self.binding.set(binding).is_ok()
    }
}
