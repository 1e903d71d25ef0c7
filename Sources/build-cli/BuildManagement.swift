import BuildClient
import BuildServiceProtocol
import Foundation

/// `build-cli status ID`, `build-cli cancel ID` and `build-cli attach ID`: builds by id.
struct BuildManagement {
    enum Verb: String {
        case status, cancel, attach
    }

    let client: BuildServiceClient

    /// The verb and id when the command line is one of these (a build id is unmistakable, so
    /// a project command called `status` still runs as a build).
    static func parse(_ words: [String]) -> (Verb, String)? {
        guard words.count == 2, let verb = Verb(rawValue: words[0]), words[1].hasPrefix("bld_") else { return nil }
        return (verb, words[1])
    }

    /// - Returns: the exit status: 0, or the build's exit code for `attach`.
    func run(_ verb: Verb, buildID: String) async throws(ClientError) -> Int32 {
        switch verb {
        case .status:
            let body = try await client.status(buildID: buildID)
            EventPrinter.write(Array(Self.pretty(body).utf8), to: STDOUT_FILENO)
            return 0
        case .cancel:
            try await client.cancel(buildID: buildID)
            EventPrinter.complain("build \(buildID) is being cancelled")
            return 0
        case .attach:
            let exit = try await client.attach(buildID: buildID) { pipe, bytes in
                EventPrinter.write(bytes, to: pipe == .stdout ? STDOUT_FILENO : STDERR_FILENO)
            } onEvent: { event in
                EventPrinter.print(event)
            }
            return Int32(truncatingIfNeeded: exit.code)
        }
    }

    private static func pretty(_ json: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: json),
            let text = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: json, as: UTF8.self) }
        return String(decoding: text, as: UTF8.self) + "\n"
    }
}
