import BuildServiceTLS
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

/// The TLS handler between two `EmbeddedChannel`s, client and server, with real OpenSSL on
/// both sides: each step of a connection is driven by hand (`pump` moves the ciphertext one
/// side wrote to the other), so ordering and closes are checked without sockets or sleeps.
@Suite struct TLSHandlerTests {
    /// One connection: both channels active, handshake not yet pumped.
    final class Pair {
        let client: EmbeddedChannel
        let server: EmbeddedChannel
        let clientHandler: TLSHandler
        let serverHandler: TLSHandler
        let events = EventRecorder()
        let clientEvents = EventRecorder()
        let clientOutput = OutputCloseStandIn()
        let failures = FailureRecorder()

        init(serverHostname: String = "localhost", serverHalfClosure: Bool = true) throws {
            let serverContext = try TLSContext(
                server: TLSServerConfiguration(certificatePath: TestCertificate.certificate, privateKeyPath: TestCertificate.privateKey)
            )
            let clientContext = try TLSContext(client: TLSClientConfiguration(trustedCAPath: TestCertificate.ca))
            let failures = self.failures
            serverHandler = TLSHandler(context: serverContext) { error, duringHandshake in
                failures.record(error, duringHandshake: duringHandshake)
            }
            clientHandler = TLSHandler(context: clientContext, serverHostname: serverHostname)
            server = EmbeddedChannel()
            client = EmbeddedChannel()
            server.allowRemoteHalfClosure = serverHalfClosure
            client.allowRemoteHalfClosure = true
            try server.pipeline.syncOperations.addHandlers([serverHandler, events])
            try client.pipeline.syncOperations.addHandlers([clientOutput, clientHandler, clientEvents])
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        }

        /// Moves ciphertext both ways until neither side has anything more to say. Errors the
        /// handlers pass down the pipeline are collected, not thrown.
        @discardableResult
        func pump() -> [any Error] {
            var errors: [any Error] = []
            var moved = true
            while moved {
                moved = false
                for (from, to) in [(client, server), (server, client)] {
                    while let bytes = try? from.readOutbound(as: ByteBuffer.self) {
                        moved = true
                        guard bytes.readableBytes > 0, to.isActive else { continue }
                        do { try to.writeInbound(bytes) } catch { errors.append(error) }
                    }
                }
            }
            return errors
        }

        func handshake() {
            pump()
            #expect(TLSHandlerTests.state(of: clientHandler.handshakeFuture) == .succeeded)
            #expect(TLSHandlerTests.state(of: serverHandler.handshakeFuture) == .succeeded)
        }

        /// Everything the side received as plaintext so far, as one string.
        func received(by channel: EmbeddedChannel) throws -> String {
            var text = ""
            while var buffer = try channel.readInbound(as: ByteBuffer.self) {
                text += buffer.readString(length: buffer.readableBytes) ?? ""
            }
            return text
        }
    }

    enum FutureState: Equatable { case pending, succeeded, failed }

    /// On an embedded loop a completed future's callbacks run at once.
    static func state<T>(of future: EventLoopFuture<T>?) -> FutureState {
        guard let future else { return .pending }
        let state = NIOLockedValueBox(FutureState.pending)
        future.whenComplete { result in
            switch result {
            case .success: state.withLockedValue { $0 = .succeeded }
            case .failure: state.withLockedValue { $0 = .failed }
            }
        }
        return state.withLockedValue { $0 }
    }

    @Test func theHandshakeCompletesAndBytesCrossBothWays() throws {
        let pair = try Pair()
        pair.handshake()
        guard case .handshakeCompleted(let version, _, let resumed) = try #require(pair.events.userEvents.first as? TLSUserEvent) else {
            Issue.record("no handshakeCompleted event")
            return
        }
        #expect(version == "TLSv1.3")
        #expect(!resumed)

        try pair.client.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")).wait()
        pair.pump()
        #expect(try pair.received(by: pair.server) == "GET / HTTP/1.1\r\n\r\n")
        try pair.server.writeAndFlush(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")).wait()
        pair.pump()
        #expect(try pair.received(by: pair.client) == "HTTP/1.1 200 OK\r\n\r\n")
        // Nothing but ciphertext crossed: the plaintext never appears on the wire.
        try pair.client.writeAndFlush(ByteBuffer(string: "secret-token-123")).wait()
        let wire = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        #expect(!String(buffer: wire).contains("secret-token-123"))
    }

    /// Written before the handshake: held, then sent in order once it completes, and each
    /// write's promise completes in the order the writes were made.
    @Test func writesBeforeTheHandshakeWaitAndKeepTheirOrder() throws {
        let pair = try Pair()
        let order = OrderRecorder()
        var futures: [EventLoopFuture<Void>] = []
        for (index, text) in ["one ", "two ", String(repeating: "x", count: 5000), " three"].enumerated() {
            let future = pair.server.write(ByteBuffer(string: text))
            future.whenSuccess { order.append(index) }
            futures.append(future)
        }
        pair.server.flush()
        #expect(futures.allSatisfy { Self.state(of: $0) == .pending })
        pair.handshake()
        #expect(futures.allSatisfy { Self.state(of: $0) == .succeeded })
        #expect(order.values == [0, 1, 2, 3])
        #expect(try pair.received(by: pair.client) == "one two " + String(repeating: "x", count: 5000) + " three")
    }

