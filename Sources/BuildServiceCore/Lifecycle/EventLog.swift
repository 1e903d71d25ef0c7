import BuildServiceProtocol
import NIOCore

/// A build's events as NDJSON lines, each stamped with its sequence number (1, 2, 3…), kept for
/// clients that re-attach. Bounded by `budget` bytes of memory (what the lines' buffers hold,
/// which ByteBuffer rounds up to a power of two, not just their text): room is made by
/// dropping the oldest events, but only those some client has already been handed, unless the
/// build is past caring (cancelled).
struct EventLog {
    let budget: Int
    private var lines = CircularBuffer<ByteBuffer>()
    /// The sequence number of `lines.first`.
    private(set) var firstSeq = 1
    /// Memory the held lines take.
    private(set) var bytes = 0
    /// Events dropped from the front so far, and their bytes.
    private(set) var droppedEvents = 0
    private(set) var droppedBytes = 0
    /// The lines are slices of one shared buffer (see `compact`).
    private var compacted = false

    /// Logs up to this size are compacted once the build has finished.
    static let compactedAtMost = 64 * 1024

    init(budget: Int) {
        self.budget = budget
    }

    /// The sequence number of the newest event (0 before the first).
    var lastSeq: Int { firstSeq + lines.count - 1 }

    /// Makes room for a line of `size` bytes by dropping the oldest events up to
    /// `deliveredThrough` (or any, with `force`). Returns whether it fits now. An empty log
    /// takes any line, so one larger than the budget cannot wedge the build.
    mutating func makeRoom(for size: Int, deliveredThrough: Int, force: Bool) -> Bool {
        while bytes + size > budget, !lines.isEmpty, force || firstSeq <= deliveredThrough {
            dropFirst()
        }
        return bytes + size <= budget || lines.isEmpty
    }

    /// Events held now.
    var heldEvents: Int { lines.count }

    /// Once the build has finished: drops its oldest events until `target` bytes are freed,
    /// only those through `deliveredThrough` unless `force`, and never the last one (the `exit`
    /// a re-attaching reader still needs). A compacted log's lines share one buffer: it goes
    /// down to its last line at once, or not at all. Returns the bytes freed.
    mutating func release(_ target: Int, deliveredThrough: Int, force: Bool) -> Int {
        let before = bytes
        if compacted {
            guard lines.count > 1, force || lastSeq - 1 <= deliveredThrough, var last = lines.last else { return 0 }
            // The last line in a buffer of its own: the shared one goes.
            last = ByteBuffer(buffer: last)
            while lines.count > 1 { dropFirst() }
            lines = [last]
            bytes = last.capacity
            compacted = false
            return before - bytes
        }
        while before - bytes < target, lines.count > 1, force || firstSeq <= deliveredThrough {
            dropFirst()
        }
        return before - bytes
    }

    private mutating func dropFirst() {
        let first = lines.removeFirst()
        bytes -= first.capacity
        firstSeq += 1
        droppedEvents += 1
        droppedBytes += first.readableBytes
    }

    /// Stamps `line` (one event ending in `}\n`) with the next sequence number and keeps it;
    /// call `makeRoom` first. Returns the number. Stamped where the caller holds it: a line
    /// nobody else references is written in place (a copy would have been stamped, which cost
    /// a copy of every output chunk).
    @discardableResult
    mutating func append(_ line: inout ByteBuffer) -> Int {
        let seq = lastSeq + 1
        EventSequence.stamp(&line, seq: seq)
        bytes += line.capacity
        lines.append(line)
        return seq
    }

    /// Once no event will be added: the lines of a small log in one buffer (each line a slice
    /// of it), so that the many small builds kept for `retain_sec` cost their bytes and little
    /// more. A large log is left as it is: its lines are large already, and a copy would
    /// double its memory for a moment.
    mutating func compact() {
        guard bytes <= Self.compactedAtMost, lines.count > 1 else { return }
        var joined = ByteBuffer()
        joined.reserveCapacity(lines.reduce(0) { $0 + $1.readableBytes })
        var lengths: [Int] = []
        lengths.reserveCapacity(lines.count)
        for var line in lines {
            lengths.append(line.readableBytes)
            joined.writeBuffer(&line)
        }
        var slices = CircularBuffer<ByteBuffer>(initialCapacity: lines.count)
        for length in lengths { slices.append(joined.readSlice(length: length)!) }
        lines = slices
        bytes = joined.capacity
        compacted = true
    }

    /// What a reader that has seen everything through `seq` gets next: how many events after
    /// `seq` are no longer held, and the held lines after it, up to about `maxBytes` (at least one).
    func read(after seq: Int, maxBytes: Int) -> (missing: Int, lines: [ByteBuffer]) {
        // Nothing lies beyond the newest event (and no arithmetic on a hostile number).
        guard seq < lastSeq else { return (0, []) }
        let missing = max(0, firstSeq - seq - 1)
        var index = max(seq + 1, firstSeq) - firstSeq
        var taken: [ByteBuffer] = []
        var size = 0
        while index < lines.count, taken.isEmpty || size + lines[lines.index(lines.startIndex, offsetBy: index)].readableBytes <= maxBytes {
            let line = lines[lines.index(lines.startIndex, offsetBy: index)]
            taken.append(line)
            size += line.readableBytes
            index += 1
        }
        return (missing, taken)
    }
}
