//! `seq_file` (fs/seq_file.c): a text file made of records (one line per VMA of
//! `/proc/<pid>/maps`…) rendered when read, from the position on, record by record.
//!
//! The open description keeps, as Linux's `struct seq_file` does, the iterator position
//! of the next record (`m->index`; for `maps` the end address of the last VMA shown,
//! which is what `m_start()`'s `vma_iter_init()` resumes from), the rendered bytes of the
//! current record not yet read (`m->buf`, `m->from`), and the file position they start at
//! (`m->read_pos`). A read at that position carries on from there: it costs the records
//! it returns plus one look-up of the first, never the records before it, so reading a
//! file of `n` records in pieces costs O(n) records in all, not O(n²). A read at another
//! position (after `lseek` or with `pread`) walks the records from the start up to it
//! (`traverse()`), as Linux does; a read at position 0 starts afresh.
//!
//! Records are rendered from what the file shows at the moment of the read; when it
//! changes between two reads, the second one carries on after the last record shown (a
//! VMA unmapped in between is not shown, one mapped below the last shown is not either),
//! as in Linux.

use super::fops::{FileCtx, Kiocb};
use super::{IoResult, SEEK_CUR, SEEK_SET};
use crate::errno::{Errno, KResult};
use crate::sync::Mutex;

/// `struct seq_operations`: how a `seq_file`'s records are found and shown.
pub trait SeqOperations {
    /// `->start(m, &index)`, `->show()` and `->next()` of one record: renders the first
    /// record at or after iterator position `index` into `out` (appending) and returns
    /// the iterator position of the record after it; `None`, rendering nothing, at the
    /// end of the sequence.
    fn show(&self, ctx: &mut FileCtx<'_, '_>, index: u64, out: &mut Vec<u8>) -> Option<u64>;
}

/// The `struct seq_file` of one open description (see the module docs).
#[derive(Debug, Default)]
pub struct SeqFile {
    m: Mutex<SeqState>,
}

#[derive(Debug, Default)]
struct SeqState {
    /// `m->buf`: the rendered record being read.
    buf: Vec<u8>,
    /// `m->from`: how much of `buf` has been read.
    from: usize,
    /// `m->index`: the iterator position of the next record to render.
    index: u64,
    /// `m->read_pos`: the file position of `buf[from]`.
    read_pos: u64,
    /// Records rendered since the open (`->show` calls).
    shown: u64,
}

impl SeqState {
    /// Back to the first record, nothing rendered.
    fn rewind(&mut self) {
        self.buf.clear();
        self.from = 0;
        self.index = 0;
        self.read_pos = 0;
    }

    /// Renders the next record into `buf`; `false` at the end.
    fn next_record(&mut self, ops: &dyn SeqOperations, ctx: &mut FileCtx<'_, '_>) -> bool {
        self.buf.clear();
        self.from = 0;
        match ops.show(ctx, self.index, &mut self.buf) {
            Some(next) => {
                self.index = next;
                self.shown += 1;
                true
            }
            None => false,
        }
    }

    /// `traverse()`: positions the iterator at file position `offset`, rendering the
    /// records before it. Past the end, the next read finds nothing.
    fn traverse(&mut self, ops: &dyn SeqOperations, ctx: &mut FileCtx<'_, '_>, offset: u64) {
        self.rewind();
        let mut pos = 0u64;
        while pos < offset && self.next_record(ops, ctx) {
            let len = self.buf.len() as u64;
            if pos + len > offset {
                self.from = (offset - pos) as usize;
                break;
            }
            pos += len;
            self.buf.clear();
        }
        self.read_pos = offset;
    }
}

impl SeqFile {
    /// A `seq_file` positioned at its start (`seq_open()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records have been rendered since the open: the cost of the reads so
    /// far, in records.
    pub fn records_shown(&self) -> u64 {
        self.m.lock().shown
    }

