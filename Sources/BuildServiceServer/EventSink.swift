import BuildServiceProtocol
import NIOCore

/// Where a build's events go: an HTTP response or a legacy socket stream. The two differ only
/// in how the start of the stream is framed. (A refusal is each framing's own business.)
protocol EventSink: Sendable {
    /// Whether the client may get event types the original implementation did not have
    /// (`heartbeat`): not on the legacy framing, whose clients reject unknown types.
    var allowsNewEventTypes: Bool { get }
    /// The build is accepted; events follow. What `begin` writes may wait for the first event.
    func begin() async throws
    /// Sends what `begin` wrote now: no event is there yet, and the client must know it is
    /// attached rather than hung (a re-attach to a silent build).
    func flush()
    /// One NDJSON line; returns once the socket may take more (backpressure), with the write,
    /// which completes when the line has been handed to the kernel. The last line of a stream
    /// (`exit`) leaves together with the end of the response.
    @discardableResult
    func send(_ line: ByteBuffer, isLast: Bool) async throws -> EventLoopFuture<Void>
    /// Waits until `write` has been handed to the kernel, no longer than the send timeout (then
    /// the client is disconnected): for a reader about to wait for more events while lines it
    /// sent still sit in our buffers, which the build may be waiting for.
    func settle(_ write: EventLoopFuture<Void>) async throws
    /// The stream is complete.
    func finish() async
}
