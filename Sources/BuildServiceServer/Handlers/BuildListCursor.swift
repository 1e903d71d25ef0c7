import BuildServiceCore
import Foundation

/// Where a page of `GET /v1/builds` ended: the last build it listed, by its submission time (in
/// microseconds) and id, the order of the list (newest first). Given back as `cursor`, it
/// starts the next page after that build, even when that build has expired meanwhile. Opaque
/// to clients: `<microseconds>_<id>`.
struct BuildListCursor: Comparable {
    let submittedMicros: Int64
    let id: String

    init(_ record: BuildRecord) {
        submittedMicros = Int64((record.submittedAt.timeIntervalSince1970 * 1_000_000).rounded())
        id = record.id
    }

    init?(_ text: String) {
        let parts = text.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].utf8.count <= 19, parts[0].utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let micros = Int64(parts[0]), BuildID.isValid(String(parts[1]))
        else { return nil }
        submittedMicros = micros
        id = String(parts[1])
    }

    var text: String { "\(submittedMicros)_\(id)" }

    /// Older builds sort first; the list walks from the greatest down.
    static func < (lhs: BuildListCursor, rhs: BuildListCursor) -> Bool {
        (lhs.submittedMicros, lhs.id) < (rhs.submittedMicros, rhs.id)
    }
}
