import BuildServiceCore
import Foundation
import Testing

/// `ServiceConfig.parse(toml:)`: types, unknown keys and values that can be checked without the
/// file system. Every error names the offending key.
struct ServiceConfigParseTests {
    /// A root path that is never touched: parsing does not look at the file system.
    private static let root = "/nonexistent/project"

    private static func failure(_ toml: String) -> ConfigError? {
        do {
            _ = try ServiceConfig.parse(toml: toml)
            return nil
        } catch {
            return error
        }
    }

    /// Asserts that parsing fails with exactly `key`, and that the printed error names it.
    private static func expectFailure(_ toml: String, key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = failure(toml) else {
            Issue.record("parsed, expected an error for \(key)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains(key), "\(error)", sourceLocation: sourceLocation)
    }

    @Test func sampleConfigFileParses() throws {
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sample = packageRoot.appendingPathComponent("config/config.toml")
        let text = try String(contentsOf: sample, encoding: .utf8)
        let config = try ServiceConfig.parse(toml: text)
        #expect(config.socket.enabled)
        #expect(config.socket.path == "/run/build-service/build.sock")
        #expect(config.socket.group == "build")
        #expect(config.build.runAsUser == "build-runner")
        #expect(config.socket.mode == 0o660)
        #expect(config.http.enabled == false)
        #expect(config.http.listenAddress.host == "127.0.0.1")
        #expect(config.http.listenAddress.port == 8080)
        #expect(config.http.auth.required)
        #expect(config.http.auth.tokens.isEmpty)
        #expect(config.build.mirrorUser == "build-service")
        #expect(config.http.auth.allowPlaintextHTTP == false)
        #expect(config.http.tls.enabled == false)
        #expect(config.http.tls.minVersion == .tls12)
        #expect(config.http.tls.clientAuth == .none)
        #expect(config.build.commands == ["make": "/usr/bin/make"])
        #expect(config.build.defaultTimeoutSec == 600)
        #expect(config.build.maxTimeoutSec == 3600)
        #expect(config.build.environmentAllow == ["PATH", "LANG", "LC_ALL"])
        #expect(config.artifacts.maxBytes == 10_737_418_240)
        #expect(config.projects.map(\.id) == ["sip-stack"])
        #expect(config.project(id: "sip-stack")?.commands == ["make"])
        #expect(config.logging.level == .info)
    }

    /// Keys a config leaves out default as in the original build-service.
    @Test func minimalConfigGetsTheOriginalsDefaults() throws {
        let config = try ServiceConfig.parse(toml: #"schema_version = "2""#)
        #expect(config.socket.enabled)
        #expect(config.socket.mode == 0o660)
        #expect(config.http.enabled == false)
        #expect(config.build.defaultTimeoutSec == 600)
        #expect(config.build.maxTimeoutSec == 1800)
        #expect(config.build.commands == ["make": "/usr/bin/make"])
        #expect(
            config.build.environmentAllow == [
                "PATH", "HOME", "USER", "LANG", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "PKG_CONFIG_PATH", "MAKEFLAGS",
            ]
        )
        #expect(config.projects.isEmpty)
        #expect(config.logging.level == .info)
        // A [build.commands] table replaces the default rather than adding to it.
        let own = try ServiceConfig.parse(toml: "schema_version = \"2\"\n[build.commands]\ncc = \"/usr/bin/cc\"\n")
        #expect(own.build.commands == ["cc": "/usr/bin/cc"])
    }

    /// Where ours differs on purpose, one line each names the original's behaviour and the key.
    @Test func deliberateDifferencesAreSaidWithTheKeyToChange() throws {
        let quiet = try ServiceConfig.parse(toml: #"schema_version = "2""# + "\n[service.http]\nenabled = true\n")
        let lines = quiet.differencesFromTheOriginal
        #expect(lines.contains { $0.hasPrefix("service.http.listen_addr is not set") && $0.contains("0.0.0.0:8080") })
        #expect(lines.contains { $0.hasPrefix("service.socket.group is not set") && $0.contains("\"users\"") })
        #expect(lines.contains { $0.hasPrefix("builds queue") && $0.contains("build.max_concurrent") })
        let explicit = try ServiceConfig.parse(
            toml: """
                schema_version = "2"
                [service.socket]
                group = "users"
                [service.http]
                enabled = true
                listen_addr = "127.0.0.1:8080"
                [build]
                max_concurrent = 4
                """
        )
        #expect(explicit.differencesFromTheOriginal.isEmpty)
    }

    @Test func sendTimeoutIsReadAndMustBePositive() throws {
        let config = try ServiceConfig.parse(toml: "schema_version = \"2\"\n[service]\nsend_timeout_sec = 5\n")
        #expect(config.sendTimeoutSec == 5)
        #expect(try ServiceConfig.parse(toml: "schema_version = \"2\"\n").sendTimeoutSec == 60)
        Self.expectFailure("schema_version = \"2\"\n[service]\nsend_timeout_sec = 0\n", key: "service.send_timeout_sec")
        Self.expectFailure("schema_version = \"2\"\n[service]\nsend_timeout_sec = \"5\"\n", key: "service.send_timeout_sec")
    }

    @Test func schemaVersionOtherThan2IsRejected() {
        Self.expectFailure(#"schema_version = "1""#, key: "schema_version")
        Self.expectFailure(#"schema_version = "3""#, key: "schema_version")
    }

    @Test func missingSchemaVersionIsRejected() {
        var config = ConfigText(projectRoot: Self.root)
        config.schema = nil
        Self.expectFailure(config.text, key: "schema_version")
    }

    @Test func schemaVersionAsNumberIsRejected() {
        Self.expectFailure("schema_version = 2", key: "schema_version")
    }

    @Test func unknownKeyIsRejectedWithItsDottedPath() {
        var config = ConfigText(projectRoot: Self.root)
        config.socket += "\nmdoe = \"0660\""
        Self.expectFailure(config.text, key: "service.socket.mdoe")
    }

    @Test func unknownTopLevelTableIsRejected() {
        var config = ConfigText(projectRoot: Self.root)
        config.extra = "[servcie]\nenabled = true"
        Self.expectFailure(config.text, key: "servcie")
    }

    @Test func unknownKeysInNestedTablesAndProjectsAreRejected() {
        var timeouts = ConfigText(projectRoot: Self.root)
        timeouts.timeouts = "default_sec = 60\nmax_seconds = 100"
        Self.expectFailure(timeouts.text, key: "build.timeouts.max_seconds")

        var project = ConfigText(projectRoot: Self.root)
        project.projects[0] += "\npathroot = \"/x\""
        Self.expectFailure(project.text, key: "projects[0].pathroot")

        var auth = ConfigText(projectRoot: Self.root)
        auth.socketAuth = "required = false\ntoken = \"x\""
        Self.expectFailure(auth.text, key: "service.socket.auth.token")
    }

    @Test func wrongValueTypeIsRejected() {
        var mode = ConfigText(projectRoot: Self.root)
        mode.socket += "\nmode = 660"
        Self.expectFailure(mode.text, key: "service.socket.mode")

        var enabled = ConfigText(projectRoot: Self.root)
        enabled.http = #"enabled = "yes""#
        Self.expectFailure(enabled.text, key: "service.http.enabled")

        var timeout = ConfigText(projectRoot: Self.root)
        timeout.timeouts = #"default_sec = "60""#
        Self.expectFailure(timeout.text, key: "build.timeouts.default_sec")

        var command = ConfigText(projectRoot: Self.root)
        command.commands += "\ncc = 5"
        Self.expectFailure(command.text, key: "build.commands.cc")

        var commands = ConfigText(projectRoot: Self.root)
        commands.projects[0] += "\nartifacts = [\"a\", 2]"
        Self.expectFailure(commands.text, key: "projects[0].artifacts[1]")
    }

    @Test(arguments: ["0999", "rw", "12345", "7777", "66", "", "0x1f", "-660"])
    func socketModeThatIsNotOctalPermissionsIsRejected(mode: String) {
        var config = ConfigText(projectRoot: Self.root)
        config.socket += "\nmode = \"\(mode)\""
        Self.expectFailure(config.text, key: "service.socket.mode")
    }

    @Test(arguments: [("0660", 0o660), ("600", 0o600), ("0777", 0o777), ("0000", 0)] as [(String, UInt32)])
    func socketModeIsReadAsOctal(mode: String, bits: UInt32) throws {
        var config = ConfigText(projectRoot: Self.root)
        config.socket += "\nmode = \"\(mode)\""
        #expect(try ServiceConfig.parse(toml: config.text).socket.mode == bits)
    }

    /// `build.umask` is read like the socket's mode; unset, it is 0022 (not the daemon's).
    @Test func buildUmaskIsOctalAndDefaultsTo0022() throws {
        let plain = ConfigText(projectRoot: Self.root)
        #expect(try ServiceConfig.parse(toml: plain.text).build.umask == 0o022)
        var set = ConfigText(projectRoot: Self.root)
        set.build += "\numask = \"0027\""
        #expect(try ServiceConfig.parse(toml: set.text).build.umask == 0o027)
        var wrong = ConfigText(projectRoot: Self.root)
        wrong.build += "\numask = \"0999\""
        Self.expectFailure(wrong.text, key: "build.umask")
    }

    @Test(
        arguments: [
            ("127.0.0.1:8080", "127.0.0.1", 8080),
            ("[::1]:9000", "::1", 9000),
            ("0.0.0.0:0", "0.0.0.0", 0),
            ("build.example.com:65535", "build.example.com", 65535),
        ]
    )
    func listenAddressIsSplitIntoHostAndPort(text: String, host: String, port: Int) throws {
        var config = ConfigText(projectRoot: Self.root)
        config.http = "enabled = true\nlisten_addr = \"\(text)\""
        let address = try ServiceConfig.parse(toml: config.text).http.listenAddress
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == text)
    }

    @Test(arguments: ["localhost", "1.2.3.4:70000", "::1:9000", "[::1]", ":8080", "1.2.3.4:", "1.2.3.4:http", "[::1]9000"])
    func malformedListenAddressIsRejected(text: String) {
        var config = ConfigText(projectRoot: Self.root)
        config.http = "enabled = true\nlisten_addr = \"\(text)\""
        Self.expectFailure(config.text, key: "service.http.listen_addr")
    }

    @Test(
        arguments: [("warning", LogLevelName.warn), ("warn", .warn), ("DEBUG", .debug), ("trace", .trace), ("error", .error)]
            as [(String, LogLevelName)]
    )
    func logLevelIsRead(text: String, level: LogLevelName) throws {
        var config = ConfigText(projectRoot: Self.root)
        config.logging = "level = \"\(text)\""
        #expect(try ServiceConfig.parse(toml: config.text).logging.level == level)
    }

    @Test func unknownLogLevelIsRejected() {
        var config = ConfigText(projectRoot: Self.root)
        config.logging = #"level = "loud""#
        Self.expectFailure(config.text, key: "logging.level")
    }

    @Test func httpAuthTypeOtherThanBearerIsRejected() {
        var config = ConfigText(projectRoot: Self.root)
        config.httpAuth = #"type = "basic""#
        Self.expectFailure(config.text, key: "service.http.auth.type")
    }

    @Test func tokenWithWhitespaceIsRejectedByIndex() {
        var config = ConfigText(projectRoot: Self.root)
        config.socketAuth = #"tokens = ["good-token", "bad token"]"#
        Self.expectFailure(config.text, key: "service.socket.auth.tokens[1]")
    }

    @Test func projectWithoutIdIsRejected() {
        var config = ConfigText(projectRoot: Self.root)
        config.projects[0] = #"path_root = "/x""# + "\ncommands = [\"make\"]"
        Self.expectFailure(config.text, key: "projects[0].id")
    }

    @Test func unknownProjectTypeIsRejected() {
        var config = ConfigText(projectRoot: Self.root)
        config.projects.append("id = \"other\"\ntype = \"git\"")
        Self.expectFailure(config.text, key: "projects[1].type")
    }

    @Test func invalidTOMLIsRejectedWithoutAKey() throws {
        let error = try #require(Self.failure("schema_version = \"2\"\n[service.socket\nenabled = true"))
        #expect(error.key == nil)
        #expect(error.description.contains("TOML"))
    }
}
