import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// Answers a plain-HTTP connection that is over `service.http.max_connections_per_ip`: at its
/// first read, the refusal every API answer uses (`503 too_many_connections` with
/// `Retry-After`), then lingers (`RefusalLinger`: what else the client sends, a body or the
/// rest of a large head, is dropped, so that no reset takes the answer with it). The
/// connection is closed `patience` after it opened in any case, answered or not. Installed
/// after an `HTTPResponseEncoder`.
final class TooManyConnectionsAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = HTTPServerResponsePart

    static let patience = TimeAmount.seconds(2)
    static let refusal = ServiceError(
        .tooManyConnections,
        "too many connections from your address (service.http.max_connections_per_ip); close some, or retry later"
    )

    private var answered = false

    func channelActive(context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.patience) {
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        guard case .complete(let status, var headers, let body) = HTTPResponse.refusal(Self.refusal) else { return }
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        RefusalLinger.start(on: context.channel, once: context.writeAndFlush(wrapOutboundOut(.end(nil))))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side: answered (or about to be: the answer is written before
        // this event comes), nothing is left to wait for.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension TooManyConnectionsAnswer: Sendable {}
