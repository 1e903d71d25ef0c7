import Foundation
import Testing

/// build-cli says in one line on stderr why a build ended when it did not simply run to its end
/// (before, a user saw exit 124 or 130 and make's own "wait: No child processes").
@Suite struct CLIOutcomeTests {
    private func start(_ daemon: DaemonUnderTest, _ arguments: [String]) throws -> RunningProcess {
        try TestProcess.start(
            TestProcess.binary("build-cli"),
            ["--socket", daemon.socketPath, "--cwd", "."] + arguments,
            environment: ["PATH": "/usr/bin:/bin"],
            outputDirectory: daemon.directory
        )
    }

    private func runningBuildID(_ daemon: DaemonUnderTest) async throws -> String {
        let list = try await daemon.curl("", path: "/v1/builds?state=running", method: "GET")
        return try #require(list.body.range(of: #"bld_[0-9a-f]{32}"#, options: .regularExpression).map { String(list.body[$0]) })
    }

    @Test func aTimeoutIsNamedWithItsLimit() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--project", "demo", "--timeout", "1", "sleep", "30"])
        #expect(result.status == 124)
        #expect(result.stderrText.contains("timed out after 1 s"), "\(result.stderrText)")
        #expect(result.stderrText.contains("build bld_"), "\(result.stderrText)")
        await daemon.stop()
    }

    @Test func aCancelByAnotherClientIsNamed() async throws {
        let daemon = try await DaemonUnderTest()
        let running = try start(daemon, ["--project", "demo", "sh", "-c", "echo up; exec sleep 33"])
        #expect(await eventually { running.stdoutSoFar.contains("up") })
        let id = try await runningBuildID(daemon)
        #expect(try await daemon.cli(["cancel", id]).status == 0)
        let result = await running.wait()
        #expect(result.status == 130)
        #expect(result.stderrText.contains("build \(id) was cancelled: by another client"), "\(result.stderrText)")
        await daemon.stop()
    }

    @Test func aDaemonShuttingDownIsNamed() async throws {
        let daemon = try await DaemonUnderTest()
        let running = try start(daemon, ["--project", "demo", "sh", "-c", "echo up; exec sleep 34"])
        #expect(await eventually { running.stdoutSoFar.contains("up") })
        // shutdown_grace_sec = 2 in the test daemons: then the build is cancelled.
        daemon.signal(SIGTERM)
        let result = await running.wait()
        #expect(result.status == 130)
        #expect(result.stderrText.contains("was cancelled: the build service is shutting down"), "\(result.stderrText)")
        _ = await daemon.stop()
    }

    @Test func verboseSaysTheBuildIdAndHowLongItTook() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["-v", "--project", "demo", "make", "all"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(
            result.stderrText.range(of: #"build-cli: build bld_[0-9a-f]{32} (started|queued)"#, options: .regularExpression) != nil,
            "\(result.stderrText)"
        )
        #expect(result.stderrText.range(of: #"exited 0 after [0-9.]+ s; cpu"#, options: .regularExpression) != nil, "\(result.stderrText)")
        // Without -v, a build that simply ends adds only its id and page link after its output
        // (path-only: the socket, and no public_url), and with --quiet nothing at all.
        let plain = try await daemon.cli(["--project", "demo", "make", "all"])
        #expect(
            plain.stderrText.wholeMatch(of: #/to stderr\nbuild-cli: build (bld_[0-9a-f]{32}) page: /v1/builds/\1/page\n/#) != nil,
            "\(plain.stderrText)"
        )
        let quiet = try await daemon.cli(["--quiet", "--project", "demo", "make", "all"])
        #expect(quiet.stderrText == "to stderr\n", "\(quiet.stderrText)")
        await daemon.stop()
    }

    /// A build that waited for a slot: -v says where it stood and how long it waited.
    @Test func verboseSaysHowLongABuildWaitedInTheQueue() async throws {
        var options = DaemonUnderTest.Options()
        options.demoMaxConcurrent = 1
        let daemon = try await DaemonUnderTest(options)
        let first = try start(daemon, ["--project", "demo", "sh", "-c", "echo up; exec sleep 35"])
        #expect(await eventually { first.stdoutSoFar.contains("up") })
        let second = try start(daemon, ["-v", "--project", "demo", "true"])
        #expect(await eventually(within: .seconds(30)) { second.stderrSoFar.contains("queued (position 1 in the queue)") })
        // Ctrl-C on the first cancels its build, which frees the slot.
        first.signal(SIGINT)
        let queued = await second.wait()
        #expect(queued.status == 0, "\(queued.stderrText)")
        #expect(
            queued.stderrText.range(of: #"exited 0 after [0-9.]+ s \(queued for [0-9.]+ s before\)"#, options: .regularExpression) != nil,
            "\(queued.stderrText)"
        )
        _ = await first.wait()
        await daemon.stop()
    }

    /// A stand-in service on a Unix socket: accepts connections and answers each with `reply`
    /// (Python bytes literal), or never when it is nil; with `thenClose` false it holds the
    /// connection open after the reply.
    private func fakeService(socket: String, reply: String?, thenClose: Bool = true, directory: String) throws -> RunningProcess {
        try TestProcess.start(
            "/usr/bin/python3",
            [
                "-c",
                """
                import socket, sys, time
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(sys.argv[1]); s.listen(8)
                print("listening", flush=True)
                held = []
                while True:
                    c, _ = s.accept()
                    held.append(c)
                    c.recv(65536)
                    \(reply.map { "c.sendall(\($0))" + (thenClose ? "; c.close()" : "") } ?? "pass")
                """,
                socket,
            ],
            outputDirectory: directory
        )
    }

    /// Against a service that accepts the request and never answers, build-cli once waited
    /// forever (the stall watch started with the first event).
    @Test func aServiceThatNeverAnswersIsGivenUpOnAfterTheStallTimeout() async throws {
        let result = try await cliAgainst(reply: nil, arguments: ["--stall-timeout", "3"])
        #expect(result.status == 69, "\(result.stderrText)")
        #expect(result.stderrText.contains("did not answer within 3 s"), "\(result.stderrText)")
    }

    /// A head and then silence (no event, no end) is given up on like no answer at all.
    @Test func aServiceThatSendsOnlyAHeadIsGivenUpOnAfterTheStallTimeout() async throws {
        let head = "b'HTTP/1.1 200 OK\\r\\nContent-Type: application/x-ndjson\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n'"
        let result = try await cliAgainst(reply: head, thenClose: false, arguments: ["--stall-timeout", "3"])
        #expect(result.status == 69, "\(result.stderrText)")
        #expect(result.stderrText.contains("answered but sent no event within 3 s"), "\(result.stderrText)")
    }

    /// A TCP server that accepts and never starts TLS: the handshake has its own deadline.
    @Test func aTLSHandshakeThatNeverFinishesIsGivenUpOn() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let service = try TestProcess.start(
            "/usr/bin/python3",
            [
                "-c",
                """
                import socket
                s = socket.create_server(("127.0.0.1", 0))
                print("port", s.getsockname()[1], flush=True)
                held = []
                while True:
                    held.append(s.accept()[0])
                """,
            ],
            outputDirectory: directory
        )
        #expect(await eventually { service.stdoutSoFar.hasPrefix("port ") })
        let port = service.stdoutSoFar.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)
        let result = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--endpoint", "https://127.0.0.1:\(port)", "--project", "p", "make"],
            outputDirectory: directory
        )
        service.signal(SIGKILL)
        #expect(result.status == 76, "\(result.stderrText)")
        #expect(
            result.stderrText.contains(
                "TLS with the build service at https://127.0.0.1:\(port) failed: the TLS handshake did not complete within 10 s"
            ),
            "\(result.stderrText)"
        )
    }

    /// build-cli (a build of `make` in project p, with `arguments`) against a stand-in service
    /// that answers with `reply` (see `fakeService`).
    private func cliAgainst(reply: String?, thenClose: Bool = true, arguments: [String] = []) async throws -> ProcessResult {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/stand-in.sock"
        let service = try fakeService(socket: socket, reply: reply, thenClose: thenClose, directory: directory)
        #expect(await eventually { service.stdoutSoFar.contains("listening") })
        let result = try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--socket", socket] + arguments + ["--project", "p", "make"],
            outputDirectory: directory
        )
        service.signal(SIGKILL)
        return result
    }

    /// build-cli against a stand-in service that answers 200 with these NDJSON lines, whole.
    private func cliAgainstAnswer(_ lines: [String]) async throws -> ProcessResult {
        let length = lines.reduce(0) { $0 + $1.utf8.count + 1 }
        let body = lines.map { $0 + "\\n" }.joined()
        return try await cliAgainst(
            reply: "b'HTTP/1.1 200 OK\\r\\nContent-Type: application/x-ndjson\\r\\nContent-Length: \(length)\\r\\n\\r\\n' + b'\(body)'"
        )
    }

    static let started = #"{"type":"build","id":"bld_00000000000000000000000000000000","status":"started","seq":1}"#

    /// A whole answer without the build's `exit` (it used to be taken for a broken connection
    /// and re-attached) is the service breaking the protocol.
    @Test func anAnswerWithoutAnExitEventIsAProtocolError() async throws {
        let result = try await cliAgainstAnswer([Self.started])
        #expect(result.status == 76, "\(result.stderrText)")
        #expect(result.stderrText.contains("ended without the build's exit event"), "\(result.stderrText)")
    }

    /// An exit code no process can have (256 became 0 when truncated) is the service's error.
    @Test func anExitCodeOutside0To255IsAProtocolError() async throws {
        let result = try await cliAgainstAnswer([Self.started, #"{"type":"exit","code":256,"timed_out":false,"artifacts":[],"seq":2}"#])
        #expect(result.status == 76, "\(result.stderrText)")
        #expect(result.stderrText.contains("outside 0-255"), "\(result.stderrText)")
    }
}
