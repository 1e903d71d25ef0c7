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
}
