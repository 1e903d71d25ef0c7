import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// Answers a plain-HTTP connection that is over `service.http.max_connections_per_ip`: at its
/// first read, the refusal every API answer uses (`503 too_many_connections` with
/// `Retry-After`), then closes. The request is read first (one read, never parsed) so that the
/// close does not reset the connection and take the answer with it; a client that sends
/// nothing is closed after `patience`. Installed after an `HTTPResponseEncoder`.
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
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension TooManyConnectionsAnswer: Sendable {}
