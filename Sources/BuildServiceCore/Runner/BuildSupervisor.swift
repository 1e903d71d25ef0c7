import CBuildServiceSpawn
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Watches one build's process on a thread of its own: notices its exit, enforces the timeout,
/// carries out cancellation, and afterwards terminates whatever is left of its process group.
/// Every way a build ends goes through the same teardown: SIGTERM to the group, `killGrace`,
/// then SIGKILL to the group.
final class BuildSupervisor: Sendable {
    private let pid: pid_t
    private let group: ProcessGroup
    private let timeout: Duration
    private let killGrace: Duration
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let flags = NIOLockedValueBox(Flags())
    private let mainExit: EventLoopPromise<ProcessTermination>
    private let groupGone: EventLoopPromise<Void>

    private struct Flags {
        var cancelRequested = false
        var timedOut = false
        var cancelled = false
    }

    private let pidfd: Int32

    /// - Throws: when the kernel cannot give a pidfd or a pipe (the caller then kills the process).
    init(pid: pid_t, timeout: Duration, killGrace: Duration, eventLoop: any EventLoop) throws {
        let pidfd = bs_pidfd_open(pid)
        guard pidfd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var fds: [Int32] = [0, 0]
        guard bs_pipe(&fds, 1) == 0 else {
            close(pidfd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        self.pid = pid
        self.pidfd = pidfd
        self.group = ProcessGroup(id: pid)
        self.timeout = timeout
        self.killGrace = killGrace
        self.wakeRead = fds[0]
        self.wakeWrite = fds[1]
        self.mainExit = eventLoop.makePromise()
        self.groupGone = eventLoop.makePromise()
    }

    /// Starts watching. Call once.
    func start() {
        let thread = Thread { [self] in self.supervise() }
        thread.name = "build-supervisor-\(pid)"
        thread.start()
    }

    /// Asks for the build to be torn down (client gone, cancel, shutdown). Safe from any thread.
    func cancel() {
        flags.withLockedValue { $0.cancelRequested = true }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Completes when the main process has exited (it may still be unreaped).
    var terminated: EventLoopFuture<ProcessTermination> { mainExit.futureResult }

    /// Completes when no process of the group is left and the main process is reaped.
    var finished: EventLoopFuture<Void> { groupGone.futureResult }

    var timedOut: Bool { flags.withLockedValue { $0.timedOut } }
    var cancelled: Bool { flags.withLockedValue { $0.cancelled } }

    private func supervise() {
        defer {
            close(pidfd)
            close(wakeRead)
            close(wakeWrite)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var killAt: ContinuousClock.Instant?
        var killed = false

        func beginTeardown() {
            guard killAt == nil else { return }
            group.terminate()
            killAt = clock.now + killGrace
        }
        func killIfDue() {
            if !killed, let due = killAt, clock.now >= due {
                group.signal(SIGKILL)
                killed = true
            }
        }

        // Phase 1: until the main process exits.
        while true {
            killIfDue()
            let now = clock.now
            if killAt == nil, now >= deadline {
                flags.withLockedValue { $0.timedOut = true }
                beginTeardown()
            }
            let wake = killed ? now + .milliseconds(50) : (killAt ?? deadline)
            var fds = [
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, Self.milliseconds(from: now, until: wake))
            if fds[0].revents != 0 { break }
            if fds[1].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
                let requested = flags.withLockedValue { state in
                    if state.cancelRequested && !state.timedOut { state.cancelled = true }
                    return state.cancelRequested
                }
                if requested { beginTeardown() }
            }
        }

        var exitCode: Int32 = -1
        var signalNumber: Int32 = -1
        if bs_wait_terminated(pid, 1, &exitCode, &signalNumber) == 0 {
            mainExit.succeed(signalNumber >= 0 ? .signaled(signalNumber) : .exited(exitCode))
        } else {
            mainExit.succeed(.signaled(SIGKILL))
        }

        // Phase 2: nothing of the build may outlive it. If /proc cannot be read, the whole
        // teardown is carried out blind.
        if group.hasLiveMembers != false {
            beginTeardown()
            while group.hasLiveMembers ?? !killed {
                killIfDue()
                usleep(20_000)
            }
        }
        _ = bs_wait_terminated(pid, 0, &exitCode, &signalNumber)
        groupGone.succeed(())
    }

    private static func milliseconds(from now: ContinuousClock.Instant, until wake: ContinuousClock.Instant) -> Int32 {
        let remaining = now.duration(to: wake)
        let millis = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1
        return Int32(clamping: max(0, millis))
    }
}
