import NIOCore

/// How a build's output waits for its client. While the socket takes more (below NIO's write
/// buffer high watermark) a line is handed over and the next one read at once: several lines in
/// flight, bounded memory. Otherwise it waits for the write to finish, but no longer than
/// `timeout` (`service.send_timeout_sec`, like nginx's `send_timeout`: between two writes, not
/// for the whole response): a client that stops reading is disconnected, and its build torn
/// down, instead of holding both forever.
enum SendDeadline {
    /// - Throws: the write's error, or `ChannelError.ioOnClosedChannel` when the client is gone.
    static func await(_ written: EventLoopFuture<Void>, on channel: any Channel, timeout: TimeAmount) async throws {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        if channel.isWritable { return }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        try await written.get()
    }

    /// Waits for the write to complete, closing the connection if that takes longer than
    /// `timeout` (for file downloads, where each write is one bounded chunk).
    static func awaitCompletion(_ written: EventLoopFuture<Void>, on channel: any Channel, timeout: TimeAmount) async throws {
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        try await written.get()
    }
}
