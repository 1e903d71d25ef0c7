#!/usr/bin/env python3
"""Startup with an adopted artifact store (the original build-service's layout: bld_<hex>/<path>
directories, no manifests), against startup with an empty store, in one run.

    python3 bench/adoption_bench.py BINDIR [--sets 10000]

Each set holds two files (bin/app, 4 KiB; build.log, 1 KiB). Prints the time from exec to the
socket being ready, the times until every set is adopted and until the background digests are
done, and the daemon's RSS then.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def make_store(root, sets):
    os.makedirs(root)
    for n in range(sets):
        d = os.path.join(root, "bld_%032x" % (n + 1))
        os.makedirs(os.path.join(d, "bin"))
        with open(os.path.join(d, "bin", "app"), "wb") as f:
            f.write(os.urandom(4096))
        with open(os.path.join(d, "build.log"), "wb") as f:
            f.write(b"log line\n" * 113)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def start(bindir, workdir, store):
    config = os.path.join(workdir, "config.toml")
    with open(config, "w") as f:
        f.write(f'''schema_version = "2"
[service.socket]
path = "{workdir}/bs.sock"
mode = "0600"
[build]
allow_root_builds = true
workspace_root = "{workdir}/workspaces"
[build.commands]
true = "/bin/true"
[artifacts]
storage_root = "{store}"
[[projects]]
id = "bench"
path_root = "{workdir}"
commands = ["true"]
artifacts = ["x"]
[logging]
level = "info"
''')
    log = open(os.path.join(workdir, "daemon.log"), "w+")
    began = time.perf_counter()
    proc = subprocess.Popen([os.path.join(bindir, "build-service"), "--config", config], stderr=log, stdout=subprocess.DEVNULL)
    while not os.path.exists(os.path.join(workdir, "bs.sock")):
        if time.perf_counter() - began > 300:
            sys.exit("the daemon did not start")
        time.sleep(0.002)
    ready = time.perf_counter() - began
    return proc, log, began, ready


def main():
    bindir = sys.argv[1]
    sets = int(sys.argv[sys.argv.index("--sets") + 1]) if "--sets" in sys.argv else 10000
    workdir = tempfile.mkdtemp(prefix="bs-adopt-")
    try:
        results = {}
        for name, count in (("empty store", 0), (f"{sets} sets to adopt", sets)):
            run = os.path.join(workdir, name.replace(" ", "-"))
            os.makedirs(run)
            store = os.path.join(run, "artifacts")
            make_store(store, count)
            subprocess.run(["sync"])
            proc, log, began, ready = start(bindir, run, store)
            adopted = digests = None
            if count:
                while digests is None and time.perf_counter() - began < 600:
                    log.seek(0)
                    text = log.read()
                    if adopted is None and "adopted artifact sets" in text:
                        adopted = time.perf_counter() - began
                    if "digests of adopted artifact sets computed" in text:
                        digests = time.perf_counter() - began
                    else:
                        time.sleep(0.01)
            rss = rss_kib(proc.pid)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            manifests = len([e for e in os.listdir(store) if e.endswith(".json")])
            results[name] = ready
            print(f"{name:22s} ready {ready * 1000:8.1f} ms"
                  + (f"  all adopted {adopted:6.2f} s  digests done {digests:6.2f} s" if digests else "")
                  + f"  RSS {rss / 1024:6.1f} MiB  manifests {manifests}")
        names = list(results)
        print(f"startup ratio (adopting / empty): {results[names[1]] / results[names[0]]:.1f}x")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
