import BuildServiceCore
import BuildServiceTLS
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

/// On SIGHUP (`systemctl reload`): re-reads the config file and, if it is valid, replaces
/// projects, commands, tokens, limits and the TLS certificate at once; running builds are
/// untouched. An invalid file is logged and the running config kept. What only a restart can
/// change (listeners, run-as user, directories) is reported as such. Every 12 hours the TLS
/// context is rebuilt so that session-ticket keys (random per context) rotate, as Caddy and Go do.
struct ConfigReloader: Service {
    let configPath: String?
    /// Parses the new text in a child process first: a parser crash there keeps the old config.
    let sandbox: TOMLParserSandbox?
    /// SIGHUPs, trapped before the daemon said it was ready, so that none sent right after
    /// goes unnoticed.
    let hangups: UnixSignalsSequence
    let live: LiveSettings
    let registry: BuildRegistry
    let tls: TLSContextHolder?
    let notifier: SystemdNotifier
    /// Whether the daemon is stopping (a reload during the shutdown grace still applies).
    let health: DaemonHealth
    let logger: Logger

    static let ticketKeyRotation: Duration = .seconds(12 * 3600)

    /// Runs until graceful shutdown.
    func run() async {
        await cancelWhenGracefulShutdown { await reloadOnSignalsAndRotateTickets() }
    }

