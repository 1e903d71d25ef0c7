import NIOCore

/// The original framing's request: the bytes up to the first `\n`, however the reads split
/// them. Each read's bytes are searched once: searching everything buffered again on every
/// read made a line trickled in small writes cost the square of its length.
struct LegacyRequestLine {
    enum Progress: Equatable {
        case incomplete
        /// The line, without its `\n` (bytes after it are not part of the request).
        case complete(ByteBuffer)
        /// Over `limit` bytes and no end in sight.
        case tooLarge
    }

    let limit: Int
    /// What has arrived so far; it holds no `\n`.
    private(set) var buffered: ByteBuffer?

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ chunk: ByteBuffer) -> Progress {
        let newline = chunk.readableBytesView.firstIndex(of: UInt8(ascii: "\n"))
        guard var line = buffered else {
            // The usual case, the whole line in one read: no copy.
            if let newline { return .complete(chunk.getSlice(at: chunk.readerIndex, length: newline - chunk.readerIndex)!) }
            buffered = chunk
            return chunk.readableBytes > limit ? .tooLarge : .incomplete
        }
        buffered = nil
        var chunk = chunk
        if let newline {
            var head = chunk.readSlice(length: newline - chunk.readerIndex)!
            line.writeBuffer(&head)
            return .complete(line)
        }
        line.writeBuffer(&chunk)
        buffered = line
        return line.readableBytes > limit ? .tooLarge : .incomplete
    }
}
