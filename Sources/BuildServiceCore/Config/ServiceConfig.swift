/// The daemon's whole configuration, validated. Built from TOML by `ServiceConfig.load(path:)`;
/// every key, type and default is listed in `ServiceConfig+TOML.swift` and `config/config.toml`.
public struct ServiceConfig: Sendable {
    public var socket: SocketListenerConfig
    /// How long a client may leave our writes unread before it is disconnected (and its build
    /// cancelled): between two writes, like nginx's `send_timeout`, not for the whole stream.
    public var sendTimeoutSec = 60
    /// Whether `GET /metrics` needs a token on listeners that require auth.
    public var metricsAuthRequired = true
    /// Open TCP connections at once over all HTTP(S) listeners; `nil`: derived from the
    /// descriptor limit (`ConnectionBudget`). The Unix socket is not counted.
    public var maxConnections: Int?
    public var http: HTTPListenerConfig
    public var build: BuildSettings
    public var artifacts: ArtifactSettings
    public var projects: [ProjectConfig]
    public var logging: LoggingSettings

    /// Looks a project up by its id.
    public func project(id: String) -> ProjectConfig? {
        projects.first { $0.id == id }
    }
}
