import BuildServiceCore
import BuildServiceProtocol
import NIOCore

/// Follows one build's events into one client's stream: first those after `after` that are
/// still held (with a `warning` for any that are not), then the live ones until `exit`.
/// While it follows, the build counts this client as attached and keeps the events it has not
/// sent yet; when the client goes away the registry's re-attach grace starts.
struct BuildEventStream {
    let registry: BuildRegistry
    /// The `exit` event as a replay sends it (links signed afresh); nil: as logged.
    var renewExit: (@Sendable (BuildExit) -> BuildExit)?

    init(registry: BuildRegistry, renewExit: (@Sendable (BuildExit) -> BuildExit)? = nil) {
        self.registry = registry
        self.renewExit = renewExit
    }

    /// - Parameters:
    ///   - heartbeat: when set, a `heartbeat` event is sent after this long without one.
    ///   - watching: a person's build page follows without attaching: it neither holds the
    ///     build's output back (if it falls behind, it is told what it missed) nor keeps the
    ///     build alive or ends it by leaving. Opening a page never changes a build's fate.
    func follow(_ record: BuildRecord, after: Int, heartbeat: TimeAmount?, watching: Bool = false, sink: some EventSink) async {
        registry.attachedReaders.increment()
        let reader = watching ? nil : record.attach(after: after)
        defer {
            if let reader { registry.readerLeft(record, reader: reader) }
            registry.attachedReaders.decrement()
        }
        do {
            try await sink.begin()
            var cursor = after
            /// The newest line's write, until the kernel has it.
            var pending: EventLoopFuture<Void>?
            /// Whether anything (the response head at least) has left.
            var flushed = false
            while !Task.isCancelled {
                let batch = record.read(after: cursor)
                var sent = 0
                if batch.missing > 0 {
                    // Stands for the events it replaces: its seq is the last of them.
                    var warning = Self.dropped(batch.missing, after: cursor, droppedBytes: batch.droppedBytes).line
                    EventSequence.stamp(&warning, seq: cursor + batch.missing)
                    try await sink.send(warning, isLast: false)
                }
                var lastWrite: EventLoopFuture<Void>?
                for (index, logged) in batch.lines.enumerated() {
                    let isLast = batch.complete && index == batch.lines.count - 1
                    var line = logged
                    // The last line of a finished build is its `exit` event.
                    if isLast, let renewExit, let exit = record.snapshot.exit, !exit.artifacts.isEmpty || exit.pageURL != nil {
                        line = BuildEvent.exit(renewExit(exit)).line
                        EventSequence.stamp(&line, seq: batch.lastSeq)
                    }
                    sent += line.readableBytes
                    lastWrite = try await sink.send(line, isLast: isLast)
                }
                cursor = batch.lastSeq
                // Delivered once the kernel has the bytes, not while they wait in our buffers: a
                // client that vanishes meanwhile gets them again when it re-attaches.
                let through = cursor
                if let reader { lastWrite?.whenSuccess { record.delivered(through: through, by: reader) } }
                pending = lastWrite ?? pending
                flushed = flushed || lastWrite != nil || batch.missing > 0
                registry.metrics.streamed(bytes: sent)
                if batch.complete { break }
                guard batch.lines.isEmpty, batch.missing == 0 else { continue }
                // Lines not yet with the kernel hold the build back (they are not delivered):
                // waiting for new events, this client would not be timed out for them. A
                // watcher holds nothing back, but its lines are settled all the same.
                let unsettled = reader.map { (record.position(of: $0) ?? cursor) < cursor } ?? true
                if let write = pending, unsettled {
                    try await sink.settle(write)
                    pending = nil
                }
                if !flushed {
                    // A silent build: the head goes now, not with its next event.
                    sink.flush()
                    flushed = true
                }
                await record.waitForEvents(after: cursor, wakeAfter: heartbeat)
                if heartbeat != nil, !Task.isCancelled, record.snapshot.lastSeq == cursor {
                    var line = BuildEvent.heartbeat.line
                    EventSequence.stamp(&line, seq: cursor)
                    try await sink.send(line, isLast: false)
                }
            }
        } catch {
            return  // the client is gone
        }
        await sink.finish()
    }

    private static func dropped(_ count: Int, after seq: Int, droppedBytes: Int) -> BuildEvent {
        .warning(
            code: ErrorCode.eventsDropped.rawValue,
            message: "\(count) events after seq \(seq) are no longer held: \(droppedBytes) bytes of the oldest output "
                + "were dropped to bound the memory events take (build.event_buffer_bytes per build, "
                + "build.retained_event_bytes for finished ones)"
        )
    }
}
