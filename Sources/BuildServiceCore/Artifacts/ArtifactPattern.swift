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

    /// Every path in `tree` (relative, `/`-separated) that the pattern matches, files and
    /// directories, sorted, as the build's user would have found them: only directories it
    /// could list are listed, and a directory reached through a symlink must stay in the root.
    /// Matched symlinks are reported as found; opening them later checks where they lead.
    /// - Throws: when a directory on the way leads outside the root (naming the pattern).
    func matches(in tree: ArtifactTree) throws(ArtifactCollectionError) -> [String] {
        var found: Set<String> = []
        try expand(tree, directory: ".", remaining: segments[...], into: &found)
        return found.sorted()
    }

    private func expand(
        _ tree: ArtifactTree,
        directory: String,
        remaining: ArraySlice<String>,
        into found: inout Set<String>
    ) throws(ArtifactCollectionError) {
        guard let segment = remaining.first else { return }
        let rest = remaining.dropFirst()
        if segment == "**" {
            // Zero directories…
            if rest.isEmpty {
                if directory != "." { found.insert(directory) }
            } else {
                try expand(tree, directory: directory, remaining: rest, into: &found)
            }
            // …or one more (a real one: `**` follows no symlink), then `**` again.
            for entry in try tree.entries(of: directory, pattern: text) ?? [] where entry.kind == .directory && !entry.name.hasPrefix(".") {
                try expand(tree, directory: Self.join(directory, entry.name), remaining: remaining, into: &found)
            }
            return
        }
        let names: [String]
        if Self.hasWildcard(segment) {
            names = (try tree.entries(of: directory, pattern: text) ?? []).map(\.name).filter { fnmatch(segment, $0, FNM_PERIOD) == 0 }
        } else {
            names = try tree.kind(of: segment, in: directory, following: false, pattern: text) == nil ? [] : [segment]
        }
        for name in names {
            let path = Self.join(directory, name)
            if rest.isEmpty {
                found.insert(path)
            } else if try tree.kind(of: name, in: directory, following: true, pattern: text) == .directory {
                // A literal or matched directory may be a symlink: followed while it stays in the root.
                try expand(tree, directory: path, remaining: rest, into: &found)
            }
        }
    }

    private static func hasWildcard(_ segment: String) -> Bool {
        segment.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory == "." ? name : directory + "/" + name
    }
}

public struct ArtifactPatternError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
