import BuildClient
import BuildServiceProtocol
import FoundationEssentials

/// `build-cli status ID` for a person: the status document as a headline and labelled lines
/// (`--json` prints the document itself).
enum BuildStatusText {
    /// nil when the body is not a status document (then it is shown as it came).
    static func render(_ body: Data) -> String? {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: body),
            let id = document["id"]?.string, let state = document["state"]?.string
        else { return nil }
        var lines = [id + "  " + headline(state: state, document)]
        lines.append("  project    \(document["project"]?.string ?? "?")")
        let words = [document["command"]?.string ?? "?"] + (document["args"]?.array ?? []).map { $0.string ?? "" }
        var command = words.joined(separator: " ")
        if let dropped = document["args_dropped"]?.int, dropped > 0 { command += " … (\(dropped) more arguments)" }
        lines.append("  command    \(command)")
        for key in ["cwd", "ref", "request_id"] {
            if let value = document[key]?.string {
                lines.append("  " + key.replacing("_", with: " ").padded(to: 11) + value)
            }
        }
        for key in ["submitted_at", "started_at", "finished_at"] {
            if let value = document[key]?.string {
                lines.append("  " + String(key.dropLast(3)).padded(to: 11) + value)
            }
        }
        if let seconds = duration(document) { lines.append("  took       " + ByteCountText.decimal(seconds, places: 1) + " s") }
        for artifact in document["artifacts"]?.array ?? [] {
            let name = artifact["name"]?.string ?? "?"
            let size = artifact["size"]?.int.map { ArtifactDownloader.sizeText($0) } ?? "?"
            let digest = artifact["sha256"]?.string.map { "  sha256 " + $0.prefix(16) + "…" } ?? ""
            lines.append("  artifact   \(name)  \(size)\(digest)")
        }
        if let page = document["page_url"]?.string { lines.append("  page       \(page)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `running`, `queued (position 2)`, `finished: exit 0`, `finished: timed out, exit 124`.
    private static func headline(state: String, _ document: JSONValue) -> String {
        switch state {
        case "queued":
            return document["queue_position"]?.int.map { "queued (position \($0))" } ?? "queued"
        case "finished":
            var parts: [String] = []
            if document["timed_out"]?.bool == true { parts.append("timed out") }
            if document["cancelled"]?.bool == true {
                parts.append("cancelled" + (document["cancel_reason"]?.string.map { " (\($0))" } ?? ""))
            }
            if let code = document["exit_code"]?.int { parts.append("exit \(code)") }
            return "finished: " + parts.joined(separator: ", ")
        default:
            return state
        }
    }

    private static func duration(_ document: JSONValue) -> Double? {
        func date(_ key: String) -> Date? {
            guard let text = document[key]?.string else { return nil }
            return (try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)))
                ?? (try? Date(text, strategy: .iso8601))
        }
        guard let started = date("started_at"), let finished = date("finished_at") else { return nil }
        return finished.timeIntervalSince(started)
    }
}
