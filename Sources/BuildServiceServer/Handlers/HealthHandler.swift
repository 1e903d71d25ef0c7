import BuildServiceProtocol
import NIOCore

/// `/healthz`: liveness for load balancers and monitors, without auth: version, uptime, and
/// 503 while the daemon is stopping.
enum HealthHandler {
    static func respond(_ health: DaemonHealth) -> HTTPResponse {
        let stopping = health.isStopping
        var body = ByteBuffer()
        body.writeString(stopping ? "{\"status\":\"stopping\"" : "{\"status\":\"ok\"")
        body.writeStaticString(",\"version\":")
        JSONText.writeString(health.version, to: &body)
        body.writeString(",\"uptime_sec\":\(health.uptimeSec)}\n")
        return .json(stopping ? .serviceUnavailable : .ok, body)
    }
}
