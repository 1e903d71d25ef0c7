import BuildServiceProtocol
import BuildServiceTLS
import Foundation
import ZIPFoundation

/// How a set is walked: measured first (`measure`), then copied into the staging directory
/// (`copy`, `zip`), both through the same walk of its directories (`walk`).
extension ArtifactCollector {
    /// What the walk before staging found.
    struct SetMeasure {
        /// Each regular file's length by its path in the tree: a file whose length differs
        /// when it is copied has changed since, and fails the set.
        var sizes: [String: Int] = [:]
        /// The bytes the set will take: its files, and for each directory artifact the zip's
        /// own entries (headers of about 100 bytes plus the name, twice) on top.
        private(set) var estimate = 0
        /// `artifacts.max_bytes`.
        let limit: Int
        /// The largest directory artifact's files: it is copied into staging and zipped beside
        /// the copy, so while it is zipped the copy takes room as well.
        private(set) var largestDirectory: (name: String, bytes: Int)?

        init(limit: Int) {
            self.limit = limit
        }

        /// Counts `bytes` more, refusing the set as soon as it is over the limit: a build
        /// controls the lengths (sparse files of exabytes cost it nothing), so the sum is never
        /// taken past the limit, where it could overflow.
        mutating func add(_ bytes: Int) throws(ArtifactCollectionError) {
            guard bytes <= limit - estimate else {
                throw .failed("the artifacts add up to more than artifacts.max_bytes (\(limit) bytes)")
            }
            estimate += bytes
        }

        mutating func noteDirectory(_ name: String, bytes: Int) {
            if bytes > largestDirectory?.bytes ?? 0 { largestDirectory = (name, bytes) }
        }

        /// The most the set takes in staging at once: all of it, and the copy of the largest
        /// directory artifact while it is zipped.
        func peak() throws(ArtifactCollectionError) -> Int {
            guard let directory = largestDirectory else { return estimate }
            guard directory.bytes <= limit - estimate else {
                throw .failed(
                    "the artifacts add up to more than artifacts.max_bytes (\(limit) bytes) while they are stored: directory "
                        + "\"\(directory.name)\" is copied (\(directory.bytes) bytes) before it is zipped, and both count"
                )
            }
            return estimate + directory.bytes
        }
    }

