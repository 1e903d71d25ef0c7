#!/bin/sh
# make, as seen inside a container: runs the build on the build host through build-cli.
# Install it earlier in PATH than the real make (e.g. as /usr/local/bin/make) and set
# BUILD_SERVICE_PROJECT to the project id the host's build-service knows this tree as.
# Variables named in BUILD_SERVICE_ENV ("CFLAGS LDFLAGS") are sent along whenever they are set,
# so `CFLAGS=-O0 make` works; the host's project must list them in pass_environment.
# Every argument is passed on untouched; the exit status is the build's (64 when
# BUILD_SERVICE_PROJECT is unset: build-cli's usage code, never make's own 1 or 2).
if [ -z "${BUILD_SERVICE_PROJECT:-}" ]; then
    echo "make (build-service wrapper): BUILD_SERVICE_PROJECT is not set; set it to the project id configured on the build host" >&2
    exit 64
fi
BUILD_CLI=${BUILD_CLI:-build-cli}
exec "$BUILD_CLI" --project "$BUILD_SERVICE_PROJECT" make "$@"
