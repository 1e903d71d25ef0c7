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

    /// Bytes read from disk per write; the next read overlaps the previous write.
    static let chunkSize = 1 << 20

    func serve(head: HTTPRequestHead, listener: ListenerContext, channel: any Channel, closeAfter: Bool) async {
        let route = ArtifactRoute(uri: head.uri)
        var grant: AccessGrant? = .everything
        if listener.tokens.isRequired {
            if let token = TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization")) {
                grant = listener.tokens.grant(for: token)
                guard grant != nil else { return await reject(BuildEndpoint.unauthorized, head, channel, closeAfter) }
            } else if let route, let expires = route.query["expires"], let signature = route.query["sig"] {
                guard signer.verify(buildID: route.buildID, name: route.name, expires: expires, sig: signature) else {
                    return await reject(Self.badSignature, head, channel, closeAfter)
                }
            } else {
                return await reject(BuildEndpoint.unauthorized, head, channel, closeAfter)
            }
        }
        guard let route else { return await reject(Self.notFound, head, channel, closeAfter) }
        let store = self.store
        let opened = try? await NIOThreadPool.singleton.runIfActive { store.open(buildID: route.buildID, name: route.name) }
        guard let opened = opened ?? nil else { return await reject(Self.notFound, head, channel, closeAfter) }
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: opened.descriptor)
        defer { try? file.close() }
        if let grant {
            do {
                try grant.check(project: opened.manifest.project)
            } catch {
                return await reject(error, head, channel, closeAfter)
            }
        }
        let response = ArtifactResponse(request: head, artifact: opened.artifact)
        var headers = response.headers
        if closeAfter { headers.add(name: "Connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers)), promise: nil)
        do {
            switch response.body {
            case .none:
                break
            case .bytes(let range):
                try await send(file, range: range, channel: channel, listener: listener)
            case .multipart(let parts, let closing):
                for (header, range) in parts {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: header))), promise: nil)
                    try await send(file, range: range, channel: channel, listener: listener)
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
        var offset = range.lowerBound
        var inFlight: EventLoopFuture<Void>?
        while offset <= range.upperBound {
            let count = min(Self.chunkSize, range.upperBound + 1 - offset)
            let part: HTTPServerResponsePart
            if listener.isTLS {
                let start = offset
                let chunk = try await NIOThreadPool.singleton.runIfActive { () throws -> ByteBuffer in
                    var buffer = ByteBufferAllocator().buffer(capacity: count)
                    let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
                        max(0, pread(descriptor, bytes.baseAddress, count, off_t(start)))
                    }
                    guard read == count else { throw IOError(errnoCode: EIO, reason: "short read of a stored artifact") }
                    return buffer
                }
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

    private func reject(_ error: ServiceError, _ head: HTTPRequestHead, _ channel: any Channel, _ closeAfter: Bool) async {
        let (responseHead, body) = ErrorResponse.parts(for: error, version: head.version, close: closeAfter)
        channel.write(HTTPServerResponsePart.head(responseHead), promise: nil)
        if head.method != .HEAD { channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil) }
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
    }

    /// One answer for every kind of miss, so a probe learns nothing about what exists.
    static let notFound = ServiceError(.notFound, "no such artifact")
    static let badSignature = ServiceError(.forbiddenSignature, "the download link's signature is invalid or has expired")
}
