#!/bin/sh
# Build Linux's mm selftests that dirtybit runs, static for riscv64, from a Linux tree.
#
#   guest/linux-selftests/build.sh LINUX_TREE [OUT]
#
# LINUX_TREE is a Linux source tree (v6.18 era) holding at least
# tools/testing/selftests/{kselftest.h,mm/{cow,gup_longterm,gup_test,mkdirty,
# madv_populate,soft-dirty,vm_util,thp_settings}.[ch]} and mm/gup_test.h. Linux's
# sources are not part of dirtybit and are never copied here. OUT (default: bin/ beside
# this script, ignored by git) receives one static image per test.
#
# The flags follow tools/testing/selftests/mm/Makefile: -I the tree's root (for
# "mm/gup_test.h"), -isystem tools/include/uapi when the tree has it, every test linked
# with vm_util.c and thp_settings.c, -lrt -lpthread -lm. What the Makefile takes from
# the host is pinned down:
#   - local_config.h: check_config.sh writes LOCAL_CONFIG_HAVE_LIBURING into it when a
#     liburing program links; Debian's riscv64 cross toolchain has no liburing, so the
#     file is empty and the io_uring cases are compiled out, as on a host without it.
#     (No libnuma either: the NUMA users among the mm tests are not built here, and
#     mkdirty calls mbind through syscall(2).)
#   - uapi newer than Debian bookworm's 6.1 headers: compat.h, passed with -include.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 LINUX_TREE [OUT]" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$1" && pwd)
out=${2:-$here/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
mm=$tree/tools/testing/selftests/mm
cc=${CROSS:-riscv64-linux-gnu-}gcc

tests="cow gup_longterm gup_test mkdirty madv_populate soft-dirty"

for f in ../kselftest.h vm_util.c vm_util.h thp_settings.c thp_settings.h; do
	[ -f "$mm/$f" ] || { echo "$0: $mm/$f missing" >&2; exit 1; }
done
[ -f "$tree/mm/gup_test.h" ] || { echo "$0: $tree/mm/gup_test.h missing" >&2; exit 1; }

mkdir -p "$out/include"
: > "$out/include/local_config.h"

uapi=
if [ -d "$tree/tools/include/uapi" ]; then
	uapi="-isystem $tree/tools/include/uapi"
fi

built=0
for t in $tests; do
	if [ ! -f "$mm/$t.c" ]; then
		echo "$0: $mm/$t.c missing, skipped" >&2
		continue
	fi
	# Compiled from inside the mm directory with relative names, as make does there:
	# __FILE__ is then "gup_longterm.c", and gup_longterm's "local tmpfile"
	# (__FILE__"_tmpfile_XXXXXX") is made in the test's working directory.
	# shellcheck disable=SC2086 # $uapi is empty or two words
	(cd "$mm" && $cc -O2 -static -Wall -march=rv64gc -mabi=lp64d \
		-include "$here/compat.h" -I "$out/include" -I "$tree" $uapi \
		-o "$out/$t" "$t.c" vm_util.c thp_settings.c \
		-lrt -lpthread -lm)
	echo "built $out/$t"
	built=$((built + 1))
done
[ "$built" -gt 0 ]