    private func reloadOnSignalsAndRotateTickets() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups {
                    // On a thread of its own: the config is read, and parsed in a child process
                    // first, which may take up to its time limit (10 s). Not the concurrency
                    // pool, nor NIO's shared blocking pool (two threads here), whose work
                    // (artifact downloads, build teardown) would wait behind it.
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        Thread.detachNewThread {
                            reload()
                            done.resume()
                        }
                    }
                }
            }
            if tls != nil {
                group.addTask {
                    while (try? await Task.sleep(for: Self.ticketKeyRotation)) != nil {
                        reloadCertificate(from: live.current.config, reason: "session ticket key rotation")
                    }
                }
            }
            await group.waitForAll()
        }
    }

    func reload() {
        guard let configPath else {
            logger.notice("SIGHUP: no config file to re-read")
            return
        }
        // Once stopping, systemd has heard STOPPING=1: a READY=1 now would contradict it.
        let tellSystemd = !health.isStopping
        if tellSystemd { notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())") }
        defer { if tellSystemd && !health.isStopping { notifier.notify("READY=1") } }
        let config: ServiceConfig
        do {
            config = try ServiceConfig.load(path: configPath, sandbox: sandbox)
        } catch {
            logger.error("config reload failed; the running config is kept", metadata: [LogKey.error: .string(error.description)])
            return
        }
        let old = live.current.config
        let unworkable = Self.changesNeedingARestart(from: old, to: config)
        guard unworkable.isEmpty else {
            // Accepting it would leave every affected build failing: keep what works.
            logger.error(
                "config reload refused: it needs a restart; the running config is kept",
                metadata: ["needs_restart": .array(unworkable.map { .string($0) })]
            )
            return
        }
        let needRestart = Self.restartOnlyChanges(from: old, to: config)
        if tls != nil, config.http.tls.enabled {
            // First, so that a broken certificate leaves everything as it was.
            guard reloadCertificate(from: config, reason: "SIGHUP") else {
                logger.error("config reload failed; the running config is kept", metadata: [LogKey.error: "the TLS certificate did not load"])
                return
            }
        }
        live.replace(with: config)
        registry.update(BuildRegistry.Limits(config: config))
        logger.notice(
            "config reloaded",
            metadata: [
                "projects": .stringConvertible(config.projects.count),
                "restart_needed_for": .array(needRestart.map { .string($0) }),
            ]
        )
        if !needRestart.isEmpty {
            logger.warning("some changed settings take effect only after a restart", metadata: ["keys": .array(needRestart.map { .string($0) })])
        }
    }

    /// Rebuilds the TLS context from `config`'s certificate and key; false (logged) if they do not load.
    @discardableResult
    func reloadCertificate(from config: ServiceConfig, reason: String) -> Bool {
        guard let tls else { return true }
        do {
            let context = try config.makeTLSContext()
            tls.replace(with: context)
            logger.notice("TLS certificate reloaded", metadata: Self.describe(context, reason: reason))
            return true
        } catch {
            logger.error(
                "TLS certificate reload failed; still serving the previous certificate",
                metadata: [LogKey.reason: .string(reason), LogKey.error: .string(error.description)]
            )
            return false
        }
    }

    /// Changes whose builds would fail until a restart, because what they need is set up at
    /// start only: the checkout workspaces of the first repo project, the artifact store and
    /// signing key of the first artifact patterns. A reload with one of them is refused whole.
    static func changesNeedingARestart(from old: ServiceConfig, to new: ServiceConfig) -> [String] {
        var changes: [String] = []
        if !old.projects.contains(where: { $0.kind == .repo }), let added = new.projects.first(where: { $0.kind == .repo }) {
            changes.append("the first repo project (\(added.id)): repo workspaces are set up at start")
        }
        if !old.projects.contains(where: { !$0.artifacts.isEmpty }), let added = new.projects.first(where: { !$0.artifacts.isEmpty }) {
            changes.append("the first artifact patterns (project \(added.id)): the artifact store and URL signing key are set up at start")
        }
        return changes
    }

    /// Settings a running daemon cannot change: its listeners, who builds run as, its directories.
    static func restartOnlyChanges(from old: ServiceConfig, to new: ServiceConfig) -> [String] {
        var keys: [String] = []
        if old.socket.enabled != new.socket.enabled || old.socket.path != new.socket.path || old.socket.mode != new.socket.mode
            || old.socket.group != new.socket.group
        {
            keys.append("service.socket")
        }
        if old.http.enabled != new.http.enabled || old.http.listenAddress != new.http.listenAddress
            || old.http.tls.enabled != new.http.tls.enabled || old.http.headerTimeoutSec != new.http.headerTimeoutSec
            || old.http.bodyTimeoutSec != new.http.bodyTimeoutSec || old.http.minBodyBytesPerSec != new.http.minBodyBytesPerSec
            || old.http.maxConnectionsPerIP != new.http.maxConnectionsPerIP
        {
            keys.append("service.http")
        }
        if old.build.runAsUser != new.build.runAsUser || old.build.runAsGroup != new.build.runAsGroup
            || old.build.environmentAllow != new.build.environmentAllow || old.build.umask != new.build.umask
        {
            keys.append("build.run_as_user/run_as_group/umask/environment")
        }
        if old.build.workspaceRoot != new.build.workspaceRoot || old.build.gitPath != new.build.gitPath
            || old.build.mirrorUser != new.build.mirrorUser
        {
            keys.append("build.workspace_root/git_path/mirror_user")
        }
        if old.sendTimeoutSec != new.sendTimeoutSec { keys.append("service.send_timeout_sec") }
        if old.maxConnections != new.maxConnections { keys.append("service.max_connections") }
        if old.build.limits != new.build.limits { keys.append("build.limits") }
        if old.artifacts.storageRoot != new.artifacts.storageRoot || old.artifacts.publicBaseURL != new.artifacts.publicBaseURL
            || old.artifacts.ttlSec != new.artifacts.ttlSec || old.artifacts.maxBytes != new.artifacts.maxBytes
            || old.artifacts.gcIntervalSec != new.artifacts.gcIntervalSec || old.artifacts.signingKeyFile != new.artifacts.signingKeyFile
            || old.artifacts.urlTTLSec != new.artifacts.urlTTLSec
        {
            keys.append("artifacts")
        }
        // The log handler is set up once, at start (swift-log bootstraps once per process).
        if old.logging.directory != new.logging.directory || old.logging.level != new.logging.level
            || old.logging.maxBytes != new.logging.maxBytes || old.logging.maxFiles != new.logging.maxFiles
            || old.logging.console != new.logging.console
        {
            keys.append("logging")
        }
        return keys
    }

    static func describe(_ context: TLSContext, reason: String? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let reason { metadata[LogKey.reason] = .string(reason) }
        if let leaf = context.leafCertificate {
            metadata["tls.subject"] = .string(leaf.subject)
            if let notAfter = leaf.notAfter { metadata["tls.not_after"] = .string(ISO8601DateFormatter().string(from: notAfter)) }
        }
        return metadata
    }

    private static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
