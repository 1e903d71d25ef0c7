#!/bin/sh
# Command one: from a fresh Debian 12 machine with Swift to a running demo. Installs what is
# missing, builds, starts build-service on a throw-away configuration (temporary socket, a
# free port serving HTTPS with a freshly made development certificate and a random token, one
# sample project), runs builds through build-cli and curl, and stops it again.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
sh scripts/install-deps.sh
echo "== building (first build takes a few minutes)"
swift build
BIN=$(swift build --show-bin-path)

DEMO=$(mktemp -d /tmp/build-service-demo.XXXXXX)
DAEMON=""
cleanup() {
    if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
        kill -TERM "$DAEMON"
        wait "$DAEMON" 2>/dev/null || true
    fi
    rm -rf "$DEMO"
}
trap cleanup EXIT INT TERM

mkdir -p "$DEMO/project/src"
cat >"$DEMO/project/Makefile" <<'MAKEFILE'
all: hello
	@echo "build finished in $$(pwd)"

hello: src/hello.c
	@echo "compiling src/hello.c (as $$USER)"
	@cc -o hello src/hello.c
	@./hello
	@echo "a warning, on stderr" >&2

fail:
	@echo "this target fails with exit code 7" >&2
	@exit 7

clean:
	@rm -f hello
MAKEFILE
cat >"$DEMO/project/src/hello.c" <<'C'
#include <stdio.h>
int main(void) { printf("héllo from the build host ✓\n"); return 0; }
C
echo "== a development CA and a server certificate for localhost (certs/make-dev-certs.sh)"
sh "$ROOT/certs/make-dev-certs.sh" --out "$DEMO/certs" >/dev/null
# A random token, known only to this demo (never logged by the daemon).
TOKEN=$(openssl rand -hex 24)
printf '%s\n' "$TOKEN" >"$DEMO/tokens"
chmod 600 "$DEMO/tokens"

cat >"$DEMO/config.toml" <<TOML
schema_version = "2"

[service.socket]
enabled = true
path = "$DEMO/build-service.sock"
mode = "0600"

[service.http]
enabled = true
listen_addr = "127.0.0.1:0"

[service.http.auth]
type = "bearer"
required = true
tokens_file = "$DEMO/tokens"

[service.http.tls]
enabled = true
cert_path = "$DEMO/certs/server.pem"
key_path = "$DEMO/certs/server.key"

[build]
workspace_root = "$DEMO/workspaces"
# The demo builds in a throw-away directory as whoever runs it; a real host sets run_as_user.
allow_root_builds = true

[build.commands]
make = "$(command -v make)"

[build.timeouts]
default_sec = 60
max_sec = 300

[build.environment]
allow = ["PATH", "LANG"]

[[projects]]
id = "demo"
type = "path"
path_root = "$DEMO/project"
commands = ["make"]
# Collected after each successful build and listed, with download URLs, in its exit event.
artifacts = ["hello"]

[artifacts]
storage_root = "$DEMO/artifacts"
TOML

echo "== build-service check-config"
"$BIN/build-service" check-config --config "$DEMO/config.toml"

echo "== starting build-service"
"$BIN/build-service" --config "$DEMO/config.toml" 2>"$DEMO/daemon.log" &
DAEMON=$!
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DEMO/daemon.log" | head -n 1)
    [ -n "$PORT" ] && [ -S "$DEMO/build-service.sock" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$DEMO/daemon.log"; echo "build-service did not start" >&2; exit 1; }
echo "listening on $DEMO/build-service.sock and https://localhost:$PORT"

echo
echo "== build-cli over the Unix socket: make all"
cd "$DEMO/project"
status=0
"$BIN/build-cli" --socket "$DEMO/build-service.sock" --project demo make all || status=$?
echo "-> exit code $status"

echo
echo "== the make wrapper, as a container would use it: make fail"
status=0
BUILD_SERVICE_PROJECT=demo BUILD_SERVICE_SOCKET="$DEMO/build-service.sock" BUILD_CLI="$BIN/build-cli" \
    sh "$ROOT/scripts/make-wrapper.sh" fail || status=$?
echo "-> exit code $status"

echo
echo "== build-cli over HTTPS (certificate verified against the demo CA, bearer token): make all"
status=0
BUILD_SERVICE_TOKEN="$TOKEN" "$BIN/build-cli" --endpoint "https://localhost:$PORT" --cacert "$DEMO/certs/ca.pem" \
    --project demo make all || status=$?
echo "-> exit code $status"

echo
echo "== curl over HTTPS: the raw NDJSON event stream"
curl -sS -N --cacert "$DEMO/certs/ca.pem" "https://localhost:$PORT/v1/builds" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"schema_version":"2","project_id":"demo","command":"make","args":["clean","all"]}'

echo
echo "== the artifact: its signed URL from that exit event, fetched with curl and no token"
URL=$(curl -sS -N --cacert "$DEMO/certs/ca.pem" "https://localhost:$PORT/v1/builds" -H "Authorization: Bearer $TOKEN" \
    -d '{"project_id":"demo","command":"make","args":["all"]}' | tail -n 1 | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
echo "$URL"
curl -sS -f --cacert "$DEMO/certs/ca.pem" -o "$DEMO/hello.curl" "$URL"
curl -sS -I --cacert "$DEMO/certs/ca.pem" "$URL" | grep -i -E '^(HTTP|content-length|etag|accept-ranges)'

echo
echo "== build-cli --download: build, then fetch and verify (size, sha256) every artifact"
BUILD_SERVICE_TOKEN="$TOKEN" "$BIN/build-cli" --endpoint "https://localhost:$PORT" --cacert "$DEMO/certs/ca.pem" \
    --project demo --download "$DEMO/downloads" make all
cmp "$DEMO/downloads/hello" "$DEMO/project/hello" && cmp "$DEMO/hello.curl" "$DEMO/project/hello" &&
    echo "downloads verified: identical to the built $DEMO/project/hello"

echo
echo "== refused requests: no token, then make -C /etc"
curl -sS --cacert "$DEMO/certs/ca.pem" "https://localhost:$PORT/v1/builds" -d '{"project_id":"demo","command":"make"}'
curl -sS --cacert "$DEMO/certs/ca.pem" "https://localhost:$PORT/v1/builds" -H "Authorization: Bearer $TOKEN" \
    -d '{"project_id":"demo","command":"make","args":["-C","/etc"]}'

echo
echo "== stopping build-service (SIGTERM)"
kill -TERM "$DAEMON"
wait "$DAEMON" || true
DAEMON=""
echo "== daemon log"
cat "$DEMO/daemon.log"
