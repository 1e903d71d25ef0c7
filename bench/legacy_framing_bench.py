#!/usr/bin/env python3
"""CPU the daemon spends reading one legacy request line, sent whole or trickled in small writes.

    python3 bench/legacy_framing_bench.py BINDIR [--size 1000000] [--chunk 32] [--connections 4]

Starts build-service (socket only) and sends, on each of CONNECTIONS Unix-socket connections at
once, a request line of SIZE bytes (malformed JSON on purpose: the daemon refuses it once the
line is read, so only the framing is measured). First each line in one write, then in CHUNK-byte
writes. Prints the daemon's CPU time (utime + stime from /proc) for each and the ratio. The
reader that searched the whole buffered line for the newline on every read cost the square of
the line's length when it was trickled.
"""
import argparse
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(path, line, chunk):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    if chunk:
        for i in range(0, len(line), chunk):
            s.sendall(line[i:i + chunk])
    else:
        s.sendall(line)
    while s.recv(65536):
        pass
    s.close()


def run(path, pid, line, chunk, connections):
    before = cpu_seconds(pid)
    start = time.monotonic()
    threads = [threading.Thread(target=send, args=(path, line, chunk)) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return cpu_seconds(pid) - before, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bindir")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bs-legacy-")
    os.makedirs(os.path.join(workdir, "project"))
    sock = os.path.join(workdir, "s.sock")
    config = os.path.join(workdir, "c.toml")
    with open(config, "w") as f:
        f.write(f'''schema_version = "2"
[service.socket]
path = "{sock}"
mode = "0600"
[build]
allow_root_builds = true
workspace_root = "{workdir}/ws"
[build.commands]
true = "/bin/true"
[[projects]]
id = "bench"
path_root = "{workdir}/project"
commands = ["true"]
[logging]
level = "error"
''')
    proc = subprocess.Popen([os.path.join(args.bindir, "build-service"), "--config", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        line = b'{"project":"bench","command":"true","args":["' + b"x" * (args.size - 60) + b'"\n'
        results = {}
        for name, chunk in (("one write", 0), (f"{args.chunk}-byte writes", args.chunk)):
            run(sock, proc.pid, line, chunk, 1)  # warm-up
            results[name] = run(sock, proc.pid, line, chunk, args.connections)
            cpu, wall = results[name]
            print(f"{args.connections} x {len(line)} bytes in {name}: daemon CPU {cpu:.2f} s, wall {wall:.2f} s")
        whole, trickled = results["one write"][0], results[f"{args.chunk}-byte writes"][0]
        print(f"trickled / whole CPU: {trickled / max(whole, 0.01):.1f}x")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
