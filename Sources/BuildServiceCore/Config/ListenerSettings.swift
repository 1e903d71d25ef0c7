public import BuildServiceTLS

/// `[service.socket]`: the Unix socket listener for local containers.
public struct SocketListenerConfig: Sendable {
    public var enabled = true
    public var path = "/run/build-service.sock"
    /// Group that owns the socket file; `nil` keeps the daemon's group (the original's
    /// default was `users`: see `ServiceConfig.differencesFromTheOriginal`).
    public var group: String?
    /// Permission bits of the socket file (from an octal string such as "0660").
    public var mode: UInt32 = 0o660
    public var auth = AuthSettings()
}

/// `[service.http]`: the TCP listener for remote agents.
public struct HTTPListenerConfig: Sendable {
    public var enabled = false
    public var listenAddress = ListenAddress(host: "127.0.0.1", port: 8080)
    /// Whether the config names `listen_addr` (the default differs from the original's).
    public var listenAddressGiven = false
    public var auth = AuthSettings()
    public var tls = TLSSettings()
    /// A request's head must be complete this long after its first byte (nginx's
    /// `client_header_timeout`, 60 s there).
    public var headerTimeoutSec = 15
    /// A request's body must be complete this long after its head.
    public var bodyTimeoutSec = 60
    /// After a grace of `RequestDeadlines.bodyRateGrace`, a body must arrive at least this fast
    /// on average (bytes per second); 0: only `bodyTimeoutSec`.
    public var minBodyBytesPerSec = 1024
    /// Open connections from one client address (an IPv6 client: its /64).
    public var maxConnectionsPerIP = 64
    /// `public_url`, without a trailing slash: where people reach this listener, so that
    /// builds requested over the Unix socket get build page links that open in a browser.
    public var publicURL: String?
}

/// A `host:port` pair; IPv6 hosts are written in brackets (`[::1]:8080`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `[service.http.tls]`.
public struct TLSSettings: Sendable {
    public var enabled = false
    public var certPath: String?
    public var keyPath: String?
    /// Extra chain certificates sent after those in `certPath`.
    public var caPath: String?
    public var minVersion = TLSServerConfiguration.MinimumVersion.tls12
    public var clientCAPath: String?
    public var clientAuth = TLSServerConfiguration.ClientAuth.none

    /// What the TLS module needs to build the server context (only when enabled and complete).
    public var serverConfiguration: TLSServerConfiguration? {
        guard enabled, let certPath, let keyPath else { return nil }
        var configuration = TLSServerConfiguration(certificatePath: certPath, privateKeyPath: keyPath)
        configuration.chainPath = caPath
        configuration.minimumVersion = minVersion
        configuration.clientCAPath = clientCAPath
        configuration.clientAuth = clientAuth
        return configuration
    }
}
