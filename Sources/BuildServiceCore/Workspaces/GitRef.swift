/// What a requested `ref` may look like: a branch or tag name by `git check-ref-format`'s rules
/// (one level allowed), or a full or abbreviated commit id — and never something git could read
/// as an option or a revision expression.
public enum GitRef {
    /// `nil` when `ref` is acceptable, else why not (for the 400 `invalid_ref` message).
    public static func problem(with ref: String) -> String? {
        guard !ref.isEmpty else { return "ref must not be empty" }
        guard ref.utf8.count <= 255 else { return "ref is longer than 255 bytes" }
        guard !ref.hasPrefix("-") else { return "ref \"\(ref)\" must not start with '-'" }
        if ref.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "ref contains a control character or NUL" }
        for forbidden in [" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//"] where ref.contains(forbidden) {
            return "ref \"\(ref)\" must not contain \"\(forbidden)\""
        }
        guard ref != "@" else { return "ref \"@\" is not a branch, tag or commit" }
        guard !ref.hasPrefix("/"), !ref.hasSuffix("/"), !ref.hasSuffix("."), !ref.hasSuffix(".lock") else {
            return "ref \"\(ref)\" is not a valid branch or tag name"
        }
        for component in ref.split(separator: "/") where component.hasPrefix(".") || component.hasSuffix(".lock") {
            return "ref \"\(ref)\" has a component starting with '.' or ending with .lock"
        }
        return nil
    }
}
