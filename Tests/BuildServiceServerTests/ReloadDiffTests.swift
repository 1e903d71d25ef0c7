import Testing

@testable import BuildServiceCore
@testable import BuildServiceServer

/// What a SIGHUP may change in place, what it reports as taking effect only after a restart,
/// and what makes it refuse the whole new config.
@Suite struct ReloadDiffTests {
    struct Change: Sendable, CustomTestStringConvertible {
        var name: String
        var apply: @Sendable (inout ServiceConfig) -> Void
        /// `ConfigReloader.restartOnlyChanges`: what the log names as needing a restart.
        var needsRestart: [String]
        var testDescription: String { name }
    }

    static let changes: [Change] = [
        // Applied in place: what requests and builds read from the live settings.
        Change(name: "a socket token", apply: { $0.socket.auth.required = true }, needsRestart: []),
        Change(name: "a command", apply: { $0.build.commands["ninja"] = "/usr/bin/ninja" }, needsRestart: []),
        Change(name: "the default timeout", apply: { $0.build.defaultTimeoutSec = 30 }, needsRestart: []),
        Change(name: "max_concurrent", apply: { $0.build.maxConcurrent = 7 }, needsRestart: []),
        Change(name: "retain_sec", apply: { $0.build.retainSec = 5 }, needsRestart: []),
        Change(name: "shutdown_grace_sec", apply: { $0.build.shutdownGraceSec = 1 }, needsRestart: []),
        Change(name: "a project's commands", apply: { $0.projects[0].commands = ["make", "cmake"] }, needsRestart: []),
        Change(name: "a TLS certificate path", apply: { $0.http.tls.certPath = "/etc/new.pem" }, needsRestart: []),
        // Only a restart can apply them; the reload says so.
        Change(name: "the socket path", apply: { $0.socket.path = "/run/other.sock" }, needsRestart: ["service.socket"]),
        Change(name: "the socket mode", apply: { $0.socket.mode = 0o600 }, needsRestart: ["service.socket"]),
        Change(name: "the socket group", apply: { $0.socket.group = "build" }, needsRestart: ["service.socket"]),
        Change(
            name: "the HTTP address",
            apply: { $0.http.listenAddress = ListenAddress(host: "0.0.0.0", port: 8443) },
            needsRestart: ["service.http"]
        ),
        Change(name: "TLS on", apply: { $0.http.tls.enabled = true }, needsRestart: ["service.http"]),
        Change(name: "the header timeout", apply: { $0.http.headerTimeoutSec = 5 }, needsRestart: ["service.http"]),
        Change(name: "the body timeout", apply: { $0.http.bodyTimeoutSec = 5 }, needsRestart: ["service.http"]),
        Change(name: "the minimum body rate", apply: { $0.http.minBodyBytesPerSec = 0 }, needsRestart: ["service.http"]),
        Change(name: "the per-address cap", apply: { $0.http.maxConnectionsPerIP = 8 }, needsRestart: ["service.http"]),
        Change(name: "the connection cap", apply: { $0.maxConnections = 100 }, needsRestart: ["service.max_connections"]),
        Change(name: "run_as_user", apply: { $0.build.runAsUser = "builder" }, needsRestart: ["build.run_as_user/run_as_group/umask/environment"]),
        Change(name: "umask", apply: { $0.build.umask = 0o027 }, needsRestart: ["build.run_as_user/run_as_group/umask/environment"]),
        Change(
            name: "the environment",
            apply: { $0.build.environmentAllow.append("CCACHE_DIR") },
            needsRestart: ["build.run_as_user/run_as_group/umask/environment"]
        ),
        Change(name: "workspace_root", apply: { $0.build.workspaceRoot = "/srv/ws" }, needsRestart: ["build.workspace_root/git_path/mirror_user"]),
        Change(name: "git_path", apply: { $0.build.gitPath = "/usr/local/bin/git" }, needsRestart: ["build.workspace_root/git_path/mirror_user"]),
        Change(name: "send_timeout_sec", apply: { $0.sendTimeoutSec = 5 }, needsRestart: ["service.send_timeout_sec"]),
        Change(name: "a build limit", apply: { $0.build.limits.nofile = 64 }, needsRestart: ["build.limits"]),
        Change(name: "the artifact TTL", apply: { $0.artifacts.ttlSec = 60 }, needsRestart: ["artifacts"]),
        Change(name: "url_ttl_sec", apply: { $0.artifacts.urlTTLSec = 60 }, needsRestart: ["artifacts"]),
        Change(name: "the log level", apply: { $0.logging.level = .debug }, needsRestart: ["logging"]),
        Change(name: "the log directory", apply: { $0.logging.directory = "/var/log/bs" }, needsRestart: ["logging"]),
        Change(name: "the log file size", apply: { $0.logging.maxBytes = 1024 }, needsRestart: ["logging"]),
        Change(name: "the number of log files", apply: { $0.logging.maxFiles = 2 }, needsRestart: ["logging"]),
        Change(name: "console logging", apply: { $0.logging.console = false }, needsRestart: ["logging"]),
        Change(
            name: "two at once",
            apply: {
                $0.socket.path = "/run/other.sock"
                $0.build.limits.nofile = 64
            },
            needsRestart: ["service.socket", "build.limits"]
        ),
    ]

