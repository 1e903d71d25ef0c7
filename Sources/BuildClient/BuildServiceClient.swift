import BuildServiceConcurrency
public import BuildServiceProtocol
public import BuildServiceTLS
import FoundationEssentials
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Sends one build request to the service (HTTP over its Unix socket or TCP) and delivers the
/// event stream as it arrives.
public struct BuildServiceClient: Sendable {
    public var endpoint: Endpoint
    /// Sent as `Authorization: Bearer …`; never printed.
    public var token: String?
    /// Trust and client certificate for https endpoints.
    public var tls: TLSClientConfiguration
    /// A build stream silent this long is taken for a dead connection and re-attached;
    /// heartbeats are asked for three times as often.
    public var stallTimeout: Duration = .seconds(45)

    /// Speak the original build-service's one-line framing on the socket (`--legacy`); without
    /// it, `run` falls back to it when the socket answers in it.
    public var legacy = false

    /// Called with every event line as the service sent it (once: a line seen before a
    /// re-attach is not repeated), before it is parsed; `build-cli --json` passes them on.
    public var onEventLine: (@Sendable ([UInt8]) -> Void)?

    /// The `heartbeat_sec` to ask for: three heartbeats within `stallTimeout`, at most every 15 s.
    public var heartbeatSec: Int { max(1, min(15, Int(stallTimeout.components.seconds) / 3)) }

    public init(endpoint: Endpoint, token: String?, tls: TLSClientConfiguration = TLSClientConfiguration()) {
        self.endpoint = endpoint
        self.token = token
        self.tls = tls
    }

    /// Runs the build and returns its `exit` event. If the connection breaks after the request
    /// went out, the client re-attaches (`GET /v1/builds/{id}/events?after=`, or the same
    /// request again, whose `request_id` makes the service hand back the same build) with
    /// backoff for `reattachWithin`; events it already has are skipped, so the output has no
    /// gaps and no repeats.
    /// - Parameters:
    ///   - onOutput: called with the bytes of every `stdout`/`stderr` event, in order.
    ///   - onEvent: called for every other event in order, `exit` included; events of types
    ///     this version does not know are skipped.
    /// - Throws: `ClientError` when the service cannot be reached, refuses the request, or the
    ///   stream ends before the build's `exit` and re-attaching fails.
    public func run(
        _ request: BuildRequest,
        reattachWithin: Duration = .seconds(30),
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) async throws(ClientError) -> BuildExit {
        if legacy { return try await runLegacy(request, onOutput: onOutput, onEvent: onEvent) }
        do {
            return try await runOverHTTP(request, reattachWithin: reattachWithin, onOutput: onOutput, onEvent: onEvent)
        } catch {
            // The original daemon ran nothing (it could not parse the request): ask it its way.
            guard case .legacyFramingOnly = error else { throw error }
            return try await runLegacy(request, onOutput: onOutput, onEvent: onEvent)
        }
    }

    private func runOverHTTP(
        _ request: BuildRequest,
        reattachWithin: Duration,
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) async throws(ClientError) -> BuildExit {
        var request = request
        // The service recognises a resent request by it, should the answer be lost before the id
        // arrived, and keeps the build for a while should the connection break (request_id
        // stays the user's label).
        // The kernel's random bytes (getrandom, through the standard library), not OpenSSL's:
        // its DRBG loads every provider and cipher first, a millisecond that a build over the
        // socket does not need.
        if request.idempotencyKey == nil {
            var random = SystemRandomNumberGenerator()
            request.idempotencyKey = "cli-" + Hex.encode((0..<12).map { _ in UInt8.random(in: .min ... .max, using: &random) })
        }
        // Heartbeats often enough for `stallTimeout`: a quiet build is not a dead connection
        // (and they keep proxies and NAT tables from cutting its stream).
        request.heartbeatSec = min(request.heartbeatSec ?? heartbeatSec, heartbeatSec)
        let body: ByteBuffer
        do {
            body = ByteBuffer(bytes: try JSONEncoder().encode(request))
        } catch {
            throw ClientError.usage("cannot encode the request: \(error)")
        }
        var progress = StreamProgress()
        return try await follow(progress: &progress, reattachWithin: reattachWithin, onOutput: onOutput, onEvent: onEvent) {
            progress in
            if let id = progress.buildID {
                return requestHead(method: .GET, target: Self.eventsTarget(id: id, after: progress.lastSeq, heartbeatSec: request.heartbeatSec))
            }
            return requestHead(method: .POST, target: "/v1/builds", bodyLength: body.readableBytes)
        } body: { progress in
            progress.buildID == nil ? body : nil
        }
    }

