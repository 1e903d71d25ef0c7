import Testing

@testable import BuildServiceProtocol

/// Output of a build arrives in arbitrary pipe-sized chunks; the decoder must never break a
/// valid character in two and must turn every invalid byte into U+FFFD.
struct UTF8StreamDecoderTests {
    private static let replacement: Character = "\u{FFFD}"

    /// Feeds each chunk in turn, then finishes the stream, and returns everything emitted.
    private static func decode(_ chunks: [[UInt8]]) -> String {
        var decoder = UTF8StreamDecoder()
        var output = ""
        for chunk in chunks { output += decoder.decode(chunk) }
        return output + decoder.finish()
    }

    @Test(arguments: ["é", "€", "😀", "aé€😀z", "ü€𝄞ñ"])
    func splittingAtEveryPositionKeepsEveryCharacterWhole(text: String) {
        let bytes = Array(text.utf8)
        for cut in 0...bytes.count {
            let output = Self.decode([Array(bytes[..<cut]), Array(bytes[cut...])])
            #expect(output == text, "split at byte \(cut)")
            #expect(!output.contains(Self.replacement), "split at byte \(cut)")
        }
    }

    @Test(arguments: ["é", "€", "😀", "aé€😀z"])
    func oneBytePerChunkKeepsEveryCharacterWhole(text: String) {
        let output = Self.decode(text.utf8.map { [$0] })
        #expect(output == text)
        #expect(!output.contains(Self.replacement))
    }

    @Test func splittingAtEveryPairOfPositionsKeepsEveryCharacterWhole() {
        let text = "x😀€é😀y"
        let bytes = Array(text.utf8)
        for first in 0...bytes.count {
            for second in first...bytes.count {
                let chunks = [Array(bytes[..<first]), Array(bytes[first..<second]), Array(bytes[second...])]
                #expect(Self.decode(chunks) == text, "split at bytes \(first) and \(second)")
            }
        }
    }

    @Test func aCharacterSplitAcrossChunksIsHeldBackUntilItIsComplete() {
        var decoder = UTF8StreamDecoder()
        let euro = Array("€".utf8)
        #expect(decoder.decode([UInt8(ascii: "a")] + euro.prefix(2)) == "a")
        #expect(decoder.decode(euro.suffix(1) + [UInt8(ascii: "b")]) == "€b")
        #expect(decoder.finish() == "")
    }

    @Test(arguments: [[0xFF], [0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80]] as [[UInt8]])
    func invalidBytesBecomeReplacementCharacters(invalid: [UInt8]) {
        let bytes = Array("a".utf8) + invalid + Array("b".utf8)
        let whole = Self.decode([bytes])
        #expect(whole.first == "a")
        #expect(whole.last == "b")
        let middle = whole.dropFirst().dropLast()
        #expect(!middle.isEmpty)
        #expect(middle.allSatisfy { $0 == Self.replacement }, "\(invalid) decoded as \(Array(middle.unicodeScalars))")
        // However the stream is cut, the same text comes out.
        for cut in 0...bytes.count {
            #expect(Self.decode([Array(bytes[..<cut]), Array(bytes[cut...])]) == whole, "split at byte \(cut)")
        }
    }

    @Test(arguments: [[0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3]] as [[UInt8]])
    func anIncompleteCharacterAtEndOfStreamBecomesReplacementOnFinish(tail: [UInt8]) {
        var decoder = UTF8StreamDecoder()
        #expect(decoder.decode(Array("ok".utf8) + tail) == "ok")
        #expect(decoder.finish() == "\u{FFFD}")
        // finish() empties the decoder: the next stream starts clean.
        #expect(decoder.decode(Array("next".utf8)) == "next")
        #expect(decoder.finish() == "")
    }

    @Test(arguments: [[0xE2], [0xE2, 0x82], [0xF0, 0x9F], [0xC3]] as [[UInt8]])
    func aLeadByteFollowedByASCIIDoesNotSwallowTheASCII(lead: [UInt8]) {
        let bytes = lead + Array("AB".utf8)
        #expect(Self.decode([bytes]) == "\u{FFFD}AB")
        for cut in 0...bytes.count {
            #expect(Self.decode([Array(bytes[..<cut]), Array(bytes[cut...])]) == "\u{FFFD}AB", "split at byte \(cut)")
        }
    }

    @Test func aLeadByteThatCannotStartAValidSequenceIsNotHeldBack() {
        var decoder = UTF8StreamDecoder()
        // E0 must be followed by A0...BF: E0 80 can never become a character, so nothing waits.
        let output = decoder.decode([UInt8(ascii: "a"), 0xE0, 0x80])
        #expect(output.hasPrefix("a"))
        #expect(output.dropFirst().allSatisfy { $0 == "\u{FFFD}" })
        #expect(output.count > 1)
        #expect(decoder.finish() == "")
    }
}
