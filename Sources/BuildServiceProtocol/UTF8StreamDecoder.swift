public import NIOCore

/// Turns a byte stream that arrives in arbitrary chunks into valid UTF-8 text, lossily:
/// invalid bytes become U+FFFD, but a valid multi-byte character split across two chunks is
/// held back and emitted whole with the next chunk.
public struct UTF8StreamDecoder: Sendable {
    /// The bytes of a character that the last chunk ended in the middle of (at most 3).
    private var pending: [UInt8] = []

    public init() {}

    /// Decodes `chunk` after whatever was held back; keeps back an incomplete trailing character.
    public mutating func decode(_ chunk: some Collection<UInt8>) -> String {
        var bytes = pending
        bytes.append(contentsOf: chunk)
        let cut = Self.completePrefixLength(bytes)
        pending = Array(bytes[cut...])
        return String(decoding: bytes[..<cut], as: UTF8.self)
    }

    /// Appends the text of `chunk` (after what was held back) as a quoted JSON string, decoding
    /// and escaping in one pass; keeps back an incomplete trailing character.
    /// - Returns: false, having written nothing, when there was no complete text yet.
    public mutating func writeJSONString(_ chunk: ByteBuffer, to buffer: inout ByteBuffer) -> Bool {
        if pending.isEmpty {
            return chunk.withUnsafeReadableBytes { bytes in
                writeCompletePrefix(of: bytes, to: &buffer)
            }
        }
        // A character straddled the previous chunk: rare, so the copy is fine.
        var joined = pending
        joined.append(contentsOf: chunk.readableBytesView)
        return joined.withUnsafeBytes { bytes in
            writeCompletePrefix(of: bytes, to: &buffer)
        }
    }

    private mutating func writeCompletePrefix(of bytes: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) -> Bool {
        let cut = Self.completePrefixLength(bytes)
        pending = Array(bytes[cut...])
        guard cut > 0 else { return false }
        JSONText.writeLossyUTF8String(UnsafeRawBufferPointer(rebasing: bytes[..<cut]), to: &buffer)
        return true
    }

    /// Decodes what is still held back at end of stream (an incomplete character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// How many leading bytes can be decoded now: everything except a trailing sequence that is
    /// a valid but incomplete start of a multi-byte character.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { completePrefixLength($0) }
    }

    static func completePrefixLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        // A character is at most 4 bytes, so only the last 3 can be an incomplete start.
        var back = 1
        while back <= min(3, count) {
            let byte = bytes[count - back]
            if byte & 0xC0 != 0x80 {
                // Found the lead byte of the last sequence (or an ASCII / invalid byte).
                let needed = sequenceLength(lead: byte)
                guard needed > back else { return count }
                // Only hold back what could still become a valid character.
                return isValidPrefix(bytes[(count - back)...]) ? count - back : count
            }
            back += 1
        }
        return count
    }

    private static func sequenceLength(lead: UInt8) -> Int {
        switch lead {
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 1
        }
    }

    /// Whether the bytes are a prefix of some well-formed UTF-8 sequence (Unicode Table 3-7).
    private static func isValidPrefix(_ bytes: Slice<UnsafeRawBufferPointer>) -> Bool {
        let lead = bytes[bytes.startIndex]
        guard bytes.count > 1 else { return true }
        let second = bytes[bytes.startIndex + 1]
        let secondRange: ClosedRange<UInt8> =
            switch lead {
            case 0xE0: 0xA0...0xBF
            case 0xED: 0x80...0x9F
            case 0xF0: 0x90...0xBF
            case 0xF4: 0x80...0x8F
            default: 0x80...0xBF
            }
        guard secondRange.contains(second) else { return false }
        return bytes.dropFirst(2).allSatisfy { $0 & 0xC0 == 0x80 }
    }
}
