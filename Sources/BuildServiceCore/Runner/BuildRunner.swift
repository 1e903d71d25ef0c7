public import BuildServiceProtocol
import CBuildServiceSpawn
import Foundation
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

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
        let leaderStart: UInt64?
        do throws(ServiceError) {
            if let directory = spec.workingDirectoryHandle, directory.descriptor < 0 {
                throw ServiceError(.spawnFailed, "the build's working directory was already released")
            }
            (pid, leaderStart) = try spawn(spec, stdout: stdout.write, stderr: stderr.write)
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
            throw ServiceError(.spawnFailed, "cannot supervise the build process: \(SystemErrorText.describe(error))")
        }
        guard active.insert(supervisor, pgid: pid, leaderStart: leaderStart, project: spec.owner, command: spec.name) else {
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
    /// - Returns: its pid, and its start time as the child read it (nil: not known).
    private func spawn(_ spec: ProcessSpec, stdout: Int32, stderr: Int32) throws(ServiceError) -> (pid: pid_t, start: UInt64?) {
        defer {
            close(stdout)
            close(stderr)
        }
        let argv = [spec.name] + spec.arguments
        // The spec's own entries (a request's env) replace the daemon's of the same names.
        var envp = environmentStrings
        if !spec.extraEnvironment.isEmpty {
            let replaced = Set(spec.extraEnvironment.map { $0.prefix { $0 != "=" } })
            envp = envp.filter { !replaced.contains($0.prefix { $0 != "=" }) } + spec.extraEnvironment
        }
        var stage = BS_SPAWN_STAGE_NONE
        var failure: Int32 = 0
        let identity = self.identity
        let fileCreationMask = self.fileCreationMask
        let limits = spec.appliesBuildLimits ? self.limits.resources : self.limits.inheritedResources
        let resources = limits.map(\.resource)
        let softValues = limits.map(\.soft)
        let hardValues = limits.map(\.hard)
        // The handle is held until the child has exec'd (vfork: bs_spawn returns after that).
        let directory = spec.workingDirectoryHandle
        // What the child reads of its own /proc stat before it execs (for its start time).
        var ownStat = [UInt8](repeating: 0, count: 1024)
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
                                            stdin_fd: -1,
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
                                            limit_count: resources.count,
                                            own_stat: nil,
                                            own_stat_size: 0
                                        )
                                        return ownStat.withUnsafeMutableBufferPointer { text in
                                            request.own_stat = text.baseAddress
                                            request.own_stat_size = text.count
                                            return withExtendedLifetime(directory) { bs_spawn(&request, &stage, &failure) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        guard pid > 0 else { throw Self.spawnError("cannot start \(spec.executable) (\(Self.describe(stage)))", failure) }
        let start = ownStat.withUnsafeBufferPointer { text in
            ProcessGroupLedger.startTime(inStat: UnsafeBufferPointer(rebasing: text.prefix { $0 != 0 }))
        }
        return (pid, start)
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
