# qemu-user 7.2 does not emulate execve (see execer.sed: the host kernel is handed the
# riscv64 image and, without a binfmt_misc entry, returns -ENOEXEC, so the exec'ing thread
# falls through to _exit(100)). On Linux, execve from a thread that is not the leader
# succeeds: fs/exec.c begin_new_exec() -> de_thread() kills the other threads
# (zap_other_threads()), and the exec'ing thread takes over the leader's pid
# (exchange_tids(), "the thread ID of the caller becomes the PID", execve(2)); the new
# image prints its line and exits 3. `make native-check` confirms these two lines on the
# host, where execve works.
s/^execve from a thread, the others blocked: exited 100$/after execve from a thread: pid kept: yes, tid == pid: yes\nexecve from a thread, the others blocked: exited 3/
