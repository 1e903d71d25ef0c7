import BuildServiceCore
import Foundation

/// Bearer-token checks for one listener. Tokens are compared in constant time (per candidate
/// token, every byte is looked at), and never logged.
struct TokenCheck: Sendable {
    let settings: AuthSettings

    var isRequired: Bool { settings.required }

    /// Whether `presented` is one of the configured tokens; true when auth is not required.
    func accepts(_ presented: String?) -> Bool {
        guard settings.required else { return true }
        guard let presented else { return false }
        var matched = false
        for token in settings.tokens {
            matched = Self.constantTimeEqual(Array(presented.utf8), Array(token.utf8)) || matched
        }
        return matched
    }

    /// The token of an `Authorization: Bearer <token>` header value, if it has that form.
    static func bearerToken(fromHeader value: String?) -> String? {
        guard let value else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    private static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
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
