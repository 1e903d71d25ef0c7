import NIOConcurrencyHelpers
import NIOCore

/// Closes a connection on which nothing has arrived for `limit` once it is armed: a stream from
/// a service that sends heartbeats (three per `limit`) is never that quiet unless the path to
/// it died without a reset (a NAT entry dropped, the host gone), which TCP alone would only
/// notice after many minutes. Closing makes the client re-attach. It is armed only after the
/// service has shown it numbers its events, since the original implementation sends no heartbeats.
final class SilenceWatch: Sendable {
    let limit: TimeAmount
    private let armed = NIOLockedValueBox(false)

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
