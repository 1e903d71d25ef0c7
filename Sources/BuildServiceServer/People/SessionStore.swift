import BuildServiceTLS
import Foundation
import NIOConcurrencyHelpers

/// Server-side sessions of people logged in with a token (`POST /login`): the browser holds
/// only a random id in an HttpOnly cookie; the token itself is never stored, only which
/// configured token it was (its digest), so a token removed by a reload ends its sessions at
/// the next request (see `RequestAuthorizer`). Memory is bounded: the oldest session goes
/// when `capacity` are open.
final class SessionStore: Sendable {
    struct Session: Sendable {
        let id: String
        /// Which configured token logged in (`BuildOwner.tokenDigest`).
        let tokenDigest: String?
        /// Sent back with every form that changes something (`cancel`, `logout`).
        let csrfToken: String
        let expires: Date
    }

    /// How long a login lasts.
    let lifetimeSec: Int
    let capacity: Int
    private let sessions = NIOLockedValueBox<[String: Session]>([:])

    static let cookieName = "bs_session"

    init(lifetimeSec: Int = 12 * 3600, capacity: Int = 10_000) {
        self.lifetimeSec = lifetimeSec
        self.capacity = capacity
    }

    /// A new session for the token with this digest.
    func open(tokenDigest: String?, now: Date = Date()) -> Session {
        let session = Session(
            id: Hex.encode(SecureRandom.bytes(32)),
            tokenDigest: tokenDigest,
            csrfToken: Hex.encode(SecureRandom.bytes(32)),
            expires: now.addingTimeInterval(TimeInterval(lifetimeSec))
        )
        sessions.withLockedValue { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            if sessions.count >= capacity, let oldest = sessions.values.min(by: { $0.expires < $1.expires }) {
                sessions[oldest.id] = nil
            }
            sessions[session.id] = session
        }
        return session
    }

    /// The live session a `Cookie` header names, if any.
    func session(cookieHeader: String?, now: Date = Date()) -> Session? {
        guard let id = Self.sessionID(cookieHeader: cookieHeader) else { return nil }
        return sessions.withLockedValue { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    func close(_ id: String) {
        sessions.withLockedValue { $0[id] = nil }
    }

    var count: Int { sessions.withLockedValue { $0.count } }

    /// `bs_session=<64 hex>` among a Cookie header's pairs.
    static func sessionID(cookieHeader: String?) -> String? {
        guard let cookieHeader else { return nil }
        for pair in cookieHeader.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName else { continue }
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            if value.utf8.count == 64, value.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) { return value }
        }
        return nil
    }

    /// The `Set-Cookie` value for `session` (nil: the one that ends the session in the browser).
    /// HttpOnly: no script reads it; Secure: it never travels in clear (browsers still keep it
    /// for http://localhost); SameSite=Strict: no other site's page or form sends it.
    static func cookie(_ session: Session?, lifetimeSec: Int) -> String {
        let value = session?.id ?? ""
        let age = session == nil ? 0 : lifetimeSec
        return "\(cookieName)=\(value); Path=/; Max-Age=\(age); HttpOnly; Secure; SameSite=Strict"
    }

    /// Whether a form's `csrf` field is this session's (compared in constant time).
    static func csrfMatches(_ presented: String?, _ session: Session) -> Bool {
        guard let presented else { return false }
        return TokenCheck.constantTimeEqual(Array(presented.utf8), Array(session.csrfToken.utf8))
    }
}
