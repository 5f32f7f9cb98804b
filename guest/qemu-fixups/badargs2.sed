# qemu-user 7.2 answers these bad arguments itself, differently from Linux. Every line was
# checked by `make native-check` (the program built for x86-64 and run on the host's Linux
# 6.18 prints the corrected line) and names the Linux function that decides.
#
# mm/mmap.c ksys_mmap_pgoff(): a file mapping looks its fd up (fget) before do_mmap()
# checks len or the mapping type (qemu's target_mmap() checks them first).
s/^mmap file, bad fd and len 0 (EINVAL first): EINVAL$/mmap file, bad fd and len 0 (EINVAL first): EBADF/
s/^mmap file, bad fd and no type (EBADF first): EINVAL$/mmap file, bad fd and no type (EBADF first): EBADF/
# mm/mprotect.c do_mprotect_pkey(): "if (!len) return 0" before any VMA lookup.
s/^mprotect len 0: ENOMEM$/mprotect len 0: OK/
# mm/madvise.c madvise_behavior_valid(): unknown advice is EINVAL, before the length
# (qemu 7.2 ignores unknown advice).
s/^madvise unknown advice: OK$/madvise unknown advice: EINVAL/
s/^madvise unknown advice, len 0 (EINVAL first): OK$/madvise unknown advice, len 0 (EINVAL first): EINVAL/
# mm/madvise.c madvise_walk_vmas(): an unmapped range is ENOMEM (qemu returns 0 without
# looking).
s/^madvise unmapped: OK$/madvise unmapped: ENOMEM/
s/^madvise MADV_NORMAL unmapped: OK$/madvise MADV_NORMAL unmapped: ENOMEM/
# mm/madvise.c madvise_remove(): a VMA without a file is EINVAL.
s/^madvise MADV_REMOVE on private: OK$/madvise MADV_REMOVE on private: EINVAL/
# mm/mremap.c: "if (!new_len) return -EINVAL" before any VMA lookup.
s/^mremap new_len 0: ENOMEM$/mremap new_len 0: EINVAL/
# fs/read_write.c ksys_read()/vfs_read(): fdget_pos() (EBADF) and FMODE_READ (EBADF) come
# before access_ok() (qemu locks the guest buffer first: EFAULT).
s/^read fd 9999, bad buffer (EBADF first): EFAULT$/read fd 9999, bad buffer (EBADF first): EBADF/
s/^read O_WRONLY fd, bad buffer (EBADF first): EFAULT$/read O_WRONLY fd, bad buffer (EBADF first): EBADF/
# fs/read_write.c do_readv()/vfs_readv(): the fd and its mode before import_iovec()'s count.
s/^readv fd 9999, iovcnt -1 (EBADF first): EINVAL$/readv fd 9999, iovcnt -1 (EBADF first): EBADF/
s/^readv O_WRONLY fd, iovcnt -1 (EBADF first): EINVAL$/readv O_WRONLY fd, iovcnt -1 (EBADF first): EBADF/
# fs/fcntl.c fcntl syscall: fdget_raw() before do_fcntl() looks at the command.
s/^fcntl bad fd, unknown cmd (EBADF first): EINVAL$/fcntl bad fd, unknown cmd (EBADF first): EBADF/
# fs/select.c do_ppoll(): poll_select_set_timeout() rejects the timespec before
# do_sys_poll() copies the pollfd array (qemu locks the array first).
s/^ppoll unmapped fds: EFAULT$/ppoll unmapped fds: EINVAL/
# fs/stat.c do_readlinkat(): "if (bufsiz <= 0) return -EINVAL" (qemu locks the buffer).
s/^readlinkat bufsiz -1: EFAULT$/readlinkat bufsiz -1: EINVAL/
# kernel/signal.c: 64 (SIGRTMAX) is a valid signal, queued once per kill while blocked;
# qemu-user keeps the host's top real-time signals for itself.
s/^kill signal 64: EINVAL$/kill signal 64: OK/
s/^signal 64 handler ran: 1$/signal 64 handler ran: 2/
s/^signal 64 pending while blocked: no$/signal 64 pending while blocked: yes/
s/^signal 64 handler ran after unblock (queued twice): 1$/signal 64 handler ran after unblock (queued twice): 4/
# kernel/time/posix-timers.c clock_getres: put_timespec64() of a non-NULL res (EFAULT).
s/^clock_getres unmapped: OK$/clock_getres unmapped: EFAULT/
# kernel/time/hrtimer.c nanosleep: get_timespec64() fails first: EFAULT.
s/^nanosleep unmapped: EINVAL$/nanosleep unmapped: EFAULT/
# drivers/char/random.c getrandom: the flags are checked before the buffer.
s/^getrandom unknown flag, unmapped (EINVAL first): EFAULT$/getrandom unknown flag, unmapped (EINVAL first): EINVAL/
# kernel/futex/syscalls.c set_robust_list/get_robust_list (qemu 7.2: ENOSYS):
# len != sizeof(struct robust_list_head) is EINVAL; an unknown pid ESRCH; the head is
# written to user memory (EFAULT).
s/^set_robust_list len 0: ENOSYS$/set_robust_list len 0: EINVAL/
s/^set_robust_list len 25: ENOSYS$/set_robust_list len 25: EINVAL/
s/^get_robust_list no such pid: ENOSYS$/get_robust_list no such pid: ESRCH/
s/^get_robust_list unmapped: ENOSYS$/get_robust_list unmapped: EFAULT/
# mm/process_vm_access.c process_vm_rw() (qemu 7.2: ENOSYS): flags != 0 and more than
# UIO_MAXIOV vectors are EINVAL before the pid is looked up (ESRCH); the remote and local
# vectors are checked (EFAULT); the result is the bytes copied.
s/^process_vm_readv unknown flag: ENOSYS$/process_vm_readv unknown flag: EINVAL/
s/^process_vm_readv liovcnt 1025: ENOSYS$/process_vm_readv liovcnt 1025: EINVAL/
s/^process_vm_readv no such pid: ENOSYS$/process_vm_readv no such pid: ESRCH/
s/^process_vm_readv own memory: ENOSYS$/process_vm_readv own memory: OK 8/
s/^process_vm_readv remote unmapped: ENOSYS$/process_vm_readv remote unmapped: EFAULT/
s/^process_vm_readv local iov unmapped: ENOSYS$/process_vm_readv local iov unmapped: EFAULT/
s/^process_vm_readv no such pid, unknown flag (EINVAL first): ENOSYS$/process_vm_readv no such pid, unknown flag (EINVAL first): EINVAL/
s/^process_vm_writev liovcnt 0: ENOSYS$/process_vm_writev liovcnt 0: OK 0/
# fs/exec.c do_execveat_common(): alloc_bprm() opens the file (do_open_execat(): ENOENT,
# EACCES) before count() reads argv and envp (qemu-user copies them from the guest first).
s/^execve missing, unmapped argv (ENOENT first): EFAULT$/execve missing, unmapped argv (ENOENT first): ENOENT/
s/^execve a directory, unmapped envp (EACCES first): EFAULT$/execve a directory, unmapped envp (EACCES first): EACCES/
s/^execve not executable, unmapped argv (EACCES first): EFAULT$/execve not executable, unmapped argv (EACCES first): EACCES/
