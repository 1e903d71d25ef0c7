import Foundation
import Testing

/// Logging in with a token in a form, as a browser does (here with curl): a server-side
/// session in an HttpOnly, Secure, SameSite=Strict cookie that opens the index and build
/// pages and nothing of the API; every form that changes something needs the session's CSRF
/// token; a token removed by a reload ends its sessions.
@Suite struct PeopleSessionTests {
    let daemon: DaemonUnderTest
    static let token = "people-token-a41c"
    static let other = "people-other-77b0"

    init() async throws {
        var options = DaemonUnderTest.Options()
        options.httpAuthTokens = [Self.token, Self.other]
        daemon = try await DaemonUnderTest(options)
    }

    private func request(
        _ path: String,
        method: String = "GET",
        form: String? = nil,
        cookie: String? = nil,
        headers: [String] = []
    ) async throws -> Download {
        var all = headers
        if let cookie { all.append("Cookie: bs_session=\(cookie)") }
        var extra: [String] = []
        if let form { extra += ["--data-binary", form, "-H", "Content-Type: application/x-www-form-urlencoded"] }
        return try await Download.fetch(daemon.httpBase + path, headers: all, method: method, extra: extra, in: daemon.directory)
    }

    private func text(_ download: Download) -> String { String(decoding: download.body, as: UTF8.self) }

    /// Logs in; returns the session id and the CSRF token the index's forms carry.
    private func logIn(_ token: String = Self.token) async throws -> (session: String, csrf: String) {
        let login = try await request("/login", method: "POST", form: "token=\(token)")
        #expect(login.status == 303 && login.header("Location") == "/")
        let cookie = try #require(login.header("Set-Cookie"))
        #expect(cookie.hasSuffix("; Path=/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict"), "\(cookie)")
        #expect(!cookie.contains(token))
        let session = try #require(cookie.wholeMatch(of: #/bs_session=([0-9a-f]{64});.*/#)).1
        let index = try await request("/", cookie: String(session))
        let csrf = try #require(text(index).firstMatch(of: #/name="csrf" value="([0-9a-f]{64})"/#)).1
        return (String(session), String(csrf))
    }

    @Test func withoutASessionTheRootIsTheLoginFormAndAWrongTokenIsRefused() async throws {
        let root = try await request("/")
        #expect(root.status == 200)
        #expect(root.header("Cache-Control") == "no-store")
        #expect(root.header("Content-Security-Policy")?.contains("form-action 'self'") == true)
        #expect(text(root).contains(#"<form class="login" method="post" action="/login">"#))
        #expect(text(root).contains(#"type="password""#))
        let wrong = try await request("/login", method: "POST", form: "token=nope")
        #expect(wrong.status == 401 && wrong.header("Set-Cookie") == nil)
        #expect(text(wrong).contains("That token is not valid here."))
        // The cookie opens nothing of the API: a bearer token is still needed there.
        let (session, _) = try await logIn()
        #expect(try await request("/v1/builds", cookie: session).status == 401)
        // A made-up session is no session.
        #expect(text(try await request("/", cookie: String(repeating: "a", count: 64))).contains("action=\"/login\""))
    }

