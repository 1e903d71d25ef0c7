import Foundation

/// `[build]`: how builds run.
public struct BuildSettings: Sendable {
    public var workspaceRoot = "/var/lib/build-service/workspaces"
    public var runAsUser: String?
    public var runAsGroup: String?
    /// `build.umask`: the file creation mask builds start with, whatever the daemon's (systemd's
    /// `UMask=0077` would make their outputs unreadable to anyone else, a container's user included).
    public var umask: UInt32 = 0o022
    /// Lets a root daemon run builds as root when `run_as_user` is unset (off: startup fails).
    public var allowRootBuilds = false
    /// The git used for repo projects.
    public var gitPath = "/usr/bin/git"
    /// Who owns the repo projects' mirrors and runs git on them; `nil` is the daemon's user.
    /// Builds can read mirrors but never write them, so it must not be `run_as_user`.
    public var mirrorUser: String?
    /// Allowed command names mapped to absolute executable paths; a config without
    /// `[build.commands]` gets the original's default, make.
    public var commands: [String: String] = ["make": "/usr/bin/make"]
    /// For commands written as tables with `args`: the patterns every argument must match.
    public var commandArgumentPatterns: [String: [ArgumentPattern]] = [:]
    /// `[build.make]`: what requests may say to make.
    public var make = MakePolicy()
    /// `[build.limits]`: resource limits of every build's processes.
    public var limits = BuildLimits()
    public var defaultTimeoutSec = 600
    /// The original's default, 30 minutes.
    public var maxTimeoutSec = 1800
    /// Names of daemon environment variables passed through to builds (the original's list).
    public var environmentAllow: [String] = [
        "PATH", "HOME", "USER", "LANG", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "PKG_CONFIG_PATH", "MAKEFLAGS",
    ]
    /// Builds running at once, over all projects; more wait in the queue.
    public var maxConcurrent = ProcessInfo.processInfo.activeProcessorCount
    /// Whether the config names `max_concurrent` (the original had no limit).
    public var maxConcurrentGiven = false
    /// Builds waiting for a slot; beyond this a request gets 429 `queue_full`.
    public var maxQueued = 100
    /// Events kept per build for re-attaching clients (oldest delivered output dropped first).
    public var eventBufferBytes = 8 * 1024 * 1024
    /// How long a finished build (status, events) is kept.
    public var retainSec = 3600
    /// Events kept, in total, for finished builds with more than 64 KiB of them: beyond it the
    /// oldest builds' events are dropped (those a reader was handed first; each `exit` stays).
    public var retainedEventBytes = 8 * 1024 * 1024
    /// How long a build whose client went away keeps running, waiting for a re-attach; 0
    /// cancels it at once.
    public var reattachGraceSec = 30
    /// On SIGTERM: how long running builds may go on before they are cancelled.
    public var shutdownGraceSec = 30
    /// A request's arguments together, in bytes (each counted with the NUL that ends it in
    /// execve's argument block); more is refused with 413 `args_too_large`.
    public var maxArgsBytes = 64 * 1024
    /// A request's arguments, counted; more is refused with 413 `too_many_args`.
    public var maxArgs = 4096
    /// Finished builds held (status, events, idempotency key), over all tokens: past it the
    /// oldest finished one goes (its artifacts stay).
    public var maxRetained = 10_000
    /// Finished builds held per token: one token cannot push everyone else's out. Builds
    /// without a token (listeners without auth) count only in `maxRetained`.
    public var maxRetainedPerToken = 1000
}
