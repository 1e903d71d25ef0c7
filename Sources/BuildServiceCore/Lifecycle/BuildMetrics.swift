public import BuildServiceProtocol
public import CoreMetrics
import Foundation

/// The daemon's counters, through swift-metrics: builds submitted, started and finished (by
/// project and outcome), build durations, output bytes streamed, artifact bytes served, auth
/// and TLS handshake failures. The factory decides where they go (Prometheus in the daemon,
/// nowhere by default).
public struct BuildMetrics: Sendable {
    private let factory: any MetricsFactory
    /// Made once: counted on every batch of events sent, the streaming hot path.
    private let outputBytes: Counter
    /// Made once: counted on every download (a counter's lookup cost a small file's download 1%).
    private let artifactBytes: Counter

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
        self.outputBytes = Counter(label: "build_service_output_bytes_total", factory: factory)
        self.artifactBytes = Counter(label: "build_service_artifact_bytes_served_total", factory: factory)
    }

    /// How a finished build ended, as the `outcome` label.
    public static func outcome(of exit: BuildExit?) -> String {
        guard let exit else { return "unknown" }
        if exit.cancelled { return "cancelled" }
        if exit.timedOut { return "timeout" }
        return exit.code == 0 ? "success" : "failure"
    }

    func submitted(project: String) {
        Counter(label: "build_service_builds_submitted_total", dimensions: [("project", project)], factory: factory).increment()
    }

    func started(project: String) {
        Counter(label: "build_service_builds_started_total", dimensions: [("project", project)], factory: factory).increment()
    }

    func finished(_ record: BuildRecord) {
        let project = record.plan.projectID
        let snapshot = record.snapshot
        let outcome = Self.outcome(of: snapshot.exit)
        Counter(
            label: "build_service_builds_finished_total",
            dimensions: [("project", project), ("outcome", outcome)],
            factory: factory
        ).increment()
        if let started = snapshot.startedAt, let finished = snapshot.finishedAt {
            Timer(label: "build_service_build_duration_seconds", dimensions: [("project", project)], factory: factory)
                .recordNanoseconds(Int64(max(0, finished.timeIntervalSince(started)) * 1e9))
        }
    }

    /// Bytes of event lines handed to clients' sockets.
    public func streamed(bytes: Int) {
        outputBytes.increment(by: bytes)
    }

    public func artifactBytesServed(_ bytes: Int) {
        artifactBytes.increment(by: bytes)
    }

    public func authFailed(listener: String) {
        Counter(label: "build_service_auth_failures_total", dimensions: [("listener", listener)], factory: factory).increment()
    }

    /// A connection closed because its request's head or body did not arrive in time.
    public func requestTimedOut(readingHead: Bool) {
        Counter(
            label: "build_service_request_timeouts_total",
            dimensions: [("phase", readingHead ? "head" : "body")],
            factory: factory
        ).increment()
    }

    /// A TCP connection closed at accept because it was over a cap (`reason`: the config key's
    /// last part, `max_connections` or `max_connections_per_ip`).
    public func connectionRefused(reason: String) {
        Counter(label: "build_service_connections_refused_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// The TCP connections open now (what `service.max_connections` caps).
    public func openConnections(_ count: Int) {
        Gauge(label: "build_service_connections_open", factory: factory).record(count)
    }

    /// The artifact store's bytes (published sets and sets being stored) and its limit.
    public func artifactStore(published: Int, staged: Int, maxBytes: Int) {
        Gauge(label: "build_service_artifact_store_bytes", dimensions: [("kind", "published")], factory: factory).record(published)
        Gauge(label: "build_service_artifact_store_bytes", dimensions: [("kind", "staged")], factory: factory).record(staged)
        Gauge(label: "build_service_artifact_store_max_bytes", factory: factory).record(maxBytes)
    }

    public func tlsHandshakeFailed() {
        Counter(label: "build_service_tls_handshake_failures_total", factory: factory).increment()
    }

    /// Sets the gauges read when metrics are scraped: builds running and queued, and the
    /// memory finished builds' events take (bounded by `build.retained_event_bytes`).
    public func load(running: Int, queued: Int, retainedEventBytes: Int) {
        Gauge(label: "build_service_builds_running", factory: factory).record(running)
        Gauge(label: "build_service_builds_queued", factory: factory).record(queued)
        Gauge(label: "build_service_retained_event_bytes", factory: factory).record(retainedEventBytes)
    }
}
