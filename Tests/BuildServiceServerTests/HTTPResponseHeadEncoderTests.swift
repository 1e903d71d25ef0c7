import NIOCore
import NIOHTTP1
import Testing

@testable import BuildServiceServer

/// Response heads as bytes: the framing NIO's encoder chose, and no header that could end the
/// head early or start another response.
@Suite struct HTTPResponseHeadEncoderTests {
    private func encode(
        _ status: HTTPResponseStatus,
        _ headers: [(String, String)],
        version: HTTPVersion = .http1_1
    ) throws -> (text: String, framing: HTTPResponseHeadEncoder.Framing) {
        var buffer = ByteBuffer()
        let framing = try HTTPResponseHeadEncoder.write(
            HTTPResponseHead(version: version, status: status, headers: HTTPHeaders(headers)),
            to: &buffer
        )
        return (String(buffer: buffer), framing)
    }

    @Test func aHeadIsWrittenAsGivenWithItsFraming() throws {
        let sized = try encode(.ok, [("Content-Type", "text/plain"), ("Content-Length", "5")])
        #expect(sized.text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
        #expect(sized.framing == .identity)
        let chunked = try encode(.ok, [("transfer-encoding", "Chunked")])
        #expect(chunked.text == "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n")
        #expect(chunked.framing == .chunked)
        // Neither: HTTP/1.1 gets chunked added, HTTP/1.0 ends with the connection.
        let open = try encode(.ok, [])
        #expect(open.text == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(open.framing == .chunked)
        let old = try encode(.ok, [], version: .http1_0)
        #expect(old.text == "HTTP/1.0 200 OK\r\n\r\n")
        #expect(old.framing == .identity)
        // No body at all.
        let notModified = try encode(.notModified, [("ETag", "\"x\"")])
        #expect(notModified.text == "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
        #expect(notModified.framing == .identity)
        #expect(try encode(.noContent, []).framing == .identity)
    }

    @Test(arguments: [
        ("Content-Disposition", "attachment; filename=\"a\r\nSet-Cookie: x=1\""),
        ("X-Name", "a\nb"),
        ("X-Name", "a\u{0}b"),
        ("Bad Name", "x"),
        ("X:Name", "x"),
        ("", "x"),
    ])
    func aHeaderThatCouldSplitTheResponseIsNeverWritten(name: String, value: String) {
        #expect(throws: HTTPResponseHeadEncoder.InvalidHeader.self) { try encode(.ok, [("Content-Length", "0"), (name, value)]) }
    }
}
