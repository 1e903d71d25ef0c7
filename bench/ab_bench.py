#!/usr/bin/env python3
"""A/B of two build-service builds on the no-op round trip, in one run.

    python3 bench/ab_bench.py OLD_BINDIR NEW_BINDIR [--rounds 300] [--key]

Starts each daemon (release binaries from OLD_BINDIR and NEW_BINDIR) on the same project and
sends the same requests to both, alternating request by request so drift in the machine's
speed hits both alike. Each request is a no-op build over HTTP with curl, of three kinds: `true`
in the root, `true` with a `cwd` (the path resolution), and `make -s -C sub noop` (make's
argument policy, the path checks and the rewritten command line). Prints medians, the ratio
new/old and a 95 % interval for it.

With --key, NEW's requests carry an Idempotency-Key header (a fresh one each time) and OLD's do
not: give the same directory twice to measure what a key costs.
"""
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def start(bindir, workdir, name):
    project = os.path.join(workdir, "project")
    config = os.path.join(workdir, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f'''schema_version = "2"
[service.socket]
path = "{workdir}/{name}.sock"
mode = "0600"
[service.http]
enabled = true
listen_addr = "127.0.0.1:0"
[build]
allow_root_builds = true
max_concurrent = 8
[build.commands]
true = "/bin/true"
make = "/usr/bin/make"
[[projects]]
id = "bench"
path_root = "{project}"
commands = ["true", "make"]
max_concurrent = 8
[logging]
level = "warn"
''')
    log = open(os.path.join(workdir, f"{name}.log"), "w+")
    # warn: the port is logged at info; start at info, read it, that is all the log is for.
    proc = subprocess.Popen([os.path.join(bindir, "build-service"), "--config", config],
                            stderr=log, stdout=subprocess.DEVNULL, env={**os.environ, "BUILD_SERVICE_LOG_LEVEL": "info"})
    for _ in range(200):
        time.sleep(0.05)
        log.seek(0)
        m = re.search(r"address=127\.0\.0\.1:(\d+)", log.read())
        if m:
            return proc, f"http://127.0.0.1:{m.group(1)}/v1/builds"
    sys.exit(f"{name} did not start")


def timed(body, url, key=None):
    headers = ["-H", f"Idempotency-Key: {key}"] if key else []
    start = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "-N", "--data-binary", body, *headers, url], capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - start
    if '"code":0' not in out.splitlines()[-1]:
        sys.exit(f"not a successful build: {out}")
    return elapsed


def interval(new, old, resamples=2000):
    rng = random.Random(1)
    n = len(new)
    ratios = sorted(
        statistics.median(new[i] for i in idx) / statistics.median(old[i] for i in idx)
        for idx in ([rng.randrange(n) for _ in range(n)] for _ in range(resamples)))
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def main():
    old_bin, new_bin = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 300
    with_key = "--key" in sys.argv
    workdir = tempfile.mkdtemp(prefix="bs-ab-")
    os.makedirs(os.path.join(workdir, "project", "sub"))
    with open(os.path.join(workdir, "project", "sub", "Makefile"), "w") as f:
        f.write("noop:\n\t@:\n")
    old, old_url = start(old_bin, workdir, "old")
    new, new_url = start(new_bin, workdir, "new")
    kinds = {
        "true": {"project_id": "bench", "command": "true"},
        "true, cwd sub": {"project_id": "bench", "command": "true", "cwd": "sub"},
        "make -s -C sub noop": {"project_id": "bench", "command": "make", "args": ["-s", "-C", "sub", "noop"]},
    }
    try:
        for name, request in kinds.items():
            body = json.dumps(request)
            a, b = [], []
            for round_number in range(rounds):
                key = f"bench-{name}-{round_number}" if with_key else None
                # Alternate which goes first, too.
                if round_number % 2:
                    a.append(timed(body, old_url))
                    b.append(timed(body, new_url, key))
                else:
                    b.append(timed(body, new_url, key))
                    a.append(timed(body, old_url))
            mo, mn = statistics.median(a) * 1000, statistics.median(b) * 1000
            low, high = interval(b, a)
            print(f"{name:22s} old {mo:.3f} ms  new {mn:.3f} ms  new/old {mn / mo:.3f}x (95 % interval {low:.3f}-{high:.3f}; "
                  f"median of {rounds}, interleaved)")
    finally:
        for proc in (old, new):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
