import BuildServiceCore
import NIOHTTP1

/// What a request's path addresses, before method and auth are looked at.
package enum Route: Equatable {
    case health
    case metrics
    /// `/v1/builds`: POST submits, GET lists.
    case builds
    /// `/v1/builds/{id}`: GET status, DELETE cancel.
    case build(id: String)
    /// `/v1/builds/{id}/events`: GET re-attaches.
    case buildEvents(id: String)
    /// `/v1/builds/{id}/page`: the build's page for people.
    case buildPage(id: String)
    /// `/assets/{name}`: the pages' style sheet and script.
    case asset(name: String)
    /// `/`: the builds index for a person with a session, else the login form.
    case home
    /// `/login`: POST a token from the form, get a session cookie.
    case login
    /// `/logout`: POST (with the session's CSRF token) ends the session.
    case logout
    /// `/cancel`: POST from the index's cancel button (with the session's CSRF token).
    case cancelForm
    /// `/v1/builds/{id}/artifacts/…` and `/artifacts/…` (parsed by `ArtifactRoute`).
    case artifact
    case unknown

    /// The routes that are one path each.
    private static let fixed: [Substring: Route] = [
        "/healthz": .health, "/metrics": .metrics, "/v1/builds": .builds,
        "/": .home, "/login": .login, "/logout": .logout, "/cancel": .cancelForm,
    ]

    package init(path: Substring) {
        // Downloads first: they are most of the requests, and no fixed path or asset is one
        // (a dictionary lookup hashes the whole path, a tenth of a small download's routing).
        if ArtifactRoute.matches(path: path) {
            self = .artifact
        } else if let route = Self.fixed[path] {
            self = route
        } else if path.utf8.starts(with: "/assets/".utf8) {
            self = .asset(name: String(path.dropFirst("/assets/".count)))
        } else if path.utf8.starts(with: "/v1/builds/".utf8) {
            let rest = path.dropFirst("/v1/builds/".count).split(separator: "/", omittingEmptySubsequences: false)
            // A malformed id is a build nobody can see: answered like an unknown one, after auth.
            let id = String(rest[0])
            switch rest.count {
            case 1: self = .build(id: id)
            case 2 where rest[1] == "events": self = .buildEvents(id: id)
            case 2 where rest[1] == "page": self = .buildPage(id: id)
            default: self = .unknown
            }
        } else {
            self = .unknown
        }
    }

    /// Whether the route answers `method` (HEAD wherever GET is, but for the live event stream).
    /// Asked on every request: a switch, no array.
    func answers(_ method: HTTPMethod) -> Bool {
        switch self {
        case .buildEvents: method == .GET
        case .health, .metrics, .artifact, .buildPage, .asset, .home: method == .GET || method == .HEAD
        case .login: method == .GET || method == .HEAD || method == .POST
        case .logout, .cancelForm: method == .POST
        case .builds: method == .GET || method == .HEAD || method == .POST
        case .build: method == .GET || method == .HEAD || method == .DELETE
        case .unknown: false
        }
    }

    /// The methods this route answers, in the order the Allow header names them.
    var methods: [HTTPMethod] { [HTTPMethod.GET, .HEAD, .POST, .DELETE].filter(answers) }

    /// Routes a person opens in a browser: refusals come as a page when the client asks for HTML.
    var isForPeople: Bool {
        switch self {
        case .artifact, .buildPage, .home, .login, .logout, .cancelForm: true
        default: false
        }
    }

    /// The `Allow` header of a 405.
    var allowHeader: String { methods.map(\.rawValue).joined(separator: ", ") }
}
