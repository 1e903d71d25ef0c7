import NIOConcurrencyHelpers
import NIOCore

/// Closes a connection on which nothing has arrived for `limit` once it is armed: a stream from
/// a service that sends heartbeats (three per `limit`) is never that quiet unless the path to
/// it died without a reset (a NAT entry dropped, the host gone), which TCP alone would only
/// notice after many minutes. Closing makes the client re-attach. It is armed only after the
/// service has shown it numbers its events, since the original implementation sends no heartbeats.
///
/// Before that, the response head and the first bytes of its body (the first event) must arrive
/// within `limit` of the request (`expectAnswer`): every HTTP server sends its head first, and
/// both daemons their first event at once, so a service that accepted the connection and never
/// answers, trickles its head a line at a time, or sends a head and nothing else, is not
/// waited for forever either.
final class SilenceWatch: Sendable {
    let limit: TimeAmount
    private let armed = NIOLockedValueBox(false)
    private let answerDeadline = NIOLockedValueBox<Scheduled<Void>?>(nil)
    private let answerMissed = NIOLockedValueBox(false)

    /// True when the connection was closed because no response head came in time.
    var missedAnswer: Bool { answerMissed.withLockedValue { $0 } }

    /// Starts the clock for the response head, once the request is sent.
    func expectAnswer(on channel: any Channel) {
        let deadline = channel.eventLoop.scheduleTask(in: limit) { [answerMissed] in
            answerMissed.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        answerDeadline.withLockedValue { $0 = deadline }
    }

    /// The answer's body began (or it ended without one).
    func answered() {
        answerDeadline.withLockedValue {
            $0?.cancel()
            $0 = nil
        }
    }

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func arm() {
        armed.withLockedValue { $0 = true }
    }

    /// The handlers to put in front of the HTTP client handlers.
    func handlers() -> [any ChannelHandler] {
        [IdleStateHandler(readTimeout: limit), Closer(watch: self)]
    }

    private final class Closer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let watch: SilenceWatch

        init(watch: SilenceWatch) {
            self.watch = watch
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, watch.armed.withLockedValue({ $0 }) {
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }
    }
}
