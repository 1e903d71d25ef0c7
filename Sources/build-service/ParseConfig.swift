import ArgumentParser
import BuildServiceCore
import Foundation

/// `build-service parse-config` (hidden): parses config text from standard input and exits,
/// 0 if it is a config, 1 if not. The daemon and `check-config` run it in a child process
/// before they parse the same text themselves (see `TOMLParserSandbox`): if the TOML parser
/// crashes, only this child dies. It parses on a smaller stack than theirs.
struct ParseConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse-config",
        abstract: "Parse config text from standard input (used internally).",
        shouldDisplay: false
    )

    /// How the daemon runs this command.
    static let sandbox = TOMLParserSandbox(executable: "/proc/self/exe", arguments: ["parse-config"])

    func run() throws {
        let text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        guard (try? ServiceConfig.parse(toml: text, parserStackBytes: ServiceConfig.sandboxParserStackBytes)) != nil else {
            throw ExitCode(1)
        }
    }
}
