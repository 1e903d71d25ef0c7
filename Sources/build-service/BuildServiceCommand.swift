import ArgumentParser
import BuildServiceCore
import BuildServiceTLS

@main
struct BuildServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-service",
        abstract: "Runs allow-listed build commands for configured projects and streams their output.",
        version: "build-service \(BuildServiceVersion.text) (\(OpenSSLLibrary.versionText))",
        subcommands: [Serve.self, CheckConfig.self, ParseConfig.self],
        defaultSubcommand: Serve.self
    )
}
