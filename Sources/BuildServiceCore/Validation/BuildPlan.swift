public import BuildServiceProtocol

/// A request that passed validation: everything the runner needs, already resolved.
public struct BuildPlan: Sendable {
    public var projectID: String
    public var requestID: String?
    /// The command name as requested (`make`).
    public var commandName: String
    /// The absolute executable path from `build.commands`.
    public var executable: String
    public var arguments: [String]
    /// Canonical project root and working directory (inside the root).
    public var projectRoot: String
    public var workingDirectory: String
    public var timeoutSec: Int
    /// Notes for the client that do not stop the build (e.g. a clamped timeout).
    public var warnings: [BuildEvent]
    /// The project's artifact patterns, collected after a successful build.
    public var artifactPatterns: [ArtifactPattern] = []
}
