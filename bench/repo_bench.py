#!/usr/bin/env python3
"""Repo project benchmark for build-service. Generates a git repository (5,000 files, 2,000 commits;
--quick: 1,000 and 300) with git fast-import, serves it to the real daemon from a local path as a
repo project, and times a build from the request to its first output line: the first build after
the daemon starts with an empty workspace_root (cold: the mirror is cloned) and later builds (warm:
the mirror is fetched, and the spare checkout the daemon prepared after the previous build is
taken over and moved to the build's commit; without a ready spare, a `git clone --shared`
checkout is made). The peers run in the same run on
the same repository: `git clone file://...` (git's transport, as a remote clone would use it: the
main peer) and, for reference, `git clone PATH` (git's local clone, which hardlinks the objects).

  python3 bench/repo_bench.py                          # builds release first (swift build -c release)
  python3 bench/repo_bench.py --bin-dir .build/release # these binaries; no swift invocation at all
  python3 bench/repo_bench.py --bin-dir .build/release --quick
  python3 bench/repo_bench.py --bin-dir .build/release --tmp-dir /dev/shm   # tmpfs: no disk effects
  python3 bench/repo_bench.py --bin-dir .build/release --file-url   # repo_url file://: cold via transport

Figures (milliseconds, medians):
  cold   request -> first stdout event of the first build after a start with an empty workspace_root
         (git clone --mirror, git clone --shared, git checkout, make); the daemon is stopped, the
         workspace deleted and the daemon started again between runs (3 runs, interleaved with the
         peers; the daemon's start and health check are not timed)
  warm   the same for the builds after that (git fetch of an unchanged mirror, clone --shared,
         checkout, make): 10 runs
  peers  git clone file://SOURCE and git clone SOURCE into a new directory, 3 runs each spread over
         the warm builds (the target's comparison) and 3 more next to the cold builds; each clone
         is deleted right after it is timed, as the daemon deletes each build's checkout
The time to the build's exit event is shown too. The build is `make all` on a Makefile whose first
recipe line prints "first-line", so the first output line comes right after the checkout is ready.
Everything is on one machine and in the page cache; nothing here is asserted, only printed.

Needs: git, make, curl (the health check).
"""
import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_bench import ROOT, finish, free_port, http_only_config, launch_daemon, sh, stop_process  # noqa: E402

MIB = 1 << 20
MAKEFILE = b"all:\n\t@echo first-line\n"
WORDS = ("alpha beta gamma delta buffer count index value result config build target source header "
         "module parse render update flush length offset status handle request reply stream event "
         "queue state error token cache limit").split()


def fmt_ms(seconds):
    return f"{seconds * 1000:,.0f}"


# ---------------------------------------------------------------------------------------------
# The repository


def file_lines(rng, size):
    """Source-like text of about `size` bytes, as a list of lines."""
    lines, total = [], 0
    while total < size:
        kind = rng.random()
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        if kind < 0.15:
            line = f"/* {a} {b} {rng.choice(WORDS)}: {rng.randrange(1 << 30):x} */\n"
        elif kind < 0.3:
            line = f"static int {a}_{b}_{rng.randrange(10000)}(int {a}, int {b});\n"
        else:
            line = f"    {a}->{b} = {rng.choice(WORDS)}_{rng.randrange(1000)}({a}, {rng.randrange(1 << 16)});\n"
        lines.append(line)
        total += len(line)
    return lines


def file_size(rng):
    """A few hundred bytes to a few KiB, most of them small."""
    return int(min(6000, 200 + rng.expovariate(1 / 1200)))


