#!/bin/sh
# Prints the path of a Debian 12 root made by mmdebstrap for the package tests (run.sh boots it
# under systemd-nspawn; container.sh imports it into podman). Made once (~45 s), cached in
# .build/package-test/ (never committed); a changed package list makes a new one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# What the tests need besides the packages' own dependencies (which must come from the root:
# the containers have no network).
include="systemd,systemd-sysv,dbus,libssl3,libstdc++6,libgcc-s1,zlib1g,make,git,man-db,openssl,ca-certificates,passwd,procps"
cache="$here/../../.build/package-test"
root="$cache/bookworm-$(printf %s "$include" | sha256sum | cut -c1-12)"
if [ ! -d "$root" ]; then
    # This machine's own mirror: left to itself mmdebstrap adds a security mirror that may
    # not be reachable.
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)
    mkdir -p "$cache"
    made=$(mktemp -d "$root.XXXXXX")
    mmdebstrap --quiet --variant=apt --include="$include" bookworm "$made" \
        "deb ${mirror:-http://deb.debian.org/debian} bookworm main" >&2
    # Another run may have made it meanwhile: keep theirs.
    mv -T "$made" "$root" 2>/dev/null || rm -rf "$made"
fi
echo "$root"
