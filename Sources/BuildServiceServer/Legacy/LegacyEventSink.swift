import BuildServiceProtocol
import NIOCore

/// The original implementation's socket framing: bare NDJSON lines, no HTTP. A refusal is an
/// `error` event followed by `exit` code 1, as the original clients expect.
struct LegacyEventSink: EventSink {
    let channel: any Channel
    /// See `SendDeadline`.
    let sendTimeout: TimeAmount
    var allowsNewEventTypes: Bool { false }

    /// The request is refused before anything started.
    func reject(_ error: ServiceError) async {
        try? await channel.writeAndFlush(Self.refusal(error)).get()
    }

    /// The two lines that refuse a request: `error`, then `exit` code 1.
    static func refusal(_ error: ServiceError) -> ByteBuffer {
        var lines = BuildEvent.error(code: error.code.rawValue, message: error.message, pattern: nil).line
        var exit = BuildEvent.exit(BuildExit(code: 1)).line
        lines.writeBuffer(&exit)
        return lines
    }

    func begin() async throws {}

    func flush() {}

    /// As `HTTPResponseSink.send`: waits only while the socket's write buffer is full.
    func send(_ line: ByteBuffer, isLast: Bool) async throws -> EventLoopFuture<Void> {
        let written: EventLoopFuture<Void> = channel.writeAndFlush(line)
        try await SendDeadline.await(written, on: channel, timeout: sendTimeout)
        return written
    }

    func settle(_ write: EventLoopFuture<Void>) async throws {
        try await SendDeadline.awaitCompletion(write, on: channel, timeout: sendTimeout)
    }

    func finish() async {}
}
