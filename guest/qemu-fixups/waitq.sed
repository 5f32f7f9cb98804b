# qemu-user 7.2 refuses a clone() without CLONE_VM whose exit signal is not SIGCHLD:
# do_fork() in linux-user/syscall.c returns -TARGET_EINVAL unless the flags are only
# CSIGNAL (and it would fork() on the host, whose child reports with SIGCHLD). Linux
# (kernel/fork.c copy_process(): p->exit_signal = args->exit_signal) makes a child that
# reports with SIGUSR2, a "clone" child: kernel/exit.c eligible_child() lets wait4/waitid
# see it with __WALL or __WCLONE only. These lines are what native Linux prints for them
# (`make native-check` style: the same source built for the host and run there).
s/^waitid(P_PID, WNOWAIT|__WALL) on a clone child: -1, pid other, status 0$/waitid(P_PID, WNOWAIT|__WALL) on a clone child: 0, pid the child, status 7/
s/^wait4(-1, __WCLONE): -1 ECHILD$/wait4(-1, __WCLONE): the child, exited 7/
s/^wait4(-1, __WALL) on a clone child: -1 ECHILD$/wait4(-1, __WALL) on a clone child: the child, exited 9/
s/^waitid(P_ALL, __WCLONE): -1, pid other, signo 0, status 0$/waitid(P_ALL, __WCLONE): 0, pid the child, signo 17, status 5/
s/^SIGUSR2 from the clone children: not 3$/SIGUSR2 from the clone children: 3/
