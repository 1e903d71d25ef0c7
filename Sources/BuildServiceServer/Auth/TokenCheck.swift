import BuildServiceCore
import BuildServiceProtocol
import BuildServiceTLS
import Foundation

/// What an accepted request may do: which projects it may build, and under which name it is
/// logged (the token's configured name, never the token).
struct AccessGrant: Sendable {
    /// The token (by digest) and its entry's name; both `nil` when auth is not required.
    let owner: BuildOwner
    /// Projects the token may build; `nil` means every project.
    let projects: Set<String>?
    /// May see and cancel every build, not only its own.
    let admin: Bool

    var tokenName: String? { owner.tokenName }

    /// Where auth is not required: every project, and the builds of every other such caller.
    static let everything = AccessGrant(owner: BuildOwner(tokenDigest: nil, tokenName: nil), projects: nil, admin: false)

    /// A signed link's: the signature names its one build, whoever started it, to read.
    static let signedBuildReader = AccessGrant(owner: BuildOwner(tokenDigest: nil, tokenName: nil), projects: nil, admin: true)

    /// Whether the build is this token's (or the token is an admin one).
    func maySee(_ record: BuildRecord) -> Bool {
        admin || record.owner.tokenDigest == owner.tokenDigest
    }

    /// - Throws: `ServiceError` `forbidden_project` when the token is scoped to other projects.
    func check(project: String) throws(ServiceError) {
        guard let projects, !projects.contains(project) else { return }
        let who = tokenName.map { "token \"\($0)\"" } ?? "this token"
        throw ServiceError(.forbiddenProject, "\(who) may not build project \"\(project)\"")
    }
}

/// Bearer-token checks for one listener. Every configured token is compared, in constant time
/// per token (every byte looked at, no early exit), and tokens are never logged.
struct TokenCheck: Sendable {
    /// One configured token as compared on every request: its bytes (or digest) and what it
    /// grants, worked out once here rather than per request.
    private struct Entry: Sendable {
        let secret: [UInt8]
        let isDigest: Bool
        let grant: AccessGrant
    }

    let isRequired: Bool
    private let entries: [Entry]
    private let hasDigests: Bool

    init(settings: AuthSettings) {
        isRequired = settings.required
        entries = settings.tokens.map { token in
            let (secret, isDigest): ([UInt8], Bool)
            switch token.secret {
            case .plain(let plain): (secret, isDigest) = (Array(plain.utf8), false)
            case .sha256(let digest): (secret, isDigest) = (digest, true)
            }
            // Owner of the builds it starts: the token's digest, the same however it is configured.
            let owner = BuildOwner(tokenDigest: Hex.encode(isDigest ? secret : SHA256Digest.digest(secret)), tokenName: token.name)
            let grant = AccessGrant(owner: owner, projects: token.projects.map(Set.init), admin: token.admin)
            return Entry(secret: secret, isDigest: isDigest, grant: grant)
        }
        hasDigests = entries.contains(where: \.isDigest)
    }

    /// What `presented` grants: everything when auth is not required, the matching token's
    /// scope when it is one of the configured tokens, `nil` otherwise.
    func grant(for presented: String?) -> AccessGrant? {
        guard isRequired else { return .everything }
        guard let presented else { return nil }
        let bytes = Array(presented.utf8)
        let digest = hasDigests ? SHA256Digest.digest(bytes) : []
        var matched: AccessGrant?
        for entry in entries {
            let equal = Self.constantTimeEqual(entry.isDigest ? digest : bytes, entry.secret)
            if equal, matched == nil { matched = entry.grant }
        }
        return matched
    }

    /// What the configured token with this owner digest grants now (nil: it is no longer
    /// configured). A session is only as good as its token in the current settings.
    func grant(forOwnerDigest digest: String?) -> AccessGrant? {
        guard isRequired else { return .everything }
        return entries.first { $0.grant.owner.tokenDigest == digest }?.grant
    }

    /// The token of an `Authorization: Bearer <token>` header value, if it has that form.
    static func bearerToken(fromHeader value: String?) -> String? {
        guard let value else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1].trimmingHTTPWhitespace)
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        // The length is not secret enough to hide, but the content is: fold every byte.
        var difference = UInt8(lhs.count == rhs.count ? 0 : 1)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
