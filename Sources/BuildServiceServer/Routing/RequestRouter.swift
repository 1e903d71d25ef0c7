import BuildServiceCore
import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// A listener's HTTP requests: each head is judged (route, method, auth) against one snapshot
/// of the live settings, and the complete request goes to its route's handler.
/// A class: each request's answer closure captures it, one retain instead of a copy of the
/// listener's context.
final class RequestRouter: HTTPResponder {
    let listener: ListenerContext
    let authorizer: RequestAuthorizer

    /// What is known of a request once its head has been accepted.
    struct Request {
        let route: Route
        /// The request's one snapshot of the settings, taken at its head: a reload never mixes
        /// two configs in one request (token, scope, project and command are all judged by
        /// this one; see `respond` for a reload while the body arrives).
        let settings: LiveSettings.Current
        let authorization: Authorization
        /// What an artifact route names, parsed once for the authorizer and the download.
        let link: ArtifactRoute?
    }

    init(listener: ListenerContext) {
        self.listener = listener
        self.authorizer = RequestAuthorizer(
            transport: listener.transport,
            signer: listener.downloads.signer,
            sessions: listener.operations.people.sessions
        )
    }

    func accept(_ head: HTTPRequestHead, channel: any Channel) -> HeadVerdict {
        switch judge(head, settings: listener.live.current, channel: channel) {
        case .success(let request): .accept { [self] body in respond(to: head, request, body: body, channel: channel) }
        case .failure(let refusal): .refuse(refusal.response)
        }
    }

    /// Route, method and auth of a request against one settings snapshot.
    private func judge(_ head: HTTPRequestHead, settings: LiveSettings.Current, channel: any Channel) -> Result<Request, Refusal> {
        let path = Self.path(of: head)
        let route = Route(path: path)
        if route != .unknown, !route.answers(head.method) {
            let allowed = route.methods.filter { $0 != .HEAD }.map(\.rawValue).joined(separator: " or ")
            let error = ServiceError(.methodNotAllowed, "\(head.method) is not allowed on \(Self.shortened(String(path))); use \(allowed)")
            return .failure(Refusal(error, allow: route.allowHeader))
        }
        let link = route == .artifact ? ArtifactRoute(uri: head.uri) : nil
        switch authorizer.authorize(head, route: route, link: link, tokens: listener.tokens(settings), settings: settings) {
        case .failure(let error):
            listener.endpoint.recordRefusal(
                error,
                message: "\(head.method) \(Self.shortened(String(path))): \(error.message)",
                peer: PeerDescription.of(channel),
                listener: listener.name
            )
            // A link opened in a browser gets a page, everything else the JSON answer.
            if route.isForPeople, HTTPResponse.wantsPage(head) { return .failure(Refusal(page: error)) }
            return .failure(Refusal(error))
        case .success(let authorization):
            guard route != .unknown else {
                return .failure(Refusal(ServiceError(.notFound, "no route for \(head.method) \(Self.shortened(head.uri))")))
            }
            return .success(Request(route: route, settings: settings, authorization: authorization, link: link))
        }
    }

    private func respond(to head: HTTPRequestHead, _ request: Request, body: ByteBuffer, channel: any Channel) -> HTTPResponse {
        // A reload landed while the body arrived: the request is judged again, whole, by the
        // settings in force now (a token revoked meanwhile is refused). Never a mix of the two.
        let current = listener.live.current
        guard current.generation == request.settings.generation else {
            switch judge(head, settings: current, channel: channel) {
            case .success(let rejudged): return answer(head, rejudged, body: body, channel: channel)
            case .failure(let refusal): return refusal.response
            }
        }
        return answer(head, request, body: body, channel: channel)
    }

