//! `/proc/self/mounts` (and `/proc/thread-self/mounts`; `/proc/mounts` is a link to
//! `self/mounts`, as in Linux): the mount table in `show_vfsmnt()`'s format, one
//! `seq_file` record per mount of [`crate::fs::mount::MOUNTS`]. Every task sees the same
//! namespace.

use crate::errno::KResult;
use crate::fs::mount::MOUNTS;
use crate::fs::{
    seq_lseek, FileCtx, FileOperations, IoResult, Kiocb, OpenFile, SeqFile, SeqOperations,
};

/// `mounts_op` over the one mount namespace: record `index` is mount `index`.
#[derive(Debug, Default)]
struct MountsOp;

impl SeqOperations for MountsOp {
    fn show(&self, _ctx: &mut FileCtx<'_, '_>, index: u64, out: &mut Vec<u8>) -> Option<u64> {
        let m = MOUNTS.get(usize::try_from(index).ok()?)?;
        out.extend_from_slice(m.line().as_bytes());
        Some(index + 1)
    }
}

/// The operations of one open of `mounts` (`proc_mounts_operations`): read-only, seekable.
#[derive(Debug, Default)]
pub struct ProcMountsFile {
    seq: SeqFile,
}

impl FileOperations for ProcMountsFile {
    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        self.seq.read(&MountsOp, ctx, iocb, buf, len)
    }

    fn can_write(&self) -> bool {
        false
    }

    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        seq_lseek(offset, whence, pos)
    }
}
