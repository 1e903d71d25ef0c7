/// The range each kind of number in the config may take, checked where the file is read (a
/// value outside names the key and the range). Past the upper bounds a setting is a typo, and
/// it must never reach arithmetic that traps: NIO's `TimeAmount` holds nanoseconds in an
/// `Int64`, so ten billion seconds (a `max_sec` with three zeros too many) overflowed and
/// killed the daemon at the first request that asked for a long timeout.
enum ConfigBounds {
    private static let thirtyDays = 30 * 86_400
    private static let onePiB = 1 << 50

    /// Timeouts, deadlines, intervals, the retention of builds: 1 s to 30 days.
    static let seconds = 1...thirtyDays
    /// Graces that may be none at all (`reattach_grace_sec`: cancel at once).
    static let secondsOrNone = 0...thirtyDays
    /// How long artifacts and their links may live: up to 10 years.
    static let artifactSeconds = 1...(3650 * 86_400)
    /// Builds at once (daemon-wide, per project), make's jobs.
    static let concurrency = 1...4096
    /// Queued builds.
    static let queue = 1...1_000_000
    /// Open connections (in total, from one address).
    static let connections = 1...1_000_000
    /// A minimum transfer rate in bytes per second; 0 turns the check off.
    static let bytesPerSecond = 0...(1 << 30)
    /// Sizes in bytes: up to 1 PiB.
    static let bytes = 1...onePiB
    /// `retained_event_bytes`: 0 keeps only each finished build's exit.
    static let bytesOrNone = 0...onePiB
    /// A build's event buffer: one output chunk (64 KiB) must fit.
    static let eventBuffer = 65_536...onePiB
    /// A request's arguments in bytes: no more than its body may hold (1 MiB).
    static let argumentBytes = 1...(1 << 20)
    /// A request's arguments, counted.
    static let argumentCount = 1...65_536
    /// Rotated log files kept.
    static let files = 1...1000
}
