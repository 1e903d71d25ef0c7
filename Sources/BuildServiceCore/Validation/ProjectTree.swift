import CBuildServiceSystem
import Foundation
import NIOConcurrencyHelpers

/// A directory held open (`O_PATH`), so that the directory that was checked is the one used:
/// a build starts only if its path, entered as the build's user, still leads to it (nothing
/// renamed or swapped for a symlink since). Closed by `close()` once the build has started (a finished build is retained for a
/// while and must not hold a descriptor all that time), or when the last reference goes.
public final class OpenDirectory: Sendable {
    private let state: NIOLockedValueBox<Int32>

    init(descriptor: Int32) {
        state = NIOLockedValueBox(descriptor)
    }

    /// The descriptor, or -1 once closed.
    public var descriptor: Int32 { state.withLockedValue { $0 } }

    /// Closes the descriptor (again: nothing).
    public func close() {
        let descriptor = state.withLockedValue { descriptor in
            defer { descriptor = -1 }
            return descriptor
        }
        if descriptor >= 0 { Foundation.close(descriptor) }
    }

    deinit {
        close()
    }

    /// Where the directory is now, as the kernel names it; nil when the kernel cannot name it
    /// in `PATH_MAX` bytes, or the name is not UTF-8 (decoded leniently, it would name another
    /// directory, or none: a build started there failed at spawn).
    public var path: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(validating: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A project's root, opened once, and paths resolved beneath it by the kernel
/// (`openat2` with `RESOLVE_BENEATH`): a `..` or a symlink that would leave the root fails the
/// lookup itself, so no string check can be fooled by a missing component, a `~` or a race.
public struct ProjectTree: Sendable {
    /// The canonical path of the root (for logs, artifacts and absolute request paths).
    public let root: String
    /// The root as the config names it (absolute request paths may start with either).
    public let configuredRoot: String
    public let handle: OpenDirectory

    /// What a path names, seen from the root.
    public enum Lookup: Sendable {
        case inside(OpenDirectory)
        /// Resolving it leaves the root (`..`, an absolute or escaping symlink, a magic link).
        case outside
        /// Some component does not exist (or is not a directory where one is needed).
        case missing
    }

    /// Opens the root directory.
    /// - Returns: nil when it does not exist or is not a directory.
    public static func open(root path: String) -> ProjectTree? {
        guard let canonical = ContainedPath.realpath(path) else { return nil }
        let descriptor = bs_open_directory_path(canonical)
        guard descriptor >= 0 else { return nil }
        let configured = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        return ProjectTree(root: canonical, configuredRoot: configured, handle: OpenDirectory(descriptor: descriptor))
    }

    /// `path` (relative to `base`, a path relative to the root; or absolute) as a path relative
    /// to the root, for the kernel to resolve beneath it. An absolute path must start with the
    /// root as configured or as canonical (`/srv/p/sub`); nothing outside is looked at by the
    /// daemon (its own /proc/self, say, is not the build's). Anything else is nil (outside).
    public func relative(_ path: String, from base: String = ".") -> String? {
        guard path.hasPrefix("/") else { return base == "." ? path : base + "/" + path }
        for prefix in Set([root, configuredRoot]) {
            if path == prefix { return "." }
            let withSlash = prefix == "/" ? "/" : prefix + "/"
            if path.hasPrefix(withSlash) {
                let rest = path.dropFirst(withSlash.count)
                return rest.isEmpty ? "." : String(rest)
            }
        }
        return nil
    }

    /// Resolves `relativePath` beneath the root.
    public func lookUp(_ relativePath: String, directory: Bool) -> Lookup {
        let descriptor = relativePath.withCString { bs_open_path_beneath(handle.descriptor, $0, directory ? 1 : 0) }
        if descriptor >= 0 { return .inside(OpenDirectory(descriptor: descriptor)) }
        switch errno {
        case ENOENT, ENOTDIR: return .missing
        default: return .outside  // EXDEV, ELOOP, EACCES, ENAMETOOLONG…: never treated as inside
        }
    }

    /// Whether a file may be named by `relativePath`: it resolves beneath the root, or it does
    /// not exist yet but its parent directory does (what make would create lands in the root).
    public func allowsFile(_ relativePath: String) -> Lookup {
        let found = lookUp(relativePath, directory: false)
        guard case .missing = found else { return found }
        let trimmed = relativePath.hasSuffix("/") ? String(relativePath.dropLast()) : relativePath
        guard let slash = trimmed.lastIndex(of: "/") else { return lookUp(".", directory: true) }
        let last = trimmed[trimmed.index(after: slash)...]
        guard last != ".." && last != "." else { return .missing }
        return lookUp(String(trimmed[..<slash]), directory: true)
    }
}
