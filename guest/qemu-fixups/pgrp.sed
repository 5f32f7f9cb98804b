# qemu-user 7.2 answers PR_SET_CHILD_SUBREAPER and PR_GET_CHILD_SUBREAPER itself with
# -TARGET_EINVAL (do_prctl() in linux-user/syscall.c lists them among the options it does
# not pass on), so the orphan goes to the host's reaper instead of the program. Linux
# (kernel/sys.c prctl: me->signal->is_child_subreaper; kernel/exit.c find_new_reaper())
# re-parents it to the subreaper, which reaps it. And a guest thread that exits under
# qemu-user does not end its host thread the way Linux's exit does, so the child it
# forked is not handed to the main thread (forget_original_parent(): find_alive_thread())
# for a __WNOTHREAD wait. These lines are what native Linux 6.18 prints (the same source
# built for the host and run there).
s/^PR_SET_CHILD_SUBREAPER: EINVAL$/PR_SET_CHILD_SUBREAPER: ok/
s/^PR_GET_CHILD_SUBREAPER: -1$/PR_GET_CHILD_SUBREAPER: 1/
s/^orphan: got signal 12, new parent is the subreaper: no$/orphan: got signal 12, new parent is the subreaper: yes/
s/^the subreaper reaps the orphan: no (exit 6)$/the subreaper reaps the orphan: yes (exit 7)/
s/^waitpid(-1, __WNOTHREAD) reaps the child of a thread that exited: no$/waitpid(-1, __WNOTHREAD) reaps the child of a thread that exited: yes/