def generate_repo(path, files, commits, seed=1):
    """A bare repository at `path`, branch main (HEAD), written with one git fast-import stream:
    the first commit adds the Makefile and most files, each later commit adds 2 files and changes 3.
    Returns the seconds it took (fast-import and a repack)."""
    start = time.perf_counter()
    rng = random.Random(seed)
    sh(["git", "init", "-q", "--bare", "--initial-branch=main", path])
    later_adds, later_changes = 2, 3
    initial = max(1, files - 1 - later_adds * (commits - 1))  # the Makefile is one of `files`
    contents = {}  # path -> list of lines
    names = []  # contents' keys in the order added (rng.sample needs a sequence)
    counter = [0]

    def new_path():
        n = counter[0]
        counter[0] += 1
        return f"src/mod{n % 40:02d}/part{(n // 40) % 12:02d}/{rng.choice(WORDS)}_{n:05d}.c"

    proc = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=path, stdin=subprocess.PIPE)
    out = proc.stdin
    when = 1_700_000_000

    def blob_cmd(name, data):
        out.write(b"M 100644 inline %s\ndata %d\n" % (name.encode(), len(data)))
        out.write(data)
        out.write(b"\n")

    try:
        for c in range(commits):
            message = f"commit {c}: {rng.choice(WORDS)} {rng.choice(WORDS)}\n".encode()
            out.write(b"commit refs/heads/main\n")
            out.write(b"author Bench <bench@example.com> %d +0000\n" % (when + c * 60))
            out.write(b"committer Bench <bench@example.com> %d +0000\n" % (when + c * 60))
            out.write(b"data %d\n%s" % (len(message), message))
            if c == 0:
                blob_cmd("Makefile", MAKEFILE)
                adds, changes = initial, 0
            else:
                adds, changes = later_adds, later_changes
            for name in rng.sample(names, min(changes, len(names))):
                lines = contents[name]
                for _ in range(rng.randint(1, 3)):
                    i = rng.randrange(len(lines))
                    lines[i:i + 1] = file_lines(rng, 60)
                blob_cmd(name, "".join(lines).encode())
            for _ in range(adds):
                name = new_path()
                contents[name] = file_lines(rng, file_size(rng))
                names.append(name)
                blob_cmd(name, "".join(contents[name]).encode())
            out.write(b"\n")
        out.write(b"done\n")
        out.close()
    finally:
        if proc.wait() != 0:
            sys.exit(f"git fast-import failed with {proc.returncode}")
    # fast-import's pack is only roughly delta-compressed; a served repository has been gc'd.
    sh(["git", "repack", "-a", "-d", "-q"], cwd=path)
    return time.perf_counter() - start


def describe_repo(path):
    def git(*a):
        return subprocess.run(["git", "--git-dir", path] + list(a), capture_output=True, text=True,
                              check=True).stdout
    files = len(git("ls-tree", "-r", "--name-only", "main").splitlines())
    commits = int(git("rev-list", "--count", "main").strip())
    counts = dict(line.split(": ", 1) for line in git("count-objects", "-v").splitlines())
    pack_mib = int(counts.get("size-pack", "0")) * 1024 / MIB
    tree_bytes = 0
    for line in git("ls-tree", "-r", "-l", "main").splitlines():
        tree_bytes += int(line.split()[3])
    return files, commits, pack_mib, tree_bytes / MIB


# ---------------------------------------------------------------------------------------------
# The daemon


class RepoDaemon:
    """build-service with HTTP on a port chosen here, the socket off, and one repo project `big`
    whose repo_url is the generated repository's path."""

    def __init__(self, bindir, workdir, source, ws, name):
        self.port = free_port()
        self.ws = ws
        config_text = http_only_config(self.port) + f'''[build]
workspace_root = "{ws}"
allow_root_builds = true
[build.commands]
make = "/usr/bin/make"
[build.timeouts]
default_sec = 600
max_sec = 3600
[[projects]]
id = "big"
type = "repo"
repo_url = "{source}"
repo_ref = "main"
commands = ["make"]
[logging]
level = "warn"
'''
        self.proc, self.log, self.log_path = launch_daemon(bindir, workdir, name, config_text,
                                                           f"http://127.0.0.1:{self.port}/healthz", "build-service")

    def build(self):
        """POST /v1/builds for `make all` and read the NDJSON stream line by line. Returns the seconds
        from sending the request to the first stdout event and to the exit event, and the events."""
        body = json.dumps({"project_id": "big", "command": "make", "args": ["all"]}).encode()
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        first = finished = None
        events = []
        try:
            conn.request("POST", "/v1/builds", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            if response.status != 200:
                sys.exit(f"POST /v1/builds answered {response.status}: {response.read()[:2000]!r}")
            while True:
                line = response.readline()
                if not line:
                    break
                now = time.perf_counter() - start
                if not line.strip():
                    continue
                event = json.loads(line)
                events.append(event)
                if event.get("type") == "stdout" and first is None:
                    first = now
                    if "first-line" not in event.get("data", ""):
                        sys.exit(f"the first stdout event is not the Makefile's line: {line!r}")
                elif event.get("type") == "exit":
                    finished = now
                    break
        finally:
            conn.close()
        if finished is None or first is None or events[-1].get("code") != 0:
            sys.exit("the build did not print first-line and exit 0; events:\n"
                     + "\n".join(json.dumps(e)[:500] for e in events[-20:]))
        return first, finished, events

    def leftover_checkouts(self, wait=3.0):
        """Build checkouts still in builds/ `wait` seconds after the stream ended (the daemon removes
        a checkout after its build; empty is expected)."""
        builds = os.path.join(self.ws, "builds")
        deadline = time.monotonic() + wait
        while True:
            # The project's spare checkout (.spare-<project>) is not a build's.
            entries = [e for e in os.listdir(builds) if not e.startswith(".")] if os.path.isdir(builds) else []
            if not entries or time.monotonic() > deadline:
                return entries
            time.sleep(0.02)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def timed_clone(cmd, dest):
    """Seconds for one git clone (which checks out main); the clone is deleted afterwards."""
    start = time.perf_counter()
    r = subprocess.run(cmd + [dest], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd + [dest])} failed with {r.returncode}:\n{r.stderr.decode(errors='replace')[-2000:]}")
    with open(os.path.join(dest, "Makefile"), "rb") as f:
        if f.read() != MAKEFILE:
            sys.exit(f"{dest}/Makefile is not the generated one")
    shutil.rmtree(dest)
    return elapsed


