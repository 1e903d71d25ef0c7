import NIOCore
import NIOHTTP1

extension BuildServiceClient {
    /// GETs `target` (path and query) from this client's endpoint and hands over the response
    /// head and then its body chunks as they arrive.
    /// - Parameter sendToken: whether to send the bearer token (only to the service itself).
    /// - Throws: `ClientError` when the service cannot be reached or the connection breaks.
    func fetch(
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
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
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
