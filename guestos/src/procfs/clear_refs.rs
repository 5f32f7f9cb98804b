//! `/proc/<pid>/clear_refs`: `proc_clear_refs_operations` (`fs/proc/task_mmu.c`), mode
//! 0200. Write-only: a write of a number 1–5 ([`clear_refs_parse`]) runs
//! [`crate::mm::Mm::clear_refs`] on the task's address space under the write side of its
//! `mmap_lock` ([`clear_refs_write`]):
//!
//! | value | `enum clear_refs_types` | effect |
//! |---|---|---|
//! | 1 | `CLEAR_REFS_ALL` | A bits of every page cleared (`Referenced` in `smaps` drops) |
//! | 2 | `CLEAR_REFS_ANON` | the same, anonymous VMAs only |
//! | 3 | `CLEAR_REFS_MAPPED` | the same, file (and shmem) VMAs only |
//! | 4 | `CLEAR_REFS_SOFT_DIRTY` | soft-dirty bits and `VM_SOFTDIRTY` cleared, PTEs write-protected (pagemap bit 55 drops until the next write) |
//! | 5 | `CLEAR_REFS_MM_HIWATER_RSS` | accepted; no peak RSS is kept to reset |
//!
//! Anything else is `EINVAL`. The write reports the bytes it took (at most 12, the
//! `PROC_NUMBUF` buffer less its NUL) and does not move the file position; `lseek` is
//! `noop_llseek()`, reading is `EINVAL` (no `read`).

use super::ProcBinding;
use crate::errno::{Errno, KResult};
use crate::fs::{
    FileCtx, FileOperations, IoResult, KernelFileBinding, Kiocb, OpenFile, WriteSource,
};
use crate::mm::clear_refs::ClearRefsType;
use crate::process::{TaskState, Tasks};

/// `PROC_NUMBUF`: the bytes `clear_refs_write()` reads the number into (one kept for the
/// NUL).
const PROC_NUMBUF: usize = 13;

/// `proc_clear_refs_operations`: [`clear_refs_write`], `noop_llseek()`.
#[derive(Debug)]
pub struct ProcClearRefsFile {
    pub(super) binding: ProcBinding,
}

impl FileOperations for ProcClearRefsFile {
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> KResult<()> {
        self.binding.open(ctx)
    }

    /// `clear_refs_write()`: the bytes come from the caller's memory (or the kernel's
    /// `writev` gather).
    fn write(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        _iocb: &mut Kiocb,
        src: WriteSource<'_>,
        len: usize,
    ) -> IoResult<usize> {
        let count = len.min(PROC_NUMBUF - 1);
        let mut buffer = [0u8; PROC_NUMBUF - 1];
        let piece = buffer.get_mut(..count).unwrap_or_default();
        ctx.copy_from_source(src, 0, piece)?;
        let ty = clear_refs_parse(piece)?;
        let binding = self.binding.get();
        let (tasks, _) = ctx.tasks()?;
        clear_refs_write(tasks, binding, ty)?;
        Ok(count)
    }

    /// No `read`.
    fn can_read(&self) -> bool {
        false
    }

    /// `noop_llseek()`: the position stays.
    fn llseek(&self, _file: &OpenFile, _offset: i64, _whence: u32, pos: u64) -> KResult<u64> {
        Ok(pos)
    }
}

/// `kstrtoint(strstrip(buffer), 10, &itype)` and the range check of `clear_refs_write()`:
/// the type a write's bytes name. The bytes end at the first NUL; surrounding white
/// space is ignored; an optional `+` or `-` sign, then decimal digits.
///
/// # Errors
/// `EINVAL` for no digits, another character, or a number outside 1–5; `ERANGE` for a
/// number that does not fit an `int` (`kstrtoint()`'s answer, returned as is).
pub fn clear_refs_parse(bytes: &[u8]) -> KResult<ClearRefsType> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = bytes.get(..end).unwrap_or_default();
    // strstrip(): isspace() is ' ', '\t', '\n', '\v', '\f', '\r'.
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let first = s.iter().position(|b| !is_space(b)).unwrap_or(s.len());
    let last = s
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(first, |i| i + 1);
    let s = s.get(first..last.max(first)).unwrap_or_default();
    // kstrtoint() → kstrtoll(): a '-' and _kstrtoull() of the rest, or kstrtoull().
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let magnitude = crate::sysfs::kstrtoull(digits)?;
    let value = i64::try_from(magnitude).map_err(|_| Errno::ERANGE)?;
    let value = if negative { -value } else { value };
    if value > i64::from(i32::MAX) || value < i64::from(i32::MIN) {
        return Err(Errno::ERANGE);
    }
    ClearRefsType::from_number(value).ok_or(Errno::EINVAL)
}

/// `clear_refs_write()` after the parse, for the task the descriptor names: its current
/// address space (`get_task_mm()`: after an `execve` the new one) under the write side
/// of its `mmap_lock`, [`crate::mm::Mm::clear_refs`]. A task without an address space (a
/// zombie) changes nothing.
///
/// # Errors
/// `ESRCH` if the task is gone (`get_proc_task()`), or the descriptor was never opened.
pub fn clear_refs_write(
    tasks: &mut Tasks<'_>,
    binding: Option<KernelFileBinding>,
    ty: ClearRefsType,
) -> KResult<()> {
    let pid = binding.ok_or(Errno::ESRCH)?.pid;
    let task = tasks.get(pid).ok_or(Errno::ESRCH)?;
    if matches!(task.state(), TaskState::Zombie(_)) {
        return Ok(());
    }
    let Some(mm) = tasks.get_task_mm(pid) else {
        return Ok(());
    };
    let mut guard = mm.mmap_write_lock();
    if !guard.is_dead() {
        guard.clear_refs(ty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_follows_kstrtoint_and_the_range_check() {
        assert_eq!(clear_refs_parse(b"1"), Ok(ClearRefsType::All));
        assert_eq!(clear_refs_parse(b"4\n"), Ok(ClearRefsType::SoftDirty));
        assert_eq!(
            clear_refs_parse(b"  +5 \t\n"),
            Ok(ClearRefsType::MmHiwaterRss)
        );
        assert_eq!(clear_refs_parse(b"3\0junk"), Ok(ClearRefsType::Mapped));
        assert_eq!(clear_refs_parse(b"02"), Ok(ClearRefsType::Anon));
        for bad in [
            &b"0"[..],
            b"6",
            b"-1",
            b"",
            b"\n",
            b"4x",
            b"x",
            b"1 2",
            b"+",
            b"0x4",
        ] {
            assert_eq!(clear_refs_parse(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(clear_refs_parse(b"99999999999"), Err(Errno::ERANGE));
        assert_eq!(clear_refs_parse(b"2147483648"), Err(Errno::ERANGE));
        assert_eq!(clear_refs_parse(b"-2147483648"), Err(Errno::EINVAL));
    }
}
