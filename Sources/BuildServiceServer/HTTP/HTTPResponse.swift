import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// What a route's handler answers. `ResponseWriter` puts it on the wire; handlers never write
/// to a channel themselves except through a `ResponseStream`.
enum HTTPResponse: Sendable {
    /// Known whole now (JSON answers, refusals, health, metrics, 304s, small files): written at
    /// once, without a task. The writer adds `Content-Length` if it is missing and leaves the
    /// body out for a HEAD.
    case complete(HTTPResponseStatus, HTTPHeaders, ByteBuffer?)
    /// Written at the client's pace (a build's events, a large file): `produce` runs in a task on
    /// the connection's event loop and writes the whole response, head to end.
    case streamed(@Sendable (ResponseStream) async -> Void)

    /// A JSON document the client must not cache.
    static func json(_ status: HTTPResponseStatus, _ body: ByteBuffer) -> HTTPResponse {
        .complete(status, apiHeaders(contentType: "application/json", length: body.readableBytes), body)
    }

    /// The headers of every API answer (not of artifacts, which are cacheable files). Given
    /// here, the length spares the writer a copy of the headers to add it.
    static func apiHeaders(contentType: String, length: Int? = nil) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        if let length { headers.add(name: "Content-Length", value: String(length)) }
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        return headers
    }
}
