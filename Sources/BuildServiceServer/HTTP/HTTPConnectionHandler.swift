import BuildServiceCore
import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// What a connection handler needs to serve requests; shared by every connection of a listener.
struct ListenerContext: Sendable {
    enum Transport: Sendable {
        case tcp
        case unix
    }

    /// Request bodies (and legacy request lines) above this get 413.
    static let maxBodyBytes = 1024 * 1024

    let name: String
    let transport: Transport
    let endpoint: BuildEndpoint
    let tokens: TokenCheck
    /// See `ServiceConfig.sendTimeoutSec`.
    let sendTimeout: TimeAmount
    let isTLS: Bool
    let downloads: ArtifactDownloads
    /// Where artifact URLs of builds requested here point: `nil` on TCP means "this listener,
    /// as the client addressed it" (scheme plus Host header).
    let artifactBaseURL: String?
    let signArtifactURLs: Bool

    init(
        name: String,
        transport: Transport,
        endpoint: BuildEndpoint,
        auth: AuthSettings,
        sendTimeoutSec: Int,
        isTLS: Bool = false,
        downloads: ArtifactDownloads,
        artifactBaseURL: String? = nil,
        signArtifactURLs: Bool = false
    ) {
        self.name = name
        self.transport = transport
        self.endpoint = endpoint
        self.tokens = TokenCheck(settings: auth)
        self.sendTimeout = .seconds(Int64(sendTimeoutSec))
        self.isTLS = isTLS
        self.downloads = downloads
        self.artifactBaseURL = artifactBaseURL
        self.signArtifactURLs = signArtifactURLs
    }

    /// The base of artifact URLs for a request with this Host header.
    func artifactBase(host: String?) -> String? {
        if let artifactBaseURL { return artifactBaseURL }
        guard transport == .tcp, let host, (1...255).contains(host.utf8.count),
            host.utf8.allSatisfy({ byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ":")
                    || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            })
        else { return nil }
        return (isTLS ? "https://" : "http://") + host
    }
}

