/// Build ids: `bld_` and 32 lowercase hex digits (128 random bits), so they can be used in paths
/// and URLs as they are and cannot be guessed.
public enum BuildID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return "bld_" + hex(high) + hex(low)
    }

    /// Whether `text` has exactly the daemon's id format.
    public static func isValid(_ text: String) -> Bool {
        // On the UTF-8 view, no copy: every artifact download checks one.
        let utf8 = text.utf8
        guard utf8.count == 36, utf8.starts(with: "bld_".utf8) else { return false }
        return utf8.dropFirst(4).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
