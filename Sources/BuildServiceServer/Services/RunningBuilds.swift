import BuildServiceCore
import Logging
import ServiceLifecycle
import UnixSignals

/// The builds' side of the daemon's life: projects held for an earlier run's leftover
/// processes are released once those are gone, and at shutdown (after the listeners closed)
/// running builds get `build.shutdown_grace_sec` to finish, a second SIGTERM or SIGINT cuts
/// that short, the rest are cancelled, and attached clients get a moment to receive their
/// builds' last events.
struct RunningBuilds: Service {
    let registry: BuildRegistry
    let runner: BuildRunner
    let live: LiveSettings
    /// Process groups an earlier run left that outlived SIGKILL; their projects are held.
    let stuck: [ProcessGroupLedger.Leftover]
    /// SIGTERM and SIGINT, trapped at startup: the first began the shutdown, a second hurries it.
    let stops: UnixSignalsSequence
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown { await releaseHeldProjects() }
        try? await gracefulShutdown()
        await drain(grace: .seconds(live.current.config.build.shutdownGraceSec))
    }

    private func drain(grace: Duration) async {
        let (registry, logger, stops) = (self.registry, self.logger, self.stops)
        logger.notice("waiting for running builds", metadata: ["grace_sec": .stringConvertible(grace.components.seconds)])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var signals = 0
                for await _ in stops {
                    signals += 1
                    guard signals >= 2 else { continue }  // the first one started this shutdown
                    logger.notice("second signal: cancelling running builds now")
                    await registry.shutdown(grace: .zero)
                    return
                }
            }
            await registry.shutdown(grace: grace)
            group.cancelAll()
        }
        // Attached clients get their builds' `exit` events before the process ends.
        await registry.attachedReaders.waitForZero(within: .seconds(5))
        await runner.active.terminateAll()
    }

    /// Lets the held projects' builds start once their leftover groups are gone.
    private func releaseHeldProjects() async {
        var waiting = stuck
        while !waiting.isEmpty {
            // A process in uninterruptible sleep gives no event to wait for: looked at again.
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
            // Each group looked at once per round (a walk of /proc on older kernels).
            let gone = waiting.filter { !ProcessGroupLedger.stillHasProcesses($0) }
            waiting.removeAll { leftover in gone.contains { $0.pgid == leftover.pgid } }
            for project in Set(gone.map(\.project)) where !waiting.contains(where: { $0.project == project }) {
                logger.notice("an earlier run's leftover processes are gone", metadata: [LogKey.project: .string(project)])
                registry.release(project)
            }
        }
    }
}
