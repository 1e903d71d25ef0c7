public import NIOCore

/// Events the handler sends up the pipeline.
public enum TLSUserEvent: Sendable, Equatable {
    /// The handshake finished; buffered writes are on their way.
    case handshakeCompleted(version: String, alpn: String?, resumed: Bool)
}

/// TLS for one connection, server or client side, over OpenSSL memory BIOs: ciphertext below,
/// plaintext above. Modelled on swift-nio-ssl's NIOSSLHandler and the pitfalls it learned:
/// writes wait for the handshake; everything OpenSSL produces is sent after every call; data
/// that arrived with the peer's Finished is read at once; close sends close_notify first;
/// `close(mode: .output)` is close_notify plus a TCP half-close; write promises complete when
/// their ciphertext is written, in order. The state always changes before a promise completes
/// or an event fires, so whatever those callbacks do re-enters a consistent handler.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case handshaking
        case active
        /// Our close_notify is sent and the TCP output closed; reading goes on.
        case outputClosed
        /// close_notify sent, the TCP close follows.
        case closing
        /// After a fatal error or the channel's end: OpenSSL is not touched any more.
        case closed
    }

    private let tlsContext: TLSContext
    private let serverHostname: String?
    private let handshakeTimeout: TimeAmount
    private let onFailure: ((TLSError, _ duringHandshake: Bool) -> Void)?
    private var connection: TLSConnection?
    private var state = State.idle
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushRequested = false
    /// A `close(mode: .output)` asked for during the handshake, done once it completes.
    private var queuedOutputClose: EventLoopPromise<Void>?
    private var outputCloseQueued = false
    /// Completes when the full close this handler started is done; later closes wait for it.
    private var closeFuture: EventLoopFuture<Void>?
    private var handshakeTimer: Scheduled<Void>?
    private var inputClosedSent = false
    private var handshakePromise: EventLoopPromise<Void>?
    private var handshakeFutureResult: EventLoopFuture<Void>?
    private var deliveredPlaintext = false

    /// How long a close may wait for our close_notify to be written before TCP is closed anyway.
    private static let closeNotifyWait = TimeAmount.seconds(3)
    /// Writes at least this large are encrypted straight from their buffer; smaller ones (an
    /// HTTP chunk header, its CRLF, a response head and a small file) are gathered first so they
    /// share records: one TLS record holds up to 16 KiB, and a head and a 4 KiB body in two
    /// records cost a second SSL_write, seal and drain per response.
    private static let gatherLimit = 16 * 1024

    /// - Parameters:
    ///   - context: server or client context; the role follows from it.
    ///   - serverHostname: client side: the name (or IP literal) the certificate must match.
    ///   - handshakeTimeout: a connection that has not finished its handshake by then is closed.
    ///   - onFailure: told of every handshake or record failure (for logs and metrics), before
    ///     the error is also passed down the pipeline and the connection closed.
    public init(
        context: TLSContext,
        serverHostname: String? = nil,
        handshakeTimeout: TimeAmount = .seconds(10),
        onFailure: ((TLSError, _ duringHandshake: Bool) -> Void)? = nil
    ) {
        self.tlsContext = context
        self.serverHostname = serverHostname
        self.handshakeTimeout = handshakeTimeout
        self.onFailure = onFailure
    }

    /// Succeeds when the handshake completes and fails with its `TLSError` (or the channel's
    /// closing) otherwise. Available once the handler is in a pipeline. A client waits for it
    /// before writing, so that a refused certificate is reported as such and not as a failed
    /// write on a closed channel.
    public var handshakeFuture: EventLoopFuture<Void>? { handshakeFutureResult }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        handshakePromise = promise
        handshakeFutureResult = promise.futureResult
        do {
            connection = try TLSConnection(context: tlsContext, serverHostname: serverHostname)
        } catch {
            fail(context: context, error)
            return
        }
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        abandon()
    }

    /// The connection is over (or this handler out of it): every waiting promise fails.
    private func abandon() {
        state = .closed
        handshakeTimer?.cancel()
        settleHandshake(.failure(ChannelError.ioOnClosedChannel))
        failPendingWrites(ChannelError.ioOnClosedChannel)
        failQueuedOutputClose()
    }

    public func channelActive(context: ChannelHandlerContext) {
        if case .idle = state { startHandshake(context: context) }
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        abandon()
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard case .idle = state, connection != nil else { return }
        state = .handshaking
        let timeout = handshakeTimeout
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard case .handshaking = state else { return }
            let seconds = timeout.nanoseconds / 1_000_000_000
            fail(context: context, TLSError(.handshakeTimeout, "the TLS handshake did not complete within \(seconds) s"))
        }
        // The client speaks first.
        if tlsContext.role == .client { advanceHandshake(context: context) }
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var ciphertext = unwrapInboundIn(data)
        guard let connection else { return }
        switch state {
        case .handshaking:
            connection.feed(ciphertext)
            advanceHandshake(context: context)
        case .active, .outputClosed:
            readPlaintext(context: context, ciphertext: &ciphertext)
        case .idle, .closing, .closed:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if deliveredPlaintext {
            deliveredPlaintext = false
            context.fireChannelReadComplete()
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch state {
        case .handshaking, .idle:
            // Without this the socket would sit in CLOSE_WAIT until the handshake timeout.
            state = .closed
            settleHandshake(.failure(TLSError(.handshakeFailed, "the peer closed the connection during the handshake")))
            context.close(promise: nil)
        default:
            // TCP EOF with or without close_notify: the HTTP layer above decides whether the
            // message it was reading is complete (a truncated chunked stream is an error there).
            sendInputClosed(context: context)
        }
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        switch connection.handshake() {
        case .needsMoreData:
            sendOutput(context: context, promise: nil)
        case .complete:
            state = .active
            handshakeTimer?.cancel()
            handshakeTimer = nil
            // TLS 1.3 session tickets appear now.
            sendOutput(context: context, promise: nil)
            settleHandshake(.success(()))
            let negotiated = connection.negotiated
            context.fireUserInboundEventTriggered(
                TLSUserEvent.handshakeCompleted(version: negotiated.version, alpn: negotiated.alpn, resumed: negotiated.resumed)
            )
            guard case .active = state else { return }
            if flushRequested { encryptPendingWrites(context: context) }
            // The client's first request often arrives together with its Finished message.
            var nothing = context.channel.allocator.buffer(capacity: 0)
            readPlaintext(context: context, ciphertext: &nothing)
            if outputCloseQueued, case .active = state {
                outputCloseQueued = false
                let promise = queuedOutputClose
                queuedOutputClose = nil
                closeOutput(context: context, promise: promise)
            }
        case .failed(let error):
            if error.code == .plaintextHTTP, tlsContext.role == .server {
                answerPlaintextRequest(context: context, error)
                return
            }
            fail(context: context, error)
        }
    }

    /// Feeds the ciphertext in slices of at most 64 KiB, decrypting after each, so OpenSSL's
    /// memory BIO never grows beyond one slice; delivers the plaintext as one read.
    private func readPlaintext(context: ChannelHandlerContext, ciphertext: inout ByteBuffer) {
        guard let connection else { return }
        // Plaintext is never larger than the ciphertext it came in.
        var plaintext = context.channel.allocator.buffer(capacity: max(ciphertext.readableBytes, 1024))
        var result = TLSConnection.ReadResult.needsMoreData
        repeat {
            if let slice = ciphertext.readSlice(length: min(ciphertext.readableBytes, TLSConnection.sliceSize)) {
                connection.feed(slice)
            }
            result = connection.readPlaintext(into: &plaintext)
        } while ciphertext.readableBytes > 0 && result == .needsMoreData
        if case .failed(let error) = result {
            // The records before the bad one were authentic: hand them up, after the state
            // says that nothing may touch OpenSSL any more.
            fail(context: context, error, deliveringFirst: plaintext)
            return
        }
        // Alerts, KeyUpdate answers or tickets may have been produced while reading.
        sendOutput(context: context, promise: nil)
        if plaintext.readableBytes > 0 {
            deliveredPlaintext = true
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
        if case .closedByPeer = result { sendInputClosed(context: context) }
    }

    private func sendInputClosed(context: ChannelHandlerContext) {
        guard !inputClosedSent else { return }
        inputClosedSent = true
        if deliveredPlaintext {
            deliveredPlaintext = false
            context.fireChannelReadComplete()
        }
        let halfClosureAllowed = (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) ?? false
        if halfClosureAllowed {
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .idle, .handshaking, .active:
            pendingWrites.append((unwrapOutboundIn(data), promise))
        case .outputClosed:
            promise?.fail(ChannelError.outputClosed)
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .active:
            encryptPendingWrites(context: context)
        case .idle, .handshaking:
            flushRequested = true
        case .outputClosed, .closing, .closed:
            context.flush()
        }
    }

    /// Encrypts everything written so far and sends it as one write whose promise completes
    /// all of theirs, in order.
    private func encryptPendingWrites(context: ChannelHandlerContext) {
        flushRequested = false
        guard let connection, !pendingWrites.isEmpty else { return }
        let small = pendingWrites.reduce(0) { $0 + ($1.0.readableBytes < Self.gatherLimit ? $1.0.readableBytes : 0) }
        var gathered = context.channel.allocator.buffer(capacity: small)
        var failure: TLSError?
        for (buffer, _) in pendingWrites where failure == nil {
            if buffer.readableBytes < Self.gatherLimit {
                var buffer = buffer
                gathered.writeBuffer(&buffer)
                continue
            }
            failure = connection.write(gathered) ?? connection.write(buffer)
            gathered.clear()
        }
        if failure == nil { failure = connection.write(gathered) }
        if let failure {
            // The writes stay pending: `fail` changes the state before failing them.
            fail(context: context, failure)
            return
        }
        let writes = pendingWrites
        pendingWrites.removeAll(keepingCapacity: true)
        let promises = writes.compactMap(\.1)
        var combined: EventLoopPromise<Void>?
        if promises.count == 1 {
            combined = promises[0]
        } else if !promises.isEmpty {
            let promise = context.eventLoop.makePromise(of: Void.self)
            for each in promises { promise.futureResult.cascade(to: each) }
            combined = promise
        }
        sendOutput(context: context, promise: combined)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (mode, state) {
        case (.output, .idle), (.output, .handshaking):
            // Done after the handshake, so the peer still gets its response first.
            if outputCloseQueued {
                if let promise { queuedOutputClose?.futureResult.cascade(to: promise) ?? promise.succeed() }
            } else {
                outputCloseQueued = true
                queuedOutputClose = promise
            }
        case (.output, .active):
            closeOutput(context: context, promise: promise)
        case (.all, .active), (.all, .outputClosed):
            closeAll(context: context, promise: promise)
        case (.all, .closing):
            if let promise, let closeFuture {
                closeFuture.cascade(to: promise)
            } else {
                context.close(mode: .all, promise: promise)
            }
        case (.all, .idle), (.all, .handshaking):
            abandon()
            context.close(mode: .all, promise: promise)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    /// close_notify first (after what was already written), then TCP; bounded, so a peer that
    /// stopped reading cannot hold the close up.
    private func closeAll(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let sendNotify: Bool = { if case .active = state { return true } else { return false } }()
        state = .closing
        handshakeTimer?.cancel()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        let closed = context.eventLoop.makePromise(of: Void.self)
        closeFuture = closed.futureResult
        if let promise { closed.futureResult.cascade(to: promise) }
        guard sendNotify, let connection else {
            context.close(mode: .all, promise: closed)
            return
        }
        connection.shutdown()
        var issued = false
        let closeNow = {
            guard !issued else { return }
            issued = true
            context.close(mode: .all, promise: closed)
        }
        let deadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeNotifyWait) { closeNow() }
        let written = context.eventLoop.makePromise(of: Void.self)
        sendOutput(context: context, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            deadline.cancel()
            closeNow()
        }
    }

    /// close_notify, then the TCP half-close, after everything written before.
    private func closeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        encryptPendingWrites(context: context)
        // Encrypting may have failed, or a completed write's callback may have closed us.
        guard case .active = state, let connection else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        state = .outputClosed
        connection.shutdown()
        sendOutput(context: context, promise: nil)
        context.close(mode: .output, promise: promise)
    }

    // MARK: Helpers

    /// Sends (and flushes) whatever ciphertext OpenSSL produced. A promise with nothing to send
    /// still goes through the channel, so it completes after earlier writes, not before.
    private func sendOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let parts = connection?.takeOutputParts() ?? []
        if let last = parts.last {
            for part in parts.dropLast() { context.write(wrapOutboundOut(part), promise: nil) }
            context.write(wrapOutboundOut(last), promise: promise)
        } else if let promise {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        }
        context.flush()
    }

    /// The end of a connection on an error. The state changes first; then the peer gets the
    /// alert OpenSSL queued, authentic plaintext is handed up, writes fail, the error goes down
    /// the pipeline and the connection closes.
    private func fail(context: ChannelHandlerContext, _ error: TLSError, deliveringFirst plaintext: ByteBuffer? = nil) {
        switch state {
        case .closed, .closing:
            return
        default:
            break
        }
        let duringHandshake: Bool
        switch state {
        case .idle, .handshaking: duringHandshake = true
        default: duringHandshake = false
        }
        state = .closed
        handshakeTimer?.cancel()
        settleHandshake(.failure(error))
        onFailure?(error, duringHandshake)
        sendOutput(context: context, promise: nil)
        if let plaintext, plaintext.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(plaintext))
            context.fireChannelReadComplete()
        }
        failPendingWrites(error)
        failQueuedOutputClose()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func settleHandshake(_ result: Result<Void, any Error>) {
        let promise = handshakePromise
        handshakePromise = nil
        promise?.completeWith(result)
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites = []
        for (_, promise) in writes { promise?.fail(error) }
    }

    private func failQueuedOutputClose() {
        let promise = queuedOutputClose
        queuedOutputClose = nil
        outputCloseQueued = false
        promise?.fail(ChannelError.ioOnClosedChannel)
    }

    /// A browser or curl pointed at https with http:// gets an answer it can show, not a reset.
    private func answerPlaintextRequest(context: ChannelHandlerContext, _ error: TLSError) {
        state = .closed
        handshakeTimer?.cancel()
        settleHandshake(.failure(error))
        onFailure?(error, true)
        failPendingWrites(error)
        failQueuedOutputClose()
        let body = "This port speaks HTTPS; use an https:// URL.\n"
        let response =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n\(body)"
        let buffer = context.channel.allocator.buffer(string: response)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}
