import BuildServiceProtocol
import FoundationEssentials
import Glibc

/// The last line of `--json` output: what an agent needs without replaying the events.
enum JSONSummary {
    private struct Summary: Encodable {
        var type = "summary"
        var buildID: String?
        var exitCode: Int
        var timedOut: Bool
        var cancelled: Bool
        var artifacts: [ArtifactInfo]
        var pageURL: String?

        enum CodingKeys: String, CodingKey {
            case type, buildID = "build_id", exitCode = "exit_code", timedOut = "timed_out", cancelled, artifacts
            case pageURL = "page_url"
        }
    }

    static func write(_ exit: BuildExit, buildID: String?, pageURL: String? = nil) {
        let summary = Summary(
            buildID: buildID,
            exitCode: exit.code,
            timedOut: exit.timedOut,
            cancelled: exit.cancelled,
            artifacts: exit.artifacts,
            pageURL: pageURL ?? exit.pageURL
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(summary) else { return }
        EventPrinter.write(Array(data) + [0x0A], to: STDOUT_FILENO)
    }
}
