import BuildServiceCore
import Foundation
import NIOConcurrencyHelpers

/// Recently served manifests, so a download costs a `stat` of the manifest instead of reading
/// and decoding it. An entry is used only while the file is still the same one (inode and
/// change time): retention removing a build, or anything else replacing the file, is seen at
/// once.
final class ManifestCache: Sendable {
    private struct Entry {
        let inode: UInt64
        let changed: Int
        let manifest: ArtifactManifest
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let limit: Int

    init(limit: Int = 512) {
        self.limit = limit
    }

    func manifest(for buildID: String, in store: ArtifactStore) -> ArtifactManifest? {
        guard BuildID.isValid(buildID) else { return nil }
        var info = stat()
        guard lstat(store.manifestPath(buildID), &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            entries.withLockedValue { _ = $0.removeValue(forKey: buildID) }
            // A set of the original's store that the background adoption has not reached yet.
            return store.adopt(buildID)
        }
        let inode = UInt64(info.st_ino)
        let changed = Int(info.st_ctim.tv_sec) * 1_000_000_000 + Int(info.st_ctim.tv_nsec)
        if let entry = entries.withLockedValue({ $0[buildID] }), entry.inode == inode, entry.changed == changed {
            return entry.manifest
        }
        guard let manifest = store.manifest(for: buildID) else { return nil }
        entries.withLockedValue { entries in
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[buildID] = Entry(inode: inode, changed: changed, manifest: manifest)
        }
        return manifest
    }
}
