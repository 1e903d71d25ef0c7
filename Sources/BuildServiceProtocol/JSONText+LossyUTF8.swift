public import NIOCore

extension JSONText {
    /// Appends `bytes` as a quoted JSON string, decoding them as UTF-8 lossily in the same pass:
    /// each maximal invalid subpart becomes U+FFFD (as `String(decoding:as:)` does), control
    /// characters, quotes and backslashes are escaped, everything else is copied as it is.
    /// This is the hot path of every output event: one pass, no intermediate String.
    public static func writeLossyUTF8String(_ bytes: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: bytes.count + 2)
        buffer.writeInteger(UInt8(ascii: "\""))
        // Plain runs are copied whole; no nested functions here, so nothing is boxed or
        // checked for exclusive access in this loop.
        var runStart = 0
        var index = 0
        let count = bytes.count
        while index < count {
            // Plain ASCII runs, skipped sixteen bytes at a time: the common case of build output.
            index += plainPrefix(bytes, from: index, orNonASCII: true)
            guard index < count else { break }
            let byte = bytes[index]
            if byte >= 0x20 && byte < 0x80 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            var skip = 1
            if byte >= 0x80 {
                let sequence = validSequenceLength(bytes, at: index)
                if sequence.isComplete {
                    index += sequence.length
                    continue
                }
                skip = sequence.length
            }
            if runStart < index {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
            }
            if byte < 0x80 {
                writeEscape(byte, to: &buffer)
            } else {
                buffer.writeBytes(replacementCharacter)
            }
            index += skip
            runStart = index
        }
        if runStart < count {
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<count]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// U+FFFD in UTF-8.
    private static let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// How many bytes at `start` form a well-formed UTF-8 sequence (Unicode Table 3-7), or, when
    /// they do not, the length of the maximal subpart to replace with one U+FFFD (at least 1).
    private static func validSequenceLength(_ bytes: UnsafeRawBufferPointer, at start: Int) -> (length: Int, isComplete: Bool) {
        let lead = bytes[start]
        let needed: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0: needed = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: needed = 3
        case 0xED: needed = 3; secondRange = 0x80...0x9F
        case 0xF0: needed = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: needed = 4
        case 0xF4: needed = 4; secondRange = 0x80...0x8F
        default: return (1, false)
        }
        var length = 1
        while length < needed {
            guard start + length < bytes.count else { return (length, false) }
            let next = bytes[start + length]
            let range = length == 1 ? secondRange : 0x80...0xBF
            guard range.contains(next) else { return (length, false) }
            length += 1
        }
        return (needed, true)
    }
}
