import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The builds whose processes are running, so the daemon can tear them all down when it stops:
/// builds run in sessions of their own and would otherwise outlive it. Each group is also
/// written to the ledger, for the next run should this one be killed before it could.
public final class ActiveBuilds: Sendable {
    private struct State {
        var supervisors: [ObjectIdentifier: BuildSupervisor] = [:]
        /// Set when the daemon stops: no build may start after its builds were torn down.
        var closed = false
        var ledger: ProcessGroupLedger?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Records every group started from now on in `ledger`.
    public func record(in ledger: ProcessGroupLedger) {
        state.withLockedValue { $0.ledger = ledger }
    }

    /// Registers a started build, whose process group is `pgid`; false once the daemon is
    /// shutting down (the caller then tears the build down at once).
    /// - Parameter leaderStart: the group leader's start time as it read it before exec, if it could.
    func insert(_ supervisor: BuildSupervisor, pgid: pid_t, leaderStart: UInt64?, project: String, command: String) -> Bool {
        let (accepted, ledger) = state.withLockedValue { state in
            guard !state.closed else { return (false, state.ledger) }
            state.supervisors[ObjectIdentifier(supervisor)] = supervisor
            return (true, state.ledger)
        }
        // In the ledger until no process of the group is left, also when refused here.
        ledger?.record(pgid: pgid, leaderStart: leaderStart, project: project, command: command)
        supervisor.finished.whenComplete { [weak self] _ in
            ledger?.remove(pgid: pgid)
            self?.state.withLockedValue { _ = $0.supervisors.removeValue(forKey: ObjectIdentifier(supervisor)) }
        }
        return accepted
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