    /// A client that half-closes after its request (close_notify, then TCP FIN) still gets
    /// the whole response; the server sees the end of input once, as a user event.
    @Test func aHalfClosedClientStillGetsTheResponse() throws {
        let pair = try Pair()
        pair.handshake()
        try pair.client.writeAndFlush(ByteBuffer(string: "request")).wait()
        let outputClosed = pair.client.close(mode: .output)
        pair.pump()
        try outputClosed.wait()
        #expect(pair.clientOutput.outputClosed)
        #expect(pair.clientOutput.bytesAfterOutputClose == 0)
        #expect(try pair.received(by: pair.server) == "request")
        #expect(pair.events.inputClosedCount == 1)
        #expect(pair.server.isActive)
        // The TCP FIN after close_notify is the same end of input: not reported twice.
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.events.inputClosedCount == 1)

        try pair.server.writeAndFlush(ByteBuffer(string: "response")).wait()
        pair.pump()
        #expect(try pair.received(by: pair.client) == "response")
        // The half-closed side cannot write any more.
        #expect(throws: ChannelError.outputClosed) { try pair.client.writeAndFlush(ByteBuffer(string: "late")).wait() }
    }

    /// TCP EOF without close_notify is also an end of input: the HTTP layer above decides
    /// whether what it was reading is complete (a truncated body is its error, not ours).
    @Test func endOfInputWithoutCloseNotifyIsPassedUp() throws {
        let pair = try Pair()
        pair.handshake()
        try pair.client.writeAndFlush(ByteBuffer(string: "partial")).wait()
        pair.pump()
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try pair.received(by: pair.server) == "partial")
        #expect(pair.events.inputClosedCount == 1)
        #expect(pair.server.isActive)
    }

    /// Where the channel does not allow half-closure, the end of input closes it.
    @Test func closeNotifyClosesAChannelThatDoesNotAllowHalfClosure() throws {
        let pair = try Pair(serverHalfClosure: false)
        pair.handshake()
        let outputClosed = pair.client.close(mode: .output)
        pair.pump()
        try outputClosed.wait()
        #expect(!pair.server.isActive)
        #expect(pair.events.inputClosedCount == 0)
    }

    /// A full close sends close_notify after what was written, then closes TCP.
    @Test func aCloseSendsTheDataThenCloseNotify() throws {
        let pair = try Pair()
        pair.handshake()
        pair.server.write(ByteBuffer(string: "last words"), promise: nil)
        pair.server.flush()
        let closed = pair.server.close()
        pair.pump()
        try closed.wait()
        #expect(!pair.server.isActive)
        #expect(try pair.received(by: pair.client) == "last words")
        // The client read close_notify: its peer ended cleanly, and it hears so once.
        #expect(pair.clientEvents.inputClosedCount == 1)
    }

    @Test func aClientRefusesACertificateForAnotherName() throws {
        let pair = try Pair(serverHostname: "build.example.org")
        pair.pump()
        let failure = try #require(pair.clientHandler.handshakeFuture)
        #expect(throws: TLSError.self) { try failure.wait() }
        #expect(!pair.client.isActive)
        #expect(Self.state(of: pair.serverHandler.handshakeFuture) != .succeeded)
        #expect(pair.failures.all.first?.duringHandshake == true)
    }

    /// Bytes that are not TLS: the handshake fails, the failure is reported once, pending
    /// writes fail with it, and the connection closes.
    @Test func garbageInsteadOfAHandshakeFailsAndCloses() throws {
        let pair = try Pair()
        let pending = pair.server.write(ByteBuffer(string: "never sent"))
        #expect(throws: TLSError.self) {
            try pair.server.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]))
        }
        #expect(!pair.server.isActive)
        #expect(throws: TLSError.self) { try pending.wait() }
        #expect(pair.failures.all.count == 1)
        #expect(pair.failures.all.first?.duringHandshake == true)
    }

    /// http:// sent to the TLS port gets a plain 400 that a browser or curl can show.
    @Test func plaintextHTTPGetsAReadableAnswer() throws {
        let pair = try Pair()
        _ = try? pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        var answer = ""
        while let buffer = try pair.server.readOutbound(as: ByteBuffer.self) { answer += String(buffer: buffer) }
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(answer.contains("use an https:// URL"))
        #expect(!pair.server.isActive)
        #expect(pair.failures.all.first?.error.code == .plaintextHTTP)
    }

    /// A record altered on the way: authentic data before it is delivered, then the
    /// connection ends with an error that is not a handshake failure.
    @Test func aTamperedRecordEndsTheConnectionAfterTheAuthenticData() throws {
        let pair = try Pair()
        pair.handshake()
        try pair.client.writeAndFlush(ByteBuffer(string: "good")).wait()
        try pair.client.writeAndFlush(ByteBuffer(string: "evil")).wait()
        let good = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        var evil = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        let last = evil.writerIndex - 1
        evil.setInteger(evil.getInteger(at: last, as: UInt8.self)! ^ 0xff, at: last)
        var both = good
        both.writeBuffer(&evil)
        #expect(throws: TLSError.self) { try pair.server.writeInbound(both) }
        #expect(try pair.received(by: pair.server) == "good")
        #expect(!pair.server.isActive)
        #expect(pair.failures.all.map(\.duringHandshake) == [false])
    }

    @Test func aPeerThatLeavesDuringTheHandshakeFailsItAtOnce() throws {
        let pair = try Pair()
        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!pair.server.isActive)
        let handshake = try #require(pair.serverHandler.handshakeFuture)
        #expect(throws: TLSError.self) { try handshake.wait() }
    }

    @Test func aHandshakeThatDoesNotCompleteInTimeIsClosed() throws {
        let pair = try Pair()
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!pair.server.isActive)
        #expect(pair.failures.all.first?.error.code == .handshakeTimeout)
        // Once complete, the timer is gone: an established connection is not closed by it.
        let established = try Pair()
        established.handshake()
        established.server.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(established.server.isActive)
    }
}
