import ArgumentParser
import BuildClient
import BuildServiceProtocol
import BuildServiceTLS
import Foundation

/// `build-cli [options] COMMAND [ARGS...]`: runs COMMAND for a project on the build host,
/// relays its output byte-for-byte and exits with its exit code.
@main
struct BuildCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-cli",
        abstract: "Run an allow-listed build command on the build host and stream its output.",
        discussion: """
            Everything from COMMAND on is passed to the service untouched, including arguments \
            that start with '-' (build-cli --project p make -j4 all).
            Ctrl-C cancels the remote build (exit 130); a second Ctrl-C leaves at once. If the \
            connection drops, build-cli re-attaches to the build for 30 s without losing or repeating output.
            Builds by id: build-cli status ID (JSON), build-cli cancel ID, build-cli attach ID (follow its output).
            Environment: BUILD_SERVICE_PROJECT, BUILD_SERVICE_SOCKET, BUILD_SERVICE_ENDPOINT, BUILD_SERVICE_TOKEN, \
            BUILD_SERVICE_CACERT, BUILD_SERVICE_CLIENT_CERT, BUILD_SERVICE_CLIENT_KEY, BUILD_SERVICE_DOWNLOAD_DIR.
            Over https the server's certificate is always verified, host name included, against the \
            system trust store or --cacert.
            Exit status: the build's exit code (124 on timeout); 1 when the service refused the request; \
            2 for usage errors; 65 when a downloaded artifact is incomplete or fails its checksum; \
            69 when the service cannot be reached or the connection broke; \
            76 when TLS fails (untrusted, expired or wrong-host certificate) or the answer is not the protocol.
            """,
        version: BuildServiceVersion.line(program: "build-cli", openSSL: OpenSSLLibrary.versionText)
    )

    @Option(help: "Project id (default: $BUILD_SERVICE_PROJECT).")
    var project: String?

    @Option(help: "Timeout in seconds (the service clamps it to its maximum).")
    var timeout: Int?

    @Option(
        help:
            "Unix socket of the service (default: $BUILD_SERVICE_SOCKET, else /run/build-service/build-service.sock if /run/build-service exists, else /run/build-service.sock)."
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

    @Option(help: "Bearer token (default: $BUILD_SERVICE_TOKEN).")
    var token: String?

    @Option(help: "CA certificates (PEM) to trust for https instead of the system store (default: $BUILD_SERVICE_CACERT).")
    var cacert: String?

    @Option(name: .customLong("client-cert"), help: "Client certificate (PEM) for services that require one (default: $BUILD_SERVICE_CLIENT_CERT).")
    var clientCert: String?

    @Option(name: .customLong("client-key"), help: "Private key (PEM) of --client-cert (default: $BUILD_SERVICE_CLIENT_KEY).")
    var clientKey: String?

    @Option(help: "After a successful build, download its artifacts into DIR (default: $BUILD_SERVICE_DOWNLOAD_DIR).")
    var download: String?

    @Option(help: "Git ref to build (repo projects only).")
    var ref: String?

    @Option(help: "Working directory, relative to the project root or absolute (default over the socket: the current directory).")
    var cwd: String?

    @Option(
        name: .customLong("stall-timeout"),
        help: "Seconds without a byte (heartbeats included) after which the connection is taken for dead and the build re-attached (default 45)."
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

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.")
    var command: [String] = []

    func validate() throws {
        // The command captures everything from the first word on, so help must be looked for here.
        if let first = command.first, first == "-h" || first == "--help" {
            throw CleanExit.helpRequest(self)
        }
        if command.first == "--version" {
            throw CleanExit.message(Self.configuration.version)
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            if let (verb, id) = BuildManagement.parse(command) {
                let management = BuildManagement(client: try makeClient(environment: environment))
                throw ExitCode(try await management.run(verb, buildID: id))
            }
            let (client, request) = try makeRequest(environment: environment)
            let interrupts = InterruptHandler(client: client)
            let exit = try await client.run(request) { pipe, bytes in
                EventPrinter.write(bytes, to: pipe == .stdout ? STDOUT_FILENO : STDERR_FILENO)
            } onEvent: { event in
                if case .build(let id, _, _) = event { interrupts.buildStarted(id) }
                EventPrinter.print(event)
            }
            if exit.code == 0, !exit.artifacts.isEmpty, let directory = download ?? environment["BUILD_SERVICE_DOWNLOAD_DIR"].nonEmpty {
                let downloader = ArtifactDownloader(client: client, directory: directory, showProgress: isatty(STDERR_FILENO) == 1)
                try await downloader.download(exit.artifacts)
            }
            throw ExitCode(Int32(truncatingIfNeeded: exit.code))
        } catch let error as ClientError {
            EventPrinter.complain(error.description)
            throw ExitCode(error.exitStatus)
        }
    }

    private func makeRequest(environment: [String: String]) throws(ClientError) -> (BuildServiceClient, BuildRequest) {
        guard let name = command.first else {
            throw ClientError.usage("no command given; usage: build-cli --project ID COMMAND [ARGS...]")
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
            ref: ref
        )
        return (client, request)
    }

    private func makeClient(environment: [String: String]) throws(ClientError) -> BuildServiceClient {
        let endpoint: Endpoint
        if let url = self.endpoint ?? environment["BUILD_SERVICE_ENDPOINT"].nonEmpty {
            endpoint = try Endpoint.parse(url: url)
        } else {
            endpoint = (socket ?? environment["BUILD_SERVICE_SOCKET"].nonEmpty).map { .unixSocket(path: $0) } ?? .defaultSocket()
        }
        let tls = TLSClientConfiguration(
            trustedCAPath: cacert ?? environment["BUILD_SERVICE_CACERT"].nonEmpty,
            certificatePath: clientCert ?? environment["BUILD_SERVICE_CLIENT_CERT"].nonEmpty,
            privateKeyPath: clientKey ?? environment["BUILD_SERVICE_CLIENT_KEY"].nonEmpty
        )
        guard (3...3600).contains(stallTimeout) else { throw ClientError.usage("--stall-timeout must be from 3 to 3600 seconds") }
        var client = BuildServiceClient(endpoint: endpoint, token: token ?? environment["BUILD_SERVICE_TOKEN"].nonEmpty, tls: tls)
        client.stallTimeout = .seconds(stallTimeout)
        client.legacy = legacy || environment["BUILD_SERVICE_PROTOCOL"] == "legacy"
        return client
    }
}

extension Optional where Wrapped == String {
    /// nil for an unset or empty environment variable.
    fileprivate var nonEmpty: String? {
        guard let self, !self.isEmpty else { return nil }
        return self
    }
}
