import BuildServiceProtocol
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import BuildServiceCore
@testable import BuildServiceServer

/// What a build page makes of what a build and its request control: output, arguments, the
/// project's name and artifact names reach the page as text, never as markup or terminal
/// control, and only viewable types open inline.
@Suite struct BuildPageRenderingTests {
    private func record(arguments: [String], events: [BuildEvent], exit: BuildExit?) -> BuildRecord {
        let plan = BuildPlan(
            projectID: "demo",
            requestID: "<b>label</b>",
            commandName: "make",
            executable: "/usr/bin/make",
            arguments: arguments,
            projectRoot: "/",
            workingDirectory: "/",
            timeoutSec: 60,
            warnings: []
        )
        let record = BuildRecord(
            id: "bld_0123456789abcdef0123456789abcdef",
            plan: plan,
            owner: BuildOwner(tokenDigest: nil, tokenName: nil),
            eventBufferBytes: 1 << 20,
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        )
        record.post(.build(id: record.id, status: "started"))
        for event in events { record.post(event) }
        if let exit { record.finish(exit) }
        return record
    }

    private func page(_ record: BuildRecord, eventsURL: String? = nil) -> String {
        var document = BuildStatusDocument(record)
        document.pageURL = "/v1/builds/\(record.id)/page"
        return BuildPage(document: document, log: BuildPageLog(record), eventsURL: eventsURL).html
    }

    /// The tags our page itself writes; anything else that looks like a tag came from a build.
    private func tags(_ html: String) -> Set<String> {
        var names = Set<String>()
        var rest = html[...]
        while let open = rest.firstIndex(of: "<") {
            let name = rest[rest.index(after: open)...].prefix { $0.isLetter || $0.isNumber || $0 == "/" || $0 == "!" }
            names.insert(String(name))
            rest = rest[rest.index(after: open)...]
        }
        return names
    }

