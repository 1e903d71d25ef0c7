import Foundation

/// One ready checkout per repo project, made by the daemon ahead of the build that will need
/// it, in a directory only the daemon can enter (`<workspace_root>/spares`, 0700). A build
/// takes it over whole (chown to the build user, then rename into `builds/`) and only has to
/// move it to its own commit, which touches just the files that differ, instead of writing
/// the whole tree. Until the hand-over no build can see or change a spare.
actor SpareCheckouts {
    private var ready: [String: String] = [:]
    private var making: Set<String> = []

    /// The project's ready spare, if there is one; it is the caller's from now on.
    func take(_ projectID: String) -> String? {
        ready.removeValue(forKey: projectID)
    }

    /// Starts making a spare for the project unless one is ready or under way. `make` returns
    /// its path, or nil when it failed (the next build then checks out the slow way).
    func refill(_ projectID: String, make: @escaping @Sendable () async -> String?) {
        guard ready[projectID] == nil, !making.contains(projectID) else { return }
        making.insert(projectID)
        Task {
            let path = await make()
            self.finished(projectID, path)
        }
    }

    private func finished(_ projectID: String, _ path: String?) {
        making.remove(projectID)
        if let path { ready[projectID] = path }
    }
}
