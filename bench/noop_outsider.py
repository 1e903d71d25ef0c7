#!/usr/bin/env python3
"""The no-op round trip measured as an outsider would, with the usual tools instead of our
harness: wrk with a Lua script POSTing the request on keep-alive connections (one connection:
latency; four: throughput), and hyperfine timing whole curl processes. build-service
(`POST /v1/builds` of `true`) and webhook (a hook running /bin/true, answering when it ends),
run by run interleaved, optionally beside a busy loop on every core.

  python3 bench/noop_outsider.py --bin-dir .build/dist [--busy] [--rounds 3] [--json FILE]

Needs wrk, hyperfine, curl and webhook. Nothing is asserted, only printed.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import results  # noqa: E402

BODY = json.dumps({"project_id": "bench", "command": "true"})


def wrk_script(workdir):
    """A POST of the no-op request; webhook ignores the body."""
    path = os.path.join(workdir, "noop.lua")
    with open(path, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n')
    return path


def wrk(url, script, connections, seconds):
    """Requests per second and the median latency in ms (wrk --latency's 50 %)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    median = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if errors:
        sys.exit(f"wrk saw errors against {url}:\n{out}")
    return rate, median


def hyperfine(commands, runs, workdir):
    """Median wall time in ms of each whole command (no shell), hyperfine's own interleaving-free runs."""
    export = os.path.join(workdir, "hyperfine.json")
    subprocess.run(["hyperfine", "-N", "--warmup", "20", "--runs", str(runs), "--export-json", export, "--style", "none"]
                   + commands, check=True, stdout=subprocess.DEVNULL)
    with open(export) as f:
        return [r["median"] * 1000 for r in json.load(f)["results"]]


def measure(daemon_url, hook_url, script, args, workdir, label):
    for connections in (1, 4):
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(wrk(daemon_url, script, connections, args.seconds))
            theirs.append(wrk(hook_url, script, connections, args.seconds))
        rate_o, rate_t = statistics.median(r for r, _ in ours), statistics.median(r for r, _ in theirs)
        lat_o, lat_t = statistics.median(m for _, m in ours), statistics.median(m for _, m in theirs)
        print(f"wrk -t1 -c{connections} -s POST{label}: build-service {rate_o:.0f} req/s (median latency {lat_o:.2f} ms), "
              f"webhook {rate_t:.0f} req/s ({lat_t:.2f} ms); latency ratio {lat_o / lat_t:.2f}x, rate ratio {rate_o / rate_t:.2f}x")
        results.record(args.json, f"no-op round trip, wrk -c{connections} keep-alive POSTs{label}, median latency",
                       lat_o, "webhook", lat_t, "ms", False, 0.9, f"median of {args.rounds} interleaved {args.seconds} s runs",
                       in_readme=False)
    body = os.path.join(workdir, "body.json")
    with open(body, "w") as f:
        f.write(BODY)
    curl = ["curl", "-sS", "-o", "/dev/null", "--data-binary", "@" + body]
    ours, theirs = hyperfine([" ".join(curl + [daemon_url]), " ".join(curl + [hook_url])], args.runs, workdir)
    print(f"hyperfine -N, whole curl process{label}: build-service {ours:.2f} ms, webhook {theirs:.2f} ms, ratio {ours / theirs:.2f}x")
    results.record(args.json, f"no-op round trip, hyperfine of whole curl processes{label}", ours, "webhook", theirs,
                   "ms", False, 0.9, f"median of {args.runs}", in_readme=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.path.join(bench.ROOT, ".build/dist"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=300, help="hyperfine runs per command")
    parser.add_argument("--busy", action="store_true", help="also beside a CPU-bound loop on every core")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    for tool in ["wrk", "hyperfine", "curl", "webhook"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y wrk hyperfine curl webhook")
    workdir = tempfile.mkdtemp(prefix="bs-outsider-")
    daemon = bench.Daemon(args.bin_dir, workdir)
    hook, hook_url = bench.start_webhook(workdir)
    try:
        script = wrk_script(workdir)
        measure(daemon.url, hook_url, script, args, workdir, "")
        if args.busy:
            with bench.BusyNeighbour():
                measure(daemon.url, hook_url, script, args, workdir, ", busy neighbour on every core")
    finally:
        hook.kill()
        hook.wait()
        daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
