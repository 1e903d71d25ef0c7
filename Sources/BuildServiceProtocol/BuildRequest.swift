public import FoundationEssentials
import Glibc

/// A build request as it arrives on the wire (`POST /v1/builds` body or one legacy socket line).
/// Decoding checks only the shape; what the values may be is the daemon's validation.
public struct BuildRequest: Sendable, Equatable, Codable {
    public var schemaVersion: String?
    /// A free label (logged, echoed in the status document); never deduplicated.
    public var requestID: String?
    /// The same key from the same token while the build is held gives that build again instead
    /// of a new one (the HTTP header `Idempotency-Key` says the same); a build with a key waits
    /// `build.reattach_grace_sec` for its client to come back.
    public var idempotencyKey: String?
    public var projectID: String
    public var command: String
    public var args: [String]
    public var cwd: String?
    public var timeoutSec: Int?
    public var ref: String?
    /// Token given in the body, accepted on the Unix socket only. Never logged.
    public var authToken: String?
    /// Asks for a `heartbeat` event after this many silent seconds (1…3600).
    public var heartbeatSec: Int?
    /// Environment variables for the build, each one a name the project lists in
    /// `pass_environment` (`env_not_allowed` otherwise).
    public var env: [String: String]?

    public init(
        schemaVersion: String? = "2",
        requestID: String? = nil,
        idempotencyKey: String? = nil,
        projectID: String,
        command: String,
        args: [String] = [],
        cwd: String? = nil,
        timeoutSec: Int? = nil,
        ref: String? = nil,
        authToken: String? = nil,
        heartbeatSec: Int? = nil,
        env: [String: String]? = nil
    ) {
        self.schemaVersion = schemaVersion
        self.requestID = requestID
        self.idempotencyKey = idempotencyKey
        self.projectID = projectID
        self.command = command
        self.args = args
        self.cwd = cwd
        self.timeoutSec = timeoutSec
        self.ref = ref
        self.authToken = authToken
        self.heartbeatSec = heartbeatSec
        self.env = env
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case requestID = "request_id"
        case idempotencyKey = "idempotency_key"
        case projectID = "project_id"
        case command, args, cwd, ref, env
        case timeoutSec = "timeout_sec"
        case authToken = "auth_token"
        case heartbeatSec = "heartbeat_sec"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try container.decodeIfPresent(String.self, forKey: .schemaVersion)
        requestID = try container.decodeIfPresent(String.self, forKey: .requestID)
        idempotencyKey = try container.decodeIfPresent(String.self, forKey: .idempotencyKey)
        projectID = try container.decode(String.self, forKey: .projectID)
        command = try container.decode(String.self, forKey: .command)
        args = try container.decodeIfPresent([String].self, forKey: .args) ?? []
        cwd = try container.decodeIfPresent(String.self, forKey: .cwd)
        timeoutSec = try container.decodeIfPresent(Int.self, forKey: .timeoutSec)
        ref = try container.decodeIfPresent(String.self, forKey: .ref)
        authToken = try container.decodeIfPresent(String.self, forKey: .authToken)
        heartbeatSec = try container.decodeIfPresent(Int.self, forKey: .heartbeatSec)
        env = try container.decodeIfPresent([String: String].self, forKey: .env)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(schemaVersion, forKey: .schemaVersion)
        try container.encodeIfPresent(requestID, forKey: .requestID)
        try container.encodeIfPresent(idempotencyKey, forKey: .idempotencyKey)
        try container.encode(projectID, forKey: .projectID)
        try container.encode(command, forKey: .command)
        try container.encode(args, forKey: .args)
        try container.encodeIfPresent(cwd, forKey: .cwd)
        try container.encodeIfPresent(timeoutSec, forKey: .timeoutSec)
        try container.encodeIfPresent(ref, forKey: .ref)
        try container.encodeIfPresent(authToken, forKey: .authToken)
        try container.encodeIfPresent(heartbeatSec, forKey: .heartbeatSec)
        try container.encodeIfPresent(env, forKey: .env)
    }

    /// Decodes a request body, turning every kind of malformed input into an `invalid_request`
    /// error that names the offending field.
    public static func decode(from body: Data) throws(ServiceError) -> BuildRequest {
        let request: BuildRequest
        do {
            request = try JSONDecoder().decode(BuildRequest.self, from: body)
        } catch let error as DecodingError {
            throw ServiceError(.invalidRequest, Self.describe(error, body: body))
        } catch {
            throw ServiceError(.invalidRequest, "request body is not valid JSON")
        }
        try request.check()
        return request
    }

    /// What decoding alone cannot say: no NUL in any string, a heartbeat within its range.
    func check() throws(ServiceError) {
        try rejectNULBytes()
        if let heartbeat = heartbeatSec, !(1...3600).contains(heartbeat) {
            throw ServiceError(.invalidRequest, "field \"heartbeat_sec\" must be from 1 to 3600 seconds")
        }
    }

    /// NUL cannot be passed to exec or the file system; a string carrying one is an attack or a bug.
    private func rejectNULBytes() throws(ServiceError) {
        var fields: [(String, String?)] = [
            ("schema_version", schemaVersion), ("request_id", requestID), ("idempotency_key", idempotencyKey), ("project_id", projectID),
            ("command", command), ("cwd", cwd), ("ref", ref), ("auth_token", authToken),
        ]
        fields += args.enumerated().map { ("args[\($0.offset)]", $0.element) }
        for (name, value) in env ?? [:] { fields += [("env", name), ("env.\(name)", value)] }
        for (name, value) in fields where value?.utf8.contains(0) == true {
            throw ServiceError(.invalidRequest, "field \"\(name)\" contains a NUL byte")
        }
    }

    private static func describe(_ error: DecodingError, body: Data) -> String {
        func path(_ codingPath: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (key.map { [$0] } ?? [])
            guard !keys.isEmpty else { return "request" }
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacing(".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing required field \"\(path(context.codingPath, key))\""
        case .typeMismatch(let type, let context):
            return "field \"\(path(context.codingPath))\" has the wrong type (expected \(Self.jsonTypeName(type)))"
        case .valueNotFound(let type, let context):
            return "field \"\(path(context.codingPath))\" is null (expected \(Self.jsonTypeName(type)))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return describeRootCorruption(body) }
            return "field \"\(path(context.codingPath))\" is invalid"
        @unknown default:
            return "request body is not a valid build request"
        }
    }

    /// Foundation reports a number that does not fit an integer (`1.5`, `1e30`) as corrupt data
    /// at the root; find the field so the message can name it.
    private static func describeRootCorruption(_ body: Data) -> String {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            return "request body is not valid JSON"
        }
        guard case .object(let fields) = document else {
            return "request body must be a JSON object"
        }
        for key in [CodingKeys.timeoutSec, .heartbeatSec] where fields[key.rawValue]?.isNumber == true {
            return "field \"\(key.rawValue)\" must be a whole number of seconds"
        }
        return "request body is not a valid build request"
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Int.Type: "integer"
        case is [String].Type: "array of strings"
        // JSONDecoder names the dictionary it expected as [String: Any]: env's object.
        case is [String: String].Type, is [String: Any].Type: "object of strings"
        default: "object"
        }
    }
}
