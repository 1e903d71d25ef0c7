import CBuildServiceSystem
import Foundation

/// The artifact store on disk: `<root>/<build_id>/<path>` for the files and
/// `<root>/<build_id>.json` for the manifest, which is written last. A build being collected
/// lives in `<root>/.staging-<build_id>` until it is complete.
public struct ArtifactStore: Sendable {
    public let root: String
    /// Only sets whose directory last changed before this (seconds since 1970) are adopted
    /// (see `adopt`): the daemon's start, so a set this daemon is publishing right now (renamed
    /// into place, its manifest not written yet) is never mistaken for a foreign one.
    public let adoptsSetsFrom: Double

    /// - Parameter adoptsSetsFrom: nil is now.
    public init(root: String, adoptsSetsFrom: Double? = nil) {
        self.root = root
        self.adoptsSetsFrom = adoptsSetsFrom ?? Date().timeIntervalSince1970
    }

    func directory(_ buildID: String) -> String { root + "/" + buildID }
    public func manifestPath(_ buildID: String) -> String { root + "/" + buildID + ".json" }
    func stagingDirectory(_ buildID: String) -> String { root + "/.staging-" + buildID }

    /// Creates the store's directory (0750) if needed.
    public func prepare() throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
    }

    /// The manifest of a published build; `nil` for an unknown or malformed id.
    public func manifest(for buildID: String) -> ArtifactManifest? {
        guard BuildID.isValid(buildID), let data = FileManager.default.contents(atPath: manifestPath(buildID)) else { return nil }
        return try? JSONDecoder().decode(ArtifactManifest.self, from: data)
    }

    /// Moves a complete staging directory into place, then writes the manifest: only then is
    /// the set visible. On failure nothing is published.
    func publish(_ manifest: ArtifactManifest) throws {
        let staging = stagingDirectory(manifest.buildID)
        let target = directory(manifest.buildID)
        guard rename(staging, target) == 0 else {
            throw ArtifactCollectionError.failed("cannot publish the artifacts (\(String(cString: strerror(errno))))")
        }
        do {
            try write(manifest)
        } catch {
            try? FileManager.default.removeItem(atPath: target)
            throw error
        }
    }

    /// Writes (or replaces) a build's manifest, whole or not at all.
    func write(_ manifest: ArtifactManifest) throws {
        // Its own name: an adoption on demand and one in the background may write at once.
        let temporary = root + "/.staging-" + manifest.buildID + ".json." + UUID().uuidString
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(manifest).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, manifestPath(manifest.buildID)) == 0 else {
                throw ArtifactCollectionError.failed("cannot publish the manifest (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Opens a published artifact for reading without following any symlink on the way (a
    /// symlink planted in the store yields nothing). `name` must already be a clean relative
    /// path (see `ArtifactPath`).
    /// - Returns: the descriptor (caller closes) and the manifest entry, or `nil`.
    public func open(
        buildID: String,
        name: String,
        manifest: ArtifactManifest
    ) -> (descriptor: Int32, artifact: StoredArtifact, manifest: ArtifactManifest)? {
        guard let artifact = manifest.artifact(named: name) else { return nil }
        // The build's directory (never a symlink), then the name beneath it with no symlink
        // anywhere on the way: one openat2 instead of an openat per component.
        let buildDirectory = Glibc.open(directory(buildID), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard buildDirectory >= 0 else { return nil }
        var current = bs_open_beneath_nofollow(buildDirectory, name)
        if current < 0, errno == ENOSYS { current = Self.walkWithoutSymlinks(buildDirectory, name) }
        Glibc.close(buildDirectory)
        guard current >= 0 else { return nil }
        var info = stat()
        guard fstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) == artifact.size else {
            Glibc.close(current)
            return nil
        }
        return (current, artifact, manifest)
    }

    /// The same without openat2 (kernels before 5.6): one O_NOFOLLOW openat per component.
    private static func walkWithoutSymlinks(_ directory: Int32, _ name: String) -> Int32 {
        var current = dup(directory)
        guard current >= 0 else { return -1 }
        let segments = name.split(separator: "/")
        for (index, segment) in segments.enumerated() {
            let last = index == segments.count - 1
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY)
            let next = openat(current, String(segment), flags)
            Glibc.close(current)
            guard next >= 0 else { return -1 }
            current = next
        }
        return current
    }
}
