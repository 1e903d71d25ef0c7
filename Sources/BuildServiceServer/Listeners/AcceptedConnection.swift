import NIOCore

/// What every accepted connection (TCP or Unix socket) is set up with before its handlers.
enum AcceptedConnection {
    /// Sets the connection's options synchronously, on its event loop. Given to the bootstrap as
    /// child channel options instead, each option is applied through a chain of futures, which
    /// (profiled) cost several times the system calls themselves on every accept.
    static func configure(_ channel: any Channel) throws {
        guard let options = channel.syncOptions else {
            throw ChannelError.operationUnsupported
        }
        // A client that shuts down its sending side still gets the rest of the stream.
        try options.setOption(.allowRemoteHalfClosure, value: true)
        // Room for a few output events in the kernel: fewer wake-ups on a busy stream.
        try options.setOption(.socketOption(.so_sndbuf), value: 1 << 20)
    }
}
