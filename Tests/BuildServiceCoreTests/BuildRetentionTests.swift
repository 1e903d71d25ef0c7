import BuildServiceProtocol
import Foundation
import Logging
import NIOPosix
import Testing

@testable import BuildServiceCore

/// What finished builds the registry keeps: at most `max_retained` in all and
/// `max_retained_per_token` per token (the oldest go first), each with a bounded request (its
/// arguments past 4 KiB dropped, the idempotency check still whole), and small logs counted in
/// `retained_event_bytes` like large ones.
struct BuildRetentionTests {
    let project: TemporaryDirectory
    let validator: RequestValidator
    let registry: BuildRegistry

    init(build: String = "max_retained = 5\nmax_retained_per_token = 3") throws {
        project = try TemporaryDirectory.project()
        var text = ConfigText(projectRoot: project.path)
        text.build += "\n" + build
        let config = try ServiceConfig.parse(toml: text.text)
        try config.validate()
        validator = RequestValidator(config: config)
        let runner = BuildRunner(identity: try RunAsIdentity.resolve(user: nil, group: nil), environmentAllow: ["PATH"])
        registry = BuildRegistry(executor: BuildExecutor(runner: runner, logger: Logger(label: "test")), limits: BuildRegistry.Limits(config: config))
    }

    /// Submits `sh -c script` (plus `extra` arguments) and waits for it to finish.
    private func build(
        token: String? = nil,
        script: String = "true",
        extra: [String] = [],
        key: String? = nil
    ) async throws -> BuildRecord {
        var request = BuildRequest(projectID: "demo", command: "sh", args: ["-c", script] + extra)
        request.idempotencyKey = key
        let record = try registry.submit(
            try validator.plan(for: request),
            origin: RequestOrigin(listener: "test", peer: "test"),
            owner: BuildOwner(tokenDigest: token, tokenName: nil),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        ).record
        // Bounds of 30 s, which a loaded machine (a sanitizer's run) needs; a build that never
        // gets there fails here, saying so, rather than in what the test checks next.
        for _ in 0..<3000 where !isKept(record) { try await Task.sleep(for: .milliseconds(10)) }
        try #require(isKept(record), "the build did not finish")
        // Put away (retained) just after it finishes: wait for the registry to count it.
        for _ in 0..<3000 where registry.load.running > 0 { try await Task.sleep(for: .milliseconds(10)) }
        try #require(registry.load.running == 0, "the finished build was not put away")
        return record
    }

    private func isKept(_ record: BuildRecord) -> Bool { record.snapshot.phase == .finished }
    private func held(_ records: [BuildRecord]) -> [Bool] { records.map { registry.record(id: $0.id) != nil } }

    @Test func aTokenKeepsItsNewestBuildsUpToItsCap() async throws {
        var builds: [BuildRecord] = []
        for _ in 0..<4 { builds.append(try await build(token: "a")) }
        #expect(held(builds) == [false, true, true, true])
        // Another token's builds are not pushed out by it.
        let other = try await build(token: "b")
        #expect(held([other]) == [true])
    }

    /// A reload that lowers the caps applies to the builds already kept.
    @Test func lowerCapsFromAReloadApplyAtOnce() async throws {
        var builds: [BuildRecord] = []
        for _ in 0..<3 { builds.append(try await build(token: "a")) }
        let project = try TemporaryDirectory.project()
        var text = ConfigText(projectRoot: project.path)
        text.build += "\nmax_retained = 5\nmax_retained_per_token = 1"
        registry.update(BuildRegistry.Limits(config: try ServiceConfig.parse(toml: text.text)))
        #expect(held(builds) == [false, false, true])
    }

    @Test func theOldestGoFirstPastTheTotalCap() async throws {
        var builds: [BuildRecord] = []
        for index in 0..<7 { builds.append(try await build(token: index % 2 == 0 ? nil : "t\(index)")) }
        #expect(held(builds) == [false, false, true, true, true, true, true])
        #expect(registry.list().count == 5)
    }

    /// 2,000 arguments of 10 bytes: a finished build shows its first 4 KiB of them and counts
    /// the rest, and its idempotency key still tells the whole request apart.
    @Test func aKeptBuildShowsFourKiBOfArgumentsAndStillChecksItsKeyAgainstAll() async throws {
        let arguments = (0..<2000).map { String(format: "arg-%05d", $0) }
        let record = try await build(extra: arguments, key: "k1")
        let kept = record.plan
        #expect(kept.arguments.count + kept.argumentsDropped == 2 + 2000)
        #expect(kept.arguments.reduce(0) { $0 + $1.utf8.count + 1 } <= BuildPlan.argumentBytesKept)
        #expect(kept.argumentsDropped > 1500)
        #expect(kept.makeWords == nil && kept.executedArguments == nil)

        var same = BuildRequest(projectID: "demo", command: "sh", args: ["-c", "true"] + arguments)
        same.idempotencyKey = "k1"
        let again = try registry.submit(
            try validator.plan(for: same),
            origin: RequestOrigin(listener: "test", peer: "test"),
            owner: BuildOwner(tokenDigest: nil, tokenName: nil),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        )
        #expect(!again.isNew && again.record === record)
        // The last argument differs: beyond what the kept build still shows.
        var different = same
        different.args[different.args.count - 1] = "changed"
        let conflict = #expect(throws: ServiceError.self) {
            _ = try registry.submit(
                try validator.plan(for: different),
                origin: RequestOrigin(listener: "test", peer: "test"),
                owner: BuildOwner(tokenDigest: nil, tokenName: nil),
                eventLoop: MultiThreadedEventLoopGroup.singleton.next()
            )
        }
        #expect(conflict?.code == .idempotencyKeyConflict)
    }

    /// With no room for finished builds' events, a small build's compacted log goes down to
    /// its exit like a large one's; a re-attaching reader hears how many events are gone.
    @Test func smallLogsCountTowardTheRetainedEventBytes() async throws {
        let tests = try BuildRetentionTests(build: "retained_event_bytes = 0")
        let record = try await tests.build(script: "echo one; echo two; echo three")
        let batch = record.read(after: 0)
        #expect(batch.missing > 0)
        #expect(batch.lines.count == 1)
        #expect(batch.lines.first.map { String(buffer: $0) }?.contains("\"type\":\"exit\"") == true)
    }
}
