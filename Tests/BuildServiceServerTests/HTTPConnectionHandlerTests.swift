import BuildServiceProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import BuildServiceServer

/// The connection handler on an in-memory channel behind the daemon's HTTP/1.1 codec, with a
/// responder whose answers each test scripts: framing, pipelining, keep-alive and closing.
@Suite struct HTTPConnectionHandlerTests {
    /// Answers `/refused` at its head, `/streamed` with a response that waits for `gate`, and
    /// anything else at once with "answer <uri> <body bytes>".
    final class ScriptedResponder: HTTPResponder {
        let gate = Gate()
        let lateGate = Gate()
        /// Set when a streamed response saw its task cancelled.
        let streamCancelled = NIOLockedValueBox(false)

        /// The targets of the requests judged, in order.
        let judged = NIOLockedValueBox<[String]>([])

        func accept(_ head: HTTPRequestHead, channel: any Channel) -> HeadVerdict {
            judged.withLockedValue { $0.append(head.uri) }
            guard head.uri != "/refused" else { return .refuse(.refusal(ServiceError(.unauthorized, "no"))) }
            return .accept { body in self.respond(to: head.uri, body: body) }
        }

        private func respond(to request: String, body: ByteBuffer) -> HTTPResponse {
            guard request == "/streamed" || request == "/streamed-late" else {
                return .complete(.ok, HTTPHeaders(), ByteBuffer(string: "answer \(request) \(body.readableBytes)"))
            }
            let (gate, cancelled, lateGate) = (gate, streamCancelled, lateGate)
            if request == "/streamed-late" {
                // Its end is written at once; its task returns only when `lateGate` opens (as a
                // build's stream waits for the client to take the end).
                return .streamed { stream in
                    stream.channel.write(stream.head(.ok, HTTPHeaders([("Content-Length", "4")])), promise: nil)
                    stream.channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "late"))), promise: nil)
                    stream.channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
                    await lateGate.wait()
                }
            }
            return .streamed { stream in
                stream.channel.write(stream.head(.ok, HTTPHeaders([("Transfer-Encoding", "chunked")])), promise: nil)
                stream.channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "first"))), promise: nil)
                await gate.wait()
                if Task.isCancelled { cancelled.withLockedValue { $0 = true } }
                stream.channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "second"))), promise: nil)
                stream.channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
            }
        }
    }

    /// A response that waits until the test opens it (or its task is cancelled).
    final class Gate: Sendable {
        /// Open, or the response waiting for it: one lock, so an `open` cannot slip between
        /// the check and the wait.
        private let state = NIOLockedValueBox((opened: false, waiter: CheckedContinuation<Void, Never>?.none))

        func wait() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let openAlready = state.withLockedValue { state in
                        if !state.opened { state.waiter = continuation }
                        return state.opened
                    }
                    if openAlready { continuation.resume() }
                }
            } onCancel: {
                open()
            }
        }

        func open() {
            state.withLockedValue { state in
                state.opened = true
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }

    private let responder = ScriptedResponder()
    private let channel = EmbeddedChannel()

    init() throws {
        try channel.pipeline.syncOperations.addHandler(HTTPServerCodec(halfCloseIsDisconnect: true))
        try channel.pipeline.syncOperations.addHandler(
            HTTPConnectionHandler(responder: responder, maxBodyBytes: 16, halfCloseIsDisconnect: true, sendTimeout: .seconds(5))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
    }

    private func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
        channel.embeddedEventLoop.run()
    }

    /// Everything written to the client so far.
    private func received() throws -> String {
        var text = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { continue }
            text += String(buffer: buffer)
        }
        return text
    }

    @Test func keepAliveRequestsAreAnsweredInTurnOnOneConnection() throws {
        try send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        let text = try received()
        #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(text)")
        let first = try #require(text.range(of: "answer /a 0"))
        let second = try #require(text.range(of: "answer /b 3"))
        #expect(first.lowerBound < second.lowerBound)
        #expect(!text.contains("Connection: close"))
        #expect(channel.isActive)
    }

    @Test func aRequestPipelinedBehindAStreamedResponseIsAnsweredOnlyAfterItsEnd() throws {
        try send("GET /streamed HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        let before = try received()
        #expect(before.contains("first"))
        #expect(!before.contains("answer /next"), "answered while the stream was still open: \(before)")
        responder.gate.open()
        channel.embeddedEventLoop.run()
        let after = try received()
        let second = try #require(after.range(of: "second"))
        let next = try #require(after.range(of: "answer /next"))
        #expect(second.lowerBound < next.lowerBound)
    }

    @Test func aHEADRequestGetsTheHeadersWithoutTheBody() throws {
        try send("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = try received()
        #expect(text.contains("Content-Length: 11"))
        #expect(!text.contains("answer"))
    }

    @Test(arguments: ["GET", "DELETE"])
    func aRefusedRequestWithoutABodyKeepsTheConnectionOpen(method: String) throws {
        try send("\(method) /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = try received()
        #expect(text.hasPrefix("HTTP/1.1 401"))
        #expect(text.contains("answer /a 0"))
        #expect(channel.isActive)
    }

    @Test func aRefusedHEADGetsNoBodyAndTheNextRequestIsReadCleanly() throws {
        try send("HEAD /refused HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = try received()
        let responses = text.components(separatedBy: "HTTP/1.1 ")
        #expect(responses.count == 3, "\(text)")
        #expect(responses[1].hasPrefix("401"))
        #expect(responses[1].contains("Content-Length: "))
        #expect(responses[1].hasSuffix("\r\n\r\n"), "a HEAD answer ends with its headers: \(responses[1])")
        #expect(responses[2].hasPrefix("200"))
        #expect(text.hasSuffix("answer /a 0"))
    }

    /// The linger that follows (our side shut, the rest read and dropped) needs a real socket
    /// (`RequestErrorTests.bodyOverOneMebibyteIs413`: curl still sees the answer): an
    /// EmbeddedChannel closes whole on any close, so this checks the answer and the end only.
    @Test func aRefusedRequestWithABodyIsAnsweredAndTheConnectionEnds() throws {
        _ = try? send("POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
        let text = try received()
        #expect(text.hasPrefix("HTTP/1.1 401"))
        #expect(text.contains("Connection: close"))
        #expect(!channel.isActive)
    }

    @Test func aBodyOverTheLimitGets413() throws {
        try send("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n")
        let text = try received()
        #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
        #expect(text.contains("payload_too_large"))
        #expect(!text.contains("answer"))
    }

    @Test func connectionCloseIsHonouredAfterTheAnswer() throws {
        try send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = try received()
        #expect(text.contains("Connection: close"))
        #expect(!channel.isActive)
    }

    @Test func aHalfCloseDuringAStreamedResponseOnTCPCancelsItAndCloses() throws {
        try send("GET /streamed HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        channel.embeddedEventLoop.run()
        #expect(responder.streamCancelled.withLockedValue { $0 })
        #expect(!channel.isActive)
    }

    @Test func theIdleTimeoutClosesAConnectionBetweenRequests() throws {
        try send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.read)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func aRequestTheParserRefusesGets400SayingWhyAndTheConnectionEnds() throws {
        try send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        let text = try received()
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(text)")
        #expect(text.contains("Connection: close"))
        #expect(text.contains(#""code":"bad_request""#))
        #expect(text.contains("both Content-Length and Transfer-Encoding"))
        #expect(!text.contains("answer"))
        // It lingers for the client's close (RefusalLinger), then ends.
        channel.embeddedEventLoop.advanceTime(by: RefusalLinger.duration)
        #expect(!channel.isActive)
    }

    @Test func aRefusalWaitsForTheAnswersBeforeIt() throws {
        try send("GET /streamed HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\nX: a\u{0}b\r\n\r\n")
        let before = try received()
        #expect(!before.contains("400"), "\(before)")
        responder.gate.open()
        channel.embeddedEventLoop.run()
        let after = try received()
        let second = try #require(after.range(of: "second"))
        let refusal = try #require(after.range(of: "HTTP/1.1 400 Bad Request"))
        #expect(second.lowerBound < refusal.lowerBound)
        #expect(after.contains("control character"))
    }

    /// Counts the reads that reach the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    @Test func theSocketIsNotReadWhileARequestWaitsBehindTheResponseInProgress() throws {
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        try send("GET /streamed HTTP/1.1\r\nHost: x\r\n\r\n")
        // One request open and nothing waiting: still read, so that a client leaving is seen.
        channel.read()
        #expect(counter.reads == 1)
        try send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.read()
        #expect(counter.reads == 1, "read while a request waited")
        responder.gate.open()
        channel.embeddedEventLoop.run()
        #expect(try received().contains("answer /next"))
        #expect(counter.reads == 2, "the held read was not made once the waiting request was answered")
    }

    /// A body sent behind a response in progress is not read on and on into the handler's queue.
    @Test func theBodyOfARequestWaitingBehindAResponseIsNotReadOn() throws {
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        try send("GET /streamed HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
        channel.read()
        #expect(counter.reads == 0, "read on while a request's body waited behind a response")
        responder.gate.open()
        channel.embeddedEventLoop.run()
        #expect(counter.reads == 1)
    }

    /// RFC 9112 §9.6: nothing after a request that closes the connection is run (a DELETE
    /// there would cancel a build with nobody to tell).
    @Test(arguments: [
        "GET /a HTTP/1.0\r\n\r\n", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ])
    func nothingAfterARequestThatClosesTheConnectionIsRun(first: String) throws {
        try send(first + "DELETE /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try received().contains("answer /a 0"))
        #expect(responder.judged.withLockedValue { $0 } == ["/a"])
        #expect(!channel.isActive)
    }

    /// A client that sends requests and never reads the answers stops being read once the
    /// connection cannot take more output; what it sent meanwhile is answered when it can.
    @Test func requestsAreNotReadWhileTheConnectionCannotTakeOutput() throws {
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        channel.isWritable = false
        try send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.read()
        #expect(counter.reads == 0, "read while the connection could not take output")
        #expect(responder.judged.withLockedValue { $0 }.isEmpty, "parsed while the connection could not take output")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(responder.judged.withLockedValue { $0 } == ["/a", "/b"])
        #expect(counter.reads == 1)
    }

    /// A response whose end is written while its task still waits (for the client to take it)
    /// is not over: what the client sends meanwhile is not parsed into the handler's queue.
    @Test func nothingIsParsedUntilTheHandlerHasFinishedTheResponse() throws {
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        try send("GET /streamed-late HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        #expect(try received().hasSuffix("late"))
        // The waiting request is still bytes here, so the socket is not read on.
        channel.read()
        #expect(counter.reads == 0, "read on (the waiting request was parsed) before the response's task ended")
        #expect(responder.judged.withLockedValue { $0 } == ["/streamed-late"], "parsed while the response's task still ran")
        responder.lateGate.open()
        channel.embeddedEventLoop.run()
        #expect(responder.judged.withLockedValue { $0 } == ["/streamed-late", "/b"])
        #expect(try received().contains("answer /b 3"))
    }

    /// On the Unix socket a half-close is not the client leaving: requests sent before it are
    /// answered, even when they wait for the connection to take output first.
    @Test func onTheSocketRequestsBeforeAHalfCloseAreAnsweredAfterTheConnectionTakesOutputAgain() throws {
        let socket = EmbeddedChannel()
        try socket.pipeline.syncOperations.addHandler(HTTPServerCodec(halfCloseIsDisconnect: false))
        try socket.pipeline.syncOperations.addHandler(
            HTTPConnectionHandler(responder: responder, maxBodyBytes: 16, halfCloseIsDisconnect: false, sendTimeout: .seconds(5))
        )
        try socket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        try socket.writeInbound(ByteBuffer(string: "GET /streamed HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
        socket.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        socket.embeddedEventLoop.run()
        socket.isWritable = false
        responder.gate.open()
        socket.embeddedEventLoop.run()
        #expect(socket.isActive, "closed before the waiting request was answered")
        socket.isWritable = true
        socket.pipeline.fireChannelWritabilityChanged()
        socket.embeddedEventLoop.run()
        var text = ""
        while let data = try socket.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { text += String(buffer: buffer) }
        }
        #expect(text.contains("second"))
        #expect(text.contains("answer /a 0"), "\(text)")
        #expect(!socket.isActive, "the half-close ends the connection once the requests before it are answered")
    }
}
