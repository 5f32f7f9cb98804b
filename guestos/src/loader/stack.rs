//! The initial user stack of a new program, laid out byte for byte as Linux does for
//! riscv64: the strings by `copy_strings` (fs/exec.c), then the tables by
//! `create_elf_tables` (fs/binfmt_elf.c).
//!
//! From the stack top downwards:
//!
//! ```text
//!   stack_top ->  8 zero bytes        (__bprm_mm_init: bprm->p = vm_end - sizeof(void *))
//!                 execfn string       (copy_string_kernel(bprm->filename); AT_EXECFN)
//!                 envp strings        (envp[0] lowest, envp[n-1] highest)
//!                 argv strings        (argv[0] lowest = mm->arg_start)
//!                 down to 16-byte alignment (arch_align_stack, riscv: sp & ~0xf)
//!                 no AT_PLATFORM string (riscv: ELF_PLATFORM is NULL)
//!                 16 random bytes     (AT_RANDOM)
//!                 padding             (STACK_ROUND: the table block starts 16-aligned)
//!                 auxv pairs ... AT_NULL
//!                 envp[0..n], NULL
//!                 argv[0..n], NULL
//!   sp ->         argc
//! ```

use thiserror::Error;

use crate::errno::Errno;

/// `AT_NULL`: end of the auxiliary vector (include/uapi/linux/auxvec.h).
pub const AT_NULL: u64 = 0;
/// `AT_IGNORE`.
pub const AT_IGNORE: u64 = 1;
/// `AT_PHDR`: address of the program headers.
pub const AT_PHDR: u64 = 3;
/// `AT_PHENT`: size of one program header.
pub const AT_PHENT: u64 = 4;
/// `AT_PHNUM`: number of program headers.
pub const AT_PHNUM: u64 = 5;
/// `AT_PAGESZ`: page size in bytes.
pub const AT_PAGESZ: u64 = 6;
/// `AT_BASE`: interpreter base (0: none).
pub const AT_BASE: u64 = 7;
/// `AT_FLAGS`.
pub const AT_FLAGS: u64 = 8;
/// `AT_ENTRY`: the program's entry point.
pub const AT_ENTRY: u64 = 9;
/// `AT_UID`.
pub const AT_UID: u64 = 11;
/// `AT_EUID`.
pub const AT_EUID: u64 = 12;
/// `AT_GID`.
pub const AT_GID: u64 = 13;
/// `AT_EGID`.
pub const AT_EGID: u64 = 14;
/// `AT_HWCAP`: single-letter ISA extensions, bit `letter - 'a'`.
pub const AT_HWCAP: u64 = 16;
/// `AT_HWCAP2`: more capability bits (see [`crate::mm::mte::HWCAP2_MTE`]).
pub const AT_HWCAP2: u64 = 26;
/// `AT_CLKTCK`: `times()` frequency.
pub const AT_CLKTCK: u64 = 17;
/// `AT_SECURE`: setuid-like exec.
pub const AT_SECURE: u64 = 23;
/// `AT_RANDOM`: address of 16 random bytes.
pub const AT_RANDOM: u64 = 25;
/// `AT_EXECFN`: address of the file name passed to `execve`.
pub const AT_EXECFN: u64 = 31;
/// `AT_L1I_CACHESIZE` (arch/riscv/include/uapi/asm/auxvec.h).
pub const AT_L1I_CACHESIZE: u64 = 40;
/// `AT_L1I_CACHEGEOMETRY`.
pub const AT_L1I_CACHEGEOMETRY: u64 = 41;
/// `AT_L1D_CACHESIZE`.
pub const AT_L1D_CACHESIZE: u64 = 42;
/// `AT_L1D_CACHEGEOMETRY`.
pub const AT_L1D_CACHEGEOMETRY: u64 = 43;
/// `AT_L2_CACHESIZE`.
pub const AT_L2_CACHESIZE: u64 = 44;
/// `AT_L2_CACHEGEOMETRY`.
pub const AT_L2_CACHEGEOMETRY: u64 = 45;
/// `AT_L3_CACHESIZE`.
pub const AT_L3_CACHESIZE: u64 = 46;
/// `AT_L3_CACHEGEOMETRY`.
pub const AT_L3_CACHEGEOMETRY: u64 = 47;
/// `AT_MINSIGSTKSZ`: minimal stack size for signal delivery.
pub const AT_MINSIGSTKSZ: u64 = 51;

