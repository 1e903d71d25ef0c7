import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOCore

/// `POST /v1/builds` and the legacy one-line socket request: decode, authenticate, validate,
/// then stream the build's events. Everything before `begin()` is answered with a refusal.
struct BuildEndpoint: Sendable {
    /// Projects and commands as of the last (re)load.
    let live: LiveSettings
    let registry: BuildRegistry

    /// - Parameters:
    ///   - headerToken: the bearer token from the Authorization header, if any.
    ///   - tokens: the listener's token check; `bodyTokenAllowed` lets `auth_token` stand in.
    func handle(
        body: ByteBuffer,
        headerToken: String?,
        tokens: TokenCheck,
        bodyTokenAllowed: Bool,
        origin: RequestOrigin,
        eventLoop: any EventLoop,
        sink: some EventSink
    ) async {
        let request: BuildRequest
        do {
            request = try BuildRequest.decode(from: Data(body.readableBytesView))
        } catch {
            // An unauthenticated client learns nothing from validation: check the token first.
            guard tokens.grant(for: headerToken) != nil else { return await sink.reject(Self.unauthorized) }
            return await sink.reject(error)
        }
        let presented = headerToken ?? (bodyTokenAllowed ? request.authToken : nil)
        guard let grant = tokens.grant(for: presented) else { return await sink.reject(Self.unauthorized) }
        var origin = origin
        origin.tokenName = grant.tokenName

        let plan: BuildPlan
        do {
            // A scoped token learns nothing about projects outside its scope, not even whether they exist.
            try grant.check(project: request.projectID)
            plan = try live.current.validator.plan(for: request)
        } catch {
            return await sink.reject(error)
        }
        let record: BuildRecord
        do {
            // The same request_id from the same token within retain_sec: that build again.
            record = try registry.submit(plan, origin: origin, owner: grant.owner, eventLoop: eventLoop).record
        } catch {
            return await sink.reject(error)
        }
        // The build's task goes first: its process starts before this stream is set up.
        await Task.yield()
        let heartbeat = sink.allowsNewEventTypes ? request.heartbeatSec.map { TimeAmount.seconds(Int64($0)) } : nil
        await BuildEventStream(registry: registry).follow(record, after: 0, heartbeat: heartbeat, sink: sink)
    }

    static let unauthorized = ServiceError(.unauthorized, "a valid bearer token is required")
}
