public import BuildServiceProtocol
import BuildServiceTLS
import Foundation
import NIOCore
import NIOHTTP1

/// `build-cli --download DIR`: fetches every artifact of a successful build into DIR, keeping
/// relative paths, resuming a partial file with a Range request, and verifying size and
/// SHA-256. Names that would leave DIR are refused.
public struct ArtifactDownloader: Sendable {
    /// The client the build ran through: its endpoint, token and TLS settings.
    public let client: BuildServiceClient
    public let directory: String
    /// A progress line on stderr (when it is a terminal).
    public let showProgress: Bool

    public init(client: BuildServiceClient, directory: String, showProgress: Bool) {
        self.client = client
        self.directory = directory
        self.showProgress = showProgress
    }

    /// - Throws: `ClientError.download` for a refused name, an HTTP error or a checksum
    ///   mismatch; `ClientError.unreachable`/`.tls` when the service cannot be reached.
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
        do {
            try FileManager.default.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
        } catch {
            throw ClientError.download("cannot create the directory for \(target): \(error.localizedDescription)")
        }
        if Self.fileSize(target) == artifact.size, let sha = artifact.sha256, (try? Self.sha256(of: target)) == sha {
            return  // already here and intact
        }
        // Downloads go to a part file named after the content's digest: only a part of this
        // very content is ever resumed, and the final name only ever holds a verified file.
        let part = Self.partPath(for: target, sha256: artifact.sha256)
        var existing = Self.fileSize(part) ?? 0
        if existing > artifact.size || artifact.sha256 == nil { existing = 0 }
        var status = try await fetch(artifact, into: part, from: existing)
        if status == 416, existing > 0 {
            // The server no longer has what the part file continues: start over.
            existing = 0
            status = try await fetch(artifact, into: part, from: 0)
        }
        guard status == 200 || status == 206 else {
            throw ClientError.download("downloading \(artifact.name) failed: HTTP \(status)")
        }
        let size = Self.fileSize(part) ?? -1
        guard size == artifact.size else {
            throw ClientError.download("\(target) has \(size) bytes, expected \(artifact.size)")
        }
        if let expected = artifact.sha256 {
            let actual = (try? Self.sha256(of: part)) ?? "unreadable"
            guard actual == expected else {
                unlink(part)
                throw ClientError.download("checksum mismatch for \(target): expected sha256 \(expected), got \(actual)")
            }
        }
        guard rename(part, target) == 0 else {
            throw ClientError.download("cannot move the download into place at \(target): \(String(cString: strerror(errno)))")
        }
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
        let directory = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        return directory + "/." + name + "." + String((sha256 ?? "unverified").prefix(16)) + ".part"
    }

    /// Path-only URLs are fetched from the build's own endpoint (the Unix socket, say);
    /// absolute ones from their host, with the token only when that is the service itself.
    private func source(of url: String) throws(ClientError) -> (BuildServiceClient, String, Bool) {
        if url.hasPrefix("/") { return (client, url, true) }
        guard let schemeEnd = url.range(of: "://"),
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

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    static func sha256(of path: String) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let hasher = SHA256Hasher()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
            data.withUnsafeBytes { hasher.update($0) }
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

/// `  name  42%  12.0/28.6 MiB` redrawn on stderr, at most a few times a second.
private final class Progress: @unchecked Sendable {
    let name: String
    let total: Int
    let enabled: Bool
    private var done = 0
    private var lastDraw = Date.distantPast

    init(name: String, total: Int, enabled: Bool) {
        self.name = name
        self.total = total
        self.enabled = enabled
    }

    func advance(to value: Int) {
        done = value
        draw(force: false)
    }

    func advance(by count: Int) {
        advance(to: done + count)
    }

    func finish() {
        guard enabled else { return }
        draw(force: true)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(force: Bool) {
        guard enabled, force || Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let percent = total > 0 ? done * 100 / total : 100
        let mib = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1_048_576) }
        FileHandle.standardError.write(Data("\r  \(name)  \(percent)%  \(mib(done))/\(mib(total)) MiB".utf8))
    }
}
