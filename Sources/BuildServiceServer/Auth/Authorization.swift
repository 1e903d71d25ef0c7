/// Who a request speaks for, as `RequestAuthorizer` decided from its head.
enum Authorization {
    /// A route anyone may use (`/healthz`; `/metrics` unless it requires auth).
    case open
    /// The bearer token's grant, or `AccessGrant.everything` where no token is required.
    case granted(AccessGrant)
    /// An artifact link with a valid signature: that one artifact, whatever its project.
    case signedLink
    /// A build page's (or its event stream's) link with a valid signature: that build, to read.
    case signedBuild(id: String)
    /// A person's page or form (`/`, `/login`, `/logout`, `/cancel`): their session and what
    /// its token may do, both nil without a live session (a token removed by a reload has
    /// none). Only these routes and build pages look at the session cookie, never the API.
    case person(session: SessionStore.Session?, grant: AccessGrant?)
    /// A build request on the Unix socket without an Authorization header: its body's
    /// `auth_token` decides, against the same settings snapshot.
    case tokenInBody

    var isSignedBuild: Bool {
        if case .signedBuild = self { true } else { false }
    }
}
