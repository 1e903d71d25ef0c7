import BuildClient
import BuildServiceProtocol
import FoundationEssentials
import Glibc

/// `build-cli status ID`, `build-cli cancel ID` and `build-cli attach ID`: builds by id.
struct BuildManagement {
    enum Verb: String, CaseIterable {
        case status, cancel, attach, list, download, link

        /// `build-cli help VERB`.
        var help: String {
            switch self {
            case .status:
                "build-cli [OPTIONS] status BUILD_ID [--json]\n  Prints the build's status (--json: the service's JSON document). "
                    + "Exit 0, or 65 when there is no such build."
            case .download:
                "build-cli [--force|--no-clobber] download BUILD_ID [DIR]\n  Downloads a finished build's artifacts into DIR "
                    + "(default: --download, $BUILD_SERVICE_DOWNLOAD_DIR, else the current directory). Exit 0; 75 while the build runs."
            case .link:
                "build-cli [OPTIONS] link BUILD_ID [--json]\n  Prints a freshly signed link to the build's page, for a person to open "
                    + "(--json: {\"build_id\", \"page_url\"}). Exit 0, or 65 when there is no such build."
            case .cancel: "build-cli [OPTIONS] cancel BUILD_ID\n  Cancels the build. Exit 0, or 65 when it has finished or does not exist."
            case .attach:
                "build-cli [OPTIONS] attach BUILD_ID\n  Replays the build's output and follows it to its end; exits with the build's code."
            case .list:
                "build-cli [OPTIONS] list [--project P] [--state queued|running|finished] [--json]\n"
                    + "  The newest builds this token may see, newest first (--json: the service's JSON page)."
            }
        }
    }

    let client: BuildServiceClient
    /// `--json`: attach passes the events through as NDJSON, status prints the JSON document.
    var json = false
    /// `download`: where artifacts go and what to do with different files already there.
    var downloadDirectory = "."
    var existingFiles = ArtifactDownloader.ExistingFiles.refuse

    /// - Returns: the exit status: 0, or the build's exit code for `attach`.
    func run(_ verb: Verb, buildID: String) async throws(ClientError) -> Int32 {
        switch verb {
        case .list:
            return 0  // no id: BuildList
        case .status:
            let body = try await client.status(buildID: buildID)
            let text = json ? Self.pretty(body) : BuildStatusText.render(body) ?? Self.pretty(body)
            EventPrinter.write(Array(text.utf8), to: STDOUT_FILENO)
            return 0
        case .link:
            let body = try await client.status(buildID: buildID)
            guard let page = (try? JSONDecoder().decode(JSONValue.self, from: body))?["page_url"]?.string else {
                throw ClientError.protocolViolation("the status of build \(buildID) has no page_url (a service without build pages)")
            }
            let text = json ? Self.pretty(["build_id": buildID, "page_url": page]) : page + "\n"
            EventPrinter.write(Array(text.utf8), to: STDOUT_FILENO)
            return 0
        case .download:
            let document = try Self.finishedArtifacts(try await client.status(buildID: buildID), buildID: buildID)
            if document.isEmpty { EventPrinter.complain("build \(buildID) has no artifacts") }
            try await ArtifactDownloader.forCLI(client: client, directory: downloadDirectory, existingFiles: existingFiles).download(document)
            return 0
        case .cancel:
            try await client.cancel(buildID: buildID)
            EventPrinter.complain("build \(buildID) is being cancelled")
            return 0
        case .attach:
            var client = client
            if json { client.onEventLine = { line in EventPrinter.write(line + [0x0A], to: STDOUT_FILENO) } }
            let exit = try await client.attach(buildID: buildID) { [json] pipe, bytes in
                if !json { EventPrinter.write(bytes, to: pipe == .stdout ? STDOUT_FILENO : STDERR_FILENO) }
            } onEvent: { [json] event in
                if !json { EventPrinter.print(event) }
            }
            if json { JSONSummary.write(exit, buildID: buildID) }
            guard (0...255).contains(exit.code) else {
                throw ClientError.protocolViolation("the exit event's code \(exit.code) is outside 0-255")
            }
            return Int32(exit.code)
        }
    }

    /// The artifacts of a finished build's status document.
    /// - Throws: `build_running` (exit 75) while it has not ended.
    private static func finishedArtifacts(_ body: Data, buildID: String) throws(ClientError) -> [ArtifactInfo] {
        struct Document: Decodable {
            var state: String
            var artifacts: [ArtifactInfo]?
        }
        guard let document = try? JSONDecoder().decode(Document.self, from: body) else {
            throw ClientError.protocolViolation("the status of build \(buildID) is not a status document")
        }
        guard document.state == "finished" else {
            throw ClientError.refused(
                status: nil,
                code: "build_running",
                message: "build \(buildID) is \(document.state); build-cli attach \(buildID) follows it to its end, then download"
            )
        }
        return document.artifacts ?? []
    }

    private static func pretty(_ object: [String: String]) -> String {
        pretty(JSONValue.object(object.mapValues { .string($0) }))
    }

    private static func pretty(_ json: Data) -> String {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: json) else { return String(decoding: json, as: UTF8.self) }
        return pretty(value)
    }

    private static func pretty(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let text = try? encoder.encode(value) else { return "" }
        return String(decoding: text, as: UTF8.self) + "\n"
    }
}
