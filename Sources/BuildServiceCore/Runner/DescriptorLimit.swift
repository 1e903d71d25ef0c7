import Foundation

/// The daemon's open-file limit (`RLIMIT_NOFILE`). Every connection, build pipe, artifact file
/// and git helper holds descriptors, and systemd starts services at 1024 soft (524288 hard): at
/// start the daemon raises its soft limit to the hard one, and builds get the original soft
/// limit back (`BuildLimits.inheritedNofile`), since some programs still loop over every
/// possible descriptor to close them.
public struct DescriptorLimit: Sendable, Equatable {
    /// The soft limit the process started with.
    public let startingSoft: UInt64
    /// The soft limit now.
    public let soft: UInt64
    public let hard: UInt64

    /// Raises the soft limit as far as the hard limit (and the kernel's `fs.nr_open`) allow.
    public static func raiseSoftToHard() -> DescriptorLimit {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else {
            return DescriptorLimit(startingSoft: 1024, soft: 1024, hard: 1024)
        }
        let starting = UInt64(limit.rlim_cur)
        let hard = UInt64(limit.rlim_max)
        // An unlimited hard limit is still bounded by nr_open (1048576 by default).
        for target in [hard, min(hard, 1 << 20)] where target > UInt64(limit.rlim_cur) {
            var raised = limit
            raised.rlim_cur = rlim_t(target)
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 {
                return DescriptorLimit(startingSoft: starting, soft: target, hard: hard)
            }
        }
        return DescriptorLimit(startingSoft: starting, soft: starting, hard: hard)
    }

    /// The default of `service.max_connections`: half of the descriptors, at most 8192. The
    /// other half stays for the Unix socket's clients, the builds' pipes, artifact files and
    /// git, so that a flood of TCP connections cannot starve them (accept would fail with EMFILE).
    public var defaultMaxConnections: Int {
        Int(clamping: max(16, min(8192, soft / 2)))
    }

    private static let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
}
