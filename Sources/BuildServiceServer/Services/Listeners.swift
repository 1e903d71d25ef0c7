import BuildServiceCore
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The bound listeners, from the moment they accept until graceful shutdown. Shutdown is
/// the first thing they see, so they stop first: `/healthz` answers 503 on connections still
/// open, systemd hears STOPPING=1, the listening sockets close and the socket file goes.
/// Connections already accepted (attached clients) stay open.
final class Listeners: Service, Sendable {
    /// Where the Unix socket was created, and the file's identity: only that file is ever removed.
    struct SocketFile: Sendable {
        var path: String
        var device: dev_t
        var inode: ino_t
    }

    private let channels: [any Channel]
    private let socketFile: SocketFile?
    private let health: DaemonHealth
    private let registry: BuildRegistry
    private let notifier: SystemdNotifier
    private let logger: Logger

    init(
        channels: [any Channel],
        socketFile: SocketFile?,
        health: DaemonHealth,
        registry: BuildRegistry,
        notifier: SystemdNotifier,
        logger: Logger
    ) {
        self.channels = channels
        self.socketFile = socketFile
        self.health = health
        self.registry = registry
        self.notifier = notifier
        self.logger = logger
    }

    func run() async {
        try? await gracefulShutdown()
        health.markStopping()
        notifier.notify("STOPPING=1")
        let load = registry.load
        logger.notice(
            "shutting down",
            metadata: ["builds.running": .stringConvertible(load.running), "builds.queued": .stringConvertible(load.queued)]
        )
        await Self.close(channels, socketFile: socketFile)
    }

    /// Also the cleanup when startup fails halfway.
    static func close(_ channels: [any Channel], socketFile: SocketFile?) async {
        for channel in channels { try? await channel.close() }
        socketFile?.removeIfUnchanged()
    }
}

extension Listeners.SocketFile {
    /// The socket file at `path` as it is now; `nil` if there is no socket there.
    init?(at path: String) {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return nil }
        self.init(path: path, device: info.st_dev, inode: info.st_ino)
    }

    /// Removes the file if it is still the one this daemon created (never another daemon's,
    /// nor a file someone put there since).
    func removeIfUnchanged() {
        guard let current = Self(at: path), current.device == device, current.inode == inode else { return }
        unlink(path)
    }
}
