import ArgumentParser
import BuildServiceTLS
import NIOCore
import NIOPosix

@main
struct BuildServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-service",
        abstract: "Runs allow-listed build commands for configured projects and streams their output.",
        version: "build-service \(BuildServiceVersion.text) (\(OpenSSLLibrary.versionText))",
        subcommands: [Serve.self, CheckConfig.self],
        defaultSubcommand: Serve.self
    )

    static func main() async {
        // Run Swift concurrency on NIO's event loops: a build's events hop between socket,
        // pipes and tasks many times, and each hop to a separate thread pool costs latency.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}

enum BuildServiceVersion {
    static let text = "0.1.0"
}
