/// What `BuildRunner` starts: a build's command, or a helper (git, rm) that runs like a build
/// step — the build user (or the mirror user), its own process group, a time limit — but is
/// no build: it has no project, request or artifacts.
public struct ProcessSpec: Sendable {
    /// Who the process is for, in the process-group ledger: a project id, or the helper's job.
    public var owner: String
    public var executable: String
    /// `argv[0]`: the command's name as the allowlist knows it.
    public var name: String
    public var arguments: [String]
    public var workingDirectory: String
    /// When set, the directory that was checked: the process enters `workingDirectory` as its
    /// own user and starts only if that is still this directory.
    public var workingDirectoryHandle: OpenDirectory?
    public var timeoutSec: Int
    /// Extra `NAME=value` entries for this process only.
    public var extraEnvironment: [String] = []
    /// Whether `[build.limits]` apply: to a build's command, not to the daemon's own helpers
    /// (git's pack mmaps under a low `as_bytes`, a cleanup under the build user's `nproc`).
    public var appliesBuildLimits = false

    /// A helper process: `executable` in `directory`, named after the executable's file.
    public static func helper(
        _ executable: String,
        _ arguments: [String],
        owner: String,
        in directory: String,
        timeoutSec: Int,
        environment: [String]
    ) -> ProcessSpec {
        ProcessSpec(
            owner: owner,
            executable: executable,
            name: String(executable.split(separator: "/").last ?? Substring(executable)),
            arguments: arguments,
            workingDirectory: directory,
            workingDirectoryHandle: nil,
            timeoutSec: timeoutSec,
            extraEnvironment: environment
        )
    }
}

extension BuildPlan {
    /// The build's process: the command line as checked (make's rewritten one).
    public var processSpec: ProcessSpec {
        ProcessSpec(
            owner: projectID,
            executable: executable,
            name: commandName,
            arguments: executedArguments ?? arguments,
            workingDirectory: workingDirectory,
            workingDirectoryHandle: workingDirectoryHandle,
            timeoutSec: timeoutSec,
            extraEnvironment: extraEnvironment,
            appliesBuildLimits: true
        )
    }
}
