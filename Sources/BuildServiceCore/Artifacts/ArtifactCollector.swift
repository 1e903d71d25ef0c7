import BuildServiceProtocol
import BuildServiceTLS
import Foundation
import ZIPFoundation

/// Collects a successful build's artifacts into the store: every pattern must match; every
/// match must really (after symlinks) be inside the project root and readable by the build's
/// user (`ArtifactTree`); files are copied with their SHA-256 computed on the way, directories
/// stored as `<path>.zip`. All or nothing: the set is assembled in a staging directory and
/// published only when complete. Every byte staged is reserved first with the store's quota
/// (`ArtifactQuota`), so that builds finishing together cannot take the store past its limit.
/// Holes of sparse files stay holes.
public struct ArtifactCollector: Sendable {
    public let quota: ArtifactQuota
    public var store: ArtifactStore { quota.store }
    /// The store's size limit; one build's set larger than this is refused.
    public var maxBytes: Int { quota.maxBytes }
    /// The build's user, when it is not the daemon's own.
    public let reader: ArtifactReader?

    public init(quota: ArtifactQuota, reader: ArtifactReader? = nil) {
        self.quota = quota
        self.reader = reader
    }

    /// Blocking file I/O: run it off the event loop.
    /// - Throws: `ArtifactCollectionError` (`artifact_glob_miss` naming the pattern, or
    ///   `artifact_collection_failed` naming the path, or `artifact_store_full`); nothing is
    ///   published then. Older sets are removed only for a set that was measured whole and
    ///   fits: one that fails while it is copied (a file that changed, a full disk) may
    ///   already have made room.
    public func collect(
        buildID: String,
        projectID: String,
        projectRoot: String,
        patterns: [ArtifactPattern]
    ) throws(ArtifactCollectionError) -> ArtifactManifest {
        guard let root = ContainedPath.realpath(projectRoot) else {
            throw .failed("the project root \(projectRoot) is gone")
        }
        let tree = try ArtifactTree(root: root, reader: reader)
        // Each name with the first pattern that matched it (error messages name the pattern).
        var patternOf: [String: String] = [:]
        for pattern in patterns {
            let matches = try pattern.matches(in: tree)
            guard !matches.isEmpty else { throw .globMiss(pattern.text) }
            for name in matches where patternOf[name] == nil { patternOf[name] = pattern.text }
        }
        let names = patternOf.keys.sorted()
        // The whole set is walked and measured before a byte is staged: what cannot be stored
        // (a FIFO deep in a directory, a file the build's user cannot read) fails it here, and
        // room is made in the store (older sets removed) only for a set that can be stored.
        var measured = SetMeasure(limit: maxBytes)
        for name in names { try measure(name, pattern: patternOf[name]!, tree: tree, into: &measured) }
        let peak = try measured.peak()

        let staging = store.stagingDirectory(buildID)
        do {
            try store.prepare()
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o750])
        } catch {
            throw .failed("cannot create the artifact directory under \(store.root) (\(SystemErrorText.describe(error)))")
        }
        let reservation = ArtifactReservation(quota: quota)
        do throws(ArtifactCollectionError) {
            try reservation.settle(to: peak)
            var artifacts: [StoredArtifact] = []
            for name in names {
                artifacts.append(try storeOne(name, pattern: patternOf[name]!, tree: tree, sizes: measured.sizes, staging: staging))
            }
            // What is staged now: the stored artifacts (zips instead of their estimates).
            try reservation.settle(to: artifacts.reduce(0) { $0 + $1.size })
            let manifest = ArtifactManifest(buildID: buildID, project: projectID, created: Date().timeIntervalSince1970, artifacts: artifacts)
            do {
                try store.publish(manifest)
            } catch let error as ArtifactCollectionError {
                throw error
            } catch {
                throw .failed("cannot publish the artifacts (\(SystemErrorText.describe(error)))")
            }
            quota.published(manifest, reserved: reservation.bytes)
            return manifest
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            reservation.cancel()
            throw error
        }
    }

    private func storeOne(
        _ name: String,
        pattern: String,
        tree: ArtifactTree,
        sizes: [String: Int],
        staging: String
    ) throws(ArtifactCollectionError) -> StoredArtifact {
        // What the name is, judged through a descriptor opened beneath the root.
        let info = try Self.status(of: name, pattern: pattern, in: tree)
        let storedName: String
        let size: Int
        let sha256: String
        if info.st_mode & S_IFMT == S_IFDIR {
            storedName = name + ".zip"
            try createDirectories(for: storedName, in: staging)
            try zip(directory: name, pattern: pattern, tree: tree, sizes: sizes, to: staging + "/" + storedName)
            (size, sha256) = try Self.sizeAndDigest(of: staging + "/" + storedName, name: storedName)
        } else if info.st_mode & S_IFMT == S_IFREG {
            storedName = name
            try createDirectories(for: storedName, in: staging)
            let hasher = SHA256Hasher()
            size = try copy(name, pattern: pattern, tree: tree, expectedSize: sizes[name], to: staging + "/" + storedName, hasher: hasher)
            sha256 = hasher.finalizeHex()
        } else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is neither a file nor a directory")
        }
        return StoredArtifact(
            name: storedName,
            size: size,
            sha256: sha256,
            contentType: ContentType.forName(storedName),
            modified: Int(info.st_mtim.tv_sec)
        )
    }

    static func status(of name: String, pattern: String, in tree: ArtifactTree) throws(ArtifactCollectionError) -> stat {
        guard let descriptor = try tree.open(name, pattern: pattern) else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is gone")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") cannot be read") }
        return info
    }

    func createDirectories(for name: String, in staging: String) throws(ArtifactCollectionError) {
        guard let slash = name.lastIndex(of: "/") else { return }
        do {
            try FileManager.default.createDirectory(atPath: staging + "/" + name[..<slash], withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot store artifact \"\(name)\" (\(SystemErrorText.describe(error)))")
        }
    }
}
