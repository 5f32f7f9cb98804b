//! `/proc/<pid>/maps`: `show_map_vma()` (`fs/proc/task_mmu.c`), one line per VMA:
//!
//! ```text
//! 00010000-00074000 r-xp 00000000 00:00 0                                  [vdso]
//! ```
//!
//! `start-end` (`%08lx`, at least 8 hex digits), permissions `rwx` and `p`rivate or
//! `s`hared (`VM_MAYSHARE`), the file offset (`%08llx`, 0 for anonymous memory), the
//! device (`%02x:%02x`) and inode (`%lu`), then — if the VMA has a name — spaces up to
//! column 73 (`seq_setwidth(25 + 6 * sizeof(void *) - 1)` + `seq_pad(' ')`) and the name:
//! the file's path; a special mapping's name (`[vdso]`); `[heap]` for the VMA holding the
//! initial heap (`vma_is_initial_heap()`); `[stack]` for the one holding the initial stack
//! (`vma_is_initial_stack()`); `[anon:NAME]` for a `PR_SET_VMA_ANON_NAME` name. A
//! `MAP_SHARED|MAP_ANONYMOUS` mapping is its shmem object, shown as `/dev/zero (deleted)`
//! on `shm_mnt`'s device `00:01` with the object's inode number.
//!
//! The file is a `seq_file` ([`SeqFile`]) whose records are the VMAs in address order
//! (`m_start()`/`m_next()`/`show_map()`): the iterator position is the end address of
//! the last VMA shown, and the next record is the first VMA ending above it
//! ([`crate::mm::VmaTree::find_vma`]), so a read costs one look-up (O(log n)) plus the
//! lines it returns, whatever the size of the table. When the mappings change between two
//! reads, the second carries on after the last VMA shown, as Linux's does.

use devices::PAGE_SIZE;

use super::{KernelFileBinding, ProcBinding};
use crate::errno::{Errno, KResult};
use crate::fs::{
    seq_lseek, FileCtx, FileOperations, IoResult, Kiocb, OpenFile, ProcFile, SeqFile, SeqOperations,
};
use crate::mm::{Mm, VmFlags, Vma, VmaBacking};

/// Column at which a name starts, minus the one space `seq_pad()` adds
/// (`25 + sizeof(void *) * 6 - 1` on 64-bit).
const NAME_COLUMN: usize = 25 + 8 * 6 - 1;

/// The whole of `/proc/<pid>/maps` for `mm`: [`show_map_vma`] of every VMA in address
/// order. Empty for a released address space.
pub fn show_maps(mm: &Mm) -> Vec<u8> {
    let mut out = Vec::new();
    if mm.is_dead() {
        return out;
    }
    for vma in mm.vmas().iter() {
        show_map_vma(&mut out, mm, vma);
    }
    out
}

/// Appends `vma`'s line (newline included) to `out`.
pub fn show_map_vma(out: &mut Vec<u8>, mm: &Mm, vma: &Vma) {
    let line_start = out.len();
    let flags = vma.flags;
    let (pgoff, dev, ino, path): (u64, (u32, u32), u64, Option<Vec<u8>>) = match &vma.backing {
        VmaBacking::File(f) => (
            vma.pgoff.wrapping_mul(PAGE_SIZE),
            f.dev(),
            f.inode_id(),
            Some(f.path()),
        ),
        VmaBacking::Anon => (0, (0, 0), 0, None),
    };
    show_vma_header_prefix(out, vma.start, vma.end, flags, pgoff, dev, ino);
    let name = match path {
        Some(p) if !p.is_empty() => Some(p),
        Some(_) => None,
        None => vma_name(mm, vma),
    };
    if let Some(name) = name {
        seq_pad_name(out, line_start, &name);
    }
    out.push(b'\n');
}

/// `show_vma_header_prefix()`: `start-end perms offset major:minor inode ` (with the
/// trailing space), the permissions from `flags` (`VM_READ`, `VM_WRITE`, `VM_EXEC`, and
/// `s` for `VM_MAYSHARE`, else `p`).
pub(super) fn show_vma_header_prefix(
    out: &mut Vec<u8>,
    start: u64,
    end: u64,
    flags: VmFlags,
    pgoff_bytes: u64,
    dev: (u32, u32),
    ino: u64,
) {
    let perm = |f: VmFlags, c: char| if flags.contains(f) { c } else { '-' };
    let header = format!(
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        start,
        end,
        perm(VmFlags::READ, 'r'),
        perm(VmFlags::WRITE, 'w'),
        perm(VmFlags::EXEC, 'x'),
        if flags.contains(VmFlags::MAYSHARE) {
            's'
        } else {
            'p'
        },
        pgoff_bytes,
        dev.0,
        dev.1,
        ino
    );
    out.extend_from_slice(header.as_bytes());
}

/// `seq_pad(m, ' ')` + the name: spaces from the line that began at `line_start` up to
/// the name column, one more, then `name` (no newline).
pub(super) fn seq_pad_name(out: &mut Vec<u8>, line_start: usize, name: &[u8]) {
    while out.len() - line_start < NAME_COLUMN {
        out.push(b' ');
    }
    out.push(b' ');
    out.extend_from_slice(name);
}