/// `AT_HWCAP` for RV64IMAFDC: bits `'i','m','a','f','d','c' - 'a'`
/// (arch/riscv/kernel/cpufeature.c, `riscv_fill_hwcap`).
pub const HWCAP_RV64IMAFDC: u64 = hwcap_bit(b'i')
    | hwcap_bit(b'm')
    | hwcap_bit(b'a')
    | hwcap_bit(b'f')
    | hwcap_bit(b'd')
    | hwcap_bit(b'c');

/// The `AT_HWCAP` bit of a single-letter ISA extension (`'a'..='z'`): `1 << (letter - 'a')`.
pub const fn hwcap_bit(letter: u8) -> u64 {
    1 << (letter - b'a')
}

/// `AT_MINSIGSTKSZ` on riscv64 without the V extension: `get_rt_frame_size(true)`
/// (arch/riscv/kernel/signal.c) = `sizeof(struct rt_sigframe)` rounded to 16 =
/// `sizeof(siginfo_t)` 128 + `sizeof(struct ucontext)` 960 = 1088. The 960 was checked with
/// `riscv64-linux-gnu-gcc` (`sizeof(ucontext_t)`; the uapi and glibc layouts agree).
pub const RISCV_MINSIGSTKSZ: u64 = 1088;

/// `CLOCKS_PER_SEC` as user space sees it (`USER_HZ` = 100).
pub const CLOCKS_PER_SEC: u64 = 100;

/// `MAX_ARG_STRLEN` (include/uapi/linux/binfmts.h): 32 pages, the longest single argument
/// or environment string, NUL included.
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// `MAX_ARG_STRINGS` (include/uapi/linux/binfmts.h): the most argv (or envp) pointers
/// `count()` accepts before `E2BIG`.
pub const MAX_ARG_STRINGS: u64 = 0x7fff_ffff;

/// `ARG_MAX` (include/uapi/linux/limits.h): 32 pages of argument space that every stack
/// rlimit allows, however small.
pub const ARG_MAX: u64 = 32 * 4096;

/// `_STK_LIM` (include/uapi/linux/resource.h): the default stack rlimit, 8 MiB.
pub const STK_LIM: u64 = 8 << 20;

/// `bprm_stack_limits()` (fs/exec.c): the bytes that the argv and envp strings, the file
/// name and the argv/envp pointers may take together, for a stack rlimit of
/// `rlim_stack_cur` bytes: a quarter of it, at most ¾ of `_STK_LIM` (6 MiB), at least
/// `ARG_MAX` (128 KiB). The default 8 MiB rlimit gives 2 MiB.
pub fn arg_space_bytes(rlim_stack_cur: u64) -> u64 {
    (STK_LIM / 4 * 3).min(rlim_stack_cur / 4).max(ARG_MAX)
}

/// The argument space of one `execve`, charged as `do_execveat_common` does: first the
/// argv/envp pointers (`bprm_stack_limits()`), then each string with its NUL as it is
/// copied (`copy_strings()`: `bprm->p` must stay above `bprm->argmin`), so a caller that
/// copies strings one by one never holds more than the space plus one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSpace {
    left_bytes: u64,
}

