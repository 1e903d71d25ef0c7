import Foundation

/// Canonical paths by string, for places where the tree is not a build's to change at that
/// moment (a project root at startup, a fresh checkout). Request paths are resolved by
/// descriptor instead (`ProjectTree`).
public enum ContainedPath {
    /// The real path of an existing file or directory, or nil.
    public static func realpath(_ path: String) -> String? {
        guard let pointer = Foundation.realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
