import BuildServiceTLS
import NIOConcurrencyHelpers
import NIOCore

/// Sits above the TLS handler and keeps the user events it passes up.
final class EventRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private(set) var userEvents: [Any] = []

    var inputClosedCount: Int { userEvents.filter { ($0 as? ChannelEvent) == .inputClosed }.count }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        userEvents.append(event)
        context.fireUserInboundEventTriggered(event)
    }
}

/// What the handler's `onFailure` was told.
final class FailureRecorder: Sendable {
    struct Failure: Sendable {
        var error: TLSError
        var duringHandshake: Bool
    }
    private let failures = NIOLockedValueBox<[Failure]>([])
    var all: [Failure] { failures.withLockedValue { $0 } }
    func record(_ error: TLSError, duringHandshake: Bool) {
        failures.withLockedValue { $0.append(Failure(error: error, duringHandshake: duringHandshake)) }
    }
}

final class OrderRecorder: Sendable {
    private let box = NIOLockedValueBox<[Int]>([])
    var values: [Int] { box.withLockedValue { $0 } }
    func append(_ value: Int) { box.withLockedValue { $0.append(value) } }
}

/// Below the TLS handler, in place of a socket's half-close (an `EmbeddedChannel` closes
/// whole on any close): `close(mode: .output)` is recorded and succeeds, the channel stays
/// open for reading.
final class OutputCloseStandIn: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    private(set) var outputClosed = false
    /// Ciphertext bytes written after the output was closed (there must be none).
    private(set) var bytesAfterOutputClose = 0

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if outputClosed { bytesAfterOutputClose += unwrapOutboundIn(data).readableBytes }
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        outputClosed = true
        promise?.succeed()
    }
}
