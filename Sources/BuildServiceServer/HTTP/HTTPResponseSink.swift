import BuildServiceProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Streams a build's events as a chunked `application/x-ndjson` response. Each line is flushed
/// on its own and `send` returns when the socket took it, so the build goes at the client's pace.
struct HTTPResponseSink: EventSink {
    let response: ResponseStream
    /// Set once the response's end has been written (with the `exit` event).
    let ended = NIOLockedValueBox(false)
    /// Called on the event loop as the response's end (with the `exit` event) is written.
    let onEnd: (@Sendable () -> Void)?
    var allowsNewEventTypes: Bool { true }

    init(_ response: ResponseStream, onEnd: (@Sendable () -> Void)? = nil) {
        self.response = response
        self.onEnd = onEnd
    }

    private var channel: any Channel { response.channel }

    func begin() async throws {
        var headers = HTTPResponse.apiHeaders(contentType: "application/x-ndjson")
        if response.version.minor > 0 { headers.add(name: "Transfer-Encoding", value: "chunked") }
        // Not flushed on its own: it leaves with the first event, one write instead of two.
        channel.write(response.head(.ok, headers), promise: nil)
    }

    func flush() {
        channel.flush()
    }

    /// Returns at once while the socket takes more (below NIO's write-buffer high watermark),
    /// else when this line has been written: several lines in flight, bounded memory.
    func send(_ line: ByteBuffer, isLast: Bool) async throws -> EventLoopFuture<Void> {
        if isLast {
            // The exit event and the end of the response leave together.
            channel.write(HTTPServerResponsePart.body(.byteBuffer(line)), promise: nil)
            ended.withLockedValue { $0 = true }
            let done: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
            if let onEnd { done.whenSuccess { onEnd() } }
            try await SendDeadline.awaitCompletion(done, on: channel, timeout: response.sendTimeout)
            return done
        }
        let written: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(line)))
        try await SendDeadline.await(written, on: channel, timeout: response.sendTimeout)
        return written
    }

    func settle(_ write: EventLoopFuture<Void>) async throws {
        try await SendDeadline.awaitCompletion(write, on: channel, timeout: response.sendTimeout)
    }

    func finish() async {
        guard !ended.withLockedValue({ $0 }) else { return }
        let done: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        try? await SendDeadline.awaitCompletion(done, on: channel, timeout: response.sendTimeout)
    }
}
