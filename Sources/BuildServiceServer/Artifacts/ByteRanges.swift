/// `Range: bytes=…` against a file of `size` bytes, as nginx answers it (RFC 9110 §14):
/// suffix and open ranges, end clamped, several ranges kept unless they add up to more than
/// the file (then the whole file, against CVE-2011-3192), unknown units ignored.
enum ByteRanges {
    enum Outcome: Equatable {
        /// Send the whole file (no Range, an unknown unit, an empty file, too much overlap).
        case full
        /// 206 with these inclusive ranges.
        case partial([ClosedRange<Int>])
        /// 416 with `Content-Range: bytes */size`.
        case unsatisfiable
    }

    static let maxRanges = 50

    static func evaluate(_ header: String?, size: Int) -> Outcome {
        guard let header else { return .full }
        let trimmed = header.trimmingHTTPWhitespace
        guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].trimmingHTTPWhitespace.lowercased() == "bytes" else {
            return .full
        }
        guard size > 0 else { return .full }
        var ranges: [ClosedRange<Int>] = []
        for spec in trimmed[trimmed.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false) {
            let spec = spec.trimmingHTTPWhitespace
            guard let dash = spec.firstIndex(of: "-") else { return .unsatisfiable }
            let first = spec[..<dash]
            let last = spec[spec.index(after: dash)...]
            if first.isEmpty {
                // The last N bytes.
                guard let suffix = Int(last), suffix >= 0 else { return .unsatisfiable }
                guard suffix > 0 else { continue }
                ranges.append(max(0, size - suffix)...(size - 1))
            } else {
                guard let start = Int(first), start >= 0 else { return .unsatisfiable }
                let end: Int
                if last.isEmpty {
                    end = size - 1
                } else {
                    guard let parsed = Int(last), parsed >= start else { return .unsatisfiable }
                    end = min(parsed, size - 1)
                }
                guard start < size else { continue }
                ranges.append(start...end)
            }
        }
        guard !ranges.isEmpty else { return .unsatisfiable }
        // Thousands of tiny ranges cost a read and a write each: past a few dozen, send the file.
        if ranges.count > maxRanges { return .full }
        if ranges.count > 1, ranges.reduce(0, { $0 + $1.count }) > size { return .full }
        return .partial(ranges)
    }
}
