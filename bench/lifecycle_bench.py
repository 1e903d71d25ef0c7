#!/usr/bin/env python3
"""Build lifecycle benchmark for build-service: memory and file descriptors over many builds, a
burst of concurrent builds through the queue, and re-attaching after a dropped connection. Runs the
real binaries (nothing is built) on loopback: HTTP, the socket off, one path project; a fresh daemon
per figure. Helpers come from bench/tls_bench.py.

  python3 bench/lifecycle_bench.py                       # ROOT/.build/release
  python3 bench/lifecycle_bench.py --bindir .build/debug --sequential 300 --concurrent 100

Figures:
  sequential  daemon RSS (VmRSS) and open fds (/proc/PID/fd) before and after N no-op builds (`true`)
              one after another over one keep-alive connection, each stream read to its `exit`;
              "before" follows 200 warm-up builds; each measurement with no client connected, after a
              1 s settle. Target: RSS growth <= 10 %, no fd growth. Finished builds are kept for
              build.retain_sec (3600 s) by design, so this runs twice: with the default, and with
              retain_sec = 5 plus a measurement after 40 s idle (expired builds are forgotten every
              30 s and on each submission): growth left then is not retention. A one-off step of
              ~7 MiB in some runs is a new glibc malloc arena: gone with MALLOC_ARENA_MAX=1 in the
              environment (the daemon inherits this script's).
  concurrent  N client threads POST `sh -c 'echo hi; sleep 0.2'` at once (build.max_concurrent 64,
              max_queued 1000, the project's max_concurrent 1000); all must exit 0 with "hi". RSS and
              fds before (after 20 warm-up builds) and 2 s after the last exit; wall time.
  reattach    a build printing "line 0".."line 249" every 20 ms; after every 10 stdout events the
              connection is reset (SO_LINGER 0) and 100 ms later (so events are waiting) the client
              re-attaches with GET /v1/builds/{id}/events?after=SEQ, timed from the connect to the
              first event line (median, p95; new builds until --reattach-trials re-attaches). Checked:
              each re-attached stream starts at SEQ+1, seqs are contiguous, and the stdout of all
              connections joined is exactly line 0..249 (OK/FAIL).
Nothing is asserted; the targets are printed next to the figures.
"""
import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_bench import ROOT, finish, free_port, http_only_config, launch_daemon, stop_process  # noqa: E402
from repo_bench import stale_sources  # noqa: E402

WARMUP = 200
TICKER = "i=0; while [ $i -lt 250 ]; do echo line $i; i=$((i+1)); sleep 0.02; done"
TICKER_LINES = [f"line {i}" for i in range(250)]
PAUSE = 0.1  # seconds between the reset and the re-attach
JSON = {"Content-Type": "application/json"}


class LifecycleDaemon:
    """build-service with HTTP on a free port and one path project `bench` allowed `true` and `sh`."""

    def __init__(self, bindir, workdir, name, retain_sec=None):
        self.port = free_port()
        project, ws = os.path.join(workdir, "project"), os.path.join(workdir, f"{name}-ws")
        os.makedirs(project, exist_ok=True)
        os.makedirs(ws, exist_ok=True)
        retain = f"retain_sec = {retain_sec}\n" if retain_sec else ""
        config_text = http_only_config(self.port) + f'''[build]
allow_root_builds = true
workspace_root = "{ws}"
max_concurrent = 64
max_queued = 1000
reattach_grace_sec = 30
{retain}[build.commands]
true = "/bin/true"
sh = "/bin/sh"
[build.environment]
allow = ["PATH"]
[[projects]]
id = "bench"
type = "path"
path_root = "{project}"
commands = ["true", "sh"]
max_concurrent = 1000
[logging]
level = "warn"
'''
        self.proc, self.log, self.log_path = launch_daemon(bindir, workdir, name, config_text,
                                                           f"http://127.0.0.1:{self.port}/healthz", "build-service")
        self.pid = self.proc.pid

    def connect(self, timeout=300):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def usage(self, settle=1.0):
        """(VmRSS KiB, open fds) after `settle` seconds."""
        time.sleep(settle)
        with open(f"/proc/{self.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{self.pid}/fd"))

    def held_builds(self):
        """Builds the daemon still holds (GET /v1/builds, capped at its limit of 10,000)."""
        conn = self.connect()
        try:
            conn.request("GET", "/v1/builds?limit=10000")
            return len(json.loads(conn.getresponse().read())["builds"])
        finally:
            conn.close()

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def build_body(command, *args):
    return json.dumps({"project_id": "bench", "command": command, "args": list(args)}).encode()


def next_event(response):
    """The next NDJSON event of a stream, or None at its end."""
    while True:
        line = response.readline()
        if not line:
            return None
        if line.strip():
            return json.loads(line)


