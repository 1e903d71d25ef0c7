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
    /// The build page's link (`page_url`), from services that have pages.
    public var pageURL: String?

    public init(
        code: Int,
        timedOut: Bool = false,
        artifacts: [ArtifactInfo] = [],
        cancelled: Bool = false,
        resources: ResourceUsage? = nil,
        pageURL: String? = nil
    ) {
        self.code = code
        self.timedOut = timedOut
        self.artifacts = artifacts
        self.cancelled = cancelled
        self.resources = resources
        self.pageURL = pageURL
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
