import BuildServiceProtocol
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import BuildServiceCore
@testable import BuildServiceServer

/// The router against a real registry and live settings: what a reload does to a request
/// whose head was judged before it and whose body arrives after.
@Suite struct RequestRouterTests {
    private static func config(tokens: [String]) throws -> ServiceConfig {
        var config = try ServiceConfig.parse(toml: "schema_version = \"2\"\n")
        config.http.auth.required = true
        config.http.auth.tokens = tokens.map { AuthToken(secret: .plain($0), name: $0) }
        return config
    }

    private static func router(_ live: LiveSettings) throws -> RequestRouter {
        let config = live.current.config
        let logger = Logger(label: "test")
        let runner = BuildRunner(identity: try RunAsIdentity.resolve(user: nil, group: nil), environment: [:])
        let registry = BuildRegistry(executor: BuildExecutor(runner: runner, logger: logger), limits: BuildRegistry.Limits(config: config))
        let routes = BuildRoutes(
            registry: registry,
            signer: ArtifactURLSigner(key: Array(repeating: 1, count: 32), lifetimeSec: 60),
            artifactTTLSec: 86_400
        )
        let listener = ListenerContext(
            name: "http",
            transport: .tcp,
            endpoint: BuildEndpoint(registry: registry, logger: logger, refusals: RefusalLog(logger: logger)),
            live: live,
            sendTimeoutSec: 5,
            downloads: ArtifactDownloads(
                store: ArtifactStore(root: "/nonexistent"),
                signer: ArtifactURLSigner(key: Array(repeating: 1, count: 32), lifetimeSec: 60)
            ),
            operations: ListenerContext.Operations(
                builds: routes,
                people: PeopleRoutes(sessions: SessionStore(), builds: routes),
                health: DaemonHealth(version: "test"),
                metrics: BuildMetrics(),
                metricsText: { [] }
            )
        )
        return RequestRouter(listener: listener)
    }

    /// The status of listing builds with `token`, when `reload` lands between head and body.
    private func status(token: String, before: [String], after: [String]?) throws -> UInt {
        let live = LiveSettings(config: try Self.config(tokens: before))
        let router = try Self.router(live)
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/builds")
        head.headers.add(name: "Authorization", value: "Bearer \(token)")
        guard case .accept(let respond) = router.accept(head, channel: EmbeddedChannel()) else {
            Issue.record("refused at the head")
            return 0
        }
        if let after { live.replace(with: try Self.config(tokens: after)) }
        guard case .complete(let status, _, _) = respond(ByteBuffer()) else {
            Issue.record("not a complete answer")
            return 0
        }
        return status.code
    }

    @Test func withoutAReloadTheHeadsJudgementStands() throws {
        #expect(try status(token: "old", before: ["old"], after: nil) == 200)
    }

    @Test func aTokenRemovedWhileTheBodyArrivedIsRefusedAtItsEnd() throws {
        #expect(try status(token: "old", before: ["old", "kept"], after: ["kept"]) == 401)
    }

    @Test func aTokenTheReloadKeptIsServedByTheNewSettings() throws {
        #expect(try status(token: "kept", before: ["old", "kept"], after: ["kept", "new"]) == 200)
    }
}
