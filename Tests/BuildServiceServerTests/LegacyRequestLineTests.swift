import NIOCore
import Testing

@testable import BuildServiceServer

/// The legacy request line however its bytes are split, in buffers whose readable bytes do not
/// start at index 0 (as buffers handed on by TLS or a decoder often do).
@Suite struct LegacyRequestLineTests {
    /// `text` as a buffer whose reader index is past some bytes already read.
    private func buffer(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer(string: "already read|" + text)
        buffer.moveReaderIndex(forwardBy: "already read|".utf8.count)
        return buffer
    }

    @Test(arguments: [1, 2, 5, 17, 1000])
    func aLineSplitIntoPiecesIsExactlyWhatCameBeforeTheNewline(piece: Int) {
        let request = #"{"command":"make","args":["all"]}"#
        let wire = Array(request + "\ntrailing bytes")
        var line = LegacyRequestLine(limit: 1 << 20)
        var result: LegacyRequestLine.Progress = .incomplete
        for start in stride(from: 0, to: wire.count, by: piece) where result == .incomplete {
            result = line.append(buffer(String(wire[start..<min(start + piece, wire.count)])))
        }
        #expect(result == .complete(ByteBuffer(string: request)))
    }

    @Test func anEmptyLineIsComplete() {
        var line = LegacyRequestLine(limit: 100)
        #expect(line.append(buffer("\n{}")) == .complete(ByteBuffer()))
    }

    @Test func moreThanTheLimitWithoutANewlineIsTooLarge() {
        var line = LegacyRequestLine(limit: 10)
        #expect(line.append(buffer("0123456789")) == .incomplete)
        #expect(line.append(buffer("a")) == .tooLarge)
        var whole = LegacyRequestLine(limit: 10)
        #expect(whole.append(buffer("0123456789ab")) == .tooLarge)
    }

    /// A line over the limit is too large however the reads split it, its end included (one
    /// read used to take it whole: found by the legacy-line fuzz target's oracle).
    @Test func moreThanTheLimitWithItsNewlineIsTooLargeInAnySplit() {
        var whole = LegacyRequestLine(limit: 10)
        #expect(whole.append(buffer("0123456789ab\n")) == .tooLarge)
        var split = LegacyRequestLine(limit: 10)
        #expect(split.append(buffer("01234")) == .incomplete)
        #expect(split.append(buffer("56789ab\n")) == .tooLarge)
        var exact = LegacyRequestLine(limit: 10)
        #expect(exact.append(buffer("01234")) == .incomplete)
        #expect(exact.append(buffer("56789\n")) == .complete(buffer("0123456789")))
    }

    /// Without a newline (the client half-closed), what came so far is the request.
    @Test func whatCameSoFarIsKept() {
        var line = LegacyRequestLine(limit: 100)
        _ = line.append(buffer("{\"comm"))
        _ = line.append(buffer("and\":1}"))
        #expect(line.buffered == ByteBuffer(string: "{\"command\":1}"))
    }
}
