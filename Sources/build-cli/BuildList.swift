import BuildClient
import BuildServiceProtocol
import FoundationEssentials
import Glibc

/// `build-cli list [--project P] [--state S]`: the newest builds this token may see, as a table
/// for people or, with `--json`, the service's JSON page unchanged.
enum BuildList {
    static func run(client: BuildServiceClient, project: String?, state: String?, json: Bool) async throws(ClientError) {
        let body = try await client.list(project: project, state: state)
        if json {
            EventPrinter.write(Array(body) + [0x0A], to: STDOUT_FILENO)
            return
        }
        guard let page = try? JSONDecoder().decode(JSONValue.self, from: body), let builds = page["builds"]?.array else {
            throw ClientError.protocolViolation("the build list is not the JSON the protocol describes")
        }
        EventPrinter.write(Array(table(builds).utf8), to: STDOUT_FILENO)
        if page["next_cursor"]?.string != nil {
            EventPrinter.complain("more builds than these \(builds.count); build-cli list --json shows next_cursor for GET /v1/builds?cursor=")
        }
    }

    /// One line a build, columns padded to their widest value.
    static func table(_ builds: [JSONValue]) -> String {
        let header = ["ID", "PROJECT", "STATE", "EXIT", "SUBMITTED", "COMMAND"]
        let rows = builds.map { build -> [String] in
            let words = [build["command"]?.string ?? ""] + (build["args"]?.array ?? []).map { $0.string ?? "" }
            let command = words.joined(separator: " ")
            let exit = build["exit_code"]?.int.map(String.init) ?? "-"
            let shown = command.count > 60 ? String(command.prefix(59)) + "…" : command
            return [
                build["id"]?.string ?? "", build["project"]?.string ?? "", build["state"]?.string ?? "", exit, build["submitted_at"]?.string ?? "",
                shown,
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        let lines = ([header] + rows).map { row -> String in
            let cells = row.enumerated().map { column, value in column == row.count - 1 ? value : value.padded(to: widths[column]) }
            return cells.joined(separator: "  ")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
