import NIOConcurrencyHelpers
import NIOCore

/// The builds whose processes are running, so the daemon can tear them all down when it stops:
/// builds run in sessions of their own and would otherwise outlive it.
public final class ActiveBuilds: Sendable {
    private struct State {
        var supervisors: [ObjectIdentifier: BuildSupervisor] = [:]
        /// Set when the daemon stops: no build may start after its builds were torn down.
        var closed = false
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Registers a started build; false once the daemon is shutting down (the caller then
    /// tears the build down at once).
    func insert(_ supervisor: BuildSupervisor) -> Bool {
        let accepted = state.withLockedValue { state in
            guard !state.closed else { return false }
            state.supervisors[ObjectIdentifier(supervisor)] = supervisor
            return true
        }
        guard accepted else { return false }
        supervisor.finished.whenComplete { [weak self] _ in
            self?.state.withLockedValue { _ = $0.supervisors.removeValue(forKey: ObjectIdentifier(supervisor)) }
        }
        return true
    }

    /// How many builds still have processes.
    public var count: Int { state.withLockedValue { $0.supervisors.count } }

    /// Tears every running build down, refuses new ones, and waits until none of their
    /// processes is left.
    public func terminateAll() async {
        let running = state.withLockedValue { state in
            state.closed = true
            return Array(state.supervisors.values)
        }
        for supervisor in running { supervisor.cancel() }
        for supervisor in running { try? await supervisor.finished.get() }
    }
}
