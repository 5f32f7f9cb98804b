//! In-kernel copies between files: `sendfile` (`fs/read_write.c` `do_sendfile()`) and
//! `copy_file_range` (`vfs_copy_file_range()`'s generic copy, `splice_file_range()`).
//!
//! The source is read with the kernel's own read of a regular file ([`Inode::read_at`],
//! through the page cache) and the bytes go to the destination's `write`
//! ([`WriteSource::Kernel`]), a page at a time: a pipe destination that fills up ends
//! the call with what was copied, or, before any byte, sleeps as a `write` would.

use std::sync::Arc;

use crate::errno::{Errno, KResult};
use crate::fs::{
    FileCtx, FileTarget, FileType, Inode, IoError, IoResult, OpenFile, ProcessFs, Vfs, WriteSource,
    MAX_LFS_FILESIZE, MAX_RW_COUNT, O_APPEND,
};
use crate::uaccess::UserAccess;

/// Bytes moved per step (a page, as `splice` moves them).
const STEP: usize = 4096;

/// The regular file behind `f`, if it is one (a tmpfs file or memfd).
fn regular(f: &OpenFile) -> Option<&Arc<Inode>> {
    match f.target() {
        FileTarget::Inode(i) if i.file_type() == FileType::Regular => Some(i),
        _ => None,
    }
}

/// A user `loff_t *` argument: `None` for NULL, else its value.
fn get_off(u: &mut dyn UserAccess, ptr: u64) -> KResult<Option<u64>> {
    if ptr == 0 {
        return Ok(None);
    }
    Ok(Some(u.get_user_u64(ptr)?))
}

