import BuildServiceCore
import Foundation
import Testing

/// `ServiceConfig.validate()`: values, cross-references and the file system. Every error names
/// the offending key.
struct ServiceConfigValidationTests {
    let directory: TemporaryDirectory
    let base: ConfigText

    init() throws {
        directory = try TemporaryDirectory()
        base = ConfigText(projectRoot: directory.path)
    }

    private static func load(_ config: ConfigText) throws(ConfigError) -> ServiceConfig {
        let parsed = try ServiceConfig.parse(toml: config.text)
        try parsed.validate()
        return parsed
    }

    /// Asserts that parse + validate fails with exactly `key`, and that the printed error names it.
    private static func expectFailure(_ config: ConfigText, key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try load(config)
            Issue.record("valid, expected an error for \(key)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(key), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func baseConfigIsValid() throws {
        let config = try Self.load(base)
        #expect(config.project(id: "demo")?.pathRoot == directory.path)
        #expect(config.build.commands["make"] == "/usr/bin/make")
    }

    /// One config error each: the change to the valid base, and the key the error names.
    struct Rejection: Sendable, CustomTestStringConvertible {
        var name: String
        var key: String
        var edit: @Sendable (inout ConfigText, _ directory: String) -> Void
        var testDescription: String { name }
    }

    static let rejections: [Rejection] = [
        Rejection(name: "relative command path", key: "build.commands.make") { config, directory in
            config.commands = #"make = "make""#
            config.projects[0] = config.projects[0].replacingOccurrences(of: #"["make", "sh"]"#, with: #"["make"]"#)
        },
        Rejection(name: "command path that does not exist", key: "build.commands.cc") { config, directory in
            config.commands += "\ncc = \"\(directory)/no-such-compiler\""
        },
        Rejection(name: "command path that is a directory", key: "build.commands.cc") { config, directory in
            config.commands += "\ncc = \"\(directory)\""
        },
        Rejection(name: "command name with unsafe characters", key: "build.commands.../cc") { config, directory in
            config.commands += "\n\"../cc\" = \"/bin/true\""
        },
        Rejection(name: "project without path root", key: "projects[0].path_root") { config, directory in
            config.projects[0] = "id = \"demo\"\ncommands = [\"make\"]"
        },
        Rejection(name: "relative path root", key: "projects[0].path_root") { config, directory in
            config.projects[0] = "id = \"demo\"\npath_root = \"src/demo\"\ncommands = [\"make\"]"
        },
        // A request could never name them (`field_too_long`).
        Rejection(name: "project id over 255 bytes", key: "projects[0].id") { config, directory in
            config.projects[0] = config.projects[0].replacingOccurrences(of: #"id = "demo""#, with: "id = \"\(String(repeating: "p", count: 256))\"")
        },
        Rejection(name: "duplicate project id", key: "projects[1].id") { config, directory in
            config.projects.append(config.projects[0])
        },
        Rejection(name: "project command not in build commands", key: "projects[0].commands[1]") { config, directory in
            config.projects[0] = config.projects[0].replacingOccurrences(of: #"["make", "sh"]"#, with: #"["make", "cmake"]"#)
        },
        Rejection(name: "project without commands", key: "projects[0].commands") { config, directory in
            config.projects[0] = config.projects[0].replacingOccurrences(of: #"["make", "sh"]"#, with: "[]")
        },
        Rejection(name: "disabling both listeners", key: "service") { config, directory in
            config.socket = "enabled = false"
            config.http = "enabled = false"
        },
        Rejection(name: "zero default timeout", key: "build.timeouts.default_sec") { config, directory in
            config.timeouts = "default_sec = 0"
        },
        Rejection(name: "max timeout below default", key: "build.timeouts.max_sec") { config, directory in
            config.timeouts = "default_sec = 600\nmax_sec = 599"
        },
        Rejection(name: "repo keys on a path project", key: "projects[0].repo_ref") { config, directory in
            config.projects[0] += "\nrepo_ref = \"main\""
        },
        Rejection(name: "socket auth required without tokens", key: "service.socket.auth.tokens") { config, directory in
            config.socketAuth = "required = true"
        },
        Rejection(name: "http auth required without tokens", key: "service.http.auth.tokens") { config, directory in
            config.http = "enabled = true"
            config.httpAuth = "type = \"bearer\"\nrequired = true\ntokens = []"
        },
        Rejection(name: "relative socket path", key: "service.socket.path") { config, directory in
            config.socket = "enabled = true\npath = \"build.sock\""
        },
        Rejection(name: "socket group that does not exist", key: "service.socket.group") { config, directory in
            config.socket += "\ngroup = \"no-such-group-for-build-service-tests\""
        },
        Rejection(name: "run as user that does not exist", key: "build.run_as_user") { config, directory in
            config.build = "run_as_user = \"no-such-user-for-build-service-tests\""
        },
        Rejection(name: "relative logging directory", key: "logging.directory") { config, directory in
            config.logging = "directory = \"logs\""
        },
    ]

    @Test(arguments: rejections)
    func aConfigErrorNamesItsKey(_ rejection: Rejection) {
        var config = base
        rejection.edit(&config, directory.path)
        Self.expectFailure(config, key: rejection.key)
    }

    /// As the original: an NFS root not mounted yet at boot must not stop the daemon.
    @Test func pathRootThatDoesNotExistIsAWarning() throws {
        var config = base
        config.projects.append("id = \"gone\"\npath_root = \"\(directory.path)/missing\"\ncommands = [\"make\"]")
        let loaded = try Self.load(config)
        #expect(loaded.warnings.contains { $0.hasPrefix("projects[1].path_root") && $0.contains("path_root_invalid") })
    }

    @Test func httpOnlyIsValid() throws {
        var config = base
        config.socket = "enabled = false"
        config.http = "enabled = true\nlisten_addr = \"127.0.0.1:0\""
        let loaded = try Self.load(config)
        #expect(loaded.http.enabled)
        #expect(loaded.socket.enabled == false)
    }

    @Test func maxTimeoutEqualToDefaultIsValid() throws {
        var config = base
        config.timeouts = "default_sec = 600\nmax_sec = 600"
        #expect(try Self.load(config).build.maxTimeoutSec == 600)
    }

    @Test func repoProjectsAreReadAndCheckedKeyByKey() throws {
        var config = base
        let repo = "id = \"demo\"\ntype = \"repo\"\nrepo_url = \"https://example.com/x.git\"\ncommands = [\"make\"]"
        config.projects[0] = repo + "\nrepo_ref = \"release/1.2\"\nrepo_subdir = \"src\""
        let project = try #require(try Self.load(config).project(id: "demo"))
        #expect(project.kind == .repo)
        #expect(project.repoRef == "release/1.2")
        config.projects[0] = "id = \"demo\"\ntype = \"repo\"\ncommands = [\"make\"]"
        Self.expectFailure(config, key: "projects[0].repo_url")
        config.projects[0] = repo + "\nrepo_ref = \"--upload-pack=x\""
        Self.expectFailure(config, key: "projects[0].repo_ref")
        config.projects[0] = repo + "\nrepo_subdir = \"../outside\""
        Self.expectFailure(config, key: "projects[0].repo_subdir")
        config.projects[0] = repo + "\npath_root = \"/tmp\""
        Self.expectFailure(config, key: "projects[0].path_root")
        config.projects[0] = "id = \"demo\"\ntype = \"repo\"\nrepo_url = \"--config=x\"\ncommands = [\"make\"]"
        Self.expectFailure(config, key: "projects[0].repo_url")
        config.projects[0] = repo + "\nallowed_refs = [\"refs/pull/*/head\", \"refs/changes/*\"]"
        #expect(try Self.load(config).project(id: "demo")?.allowedRefs == ["refs/pull/*/head", "refs/changes/*"])
        for bad in ["pull/*/head", "refs/*/*", "refs/a b", "refs/x..y", "refs/"] {
            config.projects[0] = repo + "\nallowed_refs = [\"\(bad)\"]"
            Self.expectFailure(config, key: "projects[0].allowed_refs")
        }
    }

    @Test(.enabled(if: geteuid() == 0, "the refusal applies to a root daemon"))
    func rootBuildsNeedRunAsUserOrAnExplicitOptIn() throws {
        var config = base
        config.build = "allow_root_builds = false"
        Self.expectFailure(config, key: "build.run_as_user")
        config.build = "run_as_user = \"nobody\""
        #expect(try Self.load(config).build.runAsUser == "nobody")
    }

    @Test(.enabled(if: geteuid() == 0, "switching users needs a root daemon"))
    func mirrorUserMustExistAndDifferFromTheBuildUser() throws {
        var config = base
        config.build = "run_as_user = \"nobody\"\nmirror_user = \"nobody\""
        Self.expectFailure(config, key: "build.mirror_user")
        config.build = "run_as_user = \"nobody\"\nmirror_user = \"no-such-user-7f3\""
        Self.expectFailure(config, key: "build.mirror_user")
        config.build = "run_as_user = \"nobody\"\nmirror_user = \"daemon\""
        #expect(try Self.load(config).build.mirrorUser == "daemon")
    }

    @Test func lifecycleLimitsAreReadAndChecked() throws {
        var config = base
        config.build =
            "allow_root_builds = true\nmax_concurrent = 3\nmax_queued = 7\nretain_sec = 60\nreattach_grace_sec = 0\nretained_event_bytes = 0"
        config.projects[0] += "\nmax_concurrent = 2"
        let loaded = try Self.load(config)
        #expect(try Self.load(base).build.retainedEventBytes == 8 << 20)
        #expect(loaded.build.retainedEventBytes == 0)
        #expect(loaded.build.maxConcurrent == 3)
        #expect(loaded.build.maxQueued == 7)
        #expect(loaded.build.reattachGraceSec == 0)
        #expect(loaded.projects[0].concurrencyLimit == 2)
        config.build = "allow_root_builds = true\nmax_queued = 0"
        Self.expectFailure(config, key: "build.max_queued")
        config.build = "allow_root_builds = true\nevent_buffer_bytes = 1000"
        Self.expectFailure(config, key: "build.event_buffer_bytes")
        config.build = "allow_root_builds = true\nreattach_grace_sec = -1"
        Self.expectFailure(config, key: "build.reattach_grace_sec")
        config.build = "allow_root_builds = true\nretained_event_bytes = -1"
        Self.expectFailure(config, key: "build.retained_event_bytes")
        var zero = base
        zero.build = "allow_root_builds = true"
        zero.projects[0] += "\nmax_concurrent = 0"
        Self.expectFailure(zero, key: "projects[0].max_concurrent")
    }

    @Test(arguments: ["/etc/passwd", "../up/*.bin", "out//x", "out/./x", ""])
    func malformedArtifactPatternsAreRejected(pattern: String) {
        var config = base
        config.projects[0] += "\nartifacts = [\"out/*.bin\", \"\(pattern)\"]"
        Self.expectFailure(config, key: "projects[0].artifacts[1]")
    }

    @Test func artifactPatternsAndSigningSettingsAreRead() throws {
        var config = base
        config.projects[0] += "\nartifacts = [\"out/*.bin\", \"**/*.log\", \"docs\"]"
        config.extra = "[artifacts]\nsigning_key_file = \"/etc/build-service/signing.key\"\nurl_ttl_sec = 600"
        let loaded = try Self.load(config)
        #expect(loaded.projects[0].artifactPatterns.map(\.text) == ["out/*.bin", "**/*.log", "docs"])
        #expect(loaded.artifacts.signingKeyPath == "/etc/build-service/signing.key")
        #expect(loaded.artifacts.urlTTLSec == 600)
    }

    @Test func authRequiredWithATokenIsValid() throws {
        var config = base
        config.socketAuth = "required = true\ntokens = [\"s3cret\"]"
        #expect(try Self.load(config).socket.auth.tokens == [AuthToken(secret: .plain("s3cret"))])
    }

}
