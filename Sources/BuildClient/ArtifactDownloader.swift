public import BuildServiceProtocol
import BuildServiceTLS
import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1

/// `build-cli --download DIR`: fetches every artifact of a successful build into DIR, keeping
/// relative paths, resuming a partial file with a Range request, and verifying size and
/// SHA-256. Names that would leave DIR are refused; a different file already at a name is
/// kept or replaced only when asked (`existingFiles`), and a prefix of the artifact there is
/// resumed, as `wget -c` does, but verified before it replaces anything.
public struct ArtifactDownloader: Sendable {
    /// What to do with a file already at an artifact's name that is not the artifact.
    public enum ExistingFiles: Sendable {
        /// Resume it when it is a prefix of the artifact, else refuse (exit 73).
        case refuse
        /// Leave it as it is (`--no-clobber`).
        case keep
        /// Replace it (`--force`).
        case replace
    }

    /// The client the build ran through: its endpoint, token and TLS settings.
    public let client: BuildServiceClient
    public let directory: String
    /// A progress line on stderr (when it is a terminal).
    public let showProgress: Bool
    public var existingFiles = ExistingFiles.refuse
    /// Told one line per artifact once it is in place (or kept): `saved out/app.tar.gz (12.3 MiB, sha256 ok)`.
    public var report: @Sendable (String) -> Void = { _ in }

    public init(client: BuildServiceClient, directory: String, showProgress: Bool) {
        self.client = client
        self.directory = directory
        self.showProgress = showProgress
    }

    /// - Throws: `ClientError.download` for a refused name, an HTTP error or a checksum
    ///   mismatch; `.cannotWrite` when a file cannot be put in place; `.unreachable`/`.tls`
    ///   when the service cannot be reached.
    public func download(_ artifacts: [ArtifactInfo]) async throws(ClientError) {
        for artifact in artifacts {
            try await download(artifact)
        }
    }

    private func download(_ artifact: ArtifactInfo) async throws(ClientError) {
        // The digest also names the part file: only 64 hex digits are taken from the server.
        if let sha = artifact.sha256, sha.utf8.count != 64 || !sha.allSatisfy(\.isHexDigit) {
            throw ClientError.download("refusing artifact \"\(artifact.name)\": its sha256 is not 64 hex digits")
        }
        let target = try Self.localPath(for: artifact.name, in: directory)
        try Self.makeDirectories(PathText.directory(of: target))
        let checked = artifact.sha256 == nil ? "no sha256 given" : "sha256 ok"
        // Downloads go to a part file named after the content's digest: only a part of this
        // very content is ever resumed, and the final name only ever holds a verified file.
        let part = Self.partPath(for: target, sha256: artifact.sha256)
        var resumedFrom = 0
        switch Self.entry(at: target) {
        case .missing:
            break
        case .other:
            throw ClientError.cannotWrite("\(target) exists and is not a regular file; remove it or download into another directory")
        case .file(let size):
            if size == artifact.size, let sha = artifact.sha256, (try? Self.sha256(of: target)) == sha {
                report("saved \(target) (\(Self.sizeText(size)), sha256 ok, already there)")
                return
            }
            if existingFiles == .keep {
                report("kept \(target): a different file was there (--no-clobber)")
                return
            }
            if size < artifact.size, artifact.sha256 != nil, try await resumePrefix(of: target, size: size, into: part, artifact) {
                resumedFrom = size
                break
            }
            guard existingFiles == .replace else {
                throw ClientError.cannotWrite(
                    "\(target) exists and differs from the artifact; --force replaces it, --no-clobber keeps it"
                )
            }
        }
        if resumedFrom == 0 {
            var existing = Self.fileSize(part) ?? 0
            if existing > artifact.size || artifact.sha256 == nil { existing = 0 }
            try await fetchVerified(artifact, into: part, from: existing)
            resumedFrom = existing
        }
        guard rename(part, target) == 0 else {
            throw ClientError.cannotWrite("cannot move the download into place at \(target): \(String(cString: strerror(errno)))")
        }
        let resumed = resumedFrom > 0 ? ", resumed at \(Self.sizeText(resumedFrom))" : ""
        report("saved \(target) (\(Self.sizeText(artifact.size)), \(checked)\(resumed))")
    }

