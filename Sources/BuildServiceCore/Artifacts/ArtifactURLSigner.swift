import BuildServiceTLS
public import Foundation

/// Signs the links a browser opens (it cannot send a bearer header from a link), so that they
/// work with auth on: `?expires=<unix time>&sig=<hex HMAC-SHA-256>` over what the link is for
/// (see `SignedPath`), the build id and the expiry.
public struct ArtifactURLSigner: Sendable {
    /// What a signed link opens. A signature is for one of these only: a build page's link
    /// cannot be turned into an artifact's, or the page's into its event stream's.
    public enum SignedPath: Sendable, Equatable {
        /// `/v1/builds/{id}/artifacts/{name}` (and `/artifacts/{id}/{name}`).
        case artifact(String)
        /// `/v1/builds/{id}/page`.
        case page
        /// `/v1/builds/{id}/events`, read-only: what the build page follows.
        case events
    }

    private let key: [UInt8]
    public let lifetimeSec: Int

    public init(key: [UInt8], lifetimeSec: Int) {
        self.key = key
        self.lifetimeSec = lifetimeSec
    }

    /// The query string (without `?`) for a URL valid `lifetimeSec` from `now`, but never past
    /// `notAfter` (when the artifact itself is removed).
    public func query(buildID: String, name: String, now: Date = Date(), notAfter: Date? = nil) -> String {
        query(buildID: buildID, path: .artifact(name), now: now, notAfter: notAfter)
    }

    /// The query string (without `?`) of a link to `path` of the build.
    public func query(buildID: String, path: SignedPath, now: Date = Date(), notAfter: Date? = nil) -> String {
        var expires = Int(now.timeIntervalSince1970) + lifetimeSec
        if let notAfter { expires = min(expires, Int(notAfter.timeIntervalSince1970)) }
        return "expires=\(expires)&sig=\(Hex.encode(authenticate(buildID: buildID, path: path, expires: expires)))"
    }

    /// What a presented link is.
    public enum LinkCheck: Equatable, Sendable {
        case valid
        /// Ours, for this build and path, but its time is over (seconds since 1970).
        case expired(at: Int)
        /// Not ours: changed, made up, or for another build, path or expiry.
        case invalid
    }

    /// `check(buildID:path:…)` for an artifact.
    public func check(buildID: String, name: String, expires: String, sig: String, now: Date = Date()) -> LinkCheck {
        check(buildID: buildID, path: .artifact(name), expires: expires, sig: sig, now: now)
    }

    /// Whether `sig` is our signature for exactly this build, path and expiry, and whether the
    /// expiry has passed. Compared in constant time.
    public func check(buildID: String, path: SignedPath, expires: String, sig: String, now: Date = Date()) -> LinkCheck {
        guard let expiry = Int(expires), let presented = Hex.decode(sig) else { return .invalid }
        let expected = authenticate(buildID: buildID, path: path, expires: expiry)
        guard presented.count == expected.count else { return .invalid }
        var difference: UInt8 = 0
        for index in 0..<expected.count { difference |= presented[index] ^ expected[index] }
        guard difference == 0 else { return .invalid }
        return expiry >= Int(now.timeIntervalSince1970) ? .valid : .expired(at: expiry)
    }

    /// `url` signed afresh when it carries a signature (`?expires=…&sig=…`): every read of a
    /// build hands out links valid from that moment, not the ones signed when it finished.
    public func renewed(_ url: String, buildID: String, name: String, notAfter: Date?, now: Date = Date()) -> String {
        renewed(url, buildID: buildID, path: .artifact(name), notAfter: notAfter, now: now)
    }

    /// `url` (a link to `path`) signed afresh when it carries a signature.
    public func renewed(_ url: String, buildID: String, path: SignedPath, notAfter: Date?, now: Date = Date()) -> String {
        guard let query = url.range(of: "?expires="), url[query.upperBound...].contains("&sig=") else { return url }
        return url[..<query.lowerBound] + "?" + self.query(buildID: buildID, path: path, now: now, notAfter: notAfter)
    }

    private func authenticate(buildID: String, path: SignedPath, expires: Int) -> [UInt8] {
        HMACSHA256.authenticate(key: key, message: Self.message(buildID: buildID, path: path, expires: expires))
    }

    /// NUL-separated: no build id, path or number contains one, so no two inputs collide. An
    /// artifact's message starts with the build id (`bld_…`), the others with a word no build
    /// id is, so no artifact name can make one of theirs. (Artifact messages are as they were
    /// before pages existed: links handed out then still verify.)
    private static func message(buildID: String, path: SignedPath, expires: Int) -> [UInt8] {
        switch path {
        case .artifact(let name): Array("\(buildID)\u{0}\(name)\u{0}\(expires)".utf8)
        case .page: Array("page\u{0}\(buildID)\u{0}\(expires)".utf8)
        case .events: Array("events\u{0}\(buildID)\u{0}\(expires)".utf8)
        }
    }

    /// Reads the signing key, or creates one (32 random bytes, hex, mode 0600) if the file does
    /// not exist, so URLs stay valid across restarts.
    /// - Throws: `ConfigError` under `artifacts.signing_key_file`.
    public static func loadOrCreateKey(path: String) throws(ConfigError) -> [UInt8] {
        let key = "artifacts.signing_key_file"
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let bytes = Hex.decode(text), bytes.count >= 32 else {
                throw ConfigError(key: key, "\(path) must hold at least 32 bytes as hex (delete it to have a new key made)")
            }
            return bytes
        }
        let bytes = SecureRandom.bytes(32)
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConfigError(key: key, "cannot create \(path) (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        let text = Hex.encode(bytes) + "\n"
        guard text.withCString({ write(descriptor, $0, strlen($0)) }) == text.utf8.count else {
            throw ConfigError(key: key, "cannot write \(path) (\(String(cString: strerror(errno))))")
        }
        return bytes
    }
}
