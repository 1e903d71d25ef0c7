import BuildServiceCore
import BuildServiceServer

/// A request target as the router sees it: an artifact route names a clean path inside its
/// build (no empty, `.` or `..` segment, nothing that decodes to a separator or a control
/// character), and only paths the router sends to the artifact handler parse as one.
enum ArtifactRouteFuzzing {
    static func run(_ input: [UInt8]) -> String? {
        let uri = String(decoding: input, as: UTF8.self)
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let route = Route(path: path)
        guard let artifact = ArtifactRoute(uri: uri) else { return nil }
        if route != .artifact { return "\(uri) parses as an artifact but routes to \(route)" }
        if !BuildID.isValid(artifact.buildID) { return "\(uri) names the build \"\(artifact.buildID)\"" }
        let segments = artifact.name.split(separator: "/", omittingEmptySubsequences: false)
        if let bad = segments.first(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "\(uri) names \"\(artifact.name)\" with the segment \"\(bad)\""
        }
        if artifact.name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }) {
            return "\(uri) names \"\(artifact.name)\", which holds a control character or a backslash"
        }
        return nil
    }
}
