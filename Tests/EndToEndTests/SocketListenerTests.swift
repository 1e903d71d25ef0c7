import Foundation
import Testing

/// The Unix socket: its permissions, the legacy framing, and what may sit at its path.
@Suite(.serialized)
struct SocketListenerTests {
    @Test func socketHasTheConfiguredModeAndGroup() async throws {
        var options = DaemonUnderTest.Options()
        options.socketMode = "0660"
        options.socketGroup = "nogroup"
        let daemon = try await DaemonUnderTest(options)
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.socketPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)
        #expect((attributes[.groupOwnerAccountName] as? String) == "nogroup")
        #expect((attributes[.type] as? FileAttributeType) == .typeSocket)
        await daemon.stop()
    }

    @Test func legacyOneLineFramingGetsTheEventStream() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.legacy(requestJSON(["command": "make", "args": ["all"]]))
        let events = try parseEvents(result.stdoutText)
        #expect(events.first?["type"] as? String == "build")
        #expect(events.last?["type"] as? String == "exit")
        #expect(events.last?["code"] as? Int == 0)
        #expect(!result.stdoutText.contains("HTTP/1.1"))
        await daemon.stop()
    }

    /// The request line arriving a few bytes at a time (each read searched on its own for the
    /// newline), with bytes after the newline in the same read: the line is exactly what came
    /// before the newline.
    @Test func legacyRequestTrickledInSmallWritesIsReadWhole() async throws {
        let daemon = try await DaemonUnderTest()
        let request = requestJSON(["command": "make", "args": ["all"]])
        let script = """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
            line = sys.argv[2].encode()
            for i in range(0, len(line), 5):
                s.sendall(line[i:i + 5]); time.sleep(0.005)
            s.sendall(b"\\n{ignored")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                out += chunk
            sys.stdout.write(out.decode())
            """
        let result = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", script, daemon.socketPath, request],
            outputDirectory: daemon.directory
        )
        let events = try parseEvents(result.stdoutText)
        #expect(events.first?["type"] as? String == "build", "\(result.stdoutText)")
        #expect(events.last?["code"] as? Int == 0)
        await daemon.stop()
    }

    @Test func legacyFramingRefusalIsAnErrorEventThenExitOne() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.legacy(requestJSON(["command": "make", "args": ["-C", "/etc"]]))
        let events = try parseEvents(result.stdoutText)
        #expect(events.count == 2)
        #expect(events.first?["type"] as? String == "error")
        #expect(events.first?["code"] as? String == "invalid_path")
        #expect(events.last?["type"] as? String == "exit")
        #expect(events.last?["code"] as? Int == 1)
        #expect(events.last?["timed_out"] as? Bool == false)
        await daemon.stop()
    }

    /// A line over the limit is answered however the client sends it: just past the limit and
    /// then half-closed (the close may come in the same reads as the line's end), or much
    /// longer, written whole before the client reads (its write must not fail with EPIPE).
    @Test(arguments: [(1_048_600, true), (4 << 20, false)])
    func aLegacyLineOverTheLimitIsAnsweredBeforeTheConnectionCloses(length: Int, halfClose: Bool) async throws {
        // As below: the head deadline is not what this tests, and a loaded machine (the
        // sanitizers' run) can take longer than 15 s to read a megabyte.
        var options = DaemonUnderTest.Options()
        options.httpExtra = "header_timeout_sec = 300"
        let daemon = try await DaemonUnderTest(options)
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            try:
                s.sendall(b'{"project_id":"demo","command":"true","args":["' + b"x" * int(sys.argv[2]) + b'"]}\\n')
                print("sent all")
                if sys.argv[3] == "1":
                    s.shutdown(socket.SHUT_WR)
            except OSError as e:
                print("send failed:", e)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            sys.stdout.write(answer.decode())
            """
        let output = try await TestProcess.run(
            "/usr/bin/python3",
            ["-c", script, daemon.socketPath, String(length), halfClose ? "1" : "0"],
            outputDirectory: daemon.directory
        ).stdoutText
        #expect(output.hasPrefix("sent all\n"), "\(output)")
        #expect(output.contains(#""code":"payload_too_large""#), "\(output)")
        #expect(output.hasSuffix(#"{"type":"exit","code":1,"timed_out":false,"artifacts":[]}"# + "\n"), "\(output)")
        await daemon.stop()
    }

    @Test func legacyRequestLineOverTheLimitIsRefusedAndTheDaemonKeepsServing() async throws {
        // The line is a request head: on a machine as loaded as a sanitizer's run, reading a
        // megabyte took longer than the 15 s head deadline, which closed the connection
        // unanswered (socat: "Broken pipe"). This test is about the size limit alone.
        var options = DaemonUnderTest.Options()
        options.httpExtra = "header_timeout_sec = 300"
        let daemon = try await DaemonUnderTest(options)
        let huge = requestJSON(["command": "true", "args": [String(repeating: "x", count: 1_100_000)]])
        let result = try await daemon.legacy(huge)
        let events = try parseEvents(result.stdoutText)
        #expect(events.map { $0["type"] as? String } == ["error", "exit"], "socat: \(result.stderrText)")
        #expect(events.first?["code"] as? String == "payload_too_large")
        #expect(events.last?["code"] as? Int == 1)
        let ok = try await daemon.legacy(requestJSON(["command": "true"]))
        #expect(try parseEvents(ok.stdoutText).last?["code"] as? Int == 0)
        await daemon.stop()
    }

    @Test func staleSocketIsReplacedButAnotherFileIsNot() async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        // A socket left behind by a crash (bound, never removed) is replaced on start.
        let stale = try TestProcess.start(
            "/usr/bin/socat",
            ["UNIX-LISTEN:\(daemon.socketPath)", "-"],
            outputDirectory: daemon.directory
        )
        #expect(await eventually { FileManager.default.fileExists(atPath: daemon.socketPath) })
        stale.signal(SIGKILL)
        _ = await stale.wait()
        try await daemon.start()
        let ok = try await daemon.cli(["--project", "demo", "true"])
        #expect(ok.status == 0)
        await daemon.stop()

        // A socket another daemon still listens on is not taken over.
        try await daemon.start()
        let second = try await daemon.runAnotherDaemon()
        #expect(second.status != 0)
        #expect(second.stderrText.contains("another process is listening on \(daemon.socketPath)"))
        let stillServing = try await daemon.cli(["--project", "demo", "true"])
        #expect(stillServing.status == 0)
        await daemon.stop()

        try "not a socket".write(toFile: daemon.socketPath, atomically: false, encoding: .utf8)
        let refused = try await daemon.runAnotherDaemon()
        #expect(refused.status != 0)
        #expect(refused.stderrText.contains("service.socket.path"))
        #expect(refused.stderrText.contains("is not a socket"))
        #expect(try String(contentsOfFile: daemon.socketPath, encoding: .utf8) == "not a socket")
    }

    @Test func checkConfigValidatesLikeNginxT() async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let good = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["check-config", "--config", daemon.configPath],
            outputDirectory: daemon.directory
        )
        #expect(good.status == 0)
        #expect(good.stdoutText.contains("is valid"))
        #expect(good.stdoutText.contains("demo"))
        let broken = daemon.directory + "/broken.toml"
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
            .replacingOccurrences(of: "mode = ", with: "mdoe = ")
        try text.write(toFile: broken, atomically: false, encoding: .utf8)
        let bad = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["check-config"],
            environment: ["BUILD_SERVICE_CONFIG": broken],
            outputDirectory: daemon.directory
        )
        #expect(bad.status != 0)
        #expect(bad.stderrText.contains(broken))
        #expect(bad.stderrText.contains("service.socket.mdoe"))
        // A missing file says so, and where to point instead (not Foundation's "The operation
        // could not be completed").
        let missing = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["check-config", "--config", daemon.directory + "/none.toml"],
            outputDirectory: daemon.directory
        )
        #expect(missing.status == 1)
        let reason = "cannot read the config file: No such file or directory (give another with --config"
        #expect(missing.stderrText.contains(reason), "\(missing.stderrText)")
        #expect(!missing.stderrText.contains("could not be completed"))
    }

    /// Text on which the TOML parser crashes (toml++ aborts on the first three and recurses
    /// once per part of a dotted key: 27,500 parts overflowed a worker thread's stack), and
    /// what check-config and startup say instead of dying with a signal and a backtrace.
    static let parserBreakers: [(name: String, text: String, said: String)] = [
        ("[[[", "[[[", "the TOML parser crashed on this file"),
        ("a = [}", "a = [}", "the TOML parser crashed on this file"),
        ("a = [1,}", "a = [1,}", "the TOML parser crashed on this file"),
        ("a dotted key 27,500 parts deep", "a" + String(repeating: ".a", count: 27_500) + " = 1", "unknown key"),
        ("a dotted key 200,000 parts deep", "a" + String(repeating: ".a", count: 200_000) + " = 1", "nested too deep"),
    ]

    @Test(arguments: parserBreakers)
    func textThatCrashesTheTOMLParserIsAConfigError(breaker: (name: String, text: String, said: String)) async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let broken = daemon.directory + "/crash.toml"
        try (try String(contentsOfFile: daemon.configPath, encoding: .utf8) + "\n" + breaker.text + "\n")
            .write(toFile: broken, atomically: false, encoding: .utf8)
        let binary = TestProcess.binary("build-service")
        // The last run inherits SIGCHLD ignored, which would let the kernel reap the parser's
        // child before anyone learns how it ended.
        for (program, arguments) in [
            (binary, ["check-config", "--config", broken]), (binary, ["--config", broken]),
            ("/bin/sh", ["-c", "trap '' CHLD; exec \"$0\" check-config --config \"$1\"", binary, broken]),
        ] {
            let result = try await TestProcess.run(program, arguments, outputDirectory: daemon.directory)
            #expect(result.status == 1, "\(arguments): \(result.stderrText.prefix(300))")
            #expect(result.stderrText.contains(breaker.said), "\(result.stderrText.prefix(300))")
            #expect(!result.stderrText.contains("Backtrace"))
        }
    }
}
