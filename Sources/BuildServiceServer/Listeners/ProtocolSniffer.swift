import NIOCore
import NIOHTTP1

/// Decides, from the first byte a Unix-socket client sends, whether it speaks HTTP or the
/// original one-JSON-line framing (`{`, possibly after whitespace), then installs the matching
/// handlers and steps aside.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let listener: ListenerContext
    private var buffered: ByteBuffer?

    init(listener: ListenerContext) {
        self.listener = listener
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if buffered == nil {
            buffered = chunk
        } else {
            buffered!.writeBuffer(&chunk)
        }
        guard let first = buffered!.readableBytesView.first(where: { !Self.isWhitespace($0) }) else {
            // Only whitespace so far; a large run of it is not a request of either kind.
            if buffered!.readableBytes > 4096 { context.close(promise: nil) }
            return
        }
        do {
            let pipeline = context.pipeline.syncOperations
            if first == UInt8(ascii: "{") {
                try pipeline.addHandler(LegacyConnectionHandler(listener: listener), position: .after(self))
            } else {
                try pipeline.addHandler(listener.httpConnectionHandler(), position: .after(self))
                try pipeline.addHandler(listener.httpServerCodec(), position: .after(self))
            }
        } catch {
            context.close(promise: nil)
            return
        }
        let data = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(data))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        } else if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
