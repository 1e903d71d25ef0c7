import BuildServiceCore
import BuildServiceProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// `GET /v1/builds`, `GET /v1/builds/{id}`, `DELETE /v1/builds/{id}` and
/// `GET /v1/builds/{id}/events`. A token sees and cancels only the builds it started unless
/// it is an admin token; any other build is "not found", so ids cannot be probed.
struct BuildRoutes: Sendable {
    let registry: BuildRegistry
    /// Signs the artifact links of each document afresh (see `document(_:)`).
    let signer: ArtifactURLSigner
    /// `artifacts.ttl_sec`: a link is never signed past its artifact's removal.
    let artifactTTLSec: Int

    /// Where the links a reader is handed point: its listener as it addressed it (path-only
    /// over the Unix socket), signed when that listener's links need a signature.
    struct LinkBase: Sendable {
        var origin: String?
        var signed: Bool
    }

    /// The build's document, its signed artifact links valid `url_ttl_sec` from now (never past
    /// the artifacts' own expiry): a link read a day after the build still works. Its page link
    /// is made for the reader, fresh.
    func document(_ record: BuildRecord, links: LinkBase, now: Date = Date()) -> BuildStatusDocument {
        var document = BuildStatusDocument(record)
        document.artifacts = renewed(document.artifacts, of: record, now: now)
        document.pageURL = link(.page, of: record.id, base: links, now: now)
        return document
    }

    /// `/v1/builds/{id}/page`, or the page's `/v1/builds/{id}/events?watch=1`, signed when
    /// `base` is. The events link always watches: a page never changes a build's fate, whether
    /// or not the listener needs tokens.
    func link(_ path: ArtifactURLSigner.SignedPath, of id: String, base: LinkBase, now: Date = Date()) -> String {
        var query: [String] = path == .events ? ["watch=1"] : []
        if base.signed { query.append(signer.query(buildID: id, path: path, now: now)) }
        let url = "\(base.origin ?? "")/v1/builds/\(id)/\(path == .page ? "page" : "events")"
        return query.isEmpty ? url : url + "?" + query.joined(separator: "&")
    }

