import NIOCore

/// The fields of an HTML form's body (`application/x-www-form-urlencoded`): `+` is a space,
/// the rest percent-decoded; a field that does not decode is left out, a repeated one keeps
/// its last value.
enum FormFields {
    /// At most this much of a body is read as a form (a token, a build id, a CSRF token).
    static let maxBytes = 16 * 1024

    static func parse(_ body: ByteBuffer) -> [String: String] {
        guard body.readableBytes <= maxBytes else { return [:] }
        let text = String(decoding: body.readableBytesView, as: UTF8.self).replacingOccurrences(of: "+", with: "%20")
        return QueryString.parse(uri: "?" + text)
    }
}