    @Test func outputArgumentsAndNamesAreTextNotMarkup() {
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
        let artifact = ArtifactInfo(
            name: "out/\"><script>x</script>.html",
            url: "/v1/builds/bld_0123456789abcdef0123456789abcdef/artifacts/out/x.html?expires=1&sig=\"><script>",
            contentType: "text/html; charset=utf-8",
            size: 2048,
            sha256: "ab"
        )
        let record = record(
            arguments: [hostile, "V=\"quoted\""],
            events: [.stdout(hostile + "\n"), .stderr("</pre><script>2</script>\n"), .warning(code: "x<y>", message: hostile)],
            exit: BuildExit(code: 0, artifacts: [artifact])
        )
        let html = page(record)
        #expect(!html.contains("<script>") && !html.contains("<img") && !html.contains("</pre><script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;"))
        #expect(html.contains("&lt;b&gt;label&lt;/b&gt;"))
        #expect(
            html.contains("href=\"/v1/builds/bld_0123456789abcdef0123456789abcdef/artifacts/out/x.html?expires=1&amp;sig=&quot;&gt;&lt;script&gt;\"")
        )
        // Only the page's own elements: nothing a build wrote became one.
        let ours: Set = [
            "!doctype", "html", "head", "meta", "title", "link", "body", "h1", "span", "p", "code", "dl", "dt", "dd", "time", "h2", "pre",
            "div", "table", "thead", "tr", "th", "tbody", "td", "a", "/html", "/head", "/title", "/h1", "/span", "/p", "/code", "/dl",
            "/dt", "/dd", "/time", "/h2", "/pre", "/div", "/table", "/thead", "/tr", "/th", "/tbody", "/td", "/a", "/body",
        ]
        #expect(tags(html).subtracting(ours).isEmpty, "\(tags(html).subtracting(ours))")
        // stdout and stderr stay apart; a finished build's page has no script.
        #expect(html.contains("<span class=\"e\">&lt;/pre&gt;&lt;script&gt;2&lt;/script&gt;\n</span>"))
        #expect(!html.contains("build-page.js") && !html.contains("data-events"))
        #expect(html.contains(">succeeded</span>"))
    }

    @Test func terminalEscapesAreTakenOutOfTheOutput() {
        let coloured =
            "\u{1B}[1;31merror\u{1B}[0m: \u{1B}]0;title\u{07}\u{1B}]8;;http://x\u{1B}\\link\u{1B}]8;;\u{1B}\\ \u{1B}(Bdone\r\n\u{9B}31m\u{07}\tend"
        #expect(TerminalText.stripped(coloured) == "error: link done\n31m\tend")
        let record = record(arguments: [], events: [.stdout(coloured)], exit: BuildExit(code: 2))
        let html = page(record)
        #expect(!html.contains("\u{1B}") && html.contains("error: link done"))
        #expect(html.contains(">failed, exit 2</span>"))
    }

    /// Byte-level stripping keeps every character whole: multi-byte text stays, an escape cut
    /// off at the end goes, an ESC before a non-ASCII character goes alone.
    @Test func strippingNeverSplitsACharacter() {
        #expect(TerminalText.stripped("héllo ✓ 日本 \u{1F600}") == "héllo ✓ 日本 \u{1F600}")
        #expect(TerminalText.stripped("a\u{1B}é\u{1B}]0;t\u{1B}ü b") == "aéü b")
        #expect(TerminalText.stripped("end\u{1B}[31") == "end")
        #expect(TerminalText.stripped("end\u{1B}") == "end")
        #expect(TerminalText.stripped("\u{85}next\u{A0}line\u{7F}") == "next\u{A0}line")
        #expect(HTMLText.escaped("<é & ✓>") == "&lt;é &amp; ✓&gt;")
        // A page cut inside a character starts at the next one.
        let wide = String(repeating: "✓", count: BuildPageLog.maxBytes / 3 + 10)
        let log = BuildPageLog(record(arguments: [], events: [.stdout(wide)], exit: BuildExit(code: 0)))
        #expect(log.leftOutEarlier)
        #expect(log.html.hasPrefix(#"<span class="o">✓✓"#) && !log.html.contains("\u{FFFD}"))
    }

    @Test func aRunningBuildsPageCarriesItsEventLinkAndWhereToGoOnFrom() {
        let record = record(arguments: ["all"], events: [.stdout("one\n"), .stdout("two\n")], exit: nil)
        let html = page(record, eventsURL: "/v1/builds/\(record.id)/events?expires=9&sig=ab")
        #expect(html.contains("<script src=\"/assets/build-page.js\" defer></script>"))
        #expect(html.contains("data-events=\"/v1/builds/\(record.id)/events?expires=9&amp;sig=ab\" data-after=\"3\""))
        #expect(html.contains(">running</span>"))
        #expect(html.contains("<span class=\"o\">one\ntwo\n</span>"))
    }

    @Test func aLongLogKeepsItsEnd() {
        let line = String(repeating: "x", count: 999) + "\n"
        let events = Array(repeating: BuildEvent.stdout(line), count: 1100)
        let log = BuildPageLog(record(arguments: [], events: events + [.stderr("the reason it failed\n")], exit: BuildExit(code: 1)))
        #expect(log.leftOutEarlier)
        #expect(log.html.hasSuffix("<span class=\"e\">the reason it failed\n</span>"))
        // Exactly the last maxBytes of the output: the end of one line, then whole ones.
        let shown = log.html.replacingOccurrences(of: #"<span class="[oe]">"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: "</span>", with: "")
        #expect(shown.utf8.count == BuildPageLog.maxBytes)
        #expect(shown.hasPrefix(String(repeating: "x", count: (BuildPageLog.maxBytes - 21) % 1000 - 1) + "\nxxx"))
        // A short log is whole.
        let short = BuildPageLog(record(arguments: [], events: [.stdout("a\n"), .stderr("b\n")], exit: BuildExit(code: 1)))
        #expect(!short.leftOutEarlier && short.html == "<span class=\"o\">a\n</span><span class=\"e\">b\n</span>")
    }

    @Test(arguments: [
        ("text/html; charset=utf-8", "text/html; charset=utf-8", InlineArtifact.documentPolicy),
        ("image/svg+xml", "image/svg+xml", InlineArtifact.documentPolicy),
        ("image/png", "image/png", InlineArtifact.plainPolicy),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8", InlineArtifact.plainPolicy),
        ("text/javascript", "text/plain; charset=utf-8", InlineArtifact.plainPolicy),
        ("application/xml", "text/plain; charset=utf-8", InlineArtifact.plainPolicy),
        ("application/json", "application/json", InlineArtifact.plainPolicy),
    ])
    func viewableTypesOpenInlineInASandbox(stored: String, served: String, policy: String) {
        #expect(InlineArtifact.presentation(contentType: stored) == .init(contentType: served, policy: policy))
        #expect(policy.hasPrefix("sandbox;") && !policy.contains("allow-scripts") && !policy.contains("allow-same-origin"))
    }

    @Test(arguments: ["application/octet-stream", "application/pdf", "application/zip", "application/wasm", "application/x-sh"])
    func everyOtherTypeStaysADownload(stored: String) {
        #expect(InlineArtifact.presentation(contentType: stored) == nil)
    }
}
