import BuildServiceProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BuildServiceCore

/// A build's events between its producer and its readers, driven step by step: whether the
/// producer waits is read from the record (`producerIsWaiting`), and every decision to let it
/// go is made inside the call that changes the readers' positions, so no test sleeps.
struct BuildRecordTests {
    private func record(budget: Int = 64 * 1024) -> BuildRecord {
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

    /// An output event whose buffer takes 32 KiB: two fill the default budget.
    private func output(_ label: String) -> ByteBuffer {
        BuildEvent.stdout(label + String(repeating: "x", count: 16_000)).line
    }

    /// Appends lines until the log is full and the producer parks; returns how many went in
    /// and the producer's task (parked on the next line).
    private func fill(_ record: BuildRecord) async throws -> (appended: Int, producer: Task<Void, Never>) {
        let count = NIOLockedValueBox(0)
        let producer = Task {
            for index in 0..<100 {
                await record.append(output("line\(index) "))
                count.withLockedValue { $0 += 1 }
            }
        }
        try await parks(record)
        return (count.withLockedValue { $0 }, producer)
    }

    /// Yields (no clock) until a reader is parked in `waitForEvents`, so that what follows
    /// wakes it rather than finding it not yet asleep.
    private static func parked(_ record: BuildRecord) async throws {
        for _ in 0..<1_000_000 where record.waitingReaders == 0 { await Task.yield() }
        try #require(record.waitingReaders == 1)
    }

    /// Yields (no clock) until the producer is parked in `append`.
    private func parks(_ record: BuildRecord) async throws {
        for _ in 0..<1_000_000 where !record.producerIsWaiting { await Task.yield() }
        try #require(record.producerIsWaiting)
    }

    private func texts(_ batch: EventBatch) -> [String] {
        batch.lines.map { line in
            guard case .stdout(let text) = try? BuildEvent.parse(line: Array(line.readableBytesView)) else { return "?" }
            return String(text.prefix(while: { $0 != " " }))
        }
    }

    /// While one reader has everything and another has nothing yet, the build waits; once the
    /// slow one has caught up it goes on, and it never lost an event.
    @Test func theSlowestAttachedReaderSetsThePace() async throws {
        let record = record()
        let fast = record.attach(after: 0)
        let slow = record.attach(after: 0)
        let (appended, producer) = try await fill(record)
        #expect(appended == 2)
        record.delivered(through: 2, by: fast)
        #expect(record.producerIsWaiting, "the slow reader has not been handed anything yet")
        let batch = record.read(after: 0)
        #expect(batch.missing == 0)
        #expect(texts(batch) == ["line0", "line1"])
        record.delivered(through: 2, by: slow)
        #expect(!record.producerIsWaiting, "both have everything: the producer goes on")
        try await parks(record)
        #expect(record.read(after: 2).lines.count == 2)
        // The slow reader leaves: the build no longer waits for it, only for the fast one.
        _ = record.detach(slow)
        try await parks(record)
        #expect(record.snapshot.lastSeq == 4)
        record.delivered(through: 4, by: fast)
        #expect(!record.producerIsWaiting)
        producer.cancel()
        await producer.value
    }

    /// A reader that leaves while it is the slowest lets the producer go at once.
    @Test func theSlowestReaderLeavingLetsTheBuildGoOn() async throws {
        let record = record()
        let fast = record.attach(after: 0)
        let slow = record.attach(after: 0)
        let (_, producer) = try await fill(record)
        record.delivered(through: 2, by: fast)
        #expect(record.producerIsWaiting)
        let left = record.detach(slow)
        #expect(left.remaining == 1 && left.attachments == 2)
        // The fast reader's two delivered lines make room for two more, then it parks again.
        try await parks(record)
        #expect(record.snapshot.lastSeq == 4)
        #expect(record.read(after: 0).missing == 2)
        producer.cancel()
        await producer.value
    }

    /// A build paused with nobody attached (its client went away) goes on when a client comes
    /// back saying it has everything, before that client has read anything.
    @Test func aReaderThatHasEverythingLetsAPausedBuildGoOn() async throws {
        let record = record()
        let (appended, producer) = try await fill(record)
        #expect(appended == 2)
        let reader = record.attach(after: record.snapshot.lastSeq)
        #expect(!record.producerIsWaiting)
        try await parks(record)
        _ = record.detach(reader)
        producer.cancel()
        await producer.value
    }

    /// A reader that comes back with an old position gets what it missed, in order; what was
    /// dropped meanwhile is counted, never silently skipped.
    @Test func aReaderReplaysFromItsPositionAndIsToldWhatWasDropped() async throws {
        let record = record()
        record.post(.build(id: "bld_test", status: "started"))
        let first = record.attach(after: 0)
        for index in 0..<3 {
            await record.append(output("line\(index) "))
            record.delivered(through: record.snapshot.lastSeq, by: first)
        }
        _ = record.detach(first)
        // Five events so far (started + three lines, the oldest ones dropped for room).
        let replay = record.read(after: 0)
        #expect(replay.missing > 0)
        #expect(replay.droppedBytes > 0)
        #expect(replay.missing + replay.lines.count == record.snapshot.lastSeq)
        #expect(texts(replay).last == "line2")
        // From a later position: exactly what came after it.
        let later = record.read(after: record.snapshot.lastSeq - 1)
        #expect(later.missing == 0)
        #expect(texts(later) == ["line2"])
        #expect(!later.complete)
        record.finish(BuildExit(code: 0))
        let end = record.read(after: record.snapshot.lastSeq - 1)
        #expect(end.complete)
        #expect(end.lines.count == 1)
    }

    /// `build`, `error` and `exit` never wait and never push out output a reader still needs:
    /// they take the log over its budget instead.
    @Test func controlEventsNeverWaitNorDropUndeliveredOutput() async throws {
        let record = record()
        let reader = record.attach(after: 0)
        let (_, producer) = try await fill(record)
        record.post(.error(code: "artifact_collection_failed", message: "x", pattern: nil))
        record.finish(BuildExit(code: 1))
        await producer.value
        let batch = record.read(after: 0)
        #expect(batch.missing == 0)
        #expect(texts(batch).prefix(2) == ["line0", "line1"])
        #expect(batch.complete)
        // The parked line was not appended after the exit.
        #expect(batch.lines.count == 4)
        _ = record.detach(reader)
    }

    /// A cancel wakes a parked producer, whose line then goes in by dropping old events: a
    /// cancelled build must not hang on a reader that stopped reading.
    @Test func aCancelFreesAParkedProducer() async throws {
        let record = record()
        let reasons = NIOLockedValueBox<[CancelReason]>([])
        record.setCancelHandler { reason in reasons.withLockedValue { $0.append(reason) } }
        _ = record.attach(after: 0)
        let (_, producer) = try await fill(record)
        #expect(record.cancel(.requested))
        #expect(reasons.withLockedValue { $0 } == [.requested])
        #expect(!record.cancel(.abandoned), "a second cancel changes nothing")
        #expect(record.cancelReason == .requested)
        // The cancel alone wakes it, and it does not park again: every later append makes room
        // by force (the producer's own task is not cancelled: that frees it too, tested below).
        await producer.value
        #expect(record.read(after: 0).missing > 0)
    }

    /// Cancelling the producer's task also frees it.
    @Test func cancellingTheProducersTaskFreesIt() async throws {
        let record = record()
        _ = record.attach(after: 0)
        let (_, producer) = try await fill(record)
        producer.cancel()
        await producer.value
        #expect(!record.producerIsWaiting)
    }

    /// Too late to cancel once the process ended by itself or the build finished; a cancel
    /// asked for before the handler was set runs it as soon as it is.
    @Test func whenACancelTakesEffect() {
        let ended = record()
        ended.markProcessEnded()
        #expect(!ended.cancel(.requested))
        let finished = record()
        finished.finish(BuildExit(code: 0))
        #expect(!finished.cancel(.requested))

        let early = record()
        #expect(early.cancel(.shutdown))
        let reasons = NIOLockedValueBox<[CancelReason]>([])
        early.setCancelHandler { reason in reasons.withLockedValue { $0.append(reason) } }
        #expect(reasons.withLockedValue { $0 } == [.shutdown])
    }

    /// A reader waiting for events wakes for a new one, for the build's end, and for its own
    /// task's cancellation, whichever comes first.
    @Test func aWaitingReaderWakesForAnEventTheEndOrItsCancellation() async throws {
        let record = record()
        let forEvent = Task { await record.waitForEvents(after: 0, wakeAfter: nil) }
        try await Self.parked(record)
        record.post(.build(id: "bld_test", status: "started"))
        await forEvent.value
        #expect(record.read(after: 0).lines.count == 1)

        let forEnd = Task { await record.waitForEvents(after: 1, wakeAfter: nil) }
        try await Self.parked(record)
        record.finish(BuildExit(code: 0))
        await forEnd.value

        let idle = self.record()
        let cancelled = Task { await idle.waitForEvents(after: 0, wakeAfter: nil) }
        try await Self.parked(idle)
        cancelled.cancel()
        await cancelled.value
        #expect(idle.read(after: 0).lines.isEmpty)
    }
}
