import BuildServiceConcurrency
import BuildServiceCore
import NIOCore

/// What a connection handler needs to serve requests; shared by every connection of a listener.
struct ListenerContext: Sendable {
    enum Transport: Sendable {
        case tcp
        case unix
    }

    /// Request bodies (and legacy request lines) above this get 413.
    static let maxBodyBytes = 1024 * 1024
    /// Connections the kernel holds before we accept them (capped by net.core.somaxconn): a
    /// burst of a thousand agents must not be turned away while the loops are busy.
    static let backlog: Int32 = 4096

    let name: String
    let transport: Transport
    let endpoint: BuildEndpoint
    /// Tokens and projects as of the last (re)load.
    let live: LiveSettings
    /// See `ServiceConfig.sendTimeoutSec`.
    let sendTimeout: TimeAmount
    let isTLS: Bool
    let downloads: ArtifactDownloads
    let operations: Operations
    /// Where artifact URLs of builds requested here point: `nil` on TCP means "this listener,
    /// as the client addressed it" (scheme plus Host header).
    let artifactBaseURL: String?

    /// What the routes besides build submission and downloads need; the same for every listener.
    struct Operations: Sendable {
        let builds: BuildRoutes
        /// People's index, logins and forms, and their sessions.
        let people: PeopleRoutes
        let health: DaemonHealth
        let metrics: BuildMetrics
        /// The Prometheus text of every metric, gauges refreshed.
        let metricsText: @Sendable () -> [UInt8]
    }

    init(
        name: String,
        transport: Transport,
        endpoint: BuildEndpoint,
        live: LiveSettings,
        sendTimeoutSec: Int,
        isTLS: Bool = false,
        downloads: ArtifactDownloads,
        operations: Operations,
        artifactBaseURL: String? = nil
    ) {
        self.name = name
        self.transport = transport
        self.endpoint = endpoint
        self.live = live
        self.sendTimeout = .seconds(saturating: sendTimeoutSec)
        self.isTLS = isTLS
        self.downloads = downloads
        self.operations = operations
        self.artifactBaseURL = artifactBaseURL
    }

    /// This listener's tokens in `settings` (one request's snapshot of the live settings).
    func tokens(_ settings: LiveSettings.Current) -> TokenCheck {
        transport == .unix ? settings.socketTokens : settings.httpTokens
    }

    /// The handler of one HTTP connection on this listener.
    /// The HTTP/1.1 codec in front of `httpConnectionHandler()`, with the same reading of a
    /// half-close.
    func httpServerCodec() -> HTTPServerCodec {
        HTTPServerCodec(halfCloseIsDisconnect: transport == .tcp)
    }

    func httpConnectionHandler() -> HTTPConnectionHandler {
        HTTPConnectionHandler(
            responder: RequestRouter(listener: self),
            maxBodyBytes: Self.maxBodyBytes,
            halfCloseIsDisconnect: transport == .tcp,
            sendTimeout: sendTimeout
        )
    }

    /// The start of build page links for a request with this Host header: `public_url` when
    /// the config has one, else as for artifacts.
    func pageBase(host: String?, settings: LiveSettings.Current) -> String? {
        settings.config.http.publicURL ?? artifactBase(host: host)
    }

    /// The base of artifact URLs for a request with this Host header.
    func artifactBase(host: String?) -> String? {
        if let artifactBaseURL { return artifactBaseURL }
        guard transport == .tcp, let host, (1...255).contains(host.utf8.count),
            host.utf8.allSatisfy({ byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ":")
                    || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            })
        else { return nil }
        return (isTLS ? "https://" : "http://") + host
    }
}