/// Copies up to `count` bytes of regular file `src` from `pos` to `out` (at `out_pos`,
/// or its file position for `None`). Returns the bytes copied; stops at the source's
/// end, at a short write, or at a destination that would block after some bytes.
///
/// # Errors
/// The destination's write error (or would-block) when nothing was copied.
fn copy_range(
    ctx: &mut FileCtx<'_, '_>,
    src: &Inode,
    mut pos: u64,
    out: &OpenFile,
    mut out_pos: Option<u64>,
    count: usize,
) -> IoResult<usize> {
    let mut done = 0usize;
    let mut buf = vec![0u8; STEP.min(count)];
    while done < count {
        let want = (count - done).min(STEP);
        let n = src.read_at(pos, &mut buf[..want]).unwrap_or(0);
        if n == 0 {
            break;
        }
        match out.write(ctx, out_pos, WriteSource::Kernel(&buf[..n]), n) {
            Ok(w) => {
                done += w;
                pos += w as u64;
                out_pos = out_pos.map(|p| p + w as u64);
                if w < n {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// `sendfile(out_fd, in_fd, offset, count)`: up to `count` bytes (clamped to
/// `MAX_RW_COUNT`) of `in_fd` — at `*offset`, which is updated, or at its file position,
/// which advances — written to `out_fd` at its position.
///
/// # Errors
/// `EBADF` for a descriptor that is not open, `in_fd` not readable or `out_fd` not
/// writable; `ESPIPE` for an `offset` on a file without positions; `EINVAL` for a
/// negative position, a source that is not a regular file (no `splice_read` here) or
/// an `O_APPEND` destination; `EOVERFLOW` past `MAX_LFS_FILESIZE`; `EFAULT`; the
/// destination's write errors (a full pipe: the caller sleeps, [`IoError::WouldBlock`]).
pub fn sys_sendfile(
    p: &ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    out_fd: u64,
    in_fd: u64,
    offset: u64,
    count: u64,
) -> IoResult<u64> {
    let inf = p.fds.get(in_fd as u32)?;
    if inf.is_path_only() || !inf.access().0 {
        return Err(Errno::EBADF.into());
    }
    let ppos = get_off(u, offset)?;
    if ppos.is_some() && inf.is_stream() {
        return Err(Errno::ESPIPE.into());
    }
    let pos = ppos.unwrap_or_else(|| inf.pos());
    let count = count.min(MAX_RW_COUNT as u64);
    inf.rw_verify_area(Some(pos), count as usize)?;
    let out = p.fds.get(out_fd as u32)?;
    if out.is_path_only() || !out.access().1 {
        return Err(Errno::EBADF.into());
    }
    let count = match pos.checked_add(count) {
        Some(end) if end <= MAX_LFS_FILESIZE => count,
        _ if pos >= MAX_LFS_FILESIZE => return Err(Errno::EOVERFLOW.into()),
        _ => MAX_LFS_FILESIZE - pos,
    };
    let src = regular(&inf).ok_or(Errno::EINVAL)?;
    if out.flags() & O_APPEND != 0 {
        return Err(Errno::EINVAL.into());
    }
    let n = copy_range(
        &mut FileCtx::current(vfs, u),
        src,
        pos,
        &out,
        None,
        count as usize,
    )?;
    let end = pos + n as u64;
    match ppos {
        Some(_) => u.put_user_u64(offset, end)?,
        None => {
            inf.seek(end as i64, 0)?;
        }
    }
    Ok(n as u64)
}

/// `copy_file_range(fd_in, off_in, fd_out, off_out, len, flags)`: up to `len` bytes
/// between two regular files, each at `*off` (updated) or its file position (advanced);
/// stops at the source's end.
///
/// # Errors
/// `EINVAL` for `flags`, a file that is not regular, a negative position, or
/// overlapping ranges of one file; `EISDIR` for a directory; `EBADF` for descriptors not
/// open for reading/writing or an `O_APPEND` destination; `EFAULT`; the write's
/// (`EFBIG`, `ENOSPC`).
#[allow(clippy::too_many_arguments)] // the system call's six arguments
pub fn sys_copy_file_range(
    p: &ProcessFs,
    vfs: &Vfs,
    u: &mut dyn UserAccess,
    fd_in: u64,
    off_in: u64,
    fd_out: u64,
    off_out: u64,
    len: u64,
    flags: u64,
) -> KResult<u64> {
    if flags as u32 != 0 {
        return Err(Errno::EINVAL);
    }
    let inf = p.fds.get(fd_in as u32)?;
    let out = p.fds.get(fd_out as u32)?;
    if inf.is_path_only() || out.is_path_only() {
        return Err(Errno::EBADF);
    }
    let pin = get_off(u, off_in)?.unwrap_or_else(|| inf.pos());
    let pout = get_off(u, off_out)?.unwrap_or_else(|| out.pos());
    // generic_copy_file_checks(): regular files, the right access, no append.
    let is_dir = |f: &OpenFile| f.inode().is_some_and(|i| i.is_dir());
    if is_dir(&inf) || is_dir(&out) {
        return Err(Errno::EISDIR);
    }
    let (Some(src), Some(dst)) = (regular(&inf), regular(&out)) else {
        return Err(Errno::EINVAL);
    };
    if !inf.access().0 || !out.access().1 || out.flags() & O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    if (pin as i64) < 0 || (pout as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.min(MAX_RW_COUNT as u64);
    let overlap = pin < pout.saturating_add(len) && pout < pin.saturating_add(len);
    if Arc::ptr_eq(src, dst) && overlap {
        return Err(Errno::EINVAL);
    }
    // Shortened to the source's end, as generic_copy_file_checks() does.
    let len = len.min(src.size().saturating_sub(pin)) as usize;
    if len == 0 {
        return Ok(0);
    }
    let ctx = &mut FileCtx::current(vfs, u);
    let n = match copy_range(ctx, src, pin, &out, Some(pout), len) {
        Ok(n) => n as u64,
        Err(IoError::Errno(e)) => return Err(e),
        Err(IoError::WouldBlock(_)) => return Err(Errno::EAGAIN),
    };
    if off_in != 0 {
        u.put_user_u64(off_in, pin + n)?;
    } else {
        inf.seek((pin + n) as i64, 0)?;
    }
    if off_out != 0 {
        u.put_user_u64(off_out, pout + n)?;
    } else {
        out.seek((pout + n) as i64, 0)?;
    }
    Ok(n)
}
