import BuildServiceProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Streams a build's events as a chunked `application/x-ndjson` response. Each line is flushed
/// on its own and `send` returns when the socket took it, so the build goes at the client's pace.
struct HTTPResponseSink: EventSink {
    let channel: any Channel
    let version: HTTPVersion
    /// Whether the connection closes after this response (adds `Connection: close`).
    let closeAfter: Bool
    /// See `SendDeadline`.
    let sendTimeout: TimeAmount
    /// Set once the response's end has been written (with the `exit` event).
    let ended = NIOLockedValueBox(false)
    var allowsNewEventTypes: Bool { true }

    func reject(_ error: ServiceError) async {
        let (head, body) = ErrorResponse.parts(for: error, version: version, close: closeAfter)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
    }

    func begin() async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-ndjson")
        if version.minor > 0 { headers.add(name: "Transfer-Encoding", value: "chunked") }
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        if closeAfter { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: .ok, headers: headers)
        // Not flushed on its own: it leaves with the first event, one write instead of two.
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
    }

    func flush() {
        channel.flush()
    }

    /// Returns at once while the socket takes more (below NIO's write-buffer high watermark),
    /// else when this line has been written: several lines in flight, bounded memory.
    func send(_ line: ByteBuffer, isLast: Bool) async throws -> EventLoopFuture<Void> {
        if isLast {
            // The exit event and the end of the response leave together, before anything else
            // (such as the audit log line) is done.
            channel.write(HTTPServerResponsePart.body(.byteBuffer(line)), promise: nil)
            ended.withLockedValue { $0 = true }
            let done: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
            try await SendDeadline.awaitCompletion(done, on: channel, timeout: sendTimeout)
            return done
        }
        let written: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(line)))
        try await SendDeadline.await(written, on: channel, timeout: sendTimeout)
        return written
    }

    func settle(_ write: EventLoopFuture<Void>) async throws {
        try await SendDeadline.awaitCompletion(write, on: channel, timeout: sendTimeout)
    }

    func finish() async {
        guard !ended.withLockedValue({ $0 }) else { return }
        let done: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        try? await SendDeadline.awaitCompletion(done, on: channel, timeout: sendTimeout)
    }
}
