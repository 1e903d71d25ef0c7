import ArgumentParser
import BuildClient
import BuildServiceProtocol
import BuildServiceTLS
import FoundationEssentials
import Glibc

/// `build-cli [options] COMMAND [ARGS...]`: runs COMMAND for a project on the build host,
/// relays its output byte-for-byte and exits with its exit code.
@main
struct BuildCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-cli",
        abstract: "Run an allow-listed build command on the build host and stream its output.",
        usage: """
            build-cli [OPTIONS] [--] COMMAND [ARGS...]
              build-cli [OPTIONS] status|attach|cancel|download|link BUILD_ID
              build-cli [OPTIONS] list [--project P] [--state S]
              build-cli help [status|attach|cancel|list|download|link]
              build-cli --version
            """,
        discussion: """
            Everything from COMMAND on is passed to the service untouched, including arguments \
            that start with '-' (build-cli --project p make -j4 all). Options end at COMMAND (or \
            at --); an unknown option before it is a usage error.

            Ctrl-C cancels the remote build (exit 130); a second Ctrl-C leaves at once. If the \
            connection drops, build-cli re-attaches to the build for 30 s without losing or repeating output.

            Builds by id: build-cli status ID (--json for the document), build-cli cancel ID, build-cli attach ID \
            (follow its output), build-cli download ID (its artifacts), build-cli link ID (a fresh link to its page); \
            build-cli list shows the newest. A project command named like a verb runs after --.

            After a build's output, build-cli prints its id, its page link and its artifacts' links on \
            stderr (not with --quiet or --json).

            --json (for agents): stdout carries the service's NDJSON events unchanged, one a line, then \
            {"type":"summary",...} with the build id, exit code, artifacts and page_url; build output is in the \
            stdout/stderr events, messages stay on stderr.

            Environment: BUILD_SERVICE_PROJECT, BUILD_SERVICE_SOCKET, BUILD_SERVICE_ENDPOINT, BUILD_SERVICE_TOKEN, \
            BUILD_SERVICE_TOKEN_FILE, BUILD_SERVICE_CACERT, BUILD_SERVICE_CLIENT_CERT, BUILD_SERVICE_CLIENT_KEY, \
            BUILD_SERVICE_DOWNLOAD_DIR. Over https the server's certificate is always verified, host name \
            included, against the system trust store or --cacert.

            Exit status: the build's exit code (124 on timeout, 130 when cancelled); build-cli's own \
            failures use sysexits codes, never 1 or 2: 64 usage; 65 the request was refused as invalid \
            or not allowed, or a download failed its check; 69 the service cannot be reached or the \
            connection broke; 75 the service is busy or stopping (try again); 76 TLS failed or the \
            answer is not the protocol; 77 the token is missing, wrong or not allowed this project; \
            78 the service's own setup failed (path_root_invalid, run_as_user...).
            """,
        // Not `version:`: the parser would compute it on every run, and naming OpenSSL's version
        // loads OpenSSL (see CShims/openssl/openssl_loader.c), which a build over the socket
        // never needs. `--version` is answered in `validate`.
    )

    /// `build-cli --version`.
    static var versionLine: String {
        BuildServiceVersion.line(program: "build-cli", openSSL: OpenSSLLibrary.versionText)
    }

    @Option(help: "Project id (default: $BUILD_SERVICE_PROJECT).")
    var project: String?

    @Option(help: "Timeout in seconds (the service clamps it to its maximum).")
    var timeout: Int?

    @Option(
        help:
            "Unix socket of the service (default: $BUILD_SERVICE_SOCKET, else /run/build-service/build.sock if /run/build-service exists, else /run/build-service.sock)."
    )
    var socket: String?

    @Option(help: "HTTP(S) URL of the service (default: $BUILD_SERVICE_ENDPOINT); used instead of the socket.")
    var endpoint: String?

    @Flag(
        help: """
            Speak the original build-service's one-line framing on the socket (also \
            BUILD_SERVICE_PROTOCOL=legacy); used by itself when the socket answers in it.
            """
    )
    var legacy = false

    @Option(help: "Bearer token (default: $BUILD_SERVICE_TOKEN). Every user sees it in ps: prefer --token-file.")
    var token: String?

    @Option(
        name: .customLong("token-file"),
        help: "File holding the bearer token, mode 0600 (default: $BUILD_SERVICE_TOKEN_FILE)."
    )
    var tokenFile: String?

    @Option(help: "CA certificates (PEM) to trust for https instead of the system store (default: $BUILD_SERVICE_CACERT).")
    var cacert: String?

    @Option(name: .customLong("client-cert"), help: "Client certificate (PEM) for services that require one (default: $BUILD_SERVICE_CLIENT_CERT).")
    var clientCert: String?

    @Option(name: .customLong("client-key"), help: "Private key (PEM) of --client-cert (default: $BUILD_SERVICE_CLIENT_KEY).")
    var clientKey: String?

    @Option(help: "After a successful build, download its artifacts into DIR (default: $BUILD_SERVICE_DOWNLOAD_DIR).")
    var download: String?

    @Option(
        name: .customLong("env"),
        help: """
            NAME=VALUE, or NAME to send this variable's value here, for the build's environment \
            (repeatable; $BUILD_SERVICE_ENV lists names to send whenever they are set). The project \
            must list NAME in pass_environment.
            """
    )
    var env: [String] = []

    @Flag(help: "--download: replace a file that differs from its artifact (default: refuse, exit 73).")
    var force = false

    @Flag(name: .customLong("no-clobber"), help: "--download: keep a file that differs from its artifact (default: refuse, exit 73).")
    var noClobber = false

    @Option(help: "Git ref to build (repo projects only).")
    var ref: String?

    @Option(help: "Working directory, relative to the project root or absolute (default over the socket: the current directory).")
    var cwd: String?

    @Option(
        name: .customLong("stall-timeout"),
        help: "Seconds without a byte (heartbeats included) after which the connection is taken for dead and the build re-attached."
    )
    var stallTimeout: Int = 45

    @Option(
        name: .customLong("request-id"),
        help: "A label for the build, logged and shown in its status; never makes two requests one."
    )
    var requestID: String?

    @Option(
        name: .customLong("idempotency-key"),
        help: """
            The same key again (same token, within the service's retain_sec) gives that build \
            instead of starting another. One is made up when not given.
            """
    )
    var idempotencyKey: String?

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Say the build id at the start and how long it took at the end (on stderr).")
    var verbose = false

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Leave out the build id, page link and artifact links printed after the output.")
    var quiet = false

    @Flag(help: "Show the version.")
    var version = false

    @Flag(help: "Machine mode: the events as NDJSON on stdout, then a summary object; list prints JSON.")
    var json = false

    @Option(help: "list: only builds in this state (queued, running, finished).")
    var state: String?

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
    var command: [String] = []

    func validate() throws {
        // The command captures everything from the first word the parser does not know, so
        // help, version and mistyped options are told apart here.
        if version { throw CleanExit.message(Self.versionLine) }
        if force && noClobber { throw ValidationError("give --force or --no-clobber, not both") }
        let words: CommandLineWords
        do {
            words = try CommandLineWords.parse(command)
        } catch {
            throw ValidationError(error.description)
        }
        switch words {
        case .help(nil): throw CleanExit.helpRequest(self)
        case .help(let verb?): throw CleanExit.message(verb.help)
        case .version: throw CleanExit.message(Self.versionLine)
        case .build, .verb, .list: return
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            let words = try CommandLineWords.parse(command)
            if case .list(let after) = words {
                let client = try makeClient(environment: environment)
                let project = after.project ?? self.project ?? environment["BUILD_SERVICE_PROJECT"].nonEmpty
                try await BuildList.run(client: client, project: project, state: after.state ?? state, json: json || after.json)
                return
            }
            if case .verb(let verb, let id, let after) = words {
                var management = BuildManagement(client: try makeClient(environment: environment), json: json || after.json)
                management.downloadDirectory = after.directory ?? download ?? environment["BUILD_SERVICE_DOWNLOAD_DIR"].nonEmpty ?? "."
                management.existingFiles = existingFiles
                Self.leave(with: try await management.run(verb, buildID: id))
            }
            guard case .build(let command) = words else { return }
            var (client, request) = try makeRequest(command: command, environment: environment)
            if json { client.onEventLine = { line in EventPrinter.write(line + [0x0A], to: STDOUT_FILENO) } }
            let interrupts = InterruptHandler(client: client)
            var outcome = BuildOutcome(verbose: verbose, requestedTimeoutSec: timeout)
            let exit = try await client.run(request) { [json] pipe, bytes in
                if !json { EventPrinter.write(bytes, to: pipe == .stdout ? STDOUT_FILENO : STDERR_FILENO) }
            } onEvent: { [json] event in
                if case .build(let id, _, _, _) = event { interrupts.buildStarted(id) }
                outcome.observe(event)
                if !json { EventPrinter.print(event) }
            }
            outcome.report(exit, cancelledHere: interrupts.cancelRequested)
            if !quiet, !json { outcome.printLinks(exit) }
            if json { JSONSummary.write(exit, buildID: outcome.buildID, pageURL: exit.pageURL ?? outcome.pageURL) }
            if exit.code == 0, !exit.artifacts.isEmpty, let directory = download ?? environment["BUILD_SERVICE_DOWNLOAD_DIR"].nonEmpty {
                try await ArtifactDownloader.forCLI(client: client, directory: directory, existingFiles: existingFiles).download(exit.artifacts)
            }
            guard (0...255).contains(exit.code) else {
                // A code no process can exit with: passing it on truncated (256 -> 0) would lie.
                throw ClientError.protocolViolation("the exit event's code \(exit.code) is outside 0-255")
            }
            Self.leave(with: Int32(exit.code))
        } catch let error as ClientError {
            let tokenGiven =
                token != nil || tokenFile != nil || environment["BUILD_SERVICE_TOKEN"].nonEmpty != nil
                || environment["BUILD_SERVICE_TOKEN_FILE"].nonEmpty != nil
            let endpoint = try? resolveEndpoint(environment: environment)
            let hint = NextStep.hint(for: error, tokenGiven: tokenGiven, endpoint: endpoint)
            EventPrinter.complain(error.description + (hint.map { "; " + $0 } ?? ""))
            Self.leave(with: error.exitStatus)
        }
    }

    /// Ends the process with `code` at once. Thrown as ArgumentParser's `ExitCode` instead, the
    /// code would pass through its error reporting, which builds the command's help model
    /// (reflection over every option) before it exits: half a millisecond of every build's run.
    /// `exit` flushes stdio as that path does.
    private static func leave(with code: Int32) -> Never {
        Glibc.exit(code)
    }

    /// `--force` / `--no-clobber` for downloads.
    private var existingFiles: ArtifactDownloader.ExistingFiles { force ? .replace : noClobber ? .keep : .refuse }

    private func makeRequest(command: [String], environment: [String: String]) throws(ClientError) -> (BuildServiceClient, BuildRequest) {
        guard let name = command.first else {
            throw ClientError.usage("no command given; usage: build-cli --project ID COMMAND [ARGS...] (build-cli --help)")
        }
        guard let projectID = project ?? environment["BUILD_SERVICE_PROJECT"].nonEmpty else {
            throw ClientError.usage("no project given; use --project or set BUILD_SERVICE_PROJECT")
        }
        var workingDirectory = cwd
        if self.endpoint == nil, environment["BUILD_SERVICE_ENDPOINT"].nonEmpty == nil, workingDirectory == nil {
            // On the socket the client shares the host's paths, so "here" is meaningful.
            workingDirectory = FileManager.default.currentDirectoryPath
        }
        let client = try makeClient(environment: environment)
        let request = BuildRequest(
            requestID: requestID,
            idempotencyKey: idempotencyKey,
            projectID: projectID,
            command: name,
            args: Array(command.dropFirst()),
            cwd: workingDirectory,
            timeoutSec: timeout,
            ref: ref,
            env: try ForwardedEnvironment.collect(options: env, environment: environment)
        )
        return (client, request)
    }

    private func resolveEndpoint(environment: [String: String]) throws(ClientError) -> Endpoint {
        if let url = self.endpoint ?? environment["BUILD_SERVICE_ENDPOINT"].nonEmpty {
            return try Endpoint.parse(url: url)
        }
        return (socket ?? environment["BUILD_SERVICE_SOCKET"].nonEmpty).map { .unixSocket(path: $0) } ?? .defaultSocket()
    }

    private func makeClient(environment: [String: String]) throws(ClientError) -> BuildServiceClient {
        let endpoint = try resolveEndpoint(environment: environment)
        let tls = TLSClientConfiguration(
            trustedCAPath: cacert ?? environment["BUILD_SERVICE_CACERT"].nonEmpty,
            certificatePath: clientCert ?? environment["BUILD_SERVICE_CLIENT_CERT"].nonEmpty,
            privateKeyPath: clientKey ?? environment["BUILD_SERVICE_CLIENT_KEY"].nonEmpty
        )
        guard (3...3600).contains(stallTimeout) else { throw ClientError.usage("--stall-timeout must be from 3 to 3600 seconds") }
        var client = BuildServiceClient(endpoint: endpoint, token: try bearerToken(environment: environment), tls: tls)
        client.stallTimeout = .seconds(stallTimeout)
        client.legacy = legacy || environment["BUILD_SERVICE_PROTOCOL"] == "legacy"
        return client
    }
}

extension BuildCLI {
    /// The token: `--token`, else `--token-file`, else `$BUILD_SERVICE_TOKEN`, else
    /// `$BUILD_SERVICE_TOKEN_FILE`.
    fileprivate func bearerToken(environment: [String: String]) throws(ClientError) -> String? {
        if token != nil && tokenFile != nil { throw ClientError.usage("give --token or --token-file, not both") }
        if let token { return token }
        if let tokenFile { return try TokenFile.read(tokenFile, option: "--token-file") }
        if let token = environment["BUILD_SERVICE_TOKEN"].nonEmpty { return token }
        if let file = environment["BUILD_SERVICE_TOKEN_FILE"].nonEmpty { return try TokenFile.read(file, option: "BUILD_SERVICE_TOKEN_FILE") }
        return nil
    }
}

extension Optional where Wrapped == String {
    /// nil for an unset or empty environment variable.
    fileprivate var nonEmpty: String? {
        guard let self, !self.isEmpty else { return nil }
        return self
    }
}
