import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BuildServiceCore

/// What is left of a build's process group after its main process exited is torn down: when
/// the build's owner asks (once the `exit` event is out), and shortly after the exit when nobody
/// asks. Real processes.
struct BuildRunnerTests {
    /// Runs `sh -c script`; the script writes the pid of the member it leaves behind to `member`.
    /// - Parameter throughPidfd: how the group is named (see `ProcessGroupTests`).
    private func run(_ script: String, lookingAfter delay: Duration, throughPidfd: Bool) async throws -> (
        result: BuildRunResult, member: pid_t, build: RunningBuild
    ) {
        let directory = try TemporaryDirectory()
        let identity = try RunAsIdentity.resolve(user: nil, group: nil)
        let environment = BuildRunner.buildEnvironment(allow: ["PATH"], daemonEnvironment: ProcessInfo.processInfo.environment, identity: identity)
        let runner = BuildRunner(identity: identity, environment: environment, leftoverLookDelay: delay, groupsThroughPidfd: throughPidfd)
        let plan = BuildPlan(
            projectID: "demo",
            requestID: nil,
            commandName: "sh",
            executable: "/bin/sh",
            arguments: ["-c", script],
            projectRoot: directory.path,
            workingDirectory: directory.path,
            timeoutSec: 60,
            warnings: []
        )
        let build = try runner.start(plan, on: MultiThreadedEventLoopGroup.singleton.next())
        let result = await build.relay { _, _ in }
        let text = try String(contentsOfFile: directory.path + "/member", encoding: .utf8)
        return (result, try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))), build)
    }

    /// A member that does not hold the build's output, which ends before the main process
    /// exits: nothing is torn down before the owner asks.
    private let outputEndsFirst = "sleep 60 >/dev/null 2>&1 & echo $! > member; exec >&- 2>&-; sleep 0.2"

    @Test(arguments: ProcessGroupTests.ways)
    func aMemberLeftBehindIsTornDownWhenTheOwnerLooks(throughPidfd: Bool) async throws {
        let (result, member, _) = try await run(outputEndsFirst, lookingAfter: .seconds(600), throughPidfd: throughPidfd)
        #expect(result.exitCode == 0)
        #expect(!isGone(member))
        // The look returns once nothing of the build is left.
        await result.lookForLeftovers()
        #expect(isGone(member))
    }

    private func goes(_ pid: pid_t) async -> Bool {
        for _ in 0..<500 where !isGone(pid) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isGone(pid)
    }

    /// A member that keeps the build's output open holds up its `exit` event: it is torn down
    /// as soon as the main process has exited, without waiting for anyone to ask.
    @Test(arguments: ProcessGroupTests.ways)
    func aMemberHoldingTheOutputIsTornDownAtTheExit(throughPidfd: Bool) async throws {
        let (result, member, _) = try await run("sleep 60 & echo $! > member", lookingAfter: .seconds(600), throughPidfd: throughPidfd)
        #expect(result.exitCode == 0)
        #expect(await goes(member))
    }

    /// Cancelled after its exit but before anyone looked (the client left as the exit came).
    @Test(arguments: ProcessGroupTests.ways)
    func aMemberLeftBehindIsTornDownWhenTheBuildIsCancelledAfterItsExit(throughPidfd: Bool) async throws {
        let (result, member, build) = try await run(outputEndsFirst, lookingAfter: .seconds(600), throughPidfd: throughPidfd)
        #expect(result.exitCode == 0)
        #expect(!isGone(member))
        // The cancel returns once nothing of the build is left, its leader reaped.
        await build.cancel()
        #expect(isGone(member))
    }

    @Test(arguments: ProcessGroupTests.ways)
    func aMemberLeftBehindIsTornDownWhenNobodyLooks(throughPidfd: Bool) async throws {
        let (result, member, _) = try await run(outputEndsFirst, lookingAfter: .milliseconds(50), throughPidfd: throughPidfd)
        #expect(result.exitCode == 0)
        #expect(await goes(member))
    }
}

/// `[build.limits]` bound a build's command, not the daemon's own helpers run by the same runner.
@Suite struct BuildLimitsScopeTests {
    @Test func aBuildGetsTheLimitsAndAHelperDoesNot() async throws {
        let directory = try TemporaryDirectory()
        let identity = try RunAsIdentity.resolve(user: nil, group: nil)
        var limits = BuildLimits()
        limits.nofile = 37
        let runner = BuildRunner(identity: identity, environment: ["PATH": "/usr/bin:/bin"], limits: limits)
        let script = ["-c", "ulimit -n"]
        let plan = BuildPlan(
            projectID: "demo",
            requestID: nil,
            commandName: "sh",
            executable: "/bin/sh",
            arguments: script,
            projectRoot: directory.path,
            workingDirectory: directory.path,
            timeoutSec: 60,
            warnings: []
        )
        let helper = ProcessSpec.helper("/bin/sh", script, owner: "cleanup", in: directory.path, timeoutSec: 60, environment: [])
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        #expect(try await Self.output(of: runner.start(plan.processSpec, on: loop)) == "37\n")
        #expect(try await Self.output(of: runner.start(helper, on: loop)) != "37\n")
    }

    private static func output(of build: RunningBuild) async -> String {
        let collected = NIOLockedValueBox("")
        _ = await build.relay { _, bytes in collected.withLockedValue { $0 += String(decoding: bytes.readableBytesView, as: UTF8.self) } }
        return collected.withLockedValue { $0 }
    }
}
