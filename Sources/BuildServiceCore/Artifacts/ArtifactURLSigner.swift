import BuildServiceTLS
public import Foundation

/// Signs artifact URLs so that a browser (which cannot send a bearer header from a link) can
/// download with auth on: `?expires=<unix time>&sig=<hex HMAC-SHA-256>` over the build id, the
/// artifact path and the expiry.
public struct ArtifactURLSigner: Sendable {
    private let key: [UInt8]
    public let lifetimeSec: Int

    public init(key: [UInt8], lifetimeSec: Int) {
        self.key = key
        self.lifetimeSec = lifetimeSec
    }

    /// The query string (without `?`) for a URL valid `lifetimeSec` from `now`, but never past
    /// `notAfter` (when the artifact itself is removed).
    public func query(buildID: String, name: String, now: Date = Date(), notAfter: Date? = nil) -> String {
        var expires = Int(now.timeIntervalSince1970) + lifetimeSec
        if let notAfter { expires = min(expires, Int(notAfter.timeIntervalSince1970)) }
        return "expires=\(expires)&sig=\(signature(buildID: buildID, name: name, expires: expires))"
    }

    /// What a presented link is.
    public enum LinkCheck: Equatable, Sendable {
        case valid
        /// Ours, for this build and path, but its time is over (seconds since 1970).
        case expired(at: Int)
        /// Not ours: changed, made up, or for another build, path or expiry.
        case invalid
    }

    /// Whether `sig` is our signature for exactly this build, path and expiry, and whether the
    /// expiry has passed. Compared in constant time.
    public func check(buildID: String, name: String, expires: String, sig: String, now: Date = Date()) -> LinkCheck {
        guard let expiry = Int(expires), let presented = Hex.decode(sig) else { return .invalid }
        let expected = HMACSHA256.authenticate(key: key, message: Self.message(buildID: buildID, name: name, expires: expiry))
        guard presented.count == expected.count else { return .invalid }
        var difference: UInt8 = 0
        for index in 0..<expected.count { difference |= presented[index] ^ expected[index] }
        guard difference == 0 else { return .invalid }
        return expiry >= Int(now.timeIntervalSince1970) ? .valid : .expired(at: expiry)
    }

    /// `url` signed afresh when it carries a signature (`?expires=…&sig=…`): every read of a
    /// build hands out links valid from that moment, not the ones signed when it finished.
    public func renewed(_ url: String, buildID: String, name: String, notAfter: Date?, now: Date = Date()) -> String {
        guard let query = url.range(of: "?expires="), url[query.upperBound...].contains("&sig=") else { return url }
        return url[..<query.lowerBound] + "?" + self.query(buildID: buildID, name: name, now: now, notAfter: notAfter)
    }

    private func signature(buildID: String, name: String, expires: Int) -> String {
        Hex.encode(HMACSHA256.authenticate(key: key, message: Self.message(buildID: buildID, name: name, expires: expires)))
    }

    /// NUL-separated: no build id, path or number contains one, so no two inputs collide.
    private static func message(buildID: String, name: String, expires: Int) -> [UInt8] {
        Array("\(buildID)\u{0}\(name)\u{0}\(expires)".utf8)
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
