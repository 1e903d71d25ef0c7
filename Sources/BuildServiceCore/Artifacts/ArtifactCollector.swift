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
        guard let root = Self.realPath(projectRoot) else {
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
                let artifact = try storeOne(name, root: root, staging: staging)
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

    private func storeOne(_ name: String, root: String, staging: String) throws(ArtifactCollectionError) -> StoredArtifact {
        let source = root + "/" + name
        guard let real = Self.realPath(source), Self.isInside(real, root: root) else {
            throw .failed("artifact \"\(name)\" leads outside the project root")
        }
        var info = stat()
        guard stat(real, &info) == 0 else { throw .failed("artifact \"\(name)\" cannot be read") }
        let storedName: String
        let size: Int
        let sha256: String
        if info.st_mode & S_IFMT == S_IFDIR {
            storedName = name + ".zip"
            try createDirectories(for: storedName, in: staging)
            try zip(directory: real, name: name, root: root, to: staging + "/" + storedName)
            (size, sha256) = try Self.sizeAndDigest(of: staging + "/" + storedName, name: storedName)
        } else if info.st_mode & S_IFMT == S_IFREG {
            storedName = name
            try createDirectories(for: storedName, in: staging)
            (size, sha256) = try copy(name, beneath: root, to: staging + "/" + storedName)
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
    private func copy(_ name: String, beneath root: String, to target: String) throws(ArtifactCollectionError) -> (Int, String) {
        // Opened relative to the root by the kernel's rules: whatever the path has become since
        // it was checked, the file opened is inside the root (and a FIFO cannot block us).
        let rootDirectory = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootDirectory >= 0 else { throw .failed("the project root \(root) cannot be opened") }
        var input = bs_open_beneath(rootDirectory, name)
        if input < 0, errno == ENOSYS, let real = Self.realPath(root + "/" + name), Self.isInside(real, root: root) {
            input = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        }
        close(rootDirectory)
        guard input >= 0 else {
            if errno == EXDEV { throw .failed("artifact \"\(name)\" leads outside the project root") }
            throw .failed("artifact \"\(name)\" cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw .failed("artifact \"\(name)\" is not a regular file")
        }
        // Reads block normally from here on (O_NONBLOCK only guarded the open).
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) & ~O_NONBLOCK)
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw .failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(errno))))") }
        defer { close(output) }
        let hasher = SHA256Hasher()
        var size = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .failed("artifact \"\(name)\" cannot be read (\(String(cString: strerror(errno))))") }
            if count == 0 { break }
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

    /// A zip of the directory (entries relative to it, permissions kept). Refused if anything
    /// inside leads out of the project root through a symlink.
    private func zip(directory: String, name: String, root: String, to target: String) throws(ArtifactCollectionError) {
        if let enumerator = FileManager.default.enumerator(atPath: directory) {
            for case let entry as String in enumerator {
                let path = directory + "/" + entry
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFLNK:
                    guard let real = Self.realPath(path), Self.isInside(real, root: root) else {
                        throw .failed("artifact \"\(name)/\(entry)\" leads outside the project root")
                    }
                case S_IFREG, S_IFDIR:
                    break
                default:
                    // A FIFO or device would block or read forever.
                    throw .failed("artifact \"\(name)/\(entry)\" is not a regular file, directory or symlink")
                }
            }
        }
        do {
            try FileManager.default.zipItem(
                at: URL(fileURLWithPath: directory),
                to: URL(fileURLWithPath: target),
                shouldKeepParent: false,
                compressionMethod: .deflate
            )
        } catch {
            throw .failed("cannot zip artifact directory \"\(name)\" (\(error.localizedDescription))")
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

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func isInside(_ path: String, root: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }
}
