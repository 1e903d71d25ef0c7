import Foundation
import Testing

/// build-cli against a daemon that speaks only the original's one-line framing on its socket: a
/// stand-in that answers as the original does (a JSON error line to anything that is not one
/// JSON line, else the build's events).
@Suite struct CLILegacyTests {
    static let standIn = #"""
        import json, socket, sys
        path, log, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(8)
        print("ready", flush=True)
        for _ in range(count):
            client, _ = server.accept()
            data = b""
            while b"\n" not in data:
                chunk = client.recv(65536)
                if not chunk:
                    break
                data += chunk
            line = data.split(b"\n")[0].rstrip(b"\r")
            with open(log, "ab") as f:
                f.write(line + b"\n")
            try:
                request = json.loads(line)
            except ValueError:
                client.sendall(b'{"type":"error","code":"invalid_request","message":"invalid request: expected value at line 1 column 1"}\n'
                               b'{"type":"exit","code":1,"timed_out":false}\n')
                client.close()
                continue
            events = [{"type": "build", "id": "bld_" + "0" * 32, "status": "started"},
                      {"type": "stdout", "data": "args " + " ".join(request.get("args", [])) + "\n"},
                      {"type": "stderr", "data": "warn\n"},
                      {"type": "exit", "code": 3, "timed_out": False}]
            client.sendall(b"".join(json.dumps(e).encode() + b"\n" for e in events))
            client.close()
        """#

    /// Starts the stand-in for `connections` connections; returns it, its socket and its log.
    private static func startStandIn(in directory: String, connections: Int) async throws -> (RunningProcess, String, String) {
        let (socket, log) = (directory + "/original.sock", directory + "/requests.log")
        let process = try TestProcess.start(
            "/usr/bin/python3",
            ["-c", standIn, socket, log, String(connections)],
            outputDirectory: directory
        )
        #expect(await eventually { FileManager.default.fileExists(atPath: socket) }, "the stand-in did not start")
        return (process, socket, log)
    }

    private static func cli(_ arguments: [String], socket: String, directory: String, environment: [String: String] = [:]) async throws
        -> ProcessResult
    {
        try await TestProcess.run(
            TestProcess.binary("build-cli"),
            ["--socket", socket, "--project", "demo"] + arguments,
            environment: ["PATH": "/usr/bin:/bin"].merging(environment) { $1 },
            outputDirectory: directory
        )
    }

    private static func requests(_ log: String) -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func anOriginalSocketIsSpokenToInItsFramingByItself() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (standIn, socket, log) = try await Self.startStandIn(in: directory, connections: 2)
        defer { standIn.signal(SIGKILL) }
        let result = try await Self.cli(["make", "-j2", "all"], socket: socket, directory: directory)
        #expect(result.status == 3, "\(result.stderrText)")
        #expect(result.stdoutText == "args -j2 all\n")
        #expect(result.stderrText.contains("warn"))
        let sent = Self.requests(log)
        #expect(sent.count == 2, "\(sent)")
        #expect(sent.first?.hasPrefix("POST /v1/builds HTTP/1.1") == true)
        // The one line carries the original's fields only.
        let line = try #require(sent.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect(line["project_id"] as? String == "demo")
        #expect(line["args"] as? [String] == ["-j2", "all"])
        #expect(line["idempotency_key"] == nil && line["heartbeat_sec"] == nil, "\(line)")
    }

    @Test(arguments: [true, false])
    func legacyIsSpokenAtOnceWhenAsked(byFlag: Bool) async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (standIn, socket, log) = try await Self.startStandIn(in: directory, connections: 1)
        defer { standIn.signal(SIGKILL) }
        let result = try await Self.cli(
            (byFlag ? ["--legacy"] : []) + ["make", "all"],
            socket: socket,
            directory: directory,
            environment: byFlag ? [:] : ["BUILD_SERVICE_PROTOCOL": "legacy"]
        )
        #expect(result.status == 3, "\(result.stderrText)")
        #expect(result.stdoutText == "args all\n")
        #expect(Self.requests(log).count == 1)
    }

    @Test func legacyAgainstThisDaemonWorksToo() async throws {
        let daemon = try await DaemonUnderTest()
        let result = try await daemon.cli(["--legacy", "--project", "demo", "make", "all"])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText.hasPrefix("building in "), "\(result.stdoutText)")
        #expect(result.stderrText.contains("to stderr"))
        await daemon.stop()
    }
}
