/// `a=1&b=2`, percent-decoded; a pair that does not decode is left out.
enum QueryString {
    static func parse(uri: String) -> [String: String] {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return [:] }
        var query: [String: String] = [:]
        for pair in parts[1].split(separator: "&") {
            let keyValue = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = ArtifactRoute.decodeSegment(keyValue[0]) else { continue }
            query[key] = keyValue.count == 2 ? ArtifactRoute.decodeSegment(keyValue[1], allowingSlash: true) : ""
        }
        return query
    }
}
