import Foundation

/// A real `build-service` process on a temporary config: a Unix socket in a short temp path,
/// HTTP on a free loopback port, and one path project with a Makefile and helper scripts.
final class DaemonUnderTest: @unchecked Sendable {
    struct Options {
        var socketMode = "0660"
        var socketGroup: String?
        var socketAuthTokens: [String]?
        var httpAuthTokens: [String]?
        var defaultTimeoutSec = 60
        var maxTimeoutSec = 600
        var environmentAllow = ["PATH", "LANG"]
        var runAsUser: String?
        var sendTimeoutSec: Int?
        /// More lines for `[service.http]`.
        var httpExtra = ""
        /// Serves HTTPS instead of HTTP.
        var tls: TLSOptions?
        /// The whole `[service.http.auth]` body, for token entries (wins over httpAuthTokens).
        var httpAuthTOML: String?
        /// Artifact patterns of the "demo" project.
        var artifacts: [String] = []
        /// Extra `[artifacts]` lines (ttl_sec, max_bytes, gc_interval_sec…).
        var artifactSettings = ""
        /// More `[[projects]]` entries, as TOML.
        var extraProjects = ""
        /// Lifecycle lines of `[build]`. By default builds do not queue, a vanished client's
        /// build is cancelled at once, and shutdown waits briefly: what most tests need;
        /// `LifecycleTests` set their own.
        var lifecycle = "max_concurrent = 16\nreattach_grace_sec = 0\nshutdown_grace_sec = 2"
        /// `max_concurrent` of the "demo" path project (the daemon's default would be 1).
        var demoMaxConcurrent = 16
        /// More keys of the demo project (`pass_environment = [...]`).
        var demoExtra = ""
        /// More environment for the daemon (NOTIFY_SOCKET…).
        var environment: [String: String] = [:]
        /// More `[build.*]` tables (`[build.make]`, `[build.limits]`), as TOML.
        var buildTables = ""
        /// More lines for `[service]` (max_connections…).
        var serviceExtra = ""
        /// The daemon's open-file limit (soft, hard), set with prlimit(1) as it starts.
        var openFiles: (soft: Int, hard: Int)?
        /// The daemon's own umask (octal digits), as a unit's `UMask=` sets it.
        var daemonUmask: String?
        /// The socket's file name in the daemon's directory (the package's name, for a
        /// container that mounts the directory as /run/build-service).
        var socketName = "bs.sock"
    }

    struct TLSOptions {
        var certificates: TestCertificates
        /// Extra `[service.http.tls]` lines (client_auth, min_version…).
        var extra = ""
    }

    let directory: String
    let projectRoot: String
    let socketPath: String
    let configPath: String
    /// `artifacts.storage_root`.
    var storageRoot: String { directory + "/artifacts" }
    /// Allowed as command "vanishing".
    var vanishingCommand: String { directory + "/vanishing.sh" }
    private(set) var port = 0
    private var running: RunningProcess?
    let tls: TLSOptions?
    private let extraEnvironment: [String: String]
    private let openFiles: (soft: Int, hard: Int)?
    private let daemonUmask: String?

    /// `https://localhost:PORT` when TLS is on (the name the test certificate carries).
    var httpBase: String { tls == nil ? "http://127.0.0.1:\(port)" : "https://localhost:\(port)" }

    /// Commands every test daemon allows.
    static let commands = [
        "make": "/usr/bin/make", "sh": "/bin/sh", "sleep": "/bin/sleep", "env": "/usr/bin/env",
        "seq": "/usr/bin/seq", "true": "/bin/true", "cat": "/bin/cat", "printf": "/usr/bin/printf",
    ]

    init(_ options: Options = Options()) async throws {
        directory = try Self.makeTemporaryDirectory()
        projectRoot = directory + "/project"
        socketPath = directory + "/" + options.socketName
        configPath = directory + "/config.toml"
        tls = options.tls
        extraEnvironment = options.environment
        openFiles = options.openFiles
        daemonUmask = options.daemonUmask
        try Self.writeProject(at: projectRoot)
        // An allowed command a test can delete while the daemon runs.
        try "#!/bin/sh\necho still here\n".write(toFile: vanishingCommand, atomically: false, encoding: .utf8)
        chmod(vanishingCommand, 0o755)
        try config(options).write(toFile: configPath, atomically: false, encoding: .utf8)
        try await start()
    }

