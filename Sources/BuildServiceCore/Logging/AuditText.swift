public import Logging

/// Request text as audit lines show it: bounded, so a client cannot rotate the log away with a
/// few large requests.
public enum AuditText {
    /// The arguments shown in an audit line: at most `limit` bytes in total.
    public static let argumentBytesLimit = 4096

    /// `text`, cut to at most `limit` bytes at a character boundary, with an ellipsis when cut.
    public static func shortened(_ text: String, limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = ""
        var used = 0
        for character in text {
            used += character.utf8.count
            guard used <= limit else { break }
            kept.append(character)
        }
        return kept + "…"
    }

    /// The arguments as a log value, and their full length in bytes when they were cut.
    public static func arguments(_ arguments: [String]) -> (value: Logger.MetadataValue, fullBytes: Int?) {
        let total = arguments.reduce(0) { $0 + $1.utf8.count }
        guard total > argumentBytesLimit else { return (.array(arguments.map { .string($0) }), nil) }
        var left = argumentBytesLimit
        var shown: [Logger.MetadataValue] = []
        for argument in arguments where left > 0 {
            let cut = shortened(argument, limit: left)
            left -= cut.utf8.count
            shown.append(.string(cut))
        }
        return (.array(shown), total)
    }
}
