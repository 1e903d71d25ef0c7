/// A configuration the daemon refuses to start with. The message always names the key.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config file, when the error came from one.
    public var file: String?
    /// The dotted key (`service.socket.mode`, `projects[2].path_root`), when there is one.
    public var key: String?
    public var message: String

    public init(file: String? = nil, key: String?, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    /// Shortened past 200 characters: a key is the file's text, and a 10 MB key must not
    /// become a 10 MB line on the terminal or in the log of a reload.
    public var description: String {
        var text = ""
        if let file { text += "\(file): " }
        if let key { text += (key.utf8.count > 200 ? AuditText.shortened(key, limit: 200) + " (\(key.utf8.count) bytes)" : key) + ": " }
        return text + message
    }
}
