/// The largest value each kind of number in the config may take. Past these a setting is a
/// typo, and it must never reach arithmetic that traps: NIO's `TimeAmount` holds nanoseconds in
/// an `Int64`, so ten billion seconds (a `max_sec` with three zeros too many) overflowed and
/// killed the daemon at the first request that asked for a long timeout.
enum ConfigBounds {
    /// Timeouts, graces, intervals, retention of builds: 30 days.
    static let seconds = 0...(30 * 86_400)
    /// How long artifacts and their links may live: 10 years.
    static let artifactSeconds = 0...(3650 * 86_400)
    /// Builds at once (daemon-wide, per project), make's jobs.
    static let concurrency = 0...4096
    /// Queued builds.
    static let count = 0...1_000_000
    /// Any size in bytes: 1 PiB.
    static let bytes = 0...(1 << 50)
    /// Rotated log files kept.
    static let files = 0...1000
}
