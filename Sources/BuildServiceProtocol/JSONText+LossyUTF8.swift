import CBuildServiceJSONScan
public import NIOCore

extension JSONText {
    /// Appends `bytes` as a quoted JSON string, decoding them as UTF-8 lossily in the same pass:
    /// each maximal invalid subpart becomes U+FFFD (as `String(decoding:as:)` does), control
    /// characters, quotes and backslashes are escaped, everything else is copied as it is.
    /// This is the hot path of every output event: one pass in C straight into the buffer's
    /// memory (build logs have a newline to escape every few dozen bytes, and a call into
    /// ByteBuffer per line cost more than the copying).
    public static func writeLossyUTF8String(_ bytes: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) {
        // Room for the usual case (a few escapes): the buffer grows only for unusual output.
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + bytes.count / 8 + 16)
        buffer.writeInteger(UInt8(ascii: "\""))
        guard let source = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            buffer.writeInteger(UInt8(ascii: "\""))
            return
        }
        var offset = 0
        while offset < bytes.count {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 64) { out in
                var consumed = 0
                let written = bs_json_escape_lossy(
                    source + offset,
                    bytes.count - offset,
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    out.count,
                    &consumed
                )
                offset += consumed
                return written
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
