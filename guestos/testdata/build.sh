#!/bin/sh
# Rebuilds the ELF loader test fixtures from tiny.c with Debian's riscv64 cross gcc.
# The outputs are committed so the tests do not need the cross toolchain.
set -eu
cd "$(dirname "$0")"
CC=${CC:-riscv64-linux-gnu-gcc}
COMMON="-O2 -nostdlib -Wl,--build-id=none"
$CC $COMMON -static -fno-pie -no-pie -o static.elf tiny.c
$CC $COMMON -static -fno-pie -no-pie -z execstack -o execstack.elf tiny.c
$CC $COMMON -static-pie -fPIE -Wl,--no-dynamic-linker -o static-pie.elf tiny.c
$CC $COMMON -fPIE -pie -o dynamic.elf tiny.c
