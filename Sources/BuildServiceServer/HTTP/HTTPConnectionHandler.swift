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
    /// Connections the kernel holds before we accept them (capped by net.core.somaxconn): a
    /// burst of a thousand agents must not be turned away while the loops are busy.
    static let backlog: Int32 = 4096

    let name: String
    let transport: Transport
    let endpoint: BuildEndpoint
    /// Tokens and projects as of the last (re)load.
    let live: LiveSettings
    /// See `ServiceConfig.sendTimeoutSec`.
    let sendTimeout: TimeAmount
    let isTLS: Bool
    let downloads: ArtifactDownloads
    let operations: Operations
    /// Where artifact URLs of builds requested here point: `nil` on TCP means "this listener,
    /// as the client addressed it" (scheme plus Host header).
    let artifactBaseURL: String?
    let signArtifactURLs: Bool

    /// What the routes besides build submission and downloads need; the same for every listener.
    struct Operations: Sendable {
        let builds: BuildRoutes
        let health: DaemonHealth
        let metrics: BuildMetrics
        /// The Prometheus text of every metric, gauges refreshed.
        let metricsText: @Sendable () -> [UInt8]
    }

    init(
        name: String,
        transport: Transport,
        endpoint: BuildEndpoint,
        live: LiveSettings,
        sendTimeoutSec: Int,
        isTLS: Bool = false,
        downloads: ArtifactDownloads,
        operations: Operations,
        artifactBaseURL: String? = nil,
        signArtifactURLs: Bool = false
    ) {
        self.name = name
        self.transport = transport
        self.endpoint = endpoint
        self.live = live
        self.sendTimeout = .seconds(Int64(sendTimeoutSec))
        self.isTLS = isTLS
        self.downloads = downloads
        self.operations = operations
        self.artifactBaseURL = artifactBaseURL
        self.signArtifactURLs = signArtifactURLs
    }

    /// This listener's tokens in `settings` (one request's snapshot of the live settings).
    func tokens(_ settings: LiveSettings.Current) -> TokenCheck {
        transport == .unix ? settings.socketTokens : settings.httpTokens
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
            // An early refusal from the head alone; the request is judged whole at its end.
            if let (refusal, allow) = refusalBeforeBody(head, settings: listener.live.current) {
                if refusal.code == .unauthorized || refusal.code == .forbiddenProject {
                    listener.endpoint.refusals.refused(
                        code: refusal.code.rawValue,
                        message: "\(head.method) \(Self.shortened(String(Self.path(of: head)))): \(refusal.message)",
                        peer: PeerDescription.of(context.channel),
                        listener: listener.name
                    )
                }
                state = .discarding
                respondAndClose(context: context, error: refusal, version: head.version, allow: allow)
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
            // One snapshot of the settings, taken once the request is complete, decides all of
            // it (token, scope, project, command): a reload never mixes two configs in one
            // request, and a token revoked while a body trickled in is refused.
            respond(context: context, head: head, body: body, settings: listener.live.current)
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

    /// A refusal of the request from its head alone (route, method, token, size), with the
    /// `Allow` header a 405 needs.
    private func refusalBeforeBody(_ head: HTTPRequestHead, settings: LiveSettings.Current) -> (ServiceError, allow: String?)? {
        let path = Self.path(of: head)
        let route = Route(path: path)
        if route != .unknown, !route.methods.contains(head.method) {
            let allowed = route.methods.filter { $0 != .HEAD }.map(\.rawValue).joined(separator: " or ")
            let error = ServiceError(.methodNotAllowed, "\(head.method) is not allowed on \(Self.shortened(String(path))); use \(allowed)")
            return (error, route.allowHeader)
        }
        switch route {
        case .artifact, .health:
            // Downloads check a token or a URL signature themselves; health needs no token.
            return nil
        case .metrics where !settings.config.metricsAuthRequired:
            return nil
        default:
            break
        }
        // The header is the only place for a token on TCP, and on the socket for every route
        // but the build request (whose body may carry `auth_token`), so a bad one is refused
        // right away, before routing: a client without a token learns nothing, not even which
        // routes exist.
        let bodyMayCarryToken = listener.transport == .unix && route == .builds && head.method == .POST
        let grant = bodyMayCarryToken ? nil : grant(for: head, settings: settings)
        if !bodyMayCarryToken, grant == nil {
            listener.operations.metrics.authFailed(listener: listener.name)
            return (BuildEndpoint.unauthorized, nil)
        }
        // Every project's series are in /metrics: a token limited to some projects may not
        // read the others' names and counts.
        if route == .metrics, let grant, grant.projects != nil, !grant.admin {
            let who = grant.tokenName.map { "token \"\($0)\"" } ?? "this token"
            return (
                ServiceError(.forbiddenProject, "\(who) is limited to some projects and /metrics covers all of them; use an unscoped or admin token"),
                nil
            )
        }
        guard route != .unknown else { return (ServiceError(.notFound, "no route for \(head.method) \(Self.shortened(head.uri))"), nil) }
        if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > ListenerContext.maxBodyBytes {
            return (Self.tooLarge(ListenerContext.maxBodyBytes), nil)
        }
        return nil
    }

    private func grant(for head: HTTPRequestHead, settings: LiveSettings.Current) -> AccessGrant? {
        listener.tokens(settings).grant(for: TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization")))
    }

    private static func path(of head: HTTPRequestHead) -> Substring {
        head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }

    /// Writes a whole response with a body known up front (JSON answers, health, metrics).
    private func respondComplete(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        status: HTTPResponseStatus,
        contentType: String,
        body: ByteBuffer,
        closeAfter: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        if closeAfter { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        responseEnded(context: context, closeAfter: closeAfter)
    }

    private func respondRefusal(context: ChannelHandlerContext, head: HTTPRequestHead, error: ServiceError, closeAfter: Bool) {
        let (responseHead, body) = ErrorResponse.parts(for: error, version: head.version, close: closeAfter)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        responseEnded(context: context, closeAfter: closeAfter)
    }

    /// Liveness for load balancers and monitors; answers without auth: version, uptime, and
    /// 503 while the daemon is stopping.
    private func respondHealth(context: ChannelHandlerContext, head: HTTPRequestHead, closeAfter: Bool) {
        let health = listener.operations.health
        let stopping = health.isStopping
        var body = ByteBuffer()
        body.writeString(stopping ? "{\"status\":\"stopping\"" : "{\"status\":\"ok\"")
        body.writeStaticString(",\"version\":")
        JSONText.writeString(health.version, to: &body)
        body.writeString(",\"uptime_sec\":\(health.uptimeSec)}\n")
        respondComplete(
            context: context,
            head: head,
            status: stopping ? .serviceUnavailable : .ok,
            contentType: "application/json",
            body: body,
            closeAfter: closeAfter
        )
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer, settings: LiveSettings.Current) {
        // HTTP/1.0 has no chunked encoding: the stream ends with the connection.
        let closeAfter = !head.isKeepAlive || inputClosed || head.version.minor == 0
        let route = Route(path: Self.path(of: head))
        switch route {
        case .health:
            return respondHealth(context: context, head: head, closeAfter: closeAfter)
        case .metrics:
            return respondComplete(
                context: context,
                head: head,
                status: .ok,
                contentType: "text/plain; version=0.0.4; charset=utf-8",
                body: ByteBuffer(bytes: listener.operations.metricsText()),
                closeAfter: closeAfter
            )
        case .artifact:
            return respondWithArtifact(context: context, head: head, settings: settings, closeAfter: closeAfter)
        case .build,
            .builds where head.method != .POST:
            guard let grant = grant(for: head, settings: settings) else {
                return respondRefusal(context: context, head: head, error: BuildEndpoint.unauthorized, closeAfter: closeAfter)
            }
            let routes = listener.operations.builds
            let answer =
                switch route {
                case .build(let id) where head.method == .DELETE: routes.cancel(id: id, grant: grant)
                case .build(let id): routes.status(id: id, grant: grant)
                default: routes.list(query: QueryString.parse(uri: head.uri), grant: grant)
                }
            switch answer {
            case .json(let status, let data):
                return respondComplete(
                    context: context,
                    head: head,
                    status: status,
                    contentType: "application/json",
                    body: ByteBuffer(bytes: data),
                    closeAfter: closeAfter
                )
            case .refused(let error):
                return respondRefusal(context: context, head: head, error: error, closeAfter: closeAfter)
            }
        case .buildEvents(let id):
            return respondWithEvents(context: context, head: head, buildID: id, settings: settings, closeAfter: closeAfter)
        default:
            break
        }
        let sink = HTTPResponseSink(
            channel: context.channel,
            version: head.version,
            closeAfter: closeAfter,
            sendTimeout: listener.sendTimeout
        )
        let listener = self.listener
        var origin = RequestOrigin(listener: listener.name, peer: PeerDescription.of(context.channel))
        origin.artifactBaseURL = listener.artifactBase(host: head.headers.first(name: "Host"))
        origin.signArtifactURLs = listener.signArtifactURLs
        let admission = listener.endpoint.admit(
            BuildEndpoint.Submission(
                body: body,
                headerToken: TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization")),
                idempotencyHeader: head.headers.first(name: "Idempotency-Key"),
                canComeBack: true,
                settings: settings,
                tokens: listener.tokens(settings),
                bodyTokenAllowed: listener.transport == .unix,
                origin: origin,
                eventLoop: context.eventLoop,
                allowsHeartbeats: sink.allowsNewEventTypes
            )
        )
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        task = Task(executorPreference: EventLoopTaskExecutor(context.eventLoop)) {
            await listener.endpoint.stream(admission, to: sink)
            loopBound.eventLoop.execute {
                loopBound.value.handler.responseEnded(context: loopBound.value.context, closeAfter: closeAfter)
            }
        }
    }

    /// `GET /v1/builds/{id}/events?after=N`: re-attach to a build's event stream.
    private func respondWithEvents(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        buildID: String,
        settings: LiveSettings.Current,
        closeAfter: Bool
    ) {
        let record: BuildRecord
        let parameters: (after: Int, heartbeat: TimeAmount?)
        do throws(ServiceError) {
            guard let grant = grant(for: head, settings: settings) else { throw BuildEndpoint.unauthorized }
            record = try listener.operations.builds.visibleBuild(id: buildID, grant: grant)
            parameters = try BuildRoutes.eventParameters(QueryString.parse(uri: head.uri), lastSeq: record.snapshot.lastSeq)
        } catch {
            return respondRefusal(context: context, head: head, error: error, closeAfter: closeAfter)
        }
        let sink = HTTPResponseSink(channel: context.channel, version: head.version, closeAfter: closeAfter, sendTimeout: listener.sendTimeout)
        let stream = BuildEventStream(registry: listener.endpoint.registry)
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        task = Task(executorPreference: EventLoopTaskExecutor(context.eventLoop)) {
            await stream.follow(record, after: parameters.after, heartbeat: parameters.heartbeat, sink: sink)
            loopBound.eventLoop.execute {
                loopBound.value.handler.responseEnded(context: loopBound.value.context, closeAfter: closeAfter)
            }
        }
    }

    private func respondWithArtifact(context: ChannelHandlerContext, head: HTTPRequestHead, settings: LiveSettings.Current, closeAfter: Bool) {
        switch listener.downloads.prepare(head: head, tokens: listener.tokens(settings), closeAfter: closeAfter) {
        case .complete(let responseHead, let body):
            // Refusals, 304s, HEADs and small files: answered at once, no task.
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            if let body {
                if responseHead.status == .ok || responseHead.status == .partialContent {
                    listener.operations.metrics.artifactBytesServed(body.readableBytes)
                }
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
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

    private func respondAndClose(context: ChannelHandlerContext, error: ServiceError, version: HTTPVersion, allow: String? = nil) {
        let (head, body) = ErrorResponse.parts(for: error, version: version, close: true, allow: allow)
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

    static func shortened(_ text: String) -> String {
        text.count > 100 ? String(text.prefix(100)) + "…" : text
    }
}
