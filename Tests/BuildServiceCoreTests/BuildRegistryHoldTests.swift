import BuildServiceProtocol
import Foundation
import Logging
import NIOPosix
import Testing

@testable import BuildServiceCore

/// A project whose tree an earlier run's leftover processes still hold: its builds queue, and
/// start once it is released; other projects' builds are not held up.
struct BuildRegistryHoldTests {
    @Test func aHeldProjectsBuildsWaitUntilItIsReleased() async throws {
        let project = try TemporaryDirectory.project()
        var text = ConfigText(projectRoot: project.path)
        text.projects.append("id = \"other\"\npath_root = \"\(project.path)\"\ncommands = [\"sh\"]")
        let config = try ServiceConfig.parse(toml: text.text)
        try config.validate()
        let validator = RequestValidator(config: config)
        let runner = BuildRunner(identity: try RunAsIdentity.resolve(user: nil, group: nil), environmentAllow: ["PATH"])
        let registry = BuildRegistry(
            executor: BuildExecutor(runner: runner, logger: Logger(label: "test")),
            limits: BuildRegistry.Limits(config: config)
        )
        func submit(_ projectID: String) throws -> BuildRecord {
            let plan = try validator.plan(for: BuildRequest(projectID: projectID, command: "sh", args: ["-c", "true"]))
            return try registry.submit(
                plan,
                origin: RequestOrigin(listener: "test", peer: "test"),
                owner: BuildOwner(tokenDigest: nil, tokenName: nil),
                eventLoop: MultiThreadedEventLoopGroup.singleton.next()
            ).record
        }
        func finishes(_ record: BuildRecord) async -> Bool {
            for _ in 0..<500 where record.snapshot.phase != .finished { try? await Task.sleep(for: .milliseconds(10)) }
            return record.snapshot.phase == .finished
        }
        registry.hold("demo")
        let held = try submit("demo")
        let free = try submit("other")
        #expect(await finishes(free), "another project's build runs")
        #expect(held.snapshot.phase == .queued)
        registry.release("demo")
        #expect(await finishes(held))
        #expect(held.snapshot.exit?.code == 0)
    }
}
