import Foundation

/// Runs a job on a thread of its own with a stack of a given size, and waits for it. The TOML
/// parser recurses as deep as the text nests (once per part of a dotted key): how deep it
/// can go depends on the stack, so the daemon and the sandbox's child each choose theirs
/// instead of taking whatever thread they happen to run on.
///
/// pthreads directly, not Foundation's `Thread`: its `start()` ignores a failed thread creation
/// (no memory for the stack under `LimitAS=` or strict overcommit, the thread limit), and the
/// wait for the job would never end; startup would hang before READY=1, a reload forever.
enum ThreadWithStack {
    struct CannotStart: Error, CustomStringConvertible {
        let stackBytes: Int
        let code: Int32
        var description: String {
            "cannot start a thread with a \(stackBytes >> 20) MiB stack for the parser (\(String(cString: strerror(code))))"
        }
    }

    static func run<T>(stackBytes: Int, _ body: @escaping () throws -> T) throws -> T {
        let job = Job(body)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackBytes)
        var thread = pthread_t()
        // A C function cannot capture the job's type: it gets a plain closure to run.
        let work = Unmanaged.passRetained(Work { job.run() })
        let created = pthread_create(
            &thread,
            &attributes,
            { argument in
                Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            },
            work.toOpaque()
        )
        guard created == 0 else {
            work.release()
            throw CannotStart(stackBytes: stackBytes, code: created)
        }
        pthread_join(thread, nil)
        return try job.result!.get()
    }

    private final class Work {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// The job and its result, handed to the thread and back: the join orders the access.
    private final class Job<T>: @unchecked Sendable {
        let body: () throws -> T
        var result: Result<T, any Error>?

        init(_ body: @escaping () throws -> T) { self.body = body }

        func run() {
            result = Result { try body() }
        }
    }
}
