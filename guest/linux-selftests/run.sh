#!/bin/sh
# Run Linux's mm selftests (built by build.sh) under dirtybit, or under qemu-riscv64 for
# comparison, with the arguments tools/testing/selftests/mm/run_vmtests.sh gives them by
# default, and print one line per run: the kselftest TAP counts
# (`ok` = pass, `ok … # SKIP` = skip, `ok … # XFAIL` = xfail, `not ok` = fail), how many
# results the plan (`1..N`) announced, whether it bailed out, and the exit status.
#
#   guest/linux-selftests/run.sh [--qemu] [--gup modern|foll-cow|dirtycow] [--matrix] [--gigantic] [--log DIR] [BIN]
#
# BIN: the directory build.sh wrote (default: bin/ beside this script). DIRTYBIT: the
# dirtybit binary (default: target/release/dirtybit of this checkout); QEMU: the qemu
# user emulator (default: qemu-riscv64). TIMEOUT: seconds per run (default 900). --log
# keeps each run's whole output as DIR/<test>[_<n>].out. HUGEPAGES: the hugetlb pool each
# dirtybit run boots with (default 128 pages of 2 MiB: the 256 MiB run_vmtests.sh puts in
# /proc/sys/vm/nr_hugepages before it runs anything, needmem_KB). SWAP: the swap area
# each dirtybit run boots with (default 256M; cow's swap cases skip without one).
#
# The gup_test runs with -H are run_gup_matrix()'s hugetlb runs (run_vmtests.sh -a):
# "-H -m 256" with each command (-u, -a, -U, -b, -L), private and shared (-S), R/W and
# R/O (-W), and the four batch sizes among them; plus the dump test on hugetlb.
# --matrix adds the whole of run_gup_matrix() (run_vmtests.sh -a): gup_test with THP on
# (-t), off (-T) and hugetlb (-H -m 256), each command (-u, -U, -a, -b, -L), R/W and R/O
# (-w, -W), private and shared (-S), and 1, 512, 123 and all pages (-n): 240 runs.
# --gigantic runs cow and gup_longterm alone on a machine with 1 GiB hugetlb pages as well
# (--mem 4G, two 1 GiB pages at boot besides the 2 MiB ones: Linux's hugepagesz=1G
# hugepages=2), so that detect_hugetlb_page_sizes() plans their hugetlb cases for
# 1048576 kB too. Those cases write whole gigabytes: each run touches a few GiB of host
# memory.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=dirtybit
gup=modern
log=
matrix=
gigantic=
while [ $# -gt 0 ]; do
	case $1 in
	--qemu) mode=qemu; shift ;;
	--gup) gup=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--matrix) matrix=1; shift ;;
	--gigantic) gigantic=1; shift ;;
	-*) echo "usage: $0 [--qemu] [--gup GEN] [--matrix] [--gigantic] [--log DIR] [BIN]" >&2; exit 2 ;;
	*) break ;;
	esac
done
bin=$(cd "${1:-$here/bin}" && pwd)
dirtybit=${DIRTYBIT:-$root/target/release/dirtybit}
qemu=${QEMU:-qemu-riscv64}
limit=${TIMEOUT:-900}
hugepages=${HUGEPAGES:-128}
swap=${SWAP:-256M}
machine="--hugepages $hugepages --swap $swap"
[ -n "$log" ] && mkdir -p "$log"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# One run_vmtests.sh invocation per line: the image, then its arguments.
runs='cow
gup_longterm
gup_test -u -n 1
gup_test -u -n -1
gup_test -a -n 1
gup_test -a -n -1
gup_test -ct -F 0x1 0 19 0x1000
gup_test -H -m 256 -u -n 1
gup_test -H -m 256 -u -n -1
gup_test -H -m 256 -a -n 1
gup_test -H -m 256 -a -n -1
gup_test -H -m 256 -U -S -n 123
gup_test -H -m 256 -b -W -n 512
gup_test -H -m 256 -L -w -S -n -1
gup_test -H -m 256 -a -W -S -n 512
gup_test -H -ct -F 0x1 0 19 0x1000
mkdirty
madv_populate
soft-dirty'
if [ -n "$gigantic" ]; then
	runs='cow
gup_longterm'
	machine="$machine --mem 4G --hugepages 1G:2"
fi
if [ -n "$matrix" ]; then
	for huge in -t -T "-H -m 256"; do
		for cmd in -u -U -a -b -L; do
			for write in -w -W; do
				for share in -S ""; do
					for num in "-n 1" "-n 512" "-n 123" "-n -1"; do
						runs="$runs
gup_test $huge $cmd $write $share $num"
					done
				done
			done
		done
	done
fi

if [ "$mode" = qemu ]; then
	echo "# under $qemu ($($qemu --version | head -1))"
else
	echo "# under dirtybit run --gup $gup $machine"
fi
printf '%-34s %5s %5s %5s %5s %5s  %s\n' test pass fail skip xfail plan "bail/exit"
n=0
echo "$runs" | while read -r image args; do
	n=$((n + 1))
	if [ ! -x "$bin/$image" ]; then
		printf '%-34s not built\n' "$image $args"
		continue
	fi
	status=0
	# shellcheck disable=SC2086 # $args are words
	if [ "$mode" = qemu ]; then
		timeout "$limit" "$qemu" "$bin/$image" $args >"$tmp" 2>&1 || status=$?
	else
		# shellcheck disable=SC2086 # $machine is words
		timeout "$limit" "$dirtybit" run --gup "$gup" $machine \
			"$bin/$image" $args \
			>"$tmp" 2>&1 || status=$?
	fi
	[ -n "$log" ] && cp "$tmp" "$log/${image}_$n.out"
	pass=$(grep -Ec '^ok [0-9]+( |$)' "$tmp" | tr -d ' ' || true)
	skip=$(grep -Ec '^ok [0-9]+ # SKIP' "$tmp" || true)
	xfail=$(grep -Ec '^ok [0-9]+ # XFAIL' "$tmp" || true)
	pass=$((pass - skip - xfail))
	fail=$(grep -Ec '^not ok [0-9]+' "$tmp" || true)
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$tmp" | head -1)
	bail=$(grep -q '^Bail out!' "$tmp" && echo "bail, " || true)
	[ "$status" = 124 ] && bail="timeout, "
	printf '%-34s %5s %5s %5s %5s %5s  %s\n' "$image $args" "$pass" "$fail" "$skip" \
		"$xfail" "${plan:--}" "${bail}exit $status"
done
