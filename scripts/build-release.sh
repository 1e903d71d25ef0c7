#!/bin/sh
# Release binaries that run on a host or in a container without Swift: the Swift runtime and
# Foundation linked in (--static-swift-stdlib), stripped, the debug info kept beside each in
# NAME.debug (found by gdb through the binary's .gnu_debuglink). They depend on glibc, OpenSSL 3
# and three libraries every Debian and Ubuntu system has, slim container images included
# (apt itself needs them): libstdc++6, libgcc-s1 and zlib1g, which the static Swift runtime
# and Foundation link to. The script checks that with ldd and fails on anything else.
#   sh scripts/build-release.sh [OUT]      default OUT: .build/dist
set -eu
cd "$(dirname "$0")/.."
out="${1:-.build/dist}"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit-modified"
fi
# The commit reaches the code as a C macro (CShims/version); a separate build directory keeps
# these objects apart from the development build's.
# --disable-local-rpath: no RUNPATH $ORIGIN. With the Swift libraries linked in there is nothing
# to find beside the binary, and with it the loader looked for each of the seven system
# libraries in a dozen directories under the binary's first (0.65 ms of build-cli's 8.3 ms
# start-up). lld with packed relative relocations (DT_RELR, glibc 2.36): the tens of thousands
# of pointers a position-independent binary fixes up at start are a 10 KB bitmap instead of a
# 1.7 MB table the loader pages in (build-cli --version 6.73 -> 6.40 ms, interleaved).
link="-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs"
# shellcheck disable=SC2086
swift build -c release --static-swift-stdlib --disable-local-rpath --build-path .build/static $link \
    -Xcc "-DBUILD_SERVICE_COMMIT=\"$commit\"" --product build-service
# build-cli also keeps its symbols to itself (no --export-dynamic): the Swift runtime's start-up
# looks its own path up with dladdr, which walks the binary's dynamic symbols (10,000 of them),
# and the loader searched them first for every library's references (no-op build 8.83 -> 8.41
# ms). The daemon keeps them: a crash's backtrace names functions by them.
# shellcheck disable=SC2086
swift build -c release --static-swift-stdlib --disable-local-rpath --build-path .build/static $link \
    -Xlinker --no-export-dynamic -Xcc "-DBUILD_SERVICE_COMMIT=\"$commit\"" --product build-cli
mkdir -p "$out"
for program in build-service build-cli; do
    cp .build/static/release/$program "$out/$program"
    objcopy --only-keep-debug "$out/$program" "$out/$program.debug"
    objcopy --strip-debug --strip-unneeded --add-gnu-debuglink="$out/$program.debug" "$out/$program"
    # Anything else is a dependency a host without Swift may not have. (ldd's own failure
    # must fail the check, not leave an empty list that passes it.)
    if readelf -d "$out/$program" | grep -Eq 'RUNPATH|RPATH'; then
        echo "build-release.sh: $program has a RUNPATH: the loader would search beside it first" >&2
        exit 1
    fi
    libraries=$(ldd "$out/$program") || { echo "build-release.sh: ldd $program failed" >&2; exit 1; }
    others=$(printf '%s\n' "$libraries" | awk '{print $1}' \
        | grep -Ev '^(linux-vdso\.so\.1|(.*/)?ld-linux[-.a-z0-9_]*\.so\.[0-9]+|lib(c|m|dl|rt|pthread|util|resolv)\.so\.[0-9]+|lib(ssl|crypto)\.so\.3|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libz\.so\.1)$' || true)
    if [ -n "$others" ]; then
        echo "build-release.sh: $program needs more than glibc, OpenSSL 3, libstdc++, libgcc_s and zlib: $others" >&2
        exit 1
    fi
done
ls -l "$out"
# The commit given above must be the one they report.
for program in build-service build-cli; do
    version=$("$out/$program" --version)
    echo "$version"
    case "$version" in *"(commit $commit,"*) ;; *) echo "build-release.sh: $program does not report commit $commit" >&2; exit 1 ;; esac
done
