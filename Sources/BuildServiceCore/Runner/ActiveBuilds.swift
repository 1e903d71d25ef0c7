import NIOConcurrencyHelpers
import NIOCore

/// The builds whose processes are running, so the daemon can tear them all down when it stops:
/// builds run in sessions of their own and would otherwise outlive it.
public final class ActiveBuilds: Sendable {
    private let supervisors = NIOLockedValueBox<[ObjectIdentifier: BuildSupervisor]>([:])

    public init() {}

    func insert(_ supervisor: BuildSupervisor) {
        supervisors.withLockedValue { $0[ObjectIdentifier(supervisor)] = supervisor }
        supervisor.finished.whenComplete { [weak self] _ in
            self?.supervisors.withLockedValue { _ = $0.removeValue(forKey: ObjectIdentifier(supervisor)) }
        }
    }

    /// How many builds still have processes.
    public var count: Int { supervisors.withLockedValue { $0.count } }

    /// Tears every running build down and waits until none of their processes is left.
    public func terminateAll() async {
        let running = supervisors.withLockedValue { Array($0.values) }
        for supervisor in running { supervisor.cancel() }
        for supervisor in running { try? await supervisor.finished.get() }
    }
}
