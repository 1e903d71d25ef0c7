/// One mirror update at a time per project: a build that needs the mirror while another
/// build's update is running waits for that one instead of starting a second.
actor MirrorUpdates {
    private var inFlight: [String: Task<GitOutcome, Never>] = [:]

    func update(_ projectID: String, perform: @escaping @Sendable () async -> GitOutcome) async -> GitOutcome {
        if let running = inFlight[projectID] { return await running.value }
        // Bridges to the shared update; every waiting build awaits its value.
        let task = Task { await perform() }
        inFlight[projectID] = task
        let outcome = await task.value
        inFlight[projectID] = nil
        return outcome
    }
}

/// How a git command ended, with what it printed (bounded).
struct GitOutcome: Sendable {
    var succeeded: Bool
    var timedOut: Bool
    var output: String
}
