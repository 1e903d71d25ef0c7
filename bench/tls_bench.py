#!/usr/bin/env python3
"""TLS benchmarks for build-service. Runs the real release binaries on loopback next to nginx
(the Debian package) serving the same certificate, protocols and suites, drives both with the
same client in the same run, and prints each figure with the ratio.

  python3 bench/tls_bench.py             # builds release first (swift build -c release)
  python3 bench/tls_bench.py --quick     # 3 s wrk runs, 64 MiB stream: a smoke check
  python3 bench/tls_bench.py --testssl   # also run testssl.sh against the daemon (~1-2 min)
  python3 bench/tls_bench.py --only handshake

Figures:
  handshake  new TLS connections per second, each one GET /healthz: resumed handshakes (wrk with
             Connection: close, which offers the previous session again) and full handshakes
             (parallel openssl s_time -new)
  keepalive  small requests per second over kept-alive TLS connections (wrk)
  stream     a streamed build's output over HTTPS vs plain HTTP (build-cli, MiB/s)
  testssl    testssl.sh findings worse than OK/INFO (only with --testssl or --only testssl;
             --testssl-reference also scans nginx and names the findings nginx does not have)

Needs: nginx (nginx-light), wrk, curl, openssl; testssl for --testssl. The daemon must answer
GET /healthz with 200. Not part of the test suite; nothing here is asserted, only printed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# nginx gets exactly what the daemon's TLSContext fixes: TLS 1.2 + 1.3, ECDHE AEAD suites,
# X25519/P-256/P-384, and for TLS 1.3 the same suite order (nginx would otherwise prefer
# OpenSSL's default, AES-256 first).
TLS12_SUITES = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
GROUPS = "X25519:prime256v1:secp384r1"
HEALTH_BODY = '{"status":"ok"}'

PRODUCER = '#!/bin/sh\nyes "gcc -O2 -c src/module.c -o build/module.o -Iinclude -DNDEBUG" | head -c "$1"\n'


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    """A port nobody listens on right now (bind 0, read it, close). Racy in theory, fine on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_active_opens():
    """Outgoing TCP connections opened by this machine so far (Tcp: ActiveOpens in /proc/net/snmp).
    The delta over a wrk run tells how many connections wrk really opened, whatever the server did."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def wait_healthy(url, proc, log_path, what, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        code = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url],
                              capture_output=True, text=True).stdout
        if code == "200":
            return
        time.sleep(0.1)
    with open(log_path) as f:
        log = f.read()
    stop_process(proc)
    sys.exit(f"{what} did not answer 200 on {url} (exit status {proc.poll()}):\n{log}")


def stop_process(proc, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tls_config_table(certs, tls):
    """The daemon's [service.http.tls] table: the benchmark certificate, or TLS off."""
    if not tls:
        return "[service.http.tls]\nenabled = false\n"
    return f'''[service.http.tls]
enabled = true
cert_path = "{certs['cert']}"
key_path = "{certs['key']}"
'''


def http_only_config(port):
    """The start of every benchmark daemon's config: no socket, HTTP on `port`."""
    return f'''schema_version = "2"
[service.socket]
enabled = false
[service.http]
enabled = true
listen_addr = "127.0.0.1:{port}"
'''


def build_and_project_config(workdir, project, commands):
    """The benchmark daemons' [build] tables and their one project, "bench", allowed `commands`
    (name -> path): builds as root (on this throw-away machine), long timeouts, quiet logs."""
    names = ", ".join(f'"{name}"' for name in commands)
    command_lines = "".join(f'{name} = "{path}"\n' for name, path in commands.items())
    return f'''[build]
allow_root_builds = true
workspace_root = "{os.path.join(workdir, 'ws')}"
[build.commands]
{command_lines}[build.environment]
allow = ["PATH"]
[build.timeouts]
default_sec = 600
max_sec = 3600
[[projects]]
id = "bench"
type = "path"
path_root = "{project}"
commands = [{names}]
[logging]
level = "warn"
'''


