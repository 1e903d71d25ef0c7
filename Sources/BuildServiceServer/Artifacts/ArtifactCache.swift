import BuildServiceCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Recently served manifests and, beside each, the artifacts prepared for download
/// (`PreparedArtifact`: headers made once, a small file's bytes), so a download costs a `stat`
/// of the manifest instead of reading and decoding it, opening and reading the file. An entry
/// is used only while the manifest is still the same file (inode and change time): retention
/// removing a build, or anything else replacing its set, is seen by the next request, which
/// then gets what is on disk now (404 for a removed set), never the old bytes. Artifacts are
/// never changed in place: a set is published whole, manifest last, and replaced only with its
/// manifest.
final class ArtifactCache: Sendable {
    private struct Entry {
        let inode: UInt64
        let changed: Int
        let manifest: ArtifactManifest
        var prepared: [String: PreparedArtifact] = [:]
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Bytes of file content held, at most `contentBudget`.
        var contentBytes = 0
    }

    private let state = NIOLockedValueBox(State())
    private let limit: Int
    /// Files up to this size are kept in memory once read.
    static let contentLimit = 64 * 1024
    private let contentBudget: Int

    /// - Parameters:
    ///   - limit: builds whose manifests are kept.
    ///   - contentBudget: bytes of small files kept in memory, all builds together.
    init(limit: Int = 512, contentBudget: Int = 32 << 20) {
        self.limit = limit
        self.contentBudget = contentBudget
    }

    /// The artifact `name` of the build, prepared; nil if the set or the name does not exist.
    /// Reading a small file's bytes opens it as `ArtifactStore.open` does (no symlink on the way,
    /// the size the manifest says).
    func prepared(buildID: String, name: String, in store: ArtifactStore) -> (manifest: ArtifactManifest, artifact: PreparedArtifact)? {
        guard let entry = current(buildID, in: store) else { return nil }
        if let prepared = entry.prepared[name] { return (entry.manifest, prepared) }
        guard let artifact = entry.manifest.artifact(named: name) else { return nil }
        var content: ByteBuffer?
        if artifact.size <= Self.contentLimit, state.withLockedValue({ $0.contentBytes + artifact.size <= contentBudget }) {
            guard let opened = store.open(buildID: buildID, name: name, manifest: entry.manifest) else { return nil }
            content = try? ArtifactDownloads.read(opened.descriptor, offset: 0, count: artifact.size)
            close(opened.descriptor)
            guard content != nil else { return nil }
        }
        let prepared = PreparedArtifact(artifact, content: content)
        state.withLockedValue { state in
            // Kept only if the entry is still the one this was prepared from.
            guard state.entries[buildID]?.inode == entry.inode, state.entries[buildID]?.changed == entry.changed,
                state.entries[buildID]?.prepared[name] == nil
            else { return }
            state.entries[buildID]?.prepared[name] = prepared
            state.contentBytes += content?.readableBytes ?? 0
        }
        return (entry.manifest, prepared)
    }

    /// The build's entry if its manifest is unchanged since it was cached, else read anew.
    private func current(_ buildID: String, in store: ArtifactStore) -> Entry? {
        guard BuildID.isValid(buildID) else { return nil }
        var info = stat()
        guard lstat(store.manifestPath(buildID), &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            state.withLockedValue { Self.remove(buildID, from: &$0) }
            // A set of the original's store that the background adoption has not reached yet.
            return store.adopt(buildID).map { Entry(inode: 0, changed: -1, manifest: $0) }
        }
        let inode = UInt64(info.st_ino)
        let changed = Int(info.st_ctim.tv_sec) * 1_000_000_000 + Int(info.st_ctim.tv_nsec)
        if let entry = state.withLockedValue({ $0.entries[buildID] }), entry.inode == inode, entry.changed == changed {
            return entry
        }
        guard let manifest = store.manifest(for: buildID) else { return nil }
        let entry = Entry(inode: inode, changed: changed, manifest: manifest)
        state.withLockedValue { state in
            Self.remove(buildID, from: &state)
            if state.entries.count >= limit { state = State() }
            state.entries[buildID] = entry
        }
        return entry
    }

    private static func remove(_ buildID: String, from state: inout State) {
        guard let old = state.entries.removeValue(forKey: buildID) else { return }
        state.contentBytes -= old.prepared.values.reduce(0) { $0 + ($1.content?.readableBytes ?? 0) }
    }
}
