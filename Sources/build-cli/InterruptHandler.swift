import BuildClient
import BuildServiceProtocol
import Dispatch
import Glibc
import NIOConcurrencyHelpers

/// Ctrl-C while a build runs: the first cancels the remote build (`DELETE /v1/builds/{id}`)
/// and build-cli goes on relaying until its `exit` (code 130) arrives; the second leaves at
/// once with 130. A Ctrl-C before the build id is known cancels as soon as it is.
final class InterruptHandler: @unchecked Sendable {
    private let client: BuildServiceClient
    private let source: any DispatchSourceSignal
    private let lock = NIOLock()
    private var buildID: String?
    private var interrupts = 0

    init(client: BuildServiceClient) {
        self.client = client
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in self?.interrupted() }
        source.resume()
    }

    deinit {
        source.cancel()
    }

    /// Whether a Ctrl-C asked for the cancel (so build-cli need not explain the 130).
    var cancelRequested: Bool { lock.withLock { interrupts > 0 } }

    /// The build's id, from its `build` event.
    func buildStarted(_ id: String) {
        let cancelNow = lock.withLock {
            guard buildID == nil else { return false }
            buildID = id
            return interrupts > 0
        }
        if cancelNow { cancel(id) }
    }

    private func interrupted() {
        let (count, id) = lock.withLock {
            interrupts += 1
            return (interrupts, buildID)
        }
        guard count == 1 else {
            EventPrinter.complain("interrupted again: leaving without waiting for the build to end")
            _exit(130)
        }
        EventPrinter.complain("cancelling the build (press Ctrl-C again to leave at once)")
        if let id { cancel(id) }
    }

    private func cancel(_ id: String) {
        let client = self.client
        Task {
            do {
                try await client.cancel(buildID: id)
            } catch {
                let reason = (error as? ClientError)?.description ?? SystemErrorText.describe(error)
                EventPrinter.complain("could not cancel build \(id): \(reason)")
            }
        }
    }
}