impl ArgSpace {
    /// The space for `argc` arguments and `envc` environment strings under a stack rlimit
    /// of `rlim_stack_cur` bytes, less their pointers: `max(argc, 1) + envc` of them (an
    /// empty argv gets an empty `argv[0]`).
    ///
    /// # Errors
    /// [`StackError::TooBig`] (`E2BIG`) if the pointers alone take all the space.
    pub fn new(rlim_stack_cur: u64, argc: u64, envc: u64) -> Result<ArgSpace, StackError> {
        let limit = arg_space_bytes(rlim_stack_cur);
        let ptr_bytes = argc
            .max(1)
            .checked_add(envc)
            .and_then(|n| n.checked_mul(8))
            .ok_or(StackError::TooBig(u64::MAX))?;
        if limit <= ptr_bytes {
            return Err(StackError::TooBig(ptr_bytes));
        }
        Ok(ArgSpace {
            left_bytes: limit - ptr_bytes,
        })
    }

    /// Charges one string of `len_with_nul` bytes (`valid_arg_len()`, then the `argmin`
    /// check).
    ///
    /// # Errors
    /// [`StackError::StringTooLong`] past `MAX_ARG_STRLEN`, [`StackError::TooBig`] past
    /// the space left (both `E2BIG`); nothing is charged then.
    pub fn charge(&mut self, len_with_nul: usize) -> Result<(), StackError> {
        if len_with_nul > MAX_ARG_STRLEN {
            return Err(StackError::StringTooLong(len_with_nul));
        }
        self.left_bytes = self
            .left_bytes
            .checked_sub(len_with_nul as u64)
            .ok_or(StackError::TooBig(len_with_nul as u64))?;
        Ok(())
    }
}

/// The facts about the loaded program that go into the auxiliary vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxFacts {
    /// `AT_PHDR`: where the program headers are mapped (after any load bias), 0 if they are
    /// not mapped.
    pub phdr: u64,
    /// `AT_PHENT` (56).
    pub phent: u64,
    /// `AT_PHNUM`.
    pub phnum: u64,
    /// `AT_ENTRY`: the entry point after any load bias.
    pub entry: u64,
    /// `AT_HWCAP`, normally [`HWCAP_RV64IMAFDC`].
    pub hwcap: u64,
    /// `AT_HWCAP2`: dirtybit's memory tagging ([`crate::mm::mte::HWCAP2_MTE`]).
    pub hwcap2: u64,
    /// `AT_PAGESZ` in bytes (4096).
    pub page_size: u64,
    /// `AT_UID` / `AT_EUID`.
    pub uid: u32,
    /// `AT_GID` / `AT_EGID`.
    pub gid: u32,
}

impl AuxFacts {
    /// The facts for `image` loaded with `bias` (0 for `ET_EXEC`), running as root on an
    /// RV64IMAFDC hart with 4 KiB pages.
    pub fn for_image(image: &super::elf::ElfImage, bias: u64) -> AuxFacts {
        AuxFacts {
            phdr: image.phdr_vaddr.map_or(0, |p| p.wrapping_add(bias)),
            phent: u64::from(image.phent),
            phnum: u64::from(image.phnum),
            entry: image.entry.wrapping_add(bias),
            hwcap: HWCAP_RV64IMAFDC,
            hwcap2: crate::mm::mte::HWCAP2_MTE,
            page_size: 4096,
            uid: 0,
            gid: 0,
        }
    }
}

/// Everything `build_initial_stack` needs.
#[derive(Debug, Clone, Copy)]
pub struct StackRequest<'a> {
    /// The exclusive top of the stack mapping (`mm->start_stack` rounds up to this); must be
    /// 16-byte aligned.
    pub stack_top: u64,
    /// The argument strings, without their NULs (none may contain a NUL byte).
    pub argv: &'a [&'a [u8]],
    /// The environment strings, `NAME=value`, without NULs.
    pub envp: &'a [&'a [u8]],
    /// The file name given to `execve` (AT_EXECFN), without NUL.
    pub execfn: &'a [u8],
    /// The 16 bytes AT_RANDOM points at (the kernel draws them from its seeded PRNG).
    pub random: [u8; 16],
    /// The program's facts.
    pub aux: AuxFacts,
    /// `RLIMIT_STACK`'s soft limit in bytes, which decides how much argument space there
    /// is ([`arg_space_bytes`]).
    pub stack_rlimit_bytes: u64,
}

