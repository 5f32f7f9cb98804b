//! Fuzz target `smp_syscalls`: random system-call programs on 2–4 threads of one process
//! (created with `clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|
//! CLONE_SYSVSEM)` by the generated program itself), run on 2–4 harts in deterministic
//! mode with a seed from the input, through the whole machine (`dirtybit::run_image`,
//! 32 MiB of RAM, 400 000 instructions). The fuzzed calls may create more threads or
//! processes themselves (`clone`, `clone3`, `execve`...).
//!
//! Checks:
//! - no host panic (libFuzzer reports it), and no hang: the instruction budget ends every
//!   run (a host-side hang is libFuzzer's `-timeout`);
//! - the page audit at the end of a run is clean: no leaked frame, no inconsistent page
//!   metadata (`frames_leaked`, `page_audit_errors`);
//! - the run replays: the same input run a second time gives the same exit status, the
//!   same hart and kernel counters (instructions, modelled cycles, faults, system calls,
//!   TLB and scheduling events, per hart) and the same bytes on stdout and stderr.
//!
//! Input format (little-endian):
//! - byte 0: the machine: harts = 2 + (b & 3) % 3, threads = 2 + ((b >> 2) & 3) % 3;
//! - bytes 1..9: the scheduler seed (u64);
//! - one byte per thread: its call count (mod 17);
//! - the calls, thread after thread: seven u64s `nr, a0..a5` each (zero-padded if the
//!   input is short);
//! - the rest (up to 4 KiB) initialises the 64 KiB scratch area shared by the threads.
//!
//! As in `syscalls`: `nr` is taken mod 512 (riscv64 numbers are below that), and an
//! argument whose top byte is `0xaa` becomes `scratch + (a & 0xffff)`. Sleeping calls are
//! kept: in deterministic mode time is virtual, and the kernel advances it to the next
//! deadline when every hart is idle.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run smp_syscalls -- -max_len=8192
//! -len_control=0 -timeout=60`. `SMP_SYSCALLS_DUMP=<file>` writes the generated image (and
//! prints the run options on stderr) to replay it with `dirtybit run --strace --harts N
//! --sched deterministic --seed S <file>`.

#![no_main]

use std::hash::Hasher;
use std::io::Write;
use std::sync::{Arc, Mutex};

use dirtybit::guestos::HostStreams;
use dirtybit::{run_image, RunOptions};
use libfuzzer_sys::fuzz_target;

#[path = "program.rs"]
mod program;
use program::{le_words, next_call, put, static_elf};

/// Link address of the single `PT_LOAD` (file offset 0).
const BASE: u64 = 0x10000;
/// File offset of the code (entry point = `BASE + CODE_OFF`).
const CODE_OFF: usize = 0x80;
/// File offset of the data block the code finds at `_start + 256`: `nthreads` (u32),
/// `live` (u32, threads still running), `counts[4]` (u32), `stack_top[4]` (u64, at +32),
/// then the records, `MAX_CALLS` per thread, at +64.
const DATA_OFF: usize = CODE_OFF + 256;
const RECORDS_OFF: usize = DATA_OFF + 64;
const MAX_THREADS: usize = 4;
/// Calls per thread (the code's stride is `MAX_CALLS * 56` = 896 bytes).
const MAX_CALLS: usize = 16;
/// The scratch area starts after the records (file bytes, then bss).
const SCRATCH_OFF: usize = RECORDS_OFF + MAX_THREADS * MAX_CALLS * 56;
const SCRATCH_LEN: u64 = 0x10000;
/// Each thread's stack, after the scratch area, in the bss.
const STACK_LEN: u64 = 0x4000;
/// Instructions per run, all harts together.
const BUDGET_INSNS: u64 = 400_000;

