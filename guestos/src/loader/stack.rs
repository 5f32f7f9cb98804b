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

/// The largest total of strings and pointers accepted: Linux allows a quarter of the stack
/// rlimit (8 MiB default → 2 MiB), see `get_arg_page` / `bprm_stack_limits`.
pub const MAX_ARG_TOTAL: usize = 2 << 20;

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
    /// The strings and pointers together exceed [`MAX_ARG_TOTAL`].
    #[error("arguments and environment take {0} bytes, more than the 2 MiB limit")]
    TooBig(usize),
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
/// then `AT_HWCAP`, `AT_PAGESZ`, `AT_CLKTCK`, `AT_PHDR`, `AT_PHENT`, `AT_PHNUM`, `AT_BASE`
/// (0), `AT_FLAGS` (0), `AT_ENTRY`, `AT_UID`, `AT_EUID`, `AT_GID`, `AT_EGID`, `AT_SECURE`
/// (0), `AT_RANDOM`, `AT_EXECFN`, `AT_NULL`. riscv has no `ELF_HWCAP2` and no
/// `ELF_PLATFORM`; `AT_RSEQ_*` are left out because the guest OS has no `rseq`
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

    let strings_len: usize = req
        .argv
        .iter()
        .chain(req.envp)
        .chain(std::iter::once(&req.execfn))
        .map(|s| s.len() + 1)
        .sum();
    let pointers_len = (req.argv.len() + req.envp.len() + 2) * 8;
    if strings_len + pointers_len > MAX_ARG_TOTAL {
        return Err(StackError::TooBig(strings_len + pointers_len));
    }

    let top = req.stack_top;
    // Everything below is bounded by MAX_ARG_TOTAL plus a few hundred bytes of tables.
    let max_len = (MAX_ARG_TOTAL + 1024) as u64;
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
        if s.len() + 1 > MAX_ARG_STRLEN {
            return Err(StackError::StringTooLong(s.len() + 1));
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
        })
        .unwrap();
        let keys: Vec<u64> = st.auxv.iter().map(|e| e.0).collect();
        assert_eq!(
            keys,
            vec![
                40, 41, 42, 43, 44, 45, 46, 47, 51, 16, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14,
                23, 25, 31, 0
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
