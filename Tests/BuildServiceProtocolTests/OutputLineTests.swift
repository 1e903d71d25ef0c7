import Foundation
import NIOCore
import Testing

@testable import BuildServiceProtocol

/// The output fast path: what `OutputLine.write` produces, `OutputLine.parse` reads back to the
/// same bytes a general JSON parser would, and anything else is left to the general parser.
struct OutputLineTests {
    private func written(_ bytes: [UInt8], pipe: OutputPipe = .stdout) -> ByteBuffer {
        var decoder = UTF8StreamDecoder()
        var line = ByteBuffer()
        OutputLine.write(pipe, chunk: ByteBuffer(bytes: bytes), decoder: &decoder, to: &line)
        OutputLine.writeRemainder(pipe, decoder: &decoder, to: &line)
        return line
    }

    static let samples: [[UInt8]] = [
        Array("plain ascii line\n".utf8),
        Array("tabs\tquotes\" backslashes\\ slashes/ and \u{1} \u{1f} \u{7f}\r\n".utf8),
        Array("héllo ✓ 😀 \u{2028}".utf8),
        [0x61, 0xFF, 0x62, 0xC3, 0x28, 0xED, 0xA0, 0x80, 0x63],
        Array(repeating: UInt8(ascii: "x"), count: 70_000) + [0x0A],
        (0..<256).map { UInt8($0) },
    ]

    /// The escaper against the standard library's lossy decoding and a general JSON parser, on
    /// many random byte strings weighted towards UTF-8 lead, continuation and control bytes,
    /// some of them long runs of bytes that grow six-fold (so the line outgrows its buffer).
    @Test func randomBytesComeBackAsTheStandardLibrarysLossyText() throws {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let interesting: [UInt8] = [
            0x00, 0x01, 0x08, 0x0A, 0x0C, 0x1F, 0x22, 0x5C, 0x7F, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
        ]
        for round in 0..<2000 {
            let length = Int(next() % (round % 50 == 0 ? 5000 : 200))
            let bytes: [UInt8] = (0..<length).map { _ in
                let roll = next()
                return roll % 3 == 0 ? interesting[Int(roll / 3 % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: roll >> 8)
            }
            #expect(try Self.data(of: written(bytes)) == String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
        let controls = [UInt8](repeating: 0x01, count: 100_000)
        #expect(try Self.data(of: written(controls)) == String(decoding: controls, as: UTF8.self))
    }

    /// The text of the events in `lines` (a chunk's event, and one for an incomplete
    /// character left at the end), each line read by a general JSON parser.
    private static func data(of lines: ByteBuffer) throws -> String {
        try String(buffer: lines).split(separator: "\n").map { line in
            let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            return json?["data"] ?? "<not an event: \(line)>"
        }.joined()
    }

    @Test(arguments: samples)
    func writtenLineIsOneJSONLineAndParsesBackToTheLossyText(bytes: [UInt8]) throws {
        let line = written(bytes)
        let text = String(buffer: line)
        #expect(text.hasSuffix("\n"))
        #expect(text.dropLast().contains("\n") == false)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(json["type"] == "stdout")
        #expect(json["data"] == String(decoding: bytes, as: UTF8.self))

        var body = line
        body.moveWriterIndex(to: line.writerIndex - 1)  // without the newline, as the client splits it
        let parsed = try #require(OutputLine.parse(body.readableBytesView))
        #expect(parsed.0 == .stdout)
        #expect(parsed.1 == Array(String(decoding: bytes, as: UTF8.self).utf8))
    }

    @Test func stderrLinesAreRecognised() throws {
        var line = written(Array("warning\n".utf8), pipe: .stderr)
        line.moveWriterIndex(to: line.writerIndex - 1)
        let parsed = try #require(OutputLine.parse(line.readableBytesView))
        #expect(parsed.0 == .stderr)
        #expect(parsed.1 == Array("warning\n".utf8))
    }

    @Test(arguments: [
        #"{"data":"x","type":"stdout"}"#,  // another key order: the general parser's job
        #"{"type":"stdout","data":"x","extra":1}"#,
        #"{"type":"stdout","data":"a"b"}"#,  // unescaped quote
        #"{"type":"stdout","data":"bad \q escape"}"#,
        #"{"type":"stdout","data":"lone \udc00 surrogate"}"#,
        #"{"type":"exit","code":0}"#,
    ])
    func anythingElseIsLeftToTheGeneralParser(line: String) {
        #expect(OutputLine.parse(ByteBuffer(string: line).readableBytesView) == nil)
    }

    @Test func escapedUnicodeAndSurrogatePairsAreDecoded() throws {
        let line = ByteBuffer(string: #"{"type":"stdout","data":"\u00e9\ud83d\ude00\n"}"#)
        let parsed = try #require(OutputLine.parse(line.readableBytesView))
        #expect(parsed.1 == Array("é😀\n".utf8))
    }

    @Test func aChunkEndingInsideACharacterWritesNothingUntilItCompletes() {
        var decoder = UTF8StreamDecoder()
        var line = ByteBuffer()
        OutputLine.write(.stdout, chunk: ByteBuffer(bytes: [0xE2, 0x9C]), decoder: &decoder, to: &line)
        #expect(line.readableBytes == 0)
        OutputLine.write(.stdout, chunk: ByteBuffer(bytes: [0x93]), decoder: &decoder, to: &line)
        #expect(String(buffer: line) == "{\"type\":\"stdout\",\"data\":\"✓\"}\n")
    }
}
