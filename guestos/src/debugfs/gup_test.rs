//! `/sys/kernel/debug/gup_test`'s `gup_test_fops` (mm/gup_test.c): opened with
//! `nonseekable_open()`, no `read`, `write` or `llseek`; `unlocked_ioctl` runs the
//! command on the caller's address space (`current->mm`) with [`GupTestFile::ioctl`],
//! the kernel log going to the caller's stderr stream; `release` stops the description's
//! long-term pin test. The work and the ABI are [`crate::mm::gup_test`]'s.

use crate::errno::KResult;
use crate::fs::{FileCtx, FileOperations, KernelNode, OpenFile, StdStream, Vfs};
use crate::mm::gup_test::GupTestFile;

/// `gup_test_fops` with the description's state: its long-term pin test.
#[derive(Debug, Default)]
pub struct GupTestFops {
    test: GupTestFile,
}

impl GupTestFops {
    /// The description's test state.
    pub fn test(&self) -> &GupTestFile {
        &self.test
    }
}

/// The operations of one open of `gup_test`.
pub fn file_operations() -> Box<dyn FileOperations> {
    Box::new(GupTestFops::default())
}

impl FileOperations for GupTestFops {
    /// `gup_test_ioctl()` by the caller of `ctx`.
    ///
    /// # Errors
    /// `ESRCH` if the caller is gone; `EIO` without the process table; the command's
    /// errnos ([`GupTestFile::ioctl`]).
    fn unlocked_ioctl(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        cmd: u32,
        arg: u64,
    ) -> KResult<u64> {
        ctx.with_caller_parts(|caller| {
            let mut log = |m: &str| {
                let _ = caller.stdio.write_out(StdStream::Stderr, m.as_bytes());
            };
            // gup_test_ioctl() on current->mm with no mmap_lock held: __gup_test_ioctl()
            // takes the read side around the slow GUP calls (needs_mmap_lock), none for
            // the GUP-fast ones, and the argument goes in and out by
            // copy_{from,to}_user().
            self.test.ioctl(caller.mm, cmd, arg, &mut log, caller.tid)
        })?
    }

    /// Only `current->mm`: no other task.
    fn needs_tasks(&self) -> bool {
        false
    }

    /// `gup_test_release()` → `pin_longterm_test_stop()`: the pins go.
    fn release(&self, _file: &OpenFile) {
        self.test.longterm_stop();
    }

    /// No `read`.
    fn can_read(&self) -> bool {
        false
    }

    /// No `write`.
    fn can_write(&self) -> bool {
        false
    }

    /// `nonseekable_open()`.
    fn is_stream(&self) -> bool {
        true
    }
}

/// Creates `/sys/kernel/debug/gup_test` (mode 0600, as `debugfs_create_file_unsafe()`;
/// `/sys/kernel/debug` 0700 as debugfs is mounted) in `vfs`.
///
/// # Errors
/// As [`Vfs::add_kernel_file`].
pub fn register(vfs: &Vfs) -> KResult<()> {
    vfs.create_dir_all(b"/sys/kernel", 0o555)?;
    vfs.add_kernel_file(
        b"/sys/kernel/debug",
        0o700,
        b"gup_test",
        0o600,
        KernelNode::GupTest,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    #[test]
    fn gup_test_file_in_the_vfs() {
        let vfs = crate::fs::Vfs::new(crate::fs::VfsConfig::default());
        register(&vfs).unwrap();
        let i = vfs
            .lookup(
                &vfs.root(),
                b"/bin/x",
                crate::fs::Cred::default(),
                b"/sys/kernel/debug/gup_test",
                true,
            )
            .unwrap();
        assert_eq!(i.mode(), 0o100600, "a debugfs regular file, 0600");
        let d = vfs
            .lookup(
                &vfs.root(),
                b"/bin/x",
                crate::fs::Cred::default(),
                b"/sys/kernel/debug",
                true,
            )
            .unwrap();
        assert_eq!(d.mode(), 0o040700);
        assert_eq!(i.kernel_node(), Some(crate::fs::KernelNode::GupTest));
        assert_eq!(register(&vfs), Err(Errno::EEXIST));
    }
}
