import BuildServiceProtocol
import CBuildServiceSpawn
import NIOCore
import NIOPosix

/// A build's stdout and stderr, read on one event loop and handed to one consumer a chunk at a
/// time. This is the backpressure: a pipe is read again only while fewer than `limit` chunks
/// wait, so a slow client leaves the build blocked in write(2) instead of growing the daemon.
///
/// All state lives on `eventLoop`; the consumer (`next()`) may call from anywhere.
final class PipeRelay: @unchecked Sendable {
    typealias Chunk = (pipe: OutputPipe, bytes: ByteBuffer)

    let eventLoop: any EventLoop
    /// Chunks waiting for the consumer before reading stops.
    private let limit = 2
    private var queue = CircularBuffer<Chunk>()
    /// Which pipes (stdout, stderr) are not at end-of-file yet.
    private var open = [true, true]
    private var openPipes: Int { open.filter { $0 }.count }
    private var finished = false
    private var waiter: CheckedContinuation<Chunk?, Never>?
    private var paused: [ChannelHandlerContext] = []
    private var channels: [EventLoopFuture<any Channel>] = []
    /// The pending look of `closeWhenDrained`, cancelled once both pipes are done.
    private var drainCheck: Scheduled<Void>?
    private let fds: [Int32]
    private static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16_384, maximum: 262_144)
    /// The most a chunk grows to by joining reads (the largest single read's size).
    static let mergeLimit = 262_144
    /// See `readCompleted`: bursts closer than this are a stream; its reads wait this long.
    static let streamingGap = TimeAmount.milliseconds(2)
    static let batchDelay = TimeAmount.microseconds(500)
    /// Per pipe (stdout, stderr): when its last read burst ended, and the bytes of the current one.
    private var lastBurst = [NIODeadline.distantPast, NIODeadline.distantPast]
    private var burstBytes = [0, 0]

    /// Starts reading both pipes (taking ownership of the descriptors). Registration happens on
    /// the event loop in the background; nothing needs to wait for it.
    init(stdout: Int32, stderr: Int32, on eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.fds = [stdout, stderr]
        for (pipe, fd) in [(OutputPipe.stdout, stdout), (.stderr, stderr)] {
            // 1 MiB (the unprivileged maximum): a chatty build blocks, and wakes us, less often.
            _ = bs_set_pipe_size(fd, 1 << 20)
            let channel = NIOPipeBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Set here, synchronously: as bootstrap options each would be applied
                        // through a chain of futures, for every pipe of every build.
                        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
                        try options.setOption(.autoRead, value: false)
                        try options.setOption(.recvAllocator, value: Self.recvAllocator)
                        try channel.pipeline.syncOperations.addHandler(PipeReader(relay: self, pipe: pipe))
                    }
                }
                .takingOwnershipOfDescriptor(input: fd)
            channel.whenFailure { [self] _ in
                // Not closed here: NIO may already have closed it, and closing a number twice
                // could close another build's pipe or a client's socket.
                if eventLoop.inEventLoop {
                    pipeEnded(pipe)
                } else {
                    eventLoop.execute { self.pipeEnded(pipe) }
                }
            }
            channels.append(channel)
        }
    }

    /// The next chunk, or nil once both pipes are at end-of-file (or closed, or the task was cancelled).
    func next() async -> Chunk? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Chunk?, Never>) in
                if eventLoop.inEventLoop {
                    take(continuation)
                } else {
                    eventLoop.execute { self.take(continuation) }
                }
            }
        } onCancel: {
            eventLoop.execute { self.finish() }
        }
    }

    /// Stops reading: pending chunks are still delivered, then `next()` returns nil.
    func closePipes() {
        for channel in channels {
            channel.whenSuccess { $0.close(promise: nil) }
        }
    }

    /// After the main process exited: once `grace` has passed and nothing is left unread in the
    /// pipes, stop waiting for their end-of-file (whoever still holds them is not the build).
    /// On the event loop only.
    /// - Returns: whether a pipe was still open (something else holds it).
    func closeWhenDrained(after grace: TimeAmount) -> Bool {
        eventLoop.preconditionInEventLoop()
        // Usually both pipes are at end-of-file already: no timer to wake the loop for nothing.
        guard openPipes > 0, !finished else { return false }
        drainCheck = eventLoop.scheduleTask(in: grace) { self.closeIfDrained() }
        return true
    }

    // MARK: on the event loop

    private func closeIfDrained() {
        guard openPipes > 0, !finished else { return }
        // Only descriptors of open pipes: a closed one's number may already belong to another file.
        let unread = zip(fds, open).reduce(0) { total, pipe in
            pipe.1 ? total + max(0, Int(bs_bytes_readable(pipe.0))) : total
        }
        if unread == 0 {
            closePipes()
        } else {
            drainCheck = eventLoop.scheduleTask(in: .milliseconds(20)) { self.closeIfDrained() }
        }
    }

    private func take(_ continuation: CheckedContinuation<Chunk?, Never>) {
        if let chunk = queue.popFirst() {
            continuation.resume(returning: chunk)
            resumeReading()
        } else if openPipes == 0 || finished {
            continuation.resume(returning: nil)
        } else {
            waiter = continuation
            resumeReading()
        }
    }

    fileprivate func receive(_ chunk: Chunk) {
        burstBytes[Self.slot(chunk.pipe)] += chunk.bytes.readableBytes
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: chunk)
        } else if var last = queue.last, last.pipe == chunk.pipe, last.bytes.readableBytes + chunk.bytes.readableBytes <= Self.mergeLimit {
            // While the consumer is busy, what the build writes meanwhile (a compiler or `head`
            // writes 4-8 KiB at a time) joins the waiting chunk: one event, and one trip through
            // the log and the client's socket, instead of one per write.
            queue.removeLast()
            var bytes = chunk.bytes
            last.bytes.writeBuffer(&bytes)
            queue.append(last)
        } else {
            queue.append(chunk)
        }
    }

    /// After a read burst: keep reading while there is room, else wait for the consumer.
    ///
    /// A small burst right after the previous one means the build is writing fast in small
    /// pieces (a compiler's or `head`'s 4-8 KiB writes): the next read waits `batchDelay`, so
    /// that it takes what accumulated in the 1 MiB pipe meanwhile. Each read becomes an event
    /// that goes through the log, the client's socket and the client's decoder, so fewer,
    /// larger ones cost far less; a line printed after a pause is still read at once.
    fileprivate func readCompleted(_ context: ChannelHandlerContext, pipe: OutputPipe) {
        let index = Self.slot(pipe)
        let now = NIODeadline.now()
        let streaming = burstBytes[index] < Self.mergeLimit / 4 && now - lastBurst[index] < Self.streamingGap
        lastBurst[index] = now
        burstBytes[index] = 0
        guard queue.count < limit else {
            paused.append(context)
            return
        }
        if streaming {
            let bound = NIOLoopBound(context, eventLoop: eventLoop)
            eventLoop.scheduleTask(in: Self.batchDelay) { bound.value.read() }
        } else {
            context.read()
        }
    }

    fileprivate func pipeEnded(_ pipe: OutputPipe) {
        open[Self.slot(pipe)] = false
        if openPipes == 0 {
            drainCheck?.cancel()
            drainCheck = nil
        }
        if openPipes == 0 && queue.isEmpty, let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    /// A pipe's place in the per-pipe arrays (`open`, `lastBurst`, `burstBytes`).
    private static func slot(_ pipe: OutputPipe) -> Int { pipe == .stdout ? 0 : 1 }

    private func resumeReading() {
        guard queue.count < limit, !paused.isEmpty else { return }
        let contexts = paused
        paused.removeAll()
        for context in contexts { context.read() }
    }

    private func finish() {
        finished = true
        closePipes()
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }
}

/// Reads one pipe into its relay, one read burst at a time (autoRead is off).
private final class PipeReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let relay: PipeRelay
    private let pipe: OutputPipe

    init(relay: PipeRelay, pipe: OutputPipe) {
        self.relay = relay
        self.pipe = pipe
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        relay.receive((pipe, unwrapInboundIn(data)))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        relay.readCompleted(context, pipe: pipe)
    }

    func channelInactive(context: ChannelHandlerContext) {
        relay.pipeEnded(pipe)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A read error ends this pipe like end-of-file.
        context.close(promise: nil)
    }
}
