import BuildServiceConcurrency
import BuildServiceCore
import NIOCore
import Testing

/// Every number in the config has an upper bound, and times turn into NIO's nanoseconds without
/// trapping: `build.timeouts.max_sec = 10000000000` passed check-config and then killed the
/// daemon at the first request asking for a long timeout (an overflow trap).
struct ConfigBoundsTests {
    /// Every integer key of the config: where it is, and the lowest and highest value accepted.
    static let keys: [(table: String, key: String, lowest: Int, highest: Int)] = [
        ("service", "send_timeout_sec", 1, 2_592_000),
        ("service.http", "header_timeout_sec", 1, 2_592_000),
        ("service.http", "body_timeout_sec", 1, 2_592_000),
        ("service", "max_connections", 1, 1_000_000),
        ("service.http", "max_connections_per_ip", 1, 1_000_000),
        ("service.http", "min_body_bytes_per_sec", 0, 1 << 30),
        ("build", "max_concurrent", 1, 4096),
        ("build", "max_queued", 1, 1_000_000),
        ("build", "event_buffer_bytes", 65_536, 1 << 50),
        ("build", "retain_sec", 1, 2_592_000),
        ("build", "retained_event_bytes", 0, 1 << 50),
        ("build", "reattach_grace_sec", 0, 2_592_000),
        ("build", "shutdown_grace_sec", 1, 2_592_000),
        ("build", "max_args_bytes", 1, 1 << 20),
        ("build", "max_args", 1, 65_536),
        ("build", "max_retained", 1, 1_000_000),
        ("build", "max_retained_per_token", 1, 1_000_000),
        ("build.make", "max_jobs", 1, 4096),
        ("build.timeouts", "default_sec", 1, 2_592_000),
        ("build.timeouts", "max_sec", 1, 2_592_000),
        ("build.limits", "nofile", 0, .max),
        ("build.limits", "nproc", 0, .max),
        ("build.limits", "cpu_sec", 0, .max),
        ("build.limits", "as_bytes", 0, .max),
        ("build.limits", "fsize_bytes", 0, .max),
        ("build.limits", "core_bytes", 0, .max),
        ("artifacts", "ttl_sec", 1, 315_360_000),
        ("artifacts", "gc_interval_sec", 1, 2_592_000),
        ("artifacts", "url_ttl_sec", 1, 315_360_000),
        ("artifacts", "max_bytes", 1, 1 << 50),
        ("logging", "max_bytes", 1, 1 << 50),
        ("logging", "max_files", 1, 1000),
    ]

    private static func parse(_ table: String, _ key: String, _ value: Int) -> ConfigError? {
        do {
            _ = try ServiceConfig.parse(toml: "schema_version = \"2\"\n[\(table)]\n\(key) = \(value)\n")
            return nil
        } catch {
            return error
        }
    }

    /// Both ends are accepted; one past either end is refused with the key and the range
    /// (the one message for it: no later check says something else about the same value).
    @Test(arguments: keys)
    func eachNumberHasOneRangeNamedWithItsKey(table: String, key: String, lowest: Int, highest: Int) {
        #expect(Self.parse(table, key, lowest) == nil)
        #expect(Self.parse(table, key, highest) == nil)
        var outside = [lowest - 1]
        if highest < .max { outside.append(highest + 1) }
        for value in outside {
            let error = Self.parse(table, key, value)
            #expect(error?.key == "\(table).\(key)")
            #expect(error?.description.contains("must be from \(lowest) to \(highest)") == true, "\(String(describing: error))")
        }
    }

    /// The reproducer: it passed check-config, then a request with a long timeout killed the daemon.
    @Test func aMaxTimeoutOfTenBillionSecondsIsRefused() {
        #expect(Self.parse("build.timeouts", "max_sec", 10_000_000_000)?.key == "build.timeouts.max_sec")
    }

    @Test(arguments: [0, 4097])
    func aProjectsConcurrencyIsBoundedToo(value: Int) {
        let toml = """
            schema_version = "2"
            [[projects]]
            id = "app"
            path_root = "/srv/app"
            commands = ["make"]
            max_concurrent = \(value)
            """
        #expect {
            try ServiceConfig.parse(toml: toml)
        } throws: { error in
            (error as? ConfigError)?.key == "projects[0].max_concurrent"
        }
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
