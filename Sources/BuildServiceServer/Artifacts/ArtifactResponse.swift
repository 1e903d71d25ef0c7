import BuildServiceCore
import BuildServiceTLS
import NIOHTTP1

/// What to answer a GET/HEAD for one stored artifact: status, headers and which bytes, from
/// the request's Range and conditional headers. No I/O.
struct ArtifactResponse {
    enum Body {
        case none
        /// One run of the file.
        case bytes(ClosedRange<Int>)
        /// multipart/byteranges: each part's header text, then its bytes; then the closing text.
        case multipart(parts: [(header: String, range: ClosedRange<Int>)], closing: String)
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body

    /// - Parameter inline: shown in the browser (`?inline=1`) where its type allows (see
    ///   `InlineArtifact`); a download otherwise.
    init(request: HTTPRequestHead, artifact: StoredArtifact, inline: Bool = false) {
        // An adopted set's digest may not be computed yet: size and time stand in meanwhile.
        let etag = artifact.sha256.isEmpty ? "\"\(artifact.size)-\(artifact.modified)\"" : "\"\(artifact.sha256)\""
        let lastModified = HTTPDate.format(artifact.modified)
        var fields = HTTPHeaders()
        fields.add(name: "Accept-Ranges", value: "bytes")
        fields.add(name: "ETag", value: etag)
        fields.add(name: "Last-Modified", value: lastModified)
        fields.add(name: "Cache-Control", value: "private")
        fields.add(name: "X-Content-Type-Options", value: "nosniff")

        if Self.notModified(request.headers, etag: etag, modified: artifact.modified) {
            status = .notModified
            self.headers = fields
            body = .none
            return
        }
        var contentType = artifact.contentType
        if inline, let presentation = InlineArtifact.presentation(contentType: artifact.contentType) {
            contentType = presentation.contentType
            fields.add(name: "Content-Disposition", value: Self.contentDisposition(for: artifact.name, inline: true))
            fields.add(name: "Content-Security-Policy", value: presentation.policy)
        } else {
            fields.add(name: "Content-Disposition", value: Self.contentDisposition(for: artifact.name))
        }
        var rangeHeader = request.headers.first(name: "Range")
        if rangeHeader != nil, let ifRange = request.headers.first(name: "If-Range"),
            !Self.ifRangeMatches(ifRange, etag: etag, modified: artifact.modified)
        {
            rangeHeader = nil
        }
        let size = artifact.size
        switch ByteRanges.evaluate(rangeHeader, size: size) {
        case .full:
            status = .ok
            fields.add(name: "Content-Type", value: contentType)
            fields.add(name: "Content-Length", value: String(size))
            body = size > 0 ? .bytes(0...(size - 1)) : .none
        case .unsatisfiable:
            status = .rangeNotSatisfiable
            fields.add(name: "Content-Range", value: "bytes */\(size)")
            fields.add(name: "Content-Length", value: "0")
            body = .none
        case .partial(let ranges) where ranges.count == 1:
            status = .partialContent
            fields.add(name: "Content-Type", value: contentType)
            fields.add(name: "Content-Range", value: "bytes \(ranges[0].lowerBound)-\(ranges[0].upperBound)/\(size)")
            fields.add(name: "Content-Length", value: String(ranges[0].count))
            body = .bytes(ranges[0])
        case .partial(let ranges):
            status = .partialContent
            let boundary = Hex.encode(SecureRandom.bytes(12))
            fields.add(name: "Content-Type", value: "multipart/byteranges; boundary=\(boundary)")
            var parts: [(String, ClosedRange<Int>)] = []
            var length = 0
            for (index, range) in ranges.enumerated() {
                let header =
                    "\(index == 0 ? "" : "\r\n")--\(boundary)\r\nContent-Type: \(contentType)\r\n"
                    + "Content-Range: bytes \(range.lowerBound)-\(range.upperBound)/\(size)\r\n\r\n"
                parts.append((header, range))
                length += header.utf8.count + range.count
            }
            let closing = "\r\n--\(boundary)--\r\n"
            length += closing.utf8.count
            fields.add(name: "Content-Length", value: String(length))
            body = .multipart(parts: parts, closing: closing)
        }
        if request.method == .HEAD { body = .none }
        self.headers = fields
    }

    /// If-None-Match (weak comparison, `*` matches) wins over If-Modified-Since.
    private static func notModified(_ headers: HTTPHeaders, etag: String, modified: Int) -> Bool {
        if let noneMatch = headers.first(name: "If-None-Match") {
            return noneMatch.split(separator: ",").contains { candidate in
                let tag = candidate.trimmingHTTPWhitespace
                return tag == "*" || tag == etag || tag == "W/" + etag
            }
        }
        if let since = headers.first(name: "If-Modified-Since").flatMap(HTTPDate.parse) {
            return modified <= since
        }
        return false
    }

    /// An entity tag must match strongly; a date must be exactly the Last-Modified.
    private static func ifRangeMatches(_ value: String, etag: String, modified: Int) -> Bool {
        let value = String(value.trimmingHTTPWhitespace)
        if value.hasPrefix("\"") || value.hasPrefix("W/") { return value == etag }
        return HTTPDate.parse(value) == modified
    }

    /// RFC 6266: `attachment; filename="ascii"` plus `filename*=UTF-8''…` when the name is
    /// not plain ASCII.
    static func contentDisposition(for name: String, inline: Bool = false) -> String {
        let base = String(name.split(separator: "/").last ?? "artifact")
        var fallback = ""
        var needsExtended = false
        for scalar in base.unicodeScalars {
            if scalar.isASCII, scalar.value >= 0x20, scalar.value != 0x7F, scalar != "\"", scalar != "\\" {
                fallback.unicodeScalars.append(scalar)
            } else {
                fallback += "_"
                needsExtended = true
            }
        }
        var value = "\(inline ? "inline" : "attachment"); filename=\"\(fallback)\""
        if needsExtended {
            var encoded = ""
            for byte in base.utf8 {
                let allowed =
                    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || "!#$&+-.^_`|~".utf8.contains(byte)
                encoded += allowed ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
            }
            value += "; filename*=UTF-8''\(encoded)"
        }
        return value
    }
}
