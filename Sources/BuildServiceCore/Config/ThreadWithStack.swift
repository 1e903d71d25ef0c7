import Foundation

/// Runs a job on a thread of its own with a stack of a given size, and waits for it. The TOML
/// parser recurses as deep as the text nests (once per part of a dotted key): how deep it
/// can go depends on the stack, so the daemon and the sandbox's child each choose theirs
/// instead of taking whatever thread they happen to run on.
enum ThreadWithStack {
    static func run<T>(stackBytes: Int, _ body: @escaping () throws -> T) throws -> T {
        let job = Job(body)
        let thread = Thread { job.run() }
        thread.stackSize = stackBytes
        thread.start()
        job.done.wait()
        return try job.result!.get()
    }

    /// The job and its result, handed to the thread and back: the semaphore orders the access.
    private final class Job<T>: @unchecked Sendable {
        let body: () throws -> T
        var result: Result<T, any Error>?
        let done = DispatchSemaphore(value: 0)

        init(_ body: @escaping () throws -> T) { self.body = body }

        func run() {
            result = Result { try body() }
            done.signal()
        }
    }
}
