#!/bin/sh
# Installs the Debian packages build-service needs to build and test, if any are missing.
# Used by scripts/demo.sh, and with --test by scripts/test.sh (and so .ci/run). Needs root (or
# sudo) only when something is missing.
set -eu
PACKAGES="libssl-dev zlib1g-dev openssl pkg-config make git curl wget unzip socat procps ca-certificates python3 systemd"
# The test suite also makes the Debian packages (scripts/package-deb.sh), boots them under a
# real systemd in a container (scripts/package-test/run.sh) and runs build-cli in podman
# (scripts/package-test/container.sh), and opens the build pages in headless Chromium
# (Tests/Browser/browse.py).
if [ "${1:-}" = --test ]; then
    PACKAGES="$PACKAGES dpkg-dev binutils pandoc lintian systemd-container mmdebstrap util-linux iproute2 podman runc chromium fonts-dejavu-core strace"
fi
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
