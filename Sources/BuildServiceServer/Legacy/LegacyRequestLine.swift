package import NIOCore

/// The original framing's request: the bytes up to the first `\n`, however the reads split
/// them. Each read's bytes are searched once: searching everything buffered again on every
/// read made a line trickled in small writes cost the square of its length.
package struct LegacyRequestLine {
    package enum Progress: Equatable {
        case incomplete
        /// The line, without its `\n` (bytes after it are not part of the request).
        case complete(ByteBuffer)
        /// Over `limit` bytes, ended or not.
        case tooLarge
    }

    package let limit: Int
    /// What has arrived so far; it holds no `\n`.
    package private(set) var buffered: ByteBuffer?

    package init(limit: Int) {
        self.limit = limit
    }

    package mutating func append(_ chunk: ByteBuffer) -> Progress {
        let newline = chunk.readableBytesView.firstIndex(of: UInt8(ascii: "\n"))
        guard var line = buffered else {
            // The usual case, the whole line in one read: no copy.
            if let newline {
                let length = newline - chunk.readerIndex
                return length > limit ? .tooLarge : .complete(chunk.getSlice(at: chunk.readerIndex, length: length)!)
            }
            buffered = chunk
            return chunk.readableBytes > limit ? .tooLarge : .incomplete
        }
        buffered = nil
        var chunk = chunk
        if let newline {
            // Over the limit however the reads split it (the legacy-line fuzz target's oracle:
            // a long line in one read was taken whole, the same line in small reads refused).
            guard line.readableBytes + newline - chunk.readerIndex <= limit else { return .tooLarge }
            var head = chunk.readSlice(length: newline - chunk.readerIndex)!
            line.writeBuffer(&head)
            return .complete(line)
        }
        line.writeBuffer(&chunk)
        buffered = line
        return line.readableBytes > limit ? .tooLarge : .incomplete
    }
}
