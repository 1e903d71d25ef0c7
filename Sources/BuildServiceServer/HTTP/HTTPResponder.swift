import NIOCore
import NIOHTTP1

/// What a connection asks about the requests it frames: whether to read a request's body at
/// all (judged from its head) and what to answer once the request is complete. The connection
/// (`HTTPConnectionHandler`) only frames; routing and auth live behind this.
protocol HTTPResponder: Sendable {
    /// What the responder keeps of a request between its head and its end.
    associatedtype Request

    /// Judges a request from its head, before its body is read.
    func accept(_ head: HTTPRequestHead, channel: any Channel) -> HeadVerdict<Request>

    /// The answer to a complete request.
    func respond(to head: HTTPRequestHead, _ request: Request, body: ByteBuffer, channel: any Channel) -> HTTPResponse
}

/// `HTTPResponder.accept`'s answer.
enum HeadVerdict<Request> {
    /// Read the body, then respond.
    case accept(Request)
    /// Answer this now; the rest of the request is not read and the connection closes.
    case refuse(HTTPResponse)
}
