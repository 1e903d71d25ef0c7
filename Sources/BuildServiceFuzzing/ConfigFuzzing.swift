import BuildServiceCore

/// A config file as the daemon reads one: the parser runs first in the sandbox's child, and
/// text the child survived must parse in this process without crashing it (the promise that
/// lets a running daemon reload a file with a typo).
enum ConfigFuzzing {
    static func run(_ input: [UInt8], sandbox: TOMLParserSandbox) -> String? {
        let text = String(decoding: input, as: UTF8.self)
        guard (try? sandbox.check(text)) != nil else { return nil }
        _ = try? ServiceConfig.parse(toml: text)
        return nil
    }
}
