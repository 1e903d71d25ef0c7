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
    /// Refused before the line's end: what the client still sends is read and dropped.
    private var lingering = false
    private var task: Task<Void, Never>?

    init(listener: ListenerContext) {
        self.listener = listener
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !started else { return }
        switch request.append(unwrapInboundIn(data)) {
        case .incomplete: break
        case .complete(let line): start(context: context, line: line)
        case .tooLarge: start(context: context, line: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // A half-close ends the request line; it does not cancel a running build.
            if lingering {
                context.close(promise: nil)
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

    /// `line` nil: the request was too large.
    private func start(context: ChannelHandlerContext, line: ByteBuffer?) {
        started = true
        lingering = line == nil
        // The request is in: its deadline (`RequestDeadlines`) is met.
        context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
        request = LegacyRequestLine(limit: ListenerContext.maxBodyBytes)
        let channel = context.channel
        let sink = LegacyEventSink(channel: channel, sendTimeout: listener.sendTimeout)
        let listener = self.listener
        let origin = RequestOrigin(listener: listener.name, peer: PeerDescription.of(context.channel))
        // One snapshot of the settings for the whole request (tokens and projects alike).
        let settings = listener.live.current
        let admission =
            line.map { line in
                listener.endpoint.admit(
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
            } ?? .failure(ServiceError(.payloadTooLarge, "request line is longer than \(ListenerContext.maxBodyBytes) bytes"))
        task = Task(executorPreference: EventLoopTaskExecutor(context.eventLoop)) {
            switch admission {
            case .success(let admitted): await listener.endpoint.stream(admitted, to: sink)
            case .failure(let error):
                await sink.reject(error)
                if line == nil {
                    // Closing while the client still writes its line would fail its write
                    // (EPIPE) and it may never read this answer: end our side, and drop what
                    // still comes until it closes too (inputClosed), for a few seconds at most.
                    try? await channel.close(mode: .output)
                    channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
                    return
                }
            }
            try? await channel.close()
        }
    }
}