/// `get_vma_name()` for a VMA without a file.
fn vma_name(mm: &Mm, vma: &Vma) -> Option<Vec<u8>> {
    let anon_name = vma.name.as_deref();
    // A kernel-installed special mapping names itself (vm_special_mapping.name, e.g.
    // "[vdso]"); user names (PR_SET_VMA_ANON_NAME) can never contain '[' or ']'.
    if let Some(n) = anon_name.filter(|n| n.starts_with('[') && *n != "[stack]") {
        return Some(n.as_bytes().to_vec());
    }
    // vma_is_initial_heap(): overlaps [start_brk, brk).
    if vma.start < mm.current_brk() && vma.end > mm.start_brk() {
        return Some(b"[heap]".to_vec());
    }
    // vma_is_initial_stack(): contains mm->start_stack, the initial stack pointer. The
    // Mm keeps the stack's top instead; the initial stack pointer lies in the top page
    // (below argv/envp strings and auxv), so that page stands for it.
    let start_stack = mm.stack_bounds().1.saturating_sub(1);
    if vma.start <= start_stack && vma.end >= start_stack {
        return Some(b"[stack]".to_vec());
    }
    match anon_name {
        Some(n) if !n.starts_with('[') => Some(format!("[anon:{n}]").into_bytes()),
        _ => None,
    }
}

/// `proc_pid_maps_operations`, `proc_pid_smaps_operations` and
/// `proc_pid_smaps_rollup_operations` (which file the binding says): `seq_read_iter()`
/// over the VMAs (over one record for `smaps_rollup`), `seq_lseek()`, opened by
/// `proc_maps_open()` / `smaps_rollup_open()`; no `write` (`EINVAL`).
#[derive(Debug)]
pub struct ProcMapsFile {
    binding: ProcBinding,
    seq: SeqFile,
}

impl ProcMapsFile {
    pub(super) fn new(binding: ProcBinding) -> Self {
        ProcMapsFile {
            binding,
            seq: SeqFile::new(),
        }
    }

    /// The `seq_file` state (how many lines the reads have rendered).
    pub fn seq_file(&self) -> &SeqFile {
        &self.seq
    }
}

/// `m_start()` + `show_map()` (or `show_smap()`) + `m_next()`: the record of the first
/// VMA of the bound address space ending above `last_end`; the next position is that
/// VMA's end. For `smaps_rollup` (`single_open()`), position 0 is the one record
/// ([`super::show_smaps_rollup`]). Nothing for a descriptor without a live address space.
impl SeqOperations for ProcBinding {
    fn show(&self, _ctx: &mut FileCtx<'_, '_>, last_end: u64, out: &mut Vec<u8>) -> Option<u64> {
        let KernelFileBinding { mm: Some(grab), .. } = self.get()? else {
            return None;
        };
        // mmget_not_zero() on the address space grabbed at open, the read side of its
        // mmap_lock for this record (m_start()'s lock_vma_range():
        // mmap_read_lock_killable()), so the target's faults go on while it is read.
        let users = grab.mmget_not_zero()?;
        let mm = users.mmap_read_lock();
        if mm.is_dead() {
            return None;
        }
        if self.file == ProcFile::SmapsRollup {
            if last_end != 0 {
                return None;
            }
            super::show_smaps_rollup(out, &mm);
            return Some(1);
        }
        let vma = mm.vmas().find_vma(last_end)?;
        if self.file == ProcFile::Smaps {
            super::show_smap(out, &mm, vma);
        } else {
            show_map_vma(out, &mm, vma);
        }
        Some(vma.end)
    }
}

impl FileOperations for ProcMapsFile {
    fn open(&self, ctx: &mut FileCtx<'_, '_>) -> KResult<()> {
        self.binding.open(ctx)
    }

    fn read(
        &self,
        _file: &OpenFile,
        ctx: &mut FileCtx<'_, '_>,
        iocb: &mut Kiocb,
        buf: u64,
        len: usize,
    ) -> IoResult<usize> {
        // show_smaps_rollup(): a task without a live address space is ESRCH (maps and
        // smaps read empty).
        if self.binding.file == ProcFile::SmapsRollup && iocb.pos == 0 && !self.binding.mm_alive() {
            return Err(Errno::ESRCH.into());
        }
        self.seq.read(&self.binding, ctx, iocb, buf, len)
    }

    /// No `write`.
    fn can_write(&self) -> bool {
        false
    }

    fn llseek(&self, _file: &OpenFile, offset: i64, whence: u32, pos: u64) -> KResult<u64> {
        seq_lseek(offset, whence, pos)
    }

    /// The records come from the address space bound at open, the bytes go to the
    /// caller's memory: no task is looked up, so the caller's hart serves the reads
    /// without the kernel lock (`syscall::unlocked`).
    fn needs_tasks(&self) -> bool {
        false
    }
}
