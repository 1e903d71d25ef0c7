import BuildServiceServer
import NIOCore

/// The request line of the original framing, read whole and read in pieces (the first byte of
/// the input picks the piece size): the same line, or too large in both, whatever the split.
enum LegacyLineFuzzing {
    /// Small, so that inputs of libFuzzer's usual lengths cross it (the daemon's is 1 MiB).
    static let limit = 64

    static func run(_ input: [UInt8]) -> String? {
        guard let first = input.first else { return nil }
        let bytes = input.dropFirst()
        let pieceSize = Int(first % 64) + 1
        let whole = read([ByteBuffer(bytes: bytes)])
        let pieces = read(
            stride(from: bytes.startIndex, to: bytes.endIndex, by: pieceSize).map { start in
                ByteBuffer(bytes: bytes[start..<min(start + pieceSize, bytes.endIndex)])
            }
        )
        if whole != pieces { return "one read gives \(whole), reads of \(pieceSize) bytes give \(pieces)" }
        if case .complete(let line) = whole, line.readableBytesView.contains(UInt8(ascii: "\n")) {
            return "the line holds its own end"
        }
        return nil
    }

    /// What the reader says once all `reads` are in (or as soon as it has an answer).
    private static func read(_ reads: [ByteBuffer]) -> LegacyRequestLine.Progress {
        var line = LegacyRequestLine(limit: limit)
        for chunk in reads {
            let progress = line.append(chunk)
            if progress != .incomplete { return progress }
        }
        return .incomplete
    }
}
