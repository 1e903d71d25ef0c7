import BuildServiceProtocol
import NIOCore
import NIOHTTP1

extension HTTPResponse {
    /// The JSON answer every refusal gets: `{"error": "<message>", "code": "<code>"}`, with the
    /// status of its code and the headers that code calls for.
    /// - Parameter allow: the `Allow` header of a 405.
    static func refusal(_ error: ServiceError, allow: String? = nil) -> HTTPResponse {
        var body = ByteBuffer()
        body.writeStaticString("{\"error\":")
        JSONText.writeString(error.message, to: &body)
        body.writeStaticString(",\"code\":")
        JSONText.writeString(error.code.rawValue, to: &body)
        body.writeStaticString("}\n")
        var headers = apiHeaders(contentType: "application/json", length: body.readableBytes)
        if error.code == .unauthorized {
            headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"build-service\"")
        }
        if error.code == .methodNotAllowed {
            headers.add(name: "Allow", value: allow ?? "POST")
        }
        if error.code == .queueFull || error.code == .tooManyConnections {
            // A queued build usually starts within seconds, and connections come and go: the
            // client may ask again then.
            headers.add(name: "Retry-After", value: "5")
        }
        return .complete(HTTPResponseStatus(statusCode: error.httpStatus), headers, body)
    }
}
