#!/usr/bin/env python3
"""build-service's HTTP layer against Hummingbird 2's, on the same `/healthz`, in one run.

    python3 bench/hummingbird_ab.py BINDIR PROBE [--runs 6] [--seconds 4]

BINDIR holds a release build-service; PROBE is the release binary of bench/hummingbird-probe
(`swift build -c release --package-path bench/hummingbird-probe`), which serves the same small
JSON document from Hummingbird's router and HTTP/1 channel. Plain HTTP, keep-alive, wrk with one
thread: 32 connections (throughput) and 1 connection (latency, as one client sees it), the two
servers alternated run by run. This is the measurement behind the router decision in
docs/architecture.md; the no-op build round trip adds the same process work to both.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tls_bench  # noqa: E402  (Daemon, wrk, interleaved, wait_healthy, free_port)


class Probe:
    def __init__(self, binary, workdir):
        self.port = tls_bench.free_port()
        self.health = f"http://127.0.0.1:{self.port}/healthz"
        log_path = os.path.join(workdir, "probe.log")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([binary, str(self.port)], stdout=subprocess.DEVNULL, stderr=self.log)
        tls_bench.wait_healthy(self.health, self.proc, log_path, "hummingbird probe")

    def stop(self):
        tls_bench.stop_process(self.proc)
        self.log.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bindir")
    parser.add_argument("probe")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bs-hb-")
    ours = tls_bench.Daemon(args.bindir, workdir, None, False, "daemon")
    probe = Probe(args.probe, workdir)
    servers = {"build-service": ours, "hummingbird": probe}
    try:
        for connections in (32, 1):
            for server in servers.values():  # warm-up
                tls_bench.wrk(server.health, 1, connections, 1, close=False)
            samples = tls_bench.interleaved(
                servers, args.runs, lambda s: tls_bench.wrk(s.health, 1, connections, args.seconds, close=False))
            medians = {name: statistics.median(s["rps"] for s in runs) for name, runs in samples.items()}
            print(f"keep-alive GET /healthz, wrk -t1 -c{connections}, {args.runs} x {args.seconds} s interleaved:")
            for name, runs in samples.items():
                problems = "; ".join(p for s in runs for p in s["problems"]) or "none"
                rates = ", ".join("%.0f" % s["rps"] for s in runs)
                p99 = ", ".join(s["p99"] for s in runs)
                print(f"  {name}: median {medians[name]:.0f} req/s (runs {rates}; p99 {p99}; errors: {problems})")
            print(f"  build-service / hummingbird: {medians['build-service'] / medians['hummingbird']:.3f}x")
    finally:
        tls_bench.finish(workdir, False, ours, probe)


if __name__ == "__main__":
    main()
