import Foundation

extension ArtifactStore {
    /// At startup: removes what it can prove is its own unfinished work — staging directories
    /// and a manifest without its directory. A build directory without a manifest is not
    /// removed: the original build-service wrote none (see `adoptUnmanifested`).
    /// - Returns: how many entries were removed.
    @discardableResult
    public func removeLeftovers() -> Int {
        let manager = FileManager.default
        guard let entries = try? manager.contentsOfDirectory(atPath: root) else { return 0 }
        var removed = 0
        for entry in entries {
            let path = root + "/" + entry
            let isStaging = entry.hasPrefix(".staging-")
            let isOrphanManifest =
                entry.hasSuffix(".json") && BuildID.isValid(String(entry.dropLast(5)))
                && !manager.fileExists(atPath: directory(String(entry.dropLast(5))))
            if isStaging || isOrphanManifest {
                if (try? manager.removeItem(atPath: path)) != nil { removed += 1 }
            }
        }
        return removed
    }

    /// The published sets (those with a manifest), oldest first, with their bytes.
    func publishedSets() -> [(id: String, created: Double, bytes: Int)] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        var sets: [(id: String, created: Double, bytes: Int)] = []
        for entry in entries where entry.hasSuffix(".json") {
            let id = String(entry.dropLast(5))
            guard let manifest = manifest(for: id) else { continue }
            sets.append((id, manifest.created, manifest.artifacts.reduce(0) { $0 + $1.size }))
        }
        return sets.sorted { $0.created < $1.created }
    }

    /// Unpublishes first (the manifest), then deletes the files.
    func remove(_ buildID: String) {
        try? FileManager.default.removeItem(atPath: manifestPath(buildID))
        try? FileManager.default.removeItem(atPath: directory(buildID))
    }
}
