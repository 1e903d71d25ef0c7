import BuildServiceProtocol
import BuildServiceTLS
import Foundation
import NIOHTTP1
import Testing

@testable import BuildServiceCore
@testable import BuildServiceServer

/// Tokens and the one authorizer: who may do what, from a request's head.
@Suite struct AuthorizationTests {
    static let tokens = TokenCheck(
        settings: {
            var auth = AuthSettings()
            auth.required = true
            auth.tokens = [
                AuthToken(secret: .plain("plain-token"), name: "ci"),
                AuthToken(secret: .sha256(SHA256Digest.digest(Array("digest-token".utf8))), name: "scoped", projects: ["demo"]),
                AuthToken(secret: .plain("admin-token"), name: "ops", admin: true),
            ]
            return auth
        }()
    )

    @Test(arguments: [
        ("plain-token", "ci"),
        ("digest-token", "scoped"),
        ("admin-token", "ops"),
    ])
    func aConfiguredTokenGrantsItsEntry(token: String, name: String) {
        #expect(Self.tokens.grant(for: token)?.tokenName == name)
    }

    @Test(arguments: [nil, "", "plain-toke", "plain-token ", "PLAIN-TOKEN", "digest-tokenx"] as [String?])
    func anythingElseGrantsNothing(token: String?) {
        #expect(Self.tokens.grant(for: token) == nil)
    }

    @Test func withoutRequiredAuthEveryoneGetsEverything() throws {
        let open = TokenCheck(settings: AuthSettings())
        #expect(try #require(open.grant(for: nil as String?)).projects == nil)
        #expect(open.grant(for: "whatever") != nil)
    }

    @Test(arguments: [
        ("Bearer abc", "abc" as String?),
        ("bearer   abc ", "abc"),
        ("Basic abc", nil),
        ("Bearer", nil),
        ("abc", nil),
    ])
    func theBearerTokenIsTakenFromTheHeader(header: String, token: String?) {
        #expect(TokenCheck.bearerToken(fromHeader: header) == token)
    }

    @Test func aScopedGrantMayBuildOnlyItsProjects() throws {
        let scoped = try #require(Self.tokens.grant(for: "digest-token"))
        #expect(throws: Never.self) { try scoped.check(project: "demo") }
        #expect(throws: ServiceError.self) { try scoped.check(project: "other") }
    }

    // MARK: The authorizer

    private func authorize(
        _ method: HTTPMethod,
        _ uri: String,
        token: String? = nil,
        transport: ListenerContext.Transport = .tcp,
        metricsAuth: Bool = false
    ) throws -> Result<Authorization, ServiceError> {
        var config = try ServiceConfig.parse(toml: "schema_version = \"2\"\n[service.metrics]\nauth_required = \(metricsAuth)\n")
        config.http.auth.required = true
        let settings = LiveSettings(config: config).current
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let authorizer = RequestAuthorizer(transport: transport, signer: Self.signer, sessions: SessionStore())
        let route = Route(path: Substring(uri.split(separator: "?").first ?? ""))
        let link = route == .artifact ? ArtifactRoute(uri: uri) : nil
        return authorizer.authorize(head, route: route, link: link, tokens: Self.tokens, settings: settings)
    }

    static let signer = ArtifactURLSigner(key: Array(repeating: 7, count: 32), lifetimeSec: 60)

    @Test func healthIsOpenAndMetricsOnlyWhenConfiguredSo() throws {
        #expect(try authorize(.GET, "/healthz").isOpen)
        #expect(try authorize(.GET, "/metrics").isOpen)
        #expect(try authorize(.GET, "/metrics", metricsAuth: true).errorCode == .unauthorized)
        #expect(try authorize(.GET, "/metrics", token: "digest-token", metricsAuth: true).errorCode == .forbiddenProject)
        #expect(try authorize(.GET, "/metrics", token: "admin-token", metricsAuth: true).grantName == "ops")
    }

    @Test func everyOtherRouteAndUnknownPathsNeedAValidToken() throws {
        for uri in ["/v1/builds", "/v1/builds/x", "/no/such/route"] {
            #expect(try authorize(.GET, uri).errorCode == .unauthorized, "\(uri)")
            #expect(try authorize(.GET, uri, token: "wrong").errorCode == .unauthorized, "\(uri)")
            #expect(try authorize(.GET, uri, token: "plain-token").grantName == "ci", "\(uri)")
        }
    }

    @Test func aSocketBuildRequestWithoutAHeaderLeavesTheTokenToTheBody() throws {
        #expect(try authorize(.POST, "/v1/builds", transport: .unix).isTokenInBody)
        #expect(try authorize(.POST, "/v1/builds").errorCode == .unauthorized, "TCP: the header is the only place")
        #expect(try authorize(.POST, "/v1/builds", token: "wrong", transport: .unix).errorCode == .unauthorized)
    }

    @Test func anArtifactLinkNeedsAValidSignatureOrAToken() throws {
        let id = BuildID.make()
        let path = "/v1/builds/\(id)/artifacts/app.bin"
        let signed = path + "?" + Self.signer.query(buildID: id, name: "app.bin")
        #expect(try authorize(.GET, signed).isSignedLink)
        #expect(try authorize(.GET, signed.replacingOccurrences(of: "app.bin?", with: "other.bin?")).errorCode == .forbiddenSignature)
        let expired = path + "?" + Self.signer.query(buildID: id, name: "app.bin", now: Date(timeIntervalSinceNow: -120))
        #expect(try authorize(.GET, expired).errorCode == .linkExpired, "a genuine signature whose time is up: 410, not 403")
        #expect(try authorize(.GET, path + "?expires=99999999999&sig=00").errorCode == .forbiddenSignature)
        #expect(try authorize(.GET, path).errorCode == .unauthorized)
        #expect(try authorize(.GET, path, token: "plain-token").grantName == "ci")
    }
}

extension Result where Success == Authorization, Failure == ServiceError {
    var errorCode: ErrorCode? {
        if case .failure(let error) = self { return error.code }
        return nil
    }

    var grantName: String? {
        if case .success(.granted(let grant)) = self { return grant.tokenName }
        return nil
    }

    var isOpen: Bool {
        if case .success(.open) = self { return true }
        return false
    }

    var isTokenInBody: Bool {
        if case .success(.tokenInBody) = self { return true }
        return false
    }

    var isSignedLink: Bool {
        if case .success(.signedLink) = self { return true }
        return false
    }
}
