import Foundation
import Testing

/// The HTTP listener is one SO_REUSEPORT socket per event loop; a second daemon must still not
/// be able to share its port.
@Suite struct TCPListenerTests {
    @Test func aSecondDaemonOnTheSamePortRefusesToStart() async throws {
        let daemon = try await DaemonUnderTest()
        let config = daemon.directory + "/second.toml"
        try Self.writeHTTPOnlyConfig(
            to: config,
            port: daemon.port,
            workspaces: daemon.directory + "/ws2",
            project: daemon.projectRoot,
            extraBuildLines: "allow_root_builds = true"
        )
        let second = try await TestProcess.run(TestProcess.binary("build-service"), ["--config", config], outputDirectory: daemon.directory)
        #expect(second.status != 0)
        #expect(second.stderrText.contains("Address already in use"), "\(second.stderrText)")
        // The first one still answers.
        let response = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(response.status == 200)
    }

    /// A daemon without root (a developer's own, or one started with no capabilities) serves
    /// HTTP too: no socket option it sets may need privileges (TCP_NODELAY once went out at the
    /// socket level, as SO_DEBUG, which needs CAP_NET_ADMIN, and every connection was dropped).
    /// (Needs root to become nobody; run as anyone else, every other test covers it.)
    @Test(.enabled(if: geteuid() == 0)) func aDaemonWithoutRootServesHTTP() async throws {
        let directory = try DaemonUnderTest.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o755)
        try FileManager.default.createDirectory(atPath: directory + "/project", withIntermediateDirectories: true)
        // A copy nobody can run, whatever the permissions of the directories above the build.
        let binary = directory + "/build-service"
        try FileManager.default.copyItem(atPath: TestProcess.binary("build-service"), toPath: binary)
        let config = directory + "/config.toml"
        try Self.writeHTTPOnlyConfig(to: config, port: 0, workspaces: directory + "/workspaces", project: directory + "/project")
        chmod(config, 0o644)
        var daemon: RunningProcess
        var port = 0
        var attempts = 0
        // A child that another test forks while the copy is being written inherits a descriptor
        // open for writing, and exec then fails with ETXTBSY until that child has exec'd: try again.
        repeat {
            daemon = try TestProcess.start(
                "/usr/bin/setpriv",
                ["--reuid=nobody", "--regid=nogroup", "--clear-groups", binary, "--config", config],
                outputDirectory: directory
            )
            attempts += 1
            _ = await eventually {
                guard let range = daemon.stderrSoFar.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) else {
                    return daemon.stderrSoFar.contains("Text file busy")
                }
                port = Int(daemon.stderrSoFar[range].split(separator: ":").last!)!
                return true
            }
        } while port == 0 && attempts < 5 && daemon.stderrSoFar.contains("Text file busy")
        defer { daemon.signal(SIGKILL) }
        let listening = port != 0
        #expect(listening, "\(daemon.stderrSoFar)")
        let build = try await TestProcess.run(
            "/usr/bin/curl",
            ["-sS", "--data-binary", #"{"project_id":"demo","command":"true"}"#, "http://127.0.0.1:\(port)/v1/builds"],
            outputDirectory: directory
        )
        #expect(build.stdoutText.contains(#""type":"exit","code":0"#), "\(build.stderrText) \(daemon.stderrSoFar)")
    }

    /// A daemon config with only the HTTP listener on loopback and one path project allowed `true`.
    private static func writeHTTPOnlyConfig(to path: String, port: Int, workspaces: String, project: String, extraBuildLines: String = "") throws {
        try """
        schema_version = "2"
        [service.socket]
        enabled = false
        [service.http]
        enabled = true
        listen_addr = "127.0.0.1:\(port)"
        [build]
        workspace_root = "\(workspaces)"
        \(extraBuildLines)
        [build.commands]
        true = "/bin/true"
        [[projects]]
        id = "demo"
        path_root = "\(project)"
        commands = ["true"]
        """.write(toFile: path, atomically: false, encoding: .utf8)
    }
}
