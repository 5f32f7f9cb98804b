//! A guest or an input cannot hurt the host (issue 10): failed writes to dirtybit's own
//! stdout/stderr never panic nor change the status the guest earned; images and `--file`
//! inputs are read with a bound on host memory (non-regular files refused, a non-ELF
//! refused after its header, a file larger than the guest's tmpfs refused before it is
//! read); and the system calls whose bad arguments qemu-user cannot judge give Linux's
//! answers, spelled out here with the kernel function that decides each.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dirtybit")
}

fn image(name: &str) -> String {
    common::image(name).to_string_lossy().into_owned()
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dirtybit-hostsafe-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for `child` at most 60 s (a refused input must never hang dirtybit); returns its
/// exit code and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("dirtybit hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` with an empty environment, no input, stdout discarded and stderr captured.
fn run_cmd(cmd: &mut Command) -> (Option<i32>, String) {
    let child = cmd
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    run_cmd(Command::new(bin()).args(args))
}

/// Runs dirtybit in `sh` under a virtual-memory limit of `kib` (`ulimit -v`): reading a
/// 2 GiB input whole could not fit.
fn run_limited(kib: u64, args: &[&str]) -> (Option<i32>, String) {
    run_cmd(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("ulimit -v {kib}; exec \"$0\" \"$@\""))
            .arg(bin())
            .args(args),
    )
}

/// Every run whose status does not depend on its own output: (arguments, status).
fn status_cases() -> Vec<(Vec<String>, i32)> {
    vec![
        (vec!["run".into(), "--stats".into(), image("hello")], 0),
        (vec!["run".into(), image("segv")], 139),
        (
            vec![
                "run".into(),
                "--stats".into(),
                "--max-insns".into(),
                "1000".into(),
                image("loop"),
            ],
            124,
        ),
        (
            vec!["run".into(), "--stats".into(), "/nonexistent/image".into()],
            125,
        ),
        (vec!["cost-table".into()], 0),
    ]
}

#[test]
fn a_full_disk_never_changes_the_status() {
    for (args, want) in status_cases() {
        for (out_full, err_full) in [(false, true), (true, true)] {
            let full = || {
                Stdio::from(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open("/dev/full")
                        .unwrap(),
                )
            };
            // The guest's own stdout failing is its business (hello ignores it; with
            // SIGPIPE semantics a write to a broken pipe would kill it): only cases that
            // do not depend on it get a full stdout.
            if out_full && args[0] == "run" && args.len() < 4 {
                continue;
            }
            let child = Command::new(bin())
                .args(&args)
                .env_clear()
                .stdin(Stdio::null())
                .stdout(if out_full { full() } else { Stdio::null() })
                .stderr(if err_full { full() } else { Stdio::null() })
                .spawn()
                .unwrap();
            let (code, _) = finish(child);
            assert_eq!(code, Some(want), "{args:?} stdout full {out_full}");
        }
    }
}