def describe_fs(path):
    """The file system under `path` (type, device), with a note where it skews the figures."""
    path = os.path.realpath(path)
    best = ("", "?", "?")
    with open("/proc/mounts") as f:
        for line in f:
            device, mount, fstype = line.split()[:3]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best[0]):
                best = (mount, fstype, device)
    mount, fstype, device = best
    text = f"{fstype} ({device} on {mount})"
    try:
        with open(f"/sys/fs/ext4/{os.path.basename(device)}/journal_task") as f:
            journalless = f.read().strip() == "<none>"
    except OSError:
        journalless = False
    if fstype == "ext4" and journalless:
        text += (", without a journal: ext4 then skips inodes freed in the last 5-35 s when it creates files"
                 " (recently_deleted), so a checkout or clone made right after another one was deleted"
                 " costs more, more so run after run; compare with --tmp-dir /dev/shm")
    return text


def stale_sources(binary):
    """Files under Sources/ changed after `binary` was built (a hint that the binary is stale)."""
    built = os.path.getmtime(binary)
    newer = []
    for dirpath, _, names in os.walk(os.path.join(ROOT, "Sources")):
        newer += [os.path.relpath(os.path.join(dirpath, n), ROOT) for n in names
                  if os.path.getmtime(os.path.join(dirpath, n)) > built]
    return sorted(newer)


