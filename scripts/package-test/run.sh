#!/bin/sh
# Boots a real systemd in a container (systemd-nspawn on a Debian 12 root made by mmdebstrap),
# installs the .debs of DEB_DIR there and runs driver.sh inside it. Needs root,
# systemd-container and mmdebstrap. The root is made once (~45 s) and cached in
# .build/package-test/ (never committed); --volatile=overlay leaves it unchanged by a run.
#   sh scripts/package-test/run.sh DEB_DIR OUT_DIR
# Exit status 0 when every check passed; OUT_DIR/results lists them, OUT_DIR/journal.txt is
# the container's journal.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
debs=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
: >"$out/results"
# What the driver needs besides the packages' own dependencies (which must come from the
# root: the container has no network). Changing the list makes a new root.
include="systemd,systemd-sysv,dbus,libssl3,libstdc++6,libgcc-s1,zlib1g,make,git,man-db,openssl,ca-certificates,passwd,procps"
cache="$here/../../.build/package-test"
root="$cache/bookworm-$(printf %s "$include" | sha256sum | cut -c1-12)"
if [ ! -d "$root" ]; then
    # This machine's own mirror: left to itself mmdebstrap adds a security mirror that may
    # not be reachable.
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
    rm -rf "$root.tmp"
    mkdir -p "$cache"
    mmdebstrap --quiet --variant=apt --include="$include" bookworm "$root.tmp" "deb ${mirror:-http://deb.debian.org/debian} bookworm main"
    mv "$root.tmp" "$root"
fi

# nspawn leaves cgroup directories under its caller's: give it private ones (one per
# hierarchy but cpuset, which refuses new members), removed afterwards.
cgroups=""
while IFS=: read -r _ controllers path; do
    case "$controllers" in
    *cpuset*) continue ;;
    "") mount=/sys/fs/cgroup/unified ;;
    name=*) mount=/sys/fs/cgroup/${controllers#name=} ;;
    *) mount=/sys/fs/cgroup/$controllers ;;
    esac
    [ -d "$mount$path" ] || continue
    dir="$mount${path%/}/build-service-package-test-$$"
    mkdir -p "$dir" && echo $$ >"$dir/cgroup.procs" && cgroups="$cgroups $dir"
done </proc/self/cgroup
cleanup() {
    for dir in $cgroups; do
        echo $$ >"$(dirname "$dir")/cgroup.procs" 2>/dev/null || true
        find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    rm -rf /run/systemd/nspawn
}
trap cleanup EXIT

status=0
timeout 600 systemd-nspawn -D "$root" --volatile=overlay --boot --register=no --keep-unit -q \
    --bind-ro="$debs:/debs" --bind-ro="$here:/test" --bind="$out:/out" \
    --bind-ro="$here/driver.service:/etc/systemd/system/driver.service" \
    -- systemd.wants=driver.service </dev/null >"$out/console.txt" 2>&1 || status=$?
cat "$out/results"
[ "$status" -eq 0 ] && ! grep -q '^FAIL' "$out/results" && grep -q '^failures 0$' "$out/results"
