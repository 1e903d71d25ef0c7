import NIOCore

/// Runs a task (and its child tasks) on one NIO event loop. A connection's request task, the
/// build's pipe channels and the socket then share one thread, so moving a chunk of output from
/// pipe to socket needs no thread hop, and many small hops per build add no latency.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute {
            job.runSynchronously(on: executor)
        }
    }
}
