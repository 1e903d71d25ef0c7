import BuildClient
import Foundation

/// `build-cli list [--project P] [--state S]`: the newest builds this token may see, as a table
/// for people or, with `--json`, the service's JSON page unchanged.
enum BuildList {
    static func run(client: BuildServiceClient, project: String?, state: String?, json: Bool) async throws(ClientError) {
        let body = try await client.list(project: project, state: state)
        if json {
            EventPrinter.write(Array(body) + [0x0A], to: STDOUT_FILENO)
            return
        }
        guard let page = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let builds = page["builds"] as? [[String: Any]]
        else {
            throw ClientError.protocolViolation("the build list is not the JSON the protocol describes")
        }
        EventPrinter.write(Array(table(builds).utf8), to: STDOUT_FILENO)
        if page["next_cursor"] is String {
            EventPrinter.complain("more builds than these \(builds.count); build-cli list --json shows next_cursor for GET /v1/builds?cursor=")
        }
    }

    /// One line a build, columns padded to their widest value.
    static func table(_ builds: [[String: Any]]) -> String {
        let header = ["ID", "PROJECT", "STATE", "EXIT", "SUBMITTED", "COMMAND"]
        let rows = builds.map { build -> [String] in
            let command = ([build["command"] as? String ?? ""] + (build["args"] as? [String] ?? [])).joined(separator: " ")
            return [
                build["id"] as? String ?? "",
                build["project"] as? String ?? "",
                build["state"] as? String ?? "",
                (build["exit_code"] as? Int).map(String.init) ?? "-",
                build["submitted_at"] as? String ?? "",
                command.count > 60 ? String(command.prefix(59)) + "…" : command,
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { column, value in
                column == row.count - 1 ? value : value.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
