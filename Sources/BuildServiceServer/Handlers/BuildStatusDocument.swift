import BuildServiceCore
import BuildServiceProtocol
import Foundation

/// A build as `GET /v1/builds/{id}` (and each entry of `GET /v1/builds`) shows it.
struct BuildStatusDocument: Encodable {
    var id: String
    var state: String
    var project: String
    var command: String
    var args: [String]
    /// Arguments a kept finished build no longer shows (past its first 4 KiB of them).
    var argsDropped: Int
    var cwd: String?
    var ref: String?
    var requestID: String?
    var tokenName: String?
    var queuePosition: Int?
    var submittedAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var exitCode: Int?
    var timedOut: Bool
    var cancelled: Bool
    var cancelReason: String?
    var artifacts: [ArtifactInfo]
    var resources: ResourceUsage?
    /// The seq of the newest event: `…/events?after=` this is live output only.
    var lastSeq: Int
    /// The build page's link, signed for the reader (see `BuildRoutes.document`).
    var pageURL: String?

    enum CodingKeys: String, CodingKey {
        case id, state, project, command, args, cwd, ref, artifacts, cancelled, resources
        case requestID = "request_id"
        case argsDropped = "args_dropped"
        case tokenName = "token_name"
        case queuePosition = "queue_position"
        case submittedAt = "submitted_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case exitCode = "exit_code"
        case timedOut = "timed_out"
        case cancelReason = "cancel_reason"
        case lastSeq = "last_seq"
        case pageURL = "page_url"
    }

    init(_ record: BuildRecord) {
        let snapshot = record.snapshot
        let plan = record.plan
        id = record.id
        state = snapshot.phase.rawValue
        project = plan.projectID
        command = plan.commandName
        args = plan.arguments
        argsDropped = plan.argumentsDropped
        cwd = plan.repo != nil ? plan.requestedCwd : Self.relative(plan.workingDirectory, to: plan.projectRoot)
        ref = plan.repo?.ref
        requestID = plan.requestID
        tokenName = record.owner.tokenName
        queuePosition = snapshot.queuePosition
        submittedAt = record.submittedAt
        startedAt = snapshot.startedAt
        finishedAt = snapshot.finishedAt
        exitCode = snapshot.exit?.code
        timedOut = snapshot.exit?.timedOut ?? false
        cancelled = snapshot.exit?.cancelled ?? (snapshot.cancelReason != nil)
        cancelReason = snapshot.cancelReason?.rawValue
        artifacts = snapshot.exit?.artifacts ?? []
        resources = snapshot.exit?.resources
        lastSeq = snapshot.lastSeq
    }

    /// Every key always present (`null` when not known yet), so clients see one shape.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(state, forKey: .state)
        try container.encode(project, forKey: .project)
        try container.encode(command, forKey: .command)
        try container.encode(args, forKey: .args)
        try container.encode(argsDropped, forKey: .argsDropped)
        try container.encode(cwd, forKey: .cwd)
        try container.encode(ref, forKey: .ref)
        try container.encode(requestID, forKey: .requestID)
        try container.encode(tokenName, forKey: .tokenName)
        try container.encode(queuePosition, forKey: .queuePosition)
        try container.encode(submittedAt, forKey: .submittedAt)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(exitCode, forKey: .exitCode)
        try container.encode(timedOut, forKey: .timedOut)
        try container.encode(cancelled, forKey: .cancelled)
        try container.encode(cancelReason, forKey: .cancelReason)
        try container.encode(artifacts, forKey: .artifacts)
        try container.encode(resources, forKey: .resources)
        try container.encode(lastSeq, forKey: .lastSeq)
        try container.encode(pageURL, forKey: .pageURL)
    }

    /// The working directory as the client gave it: relative to the project root.
    private static func relative(_ directory: String, to root: String) -> String? {
        guard !root.isEmpty, directory.hasPrefix(root) else { return nil }
        let rest = directory.dropFirst(root.count).drop { $0 == "/" }
        return rest.isEmpty ? "." : String(rest)
    }

    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(value)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}