#[test]
fn a_closed_pipe_never_changes_the_status() {
    for (args, want) in status_cases() {
        // stderr closed always; stdout closed where the guest does not write to it.
        let close_stdout = args[0] == "cost-table" || args.iter().any(|a| a == "--max-insns");
        let mut child = Command::new(bin())
            .args(&args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(if close_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        let (code, _) = finish(child);
        assert_eq!(code, Some(want), "{args:?}");
    }
}

#[test]
fn non_regular_inputs_are_refused_at_once() {
    let dir = scratch("fifo");
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo = fifo.to_string_lossy().into_owned();
    let dirname = dir.to_string_lossy().into_owned();
    for (args, what) in [
        (vec!["run", fifo.as_str()], "is a FIFO"),
        (vec!["run", "/dev/zero"], "is a character device"),
        (vec!["run", dirname.as_str()], "is a directory"),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(125), "{args:?}: {err}");
        assert!(err.contains("cannot read"), "{err}");
        assert!(err.contains(what) && err.contains("EACCES"), "{err}");
    }
    let hello = image("hello");
    for (file, what) in [
        (format!("{fifo}:/in"), "is a FIFO"),
        ("/dev/zero:/zero".to_string(), "is a character device"),
        (format!("{dirname}:/d"), "is a directory"),
    ] {
        let (code, err) = run(&["run", "--file", &file, &hello]);
        assert_eq!(code, Some(125), "{file}: {err}");
        assert!(err.contains("cannot copy a --file"), "{err}");
        assert!(err.contains(what), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn huge_sparse_inputs_are_refused_within_bounded_memory() {
    let dir = scratch("sparse");
    // 2 GiB of holes: a non-ELF is refused after its first 64 bytes…
    let notelf = dir.join("notelf");
    std::fs::File::create(&notelf)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    // …and an ELF header followed by 2 GiB is larger than the guest's tmpfs (half of
    // --mem) and is refused before it is read.
    let bigelf = dir.join("bigelf");
    let head = std::fs::read(common::image("hello")).unwrap();
    std::fs::write(&bigelf, &head[..4096]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bigelf)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let hello = image("hello");
    let notelf = notelf.to_string_lossy().into_owned();
    let bigelf = bigelf.to_string_lossy().into_owned();
    // 256 MiB of address space for the whole process: a 2 GiB read could not happen.
    let (code, err) = run_limited(256 << 10, &["run", &notelf]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("not an ELF file"), "{err}");
    let (code, err) = run_limited(256 << 10, &["run", &bigelf]);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("exceed the limit of 536870912 bytes"), "{err}");
    // A --file larger than the tmpfs (8 MiB of a 16 MiB guest) is refused by its size.
    let (code, err) = run_limited(
        256 << 10,
        &[
            "run",
            "--mem",
            "16M",
            "--file",
            &format!("{notelf}:/big"),
            &hello,
        ],
    );
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("exceed the limit of"), "{err}");
    assert!(err.contains("tmpfs"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_that_fits_the_tmpfs_is_copied() {
    let dir = scratch("fits");
    let f = dir.join("data");
    std::fs::write(&f, vec![b'x'; 1 << 20]).unwrap();
    let (code, err) = run(&[
        "run",
        "--mem",
        "16M",
        "--file",
        &format!("{}:/data", f.display()),
        &image("hello"),
    ]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `guest/bin/badargs linux`: the cases qemu-user cannot judge (see the program's header),
/// with Linux's answers:
/// - clone: a legacy clone() takes any CSIGNAL byte (kernel/fork.c `clone` syscall), and
///   `do_notify_parent()` sends only `valid_signal(sig) && sig`, so 127 kills nobody and
///   the child is a `__WALL` child; a valid custom signal is delivered; `CLONE_PARENT`
///   takes the parent's group leader's exit signal (`copy_process()`); init may not use it
///   (`SIGNAL_UNKILLABLE` → `EINVAL`). `eligible_child()`: without `__WALL`, a child
///   whose exit signal is not SIGCHLD is a "clone" child, waited for with `__WCLONE`
///   only, and a SIGCHLD child only without it (`ECHILD` otherwise).
/// - kill (`kill_something_info()`): -1 signals every process with pid > 1 outside the
///   caller's thread group, `ESRCH` if there is none; a group that does not exist is
///   `ESRCH` (`__kill_pgrp_info()`).
/// - rt_sigreturn (arch/riscv/kernel/signal.c `restore_sigcontext()`): the word after the
///   FP state (`sc_extdesc.reserved`) must be 0 and the extension header the end marker
///   (magic 0, size 0), else `badframe` forces SIGSEGV (qemu-user checks neither);
///   `restore_altstack()` makes the frame's `uc_stack` the alternate stack (native Linux
///   prints the same line).
/// - mremap (mm/mremap.c): a shrinking remap is `do_vmi_munmap(addr + new_len, old_len -
///   new_len)`, `EINVAL` when that range leaves user space; `PAGE_ALIGN(~0)` wraps to 0,
///   and a zero `old_len` on a private mapping is `EINVAL` (`vma_to_resize()`); a new
///   length no `get_unmapped_area()` can place is `ENOMEM`.
/// - execve under a 256 KiB stack rlimit: `bprm_stack_limits()` allows max(256K / 4,
///   `ARG_MAX`) = 128 KiB.
/// - riscv's `do_trap_ecall_u()` compares the whole `a7` (a `long`) with `NR_syscalls`:
///   `(1 << 32) | __NR_getpid` is `ENOSYS` (qemu-user truncates it to an `int`);
///   `riscv_flush_icache` refuses flags other than `SYS_RISCV_FLUSH_ICACHE_LOCAL`.
#[test]
fn bad_arguments_get_linux_answers() {
    let o = common::run_with(
        &dirtybit::RunOptions::default(),
        Path::new(&image("badargs")),
        &["linux".to_string()],
    );
    let want = "\
clone(exit signal 127): child created
waitpid(__WALL) found it: yes
clone(127) child: exited 7
parent still alive after the child's exit
clone(SIGUSR1) child: exited 8
SIGUSR1 handler ran 1 time(s)
CLONE_PARENT creator: exited 0
grandchild reaped by the grandparent without __WALL: yes
CLONE_PARENT child: exited 9
SIGUSR1 handler ran 1 time(s)
clone(CLONE_PARENT) from init: EINVAL
exit signal 0: waitpid without __WCLONE: ECHILD, with __WCLONE: reaped
exit signal 10: waitpid without __WCLONE: ECHILD, with __WCLONE: reaped
exit signal 64: waitpid without __WCLONE: ECHILD, with __WCLONE: reaped
exit signal 65: waitpid without __WCLONE: ECHILD, with __WCLONE: reaped
exit signal 255: waitpid without __WCLONE: ECHILD, with __WCLONE: reaped
SIGCHLD child: waitpid with __WCLONE: ECHILD, without: reaped
kill(-1, 0) alone: ESRCH
kill(-4000, 0) (no such group): ESRCH
kill(-1, SIGTERM) from init: OK
child: killed by signal 15
child: killed by signal 15
kill(-1, SIGUSR2) from a child with no siblings: exited 103
init's SIGUSR2 handler ran 0 time(s)
rt_sigreturn with a nonzero sc_extdesc.reserved: killed by signal 11
rt_sigreturn with a nonzero extension magic: killed by signal 11
rt_sigreturn with a nonzero extension size: killed by signal 11
alternate stack after a handler set uc_stack: the new one, size 65536, flags 0
mremap(old_len 1<<46, new_len 4096): EINVAL
mremap(old_len ~0 - 4095): EINVAL
mremap(old_len ~0, wraps to 0, private): EINVAL
mremap(new_len ~0 - 4095): ENOMEM
mremap(old_len past the mapping, shrinking): OK
stack still mapped: 5, mapping still reads 1
execve 2 x 100000 bytes under a 256 KiB stack rlimit (ARG_MAX = 128 KiB): E2BIG, caller carries on
syscall (1 << 32) | getpid: ENOSYS
riscv_flush_icache unknown flag: EINVAL
riscv_flush_icache SYS_RISCV_FLUSH_ICACHE_LOCAL: OK
done
";
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    assert_eq!(o.code, 0);
}

/// The host's own arguments and environment go through the same limits (Linux's own
/// `execve` would refuse them before dirtybit ran; a library caller of `run_image` hears
/// it as a clear error, not a guest SIGSEGV): one argument of 128 KiB with its NUL is the
/// longest.
#[test]
fn host_arguments_past_the_limit_are_refused_clearly() {
    let img = std::fs::read(common::image("hello")).unwrap();
    let run = |arg: String| {
        let (streams, _) = dirtybit::guestos::HostStreams::capture(Vec::new());
        dirtybit::run_image(
            &dirtybit::RunOptions::default(),
            &img,
            "/bin/hello",
            &[arg],
            streams,
        )
    };
    let e = run("a".repeat(128 << 10)).unwrap_err();
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain += &format!(": {s}");
        src = s.source();
    }
    assert!(chain.contains("exceeds the 128 KiB limit"), "{chain}");
    let report = run("a".repeat((128 << 10) - 1)).unwrap();
    assert_eq!(report.status.shell_code(), 0);
}
