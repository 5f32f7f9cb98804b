//! Tests of threads in the kernel: `clone` flag checks, the robust-list walk, tiny
//! hand-assembled images for thread creation and deadlock detection, and the committed
//! `pthreads`/`threadsys` images against their qemu references with a clean page audit.

use super::*;
use crate::config::KernelConfig;
use crate::uaccess::MockUser;

#[test]
fn clone_flag_checks_follow_copy_process() {
    use clone::*;
    let glibc_thread = CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_THREAD
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | 0x40000; // CLONE_SYSVSEM
    assert_eq!(clone_flags_valid(glibc_thread), Ok(()));
    assert_eq!(clone_flags_valid(CLONE_VM | CLONE_VFORK | 17), Ok(()));
    assert_eq!(clone_flags_valid(17), Ok(()));
    assert_eq!(
        clone_flags_valid(CLONE_THREAD | CLONE_VM),
        Err(Errno::EINVAL)
    );
    assert_eq!(clone_flags_valid(CLONE_SIGHAND), Err(Errno::EINVAL));
    assert_eq!(
        clone_flags_valid(CLONE_NEWNS | CLONE_FS),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        clone_flags_valid(CLONE_NEWUSER | CLONE_FS),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        clone_flags_valid(glibc_thread | CLONE_NEWPID),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        clone_flags_valid(glibc_thread | CLONE_PIDFD),
        Err(Errno::EINVAL)
    );
}

#[test]
fn robust_list_marks_owned_locks_and_pending() {
    // head at 0x1000: next, futex_offset, list_op_pending; entries at 0x1100, 0x1200,
    // each with its lock word at entry + 16.
    let mut u = MockUser {
        base: 0x1000,
        mem: vec![0; 0x1000],
    };
    let tid = 42u32;
    u.put_user_u64(0x1000, 0x1100).unwrap();
    u.put_user_u64(0x1008, 16).unwrap();
    u.put_user_u64(0x1010, 0x1300).unwrap();
    u.put_user_u64(0x1100, 0x1200).unwrap();
    u.put_user_u64(0x1200, 0x1000).unwrap(); // back to the head
    let put32 = |u: &mut MockUser, a: u64, v: u32| u.copy_to_user(a, &v.to_le_bytes()).unwrap();
    put32(&mut u, 0x1110, tid | 0x8000_0000); // owned, with waiters
    put32(&mut u, 0x1210, 7); // owned by another thread
    put32(&mut u, 0x1310, tid); // the pending one, owned, no waiters
    let wake = exit_robust_list(&mut u, 0x1000, tid);
    assert_eq!(wake, [0x1110]);
    let get32 = |u: &mut MockUser, a: u64| {
        let mut b = [0u8; 4];
        u.copy_from_user(a, &mut b).unwrap();
        u32::from_le_bytes(b)
    };
    assert_eq!(get32(&mut u, 0x1110), 0xc000_0000, "OWNER_DIED | WAITERS");
    assert_eq!(get32(&mut u, 0x1210), 7, "not ours: untouched");
    assert_eq!(
        get32(&mut u, 0x1310),
        0x4000_0000,
        "list_op_pending handled"
    );
    // A pending lock still free: its waiter is woken.
    put32(&mut u, 0x1310, 0);
    put32(&mut u, 0x1110, 0);
    assert_eq!(exit_robust_list(&mut u, 0x1000, tid), [0x1310]);
    // A cycle that never returns to the head stops at ROBUST_LIST_LIMIT.
    u.put_user_u64(0x1010, 0).unwrap();
    u.put_user_u64(0x1200, 0x1100).unwrap();
    assert!(exit_robust_list(&mut u, 0x1000, tid).is_empty());
}

