import Foundation
import Testing

/// Bearer tokens over HTTPS: every route but /healthz wants one; token entries by digest, from
/// a file, named and scoped to projects.
@Suite struct TokenAuthTests {
    let certificates: TestCertificates
    let daemon: DaemonUnderTest
    static let scopedToken = "agent-a-secret-7f3e"

    init() async throws {
        certificates = try await TestCertificates()
        let tokensFile = certificates.directory + "/tokens"
        try "# one token per line\nfile-token-91b2\n".write(toFile: tokensFile, atomically: false, encoding: .utf8)
        let digest = try await Self.sha256(Self.scopedToken, in: certificates.directory)
        var options = DaemonUnderTest.Options(tls: .init(certificates: certificates))
        options.httpAuthTOML = """
            type = "bearer"
            required = true
            tokens = ["admin-token-5c1d", { token_sha256 = "\(digest)", name = "agent-a", projects = ["other"] }]
            tokens_file = "\(tokensFile)"
            """
        daemon = try await DaemonUnderTest(options)
    }

    private static func sha256(_ text: String, in directory: String) async throws -> String {
        let result = try await TestProcess.run("/usr/bin/sha256sum", [], stdin: Data(text.utf8), outputDirectory: directory)
        return String(result.stdoutText.prefix(64))
    }

    @Test(arguments: [
        ("POST", "/v1/builds"), ("GET", "/v1/builds"), ("GET", "/v1/builds/bld_0123/artifacts/app"),
        ("DELETE", "/v1/builds/bld_0123"), ("GET", "/no/such/route"),
    ])
    func everyRouteWantsAToken(method: String, path: String) async throws {
        let body = requestJSON(["command": "true"])
        for headers in [[], ["Authorization: Bearer not-a-token"], ["Authorization: Basic YWRtaW46YWRtaW4="]] {
            let response = try await daemon.curl(body, path: path, method: method, headers: headers)
            #expect(response.status == 401, "\(method) \(path) \(headers)")
            #expect(response.headers.lowercased().contains("www-authenticate: bearer"))
            #expect(response.body.contains("\"code\":\"unauthorized\""))
        }
    }

    @Test func healthzAnswersWithoutAToken() async throws {
        let response = try await daemon.curl("", path: "/healthz", method: "GET")
        #expect(response.status == 200)
        #expect(response.body.hasPrefix("{\"status\":\"ok\",\"version\":"))
    }

    @Test func aScopedTokenBuildsOnlyItsProjects() async throws {
        let headers = ["Authorization: Bearer \(Self.scopedToken)"]
        let allowed = try await daemon.curl(requestJSON(["project_id": "other", "command": "true"]), headers: headers)
        #expect(allowed.status == 200)
        #expect(try parseEvents(allowed.body).last?["code"] as? Int == 0)
        // A project outside the scope, existing or not, is 403: the token learns nothing more.
        for project in ["demo", "no-such-project"] {
            let refused = try await daemon.curl(requestJSON(["project_id": project, "command": "true"]), headers: headers)
            #expect(refused.status == 403, "\(project)")
            #expect(refused.body.contains("\"code\":\"forbidden_project\""))
            #expect(refused.body.contains("token \\\"agent-a\\\" may not build project"))
        }
        let cli = try await daemon.cli(["--token", Self.scopedToken, "--project", "demo", "true"], overHTTP: true)
        #expect(cli.status == 77)
        #expect(cli.stderrText.contains("forbidden_project"))
        // The log names the token, never shows it.
        #expect(daemon.log.contains("auth.token_name=agent-a"))
        #expect(!daemon.log.contains(Self.scopedToken))
    }

    @Test func plainAndFileTokensBuildEveryProject() async throws {
        for token in ["admin-token-5c1d", "file-token-91b2"] {
            let result = try await daemon.cli(["--project", "demo", "make", "all"], overHTTP: true, environment: ["BUILD_SERVICE_TOKEN": token])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(!daemon.log.contains(token))
        }
    }
}

extension TokenAuthTests {
    /// /metrics names every project: a token scoped to some of them gets 403 there, and
    /// learns nothing of the others; an unscoped token reads it.
    @Test func metricsAreNotShownToATokenScopedToProjects() async throws {
        let scoped = try await daemon.curl("", path: "/metrics", method: "GET", headers: ["Authorization: Bearer \(Self.scopedToken)"])
        #expect(scoped.status == 403, "\(scoped.body)")
        #expect(scoped.body.contains("forbidden_project") && !scoped.body.contains("demo"), "\(scoped.body)")
        let unscoped = try await daemon.curl("", path: "/metrics", method: "GET", headers: ["Authorization: Bearer admin-token-5c1d"])
        #expect(unscoped.status == 200)
        #expect(unscoped.body.contains("build_service_"), "\(unscoped.body.prefix(200))")
    }
}

extension TokenAuthTests {
    /// A refused request leaves an audit line with the peer and the reason, never the token.
    @Test func refusalsAreLoggedWithThePeerAndNeverTheToken() async throws {
        let response = try await daemon.curl("", path: "/v1/builds", method: "GET", headers: ["Authorization: Bearer wrong-token-3e9a"])
        #expect(response.status == 401)
        #expect(await eventually { daemon.log.contains("request refused") && daemon.log.contains("code=unauthorized") })
        #expect(daemon.log.contains("peer=127.0.0.1:"), "\(daemon.log)")
        #expect(!daemon.log.contains("wrong-token-3e9a"))
    }
}