/// The program, assembled with `riscv64-linux-gnu-as -march=rv64gc` (`.option norvc`).
/// Thread 0 clones threads 1..nthreads onto their stacks; thread t then issues its calls
/// and leaves with `exit(0)`, after decrementing `live`; thread 0 waits (`sched_yield`)
/// until `live` is 0 and ends the process with `exit_group(0)`:
/// ```text
///     auipc s2, 0
///     addi  s2, s2, 256        # s2 = &data (CODE_OFF + 256)
///     lw    s3, 0(s2)          # nthreads
///     li    s4, 1              # t = 1
/// 1:  bge   s4, s3, 3f
///     slli  t0, s4, 3
///     add   t0, t0, s2
///     ld    a1, 32(t0)         # newsp = stack_top[t]
///     li    a0, 0x50f00        # CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM
///     li    a2, 0
///     li    a3, 0
///     li    a4, 0
///     li    a7, 220
///     mv    s5, s4
///     ecall
///     beqz  a0, 4f             # the new thread runs worker s5
///     addi  s4, s4, 1
///     j     1b
/// 3:  li    s5, 0
/// 4:  li    t0, 896            # MAX_CALLS * 56
///     mul   t1, s5, t0
///     add   s0, s2, t1
///     addi  s0, s0, 64         # s0 = &records[s5][0]
///     slli  t2, s5, 2
///     add   t2, t2, s2
///     lw    s1, 8(t2)          # s1 = counts[s5]
/// 5:  beqz  s1, 6f
///     ld    a7, 0(s0)
///     ld    a0, 8(s0)
///     ld    a1, 16(s0)
///     ld    a2, 24(s0)
///     ld    a3, 32(s0)
///     ld    a4, 40(s0)
///     ld    a5, 48(s0)
///     ecall
///     addi  s0, s0, 56
///     addi  s1, s1, -1
///     j     5b
/// 6:  addi  t0, s2, 4
///     li    t1, -1
///     amoadd.w.aqrl zero, t1, (t0)   # live -= 1
///     bnez  s5, 8f
/// 7:  lw    t1, 4(s2)          # thread 0 waits for the others
///     beqz  t1, 9f
///     li    a7, 124            # sched_yield
///     ecall
///     j     7b
/// 8:  li    a7, 93             # exit(0): this thread
///     li    a0, 0
///     ecall
/// 9:  li    a7, 94             # exit_group(0)
///     li    a0, 0
///     ecall
/// ```
const CODE: [u32; 54] = [
    0x0000_0917,
    0x1009_0913,
    0x0009_2983,
    0x0010_0a13,
    0x033a_5e63,
    0x003a_1293,
    0x0122_82b3,
    0x0202_b583,
    0x0005_1537,
    0xf005_051b,
    0x0000_0613,
    0x0000_0693,
    0x0000_0713,
    0x0dc0_0893,
    0x000a_0a93,
    0x0000_0073,
    0x0005_0863,
    0x001a_0a13,
    0xfc9f_f06f,
    0x0000_0a93,
    0x3800_0293,
    0x025a_8333,
    0x0069_0433,
    0x0404_0413,
    0x002a_9393,
    0x0123_83b3,
    0x0083_a483,
    0x0204_8863,
    0x0004_3883,
    0x0084_3503,
    0x0104_3583,
    0x0184_3603,
    0x0204_3683,
    0x0284_3703,
    0x0304_3783,
    0x0000_0073,
    0x0384_0413,
    0xfff4_8493,
    0xfd5f_f06f,
    0x0049_0293,
    0xfff0_0313,
    0x0662_a02f,
    0x000a_9c63,
    0x0049_2303,
    0x0003_0e63,
    0x07c0_0893,
    0x0000_0073,
    0xff1f_f06f,
    0x05d0_0893,
    0x0000_0513,
    0x0000_0073,
    0x05e0_0893,
    0x0000_0513,
    0x0000_0073,
];

