import BuildServiceTLS
public import Foundation
import TOMLKit

/// Reading the config file. Every key, with its type and default:
///
/// ```
/// schema_version                 string, required, must be "2"
/// [service]         send_timeout_sec int 60 (a client leaving writes unread this long is dropped);
///                   max_connections int (TCP connections at once; from RLIMIT_NOFILE: half, at most 8192)
/// [service.socket]  enabled      bool    true
///                   path         string  "/run/build-service.sock"
///                   group        string  (daemon's group)
///                   mode         string  "0660" (octal)
/// [service.socket.auth] required bool false; tokens [token] []; tokens_file string
/// [service.http]    enabled      bool    false
///                   listen_addr  string  "127.0.0.1:8080"
///                   header_timeout_sec int 15 (a request's head, from its first byte);
///                   body_timeout_sec int 60 (its body, from the head);
///                   min_body_bytes_per_sec int 1024 (0: none); max_connections_per_ip int 64;
///                   public_url string (how people reach this listener, https://host:port: the start
///                   of build page links; unset: as each client addressed it, path-only on the socket)
/// [service.http.auth] type "bearer"; required bool false; tokens [token] []; tokens_file string;
///                   allow_plaintext_http bool false
///   token: "secret" or { token = "secret" | token_sha256 = "hex", name = string, projects = [string],
///          admin = bool (sees and cancels every build) }
/// [service.metrics] auth_required bool true (GET /metrics needs a token where the listener has auth)
/// [service.http.tls] enabled bool false; cert_path, key_path, ca_path string; min_version "1.2"|"1.3";
///                   client_ca_path string; client_auth "none"|"optional"|"required" ("none")
/// [build]           workspace_root string "/var/lib/build-service/workspaces"
///                   run_as_user, run_as_group  string (unset: the daemon's user)
///                   umask        string  "0022" (octal; the builds' own, whatever the daemon's)
///                   allow_root_builds bool false (a root daemon without run_as_user refuses to start)
///                   git_path string "/usr/bin/git" (repo projects); mirror_user string (daemon's user)
///                   max_concurrent int (CPUs); max_queued int 100; event_buffer_bytes int 8 MiB;
///                   retain_sec int 3600; retained_event_bytes int 8 MiB; reattach_grace_sec int 30;
///                   shutdown_grace_sec int 30; max_args_bytes int 64 KiB; max_args int 4096;
///                   max_retained int 10000; max_retained_per_token int 1000
/// [build.commands]  NAME = "/absolute/path" (any arguments; make gets make's policy), or
///                   NAME = { path = "/absolute/path", args = ["pattern", …] } (each argument must
///                   match a pattern: `*` any run, `?` one character, `\\` escapes)
/// [build.limits]    nofile, nproc, cpu_sec, as_bytes, fsize_bytes int (unset: the daemon's);
///                   core_bytes int 0 (setrlimit on each build; nproc counts the run-as user's processes)
/// [build.make]      allowed_variables [string] [] (command-line variables a request may set);
///                   allowed_targets [pattern] (any plain relative name); max_jobs int (CPUs × 2);
///                   allow_space_in_values bool false
/// [build.timeouts]  default_sec int 600; max_sec int 1800
/// [build.environment] allow [string] (the original's: PATH HOME USER LANG CC CXX CFLAGS CXXFLAGS
///                   LDFLAGS PKG_CONFIG_PATH MAKEFLAGS)
/// [artifacts]       storage_root string "/var/lib/build-service/artifacts"; public_base_url string;
///                   ttl_sec int 86400; gc_interval_sec int 3600; max_bytes int 10 GiB;
///                   signing_key_file string (<storage_root>.signing-key); url_ttl_sec int 3600
/// [[projects]]      id string; type "path"|"repo"; path_root; repo_url; repo_ref; repo_subdir; allowed_refs [ref pattern];
///                   commands [string]; artifacts [string] []; max_concurrent int (path 1, repo unlimited);
///                   pass_environment [string] []
/// [projects.make]   allowed_variables [string], allowed_targets [pattern]: replace build.make's lists
/// [logging]         level "info"; directory string; max_bytes int 10 MiB; max_files int 5; console bool true
/// ```
///
/// Every number has a range, checked here (`ConfigBounds`): seconds 1 to 30 days (graces from
/// 0, artifact lifetimes to 10 years), concurrency 1 to 4096, queue and connections 1 to
/// 1,000,000, bytes 1 to 1 PiB (`retained_event_bytes` from 0, `event_buffer_bytes` from
/// 64 KiB), a body rate 0 to 1 GiB/s, log files 1 to 1000, a request's arguments 1 to 65,536
/// and 1 byte to 1 MiB (the request body's own limit).
extension ServiceConfig {
    /// Loads and validates the config file at `path`.
    /// - Parameter sandbox: parses the text in a child process first, so that a parser crash
    ///   is an error here and not the end of this process (the daemon and `check-config` pass one).
    /// - Throws: `ConfigError` naming the file and the offending key.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        sandbox: TOMLParserSandbox? = nil
    ) throws(ConfigError) -> ServiceConfig {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw ConfigError(
                file: path,
                key: nil,
                "cannot read the config file: \(error.reason) (give another with --config or BUILD_SERVICE_CONFIG; config/config.toml is a sample)"
            )
        }
        if let nul = text.utf8.firstIndex(of: 0) {
            // The TOML parser would stop reading there and silently ignore the rest.
            let offset = text.utf8.distance(from: text.utf8.startIndex, to: nul)
            throw ConfigError(file: path, key: nil, "the file contains a NUL byte at offset \(offset); a config is text")
        }
        do {
            try sandbox?.check(text)
            var config = try parse(toml: text)
            try config.socket.auth.loadTokensFile(key: "service.socket.auth.tokens_file")
            try config.http.auth.loadTokensFile(key: "service.http.auth.tokens_file")
            if let level = environment["BUILD_SERVICE_LOG_LEVEL"], !level.isEmpty {
                config.logging.level = try parseLogLevel(level, key: "BUILD_SERVICE_LOG_LEVEL")
            }
            try config.validate()
            return config
        } catch {
            var error = error
            error.file = path
            throw error
        }
    }

    /// The stack the TOML parser runs on in this process: the sandbox's child parses on
    /// `sandboxParserStackBytes`, an eighth of it, so text the child survived cannot overflow
    /// this one (the parser recurses once per part of a dotted key). 32 MiB keeps a 27,500-part
    /// key parseable under the sanitizers too, whose frames are several times larger. Only the
    /// pages the parser touches are ever used.
    public static let parserStackBytes = 256 << 20
    public static let sandboxParserStackBytes = 32 << 20

    /// Parses TOML text into a config without touching the file system.
    public static func parse(toml text: String, parserStackBytes: Int = parserStackBytes) throws(ConfigError) -> ServiceConfig {
        let root: TOMLTable
        do {
            root = try ThreadWithStack.run(stackBytes: parserStackBytes) { try TOMLTable(string: text) }
        } catch let error as TOMLParseError {
            throw ConfigError(key: nil, "invalid TOML at \(error.source.begin): \(error.description)")
        } catch {
            throw ConfigError(key: nil, "invalid TOML: \(error)")
        }
        do {
            return try parse(TOMLTableReader(root, path: ""))
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(key: nil, "\(error)")
        }
    }

    private static func parse(_ root: TOMLTableReader) throws -> ServiceConfig {
        guard let schema = try root.string("schema_version") else {
            throw ConfigError(key: "schema_version", "missing; this daemon reads schema_version = \"2\"")
        }
        guard schema == "2" else {
            throw ConfigError(key: "schema_version", "\"\(schema)\" is not supported; this daemon reads \"2\"")
        }
        var socket = SocketListenerConfig()
        var http = HTTPListenerConfig()
        var sendTimeoutSec = 60
        var metricsAuthRequired = true
        var maxConnections: Int?
        if let service = try root.table("service") {
            sendTimeoutSec = try service.int("send_timeout_sec", in: ConfigBounds.seconds) ?? sendTimeoutSec
            maxConnections = try service.int("max_connections", in: ConfigBounds.connections)
            if let table = try service.table("socket") { socket = try parseSocket(table) }
            if let table = try service.table("http") { http = try parseHTTP(table) }
            if let table = try service.table("metrics") {
                metricsAuthRequired = try table.bool("auth_required") ?? metricsAuthRequired
                try table.rejectUnknownKeys()
            }
            try service.rejectUnknownKeys()
        }
        let build = try root.table("build").map(parseBuild) ?? BuildSettings()
        let artifacts = try root.table("artifacts").map(parseArtifacts) ?? ArtifactSettings()
        let projects = try (root.tableArray("projects") ?? []).map(parseProject)
        let logging = try root.table("logging").map(parseLogging) ?? LoggingSettings()
        try root.rejectUnknownKeys()
        return ServiceConfig(
            socket: socket,
            sendTimeoutSec: sendTimeoutSec,
            metricsAuthRequired: metricsAuthRequired,
            maxConnections: maxConnections,
            http: http,
            build: build,
            artifacts: artifacts,
            projects: projects,
            logging: logging
        )
    }

    /// A string of three or four octal digits (`"0660"`, `"022"`), as chmod and umask write them.
    private static func permissionBits(_ table: TOMLTableReader, _ key: String, example: String) throws -> UInt32? {
        guard let text = try table.string(key) else { return nil }
        guard (3...4).contains(text.count), text.allSatisfy({ ("0"..."7").contains($0) }), let bits = UInt32(text, radix: 8), bits <= 0o777
        else {
            throw ConfigError(key: table.keyPath(key), "\"\(text)\" is not a permission mode; write octal digits such as \"\(example)\"")
        }
        return bits
    }

    private static func parseSocket(_ table: TOMLTableReader) throws -> SocketListenerConfig {
        var socket = SocketListenerConfig()
        socket.enabled = try table.bool("enabled") ?? socket.enabled
        socket.path = try table.string("path") ?? socket.path
        socket.group = try table.string("group")
        socket.mode = try permissionBits(table, "mode", example: "0660") ?? socket.mode
        if let auth = try table.table("auth") { socket.auth = try parseAuth(auth, allowsType: false) }
        try table.rejectUnknownKeys()
        return socket
    }

    private static func parseHTTP(_ table: TOMLTableReader) throws -> HTTPListenerConfig {
        var http = HTTPListenerConfig()
        http.enabled = try table.bool("enabled") ?? http.enabled
        if let address = try table.string("listen_addr") {
            http.listenAddress = try parseListenAddress(address, key: table.keyPath("listen_addr"))
            http.listenAddressGiven = true
        }
        http.headerTimeoutSec = try table.int("header_timeout_sec", in: ConfigBounds.seconds) ?? http.headerTimeoutSec
        http.bodyTimeoutSec = try table.int("body_timeout_sec", in: ConfigBounds.seconds) ?? http.bodyTimeoutSec
        http.minBodyBytesPerSec = try table.int("min_body_bytes_per_sec", in: ConfigBounds.bytesPerSecond) ?? http.minBodyBytesPerSec
        http.maxConnectionsPerIP = try table.int("max_connections_per_ip", in: ConfigBounds.connections) ?? http.maxConnectionsPerIP
        if var url = try table.string("public_url") {
            while url.hasSuffix("/") { url.removeLast() }
            http.publicURL = url
        }
        if let auth = try table.table("auth") { http.auth = try parseAuth(auth, allowsType: true) }
        if let tls = try table.table("tls") { http.tls = try parseTLS(tls) }
        try table.rejectUnknownKeys()
        return http
    }

    private static func parseTLS(_ table: TOMLTableReader) throws -> TLSSettings {
        var tls = TLSSettings()
        tls.enabled = try table.bool("enabled") ?? false
        tls.certPath = try table.string("cert_path")
        tls.keyPath = try table.string("key_path")
        tls.caPath = try table.string("ca_path")
        if let version = try table.string("min_version") {
            guard let parsed = TLSServerConfiguration.MinimumVersion(rawValue: version) else {
                throw ConfigError(key: table.keyPath("min_version"), "\"\(version)\" is not supported; use \"1.2\" or \"1.3\"")
            }
            tls.minVersion = parsed
        }
        tls.clientCAPath = try table.string("client_ca_path")
        if let policy = try table.string("client_auth") {
            guard let parsed = TLSServerConfiguration.ClientAuth(rawValue: policy) else {
                throw ConfigError(key: table.keyPath("client_auth"), "\"\(policy)\" is not a policy; use \"none\", \"optional\" or \"required\"")
            }
            tls.clientAuth = parsed
        }
        try table.rejectUnknownKeys()
        return tls
    }

    private static func parseAuth(_ table: TOMLTableReader, allowsType: Bool) throws -> AuthSettings {
        var auth = AuthSettings()
        if allowsType, let type = try table.string("type"), type != "bearer" {
            throw ConfigError(key: table.keyPath("type"), "\"\(type)\" is not supported; use \"bearer\"")
        }
        auth.required = try table.bool("required") ?? false
        auth.tokens = try (table.stringOrTableArray("tokens") ?? []).enumerated().map { index, element in
            switch element {
            case .string(let token):
                return AuthToken(secret: try parseSecret(token, key: "\(table.keyPath("tokens"))[\(index)]"))
            case .table(let entry):
                return try parseTokenEntry(entry)
            }
        }
        auth.tokensFile = try table.string("tokens_file")
        if allowsType { auth.allowPlaintextHTTP = try table.bool("allow_plaintext_http") ?? false }
        try table.rejectUnknownKeys()
        return auth
    }

    /// `{ token = "…" | token_sha256 = "<hex>", name = "…", projects = ["…"] }`
    private static func parseTokenEntry(_ entry: TOMLTableReader) throws -> AuthToken {
        let plain = try entry.string("token")
        let digest = try entry.string("token_sha256")
        let secret: AuthToken.Secret
        switch (plain, digest) {
        case (let token?, nil):
            secret = try parseSecret(token, key: entry.keyPath("token"))
        case (nil, let hex?):
            guard let bytes = parseSHA256Hex(hex) else {
                throw ConfigError(
                    key: entry.keyPath("token_sha256"),
                    "expected 64 hex digits (the SHA-256 of the token, e.g. from `printf %s TOKEN | sha256sum`)"
                )
            }
            secret = .sha256(bytes)
        default:
            throw ConfigError(key: entry.path, "a token entry needs exactly one of token and token_sha256")
        }
        let name = try entry.string("name")
        if let name, name.isEmpty || name.contains(where: { $0.isNewline }) {
            throw ConfigError(key: entry.keyPath("name"), "a token name must be one non-empty line")
        }
        let projects = try entry.stringArray("projects")
        let admin = try entry.bool("admin") ?? false
        try entry.rejectUnknownKeys()
        return AuthToken(secret: secret, name: name, projects: projects, admin: admin)
    }

    static func parseSecret(_ token: String, key: String) throws(ConfigError) -> AuthToken.Secret {
        guard !token.isEmpty, !token.contains(where: \.isWhitespace) else {
            throw ConfigError(key: key, "a token must be non-empty without whitespace")
        }
        return .plain(token)
    }

    static func parseSHA256Hex(_ hex: String) -> [UInt8]? {
        guard hex.utf8.count == 64 else { return nil }
        return Hex.decode(hex)
    }

    static func parseListenAddress(_ text: String, key: String) throws -> ListenAddress {
        let host: Substring
        let port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                throw ConfigError(key: key, "\"\(text)\" needs a port, e.g. \"[::1]:8080\"")
            }
            port = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            throw ConfigError(key: key, "\"\(text)\" is not host:port (write IPv6 as \"[::1]:8080\")")
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else {
            throw ConfigError(key: key, "\"\(text)\" is not host:port with a port from 0 to 65535")
        }
        return ListenAddress(host: String(host), port: number)
    }

    private static func parseBuild(_ table: TOMLTableReader) throws -> BuildSettings {
        var build = BuildSettings()
        build.workspaceRoot = try table.string("workspace_root") ?? build.workspaceRoot
        build.runAsUser = try table.string("run_as_user")
        build.runAsGroup = try table.string("run_as_group")
        build.umask = try permissionBits(table, "umask", example: "0022") ?? build.umask
        build.mirrorUser = try table.string("mirror_user")
        build.allowRootBuilds = try table.bool("allow_root_builds") ?? false
        build.gitPath = try table.string("git_path") ?? build.gitPath
        if let maxConcurrent = try table.int("max_concurrent", in: ConfigBounds.concurrency) {
            build.maxConcurrent = maxConcurrent
            build.maxConcurrentGiven = true
        }
        build.maxQueued = try table.int("max_queued", in: ConfigBounds.queue) ?? build.maxQueued
        build.eventBufferBytes = try table.int("event_buffer_bytes", in: ConfigBounds.eventBuffer) ?? build.eventBufferBytes
        build.retainSec = try table.int("retain_sec", in: ConfigBounds.seconds) ?? build.retainSec
        build.retainedEventBytes = try table.int("retained_event_bytes", in: ConfigBounds.bytesOrNone) ?? build.retainedEventBytes
        build.reattachGraceSec = try table.int("reattach_grace_sec", in: ConfigBounds.secondsOrNone) ?? build.reattachGraceSec
        build.shutdownGraceSec = try table.int("shutdown_grace_sec", in: ConfigBounds.seconds) ?? build.shutdownGraceSec
        build.maxArgsBytes = try table.int("max_args_bytes", in: ConfigBounds.argumentBytes) ?? build.maxArgsBytes
        build.maxArgs = try table.int("max_args", in: ConfigBounds.argumentCount) ?? build.maxArgs
        build.maxRetained = try table.int("max_retained", in: ConfigBounds.queue) ?? build.maxRetained
        build.maxRetainedPerToken = try table.int("max_retained_per_token", in: ConfigBounds.queue) ?? build.maxRetainedPerToken
        if let commands = try table.table("commands") {
            build.commands = [:]
            for name in commands.keys {
                switch try commands.stringOrTable(name) {
                case .string(let path):
                    build.commands[name] = path
                case .table(let entry):
                    guard let path = try entry.string("path") else {
                        throw ConfigError(key: entry.keyPath("path"), "missing; a command table needs the executable's absolute path")
                    }
                    build.commands[name] = path
                    build.commandArgumentPatterns[name] = try parsePatterns(entry, "args")
                    try entry.rejectUnknownKeys()
                case nil:
                    continue
                }
            }
        }
        if let limits = try table.table("limits") {
            func limit(_ key: String) throws -> UInt64? {
                // setrlimit takes any size; only a negative number is a mistake here.
                guard let value = try limits.int(key, in: 0...Int.max) else { return nil }
                return UInt64(value)
            }
            build.limits.nofile = try limit("nofile")
            build.limits.nproc = try limit("nproc")
            build.limits.cpuSec = try limit("cpu_sec")
            build.limits.asBytes = try limit("as_bytes")
            build.limits.fsizeBytes = try limit("fsize_bytes")
            build.limits.coreBytes = try limit("core_bytes") ?? 0
            try limits.rejectUnknownKeys()
        }
        if let make = try table.table("make") {
            build.make.allowedVariables = try make.stringArray("allowed_variables") ?? []
            build.make.allowedTargets = try parsePatterns(make, "allowed_targets")
            build.make.maxJobs = try make.int("max_jobs", in: ConfigBounds.concurrency) ?? build.make.maxJobs
            build.make.allowSpaceInValues = try make.bool("allow_space_in_values") ?? false
            try make.rejectUnknownKeys()
        }
        if let timeouts = try table.table("timeouts") {
            build.defaultTimeoutSec = try timeouts.int("default_sec", in: ConfigBounds.seconds) ?? build.defaultTimeoutSec
            build.maxTimeoutSec = try timeouts.int("max_sec", in: ConfigBounds.seconds) ?? build.maxTimeoutSec
            try timeouts.rejectUnknownKeys()
        }
        if let environment = try table.table("environment") {
            build.environmentAllow = try environment.stringArray("allow") ?? build.environmentAllow
            try environment.rejectUnknownKeys()
        }
        try table.rejectUnknownKeys()
        return build
    }

    private static func parseArtifacts(_ table: TOMLTableReader) throws -> ArtifactSettings {
        var artifacts = ArtifactSettings()
        artifacts.storageRoot = try table.string("storage_root") ?? artifacts.storageRoot
        artifacts.publicBaseURL = try table.string("public_base_url")
        artifacts.ttlSec = try table.int("ttl_sec", in: ConfigBounds.artifactSeconds) ?? artifacts.ttlSec
        artifacts.gcIntervalSec = try table.int("gc_interval_sec", in: ConfigBounds.seconds) ?? artifacts.gcIntervalSec
        artifacts.maxBytes = try table.int("max_bytes", in: ConfigBounds.bytes) ?? artifacts.maxBytes
        artifacts.signingKeyFile = try table.string("signing_key_file")
        artifacts.urlTTLSec = try table.int("url_ttl_sec", in: ConfigBounds.artifactSeconds) ?? artifacts.urlTTLSec
        try table.rejectUnknownKeys()
        return artifacts
    }

    private static func parseProject(_ table: TOMLTableReader) throws -> ProjectConfig {
        guard let id = try table.string("id") else {
            throw ConfigError(key: table.keyPath("id"), "missing; every project needs an id")
        }
        let typeName = try table.string("type") ?? "path"
        guard let kind = ProjectConfig.Kind(rawValue: typeName) else {
            throw ConfigError(key: table.keyPath("type"), "\"\(typeName)\" is not a project type; use \"path\" or \"repo\"")
        }
        let project = ProjectConfig(
            id: id,
            kind: kind,
            pathRoot: try table.string("path_root"),
            repoURL: try table.string("repo_url"),
            repoRef: try table.string("repo_ref"),
            repoSubdir: try table.string("repo_subdir"),
            allowedRefs: try table.stringArray("allowed_refs") ?? [],
            commands: try table.stringArray("commands") ?? [],
            artifacts: try table.stringArray("artifacts") ?? [],
            maxConcurrent: try table.int("max_concurrent", in: ConfigBounds.concurrency),
            passEnvironment: try table.stringArray("pass_environment") ?? [],
            make: try table.table("make").map(parseProjectMake) ?? ProjectMakePolicy()
        )
        try table.rejectUnknownKeys()
        return project
    }

    private static func parseProjectMake(_ table: TOMLTableReader) throws -> ProjectMakePolicy {
        var make = ProjectMakePolicy()
        make.allowedVariables = try table.stringArray("allowed_variables")
        make.allowedTargets = try parsePatterns(table, "allowed_targets")
        try table.rejectUnknownKeys()
        return make
    }

    /// A list of `ArgumentPattern`s, each checked here so a malformed one names its key.
    private static func parsePatterns(_ table: TOMLTableReader, _ key: String) throws -> [ArgumentPattern]? {
        try table.stringArray(key)?.enumerated().map { index, text in
            do throws(ArgumentPattern.PatternError) {
                return try ArgumentPattern(text)
            } catch {
                throw ConfigError(key: "\(table.keyPath(key))[\(index)]", "\"\(text)\" is not a pattern: it \(error.message)")
            }
        }
    }

    private static func parseLogging(_ table: TOMLTableReader) throws -> LoggingSettings {
        var logging = LoggingSettings()
        if let level = try table.string("level") {
            logging.level = try parseLogLevel(level, key: table.keyPath("level"))
        }
        logging.directory = try table.string("directory")
        logging.maxBytes = try table.int("max_bytes", in: ConfigBounds.bytes) ?? logging.maxBytes
        logging.maxFiles = try table.int("max_files", in: ConfigBounds.files) ?? logging.maxFiles
        logging.console = try table.bool("console") ?? logging.console
        try table.rejectUnknownKeys()
        return logging
    }

    static func parseLogLevel(_ text: String, key: String) throws(ConfigError) -> LogLevelName {
        let normalized = text.lowercased() == "warning" ? "warn" : text.lowercased()
        guard let level = LogLevelName(rawValue: normalized) else {
            let names = LogLevelName.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigError(key: key, "\"\(text)\" is not a log level; use one of \(names)")
        }
        return level
    }
}