    /// Measures artifact `name`: a regular file the build's user may read, or a directory of
    /// only such files and directories.
    func measure(_ name: String, pattern: String, tree: ArtifactTree, into measured: inout SetMeasure) throws(ArtifactCollectionError) {
        let info = try Self.status(of: name, pattern: pattern, in: tree)
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            try Self.checkReadable(name, pattern: pattern, info, tree: tree)
            measured.sizes[name] = Int(info.st_size)
            try measured.add(Int(info.st_size))
        case S_IFDIR:
            var files = 0
            try walk(name, pattern: pattern, tree: tree) { path, _ throws(ArtifactCollectionError) in
                try measured.add(Self.zipEntryBytes(path))
            } file: { path, _ throws(ArtifactCollectionError) in
                let info = try Self.status(of: path, pattern: pattern, in: tree)
                try Self.checkReadable(path, pattern: pattern, info, tree: tree)
                measured.sizes[path] = Int(info.st_size)
                try measured.add(Int(info.st_size))
                try measured.add(Self.zipEntryBytes(path))
                files += Int(info.st_size)  // each under the limit, added only while their sum is
            }
            measured.noteDirectory(name, bytes: files)
        default:
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is neither a file nor a directory")
        }
    }

    /// Copies a regular file as measured, keeping its permission bits (never set-id bits).
    /// - Parameter hasher: the file's SHA-256 is computed on the way (one read of the data).
    /// - Returns: its length.
    func copy(
        _ name: String,
        pattern: String,
        tree: ArtifactTree,
        expectedSize: Int?,
        to target: String,
        hasher: SHA256Hasher?
    ) throws(ArtifactCollectionError) -> Int {
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
        try Self.checkReadable(name, pattern: pattern, info, tree: tree)
        let length = Int(info.st_size)
        guard length == expectedSize else { throw Self.changed(name) }
        // Reads block normally from here on (O_NONBLOCK only guarded the open).
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) & ~O_NONBLOCK)
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o777)
        guard output >= 0 else { throw .failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(errno))))") }
        defer { close(output) }
        do {
            try SparseFileCopy.copy(from: input, to: output, length: length, hasher: hasher)
        } catch {
            switch error {
            case .read(let code): throw .failed("artifact \"\(name)\" cannot be read (\(String(cString: strerror(code))))")
            case .write(let code): throw .failed("cannot store artifact \"\(name)\" (\(String(cString: strerror(code))))")
            case .changed: throw Self.changed(name)
            }
        }
        return length
    }

    /// A zip of the directory (entries relative to it, permissions kept). The zip is made from
    /// a copy in the staging area, which no build can touch, and every file of that copy is
    /// opened beneath the project root by the kernel: whatever a leftover process does to the
    /// tree meanwhile, nothing from outside the root gets in.
    func zip(directory name: String, pattern: String, tree: ArtifactTree, sizes: [String: Int], to target: String) throws(ArtifactCollectionError) {
        let source = (target as NSString).deletingLastPathComponent + "/.zip-source-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: source) }
        try makeStagingDirectory(source, for: name)
        try walk(name, pattern: pattern, tree: tree) { path, staged throws(ArtifactCollectionError) in
            try makeStagingDirectory(source + "/" + staged, for: path)
        } file: { path, staged throws(ArtifactCollectionError) in
            _ = try copy(path, pattern: pattern, tree: tree, expectedSize: sizes[path], to: source + "/" + staged, hasher: nil)
        }
        do {
            try FileManager.default.zipItem(
                at: URL(fileURLWithPath: source),
                to: URL(fileURLWithPath: target),
                shouldKeepParent: false,
                compressionMethod: .deflate
            )
        } catch {
            throw .failed("cannot zip artifact directory \"\(name)\" (\(SystemErrorText.describe(error)))")
        }
    }

    /// Walks what is below directory `relative`: `directory` for each directory (with its
    /// path in the tree, and relative to `relative`), `file` for each regular file. A matched
    /// symlink to a directory inside the root was opened as that directory; symlinks below it
    /// are not descended into (a directory they name is stored empty), so a loop cannot hold
    /// the walk. FIFOs, devices and a directory the build's user could not list fail it.
    private func walk(
        _ relative: String,
        pattern: String,
        tree: ArtifactTree,
        under staged: String = "",
        directory: (_ path: String, _ staged: String) throws(ArtifactCollectionError) -> Void,
        file: (_ path: String, _ staged: String) throws(ArtifactCollectionError) -> Void
    ) throws(ArtifactCollectionError) {
        guard let entries = try tree.entries(of: relative, pattern: pattern) else {
            throw .failed("artifact directory \"\(relative)\" (pattern \"\(pattern)\") cannot be listed by the build's user")
        }
        for (name, listedKind) in entries {
            let path = relative + "/" + name
            let stagedName = staged.isEmpty ? name : staged + "/" + name
            var kind: ArtifactTree.Kind? = listedKind
            if kind == .symlink {
                kind = try tree.kind(of: name, in: relative, following: true, pattern: pattern)
                if kind == .directory {
                    try directory(path, stagedName)
                    continue
                }
            }
            switch kind {
            case .directory:
                try directory(path, stagedName)
                try walk(path, pattern: pattern, tree: tree, under: stagedName, directory: directory, file: file)
            case .file:
                try file(path, stagedName)
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

    private static func checkReadable(_ name: String, pattern: String, _ info: stat, tree: ArtifactTree) throws(ArtifactCollectionError) {
        guard tree.may(.read, info) else {
            throw .failed("artifact \"\(name)\" (pattern \"\(pattern)\") is not readable by the build's user")
        }
    }

    private static func changed(_ name: String) -> ArtifactCollectionError {
        .failed("artifact \"\(name)\" changed while it was being stored (is a process of the build still writing it?)")
    }

    private static func zipEntryBytes(_ path: String) -> Int {
        100 + 2 * path.utf8.count
    }

    /// The length and SHA-256 of a stored file (a zip just made, an adopted set's file).
    static func sizeAndDigest(of path: String, name: String) throws(ArtifactCollectionError) -> (Int, String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        var info = stat()
        guard descriptor >= 0, fstat(descriptor, &info) == 0 else { throw .failed("cannot read stored artifact \"\(name)\"") }
        defer { close(descriptor) }
        let hasher = SHA256Hasher()
        do {
            try SparseFileCopy.copy(from: descriptor, to: nil, length: Int(info.st_size), hasher: hasher)
        } catch {
            throw .failed("cannot read stored artifact \"\(name)\"")
        }
        return (Int(info.st_size), hasher.finalizeHex())
    }
}
