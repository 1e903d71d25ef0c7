internal import CBuildServiceOpenSSL

/// OpenSSL reports failures on a per-thread queue. Every call that can fail is preceded by
/// `clear()` and followed, on the same thread and without suspending, by `drain()`, so the
/// reasons belong to that call and nothing is left behind for the next connection.
enum OpenSSLErrorQueue {
    struct Entry {
        let library: Int32
        let reason: Int32
        let text: String
    }

    static func clear() {
        ERR_clear_error()
    }

    static func drain() -> [Entry] {
        var entries: [Entry] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            guard code != 0 else { break }
            var text = ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)"
            if let data, flags & ERR_TXT_STRING != 0, data.pointee != 0 {
                text += " (\(String(cString: data)))"
            }
            entries.append(Entry(library: bs_ERR_GET_LIB(code), reason: bs_ERR_GET_REASON(code), text: text))
        }
        return entries
    }

    /// The drained reasons as one readable phrase; `fallback` when the queue was empty.
    static func drainedText(fallback: String) -> String {
        let reasons = drain().map(\.text)
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }
}
