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
        // Run as the unit's ExecStartPre, this sees the unit's sandbox: a socket or port the
        // daemon could not open fails here, with what to change.
        let placement = ListenerPlacement.current().check(config)
        if let error = KernelRequirements.problem() ?? placement.errors.first {
            FileHandle.standardError.write(Data("build-service: config error: \(options.path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        var lines = ["config \(options.path) is valid"]
        if config.socket.enabled {
            let mode = String(config.socket.mode, radix: 8)
            let auth = Self.describe(config.socket.auth)
            lines.append("  unix socket  \(config.socket.path) (mode 0\(mode), group \(config.socket.group ?? "daemon's"), \(auth))")
        }
        if config.http.enabled {
            let auth = Self.describe(config.http.auth)
            if config.http.tls.enabled {
                let context = try config.makeTLSContext()
                lines.append("  https        \(config.http.listenAddress) (\(auth))")
                var tls = "TLS \(config.http.tls.minVersion.rawValue)+, client certificates \(config.http.tls.clientAuth.rawValue)"
                if let leaf = context.leafCertificate {
                    tls += ", certificate \(leaf.subject)"
                    if let notAfter = leaf.notAfter { tls += " valid until \(ISO8601DateFormatter().string(from: notAfter))" }
                }
                lines.append("  tls          \(tls)")
            } else {
                lines.append("  http         \(config.http.listenAddress) (\(auth), no TLS)")
            }
        }
        lines.append("  commands     " + config.build.commands.keys.sorted().map { "\($0)=\(config.build.commands[$0]!)" }.joined(separator: " "))
        lines.append("  timeouts     default \(config.build.defaultTimeoutSec)s, max \(config.build.maxTimeoutSec)s")
        lines.append("  environment  " + config.build.environmentAllow.joined(separator: " "))
        lines.append("  run as       " + (config.build.runAsUser ?? "the daemon's user"))
        if config.projects.contains(where: { $0.kind == .repo }) {
            lines.append("  workspaces   \(config.build.workspaceRoot) (mirrors/, builds/), git \(config.build.gitPath)")
        }
        for project in config.projects {
            lines.append(
                "  project      \(project.id) (\(project.kind.rawValue) \(project.pathRoot ?? project.repoURL ?? "")\(project.kind == .repo ? " at \(project.repoRef ?? "HEAD")" : "")) commands: \(project.commands.joined(separator: ", "))"
            )
        }
        lines += (placement.warnings + config.warnings).map { "warning: " + $0 }
        lines += config.differencesFromTheOriginal.map { "note: " + $0 }
        if geteuid() == 0 && config.build.runAsUser == nil {
            // Only reachable with allow_root_builds = true: without it the config is refused.
            lines.append("warning: builds run as root (build.allow_root_builds = true); set build.run_as_user to run them unprivileged")
        }
        print(lines.joined(separator: "\n"))
    }

    /// "no auth" or "token required (3 tokens, 1 scoped)"; never the tokens themselves.
    private static func describe(_ auth: AuthSettings) -> String {
        guard auth.required else { return "no auth" }
        let scoped = auth.tokens.filter { $0.projects != nil }.count
        let count = auth.tokens.count == 1 ? "1 token" : "\(auth.tokens.count) tokens"
        return "bearer token required (\(count)\(scoped > 0 ? ", \(scoped) scoped to projects" : ""))"
    }
}
