import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// The pages and forms for people in a browser: `/` (the builds index, or the login form),
/// `POST /login`, `POST /logout` and `POST /cancel`. A session comes only from a token posted
/// to `/login` (where no token is required, from the first visit); every form that changes
/// something must carry the session's CSRF token, and the session cookie is SameSite=Strict.
struct PeopleRoutes: Sendable {
    let sessions: SessionStore
    let builds: BuildRoutes

    /// Logins, the index and the forms: no script, styles from the daemon, forms to itself.
    static let policy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// At most this many builds are listed on the index.
    static let indexLimit = 200

    /// `GET /`: the index with a live session (one is opened where no token is required),
    /// the login form otherwise.
    func home(
        _ head: HTTPRequestHead,
        session: SessionStore.Session?,
        grant: AccessGrant?,
        settings: LiveSettings.Current,
        links: BuildRoutes.LinkBase
    ) -> HTTPResponse {
        guard let grant else { return .page(.ok, LoginPage.html(), policy: Self.policy) }
        // No session but a grant: no token required. An anonymous session, so that the index's
        // forms can carry a CSRF token (another site's form must not cancel builds here either).
        let current = session ?? sessions.open(tokenDigest: nil)
        let cookie = session == nil ? SessionStore.cookie(current, lifetimeSec: sessions.lifetimeSec) : nil
        let query = QueryString.parse(uri: head.uri)
        let project = query["project"].flatMap { $0.isEmpty ? nil : $0 }
        let state = query["state"].flatMap { BuildPhase(rawValue: $0)?.rawValue }
        let visible = builds.registry.list().filter { grant.maySee($0) }
        var projects = Set(visible.map(\.plan.projectID))
        for configured in settings.config.projects.map(\.id) where grant.projects?.contains(configured) ?? true {
            projects.insert(configured)
        }
        let documents =
            visible
            .filter { project == nil || $0.plan.projectID == project }
            .sorted { BuildListCursor($0) > BuildListCursor($1) }
            .lazy
            .map { builds.document($0, links: links) }
            .filter { state == nil || $0.state == state }
            .prefix(Self.indexLimit)
        let page = BuildsIndexPage(
            builds: Array(documents),
            projects: projects.sorted(),
            project: project,
            state: state,
            csrfToken: current.csrfToken,
            loggedIn: current.tokenDigest != nil || settings.httpTokens.isRequired,
            notice: query["cancelled"].map { "Cancelling build \($0)." }
        )
        var response = HTTPResponse.page(.ok, page.html, policy: Self.policy)
        if let cookie { response = response.adding(name: "Set-Cookie", value: cookie) }
        return response
    }

    /// `POST /login` with the form field `token`: a session for a configured token, the form
    /// again (401) for anything else. Refused where the cookie could not be kept safe: another
    /// site's form, or plain HTTP to an address that is not this machine's.
    func login(_ head: HTTPRequestHead, body: ByteBuffer, tokens: TokenCheck, secureConnection: Bool) -> Result<HTTPResponse, ServiceError> {
        if head.method != .POST { return .success(.seeOther("/")) }
        if let refusal = CrossSiteRequest.refusal(head) { return .failure(refusal) }
        guard secureConnection else {
            return .failure(
                ServiceError(
                    .loginNeedsHTTPS,
                    "logging in needs HTTPS here: the session cookie is Secure and a token must not cross the network in clear; "
                        + "enable service.http.tls, or open the page on this machine"
                )
            )
        }
        let token = FormFields.parse(body)["token"]?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !token.isEmpty, let grant = tokens.grant(for: token), tokens.isRequired else {
            let message = tokens.isRequired ? "That token is not valid here." : "This service needs no token."
            return .success(.page(tokens.isRequired ? .unauthorized : .ok, LoginPage.html(message: message), policy: Self.policy))
        }
        let session = sessions.open(tokenDigest: grant.owner.tokenDigest)
        return .success(.seeOther("/", cookie: SessionStore.cookie(session, lifetimeSec: sessions.lifetimeSec)))
    }

    /// `POST /logout` with the session's CSRF token.
    func logout(_ head: HTTPRequestHead, body: ByteBuffer, session: SessionStore.Session?) -> Result<HTTPResponse, ServiceError> {
        guard let session else { return .success(.seeOther("/", cookie: SessionStore.cookie(nil, lifetimeSec: 0))) }
        if let refusal = Self.checkForm(head, fields: FormFields.parse(body), session: session) { return .failure(refusal) }
        sessions.close(session.id)
        return .success(.seeOther("/", cookie: SessionStore.cookie(nil, lifetimeSec: 0)))
    }

    /// `POST /cancel` with `build` and the session's CSRF token: the same rules as
    /// `DELETE /v1/builds/{id}` for the session's token.
    func cancel(_ head: HTTPRequestHead, body: ByteBuffer, session: SessionStore.Session?, grant: AccessGrant?) -> Result<HTTPResponse, ServiceError>
    {
        guard let session, let grant else { return .failure(ServiceError(.unauthorized, "log in at / first: your session has ended")) }
        let fields = FormFields.parse(body)
        if let refusal = Self.checkForm(head, fields: fields, session: session) { return .failure(refusal) }
        let id = fields["build"] ?? ""
        do {
            _ = try builds.cancelBuild(id: id, grant: grant)
        } catch {
            return .failure(error)
        }
        return .success(.seeOther("/?cancelled=" + id))
    }

    /// A state-changing form must come from our own page: same site, with the session's token.
    private static func checkForm(_ head: HTTPRequestHead, fields: [String: String], session: SessionStore.Session) -> ServiceError? {
        if let refusal = CrossSiteRequest.refusal(head) { return refusal }
        guard SessionStore.csrfMatches(fields["csrf"], session) else {
            return ServiceError(
                .csrfRefused,
                "this form is not from this service's own page (its CSRF token is missing or wrong); reload the page and try again"
            )
        }
        return nil
    }

}