/// Builds the ELF image: `calls[t]` (already adjusted) for thread t, and the scratch
/// initialiser.
fn build_image(calls: &[Vec<[u64; 7]>], scratch_init: &[u8]) -> Vec<u8> {
    let file_len = SCRATCH_OFF + scratch_init.len();
    // The bss covers the scratch area and the stacks.
    let stacks = BASE + SCRATCH_OFF as u64 + SCRATCH_LEN;
    let memsz = stacks + MAX_THREADS as u64 * STACK_LEN - BASE;
    let mut img = static_elf(BASE, BASE + CODE_OFF as u64, file_len, memsz);
    for (i, w) in CODE.iter().enumerate() {
        put(&mut img, CODE_OFF + 4 * i, &w.to_le_bytes());
    }
    let n = calls.len() as u32;
    put(&mut img, DATA_OFF, &n.to_le_bytes());
    put(&mut img, DATA_OFF + 4, &n.to_le_bytes());
    for (t, list) in calls.iter().enumerate() {
        put(
            &mut img,
            DATA_OFF + 8 + 4 * t,
            &(list.len() as u32).to_le_bytes(),
        );
        let top = stacks + (t as u64 + 1) * STACK_LEN;
        put(&mut img, DATA_OFF + 32 + 8 * t, &top.to_le_bytes());
        for (i, call) in list.iter().enumerate() {
            for (j, v) in call.iter().enumerate() {
                let off = RECORDS_OFF + (t * MAX_CALLS + i) * 56 + 8 * j;
                put(&mut img, off, &v.to_le_bytes());
            }
        }
    }
    put(&mut img, SCRATCH_OFF, scratch_init);
    img
}

/// A host stream that keeps only the length and an FNV-1a hash of what the guest wrote
/// (host memory stays bounded however much it writes).
#[derive(Clone, Default)]
struct Digest(Arc<Mutex<(u64, u64)>>);

impl Write for Digest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut d = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write_u64(d.1);
        h.write(buf);
        *d = (d.0 + buf.len() as u64, h.finish());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one run must reproduce.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<String, String>,
    stdout: (u64, u64),
    stderr: (u64, u64),
}

fn run(opts: &RunOptions, image: &[u8]) -> Outcome {
    let (out, err) = (Digest::default(), Digest::default());
    let stdio = HostStreams::new(
        Box::new(std::io::empty()),
        Box::new(out.clone()),
        Box::new(err.clone()),
    );
    let result = match run_image(opts, image, "/fuzz", &[], stdio) {
        Ok(r) => {
            let k = &r.kernel;
            assert_eq!(
                (k.frames_leaked, k.page_audit_errors),
                (0, 0),
                "page audit after teardown: {k:?}"
            );
            // Everything but host time and lock timings.
            Ok(format!(
                "{:?} {:?} {:?} {:?}",
                r.status, r.hart, r.per_hart, r.kernel
            ))
        }
        Err(e) => Err(e.to_string()),
    };
    let digest = |d: &Digest| *d.0.lock().unwrap_or_else(|e| e.into_inner());
    Outcome {
        result,
        stdout: digest(&out),
        stderr: digest(&err),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let harts = 2 + usize::from(data[0] & 3) % 3;
    let nthreads = 2 + usize::from((data[0] >> 2) & 3) % 3;
    let seed = u64::from_le_bytes(data[1..9].try_into().unwrap_or_default());
    let rest = &data[9..];
    let counts: Vec<usize> = (0..nthreads)
        .map(|t| rest.get(t).map_or(0, |&c| usize::from(c) % (MAX_CALLS + 1)))
        .collect();
    let rest = rest.get(nthreads..).unwrap_or_default();
    let scratch = BASE + SCRATCH_OFF as u64;
    let mut words = le_words(rest);
    let calls: Vec<Vec<[u64; 7]>> = counts
        .iter()
        .map(|&k| (0..k).map(|_| next_call(&mut words, scratch)).collect())
        .collect();
    let used = (counts.iter().sum::<usize>() * 56).min(rest.len());
    let init = &rest[used..];
    let init = &init[..init.len().min(4096)];
    let image = build_image(&calls, init);
    let opts = RunOptions {
        mem_bytes: 32 << 20,
        max_insns: Some(BUDGET_INSNS),
        harts,
        sched: "deterministic".into(),
        seed,
        ..Default::default()
    };
    if let Some(path) = std::env::var_os("SMP_SYSCALLS_DUMP") {
        let _ = std::fs::write(path, &image);
        eprintln!("smp_syscalls: --harts {harts} --sched deterministic --seed {seed} --max-insns {BUDGET_INSNS} --mem 32M");
    }
    let first = run(&opts, &image);
    let second = run(&opts, &image);
    assert_eq!(first, second, "the same input and seed must replay exactly");
});
