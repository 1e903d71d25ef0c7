import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// HTTP/1.1 on one connection, bytes in and bytes out, in one handler: requests parsed
/// (`HTTPRequestParser`) and passed on as NIO's request parts, responses encoded
/// (`HTTPResponseHeadEncoder`, chunked where the head says so). It takes the place of NIO's
/// server pipeline (decoder, encoder, pipelining, error and header-validation handlers): five
/// handlers that each request and each response part passed through were a third of the CPU of
/// a small download.
///
/// Pipelining, as NIO's pipelining handler did it: a request is parsed only once every response
/// before it has ended, so the connection handler sees one request at a time and what a client
/// sends behind a response waits here as bytes. Meanwhile the socket is read only while nothing
/// waits (so a client that goes away mid-build is seen at once) and while the connection can
/// take more output (a client that sends requests and never reads the answers stops being
/// read once NIO's write buffer is full): a client cannot make the daemon hold more than a few
/// reads of what it sends. Nothing after a request that ends the connection (`Connection:
/// close`, HTTP/1.0) is parsed: it would be run with nobody to answer.
///
final class HTTPServerCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    private var parser = HTTPRequestParser()
    /// Bytes read and not parsed yet.
    private var received = ByteBuffer()
    /// Requests read to their end that the connection handler has not finished answering (at
    /// most one: see above). Counted down at its `RequestProgress.responseEnded`, not at the
    /// response's last write: a streamed response's task may still wait for the client then.
    private var unanswered = 0
    /// A head was passed on and its end not yet.
    private var midRequest = false
    /// Inside `parse`: a response that ends within it needs no parse scheduled.
    private var parsing = false
    /// Whether the request being read keeps the connection open after its answer.
    private var keepAlive = true
    /// Nothing more is parsed, and what still comes is dropped: a request that ends the
    /// connection was read, a request was refused (by the parser, or by the handler at its
    /// head), or the connection is closing. See `stopParsing`.
    private var done = false
    /// A `read` held back; done once nothing waits and the connection takes output again.
    private var readHeld = false
    /// A TCP client that half-closes has left (its build is cancelled); on the Unix socket the
    /// requests it sent before are answered first (`HTTPConnectionState`).
    private let halfCloseIsDisconnect: Bool
    /// The client's end of input, held while requests it sent before wait here unparsed: passed
    /// on after them (Unix socket), or at once when the response in progress ends, the waiting
    /// ones dropped (TCP: the client left).
    private var inputClosedHeld = false
    /// How the response in progress frames its body.
    private var framing = HTTPResponseHeadEncoder.Framing.identity
    private let crlf = ByteBuffer(string: "\r\n")
    private let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private let nothing = ByteBuffer()

    init(halfCloseIsDisconnect: Bool) {
        self.halfCloseIsDisconnect = halfCloseIsDisconnect
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The connection lingers or closes after its last answer.
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if received.readableBytes == 0 {
            received = bytes
        } else {
            received.writeBuffer(&bytes)
        }
        parse(context: context)
    }

    /// Passes on what can be parsed now: while no response is owed and the connection can
    /// take output.
    private func parse(context: ChannelHandlerContext) {
        parsing = true
        defer { parsing = false }
        while !done, unanswered == 0, context.channel.isActive, context.channel.isWritable {
            let part: HTTPRequestParser.Part?
            do {
                part = try parser.next(&received)
            } catch {
                return refuse(error, context: context)
            }
            guard let part else { break }
            switch part {
            case .head(let head):
                // As `HTTPConnectionState.closesAfter` judges it: HTTP/1.0 always closes.
                keepAlive = head.isKeepAlive && head.version.minor > 0
                midRequest = true
                context.fireChannelRead(wrapInboundOut(.head(head)))
            case .body(let body):
                context.fireChannelRead(wrapInboundOut(.body(body)))
            case .end:
                midRequest = false
                unanswered += 1
                if !keepAlive { stopParsing() }
                context.fireChannelRead(wrapInboundOut(.end(nil)))
            }
        }
        // A client that keeps a partial request behind every read must not grow the buffer.
        if received.readerIndex > 64 * 1024 { received.discardReadBytes() }
        if inputClosedHeld, !waiting(context) {
            inputClosedHeld = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    /// Bytes of requests wait: behind the response in progress, or for the connection to take
    /// output again.
    private func waiting(_ context: ChannelHandlerContext) -> Bool {
        !done && received.readableBytes > 0 && (unanswered > 0 || !context.channel.isWritable)
    }

    /// Only ever called with no response owed (see `parse`): answered at once.
    private func refuse(_ failure: HTTPRequestParser.Failure, context: ChannelHandlerContext) {
        stopParsing()
        answer(failure, context: context)
    }

    /// 400 with what was wrong, then the connection's end (lingering, like every refusal
    /// made while the client may still be sending).
    private func answer(_ failure: HTTPRequestParser.Failure, context: ChannelHandlerContext) {
        // Answered: no request deadline may cut the linger short (or count it as a timeout).
        context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
        guard case .complete(let status, var headers, let body?) = HTTPResponse.refusal(ServiceError(.badRequest, failure.message)) else {
            return context.close(promise: nil)
        }
        headers.add(name: "Connection", value: "close")
        var bytes = context.channel.allocator.buffer(capacity: 256 + body.readableBytes)
        do {
            _ = try HTTPResponseHeadEncoder.write(HTTPResponseHead(version: .http1_1, status: status, headers: headers), to: &bytes)
        } catch {
            return context.close(promise: nil)
        }
        bytes.writeImmutableBuffer(body)
        let written = context.writeAndFlush(wrapOutboundOut(.byteBuffer(bytes)))
        RefusalLinger.start(on: context.channel, once: written)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, waiting(context) {
            inputClosedHeld = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads(context) {
            readHeld = true
        } else {
            context.read()
        }
    }

    private func holdsReads(_ context: ChannelHandlerContext) -> Bool {
        !done && (!context.channel.isWritable || (unanswered > 0 && received.readableBytes > 0))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            parse(context: context)
            resumeReading(context)
        }
        context.fireChannelWritabilityChanged()
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        guard readHeld, !holdsReads(context) else { return }
        readHeld = false
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            // Room for an artifact's dozen headers without growing.
            var bytes = context.channel.allocator.buffer(capacity: 512)
            do {
                framing = try HTTPResponseHeadEncoder.write(head, to: &bytes)
            } catch {
                promise?.fail(error)
                return context.close(promise: nil)
            }
            context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
        case .body(let data):
            guard framing == .chunked, data.readableBytes > 0 else {
                return context.write(wrapOutboundOut(data), promise: promise)
            }
            writeChunk(data, context: context, promise: promise)
        case .end:
            // Trailers are never sent: nothing here makes them.
            context.write(wrapOutboundOut(.byteBuffer(framing == .chunked ? lastChunk : nothing)), promise: promise)
            framing = .identity
            responseWritten()
        }
    }

    /// A chunk of a small body (an event's line) is copied into one buffer with its framing:
    /// one piece for the socket's write instead of three.
    private func writeChunk(_ data: IOData, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        var header = context.channel.allocator.buffer(capacity: data.readableBytes <= 4096 ? data.readableBytes + 24 : 24)
        HTTPResponseHeadEncoder.writeChunkHeader(data.readableBytes, to: &header)
        if case .byteBuffer(let small) = data, small.readableBytes <= 4096 {
            header.writeImmutableBuffer(small)
            header.writeImmutableBuffer(crlf)
            return context.write(wrapOutboundOut(.byteBuffer(header)), promise: promise)
        }
        context.write(wrapOutboundOut(.byteBuffer(header)), promise: nil)
        context.write(wrapOutboundOut(data), promise: nil)
        context.write(wrapOutboundOut(.byteBuffer(crlf)), promise: promise)
    }

    /// The last write of a response. Before its request has ended, it was a refusal at the
    /// head: the connection ends, and nothing after is parsed (the handler drops the rest).
    private func responseWritten() {
        if midRequest { stopParsing() }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        context.triggerUserOutboundEvent(event, promise: promise)
        if let progress = event as? RequestProgress, case .responseEnded = progress { responseEnded(context: context) }
    }

    /// The connection handler finished a response and waits for the next request.
    private func responseEnded(context: ChannelHandlerContext) {
        if unanswered > 0 { unanswered -= 1 }
        guard unanswered == 0 else { return }
        if inputClosedHeld, halfCloseIsDisconnect {
            // The client left while requests waited: none of them is started.
            inputClosedHeld = false
            stopParsing()
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        if received.readableBytes > 0, !parsing {
            // On the next turn of the loop, not inside the handler's answer.
            let loopBound = NIOLoopBound((codec: self, context: context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (codec, context) = loopBound.value
                codec.parse(context: context)
                codec.resumeReading(context)
            }
        } else {
            resumeReading(context)
        }
    }

    /// Whoever closes the connection (the handler after a last answer, a refusal's linger,
    /// TLS sending its close_notify first): nothing more is parsed.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        stopParsing()
        context.close(mode: mode, promise: promise)
    }

    /// From now on nothing is parsed, and the bytes not parsed yet are dropped.
    private func stopParsing() {
        done = true
        received = nothing
    }
}
