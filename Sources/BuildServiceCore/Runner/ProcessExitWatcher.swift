import CBuildServiceSpawn
import CBuildServiceSystem
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Reports when build processes exit, for all builds from one thread: an epoll set of pidfds.
/// It only looks; reaping is the supervisor's (`ProcessGroup`): at once where the group is named
/// by a pidfd, else only once the group is gone, so that the pid (the group's id) cannot be
/// reused while the group is torn down.
final class ProcessExitWatcher: Sendable {
    static let shared = ProcessExitWatcher()

    private struct Waiter {
        var pid: pid_t
        var promise: EventLoopPromise<ProcessTermination>
    }

    private let watcher: Int32
    /// Keyed by pidfd.
    private let waiters = NIOLockedValueBox<[Int32: Waiter]>([:])

    private init() {
        watcher = bs_exit_watcher_create()
        // Without an epoll instance every watch() throws (and builds fail to start); no thread.
        guard watcher >= 0 else { return }
        Thread { [self] in self.run() }.start()
    }

    /// Completes on `eventLoop` once `pid` has exited (still unreaped).
    /// - Throws: when the kernel cannot give a pidfd or watch it.
    func watch(pid: pid_t, on eventLoop: any EventLoop) throws -> EventLoopFuture<ProcessTermination> {
        let pidfd = bs_pidfd_open(pid)
        guard pidfd >= 0, watcher >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let promise = eventLoop.makePromise(of: ProcessTermination.self)
        waiters.withLockedValue { $0[pidfd] = Waiter(pid: pid, promise: promise) }
        guard bs_exit_watcher_add(watcher, pidfd) == 0 else {
            let error = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            _ = waiters.withLockedValue { $0.removeValue(forKey: pidfd) }
            close(pidfd)
            throw error
        }
        return promise.futureResult
    }

    private func run() {
        // Foundation's `Thread.name` does not reach the kernel here: `top -H` would show it
        // under the name of the thread that started it.
        _ = bs_name_thread("build-exits")
        var ready = [Int32](repeating: -1, count: 64)
        while true {
            let count = bs_exit_watcher_wait(watcher, &ready, Int32(ready.count))
            guard count > 0 else { continue }
            for pidfd in ready.prefix(Int(count)) {
                guard let waiter = waiters.withLockedValue({ $0.removeValue(forKey: pidfd) }) else { continue }
                // Asked through the pidfd without blocking: the process may already have been
                // reaped by its supervisor (which noticed the exit first), and its pid reused.
                var exitCode: Int32 = -1
                var signalNumber: Int32 = -1
                let state = bs_exited_pidfd(pidfd, &exitCode, &signalNumber)
                close(pidfd)
                if state == 1 {
                    waiter.promise.succeed(signalNumber >= 0 ? .signaled(signalNumber) : .exited(exitCode))
                } else {
                    // Already reaped: the supervisor has its status; this answer is ignored.
                    waiter.promise.succeed(.signaled(SIGKILL))
                }
            }
        }
    }
}
