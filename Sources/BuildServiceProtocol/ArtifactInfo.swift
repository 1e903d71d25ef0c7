/// An artifact as listed in the `exit` event.
public struct ArtifactInfo: Sendable, Equatable, Codable {
    /// Path relative to the build's artifact set (a directory appears as `path.zip`).
    public var name: String
    public var url: String
    public var contentType: String
    public var size: Int
    /// Lowercase hex SHA-256 of the content; `nil` from services that do not send it.
    public var sha256: String?

    public init(name: String, url: String, contentType: String, size: Int, sha256: String? = nil) {
        self.name = name
        self.url = url
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey {
        case name, url, size, sha256
        case contentType = "content_type"
    }
}
