#!/usr/bin/env python3
"""Deployment figures (issue 18): the static release build (scripts/build-release.sh, in
.build/dist: Swift runtime linked in, stripped) against the toolchain-linked one
(`swift build -c release`, .build/release), in the same run, interleaved round by round:

- binary sizes (and the toolchain-linked ones stripped, for a like-for-like figure);
- cold start: from exec to READY=1 on $NOTIFY_SOCKET, and to the end of the first build (a
  no-op over the Unix socket), whole process, a fresh daemon each round, median of 20;
- the no-op round trip over the Unix socket on a running daemon (a Python client, no process
  spawn in the loop), median of many, ratio static / toolchain-linked (target: within 3 %).

Each is measured on a quiet machine and with a busy neighbour (one process spinning on a core).

  python3 bench/deployment_bench.py [--rounds 20] [--requests 400] [--no-build]

Not part of the test suite; nothing here is asserted, only printed.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = {"static": os.path.join(ROOT, ".build/dist"), "toolchain-linked": os.path.join(ROOT, ".build/release")}


def config_text(workdir, project):
    return f'''schema_version = "2"
[service.socket]
path = "{os.path.join(workdir, 'bs.sock')}"
mode = "0600"
[service.http]
enabled = true
listen_addr = "127.0.0.1:0"
[build]
allow_root_builds = true
workspace_root = "{os.path.join(workdir, 'ws')}"
[build.commands]
true = "/bin/true"
[build.environment]
allow = ["PATH"]
[artifacts]
storage_root = "{os.path.join(workdir, 'artifacts')}"
[[projects]]
id = "bench"
path_root = "{project}"
commands = ["true"]
[logging]
level = "warn"
'''


def noop_build(path):
    """One no-op build over the Unix socket (HTTP/1.1, Connection: close); returns when its
    exit event has arrived."""
    body = json.dumps({"project_id": "bench", "command": "true"}).encode()
    head = (f"POST /v1/builds HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(path)
        client.sendall(head + body)
        received = b""
        while b'"type":"exit"' not in received:
            chunk = client.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed before the exit event: " + received[-300:].decode(errors="replace"))
            received += chunk


class Daemon:
    def __init__(self, bindir, workdir):
        self.workdir = workdir
        self.socket = os.path.join(workdir, "bs.sock")
        project = os.path.join(workdir, "project")
        os.makedirs(project, exist_ok=True)
        config = os.path.join(workdir, "config.toml")
        with open(config, "w") as f:
            f.write(config_text(workdir, project))
        self.notify_path = os.path.join(workdir, "notify.sock")
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        self.log = open(os.path.join(workdir, "daemon.log"), "a")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([os.path.join(bindir, "build-service"), "--config", config],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self):
        while True:
            message = self.notify.recv(4096).decode()
            if "READY=1" in message:
                return time.perf_counter() - self.started

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.notify.close()
        self.log.close()


def cold_starts(workdir, rounds):
    ready = {name: [] for name in VARIANTS}
    first_build = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, bindir in VARIANTS.items():
            directory = os.path.join(workdir, name)
            shutil.rmtree(directory, ignore_errors=True)
            os.makedirs(directory)
            daemon = Daemon(bindir, directory)
            try:
                ready[name].append(daemon.wait_ready())
                noop_build(daemon.socket)
                first_build[name].append(time.perf_counter() - daemon.started)
            finally:
                daemon.stop()
    return ready, first_build


def round_trips(workdir, requests):
    daemons = {}
    samples = {name: [] for name in VARIANTS}
    try:
        for name, bindir in VARIANTS.items():
            directory = os.path.join(workdir, name + "-running")
            os.makedirs(directory, exist_ok=True)
            daemons[name] = Daemon(bindir, directory)
            daemons[name].wait_ready()
        for name in VARIANTS:
            for _ in range(20):
                noop_build(daemons[name].socket)  # warm-up
        for _ in range(requests):
            for name, daemon in daemons.items():
                start = time.perf_counter()
                noop_build(daemon.socket)
                samples[name].append(time.perf_counter() - start)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return samples


def ms(samples):
    return statistics.median(samples) * 1000


def report(title, samples):
    static, linked = ms(samples["static"]), ms(samples["toolchain-linked"])
    print(f"  {title}: static {static:.2f} ms, toolchain-linked {linked:.2f} ms, ratio {static / linked:.3f}x")


def sizes():
    print("binary sizes (bytes):")
    for program in ["build-service", "build-cli"]:
        static = os.path.getsize(os.path.join(VARIANTS["static"], program))
        linked_path = os.path.join(VARIANTS["toolchain-linked"], program)
        linked = os.path.getsize(linked_path)
        with tempfile.NamedTemporaryFile() as stripped:
            subprocess.run(["strip", "-o", stripped.name, linked_path], check=True)
            linked_stripped = os.path.getsize(stripped.name)
        print(f"  {program}: static stripped {static / 1e6:.1f} MB; toolchain-linked {linked / 1e6:.1f} MB "
              f"({linked_stripped / 1e6:.1f} MB stripped, plus the toolchain's libraries)")


def measure(workdir, args, label):
    print(f"{label}:")
    ready, first = cold_starts(workdir, args.rounds)
    report(f"exec to READY=1 (median of {args.rounds})", ready)
    report(f"exec to the first build's exit (median of {args.rounds})", first)
    trips = round_trips(workdir, args.requests)
    report(f"no-op build round trip over the socket (median of {args.requests}, interleaved)", trips)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["sh", "scripts/build-release.sh"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"machine: {os.cpu_count()} CPUs, {subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}")
    sizes()
    workdir = tempfile.mkdtemp(prefix="bs-deploy-")
    try:
        measure(workdir, args, "quiet machine")
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            measure(workdir, args, "busy neighbour (one process spinning on a core)")
        finally:
            spinner.kill()
            spinner.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
