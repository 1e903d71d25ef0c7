import BuildServiceConcurrency
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

/// The daemon: its listeners and the builds they start. `run` puts the house in order (an
/// earlier run's leftover builds, checkouts and artifact sets), binds the listeners, and then
/// runs the daemon's parts as services of one group (see `Services/`) until graceful shutdown.
public final class BuildService: Service {
    private let config: ServiceConfig
    /// Re-read on SIGHUP; `nil` when the config did not come from a file.
    private let configPath: String?
    /// Where a reload's config text is parsed first (see `TOMLParserSandbox`); `nil`: in this process only.
    private let configSandbox: TOMLParserSandbox?
    private let logger: Logger
    private let group: any EventLoopGroup
    private let runner: BuildRunner
    private let store: ArtifactStore
    private let signer: ArtifactURLSigner
    private let workspaces: RepoWorkspaces?
    private let prometheus = PrometheusCollectorRegistry()
    private let metrics: BuildMetrics
    private let notifier = SystemdNotifier()
    /// The open-file limit, raised at start (see `DescriptorLimit`).
    private let descriptors: DescriptorLimit

    /// - Throws: `ServiceError` (`run_as_user`/`run_as_group`) when the run-as user is gone.
    public init(
        config: ServiceConfig,
        configPath: String? = nil,
        configSandbox: TOMLParserSandbox? = nil,
        logger: Logger,
        group: any EventLoopGroup
    ) throws(ServiceError) {
        self.config = config
        self.configPath = configPath
        self.configSandbox = configSandbox
        var factory = PrometheusMetricsFactory(registry: prometheus)
        factory.defaultDurationHistogramBuckets = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600].map { .milliseconds(Int64($0 * 1000)) }
        self.metrics = BuildMetrics(factory: factory)
        self.logger = logger
        self.group = group
        let identity = try RunAsIdentity.resolve(user: config.build.runAsUser, group: config.build.runAsGroup)
        descriptors = DescriptorLimit.raiseSoftToHard()
        var limits = config.build.limits
        limits.inheritedNofile = descriptors
        self.runner = BuildRunner(
            identity: identity,
            environmentAllow: config.build.environmentAllow,
            fileCreationMask: config.build.umask,
            limits: limits
        )
        if config.projects.contains(where: { $0.kind == .repo }) {
            // Mirrors are not the build user's: git that updates them runs as `mirror_user` (the
            // daemon's own user by default), so no build can reach into them.
            var helperLimits = BuildLimits()
            helperLimits.inheritedNofile = descriptors
            let mirrorRunner = BuildRunner(
                identity: try RunAsIdentity.resolve(user: config.build.mirrorUser, group: nil),
                environmentAllow: config.build.environmentAllow,
                active: runner.active,
                // Readable by the build user whatever the daemon's umask (systemd's is 0077):
                // checkouts borrow the mirror's objects.
                fileCreationMask: 0o022,
                limits: helperLimits
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
            throw ServiceError(.internalError, "artifacts.storage_root \(config.artifacts.storageRoot): \(SystemErrorText.describe(error))")
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
                throw ConfigError(key: "build.workspace_root", "cannot prepare \(config.build.workspaceRoot): \(SystemErrorText.describe(error))")
            }
        }
        let quota = ArtifactQuota(store: store, maxBytes: config.artifacts.maxBytes, logger: logger)
        let removed = store.removeLeftovers()
        if removed > 0 { logger.notice("removed unfinished artifact sets", metadata: ["count": .stringConvertible(removed)]) }
        let publisher = ArtifactPublisher(
            collector: ArtifactCollector(quota: quota, reader: ArtifactReader(identity: runner.identity)),
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
        let endpoint = BuildEndpoint(registry: registry, logger: logger, refusals: RefusalLog(logger: logger))
        let downloads = ArtifactDownloads(store: store, signer: signer)
        let health = DaemonHealth(version: BuildServiceVersion.text)
        let deadlines = RequestDeadlines.Settings(
            headSec: config.http.headerTimeoutSec,
            bodySec: config.http.bodyTimeoutSec,
            minBodyBytesPerSec: config.http.minBodyBytesPerSec
        )
        let connectionLimits = ConnectionLimits(
            maxTotal: config.maxConnections ?? descriptors.defaultMaxConnections,
            maxPerAddress: config.http.maxConnectionsPerIP,
            metrics: metrics,
            logger: logger
        )
        let (metrics, prometheus) = (self.metrics, self.prometheus)
        let buildRoutes = BuildRoutes(registry: registry, signer: signer, artifactTTLSec: config.artifacts.ttlSec)
        let operations = ListenerContext.Operations(
            builds: buildRoutes,
            people: PeopleRoutes(sessions: SessionStore(), builds: buildRoutes),
            health: health,
            metrics: metrics,
            metricsText: {
                let load = registry.load
                metrics.load(running: load.running, queued: load.queued, retainedEventBytes: registry.retainedEventBytes)
                metrics.openConnections(connectionLimits.open)
                let usage = quota.usage
                metrics.artifactStore(published: usage.published, staged: usage.staged, maxBytes: quota.maxBytes)
                return prometheus.emitToBuffer()
            }
        )
        var channels: [any Channel] = []
        var socketFile: Listeners.SocketFile?
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
                    operations: operations
                )
                let channel = try await UnixSocketListener.bind(config: config.socket, group: group, listener: context, deadlines: deadlines)
                channels.append(channel)
                socketFile = Listeners.SocketFile(at: config.socket.path)
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
                    operations: operations
                )
                let listening = try await TCPListener.bind(
                    address: config.http.listenAddress,
                    group: group,
                    listener: context,
                    tls: tls,
                    deadlines: deadlines,
                    limits: connectionLimits,
                    logger: logger
                )
                channels += listening
                let bound = listening[0].localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                var metadata: Logger.Metadata = [
                    LogKey.listener: .string(name), LogKey.address: .string(bound),
                    "max_connections": .stringConvertible(connectionLimits.maxTotal),
                    "open_files_limit": .stringConvertible(descriptors.soft),
                ]
                if let tls { metadata.merge(ConfigReloader.describe(tls.current)) { $1 } }
                logger.notice("listening", metadata: metadata)
            }
        } catch {
            await Listeners.close(channels, socketFile: socketFile)
            throw error
        }

        notifier.notify("READY=1\nSTATUS=serving")
        // Graceful shutdown reaches them in the reverse of this order, one after the other:
        // the listeners close first, then running builds get their grace, and the background
        // work stops last (a reload during the grace still works).
        let parts = ServiceGroup(
            configuration: .init(
                services: [
                    .init(
                        service: ConfigReloader(
                            configPath: configPath,
                            sandbox: configSandbox,
                            hangups: hangups,
                            live: live,
                            registry: registry,
                            tls: tls,
                            notifier: notifier,
                            health: health,
                            logger: logger
                        )
                    ),
                    .init(service: ArtifactGarbageCollector(quota: quota, settings: config.artifacts, logger: logger)),
                    .init(service: BuildExpiry(registry: registry)),
                    .init(service: RunningBuilds(registry: registry, runner: runner, live: live, stuck: stuck, stops: stops, logger: logger)),
                    .init(
                        service: Listeners(
                            channels: channels,
                            socketFile: socketFile,
                            health: health,
                            registry: registry,
                            notifier: notifier,
                            logger: logger
                        )
                    ),
                ],
                gracefulShutdownSignals: [],  // the parent group's graceful shutdown reaches this one
                logger: logger
            )
        )
        try await parts.run()
        logger.notice("stopped")
    }
}