    /// Fetches into `part` from `existing` bytes on (the whole when the server no longer has
    /// what the part continues), then checks size and digest; a part that fails is deleted.
    /// Returns the answer's status: 206 when the part was continued.
    @discardableResult
    private func fetchVerified(_ artifact: ArtifactInfo, into part: String, from existing: Int) async throws(ClientError) -> UInt {
        var status = try await fetch(artifact, into: part, from: existing)
        if status == 416, existing > 0 {
            status = try await fetch(artifact, into: part, from: 0)
        }
        guard status == 200 || status == 206 else {
            throw ClientError.download("downloading \(artifact.name) failed: HTTP \(status)")
        }
        let size = Self.fileSize(part) ?? -1
        guard size == artifact.size else {
            throw ClientError.download("\(artifact.name) arrived with \(size) bytes, expected \(artifact.size)")
        }
        if let expected = artifact.sha256 {
            let actual = (try? Self.sha256(of: part)) ?? "unreadable"
            guard actual == expected else {
                unlink(part)
                throw ClientError.download("checksum mismatch for \(artifact.name): expected sha256 \(expected), got \(actual)")
            }
        }
        return status
    }

    /// A file at the target shorter than the artifact may be an interrupted download of it:
    /// a copy of it is continued in the part file and kept only if the whole checks out, so a
    /// different file is never changed. Returns whether the part now holds the artifact.
    private func resumePrefix(of target: String, size: Int, into part: String, _ artifact: ArtifactInfo) async throws(ClientError) -> Bool {
        guard Self.copy(target, to: part) else { return false }
        do {
            // Only a continuation proves the file was the artifact's start.
            if try await fetchVerified(artifact, into: part, from: size) == 206 { return true }
        } catch ClientError.download {
        }
        unlink(part)
        return false
    }

    /// GETs the artifact into `part`, from byte `offset` (appending) or whole; returns the status.
    private func fetch(_ artifact: ArtifactInfo, into part: String, from offset: Int) async throws(ClientError) -> UInt {
        let (fetcher, requestTarget, sameService) = try source(of: artifact.url)
        var headers: [(String, String)] = []
        if offset > 0, let sha = artifact.sha256 {
            headers.append(("Range", "bytes=\(offset)-"))
            // Only resume the same content; a changed artifact comes back whole.
            headers.append(("If-Range", "\"\(sha)\""))
        }
        let output = FileOutput(path: part)
        defer { output.close() }
        let progress = Progress(name: artifact.name, total: artifact.size, enabled: showProgress)
        var status: UInt = 0
        try await fetcher.fetch(target: requestTarget, headers: headers, sendToken: sameService) { head in
            status = head.status.code
            switch head.status {
            case .partialContent where offset > 0:
                try output.open(appending: true)
                progress.advance(to: offset)
            case .ok:
                try output.open(appending: false)
            default:
                break
            }
        } onBody: { chunk in
            guard output.isOpen else { return }
            try output.write(chunk)
            progress.advance(by: chunk.readableBytes)
        }
        output.close()
        progress.finish()
        return status
    }

    /// `dir/.name.<first 16 hex digits of the sha256>.part` beside the final file.
    static func partPath(for target: String, sha256: String?) -> String {
        let directory = PathText.directory(of: target)
        let name = PathText.fileName(of: target)
        return directory + "/." + name + "." + String((sha256 ?? "unverified").prefix(16)) + ".part"
    }

