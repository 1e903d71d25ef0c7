public import BuildServiceProtocol

/// A repo project's source for one build.
public struct RepoSource: Sendable {
    public var url: String
    /// The requested `ref`, else the project's `repo_ref`, else `HEAD` (the default branch).
    public var ref: String
    public var subdir: String?
    /// The refs its mirror keeps and builds may reach (`allowed_refs`).
    public var refs = MirrorRefs()
}

/// A request that passed validation: everything the runner needs, already resolved.
public struct BuildPlan: Sendable {
    public var projectID: String
    /// The client's label, free to reuse.
    public var requestID: String?
    /// The request's idempotency key (field or `Idempotency-Key` header): the same key from the
    /// same token gives the build again, and the build waits for its client to come back.
    public var idempotencyKey: String?
    /// Whether a build whose last reader left waits `build.reattach_grace_sec` for its client:
    /// only with an idempotency key, and never on the legacy framing (set by the endpoint).
    public var resumable = false
    /// The command name as requested (`make`).
    public var commandName: String
    /// The absolute executable path from `build.commands`.
    public var executable: String
    public var arguments: [String]
    /// Canonical project root and working directory (inside the root).
    public var projectRoot: String
    /// The root as configured (`path_root`, maybe through a symlink): where a queued build's
    /// paths are resolved again, so that absolute paths written with it still pass.
    public var configuredRoot = ""
    public var workingDirectory: String
    /// The working directory, open: the build starts only where its path still leads here,
    /// so the directory that was checked is the one it runs in. Nil only before the paths are resolved.
    public var workingDirectoryHandle: OpenDirectory?
    /// The request's `cwd` and make's words as the policy accepted them, for
    /// `RequestValidator.resolvePaths` (nil when the command is not make).
    public var requestedCwd: String?
    public var makeWords: [MakeArguments.Word]?
    /// The command line the process gets when it differs from the request's (make's, written
    /// from the checked words: see `PathResolution`).
    public var executedArguments: [String]?
    public var timeoutSec: Int
    /// Notes for the client that do not stop the build (e.g. a clamped timeout).
    public var warnings: [BuildEvent]
    /// The project's artifact patterns, collected after a successful build.
    public var artifactPatterns: [ArtifactPattern] = []
    /// For repo projects: what to check out. The root, working directory and make paths are
    /// resolved once the checkout exists (`RequestValidator.resolvePaths`).
    public var repo: RepoSource?
    /// Extra `NAME=value` entries for this build only: the request's `env`, as checked
    /// (`RequestEnvironment`); they replace the daemon's variables of the same names.
    public var extraEnvironment: [String] = []
    /// Arguments dropped from the end of `arguments` once the build finished, to bound what a
    /// kept build holds (see `keptAfterFinishing`); 0: `arguments` is whole.
    public var argumentsDropped = 0
    /// What makes two requests the same request for an idempotency key (see `RequestIdentity`),
    /// taken at admission: still whole when the arguments no longer are.
    public var identity: RequestIdentity?

    /// A kept finished build's arguments are shown (status, list) up to this many bytes.
    public static let argumentBytesKept = 4096

    /// The plan as a finished build keeps it for `retain_sec`: arguments beyond
    /// `argumentBytesKept` dropped (with a count of them), and what only running needed gone.
    public func keptAfterFinishing() -> BuildPlan {
        var kept = self
        kept.makeWords = nil
        kept.executedArguments = nil
        kept.workingDirectoryHandle = nil
        kept.extraEnvironment = []
        var bytes = 0
        let whole = arguments.prefix { argument in
            bytes += argument.utf8.count + 1
            return bytes <= Self.argumentBytesKept
        }
        if whole.count < arguments.count {
            kept.arguments = Array(whole)
            kept.argumentsDropped = arguments.count - whole.count
        }
        return kept
    }
}
