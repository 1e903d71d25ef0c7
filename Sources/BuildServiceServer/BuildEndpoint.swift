import BuildServiceCore
import BuildServiceProtocol
import Foundation
import Logging
import NIOCore

/// `POST /v1/builds` and the legacy one-line socket request: decode, authenticate, validate
/// and submit (`admit`), then stream the build's events (`stream`). A request refused before
/// it was submitted is answered with the refusal.
struct BuildEndpoint: Sendable {
    let registry: BuildRegistry
    /// The daemon's (for the debug-level stage trace).
    let logger: Logger
    /// Where refused requests are logged (rate-limited).
    let refusals: RefusalLog

    /// A submitted build and how its stream is to be followed.
    struct Admission: Sendable {
        let record: BuildRecord
        let heartbeat: TimeAmount?
    }

    /// One build request as a connection received it, with what the connection knows of it.
    struct Submission {
        /// The JSON body (or the legacy line).
        var body: ByteBuffer
        /// The grant of the request's token; `nil` when the token is to come from the body
        /// (`auth_token`: the Unix socket only), checked against `tokens`.
        var grant: AccessGrant?
        /// The `Idempotency-Key` header, if any (same as the body's field).
        var idempotencyHeader: String?
        /// Whether the client's framing lets it re-attach (not the legacy one).
        var canComeBack: Bool
        /// The request's one snapshot of the live settings (projects, commands).
        var settings: LiveSettings.Current
        /// The listener's tokens in that same snapshot.
        var tokens: TokenCheck
        var origin: RequestOrigin
        var eventLoop: any EventLoop
        /// Whether the client's framing can carry `heartbeat` events.
        var allowsHeartbeats: Bool
    }

    /// Everything before the stream, synchronous and without I/O: decode, authenticate,
    /// validate, and admit to the registry (which starts the build in a task of its own).
    /// Refusals are logged (rate-limited).
    func admit(_ submission: Submission) -> Result<Admission, ServiceError> {
        let admission = decide(submission)
        if case .failure(let error) = admission, error.code != .shutdown, error.code != .queueFull {
            let origin = submission.origin
            recordRefusal(error, message: error.message, peer: origin.peer, listener: origin.listener)
        }
        return admission
    }

    /// A request refused: logged (rate-limited), and a token that failed counted in
    /// `build_service_auth_failures_total`, whether it came in a header or in the body.
    func recordRefusal(_ error: ServiceError, message: @autoclosure () -> String, peer: @autoclosure () -> String, listener: String) {
        if error.code == .unauthorized { registry.metrics.authFailed(listener: listener) }
        refusals.refused(code: error.code.rawValue, message: message(), peer: peer(), listener: listener)
    }

    private func decide(_ submission: Submission) -> Result<Admission, ServiceError> {
        var request: BuildRequest
        do {
            request = try BuildRequest.decode(from: submission.body)
        } catch {
            // An unauthenticated client learns nothing from validation: check the token first.
            guard (submission.grant ?? submission.tokens.grant(for: nil)) != nil else { return .failure(RequestAuthorizer.unauthorized) }
            return .failure(error)
        }
        guard let grant = submission.grant ?? submission.tokens.grant(for: request.authToken) else {
            return .failure(RequestAuthorizer.unauthorized)
        }
        var origin = submission.origin
        origin.tokenName = grant.tokenName
        do throws(ServiceError) {
            // A scoped token learns nothing about projects outside its scope, not even whether they exist.
            try grant.check(project: request.projectID)
            if let header = submission.idempotencyHeader {
                guard request.idempotencyKey == nil || request.idempotencyKey == header else {
                    throw ServiceError(.invalidRequest, "the Idempotency-Key header and the idempotency_key field differ; send one of them")
                }
                request.idempotencyKey = header
            }
            var plan = try submission.settings.validator.plan(for: request)
            plan.resumable = submission.canComeBack && plan.idempotencyKey != nil
            // The same idempotency key from the same token within retain_sec: that build again.
            let record = try registry.submit(plan, origin: origin, owner: grant.owner, eventLoop: submission.eventLoop).record
            let heartbeat = submission.allowsHeartbeats ? request.heartbeatSec.map { TimeAmount.seconds(Int64($0)) } : nil
            return .success(Admission(record: record, heartbeat: heartbeat))
        } catch {
            return .failure(error)
        }
    }

    /// The admitted build's events until its `exit`.
    func stream(_ admitted: Admission, to sink: some EventSink) async {
        let record = admitted.record
        await BuildEventStream(registry: registry).follow(record, after: 0, heartbeat: admitted.heartbeat, sink: sink)
        // The submitting client's stream ends once its `exit` event is written (the sink marks
        // `lastByte` as it leaves) or the client left.
        guard record.snapshot.exit != nil, logger.logLevel <= .debug else { return }
        logger.debug("build stages", metadata: [LogKey.buildID: .string(record.id), "stages": .string(record.stages.summary)])
    }
}
