import BuildServiceProtocol
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

/// Where a request came from, for the audit log.
public struct RequestOrigin: Sendable {
    public var listener: String
    public var peer: String
    /// The configured name of the token that authorised the request (never the token).
    public var tokenName: String?
    /// `scheme://host:port` artifact URLs start with when no `public_base_url` is set (the
    /// listener the request came in on); `nil` gives path-only URLs.
    public var artifactBaseURL: String?
    /// Whether artifact URLs get a signature (auth is required where the request came in).
    public var signArtifactURLs = false

    public init(listener: String, peer: String, tokenName: String? = nil) {
        self.listener = listener
        self.peer = peer
        self.tokenName = tokenName
    }
}

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

    /// Runs the build, sending every event through `emit` as one NDJSON line (awaited: a slow
    /// client slows the build's output), with `isLast` true for the final `exit` line. If `emit`
    /// throws the client is gone and the build is torn down.
    /// - Returns: after the `exit` event, a future that completes once no process of the build
    ///   is left (a grandchild ignoring SIGTERM can take up to the kill grace). Await it after
    ///   ending the response, so that the client is not kept waiting for it.
    @discardableResult
    public func execute(
        _ requestedPlan: BuildPlan,
        origin: RequestOrigin,
        on eventLoop: any EventLoop,
        emit: @escaping @Sendable (_ line: ByteBuffer, _ isLast: Bool) async throws -> Void
    ) async -> EventLoopFuture<Void>? {
        let id = BuildID.make()
        var plan = requestedPlan
        var logger = self.logger
        logger[metadataKey: LogKey.buildID] = .string(id)
        logger[metadataKey: LogKey.project] = .string(plan.projectID)
        if let requestID = plan.requestID { logger[metadataKey: LogKey.requestID] = .string(requestID) }
        logger[metadataKey: LogKey.peer] = .string(origin.peer)
        logger[metadataKey: LogKey.listener] = .string(origin.listener)
        if let name = origin.tokenName { logger[metadataKey: LogKey.tokenName] = .string(name) }
        let clock = ContinuousClock()
        let start = clock.now

        var announced = false
        if let repo = plan.repo {
            // Announced first: the client has the build id while git works.
            do {
                for warning in plan.warnings { try await emit(warning.line, false) }
                try await emit(BuildEvent.build(id: id, status: "started").line, false)
            } catch {
                return nil
            }
            announced = true
            do {
                try await checkOut(repo, into: &plan, buildID: id, on: eventLoop, emit: emit)
            } catch {
                let timedOut = error.code == .timeout
                try? await emit(BuildEvent.error(code: error.code.rawValue, message: error.message, pattern: nil).line, false)
                let exit = BuildExit(code: timedOut ? 124 : 1, timedOut: timedOut)
                try? await emit(BuildEvent.exit(exit).line, true)
                removeWorkspace(of: plan, buildID: id, on: eventLoop)
                logger.info(
                    "build finished",
                    metadata: [
                        LogKey.error: .string(error.description), LogKey.exitCode: .stringConvertible(exit.code),
                        LogKey.duration: .string(Self.seconds(clock.now - start)),
                    ]
                )
                return nil
            }
        }

        // Spawn first: the process starts up on another core while we log and announce it.
        let started = Result { () throws(ServiceError) in try runner.start(plan, on: eventLoop) }
        logger.info(
            "build started",
            metadata: [
                LogKey.command: .string(plan.commandName),
                LogKey.args: .array(plan.arguments.map { .string($0) }),
                LogKey.cwd: .string(plan.workingDirectory),
                LogKey.timeout: .stringConvertible(plan.timeoutSec),
            ]
        )
        do {
            if !announced {
                for warning in plan.warnings { try await emit(warning.line, false) }
                try await emit(BuildEvent.build(id: id, status: "started").line, false)
            }
        } catch {
            if case .success(let build) = started { build.cancel() }
            logger.info("build abandoned", metadata: [LogKey.reason: "client gone before start"])
            return nil
        }

        let exit: BuildExit
        var outcome: Logger.Metadata = [:]
        var cleanup: EventLoopFuture<Void>?
        switch started {
        case .success(let build):
            let result = await relay(build, emit: emit)
            var finished = BuildExit(code: result.exitCode, timedOut: result.timedOut)
            if finished.code == 0, !result.timedOut, !result.cancelled, !plan.artifactPatterns.isEmpty, let artifacts {
                do {
                    // Nothing of the build may still run while its files are collected: a
                    // leftover process could otherwise swap a checked path for a symlink.
                    try? await result.cleanup.get()
                    finished.artifacts = try await artifacts.publish(buildID: id, plan: plan, origin: origin)
                    outcome[LogKey.artifacts] = .stringConvertible(finished.artifacts.count)
                } catch {
                    try? await emit(BuildEvent.error(code: error.code.rawValue, message: error.message, pattern: error.pattern).line, false)
                    finished.code = 1
                    outcome[LogKey.error] = .string(error.message)
                }
            }
            exit = finished
            outcome[LogKey.timedOut] = .stringConvertible(result.timedOut)
            outcome[LogKey.cancelled] = .stringConvertible(result.cancelled)
            if case .signaled(let signal) = result.termination { outcome[LogKey.signal] = .stringConvertible(signal) }
            try? await emit(BuildEvent.exit(exit).line, true)
            cleanup = result.cleanup
        case .failure(let error):
            try? await emit(BuildEvent.error(code: error.code.rawValue, message: error.message, pattern: nil).line, false)
            exit = BuildExit(code: 1)
            try? await emit(BuildEvent.exit(exit).line, true)
            outcome[LogKey.error] = .string(error.description)
        }
        if plan.repo != nil {
            // The checkout goes once no process of the build can still be using it.
            let workspaceRemoval: @Sendable () -> Void = { [self, plan] in removeWorkspace(of: plan, buildID: id, on: eventLoop) }
            if let pending = cleanup {
                pending.whenComplete { _ in workspaceRemoval() }
            } else {
                workspaceRemoval()
            }
        }
        outcome[LogKey.exitCode] = .stringConvertible(exit.code)
        outcome[LogKey.duration] = .string(Self.seconds(clock.now - start))
        logger.info("build finished", metadata: outcome)
        return cleanup
    }

    /// Updates the mirror, checks out the build's commit and resolves the plan's paths in it;
    /// git's output reaches the client as `stderr` events.
    private func checkOut(
        _ repo: RepoSource,
        into plan: inout BuildPlan,
        buildID: String,
        on eventLoop: any EventLoop,
        emit: @escaping @Sendable (_ line: ByteBuffer, _ isLast: Bool) async throws -> Void
    ) async throws(ServiceError) {
        guard let workspaces else { throw ServiceError(.workspaceCreateFailed, "repo projects are not set up on this daemon") }
        let deadline = ContinuousClock.now + .seconds(plan.timeoutSec)
        // git's output, progress and errors alike, reaches the client as stderr.
        let events = OutputEvents()
        let root = try await workspaces.checkout(
            repo,
            projectID: plan.projectID,
            buildID: buildID,
            deadline: deadline,
            eventLoop: eventLoop
        ) { bytes in
            let line = events.line(.stderr, bytes)
            if line.readableBytes > 0 { try await emit(line, false) }
        }
        let tail = events.remainder()
        if tail.readableBytes > 0 { try? await emit(tail, false) }
        try RequestValidator.resolvePaths(&plan, root: root)
        // The build's own timeout covers the checkout too.
        let left = deadline - ContinuousClock.now
        plan.timeoutSec = max(1, Int(left.components.seconds) + (left.components.attoseconds > 0 ? 1 : 0))
    }

    private func removeWorkspace(of plan: BuildPlan, buildID: String, on eventLoop: any EventLoop) {
        guard plan.repo != nil, let workspaces else { return }
        // Bridges from the cleanup callback; the removal runs like a build step.
        Task { await workspaces.remove(buildID: buildID, eventLoop: eventLoop) }
    }

    /// Output events, each chunk decoded as lossy UTF-8 that never splits a character.
    private func relay(
        _ build: RunningBuild,
        emit: @escaping @Sendable (_ line: ByteBuffer, _ isLast: Bool) async throws -> Void
    ) async -> BuildRunResult {
        let events = OutputEvents()
        let result = await build.relay { pipe, bytes in
            let line = events.line(pipe, bytes)
            guard line.readableBytes > 0 else { return }
            try await emit(line, false)
        }
        let tails = events.remainder()
        if tails.readableBytes > 0 { try? await emit(tails, false) }
        return result
    }

    private static func seconds(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return String(format: "%.3fs", Double(millis) / 1000)
    }
}
