import NIOCore

/// The end of a connection whose request was refused while the client may still be sending
/// it (a body or line over the limit, a connection over a cap). Closing at once would make the
/// kernel reset the connection when more bytes arrive, and the client could lose the answer
/// (or fail its own write with EPIPE before it reads it). So, once the answer is written, our
/// side ends; what still comes is read and dropped by the handler, and the connection closes
/// when the client closes too (the handler's `inputClosed`) or after `duration`, as nginx
/// lingers.
enum RefusalLinger {
    static let duration = TimeAmount.seconds(5)

    static func start(on channel: any Channel, once answered: EventLoopFuture<Void>) {
        answered.whenComplete { _ in channel.close(mode: .output, promise: nil) }
        // From now, not from when the answer is out: a client that does not read it (the
        // write never completes) must not hold the connection past the linger either.
        channel.eventLoop.scheduleTask(in: duration) { channel.close(promise: nil) }
    }
}
