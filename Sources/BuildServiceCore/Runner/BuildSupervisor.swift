import BuildServiceConcurrency
import BuildServiceProtocol
import CBuildServiceSpawn
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Watches one build's process on its client's event loop: notices its exit (through the
/// shared exit watcher), enforces the timeout, carries out cancellation, and afterwards
/// terminates whatever is left of its process group. Every way a build ends goes through the
/// same teardown: SIGTERM (and SIGCONT) to the group, `killGrace`, then SIGKILL to the group.
final class BuildSupervisor: Sendable {
    private let pid: pid_t
    private let group: ProcessGroup
    private let timeout: Duration
    private let killGrace: Duration
    /// How long after the main process's exit its group is looked at if nobody asked sooner.
    private let lookAfterExit: TimeAmount
    private let eventLoop: any EventLoop
    /// From the shared exit watcher.
    private let watched: EventLoopFuture<ProcessTermination>
    /// Completed once, by the watcher or by `noticeExitIfAlreadyDone()`, whichever is first.
    private let mainExit: EventLoopPromise<ProcessTermination>
    private let groupGone: EventLoopPromise<Void>
    /// Set on the event loop; read from anywhere.
    private let flags = NIOLockedValueBox(Flags())
    /// Teardown state, touched on the event loop only.
    private let teardown: NIOLoopBoundBox<Teardown>

    private struct Flags {
        var timedOut = false
        var cancelled = false
        var termination: ProcessTermination?
        var resources: ResourceUsage?
    }

    private struct Teardown {
        var exited = false
        /// The look for what is left of the group has begun (`lookForLeftovers`).
        var looking = false
        /// The look that happens anyway if nobody asks for it.
        var lookLater: Scheduled<Void>?
        var reaped = false
        var signalled = false
        var killed = false
        var killedAt: NIODeadline?
        var finished = false
        var timeoutTask: Scheduled<Void>?
        var killTask: Scheduled<Void>?
    }

    /// - Throws: when the kernel cannot watch the process (the caller then kills it).
    init(
        pid: pid_t,
        timeout: Duration,
        killGrace: Duration,
        lookAfterExit: Duration,
        groupThroughPidfd: Bool,
        eventLoop: any EventLoop
    ) throws {
        self.pid = pid
        self.timeout = timeout
        self.killGrace = killGrace
        self.lookAfterExit = TimeAmount(saturating: lookAfterExit)
        self.eventLoop = eventLoop
        self.watched = try ProcessExitWatcher.shared.watch(pid: pid, on: eventLoop)
        self.group = ProcessGroup(leader: pid, throughPidfd: groupThroughPidfd)
        self.mainExit = eventLoop.makePromise()
        self.groupGone = eventLoop.makePromise()
        self.teardown = NIOLoopBoundBox.makeBoxSendingValue(Teardown(), eventLoop: eventLoop)
    }

    /// Starts the timeout and waits for the exit. Call once.
    func start() {
        eventLoop.execute { [self] in
            guard !teardown.value.exited else { return }
            teardown.value.timeoutTask = eventLoop.scheduleTask(in: TimeAmount(saturating: timeout)) { [self] in
                guard !teardown.value.exited else { return }
                flags.withLockedValue { $0.timedOut = true }
                beginTeardown()
            }
        }
        watched.whenSuccess { [self] termination in exited(termination) }
    }

    /// Asks for the build to be torn down (client gone, cancel, shutdown). Safe from any thread.
    func cancel() {
        eventLoop.execute { [self] in
            guard !teardown.value.finished else { return }
            if !teardown.value.exited {
                flags.withLockedValue { if !$0.timedOut { $0.cancelled = true } }
            }
            beginTeardown()
            if teardown.value.exited { lookNow() }
        }
    }

    /// Completes when the main process has exited (it may still be unreaped).
    var terminated: EventLoopFuture<ProcessTermination> { mainExit.futureResult }

    /// How the main process ended, once that is known: read without waiting for `terminated`.
    var termination: ProcessTermination? { flags.withLockedValue { $0.termination } }

    /// Called when the build's pipes reached end-of-file, which usually means its process has
    /// just exited: if it has, take note now instead of waiting for the watcher thread's word.
    func noticeExitIfAlreadyDone() {
        guard eventLoop.inEventLoop else {
            eventLoop.execute { [self] in noticeExitIfAlreadyDone() }
            return
        }
        guard !teardown.value.exited else { return }
        var code: Int32 = -1
        var signal: Int32 = -1
        if bs_exited_already(pid, &code, &signal) == 1 {
            exited(signal >= 0 ? .signaled(signal) : .exited(code))
        }
    }

    private func exited(_ termination: ProcessTermination) {
        guard !teardown.value.exited else { return }
        teardown.value.exited = true
        teardown.value.timeoutTask?.cancel()
        // The leader is still unreaped here: the kernel still has its rusage (one system call).
        var used = bs_resources()
        let resources =
            bs_terminated_usage(pid, &used) == 1
            ? ResourceUsage(cpuUserSec: used.user_sec, cpuSystemSec: used.system_sec, maxRSSKiB: used.max_rss_kib) : nil
        flags.withLockedValue {
            $0.termination = termination
            $0.resources = resources
        }
        mainExit.succeed(termination)
        // Reaping the leader and looking at its group cost the build's `exit` event ~10 µs when
        // done here, before the event is written: the build's owner asks once it is out
        // (`lookForLeftovers`). A build being torn down is looked at at once; one nobody asks
        // about, shortly after.
        if teardown.value.signalled {
            lookNow()
        } else {
            teardown.value.lookLater = eventLoop.scheduleTask(in: lookAfterExit) { [self] in lookNow() }
        }
    }

    /// Once the main process has exited: looks for what is left of its group now (tearing it
    /// down if anything is) instead of `lookAfterExit` after the exit.
    /// - Returns: `finished`.
    func lookForLeftovers() -> EventLoopFuture<Void> {
        if eventLoop.inEventLoop {
            if teardown.value.exited { lookNow() }
        } else {
            eventLoop.execute { [self] in if teardown.value.exited { lookNow() } }
        }
        return finished
    }

    private func lookNow() {
        guard !teardown.value.looking else { return }
        teardown.value.looking = true
        teardown.value.lookLater?.cancel()
        teardown.value.lookLater = nil
        if !teardown.value.reaped { teardown.value.reaped = group.reapLeader() }
        checkGroup()
    }

    /// Completes when no process of the group is left and the main process is reaped.
    var finished: EventLoopFuture<Void> { groupGone.futureResult }

    var timedOut: Bool { flags.withLockedValue { $0.timedOut } }
    var cancelled: Bool { flags.withLockedValue { $0.cancelled } }
    /// What the main process (and the children it waited for) used, once it has exited.
    var resources: ResourceUsage? { flags.withLockedValue { $0.resources } }

    private func beginTeardown() {
        guard !teardown.value.signalled else { return }
        teardown.value.signalled = true
        group.terminate()
        teardown.value.killTask = eventLoop.scheduleTask(in: TimeAmount(saturating: killGrace)) { [self] in
            group.signal(SIGKILL)
            teardown.value.killed = true
            teardown.value.killedAt = .now()
        }
    }

    /// After the main process exited: done if nothing of the group is left, else tear it down
    /// and look again every 20 ms. If the group cannot be looked at, the teardown is carried
    /// out blind. Through a pidfd the look is one system call, made right here; a walk over
    /// /proc (older kernels) runs on a thread-pool thread, not on the event loop.
    private func checkGroup() {
        let group = self.group
        if group.canReapLeaderEarly {
            // Retried: a leader held by a tracer cannot be reaped until it lets go.
            if !teardown.value.reaped { teardown.value.reaped = group.reapLeader() }
            groupLooked(alive: teardown.value.reaped ? group.hasLiveMembers : nil)
            return
        }
        NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { group.hasLiveMembers }.whenComplete { [self] result in
            groupLooked(alive: (try? result.get()) ?? nil)
        }
    }

    private func groupLooked(alive: Bool?) {
        // A member that SIGKILL did not remove within the grace (a zombie whose parent is
        // elsewhere, a process stuck in the kernel) is beyond reach: stop looking.
        let hopeless = teardown.value.killedAt.map { .now() - $0 > TimeAmount(saturating: killGrace) } ?? false
        guard alive ?? !teardown.value.killed, !hopeless else {
            finish()
            return
        }
        beginTeardown()
        eventLoop.scheduleTask(in: .milliseconds(20)) { [self] in checkGroup() }
    }

    private func finish() {
        teardown.value.finished = true
        teardown.value.killTask?.cancel()
        if !teardown.value.reaped, !group.reapLeader() {
            // The /proc way keeps the exited leader as a zombie until now: reaped at once. A
            // pidfd group's leader still unreapable is held by a tracer: waited for on a pool
            // thread, never on the event loop.
            let pid = self.pid
            let wait: @Sendable () -> Void = {
                var code: Int32 = 0
                var signal: Int32 = 0
                _ = bs_wait_terminated(pid, 0, &code, &signal)
            }
            if group.canReapLeaderEarly {
                NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop, wait).whenComplete { _ in }
            } else {
                wait()
            }
        }
        group.close()
        groupGone.succeed(())
    }
}
