public import FoundationEssentials
import Glibc

extension BuildEvent {
    /// Parses one NDJSON line. Fields this version does not know are ignored; an event type it
    /// does not know gives nil, so a client can skip it.
    /// - Throws: `EventParseError` when the line is not a JSON event.
    public static func parse(line: some DataProtocol) throws -> BuildEvent? {
        let wire: WireEvent
        do {
            wire = try JSONDecoder().decode(WireEvent.self, from: Data(line))
        } catch {
            throw EventParseError(message: "not a JSON event line: \(error)")
        }
        return try wire.event()
    }
}

/// A line of the event stream that could not be understood.
public struct EventParseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Every field any event may carry; `code` is a number on `exit` and a string elsewhere.
private struct WireEvent: Decodable {
    var type: String
    var id: String?
    var status: String?
    var data: String?
    var message: String?
    var pattern: String?
    var stringCode: String?
    var intCode: Int?
    var timedOut: Bool?
    var cancelled: Bool?
    var position: Int?
    var artifacts: [ArtifactInfo]?
    var resources: ResourceUsage?
    var pageURL: String?

    enum CodingKeys: String, CodingKey {
        case type, id, status, data, message, pattern, code, artifacts, cancelled, position, resources
        case timedOut = "timed_out"
        case pageURL = "page_url"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        status = try container.decodeIfPresent(String.self, forKey: .status)
        data = try container.decodeIfPresent(String.self, forKey: .data)
        message = try container.decodeIfPresent(String.self, forKey: .message)
        pattern = try container.decodeIfPresent(String.self, forKey: .pattern)
        timedOut = try container.decodeIfPresent(Bool.self, forKey: .timedOut)
        cancelled = try container.decodeIfPresent(Bool.self, forKey: .cancelled)
        position = try container.decodeIfPresent(Int.self, forKey: .position)
        artifacts = try container.decodeIfPresent([ArtifactInfo].self, forKey: .artifacts)
        resources = try container.decodeIfPresent(ResourceUsage.self, forKey: .resources)
        pageURL = try container.decodeIfPresent(String.self, forKey: .pageURL)
        if type == "exit" {
            intCode = try container.decodeIfPresent(Int.self, forKey: .code)
        } else {
            stringCode = try container.decodeIfPresent(String.self, forKey: .code)
        }
    }

    func event() throws -> BuildEvent? {
        func required<T>(_ value: T?, _ field: String) throws -> T {
            guard let value else { throw EventParseError(message: "\(type) event without \"\(field)\"") }
            return value
        }
        switch type {
        case "build": return .build(id: try required(id, "id"), status: try required(status, "status"), position: position, pageURL: pageURL)
        case "heartbeat": return .heartbeat
        case "stdout": return .stdout(try required(data, "data"))
        case "stderr": return .stderr(try required(data, "data"))
        case "warning": return .warning(code: try required(stringCode, "code"), message: message ?? "")
        case "error": return .error(code: try required(stringCode, "code"), message: message ?? "", pattern: pattern)
        case "exit":
            return .exit(
                BuildExit(
                    code: try required(intCode, "code"),
                    timedOut: timedOut ?? false,
                    artifacts: artifacts ?? [],
                    cancelled: cancelled ?? false,
                    resources: resources,
                    pageURL: pageURL
                )
            )
        default: return nil
        }
    }
}
