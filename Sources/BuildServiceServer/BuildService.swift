public import BuildServiceCore
public import BuildServiceProtocol
import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
public import ServiceLifecycle

/// The daemon: its listeners and the builds they start. Runs until graceful shutdown, then
/// stops accepting, tears down running builds and removes the socket file.
public final class BuildService: Service {
    private let config: ServiceConfig
    private let logger: Logger
    private let group: any EventLoopGroup
    private let runner: BuildRunner

    /// - Throws: `ServiceError` (`run_as_user`/`run_as_group`) when the run-as user is gone.
    public init(config: ServiceConfig, logger: Logger, group: any EventLoopGroup) throws(ServiceError) {
        self.config = config
        self.logger = logger
        self.group = group
        let identity = try RunAsIdentity.resolve(user: config.build.runAsUser, group: config.build.runAsGroup)
        let environment = BuildRunner.buildEnvironment(
            allow: config.build.environmentAllow,
            daemonEnvironment: ProcessInfo.processInfo.environment,
            identity: identity
        )
        self.runner = BuildRunner(identity: identity, environment: environment)
    }

    public func run() async throws {
        let endpoint = BuildEndpoint(
            validator: RequestValidator(config: config),
            executor: BuildExecutor(runner: runner, logger: logger)
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
                    auth: config.socket.auth,
                    sendTimeoutSec: config.sendTimeoutSec
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
                    auth: config.http.auth,
                    sendTimeoutSec: config.sendTimeoutSec
                )
                let channel = try await TCPListener.bind(
                    address: config.http.listenAddress,
                    group: group,
                    listener: context,
                    tls: tls,
                    logger: logger
                )
                channels.append(channel)
                let bound = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                var metadata: Logger.Metadata = [LogKey.listener: .string(name), LogKey.address: .string(bound)]
                if let tls { metadata.merge(CertificateReloader.describe(tls.current)) { $1 } }
                logger.notice("listening", metadata: metadata)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            removeSocketFile(socketFile)
            throw error
        }

        let reloader = CertificateReloader(config: config, holder: tls, logger: logger)
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await reloader.run() }
            try? await gracefulShutdown()
            tasks.cancelAll()
        }
        logger.notice("shutting down", metadata: ["builds.running": .stringConvertible(runner.active.count)])
        for channel in channels { try? await channel.close() }
        removeSocketFile(socketFile)
        await runner.active.terminateAll()
        logger.notice("stopped")
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
