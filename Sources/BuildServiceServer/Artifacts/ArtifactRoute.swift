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
        if path.utf8.starts(with: "/artifacts/".utf8) { return true }
        let prefix = "/v1/builds/".utf8
        guard path.utf8.starts(with: prefix) else { return false }
        // /v1/builds/<id>/artifacts/…: the segment after the id (no split: on every request).
        let afterPrefix = path.utf8.dropFirst(prefix.count)
        guard let slash = afterPrefix.firstIndex(of: UInt8(ascii: "/")) else { return false }
        let segment = afterPrefix[afterPrefix.index(after: slash)...].prefix { $0 != UInt8(ascii: "/") }
        return segment.elementsEqual("artifacts".utf8)
    }

    /// `nil` for a malformed, encoded-slash, traversal or otherwise suspicious request.
    /// Works on the target's UTF-8 bytes (split by `Character` it cost a tenth of a small
    /// download's time).
    package init?(uri: String) {
        let utf8 = uri.utf8
        let pathEnd = utf8.firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        let rawPath = utf8[..<pathEnd]
        // An origin-form target starts with "/" (the artifact-route fuzz target found that
        // "xt/artifacts/<id>/…" parsed as an artifact here, though the router never sends it).
        guard rawPath.first == UInt8(ascii: "/") else { return nil }
        // Scanned in place (splitting it into an array of segments was a twentieth of a
        // small download's time).
        let afterRoot = rawPath.dropFirst()
        let idAndRest: Substring.UTF8View.SubSequence
        let artifactsFollowID: Bool
        if afterRoot.starts(with: "v1/builds/".utf8) {
            idAndRest = afterRoot.dropFirst(10)
            artifactsFollowID = true
        } else if afterRoot.starts(with: "artifacts/".utf8) {
            idAndRest = afterRoot.dropFirst(10)
            artifactsFollowID = false
        } else {
            return nil
        }
        guard let idEnd = idAndRest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        var rawName = idAndRest[idAndRest.index(after: idEnd)...]
        if artifactsFollowID {
            guard rawName.starts(with: "artifacts/".utf8) else { return nil }
            rawName = rawName.dropFirst(10)
        }
        let buildID = String(decoding: idAndRest[..<idEnd], as: UTF8.self)
        guard BuildID.isValid(buildID) else { return nil }
        var name: [UInt8] = []
        name.reserveCapacity(rawName.count)
        while true {
            let slash = rawName.firstIndex(of: UInt8(ascii: "/"))
            let start = name.count
            guard Self.appendDecoded(rawName[..<(slash ?? rawName.endIndex)], to: &name, allowingSlash: false) else { return nil }
            let segment = name[start...]
            guard !segment.isEmpty, !segment.elementsEqual(".".utf8), !segment.elementsEqual("..".utf8) else { return nil }
            guard let slash else { break }
            name.append(UInt8(ascii: "/"))
            rawName = rawName[rawName.index(after: slash)...]
        }
        // Each segment was checked to be valid UTF-8 on its own, so the whole is.
        self.buildID = buildID
        self.name = String(decoding: name, as: UTF8.self)
        query = pathEnd == utf8.endIndex ? [:] : QueryString.parse(utf8[utf8.index(after: pathEnd)...])
    }

    /// Percent-decodes one segment; refuses what could change the path's shape after decoding
    /// (`/`, `\`, NUL, control characters) and invalid UTF-8. A query value may hold `/` (a
    /// path inside a zip): `allowingSlash`.
    static func decodeSegment(_ raw: Substring.UTF8View.SubSequence, allowingSlash: Bool = false) -> String? {
        var bytes: [UInt8] = []
        guard appendDecoded(raw, to: &bytes, allowingSlash: allowingSlash) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the decoded bytes of `raw`; false (with some appended) for a bad escape, a
    /// refused byte or invalid UTF-8.
    private static func appendDecoded(_ raw: Substring.UTF8View.SubSequence, to bytes: inout [UInt8], allowingSlash: Bool) -> Bool {
        let start = bytes.count
        var iterator = raw.makeIterator()
        while var byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(HTTPSyntax.hexValue), let low = iterator.next().flatMap(HTTPSyntax.hexValue) else {
                    return false
                }
                byte = high << 4 | low
            }
            if (byte == UInt8(ascii: "/") && !allowingSlash) || byte == UInt8(ascii: "\\") || byte < 0x20 || byte == 0x7F {
                return false
            }
            bytes.append(byte)
        }
        return String(validating: bytes[start...], as: UTF8.self) != nil
    }
}
