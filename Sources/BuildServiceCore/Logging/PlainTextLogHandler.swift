import Foundation
public import Logging

/// Writes one plain-text line per log record: time, level, message, then `key=value` metadata
/// (values quoted when they contain spaces or quotes). To stderr, a rotating file, or both.
public struct PlainTextLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let console: Bool
    private let file: RotatingLogFile?

    public init(label: String, level: Logger.Level, console: Bool, file: RotatingLogFile?) {
        self.label = label
        self.logLevel = level
        self.console = console
        self.file = file
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "\(Self.timestamp()) \(event.level) \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.format(merged[key]!))"
        }
        line += "\n"
        if console { FileHandle.standardError.write(Data(line.utf8)) }
        file?.write(line)
    }

    private static func format(_ value: Logger.Metadata.Value) -> String {
        let text: String
        switch value {
        case .string(let string): text = string
        case .stringConvertible(let convertible): text = convertible.description
        case .array(let values): text = "[" + values.map { format($0) }.joined(separator: ",") + "]"
        case .dictionary(let values):
            text = "{" + values.keys.sorted().map { "\($0)=\(format(values[$0]!))" }.joined(separator: ",") + "}"
        }
        return quoteIfNeeded(text)
    }

    /// Keeps one record on one line whatever a (hostile) value contains.
    private static func quoteIfNeeded(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }
        let escaped = text.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case "\n": return "\\n"
            case "\r": return "\\r"
            default: return scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
            }
        }.joined()
        return needsQuotes ? "\"\(escaped)\"" : escaped
    }

    private static func timestamp() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var parts = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900,
            parts.tm_mon + 1,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec,
            time.tv_nsec / 1_000_000
        )
    }
}
