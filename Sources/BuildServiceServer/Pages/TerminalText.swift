/// A build's output as a page shows it: what a terminal would act on instead of print is taken
/// out, so colour codes do not show as `^[[31m` and no escape sequence can reach the page.
/// (Escaping for HTML is `HTMLText`'s job, after this.) The build page's script does the same
/// to live output (`PageAssets.script`).
enum TerminalText {
    /// `text` without ECMA-48 escape sequences (CSI such as colours and cursor moves, OSC such as
    /// window titles and hyperlinks, and two-character escapes), C1 controls, carriage returns
    /// and other C0 controls but tab and newline.
    static func stripped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar.value {
            case 0x1B:
                skipEscape(after: &scalars)
            case 0x09, 0x0A:
                result.unicodeScalars.append(scalar)
            case 0x00...0x1F, 0x7F...0x9F:
                continue
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Consumes the rest of an escape sequence whose ESC has been read.
    private static func skipEscape(after scalars: inout String.UnicodeScalarView.Iterator) {
        guard let introducer = scalars.next() else { return }
        switch introducer {
        case "[":
            // Parameters and intermediates up to the final byte (0x40–0x7E).
            while let next = scalars.next(), !(0x40...0x7E).contains(next.value) {}
        case "]", "P", "X", "^", "_":
            // A string up to BEL or ST (ESC \).
            while let next = scalars.next() {
                if next.value == 0x07 { return }
                if next.value == 0x1B {
                    _ = scalars.next()
                    return
                }
            }
        case "\u{20}"..."\u{2F}":
            // Intermediates, then a final byte: ESC ( B.
            while let next = scalars.next(), (0x20...0x2F).contains(next.value) {}
        default:
            return  // ESC and one character: ESC 7, ESC =, ESC c
        }
    }
}
