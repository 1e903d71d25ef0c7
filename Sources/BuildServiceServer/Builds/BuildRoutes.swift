import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// `GET /v1/builds`, `GET /v1/builds/{id}`, `DELETE /v1/builds/{id}` and the parameters of
/// `GET /v1/builds/{id}/events`. A token sees and cancels only the builds it started unless
/// it is an admin token; any other build is "not found", so ids cannot be probed.
struct BuildRoutes: Sendable {
    let registry: BuildRegistry

    /// A JSON answer (status code and body) or a refusal.
    enum Answer {
        case json(HTTPResponseStatus, Data)
        case refused(ServiceError)
    }

    /// The build, if this grant may see it.
    func visibleBuild(id: String, grant: AccessGrant) throws(ServiceError) -> BuildRecord {
        guard BuildID.isValid(id), let record = registry.record(id: id), grant.maySee(record) else {
            throw ServiceError(
                .buildNotFound,
                "no build \(id.count > 40 ? String(id.prefix(40)) + "…" : id) (it may have expired after build.retain_sec)"
            )
        }
        return record
    }

    func status(id: String, grant: AccessGrant) -> Answer {
        do {
            return .json(.ok, BuildStatusDocument.encode(BuildStatusDocument(try visibleBuild(id: id, grant: grant))))
        } catch {
            return .refused(error)
        }
    }

    /// Cancels the build: 202 with its status while it is torn down; 409 once it has ended.
    func cancel(id: String, grant: AccessGrant) -> Answer {
        let record: BuildRecord
        do {
            record = try visibleBuild(id: id, grant: grant)
        } catch {
            return .refused(error)
        }
        guard record.cancel(.requested) || record.snapshot.phase != .finished else {
            return .refused(ServiceError(.buildFinished, "build \(id) has already finished"))
        }
        return .json(.accepted, BuildStatusDocument.encode(BuildStatusDocument(record)))
    }

    /// `?project=…&state=queued|running|finished&limit=N` (newest first, 100 by default).
    func list(query: [String: String], grant: AccessGrant) -> Answer {
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(text), (1...10_000).contains(value) else {
                return .refused(ServiceError(.invalidRequest, "query parameter \"limit\" must be a number from 1 to 10000"))
            }
            limit = value
        }
        var phase: BuildPhase?
        if let text = query["state"] {
            guard let value = BuildPhase(rawValue: text) else {
                return .refused(ServiceError(.invalidRequest, "query parameter \"state\" must be queued, running or finished"))
            }
            phase = value
        }
        let project = query["project"]
        let builds = registry.list().lazy
            .filter { grant.maySee($0) }
            .filter { project == nil || $0.plan.projectID == project }
            .map(BuildStatusDocument.init)
            .filter { phase == nil || $0.state == phase?.rawValue }
            .prefix(limit)
        return .json(.ok, BuildStatusDocument.encode(["builds": Array(builds)]))
    }

    /// `after` (default 0; at most the build's newest `seq`, since no client can have seen
    /// more) and `heartbeat_sec` of an events request.
    static func eventParameters(_ query: [String: String], lastSeq: Int) throws(ServiceError) -> (after: Int, heartbeat: TimeAmount?) {
        var after = 0
        if let text = query["after"] {
            guard let value = Int(text), (0...lastSeq).contains(value) else {
                throw ServiceError(
                    .invalidRequest,
                    "query parameter \"after\" must be a sequence number from 0 to \(lastSeq) (this build's newest event)"
                )
            }
            after = value
        }
        var heartbeat: TimeAmount?
        if let text = query["heartbeat_sec"] {
            guard let value = Int(text), (1...3600).contains(value) else {
                throw ServiceError(.invalidRequest, "query parameter \"heartbeat_sec\" must be from 1 to 3600 seconds")
            }
            heartbeat = .seconds(Int64(value))
        }
        return (after, heartbeat)
    }
}
