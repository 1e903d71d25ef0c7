#!/usr/bin/env python3
"""build-cli's whole-process cost (issue 19): a no-op build through build-cli over the Unix
socket against socat sending the original's one-line JSON request on the same socket, and
build-cli --version (startup alone), and against curl sending a no-op to webhook (the tool an
outsider would script instead: its whole process, curl's start-up included), interleaved, median
of --runs (200). Uses the static release binaries of scripts/build-release.sh (.build/dist).

  python3 bench/cli_bench.py [--runs 200] [--bindir .build/dist]

Not part of the test suite; nothing here is asserted, only printed.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flamegraph  # noqa: E402
import results  # noqa: E402
from bench import start_webhook  # noqa: E402
from tls_bench import build_and_project_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command, **kw):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def profile_startup(cli, socket_path, project, stem):
    """perf record (DWARF call stacks, every process of the loop) of 100 no-op builds through `cli`;
    the flame graph keeps build-cli's own samples."""
    data = stem + ".perf.data"
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    loop = f'for i in $(seq 100); do "{cli}" --socket "{socket_path}" --project bench true; done'
    subprocess.run(["perf", "record", "-q", "-F", "20000", "--call-graph", "dwarf,16384", "-o", data, "--",
                    "sh", "-c", loop], cwd=project, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = subprocess.run(["perf", "script", "-i", data, "--comm", "build-cli"], capture_output=True, text=True,
                            errors="replace").stdout
    stacks = flamegraph.demangle(flamegraph.fold(script))
    with open(stem + ".folded", "w") as f:
        f.writelines(f"{stack} {count}\n" for stack, count in stacks.most_common())
    with open(stem + ".svg", "w") as f:
        f.write(flamegraph.svg(stacks, f"build-cli start-up, 100 no-op builds over the socket ({os.path.basename(cli)})"))
    with open(stem + ".top.txt", "w") as f:
        f.write(flamegraph.top_leaves(stacks))
    os.unlink(data)
    print(f"  profile: {stem}.svg")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--bindir", default=os.path.join(ROOT, ".build/dist"))
    parser.add_argument("--profile", metavar="DIR", help="also record perf profiles of 100 no-op builds through "
                        "build-cli (and through --also): DIR/cli-startup[-also].svg, .folded, .top.txt")
    parser.add_argument("--json", metavar="FILE", help="also append the start-up figure to FILE (JSON Lines)")
    parser.add_argument("--also", help="another build-cli binary, timed in the same rounds (an A/B of two builds)")
    args = parser.parse_args()
    # The clients run in the project directory.
    args.bindir = os.path.abspath(args.bindir)
    args.also = args.also and os.path.abspath(args.also)
    workdir = tempfile.mkdtemp(prefix="bs-cli-bench-")
    socket_path = os.path.join(workdir, "bs.sock")
    project = os.path.join(workdir, "project")
    os.makedirs(project)
    config = os.path.join(workdir, "config.toml")
    with open(config, "w") as f:
        f.write(f'''schema_version = "2"
[service.socket]
path = "{socket_path}"
mode = "0600"
[artifacts]
storage_root = "{workdir}/artifacts"
''' + build_and_project_config(workdir, project, {"true": "/bin/true"}))
    daemon = subprocess.Popen([os.path.join(args.bindir, "build-service"), "--config", config],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    webhook = None
    try:
        webhook, webhook_url = start_webhook(workdir)
        for _ in range(100):
            if os.path.exists(socket_path):
                break
            time.sleep(0.05)
        cli = os.path.join(args.bindir, "build-cli")
        line = json.dumps({"project_id": "bench", "command": "true"}) + "\n"
        samples = {"build-cli no-op build": [], "socat legacy line": [], "curl -> webhook no-op": [],
                   "build-cli --version": []}
        if args.also:
            samples["--also no-op build"] = []
        for _ in range(args.runs):
            samples["build-cli no-op build"].append(
                timed([cli, "--socket", socket_path, "--project", "bench", "true"], cwd=project))
            if args.also:
                samples["--also no-op build"].append(
                    timed([args.also, "--socket", socket_path, "--project", "bench", "true"], cwd=project))
            samples["socat legacy line"].append(
                timed(["socat", "-t", "30", "-", "UNIX-CONNECT:" + socket_path], input=line.encode()))
            samples["curl -> webhook no-op"].append(timed(["curl", "-sS", "-o", "/dev/null", webhook_url]))
            samples["build-cli --version"].append(timed([cli, "--version"]))
        medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
        socat = medians["socat legacy line"]
        print(f"{os.cpu_count()} CPUs, median of {args.runs}, interleaved:")
        webhook_ms = medians["curl -> webhook no-op"]
        for name, value in medians.items():
            print(f"  {name}: {value:.2f} ms ({value / socat:.2f}x socat, {value / webhook_ms:.2f}x curl -> webhook)")
        if args.profile:
            for suffix, binary in [("", cli)] + ([("-also", args.also)] if args.also else []):
                profile_startup(binary, socket_path, project, os.path.join(args.profile, "cli-startup" + suffix))
        results.record(args.json, "build-cli no-op build over the socket, whole process", medians["build-cli no-op build"],
                       "socat", socat, "ms", False, 2.0, f"median of {args.runs} interleaved")
        results.record(args.json, "build-cli no-op build over the socket vs curl to webhook, whole processes",
                       medians["build-cli no-op build"], "curl -> webhook", webhook_ms, "ms", False, 1.0,
                       f"median of {args.runs} interleaved")
    finally:
        if webhook:
            webhook.terminate()
            webhook.wait(timeout=10)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
