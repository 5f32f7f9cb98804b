#!/bin/sh
# Regenerates fp_vectors.txt, the F/D oracle fixture checked by emu/tests/fpu_vectors.rs.
#
# Needs the Debian cross toolchain and user-mode qemu (riscv64-linux-gnu-gcc, qemu-riscv64).
# fpgen.c is compiled static, run under qemu-riscv64 (whose F/D implementation follows the
# RISC-V spec: canonical NaNs, NaN-boxing checks, tininess after rounding), and its output
# becomes the fixture. The binary is not kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
riscv64-linux-gnu-gcc -O2 -static -Wall -Wextra -Werror -o "$tmp/fpgen" "$here/fpgen.c"
qemu-riscv64 "$tmp/fpgen" > "$tmp/fp_vectors.txt"
mv "$tmp/fp_vectors.txt" "$here/fp_vectors.txt"
echo "wrote $here/fp_vectors.txt ($(wc -l < "$here/fp_vectors.txt") vectors, $(qemu-riscv64 --version | head -n1))"