    /// `artifacts` with their signed links valid from `now`, never past their removal.
    func renewed(_ artifacts: [ArtifactInfo], of record: BuildRecord, now: Date = Date()) -> [ArtifactInfo] {
        let notAfter = record.snapshot.finishedAt.map { $0.addingTimeInterval(TimeInterval(artifactTTLSec)) }
        return artifacts.map { artifact in
            var artifact = artifact
            artifact.url = signer.renewed(artifact.url, buildID: record.id, name: artifact.name, notAfter: notAfter, now: now)
            return artifact
        }
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

    func status(id: String, grant: AccessGrant, links: LinkBase) -> HTTPResponse {
        do {
            return Self.json(.ok, BuildStatusDocument.encode(document(try visibleBuild(id: id, grant: grant), links: links)))
        } catch {
            return .refusal(error)
        }
    }

    /// The build's page (`GET /v1/builds/{id}/page`): complete when the build has finished,
    /// else with its event stream's signed link for the page's script to follow.
    func page(id: String, grant: AccessGrant, links: LinkBase) -> HTTPResponse {
        let record: BuildRecord
        do {
            record = try visibleBuild(id: id, grant: grant)
        } catch {
            return .refusalPage(error)
        }
        // The document before the log: a build that ends in between is followed to its `exit`.
        let document = document(record, links: links)
        let log = BuildPageLog(record)
        let eventsURL = document.state == "finished" ? nil : link(.events, of: id, base: LinkBase(origin: nil, signed: links.signed))
        return .page(.ok, BuildPage(document: document, log: log, eventsURL: eventsURL).html, policy: BuildPage.policy)
    }

    /// Cancels the build: 202 with its status while it is torn down; 409 once it has ended.
    func cancel(id: String, grant: AccessGrant, links: LinkBase) -> HTTPResponse {
        do {
            return Self.json(.accepted, BuildStatusDocument.encode(document(try cancelBuild(id: id, grant: grant), links: links)))
        } catch {
            return .refusal(error)
        }
    }

    /// Cancels the build if this grant may see it (the API's `DELETE` and the index's button).
    /// - Throws: `build_not_found`, or `build_finished` once it has ended.
    func cancelBuild(id: String, grant: AccessGrant) throws(ServiceError) -> BuildRecord {
        let record = try visibleBuild(id: id, grant: grant)
        guard record.cancel(.requested) || record.snapshot.phase != .finished else {
            throw ServiceError(.buildFinished, "build \(id) has already finished")
        }
        return record
    }

    /// The most builds one page of the list holds: the answer is built whole, so its size is
    /// bounded by this (finished builds show at most 4 KiB of arguments).
    static let maxPageSize = 1000

    /// `?project=…&state=queued|running|finished&limit=N&cursor=C`: newest first, 100 by
    /// default and at most `maxPageSize` a page; `next_cursor` continues after the page's last
    /// build (null on the last page).
    func list(query: [String: String], grant: AccessGrant, links: LinkBase) -> HTTPResponse {
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(text), value >= 1 else {
                return .refusal(ServiceError(.invalidRequest, "query parameter \"limit\" must be a number from 1 to \(Self.maxPageSize)"))
            }
            limit = min(value, Self.maxPageSize)
        }
        var phase: BuildPhase?
        if let text = query["state"] {
            guard let value = BuildPhase(rawValue: text) else {
                return .refusal(ServiceError(.invalidRequest, "query parameter \"state\" must be queued, running or finished"))
            }
            phase = value
        }
        var after: BuildListCursor?
        if let text = query["cursor"] {
            guard let cursor = BuildListCursor(text) else {
                return .refusal(ServiceError(.invalidRequest, "query parameter \"cursor\" must be a next_cursor value from an earlier page"))
            }
            after = cursor
        }
        let project = query["project"]
        // What the caller may list is picked before anything is sorted: a token that started
        // a few builds does not pay for sorting everyone's.
        let page = Array(
            registry.list()
                .filter { grant.maySee($0) && (project == nil || $0.plan.projectID == project) }
                .map { (cursor: BuildListCursor($0), record: $0) }
                .filter { after == nil || $0.cursor < after! }
                .sorted { $0.cursor > $1.cursor }
                .lazy
                // Each build's state is read once, for its document, and the filter looks at
                // that: a build that finishes meanwhile is not listed as running.
                .map { (cursor: $0.cursor, document: document($0.record, links: links)) }
                .filter { phase == nil || $0.document.state == phase!.rawValue }
                .prefix(limit + 1)
        )
        let listed = Array(page.prefix(limit))
        let next = page.count > limit ? listed.last?.cursor.text : nil
        return Self.json(.ok, BuildStatusDocument.encode(BuildListPage(builds: listed.map(\.document), nextCursor: next)))
    }

    /// Re-attaches to a build's event stream: `?after=N&heartbeat_sec=S`; with `watch=1` (what
    /// a build page asks for) it watches instead of attaching (see `BuildEventStream.follow`).
    /// `grant` nil: the stream's signed link, which always watches.
    func events(id: String, query: [String: String], grant: AccessGrant?) -> HTTPResponse {
        let record: BuildRecord
        let parameters: (after: Int, heartbeat: TimeAmount?)
        do throws(ServiceError) {
            record = try visibleBuild(id: id, grant: grant ?? .signedBuildReader)
            parameters = try Self.eventParameters(query, lastSeq: record.snapshot.lastSeq)
        } catch {
            return .refusal(error)
        }
        // A re-attach after the build finished replays its `exit` event: with links signed now.
        let stream = BuildEventStream(registry: registry) { [self] exit in
            var exit = exit
            exit.artifacts = renewed(exit.artifacts, of: record)
            exit.pageURL = exit.pageURL.map { signer.renewed($0, buildID: record.id, path: .page, notAfter: nil) }
            return exit
        }
        let watching = grant == nil || query["watch"] == "1"
        return .streamed { response in
            await stream.follow(
                record,
                after: parameters.after,
                heartbeat: parameters.heartbeat,
                watching: watching,
                sink: HTTPResponseSink(response)
            )
        }
    }

    private static func json(_ status: HTTPResponseStatus, _ data: Data) -> HTTPResponse {
        .json(status, ByteBuffer(bytes: data))
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