    @Test func theIndexListsTheTokensBuildsAndCancelsOnlyWithTheSessionsCSRFToken() async throws {
        let (session, csrf) = try await logIn()
        async let running = daemon.curl(
            requestJSON(["command": "sh", "args": ["-c", "echo started; sleep 60"]]),
            headers: ["Authorization: Bearer \(Self.token)"]
        )
        // Another token's build is not listed.
        _ = try await daemon.curl(requestJSON(["command": "true"]), headers: ["Authorization: Bearer \(Self.other)"])
        var index = ""
        for _ in 0..<200 {
            index = text(try await request("/?state=running", cookie: session))
            if index.contains("class=\"cancel\"") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let id = try #require(index.firstMatch(of: #/name="build" value="(bld_[0-9a-f]{32})"/#)).1
        #expect(index.components(separatedBy: "<tr><td>").count == 2, "one build listed: \(index)")
        // The page opens with the session alone.
        #expect(try await request("/v1/builds/\(id)/page", cookie: session).status == 200)

        // Refused: no CSRF token, a wrong one, another site's form; the build runs on.
        let missing = try await request("/cancel", method: "POST", form: "build=\(id)", cookie: session)
        #expect(missing.status == 403 && text(missing).contains("csrf_refused"))
        let wrong = try await request("/cancel", method: "POST", form: "build=\(id)&csrf=\(String(repeating: "0", count: 64))", cookie: session)
        #expect(wrong.status == 403)
        let crossSite = try await request(
            "/cancel",
            method: "POST",
            form: "build=\(id)&csrf=\(csrf)",
            cookie: session,
            headers: ["Sec-Fetch-Site: cross-site"]
        )
        #expect(crossSite.status == 403)
        let status = try await daemon.curl("", path: "/v1/builds/\(id)", method: "GET", headers: ["Authorization: Bearer \(Self.token)"])
        #expect(status.body.contains(#""state":"running""#))

        let cancelled = try await request("/cancel", method: "POST", form: "build=\(id)&csrf=\(csrf)", cookie: session)
        #expect(cancelled.status == 303 && cancelled.header("Location") == "/?cancelled=\(id)")
        let events = try parseEvents(try await running.body)
        #expect(events.last?["cancelled"] as? Bool == true)
    }

    @Test func logoutNeedsTheCSRFTokenAndEndsTheSession() async throws {
        let (session, csrf) = try await logIn()
        #expect(try await request("/logout", method: "POST", form: "", cookie: session).status == 403)
        let out = try await request("/logout", method: "POST", form: "csrf=\(csrf)", cookie: session)
        #expect(out.status == 303 && out.header("Set-Cookie")?.hasPrefix("bs_session=; Path=/; Max-Age=0;") == true)
        #expect(text(try await request("/", cookie: session)).contains("action=\"/login\""))
    }

    @Test func aTokenRemovedByAReloadEndsItsSessions() async throws {
        let (session, _) = try await logIn(Self.other)
        let build = try parseEvents(try await daemon.curl(requestJSON(["command": "true"]), headers: ["Authorization: Bearer \(Self.other)"]).body)
        let id = try #require(build.first?["id"] as? String)
        #expect(try await request("/v1/builds/\(id)/page", cookie: session).status == 200)
        let config = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: ", \"\(Self.other)\"]", with: "]").write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("config reloaded") })
        #expect(text(try await request("/", cookie: session)).contains("action=\"/login\""))
        #expect(try await request("/v1/builds/\(id)/page", cookie: session).status == 401)
    }

    /// Another site's page cannot start or cancel builds through the API either: a browser says
    /// where the request comes from, programs send no such header.
    @Test func anotherSitesPageCannotStartBuildsEvenWhereNoTokenIsNeeded() async throws {
        let open = try await DaemonUnderTest()
        let refused = try await open.curl(requestJSON(["command": "true"]), headers: ["Sec-Fetch-Site: cross-site"])
        #expect(refused.status == 403 && refused.body.contains("csrf_refused"), "\(refused.body)")
        let ours = try await open.curl(requestJSON(["command": "true"]), headers: ["Sec-Fetch-Site: same-origin"])
        #expect(ours.status == 200)
        #expect(try await open.curl(requestJSON(["command": "true"])).status == 200)
    }

    /// Over plain HTTP a login is for this machine only: in a network namespace of its own,
    /// the daemon listens on every address (tokens over plain HTTP allowed by the operator),
    /// and a login to a non-loopback address is refused while one to 127.0.0.1 works.
    @Test func aLoginOverPlainHTTPToAnotherAddressIsRefused() async throws {
        let directory = daemon.directory + "/netns"
        try FileManager.default.createDirectory(atPath: directory + "/project", withIntermediateDirectories: true)
        try """
        schema_version = "2"
        [service.socket]
        enabled = false
        [service.http]
        enabled = true
        listen_addr = "0.0.0.0:8080"
        [service.http.auth]
        required = true
        allow_plaintext_http = true
        tokens = ["\(Self.token)"]
        [build]
        workspace_root = "\(directory)/ws"
        allow_root_builds = true
        [build.commands]
        true = "/bin/true"
        [artifacts]
        storage_root = "\(directory)/store"
        [[projects]]
        id = "demo"
        path_root = "\(directory)/project"
        commands = ["true"]
        """.write(toFile: directory + "/config.toml", atomically: true, encoding: .utf8)
        // 198.51.100.7: a documentation address, on this namespace's own loopback device.
        let script = """
            set -e
            ip link set lo up
            ip addr add 198.51.100.7/32 dev lo
            "$1" --config "$2/config.toml" 2>"$2/daemon.log" &
            daemon=$!
            for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.1; done
            curl -s -o "$2/remote.body" -w '%{http_code}' --data "token=$3" http://198.51.100.7:8080/login
            curl -s -o /dev/null -w ' %{http_code}' --data "token=$3" http://127.0.0.1:8080/login
            kill $daemon
            wait $daemon || true
            """
        let result = try await TestProcess.run(
            "/usr/bin/unshare",
            ["--net", "/bin/sh", "-c", script, "sh", TestProcess.binary("build-service"), directory, Self.token],
            outputDirectory: daemon.directory
        )
        #expect(result.stdoutText == "403 303", "\(result.stdoutText) \(result.stderrText)")
        let body = (try? String(contentsOfFile: directory + "/remote.body", encoding: .utf8)) ?? ""
        #expect(body.contains("login_needs_https") && body.contains("logging in needs HTTPS"), "\(body)")
    }
}
