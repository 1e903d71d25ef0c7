import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import BuildServiceCore

/// What is left of a build's process group after its main process exited is torn down: when
/// the build's owner asks (once the `exit` event is out), and shortly after the exit when nobody
/// asks. Real processes.
struct BuildRunnerTests {
    private func run(_ script: String, lookingAfter delay: Duration) async throws -> (result: BuildRunResult, member: pid_t) {
        let directory = try TemporaryDirectory()
        let identity = try RunAsIdentity.resolve(user: nil, group: nil)
        let environment = BuildRunner.buildEnvironment(allow: ["PATH"], daemonEnvironment: ProcessInfo.processInfo.environment, identity: identity)
        let runner = BuildRunner(identity: identity, environment: environment, leftoverLookDelay: delay)
        let plan = BuildPlan(
            projectID: "demo",
            requestID: nil,
            commandName: "sh",
            executable: "/bin/sh",
            arguments: ["-c", script + " >/dev/null 2>&1 & echo $! > member"],
            projectRoot: directory.path,
            workingDirectory: directory.path,
            timeoutSec: 60,
            warnings: []
        )
        let build = try runner.start(plan, on: MultiThreadedEventLoopGroup.singleton.next())
        let result = await build.relay { _, _ in }
        let text = try String(contentsOfFile: directory.path + "/member", encoding: .utf8)
        return (result, try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))))
    }

    /// No such process, or only its zombie (its new parent has not reaped it yet).
    private func gone(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// The member does not hold the build's pipes, so the build's output ends with its main
    /// process, well before the look that happens anyway.
    @Test func aMemberLeftBehindIsTornDownWhenTheOwnerLooks() async throws {
        let (result, member) = try await run("sleep 60", lookingAfter: .seconds(600))
        #expect(result.exitCode == 0)
        #expect(!gone(member))
        _ = result.lookForLeftovers()
        #expect(await goes(member))
    }

    private func goes(_ pid: pid_t) async -> Bool {
        for _ in 0..<500 where !gone(pid) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return gone(pid)
    }

    @Test func aMemberLeftBehindIsTornDownWhenNobodyLooks() async throws {
        let (result, member) = try await run("sleep 60", lookingAfter: .milliseconds(50))
        #expect(result.exitCode == 0)
        #expect(await goes(member))
    }
}
