import Foundation
public import Logging

/// Writes one plain-text line per log record: time, level, message, then `key=value` metadata
/// (values quoted when they contain spaces or quotes). To stderr, a rotating file, or both.
/// When stderr is the journal (`journal`), its lines start with the record's syslog priority
/// (`<4>`) instead of the time: journald stamps each line itself and filters by the priority
/// (`journalctl -p warning`). The file always gets the time.
public struct PlainTextLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let console: Bool
    private let journal: Bool
    private let file: RotatingLogFile?

    public init(label: String, level: Logger.Level, console: Bool, journal: Bool = false, file: RotatingLogFile?) {
        self.label = label
        self.logLevel = level
        self.console = console
        self.journal = journal
        self.file = file
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Built as bytes: every build logs two lines, on its client's event loop.
        var line: [UInt8] = []
        line.reserveCapacity(256)
        Self.appendTimestamp(to: &line)
        let timestampLength = line.count
        line.append(0x20)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(0x20)
        line.append(contentsOf: event.message.description.utf8)
        let merged = event.metadata.map { extra in metadata.merging(extra) { $1 } } ?? metadata
        for key in merged.keys.sorted() {
            line.append(0x20)
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            line.append(contentsOf: Self.format(merged[key]!).utf8)
        }
        line.append(0x0A)
        if console {
            var consoleLine = line
            if journal {
                consoleLine.replaceSubrange(0...timestampLength, with: "<\(JournalStream.priority(of: event.level))>".utf8)
            }
            consoleLine.withUnsafeBufferPointer { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Foundation.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 && errno != EINTR { break }
                    offset += max(0, written)
                }
            }
        }
        file?.write(line)
    }

    /// Scalars are quoted when they need it; lists and maps are bracketed, their elements
    /// quoted one by one (so `[-c,"exit 5"]`), never quoted again as a whole.
    private static func format(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): quoteIfNeeded(string)
        case .stringConvertible(let convertible): quoteIfNeeded(convertible.description)
        case .array(let values): "[" + values.map { format($0) }.joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.keys.sorted().map { "\(quoteIfNeeded($0))=\(format(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// Keeps one record on one line whatever a (hostile) value contains. Most values are plain
    /// words and are returned untouched; every build logs two lines, so this stays cheap.
    private static func quoteIfNeeded(_ text: String) -> String {
        let plain = !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x2C && $0 != 0x3D && $0 != 0x5C }
        if plain { return text }
        var escaped = "\""
        escaped.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                    escaped += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped + "\""
    }

    /// `2026-12-01T05:55:11.475Z`: UTC, milliseconds.
    private static func appendTimestamp(to line: inout [UInt8]) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var parts = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        line.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        line.append(UInt8(ascii: "."))
        digits(Int(time.tv_nsec) / 1_000_000, 3)
        line.append(UInt8(ascii: "Z"))
    }
}
