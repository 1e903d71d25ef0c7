import BuildServiceCore
import BuildServiceProtocol
import CBuildServiceSystem
import Foundation
import NIOCore
import NIOPosix

/// Binds the Unix socket so that it is never more permissive than configured: created under a
/// restrictive umask (owner-only), then given its group and mode.
enum UnixSocketListener {
    /// - Parameter deadlines: those of `[service.http]`: a local client that trickles its
    ///   request in holds a descriptor as long as a remote one would.
    static func bind(
        config: SocketListenerConfig,
        group: any EventLoopGroup,
        listener: ListenerContext,
        deadlines: RequestDeadlines.Settings
    ) async throws -> any Channel {
        let metrics = listener.operations.metrics
        try prepare(path: config.path)
        let previousMask = umask(0o177)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: ListenerContext.backlog)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try AcceptedConnection.configure(channel)
                        try channel.pipeline.syncOperations.addHandlers([
                            IdleStateHandler(readTimeout: .seconds(60)),
                            RequestDeadlines(deadlines) { readingHead in metrics.requestTimedOut(readingHead: readingHead) },
                            ProtocolSniffer(listener: listener),
                        ])
                    }
                }
                .bind(unixDomainSocketPath: config.path, cleanupExistingSocketFile: false)
                .get()
            umask(previousMask)
        } catch {
            umask(previousMask)
            throw ConfigError(key: "service.socket.path", "cannot listen on \(config.path): \(SystemErrorText.describe(error))")
        }
        do {
            try applyOwnership(path: config.path, config: config)
        } catch {
            try? await channel.close()
            unlink(config.path)
            throw error
        }
        return channel
    }

    /// A stale socket from an earlier run is replaced; a live one (another daemon answers on it)
    /// and anything that is not a socket are left alone.
    private static func prepare(path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw ConfigError(key: "service.socket.path", "\(path) exists and is not a socket; refusing to replace it")
        }
        guard bs_unix_socket_accepts(path) != 1 else {
            throw ConfigError(key: "service.socket.path", "another process is listening on \(path); refusing to take it over")
        }
        guard unlink(path) == 0 else {
            throw ConfigError(key: "service.socket.path", "cannot remove the old socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func applyOwnership(path: String, config: SocketListenerConfig) throws {
        if let groupName = config.group {
            guard let group = getgrnam(groupName) else {
                throw ConfigError(key: "service.socket.group", "no group named \"\(groupName)\" exists on this host")
            }
            guard chown(path, uid_t.max, group.pointee.gr_gid) == 0 else {
                throw ConfigError(key: "service.socket.group", "cannot give \(path) to group \(groupName): \(String(cString: strerror(errno)))")
            }
        }
        guard chmod(path, mode_t(config.mode)) == 0 else {
            throw ConfigError(key: "service.socket.mode", "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }
}
