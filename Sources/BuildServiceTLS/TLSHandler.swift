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
/// their ciphertext is written, in order.
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
        case closed
    }

    private let tlsContext: TLSContext
    private let serverHostname: String?
    private let handshakeTimeout: TimeAmount
    private let onFailure: ((TLSError) -> Void)?
    private var connection: TLSConnection?
    private var state = State.idle
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushRequested = false
    private var outputClosePromise: EventLoopPromise<Void>??
    private var handshakeTimer: Scheduled<Void>?
    private var inputClosedSent = false
    private var handshakePromise: EventLoopPromise<Void>?
    private var deliveredPlaintext = false

    /// How long a close may wait for our close_notify to be written before TCP is closed anyway.
    private static let closeNotifyWait = TimeAmount.seconds(3)

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
        onFailure: ((TLSError) -> Void)? = nil
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
    private var handshakeFutureResult: EventLoopFuture<Void>?

    private func settleHandshake(_ result: Result<Void, any Error>) {
        let promise = handshakePromise
        handshakePromise = nil
        promise?.completeWith(result)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: Void.self)
        handshakePromise = promise
        handshakeFutureResult = promise.futureResult
        do {
            connection = try TLSConnection(context: tlsContext, serverHostname: serverHostname)
        } catch {
            state = .closed
            settleHandshake(.failure(error))
            report(error)
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        settleHandshake(.failure(ChannelError.ioOnClosedChannel))
        handshakeTimer?.cancel()
        failPendingWrites(ChannelError.ioOnClosedChannel)
    }

    public func channelActive(context: ChannelHandlerContext) {
        if case .idle = state { startHandshake(context: context) }
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        settleHandshake(.failure(ChannelError.ioOnClosedChannel))
        state = .closed
        handshakeTimer?.cancel()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        if case .some(.some(let promise)) = outputClosePromise { promise.fail(ChannelError.ioOnClosedChannel) }
        outputClosePromise = nil
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard case .idle = state, connection != nil else { return }
        state = .handshaking
        let timeout = handshakeTimeout
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard case .handshaking = state else { return }
            fail(context: context, TLSError(.handshakeTimeout, "the TLS handshake did not complete within \(timeout.nanoseconds / 1_000_000_000) s"))
        }
        // The client speaks first.
        if tlsContext.role == .client { advanceHandshake(context: context) }
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = unwrapInboundIn(data)
        guard let connection else { return }
        switch state {
        case .handshaking:
            connection.feed(ciphertext)
            advanceHandshake(context: context)
        case .active, .outputClosed:
            connection.feed(ciphertext)
            readPlaintext(context: context)
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
            sendOutput(context: context, promise: nil, flush: true)
        case .complete:
            state = .active
            handshakeTimer?.cancel()
            handshakeTimer = nil
            settleHandshake(.success(()))
            // TLS 1.3 session tickets appear now.
            sendOutput(context: context, promise: nil, flush: true)
            let negotiated = connection.negotiated
            context.fireUserInboundEventTriggered(
                TLSUserEvent.handshakeCompleted(version: negotiated.version, alpn: negotiated.alpn, resumed: negotiated.resumed)
            )
            guard case .active = state else { return }
            if flushRequested { encryptPendingWrites(context: context) }
            // The client's first request often arrives together with its Finished message.
            readPlaintext(context: context)
            if case .some(let promise) = outputClosePromise, case .active = state {
                outputClosePromise = nil
                closeOutput(context: context, promise: promise)
            }
        case .failed(let error):
            if error.code == .plaintextHTTP, tlsContext.role == .server {
                answerPlaintextRequest(context: context)
                report(error)
                return
            }
            // The alert OpenSSL queued tells the peer why.
            sendOutput(context: context, promise: nil, flush: true)
            fail(context: context, error)
        }
    }

    private func readPlaintext(context: ChannelHandlerContext) {
        guard let connection else { return }
        var plaintext = context.channel.allocator.buffer(capacity: 16_640)
        let result = connection.readPlaintext(into: &plaintext)
        // Alerts, KeyUpdate answers or tickets may have been produced while reading.
        sendOutput(context: context, promise: nil, flush: true)
        if plaintext.readableBytes > 0 {
            deliveredPlaintext = true
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
        switch result {
        case .needsMoreData:
            break
        case .closedByPeer:
            sendInputClosed(context: context)
        case .failed(let error):
            fail(context: context, error)
        }
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

    /// Encrypts everything written so far as one run of records and sends it as one write;
    /// small writes (an HTTP chunk header, its CRLF) share records instead of each costing one.
    private func encryptPendingWrites(context: ChannelHandlerContext) {
        flushRequested = false
        guard let connection, !pendingWrites.isEmpty else { return }
        let writes = pendingWrites
        pendingWrites = []
        var plaintext: ByteBuffer
        if writes.count == 1 {
            plaintext = writes[0].0
        } else {
            plaintext = context.channel.allocator.buffer(capacity: writes.reduce(0) { $0 + $1.0.readableBytes })
            for (buffer, _) in writes { plaintext.writeImmutableBuffer(buffer) }
        }
        if let error = connection.write(plaintext) {
            for (_, promise) in writes { promise?.fail(error) }
            fail(context: context, error)
            return
        }
        let promises = writes.compactMap(\.1)
        var combined: EventLoopPromise<Void>?
        if promises.count == 1 {
            combined = promises[0]
        } else if !promises.isEmpty {
            let promise = context.eventLoop.makePromise(of: Void.self)
            for each in promises { promise.futureResult.cascade(to: each) }
            combined = promise
        }
        sendOutput(context: context, promise: combined, flush: true)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .output:
            switch state {
            case .idle, .handshaking:
                // Queued until the handshake is done, so the peer still gets its response first.
                outputClosePromise = .some(promise)
            case .active:
                closeOutput(context: context, promise: promise)
            case .outputClosed, .closing, .closed:
                context.close(mode: mode, promise: promise)
            }
        case .all:
            switch state {
            case .active, .outputClosed:
                let wasActive = { if case .active = self.state { return true } else { return false } }()
                state = .closing
                handshakeTimer?.cancel()
                failPendingWrites(ChannelError.ioOnClosedChannel)
                guard wasActive, let connection else {
                    context.close(mode: .all, promise: promise)
                    return
                }
                connection.shutdown()
                guard let notify = connection.takeOutput(allocator: context.channel.allocator) else {
                    context.close(mode: .all, promise: promise)
                    return
                }
                // A peer that stopped reading must not hold the close up for long.
                let channel = context.channel
                let deadline = context.eventLoop.scheduleTask(in: Self.closeNotifyWait) { channel.close(promise: nil) }
                context.writeAndFlush(wrapOutboundOut(notify)).assumeIsolated().whenComplete { _ in
                    deadline.cancel()
                    context.close(mode: .all, promise: promise)
                }
            case .idle, .handshaking:
                state = .closed
                handshakeTimer?.cancel()
                failPendingWrites(ChannelError.ioOnClosedChannel)
                context.close(mode: .all, promise: promise)
            case .closing, .closed:
                context.close(mode: .all, promise: promise)
            }
        case .input:
            context.close(mode: mode, promise: promise)
        }
    }

    /// close_notify, then the TCP half-close, after everything written before.
    private func closeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        encryptPendingWrites(context: context)
        state = .outputClosed
        connection?.shutdown()
        sendOutput(context: context, promise: nil, flush: true)
        context.close(mode: .output, promise: promise)
    }

    // MARK: Helpers

    private func sendOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, flush: Bool) {
        if let connection, let ciphertext = connection.takeOutput(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(ciphertext), promise: promise)
        } else {
            promise?.succeed()
        }
        if flush { context.flush() }
    }

    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        switch state {
        case .closed, .closing:
            return
        default:
            break
        }
        state = .closed
        handshakeTimer?.cancel()
        settleHandshake(.failure(error))
        failPendingWrites(error)
        report(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func report(_ error: any Error) {
        if let error = error as? TLSError { onFailure?(error) }
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites = []
        for (_, promise) in writes { promise?.fail(error) }
    }

    /// A browser or curl pointed at https with http:// gets an answer it can show, not a reset.
    private func answerPlaintextRequest(context: ChannelHandlerContext) {
        state = .closing
        handshakeTimer?.cancel()
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
