import BuildServiceCore
import BuildServiceProtocol
import NIOCore
import NIOHTTP1

/// `POST /v1/builds`: the build is admitted at once (a refusal is a complete JSON answer), and
/// its events are streamed until its `exit`.
enum BuildSubmission {
    /// - Parameters:
    ///   - grant: the header token's grant; `nil` when the body's `auth_token` is to decide.
    ///   - settings: the request's settings snapshot.
    static func respond(
        to head: HTTPRequestHead,
        body: ByteBuffer,
        grant: AccessGrant?,
        settings: LiveSettings.Current,
        listener: ListenerContext,
        channel: any Channel
    ) -> HTTPResponse {
        var origin = RequestOrigin(listener: listener.name, peer: PeerDescription.of(channel))
        origin.artifactBaseURL = listener.artifactBase(host: head.headers.first(name: "Host"))
        origin.pageBaseURL = listener.pageBase(host: head.headers.first(name: "Host"), settings: settings)
        // Signed where downloads need a token, as of this request's settings (a reload may turn
        // HTTP auth on or off).
        origin.signArtifactURLs = settings.httpTokens.isRequired
        let admission = listener.endpoint.admit(
            BuildEndpoint.Submission(
                body: body,
                grant: grant,
                idempotencyHeader: head.headers.first(name: "Idempotency-Key"),
                canComeBack: true,
                settings: settings,
                tokens: listener.tokens(settings),
                origin: origin,
                eventLoop: channel.eventLoop,
                allowsHeartbeats: true
            )
        )
        switch admission {
        case .failure(let error):
            return .refusal(error)
        case .success(let admitted):
            let endpoint = listener.endpoint
            let stages = admitted.record.stages
            return .streamed { response in
                await endpoint.stream(admitted, to: HTTPResponseSink(response) { stages.mark(.lastByte) })
            }
        }
    }
}
