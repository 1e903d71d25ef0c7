package import NIOCore
package import NIOHTTP1

/// Reads HTTP/1.1 requests from the bytes of a connection, a part at a time: the head, the body
/// in slices of the input (no copy), the end. It replaces NIO's llhttp-based decoder on the
/// daemon's side, which built the request through a dozen callbacks and handlers per request.
///
/// This is the internet-facing parser, so it is strict where a lenient reading could be read
/// differently by something else (RFC 9112 §11.2, request smuggling): lines end with CRLF and
/// nothing else, a field name is followed by its colon directly, no obsolete line folding, no
/// control characters, `Content-Length` only once and only digits, `Transfer-Encoding` only
/// `chunked` and never together with a length. Whatever it refuses is a `Failure`, answered with
/// 400 and the connection closed (`HTTPServerCodec`). The fuzz target `http-request` checks that
/// it accepts nothing NIO's decoder refuses, and reads what both accept the same way.
package struct HTTPRequestParser {
    /// NIO's decoder allowed 80 KiB of header fields; nginx allows 32 KiB by default.
    static let maxHeadBytes = 80 * 1024
    static let maxHeaderCount = 256
    /// A chunk's size line (hex digits and extensions) or a trailer field.
    static let maxChunkLineBytes = 4096

    package struct Failure: Error, Equatable {
        /// Says what was wrong and with which part of the request; sent to the client.
        package let message: String
    }

    package enum Part: Equatable {
        case head(HTTPRequestHead)
        case body(ByteBuffer)
        case end
    }

    private enum State {
        /// Before a request line (or the empty lines a client may send before one).
        case head
        /// A head without a body was returned: its end comes next.
        case endOfMessage
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkDataEnd
        /// After the last chunk: trailer fields (read and dropped) up to an empty line.
        case trailers(bytesSoFar: Int)
    }

    private var state = State.head

    package init() {}
    /// How far the search for the end of the current head got, so that a head trickled in a
    /// byte at a time is scanned once, not once per byte.
    private var headScanned = 0

    /// The next part from `buffer` (its read bytes consumed), or nil when more bytes are needed.
    package mutating func next(_ buffer: inout ByteBuffer) throws(Failure) -> Part? {
        // A loop, not recursion: the lines between two parts (chunk sizes, trailer fields) can
        // be many.
        while true {
            switch state {
            case .head:
                return try nextHead(&buffer)
            case .endOfMessage:
                state = .head
                return .end
            case .fixedBody(let remaining):
                if remaining == 0 {
                    state = .head
                    return .end
                }
                guard let slice = Self.readUpTo(remaining, from: &buffer) else { return nil }
                state = .fixedBody(remaining: remaining - slice.readableBytes)
                return .body(slice)
            case .chunkSize:
                guard let line = try Self.readLine(from: &buffer, what: "a chunk's size line") else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers(bytesSoFar: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard let slice = Self.readUpTo(remaining, from: &buffer) else { return nil }
                let left = remaining - slice.readableBytes
                state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
                return .body(slice)
            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                    throw Failure(message: "a chunk's data is not followed by CRLF: the chunk size does not match its data")
                }
                state = .chunkSize
            case .trailers(let bytesSoFar):
                guard let line = try Self.readLine(from: &buffer, what: "a trailer field") else { return nil }
                if line.isEmpty {
                    state = .head
                    return .end
                }
                let total = bytesSoFar + line.count + 2
                guard total <= Self.maxHeadBytes else {
                    throw Failure(message: "the trailer fields are larger than \(Self.maxHeadBytes) bytes")
                }
                // Checked like a header field, then dropped (nothing here reads trailers). The
                // framing fields have no place there (RFC 9110 §6.5.1).
                let checked: Result<Void, Failure> = line.withUnsafeBytes { bytes in
                    Result { () throws(Failure) in
                        let (name, _) = try Self.field(bytes[...])
                        if HTTPSyntax.equalsIgnoringCase(name, "content-length") || HTTPSyntax.equalsIgnoringCase(name, "transfer-encoding") {
                            throw Failure(message: "a trailer field is \(Self.printable(name)): framing fields belong in the head")
                        }
                    }
                }
                try checked.get()
                state = .trailers(bytesSoFar: total)
            }
        }
    }

    // MARK: The head

    private mutating func nextHead(_ buffer: inout ByteBuffer) throws(Failure) -> Part? {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            headScanned = max(0, headScanned - 2)
        }
        guard let headLength = try findEndOfHead(in: buffer) else { return nil }
        headScanned = 0
        let parsed: Result<ParsedHead, Failure> = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(Failure) in try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<headLength])) }
        }
        let head = try parsed.get()
        buffer.moveReaderIndex(forwardBy: headLength)
        state = head.framing
        return .head(head.head)
    }

    /// The length of the head (up to and with its empty line), nil while it is incomplete. A
    /// line feed without its carriage return fails here, at once, not at the size limit.
    private mutating func findEndOfHead(in buffer: ByteBuffer) throws(Failure) -> Int? {
        let scanFrom = headScanned
        let scan: Result<Int?, Failure> = buffer.withUnsafeReadableBytes { bytes in
            var index = scanFrom
            // Not past the limit: whatever is wrong beyond it, the answer is the same for the
            // same bytes however they were split into reads.
            while index < min(bytes.count, Self.maxHeadBytes) {
                if bytes[index] == 0x0A {
                    guard index > 0, bytes[index - 1] == 0x0D else {
                        return .failure(Failure(message: "a line of the request head ends with a bare LF: lines end with CRLF"))
                    }
                    if index >= 3, bytes[index - 2] == 0x0A { return .success(index + 1) }
                }
                index += 1
            }
            return .success(nil)
        }
        let found = try scan.get()
        if let found {
            guard found <= Self.maxHeadBytes else { throw headTooLarge }
            return found
        }
        headScanned = buffer.readableBytes
        guard buffer.readableBytes <= Self.maxHeadBytes else { throw headTooLarge }
        return nil
    }

    private var headTooLarge: Failure {
        Failure(message: "the request head (request line and header fields) is larger than \(Self.maxHeadBytes) bytes")
    }

    private struct ParsedHead {
        let head: HTTPRequestHead
        let framing: State
    }

    /// The whole head, CRLFs included; every line is known to end with CRLF.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> ParsedHead {
        var lineStart = 0
        func nextLine() -> Slice<UnsafeRawBufferPointer> {
            var end = lineStart
            while bytes[end] != 0x0A { end += 1 }
            defer { lineStart = end + 1 }
            return bytes[lineStart..<(end - 1)]  // without CRLF
        }
        let (method, uri, version) = try requestLine(nextLine())
        var headers: [(String, String)] = []
        var contentLength: Int?
        var chunked = false
        while true {
            let line = nextLine()
            if line.isEmpty { break }
            guard headers.count < maxHeaderCount else { throw Failure(message: "the request has more than \(maxHeaderCount) header fields") }
            let (name, value) = try field(line)
            if HTTPSyntax.equalsIgnoringCase(name, "content-length") {
                guard contentLength == nil else { throw Failure(message: "the request has more than one Content-Length field") }
                contentLength = try length(value)
            } else if HTTPSyntax.equalsIgnoringCase(name, "transfer-encoding") {
                guard !chunked else { throw Failure(message: "the request has more than one Transfer-Encoding field") }
                guard HTTPSyntax.equalsIgnoringCase(value, "chunked") else {
                    throw Failure(message: "Transfer-Encoding \(printable(value)) is not supported: send chunked, or a Content-Length")
                }
                chunked = true
            }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        let framing: State
        switch (contentLength, chunked) {
        case (.some, true):
            throw Failure(message: "the request has both Content-Length and Transfer-Encoding: send one of them")
        case (_, true):
            guard version.minor == 1 else { throw Failure(message: "Transfer-Encoding is not allowed in an HTTP/1.0 request") }
            framing = .chunkSize
        case (let length?, false) where length > 0:
            framing = .fixedBody(remaining: length)
        default:
            framing = .endOfMessage
        }
        let head = HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
        return ParsedHead(head: head, framing: framing)
    }

    /// `method SP request-target SP HTTP/1.x`, each separated by exactly one space.
    private static func requestLine(_ line: Slice<UnsafeRawBufferPointer>) throws(Failure) -> (HTTPMethod, String, HTTPVersion) {
        guard let firstSpace = line.firstIndex(of: 0x20) else { throw Failure(message: "the request line is not `METHOD target HTTP/1.1`") }
        let methodBytes = line[line.startIndex..<firstSpace]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPSyntax.isTokenByte) else {
            throw Failure(message: "the request method is not a token (letters, digits and !#$%&'*+-.^_`|~)")
        }
        let rest = line[(firstSpace + 1)...]
        guard let secondSpace = rest.firstIndex(of: 0x20) else { throw Failure(message: "the request line is not `METHOD target HTTP/1.1`") }
        let target = rest[rest.startIndex..<secondSpace]
        guard !target.isEmpty, target.allSatisfy(isTargetByte) else {
            throw Failure(message: "the request target is empty or holds spaces, control characters or non-ASCII bytes: percent-encode them")
        }
        guard isTargetForm(target) else {
            throw Failure(message: "the request target \(printable(target)) is not a path (/…), * or an absolute URL (http://…)")
        }
        let versionBytes = rest[(secondSpace + 1)...]
        guard versionBytes.count == 8, versionBytes.starts(with: "HTTP/".utf8), versionBytes[versionBytes.startIndex + 6] == 0x2E else {
            throw Failure(message: "the request line does not end with the protocol version (HTTP/1.1)")
        }
        let major = versionBytes[versionBytes.startIndex + 5]
        let minor = versionBytes[versionBytes.startIndex + 7]
        guard major == 0x31, minor == 0x30 || minor == 0x31 else {
            throw Failure(message: "HTTP version \(printable(versionBytes.dropFirst(5))) is not supported: use HTTP/1.1")
        }
        return (method(methodBytes), String(decoding: target, as: UTF8.self), HTTPVersion(major: 1, minor: minor == 0x31 ? 1 : 0))
    }

    /// The methods the daemon answers, without a string; any other token as NIO names it (the
    /// router answers 405 with the methods a route allows).
    private static func method(_ bytes: Slice<UnsafeRawBufferPointer>) -> HTTPMethod {
        if bytes.elementsEqual("GET".utf8) { return .GET }
        if bytes.elementsEqual("HEAD".utf8) { return .HEAD }
        if bytes.elementsEqual("POST".utf8) { return .POST }
        if bytes.elementsEqual("DELETE".utf8) { return .DELETE }
        return HTTPMethod(rawValue: String(decoding: bytes, as: UTF8.self))
    }

    /// `name ":" OWS value OWS`: the name and the value without the white space around it.
    private static func field(
        _ line: Slice<UnsafeRawBufferPointer>
    ) throws(Failure) -> (name: Slice<UnsafeRawBufferPointer>, value: Slice<UnsafeRawBufferPointer>) {
        if let first = line.first, first == 0x20 || first == 0x09 {
            throw Failure(message: "a header field is continued on an indented line (obsolete line folding): send it on one line")
        }
        guard let colon = line.firstIndex(of: 0x3A) else { throw Failure(message: "a header line has no colon: \(printable(line))") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(HTTPSyntax.isTokenByte) else {
            throw Failure(
                message: "the header field name \(printable(name)) is not a token (no spaces, also not before the colon)"
            )
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
        guard value.allSatisfy(isFieldValueByte) else {
            throw Failure(message: "the value of header field \(printable(name)) holds a control character (a CR, LF or NUL, say)")
        }
        return (name, value)
    }

    private static func length(_ value: Slice<UnsafeRawBufferPointer>) throws(Failure) -> Int {
        guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw Failure(message: "Content-Length \(printable(value)) is not a number of bytes (digits only, one value)")
        }
        return value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// `1*HEXDIG [ BWS ";" chunk-ext ]`: the size; extensions are allowed and ignored.
    private static func chunkSize(_ line: [UInt8]) throws(Failure) -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            guard let digit = HTTPSyntax.hexValue(byte) else { break }
            guard digits < 15 else { throw Failure(message: "a chunk size has more than 15 hex digits") }
            size = size << 4 | Int(digit)
            digits += 1
        }
        guard digits > 0 else { throw Failure(message: "a chunk's size line does not start with a hex size") }
        guard isChunkExtensions(line[digits...]) else {
            throw Failure(message: "a chunk's size line holds something other than a hex size and ;name=value extensions")
        }
        return size
    }

    /// `*( ";" token [ "=" token ] )`: extensions are allowed and ignored. Quoted values and
    /// white space, which no client sends, are refused rather than read one way of several.
    private static func isChunkExtensions(_ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        while let semicolon = rest.first {
            guard semicolon == 0x3B else { return false }
            rest = rest.dropFirst()
            let name = rest.prefix(while: HTTPSyntax.isTokenByte)
            guard !name.isEmpty else { return false }
            rest = rest.dropFirst(name.count)
            if rest.first == 0x3D {
                rest = rest.dropFirst()
                let value = rest.prefix(while: HTTPSyntax.isTokenByte)
                guard !value.isEmpty else { return false }
                rest = rest.dropFirst(value.count)
            }
        }
        return true
    }

    // MARK: Bytes

    /// Up to `limit` readable bytes as a slice of the buffer; nil when it has none.
    private static func readUpTo(_ limit: Int, from buffer: inout ByteBuffer) -> ByteBuffer? {
        guard buffer.readableBytes > 0 else { return nil }
        return buffer.readSlice(length: min(limit, buffer.readableBytes))
    }

    /// A line without its CRLF, consumed; nil while it is incomplete.
    private static func readLine(from buffer: inout ByteBuffer, what: String) throws(Failure) -> [UInt8]? {
        let limit = maxChunkLineBytes
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 0x0A) else {
            guard view.count <= limit else { throw Failure(message: "\(what) is longer than \(limit) bytes") }
            return nil
        }
        let length = lf - view.startIndex
        guard length <= limit else { throw Failure(message: "\(what) is longer than \(limit) bytes") }
        guard length > 0, view[lf - 1] == 0x0D else { throw Failure(message: "\(what) ends with a bare LF: lines end with CRLF") }
        let line = Array(view[view.startIndex..<(lf - 1)])
        buffer.moveReaderIndex(forwardBy: length + 1)
        return line
    }

    /// origin-form (`/path`), asterisk-form, or absolute-form (`scheme://…`, RFC 9112 §3.2): what
    /// llhttp reads as a target too. The router answers the path; anything else is not found.
    private static func isTargetForm(_ target: Slice<UnsafeRawBufferPointer>) -> Bool {
        if target.first == UInt8(ascii: "/") || target.elementsEqual("*".utf8) { return true }
        let scheme = target.prefix { byte in
            (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
        }
        return !scheme.isEmpty && target[scheme.endIndex...].starts(with: "://".utf8)
    }

    /// Visible ASCII: no space, no control, nothing above (llhttp refuses those too; a client
    /// percent-encodes them).
    private static func isTargetByte(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F
    }

    /// field-vchar, space and tab, and obs-text (RFC 9110 §5.5).
    private static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    /// A part of the request for a message: printable ASCII kept, anything else escaped, cut short.
    private static func printable<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        var text = "\""
        for byte in bytes.prefix(64) {
            text += byte >= 0x20 && byte < 0x7F && byte != 0x22 && byte != 0x5C ? String(UnicodeScalar(byte)) : "\\x" + hex(byte)
        }
        return text + (bytes.count > 64 ? "…\"" : "\"")
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
