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
/// Pipelining: requests are passed on as they are read (`HTTPConnectionHandler` answers them in
/// turn), but while one waits behind the response in progress (its head read, or any of its
/// bytes) the socket is not read, so a client cannot make the daemon hold more than one read's
/// worth of requests or bodies. While only the
/// answered request is open the socket stays read, so a client that goes away mid-build is
/// seen at once.
///
/// A request the parser refuses is answered 400 (`bad_request`, with what was wrong) once the
/// responses before it are out, and the connection ends: after a framing error nothing that
/// follows can be trusted to be where a request starts.
final class HTTPServerCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    private var parser = HTTPRequestParser()
    /// Bytes read and not parsed yet.
    private var received = ByteBuffer()
    /// Requests read to their end whose response has not ended.
    private var unanswered = 0
    /// Responses that ended before their request did (a refusal at the head while its body
    /// was still coming): that request's end then owes no answer.
    private var answeredEarly = 0
    /// A head was passed on and its end not yet: a request is being read.
    private var midRequest = false
    /// A `read` held back while requests wait; done when they have been answered.
    private var readHeld = false
    /// The parser refused the input: nothing more is parsed.
    private var failed = false
    /// The refusal, when it must wait for responses before it.
    private var pendingRefusal: HTTPRequestParser.Failure?
    /// The client's end of input, held while a request waits behind the response in progress:
    /// it is passed on when that response ends, as NIO's pipelining handler did. On TCP the
    /// connection handler takes it for the client leaving, so the complete answer goes out
    /// whole and the waiting request is not started; on the Unix socket the requests read
    /// before it are all answered.
    private var inputClosedHeld = false
    /// How the response in progress frames its body.
    private var framing = HTTPResponseHeadEncoder.Framing.identity
    private let crlf = ByteBuffer(string: "\r\n")
    private let lastChunk = ByteBuffer(string: "0\r\n\r\n")
    private let nothing = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After a refusal what still comes is dropped (the connection lingers, then ends).
        guard !failed else { return }
        var bytes = unwrapInboundIn(data)
        if received.readableBytes == 0 {
            received = bytes
        } else {
            received.writeBuffer(&bytes)
        }
        parse(context: context)
        // A client that keeps a partial request behind every read must not grow the buffer.
        if received.readerIndex > 64 * 1024 { received.discardReadBytes() }
    }

    private func parse(context: ChannelHandlerContext) {
        while !failed {
            let part: HTTPRequestParser.Part?
            do {
                part = try parser.next(&received)
            } catch {
                return refuse(error, context: context)
            }
            guard let part else { return }
            switch part {
            case .head(let head):
                midRequest = true
                context.fireChannelRead(wrapInboundOut(.head(head)))
            case .body(let body):
                context.fireChannelRead(wrapInboundOut(.body(body)))
            case .end:
                midRequest = false
                if answeredEarly > 0 {
                    answeredEarly -= 1
                } else {
                    unanswered += 1
                }
                context.fireChannelRead(wrapInboundOut(.end(nil)))
            }
        }
    }

    private func refuse(_ failure: HTTPRequestParser.Failure, context: ChannelHandlerContext) {
        failed = true
        received = nothing
        if unanswered == 0 {
            answer(failure, context: context)
        } else {
            pendingRefusal = failure
        }
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
        if let event = event as? ChannelEvent, event == .inputClosed, requestWaits {
            inputClosedHeld = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// A request (whole, or its head and part of its body) waits behind a response in
    /// progress: the handler holds its parts until that response ends.
    private var requestWaits: Bool {
        unanswered > 1 || (unanswered == 1 && midRequest)
    }

    /// Nothing more is read while a request waits, or bytes of one are left unparsed: a client
    /// cannot make the daemon hold more than one read of what it sends behind a response.
    private var holdsReads: Bool {
        !failed && (requestWaits || (unanswered == 1 && received.readableBytes > 0))
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
            responseEnded(context: context)
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

    private func responseEnded(context: ChannelHandlerContext) {
        if unanswered > 0 {
            unanswered -= 1
        } else {
            answeredEarly += 1
        }
        if inputClosedHeld, !requestWaits {
            inputClosedHeld = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        if unanswered == 0, let refusal = pendingRefusal {
            pendingRefusal = nil
            answer(refusal, context: context)
        }
        if readHeld, !holdsReads {
            readHeld = false
            context.read()
        }
    }
}
