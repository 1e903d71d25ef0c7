import BuildServiceProtocol
import NIOCore
import Testing

@testable import BuildServiceCore

/// The retained events a re-attaching client gets: numbered, bounded, and trimmed only of what
/// a client already has.
struct EventLogTests {
    private func line(_ text: String) -> ByteBuffer {
        BuildEvent.stdout(text).line
    }

    /// The memory one stamped line takes (what the budget counts).
    private func size(_ text: String) -> Int {
        var stamped = line(text)
        EventSequence.stamp(&stamped, seq: 1)
        return stamped.capacity
    }

    private func texts(_ lines: [ByteBuffer]) -> [String] {
        lines.map { String(buffer: $0) }
    }

    @Test func linesAreStampedWithContiguousSequenceNumbers() {
        var log = EventLog(budget: 1 << 20)
        for index in 1...3 {
            let seq = log.appendLine(line("\(index)"))
            #expect(seq == index)
        }
        let read = log.read(after: 1, maxBytes: 1 << 20)
        #expect(read.missing == 0)
        #expect(texts(read.lines) == [#"{"type":"stdout","data":"2","seq":2}"# + "\n", #"{"type":"stdout","data":"3","seq":3}"# + "\n"])
    }

    @Test func onlyDeliveredEventsAreDroppedToMakeRoom() {
        let one = size("x")
        var log = EventLog(budget: one * 3)
        for _ in 1...3 {
            let fits = log.makeRoom(for: one, deliveredThrough: 0, force: false)
            #expect(fits)
            log.appendLine(line("x"))
        }
        // Full of undelivered events: no room without force.
        let fitsUndelivered = log.makeRoom(for: one, deliveredThrough: 0, force: false)
        #expect(!fitsUndelivered)
        // Two delivered: room again, by dropping the oldest.
        let fitsDelivered = log.makeRoom(for: one, deliveredThrough: 2, force: false)
        #expect(fitsDelivered)
        log.appendLine(line("x"))
        #expect(log.firstSeq == 2)
        #expect(log.droppedEvents == 1)
        // A reader behind the dropped event learns how many it missed.
        let read = log.read(after: 0, maxBytes: 1 << 20)
        #expect(read.missing == 1)
        #expect(read.lines.count == 3)
        #expect(EventSequence.split(read.lines[0].readableBytesView)?.seq == 2)
    }

    @Test func forceDropsEvenUndeliveredEvents() {
        let one = size("y")
        var log = EventLog(budget: one * 2)
        log.appendLine(line("y"))
        log.appendLine(line("y"))
        let fitsForced = log.makeRoom(for: one, deliveredThrough: 0, force: true)
        #expect(fitsForced)
        #expect(log.firstSeq == 2)
    }

    @Test func compactingKeepsEveryLineAndItsNumber() {
        var log = EventLog(budget: 1 << 20)
        for index in 1...5 { log.appendLine(line("\(index)")) }
        let before = texts(log.read(after: 0, maxBytes: 1 << 20).lines)
        log.compact()
        #expect(texts(log.read(after: 0, maxBytes: 1 << 20).lines) == before)
        #expect(log.lastSeq == 5)
    }

    @Test func readsAreBoundedButNeverEmpty() {
        var log = EventLog(budget: 1 << 20)
        log.appendLine(line(String(repeating: "a", count: 1000)))
        log.appendLine(line("b"))
        #expect(log.read(after: 0, maxBytes: 10).lines.count == 1)
        #expect(log.read(after: 0, maxBytes: 1 << 20).lines.count == 2)
    }

    @Test func releasingAFinishedLogKeepsItsLastEventAndUnreadOnesUnlessForced() {
        let one = size("z")
        var log = EventLog(budget: 1 << 20)
        for _ in 1...4 { log.appendLine(line("z")) }
        // Two delivered: only those go, however much is asked for.
        #expect(log.release(.max, deliveredThrough: 2, force: false) == 2 * one)
        #expect(log.firstSeq == 3)
        // Forced: everything but the last event (the exit a reader still needs).
        #expect(log.release(.max, deliveredThrough: 2, force: true) == one)
        #expect(log.firstSeq == 4)
        #expect(log.lastSeq == 4)
        #expect(log.release(.max, deliveredThrough: 4, force: true) == 0)
        let read = log.read(after: 0, maxBytes: 1 << 20)
        #expect(read.missing == 3)
        #expect(read.lines.count == 1)
    }

    @Test func releasingStopsOnceEnoughIsFreed() {
        let one = size("w")
        var log = EventLog(budget: 1 << 20)
        for _ in 1...4 { log.appendLine(line("w")) }
        #expect(log.release(one, deliveredThrough: 4, force: false) == one)
        #expect(log.firstSeq == 2)
    }

    /// A small log's lines share one buffer: it is released down to its last line at once
    /// (a small part of it would free nothing), and only when all but the last were delivered,
    /// or by force.
    @Test func aCompactedLogIsReleasedDownToItsLastLineOrNotAtAll() {
        var log = EventLog(budget: 1 << 20)
        for _ in 1...4 { log.appendLine(line("v")) }
        log.compact()
        let bytes = log.bytes
        #expect(log.release(1, deliveredThrough: 2, force: false) == 0)
        #expect(log.bytes == bytes && log.firstSeq == 1)
        let freed = log.release(1, deliveredThrough: 3, force: false)
        #expect(freed > 0 && freed == bytes - log.bytes)
        // What is left is one line's copy in a buffer of its own.
        #expect(log.firstSeq == 4 && log.bytes <= size("v"))
        #expect(log.heldEvents == 1)
        let read = log.read(after: 0, maxBytes: 1 << 20)
        #expect(read.missing == 3 && read.lines.count == 1)

        var forced = EventLog(budget: 1 << 20)
        for _ in 1...4 { forced.appendLine(line("v")) }
        forced.compact()
        #expect(forced.release(1, deliveredThrough: 0, force: true) > 0)
        #expect(forced.firstSeq == 4)
    }
}

extension EventLog {
    /// `append` for a line the test does not keep.
    @discardableResult
    fileprivate mutating func appendLine(_ line: ByteBuffer) -> Int {
        var line = line
        return append(&line)
    }
}
