import NIOCore
import NIOHTTP1

/// Writes a response head as bytes and decides how its body is framed, as NIO's response encoder
/// did: `Content-Length` as given, `Transfer-Encoding: chunked` as given or added to an HTTP/1.1
/// response that has neither (an HTTP/1.0 one is delimited by the connection's close), and no
/// framing at all for statuses that have no body (1xx, 204, 304).
///
/// Header names must be tokens and values must not hold CR, LF or NUL (the checks of NIO's
/// outbound header validator): a file name or a message taken from a build's tree can never
/// start a header of its own, or a second response.
enum HTTPResponseHeadEncoder {
    enum Framing {
        /// Bytes as they are written (a `Content-Length` body, or until the connection closes).
        case identity
        case chunked
    }

    struct InvalidHeader: Error, CustomStringConvertible {
        let name: String
        var description: String { "response header \(name) has a name that is not a token or a value with CR, LF or NUL" }
    }

    static func write(_ head: HTTPResponseHead, to buffer: inout ByteBuffer) throws(InvalidHeader) -> Framing {
        buffer.writeStaticString(head.version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(head.status.code))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(head.status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        var hasLength = false
        var chunked = false
        for (name, value) in head.headers {
            let nameStart = buffer.writerIndex
            buffer.writeString(name)
            let nameEnd = buffer.writerIndex
            buffer.writeStaticString(": ")
            let valueStart = buffer.writerIndex
            buffer.writeString(value)
            let valueEnd = buffer.writerIndex
            buffer.writeStaticString("\r\n")
            guard
                nameEnd > nameStart, Self.all(in: buffer, nameStart..<nameEnd, satisfy: HTTPSyntax.isTokenByte),
                Self.all(in: buffer, valueStart..<valueEnd, satisfy: { $0 != 0x0D && $0 != 0x0A && $0 != 0x00 })
            else {
                throw InvalidHeader(name: name)
            }
            if HTTPSyntax.equalsIgnoringCase(name.utf8, "content-length") {
                hasLength = true
            } else if HTTPSyntax.equalsIgnoringCase(name.utf8, "transfer-encoding") {
                chunked = chunked || value.lowercased().contains("chunked")
            }
        }
        let code = head.status.code
        let hasBody = code >= 200 && code != 204 && code != 304
        let framing: Framing
        if !hasBody || (hasLength && !chunked) {
            framing = .identity
        } else if chunked {
            framing = .chunked
        } else if head.version.minor >= 1 {
            buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
            framing = .chunked
        } else {
            framing = .identity
        }
        buffer.writeStaticString("\r\n")
        return framing
    }

    /// The size line of one chunk of `count` bytes.
    static func writeChunkHeader(_ count: Int, to buffer: inout ByteBuffer) {
        buffer.writeString(String(count, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    private static func all(in buffer: ByteBuffer, _ range: Range<Int>, satisfy test: (UInt8) -> Bool) -> Bool {
        buffer.withVeryUnsafeBytes { bytes in bytes[range].allSatisfy(test) }
    }
}
