//! `execve` of a static ELF image into a fresh address space: `load_elf_binary` +
//! `create_elf_tables` (fs/binfmt_elf.c) on top of [`crate::loader`] and [`crate::mm`].

use crate::errno::Errno;
use crate::loader::{
    build_initial_stack, parse_elf, AuxFacts, ExecError, StackError, StackRequest,
};
use crate::mm::mmap::{
    calc_vm_prot_bits, vm_flags_to_prot, MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ,
    PROT_WRITE,
};
use crate::mm::VmFlags;
use crate::process::Task;
use devices::PAGE_SIZE;

/// Why an image could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The ELF file is unusable.
    #[error(transparent)]
    Image(#[from] ExecError),
    /// argv/envp do not fit the initial stack.
    #[error("cannot build the initial stack")]
    Stack(#[from] StackError),
    /// The address space could not be set up (e.g. guest RAM too small).
    #[error("cannot map {what}: {errno}")]
    Map {
        /// What was being mapped.
        what: &'static str,
        /// The kernel error.
        errno: Errno,
    },
}

/// The riscv64 `rt_sigreturn` trampoline Linux keeps in the vDSO:
/// `li a7, 139` (`addi a7, x0, 139`); `ecall`.
const SIGRETURN_TRAMPOLINE: [u32; 2] = [0x08b0_0893, 0x0000_0073];

/// Initial stack mapping beyond the argument area (Linux starts with 128 KiB and grows).
const STACK_EXPAND: u64 = 128 << 10;

/// Where a static-pie is loaded: `ELF_ET_DYN_BASE` = 2/3 of the Sv39 user window, as riscv64
/// Linux computes it (an Sv48 process gets the same default, for compatibility).
fn elf_et_dyn_base(task_size: u64) -> u64 {
    ((task_size.min(1 << 38) / 3) * 2) & !(PAGE_SIZE - 1)
}

fn map_err(what: &'static str) -> impl Fn(Errno) -> LoadError {
    move |errno| LoadError::Map { what, errno }
}

/// Loads `image` into `proc`'s (empty) address space and sets up registers so the program
/// starts at its entry point with the Linux initial stack (argc, argv, envp, auxv).
///
/// # Errors
/// [`LoadError`]; the process is unusable afterwards.
pub fn exec(
    proc: &mut Task,
    image: &[u8],
    exe_path: &str,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<(), LoadError> {
    let elf = parse_elf(image)?;
    let mm_users = proc.mm.clone().ok_or(LoadError::Map {
        what: "the address space",
        errno: crate::errno::Errno::ESRCH,
    })?;
    let mut mm = mm_users.mmap_write_lock();
    let bias = if elf.is_pie {
        elf_et_dyn_base(mm.task_size())
    } else {
        0
    };
    let elf = elf.with_bias(bias)?;

    // PT_LOAD segments: each a private anonymous VMA holding a copy of the file bytes
    // (file-backed mappings arrive with the page cache). Two segments may share a page;
    // the later one then starts at the next page boundary and the shared page keeps the
    // first mapping's permissions widened with the second's.
    let mut mapped_end = 0u64;
    let mut brk = 0u64;
    for (index, seg) in elf.segments.iter().enumerate() {
        let start = seg.vaddr & !(PAGE_SIZE - 1);
        let end = seg
            .end()
            .checked_add(PAGE_SIZE - 1)
            .ok_or(ExecError::SegmentOverflows { index })?
            & !(PAGE_SIZE - 1);
        let prot = [
            (seg.perms.read, PROT_READ),
            (seg.perms.write, PROT_WRITE),
            (seg.perms.exec, PROT_EXEC),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |p, (_, bit)| p | bit);
        let from = start.max(mapped_end);
        if from > start {
            // The shared page: widen its permissions to cover both segments.
            let cur = mm
                .vmas()
                .vma_lookup(start)
                .map_or(VmFlags::empty(), |v| v.flags);
            mm.mprotect(start, PAGE_SIZE, prot | vm_flags_to_prot(cur))
                .map_err(map_err("a shared segment page"))?;
        }
        if end > from {
            mm.map_region(from, end - from, calc_vm_prot_bits(prot), None)
                .map_err(map_err("a PT_LOAD segment"))?;
        }
        mapped_end = mapped_end.max(end);
        let off = usize::try_from(seg.offset).map_err(|_| ExecError::NotElf)?;
        let len = usize::try_from(seg.filesz).map_err(|_| ExecError::NotElf)?;
        let bytes =
            off.checked_add(len)
                .and_then(|e| image.get(off..e))
                .ok_or(ExecError::Truncated {
                    what: "a segment".into(),
                    file_len: image.len(),
                })?;
        mm.write_region(seg.vaddr, bytes)
            .map_err(map_err("segment contents"))?;
        brk = brk.max(end);
    }
    mm.init_brk(brk);

    // The sigreturn trampoline page ("[vdso]").
    let tramp = mm
        .sys_mmap(
            0,
            PAGE_SIZE,
            PROT_READ | PROT_EXEC,
            MAP_PRIVATE | MAP_ANONYMOUS,
            None,
            0,
        )
        .map_err(map_err("the [vdso] page"))?;
    let code: Vec<u8> = SIGRETURN_TRAMPOLINE
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    mm.write_region(tramp, &code)
        .map_err(map_err("the [vdso] page"))?;
    mm.name_special_mapping(tramp, PAGE_SIZE, "[vdso]")
        .map_err(map_err("the [vdso] page"))?;
    proc.sigreturn_trampoline = tramp;

    // The stack: argument area + 128 KiB, growing down on demand to RLIMIT_STACK.
    let argv_refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp_refs: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let strings: u64 = argv
        .iter()
        .chain(envp)
        .map(|s| s.len() as u64 + 1 + 8)
        .sum::<u64>()
        + exe_path.len() as u64;
    let top = mm
        .setup_stack(strings + STACK_EXPAND)
        .map_err(map_err("the stack"))?;
    let mut random = [0u8; 16];
    proc.signal.lock().rng.fill(&mut random);
    let stack = build_initial_stack(&StackRequest {
        stack_top: top,
        argv: &argv_refs,
        envp: &envp_refs,
        execfn: exe_path.as_bytes(),
        random,
        aux: AuxFacts::for_image(&elf, 0),
    })?;
    mm.write_region(stack.base, &stack.bytes)
        .map_err(map_err("the initial stack"))?;

    proc.fs.exec(exe_path.as_bytes().to_vec());
    proc.ctx = emu::UserContext::default();
    proc.ctx.pc = elf.entry;
    proc.ctx.x[2] = stack.sp;
    Ok(())
}
