#!/bin/sh
# Print "<image>: <distinct system calls, sorted>" using qemu-user's -strace.
# usage: syscalls.sh QEMU IMAGE ARGSFILE
set -u
qemu=$1 image=$2 argsfile=$3
set --
if [ -f "$argsfile" ]; then
    while IFS= read -r a || [ -n "$a" ]; do set -- "$@" "$a"; done < "$argsfile"
fi
ulimit -c 0
names=$("$qemu" -strace "$image" "$@" 2>&1 >/dev/null |
    sed -n 's/^[0-9]* \([a-z_0-9]*\)(.*/\1/p' | sort -u | tr '\n' ' ')
echo "$(basename "$image"): $names"
