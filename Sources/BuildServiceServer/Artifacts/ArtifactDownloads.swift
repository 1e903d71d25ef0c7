import BuildServiceCore
import BuildServiceProtocol
import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET`/`HEAD` of a stored artifact: auth (bearer token, or a valid URL signature), then the
/// file as nginx would send a static file, streamed from disk at the client's pace.
struct ArtifactDownloads: Sendable {
    let store: ArtifactStore
    let signer: ArtifactURLSigner
    let manifests = ManifestCache()

    /// Bytes per write; at most two are in flight per download (over TLS: held in memory), so
    /// fifty concurrent downloads stay within tens of MiB.
    static let chunkSize = 256 * 1024
    /// Ranges up to this size are read right away instead of on the thread pool.
    static let inlineReadLimit = 64 * 1024

    /// What to answer: a complete response (a refusal, a 304, a HEAD, a small body read
    /// right away, all without a task), or a file to stream.
    enum Answer {
        case complete(HTTPResponseHead, ByteBuffer?)
        case stream(HTTPResponseHead, NIOFileHandle, ArtifactResponse.Body)
    }

    /// Auth, lookup and the response plan; synchronous, on the event loop.
    /// - Parameter tokens: the listener's tokens in the request's settings snapshot.
    func prepare(head: HTTPRequestHead, tokens: TokenCheck, closeAfter: Bool) -> Answer {
        let route = ArtifactRoute(uri: head.uri)
        var grant: AccessGrant? = .everything
        if tokens.isRequired {
            if let token = TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization")) {
                grant = tokens.grant(for: token)
                guard grant != nil else { return Self.refusal(BuildEndpoint.unauthorized, head, closeAfter) }
            } else if let route, let expires = route.query["expires"], let signature = route.query["sig"] {
                guard signer.verify(buildID: route.buildID, name: route.name, expires: expires, sig: signature) else {
                    return Self.refusal(Self.badSignature, head, closeAfter)
                }
            } else {
                return Self.refusal(BuildEndpoint.unauthorized, head, closeAfter)
            }
        }
        guard let route else { return Self.refusal(Self.notFound, head, closeAfter) }
        // Like nginx, open on the event loop: a cached manifest, a stat and a few openat calls on
        // local disk cost microseconds; only bulk reads go to the thread pool.
        let manifest = manifests.manifest(for: route.buildID, in: store)
        guard let manifest, let opened = store.open(buildID: route.buildID, name: route.name, manifest: manifest) else {
            return Self.refusal(Self.notFound, head, closeAfter)
        }
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: opened.descriptor)
        if let grant {
            do {
                try grant.check(project: opened.manifest.project)
            } catch {
                try? file.close()
                return Self.refusal(error, head, closeAfter)
            }
        }
        let response = ArtifactResponse(request: head, artifact: opened.artifact)
        var headers = response.headers
        if closeAfter { headers.add(name: "Connection", value: "close") }
        let responseHead = HTTPResponseHead(version: head.version, status: response.status, headers: headers)
        switch response.body {
        case .none:
            try? file.close()
            return .complete(responseHead, nil)
        case .bytes(let range) where range.count <= Self.inlineReadLimit:
            defer { try? file.close() }
            guard let body = try? file.withUnsafeFileDescriptor({ try Self.read($0, offset: range.lowerBound, count: range.count) }) else {
                return Self.refusal(ServiceError(.internalError, "the artifact could not be read"), head, true)
            }
            return .complete(responseHead, body)
        default:
            return .stream(responseHead, file, response.body)
        }
    }

    /// Streams a prepared file body; closes the file at the end.
    func stream(
        _ responseHead: HTTPResponseHead,
        file: NIOFileHandle,
        body: ArtifactResponse.Body,
        listener: ListenerContext,
        channel: any Channel
    ) async {
        defer { try? file.close() }
        channel.write(HTTPServerResponsePart.head(responseHead), promise: nil)
        do {
            switch body {
            case .none:
                break
            case .bytes(let range):
                try await send(file, range: range, channel: channel, listener: listener)
                listener.operations.metrics.artifactBytesServed(range.count)
            case .multipart(let parts, let closing):
                for (header, range) in parts {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: header))), promise: nil)
                    try await send(file, range: range, channel: channel, listener: listener)
                    listener.operations.metrics.artifactBytesServed(range.count)
                }
                channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: closing))), promise: nil)
            }
            try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        } catch {
            // The client went away or stopped reading: the connection is closed, nothing else to do.
            channel.close(promise: nil)
        }
    }

    /// Streams `range` of the file in chunks, at most two in flight, each of which must be
    /// taken by the client within the send timeout. Plain TCP hands each chunk to the kernel
    /// (sendfile); TLS reads it on the thread pool first, overlapping the previous write.
    private func send(_ file: NIOFileHandle, range: ClosedRange<Int>, channel: any Channel, listener: ListenerContext) async throws {
        let descriptor = try file.withUnsafeFileDescriptor { $0 }
        if range.count <= Self.inlineReadLimit {
            let chunk = try Self.read(descriptor, offset: range.lowerBound, count: range.count)
            try await SendDeadline.awaitCompletion(
                channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(chunk))),
                on: channel,
                timeout: listener.sendTimeout
            )
            return
        }
        var offset = range.lowerBound
        var inFlight: EventLoopFuture<Void>?
        while offset <= range.upperBound {
            let count = min(Self.chunkSize, range.upperBound + 1 - offset)
            let part: HTTPServerResponsePart
            if listener.isTLS {
                let start = offset
                let chunk = try await NIOThreadPool.singleton.runIfActive { try Self.read(descriptor, offset: start, count: count) }
                part = .body(.byteBuffer(chunk))
            } else {
                part = .body(.fileRegion(FileRegion(fileHandle: file, readerIndex: offset, endIndex: offset + count)))
            }
            if let inFlight { try await SendDeadline.awaitCompletion(inFlight, on: channel, timeout: listener.sendTimeout) }
            inFlight = channel.writeAndFlush(part)
            offset += count
        }
        if let inFlight { try await SendDeadline.awaitCompletion(inFlight, on: channel, timeout: listener.sendTimeout) }
    }

    private static func read(_ descriptor: Int32, offset: Int, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            max(0, pread(descriptor, bytes.baseAddress, count, off_t(offset)))
        }
        guard read == count else { throw IOError(errnoCode: EIO, reason: "short read of a stored artifact") }
        return buffer
    }

    private static func refusal(_ error: ServiceError, _ head: HTTPRequestHead, _ closeAfter: Bool) -> Answer {
        let (responseHead, body) = ErrorResponse.parts(for: error, version: head.version, close: closeAfter)
        return .complete(responseHead, head.method == .HEAD ? nil : body)
    }

    /// One answer for every kind of miss, so a probe learns nothing about what exists.
    static let notFound = ServiceError(.notFound, "no such artifact")
    static let badSignature = ServiceError(.forbiddenSignature, "the download link's signature is invalid or has expired")
}
