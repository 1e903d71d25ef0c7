#!/usr/bin/env python3
"""Where a no-op build's time goes, stage by stage: runs the release daemon at debug level, sends
no-op builds with curl one after another, and prints the median time of each stage of the daemon's
"build stages" trace (request read -> admitted -> spawned -> first output -> exited -> finished ->
last byte), next to curl's own time_total (connect to the last byte) for the same requests.

  python3 bench/noop_stages.py --bin-dir .build/dist [--runs 300] [--busy]

--busy runs a CPU-bound loop on every core meanwhile (a build host's other work). Nothing is asserted.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.path.join(bench.ROOT, ".build/dist"))
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--busy", action="store_true")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bs-stages-")
    daemon = bench.Daemon(args.bin_dir, workdir, level="debug")
    body = json.dumps({"project_id": "bench", "command": "true"})
    totals = []
    try:
        for _ in range(20):  # warm-up
            bench.curl_total(["-N", "--data-binary", body, daemon.url])
        daemon.log.seek(0, os.SEEK_END)
        start = daemon.log.tell()
        neighbour = bench.BusyNeighbour() if args.busy else None
        if neighbour:
            neighbour.__enter__()
        try:
            for _ in range(args.runs):
                totals.append(bench.curl_total(["-N", "--data-binary", body, daemon.url]) * 1000)
        finally:
            if neighbour:
                neighbour.__exit__(None, None, None)
    finally:
        daemon.stop()
    daemon.log.seek(start)
    stages = {}
    for line in daemon.log.read().splitlines():
        if "build stages" not in line:
            continue
        for name, value in re.findall(r"(\w+)=([0-9.]+)ms", line):
            stages.setdefault(name, []).append(float(value))
    print(f"no-op builds over HTTP, {args.runs} in a row{' beside a busy loop on every core' if args.busy else ''}, "
          f"medians in ms since the request was read (daemon's trace, {len(stages.get('last_byte', []))} builds):")
    previous = 0.0
    for name, values in stages.items():
        median = statistics.median(values)
        print(f"  {name:13} {median:6.3f}  (+{median - previous:.3f})")
        previous = median
    print(f"  curl time_total (connect to last byte, the client's view): {statistics.median(totals):.3f}")


if __name__ == "__main__":
    main()
