import Foundation
import Testing

/// The build page as a person sees it, in headless Chromium: lines appear while the build runs,
/// hostile output stays text, an artifact downloads from the page intact, an HTML report opens
/// inline without running its script, and an expired link says so.
@Suite struct BrowserPageTests {
    static let token = "browser-token-3f9e"

    private static func daemon(urlTTLSec: Int? = nil) async throws -> DaemonUnderTest {
        var options = DaemonUnderTest.Options(artifacts: ["out/*"], artifactSettings: urlTTLSec.map { "url_ttl_sec = \($0)" } ?? "")
        options.httpAuthTokens = [token]
        return try await DaemonUnderTest(options)
    }

    /// The page link of the build the list shows running, once it does.
    private static func runningPageURL(_ daemon: DaemonUnderTest) async throws -> String {
        for _ in 0..<200 {
            let list = try await Download.fetch(
                daemon.httpBase + "/v1/builds?state=running",
                headers: ["Authorization: Bearer \(token)"],
                in: daemon.directory
            )
            let builds = (try JSONSerialization.jsonObject(with: list.body) as? [String: Any])?["builds"] as? [[String: Any]]
            if let link = builds?.first?["page_url"] as? String { return link }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DaemonError("no build started running")
    }

    private static let log = "document.getElementById('log').textContent"
    private static let state = "document.getElementById('state').textContent"

    @Test func aRunningBuildsLinesAppearLiveAndTheFinishedPageServesItsArtifacts() async throws {
        let daemon = try await Self.daemon()
        // The build waits for the page: what follows "go" can reach it only live, and the
        // build holds at the end until the test has looked (a finished build's page would
        // show the same lines rendered by the server).
        let script = #"""
            echo 'line 1'
            while [ ! -e go ]; do sleep 0.05; done
            echo 'line 2 <script>window.ran = 1</script><img src=x onerror="window.ran = 2">'
            printf '\033[31mred\033[0m and \033]0;title\007plain\n'
            echo 'line 3'
            while [ ! -e done ]; do sleep 0.05; done
            mkdir -p out
            head -c 300000 /dev/urandom > out/app.bin
            echo '<p id="x">report</p><script>document.title = "ran"</script>' > out/report.html
            """#
        async let build = daemon.curl(requestJSON(["command": "sh", "args": ["-c", script]]), headers: ["Authorization: Bearer \(Self.token)"])
        let page = try await Self.runningPageURL(daemon)
        let downloads = daemon.directory + "/downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        let harmless = "window.ran === undefined && document.querySelectorAll('#log *:not(span)').length === 0"

        let results = try await HeadlessBrowser.run(
            [
                ["open": page],
                ["eval": Self.state],
                ["touch": daemon.projectRoot + "/go"],
                ["wait": "\(Self.log).includes('line 3') && \(Self.state) === 'running'", "timeout": 30],
                ["eval": Self.log],
                ["eval": harmless],
                ["touch": daemon.projectRoot + "/done"],
                // At exit the page loads its finished version.
                ["wait": "\(Self.state) === 'succeeded'", "timeout": 30],
                ["eval": Self.log],
                ["eval": harmless],
                ["eval": "document.querySelectorAll('script').length"],
                ["downloads": downloads],
                ["click": "a[href*='out/app.bin']"],
                ["wait_file": downloads + "/app.bin", "timeout": 30],
                ["eval": "document.querySelector('a.view').href"],
            ],
            in: daemon.directory
        )
        #expect(results[0] as? Int == 200)
        #expect(results[1] as? String == "running")
        let expected = #"line 1\#nline 2 <script>window.ran = 1</script><img src=x onerror="window.ran = 2">\#nred and plain\#nline 3\#n"#
        #expect(results[4] as? String == expected, "followed live: \(results[4])")
        #expect(results[5] as? Bool == true, "nothing the build wrote ran or became an element while followed")
        #expect(results[8] as? String == expected, "finished: \(results[8])")
        #expect(results[9] as? Bool == true, "nor on the finished page")
        #expect(results[10] as? Int == 0, "a finished build's page has no script")
        #expect(
            sameBytes(
                FileManager.default.contents(atPath: downloads + "/app.bin"),
                try #require(FileManager.default.contents(atPath: daemon.projectRoot + "/out/app.bin"))
            )
        )
        _ = try await build

        // The report's "view" link opens it inline, where its script does not run.
        let view = try #require(results[14] as? String)
        #expect(view.contains("/artifacts/out/report.html?") && view.hasSuffix("&inline=1"))
        let report = try await HeadlessBrowser.run(
            [["open": view], ["eval": "document.getElementById('x').textContent + '|' + document.title"]],
            in: daemon.directory
        )
        #expect(report[0] as? Int == 200)
        #expect(report[1] as? String == "report|", "the report's script did not run")
    }

    @Test func aFailedBuildsPageSaysSoAndAnExpiredLinkSaysWhatToDo() async throws {
        // Links live 1 s: the build's has expired when the browser opens it. The page itself is
        // then opened with a session (a fresh link could expire too on a loaded machine).
        let daemon = try await Self.daemon(urlTTLSec: 1)
        let response = try await daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", "echo compiling; echo 'error: it broke' >&2; exit 3"]]),
            headers: ["Authorization: Bearer \(Self.token)"]
        )
        let events = try parseEvents(response.body)
        let link = try #require(events.last?["page_url"] as? String)
        let id = try #require(events.first?["id"] as? String)
        let expires = try #require(URLComponents(string: link)?.queryItems?.first { $0.name == "expires" }?.value.flatMap(Double.init))
        try await Task.sleep(for: .seconds(max(0, expires + 1.2 - Date().timeIntervalSince1970)))
        let results = try await HeadlessBrowser.run(
            [
                ["open": link],
                ["eval": "document.querySelector('h1').textContent + '|' + document.body.textContent.includes('ask for a fresh one')"],
                ["open": daemon.httpBase + "/"],
                ["type": "#token", "text": Self.token],
                ["click": "form.login button"],
                ["wait": "document.title.startsWith('Builds')", "timeout": 30],
                ["open": daemon.httpBase + "/v1/builds/\(id)/page"],
                ["eval": "\(Self.state) + '|' + getComputedStyle(document.querySelector('#log .e')).color + '|' + \(Self.log)"],
            ],
            in: daemon.directory
        )
        #expect(results[0] as? Int == 410)
        #expect(results[1] as? String == "This link has expired|true")
        #expect(results[6] as? Int == 200)
        // stderr shows in its own colour (the style sheet loaded under the page's CSP).
        #expect(results[7] as? String == "failed, exit 3|rgb(255, 148, 146)|compiling\nerror: it broke\n")
    }

    /// A person logs in with a token, sees the index, cancels a running build from it, opens a
    /// build's page with the session alone, and logs out.
    @Test func logInSeeTheIndexCancelABuildAndLogOut() async throws {
        let daemon = try await Self.daemon()
        _ = try await daemon.curl(requestJSON(["command": "true"]), headers: ["Authorization: Bearer \(Self.token)"])
        async let running = daemon.curl(requestJSON(["command": "sleep", "args": ["60"]]), headers: ["Authorization: Bearer \(Self.token)"])
        _ = try await Self.runningPageURL(daemon)
        let rows = "document.querySelectorAll('tbody tr').length"
        let results = try await HeadlessBrowser.run(
            [
                ["open": daemon.httpBase + "/"],
                ["eval": "document.querySelector('form.login') !== null && document.cookie === ''"],
                ["type": "#token", "text": Self.token],
                ["click": "form.login button"],
                ["wait": "document.title.startsWith('Builds')", "timeout": 20],
                ["eval": rows],
                // HttpOnly: no script on our pages (nor injected into them) reads the session.
                ["eval": "document.cookie"],
                ["click": "button.cancel"],
                ["wait": "document.querySelector('.notice') !== null", "timeout": 20],
                ["eval": "document.querySelector('.notice').textContent"],
                // The finished build's row (newest first: the last): the cancelled one's page may
                // still follow it, and a followed page replaces itself with its signed page link
                // when the build ends, which raced this check on a loaded machine.
                ["click": "tbody tr:last-child a"],
                ["wait": "document.getElementById('log') !== null", "timeout": 20],
                ["eval": "location.pathname.endsWith('/page') && location.search === ''"],
                ["open": daemon.httpBase + "/"],
                ["click": "header.bar button"],
                ["wait": "document.querySelector('form.login') !== null", "timeout": 20],
            ],
            in: daemon.directory
        )
        #expect(results[1] as? Bool == true)
        #expect(results[5] as? Int == 2)
        #expect(results[6] as? String == "")
        #expect((results[9] as? String)?.hasPrefix("Cancelling build bld_") == true, "\(results[9])")
        #expect(results[12] as? Bool == true, "the page opened with the session, without a signed link")
        let events = try parseEvents(try await running.body)
        #expect(events.last?["cancelled"] as? Bool == true)
    }

    /// Another site's page cannot use a logged-in person's session: a form on a page from
    /// another origin (another site, `localhost`, and the same site on another port) that posts
    /// to `/cancel` is refused, and so is a form of our own origin without the CSRF token.
    @Test func formsFromOtherPagesCannotCancelABuild() async throws {
        let daemon = try await Self.daemon()
        async let running = daemon.curl(requestJSON(["command": "sleep", "args": ["60"]]), headers: ["Authorization: Bearer \(Self.token)"])
        let page = try await Self.runningPageURL(daemon)
        let id = try #require(page.firstMatch(of: #/bld_[0-9a-f]{32}/#)).0
        // The attacker's page: a form that posts itself to the daemon as soon as it loads.
        let site = daemon.directory + "/attacker"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try """
        <form id="f" method="post" action="\(daemon.httpBase)/cancel"><input name="build" value="\(id)"><input name="csrf" value="guess"></form>
        <script>document.getElementById("f").submit()</script>
        """.write(toFile: site + "/attack.html", atomically: true, encoding: .utf8)
        let server = try TestProcess.start(
            "/usr/bin/python3",
            ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", site],
            outputDirectory: daemon.directory
        )
        defer { server.signal(SIGKILL) }
        var port = 0
        #expect(
            await eventually {
                port = server.stdoutSoFar.firstMatch(of: #/port (\d+)/#).flatMap { Int($0.1) } ?? 0
                return port > 0
            }
        )
        let refused = "document.body.textContent.includes('csrf_refused')"
        let results = try await HeadlessBrowser.run(
            [
                ["open": daemon.httpBase + "/"],
                ["type": "#token", "text": Self.token],
                ["click": "form.login button"],
                ["wait": "document.title.startsWith('Builds')", "timeout": 20],
                // Another site (localhost is not 127.0.0.1's site): no cookie, and refused.
                ["open": "http://localhost:\(port)/attack.html"],
                ["wait": "location.href.endsWith('/cancel')", "timeout": 20],
                ["eval": refused],
                // The same site on another port: the Strict cookie goes along, and it is refused.
                ["open": "http://127.0.0.1:\(port)/attack.html"],
                ["wait": "location.href.endsWith('/cancel')", "timeout": 20],
                ["eval": refused],
                // Our own page, a form without the session's CSRF token.
                ["open": daemon.httpBase + "/"],
                [
                    "eval": """
                    (() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/cancel';
                    const b = document.createElement('input'); b.name = 'build'; b.value = '\(id)'; f.appendChild(b);
                    document.body.appendChild(f); f.submit(); return true; })()
                    """
                ],
                ["wait": "location.href.endsWith('/cancel')", "timeout": 20],
                ["eval": refused],
            ],
            in: daemon.directory
        )
        #expect(results[6] as? Bool == true && results[9] as? Bool == true && results[13] as? Bool == true, "\(results)")
        let status = try await daemon.curl("", path: "/v1/builds/\(id)", method: "GET", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(status.body.contains(#""state":"running""#), "the build runs on: \(status.body)")
        _ = try await daemon.curl("", path: "/v1/builds/\(id)", method: "DELETE", headers: ["Authorization: Bearer \(Self.token)"])
        _ = try await running
    }
}