/// `mm_release()`'s user accesses — the robust-list walk (`exit_robust_list()`) and the
/// `clear_child_tid` store — go through `MmStruct::uaccess()`: each takes the read side
/// of the `mmap_lock` for its own length, so they run while another thread (a fault of
/// a sibling) holds the read side. With the write side they would wait for it.
#[test]
fn exit_robust_list_and_clear_child_tid_run_beside_a_reader() {
    use crate::mm::test_support::{beside_mmap_lock, setup_mm, MmapSide, ANON, RW};
    let (_phys, mut mm) = setup_mm(8, mmu::SatpMode::Sv39, mmu::AdScheme::Svadu, 1);
    let base = mm.do_mmap(0, 0x1000, RW, ANON, None, 0).unwrap();
    let users = MmUsers::new(mm);
    let tid = 42u32;
    let mut u = users.uaccess();
    // head: next = the one entry, futex_offset 16, no list_op_pending; the entry links
    // back to the head, its lock word owned by `tid` with waiters.
    u.put_user_u64(base, base + 0x100).unwrap();
    u.put_user_u64(base + 8, 16).unwrap();
    u.put_user_u64(base + 0x100, base).unwrap();
    u.copy_to_user(base + 0x110, &(tid | 0x8000_0000).to_le_bytes())
        .unwrap();
    u.copy_to_user(base + 0x200, &tid.to_le_bytes()).unwrap();
    let ((wake, cleared), in_time) = beside_mmap_lock(
        &users,
        MmapSide::Read,
        crate::mm::test_support::BESIDE_TIMEOUT,
        || {
            let mut user = users.uaccess();
            let wake = exit_robust_list(&mut user, base, tid);
            (wake, user.copy_to_user(base + 0x200, &0u32.to_le_bytes()))
        },
    );
    assert!(in_time, "mm_release()'s accesses waited for a reader");
    assert_eq!(wake, [base + 0x110]);
    assert_eq!(cleared, Ok(()));
    let mut w = [0u8; 4];
    u.copy_from_user(base + 0x110, &mut w).unwrap();
    assert_eq!(u32::from_le_bytes(w), 0xc000_0000, "OWNER_DIED | WAITERS");
    u.copy_from_user(base + 0x200, &mut w).unwrap();
    assert_eq!(u32::from_le_bytes(w), 0, "clear_child_tid stored");
}

/// One set of idle flags answers every question the scheduler asks of it: which harts
/// to wake, whether all the others wait (nothing can ever run once this one idles
/// too), and how many are busy (a hart's `need_resched()` policy, without the lock).
#[test]
fn idle_harts_answer_wake_deadlock_and_busy_from_one_set_of_flags() {
    let idle = IdleHarts::new(3);
    assert_eq!((idle.any(), idle.busy()), (false, 3));
    assert!(!idle.all_but(0));
    idle.set(1, true);
    idle.set(2, true);
    assert_eq!(idle.idle_harts().collect::<Vec<_>>(), [1, 2]);
    assert_eq!((idle.any(), idle.busy()), (true, 1));
    assert!(idle.all_but(0), "hart 0 is the last one awake");
    assert!(!idle.all_but(1));
    idle.set(1, false);
    assert_eq!(idle.idle_harts().collect::<Vec<_>>(), [2]);
    assert_eq!(idle.busy(), 2);
    idle.set(7, true); // no such hart: ignored
    assert_eq!(idle.busy(), 2);
    let one = IdleHarts::new(1);
    assert!(one.all_but(0), "a lone hart has no others to wait for");
}

// ---- tiny images ----

