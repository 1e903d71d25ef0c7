import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOCore

/// `POST /v1/builds` and the legacy one-line socket request: decode, authenticate, validate,
/// then stream the build's events. Everything before `begin()` is answered with a refusal.
struct BuildEndpoint: Sendable {
    let validator: RequestValidator
    let executor: BuildExecutor

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
            plan = try validator.plan(for: request)
        } catch {
            return await sink.reject(error)
        }
        do {
            try await sink.begin()
        } catch {
            return
        }
        // Leftover processes of the build are torn down by its supervisor after the answer;
        // the connection need not wait for that (the daemon's shutdown does).
        await executor.execute(plan, origin: origin, on: eventLoop) { line, isLast in
            try await sink.send(line, isLast: isLast)
        }
        await sink.finish()
    }

    static let unauthorized = ServiceError(.unauthorized, "a valid bearer token is required")
}
