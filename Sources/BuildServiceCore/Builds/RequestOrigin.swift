/// Where a request came from, for the audit log.
public struct RequestOrigin: Sendable {
    public var listener: String
    public var peer: String
    /// The configured name of the token that authorised the request (never the token).
    public var tokenName: String?
    /// `scheme://host:port` artifact URLs start with when no `public_base_url` is set (the
    /// listener the request came in on); `nil` gives path-only URLs.
    public var artifactBaseURL: String?
    /// Where build page links start (`service.http.public_url`, else as for artifacts).
    public var pageBaseURL: String?
    /// Whether artifact URLs get a signature (auth is required where the request came in).
    public var signArtifactURLs = false
    /// When the request had been read whole: where a build's stage trace starts (`BuildStages`).
    public var receivedAt = ContinuousClock.now

    public init(listener: String, peer: String, tokenName: String? = nil) {
        self.listener = listener
        self.peer = peer
        self.tokenName = tokenName
    }
}
