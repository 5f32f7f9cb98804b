# qemu-user 7.2 (Debian bookworm's qemu-riscv64) has no mlock2 (TARGET_NR_mlock2 is not
# implemented: ENOSYS). The reference output must be Linux's, so the qemu output is
# corrected here; confirmed by building src/syscalls2.c natively and running it on the
# host's Linux kernel (`make native-check`).
#
# mm/mlock.c mlock2(): flags other than MLOCK_ONFAULT are -EINVAL.
s/^mlock2(flags 2): ENOSYS$/mlock2(flags 2): EINVAL/
# mm/mlock.c mlock2(MLOCK_ONFAULT) on one mapped page succeeds.
s/^mlock2(ONFAULT): ENOSYS$/mlock2(ONFAULT): ok/
