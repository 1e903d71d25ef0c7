import BuildServiceProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BuildServiceCore

/// A build's output waits for its readers: events are dropped to make room only once every
/// attached reader has them, and a build waiting for room goes on as soon as there is some.
struct BuildRecordTests {
    private func record(budget: Int) -> BuildRecord {
        let plan = BuildPlan(
            projectID: "demo",
            requestID: nil,
            commandName: "true",
            executable: "/bin/true",
            arguments: [],
            projectRoot: "/",
            workingDirectory: "/",
            timeoutSec: 60,
            warnings: []
        )
        return BuildRecord(
            id: "bld_test",
            plan: plan,
            owner: BuildOwner(tokenDigest: nil, tokenName: nil),
            eventBufferBytes: budget,
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        )
    }

    private func output(_ size: Int) -> ByteBuffer {
        BuildEvent.stdout(String(repeating: "x", count: size)).line
    }

    /// Starts appending `count` lines; returns how many went in so far, as it goes.
    private func produce(_ count: Int, of size: Int, into record: BuildRecord) -> NIOLockedValueBox<Int> {
        let appended = NIOLockedValueBox(0)
        Task {
            for _ in 0..<count {
                await record.append(output(size))
                appended.withLockedValue { $0 += 1 }
            }
        }
        return appended
    }

    private func settles(_ appended: NIOLockedValueBox<Int>, at count: Int) async -> Bool {
        for _ in 0..<200 {
            if appended.withLockedValue({ $0 }) >= count { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// While one reader has everything and another has nothing yet, the build waits; once the
    /// slow one has caught up it goes on, and it never lost an event.
    @Test func theSlowestAttachedReaderSetsThePace() async throws {
        let record = record(budget: 64 * 1024)
        let fast = record.attach(after: 0)
        let slow = record.attach(after: 0)
        let appended = produce(8, of: 16_000, into: record)
        // The budget holds about two of these lines (their buffers are 32 KiB each).
        #expect(await settles(appended, at: 2))
        record.delivered(through: 2, by: fast)
        try await Task.sleep(for: .milliseconds(100))
        #expect(appended.withLockedValue { $0 } == 2)
        // The slow reader still gets them all.
        #expect(record.read(after: 0).missing == 0)
        record.delivered(through: 2, by: slow)
        #expect(await settles(appended, at: 4))
        // The slow reader leaves: the build no longer waits for it.
        _ = record.detach(slow)
        record.delivered(through: 4, by: fast)
        #expect(await settles(appended, at: 6))
        _ = record.detach(fast)
    }

    /// A build paused with nobody attached (its client went away) goes on when a client comes
    /// back saying it has everything, before that client has read anything.
    @Test func aReaderThatHasEverythingLetsAPausedBuildGoOn() async throws {
        let record = record(budget: 64 * 1024)
        let appended = produce(4, of: 16_000, into: record)
        #expect(await settles(appended, at: 2))
        try await Task.sleep(for: .milliseconds(100))
        #expect(appended.withLockedValue { $0 } == 2)
        let reader = record.attach(after: record.snapshot.lastSeq)
        #expect(await settles(appended, at: 3))
        _ = record.detach(reader)
    }
}
