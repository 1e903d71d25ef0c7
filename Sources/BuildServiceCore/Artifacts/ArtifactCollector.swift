import BuildServiceTLS
import CBuildServiceSpawn
import Foundation
import ZIPFoundation

/// Collects a successful build's artifacts into the store: every pattern must match; every
/// match must really (after symlinks) be inside the project root; files are copied with their
/// SHA-256 computed on the way, directories stored as `<path>.zip`. All or nothing: the set is
/// assembled in a staging directory and published only when complete.
public struct ArtifactCollector: Sendable {
    public let store: ArtifactStore
    /// The store's size limit; one build's set larger than this is refused.
    public let maxBytes: Int

    public init(store: ArtifactStore, maxBytes: Int) {
        self.store = store
        self.maxBytes = maxBytes
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
        var names: [String] = []
        for pattern in patterns {
            let matches = pattern.matches(under: root)
            guard !matches.isEmpty else { throw .globMiss(pattern.text) }
            names += matches
        }
        names = Array(Set(names)).sorted()

        let staging = store.stagingDirectory(buildID)
        do {
            try store.prepare()
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o750])
        } catch {
            throw .failed("cannot create the artifact directory under \(store.root) (\(error.localizedDescription))")
        }
        do throws(ArtifactCollectionError) {
            var artifacts: [StoredArtifact] = []
            var total = 0
            for name in names {
                let artifact = try storeOne(name, root: root, staging: staging, budget: maxBytes - total)
                total += artifact.size
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
            return manifest
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    private func storeOne(_ name: String, root: String, staging: String, budget: Int) throws(ArtifactCollectionError) -> StoredArtifact {
        // What the name is, judged through a descriptor opened beneath the root.
        let probe = try Self.openBeneath(name, root: root)
        var info = stat()
        let statted = fstat(probe, &info)
        close(probe)
        guard statted == 0 else { throw .failed("artifact \"\(name)\" cannot be read") }
        let storedName: String
        let size: Int
        let sha256: String
        if info.st_mode & S_IFMT == S_IFDIR {
            storedName = name + ".zip"
            try createDirectories(for: storedName, in: staging)
            try zip(directory: name, root: root, to: staging + "/" + storedName, budget: budget)
            (size, sha256) = try Self.sizeAndDigest(of: staging + "/" + storedName, name: storedName)
        } else if info.st_mode & S_IFMT == S_IFREG {
            storedName = name
            try createDirectories(for: storedName, in: staging)
            (size, sha256) = try copy(name, beneath: root, to: staging + "/" + storedName, budget: budget)
        } else {
            throw .failed("artifact \"\(name)\" is neither a file nor a directory")
        }
        return StoredArtifact(
            name: storedName,
            size: size,
            sha256: sha256,
            contentType: ContentType.forName(storedName),
            modified: Int(info.st_mtim.tv_sec)
        )
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
        beneath root: String,
        to target: String,
        budget: Int
    ) throws(ArtifactCollectionError) -> (Int, String) {
        // Opened relative to the root by the kernel's rules: whatever the path has become since
        // it was checked, the file opened is inside the root (and a FIFO cannot block us).
        let input = try Self.openBeneath(name, root: root)
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw .failed("artifact \"\(name)\" is not a regular file")
        }
        // Checked before a byte is copied (a sparse 50 TB file is refused, not written out),
        // and the copy stops at the size it had: a file still growing cannot run on.
        guard Int(info.st_size) <= budget else {
            throw .failed("the artifacts add up to more than artifacts.max_bytes (\(maxBytes) bytes)")
        }
        var left = Int(info.st_size)
        // Reads block normally from here on (O_NONBLOCK only guarded the open).
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) & ~O_NONBLOCK)
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw .failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(errno))))") }
        defer { close(output) }
        let hasher = SHA256Hasher()
        var size = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            if left == 0 { break }
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, min($0.count, left)) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .failed("artifact \"\(name)\" cannot be read (\(String(cString: strerror(errno))))") }
            if count == 0 { break }
            left -= count
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            size += count
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                if result < 0, errno == EINTR { continue }
                guard result > 0 else { throw .failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(errno))))") }
                written += result
            }
        }
        return (size, hasher.finalizeHex())
    }

    /// A zip of the directory (entries relative to it, permissions kept). The zip is made from
    /// a copy in the staging area, which no build can touch, and every file of that copy is
    /// opened beneath the project root by the kernel: whatever a leftover process does to the
    /// tree meanwhile, nothing from outside the root gets in. FIFOs and devices are refused.
    private func zip(directory name: String, root: String, to target: String, budget: Int) throws(ArtifactCollectionError) {
        let source = (target as NSString).deletingLastPathComponent + "/.zip-source-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: source) }
        do {
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        } catch {
            throw .failed("cannot stage artifact directory \"\(name)\" (\(error.localizedDescription))")
        }
        var remaining = budget
        // Names come from a walk of the tree; each is then opened beneath the root, so a name
        // that has become a symlink to elsewhere is refused or resolves inside.
        // The walk starts at the resolved directory (a matched symlink to a directory inside the
        // root is walked, not stored empty); symlinks below it are not descended into.
        let start = ContainedPath.realpath(root + "/" + name).flatMap { ContainedPath.isInside($0, root: root) ? $0 : nil } ?? root + "/" + name
        let entries = (FileManager.default.enumerator(atPath: start)?.allObjects as? [String]) ?? []
        for entry in entries.sorted() {
            let relative = name + "/" + entry
            switch try Self.kind(of: relative, beneath: root) {
            case S_IFDIR:
                do {
                    try FileManager.default.createDirectory(atPath: source + "/" + entry, withIntermediateDirectories: true)
                } catch {
                    throw .failed("cannot stage artifact directory \"\(relative)\"")
                }
            case S_IFREG:
                let (size, _) = try copy(relative, beneath: root, to: source + "/" + entry, budget: remaining)
                remaining -= size
            default:
                throw .failed("artifact \"\(relative)\" is not a regular file or directory")
            }
        }
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

    /// The file type of `relative`, opened beneath `root` (symlinks followed only inside it).
    private static func kind(of relative: String, beneath root: String) throws(ArtifactCollectionError) -> mode_t {
        let descriptor = try openBeneath(relative, root: root)
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .failed("artifact \"\(relative)\" cannot be read") }
        return info.st_mode & S_IFMT
    }

    /// openat2 beneath the root (O_NONBLOCK: a FIFO cannot block the open).
    private static func openBeneath(_ relative: String, root: String) throws(ArtifactCollectionError) -> Int32 {
        let rootDirectory = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootDirectory >= 0 else { throw .failed("the project root \(root) cannot be opened") }
        defer { close(rootDirectory) }
        var descriptor = bs_open_beneath(rootDirectory, relative)
        // RESOLVE_BENEATH answers EAGAIN when a rename elsewhere races a ".." in the path.
        for _ in 0..<8 where descriptor < 0 && errno == EAGAIN {
            descriptor = bs_open_beneath(rootDirectory, relative)
        }
        guard descriptor >= 0 else {
            if errno == EXDEV || errno == ELOOP { throw .failed("artifact \"\(relative)\" leads outside the project root") }
            if errno == ENOSYS || errno == EPERM {
                throw .failed("artifact \"\(relative)\" cannot be opened safely: this kernel lacks openat2 (Linux 5.6+)")
            }
            throw .failed("artifact \"\(relative)\" cannot be read (\(String(cString: strerror(errno))))")
        }
        return descriptor
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