/// The built stack: `bytes` go at `[base, stack_top)` in the new address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialStack {
    /// The bytes, `bytes.len() == stack_top - base`.
    pub bytes: Vec<u8>,
    /// The lowest address written (= `sp`).
    pub base: u64,
    /// The initial stack pointer: points at `argc`, 16-byte aligned.
    pub sp: u64,
    /// `mm->arg_start`: address of the `argv[0]` string.
    pub arg_start: u64,
    /// `mm->arg_end` = `mm->env_start`.
    pub arg_end: u64,
    /// `mm->env_end`.
    pub env_end: u64,
    /// Address of the AT_EXECFN string.
    pub execfn_addr: u64,
    /// Address of the 16 AT_RANDOM bytes.
    pub random_addr: u64,
    /// Address of the first auxv pair (`mm->saved_auxv` is the same data).
    pub auxv_addr: u64,
    /// The auxiliary vector as written, AT_NULL included.
    pub auxv: Vec<(u64, u64)>,
}

/// Why the stack could not be built; [`StackError::errno`] is what `execve` returns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StackError {
    /// An argument, environment string or the file name contains a NUL byte.
    #[error("{0} contains a NUL byte")]
    EmbeddedNul(&'static str),
    /// A single string is longer than `MAX_ARG_STRLEN`.
    #[error("a string of {0} bytes exceeds the 128 KiB limit")]
    StringTooLong(usize),
    /// The strings and pointers together exceed the argument space
    /// ([`arg_space_bytes`]); the number is the string or pointer bytes that did not fit.
    #[error(
        "arguments and environment do not fit the argument space ({0} bytes more): a \
         quarter of RLIMIT_STACK, at least 128 KiB, at most 6 MiB"
    )]
    TooBig(u64),
    /// `stack_top` is not 16-byte aligned or too low to hold the stack.
    #[error("stack top {0:#x} is misaligned or too low")]
    BadStackTop(u64),
}

impl StackError {
    /// The errno: `E2BIG` for sizes (as `copy_strings` returns), `EINVAL` otherwise.
    pub fn errno(&self) -> Errno {
        match self {
            StackError::StringTooLong(_) | StackError::TooBig(_) => Errno::E2BIG,
            _ => Errno::EINVAL,
        }
    }
}

