#!/bin/sh
# Runs one fuzz target for up to SECONDS of wall time at the lowest CPU priority (so it
# uses only what other work leaves idle) and appends its CPU time (user + system, from
# /usr/bin/time) and libFuzzer's last status line to campaign.log. Resumes on the same
# corpus, so CPU time adds up over runs: sum the log's lines per target.
#   fuzz/campaign.sh TARGET SECONDS
set -eu
cd "$(dirname "$0")"
target=$1
secs=$2
case $target in
    decode) args="" ;;
    elf_parse) args="-max_len=1048576" ;;
    exec_run) args="-max_len=1048576 -timeout=30" ;;
    syscalls) args="-max_len=8192 -len_control=0 -timeout=30" ;;
    # Leak checking off: hart threads are scoped threads, joined when their closure
    # returns but before their TLS destructors have run, so LeakSanitizer can catch a
    # thread's glibc destructor list (__cxa_thread_atexit_impl, 128 bytes) in flight.
    # Guest memory is checked by the target's page audit.
    smp_syscalls) args="-max_len=8192 -len_control=0 -timeout=60 -detect_leaks=0" ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
mkdir -p "corpus/$target" logs
log="logs/$target.$(date +%s).log"
# shellcheck disable=SC2086
RUSTC_BOOTSTRAP=1 /usr/bin/time -f "%U %S" -o "$log.time" nice -n 19 \
    cargo fuzz run -O "$target" "corpus/$target" -- $args -max_total_time="$secs" \
    -print_final_stats=1 >"$log" 2>&1 || true
cpu=$(awk '{ printf "%.0f", $1 + $2 }' "$log.time")
last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
crashes=$(ls "artifacts/$target" 2>/dev/null | wc -l)
echo "$(date -u +%FT%TZ) $target cpu_s=$cpu artifacts=$crashes last: $last" >>campaign.log
