import CBuildServiceSpawn

/// `[build.limits]`: resource limits set on every build's process before it runs; the
/// processes it starts inherit them. Each is optional; unset keeps the daemon's. Soft and hard
/// limit are the same (a build cannot raise them), except CPU time: the hard limit is a second
/// above, so a process gets SIGXCPU first (which it may catch to report) and SIGKILL after.
public struct BuildLimits: Sendable, Equatable {
    /// Open files per process (`RLIMIT_NOFILE`).
    public var nofile: UInt64?
    /// Processes of the build's *user*, counted over all of that user's processes
    /// (`RLIMIT_NPROC`): with a shared `run_as_user`, other builds count too.
    public var nproc: UInt64?
    /// CPU seconds per process (`RLIMIT_CPU`): SIGXCPU at the limit, SIGKILL a second later.
    public var cpuSec: UInt64?
    /// Address space per process in bytes (`RLIMIT_AS`).
    public var asBytes: UInt64?
    /// Largest file a process may write (`RLIMIT_FSIZE`): SIGXFSZ beyond it.
    public var fsizeBytes: UInt64?
    /// Core dump size (`RLIMIT_CORE`); 0 by default: a crashing compiler leaves no core in the tree.
    public var coreBytes: UInt64? = 0
    /// With `nofile` unset: the daemon's limit, whose soft value it raised at start; builds get
    /// the soft value it started with (not from the config: the daemon sets it).
    public var inheritedNofile: DescriptorLimit?

    public init() {}

    /// What every process the daemon starts gets, helpers (git) included: the open-file limit
    /// the daemon started with.
    var inheritedResources: [(resource: Int32, soft: UInt64, hard: UInt64)] {
        guard let inherited = inheritedNofile, inherited.startingSoft < inherited.soft else { return [] }
        return [(Int32(BS_RLIMIT_NOFILE), inherited.startingSoft, inherited.hard)]
    }

    /// The limits that are set, as `RLIMIT_*` numbers with soft and hard values.
    var resources: [(resource: Int32, soft: UInt64, hard: UInt64)] {
        let all: [(Int32, UInt64?)] = [
            (Int32(BS_RLIMIT_NOFILE), nofile), (Int32(BS_RLIMIT_NPROC), nproc), (Int32(BS_RLIMIT_CPU), cpuSec),
            (Int32(BS_RLIMIT_AS), asBytes), (Int32(BS_RLIMIT_FSIZE), fsizeBytes), (Int32(BS_RLIMIT_CORE), coreBytes),
        ]
        var resources = all.compactMap { resource, value in
            value.map { (resource: resource, soft: $0, hard: resource == Int32(BS_RLIMIT_CPU) ? $0 + 1 : $0) }
        }
        if nofile == nil { resources += inheritedResources }
        return resources
    }
}
