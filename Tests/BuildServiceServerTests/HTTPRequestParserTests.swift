import NIOCore
import NIOHTTP1
import Testing

@testable import BuildServiceServer

/// The daemon's own HTTP/1.1 request parser: what it reads, in one read or a byte at a time,
/// and every framing a hostile client could use to make it and another reader disagree on
/// where a request ends (request smuggling), refused with a message that names the fault.
@Suite struct HTTPRequestParserTests {
    /// What the parser made of `input`, fed in pieces of `step` bytes: the parts (bodies
    /// joined), or the failure's message.
    private func parse(_ input: String, step: Int? = nil) -> (parts: [String], failure: String?) {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer()
        var parts: [String] = []
        let bytes = Array(input.utf8)
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + (step ?? bytes.count))
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            do {
                while let part = try parser.next(&buffer) {
                    switch part {
                    case .head(let head):
                        let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
                        parts.append("\(head.method.rawValue) \(head.uri) \(head.version) [\(fields)]")
                    case .body(let body):
                        if let last = parts.last, last.hasPrefix("body:") {
                            parts[parts.count - 1] = last + String(buffer: body)
                        } else {
                            parts.append("body:" + String(buffer: body))
                        }
                    case .end:
                        parts.append("end")
                    }
                }
            } catch {
                return (parts, error.message)
            }
        } while offset < bytes.count
        return (parts, nil)
    }

    @Test func aRequestIsReadTheSameWholeOrAByteAtATime() {
        let input =
            "\r\nGET /v1/builds?limit=2 HTTP/1.1\r\nHost: x\r\nX-Spaced:  a b \t\r\n\r\n"
            + "POST /v1/builds HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /x HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n3;name=value\r\nabc\r\n002\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
            + "HEAD /healthz HTTP/1.0\r\n\r\n"
        let expected = [
            "GET /v1/builds?limit=2 HTTP/1.1 [Host=x,X-Spaced=a b]", "end",
            "POST /v1/builds HTTP/1.1 [Content-Length=5]", "body:hello", "end",
            "POST /x HTTP/1.1 [transfer-encoding=Chunked]", "body:abcde", "end",
            "HEAD /healthz HTTP/1.0 []", "end",
        ]
        let whole = parse(input)
        #expect(whole.failure == nil)
        #expect(whole.parts == expected)
        for step in [1, 2, 3, 7] {
            let pieces = parse(input, step: step)
            #expect(pieces.failure == nil, "step \(step)")
            #expect(pieces.parts == expected, "step \(step)")
        }
    }

    @Test func anIncompleteRequestWaitsForMoreBytes() {
        #expect(parse("GET / HTTP/1.1\r\nHost: x\r\n").parts.isEmpty)
        #expect(parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").parts == ["POST / HTTP/1.1 [Content-Length=10]", "body:abc"])
    }

    /// Each framing someone could read differently, refused with a message naming the fault.
    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: x\r\n\r\n", "bare LF"),
        ("GET / HTTP/1.1\r\nHost: x\n\r\n", "bare LF"),
        ("GET / HTTP/1.1\r\nHost: x\ry: z\r\n\r\n", "control character"),
        ("GET / HTTP/1.1\r\nX-A: 1\r\n continued\r\n\r\n", "obsolete line folding"),
        ("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello", "not a token"),
        ("GET / HTTP/1.1\r\n: empty\r\n\r\n", "not a token"),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "no colon"),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "more than one Content-Length"),
        ("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello", "Content-Length \"5, 5\""),
        ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", "Content-Length \"+5\""),
        ("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello", "Content-Length \"0x5\""),
        ("POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", "Content-Length"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding \"gzip, chunked\" is not supported"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", "is not supported"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "more than one Transfer-Encoding"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.0"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", "hex size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", "hex size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "more than 15 hex digits"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", "not followed by CRLF"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", "bare LF"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\u{1}\r\nhello\r\n0\r\n\r\n", "other than a hex size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n0\r\n\r\n", "other than a hex size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a\r\nhello\r\n0\r\n\r\n", "other than a hex size"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n", "not a token"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", "framing fields"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\ncontent-length: 5\r\n\r\n", "framing fields"),
        ("GET / HTTP/1.2\r\n\r\n", "HTTP version \"1.2\" is not supported"),
        ("GET / HTTP/2.0\r\n\r\n", "is not supported"),
        ("GET / http/1.1\r\n\r\n", "protocol version"),
        ("GET  / HTTP/1.1\r\n\r\n", "target is empty"),
        ("GET / HTTP/1.1 \r\n\r\n", "protocol version"),
        ("GET /a\u{7F}b HTTP/1.1\r\n\r\n", "control characters"),
        ("G(T / HTTP/1.1\r\n\r\n", "method is not a token"),
        ("GET v1/builds HTTP/1.1\r\n\r\n", "is not a path"),
        ("GET http:/x HTTP/1.1\r\n\r\n", "is not a path"),
        ("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n", "control character"),
    ])
    func aFramingThatCouldBeReadTwoWaysIsRefused(input: String, fault: String) {
        let result = parse(input)
        #expect(result.failure?.contains(fault) == true, "\(result)")
        // A refusal is never preceded by a head that would have been answered.
        #expect(!result.parts.contains("end"), "\(result.parts)")
        // A byte at a time, the same refusal.
        #expect(parse(input, step: 1).failure == result.failure)
    }

    @Test(arguments: [[0xFF, 0xFE], Array("\u{E9}".utf8)])
    func aTargetWithBytesOutsideASCIIIsRefused(bytes: [UInt8]) {
        var buffer = ByteBuffer(bytes: Array("GET /caf".utf8) + bytes + Array(" HTTP/1.1\r\n\r\n".utf8))
        var parser = HTTPRequestParser()
        #expect(throws: HTTPRequestParser.Failure.self) { try parser.next(&buffer) }
        var encoded = ByteBuffer(string: "GET /caf%C3%A9 HTTP/1.1\r\n\r\n")
        var reader = HTTPRequestParser()
        #expect((try? reader.next(&encoded)) == .head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/caf%C3%A9")))
    }

    @Test func aHeadOverTheLimitIsRefusedBeforeItEnds() {
        let filler = String(repeating: "X-Filler: " + String(repeating: "a", count: 990) + "\r\n", count: 82)
        let result = parse("GET / HTTP/1.1\r\n" + filler, step: 4096)
        #expect(result.failure?.contains("larger than \(HTTPRequestParser.maxHeadBytes) bytes") == true, "\(result)")
        let many = String(repeating: "X: y\r\n", count: HTTPRequestParser.maxHeaderCount + 1)
        #expect(parse("GET / HTTP/1.1\r\n" + many + "\r\n").failure?.contains("more than \(HTTPRequestParser.maxHeaderCount) header fields") == true)
        let fewEnough = String(repeating: "X: y\r\n", count: HTTPRequestParser.maxHeaderCount)
        #expect(parse("GET / HTTP/1.1\r\n" + fewEnough + "\r\n").failure == nil)
    }

    @Test func anUnknownMethodIsReadAndLeftToTheRouter() {
        #expect(parse("BREW /pot HTTP/1.1\r\n\r\n").parts == ["BREW /pot HTTP/1.1 []", "end"])
    }
}
