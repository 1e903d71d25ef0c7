import Foundation

/// One published artifact, as recorded in its build's manifest.
public struct StoredArtifact: Sendable, Codable, Equatable {
    /// Path relative to the build's artifact directory (`bin/app`, `docs.zip`).
    public var name: String
    public var size: Int
    public var sha256: String
    public var contentType: String
    /// Seconds since 1970; the Last-Modified of downloads.
    public var modified: Int

    enum CodingKeys: String, CodingKey {
        case name, size, sha256, modified
        case contentType = "content_type"
    }
}

/// `<storage_root>/<build_id>.json`: written last, so a build's artifacts exist for the
/// server exactly when this file does.
public struct ArtifactManifest: Sendable, Codable, Equatable {
    public var buildID: String
    public var project: String
    /// Seconds since 1970, with fractions: builds finished in the same second still have an
    /// order, so eviction removes the older one.
    public var created: Double
    public var artifacts: [StoredArtifact]

    enum CodingKeys: String, CodingKey {
        case project, created, artifacts
        case buildID = "build_id"
    }

    public func artifact(named name: String) -> StoredArtifact? {
        artifacts.first { $0.name == name }
    }
}

/// Content types by file extension, for the `exit` event and downloads.
enum ContentType {
    private static let byExtension: [String: String] = [
        "zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip", "tar": "application/x-tar",
        "xz": "application/x-xz", "bz2": "application/x-bzip2", "zst": "application/zstd", "7z": "application/x-7z-compressed",
        "txt": "text/plain; charset=utf-8", "log": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8", "json": "application/json", "xml": "application/xml",
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8", "css": "text/css", "js": "text/javascript",
        "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "svg": "image/svg+xml", "deb": "application/vnd.debian.binary-package", "rpm": "application/x-rpm",
        "jar": "application/java-archive", "wasm": "application/wasm", "iso": "application/x-iso9660-image",
    ]

    static func forName(_ name: String) -> String {
        guard let dot = name.lastIndex(of: "."), !name[dot...].contains("/") else { return "application/octet-stream" }
        return byExtension[name[name.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }
}
