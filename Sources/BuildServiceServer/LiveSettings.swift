import BuildServiceCore
import NIOConcurrencyHelpers

/// The parts of the config a reload (SIGHUP) replaces, read afresh by every request: projects
/// and commands (through the validator) and both listeners' tokens. One swap replaces them
/// all at once, so no request sees half of an old config and half of a new one.
final class LiveSettings: Sendable {
    struct Current: Sendable {
        let config: ServiceConfig
        let validator: RequestValidator
        let socketTokens: TokenCheck
        let httpTokens: TokenCheck
    }

    private let box: NIOLockedValueBox<Current>

    init(config: ServiceConfig) {
        box = NIOLockedValueBox(Self.make(config))
    }

    var current: Current { box.withLockedValue { $0 } }

    func replace(with config: ServiceConfig) {
        let next = Self.make(config)
        box.withLockedValue { $0 = next }
    }

    private static func make(_ config: ServiceConfig) -> Current {
        Current(
            config: config,
            validator: RequestValidator(config: config),
            socketTokens: TokenCheck(settings: config.socket.auth),
            httpTokens: TokenCheck(settings: config.http.auth)
        )
    }
}

/// What `/healthz` says: version, uptime, and whether the daemon is stopping (503).
final class DaemonHealth: Sendable {
    let version: String
    private let started = ContinuousClock.now
    private let stopping = NIOLockedValueBox(false)

    init(version: String) {
        self.version = version
    }

    var isStopping: Bool { stopping.withLockedValue { $0 } }
    func markStopping() { stopping.withLockedValue { $0 = true } }
    var uptimeSec: Int { Int((ContinuousClock.now - started).components.seconds) }
}
