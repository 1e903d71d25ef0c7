/// `[logging]`.
public struct LoggingSettings: Sendable {
    public var level = LogLevelName.info
    /// Directory for `build-service.log`; `nil` logs to stderr only.
    public var directory: String?
    public var maxBytes = 10 * 1024 * 1024
    public var maxFiles = 5
    /// Whether to also log to stderr when a directory is set.
    public var console = true
}

/// The log levels the config accepts (`warning` is read as `warn`).
public enum LogLevelName: String, Sendable, CaseIterable {
    case trace, debug, info, warn, error
}
