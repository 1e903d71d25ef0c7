public import NIOCore

extension BuildEvent {
    /// Appends the event as one NDJSON line (JSON object + `\n`).
    public func writeLine(to buffer: inout ByteBuffer) {
        switch self {
        case .build(let id, let status, let position, let pageURL):
            buffer.writeStaticString("{\"type\":\"build\",\"id\":")
            JSONText.writeString(id, to: &buffer)
            buffer.writeStaticString(",\"status\":")
            JSONText.writeString(status, to: &buffer)
            if let position {
                buffer.writeStaticString(",\"position\":")
                buffer.writeString(String(position))
            }
            if let pageURL {
                buffer.writeStaticString(",\"page_url\":")
                JSONText.writeString(pageURL, to: &buffer)
            }
        case .stdout(let data):
            buffer.writeStaticString("{\"type\":\"stdout\",\"data\":")
            JSONText.writeString(data, to: &buffer)
        case .stderr(let data):
            buffer.writeStaticString("{\"type\":\"stderr\",\"data\":")
            JSONText.writeString(data, to: &buffer)
        case .warning(let code, let message):
            buffer.writeStaticString("{\"type\":\"warning\",\"code\":")
            JSONText.writeString(code, to: &buffer)
            buffer.writeStaticString(",\"message\":")
            JSONText.writeString(message, to: &buffer)
        case .error(let code, let message, let pattern):
            buffer.writeStaticString("{\"type\":\"error\",\"code\":")
            JSONText.writeString(code, to: &buffer)
            buffer.writeStaticString(",\"message\":")
            JSONText.writeString(message, to: &buffer)
            if let pattern {
                buffer.writeStaticString(",\"pattern\":")
                JSONText.writeString(pattern, to: &buffer)
            }
        case .exit(let exit):
            buffer.writeStaticString("{\"type\":\"exit\",\"code\":")
            buffer.writeString(String(exit.code))
            buffer.writeStaticString(exit.timedOut ? ",\"timed_out\":true" : ",\"timed_out\":false")
            if exit.cancelled { buffer.writeStaticString(",\"cancelled\":true") }
            buffer.writeStaticString(",\"artifacts\":[")
            for (index, artifact) in exit.artifacts.enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                buffer.writeStaticString("{\"name\":")
                JSONText.writeString(artifact.name, to: &buffer)
                buffer.writeStaticString(",\"url\":")
                JSONText.writeString(artifact.url, to: &buffer)
                buffer.writeStaticString(",\"content_type\":")
                JSONText.writeString(artifact.contentType, to: &buffer)
                buffer.writeStaticString(",\"size\":")
                buffer.writeString(String(artifact.size))
                if let sha256 = artifact.sha256 {
                    buffer.writeStaticString(",\"sha256\":")
                    JSONText.writeString(sha256, to: &buffer)
                }
                buffer.writeStaticString("}")
            }
            buffer.writeStaticString("]")
            if let used = exit.resources {
                buffer.writeStaticString(",\"resources\":{\"cpu_user_sec\":")
                buffer.writeString(ResourceUsage.seconds(used.cpuUserSec))
                buffer.writeStaticString(",\"cpu_system_sec\":")
                buffer.writeString(ResourceUsage.seconds(used.cpuSystemSec))
                buffer.writeStaticString(",\"max_rss_kib\":")
                buffer.writeString(String(used.maxRSSKiB))
                buffer.writeStaticString("}")
            }
            if let pageURL = exit.pageURL {
                buffer.writeStaticString(",\"page_url\":")
                JSONText.writeString(pageURL, to: &buffer)
            }
        case .heartbeat:
            buffer.writeStaticString("{\"type\":\"heartbeat\"")
        }
        buffer.writeStaticString("}\n")
    }

    /// The event as one NDJSON line.
    public var line: ByteBuffer {
        var buffer = ByteBuffer()
        writeLine(to: &buffer)
        return buffer
    }
}