fn i_type(op: u32, rd: u32, f3: u32, rs1: u32, imm: i32) -> u32 {
    ((imm as u32 & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
fn addi(rd: u32, rs1: u32, imm: i32) -> u32 {
    i_type(0x13, rd, 0, rs1, imm)
}
fn lui(rd: u32, imm20: u32) -> u32 {
    (imm20 << 12) | (rd << 7) | 0x37
}
/// `beq rs1, x0, off` (off even, within ±4 KiB).
fn beqz(rs1: u32, off: i32) -> u32 {
    let o = off as u32;
    (((o >> 12) & 1) << 31)
        | (((o >> 5) & 0x3f) << 25)
        | (rs1 << 15)
        | (((o >> 1) & 0xf) << 8)
        | (((o >> 11) & 1) << 7)
        | 0x63
}
/// `sub rd, x0, rs`.
fn neg(rd: u32, rs: u32) -> u32 {
    (0x20 << 25) | (rs << 20) | (rd << 7) | 0x33
}
const ECALL: u32 = 0x73;
const A0: u32 = 10;
const A7: u32 = 17;

/// A static ELF64 RISC-V executable whose one R+X segment at 0x10000 holds `code`,
/// entered at its first instruction.
fn tiny_elf(code: &[u32]) -> Vec<u8> {
    const BASE: u64 = 0x10000;
    let text: Vec<u8> = code.iter().flat_map(|i| i.to_le_bytes()).collect();
    let size = 64 + 56 + text.len() as u64;
    let mut e = Vec::new();
    e.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&243u16.to_le_bytes()); // EM_RISCV
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + 120).to_le_bytes()); // e_entry
    e.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    e.extend_from_slice(&5u32.to_le_bytes()); // RVC, double-float ABI
    for v in [64u16, 56, 1, 64, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R|X
    for v in [0u64, BASE, BASE, size, size, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&text);
    e
}

fn run_tiny(code: &[u32]) -> RunReport {
    let config = KernelConfig {
        mem_bytes: 64 << 20,
        max_insns: Some(1_000_000),
        ..KernelConfig::default()
    };
    let (stdio, _out) = HostStreams::capture(Vec::new());
    let image = tiny_elf(code);
    let r = run(&config, stdio, &image, "/t", &[b"/t".to_vec()], &[]).unwrap();
    assert_eq!(
        (r.kernel.frames_leaked, r.kernel.page_audit_errors),
        (0, 0),
        "page audit"
    );
    r
}

#[test]
fn a_futex_wait_nobody_can_wake_ends_the_run() {
    // futex(sp, FUTEX_WAIT_PRIVATE, argc = 1, NULL): sleeps forever.
    let r = run_tiny(&[
        addi(A0, 2, 0),
        addi(11, 0, 128),
        addi(12, 0, 1),
        addi(13, 0, 0),
        addi(A7, 0, 98),
        ECALL,
    ]);
    assert!(
        matches!(r.status, ExitStatus::Signaled { signo: SIGKILL, .. }),
        "deadlock detected: {:?}",
        r.status
    );
}

/// `clone(flags, 0, 0, 0, 0)`; the parent exits the group with the result (the tid) or
/// its negated errno, the child thread calls `exit(0)`.
fn clone_program(flags: u32) -> Vec<u32> {
    let hi = (flags + 0x800) >> 12;
    let lo = (flags as i32) - ((hi << 12) as i32);
    vec![
        lui(A0, hi),
        addi(A0, A0, lo),
        addi(11, 0, 0),
        addi(12, 0, 0),
        addi(13, 0, 0),
        addi(14, 0, 0),
        addi(A7, 0, 220),
        ECALL,
        beqz(A0, 24),
        // parent: exit_group(a0 < 0 ? -a0 : a0)
        i_type(0x13, 5, 2, A0, 0), // slti t0, a0, 0
        beqz(5, 8),
        neg(A0, A0),
        addi(A7, 0, 94),
        ECALL,
        // child thread: exit(0)
        addi(A0, 0, 0),
        addi(A7, 0, 93),
        ECALL,
    ]
}

#[test]
fn clone_returns_the_new_tid_for_every_valid_sharing_and_bad_flags_einval() {
    use clone::*;
    let thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    // copy_process() decides each part on its own: threads with their own descriptor
    // table and fs information, and processes sharing the caller's address space or
    // handlers, are all valid; the returned id is 2 (the next after init).
    let cases = [
        (thread, 2, "a thread"),
        (
            CLONE_VM | CLONE_THREAD,
            22,
            "CLONE_THREAD without CLONE_SIGHAND: EINVAL",
        ),
        (CLONE_SIGHAND, 22, "CLONE_SIGHAND without CLONE_VM: EINVAL"),
        (
            CLONE_VM | CLONE_SIGHAND | CLONE_THREAD,
            2,
            "a thread without CLONE_FILES",
        ),
        (CLONE_VM, 2, "CLONE_VM without a thread"),
        (
            CLONE_VM | CLONE_FILES | CLONE_SIGHAND,
            2,
            "CLONE_SIGHAND without a thread",
        ),
    ];
    for (flags, want, what) in cases {
        let r = run_tiny(&clone_program(flags as u32));
        assert_eq!(r.status, ExitStatus::Exited(want), "{what}");
    }
}

// ---- the committed images ----

fn check_committed(name: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest");
    let image = std::fs::read(root.join("bin").join(name)).unwrap();
    let want = std::fs::read(root.join("expected").join(format!("{name}.stdout"))).unwrap();
    let config = KernelConfig {
        mem_bytes: 256 << 20,
        ..KernelConfig::default()
    };
    let (stdio, out) = HostStreams::capture(Vec::new());
    let path = format!("/{name}");
    let r = run(
        &config,
        stdio,
        &image,
        &path,
        &[path.clone().into_bytes()],
        &[],
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout()),
        String::from_utf8_lossy(&want),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr())
    );
    assert_eq!(r.status, ExitStatus::Exited(0));
    assert_eq!((r.kernel.frames_leaked, r.kernel.page_audit_errors), (0, 0));
}

#[test]
fn pthreads_image_matches_qemu() {
    check_committed("pthreads");
}

#[test]
fn threadsys_image_matches_qemu() {
    check_committed("threadsys");
}
