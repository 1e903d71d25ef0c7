import NIOCore

/// Answers a plain-HTTP connection that is over `service.http.max_connections_per_ip`: at its
/// first read, `503` with `Retry-After` and the error document, then closes. The request is
/// read first (one read, never parsed) so that the close does not reset the connection and
/// take the answer with it; a client that sends nothing is closed after `patience`.
final class TooManyConnectionsAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let patience = TimeAmount.seconds(2)
    private static let body = """
        {"error":"too many connections from your address (service.http.max_connections_per_ip); \
        close some, or retry later","code":"too_many_connections"}

        """
    private static let response =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\n"
        + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"

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
        let buffer = context.channel.allocator.buffer(string: Self.response)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension TooManyConnectionsAnswer: Sendable {}
