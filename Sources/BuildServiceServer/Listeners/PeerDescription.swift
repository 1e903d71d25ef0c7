import CBuildServiceSystem
import NIOConcurrencyHelpers
import NIOCore

/// Who is at the other end of a connection, for audit lines: `address:port` on TCP; on the
/// Unix socket the connecting process's uid, gid and pid as the kernel recorded them at
/// `connect` (SO_PEERCRED), which the peer cannot forge.
enum PeerDescription {
    /// Must be called on the channel's event loop (the option is then read at once).
    static func of(_ channel: any Channel) -> String {
        guard let address = channel.remoteAddress else { return unix(channel) }
        if case .unixDomainSocket = address { return unix(channel) }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }

    private static func unix(_ channel: any Channel) -> String {
        guard let provider = channel as? any SocketOptionProvider else { return "unix" }
        // On the event loop the option is read synchronously and the future is already complete.
        let described = NIOLockedValueBox("unix")
        let credentials: EventLoopFuture<bs_peer_credentials> = provider.unsafeGetSocketOption(
            level: .socket,
            name: .init(rawValue: BS_SO_PEERCRED)
        )
        credentials.whenSuccess { peer in described.withLockedValue { $0 = "unix uid=\(peer.uid) gid=\(peer.gid) pid=\(peer.pid)" } }
        return described.withLockedValue { $0 }
    }
}