    /// Path-only URLs are fetched from the build's own endpoint (the Unix socket, say);
    /// absolute ones from their host, with the token only when that is the service itself.
    private func source(of url: String) throws(ClientError) -> (BuildServiceClient, String, Bool) {
        if url.hasPrefix("/") { return (client, url, true) }
        guard let schemeEnd = url.firstRange(of: "://"),
            let pathStart = url[schemeEnd.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" })
        else {
            throw ClientError.download("artifact URL \(url) is not an http(s) URL")
        }
        let origin = String(url[..<pathStart])
        var target = String(url[pathStart...])
        if target.hasPrefix("?") { target = "/" + target }
        let endpoint = try Endpoint.parse(url: origin)
        let sameService: Bool
        switch (endpoint, client.endpoint) {
        case (.http(let host, let port, _, let tls), .http(let ownHost, let ownPort, _, let ownTLS)):
            sameService = host == ownHost && port == ownPort && tls == ownTLS
        default:
            sameService = false
        }
        return (BuildServiceClient(endpoint: endpoint, token: client.token, tls: client.tls), target, sameService)
    }

    /// DIR/name, refusing names that are absolute, empty or climb out (`..`, backslashes).
    static func localPath(for name: String, in directory: String) throws(ClientError) -> String {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\"), !name.utf8.contains(0),
            !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else {
            throw ClientError.download("refusing artifact name \"\(name)\": it would be written outside \(directory)")
        }
        return directory + "/" + name
    }

    /// What is at a download's final name.
    enum Entry {
        case missing
        case file(size: Int)
        case other
    }

    static func entry(at path: String) -> Entry {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        return info.st_mode & S_IFMT == S_IFREG ? .file(size: Int(info.st_size)) : .other
    }

    /// `mkdir -p`, with messages that name the component in the way and the system's reason.
    static func makeDirectories(_ path: String) throws(ClientError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) == 0 { continue }
            let error = errno
            var info = stat()
            if error == EEXIST, stat(prefix, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFDIR { continue }
                throw ClientError.cannotWrite("cannot download into \(path): \(prefix) is a file, not a directory")
            }
            throw ClientError.cannotWrite("cannot create the directory \(prefix): \(String(cString: strerror(error)))")
        }
    }

    /// Copies a regular file (for a resumed prefix); false when it cannot be read or written.
    static func copy(_ source: String, to destination: String) -> Bool {
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { return false }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard output >= 0 else { return false }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(input, &buffer, buffer.count)
            if count == 0 { return true }
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, count - offset) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return false }
                offset += written
            }
        }
    }

    /// `512 B`, `4.0 KiB`, `12.3 MiB`, `1.2 GiB`.
    public static func sizeText(_ bytes: Int) -> String {
        ByteCountText.of(bytes)
    }

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    static func sha256(of path: String) throws -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
        return hasher.finalizeHex()
    }
}

/// The file a download goes into.
private final class FileOutput: @unchecked Sendable {
    let path: String
    private var descriptor: Int32 = -1

    init(path: String) {
        self.path = path
    }

    var isOpen: Bool { descriptor >= 0 }

    func open(appending: Bool) throws {
        descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (appending ? O_APPEND : O_TRUNC), 0o644)
        guard descriptor >= 0 else { throw ClientError.download("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    func write(_ chunk: ByteBuffer) throws {
        try chunk.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { throw ClientError.download("cannot write \(path): \(String(cString: strerror(errno)))") }
                offset += written
            }
        }
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}

/// `  name  42%  12.0/28.6 MiB  5.3 MiB/s  ETA 0:03` redrawn on stderr (a terminal) at most five
/// times a second, like curl's and wget's; erased at the end, where the `saved …` line goes.
private final class Progress: @unchecked Sendable {
    let name: String
    let total: Int
    let enabled: Bool
    private var done = 0
    /// Where this transfer started (a resumed one does not count what was there) and when.
    private var startBytes: Int?
    private let started = Date()
    private var lastDraw = Date.distantPast

    init(name: String, total: Int, enabled: Bool) {
        self.name = name
        self.total = total
        self.enabled = enabled
    }

    func advance(to value: Int) {
        if startBytes == nil { startBytes = value }
        done = value
        draw()
    }

    func advance(by count: Int) {
        advance(to: done + count)
    }

    func finish() {
        guard enabled, lastDraw != .distantPast else { return }
        Self.writeToStandardError("\r\u{1B}[K")
    }

    private func draw() {
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let percent = total > 0 ? done * 100 / total : 100
        let mib = { (bytes: Double) in ByteCountText.decimal(bytes / 1_048_576, places: 1) }
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done - (startBytes ?? 0)) / elapsed : 0
        var line = "\r  \(name)  \(percent)%  \(mib(Double(done)))/\(mib(Double(total))) MiB"
        if rate > 0 {
            let left = Int((Double(total - done) / rate).rounded(.up))
            line += "  \(mib(rate)) MiB/s  ETA \(left / 60):\(left % 60 < 10 ? "0" : "")\(left % 60)"
        }
        Self.writeToStandardError(line + "\u{1B}[K")
    }

    private static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
