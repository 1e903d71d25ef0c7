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
