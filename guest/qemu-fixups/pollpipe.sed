# qemu-user 7.2's do_ppoll() (linux-user/syscall.c) locks the guest's pollfd array
# (lock_user of nfds * 8 bytes) before the host kernel sees nfds, so an nfds past
# RLIMIT_NOFILE over an unmapped array is EFAULT there; Linux's do_sys_poll()
# (fs/select.c) checks nfds > rlimit(RLIMIT_NOFILE) first: EINVAL. Confirmed by
# `make native-check`.
s/^poll nfds > RLIMIT_NOFILE: -1 EFAULT$/poll nfds > RLIMIT_NOFILE: -1 EINVAL/
