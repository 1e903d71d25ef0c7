/// A build's output as a page shows it: what a terminal would act on instead of print is taken
/// out, so colour codes do not show as `^[[31m` and no escape sequence can reach the page.
/// (Escaping for HTML is `HTMLText`'s job, after this.) The build page's script does the same
/// to live output (`PageAssets.buildPageScript`). Works on UTF-8 bytes: every sequence it
/// removes is ASCII, or a C1 control (two bytes, 0xC2 0x80–0x9F), so no character is split.
enum TerminalText {
    static func stripped(_ text: String) -> String {
        var text = text
        return text.withUTF8 { String(decoding: stripped(bytes: $0), as: UTF8.self) }
    }

    /// `bytes` (UTF-8) without ECMA-48 escape sequences (CSI such as colours and cursor moves,
    /// OSC such as window titles and hyperlinks, and two-character escapes), C1 controls,
    /// carriage returns and other C0 controls but tab and newline.
    static func stripped(bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        var runStart = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            let removed: Int
            switch byte {
            case 0x09, 0x0A:
                index += 1
                continue
            case 0x1B:
                removed = escapeLength(bytes, at: index)
            case 0x00...0x1F, 0x7F:
                removed = 1
            case 0xC2 where index + 1 < count && (0x80...0x9F).contains(bytes[index + 1]):
                removed = 2
            default:
                index += 1
                continue
            }
            result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            index += removed
            runStart = index
        }
        result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count]))
        return result
    }

    /// The length of the escape sequence starting with the ESC at `start` (to the end of the
    /// text if it is cut off there).
    private static func escapeLength(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> Int {
        var index = start + 1
        guard index < bytes.count else { return 1 }
        let introducer = bytes[index]
        index += 1
        switch introducer {
        case UInt8(ascii: "["):
            // Parameters and intermediates up to the final byte (0x40–0x7E).
            while index < bytes.count, !(0x40...0x7E).contains(bytes[index]) { index += 1 }
            return min(index + 1, bytes.count) - start
        case UInt8(ascii: "]"), UInt8(ascii: "P"), UInt8(ascii: "X"), UInt8(ascii: "^"), UInt8(ascii: "_"):
            // A string up to BEL or ST (ESC \).
            while index < bytes.count {
                if bytes[index] == 0x07 { return index + 1 - start }
                if bytes[index] == 0x1B {
                    // ESC \ ends it; an ESC before a non-ASCII character goes alone.
                    let ends = index + 1 < bytes.count && bytes[index + 1] < 0x80
                    return min(index + (ends ? 2 : 1), bytes.count) - start
                }
                index += 1
            }
            return bytes.count - start
        case 0x20...0x2F:
            // Intermediates, then a final byte: ESC ( B.
            while index < bytes.count, (0x20...0x2F).contains(bytes[index]) { index += 1 }
            return min(index + 1, bytes.count) - start
        case 0x80...:
            return 1  // ESC before a non-ASCII character: the ESC goes, the character stays
        default:
            return 2  // ESC and one character: ESC 7, ESC =, ESC c
        }
    }
}
