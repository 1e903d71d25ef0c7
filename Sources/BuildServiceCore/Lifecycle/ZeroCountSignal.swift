import NIOConcurrencyHelpers

/// A count of things in progress (build tasks, attached readers) that others can wait to
/// reach zero: they are woken when it does, instead of looking again every few milliseconds.
public final class ZeroCountSignal: Sendable {
    private struct State {
        var count = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var count: Int { state.withLockedValue { $0.count } }

    /// Tasks waiting now.
    var waiting: Int { state.withLockedValue { $0.waiters.count } }

    public func increment() {
        state.withLockedValue { $0.count += 1 }
    }

    /// Wakes every waiter once the count is back to zero.
    public func decrement() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the count is zero, `limit` has passed (`nil`: no limit), or the task is cancelled.
    public func waitForZero(within limit: Duration? = nil) async {
        guard let limit else { return await waitForZero() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForZero() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForZero() async {
        let id = state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    guard state.count > 0, !Task.isCancelled else { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
