import Foundation
import Testing

/// The build page over real HTTP with auth on: its signed link comes with the build (started
/// event, exit event, status), opens the page without a token, and opens nothing else; the
/// page's event link follows the build without changing its fate; artifacts open inline only
/// where that is safe.
@Suite struct BuildPageTests {
    let daemon: DaemonUnderTest
    static let token = "page-token-5d1c"

    init() async throws {
        var options = DaemonUnderTest.Options(artifacts: ["out/*"])
        options.httpAuthTokens = [Self.token]
        daemon = try await DaemonUnderTest(options)
    }

    private var auth: [String] { ["Authorization: Bearer \(Self.token)"] }

    private func get(_ url: String, headers: [String] = []) async throws -> Download {
        try await Download.fetch(url.hasPrefix("/") ? daemon.httpBase + url : url, headers: headers, in: daemon.directory)
    }

    private func build(_ script: String) async throws -> [EventLine] {
        let response = try await daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]), headers: auth)
        return try parseEvents(response.body)
    }

    private static func value(of attribute: String, in html: String) -> String? {
        guard let start = html.range(of: attribute + "=\"") else { return nil }
        let rest = html[start.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]).replacingOccurrences(of: "&amp;", with: "&") }
    }

    @Test func theSignedPageLinkComesWithTheBuildAndOpensItsPageOnly() async throws {
        let events = try await build(#"echo '<script>alert(1)</script>'; mkdir -p out; echo notes > out/notes.txt"#)
        let started = try #require(events.first)
        let id = try #require(started["id"] as? String)
        let pageURL = try #require(started["page_url"] as? String)
        #expect(pageURL.hasPrefix("\(daemon.httpBase)/v1/builds/\(id)/page?expires="), "\(pageURL)")
        #expect(pageURL.contains("&sig="))
        let exitPage = try #require(events.last?["page_url"] as? String)
        #expect(exitPage.hasPrefix("\(daemon.httpBase)/v1/builds/\(id)/page?expires="))
        let status = try await get("/v1/builds/\(id)", headers: auth)
        let document = try #require(try JSONSerialization.jsonObject(with: status.body) as? [String: Any])
        #expect((document["page_url"] as? String)?.hasPrefix("\(daemon.httpBase)/v1/builds/\(id)/page?expires=") == true)

        // Without a token: the page, whole, with the headers that keep it to itself.
        let page = try await get(pageURL)
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("Content-Security-Policy")?.hasPrefix("default-src 'none'; script-src 'self';") == true)
        #expect(page.header("X-Frame-Options") == "DENY")
        #expect(page.header("Referrer-Policy") == "no-referrer")
        #expect(page.header("Cache-Control") == "no-store")
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"))
        #expect(html.contains(">out/notes.txt</a>") && html.contains(">succeeded</span>"))
        // Its artifact link works as it stands.
        let artifact = try #require(Self.value(of: "href", in: String(html[html.range(of: "<tbody>")!.upperBound...])))
        #expect(String(decoding: try await get(artifact).body, as: UTF8.self) == "notes\n")

        // The page's signature opens nothing else: not an artifact, not the event stream, not
        // another build's page; a changed one is refused as a page for a browser.
        let query = String(pageURL.split(separator: "?")[1])
        #expect(try await get("/v1/builds/\(id)/artifacts/out/notes.txt?\(query)").status == 403)
        #expect(try await get("/v1/builds/\(id)/events?\(query)").status == 403)
        #expect(try await get("/v1/builds/bld_\(String(repeating: "0", count: 32))/page?\(query)").status == 403)
        let tampered = try await get(String(pageURL.dropLast()) + (pageURL.hasSuffix("0") ? "1" : "0"), headers: ["Accept: text/html"])
        #expect(tampered.status == 403)
        #expect(String(decoding: tampered.body, as: UTF8.self).contains("<h1>This link is not valid</h1>"))
        let unsigned = try await get("/v1/builds/\(id)/page", headers: ["Accept: text/html"])
        #expect(unsigned.status == 401)
        #expect(String(decoding: unsigned.body, as: UTF8.self).contains("build-cli link"))
        // A bearer token opens it too.
        #expect(try await get("/v1/builds/\(id)/page", headers: auth).status == 200)
    }

    /// The page of `daemon`'s running build, once the list shows one (its link is the list's).
    /// The page of the running build whose arguments contain `marker` (not just any running
    /// build: the cancelled one before it may still be listed while it is torn down).
    private static func runningBuildsPage(_ daemon: DaemonUnderTest, auth: [String], marker: String) async throws -> String {
        for _ in 0..<200 {
            let list = try await Download.fetch(daemon.httpBase + "/v1/builds?state=running", headers: auth, in: daemon.directory)
            let builds = (try JSONSerialization.jsonObject(with: list.body) as? [String: Any])?["builds"] as? [[String: Any]]
            let ours = builds?.first { (($0["args"] as? [String]) ?? []).contains { $0.contains(marker) } }
            if let link = ours?["page_url"] as? String {
                let url = link.hasPrefix("/") ? daemon.httpBase + link : link
                return String(decoding: try await Download.fetch(url, in: daemon.directory).body, as: UTF8.self)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DaemonError("no build started running")
    }

    /// A person watching the page is no client of the build: a build whose client left is
    /// cancelled as before (the watcher sees it end), and the watcher leaving cancels nothing.
    /// With tokens (the page's events link is signed) and without (it is not: it watches all
    /// the same).
    @Test(arguments: [true, false])
    func aPageFollowsABuildWithoutKeepingItAliveOrEndingIt(withTokens: Bool) async throws {
        let daemon = withTokens ? self.daemon : try await DaemonUnderTest(.init(artifacts: ["out/*"]))
        let auth = withTokens ? self.auth : []
        // The submitter stays until the test has the page and a watcher follows; then it leaves
        // (no idempotency key, so its build is cancelled). No time window: under the full suite
        // a fixed --max-time once ran out before the page had been fetched.
        func curl(_ url: String, extra: [String] = [], body: String? = nil) throws -> RunningProcess {
            var arguments = ["-sS", "-N"] + extra + [url]
            if let tls = daemon.tls { arguments += ["--cacert", tls.certificates.caPath] }
            return try TestProcess.start("/usr/bin/curl", arguments, stdin: body.map { Data($0.utf8) }, outputDirectory: daemon.directory)
        }
        let submitter = try curl(
            daemon.httpBase + "/v1/builds",
            extra: ["--data-binary", "@-"] + auth.flatMap { ["-H", $0] },
            body: requestJSON(["command": "sh", "args": ["-c", "echo first; sleep 60 # watched-1"]])
        )
        let page = try await Self.runningBuildsPage(daemon, auth: auth, marker: "watched-1")
        let eventsLink = try #require(Self.value(of: "data-events", in: page))
        #expect(eventsLink.hasPrefix("/v1/builds/bld_") && eventsLink.contains(withTokens ? "/events?watch=1&expires=" : "/events?watch=1"))
        // The watcher follows (after=0: from the start) until the build's end. Once it has the
        // first line it is attached, and the submitter leaves.
        let watcher = try curl(daemon.httpBase + eventsLink + "&after=0")
        #expect(await eventually { watcher.stdoutSoFar.contains("first") })
        submitter.signal(SIGTERM)
        _ = await submitter.wait()
        let watched = await watcher.wait(limit: .seconds(30))
        let events = try parseEvents(watched.stdoutText)
        #expect(events.contains { $0["type"] as? String == "stdout" && $0["data"] as? String == "first\n" })
        let exit = try #require(events.last)
        #expect(exit["type"] as? String == "exit" && exit["cancelled"] as? Bool == true, "\(exit)")

        // And a watcher that leaves a running build leaves it running: the build waits for a
        // file the test creates once the watcher has gone.
        let go = daemon.projectRoot + "/go-\(UUID().uuidString)"
        async let second = daemon.curl(
            requestJSON([
                "command": "sh",
                "args": ["-c", "while [ ! -e \(go) ]; do sleep 0.05; done; mkdir -p out; echo finished | tee out/f.txt # watched-2"],
            ]),
            headers: auth
        )
        let html = try await Self.runningBuildsPage(daemon, auth: auth, marker: "watched-2")
        let link = try #require(Self.value(of: "data-events", in: html))
        _ = try? await Download.fetch(daemon.httpBase + link, extra: ["--max-time", "0.5"], in: daemon.directory)
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        let finished = try parseEvents(try await second.body)
        #expect(finished.last?["code"] as? Int == 0 && finished.last?["cancelled"] == nil, "\(finished.last ?? [:])")
    }

    @Test func artifactsOpenInlineOnlyWhereThatIsSafe() async throws {
        let events = try await build(
            #"mkdir -p out; echo '<script>document.title="ran"</script>' > out/report.html; echo text > out/notes.txt; echo bin > out/app.bin"#
        )
        let artifacts = try #require(events.last?["artifacts"] as? [[String: Any]])
        func url(_ name: String) throws -> String {
            try #require(artifacts.first { $0["name"] as? String == name }?["url"] as? String)
        }
        let report = try await get(try url("out/report.html") + "&inline=1")
        #expect(report.status == 200)
        #expect(report.header("Content-Disposition") == #"inline; filename="report.html""#)
        #expect(report.header("Content-Security-Policy")?.hasPrefix("sandbox;") == true)
        #expect(report.header("Content-Type") == "text/html; charset=utf-8")
        let notes = try await get(try url("out/notes.txt") + "&inline=1")
        #expect(notes.header("Content-Disposition")?.hasPrefix("inline;") == true && notes.header("Content-Type") == "text/plain; charset=utf-8")
        let binary = try await get(try url("out/app.bin") + "&inline=1")
        #expect(binary.status == 200 && binary.header("Content-Disposition") == #"attachment; filename="app.bin""#)
        #expect(binary.header("Content-Security-Policy") == nil)
        // Without inline=1, even the report downloads.
        #expect(try await get(try url("out/report.html")).header("Content-Disposition")?.hasPrefix("attachment;") == true)
    }

    /// A directory artifact is stored as a zip; its files open one by one, with Range, without
    /// unpacking it, under the zip's own signature.
    @Test func aDirectoryArtifactsFilesOpenOneByOne() async throws {
        let events = try await build(
            #"mkdir -p out/site/css; echo '<p>report</p><script>x()</script>' > out/site/index.html; echo 'p{}' > out/site/css/a.css; seq 1 200000 > out/site/numbers.txt"#
        )
        let zip = try #require((events.last?["artifacts"] as? [[String: Any]])?.first)
        #expect(zip["name"] as? String == "out/site.zip")
        let url = try #require(zip["url"] as? String)
        let numbers = try #require(FileManager.default.contents(atPath: daemon.projectRoot + "/out/site/numbers.txt"))

        let index = try await get(url + "&index=1")
        #expect(index.status == 200 && index.header("Content-Type") == "text/html; charset=utf-8")
        let listing = String(decoding: index.body, as: UTF8.self)
        #expect(listing.contains(">css/a.css</a>") && listing.contains(">numbers.txt</a>") && listing.contains("3 files"), "\(listing)")
        #expect(listing.contains("&amp;entry=css/a.css\" download>"))

        let whole = try await get(url + "&entry=numbers.txt")
        #expect(whole.status == 200 && whole.header("Content-Length") == String(numbers.count))
        #expect(sameBytes(whole.body, numbers))
        #expect(String(decoding: try await get(url + "&entry=css/a.css").body, as: UTF8.self) == "p{}\n")
        let part = try await get(url + "&entry=numbers.txt", headers: ["Range: bytes=1000000-1000099"])
        #expect(part.status == 206 && part.header("Content-Range") == "bytes 1000000-1000099/\(numbers.count)")
        #expect(sameBytes(part.body, numbers.subdata(in: 1_000_000..<1_000_100)))
        let etag = try #require(whole.header("ETag"))
        #expect(try await get(url + "&entry=numbers.txt", headers: ["If-None-Match: \(etag)"]).status == 304)
        // Several ranges of an inflated entry: the whole of it.
        #expect(try await get(url + "&entry=numbers.txt", headers: ["Range: bytes=0-1,5-6"]).status == 200)
        let page = try await get(url + "&entry=index.html&inline=1")
        #expect(page.header("Content-Security-Policy")?.hasPrefix("sandbox;") == true && page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(try await get(url + "&entry=missing.txt").status == 404)
        // The zip's signature is what opens its files: a changed one opens nothing.
        #expect(try await get(String(url.dropLast()) + (url.hasSuffix("0") ? "1" : "0") + "&entry=numbers.txt").status == 403)
    }

    @Test func thePagesAssetsAreServedWithoutATokenAndRevalidated() async throws {
        let script = try await get("/assets/build-page.js")
        #expect(script.status == 200 && script.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(String(decoding: script.body, as: UTF8.self).contains("getReader"))
        let etag = try #require(script.header("ETag"))
        #expect(try await get("/assets/build-page.js", headers: ["If-None-Match: \(etag)"]).status == 304)
        #expect(try await get("/assets/page.css").header("Content-Type") == "text/css; charset=utf-8")
        #expect(try await get("/assets/../v1/builds").status == 404)
        #expect(try await get("/assets/nothing.js").status == 404)
    }
}
