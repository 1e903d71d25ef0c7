/// The few text operations client and daemon need that full Foundation has and
/// FoundationEssentials (which build-cli keeps to, for its start-up) has not.
extension StringProtocol {
    /// Without spaces, tabs and line breaks at either end.
    public var trimmedWhitespace: String {
        let isSpace = { (character: Character) in character.isWhitespace || character.isNewline }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension String {
    /// Padded with spaces on the right to `width` characters (never cut).
    public func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// Paths as text, as NSString's path methods treat them for the paths we build.
public enum PathText {
    /// `a/b/c` → `a/b`, `/a` → `/`, `a` → `` (a trailing slash is not a component).
    public static func directory(of path: String) -> String {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `a/b/c` → `c`.
    public static func fileName(of path: String) -> String {
        var path = Substring(path)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        return String(path.split(separator: "/").last ?? path)
    }
}
