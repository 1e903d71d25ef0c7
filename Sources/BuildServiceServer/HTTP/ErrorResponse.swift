import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// The JSON error answer every refusal gets: `{"error": "<message>", "code": "<code>"}`.
enum ErrorResponse {
    /// - Parameter allow: the `Allow` header of a 405.
    static func parts(for error: ServiceError, version: HTTPVersion, close: Bool, allow: String? = nil) -> (HTTPResponseHead, ByteBuffer) {
        var body = ByteBuffer()
        body.writeStaticString("{\"error\":")
        JSONText.writeString(error.message, to: &body)
        body.writeStaticString(",\"code\":")
        JSONText.writeString(error.code.rawValue, to: &body)
        body.writeStaticString("}\n")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        if error.code == .unauthorized {
            headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"build-service\"")
        }
        if error.code == .methodNotAllowed {
            headers.add(name: "Allow", value: allow ?? "POST")
        }
        if error.code == .queueFull {
            // A queued build usually starts within seconds; the client may ask again then.
            headers.add(name: "Retry-After", value: "5")
        }
        if close { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: error.httpStatus)
        return (HTTPResponseHead(version: version, status: status, headers: headers), body)
    }
}