/// Builds the initial stack exactly as `create_elf_tables` does for a riscv64 static
/// program (no interpreter, no vDSO).
///
/// The auxv entries, in Linux's order: riscv's `ARCH_DLINFO` (without `AT_SYSINFO_EHDR`,
/// as we have no vDSO; the eight cache entries with value 0, which is what Linux reports
/// when the device tree describes no caches, as on QEMU's virt board; `AT_MINSIGSTKSZ`),
/// then `AT_HWCAP`, `AT_HWCAP2` (arm64's place, after `AT_HWCAP`: riscv Linux has no
/// `ELF_HWCAP2`; dirtybit reports its memory tagging there), `AT_PAGESZ`, `AT_CLKTCK`, `AT_PHDR`, `AT_PHENT`, `AT_PHNUM`, `AT_BASE`
/// (0), `AT_FLAGS` (0), `AT_ENTRY`, `AT_UID`, `AT_EUID`, `AT_GID`, `AT_EGID`, `AT_SECURE`
/// (0), `AT_RANDOM`, `AT_EXECFN`, `AT_NULL`. riscv has no `ELF_PLATFORM`; `AT_RSEQ_*` are left out because the guest OS has no `rseq`
/// (`CONFIG_RSEQ=n`).
///
/// # Errors
/// [`StackError`] for NULs in strings, oversized strings/totals or a bad `stack_top`.
pub fn build_initial_stack(req: &StackRequest<'_>) -> Result<InitialStack, StackError> {
    if req.stack_top & 15 != 0 {
        return Err(StackError::BadStackTop(req.stack_top));
    }
    check_strings("an argument", req.argv)?;
    check_strings("an environment string", req.envp)?;
    check_strings("the file name", &[req.execfn])?;

    // The same account as execve's (see `ArgSpace`), so what execve accepted fits here.
    let mut space = ArgSpace::new(
        req.stack_rlimit_bytes,
        req.argv.len() as u64,
        req.envp.len() as u64,
    )?;
    for s in req
        .argv
        .iter()
        .chain(req.envp)
        .chain(std::iter::once(&req.execfn))
    {
        space.charge(s.len() + 1)?;
    }

    let top = req.stack_top;
    // Everything below is bounded by the argument space plus a few hundred bytes of
    // tables (auxv, AT_RANDOM, argc, the NULL pointers, alignment).
    let max_len = arg_space_bytes(req.stack_rlimit_bytes) + 1024;
    if top < max_len {
        return Err(StackError::BadStackTop(top));
    }

    // 1. The strings, as bprm->p moves down from vm_end - sizeof(void *).
    let mut p = top - 8;
    p -= (req.execfn.len() + 1) as u64;
    let execfn_addr = p;
    let env_bytes: u64 = req.envp.iter().map(|s| s.len() as u64 + 1).sum();
    p -= env_bytes;
    let env_start = p;
    let arg_bytes: u64 = req.argv.iter().map(|s| s.len() as u64 + 1).sum();
    p -= arg_bytes;
    let arg_start = p;

    // 2. create_elf_tables: p = arch_align_stack(p) (riscv, without randomisation).
    p &= !0xf;
    // No AT_PLATFORM / AT_BASE_PLATFORM strings on riscv.
    p -= 16;
    let random_addr = p;

    let f = &req.aux;
    let mut auxv: Vec<(u64, u64)> = vec![
        (AT_L1I_CACHESIZE, 0),
        (AT_L1I_CACHEGEOMETRY, 0),
        (AT_L1D_CACHESIZE, 0),
        (AT_L1D_CACHEGEOMETRY, 0),
        (AT_L2_CACHESIZE, 0),
        (AT_L2_CACHEGEOMETRY, 0),
        (AT_L3_CACHESIZE, 0),
        (AT_L3_CACHEGEOMETRY, 0),
        (AT_MINSIGSTKSZ, RISCV_MINSIGSTKSZ),
        (AT_HWCAP, f.hwcap),
        (AT_HWCAP2, f.hwcap2),
        (AT_PAGESZ, f.page_size),
        (AT_CLKTCK, CLOCKS_PER_SEC),
        (AT_PHDR, f.phdr),
        (AT_PHENT, f.phent),
        (AT_PHNUM, f.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, f.entry),
        (AT_UID, u64::from(f.uid)),
        (AT_EUID, u64::from(f.uid)),
        (AT_GID, u64::from(f.gid)),
        (AT_EGID, u64::from(f.gid)),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_EXECFN, execfn_addr),
    ];
    auxv.push((AT_NULL, 0));

    // sp = STACK_ADD(p, ei_index); items = (argc + 1) + (envc + 1) + 1;
    // bprm->p = STACK_ROUND(sp, items) = (sp - items * 8) & ~15.
    let ei_words = (auxv.len() * 2) as u64;
    let items = (req.argv.len() + 1 + req.envp.len() + 1 + 1) as u64;
    let sp = (p - ei_words * 8 - items * 8) & !15;

    // Fill the image [sp, top).
    let len = (top - sp) as usize;
    let mut bytes = vec![0u8; len];
    let mut put = |addr: u64, data: &[u8]| {
        let off = (addr - sp) as usize;
        bytes[off..off + data.len()].copy_from_slice(data);
    };
    let mut cursor = arg_start;
    let mut argv_ptrs = Vec::with_capacity(req.argv.len());
    for s in req.argv {
        argv_ptrs.push(cursor);
        put(cursor, s);
        cursor += s.len() as u64 + 1;
    }
    let mut envp_ptrs = Vec::with_capacity(req.envp.len());
    for s in req.envp {
        envp_ptrs.push(cursor);
        put(cursor, s);
        cursor += s.len() as u64 + 1;
    }
    debug_assert_eq!(cursor, execfn_addr);
    put(execfn_addr, req.execfn);
    put(random_addr, &req.random);

    let mut words: Vec<u64> = Vec::with_capacity(items as usize + auxv.len() * 2);
    words.push(req.argv.len() as u64);
    words.extend(&argv_ptrs);
    words.push(0);
    words.extend(&envp_ptrs);
    words.push(0);
    let auxv_addr = sp + 8 * words.len() as u64;
    words.extend(auxv.iter().flat_map(|&(k, v)| [k, v]));
    for (i, v) in words.iter().enumerate() {
        put(sp + 8 * i as u64, &v.to_le_bytes());
    }
    let w = sp + 8 * words.len() as u64;
    debug_assert!(w <= random_addr);

    Ok(InitialStack {
        bytes,
        base: sp,
        sp,
        arg_start,
        arg_end: env_start,
        env_end: execfn_addr,
        execfn_addr,
        random_addr,
        auxv_addr,
        auxv,
    })
}

