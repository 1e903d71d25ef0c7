import BuildServiceProtocol
import Foundation
public import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Turns a validated plan into the event stream a client sees: `build` started, the output as
/// `stdout`/`stderr` events, then exactly one `exit`. Writes one audit line at start and end.
public struct BuildExecutor: Sendable {
    public let runner: BuildRunner
    public let logger: Logger
    /// Collects and lists artifacts after successful builds of projects that have patterns.
    public let artifacts: ArtifactPublisher?
    /// Checkouts for repo projects.
    public let workspaces: RepoWorkspaces?

    public init(runner: BuildRunner, logger: Logger, artifacts: ArtifactPublisher? = nil, workspaces: RepoWorkspaces? = nil) {
        self.runner = runner
        self.logger = logger
        self.artifacts = artifacts
        self.workspaces = workspaces
    }

    /// Runs the build, appending its events to `record`: `build` started, the output as
    /// `stdout`/`stderr` events (at the pace of the record's readers), then exactly one `exit`.
    /// Cancelling the task (the record's cancel) tears the build down; its `exit` then says
    /// `cancelled` with code 130.
    ///
    /// Returns once the build is over: its `exit` event posted and no process of it left (a
    /// grandchild ignoring SIGTERM can take up to the kill grace after the `exit`); a repo
    /// checkout's removal has begun by then.
    /// - Parameter revalidatingPaths: resolve the working directory and make's paths again
    ///   first (a queued build: the tree may have changed since it was submitted); a request
    ///   that no longer passes fails the build with the code it would have got at submit time.
    public func execute(_ record: BuildRecord, origin: RequestOrigin, revalidatingPaths: Bool = false) async {
        let id = record.id
        let eventLoop = record.eventLoop
        var plan = record.plan
        let clock = ContinuousClock()
        let start = clock.now

        if let reason = record.cancelReason {
            Self.finishCancelled(record, reason: reason)
            auditLogger(record, origin).info("build cancelled before it started", metadata: [LogKey.reason: .string(reason.rawValue)])
            return
        }
        var announced = false
        let pageURL = artifacts?.pageURL(buildID: id, origin: origin)
        if let repo = plan.repo {
            // Announced first: the client has the build id while git works.
            record.post(.build(id: id, status: "started", pageURL: pageURL))
            announced = true
            do {
                try await checkOut(repo, into: &plan, record: record)
            } catch {
                removeWorkspace(of: plan, buildID: id, on: eventLoop)
                if let reason = record.cancelReason {
                    Self.finishCancelled(record, reason: reason)
                    auditLogger(record, origin).info("build cancelled", metadata: [LogKey.reason: .string(reason.rawValue)])
                    return
                }
                let timedOut = error.code == .timeout
                record.post(.error(code: error.code.rawValue, message: error.message, pattern: nil))
                let exit = BuildExit(code: timedOut ? 124 : 1, timedOut: timedOut, pageURL: artifacts?.pageURL(buildID: id, origin: origin))
                record.finish(exit)
                auditLogger(record, origin).info(
                    "build finished",
                    metadata: [
                        LogKey.error: .string(error.description), LogKey.exitCode: .stringConvertible(exit.code),
                        LogKey.duration: .string(Self.seconds(clock.now - start)),
                    ]
                )
                return
            }
        }

        // Spawn first: the process starts up while we announce and log it.
        let started = Result { () throws(ServiceError) in
            if revalidatingPaths, plan.repo == nil { try RequestValidator.resolvePaths(&plan, root: plan.configuredRoot) }
            return try runner.start(plan, on: eventLoop)
        }
        // The process has its working directory now: no descriptor is kept for the build's
        // run or its retention (a queued build's paths were resolved again into `plan`).
        record.plan.workingDirectoryHandle?.close()
        plan.workingDirectoryHandle?.close()
        if !announced { record.post(.build(id: id, status: "started", pageURL: pageURL)) }
        let logger = auditLogger(record, origin)
        let arguments = AuditText.arguments(plan.arguments)
        var startLine: Logger.Metadata = [
            LogKey.command: .string(plan.commandName),
            LogKey.args: arguments.value,
            LogKey.cwd: .string(plan.workingDirectory),
            LogKey.timeout: .stringConvertible(plan.timeoutSec),
        ]
        if let fullBytes = arguments.fullBytes { startLine[LogKey.argsBytes] = .stringConvertible(fullBytes) }
        if !plan.extraEnvironment.isEmpty {
            startLine[LogKey.env] = .array(plan.extraEnvironment.map { .string(String($0.prefix { $0 != "=" })) })
        }
        logger.info("build started", metadata: startLine)

        var exit: BuildExit
        var outcome: Logger.Metadata = [:]
        var ended: BuildRunResult?
        switch started {
        case .success(let build):
            record.stages.mark(.spawned)
            let result = await relay(build, to: record)
            record.stages.mark(.exited)
            ended = result
            if !result.cancelled { record.markProcessEnded() }
            exit = BuildExit(code: result.exitCode, timedOut: result.timedOut, resources: result.resources)
            if result.cancelled, let reason = record.cancelReason {
                if reason == .shutdown { record.post(Self.shutdownError) }
                exit = .cancelled
                exit.resources = result.resources
                outcome[LogKey.reason] = .string(reason.rawValue)
            } else if exit.code == 0, !result.timedOut, !plan.artifactPatterns.isEmpty, let artifacts {
                do {
                    // Nothing of the build may still run while its files are collected: a
                    // leftover process could otherwise swap a checked path for a symlink.
                    await result.lookForLeftovers()
                    exit.artifacts = try await artifacts.publish(buildID: id, plan: plan, origin: origin)
                    outcome[LogKey.artifacts] = .stringConvertible(exit.artifacts.count)
                } catch {
                    record.post(.error(code: error.code.rawValue, message: error.message, pattern: error.pattern))
                    exit.code = 1
                    outcome[LogKey.error] = .string(error.message)
                }
            }
        case .failure(let error):
            record.post(.error(code: error.code.rawValue, message: error.message, pattern: nil))
            exit = BuildExit(code: 1)
            outcome[LogKey.error] = .string(error.description)
        }
        // Signed from now: the link in the `exit` event is good for url_ttl_sec after the end.
        exit.pageURL = artifacts?.pageURL(buildID: id, origin: origin)
        // Readers are woken now and send it on their own; the audit line below is not ordered
        // against what a client receives.
        record.finish(exit)
        record.stages.mark(.finished)
        // The readers woken just now run on this event loop too: let them write the `exit`
        // event before the audit line is formatted and the process group checked (a no-op
        // build's last byte came 0.46 ms after its finish, half of that after this yield).
        await Task.yield()
        if let ended {
            outcome[LogKey.timedOut] = .stringConvertible(ended.timedOut)
            outcome[LogKey.cancelled] = .stringConvertible(ended.cancelled)
            if case .signaled(let signal) = ended.termination { outcome[LogKey.signal] = .stringConvertible(signal) }
        }
        outcome[LogKey.exitCode] = .stringConvertible(exit.code)
        outcome[LogKey.duration] = .string(Self.seconds(clock.now - start))
        logger.info("build finished", metadata: outcome)
        await ended?.lookForLeftovers()
        // The checkout goes once no process of the build can still be using it.
        if plan.repo != nil { removeWorkspace(of: plan, buildID: id, on: eventLoop) }
    }

