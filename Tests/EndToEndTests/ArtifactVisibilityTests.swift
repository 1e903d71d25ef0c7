import Foundation
import Testing

/// Artifacts are collected by the daemon (root here) for a build that ran as another user
/// (`nobody`): a pattern may reach only what that user could have listed and read, and no name
/// from a directory closed to it, or from outside the root, comes back in a message.
@Suite struct ArtifactVisibilityTests {
    /// Names the build's user must never learn.
    static let hiddenNames = ["hidden-name", "also-hidden", "outside-name"]

    /// The tree an operator left: `secret/` closed to the build's user, an unreadable file in an
    /// open directory, symlinks through the closed directory and out of the root.
    private static func plant(in daemon: DaemonUnderTest) throws {
        let root = daemon.projectRoot
        let manager = FileManager.default
        try manager.createDirectory(atPath: root + "/secret/inner", withIntermediateDirectories: true)
        try "s".write(toFile: root + "/secret/hidden-name.bin", atomically: false, encoding: .utf8)
        try "s".write(toFile: root + "/secret/inner/also-hidden.bin", atomically: false, encoding: .utf8)
        chmod(root + "/secret", 0o700)
        chmod(root + "/secret/inner", 0o755)
        try manager.createSymbolicLink(atPath: root + "/link", withDestinationPath: "secret/inner")
        try manager.createDirectory(atPath: root + "/conf", withIntermediateDirectories: true)
        try "KEYCONTENT".write(toFile: root + "/conf/key.bin", atomically: false, encoding: .utf8)
        chmod(root + "/conf/key.bin", 0o600)
        try manager.createDirectory(atPath: daemon.directory + "/outside", withIntermediateDirectories: true)
        try "o".write(toFile: daemon.directory + "/outside/outside-name.bin", atomically: false, encoding: .utf8)
        chmod(daemon.directory + "/outside", 0o700)
        try manager.createSymbolicLink(atPath: root + "/esc", withDestinationPath: daemon.directory + "/outside")
        try manager.createDirectory(atPath: root + "/pub", withIntermediateDirectories: true)
        try "p".write(toFile: root + "/pub/fine.bin", atomically: false, encoding: .utf8)
    }

    private static func daemon(pattern: String) async throws -> DaemonUnderTest {
        var options = DaemonUnderTest.Options(artifacts: [pattern])
        options.runAsUser = "nobody"
        let daemon = try await DaemonUnderTest(options)
        try plant(in: daemon)
        return daemon
    }

    @Test(arguments: [
        ("secret/*.bin", "artifact_glob_miss"),
        ("secret/hidden-name.bin", "artifact_glob_miss"),
        ("link/*.bin", "artifact_glob_miss"),
        ("conf/*.bin", "artifact_collection_failed"),
        ("esc/*.bin", "artifact_collection_failed"),
        ("esc", "artifact_collection_failed"),
    ])
    func aPatternReachesOnlyWhatTheBuildsUserCouldRead(pattern: String, code: String) async throws {
        let daemon = try await Self.daemon(pattern: pattern)
        let response = try await daemon.curl(requestJSON(["command": "true"]))
        let events = try parseEvents(response.body)
        let error = try #require(events.first { $0["type"] as? String == "error" }, "\(events)")
        #expect(error["code"] as? String == code, "\(error)")
        let message = error["message"] as? String ?? ""
        #expect(message.contains(pattern), "the message names the pattern: \(message)")
        for name in Self.hiddenNames where !pattern.contains(name) {
            #expect(!response.body.contains(name), "\(pattern) leaked \(name): \(response.body)")
        }
        #expect(events.last?["code"] as? Int == 1)
        let stored = try FileManager.default.contentsOfDirectory(atPath: daemon.storageRoot)
        #expect(!stored.contains { $0.hasSuffix(".json") }, "nothing is published: \(stored)")
        await daemon.stop()
    }

    /// The daemon (root) can reach `secret/inner`; the build's user cannot, past `secret/`.
    /// A build asking to start there (by `cwd`, by make's `-C`, through a symlink) does not
    /// start: the daemon's rights never carry it past a directory closed to its user.
    @Test(
        arguments: [
            ["cwd": "secret/inner", "command": "true"],
            ["cwd": "link", "command": "true"],
            ["command": "make", "args": ["-C", "secret/inner", "-n", "x"]],
        ] as [[String: any Sendable]]
    )
    func aBuildDoesNotStartInADirectoryItsUserCannotReach(fields: [String: any Sendable]) async throws {
        let daemon = try await Self.daemon(pattern: "pub/*.bin")
        let response = try await daemon.curl(requestJSON(fields))
        let events = try parseEvents(response.body)
        let error = try #require(events.first { $0["type"] as? String == "error" }, "started: \(events)")
        #expect(error["code"] as? String == "spawn_failed", "\(error)")
        #expect((error["message"] as? String ?? "").contains("working directory"), "\(error)")
        #expect(events.last?["code"] as? Int == 1)
        // The same user cannot go there by itself either.
        let probe = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "cd secret/inner"]]))
        #expect(try parseEvents(probe.body).last?["code"] as? Int != 0)
        await daemon.stop()
    }

    @Test func theBuildsUserReallyCannotSeeThoseNamesAndOpenOnesAreCollected() async throws {
        let daemon = try await Self.daemon(pattern: "pub/*.bin")
        // The same user, through the daemon, cannot list the closed directory nor read the key.
        let probe = try await daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", "ls secret link/ 2>/dev/null; cat conf/key.bin 2>/dev/null; ls esc/ 2>/dev/null; true"]])
        )
        for name in Self.hiddenNames + ["KEYCONTENT"] {
            #expect(!probe.body.contains(name), "\(name) is visible to the build itself: \(probe.body)")
        }
        // A readable file in an open directory is published.
        let events = try parseEvents(probe.body)
        let artifacts = try #require(events.last?["artifacts"] as? [[String: Any]], "\(events)")
        #expect(artifacts.map { $0["name"] as? String } == ["pub/fine.bin"])
        await daemon.stop()
    }
}