fn check_strings(what: &'static str, strings: &[&[u8]]) -> Result<(), StackError> {
    for s in strings {
        if s.contains(&0) {
            return Err(StackError::EmbeddedNul(what));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: u64 = 0x3f_ffff_f000;

    fn facts() -> AuxFacts {
        AuxFacts {
            phdr: 0x10040,
            phent: 56,
            phnum: 6,
            entry: 0x10190,
            hwcap: HWCAP_RV64IMAFDC,
            hwcap2: crate::mm::mte::HWCAP2_MTE,
            page_size: 4096,
            uid: 0,
            gid: 0,
        }
    }

    /// Reads the image back the way a C runtime's `_start` does.
    struct Parsed {
        argc: u64,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        auxv: Vec<(u64, u64)>,
    }

    fn word(st: &InitialStack, addr: u64) -> u64 {
        let off = (addr - st.base) as usize;
        u64::from_le_bytes(st.bytes[off..off + 8].try_into().unwrap())
    }

    fn cstr(st: &InitialStack, addr: u64) -> Vec<u8> {
        let off = (addr - st.base) as usize;
        let end = st.bytes[off..].iter().position(|&b| b == 0).unwrap();
        st.bytes[off..off + end].to_vec()
    }

    fn parse(st: &InitialStack) -> Parsed {
        let mut a = st.sp;
        let argc = word(st, a);
        a += 8;
        let mut argv = Vec::new();
        loop {
            let p = word(st, a);
            a += 8;
            if p == 0 {
                break;
            }
            argv.push(cstr(st, p));
        }
        let mut envp = Vec::new();
        loop {
            let p = word(st, a);
            a += 8;
            if p == 0 {
                break;
            }
            envp.push(cstr(st, p));
        }
        let mut auxv = Vec::new();
        loop {
            let k = word(st, a);
            let v = word(st, a + 8);
            a += 16;
            auxv.push((k, v));
            if k == AT_NULL {
                break;
            }
        }
        Parsed {
            argc,
            argv,
            envp,
            auxv,
        }
    }

    #[test]
    fn arg_space_follows_bprm_stack_limits() {
        assert_eq!(arg_space_bytes(8 << 20), 2 << 20);
        assert_eq!(
            arg_space_bytes(64 << 20),
            6 << 20,
            "at most 3/4 of _STK_LIM"
        );
        assert_eq!(arg_space_bytes(u64::MAX), 6 << 20, "RLIM_INFINITY");
        assert_eq!(arg_space_bytes(4096), 128 << 10, "at least ARG_MAX");
        // 2 MiB less two pointers: fifteen 128 KiB strings, then exactly what is left.
        let mut space = ArgSpace::new(8 << 20, 1, 1).unwrap();
        for _ in 0..15 {
            space.charge(MAX_ARG_STRLEN).unwrap();
        }
        assert_eq!(
            space.charge(MAX_ARG_STRLEN),
            Err(StackError::TooBig(MAX_ARG_STRLEN as u64))
        );
        space.charge(MAX_ARG_STRLEN - 16).unwrap();
        assert_eq!(space.charge(1), Err(StackError::TooBig(1)));
        // valid_arg_len(): 128 KiB with the NUL is the longest string.
        let mut space = ArgSpace::new(8 << 20, 1, 0).unwrap();
        assert_eq!(
            space.charge(MAX_ARG_STRLEN + 1),
            Err(StackError::StringTooLong(MAX_ARG_STRLEN + 1))
        );
        assert_eq!(space.charge(MAX_ARG_STRLEN), Ok(()));
        // An empty argv still has room for one pointer; pointers alone can exhaust it.
        assert_eq!(ArgSpace::new(8 << 20, 0, 0), ArgSpace::new(8 << 20, 1, 0));
        assert!(ArgSpace::new(8 << 20, (2 << 20) / 8, 0).is_err());
        assert!(ArgSpace::new(8 << 20, (2 << 20) / 8 - 1, 0).is_ok());
        assert!(ArgSpace::new(8 << 20, u64::MAX, 1).is_err());
        assert_eq!(StackError::TooBig(1).errno(), Errno::E2BIG);
    }

    #[test]
    fn hwcap_is_imafdc() {
        // 'a'=0, 'c'=2, 'd'=3, 'f'=5, 'i'=8, 'm'=12.
        assert_eq!(HWCAP_RV64IMAFDC, 0x112d);
    }

    #[test]
    fn layout_round_trips() {
        let argv: [&[u8]; 3] = [b"/bin/prog", b"-v", b"hello world"];
        let envp: [&[u8]; 2] = [b"HOME=/", b"TERM=dumb"];
        let random = *b"0123456789abcdef";
        let st = build_initial_stack(&StackRequest {
            stack_top: TOP,
            argv: &argv,
            envp: &envp,
            execfn: b"/bin/prog",
            random,
            aux: facts(),
            stack_rlimit_bytes: STK_LIM,
        })
        .unwrap();
        assert_eq!(st.sp % 16, 0);
        assert_eq!(st.base + st.bytes.len() as u64, TOP);
        let p = parse(&st);
        assert_eq!(p.argc, 3);
        assert_eq!(p.argv, argv.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
        assert_eq!(p.envp, envp.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
        assert_eq!(p.auxv, st.auxv);
        let get = |k: u64| p.auxv.iter().find(|e| e.0 == k).map(|e| e.1);
        assert_eq!(get(AT_PHDR), Some(0x10040));
        assert_eq!(get(AT_PHENT), Some(56));
        assert_eq!(get(AT_PHNUM), Some(6));
        assert_eq!(get(AT_PAGESZ), Some(4096));
        assert_eq!(get(AT_ENTRY), Some(0x10190));
        assert_eq!(get(AT_HWCAP), Some(0x112d));
        assert_eq!(get(AT_CLKTCK), Some(100));
        assert_eq!(get(AT_MINSIGSTKSZ), Some(1088));
        assert_eq!(get(AT_BASE), Some(0));
        assert_eq!(get(AT_SECURE), Some(0));
        assert_eq!(get(33), None, "no vDSO, so no AT_SYSINFO_EHDR");
        assert_eq!(get(15), None, "riscv has no AT_PLATFORM");
        // AT_RANDOM and AT_EXECFN point at the right bytes.
        let r = get(AT_RANDOM).unwrap();
        let off = (r - st.base) as usize;
        assert_eq!(&st.bytes[off..off + 16], &random);
        assert_eq!(cstr(&st, get(AT_EXECFN).unwrap()), b"/bin/prog");
        // The strings: argv lowest, then envp, then execfn, then the zero word at the top.
        assert_eq!(cstr(&st, st.arg_start), b"/bin/prog");
        assert_eq!(st.arg_end, st.arg_start + 10 + 3 + 12);
        assert_eq!(cstr(&st, st.arg_end), b"HOME=/");
        assert_eq!(st.env_end, st.arg_end + 7 + 10);
        assert_eq!(st.execfn_addr, TOP - 8 - 10);
        assert_eq!(word(&st, TOP - 8), 0);
        // The random bytes sit right below the 16-aligned end of the strings.
        assert_eq!(st.random_addr, (st.arg_start & !0xf) - 16);
        // The last auxv pair (AT_NULL) ends within 15 bytes of the random bytes:
        // the only padding is STACK_ROUND's.
        let aux_end = st.auxv_addr + 16 * st.auxv.len() as u64;
        assert!(aux_end <= st.random_addr && st.random_addr - aux_end < 16);
        assert_eq!(st.auxv_addr, st.sp + 8 * (1 + 4 + 3));
    }

    #[test]
    fn auxv_order_follows_create_elf_tables() {
        let st = build_initial_stack(&StackRequest {
            stack_top: TOP,
            argv: &[b"a"],
            envp: &[],
            execfn: b"a",
            random: [0; 16],
            aux: facts(),
            stack_rlimit_bytes: STK_LIM,
        })
        .unwrap();
        let keys: Vec<u64> = st.auxv.iter().map(|e| e.0).collect();
        assert_eq!(
            keys,
            vec![
                40, 41, 42, 43, 44, 45, 46, 47, 51, 16, 26, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13,
                14, 23, 25, 31, 0
            ]
        );
    }

    #[test]
    fn empty_argv_and_alignment_for_every_length() {
        // Whatever the string lengths, sp stays 16-aligned and the parse round-trips.
        for n in 0..40usize {
            let s = vec![b'x'; n];
            let argv: Vec<&[u8]> = (0..(n % 4)).map(|_| s.as_slice()).collect();
            let st = build_initial_stack(&StackRequest {
                stack_top: TOP,
                argv: &argv,
                envp: &[s.as_slice()],
                execfn: &s,
                random: [7; 16],
                aux: facts(),
                stack_rlimit_bytes: STK_LIM,
            })
            .unwrap();
            assert_eq!(st.sp % 16, 0);
            let p = parse(&st);
            assert_eq!(p.argc as usize, argv.len());
            assert_eq!(p.envp, vec![s.clone()]);
        }
    }

    #[test]
    fn rejections() {
        let req = |argv: &'static [&'static [u8]], top: u64| StackRequest {
            stack_top: top,
            argv,
            envp: &[],
            execfn: b"x",
            random: [0; 16],
            aux: facts(),
            stack_rlimit_bytes: STK_LIM,
        };
        assert_eq!(
            build_initial_stack(&req(&[b"a\0b"], TOP)),
            Err(StackError::EmbeddedNul("an argument"))
        );
        assert_eq!(
            build_initial_stack(&req(&[], TOP + 8)),
            Err(StackError::BadStackTop(TOP + 8))
        );
        assert_eq!(
            build_initial_stack(&req(&[], 0x1000)),
            Err(StackError::BadStackTop(0x1000))
        );
        let long = vec![b'y'; MAX_ARG_STRLEN];
        let argv = [long.as_slice()];
        let r = StackRequest {
            stack_top: TOP,
            argv: &argv,
            envp: &[],
            execfn: b"x",
            random: [0; 16],
            aux: facts(),
            stack_rlimit_bytes: STK_LIM,
        };
        let e = build_initial_stack(&r).unwrap_err();
        assert_eq!(e, StackError::StringTooLong(MAX_ARG_STRLEN + 1));
        assert_eq!(e.errno(), Errno::E2BIG);
        let mid = vec![b'z'; MAX_ARG_STRLEN / 2];
        let many: Vec<&[u8]> = (0..40).map(|_| mid.as_slice()).collect();
        let r = StackRequest { argv: &many, ..r };
        assert!(matches!(
            build_initial_stack(&r),
            Err(StackError::TooBig(_))
        ));
    }
}