    /// `seq_read_iter()`: up to `len` bytes at `iocb.pos` to the caller's memory at
    /// `buf`, rendering records of `ops` as needed; advances `iocb.pos` by what was
    /// copied. Returns 0 at the end.
    ///
    /// # Errors
    /// `EFAULT` if nothing could be copied (the bytes stay for the next read).
    pub fn read(
        &self,
        ops: &dyn SeqOperations,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        if len == 0 {
            return Ok(0);
        }
        let mut m = self.m.lock();
        if iocb.pos == 0 {
            m.rewind();
        } else if iocb.pos != m.read_pos {
            m.traverse(ops, ctx, iocb.pos);
        }
        let mut copied = 0usize;
        while copied < len {
            if m.from >= m.buf.len() && !m.next_record(ops, ctx) {
                break;
            }
            let end = m.buf.len().min(m.from + (len - copied));
            let piece = m.buf.get(m.from..end).unwrap_or_default();
            let want = piece.len();
            let n = match ctx.copy_to_user(buf.wrapping_add(copied as u64), piece) {
                Ok(n) => n.min(want),
                Err(e) if copied == 0 => return Err(e.into()),
                Err(_) => break,
            };
            m.from += n;
            m.read_pos += n as u64;
            copied += n;
            if n < want {
                break;
            }
        }
        iocb.pos = m.read_pos;
        Ok(copied)
    }
}

