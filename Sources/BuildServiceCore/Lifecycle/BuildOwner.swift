/// Who submitted a build: the token (by a digest, never the token) and its configured name.
public struct BuildOwner: Sendable, Hashable {
    /// Hex SHA-256 of the token; `nil` for requests on listeners without auth.
    public var tokenDigest: String?
    public var tokenName: String?

    public init(tokenDigest: String?, tokenName: String?) {
        self.tokenDigest = tokenDigest
        self.tokenName = tokenName
    }
}
