#!/usr/bin/env python3
"""Artifact download benchmarks for build-service. Runs the real release binary on loopback next to
nginx (the Debian package) serving the same files with the same certificate, protocols and suites
(the settings of bench/tls_bench.py, whose helpers this imports), drives both with the same client in
the same run, and prints each figure with the ratio.

  python3 bench/artifact_bench.py --no-build        # the release binaries already built
  python3 bench/artifact_bench.py --bin-dir .build/release --quick
  python3 bench/artifact_bench.py --no-build --only concurrent

Figures:
  file        a 1 GiB artifact over HTTPS, one curl at a time (MiB/s, median of --runs, interleaved)
  plain       the same over plain HTTP (a second daemon with TLS off; nginx's plain listener with
              sendfile on, as Debian's stock nginx.conf has it; nginx's built-in default is off)
  small       4 KiB artifact GETs per second on keep-alive connections, over HTTPS and plain HTTP,
              wrk -t1 with 32 connections and with 1
  concurrent  the daemon's peak RSS (VmRSS sampled every 50 ms, and VmHWM) while 50 curl clients
              download the 1 GiB artifact at once over HTTPS; wall time (nginx doing the same is
              shown for reference)

The artifacts get into the daemon the way they do in production: a path project whose build
(/bin/true) succeeds, with `artifacts = ["out/*.bin"]`; the daemon copies the files into its store
and lists their URLs in the build's exit event. nginx serves the project's out/ directory.
Every server's copy of the big file is downloaded once before the timed runs and its SHA-256
checked (this also warms the page cache). Nothing here is asserted, only printed.

Needs: nginx (nginx-light), wrk, curl, openssl.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flamegraph  # noqa: E402
import results  # noqa: E402
import tls_bench  # noqa: E402  (the Daemon/nginx TLS settings, certificates, wrk and report helpers)
from tls_bench import (ROOT, free_port,  # noqa: E402
                       make_certs, negotiated, stop_process, wait_healthy)

MIB = 1 << 20
SMALL_SIZE = 4096


def make_artifacts(project, big_size):
    """out/big.bin (a random 1 MiB block repeated: incompressible enough, written in about a second)
    and out/small.bin (4 KiB of random bytes). Returns {name: (size, sha256)}."""
    out = os.path.join(project, "out")
    os.makedirs(out, exist_ok=True)
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with open(os.path.join(out, "big.bin"), "wb") as f:
        left = big_size
        while left > 0:
            chunk = block if left >= MIB else block[:left]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    small = os.urandom(SMALL_SIZE)
    with open(os.path.join(out, "small.bin"), "wb") as f:
        f.write(small)
    return {"out/big.bin": (big_size, digest.hexdigest()),
            "out/small.bin": (SMALL_SIZE, hashlib.sha256(small).hexdigest())}


class ArtifactDaemon:
    """build-service with HTTP on a port chosen here, TLS on or off, the socket off, and one path
    project whose build (/bin/true) publishes out/*.bin. tls_bench.Daemon's project has no artifacts,
    so the config is written here; starting, health check and stopping are tls_bench's."""

    def __init__(self, bindir, workdir, certs, tls, name, project):
        self.port = free_port()
        self.tls = tls
        self.name = name
        ws = os.path.join(workdir, f"{name}-ws")
        store = os.path.join(workdir, f"{name}-store")
        os.makedirs(ws, exist_ok=True)
        os.makedirs(store, exist_ok=True)
        tls_table = tls_bench.tls_config_table(certs, tls)
        config_text = tls_bench.http_only_config(self.port) + f'''{tls_table}[build]
allow_root_builds = true
workspace_root = "{ws}"
[build.commands]
true = "/bin/true"
[build.environment]
allow = ["PATH"]
[artifacts]
storage_root = "{store}"
[[projects]]
id = "bench"
type = "path"
path_root = "{project}"
commands = ["true"]
artifacts = ["out/*.bin"]
[logging]
level = "warn"
'''
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.health = self.base + "/healthz"
        self.proc, self.log, self.log_path = tls_bench.launch_daemon(bindir, workdir, name, config_text, self.health,
                                                                     f"build-service ({scheme})")
        self.pid = self.proc.pid
        self.urls = {}

    def publish(self, ca, expected):
        """Runs the build, reads the exit event's artifact list, checks sizes and SHA-256 against what
        was written, and keeps the URLs. Returns the seconds the build (mostly collection) took."""
        body = json.dumps({"project_id": "bench", "command": "true"})
        cmd = ["curl", "-sS", "-N", "--fail", "--max-time", "300", "--data-binary", body,
               "-H", "Content-Type: application/json", self.base + "/v1/builds"]
        if self.tls:
            cmd[1:1] = ["--cacert", ca]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        lines = [line for line in r.stdout.splitlines() if line.strip()]
        if r.returncode != 0 or not lines:
            sys.exit(f"{self.name}: POST /v1/builds failed (curl exit {r.returncode}): {r.stderr}\n{r.stdout[-2000:]}")
        event = json.loads(lines[-1])
        if event.get("type") != "exit" or event.get("code") != 0:
            sys.exit(f"{self.name}: the build did not end with a successful exit event:\n" + "\n".join(lines[-10:]))
        listed = {a["name"]: a for a in event.get("artifacts", [])}
        for name, (size, sha) in expected.items():
            artifact = listed.get(name)
            if artifact is None:
                sys.exit(f"{self.name}: {name} is not in the exit event's artifacts: {lines[-1][:2000]}")
            if artifact.get("size") != size or (artifact.get("sha256") not in (None, sha)):
                sys.exit(f"{self.name}: {name} listed with size {artifact.get('size')} sha256 {artifact.get('sha256')}, "
                         f"written with size {size} sha256 {sha}")
            url = artifact["url"]
            self.urls[name] = url if "://" in url else self.base + url
        return elapsed

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def ArtifactNginx(workdir, certs, workers, root):
    """tls_bench's nginx with the project's directory as a static root and a plain listener."""
    return tls_bench.Nginx(workdir, certs, workers, root=root)


class Target:
    """One server's URL for one figure, as tls_bench.interleaved wants them (and the process to
    profile with --profile)."""

    def __init__(self, url, ca, pid=None):
        self.url = url
        self.ca = ca
        self.pid = pid


def curl_cmd(target, fmt):
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "900", "-w", fmt, target.url]
    if target.url.startswith("https:"):
        cmd[1:1] = ["--cacert", target.ca]
    return cmd


def download(target, size):
    """One curl download to /dev/null; MiB/s from curl's %{speed_download} (bytes / total time)."""
    fmt = "%{http_code} %{size_download} %{speed_download} %{time_total}"
    r = subprocess.run(curl_cmd(target, fmt), capture_output=True, text=True)
    fields = r.stdout.split()
    problems = []
    if r.returncode != 0 or len(fields) != 4:
        problems.append(f"curl exit {r.returncode}: {r.stdout} {r.stderr}".strip())
        return {"rate": 0.0, "seconds": 0.0, "problems": problems}
    code, got, speed, total = fields
    if code != "200":
        problems.append(f"HTTP {code}")
    if int(float(got)) != size:
        problems.append(f"{got} bytes, not {size}")
    return {"rate": float(speed) / MIB, "seconds": float(total), "problems": problems}


def verify(target, size, sha):
    """Downloads the whole file once (outside the timed runs), hashing it as it arrives; also asks for
    bytes 0-99 with Range. Returns a short description; exits on a mismatch."""
    cmd = ["curl", "-sS", "--fail", "--max-time", "900", target.url]
    if target.url.startswith("https:"):
        cmd[1:1] = ["--cacert", target.ca]
    digest, got = hashlib.sha256(), 0
    start = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        while True:
            chunk = proc.stdout.read(MIB)
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
        err = proc.stderr.read().decode(errors="replace")
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or got != size or digest.hexdigest() != sha:
        sys.exit(f"MISMATCH from {target.url}: curl exit {proc.returncode} {err.strip()}; {got} bytes "
                 f"sha256 {digest.hexdigest()}, expected {size} bytes sha256 {sha}")
    ranged = subprocess.run(curl_cmd(target, "%{http_code} %{size_download}") + ["-r", "0-99"],
                            capture_output=True, text=True).stdout.strip()
    return f"{got} bytes sha256 ok ({elapsed:.1f} s with hashing); Range 0-99 -> {ranged.replace(' ', ', ')} bytes"


def report_downloads(title, samples, target=None):
    ours = statistics.median(s["rate"] for s in samples["build-service"])
    theirs = statistics.median(s["rate"] for s in samples["nginx"])
    ratio = ours / theirs if theirs else float("nan")
    goal = f" (target >= {target}x)" if target is not None else ""
    print(f"{title}:\n  build-service {ours:.0f} MiB/s, nginx {theirs:.0f} MiB/s, ratio {ratio:.2f}x{goal}")
    for name, runs in samples.items():
        rates = ", ".join(f"{s['rate']:.0f}" for s in runs)
        seconds = ", ".join(f"{s['seconds']:.2f}" for s in runs)
        problems = "; ".join(p for s in runs for p in s["problems"]) or "none"
        print(f"    {name}: runs {rates} MiB/s ({seconds} s); errors: {problems}")
    return ratio


def big_download(label, targets, expected, args, target_ratio):
    size, sha = expected["out/big.bin"]
    for name, t in targets.items():
        print(f"  verify {label} {name}: {verify(t, size, sha)}")
    samples = tls_bench.interleaved(targets, args.runs, lambda t: download(t, size))
    return report_downloads(f"{size // MIB} MiB artifact over {label}, curl -o /dev/null "
                            f"(median of {args.runs}, interleaved)", samples, target_ratio)


def small_gets(targets, expected, args, label, conns):
    """4 KiB GETs on keep-alive connections, one wrk thread: 32 connections (throughput) and one
    (latency: each request waits for the previous answer)."""
    size, sha = expected["out/small.bin"]
    for name, t in targets.items():
        print(f"  verify small {label} {name}: {verify(t, size, sha)}")
    for t in targets.values():  # warm-up, not counted
        tls_bench.wrk(t.url, 1, conns, 1, close=False)
    samples = tls_bench.interleaved(targets, args.runs, lambda t: tls_bench.wrk(t.url, 1, conns, args.seconds, close=False))
    target = 0.9 if conns > 1 else 1.0
    tls_bench.report_rate(f"4 KiB artifact GETs over {label} keep-alive (wrk -t1 -c{conns} -d{args.seconds}s, "
                          f"median of {args.runs}, interleaved)", samples, target)
    results.record(args.json, f"4 KiB artifact GET, {label}, {conns} keep-alive connection{'s' if conns > 1 else ''}",
                   statistics.median(s["rps"] for s in samples["build-service"]), "nginx",
                   statistics.median(s["rps"] for s in samples["nginx"]), "req/s", True, target)
    ours = targets["build-service"]
    scheme = "https" if ours.url.startswith("https:") else "http"
    flamegraph.profile(ours.pid, args.profile, f"artifact-4k-{scheme}-c{conns}",
                       lambda: tls_bench.wrk(ours.url, 1, conns, args.seconds, close=False))


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def cpu_seconds(pids):
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total


class RSSSampler(threading.Thread):
    """Sums VmRSS over `pids()` every `interval` seconds; keeps the peak and the sample count."""

    def __init__(self, pids, interval=0.05):
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.peak_kib, self.samples = 0, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            rss = [status_kib(pid, "VmRSS") for pid in self.pids()]
            total = sum(r for r in rss if r is not None)
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            self.done.wait(self.interval)

    def stop(self):
        self.done.set()
        self.join()


def reset_hwm(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0), so the peak printed
    belongs to this figure and not to the ones before."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def concurrent(name, target, pids, size, clients):
    """`clients` curls start together on the same URL; returns wall time, the RSS peak of `pids()`
    sampled every 50 ms, VmHWM per pid, CPU seconds and any client that did not get every byte."""
    reset = all(reset_hwm(pid) for pid in pids())
    before_kib = sum(status_kib(pid, "VmRSS") or 0 for pid in pids())
    cpu_before = cpu_seconds(pids())
    sampler = RSSSampler(pids)
    sampler.start()
    fmt = "%{http_code} %{size_download} %{time_total}"
    procs = []
    start = time.perf_counter()
    try:
        for _ in range(clients):
            procs.append(subprocess.Popen(curl_cmd(target, fmt), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [p.communicate() + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        wall = time.perf_counter() - start
        sampler.stop()
    cpu = cpu_seconds(pids()) - cpu_before
    hwm = {pid: status_kib(pid, "VmHWM") for pid in pids()}
    problems, times = [], []
    for out, err, rc in results:
        fields = out.split()
        if rc != 0 or len(fields) != 3 or fields[0] != "200" or int(float(fields[1])) != size:
            problems.append(f"exit {rc} '{out.strip()}' {err.strip()}".strip())
        else:
            times.append(float(fields[2]))
    return {"name": name, "wall": wall, "peak_kib": sampler.peak_kib, "samples": sampler.samples,
            "before_kib": before_kib, "hwm": hwm, "hwm_reset": reset, "cpu": cpu, "problems": problems,
            "times": times}


def report_concurrent(r, clients, size, target=None):
    total_mib = clients * size / MIB
    hwm = ", ".join(f"{v / 1024:.1f} MiB" if v is not None else "?" for v in r["hwm"].values())
    hwm_note = "reset before the run" if r["hwm_reset"] else "NOT reset: includes the figures before"
    goal = f" (target <= {target} MiB)" if target is not None else ""
    times = (f"per client {min(r['times']):.1f}-{max(r['times']):.1f} s, median {statistics.median(r['times']):.1f} s"
             if r["times"] else "no client finished")
    print(f"  {r['name']}: peak VmRSS {r['peak_kib'] / 1024:.1f} MiB{goal} ({r['samples']} samples every 50 ms; "
          f"{r['before_kib'] / 1024:.1f} MiB before), VmHWM {hwm} ({hwm_note}); wall {r['wall']:.1f} s "
          f"({total_mib / r['wall']:.0f} MiB/s in all); {times}; server CPU {r['cpu']:.1f} s; "
          f"failed clients: {len(r['problems'])}" + (f" e.g. {r['problems'][0]}" if r["problems"] else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB file, 3 s wrk runs, 10 concurrent clients")
    parser.add_argument("--no-build", action="store_true", help="skip swift build -c release")
    parser.add_argument("--bin-dir", help="use the binaries in DIR; no swift invocation at all")
    parser.add_argument("--only", choices=["file", "plain", "small", "concurrent"])
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per figure, median reported (default 3)")
    parser.add_argument("--nginx-workers", type=int, default=1,
                        help="nginx worker_processes (default 1: the daemon competes with the clients on 2 cores)")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 50, 10 with --quick)")
    parser.add_argument("--no-nginx-concurrent", action="store_true",
                        help="skip nginx's reference run of the concurrent figure")
    parser.add_argument("--profile", metavar="DIR", help="also record a perf profile of the daemon in each "
                        "small-GET scenario: DIR/NAME.svg (flame graph), .folded, .top.txt (self time)")
    parser.add_argument("--json", metavar="FILE", help="also append each small-GET figure to FILE (JSON Lines)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs, files)")
    args = parser.parse_args()
    args.seconds = 3 if args.quick else 10
    big_size = (256 if args.quick else 1024) * MIB
    if args.only == "small":
        big_size = MIB  # not downloaded: no need to write and collect a gigabyte first
    clients = args.clients or (10 if args.quick else 50)
    figures = [args.only] if args.only else ["file", "plain", "small", "concurrent"]

    for tool in ["curl", "openssl", "nginx"] + (["wrk"] if "small" in figures else []):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y nginx-light wrk curl openssl")
    bindir = tls_bench.release_bindir(args.bin_dir, args.no_build)
    if not os.access(os.path.join(bindir, "build-service"), os.X_OK):
        sys.exit(f"build-service not found in {bindir}")

    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="bs-artifact-bench-")
    daemon = plain = nginx = None
    try:
        # mkdtemp makes it 0700; nginx's workers (www-data or nobody when started as root) must reach out/.
        os.chmod(workdir, 0o755)
        certs = make_certs(workdir)
        project = os.path.join(workdir, "project")
        t = time.perf_counter()
        expected = make_artifacts(project, big_size)
        print(f"wrote out/big.bin ({big_size // MIB} MiB) and out/small.bin ({SMALL_SIZE} bytes) "
              f"in {time.perf_counter() - t:.1f} s")
        nginx = ArtifactNginx(workdir, certs, args.nginx_workers, project)
        if set(figures) & {"file", "small", "concurrent"}:
            daemon = ArtifactDaemon(bindir, workdir, certs, True, "daemon-tls", project)
            print(f"build-service (TLS) build + artifact collection: {daemon.publish(certs['ca'], expected):.1f} s")
        if set(figures) & {"plain", "small"}:
            plain = ArtifactDaemon(bindir, workdir, certs, False, "daemon-plain", project)
            print(f"build-service (plain) build + artifact collection: {plain.publish(certs['ca'], expected):.1f} s")
        print(tls_bench.describe_setup(nginx, args.nginx_workers))
        if daemon:
            print(f"  build-service {daemon.base}: {negotiated(daemon.port, certs['ca'])}")
        print(f"  nginx         {nginx.base}: {negotiated(nginx.port, certs['ca'])}")
        if daemon:
            print(f"  artifact URL: {daemon.urls['out/big.bin']}")

        def targets(name, secure=True):
            ours = daemon if secure else plain
            theirs = nginx.base if secure else nginx.plain_base
            return {"build-service": Target(ours.urls[name], certs["ca"], ours.pid),
                    "nginx": Target(f"{theirs}/{name}", certs["ca"])}

        if "file" in figures:
            big_download("HTTPS", targets("out/big.bin"), expected, args, 0.8)
        if "plain" in figures:
            big_download("plain HTTP (nginx: sendfile on)", targets("out/big.bin", secure=False), expected, args, None)
        if "small" in figures:
            for secure, label in ((True, "HTTPS"), (False, "plain HTTP")):
                for conns in (32, 1):
                    small_gets(targets("out/small.bin", secure), expected, args, label, conns)
        if "concurrent" in figures:
            t = targets("out/big.bin")
            if "file" not in figures:
                size, sha = expected["out/big.bin"]
                for name, target in t.items():
                    print(f"  verify HTTPS {name}: {verify(target, size, sha)}")
            print(f"{clients} curl clients downloading the {big_size // MIB} MiB artifact at once over HTTPS:")
            r = concurrent("build-service", t["build-service"], lambda: [daemon.pid], big_size, clients)
            report_concurrent(r, clients, big_size, 128)
            if not args.no_nginx_concurrent:
                r = concurrent(f"nginx ({args.nginx_workers} worker{'s' if args.nginx_workers > 1 else ''}, "
                               "reference)", t["nginx"], nginx.workers, big_size, clients)
                report_concurrent(r, clients, big_size)
    finally:
        for server in (nginx, plain, daemon):
            if server:
                server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
