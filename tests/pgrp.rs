//! Process groups, sessions and prctl (issue 10): `pgrp linux`, the part of the `pgrp`
//! guest qemu-user cannot be the oracle of because it needs an `execve` (qemu-user runs a
//! riscv64 image only through binfmt_misc) or dirtybit's `/proc/<pid>/stat`. The qemu-
//! comparable part is `tests/differential.rs`'s `pgrp`; here the same run must print it
//! too, then Linux's answers spelled out: `sys_setpgid()` refuses a child that has called
//! `execve` (`PF_FORKNOEXEC` clear: `EACCES`), `begin_new_exec()` names the task after
//! the file (`kbasename("/proc/self/exe")` = "exe"), and `do_task_stat()` shows the
//! process group and session the child inherited, no terminal (`tty_nr` 0, `tpgid` -1).

mod common;

use common::*;
use dirtybit::RunOptions;

#[test]
fn setpgid_after_exec_comm_and_proc_stat_follow_linux() {
    let qemu_part = String::from_utf8(expected("pgrp").0).unwrap();
    let qemu_part = qemu_part
        .strip_suffix("session child: exit 0\n")
        .expect("the reference ends with the session child's status");
    for (label, opts) in [
        ("1 hart", RunOptions::default()),
        (
            "4 harts deterministic",
            RunOptions {
                harts: 4,
                sched: "deterministic".into(),
                seed: 5,
                ..RunOptions::default()
            },
        ),
    ] {
        let o = run_with(&opts, &image("pgrp"), &["linux".to_string()]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.code, 0, "{label}: {out}");
        let linux_part = out
            .strip_prefix(qemu_part)
            .unwrap_or_else(|| panic!("{label}: the qemu-comparable part differs:\n{out}"));
        assert_eq!(
            linux_part,
            "setpgid(child that has exec'd, 0): EACCES\n\
             setpgid(child that has exec'd, own group): EACCES\n\
             comm after exec: exe\n\
             stat: fields 8, comm (exe), ppid ok yes, pgrp ok yes, session ok yes, tty 0, tpgid -1\n\
             exec'd child: exit 0\n\
             session child: exit 0\n",
            "{label}"
        );
    }
}
