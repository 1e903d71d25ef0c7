import BuildServiceCore
import NIOCore
import NIOPosix

/// Binds the HTTP listener on `service.http.listen_addr`.
enum TCPListener {
    static func bind(
        address: ListenAddress,
        group: any EventLoopGroup,
        listener: ListenerContext
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
                        try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(60)))
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
}
