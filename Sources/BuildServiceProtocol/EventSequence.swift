public import NIOCore

/// Sequence numbers on event lines. The daemon numbers a build's events 1, 2, 3… and writes
/// the number as the line's last field (`…,"seq":7}`), so that it can be stamped onto a line
/// already encoded and read back from the end of a line without parsing the rest. Clients of
/// the original implementation ignore the field.
public enum EventSequence {
    private static let suffixStart = Array(#","seq":"#.utf8)

    /// Rewrites `line` (one event ending in `}\n`) to end in `,"seq":N}\n`.
    public static func stamp(_ line: inout ByteBuffer, seq: Int) {
        precondition(line.readableBytes >= 3, "an event line ends in }\\n")
        line.moveWriterIndex(to: line.writerIndex - 2)
        line.writeBytes(suffixStart)
        line.writeString(String(seq))
        line.writeStaticString("}\n")
    }

    /// The line's `seq` and the length of the line without that field (ending where the
    /// field's comma was), or nil when the line does not end in a `seq` field. A trailing
    /// newline is allowed.
    public static func split(_ line: ByteBufferView) -> (seq: Int, bodyEnd: Int)? {
        line.withContiguousStorageIfAvailable { bytes in split(UnsafeRawBufferPointer(bytes)) } ?? split(Array(line))
    }

    private static func split(_ bytes: some RandomAccessCollection<UInt8>) -> (seq: Int, bodyEnd: Int)? {
        var end = bytes.count
        let base = bytes.startIndex
        func byte(_ offset: Int) -> UInt8 { bytes[bytes.index(base, offsetBy: offset)] }
        if end > 0, byte(end - 1) == UInt8(ascii: "\n") { end -= 1 }
        guard end > 0, byte(end - 1) == UInt8(ascii: "}") else { return nil }
        var index = end - 1
        var value = 0
        var scale = 1
        while index > 0, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte(index - 1)) {
            index -= 1
            guard scale <= 1_000_000_000_000 else { return nil }
            value += Int(byte(index) - UInt8(ascii: "0")) * scale
            scale *= 10
        }
        guard scale > 1, index >= suffixStart.count else { return nil }
        let start = index - suffixStart.count
        for (offset, expected) in suffixStart.enumerated() where byte(start + offset) != expected { return nil }
        return (value, start)
    }
}
