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
///
/// A body must also keep a minimum average rate (`Settings.minBodyBytesPerSec`) once
/// `bodyRateGrace` has passed since its head (Kestrel's rule): a client that sends a head and
/// then a byte now and then is gone in seconds, not at the body's total deadline.
///
/// A request that arrives whole in one read is answered without a timer: the handler's
/// progress comes back inside the read, and a deadline is scheduled only for what is still
/// being read when the read is over.
final class RequestDeadlines: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Between requests: nothing of the next one has arrived.
        case idle
        case readingHead(since: NIODeadline)
        case readingBody(since: NIODeadline)
        /// Answering. `bytesArrived`: some of a pipelined next request came meanwhile, so its
        /// head's deadline starts when this answer is out.
        case serving(bytesArrived: Bool)
    }

    /// The deadlines of one listener.
    struct Settings: Sendable {
        var head: TimeAmount
        var body: TimeAmount
        /// 0: no minimum.
        var minBodyBytesPerSec: Int

        init(headSec: Int, bodySec: Int, minBodyBytesPerSec: Int) {
            head = .seconds(saturating: headSec)
            body = .seconds(saturating: bodySec)
            self.minBodyBytesPerSec = minBodyBytesPerSec
        }
    }

    /// How long after its head a body is first held to the minimum rate.
    static let bodyRateGrace = TimeAmount.seconds(5)

    private let settings: Settings
    private let onExpiry: @Sendable (_ readingHead: Bool) -> Void
    private var phase = Phase.idle
    /// Bytes of the body read so far (on the wire: TLS records included).
    private var bodyBytes = 0
    private var deadline: Scheduled<Void>?
    /// Inside `channelRead`: deadlines wait for its end, by when most requests are answered.
    private var reading = false
    /// The bytes of the read in progress.
    private var readBytes = 0

    init(_ settings: Settings, onExpiry: @escaping @Sendable (_ readingHead: Bool) -> Void) {
        self.settings = settings
        self.onExpiry = onExpiry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readBytes = unwrapInboundIn(data).readableBytes
        switch phase {
        case .idle: phase = .readingHead(since: context.eventLoop.now)
        case .serving: phase = .serving(bytesArrived: true)
        case .readingBody: bodyBytes += readBytes
        case .readingHead: break
        }
        reading = true
        context.fireChannelRead(data)
        reading = false
        armIfReading(context: context)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let progress = event as? RequestProgress else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed()
        deadline?.cancel()
        deadline = nil
        switch (progress, phase) {
        case (.headRead(let bodyFollows), _):
            phase = bodyFollows ? .readingBody(since: context.eventLoop.now) : .serving(bytesArrived: false)
            // A head read with the start of its body: that start counts toward the rate (the
            // head's own bytes with it, which only errs toward the client).
            bodyBytes = reading ? readBytes : 0
        case (.requestRead, _):
            phase = .serving(bytesArrived: false)
        case (.responseEnded, .serving(bytesArrived: true)):
            phase = .readingHead(since: context.eventLoop.now)
        case (.responseEnded, _):
            phase = .idle
        }
        // Outside a read (a pipelined request replayed, an answer that ended later): now.
        if !reading { armIfReading(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    private func armIfReading(context: ChannelHandlerContext) {
        guard deadline == nil, let (readingHead, at) = currentDeadline() else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [self] in
            deadline = nil
            // The body's rate deadline moves on with every byte: look again.
            if let (_, later) = currentDeadline(), later > context.eventLoop.now {
                armIfReading(context: context)
                return
            }
            onExpiry(readingHead)
            context.close(promise: nil)
        }
    }

    /// When what is being read must be complete (or, for a body, have reached the rate).
    private func currentDeadline() -> (readingHead: Bool, at: NIODeadline)? {
        switch phase {
        case .readingHead(let since):
            return (true, since + settings.head)
        case .readingBody(let since):
            let whole = since + settings.body
            guard settings.minBodyBytesPerSec > 0 else { return (false, whole) }
            // The time the bytes so far buy at the minimum rate, after the grace.
            let bought = TimeAmount.nanoseconds(Int64(min(bodyBytes, 1 << 32)) * 1_000_000_000 / Int64(settings.minBodyBytesPerSec))
            return (false, min(whole, since + Self.bodyRateGrace + bought))
        case .idle, .serving:
            return nil
        }
    }
}

@available(*, unavailable)
extension RequestDeadlines: Sendable {}
