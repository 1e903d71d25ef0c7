import NIOConcurrencyHelpers

/// One mirror update at a time per project: a build that needs the mirror while another
/// build's update is running joins that one instead of starting a second. Each build waits
/// only until its own deadline (or its cancellation); the update itself runs on.
actor MirrorUpdates {
    private var inFlight: [String: Task<HelperOutcome, Never>] = [:]

    /// The project's running update, or a new one.
    func task(_ projectID: String, perform: @escaping @Sendable () async -> HelperOutcome) -> Task<HelperOutcome, Never> {
        if let running = inFlight[projectID] { return running }
        // Unstructured on purpose: it outlives whichever build started it.
        let task = Task {
            let outcome = await perform()
            self.finished(projectID)
            return outcome
        }
        inFlight[projectID] = task
        return task
    }

    private func finished(_ projectID: String) {
        inFlight[projectID] = nil
    }

    /// The update's outcome, or `nil` once `deadline` passes or the waiting task is cancelled.
    static func outcome(of task: Task<HelperOutcome, Never>, until deadline: ContinuousClock.Instant) async -> HelperOutcome? {
        struct Waiter {
            var continuation: CheckedContinuation<HelperOutcome?, Never>?
            /// The deadline's timer: cancelled as soon as there is an answer, so no sleeping
            /// task is left behind for the rest of the deadline (up to an hour).
            var timer: Task<Void, Never>?
            var answered = false
        }
        let waiter = NIOLockedValueBox(Waiter())
        let resume: @Sendable (HelperOutcome?) -> Void = { value in
            let timer = waiter.withLockedValue { waiter -> Task<Void, Never>? in
                guard !waiter.answered else { return nil }
                waiter.answered = true
                waiter.continuation?.resume(returning: value)
                waiter.continuation = nil
                return waiter.timer
            }
            timer?.cancel()
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let timer = Task {
                    try? await Task.sleep(until: deadline)
                    resume(nil)
                }
                let alreadyAnswered = waiter.withLockedValue { waiter in
                    waiter.timer = timer
                    guard !waiter.answered else { return true }
                    waiter.continuation = continuation
                    return false
                }
                if alreadyAnswered {
                    // Cancelled before we got here.
                    timer.cancel()
                    continuation.resume(returning: nil)
                    return
                }
                // Whichever comes first answers; the other finds nothing left to resume.
                Task { resume(await task.value) }
            }
        } onCancel: {
            resume(nil)
        }
    }
}

/// How a helper command (git, rm) ended, with what it printed (bounded).
struct HelperOutcome: Sendable {
    var succeeded: Bool
    var timedOut: Bool
    var output: String
}
