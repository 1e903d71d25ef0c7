import Foundation
import Testing

/// `check-config` as the unit's ExecStartPre: a socket or port the daemon could not open under
/// the unit fails the check (and the daemon's start) with what to change, instead of passing
/// and leaving systemd to restart a daemon that cannot bind.
@Suite struct ListenerPlacementTests {
    private func checkConfig(
        _ daemon: DaemonUnderTest,
        text: String,
        environment: [String: String] = [:],
        prefix: [String] = []
    ) async throws -> ProcessResult {
        let path = daemon.directory + "/placed.toml"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let binary = TestProcess.binary("build-service")
        let command = prefix + [binary, "check-config", "--config", path]
        return try await TestProcess.run(
            command[0],
            Array(command.dropFirst()),
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            outputDirectory: daemon.directory
        )
    }

    @Test func aSocketOutsideTheRuntimeDirectoryIsAWarningWhileItsDirectoryIsWritable() async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let runtime = daemon.directory + "/runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        let outside = try await checkConfig(daemon, text: text, environment: ["RUNTIME_DIRECTORY": runtime])
        #expect(outside.status == 0, "\(outside.stderrText)")
        #expect(outside.stdoutText.contains("warning: service.socket.path"), "\(outside.stdoutText)")
        #expect(outside.stdoutText.contains("\(runtime)/build.sock"), "\(outside.stdoutText)")

        let inside = try await checkConfig(
            daemon,
            text: text.replacingOccurrences(of: daemon.socketPath, with: runtime + "/build.sock"),
            environment: ["RUNTIME_DIRECTORY": runtime]
        )
        #expect(inside.status == 0, "\(inside.stderrText)")
        #expect(!inside.stdoutText.contains("RuntimeDirectory"), "\(inside.stdoutText)")
    }

    @Test func aSocketWhoseDirectoryCannotBeWrittenFailsTheCheckAndTheStart() async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let runtime = daemon.directory + "/runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        let missing = daemon.directory + "/no-such-directory/build-service.sock"
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
            .replacingOccurrences(of: daemon.socketPath, with: missing)
        let result = try await checkConfig(daemon, text: text, environment: ["RUNTIME_DIRECTORY": runtime])
        #expect(result.status == 1)
        #expect(result.stderrText.contains("service.socket.path"), "\(result.stderrText)")
        #expect(result.stderrText.contains("No such file or directory"), "\(result.stderrText)")
        #expect(result.stderrText.contains("\(runtime)/build.sock"), "\(result.stderrText)")

        // The daemon says the same and exits, instead of a bind error.
        let path = daemon.directory + "/placed.toml"
        let start = try await TestProcess.run(
            TestProcess.binary("build-service"),
            ["--config", path],
            environment: ProcessInfo.processInfo.environment.merging(["RUNTIME_DIRECTORY": runtime]) { _, new in new },
            outputDirectory: daemon.directory
        )
        #expect(start.status == 1)
        #expect(start.stderrText.contains("cannot create the socket in"), "\(start.stderrText.prefix(600))")
    }

    /// The shipped unit's CapabilityBoundingSet once lacked CAP_NET_BIND_SERVICE: port 443
    /// failed at bind while check-config passed. setpriv drops it from the bounding set as
    /// such a unit did.
    @Test(.enabled(if: geteuid() == 0, "needs root, as the unit runs the daemon"))
    func aPrivilegedPortWithoutTheCapabilityFailsTheCheck() async throws {
        let daemon = try await DaemonUnderTest()
        await daemon.stop()
        let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
            .replacingOccurrences(of: "listen_addr = \"127.0.0.1:0\"", with: "listen_addr = \"127.0.0.1:443\"")
        #expect(text.contains("127.0.0.1:443"))
        let withCapability = try await checkConfig(daemon, text: text)
        #expect(withCapability.status == 0, "\(withCapability.stderrText)")

        let without = try await checkConfig(daemon, text: text, prefix: ["/usr/bin/setpriv", "--bounding-set", "-net_bind_service", "--"])
        #expect(without.status == 1)
        #expect(without.stderrText.contains("service.http.listen_addr"), "\(without.stderrText)")
        #expect(without.stderrText.contains("CAP_NET_BIND_SERVICE"), "\(without.stderrText)")
    }
}
