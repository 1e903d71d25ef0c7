import NIOCore
import NIOHTTP1

/// The one place a response head is finished and a complete response is written: the
/// request's HTTP version, `Connection: close` when the connection ends after it, the
/// `Content-Length` of a complete body, and no body for a HEAD request.
enum ResponseWriter {
    static func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, version: HTTPVersion, closeAfter: Bool) -> HTTPResponseHead {
        var headers = headers
        if closeAfter { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version, status: status, headers: headers)
    }

    /// Writes and flushes a complete response to `request`.
    /// - Returns: the write of its end.
    @discardableResult
    static func write(
        _ status: HTTPResponseStatus,
        _ headers: HTTPHeaders,
        _ body: ByteBuffer?,
        to request: HTTPRequestHead,
        closeAfter: Bool,
        on channel: any Channel
    ) -> EventLoopFuture<Void> {
        var headers = headers
        if let body, !headers.contains(name: "Content-Length") {
            headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        channel.write(HTTPServerResponsePart.head(head(status, headers, version: request.version, closeAfter: closeAfter)), promise: nil)
        // A HEAD answer has the headers of the GET answer and no body (RFC 9110 §9.3.2).
        if let body, request.method != .HEAD {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
        }
        return channel.writeAndFlush(HTTPServerResponsePart.end(nil))
    }
}
