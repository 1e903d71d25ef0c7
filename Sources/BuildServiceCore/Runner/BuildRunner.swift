public import BuildServiceProtocol
import CBuildServiceSpawn
import Foundation
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

/// How a build's process ended, with the handle on the cleanup that may still be running.
public struct BuildRunResult: Sendable {
    public var termination: ProcessTermination
    public var timedOut: Bool
    /// Torn down because the client went away or the build was cancelled.
    public var cancelled: Bool
    fileprivate let supervisor: BuildSupervisor

    /// The code reported in the `exit` event: 124 on timeout, else the process's.
    public var exitCode: Int { timedOut ? 124 : termination.exitCode }
    /// What the build's main process and the processes it waited for used.
    public var resources: ResourceUsage? { supervisor.resources }

    /// Looks for processes of the build's group left behind and tears them down: call it once
    /// the build's `exit` event is out (the look waits for nobody; it happens shortly after the
    /// exit anyway). Completes when no process of the group is left (a grandchild that traps
    /// SIGTERM may hold this up to the kill grace).
    public func lookForLeftovers() async {
        try? await supervisor.lookForLeftovers().get()
    }
}

/// Runs one planned build: spawns the allowed executable in its own session, relays its output
/// at the pace `onOutput` accepts it, and tears the process group down on exit, timeout,
/// cancellation or when `onOutput` fails.
public struct BuildRunner: Sendable {
    public let identity: RunAsIdentity
    /// Environment of the build: the allowed daemon variables plus the run-as user's facts.
    public let environment: [String: String]
    /// `environment` as `NAME=value` strings for execve, built once: it is the same for every build.
    private let environmentStrings: [String]
    public let killGrace: Duration
    /// How soon after a build's main process exited its group is looked at for leftovers when
    /// its owner does not ask first (`BuildRunResult.lookForLeftovers`).
    public let leftoverLookDelay: Duration
    /// Whether build groups are named by a pidfd (by default where the kernel can; see
    /// `ProcessGroup`). Tests run the other way too.
    let groupsThroughPidfd: Bool
    /// How long to wait for the pipes to close after the main process exited, before giving up
    /// on a straggler that still holds them (its output so far is still relayed).
    public let drainGrace: Duration
    /// Every build this runner started that still has processes.
    public let active: ActiveBuilds
    /// The umask its processes start with; `nil` keeps the daemon's.
    public let fileCreationMask: UInt32?
    /// `[build.limits]`, set on every build's main process (its children inherit them); not on helpers.
    public let limits: BuildLimits

    public init(
        identity: RunAsIdentity,
        environment: [String: String],
        active: ActiveBuilds = ActiveBuilds(),
        killGrace: Duration = .seconds(5),
        leftoverLookDelay: Duration = .milliseconds(50),
        groupsThroughPidfd: Bool? = nil,
        drainGrace: Duration = .milliseconds(250),
        fileCreationMask: UInt32? = nil,
        limits: BuildLimits = BuildLimits()
    ) {
        self.fileCreationMask = fileCreationMask
        self.limits = limits
        self.identity = identity
        self.environment = environment
        self.environmentStrings = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        self.killGrace = killGrace
        self.leftoverLookDelay = leftoverLookDelay
        self.groupsThroughPidfd = groupsThroughPidfd ?? ProcessGroup.signalsThroughPidfd
        self.drainGrace = drainGrace
        self.active = active
    }

    /// A runner whose processes run as `identity`, with those of the daemon's environment
    /// variables that `allow` names (see `buildEnvironment`).
    public init(
        identity: RunAsIdentity,
        environmentAllow allow: [String],
        active: ActiveBuilds = ActiveBuilds(),
        fileCreationMask: UInt32? = nil,
        limits: BuildLimits = BuildLimits()
    ) {
        let environment = Self.buildEnvironment(allow: allow, daemonEnvironment: ProcessInfo.processInfo.environment, identity: identity)
        self.init(identity: identity, environment: environment, active: active, fileCreationMask: fileCreationMask, limits: limits)
    }

    /// The environment a build gets: only allowlisted names, taken from `daemonEnvironment`,
    /// with HOME, USER and LOGNAME from the run-as user.
    public static func buildEnvironment(
        allow: [String],
        daemonEnvironment: [String: String],
        identity: RunAsIdentity
    ) -> [String: String] {
        var environment: [String: String] = [:]
        for name in allow {
            if let value = daemonEnvironment[name] { environment[name] = value }
        }
        environment["HOME"] = identity.home
        environment["USER"] = identity.userName
        environment["LOGNAME"] = identity.userName
        return environment
    }

