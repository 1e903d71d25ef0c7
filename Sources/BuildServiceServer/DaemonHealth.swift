import NIOConcurrencyHelpers

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
