#!/usr/bin/env python3
"""Benchmarks for build-service (issue: core). Runs the real release binaries on loopback and
prints each figure next to its peer measured in the same run, with the ratio.

  python3 bench/bench.py            # builds release first (swift build -c release)
  python3 bench/bench.py --quick    # fewer runs and smaller outputs, for a smoke check

Not part of the test suite; nothing here is asserted, only printed.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flamegraph  # noqa: E402
import results  # noqa: E402
import tls_bench  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def median_ms(samples):
    return statistics.median(samples) * 1000


def rss_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


class RSSSampler:
    """Samples a process's RSS every 50 ms and keeps the peak (VmHWM is kept too)."""

    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.peak


class Daemon:
    def __init__(self, bindir, workdir, level="info"):
        self.workdir = workdir
        self.socket = os.path.join(workdir, "bs.sock")
        project = os.path.join(workdir, "project")
        os.makedirs(project, exist_ok=True)
        producer = os.path.join(workdir, "produce.sh")
        with open(producer, "w") as f:
            # Printable lines, so JSON escaping costs what it costs for real build logs.
            f.write('#!/bin/sh\nyes "gcc -O2 -c src/module.c -o build/module.o -Iinclude -DNDEBUG" | head -c "$1"\n')
        os.chmod(producer, 0o755)
        self.producer = producer
        self.project = project
        config = os.path.join(workdir, "config.toml")
        with open(config, "w") as f:
            f.write(f'''schema_version = "2"
[service.socket]
path = "{self.socket}"
mode = "0600"
[service.http]
enabled = true
listen_addr = "127.0.0.1:0"
[build]
allow_root_builds = true
# 100 builds at once, as the concurrency figure asks (the defaults queue them: CPUs overall,
# one at a time per path project).
max_concurrent = 100
[build.commands]
true = "/bin/true"
produce = "{producer}"
sleep = "/bin/sleep"
[build.timeouts]
default_sec = 600
max_sec = 3600
[[projects]]
id = "bench"
path_root = "{project}"
commands = ["true", "produce", "sleep"]
max_concurrent = 100
[logging]
level = "{level}"
''')
        self.log = open(os.path.join(workdir, "daemon.log"), "w+")
        self.proc = subprocess.Popen([os.path.join(bindir, "build-service"), "--config", config],
                                     stderr=self.log, stdout=subprocess.DEVNULL)
        self.port = None
        for _ in range(200):
            time.sleep(0.05)
            self.log.seek(0)
            m = re.search(r"address=127\.0\.0\.1:(\d+)", self.log.read())
            if m and os.path.exists(self.socket):
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.log.seek(0)
            sys.exit("daemon did not start:\n" + self.log.read())
        self.url = f"http://127.0.0.1:{self.port}/v1/builds"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class BusyNeighbour:
    """A CPU-bound process per core (a shell busy loop, like `stress -c N`), as another job on a build host."""

    def __enter__(self):
        self.procs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(os.cpu_count() or 1)]
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def curl_total(arguments):
    """curl's own time_total (connect to the last byte of the answer), in seconds: the server's
    round trip without curl's process start, which is the same for both servers."""
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}"] + arguments,
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def start_webhook(workdir):
    hooks = os.path.join(workdir, "hooks.json")
    with open(hooks, "w") as f:
        json.dump([{"id": "noop", "execute-command": "/bin/true", "include-command-output-in-response": True}], f)
    port = 19000 + os.getpid() % 1000
    proc = subprocess.Popen(["webhook", "-hooks", hooks, "-ip", "127.0.0.1", "-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hooks/noop"
    for _ in range(100):
        time.sleep(0.05)
        if subprocess.run(["curl", "-s", "-o", "/dev/null", url]).returncode == 0:
            return proc, url
    proc.kill()
    sys.exit("webhook did not start")


def cpu_time_ns(pid):
    """CPU time of all of a process's threads so far (its children not counted)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that just ended
    return total


def ratio_interval(ours, theirs, resamples=2000):
    """How sure the ratio of the two medians is: a 95 % interval from resampling the rounds
    (each round keeps its pair, so drift in the machine's speed stays paired)."""
    rng = random.Random(1)
    n = len(ours)
    ratios = []
    for _ in range(resamples):
        rounds = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(ours[i] for i in rounds) / statistics.median(theirs[i] for i in rounds))
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def noop_latency(daemon, workdir, runs, json_path=None, label=""):
    """Alternates the two servers request by request, so drift in the machine's speed hits both.
    Also prints each server's own CPU time per request: on two cores, the client competes with it."""
    body = json.dumps({"project_id": "bench", "command": "true"})
    hook, url = start_webhook(workdir)
    ours, theirs = [], []
    ours_cpu, theirs_cpu = 0, 0
    try:
        for _ in range(runs):
            before = cpu_time_ns(daemon.proc.pid)
            ours.append(curl_total(["-N", "--data-binary", body, daemon.url]))
            ours_cpu += cpu_time_ns(daemon.proc.pid) - before
            before = cpu_time_ns(hook.pid)
            theirs.append(curl_total([url]))
            theirs_cpu += cpu_time_ns(hook.pid) - before
    finally:
        hook.kill()
    o, t = median_ms(ours), median_ms(theirs)
    low, high = ratio_interval(ours, theirs)
    print(f"no-op build over HTTP (curl's time_total: connect to last byte, median of {runs}, interleaved): build-service {o:.2f} ms, webhook {t:.2f} ms, "
          f"ratio {o / t:.3f}x (target <= 0.9x; 95 % interval {low:.3f}-{high:.3f})")
    results.record(json_path, f"no-op build round trip, curl over HTTP{label}", o, "webhook", t, "ms", False, 0.9,
                   f"median of {runs} interleaved")
    print(f"  server CPU per request (all threads, the build's process not counted): build-service "
          f"{ours_cpu / runs / 1000:.0f} us, webhook {theirs_cpu / runs / 1000:.0f} us")


def cli_latency(daemon, bindir, runs):
    cli = os.path.join(bindir, "build-cli")
    samples = [timed([cli, "--socket", daemon.socket, "--project", "bench", "true"], cwd=daemon.project) for _ in range(runs)]
    print(f"build-cli no-op over the socket (whole process, median of {runs}): {median_ms(samples):.2f} ms")


def throughput(daemon, bindir, size, repeats=3, json_path=None):
    """Median of `repeats` runs each, interleaved, so one slow moment of the machine does not decide."""
    mib = size / (1 << 20)
    cli = os.path.join(bindir, "build-cli")
    clients = {
        "build-cli over the socket": [cli, "--socket", daemon.socket, "--project", "bench", "produce", str(size)],
        "curl over HTTP": ["curl", "-sS", "-N", "--data-binary",
                           json.dumps({"project_id": "bench", "command": "produce", "args": [str(size)]}), daemon.url],
    }
    raw, seconds, peaks = [], {name: [] for name in clients}, {name: 0 for name in clients}
    growths = {name: 0 for name in clients}
    for _ in range(repeats):
        raw.append(timed(["sh", "-c", f"{daemon.producer} {size} | cat >/dev/null"]))
        for name, cmd in clients.items():
            base = rss_kib(daemon.proc.pid)
            sampler = RSSSampler(daemon.proc.pid)
            seconds[name].append(timed(cmd, cwd=daemon.project))
            peak = sampler.stop()
            peaks[name] = max(peaks[name], peak)
            growths[name] = max(growths[name], peak - base)
    raw_s = statistics.median(raw)
    print(f"output relay, {mib:.0f} MiB, median of {repeats}: raw pipe (producer | cat) {mib / raw_s:.0f} MiB/s")
    for name in clients:
        s = statistics.median(seconds[name])
        results.record(json_path, f"output relay of {mib:.0f} MiB in 61-byte lines, {name}", mib / s, "raw pipe",
                       mib / raw_s, "MiB/s", True, 0.8, f"median of {repeats}")
        print(f"  {name}: {mib / s:.0f} MiB/s, ratio {raw_s / s:.2f}x of the raw pipe (target >= 0.8x), "
              f"daemon peak RSS {peaks[name] / 1024:.1f} MiB (target <= 64), at most +{growths[name] / 1024:.1f} MiB "
              f"during one relay")
    print(f"  (finished builds keep up to build.event_buffer_bytes = 8 MiB of events each for retain_sec, "
          f"for re-attaching clients: after {2 * repeats} such builds the daemon holds "
          f"{rss_kib(daemon.proc.pid) / 1024:.1f} MiB)")


def slow_client(daemon, size, seconds):
    body = json.dumps({"project_id": "bench", "command": "produce", "args": [str(size)]})
    sampler = RSSSampler(daemon.proc.pid)
    proc = subprocess.Popen(["curl", "-sS", "-N", "--limit-rate", "1M", "--data-binary", body, daemon.url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.kill()
    proc.wait()
    peak = sampler.stop()
    print(f"slow client (curl --limit-rate 1M) on a {size >> 20} MiB build, watched for {seconds} s: "
          f"daemon peak RSS {peak / 1024:.1f} MiB (target <= 64); the build is held back, not buffered")


def concurrent_sleeps(daemon, count):
    body = json.dumps({"project_id": "bench", "command": "sleep", "args": ["1"]})
    sampler = RSSSampler(daemon.proc.pid)
    start = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sS", "-N", "--data-binary", body, daemon.url],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(count)]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    peak = sampler.stop()
    ok = sum(1 for out in outputs if b'"type":"exit","code":0' in out)
    print(f"{count} concurrent 'sleep 1' builds: {ok}/{count} exited 0, wall {wall:.2f} s (target <= 3 s), "
          f"daemon peak RSS {peak / 1024:.1f} MiB")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--only-noop", action="store_true", help="just the no-op latency comparison")
    parser.add_argument("--only-relay", action="store_true", help="just the output relay comparison")
    parser.add_argument("--json", metavar="FILE", help="also append the no-op and relay figures to FILE (JSON Lines)")
    parser.add_argument("--busy", action="store_true", help="the no-op figure again with a CPU-bound loop on every core")
    parser.add_argument("--bin-dir", help="use the binaries in DIR (e.g. .build/dist); no swift invocation at all")
    parser.add_argument("--profile", metavar="DIR", help="also record a perf profile of the daemon for the no-op "
                        "(200 builds) and the relay (one, curl over HTTP): DIR/noop.svg, DIR/relay.svg")
    args = parser.parse_args()
    for tool in ["curl", "webhook"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y curl webhook")
    bindir = tls_bench.release_bindir(args.bin_dir, args.no_build)
    workdir = tempfile.mkdtemp(prefix="bs-bench-")
    daemon = Daemon(bindir, workdir)
    try:
        runs = 20 if args.quick else 100
        if not args.only_relay:
            # More rounds than elsewhere: the two servers are within a few percent of each other.
            noop_latency(daemon, workdir, runs if args.quick else 300, args.json)
            body = json.dumps({"project_id": "bench", "command": "true"})
            flamegraph.profile(daemon.proc.pid, args.profile, "noop",
                    lambda: [curl_total(["-N", "--data-binary", body, daemon.url]) for _ in range(200)])
            if args.busy:
                with BusyNeighbour():
                    noop_latency(daemon, workdir, runs if args.quick else 300, args.json, ", busy neighbour on every core")
        if args.only_noop:
            return
        if args.only_relay:
            size = (32 if args.quick else 512) << 20
            throughput(daemon, bindir, size, json_path=args.json)
            body = json.dumps({"project_id": "bench", "command": "produce", "args": [str(size)]})
            flamegraph.profile(daemon.proc.pid, args.profile, "relay",
                    lambda: subprocess.run(["curl", "-sS", "-N", "-o", "/dev/null", "--data-binary", body, daemon.url], check=True))
            return
        cli_latency(daemon, bindir, runs)
        throughput(daemon, bindir, (32 if args.quick else 512) << 20, json_path=args.json)
        slow_client(daemon, 256 << 20, 5 if args.quick else 20)
        concurrent_sleeps(daemon, 100)
    finally:
        daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
