#!/bin/sh
# Builds the documented image (packaging/container/Dockerfile) on the root of debian-root.sh
# with the build-cli package of DEB_DIR, and runs make in it as a container user would: uid
# 4242, the socket's directory mounted at /run/build-service, the socket's group joined by
# number (GID, or - for none), the project at the same path as on the host. Rootful podman with
# runc (crun does not run on this machine's hybrid cgroup layout), no network.
#   sh scripts/package-test/container.sh DEB_DIR SOCKET_DIR PROJECT_DIR GID PROJECT_ID [MAKE ARGS…]
# Prints make's output and exits with its status.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
debs=$1 socket_dir=$2 project=$3 gid=$4 project_id=$5
shift 5
work=$(mktemp -d /tmp/bs-podman-XXXXXX)
# Everything podman keeps goes under $work, networks included: `podman system reset` would
# delete the host's networks, so the cleanup removes only this run's containers and images.
podman() {
    command podman --root "$work/storage" --runroot "$work/run" --tmpdir "$work/tmp" \
        --network-config-dir "$work/networks" --events-backend=file --runtime runc "$@"
}
cleanup() {
    podman rm -af >/dev/null 2>&1 || true
    podman rmi -af >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
# Root cannot raise limits here (no CAP_SYS_RESOURCE): give containers what the host has.
limits="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=32768:32768"
root=$(sh "$here/debian-root.sh")
tar -C "$root" -c . | podman import - localhost/build-service-test-base >/dev/null
mkdir "$work/context"
cp "$here/../../packaging/container/Dockerfile" "$debs"/build-cli_*.deb "$work/context/"
# shellcheck disable=SC2086
# The base image has build-cli's dependencies and the build has no network: no apt-get update.
podman build -q --network=none $limits --build-arg BASE=localhost/build-service-test-base --build-arg APT_UPDATE=no \
    -t localhost/build-service-test-dev "$work/context" >/dev/null
group=""
[ "$gid" = - ] || group="--group-add $gid"
# shellcheck disable=SC2086
podman run --rm --network=none $limits --user 4242:4242 $group \
    -v "$socket_dir:/run/build-service" -v "$project:$project" -w "$project" \
    -e BUILD_SERVICE_PROJECT="$project_id" localhost/build-service-test-dev make "$@"
