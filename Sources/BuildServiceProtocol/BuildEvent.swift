/// One line of a build's NDJSON event stream.
public enum BuildEvent: Sendable, Equatable {
    /// `{"type":"build","id":"bld_…","status":"started"}`; while the build waits for a slot,
    /// `"status":"queued"` with its 1-based `position` in the queue (sent again as it moves).
    case build(id: String, status: String, position: Int? = nil)
    /// `{"type":"stdout","data":"…"}`: a chunk of the build's standard output.
    case stdout(String)
    /// `{"type":"stderr","data":"…"}`: a chunk of the build's standard error.
    case stderr(String)
    /// `{"type":"warning","code":"…","message":"…"}`
    case warning(code: String, message: String)
    /// `{"type":"error","code":"…","message":"…","pattern":"…"}`; `pattern` only for artifact errors.
    case error(code: String, message: String, pattern: String?)
    /// `{"type":"exit","code":N,"timed_out":false,"artifacts":[…]}`: always the last event of a build.
    case exit(BuildExit)
    /// `{"type":"heartbeat"}` (with the `seq` of the last event sent): the build is silent but
    /// alive. Sent only to clients that ask for it (`heartbeat_sec`); older clients reject
    /// event types they do not know.
    case heartbeat
}

/// The final event's payload.
public struct BuildExit: Sendable, Equatable {
    /// The process's exit code; 128+N when killed by signal N; 124 on timeout; 1 when the service failed the build.
    public var code: Int
    public var timedOut: Bool
    public var artifacts: [ArtifactInfo]
    /// Torn down on request (`DELETE`, nobody re-attached in time, shutdown); the code is then 130.
    public var cancelled: Bool
    /// What the build's main process and the processes it waited for used; nil when no
    /// process ran (or from services that do not send it).
    public var resources: ResourceUsage?

    public init(code: Int, timedOut: Bool = false, artifacts: [ArtifactInfo] = [], cancelled: Bool = false, resources: ResourceUsage? = nil) {
        self.code = code
        self.timedOut = timedOut
        self.artifacts = artifacts
        self.cancelled = cancelled
        self.resources = resources
    }

    /// The exit of a cancelled build.
    public static let cancelled = BuildExit(code: 130, cancelled: true)
}

/// `"resources"` of the `exit` event and the status document (from the kernel's rusage).
public struct ResourceUsage: Sendable, Equatable, Codable {
    public var cpuUserSec: Double
    public var cpuSystemSec: Double
    public var maxRSSKiB: Int

    public init(cpuUserSec: Double, cpuSystemSec: Double, maxRSSKiB: Int) {
        self.cpuUserSec = cpuUserSec
        self.cpuSystemSec = cpuSystemSec
        self.maxRSSKiB = maxRSSKiB
    }

    enum CodingKeys: String, CodingKey {
        case cpuUserSec = "cpu_user_sec"
        case cpuSystemSec = "cpu_system_sec"
        case maxRSSKiB = "max_rss_kib"
    }

    /// Seconds with millisecond precision, as the wire shows them (`1.25`).
    static func seconds(_ value: Double) -> String {
        let millis = Int((value * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// An artifact as listed in the `exit` event.
public struct ArtifactInfo: Sendable, Equatable, Codable {
    /// Path relative to the build's artifact set (a directory appears as `path.zip`).
    public var name: String
    public var url: String
    public var contentType: String
    public var size: Int
    /// Lowercase hex SHA-256 of the content; `nil` from services that do not send it.
    public var sha256: String?

    public init(name: String, url: String, contentType: String, size: Int, sha256: String? = nil) {
        self.name = name
        self.url = url
        self.contentType = contentType
        self.size = size
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey {
        case name, url, size, sha256
        case contentType = "content_type"
    }
}
