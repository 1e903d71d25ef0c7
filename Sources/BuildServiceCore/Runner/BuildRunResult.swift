public import BuildServiceProtocol

/// How a build's process ended, with the handle on the cleanup that may still be running.
public struct BuildRunResult: Sendable {
    public var termination: ProcessTermination
    public var timedOut: Bool
    /// Torn down because the client went away or the build was cancelled.
    public var cancelled: Bool
    let supervisor: BuildSupervisor

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