def run_build(conn, body):
    """POST /v1/builds on `conn` (kept alive), reads to the `exit` event and the stream's end.
    Returns the exit event (None if the stream ended without one)."""
    conn.request("POST", "/v1/builds", body=body, headers=JSON)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"POST /v1/builds answered {response.status}: {response.read()[:500]!r}")
    while (event := next_event(response)) is not None and event.get("type") != "exit":
        pass
    response.read()  # the last chunk, so that the connection can carry the next request
    return event


def sequential(daemon, n, idle_wait=0):
    """Warm-up, then `n` no-op builds one after another; usage before, after (and after idle_wait s)."""
    conn, body = daemon.connect(), build_body("true")
    failures, connections = 0, 0

    def builds(count):
        nonlocal failures, connections
        for _ in range(count):
            connections += conn.sock is None
            event = run_build(conn, body)
            failures += event is None or event.get("code") != 0

    builds(WARMUP)
    conn.close()
    before = daemon.usage()
    connections = 0
    start = time.perf_counter()
    builds(n)
    elapsed = time.perf_counter() - start
    conn.close()
    result = {"before": before, "after": daemon.usage(), "failures": failures, "rate": n / elapsed,
              "connections": connections}
    if idle_wait:
        result["idle"] = daemon.usage(settle=idle_wait)
    result["held"] = daemon.held_builds()  # last: listing 10,000 builds costs memory of its own
    return result


def concurrent(daemon, n):
    """`n` threads each POST one short build at once and read its stream to `exit`."""
    body = build_body("sh", "-c", "echo hi; sleep 0.2")
    results = [None] * n

    def client(i):
        start = time.perf_counter()
        conn = daemon.connect()
        try:
            conn.request("POST", "/v1/builds", body=body, headers=JSON)
            response = conn.getresponse()
            answered = time.perf_counter() - start
            if response.status != 200:
                results[i] = {"error": f"HTTP {response.status} {response.read()[:200]!r}"}
                return
            out, queued, event = "", False, None
            while (event := next_event(response)) is not None and event.get("type") != "exit":
                out += event.get("data", "") if event.get("type") == "stdout" else ""
                queued |= event.get("status") == "queued"
            results[i] = {"code": event and event.get("code"), "out": out, "queued": queued, "answered": answered}
        except Exception as error:  # noqa: BLE001 (reported, not raised: one thread must not hide the rest)
            results[i] = {"error": repr(error)}
        finally:
            conn.close()

    warm = daemon.connect()
    for _ in range(20):  # the first build opens an epoll fd for good; not what is measured here
        run_build(warm, build_body("true"))
    warm.close()
    before, overflows = daemon.usage(), listen_overflows()
    threading.stack_size(256 * 1024)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    after = daemon.usage(settle=2.0)
    # The daemon returns freed memory to the system every 30 s (malloc_trim): the burst's peak
    # should not stay for good.
    return results, before, after, daemon.usage(settle=35.0), wall, listen_overflows() - overflows


def drop(conn, response):
    """Closes the connection with a reset (SO_LINGER 0), as a client that vanished."""
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    response.close()
    conn.close()


def reattach(daemon, trials):
    """Ticker builds; a reset and a timed re-attach after every 10 stdout events, until `trials`."""
    latencies, problems, builds = [], [], 0
    while len(latencies) < trials:
        builds += 1
        conn = daemon.connect(timeout=60)
        conn.request("POST", "/v1/builds", body=build_body("sh", "-c", TICKER), headers=JSON)
        response = conn.getresponse()
        build_id, seq, out, count, pending, reattached = None, 0, [], 0, None, False
        while True:
            event, pending = pending or next_event(response), None
            if event is None:
                problems.append(f"build {builds}: the stream ended without exit after seq {seq}")
                break
            if event["seq"] != seq + 1:
                problems.append(f"build {builds}: seq {event['seq']} follows {seq}"
                                + (" (the first event after re-attaching)" if reattached else ""))
            seq, build_id, reattached = event["seq"], build_id or event.get("id"), False
            if event["type"] == "exit":
                break
            if event["type"] == "stdout":
                out.append(event["data"])
                count += 1
            elif event["type"] != "build":
                problems.append(f"build {builds}: unexpected event {event}")
            if count == 10 and len(latencies) < trials:
                drop(conn, response)
                time.sleep(PAUSE)  # events are waiting when we come back, so the first is not a live one
                start = time.perf_counter()
                conn = daemon.connect(timeout=60)
                conn.request("GET", f"/v1/builds/{build_id}/events?after={seq}")
                response = conn.getresponse()
                if response.status != 200:
                    problems.append(f"build {builds}: re-attach answered {response.status}: {response.read()[:200]!r}")
                    break
                pending = next_event(response)
                latencies.append(time.perf_counter() - start)
                count, reattached = 0, True
        if event and event["type"] == "exit":
            response.read()
            if event.get("code") != 0:
                problems.append(f"build {builds}: exit event {event}")
        conn.close()
        got = "".join(out).splitlines()
        if got != TICKER_LINES:
            problems.append(f"build {builds}: stdout is {len(got)} lines, not line 0..249 "
                            f"(first {got[:2]}, last {got[-2:]})")
    ms = sorted(x * 1000 for x in latencies)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"median": statistics.median(ms), "p95": p95, "max": ms[-1], "n": len(ms), "builds": builds,
            "problems": problems}


