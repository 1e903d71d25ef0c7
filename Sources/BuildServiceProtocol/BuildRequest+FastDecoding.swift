import FoundationEssentials
import Glibc
public import NIOCore

extension BuildRequest {
    /// `decode(from:)` for a body in a ByteBuffer: the plain form is read in place, anything
    /// else goes through `JSONDecoder` (and its precise errors).
    public static func decode(from body: ByteBuffer) throws(ServiceError) -> BuildRequest {
        if let request = body.withUnsafeReadableBytes({ decodePlain($0) }) {
            try request.check()
            return request
        }
        return try decode(from: Data(body.readableBytesView))
    }

    /// Decodes the plain form every client sends (an object of known keys, each once; strings
    /// without escapes; whole numbers; arrays of strings; nulls) in one pass over the bytes,
    /// or returns nil for anything else. So it only has to agree with `JSONDecoder` on what it
    /// accepts, and it gives up at the first doubt: an escape, a repeated or unknown key, a
    /// fraction, invalid UTF-8. (`JSONDecoder` cost tens of microseconds before every spawn.)
    package static func decodePlain(_ body: UnsafeRawBufferPointer) -> BuildRequest? {
        var reader = PlainJSONReader(bytes: body)
        return reader.request()
    }
}

/// The reader behind `BuildRequest.decodePlain`: each method returns nil (or false) where the
/// input leaves the plain form.
private struct PlainJSONReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    mutating func request() -> BuildRequest? {
        // Filled in as the keys come (their names are BuildRequest's own coding keys); the
        // two required ones must have come by the end.
        var request = BuildRequest(schemaVersion: nil, projectID: "", command: "")
        var seen = Set<BuildRequest.CodingKeys>()
        skipWhitespace()
        guard take(UInt8(ascii: "{")) else { return nil }
        skipWhitespace()
        if !take(UInt8(ascii: "}")) {
            repeat {
                skipWhitespace()
                guard let key = string().flatMap(BuildRequest.CodingKeys.init(rawValue:)), seen.insert(key).inserted else { return nil }
                skipWhitespace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipWhitespace()
                guard read(key, into: &request) else { return nil }
                skipWhitespace()
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipWhitespace()
        guard index == bytes.count, seen.contains(.projectID), seen.contains(.command) else { return nil }
        return request
    }

    /// Reads the value of `key` into `request`.
    private mutating func read(_ key: BuildRequest.CodingKeys, into request: inout BuildRequest) -> Bool {
        switch key {
        case .projectID: return readString(into: &request.projectID)
        case .command: return readString(into: &request.command)
        case .schemaVersion: return readString(into: &request.schemaVersion)
        case .requestID: return readString(into: &request.requestID)
        case .idempotencyKey: return readString(into: &request.idempotencyKey)
        case .cwd: return readString(into: &request.cwd)
        case .ref: return readString(into: &request.ref)
        case .authToken: return readString(into: &request.authToken)
        case .timeoutSec: return readInteger(into: &request.timeoutSec)
        case .heartbeatSec: return readInteger(into: &request.heartbeatSec)
        case .env:
            // An object: JSONDecoder reads it (env is rare, and its errors are precise).
            return false
        case .args:
            // Null is no arguments.
            guard let args = takeNull() ? [] : stringArray() else { return false }
            request.args = args
            return true
        }
    }

    /// A required string: null is not one.
    private mutating func readString(into value: inout String) -> Bool {
        guard let string = string() else { return false }
        value = string
        return true
    }

    private mutating func readString(into value: inout String?) -> Bool {
        if takeNull() { return true }
        value = string()
        return value != nil
    }

    private mutating func readInteger(into value: inout Int?) -> Bool {
        if takeNull() { return true }
        value = integer()
        return value != nil
    }

    private mutating func stringArray() -> [String]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var values: [String] = []
        skipWhitespace()
        if take(UInt8(ascii: "]")) { return values }
        repeat {
            skipWhitespace()
            guard let value = string() else { return nil }
            values.append(value)
            skipWhitespace()
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? values : nil
    }

    /// A string without escapes or control characters, in valid UTF-8.
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits (so it fits an Int), with no fraction or exponent.
    private mutating func integer() -> Int? {
        let negative = take(UInt8(ascii: "-"))
        let start = index
        var value = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            guard index - start < 18 else { return nil }  // before it could overflow
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            index += 1
        }
        let digits = index - start
        guard digits >= 1, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
        return negative ? -value : value
    }

    private mutating func takeNull() -> Bool {
        guard bytes.count - index >= 4, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
            bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }
}