/// `seq_lseek()`: `SEEK_SET` and `SEEK_CUR` (from `pos`) to any non-negative position
/// (the next read walks to it).
///
/// # Errors
/// `EINVAL` for another `whence` or a negative result.
pub fn seq_lseek(offset: i64, whence: u32, pos: u64) -> KResult<u64> {
    let new = match whence {
        SEEK_SET => offset as u64,
        SEEK_CUR => pos.wrapping_add(offset as u64),
        _ => return Err(Errno::EINVAL),
    };
    if (new as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Vfs, VfsConfig};
    use crate::uaccess::UserAccess;

    /// Record `i` is `"record <i>\n"`, for `i` in `0..n`; the iterator position is the
    /// record number.
    struct Numbered {
        n: u64,
    }

    impl SeqOperations for Numbered {
        fn show(&self, _ctx: &mut FileCtx<'_, '_>, index: u64, out: &mut Vec<u8>) -> Option<u64> {
            (index < self.n).then(|| {
                out.extend_from_slice(format!("record {index}\n").as_bytes());
                index + 1
            })
        }
    }

    /// User memory: `len` bytes at address `BASE`, faulting elsewhere.
    struct Flat(Vec<u8>);
    const BASE: u64 = 0x10_000;

    impl UserAccess for Flat {
        fn copy_from_user(&mut self, va: u64, buf: &mut [u8]) -> KResult<()> {
            let off = va.checked_sub(BASE).ok_or(Errno::EFAULT)? as usize;
            let src = self.0.get(off..off + buf.len()).ok_or(Errno::EFAULT)?;
            buf.copy_from_slice(src);
            Ok(())
        }

        fn copy_to_user(&mut self, va: u64, data: &[u8]) -> KResult<()> {
            let off = va.checked_sub(BASE).ok_or(Errno::EFAULT)? as usize;
            let dst = self.0.get_mut(off..off + data.len()).ok_or(Errno::EFAULT)?;
            dst.copy_from_slice(data);
            Ok(())
        }
    }

    fn whole(n: u64) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("record {i}\n").into_bytes())
            .collect()
    }

    /// Reads the file in `piece`-byte reads at the running position to the end.
    fn read_all(seq: &SeqFile, ops: &Numbered, piece: usize) -> Vec<u8> {
        let vfs = Vfs::new(VfsConfig::default());
        let mut user = Flat(vec![0; piece]);
        let mut out = Vec::new();
        let mut iocb = Kiocb { pos: 0, flags: 0 };
        loop {
            let mut ctx = FileCtx::current(&vfs, &mut user);
            let n = seq.read(ops, &mut ctx, &mut iocb, BASE, piece).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&user.0[..n]);
        }
    }

    #[test]
    fn byte_by_byte_reads_render_each_record_once() {
        // The cost bound: n one-byte reads of an n-record file render n records (plus the
        // one look-up that finds the end), not n per read as re-rendering would.
        let ops = Numbered { n: 60_000 };
        let seq = SeqFile::new();
        let text = read_all(&seq, &ops, 1);
        assert_eq!(text, whole(60_000));
        assert_eq!(seq.records_shown(), 60_000);
    }

    #[test]
    fn odd_sized_reads_give_the_same_bytes() {
        for piece in [3, 7, 10, 11, 64, 4096] {
            let ops = Numbered { n: 500 };
            let seq = SeqFile::new();
            assert_eq!(
                read_all(&seq, &ops, piece),
                whole(500),
                "{piece}-byte reads"
            );
            assert_eq!(seq.records_shown(), 500);
        }
    }

    #[test]
    fn a_read_elsewhere_walks_to_its_position_and_a_read_at_zero_starts_afresh() {
        let vfs = Vfs::new(VfsConfig::default());
        let ops = Numbered { n: 100 };
        let text = whole(100);
        let seq = SeqFile::new();
        let mut user = Flat(vec![0; 16]);
        let read16 = |user: &mut Flat, iocb: &mut Kiocb| {
            let mut ctx = FileCtx::current(&vfs, user);
            seq.read(&ops, &mut ctx, iocb, BASE, 16).unwrap()
        };
        // pread-like: a position the file was not at walks the records before it.
        let at = 500u64;
        let mut iocb = Kiocb { pos: at, flags: 0 };
        let n = read16(&mut user, &mut iocb);
        assert_eq!(&user.0[..n], &text[at as usize..at as usize + 16]);
        assert_eq!(iocb.pos, at + 16);
        let walked = seq.records_shown();
        assert!(
            walked > 40 && walked < 60,
            "{walked} records up to byte 516"
        );
        // Carrying on from there renders at most the records it returns.
        let n = read16(&mut user, &mut iocb);
        assert_eq!(&user.0[..n], &text[at as usize + 16..at as usize + 32]);
        assert!(seq.records_shown() <= walked + 2);
        // Position 0 starts afresh.
        let mut iocb = Kiocb { pos: 0, flags: 0 };
        let n = read16(&mut user, &mut iocb);
        assert_eq!(&user.0[..n], &text[..16]);
        // Past the end: nothing.
        let mut iocb = Kiocb {
            pos: 1 << 20,
            flags: 0,
        };
        let n = read16(&mut user, &mut iocb);
        assert_eq!(n, 0);
    }

    #[test]
    fn a_fault_keeps_the_bytes_for_the_next_read() {
        let vfs = Vfs::new(VfsConfig::default());
        let ops = Numbered { n: 3 };
        let seq = SeqFile::new();
        let mut user = Flat(vec![0; 64]);
        let mut iocb = Kiocb { pos: 0, flags: 0 };
        let n = {
            let mut ctx = FileCtx::current(&vfs, &mut user);
            assert_eq!(
                seq.read(&ops, &mut ctx, &mut iocb, 0x1, 4),
                Err(Errno::EFAULT.into())
            );
            assert_eq!(iocb.pos, 0);
            seq.read(&ops, &mut ctx, &mut iocb, BASE, 64).unwrap()
        };
        assert_eq!(&user.0[..n], whole(3).as_slice());
    }

    #[test]
    fn seq_lseek_takes_set_and_cur_to_non_negative_positions() {
        assert_eq!(seq_lseek(10, SEEK_SET, 99), Ok(10));
        assert_eq!(seq_lseek(-5, SEEK_CUR, 99), Ok(94));
        assert_eq!(seq_lseek(-100, SEEK_CUR, 99), Err(Errno::EINVAL));
        assert_eq!(seq_lseek(0, crate::fs::SEEK_END, 99), Err(Errno::EINVAL));
    }
}
