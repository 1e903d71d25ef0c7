/// One `[[projects]]` entry.
public struct ProjectConfig: Sendable {
    public enum Kind: String, Sendable {
        case path
        case repo
    }

    public var id: String
    public var kind: Kind
    /// For `path` projects: the directory builds run in (every cwd must resolve under it).
    public var pathRoot: String?
    public var repoURL: String?
    public var repoRef: String?
    public var repoSubdir: String?
    /// Refs beyond branches and tags that the mirror fetches and whose commits may be built
    /// (`allowed_refs`, full names or one-`*` patterns: `refs/pull/*/head`).
    public var allowedRefs: [String] = []
    /// Command names (keys of `build.commands`) this project may run.
    public var commands: [String]
    /// Artifact glob patterns, relative to the project root.
    public var artifacts: [String]
    /// Builds of this project running at once; `nil` is the default: 1 for `path` projects
    /// (their builds share one tree), unlimited up to `build.max_concurrent` for `repo` ones.
    public var maxConcurrent: Int?
    /// Environment variables a request may set for this project's builds (`env`), checked by
    /// `RequestEnvironment`.
    public var passEnvironment: [String] = []
    /// `make` table: lists that replace `build.make`'s for this project.
    public var make = ProjectMakePolicy()

    /// The effective per-project limit (`Int.max` for unlimited).
    public var concurrencyLimit: Int { maxConcurrent ?? (kind == .path ? 1 : .max) }

    /// The validated patterns (the config validation refuses malformed ones).
    public var artifactPatterns: [ArtifactPattern] {
        artifacts.compactMap { try? ArtifactPattern($0) }
    }
}

/// A project's `make` table: each list given replaces the global one in `build.make`.
public struct ProjectMakePolicy: Sendable {
    public var allowedVariables: [String]?
    public var allowedTargets: [ArgumentPattern]?

    public init() {}
}