    /// Starts the build: spawns it and begins reading its pipes (at most a couple of chunks are
    /// read ahead until `relay` consumes them). Either `relay` or `cancel` must follow.
    /// - Parameter eventLoop: where the build's pipes are read; best the one its client's socket is on.
    /// - Throws: `ServiceError` (`spawn_failed`) when the process cannot be started.
    public func start(_ plan: BuildPlan, on eventLoop: any EventLoop) throws(ServiceError) -> RunningBuild {
        try start(plan.processSpec, on: eventLoop)
    }

    /// Starts a process described by `spec` (a build's, or a helper's) the same way.
    public func start(_ spec: ProcessSpec, on eventLoop: any EventLoop) throws(ServiceError) -> RunningBuild {
        let stdout = try Self.makePipe()
        let stderr: (read: Int32, write: Int32)
        do {
            stderr = try Self.makePipe()
        } catch {
            close(stdout.read)
            close(stdout.write)
            throw error
        }
        let pid: pid_t
        do throws(ServiceError) {
            if let directory = spec.workingDirectoryHandle, directory.descriptor < 0 {
                throw ServiceError(.spawnFailed, "the build's working directory was already released")
            }
            pid = try spawn(spec, stdout: stdout.write, stderr: stderr.write)
        } catch {
            close(stdout.read)
            close(stderr.read)
            throw error
        }
        // The readers come after the spawn: they are set up while the child execs.
        let pipes = PipeRelay(stdout: stdout.read, stderr: stderr.read, on: eventLoop)
        let supervisor: BuildSupervisor
        do {
            supervisor = try BuildSupervisor(
                pid: pid,
                timeout: .seconds(spec.timeoutSec),
                killGrace: killGrace,
                lookAfterExit: leftoverLookDelay,
                groupThroughPidfd: groupsThroughPidfd,
                eventLoop: eventLoop
            )
        } catch {
            kill(-pid, SIGKILL)
            var code: Int32 = 0
            var signal: Int32 = 0
            _ = bs_wait_terminated(pid, 0, &code, &signal)
            pipes.closePipes()
            throw ServiceError(.spawnFailed, "cannot supervise the build process: \(error)")
        }
        guard active.insert(supervisor, pgid: pid, project: spec.owner, command: spec.name) else {
            supervisor.start()
            supervisor.cancel()
            pipes.closePipes()
            throw ServiceError(.shutdown, "the build service is shutting down")
        }
        supervisor.start()
        return RunningBuild(supervisor: supervisor, pipes: pipes, drainGrace: drainGrace)
    }

    private static func makePipe() throws(ServiceError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard bs_pipe(&fds, 0) == 0 else { throw spawnError("cannot create a pipe", errno) }
        return (fds[0], fds[1])
    }

