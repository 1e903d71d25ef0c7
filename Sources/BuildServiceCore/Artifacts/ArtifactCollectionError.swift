public import BuildServiceProtocol

/// Why a build's artifacts could not be published: sent as an `error` event (with the
/// pattern for a glob miss) before a non-zero `exit`.
public struct ArtifactCollectionError: Error, Sendable {
    public let code: ErrorCode
    public let message: String
    public let pattern: String?

    static func globMiss(_ pattern: String) -> ArtifactCollectionError {
        ArtifactCollectionError(code: .artifactGlobMiss, message: "artifact pattern \"\(pattern)\" matched nothing", pattern: pattern)
    }

    static func storeFull(_ message: String) -> ArtifactCollectionError {
        ArtifactCollectionError(code: .artifactStoreFull, message: message, pattern: nil)
    }

    static func failed(_ message: String) -> ArtifactCollectionError {
        ArtifactCollectionError(code: .artifactCollectionFailed, message: message, pattern: nil)
    }
}
