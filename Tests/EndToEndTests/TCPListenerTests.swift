import Foundation
import Testing

/// The HTTP listener is one SO_REUSEPORT socket per event loop; a second daemon must still not
/// be able to share its port.
@Suite struct TCPListenerTests {
    @Test func aSecondDaemonOnTheSamePortRefusesToStart() async throws {
        let daemon = try await DaemonUnderTest()
        let config = daemon.directory + "/second.toml"
        try """
        schema_version = "2"
        [service.socket]
        enabled = false
        [service.http]
        enabled = true
        listen_addr = "127.0.0.1:\(daemon.port)"
        [build]
        workspace_root = "\(daemon.directory)/ws2"
        allow_root_builds = true
        [build.commands]
        true = "/bin/true"
        [[projects]]
        id = "demo"
        path_root = "\(daemon.projectRoot)"
        commands = ["true"]
        """.write(toFile: config, atomically: false, encoding: .utf8)
        let second = try await TestProcess.run(TestProcess.binary("build-service"), ["--config", config], outputDirectory: daemon.directory)
        #expect(second.status != 0)
        #expect(second.stderrText.contains("address already in use"), "\(second.stderrText)")
        // The first one still answers.
        let response = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(response.status == 200)
    }
}