    private func config(_ options: Options) -> String {
        func list(_ values: [String]) -> String { "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
        var text = """
            schema_version = "2"
            [service]
            \(options.sendTimeoutSec.map { "send_timeout_sec = \($0)" } ?? "")
            \(options.serviceExtra)
            [service.socket]
            enabled = true
            path = "\(socketPath)"
            mode = "\(options.socketMode)"

            """
        if let group = options.socketGroup { text += "group = \"\(group)\"\n" }
        if let tokens = options.socketAuthTokens { text += "[service.socket.auth]\nrequired = true\ntokens = \(list(tokens))\n" }
        text += """
            [service.http]
            enabled = true
            listen_addr = "127.0.0.1:0"
            \(options.httpExtra)

            """
        if let auth = options.httpAuthTOML {
            text += "[service.http.auth]\n\(auth)\n"
        } else if let tokens = options.httpAuthTokens {
            text += "[service.http.auth]\ntype = \"bearer\"\nrequired = true\ntokens = \(list(tokens))\n"
        }
        if let tls = options.tls {
            text += """
                [service.http.tls]
                enabled = true
                cert_path = "\(tls.certificates.directory)/server.pem"
                key_path = "\(tls.certificates.directory)/server.key"
                \(tls.extra)

                """
        }
        text += """
            [build]
            workspace_root = "\(directory)/workspaces"
            \(options.runAsUser.map { "run_as_user = \"\($0)\"" } ?? "allow_root_builds = true")
            \(options.lifecycle)
            [build.commands]
            \(Self.commands.sorted { $0.key < $1.key }.map { "\($0.key) = \"\($0.value)\"" }.joined(separator: "\n"))
            vanishing = "\(vanishingCommand)"
            [build.timeouts]
            default_sec = \(options.defaultTimeoutSec)
            max_sec = \(options.maxTimeoutSec)
            [build.environment]
            allow = \(list(options.environmentAllow))
            \(options.buildTables)
            [artifacts]
            storage_root = "\(storageRoot)"
            \(options.artifactSettings)
            [[projects]]
            id = "demo"
            type = "path"
            path_root = "\(projectRoot)"
            commands = \(list(Self.commands.keys.sorted() + ["vanishing"]))
            artifacts = \(list(options.artifacts))
            max_concurrent = \(options.demoMaxConcurrent)
            \(options.demoExtra)
            [[projects]]
            id = "other"
            type = "path"
            path_root = "\(projectRoot)"
            commands = ["true"]
            \(options.extraProjects)

            """
        return text
    }

    /// Starts the daemon and waits until both listeners are up.
    func start() async throws {
        // prlimit execs the daemon: the process (and its pid) is the daemon's.
        var (executable, arguments) =
            openFiles.map { limit in
                ("/usr/bin/prlimit", ["--nofile=\(limit.soft):\(limit.hard)", "--", TestProcess.binary("build-service"), "--config", configPath])
            } ?? (TestProcess.binary("build-service"), ["--config", configPath])
        // The shell execs it too, with that umask.
        if let daemonUmask { (executable, arguments) = ("/bin/sh", ["-c", "umask \(daemonUmask); exec \"$0\" \"$@\"", executable] + arguments) }
        let process = try TestProcess.start(
            executable,
            arguments,
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "NOT_ALLOWED": "secret"].merging(extraEnvironment) { $1 },
            outputDirectory: directory
        )
        running = process
        let started = await eventually {
            let log = process.stderrSoFar
            guard let range = log.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return false }
            port = Int(log[range].split(separator: ":").last!)!
            return FileManager.default.fileExists(atPath: socketPath)
        }
        guard started else {
            throw DaemonError("build-service did not start: \(process.stderrSoFar)")
        }
    }

    /// SIGTERM, then waits for the daemon to exit; returns its exit status.
    @discardableResult
    func stop() async -> Int32 {
        guard let running else { return 0 }
        self.running = nil
        running.signal(SIGTERM)
        return await running.wait().status
    }

    /// Waits for the daemon to exit by itself (after a signal the test sent); returns its status.
    @discardableResult
    func waitForExit() async -> Int32 {
        guard let running else { return 0 }
        self.running = nil
        return await running.wait().status
    }

    var log: String { running?.stderrSoFar ?? "" }

    /// The daemon's process id while it runs.
    var pid: Int32? { running?.pid }

    /// Sends `signal` to the daemon (SIGHUP to reload).
    func signal(_ signal: Int32) {
        running?.signal(signal)
    }

    /// Runs a second daemon on the same config to its end (it is expected to refuse to start).
    func runAnotherDaemon() async throws -> ProcessResult {
        try await TestProcess.run(TestProcess.binary("build-service"), ["--config", configPath], outputDirectory: directory)
    }

    /// Runs build-cli against this daemon over the socket (default) or HTTP.
    func cli(
        _ arguments: [String],
        overHTTP: Bool = false,
        environment extra: [String: String] = [:],
        currentDirectory: String? = nil
    ) async throws -> ProcessResult {
        var arguments = arguments
        arguments.insert(contentsOf: overHTTP ? ["--endpoint", httpBase] : ["--socket", socketPath], at: 0)
        if overHTTP, let tls, !arguments.contains("--cacert") {
            arguments.insert(contentsOf: ["--cacert", tls.certificates.caPath], at: 0)
        }
        var environment = ["PATH": "/usr/bin:/bin"]
        environment.merge(extra) { $1 }
        return try await TestProcess.run(
            TestProcess.binary("build-cli"),
            arguments,
            environment: environment,
            currentDirectory: currentDirectory ?? projectRoot,
            outputDirectory: directory
        )
    }

    /// Sends `request` in the original one-line framing with socat, which half-closes after it
    /// (`-t 30`: socat otherwise closes the whole connection 0.5 s after its input ends).
    func legacy(_ request: String) async throws -> ProcessResult {
        try await TestProcess.run(
            "/usr/bin/socat",
            ["-t", "30", "-", "UNIX-CONNECT:\(socketPath)"],
            stdin: Data((request + "\n").utf8),
            outputDirectory: directory
        )
    }

    /// POSTs `body` with curl over HTTP (or the socket) and returns status line + body.
    func curl(
        _ body: String,
        path: String = "/v1/builds",
        method: String = "POST",
        overSocket: Bool = false,
        headers: [String] = [],
        curlArguments: [String] = []
    ) async throws -> (status: Int, body: String, headers: String) {
        let headerFile = directory + "/headers-\(UUID().uuidString)"
        var arguments = ["-sS", "-N", "-X", method, "-D", headerFile, "-o", "-"] + curlArguments
        if let tls, !overSocket { arguments += ["--cacert", tls.certificates.caPath] }
        if overSocket { arguments += ["--unix-socket", socketPath] }
        for header in headers { arguments += ["-H", header] }
        if method == "POST" { arguments += ["--data-binary", "@-"] }
        arguments.append((overSocket ? "http://localhost" : httpBase) + path)
        let result = try await TestProcess.run(
            "/usr/bin/curl",
            arguments,
            stdin: Data(body.utf8),
            outputDirectory: directory
        )
        let head = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, result.stdoutText, head)
    }

    deinit {
        running?.signal(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func makeTemporaryDirectory() throws -> String {
        // Short, because a Unix socket path must fit in 107 bytes.
        var template = Array("/tmp/bs-e2e-XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else { throw DaemonError("mkdtemp failed") }
        // Readable by a run-as user, as a real project tree would be.
        chmod(pointer, 0o755)
        return String(cString: pointer)
    }

    private static func writeProject(at root: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: root + "/sub/deeper", withIntermediateDirectories: true)
        try """
        all:
        \t@echo "building in $$(pwd)"
        \t@echo "to stderr" >&2
        \t@echo "done"
        fail:
        \t@exit 7
        where:
        \t@pwd
        show:
        \t@echo "V=$(V)"
        compile:
        \t@$(CC) --version
        flags:
        \t@echo $(MAKEFLAGS)
        %.txt:
        \t@echo made $@ > $@

        """.write(toFile: root + "/Makefile", atomically: false, encoding: .utf8)
        try "here:\n\t@echo sub-makefile $$(pwd)\n".write(toFile: root + "/sub/Makefile", atomically: false, encoding: .utf8)
    }
}

struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One parsed NDJSON line of a response.
typealias EventLine = [String: Any]

func parseEvents(_ text: String) throws -> [EventLine] {
    try text.split(separator: "\n").map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? EventLine else {
            throw DaemonError("not a JSON object: \(line)")
        }
        return object
    }
}

/// Builds a request body (as JSON text) the way a hand-written client would.
func requestJSON(_ fields: [String: Any]) -> String {
    var fields = fields
    if fields["project_id"] == nil { fields["project_id"] = "demo" }
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
