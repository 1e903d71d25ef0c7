package import BuildServiceServer
import Foundation

/// `Range` against files of 1, 7 and 1000 bytes: every range inside the file and in order of
/// its ends; where the header is in the grammar's alphabet (digits, `-`, `,`, spaces, a few
/// strays), the answer the RFC 9110 model gives.
enum ByteRangesFuzzing {
    static func run(_ input: [UInt8]) -> String? {
        let header = String(decoding: input, as: UTF8.self)
        for size in [1, 7, 1000] {
            let outcome = ByteRanges.evaluate(header, size: size)
            if case .partial(let ranges) = outcome {
                if ranges.isEmpty || ranges.count > ByteRanges.maxRanges { return "\(ranges.count) ranges for \(header)" }
                if let bad = ranges.first(where: { $0.lowerBound < 0 || $0.upperBound >= size }) {
                    return "range \(bad) outside a file of \(size) bytes for \(header)"
                }
            }
            if ByteRangesModel.covers(header), outcome != ByteRangesModel.outcome(header, size: size) {
                return "\(outcome) but the model says \(ByteRangesModel.outcome(header, size: size)) for \(header) of \(size)"
            }
        }
        return nil
    }
}

/// RFC 9110 §14.1.1 read literally: `int-range = first-pos "-" [ last-pos ]`, `suffix-range =
/// "-" suffix-length`, positions `1*DIGIT`; empty elements ignored. Positions are exact
/// decimal numbers, compared as text, not saturated integers.
package enum ByteRangesModel {
    /// Headers the model is written for: `bytes=` and then digits, `-`, `,`, space, `+` and
    /// `a`, with no position longer than 30 digits.
    package static func covers(_ header: String) -> Bool {
        guard header.hasPrefix("bytes=") else { return false }
        let rest = header.dropFirst("bytes=".count)
        guard rest.allSatisfy({ "0123456789-, +a".contains($0) }) else { return false }
        return rest.split(whereSeparator: { !$0.isNumber }).allSatisfy { $0.count <= 30 }
    }

    package static func outcome(_ header: String, size: Int) -> ByteRanges.Outcome {
        let specs = header.dropFirst("bytes=".count).split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        func isDigits(_ text: Substring) -> Bool { !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber } }
        func value(_ digits: Substring) -> Decimal { Decimal(string: String(digits))! }
        let length = Decimal(size)
        func int(_ value: Decimal) -> Int { NSDecimalNumber(decimal: value).intValue }
        var ranges: [ClosedRange<Int>] = []
        for spec in specs {
            let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return .unsatisfiable }
            let (first, last) = (parts[0], parts[1])
            if first.isEmpty {
                guard isDigits(last) else { return .unsatisfiable }
                let suffix = min(value(last), length)
                if suffix > 0 { ranges.append(int(length - suffix)...(size - 1)) }
            } else {
                guard isDigits(first), last.isEmpty || isDigits(last) else { return .unsatisfiable }
                let start = value(first)
                if !last.isEmpty, value(last) < start { return .unsatisfiable }
                let end = last.isEmpty ? length - 1 : min(value(last), length - 1)
                if start < length { ranges.append(int(start)...int(end)) }
            }
        }
        if ranges.isEmpty { return .unsatisfiable }
        if ranges.count > ByteRanges.maxRanges || (ranges.count > 1 && ranges.map(\.count).reduce(0, +) > size) { return .full }
        return .partial(ranges)
    }
}
