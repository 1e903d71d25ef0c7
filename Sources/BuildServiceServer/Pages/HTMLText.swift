/// Text for HTML: the five characters that could start markup or end an attribute, escaped.
/// Works on UTF-8 bytes, copying runs between them: a build page escapes a megabyte of output.
enum HTMLText {
    static func escaped(_ text: String) -> String {
        var text = text
        return text.withUTF8 { String(decoding: escaped(bytes: $0), as: UTF8.self) }
    }

    /// `bytes` (UTF-8) escaped, as UTF-8.
    static func escaped(bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + bytes.count / 16)
        var runStart = 0
        for index in 0..<bytes.count {
            let replacement: StaticString
            switch bytes[index] {
            case UInt8(ascii: "&"): replacement = "&amp;"
            case UInt8(ascii: "<"): replacement = "&lt;"
            case UInt8(ascii: ">"): replacement = "&gt;"
            case UInt8(ascii: "\""): replacement = "&quot;"
            case UInt8(ascii: "'"): replacement = "&#39;"
            default: continue
            }
            result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            replacement.withUTF8Buffer { result.append(contentsOf: $0) }
            runStart = index + 1
        }
        result.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        return result
    }
}
