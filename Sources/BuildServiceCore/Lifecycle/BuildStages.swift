import NIOConcurrencyHelpers

/// When a build passed each stage on its way from its request to the last byte of its answer:
/// the per-stage trace the daemon logs at debug level ("build stages") once the `exit` event
/// has been written to the client that submitted it. Where a no-op build's time goes is read
/// from it (request read → admitted → spawned → first output → exited → finished → last byte).
public final class BuildStages: Sendable {
    public enum Stage: String, Sendable {
        /// Validated and registered (its `build` event can go out).
        case admitted
        /// The process has exec'd (the spawn returns after the exec).
        case spawned
        /// The first chunk of its output was read.
        case firstOutput = "first_output"
        /// Its output ended and its process was reaped.
        case exited
        /// The `exit` event is in the build's log.
        case finished
        /// The `exit` event was written to the submitting client's socket.
        case lastByte = "last_byte"
    }

    private let start: ContinuousClock.Instant
    private let marks = NIOLockedValueBox<[(Stage, ContinuousClock.Instant)]>([])

    /// - Parameter start: when the request had been read whole.
    public init(since start: ContinuousClock.Instant = .now) {
        self.start = start
    }

    /// Notes the stage's time, once (the first mark counts).
    public func mark(_ stage: Stage) {
        let now = ContinuousClock.now
        marks.withLockedValue { marks in
            if !marks.contains(where: { $0.0 == stage }) { marks.append((stage, now)) }
        }
    }

    /// `admitted=0.081ms spawned=0.412ms …`: each stage's time since the request was read.
    public var summary: String {
        marks.withLockedValue { marks in
            marks.map { stage, instant in
                let micros = (instant - start).components.attoseconds / 1_000_000_000_000 + (instant - start).components.seconds * 1_000_000
                let fraction = String(micros % 1000)
                return "\(stage.rawValue)=\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction + "ms"
            }.joined(separator: " ")
        }
    }
}
