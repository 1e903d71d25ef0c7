import BuildServiceConcurrency
import BuildServiceCore
import NIOCore
import Testing

/// Every number in the config has an upper bound, and times turn into NIO's nanoseconds without
/// trapping: `build.timeouts.max_sec = 10000000000` passed check-config and then killed the
/// daemon at the first request asking for a long timeout (an overflow trap).
struct ConfigBoundsTests {
    /// A table, a key in it, and the first value past its bound (below it, for a limit).
    static let outOfRange: [(table: String, key: String, value: String)] = [
        ("service", "send_timeout_sec", "2592001"),
        ("build.timeouts", "max_sec", "10000000000"),
        ("build.timeouts", "default_sec", "9223372036854775807"),
        ("build", "max_concurrent", "4097"),
        ("build", "max_queued", "1000001"),
        ("build", "event_buffer_bytes", "1125899906842625"),
        ("build", "retain_sec", "2592001"),
        ("build", "retained_event_bytes", "1125899906842625"),
        ("build", "reattach_grace_sec", "2592001"),
        ("build", "shutdown_grace_sec", "2592001"),
        ("build.make", "max_jobs", "4097"),
        ("artifacts", "ttl_sec", "315360001"),
        ("artifacts", "gc_interval_sec", "2592001"),
        ("artifacts", "url_ttl_sec", "315360001"),
        ("artifacts", "max_bytes", "1125899906842625"),
        ("logging", "max_bytes", "1125899906842625"),
        ("logging", "max_files", "1001"),
        ("build.limits", "nofile", "-1"),
    ]

    @Test(arguments: outOfRange)
    func aNumberPastItsBoundNamesTheKeyAndTheRange(table: String, key: String, value: String) {
        do {
            _ = try ServiceConfig.parse(toml: "schema_version = \"2\"\n[\(table)]\n\(key) = \(value)\n")
            Issue.record("\(table).\(key) = \(value) was accepted")
        } catch {
            #expect(error.key == "\(table).\(key)")
            #expect(error.description.contains("out of range"), "\(error)")
        }
    }

    @Test func aProjectsConcurrencyIsBoundedToo() {
        let toml = """
            schema_version = "2"
            [[projects]]
            id = "app"
            path_root = "/srv/app"
            commands = ["make"]
            max_concurrent = 100000
            """
        #expect(throws: ConfigError.self) { try ServiceConfig.parse(toml: toml) }
    }

    @Test func theBoundsThemselvesAreAccepted() throws {
        let config = try ServiceConfig.parse(
            toml: """
                schema_version = "2"
                [build.timeouts]
                default_sec = 2592000
                max_sec = 2592000
                [artifacts]
                ttl_sec = 315360000
                """
        )
        #expect(config.build.maxTimeoutSec == 30 * 86_400)
        #expect(config.artifacts.ttlSec == 3650 * 86_400)
    }

    @Test func timesSaturateInsteadOfTrapping() {
        #expect(TimeAmount.seconds(saturating: 5) == .seconds(5))
        #expect(TimeAmount(saturating: .milliseconds(1500)) == .milliseconds(1500))
        #expect(TimeAmount.seconds(saturating: 10_000_000_000) == .nanoseconds(.max))
        #expect(TimeAmount.seconds(saturating: .max) == .nanoseconds(.max))
        #expect(TimeAmount.seconds(saturating: .min) == .nanoseconds(.min))
        #expect(TimeAmount(saturating: .seconds(9_223_372_036)) == .seconds(9_223_372_036))
        #expect(TimeAmount(saturating: .seconds(9_223_372_037)) == .nanoseconds(.max))
    }
}
