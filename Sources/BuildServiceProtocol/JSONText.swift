import CBuildServiceJSONScan
public import NIOCore

/// Writes JSON text straight into a ByteBuffer. Event lines are hot (one per output chunk),
/// so they are encoded by hand instead of through a reflective encoder.
public enum JSONText {
    /// Appends `value` as a quoted JSON string. Control characters are escaped, everything else
    /// is copied as UTF-8, so the line can never contain a raw newline.
    public static func writeString(_ value: String, to buffer: inout ByteBuffer) {
        var value = value
        value.withUTF8 { writeString(utf8: $0, to: &buffer) }
    }

    /// Appends already valid UTF-8 bytes as a quoted JSON string.
    public static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, to buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 2)
        buffer.writeInteger(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if runStart < index {
                buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            }
            writeEscape(byte, to: &buffer)
            runStart = index + 1
        }
        if runStart < bytes.count {
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// How many bytes from `offset` on need no escaping (and, with `orNonASCII`, are ASCII).
    @inline(__always)
    static func plainPrefix(_ bytes: UnsafeRawBufferPointer, from offset: Int, orNonASCII: Bool) -> Int {
        guard let base = bytes.baseAddress, offset < bytes.count else { return 0 }
        return bs_json_plain_prefix(
            base.assumingMemoryBound(to: UInt8.self) + offset,
            bytes.count - offset,
            orNonASCII ? 1 : 0
        )
    }

    static func writeEscape(_ byte: UInt8, to buffer: inout ByteBuffer) {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
        case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
        case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
        case 0x08: buffer.writeStaticString("\\b")
        case 0x0C: buffer.writeStaticString("\\f")
        default:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(hex[Int(byte >> 4)])
            buffer.writeInteger(hex[Int(byte & 0x0F)])
        }
    }
}
