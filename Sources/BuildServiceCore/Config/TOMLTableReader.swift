import TOMLKit

/// Reads one TOML table strictly: each value must have the expected type, and keys nobody
/// asked for are reported, so a typo in the config fails at startup instead of being ignored.
final class TOMLTableReader {
    private let table: TOMLTable
    /// Dotted path of this table, used in every error message.
    let path: String
    private var consumed: Set<String> = []

    init(_ table: TOMLTable, path: String) {
        self.table = table
        self.path = path
    }

    func keyPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    private func value(_ key: String) -> (any TOMLValueConvertible)? {
        consumed.insert(key)
        return table[key]
    }

    private func mismatch(_ key: String, expected: String, got value: any TOMLValueConvertible) -> ConfigError {
        ConfigError(key: keyPath(key), "expected \(expected), found \(Self.describe(value.type))")
    }

    func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw mismatch(key, expected: "a string", got: value) }
        return string
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.bool else { throw mismatch(key, expected: "true or false", got: value) }
        return bool
    }

    func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let int = value.int else { throw mismatch(key, expected: "an integer", got: value) }
        return int
    }

    /// An integer within `bounds` (see `ConfigBounds`): anything outside names the key and the range.
    func int(_ key: String, in bounds: ClosedRange<Int>) throws -> Int? {
        guard let int = try int(key) else { return nil }
        guard bounds.contains(int) else {
            throw ConfigError(key: keyPath(key), "\(int) is out of range: it must be from \(bounds.lowerBound) to \(bounds.upperBound)")
        }
        return int
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        guard let array = value.array else { throw mismatch(key, expected: "an array of strings", got: value) }
        return try array.enumerated().map { index, element in
            guard let string = element.string else {
                throw ConfigError(
                    key: "\(keyPath(key))[\(index)]",
                    "expected a string, found \(Self.describe(element.type))"
                )
            }
            return string
        }
    }

    enum StringOrTable {
        case string(String)
        case table(TOMLTableReader)
    }

    /// An array whose elements are strings or inline tables (`tokens`); each table reader's
    /// path carries its index.
    func stringOrTableArray(_ key: String) throws -> [StringOrTable]? {
        guard let value = value(key) else { return nil }
        guard let array = value.array else { throw mismatch(key, expected: "an array", got: value) }
        return try array.enumerated().map { index, element in
            if let string = element.string { return .string(string) }
            if let table = element.table { return .table(TOMLTableReader(table, path: "\(keyPath(key))[\(index)]")) }
            throw ConfigError(
                key: "\(keyPath(key))[\(index)]",
                "expected a string or a table, found \(Self.describe(element.type))"
            )
        }
    }

    func table(_ key: String) throws -> TOMLTableReader? {
        guard let value = value(key) else { return nil }
        guard let table = value.table else { throw mismatch(key, expected: "a table", got: value) }
        return TOMLTableReader(table, path: keyPath(key))
    }

    /// An array of tables (`[[projects]]`); each reader's path carries its index.
    func tableArray(_ key: String) throws -> [TOMLTableReader]? {
        guard let value = value(key) else { return nil }
        guard let array = value.array else { throw mismatch(key, expected: "an array of tables", got: value) }
        return try array.enumerated().map { index, element in
            guard let table = element.table else {
                throw ConfigError(
                    key: "\(keyPath(key))[\(index)]",
                    "expected a table, found \(Self.describe(element.type))"
                )
            }
            return TOMLTableReader(table, path: "\(keyPath(key))[\(index)]")
        }
    }

    /// The keys of a free-form table (`build.commands`), sorted.
    var keys: [String] { table.keys.sorted() }

    /// A value that may be a string or a table (`build.commands.<name>`).
    func stringOrTable(_ key: String) throws -> StringOrTable? {
        guard let value = value(key) else { return nil }
        if let string = value.string { return .string(string) }
        if let table = value.table { return .table(TOMLTableReader(table, path: keyPath(key))) }
        throw mismatch(key, expected: "a string or a table", got: value)
    }

    /// Throws for the first key in the table that was never read (sorted, so the message is stable).
    func rejectUnknownKeys() throws {
        if let unknown = table.keys.sorted().first(where: { !consumed.contains($0) }) {
            throw ConfigError(key: keyPath(unknown), "unknown key (check the spelling; see config/config.toml; the original ignored unknown keys)")
        }
    }

    private static func describe(_ type: TOMLType) -> String {
        switch type {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a floating-point number"
        case .bool: "a boolean"
        case .table: "a table"
        case .array: "an array"
        default: "a date or time"
        }
    }
}
