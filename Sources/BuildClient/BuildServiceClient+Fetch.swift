public import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1

extension BuildServiceClient {
    /// The build's status document (`GET /v1/builds/{id}`), as JSON.
    public func status(buildID: String) async throws(ClientError) -> Data {
        try await json(method: .GET, path: "/v1/builds/\(buildID)")
    }

    /// The newest builds this token may see (`GET /v1/builds`), one page, as JSON
    /// (`{"builds":[…],"next_cursor":…}`).
    public func list(project: String?, state: String?) async throws(ClientError) -> Data {
        var query = URLComponents()
        query.queryItems = [("project", project), ("state", state)].compactMap { name, value in
            value.map { URLQueryItem(name: name, value: $0) }
        }
        let text = query.percentEncodedQuery.map { "?" + $0 } ?? ""
        return try await json(method: .GET, path: "/v1/builds" + text)
    }

    /// Cancels the build (`DELETE /v1/builds/{id}`); returns its status document.
    @discardableResult
    public func cancel(buildID: String) async throws(ClientError) -> Data {
        try await json(method: .DELETE, path: "/v1/builds/\(buildID)")
    }

    /// `GET` or `DELETE` of one of the service's JSON resources.
    /// - Returns: the body of a 2xx answer.
    /// - Throws: `ClientError.refused` with the service's code for any other status.
    func json(method: HTTPMethod, path: String) async throws(ClientError) -> Data {
        var status = HTTPResponseStatus.ok
        var body = ByteBuffer()
        try await fetch(method: method, target: basePath + path, headers: [("Accept", "application/json")], sendToken: true) { head in
            status = head.status
        } onBody: { chunk in
            var chunk = chunk
            if body.readableBytes < 16 * 1024 * 1024 { body.writeBuffer(&chunk) }
        }
        guard (200..<300).contains(status.code) else { throw Self.refusal(status: status, body: body) }
        return Data(body.readableBytesView)
    }

    /// GETs `target` (path and query) from this client's endpoint and hands over the response
    /// head and then its body chunks as they arrive.
    /// - Parameter sendToken: whether to send the bearer token (only to the service itself).
    /// - Throws: `ClientError` when the service cannot be reached or the connection breaks.
    func fetch(
        method: HTTPMethod = .GET,
        target: String,
        headers extra: [(String, String)],
        sendToken: Bool,
        onHead: (HTTPResponseHead) throws -> Void,
        onBody: (ByteBuffer) throws -> Void
    ) async throws(ClientError) {
        let (channel, tlsFailure) = try await connect()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostHeader)
        headers.add(name: "User-Agent", value: "build-cli")
        if sendToken, let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
                loop: for try await part in inbound {
                    switch part {
                    case .head(let responseHead): try onHead(responseHead)
                    case .body(let chunk): try onBody(chunk)
                    case .end: break loop
                    }
                }
            }
        } catch {
            throw connectionError(error, tlsFailure: tlsFailure, doing: "the download")
        }
    }
}