    /// Follows an existing build's events from `after` (`build-cli attach`), re-attaching as `run` does.
    public func attach(
        buildID: String,
        after: Int = 0,
        reattachWithin: Duration = .seconds(30),
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) async throws(ClientError) -> BuildExit {
        var progress = StreamProgress(buildID: buildID, lastSeq: after)
        return try await follow(progress: &progress, reattachWithin: reattachWithin, onOutput: onOutput, onEvent: onEvent) {
            progress in
            requestHead(method: .GET, target: Self.eventsTarget(id: buildID, after: progress.lastSeq, heartbeatSec: heartbeatSec))
        } body: { _ in
            nil
        }
    }

    static func eventsTarget(id: String, after: Int, heartbeatSec: Int?) -> String {
        "/v1/builds/\(id)/events?after=\(after)" + (heartbeatSec.map { "&heartbeat_sec=\($0)" } ?? "")
    }

    /// The build being followed and the last event delivered, carried from one connection to the next.
    struct StreamProgress {
        var buildID: String?
        var lastSeq = 0
        /// The service has seen a request of ours (so a broken connection is worth re-attaching to).
        var reached = false
        /// An HTTP response head has arrived on some connection (the service speaks HTTP).
        var reachedHTTP = false
    }

    private func follow(
        progress: inout StreamProgress,
        reattachWithin: Duration,
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void,
        head: (StreamProgress) -> HTTPRequestHead,
        body: (StreamProgress) -> ByteBuffer?
    ) async throws(ClientError) -> BuildExit {
        var deadline: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(200)
        while true {
            let before = (progress.buildID, progress.lastSeq)
            do {
                return try await stream(head: head(progress), body: body(progress), progress: &progress, onOutput: onOutput, onEvent: onEvent)
            } catch let error {
                // Only a connection that broke is retried, and only once the service had the request.
                guard case .unreachable = error, progress.reached else { throw error }
                if (progress.buildID, progress.lastSeq) != before {
                    // This connection got somewhere: a later drop gets a whole new grace.
                    deadline = nil
                    backoff = .milliseconds(200)
                }
                let now = ContinuousClock.now
                let giveUpAt = deadline ?? now + reattachWithin
                deadline = giveUpAt
                guard now + backoff < giveUpAt else { throw error }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    /// One connection: sends the request, delivers the new events, returns the `exit`.
    private func stream(
        head: HTTPRequestHead,
        body: ByteBuffer?,
        progress: inout StreamProgress,
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) async throws(ClientError) -> BuildExit {
        let silence = SilenceWatch(
            limit: TimeAmount(saturating: stallTimeout)
        )
        let (channel, tlsFailure) = try await connect(silence: silence)
        var state = progress
        defer { progress = state }
        do {
            // Read, parse and write out on the connection's own event loop: no thread hop per chunk.
            let executor = EventLoopTaskExecutor(channel.channel.eventLoop)
            return try await withTaskExecutorPreference(executor) {
                try await channel.executeThenClose { inbound, outbound in
                    // One write for the whole request: a daemon that answers the first line and
                    // hangs up (the original, on its socket) is then read, not met with EPIPE.
                    var parts: [HTTPClientRequestPart] = [.head(head)]
                    if let body { parts.append(.body(.byteBuffer(body))) }
                    parts.append(.end(nil))
                    try await outbound.write(contentsOf: parts)
                    state.reached = true
                    silence.expectAnswer(on: channel.channel)
                    return try await readResponse(inbound, progress: &state, silence: silence, onOutput: onOutput, onEvent: onEvent)
                }
            }
        } catch {
            // Closed by the answer deadline: the parser may have failed on the cut-off answer
            // first. Not retried, as in readResponse.
            if silence.missedAnswer {
                state.reached = false
                throw Self.missedAnswer(endpoint, answered: state.reachedHTTP, limit: limitText)
            }
            // The original answers anything that is not one JSON line with a JSON error line,
            // which no HTTP parser takes for a response.
            if error is HTTPParserError, case .unixSocket = endpoint, !state.reachedHTTP {
                throw ClientError.legacyFramingOnly("the build service at \(endpoint) speaks only the original's one-line framing")
            }
            throw connectionError(error, tlsFailure: tlsFailure, doing: "the connection to the build service")
        }
    }

    /// No head, or a head and no event, within the stall timeout of the request.
    static func missedAnswer(_ endpoint: Endpoint, answered: Bool, limit: String) -> ClientError {
        let what = answered ? "answered but sent no event" : "did not answer"
        return ClientError.unreachable("the build service at \(endpoint) \(what) within \(limit) of the request (--stall-timeout)")
    }

    /// What a failed exchange means for the user. A TLS alert (e.g. "certificate required"
    /// after a TLS 1.3 handshake) closes the connection; whatever failed next, the alert is the
    /// reason.
    func connectionError(_ error: any Error, tlsFailure: NIOLockedValueBox<TLSError?>, doing what: String) -> ClientError {
        if let error = error as? ClientError { return error }
        if let failure = (error as? TLSError) ?? tlsFailure.withLockedValue({ $0 }) {
            return ClientError.tls("TLS with the build service at \(endpoint) failed: \(failure.message)")
        }
        return ClientError.unreachable("\(what) at \(endpoint) broke: \(Self.describe(error))")
    }

    typealias HTTPChannel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// One event-loop thread: a client has one connection at a time (NIO's singleton starts one
    /// thread per core, at start-up).
    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// How long a TCP connect may take.
    static let connectLimit = TimeAmount.seconds(10)

    /// Connects (and for https completes the handshake). The box receives a TLS failure that
    /// happens later on the connection; `silence`, when given, watches the connection for a
    /// service gone quiet.
    func connect(silence: SilenceWatch? = nil) async throws(ClientError) -> (HTTPChannel, NIOLockedValueBox<TLSError?>) {
        // Large reads: a busy build's output arrives in lines of up to 256 KiB.
        let bootstrap = ClientBootstrap(group: Self.eventLoops)
            .connectTimeout(Self.connectLimit)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65_536, maximum: 1 << 20))
        var tlsContext: TLSContext?
        if case .http(_, _, _, true) = endpoint {
            do {
                tlsContext = try TLSContext(client: tls)
            } catch {
                throw ClientError.usage(error.message)
            }
        }
        let serverName = endpoint.hostName
        let tlsFailure = NIOLockedValueBox<TLSError?>(nil)
        typealias Connected = (channel: HTTPChannel, handshake: EventLoopFuture<Void>?)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connected> = { [tlsContext] channel in
            channel.eventLoop.makeCompletedFuture {
                var handshake: EventLoopFuture<Void>?
                if let tlsContext {
                    let handler = TLSHandler(context: tlsContext, serverHostname: serverName) { error, _ in
                        tlsFailure.withLockedValue { $0 = $0 ?? error }
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    handshake = handler.handshakeFuture
                }
                if let silence { try channel.pipeline.syncOperations.addHandlers(silence.handlers()) }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return (try HTTPChannel(wrappingChannelSynchronously: channel), handshake)
            }
        }
        let connected: Connected
        do {
            switch endpoint {
            case .unixSocket(let path):
                connected = try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            case .http(let host, let port, _, _):
                connected = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            throw ClientError.unreachable("cannot connect to the build service at \(endpoint): \(Self.describe(error))")
        }
        // The handshake first: a refused certificate is reported as that, not as a failed write.
        // (TLSHandler gives a handshake 10 s: a server that accepts and never speaks TLS.)
        do {
            try await connected.handshake?.get()
            return (connected.channel, tlsFailure)
        } catch let error as TLSError {
            try? await connected.channel.channel.close()
            throw ClientError.tls("TLS with the build service at \(endpoint) failed: \(error.message)")
        } catch {
            throw ClientError.unreachable("cannot connect to the build service at \(endpoint): \(Self.describe(error))")
        }
    }

    /// `host:port` of the endpoint (`localhost` over the socket).
    var hostHeader: String {
        switch endpoint {
        case .unixSocket: "localhost"
        case .http(let host, let port, _, _): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// A request to `target` (path and query, below the endpoint's base path).
    func requestHead(method: HTTPMethod, target: String, bodyLength: Int? = nil) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        if let bodyLength {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(bodyLength))
        }
        headers.add(name: "Accept", value: "application/x-ndjson, application/json")
        headers.add(name: "User-Agent", value: "build-cli")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        return HTTPRequestHead(version: .http1_1, method: method, uri: basePath + target, headers: headers)
    }

    /// `stallTimeout` for messages ("45 s").
    var limitText: String { "\(stallTimeout.components.seconds) s" }

    /// The endpoint URL's path prefix (empty on the socket).
    var basePath: String {
        if case .http(_, _, let path, _) = endpoint { return path }
        return ""
    }

    private func readResponse(
        _ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>,
        progress: inout StreamProgress,
        silence: SilenceWatch,
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) async throws -> BuildExit {
        var status: HTTPResponseStatus?
        var splitter = LineSplitter()
        var errorBody = ByteBuffer()
        var exit: BuildExit?
        var complete = false
        var bodyBegan = false
        loop: for try await part in inbound {
            switch part {
            case .head(let head):
                status = head.status
                progress.reachedHTTP = true
            case .body(var chunk):
                // The first bytes of the body: every service sends its first event at once
                // (a queued build's `queued`), so the head alone does not stop the clock. Once:
                // this runs for every chunk of output.
                if !bodyBegan {
                    bodyBegan = true
                    silence.answered()
                }
                guard status == .ok else {
                    if errorBody.readableBytes < 65_536 { errorBody.writeBuffer(&chunk) }
                    continue
                }
                for line in try splitter.append(&chunk) where exit == nil {
                    exit = try deliver(line, progress: &progress, onOutput: onOutput, onEvent: onEvent)
                }
                if progress.lastSeq > 0 { silence.arm() }
                // `exit` is the last event of every build: the answer is complete.
                if exit != nil { break loop }
            case .end:
                silence.answered()
                complete = true
                break loop
            }
        }
        if silence.missedAnswer {
            // Not retried: a service silent for the whole stall timeout is not coming back
            // within the re-attach window either.
            progress.reached = false
            throw Self.missedAnswer(endpoint, answered: status != nil, limit: limitText)
        }
        guard let status else {
            throw ClientError.unreachable("the build service at \(endpoint) closed the connection without answering")
        }
        guard status == .ok else {
            throw Self.refusal(status: status, body: errorBody)
        }
        if let exit { return exit }
        if exit == nil, let last = splitter.remainder {
            exit = try deliver(last, progress: &progress, onOutput: onOutput, onEvent: onEvent)
        }
        guard let exit else {
            // A whole answer (its last chunk came) without `exit` is the service's fault, not
            // the network's: re-attaching would get the same.
            if complete { throw ClientError.protocolViolation("the build service's answer ended without the build's exit event") }
            throw ClientError.unreachable("the connection to the build service at \(endpoint) ended before the build finished")
        }
        return exit
    }

    /// Parses and hands over one line, unless its `seq` shows it was delivered before (on an
    /// earlier connection); returns the exit payload when it was the `exit` event.
    func deliver(
        _ line: ByteBuffer,
        progress: inout StreamProgress,
        onOutput: (OutputPipe, [UInt8]) throws -> Void,
        onEvent: (BuildEvent) throws -> Void
    ) throws -> BuildExit? {
        if line.readableBytes == 0 { return nil }
        if let seq = EventSequence.split(line.readableBytesView)?.seq {
            guard seq > progress.lastSeq else { return nil }
            progress.lastSeq = seq
        }
        onEventLine?(Array(line.readableBytesView))
        if let (pipe, bytes) = OutputLine.parse(line.readableBytesView) {
            try onOutput(pipe, bytes)
            return nil
        }
        let event: BuildEvent?
        do {
            event = try BuildEvent.parse(line: Data(line.readableBytesView))
        } catch {
            throw ClientError.protocolViolation("\(error)")
        }
        if case .build(let id, _, _, _) = event { progress.buildID = id }
        switch event {
        case .none, .heartbeat: return nil
        case .stdout(let text): try onOutput(.stdout, Array(text.utf8))
        case .stderr(let text): try onOutput(.stderr, Array(text.utf8))
        case .exit(let exit):
            try onEvent(.exit(exit))
            return exit
        case .some(let other): try onEvent(other)
        }
        return nil
    }

    static func refusal(status: HTTPResponseStatus, body: ByteBuffer) -> ClientError {
        struct ErrorBody: Decodable {
            var error: String
            var code: String
        }
        if let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)) {
            return .refused(status: Int(status.code), code: decoded.code, message: decoded.error)
        }
        // A short plain-text answer (e.g. "This port speaks HTTPS") says more than the status.
        if (1...300).contains(body.readableBytes), let text = String(validating: body.readableBytesView, as: UTF8.self),
            !text.contains(where: { $0.isASCII && $0.asciiValue! < 0x20 && $0 != "\n" })
        {
            return .refused(
                status: Int(status.code),
                code: "http_\(status.code)",
                message: text.trimmedWhitespace
            )
        }
        return .refused(
            status: Int(status.code),
            code: "http_\(status.code)",
            message: "the build service answered \(status.code) \(status.reasonPhrase)"
        )
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return describe(first.error) }
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve the host name (\(dns))" }
        }
        return SystemErrorText.describe(error)
    }
}
