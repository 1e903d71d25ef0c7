import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOHTTP1

/// The one place a request is authorised: once, from its head, against the request's one
/// snapshot of the settings. Handlers only apply the grant to what they find (a token scoped
/// to some projects sees only their builds and artifacts).
struct RequestAuthorizer: Sendable {
    let transport: ListenerContext.Transport
    /// Checks artifact links' signatures.
    let signer: ArtifactURLSigner
    /// People's logins, for their pages.
    let sessions: SessionStore

    /// - Parameters:
    ///   - link: the artifact a `.artifact` route names (`nil` if its path is malformed).
    ///   - tokens: the listener's tokens in the request's settings snapshot.
    func authorize(
        _ head: HTTPRequestHead,
        route: Route,
        link: ArtifactRoute?,
        tokens: TokenCheck,
        settings: LiveSettings.Current
    ) -> Result<Authorization, ServiceError> {
        let presented = TokenCheck.bearerToken(fromHeader: head.headers.first(name: "Authorization"))
        if head.method == .POST || head.method == .DELETE, let refusal = CrossSiteRequest.refusal(head) {
            return .failure(refusal)
        }
        switch route {
        case .health, .asset:
            return .success(.open)
        case .home, .login, .logout, .cancelForm:
            // Their handlers show the login form, or refuse, where there is no session.
            guard tokens.isRequired else {
                return .success(.person(session: sessions.session(cookieHeader: head.headers.first(name: "Cookie")), grant: .everything))
            }
            let live = liveSession(head, tokens: tokens)
            return .success(.person(session: live?.session, grant: live?.grant))
        case .metrics where !settings.config.metricsAuthRequired:
            return .success(.open)
        case .artifact where presented == nil && tokens.isRequired:
            guard let link else { return .failure(Self.unauthorized) }
            return signedLink(buildID: link.buildID, path: .artifact(link.name), query: link.query).map { .signedLink }
        case .buildPage(let id) where presented == nil && tokens.isRequired:
            let query = QueryString.parse(uri: head.uri)
            if query["sig"] == nil, let live = liveSession(head, tokens: tokens) { return .success(.granted(live.grant)) }
            return signedLink(buildID: id, path: .page, query: query).map { .signedBuild(id: id) }
        case .buildEvents(let id) where presented == nil && tokens.isRequired && head.uri.contains("sig="):
            // What a build page follows: read-only, with the signature the page was given.
            return signedLink(buildID: id, path: .events, query: QueryString.parse(uri: head.uri)).map { .signedBuild(id: id) }
        case .builds where transport == .unix && head.method == .POST && presented == nil && tokens.isRequired:
            // The original's clients put the token in the body (`auth_token`).
            return .success(.tokenInBody)
        default:
            break
        }
        // The header is the only other place for a token: a bad one is refused before routing,
        // so a client without a token learns nothing, not even which routes exist.
        guard let grant = tokens.grant(for: presented) else { return .failure(Self.unauthorized) }
        // Every project's series are in /metrics: a token limited to some projects may not
        // read the others' names and counts.
        if route == .metrics, grant.projects != nil, !grant.admin {
            let who = grant.tokenName.map { "token \"\($0)\"" } ?? "this token"
            return .failure(
                ServiceError(.forbiddenProject, "\(who) is limited to some projects and /metrics covers all of them; use an unscoped or admin token")
            )
        }
        return .success(.granted(grant))
    }

    /// The request's session and what its token grants now; nil without a session or when its
    /// token is no longer configured (a reload removed it).
    private func liveSession(_ head: HTTPRequestHead, tokens: TokenCheck) -> (session: SessionStore.Session, grant: AccessGrant)? {
        guard let session = sessions.session(cookieHeader: head.headers.first(name: "Cookie")),
            let grant = tokens.grant(forOwnerDigest: session.tokenDigest)
        else { return nil }
        return (session, grant)
    }

    /// A link opened without a token: its URL must carry a valid signature for `path`.
    private func signedLink(buildID: String, path: ArtifactURLSigner.SignedPath, query: [String: String]) -> Result<Void, ServiceError> {
        guard let expires = query["expires"], let signature = query["sig"] else {
            return .failure(path == .page ? Self.pageNeedsLink : Self.unauthorized)
        }
        switch signer.check(buildID: buildID, path: path, expires: expires, sig: signature) {
        case .valid:
            return .success(())
        case .expired(let at):
            let when = Date(timeIntervalSince1970: TimeInterval(at)).formatted(.iso8601)
            let what = path == .page ? "build page link" : path == .events ? "build page's event link" : "download link"
            let fresh = path == .page ? "build-cli link \(buildID)" : "build-cli status \(buildID)"
            return .failure(
                ServiceError(.linkExpired, "this \(what) expired at \(when); ask for a fresh one: \(fresh), or GET /v1/builds/\(buildID)")
            )
        case .invalid:
            return .failure(path == .page ? Self.badPageSignature : Self.badSignature)
        }
    }

    static let unauthorized = ServiceError(.unauthorized, "a valid bearer token is required")
    static let pageNeedsLink = ServiceError(
        .unauthorized,
        "a build page opens with the signed link build-cli prints (build-cli link ID), after logging in at /, or with a bearer token"
    )
    static let badPageSignature = ServiceError(
        .forbiddenSignature,
        "the build page link's signature is invalid: it was changed, or is for another build"
    )
    static let badSignature = ServiceError(
        .forbiddenSignature,
        "the download link's signature is invalid: it was changed, or is for another file"
    )
}
