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

/// Spare checkouts: after a build took a project's spare, a new one is made in the
/// background, so the next build starts from a ready tree instead of writing every file. A
/// spare is a fresh clone nobody has used; taking it is a rename.
actor SpareCheckouts {
    /// The commit each project's ready spare is at.
    private var ready: [String: String] = [:]
    private var preparing: Set<String> = []

    /// The ready spare's commit, handing the spare over (the caller renames it away).
    func take(_ projectID: String) -> String? {
        ready.removeValue(forKey: projectID)
    }

    /// Whether the caller should make a new spare (none ready, none being made).
    func beginPreparing(_ projectID: String) -> Bool {
        guard ready[projectID] == nil, !preparing.contains(projectID) else { return false }
        preparing.insert(projectID)
        return true
    }

    func finishPreparing(_ projectID: String, commit: String?) {
        preparing.remove(projectID)
        if let commit { ready[projectID] = commit }
    }
}
