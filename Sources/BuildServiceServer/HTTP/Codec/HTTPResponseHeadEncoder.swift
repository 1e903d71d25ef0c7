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
        if head.status == .ok {
            buffer.writeStaticString("200 OK\r\n")
        } else {
            buffer.writeString(String(head.status.code))
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeString(head.status.reasonPhrase)
            buffer.writeStaticString("\r\n")
        }
        var hasLength = false
        var chunked = false
        for (name, value) in head.headers {
            // One pass over each name and value's bytes, checked as they are copied.
            var name = name
            var value = value
            let valid = name.withUTF8 { nameBytes in
                value.withUTF8 { valueBytes in
                    guard !nameBytes.isEmpty, nameBytes.allSatisfy(HTTPSyntax.isTokenByte),
                        !valueBytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 })
                    else { return false }
                    buffer.writeBytes(nameBytes)
                    buffer.writeInteger(0x3A20 as UInt16)  // ": "
                    buffer.writeBytes(valueBytes)
                    buffer.writeInteger(0x0D0A as UInt16)
                    if HTTPSyntax.equalsIgnoringCase(nameBytes, "content-length") {
                        hasLength = true
                    } else if HTTPSyntax.equalsIgnoringCase(nameBytes, "transfer-encoding") {
                        chunked = chunked || String(decoding: valueBytes, as: UTF8.self).lowercased().contains("chunked")
                    }
                    return true
                }
            }
            guard valid else { throw InvalidHeader(name: name) }
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
}
