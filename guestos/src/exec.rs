//! `execve` of a static ELF image into a fresh address space: `load_elf_binary` +
//! `create_elf_tables` (fs/binfmt_elf.c) on top of [`crate::loader`] and [`crate::mm`].

use crate::errno::{Errno, KResult};
use crate::loader::stack::{arg_space_bytes, ArgSpace, MAX_ARG_STRINGS, MAX_ARG_STRLEN};
use crate::loader::{
    build_initial_stack, parse_elf, AuxFacts, ExecError, StackError, StackRequest,
};
use crate::mm::mmap::{
    calc_vm_prot_bits, vm_flags_to_prot, MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ,
    PROT_WRITE,
};
use crate::mm::VmFlags;
use crate::process::Task;
use crate::syscall::misc::RLIMIT_STACK;
use crate::uaccess::UserAccess;
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
/// starts at its entry point with the Linux initial stack (argc, argv, envp, auxv). The
/// task is named after the file (`begin_new_exec()`: `__set_task_comm(me,
/// kbasename(bprm->filename))`).
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
    proc.set_comm(exe_path.rsplit('/').next().unwrap_or_default().as_bytes());
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
        stack_rlimit_bytes: stack_rlimit_bytes(proc),
    })?;
    mm.write_region(stack.base, &stack.bytes)
        .map_err(map_err("the initial stack"))?;
    // The address space is set up: its lock goes before the task's registers are set
    // (`start_thread()` after `load_elf_binary()`'s `mmap_write_unlock()`), so the
    // task's lock is never taken under its `mmap_lock` — a hart switching the task in
    // holds the task's lock and may take a futex bucket's, under which a futex wait
    // tries the `mmap_lock` (`sync`'s lock order).
    drop(mm);

    proc.fs.exec(exe_path.as_bytes().to_vec());
    {
        let mut run = proc.run();
        run.ctx = emu::UserContext::default();
        run.ctx.pc = elf.entry;
        run.ctx.x[2] = stack.sp;
    }
    Ok(())
}

/// `RLIMIT_STACK`'s soft limit of `proc`'s process in bytes (`bprm->rlim_stack`).
pub fn stack_rlimit_bytes(proc: &Task) -> u64 {
    proc.signal
        .lock()
        .rlimits
        .get(RLIMIT_STACK)
        .map_or(crate::loader::stack::STK_LIM, |(cur, _)| cur)
}

/// The argument and environment strings of an `execve`, without their NULs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecArgs {
    /// `argv[0..argc]` (never empty: an empty argv gets an empty `argv[0]`).
    pub argv: Vec<Vec<u8>>,
    /// `envp[0..envc]`.
    pub envp: Vec<Vec<u8>>,
}

/// Copies the `execve` vectors at `argv_va` and `envp_va` (NULL-terminated arrays of
/// string pointers; 0 is an empty vector) from user memory with Linux's limits, before
/// anything of the caller is torn down (`do_execveat_common`): `count()` of each vector,
/// `bprm_stack_limits()` on the pointers, then `copy_strings()` of the file name (the
/// `execfn` the new stack will hold), the environment and the arguments, last string
/// first, each checked against `MAX_ARG_STRLEN` and the running total as it is copied. An
/// empty argv gets an empty `argv[0]`, charged too (Linux 5.18+). The host memory held is
/// at most the argument space ([`arg_space_bytes`], 6 MiB at most) plus one string.
///
/// Unlike Linux, `count()` stops at the first count whose pointers alone exceed the
/// argument space (at most 786,432 pointers instead of `MAX_ARG_STRINGS`), so that host
/// work is bounded too: the answer is `E2BIG` either way, except that an unreadable
/// pointer further on in that same vector would have given `EFAULT`.
///
/// # Errors
/// `EFAULT` for an unreadable pointer or string; `E2BIG` for a string longer than
/// `MAX_ARG_STRLEN` (NUL included), too many strings or too many bytes in total.
pub fn copy_exec_args(
    u: &mut dyn UserAccess,
    execfn: &[u8],
    argv_va: u64,
    envp_va: u64,
    rlim_stack_cur: u64,
) -> KResult<ExecArgs> {
    let e2big = |e: StackError| e.errno();
    let cap = arg_space_bytes(rlim_stack_cur) / 8;
    let argc = count_user_ptrs(u, argv_va, cap)?;
    let envc = count_user_ptrs(u, envp_va, cap)?;
    let mut space = ArgSpace::new(rlim_stack_cur, argc, envc).map_err(e2big)?;
    space.charge(execfn.len() + 1).map_err(e2big)?;
    let envp = copy_user_strings(u, envp_va, envc, &mut space)?;
    let mut argv = copy_user_strings(u, argv_va, argc, &mut space)?;
    if argv.is_empty() {
        space.charge(1).map_err(e2big)?;
        argv.push(Vec::new());
    }
    Ok(ExecArgs { argv, envp })
}

/// The address of pointer `i` of the vector at `va`.
fn user_ptr_at(va: u64, i: u64) -> KResult<u64> {
    i.checked_mul(8)
        .and_then(|off| va.checked_add(off))
        .ok_or(Errno::EFAULT)
}

/// `count()`: the pointers before the NULL of the vector at `va` (0: none), stopping at
/// `cap` (see [`copy_exec_args`]).
///
/// # Errors
/// `EFAULT` for an unreadable pointer; `E2BIG` past `MAX_ARG_STRINGS`.
fn count_user_ptrs(u: &mut dyn UserAccess, va: u64, cap: u64) -> KResult<u64> {
    if va == 0 {
        return Ok(0);
    }
    let mut n = 0u64;
    while n < cap {
        if u.get_user_u64(user_ptr_at(va, n)?)? == 0 {
            return Ok(n);
        }
        if n >= MAX_ARG_STRINGS {
            return Err(Errno::E2BIG);
        }
        n += 1;
    }
    Ok(n)
}

/// `copy_strings()`: the `n` strings of the vector at `va`, read last first and each
/// charged to `space` as it is read; returned in vector order.
///
/// # Errors
/// `EFAULT`; `E2BIG` (see [`ArgSpace::charge`]).
fn copy_user_strings(
    u: &mut dyn UserAccess,
    va: u64,
    n: u64,
    space: &mut ArgSpace,
) -> KResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for i in (0..n).rev() {
        let p = u.get_user_u64(user_ptr_at(va, i)?)?;
        // Read at most MAX_ARG_STRLEN bytes: a longer string is E2BIG (strnlen_user()
        // returned more than the limit), whatever follows it.
        let s = match u.strncpy_from_user(p, MAX_ARG_STRLEN - 1) {
            Err(Errno::ENAMETOOLONG) => return Err(Errno::E2BIG),
            r => r?,
        };
        space.charge(s.len() + 1).map_err(|e| e.errno())?;
        out.push(s);
    }
    out.reverse();
    Ok(out)
}
