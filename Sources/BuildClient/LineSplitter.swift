import FoundationEssentials
import Glibc
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
        while let offset = Self.newlineOffset(in: pending, from: scanned) {
            lines.append(pending.readSlice(length: offset)!)
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

    /// Offset of the first `\n` at or after `start` among the readable bytes (memchr, since lines
    /// of output can be hundreds of KiB).
    private static func newlineOffset(in buffer: ByteBuffer, from start: Int) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            guard start < bytes.count, let base = bytes.baseAddress,
                let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
    }

    /// Bytes after the last newline (a final line without `\n`).
    var remainder: ByteBuffer? { pending.readableBytes > 0 ? pending : nil }
}
