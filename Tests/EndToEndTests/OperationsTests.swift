import Foundation
import Testing

/// What an operator sees: SIGTERM with builds in flight, SIGHUP reloads, /healthz and /metrics.
@Suite(.serialized)
struct OperationsTests {
    /// SIGTERM lets a running build finish within shutdown_grace_sec: its client gets exit 0,
    /// /healthz on an open connection says 503 meanwhile, the socket goes, the daemon exits 0.
    @Test func sigtermLetsARunningBuildFinishWithinTheGrace() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = 0\nshutdown_grace_sec = 20"
        let daemon = try await DaemonUnderTest(options)
        // Held at a gate until the test has seen the daemon say it is stopping: on a busy machine
        // a build of fixed length could end before SIGTERM arrives.
        let client = try daemon.startBuild(requestJSON(["command": "sh", "args": ["-c", DaemonUnderTest.gatedScript("gate") + "; echo finished"]]))
        // Asks for /healthz every 0.1 s on one keep-alive connection until it says 503.
        let poller = try TestProcess.start(
            "/usr/bin/python3",
            [
                "-c",
                """
                import http.client, time
                c = http.client.HTTPConnection("127.0.0.1", \(daemon.port), timeout=30)
                for _ in range(300):
                    try:
                        c.request("GET", "/healthz")
                        r = c.getresponse()
                        r.read()
                    except Exception as e:
                        print("closed", e, flush=True)
                        break
                    print(r.status, flush=True)
                    if r.status == 503:
                        break
                    time.sleep(0.1)
                """,
            ],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { poller.stdoutSoFar.hasPrefix("200\n") })
        #expect(await eventually { client.stdoutSoFar.contains(#""status":"started""#) })
        daemon.signal(SIGTERM)
        #expect(await eventually { poller.stdoutSoFar.contains("503\n") }, "\(poller.stdoutSoFar)")
        daemon.openGate("gate")
        #expect(await daemon.waitForExit() == 0)
        let events = try parseEvents(await client.wait().stdoutText)
        #expect(stdoutText(events) == "gate open\nfinished\n")
        #expect(events.last?["code"] as? Int == 0)
        #expect(events.last?["cancelled"] as? Bool != true)
        #expect(!events.contains { $0["type"] as? String == "error" })
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
        let polled = await poller.wait().stdoutText
        #expect(polled.contains("503\n"), "\(polled)")
    }

    /// With a short shutdown_grace_sec, SIGTERM cancels the builds still running or waiting:
    /// their clients get an `error` "shutdown" then exit 130 cancelled; no process is left.
    @Test func sigtermCancelsWhatIsLeftOnceTheGraceIsOver() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = 0\nshutdown_grace_sec = 1"
        options.demoMaxConcurrent = 1
        let daemon = try await DaemonUnderTest(options)
        let marker = uniqueMarker()
        let running = try daemon.startBuild(requestJSON(["command": "sleep", "args": [marker]]))
        #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty })
        let queued = try daemon.startBuild(requestJSON(["command": "true"]))
        #expect(await eventually { queued.stdoutSoFar.contains(#""status":"queued""#) })
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await daemon.stop() == 0)
        #expect(clock.now - start < .seconds(10))
        #expect(processes(matching: "sleep \(marker)").isEmpty)
        let streams = [await running.wait().stdoutText, await queued.wait().stdoutText]
        for stream in streams {
            let events = try parseEvents(stream)
            #expect(Array(events.compactMap { $0["type"] as? String }.suffix(2)) == ["error", "exit"], "\(stream)")
            #expect(events.first { $0["type"] as? String == "error" }?["code"] as? String == "shutdown")
            #expect(events.last?["code"] as? Int == 130)
            #expect(events.last?["cancelled"] as? Bool == true)
        }
        #expect(!streams[1].contains(#""status":"started""#))
    }

    /// A second SIGTERM during the grace cancels the running build at once instead of waiting
    /// the grace out.
    @Test func aSecondSigtermCancelsAtOnce() async throws {
        var options = DaemonUnderTest.Options()
        options.lifecycle = "max_concurrent = 16\nreattach_grace_sec = 0\nshutdown_grace_sec = 60"
        let daemon = try await DaemonUnderTest(options)
        let marker = uniqueMarker()
        let running = try daemon.startBuild(requestJSON(["command": "sleep", "args": [marker]]))
        #expect(await eventually { !processes(matching: "sleep \(marker)").isEmpty })
        let clock = ContinuousClock()
        let start = clock.now
        daemon.signal(SIGTERM)
        #expect(await eventually { daemon.log.contains("shutting down") })
        // Still running: the first signal waits for the grace.
        #expect(!processes(matching: "sleep \(marker)").isEmpty)
        daemon.signal(SIGTERM)
        #expect(await eventually { daemon.log.contains("second signal") })
        #expect(await daemon.stop() == 0)
        #expect(clock.now - start < .seconds(15))
        #expect(processes(matching: "sleep \(marker)").isEmpty)
        let events = try parseEvents(await running.wait().stdoutText)
        #expect(events.first { $0["type"] as? String == "error" }?["code"] as? String == "shutdown")
        #expect(events.last?["cancelled"] as? Bool == true)
    }

    private func addedProject(_ daemon: DaemonUnderTest) -> String {
        "[[projects]]\nid = \"added\"\ntype = \"path\"\npath_root = \"\(daemon.projectRoot)\"\ncommands = [\"printf\"]\n"
    }

    /// The config file with the token replaced and a project added.
    private func editedConfig(_ daemon: DaemonUnderTest) throws -> String {
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        return text.replacingOccurrences(of: "old-token-3e9a", with: "new-token-51bc") + addedProject(daemon)
    }

    private let build = requestJSON(["project_id": "added", "command": "printf", "args": ["reloaded"]])
    private let oldToken = bearer("old-token-3e9a")
    private let newToken = bearer("new-token-51bc")

    private func daemonWithOldToken() async throws -> DaemonUnderTest {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["old-token-3e9a"]
        return try await DaemonUnderTest(options)
    }

    /// `top -H` and /proc name the thread that watches for build exits, not after whichever
    /// thread happened to start it.
    @Test func theExitWatcherThreadHasItsOwnName() async throws {
        let daemon = try await DaemonUnderTest()
        #expect(try await daemon.curl(requestJSON(["command": "true"])).status == 200)
        let pid = try #require(daemon.pid)
        func names() -> [String] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            return tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
        }
        // The thread names itself as it starts, which on a loaded machine can come a little
        // after the first build (seen once: it still bore its creator's name).
        let named = await eventually { names().filter { $0 == "build-exits\n" }.count == 1 }
        #expect(named, "\(names())")
        await daemon.stop()
    }

    /// SIGHUP applies an edited config without a restart: a new project builds, the replaced
    /// token is refused and its replacement accepted.
    @Test func sighupAppliesAnEditedConfig() async throws {
        let daemon = try await daemonWithOldToken()
        let before = try await daemon.curl(build, headers: oldToken)
        #expect(before.status == 404)
        #expect(before.body.contains(#""code":"project_not_found""#))
        try editedConfig(daemon).write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        #expect(try await daemon.curl(build, headers: oldToken).status == 401)
        let after = try await daemon.curl(build, headers: newToken)
        #expect(after.status == 200)
        let events = try parseEvents(after.body)
        #expect(stdoutText(events) == "reloaded")
        #expect(events.last?["code"] as? Int == 0)
        await daemon.stop()
    }

    /// A reload that turns HTTP auth on also signs the artifact links of the builds after it:
    /// a browser has no token, and an unsigned link would answer 401.
    @Test func aReloadThatRequiresTokensSignsArtifactLinksFromThenOn() async throws {
        let daemon = try await DaemonUnderTest(.init(artifacts: ["out.bin"]))
        let build = requestJSON(["command": "sh", "args": ["-c", "echo x > out.bin"]])
        func artifactURL(_ headers: [String]) async throws -> String {
            let response = try await daemon.curl(build, headers: headers)
            let artifacts = try parseEvents(response.body).last?["artifacts"] as? [[String: Any]]
            return try #require(artifacts?.first?["url"] as? String, "\(response.body)")
        }
        #expect(!(try await artifactURL([])).contains("sig="))
        let config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try (config + "\n[service.http.auth]\nrequired = true\ntokens = [\"reload-token-8c2f\"]\n")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        let signed = try await artifactURL(bearer("reload-token-8c2f"))
        #expect(signed.contains("?expires=") && signed.contains("&sig="), "\(signed)")
        #expect(try await Download.fetch(signed, in: daemon.directory).status == 200)
        await daemon.stop()
    }

    /// A request in flight across a reload (head before, body after) is judged wholly by the
    /// config in force when it is complete: never the old token with the new project (which
    /// would build), but the new config's answer, 401 for the removed token.
    @Test func aRequestInFlightDuringAReloadIsJudgedByOneConfig() async throws {
        let daemon = try await daemonWithOldToken()
        let client = #"""
            import socket, sys
            body = sys.argv[1].encode()
            s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
            s.sendall(b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer old-token-3e9a\r\n"
                      b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
            print("head sent", flush=True)
            sys.stdin.readline()
            s.sendall(body)
            sys.stdout.write(s.makefile("rb").read().decode())
            """#
        let gate = daemon.directory + "/gate"
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        let inFlight = try TestProcess.start(
            "/bin/sh",
            ["-c", "tail -f \(gate) | head -1 | python3 -c \"$0\" \"$1\" \"$2\"", client, build, String(daemon.port)],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { inFlight.stdoutSoFar.contains("head sent") })
        try editedConfig(daemon).write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        // The body, after the reload.
        try "go\n".write(toFile: gate, atomically: false, encoding: .utf8)
        let answer = await inFlight.wait().stdoutText
        #expect(answer.hasPrefix("head sent\nHTTP/1.1 401"), "\(answer)")
        #expect(!answer.contains("reloaded"), "the old token reached the new project: \(answer)")
        #expect(try await daemon.curl(build, headers: newToken).status == 200)
        await daemon.stop()
    }

    /// Two ways a config can be broken: a value we refuse, and text on which the TOML parser
    /// itself aborts (toml++ asserts on `a = [}`): that one used to kill the daemon.
    static let breakages: [(name: String, from: String, to: String, logged: String)] = [
        ("an unsupported schema_version", #"schema_version = "2""#, #"schema_version = "9""#, "schema_version"),
        ("text that crashes the TOML parser", #"schema_version = "2""#, "schema_version = \"2\"\nbroken = [}", "TOML parser crashed"),
        // Overflowed the stack of the thread that reloads, where a child process parsing the
        // same text survived.
        (
            "a dotted key 27,500 parts deep", #"schema_version = "2""#,
            "schema_version = \"2\"\na" + String(repeating: ".a", count: 27_500) + " = 1", "unknown key"
        ),
    ]

    /// An invalid config on SIGHUP is logged and changes nothing; once fixed, the next SIGHUP
    /// applies it.
    @Test(arguments: breakages)
    func sighupWithAnInvalidConfigKeepsTheRunningOne(breakage: (name: String, from: String, to: String, logged: String)) async throws {
        let daemon = try await daemonWithOldToken()
        #expect(try await daemon.curl(build, headers: oldToken).status == 404)
        let edited = try editedConfig(daemon)
        try edited.replacingOccurrences(of: breakage.from, with: breakage.to)
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reload failed; the running config is kept") })
        #expect(daemon.log.contains(breakage.logged))
        #expect(!daemon.log.contains("config reloaded"))
        let old = try await daemon.curl(requestJSON(["command": "true"]), headers: oldToken)
        #expect(old.status == 200)
        #expect(try parseEvents(old.body).last?["code"] as? Int == 0)
        #expect(try await daemon.curl(build, headers: oldToken).status == 404)
        #expect(try await daemon.curl(build, headers: newToken).status == 401)

        try edited.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        #expect(try await daemon.curl(build, headers: newToken).status == 200)
        await daemon.stop()
    }

    /// A reload that would leave builds failing until a restart (the first artifact patterns:
    /// the store and signing key are set up at start) is refused whole: builds go on under the
    /// running config, and the log says what needs a restart.
    @Test func sighupThatCannotTakeEffectIsRefusedAndTheRunningConfigKept() async throws {
        let daemon = try await DaemonUnderTest()
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "artifacts = []", with: #"artifacts = ["out.txt"]"#)
            .replacingOccurrences(of: "default_sec = 60", with: "default_sec = 61")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reload refused") })
        #expect(daemon.log.contains("the first artifact patterns"))
        #expect(!daemon.log.contains("config reloaded"))
        let build = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "exit 0"]]))
        let events = try parseEvents(build.body)
        #expect(events.last?["code"] as? Int == 0, "\(build.body)")
        #expect(daemon.log.contains("build.timeout_sec=60"))
        await daemon.stop()
    }

    /// A reload that moves a listener applies the rest and says the listener needs a restart;
    /// the daemon keeps listening where it was.
    @Test func sighupReportsListenerChangesAsNeedingARestart() async throws {
        let daemon = try await DaemonUnderTest()
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: #"listen_addr = "127.0.0.1:0""#, with: #"listen_addr = "127.0.0.1:1""#)
            .replacingOccurrences(of: "default_sec = 60", with: "default_sec = 61")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        // Written just after "config reloaded": waited for too.
        #expect(await eventually { daemon.log.contains("take effect only after a restart") })
        #expect(daemon.log.contains("service.http"))
        let stillServing = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "exit 0"]]))
        #expect(stillServing.status == 200)
        // The rest of the new config is in force: builds get the new default timeout.
        #expect(try parseEvents(stillServing.body).last?["code"] as? Int == 0)
        #expect(daemon.log.contains("build.timeout_sec=61"))
        await daemon.stop()
    }

    /// Who runs git on the mirrors is fixed at startup: a reload that changes it says so
    /// instead of being silently ignored.
    @Test(.enabled(if: geteuid() == 0, "another mirror user needs a root daemon"))
    func sighupReportsAMirrorUserChangeAsNeedingARestart() async throws {
        let daemon = try await DaemonUnderTest()
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "allow_root_builds = true\n", with: "allow_root_builds = true\nmirror_user = \"daemon\"\n")
            .write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        // Written just after "config reloaded": waited for too.
        #expect(await eventually { daemon.log.contains("take effect only after a restart") })
        #expect(daemon.log.contains("mirror_user"))
        await daemon.stop()
    }

    /// A token removed by a reload while a request's body is still arriving does not start a
    /// build: the token is checked against the tokens in force when the request is complete.
    @Test func aTokenRevokedWhileItsBodyTricklesInIsRefused() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["keep-token-1", "gone-token-2"]
        let daemon = try await DaemonUnderTest(options)
        let body = Array(requestJSON(["command": "sh", "args": ["-c", "echo ran"]]).utf8)
        let connection = try socketConnect(port: daemon.port)
        defer { close(connection) }
        let head = Array(
            ("POST /v1/builds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gone-token-2\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n").utf8
        )
        let firstPart = head + body.prefix(5)
        #expect(write(connection, firstPart, firstPart.count) == firstPart.count)

        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: #", "gone-token-2""#, with: "").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })

        let rest = Array(body.dropFirst(5))
        #expect(write(connection, rest, rest.count) == rest.count)
        let response = String(decoding: readUntilClosed(connection, timeoutSec: 30).bytes, as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 401"), "\(response.prefix(200))")
        #expect(!response.contains("ran"))
        await daemon.stop()
    }

    /// /healthz answers without a token on both listeners: status ok, the version, and an
    /// uptime in seconds that grows.
    @Test func healthzSaysOkWithVersionAndUptimeWithoutAToken() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["health-token-0a9f"]
        let daemon = try await DaemonUnderTest(options)
        let first = try await daemon.json("/healthz")
        #expect(first.status == 200)
        #expect(first.headers.lowercased().contains("content-type: application/json"))
        #expect(first.object["status"] as? String == "ok")
        #expect((first.object["version"] as? String)?.isEmpty == false)
        let uptime = try #require(first.object["uptime_sec"] as? Int)
        #expect(uptime >= 0)
        try await Task.sleep(for: .milliseconds(1100))
        let later = try await daemon.json("/healthz", overSocket: true)
        #expect(later.status == 200)
        #expect(later.object["status"] as? String == "ok")
        #expect((later.object["uptime_sec"] as? Int ?? -1) >= uptime + 1)
        await daemon.stop()
    }

    /// /metrics (with the token) counts builds by project and outcome, their durations, the
    /// output bytes and refused tokens, and shows how many builds run and wait right now.
    @Test func metricsCountBuildsAndShowTheLoad() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = ["metrics-token-6d2f"]
        options.demoMaxConcurrent = 1
        let daemon = try await DaemonUnderTest(options)
        let auth = bearer("metrics-token-6d2f")
        #expect(try await daemon.curl("", path: "/metrics", method: "GET").status == 401)
        for script in ["true", "echo hello", "exit 3"] {
            #expect(try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]), headers: auth).status == 200)
        }
        func scrape() async throws -> [MetricSample] {
            let response = try await daemon.curl("", path: "/metrics", method: "GET", headers: auth)
            #expect(response.status == 200)
            #expect(response.headers.lowercased().contains("content-type: text/plain"))
            return metricSamples(response.body)
        }
        let finished = "build_service_builds_finished_total"
        var samples: [MetricSample] = []
        // A build is counted just after its client has had the exit event, and its slot is
        // free once its processes are gone.
        let counted = try await eventuallyAsync {
            samples = try await scrape()
            return metricValue(samples, finished, ["project": "demo", "outcome": "success"]) == 2
                && metricValue(samples, finished, ["project": "demo", "outcome": "failure"]) == 1
                && metricValue(samples, "build_service_builds_running") == 0
        }
        #expect(counted, "\(samples)")
        #expect(metricValue(samples, "build_service_builds_started_total", ["project": "demo"]) == 3)
        #expect(metricValue(samples, "build_service_build_duration_seconds_bucket", ["project": "demo", "le": "+Inf"]) == 3)
        #expect(metricValue(samples, "build_service_builds_running") == 0)
        #expect(metricValue(samples, "build_service_builds_queued") == 0)
        #expect((metricValue(samples, "build_service_output_bytes_total") ?? 0) > 0)
        #expect(metricValue(samples, "build_service_auth_failures_total", ["listener": "http"]) == 1)

        // One build running, one waiting for the project's only slot.
        let gated = requestJSON(["command": "sh", "args": ["-c", DaemonUnderTest.gatedScript("gate")]])
        let running = try daemon.startBuild(gated, headers: auth)
        #expect(await eventually { running.stdoutSoFar.contains(#""status":"started""#) })
        let waiting = try daemon.startBuild(requestJSON(["command": "true"]), headers: auth)
        #expect(await eventually { waiting.stdoutSoFar.contains(#""status":"queued""#) })
        samples = try await scrape()
        #expect(metricValue(samples, "build_service_builds_running") == 1)
        #expect(metricValue(samples, "build_service_builds_queued") == 1)
        daemon.openGate("gate")
        #expect(try parseEvents(await running.wait().stdoutText).last?["code"] as? Int == 0)
        #expect(try parseEvents(await waiting.wait().stdoutText).last?["code"] as? Int == 0)
        await daemon.stop()
    }

    /// With `[service.metrics] auth_required = false` a scraper needs no token; builds still do.
    @Test func metricsCanBeOpenWhileBuildsNeedAToken() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTOML = "required = true\ntokens = [\"only-token-9e3c\"]\n[service.metrics]\nauth_required = false"
        let daemon = try await DaemonUnderTest(options)
        let metrics = try await daemon.curl("", path: "/metrics", method: "GET")
        #expect(metrics.status == 200)
        #expect(metricValue(metricSamples(metrics.body), "build_service_builds_running") == 0)
        #expect(try await daemon.curl("", path: "/v1/builds", method: "GET").status == 401)
        #expect(try await daemon.curl(requestJSON(["command": "true"])).status == 401)
        await daemon.stop()
    }
}

/// `build.umask` is what a build's files are created with, not the daemon's umask (here
/// 0077, as the shipped unit sets it).
@Suite struct BuildUmaskTests {
    @Test(arguments: [(nil as String?, "644"), ("0027", "640"), ("0007", "660")])
    func buildsCreateFilesWithTheConfiguredUmask(umask: String?, mode: String) async throws {
        var options = DaemonUnderTest.Options()
        options.daemonUmask = "077"
        if let umask { options.lifecycle += "\numask = \"\(umask)\"" }
        let daemon = try await DaemonUnderTest(options)
        let status = try String(contentsOfFile: "/proc/\(try #require(daemon.pid))/status", encoding: .utf8)
        #expect(status.contains("Umask:\t0077"), "\(status)")
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "rm -f made && touch made && stat -c %a made"]]))
        let output = try parseEvents(response.body).compactMap { $0["data"] as? String }.joined()
        #expect(output == "\(mode)\n", "\(response.body)")
        await daemon.stop()
    }
}
