import BuildServiceCore
import BuildServiceTLS
import Logging
import NIOCore
import NIOPosix

/// Binds the HTTP(S) listener on `service.http.listen_addr`.
enum TCPListener {
    /// - Parameter tls: the certificate holder when TLS is on; each new connection gets the
    ///   context current at accept time.
    static func bind(
        address: ListenAddress,
        group: any EventLoopGroup,
        listener: ListenerContext,
        tls: TLSContextHolder?,
        logger: Logger
    ) async throws -> any Channel {
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                // Room for a few output events in the kernel: fewer wake-ups on a busy stream.
                .childChannelOption(.socketOption(.so_sndbuf), value: 1 << 20)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        // Before TLS, so it also bounds a handshake that trickles in.
                        try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(60)))
                        if let tls {
                            try pipeline.addHandler(Self.tlsHandler(tls.current, channel: channel, logger: logger))
                        }
                        try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                        try pipeline.addHandler(HTTPConnectionHandler(listener: listener))
                    }
                }
                .bind(host: address.host, port: address.port)
                .get()
        } catch {
            throw ConfigError(key: "service.http.listen_addr", "cannot listen on \(address): \(error)")
        }
    }

    private static func tlsHandler(_ context: TLSContext, channel: any Channel, logger: Logger) -> TLSHandler {
        let peer = HTTPConnectionHandler.peer(channel)
        return TLSHandler(context: context, handshakeTimeout: .seconds(10)) { error in
            // Info, not warning: scanners on the internet fail handshakes all day.
            logger.info(
                "TLS connection failed",
                metadata: [LogKey.peer: .string(peer), LogKey.tls: .string(error.code.description), LogKey.error: .string(error.message)]
            )
        }
    }
}
