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

    /// The methods this route answers (HEAD wherever GET is, but for the live event stream).
    var methods: [HTTPMethod] {
        switch self {
        case .buildEvents: [.GET]
        case .health, .metrics, .artifact, .buildPage, .asset, .home: [.GET, .HEAD]
        case .login: [.GET, .HEAD, .POST]
        case .logout, .cancelForm: [.POST]
        case .builds: [.GET, .HEAD, .POST]
        case .build: [.GET, .HEAD, .DELETE]
        case .unknown: []
        }
    }

    /// Whether `method` is one of `methods`, without making the array (asked on every request).
    func answers(_ method: HTTPMethod) -> Bool {
        switch (self, method) {
        case (.buildEvents, .GET): true
        case (.health, .GET), (.metrics, .GET), (.artifact, .GET), (.buildPage, .GET), (.asset, .GET), (.home, .GET): true
        case (.health, .HEAD), (.metrics, .HEAD), (.artifact, .HEAD), (.buildPage, .HEAD), (.asset, .HEAD), (.home, .HEAD): true
        case (.login, .GET), (.login, .HEAD), (.login, .POST): true
        case (.logout, .POST), (.cancelForm, .POST): true
        case (.builds, .GET), (.builds, .HEAD), (.builds, .POST): true
        case (.build, .GET), (.build, .HEAD), (.build, .DELETE): true
        default: false
        }
    }

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
