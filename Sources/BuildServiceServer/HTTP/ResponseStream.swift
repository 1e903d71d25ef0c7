import NIOCore
import NIOHTTP1

/// A streamed response's way to its client: the connection, and how the response must be
/// framed for this request.
struct ResponseStream: Sendable {
    let channel: any Channel
    /// The request's HTTP version (1.0 has no chunked encoding).
    let version: HTTPVersion
    /// Whether the connection closes after this response.
    let closeAfter: Bool
    /// See `SendDeadline`.
    let sendTimeout: TimeAmount

    /// The response's head, finished by `ResponseWriter`.
    func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders) -> HTTPServerResponsePart {
        .head(ResponseWriter.head(status, headers, version: version, closeAfter: closeAfter))
    }
}
