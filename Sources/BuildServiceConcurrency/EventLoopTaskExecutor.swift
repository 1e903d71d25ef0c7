public import NIOCore

/// Runs a task (and its child tasks) on one NIO event loop. In the daemon a connection's request
/// task, the build's pipe channels and the socket then share one thread, so moving a chunk of
/// output from pipe to socket needs no thread hop; in build-cli reading the response and
/// writing it out do.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute {
            job.runSynchronously(on: executor)
        }
    }
}
