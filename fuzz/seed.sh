#!/bin/sh
# Seeds the fuzz corpora (not committed: fuzz/corpus is in .gitignore).
# - elf_parse, exec_run: the real guest programs from guest/bin and the small fixtures from
#   guestos/testdata (static, static-pie, execstack, dynamic).
# - syscalls: a few hand-written call sequences in the target's input format (see
#   fuzz_targets/syscalls.rs): write, openat/read/close, mmap/munmap/mprotect/brk,
#   mremap/madvise, signals, pipe2/dup3/fcntl.
# Run from anywhere: fuzz/seed.sh
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/elf_parse corpus/exec_run corpus/syscalls
for f in ../guestos/testdata/*.elf; do
    cp "$f" "corpus/elf_parse/$(basename "$f")"
    cp "$f" "corpus/exec_run/$(basename "$f")"
done
for p in hello segv fileio mm; do
    cp "../guest/bin/$p" "corpus/elf_parse/$p"
    cp "../guest/bin/$p" "corpus/exec_run/$p"
done
python3 - corpus/syscalls <<'PY'
import os, struct, sys
P = 0xaa << 56          # "pointer into scratch" marker
NEG1 = 2**64 - 1
def seed(calls, init=b""):
    return bytes([len(calls)]) + b"".join(struct.pack("<7Q", *c) for c in calls) + init
seeds = {
    "write": seed([[64, 1, P, 5, 0, 0, 0]], b"hello"),
    "openat_read": seed([[56, 2**64 - 100, P, 0, 0, 0, 0], [63, 3, P | 0x100, 64, 0, 0, 0],
                         [57, 3, 0, 0, 0, 0, 0]], b"/fuzz\0"),
    "mmap_munmap": seed([[222, 0, 0x3000, 3, 0x22, NEG1, 0], [215, 0, 0x1000, 0, 0, 0, 0],
                         [226, 0x10000, 0x1000, 7, 0, 0, 0], [214, 0, 0, 0, 0, 0, 0],
                         [214, 0x100000, 0, 0, 0, 0, 0]]),
    "mremap": seed([[222, 0x200000, 0x3000, 3, 0x32, NEG1, 0],
                    [216, 0x200000, 0x3000, 0x5000, 1, 0, 0], [233, 0x200000, 0x1000, 4, 0, 0, 0]]),
    "sig": seed([[134, 11, P, 0, 8, 0, 0], [135, 0, P | 0x100, P | 0x200, 8, 0, 0],
                 [132, P | 0x300, 0, 0, 0, 0, 0], [129, 1, 10, 0, 0, 0, 0]]),
    "pipe_dup": seed([[59, P, 0, 0, 0, 0, 0], [24, 3, 10, 0, 0, 0, 0], [64, 4, P, 8, 0, 0, 0],
                      [63, 3, P | 0x40, 8, 0, 0, 0], [25, 3, 4, 0, 0, 0, 0]]),
}
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
PY
