import ArgumentParser
import BuildServiceCore
import Foundation

/// `--config`, shared by every subcommand.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Config file (default: $BUILD_SERVICE_CONFIG, else /etc/build-service/config.toml)."
    )
    var config: String?

    var path: String {
        if let config { return config }
        if let fromEnvironment = ProcessInfo.processInfo.environment["BUILD_SERVICE_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "/etc/build-service/config.toml"
    }

    /// Loads the config or exits 1 with the error on stderr (the message names file and key).
    func load() throws -> ServiceConfig {
        // Inherited across exec: ignored, the kernel would reap the config parser's child (and
        // the daemon's builds) before we learn how it ended.
        signal(SIGCHLD, SIG_DFL)
        do {
            return try ServiceConfig.load(path: path, sandbox: ParseConfig.sandbox)
        } catch {
            FileHandle.standardError.write(Data("build-service: config error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
