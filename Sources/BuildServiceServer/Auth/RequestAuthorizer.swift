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
        switch route {
        case .health:
            return .success(.open)
        case .metrics where !settings.config.metricsAuthRequired:
            return .success(.open)
        case .artifact where presented == nil && tokens.isRequired:
            return signedLink(link)
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

    /// A download without a token: its URL must carry a valid signature.
    private func signedLink(_ link: ArtifactRoute?) -> Result<Authorization, ServiceError> {
        guard let link, let expires = link.query["expires"], let signature = link.query["sig"] else {
            return .failure(Self.unauthorized)
        }
        switch signer.check(buildID: link.buildID, name: link.name, expires: expires, sig: signature) {
        case .valid:
            return .success(.signedLink)
        case .expired(let at):
            let when = Date(timeIntervalSince1970: TimeInterval(at)).formatted(.iso8601)
            return .failure(
                ServiceError(
                    .linkExpired,
                    "this download link expired at \(when); ask for a fresh one: build-cli status \(link.buildID), or GET /v1/builds/\(link.buildID)"
                )
            )
        case .invalid:
            return .failure(Self.badSignature)
        }
    }

    static let unauthorized = ServiceError(.unauthorized, "a valid bearer token is required")
    static let badSignature = ServiceError(
        .forbiddenSignature,
        "the download link's signature is invalid: it was changed, or is for another file"
    )
}
