#!/bin/sh
# Run one guest image under qemu-user and record its stdout and exit status.
# usage: run-qemu.sh QEMU IMAGE ARGSFILE OUTPREFIX [FIXUPS.sed]
# QEMU is a command and its options, split at spaces (e.g. "dirtybit run --gup dirtycow").
# ARGSFILE holds one argument per line (may be missing or empty).
# Writes OUTPREFIX.stdout and OUTPREFIX.status; a signal death is recorded as
# 128+signo, as a POSIX shell reports it. If FIXUPS.sed exists, it is applied to stdout:
# it corrects the documented places where qemu-user differs from Linux (see qemu-fixups/).
set -u
qemu=$1 image=$2 argsfile=$3 out=$4 fixups=${5:-}
set --
if [ -f "$argsfile" ]; then
    while IFS= read -r a || [ -n "$a" ]; do set -- "$@" "$a"; done < "$argsfile"
fi
ulimit -c 0
$qemu "$image" "$@" > "$out.stdout.raw" 2> /dev/null
echo $? > "$out.status"
if [ -n "$fixups" ] && [ -f "$fixups" ]; then
    sed -f "$fixups" "$out.stdout.raw" > "$out.stdout"
    rm -f "$out.stdout.raw"
else
    mv "$out.stdout.raw" "$out.stdout"
fi
