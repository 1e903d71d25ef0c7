#!/usr/bin/env python3
"""Build page benchmarks (issue 20). Runs the real release daemon on loopback with a token, and
Debian's headless Chromium driven by Tests/Browser/browse.py, next to `curl -N` doing the same job.

  python3 bench/page_bench.py --no-build            # the release binaries already built
  python3 bench/page_bench.py --runs 10 --mib 100

Figures:
  first-line  the page of a running build is open; the build then prints one line: the time until
              the line is in the page's DOM (a MutationObserver's performance.now(), against the
              moment just before the build is let go), median of --runs; and the same for
              `curl -N` on the build's event stream (the time until curl's output has the line)
  weight      bytes of the running page's HTML, its style sheet and its script
  follow      a build writes --mib MiB of output (100-byte lines) while a follower watches: the
              page in Chromium, `curl -N` on the same signed events link (a watcher too: neither
              holds the build back, so each gets what it keeps up with and is told what it
              missed), and `curl -N` with the token (an attached reader: the build goes at its
              pace, so it gets everything); the daemon's CPU time (utime + stime from /proc, for
              the whole build), its peak RSS (VmRSS sampled every 50 ms) and the bytes the
              follower was sent (the daemon's build_service_output_bytes_total less what the
              build's own client got), with the ratios page/curl. The build's own client (curl to
              /dev/null) reads in every run.
  --busy      the same with a busy neighbour: one `sha256sum /dev/zero` per core, all the time

Nothing here is asserted, only printed.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import RSSSampler  # noqa: E402  (VmRSS every 50 ms, the peak)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROWSE = os.path.join(ROOT, "Tests", "Browser", "browse.py")
TOKEN = "bench-page-token-5c1e7a"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class Daemon:
    def __init__(self, bindir, work):
        self.port = free_port()
        self.work = work
        self.project = os.path.join(work, "project")
        os.makedirs(self.project, exist_ok=True)
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write(f"""schema_version = "2"
[service.socket]
enabled = false
[service.http]
enabled = true
listen_addr = "127.0.0.1:{self.port}"
[service.http.auth]
required = true
tokens = ["{TOKEN}"]
[build]
workspace_root = "{work}/ws"
allow_root_builds = true
max_concurrent = 8
[build.commands]
sh = "/bin/sh"
[build.timeouts]
default_sec = 600
[artifacts]
storage_root = "{work}/store"
[[projects]]
id = "bench"
type = "path"
path_root = "{self.project}"
commands = ["sh"]
max_concurrent = 8
""")
        self.log = open(os.path.join(work, "daemon.log"), "w")
        self.process = subprocess.Popen([os.path.join(bindir, "build-service"), "--config", config], stderr=self.log)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the daemon did not start")

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start_build(self, script):
        """Starts a build whose client discards its output; returns (client, id, page_url)."""
        body = json.dumps({"project_id": "bench", "command": "sh", "args": ["-c", script]})
        client = subprocess.Popen(
            ["curl", "-sN", "-H", f"Authorization: Bearer {TOKEN}", "--data-binary", body, self.base + "/v1/builds"],
            stdout=subprocess.PIPE,
        )
        first_line = client.stdout.readline()
        first = json.loads(first_line)
        client.received = len(first_line)

        def drain():
            # The rest of the stream goes nowhere, read as fast as it comes.
            for chunk in iter(lambda: client.stdout.read1(1 << 16), b""):
                client.received += len(chunk)

        client.drainer = threading.Thread(target=drain, daemon=True)
        client.drainer.start()
        return client, first["id"], first["page_url"]

    def output_bytes(self):
        request = urllib.request.Request(self.base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        for line in urllib.request.urlopen(request).read().decode().splitlines():
            if line.startswith("build_service_output_bytes_total"):
                return float(line.split()[-1])
        return 0.0

    def page(self, page_url):
        with urllib.request.urlopen(page_url) as response:
            return response.read().decode()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def events_link(html):
    start = html.index('data-events="') + len('data-events="')
    return html[start:html.index('"', start)].replace("&amp;", "&")


def browse(steps):
    result = subprocess.run([sys.executable, BROWSE], input=json.dumps(steps), capture_output=True, text=True, check=True)
    outcomes = json.loads(result.stdout)
    for outcome in outcomes:
        if "error" in outcome:
            raise SystemExit("browser: " + outcome["error"])
    return [o["ok"] for o in outcomes]


WAIT_FOR_GO = "while [ ! -e {go} ]; do sleep 0.01; done; "
OBSERVE = ("window.__seen = null; new MutationObserver(() => { if (window.__seen === null && "
           "document.getElementById('log').textContent.includes('the line')) window.__seen = performance.now(); })"
           ".observe(document.getElementById('log'), {childList: true, subtree: true, characterData: true}); performance.now()")


def first_line(daemon, runs):
    page_times, curl_times = [], []
    for run in range(runs):
        go = os.path.join(daemon.work, f"go-{run}")
        client, _, page_url = daemon.start_build(WAIT_FOR_GO.format(go=go) + "echo 'the line'; sleep 1")
        # The browser: page open, observer armed, then the build let go from inside the run.
        results = browse([
            {"open": page_url},
            {"eval": OBSERVE},
            {"touch": go},
            {"wait": "window.__seen !== null", "timeout": 20},
            {"eval": "window.__seen"},
        ])
        page_times.append((results[4] - results[1]) / 1000)
        client.wait()
        # curl -N on the event stream, the same way.
        go = os.path.join(daemon.work, f"go-curl-{run}")
        client, _, page_url = daemon.start_build(WAIT_FOR_GO.format(go=go) + "echo 'the line'; sleep 1")
        link = daemon.base + events_link(daemon.page(page_url))
        follower = subprocess.Popen(["curl", "-sN", link + "&after=0"], stdout=subprocess.PIPE)
        time.sleep(0.3)  # attached
        start = time.monotonic()
        open(go, "w").close()
        for line in iter(follower.stdout.readline, b""):
            if b"the line" in line:
                curl_times.append(time.monotonic() - start)
                break
        follower.wait()
        client.wait()
    return statistics.median(page_times), statistics.median(curl_times)


def weight(daemon):
    go = os.path.join(daemon.work, "go-weight")
    client, _, page_url = daemon.start_build(WAIT_FOR_GO.format(go=go) + "echo done")
    html = daemon.page(page_url)
    css = urllib.request.urlopen(daemon.base + "/assets/page.css").read()
    js = urllib.request.urlopen(daemon.base + "/assets/build-page.js").read()
    open(go, "w").close()
    client.wait()
    return len(html.encode()), len(css), len(js)


def follow(daemon, mib, how):
    go = os.path.join(daemon.work, f"go-follow-{how}-{time.monotonic()}")
    line = "0123456789" * 9 + "abcdefghi"  # 99 characters and a newline
    script = WAIT_FOR_GO.format(go=go) + f"yes '{line}' | head -c {mib << 20}"
    client, build_id, page_url = daemon.start_build(script)
    sampler = RSSSampler(daemon.process.pid)
    cpu_before = cpu_seconds(daemon.process.pid)
    sent_before = daemon.output_bytes()
    start = time.monotonic()
    if how == "page":
        results = browse([
            {"open": page_url},
            {"touch": go},
            {"wait": "document.getElementById('state').textContent !== 'running'", "timeout": 600},
            {"eval": "document.getElementById('log').textContent.length"},
        ])
        shown = results[3]
    else:
        if how == "watching":
            command = ["curl", "-sN", "-o", "/dev/null", daemon.base + events_link(daemon.page(page_url)) + "&after=0"]
        else:
            command = ["curl", "-sN", "-o", "/dev/null", "-H", f"Authorization: Bearer {TOKEN}",
                       f"{daemon.base}/v1/builds/{build_id}/events?after=0"]
        follower = subprocess.Popen(command)
        time.sleep(0.3)
        open(go, "w").close()
        follower.wait()
        shown = None
    client.wait()
    client.drainer.join()
    elapsed = time.monotonic() - start
    cpu = cpu_seconds(daemon.process.pid) - cpu_before
    peak = sampler.stop()
    followed = daemon.output_bytes() - sent_before - client.received
    return cpu, peak, elapsed, shown, followed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--bin-dir")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--busy", action="store_true", help="a busy neighbour on every core")
    options = parser.parse_args()
    if not options.no_build and not options.bin_dir:
        subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True)
    bindir = options.bin_dir or subprocess.run(
        ["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    neighbours = []
    if options.busy:
        neighbours = [subprocess.Popen(["sha256sum", "/dev/zero"]) for _ in range(os.cpu_count() or 2)]
    work = tempfile.mkdtemp(prefix="bs-page-bench-")
    daemon = Daemon(bindir, work)
    try:
        print(f"machine: {os.cpu_count()} cores{', busy neighbour on each' if options.busy else ''}")
        page, curl = first_line(daemon, options.runs)
        print(f"first-line  page {page * 1000:7.1f} ms   curl -N {curl * 1000:7.1f} ms   (median of {options.runs}; ratio {page / curl:.2f})")
        html, css, js = weight(daemon)
        print(f"weight      html {html} B + css {css} B + js {js} B = {html + css + js} B")
        figures = {}
        for how, name in (("watching", "curl -N, signed link"), ("attached", "curl -N, token"), ("page", "page")):
            cpu, peak, elapsed, shown, followed = follow(daemon, options.mib, how)
            figures[how] = (cpu, peak)
            print(f"follow      {name:21s} {options.mib} MiB: daemon CPU {cpu:5.2f} s, peak RSS {peak / 1024:5.1f} MiB, "
                  f"{elapsed:4.1f} s, follower sent {followed / (1 << 20):6.1f} MiB")
        for how, name in (("watching", "curl -N, signed link"), ("attached", "curl -N, token")):
            cpu, peak = figures[how]
            print(f"follow      page vs {name}: CPU {figures['page'][0] / cpu:.2f}x, RSS {(figures['page'][1] - peak) / 1024:+.1f} MiB")
    finally:
        daemon.stop()
        for neighbour in neighbours:
            neighbour.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
