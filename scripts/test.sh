#!/bin/sh
# Command two: the whole test suite (unit tests and end-to-end tests against the real binaries).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh --test
swift build --build-tests
swift format lint --strict -r Sources Tests Package.swift
# The packages PackageTests installs under a real systemd (a static release build; no-op when
# nothing changed).
sh scripts/package-deb.sh
swift test --skip-build