def listen_overflows():
    """Connections this machine's listen queues turned away so far (TcpExt ListenOverflows)."""
    with open("/proc/net/netstat") as f:
        rows = [line.split() for line in f if line.startswith("TcpExt:")]
    return int(rows[1][rows[0].index("ListenOverflows")])


def growth(before, after):
    (rss0, fd0), (rss1, fd1) = before, after
    return f"{rss0 / 1024:7.1f} MiB -> {rss1 / 1024:7.1f} MiB {100 * (rss1 - rss0) / rss0:+6.1f} %   " \
           f"fds {fd0:3d} -> {fd1:3d} ({fd1 - fd0:+d})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bindir", "--bin-dir", default=os.path.join(ROOT, ".build", "release"),
                        help="directory with build-service (default ROOT/.build/release); nothing is built")
    parser.add_argument("--sequential", type=int, default=10000, help="sequential no-op builds per run (10,000)")
    parser.add_argument("--concurrent", type=int, default=1000, help="concurrent builds (1,000)")
    parser.add_argument("--reattach-trials", type=int, default=30, help="timed re-attaches (30)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    args = parser.parse_args()
    bindir = os.path.abspath(args.bindir)
    binary = os.path.join(bindir, "build-service")
    if not os.access(binary, os.X_OK):
        sys.exit(f"build-service not found in {bindir}")
    newer = stale_sources(binary)
    print(f"binary: {binary}" + (f" (WARNING: older than {len(newer)} file(s) under Sources/: "
                                 f"{', '.join(newer[:5])})" if newer else "") + f"; {os.cpu_count()} CPUs")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the clients' sockets; the daemon inherits it
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.concurrent * 2 + 1024)), hard))

    workdir = tempfile.mkdtemp(prefix="bs-lifecycle-bench-")
    daemon, rows = None, []
    started = time.perf_counter()
    try:
        for retain, idle in [(None, 0), (5, 40)]:
            label = f"sequential x{args.sequential:,}, retain_sec {retain or '3600 (default)'}"
            daemon = LifecycleDaemon(bindir, workdir, f"seq-retain-{retain or 'default'}", retain)
            r = sequential(daemon, args.sequential, idle)
            print(f"{label}: {r['rate']:.0f} builds/s over {r['connections']} connection(s), {r['failures']} failed; "
                  f"builds held at the end{f' (after {idle} s idle)' if idle else ''}: {r['held']:,}")
            rows.append((label, growth(r["before"], r["after"])))
            if idle:
                rows.append((f"  the same after {idle} s idle", growth(r["before"], r["idle"])))
            daemon.stop()
            daemon = None

        daemon = LifecycleDaemon(bindir, workdir, "concurrent")
        results, before, after, idle, wall, overflows = concurrent(daemon, args.concurrent)
        bad = [r for r in results if r.get("code") != 0 or r.get("out") != "hi\n"]
        answered = sorted(r["answered"] for r in results if "answered" in r) or [0]
        print(f"concurrent x{args.concurrent:,}: {args.concurrent - len(bad):,} exited 0 with 'hi' "
              f"({'FAIL' if bad else 'OK'}), {sum(1 for r in results if r.get('queued')):,} saw a queued event, "
              f"wall {wall:.2f} s; response headers after {answered[len(answered) // 2] * 1000:.0f} ms (median), "
              f"{answered[-1] * 1000:.0f} ms (max); listen queue overflows {overflows}")
        for r in bad[:5]:
            print(f"  problem ({len(bad)} in all): {r}")
        rows.append((f"concurrent x{args.concurrent:,} (wall {wall:.2f} s, {args.concurrent - len(bad):,} ok)",
                     growth(before, after)))
        rows.append(("  the same after 35 s idle", growth(before, idle)))
        daemon.stop()

        daemon = LifecycleDaemon(bindir, workdir, "reattach")
        r = reattach(daemon, args.reattach_trials)
        status = "OK" if not r["problems"] else "FAIL"
        for problem in r["problems"][:10]:
            print(f"  problem: {problem}")
        rows.append((f"re-attach x{r['n']} over {r['builds']} build(s)",
                     f"median {r['median']:.2f} ms, p95 {r['p95']:.2f} ms, max {r['max']:.2f} ms; "
                     f"seq+1 start, no gap or repeat: {status}"))

        print(f"\nsummary (RSS target: growth <= 10 % with no fd growth; total {time.perf_counter() - started:.0f} s)")
        width = max(len(label) for label, _ in rows)
        for label, text in rows:
            print(f"  {label:<{width}}  {text}")
    finally:
        finish(workdir, args.keep, daemon)


if __name__ == "__main__":
    main()
