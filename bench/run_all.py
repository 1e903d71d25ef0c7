#!/usr/bin/env python3
"""The performance figures of issue 21 in one run, each with its peer measured beside it, written
to a JSON Lines file that bench/readme_table.py turns into the README's table:

  4 KiB artifact GETs      vs nginx   (artifact_bench.py --only small: HTTPS and HTTP, 32 and 1 connections)
  no-op build round trip   vs webhook (bench.py --only-noop, idle and with a busy neighbour on every core;
                                       noop_outsider.py: wrk -s POSTs and hyperfine, as an outsider measures,
                                       written to the JSON but not to README's table)
  output relay             vs a raw pipe (bench.py --only-relay: build-cli over the socket, curl over HTTP)
  build-cli start-up       vs socat, and vs curl -> webhook (cli_bench.py: whole processes)

  python3 bench/run_all.py --bin-dir .build/dist [--quick] [--profile DIR] [--json FILE] [--readme]

--profile DIR also records perf flame graphs: of the daemon for the artifact scenarios (see
artifact_bench.py), the no-op and the relay (bench.py), and of build-cli's start-up (cli_bench.py). --readme writes the table into README.md when the run is done.
Needs what the scripts need: nginx-light, wrk, webhook, socat, hyperfine, curl, openssl (and linux-perf
for --profile). Nothing is asserted; run it on an otherwise quiet machine, never beside a build.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.path.join(os.path.dirname(HERE), ".build/dist"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", metavar="DIR")
    parser.add_argument("--json", metavar="FILE", default=os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S") + ".jsonl"))
    parser.add_argument("--readme", action="store_true", help="write the table into README.md afterwards")
    parser.add_argument("--steps", default="artifacts,noop,outsider,relay,cli",
                        help="which of artifacts,noop,outsider,relay,cli to run (default all); --keep-json adds to FILE")
    parser.add_argument("--keep-json", action="store_true", help="append to FILE instead of starting it anew")
    args = parser.parse_args()
    # The scripts run their clients in other directories.
    args.bin_dir = os.path.abspath(args.bin_dir)
    wanted = set(args.steps.split(","))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    if os.path.exists(args.json) and not args.keep_json:
        os.unlink(args.json)
    quick = ["--quick"] if args.quick else []
    profile = ["--profile", args.profile] if args.profile else []
    steps = [
        ["artifacts", "artifact_bench.py", "--bin-dir", args.bin_dir, "--only", "small", "--json", args.json] + quick + profile,
        ["noop", "bench.py", "--bin-dir", args.bin_dir, "--only-noop", "--busy", "--json", args.json] + quick + profile,
        ["outsider", "noop_outsider.py", "--bin-dir", args.bin_dir, "--busy", "--json", args.json]
        + (["--rounds", "1", "--seconds", "2", "--runs", "50"] if args.quick else ["--rounds", "5"]),
        ["relay", "bench.py", "--bin-dir", args.bin_dir, "--only-relay", "--json", args.json] + quick + profile,
        ["cli", "cli_bench.py", "--bindir", args.bin_dir, "--json", args.json] + (["--runs", "50"] if args.quick else []) + profile,
    ]
    for name, script, *arguments in steps:
        if name not in wanted:
            continue
        print(f"== {script} {' '.join(arguments)}", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, script)] + arguments, check=True)
    print(f"figures: {args.json}")
    if args.readme:
        subprocess.run([sys.executable, os.path.join(HERE, "readme_table.py"), args.json], check=True)


if __name__ == "__main__":
    main()
