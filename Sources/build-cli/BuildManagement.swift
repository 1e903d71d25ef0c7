import BuildClient
import BuildServiceProtocol
import Foundation

/// `build-cli status ID`, `build-cli cancel ID` and `build-cli attach ID`: builds by id.
struct BuildManagement {
    enum Verb: String, CaseIterable {
        case status, cancel, attach, list

        /// `build-cli help VERB`.
        var help: String {
            switch self {
            case .status: "build-cli [OPTIONS] status BUILD_ID\n  Prints the build's status (JSON). Exit 0, or 65 when there is no such build."
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
    /// `--json`: attach passes the events through as NDJSON (status is JSON either way).
    var json = false

    /// - Returns: the exit status: 0, or the build's exit code for `attach`.
    func run(_ verb: Verb, buildID: String) async throws(ClientError) -> Int32 {
        switch verb {
        case .list:
            return 0  // no id: BuildList
        case .status:
            let body = try await client.status(buildID: buildID)
            EventPrinter.write(Array(Self.pretty(body).utf8), to: STDOUT_FILENO)
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

    private static func pretty(_ json: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: json),
            let text = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: json, as: UTF8.self) }
        return String(decoding: text, as: UTF8.self) + "\n"
    }
}
