import Foundation
import Testing

/// At debug level the daemon logs where each build's time went, stage by stage, from the
/// request to the last byte of its answer (docs/benchmarks.md reads the no-op figure from it).
@Suite struct StageTraceTests {
    @Test func aBuildsStagesAreLoggedInOrderAtDebugLevel() async throws {
        var options = DaemonUnderTest.Options()
        options.extraProjects = "[logging]\nlevel = \"debug\"\n"
        let daemon = try await DaemonUnderTest(options)
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", "echo hi"]]))
        #expect(response.status == 200)
        let id = try #require(try parseEvents(response.body).first?["id"] as? String)
        #expect(await eventually { daemon.log.contains("build stages") })
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("build stages") && $0.contains(id) })
        // Each stage once, in the order a build passes them, with growing times.
        let stages = ["admitted", "spawned", "first_output", "exited", "finished", "last_byte"]
        var times: [Double] = []
        for stage in stages {
            let match = try #require(line.range(of: "\(stage)=[0-9]+\\.[0-9]{3}ms", options: .regularExpression), "\(stage) in \(line)")
            times.append(Double(line[match].dropFirst(stage.count + 1).dropLast(2)) ?? -1)
        }
        let positions = stages.compactMap { line.range(of: "\($0)=")?.lowerBound }
        #expect(positions == positions.sorted(), "\(line)")
        #expect(times == times.sorted() && times.allSatisfy { $0 >= 0 }, "\(line)")
        await daemon.stop()
    }

    @Test func atInfoLevelNoStagesAreLogged() async throws {
        let daemon = try await DaemonUnderTest()
        let response = try await daemon.curl(requestJSON(["command": "true"]))
        #expect(response.status == 200)
        #expect(await eventually { daemon.log.contains("build finished") })
        #expect(!daemon.log.contains("build stages"))
        await daemon.stop()
    }
}