    static func base() throws -> ServiceConfig {
        try ServiceConfig.parse(
            toml: """
                schema_version = "2"
                [[projects]]
                id = "app"
                path_root = "/srv/app"
                commands = ["make"]
                """
        )
    }

    @Test(arguments: changes)
    func aReloadReportsWhatOnlyARestartApplies(_ change: Change) throws {
        let old = try Self.base()
        var new = old
        change.apply(&new)
        #expect(ConfigReloader.restartOnlyChanges(from: old, to: new) == change.needsRestart)
        // None of these makes the reload refused: builds keep working with the new config.
        #expect(ConfigReloader.changesNeedingARestart(from: old, to: new).isEmpty)
    }

    @Test func anUnchangedConfigReportsNothing() throws {
        let config = try Self.base()
        #expect(ConfigReloader.restartOnlyChanges(from: config, to: config).isEmpty)
    }

    static func project(_ id: String, repo: Bool = false, artifacts: [String] = []) -> ProjectConfig {
        ProjectConfig(id: id, kind: repo ? .repo : .path, commands: ["make"], artifacts: artifacts)
    }

    /// The first repo project or the first artifact patterns need what is set up at start
    /// only: such a reload is refused whole, naming the project.
    @Test func theFirstRepoProjectOrArtifactPatternsRefuseTheReload() throws {
        let old = try Self.base()
        var withRepo = old
        withRepo.projects.append(Self.project("mirror", repo: true))
        let repoRefusal = ConfigReloader.changesNeedingARestart(from: old, to: withRepo)
        #expect(repoRefusal.count == 1)
        #expect(repoRefusal.first?.contains("mirror") == true)

        var withArtifacts = old
        withArtifacts.projects.append(Self.project("reports", artifacts: ["out/*.html"]))
        let artifactRefusal = ConfigReloader.changesNeedingARestart(from: old, to: withArtifacts)
        #expect(artifactRefusal.count == 1)
        #expect(artifactRefusal.first?.contains("reports") == true)

        var both = withRepo
        both.projects.append(Self.project("reports", artifacts: ["out/*.html"]))
        #expect(ConfigReloader.changesNeedingARestart(from: old, to: both).count == 2)
    }

    /// Once the daemon has them, more of the same are an ordinary reload.
    @Test func anotherRepoProjectOrMoreArtifactPatternsReloadInPlace() throws {
        var old = try Self.base()
        old.projects.append(Self.project("mirror", repo: true))
        old.projects.append(Self.project("reports", artifacts: ["out/*.html"]))
        var new = old
        new.projects.append(Self.project("second-mirror", repo: true))
        new.projects.append(Self.project("more-reports", artifacts: ["dist/**"]))
        #expect(ConfigReloader.changesNeedingARestart(from: old, to: new).isEmpty)
        // Removing them is fine too.
        #expect(ConfigReloader.changesNeedingARestart(from: old, to: try Self.base()).isEmpty)
    }
}