/// Serves HTTP/1.1 requests on one connection, one at a time (NIO's pipeline handler holds
/// pipelined requests back until the current response has ended).
///
/// A client that goes away mid-build cancels the build. "Goes away" is: the connection closed
/// or reset; on TCP also end-of-input, since a TCP peer that closed and one that only
/// half-closed look the same until we write (nginx and Go treat it as an abort, too). On the
/// Unix socket a half-close is not a disconnect: a full close there shows up as a hang-up.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case readingBody(HTTPRequestHead, ByteBuffer)
        /// Answered early (error); the rest of the request is ignored and the connection closes.
        case discarding
        case responding
    }

    private let listener: ListenerContext
    private var state = State.idle
    private var task: Task<Void, Never>?
    private var inputClosed = false
    /// A pipelined request that arrived after our response's end was written but before the
    /// response task finished: replayed once it has.
    private var pendingParts: [HTTPServerRequestPart] = []

    init(listener: ListenerContext) {
        self.listener = listener
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(unwrapInboundIn(data), context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .idle):
            if let refusal = refusalBeforeBody(head) {
                state = .discarding
                respondAndClose(context: context, error: refusal, version: head.version)
            } else {
                state = .readingBody(head, context.channel.allocator.buffer(capacity: 0))
            }
        case (.body(var chunk), .readingBody(let head, var body)):
            guard body.readableBytes + chunk.readableBytes <= ListenerContext.maxBodyBytes else {
                state = .discarding
                respondAndClose(context: context, error: Self.tooLarge(ListenerContext.maxBodyBytes), version: head.version)
                return
            }
            body.writeBuffer(&chunk)
            state = .readingBody(head, body)
        case (.end, .readingBody(let head, let body)):
            state = .responding
            respond(context: context, head: head, body: body)
        case (_, .responding):
            pendingParts.append(part)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            switch state {
            case .responding where listener.transport == .unix:
                break  // half-close: answer, then close
            case .responding:
                task?.cancel()
                // Not in this call stack: this event can arrive from inside the write of our
                // response's end (NIO's pipelining handler holds it until then), and closing
                // here would drop that write before its flush.
                let channel = context.channel
                context.eventLoop.execute { channel.close(promise: nil) }
            default:
                context.close(promise: nil)
            }
        } else if event is IdleStateHandler.IdleStateEvent {
            // Idle between requests or while a request trickles in; never during a response.
            if case .responding = state { return }
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
        // A request pipelined behind the last one has nobody to answer to: never start it.
        pendingParts = []
        context.fireChannelInactive()
    }

    private func refusalBeforeBody(_ head: HTTPRequestHead) -> ServiceError? {
        let path = Self.path(of: head)
        if ArtifactRoute.matches(path: path) {
            // Downloads check a token or a URL signature themselves.
            return head.method == .GET || head.method == .HEAD
                ? nil : ServiceError(.methodNotAllowed, "\(head.method) is not allowed on artifacts; use GET or HEAD")
        }
        if path == Self.healthPath {
            return head.method == .GET || head.method == .HEAD
                ? nil : ServiceError(.methodNotAllowed, "\(head.method) is not allowed on \(path); use GET")
        }
        // The header is the only place for a token on TCP, and on the socket for every route
        // but the build request (whose body may carry `auth_token`), so a bad one is refused
        // right away, before routing: a client without a token learns nothing, not even which
        // routes exist.
        let bodyMayCarryToken = listener.transport == .unix && path == "/v1/builds" && head.method == .POST
        if !bodyMayCarryToken,
            listener.tokens.grant(for: TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization"))) == nil
        {
            return BuildEndpoint.unauthorized
        }
        guard path == "/v1/builds" else { return ServiceError(.notFound, "no route for \(head.method) \(Self.shortened(head.uri))") }
        guard head.method == .POST else { return ServiceError(.methodNotAllowed, "\(head.method) is not allowed on /v1/builds; use POST") }
        if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > ListenerContext.maxBodyBytes {
            return Self.tooLarge(ListenerContext.maxBodyBytes)
        }
        return nil
    }

    /// Liveness for load balancers and monitors; answers without auth and says nothing else.
    static let healthPath = "/healthz"

    private static func path(of head: HTTPRequestHead) -> Substring {
        head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }

    private func respondHealthy(context: ChannelHandlerContext, head: HTTPRequestHead, closeAfter: Bool) {
        let body = context.channel.allocator.buffer(staticString: "{\"status\":\"ok\"}\n")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if closeAfter { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        responseEnded(context: context, closeAfter: closeAfter)
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer) {
        // HTTP/1.0 has no chunked encoding: the stream ends with the connection.
        let closeAfter = !head.isKeepAlive || inputClosed || head.version.minor == 0
        let path = Self.path(of: head)
        if path == Self.healthPath {
            return respondHealthy(context: context, head: head, closeAfter: closeAfter)
        }
        if ArtifactRoute.matches(path: path) {
            return respondWithArtifact(context: context, head: head, closeAfter: closeAfter)
        }
        let sink = HTTPResponseSink(
            channel: context.channel,
            version: head.version,
            closeAfter: closeAfter,
            sendTimeout: listener.sendTimeout
        )
        let listener = self.listener
        var origin = RequestOrigin(listener: listener.name, peer: Self.peer(context.channel))
        origin.artifactBaseURL = listener.artifactBase(host: head.headers.first(name: "Host"))
        origin.signArtifactURLs = listener.signArtifactURLs
        let headerToken = TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization"))
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        task = Task(executorPreference: EventLoopTaskExecutor(eventLoop)) {
            await listener.endpoint.handle(
                body: body,
                headerToken: headerToken,
                tokens: listener.tokens,
                bodyTokenAllowed: listener.transport == .unix,
                origin: origin,
                eventLoop: eventLoop,
                sink: sink
            )
            loopBound.eventLoop.execute {
                loopBound.value.handler.responseEnded(context: loopBound.value.context, closeAfter: closeAfter)
            }
        }
    }

    private func respondWithArtifact(context: ChannelHandlerContext, head: HTTPRequestHead, closeAfter: Bool) {
        switch listener.downloads.prepare(head: head, listener: listener, closeAfter: closeAfter) {
        case .complete(let responseHead, let body):
            // Refusals, 304s, HEADs and small files: answered at once, no task.
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            responseEnded(context: context, closeAfter: closeAfter || responseHead.status.code >= 500)
        case .stream(let responseHead, let file, let body):
            let listener = self.listener
            let channel = context.channel
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            task = Task(executorPreference: EventLoopTaskExecutor(context.eventLoop)) {
                await listener.downloads.stream(responseHead, file: file, body: body, listener: listener, channel: channel)
                loopBound.eventLoop.execute {
                    loopBound.value.handler.responseEnded(context: loopBound.value.context, closeAfter: closeAfter)
                }
            }
        }
    }

    private func responseEnded(context: ChannelHandlerContext, closeAfter: Bool) {
        task = nil
        if closeAfter || !context.channel.isActive {
            state = .idle
            pendingParts = []
            context.close(promise: nil)
            return
        }
        guard !pendingParts.isEmpty else {
            state = .idle
            if inputClosed { context.close(promise: nil) }
            return
        }
        // On the next turn of the loop, not nested: an answer that completes at once (a 401, a
        // small file) ends here again, and a long pipeline must not grow the stack. Until then
        // the state stays `.responding`, so parts that arrive meanwhile queue up behind these.
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            handler.replayPendingParts(context: context)
        }
    }

    private func replayPendingParts(context: ChannelHandlerContext) {
        state = .idle
        let parts = pendingParts
        pendingParts = []
        for part in parts { handle(part, context: context) }
        // After a half-close (Unix socket): answer what was pipelined before it, then close.
        if inputClosed, case .responding = state { return }
        if inputClosed { context.close(promise: nil) }
    }

    private func respondAndClose(context: ChannelHandlerContext, error: ServiceError, version: HTTPVersion) {
        let (head, body) = ErrorResponse.parts(for: error, version: version, close: true)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        // Closing at once while the client still sends its body makes the kernel answer with a
        // reset, and the client may never see this response. So: end our side, read and drop
        // what still comes until the client closes too, for at most a few seconds.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: Self.lingerAfterRefusal) { channel.close(promise: nil) }
        }
    }

    /// How long a refused request's remaining body is read and dropped (nginx lingers 5 s).
    private static let lingerAfterRefusal = TimeAmount.seconds(5)

    private static func tooLarge(_ limit: Int) -> ServiceError {
        ServiceError(.payloadTooLarge, "request body is larger than \(limit) bytes")
    }

    static func peer(_ channel: any Channel) -> String {
        guard let address = channel.remoteAddress else { return "unix" }
        if case .unixDomainSocket = address { return "unix" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }

    static func shortened(_ text: String) -> String {
        text.count > 100 ? String(text.prefix(100)) + "…" : text
    }
}
