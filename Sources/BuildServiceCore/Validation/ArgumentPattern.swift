/// An anchored glob for whole arguments, as the config writes them in `args = [...]` and
/// `allowed_targets = [...]`: `*` matches any run of characters (`/` included), `?` exactly
/// one, `\` makes the next character literal; everything else matches itself. There are no
/// character classes: a pattern says what it allows in plain sight.
public struct ArgumentPattern: Sendable, Equatable, CustomStringConvertible {
    private enum Element: Equatable, Sendable {
        case literal(UInt8)
        case anyOne
        case anyRun
    }

    public let description: String
    private let elements: [Element]

    /// - Throws: `ConfigError`-ready text when the pattern ends in a lone `\`.
    public init(_ text: String) throws(PatternError) {
        var elements: [Element] = []
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            switch byte {
            case UInt8(ascii: "*"): if elements.last != .anyRun { elements.append(.anyRun) }
            case UInt8(ascii: "?"): elements.append(.anyOne)
            case UInt8(ascii: "\\"):
                guard let escaped = bytes.next() else { throw PatternError(message: "ends in a lone \\") }
                elements.append(.literal(escaped))
            default: elements.append(.literal(byte))
            }
        }
        self.description = text
        self.elements = elements
    }

    public struct PatternError: Error, Sendable {
        public var message: String
    }

    /// Whether the whole of `argument` matches (byte-wise: `?` is one byte).
    public func matches(_ argument: String) -> Bool {
        let text = Array(argument.utf8)
        // The classic greedy match with one backtrack point for the last `*`: linear for
        // patterns with one star, never exponential.
        var p = 0
        var t = 0
        var starP = -1
        var starT = 0
        while t < text.count {
            if p < elements.count {
                switch elements[p] {
                case .anyRun:
                    starP = p
                    starT = t
                    p += 1
                    continue
                case .anyOne:
                    p += 1
                    t += 1
                    continue
                case .literal(let byte) where byte == text[t]:
                    p += 1
                    t += 1
                    continue
                default:
                    break
                }
            }
            guard starP >= 0 else { return false }
            p = starP + 1
            starT += 1
            t = starT
        }
        while p < elements.count, elements[p] == .anyRun { p += 1 }
        return p == elements.count
    }
}
