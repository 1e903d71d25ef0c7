import NIOCore
import NIOHTTP1

/// The framing of one HTTP/1.1 connection, without I/O, so that every transition can be
/// tested on its own: a request's head, its body up to a limit, one response at a time with
/// the requests pipelined behind it held back, keep-alive, half-close and idle timeouts.
///
/// The handler feeds it what the channel sees and does what it says.
struct HTTPConnectionState<Request> {
    enum Phase {
        /// Between requests.
        case idle
        /// The head was accepted; its body is being read.
        case readingBody(HTTPRequestHead, Request, ByteBuffer)
        /// Refused before the end of the request: what still comes is dropped, the connection closes.
        case discarding
        /// The request is complete and being answered.
        case responding
    }

    private(set) var phase = Phase.idle
    /// The client shut down its sending side (or the connection ended).
    private(set) var inputClosed = false
    /// Requests that arrived while a response was in progress, replayed after it.
    private var pipelined: [HTTPServerRequestPart] = []
    let maxBodyBytes: Int
    /// A half-close while a response is in progress is the client leaving (TCP, where a peer
    /// that closed looks the same until we write); on the Unix socket it only ends the input.
    let halfCloseIsDisconnect: Bool

    init(maxBodyBytes: Int, halfCloseIsDisconnect: Bool) {
        self.maxBodyBytes = maxBodyBytes
        self.halfCloseIsDisconnect = halfCloseIsDisconnect
    }

    enum ReadAction {
        case none
        /// A new request's head: the handler judges it, then calls `accepted` or `refused`.
        case judge(HTTPRequestHead)
        /// The body is over the limit: answer 413 and close (the state is `discarding`).
        case refuseTooLarge(HTTPRequestHead)
        /// The request is complete: answer it (the state is `responding`).
        case respond(HTTPRequestHead, Request, ByteBuffer)
    }

    mutating func read(_ part: HTTPServerRequestPart) -> ReadAction {
        switch (part, phase) {
        case (.head(let head), .idle):
            return .judge(head)
        case (.body(var chunk), .readingBody(let head, let request, var body)):
            guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                phase = .discarding
                return .refuseTooLarge(head)
            }
            // Out of the enum while it grows, so the buffer is not copied.
            phase = .idle
            body.writeBuffer(&chunk)
            phase = .readingBody(head, request, body)
            return .none
        case (.end, .readingBody(let head, let request, let body)):
            phase = .responding
            return .respond(head, request, body)
        case (_, .responding):
            pipelined.append(part)
            return .none
        default:
            // The rest of a refused request, or parts out of order (the decoder's error handler answers those).
            return .none
        }
    }

    enum AcceptAction {
        case readBody
        /// Its `Content-Length` is over the limit: answer 413 and close (the state is `discarding`).
        case refuseTooLarge
    }

    /// The handler accepted the head `read` gave it.
    mutating func accepted(_ head: HTTPRequestHead, as request: Request) -> AcceptAction {
        if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > maxBodyBytes {
            phase = .discarding
            return .refuseTooLarge
        }
        phase = .readingBody(head, request, ByteBuffer())
        return .readBody
    }

    /// The handler refused the head `read` gave it.
    mutating func refused() {
        phase = .discarding
    }

    /// Whether the connection closes once the response to `head` has been sent: the client
    /// asked for it, stopped sending, or speaks HTTP/1.0 (whose streamed bodies end with the
    /// connection).
    func closesAfter(_ head: HTTPRequestHead) -> Bool {
        !head.isKeepAlive || inputClosed || head.version.minor == 0
    }

    enum InputClosedAction {
        case none
        case close
        /// Stop the response in progress; close on the next turn of the loop (this event can
        /// come from inside the write of the response's end, which must be flushed first).
        case cancelResponseAndClose
    }

    mutating func inputEnded() -> InputClosedAction {
        inputClosed = true
        guard case .responding = phase else { return .close }
        // Unix socket: answer, then close.
        return halfCloseIsDisconnect ? .cancelResponseAndClose : .none
    }

    /// The read timeout fired: true to close (between requests or while one trickles in,
    /// never during a response, whose pace is the send timeout's business).
    func closesOnIdle() -> Bool {
        if case .responding = phase { return false }
        return true
    }

    enum EndAction {
        case close
        case awaitNextRequest
        /// Requests were pipelined behind it: `takePipelined` on the next turn of the loop.
        case replayPipelined
    }

    mutating func responseEnded(closeAfter: Bool, channelIsActive: Bool) -> EndAction {
        if closeAfter || !channelIsActive {
            phase = .idle
            pipelined = []
            return .close
        }
        guard pipelined.isEmpty else { return .replayPipelined }  // still `responding` until taken
        phase = .idle
        return inputClosed ? .close : .awaitNextRequest
    }

    /// The requests pipelined behind the last response, to be read again in order.
    mutating func takePipelined() -> [HTTPServerRequestPart] {
        phase = .idle
        defer { pipelined = [] }
        return pipelined
    }

    /// After a replay: close when the input has ended and nothing is being answered.
    var closesAfterReplay: Bool {
        if case .responding = phase { return false }
        return inputClosed
    }

    /// The connection is gone: nothing pipelined has anybody to answer to.
    mutating func connectionClosed() {
        pipelined = []
    }
}
