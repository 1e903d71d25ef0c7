public import BuildServiceTLS
import Foundation

/// The daemon's whole configuration, validated. Built from TOML by `ServiceConfig.load(path:)`;
/// every key, type and default is listed in `ServiceConfig+TOML.swift` and `config/config.toml`.
public struct ServiceConfig: Sendable {
    public var socket: SocketListenerConfig
    /// How long a client may leave our writes unread before it is disconnected (and its build
    /// cancelled): between two writes, like nginx's `send_timeout`, not for the whole stream.
    public var sendTimeoutSec = 60
    /// Whether `GET /metrics` needs a token on listeners that require auth.
    public var metricsAuthRequired = true
    public var http: HTTPListenerConfig
    public var build: BuildSettings
    public var artifacts: ArtifactSettings
    public var projects: [ProjectConfig]
    public var logging: LoggingSettings

    /// Looks a project up by its id.
    public func project(id: String) -> ProjectConfig? {
        projects.first { $0.id == id }
    }
}

/// `[service.socket]`: the Unix socket listener for local containers.
public struct SocketListenerConfig: Sendable {
    public var enabled = true
    public var path = "/run/build-service.sock"
    /// Group that owns the socket file; `nil` keeps the daemon's group (the original's
    /// default was `users`: see `ServiceConfig.differencesFromTheOriginal`).
    public var group: String?
    /// Permission bits of the socket file (from an octal string such as "0660").
    public var mode: UInt32 = 0o660
    public var auth = AuthSettings()
}

/// `[service.http]`: the TCP listener for remote agents.
public struct HTTPListenerConfig: Sendable {
    public var enabled = false
    public var listenAddress = ListenAddress(host: "127.0.0.1", port: 8080)
    /// Whether the config names `listen_addr` (the default differs from the original's).
    public var listenAddressGiven = false
    public var auth = AuthSettings()
    public var tls = TLSSettings()
}

/// A `host:port` pair; IPv6 hosts are written in brackets (`[::1]:8080`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `auth` tables of both listeners.
public struct AuthSettings: Sendable {
    public var required = false
    /// Accepted bearer tokens, those of `tokensFile` included once loaded. Never logged or printed.
    public var tokens: [AuthToken] = []
    /// A file with one token per line (`#` starts a comment), read at startup.
    public var tokensFile: String?
    /// `[service.http.auth]` only: accept tokens over plain HTTP on a non-loopback address,
    /// where they cross the network in clear. Off by default; startup fails without it.
    public var allowPlaintextHTTP = false
}

/// One accepted token: the secret itself or its SHA-256 digest, optionally named and limited
/// to some projects.
public struct AuthToken: Sendable, Equatable {
    public enum Secret: Sendable, Equatable {
        case plain(String)
        /// The 32-byte SHA-256 digest of the token's UTF-8 bytes.
        case sha256([UInt8])
    }

    public var secret: Secret
    /// Shown in logs instead of the token (never the token itself).
    public var name: String?
    /// Project ids this token may build; `nil` means every project.
    public var projects: [String]?
    /// May see and cancel every build, not only its own.
    public var admin: Bool

    public init(secret: Secret, name: String? = nil, projects: [String]? = nil, admin: Bool = false) {
        self.secret = secret
        self.name = name
        self.projects = projects
        self.admin = admin
    }
}

/// `[service.http.tls]`.
public struct TLSSettings: Sendable {
    public var enabled = false
    public var certPath: String?
    public var keyPath: String?
    /// Extra chain certificates sent after those in `certPath`.
    public var caPath: String?
    public var minVersion = TLSServerConfiguration.MinimumVersion.tls12
    public var clientCAPath: String?
    public var clientAuth = TLSServerConfiguration.ClientAuth.none

    /// What the TLS module needs to build the server context (only when enabled and complete).
    public var serverConfiguration: TLSServerConfiguration? {
        guard enabled, let certPath, let keyPath else { return nil }
        var configuration = TLSServerConfiguration(certificatePath: certPath, privateKeyPath: keyPath)
        configuration.chainPath = caPath
        configuration.minimumVersion = minVersion
        configuration.clientCAPath = clientCAPath
        configuration.clientAuth = clientAuth
        return configuration
    }
}

/// `[build]`: how builds run.
public struct BuildSettings: Sendable {
    public var workspaceRoot = "/var/lib/build-service/workspaces"
    public var runAsUser: String?
    public var runAsGroup: String?
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
}

/// `[artifacts]`: where build outputs are kept and how they are addressed.
public struct ArtifactSettings: Sendable {
    public var storageRoot = "/var/lib/build-service/artifacts"
    public var publicBaseURL: String?
    public var ttlSec = 86_400
    public var gcIntervalSec = 3600
    public var maxBytes: Int = 10 * 1024 * 1024 * 1024
    /// Key for signed artifact URLs; `nil` means `<storage_root>.signing-key`, beside the store
    /// and never inside it (another server may serve the store, as in the original's model).
    /// Made (0600) on first start if absent.
    public var signingKeyFile: String?
    /// How long a signed artifact URL stays valid.
    public var urlTTLSec = 3600

    /// Where the signing key lives.
    public var signingKeyPath: String { signingKeyFile ?? storageRoot + ".signing-key" }
    /// Where an earlier version kept it by default: inside the store.
    public var signingKeyPathInsideTheStore: String { storageRoot + "/.signing-key" }
}

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

/// `[logging]`.
public struct LoggingSettings: Sendable {
    public var level = LogLevelName.info
    /// Directory for `build-service.log`; `nil` logs to stderr only.
    public var directory: String?
    public var maxBytes = 10 * 1024 * 1024
    public var maxFiles = 5
    /// Whether to also log to stderr when a directory is set.
    public var console = true
}

/// The log levels the config accepts (`warning` is read as `warn`).
public enum LogLevelName: String, Sendable, CaseIterable {
    case trace, debug, info, warn, error
}
