import ArgumentParser
import BuildServiceCore
import Foundation

/// `build-service check-config`: validates the config like `nginx -t` and prints a summary.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the config file, print a summary, exit 0 if it is usable."
    )

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        var lines = ["config \(options.path) is valid"]
        if config.socket.enabled {
            let mode = String(config.socket.mode, radix: 8)
            let auth = config.socket.auth.required ? "token required" : "no auth"
            lines.append("  unix socket  \(config.socket.path) (mode 0\(mode), group \(config.socket.group ?? "daemon's"), \(auth))")
        }
        if config.http.enabled {
            let auth = config.http.auth.required ? "bearer token required" : "no auth"
            lines.append("  http         \(config.http.listenAddress) (\(auth))")
        }
        lines.append("  commands     " + config.build.commands.keys.sorted().map { "\($0)=\(config.build.commands[$0]!)" }.joined(separator: " "))
        lines.append("  timeouts     default \(config.build.defaultTimeoutSec)s, max \(config.build.maxTimeoutSec)s")
        lines.append("  environment  " + config.build.environmentAllow.joined(separator: " "))
        lines.append("  run as       " + (config.build.runAsUser ?? "the daemon's user"))
        for project in config.projects {
            lines.append(
                "  project      \(project.id) (\(project.kind.rawValue) \(project.pathRoot ?? project.repoURL ?? "")) commands: \(project.commands.joined(separator: ", "))"
            )
        }
        if geteuid() == 0 && config.build.runAsUser == nil {
            lines.append("warning: the daemon runs as root and build.run_as_user is unset, so builds would run as root")
        }
        print(lines.joined(separator: "\n"))
    }
}
