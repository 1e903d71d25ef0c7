import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOCore

/// `POST /v1/builds` and the legacy one-line socket request: decode, authenticate, validate
/// and submit (`admit`), then stream the build's events (`stream`). A request refused before
/// it was submitted is answered with the refusal.
struct BuildEndpoint: Sendable {
    let registry: BuildRegistry
    /// Where refused requests are logged (rate-limited).
    let refusals: RefusalLog

    /// A submitted build and how its stream is to be followed.
    struct Admission: Sendable {
        let record: BuildRecord
        let heartbeat: TimeAmount?
    }

    /// Everything before the stream, done at once on the connection's event loop: a path
    /// project's process is started within it (`BuildRegistry.submit`), before any task exists.
    /// - Parameters:
    ///   - headerToken: the bearer token from the Authorization header, if any.
    ///   - idempotencyHeader: the `Idempotency-Key` header, if any (same as the body's field).
    ///   - canComeBack: whether the client's framing lets it re-attach (not the legacy one).
    ///   - settings: the request's one snapshot of the live settings (projects, commands);
    ///     `tokens` are the listener's in that same snapshot.
    ///   - tokens: the listener's token check; `bodyTokenAllowed` lets `auth_token` stand in.
    ///   - allowsHeartbeats: whether the client's framing can carry `heartbeat` events.
    func admit(
        body: ByteBuffer,
        headerToken: String?,
        idempotencyHeader: String?,
        canComeBack: Bool,
        settings: LiveSettings.Current,
        tokens: TokenCheck,
        bodyTokenAllowed: Bool,
        origin: RequestOrigin,
        eventLoop: any EventLoop,
        allowsHeartbeats: Bool
    ) -> Result<Admission, ServiceError> {
        let admission = decideAdmission(
            body: body,
            headerToken: headerToken,
            idempotencyHeader: idempotencyHeader,
            canComeBack: canComeBack,
            settings: settings,
            tokens: tokens,
            bodyTokenAllowed: bodyTokenAllowed,
            origin: origin,
            eventLoop: eventLoop,
            allowsHeartbeats: allowsHeartbeats
        )
        if case .failure(let error) = admission, error.code != .shutdown, error.code != .queueFull {
            refusals.refused(code: error.code.rawValue, message: error.message, peer: origin.peer, listener: origin.listener)
        }
        return admission
    }

    private func decideAdmission(
        body: ByteBuffer,
        headerToken: String?,
        idempotencyHeader: String?,
        canComeBack: Bool,
        settings: LiveSettings.Current,
        tokens: TokenCheck,
        bodyTokenAllowed: Bool,
        origin: RequestOrigin,
        eventLoop: any EventLoop,
        allowsHeartbeats: Bool
    ) -> Result<Admission, ServiceError> {
        var request: BuildRequest
        do {
            request = try BuildRequest.decode(from: body)
        } catch {
            // An unauthenticated client learns nothing from validation: check the token first.
            guard tokens.grant(for: headerToken) != nil else { return .failure(Self.unauthorized) }
            return .failure(error)
        }
        let presented = headerToken ?? (bodyTokenAllowed ? request.authToken : nil)
        guard let grant = tokens.grant(for: presented) else { return .failure(Self.unauthorized) }
        var origin = origin
        origin.tokenName = grant.tokenName
        do throws(ServiceError) {
            // A scoped token learns nothing about projects outside its scope, not even whether they exist.
            try grant.check(project: request.projectID)
            if let header = idempotencyHeader {
                guard request.idempotencyKey == nil || request.idempotencyKey == header else {
                    throw ServiceError(.invalidRequest, "the Idempotency-Key header and the idempotency_key field differ; send one of them")
                }
                request.idempotencyKey = header
            }
            var plan = try settings.validator.plan(for: request)
            plan.resumable = canComeBack && plan.idempotencyKey != nil
            // The same idempotency key from the same token within retain_sec: that build again.
            let record = try registry.submit(plan, origin: origin, owner: grant.owner, eventLoop: eventLoop).record
            let heartbeat = allowsHeartbeats ? request.heartbeatSec.map { TimeAmount.seconds(Int64($0)) } : nil
            return .success(Admission(record: record, heartbeat: heartbeat))
        } catch {
            return .failure(error)
        }
    }

    /// Answers an admission: the refusal, or the build's events until its `exit`.
    func stream(_ admission: Result<Admission, ServiceError>, to sink: some EventSink) async {
        switch admission {
        case .failure(let error):
            await sink.reject(error)
        case .success(let admitted):
            await BuildEventStream(registry: registry).follow(admitted.record, after: 0, heartbeat: admitted.heartbeat, sink: sink)
        }
    }

    static let unauthorized = ServiceError(.unauthorized, "a valid bearer token is required")
}