def samples_ms(values):
    return ", ".join(fmt_ms(v) for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1,000 files and 300 commits; 2 cold runs, 5 warm, 2 of each peer")
    parser.add_argument("--no-build", action="store_true", help="skip swift build -c release")
    parser.add_argument("--bin-dir", help="use the binaries in DIR; no swift invocation at all")
    parser.add_argument("--tmp-dir", help="create the temporary directory (repository, workspace, clones) "
                        "in DIR (default: the system's, usually /tmp)")
    parser.add_argument("--file-url", action="store_true",
                        help="give the daemon repo_url = file://SOURCE instead of the path, so the cold build's "
                        "mirror clone goes through git's transport like a remote one (with a path git hardlinks)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (repository, mirror, configs, logs)")
    args = parser.parse_args()
    files, commits = (1000, 300) if args.quick else (5000, 2000)
    cold_runs, warm_runs, peer_runs = (2, 5, 2) if args.quick else (3, 10, 3)

    for tool in ["git", "make", "curl"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y git make curl")
    if args.bin_dir:
        bindir = os.path.abspath(args.bin_dir)
    else:
        if not args.no_build:
            sh(["swift", "build", "-c", "release"], cwd=ROOT)
        bindir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
    binary = os.path.join(bindir, "build-service")
    if not os.access(binary, os.X_OK):
        sys.exit(f"build-service not found in {bindir}")
    newer = stale_sources(binary)
    print(f"binary: {binary}" + (f" (WARNING: older than {len(newer)} file(s) under Sources/: "
                                 f"{', '.join(newer[:5])})" if newer else ""))

    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="bs-repo-bench-", dir=args.tmp_dir)
    source = os.path.join(workdir, "source")
    ws = os.path.join(workdir, "ws")
    daemon = None
    try:
        seconds = generate_repo(source, files, commits)
        n_files, n_commits, pack_mib, tree_mib = describe_repo(source)
        print(f"repository: {n_files:,} files, {n_commits:,} commits, {pack_mib:.1f} MiB packed "
              f"({tree_mib:.1f} MiB checked out), generated in {seconds:.1f} s; {os.cpu_count()} CPUs, "
              f"{subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}")
        print(f"file system of {workdir}: {describe_fs(workdir)}")
        print(f"repo_url: {'file://' if args.file_url else ''}{source}"
              + ("" if args.file_url else " (a path: the cold mirror clone hardlinks the objects; --file-url for git's transport)"))

        cold, cold_exit, warm, warm_exit = [], [], [], []
        # The peers run twice: once next to the cold builds, once spread over the warm ones, so each
        # figure is compared with clones made under the same conditions (see describe_fs).
        peers = {"cold": {"plain": [], "local": []}, "warm": {"plain": [], "local": []}}
        leftovers, stderr_events = [], 0

        def run_peers(phase):
            n = len(peers[phase]["plain"])
            peers[phase]["plain"].append(timed_clone(["git", "clone", "-q", "file://" + source],
                                                     os.path.join(workdir, f"plain-{phase}-{n}")))
            peers[phase]["local"].append(timed_clone(["git", "clone", "-q", source],
                                                     os.path.join(workdir, f"local-{phase}-{n}")))

        def run_build(firsts, exits):
            nonlocal leftovers, stderr_events
            first, finished, events = daemon.build()
            firsts.append(first)
            exits.append(finished)
            stderr_events += sum(1 for e in events if e.get("type") == "stderr")
            leftovers += daemon.leftover_checkouts()

        for i in range(cold_runs):
            if daemon:
                daemon.stop()
                daemon = None
            shutil.rmtree(ws, ignore_errors=True)
            daemon = RepoDaemon(bindir, workdir, ("file://" if args.file_url else "") + source, ws, f"daemon-{i}")
            run_build(cold, cold_exit)
            if i < peer_runs:
                run_peers("cold")
        while len(peers["cold"]["plain"]) < peer_runs:
            run_peers("cold")
        peer_after = {i * warm_runs // peer_runs for i in range(peer_runs)}
        for i in range(warm_runs):
            run_build(warm, warm_exit)
            if i in peer_after:
                run_peers("warm")

        c, w = statistics.median(cold), statistics.median(warm)
        cp, cl = (statistics.median(peers["cold"][k]) for k in ("plain", "local"))
        p, lo = (statistics.median(peers["warm"][k]) for k in ("plain", "local"))
        print(f"cold build (mirror clone + checkout) to first output line: {fmt_ms(c)} ms "
              f"(median of {cold_runs}; runs {samples_ms(cold)}; to exit {fmt_ms(statistics.median(cold_exit))} ms)")
        print(f"warm build (fetch + shared clone + checkout) to first output line: {fmt_ms(w)} ms "
              f"(median of {warm_runs}; runs {samples_ms(warm)}; to exit {fmt_ms(statistics.median(warm_exit))} ms)")
        print(f"plain git clone file://: {fmt_ms(p)} ms; local git clone: {fmt_ms(lo)} ms "
              f"(median of {peer_runs} each, interleaved with the warm builds; file:// runs "
              f"{samples_ms(peers['warm']['plain'])}; local runs {samples_ms(peers['warm']['local'])})")
        print(f"  next to the cold builds: plain git clone file://: {fmt_ms(cp)} ms; local git clone: {fmt_ms(cl)} ms "
              f"(file:// runs {samples_ms(peers['cold']['plain'])}; local runs {samples_ms(peers['cold']['local'])})")
        print(f"warm / plain clone = {w / p:.3f} (target <= 0.1x); warm / local clone = {w / lo:.3f}; "
              f"cold / plain clone (cold-phase peers) = {c / cp:.3f}")
        notes = []
        if stderr_events:
            notes.append(f"{stderr_events} stderr event(s) in the builds (git output)")
        if leftovers:
            notes.append(f"checkouts left in builds/ after their builds: {sorted(set(leftovers))}")
        print("notes: " + ("; ".join(notes) if notes else "no stderr events; every checkout was removed after its build"))
        print(f"total {time.perf_counter() - started:.0f} s")
    finally:
        finish(workdir, args.keep, daemon)


if __name__ == "__main__":
    main()
