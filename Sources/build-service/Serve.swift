import ArgumentParser
import BuildServiceCore
import BuildServiceServer
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

/// Runs the daemon (the default subcommand).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the daemon (default).")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        // Writes to a vanished client must fail with EPIPE, not kill the daemon. Builds get
        // every signal disposition reset to the default before exec.
        signal(SIGPIPE, SIG_IGN)
        // SIGHUP means "reload", never "die", also before the reload handler is in place.
        signal(SIGHUP, SIG_IGN)
        Self.ensureStandardDescriptors()
        let config = try options.load()
        let logger = try Self.bootstrapLogging(config.logging)
        if geteuid() == 0 && config.build.runAsUser == nil {
            logger.warning("builds run as root: set build.run_as_user to run them as an unprivileged user")
        }
        let placement = ListenerPlacement.current().check(config, forDaemon: true)
        if let error = KernelRequirements.problem() ?? placement.errors.first {
            logger.critical("cannot start", metadata: [LogKey.error: .string(error.description)])
            throw ExitCode(1)
        }
        for warning in placement.warnings + config.warnings { logger.warning("config warning", metadata: [LogKey.reason: .string(warning)]) }
        for difference in config.differencesFromTheOriginal {
            logger.notice("unlike the original build-service", metadata: [LogKey.reason: .string(difference)])
        }
        let service: BuildService
        do {
            service = try BuildService(
                config: config,
                configPath: options.path,
                configSandbox: ParseConfig.sandbox,
                logger: logger,
                group: MultiThreadedEventLoopGroup.singleton
            )
        } catch {
            logger.critical("cannot start", metadata: [LogKey.error: .string(error.description)])
            throw ExitCode(1)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.critical("stopped on an error", metadata: [LogKey.error: .string("\(error)")])
            throw ExitCode(1)
        }
    }

    /// fds 0-2 must be open so that no socket or pipe of ours lands on them.
    private static func ensureStandardDescriptors() {
        for fd in Int32(0)...2 where fcntl(fd, F_GETFD) < 0 {
            let null = open("/dev/null", O_RDWR)
            if null >= 0 && null != fd {
                dup2(null, fd)
                close(null)
            }
        }
    }

    private static func bootstrapLogging(_ settings: LoggingSettings) throws -> Logger {
        var file: RotatingLogFile?
        if let directory = settings.directory {
            do {
                file = try RotatingLogFile(directory: directory, maxBytes: settings.maxBytes, maxFiles: settings.maxFiles)
            } catch {
                FileHandle.standardError.write(Data("build-service: config error: logging.directory: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        let level = Self.level(settings.level)
        let console = settings.console || file == nil
        let logFile = file
        let journal = JournalStream.isStandardError()
        LoggingSystem.bootstrap { label in
            PlainTextLogHandler(label: label, level: level, console: console, journal: journal, file: logFile)
        }
        return Logger(label: "build-service")
    }

    private static func level(_ name: LogLevelName) -> Logger.Level {
        switch name {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        }
    }
}
