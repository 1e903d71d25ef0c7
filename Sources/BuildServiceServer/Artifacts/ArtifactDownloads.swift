import BuildServiceCore
import BuildServiceProtocol
import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET`/`HEAD` of a stored artifact (its auth, a bearer token or a signed link, is the
/// `RequestAuthorizer`'s): the file as nginx would send a static file, streamed from disk at
/// the client's pace.
struct ArtifactDownloads: Sendable {
    let store: ArtifactStore
    let signer: ArtifactURLSigner
    let cache = ArtifactCache()

    /// Bytes per write; at most two are in flight per download (over TLS: held in memory), so
    /// fifty concurrent downloads stay within tens of MiB.
    static let chunkSize = 256 * 1024
    /// Ranges up to this size are read right away instead of on the thread pool.
    static let inlineReadLimit = 64 * 1024

    /// Lookup and the response, synchronous on the event loop: refusals, 304s, HEADs and
    /// small bodies complete at once; larger files are streamed.
    /// - Parameters:
    ///   - link: the artifact the path names (`nil`: malformed, answered as a miss).
    ///   - authorization: the request's (a token's grant or a valid signed link).
    ///   - encrypted: the connection is TLS, where file regions (sendfile) cannot go.
    func respond(
        to head: HTTPRequestHead,
        link route: ArtifactRoute?,
        authorization: Authorization,
        encrypted: Bool,
        metrics: BuildMetrics
    ) -> HTTPResponse {
        guard let route else { return .refusal(Self.notFound) }
        // Like nginx, on the event loop: a cached manifest, a stat and (for a file not in memory)
        // a few openat calls on local disk cost microseconds; only bulk reads go to the thread pool.
        guard let (manifest, prepared) = cache.prepared(buildID: route.buildID, name: route.name, in: store) else {
            return .refusal(Self.notFound)
        }
        if case .granted(let grant) = authorization {
            do {
                try grant.check(project: manifest.project)
            } catch {
                return .refusal(error)
            }
        }
        let zipRequest = prepared.artifact.contentType == "application/zip" ? ZipArtifact.Request(query: route.query) : nil
        let response = ArtifactResponse(request: head, prepared: prepared, inline: InlineArtifact.isRequested(route.query))
        // A small file in memory: any single range of it, written at once.
        if zipRequest == nil, let content = prepared.content {
            switch response.body {
            case .none:
                return .complete(response.status, response.headers, nil)
            case .bytes(let range):
                metrics.artifactBytesServed(range.count)
                return .complete(response.status, response.headers, content.getSlice(at: range.lowerBound, length: range.count))
            case .multipart:
                break
            }
        }
        guard let opened = store.open(buildID: route.buildID, name: route.name, manifest: manifest) else {
            return .refusal(Self.notFound)
        }
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: opened.descriptor)
        if let zipRequest {
            defer { try? file.close() }
            return ZipArtifact.respond(
                zipRequest,
                head: head,
                route: route,
                descriptor: opened.descriptor,
                artifact: opened.artifact,
                metrics: metrics
            )
        }
        switch response.body {
        case .none:
            try? file.close()
            return .complete(response.status, response.headers, nil)
        case .bytes(let range) where range.count <= Self.inlineReadLimit:
            defer { try? file.close() }
            guard let body = try? file.withUnsafeFileDescriptor({ try Self.read($0, offset: range.lowerBound, count: range.count) }) else {
                return .refusal(ServiceError(.internalError, "the artifact could not be read"))
            }
            metrics.artifactBytesServed(body.readableBytes)
            return .complete(response.status, response.headers, body)
        case let body:
            let (status, headers) = (response.status, response.headers)
            return .streamed { stream in
                await self.stream(file, status: status, headers: headers, body: body, to: stream, encrypted: encrypted, metrics: metrics)
            }
        }
    }

    /// Streams a prepared file body; closes the file at the end.
    private func stream(
        _ file: NIOFileHandle,
        status: HTTPResponseStatus,
        headers: HTTPHeaders,
        body: ArtifactResponse.Body,
        to response: ResponseStream,
        encrypted: Bool,
        metrics: BuildMetrics
    ) async {
        defer { try? file.close() }
        let channel = response.channel
        channel.write(response.head(status, headers), promise: nil)
        do {
            switch body {
            case .none:
                break
            case .bytes(let range):
                try await send(file, range: range, to: response, encrypted: encrypted)
                metrics.artifactBytesServed(range.count)
            case .multipart(let parts, let closing):
                for (header, range) in parts {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: header))), promise: nil)
                    try await send(file, range: range, to: response, encrypted: encrypted)
                    metrics.artifactBytesServed(range.count)
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
    private func send(_ file: NIOFileHandle, range: ClosedRange<Int>, to response: ResponseStream, encrypted: Bool) async throws {
        let (channel, sendTimeout) = (response.channel, response.sendTimeout)
        let descriptor = try file.withUnsafeFileDescriptor { $0 }
        if range.count <= Self.inlineReadLimit {
            let chunk = try Self.read(descriptor, offset: range.lowerBound, count: range.count)
            try await SendDeadline.awaitCompletion(
                channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(chunk))),
                on: channel,
                timeout: sendTimeout
            )
            return
        }
        var offset = range.lowerBound
        var inFlight: EventLoopFuture<Void>?
        while offset <= range.upperBound {
            let count = min(Self.chunkSize, range.upperBound + 1 - offset)
            let part: HTTPServerResponsePart
            if encrypted {
                let start = offset
                let chunk = try await NIOThreadPool.singleton.runIfActive { try Self.read(descriptor, offset: start, count: count) }
                part = .body(.byteBuffer(chunk))
            } else {
                part = .body(.fileRegion(FileRegion(fileHandle: file, readerIndex: offset, endIndex: offset + count)))
            }
            if let inFlight { try await SendDeadline.awaitCompletion(inFlight, on: channel, timeout: sendTimeout) }
            inFlight = channel.writeAndFlush(part)
            offset += count
        }
        if let inFlight { try await SendDeadline.awaitCompletion(inFlight, on: channel, timeout: sendTimeout) }
    }

    /// `count` bytes at `offset`, whole or an error.
    static func read(_ descriptor: Int32, offset: Int, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            max(0, pread(descriptor, bytes.baseAddress, count, off_t(offset)))
        }
        guard read == count else { throw IOError(errnoCode: EIO, reason: "short read of a stored artifact") }
        return buffer
    }

    /// One answer for every kind of miss, so a probe learns nothing about what exists.
    static let notFound = ServiceError(.notFound, "no such artifact")
}
