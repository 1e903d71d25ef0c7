#!/bin/sh
# Fuzzes every target of build-service-fuzz (Sources/BuildServiceFuzzing) with libFuzzer and
# AddressSanitizer, each for a bounded time:
#   sh scripts/fuzz.sh                 every target, 30 s each
#   sh scripts/fuzz.sh 300 tls config  these targets, 300 s each
# Starts from the kept corpus (Fuzz/corpus/<target>); what the fuzzer adds goes to
# .build/fuzz-corpus/<target> (FUZZ_MERGE=1 merges the new inputs that add coverage into
# Fuzz/corpus, to commit). A crash or an oracle's finding stops the run and is written to
# Fuzz/crashes/<target>/: commit it with the fix, and the test suite replays it from then on.
# Prints executions per second and in total per target; fails if any target found something.
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-30}"
case "$seconds" in
    '' | *[!0-9]*) echo "fuzz.sh: usage: sh scripts/fuzz.sh [SECONDS] [TARGET...] (SECONDS first: \"$seconds\")" >&2; exit 64 ;;
esac
[ $# -gt 0 ] && shift
targets="${*:-request-decoder http-request byte-ranges artifact-route argument-policy legacy-line config tls zip-archive}"

# -sanitize=fuzzer instruments the Swift code for coverage and links libFuzzer; lld, because
# gold fails on libFuzzer's archive; FUZZING selects the driver in build-service-fuzz.
swift build --product build-service-fuzz --build-path .build/fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
fuzzer="$PWD/.build/fuzz/debug/build-service-fuzz"

work="$PWD/.build/fuzz-work"
rm -rf "$work"
mkdir -p "$work"
FUZZ_CERTS="$work/certs"
sh certs/make-dev-certs.sh --out "$FUZZ_CERTS" --name server >/dev/null 2>&1
export FUZZ_CERTS
# A crash stays a signal (the config sandbox tells a crashed parser by it); no Swift
# backtrace (slow, and the fuzzer prints its own stack); leaks are the sanitizer run's job.
export ASAN_OPTIONS="handle_segv=0 detect_leaks=0"
export SWIFT_BACKTRACE="enable=no"

status=0
for target in $targets; do
    corpus="$PWD/.build/fuzz-corpus/$target"
    crashes="$PWD/Fuzz/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    log="$work/$target.log"
    # -timeout: above the config sandbox's own 10 s limit, so that a parser hang it handles
    # (or a slow sanitized child) is not taken for one of ours.
    if FUZZ_TARGET="$target" "$fuzzer" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "Fuzz/corpus/$target" >"$log" 2>&1; then
        outcome=ok
    else
        outcome="FOUND (see $log and $crashes)"
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    printf '%-16s %10s runs %7s/s in %ss  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$seconds" "$outcome"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        FUZZ_TARGET="$target" "$fuzzer" -merge=1 "Fuzz/corpus/$target" "$corpus" >>"$log" 2>&1 \
            || { echo "fuzz.sh: $target: merging the corpus failed (see $log)" >&2; status=1; }
    fi
done
exit $status
