import NIOCore
import NIOHTTP1

/// What a connection asks about the requests it frames: whether to read a request's body at
/// all, judged from its head, and what to answer once the request is complete. The connection
/// (`HTTPConnectionHandler`) only frames; routing and auth live behind this.
protocol HTTPResponder: Sendable {
    /// Judges a request from its head, before its body is read.
    func accept(_ head: HTTPRequestHead, channel: any Channel) -> HeadVerdict
}

/// `HTTPResponder.accept`'s answer.
enum HeadVerdict {
    /// Read the body, then answer with what this makes of it. (A closure rather than a value
    /// of the responder's own type: the connection handler stays non-generic, so its code is
    /// compiled for the one responder it has instead of looking types up on every request.)
    case accept((ByteBuffer) -> HTTPResponse)
    /// Answer this; the rest of the request is not read.
    case refuse(HTTPResponse)
}
