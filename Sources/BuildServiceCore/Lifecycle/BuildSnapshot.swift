public import BuildServiceProtocol
public import Foundation

/// `BuildRecord.snapshot`.
public struct BuildSnapshot: Sendable {
    public var phase: BuildPhase
    public var queuePosition: Int?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var exit: BuildExit?
    public var cancelReason: CancelReason?
    public var lastSeq: Int
}