    /// Spawns the process with its stdout and stderr on the given pipe ends, which are closed
    /// here in every case (the child has its own copies).
    private func spawn(_ spec: ProcessSpec, stdout: Int32, stderr: Int32) throws(ServiceError) -> pid_t {
        defer {
            close(stdout)
            close(stderr)
        }
        let argv = [spec.name] + spec.arguments
        let envp = environmentStrings + spec.extraEnvironment
        var stage = BS_SPAWN_STAGE_NONE
        var failure: Int32 = 0
        let identity = self.identity
        let fileCreationMask = self.fileCreationMask
        let limits = spec.appliesBuildLimits ? self.limits.resources : []
        let resources = limits.map(\.resource)
        let softValues = limits.map(\.soft)
        let hardValues = limits.map(\.hard)
        // The handle is held until the child has exec'd (vfork: bs_spawn returns after that).
        let directory = spec.workingDirectoryHandle
        let pid = CStringArray.with(argv) { argvPointer in
            CStringArray.with(envp) { envpPointer in
                spec.executable.withCString { path in
                    spec.workingDirectory.withCString { cwd in
                        identity.supplementaryGroups.withUnsafeBufferPointer { groups in
                            resources.withUnsafeBufferPointer { resources in
                                softValues.withUnsafeBufferPointer { soft in
                                    hardValues.withUnsafeBufferPointer { hard in
                                        var request = bs_spawn_request(
                                            path: path,
                                            argv: argvPointer,
                                            envp: envpPointer,
                                            cwd: cwd,
                                            cwd_fd: directory?.descriptor ?? -1,
                                            stdout_fd: stdout,
                                            stderr_fd: stderr,
                                            change_ids: identity.switchesIdentity ? 1 : 0,
                                            uid: identity.uid,
                                            gid: identity.gid,
                                            groups: groups.baseAddress,
                                            group_count: groups.count,
                                            umask_bits: fileCreationMask.map { Int32($0) } ?? -1,
                                            limit_resources: resources.baseAddress,
                                            limit_soft: soft.baseAddress,
                                            limit_hard: hard.baseAddress,
                                            limit_count: resources.count
                                        )
                                        return withExtendedLifetime(directory) { bs_spawn(&request, &stage, &failure) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        guard pid > 0 else { throw Self.spawnError("cannot start \(spec.executable) (\(Self.describe(stage)))", failure) }
        return pid
    }

    private static func spawnError(_ what: String, _ code: Int32) -> ServiceError {
        ServiceError(.spawnFailed, "\(what): \(String(cString: strerror(code)))")
    }

    private static func describe(_ stage: bs_spawn_stage) -> String {
        switch stage {
        case BS_SPAWN_STAGE_FORK: "fork"
        case BS_SPAWN_STAGE_SETSID: "setsid"
        case BS_SPAWN_STAGE_STDIO: "redirecting stdio"
        case BS_SPAWN_STAGE_IDS: "switching to the run-as user"
        case BS_SPAWN_STAGE_LIMITS: "setting the build's resource limits"
        case BS_SPAWN_STAGE_CHDIR: "changing to the working directory"
        default: "exec"
        }
    }
}

/// A build whose process runs. Its output waits (a little of it read ahead) for `relay`.
public struct RunningBuild: Sendable {
    fileprivate let supervisor: BuildSupervisor
    fileprivate let pipes: PipeRelay
    fileprivate let drainGrace: Duration

    /// Tears the build down without relaying its output (its client left before it began).
    /// Returns once no process of the build is left.
    public func cancel() async {
        supervisor.cancel()
        pipes.closePipes()
        try? await supervisor.finished.get()
    }

    /// Relays the output until the build ends.
    /// - Parameter onOutput: called for each chunk, one at a time; the next chunk is read from
    ///   the pipes only after it returns. If it throws (or the task is cancelled), the build is
    ///   torn down.
    public func relay(onOutput: @escaping @Sendable (OutputPipe, ByteBuffer) async throws -> Void) async -> BuildRunResult {
        await withTaskCancellationHandler {
            await relayOutput(onOutput: onOutput)
        } onCancel: {
            supervisor.cancel()
        }
        // Usually known by now (end-of-file on the pipes follows the exit): no wait, no hop.
        let termination: ProcessTermination
        if let known = supervisor.termination {
            termination = known
        } else {
            termination = (try? await supervisor.terminated.get()) ?? .signaled(SIGKILL)
        }
        return BuildRunResult(
            termination: termination,
            timedOut: supervisor.timedOut,
            cancelled: supervisor.cancelled,
            supervisor: supervisor
        )
    }

    /// Hands the output to `onOutput` until both pipes are done. Once the main process has
    /// exited, end-of-file on both pipes usually follows at once; if not, the relay stops waiting
    /// for it after `drainGrace` with nothing left unread, so a straggler outside the group (or
    /// one that ignores SIGTERM) cannot hold `exit` back.
    private func relayOutput(onOutput: @escaping @Sendable (OutputPipe, ByteBuffer) async throws -> Void) async {
        let pipes = self.pipes
        let grace = TimeAmount.nanoseconds(
            drainGrace.components.seconds * 1_000_000_000 + drainGrace.components.attoseconds / 1_000_000_000
        )
        let supervisor = self.supervisor
        supervisor.terminated.whenSuccess { _ in
            // Output still open at the exit: a process of the build's group may hold the pipes,
            // and the `exit` event waits for them. Its group is looked at now, not after.
            if pipes.closeWhenDrained(after: grace) { _ = supervisor.lookForLeftovers() }
        }
        do {
            while let chunk = await pipes.next() {
                try await onOutput(chunk.pipe, chunk.bytes)
            }
            supervisor.noticeExitIfAlreadyDone()
        } catch {
            supervisor.cancel()
            pipes.closePipes()
        }
    }
}
