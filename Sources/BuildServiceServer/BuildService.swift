public import BuildServiceCore
public import BuildServiceProtocol
import BuildServiceTLS
import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
public import ServiceLifecycle
import UnixSignals

/// The daemon: its listeners and the builds they start. Runs until graceful shutdown, then
/// stops accepting, tears down running builds and removes the socket file.
public final class BuildService: Service {
    private let config: ServiceConfig
    /// Re-read on SIGHUP; `nil` when the config did not come from a file.
    private let configPath: String?
    private let logger: Logger
    private let group: any EventLoopGroup
    private let runner: BuildRunner
    private let store: ArtifactStore
    private let signer: ArtifactURLSigner
    private let workspaces: RepoWorkspaces?
    private let prometheus = PrometheusCollectorRegistry()
    private let metrics: BuildMetrics
    private let notifier = SystemdNotifier()

    /// - Throws: `ServiceError` (`run_as_user`/`run_as_group`) when the run-as user is gone.
    public init(config: ServiceConfig, configPath: String? = nil, logger: Logger, group: any EventLoopGroup) throws(ServiceError) {
        self.config = config
        self.configPath = configPath
        var factory = PrometheusMetricsFactory(registry: prometheus)
        factory.defaultDurationHistogramBuckets = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600].map { .milliseconds(Int64($0 * 1000)) }
        self.metrics = BuildMetrics(factory: factory)
        self.logger = logger
        self.group = group
        let identity = try RunAsIdentity.resolve(user: config.build.runAsUser, group: config.build.runAsGroup)
        self.runner = BuildRunner(identity: identity, environmentAllow: config.build.environmentAllow, limits: config.build.limits)
        if config.projects.contains(where: { $0.kind == .repo }) {
            // Mirrors are not the build user's: git that updates them runs as `mirror_user` (the
            // daemon's own user by default), so no build can reach into them.
            let mirrorRunner = BuildRunner(
                identity: try RunAsIdentity.resolve(user: config.build.mirrorUser, group: nil),
                environmentAllow: config.build.environmentAllow,
                active: runner.active,
                // Readable by the build user whatever the daemon's umask (systemd's is 0077):
                // checkouts borrow the mirror's objects.
                fileCreationMask: 0o022
            )
            workspaces = RepoWorkspaces(root: config.build.workspaceRoot, runner: runner, mirrorRunner: mirrorRunner, gitPath: config.build.gitPath)
        } else {
            workspaces = nil
        }
        self.store = ArtifactStore(root: config.artifacts.storageRoot)
        // Without artifact patterns nothing is ever stored: touch neither the store nor a key file.
        guard config.projects.contains(where: { !$0.artifacts.isEmpty }) else {
            signer = ArtifactURLSigner(key: SecureRandom.bytes(32), lifetimeSec: config.artifacts.urlTTLSec)
            return
        }
        do {
            try store.prepare()
            signer = ArtifactURLSigner(
                key: try ArtifactURLSigner.loadOrCreateKey(path: Self.signingKeyPath(config.artifacts, logger: logger)),
                lifetimeSec: config.artifacts.urlTTLSec
            )
        } catch let error as ConfigError {
            throw ServiceError(.internalError, error.description)
        } catch {
            throw ServiceError(.internalError, "artifacts.storage_root \(config.artifacts.storageRoot): \(error.localizedDescription)")
        }
    }

    /// The signing key's path. A key an earlier version kept inside the store (its default) is
    /// moved beside it, so that a server serving the store (the original's model) cannot serve
    /// the key; where it cannot be moved, or is configured inside the store, a warning says so.
    private static func signingKeyPath(_ artifacts: ArtifactSettings, logger: Logger) -> String {
        let manager = FileManager.default
        var path = artifacts.signingKeyPath
        let inside = artifacts.signingKeyPathInsideTheStore
        if artifacts.signingKeyFile == nil, manager.fileExists(atPath: inside), !manager.fileExists(atPath: path) {
            if rename(inside, path) == 0 {
                logger.notice("moved the artifact URL signing key out of storage_root", metadata: ["path": .string(path)])
            } else {
                logger.warning(
                    "cannot move the artifact URL signing key out of storage_root; set artifacts.signing_key_file outside it",
                    metadata: ["path": .string(inside), LogKey.error: .string(String(cString: strerror(errno)))]
                )
                path = inside
            }
        }
        if path.hasPrefix(artifacts.storageRoot + "/") {
            logger.warning(
                "the artifact URL signing key is inside storage_root: a server that serves storage_root would serve the key",
                metadata: ["path": .string(path)]
            )
        }
        return path
    }

    /// Kills the process groups of builds an earlier run recorded and could not tear down
    /// (it was killed with SIGKILL, say), and records this run's from now on.
    /// - Returns: groups that outlived SIGKILL for a few seconds; their projects are held.
    private func endLeftoverBuilds() async -> [ProcessGroupLedger.Leftover] {
        guard let ledger = ProcessGroupLedger.open(workspaceRoot: config.build.workspaceRoot) else {
            logger.warning(
                "cannot record running builds; builds a crash leaves running will not be ended at the next start",
                metadata: ["directory": .string(config.build.workspaceRoot + "/running")]
            )
            return []
        }
        let leftovers = ledger.takeLeftovers()
        for leftover in leftovers {
            logger.warning(
                "ending a build an earlier run left running",
                metadata: [
                    "pgid": .stringConvertible(leftover.pgid), LogKey.project: .string(leftover.project),
                    LogKey.command: .string(leftover.command),
                ]
            )
        }
        let stuck = await ProcessGroupLedger.end(leftovers)
        for leftover in stuck {
            logger.error(
                "processes of an earlier run's build survive SIGKILL; the project's builds wait until they are gone",
                metadata: ["pgid": .stringConvertible(leftover.pgid), LogKey.project: .string(leftover.project)]
            )
        }
        runner.active.record(in: ledger)
        return stuck
    }

    /// Lets the held projects' builds start once their leftover groups are gone.
    private func releaseWhenGone(_ stuck: [ProcessGroupLedger.Leftover], registry: BuildRegistry) {
        let logger = self.logger
        Task {
            var waiting = stuck
            while !waiting.isEmpty {
                // A process in uninterruptible sleep gives no event to wait for: looked at again.
                try? await Task.sleep(for: .seconds(1))
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

    public func run() async throws {
        // Trapped first: a reload asked for as soon as the daemon is up is not lost.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // Trapped now too (the graceful-shutdown signal is the first of them): a second one
        // sent right after shutdown began must not go unnoticed.
        let stops = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // Before any checkout is removed or project handed out: what a killed run left running.
        let stuck = await endLeftoverBuilds()
        if let workspaces {
            do {
                try workspaces.prepare()
                let leftovers = await workspaces.removeLeftovers(eventLoop: group.next())
                if leftovers > 0 { logger.notice("removed checkouts left by an earlier run", metadata: ["count": .stringConvertible(leftovers)]) }
            } catch {
                throw ConfigError(key: "build.workspace_root", "cannot prepare \(config.build.workspaceRoot): \(error.localizedDescription)")
            }
        }
        let removed = store.removeLeftovers()
        if removed > 0 { logger.notice("removed unfinished artifact sets", metadata: ["count": .stringConvertible(removed)]) }
        let publisher = ArtifactPublisher(
            collector: ArtifactCollector(store: store, maxBytes: config.artifacts.maxBytes, reader: ArtifactReader(identity: runner.identity)),
            signer: signer,
            publicBaseURL: config.artifacts.publicBaseURL
        )
        let live = LiveSettings(config: config)
        let registry = BuildRegistry(
            executor: BuildExecutor(runner: runner, logger: logger, artifacts: publisher, workspaces: workspaces),
            limits: BuildRegistry.Limits(config: config),
            metrics: metrics
        )
        for project in Set(stuck.map(\.project)) { registry.hold(project) }
        if !stuck.isEmpty { releaseWhenGone(stuck, registry: registry) }
        let endpoint = BuildEndpoint(registry: registry, refusals: RefusalLog(logger: logger))
        let downloads = ArtifactDownloads(store: store, signer: signer)
        let signURLs = config.http.auth.required
        let health = DaemonHealth(version: BuildServiceVersion.text)
        let (metrics, prometheus) = (self.metrics, self.prometheus)
        let operations = ListenerContext.Operations(
            builds: BuildRoutes(registry: registry),
            health: health,
            metrics: metrics,
            metricsText: {
                let load = registry.load
                metrics.load(running: load.running, queued: load.queued, retainedEventBytes: registry.retainedEventBytes)
                return prometheus.emitToBuffer()
            }
        )
        var channels: [any Channel] = []
        /// The socket file we created (device and inode): only that one is ever removed.
        var socketFile: (dev_t, ino_t)?
        var tls: TLSContextHolder?
        do {
            if config.socket.enabled {
                let context = ListenerContext(
                    name: "unix",
                    transport: .unix,
                    endpoint: endpoint,
                    live: live,
                    sendTimeoutSec: config.sendTimeoutSec,
                    downloads: downloads,
                    operations: operations,
                    signArtifactURLs: signURLs
                )
                let channel = try await UnixSocketListener.bind(config: config.socket, group: group, listener: context)
                channels.append(channel)
                socketFile = Self.fileIdentity(config.socket.path)
                logger.notice("listening", metadata: [LogKey.listener: "unix", LogKey.path: .string(config.socket.path)])
            }
            if config.http.enabled {
                let name = config.http.tls.enabled ? "https" : "http"
                if config.http.tls.enabled { tls = TLSContextHolder(try config.makeTLSContext()) }
                let context = ListenerContext(
                    name: name,
                    transport: .tcp,
                    endpoint: endpoint,
                    live: live,
                    sendTimeoutSec: config.sendTimeoutSec,
                    isTLS: config.http.tls.enabled,
                    downloads: downloads,
                    operations: operations,
                    signArtifactURLs: signURLs
                )
                let listening = try await TCPListener.bind(
                    address: config.http.listenAddress,
                    group: group,
                    listener: context,
                    tls: tls,
                    logger: logger
                )
                channels += listening
                let bound = listening[0].localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                var metadata: Logger.Metadata = [LogKey.listener: .string(name), LogKey.address: .string(bound)]
                if let tls { metadata.merge(ConfigReloader.describe(tls.current)) { $1 } }
                logger.notice("listening", metadata: metadata)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            removeSocketFile(socketFile)
            throw error
        }

        notifier.notify("READY=1\nSTATUS=serving")
        let reloader = ConfigReloader(configPath: configPath, live: live, registry: registry, tls: tls, notifier: notifier, logger: logger)
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await reloader.run(hangups: hangups) }
            tasks.addTask { await self.collectArtifactGarbage() }
            tasks.addTask { await Self.forgetExpiredBuilds(registry) }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
        await shutDown(
            stops: stops,
            registry: registry,
            health: health,
            grace: .seconds(live.current.config.build.shutdownGraceSec),
            channels: channels,
            socketFile: socketFile
        )
    }

    /// Stops accepting (listeners closed, socket file removed, `/healthz` 503 on open
    /// connections), lets running builds finish for `build.shutdown_grace_sec` (a second
    /// SIGTERM or SIGINT cuts that short), cancels the rest, then gives attached clients a
    /// moment to receive their builds' last events.
    private func shutDown(
        stops: UnixSignalsSequence,
        registry: BuildRegistry,
        health: DaemonHealth,
        grace: Duration,
        channels: [any Channel],
        socketFile: (dev_t, ino_t)?
    ) async {
        health.markStopping()
        notifier.notify("STOPPING=1")
        let load = registry.load
        logger.notice(
            "shutting down",
            metadata: [
                "builds.running": .stringConvertible(load.running), "builds.queued": .stringConvertible(load.queued),
                "grace_sec": .stringConvertible(grace.components.seconds),
            ]
        )
        for channel in channels { try? await channel.close() }
        removeSocketFile(socketFile)
        let logger = self.logger
        let impatience = Task {
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
        impatience.cancel()
        // Attached clients get their builds' `exit` events before the process ends.
        await registry.attachedReaders.waitForZero(within: .seconds(5))
        await runner.active.terminateAll()
        logger.notice("stopped")
    }

    /// Forgets finished builds after `build.retain_sec`, also while no requests come in, and
    /// then hands memory freed since back to the system: glibc keeps the peak of a burst of
    /// builds (a thousand clients at once) in its arenas otherwise, for the daemon's lifetime.
    private static func forgetExpiredBuilds(_ registry: BuildRegistry) async {
        while (try? await Task.sleep(for: .seconds(30))) != nil {
            registry.expire()
            MemoryTrim.releaseFreeMemory()
        }
    }

    /// Applies `artifacts.ttl_sec` and `max_bytes` at startup and every `gc_interval_sec`.
    /// First, off the startup path, adopts the sets that have no manifest (the original
    /// build-service's store; see `ArtifactStore.adoptUnmanifested`), so retention sees them
    /// too, and fills in their digests after the first pass (expired ones are not read).
    private func collectArtifactGarbage() async {
        let (store, settings, logger) = (self.store, config.artifacts, self.logger)
        var needDigests = (try? await NIOThreadPool.singleton.runIfActive { store.adoptUnmanifested() }) ?? []
        if !needDigests.isEmpty {
            logger.notice(
                "adopted artifact sets that have no manifest (the original build-service's or a crash's); digests follow",
                metadata: ["count": .stringConvertible(needDigests.count)]
            )
        }
        repeat {
            let removed =
                (try? await NIOThreadPool.singleton.runIfActive {
                    store.collectGarbage(ttlSec: settings.ttlSec, maxBytes: settings.maxBytes)
                }) ?? []
            if !removed.isEmpty {
                logger.info("removed expired artifacts", metadata: ["builds": .array(removed.map { .string($0) })])
            }
            if !needDigests.isEmpty {
                let pending = needDigests
                _ = try? await NIOThreadPool.singleton.runIfActive { store.fillInDigests(of: pending) }
                logger.info("digests of adopted artifact sets computed", metadata: ["count": .stringConvertible(pending.count)])
                needDigests = []
            }
        } while (try? await Task.sleep(for: .seconds(settings.gcIntervalSec))) != nil
    }

    /// Removes the socket file if it is still the one this daemon created (never another
    /// daemon's, nor a file someone put there since).
    private func removeSocketFile(_ created: (dev_t, ino_t)?) {
        guard let created, let current = Self.fileIdentity(config.socket.path), current == created else { return }
        unlink(config.socket.path)
    }

    private static func fileIdentity(_ path: String) -> (dev_t, ino_t)? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return (info.st_dev, info.st_ino)
    }
}
