import Foundation

/// One project `artifacts` pattern: path segments relative to the project root, each a glob
/// (`*`, `?`, `[...]`, matched by fnmatch) or `**` (any number of directories, zero included).
/// Like a shell: wildcards do not match a leading dot, and `**` does not enter hidden
/// directories or follow symlinked ones; name those explicitly (`.out/*.bin`).
public struct ArtifactPattern: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    let segments: [String]

    /// - Throws: a message saying what is wrong (empty, absolute, `..`, empty segment).
    public init(_ text: String) throws(ArtifactPatternError) {
        guard !text.isEmpty else { throw ArtifactPatternError("a pattern must not be empty") }
        guard !text.hasPrefix("/") else { throw ArtifactPatternError("\"\(text)\" must be relative to the project root") }
        let segments = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !segments.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }) else {
            throw ArtifactPatternError("\"\(text)\" may not contain empty, \".\" or \"..\" segments")
        }
        guard !text.utf8.contains(0) else { throw ArtifactPatternError("a pattern must not contain NUL") }
        self.text = text
        self.segments = segments
    }

    public var description: String { text }

    /// Every path under `root` (relative, `/`-separated) that the pattern matches, files and
    /// directories, sorted. Symlinks are reported as found; the caller checks where they lead.
    func matches(under root: String) -> [String] {
        var found: Set<String> = []
        expand(directory: root, relative: "", remaining: segments[...], into: &found)
        return found.sorted()
    }

    private func expand(directory: String, relative: String, remaining: ArraySlice<String>, into found: inout Set<String>) {
        guard let segment = remaining.first else { return }
        let rest = remaining.dropFirst()
        if segment == "**" {
            // Zero directories…
            if rest.isEmpty {
                if !relative.isEmpty { found.insert(relative) }
            } else {
                expand(directory: directory, relative: relative, remaining: rest, into: &found)
            }
            // …or one more, then `**` again.
            for name in Self.entries(of: directory) where !name.hasPrefix(".") {
                let path = directory + "/" + name
                guard Self.isRealDirectory(path) else { continue }
                expand(directory: path, relative: Self.join(relative, name), remaining: remaining, into: &found)
            }
            return
        }
        let names: [String]
        if Self.hasWildcard(segment) {
            names = Self.entries(of: directory).filter { fnmatch(segment, $0, FNM_PERIOD) == 0 }
        } else {
            var info = stat()
            names = lstat(directory + "/" + segment, &info) == 0 ? [segment] : []
        }
        for name in names {
            let path = directory + "/" + name
            let relativePath = Self.join(relative, name)
            if rest.isEmpty {
                found.insert(relativePath)
            } else {
                var info = stat()
                // A literal or matched directory may be a symlink; where it leads is checked later.
                if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                    expand(directory: path, relative: relativePath, remaining: rest, into: &found)
                }
            }
        }
    }

    private static func hasWildcard(_ segment: String) -> Bool {
        segment.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    private static func join(_ relative: String, _ name: String) -> String {
        relative.isEmpty ? name : relative + "/" + name
    }

    private static func isRealDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    private static func entries(of directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}

public struct ArtifactPatternError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