    /// The route's handler's answer.
    private func answer(_ head: HTTPRequestHead, _ request: Request, body: ByteBuffer, channel: any Channel) -> HTTPResponse {
        let operations = listener.operations
        var grant: AccessGrant?
        if case .granted(let granted) = request.authorization { grant = granted }
        switch (request.route, head.method) {
        case (.health, _):
            return HealthHandler.respond(operations.health)
        case (.asset(let name), _):
            return PageAssets.respond(name: name, head: head)
        case (.home, _), (.login, _), (.logout, _), (.cancelForm, _):
            return person(head, request, body: body, channel: channel)
        case (.metrics, _):
            let text = ByteBuffer(bytes: operations.metricsText())
            return .complete(.ok, HTTPResponse.apiHeaders(contentType: "text/plain; version=0.0.4; charset=utf-8", length: text.readableBytes), text)
        case (.artifact, _):
            return listener.downloads.respond(
                to: head,
                link: request.link,
                authorization: request.authorization,
                encrypted: listener.isTLS,
                metrics: operations.metrics
            )
        case (.builds, .POST):
            return BuildSubmission.respond(to: head, body: body, grant: grant, settings: request.settings, listener: listener, channel: channel)
        case (.buildPage(let id), _) where request.authorization.isSignedBuild:
            return operations.builds.page(id: id, grant: .signedBuildReader, links: links(head, request))
        case (.buildEvents(let id), _) where request.authorization.isSignedBuild:
            return operations.builds.events(id: id, query: QueryString.parse(uri: head.uri), grant: nil)
        default:
            break
        }
        // Every other route needs a token's grant (the authorizer refused requests without one).
        guard let grant else { return .refusal(RequestAuthorizer.unauthorized) }
        switch (request.route, head.method) {
        case (.builds, _):
            return operations.builds.list(query: QueryString.parse(uri: head.uri), grant: grant, links: links(head, request))
        case (.build(let id), .DELETE):
            return operations.builds.cancel(id: id, grant: grant, links: links(head, request))
        case (.build(let id), _):
            return operations.builds.status(id: id, grant: grant, links: links(head, request))
        case (.buildPage(let id), _):
            return operations.builds.page(id: id, grant: grant, links: links(head, request))
        case (.buildEvents(let id), _):
            return operations.builds.events(id: id, query: QueryString.parse(uri: head.uri), grant: grant)
        default:
            return .refusal(ServiceError(.notFound, "no route for \(head.method) \(Self.shortened(head.uri))"))
        }
    }

    /// The index, logins and forms (see `PeopleRoutes`); refusals as pages.
    private func person(_ head: HTTPRequestHead, _ request: Request, body: ByteBuffer, channel: any Channel) -> HTTPResponse {
        guard case .person(let session, let grant) = request.authorization else { return .refusal(RequestAuthorizer.unauthorized) }
        let people = listener.operations.people
        let outcome: Result<HTTPResponse, ServiceError>
        switch request.route {
        case .home:
            return people.home(head, session: session, grant: grant, settings: request.settings, links: links(head, request))
        case .login:
            let secure = listener.isTLS || channel.localAddress.map(ClientAddress.isLoopback) ?? false
            outcome = people.login(head, body: body, tokens: listener.tokens(request.settings), secureConnection: secure)
        case .logout:
            outcome = people.logout(head, body: body, session: session)
        default:
            outcome = people.cancel(head, body: body, session: session, grant: grant)
        }
        switch outcome {
        case .success(let response):
            return response
        case .failure(let error):
            listener.endpoint.recordRefusal(
                error,
                message: "\(head.method) \(Self.shortened(head.uri)): \(error.message)",
                peer: PeerDescription.of(channel),
                listener: listener.name
            )
            return .refusalPage(error)
        }
    }

    /// Where the links handed to this request point: its listener as the client addressed it,
    /// signed where that listener needs tokens (as of the request's settings).
    private func links(_ head: HTTPRequestHead, _ request: Request) -> BuildRoutes.LinkBase {
        BuildRoutes.LinkBase(
            origin: listener.pageBase(host: head.headers.first(name: "Host"), settings: request.settings),
            signed: request.settings.httpTokens.isRequired
        )
    }

    /// A refusal at the head, as the response it gets.
    private struct Refusal: Error {
        let response: HTTPResponse

        init(_ error: ServiceError, allow: String? = nil) {
            response = .refusal(error, allow: allow)
        }

        init(page error: ServiceError) {
            response = .refusalPage(error)
        }
    }

    private static func path(of head: HTTPRequestHead) -> Substring {
        let uri = head.uri
        return uri[..<(uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex)]
    }

    static func shortened(_ text: String) -> String {
        text.count > 100 ? String(text.prefix(100)) + "…" : text
    }
}
