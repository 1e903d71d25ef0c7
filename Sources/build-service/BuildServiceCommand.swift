import ArgumentParser
import BuildServiceTLS

@main
struct BuildServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-service",
        abstract: "Runs allow-listed build commands for configured projects and streams their output.",
        version: "build-service \(BuildServiceVersion.text) (\(OpenSSLLibrary.versionText))",
        subcommands: [Serve.self, CheckConfig.self],
        defaultSubcommand: Serve.self
    )
}

enum BuildServiceVersion {
    static let text = "0.1.0"
}
