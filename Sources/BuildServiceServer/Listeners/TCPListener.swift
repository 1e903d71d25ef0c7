import BuildServiceCore
import BuildServiceProtocol
import BuildServiceTLS
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Binds the HTTP(S) listener on `service.http.listen_addr`: one listening socket per event
/// loop (SO_REUSEPORT, as nginx's `reuseport`), each serving its connections on its own loop.
/// The kernel spreads new connections over them, and a connection never hops between threads
/// on its way in — with one shared acceptor every accept costs two cross-thread wake-ups.
enum TCPListener {
    /// - Parameter tls: the certificate holder when TLS is on; each new connection gets the
    ///   context current at accept time.
    ///   - deadlines: for a request's head (from its first byte) and body (from its head).
    ///   - limits: the caps on open connections, shared by every listening socket.
    /// - Returns: the listening channels (the first one's local address is the bound one).
    static func bind(
        address: ListenAddress,
        group: any EventLoopGroup,
        listener: ListenerContext,
        tls: TLSContextHolder?,
        deadlines: RequestDeadlines.Settings,
        limits: ConnectionLimits,
        logger: Logger
    ) async throws -> [any Channel] {
        var channels: [any Channel] = []
        var port = address.port
        // SO_REUSEPORT would let a second daemon (same user) share the port silently: refuse
        // to start next to one that already listens there, as a plain bind would.
        if port != 0, Self.somebodyListens(on: address) {
            throw ConfigError(
                key: "service.http.listen_addr",
                "cannot listen on \(address): \(Self.explain(IOError(errnoCode: EADDRINUSE, reason: "bind")))"
            )
        }
        do {
            for loop in group.makeIterator() {
                let channel = try await bootstrap(on: loop, listener: listener, tls: tls, deadlines: deadlines, limits: limits, logger: logger)
                    .bind(host: address.host, port: port)
                    .get()
                // Port 0 picks a free port for the first socket; the others share it.
                port = channel.localAddress?.port ?? port
                channels.append(channel)
            }
            return channels
        } catch {
            for channel in channels { try? await channel.close() }
            throw ConfigError(key: "service.http.listen_addr", "cannot listen on \(address): \(Self.explain(error))")
        }
    }

    /// Whether a TCP connect to the address (loopback for a wildcard) is accepted.
    /// Why a bind failed, in the system's words, with the usual way out.
    private static func explain(_ error: any Error) -> String {
        let reason = SystemErrorText.describe(error)
        switch (error as? IOError)?.errnoCode {
        case EADDRINUSE: return reason + "; another process listens there (ss -ltnp shows which): stop it or choose another port"
        case EACCES: return reason + "; a port below 1024 needs CAP_NET_BIND_SERVICE (the packaged unit grants it) or root"
        case EADDRNOTAVAIL: return reason + "; the address is not one of this host's"
        default: return reason
        }
    }

    private static func somebodyListens(on address: ListenAddress) -> Bool {
        let host = address.host == "0.0.0.0" ? "127.0.0.1" : (address.host == "::" ? "::1" : address.host)
        guard let target = try? SocketAddress.makeAddressResolvingHost(host, port: address.port) else { return false }
        let family: Int32 = target.protocol == .inet6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return target.withSockAddr { pointer, size in connect(fd, pointer, socklen_t(size)) } == 0
    }

    private static func bootstrap(
        on loop: any EventLoop,
        listener: ListenerContext,
        tls: TLSContextHolder?,
        deadlines: RequestDeadlines.Settings,
        limits: ConnectionLimits,
        logger: Logger
    ) -> ServerBootstrap {
        let metrics = listener.operations.metrics
        return ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: ListenerContext.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            // Accepted sockets inherit it from the listening one (it is also NIO's default there).
            .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    switch limits.admit(channel, canAnswer: tls == nil) {
                    case .admitted: break
                    case .overTotal, .overPerAddress: throw ConnectionLimits.Refused()
                    case .answerOverPerAddress:
                        try channel.pipeline.syncOperations.addHandlers(HTTPResponseEncoder(), TooManyConnectionsAnswer())
                        return
                    }
                    try AcceptedConnection.configure(channel)
                    let pipeline = channel.pipeline.syncOperations
                    // Before TLS, so it also bounds a handshake that trickles in.
                    try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(60)))
                    // Before TLS too: it times the bytes on the wire. Behind TLS it saw nothing
                    // of a record until its last byte, so a record trickled in a byte at a time
                    // held the connection with no deadline at all. The head's deadline thus
                    // also covers the handshake of a new connection, as nginx's
                    // client_header_timeout does.
                    try pipeline.addHandler(
                        RequestDeadlines(deadlines) { readingHead in
                            metrics.requestTimedOut(readingHead: readingHead)
                        }
                    )
                    if let tls {
                        try pipeline.addHandler(Self.tlsHandler(tls.current, channel: channel, listener: listener, logger: logger))
                    }
                    try pipeline.addHandler(listener.httpServerCodec())
                    try pipeline.addHandler(listener.httpConnectionHandler())
                }
            }
    }

    private static func tlsHandler(_ context: TLSContext, channel: any Channel, listener: ListenerContext, logger: Logger) -> TLSHandler {
        let peer = PeerDescription.of(channel)
        let metrics = listener.operations.metrics
        return TLSHandler(context: context, handshakeTimeout: .seconds(10)) { error, duringHandshake in
            if duringHandshake { metrics.tlsHandshakeFailed() }
            // Info, not warning: scanners on the internet fail handshakes all day.
            logger.info(
                "TLS connection failed",
                metadata: [LogKey.peer: .string(peer), LogKey.tls: .string(error.code.description), LogKey.error: .string(error.message)]
            )
        }
    }
}
