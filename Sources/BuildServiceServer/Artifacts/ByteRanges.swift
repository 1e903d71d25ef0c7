/// `Range: bytes=…` against a file of `size` bytes (RFC 9110 §14): suffix and open ranges,
/// end clamped, several ranges kept unless they add up to more than the file (then the whole
/// file, against CVE-2011-3192), unknown units ignored. Positions are digits only (no sign),
/// any number of them: one past what an `Int` holds is simply larger than any file. Empty
/// list elements are ignored (§5.6.1.2).
package enum ByteRanges {
    package enum Outcome: Equatable {
        /// Send the whole file (no Range, an unknown unit, an empty file, too much overlap).
        case full
        /// 206 with these inclusive ranges.
        case partial([ClosedRange<Int>])
        /// 416 with `Content-Range: bytes */size`.
        case unsatisfiable
    }

    package static let maxRanges = 50

    package static func evaluate(_ header: String?, size: Int) -> Outcome {
        guard let header else { return .full }
        let trimmed = header.trimmingHTTPWhitespace
        guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].trimmingHTTPWhitespace.lowercased() == "bytes" else {
            return .full
        }
        guard size > 0 else { return .full }
        var ranges: [ClosedRange<Int>] = []
        for spec in trimmed[trimmed.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false) {
            let spec = spec.trimmingHTTPWhitespace
            guard !spec.isEmpty else { continue }
            guard let dash = spec.firstIndex(of: "-") else { return .unsatisfiable }
            let first = spec[..<dash]
            let last = spec[spec.index(after: dash)...]
            if first.isEmpty {
                // The last N bytes.
                guard let suffix = Self.position(last) else { return .unsatisfiable }
                guard suffix > 0 else { continue }
                ranges.append((size - min(suffix, size))...(size - 1))
            } else {
                guard let start = Self.position(first) else { return .unsatisfiable }
                let end: Int
                if last.isEmpty {
                    end = size - 1
                } else {
                    // Compared as written: both may be past what an Int holds.
                    guard let parsed = Self.position(last), !Self.digits(last, lessThan: first) else { return .unsatisfiable }
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

    /// Two `1*DIGIT` strings compared as the numbers they write, whatever their length.
    static func digits(_ a: Substring, lessThan b: Substring) -> Bool {
        let (a, b) = (a.drop { $0 == "0" }, b.drop { $0 == "0" })
        return a.utf8.count != b.utf8.count ? a.utf8.count < b.utf8.count : a < b
    }

    /// `1*DIGIT`, saturating at `Int.max` (no file is that large); `nil` for anything else,
    /// a sign or a space included.
    static func position(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAgain) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            value = overflow || overflowAgain ? .max : sum
        }
        return value
    }
}
