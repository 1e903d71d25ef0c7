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

    /// What one set has reserved with the quota so far.
    private final class Reservation {
        let quota: ArtifactQuota
        private(set) var bytes = 0

        init(quota: ArtifactQuota) { self.quota = quota }

        /// Brings the reservation to `total` bytes: more is reserved, less given back.
        func settle(to total: Int, name: String) throws(ArtifactCollectionError) {
            if total < bytes {
                quota.release(bytes - total)
            } else if total > bytes {
                guard quota.reserve(total - bytes) != nil else {
                    throw .storeFull(
                        "no room for artifact \"\(name)\" in the artifact store (artifacts.max_bytes = \(quota.maxBytes) bytes,"
                            + " held by sets other builds are storing now); try again when they are done"
                    )
                }
            }
            bytes = total
        }
    }

    /// Blocking file I/O: run it off the event loop.
    /// - Throws: `ArtifactCollectionError` (`artifact_glob_miss` naming the pattern, or
    ///   `artifact_collection_failed` naming the path); nothing is published then.
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
        // Each is a file the build's user may read, or a directory, before a byte is staged:
        // room made in the store (older sets removed) is not made for a set that then fails.
        for name in names {
            let info = try Self.status(of: name, pattern: patternOf[name]!, in: tree)
            let kind = info.st_mode & S_IFMT
            guard kind == S_IFDIR || (kind == S_IFREG && tree.may(.read, info)) else {
                throw .failed("artifact \"\(name)\" (pattern \"\(patternOf[name]!)\") is not a readable file or a directory")
            }
        }

        let staging = store.stagingDirectory(buildID)
        do {
            try store.prepare()
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o750])
        } catch {
            throw .failed("cannot create the artifact directory under \(store.root) (\(error.localizedDescription))")
        }
        let reservation = Reservation(quota: quota)
        do throws(ArtifactCollectionError) {
            var artifacts: [StoredArtifact] = []
            var total = 0
            for name in names {
                let artifact = try storeOne(
                    name,
                    pattern: patternOf[name]!,
                    tree: tree,
                    staging: staging,
                    budget: maxBytes - total,
                    reservation: reservation
                )
                total += artifact.size
                // What is staged now: the stored artifacts (a zip's sources are gone).
                try reservation.settle(to: total, name: name)
                guard total <= maxBytes else {
                    throw .failed("the artifacts add up to more than artifacts.max_bytes (\(maxBytes) bytes)")
                }
                artifacts.append(artifact)
            }
            let manifest = ArtifactManifest(buildID: buildID, project: projectID, created: Date().timeIntervalSince1970, artifacts: artifacts)
            do {
                try store.publish(manifest)
            } catch let error as ArtifactCollectionError {
                throw error
            } catch {
                throw .failed("cannot publish the artifacts (\(error.localizedDescription))")
            }
            quota.published(manifest, reserved: reservation.bytes)
            return manifest
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            quota.release(reservation.bytes)
            throw error
        }
    }

    private func storeOne(
        _ name: String,
        pattern: String,
        tree: ArtifactTree,
        staging: String,
        budget: Int,
        reservation: Reservation
    ) throws(ArtifactCollectionError) -> StoredArtifact {
        let reservedBefore = reservation.bytes
        // What the name is, judged through a descriptor opened beneath the root.
        let info = try Self.status(of: name, pattern: pattern, in: tree)
        let storedName: String
        let size: Int
        let sha256: String
        if info.st_mode & S_IFMT == S_IFDIR {
            storedName = name + ".zip"
            try createDirectories(for: storedName, in: staging)
            try zip(directory: name, pattern: pattern, tree: tree, to: staging + "/" + storedName, budget: budget, reservation: reservation)
            (size, sha256) = try Self.sizeAndDigest(of: staging + "/" + storedName, name: storedName)
        } else if info.st_mode & S_IFMT == S_IFREG {
            storedName = name
            try createDirectories(for: storedName, in: staging)
            (size, sha256) = try copy(
                name,
                pattern: pattern,
                tree: tree,
                to: staging + "/" + storedName,
                budget: budget,
                reservation: reservation,
                reservedBefore: reservedBefore
            )
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

    private static func status(of name: String, pattern: String, in tree: ArtifactTree) throws(ArtifactCollectionError) -> stat {
        guard let descriptor = try tree.open(name, pattern: pattern) else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is gone")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") cannot be read") }
        return info
    }

    private func createDirectories(for name: String, in staging: String) throws(ArtifactCollectionError) {
        guard let slash = name.lastIndex(of: "/") else { return }
        do {
            try FileManager.default.createDirectory(atPath: staging + "/" + name[..<slash], withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot store artifact \"\(name)\" (\(error.localizedDescription))")
        }
    }

    /// Copies a regular file, keeping its permission bits (never set-id bits), and returns its
    /// size and SHA-256, computed on the way (one read of the data, not two).
    private func copy(
        _ name: String,
        pattern: String,
        tree: ArtifactTree,
        to target: String,
        budget: Int,
        reservation: Reservation,
        reservedBefore: Int
    ) throws(ArtifactCollectionError) -> (Int, String) {
        // Opened relative to the root by the kernel's rules: whatever the path has become since
        // it was checked, the file opened is inside the root (and a FIFO cannot block us).
        guard let input = try tree.open(name, pattern: pattern) else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is gone")
        }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is not a regular file")
        }
        guard tree.may(.read, info) else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is not readable by the build's user")
        }
        // Checked before a byte is copied (a sparse 50 TB file is refused, though its holes
        // would take no room in the store).
        guard Int(info.st_size) <= budget else {
            throw .failed("the artifacts add up to more than artifacts.max_bytes (\(maxBytes) bytes)")
        }
        // Room in the store before a byte is written.
        try reservation.settle(to: reservedBefore + Int(info.st_size), name: name)
        // Reads block normally from here on (O_NONBLOCK only guarded the open).
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) & ~O_NONBLOCK)
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw .failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(errno))))") }
        defer { close(output) }
        let hasher = SHA256Hasher()
        // It stops at the size the file had: a file still growing cannot run on.
        let size: Int
        do {
            size = try SparseFileCopy.copy(from: input, to: output, length: Int(info.st_size), hasher: hasher)
        } catch {
            switch error {
            case .read(let code):
                throw ArtifactCollectionError.failed("artifact \"\(name)\" cannot be read (\(String(cString: strerror(code))))")
            case .write(let code):
                throw ArtifactCollectionError.failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(code))))")
            }
        }
        return (size, hasher.finalizeHex())
    }

    /// A zip of the directory (entries relative to it, permissions kept). The zip is made from
    /// a copy in the staging area, which no build can touch, and every file of that copy is
    /// opened beneath the project root by the kernel: whatever a leftover process does to the
    /// tree meanwhile, nothing from outside the root gets in. FIFOs and devices are refused, and
    /// so is a directory the build's user could not list.
    private func zip(
        directory name: String,
        pattern: String,
        tree: ArtifactTree,
        to target: String,
        budget: Int,
        reservation: Reservation
    ) throws(ArtifactCollectionError) {
        let source = (target as NSString).deletingLastPathComponent + "/.zip-source-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: source) }
        var remaining = budget
        try stage(name, pattern: pattern, tree: tree, into: source, remaining: &remaining, reservation: reservation)
        do {
            try FileManager.default.zipItem(
                at: URL(fileURLWithPath: source),
                to: URL(fileURLWithPath: target),
                shouldKeepParent: false,
                compressionMethod: .deflate
            )
        } catch {
            throw .failed("cannot zip artifact directory \"\(name)\" (\(error.localizedDescription))")
        }
    }

    /// Copies directory `relative` of the tree to `target`, and what is below it. A matched
    /// symlink to a directory inside the root is walked; symlinks below it are not descended
    /// into (a directory they name is stored empty), so a loop cannot hold the walk.
    private func stage(
        _ relative: String,
        pattern: String,
        tree: ArtifactTree,
        into target: String,
        remaining: inout Int,
        reservation: Reservation
    ) throws(ArtifactCollectionError) {
        try makeStagingDirectory(target, for: relative)
        guard let entries = try tree.entries(of: relative, pattern: pattern) else {
            throw .failed("artifact directory \"\(relative)\" (pattern \"\(pattern)\") cannot be listed by the build's user")
        }
        for (name, listedKind) in entries {
            let path = relative + "/" + name
            var kind: ArtifactTree.Kind? = listedKind
            if kind == .symlink {
                kind = try tree.kind(of: name, in: relative, following: true, pattern: pattern)
                if kind == .directory {
                    try makeStagingDirectory(target + "/" + name, for: path)
                    continue
                }
            }
            switch kind {
            case .directory:
                try stage(path, pattern: pattern, tree: tree, into: target + "/" + name, remaining: &remaining, reservation: reservation)
            case .file:
                let (size, _) = try copy(
                    path,
                    pattern: pattern,
                    tree: tree,
                    to: target + "/" + name,
                    budget: remaining,
                    reservation: reservation,
                    reservedBefore: reservation.bytes
                )
                remaining -= size
            case nil:
                throw .failed("artifact \"\(path)\" (pattern \"\(pattern)\") is gone")
            default:
                throw .failed("artifact \"\(path)\" (pattern \"\(pattern)\") is not a regular file or directory")
            }
        }
    }

    private func makeStagingDirectory(_ target: String, for relative: String) throws(ArtifactCollectionError) {
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot stage artifact directory \"\(relative)\"")
        }
    }

    static func sizeAndDigest(of path: String, name: String) throws(ArtifactCollectionError) -> (Int, String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .failed("cannot read stored artifact \"\(name)\"") }
        defer { close(descriptor) }
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var size = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .failed("cannot read stored artifact \"\(name)\"") }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            size += count
        }
        return (size, hasher.finalizeHex())
    }
}
