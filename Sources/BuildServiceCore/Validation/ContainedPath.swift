import Foundation

/// Resolves paths the way the kernel will when the build uses them (symlinks followed, `..`
/// applied to the resolved parent) and checks that the result stays inside a root directory.
public enum ContainedPath {
    /// The canonical absolute form of `path` (absolute, or relative to `base`), following every
    /// symlink that exists. Components that do not exist yet are appended as written.
    public static func resolve(_ path: String, relativeTo base: String) -> String {
        let start = path.hasPrefix("/") ? "/" : base
        var resolved = start == "/" ? "/" : realpathOrSelf(start)
        var missing = false
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".":
                continue
            case "..":
                resolved = parent(of: resolved)
            default:
                let candidate = resolved == "/" ? "/\(component)" : "\(resolved)/\(component)"
                // Once a component is missing the kernel would fail the lookup; keep it lexical.
                if !missing, let real = realpath(candidate) {
                    resolved = real
                } else {
                    missing = true
                    resolved = candidate
                }
            }
        }
        return resolved
    }

    /// Whether `path` equals `root` or lies below it (both canonical).
    public static func isInside(_ path: String, root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    /// The real path of an existing file or directory, or nil.
    public static func realpath(_ path: String) -> String? {
        guard let pointer = Foundation.realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    private static func realpathOrSelf(_ path: String) -> String {
        realpath(path) ?? path
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }
}
