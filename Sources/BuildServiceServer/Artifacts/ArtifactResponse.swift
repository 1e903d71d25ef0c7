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
        self.init(request: request, prepared: PreparedArtifact(artifact), inline: inline)
    }

    init(request: HTTPRequestHead, prepared: PreparedArtifact, inline: Bool = false) {
        let artifact = prepared.artifact
        let etag = prepared.etag
        let presentation = inline ? InlineArtifact.presentation(contentType: artifact.contentType) : nil
        let conditional =
            request.headers.contains(name: "If-None-Match") || request.headers.contains(name: "If-Modified-Since")
        let rangeHeader = request.headers.first(name: "Range")
        // The common download: the whole file, headers made once per artifact.
        if presentation == nil, !conditional, rangeHeader == nil {
            let body: Body = request.method == .HEAD || artifact.size == 0 ? .none : .bytes(0...(artifact.size - 1))
            self.init(status: .ok, headers: prepared.fullHeaders, body: body)
            return
        }
        var fields = prepared.validatorHeaders
        if conditional, Self.notModified(request.headers, etag: etag, modified: artifact.modified) {
            self.init(status: .notModified, headers: fields, body: .none)
            return
        }
        var contentType = artifact.contentType
        if let presentation {
            contentType = presentation.contentType
            fields.add(name: "Content-Disposition", value: Self.contentDisposition(for: artifact.name, inline: true))
            fields.add(name: "Content-Security-Policy", value: presentation.policy)
        } else {
            fields.add(name: "Content-Disposition", value: prepared.disposition)
        }
        self.init(request: request, range: rangeHeader, of: prepared, contentType: contentType, fields: fields)
    }

    private init(status: HTTPResponseStatus, headers: HTTPHeaders, body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The answer to a Range request (or a conditional or inline one): 200, 206, multipart or 416.
    private init(request: HTTPRequestHead, range: String?, of prepared: PreparedArtifact, contentType: String, fields: HTTPHeaders) {
        var fields = fields
        var rangeHeader = range
        if rangeHeader != nil, let ifRange = request.headers.first(name: "If-Range"),
            !Self.ifRangeMatches(ifRange, etag: prepared.etag, modified: prepared.artifact.modified)
        {
            rangeHeader = nil
        }
        let size = prepared.artifact.size
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
