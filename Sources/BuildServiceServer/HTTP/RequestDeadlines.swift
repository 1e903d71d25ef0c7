import NIOCore

/// What the connection handler tells `RequestDeadlines` about the request in progress (as an
/// outbound user event, which travels from it toward the socket).
enum RequestProgress: Sendable {
    /// The head is complete; a body follows or not.
    case headRead(bodyFollows: Bool)
    /// The whole request is in: its answer is being made.
    case requestRead
    /// The answer is out; the connection waits for the next request.
    case responseEnded
}

/// Total deadlines for reading a request, against clients that send it a byte at a time
/// (slowloris): the head must be complete `headTimeout` after its first byte, and a body
/// `bodyTimeout` after its head. The read timeout alone reset on every byte, so one byte every
/// 20 s held a connection (and a descriptor) for good. An idle keep-alive connection, which
/// has sent nothing of a next request, is the read timeout's business. Sits next to the socket,
/// before TLS: it sees bytes arrive as they are sent (ciphertext included, so a TLS record
/// trickled in cannot hide a request from it), and the handler's `RequestProgress`.
/// Past a deadline the connection is closed without an answer, as nginx does for a head.
final class RequestDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Between requests: nothing of the next one has arrived.
        case idle
        case readingHead
        case readingBody
        /// Answering; bytes that arrive now are a pipelined request, read after this one.
        case serving
    }

    private let headTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let onExpiry: (@Sendable (_ readingHead: Bool) -> Void)?
    private var phase = Phase.idle
    private var deadline: Scheduled<Void>?

    init(headTimeout: TimeAmount, bodyTimeout: TimeAmount, onExpiry: (@Sendable (_ readingHead: Bool) -> Void)? = nil) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.onExpiry = onExpiry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .idle = phase {
            phase = .readingHead
            arm(headTimeout, context: context)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let progress = event as? RequestProgress else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed()
        deadline?.cancel()
        deadline = nil
        switch progress {
        case .headRead(let bodyFollows):
            phase = bodyFollows ? .readingBody : .serving
            if bodyFollows { arm(bodyTimeout, context: context) }
        case .requestRead:
            phase = .serving
        case .responseEnded:
            phase = .idle
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            let readingHead: Bool
            switch phase {
            case .readingHead: readingHead = true
            case .readingBody: readingHead = false
            case .idle, .serving: return
            }
            onExpiry?(readingHead)
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension RequestDeadlines: Sendable {}
