/// `a=1&b=2`, percent-decoded; a pair that does not decode is left out.
enum QueryString {
    static func parse(uri: String) -> [String: String] {
        let utf8 = uri.utf8
        guard let mark = utf8.firstIndex(of: UInt8(ascii: "?")) else { return [:] }
        return parse(utf8[utf8.index(after: mark)...])
    }

    /// The text after the `?`, as bytes (no `Character` splitting on the request path).
    static func parse(_ text: Substring.UTF8View.SubSequence) -> [String: String] {
        var query: [String: String] = [:]
        for pair in text.split(separator: UInt8(ascii: "&")) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            guard let key = ArtifactRoute.decodeSegment(pair[..<(equals ?? pair.endIndex)]) else { continue }
            query[key] = equals.map { ArtifactRoute.decodeSegment(pair[pair.index(after: $0)...], allowingSlash: true) } ?? ""
        }
        return query
    }
}
