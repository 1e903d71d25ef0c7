import BuildServiceFuzzing
import Foundation
import Testing

@testable import BuildServiceServer

/// `Range` headers against a 1000-byte file, as RFC 9110 §14 and nginx answer them.
@Suite struct ByteRangesTests {
    @Test(arguments: [
        (nil as String?, ByteRanges.Outcome.full),
        ("bytes=0-99", .partial([0...99])),
        ("bytes=900-", .partial([900...999])),
        ("bytes=-100", .partial([900...999])),
        ("bytes=-5000", .partial([0...999])),
        ("bytes=990-5000", .partial([990...999])),
        ("bytes=0-0,-1", .partial([0...0, 999...999])),
        ("BYTES = 1-2", .partial([1...2])),
        ("bytes=1000-", .unsatisfiable),
        ("bytes=5-1", .unsatisfiable),
        ("bytes=abc", .unsatisfiable),
        ("bytes=-0", .unsatisfiable),
        ("items=0-1", .full),
        ("bytes=0-999,0-999", .full),
        // RFC 9110 §5.6.1.2: empty list elements are ignored.
        ("bytes=0-1,,3-4", .partial([0...1, 3...4])),
        ("bytes=0-4,", .partial([0...4])),
        ("bytes=, 5-6", .partial([5...6])),
        ("bytes=,", .unsatisfiable),
        // Positions past what an Int holds are past any file: clamped, not refused.
        ("bytes=0-99999999999999999999", .partial([0...999])),
        ("bytes=-99999999999999999999", .partial([0...999])),
        ("bytes=99999999999999999999-", .unsatisfiable),
        // Reversed is reversed, however large: as bytes=5-3.
        ("bytes=99999999999999999999-99999999999999999998,0-1", .unsatisfiable),
        ("bytes=00007-0000000000000000000000000000012", .partial([7...12])),
        // Digits only.
        ("bytes=+1-3", .unsatisfiable),
        ("bytes=1-+3", .unsatisfiable),
        ("bytes=-+3", .unsatisfiable),
        ("bytes=1 -3", .unsatisfiable),
        ("bytes=-", .unsatisfiable),
    ])
    func rangesOfAThousandByteFile(header: String?, outcome: ByteRanges.Outcome) {
        #expect(ByteRanges.evaluate(header, size: 1000) == outcome)
    }

    @Test func manyTinyRangesGetTheWholeFile() {
        let header = "bytes=" + (0...ByteRanges.maxRanges).map { "\($0 * 2)-\($0 * 2)" }.joined(separator: ",")
        #expect(ByteRanges.evaluate(header, size: 1000) == .full)
    }

    @Test func anEmptyFileIsSentWhole() {
        #expect(ByteRanges.evaluate("bytes=0-10", size: 0) == .full)
    }

    /// Random headers, odd ones included (signs, spaces, letters, empty elements, positions
    /// of up to 25 digits), against a model written from the RFC's grammar with text
    /// matching instead of arithmetic.
    @Test func randomHeadersAgreeWithAReferenceModel() {
        var random = SplitMix(seed: 0x5eed)
        for _ in 0..<5000 {
            let header = "bytes=" + (0..<random.below(4) + 1).map { _ in Self.randomSpec(&random) }.joined(separator: ",")
            for size in [1, 7, 1000] {
                #expect(ByteRanges.evaluate(header, size: size) == ByteRangesModel.outcome(header, size: size), "\(header) of \(size)")
            }
        }
    }

    static func randomSpec(_ random: inout SplitMix) -> String {
        func number() -> String {
            switch random.below(6) {
            case 0: return ""
            case 1: return String(repeating: "9", count: 19 + random.below(7)) + String(random.below(10))
            case 2: return ["+1", "-1", "1a", " 2", "0x1"][random.below(5)]
            default: return String(random.below(1200))
            }
        }
        switch random.below(8) {
        case 0: return ""
        case 1: return "-" + number()
        case 2: return number()
        default: return number() + "-" + number()
        }
    }
}

/// A small seeded generator, so that a failing header can be reproduced.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
