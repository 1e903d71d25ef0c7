public import NIOCore

/// Events for one reader (see `BuildRecord.read`).
public struct EventBatch: Sendable {
    /// Events after the reader's position that are no longer held.
    public var missing: Int
    /// Bytes of output dropped from this build's log so far.
    public var droppedBytes: Int
    public var lines: [ByteBuffer]
    /// The reader's position after taking these lines.
    public var lastSeq: Int
    /// The reader has the build's last event once it has these lines.
    public var complete: Bool
}
