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
