import BuildServiceCore

/// `/v1/builds/{build_id}/artifacts/{path}` and `/artifacts/{build_id}/{path}` (the form a
/// `public_base_url` pointing at the daemon itself produces), parsed strictly: anything odd is
/// "no such artifact", never a guess at what was meant.
package struct ArtifactRoute: Equatable {
    package let buildID: String
    /// Clean relative path: percent-decoded once, no empty, `.` or `..` segments.
    package let name: String
    /// Decoded query parameters (`expires`, `sig`).
    let query: [String: String]

    /// Whether `path` (without query) is one of the artifact routes at all, valid or not.
    static func matches(path: Substring) -> Bool {
        if path.hasPrefix("/artifacts/") { return true }
        guard path.hasPrefix("/v1/builds/") else { return false }
        // /v1/builds/<id>/artifacts/…: the fourth segment.
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 5, omittingEmptySubsequences: false)
        return segments.count >= 5 && segments[4].elementsEqual("artifacts".utf8)
    }

    /// `nil` for a malformed, encoded-slash, traversal or otherwise suspicious request.
    package init?(uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawPath = parts[0]
        // An origin-form target starts with "/" (the artifact-route fuzz target found that
        // "xt/artifacts/<id>/…" parsed as an artifact here, though the router never sends it).
        guard rawPath.hasPrefix("/") else { return nil }
        let rawSegments = rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()  // leading ""
        let segments = Array(rawSegments)
        let buildSegment: Substring
        let nameSegments: ArraySlice<Substring>
        if segments.count >= 5, segments[0] == "v1", segments[1] == "builds", segments[3] == "artifacts" {
            buildSegment = segments[2]
            nameSegments = segments[4...]
        } else if segments.count >= 3, segments[0] == "artifacts" {
            buildSegment = segments[1]
            nameSegments = segments[2...]
        } else {
            return nil
        }
        guard BuildID.isValid(String(buildSegment)) else { return nil }
        var decodedSegments: [String] = []
        for raw in nameSegments {
            guard let segment = Self.decodeSegment(raw), !segment.isEmpty, segment != ".", segment != ".." else { return nil }
            decodedSegments.append(segment)
        }
        buildID = String(buildSegment)
        name = decodedSegments.joined(separator: "/")
        query = QueryString.parse(uri: uri)
    }

    /// Percent-decodes one segment; refuses what could change the path's shape after decoding
    /// (`/`, `\`, NUL, control characters) and invalid UTF-8. A query value may hold `/` (a
    /// path inside a zip): `allowingSlash`.
    static func decodeSegment(_ raw: Substring, allowingSlash: Bool = false) -> String? {
        var bytes: [UInt8] = []
        var iterator = raw.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        guard !bytes.contains(where: { ($0 == UInt8(ascii: "/") && !allowingSlash) || $0 == UInt8(ascii: "\\") || $0 < 0x20 || $0 == 0x7F }) else {
            return nil
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
