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

    public init(name: String, size: Int, sha256: String, contentType: String, modified: Int) {
        self.name = name
        self.size = size
        self.sha256 = sha256
        self.contentType = contentType
        self.modified = modified
    }

    enum CodingKeys: String, CodingKey {
        case name, size, sha256, modified
        case contentType = "content_type"
    }
}
