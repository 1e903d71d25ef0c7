#!/bin/sh
# Boots a real systemd in a container (systemd-nspawn on the Debian 12 root of debian-root.sh),
# installs the .debs of DEB_DIR there and runs driver.sh inside it. Needs root,
# systemd-container and mmdebstrap. --volatile=overlay leaves the cached root unchanged.
#   sh scripts/package-test/run.sh DEB_DIR OUT_DIR
# Exit status 0 when every check passed; OUT_DIR/results lists them, OUT_DIR/journal.txt is
# the container's journal.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
debs=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
: >"$out/results"
root=$(sh "$here/debian-root.sh")
machine="build-service-package-test-$$"

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
    # nspawn's propagation directory of this machine only: others' may be in use.
    rm -rf "/run/systemd/nspawn/propagate/$machine"
    rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null || true
}
trap cleanup EXIT

# A network namespace of its own: the driver turns on HTTPS on 0.0.0.0:443 with a known
# token, which must not be the host's port 443.
status=0
timeout -k 10 600 systemd-nspawn -D "$root" --machine="$machine" --private-network --volatile=overlay --boot --register=no --keep-unit -q \
    --bind-ro="$debs:/debs" --bind-ro="$here:/test" --bind="$out:/out" \
    --bind-ro="$here/driver.service:/etc/systemd/system/driver.service" \
    -- systemd.wants=driver.service </dev/null >"$out/console.txt" 2>&1 || status=$?
cat "$out/results"
[ "$status" -eq 0 ] && ! grep -q '^FAIL' "$out/results" && grep -q '^failures 0$' "$out/results"
