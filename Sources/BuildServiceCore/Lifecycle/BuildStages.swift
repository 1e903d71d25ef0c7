import BuildServiceProtocol
import NIOConcurrencyHelpers
import Synchronization

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

        /// Its flag in `marked`. A switch: `allCases.firstIndex` made an array on every mark,
        /// which is every chunk of output for `firstOutput`.
        fileprivate var bit: UInt8 {
            switch self {
            case .admitted: 1 << 0
            case .spawned: 1 << 1
            case .firstOutput: 1 << 2
            case .exited: 1 << 3
            case .finished: 1 << 4
            case .lastByte: 1 << 5
            }
        }
    }

    private let start: ContinuousClock.Instant
    /// The stages marked so far, one bit each: `firstOutput` is marked for every chunk of
    /// output, and all but the first of those marks cost one atomic load.
    private let marked = Atomic<UInt8>(0)
    private let marks = NIOLockedValueBox<[(Stage, ContinuousClock.Instant)]>([])

    /// - Parameter start: when the request had been read whole.
    public init(since start: ContinuousClock.Instant = .now) {
        self.start = start
    }

    /// Notes the stage's time, once (the first mark counts).
    public func mark(_ stage: Stage) {
        guard marked.load(ordering: .relaxed) & stage.bit == 0 else { return }
        let now = ContinuousClock.now
        guard marked.bitwiseOr(stage.bit, ordering: .relaxed).oldValue & stage.bit == 0 else { return }
        marks.withLockedValue { $0.append((stage, now)) }
    }

    /// `admitted=0.081ms spawned=0.412ms …`: each stage's time since the request was read.
    public var summary: String {
        marks.withLockedValue { marks in
            marks.map { stage, instant in
                let (seconds, attoseconds) = (instant - start).components
                let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
                return "\(stage.rawValue)=" + ByteCountText.decimal(milliseconds, places: 3) + "ms"
            }.joined(separator: " ")
        }
    }
}
