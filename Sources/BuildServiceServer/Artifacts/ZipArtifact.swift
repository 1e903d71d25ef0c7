import BuildServiceCore
import BuildServiceProtocol
import NIOCore
import NIOHTTP1
import NIOPosix

/// A zip artifact (a directory artifact is stored as one) opened entry by entry:
/// `?index=1` lists its entries as a page, `?entry=PATH` serves one of them like a file of its
/// own (Range, conditional requests, `inline=1`), inflated as it is sent, never unpacked to
/// disk. The link's signature is the zip's: whoever may download the zip may read its entries.
enum ZipArtifact {
    /// What a request asks of a zip, from its query.
    enum Request {
        case index
        case entry(String)

        init?(query: [String: String]) {
            if let entry = query["entry"] {
                self = .entry(entry)
            } else if query["index"] == "1" {
                self = .index
            } else {
                return nil
            }
        }
    }

    /// Bytes inflated per step; at most one step's write is in flight.
    static let chunkSize = 256 * 1024

    static func respond(
        _ request: Request,
        head: HTTPRequestHead,
        route: ArtifactRoute,
        descriptor: Int32,
        artifact: StoredArtifact,
        metrics: BuildMetrics
    ) -> HTTPResponse {
        let directory: ZipDirectory
        do {
            directory = try ZipDirectory(descriptor: descriptor, fileSize: artifact.size)
        } catch {
            return .refusal(ServiceError(.invalidRequest, "\(route.name) is \(error)"))
        }
        switch request {
        case .index:
            return .page(.ok, indexPage(directory, route: route, artifact: artifact), policy: "default-src 'none'; style-src 'self'")
        case .entry(let path):
            guard let entry = directory.file(path) else { return .refusal(ServiceError(.notFound, "no file \(path.prefix(200)) in \(route.name)")) }
            return serve(entry, head: head, route: route, descriptor: descriptor, zip: artifact, metrics: metrics)
        }
    }

    private static func serve(
        _ entry: ZipDirectory.Entry,
        head: HTTPRequestHead,
        route: ArtifactRoute,
        descriptor: Int32,
        zip: StoredArtifact,
        metrics: BuildMetrics
    ) -> HTTPResponse {
        // The entry as a file of its own: its name, type and size; an ETag from the zip's digest
        // and the entry's CRC, so it changes with either.
        let asFile = StoredArtifact(
            name: entry.path,
            size: entry.size,
            sha256: String(zip.sha256.prefix(16)) + "-" + String(entry.crc32, radix: 16),
            contentType: ContentType.forName(entry.path),
            modified: zip.modified
        )
        var head = head
        // One range at most: an inflated entry is read front to back, once.
        if case .partial(let ranges) = ByteRanges.evaluate(head.headers.first(name: "Range"), size: entry.size), ranges.count > 1 {
            head.headers.remove(name: "Range")
        }
        let response = ArtifactResponse(request: head, artifact: asFile, inline: InlineArtifact.isRequested(route.query))
        guard case .bytes(let range) = response.body else { return .complete(response.status, response.headers, nil) }
        let reader: ZipEntryReader
        do {
            reader = try ZipEntryReader(descriptor: descriptor, entry: entry)
        } catch {
            return .refusal(ServiceError(.internalError, error.description))
        }
        let (status, headers) = (response.status, response.headers)
        return .streamed { stream in
            let channel = stream.channel
            channel.write(stream.head(status, headers), promise: nil)
            do {
                try await NIOThreadPool.singleton.runIfActive { try reader.skip(range.lowerBound) }
                var left = range.count
                while left > 0 {
                    let limit = min(left, chunkSize)
                    let bytes = try await NIOThreadPool.singleton.runIfActive { try reader.next(limit: limit) }
                    guard !bytes.isEmpty else { throw ZipEntryReader.ReadError.damaged("it ended early") }
                    left -= bytes.count
                    let write: EventLoopFuture<Void> = channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))))
                    try await SendDeadline.awaitCompletion(write, on: channel, timeout: stream.sendTimeout)
                    metrics.artifactBytesServed(bytes.count)
                }
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
            } catch {
                // The client went away, or the entry could not be read: the response is cut short.
                channel.close(promise: nil)
            }
        }
    }

    /// The entries, each linked to itself (and "view" where it opens inline), with the zip's
    /// own signature carried over.
    private static func indexPage(_ directory: ZipDirectory, route: ArtifactRoute, artifact: StoredArtifact) -> String {
        // The zip's signature, for each link (escaped: it came in the request).
        var signature = ""
        if let expires = route.query["expires"], let sig = route.query["sig"] {
            signature =
                "expires=\(HTMLText.escaped(ArtifactPublisher.percentEncodedPath(expires)))&amp;sig=\(HTMLText.escaped(ArtifactPublisher.percentEncodedPath(sig)))"
        }
        let then = signature.isEmpty ? "" : "&amp;"
        let base = HTMLText.escaped(route.name.split(separator: "/").last.map(String.init) ?? route.name)
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTMLText.escaped(route.name))</title>
            <link rel="stylesheet" href="\(PageAssets.styleSheetPath)"></head><body>
            <h1><code>\(HTMLText.escaped(route.name))</code></h1>
            <p class="muted">\(directory.entries.filter(\.isFile).count) files, \(ByteCountText.of(artifact.size)) as a zip. \
            <a href="\(base)\(signature.isEmpty ? "" : "?" + signature)" download>Download the zip</a></p>
            <div class="table"><table><thead><tr><th>File</th><th>Size</th></tr></thead><tbody>

            """
        for entry in directory.entries where entry.isFile {
            let link = "\(base)?\(signature)\(then)entry=\(HTMLText.escaped(ArtifactPublisher.percentEncodedPath(entry.path)))"
            page += "<tr><td><a href=\"\(link)\" download>\(HTMLText.escaped(entry.path))</a>"
            if InlineArtifact.presentation(contentType: ContentType.forName(entry.path)) != nil {
                page += " <a class=\"view\" href=\"\(link)&amp;inline=1\" target=\"_blank\" rel=\"noopener\">view</a>"
            }
            page += "</td><td class=\"size\">\(ByteCountText.of(entry.size))</td></tr>\n"
        }
        return page + "</tbody></table></div>\n</body></html>\n"
    }
}
