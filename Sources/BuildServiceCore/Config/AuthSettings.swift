/// `auth` tables of both listeners.
public struct AuthSettings: Sendable {
    public var required = false
    /// Accepted bearer tokens, those of `tokensFile` included once loaded. Never logged or printed.
    public var tokens: [AuthToken] = []
    /// A file with one token per line (`#` starts a comment), read at startup.
    public var tokensFile: String?
    /// `[service.http.auth]` only: accept tokens over plain HTTP on a non-loopback address,
    /// where they cross the network in clear. Off by default; startup fails without it.
    public var allowPlaintextHTTP = false
}

/// One accepted token: the secret itself or its SHA-256 digest, optionally named and limited
/// to some projects.
public struct AuthToken: Sendable, Equatable {
    public enum Secret: Sendable, Equatable {
        case plain(String)
        /// The 32-byte SHA-256 digest of the token's UTF-8 bytes.
        case sha256([UInt8])
    }

    public var secret: Secret
    /// Shown in logs instead of the token (never the token itself).
    public var name: String?
    /// Project ids this token may build; `nil` means every project.
    public var projects: [String]?
    /// May see and cancel every build, not only its own.
    public var admin: Bool

    public init(secret: Secret, name: String? = nil, projects: [String]? = nil, admin: Bool = false) {
        self.secret = secret
        self.name = name
        self.projects = projects
        self.admin = admin
    }
}
