import BuildServiceProtocol
import NIOCore

/// Where a build request's answer goes: an HTTP response or a legacy socket stream. The two
/// differ only in how a refusal and the start of the stream are framed.
protocol EventSink: Sendable {
    /// Whether the client may get event types the original implementation did not have
    /// (`heartbeat`): not on the legacy framing, whose clients reject unknown types.
    var allowsNewEventTypes: Bool { get }
    /// The request is refused before anything started.
    func reject(_ error: ServiceError) async
    /// The build is accepted; events follow.
    func begin() async throws
    /// One NDJSON line; returns once it has been handed to the socket (backpressure). The last
    /// line of a stream (`exit`) is not flushed on its own but together with `finish()`.
    func send(_ line: ByteBuffer, isLast: Bool) async throws
    /// The stream is complete.
    func finish() async
}
