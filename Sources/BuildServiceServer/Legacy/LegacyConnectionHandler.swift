import BuildServiceConcurrency
import BuildServiceCore
import BuildServiceProtocol
import NIOCore

/// Serves one legacy request on the Unix socket: a JSON object ended by `\n` (or by the client
/// half-closing), answered with the NDJSON event stream, after which the connection closes.
/// `printf '%s\n' "$json" | socat - UNIX-CONNECT:/run/build-service.sock` works.
final class LegacyConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let listener: ListenerContext
    private var request = LegacyRequestLine(limit: ListenerContext.maxBodyBytes)
    private var started = false
    /// Set when the line was refused as too large: the refusal's write. What the client still
    /// sends is read and dropped (`RefusalLinger`); its close ends the connection once the
    /// refusal is out.
    private var refused: EventLoopFuture<Void>?
    private var task: Task<Void, Never>?

    init(listener: ListenerContext) {
        self.listener = listener
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !started else { return }
        switch request.append(unwrapInboundIn(data)) {
        case .incomplete: break
        case .complete(let line): start(context: context, line: line)
        case .tooLarge: refuseTooLarge(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // A half-close ends the request line; it does not cancel a running build.
            if let refused {
                let channel = context.channel
                refused.whenComplete { _ in channel.close(promise: nil) }
            } else if !started {
                if let partial = request.buffered, partial.readableBytes > 0 {
                    start(context: context, line: partial)
                } else {
                    context.close(promise: nil)
                }
            }
        } else if event is IdleStateHandler.IdleStateEvent {
            if !started { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        context.fireChannelInactive()
    }

    /// Answers a line over the limit at once, on the event loop (so that a half-close that came
    /// with the same reads cannot close the connection before the answer is written), then
    /// lingers.
    private func refuseTooLarge(context: ChannelHandlerContext) {
        started = true
        // Answered: no request deadline may cut the linger short (or count it as a timeout).
        context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
        request = LegacyRequestLine(limit: ListenerContext.maxBodyBytes)
        let error = ServiceError(.payloadTooLarge, "request line is longer than \(ListenerContext.maxBodyBytes) bytes")
        listener.endpoint.recordRefusal(error, message: error.message, peer: PeerDescription.of(context.channel), listener: listener.name)
        let answered = context.writeAndFlush(wrapOutboundOut(LegacyEventSink.refusal(error)))
        refused = answered
        RefusalLinger.start(on: context.channel, once: answered)
    }

    private func start(context: ChannelHandlerContext, line: ByteBuffer) {
        started = true
        // The request is in: its deadline (`RequestDeadlines`) is met.
        context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
        request = LegacyRequestLine(limit: ListenerContext.maxBodyBytes)
        let channel = context.channel
        let sink = LegacyEventSink(channel: channel, sendTimeout: listener.sendTimeout)
        let listener = self.listener
        let origin = RequestOrigin(listener: listener.name, peer: PeerDescription.of(context.channel))
        // One snapshot of the settings for the whole request (tokens and projects alike).
        let settings = listener.live.current
        let admission = listener.endpoint.admit(
            BuildEndpoint.Submission(
                body: line,
                grant: nil,
                idempotencyHeader: nil,
                canComeBack: false,
                settings: settings,
                tokens: listener.tokens(settings),
                origin: origin,
                eventLoop: context.eventLoop,
                allowsHeartbeats: sink.allowsNewEventTypes
            )
        )
        task = Task(executorPreference: EventLoopTaskExecutor(context.eventLoop)) {
            switch admission {
            case .success(let admitted): await listener.endpoint.stream(admitted, to: sink)
            case .failure(let error): await sink.reject(error)
            }
            try? await channel.close()
        }
    }
}
