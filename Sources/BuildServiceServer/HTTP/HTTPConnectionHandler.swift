import BuildServiceConcurrency
import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// Serves HTTP/1.1 requests on one connection, one at a time: frames them (`HTTPConnectionState`),
/// asks its responder what to answer, and writes the answer (`ResponseWriter`, or a task for a
/// streamed response). Routing and auth are the responder's.
///
/// A client that goes away mid-build cancels its stream (the build then follows the registry's
/// rules). "Goes away" is: the connection closed or reset; on TCP also end-of-input, since a
/// TCP peer that closed and one that only half-closed look the same until we write (nginx and
/// Go treat it as an abort, too). On the Unix socket a half-close is not a disconnect: a full
/// close there shows up as a hang-up.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What answers a request once its body is in: the responder's, or a refusal made at its head.
    private typealias Answer = (ByteBuffer) -> HTTPResponse

    private let responder: any HTTPResponder
    private var state: HTTPConnectionState<Answer>
    /// See `SendDeadline`.
    private let sendTimeout: TimeAmount
    /// The streamed response in progress; cancelled when the client goes away.
    private var task: Task<Void, Never>?

    init(responder: any HTTPResponder, maxBodyBytes: Int, halfCloseIsDisconnect: Bool, sendTimeout: TimeAmount) {
        self.responder = responder
        self.state = HTTPConnectionState(maxBodyBytes: maxBodyBytes, halfCloseIsDisconnect: halfCloseIsDisconnect)
        self.sendTimeout = sendTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(unwrapInboundIn(data), context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch state.read(part) {
        case .none:
            break
        case .judge(let head):
            let bodyFollows = !Self.declaresNoBody(head)
            let answer: Answer
            switch responder.accept(head, channel: context.channel) {
            case .accept(let respond):
                answer = respond
            case .refuse(let response) where !bodyFollows:
                // Nothing of it is left to read: answered at its end, like any request, and the
                // connection stays open.
                answer = { _ in response }
            case .refuse(let response):
                state.refused()
                return refuseAndClose(response, to: head, context: context)
            }
            context.triggerUserOutboundEvent(RequestProgress.headRead(bodyFollows: bodyFollows), promise: nil)
            if state.accepted(head, as: answer) == .refuseTooLarge { refuseAndClose(tooLarge, to: head, context: context) }
        case .refuseTooLarge(let head):
            refuseAndClose(tooLarge, to: head, context: context)
        case .respond(let head, let answer, let body):
            context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
            write(answer(body), to: head, closeAfter: state.closesAfter(head), context: context)
        }
    }

    /// A request without `Content-Length` (or with 0) and without `Transfer-Encoding` has no body.
    private static func declaresNoBody(_ head: HTTPRequestHead) -> Bool {
        let length = head.headers.first(name: "Content-Length")
        return (length == nil || length == "0") && !head.headers.contains(name: "Transfer-Encoding")
    }

    private func write(_ response: HTTPResponse, to head: HTTPRequestHead, closeAfter: Bool, context: ChannelHandlerContext) {
        switch response {
        case .complete(let status, let headers, let body):
            ResponseWriter.write(status, headers, body, to: head, closeAfter: closeAfter, on: context.channel)
            responseEnded(context: context, closeAfter: closeAfter)
        case .streamed(let produce):
            let stream = ResponseStream(channel: context.channel, version: head.version, closeAfter: closeAfter, sendTimeout: sendTimeout)
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            task = Task(executorPreference: EventLoopTaskExecutor(context.eventLoop)) {
                await produce(stream)
                loopBound.eventLoop.execute {
                    loopBound.value.handler.responseEnded(context: loopBound.value.context, closeAfter: closeAfter)
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            switch state.inputEnded() {
            case .none:
                break
            case .close:
                context.close(promise: nil)
            case .cancelResponseAndClose:
                task?.cancel()
                let channel = context.channel
                context.eventLoop.execute { channel.close(promise: nil) }
            }
        } else if event is IdleStateHandler.IdleStateEvent {
            if state.closesOnIdle() { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
        state.connectionClosed()
        context.fireChannelInactive()
    }

    private func responseEnded(context: ChannelHandlerContext, closeAfter: Bool) {
        task = nil
        switch state.responseEnded(closeAfter: closeAfter, channelIsActive: context.channel.isActive) {
        case .close:
            context.close(promise: nil)
        case .awaitNextRequest:
            context.triggerUserOutboundEvent(RequestProgress.responseEnded, promise: nil)
        case .replayPipelined:
            context.triggerUserOutboundEvent(RequestProgress.responseEnded, promise: nil)
            // On the next turn of the loop, not nested: an answer that completes at once (a 401, a
            // small file) ends here again, and a long pipeline must not grow the stack. Until then
            // the state stays `responding`, so parts that arrive meanwhile queue up behind these.
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = loopBound.value
                for part in handler.state.takePipelined() { handler.handle(part, context: context) }
                // After a half-close (Unix socket): what was pipelined before it is answered, then the connection closes.
                if handler.state.closesAfterReplay { context.close(promise: nil) }
            }
        }
    }

    /// Answers a request that is refused before its end, and closes.
    private func refuseAndClose(_ response: HTTPResponse, to head: HTTPRequestHead, context: ChannelHandlerContext) {
        // Answered: no request deadline may cut the linger short (or count it as a timeout).
        context.triggerUserOutboundEvent(RequestProgress.requestRead, promise: nil)
        guard case .complete(let status, let headers, let body) = response else { return context.close(promise: nil) }
        let channel = context.channel
        RefusalLinger.start(on: channel, once: ResponseWriter.write(status, headers, body, to: head, closeAfter: true, on: channel))
    }

    private var tooLarge: HTTPResponse {
        .refusal(ServiceError(.payloadTooLarge, "request body is larger than \(state.maxBodyBytes) bytes"))
    }
}
