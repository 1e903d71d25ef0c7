#!/bin/sh
# Runs the whole test suite under ThreadSanitizer and AddressSanitizer (with LeakSanitizer):
#   sh scripts/sanitize.sh            both
#   sh scripts/sanitize.sh thread     one of them (thread | address)
# Each sanitizer builds into its own directory (.build/thread, .build/address: about 2.5 min
# each on 2 cores), so the normal build is untouched. Every process the suite starts (the
# daemon, build-cli, the daemon's config-parser child) writes its reports to
# .build/sanitizer-reports/<sanitizer>.<pid>; the run fails if the suite fails or any
# report was written, and prints the reports' summaries.
set -eu
cd "$(dirname "$0")/.."
sanitizers="${*:-thread address}"
reports="$PWD/.build/sanitizer-reports"
status=0
for sanitizer in $sanitizers; do
    case "$sanitizer" in thread | address) ;; *) echo "sanitize.sh: unknown sanitizer $sanitizer (thread or address)" >&2; exit 64 ;; esac
    rm -rf "$reports/$sanitizer".*
    mkdir -p "$reports"
    swift build --build-tests --sanitize="$sanitizer" --build-path ".build/$sanitizer"
    # die_after_fork=0: the daemon starts builds from a multi-threaded process (spawn uses fork
    # under the sanitizers, see CShims/spawn/bs_spawn.c). handle_segv=0: a crash stays a
    # signal, which is how the daemon tells its config-parser child crashed from "not a config"
    # (and a sanitizer that handles it may spend longer than the daemon waits for the child).
    # Leaks: scripts/lsan-suppressions.txt lists the dependencies' own, each with its reason;
    # fast_unwind_on_malloc=0 gives them whole stacks through libraries without frame pointers
    # (OpenSSL), so a suppression names the caller rather than a bare allocator.
    # The test runner itself is not leak-checked (its test doubles and XCTest's own objects are
    # not the product); every build-service and build-cli process it starts is.
    symbolizer=$(command -v llvm-symbolizer) || { echo "sanitize.sh: llvm-symbolizer is not on PATH (it comes with Swift)" >&2; exit 69; }
    asan="handle_segv=0 fast_unwind_on_malloc=0 log_path=$reports/address external_symbolizer_path=$symbolizer"
    TSAN_OPTIONS="die_after_fork=0 halt_on_error=0 handle_segv=0 log_path=$reports/thread" \
    ASAN_OPTIONS="$asan detect_leaks=0" BUILD_SERVICE_TEST_PRODUCT_ASAN_OPTIONS="$asan detect_leaks=1" \
    LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt print_suppressions=0" \
        swift test --skip-build --sanitize="$sanitizer" --build-path ".build/$sanitizer" || status=1
    found=$(find "$reports" -name "$sanitizer.*" | wc -l)
    if [ "$found" -gt 0 ]; then
        echo "sanitize.sh: $sanitizer: $found report(s) in $reports:" >&2
        grep -h "SUMMARY" "$reports/$sanitizer".* | sort | uniq -c >&2 || true
        status=1
    else
        echo "sanitize.sh: $sanitizer: no reports"
    fi
done
exit $status