def finish(workdir, keep, *servers):
    """Stops whatever was started (daemon, nginx) and removes the work directory unless kept."""
    for server in servers:
        if server:
            server.stop()
    if keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def launch_daemon(bindir, workdir, name, config_text, health_url, label):
    """Writes `config_text` to WORKDIR/NAME.toml, starts build-service on it (stderr to NAME.log)
    and waits until `health_url` answers. Returns (process, log file, log path)."""
    config = os.path.join(workdir, f"{name}.toml")
    with open(config, "w") as f:
        f.write(config_text)
    log_path = os.path.join(workdir, f"{name}.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([os.path.join(bindir, "build-service"), "--config", config],
                            stdout=subprocess.DEVNULL, stderr=log)
    wait_healthy(health_url, proc, log_path, label)
    return proc, log, log_path


def make_certs(workdir):
    out = os.path.join(workdir, "certs")
    sh(["sh", os.path.join(ROOT, "certs", "make-dev-certs.sh"), "--out", out], stdout=subprocess.DEVNULL)
    return {"dir": out, "ca": os.path.join(out, "ca.pem"),
            "cert": os.path.join(out, "server.pem"), "key": os.path.join(out, "server.key")}


class Daemon:
    """build-service with HTTP on a port chosen here, TLS on or off, the socket off."""

    def __init__(self, bindir, workdir, certs, tls, name):
        self.port = free_port()
        self.tls = tls
        project = os.path.join(workdir, "project")
        os.makedirs(project, exist_ok=True)
        os.makedirs(os.path.join(workdir, "ws"), exist_ok=True)
        producer = os.path.join(workdir, "produce.sh")
        if not os.path.exists(producer):
            with open(producer, "w") as f:
                # Printable lines, so JSON escaping costs what it costs for real build logs.
                f.write(PRODUCER)
            os.chmod(producer, 0o755)
        self.producer = producer
        tls_table = tls_config_table(certs, tls)
        config_text = (http_only_config(self.port) + f'''{tls_table}[service.http.auth]
type = "bearer"
required = false
''' + build_and_project_config(workdir, project, {"produce": producer}))
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.health = self.base + "/healthz"
        self.proc, self.log, self.log_path = launch_daemon(bindir, workdir, name, config_text, self.health,
                                                           f"build-service ({scheme})")

    def stop(self):
        stop_process(self.proc)
        self.log.close()


