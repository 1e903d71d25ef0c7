import BuildServiceCore

/// A config file as the daemon reads one: the parser runs first in the sandbox's child, and
/// text the child survived must parse in this process without crashing it (the promise that
/// lets a running daemon reload a file with a typo).
enum ConfigFuzzing {
    static func run(_ input: [UInt8], sandbox: TOMLParserSandbox) -> String? {
        let text = String(decoding: input, as: UTF8.self)
        do {
            try sandbox.check(text)
        } catch {
            // A parser that crashed or hung refused the text, as it should; a sandbox that
            // could not run at all would let every input pass unchecked.
            return error.message.contains("cannot check the config in a separate process") ? "the sandbox did not run: \(error.message)" : nil
        }
        _ = try? ServiceConfig.parse(toml: text)
        return nil
    }
}
