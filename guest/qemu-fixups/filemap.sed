# qemu-user 7.2 (Debian bookworm's qemu-riscv64) differs from Linux here; the reference must
# be Linux's. Confirmed by building src/filemap.c natively and running it on the host's
# Linux kernel (`make native-check`).
#
# mm/mmap.c do_mmap(): MAP_SHARED_VALIDATE with a flag outside LEGACY_MAP_MASK (here
# MAP_SYNC, which only DAX files support) fails with -EOPNOTSUPP (qemu 7.2 validates the
# flags itself and returns EINVAL).
s/^MAP_SHARED_VALIDATE with an unknown flag: EINVAL$/MAP_SHARED_VALIDATE with an unknown flag: ENOTSUP/
