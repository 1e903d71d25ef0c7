import NIOCore

/// Cuts a byte stream into `\n`-terminated lines, whatever the chunk boundaries.
struct LineSplitter {
    /// A line longer than this means the peer is not speaking NDJSON (or is hostile).
    static let maxLineBytes = 64 * 1024 * 1024
    private var pending = ByteBuffer()
    /// How far into `pending` is known to hold no newline, so a long line is scanned once.
    private var scanned = 0

    /// Appends `chunk` and returns every line it completed (without the `\n`).
    mutating func append(_ chunk: inout ByteBuffer) throws(ClientError) -> [ByteBuffer] {
        pending.writeBuffer(&chunk)
        var lines: [ByteBuffer] = []
        while let newline = pending.readableBytesView.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            lines.append(pending.readSlice(length: length)!)
            pending.moveReaderIndex(forwardBy: 1)
            scanned = 0
        }
        scanned = pending.readableBytes
        if pending.readableBytes > Self.maxLineBytes {
            throw ClientError.protocolViolation("an event line is longer than \(Self.maxLineBytes) bytes")
        }
        pending.discardReadBytes()
        return lines
    }

    /// Bytes after the last newline (a final line without `\n`).
    var remainder: ByteBuffer? { pending.readableBytes > 0 ? pending : nil }
}
