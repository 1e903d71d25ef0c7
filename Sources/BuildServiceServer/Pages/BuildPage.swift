import BuildServiceProtocol
import Foundation

/// A build's page for people: what ran, its state and times, its output and its artifacts.
/// Rendered whole on the server, so a finished build's page needs no script; a running build's
/// page carries its event stream's signed link, which the script follows. Every value from the
/// request or the build is escaped (`HTMLText`).
struct BuildPage {
    let document: BuildStatusDocument
    let log: BuildPageLog
    /// The event stream to follow while the build has not finished; nil once it has.
    let eventsURL: String?

    /// Scripts and styles from the daemon only; the script may read the event stream and
    /// nothing else; no forms, no framing, no `<base>`.
    static let policy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    var html: String {
        let state = Self.stateLabel(document)
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(HTMLText.escaped("\(document.project) · \(state.text) · \(document.id)"))</title>
            <link rel="stylesheet" href="\(PageAssets.styleSheetPath)">
            """
        if eventsURL != nil { page += "<script src=\"\(PageAssets.buildPageScriptPath)\" defer></script>\n" }
        page += """
            </head><body>
            <h1>\(HTMLText.escaped(document.project)) <span id="state" class="state \(state.style)">\(HTMLText.escaped(state.text))</span></h1>
            <p class="command"><code>\(HTMLText.escaped(([document.command] + document.args).joined(separator: " ")))</code>\
            \(document.argsDropped > 0 ? " <span class=\"muted\">(and \(document.argsDropped) more arguments)</span>" : "")</p>
            <dl class="facts">
            \(facts.map { "<dt>\(HTMLText.escaped($0.0))</dt><dd>\($0.1)</dd>" }.joined(separator: "\n"))
            </dl>
            <h2>Output</h2>

            """
        if log.leftOutEarlier {
            page +=
                "<p class=\"muted\">Earlier output is not shown here: the page has the last \(ByteCountText.of(BuildPageLog.maxBytes)) of it.</p>\n"
        }
        let follow = eventsURL.map { " data-events=\"\(HTMLText.escaped($0))\" data-after=\"\(log.lastSeq)\"" } ?? ""
        page += "<pre id=\"log\"\(follow)>\(log.html)</pre>\n<p id=\"follow\" role=\"status\"></p>\n"
        page += artifactsSection
        page += "</body></html>\n"
        return page
    }

    /// Label and style of the state badge.
    static func stateLabel(_ document: BuildStatusDocument) -> (text: String, style: String) {
        switch document.state {
        case "queued": (document.queuePosition.map { "queued, position \($0)" } ?? "queued", "queued")
        case "running": ("running", "running")
        default:
            if document.timedOut {
                ("timed out", "failed")
            } else if document.cancelled {
                ("cancelled", "failed")
            } else if document.exitCode == 0 {
                ("succeeded", "succeeded")
            } else {
                ("failed, exit \(document.exitCode.map(String.init) ?? "?")", "failed")
            }
        }
    }

    /// Term and already-escaped description of each fact the build has.
    private var facts: [(String, String)] {
        var facts: [(String, String)] = [("Build", "<code>\(HTMLText.escaped(document.id))</code>")]
        if let cwd = document.cwd { facts.append(("Directory", "<code>\(HTMLText.escaped(cwd))</code>")) }
        if let ref = document.ref { facts.append(("Ref", "<code>\(HTMLText.escaped(ref))</code>")) }
        if let requestID = document.requestID { facts.append(("Request id", HTMLText.escaped(requestID))) }
        facts.append(("Submitted", Self.time(document.submittedAt)))
        if let startedAt = document.startedAt { facts.append(("Started", Self.time(startedAt))) }
        if let finishedAt = document.finishedAt { facts.append(("Finished", Self.time(finishedAt))) }
        if let startedAt = document.startedAt, let finishedAt = document.finishedAt {
            facts.append(("Duration", Self.duration(finishedAt.timeIntervalSince(startedAt))))
        }
        if let exitCode = document.exitCode {
            var text = String(exitCode)
            if document.timedOut { text += " (timed out)" }
            if document.cancelled { text += " (cancelled\(document.cancelReason.map { ": \($0)" } ?? ""))" }
            facts.append(("Exit code", HTMLText.escaped(text)))
        }
        if let used = document.resources {
            facts.append(
                (
                    "Resources",
                    String(
                        format: "CPU %.2f s user, %.2f s system; max RSS %.1f MiB",
                        used.cpuUserSec,
                        used.cpuSystemSec,
                        Double(used.maxRSSKiB) / 1024
                    )
                )
            )
        }
        return facts
    }

    private var artifactsSection: String {
        guard document.state == "finished" else { return "" }
        guard !document.artifacts.isEmpty else { return "<h2>Artifacts</h2>\n<p class=\"muted\">None.</p>\n" }
        var section = "<h2>Artifacts</h2>\n<div class=\"table\"><table><thead><tr><th>File</th><th>Size</th><th>SHA-256</th></tr></thead><tbody>\n"
        for artifact in document.artifacts {
            section += "<tr><td><a href=\"\(HTMLText.escaped(artifact.url))\" download>\(HTMLText.escaped(artifact.name))</a>"
            let query = artifact.url.contains("?") ? "&" : "?"
            if InlineArtifact.presentation(contentType: artifact.contentType) != nil {
                let view = artifact.url + query + "inline=1"
                section += " <a class=\"view\" href=\"\(HTMLText.escaped(view))\" target=\"_blank\" rel=\"noopener\">view</a>"
            } else if artifact.contentType == "application/zip" {
                // A directory artifact: its files, each to open or download on its own.
                section += " <a class=\"files\" href=\"\(HTMLText.escaped(artifact.url + query + "index=1"))\">files</a>"
            }
            section += "</td>"
            section += "<td class=\"size\">\(HTMLText.escaped(ByteCountText.of(artifact.size)))</td>"
            section += "<td class=\"sha\">\(HTMLText.escaped(artifact.sha256 ?? ""))</td></tr>\n"
        }
        return section + "</tbody></table></div>\n"
    }

    /// `<time>` with the ISO 8601 instant, shown as `2026-12-07 15:08:36 UTC`.
    static func time(_ date: Date) -> String {
        let text = date.formatted(.iso8601)
        return "<time datetime=\"\(text)\">\(text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC"))</time>"
    }

    static func duration(_ seconds: TimeInterval) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
        return "\(whole / 3600) h \(whole % 3600 / 60) min"
    }
}