class Nginx:
    """nginx in the foreground under a private prefix, same certificate and TLS settings.
    `root` adds a static file root and a plain-HTTP listener (for the artifact benchmark)."""

    def __init__(self, workdir, certs, workers, root=None):
        self.port = free_port()
        self.plain_port = free_port() if root else None
        prefix = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        temp = {name: os.path.join(prefix, name) for name in ["body", "proxy", "fastcgi", "uwsgi", "scgi"]}
        conf = os.path.join(prefix, "nginx.conf")
        self.log_path = os.path.join(prefix, "logs", "error.log")
        static = ""
        if root:
            # Debian's stock nginx.conf turns sendfile on (the compiled-in default is off). It applies
            # to the plain listener only: without kernel TLS nginx reads and SSL_writes for HTTPS.
            static = f"""
        listen 127.0.0.1:{self.plain_port};
        sendfile on;
        default_type application/octet-stream;
        root {root};
        location /out/ {{ }}"""
        with open(conf, "w") as f:
            f.write(f'''worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {self.log_path} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate {certs["cert"]};
        ssl_certificate_key {certs["key"]};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {TLS12_SUITES};
        ssl_conf_command Ciphersuites {TLS13_SUITES};
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve {GROUPS};
        ssl_session_tickets on;{static}
        location = /healthz {{
            default_type application/json;
            return 200 '{HEALTH_BODY}\\n';
        }}
    }}
}}
''')
        self.log = open(os.path.join(prefix, "logs", "stderr.log"), "w")
        self.proc = subprocess.Popen(["nginx", "-p", prefix, "-e", self.log_path, "-c", conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.pid = self.proc.pid
        self.base = f"https://127.0.0.1:{self.port}"
        self.health = self.base + "/healthz"
        wait_healthy(self.health, self.proc, self.log_path, "nginx")
        if root:
            self.plain_base = f"http://127.0.0.1:{self.plain_port}"
            wait_healthy(self.plain_base + "/healthz", self.proc, self.log_path, "nginx (plain)")

    def workers(self):
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def stop(self):
        # SIGTERM is nginx's fast shutdown; SIGQUIT would wait for kept-alive connections.
        stop_process(self.proc)
        self.log.close()


def negotiated(port, ca):
    """Protocol, suite and key exchange group a default OpenSSL client gets, to show both match."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca, "-brief"],
                       input="", capture_output=True, text=True, timeout=20)
    text = r.stdout + r.stderr
    fields = {}
    for key in ["Protocol version", "Ciphersuite", "Negotiated TLS1.3 group", "Server Temp Key", "Peer Temp Key",
                "Verification"]:
        m = re.search(rf"^{re.escape(key)}: (.*)$", text, re.M)
        if m:
            fields[key] = m.group(1).strip()
    group = fields.get("Negotiated TLS1.3 group") or fields.get("Server Temp Key") or fields.get("Peer Temp Key", "?")
    return f"{fields.get('Protocol version', '?')} {fields.get('Ciphersuite', '?')} {group}, verify {fields.get('Verification', '?')}"


def closes_on_request(url):
    """Whether the server answers `Connection: close` with a closing response (wrk reconnects only then)."""
    r = subprocess.run(["curl", "-sk", "-D", "-", "-o", "/dev/null", "-H", "Connection: close", url],
                       capture_output=True, text=True, timeout=20)
    return re.search(r"^connection:\s*close", r.stdout, re.I | re.M) is not None


def release_bindir(bin_dir, no_build):
    """The binaries to measure: --bin-dir (made absolute: clients run in other directories), else
    the release build (made first unless --no-build)."""
    if bin_dir:
        return os.path.abspath(bin_dir)
    if not no_build:
        sh(["swift", "build", "-c", "release"], cwd=ROOT)
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()


def wrk(url, threads, conns, seconds, close):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    before = tcp_active_opens()
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    opened = tcp_active_opens() - before
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        sys.exit(f"cannot read wrk's output:\n{out}")
    total = re.search(r"(\d+) requests in", out)
    problems = []
    m_non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m_non2xx:
        problems.append(f"{m_non2xx.group(1)} non-2xx")
    m_err = re.search(r"Socket errors: (.*)", out)
    if m_err:
        problems.append("socket errors " + m_err.group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return {"rps": float(m.group(1)), "requests": int(total.group(1)) if total else 0, "opened": opened,
            "problems": problems, "p99": p99.group(1) if p99 else "?"}


def s_time(port, seconds, procs):
    """Full handshakes: `procs` parallel `openssl s_time -new` loops, each one connection at a time with
    a fresh handshake (no resumption), sending GET /healthz over HTTP/1.0 and reading to the close."""
    cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-www", "/healthz", "-time", str(seconds)]
    running = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(procs)]
    rate, total, per_conn = 0.0, 0, set()
    for proc in running:
        out = proc.communicate()[0]
        m = re.search(r"(\d+) connections in (\d+) real seconds, (\d+) bytes read per connection", out)
        if not m:
            sys.exit(f"cannot read s_time's output:\n{out}")
        n, real = int(m.group(1)), int(m.group(2))
        rate += n / max(real, 1)
        total += n
        per_conn.add(m.group(3))
    return {"rps": rate, "requests": total, "opened": total, "problems": [], "p99": "n/a",
            "note": f"{'/'.join(sorted(per_conn))} bytes read per connection"}


def resumes_sessions(port, ca):
    """Whether a second connection resumes the first one's session (TLS 1.3 ticket or 1.2 session id)."""
    with tempfile.NamedTemporaryFile(prefix="tls-bench-sess-") as session:
        request = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        base = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca, "-ign_eof"]
        # -ign_eof: read until the server closes, so TLS 1.3 tickets (sent after the handshake) arrive.
        subprocess.run(base + ["-sess_out", session.name], input=request, capture_output=True, text=True, timeout=20)
        again = subprocess.run(base + ["-sess_in", session.name], input=request, capture_output=True, text=True,
                               timeout=20).stdout
    return re.search(r"^Reused, ", again, re.M) is not None


def interleaved(servers, runs, measure):
    """Alternates the servers run by run, so drift in the machine's speed hits both; keeps all samples."""
    samples = {name: [] for name in servers}
    for _ in range(runs):
        for name, server in servers.items():
            samples[name].append(measure(server))
    return samples


def report_rate(title, samples, target, unit="req/s"):
    ours = statistics.median(s["rps"] for s in samples["build-service"])
    theirs = statistics.median(s["rps"] for s in samples["nginx"])
    print(f"{title}:\n  build-service {ours:.0f} {unit}, nginx {theirs:.0f} {unit}, "
          f"ratio {ours / theirs:.2f}x (target >= {target}x)")
    for name, runs in samples.items():
        requests = sum(s["requests"] for s in runs)
        opened = sum(s["opened"] for s in runs)
        problems = "; ".join(p for s in runs for p in s["problems"]) or "none"
        rates = ", ".join(f"{s['rps']:.0f}" for s in runs)
        notes = "; ".join(sorted({s["note"] for s in runs if s.get("note")}))
        p99 = "" if runs[0]["p99"] == "n/a" else f"; p99 latency {', '.join(s['p99'] for s in runs)}"
        print(f"    {name}: runs {rates}{p99}; {requests} requests on {opened} new TCP connections; "
              f"errors: {problems}{'; ' + notes if notes else ''}")


def handshake(daemon, nginx, certs, args):
    """Two figures. wrk reconnects after each `Connection: close` answer but offers the previous
    session again, so its connections are resumed handshakes wherever the server issues tickets
    (checked against nginx's $ssl_session_reused: all but the first per connection slot). openssl
    s_time -new makes every connection a full handshake (certificate, signature, key exchange)."""
    servers = {"build-service": daemon, "nginx": nginx}
    resumption = {name: resumes_sessions(s.port, certs["ca"]) for name, s in servers.items()}
    print("session resumption offered: " + ", ".join(f"{n} {'yes' if r else 'NO'}" for n, r in resumption.items()))
    if args.handshake_client in ("auto", "wrk"):
        closing = {name: closes_on_request(s.health) for name, s in servers.items()}
        if not all(closing.values()):
            print(f"  wrk skipped: {[n for n, c in closing.items() if not c]} did not answer 'Connection: close' "
                  "with a closing response, so wrk would keep those connections alive")
        else:
            for s in servers.values():  # warm-up, not counted
                wrk(s.health, 2, 8, 1, close=True)
            samples = interleaved(servers, args.runs, lambda s: wrk(s.health, 2, 8, args.seconds, close=True))
            suspicious = [n for n, runs in samples.items()
                          if sum(s["opened"] for s in runs) < 0.9 * sum(s["requests"] for s in runs)]
            if suspicious:
                print(f"  warning: fewer new TCP connections than requests for {suspicious}: wrk reused connections")
            kind = "resumed handshakes" if all(resumption.values()) else \
                "NOT comparable: resumed on one server, full on the other"
            report_rate(f"new TLS connections/s, handshake + GET /healthz each, {kind} "
                        f"(wrk -t2 -c8 -d{args.seconds}s -H 'Connection: close', median of {args.runs}, interleaved)",
                        samples, 0.7, "conn/s")
    if args.handshake_client in ("auto", "s_time"):
        procs = args.s_time_procs
        samples = interleaved(servers, args.runs, lambda s: s_time(s.port, args.seconds, procs))
        report_rate(f"new TLS connections/s, full handshake + GET /healthz (HTTP/1.0) each "
                    f"({procs} x openssl s_time -new -time {args.seconds}, median of {args.runs}, interleaved)",
                    samples, 0.7, "conn/s")


def keepalive(daemon, nginx, args):
    servers = {"build-service": daemon, "nginx": nginx}
    for s in servers.values():
        wrk(s.health, 2, 16, 1, close=False)
    samples = interleaved(servers, args.runs, lambda s: wrk(s.health, 2, 16, args.seconds, close=False))
    report_rate(f"keep-alive GET /healthz over TLS (wrk -t2 -c16 -d{args.seconds}s, median of {args.runs}, interleaved)",
                samples, 0.5)


def cli_flags(cli):
    """build-cli's flag names for the service URL and the CA file, read from its --help."""
    text = subprocess.run([cli, "--help"], capture_output=True, text=True).stdout
    def offers(flag):
        return re.search(rf"(?<![\w-]){flag}(?![\w-])", text) is not None
    url_flag = next((f for f in ["--url", "--endpoint"] if offers(f)), None)
    ca_flag = next((f for f in ["--cacert", "--ca-cert", "--ca-file", "--cafile", "--ca"] if offers(f)), None)
    if url_flag is None:
        sys.exit(f"build-cli --help shows neither --url nor --endpoint:\n{text}")
    return url_flag, ca_flag


def timed(cmd, env=None):
    start = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed with {r.returncode}:\n{r.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def stream(bindir, workdir, certs, tls_daemon, size, runs):
    """The same build's output relayed over HTTPS and over plain HTTP: build-cli (and curl, to tell
    the client's TLS from the server's), median of `runs` each, interleaved."""
    plain = Daemon(bindir, workdir, certs, tls=False, name="daemon-plain")
    try:
        cli = os.path.join(bindir, "build-cli")
        url_flag, ca_flag = cli_flags(cli)
        env = dict(os.environ)
        if ca_flag:
            trust = [ca_flag, certs["ca"]]
        else:
            # The client context falls back to the default verify paths, which honour SSL_CERT_FILE.
            trust = []
            env["SSL_CERT_FILE"] = certs["ca"]
            print("  (build-cli --help shows no CA flag; trusting the dev CA through SSL_CERT_FILE)")
        body = json.dumps({"project_id": "bench", "command": "produce", "args": [str(size)]})
        clients = {
            "build-cli HTTPS": ([cli, url_flag, tls_daemon.base] + trust + ["--project", "bench", "produce", str(size)], env),
            "build-cli HTTP": ([cli, url_flag, plain.base, "--project", "bench", "produce", str(size)], env),
            "curl HTTPS": (["curl", "-sS", "-N", "--fail", "--cacert", certs["ca"], "--data-binary", body,
                            tls_daemon.base + "/v1/builds"], None),
            "curl HTTP": (["curl", "-sS", "-N", "--fail", "--data-binary", body, plain.base + "/v1/builds"], None),
        }
        seconds = {name: [] for name in clients}
        raw = []
        for _ in range(runs):
            raw.append(timed(["sh", "-c", f"{tls_daemon.producer} {size} | cat >/dev/null"]))
            for name, (cmd, cmd_env) in clients.items():
                seconds[name].append(timed(cmd, env=cmd_env))
    finally:
        plain.stop()
    mib = size / (1 << 20)
    rate = {name: mib / statistics.median(s) for name, s in seconds.items()}
    print(f"streamed build, {mib:.0f} MiB of output, median of {runs}, interleaved "
          f"(raw pipe producer | cat: {mib / statistics.median(raw):.0f} MiB/s):")
    print(f"  build-cli: HTTPS {rate['build-cli HTTPS']:.0f} MiB/s, plain HTTP {rate['build-cli HTTP']:.0f} MiB/s, "
          f"ratio {rate['build-cli HTTPS'] / rate['build-cli HTTP']:.2f}x (target >= 0.6x)")
    print(f"  curl:      HTTPS {rate['curl HTTPS']:.0f} MiB/s, plain HTTP {rate['curl HTTP']:.0f} MiB/s, "
          f"ratio {rate['curl HTTPS'] / rate['curl HTTP']:.2f}x (for reference: OpenSSL's own client)")


SEVERITY_ORDER = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "FATAL", "OK", "INFO", "DEBUG"]

# Findings nginx gets too with the same certificate and settings (seen with testssl 3.0.8): they
# come from the development CA or from serving an API rather than web pages, not from the TLS stack.
EXPECTED = {
    "cert_revocation": "the development CA publishes no CRL or OCSP",
    "DNS_CAArecord": "no DNS for 127.0.0.1",
    "HSTS": "an API for build agents, not browsers",
    "security_headers": "an API for build agents, not browsers",
}


def testssl(port, workdir, certs, label="build-service"):
    """testssl.sh against 127.0.0.1:PORT; prints the findings worse than OK/INFO and a count per severity."""
    tool = shutil.which("testssl") or shutil.which("testssl.sh")
    if tool is None:
        print("testssl: not installed (apt-get install -y testssl.sh), skipped")
        return None
    report = os.path.join(workdir, f"testssl-{label}.json")
    if os.path.exists(report):
        os.remove(report)  # testssl refuses to overwrite
    cmd = [tool, "--quiet", "--color", "0", "--warnings", "batch", "--ip", "one", "--jsonfile", report]
    if "--add-ca" in subprocess.run([tool, "--help"], capture_output=True, text=True).stdout:
        cmd += ["--add-ca", certs["ca"]]
    else:
        print("  (this testssl has no --add-ca: the chain-of-trust finding is expected to complain)")
    start = time.perf_counter()
    r = subprocess.run(cmd + [f"127.0.0.1:{port}"], cwd=workdir, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    try:
        with open(report) as f:
            findings = json.load(f)
    except (OSError, ValueError) as error:
        print(f"testssl ({label}): no JSON report ({error}); exit {r.returncode}; output tail:\n{r.stdout[-3000:]}{r.stderr[-2000:]}")
        return None
    if isinstance(findings, dict):  # --jsonfile-pretty layout, in case someone switches
        findings = [f for scan in findings.get("scanResult", []) for v in scan.values() if isinstance(v, list) for f in v]
    counts = {}
    for finding in findings:
        counts[finding.get("severity", "?")] = counts.get(finding.get("severity", "?"), 0) + 1
    bad = [f for f in findings if f.get("severity") not in ("OK", "INFO", "DEBUG")]
    bad.sort(key=lambda f: SEVERITY_ORDER.index(f["severity"]) if f.get("severity") in SEVERITY_ORDER else 99)
    version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"testssl\S*\s+(\d[\w.-]*)", version)
    print(f"testssl {m.group(1) if m else '?'} against {label} (127.0.0.1:{port}, {elapsed:.0f} s, exit {r.returncode}, "
          f"report {report}, removed at the end unless --keep):")
    for finding in bad:
        cve = f" [{finding['cve']}]" if finding.get("cve") else ""
        why = f" (expected: {EXPECTED[finding.get('id')]})" if finding.get("id") in EXPECTED else ""
        print(f"  {finding.get('severity')}: {finding.get('id')}: {finding.get('finding')}{cve}{why}")
    summary = ", ".join(f"{s} {counts[s]}" for s in sorted(counts, key=lambda s: SEVERITY_ORDER.index(s)
                                                              if s in SEVERITY_ORDER else 99))
    unexpected = sum(1 for f in bad if f.get("id") not in EXPECTED)
    print(f"  summary: {summary}; {len(bad)} finding(s) worse than OK/INFO, {unexpected} not in the expected list")
    return {(f.get("id"), f.get("severity")) for f in bad}


def describe_setup(nginx, workers):
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    line = f"{os.cpu_count()} CPUs; {openssl}"
    if nginx:
        version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        line += f"; {version} with worker_processes {workers}"
        if workers == 1:
            line += " (one worker: the daemon, nginx and wrk share the cores; --nginx-workers N to change)"
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s wrk runs and a 64 MiB stream")
    parser.add_argument("--no-build", action="store_true", help="skip swift build -c release")
    parser.add_argument("--bin-dir", help="use the binaries in DIR; no swift invocation at all")
    parser.add_argument("--testssl", action="store_true", help="also run testssl.sh against the daemon (~1-2 min)")
    parser.add_argument("--testssl-reference", action="store_true",
                        help="with testssl: scan nginx too and name the daemon's findings nginx does not have")
    parser.add_argument("--only", choices=["handshake", "keepalive", "stream", "testssl"])
    parser.add_argument("--nginx-workers", type=int, default=1,
                        help="nginx worker_processes (default 1: the daemon competes with wrk on 2 cores)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per figure, median reported (default 3)")
    parser.add_argument("--handshake-client", choices=["auto", "wrk", "s_time"], default="auto",
                        help="auto (default): both wrk (resumed handshakes) and openssl s_time -new (full ones)")
    parser.add_argument("--s-time-procs", type=int, default=4,
                        help="parallel openssl s_time processes for the full-handshake figure (default 4)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs, certs)")
    args = parser.parse_args()
    args.seconds = 3 if args.quick else 10
    size = (64 if args.quick else 512) << 20

    figures = [args.only] if args.only else ["handshake", "keepalive", "stream"] + (["testssl"] if args.testssl else [])
    needed = ["curl", "openssl"]
    if {"handshake", "keepalive"} & set(figures):
        needed += ["nginx", "wrk"]
    elif "testssl" in figures and args.testssl_reference:
        needed += ["nginx"]
    for tool in needed:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y nginx-light wrk curl openssl testssl.sh")

    bindir = release_bindir(args.bin_dir, args.no_build)
    for binary in ["build-service", "build-cli"]:
        if not os.access(os.path.join(bindir, binary), os.X_OK):
            sys.exit(f"{binary} not found in {bindir}")

    workdir = tempfile.mkdtemp(prefix="bs-tls-bench-")
    daemon = nginx = None
    try:
        certs = make_certs(workdir)
        daemon = Daemon(bindir, workdir, certs, tls=True, name="daemon-tls")
        if {"handshake", "keepalive"} & set(figures) or ("testssl" in figures and args.testssl_reference):
            nginx = Nginx(workdir, certs, args.nginx_workers)
        print(describe_setup(nginx, args.nginx_workers))
        print(f"  build-service {daemon.base}: {negotiated(daemon.port, certs['ca'])}")
        if nginx:
            print(f"  nginx         {nginx.base}: {negotiated(nginx.port, certs['ca'])}")
        if "handshake" in figures:
            handshake(daemon, nginx, certs, args)
        if "keepalive" in figures:
            keepalive(daemon, nginx, args)
        if "stream" in figures:
            stream(bindir, workdir, certs, daemon, size, args.runs)
        if "testssl" in figures:
            ours = testssl(daemon.port, workdir, certs)
            if args.testssl_reference and ours is not None:
                theirs = testssl(nginx.port, workdir, certs, label="nginx")
                if theirs is not None:
                    only_ours = sorted(ours - theirs)
                    print("  findings build-service has and nginx (same certificate and settings) has not: "
                          + (", ".join(f"{i} ({sev})" for i, sev in only_ours) or "none"))
    finally:
        finish(workdir, args.keep, nginx, daemon)


if __name__ == "__main__":
    main()
