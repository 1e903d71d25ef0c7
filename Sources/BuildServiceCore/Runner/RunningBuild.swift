import BuildServiceConcurrency
public import BuildServiceProtocol
import Foundation
public import NIOCore

/// A build whose process runs. Its output waits (a little of it read ahead) for `relay`.
public struct RunningBuild: Sendable {
    let supervisor: BuildSupervisor
    let pipes: PipeRelay
    let drainGrace: Duration

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
        let grace = TimeAmount(saturating: drainGrace)
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
