import ArgumentParser
import BuildServiceCore
import BuildServiceProtocol
import BuildServiceTLS

@main
struct BuildServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-service",
        abstract: "Runs allow-listed build commands for configured projects and streams their output.",
        version: BuildServiceVersion.line(program: "build-service", openSSL: OpenSSLLibrary.versionText),
        subcommands: [Serve.self, CheckConfig.self, ParseConfig.self],
        defaultSubcommand: Serve.self
    )
}
