import BuildClient
import Foundation

/// `build-cli status ID` for a person: the status document as a headline and labelled lines
/// (`--json` prints the document itself).
enum BuildStatusText {
    /// nil when the body is not a status document (then it is shown as it came).
    static func render(_ body: Data) -> String? {
        guard let document = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let id = document["id"] as? String, let state = document["state"] as? String
        else { return nil }
        var lines = [id + "  " + headline(state: state, document)]
        let project = document["project"] as? String ?? "?"
        lines.append("  project    \(project)")
        let words = [document["command"] as? String ?? "?"] + (document["args"] as? [String] ?? [])
        var command = words.joined(separator: " ")
        if let dropped = document["args_dropped"] as? Int, dropped > 0 { command += " … (\(dropped) more arguments)" }
        lines.append("  command    \(command)")
        for key in ["cwd", "ref", "request_id"] {
            if let value = document[key] as? String {
                lines.append("  " + key.replacingOccurrences(of: "_", with: " ").padding(toLength: 11, withPad: " ", startingAt: 0) + value)
            }
        }
        for key in ["submitted_at", "started_at", "finished_at"] {
            if let value = document[key] as? String {
                lines.append("  " + key.dropLast(3).padding(toLength: 11, withPad: " ", startingAt: 0) + value)
            }
        }
        if let seconds = duration(document) { lines.append("  took       " + String(format: "%.1f s", seconds)) }
        for artifact in document["artifacts"] as? [[String: Any]] ?? [] {
            let name = artifact["name"] as? String ?? "?"
            let size = (artifact["size"] as? Int).map { ArtifactDownloader.sizeText($0) } ?? "?"
            let digest = (artifact["sha256"] as? String).map { "  sha256 " + $0.prefix(16) + "…" } ?? ""
            lines.append("  artifact   \(name)  \(size)\(digest)")
        }
        if let page = document["page_url"] as? String { lines.append("  page       \(page)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `running`, `queued (position 2)`, `finished: exit 0`, `finished: timed out, exit 124`.
    private static func headline(state: String, _ document: [String: Any]) -> String {
        switch state {
        case "queued":
            return (document["queue_position"] as? Int).map { "queued (position \($0))" } ?? "queued"
        case "finished":
            var parts: [String] = []
            if document["timed_out"] as? Bool == true { parts.append("timed out") }
            if document["cancelled"] as? Bool == true {
                parts.append("cancelled" + ((document["cancel_reason"] as? String).map { " (\($0))" } ?? ""))
            }
            if let code = document["exit_code"] as? Int { parts.append("exit \(code)") }
            return "finished: " + parts.joined(separator: ", ")
        default:
            return state
        }
    }

    private static func duration(_ document: [String: Any]) -> Double? {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        func date(_ key: String) -> Date? {
            (document[key] as? String).flatMap { parser.date(from: $0) ?? plain.date(from: $0) }
        }
        guard let started = date("started_at"), let finished = date("finished_at") else { return nil }
        return finished.timeIntervalSince(started)
    }
}