    /// The logger of a build's audit lines: the daemon's, with the build's id, project,
    /// request id, peer, listener and token name.
    private func auditLogger(_ record: BuildRecord, _ origin: RequestOrigin) -> Logger {
        var logger = self.logger
        logger[metadataKey: LogKey.buildID] = .string(record.id)
        logger[metadataKey: LogKey.project] = .string(record.plan.projectID)
        if let requestID = record.plan.requestID { logger[metadataKey: LogKey.requestID] = .string(requestID) }
        logger[metadataKey: LogKey.peer] = .string(origin.peer)
        logger[metadataKey: LogKey.listener] = .string(origin.listener)
        if let name = origin.tokenName { logger[metadataKey: LogKey.tokenName] = .string(name) }
        return logger
    }

    static let shutdownError = BuildEvent.error(code: ErrorCode.shutdown.rawValue, message: "the build service is shutting down", pattern: nil)

    /// Ends a build that was cancelled before its process ran (or while git worked for it).
    public static func finishCancelled(_ record: BuildRecord, reason: CancelReason) {
        record.plan.workingDirectoryHandle?.close()
        if reason == .shutdown { record.post(shutdownError) }
        record.finish(.cancelled)
    }

    /// Updates the mirror, checks out the build's commit and resolves the plan's paths in it;
    /// git's output reaches the client as `stderr` events.
    private func checkOut(_ repo: RepoSource, into plan: inout BuildPlan, record: BuildRecord) async throws(ServiceError) {
        guard let workspaces else { throw ServiceError(.workspaceCreateFailed, "repo projects are not set up on this daemon") }
        let deadline = ContinuousClock.now + .seconds(plan.timeoutSec)
        // git's output, progress and errors alike, reaches the client as stderr.
        let events = OutputEvents()
        let root = try await workspaces.checkout(
            repo,
            projectID: plan.projectID,
            buildID: record.id,
            deadline: deadline,
            eventLoop: record.eventLoop
        ) { bytes in
            let line = events.line(.stderr, bytes)
            if line.readableBytes > 0 { await record.append(line) }
        }
        for tail in events.remainder() { await record.append(tail) }
        if Task.isCancelled { throw ServiceError(.shutdown, "cancelled") }
        try RequestValidator.resolvePaths(&plan, root: root)
        // The build's own timeout covers the checkout too.
        let left = deadline - ContinuousClock.now
        plan.timeoutSec = max(1, Int(left.components.seconds) + (left.components.attoseconds > 0 ? 1 : 0))
    }

    private func removeWorkspace(of plan: BuildPlan, buildID: String, on eventLoop: any EventLoop) {
        guard plan.repo != nil, let workspaces else { return }
        // Bridges from the cleanup callback; the removal runs like a build step.
        let logger = self.logger
        Task {
            if let problem = await workspaces.remove(buildID: buildID, eventLoop: eventLoop) {
                logger.warning("a checkout could not be removed", metadata: [LogKey.buildID: .string(buildID), LogKey.error: .string(problem)])
            }
        }
    }

    /// Output events, each chunk decoded as lossy UTF-8 that never splits a character.
    private func relay(_ build: RunningBuild, to record: BuildRecord) async -> BuildRunResult {
        let events = OutputEvents()
        let stages = record.stages
        let result = await build.relay { pipe, bytes in
            stages.mark(.firstOutput)
            let line = events.line(pipe, bytes)
            guard line.readableBytes > 0 else { return }
            await record.append(consume line)
        }
        for tail in events.remainder() { await record.append(tail) }
        return result
    }

    private static func seconds(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        // "1.234s", by hand: String(format:) goes through Foundation's formatter on every build.
        let fraction = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction + "s"
    }
}
